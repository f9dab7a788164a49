//! The regularization-path figure: train, validation and test accuracy (left) and active
//! neurons (right) against beta on a log axis, with the beta the validation accuracy chose
//! marked; from the path tables (`paths/<path-id>.parquet`). The legend sits under the panels,
//! never over a point, and neuron counts are whole numbers on their axis.

use super::canvas::LegendItem;
use super::canvas::{bold, draw_footer, font, footer_height, padded, sizes, title_block};
use super::render::{save, Figure};
use super::{Context, FigError};
use crate::results::PathRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Colours of the accuracy lines: train, validation, test.
const ACC: [(&str, RGBColor); 3] = [
    ("train", RGBColor(0x1f, 0x77, 0xb4)),
    ("validation", RGBColor(0xff, 0x7f, 0x0e)),
    ("test", RGBColor(0x2c, 0xa0, 0x2c)),
];
/// One line of a panel: its legend label, colour and (beta, value) points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

const CHOSEN: RGBColor = RGBColor(0x99, 0x99, 0x99);

struct PathFigure {
    title: String,
    subtitle: String,
    rows: Vec<PathRow>,
}

/// Renders the first path table with rows to `<stem>.png` and `.svg`.
pub(crate) fn render(
    ctx: &Context,
    tables: &[(String, Vec<PathRow>)],
    stem: &Path,
) -> Result<Vec<PathBuf>, FigError> {
    let Some((id, rows)) = tables.iter().find(|(_, r)| r.iter().any(|x| x.beta > 0.0)) else {
        return Err(FigError::Empty("no path table with a point".into()));
    };
    let chosen = rows.iter().find(|r| r.chosen);
    let subtitle = match chosen {
        Some(c) => format!(
            "{} — {id}: chosen beta {:.3e} (validation {:.3}, test {:.3})",
            ctx.setting, c.beta, c.val_acc, c.test_acc
        ),
        None => format!("{} — {id}", ctx.setting),
    };
    let fig = PathFigure {
        title: ctx.title("regularization path"),
        subtitle,
        rows: rows.iter().filter(|r| r.beta > 0.0).cloned().collect(),
    };
    Ok(save(&fig, stem)?)
}

impl Figure for PathFigure {
    fn size(&self) -> (u32, u32) {
        (1800, 800)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let top = title_block(root, &self.title, &self.subtitle)?;
        let legend = self.legend();
        let bottom = footer_height(root, &legend, &[]);
        let body = root.margin(top as u32, bottom as u32, 10, 10);
        let (left, right) = body.split_horizontally(body.dim_in_pixel().0 as i32 * 3 / 5);
        let acc: Vec<Series> = ACC
            .iter()
            .map(|&(name, color)| {
                let get = |r: &PathRow| match name {
                    "train" => r.train_acc,
                    "validation" => r.val_acc,
                    _ => r.test_acc,
                };
                (name, color, self.series(get))
            })
            .collect();
        self.panel(&left, "accuracy", &acc, false)?;
        let active = self.series(|r| r.active_neurons as f64);
        self.panel(&right, "active neurons", &[("active", BLACK, active)], true)?;
        draw_footer(root, &legend, &[])
    }
}

impl PathFigure {
    /// The legend under both panels: the accuracy lines, the neuron count, the chosen beta.
    fn legend(&self) -> Vec<LegendItem> {
        let line = |label: &str, color: RGBColor, dashed: bool| LegendItem {
            label: label.to_string(),
            color,
            boxed: false,
            dashed,
        };
        let mut items: Vec<LegendItem> = ACC
            .iter()
            .map(|&(name, color)| line(&format!("{name} accuracy"), color, false))
            .collect();
        items.push(line("active neurons", BLACK, false));
        if self.rows.iter().any(|r| r.chosen) {
            items.push(line("chosen beta", CHOSEN, true));
        }
        items
    }

    /// (beta, value) of every point with a finite value.
    fn series(&self, get: impl Fn(&PathRow) -> f64) -> Vec<(f64, f64)> {
        self.rows
            .iter()
            .map(|r| (r.beta, get(r)))
            .filter(|(_, v)| v.is_finite())
            .collect()
    }

    /// One panel: lines against beta (log axis) and a dashed vertical line at the chosen beta;
    /// `counts`: the y axis holds whole numbers, labelled without a fraction.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        ylabel: &str,
        lines: &[Series],
        counts: bool,
    ) -> Result<(), String> {
        let betas = self.rows.iter().map(|r| r.beta);
        let (b0, b1) = betas.fold((f64::INFINITY, 0.0_f64), |(a, b), v| (a.min(v), b.max(v)));
        let ys = lines.iter().flat_map(|(_, _, s)| s.iter().map(|p| p.1));
        let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (y0, y1) = padded(y0, y1);
        let xs = (b0 / 1.3..b1 * 1.3).log_scale();
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .margin_right(30)
            .x_label_area_size(74)
            .y_label_area_size(110)
            .caption(ylabel, bold(sizes::PANEL))
            .build_cartesian_2d(xs, y0..y1)
            .map_err(|e| e.to_string())?;
        let whole = |v: &f64| {
            if (v - v.round()).abs() < 1e-9 {
                format!("{}", v.round() as i64)
            } else {
                String::new()
            }
        };
        let short = |v: &f64| super::curves::trim_number(*v);
        let y_fmt: &dyn Fn(&f64) -> String = if counts { &whole } else { &short };
        chart
            .configure_mesh()
            .x_desc("beta (log scale)")
            .y_desc(ylabel)
            .y_label_formatter(y_fmt)
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .axis_desc_style(font(sizes::AXIS))
            .label_style(font(sizes::TICK))
            .draw()
            .map_err(|e| e.to_string())?;
        if let Some(c) = self.rows.iter().find(|r| r.chosen) {
            let dashed = DashedLineSeries::new(
                vec![(c.beta, y0), (c.beta, y1)],
                10,
                8,
                CHOSEN.stroke_width(3),
            );
            chart.draw_series(dashed).map_err(|e| e.to_string())?;
        }
        for (_, color, points) in lines {
            let style = color.stroke_width(4);
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 6, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
