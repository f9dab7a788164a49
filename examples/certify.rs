//! Seconds to a certified relative gap of 1e-2, 1e-4 and 1e-6 for one planned run: the
//! interior point (`admm::interior`, one solve to 1e-6 whose certificates on the way give the
//! earlier levels; wall seconds including its certificates), ADMM alone and ADMM with its
//! finish, side by side in one process (BENCHMARKS.md, "A primal-dual interior point").
//! CERTIFY_INTERIOR_ONLY=1 skips the ADMM rows.
//!
//!   CIFAR10_DIR=... cargo run --example certify -- experiments/fig1.yaml exact-flex-s0 60
//!
//! Arguments: the manifest, a substring of the run id (the first matching ADMM run), the
//! seconds each mode may run (algorithm time, metrics and certificate excluded as in the
//! runner's clock) and optional `key=value` overrides (e.g. solver.admm.rho=0.1). Both modes
//! run with `tol_gap` 1e-6 and the residual test off; "alone" sets `finish_every: 0`.

use admm_engine::admm::interior;
use admm_engine::admm::usolve::make_solver;
use admm_engine::admm::{Admm, AdmmOptions};
use admm_engine::executor::Iterate;
use admm_runner::manifest::Algorithm;
use admm_runner::run::single::planned_problem;
use std::path::Path;

type Cpu = burn::backend::Flex;

const LEVELS: [f64; 3] = [1e-2, 1e-4, 1e-6];

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [manifest, pick, secs, rest @ ..] = args.as_slice() else {
        return Err("usage: certify MANIFEST RUN_ID_SUBSTRING SECONDS [key=value ...]".into());
    };
    let secs: f64 = secs.parse().map_err(|e| format!("seconds: {e}"))?;
    let (run, prob) = planned_problem::<Cpu>(Path::new(manifest), pick, rest)?;
    let Algorithm::Admm(opts, spec) = run.config.solver.method.algorithm() else {
        return Err(format!("{} is not an ADMM run", run.id));
    };
    println!(
        "{} (n {}, d {}, P {}, C {}, {} loss)",
        run.id,
        prob.n,
        prob.d,
        prob.p,
        prob.c,
        prob.loss.name()
    );
    println!("| mode | to 1e-2 (s) | to 1e-4 (s) | to 1e-6 (s) | iterations | final gap | upper bound | lower bound |");
    println!("|---|---|---|---|---|---|---|---|");
    // One solve to the last level; its certificates on the way give the earlier levels.
    let out = interior::solve(&prob, LEVELS[2], 500, f64::INFINITY).map_err(|e| e.to_string())?;
    let hit = LEVELS.map(|level| {
        out.certified
            .iter()
            .find(|(gap, _)| *gap <= level)
            .map(|&(_, s)| s)
            .filter(|&s| s <= secs)
    });
    let steps = format!("{} Newton", out.newton_steps);
    print_row(
        "interior point",
        hit,
        secs,
        &steps,
        (out.rel_gap, out.objective, out.lower),
    );
    if std::env::var_os("CERTIFY_INTERIOR_ONLY").is_some() {
        return Ok(());
    }
    for (mode, every) in [("ADMM alone", 0), ("ADMM + finish", opts.finish_every)] {
        let o = AdmmOptions {
            tol_abs: 0.0,
            tol_rel: 0.0,
            tol_gap: 1e-6,
            finish_every: every,
            ..opts
        };
        let mut usolver = make_solver::<Cpu>(&spec, run.config.seed).map_err(|e| e.to_string())?;
        let mut admm = Admm::new(&prob, &o, usolver.as_mut()).map_err(|e| e.to_string())?;
        let mut hit: [Option<f64>; 3] = [None; 3];
        let mut last = None;
        for k in 0.. {
            let r = admm.step(k).map_err(|e| e.to_string())?.record;
            let s = r.times.total();
            for (h, level) in hit.iter_mut().zip(LEVELS) {
                if h.is_none() && r.rel_gap <= level {
                    *h = Some(s);
                }
            }
            last = Some(r);
            if hit[2].is_some() || s >= secs || !r.metrics.objective.is_finite() {
                break;
            }
        }
        let r = last.ok_or("no iteration")?;
        let bounds = (r.rel_gap, r.upper_bound, r.lower_bound);
        print_row(mode, hit, secs, &r.iter.to_string(), bounds);
    }
    Ok(())
}

/// One table row: seconds to each level (or "> secs"), the work done, the final gap and the
/// bounds it came from.
fn print_row(
    mode: &str,
    hit: [Option<f64>; 3],
    secs: f64,
    work: &str,
    (gap, upper, lower): (f64, f64, f64),
) {
    let cell = |h: Option<f64>| h.map_or(format!("> {secs}"), |s| format!("{s:.2}"));
    println!(
        "| {mode} | {} | {} | {} | {work} | {gap:.2e} | {upper:.8e} | {lower:.8e} |",
        cell(hit[0]),
        cell(hit[1]),
        cell(hit[2]),
    );
}
