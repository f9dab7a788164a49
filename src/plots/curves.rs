//! Curve figures: the four panels of Figures 1 and 3 (train loss, train accuracy, test loss,
//! test accuracy) and Figure 4's training loss, one line per solver, backend, loss and setting
//! of the grouping keys (`plot.group_by`), the mean over seeds only with a min-max band,
//! against iteration or solver seconds. On an iteration axis Adam's epochs get an axis of their
//! own (on top) when ADMM runs share the figure, so that neither is squeezed into a corner of
//! the other's range; each loss gets its own loss panel, since the squared loss and
//! cross-entropy are not on one scale.

use super::canvas::{
    bold, draw_footer, font, footer_height, padded, sizes, title_block, LegendItem,
};
use super::data::{band, Band, Loaded, Metric, RunResult, Trace};
use super::labels::{backend_color, group_label, not_shown, palette, solver_color};
use super::render::{save, Figure};
use super::{Context, FigError};
use crate::manifest::{PlotX, SolverKind};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Which panels to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Panels {
    /// Train loss, train accuracy, test loss, test accuracy.
    Four,
    /// Training loss alone.
    TrainLoss,
}

/// One line: a (solver, backend) group of seeds.
#[derive(Debug, Clone)]
struct Line {
    label: String,
    color: RGBColor,
    /// Adam's line: its x is epochs, drawn against the top axis when ADMM lines are present.
    adam: bool,
    loss: admm_engine::loss::Loss,
    /// One band per metric of the figure, in panel order.
    bands: Vec<Band>,
}

struct CurveFigure {
    panels: Panels,
    title: String,
    subtitle: String,
    x: PlotX,
    has_adam: bool,
    /// The losses of the lines, in first-seen order: one loss panel each.
    losses: Vec<admm_engine::loss::Loss>,
    /// On an iteration axis with both Adam and ADMM lines: ADMM's last iteration over Adam's
    /// last epoch, by which Adam's x was scaled to span the same width (the top axis reads
    /// epochs back).
    adam_scale: Option<f64>,
    lines: Vec<Line>,
    notes: Vec<String>,
}

const FOUR: [(Metric, &str, &str); 4] = [
    (
        Metric::TrainLoss,
        "(a) Train loss",
        "loss  (1/2n) ||ŷ − y||²",
    ),
    (Metric::TrainAcc, "(b) Train accuracy", "accuracy"),
    (Metric::TestLoss, "(c) Test loss", "loss  (1/2n) ||ŷ − y||²"),
    (Metric::TestAcc, "(d) Test accuracy", "accuracy"),
];

const ONE: [(Metric, &str, &str); 1] = [(Metric::TrainLoss, "", "train loss  (1/2n) ||ŷ − y||²")];

/// The metrics of `panels`, each with its panel title and y label, in panel order.
fn metrics(panels: Panels) -> &'static [(Metric, &'static str, &'static str)] {
    match panels {
        Panels::Four => &FOUR,
        Panels::TrainLoss => &ONE,
    }
}

impl CurveFigure {
    fn metrics(&self) -> &'static [(Metric, &'static str, &'static str)] {
        metrics(self.panels)
    }

    fn x_label(&self) -> String {
        match self.x {
            PlotX::Iter if self.has_adam && self.adam_scale.is_none() => {
                "ADMM iteration  (Adam: epoch)".into()
            }
            PlotX::Iter => "ADMM iteration".into(),
            PlotX::Seconds => "solver time (s), metric evaluation excluded".into(),
        }
    }

    fn legend(&self) -> Vec<LegendItem> {
        self.lines
            .iter()
            .map(|l| LegendItem {
                label: l.label.clone(),
                color: l.color,
                boxed: false,
                dashed: false,
            })
            .collect()
    }
}

