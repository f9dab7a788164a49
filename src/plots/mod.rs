//! Figures and tables from the Parquet results only (never from a runner's memory), so that
//! they can be remade from results run on another machine or another day.
//!
//! `admm-runner plot MANIFEST...` plans each manifest (with the same `--set` overrides as the
//! `run` that produced the results), reads the planned runs' summaries and traces under
//! `<results>/<experiment>/`, and renders what its `plot:` section declares:
//!
//! - `curves`: train loss, train accuracy, test loss, test accuracy (Figures 1 and 3);
//! - `runtime`: stacked bars of the runtime split by phase (Figure 3, right);
//! - `condition`: condition numbers against Nystrom rank from `kappa.parquet` (Figure 2);
//! - `train-loss`: training loss alone, one line per solver and backend (Figure 4);
//! - `table`: seconds to the target train accuracy, split by phase (Table 1), as Markdown,
//!   CSV and LaTeX.
//!
//! Figures are PNG and SVG. Text uses DejaVu Sans, embedded in the binary and registered once,
//! so rendering needs no system fonts.
//!
//! This file holds the orchestration (what to load, which figure goes to which file) and the
//! errors; the pieces live beside it:
//!
//! - `data`: reading the results back, seed bands, time to target;
//! - `render`: the embedded font, the `Figure` trait, PNG/SVG and table files written
//!   atomically;
//! - `canvas`: drawing shared by the figures (text styles, title block, legend, notes footer);
//! - `labels`: names, colours and short texts (solver labels, the data setting line);
//! - `curves`, `runtime`, `condition`, `table`: one kind of output each.

mod betapath;
mod canvas;
mod condition;
mod curves;
pub mod data;
mod labels;
mod render;
mod runtime;
pub mod table;

use crate::manifest::{self, FigureKind, ManifestError, PlannedRun, PlotConfig, PlotX};
use crate::results::ResultsError;
use figment::value::Value;
use std::path::{Path, PathBuf};

pub use data::{time_to_target, Loaded, RunResult, TargetTime, Trace};
pub use render::{register_fonts, FONT};

/// Why a figure or table could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("{manifest}: declares no figures: add a `plot:` section (e.g. `plot: {{figures: [curves]}}`)")]
    NoPlotSection { manifest: PathBuf },
    #[error("{manifest}: no results for any of its {planned} runs in {dir}: run `{command}` first (with the same --set options, if any)")]
    Missing {
        manifest: PathBuf,
        dir: PathBuf,
        planned: usize,
        command: String,
    },
    #[error("{manifest}: no condition numbers at {file}: run `{command}` first (with the same --set options, if any)")]
    MissingKappa {
        manifest: PathBuf,
        file: PathBuf,
        command: String,
    },
    #[error("{manifest}: {figure}: nothing to draw: {reason}")]
    Empty {
        manifest: PathBuf,
        figure: FigureKind,
        reason: String,
    },
    #[error("{path}: cannot render: {reason}")]
    Render { path: PathBuf, reason: String },
    #[error("{path}: cannot write: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("the embedded font (DejaVu Sans) could not be registered")]
    Font,
}

/// What one manifest's plotting wrote, and what it had to leave out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlotReport {
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Where to read results and write figures.
#[derive(Debug, Clone)]
pub struct PlotOptions {
    /// The results directory that `run` wrote (`results`).
    pub results: PathBuf,
    /// Where figures and tables go (`plots`).
    pub plots: PathBuf,
}

