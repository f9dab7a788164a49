//! admm-runner: a declarative experiment runner for training two-layer ReLU networks through
//! their convex reformulation by ADMM (Feng, Shah, Abraham, "Scalable ADMM for Convex Neural
//! Networks").
//!
//! Data flows one way: `manifest` (YAML/TOML) -> planned runs -> `runner` -> `admm` on a burn
//! `Backend` -> `results` (Parquet).

pub mod admm;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod conditioning;
pub mod data;
pub mod manifest;
pub mod metrics;
pub mod mlp;
pub mod plots;
pub mod problem;
pub mod regress;
pub mod results;
pub mod runner;
pub mod shard;