pub(crate) fn render(
    ctx: &Context,
    loaded: &Loaded,
    stem: &Path,
    panels: Panels,
) -> Result<Vec<PathBuf>, FigError> {
    let solvers = loaded.distinct(|r| r.solver.to_string());
    let backends = loaded.distinct(|r| r.backend.clone());
    let losses = loaded.distinct(|r| r.loss.name().to_string());
    let groups = loaded.loss_groups();
    let settings = loaded.distinct(|r| r.setting.clone());
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    let mut max_seeds = 0;
    for (i, g) in groups.iter().enumerate() {
        let (solver, backend, loss, setting) = (g.0, g.1.as_str(), g.2, g.3.as_str());
        let mut label = group_label(solver, backend, solvers.len() > 1, backends.len() > 1);
        if losses.len() > 1 {
            label = format!("{label}, {}", loss.name());
        }
        if settings.len() > 1 {
            label = format!("{label}, {setting}");
        }
        let group = (solver, backend, loss, setting);
        let Some(usable) = usable_runs(loaded, group, &label, &mut notes) else {
            continue;
        };
        max_seeds = max_seeds.max(usable.len());
        // Lines of one method that differ in a setting need colours of their own.
        let color = if settings.len() > 1 {
            Some(palette(i))
        } else if solvers.len() > 1 {
            Some(solver_color(solver))
        } else {
            backend_color(backend)
        }
        .unwrap_or_else(|| palette(i));
        // The second and later losses in a lighter shade of the method's colour.
        let shade = losses.iter().position(|l| l == loss.name()).unwrap_or(0);
        let color = if shade == 0 {
            color
        } else {
            let mix = |c: u8| c + ((255 - c) as f64 * 0.5) as u8;
            RGBColor(mix(color.0), mix(color.1), mix(color.2))
        };
        let traces: Vec<&Trace> = usable.iter().filter_map(|r| r.trace.as_ref()).collect();
        match line(&traces, label, color, panels, ctx.x()) {
            Ok(mut l) => {
                l.adam = solver == SolverKind::Adam;
                l.loss = loss;
                lines.push(l);
            }
            Err(note) => notes.push(note),
        }
    }
    if lines.is_empty() {
        return Err(FigError::Empty(format!(
            "none of its {} runs with results has a usable trace ({})",
            loaded.runs.len(),
            notes.join("; ")
        )));
    }
    if ctx.missing > 0 {
        notes.push(format!(
            "{} planned run(s) have no results yet and are not shown",
            ctx.missing
        ));
    }
    let adam_scale = match ctx.x() {
        PlotX::Iter => own_epoch_axis(&mut lines),
        PlotX::Seconds => None,
    };
    let mut losses = Vec::new();
    for l in &lines {
        if !losses.contains(&l.loss) {
            losses.push(l.loss);
        }
    }
    let fig = CurveFigure {
        panels,
        title: ctx.title(match panels {
            Panels::Four => "training curves by solver",
            Panels::TrainLoss => "training loss",
        }),
        subtitle: subtitle(ctx, max_seeds),
        x: ctx.x(),
        has_adam: groups.iter().any(|g| g.0 == SolverKind::Adam),
        losses,
        adam_scale,
        lines,
        notes,
    };
    Ok(save(&fig, stem)?)
}

