//! The manifest's schema: every section as serde reads it, with the checks serde cannot
//! express, and `RunConfig`, one resolved run (its serialization is the run id's input).

use super::methods::{Method, SolverKind};
use crate::backend::BackendKind;
use crate::data::{DataConfig, ProblemSection};
use admm_engine::adam::AdamOptions;
use admm_engine::admm::usolve::{CgOptions, ExactOptions, NysOptions, RbcdOptions};
use admm_engine::admm::AdmmOptions;
use admm_engine::executor::StopRules;
use admm_engine::InvalidOption;
use figment::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

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
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        // The engine's own checks, each option named by its key in the manifest.
        let key = |e: InvalidOption| (format!("solver.{}", e.option), e.reason);
        let checks = [
            ("admm", self.admm.validate()),
            ("cg", self.cg.validate()),
            ("nys", self.nys.validate()),
            ("rbcd", self.rbcd.validate()),
            ("exact", self.exact.validate()),
            ("adam", self.adam.validate()),
        ];
        for (section, check) in checks {
            check.map_err(|e| key(e.within(section)))?;
        }
        // A trace has a row per step, and readers refuse a trace longer than this
        // (`results::ReadLimits::TRACE`): a run must not write what cannot be read back.
        let most = crate::results::MAX_TRACE_ROWS;
        if self.max_iters as u64 > most {
            return Err((
                "solver.max_iters".into(),
                format!("{}: at most {most} steps per run", self.max_iters),
            ));
        }
        self.resolve().stop.validate().map_err(key)
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
    /// Curves: the resolved keys that separate lines (e.g. `[solver.admm.rho, problem.beta]`),
    /// beside the method, backend and loss. Default: every key the runs vary but the seed. A
    /// line averages over seeds only, so a varied key left out is an error.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
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
    pub problem: ProblemSection,
    pub solver: SolverConfig,
    pub backend: BackendKind,
    pub seed: u64,
    /// Set for the points of a regularization path (absent otherwise, so that plain runs keep
    /// their ids): the path, its start and the point's place on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathPoint>,
}

/// The optional `beta_path:` section: solve a run at a decreasing sequence of betas, pick the
/// one with the best validation accuracy (`crate::run::path`).
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
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.betas.is_empty() && self.count < 2 {
            return Err(("count", "a path needs at least 2 betas".into()));
        }
        // Every point is a solve and a set of files: a typo such as 1e8 must not start that.
        if self.count > MAX_PATH_POINTS || self.betas.len() > MAX_PATH_POINTS {
            let n = self.count.max(self.betas.len());
            return Err((
                if self.count > MAX_PATH_POINTS {
                    "count"
                } else {
                    "betas"
                },
                format!("{n} betas: a path has at most {MAX_PATH_POINTS}"),
            ));
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

/// The most betas one path may solve.
pub const MAX_PATH_POINTS: usize = 1000;

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
pub(super) struct ManifestFile {
    /// Experiment name: results go to `<out>/<name>/`. Defaults to the file stem.
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) description: Option<String>,
    pub(super) data: DataConfig,
    pub(super) problem: ProblemSection,
    pub(super) solver: SolverSection,
    #[serde(default)]
    pub(super) backend: BackendKind,
    #[serde(default)]
    pub(super) seed: u64,
    /// Axes: dotted key -> list of values, expanded as a cartesian product.
    #[serde(default)]
    pub(super) sweep: BTreeMap<String, Vec<Value>>,
    /// Explicit variants: each a map of dotted key -> value, crossed with the sweep axes.
    #[serde(default)]
    pub(super) variants: Vec<BTreeMap<String, Value>>,
    /// Figure 2's settings (`admm-runner condition`); ignored by `run`.
    #[serde(default)]
    pub(super) condition: Option<ConditionConfig>,
    /// What `admm-runner plot` renders; ignored by `run` and by run ids.
    #[serde(default)]
    pub(super) plot: Option<PlotConfig>,
    /// What `admm-runner submit` asks a cluster for; ignored by `run` and by run ids.
    #[serde(default)]
    pub(super) launcher: Option<Launcher>,
    /// What a run writes besides its results; not part of run ids.
    #[serde(default)]
    pub(super) output: OutputConfig,
    /// A regularization path over beta (`crate::run::path`): each planned run becomes a path.
    #[serde(default)]
    pub(super) beta_path: Option<BetaPath>,
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

fn default_max_iters() -> usize {
    100
}
fn default_rank() -> usize {
    100
}
fn default_condition_max_dim() -> usize {
    6000
}

/// The manifest's `launcher:` section: what a job-array task asks the cluster for. Every key
/// is optional; flags of `submit` override them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launcher {
    /// Array tasks (shards). Default: one per run, at most the number of runs.
    #[serde(default)]
    pub shards: Option<usize>,
    /// `--time` per task, as SLURM writes it (`01:30:00`, `2-00:00:00`, `90`).
    #[serde(default)]
    pub time: Option<String>,
    /// `--cpus-per-task` (also the solver's thread count, RAYON_NUM_THREADS).
    #[serde(default)]
    pub cpus: Option<usize>,
    /// `--mem` per task (`16G`).
    #[serde(default)]
    pub mem: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    /// `--gpus-per-task` (for `backend: cuda`).
    #[serde(default)]
    pub gpus: Option<usize>,
    /// Shell lines run before the runner in each task (`module load cuda`).
    #[serde(default)]
    pub setup: Vec<String>,
    /// Further `#SBATCH` options, verbatim (`--qos=long`).
    #[serde(default)]
    pub sbatch: Vec<String>,
}

impl Launcher {
    /// `over`'s values where it has them, else ours (flags over the manifest).
    pub fn overridden_by(self, over: Launcher) -> Launcher {
        Launcher {
            shards: over.shards.or(self.shards),
            time: over.time.or(self.time),
            cpus: over.cpus.or(self.cpus),
            mem: over.mem.or(self.mem),
            partition: over.partition.or(self.partition),
            account: over.account.or(self.account),
            gpus: over.gpus.or(self.gpus),
            setup: if over.setup.is_empty() {
                self.setup
            } else {
                over.setup
            },
            sbatch: if over.sbatch.is_empty() {
                self.sbatch
            } else {
                over.sbatch
            },
        }
    }

    /// Values that would break a `#SBATCH` line: empty, or holding white space or a control
    /// character (a newline would end the directive and start a command); setup lines that
    /// are more than one line. Err(key, reason).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let texts = [
            ("time", &self.time),
            ("mem", &self.mem),
            ("partition", &self.partition),
            ("account", &self.account),
        ];
        for (key, value) in texts {
            if let Some(v) = value {
                if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c.is_control()) {
                    return Err((key.into(), format!("{v:?}: give one word without spaces")));
                }
            }
        }
        for (key, value) in [("shards", self.shards), ("cpus", self.cpus)] {
            if value == Some(0) {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        for v in &self.setup {
            if v.contains(|c: char| c.is_control() && c != '\t') {
                return Err((
                    "setup".into(),
                    format!("{v:?}: give one shell line per entry, without control characters"),
                ));
            }
        }
        for v in &self.sbatch {
            if !v.starts_with('-') || v.contains(|c: char| c.is_control()) {
                return Err((
                    "sbatch".into(),
                    format!("{v:?}: give one sbatch option per entry, e.g. --qos=long"),
                ));
            }
        }
        Ok(())
    }
}
