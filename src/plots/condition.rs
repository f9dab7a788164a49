//! Figure 2: condition numbers against Nystrom rank (log y), with kappa(A) and the diagonally
//! preconditioned kappa as reference lines, from `<results>/<experiment>/kappa.parquet`
//! (written by `admm-runner condition`).

use super::canvas::{font, legend_height, legend_row, sizes, title_block, LegendItem};
use super::render::{save, Figure};
use super::{Context, FigError};
use crate::results::KappaTable;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
struct Curve {
    label: String,
    color: RGBColor,
    dashed: bool,
    /// Drawn first and wide (so a coinciding line stays visible on top).
    wide: bool,
    points: Vec<(f64, f64)>,
}

struct ConditionFigure {
    title: String,
    subtitle: String,
    curves: Vec<Curve>,
}

pub(crate) fn render(ctx: &Context, file: &Path, stem: &Path) -> Result<Vec<PathBuf>, FigError> {
    let kappa = read_kappa(file)?;
    let curves = curves(&kappa);
    if curves.iter().all(|c| c.dashed) {
        return Err(FigError::Empty(format!(
            "{} has no finite positive Nystrom condition numbers",
            file.display()
        )));
    }
    let (first, last) = kappa.rank_span();
    let fig = ConditionFigure {
        title: ctx.title("condition number against Nyström rank"),
        subtitle: format!(
            "{}: {}; A is the ADMM u-step matrix; ranks {first:.0}-{last:.0}",
            ctx.experiment, ctx.setting
        ),
        curves,
    };
    Ok(save(&fig, stem)?)
}

/// Reads `file` (`results::KappaTable`): a missing column is an error naming it, and a file
/// without rows is a figure with nothing to draw.
fn read_kappa(file: &Path) -> Result<KappaTable, FigError> {
    let t = KappaTable::read(file)?;
    if t.ranks.is_empty() {
        return Err(FigError::Empty(format!("{} has no rows", file.display())));
    }
    Ok(t)
}

/// The figure's reading of the table.
trait KappaPoints {
    fn rank_span(&self) -> (f64, f64);
    fn points(&self, v: &[f64]) -> Vec<(f64, f64)>;
    fn flat(&self, v: &[f64]) -> Vec<(f64, f64)>;
}

impl KappaPoints for KappaTable {
    /// The smallest and largest rank.
    fn rank_span(&self) -> (f64, f64) {
        let first = self.ranks.iter().copied().fold(f64::INFINITY, f64::min);
        let last = self.ranks.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (first, last)
    }

    /// `(rank, kappa)` for each rank with a finite positive `v` (a log axis cannot show the
    /// rest).
    fn points(&self, v: &[f64]) -> Vec<(f64, f64)> {
        self.ranks
            .iter()
            .copied()
            .zip(v.iter().copied())
            .filter(|(r, k)| r.is_finite() && k.is_finite() && *k > 0.0)
            .collect()
    }

    /// A flat line across the ranks at the first finite positive value of `v`: kappa(A) and
    /// the Jacobi kappa do not depend on the rank, so they are reference lines.
    fn flat(&self, v: &[f64]) -> Vec<(f64, f64)> {
        let (first, last) = self.rank_span();
        match v.iter().copied().find(|k| k.is_finite() && *k > 0.0) {
            Some(k) => vec![(first, k), (last, k)],
            None => Vec::new(),
        }
    }
}

/// The curves to draw, in legend order; curves without a single point are left out.
fn curves(kappa: &KappaTable) -> Vec<Curve> {
    let mut curves = vec![
        Curve {
            label: "κ(A)".into(),
            color: RGBColor(0, 0, 0),
            dashed: true,
            wide: false,
            points: kappa.flat(&kappa.kappa_a),
        },
        Curve {
            label: "Jacobi: κ(diag(A)⁻¹A)".into(),
            color: RGBColor(0xD6, 0x27, 0x28),
            dashed: true,
            wide: false,
            points: kappa.flat(&kappa.kappa_diag),
        },
        Curve {
            label: "Nyström: κ(P⁻¹A)".into(),
            color: RGBColor(0x2C, 0x8C, 0x3C),
            dashed: false,
            wide: false,
            points: kappa.points(&kappa.kappa_nys),
        },
    ];
    if let Some(nys_ref) = &kappa.kappa_nys_ref {
        curves.push(Curve {
            label: "Nyström, paper code's variant: sketch of A, μ = ρ".into(),
            color: RGBColor(0xB8, 0xAE, 0xD8),
            dashed: false,
            wide: true,
            points: kappa.points(nys_ref),
        });
    }
    curves.retain(|c| !c.points.is_empty());
    curves
}

