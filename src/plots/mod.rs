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

mod condition;
mod curves;
pub mod data;
mod runtime;
pub mod table;

use crate::manifest::{self, FigureKind, ManifestError, PlotConfig, PlotX};
use crate::results::ResultsError;
use figment::value::Value;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use data::{time_to_target, Loaded, RunResult, TargetTime, Trace};

/// The font family name the embedded font is registered under (and SVG text asks for).
pub const FONT: &str = "sans-serif";

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
    let dir = opts.results.join(&experiment);
    let mut report = PlotReport::default();
    let needs_runs = plot.figures.iter().any(|f| *f != FigureKind::Condition);
    let loaded = if needs_runs {
        let loaded = data::load(&runs, &opts.results)?;
        if loaded.runs.is_empty() {
            return Err(PlotError::Missing {
                manifest: manifest_path.to_path_buf(),
                dir,
                planned: runs.len(),
                command: format!("admm-runner run {}", manifest_path.display()),
            });
        }
        if !loaded.missing.is_empty() {
            report.warnings.push(format!(
                "{}: {} of {} runs have no results in {} (first: {}); drawn without them; run `admm-runner run {}` to complete",
                manifest_path.display(),
                loaded.missing.len(),
                runs.len(),
                dir.display(),
                loaded.missing[0],
                manifest_path.display()
            ));
        }
        loaded
    } else {
        Loaded::default()
    };
    let ctx = Context {
        experiment: experiment.clone(),
        plot: plot.clone(),
        setting: setting_text(&runs),
        missing: loaded.missing.len(),
    };
    std::fs::create_dir_all(&opts.plots).map_err(|e| PlotError::Write {
        path: opts.plots.clone(),
        reason: e.to_string(),
    })?;
    for (i, &kind) in plot.figures.iter().enumerate() {
        let stem = if i == 0 {
            experiment.clone()
        } else {
            format!("{experiment}-{kind}")
        };
        let stem = opts.plots.join(stem);
        let empty = |reason: String| PlotError::Empty {
            manifest: manifest_path.to_path_buf(),
            figure: kind,
            reason,
        };
        let files = match kind {
            FigureKind::Curves => curves::render(&ctx, &loaded, &stem, curves::Panels::Four)
                .map_err(|e| e.or_empty(empty))?,
            FigureKind::TrainLoss => {
                curves::render(&ctx, &loaded, &stem, curves::Panels::TrainLoss)
                    .map_err(|e| e.or_empty(empty))?
            }
            FigureKind::Runtime => {
                runtime::render(&ctx, &loaded, &stem).map_err(|e| e.or_empty(empty))?
            }
            FigureKind::Condition => {
                let kappa = dir.join("kappa.parquet");
                if !kappa.is_file() {
                    return Err(PlotError::MissingKappa {
                        manifest: manifest_path.to_path_buf(),
                        file: kappa,
                        command: format!("admm-runner condition {}", manifest_path.display()),
                    });
                }
                condition::render(&ctx, &kappa, &stem).map_err(|e| e.or_empty(empty))?
            }
            FigureKind::Table => {
                table::render(&ctx, &loaded, &runs, &stem).map_err(|e| e.or_empty(empty))?
            }
        };
        report.files.extend(files);
    }
    for note in loaded.failed_notes() {
        report
            .warnings
            .push(format!("{}: {note}", manifest_path.display()));
    }
    Ok(report)
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

