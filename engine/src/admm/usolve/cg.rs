//! Preconditioned conjugate gradient on block matrices (d x 2P tensors), matrix-free.

use super::{InnerStats, SolveError};
use crate::problem::{scalar, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// M^{-1} for PCG. `prepare` builds it once per A (precomputation time).
pub trait Preconditioner<B: Backend> {
    fn prepare(&mut self, _prob: &Problem<B>, _rho: f64) -> Result<(), SolveError> {
        Ok(())
    }
    /// Whether `prepare` has run, so that a solver used outside the ADMM loop (which
    /// prepares first) can prepare on demand instead of silently skipping the preconditioner.
    fn is_ready(&self) -> bool {
        true
    }
    fn apply(&self, r: Tensor<B, 2>) -> Tensor<B, 2>;
}

/// No preconditioning: plain CG.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl<B: Backend> Preconditioner<B> for Identity {
    fn apply(&self, r: Tensor<B, 2>) -> Tensor<B, 2> {
        r
    }
}

fn dot<B: Backend>(a: &Tensor<B, 2>, b: &Tensor<B, 2>) -> f64 {
    scalar(a.clone() * b.clone())
}

/// Inner statistics for an overflowed solve: the infinite residual makes ADMM
/// record the run as diverged.
fn overflowed() -> InnerStats {
    InnerStats {
        iters: 0,
        rel_residual: f64::INFINITY,
    }
}

/// Solves A x = b from x0 until ||r|| <= tol ||b|| or `max_iters` steps.
pub fn cg<B: Backend>(
    apply_a: impl Fn(&Tensor<B, 2>) -> Tensor<B, 2>,
    precond: &dyn Preconditioner<B>,
    b: Tensor<B, 2>,
    x0: Tensor<B, 2>,
    max_iters: usize,
    tol: f64,
) -> (Tensor<B, 2>, InnerStats) {
    let b_norm = dot(&b, &b).sqrt();
    if !b_norm.is_finite() {
        // The right-hand side overflowed (badly scaled data in f32): report it,
        // rather than return a zero step that would pass for convergence.
        return (x0, overflowed());
    }
    if b_norm == 0.0 {
        return (b.zeros_like(), InnerStats::default());
    }
    let mut x = x0;
    let mut r = b - apply_a(&x);
    let mut z = precond.apply(r.clone());
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let mut res = dot(&r, &r).sqrt() / b_norm;
    let mut iters = 0;
    while iters < max_iters && res > tol {
        let ap = apply_a(&p);
        let pap = dot(&p, &ap);
        if pap.is_infinite() {
            return (x, overflowed());
        }
        if pap.is_nan() || pap <= 0.0 {
            break; // breakdown: p is zero to working precision
        }
        let alpha = rz / pap;
        x = x + p.clone().mul_scalar(alpha);
        r = r - ap.mul_scalar(alpha);
        z = precond.apply(r.clone());
        let rz_next = dot(&r, &z);
        p = z.clone() + p.mul_scalar(rz_next / rz);
        rz = rz_next;
        res = dot(&r, &r).sqrt() / b_norm;
        iters += 1;
    }
    (
        x,
        InnerStats {
            iters,
            rel_residual: res,
        },
    )
}
