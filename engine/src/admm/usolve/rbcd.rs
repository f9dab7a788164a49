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

use super::{InnerStats, SolveError, USolver};
use crate::error::InvalidOption;
use crate::problem::{scalar, to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::SeedableRng;

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
        }
    }
}

impl RbcdOptions {
    /// Ranges the types cannot express: the first bad option and why.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if self.block_size == 0 {
            return Err(InvalidOption::new("block_size", "must be at least 1"));
        }
        if !(self.threshold >= 0.0 && self.threshold.is_finite()) {
            return Err(InvalidOption::new(
                "threshold",
                format!("must be >= 0, got {}", self.threshold),
            ));
        }
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
        if self.max_steps == 0 {
            return Err(InvalidOption::new("max_steps", "must be at least 1"));
        }
        if self.blocks_per_pass == 0 {
            return Err(InvalidOption::new("blocks_per_pass", "must be at least 1"));
        }
        Ok(())
    }
}

/// Trial-step shrink factor within one line search (the reference's).
const SHRINK: f64 = 2.5;
/// The carried step grows by this after an accepted step...
const GROW: f64 = 1.05;
/// ...and shrinks by this after every backtrack.
const BACKOFF: f64 = 1.5;
/// Armijo's sufficient-decrease constant.
const ARMIJO: f64 = 1e-4;
/// Backtracks per step at most: 2.5^200 spans any step size f64 can hold.
const MAX_BACKTRACKS: usize = 200;
/// The decrease buffer's initial entries: the first L steps always run (the reference's 1e8).
const WINDOW_FILL: f64 = 1e8;

/// Backtracking line search along the negative block gradient, with a step size carried from
/// one step (and one u-step) to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineSearch {
    step: f64,
}

impl LineSearch {
    pub fn new(step0: f64) -> Self {
        LineSearch { step: step0 }
    }

    /// The carried step size.
    pub fn step(&self) -> f64 {
        self.step
    }

    /// Picks t for u <- u - t g given a = ||g||^2 and c = g^T A g. Since q is quadratic,
    /// q(u - t g) - q(u) = -t a + t^2 c / 2 exactly, so every trial is evaluated on the host
    /// without tensor work. Returns (t, decrease of q), or None when there is nothing to do
    /// (zero gradient, or a non-finite or non-positive curvature).
    pub fn search(&mut self, a: f64, c: f64) -> Option<(f64, f64)> {
        if !(c > 0.0 && c.is_finite()) {
            return None;
        }
        self.search_by(a, |t| -t * a + 0.5 * t * t * c)
    }

    /// Backtracking (Armijo) along -g with a = ||g||^2, `change(t)` the objective's change at
    /// step t. Returns (t, decrease), or None when nothing was accepted.
    pub fn search_by(&mut self, a: f64, change: impl Fn(f64) -> f64) -> Option<(f64, f64)> {
        if !(a > 0.0 && a.is_finite()) {
            return None;
        }
        let mut t = self.step;
        for _ in 0..MAX_BACKTRACKS {
            let change = change(t);
            if change <= -ARMIJO * t * a {
                self.step *= GROW;
                return Some((t, -change));
            }
            t /= SHRINK;
            self.step = (self.step / BACKOFF).max(f64::MIN_POSITIVE);
        }
        None
    }
}

/// The u-subproblem being minimized, with yhat = F u and c = u + K u - b maintained
/// incrementally: c is the block gradient without its F^T F / rho term, so a step needs one
/// gather of c instead of three (u, K u and b), and its update reuses (I + K) g.
pub struct BlockState<'a, B: Backend> {
    prob: &'a Problem<B>,
    rho: f64,
    /// Minimize the true loss (b holds no loss part), not the quadratic.
    true_loss: bool,
    b: Tensor<B, 2>,
    u: Tensor<B, 2>,
    yhat: Tensor<B, 2>,
    c: Tensor<B, 2>,
}

impl<'a, B: Backend> BlockState<'a, B> {
    /// Starts at u; costs one F and one K product.
    pub fn new(prob: &'a Problem<B>, rho: f64, b: Tensor<B, 2>, u: Tensor<B, 2>) -> Self {
        let yhat = prob.f(&u);
        let c = u.clone() + prob.k.clone().matmul(u.clone()) - b.clone();
        BlockState {
            prob,
            rho,
            true_loss: false,
            b,
            u,
            yhat,
            c,
        }
    }

