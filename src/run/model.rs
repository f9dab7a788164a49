//! Saved models: a run's trained network and everything prediction needs, in one safetensors
//! file (`<out>/<experiment>/models/<run-id>.safetensors`), the format burn, PyTorch and the
//! Hugging Face tools read.
//!
//! Tensors: `layer1.weight` (f32, d_in x m: column j is hidden neuron j's input weights, the
//! bias weight in the last row when `bias`), `layer2.weight` (f32, m), and with standardized
//! data `standardize.mean` and `standardize.std` (f64, one per feature, fitted on the training
//! set). Metadata (strings): `format`, `run_id`, `experiment`, `method`, `backend`, `readout`
//! (`paired`: ADMM, w2 = +1 for the first P neurons and -1 for the next P; `dense`: Adam),
//! `bias`, `labels` (which class is -1 and which +1), `test_acc` (as recorded) and `config`
//! (the run's whole resolved configuration, JSON: the data section gives the source, classes
//! and pooling).

use crate::backend::BackendKind;
use crate::data::{DataConfig, DataSource, Standardization};
use crate::manifest::PlannedRun;
use crate::results::safe::Staged;
use crate::results::{stage, ResultsError};
use admm_engine::adam::{Network, Readout};
use admm_engine::loss::Loss;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The `format` metadata value of the files this version writes.
pub const FORMAT: &str = "admm-runner-model/1";

/// A model file that cannot be read, naming the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("model {}: {reason}", path.display())]
pub struct ModelError {
    pub path: PathBuf,
    pub reason: String,
}

/// A trained network with its preprocessing and provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedModel {
    pub network: Network,
    pub standardization: Option<Standardization>,
    pub run_id: String,
    pub experiment: String,
    pub method: String,
    /// The backend it was trained on (prediction uses it unless told otherwise).
    pub backend: BackendKind,
    /// The run's seed (it picks the data subsets when `data.seed` is not set).
    pub seed: u64,
    /// The training run's data section: source, classes, pooling, standardization kind.
    pub data: DataConfig,
    /// The test accuracy the run recorded (NaN without a test set).
    pub test_acc: f64,
    /// The run's resolved configuration, as JSON.
    pub config: String,
}

impl SavedModel {
    /// The model of a finished run.
    pub fn of_run(
        run: &PlannedRun,
        network: Network,
        standardization: Option<Standardization>,
        test_acc: Option<f64>,
    ) -> Self {
        let cfg = &run.config;
        SavedModel {
            network,
            standardization,
            run_id: run.id.clone(),
            experiment: cfg.experiment.clone(),
            method: cfg.solver.method.kind().to_string(),
            backend: cfg.backend,
            seed: cfg.seed,
            data: cfg.data.clone(),
            test_acc: test_acc.unwrap_or(f64::NAN),
            config: serde_json::to_string(cfg).unwrap_or_default(),
        }
    }

