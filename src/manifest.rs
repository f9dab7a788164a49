//! Manifests: the strict schema, loading (YAML or TOML + environment + `--set`), and sweep
//! expansion into concrete runs with stable ids.
//!
//! Layering, lowest to highest priority: the file, `ADMM_SET_*` environment variables,
//! one sweep point (axes and variant), then `--set key=value` from the command line.

use crate::admm::usolve::{CgOptions, ExactOptions, NysOptions, Precond, RbcdOptions, USolverSpec};
use crate::admm::AdmmOptions;
pub use crate::backend::BackendKind;
use crate::data::DataConfig;
use crate::executor::StopRules;
use crate::mlp::AdamOptions;
pub use crate::problem::ProblemConfig;
use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use figment::value::Value;
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

mod dupkeys;

/// Prefix of environment variables that override manifest keys: `ADMM_SET_SOLVER__ADMM__RHO=0.1`
/// sets `solver.admm.rho` (a double underscore separates nested keys).
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

/// The method a run uses: an ADMM u-solver or the Adam baseline.
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

impl SolverKind {
    /// Every method.
    pub const ALL: [SolverKind; 7] = [
        SolverKind::Exact,
        SolverKind::Cg,
        SolverKind::DiagPcg,
        SolverKind::NysPcg,
        SolverKind::BjPcg,
        SolverKind::Rbcd,
        SolverKind::Adam,
    ];

    /// The manifest name (`cg`, `nys-pcg`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SolverKind::Exact => "exact",
            SolverKind::Cg => "cg",
            SolverKind::Rbcd => "rbcd",
            SolverKind::DiagPcg => "diag-pcg",
            SolverKind::NysPcg => "nys-pcg",
            SolverKind::BjPcg => "bj-pcg",
            SolverKind::Adam => "adam",
        }
    }

    /// The method a manifest name (or a summary's `solver` cell) names.
    pub fn parse(name: &str) -> Option<SolverKind> {
        SolverKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for SolverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resolved method with exactly the options it uses (serialized with its `name` tag, so a
/// run id and a summary's `config.solver.*` columns hold nothing another method reads).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Method {
    Exact {
        admm: AdmmOptions,
        exact: ExactOptions,
    },
    Cg {
        admm: AdmmOptions,
        cg: CgOptions,
    },
    DiagPcg {
        admm: AdmmOptions,
        cg: CgOptions,
    },
    NysPcg {
        admm: AdmmOptions,
        cg: CgOptions,
        nys: NysOptions,
    },
    BjPcg {
        admm: AdmmOptions,
        cg: CgOptions,
    },
    Rbcd {
        admm: AdmmOptions,
        rbcd: RbcdOptions,
    },
    Adam {
        adam: AdamOptions,
    },
}

/// What the engine runs for a method: ADMM with a u-solver, or Adam.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Engine {
    Admm(AdmmOptions, USolverSpec),
    Adam(AdamOptions),
}

impl Method {
    pub fn kind(&self) -> SolverKind {
        match self {
            Method::Exact { .. } => SolverKind::Exact,
            Method::Cg { .. } => SolverKind::Cg,
            Method::DiagPcg { .. } => SolverKind::DiagPcg,
            Method::NysPcg { .. } => SolverKind::NysPcg,
            Method::BjPcg { .. } => SolverKind::BjPcg,
            Method::Rbcd { .. } => SolverKind::Rbcd,
            Method::Adam { .. } => SolverKind::Adam,
        }
    }

    /// The engine's description of this method: the one conversion from harness to engine.
    pub fn engine(&self) -> Engine {
        let cg = |admm: &AdmmOptions, o: &CgOptions, p| Engine::Admm(*admm, USolverSpec::Cg(*o, p));
        match self {
            Method::Exact { admm, exact } => Engine::Admm(*admm, USolverSpec::Exact(*exact)),
            Method::Cg { admm, cg: o } => cg(admm, o, Precond::None),
            Method::DiagPcg { admm, cg: o } => cg(admm, o, Precond::Diag),
            Method::NysPcg { admm, cg: o, nys } => cg(admm, o, Precond::Nystrom(*nys)),
            Method::BjPcg { admm, cg: o } => cg(admm, o, Precond::BlockJacobi),
            Method::Rbcd { admm, rbcd } => Engine::Admm(*admm, USolverSpec::Rbcd(*rbcd)),
            Method::Adam { adam } => Engine::Adam(*adam),
        }
    }

    /// The ADMM options, for ADMM methods, to change (the bench's before/after race).
    pub fn admm_mut(&mut self) -> Option<&mut AdmmOptions> {
        match self {
            Method::Exact { admm, .. }
            | Method::Cg { admm, .. }
            | Method::DiagPcg { admm, .. }
            | Method::NysPcg { admm, .. }
            | Method::BjPcg { admm, .. }
            | Method::Rbcd { admm, .. } => Some(admm),
            Method::Adam { .. } => None,
        }
    }

