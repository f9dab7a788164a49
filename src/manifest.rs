//! Manifests: the strict schema, loading (YAML or TOML + environment + `--set`), and sweep
//! expansion into concrete runs with stable ids.
//!
//! Layering, lowest to highest priority: the file, `ADMM_SET_*` environment variables,
//! one sweep point (axes and variant), then `--set key=value` from the command line.

use crate::data::DataConfig;
use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use figment::value::Value;
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Prefix of environment variables that override manifest keys: `ADMM_SET_SOLVER__RHO=0.1`
/// sets `solver.rho` (a double underscore separates nested keys).
pub const ENV_PREFIX: &str = "ADMM_SET_";

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
    #[error("{path}: {key}: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// Which burn backend a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// burn-flex: the fastest CPU backend measured here.
    #[default]
    Flex,
    Ndarray,
    Cuda,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Cuda => "cuda",
        })
    }
}

/// The u-step solver of ADMM (or the Adam baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SolverKind {
    /// Dense Cholesky of A: small problems only, the reference for the others.
    Exact,
    /// Conjugate gradient, matrix-free.
    Cg,
    /// Randomized block coordinate descent on the u-subproblem (paper Algorithm 2).
    Rbcd,
    /// CG preconditioned by diag(A) (Jacobi).
    DiagPcg,
    /// CG preconditioned by a randomized Nystrom approximation of A's PSD part.
    NysPcg,
    /// Beyond the paper: CG preconditioned by the block-Jacobi B = I_2P (x) (I + X^T X).
    BjPcg,
    /// Not ADMM: the non-convex two-layer ReLU network of eq. (2) trained by Adam.
    Adam,
}

impl fmt::Display for SolverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SolverKind::Exact => "exact",
            SolverKind::Cg => "cg",
            SolverKind::Rbcd => "rbcd",
            SolverKind::DiagPcg => "diag-pcg",
            SolverKind::NysPcg => "nys-pcg",
            SolverKind::BjPcg => "bj-pcg",
            SolverKind::Adam => "adam",
        })
    }
}

/// The training loss. Only the squared loss of the paper for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    #[default]
    Squared,
}

/// How the inner (CG) tolerance evolves over ADMM iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TolSchedule {
    /// The same tolerance every ADMM iteration.
    Fixed,
    /// tol_k = tol0 / (1 + k)^1.2, as CRONOS and GeNIOS do.
    #[default]
    Tighten,
}

/// Which matrix the Nystrom preconditioner sketches, and its shift mu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NysVariant {
    /// Frangella-Tropp-Udell: sketch the PSD part H = F^T F / rho + G^T G of A = H + I, mu = 1.
    #[default]
    Textbook,
    /// The paper's code: sketch the whole A (identity included), mu = rho.
    Reference,
}

/// The `problem:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemConfig {
    /// Number of sampled gate vectors P (before duplicate patterns are dropped).
    pub patterns: usize,
    /// Weight-decay / group-lasso strength beta.
    #[serde(default = "default_beta")]
    pub beta: f64,
    #[serde(default)]
    pub loss: Loss,
    /// Append a column of ones to X (the gates get that coordinate too).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Gates from a `.npy` file (d x P, with the bias row if `bias`), instead of sampling.
    #[serde(default)]
    pub gates: Option<PathBuf>,
}

