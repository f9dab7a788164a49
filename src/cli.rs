//! Command-line definitions (clap). No logic beyond parsing.

use admm_runner::commands::show::{Column, Format};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  admm-runner run experiments/quickstart.yaml
  admm-runner plan experiments/fig1.yaml
  CIFAR10_DIR=../shared/data/cifar10 admm-runner run experiments/fig1.yaml
  admm-runner run experiments/fig1.yaml --set solver.max_iters=50 --set sweep.seed=[0]
  admm-runner run experiments/fig1.yaml --only cg --shard 0/4
  admm-runner run experiments/fig1.yaml --shard slurm   # inside a SLURM job array
  CIFAR10_DIR=../shared/data/cifar10 admm-runner condition experiments/fig2.yaml
  admm-runner plot experiments/fig1.yaml          # figures from results/, into plots/
  admm-runner plot --all
  admm-runner show results/fig1                   # one line per run: status, accuracy, seconds
  admm-runner show experiments/fig1.yaml --sort test_acc --reverse   # and what is not done
  admm-runner show results/fig1 --group-by solver   # mean (min..max) over seeds
  admm-runner show results/fig1-path --sort val_acc  # a path's points, the chosen one marked
  admm-runner submit experiments/fig1.yaml --slurm --shards 6 --time 01:00:00 [--now]
  admm-runner predict results/quickstart/models/<run-id>.safetensors     # its own test set
  admm-runner predict MODEL experiments/fig1.yaml --out preds.npy
  admm-runner predict MODEL X.npy Y.npy
  admm-runner run experiments/fig1-path.yaml   # beta_path: a regularization path
  admm-runner regress experiments/ci.yaml --baseline tests/baselines/ci.json [--update]
  CIFAR10_DIR=../shared/data/cifar10 admm-runner bench experiments/bench.yaml
Environment:
  CIFAR10_DIR          where CIFAR-10 .bin files are, when a manifest gives no data.path
  ADMM_SET_<KEY>       overrides a manifest key; __ separates levels (ADMM_SET_SOLVER__ADMM__RHO=0.1)";

