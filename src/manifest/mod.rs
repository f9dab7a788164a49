//! Manifests: the strict schema, loading (YAML or TOML + environment + `--set`), and sweep
//! expansion into concrete runs with stable ids.
//!
//! Layering, lowest to highest priority: the file, `ADMM_SET_*` environment variables,
//! one sweep point (axes and variant), then `--set key=value` from the command line.
//!
//! One file per concern: `schema` (the sections as written), `methods` (the method table),
//! `load` (files, environment and overrides), `sweep` (expansion and run ids), `settings`
//! (a run's resolved keys as text, and which of them a sweep varies); this file
//! holds the entry points that tie them together.

mod dupkeys;
mod load;
mod methods;
mod schema;
mod settings;
mod sweep;

pub use crate::backend::BackendKind;
pub use crate::data::ProblemSection;
pub use load::{parse_overrides, sweep_as_set, value_text, ENV_PREFIX, NAME_CHARS};
pub use methods::{Algorithm, Method, SolverKind};
pub use schema::{
    BetaPath, ConditionConfig, FigureKind, Launcher, OutputConfig, PathPoint, PlotConfig, PlotX,
    RunConfig, SolverConfig, SolverSection,
};
pub use settings::{plan_varied, settings, varied_keys};
pub use sweep::{run_id, PlannedRun};

use figment::providers::Serialized;
use figment::value::Value;
use load::{base_figment, experiment_name, schema_error, with_overrides, with_point};
use schema::ManifestFile;
use std::path::{Path, PathBuf};
use sweep::sweep_points;

/// A manifest that could not be read or does not fit the schema.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read manifest: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: unsupported manifest extension (use .yaml, .yml or .toml)")]
    Extension { path: PathBuf },
    #[error("{0}")]
    Schema(String),
    #[error("--set {arg}: expected key=value")]
    BadOverride { arg: String },
    #[error("--sweep {arg}: expected KEY=a,b,c (one axis, its values comma-separated)")]
    BadSweep { arg: String },
    #[error("{path}: {key}: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// Loads a manifest and expands it into planned runs.
pub fn plan(path: &Path, overrides: &[(String, Value)]) -> Result<Vec<PlannedRun>, ManifestError> {
    let base = base_figment(path)?;
    let file: ManifestFile = with_overrides(base.clone(), overrides)
        .extract()
        .map_err(|e| schema_error(path, e))?;
    let experiment = experiment_name(path, file.name.as_deref())?;
    let mut runs = Vec::new();
    for point in sweep_points(path, &file)? {
        let mut fig = base.clone();
        for (key, value) in &point {
            fig = fig.merge(Serialized::default(key, value));
        }
        let resolved: ManifestFile = with_overrides(fig, overrides)
            .extract()
            .map_err(|e| schema_error(path, e))
            .map_err(|e| with_point(e, &point))?;
        validate(path, &resolved)?;
        let config = RunConfig {
            experiment: experiment.clone(),
            data: crate::data::DataConfig {
                manifest_dir: crate::data::ManifestDir(path.parent().map(Path::to_path_buf)),
                ..resolved.data
            },
            problem: resolved.problem,
            solver: resolved.solver.resolve(),
            backend: resolved.backend,
            seed: resolved.seed,
            path: None,
        };
        let id = run_id(&config);
        if runs.iter().any(|r: &PlannedRun| r.id == id) {
            continue; // two sweep points resolving to the same run: run it once
        }
        runs.push(PlannedRun {
            id,
            config,
            manifest: path.to_path_buf(),
            save_model: resolved.output.save_model,
            beta_path: resolved.beta_path.clone(),
        });
    }
    Ok(runs)
}

/// The first planned run of a manifest and its `condition:` section (defaults when absent).
pub fn condition_plan(
    path: &Path,
    overrides: &[(String, Value)],
) -> Result<(RunConfig, ConditionConfig), ManifestError> {
    let file: ManifestFile = with_overrides(base_figment(path)?, overrides)
        .extract()
        .map_err(|e| schema_error(path, e))?;
    let cond = file.condition.unwrap_or_default();
    let ranks = cond.rank_list();
    if ranks.first().is_none_or(|&r| r == 0) {
        return Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            key: "condition.ranks".into(),
            reason: "ranks must be at least 1 (and max_rank at least 1)".into(),
        });
    }
    let run = plan(path, overrides)?
        .into_iter()
        .next()
        .ok_or_else(|| ManifestError::Schema(format!("{}: no runs", path.display())))?;
    Ok((run.config, cond))
}

