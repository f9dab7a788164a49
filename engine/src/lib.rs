//! admm-engine: train a two-layer ReLU network through its exact convex reformulation
//! (Feng, Shah, Abraham, "Scalable ADMM for Convex Neural Networks"), or by Adam as the
//! non-convex baseline, generic over burn's `Backend`.
//!
//! From arrays to a model:
//! ```
//! use admm_engine::{admm, AdmmOptions, Dataset, Network, Problem, ProblemConfig, StopRules, USolverSpec};
//! type B = burn::backend::Flex;
//!
//! // Four points on a line, labelled by the sign of their coordinate.
//! let x = vec![-2.0, -1.0, 1.0, 2.0];
//! let y = vec![-1.0, -1.0, 1.0, 1.0];
//! let data = Dataset { n: 4, d: 1, x: x.clone(), y: y.clone(), n_test: 0, x_test: vec![], y_test: vec![], classes: 2 };
//! let cfg = ProblemConfig { patterns: 4, beta: 1e-3, ..ProblemConfig::default() };
//! let prob = Problem::<B>::new(&data, &cfg, 0, &Default::default())?;
//! let spec = USolverSpec::Cg(Default::default(), admm_engine::Precond::None);
//! let mut usolver = admm_engine::make_solver::<B>(&spec, 0)?;
//! let rules = StopRules { max_iters: 200, ..StopRules::default() };
//! let out = admm::solve(&prob, &AdmmOptions::default(), &rules, usolver.as_mut(), &mut ())?;
//! let net = Network::from_convex(&out.v, prob.c, cfg.loss, cfg.bias);
//! let scored = net.score::<B>(&x, &y, 4, &Default::default());
//! assert_eq!(scored.accuracy, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The pieces: `Problem` (patterns and the matrix-free operators), `Loss`, `admm::solve` with
//! `AdmmOptions` and one `USolver` per file under `admm::usolve`, the executor's `StopRules`
//! and `Observer`, the certificate, `beta_max`, and `adam` for the baseline. Every options
//! struct validates itself (`validate`, an `InvalidOption` naming the option), and `solve`
//! checks its options before any work.

pub mod adam;
pub mod admm;
pub mod betamax;
pub mod data;
mod error;
pub mod executor;
pub mod loss;
pub mod metrics;
pub mod problem;
pub mod tensor;

pub use adam::{AdamOptions, Network};
pub use admm::usolve::{make_solver, CgOptions, Precond, SolveError, USolver, USolverSpec};
pub use admm::{solve, AdmmOptions, Outcome, RhoRule};
pub use betamax::{beta_max, BetaMax};
pub use data::Dataset;
pub use error::InvalidOption;
pub use executor::{IterRecord, Observer, Stop, StopRules};
pub use loss::Loss;
pub use metrics::Metrics;
pub use problem::{Gates, Problem, ProblemConfig, ProblemError};
