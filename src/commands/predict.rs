//! `admm-runner predict MODEL [DATA...]`: a saved model's predictions on new data, written as
//! CSV or `.npy`, with the accuracy printed when labels are known.
//!
//! DATA is one of: nothing (the model's own data section, i.e. the test set it was scored
//! on), a manifest (its first planned run's data section), or `X.npy [Y.npy]` (features as the
//! data source yields them before standardization: for CIFAR-10, pooled pixels in [0, 1]).
//! The model's standardization statistics are applied, never refitted.

use crate::backend::{self, BackendKind, BackendTask};
use crate::data::{self, read_npy_f64, DataConfig, DataSource};
use crate::manifest::{self, ManifestError};
use crate::run::model::{ModelError, SavedModel};
use admm_engine::adam::{Network, Scored};
use burn::tensor::backend::Backend;
use figment::value::Value;
use std::path::{Path, PathBuf};

/// Why prediction could not run: bad input, named by file and key.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Data(String),
    #[error("{path}: cannot write: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// Examples to predict: features before standardization, labels if known, and where from.
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    pub n: usize,
    pub d: usize,
    pub x: Vec<f32>,
    /// +1/-1 labels, empty when unknown.
    pub y: Vec<f32>,
    /// "the test set of <what>" and the like, for the printed line.
    pub what: String,
}

/// What `predict` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub scored: Scored,
    pub examples: usize,
    pub what: String,
    pub backend: BackendKind,
}

/// Loads the examples DATA names (see the module doc).
pub fn examples(
    model: &SavedModel,
    data: &[PathBuf],
    overrides: &[(String, Value)],
) -> Result<Examples, PredictError> {
    match data {
        [] => from_section(&model.data, model.seed, model, "its own data section"),
        [one] if is_manifest(one) => {
            let run = manifest::plan(one, overrides)?.into_iter().next();
            let run =
                run.ok_or_else(|| PredictError::Data(format!("{}: no runs", one.display())))?;
            let what = format!("the data section of {}", one.display());
            from_section(&run.config.data, run.config.seed, model, &what)
        }
        [x] => from_npy(x, None),
        [x, y] => from_npy(x, Some(y)),
        _ => Err(PredictError::Data(
            "DATA is a manifest, or X.npy with an optional Y.npy: at most two paths".into(),
        )),
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "toml")
    )
}

/// The test set (else the training set) of a data section, before standardization, checked
/// against the model: same classes (they fix what -1 and +1 mean).
fn from_section(
    cfg: &DataConfig,
    seed: u64,
    model: &SavedModel,
    what: &str,
) -> Result<Examples, PredictError> {
    if cfg.source == DataSource::Cifar10
        && model.data.source == DataSource::Cifar10
        && cfg.classes != model.data.classes
    {
        return Err(PredictError::Data(format!(
            "{what}: data.classes = {:?}, but the model was trained on {:?} (-1 and +1 would mean other classes)",
            cfg.classes, model.data.classes
        )));
    }
    let ds = data::load_raw(cfg, seed).map_err(|e| PredictError::Data(e.to_string()))?;
    check_classes(ds.classes, &model.network, what)?;
    Ok(if ds.n_test > 0 {
        Examples {
            n: ds.n_test,
            d: ds.d,
            x: ds.x_test,
            y: ds.y_test,
            what: format!("the test set of {what}"),
        }
    } else {
        Examples {
            n: ds.n,
            d: ds.d,
            x: ds.x,
            y: ds.y,
            what: format!("the training set of {what} (it has no test set)"),
        }
    })
}

/// Refuses data with another number of classes than the model's (one output is two classes):
/// its labels would be read in the model's coding and the accuracy would mean nothing. Says
/// so in the data's terms before any label is looked at (`check_examples` would name only the
/// first label out of range).
fn check_classes(data: usize, net: &Network, what: &str) -> Result<(), PredictError> {
    let model = net.outputs.max(2);
    if data == model {
        return Ok(());
    }
    Err(PredictError::Data(format!(
        "{what}: the data has {data} classes, but the model was trained on {model}"
    )))
}

