//! The training losses (`problem.loss`), what the engine needs of each, and how classes map to
//! outputs.
//!
//! Every loss is a sum over examples of a function of the prediction row Yhat_n (C outputs)
//! and the target row T_n:
//! - `squared`: 1/2 ||Yhat - T||_F^2 (binary: C = 1 and T = y in {-1, +1}; C >= 3 classes:
//!   T one-hot in {0, 1});
//! - `logistic`: sum_n log(1 + exp(-y_n yhat_n)) (binary, C = 1, T = y in {-1, +1});
//! - `cross-entropy`: sum_n logsumexp(Yhat_n) - <Yhat_n, T_n> (C >= 2 classes, T one-hot).
//!
//! The ADMM u-step majorizes the loss by its curvature bound L (`curvature`): each majorized
//! u-step is the linear system of the squared loss with rho replaced by rho / L and the
//! labels by a working response (admm/mod.rs), so every u-solver works unchanged. The
//! certificate needs the loss's convex conjugate along a ray (`best_dual_scale`).

use crate::tensor::{scalar, to_host};
use burn::tensor::activation::{log_softmax, sigmoid, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// The training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Loss {
    /// The paper's: 1/2 ||Yhat - T||^2.
    #[default]
    Squared,
    /// Binary logistic regression on the network's output.
    Logistic,
    /// Softmax cross-entropy over C outputs.
    CrossEntropy,
}

impl Loss {
    /// Every loss. Beside the enum so that a new loss is added to both at once; the matches
    /// in this file and in the engine are exhaustive, so the compiler lists the rest.
    pub const ALL: [Loss; 3] = [Loss::Squared, Loss::Logistic, Loss::CrossEntropy];