    /// The ADMM options, for ADMM methods.
    pub fn admm(&self) -> Option<&AdmmOptions> {
        match self {
            Method::Exact { admm, .. }
            | Method::Cg { admm, .. }
            | Method::DiagPcg { admm, .. }
            | Method::NysPcg { admm, .. }
            | Method::BjPcg { admm, .. }
            | Method::Rbcd { admm, .. } => Some(admm),
            Method::Adam { .. } => None,
        }
    }
}

/// The `solver:` section as written: the method's name, the stop rules every method shares,
/// and one section per option family. A sweep base may carry sections for several methods;
/// each run keeps only its own (`SolverSection::resolve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverSection {
    pub name: SolverKind,
    /// Steps at most: ADMM iterations, Adam epochs (the planned budget: reaching it is a
    /// normal stop).
    #[serde(default = "default_max_iters")]
    pub max_iters: usize,
    /// Wall-clock safety limit in seconds; a run that reaches it is recorded as failed.
    #[serde(default)]
    pub time_limit: Option<f64>,
    /// Train accuracy whose first crossing is timed (Table 1's "seconds to 97%").
    #[serde(default)]
    pub target_train_acc: Option<f64>,
    /// Stop as soon as the target is reached.
    #[serde(default)]
    pub stop_at_target: bool,
    /// Every ADMM u-solver: rho, gamma, tol_abs, tol_rel.
    #[serde(default)]
    pub admm: AdmmOptions,
    /// cg, diag-pcg, nys-pcg, bj-pcg: max_iters, tol, tol_schedule, warm_start.
    #[serde(default)]
    pub cg: CgOptions,
    /// nys-pcg: rank, variant.
    #[serde(default)]
    pub nys: NysOptions,
    /// rbcd: block_size, threshold, decay, step0, max_steps, warm_start, blocks_per_pass.
    #[serde(default)]
    pub rbcd: RbcdOptions,
    /// exact: max_dim.
    #[serde(default)]
    pub exact: ExactOptions,
    /// adam: lr, beta1, beta2, batch_size, width.
    #[serde(default)]
    pub adam: AdamOptions,
}

impl SolverSection {
    /// The method `name` names, with only its own option sections.
    pub fn resolve(&self) -> SolverConfig {
        let (admm, cg) = (self.admm, self.cg);
        let method = match self.name {
            SolverKind::Exact => Method::Exact {
                admm,
                exact: self.exact,
            },
            SolverKind::Cg => Method::Cg { admm, cg },
            SolverKind::DiagPcg => Method::DiagPcg { admm, cg },
            SolverKind::NysPcg => Method::NysPcg {
                admm,
                cg,
                nys: self.nys,
            },
            SolverKind::BjPcg => Method::BjPcg { admm, cg },
            SolverKind::Rbcd => Method::Rbcd {
                admm,
                rbcd: self.rbcd,
            },
            SolverKind::Adam => Method::Adam { adam: self.adam },
        };
        SolverConfig {
            method,
            stop: StopRules {
                max_iters: self.max_iters,
                time_limit: self.time_limit,
                target_train_acc: self.target_train_acc,
                stop_at_target: self.stop_at_target,
            },
        }
    }

    /// Ranges serde cannot express, in every section (a bad value is an error even where
    /// this run does not read it: it is a mistake in the file all the same). Returns the
    /// dotted key and the reason.
    fn validate(&self) -> Result<(), (String, String)> {
        fn at(section: &str) -> impl Fn((&str, String)) -> (String, String) + '_ {
            move |(k, why)| (format!("solver.{section}.{k}"), why)
        }
        self.admm.validate().map_err(at("admm"))?;
        self.cg.validate().map_err(at("cg"))?;
        self.rbcd.validate().map_err(at("rbcd"))?;
        self.adam.validate().map_err(at("adam"))?;
        if self.nys.rank == 0 {
            return Err(("solver.nys.rank".into(), "must be at least 1".into()));
        }
        if self.max_iters == 0 {
            return Err(("solver.max_iters".into(), "must be at least 1".into()));
        }
        if let Some(t) = self.target_train_acc.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err((
                "solver.target_train_acc".into(),
                format!("is a fraction in [0, 1], got {t}"),
            ));
        }
        if self.time_limit.is_some_and(|t| t <= 0.0 || t.is_nan()) {
            return Err(("solver.time_limit".into(), "must be > 0 seconds".into()));
        }
        Ok(())
    }
}

