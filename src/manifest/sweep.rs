//! Sweep expansion: the axes' cartesian product crossed with the variants, and the planned
//! runs it yields with their stable ids.

use super::load::canonical_key;
use super::methods::Method;
use super::schema::{BetaPath, ManifestFile, RunConfig};
use super::ManifestError;
use crate::data::fingerprint::{fnv1a64, FNV_OFFSET};
use figment::value::Value;
use std::path::{Path, PathBuf};

/// One expanded run, ready to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    pub id: String,
    pub config: RunConfig,
    /// The manifest it came from.
    pub manifest: PathBuf,
    /// Save the trained network (`output.save_model`).
    pub save_model: bool,
    /// The regularization path this run is the base of (`beta_path:`), if any.
    pub beta_path: Option<BetaPath>,
}

impl PlannedRun {
    /// One line for `plan` and progress output: the id, the setting, and the options the
    /// run's method uses that are most often swept.
    pub fn describe(&self) -> String {
        let c = &self.config;
        let method = &c.solver.method;
        // The sizes the run trains on (`.npy`: from the files' headers, not the manifest's
        // `n_train: 0`); "?" where a header cannot be read (the data check reports why).
        let (n, d) = match crate::data::shapes(&c.data) {
            Ok(s) => (s.n.to_string(), s.d.to_string()),
            Err(_) => (c.data.n_train.to_string(), "?".to_string()),
        };
        // The method's own most-swept option: rho for ADMM, the learning rate for Adam.
        let knob = match (method, method.admm()) {
            (_, Some(admm)) => format!("rho={}", admm.rho),
            (Method::Adam { adam }, None) => format!("lr={}", adam.lr),
            _ => String::new(),
        };
        format!(
            "{id}  solver={s} backend={b} n={n} d={d} P={p} seed={seed} {knob} beta={beta} iters={it}",
            id = self.id,
            s = method.kind(),
            b = c.backend,
            p = c.problem.patterns,
            seed = c.seed,
            beta = c.problem.beta,
            it = c.solver.stop.max_iters,
        ) + &self.problem_extras()
    }

    /// The loss and the number of classes, where they are not the paper's (squared, two).
    fn problem_extras(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        if c.problem.loss != admm_engine::loss::Loss::Squared {
            out += &format!(" loss={}", c.problem.loss.name());
        }
        if c.data.classes.len() > 2 && c.data.source != crate::data::DataSource::Npy {
            out += &format!(" classes={}", c.data.classes.len());
        }
        out
    }
}

/// The cartesian product of the sweep axes, crossed with the variants (in file order).
pub(super) fn sweep_points(
    path: &Path,
    file: &ManifestFile,
) -> Result<Vec<Vec<(String, Value)>>, ManifestError> {
    let mut points: Vec<Vec<(String, Value)>> = if file.variants.is_empty() {
        vec![Vec::new()]
    } else {
        file.variants
            .iter()
            .map(|v| {
                v.iter()
                    .map(|(k, val)| (canonical_key(k, val), val.clone()))
                    .collect()
            })
            .collect()
    };
    check_sweep_size(path, file)?;
    for (axis, values) in &file.sweep {
        if values.is_empty() {
            return Err(ManifestError::Invalid {
                path: path.to_path_buf(),
                key: format!("sweep.{axis}"),
                reason: "an axis needs at least one value".into(),
            });
        }
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((canonical_key(axis, v), v.clone()));
                    q
                })
            })
            .collect();
    }
    Ok(points)
}

/// The most runs one manifest may plan: far beyond any real sweep, small enough that planning
/// stays a moment and a few megabytes.
pub const MAX_RUNS: u64 = 100_000;

/// Counts the runs a sweep would make (variants times every axis's length, checked) before
/// anything is expanded, and refuses more than `MAX_RUNS`, giving the count.
fn check_sweep_size(path: &Path, file: &ManifestFile) -> Result<(), ManifestError> {
    let mut count = Some(file.variants.len().max(1) as u64);
    let mut factors = vec![format!("{} variant(s)", file.variants.len().max(1))];
    for (axis, values) in &file.sweep {
        count = count.and_then(|c| c.checked_mul(values.len() as u64));
        factors.push(format!("{} ({})", values.len(), axis));
    }
    match count {
        Some(c) if c <= MAX_RUNS => Ok(()),
        _ => Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            key: "sweep".into(),
            reason: format!(
                "the sweep makes {} runs ({}), more than the {MAX_RUNS} one manifest may plan: \
                 split it into several manifests",
                count.map_or("more than 2^64".to_string(), |c| c.to_string()),
                factors.join(" x ")
            ),
        }),
    }
}

/// A stable, readable id: `<solver>-<backend>-s<seed>-<hash of the resolved config>`.
pub fn run_id(config: &RunConfig) -> String {
    let canonical = serde_json::to_string(config).unwrap_or_default();
    format!(
        "{}-{}-s{}-{:08x}",
        config.solver.method.kind(),
        config.backend,
        config.seed,
        fnv1a64(canonical.as_bytes(), FNV_OFFSET) as u32
    )
}
