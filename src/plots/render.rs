//! From a drawn figure to files: the embedded font, the `Figure` trait that lets one drawing
//! serve both the PNG and the SVG backend, PNG encoding, and atomic writes (also used for the
//! table's text files), so that a failed render never leaves a half-written file behind.

use super::PlotError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The font family name the embedded font is registered under (and SVG text asks for).
pub const FONT: &str = "sans-serif";

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
    let pixels = draw_pixels(fig, &png)?;
    write_atomic(&png, |file| encode_png(file, &pixels, w, h))?;
    let text = draw_svg(fig, &svg)?;
    write_atomic(&svg, |file| {
        use std::io::Write;
        file.write_all(text.as_bytes()).map_err(|e| e.to_string())
    })?;
    Ok(vec![png, svg])
}

/// The error for a figure that failed to draw on the backend for `path`.
fn render_error(path: &Path, reason: String) -> PlotError {
    PlotError::Render {
        path: path.to_path_buf(),
        reason,
    }
}

/// `fig` drawn on a white RGB buffer of its size (errors name `png`, the file it is for).
fn draw_pixels(fig: &impl Figure, png: &Path) -> Result<Vec<u8>, PlotError> {
    let (w, h) = fig.size();
    let mut pixels = vec![255u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        fig.draw(&root).map_err(|e| render_error(png, e))?;
        root.present()
            .map_err(|e| render_error(png, e.to_string()))?;
    }
    Ok(pixels)
}

/// `fig` drawn as SVG text (errors name `svg`, the file it is for).
fn draw_svg(fig: &impl Figure, svg: &Path) -> Result<String, PlotError> {
    let (w, h) = fig.size();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (w, h)).into_drawing_area();
        fig.draw(&root).map_err(|e| render_error(svg, e))?;
        root.present()
            .map_err(|e| render_error(svg, e.to_string()))?;
    }
    Ok(text)
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
