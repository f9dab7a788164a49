//! The duality-gap certificate, the adaptive penalty, over-relaxation and Anderson
//! acceleration, against the independent optima of tests/fixtures (docs/certificate.md).

use crate::common::{optimum, problem_config, solve_admm, solver_config, usolver};
use admm_engine::admm::{Admm, AdmmOptions, RhoRule};
use admm_engine::executor::{IterRecord, Iterate, Observer, Stop};
use admm_engine::problem::{to_host, Problem};
use admm_runner::manifest::{SolverKind, SolverSection};
use burn::backend::NdArray;

type F64 = NdArray<f64>;

fn fixture(name: &str) -> Problem<F64> {
    let opt = optimum(name);
    Problem::<F64>::new(&opt.data, &problem_config(&opt), 0, &Default::default()).unwrap()
}

/// Keeps every record.
#[derive(Default)]
struct Keep(Vec<IterRecord>);

impl Observer for Keep {
    fn observe(&mut self, r: &IterRecord) {
        self.0.push(*r);
    }
}

/// The exact u-step with `admm` options on fixture `name`: every record and the stop.
fn run(name: &str, admm: AdmmOptions, iters: usize) -> (Vec<IterRecord>, Stop) {
    let prob = fixture(name);
    let mut cfg: SolverSection = solver_config(SolverKind::Exact, admm.rho, iters);
    cfg.admm = admm;
    let mut solver = usolver::<F64>(&cfg, 0);
    let mut keep = Keep::default();
    let out = solve_admm(&prob, &cfg, solver.as_mut(), &mut keep).unwrap();
    (keep.0, out.stop)
}

/// The test options: residual test off, the given rho.
fn opts(rho: f64) -> AdmmOptions {
    AdmmOptions {
        rho,
        tol_abs: 0.0,
        tol_rel: 0.0,
        interior: false,
        ..AdmmOptions::default()
    }
}

#[test]
fn the_bound_and_the_objective_bracket_the_optimum_and_the_gap_closes() {
    for (name, rho) in [("opt_small", 0.1), ("opt_medium", 0.3)] {
        let opt = optimum(name).objective;
        // The bound is rigorous up to rounding (f64 here), at every iteration.
        let tol = 1e-9 * opt;
        // The objective is evaluated at v, which meets the cone constraints only up to the
        // primal residual: far from convergence it can lie well below the optimum (opt_medium
        // does at iteration 7), so it is an upper bound only at nearly feasible iterates, the
        // ones where the gap stop may fire (relative primal residual <= tol_gap). There the
        // dip is at most tol_gap (measured: 5.5e-6 on opt_small, 1.2e-7 on opt_medium): a
        // cone violation of relative size eps moves the objective by about eps of itself.
        let tol_gap = 1e-5;
        let (records, stop) = run(
            name,
            AdmmOptions {
                tol_gap,
                ..opts(rho)
            },
            5000,
        );
        let mut worst_dip: f64 = f64::NEG_INFINITY;
        for r in &records {
            let (lb, obj) = (r.lower_bound, r.metrics.objective);
            assert!(
                lb <= opt + tol,
                "{name} iter {}: bound {lb} > optimum {opt}",
                r.iter
            );
            if r.rel_primal <= tol_gap {
                worst_dip = worst_dip.max((opt - obj) / opt);
            }
        }
        assert!(
            worst_dip <= tol_gap,
            "{name}: objective dips {worst_dip:e} below the optimum"
        );
        assert_eq!(stop, Stop::GapReached, "{name}");
        let last = records.last().unwrap();
        assert!(last.rel_gap <= tol_gap, "{name}: gap {}", last.rel_gap);
        // The bound itself within 1e-5 of the optimum (bound > optimum fails above):
        // opt - lb = (opt - obj) + (obj - lb) <= dip + gap * obj.
        assert!((opt - last.lower_bound) / opt <= worst_dip.max(0.0) + tol_gap * (1.0 + 1e-3));
        // The first iterations certify little, the last almost everything: the gap closes.
        assert!(records[0].rel_gap > 1e-2, "{name}: {}", records[0].rel_gap);
    }
}

#[test]
fn every_rho_rule_alpha_and_acceleration_reaches_the_optimum() {
    let opt = optimum("opt_small").objective;
    for rule in [RhoRule::Fixed, RhoRule::Balance, RhoRule::Spectral] {
        for (alpha, anderson) in [(1.0, 0), (1.6, 0), (0.7, 0), (1.0, 5)] {
            let o = AdmmOptions {
                rho_rule: rule,
                alpha,
                anderson,
                tol_gap: 1e-6,
                ..opts(0.1)
            };
            let (records, _) = run("opt_small", o, 4000);
            let obj = records.last().unwrap().metrics.objective;
            let rel = (obj - opt).abs() / opt;
            assert!(
                rel < 1e-4,
                "{rule:?} alpha {alpha} anderson {anderson}: rel {rel:e}"
            );
        }
    }
}

