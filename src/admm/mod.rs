//! ADMM (method.md sec. 2), generic over the backend and the u-step solver.
//!
//! `Admm` only computes one iteration at a time (`executor::Iterate`); the stop rules and
//! what happens with each iteration (progress bars, traces, the time-to-target clock) are the
//! executor's and its observers' business, as in argmin.

pub mod usolve;

use crate::executor::{
    self, Executed, InnerStats, IterRecord, Iterate, Observer, Step, Stop, StopRules, Times,
};
use crate::metrics::evaluate;
use crate::problem::{scalar, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use usolve::{SolveError, USolver};

/// The ADMM options every u-solver shares (the manifest's `solver.admm` section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmmOptions {
    /// The penalty rho.
    pub rho: f64,
    /// Dual step ratio (1 = standard ADMM).
    pub gamma: f64,
    /// Boyd et al. absolute and relative tolerances; 0 for both disables the test.
    pub tol_abs: f64,
    pub tol_rel: f64,
}

impl Default for AdmmOptions {
    fn default() -> Self {
        AdmmOptions {
            rho: 0.01,
            gamma: 1.0,
            tol_abs: 1e-6,
            tol_rel: 1e-4,
        }
    }
}

impl AdmmOptions {
    /// Ranges serde cannot express: the first bad field (relative key) and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.rho > 0.0 && self.rho.is_finite()) {
            return Err(("rho", format!("must be > 0, got {}", self.rho)));
        }
        if !(self.gamma > 0.0 && self.gamma < 2.0) {
            return Err(("gamma", format!("must be in (0, 2), got {}", self.gamma)));
        }
        for (key, t) in [("tol_abs", self.tol_abs), ("tol_rel", self.tol_rel)] {
            if !(t >= 0.0 && t.is_finite()) {
                return Err((key, format!("must be >= 0, got {t}")));
            }
        }
        Ok(())
    }
}

/// The end state of a solve.
#[derive(Debug, Clone)]
pub struct Outcome<B: Backend> {
    pub stop: Stop,
    pub iterations: usize,
    pub times: Times,
    pub last: Option<IterRecord>,
    /// The first record that reached the target train accuracy.
    pub reached: Option<IterRecord>,
    /// The group variable v (d x 2P): the recovered network's weights.
    pub v: Tensor<B, 2>,
    /// The u copy, for diagnostics.
    pub u: Tensor<B, 2>,
    /// Every final iterate: a warm start for the same problem at another beta.
    pub state: State<B>,
}

/// ADMM state in scaled form (duals lambda and nu scaled by 1/rho, so valid as a warm start
/// only under the same rho).
#[derive(Debug, Clone)]
pub struct State<B: Backend> {
    pub u: Tensor<B, 2>,
    pub v: Tensor<B, 2>,
    pub lambda: Tensor<B, 2>,
    pub s: Tensor<B, 2>,
    pub nu: Tensor<B, 2>,
}

/// One ADMM run in progress: the problem, the u-solver, the state and the clocks.
pub struct Admm<'a, B: Backend> {
    prob: &'a Problem<B>,
    opts: AdmmOptions,
    usolver: &'a mut dyn USolver<B>,
    /// F^T y / rho: the constant part of the u-step's right-hand side.
    b_fixed: Tensor<B, 2>,
    st: State<B>,
    times: Times,
    start: Instant,
}

impl<'a, B: Backend> Admm<'a, B> {
    /// Precomputation: the u-solver's factorizations and the constant part of b, charged to
    /// `times.precompute` with the problem's own setup.
    pub fn new(
        prob: &'a Problem<B>,
        opts: &AdmmOptions,
        usolver: &'a mut dyn USolver<B>,
    ) -> Result<Self, SolveError> {
        Self::starting_at(prob, opts, usolver, None)
    }

