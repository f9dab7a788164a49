//! The single integration-test binary: every test module lives here.

mod admm;
mod certificate;
mod cli;
mod cmdline;
mod common;
mod data;
mod finish;
mod fuzz;
mod losses;
mod manifest;
mod memory;
mod mlp;
mod model;
mod path;
mod plot_groups;
mod plots;
mod problem;
mod provenance;
mod rbcd_fused;
mod regress;
mod results;
mod settings;
mod show;
mod solvers;
mod store;
mod submit;
