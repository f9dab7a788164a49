//! Shared test helpers: fixtures and configurations.

use admm_runner::data::{read_npy_f64, Dataset};
use admm_runner::manifest::{ProblemConfig, SolverConfig, SolverKind, TolSchedule};
use std::path::PathBuf;

pub type Cpu = burn::backend::Flex;

/// The repository root, read at run time: a compile-time `env!` would pin the
/// path of whichever checkout first built the (shared, cached) test binary.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures")
}

/// The independent optimum of a small problem (solved by CVXPY/Clarabel in f64).
pub struct Optimum {
    pub data: Dataset,
    pub gates: PathBuf,
    pub patterns: usize,
    pub beta: f64,
    pub objective: f64,
}

pub fn optimum(name: &str) -> Optimum {
    let dir = fixtures().join(name);
    let (x, xs) = read_npy_f64(&dir.join("x.npy")).expect("fixture x.npy");
    let (y, _) = read_npy_f64(&dir.join("y.npy")).expect("fixture y.npy");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("optimum.json")).expect("optimum.json"),
    )
    .expect("optimum.json parses");
    let (n, d) = (xs[0], xs[1]);
    Optimum {
        data: Dataset {
            n,
            d,
            x: x.iter().map(|&v| v as f32).collect(),
            y: y.iter().map(|&v| v as f32).collect(),
            n_test: 0,
            x_test: vec![],
            y_test: vec![],
        },
        gates: dir.join("gates.npy"),
        patterns: json["P"].as_u64().expect("P") as usize,
        beta: json["beta"].as_f64().expect("beta"),
        objective: json["objective"].as_f64().expect("objective"),
    }
}

pub fn problem_config(opt: &Optimum) -> ProblemConfig {
    ProblemConfig {
        patterns: opt.patterns,
        beta: opt.beta,
        loss: Default::default(),
        bias: false,
        gates: Some(opt.gates.clone()),
    }
}

pub fn solver_config(name: SolverKind, rho: f64, max_iters: usize) -> SolverConfig {
    SolverConfig {
        name,
        rho,
        gamma: 1.0,
        max_iters,
        time_limit: None,
        tol_abs: 0.0,
        tol_rel: 0.0,
        target_train_acc: None,
        stop_at_target: false,
        inner_max_iters: 200,
        inner_tol: 1e-6,
        inner_tol_schedule: TolSchedule::Fixed,
        warm_start: true,
        exact_max_dim: 4000,
        rank: 10,
        nys_variant: Default::default(),
        block_size: 3,
        rbcd_threshold: 0.7,
        rbcd_decay: 1.0,
        rbcd_step0: 1.0,
        rbcd_max_steps: None,
        lr: 1e-3,
        adam_beta1: 0.9,
        adam_beta2: 0.999,
        batch_size: 64,
        width: None,
        seed: 0,
    }
}

/// Observer that keeps nothing and never stops.
pub struct Quiet;

impl admm_runner::admm::Observer for Quiet {
    fn observe(&mut self, _: &admm_runner::admm::IterRecord) -> Option<String> {
        None
    }
}

/// Runs `task` on every compiled backend whose device is present, so that on a GPU machine the
/// same check covers CUDA. Returns the backends it ran on.
pub fn on_every_backend<T>(task: T) -> Vec<admm_runner::manifest::BackendKind>
where
    T: admm_runner::backend::BackendTask<Output = ()> + Clone,
{
    use admm_runner::backend::{compiled, dispatch};
    compiled()
        .into_iter()
        .filter(|&kind| match dispatch(kind, task.clone()) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("skipped on {kind}: {e}");
                false
            }
        })
        .collect()
}

/// A finished command's stdout followed by its stderr, for assertions and failure messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
