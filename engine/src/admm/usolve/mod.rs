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

pub use exact::ExactOptions;
pub use nystrom::{NysOptions, NysVariant};
pub use rbcd::RbcdOptions;

use crate::error::InvalidOption;
pub use crate::executor::InnerStats;
use crate::problem::Problem;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// A u-step solver that could not run.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("the exact solver forms A, of size {dim} x {dim}; that is above solver.exact.max_dim = {limit}: use cg (or raise the limit)")]
    TooLarge { dim: usize, limit: usize },
    #[error("A is not positive definite ({0}); this should not happen for rho > 0")]
    NotPositiveDefinite(String),
    #[error("solver.nys.rank = {rank} must be below N = 2dP = {dim}, the dimension of u (a rank-N sketch is A itself: use exact or cg)")]
    RankTooLarge { rank: usize, dim: usize },
    #[error("the Nystrom sketch failed: {0}")]
    Sketch(String),
    /// A checkpoint that does not fit the problem (`admm::Checkpoint::check`).
    #[error("the checkpoint does not fit this problem: {0}")]
    Checkpoint(String),
    /// An option out of range, found before any work.
    #[error("invalid {0}")]
    Invalid(#[from] InvalidOption),
}

/// One u-step solver.
pub trait USolver<B: Backend> {
    /// Work done once per A (factorizations, sketches): charged to precomputation.
    /// Called again whenever rho changes.
    fn prepare(&mut self, prob: &Problem<B>, rho: f64) -> Result<(), SolveError>;

    /// Whether this solver minimizes a non-quadratic loss itself. ADMM then hands it the true
    /// rho and b without the loss's part, and the solver minimizes
    /// loss(F u) / rho + 1/2 u^T (I + G^T G) u - b^T u (the u-subproblem itself) instead of
    /// the majorized system A_L u = b. The squared loss is quadratic, so this changes nothing
    /// for it. Default: no (the solver solves the majorized linear system).
    fn true_loss(&self) -> bool {
        false
    }

    /// What this solver carries from one u-step to the next that a resumed solve needs
    /// (`admm::Checkpoint`). Default: nothing (a factorization or sketch is rebuilt from the
    /// problem and seed).
    fn save_state(&self) -> USolverState {
        USolverState::default()
    }

    /// Takes up a state `save_state` returned, in a solver made with the same options and
    /// seed, so that it goes on as the saved one would have.
    fn restore_state(&mut self, _state: &USolverState) {}

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

/// What a u-solver carries between u-steps, for a checkpoint: RBCD's place in its random
/// stream (in 32-bit words drawn) and its carried step size; None for a solver without one.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct USolverState {
    pub draws: Option<u64>,
    pub step: Option<f64>,
}

/// Which u-solver, with its own options: the engine's description of a u-step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum USolverSpec {
    /// Dense Cholesky of A (small problems only).
    Exact(ExactOptions),
    /// (Preconditioned) conjugate gradient.
    Cg(CgOptions, Precond),
    /// Randomized block coordinate descent (paper Algorithm 2).
    Rbcd(RbcdOptions),
}

/// The preconditioner of the CG family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Precond {
    None,
    /// diag(A) (Jacobi).
    Diag,
    /// A randomized Nystrom approximation of A's PSD part.
    Nystrom(NysOptions),
    /// Beyond the paper: B = I_2P (x) (I + X^T X).
    BlockJacobi,
}

impl USolverSpec {
    /// Ranges the types cannot express, in the options this solver reads; the option is
    /// named within its section (`cg.tol`, `nys.rank`, ...).
    pub fn validate(&self) -> Result<(), InvalidOption> {
        match self {
            USolverSpec::Exact(o) => o.validate().map_err(|e| e.within("exact")),
            USolverSpec::Cg(cg, pre) => {
                cg.validate().map_err(|e| e.within("cg"))?;
                match pre {
                    Precond::Nystrom(nys) => nys.validate().map_err(|e| e.within("nys")),
                    _ => Ok(()),
                }
            }
            USolverSpec::Rbcd(o) => o.validate().map_err(|e| e.within("rbcd")),
        }
    }
}

