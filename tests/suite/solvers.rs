//! The paper's other u-step solvers (diag-PCG, Nystrom-PCG, RBCD) and Figure 2's condition
//! numbers: against the independent optimum, the dense A, and their own invariants.

use crate::common::{optimum, problem_config, solve_admm, solver_config, usolver, Cpu, Quiet};
use admm_engine::admm::usolve::exact::dense_a;
use admm_engine::admm::usolve::nystrom::nystrom_factors;
use admm_engine::admm::usolve::rbcd::{BlockState, LineSearch};
use admm_engine::admm::usolve::NysVariant;
use admm_engine::problem::Problem;
use admm_runner::commands::condition;
use admm_runner::data::Dataset;
use admm_runner::manifest::{ConditionConfig, SolverKind, SolverSection};
use burn::backend::NdArray;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use faer::Mat;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};

type F64 = NdArray<f64>;

fn fixture<B: Backend>(name: &str) -> Problem<B> {
    let opt = optimum(name);
    Problem::<B>::new(&opt.data, &problem_config(&opt), 0, &Default::default()).unwrap()
}

/// Runs ADMM on opt_small with `cfg` (the u-solver seeded by `seed`) and returns the relative
/// objective gap to the optimum.
fn gap_to_optimum<B: Backend>(cfg: &SolverSection, seed: u64, device: &B::Device) -> f64 {
    let opt = optimum("opt_small");
    let prob = Problem::<B>::new(&opt.data, &problem_config(&opt), 0, device).unwrap();
    let mut solver = usolver::<B>(cfg, seed);
    let out = solve_admm(&prob, cfg, solver.as_mut(), &mut Quiet).unwrap();
    let m = out.last.unwrap().metrics;
    (m.objective - opt.objective).abs() / opt.objective
}

/// ADMM with a PCG u-step reaches the independent optimum on a backend.
#[derive(Clone)]
struct PcgReachesOptimum(SolverKind);

impl admm_runner::backend::BackendTask for PcgReachesOptimum {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) {
        let mut cfg = solver_config(self.0, 0.1, 3000);
        cfg.nys.rank = 10;
        let rel = gap_to_optimum::<B>(&cfg, 0, &device);
        let name = B::name(&device);
        assert!(rel < 1e-4, "{} on {name}: relative gap {rel:e}", self.0);
    }
}

#[test]
fn diag_pcg_admm_reaches_the_optimum_on_every_backend() {
    let ran = crate::common::on_every_backend(PcgReachesOptimum(SolverKind::DiagPcg));
    assert!(ran.len() >= 2, "at least flex and ndarray: {ran:?}");
}

#[test]
fn nys_pcg_admm_reaches_the_optimum_on_every_backend() {
    let ran = crate::common::on_every_backend(PcgReachesOptimum(SolverKind::NysPcg));
    assert!(ran.len() >= 2, "at least flex and ndarray: {ran:?}");
}

#[test]
fn bj_pcg_admm_reaches_the_optimum_on_every_backend() {
    let ran = crate::common::on_every_backend(PcgReachesOptimum(SolverKind::BjPcg));
    assert!(ran.len() >= 2, "at least flex and ndarray: {ran:?}");
}

#[test]
fn block_jacobi_inverts_i_plus_k_blockwise() {
    // B = I_2P (x) (I + K): applying B to B^{-1} r must give r back, with B formed
    // independently from the fixture's X (not from the preconditioner's K).
    use admm_engine::admm::usolve::block_jacobi::BlockJacobi;
    use admm_engine::admm::usolve::Preconditioner;
    let prob = fixture::<F64>("opt_medium");
    let mut bj = BlockJacobi::<F64>::default();
    bj.prepare(&prob, 0.5).unwrap();
    let r = random_block(&prob);
    let z = bj.apply(r.clone());
    let x = prob.x.clone();
    let back = z.clone() + x.clone().transpose().matmul(x.matmul(z));
    let err = (back - r.clone()).abs().max().into_scalar();
    let scale = r.abs().max().into_scalar();
    // The inverse is formed in f64 and stored in f32 (the device precision).
    assert!(err <= 1e-5 * scale, "|B B^-1 r - r| = {err:e}");
}

