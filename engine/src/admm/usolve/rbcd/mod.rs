//! RBCD: randomized block coordinate descent on the u-subproblem (paper Algorithm 2;
//! reference-notes.md "ADMM-RBCD").
//!
//! It minimizes q(u) = 1/2 u^T A u - b^T u (the ADMM u-objective divided by rho, up to a
//! constant) a few patterns at a time. A block of patterns owns their v-columns i and their
//! w-columns P + i. A step never applies the whole A: with yhat = F u and K u kept up to date
//! incrementally, the block gradient is
//!   g_J = u_J + [F^T yhat]_J / rho + (K u)_J - b_J,  [F^T yhat]_i = +-X^T (M[:,i] .* yhat),
//! and the step's curvature g_J^T A g_J needs only F g_J and K g_J, which are then reused to
//! update yhat and K u. Every step is a fixed handful of batched tensor ops plus one host read.
//!
//! For a loss other than the squared one RBCD minimizes the u-subproblem itself,
//!   phi(u) = loss(F u) / rho + 1/2 u^T (I + K) u - b^T u  (b without the loss's part),
//! as the authors' RBCD does for its logistic loss: the block gradient takes grad loss(yhat)
//! where the quadratic has yhat, and the line search evaluates the true loss at every trial
//! step (`BlockState::step_loss`; the loss of yhat - t F g costs no pass over X).
//!
//! With C outputs the blocks are drawn from the q = PC (output, pattern) columns of a side:
//! column c P + i is gated by pattern i and feeds output c, so its gradient reads yhat's
//! column c and its step moves only that output's predictions.
//!
//! Files: this one has the options and the solver's loop; `state` the block state on tensors
//! (the quadratic and true-loss steps on every backend), `blocks` the multi-block step, `line`
//! the line searches, `host` the block state on the host for the fused step of the CPU
//! backends and `kernel` its one-pass kernel over X.

mod blocks;
pub mod host;
pub mod kernel;
mod line;
mod state;

pub use host::{host_backend, host_gram, HostCarry, HostState, Pending};
pub use line::LineSearch;
pub use state::{BlockState, Carry};

use super::{InnerStats, SolveError, USolver, USolverState};
use crate::error::InvalidOption;
use crate::problem::{scalar, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rand::SeedableRng;
/// rand's `StdRng` is this generator (same seeding, same stream); named directly because it
/// tells its place in the stream, which a checkpoint saves (`USolver::save_state`).
use rand_chacha::ChaCha12Rng as StdRng;

/// Options of RBCD (the manifest's `solver.rbcd` section).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct RbcdOptions {
    /// Distinct patterns per block (a pattern owns its v- and its w-column).
    pub block_size: usize,
    /// Stop the inner loop when the mean decrease of the ADMM u-objective over the last
    /// L = ceil(8 sqrt(P/3)) steps falls below this. In the reference code's units (the
    /// u-objective, i.e. rho times the quadratic RBCD minimizes), so its 0.7 carries over.
    pub threshold: f64,
    /// The threshold is multiplied by this after every ADMM iteration (the authors: 0.96; 1
    /// keeps it fixed).
    pub decay: f64,
    /// The first trial step (carried over and adapted between steps). Too large costs
    /// nothing: the backtracking evaluates the quadratic exactly without touching tensors.
    pub step0: f64,
    /// Block steps per u-step at most.
    pub max_steps: usize,
    /// Resume the previous u-step's state (else start each u-step from zero).
    pub warm_start: bool,
    /// Blocks stepped together per pass over X. A step is bound by reading X twice, and a
    /// product with 16 columns costs about what one with 3 costs, so k disjoint blocks share
    /// one pass: each gets its own step size, the k sizes chosen together by minimizing the
    /// quadratic exactly over their span (a k-dimensional line search). 1 is the paper's
    /// algorithm, with its backtracking line search. Left out of the serialized options
    /// (so of run ids) at 1, so that older manifests keep their run ids.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_one"))]
    pub blocks_per_pass: usize,
    /// For a loss other than the squared one: minimize the u-subproblem with the true loss
    /// and a line search on it (`BlockState::step_loss`), as the authors' RBCD does for its
    /// logistic loss; false solves the majorized quadratic every other u-solver solves. On
    /// the cross-entropy fixture the true loss reaches 8e-8 of the optimum in 3,000 ADMM
    /// iterations where the majorized u-step is at 1.5e-5 after 10,000 (tests/suite/losses.rs).
    /// No effect with the squared loss, which is quadratic. Left out of the serialized options
    /// (so of run ids) at its default, true.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_true"))]
    pub true_loss: bool,
    /// On the CPU backends (f32 tensors), step with the fused host kernel: one read of X per
    /// block step instead of the tensor step's two (host.rs, kernel.rs), the same iterates up
    /// to rounding. For the squared loss and the majorized quadratic with one block per pass;
    /// the true-loss and multi-block steps stay on tensors. false: the tensor step on every
    /// backend. On by default since its micro-kernels run vectorized (BENCHMARKS.md, "One
    /// read of X per block step"): faster than the tensor step at the regression and at Table
    /// 1 size. Left out of the serialized options (so of run ids) at its default, true, so
    /// run ids are those of the tensor step it replaces; `fused: false` is serialized.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_true"))]
    pub fused: bool,
}