/// The data setting of a manifest's runs, e.g. "CIFAR-10 classes 0/1, n=1000, d=100, P=10".
fn setting_text(runs: &[crate::manifest::PlannedRun]) -> String {
    use crate::data::DataSource;
    let Some(first) = runs.first() else {
        return String::new();
    };
    let c = &first.config;
    let source = match c.data.source {
        DataSource::Cifar10 => format!(
            "CIFAR-10 classes {}/{}",
            c.data.classes[0], c.data.classes[1]
        ),
        DataSource::Synthetic => "synthetic teacher".to_string(),
        DataSource::Npy => "npy data".to_string(),
    };
    let distinct = |f: &dyn Fn(&crate::manifest::PlannedRun) -> String| {
        let mut v: Vec<String> = runs.iter().map(f).collect();
        v.dedup();
        let mut seen = Vec::new();
        for x in v {
            if !seen.contains(&x) {
                seen.push(x);
            }
        }
        seen.join("/")
    };
    let d = distinct(&|r| match r.config.data.source {
        DataSource::Synthetic => r.config.data.dim.to_string(),
        DataSource::Cifar10 => r.config.data.downsample.unwrap_or(3072).to_string(),
        DataSource::Npy => "npy".to_string(),
    });
    format!(
        "{source}, n={}, d={d}, P={}, backend {}",
        distinct(&|r| r.config.data.n_train.to_string()),
        distinct(&|r| r.config.problem.patterns.to_string()),
        distinct(&|r| r.config.backend.to_string()),
    )
}

// ---------------------------------------------------------------------------------------------
// Rendering helpers shared by the figures.

/// Registers the embedded DejaVu Sans (regular and bold) once per process.
pub fn register_fonts() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// A figure that can draw itself on any plotters backend (PNG buffer or SVG string).
pub(crate) trait Figure {
    /// The size in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Renders `fig` to `<stem>.png` and `<stem>.svg`, each written atomically.
pub(crate) fn save(fig: &impl Figure, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    register_fonts()?;
    let (w, h) = fig.size();
    let png = with_ext(stem, "png");
    let svg = with_ext(stem, "svg");
    let render = |path: &Path, reason: String| PlotError::Render {
        path: path.to_path_buf(),
        reason,
    };
    let mut pixels = vec![255u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        fig.draw(&root).map_err(|e| render(&png, e))?;
        root.present().map_err(|e| render(&png, e.to_string()))?;
    }
    write_atomic(&png, |file| encode_png(file, &pixels, w, h))?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (w, h)).into_drawing_area();
        fig.draw(&root).map_err(|e| render(&svg, e))?;
        root.present().map_err(|e| render(&svg, e.to_string()))?;
    }
    write_atomic(&svg, |file| {
        use std::io::Write;
        file.write_all(text.as_bytes()).map_err(|e| e.to_string())
    })?;
    Ok(vec![png, svg])
}

/// `<stem>.<ext>` (experiment names may contain dots, so not `with_extension`).
pub(crate) fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn encode_png(file: &mut std::fs::File, rgb: &[u8], w: u32, h: u32) -> Result<(), String> {
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

/// Writes `path` atomically (`results::write_atomically`), errors as `PlotError::Write`.
pub(crate) fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> Result<(), String>,
) -> Result<(), PlotError> {
    crate::results::write_atomically(path, fill).map_err(|e| PlotError::Write {
        path: path.to_path_buf(),
        reason: e.reason,
    })
}

/// Text sizes in pixels, chosen to stay readable when a figure is shown at half size.
pub(crate) mod sizes {
    pub const TITLE: u32 = 36;
    pub const SUBTITLE: u32 = 25;
    pub const PANEL: u32 = 30;
    pub const AXIS: u32 = 26;
    pub const TICK: u32 = 22;
    pub const LEGEND: u32 = 25;
    pub const NOTE: u32 = 21;
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&BLACK)
}

pub(crate) fn bold(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size, FontStyle::Bold).into_font()).color(&BLACK)
}

/// The figure note for a run that is not drawn: which line, which seed, and why (`default`
/// where the run recorded no reason).
pub(crate) fn not_shown(label: &str, run: &data::RunResult, default: &str) -> String {
    let why = run.reason.as_deref().unwrap_or(default);
    format!("not shown: {label}, seed {}: {}", run.seed, short(why, 90))
}

/// Clears the figure to white and draws its title and subtitle, centred; returns the y below
/// them, where the figure's body starts.
pub(crate) fn title_block<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<i32, String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let lines = [
        (title.to_string(), bold(sizes::TITLE)),
        (subtitle.to_string(), font(sizes::SUBTITLE)),
    ];
    Ok(centered_lines(root, &lines, 16)? + 8)
}