    /// The loss a name (as `name` writes it, in manifests and saved models) names.
    pub fn parse(name: &str) -> Option<Loss> {
        Loss::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The name the manifest uses.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Squared => "squared",
            Loss::Logistic => "logistic",
            Loss::CrossEntropy => "cross-entropy",
        }
    }

    /// Outputs of the network for `classes` classes: one score per class for cross-entropy
    /// and for the squared loss with three or more classes, a single signed score for two
    /// classes otherwise. Logistic is binary only.
    pub fn outputs(self, classes: usize) -> Result<usize, String> {
        match (self, classes) {
            (_, c) if c < 2 => Err(format!("{c} class: a classifier needs at least 2")),
            (Loss::CrossEntropy, c) => Ok(c),
            (Loss::Squared, 2) | (Loss::Logistic, 2) => Ok(1),
            (Loss::Squared, c) => Ok(c),
            (Loss::Logistic, c) => Err(format!(
                "the logistic loss is binary but the data has {c} classes: use cross-entropy"
            )),
        }
    }

    /// L, a bound on the loss's curvature per example (the largest eigenvalue of the Hessian
    /// of one example's loss in its C outputs): 1 (squared), 1/4 (logistic: sigma' <= 1/4),
    /// 1/2 (cross-entropy: Bohning's bound, diag(p) - p p^T <= I / 2).
    pub fn curvature(self) -> f64 {
        match self {
            Loss::Squared => 1.0,
            Loss::Logistic => 0.25,
            Loss::CrossEntropy => 0.5,
        }
    }

    /// The loss, summed over examples, of predictions `yhat` (n x C) against targets `t`.
    pub fn value<B: Backend>(self, yhat: Tensor<B, 2>, t: &Tensor<B, 2>) -> f64 {
        match self {
            Loss::Squared => {
                let r = yhat - t.clone();
                0.5 * scalar(r.clone() * r)
            }
            _ => scalar(self.sum(yhat, t)),
        }
    }

    /// `value` as a one-element tensor, differentiable (Adam descends it).
    pub fn sum<B: Backend>(self, yhat: Tensor<B, 2>, t: &Tensor<B, 2>) -> Tensor<B, 1> {
        match self {
            Loss::Squared => {
                let r = yhat - t.clone();
                (r.clone() * r).sum().mul_scalar(0.5)
            }
            Loss::Logistic => softplus(yhat.neg() * t.clone()).sum(),
            Loss::CrossEntropy => (log_softmax(yhat, 1) * t.clone()).sum().neg(),
        }
    }

    /// The gradient of `value` in the predictions (n x C): the residual of the squared loss,
    /// -y sigma(-y yhat), softmax(Yhat) - T.
    pub fn gradient<B: Backend>(self, yhat: Tensor<B, 2>, t: &Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            Loss::Squared => yhat - t.clone(),
            Loss::Logistic => sigmoid(yhat.neg() * t.clone()) * t.clone().neg(),
            Loss::CrossEntropy => softmax(yhat, 1) - t.clone(),
        }
    }

    /// The dual objective -loss*(s z) along the ray through the dual candidate z (n x C, as
    /// produced by `gradient`), maximized over 0 <= s <= s_max (s_max keeps the group
    /// constraints feasible). Returns (s, value); s = 0 is always feasible with value 0 (the
    /// conjugates vanish at 0 for the targets used here), so the value is never below 0.
    ///
    /// Conjugates (docs/certificate.md): squared: 1/2 ||z||^2 + <z, T>; logistic: sum_n
    /// a ln a + (1 - a) ln(1 - a) with a = -y_n z_n in [0, 1]; cross-entropy: sum_n sum_c
    /// q ln q with q = T_n + z_n in the simplex. The squared loss has its peak in closed form;
    /// the others are concave in s and maximized by golden-section search.
    pub fn best_dual_scale<B: Backend>(
        self,
        z: &Tensor<B, 2>,
        t: &Tensor<B, 2>,
        s_max: f64,
    ) -> (f64, f64) {
        if self == Loss::Squared {
            let zz = scalar(z.clone() * z.clone());
            let zy = scalar(z.clone() * t.clone());
            return squared_peak(zz, zy, s_max);
        }
        self.best_dual_scale_host(&to_host(z.clone()), &to_host(t.clone()), s_max)
    }

    /// `best_dual_scale` on host vectors in f64 (the interior point's certificate, whose
    /// bound must hold to 1e-6 and more, beyond f32's cancellation in the group norms).
    pub fn best_dual_scale_host(self, z: &[f64], t: &[f64], s_max: f64) -> (f64, f64) {
        if self == Loss::Squared {
            let zz = z.iter().map(|v| v * v).sum();
            let zy = z.iter().zip(t).map(|(a, b)| a * b).sum();
            return squared_peak(zz, zy, s_max);
        }
        // The conjugate's domain: every entry of T + s z (cross-entropy) or of a = -y s z
        // (logistic) stays in [0, 1].
        let mut hi = s_max;
        for (&zi, &ti) in z.iter().zip(t) {
            let (lo_v, slope) = match self {
                Loss::Logistic => (0.0, -ti * zi),
                _ => (ti, zi),
            };
            if slope < 0.0 {
                hi = hi.min(lo_v / -slope);
            } else if slope > 0.0 && self == Loss::Logistic {
                hi = hi.min(1.0 / slope);
            }
        }
        let q = |s: f64| -> f64 {
            let xlogx = |x: f64| if x > 0.0 { x * x.ln() } else { 0.0 };
            -z.iter()
                .zip(t)
                .map(|(&zi, &ti)| match self {
                    Loss::Logistic => {
                        let a = (-ti * zi * s).clamp(0.0, 1.0);
                        xlogx(a) + xlogx(1.0 - a)
                    }
                    _ => xlogx((ti + s * zi).max(0.0)),
                })
                .sum::<f64>()
        };
        maximize_concave(q, 0.0, if hi.is_finite() { hi } else { 0.0 })
    }

    /// Fraction of examples classified right: sign(yhat) = y for one output, argmax for
    /// several (the target's largest entry is the class).
    ///
    /// Ties, one rule everywhere (this, `predict`, the README): an example whose output is
    /// exactly 0 (one output), or whose largest score is shared by k classes, has no predicted
    /// label and counts 1/k right (1/2 with one output), the expected accuracy of breaking the
    /// tie by a fair coin. So the zero model, which every beta above beta_max yields, scores
    /// chance (1/2, 1/C), never 0 nor the majority rate, which would need the training labels
    /// at every evaluation and flatter a degenerate model on unbalanced data. Trained models
    /// have no exact ties, so their accuracies are what a strict rule gives.
    pub fn accuracy<B: Backend>(yhat: Tensor<B, 2>, t: &Tensor<B, 2>) -> f64 {
        let [rows, c] = yhat.dims();
        let n = rows.max(1) as f64;
        if c == 1 {
            let agree = yhat * t.clone();
            let right = scalar(agree.clone().greater_elem(0.0).float());
            return (right + 0.5 * scalar(agree.equal_elem(0.0).float())) / n;
        }
        let best = yhat.clone().max_dim(1);
        let tied = yhat.equal(best.expand([rows, c])).float();
        let k = tied.clone().sum_dim(1);
        let truth = t.clone().equal(t.clone().max_dim(1).expand([rows, c]));
        let hit = (tied * truth.float()).sum_dim(1);
        scalar(hit / k) / n
    }
}

/// The squared loss's dual along a ray, -s^2 zz / 2 - s zy with zz = ||z||^2 and zy = <z, T>,
/// maximized over 0 <= s <= s_max: the concave parabola's peak -zy / zz, clipped.
pub fn squared_peak(zz: f64, zy: f64, s_max: f64) -> (f64, f64) {
    let peak = if zz > 0.0 { -zy / zz } else { 0.0 };
    let s = peak.clamp(0.0, s_max);
    let s = if s.is_finite() { s } else { 0.0 };
    (s, -0.5 * s * s * zz - s * zy)
}