    /// The state without its borrow of the problem, to be resumed by the next u-step.
    pub fn into_carry(self) -> Carry<B> {
        Carry {
            u: self.u,
            yhat: self.yhat,
            c: self.c,
            b: self.b,
        }
    }

    /// Continues from a finished state with a new right-hand side (and rho): u, and so F u
    /// and K u, are unchanged, so only c moves, by b_old - b. Saves the F and K products.
    pub fn resume(prob: &'a Problem<B>, rho: f64, b: Tensor<B, 2>, carry: Carry<B>) -> Self {
        let c = carry.c + carry.b - b.clone();
        BlockState {
            prob,
            rho,
            true_loss: false,
            b,
            u: carry.u,
            yhat: carry.yhat,
            c,
        }
    }

    pub fn u(&self) -> &Tensor<B, 2> {
        &self.u
    }

    /// Minimize loss(F u) / rho + 1/2 u^T (I + K) u - b^T u instead of the quadratic (for a
    /// loss other than the squared one, with b holding no loss part).
    pub fn with_true_loss(mut self) -> Self {
        self.true_loss = self.prob.loss != crate::loss::Loss::Squared;
        self
    }

    /// phi(u) - const with the true loss, from scratch: for tests, never in the loop.
    pub fn loss_objective(&self) -> f64 {
        let prob = self.prob;
        let ikb = self.u.clone() + prob.k.clone().matmul(self.u.clone());
        prob.loss.value(prob.f(&self.u), &prob.y) / self.rho + 0.5 * scalar(self.u.clone() * ikb)
            - scalar(self.b.clone() * self.u.clone())
    }

    /// q(u) from scratch with the full operator: for tests and diagnostics, never in the loop.
    pub fn objective(&self) -> f64 {
        let au = self.prob.apply_a(&self.u, self.rho);
        0.5 * scalar(self.u.clone() * au) - scalar(self.b.clone() * self.u.clone())
    }

    /// The gradient of q on the v- and w-columns of `patterns` (distinct, each < PC): one pass
    /// over X, [F^T yhat]_J / rho = [X^T (M_J .* yhat_J), -X^T (M_J .* yhat_J)] / rho (yhat_J
    /// the output each column feeds), plus the gathered c. Shared by the single-block and the
    /// multi-block step.
    fn gradient(&self, patterns: &[usize]) -> BlockGradient<B> {
        let prob = self.prob;
        let (d, q, m) = (prob.d, prob.q(), patterns.len());
        let cols: Vec<i64> = patterns
            .iter()
            .map(|&i| i as i64)
            .chain(patterns.iter().map(|&i| (q + i) as i64))
            .collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(cols, [2 * m]), &prob.device);
        let mask_b = prob.maskc.clone().select(1, idx.clone().narrow(0, 0, m));
        // What F^T multiplies: F u for the quadratic, grad loss(F u) for the true loss.
        let r = if self.true_loss {
            prob.loss.gradient(self.yhat.clone(), &prob.y)
        } else {
            self.yhat.clone()
        };
        let yhat_b = if prob.c == 1 {
            r
        } else {
            let outs: Vec<i64> = patterns.iter().map(|&i| (i / prob.p) as i64).collect();
            let outs = Tensor::<B, 1, Int>::from_data(TensorData::new(outs, [m]), &prob.device);
            r.select(1, outs)
        };
        let ft = prob
            .xt
            .clone()
            .matmul(mask_b.clone() * yhat_b)
            .div_scalar(self.rho);
        let g = self.c.clone().select(1, idx.clone()) + Tensor::cat(vec![ft.clone(), ft.neg()], 1);
        let g_diff = g.clone().slice([0..d, 0..m]) - g.clone().slice([0..d, m..2 * m]);
        BlockGradient {
            idx,
            mask_b,
            g,
            g_diff,
        }
    }

    /// The block's descent direction and what a step along it changes: one pass over X for
    /// the gradient, one for F g (n x C), and (I + K) g on the block. Shared by the quadratic
    /// and the true-loss step.
    fn direction(&self, patterns: &[usize]) -> Direction<B> {
        let prob = self.prob;
        let BlockGradient {
            idx,
            mask_b,
            g,
            g_diff,
        } = self.gradient(patterns);
        let masked = prob.x.clone().matmul(g_diff) * mask_b;
        let fg = if prob.c == 1 {
            masked.sum_dim(1) // F g_J, n x 1
        } else {
            masked.matmul(output_indicator::<B>(
                patterns,
                prob.p,
                prob.c,
                &prob.device,
            ))
        };
        let ikg = g.clone() + prob.k.clone().matmul(g.clone()); // (I + K) g_J on the block
        Direction { idx, g, fg, ikg }
    }

    /// u <- u - t g, with c and yhat = F u updated from the direction's products.
    fn move_along(&mut self, dir: Direction<B>, t: f64) {
        let add = IndexingUpdateOp::Add;
        self.u = self
            .u
            .clone()
            .select_assign(1, dir.idx.clone(), dir.g.mul_scalar(-t), add);
        self.c = self
            .c
            .clone()
            .select_assign(1, dir.idx, dir.ikg.mul_scalar(-t), add);
        self.yhat = self.yhat.clone() - dir.fg.mul_scalar(t);
    }

    /// One gradient step on the block of `patterns` (distinct, each < PC) with backtracking.
    /// Returns the decrease of q (0 when the line search found nothing to do).
    pub fn step(&mut self, patterns: &[usize], line: &mut LineSearch) -> f64 {
        let dir = self.direction(patterns);
        let (g, fg, ikg) = (&dir.g, &dir.fg, &dir.ikg);
        let sums = to_host(Tensor::cat(
            vec![
                (g.clone() * g.clone()).sum(),
                (fg.clone() * fg.clone()).sum(),
                (g.clone() * ikg.clone()).sum(),
            ],
            0,
        ));
        let (gg, ff, gikg) = (sums[0], sums[1], sums[2]);
        let Some((t, decrease)) = line.search(gg, gikg + ff / self.rho) else {
            return 0.0;
        };
        self.move_along(dir, t);
        decrease
    }
}

