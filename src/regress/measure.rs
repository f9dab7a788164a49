//! Measuring a run: executing it exactly as `run` does (`execute`), timing it with a clock that
//! leaves out CPU contention, and normalizing the time by a calibration kernel timed right
//! after it, so that the figure compared with the baseline tracks the code, not the machine.

use super::baseline::Entry;
use super::clock::runqueue_wait_ns;
use super::compare::{fmt_acc, fmt_obj, fmt_ratio};
use super::error::RegressError;
use crate::backend::{self, BackendTask};
use crate::manifest::{BackendKind, PlannedRun};
use crate::results::Status;
use crate::run::single::{Hooks, Session};
use admm_engine::problem::scalar;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use std::time::{Duration, Instant};

/// Wall-clock time less the time the timing thread spent runnable but waiting for a CPU
/// (Linux `/proc/thread-self/schedstat`, second field): what other processes on a shared
/// machine take away is not counted, while time the code itself waits or sleeps still is.
/// Where schedstat cannot be read it is plain wall-clock time.
struct Clock {
    /// When timing started.
    start: Instant,
    /// The thread's run-queue wait then (None where schedstat cannot be read).
    waited_ns: Option<u64>,
}

impl Clock {
    /// Starts timing now.
    // The clock is read outside the wait counter at both ends, so that a preemption between
    // the two reads can only count as time on the CPU, never make the result negative.
    fn start() -> Self {
        let start = Instant::now();
        Clock {
            waited_ns: runqueue_wait_ns(),
            start,
        }
    }

    /// Seconds since `start` not spent waiting for a CPU.
    fn on_cpu(&self) -> f64 {
        let now = runqueue_wait_ns();
        let wall = self.start.elapsed().as_secs_f64();
        let waited = match (self.waited_ns, now) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 * 1e-9,
            _ => 0.0,
        };
        (wall - waited).max(0.0)
    }

    /// The fraction of the wall-clock time since `start` that was not spent waiting for a CPU.
    fn on_cpu_share(&self) -> f64 {
        let wall = self.start.elapsed().as_secs_f64();
        if wall > 0.0 {
            (self.on_cpu() / wall).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }
}

/// Short runs are repeated until their solves add up to this many seconds, at most `MAX_REPS`.
const MIN_TOTAL_S: f64 = 1.0;
/// The most repetitions of a short run: bounds the time of a suite of very short runs.
const MAX_REPS: usize = 10;
/// Calibration: blocks per measurement (the best counts) and GEMM pairs per block.
const CALIB_BLOCKS: usize = 15;
/// GEMM pairs per calibration block: enough that a block is long against the clock's resolution.
const CALIB_INNER: usize = 20;

/// One run measured: its entry and how much its repetitions disagreed.
pub(super) struct Measured {
    /// The first repetition's figures, with the best timings of all repetitions.
    pub(super) entry: Entry,
    /// Largest relative difference of the final metrics between repetitions (0: identical).
    pub(super) rep_spread: Option<f64>,
    /// Repetitions run, shown in the progress line.
    reps: usize,
}

impl Measured {
    /// Keeps the best solve time and the best calibration of both measurements.
    pub(super) fn merge_timing(&mut self, other: Measured) {
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        self.entry.solve_s = min(self.entry.solve_s, other.entry.solve_s);
        self.entry.calib_s = min(self.entry.calib_s, other.entry.calib_s);
        self.entry.time_ratio = min(self.entry.time_ratio, other.entry.time_ratio);
        self.reps += other.reps;
    }

    /// The progress line's account of the measurement: metrics, best solve, calibration, ratio.
    pub(super) fn describe(&self) -> String {
        let e = &self.entry;
        if e.status != Status::Ok.as_str() {
            return format!("FAILED: {}", e.reason.as_deref().unwrap_or("no reason"));
        }
        format!(
            "train {} test {} objective {} target at {} | solve {:.3} s (best of {}), calibration {:.3} ms, ratio {}",
            fmt_acc(e.train_acc),
            fmt_acc(e.test_acc),
            fmt_obj(e.objective),
            e.target_iter.map_or("-".into(), |t| t.to_string()),
            e.solve_s.unwrap_or(f64::NAN),
            self.reps,
            e.calib_s.unwrap_or(f64::NAN) * 1e3,
            fmt_ratio(e.time_ratio)
        )
    }
}