/// Draws centred lines of text from `y` down; returns the y below the last line.
pub(crate) fn centered_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[(String, TextStyle<'static>)],
    mut y: i32,
) -> Result<i32, String> {
    let (w, _) = area.dim_in_pixel();
    for (text, style) in lines {
        if text.is_empty() {
            continue;
        }
        let size = style.font.get_size() as i32;
        let st = style.pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(text.clone(), (w as i32 / 2, y), st))
            .map_err(|e| e.to_string())?;
        y += size + size / 3;
    }
    Ok(y)
}

/// One legend entry: a line (or a filled box) and its label.
#[derive(Debug, Clone)]
pub(crate) struct LegendItem {
    pub label: String,
    pub color: RGBColor,
    pub boxed: bool,
    pub dashed: bool,
}

/// A centred row (or rows) of legend entries starting at pixel row `y`; returns the y below.
pub(crate) fn legend_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
    y: i32,
) -> Result<i32, String> {
    let style = font(sizes::LEGEND);
    let (w, _) = area.dim_in_pixel();
    let swatch = 44;
    let gap = 34;
    let widths: Vec<i32> = items
        .iter()
        .map(|it| {
            let (tw, _) = area
                .estimate_text_size(&it.label, &style)
                .unwrap_or((200, 20));
            swatch + 10 + tw as i32
        })
        .collect();
    // Greedy line breaking.
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, &iw) in widths.iter().enumerate() {
        let need = if used == 0 { iw } else { used + gap + iw };
        if need > w as i32 - 40 && used > 0 {
            rows.push(vec![i]);
            used = iw;
        } else {
            if let Some(r) = rows.last_mut() {
                r.push(i);
            }
            used = need;
        }
    }
    let line_h = sizes::LEGEND as i32 + 14;
    let mut y = y;
    for row in rows {
        let total: i32 = row.iter().map(|&i| widths[i]).sum::<i32>() + gap * (row.len() as i32 - 1);
        let mut x = (w as i32 - total) / 2;
        for &i in &row {
            let it = &items[i];
            let mid = y + line_h / 2;
            if it.boxed {
                area.draw(&Rectangle::new(
                    [(x, mid - 11), (x + swatch, mid + 11)],
                    it.color.filled(),
                ))
                .map_err(|e| e.to_string())?;
            } else if it.dashed {
                for k in 0..3 {
                    let x0 = x + k * 16;
                    area.draw(&PathElement::new(
                        vec![(x0, mid), (x0 + 10, mid)],
                        it.color.stroke_width(4),
                    ))
                    .map_err(|e| e.to_string())?;
                }
            } else {
                area.draw(&PathElement::new(
                    vec![(x, mid), (x + swatch, mid)],
                    it.color.stroke_width(4),
                ))
                .map_err(|e| e.to_string())?;
            }
            area.draw(&Text::new(
                it.label.clone(),
                (x + swatch + 10, mid),
                style.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(|e| e.to_string())?;
            x += widths[i] + gap;
        }
        y += line_h;
    }
    Ok(y)
}

/// Fixed colours per solver (and per backend), so a method keeps its colour across figures.
pub(crate) fn solver_color(solver: &str) -> Option<RGBColor> {
    Some(match solver {
        "cg" => RGBColor(0x4C, 0x72, 0xB0),
        "diag-pcg" => RGBColor(0x55, 0xA8, 0x68),
        "nys-pcg" => RGBColor(0xC4, 0x4E, 0x52),
        "rbcd" => RGBColor(0x81, 0x72, 0xB3),
        "bj-pcg" => RGBColor(0xDD, 0x84, 0x52),
        "adam" => RGBColor(0xCC, 0xB9, 0x74),
        "exact" => RGBColor(0x40, 0x40, 0x40),
        _ => return None,
    })
}

pub(crate) fn backend_color(backend: &str) -> Option<RGBColor> {
    Some(match backend {
        "flex" => RGBColor(0x4C, 0x72, 0xB0),
        "ndarray" => RGBColor(0xDD, 0x84, 0x52),
        "cuda" => RGBColor(0x55, 0xA8, 0x68),
        _ => return None,
    })
}

/// A palette for anything else.
pub(crate) fn palette(i: usize) -> RGBColor {
    const P: [RGBColor; 8] = [
        RGBColor(0x4C, 0x72, 0xB0),
        RGBColor(0xDD, 0x84, 0x52),
        RGBColor(0x55, 0xA8, 0x68),
        RGBColor(0xC4, 0x4E, 0x52),
        RGBColor(0x81, 0x72, 0xB3),
        RGBColor(0x93, 0x78, 0x60),
        RGBColor(0xDA, 0x8B, 0xC3),
        RGBColor(0x8C, 0x8C, 0x8C),
    ];
    P[i % P.len()]
}

/// The paper's names: ADMM-CG, ADMM-diagPCG, ADMM-nysPCG, ADMM-RBCD, and Adam (non-convex).
pub fn solver_label(solver: &str) -> String {
    match solver {
        "exact" => "ADMM-exact".into(),
        "cg" => "ADMM-CG".into(),
        "diag-pcg" => "ADMM-diagPCG".into(),
        "nys-pcg" => "ADMM-nysPCG".into(),
        "rbcd" => "ADMM-RBCD".into(),
        "bj-pcg" => "ADMM-bjPCG".into(),
        "adam" => "Adam (non-convex)".into(),
        other => other.into(),
    }
}

/// Shortens a failure reason for a figure note or a table cell.
pub(crate) fn short(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    }
}