/// A block's descent direction: its columns, the gradient g, F g and (I + K) g.
struct Direction<B: Backend> {
    idx: Tensor<B, 1, Int>,
    g: Tensor<B, 2>,
    fg: Tensor<B, 2>,
    ikg: Tensor<B, 2>,
}

impl<B: Backend> BlockState<'_, B> {
    /// One gradient step on the block of `patterns` for the true loss. Along u - t g,
    ///   phi'(t) = -g.c_J + t g^T (I + K) g - <grad loss(yhat - t F g), F g> / rho,
    /// increasing in t (phi is convex). The step starts from the majorized exact step
    /// t_L = ||g||^2 / (g^T (I + K) g + L ||F g||^2 / rho), which decreases phi by the curvature
    /// bound, and moves towards the root of phi' by bisection, keeping the largest t known to
    /// have phi'(t) <= 0: phi falls all the way to it. The search reads derivatives, not
    /// differences of loss values, which f32 rounding would swamp near the minimum. F g is
    /// computed once; each trial is an n x C elementwise pass, no product with X.
    /// Returns the decrease of phi.
    pub fn step_loss(&mut self, patterns: &[usize]) -> f64 {
        let (prob, rho) = (self.prob, self.rho);
        let dir = self.direction(patterns);
        let (g, fg, ikg) = (&dir.g, &dir.fg, &dir.ikg);
        let c_b = self.c.clone().select(1, dir.idx.clone());
        let sums = to_host(Tensor::cat(
            vec![
                (g.clone() * g.clone()).sum(),
                (g.clone() * c_b).sum(),
                (g.clone() * ikg.clone()).sum(),
                (fg.clone() * fg.clone()).sum(),
            ],
            0,
        ));
        let (gg, gc, gikg, ff) = (sums[0], sums[1], sums[2], sums[3]);
        let curvature = gikg + prob.loss.curvature() * ff / rho;
        if !(gg > 0.0 && curvature > 0.0 && gg.is_finite() && curvature.is_finite()) {
            return 0.0;
        }
        let at = |t: f64| self.yhat.clone() - fg.clone().mul_scalar(t);
        let slope = |t: f64| {
            let pull = scalar(prob.loss.gradient(at(t), &prob.y) * fg.clone());
            -gc + t * gikg - pull / rho
        };
        let t = descend_to_root(gg / curvature, slope);
        let before = prob.loss.value(self.yhat.clone(), &prob.y);
        self.move_along(dir, t);
        let after = prob.loss.value(self.yhat.clone(), &prob.y);
        t * gc - 0.5 * t * t * gikg - (after - before) / rho
    }

    /// One step on k disjoint blocks that shares both passes over X: with G = [g_1 .. g_k]
    /// the k block gradients at the current u, it moves u <- u - sum_j t_j g_j with t the
    /// exact minimizer of the quadratic over that span,
    ///   t = H^{-1} a,  a_j = ||g_j||^2,  H_jl = g_j^T A g_l = (F g_j).(F g_l) / rho
    ///                                              + [j = l] g_j^T (I + K) g_j
    /// (disjoint blocks own disjoint columns, and I + K acts column by column, so only F
    /// couples them). The decrease is a^T t / 2 >= each block's own exact step, so it is a
    /// descent step whatever the coupling. `blocks` must be disjoint, each pattern < PC.
    /// With C outputs F g_j is n x C: its columns are kept apart (n x kC) and H sums their
    /// products output by output. Returns the decrease of q.
    pub fn step_blocks(&mut self, blocks: &[Vec<usize>]) -> f64 {
        let (prob, rho) = (self.prob, self.rho);
        let pats: Vec<usize> = blocks.iter().flatten().copied().collect();
        let (k, m) = (blocks.len(), pats.len());
        let BlockGradient {
            idx,
            mask_b,
            g,
            g_diff,
        } = self.gradient(&pats);
        // Column j C + c of fg is output c of F g_j: the masked X g columns summed over block
        // j's patterns that feed output c.
        let c_out = prob.c;
        let owner = if c_out == 1 {
            block_indicator::<B>(blocks, &prob.device)
        } else {
            block_output_indicator::<B>(blocks, prob.p, c_out, &prob.device)
        };
        let fg = (prob.x.clone().matmul(g_diff) * mask_b).matmul(owner); // n x kC
        let ikg = g.clone() + prob.k.clone().matmul(g.clone());
        let per_col = Tensor::cat(
            vec![
                (g.clone() * g.clone()).sum_dim(0),
                (g.clone() * ikg.clone()).sum_dim(0),
            ],
            1,
        )
        .reshape([4 * m]);
        let kc = k * c_out;
        let gram = fg.clone().transpose().matmul(fg.clone()).reshape([kc * kc]);
        let host = to_host(Tensor::cat(vec![per_col, gram], 0));
        let (gg, gikg, ff_out) = (&host[..2 * m], &host[2 * m..4 * m], &host[4 * m..]);
        // (F g_j) . (F g_l), summed over outputs.
        let ff: Vec<f64> = (0..k * k)
            .map(|jl| {
                let (j, l) = (jl / k, jl % k);
                (0..c_out)
                    .map(|c| ff_out[(j * c_out + c) * kc + l * c_out + c])
                    .sum()
            })
            .collect();
        let mut a = vec![0.0; k];
        let mut h = vec![0.0; k * k];
        let mut col = 0;
        for (j, block) in blocks.iter().enumerate() {
            for _ in 0..block.len() {
                // v-column col and w-column m + col both belong to block j.
                a[j] += gg[col] + gg[m + col];
                h[j * k + j] += gikg[col] + gikg[m + col];
                col += 1;
            }
        }
        for (hv, fv) in h.iter_mut().zip(&ff) {
            *hv += fv / rho;
        }
        let Some((t, decrease)) = subspace_step(&a, &h) else {
            return 0.0;
        };
        // -t_j on each of block j's v- and w-columns; t itself for the n x k update of F u.
        let t_cols: Vec<f64> = blocks
            .iter()
            .zip(&t)
            .flat_map(|(block, &tj)| std::iter::repeat_n(-tj, block.len()))
            .collect();
        let t_cols =
            Tensor::<B, 1>::from_data(TensorData::new(t_cols, [m]), &prob.device).reshape([1, m]);
        let t_both = Tensor::cat(vec![t_cols.clone(), t_cols], 1);
        // kC x C: t_j at (j C + c, c), so fg t_blocks = sum_j t_j F g_j (for C = 1, just t).
        let spread: Vec<f64> = (0..kc * c_out)
            .map(|e| {
                let (row, col) = (e / c_out, e % c_out);
                if row % c_out == col {
                    t[row / c_out]
                } else {
                    0.0
                }
            })
            .collect();
        let t_blocks =
            Tensor::<B, 1>::from_data(TensorData::new(spread, [kc * c_out]), &prob.device)
                .reshape([kc, c_out]);
        let add = IndexingUpdateOp::Add;
        self.u = self
            .u
            .clone()
            .select_assign(1, idx.clone(), g * t_both.clone(), add);
        self.c = self.c.clone().select_assign(1, idx, ikg * t_both, add);
        self.yhat = self.yhat.clone() - fg.matmul(t_blocks);
        decrease
    }
}

