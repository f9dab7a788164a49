//! Figure 3 (right): the mean runtime of each solver split into precomputation, u, v and dual
//! updates, as stacked bars, from the run summaries. A bar per (solver, backend, loss,
//! setting of the grouping keys), as curve lines are grouped (`plot.group_by`), so that a bar
//! never averages runs of different settings: only seeds.

use super::canvas::{draw_footer, font, footer_height, sizes, title_block, LegendItem};
use super::data::{Loaded, RunResult};
use super::labels::{group_label, not_shown, secs};
use super::render::{save, Figure};
use super::{Context, FigError};
use crate::manifest::SolverKind;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// The phases, bottom to top, and their colours (as the paper's figure).
const PHASES: [(&str, RGBColor); 4] = [
    ("precomputation", RGBColor(0x33, 0x33, 0x33)),
    ("u updates", RGBColor(0xA0, 0x2C, 0x2E)),
    ("v updates", RGBColor(0xF0, 0x94, 0x94)),
    ("dual updates", RGBColor(0xA0, 0x62, 0x3C)),
];

#[derive(Debug, Clone)]
struct Bar {
    label: String,
    /// Mean seconds per phase (PHASES order).
    parts: [f64; 4],
}

struct RuntimeFigure {
    title: String,
    subtitle: String,
    bars: Vec<Bar>,
    notes: Vec<String>,
}

pub(crate) fn render(
    ctx: &Context,
    loaded: &Loaded,
    stem: &Path,
) -> Result<Vec<PathBuf>, FigError> {
    let solvers = loaded.distinct(|r| r.solver.to_string());
    let backends = loaded.distinct(|r| r.backend.clone());
    let losses = loaded.distinct(|r| r.loss.name().to_string());
    let groups = loaded.loss_groups();
    let mut bars = Vec::new();
    let mut notes = Vec::new();
    let mut iterations = Vec::new();
    for g in &groups {
        let (solver, backend, loss, setting) = (g.0, g.1.as_str(), g.2, g.3.as_str());
        let mut label = group_label(solver, backend, solvers.len() > 1, backends.len() > 1);
        if losses.len() > 1 {
            label = format!("{label}, {}", loss.name());
        }
        // The setting only where a bar of the same method would otherwise read the same
        // (a variant's own settings, such as RBCD's rho in Table 1, stay out of its label).
        let same = |h: &&(SolverKind, String, admm_engine::loss::Loss, String)| {
            h.0 == solver && h.1 == backend && h.2 == loss
        };
        if groups.iter().filter(same).count() > 1 {
            label = format!("{label}, {setting}");
        }
        let runs: Vec<&RunResult> = loaded
            .runs
            .iter()
            .filter(|r| r.solver == solver && r.backend == backend)
            .filter(|r| r.loss == loss && r.setting == setting)
            .collect();
        for r in runs.iter().filter(|r| !r.ok()) {
            notes.push(not_shown(&label, r, "failed"));
        }
        let ok: Vec<&RunResult> = runs.into_iter().filter(|r| r.ok()).collect();
        if ok.is_empty() {
            continue;
        }
        let (bar, its) = bar(label, solver, &ok);
        bars.push(bar);
        iterations.push(its);
    }
    if bars.is_empty() {
        return Err(FigError::Empty(format!(
            "no run finished ok ({})",
            notes.join("; ")
        )));
    }
    if ctx.missing > 0 {
        notes.push(format!(
            "{} planned run(s) have no results yet and are not shown",
            ctx.missing
        ));
    }
    notes.push(format!(
        "iterations per run (mean): {}. Adam: u = training, precomputation = data upload.",
        iterations.join(", ")
    ));
    let fig = RuntimeFigure {
        title: ctx.title("mean runtime split by phase"),
        subtitle: subtitle(ctx, loaded),
        bars,
        notes,
    };
    Ok(save(&fig, stem)?)
}

/// One group's bar from its finished runs (`ok`, not empty): the mean seconds of each phase,
/// and the mean iteration count for the notes (Adam's are epochs, and say so).
fn bar(label: String, solver: SolverKind, ok: &[&RunResult]) -> (Bar, String) {
    let parts = [
        mean(ok, |r| r.precompute_s),
        mean(ok, |r| r.u_s),
        mean(ok, |r| r.v_s),
        mean(ok, |r| r.dual_s),
    ];
    let its = mean(ok, |r| r.iterations);
    let its = if solver == SolverKind::Adam {
        format!("{}: {its:.0} epochs", solver.label())
    } else {
        format!("{}: {its:.0}", solver.label())
    };
    (Bar { label, parts }, its)
}