/// The manifests under `dir` (`.yaml`, `.yml`, `.toml`) that declare a `plot:` section, sorted.
pub fn manifests_with_plots(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let entries = std::fs::read_dir(dir).map_err(|e| PlotError::Write {
        path: dir.to_path_buf(),
        reason: format!("cannot list manifests: {e}"),
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "yaml" | "yml" | "toml") || !path.is_file() {
            continue;
        }
        let (plot, _, _) = manifest::plot_plan(&path, &[])?;
        if plot.is_some() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Renders everything `manifest`'s `plot:` section declares. Runs without results are left out
/// with a warning; a manifest with no results at all, or a figure with nothing to draw, is an
/// error naming the manifest to run.
pub fn plot_manifest(
    manifest_path: &Path,
    overrides: &[(String, Value)],
    opts: &PlotOptions,
) -> Result<PlotReport, PlotError> {
    let (plot, experiment, runs) = manifest::plot_plan(manifest_path, overrides)?;
    let plot = plot.ok_or_else(|| PlotError::NoPlotSection {
        manifest: manifest_path.to_path_buf(),
    })?;
    let job = Job {
        manifest: manifest_path,
        dir: opts.results.join(&experiment),
        runs: &runs,
    };
    let mut report = PlotReport::default();
    let loaded = load_for(&job, &plot, opts, &mut report)?;
    let reference = match &plot.reference {
        None => None,
        Some(rel) => {
            let path = manifest_path.parent().unwrap_or(Path::new("")).join(rel);
            let (_, _, ref_runs) = manifest::plot_plan(&path, &[])?;
            let ref_loaded = data::load(&ref_runs, &opts.results)?;
            if ref_loaded.runs.is_empty() {
                report.warnings.push(format!(
                    "{}: plot.reference {} has no results: run `admm-runner run {}` for the suboptimality columns",
                    manifest_path.display(),
                    path.display(),
                    path.display()
                ));
            }
            Some((ref_runs, ref_loaded))
        }
    };
    let ctx = Context {
        experiment: experiment.clone(),
        plot: plot.clone(),
        setting: labels::setting_text(&runs),
        missing: loaded.missing.len(),
        reference,
    };
    std::fs::create_dir_all(&opts.plots).map_err(|e| PlotError::Write {
        path: opts.plots.clone(),
        reason: e.to_string(),
    })?;
    for (i, &kind) in plot.figures.iter().enumerate() {
        let stem = opts.plots.join(file_stem(&experiment, i, kind));
        report
            .files
            .extend(render_figure(&job, &ctx, &loaded, kind, &stem)?);
    }
    for note in loaded.failed_notes() {
        report
            .warnings
            .push(format!("{}: {note}", manifest_path.display()));
    }
    Ok(report)
}

/// The planned side of one `plot_manifest` call, passed whole to its steps so that each error
/// can name the manifest and the results directory it looked in.
struct Job<'a> {
    manifest: &'a Path,
    /// `<results>/<experiment>`.
    dir: PathBuf,
    runs: &'a [PlannedRun],
}

impl Job<'_> {
    /// The error for a figure with nothing to draw.
    fn empty(&self, figure: FigureKind, reason: String) -> PlotError {
        PlotError::Empty {
            manifest: self.manifest.to_path_buf(),
            figure,
            reason,
        }
    }
}

/// The planned runs' results, or nothing when only the condition figure is asked for (it reads
/// `kappa.parquet`, not the runs). No results at all is an error naming the command to run;
/// some missing is a warning in `report`, and the figures are drawn without them.
fn load_for(
    job: &Job,
    plot: &PlotConfig,
    opts: &PlotOptions,
    report: &mut PlotReport,
) -> Result<Loaded, PlotError> {
    let needs_runs = plot
        .figures
        .iter()
        .any(|f| !matches!(f, FigureKind::Condition | FigureKind::BetaPath));
    if !needs_runs {
        return Ok(Loaded::default());
    }
    let mut loaded = data::load(job.runs, &opts.results)?;
    let keys = data::grouping_keys(job.runs, plot.group_by.as_deref()).map_err(|reason| {
        ManifestError::Invalid {
            path: job.manifest.to_path_buf(),
            key: "plot.group_by".into(),
            reason,
        }
    })?;
    loaded.label_settings(job.runs, &keys);
    if loaded.runs.is_empty() {
        return Err(PlotError::Missing {
            manifest: job.manifest.to_path_buf(),
            dir: job.dir.clone(),
            planned: job.runs.len(),
            command: format!("admm-runner run {}", job.manifest.display()),
        });
    }
    if let Some(first) = loaded.lost_traces.first() {
        report.warnings.push(format!(
            "{}: {} finished run(s) have no trace (first: {first}); drawn without their curves; \
             run `admm-runner run {} --force` to compute them again",
            job.manifest.display(),
            loaded.lost_traces.len(),
            job.manifest.display()
        ));
    }
    if !loaded.missing.is_empty() {
        report.warnings.push(format!(
            "{}: {} of {} runs have no results in {} (first: {}); drawn without them; run `admm-runner run {}` to complete",
            job.manifest.display(),
            loaded.missing.len(),
            job.runs.len(),
            job.dir.display(),
            loaded.missing[0],
            job.manifest.display()
        ));
    }
    Ok(loaded)
}