/// The `solver:` section: ADMM parameters and the u-step solver's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverConfig {
    pub name: SolverKind,
    /// ADMM penalty.
    #[serde(default = "default_rho")]
    pub rho: f64,
    /// Dual step ratio (1 = standard ADMM).
    #[serde(default = "one")]
    pub gamma: f64,
    /// ADMM iterations at most (the planned budget: reaching it is a normal stop).
    #[serde(default = "default_max_iters")]
    pub max_iters: usize,
    /// Wall-clock safety limit in seconds; a run that reaches it is recorded as failed.
    #[serde(default)]
    pub time_limit: Option<f64>,
    /// Boyd et al. absolute and relative tolerances; 0 for both disables the test.
    #[serde(default = "default_tol_abs")]
    pub tol_abs: f64,
    #[serde(default = "default_tol_rel")]
    pub tol_rel: f64,
    /// Train accuracy whose first crossing is timed (Table 1's "seconds to 97%").
    #[serde(default)]
    pub target_train_acc: Option<f64>,
    /// Stop as soon as the target is reached.
    #[serde(default)]
    pub stop_at_target: bool,
    /// Inner (CG) iteration cap per ADMM iteration.
    #[serde(default = "default_inner_max_iters")]
    pub inner_max_iters: usize,
    /// Inner relative-residual tolerance (tol0 of the schedule).
    #[serde(default = "default_inner_tol")]
    pub inner_tol: f64,
    #[serde(default)]
    pub inner_tol_schedule: TolSchedule,
    /// Start each inner solve from the previous u (else from zero, as the reference code does).
    #[serde(default = "yes")]
    pub warm_start: bool,
    /// Largest 2dP for which the exact solver forms and factors A.
    #[serde(default = "default_exact_max_dim")]
    pub exact_max_dim: usize,
    /// nys-pcg: rank r of the Nystrom sketch (must be below N = 2dP).
    #[serde(default = "default_rank")]
    pub rank: usize,
    /// nys-pcg: the textbook preconditioner or the paper code's variant.
    #[serde(default)]
    pub nys_variant: NysVariant,
    /// rbcd: distinct patterns per block (a pattern owns its v- and its w-column).
    #[serde(default = "default_block_size")]
    pub block_size: usize,
    /// rbcd: stop the inner loop when the mean decrease of the ADMM u-objective over the last
    /// L = ceil(8 sqrt(P/3)) steps falls below this. In the reference code's units (the
    /// u-objective, i.e. rho times the quadratic RBCD minimizes), so its 0.7 carries over.
    #[serde(default = "default_rbcd_threshold")]
    pub rbcd_threshold: f64,
    /// rbcd: the threshold is multiplied by this after every ADMM iteration (the authors: 0.96;
    /// 1 keeps it fixed).
    #[serde(default = "one")]
    pub rbcd_decay: f64,
    /// rbcd: the first trial step (carried over and adapted between steps). Too large costs
    /// nothing: the backtracking evaluates the quadratic exactly without touching tensors.
    #[serde(default = "one")]
    pub rbcd_step0: f64,
    /// rbcd: block steps per u-step at most; `inner_max_iters` when absent (a separate key, so
    /// that one manifest can cap CG at 10 iterations and RBCD at the reference's 1000 steps).
    #[serde(default)]
    pub rbcd_max_steps: Option<usize>,
    /// adam: the learning rate. (`max_iters` counts epochs for adam.)
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// adam: decay rates of the first and second moment estimates.
    #[serde(default = "default_adam_beta1")]
    pub adam_beta1: f64,
    #[serde(default = "default_adam_beta2")]
    pub adam_beta2: f64,
    /// adam: mini-batch size.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// adam: hidden neurons; 2P, the convex model's neuron budget, when absent.
    #[serde(default)]
    pub width: Option<usize>,
    /// The run seed, for solvers that draw random numbers (RBCD's blocks, the Nystrom sketch).
    /// Not a manifest key: `plan` copies the top-level `seed` here, so runs stay reproducible
    /// and the run id (which already hashes the seed) is unchanged by it.
    #[serde(skip)]
    pub seed: u64,
}

/// The optional `condition:` section, read only by `admm-runner condition` (Figure 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Nystrom ranks to evaluate; when empty, 1..=max_rank.
    #[serde(default)]
    pub ranks: Vec<usize>,
    #[serde(default = "default_rank")]
    pub max_rank: usize,
    /// Also evaluate the paper code's variant (sketch of the whole A, mu = rho).
    #[serde(default)]
    pub reference: bool,
    /// Largest N = 2dP for which A is formed densely (one N x N eigenproblem per rank).
    #[serde(default = "default_condition_max_dim")]
    pub max_dim: usize,
}

impl Default for ConditionConfig {
    fn default() -> Self {
        ConditionConfig {
            ranks: Vec::new(),
            max_rank: default_rank(),
            reference: false,
            max_dim: default_condition_max_dim(),
        }
    }
}

impl ConditionConfig {
    /// The ranks to evaluate, in increasing order.
    pub fn rank_list(&self) -> Vec<usize> {
        let mut ranks = if self.ranks.is_empty() {
            (1..=self.max_rank).collect()
        } else {
            self.ranks.clone()
        };
        ranks.sort_unstable();
        ranks.dedup();
        ranks
    }
}

