//! admm-runner: a declarative experiment runner for training two-layer ReLU networks through
//! their convex reformulation by ADMM (Feng, Shah, Abraham, "Scalable ADMM for Convex Neural
//! Networks").
//!
//! Data flows one way: `manifest` (YAML/TOML) -> planned runs -> `run` -> the engine
//! (`admm_engine`: ADMM or Adam on a burn `Backend`) -> `results` (Parquet) -> `plots`.
//!
//! This crate is the runner: it reads manifests and data files, converts a manifest's run
//! into the engine's types once (`manifest::Method::algorithm`), and owns everything on disk.
//! The engine never reads a file.
//!
//! - `manifest`: schema, the method table, loading, sweep expansion and run ids
//! - `data`: CIFAR-10, `.npy` and the synthetic teacher into a `Dataset`; preprocessing
//! - `backend`: the one place that names concrete burn backends
//! - `run`: one run, a sweep, paths, memory, models, shards
//! - `commands`: show, submit, predict, bench, condition
//! - `results`, `plots`, `regress`: Parquet, figures and tables, the CI regression suite

pub mod backend;
pub mod commands;
pub mod data;
pub mod manifest;
pub mod plots;
pub mod regress;
pub mod results;
pub mod run;
