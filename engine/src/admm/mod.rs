//! ADMM (method.md sec. 2), generic over the backend and the u-step solver.
//!
//! `Admm` only computes one iteration at a time (`executor::Iterate`); the stop rules and
//! what happens with each iteration (progress bars, traces, the time-to-target clock) are the
//! executor's and its observers' business, as in argmin.

pub mod anderson;
pub mod certificate;
pub mod checkpoint;
pub mod feasible;
pub mod finish;
pub mod interior;
mod options;
pub mod rho;
pub mod soc;
pub mod usolve;

use crate::executor::{
    self, Executed, InnerStats, IterRecord, Iterate, Observer, Step, Stop, StopRules, Times,
};
use crate::metrics::{evaluate, train_acc_of_gu, Metrics};
use crate::problem::{scalar, Problem};
use anderson::Anderson;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
pub use checkpoint::Checkpoint;
pub use rho::RhoRule;
use rho::{Residuals, SpectralPoint};
use std::time::Instant;
use usolve::{SolveError, USolver};

pub use options::{AdmmOptions, DEFAULT_CONVERGED_GAP, DEFAULT_FINISH_EVERY};

/// A rejected finish doubles the wait before the next attempt, up to 2^this checks.
const FINISH_BACKOFF: u32 = 3;

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
    /// The whole end state (to warm-start another solve with `Admm::from_state`).
    pub state: State<B>,
    /// The penalty at the end, which the scaled duals of `state` belong to.
    pub rho: f64,
    /// The feasible point the last record's upper bound and certified gap belong to: v
    /// restored to the cone constraints (`feasible.rs`), or the finish's polished point.
    pub certified: Option<feasible::Feasible<B>>,
}

/// ADMM state in scaled form: the duals lambda (of u - v) and nu (of G u - s) are the
/// unscaled multipliers divided by rho.
#[derive(Debug, Clone)]
pub struct State<B: Backend> {
    pub u: Tensor<B, 2>,
    pub v: Tensor<B, 2>,
    pub lambda: Tensor<B, 2>,
    pub s: Tensor<B, 2>,
    pub nu: Tensor<B, 2>,
}

impl<B: Backend> State<B> {
    /// Everything zero: the cold start.
    pub fn zeros(prob: &Problem<B>) -> Self {
        State {
            u: prob.zeros_u(),
            v: prob.zeros_u(),
            lambda: prob.zeros_u(),
            s: prob.zeros_s(),
            nu: prob.zeros_s(),
        }
    }

    /// (v, s, lambda, nu), the point of the fixed-point map, as one 1 x N row.
    fn flat(&self) -> Tensor<B, 2> {
        let row = |t: &Tensor<B, 2>| {
            let [a, b] = t.dims();
            t.clone().reshape([1, a * b])
        };
        Tensor::cat(
            vec![row(&self.v), row(&self.s), row(&self.lambda), row(&self.nu)],
            1,
        )
    }

    /// The inverse of `flat`, with u taken from `self`.
    fn with_flat(&self, x: Tensor<B, 2>) -> Self {
        let ([d, c], [n, _]) = (self.v.dims(), self.s.dims());
        let mut at = 0;
        let mut take = |rows: usize| {
            let t = x
                .clone()
                .slice([0..1, at..at + rows * c])
                .reshape([rows, c]);
            at += rows * c;
            t
        };
        let (v, s, lambda, nu) = (take(d), take(n), take(d), take(n));
        State {
            u: self.u.clone(),
            v,
            lambda,
            s,
            nu,
        }
    }
}

/// What one iteration's v-, s- and dual steps changed, for the record and the rho rule.
struct Moves<B: Backend> {
    r_u: Tensor<B, 2>,
    r_s: Tensor<B, 2>,
    v_old: Tensor<B, 2>,
    s_old: Tensor<B, 2>,
    /// The spectral rule's hat dual (unscaled), when that rule is on.
    y_hat: Option<[Tensor<B, 2>; 2]>,
}