/// The optional `plot:` section, read only by `admm-runner plot`. It is not part of any
/// `RunConfig`, so it never changes a run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotConfig {
    /// The x axis of curve figures: ADMM iteration (epoch for Adam) or solver seconds.
    #[serde(default)]
    pub x: PlotX,
    /// The figures and tables to render, in order; the first is written as
    /// `<plots>/<experiment>.*`, the others as `<plots>/<experiment>-<kind>.*`.
    pub figures: Vec<FigureKind>,
    /// A title instead of the one made from the setting.
    #[serde(default)]
    pub title: Option<String>,
    /// Tables: show the paper's own Table 1 values beside ours, labelled as the paper's.
    #[serde(default)]
    pub paper: bool,
}

/// The x axis of curve figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PlotX {
    /// ADMM iteration (Adam: epoch).
    #[default]
    Iter,
    /// Cumulative solver seconds (precompute + u + v + dual; metric evaluation excluded).
    Seconds,
}

/// What `admm-runner plot` can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FigureKind {
    /// Four panels: train loss, train accuracy, test loss, test accuracy (Figures 1 and 3).
    Curves,
    /// Stacked bars of the mean runtime split per solver (Figure 3, right).
    Runtime,
    /// Condition numbers against Nystrom rank, from `kappa.parquet` (Figure 2).
    Condition,
    /// Training loss alone, one line per solver and backend (Figure 4).
    TrainLoss,
    /// Seconds to the target train accuracy, split by phase: Markdown, CSV, LaTeX (Table 1).
    Table,
}

impl fmt::Display for FigureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FigureKind::Curves => "curves",
            FigureKind::Runtime => "runtime",
            FigureKind::Condition => "condition",
            FigureKind::TrainLoss => "train-loss",
            FigureKind::Table => "table",
        })
    }
}

/// One fully resolved run: everything that determines its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub experiment: String,
    pub data: DataConfig,
    pub problem: ProblemConfig,
    pub solver: SolverConfig,
    pub backend: BackendKind,
    pub seed: u64,
}

/// The whole manifest file as written; `sweep` and `variants` expand it into runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    /// Experiment name: results go to `<out>/<name>/`. Defaults to the file stem.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    data: DataConfig,
    problem: ProblemConfig,
    solver: SolverConfig,
    #[serde(default)]
    backend: BackendKind,
    #[serde(default)]
    seed: u64,
    /// Axes: dotted key -> list of values, expanded as a cartesian product.
    #[serde(default)]
    sweep: BTreeMap<String, Vec<Value>>,
    /// Explicit variants: each a map of dotted key -> value, crossed with the sweep axes.
    #[serde(default)]
    variants: Vec<BTreeMap<String, Value>>,
    /// Figure 2's settings (`admm-runner condition`); ignored by `run`.
    #[serde(default)]
    condition: Option<ConditionConfig>,
    /// What `admm-runner plot` renders; ignored by `run` and by run ids.
    #[serde(default)]
    plot: Option<PlotConfig>,
}

/// One expanded run, ready to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    pub id: String,
    pub config: RunConfig,
    /// The manifest it came from.
    pub manifest: PathBuf,
}

impl PlannedRun {
    /// One line for `plan` and progress output.
    pub fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "{id}  solver={s} backend={b} n={n} d={d} P={p} seed={seed} rho={rho} beta={beta} iters={it}",
            id = self.id,
            s = c.solver.name,
            b = c.backend,
            n = c.data.n_train,
            d = match c.data.source {
                crate::data::DataSource::Synthetic => c.data.dim.to_string(),
                crate::data::DataSource::Cifar10 => c.data.downsample.unwrap_or(3072).to_string(),
                crate::data::DataSource::Npy => "npy".to_string(),
            },
            p = c.problem.patterns,
            seed = c.seed,
            rho = c.solver.rho,
            beta = c.problem.beta,
            it = c.solver.max_iters,
        )
    }
}

/// Parses `--set key=value` arguments; values are parsed like environment values
/// (numbers, booleans, `[lists]`, `{maps}`, else strings).
pub fn parse_overrides(args: &[String]) -> Result<Vec<(String, Value)>, ManifestError> {
    args.iter()
        .map(|arg| {
            let (k, v) = arg
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ManifestError::BadOverride { arg: arg.clone() })?;
            let value: Value = v.parse().unwrap_or_else(|never| match never {});
            let value = match &value {
                // figment leaves exponent notation (`1e-3`) a string: a number is meant.
                Value::String(_, text) => text.parse::<f64>().map_or(value.clone(), Value::from),
                _ => value,
            };
            Ok((canonical_key(k.trim(), &value), value))
        })
        .collect()
}