    /// `new`, starting from `start` (a previous solve's `Outcome::state` on a problem of the
    /// same shape, e.g. at the previous beta of a regularization path) instead of zero.
    pub fn starting_at(
        prob: &'a Problem<B>,
        opts: &AdmmOptions,
        usolver: &'a mut dyn USolver<B>,
        from: Option<State<B>>,
    ) -> Result<Self, SolveError> {
        let start = Instant::now();
        let mut times = Times {
            precompute: prob.setup_seconds,
            ..Times::default()
        };
        let t0 = Instant::now();
        usolver.prepare(prob, opts.rho)?;
        let b_fixed = prob.ft(&prob.y).div_scalar(opts.rho);
        sync(prob);
        times.precompute += t0.elapsed().as_secs_f64();
        let st = from.unwrap_or_else(|| State {
            u: prob.zeros_u(),
            v: prob.zeros_u(),
            lambda: prob.zeros_u(),
            s: prob.zeros_s(),
            nu: prob.zeros_s(),
        });
        Ok(Admm {
            prob,
            opts: *opts,
            usolver,
            b_fixed,
            st,
            times,
            start,
        })
    }

    /// The u-step: A u = F^T y / rho + (v - lambda) + G^T (s - nu). Returns G u.
    fn u_step(&mut self, k: usize) -> Result<(Tensor<B, 2>, InnerStats), SolveError> {
        let (prob, st) = (self.prob, &mut self.st);
        let t = Instant::now();
        let b = self.b_fixed.clone()
            + (st.v.clone() - st.lambda.clone())
            + prob.gt(&(st.s.clone() - st.nu.clone()));
        let (u, inner) = self
            .usolver
            .solve(prob, self.opts.rho, b, st.u.clone(), k)?;
        st.u = u;
        let gu = prob.g(&st.u);
        sync(prob);
        self.times.u += t.elapsed().as_secs_f64();
        Ok((gu, inner))
    }

    /// The v-step (group soft-threshold) and s-step (projection onto s >= 0), then the dual
    /// updates. Returns the residuals r_u = u - v, r_s = G u - s and the previous v and s.
    fn v_and_dual_steps(&mut self, gu: &Tensor<B, 2>) -> [Tensor<B, 2>; 4] {
        let (prob, st, rho) = (self.prob, &mut self.st, self.opts.rho);
        let t = Instant::now();
        let v_old = st.v.clone();
        let s_old = st.s.clone();
        st.v = group_soft_threshold(st.u.clone() + st.lambda.clone(), prob.beta / rho);
        st.s = (gu.clone() + st.nu.clone()).clamp_min(0.0);
        sync(prob);
        self.times.v += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let r_u = st.u.clone() - st.v.clone();
        let r_s = gu.clone() - st.s.clone();
        st.lambda = st.lambda.clone() + r_u.clone().mul_scalar(self.opts.gamma);
        st.nu = st.nu.clone() + r_s.clone().mul_scalar(self.opts.gamma);
        sync(prob);
        self.times.dual += t.elapsed().as_secs_f64();
        [r_u, r_s, v_old, s_old]
    }

    /// Untimed: residuals and tolerances (Boyd et al. sec. 3.3, scaled form) and metrics.
    fn record(
        &self,
        iter: usize,
        gu: &Tensor<B, 2>,
        parts: [Tensor<B, 2>; 4],
        inner: InnerStats,
    ) -> Step {
        let (prob, st, o) = (self.prob, &self.st, &self.opts);
        let [r_u, r_s, v_old, s_old] = parts;
        let rho = o.rho;
        let primal = (sq(&r_u) + sq(&r_s)).sqrt();
        let gt_ds = prob.gt(&(st.s.clone() - s_old));
        let dual = rho * (sq(&(st.v.clone() - v_old)) + sq(&gt_ds)).sqrt();
        let n_pri = (prob.dim() + 2 * prob.n * prob.p) as f64;
        let eps_primal = n_pri.sqrt() * o.tol_abs
            + o.tol_rel
                * (sq(&st.u) + sq(gu))
                    .sqrt()
                    .max((sq(&st.v) + sq(&st.s)).sqrt());
        let eps_dual = (prob.dim() as f64).sqrt() * o.tol_abs
            + o.tol_rel * rho * sq(&(st.lambda.clone() + prob.gt(&st.nu))).sqrt();
        let record = IterRecord {
            iter,
            times: self.times,
            wall: self.start.elapsed().as_secs_f64(),
            metrics: evaluate(prob, &st.v),
            primal_residual: primal,
            dual_residual: dual,
            eps_primal,
            eps_dual,
            inner,
            rho,
        };
        let tests_on = o.tol_abs > 0.0 || o.tol_rel > 0.0;
        Step {
            record,
            converged: tests_on && primal <= eps_primal && dual <= eps_dual,
        }
    }

