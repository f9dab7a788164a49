//! `admm-runner bench`: how close the solvers run to this machine's limit, measured side by
//! side in one process. For each problem size of a bench manifest it times
//! - the two GEMM shapes the operators are made of (X B and X^T R), best of k;
//! - one application of A, as GFLOP/s from method.md sec. 3's count (4ndP + 4d^2P) and as a
//!   fraction of the GEMM rate;
//! - each solver's seconds per ADMM iteration (precomputation apart; per epoch for adam), its
//!   seconds to the manifest's `solver.target_train_acc` (Table 1's measure, precomputation
//!   included, with the test accuracy at that moment) and its peak memory.
//!
//! So `admm-runner bench experiments/table1-mid.yaml` gives every number of issue 7 for the
//! mid size in one process; `experiments/bench.yaml` covers the three sizes without a target.
//!
//! `admm-runner bench --gap SECONDS` races instead: every ADMM run twice, with today's fixed
//! rho (rule, over-relaxation and acceleration off) and with the manifest's `solver.admm` as
//! given (e.g. `--set solver.admm.rho_rule=spectral`; the manifest's rho as the start), timing the first iteration whose certified relative gap is below 1e-3 and
//! 1e-4 (`gap_race`).
//!
//! Timings are printed as Markdown tables, so the output can go straight into BENCHMARKS.md.
//! They are never asserted on: this is a measuring tool, not a test.

use crate::backend::{self, BackendTask};
use crate::data::Dataset;
use crate::manifest::{PlannedRun, RunConfig};
use crate::run::single::{Hooks, Outcome, Session};
use admm_engine::admm::{AdmmOptions, RhoRule};
use admm_engine::problem::{scalar, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use std::collections::BTreeSet;
use std::time::Instant;

/// The test accuracy whose first crossing `bench` times (Table 1's companion uses the same).
pub use crate::results::TEST_TARGET;

/// Repetitions of each kernel; the best is reported (the least disturbed by other load).
const REPS: usize = 5;

/// Kernel rates at one problem size.
#[derive(Debug, Clone)]
pub struct Kernels {
    pub n: usize,
    pub d: usize,
    pub p: usize,
    /// GFLOP/s of X (n x d) times a d x P matrix.
    pub gemm_xb: f64,
    /// GFLOP/s of X^T (d x n) times an n x P matrix, with X^T resident.
    pub gemm_xtr: f64,
    /// Seconds of one A application (best of `REPS`).
    pub apply_a_s: f64,
    /// GFLOP/s of one A application, by the 4ndP + 4d^2P count.
    pub apply_a_gflops: f64,
    /// Seconds of one RBCD block step on 3 patterns (best of `REPS`).
    pub rbcd_step_s: f64,
    /// GFLOP/s of that step, by its count 4nd*3 + 4d^2*3 (X^T r, X g and K g for the block).
    pub rbcd_step_gflops: f64,
    /// The machine's streaming read bandwidth, GB/s (`read_bandwidth`), measured beside it.
    pub read_gbs: f64,
    /// The step's memory floor: the bytes it must read (X twice, K once, f32) at `read_gbs`.
    pub rbcd_floor_s: f64,
    /// The one-pass floor: X once and K once at `read_gbs` (the fused step's bytes).
    pub rbcd_floor1_s: f64,
    /// Seconds of one fused host step (`rbcd.fused`: one read of X) and of the same host
    /// step in two reads of X, best of `REPS` each, side by side; NaN where the fused step
    /// does not run (not a CPU backend with f32 tensors).
    pub rbcd_fused_s: f64,
    pub rbcd_two_pass_s: f64,
    /// Seconds of one multi-block RBCD step (`PASS_BLOCKS` blocks of 3 patterns sharing one
    /// pass over X, `solver.rbcd.blocks_per_pass`), best of `REPS`, and its block count.
    pub rbcd_pass_s: f64,
    pub rbcd_pass_blocks: usize,
}

/// Blocks in the timed multi-block pass (15 patterns: about what one pass over X costs for 3).
const PASS_BLOCKS: usize = 5;

/// One solver at one size.
#[derive(Debug, Clone)]
pub struct SolverTiming {
    pub solver: String,
    pub backend: String,
    pub n: usize,
    pub d: usize,
    pub p: usize,
    pub precompute_s: f64,
    pub per_iter_s: f64,
    pub iters: usize,
    pub train_acc: f64,
    /// The run's `solver.target_train_acc`, if any.
    pub target: Option<f64>,
    /// Seconds (precomputation included), iterations and test accuracy when the target was
    /// first reached; None when not reached (or no target).
    pub to_target: Option<(f64, usize, f64)>,
    /// Seconds to the target train accuracy counted on u (the paper's measure; ADMM only).
    pub to_target_u: Option<f64>,
    /// Seconds to test accuracy `TEST_TARGET` (quality, not fit).
    pub to_test: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub error: Option<String>,
}

/// Everything one bench invocation measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub kernels: Vec<(String, Kernels)>,
    pub solvers: Vec<SolverTiming>,
}

