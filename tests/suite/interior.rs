//! The interior point against the independent optima of tests/fixtures: in both forms of its
//! Newton system (the loss block dense, or low-rank through Woodbury's identity) it certifies
//! every one-output fixture (squared, logistic) to 1e-8, its point is strictly feasible and
//! within the certified gap of the optimum, and it refuses what it does not handle; an ADMM
//! run that asks for a gap (`tol_gap` alone, every other option at its default) is finished
//! by it at the first finish check.

use crate::finish::{fixture, run, FIXTURES};
use admm_engine::admm::feasible::violation;
use admm_engine::admm::interior::{self, Form, InteriorError};
use admm_engine::admm::AdmmOptions;
use admm_engine::executor::Stop;
use admm_runner::manifest::SolverKind;

#[test]
fn the_interior_point_certifies_every_one_output_fixture() {
    for (name, _) in FIXTURES {
        let (prob, opt) = fixture(name);
        if prob.c != 1 {
            assert_eq!(
                interior::solve(&prob, 1e-8, 200, f64::INFINITY).err(),
                Some(InteriorError::Unsupported),
                "{name}"
            );
            continue;
        }
        for form in [Form::Dense, Form::LowRank] {
            let out = interior::solve_as(&prob, form, 1e-8, 200, f64::INFINITY).unwrap();
            let name = format!("{name} ({form:?})");
            let true_gap = (out.objective - opt) / opt;
            println!(
                "{name}: objective {:.12} optimum {opt:.12} lower {:.12} certified gap {:.2e} \
             true {true_gap:.2e}, {} Newton steps, {:.3} s",
                out.objective, out.lower, out.rel_gap, out.newton_steps, out.seconds
            );
            assert!(
                out.rel_gap <= 1e-8,
                "{name}: certified gap {:e}",
                out.rel_gap
            );
            // The certificate brackets the independent optimum (the fixtures' optima are
            // interior-point solutions to about 1e-9, so allow that much).
            assert!(
                out.lower <= opt * (1.0 + 1e-9),
                "{name}: lower bound above the optimum"
            );
            assert!(
                out.objective >= opt * (1.0 - 1e-9),
                "{name}: objective below the optimum"
            );
            assert!(true_gap.abs() <= 1e-8, "{name}: true gap {true_gap:e}");
            assert_eq!(violation(&prob, &out.v), 0.0, "{name}: v outside a cone");
        }
    }
}

/// `tol_gap` 1e-6 and every other option at its default, with each of the six u-solvers: a
/// one-output fixture is finished by the interior point at the first finish check (iteration
/// 25), the returned model is the certified point, and it is within 1e-6 of the independent
/// optimum; the others (several outputs) are left to ADMM and the active-set finish, which
/// certify them too.
#[test]
fn a_gap_alone_turns_the_interior_finish_on() {
    for (name, rho) in FIXTURES {
        let (prob, opt) = fixture(name);
        for &kind in SolverKind::ALL.iter().filter(|k| **k != SolverKind::Adam) {
            let o = AdmmOptions {
                rho,
                tol_gap: 1e-6,
                ..AdmmOptions::default()
            };
            let (records, out) = run(&prob, kind, o, 3000);
            let last = records.last().unwrap();
            let at = format!("{name} {kind}: {:?} at {}", out.stop, last.iter);
            assert_eq!(out.stop, Stop::GapReached, "{at}: gap {:e}", last.rel_gap);
            if prob.c == 1 {
                assert_eq!(last.iter, 25, "{at}: not finished at the first check");
            }
            let c = out.certified.as_ref().unwrap();
            let truth = (c.objective - opt) / opt;
            assert!(
                (-1e-9..=1e-6).contains(&truth),
                "{at}: {truth:e} from the optimum"
            );
            assert!(
                last.rel_gap >= truth - 1e-9,
                "{at}: the gap is below the truth"
            );
        }
    }
}

/// A spent time budget (the run's time limit, `Admm::time_limit`) stops the interior point
/// before its first Newton step: it answers with its start's certificate, which proves
/// nothing here, so the finish leaves the run to ADMM.
#[test]
fn a_spent_budget_stops_the_interior_point_before_its_first_step() {
    let (prob, _) = fixture(FIXTURES[0].0);
    let out = interior::solve(&prob, 1e-8, 200, 0.0).unwrap();
    assert_eq!(out.newton_steps, 0);
    assert!(out.rel_gap > 1e-8, "gap {:e}", out.rel_gap);
}