#[test]
fn block_jacobi_needs_fewer_cg_iterations_than_plain_cg() {
    // kappa(B^-1 A) <= 1 + 2P/rho whatever X's scaling; plain CG's count grows with ||X||^2.
    // Counted iterations to a fixed tolerance on a copy of the fixture with two features
    // scaled up (a badly conditioned X), at a rho where that bound is small (1 + 16/10).
    let opt = optimum("opt_medium");
    let mut data = opt.data.clone();
    for (i, v) in data.x.iter_mut().enumerate() {
        *v *= [1.0, 100.0, 1.0, 10.0][(i % data.d).min(3)];
    }
    let prob = Problem::<F64>::new(&data, &problem_config(&opt), 0, &Default::default()).unwrap();
    let rho = 10.0;
    let b = random_block(&prob);
    let iters = |kind| {
        let mut cfg = solver_config(kind, rho, 1);
        (cfg.cg.max_iters, cfg.cg.tol) = (100_000, 1e-8);
        let mut s = usolver::<F64>(&cfg, 0);
        let (_, st) = s.solve(&prob, rho, b.clone(), b.zeros_like(), 0).unwrap();
        assert!(st.rel_residual <= 1e-8, "{kind}: {st:?}");
        st.iters
    };
    let (cg, bj) = (iters(SolverKind::Cg), iters(SolverKind::BjPcg));
    eprintln!("inner iterations to 1e-8: bj-pcg {bj}, cg {cg}");
    assert!(2 * bj < cg, "bj-pcg {bj} iterations, cg {cg}");
}

#[test]
fn rbcd_admm_reaches_the_optimum() {
    let mut cfg = solver_config(SolverKind::Rbcd, 0.1, 3000);
    // Tight inner solves (the gap reached measures how exact the u-steps are).
    cfg.rbcd.threshold = 1e-8;
    cfg.rbcd.max_steps = 100;
    let rel = gap_to_optimum::<Cpu>(&cfg, 7, &Default::default());
    assert!(rel < 1e-4, "rbcd: relative gap {rel:e}");
}

/// A problem whose H = F^T F / rho + G^T G has rank 2P * n, far below N = 2dP (n < d).
fn low_rank_problem() -> Problem<Cpu> {
    let (n, d) = (2, 8);
    let mut rng = StdRng::seed_from_u64(11);
    let mut normal = || -> f32 {
        let v: f64 = StandardNormal.sample(&mut rng);
        v as f32
    };
    let data = Dataset {
        n,
        d,
        x: (0..n * d).map(|_| normal()).collect(),
        y: vec![1.0, -1.0],
        n_test: 0,
        x_test: vec![],
        y_test: vec![],
        classes: 2,
    };
    let mut cfg = problem_config(&optimum("opt_small"));
    cfg.gates = None;
    cfg.patterns = 4;
    Problem::<Cpu>::new(&data, &cfg, 3, &Default::default()).unwrap()
}

/// ||U diag(lambda) U^T - H||_F / ||H||_F for a rank-r sketch, in block order.
fn nystrom_error(prob: &Problem<Cpu>, rho: f64, r: usize) -> f64 {
    let f = nystrom_factors(prob, rho, r, 5, NysVariant::Textbook).unwrap();
    let u = f.u_block_order(prob.d, 2 * prob.p);
    let ul = Mat::from_fn(u.nrows(), u.ncols(), |i, c| u[(i, c)] * f.lambda[c]);
    let approx = &ul * u.transpose();
    let a = dense_a(prob, rho);
    let h = Mat::from_fn(a.nrows(), a.ncols(), |i, j| {
        a[(i, j)] - if i == j { 1.0 } else { 0.0 }
    });
    (&approx - &h).norm_l2() / h.norm_l2()
}

#[test]
fn nystrom_is_exact_when_the_rank_covers_h() {
    let prob = low_rank_problem();
    let (rank_h, dim) = (2 * prob.p * prob.n, prob.dim());
    assert!(rank_h + 3 < dim, "rank(H) = {rank_h}, N = {dim}");
    let rho = 0.5;
    let exact = nystrom_error(&prob, rho, rank_h + 3);
    assert!(exact < 1e-4, "rank {}: error {exact:e}", rank_h + 3);
    // And it is a real approximation: a rank-1 sketch misses most of H.
    let crude = nystrom_error(&prob, rho, 1);
    assert!(crude > 1e-2, "rank 1: error {crude:e}");
}

