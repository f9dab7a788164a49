//! `admm-runner regress`: runs a regression suite (experiments/ci.yaml) and compares it with
//! committed baselines (tests/baselines/ci.json), so that a change that makes a solver less
//! accurate or slower turns CI red, and a change that moves a number on purpose is accepted
//! with `--update`.
//!
//! Per run it compares
//! - final train and test accuracy: may drop by at most an absolute tolerance;
//! - final objective: may rise by at most a relative tolerance;
//! - iterations to the target train accuracy: may grow by at most max(2, 20%); a target
//!   reached in the baseline must still be reached;
//! - a timing figure: the run's algorithm seconds (`solve_s`) divided by a calibration kernel
//!   timed in the same process right after it (best of several blocks): the run's own GEMM
//!   shapes, X (n x d) times a d x 2P matrix and X^T times the result, on the run's backend;
//!   the best (lowest) of k repetitions counts. Times exclude what the thread spent waiting
//!   for a CPU (see `Clock`), and run with one worker thread. Absolute seconds are never
//!   compared. A run is flagged only beyond a generous factor, after being measured again
//!   (3x by default: single runs of this suite spread x0.55-x1.95 on a shared 2-core machine,
//!   README "Regression (CI)"); the suite is flagged when the geometric mean of its runs'
//!   factors passes 1.5x, a limit the averaging makes safe.
//!
//! Runs are keyed by `<data source>/<solver>-<backend>-s<seed>`, without the configuration
//! hash of the run id, so that `--set` perturbations still meet their baseline; the baseline
//! keeps the run id too, and a different id is reported as a changed configuration.
//!
//! The runs go through `execute::Session::execute`, as `admm-runner run` does, so what is
//! measured is exactly what `run` does (without writing the files).
//!
//! Layout: `baseline` (the file and its provenance), `compare` (tolerances, verdicts, rows,
//! the report), `measure` (running and timing one run), `error` (why a suite cannot run);
//! this file orchestrates them.

mod baseline;
mod clock;
mod compare;
mod error;
mod measure;

pub use baseline::{load_baseline, save_baseline, Baseline, Entry, BASELINE_FORMAT};
pub use clock::contention_clock_available;
pub use compare::{suite_time, Report, Row, Tolerances, Verdict, SUITE_MIN_RUNS};
pub use error::RegressError;

use crate::manifest::PlannedRun;
use crate::run::single::Session;
use baseline::{profile, threads};
use compare::{compare, time_factor};
use measure::{measure, Exec, Measured};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Extra measurements of a run whose time is over the limit.
const RETRIES: usize = 2;

/// What `regress` should do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The baseline file to compare with (or to write with `update`).
    pub baseline: PathBuf,
    /// Rewrite the baseline file with this measurement instead of failing on differences.
    pub update: bool,
    /// Timed repetitions of every run (the best is kept).
    pub reps: usize,
    /// How far each metric may move for the worse.
    pub tolerances: Tolerances,
    /// Whether the selection is the whole suite (no --only or --shard): only then is a baseline
    /// entry without a run an error, and `--update` drops entries it did not measure.
    pub complete: bool,
    /// The manifest(s), recorded in the baseline file.
    pub manifest: String,
    /// A delay added to every u-step (a wrapped, slower u-solver): None in normal use; tests
    /// set it to show that the time check catches a slowdown.
    pub u_step_delay: Option<std::time::Duration>,
}

/// The baseline key of a run: data source, solver, backend and seed (no configuration hash).
pub fn key(run: &PlannedRun) -> String {
    let c = &run.config;
    let source = serde_json::to_value(c.data.source)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "data".into());
    format!(
        "{source}/{}-{}-s{}",
        c.solver.method.kind(),
        c.backend,
        c.seed
    )
}

/// Keeps the runs whose plan line or key contains `only`; fails when two runs share a key.
pub fn select(runs: Vec<PlannedRun>, only: &[String]) -> Result<Vec<PlannedRun>, RegressError> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for r in &runs {
        if let Some(first) = seen.insert(key(r), r.id.clone()) {
            return Err(RegressError::SharedKey {
                first,
                second: r.id.clone(),
                key: key(r),
            });
        }
    }
    Ok(runs
        .into_iter()
        .filter(|r| {
            only.iter().all(|t| {
                crate::run::shard::run_matches(r, std::slice::from_ref(t))
                    || key(r).starts_with(t.as_str())
            })
        })
        .collect())
}

/// Runs the suite, compares it with the baseline (or rewrites the baseline with `update`).
/// `progress` receives one line per measured run.
pub fn run(
    runs: &[PlannedRun],
    opts: &Options,
    mut progress: impl FnMut(&str),
) -> Result<Report, RegressError> {
    let old = load_baseline(&opts.baseline)?;
    validate(opts, old.is_some())?;
    let mut report = Report::default();
    let time_comparable = timings_comparable(old.as_ref(), &mut report.notes);
    let mut attempt = Attempt {
        opts,
        time_comparable,
        exec: Exec {
            session: Session::new(),
            u_step_delay: opts.u_step_delay,
        },
    };
    let mut measured = BTreeMap::new();
    // now / baseline time ratio of every timed run, for the suite-wide check.
    let mut factors = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let k = key(run);
        let base = old.as_ref().and_then(|b| b.runs.get(&k));
        let m = attempt.measure_with_retries(run, &k, base, &mut progress)?;
        progress(&format!("[{}/{}] {k}: {}", i + 1, runs.len(), m.describe()));
        note_run(&mut report.notes, &k, run, base, &m);
        report.rows.extend(compare(
            &k,
            base,
            &m.entry,
            &opts.tolerances,
            time_comparable,
        ));
        factors.extend(time_factor(base, &m.entry, time_comparable));
        measured.insert(k, m.entry);
    }
    report.rows.extend(suite_time(&factors, &opts.tolerances));
    if opts.complete {
        report.rows.extend(missing_rows(old.as_ref(), &measured));
    }
    if opts.update {
        write_update(opts, old, measured)?;
        report.written = Some(opts.baseline.clone());
    }
    Ok(report)
}