/// With Adam and ADMM lines on an iteration axis, scales Adam's epochs to span ADMM's
/// iterations (200 epochs beside 40 iterations would squeeze ADMM into a fifth of the axis);
/// returns the scale, for the top axis that reads epochs. None when only one kind is drawn.
fn own_epoch_axis(lines: &mut [Line]) -> Option<f64> {
    let last = |adam: bool, lines: &[Line]| {
        lines
            .iter()
            .filter(|l| l.adam == adam)
            .flat_map(|l| l.bands.iter().flat_map(|b| b.x.iter().copied()))
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let (admm, adam) = (last(false, lines), last(true, lines));
    if !(admm.is_finite() && adam.is_finite() && admm > 0.0 && adam > 0.0) {
        return None;
    }
    let scale = admm / adam;
    for l in lines.iter_mut().filter(|l| l.adam) {
        for b in &mut l.bands {
            b.x.iter_mut().for_each(|x| *x *= scale);
        }
    }
    Some(scale)
}

/// The y label of a loss panel: the squared loss's formula, or the loss named.
fn loss_label(loss: admm_engine::loss::Loss) -> String {
    match loss {
        admm_engine::loss::Loss::Squared => "squared loss  (1/2n) ||ŷ − y||²".into(),
        other => format!("{} loss per example", other.name()),
    }
}

/// The runs of one (solver, backend, loss, setting) group that can be drawn: finished runs, and runs stopped
/// by their time limit (their trace is valid so far), each with a non-empty trace. The others
/// get a "not shown" note, and time-limited runs a note that they stop early, so that nothing
/// is left out silently. `None` when no run is usable.
fn usable_runs<'a>(
    loaded: &'a Loaded,
    (solver, backend, loss, setting): (SolverKind, &str, admm_engine::loss::Loss, &str),
    label: &str,
    notes: &mut Vec<String>,
) -> Option<Vec<&'a RunResult>> {
    let runs: Vec<&RunResult> = loaded
        .runs
        .iter()
        .filter(|r| r.solver == solver && r.backend == backend && r.loss == loss)
        .filter(|r| r.setting == setting)
        .collect();
    let usable: Vec<&RunResult> = runs
        .iter()
        .copied()
        .filter(|r| r.ok() || r.time_limited())
        .filter(|r| r.trace.as_ref().is_some_and(|t| !t.is_empty()))
        .collect();
    for r in runs.iter().filter(|r| !usable.iter().any(|u| u.id == r.id)) {
        notes.push(not_shown(label, r, "no trace"));
    }
    if usable.is_empty() {
        return None;
    }
    let limited = usable.iter().filter(|r| !r.ok()).count();
    if limited > 0 {
        notes.push(format!(
            "{label}: {limited} run(s) stopped at their time limit, drawn up to it"
        ));
    }
    Some(usable)
}

/// One group's line: the seed band of each of the figure's metrics. A group whose traces hold
/// no finite value at all is not drawn; the error is the note that says so.
fn line(
    traces: &[&Trace],
    label: String,
    color: RGBColor,
    panels: Panels,
    x: PlotX,
) -> Result<Line, String> {
    let bands: Vec<Band> = metrics(panels)
        .iter()
        .map(|(m, _, _)| band(traces, *m, x))
        .collect();
    if bands.iter().all(Band::is_empty) {
        return Err(format!(
            "not shown: {label}: no finite values in its traces"
        ));
    }
    Ok(Line {
        label,
        color,
        adam: false,
        loss: admm_engine::loss::Loss::Squared,
        bands,
    })
}

/// The subtitle: the experiment, its data setting, and what a line and its band are.
fn subtitle(ctx: &Context, max_seeds: usize) -> String {
    let seeds = if max_seeds > 1 {
        format!("line: mean over {max_seeds} seeds, band: min-max")
    } else {
        "one seed per line".to_string()
    };
    format!("{}: {}; {seeds}", ctx.experiment, ctx.setting)
}

