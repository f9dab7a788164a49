//! The dense interior point against the independent optima of tests/fixtures: it certifies
//! every one-output fixture (squared, logistic) to 1e-8, its point is strictly feasible and
//! within the certified gap of the optimum, and it refuses what it does not handle.

use crate::finish::{fixture, FIXTURES};
use admm_engine::admm::feasible::violation;
use admm_engine::admm::interior::{self, InteriorError};

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
             true {true_gap:.2e}, {} Newton steps, {} barrier parameters, {:.3} s",
            out.objective, out.lower, out.rel_gap, out.newton_steps, out.outer, out.seconds
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
