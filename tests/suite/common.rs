//! Shared test helpers: fixtures and configurations.

use admm_engine::adam::AdamOptions;
use admm_engine::admm::usolve::{
    make_solver, CgOptions, ExactOptions, NysOptions, RbcdOptions, SolveError, TolSchedule, USolver,
};
use admm_engine::admm::{self, AdmmOptions};
use admm_engine::executor::{IterRecord, Observer};
use admm_engine::problem::Problem;
use admm_engine::problem::ProblemConfig;
use admm_runner::data::{read_npy_f64, Dataset};
use admm_runner::manifest::{Algorithm, ProblemSection, SolverKind, SolverSection};
use burn::tensor::backend::Backend;
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
            classes: 2,
        },
        gates: dir.join("gates.npy"),
        patterns: json["P"].as_u64().expect("P") as usize,
        beta: json["beta"].as_f64().expect("beta"),
        objective: json["objective"].as_f64().expect("objective"),
    }
}

/// The fixture's problem for the engine, its gates read from the fixture's file.
pub fn problem_config(opt: &Optimum) -> ProblemConfig {
    ProblemSection {
        patterns: opt.patterns,
        beta: opt.beta,
        loss: Default::default(),
        bias: false,
        gates: Some(opt.gates.clone()),
    }
    .to_engine()
    .expect("fixture gates.npy")
}

/// The manifest's `solver:` section the tests start from: the residual test off, tight fixed
/// CG solves from the previous u, a rank-10 sketch, RBCD's reference options with a fixed
/// threshold and 200 steps at most.
pub fn solver_config(name: SolverKind, rho: f64, max_iters: usize) -> SolverSection {
    SolverSection {
        name,
        max_iters,
        time_limit: None,
        target_train_acc: None,
        stop_at_target: false,
        admm: AdmmOptions {
            rho,
            gamma: 1.0,
            tol_abs: 0.0,
            tol_rel: 0.0,
            ..AdmmOptions::default()
        },
        cg: CgOptions {
            max_iters: 200,
            tol: 1e-6,
            tol_schedule: TolSchedule::Fixed,
            warm_start: true,
        },
        nys: NysOptions {
            rank: 10,
            variant: Default::default(),
        },
        rbcd: RbcdOptions {
            block_size: 3,
            threshold: 0.7,
            decay: 1.0,
            step0: 1.0,
            max_steps: 200,
            warm_start: true,
            blocks_per_pass: 1,
            true_loss: true,
            fused: false,
        },
        exact: ExactOptions { max_dim: 4000 },
        adam: AdamOptions {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            batch_size: 64,
            width: None,
        },
    }
}

/// The ADMM options and u-solver a section resolves to (panics for Adam, which has none).
fn admm_parts(cfg: &SolverSection) -> (AdmmOptions, admm::usolve::USolverSpec) {
    match cfg.resolve().method.algorithm() {
        Algorithm::Admm(opts, spec) => (opts, spec),
        Algorithm::Adam(_) => panic!("{} is not an ADMM method", cfg.name),
    }
}

/// The u-solver a section names, its random choices seeded by the run seed `seed`.
pub fn usolver<B: Backend>(cfg: &SolverSection, seed: u64) -> Box<dyn USolver<B>> {
    make_solver::<B>(&admm_parts(cfg).1, seed).expect("valid solver options")
}

/// ADMM with the section's options and stop rules.
pub fn solve_admm<B: Backend>(
    prob: &Problem<B>,
    cfg: &SolverSection,
    usolver: &mut dyn USolver<B>,
    observer: &mut dyn Observer,
) -> Result<admm::Outcome<B>, SolveError> {
    let (opts, _) = admm_parts(cfg);
    admm::solve(prob, &opts, &cfg.resolve().stop, usolver, observer)
}

/// Observer that keeps nothing.
pub struct Quiet;

impl Observer for Quiet {
    fn observe(&mut self, _: &IterRecord) {}
}

/// Runs `task` on every compiled backend whose device is present, so that on a GPU machine the
/// same check covers CUDA. Returns the backends it ran on.
pub fn on_every_backend<T>(task: T) -> Vec<admm_runner::backend::BackendKind>
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

/// A minimal .npy (v1.0, little-endian f64) writer for test inputs.
pub fn write_npy(path: &std::path::Path, shape: &[usize], data: &[f64]) {
    let dims: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
    let shape_txt = if shape.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// The admm-runner binary, isolated from the one environment override a developer's shell
/// might carry into these tests.
pub fn admm_runner() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_admm-runner"));
    c.env_remove("ADMM_SET_PROBLEM__BETA");
    c
}

/// Writes `body` as `dir/m.yaml` and returns its path.
pub fn write_manifest(dir: &std::path::Path, body: &str) -> PathBuf {
    let p = dir.join("m.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

/// The first run id `admm-runner plan` prints for the manifest `m`.
pub fn first_planned_id(m: &std::path::Path) -> String {
    let plan = admm_runner()
        .args(["plan", m.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&plan.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Reads `child`'s stderr (piped) up to its first heartbeat line (": iter "), so that a run
/// is known to be computing, sends it SIGINT, and returns every stderr line it wrote.
pub fn interrupt_after_first_heartbeat(child: &mut std::process::Child) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let beat = line.contains(": iter ");
        seen.push(line);
        if beat {
            break;
        }
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a child's pid and a valid signal number has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    seen.extend(lines.map_while(Result::ok));
    seen
}