impl Figure for CurveFigure {
    fn size(&self) -> (u32, u32) {
        match self.panels {
            Panels::Four => (1800, 1400),
            Panels::TrainLoss => (1400, 950),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let header = title_block(root, &self.title, &self.subtitle)?;
        let legend = self.legend();
        let footer = footer_height(root, &legend, &self.notes);
        let body = root.margin(header as u32, footer as u32, 0, 0);
        let areas = match self.panels {
            Panels::Four => body.split_evenly((2, 2)),
            Panels::TrainLoss => vec![body.clone()],
        };
        for (k, area) in areas.iter().enumerate() {
            let (metric, title, ylabel) = self.metrics()[k];
            let is_loss = matches!(metric, Metric::TrainLoss | Metric::TestLoss);
            // A loss panel per loss: each on its own scale, named by its loss.
            let parts: Vec<(Option<admm_engine::loss::Loss>, String, String)> = if is_loss {
                let several = self.losses.len() > 1;
                self.losses
                    .iter()
                    .map(|&loss| {
                        let t = match (several, title.is_empty()) {
                            (true, false) => format!("{title}: {}", loss.name()),
                            _ => title.to_string(),
                        };
                        (Some(loss), t, loss_label(loss))
                    })
                    .collect()
            } else {
                vec![(None, title.to_string(), ylabel.to_string())]
            };
            let subareas = area.split_evenly((1, parts.len().max(1)));
            for ((loss, title, ylabel), sub) in parts.iter().zip(&subareas) {
                let lines: Vec<(&Line, &Band)> = self
                    .lines
                    .iter()
                    .filter(|l| loss.is_none_or(|x| l.loss == x))
                    .map(|l| (l, &l.bands[k]))
                    .filter(|(_, b)| !b.is_empty())
                    .collect();
                let axes = Axes {
                    x: self.x,
                    xlabel: self.x_label(),
                    ylabel: ylabel.clone(),
                    adam_scale: self.adam_scale,
                };
                panel(sub, title, &axes, &lines)?;
            }
        }
        draw_footer(root, &legend, &self.notes)
    }
}

/// What a panel's axes show: the x kind and labels, and the epoch scale of a top Adam axis.
struct Axes {
    x: PlotX,
    xlabel: String,
    ylabel: String,
    adam_scale: Option<f64>,
}

/// A chart on f64 axes, as every curve panel has.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One panel: bands first (so lines stay on top), then lines with markers; Adam's epochs on a
/// top axis of their own when the panel also has ADMM lines.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    axes: &Axes,
    lines: &[(&Line, &Band)],
) -> Result<(), String> {
    let (xs, ys) = panel_ranges(axes.x, lines);
    let both = lines.iter().any(|(l, _)| l.adam) && lines.iter().any(|(l, _)| !l.adam);
    let epochs = axes.adam_scale.filter(|_| both);
    // With an epoch axis the title is drawn first and the chart below it, with room for the
    // epoch ticks and their label between (a chart's own caption sits inside its margin,
    // where the ticks go; a second label area would repeat the iteration ticks there too).
    let titled;
    let area = match epochs {
        Some(_) if !title.is_empty() => {
            titled = area
                .titled(title, bold(sizes::PANEL))
                .map_err(|e| e.to_string())?;
            &titled
        }
        _ => area,
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(14)
        .margin_right(34)
        .x_label_area_size(74)
        .y_label_area_size(120);
    if epochs.is_some() {
        builder.margin_top(2 * sizes::AXIS as i32 + 24);
    } else if !title.is_empty() {
        builder.caption(title, bold(sizes::PANEL));
    }
    let mut chart = builder
        .build_cartesian_2d(xs.clone(), ys.clone())
        .map_err(|e| e.to_string())?;
    let xlabel = match epochs {
        Some(_) => "ADMM iteration",
        None => axes.xlabel.as_str(),
    };
    draw_mesh(&mut chart, xlabel, &axes.ylabel, axes.x)?;
    if let Some(scale) = epochs {
        epoch_axis(&mut chart, scale, &xs, ys.end)?;
    }
    draw_bands(&mut chart, lines)?;
    draw_means(&mut chart, lines)
}

/// Adam's epochs along the top of a panel whose Adam lines were stretched by `scale`: ticks at
/// round epochs (about eight) and the axis label above them.
fn epoch_axis<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    scale: f64,
    xs: &Range<f64>,
    top: f64,
) -> Result<(), String> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let (first, last) = (xs.start / scale, xs.end / scale);
    let step = [1.0, 2.0, 5.0]
        .iter()
        .flat_map(|m| (0..7).map(move |k| m * 10f64.powi(k)))
        .filter(|s| (last - first) / s <= 10.0)
        .fold(f64::INFINITY, f64::min);
    let above = font(sizes::TICK).pos(Pos::new(HPos::Center, VPos::Bottom));
    let ticks: Vec<f64> = (0..=10)
        .map(|k| (first / step).ceil() * step + k as f64 * step)
        .filter(|e| *e >= first && *e <= last)
        .collect();
    chart
        .draw_series(ticks.iter().map(|&e| {
            EmptyElement::at((e * scale, top))
                + PathElement::new(vec![(0, 0), (0, -8)], BLACK.stroke_width(1))
                + Text::new(format!("{}", e.round() as i64), (0, -10), above.clone())
        }))
        .map_err(|e| e.to_string())?;
    let label = font(sizes::AXIS).pos(Pos::new(HPos::Center, VPos::Bottom));
    let mid = (xs.start + xs.end) / 2.0;
    let rise = -(sizes::TICK as i32) - 18;
    chart
        .draw_series(std::iter::once(
            EmptyElement::at((mid, top)) + Text::new("Adam epoch", (0, rise), label),
        ))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The panel's axis ranges around its lines and bands: iterations with a little room either
