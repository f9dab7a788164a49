//! The baseline file (tests/baselines/ci.json): its layout, reading and writing it, and the
//! provenance it records (build profile, worker threads, clock, commit, host), so that timings
//! are only compared between measurements taken under the same conditions.

use super::clock::contention_clock_available;
use super::error::RegressError;
use super::Options;
use crate::results;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

/// Version of the baseline file layout.
pub const BASELINE_FORMAT: u32 = 1;

/// One run's baseline (or current) figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The run id (with the configuration hash) this entry was measured with.
    pub run_id: String,
    /// ok | failed.
    pub status: String,
    /// Why the run failed, to show in the report (absent for a run that succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Final train accuracy: may drop by at most `Tolerances::train_acc`.
    pub train_acc: Option<f64>,
    /// Final test accuracy: may drop by at most `Tolerances::test_acc`.
    pub test_acc: Option<f64>,
    /// Final objective: may rise by at most `Tolerances::objective_rel`.
    pub objective: Option<f64>,
    /// First iteration (epoch for Adam) at which the target train accuracy was reached.
    pub target_iter: Option<u64>,
    /// Iterations the run took: informative only.
    pub iterations: Option<u64>,
    /// Algorithm seconds (precompute + u + v + dual), best of the repetitions: informative only.
    pub solve_s: Option<f64>,
    /// Seconds of one calibration GEMM pair, best of the blocks: informative only.
    pub calib_s: Option<f64>,
    /// The compared timing figure: the lowest solve / calibration ratio of the repetitions.
    pub time_ratio: Option<f64>,
}

/// The baseline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// `BASELINE_FORMAT` when written: another layout is refused rather than misread.
    pub format: u32,
    /// How to regenerate it.
    pub note: String,
    /// The manifest(s) the suite was planned from.
    pub manifest: String,
    /// The admm-runner version that wrote it.
    pub version: String,
    /// The commit it was measured at ("unknown" outside a git checkout).
    pub git_commit: String,
    /// The machine it was measured on.
    pub host: String,
    /// dev | release: timings are only compared between builds of the same profile.
    pub profile: String,
    /// Worker threads the timings ran with (RAYON_NUM_THREADS): timings are only compared
    /// between measurements with the same count.
    pub threads: usize,
    /// How time was read: "wall-minus-runqueue-wait" or "wall".
    #[serde(default)]
    pub clock: String,
    /// Timed repetitions per run.
    pub reps: usize,
    /// The runs' figures by regression key (`regress::key`).
    pub runs: BTreeMap<String, Entry>,
}

impl Baseline {
    /// A baseline of `runs` measured now, with this process's provenance.
    pub(super) fn new(opts: &Options, runs: BTreeMap<String, Entry>) -> Self {
        let provenance = crate::run::single::Provenance::detect();
        Baseline {
            format: BASELINE_FORMAT,
            note: format!(
                "written by `admm-runner regress {} --baseline {} --update`; \
                 time_ratio = best solve seconds / calibration GEMM-pair seconds measured right after it (see src/regress.rs)",
                opts.manifest,
                opts.baseline.display()
            ),
            manifest: opts.manifest.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: provenance.commit,
            host: provenance.host,
            profile: profile().into(),
            threads: threads(),
            clock: clock_name().into(),
            reps: opts.reps,
            runs,
        }
    }
}

/// The largest baseline file read (ours are a few kilobytes).
const MAX_BASELINE_BYTES: u64 = 16 << 20;

/// Reads a baseline file; `Ok(None)` when it does not exist. A regular file of at most
/// `MAX_BASELINE_BYTES` only (`safe::read_regular`): `--baseline /dev/zero` or a FIFO is an
/// error, not a read that never ends.
pub fn load_baseline(path: &Path) -> Result<Option<Baseline>, RegressError> {
    let read = crate::results::safe::read_regular(path, MAX_BASELINE_BYTES);
    let bytes = match read {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(reason) => {
            return Err(RegressError::Read {
                path: path.into(),
                reason,
            })
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| RegressError::Parse {
        path: path.into(),
        reason: "not UTF-8 text".into(),
    })?;
    let b: Baseline = serde_json::from_str(&text).map_err(|e| RegressError::Parse {
        path: path.into(),
        reason: e.to_string(),
    })?;
    if b.format != BASELINE_FORMAT {
        return Err(RegressError::Format {
            path: path.into(),
            found: b.format,
        });
    }
    Ok(Some(b))
}

/// Writes a baseline file atomically and durably (`results::write_atomically`: a synced
/// temporary file, then rename), so that a crash never leaves a truncated baseline behind.
pub fn save_baseline(path: &Path, b: &Baseline) -> Result<(), RegressError> {
    let fail = |e: &dyn std::fmt::Display| RegressError::Write {
        path: path.into(),
        reason: e.to_string(),
    };
    let mut text = serde_json::to_string_pretty(b).map_err(|e| fail(&e))?;
    text.push('\n');
    results::write_atomically(path, |file| {
        file.write_all(text.as_bytes()).map_err(|e| e.to_string())
    })
    .map_err(|e| fail(&e))
}

/// The build profile: timings of a dev build and a release build are not comparable.
pub(super) fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    }
}

/// The worker threads burn's and faer's parallel sections use.
pub(super) fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How times are read here, recorded so that a reader knows whether contention was removed.
fn clock_name() -> &'static str {
    if contention_clock_available() {
        "wall-minus-runqueue-wait"
    } else {
        "wall"
    }
}