/// Train two-layer ReLU networks by convex optimization (ADMM), from declarative manifests.
#[derive(Debug, Parser)]
#[command(name = "admm-runner", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every run of the manifests' sweeps, skipping finished ones.
    Run {
        #[command(flatten)]
        select: Select,
        /// Results directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Rerun runs whose results already exist.
        #[arg(long)]
        force: bool,
        /// Skip runs recorded as failed (by default a rerun retries them; ok runs are skipped).
        #[arg(long)]
        keep_failed: bool,
        /// The default now (failed runs are retried); kept so that older scripts still work.
        #[arg(long, hide = true, conflicts_with = "keep_failed")]
        retry_failed: bool,
        /// Print only failures and the final count.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print the backends compiled in and the devices found.
    Info,
    /// Condition numbers of A, diag- and Nystrom-preconditioned, per rank (paper Figure 2):
    /// writes <out>/<experiment>/kappa.parquet for the manifest's first run.
    Condition {
        /// Manifest file (.yaml, .yml or .toml); its optional `condition:` section sets the ranks.
        #[arg(value_name = "MANIFEST")]
        manifest: PathBuf,
        /// Override a manifest key by dotted path (repeatable): --set condition.max_rank=20
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Results directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
    /// Time the kernels (GEMM, A-application) and each run's seconds per ADMM iteration;
    /// prints Markdown tables (for BENCHMARKS.md) on stdout, progress on stderr.
    Bench {
        #[command(flatten)]
        select: Select,
        /// Race instead: each ADMM run with fixed rho and with its own solver.admm, seconds to
        /// certified relative gap 1e-3 and 1e-4, each given at most SECONDS.
        #[arg(long, value_name = "SECONDS", value_parser = positive_number)]
        gap: Option<f64>,
    },
    /// Render the figures and tables the manifests' `plot:` sections declare, from the Parquet
    /// results only (PNG + SVG figures; Markdown, CSV and LaTeX tables).
    Plot {
        /// Manifest files (.yaml, .yml or .toml), as given to `run`.
        #[arg(value_name = "MANIFEST", required_unless_present = "all")]
        manifests: Vec<PathBuf>,
        /// Every manifest in experiments/ that has a `plot:` section.
        #[arg(long, conflicts_with = "manifests")]
        all: bool,
        /// The same overrides as the `run` that wrote the results (they select the run ids).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Results directory to read.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Where figures and tables are written.
        #[arg(long, default_value = "plots")]
        plots: PathBuf,
    },
    /// One line per run (status and reason, iterations, train/test accuracy, objective,
    /// seconds, seconds to the target), read from the Parquet summaries; given a manifest,
    /// also the planned runs that are missing or failed.
    Show {
        /// A results folder (results/ or results/<experiment>/) or a manifest file.
        #[arg(value_name = "RESULTS_DIR_OR_MANIFEST")]
        target: PathBuf,
        /// The same overrides as the `run` (they select a manifest's run ids).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Where a manifest's results are (`run --out`).
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Keep runs that match (repeatable, all must match): KEY=VALUE exactly on a column,
        /// a plan field or any resolved key (`rank=20`), or TEXT at the start of a field.
        #[arg(long, value_name = "KEY=VALUE|TEXT")]
        only: Vec<String>,
        /// Sort by a column (numbers numerically; runs without a value last).
        #[arg(long, value_name = "KEY", value_parser = sort_key)]
        sort: Option<Column>,
        /// Sort descending.
        #[arg(long, requires = "sort")]
        reverse: bool,
        /// Output format: an aligned table, Markdown, or CSV / JSON with every run as a row.
        #[arg(long, default_value = "table", value_parser = format_name)]
        format: Format,
        /// One row per distinct value of these keys (a column such as method or seed, or a
        /// resolved key), every number as mean (min..max) over the group's ok runs.
        #[arg(long, value_name = "KEY[,KEY]", value_delimiter = ',')]
        group_by: Vec<String>,
    },
    /// Write a SLURM job-array script for a manifest (one array task per shard, every task
    /// running `admm-runner run MANIFEST --shard slurm --out DIR` into one shared results
    /// folder); with --now, hand it to sbatch. Resources: the manifest's `launcher:` section,
    /// overridden by these flags.
    Submit {
        /// Manifest file (.yaml, .yml or .toml).
        #[arg(value_name = "MANIFEST")]
        manifest: PathBuf,
        /// The scheduler (SLURM is the one supported).
        #[arg(long, required = true)]
        slurm: bool,
        /// Submit the script with sbatch right away.
        #[arg(long)]
        now: bool,
        /// Override a manifest key by dotted path (repeatable); passed on to every task.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Keep only the runs that match, as for `run` (repeatable); passed on to every task.
        #[arg(long, value_name = "KEY=VALUE|TEXT")]
        only: Vec<String>,
        /// The shared results folder; the script and the logs go to <out>/<experiment>/slurm/.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Array tasks (default: one per run).
        #[arg(long, value_name = "N")]
        shards: Option<usize>,
        /// Time limit per task (SLURM's format: 01:30:00, 2-00:00:00).
        #[arg(long)]
        time: Option<String>,
        /// CPUs per task (also the solver's threads).
        #[arg(long)]
        cpus: Option<usize>,
        /// Memory per task (16G).
        #[arg(long)]
        mem: Option<String>,
        #[arg(long)]
        partition: Option<String>,
        #[arg(long)]
        account: Option<String>,
        /// GPUs per task (for backend: cuda).
        #[arg(long)]
        gpus: Option<usize>,
        /// Replace a script an earlier submit wrote that differs from this one (the old
        /// script and manifest copy are kept, numbered).
        #[arg(long)]
        force: bool,
    },
    /// Predict with a saved model (<out>/<experiment>/models/<run-id>.safetensors): writes the
    /// network outputs (CSV, or .npy by the --out extension) and prints the accuracy.
    Predict {
        /// The model file.
        #[arg(value_name = "MODEL")]
        model: PathBuf,
        /// A manifest (its first run's data section: the test set), or X.npy [Y.npy] (features
        /// before standardization, labels +1/-1); none: the model's own test set.
        #[arg(value_name = "DATA")]
        data: Vec<PathBuf>,
        /// Where the outputs go: .csv (index,output,predicted,label) or .npy (outputs, f64).
        #[arg(long, default_value = "predictions.csv")]
        out: PathBuf,
        /// The backend to predict on (default: the one the model was trained on).
        #[arg(long, value_name = "flex|ndarray|cuda")]
        backend: Option<String>,
        /// Overrides for a DATA manifest, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print the expanded runs without running them, one line each.
    Plan {
        #[command(flatten)]
        select: Select,
        /// Print one run's whole resolved configuration (`key = value`, one per line) instead:
        /// the run id, or the start of one that names a single run.
        #[arg(long, value_name = "RUN_ID")]
        config: Option<String>,
        /// Also print each run's estimated peak memory and what the machine has (a run above
        /// it is refused as failed; README, "Memory").
        #[arg(long)]
        memory: bool,
    },
    /// Run a regression suite and compare it with committed baselines: final accuracies,
    /// objective, iterations to the target and a normalized timing; prints a table and exits
    /// 1 on a regression. --only also matches the baseline keys (e.g. cifar10/cg-).
    Regress {
        #[command(flatten)]
        select: Select,
        /// The baseline file (JSON).
        #[arg(long, value_name = "FILE")]
        baseline: PathBuf,
        /// Rewrite the baseline with this measurement (with --only or --shard: only those runs).
        #[arg(long)]
        update: bool,
        /// Timed repetitions of each run; the best counts.
        #[arg(long, default_value_t = 3, value_name = "K")]
        reps: usize,
        /// Flag a run whose normalized time grew by more than this factor.
        #[arg(long, default_value_t = 3.0, value_name = "X", value_parser = positive_number)]
        time_factor: f64,
        /// Flag the suite when the geometric mean of its runs' time factors exceeds this.
        #[arg(long, default_value_t = 1.5, value_name = "X", value_parser = positive_number)]
        suite_time_factor: f64,
    },
}

/// Which runs: manifests, overrides and filters.
#[derive(Debug, Args)]
pub struct Select {
    /// Manifest files (.yaml, .yml or .toml).
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Override a manifest key by dotted path (repeatable): --set solver.admm.rho=0.1
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Add a sweep axis (repeatable): --sweep solver.admm.rho=0.1,1,10 (the same as
    /// --set 'sweep.solver.admm.rho=[0.1,1,10]'; an axis the manifest has is replaced).
    #[arg(long = "sweep", value_name = "KEY=A,B,C")]
    pub sweep: Vec<String>,
    /// Keep only runs that match (repeatable, all must match): KEY=VALUE exactly on any
    /// resolved key or plan field (`--only solver.nys.rank=20`, `--only rank=20`,
    /// `--only seed=0`), or TEXT at the start of a plan field or its value (a run id's start
    /// such as `cg-flex-s0`, a solver name such as `nys`).
    #[arg(long, value_name = "KEY=VALUE|TEXT")]
    pub only: Vec<String>,
    /// Run every N-th run starting at K ("K/N"), or "slurm" to read
    /// SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "K/N|slurm")]
    pub shard: Option<String>,
}

impl Select {
    /// The `--set` overrides followed by the `--sweep` axes as `--set sweep.KEY=[...]`.
    pub fn overrides(&self) -> Result<Vec<String>, admm_runner::manifest::ManifestError> {
        let mut all = self.set.clone();
        for axis in &self.sweep {
            all.push(admm_runner::manifest::sweep_as_set(axis)?);
        }
        Ok(all)
    }
}

/// `--sort KEY`: a column of `show` by its header name.
/// A finite number above zero: NaN or infinity would remove the bound a flag sets on work
/// (`bench --gap nan` ran without limit), and zero or less bounds nothing.
fn positive_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(x) => Err(format!("{x} is not a finite number above 0")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

fn sort_key(text: &str) -> Result<Column, String> {
    Column::ALL
        .into_iter()
        .find(|c| c.name() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
            format!("unknown column (one of: {})", names.join(", "))
        })
}

/// `--format NAME`.
fn format_name(text: &str) -> Result<Format, String> {
    Format::ALL
        .into_iter()
        .find(|(_, name)| *name == text)
        .map(|(f, _)| f)
        .ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|(_, n)| *n).collect();
            format!("unknown format (one of: {})", names.join(", "))
        })
}