/// The manifest's `plot:` section (None when it has none), its experiment name, and its runs.
pub fn plot_plan(
    path: &Path,
    overrides: &[(String, Value)],
) -> Result<(Option<PlotConfig>, String, Vec<PlannedRun>), ManifestError> {
    let file: ManifestFile = with_overrides(base_figment(path)?, overrides)
        .extract()
        .map_err(|e| schema_error(path, e))?;
    if file.plot.as_ref().is_some_and(|p| p.figures.is_empty()) {
        return Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            key: "plot.figures".into(),
            reason: "name at least one figure (curves, runtime, condition, train-loss, table)"
                .into(),
        });
    }
    let experiment = experiment_name(path, file.name.as_deref())?;
    Ok((file.plot, experiment, plan(path, overrides)?))
}

/// The manifest's `launcher:` section (None when it has none), its experiment name, and its
/// runs.
pub fn launcher_plan(
    path: &Path,
    overrides: &[(String, Value)],
) -> Result<(Option<Launcher>, String, Vec<PlannedRun>), ManifestError> {
    let file: ManifestFile = with_overrides(base_figment(path)?, overrides)
        .extract()
        .map_err(|e| schema_error(path, e))?;
    let experiment = experiment_name(path, file.name.as_deref())?;
    Ok((file.launcher, experiment, plan(path, overrides)?))
}