/// `solver: cg` in a sweep or `--set` means `solver.name: cg`.
fn canonical_key(key: &str, value: &Value) -> String {
    if key == "solver" && matches!(value, Value::String(..)) {
        "solver.name".to_string()
    } else {
        key.to_string()
    }
}

/// Loads a manifest and expands it into planned runs.
pub fn plan(path: &Path, overrides: &[(String, Value)]) -> Result<Vec<PlannedRun>, ManifestError> {
    let base = base_figment(path)?;
    let file: ManifestFile = with_overrides(base.clone(), overrides)
        .extract()
        .map_err(|e| schema_error(path, e))?;
    let experiment = experiment_name(path, file.name.as_deref());
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
        let mut solver = resolved.solver;
        solver.seed = resolved.seed;
        let config = RunConfig {
            experiment: experiment.clone(),
            data: resolved.data,
            problem: resolved.problem,
            solver,
            backend: resolved.backend,
            seed: resolved.seed,
        };
        validate(path, &config)?;
        let id = run_id(&config);
        if runs.iter().any(|r: &PlannedRun| r.id == id) {
            continue; // two sweep points resolving to the same run: run it once
        }
        runs.push(PlannedRun {
            id,
            config,
            manifest: path.to_path_buf(),
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
    let experiment = experiment_name(path, file.name.as_deref());
    Ok((file.plot, experiment, plan(path, overrides)?))
}

/// The experiment name: the manifest's `name`, else the file stem.
fn experiment_name(path: &Path, name: Option<&str>) -> String {
    name.map(str::to_string).unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into())
    })
}

