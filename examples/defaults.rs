//! How the ADMM defaults were chosen (issue 19): iterations to a certified relative gap of
//! 1e-4 for candidate settings (rho rule, over-relaxation alpha, Anderson memory), across beta
//! 1e-4..1e-1, n 200..10000 and the features scaled by 1e-2, 1 and 1e2, every candidate started
//! from rho = 0.01 (today's default) with no per-problem tuning. The u-step is exact, so the
//! counts measure ADMM alone; synthetic data (a ReLU teacher, d = 10, P = 8) keeps each run
//! small. Prints a Markdown table (BENCHMARKS.md, "ADMM defaults").
//!
//!   cargo run --example defaults                 # the full grid (a few minutes on 2 cores)
//!   cargo run --example defaults -- 1000 200     # at most 1000 iterations, n = 200 only

use admm_engine::admm::usolve::{make_solver, ExactOptions, USolverSpec};
use admm_engine::admm::{self, AdmmOptions, RhoRule};
use admm_engine::executor::{Stop, StopRules};
use admm_engine::problem::{Problem, ProblemConfig};
use admm_runner::data::Dataset;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

type Cpu = burn::backend::Flex;

const GAP: f64 = 1e-4;
const D: usize = 10;
const P: usize = 8;

/// n samples of N(0, 1) features (times `scale`) labelled by the sign of a random 3-unit ReLU
/// teacher, 5% flipped.
fn data(n: usize, scale: f64, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut g = || -> f64 { StandardNormal.sample(&mut rng) };
    let teacher: Vec<f64> = (0..3 * D).map(|_| g()).collect();
    let mut x = Vec::with_capacity(n * D);
    let mut y = Vec::with_capacity(n);
    for k in 0..n {
        let row: Vec<f64> = (0..D).map(|_| g()).collect();
        let out: f64 = (0..3)
            .map(|h| {
                (0..D)
                    .map(|a| row[a] * teacher[h * D + a])
                    .sum::<f64>()
                    .max(0.0)
            })
            .sum::<f64>()
            - 1.0;
        let flip = if k % 20 == 0 { -1.0 } else { 1.0 };
        y.push((out.signum() * flip) as f32);
        x.extend(row.iter().map(|v| (v * scale) as f32));
    }
    Dataset {
        n,
        d: D,
        x,
        y,
        n_test: 0,
        x_test: vec![],
        y_test: vec![],
        classes: 2,
    }
}

/// Iterations to the gap (None: not within `max_iters`) and the rho changes made.
fn iterations(prob: &Problem<Cpu>, opts: AdmmOptions, max_iters: usize) -> (Option<usize>, usize) {
    let spec = USolverSpec::Exact(ExactOptions { max_dim: 4000 });
    let mut solver = make_solver::<Cpu>(&spec, 0).expect("valid options");
    let rules = StopRules {
        max_iters,
        ..StopRules::default()
    };
    let out = admm::solve(prob, &opts, &rules, solver.as_mut(), &mut ()).expect("solves");
    let changes = out.last.map_or(0, |r| r.rho_changes);
    (
        (out.stop == Stop::GapReached).then_some(out.iterations),
        changes,
    )
}

/// The candidates: (label, rule, alpha, Anderson memory).
const CANDIDATES: [(&str, RhoRule, f64, usize); 6] = [
    ("fixed, a=1 (today)", RhoRule::Fixed, 1.0, 0),
    ("balance, a=1", RhoRule::Balance, 1.0, 0),
    ("balance, a=1.6", RhoRule::Balance, 1.6, 0),
    ("spectral, a=1.6", RhoRule::Spectral, 1.6, 0),
    ("balance, a=1.6, AA5", RhoRule::Balance, 1.6, 5),
    ("spectral, a=1.6, AA5", RhoRule::Spectral, 1.6, 5),
];

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let max_iters = args.first().copied().unwrap_or(2000);
    let ns: Vec<usize> = match args.get(1) {
        Some(&n) => vec![n],
        None => vec![200, 10000],
    };
    let mut head = "| beta | n | scale |".to_string();
    for (label, ..) in CANDIDATES {
        head.push_str(&format!(" {label} |"));
    }
    println!("{head}\n|{}", "---|".repeat(3 + CANDIDATES.len()));
    let mut solved = [0usize; CANDIDATES.len()];
    let mut total = [0usize; CANDIDATES.len()];
    for beta in [1e-4, 1e-3, 1e-2, 1e-1] {
        for &n in &ns {
            for scale in [1e-2, 1.0, 1e2] {
                let cfg = ProblemConfig {
                    patterns: P,
                    beta,
                    loss: Default::default(),
                    bias: true,
                    gates: None,
                };
                let prob = Problem::<Cpu>::new(&data(n, scale, 7), &cfg, 0, &Default::default())
                    .expect("problem");
                let mut line = format!("| {beta:e} | {n} | {scale:e} |");
                for (i, &(_, rule, alpha, anderson)) in CANDIDATES.iter().enumerate() {
                    let opts = AdmmOptions {
                        rho: 0.01,
                        tol_abs: 0.0,
                        tol_rel: 0.0,
                        tol_gap: GAP,
                        rho_rule: rule,
                        alpha,
                        anderson,
                        ..AdmmOptions::default()
                    };
                    let (iters, changes) = iterations(&prob, opts, max_iters);
                    total[i] += iters.unwrap_or(max_iters);
                    solved[i] += usize::from(iters.is_some());
                    line.push_str(&match iters {
                        Some(k) => format!(" {k} ({changes}) |"),
                        None => format!(" >{max_iters} ({changes}) |"),
                    });
                }
                println!("{line}");
            }
        }
    }
    let mut foot = "| reached | | |".to_string();
    for s in solved {
        foot.push_str(&format!(" {s} |"));
    }
    let mut sum = "| total iterations | | |".to_string();
    for t in total {
        sum.push_str(&format!(" {t} |"));
    }
    println!("{foot}\n{sum}");
}
