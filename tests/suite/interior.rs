//! The dense interior point against the independent optima of tests/fixtures: it certifies
//! every one-output fixture (squared, logistic) to 1e-8, its point is strictly feasible and
//! within the certified gap of the optimum, and it refuses what it does not handle; an ADMM
//! run that asks for a gap (`tol_gap` alone, every other option at its default) is finished
//! by it at the first finish check.

use crate::finish::{fixture, run, FIXTURES};
use admm_engine::admm::feasible::violation;
use admm_engine::admm::interior::{self, InteriorError};
use admm_engine::admm::AdmmOptions;
use admm_engine::executor::Stop;
use admm_runner::manifest::SolverKind;

#[test]
fn the_interior_point_certifies_every_one_output_fixture() {
    for (name, _) in FIXTURES {
        let (prob, opt) = fixture(name);
        if prob.c != 1 {
            assert_eq!(
                interior::solve(&prob, 1e-8, 200).err(),
                Some(InteriorError::Unsupported),
                "{name}"
            );
            continue;
        }
        let out = interior::solve(&prob, 1e-8, 200).unwrap();
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

/// `tol_gap` 1e-6 and every other option at its default: a one-output fixture is finished by
/// the interior point at the first finish check (iteration 25, with every u-solver), the
/// returned model is the certified point, and it is within 1e-6 of the independent optimum;
/// the others (several outputs) are left to ADMM and the active-set finish, which certify
/// them too.
#[test]
fn a_gap_alone_turns_the_interior_finish_on() {
    for (name, rho) in FIXTURES {
        let (prob, opt) = fixture(name);
        for kind in [SolverKind::Exact, SolverKind::Cg, SolverKind::Rbcd] {
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