/// The rho rule's memory: the proposal waiting for the next iteration and the spectral
/// rule's earlier point.
struct Adapt<B: Backend> {
    pending: Option<f64>,
    then: Option<SpectralPoint<B>>,
    changes: usize,
}

/// Anderson acceleration's memory and its safeguard.
struct Accel<B: Backend> {
    aa: Anderson<B>,
    /// The accelerated point the next iteration starts from.
    next: Option<State<B>>,
    /// ||T(x) - x|| of the last iteration: an accelerated start must not increase it.
    last_residual: f64,
}

/// One ADMM run in progress: the problem, the u-solver, the state and the clocks.
pub struct Admm<'a, B: Backend> {
    prob: &'a Problem<B>,
    opts: AdmmOptions,
    usolver: &'a mut dyn USolver<B>,
    /// The current penalty.
    rho: f64,
    /// F^T y / rho: the constant part of the u-step's right-hand side (squared loss only;
    /// other losses build theirs each iteration, `loss_rhs`).
    b_fixed: Tensor<B, 2>,
    st: State<B>,
    adapt: Adapt<B>,
    accel: Option<Accel<B>>,
    times: Times,
    start: Instant,
    /// Wall-clock seconds before `start`: those of the interrupted process a resumed solve
    /// goes on from (0 for a fresh one).
    wall_before: f64,
    restorer: feasible::Restorer<B>,
    /// The feasible point of the last record (`Outcome::certified`).
    certified: Option<feasible::Feasible<B>>,
    /// The first iteration at which the next finish attempt may run, and the rejected
    /// attempts so far: each rejection doubles the wait (up to `FINISH_BACKOFF` checks), so
    /// failed attempts stay a small share of the work. Counted in iterations, not seconds,
    /// so that a run is the same on every machine.
    finish_next: usize,
    finish_fails: u32,
    /// The interior-point finish runs at most once per solve (`try_interior`).
    interior_tried: bool,
    /// The run's time limit (the executor's rule), so that the interior-point finish stops
    /// in time: it is one long call, which the executor cannot cut short.
    pub time_limit: Option<f64>,
    /// The structure at the last check for a finish (`finish::structure`: v's non-zero
    /// groups and the cone rows whose slack is zero): an attempt is made only once it holds
    /// still between two checks (while ADMM still changes it, a polish is wasted work).
    finish_structure: Option<Vec<bool>>,
}

impl<'a, B: Backend> Admm<'a, B> {
    /// A cold start (everything zero). Precomputation: the u-solver's factorizations and the
    /// constant part of b, charged to `times.precompute` with the problem's own setup.
    pub fn new(
        prob: &'a Problem<B>,
        opts: &AdmmOptions,
        usolver: &'a mut dyn USolver<B>,
    ) -> Result<Self, SolveError> {
        Self::from_state(prob, opts, usolver, State::zeros(prob))
    }

    /// A warm start from `state`, whose scaled duals belong to `opts.rho`.
    pub fn from_state(
        prob: &'a Problem<B>,
        opts: &AdmmOptions,
        usolver: &'a mut dyn USolver<B>,
        state: State<B>,
    ) -> Result<Self, SolveError> {
        let start = Instant::now();
        let mut times = Times {
            precompute: prob.setup_seconds,
            ..Times::default()
        };
        let t0 = Instant::now();
        usolver.prepare(prob, opts.rho / prob.loss.curvature())?;
        let b_fixed = prob.ft(&prob.y).div_scalar(opts.rho);
        sync(prob);
        times.precompute += t0.elapsed().as_secs_f64();
        let accel = (opts.anderson > 0).then(|| Accel {
            aa: Anderson::new(opts.anderson),
            next: None,
            last_residual: f64::INFINITY,
        });
        Ok(Admm {
            prob,
            opts: *opts,
            usolver,
            rho: opts.rho,
            b_fixed,
            st: state,
            adapt: Adapt {
                pending: None,
                then: None,
                changes: 0,
            },
            accel,
            times,
            start,
            wall_before: 0.0,
            restorer: feasible::Restorer::new(prob),
            certified: None,
            finish_next: 0,
            finish_fails: 0,
            interior_tried: false,
            time_limit: None,
            finish_structure: None,
        })
    }

