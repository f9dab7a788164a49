//! Why a regression suite could not run: the typed error of `regress`.

use super::baseline::BASELINE_FORMAT;
use std::path::PathBuf;

/// Why a regression suite could not be measured or compared: a baseline file that cannot be
/// read or written, options that cannot give a meaningful comparison, or a suite whose runs
/// cannot be told apart.
#[derive(Debug, thiserror::Error)]
pub enum RegressError {
    // The reason is in the message and is not a `source` as well: printed with its chain
    // (`{:#}`, as `main` does) it would appear twice.
    #[error("{path}: cannot read the baseline: {reason}")]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{path}: not a regress baseline file: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error(
        "{path}: baseline format {found} (this admm-runner reads {BASELINE_FORMAT}): rewrite it \
         with --update"
    )]
    Format { path: PathBuf, found: u32 },
    #[error("{path}: cannot write the baseline: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{path}: no such baseline file: create it with --update")]
    NoBaseline { path: PathBuf },
    #[error("{flag} must be {need}, got {got}")]
    Flag {
        flag: &'static str,
        need: &'static str,
        got: String,
    },
    #[error(
        "runs {first} and {second} share the regression key {key}: a suite's runs must differ in \
         data source, solver, backend or seed"
    )]
    SharedKey {
        first: String,
        second: String,
        key: String,
    },
    #[error("{run}: no repetition ran")]
    NoRepetition { run: String },
}