/// The m x k matrix whose column j is 1 on block j's rows (patterns in the order of
/// `blocks` flattened): a product with it sums each block's columns.
fn block_indicator<B: Backend>(blocks: &[Vec<usize>], device: &B::Device) -> Tensor<B, 2> {
    let (k, m) = (blocks.len(), blocks.iter().map(Vec::len).sum::<usize>());
    let mut ind = vec![0f32; m * k];
    let mut row = 0;
    for (j, block) in blocks.iter().enumerate() {
        for _ in 0..block.len() {
            ind[row * k + j] = 1.0;
            row += 1;
        }
    }
    Tensor::from_data(TensorData::new(ind, [m, k]), device)
}

/// Bisection steps of `descend_to_root` (each one device reduction).
const ROOT_STEPS: usize = 8;

/// The largest t found with slope(t) <= 0, for an increasing slope with slope(0) < 0: from
/// t0, doubling until the slope turns positive (at most 30 times), then `ROOT_STEPS`
/// bisections of the bracket. A convex function falls all the way from 0 to that t. When
/// every point tried below t0 has a positive slope, t0 itself (the majorized step, a descent
/// step on its own).
fn descend_to_root(t0: f64, slope: impl Fn(f64) -> f64) -> f64 {
    let (mut lo, mut hi) = (t0, t0);
    if slope(t0) <= 0.0 {
        for _ in 0..30 {
            hi = 2.0 * lo;
            let s = slope(hi);
            if s > 0.0 || s.is_nan() {
                break;
            }
            lo = hi;
        }
    } else {
        lo = 0.0;
    }
    for _ in 0..ROOT_STEPS {
        let mid = 0.5 * (lo + hi);
        if slope(mid) <= 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo > 0.0 {
        lo
    } else {
        t0
    }
}

/// The m x C matrix with a 1 at (j, output of column j): a product with it sums the columns
/// feeding each output (columns c P + i feed output c).
fn output_indicator<B: Backend>(
    cols: &[usize],
    p: usize,
    c: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let m = cols.len();
    let mut ind = vec![0f32; m * c];
    for (row, &col) in cols.iter().enumerate() {
        ind[row * c + col / p] = 1.0;
    }
    Tensor::from_data(TensorData::new(ind, [m, c]), device)
}

/// The m x kC matrix with a 1 at (row, j C + c) for the rows of block j feeding output c.
fn block_output_indicator<B: Backend>(
    blocks: &[Vec<usize>],
    p: usize,
    c: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let (k, m) = (blocks.len(), blocks.iter().map(Vec::len).sum::<usize>());
    let mut ind = vec![0f32; m * k * c];
    let mut row = 0;
    for (j, block) in blocks.iter().enumerate() {
        for &col in block {
            ind[row * k * c + j * c + col / p] = 1.0;
            row += 1;
        }
    }
    Tensor::from_data(TensorData::new(ind, [m, k * c]), device)
}

/// Minimizes -a^T t + t^T H t / 2 over t for a k x k symmetric H (row-major). Returns t and
/// the decrease a^T t / 2, or None when there is nothing to do. H is positive definite in
/// exact arithmetic when the directions are independent; when rounding or dependent
/// directions defeat the Cholesky factorization, it falls back to the average of the
/// blocks' own exact steps (t_j = a_j / (k H_jj)), a descent step by convexity.
fn subspace_step(a: &[f64], h: &[f64]) -> Option<(Vec<f64>, f64)> {
    let k = a.len();
    if a.iter().all(|&v| v == 0.0) || a.iter().chain(h).any(|v| !v.is_finite()) {
        return None;
    }
    let decrease = |t: &[f64]| {
        let quad: f64 = (0..k)
            .map(|i| t[i] * (0..k).map(|j| h[i * k + j] * t[j]).sum::<f64>())
            .sum();
        a.iter().zip(t).map(|(x, y)| x * y).sum::<f64>() - 0.5 * quad
    };
    if let Some(t) = cholesky_solve(h, a) {
        let dec = decrease(&t);
        if dec > 0.0 && dec.is_finite() {
            return Some((t, dec));
        }
    }
    let t: Vec<f64> = (0..k)
        .map(|j| {
            let c = h[j * k + j];
            if c > 0.0 {
                a[j] / (k as f64 * c)
            } else {
                0.0
            }
        })
        .collect();
    let dec = decrease(&t);
    (dec > 0.0 && dec.is_finite()).then_some((t, dec))
}

/// Solves H t = a by Cholesky (H symmetric, k x k row-major, k small); None unless H is
/// numerically positive definite.
fn cholesky_solve(h: &[f64], a: &[f64]) -> Option<Vec<f64>> {
    let k = a.len();
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s = h[i * k + j] - (0..j).map(|q| l[i * k + q] * l[j * k + q]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 1e-12 * h[i * k + i].abs() {
                    return None;
                }
                l[i * k + i] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    let mut z = vec![0.0; k];
    for i in 0..k {
        z[i] = (a[i] - (0..i).map(|q| l[i * k + q] * z[q]).sum::<f64>()) / l[i * k + i];
    }
    let mut t = vec![0.0; k];
    for i in (0..k).rev() {
        t[i] = (z[i] - (i + 1..k).map(|q| l[q * k + i] * t[q]).sum::<f64>()) / l[i * k + i];
    }
    Some(t)
}

/// A block's gradient as both steps use it: the column indices (v-columns, then w-columns),
/// the block's masks (n x m), the gradient g (d x 2m) and g_v - g_w (d x m).
struct BlockGradient<B: Backend> {
    idx: Tensor<B, 1, Int>,
    mask_b: Tensor<B, 2>,
    g: Tensor<B, 2>,
    g_diff: Tensor<B, 2>,
}

/// A finished `BlockState` between u-steps: u, F u, u + K u - b and the b it was built for.
pub struct Carry<B: Backend> {
    u: Tensor<B, 2>,
    yhat: Tensor<B, 2>,
    c: Tensor<B, 2>,
    b: Tensor<B, 2>,
}

/// A warm-started u-step resumes the previous one's F u and K u (instead of two products
/// over X and K) for this many u-steps in a row; then they are rebuilt from u, so the
/// rounding of the incremental updates cannot build up without bound.
const REFRESH_EVERY: usize = 10;

/// L = ceil(8 sqrt(P / 3)): the length of the decrease window (reference).
pub fn window_len(p: usize) -> usize {
    (8.0 * (p as f64 / 3.0).sqrt()).ceil().max(1.0) as usize
}

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
    line: LineSearch,
    rng: StdRng,
    /// The last u-step's state and how many u-steps in a row have resumed it.
    carry: Option<(Carry<B>, usize)>,
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
            line: LineSearch::new(opts.step0),
            // A stream apart from the gates' and the sketch's.
            rng: StdRng::seed_from_u64(seed ^ 0x3c6e_f372_fe94_f82b),
            carry: None,
        }
    }

    /// Up to `blocks_per_pass` disjoint blocks of `block_size` columns: min(k bs, PC)
    /// distinct patterns uniformly at random, cut in order (the last block may be short).
    /// With k = 1 it draws exactly what one block of min(bs, P) patterns always drew.
    fn pick_blocks(&mut self, p: usize) -> Vec<Vec<usize>> {
        let want = (self.block_size * self.blocks_per_pass).min(p);
        let pats = rand::seq::index::sample(&mut self.rng, p, want).into_vec();
        pats.chunks(self.block_size)
            .map(<[usize]>::to_vec)
            .collect()
    }
}

impl<B: Backend> USolver<B> for Rbcd<B> {
    /// Nothing to precompute: K = X^T X is already part of the problem.
    fn prepare(&mut self, _prob: &Problem<B>, _rho: f64) -> Result<(), SolveError> {
        Ok(())
    }

    /// With `rbcd.true_loss`, RBCD line-searches the true loss, as the authors' RBCD does for
    /// its logistic loss.
    fn true_loss(&self) -> bool {
        self.true_loss
    }

    fn solve(
        &mut self,
        prob: &Problem<B>,
        rho: f64,
        b: Tensor<B, 2>,
        previous: Tensor<B, 2>,
        k: usize,
    ) -> Result<(Tensor<B, 2>, InnerStats), SolveError> {
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
        let threshold = self.threshold * self.decay.powf(k as f64);
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
        Ok((
            u,
            InnerStats {
                iters: steps,
                rel_residual: f64::NAN,
            },
        ))
    }
}
