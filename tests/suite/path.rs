//! Regularization paths: beta_max, the order of the betas, the validation split, warm starts
//! against cold ones, and the files a path writes.

use crate::common::{
    admm_runner, optimum, problem_config, solve_admm, solver_config, text, usolver, write_manifest,
    Cpu, Quiet,
};
use admm_engine::betamax::beta_max;
use admm_engine::problem::Problem;
use admm_runner::data::{split_validation, Dataset};
use admm_runner::manifest::{self, BetaPath, SolverKind};
use admm_runner::results::schema::read_path;
use admm_runner::results::Summary;
use admm_runner::run::path;
use admm_runner::run::sweep::RunOptions;

fn spec() -> BetaPath {
    BetaPath {
        count: 5,
        ratio: 0.01,
        betas: Vec::new(),
        validation: 0.25,
        warm_start: true,
        compare_cold: false,
        beta_max_iters: 3000,
    }
}

#[test]
fn betas_run_from_beta_max_down_geometrically_or_as_listed_largest_first() {
    let b = path::betas(&spec(), 2.0);
    assert_eq!(b.len(), 5);
    assert_eq!(b[0], 2.0);
    assert!((b[4] - 0.02).abs() < 1e-12);
    assert!(b.windows(2).all(|w| w[0] > w[1]));
    let ratios: Vec<f64> = b.windows(2).map(|w| w[1] / w[0]).collect();
    assert!(ratios.iter().all(|r| (r - ratios[0]).abs() < 1e-12));
    let listed = BetaPath {
        betas: vec![0.1, 1.0, 0.01],
        ..spec()
    };
    assert_eq!(path::betas(&listed, 99.0), vec![1.0, 0.1, 0.01]);
}

/// The final number of nonzero blocks of a converged exact-solver ADMM run at `beta`.
fn active_at(beta: f64) -> usize {
    let opt = optimum("opt_small");
    let cfg = admm_engine::ProblemConfig {
        beta,
        ..problem_config(&opt)
    };
    let prob = Problem::<Cpu>::new(&opt.data, &cfg, 0, &Default::default()).unwrap();
    let section = solver_config(SolverKind::Exact, 1.0, 3000);
    let mut us = usolver::<Cpu>(&section, 0);
    let out = solve_admm(&prob, &section, us.as_mut(), &mut Quiet).unwrap();
    out.last.unwrap().metrics.active_neurons
}

#[test]
fn beta_max_gives_the_zero_solution_and_slightly_less_does_not() {
    let opt = optimum("opt_small");
    let prob =
        Problem::<Cpu>::new(&opt.data, &problem_config(&opt), 0, &Default::default()).unwrap();
    let b = beta_max(&prob, 5000);
    assert!(b.value > 0.0 && b.value <= b.unconstrained, "{b:?}");
    assert_eq!(active_at(b.value * 1.05), 0, "{b:?}");
    assert!(active_at(b.value * 0.95) > 0, "{b:?}");
}

#[test]
fn the_validation_split_is_disjoint_from_what_is_trained_on() {
    let n = 50;
    let mut ds = Dataset {
        n,
        d: 2,
        x: (0..2 * n).map(|v| v as f32).collect(),
        y: (0..n)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect(),
        n_test: 0,
        x_test: vec![],
        y_test: vec![],
        classes: 2,
    };
    let original = ds.clone();
    let (held, kept) = split_validation(&mut ds, 0.2, 7);
    assert_eq!(held.n, 10);
    assert_eq!(ds.n, 40);
    assert!(held.rows.iter().all(|r| !kept.contains(r)), "disjoint");
    let mut all: Vec<usize> = held.rows.iter().chain(&kept).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "together they are the training set"
    );
    // The rows moved with their labels: row i of x is (2i, 2i + 1).
    for (k, &i) in held.rows.iter().enumerate() {
        assert_eq!(held.x[2 * k], (2 * i) as f32);
        assert_eq!(held.y[k], original.y[i]);
    }
    for (k, &i) in kept.iter().enumerate() {
        assert_eq!(ds.x[2 * k + 1], (2 * i + 1) as f32);
        assert_eq!(ds.y[k], original.y[i]);
    }
}

const PATH: &str = "
name: bpath
data: {source: synthetic, n_train: 80, n_test: 40, dim: 4, teacher_width: 3}
problem: {patterns: 6}
solver: {name: exact, admm: {rho: 0.5, tol_abs: 1.0e-8, tol_rel: 1.0e-6}, max_iters: 3000}
beta_path: {count: 4, ratio: 0.05, validation: 0.25, compare_cold: true}
plot: {figures: [beta-path]}
";

#[test]
fn warm_and_cold_paths_reach_the_same_objectives_and_write_a_row_per_beta() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), PATH);
    let runs = manifest::plan(&m, &[]).unwrap();
    let opts = RunOptions {
        out: dir.path().join("res"),
        quiet: true,
        ..Default::default()
    };
    let done = path::run_paths(&runs, &opts).unwrap();
    let [warm, cold] = &done[..] else {
        panic!("a warm and a cold path")
    };
    for (w, c) in warm.rows.iter().zip(&cold.rows) {
        assert_eq!(w.beta, c.beta);
        let rel = (w.objective - c.objective).abs() / c.objective;
        assert!(
            rel < 1e-4,
            "beta {}: {} vs {}",
            w.beta,
            w.objective,
            c.objective
        );
    }
    // At beta_max the solution is zero: the objective is 1/2 ||y||^2 = n/2 (labels +-1) for the
    // 60 examples trained on (80 less the 20 held out).
    let zero = 30.0;
    assert!(
        (warm.rows[0].objective - zero).abs() < 1e-3 * zero,
        "{:?}",
        warm.rows[0]
    );
    assert!(
        warm.rows[3].objective < 0.9 * zero,
        "a smaller beta fits better"
    );
    assert_eq!(warm.rows.iter().filter(|r| r.chosen).count(), 1);
    // A summary, trace and model per point, with the validation accuracy.
    for r in warm.rows.iter().chain(&cold.rows) {
        let s = Summary::read(&opts.out.join(format!("bpath/runs/{}.parquet", r.run_id))).unwrap();
        assert_eq!(s.val_acc, Some(r.val_acc));
        assert!(opts
            .out
            .join(format!("bpath/models/{}.safetensors", r.run_id))
            .is_file());
    }
    assert_eq!(read_path(&warm.table).unwrap(), warm.rows);
    // Plain runs keep their ids: the path key is absent from their configuration.
    let json = serde_json::to_value(&runs[0].config).unwrap();
    assert!(!json.as_object().unwrap().contains_key("path"));
    // The figure, from the tables alone.
    let plots = dir.path().join("plots");
    let o = admm_runner()
        .args([
            "plot",
            m.to_str().unwrap(),
            "--results",
            opts.out.to_str().unwrap(),
        ])
        .args(["--plots", plots.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(plots.join("bpath.png").is_file());
}