    /// Goes on from a checkpoint (`checkpoint.rs`): its iterates at its rho, its clocks, the
    /// rho rule's and the finish's memory and the u-solver's state. The u-solver's
    /// factorizations are rebuilt, and that time is added to the checkpoint's precomputation:
    /// it was spent, so the time limit and the reported seconds count it.
    pub fn from_checkpoint(
        prob: &'a Problem<B>,
        opts: &AdmmOptions,
        usolver: &'a mut dyn USolver<B>,
        cp: &Checkpoint,
    ) -> Result<Self, SolveError> {
        cp.check(prob).map_err(SolveError::Checkpoint)?;
        let dev = &prob.device;
        let state = State {
            u: cp.u.tensor(dev),
            v: cp.v.tensor(dev),
            lambda: cp.lambda.tensor(dev),
            s: cp.s.tensor(dev),
            nu: cp.nu.tensor(dev),
        };
        let c = &cp.counters;
        let at = AdmmOptions {
            rho: c.rho,
            ..*opts
        };
        let mut admm = Self::from_state(prob, &at, usolver, state)?;
        admm.usolver.restore_state(&c.usolver);
        admm.times = Times {
            precompute: c.times.precompute + admm.times.precompute,
            ..c.times
        };
        admm.wall_before = c.wall;
        admm.adapt.pending = c.pending_rho;
        admm.adapt.changes = c.rho_changes;
        admm.finish_next = c.finish_next;
        admm.finish_fails = c.finish_fails;
        admm.interior_tried = c.interior_tried;
        admm.finish_structure = cp.structure.clone();
        Ok(admm)
    }

    /// The current iterates.
    pub fn state(&self) -> &State<B> {
        &self.st
    }