#[cfg(feature = "serde")]
fn is_true(b: &bool) -> bool {
    *b
}

#[cfg(feature = "serde")]
fn is_one(k: &usize) -> bool {
    *k == 1
}

impl Default for RbcdOptions {
    fn default() -> Self {
        RbcdOptions {
            block_size: 3,
            threshold: 0.7,
            decay: 1.0,
            step0: 1.0,
            max_steps: 20,
            warm_start: true,
            blocks_per_pass: 1,
            true_loss: true,
            fused: true,
        }
    }
}

impl RbcdOptions {
    /// Ranges the types cannot express: the first bad option and why.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        InvalidOption::at_least_one("block_size", self.block_size)?;
        InvalidOption::nonnegative("threshold", self.threshold)?;
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(InvalidOption::new(
                "decay",
                format!("must be in (0, 1], got {}", self.decay),
            ));
        }
        if !(self.step0 > 0.0 && self.step0.is_finite()) {
            return Err(InvalidOption::new(
                "step0",
                format!("must be > 0, got {}", self.step0),
            ));
        }
        InvalidOption::at_least_one("max_steps", self.max_steps)?;
        InvalidOption::at_least_one("blocks_per_pass", self.blocks_per_pass)
    }
}

/// A warm-started u-step resumes the previous one's F u and K u (instead of two products
/// over X and K) for this many u-steps in a row; then they are rebuilt from u, so the
/// rounding of the incremental updates cannot build up without bound.
const REFRESH_EVERY: usize = 10;

/// L = ceil(8 sqrt(P / 3)): the length of the decrease window (reference).
pub fn window_len(p: usize) -> usize {
    (8.0 * (p as f64 / 3.0).sqrt()).ceil().max(1.0) as usize
}

/// The decrease buffer's initial entries: the first L steps always run (the reference's 1e8).
const WINDOW_FILL: f64 = 1e8;

/// Running mean of the last L decreases.
struct Window {
    vals: Vec<f64>,
    next: usize,
}

impl Window {
    fn new(len: usize) -> Self {
        Window {
            vals: vec![WINDOW_FILL; len],
            next: 0,
        }
    }

    /// Records a decrease and returns the current mean.
    fn push(&mut self, v: f64) -> f64 {
        let len = self.vals.len();
        self.vals[self.next % len] = v;
        self.next += 1;
        self.vals.iter().sum::<f64>() / len as f64
    }
}

