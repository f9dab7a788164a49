//! The ADMM loop (method.md sec. 2), generic over the backend and the u-step solver.
//!
//! The loop only computes; what happens with each iteration (progress bars, traces, the
//! time-to-target clock, early stopping) is an `Observer`'s business, as in argmin.

pub mod usolve;

use crate::manifest::SolverConfig;
use crate::metrics::{evaluate, Metrics};
use crate::problem::{scalar, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use std::time::Instant;
use usolve::{InnerStats, SolveError, USolver};

/// Seconds spent in each part of the algorithm, cumulative. Metric evaluation is not included.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Times {
    pub precompute: f64,
    pub u: f64,
    /// The v-step and the slack (s) step.
    pub v: f64,
    pub dual: f64,
}

impl Times {
    pub fn total(&self) -> f64 {
        self.precompute + self.u + self.v + self.dual
    }
}

/// Everything known after one ADMM iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterRecord {
    /// 1-based iteration number.
    pub iter: usize,
    pub times: Times,
    /// Wall-clock seconds since the solver started, metric evaluation included.
    pub wall: f64,
    pub metrics: Metrics,
    pub primal_residual: f64,
    pub dual_residual: f64,
    pub eps_primal: f64,
    pub eps_dual: f64,
    pub inner: InnerStats,
    pub rho: f64,
}

/// Why the loop ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Boyd's residual test passed.
    Converged,
    /// The planned iteration budget is spent.
    MaxIters,
    /// An observer asked to stop (e.g. the target accuracy was reached).
    Observer(String),
    /// The time limit was reached: recorded as a failure.
    TimeLimit(f64),
    /// NaN or infinity appeared: recorded as a failure.
    Diverged(String),
}

impl Stop {
    /// A short label for the summary's `stop_reason` column.
    pub fn label(&self) -> String {
        match self {
            Stop::Converged => "converged".into(),
            Stop::MaxIters => "max_iters".into(),
            Stop::Observer(why) => why.clone(),
            Stop::TimeLimit(_) => "time_limit".into(),
            Stop::Diverged(_) => "diverged".into(),
        }
    }

    /// Failure reason, if this stop is a failure.
    pub fn failure(&self) -> Option<String> {
        match self {
            Stop::TimeLimit(s) => Some(format!("time limit of {s} s reached before convergence")),
            Stop::Diverged(why) => Some(format!("diverged: {why}")),
            _ => None,
        }
    }
}

/// Receives every iteration; returning `Some(reason)` stops the loop.
pub trait Observer {
    fn observe(&mut self, record: &IterRecord) -> Option<String>;
}

/// Times the first iteration that reaches a train-accuracy target (Table 1's measure) and,
/// when asked, stops there. Shared by `run` and `bench`, so both read the clock the same way.
#[derive(Debug, Clone, Default)]
pub struct TargetClock {
    pub target: Option<f64>,
    pub stop_at_target: bool,
    /// The first record with train accuracy >= target.
    pub reached: Option<IterRecord>,
}

impl TargetClock {
    pub fn new(cfg: &SolverConfig) -> Self {
        TargetClock {
            target: cfg.target_train_acc,
            stop_at_target: cfg.stop_at_target,
            reached: None,
        }
    }
}

impl Observer for TargetClock {
    fn observe(&mut self, r: &IterRecord) -> Option<String> {
        let target = self.target?;
        if self.reached.is_none() && r.metrics.train_acc >= target {
            self.reached = Some(*r);
        }
        (self.stop_at_target && self.reached.is_some()).then(|| "target_reached".to_string())
    }
}

/// The end state of a solve.
#[derive(Debug, Clone)]
pub struct Outcome<B: Backend> {
    pub stop: Stop,
    pub iterations: usize,
    pub times: Times,
    pub last: Option<IterRecord>,
    /// The group variable v (d x 2P): the recovered network's weights.
    pub v: Tensor<B, 2>,
    /// The u copy, for diagnostics.
    pub u: Tensor<B, 2>,
}

/// ADMM state in scaled form.
struct State<B: Backend> {
    u: Tensor<B, 2>,
    v: Tensor<B, 2>,
    lambda: Tensor<B, 2>,
    s: Tensor<B, 2>,
    nu: Tensor<B, 2>,
}

