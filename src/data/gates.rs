//! The problem's one input that may come from a file: gates in a `.npy` (d x P), read here so
//! that the engine only ever sees arrays.

use super::{read_npy_f64, DataError, Dataset};
use admm_engine::problem::{Gates, Problem, ProblemConfig, ProblemError};
use admm_engine::Loss;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The manifest's `problem:` section: what defines the convex problem besides the data.
/// (Its serialization is part of the run id: keep it field for field.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemSection {
    /// Number of sampled gate vectors P (before duplicate patterns are dropped).
    pub patterns: usize,
    /// Weight-decay / group-lasso strength beta.
    #[serde(default = "default_beta")]
    pub beta: f64,
    #[serde(default)]
    pub loss: Loss,
    /// Append a column of ones to X (the gates get that coordinate too).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Gates from a `.npy` file (d x P, with the bias row if `bias`), instead of sampling.
    #[serde(default)]
    pub gates: Option<PathBuf>,
}

fn default_beta() -> f64 {
    1e-3
}

fn yes() -> bool {
    true
}

impl ProblemSection {
    /// The engine's own range checks (the gates file is read only when the problem is built).
    pub fn validate(&self) -> Result<(), admm_engine::InvalidOption> {
        self.without_gates().validate()
    }

    /// The engine's configuration without reading the gates file: what Adam, which has no
    /// gates, needs.
    pub fn without_gates(&self) -> ProblemConfig {
        ProblemConfig {
            patterns: self.patterns,
            beta: self.beta,
            loss: self.loss,
            bias: self.bias,
            gates: None,
        }
    }

    /// The engine's configuration, with the gates file read (when one is named).
    pub fn to_engine(&self) -> Result<ProblemConfig, DataError> {
        let gates = match &self.gates {
            None => None,
            Some(path) => {
                let (vals, shape) = read_npy_f64(path)?;
                let [rows, cols] = shape[..] else {
                    return Err(DataError::file(
                        path,
                        format!("problem.gates: expected a 2-D array (d, P), got shape {shape:?}"),
                    ));
                };
                Some(Gates {
                    rows,
                    cols,
                    values: vals.iter().map(|&v| v as f32).collect(),
                })
            }
        };
        Ok(ProblemConfig {
            patterns: self.patterns,
            beta: self.beta,
            loss: self.loss,
            bias: self.bias,
            gates,
        })
    }

    /// The problem on `device`: the gates file read, and a complaint about it naming the file.
    pub fn build<B: Backend>(
        &self,
        data: &Dataset,
        seed: u64,
        device: &B::Device,
    ) -> Result<Problem<B>, DataError> {
        let cfg = self.to_engine()?;
        Problem::<B>::new(data, &cfg, seed, device).map_err(|e| match (e, &self.gates) {
            (ProblemError::Gates(reason), Some(path)) => {
                DataError::file(path, format!("problem.gates: {reason}"))
            }
            (e, _) => DataError::Problem(e),
        })
    }
}