/// An axis range around `lo..hi` with 5% padding (a flat range gets a small one).
pub(crate) fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let d = (hi.abs() * 0.05).max(0.05);
        return (lo - d, hi + d);
    }
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// The legend's height once laid out in rows across the figure.
pub(crate) fn legend_height<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
) -> i32 {
    let style = font(sizes::LEGEND);
    let (w, _) = root.dim_in_pixel();
    let mut rows = 1;
    let mut used = 0;
    for it in items {
        let (tw, _) = root
            .estimate_text_size(&it.label, &style)
            .unwrap_or((200, 20));
        let iw = 54 + tw as i32;
        let need = if used == 0 { iw } else { used + 34 + iw };
        if need > w as i32 - 40 && used > 0 {
            rows += 1;
            used = iw;
        } else {
            used = need;
        }
    }
    rows * (sizes::LEGEND as i32 + 14)
}

/// Notes word-wrapped to the figure's width.
fn wrapped_notes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    notes: &[String],
) -> Vec<String> {
    let style = font(sizes::NOTE);
    let (w, _) = root.dim_in_pixel();
    let max = w as i32 - 48;
    let fits = |t: &str| {
        root.estimate_text_size(t, &style)
            .map(|(tw, _)| tw as i32 <= max)
            .unwrap_or(true)
    };
    let mut lines = Vec::new();
    for note in notes {
        let mut line = String::new();
        for word in note.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if fits(&candidate) || line.is_empty() {
                line = candidate;
            } else {
                lines.push(std::mem::take(&mut line));
                line = format!("  {word}");
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// The height of the footer: the legend, then the wrapped notes.
pub(crate) fn footer_height<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    legend: &[LegendItem],
    notes: &[String],
) -> i32 {
    legend_height(root, legend)
        + wrapped_notes(root, notes).len() as i32 * (sizes::NOTE as i32 + 8)
        + 16
}

/// Draws the legend and the notes at the bottom of the figure.
pub(crate) fn draw_footer<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    legend: &[LegendItem],
    notes: &[String],
) -> Result<(), String> {
    let (_, h) = root.dim_in_pixel();
    let mut y = h as i32 - footer_height(root, legend, notes) + 6;
    y = legend_row(root, legend, y)?;
    for line in wrapped_notes(root, notes) {
        root.draw(&Text::new(
            line,
            (24, y),
            font(sizes::NOTE).color(&RGBColor(80, 80, 80)),
        ))
        .map_err(|e| e.to_string())?;
        y += sizes::NOTE as i32 + 8;
    }
    Ok(())
}

/// Seconds with three significant digits (0.00731, 0.213, 12.4, 186).
pub(crate) fn secs(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}