    /// Writes the file atomically (a crash leaves the old file or the new one).
    pub fn write(&self, path: &Path) -> Result<(), ResultsError> {
        let staged = self.stage(path)?;
        staged.commit(path).map_err(|e| ResultsError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The file written to a temp file for `path`, not yet in place (`results::stage`).
    pub fn stage(&self, path: &Path) -> Result<Staged, ResultsError> {
        let bytes = self.to_bytes().map_err(|reason| ResultsError {
            path: path.to_path_buf(),
            reason,
        })?;
        stage(path, |file| {
            use std::io::Write;
            file.write_all(&bytes).map_err(|e| e.to_string())
        })
    }

    /// The safetensors bytes.
    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let net = &self.network;
        let mut buffers: Vec<Buffer> = vec![
            (
                "layer1.weight",
                Dtype::F32,
                vec![net.d_in, net.width],
                f32s(&net.w1),
            ),
            (
                "layer2.weight",
                Dtype::F32,
                layer2_shape(net),
                f32s(&net.w2),
            ),
        ];
        if let Some(s) = &self.standardization {
            buffers.push((
                "standardize.mean",
                Dtype::F64,
                vec![s.mean.len()],
                f64s(&s.mean),
            ));
            buffers.push((
                "standardize.std",
                Dtype::F64,
                vec![s.std.len()],
                f64s(&s.std),
            ));
        }
        serialize(&buffers, self.metadata())
    }

    fn metadata(&self) -> HashMap<String, String> {
        let (readout, p) = match self.network.readout {
            Readout::Paired { p } => ("paired", p.to_string()),
            Readout::Dense => ("dense", String::new()),
        };
        let mut m: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("run_id", self.run_id.clone()),
            ("experiment", self.experiment.clone()),
            ("method", self.method.clone()),
            ("backend", self.backend.to_string()),
            ("seed", self.seed.to_string()),
            ("readout", readout.to_string()),
            ("bias", self.network.bias.to_string()),
            ("labels", labels(&self.data)),
            ("test_acc", self.test_acc.to_string()),
            ("config", self.config.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if !p.is_empty() {
            m.insert("patterns".into(), p);
        }
        // Only where it is not the default, so that binary squared-loss files keep their bytes.
        if self.network.loss != Loss::Squared {
            m.insert("loss".into(), self.network.loss.name().into());
        }
        m
    }

    /// Reads a model file, checking its format, shapes and metadata.
    pub fn read(path: &Path) -> Result<SavedModel, ModelError> {
        let bad = |reason: String| ModelError {
            path: path.to_path_buf(),
            reason,
        };
        // A regular file only: a FIFO would block and a device such as /dev/zero never ends.
        let bytes = crate::results::safe::read_regular(path, u64::MAX)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let tensors =
            SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("unreadable: {e}")))?;
        let get = |key: &str| {
            meta.get(key)
                .cloned()
                .ok_or_else(|| bad(format!("metadata has no `{key}`")))
        };
        let format = get("format")?;
        if format != FORMAT {
            return Err(bad(format!(
                "format {format:?}: this version reads {FORMAT:?} only"
            )));
        }
        let config: serde_json::Value = serde_json::from_str(&get("config")?)
            .map_err(|e| bad(format!("metadata `config` is not JSON: {e}")))?;
        let field = |key: &str| config.get(key).cloned().unwrap_or_default();
        let data: DataConfig = serde_json::from_value(field("data"))
            .map_err(|e| bad(format!("metadata `config.data`: {e}")))?;
        let backend: BackendKind = serde_json::from_value(field("backend"))
            .map_err(|e| bad(format!("metadata `config.backend`: {e}")))?;
        Ok(SavedModel {
            network: network(&tensors, &meta).map_err(bad)?,
            standardization: standardization(&tensors).map_err(bad)?,
            run_id: get("run_id")?,
            experiment: get("experiment")?,
            method: get("method")?,
            backend,
            seed: field("seed").as_u64().unwrap_or(0),
            data,
            test_acc: get("test_acc")?.parse().unwrap_or(f64::NAN),
            config: get("config")?,
        })
    }
}

/// `layer2.weight`'s shape: [m] for one output (the format before outputs existed), [m, C].
fn layer2_shape(net: &Network) -> Vec<usize> {
    if net.outputs == 1 {
        vec![net.width]
    } else {
        vec![net.width, net.outputs]
    }
}

/// Which class is -1 and which +1 (or which class each output scores), in words.
pub fn labels(data: &DataConfig) -> String {
    match data.source {
        DataSource::Cifar10 if data.classes.len() == 2 => format!(
            "-1 = CIFAR-10 class {}, +1 = CIFAR-10 class {}",
            data.classes[0], data.classes[1]
        ),
        DataSource::Cifar10 => {
            let each: Vec<String> = data
                .classes
                .iter()
                .enumerate()
                .map(|(k, c)| format!("{k} = CIFAR-10 class {c}"))
                .collect();
            format!("output / label {}", each.join(", "))
        }
        DataSource::Synthetic if data.classes.len() > 2 => {
            "output / label k = the synthetic teacher's output k".into()
        }
        DataSource::Synthetic => "-1 / +1 = the sign of the synthetic teacher".into(),
        DataSource::Npy => {
            "-1 / +1, or the class indices 0..K-1, as in the training labels (.npy)".into()
        }
    }
}

