//! ADMM against an independently computed optimum, the convex/non-convex identity, and the
//! CG u-step against the exact one.

use crate::common::{optimum, problem_config, solve_admm, solver_config, usolver, Cpu, Quiet};
use admm_engine::admm;
use admm_engine::admm::usolve::{cg, Identity};
use admm_engine::executor::Stop;
use admm_engine::problem::{to_host, Problem};
use admm_runner::manifest::SolverKind;
use burn::backend::NdArray;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

/// Runs ADMM with the exact u-step on a fixture and returns (problem, v, outcome).
fn solve_fixture<B: Backend>(name: &str, rho: f64, iters: usize) -> (Problem<B>, admm::Outcome<B>) {
    let opt = optimum(name);
    let prob = Problem::<B>::new(&opt.data, &problem_config(&opt), 0, &Default::default()).unwrap();
    let cfg = solver_config(SolverKind::Exact, rho, iters);
    let mut solver = usolver::<B>(&cfg, 0);
    let out = solve_admm(&prob, &cfg, solver.as_mut(), &mut Quiet).unwrap();
    (prob, out)
}

fn frob(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn exact_admm_reaches_the_independent_optimum() {
    // rho per fixture: ADMM's speed depends on it, its limit does not.
    for (name, rho) in [("opt_small", 0.1), ("opt_medium", 0.3)] {
        let opt = optimum(name);
        let (prob, out) = solve_fixture::<Cpu>(name, rho, 3000);
        let m = out.last.unwrap().metrics;
        let rel = (m.objective - opt.objective).abs() / opt.objective;
        assert!(
            rel < 1e-4,
            "{name}: objective {} vs optimum {} (rel {rel:e})",
            m.objective,
            opt.objective
        );
        let viol = m.cone_violation / frob(&prob.x_host);
        assert!(
            viol < 1e-5,
            "{name}: cone violation {viol:e} relative to ||X||"
        );
        assert_eq!(out.stop, Stop::MaxIters);
    }
}

/// Non-convex objective of the recovered network, computed on the host from v alone:
/// W1_j = v_j / sqrt(||v_j||), W2_j = +-sqrt(||v_j||).
fn nonconvex_objective(
    x: &[f32],
    y: &[f32],
    n: usize,
    d: usize,
    v: &[f64],
    p: usize,
    beta: f64,
) -> f64 {
    let cols = 2 * p;
    let mut pred = vec![0.0f64; n];
    let mut reg = 0.0;
    for j in 0..cols {
        let col: Vec<f64> = (0..d).map(|a| v[a * cols + j]).collect();
        let norm = col.iter().map(|c| c * c).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        let w1: Vec<f64> = col.iter().map(|c| c / norm.sqrt()).collect();
        let w2 = if j < p { norm.sqrt() } else { -norm.sqrt() };
        reg += w1.iter().map(|c| c * c).sum::<f64>() + w2 * w2;
        for (k, out) in pred.iter_mut().enumerate() {
            let z: f64 = (0..d).map(|a| f64::from(x[k * d + a]) * w1[a]).sum();
            *out += z.max(0.0) * w2;
        }
    }
    let loss: f64 = pred
        .iter()
        .zip(y)
        .map(|(p, &t)| (p - f64::from(t)).powi(2))
        .sum::<f64>()
        / 2.0;
    loss + beta / 2.0 * reg
}

#[test]
fn recovered_network_objective_equals_convex_objective() {
    let opt = optimum("opt_small");
    let (prob, out) = solve_fixture::<Cpu>("opt_small", 0.1, 3000);
    let m = out.last.unwrap().metrics;
    let v = to_host(out.v.clone());
    let ncvx = nonconvex_objective(
        &prob.x_host,
        &prob.y_host,
        prob.n,
        prob.d,
        &v,
        prob.p,
        opt.beta,
    );
    let rel = (ncvx - m.objective).abs() / m.objective;
    // Equal up to the constraint violation ADMM leaves (relu(Xv) = D X v when G v >= 0).
    assert!(
        rel < 1e-4,
        "non-convex {ncvx} vs convex {} (rel {rel:e})",
        m.objective
    );
    assert!(
        m.active_neurons >= 2,
        "a non-trivial network: {} neurons",
        m.active_neurons
    );
}

#[test]
fn cg_u_step_agrees_with_exact_u_step() {
    type F64 = NdArray<f64>;
    let opt = optimum("opt_medium");
    let prob =
        Problem::<F64>::new(&opt.data, &problem_config(&opt), 0, &Default::default()).unwrap();
    let rho = 0.5;
    let b: Tensor<F64, 2> = Tensor::random(
        [prob.d, 2 * prob.p],
        Distribution::Normal(0.0, 1.0),
        &prob.device,
    );
    let cfg = solver_config(SolverKind::Exact, rho, 1);
    let mut exact = usolver::<F64>(&cfg, 0);
    exact.prepare(&prob, rho).unwrap();
    let (xe, _) = exact
        .solve(&prob, rho, b.clone(), b.zeros_like(), 0)
        .unwrap();
    let tol = 1e-10;
    let (xc, stats) = cg(
        |u: &Tensor<F64, 2>| prob.apply_a(u, rho),
        &Identity,
        b.clone(),
        b.zeros_like(),
        10_000,
        tol,
    );
    assert!(
        stats.rel_residual <= tol,
        "CG stopped at {:e}",
        stats.rel_residual
    );
    // Elementwise, in any one order: the tensors' own.
    let (xe, xc) = (to_host(xe), to_host(xc));
    let diff = xe
        .iter()
        .zip(&xc)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm = xe.iter().map(|a| a * a).sum::<f64>().sqrt();
    // ||x - x*|| / ||x*|| <= kappa(A) * tol; kappa here is well below 1e4.
    assert!(
        diff / norm < 1e-6,
        "CG and Cholesky differ by {:e}",
        diff / norm
    );
    // The CG solver behind the trait, with a loose tolerance, stops early but honestly.
    let mut loose = solver_config(SolverKind::Cg, rho, 1);
    loose.cg.tol = 1e-3;
    let mut solver = usolver::<F64>(&loose, 0);
    let (_, st) = solver
        .solve(&prob, rho, b.clone(), b.zeros_like(), 0)
        .unwrap();
    assert!(
        st.rel_residual <= 1e-3 && st.iters < stats.iters,
        "{st:?} vs {stats:?}"
    );
}

#[test]
fn exact_solver_refuses_a_large_problem() {
    let opt = optimum("opt_small");
    let prob =
        Problem::<Cpu>::new(&opt.data, &problem_config(&opt), 0, &Default::default()).unwrap();
    let mut cfg = solver_config(SolverKind::Exact, 1.0, 5);
    cfg.exact.max_dim = 10;
    let mut solver = usolver::<Cpu>(&cfg, 0);
    let err = solve_admm(&prob, &cfg, solver.as_mut(), &mut Quiet).unwrap_err();
    assert!(err.to_string().contains("solver.exact.max_dim"), "{err}");
}

#[test]
fn boyd_stopping_rule_fires_on_convergence() {
    let opt = optimum("opt_small");
    let prob =
        Problem::<Cpu>::new(&opt.data, &problem_config(&opt), 0, &Default::default()).unwrap();
    let mut cfg = solver_config(SolverKind::Exact, 0.1, 5000);
    cfg.admm.tol_abs = 1e-5;
    cfg.admm.tol_rel = 1e-4;
    let mut solver = usolver::<Cpu>(&cfg, 0);
    let out = solve_admm(&prob, &cfg, solver.as_mut(), &mut Quiet).unwrap();
    assert_eq!(out.stop, Stop::Converged);
    let r = out.last.unwrap();
    assert!(r.primal_residual <= r.eps_primal && r.dual_residual <= r.eps_dual);
    assert!(out.iterations < 5000);
}

/// ADMM with the CG u-step reaches the independent optimum on a backend.
#[derive(Clone)]
struct CgReachesOptimum;

impl admm_runner::backend::BackendTask for CgReachesOptimum {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) {
        let opt = optimum("opt_small");
        let prob = Problem::<B>::new(&opt.data, &problem_config(&opt), 0, &device).unwrap();
        let mut cfg = solver_config(SolverKind::Cg, 0.1, 3000);
        cfg.cg.tol = 1e-6;
        let mut solver = usolver::<B>(&cfg, 0);
        let out = solve_admm(&prob, &cfg, solver.as_mut(), &mut Quiet).unwrap();
        let m = out.last.unwrap().metrics;
        let rel = (m.objective - opt.objective).abs() / opt.objective;
        let name = B::name(&device);
        assert!(
            rel < 1e-4,
            "{name}: objective {} vs optimum {} (rel {rel:e})",
            m.objective,
            opt.objective
        );
    }
}

#[test]
fn cg_admm_reaches_the_optimum_on_every_backend() {
    let ran = crate::common::on_every_backend(CgReachesOptimum);
    assert!(ran.len() >= 2, "at least flex and ndarray: {ran:?}");
}

/// `train_acc_u` is the accuracy of sign(F u) (the paper's train accuracy), computed here by
/// hand from the final u; it is recorded beside ours (of v), and at the optimum u = v so the
/// two agree.
#[test]
fn train_acc_u_is_the_accuracy_of_f_u() {
    let (prob, out) = solve_fixture::<Cpu>("opt_small", 0.1, 3000);
    let m = out.last.unwrap().metrics;
    let fu = to_host(prob.f_from_xu(&prob.x.clone().matmul(out.u.clone())));
    let y = to_host(prob.y.clone());
    let correct = fu.iter().zip(&y).filter(|(p, t)| **p * **t > 0.0).count();
    assert_eq!(m.train_acc_u, correct as f64 / y.len() as f64);
    assert_eq!(m.train_acc_u, m.train_acc, "u = v at the optimum");
}
