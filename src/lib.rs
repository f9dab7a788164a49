//! admm-runner: a declarative experiment runner for training two-layer ReLU networks through
//! their convex reformulation by ADMM (Feng, Shah, Abraham, "Scalable ADMM for Convex Neural
//! Networks").
//!
//! Data flows one way: `manifest` (YAML/TOML) -> planned runs -> `execute` -> `admm` or `mlp`
//! on a burn `Backend` -> `results` (Parquet) -> `plots`.
//!
//! Two halves with one typed seam: the engine (`data`, `problem`, `metrics`, `executor`,
//! `admm`, `mlp`, `network`, `betamax`, `backend`) takes its own option types and never reads
//! a manifest; the harness (`manifest`, `memory`, `execute`, `runner`, `path`, `model`,
//! `predict`, `show`, `submit`, `bench`, `regress`, `results`, `plots`) converts a manifest's
//! run into engine types once (`manifest::Method::engine`).

pub mod admm;
pub mod backend;
pub mod bench;
pub mod betamax;
pub mod cli;
pub mod conditioning;
pub mod data;
pub mod execute;
pub mod executor;
pub mod loss;
pub mod manifest;
pub mod memory;
pub mod metrics;
pub mod mlp;
pub mod model;
pub mod network;
pub mod path;
pub mod plots;
pub mod predict;
pub mod problem;
pub mod regress;
pub mod results;
pub mod runner;
pub mod shard;
pub mod show;
pub mod submit;
