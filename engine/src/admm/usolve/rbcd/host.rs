//! RBCD's block state on the host, for the fused step on the CPU backends (issue 31): u,
//! c = u + K u - b, b and yhat = F u as f32 vectors, stepped by the one-pass kernel
//! (kernel.rs) with the block drawn next and its gradient's sum carried from step to step.
//!
//! The quadratic step is the tensor step's (`BlockState::step`) with the same line search, on
//! the same columns, so the iterates agree up to rounding; what changes is that a step reads X
//! once. Step j's pass forms F g_j and, for block j + 1, s_r = X^T (M .* F u) and
//! s_a = X^T (M .* F g_j); after the line search picks t, block j + 1's sum at the moved
//! u is s_r - t s_a (`Pending`). `step_two_pass` runs the same kernels in two passes, as the
//! tensor step does, for the test and the bench that compare the two.
//!
//! u, c and b are stored column by column (column j of the d x 2PC matrix at j d), so that a
//! block's columns are contiguous; yhat is n x C row-major, as X and the mask.

use super::kernel::{gram_apply, Gates, Pass, PassResult};
use super::state::{BlockState, Carry};
use super::LineSearch;
use crate::problem::{to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Element, Tensor, TensorData};

/// Whether the fused host step can run beside backend B: a CPU backend whose tensors are f32,
/// like the host copies of X the kernel reads (`Problem::x_host`).
pub fn host_backend<B: Backend>(device: &B::Device) -> bool {
    let name = B::name(device);
    (name == "flex" || name == "ndarray") && <B::FloatElem as Element>::dtype() == DType::F32
}

/// K = X^T X on the host (d x d row-major, f32): the fused step's curvature product reads it.
pub fn host_gram<B: Backend>(prob: &Problem<B>) -> Vec<f32> {
    to_host(prob.k.clone())
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

/// A drawn block and X^T (M_J .* F u) on its columns (m x d) at the state's current u: the
/// part of its gradient that needs X.
#[derive(Debug, Clone)]
pub struct Pending {
    pub cols: Vec<usize>,
    sums: Vec<f32>,
}

/// A finished `HostState` between u-steps (u, c, b and F u), to be resumed by the next one.
pub struct HostCarry {
    u: Vec<f32>,
    c: Vec<f32>,
    b: Vec<f32>,
    yhat: Vec<f32>,
}

impl HostCarry {
    /// Whether `u` (d x 2PC, row-major) is exactly this carry's u: only then does its F u
    /// still hold.
    pub fn holds<B: Backend>(&self, u: &Tensor<B, 2>) -> bool {
        let [d, cols] = u.dims();
        let host = to_host(u.clone());
        host.len() == self.u.len()
            && (0..d * cols).all(|e| host[e] == f64::from(self.u[(e % cols) * d + e / cols]))
    }
}

/// The u-subproblem on the host: see the module documentation.
pub struct HostState<'a> {
    x: &'a [f32],
    mask: &'a [f32],
    k: &'a [f32],
    n: usize,
    d: usize,
    p: usize,
    /// Columns of one side, PC.
    q: usize,
    outs: usize,
    rho: f64,
    u: Vec<f32>,
    c: Vec<f32>,
    b: Vec<f32>,
    yhat: Vec<f32>,
}

/// A d x cols row-major tensor as its columns, one after another.
fn columns<B: Backend>(t: Tensor<B, 2>) -> Vec<f32> {
    let [d, cols] = t.dims();
    let host = to_host(t);
    (0..d * cols)
        .map(|e| host[(e % d) * cols + e / d] as f32)
        .collect()
}

impl<'a> HostState<'a> {
    /// Starts at u (one F and one K product on the backend, as `BlockState::new`); `k` is
    /// `host_gram(prob)`.
    pub fn new<B: Backend>(
        prob: &'a Problem<B>,
        k: &'a [f32],
        rho: f64,
        b: Tensor<B, 2>,
        u: Tensor<B, 2>,
    ) -> Self {
        let carry = BlockState::new(prob, rho, b, u).into_carry();
        Self::from_carry(prob, k, rho, carry)
    }

    /// The tensor state's carry, brought to the host.
    fn from_carry<B: Backend>(prob: &'a Problem<B>, k: &'a [f32], rho: f64, t: Carry<B>) -> Self {
        let Carry { u, yhat, c, b } = t;
        let yhat = to_host(yhat).into_iter().map(|v| v as f32).collect();
        Self::with(prob, k, rho, [columns(u), columns(c), columns(b)], yhat)
    }

    /// The state of `prob` with columns u, c, b (as `columns` lays them out) and yhat.
    fn with<B: Backend>(
        prob: &'a Problem<B>,
        k: &'a [f32],
        rho: f64,
        [u, c, b]: [Vec<f32>; 3],
        yhat: Vec<f32>,
    ) -> Self {
        HostState {
            x: &prob.x_host,
            mask: &prob.patterns.mask,
            k,
            n: prob.n,
            d: prob.d,
            p: prob.p,
            q: prob.q(),
            outs: prob.c,
            rho,
            u,
            c,
            b,
            yhat,
        }
    }

    /// Continues from a finished state with a new b (and rho): c moves by b_old - b, as in
    /// `BlockState::resume`.
    pub fn resume<B: Backend>(
        prob: &'a Problem<B>,
        k: &'a [f32],
        rho: f64,
        b: Tensor<B, 2>,
        carry: HostCarry,
    ) -> Self {
        let b = columns(b);
        let c = carry
            .c
            .iter()
            .zip(&carry.b)
            .zip(&b)
            .map(|((c, old), new)| c + old - new)
            .collect();
        Self::with(prob, k, rho, [carry.u, c, b], carry.yhat)
    }

