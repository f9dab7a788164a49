//! Results on disk: one Parquet trace (a row per iteration) and one Parquet summary (one row)
//! per run, both written atomically. polars stays inside this module; `schema` owns the
//! column names and the typed records.
//!
//! Layout: `<out>/<experiment>/trace/<run-id>.parquet`, `<out>/<experiment>/runs/<run-id>.parquet`,
//! `<out>/<experiment>/models/<run-id>.safetensors` (the trained network, `crate::run::model`),
//! `<out>/<experiment>/checkpoints/<run-id>.safetensors` (a run in progress, `crate::run::checkpoint`).
//! The summary is written last and is the run's commit marker (see `runner::is_finished`).
//! Several processes may share one results folder: `store` holds the rules (owned temp files,
//! claims, cleanup on interrupt).
mod footer;
mod limits;
mod row;
pub mod safe;
pub mod schema;
pub mod store;

pub use limits::{ReadLimits, MAX_TRACE_ROWS};
pub use schema::{KappaTable, PathRow, Status, Summary, TraceRow};
pub use store::clean_stale_temp;

use polars::prelude::{
    Column, DataFrame, NamedFrom, ParquetReader, ParquetWriter, SerReader, Series,
};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Test accuracy whose first crossing the companion table and `bench` time (a quality
/// target, where the train-accuracy target measures fit).
pub const TEST_TARGET: f64 = 0.85;

/// An I/O or encoding failure, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ResultsError {
    pub path: PathBuf,
    pub reason: String,
}

fn err(path: &Path, reason: impl ToString) -> ResultsError {
    ResultsError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// One typed value of a summary row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    F64(Option<f64>),
    I64(Option<i64>),
    Str(Option<String>),
    Bool(Option<bool>),
}

impl Cell {
    /// A one-row column of this cell.
    fn into_values(self) -> Values {
        match self {
            Cell::F64(x) => Values::F64(vec![x]),
            Cell::I64(x) => Values::I64(vec![x]),
            Cell::Str(x) => Values::Str(vec![x]),
            Cell::Bool(x) => Values::Bool(vec![x]),
        }
    }
}

/// A column being built.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>),
    Str(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn into_column(self, name: &str) -> Column {
        let s = match self {
            Values::F64(v) => Series::new(name.into(), v),
            Values::I64(v) => Series::new(name.into(), v),
            Values::Str(v) => Series::new(name.into(), v),
            Values::Bool(v) => Series::new(name.into(), v),
        };
        s.into()
    }
}

/// Paths of one run's files.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPaths {
    pub summary: PathBuf,
    pub trace: PathBuf,
    /// `<out>/<experiment>/claims/<run-id>.claim` (`store::claim`).
    pub claim: PathBuf,
    /// `<out>/<experiment>/models/<run-id>.safetensors` (`crate::run::model`).
    pub model: PathBuf,
    /// `<out>/<experiment>/checkpoints/<run-id>.safetensors`: the state of a run in progress,
    /// which a rerun resumes from (`crate::run::checkpoint`); removed when the run finishes.
    pub checkpoint: PathBuf,
}

impl RunPaths {
    pub fn new(out: &Path, experiment: &str, run_id: &str) -> Self {
        let dir = out.join(experiment);
        RunPaths {
            summary: dir.join("runs").join(format!("{run_id}.parquet")),
            trace: dir.join("trace").join(format!("{run_id}.parquet")),
            claim: store::claim_path(&dir, run_id),
            model: dir.join("models").join(format!("{run_id}.safetensors")),
            checkpoint: dir
                .join("checkpoints")
                .join(format!("{run_id}.safetensors")),
        }
    }
}

impl RunPaths {
    /// Refuses to go on when the experiment folder or one of its folders (`runs/`, `trace/`,
    /// `models/`, `claims/`, `checkpoints/`) is a symbolic link: the run would write, and
    /// clean up, outside the output folder.
    pub fn check_dirs(&self) -> Result<(), ResultsError> {
        let files = [
            &self.summary,
            &self.trace,
            &self.model,
            &self.claim,
            &self.checkpoint,
        ];
        let experiment = safe::parent_dir(safe::parent_dir(&self.summary));
        let dirs = std::iter::once(experiment).chain(files.iter().map(|f| safe::parent_dir(f)));
        for dir in dirs {
            safe::check_not_link(dir).map_err(|e| err(dir, e))?;
        }
        Ok(())
    }
}

/// Writes columns as a Parquet file atomically (`write_atomically`).
pub fn write_columns(path: &Path, columns: Vec<(String, Values)>) -> Result<(), ResultsError> {
    let staged = stage_columns(path, columns)?;
    staged.commit(path).map_err(|e| err(path, e))?;
    safe::sync_dir(safe::parent_dir(path));
    Ok(())
}