    /// The current penalty.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// Changes rho to `rho`: the scaled duals are rescaled so that the unscaled multipliers
    /// (and so the fixed point) stay where they are, and the u-solver redoes its rho-dependent
    /// work (charged to precomputation).
    pub fn set_rho(&mut self, rho: f64) -> Result<(), SolveError> {
        let t = Instant::now();
        let ratio = self.rho / rho;
        self.st.lambda = self.st.lambda.clone().mul_scalar(ratio);
        self.st.nu = self.st.nu.clone().mul_scalar(ratio);
        self.b_fixed = self.b_fixed.clone().mul_scalar(ratio);
        self.usolver
            .prepare(self.prob, rho / self.prob.loss.curvature())?;
        self.rho = rho;
        self.adapt.changes += 1;
        if let Some(acc) = &mut self.accel {
            // The history's duals are in the old scaling.
            acc.aa.reset();
            acc.next = None;
            acc.last_residual = f64::INFINITY;
        }
        sync(self.prob);
        self.times.precompute += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// The u-step: A u = F^T y / rho + (v - lambda) + G^T (s - nu). Returns G u.
    ///
    /// For a loss other than the squared one, the loss is majorized at the current u_k by
    /// its curvature bound L (`Loss::curvature`): loss(F u) is at most loss(F u_k) plus
    /// <grad, F (u - u_k)> plus L/2 ||F (u - u_k)||^2. Minimizing that instead is the squared-loss u-step with rho
    /// replaced by rho / L and y by the working response F u_k - grad / L, so every u-solver
    /// solves it unchanged (A_L = I + (L / rho) F^T F + G^T G). At a fixed point u = u_k the
    /// majorizer's gradient is the loss's, so ADMM's fixed points are the problem's optima;
    /// the squared loss is L = 1 exactly, with the same operations as before.
    fn u_step(&mut self, k: usize) -> Result<(Tensor<B, 2>, InnerStats), SolveError> {
        let t = Instant::now();
        let (rho_u, b) = self.loss_rhs();
        let (prob, st) = (self.prob, &mut self.st);
        let b = b + (st.v.clone() - st.lambda.clone()) + prob.gt(&(st.s.clone() - st.nu.clone()));
        let (u, inner) = self.usolver.solve(prob, rho_u, b, st.u.clone(), k)?;
        st.u = u;
        let gu = prob.g(&st.u);
        sync(prob);
        self.times.u += t.elapsed().as_secs_f64();
        Ok((gu, inner))
    }

    /// The rho the u-solver gets and the loss's part of the u-step's right-hand side: rho and
    /// F^T y / rho for the squared loss (precomputed); for the others rho / L and
    /// F^T (F u_k - grad loss(F u_k) / L) / (rho / L), or the true rho and nothing for a
    /// solver that minimizes the loss itself (`USolver::true_loss`).
    fn loss_rhs(&self) -> (f64, Tensor<B, 2>) {
        let prob = self.prob;
        if prob.loss == crate::loss::Loss::Squared {
            return (self.rho, self.b_fixed.clone());
        }
        if self.usolver.true_loss() {
            return (self.rho, prob.zeros_u());
        }
        let rho_l = self.rho / prob.loss.curvature();
        let yhat = prob.f(&self.st.u);
        let grad = prob.loss.gradient(yhat.clone(), &prob.y);
        let working = yhat - grad.div_scalar(prob.loss.curvature());
        (rho_l, prob.ft(&working).div_scalar(rho_l))
    }

    /// The v-step (group soft-threshold) and s-step (projection onto s >= 0) at the
    /// over-relaxed points alpha u + (1 - alpha) v_old and alpha G u + (1 - alpha) s_old, then
    /// the dual updates.
    fn v_and_dual_steps(&mut self, gu: &Tensor<B, 2>) -> Moves<B> {
        let (prob, st, rho, a) = (self.prob, &mut self.st, self.rho, self.opts.alpha);
        let t = Instant::now();
        let v_old = st.v.clone();
        let s_old = st.s.clone();
        let relax = |x: &Tensor<B, 2>, old: &Tensor<B, 2>| {
            if a == 1.0 {
                x.clone()
            } else {
                x.clone().mul_scalar(a) + old.clone().mul_scalar(1.0 - a)
            }
        };
        let (u_hat, g_hat) = (relax(&st.u, &v_old), relax(gu, &s_old));
        let y_hat = (self.opts.rho_rule == RhoRule::Spectral).then(|| {
            [
                (st.lambda.clone() + u_hat.clone() - v_old.clone()).mul_scalar(rho),
                (st.nu.clone() + g_hat.clone() - s_old.clone()).mul_scalar(rho),
            ]
        });
        st.v = group_soft_threshold(u_hat.clone() + st.lambda.clone(), prob.beta / rho);
        st.s = (g_hat.clone() + st.nu.clone()).clamp_min(0.0);
        sync(prob);
        self.times.v += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let gamma = self.opts.gamma;
        st.lambda = st.lambda.clone() + (u_hat - st.v.clone()).mul_scalar(gamma);
        st.nu = st.nu.clone() + (g_hat - st.s.clone()).mul_scalar(gamma);
        sync(prob);
        self.times.dual += t.elapsed().as_secs_f64();
        Moves {
            r_u: st.u.clone() - st.v.clone(),
            r_s: gu.clone() - st.s.clone(),
            v_old,
            s_old,
            y_hat,
        }
    }

    /// One plain ADMM iteration from the current state.
    fn plain_step(&mut self, k: usize) -> Result<(Tensor<B, 2>, Moves<B>, InnerStats), SolveError> {
        let (gu, inner) = self.u_step(k)?;
        let moves = self.v_and_dual_steps(&gu);
        Ok((gu, moves, inner))
    }

    /// A plain iteration, from the accelerated point when there is one. The safeguard: if the
    /// fixed-point residual grew from an accelerated start, the iteration is redone from the
    /// plain point it replaced, and the history restarts.
    fn accelerated_step(
        &mut self,
        k: usize,
    ) -> Result<(Tensor<B, 2>, Moves<B>, InnerStats), SolveError> {
        let Some(next) = self.accel.as_mut().and_then(|a| a.next.take()) else {
            let base = self.accel.is_some().then(|| self.st.flat());
            let out = self.plain_step(k)?;
            if let Some(x) = base {
                self.accelerate(x);
            }
            return Ok(out);
        };
        let fallback = std::mem::replace(&mut self.st, next);
        let base = self.st.flat();
        let out = self.plain_step(k)?;
        let residual = self.residual_from(&base);
        let acc = self.accel.as_mut().expect("accelerating");
        if residual <= acc.last_residual {
            self.accelerate(base);
            return Ok(out);
        }
        acc.aa.reset();
        self.st = State {
            u: self.st.u.clone(),
            ..fallback
        };
        let base = self.st.flat();
        let out = self.plain_step(k)?;
        self.accelerate(base);
        Ok(out)
    }

    /// ||T(x) - x|| for the base x of the iteration just taken.
    fn residual_from(&self, base: &Tensor<B, 2>) -> f64 {
        sq(&(self.st.flat() - base.clone())).sqrt()
    }

    /// Records base -> current state and prepares the next iteration's accelerated start.
    fn accelerate(&mut self, base: Tensor<B, 2>) {
        let residual = self.residual_from(&base);
        let y = self.st.flat();
        let acc = self.accel.as_mut().expect("accelerating");
        acc.last_residual = residual;
        acc.next = acc.aa.push(base, y).map(|x| self.st.with_flat(x));
    }

    /// Untimed: residuals and tolerances (Boyd et al. sec. 3.3, scaled form), metrics and the
    /// certificate.
    fn record(
        &self,
        iter: usize,
        gu: &Tensor<B, 2>,
        mv: &Moves<B>,
        inner: InnerStats,
    ) -> (Step, Residuals, feasible::Feasible<B>) {
        let (prob, st, o, rho) = (self.prob, &self.st, &self.opts, self.rho);
        let primal = (sq(&mv.r_u) + sq(&mv.r_s)).sqrt();
        let gt_ds = prob.gt(&(st.s.clone() - mv.s_old.clone()));
        let dual = rho * (sq(&(st.v.clone() - mv.v_old.clone())) + sq(&gt_ds)).sqrt();
        let res = Residuals {
            primal,
            dual,
            primal_scale: (sq(&st.u) + sq(gu))
                .sqrt()
                .max((sq(&st.v) + sq(&st.s)).sqrt()),
            dual_scale: rho * sq(&(st.lambda.clone() + prob.gt(&st.nu))).sqrt(),
        };
        let n_pri = (prob.dim() + 2 * prob.n * prob.q()) as f64;
        let eps_primal = n_pri.sqrt() * o.tol_abs + o.tol_rel * res.primal_scale;
        let eps_dual = (prob.dim() as f64).sqrt() * o.tol_abs + o.tol_rel * res.dual_scale;
        let metrics = Metrics {
            train_acc_u: train_acc_of_gu(prob, gu),
            ..evaluate(prob, &st.v)
        };
        let bound = certificate::lower_bound(prob, &st.u, &st.nu, rho);
        // The upper bound is the objective of a feasible point, so the gap is never below
        // the relative suboptimality of that point (up to rounding).
        let feas = self.restorer.restore(prob, &st.v);
        let record = IterRecord {
            iter,
            times: self.times,
            wall: self.wall_before + self.start.elapsed().as_secs_f64(),
            metrics,
            primal_residual: primal,
            dual_residual: dual,
            eps_primal,
            eps_dual,
            inner,
            rho,
            lower_bound: bound.lower,
            upper_bound: feas.objective,
            rel_gap: certificate::relative_gap(feas.objective, bound.lower),
            rel_primal: primal / res.primal_scale.max(f64::MIN_POSITIVE),
            rho_changes: self.adapt.changes,
        };
        let tests_on = o.tol_abs > 0.0 || o.tol_rel > 0.0;
        // When a gap was asked for, small residuals do not stop the run before it is proven.
        let proven = o.tol_gap <= 0.0 || record.rel_gap <= o.tol_gap;
        let step = Step {
            record,
            converged: tests_on && primal <= eps_primal && dual <= eps_dual && proven,
        };
        (step, res, feas)
    }

    /// The rule's proposal after iteration `k` (0-based), applied at the start of the next.
    fn propose(&mut self, k: usize, res: &Residuals, gu: &Tensor<B, 2>, mv: Moves<B>) {
        let due = (k + 1).is_multiple_of(self.opts.rho_interval);
        self.adapt.pending = match self.opts.rho_rule {
            RhoRule::Fixed => None,
            RhoRule::Balance => due.then(|| rho::balance(self.rho, res)).flatten(),
            RhoRule::Spectral => {
                let st = &self.st;
                let y = |t: &Tensor<B, 2>| t.clone().mul_scalar(self.rho);
                let now = SpectralPoint {
                    h: [st.u.clone(), gu.clone()],
                    y_hat: mv.y_hat.expect("computed for the spectral rule"),
                    g: [st.v.clone(), st.s.clone()],
                    y: [y(&st.lambda), y(&st.nu)],
                };
                match self.adapt.then.take() {
                    Some(then) if due => {
                        self.adapt.then = Some(now.clone());
                        rho::spectral(&then, &now)
                    }
                    Some(then) => {
                        self.adapt.then = Some(then);
                        None
                    }
                    None => {
                        self.adapt.then = Some(now);
                        None
                    }
                }
            }
        };
    }

    /// The iterates at the end: v (the model) and u. When a gap was asked for
    /// (`tol_gap` > 0), the model is the certified feasible point, the one the gap is about.
    pub fn into_outcome(self, run: Executed) -> Outcome<B> {
        let v = match (&self.certified, self.opts.tol_gap > 0.0) {
            (Some(c), true) => c.v.clone(),
            _ => self.st.v.clone(),
        };
        Outcome {
            stop: run.stop,
            iterations: run.iterations,
            times: self.times,
            last: run.last,
            reached: run.reached,
            v,
            u: self.st.u.clone(),
            state: self.st,
            rho: self.rho,
            certified: self.certified,
        }
    }
}

impl<B: Backend> Iterate for Admm<'_, B> {
    type Error = SolveError;