fn base_figment(path: &Path) -> Result<Figment, ManifestError> {
    if !path.is_file() {
        return Err(ManifestError::Read {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let fig = match ext {
        "yaml" | "yml" => Figment::from(Yaml::file_exact(path)),
        "toml" => Figment::from(Toml::file_exact(path)),
        _ => {
            return Err(ManifestError::Extension {
                path: path.to_path_buf(),
            })
        }
    };
    Ok(fig.merge(Env::prefixed(ENV_PREFIX).split("__")))
}

fn with_overrides(mut fig: Figment, overrides: &[(String, Value)]) -> Figment {
    for (key, value) in overrides {
        fig = fig.merge(Serialized::default(key, value));
    }
    fig
}

/// The cartesian product of the sweep axes, crossed with the variants (in file order).
fn sweep_points(
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

/// Checks that serde cannot express: ranges and consistency.
fn validate(path: &Path, c: &RunConfig) -> Result<(), ManifestError> {
    let bad = |key: &str, reason: String| ManifestError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    if c.problem.patterns == 0 {
        return Err(bad("problem.patterns", "must be at least 1".into()));
    }
    if !(c.problem.beta >= 0.0 && c.problem.beta.is_finite()) {
        return Err(bad(
            "problem.beta",
            format!("must be >= 0, got {}", c.problem.beta),
        ));
    }
    if !(c.solver.rho > 0.0 && c.solver.rho.is_finite()) {
        return Err(bad(
            "solver.rho",
            format!("must be > 0, got {}", c.solver.rho),
        ));
    }
    if !(c.solver.gamma > 0.0 && c.solver.gamma < 2.0) {
        return Err(bad(
            "solver.gamma",
            format!("must be in (0, 2), got {}", c.solver.gamma),
        ));
    }
    if c.solver.max_iters == 0 {
        return Err(bad("solver.max_iters", "must be at least 1".into()));
    }
    if let Some(t) = c.solver.target_train_acc {
        if !(0.0..=1.0).contains(&t) {
            return Err(bad(
                "solver.target_train_acc",
                format!("is a fraction in [0, 1], got {t}"),
            ));
        }
    }
    if c.solver.time_limit.is_some_and(|t| t <= 0.0 || t.is_nan()) {
        return Err(bad("solver.time_limit", "must be > 0 seconds".into()));
    }
    validate_solver_options(path, &c.solver)?;
    if c.data.n_train == 0 && c.data.source != crate::data::DataSource::Npy {
        return Err(bad("data.n_train", "must be at least 1".into()));
    }
    Ok(())
}

/// Ranges of the per-solver options.
fn validate_solver_options(path: &Path, s: &SolverConfig) -> Result<(), ManifestError> {
    let bad = |key: &str, reason: String| ManifestError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    if s.rank == 0 {
        return Err(bad("solver.rank", "must be at least 1".into()));
    }
    if s.block_size == 0 {
        return Err(bad("solver.block_size", "must be at least 1".into()));
    }
    if !(s.rbcd_threshold >= 0.0 && s.rbcd_threshold.is_finite()) {
        return Err(bad(
            "solver.rbcd_threshold",
            format!("must be >= 0, got {}", s.rbcd_threshold),
        ));
    }
    if !(s.rbcd_decay > 0.0 && s.rbcd_decay <= 1.0) {
        return Err(bad(
            "solver.rbcd_decay",
            format!("must be in (0, 1], got {}", s.rbcd_decay),
        ));
    }
    if !(s.rbcd_step0 > 0.0 && s.rbcd_step0.is_finite()) {
        return Err(bad(
            "solver.rbcd_step0",
            format!("must be > 0, got {}", s.rbcd_step0),
        ));
    }
    if s.rbcd_max_steps == Some(0) {
        return Err(bad("solver.rbcd_max_steps", "must be at least 1".into()));
    }
    if !(s.lr > 0.0 && s.lr.is_finite()) {
        return Err(bad("solver.lr", format!("must be > 0, got {}", s.lr)));
    }
    for (key, b) in [
        ("solver.adam_beta1", s.adam_beta1),
        ("solver.adam_beta2", s.adam_beta2),
    ] {
        if !(0.0..1.0).contains(&b) {
            return Err(bad(key, format!("must be in [0, 1), got {b}")));
        }
    }
    if s.batch_size == 0 {
        return Err(bad("solver.batch_size", "must be at least 1".into()));
    }
    if s.width == Some(0) {
        return Err(bad("solver.width", "must be at least 1".into()));
    }
    Ok(())
}

/// A stable, readable id: `<solver>-<backend>-s<seed>-<hash of the resolved config>`.
pub fn run_id(config: &RunConfig) -> String {
    let canonical = serde_json::to_string(config).unwrap_or_default();
    format!(
        "{}-{}-s{}-{:08x}",
        config.solver.name,
        config.backend,
        config.seed,
        fnv1a64(canonical.as_bytes()) as u32
    )
}

/// FNV-1a: tiny, stable across platforms and releases (unlike std's `DefaultHasher`).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Formats figment's errors as `file: key `a.b`: reason`, one per line.
fn schema_error(path: &Path, err: figment::Error) -> ManifestError {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let source = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                // Values set in code are the `--set` and sweep values, not our source lines.
                Some(figment::Source::Code(_)) | None => path.display().to_string(),
                Some(s) => s.to_string(),
            };
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            format!("{source}: key `{key}`: {}", e.kind)
        })
        .collect();
    ManifestError::Schema(lines.join("\n"))
}

fn with_point(err: ManifestError, point: &[(String, Value)]) -> ManifestError {
    if point.is_empty() {
        return err;
    }
    let desc: Vec<String> = point
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect();
    ManifestError::Schema(format!("{err}\n  (in the sweep point {})", desc.join(", ")))
}

/// A short text for a figment value (used in messages).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(_, s) => s.clone(),
        Value::Num(_, n) => n
            .to_f64()
            .map(|f| f.to_string())
            .unwrap_or_else(|| format!("{n:?}")),
        Value::Bool(_, b) => b.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

fn default_beta() -> f64 {
    1e-3
}
fn default_rho() -> f64 {
    0.01
}
fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn default_max_iters() -> usize {
    100
}
fn default_tol_abs() -> f64 {
    1e-6
}
fn default_tol_rel() -> f64 {
    1e-4
}
fn default_inner_max_iters() -> usize {
    20
}
fn default_inner_tol() -> f64 {
    1e-2
}
fn default_exact_max_dim() -> usize {
    4000
}
fn default_rank() -> usize {
    100
}
fn default_lr() -> f64 {
    1e-3
}
fn default_adam_beta1() -> f64 {
    0.9
}
fn default_adam_beta2() -> f64 {
    0.999
}
fn default_batch_size() -> usize {
    64
}
fn default_block_size() -> usize {
    3
}
fn default_rbcd_threshold() -> f64 {
    0.7
}
fn default_condition_max_dim() -> usize {
    6000
}
