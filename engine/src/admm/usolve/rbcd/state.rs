//! RBCD's block state on the backend's tensors (the step on every backend, and the true-loss
//! and multi-block steps): u, yhat = F u and c = u + K u - b kept up to date incrementally,
//! the block gradient, the direction's products and the quadratic and true-loss steps.

use super::blocks::output_indicator;
use super::line::descend_to_root;
use super::LineSearch;
use crate::problem::{scalar, to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};

/// The u-subproblem being minimized, with yhat = F u and c = u + K u - b maintained
/// incrementally: c is the block gradient without its F^T F / rho term, so a step needs one
/// gather of c instead of three (u, K u and b), and its update reuses (I + K) g.
pub struct BlockState<'a, B: Backend> {
    pub(super) prob: &'a Problem<B>,
    pub(super) rho: f64,
    /// Minimize the true loss (b holds no loss part), not the quadratic.
    pub(super) true_loss: bool,
    pub(super) b: Tensor<B, 2>,
    pub(super) u: Tensor<B, 2>,
    pub(super) yhat: Tensor<B, 2>,
    pub(super) c: Tensor<B, 2>,
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
    pub(super) fn gradient(&self, patterns: &[usize]) -> BlockGradient<B> {
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
}

/// A block's gradient as both steps use it: the column indices (v-columns, then w-columns),
/// the block's masks (n x m), the gradient g (d x 2m) and g_v - g_w (d x m).
pub(super) struct BlockGradient<B: Backend> {
    pub(super) idx: Tensor<B, 1, Int>,
    pub(super) mask_b: Tensor<B, 2>,
    pub(super) g: Tensor<B, 2>,
    pub(super) g_diff: Tensor<B, 2>,
}

/// A finished `BlockState` between u-steps: u, F u, u + K u - b and the b it was built for.
pub struct Carry<B: Backend> {
    pub(super) u: Tensor<B, 2>,
    pub(super) yhat: Tensor<B, 2>,
    pub(super) c: Tensor<B, 2>,
    pub(super) b: Tensor<B, 2>,
}