/// A chart with ranks on x and condition numbers on a log y axis.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

impl Figure for ConditionFigure {
    fn size(&self) -> (u32, u32) {
        (1400, 1000)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (_, h) = self.size();
        let header = title_block(root, &self.title, &self.subtitle)?;
        let legend = self.legend();
        let footer = legend_height(root, &legend) + 16;
        let body = root.margin(header as u32, footer as u32, 10, 30);
        let mut chart = self.chart(&body)?;
        // The paper code's variant first, wide and light, so that the textbook line stays
        // visible on top of it where the two coincide.
        let order = self
            .curves
            .iter()
            .filter(|c| c.wide)
            .chain(self.curves.iter().filter(|c| !c.wide));
        for c in order {
            draw_curve(&mut chart, c)?;
        }
        legend_row(root, &legend, h as i32 - footer + 6)?;
        Ok(())
    }
}

impl ConditionFigure {
    fn legend(&self) -> Vec<LegendItem> {
        self.curves
            .iter()
            .map(|c| LegendItem {
                label: c.label.clone(),
                color: c.color,
                boxed: false,
                dashed: c.dashed,
            })
            .collect()
    }

    /// The axis ranges: the ranks with a little room either side, and whole decades around the
    /// condition numbers, so that the log axis has its powers of ten at both ends.
    fn ranges(&self) -> (Range<f64>, Range<f64>) {
        let all = self.curves.iter().flat_map(|c| c.points.iter());
        let (x0, x1, y0, y1) = all.fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
        );
        let (y0, y1) = (
            10f64.powf(y0.log10().floor()),
            10f64.powf((y1.log10() + 1e-9).ceil()),
        );
        let pad = ((x1 - x0) * 0.02).max(0.5);
        ((x0 - pad)..(x1 + pad), y0..y1)
    }

    /// The chart in `body` with its axes drawn.
    fn chart<'a, DB: DrawingBackend>(
        &self,
        body: &'a DrawingArea<DB, Shift>,
    ) -> Result<Chart<'a, DB>, String> {
        let (xs, ys) = self.ranges();
        let mut chart = ChartBuilder::on(body)
            .margin(10)
            .x_label_area_size(74)
            .y_label_area_size(130)
            .build_cartesian_2d(xs, ys.log_scale())
            .map_err(|e| e.to_string())?;
        let yfmt = |v: &f64| format!("{v:.0e}");
        let xfmt = |v: &f64| format!("{v:.0}");
        chart
            .configure_mesh()
            .x_desc("Nyström rank r")
            .y_desc("condition number (log scale)")
            .axis_desc_style(font(sizes::AXIS))
            .label_style(font(sizes::TICK))
            .y_label_formatter(&yfmt)
            .x_label_formatter(&xfmt)
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(RGBColor(242, 242, 242))
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(chart)
    }
}

/// One curve: wide and solid, dashed, or a plain line.
fn draw_curve<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, c: &Curve) -> Result<(), String> {
    if c.wide {
        chart
            .draw_series(LineSeries::new(c.points.clone(), c.color.stroke_width(8)))
            .map_err(|e| e.to_string())?;
    } else if c.dashed {
        chart
            .draw_series(DashedLineSeries::new(
                c.points.clone(),
                14,
                9,
                c.color.stroke_width(3),
            ))
            .map_err(|e| e.to_string())?;
    } else {
        chart
            .draw_series(LineSeries::new(c.points.clone(), c.color.stroke_width(3)))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