/// Runs every planned run as a timing job (through `execute`, as `run` does), and the
/// kernels once per (size, backend).
pub fn run(runs: &[PlannedRun], mut progress: impl FnMut(&str)) -> Report {
    let mut report = Report::default();
    let mut seen = BTreeSet::new();
    let mut session = Session::new();
    for run in runs {
        let cfg = &run.config;
        let key = format!(
            "{}:{:?}:{}",
            cfg.backend,
            serde_json::to_string(&cfg.data).unwrap_or_default(),
            cfg.problem.patterns
        );
        if !seen.contains(&key) {
            match kernels_of(&mut session, cfg) {
                Ok(k) => {
                    progress(&format!(
                        "{} n={} d={} P={}: X B {:.1} GFLOP/s, X^T R {:.1} GFLOP/s, A {:.1} GFLOP/s, RBCD step {:.2} ms = {:.2}x its memory floor at {:.1} GB/s; {} blocks in one pass {:.2} ms = {:.2}x one block; fused step {:.2} ms = {:.2}x the one-pass floor ({:.2} ms), {:.2}x the two-pass floor, {:.2}x its two-pass form ({:.2} ms)",
                        cfg.backend, k.n, k.d, k.p, k.gemm_xb, k.gemm_xtr, k.apply_a_gflops,
                        k.rbcd_step_s * 1e3, k.rbcd_step_s / k.rbcd_floor_s, k.read_gbs,
                        k.rbcd_pass_blocks, k.rbcd_pass_s * 1e3, k.rbcd_pass_s / k.rbcd_step_s,
                        k.rbcd_fused_s * 1e3, k.rbcd_fused_s / k.rbcd_floor1_s,
                        k.rbcd_floor1_s * 1e3, k.rbcd_fused_s / k.rbcd_floor_s,
                        k.rbcd_fused_s / k.rbcd_two_pass_s, k.rbcd_two_pass_s * 1e3
                    ));
                    report.kernels.push((cfg.backend.to_string(), k));
                    seen.insert(key);
                }
                Err(e) => progress(&format!("{} kernels: failed: {e}", cfg.backend)),
            }
        }
        let timing = timing(cfg, &session.execute(run, Hooks::default()));
        progress(&timing_line(&timing));
        report.solvers.push(timing);
    }
    report
}

/// The kernel rates on the run's problem (the same data, gates and shapes as the solve).
fn kernels_of(session: &mut Session, cfg: &RunConfig) -> Result<Kernels, String> {
    let (data, _) = session.data(cfg)?;
    let rho = cfg.solver.method.admm().map_or(0.01, |a| a.rho);
    let task = KernelTask { cfg, data, rho };
    crate::run::single::catch_panic(|| backend::dispatch(cfg.backend, task))?
        .map_err(|e| e.to_string())?
}

fn timing_line(t: &SolverTiming) -> String {
    format!(
        "{} {} n={} d={} P={}: {}",
        t.solver,
        t.backend,
        t.n,
        t.d,
        t.p,
        match &t.error {
            Some(e) => format!("failed: {e}"),
            None => format!(
                "{:.4} s/iter, precompute {:.3} s{}",
                t.per_iter_s,
                t.precompute_s,
                t.to_target.map_or(String::new(), |(secs, iter, _)| format!(
                    ", target at {secs:.2} s (iteration {iter})"
                ))
            ),
        }
    )
}