/// Refuses options that cannot give a meaningful comparison before anything is measured,
/// since measuring the suite takes minutes.
fn validate(opts: &Options, have_baseline: bool) -> Result<(), RegressError> {
    if !have_baseline && !opts.update {
        return Err(RegressError::NoBaseline {
            path: opts.baseline.clone(),
        });
    }
    if opts.reps < 1 {
        return Err(RegressError::Flag {
            flag: "--reps",
            need: "at least 1",
            got: opts.reps.to_string(),
        });
    }
    let factors = [
        ("--time-factor", opts.tolerances.time_factor),
        ("--suite-time-factor", opts.tolerances.suite_time_factor),
    ];
    for (flag, factor) in factors {
        // NaN is refused too: it would make every comparison pass.
        if factor.is_nan() || factor <= 1.0 {
            return Err(RegressError::Flag {
                flag,
                need: "above 1",
                got: factor.to_string(),
            });
        }
    }
    Ok(())
}

/// Whether the baseline's timings can be compared with this process's: only from a build of
/// the same profile with the same worker threads. If not, says why in `notes`, so that a
/// skipped time row is explained.
fn timings_comparable(old: Option<&Baseline>, notes: &mut Vec<String>) -> bool {
    let comparable = old.is_some_and(|b| b.profile == profile() && b.threads == threads());
    if let Some(b) = old.filter(|_| !comparable) {
        notes.push(format!(
            "timings not compared: the baseline was timed by a {} build with {} worker thread(s), \
             this is a {} build with {}",
            b.profile,
            b.threads,
            profile(),
            threads()
        ));
    }
    comparable
}

/// What measuring one run needs besides the run: the same for every run of the suite.
struct Attempt<'a> {
    /// Repetitions, tolerances, and whether this is an update.
    opts: &'a Options,
    /// Whether the baseline's timings compare with this process's (`timings_comparable`).
    time_comparable: bool,
    /// How the runs are executed.
    exec: Exec,
}

impl Attempt<'_> {
    /// Measures `run`, and measures it again (up to `RETRIES` times) while its time is over
    /// the limit: on a shared machine a slowdown is believed only after being measured
    /// again, and the best of every attempt counts. An update takes the first measurement.
    fn measure_with_retries(
        &mut self,
        run: &PlannedRun,
        k: &str,
        base: Option<&Entry>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Measured, RegressError> {
        let mut m = measure(run, self.opts.reps, &mut self.exec)?;
        for attempt in 1..=RETRIES {
            let slow = match (base.and_then(|b| b.time_ratio), m.entry.time_ratio) {
                (Some(b), Some(now)) => {
                    self.time_comparable && now > b * self.opts.tolerances.time_factor
                }
                _ => false,
            };
            if !slow || self.opts.update {
                break;
            }
            progress(&format!(
                "{k}: time x{:.2} over the limit, measuring again ({attempt}/{RETRIES})",
                m.entry.time_ratio.unwrap_or(f64::NAN)
                    / base.and_then(|b| b.time_ratio).unwrap_or(f64::NAN)
            ));
            m.merge_timing(measure(run, self.opts.reps, &mut self.exec)?);
        }
        Ok(m)
    }
}

/// The notes on one measured run: repetitions that disagree (a nondeterministic solver makes
/// every tolerance meaningless) and a configuration that differs from the baseline's (the
/// numbers may then differ on purpose).
fn note_run(
    notes: &mut Vec<String>,
    k: &str,
    run: &PlannedRun,
    base: Option<&Entry>,
    m: &Measured,
) {
    if let Some(spread) = m.rep_spread.filter(|&s| s > 0.0) {
        notes.push(format!(
            "{k}: repetitions disagree (largest relative difference {spread:.2e}): not deterministic"
        ));
    }
    if let Some(b) = base.filter(|b| b.run_id != run.id) {
        notes.push(format!(
            "{k}: configuration differs from the baseline's (run id {} there, {} now)",
            b.run_id, run.id
        ));
    }
}

/// A row per baseline entry whose run was not measured: with the whole suite selected, a run
/// removed from the suite must also be removed from the baseline (--update).
fn missing_rows(old: Option<&Baseline>, measured: &BTreeMap<String, Entry>) -> Vec<Row> {
    let Some(b) = old else {
        return Vec::new();
    };
    b.runs
        .keys()
        .filter(|k| !measured.contains_key(*k))
        .map(|k| Row {
            key: k.clone(),
            metric: "run",
            baseline: "present".into(),
            now: "absent".into(),
            delta: "-".into(),
            limit: "in the suite".into(),
            verdict: Verdict::Missing,
        })
        .collect()
}

/// Writes the baseline with this measurement. A partial selection (--only, --shard) keeps the
/// entries it did not measure; the whole suite replaces them all, which drops removed runs.
fn write_update(
    opts: &Options,
    old: Option<Baseline>,
    measured: BTreeMap<String, Entry>,
) -> Result<(), RegressError> {
    let mut runs = match (old, opts.complete) {
        (Some(b), false) => b.runs,
        _ => BTreeMap::new(),
    };
    runs.extend(measured);
    save_baseline(&opts.baseline, &Baseline::new(opts, runs))
}
