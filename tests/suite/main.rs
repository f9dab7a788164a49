//! The single integration-test binary: every test module lives here.

mod admm;
mod cli;
mod common;
mod data;
mod manifest;
mod mlp;
mod model;
mod path;
mod plots;
mod problem;
mod regress;
mod results;
mod solvers;
mod store;
