//! A validation split of the training set, for choosing beta on data the solver never saw.

use super::Dataset;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// The held-out part of a training set: its examples (same layout as `Dataset`) and the
/// indices they had in the training set before the split.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    pub n: usize,
    /// n x d, row-major.
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    /// Positions in the original training set, increasing.
    pub rows: Vec<usize>,
}

/// Moves a seeded random `fraction` of `ds`'s training examples (at least one, and at least
/// one left to train on) into a holdout; the test set is untouched. Returns the holdout and
/// the training positions kept, both increasing, so that callers can check the two are
/// disjoint. The shuffle has its own stream, so the split does not move other draws.
pub fn split_validation(ds: &mut Dataset, fraction: f64, seed: u64) -> (Holdout, Vec<usize>) {
    let n = ds.n;
    let want = (fraction * n as f64).round() as usize;
    let k = want.clamp(1, n.saturating_sub(1).max(1)).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15));
    let mut held: Vec<usize> = order[..k].to_vec();
    let mut kept: Vec<usize> = order[k..].to_vec();
    held.sort_unstable();
    kept.sort_unstable();
    let d = ds.d;
    let rows_of = |idx: &[usize]| -> Vec<f32> {
        idx.iter()
            .flat_map(|&i| ds.x[i * d..(i + 1) * d].iter().copied())
            .collect()
    };
    let labels_of = |idx: &[usize]| -> Vec<f32> { idx.iter().map(|&i| ds.y[i]).collect() };
    let holdout = Holdout {
        n: held.len(),
        x: rows_of(&held),
        y: labels_of(&held),
        rows: held,
    };
    ds.x = rows_of(&kept);
    ds.y = labels_of(&kept);
    ds.n = kept.len();
    (holdout, kept)
}
