//! bj-pcg (beyond the paper, method.md sec. 4): CG preconditioned by the block-diagonal part
//! of A that does not depend on the patterns,
//!
//!   A = B + F^T F / rho,   B = I_2P (x) (I + K),   K = X^T X,
//!
//! so B^{-1} r = (I + K)^{-1} R for the d x 2P block matrix R: one d x d by d x 2P product,
//! the same cost as the K U term of an A-application. B takes the badly scaled directions of
//! X out of the iteration: kappa(B^{-1} A) <= 1 + 2P / rho, whatever X's scaling (the
//! Nystrom and diagonal preconditioners do not have such a bound). (I + K)^{-1} is formed
//! once, on the host in f64 (faer Cholesky), and does not depend on rho.

use super::cg::Preconditioner;
use super::SolveError;
use crate::problem::{tensor2, to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// Stores (I + K)^{-1} (d x d) on the device.
pub struct BlockJacobi<B: Backend> {
    inv: Option<Tensor<B, 2>>,
}

impl<B: Backend> Default for BlockJacobi<B> {
    fn default() -> Self {
        BlockJacobi { inv: None }
    }
}

/// (I + K)^{-1} in f64 on the host, from K = X^T X (row-major d x d).
pub fn inverse_i_plus_k(k: &[f64], d: usize) -> Result<Mat<f64>, SolveError> {
    let a = Mat::<f64>::from_fn(d, d, |i, j| k[i * d + j] + if i == j { 1.0 } else { 0.0 });
    let llt = a
        .llt(Side::Lower)
        .map_err(|e| SolveError::NotPositiveDefinite(format!("I + K: {e:?}")))?;
    // faer's inverse from the factor (L^-1, then L^-T L^-1 on one triangle): fewer flops than
    // solving against the identity's d columns, though not measurably faster at d = 3073
    // (BENCHMARKS.md, "Step by step").
    Ok(llt.inverse())
}

impl<B: Backend> Preconditioner<B> for BlockJacobi<B> {
    fn prepare(&mut self, prob: &Problem<B>, _rho: f64) -> Result<(), SolveError> {
        if self.inv.is_some() {
            return Ok(()); // B does not depend on rho
        }
        let d = prob.d;
        let inv = inverse_i_plus_k(&to_host(prob.k.clone()), d)?;
        let host: Vec<f32> = (0..d * d).map(|i| inv[(i / d, i % d)] as f32).collect();
        self.inv = Some(tensor2::<B>(&host, d, d, &prob.device));
        Ok(())
    }

    fn is_ready(&self) -> bool {
        self.inv.is_some()
    }

    fn apply(&self, r: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.inv {
            Some(inv) => inv.clone().matmul(r),
            None => r,
        }
    }
}
