//! Results on disk: one Parquet trace (a row per iteration) and one Parquet summary (one row)
//! per run, both written atomically. polars stays inside this module; `schema` owns the
//! column names and the typed records.
//!
//! Layout: `<out>/<experiment>/trace/<run-id>.parquet`, `<out>/<experiment>/runs/<run-id>.parquet`,
//! `<out>/<experiment>/models/<run-id>.safetensors` (the trained network, `crate::run::model`).
//! The summary is written last and is the run's commit marker (see `runner::is_finished`).
//! Several processes may share one results folder: `store` holds the rules (owned temp files,
//! claims, cleanup on interrupt).
mod row;
pub mod schema;
pub mod store;

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
}

impl RunPaths {
    pub fn new(out: &Path, experiment: &str, run_id: &str) -> Self {
        let dir = out.join(experiment);
        RunPaths {
            summary: dir.join("runs").join(format!("{run_id}.parquet")),
            trace: dir.join("trace").join(format!("{run_id}.parquet")),
            claim: store::claim_path(&dir, run_id),
            model: dir.join("models").join(format!("{run_id}.safetensors")),
        }
    }
}

/// Writes columns as a Parquet file atomically (`write_atomically`).
pub fn write_columns(path: &Path, columns: Vec<(String, Values)>) -> Result<(), ResultsError> {
    let cols: Vec<Column> = columns
        .into_iter()
        .map(|(name, v)| v.into_column(&name))
        .collect();
    let mut df = DataFrame::new_infer_height(cols).map_err(|e| err(path, e))?;
    write_atomically(path, |file| {
        ParquetWriter::new(&mut *file)
            .finish(&mut df)
            .map_err(|e| e.to_string())?;
        file.flush().map_err(|e| e.to_string())
    })
}

/// Writes a file atomically: `fill` writes a temp file in the same directory
/// (`store::temp_path`: named after this process and host), which is synced and then renamed
/// over `path`; the directory is synced too, so that the rename is on disk before the caller
/// goes on (the summary, written last, must not land before the trace). A crash leaves either
/// the old file or the new one, and a failed write removes its temp file. Every result file
/// (Parquet, figures, tables) goes through here.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), String>,
) -> Result<(), ResultsError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let tmp = store::temp_path(&dir.join(path.file_name().unwrap_or_default()));
    let mut file =
        store::create_registered(&tmp, || File::create(&tmp)).map_err(|e| err(&tmp, e))?;
    let written = fill(&mut file)
        .map_err(|e| err(&tmp, e))
        .and_then(|()| file.sync_all().map_err(|e| err(&tmp, e)));
    // Renamed into place, or removed: either way no longer ours to clean up.
    store::finish_registered(&tmp, || {
        let result = written.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| err(path, e)));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    })?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a Parquet file.
pub fn read(path: &Path) -> Result<DataFrame, ResultsError> {
    let file = File::open(path).map_err(|e| err(path, e))?;
    ParquetReader::new(file).finish().map_err(|e| err(path, e))
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