/// Features from `x` (n x d) and labels from `y` (n values, +1/-1 or 0/1 as 0 -> -1).
fn from_npy(x: &Path, y: Option<&PathBuf>) -> Result<Examples, PredictError> {
    let file_err = |p: &Path, why: String| PredictError::Data(format!("{}: {why}", p.display()));
    let (xv, shape) = read_npy_f64(x).map_err(|e| PredictError::Data(e.to_string()))?;
    let [n, d] = shape[..] else {
        return Err(file_err(
            x,
            format!("expected a 2-D array (n, d), got shape {shape:?}"),
        ));
    };
    let labels = match y {
        None => Vec::new(),
        Some(y) => {
            let (yv, ys) = read_npy_f64(y).map_err(|e| PredictError::Data(e.to_string()))?;
            if yv.len() != n {
                return Err(file_err(
                    y,
                    format!("{} labels for {n} examples ({ys:?})", yv.len()),
                ));
            }
            // Two classes: +1/-1, or 0/1 with 0 -> -1. More: the class indices as they are.
            let binary = yv.iter().all(|v| [-1.0, 0.0, 1.0].contains(v));
            yv.iter()
                .map(|&v| match (binary, v > 0.0) {
                    (false, _) => v as f32,
                    (true, true) => 1.0,
                    (true, false) => -1.0,
                })
                .collect()
        }
    };
    Ok(Examples {
        n,
        d,
        x: xv.iter().map(|&v| v as f32).collect(),
        y: labels,
        what: x.display().to_string(),
    })
}

/// Standardizes the examples with the model's statistics and scores them on `backend`.
pub fn predict(
    model: &SavedModel,
    mut ex: Examples,
    backend: BackendKind,
) -> Result<Prediction, PredictError> {
    let want = model.network.features();
    if ex.d != want {
        return Err(PredictError::Data(format!(
            "{}: {} features per example, but the model takes {want} (data.downsample = {:?} when it was trained)",
            ex.what, ex.d, model.data.downsample
        )));
    }
    check_examples(&model.network, &ex)?;
    if let Some(stats) = &model.standardization {
        stats.apply(&mut ex.x);
    }
    let task = Score {
        net: &model.network,
        ex: &ex,
    };
    let scored = backend::dispatch(backend, task).map_err(|e| PredictError::Data(e.to_string()))?;
    Ok(Prediction {
        scored,
        examples: ex.n,
        what: ex.what,
        backend,
    })
}

/// Refuses what the model cannot score: a feature that is not a finite number (NaN, inf), and
/// labels that are not among the model's classes (+1/-1 for one output, 0..C-1 for C): an
/// accuracy over them would mean nothing. Errors name the value and its index.
fn check_examples(net: &Network, ex: &Examples) -> Result<(), PredictError> {
    let d = ex.d.max(1);
    if let Some((i, v)) = ex.x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(PredictError::Data(format!(
            "{}: feature {} of example {} is {v}: predict needs finite numbers",
            ex.what,
            i % d,
            i / d
        )));
    }
    let c = net.outputs;
    let allowed = |v: f32| {
        if c <= 1 {
            v == 1.0 || v == -1.0
        } else {
            v >= 0.0 && v.fract() == 0.0 && (v as usize) < c
        }
    };
    if let Some((i, v)) = ex.y.iter().enumerate().find(|(_, &v)| !allowed(v)) {
        let classes = if c <= 1 {
            "a binary model: labels +1/-1 (or 0/1)".to_string()
        } else {
            format!("a model with {c} classes: labels 0..{}", c - 1)
        };
        return Err(PredictError::Data(format!(
            "{}: label {v} at index {i} is not one of the model's classes ({classes})",
            ex.what
        )));
    }
    Ok(())
}

/// Scores the examples on one backend.
struct Score<'a> {
    net: &'a Network,
    ex: &'a Examples,
}

impl BackendTask for Score<'_> {
    type Output = Scored;
    fn run<B: Backend>(self, device: B::Device) -> Scored {
        self.net
            .score::<B>(&self.ex.x, &self.ex.y, self.ex.n, &device)
    }
}

/// Writes the outputs: `.npy` (f64, n, or n x C with C outputs) or CSV
/// (`index,output,predicted,label`; with C outputs `output` is the largest score).
pub fn write(path: &Path, p: &Prediction, labels: &[f32]) -> Result<(), PredictError> {
    let is_npy = path.extension().and_then(|e| e.to_str()) == Some("npy");
    let c = (p.scored.outputs.len() / p.examples.max(1)).max(1);
    let bytes = if is_npy {
        npy_f64(&p.scored.outputs, c)
    } else {
        csv(&p.scored.outputs, c, labels).into_bytes()
    };
    write_output(path, &bytes)
}

