//! Small tensor helpers every module uses: host <-> device copies and one-number reads.
//!
//! They live apart from `problem` so that `loss` (which reads numbers back) and `problem`
//! (which uses losses) do not import each other.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// Appends a column of ones to a row-major matrix.
pub fn with_bias(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * (d + 1));
    for row in x.chunks(d.max(1)).take(n) {
        out.extend_from_slice(row);
        out.push(1.0);
    }
    out
}

/// Builds a 2-D tensor from row-major host data.
pub fn tensor2<B: Backend>(
    data: &[f32],
    rows: usize,
    cols: usize,
    dev: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(data.to_vec(), [rows, cols]), dev)
}

/// Reads a tensor back to the host as f64, row-major.
pub fn to_host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .into_vec::<f64>()
        .unwrap_or_default()
}

/// Reads a one-element tensor as f64 (forces a device sync).
pub fn scalar<B: Backend, const D: usize>(t: Tensor<B, D>) -> f64 {
    to_host(t.sum()).first().copied().unwrap_or(f64::NAN)
}