/// The mean of `get` over `runs`, ignoring non-finite values (a phase a run did not record);
/// 0 when none is finite, so that the phase draws as nothing.
fn mean(runs: &[&RunResult], get: impl Fn(&RunResult) -> f64) -> f64 {
    let v: Vec<f64> = runs
        .iter()
        .map(|r| get(r))
        .filter(|x| x.is_finite())
        .collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The subtitle: the experiment, its data setting, and over how many seeds the means are.
fn subtitle(ctx: &Context, loaded: &Loaded) -> String {
    let max_seeds = loaded.distinct(|r| r.seed.to_string()).len();
    format!(
        "{}: {}; {}",
        ctx.experiment,
        ctx.setting,
        if max_seeds > 1 {
            format!("mean over {max_seeds} seeds")
        } else {
            "one seed".into()
        }
    )
}

/// A chart with one segment per bar on x and seconds on y.
type Chart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<SegmentedCoord<RangedCoordusize>, RangedCoordf64>>;

impl Figure for RuntimeFigure {
    fn size(&self) -> (u32, u32) {
        (1500, 1000)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let header = title_block(root, &self.title, &self.subtitle)?;
        let legend: Vec<LegendItem> = PHASES
            .iter()
            .map(|(name, c)| LegendItem {
                label: name.to_string(),
                color: *c,
                boxed: true,
                dashed: false,
            })
            .collect();
        let footer = footer_height(root, &legend, &self.notes);
        let body = root.margin(header as u32, footer as u32, 10, 30);
        let mut chart = self.chart(&body)?;
        for (i, bar) in self.bars.iter().enumerate() {
            draw_bar(&mut chart, i, bar)?;
        }
        draw_footer(root, &legend, &self.notes)
    }
}

impl RuntimeFigure {
    /// The chart in `body` with its axes drawn: a labelled segment per bar, and seconds up to
    /// 8% above the tallest bar, so that its total fits above it.
    fn chart<'a, DB: DrawingBackend>(
        &self,
        body: &'a DrawingArea<DB, Shift>,
    ) -> Result<Chart<'a, DB>, String> {
        let top = self
            .bars
            .iter()
            .map(|b| b.parts.iter().sum::<f64>())
            .fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.08 } else { 1.0 };
        let n = self.bars.len();
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        let mut chart = ChartBuilder::on(body)
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(110)
            .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0.0..top)
            .map_err(|e| e.to_string())?;
        let xfmt = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let yfmt = |v: &f64| super::curves::trim_number(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&xfmt)
            .y_labels(8)
            .y_label_formatter(&yfmt)
            .y_desc("time (s)")
            .axis_desc_style(font(sizes::AXIS))
            .label_style(font(sizes::AXIS))
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(RGBColor(248, 248, 248))
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(chart)
    }
}

/// The `i`-th bar: its phases stacked bottom to top (a phase of no time draws nothing), then
/// the total in seconds above it.
fn draw_bar<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    i: usize,
    bar: &Bar,
) -> Result<(), String> {
    let mut base = 0.0;
    for (k, (_, color)) in PHASES.iter().enumerate() {
        let v = bar.parts[k];
        if v <= 0.0 {
            continue;
        }
        let mut rect = Rectangle::new(
            [
                (SegmentValue::Exact(i), base),
                (SegmentValue::Exact(i + 1), base + v),
            ],
            color.filled(),
        );
        rect.set_margin(0, 0, 30, 30);
        chart
            .draw_series(std::iter::once(rect))
            .map_err(|e| e.to_string())?;
        base += v;
    }
    chart
        .draw_series(std::iter::once(Text::new(
            format!("{} s", secs(base)),
            (SegmentValue::CenterOf(i), base),
            font(sizes::TICK).pos(Pos::new(HPos::Center, VPos::Bottom)),
        )))
        .map_err(|e| e.to_string())?;
    Ok(())
}
