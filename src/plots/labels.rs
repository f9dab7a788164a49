//! Names, colours and short texts, kept in one place so that a solver reads and looks the same
//! in every figure and table: the paper's method names, fixed colours per solver and backend,
//! the data setting line, notes for runs left out, and number formats.

use super::data::RunResult;
use crate::manifest::{PlannedRun, SolverKind};
use plotters::style::RGBColor;

/// The label of a (solver, backend) group: the solver alone, the backend alone when only
/// backends differ, or both when both do.
pub(crate) fn group_label(
    solver: SolverKind,
    backend: &str,
    many_solvers: bool,
    many_backends: bool,
) -> String {
    match (many_solvers, many_backends) {
        (true, true) => format!("{} ({backend})", solver.label()),
        (false, true) => backend.to_string(),
        _ => solver.label().to_string(),
    }
}

/// A method's line colour (`SolverKind::colour`).
pub(crate) fn solver_color(solver: SolverKind) -> RGBColor {
    let (r, g, b) = solver.colour();
    RGBColor(r, g, b)
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

/// The data setting of a manifest's runs, e.g. "CIFAR-10 classes 0/1, n=1000, d=100, P=10".
pub(crate) fn setting_text(runs: &[PlannedRun]) -> String {
    use crate::data::DataSource;
    let Some(first) = runs.first() else {
        return String::new();
    };
    let c = &first.config;
    let source = match c.data.source {
        DataSource::Cifar10 => format!(
            "CIFAR-10 classes {}",
            c.data
                .classes
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join("/")
        ),
        DataSource::Synthetic => "synthetic teacher".to_string(),
        DataSource::Npy => "npy data".to_string(),
    };
    let distinct = |f: &dyn Fn(&PlannedRun) -> String| {
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
    // The sizes the runs train on: `.npy` shapes (and `n_train: 0`, every row) from the
    // files' headers, not the manifest's 0 or a placeholder.
    let shapes = |r: &PlannedRun| crate::data::shapes(&r.config.data).ok();
    let d = distinct(&|r| match shapes(r) {
        Some(s) => s.d.to_string(),
        None => "?".to_string(),
    });
    let n = distinct(&|r| match shapes(r) {
        Some(s) => s.n.to_string(),
        None => r.config.data.n_train.to_string(),
    });
    format!(
        "{source}, n={n}, d={d}, P={}, backend {}",
        distinct(&|r| r.config.problem.patterns.to_string()),
        distinct(&|r| r.config.backend.to_string()),
    )
}

/// The figure note for a run that is not drawn: which line, which seed, and why (`default`
/// where the run recorded no reason).
pub(crate) fn not_shown(label: &str, run: &RunResult, default: &str) -> String {
    let why = run.reason.as_deref().unwrap_or(default);
    format!("not shown: {label}, seed {}: {}", run.seed, short(why, 90))
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

/// Seconds with three significant digits (0.00731, 0.213, 12.4, 186).
pub(crate) fn secs(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}