/// The u-solver `spec` names, after checking its options; `seed` drives its random choices
/// (RBCD's blocks, the sketch).
pub fn make_solver<B: Backend>(
    spec: &USolverSpec,
    seed: u64,
) -> Result<Box<dyn USolver<B>>, SolveError> {
    spec.validate()?;
    Ok(match *spec {
        USolverSpec::Exact(o) => Box::new(Exact::new(o.max_dim)),
        USolverSpec::Cg(cg, Precond::None) => Box::new(Cg::new(cg, Identity)),
        USolverSpec::Cg(cg, Precond::Diag) => Box::new(Cg::new(cg, DiagPrecond::default())),
        USolverSpec::Cg(cg, Precond::Nystrom(nys)) => Box::new(Cg::new(
            cg,
            NystromPrecond::new(nys.rank, seed, nys.variant),
        )),
        USolverSpec::Cg(cg, Precond::BlockJacobi) => {
            Box::new(Cg::new(cg, block_jacobi::BlockJacobi::default()))
        }
        USolverSpec::Rbcd(o) => Box::new(Rbcd::new(&o, seed)),
    })
}

/// How the inner (CG) tolerance evolves over ADMM iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum TolSchedule {
    /// The same tolerance every ADMM iteration.
    Fixed,
    /// tol_k = tol0 / (1 + k)^1.2, as CRONOS and GeNIOS do.
    #[default]
    Tighten,
}

/// Options of the CG family (the manifest's `solver.cg` section).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct CgOptions {
    /// Inner iterations at most per ADMM iteration.
    pub max_iters: usize,
    /// Relative-residual tolerance (tol0 of the schedule).
    pub tol: f64,
    pub tol_schedule: TolSchedule,
    /// Start each inner solve from the previous u (else from zero, as the reference code does).
    pub warm_start: bool,
}

impl Default for CgOptions {
    fn default() -> Self {
        CgOptions {
            max_iters: 20,
            tol: 1e-2,
            tol_schedule: TolSchedule::Tighten,
            warm_start: true,
        }
    }
}

impl CgOptions {
    /// The relative-residual tolerance at ADMM iteration k.
    pub fn tol(&self, k: usize) -> f64 {
        match self.tol_schedule {
            TolSchedule::Fixed => self.tol,
            TolSchedule::Tighten => self.tol / (1.0 + k as f64).powf(1.2),
        }
    }

    /// Ranges the types cannot express: the first bad option and why.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        InvalidOption::at_least_one("max_iters", self.max_iters)?;
        InvalidOption::nonnegative("tol", self.tol)
    }
}

/// (Preconditioned) conjugate gradient as a u-solver.
pub struct Cg<P> {
    opts: CgOptions,
    precond: P,
}

impl<P> Cg<P> {
    pub fn new(opts: CgOptions, precond: P) -> Self {
        Cg { opts, precond }
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

/// A u-solver that sleeps a fixed time in every (timed) solve: a simulated slower solver, so
/// that tests can show a timing check noticing a slowdown without touching the ADMM loop.
pub struct Delayed<B: Backend> {
    inner: Box<dyn USolver<B>>,
    delay: std::time::Duration,
}

impl<B: Backend> Delayed<B> {
    pub fn new(inner: Box<dyn USolver<B>>, delay: std::time::Duration) -> Self {
        Delayed { inner, delay }
    }
}

impl<B: Backend> USolver<B> for Delayed<B> {
    fn prepare(&mut self, prob: &Problem<B>, rho: f64) -> Result<(), SolveError> {
        self.inner.prepare(prob, rho)
    }

    fn true_loss(&self) -> bool {
        self.inner.true_loss()
    }

    fn save_state(&self) -> USolverState {
        self.inner.save_state()
    }

    fn restore_state(&mut self, state: &USolverState) {
        self.inner.restore_state(state)
    }

    fn solve(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        previous: Tensor<B, 2>,
        k: usize,
    ) -> Result<(Tensor<B, 2>, InnerStats), SolveError> {
        let out = self.inner.solve(prob, rho, b, previous, k);
        std::thread::sleep(self.delay);
        out
    }
}