/// Columns written as a Parquet temp file for `path`, not yet in place (`stage`).
pub fn stage_columns(
    path: &Path,
    columns: Vec<(String, Values)>,
) -> Result<safe::Staged, ResultsError> {
    let cols: Vec<Column> = columns
        .into_iter()
        .map(|(name, v)| v.into_column(&name))
        .collect();
    let mut df = DataFrame::new_infer_height(cols).map_err(|e| err(path, e))?;
    stage(path, |file| {
        ParquetWriter::new(&mut *file)
            .finish(&mut df)
            .map_err(|e| e.to_string())?;
        file.flush().map_err(|e| e.to_string())
    })
}

/// Writes a file atomically: `fill` writes a temp file created exclusively in the same
/// directory (`safe::Staged`: an unpredictable name that records this process and host, so a
/// link planted there is never followed), which is synced and then renamed over `path`; the
/// directory is synced too, so that the rename is on disk before the caller goes on (the
/// summary, written last, must not land before the trace). A crash leaves either the old file
/// or the new one, and a failed write removes its temp file. The directory must be a real
/// folder, not a link (`safe::own_dir`). Every result file (Parquet, figures, tables) goes
/// through here.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), String>,
) -> Result<(), ResultsError> {
    let staged = stage(path, fill)?;
    staged.commit(path).map_err(|e| err(path, e))?;
    safe::sync_dir(safe::parent_dir(path));
    Ok(())
}

/// The first half of `write_atomically`: `fill` writes a new temp file for `path`, which is
/// left uncommitted (`Staged::commit` puts it in place; dropping it removes it).
pub fn stage(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), String>,
) -> Result<safe::Staged, ResultsError> {
    let dir = safe::parent_dir(path);
    let mut staged = safe::Staged::new(path).map_err(|e| err(dir, e))?;
    let tmp = staged.path().to_path_buf();
    fill(staged.file()).map_err(|e| err(&tmp, e))?;
    Ok(staged)
}

/// Reads a Parquet file of one kind within that kind's limits (`ReadLimits`): a regular file
/// only (a FIFO would block, a device never end), no larger than the limit, whose footer is
/// well formed (`footer::check_footer`) and claims no more rows, columns, values or decoded
/// bytes than the limits allow. Everything is checked before polars decodes a page, so that
/// a small file that would expand into gigabytes costs a few reads, and the error names the
/// file and the limit it broke.
pub fn read(path: &Path, limits: &ReadLimits) -> Result<DataFrame, ResultsError> {
    let mut file = safe::open_regular(path).map_err(|e| err(path, e))?;
    let len = file.metadata().map_err(|e| err(path, e))?.len();
    limits.check_file_size(len).map_err(|e| err(path, e))?;
    let footer = footer::read_footer(&mut file, len, limits.footer_bytes);
    footer
        .and_then(|bytes| footer::check_footer(&bytes))
        .map_err(|e| err(path, e))?;
    // polars panics on some corrupt files: that is an error naming the file too, in every
    // reader (the resume check, `plot`), not only in `show`.
    let decode = std::panic::AssertUnwindSafe(|| {
        let mut reader = ParquetReader::new(file);
        let meta = reader.get_metadata().map_err(|e| e.to_string())?;
        limits.check_metadata(meta)?;
        reader.finish().map_err(|e| e.to_string())
    });
    match std::panic::catch_unwind(decode) {
        Ok(done) => done.map_err(|e| err(path, e)),
        Err(_) => Err(err(
            path,
            "the Parquet reader failed on this file (corrupt?)",
        )),
    }
}

/// A column of a frame as f64 values (nulls and non-numeric cells as None).
pub fn column_f64(df: &DataFrame, name: &str) -> Option<Vec<Option<f64>>> {
    let col = df.column(name).ok()?;
    let s = col
        .as_materialized_series()
        .cast(&polars::prelude::DataType::Float64)
        .ok()?;
    let ca = s.f64().ok()?;
    Some((0..ca.len()).map(|i| ca.get(i)).collect())
}

/// A column of a frame as strings.
pub fn column_str(df: &DataFrame, name: &str) -> Option<Vec<Option<String>>> {
    let col = df.column(name).ok()?;
    let ca = col.as_materialized_series().str().ok()?;
    Some(
        (0..ca.len())
            .map(|i| ca.get(i).map(str::to_string))
            .collect(),
    )
}

/// Flattens a JSON value into `prefix.a.b` cells (arrays as JSON text).
pub fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, Cell)>) {
    use serde_json::Value as J;
    match value {
        J::Object(map) => {
            for (k, v) in map {
                flatten_json(&format!("{prefix}.{k}"), v, out);
            }
        }
        J::Null => out.push((prefix.to_string(), Cell::Str(None))),
        J::Bool(b) => out.push((prefix.to_string(), Cell::Bool(Some(*b)))),
        J::Number(n) => out.push((prefix.to_string(), Cell::F64(n.as_f64()))),
        J::String(s) => out.push((prefix.to_string(), Cell::Str(Some(s.clone())))),
        J::Array(_) => out.push((prefix.to_string(), Cell::Str(Some(value.to_string())))),
    }
}
