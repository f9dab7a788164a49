//! The exact u-step: form A densely on the host in f64 and factor it once (Cholesky).
//! Small problems only; it is the reference the iterative solvers are tested against.

use super::{InnerStats, SolveError, USolver};
use crate::problem::{to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use faer::linalg::solvers::{Llt, Solve};
use faer::{Mat, Side};

/// Options of the exact solver (the manifest's `solver.exact` section).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct ExactOptions {
    /// Largest 2dP for which A is formed and factored.
    pub max_dim: usize,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions { max_dim: 4000 }
    }
}

impl ExactOptions {
    /// Ranges the types cannot express.
    pub fn validate(&self) -> Result<(), crate::InvalidOption> {
        if self.max_dim == 0 {
            return Err(crate::InvalidOption::new("max_dim", "must be at least 1"));
        }
        Ok(())
    }
}

/// Dense Cholesky u-solver.
pub struct Exact {
    limit: usize,
    factor: Option<Llt<f64>>,
}

impl Exact {
    pub fn new(limit: usize) -> Self {
        Exact {
            limit,
            factor: None,
        }
    }
}

/// A = I + F^T F / rho + I_2PC (x) X^T X as a dense f64 matrix, in block order
/// (index j*d + a is coordinate a of block j). Built from the host copy of X and the mask,
/// independently of the matrix-free operators, so each can check the other. F^T F couples
/// two blocks only when they feed the same output.
pub fn dense_a<B: Backend>(prob: &Problem<B>, rho: f64) -> Mat<f64> {
    let (n, d, p) = (prob.n, prob.d, prob.p);
    let q = prob.q();
    let x = |k: usize, a: usize| f64::from(prob.x_host[k * d + a]);
    let m = |k: usize, i: usize| f64::from(prob.patterns.mask[k * p + i]);
    let fv = Mat::<f64>::from_fn(n, d * p, |k, c| m(k, c / d) * x(k, c % d));
    let c = fv.transpose() * &fv;
    let xm = Mat::<f64>::from_fn(n, d, x);
    let gram = xm.transpose() * &xm;
    let (half, per_output) = (d * q, d * p);
    Mat::from_fn(2 * half, 2 * half, |r, s| {
        let sign = if (r < half) == (s < half) { 1.0 } else { -1.0 };
        let (r_in, s_in) = (r % half, s % half);
        let mut v = if r_in / per_output == s_in / per_output {
            sign * c[(r_in % per_output, s_in % per_output)] / rho
        } else {
            0.0
        };
        if r / d == s / d {
            v += gram[(r % d, s % d)];
        }
        if r == s {
            v += 1.0;
        }
        v
    })
}

/// A d x 2P block matrix as a vector in block order.
pub(crate) fn blocks_to_vec<B: Backend>(u: Tensor<B, 2>) -> Vec<f64> {
    let [d, cols] = u.dims();
    let host = to_host(u);
    (0..cols)
        .flat_map(|j| (0..d).map(move |a| (a, j)))
        .map(|(a, j)| host[a * cols + j])
        .collect()
}

/// The inverse of `blocks_to_vec`.
pub fn vec_to_blocks<B: Backend>(
    v: &[f64],
    d: usize,
    cols: usize,
    dev: &B::Device,
) -> Tensor<B, 2> {
    let data: Vec<f64> = (0..d * cols)
        .map(|idx| v[(idx % cols) * d + idx / cols])
        .collect();
    Tensor::from_data(TensorData::new(data, [d, cols]), dev)
}

impl<B: Backend> USolver<B> for Exact {
    fn prepare(&mut self, prob: &Problem<B>, rho: f64) -> Result<(), SolveError> {
        let dim = prob.dim();
        if dim > self.limit {
            return Err(SolveError::TooLarge {
                dim,
                limit: self.limit,
            });
        }
        let a = dense_a(prob, rho);
        let llt = a
            .llt(Side::Lower)
            .map_err(|e| SolveError::NotPositiveDefinite(format!("{e:?}")))?;
        self.factor = Some(llt);
        Ok(())
    }

    fn solve(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        _previous: Tensor<B, 2>,
        _k: usize,
    ) -> Result<(Tensor<B, 2>, InnerStats), SolveError> {
        if self.factor.is_none() {
            self.prepare(prob, rho)?;
        }
        let Some(llt) = &self.factor else {
            unreachable!("prepared above")
        };
        let rhs = blocks_to_vec(b);
        let mut col = Mat::<f64>::from_fn(rhs.len(), 1, |i, _| rhs[i]);
        llt.solve_in_place(&mut col);
        let sol: Vec<f64> = (0..rhs.len()).map(|i| col[(i, 0)]).collect();
        let u = vec_to_blocks::<B>(&sol, prob.d, 2 * prob.q(), &prob.device);
        Ok((
            u,
            InnerStats {
                iters: 1,
                rel_residual: 0.0,
            },
        ))
    }
}
