//! A run's time, estimated by `plan` before anything runs, so that a sweep's cost is known
//! before it is started (or submitted). The model is deliberately simple: the floating-point
//! work of the run's setup and of `max_iters` iterations, from its shapes and options, at a
//! rate measured on the development machine, plus a fixed cost per iteration for what the
//! flop count leaves out (metrics, host reads, launches). It is an estimate of the longest the
//! run takes: a run that stops at its tolerance or target takes less, and `time_limit` caps it.
//!
//! Counts (n examples, d features with the bias, P = patterns x outputs, m = 2P):
//! one A-application 4ndP + 4d^2P (method.md, as `bench` counts it); the v-step and residuals
//! 4ndP and the recorded metrics 4(n + n_test)dP per iteration; CG-family u-steps
//! `cg.max_iters` A-applications; the exact u-step a Cholesky solve of size 2dP (2(2dP)^2)
//! after forming and factoring A once (n(dP)^2 + (2dP)^3/3), again at every rho change (at
//! most every `rho_interval` iterations); RBCD `rbcd.max_steps` block steps of
//! 4nd b + 4d^2 b; Adam 6nd w per epoch for the width w, plus a cost per minibatch.

use crate::data::{self, DataSource, Shapes};
use crate::manifest::{Algorithm, PlannedRun, RunConfig};
use admm_engine::admm::usolve::{Precond, USolverSpec};

/// Compute-bound rate, GFLOP/s: the A-application rate `admm-runner bench` measured on the
/// two-core development machine (BENCHMARKS.md, "Thread use and SIMD": 32, 53 and 76 GFLOP/s
/// at the small, mid and full sizes). `ADMM_RUNNER_GFLOPS` replaces it for another machine.
pub const GFLOPS: f64 = 40.0;
/// The variable that sets the compute-bound rate (GFLOP/s).
pub const RATE_VAR: &str = "ADMM_RUNNER_GFLOPS";
/// Memory-bound work (RBCD block steps, triangular solves) runs at this fraction of the
/// compute rate: 0.48 GFLOP in 39 ms for an RBCD step at the full size (BENCHMARKS.md).
const MEMORY_BOUND: f64 = 0.3;
/// Seconds per ADMM iteration or Adam epoch outside the counted products (cg at n=1000,
/// d=101, P=10: 5.7 ms per iteration against 4 ms of A-applications).
const PER_ITER_S: f64 = 0.002;
/// Seconds per Adam minibatch step outside its products (autodiff bookkeeping).
const PER_STEP_S: f64 = 0.0005;

/// A run's estimated time at most.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeEstimate {
    /// Seconds at most (with `time_limit`, no more than it per run or path point).
    pub seconds: f64,
}

/// The rate the estimate divides by: `ADMM_RUNNER_GFLOPS` when it is a number above zero,
/// else `GFLOPS`.
pub fn rate() -> f64 {
    std::env::var(RATE_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(GFLOPS)
}

/// The estimate for a planned run (a path: every point of every path it solves); the data's
/// shapes come from the manifest, or from `.npy` headers (errors name the file).
pub fn estimate(run: &PlannedRun, gflops: f64) -> Result<TimeEstimate, data::DataError> {
    let shapes = data::shapes(&run.config.data)?;
    let mut seconds = seconds_for(&run.config, shapes, gflops);
    if let Some(limit) = run.config.solver.stop.time_limit {
        seconds = seconds.min(limit);
    }
    if let Some(spec) = &run.beta_path {
        let points = if spec.betas.is_empty() {
            spec.count
        } else {
            spec.betas.len()
        };
        seconds *= (points * crate::run::path::modes(spec).len()) as f64;
    }
    Ok(TimeEstimate { seconds })
}

/// Seconds for one run of `cfg` at `max_iters` on data of shapes `s`, at `gflops`.
pub fn seconds_for(cfg: &RunConfig, s: Shapes, gflops: f64) -> f64 {
    // C outputs widen every block to PC columns; `.npy` labels' classes are known only once
    // read, so those count as one output (as in the memory estimate).
    let outputs = match cfg.data.source {
        DataSource::Npy => 1,
        _ => cfg
            .problem
            .loss
            .outputs(cfg.data.classes.len())
            .unwrap_or(1),
    };
    let n = s.n as f64;
    let n_test = s.n_test as f64;
    let d = s.d as f64 + f64::from(u8::from(cfg.problem.bias));
    let p = (cfg.problem.patterns as f64) * outputs as f64;
    let iters = cfg.solver.stop.max_iters as f64;
    let fast = gflops * 1e9;
    let slow = fast * MEMORY_BOUND;
    let apply = 4.0 * n * d * p + 4.0 * d * d * p;
    let metrics = 4.0 * (n + n_test) * d * p;
    match cfg.solver.method.algorithm() {
        Algorithm::Admm(opts, spec) => {
            let (setup, per_iter) = match spec {
                USolverSpec::Exact(_) => {
                    let dim = 2.0 * d * p;
                    let factor = n * (d * p).powi(2) + dim.powi(3) / 3.0;
                    let refactor = match opts.rho_rule {
                        admm_engine::admm::RhoRule::Fixed => 0.0,
                        _ => factor / opts.rho_interval.max(1) as f64,
                    };
                    (factor / fast, 2.0 * dim * dim / slow + refactor / fast)
                }
                USolverSpec::Cg(o, pc) => {
                    let k = o.max_iters as f64;
                    let setup = match pc {
                        Precond::None => 0.0,
                        Precond::Diag => n * d,
                        Precond::Nystrom(ny) => ny.rank as f64 * apply,
                        Precond::BlockJacobi => n * d * d + 2.0 * d.powi(3),
                    };
                    let precond = match pc {
                        Precond::BlockJacobi => 4.0 * d * d * p,
                        _ => 0.0,
                    };
                    (setup / fast, k * (apply + precond) / fast)
                }
                USolverSpec::Rbcd(o) => {
                    let b = o.block_size as f64;
                    let step = 4.0 * n * d * b + 4.0 * d * d * b;
                    (n * d * d / fast, o.max_steps as f64 * step / slow)
                }
            };
            setup + iters * (per_iter + (4.0 * n * d * p + metrics) / fast + PER_ITER_S)
        }
        Algorithm::Adam(o) => {
            let width = o.width.map_or(2.0 * p, |w| w as f64);
            let steps = (n / o.batch_size.max(1) as f64).ceil();
            let work = 6.0 * n * d * width + 2.0 * (n + n_test) * d * width;
            iters * (work / fast + steps * PER_STEP_S + PER_ITER_S)
        }
    }
}

/// Seconds as a person reads them: "0.42s", "3.4s", "12s", "4.2min", "3.1h", "2.5d".
pub fn human(seconds: f64) -> String {
    match seconds {
        s if !s.is_finite() => "unknown".into(),
        s if s < 1.0 => format!("{s:.2}s"),
        s if s < 10.0 => format!("{s:.1}s"),
        s if s < 120.0 => format!("{s:.0}s"),
        s if s < 7200.0 => format!("{:.1}min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1}h", s / 3600.0),
        s => format!("{:.1}d", s / 86400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_times_pick_their_unit() {
        assert_eq!(human(0.42), "0.42s");
        assert_eq!(human(3.42), "3.4s");
        assert_eq!(human(59.6), "60s");
        assert_eq!(human(300.0), "5.0min");
        assert_eq!(human(3.0 * 3600.0), "3.0h");
        assert_eq!(human(f64::NAN), "unknown");
    }
}
