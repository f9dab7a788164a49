//! Results on disk: one Parquet trace (a row per iteration) and one Parquet summary (one row)
//! per run, both written atomically. polars stays inside this module; `schema` owns the
//! column names and the typed records.
//!
//! Layout: `<out>/<experiment>/trace/<run-id>.parquet`, `<out>/<experiment>/runs/<run-id>.parquet`.
//! The summary is written last: its presence means the run is finished.

pub mod schema;

pub use schema::{KappaTable, Status, Summary, TraceRow};

use polars::prelude::{
    Column, DataFrame, NamedFrom, ParquetReader, ParquetWriter, SerReader, Series,
};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

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
}

impl RunPaths {
    pub fn new(out: &Path, experiment: &str, run_id: &str) -> Self {
        let dir = out.join(experiment);
        RunPaths {
            summary: dir.join("runs").join(format!("{run_id}.parquet")),
            trace: dir.join("trace").join(format!("{run_id}.parquet")),
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

/// Writes a file atomically: `fill` writes a temp file in the same directory, which is synced
/// and then renamed over `path`. A crash leaves either the old file or the new one, and a
/// failed write removes its temp file. Every result file (Parquet, figures, tables) goes
/// through here.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), String>,
) -> Result<(), ResultsError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp).map_err(|e| err(&tmp, e))?;
        fill(&mut file).map_err(|e| err(&tmp, e))?;
        file.sync_all().map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| err(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes temp files left by an interrupted writer (never a finished result).
pub fn clean_stale_temp(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".parquet.tmp-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
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
