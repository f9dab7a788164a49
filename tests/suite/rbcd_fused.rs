//! RBCD's fused block step (one read of X per step, issue 31) against the two-pass steps it
//! replaces: the same iterates up to rounding, step by step and u-step by u-step.

use crate::common::{solver_config, usolver, Cpu};
use admm_engine::admm::usolve::rbcd::{host_gram, BlockState, HostState, LineSearch};
use admm_engine::problem::{Loss, Problem, ProblemConfig};
use admm_runner::data::Dataset;
use admm_runner::manifest::SolverKind;
use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};

/// A random problem big enough for the kernel's chunks and threads to matter: n = 1999 rows
/// (odd parts, chunks with a tail of fewer than four rows), d = 300 + bias (not a multiple of
/// the kernel's lanes), 8 patterns; squared loss with `classes` classes (C = 1 for two).
fn problem(classes: usize) -> Problem<Cpu> {
    let (n, d) = (1999, 300);
    let mut rng = StdRng::seed_from_u64(31);
    let mut normal = || StandardNormal.sample(&mut rng);
    let x: Vec<f32> = (0..n * d).map(|_| normal()).collect();
    let y: Vec<f32> = (0..n)
        .map(|i| match classes {
            2 => [-1.0, 1.0][i % 2],
            _ => (i % classes) as f32,
        })
        .collect();
    let data = Dataset {
        n,
        d,
        x,
        y,
        n_test: 0,
        x_test: vec![],
        y_test: vec![],
        classes,
    };
    let cfg = ProblemConfig {
        patterns: 8,
        beta: 1e-3,
        loss: Loss::Squared,
        bias: true,
        gates: None,
    };
    Problem::new(&data, &cfg, 5, &Default::default()).unwrap()
}

fn random_u(prob: &Problem<Cpu>, seed: u64) -> Tensor<Cpu, 2> {
    let mut rng = StdRng::seed_from_u64(seed);
    let m = 2 * prob.q();
    let v: Vec<f32> = (0..prob.d * m)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(burn::tensor::TensorData::new(v, [prob.d, m]), &prob.device)
}

/// ||a - b|| / ||b||.
fn rel_diff(a: &Tensor<Cpu, 2>, b: &Tensor<Cpu, 2>) -> f64 {
    let norm = |t: Tensor<Cpu, 2>| t.powi_scalar(2).sum().into_scalar().sqrt() as f64;
    norm(a.clone() - b.clone()) / norm(b.clone())
}

#[test]
fn fused_and_two_pass_rbcd_steps_agree_to_1e_6_for_100_steps() {
    for classes in [2, 3] {
        let prob = problem(classes);
        let (rho, q) = (0.05, prob.q());
        let (b, u0) = (random_u(&prob, 1), random_u(&prob, 2));
        let gram = host_gram(&prob);
        let mut rng = StdRng::seed_from_u64(3);
        let blocks: Vec<Vec<usize>> = (0..101)
            .map(|_| rand::seq::index::sample(&mut rng, q, 3).into_vec())
            .collect();
        let mut fused = HostState::new(&prob, &gram, rho, b.clone(), u0.clone());
        let mut two_pass = HostState::new(&prob, &gram, rho, b.clone(), u0.clone());
        let mut tensor = BlockState::new(&prob, rho, b, u0.clone());
        let mut lines = [LineSearch::new(1.0); 3];
        let mut pending = fused.pending(blocks[0].clone());
        let mut decreases = [0.0; 3];
        for step in 0..100 {
            let d = [
                fused.step_fused(&mut pending, blocks[step + 1].clone(), &mut lines[0]),
                two_pass.step_two_pass(&blocks[step], &mut lines[1]),
                tensor.step(&blocks[step], &mut lines[2]),
            ];
            for (total, d) in decreases.iter_mut().zip(d) {
                *total += d;
            }
        }
        let u = fused.u_tensor::<Cpu>(&prob.device);
        let (host, tens) = (
            rel_diff(&u, &two_pass.u_tensor(&prob.device)),
            rel_diff(&u, tensor.u()),
        );
        eprintln!(
            "C {}: fused vs host two-pass {host:e}, vs tensor step {tens:e}",
            prob.c
        );
        assert!(host <= 1e-6, "C {}: fused vs two-pass: {host:e}", prob.c);
        // The tensor step sums in another order (burn's products): f32 rounding over 100
        // steps reaches about 1e-6 there, so it is held to 1e-5.
        assert!(tens <= 1e-5, "C {}: fused vs tensor step: {tens:e}", prob.c);
        let moved = rel_diff(&u, &u0);
        assert!(moved > 1e-2, "C {}: u barely moved ({moved:e})", prob.c);
        for total in &decreases[1..] {
            assert!(
                (decreases[0] - total).abs() <= 1e-5 * total.abs(),
                "{decreases:?}"
            );
        }
    }
}

#[test]
fn fused_rbcd_u_steps_take_the_tensor_u_steps() {
    // The fused solver draws each step's successor before its pass and carries the last one
    // to the next u-step: over several warm-started u-steps (some stopped by the window, some
    // by the cap) it must step the same blocks as the tensor solver, so reach the same u.
    let prob = problem(2);
    let rho = 0.05;
    let run = |fused: bool, threshold: f64| {
        let mut cfg = solver_config(SolverKind::Rbcd, rho, 1);
        (cfg.rbcd.fused, cfg.rbcd.threshold, cfg.rbcd.max_steps) = (fused, threshold, 40);
        let mut solver = usolver::<Cpu>(&cfg, 9);
        solver.prepare(&prob, rho).unwrap();
        let mut u = random_u(&prob, 4);
        let mut steps = vec![];
        for k in 0..6 {
            let b = random_u(&prob, 10 + k as u64);
            let (next, stats) = solver.solve(&prob, rho, b, u, k).unwrap();
            (u, steps) = (next, [steps, vec![stats.iters]].concat());
        }
        (u, steps)
    };
    // Thresholds from "never stops early" to "stops at once": the window must stop some
    // u-steps somewhere in the range, so that the carried block is exercised.
    let mut windowed = false;
    for threshold in [1e-3, 1e-1, 1e1, 1e3, 1e5] {
        let ((uf, sf), (ut, st)) = (run(true, threshold), run(false, threshold));
        assert_eq!(sf, st, "threshold {threshold}: steps per u-step");
        windowed |= sf.iter().any(|&s| s < 40);
        let rel = rel_diff(&uf, &ut);
        assert!(
            rel <= 1e-5,
            "threshold {threshold}: fused vs tensor u after 6 u-steps: {rel:e}"
        );
    }
    assert!(windowed, "no u-step stopped by the window at any threshold");
}