#[test]
fn nystrom_refuses_a_rank_of_at_least_n() {
    let prob = fixture::<Cpu>("opt_small");
    let mut cfg = solver_config(SolverKind::NysPcg, 0.1, 5);
    cfg.nys.rank = prob.dim();
    let mut solver = usolver::<Cpu>(&cfg, 0);
    let err = solve_admm(&prob, &cfg, solver.as_mut(), &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("solver.nys.rank = 60") && err.contains("N = 2dP = 60"),
        "{err}"
    );
}

#[test]
fn nystrom_preconditioning_lowers_kappa_and_more_rank_lowers_it_further() {
    let prob = fixture::<Cpu>("opt_medium");
    let cond = ConditionConfig {
        max_rank: 60,
        reference: true,
        ..ConditionConfig::default()
    };
    let k = condition::compute(&prob, 0.01, 0, &cond).unwrap();
    assert_eq!(k.ranks, (1..=60).collect::<Vec<_>>());
    assert!(k.kappa_a > 1e3, "a badly conditioned A: {:e}", k.kappa_a);
    for (i, &kn) in k.kappa_nys.iter().enumerate() {
        assert!(kn >= 1.0 && kn <= k.kappa_a, "rank {}: {kn:e}", i + 1);
        // One more sketch column is not a theorem-backed improvement for a randomized sketch
        // (lambda_r + mu rescales the whole span): small upticks (0.6% at most here) occur.
        if i > 0 {
            let prev = k.kappa_nys[i - 1];
            assert!(kn <= prev * 1.01, "rank {}: {kn:e} > {prev:e}", i + 1);
        }
        // Five more columns always help.
        if i >= 5 {
            let prev = k.kappa_nys[i - 5];
            assert!(
                kn < prev,
                "rank {}: {kn:e} >= rank {}: {prev:e}",
                i + 1,
                i - 4
            );
        }
    }
    let last = k.kappa_nys.last().unwrap();
    assert!(
        *last < k.kappa_a / 20.0,
        "rank 60: {last:e} vs {:e}",
        k.kappa_a
    );
    assert_eq!(k.kappa_nys_ref.as_ref().map(Vec::len), Some(60));
}

/// A random right-hand side and starting point for the u-subproblem.
fn random_block<B: Backend>(prob: &Problem<B>) -> Tensor<B, 2> {
    Tensor::random(
        [prob.d, 2 * prob.p],
        Distribution::Normal(0.0, 1.0),
        &prob.device,
    )
}

#[test]
fn rbcd_steps_never_increase_q_and_report_the_true_decrease() {
    let prob = fixture::<F64>("opt_medium");
    let rho = 0.05;
    let mut state = BlockState::new(&prob, rho, random_block(&prob), random_block(&prob));
    let mut line = LineSearch::new(1.0);
    let mut rng = StdRng::seed_from_u64(1);
    let mut q = state.objective();
    let start = q;
    for step in 0..200 {
        let block = rand::seq::index::sample(&mut rng, prob.p, 3).into_vec();
        let claimed = state.step(&block, &mut line);
        let next = state.objective();
        assert!(next <= q, "step {step}: q rose from {q} to {next}");
        let actual = q - next;
        assert!(
            (actual - claimed).abs() <= 1e-8 * start.abs().max(1.0),
            "step {step}: claimed decrease {claimed}, actual {actual}"
        );
        q = next;
    }
    assert!(q < start, "no progress: {start} -> {q}");
}