/// A solver's timing from its executed run.
fn timing(cfg: &RunConfig, out: &Outcome) -> SolverTiming {
    let s = &out.summary;
    let t = &s.times;
    let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
    let iters = s.iterations.unwrap_or(0).max(0) as usize;
    let stepping = v(t.u_s) + v(t.v_s) + v(t.dual_s);
    SolverTiming {
        solver: s.solver.clone(),
        backend: s.backend.clone(),
        n: cfg.data.n_train,
        d: s.d.unwrap_or(0) as usize,
        p: s.p.map_or(cfg.problem.patterns, |p| p as usize),
        precompute_s: v(t.precompute_s),
        per_iter_s: stepping / iters.max(1) as f64,
        iters,
        train_acc: v(s.last.train_acc),
        target: cfg.solver.stop.target_train_acc,
        to_target: out
            .reached
            .map(|r| (r.times.total(), r.iter, r.metrics.test_acc)),
        to_target_u: cfg.solver.stop.target_train_acc.and_then(|goal| {
            out.trace
                .iter()
                .find(|r| r.train_acc_u >= goal)
                .map(|r| r.elapsed_s)
        }),
        to_test: out
            .trace
            .iter()
            .find(|r| r.test_acc >= TEST_TARGET)
            .map(|r| r.elapsed_s),
        peak_rss_bytes: s.peak_host_rss_bytes.map(|b| b as u64),
        error: out.failure().map(str::to_string),
    }
}

/// Times the kernels on one backend.
struct KernelTask<'a> {
    cfg: &'a RunConfig,
    data: &'a Dataset,
    rho: f64,
}

impl BackendTask for KernelTask<'_> {
    type Output = Result<Kernels, String>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let cfg = self.cfg;
        let prob = cfg
            .problem
            .build::<B>(self.data, cfg.seed, &device)
            .map_err(|e| e.to_string())?;
        Ok(kernels(&prob, self.rho))
    }
}

