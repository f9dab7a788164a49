//! Downsampling by average pooling and standardization with training statistics.

use super::{Dataset, Standardize};

/// Area-weighted average pooling of a `src x src` plane to `dst x dst` (any dst <= src): each
/// output pixel averages the input pixels it covers, weighting partial overlaps by area.
pub fn avg_pool(plane: &[f32], src: usize, dst: usize) -> Vec<f32> {
    let scale = src as f64 / dst as f64;
    // weights[o] = (input index, overlap) pairs for output index o along one axis.
    let weights: Vec<Vec<(usize, f64)>> = (0..dst)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            (lo.floor() as usize..(hi.ceil() as usize).min(src))
                .map(|i| (i, (hi.min(i as f64 + 1.0) - lo.max(i as f64)) / scale))
                .filter(|(_, w)| *w > 0.0)
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(dst * dst);
    for wr in &weights {
        for wc in &weights {
            let mut acc = 0.0;
            for &(r, a) in wr {
                for &(c, b) in wc {
                    acc += a * b * f64::from(plane[r * src + c]);
                }
            }
            out.push(acc as f32);
        }
    }
    out
}

/// Standardizes train and test features in place with statistics of the training set only.
pub fn standardize(ds: &mut Dataset, how: Standardize) {
    let (n, d) = (ds.n, ds.d);
    if n == 0 || d == 0 {
        return;
    }
    let (mean, std): (Vec<f64>, Vec<f64>) = match how {
        Standardize::None => return,
        Standardize::Scalar => {
            let (m, s) = mean_std(ds.x.iter().copied());
            (vec![m; d], vec![s; d])
        }
        Standardize::PerFeature => (0..d)
            .map(|j| mean_std((0..n).map(|i| ds.x[i * d + j])))
            .unzip(),
    };
    let apply = |x: &mut [f32]| {
        for row in x.chunks_mut(d) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = ((f64::from(*v) - mean[j]) / std[j]) as f32;
            }
        }
    };
    apply(&mut ds.x);
    apply(&mut ds.x_test);
}

/// Mean and standard deviation (1 where the values are constant, so they are only centered).
fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let (mut count, mut sum) = (0usize, 0.0f64);
    for v in values.clone() {
        count += 1;
        sum += f64::from(v);
    }
    let mean = sum / count.max(1) as f64;
    let var = values.map(|v| (f64::from(v) - mean).powi(2)).sum::<f64>() / count.max(1) as f64;
    let std = var.sqrt();
    (mean, if std > 0.0 { std } else { 1.0 })
}
