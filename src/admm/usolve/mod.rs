//! The u-step: solve A u = b (method.md sec. 2), one solver per file behind `USolver`.
//!
//! All solvers see the same operator (`Problem::apply_a` with the current rho) and the same
//! right-hand side, so a new solver is one file plus one line in `make_solver`.

pub mod block_jacobi;
pub mod cg;
pub mod diag;
pub mod exact;
pub mod nystrom;
pub mod rbcd;

pub use cg::{cg, Identity, Preconditioner};
pub use diag::DiagPrecond;
pub use exact::Exact;
pub use nystrom::NystromPrecond;
pub use rbcd::Rbcd;

use crate::manifest::{SolverConfig, SolverKind, TolSchedule};
use crate::problem::Problem;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// A u-step solver that could not run.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("the exact solver forms A, of size {dim} x {dim}; that is above solver.exact_max_dim = {limit}: use cg (or raise the limit)")]
    TooLarge { dim: usize, limit: usize },
    #[error("A is not positive definite ({0}); this should not happen for rho > 0")]
    NotPositiveDefinite(String),
    #[error("solver.rank = {rank} must be below N = 2dP = {dim}, the dimension of u (a rank-N sketch is A itself: use exact or cg)")]
    RankTooLarge { rank: usize, dim: usize },
    #[error("the Nystrom sketch failed: {0}")]
    Sketch(String),
    #[error("adam trains the network directly; it has no ADMM u-step")]
    NotAdmm,
}

/// What one inner solve did, recorded in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct InnerStats {
    pub iters: usize,
    /// ||A u - b|| / ||b|| when the solver tracks it (NaN otherwise).
    pub rel_residual: f64,
}

/// One u-step solver.
pub trait USolver<B: Backend> {
    /// Work done once per A (factorizations, sketches): charged to precomputation.
    /// Called again whenever rho changes.
    fn prepare(&mut self, prob: &Problem<B>, rho: f64) -> Result<(), SolveError>;

    /// Solves A u = b for ADMM iteration `k` (0-based), from the previous u.
    fn solve(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        previous: Tensor<B, 2>,
        k: usize,
    ) -> Result<(Tensor<B, 2>, InnerStats), SolveError>;
}

/// The u-solver a configuration names; `adam` has none (it is not ADMM: see `crate::mlp`).
pub fn make_solver<B: Backend>(cfg: &SolverConfig) -> Result<Box<dyn USolver<B>>, SolveError> {
    Ok(match cfg.name {
        SolverKind::Exact => Box::new(Exact::new(cfg.exact_max_dim)),
        SolverKind::Cg => Box::new(Cg::new(cfg, Identity)),
        SolverKind::DiagPcg => Box::new(Cg::new(cfg, DiagPrecond::default())),
        SolverKind::NysPcg => Box::new(Cg::new(
            cfg,
            NystromPrecond::new(cfg.rank, cfg.seed, cfg.nys_variant),
        )),
        SolverKind::Rbcd => Box::new(Rbcd::new(cfg)),
        SolverKind::BjPcg => Box::new(Cg::new(cfg, block_jacobi::BlockJacobi::default())),
        SolverKind::Adam => return Err(SolveError::NotAdmm),
    })
}

/// Options shared by the CG family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgOptions {
    pub max_iters: usize,
    pub tol0: f64,
    pub schedule: TolSchedule,
    pub warm_start: bool,
}

impl CgOptions {
    pub fn from_config(cfg: &SolverConfig) -> Self {
        CgOptions {
            max_iters: cfg.inner_max_iters,
            tol0: cfg.inner_tol,
            schedule: cfg.inner_tol_schedule,
            warm_start: cfg.warm_start,
        }
    }

    /// The relative-residual tolerance at ADMM iteration k.
    pub fn tol(&self, k: usize) -> f64 {
        match self.schedule {
            TolSchedule::Fixed => self.tol0,
            TolSchedule::Tighten => self.tol0 / (1.0 + k as f64).powf(1.2),
        }
    }
}

/// (Preconditioned) conjugate gradient as a u-solver.
pub struct Cg<P> {
    opts: CgOptions,
    precond: P,
}

impl<P> Cg<P> {
    pub fn new(cfg: &SolverConfig, precond: P) -> Self {
        Cg {
            opts: CgOptions::from_config(cfg),
            precond,
        }
    }
}

impl<B: Backend, P: Preconditioner<B>> USolver<B> for Cg<P> {
    fn prepare(&mut self, prob: &Problem<B>, rho: f64) -> Result<(), SolveError> {
        self.precond.prepare(prob, rho)
    }

    fn solve(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        previous: Tensor<B, 2>,
        k: usize,
    ) -> Result<(Tensor<B, 2>, InnerStats), SolveError> {
        if !self.precond.is_ready() {
            self.precond.prepare(prob, rho)?;
        }
        let x0 = if self.opts.warm_start {
            previous
        } else {
            previous.zeros_like()
        };
        let apply = |u: &Tensor<B, 2>| prob.apply_a(u, rho);
        Ok(cg(
            apply,
            &self.precond,
            b,
            x0,
            self.opts.max_iters,
            self.opts.tol(k),
        ))
    }
}