/// The RBCD u-solver. Its random stream, its carried step size and (when warm-starting) its
/// incremental state persist across u-steps.
pub struct Rbcd<B: Backend> {
    block_size: usize,
    threshold: f64,
    decay: f64,
    max_steps: usize,
    warm_start: bool,
    blocks_per_pass: usize,
    true_loss: bool,
    fused: bool,
    line: LineSearch,
    rng: StdRng,
    /// The last u-step's state and how many u-steps in a row have resumed it.
    carry: Option<(Carry<B>, usize)>,
    /// The fused step's: K on the host (built by `prepare`), the last u-step's host state
    /// with its age, and the block it drew for its next step, which the next u-step steps
    /// first, so that the blocks come in the order the tensor step draws them.
    gram: Vec<f32>,
    host_carry: Option<(HostCarry, usize)>,
    pending: Option<Pending>,
}

impl<B: Backend> Rbcd<B> {
    pub fn new(opts: &RbcdOptions, seed: u64) -> Self {
        Rbcd {
            block_size: opts.block_size,
            threshold: opts.threshold,
            decay: opts.decay,
            max_steps: opts.max_steps,
            warm_start: opts.warm_start,
            blocks_per_pass: opts.blocks_per_pass,
            true_loss: opts.true_loss,
            fused: opts.fused,
            line: LineSearch::new(opts.step0),
            // A stream apart from the gates' and the sketch's.
            rng: StdRng::seed_from_u64(seed ^ 0x3c6e_f372_fe94_f82b),
            carry: None,
            gram: Vec::new(),
            host_carry: None,
            pending: None,
        }
    }

    /// Up to `blocks_per_pass` disjoint blocks of `block_size` columns: min(k bs, PC)
    /// distinct patterns uniformly at random, cut in order (the last block may be short).
    /// With k = 1 it draws exactly what one block of min(bs, P) patterns always drew.
    fn pick_blocks(&mut self, p: usize) -> Vec<Vec<usize>> {
        pick_blocks(&mut self.rng, self.block_size, self.blocks_per_pass, p)
    }

    /// Whether this u-step runs the fused host step (see `RbcdOptions::fused`).
    fn fuses(&self, prob: &Problem<B>) -> bool {
        self.fused
            && self.blocks_per_pass == 1
            && !(self.true_loss && prob.loss != crate::loss::Loss::Squared)
            && host_backend::<B>(&prob.device)
    }

    /// The tensor u-step: the paper's loop (one block per step), or k blocks per pass, or the
    /// true-loss step.
    fn solve_tensor(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        previous: Tensor<B, 2>,
        threshold: f64,
    ) -> (Tensor<B, 2>, usize) {
        let (state, resumed) = match self.carry.take() {
            // Resume only the u this solver returned last (what ADMM hands back).
            Some((carry, age))
                if self.warm_start
                    && age < REFRESH_EVERY
                    && scalar((previous.clone() - carry.u.clone()).abs()) == 0.0 =>
            {
                (BlockState::resume(prob, rho, b, carry), age + 1)
            }
            _ if self.warm_start => (BlockState::new(prob, rho, b, previous), 0),
            _ => (BlockState::new(prob, rho, b, previous.zeros_like()), 0),
        };
        let mut state = if self.true_loss {
            state.with_true_loss()
        } else {
            state
        };
        // The window spans about L block steps (L / k passes) and holds each pass's decrease
        // per block, so the threshold keeps its meaning per block step; with k = 1 this is
        // the paper's loop exactly.
        let per_pass = self.blocks_per_pass;
        let mut window = Window::new(window_len(prob.q()).div_ceil(per_pass));
        let mut steps = 0;
        while steps < self.max_steps {
            let blocks = self.pick_blocks(prob.q());
            let decrease = match blocks.as_slice() {
                // The true loss has no exact multi-block step: one line search per block.
                _ if state.true_loss => blocks.iter().map(|block| state.step_loss(block)).sum(),
                [block] if per_pass == 1 => state.step(block, &mut self.line),
                _ => state.step_blocks(&blocks),
            };
            steps += blocks.len();
            // In the u-objective's units (rho q), those of the threshold.
            if window.push(rho * decrease / blocks.len() as f64) < threshold {
                break;
            }
        }
        let u = state.u().clone();
        if self.warm_start {
            self.carry = Some((state.into_carry(), resumed));
        }
        (u, steps)
    }