/// A run's resolved `solver:` section: its method (with its own options) and the stop rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SolverConfig {
    #[serde(flatten)]
    pub method: Method,
    #[serde(flatten)]
    pub stop: StopRules,
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
    /// Tables: a manifest (path relative to this one's folder) whose runs are long,
    /// high-accuracy solves of the same problems; their objectives are the references of the
    /// companion table's suboptimality columns.
    #[serde(default)]
    pub reference: Option<PathBuf>,
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
    /// Train / validation / test accuracy and active neurons against beta, from the path
    /// tables of a `beta_path:` manifest.
    BetaPath,
}

impl fmt::Display for FigureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FigureKind::Curves => "curves",
            FigureKind::Runtime => "runtime",
            FigureKind::Condition => "condition",
            FigureKind::TrainLoss => "train-loss",
            FigureKind::Table => "table",
            FigureKind::BetaPath => "beta-path",
        })
    }
}

/// One fully resolved run: everything that determines its result, and nothing else (its
/// serialization is hashed into the run id and flattened into the summary's config columns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    pub experiment: String,
    pub data: DataConfig,
    pub problem: ProblemConfig,
    pub solver: SolverConfig,
    pub backend: BackendKind,
    pub seed: u64,
    /// Set for the points of a regularization path (absent otherwise, so that plain runs keep
    /// their ids): the path, its start and the point's place on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathPoint>,
}

/// The optional `beta_path:` section: solve a run at a decreasing sequence of betas, pick the
/// one with the best validation accuracy (`crate::path`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetaPath {
    /// Betas from beta_max down to `ratio` * beta_max, geometrically spaced.
    #[serde(default = "default_path_count")]
    pub count: usize,
    #[serde(default = "default_path_ratio")]
    pub ratio: f64,
    /// An explicit list of betas instead (solved largest first).
    #[serde(default)]
    pub betas: Vec<f64>,
    /// Fraction of the training set held out to choose beta.
    #[serde(default = "default_validation")]
    pub validation: f64,
    /// Start each beta from the previous beta's solution (u, v, slacks and scaled duals).
    #[serde(default = "yes")]
    pub warm_start: bool,
    /// Also solve the path from zero at every beta, and report both total times.
    #[serde(default)]
    pub compare_cold: bool,
    /// Projected-gradient iterations at most for beta_max (`path::beta_max`).
    #[serde(default = "default_beta_max_iters")]
    pub beta_max_iters: usize,
}

impl BetaPath {
    /// Ranges serde cannot express: the first bad field (relative key) and why.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.betas.is_empty() && self.count < 2 {
            return Err(("count", "a path needs at least 2 betas".into()));
        }
        if !(self.ratio > 0.0 && self.ratio < 1.0) {
            return Err(("ratio", format!("must be in (0, 1), got {}", self.ratio)));
        }
        if let Some(b) = self.betas.iter().find(|b| !(**b > 0.0 && b.is_finite())) {
            return Err(("betas", format!("every beta must be > 0, got {b}")));
        }
        if !(self.validation > 0.0 && self.validation < 1.0) {
            let v = self.validation;
            return Err(("validation", format!("is a fraction in (0, 1), got {v}")));
        }
        if self.beta_max_iters == 0 {
            return Err(("beta_max_iters", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// A path point's identity in its run's configuration (hashed into the run id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathPoint {
    pub count: usize,
    pub ratio: f64,
    pub betas: Vec<f64>,
    pub validation: f64,
    pub beta_max_iters: usize,
    /// Started from the previous point's solution (false: from zero).
    pub warm_start: bool,
    /// 0 for the largest beta; None in the id of the path as a whole.
    pub index: Option<usize>,
}

impl PathPoint {
    /// The point `index` of `path`, warm-started or not.
    pub fn new(path: &BetaPath, warm_start: bool, index: Option<usize>) -> Self {
        PathPoint {
            count: path.count,
            ratio: path.ratio,
            betas: path.betas.clone(),
            validation: path.validation,
            beta_max_iters: path.beta_max_iters,
            warm_start,
            index,
        }
    }
}

fn default_path_count() -> usize {
    10
}
fn default_path_ratio() -> f64 {
    1e-2
}
fn default_validation() -> f64 {
    0.2
}
fn default_beta_max_iters() -> usize {
    3000
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
    solver: SolverSection,
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
    /// What `admm-runner submit` asks a cluster for; ignored by `run` and by run ids.
    #[serde(default)]
    launcher: Option<crate::submit::Launcher>,
    /// What a run writes besides its results; not part of run ids.
    #[serde(default)]
    output: OutputConfig,
    /// A regularization path over beta (`crate::path`): each planned run becomes a path.
    #[serde(default)]
    beta_path: Option<BetaPath>,
}

/// The optional `output:` section: files a run writes besides its summary and trace. It is
/// not part of any `RunConfig`, so it never changes a run id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Save the trained network to `<out>/<experiment>/models/<run-id>.safetensors`.
    #[serde(default = "yes")]
    pub save_model: bool,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { save_model: true }
    }
}