    pub fn into_carry(self) -> HostCarry {
        HostCarry {
            u: self.u,
            c: self.c,
            b: self.b,
            yhat: self.yhat,
        }
    }

    /// u as a d x 2PC tensor on `device`.
    pub fn u_tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2> {
        let (d, cols) = (self.d, 2 * self.q);
        let rows: Vec<f32> = (0..d * cols)
            .map(|e| self.u[(e % cols) * d + e / cols])
            .collect();
        Tensor::from_data(TensorData::new(rows, [d, cols]), device)
    }

    fn pass(&self) -> Pass<'_> {
        Pass {
            x: self.x,
            n: self.n,
            d: self.d,
            mask: self.mask,
            p: self.p,
            outs: self.outs,
            yhat: &self.yhat,
        }
    }

    /// The block `cols` with its gradient's sum at the current u: one pass over X (the first
    /// block of a u-step, or a carried block whose sum no longer holds).
    pub fn pending(&self, cols: Vec<usize>) -> Pending {
        let sums = self.pass().run(None, Some(&Gates::of(&cols, self.p))).sums;
        Pending { cols, sums }
    }

    /// The block gradient g (2m x d: the v-columns, then the w-columns) from its sum:
    /// g = c_J + [s, -s] / rho, as `BlockState::gradient` forms it.
    fn gradient(&self, block: &Pending) -> Vec<f32> {
        let (d, m) = (self.d, block.cols.len());
        let rho = self.rho as f32;
        let mut g = vec![0f32; 2 * m * d];
        for (k, &col) in block.cols.iter().enumerate() {
            let s = &block.sums[k * d..(k + 1) * d];
            let (cv, cw) = (
                self.column(&self.c, col),
                self.column(&self.c, self.q + col),
            );
            let (gv, gw) = g.split_at_mut(m * d);
            let (gv, gw) = (&mut gv[k * d..(k + 1) * d], &mut gw[k * d..(k + 1) * d]);
            for ((((gv, gw), s), cv), cw) in gv.iter_mut().zip(gw).zip(s).zip(cv).zip(cw) {
                let f = s / rho;
                *gv = cv + f;
                *gw = cw - f;
            }
        }
        g
    }

    fn column<'v>(&self, v: &'v [f32], col: usize) -> &'v [f32] {
        &v[col * self.d..(col + 1) * self.d]
    }

    /// g_v - g_w per column (m x d): what X multiplies for F g.
    fn difference(&self, g: &[f32], m: usize) -> Vec<f32> {
        let half = m * self.d;
        g[..half]
            .iter()
            .zip(&g[half..])
            .map(|(v, w)| v - w)
            .collect()
    }

    /// The line search and the move, once F g is known: (I + K) g from K, the exact change
    /// of q along -g, then u, c and yhat updated. Returns (t, decrease), None when the search
    /// found nothing to do (nothing moves).
    fn line_step(
        &mut self,
        cols: &[usize],
        g: &[f32],
        pass: &PassResult,
        line: &mut LineSearch,
    ) -> Option<(f64, f64)> {
        let (d, m) = (self.d, cols.len());
        let mut ikg = gram_apply(self.k, d, g, 2 * m);
        for (v, gi) in ikg.iter_mut().zip(g) {
            *v += gi;
        }
        let gg: f64 = g.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let gikg: f64 = g
            .iter()
            .zip(&ikg)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let (t, decrease) = line.search(gg, gikg + pass.ff / self.rho)?;
        let tf = t as f32;
        for j in 0..2 * m {
            let col = if j < m { cols[j] } else { self.q + cols[j - m] };
            let at = col * d..(col + 1) * d;
            for ((u, c), (gi, ki)) in self.u[at.clone()]
                .iter_mut()
                .zip(&mut self.c[at])
                .zip(g[j * d..(j + 1) * d].iter().zip(&ikg[j * d..(j + 1) * d]))
            {
                *u += -tf * gi;
                *c += -tf * ki;
            }
        }
        for (y, f) in self.yhat.iter_mut().zip(&pass.fg) {
            *y -= f * tf;
        }
        Some((t, decrease))
    }

    /// One step on `block` in one read of X, drawing nothing: `next` is the block after it,
    /// whose gradient's sum the same pass accumulates; on return `block` is `next` with that
    /// sum at the moved u. Returns the decrease of q (0 when the search found nothing to do).
    pub fn step_fused(
        &mut self,
        block: &mut Pending,
        next: Vec<usize>,
        line: &mut LineSearch,
    ) -> f64 {
        let (d, m, m_next) = (self.d, block.cols.len(), next.len());
        let g = self.gradient(block);
        let gd = self.difference(&g, m);
        let now = Gates::of(&block.cols, self.p);
        let pass = self
            .pass()
            .run(Some((&now, &gd)), Some(&Gates::of(&next, self.p)));
        let found = self.line_step(&block.cols, &g, &pass, line);
        let t = found.map_or(0.0, |(t, _)| t) as f32;
        let (s_r, s_a) = pass.sums.split_at(m_next * d);
        let sums = s_r.iter().zip(s_a).map(|(r, a)| r - t * a).collect();
        *block = Pending { cols: next, sums };
        found.map_or(0.0, |(_, decrease)| decrease)
    }

    /// The same step in two reads of X, as the tensor step: the gradient's pass, then F g's.
    pub fn step_two_pass(&mut self, cols: &[usize], line: &mut LineSearch) -> f64 {
        let block = self.pending(cols.to_vec());
        let g = self.gradient(&block);
        let gd = self.difference(&g, cols.len());
        let pass = self.pass().run(Some((&Gates::of(cols, self.p), &gd)), None);
        self.line_step(cols, &g, &pass, line)
            .map_or(0.0, |(_, decrease)| decrease)
    }
}