/// Runs `run` through the runner at least `reps` times, and more (up to `MAX_REPS`) while the
/// repetitions add up to less than `MIN_TOTAL_S` of solving, so that short runs get more
/// samples. Each solve is followed by the calibration kernel, and each (solve, calibration)
/// pair gives a ratio: the two are taken moments apart, so a machine that is slower for a
/// while (a busy hyperthread sibling, a lower clock) slows both. The best (lowest) pair counts.
pub(super) fn measure(
    run: &PlannedRun,
    reps: usize,
    exec: &mut Exec,
) -> Result<Measured, RegressError> {
    let mut first: Option<Entry> = None;
    let mut kernel = None;
    let mut best_solve: Option<f64> = None;
    let mut best_calib: Option<f64> = None;
    let mut best_ratio: Option<f64> = None;
    let mut spread: f64 = 0.0;
    let mut total = 0.0;
    let mut done = 0;
    let keep_min = |best: &mut Option<f64>, x: f64| *best = Some(best.map_or(x, |b| b.min(x)));
    while done < reps || (total < MIN_TOTAL_S && done < MAX_REPS) {
        let clock = Clock::start();
        let (mut e, k) = exec.solve_once(run);
        done += 1;
        // Contention is removed in proportion: the solve is part of the run.
        e.solve_s = e.solve_s.map(|s| s * clock.on_cpu_share());
        if kernel.is_none() {
            kernel = k; // the shapes are known from the first summary
        }
        if e.status == Status::Ok.as_str() {
            if let Some(s) = e.solve_s {
                total += s;
                keep_min(&mut best_solve, s);
                if let Some(c) = calibrate(run.config.backend, kernel.clone()) {
                    keep_min(&mut best_calib, c);
                    if c > 0.0 {
                        keep_min(&mut best_ratio, s / c);
                    }
                }
            }
        }
        match &first {
            None => {
                let failed = e.status != Status::Ok.as_str();
                first = Some(e);
                if failed {
                    break; // a failed run is not worth repeating
                }
            }
            Some(f) => spread = spread.max(disagreement(f, &e)),
        }
    }
    let mut entry = first.ok_or_else(|| RegressError::NoRepetition {
        run: run.id.clone(),
    })?;
    entry.solve_s = best_solve;
    entry.calib_s = best_calib;
    entry.time_ratio = best_ratio;
    let reps = done;
    Ok(Measured {
        entry,
        rep_spread: (reps > 1).then_some(spread),
        reps,
    })
}

/// Largest relative difference between two repetitions' final metrics.
fn disagreement(a: &Entry, b: &Entry) -> f64 {
    let rel = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if x == y => 0.0,
        (Some(x), Some(y)) => (x - y).abs() / x.abs().max(y.abs()).max(1e-300),
        (None, None) => 0.0,
        _ => f64::INFINITY,
    };
    let iters = if a.target_iter == b.target_iter {
        0.0
    } else {
        f64::INFINITY
    };
    [
        rel(a.train_acc, b.train_acc),
        rel(a.test_acc, b.test_acc),
        rel(a.objective, b.objective),
        iters,
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

/// How runs are executed for measuring: one session (its data cache spans the suite) and an
/// optional delay in every u-step (a simulated slower solver, for tests of the time check).
pub(super) struct Exec {
    pub(super) session: Session,
    pub(super) u_step_delay: Option<Duration>,
}

impl Exec {
    /// One execution of `run`, as `admm-runner run` does it, with the calibration kernel of
    /// its shapes (n, d with bias, P kept) when the run got that far.
    fn solve_once(&mut self, run: &PlannedRun) -> (Entry, Option<Calibrate>) {
        let hooks = Hooks {
            observer: None,
            u_step_delay: self.u_step_delay,
            checkpoint: None,
        };
        let s = self.session.execute(run, hooks).summary;
        let count = |x: Option<i64>| x.filter(|&v| v >= 0).map(|v| v as u64);
        let entry = Entry {
            run_id: run.id.clone(),
            status: s.status.as_str().to_string(),
            reason: s.reason.clone(),
            train_acc: s.last.train_acc,
            test_acc: s.last.test_acc,
            objective: s.last.objective,
            target_iter: count(s.target.iter),
            iterations: count(s.iterations),
            solve_s: s.solve_s,
            calib_s: None,
            time_ratio: None,
        };
        let kernel = match (s.n, s.d, s.p) {
            (Some(n), Some(d), Some(p)) if n > 0 && d > 0 && p > 0 => Some(Calibrate {
                n: n as usize,
                d: d as usize,
                cols: 2 * p as usize,
            }),
            _ => None,
        };
        (entry, kernel)
    }
}

/// Seconds of one calibration GEMM pair, best of `CALIB_BLOCKS`.
fn calibrate(kind: BackendKind, kernel: Option<Calibrate>) -> Option<f64> {
    backend::dispatch(kind, kernel?).ok()
}

/// The calibration kernel: B <- X^T (X B) / n, the GEMM pair of one A-application, with
/// burn's own matmul on random data (none of this crate's code is timed, so a slower solver
/// cannot slow its own yardstick).
#[derive(Debug, Clone)]
struct Calibrate {
    /// Rows of X (samples).
    n: usize,
    /// Columns of X (features, with the bias).
    d: usize,
    /// Columns of B: 2P, the u and v blocks of the kept patterns.
    cols: usize,
}

impl BackendTask for Calibrate {
    type Output = f64;

    /// Seconds of one GEMM pair: the best block after a warm-up, divided by its pairs.
    fn run<B: Backend>(self, device: B::Device) -> f64 {
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<B, 2>::random([self.n, self.d], normal, &device);
        let xt = Tensor::<B, 2>::random([self.d, self.n], normal, &device);
        let b0 = Tensor::<B, 2>::random([self.d, self.cols], normal, &device);
        let scale = 1.0 / self.n as f64;
        let block = || {
            let mut b = b0.clone();
            for _ in 0..CALIB_INNER {
                b = xt.clone().matmul(x.clone().matmul(b)).mul_scalar(scale);
            }
            // Reading a value forces lazy backends; sync waits for queued device work.
            let _ = scalar(b.slice([0..1, 0..1]));
            let _ = B::sync(&device);
        };
        block(); // warm-up: allocations, thread pool
        let mut best = f64::INFINITY;
        for _ in 0..CALIB_BLOCKS {
            let clock = Clock::start();
            block();
            best = best.min(clock.on_cpu());
        }
        best / CALIB_INNER as f64
    }
}