/// Runs ADMM on `prob` with the given u-solver until a stopping rule fires.
pub fn solve<B: Backend>(
    prob: &Problem<B>,
    cfg: &SolverConfig,
    usolver: &mut dyn USolver<B>,
    observer: &mut dyn Observer,
) -> Result<Outcome<B>, SolveError> {
    let dev = &prob.device;
    let rho = cfg.rho;
    let start = Instant::now();
    let mut times = Times {
        precompute: prob.setup_seconds,
        ..Times::default()
    };
    let sync = || {
        let _ = B::sync(dev);
    };

    // Precomputation: the solver's factorizations and the constant part of b.
    let t0 = Instant::now();
    usolver.prepare(prob, rho)?;
    let b_fixed = prob.ft(&prob.y).div_scalar(rho);
    sync();
    times.precompute += t0.elapsed().as_secs_f64();

    let mut st = State {
        u: prob.zeros_u(),
        v: prob.zeros_u(),
        lambda: prob.zeros_u(),
        s: prob.zeros_s(),
        nu: prob.zeros_s(),
    };
    let tests_on = cfg.tol_abs > 0.0 || cfg.tol_rel > 0.0;
    let slowdown = test_slowdown();
    let mut last = None;
    let mut stop = Stop::MaxIters;
    let mut iterations = 0;
    for k in 0..cfg.max_iters {
        // u-step: A u = F^T y / rho + (v - lambda) + G^T (s - nu).
        let t = Instant::now();
        let b = b_fixed.clone()
            + (st.v.clone() - st.lambda.clone())
            + prob.gt(&(st.s.clone() - st.nu.clone()));
        let (u, inner) = usolver.solve(prob, rho, b, st.u.clone(), k)?;
        if let Some(pause) = slowdown {
            std::thread::sleep(pause);
        }
        st.u = u;
        let gu = prob.g(&st.u);
        sync();
        times.u += t.elapsed().as_secs_f64();

        // v-step (group soft-threshold) and s-step (projection onto s >= 0).
        let t = Instant::now();
        let v_old = st.v.clone();
        let s_old = st.s.clone();
        st.v = group_soft_threshold(st.u.clone() + st.lambda.clone(), prob.beta / rho);
        st.s = (gu.clone() + st.nu.clone()).clamp_min(0.0);
        sync();
        times.v += t.elapsed().as_secs_f64();

        // Dual updates.
        let t = Instant::now();
        let r_u = st.u.clone() - st.v.clone();
        let r_s = gu.clone() - st.s.clone();
        st.lambda = st.lambda.clone() + r_u.clone().mul_scalar(cfg.gamma);
        st.nu = st.nu.clone() + r_s.clone().mul_scalar(cfg.gamma);
        sync();
        times.dual += t.elapsed().as_secs_f64();
        iterations = k + 1;

        // Untimed: residuals (Boyd et al. sec. 3.3, scaled form) and metrics.
        let primal = (sq(&r_u) + sq(&r_s)).sqrt();
        let gt_ds = prob.gt(&(st.s.clone() - s_old));
        let dual = rho * (sq(&(st.v.clone() - v_old)) + sq(&gt_ds)).sqrt();
        let n_pri = (prob.dim() + 2 * prob.n * prob.p) as f64;
        let eps_primal = n_pri.sqrt() * cfg.tol_abs
            + cfg.tol_rel
                * (sq(&st.u) + sq(&gu))
                    .sqrt()
                    .max((sq(&st.v) + sq(&st.s)).sqrt());
        let eps_dual = (prob.dim() as f64).sqrt() * cfg.tol_abs
            + cfg.tol_rel * rho * sq(&(st.lambda.clone() + prob.gt(&st.nu))).sqrt();
        let metrics = evaluate(prob, &st.v);
        let record = IterRecord {
            iter: iterations,
            times,
            wall: start.elapsed().as_secs_f64(),
            metrics,
            primal_residual: primal,
            dual_residual: dual,
            eps_primal,
            eps_dual,
            inner,
            rho,
        };
        last = Some(record);
        let wanted = observer.observe(&record);

        if let Some(why) = non_finite(&record) {
            stop = Stop::Diverged(format!("{why} at iteration {iterations}"));
            break;
        }
        if let Some(why) = wanted {
            stop = Stop::Observer(why);
            break;
        }
        if tests_on && primal <= eps_primal && dual <= eps_dual {
            stop = Stop::Converged;
            break;
        }
        if let Some(limit) = cfg.time_limit {
            if times.total() >= limit {
                stop = Stop::TimeLimit(limit);
                break;
            }
        }
    }
    Ok(Outcome {
        stop,
        iterations,
        times,
        last,
        v: st.v,
        u: st.u,
    })
}

/// Test-only: `ADMM_RUNNER_TEST_SLOWDOWN_MS=<ms>` adds a sleep of that many milliseconds to
/// every (timed) u-step, so that tests can show `admm-runner regress` catching a slowdown.
/// Never set it otherwise.
pub const TEST_SLOWDOWN_ENV: &str = "ADMM_RUNNER_TEST_SLOWDOWN_MS";

fn test_slowdown() -> Option<std::time::Duration> {
    let ms: u64 = std::env::var(TEST_SLOWDOWN_ENV).ok()?.trim().parse().ok()?;
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
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

/// Names the first quantity that is NaN or infinite.
fn non_finite(r: &IterRecord) -> Option<String> {
    let checks = [
        ("objective", r.metrics.objective),
        ("primal residual", r.primal_residual),
        ("dual residual", r.dual_residual),
    ];
    if r.inner.rel_residual == f64::INFINITY {
        return Some(
            "the inner solve overflowed f32 (inf in ||b|| or p'Ap: is the data scaled?)".into(),
        );
    }
    checks
        .iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(name, v)| format!("{name} is {v}"))
}