    fn unit(&self) -> &'static str {
        "iteration"
    }

    fn step(&mut self, k: usize) -> Result<Step, SolveError> {
        if let Some(p) = self.adapt.pending.take() {
            if rho::adopt(self.rho, p, self.opts.rho_factor) {
                self.set_rho(p)?;
            }
        }
        let (gu, moves, inner) = self.accelerated_step(k)?;
        let (mut step, res, feas) = self.record(k + 1, &gu, &moves, inner);
        self.certified = Some(feas);
        let o = &self.opts;
        let due = o.tol_gap > 0.0
            && o.finish_every > 0
            && (k + 1).is_multiple_of(o.finish_every)
            && (step.record.rel_gap.is_nan() || step.record.rel_gap > o.tol_gap)
            && k + 1 >= self.finish_next;
        if due && self.opts.interior && !self.interior_tried {
            self.interior_tried = true;
            if let Some(p) = self.try_interior() {
                self.take_polished(p, &mut step.record);
            }
        }
        let unproven = step.record.rel_gap.is_nan() || step.record.rel_gap > self.opts.tol_gap;
        if due && unproven {
            let structure = finish::structure(&self.st.v, &self.st.s);
            let cols = 2 * self.prob.q();
            let settled = self.finish_structure.as_ref().is_some_and(|before| {
                finish::settled(before, &structure, cols, step.record.rel_gap)
            });
            if settled {
                // The structure's first flags are v's active groups.
                match self.try_finish(&structure[..cols]) {
                    finish::Verdict::Accepted(p) => self.take_polished(p, &mut step.record),
                    finish::Verdict::Rejected(_) => {
                        let wait = 1 << self.finish_fails.min(FINISH_BACKOFF);
                        self.finish_next = k + 1 + wait * self.opts.finish_every;
                        self.finish_fails += 1;
                    }
                }
            }
            self.finish_structure = Some(structure);
        }
        self.propose(k, &res, &gu, moves);
        Ok(step)
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
                self.rho
            )
        })
    }

    /// The certified relative gap reached `solver.admm.tol_gap`. The gap's upper bound is the
    /// objective of a feasible point (`Outcome::certified`), so no residual test is needed.
    fn gap_reached(&self, r: &IterRecord) -> bool {
        let tol = self.opts.tol_gap;
        tol > 0.0 && r.rel_gap <= tol
    }

    /// Boyd's residual test passed: `converged` only if the certified gap backs it up.
    fn certified(&self, r: &IterRecord) -> bool {
        r.rel_gap <= self.opts.converged_gap
    }

    /// The state after `iterations` iterations, on the host (`checkpoint.rs`).
    fn checkpoint(&self, iterations: usize) -> Option<Checkpoint> {
        let st = &self.st;
        Some(Checkpoint {
            counters: checkpoint::Counters {
                iterations,
                rho: self.rho,
                pending_rho: self.adapt.pending,
                rho_changes: self.adapt.changes,
                times: self.times,
                wall: self.wall_before + self.start.elapsed().as_secs_f64(),
                finish_next: self.finish_next,
                finish_fails: self.finish_fails,
                interior_tried: self.interior_tried,
                usolver: self.usolver.save_state(),
            },
            u: checkpoint::Matrix::of(&st.u),
            v: checkpoint::Matrix::of(&st.v),
            lambda: checkpoint::Matrix::of(&st.lambda),
            s: checkpoint::Matrix::of(&st.s),
            nu: checkpoint::Matrix::of(&st.nu),
            structure: self.finish_structure.clone(),
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

/// A warm start: a previous solve's end state and the penalty its scaled duals belong to.
pub struct WarmStart<B: Backend> {
    pub state: State<B>,
    pub rho: f64,
}

/// `solve`, warm-started from `start` when given. The solve goes on at the start's penalty
/// (an adapted rho is part of what was learned), so its scaled duals need no rescale.
pub fn solve_from<B: Backend>(
    prob: &Problem<B>,
    opts: &AdmmOptions,
    rules: &StopRules,
    usolver: &mut dyn USolver<B>,
    observer: &mut dyn Observer,
    start: Option<WarmStart<B>>,
) -> Result<Outcome<B>, SolveError> {
    opts.validate().map_err(|e| e.within("admm"))?;
    rules.validate()?;
    let mut admm = match start {
        None => Admm::new(prob, opts, usolver)?,
        Some(w) => {
            let at = AdmmOptions {
                rho: w.rho,
                ..*opts
            };
            Admm::from_state(prob, &at, usolver, w.state)?
        }
    };
    admm.time_limit = rules.time_limit;
    let run = executor::execute(&mut admm, rules, observer)?;
    Ok(admm.into_outcome(run))
}

/// Goes on with a solve that was stopped after `cp.counters.iterations` iterations (in this
/// process or another): `done` holds its last record and its target crossing, which the stop
/// rules read, so that the resumed solve stops, numbers its iterations and counts its time as
/// the uninterrupted one would. `cp` is checked against `prob` first (`Checkpoint::check`).
pub fn resume<B: Backend>(
    prob: &Problem<B>,
    opts: &AdmmOptions,
    rules: &StopRules,
    usolver: &mut dyn USolver<B>,
    observer: &mut dyn Observer,
    cp: &Checkpoint,
    done: Executed,
) -> Result<Outcome<B>, SolveError> {
    opts.validate().map_err(|e| e.within("admm"))?;
    rules.validate()?;
    let mut admm = Admm::from_checkpoint(prob, opts, usolver, cp)?;
    admm.time_limit = rules.time_limit;
    let done = Executed {
        iterations: cp.counters.iterations,
        ..done
    };
    let run = executor::execute_from(&mut admm, rules, observer, done)?;
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