/// Checks that serde cannot express: ranges and consistency, naming the dotted key.
fn validate(path: &Path, file: &ManifestFile) -> Result<(), ManifestError> {
    let bad = |(key, reason): (String, String)| ManifestError::Invalid {
        path: path.to_path_buf(),
        key,
        reason,
    };
    file.problem
        .validate()
        .map_err(|e| bad((format!("problem.{}", e.option), e.reason)))?;
    file.solver.validate().map_err(bad)?;
    if let Some(path_section) = &file.beta_path {
        path_section
            .validate()
            .map_err(|(k, why)| bad((format!("beta_path.{k}"), why)))?;
        if file.solver.name == SolverKind::Adam {
            return Err(bad((
                "beta_path".into(),
                "a regularization path needs an ADMM method (warm starts are ADMM iterates), \
                 not adam"
                    .into(),
            )));
        }
    }
    if file.data.n_train == 0 && file.data.source != crate::data::DataSource::Npy {
        return Err(bad(("data.n_train".into(), "must be at least 1".into())));
    }
    file.data
        .validate()
        .map_err(|(k, why)| bad((format!("data.{k}"), why)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "data: {source: synthetic, n_train: 50}\nproblem: {patterns: 4}\n\
        solver:\n  name: cg\n  admm: {rho: 0.5}\n  cg: {max_iters: 7}\n  nys: {rank: 3}\n  \
        rbcd: {block_size: 2}\n  adam: {lr: 0.01}\nsweep:\n  solver: [cg, nys-pcg, rbcd, adam]\n";

    fn runs(text: &str, set: &[&str]) -> Vec<PlannedRun> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, text).unwrap();
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        plan(&path, &parse_overrides(&set).unwrap()).unwrap()
    }

    fn config_json(run: &PlannedRun) -> serde_json::Value {
        serde_json::to_value(run.config.solver).unwrap()
    }

    #[test]
    fn a_run_carries_only_the_options_its_method_uses() {
        let runs = runs(BASE, &[]);
        let keys = |r: &PlannedRun| -> Vec<String> {
            let json = config_json(r);
            let mut k: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let stop = [
            "max_iters",
            "stop_at_target",
            "target_train_acc",
            "time_limit",
        ];
        let with = |extra: &[&str]| {
            let mut k: Vec<String> = stop.iter().chain(extra).map(|s| s.to_string()).collect();
            k.push("name".into());
            k.sort();
            k
        };
        assert_eq!(keys(&runs[0]), with(&["admm", "cg"]));
        assert_eq!(keys(&runs[1]), with(&["admm", "cg", "nys"]));
        assert_eq!(keys(&runs[2]), with(&["admm", "rbcd"]));
        assert_eq!(keys(&runs[3]), with(&["adam"]));
        assert_eq!(config_json(&runs[1])["nys"]["rank"], 3);
        assert!(runs[3].describe().contains("lr=0.01") && !runs[3].describe().contains("rho"));
        assert!(runs[0].describe().contains("rho=0.5"));
    }

    /// The ids `plan` gave experiments/ci.yaml at commit 237ff75, before `solver.admm` grew
    /// rho_rule, rho_factor, rho_interval, alpha, anderson and tol_gap (tests/baselines/ci.json
    /// of that commit): results and baselines of manifests that do not use those keys stay
    /// valid.
    const CI_IDS_237FF75: [&str; 14] = [
        "adam-flex-s0-9396f503",
        "bj-pcg-flex-s0-34ff6e48",
        "cg-flex-s0-bc640c23",
        "diag-pcg-flex-s0-f77c2225",
        "exact-flex-s0-24a6279d",
        "nys-pcg-flex-s0-333e13ed",
        "rbcd-flex-s0-5bc1b27c",
        "adam-flex-s0-6b10ae38",
        "bj-pcg-flex-s0-8d863f8f",
        "cg-flex-s0-f9b3f512",
        "diag-pcg-flex-s0-a8d0b250",
        "exact-flex-s0-3f8c4478",
        "nys-pcg-flex-s0-e78650a6",
        "rbcd-flex-s0-2f2c216b",
    ];

    #[test]
    fn options_that_are_off_leave_the_run_ids_of_older_manifests_alone() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/ci.yaml");
        let mut ids: Vec<String> = plan(&path, &[])
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut want: Vec<String> = CI_IDS_237FF75.iter().map(|s| s.to_string()).collect();
        ids.sort();
        want.sort();
        assert_eq!(ids, want);
        // Switching one on changes the ids of the ADMM runs only.
        for key in [
            "solver.admm.rho_rule=balance",
            "solver.admm.alpha=1.6",
            "solver.admm.anderson=5",
            "solver.admm.tol_gap=1e-4",
        ] {
            let on = plan(&path, &parse_overrides(&[key.to_string()]).unwrap()).unwrap();
            for r in on {
                let old = CI_IDS_237FF75.contains(&r.id.as_str());
                assert_eq!(old, r.id.starts_with("adam-"), "{key}: {}", r.id);
            }
        }
        // With a fixed rho the adaptive rule's knobs take no effect, so they leave the id.
        let knob = parse_overrides(&["solver.admm.rho_interval=3".to_string()]).unwrap();
        let same: Vec<String> = plan(&path, &knob)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert!(same.iter().all(|id| CI_IDS_237FF75.contains(&id.as_str())));
    }

    #[test]
    fn an_option_of_another_method_leaves_the_run_id_alone() {
        let base = runs(BASE, &[]);
        let nys = runs(BASE, &["solver.nys.rank=5"]);
        assert_eq!(base[0].id, nys[0].id, "cg ignores the Nystrom rank");
        assert_ne!(base[1].id, nys[1].id, "nys-pcg uses it");
        assert_eq!(base[3].id, nys[3].id, "adam ignores it");
        let cg = runs(BASE, &["solver.cg.max_iters=9"]);
        assert_ne!(base[0].id, cg[0].id);
        assert_eq!(base[2].id, cg[2].id, "rbcd ignores the CG cap");
    }

    #[test]
    fn a_bad_value_is_named_by_its_dotted_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, BASE.replace("rank: 3", "rank: 0")).unwrap();
        let err = plan(&path, &[]).unwrap_err().to_string();
        assert!(
            err.contains("solver.nys.rank") && err.contains("m.yaml"),
            "{err}"
        );
        std::fs::write(&path, BASE.replace("rho: 0.5", "rho: 0.5, sigma: 1")).unwrap();
        let err = plan(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("sigma"), "{err}");
    }
}
