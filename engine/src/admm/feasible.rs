//! A feasible point next to an ADMM iterate, so that the certificate's upper bound is sound.
//!
//! ADMM's v meets the cone constraints G v >= 0 only up to the primal residual, and the
//! objective at an infeasible v can lie below the optimum (measured: rbcd on cross-entropy
//! reported rel_gap -5.4e-4). The gap certifies something only when its upper bound is the
//! objective of a point that is feasible. Restoration is cheap because every pattern's gate
//! h_i lies inside its own cone: S_i X h_i >= 0 row by row (M[k, i] = 1 exactly when
//! x_k . h_i >= 0), with equality only on rows exactly on the gate's hyperplane. So
//! v_j + t_j h_i is feasible for t_j = max_k (-(G v)_kj / (G h)_kj) over the violated rows: a
//! shift whose size is the violation, so the objective moves by about the violation too. A
//! column violated on a row where G h is (numerically) zero cannot be shifted and is set to
//! zero, which is always feasible.

use crate::problem::{scalar, tensor2, to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// The shift is this much longer than the violation requires, so that rounding in the
/// backend's arithmetic leaves the binding row on the feasible side.
const MARGIN: f64 = 1e-6;
/// A row's (G h)_kj at most this fraction of its column's largest counts as on the hyperplane.
const ON_PLANE: f64 = 1e-9;

/// The gates per column and their images, computed once per problem.
pub struct Restorer<B: Backend> {
    /// d x 2PC: column j holds the gate of its pattern.
    h: Tensor<B, 2>,
    /// X h (n x 2PC), so that X of a restored point needs no new product with X.
    xh: Tensor<B, 2>,
    /// G h on the host, n x 2PC row-major.
    gh: Vec<f64>,
}

/// A feasible point and its objective: an upper bound on the optimum.
#[derive(Debug, Clone)]
pub struct Feasible<B: Backend> {
    /// d x 2PC, with G v >= 0 (up to the backend's rounding).
    pub v: Tensor<B, 2>,
    /// loss(F v) + beta sum_j ||v_j||.
    pub objective: f64,
    /// Columns shifted along their gate, and columns set to zero.
    pub shifted: usize,
    pub zeroed: usize,
}

impl<B: Backend> Restorer<B> {
    pub fn new(prob: &Problem<B>) -> Self {
        let (d, p, q) = (prob.d, prob.p, prob.q());
        let gates = &prob.patterns.gates;
        let mut h = vec![0f32; d * 2 * q];
        for k in 0..d {
            for j in 0..2 * q {
                h[k * 2 * q + j] = gates[k * p + (j % q) % p];
            }
        }
        let h = tensor2::<B>(&h, d, 2 * q, &prob.device);
        let xh = prob.x.clone().matmul(h.clone());
        let gh = to_host(prob.sign2.clone() * xh.clone());
        Restorer { h, xh, gh }
    }

    /// The feasible point next to `v` (v itself when it is feasible) and its objective.
    /// Costs one product X v and O(n PC) on the host.
    pub fn restore(&self, prob: &Problem<B>, v: &Tensor<B, 2>) -> Feasible<B> {
        let cols = 2 * prob.q();
        let xv = prob.x.clone().matmul(v.clone());
        let gv = to_host(prob.sign2.clone() * xv.clone());
        let mut scale = vec![0f64; cols];
        for row in self.gh.chunks(cols) {
            for (s, &g) in scale.iter_mut().zip(row) {
                *s = s.max(g);
            }
        }
        let mut t = vec![0f64; cols];
        let mut zero = vec![false; cols];
        for (grow, hrow) in gv.chunks(cols).zip(self.gh.chunks(cols)) {
            for j in 0..cols {
                if grow[j] >= 0.0 {
                    continue;
                }
                if hrow[j] > ON_PLANE * scale[j] {
                    t[j] = t[j].max(-grow[j] / hrow[j]);
                } else {
                    zero[j] = true;
                }
            }
        }
        let keep: Vec<f32> = zero.iter().map(|&z| if z { 0.0 } else { 1.0 }).collect();
        let shift: Vec<f32> = t
            .iter()
            .zip(&zero)
            .map(|(&t, &z)| if z { 0.0 } else { (t * (1.0 + MARGIN)) as f32 })
            .collect();
        let shifted = shift.iter().filter(|&&s| s > 0.0).count();
        let zeroed = zero.iter().filter(|&&z| z).count();
        if shifted == 0 && zeroed == 0 {
            return Feasible {
                v: v.clone(),
                objective: objective_from_xu(prob, v, xv),
                shifted,
                zeroed,
            };
        }
        let keep = tensor2::<B>(&keep, 1, cols, &prob.device);
        let shift = tensor2::<B>(&shift, 1, cols, &prob.device);
        let v = v.clone() * keep.clone() + self.h.clone() * shift.clone();
        let xv = xv * keep + self.xh.clone() * shift;
        Feasible {
            objective: objective_from_xu(prob, &v, xv),
            v,
            shifted,
            zeroed,
        }
    }
}

/// loss(F v) + beta sum_j ||v_j|| from v and X v.
pub fn objective_from_xu<B: Backend>(prob: &Problem<B>, v: &Tensor<B, 2>, xv: Tensor<B, 2>) -> f64 {
    let fv = prob.f_from_xu(&xv);
    let norms = (v.clone() * v.clone()).sum_dim(0).sqrt();
    prob.loss.value(fv, &prob.y) + prob.beta * scalar(norms)
}

/// The largest cone violation max(0, -(G v)) of `v`.
pub fn violation<B: Backend>(prob: &Problem<B>, v: &Tensor<B, 2>) -> f64 {
    scalar(prob.g(v).neg().max()).max(0.0)
}
