//! Drawing shared by the figures, so that they look alike: text styles and sizes, the title
//! block, the legend laid out in centred rows, the word-wrapped notes footer, and padded axis
//! ranges.

use super::render::FONT;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// The width of a legend entry's swatch (line or box), in pixels.
const SWATCH: i32 = 44;
/// The space between a swatch and its label.
const SWATCH_GAP: i32 = 10;
/// The space between two legend entries on a row.
const ITEM_GAP: i32 = 34;
/// The height of one legend row.
const LEGEND_LINE: i32 = sizes::LEGEND as i32 + 14;

/// Each entry's width (swatch, gap, label), measured with the legend font; a label the
/// backend cannot measure counts as 200 pixels.
fn legend_widths<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
) -> Vec<i32> {
    let style = font(sizes::LEGEND);
    items
        .iter()
        .map(|it| {
            let (tw, _) = area
                .estimate_text_size(&it.label, &style)
                .unwrap_or((200, 20));
            SWATCH + SWATCH_GAP + tw as i32
        })
        .collect()
}

/// Greedy line breaking of entries of `widths` into rows that fit `width` less a 20-pixel
/// margin each side (an entry wider than that gets a row of its own); the entries' indices per
/// row. Always at least one row, so that the footer keeps its height with no legend.
fn legend_rows(widths: &[i32], width: u32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, &iw) in widths.iter().enumerate() {
        let need = if used == 0 { iw } else { used + ITEM_GAP + iw };
        if need > width as i32 - 40 && used > 0 {
            rows.push(vec![i]);
            used = iw;
        } else {
            if let Some(r) = rows.last_mut() {
                r.push(i);
            }
            used = need;
        }
    }
    rows
}

/// A centred row (or rows) of legend entries starting at pixel row `y`; returns the y below.
pub(crate) fn legend_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
    y: i32,
) -> Result<i32, String> {
    let (w, _) = area.dim_in_pixel();
    let widths = legend_widths(area, items);
    let mut y = y;
    for row in legend_rows(&widths, w) {
        let total: i32 =
            row.iter().map(|&i| widths[i]).sum::<i32>() + ITEM_GAP * (row.len() as i32 - 1);
        let mut x = (w as i32 - total) / 2;
        for &i in &row {
            legend_item(area, &items[i], x, y + LEGEND_LINE / 2)?;
            x += widths[i] + ITEM_GAP;
        }
        y += LEGEND_LINE;
    }
    Ok(y)
}

/// One legend entry with its left edge at `x`, centred on pixel row `mid`: a filled box, three
/// dashes, or a line, then the label.
fn legend_item<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    it: &LegendItem,
    x: i32,
    mid: i32,
) -> Result<(), String> {
    if it.boxed {
        area.draw(&Rectangle::new(
            [(x, mid - 11), (x + SWATCH, mid + 11)],
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
            vec![(x, mid), (x + SWATCH, mid)],
            it.color.stroke_width(4),
        ))
        .map_err(|e| e.to_string())?;
    }
    area.draw(&Text::new(
        it.label.clone(),
        (x + SWATCH + SWATCH_GAP, mid),
        font(sizes::LEGEND).pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(|e| e.to_string())
}

/// The legend's height once laid out in rows across the figure.
pub(crate) fn legend_height<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
) -> i32 {
    let (w, _) = root.dim_in_pixel();
    legend_rows(&legend_widths(root, items), w).len() as i32 * LEGEND_LINE
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