/// Refuses an output that would destroy what it names: one of the inputs (the model or a data
/// file, compared by device and inode, so that another spelling or a hard link is caught too),
/// or a symbolic link (we never replace a link nor write through one: name its target).
pub fn check_output(out: &Path, inputs: &[&Path]) -> Result<(), PredictError> {
    let refuse = |reason: String| PredictError::Write {
        path: out.to_path_buf(),
        reason,
    };
    let Ok(meta) = std::fs::symlink_metadata(out) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            "is a symbolic link; predict neither replaces a link nor writes through one (name \
             the file it points to)"
                .into(),
        ));
    }
    for input in inputs {
        if std::fs::metadata(input).is_ok_and(|m| same_file(&m, &meta)) {
            return Err(refuse(format!(
                "is the input {}: writing the outputs there would destroy it",
                input.display()
            )));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Writes the outputs: a regular file (or a new name) atomically; an existing device or FIFO
/// (`/dev/null`, `/dev/stdout`, a pipe) is written through, never replaced by a file.
fn write_output(path: &Path, bytes: &[u8]) -> Result<(), PredictError> {
    let write_err = |reason: String| PredictError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let existing = std::fs::symlink_metadata(path).ok();
    if let Some(meta) = existing.filter(|m| !m.is_file() && !m.file_type().is_symlink()) {
        if meta.is_dir() {
            return Err(write_err("is a folder".into()));
        }
        return write_through(path, bytes).map_err(|e| write_err(e.to_string()));
    }
    crate::results::write_atomically(path, |file| {
        use std::io::Write;
        file.write_all(bytes).map_err(|e| e.to_string())
    })
    .map_err(|e| write_err(e.reason))
}

/// Writes into an existing non-regular file (never creating, truncating or following a link).
fn write_through(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = opts.open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// One row per example: the network output, the predicted label and the true label if known.
/// The label follows the accuracy's tie rule (`Loss::accuracy`): +1 when the output is > 0, -1
/// when < 0, and empty for an output of exactly 0; with C outputs the class of the largest
/// score, empty when several classes share it (the accuracy counts such a row 1/k right).
fn csv(outputs: &[f64], c: usize, labels: &[f32]) -> String {
    let mut text = String::from("index,output,predicted,label\n");
    for (i, row) in outputs.chunks(c).enumerate() {
        let label = labels.get(i).map(|l| format!("{l}")).unwrap_or_default();
        let (o, pred) = predicted(row);
        let pred = pred.map(|p| p.to_string()).unwrap_or_default();
        text += &format!("{i},{o:e},{pred},{label}\n");
    }
    text
}

/// The output shown for one example and its label, None on a tie (see `csv`).
fn predicted(row: &[f64]) -> (f64, Option<i64>) {
    if let [o] = row {
        let label = (*o != 0.0).then_some(if *o > 0.0 { 1 } else { -1 });
        return (*o, label);
    }
    let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let classes: Vec<usize> = (0..row.len()).filter(|&k| row[k] == best).collect();
    match classes[..] {
        [k] => (best, Some(k as i64)),
        _ => (best, None),
    }
}

/// A little-endian f64 `.npy` file (format 1.0): 1-D for one output, n x C for more.
fn npy_f64(values: &[f64], c: usize) -> Vec<u8> {
    let shape = if c == 1 {
        format!("({},)", values.len())
    } else {
        format!("({}, {c})", values.len() / c)
    };
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64.
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    let header = format!("{dict:<width$}\n", width = total - 10 - 1);
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSV labels ties as the accuracy counts them: no label for an output of exactly 0 or
    /// a shared largest score, so that a zero model's file is not silently "all -1".
    #[test]
    fn a_tie_has_no_predicted_label() {
        let one = csv(&[0.5, 0.0, -2.0], 1, &[1.0, 1.0, -1.0]);
        let rows: Vec<&str> = one.lines().skip(1).collect();
        assert_eq!(rows, ["0,5e-1,1,1", "1,0e0,,1", "2,-2e0,-1,-1"]);
        let three = csv(&[0.0, 0.0, 0.0, 1.0, 3.0, 2.0], 3, &[]);
        let rows: Vec<&str> = three.lines().skip(1).collect();
        assert_eq!(rows, ["0,0e0,,", "1,3e0,1,"]);
    }
}