/// side (and from 1 at most, so the first iteration shows), seconds from 0, the y range padded.
fn panel_ranges(x: PlotX, lines: &[(&Line, &Band)]) -> (Range<f64>, Range<f64>) {
    let xs = lines.iter().flat_map(|(_, b)| b.x.iter().copied());
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (x0, x1) = match x {
        PlotX::Iter => (x0.min(1.0) - 0.3, x1 + 0.3),
        PlotX::Seconds => (0.0, padded(0.0, x1).1),
    };
    let ys = lines
        .iter()
        .flat_map(|(_, b)| b.lo.iter().chain(b.hi.iter()).chain(b.mean.iter()))
        .copied()
        .filter(|v| v.is_finite());
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (y0, y1) = padded(y0, y1);
    (x0..x1, y0..y1)
}

/// The grid, axis labels and ticks: whole iterations only on an iteration axis (a fractional
/// iteration means nothing), short numbers elsewhere.
fn draw_mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    xlabel: &str,
    ylabel: &str,
    x: PlotX,
) -> Result<(), String> {
    let int_ticks = |v: &f64| {
        if (v - v.round()).abs() < 1e-9 {
            format!("{}", v.round() as i64)
        } else {
            String::new()
        }
    };
    let num = |v: &f64| trim_number(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(xlabel)
        .y_desc(ylabel)
        .axis_desc_style(font(sizes::AXIS))
        .label_style(font(sizes::TICK))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(248, 248, 248))
        .y_labels(8)
        .y_label_formatter(&num);
    match x {
        PlotX::Iter => {
            mesh.x_labels(12).x_label_formatter(&int_ticks);
        }
        PlotX::Seconds => {
            mesh.x_labels(8).x_label_formatter(&num);
        }
    }
    mesh.draw().map_err(|e| e.to_string())
}

/// The min-max bands, light, for lines whose seeds differ anywhere (one seed has no band).
/// Drawn before every line so that no band covers a line.
fn draw_bands<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    lines: &[(&Line, &Band)],
) -> Result<(), String> {
    for (line, b) in lines {
        if b.lo.iter().zip(&b.hi).any(|(l, h)| h > l) && b.x.len() > 1 {
            let mut pts: Vec<(f64, f64)> = b.x.iter().copied().zip(b.hi.iter().copied()).collect();
            pts.extend(b.x.iter().copied().zip(b.lo.iter().copied()).rev());
            chart
                .draw_series(std::iter::once(Polygon::new(
                    pts,
                    line.color.mix(0.2).filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The mean lines, with a marker per point while there are few enough to tell apart.
fn draw_means<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    lines: &[(&Line, &Band)],
) -> Result<(), String> {
    for (line, b) in lines {
        let pts: Vec<(f64, f64)> = b.x.iter().copied().zip(b.mean.iter().copied()).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), line.color.stroke_width(3)))
            .map_err(|e| e.to_string())?;
        if pts.len() <= 60 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, line.color.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// A tick label without trailing zeros: 0.5, 12, 1e-3 stays short.
pub(crate) fn trim_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}