/// The file name (without extension) of the `i`-th figure: the first takes the experiment's
/// name, so the main figure is easy to find; the others add their kind.
fn file_stem(experiment: &str, i: usize, kind: FigureKind) -> String {
    if i == 0 {
        experiment.to_string()
    } else {
        format!("{experiment}-{kind}")
    }
}

/// Renders one figure or table to `<stem>.*`, turning a renderer's "nothing to draw" into an
/// error that names the manifest and the figure.
fn render_figure(
    job: &Job,
    ctx: &Context,
    loaded: &Loaded,
    kind: FigureKind,
    stem: &Path,
) -> Result<Vec<PathBuf>, PlotError> {
    let result = match kind {
        FigureKind::Curves => curves::render(ctx, loaded, stem, curves::Panels::Four),
        FigureKind::TrainLoss => curves::render(ctx, loaded, stem, curves::Panels::TrainLoss),
        FigureKind::Runtime => runtime::render(ctx, loaded, stem),
        FigureKind::Condition => condition::render(ctx, &kappa_file(job)?, stem),
        FigureKind::Table => table::render(ctx, loaded, job.runs, stem),
        FigureKind::BetaPath => betapath::render(ctx, &path_tables(job, opts_results(job))?, stem),
    };
    result.map_err(|e| e.or_empty(|reason| job.empty(kind, reason)))
}

/// The results directory a job reads (`<results>/<experiment>` is `job.dir`).
fn opts_results<'a>(job: &'a Job<'_>) -> &'a Path {
    job.dir.parent().unwrap_or(Path::new("."))
}

/// The path tables of the manifest's `beta_path:` runs (warm-started first), or an error
/// naming the command that writes them.
fn path_tables(
    job: &Job,
    results: &Path,
) -> Result<Vec<(String, Vec<crate::results::PathRow>)>, PlotError> {
    let mut tables = Vec::new();
    for run in job.runs {
        let Some(spec) = &run.beta_path else { continue };
        for warm in [true, false] {
            let id = crate::run::path::path_id(run, spec, warm);
            let file = crate::run::path::table_path(results, run, &id);
            if file.is_file() {
                tables.push((id, crate::results::schema::read_path(&file)?));
            }
        }
    }
    if tables.is_empty() {
        return Err(PlotError::Missing {
            manifest: job.manifest.to_path_buf(),
            dir: job.dir.join("paths"),
            planned: job.runs.len(),
            command: format!("admm-runner run {}", job.manifest.display()),
        });
    }
    Ok(tables)
}

/// `<results>/<experiment>/kappa.parquet`, or an error naming `admm-runner condition`, which
/// writes it (the condition figure's data is not part of a `run`).
fn kappa_file(job: &Job) -> Result<PathBuf, PlotError> {
    let kappa = job.dir.join("kappa.parquet");
    if !kappa.is_file() {
        return Err(PlotError::MissingKappa {
            manifest: job.manifest.to_path_buf(),
            file: kappa,
            command: format!("admm-runner condition {}", job.manifest.display()),
        });
    }
    Ok(kappa)
}

/// What every figure of one manifest shares.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub experiment: String,
    pub plot: PlotConfig,
    /// "CIFAR-10 0 vs 1, n=1000, d=100, P=10" (from the planned runs' configurations).
    pub setting: String,
    /// Planned runs without results.
    pub missing: usize,
    /// `plot.reference`'s planned runs and their results (tables' reference objectives).
    pub reference: Option<(Vec<PlannedRun>, Loaded)>,
}

impl Context {
    /// The title: the manifest's, or the experiment and setting.
    pub fn title(&self, what: &str) -> String {
        match &self.plot.title {
            Some(t) => t.clone(),
            None => format!("{}: {what}", self.experiment),
        }
    }

    pub fn x(&self) -> PlotX {
        self.plot.x
    }
}

/// A figure-level failure inside a renderer: no data, or a backend/file error.
#[derive(Debug)]
pub(crate) enum FigError {
    Empty(String),
    Plot(PlotError),
}

impl FigError {
    fn or_empty(self, empty: impl FnOnce(String) -> PlotError) -> PlotError {
        match self {
            FigError::Empty(reason) => empty(reason),
            FigError::Plot(e) => e,
        }
    }
}

impl From<PlotError> for FigError {
    fn from(e: PlotError) -> Self {
        FigError::Plot(e)
    }
}

impl From<ResultsError> for FigError {
    fn from(e: ResultsError) -> Self {
        FigError::Plot(PlotError::Results(e))
    }
}
