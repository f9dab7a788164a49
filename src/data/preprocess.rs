//! Downsampling by average pooling and standardization with training statistics.

use super::{Dataset, Standardize};

/// Area-weighted average pooling of a `src x src` plane (row-major) to `dst x dst`: each output
/// pixel is the mean of the input area it covers, partial pixels weighted by their overlap, so
/// any `dst <= src` works (32 -> 10 as well as 32 -> 8) and a constant plane stays constant.
///
/// Panics if `plane` is not `src * src` long (a caller bug, not a data error).
pub fn avg_pool(plane: &[f32], src: usize, dst: usize) -> Vec<f32> {
    PoolWeights::new(src, dst).apply(plane)
}

/// The per-axis overlap weights of a pooling, computed once and applied to many planes.
pub(crate) struct PoolWeights {
    src: usize,
    /// `axis[o]` = (input index, weight) pairs of output index `o`; the weights sum to 1.
    axis: Vec<Vec<(usize, f64)>>,
}

impl PoolWeights {
    pub(crate) fn new(src: usize, dst: usize) -> Self {
        // Output cell o covers [o * scale, (o + 1) * scale) in input coordinates.
        let scale = src as f64 / dst as f64;
        let axis = (0..dst)
            .map(|o| {
                let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
                (lo.floor() as usize..(hi.ceil() as usize).min(src))
                    .map(|i| (i, (hi.min(i as f64 + 1.0) - lo.max(i as f64)) / scale))
                    .filter(|&(_, w)| w > 0.0)
                    .collect()
            })
            .collect();
        PoolWeights { src, axis }
    }

    pub(crate) fn apply(&self, plane: &[f32]) -> Vec<f32> {
        let src = self.src;
        assert_eq!(
            plane.len(),
            src * src,
            "avg_pool: plane is not {src} x {src}"
        );
        let mut out = Vec::with_capacity(self.axis.len().pow(2));
        for rows in &self.axis {
            for cols in &self.axis {
                let mut acc = 0.0;
                for &(r, wr) in rows {
                    for &(c, wc) in cols {
                        acc += wr * wc * f64::from(plane[r * src + c]);
                    }
                }
                out.push(acc as f32);
            }
        }
        out
    }
}

/// Standardizes train and test features in place with statistics of the training set only, so
/// that nothing about the test set leaks into training.
///
/// `Scalar` uses one mean and std over all training values (it keeps the relative scale of the
/// features, as the authors do); `PerFeature` uses each column's own; a column (or data set)
/// with std 0 is only centered.
pub fn standardize(ds: &mut Dataset, how: Standardize) {
    if let Some(stats) = Standardization::fit(ds, how) {
        stats.apply(&mut ds.x);
        stats.apply(&mut ds.x_test);
    }
}

/// The statistics a standardization fitted on a training set: one mean and std per feature
/// (the same value repeated for `Scalar`). A saved model keeps them, so that new data is
/// transformed exactly as the training data was.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardization {
    /// The statistics of `ds`'s training features (None for `Standardize::None` or no data).
    pub fn fit(ds: &Dataset, how: Standardize) -> Option<Standardization> {
        let (n, d) = (ds.n, ds.d);
        if n == 0 || d == 0 {
            return None;
        }
        let (mean, std): (Vec<f64>, Vec<f64>) = match how {
            Standardize::None => return None,
            Standardize::Scalar => {
                let (m, s) = mean_std(&ds.x);
                (vec![m; d], vec![s; d])
            }
            Standardize::PerFeature => (0..d)
                .map(|j| {
                    let column: Vec<f32> = ds.x.iter().skip(j).step_by(d).copied().collect();
                    mean_std(&column)
                })
                .unzip(),
        };
        Some(Standardization { mean, std })
    }

    /// Transforms row-major rows of `mean.len()` features in place: (x - mean) / std, in f64.
    pub fn apply(&self, x: &mut [f32]) {
        for row in x.chunks_mut(self.mean.len().max(1)) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = ((f64::from(*v) - m) / s) as f32;
            }
        }
    }
}

/// Mean and (population) standard deviation, in f64 so that 3 million f32 values sum exactly
/// enough; the std is 1 where the values are constant, so they are only centered.
fn mean_std(values: &[f32]) -> (f64, f64) {
    let count = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / count;
    let std = var.sqrt();
    (mean, if std > 0.0 { std } else { 1.0 })
}