#[test]
fn a_resumed_rbcd_state_steps_like_a_fresh_one() {
    // The next u-step resumes F u and c = u + K u - b from the last one's incremental updates
    // with a new b; the same state built from scratch must give the same q and the same steps.
    let prob = fixture::<F64>("opt_medium");
    let rho = 0.05;
    let mut line = LineSearch::new(1.0);
    let mut rng = StdRng::seed_from_u64(2);
    let mut old = BlockState::new(&prob, rho, random_block(&prob), random_block(&prob));
    for _ in 0..50 {
        let block = rand::seq::index::sample(&mut rng, prob.p, 3).into_vec();
        old.step(&block, &mut line);
    }
    let b = random_block(&prob);
    let u = old.u().clone();
    let mut resumed = BlockState::resume(&prob, rho, b.clone(), old.into_carry());
    let mut fresh = BlockState::new(&prob, rho, b, u);
    let scale = fresh.objective().abs().max(1.0);
    assert!((resumed.objective() - fresh.objective()).abs() <= 1e-10 * scale);
    let (mut line_r, mut line_f) = (line, line);
    for step in 0..50 {
        let block = rand::seq::index::sample(&mut rng, prob.p, 3).into_vec();
        let (dr, df) = (
            resumed.step(&block, &mut line_r),
            fresh.step(&block, &mut line_f),
        );
        assert!(
            (dr - df).abs() <= 1e-8 * scale,
            "step {step}: resumed decrease {dr}, fresh {df}"
        );
    }
    assert!((resumed.objective() - fresh.objective()).abs() <= 1e-8 * scale);
}

#[test]
fn one_rbcd_pass_never_increases_q() {
    let prob = fixture::<F64>("opt_small");
    let rho = 0.1;
    let b = random_block(&prob);
    let u0 = random_block(&prob);
    let before = BlockState::new(&prob, rho, b.clone(), u0.clone()).objective();
    let mut cfg = solver_config(SolverKind::Rbcd, rho, 1);
    cfg.rbcd.max_steps = 50;
    let mut solver = usolver::<F64>(&cfg, 0);
    let (u, stats) = solver.solve(&prob, rho, b.clone(), u0, 0).unwrap();
    let after = BlockState::new(&prob, rho, b, u).objective();
    assert!(after < before, "{before} -> {after}");
    // At least the window of L = ceil(8 sqrt(5/3)) = 11 steps, at most the cap.
    assert!((11..=50).contains(&stats.iters), "{stats:?}");
}

#[test]
fn the_cg_family_honours_the_shared_inner_options() {
    let prob = fixture::<Cpu>("opt_medium");
    let rho = 0.5;
    let b = random_block(&prob);
    for kind in [
        SolverKind::Cg,
        SolverKind::DiagPcg,
        SolverKind::NysPcg,
        SolverKind::BjPcg,
    ] {
        let mut cfg = solver_config(kind, rho, 1);
        cfg.nys.rank = 20;
        cfg.cg.max_iters = 3;
        let mut s = usolver::<Cpu>(&cfg, 0);
        let (_, st) = s.solve(&prob, rho, b.clone(), b.zeros_like(), 0).unwrap();
        assert_eq!(st.iters, 3, "{kind}: {st:?}");
        cfg.cg.max_iters = 10_000;
        cfg.cg.tol = 1e-3;
        let mut s = usolver::<Cpu>(&cfg, 0);
        let (_, st) = s.solve(&prob, rho, b.clone(), b.zeros_like(), 0).unwrap();
        assert!(
            st.rel_residual <= 1e-3 && st.iters < 10_000,
            "{kind}: {st:?}"
        );
    }
}

#[test]
fn solver_names_parse_and_carry_the_run_seed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.yaml");
    std::fs::write(
        &p,
        "data: {source: synthetic, n_train: 50, n_test: 10, dim: 4}\nproblem: {patterns: 3}\nsolver: {name: cg, nys: {rank: 7}, rbcd: {block_size: 2}}\nsweep:\n  solver: [rbcd, diag-pcg, nys-pcg]\n  seed: [4]\n",
    )
    .unwrap();
    let runs = admm_runner::manifest::plan(&p, &[]).unwrap();
    let kinds: Vec<_> = runs.iter().map(|r| r.config.solver.method.kind()).collect();
    assert_eq!(
        kinds,
        [SolverKind::Rbcd, SolverKind::DiagPcg, SolverKind::NysPcg]
    );
    // The run seed is the run's (it seeds the u-solver through `make_solver`).
    assert!(runs.iter().all(|r| r.config.seed == 4));
    assert!(runs[0].id.starts_with("rbcd-flex-s4-"), "{}", runs[0].id);
    // The seed is the run's, not a solver key.
    std::fs::write(
        &p,
        "data: {source: synthetic, n_train: 50, n_test: 10, dim: 4}\nproblem: {patterns: 3}\nsolver: {name: rbcd, seed: 1}\n",
    )
    .unwrap();
    let msg = admm_runner::manifest::plan(&p, &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("seed"), "{msg}");
}