    /// The fused u-step (one read of X per block step): the paper's loop, each step's pass
    /// also summing the gradient of the block drawn after it. That block is drawn before the
    /// pass; when the window stops the loop it is carried to the next u-step, which steps it
    /// first (with its sum, when the state is resumed), so the blocks come as in
    /// `solve_tensor`.
    fn solve_fused(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        previous: Tensor<B, 2>,
        threshold: f64,
    ) -> (Tensor<B, 2>, usize) {
        let gram = &self.gram;
        let (mut state, resumed) = match self.host_carry.take() {
            Some((carry, age))
                if self.warm_start && age < REFRESH_EVERY && carry.holds(&previous) =>
            {
                (HostState::resume(prob, gram, rho, b, carry), Some(age + 1))
            }
            _ if self.warm_start => (HostState::new(prob, gram, rho, b, previous), None),
            _ => {
                let zero = previous.zeros_like();
                (HostState::new(prob, gram, rho, b, zero), None)
            }
        };
        let (bs, q) = (self.block_size, prob.q());
        let mut block = match self.pending.take() {
            // Its sum holds while F u is the one it was summed at.
            Some(pending) if resumed.is_some() => pending,
            Some(pending) => state.pending(pending.cols),
            None => state.pending(pick_blocks(&mut self.rng, bs, 1, q).remove(0)),
        };
        let mut window = Window::new(window_len(q));
        let mut steps = 0;
        while steps < self.max_steps {
            let next = pick_blocks(&mut self.rng, bs, 1, q).remove(0);
            let decrease = state.step_fused(&mut block, next, &mut self.line);
            steps += 1;
            if window.push(rho * decrease) < threshold {
                break;
            }
        }
        self.pending = Some(block);
        let u = state.u_tensor::<B>(&prob.device);
        if self.warm_start {
            self.host_carry = Some((state.into_carry(), resumed.unwrap_or(0)));
        }
        (u, steps)
    }
}

/// `blocks_per_pass` disjoint blocks of `block_size` columns of `p` (see `Rbcd::pick_blocks`).
fn pick_blocks(rng: &mut StdRng, block_size: usize, per_pass: usize, p: usize) -> Vec<Vec<usize>> {
    let want = (block_size * per_pass).min(p);
    let pats = rand::seq::index::sample(rng, p, want).into_vec();
    pats.chunks(block_size).map(<[usize]>::to_vec).collect()
}

impl<B: Backend> USolver<B> for Rbcd<B> {
    /// K on the host for the fused step (once per problem; K does not depend on rho).
    fn prepare(&mut self, prob: &Problem<B>, _rho: f64) -> Result<(), SolveError> {
        if self.fuses(prob) && self.gram.len() != prob.d * prob.d {
            self.gram = host_gram(prob);
        }
        Ok(())
    }

    /// With `rbcd.true_loss`, RBCD line-searches the true loss, as the authors' RBCD does for
    /// its logistic loss.
    fn true_loss(&self) -> bool {
        self.true_loss
    }

    /// The place in the random stream and the carried step size. The fused step's block drawn
    /// ahead is not kept: a resumed fused solve draws a fresh one.
    fn save_state(&self) -> USolverState {
        USolverState {
            draws: u64::try_from(self.rng.get_word_pos()).ok(),
            step: Some(self.line.step()),
        }
    }

    fn restore_state(&mut self, state: &USolverState) {
        if let Some(words) = state.draws {
            self.rng.set_word_pos(u128::from(words));
        }
        if let Some(step) = state.step {
            self.line = LineSearch::new(step);
        }
    }

    fn solve(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        previous: Tensor<B, 2>,
        k: usize,
    ) -> Result<(Tensor<B, 2>, InnerStats), SolveError> {
        let threshold = self.threshold * self.decay.powf(k as f64);
        let (u, steps) = if self.fuses(prob) {
            self.prepare(prob, rho)?;
            self.solve_fused(prob, rho, b, previous, threshold)
        } else {
            self.solve_tensor(prob, rho, b, previous, threshold)
        };
        Ok((
            u,
            InnerStats {
                iters: steps,
                rel_residual: f64::NAN,
            },
        ))
    }
}