/// The network from the weight tensors and the `readout`, `patterns` and `bias` metadata.
fn network(t: &SafeTensors, meta: &HashMap<String, String>) -> Result<Network, String> {
    let (w1, s1) = floats32(t, "layer1.weight")?;
    let (w2, s2) = floats32(t, "layer2.weight")?;
    let [d_in, width] = s1[..] else {
        return Err(format!(
            "`layer1.weight` has shape {s1:?}, expected [d_in, m]"
        ));
    };
    let outputs = match s2[..] {
        [m] if m == width => 1,
        [m, c] if m == width && c >= 2 => c,
        _ => {
            return Err(format!(
                "`layer2.weight` has shape {s2:?}, expected [{width}] or [{width}, C]"
            ))
        }
    };
    let loss = match meta.get("loss") {
        None => Loss::Squared, // written before models recorded their loss
        Some(name) => {
            Loss::parse(name).ok_or_else(|| format!("metadata `loss` is {name:?}: not a loss"))?
        }
    };
    let bias = meta.get("bias").map(String::as_str) == Some("true");
    let readout = match meta.get("readout").map(String::as_str) {
        Some("dense") => Readout::Dense,
        Some("paired") => {
            let p = meta.get("patterns").and_then(|p| p.parse::<usize>().ok());
            match p {
                Some(p) if 2 * p * outputs == width => Readout::Paired { p },
                _ => {
                    return Err(format!(
                        "metadata `patterns` must be m/(2C) = {}",
                        width / (2 * outputs)
                    ))
                }
            }
        }
        other => {
            return Err(format!(
                "metadata `readout` is {other:?}, not paired or dense"
            ))
        }
    };
    if d_in <= usize::from(bias) {
        return Err(format!(
            "`layer1.weight` has {d_in} rows: no input features"
        ));
    }
    Ok(Network {
        d_in,
        width,
        w1,
        w2,
        outputs,
        loss,
        bias,
        readout,
    })
}

/// The standardization statistics, when the file has them.
fn standardization(t: &SafeTensors) -> Result<Option<Standardization>, String> {
    if t.tensor("standardize.mean").is_err() {
        return Ok(None);
    }
    let mean = floats64(t, "standardize.mean")?;
    let std = floats64(t, "standardize.std")?;
    if mean.len() != std.len() {
        return Err("`standardize.mean` and `standardize.std` differ in length".into());
    }
    Ok(Some(Standardization { mean, std }))
}

fn floats32(t: &SafeTensors, name: &str) -> Result<(Vec<f32>, Vec<usize>), String> {
    let v = t.tensor(name).map_err(|e| format!("`{name}`: {e}"))?;
    if v.dtype() != Dtype::F32 {
        return Err(format!("`{name}` is {:?}, expected F32", v.dtype()));
    }
    let values = v
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((values, v.shape().to_vec()))
}

fn floats64(t: &SafeTensors, name: &str) -> Result<Vec<f64>, String> {
    let v = t.tensor(name).map_err(|e| format!("`{name}`: {e}"))?;
    if v.dtype() != Dtype::F64 {
        return Err(format!("`{name}` is {:?}, expected F64", v.dtype()));
    }
    Ok(v.data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect())
}

/// One named tensor before serialization: name, dtype, shape and little-endian bytes.
pub(super) type Buffer<'a> = (&'a str, Dtype, Vec<usize>, Vec<u8>);

/// The little-endian bytes of f32 values.
pub(super) fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The little-endian bytes of f64 values.
pub(super) fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The safetensors file of `buffers` with `meta` (the saved model and the ADMM checkpoint).
pub(super) fn serialize(
    buffers: &[Buffer],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data).map(|v| (*name, v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())
}