fn yes() -> bool {
    true
}

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
        let d = match c.data.source {
            crate::data::DataSource::Synthetic => c.data.dim.to_string(),
            crate::data::DataSource::Cifar10 => c.data.downsample.unwrap_or(3072).to_string(),
            crate::data::DataSource::Npy => "npy".to_string(),
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
            n = c.data.n_train,
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
        if c.problem.loss != crate::loss::Loss::Squared {
            out += &format!(" loss={}", c.problem.loss.name());
        }
        if c.data.classes.len() > 2 && c.data.source != crate::data::DataSource::Npy {
            out += &format!(" classes={}", c.data.classes.len());
        }
        out
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
            data: resolved.data,
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
) -> Result<(Option<crate::submit::Launcher>, String, Vec<PlannedRun>), ManifestError> {
    let file: ManifestFile = with_overrides(base_figment(path)?, overrides)
        .extract()
        .map_err(|e| schema_error(path, e))?;
    let experiment = experiment_name(path, file.name.as_deref())?;
    Ok((file.launcher, experiment, plan(path, overrides)?))
}

/// The characters an experiment name may use (it becomes one path component of the results
/// and plots folders).
pub const NAME_CHARS: &str = "A-Z a-z 0-9 . _ -";

/// The experiment name: the manifest's `name`, else the file stem. Either must be one safe
/// path component: only [A-Za-z0-9._-], not empty, not starting with '.', so that results and
/// plots never land outside `--out` and `--plots`.
fn experiment_name(path: &Path, name: Option<&str>) -> Result<String, ManifestError> {
    let (text, whence) = match name {
        Some(n) => (n.to_string(), None),
        None => (
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Some("the file stem is used when `name` is absent; set `name:` to a safe name"),
        ),
    };
    let why = if text.is_empty() {
        Some("is empty".to_string())
    } else if text.starts_with('.') {
        Some(format!("{text:?} starts with '.'"))
    } else {
        text.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("{text:?} contains {c:?}"))
    };
    match why {
        None => Ok(text),
        Some(why) => Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            key: "name".into(),
            reason: format!(
                "the experiment name {why}: it names a results folder, so it must be one path \
                 component of the characters {NAME_CHARS} only, not empty and not starting with \
                 '.'{}",
                whence.map(|w| format!(" ({w})")).unwrap_or_default()
            ),
        }),
    }
}

fn base_figment(path: &Path) -> Result<Figment, ManifestError> {
    if path.is_dir() {
        return Err(ManifestError::Read {
            path: path.to_path_buf(),
            reason: "is a directory, not a manifest file".into(),
        });
    }
    if !path.is_file() {
        return Err(ManifestError::Read {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let fig = match ext {
        "yaml" | "yml" => {
            reject_duplicate_keys(path)?;
            Figment::from(Yaml::file_exact(path))
        }
        "toml" => Figment::from(Toml::file_exact(path)),
        _ => {
            return Err(ManifestError::Extension {
                path: path.to_path_buf(),
            })
        }
    };
    Ok(fig.merge(Env::prefixed(ENV_PREFIX).split("__")))
}

/// A YAML mapping that repeats a key is an error (figment would silently keep the last).
fn reject_duplicate_keys(path: &Path) -> Result<(), ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let Some((key, lines)) = dupkeys::first_duplicate(&text) else {
        return Ok(());
    };
    let at = match lines.as_slice() {
        [first, .., second] => format!(" (lines {first} and {second})"),
        _ => String::new(),
    };
    Err(ManifestError::Invalid {
        path: path.to_path_buf(),
        key,
        reason: format!("the key is given twice in one mapping{at}: keep one"),
    })
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

/// Checks that serde cannot express: ranges and consistency, naming the dotted key.
fn validate(path: &Path, file: &ManifestFile) -> Result<(), ManifestError> {
    let bad = |(key, reason): (String, String)| ManifestError::Invalid {
        path: path.to_path_buf(),
        key,
        reason,
    };
    file.problem
        .validate()
        .map_err(|(k, why)| bad((format!("problem.{k}"), why)))?;
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

/// A stable, readable id: `<solver>-<backend>-s<seed>-<hash of the resolved config>`.
pub fn run_id(config: &RunConfig) -> String {
    let canonical = serde_json::to_string(config).unwrap_or_default();
    format!(
        "{}-{}-s{}-{:08x}",
        config.solver.method.kind(),
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

fn default_max_iters() -> usize {
    100
}
fn default_rank() -> usize {
    100
}
fn default_condition_max_dim() -> usize {
    6000
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