/// log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).
fn softplus<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    x.clone().clamp_min(0.0) + x.abs().neg().exp().log1p()
}

/// Golden-section search for the maximum of a concave q on [lo, hi]; returns the best point
/// evaluated (any point of the interval gives a valid bound, so rounding only loosens it).
fn maximize_concave(q: impl Fn(f64) -> f64, lo: f64, hi: f64) -> (f64, f64) {
    const ROUNDS: usize = 100;
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi.max(lo));
    let mut best = (lo, q(lo));
    let keep = |s: f64, v: f64, best: &mut (f64, f64)| {
        if v > best.1 {
            *best = (s, v);
        }
    };
    let hv = q(b);
    keep(b, hv, &mut best);
    let (mut c, mut d) = (b - r * (b - a), a + r * (b - a));
    let (mut qc, mut qd) = (q(c), q(d));
    for _ in 0..ROUNDS {
        if qc >= qd {
            keep(c, qc, &mut best);
            b = d;
            d = c;
            qd = qc;
            c = b - r * (b - a);
            qc = q(c);
        } else {
            keep(d, qd, &mut best);
            a = c;
            c = d;
            qc = qd;
            d = a + r * (b - a);
            qd = q(d);
        }
    }
    keep(c, qc, &mut best);
    keep(d, qd, &mut best);
    best
}

/// Targets for `outputs` outputs from class labels: +1/-1 labels as they are for one output;
/// one-hot rows otherwise, where a label is the class index 0..C-1 (or, for two classes
/// stored as +1/-1, index 1 for +1). Row-major n x outputs.
pub fn targets(labels: &[f32], outputs: usize) -> Vec<f32> {
    if outputs == 1 {
        return labels.to_vec();
    }
    let mut t = vec![0.0; labels.len() * outputs];
    for (row, &y) in labels.iter().enumerate() {
        let class = if y < 0.0 { 0 } else { y as usize };
        let class = if outputs == 2 && y > 0.0 { 1 } else { class };
        if class < outputs {
            t[row * outputs + class] = 1.0;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_section_finds_a_concave_peak_and_stays_in_the_interval() {
        let (s, v) = maximize_concave(|s| -(s - 0.3) * (s - 0.3), 0.0, 1.0);
        assert!((s - 0.3).abs() < 1e-9 && v <= 0.0 && v > -1e-15);
        let (s, _) = maximize_concave(|s| s, 0.0, 2.0);
        assert_eq!(s, 2.0);
    }

    #[test]
    fn every_name_parses_back_to_its_loss() {
        for loss in Loss::ALL {
            assert_eq!(Loss::parse(loss.name()), Some(loss));
        }
        assert_eq!(Loss::parse("hinge"), None);
        assert_eq!(Loss::parse("Squared"), None);
    }

    /// The tie rule by hand: with one output a 0 counts half, with C outputs a row whose
    /// largest score k classes share counts 1/k when the true class is among them.
    #[test]
    fn a_tie_counts_as_a_fair_coin_so_the_zero_model_scores_chance() {
        type Cpu = burn::backend::NdArray<f32>;
        let dev = Default::default();
        let t = |d: &[f32], r, c| crate::tensor::tensor2::<Cpu>(d, r, c, &dev);
        let y = t(&[1.0, 1.0, 1.0, -1.0], 4, 1);
        // Right, wrong, tie, tie: 1 + 0 + 1/2 + 1/2 of 4.
        assert_eq!(Loss::accuracy(t(&[2.0, -1.0, 0.0, 0.0], 4, 1), &y), 0.5);
        // The zero model on three +1 labels and one -1: chance, not 0 nor the majority 3/4.
        assert_eq!(Loss::accuracy(t(&[0.0; 4], 4, 1), &y), 0.5);
        let one_hot = t(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0], 2, 3);
        // A three-way tie (1/3) and a two-way tie holding the class (1/2).
        let scores = t(&[0.0, 0.0, 0.0, 0.0, 5.0, 5.0], 2, 3);
        let acc = Loss::accuracy(scores, &one_hot);
        assert!((acc - (1.0 / 3.0 + 0.5) / 2.0).abs() < 1e-6, "{acc}");
        // No tie: argmax as before.
        assert_eq!(
            Loss::accuracy(t(&[3.0, 1.0, 0.0, 0.0, 1.0, 2.0], 2, 3), &one_hot),
            1.0
        );
    }

    #[test]
    fn classes_map_to_outputs() {
        assert_eq!(Loss::Squared.outputs(2), Ok(1));
        assert_eq!(Loss::Logistic.outputs(2), Ok(1));
        assert_eq!(Loss::CrossEntropy.outputs(2), Ok(2));
        assert_eq!(Loss::Squared.outputs(10), Ok(10));
        assert!(Loss::Logistic.outputs(3).is_err());
        assert_eq!(targets(&[-1.0, 1.0], 2), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(targets(&[2.0, 0.0], 3), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    }
}