/// Best-of-`REPS` seconds of `f`, synchronizing the device so queued work is counted.
fn best_of<B: Backend>(device: &B::Device, mut f: impl FnMut() -> Tensor<B, 2>) -> f64 {
    let _ = B::sync(device);
    let mut best = f64::INFINITY;
    for _ in 0..REPS {
        let t = Instant::now();
        let out = f();
        // Reading one value forces the computation on lazy backends as well.
        let _ = scalar(out.slice([0..1, 0..1]));
        let _ = B::sync(device);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// Best-of-`REPS` seconds of `f` after one untimed call (for work that synchronizes itself,
/// such as an RBCD step, which ends with a host read).
fn best_after_warmup(mut f: impl FnMut()) -> f64 {
    f();
    (0..REPS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The GEMM rates of the two operator shapes and the A-application rate on `prob`.
fn kernels<B: Backend>(prob: &Problem<B>, rho: f64) -> Kernels {
    let (n, d, p) = (prob.n, prob.d, prob.p);
    let dev = &prob.device;
    let normal = Distribution::Normal(0.0, 1.0);
    let b = Tensor::<B, 2>::random([d, p], normal, dev);
    let r = Tensor::<B, 2>::random([n, p], normal, dev);
    let u = Tensor::<B, 2>::random([d, 2 * p], normal, dev);
    let gemm_flops = 2.0 * (n * d * p) as f64;
    let xb = best_of::<B>(dev, || prob.x.clone().matmul(b.clone()));
    let xtr = best_of::<B>(dev, || prob.xt.clone().matmul(r.clone()));
    let a = best_of::<B>(dev, || prob.apply_a(&u, rho));
    let a_flops = 4.0 * (n * d * p) as f64 + 4.0 * (d * d * p) as f64;
    let (rbcd_step_s, rbcd_flops) = rbcd_step(prob, rho);
    let (rbcd_pass_s, rbcd_pass_blocks) = rbcd_pass(prob, rho);
    let (rbcd_fused_s, rbcd_two_pass_s) = rbcd_fused(prob, rho);
    let read_gbs = read_bandwidth();
    let step_bytes = 4.0 * (2 * n * d + d * d) as f64;
    Kernels {
        n,
        d,
        p,
        gemm_xb: gemm_flops / xb / 1e9,
        gemm_xtr: gemm_flops / xtr / 1e9,
        apply_a_s: a,
        apply_a_gflops: a_flops / a / 1e9,
        rbcd_step_s,
        rbcd_step_gflops: rbcd_flops / rbcd_step_s / 1e9,
        read_gbs,
        rbcd_floor_s: step_bytes / (read_gbs * 1e9),
        rbcd_pass_s,
        rbcd_pass_blocks,
        rbcd_floor1_s: 4.0 * (n * d + d * d) as f64 / (read_gbs * 1e9),
        rbcd_fused_s,
        rbcd_two_pass_s,
    }
}

/// Buffer of the bandwidth test: 256 MiB, far above any cache, so every pass reads memory.
const BANDWIDTH_BYTES: usize = 256 << 20;

/// The machine's streaming read bandwidth in GB/s: best of `REPS` passes over a 256 MiB
/// buffer, one slice per available core, each summed as u64 words with four independent
/// accumulators (integer adds so that the loop outruns memory at any optimization level).
/// This is the floor a memory-bound kernel such as the RBCD block step is measured against.
pub fn read_bandwidth() -> f64 {
    let words: Vec<u64> = (0..BANDWIDTH_BYTES / 8).map(|i| i as u64).collect();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = words.len().div_ceil(threads);
    let mut best = f64::INFINITY;
    let mut sink = 0u64;
    for _ in 0..REPS {
        let t = Instant::now();
        let total = std::thread::scope(|s| {
            let parts: Vec<_> = words
                .chunks(chunk)
                .map(|c| s.spawn(move || sum_words(c)))
                .collect();
            parts
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .fold(0u64, u64::wrapping_add)
        });
        best = best.min(t.elapsed().as_secs_f64());
        sink = sink.wrapping_add(total);
    }
    std::hint::black_box(sink);
    BANDWIDTH_BYTES as f64 / best / 1e9
}

/// Wrapping sum of `w` with four independent chains (no loop-carried dependence on one add).
#[inline(never)]
fn sum_words(w: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let mut quads = w.chunks_exact(4);
    for q in &mut quads {
        acc[0] = acc[0].wrapping_add(q[0]);
        acc[1] = acc[1].wrapping_add(q[1]);
        acc[2] = acc[2].wrapping_add(q[2]);
        acc[3] = acc[3].wrapping_add(q[3]);
    }
    let tail = quads
        .remainder()
        .iter()
        .fold(0u64, |a, &b| a.wrapping_add(b));
    acc.iter().fold(tail, |a, &b| a.wrapping_add(b))
}

/// Best-of-`REPS` seconds of one RBCD block step (3 patterns, or P if fewer) and its flop
/// count: the step is a few skinny products, so its rate shows how far skinny GEMMs fall
/// below the square ones.
fn rbcd_step<B: Backend>(prob: &Problem<B>, rho: f64) -> (f64, f64) {
    use admm_engine::admm::usolve::rbcd::{BlockState, LineSearch};
    let (n, d, p) = (prob.n, prob.d, prob.p);
    let normal = Distribution::Normal(0.0, 1.0);
    let b = Tensor::<B, 2>::random([d, 2 * p], normal, &prob.device);
    let mut state = BlockState::new(prob, rho, b, prob.zeros_u());
    let mut line = LineSearch::new(1e-6);
    let block: Vec<usize> = (0..3.min(p)).collect();
    // Each step ends with a host read: the work is done when it returns.
    let best = best_after_warmup(|| {
        state.step(&block, &mut line);
    });
    let bs = block.len() as f64;
    (best, 4.0 * bs * (n * d) as f64 + 4.0 * bs * (d * d) as f64)
}

/// Best-of-`REPS` seconds of one multi-block RBCD step: `PASS_BLOCKS` blocks of 3 patterns
/// (fewer when P is smaller) in one pass over X. Returns the seconds and the block count.
fn rbcd_pass<B: Backend>(prob: &Problem<B>, rho: f64) -> (f64, usize) {
    use admm_engine::admm::usolve::rbcd::BlockState;
    let normal = Distribution::Normal(0.0, 1.0);
    let b = Tensor::<B, 2>::random([prob.d, 2 * prob.p], normal, &prob.device);
    let mut state = BlockState::new(prob, rho, b, prob.zeros_u());
    let pats: Vec<usize> = (0..(3 * PASS_BLOCKS).min(prob.p)).collect();
    let blocks: Vec<Vec<usize>> = pats.chunks(3).map(<[usize]>::to_vec).collect();
    let best = best_after_warmup(|| {
        state.step_blocks(&blocks);
    });
    (best, blocks.len())
}

/// Best-of-`REPS` seconds of one fused host RBCD step (one read of X) and of the same host
/// step in two reads, on blocks of 3 patterns (two blocks taking turns), one after the other in
/// this process; NaN where the fused step does not run.
fn rbcd_fused<B: Backend>(prob: &Problem<B>, rho: f64) -> (f64, f64) {
    use admm_engine::admm::usolve::rbcd::{host_backend, host_gram, HostState, LineSearch};
    if !host_backend::<B>(&prob.device) {
        return (f64::NAN, f64::NAN);
    }
    let q = prob.q();
    let gram = host_gram(prob);
    let normal = Distribution::Normal(0.0, 1.0);
    let b = Tensor::<B, 2>::random([prob.d, 2 * q], normal, &prob.device);
    let mut state = HostState::new(prob, &gram, rho, b, prob.zeros_u());
    let mut line = LineSearch::new(1e-6);
    let blocks: Vec<Vec<usize>> = [0, 3]
        .iter()
        .map(|&s| (s..s + 3).map(|i| i % q).collect())
        .collect();
    let mut turn = 0;
    let mut pending = state.pending(blocks[0].clone());
    let fused = best_after_warmup(|| {
        turn += 1;
        state.step_fused(&mut pending, blocks[turn % 2].clone(), &mut line);
    });
    let two_pass = best_after_warmup(|| {
        turn += 1;
        state.step_two_pass(&blocks[turn % 2], &mut line);
    });
    (fused, two_pass)
}

/// The report as Markdown tables.
pub fn markdown(report: &Report) -> String {
    let mut s = String::new();
    s.push_str("| backend | n | d | P | X B GFLOP/s | X^T R GFLOP/s | A-apply s | A-apply GFLOP/s | A / GEMM | RBCD step s | RBCD step GFLOP/s | read GB/s | RBCD floor s | step / floor | blocks in a pass | pass s | pass / step | one-pass floor s | fused step s | fused / one-pass floor | fused / two-pass floor | host two-pass step s | fused / host two-pass |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (backend, k) in &report.kernels {
        s.push_str(&format!(
            "| {backend} | {} | {} | {} | {:.1} | {:.1} | {:.4} | {:.1} | {:.2} | {:.4} | {:.1} | {:.1} | {:.4} | {:.2} | {} | {:.4} | {:.2} | {:.4} | {:.4} | {:.2} | {:.2} | {:.4} | {:.2} |\n",
            k.n,
            k.d,
            k.p,
            k.gemm_xb,
            k.gemm_xtr,
            k.apply_a_s,
            k.apply_a_gflops,
            k.apply_a_gflops / k.gemm_xb.max(k.gemm_xtr),
            k.rbcd_step_s,
            k.rbcd_step_gflops,
            k.read_gbs,
            k.rbcd_floor_s,
            k.rbcd_step_s / k.rbcd_floor_s,
            k.rbcd_pass_blocks,
            k.rbcd_pass_s,
            k.rbcd_pass_s / k.rbcd_step_s,
            k.rbcd_floor1_s,
            k.rbcd_fused_s,
            k.rbcd_fused_s / k.rbcd_floor1_s,
            k.rbcd_fused_s / k.rbcd_floor_s,
            k.rbcd_two_pass_s,
            k.rbcd_fused_s / k.rbcd_two_pass_s
        ));
    }
    s.push('\n');
    s.push_str(&format!("| solver | backend | n | d | P | s / iter | precompute s | iters | train acc | to target s | iters to target | test acc there | to target on u s | to test {TEST_TARGET} s | peak RSS MiB |\n"));
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for t in &report.solvers {
        let rss = t
            .peak_rss_bytes
            .map_or("-".to_string(), |b| format!("{:.0}", b as f64 / 1048576.0));
        let lead = format!(
            "| {} | {} | {} | {} | {} |",
            t.solver, t.backend, t.n, t.d, t.p
        );
        let secs = |x: Option<f64>| x.map_or("not reached".to_string(), |s| format!("{s:.4}"));
        let quality = format!("{} | {} |", secs(t.to_target_u), secs(t.to_test));
        let target = match (t.target, t.to_target) {
            (None, _) => "no target | | |".to_string(),
            (Some(goal), None) => format!("{:.0}% not reached | | |", goal * 100.0),
            (Some(_), Some((secs, iter, test))) => format!("{secs:.4} | {iter} | {test:.4} |"),
        };
        match &t.error {
            Some(e) => s.push_str(&format!(
                "{lead} failed: {e} | | | | {target} {quality} |\n"
            )),
            None => s.push_str(&format!(
                "{lead} {:.4} | {:.3} | {} | {:.4} | {target} {quality} {rss} |\n",
                t.per_iter_s, t.precompute_s, t.iters, t.train_acc
            )),
        }
    }
    s
}

/// The relative gaps `gap_race` times.
pub const GAP_LEVELS: [f64; 2] = [1e-3, 1e-4];

/// One run of the race: a solver under one set of ADMM options.
#[derive(Debug, Clone)]
pub struct GapTiming {
    pub solver: String,
    pub n: usize,
    pub d: usize,
    pub p: usize,
    /// The options spelled out (fixed rho, or the run's own).
    pub setting: String,
    /// Algorithm seconds (precomputation included) and iterations to each of `GAP_LEVELS`.
    pub to_gap: [Option<(f64, usize)>; 2],
    pub final_gap: f64,
    pub iters: usize,
    pub rho_changes: i64,
    pub error: Option<String>,
}

/// Today's ADMM: the manifest's rho and gamma, fixed, no relaxation or acceleration.
fn fixed_rho(m: &AdmmOptions) -> AdmmOptions {
    AdmmOptions {
        rho: m.rho,
        gamma: m.gamma,
        rho_rule: RhoRule::Fixed,
        alpha: 1.0,
        anderson: 0,
        ..AdmmOptions::default()
    }
}

/// `cfg` as a race entrant: `admm` with the residual test off and the gap test at the last
/// level, no accuracy target, and `budget_s` seconds at most.
fn race_config(cfg: &RunConfig, admm: AdmmOptions, budget_s: f64) -> RunConfig {
    let mut c = cfg.clone();
    c.solver.stop.max_iters = 1_000_000;
    c.solver.stop.time_limit = Some(budget_s);
    c.solver.stop.target_train_acc = None;
    c.solver.stop.stop_at_target = false;
    if let Some(a) = c.solver.method.admm_mut() {
        *a = AdmmOptions {
            tol_abs: 0.0,
            tol_rel: 0.0,
            tol_gap: GAP_LEVELS[1],
            ..admm
        };
    }
    c
}

/// Runs every ADMM run of `runs` twice (fixed rho, its own options), each for `budget_s`
/// seconds at most, and times the gap levels from the trace.
pub fn gap_race(
    runs: &[PlannedRun],
    budget_s: f64,
    mut progress: impl FnMut(&str),
) -> Vec<GapTiming> {
    let mut session = Session::new();
    let mut out = Vec::new();
    for run in runs {
        let Some(m) = run.config.solver.method.admm().copied() else {
            continue; // Adam has no certificate
        };
        for admm in [fixed_rho(&m), m] {
            let planned = PlannedRun {
                config: race_config(&run.config, admm, budget_s),
                ..run.clone()
            };
            let t = gap_timing(
                &planned.config,
                &admm,
                &session.execute(&planned, Hooks::default()),
            );
            progress(&gap_line(&t));
            out.push(t);
        }
    }
    out
}

/// How a race entry's options read in the table.
fn setting(a: &AdmmOptions) -> String {
    let rule = serde_json::to_value(a.rho_rule).ok();
    let rule = rule.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
    format!(
        "rho {} {rule}, alpha {}, anderson {}",
        a.rho, a.alpha, a.anderson
    )
}

/// The race entry from its executed run: the first trace row at or below each gap level, in
/// both the gap and the relative primal residual (the stop rule of `solver.admm.tol_gap`).
fn gap_timing(cfg: &RunConfig, admm: &AdmmOptions, out: &Outcome) -> GapTiming {
    let s = &out.summary;
    let first = |level: f64| {
        out.trace
            .iter()
            .find(|r| r.rel_gap <= level && r.rel_primal <= level)
            .map(|r| (r.elapsed_s, r.iter as usize))
    };
    let timed_out = s.stop_reason.as_deref() == Some("time_limit");
    GapTiming {
        solver: s.solver.clone(),
        n: cfg.data.n_train,
        d: s.d.unwrap_or(0) as usize,
        p: s.p.map_or(cfg.problem.patterns, |p| p as usize),
        setting: setting(admm),
        to_gap: [first(GAP_LEVELS[0]), first(GAP_LEVELS[1])],
        final_gap: s.last.rel_gap.unwrap_or(f64::NAN),
        iters: s.iterations.unwrap_or(0).max(0) as usize,
        rho_changes: s.last.rho_changes.unwrap_or(0),
        error: if timed_out {
            None
        } else {
            out.failure().map(str::to_string)
        },
    }
}

fn gap_cell(t: Option<(f64, usize)>) -> String {
    t.map_or("not reached | -".to_string(), |(s, i)| {
        format!("{s:.3} | {i}")
    })
}

fn gap_line(t: &GapTiming) -> String {
    format!(
        "{} n={} d={} P={} [{}]: gap 1e-3 at {}, 1e-4 at {}; final gap {:.2e} after {} iterations{}",
        t.solver,
        t.n,
        t.d,
        t.p,
        t.setting,
        gap_cell(t.to_gap[0]).replace(" | ", " s, iteration "),
        gap_cell(t.to_gap[1]).replace(" | ", " s, iteration "),
        t.final_gap,
        t.iters,
        t.error.as_ref().map_or(String::new(), |e| format!(" (failed: {e})"))
    )
}

/// The race as one Markdown table, the two settings of each run side by side with the
/// speed-up to 1e-4 (fixed-rho seconds / new seconds; a lower bound when fixed rho never got
/// there within the budget).
pub fn gap_markdown(rows: &[GapTiming], budget_s: f64) -> String {
    let mut s = String::from(
        "| solver | n | d | P | setting | s to 1e-3 | iters | s to 1e-4 | iters | final gap | rho changes | speed-up to 1e-4 |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for pair in rows.chunks(2) {
        let speedup = match (pair[0].to_gap[1], pair.get(1).and_then(|t| t.to_gap[1])) {
            (Some((a, _)), Some((b, _))) => format!("{:.1}x", a / b),
            (None, Some((b, _))) => format!(">{:.1}x", budget_s / b),
            _ => "-".to_string(),
        };
        for (i, t) in pair.iter().enumerate() {
            let fail = t
                .error
                .as_ref()
                .map_or(String::new(), |e| format!(" (failed: {e})"));
            s.push_str(&format!(
                "| {} | {} | {} | {} | {}{fail} | {} | {} | {:.2e} | {} | {} |\n",
                t.solver,
                t.n,
                t.d,
                t.p,
                t.setting,
                gap_cell(t.to_gap[0]),
                gap_cell(t.to_gap[1]),
                t.final_gap,
                t.rho_changes,
                if i == 1 { speedup.as_str() } else { "" }
            ));
        }
    }
    s
}
