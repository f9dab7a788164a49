//! From arrays to a certified convex network and its predictions, with the engine alone:
//! `cargo run -p admm-engine --example solve`.

use admm_engine::data::{teacher_dataset, TeacherSpec};
use admm_engine::{
    admm, make_solver, AdmmOptions, Network, Problem, ProblemConfig, StopRules, USolverSpec,
};

type B = burn::backend::Flex;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = TeacherSpec {
        n_train: 400,
        n_test: 200,
        dim: 10,
        teacher_width: 8,
        label_noise: 0.0,
        classes: 2,
    };
    let data = teacher_dataset(&spec, 7)?; // or a Dataset built from your own arrays
    let cfg = ProblemConfig {
        patterns: 20,
        beta: 1e-3,
        ..ProblemConfig::default()
    };
    let prob = Problem::<B>::new(&data, &cfg, 0, &Default::default())?;
    let mut usolver = make_solver::<B>(
        &USolverSpec::Cg(Default::default(), admm_engine::Precond::BlockJacobi),
        0,
    )?;
    let opts = AdmmOptions {
        tol_gap: 1e-3,
        ..AdmmOptions::default()
    };
    let rules = StopRules {
        max_iters: 2000,
        ..StopRules::default()
    };
    let out = admm::solve(&prob, &opts, &rules, usolver.as_mut(), &mut ())?;
    let last = out.last.expect("at least one iteration");
    println!(
        "{:?} after {} iterations: objective {:.6}, certified gap {:.2e}",
        out.stop, out.iterations, last.metrics.objective, last.rel_gap
    );
    let net = Network::from_convex(&out.v, prob.c, cfg.loss, cfg.bias);
    let test = net.score::<B>(&data.x_test, &data.y_test, data.n_test, &Default::default());
    println!(
        "test accuracy {:.3} with {} active neurons",
        test.accuracy,
        net.active_neurons()
    );
    Ok(())
}