    /// The iterates at the end: v (the model) and u.
    pub fn into_outcome(self, run: Executed) -> Outcome<B> {
        Outcome {
            stop: run.stop,
            iterations: run.iterations,
            times: self.times,
            last: run.last,
            reached: run.reached,
            v: self.st.v.clone(),
            u: self.st.u.clone(),
            state: self.st,
        }
    }
}

impl<B: Backend> Iterate for Admm<'_, B> {
    type Error = SolveError;

    fn unit(&self) -> &'static str {
        "iteration"
    }

    fn step(&mut self, k: usize) -> Result<Step, SolveError> {
        let (gu, inner) = self.u_step(k)?;
        let parts = self.v_and_dual_steps(&gu);
        Ok(self.record(k + 1, &gu, parts, inner))
    }

    /// u, v, s and both duals all exactly zero: the u-step returned zero (rho so large that
    /// F^T y / rho vanishes, data scaled out of f32's range, ...), so the residual test passed
    /// without a step taken.
    fn nothing_moved(&self) -> Option<String> {
        let st = &self.st;
        let all_zero = [&st.u, &st.v, &st.lambda, &st.s, &st.nu]
            .into_iter()
            .all(|t| sq(t) == 0.0);
        all_zero.then(|| {
            format!(
                "the iterates stayed at zero, so the residual test passed without a step taken \
                 (rho = {} too large for the data scale?)",
                self.opts.rho
            )
        })
    }

    /// An inner solve that overflowed f32, or a NaN or infinite objective or residual.
    fn divergence(&self, r: &IterRecord) -> Option<String> {
        if r.inner.rel_residual == f64::INFINITY {
            return Some(
                "the inner solve overflowed f32 (inf in ||b|| or p'Ap: is the data scaled?)".into(),
            );
        }
        [
            ("objective", r.metrics.objective),
            ("primal residual", r.primal_residual),
            ("dual residual", r.dual_residual),
        ]
        .iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(name, v)| format!("{name} is {v}"))
    }
}

/// Runs ADMM on `prob` with the given u-solver until a stop rule fires.
pub fn solve<B: Backend>(
    prob: &Problem<B>,
    opts: &AdmmOptions,
    rules: &StopRules,
    usolver: &mut dyn USolver<B>,
    observer: &mut dyn Observer,
) -> Result<Outcome<B>, SolveError> {
    solve_from(prob, opts, rules, usolver, observer, None)
}

/// `solve`, warm-started from `start` when given (`Admm::starting_at`).
pub fn solve_from<B: Backend>(
    prob: &Problem<B>,
    opts: &AdmmOptions,
    rules: &StopRules,
    usolver: &mut dyn USolver<B>,
    observer: &mut dyn Observer,
    start: Option<State<B>>,
) -> Result<Outcome<B>, SolveError> {
    let mut admm = Admm::starting_at(prob, opts, usolver, start)?;
    let run = executor::execute(&mut admm, rules, observer)?;
    Ok(admm.into_outcome(run))
}

/// Waits for queued device work, so that the clocks count it.
fn sync<B: Backend>(prob: &Problem<B>) {
    let _ = B::sync(&prob.device);
}

/// Squared Frobenius norm.
fn sq<B: Backend>(t: &Tensor<B, 2>) -> f64 {
    scalar(t.clone() * t.clone())
}

/// v_j = max(0, 1 - c / ||w_j||) w_j for every column j.
pub fn group_soft_threshold<B: Backend>(w: Tensor<B, 2>, c: f64) -> Tensor<B, 2> {
    let norms = (w.clone() * w.clone()).sum_dim(0).sqrt().clamp_min(1e-30);
    let factor = norms.recip().mul_scalar(-c).add_scalar(1.0).clamp_min(0.0);
    w * factor
}
