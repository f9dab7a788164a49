//! The certified gap over time for one planned run (docs/certificate.md, "Inexact u-steps"):
//! ADMM driven for a few seconds, the record printed at roughly doubling times, so that the
//! certificate's progress can be compared between u-solvers and between bound versions.
//!
//!   CIFAR10_DIR=... cargo run --release --example gap_trace -- experiments/fig1.yaml cg-flex-s0 10
//!
//! Arguments: the manifest, a substring of the run id (the first matching ADMM run is taken),
//! the seconds to run (wall clock, certificate excluded) and optional `key=value` overrides.

use admm_engine::admm::usolve::make_solver;
use admm_engine::admm::{certificate, Admm, State};
use admm_engine::executor::Iterate;
use admm_engine::problem::Problem;
use admm_runner::manifest::Algorithm;
use admm_runner::run::single::planned_problem;
use std::path::Path;

type Cpu = burn::backend::Flex;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [manifest, pick, secs, rest @ ..] = args.as_slice() else {
        return Err("usage: gap_trace MANIFEST RUN_ID_SUBSTRING SECONDS [key=value ...]".into());
    };
    let secs: f64 = secs.parse().map_err(|e| format!("seconds: {e}"))?;
    let diagnose = std::env::var_os("DIAGNOSE").is_some();
    let (run, prob) = planned_problem::<Cpu>(Path::new(manifest), pick, rest)?;
    let Algorithm::Admm(opts, spec) = run.config.solver.method.algorithm() else {
        return Err(format!("{} is not an ADMM run", run.id));
    };
    let mut usolver = make_solver::<Cpu>(&spec, run.config.seed).map_err(|e| e.to_string())?;
    let mut admm = Admm::new(&prob, &opts, usolver.as_mut()).map_err(|e| e.to_string())?;
    println!("{}", run.id);
    println!("| s | iter | objective | lower bound | rel gap | rel primal |");
    println!("|---|---|---|---|---|---|");
    let mut next_print = 0.25;
    for k in 0.. {
        let r = admm.step(k).map_err(|e| e.to_string())?.record;
        let s = r.times.total();
        if s >= next_print || s >= secs {
            println!(
                "| {s:.2} | {} | {:.6e} | {:.6e} | {:.3e} | {:.2e} |",
                r.iter, r.metrics.objective, r.lower_bound, r.rel_gap, r.rel_primal
            );
            next_print *= 2.0;
            if diagnose {
                candidates(&prob, admm.state(), admm.rho());
            }
        }
        if s >= secs {
            break;
        }
    }
    Ok(())
}

/// DIAGNOSE=1: the bound from z = F u - y and from z = F v - y, with mu from the scaled dual
/// as it is and after 5 and 20 per-group improvement steps.
fn candidates(prob: &Problem<Cpu>, st: &State<Cpu>, rho: f64) {
    let mu = st.nu.clone().mul_scalar(-rho);
    let z = prob.f(&st.u) - prob.y.clone();
    let w = prob.ft(&z) - prob.gt(&mu.clone().clamp_min(0.0));
    let norms = |t: &burn::tensor::Tensor<Cpu, 2>| {
        admm_engine::problem::to_host((t.clone() * t.clone()).sum_dim(0).sqrt())
    };
    let (wn, vn) = (norms(&w), norms(&st.v));
    let mut pairs: Vec<(f64, f64)> = wn.iter().map(|x| x / prob.beta).zip(vn).collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let show: Vec<String> = pairs
        .iter()
        .map(|(w, v)| format!("{w:.0}/{v:.1e}"))
        .collect();
    println!(
        "    ||w_j||/beta / ||v_j||, worst first: {}",
        show.join(" ")
    );
    for (label, x) in [("u", &st.u), ("v", &st.v)] {
        let z = prob.f(x) - prob.y.clone();
        for steps in [0, 5, 20] {
            let b = certificate::bound_along(prob, &z, mu.clone(), steps);
            println!(
                "    z from {label}, {steps:2} mu steps: t_max {:.3e}, t {:.3e}, bound {:.6e}",
                b.t_max, b.t, b.lower
            );
        }
    }
}