#[test]
fn condition_command_writes_kappa_per_rank() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    std::fs::write(
        &p,
        "name: cond\ndata: {source: synthetic, n_train: 60, n_test: 10, dim: 5}\nproblem: {patterns: 4}\nsolver: {name: nys-pcg, admm: {rho: 0.05}}\ncondition: {max_rank: 6}\n",
    )
    .unwrap();
    let out = dir.path().join("res");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_admm-runner"))
        .args(["condition", p.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = crate::common::text(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("kappa(A)"), "{text}");
    let df = admm_runner::results::read(
        &out.join("cond/kappa.parquet"),
        &admm_runner::results::ReadLimits::TABLE,
    )
    .unwrap();
    assert_eq!(df.height(), 6);
    let col = |c: &str| admm_runner::results::column_f64(&df, c).unwrap();
    assert_eq!(col("rank")[5], Some(6.0));
    let (ka, kn) = (col("kappa_a")[0].unwrap(), col("kappa_nys")[5].unwrap());
    assert!(
        kn <= ka && col("kappa_diag")[0].unwrap() >= 1.0,
        "{kn} {ka}"
    );
    // A rank the problem cannot hold is refused by name.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_admm-runner"))
        .args([
            "condition",
            p.to_str().unwrap(),
            "--set",
            "condition.ranks=[0]",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("condition.ranks"));
}

/// `blocks` disjoint blocks of `size` patterns drawn from P.
fn disjoint_blocks(rng: &mut StdRng, p: usize, blocks: usize, size: usize) -> Vec<Vec<usize>> {
    let pats = rand::seq::index::sample(rng, p, (blocks * size).min(p)).into_vec();
    pats.chunks(size).map(<[usize]>::to_vec).collect()
}

#[test]
fn a_multi_block_rbcd_step_reports_its_true_decrease_and_beats_each_blocks_own_exact_step() {
    // The k step sizes minimize q exactly over the span of the k block gradients, so the
    // decrease is at least that of the exact line search along any one of them (the same
    // step with that block alone), and it is the decrease q actually makes.
    let prob = fixture::<F64>("opt_medium");
    let rho = 0.05;
    let b = random_block(&prob);
    let mut rng = StdRng::seed_from_u64(3);
    let mut state = BlockState::new(&prob, rho, b.clone(), random_block(&prob));
    let start = state.objective();
    let scale = start.abs().max(1.0);
    for step in 0..40 {
        let blocks = disjoint_blocks(&mut rng, prob.p, 3, 2);
        let u = state.u().clone();
        let best_single = blocks
            .iter()
            .map(|block| {
                let mut alone = BlockState::new(&prob, rho, b.clone(), u.clone());
                let before = alone.objective();
                let claimed = alone.step_blocks(std::slice::from_ref(block));
                assert!((before - alone.objective() - claimed).abs() <= 1e-8 * scale);
                claimed
            })
            .fold(0.0, f64::max);
        let before = state.objective();
        let claimed = state.step_blocks(&blocks);
        let actual = before - state.objective();
        assert!(
            (actual - claimed).abs() <= 1e-8 * scale,
            "step {step}: claimed decrease {claimed}, actual {actual}"
        );
        assert!(
            claimed >= best_single * (1.0 - 1e-9),
            "step {step}: {claimed} below a single block's exact step {best_single}"
        );
    }
    assert!(state.objective() < start);
}

#[test]
fn rbcd_with_several_blocks_per_pass_reaches_the_optimum() {
    let mut cfg = solver_config(SolverKind::Rbcd, 0.1, 3000);
    cfg.rbcd.threshold = 1e-8;
    cfg.rbcd.max_steps = 100;
    cfg.rbcd.block_size = 2;
    cfg.rbcd.blocks_per_pass = 2;
    let rel = gap_to_optimum::<Cpu>(&cfg, 7, &Default::default());
    assert!(rel < 1e-4, "rbcd, 2 blocks per pass: relative gap {rel:e}");
}