#[test]
fn adaptive_rules_recover_from_a_bad_rho_and_record_it() {
    let opt = optimum("opt_medium").objective;
    // The spectral rule recovers from a rho too small, not (within 4000 iterations) from
    // one 300x too large on this fixture: BENCHMARKS.md, "Adaptive ADMM".
    for (rule, rho) in [
        (RhoRule::Balance, 1e-3),
        (RhoRule::Balance, 1e2),
        (RhoRule::Spectral, 1e-3),
    ] {
        {
            let o = AdmmOptions {
                rho_rule: rule,
                tol_gap: 1e-6,
                ..opts(rho)
            };
            let (records, stop) = run("opt_medium", o, 4000);
            let last = records.last().unwrap();
            let rel = (last.metrics.objective - opt).abs() / opt;
            assert!(rel < 1e-4, "{rule:?} from rho {rho}: rel {rel:e}, {stop:?}");
            assert!(
                last.rho_changes >= 1,
                "{rule:?} from rho {rho}: rho never moved"
            );
            // The trace's rho is the penalty each iteration used: it changes exactly as often
            // as the count says.
            let moves = records.windows(2).filter(|w| w[0].rho != w[1].rho).count();
            assert_eq!(moves, last.rho_changes, "{rule:?} from rho {rho}");
        }
    }
}

/// Relative change of v over one more iteration of `admm`.
fn v_move(admm: &mut Admm<'_, F64>, k: usize) -> f64 {
    let before = to_host(admm.state().v.clone());
    admm.step(k).unwrap();
    let after = to_host(admm.state().v.clone());
    let diff: f64 = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let norm: f64 = before.iter().map(|a| a * a).sum();
    (diff / norm).sqrt()
}

#[test]
fn a_rho_change_rescales_the_duals_so_the_fixed_point_stays() {
    let prob = fixture("opt_small");
    let cfg = solver_config(SolverKind::Exact, 0.1, 1);
    let mut solver = usolver::<F64>(&cfg, 0);
    let mut admm = Admm::new(&prob, &opts(0.1), solver.as_mut()).unwrap();
    for k in 0..3000 {
        admm.step(k).unwrap();
    }
    let still = v_move(&mut admm, 3000);
    admm.set_rho(1.0).unwrap();
    let rescaled = v_move(&mut admm, 3001);
    assert!(
        rescaled < 1e-6,
        "v moved by {rescaled:e} after a rescaled rho change (at rest: {still:e})"
    );

    // The control: the same state read with rho = 1 but duals left scaled for rho = 0.1 (a
    // forgotten rescale) leaves the fixed point.
    let state = admm.state().clone();
    let wrong = admm_engine::admm::State {
        lambda: state.lambda.clone().mul_scalar(10.0),
        nu: state.nu.clone().mul_scalar(10.0),
        ..state
    };
    let mut solver = usolver::<F64>(&cfg, 0);
    let mut stale = Admm::from_state(&prob, &opts(1.0), solver.as_mut(), wrong).unwrap();
    let forgot = v_move(&mut stale, 0);
    assert!(
        forgot > 100.0 * rescaled.max(1e-9),
        "forgotten rescale moved v by only {forgot:e}"
    );
}

#[test]
fn improving_mu_group_by_group_only_raises_the_bound_and_stays_below_the_optimum() {
    use admm_engine::admm::certificate::bound_along;
    let prob = fixture("opt_medium");
    let opt = optimum("opt_medium").objective;
    let cfg = solver_config(SolverKind::Exact, 0.3, 1);
    let mut solver = usolver::<F64>(&cfg, 0);
    let mut admm = Admm::new(&prob, &opts(0.3), solver.as_mut()).unwrap();
    for k in 0..40 {
        admm.step(k).unwrap();
    }
    let st = admm.state();
    let z = prob.f(&st.u) - prob.y.clone();
    let mu = st.nu.clone().mul_scalar(-admm.rho());
    let plain = bound_along(&prob, &z, mu.clone(), 0);
    let mut last = plain.lower;
    for steps in [1, 5, 50] {
        let b = bound_along(&prob, &z, mu.clone(), steps);
        assert!(b.lower >= last, "{steps} steps lowered the bound");
        assert!(
            b.lower <= opt * (1.0 + 1e-9),
            "{steps} steps: {} > {opt}",
            b.lower
        );
        last = b.lower;
    }
    // From a start far from any multiplier (every mu_j = 1), many steps are still a bound.
    let far = bound_along(&prob, &z, mu.ones_like(), 200);
    assert!(far.lower <= opt * (1.0 + 1e-9), "{} > {opt}", far.lower);
    assert!(
        last > plain.lower,
        "the steps never helped: {last} vs {}",
        plain.lower
    );
}
