//! Table 1: seconds to the target train accuracy per solver and backend, split into
//! precomputation, u, v and dual updates, as Markdown, CSV and LaTeX. Times come from the
//! traces (the first row whose train accuracy reaches the target); a run that never reached it
//! shows as such, never as a number. With `plot.paper`, the paper's own rows appear beside ours,
//! labelled as the paper's.
//!
//! `rows` computes the rows from the results, `paper` holds the paper's values, `format`
//! writes them out.

mod format;
mod paper;
mod rows;

pub use format::{csv, latex, markdown};
pub use paper::{PaperRow, PAPER_TABLE1};
pub use rows::{rows, rows_with_reference, Companion, Row, Status, SUBOPT_LEVELS, TEST_TARGET};

use super::data::Loaded;
use super::render::{with_ext, write_atomic};
use super::{Context, FigError};
use crate::manifest::PlannedRun;
use std::path::{Path, PathBuf};

pub(crate) fn render(
    ctx: &Context,
    loaded: &Loaded,
    planned: &[PlannedRun],
    stem: &Path,
) -> Result<Vec<PathBuf>, FigError> {
    if planned
        .iter()
        .all(|p| p.config.solver.stop.target_train_acc.is_none())
    {
        return Err(FigError::Empty(
            "no run sets solver.target_train_acc, so there is no time to target".into(),
        ));
    }
    let rows = rows_with_reference(planned, loaded, ctx.plot.paper, ctx.reference.as_ref());
    let title = ctx.title("time to target train accuracy");
    let outputs = [
        ("md", markdown(&title, &ctx.setting, &rows)),
        ("csv", csv(&rows)),
        ("tex", latex(&title, &ctx.setting, &rows)),
    ];
    let mut files = Vec::new();
    for (ext, text) in outputs {
        let path = with_ext(stem, ext);
        write_atomic(&path, |f| {
            use std::io::Write;
            f.write_all(text.as_bytes()).map_err(|e| e.to_string())
        })?;
        files.push(path);
    }
    Ok(files)
}
