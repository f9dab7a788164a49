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
//! The runs go through the normal runner (`runner::run_sweep`) into a temporary directory, so
//! what is measured is exactly what `admm-runner run` does.

use crate::backend::{self, BackendTask};
use crate::manifest::{BackendKind, PlannedRun};
use crate::problem::scalar;
use crate::results::{self, RunPaths};
use crate::runner::{self, RunOptions};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Version of the baseline file layout.
pub const BASELINE_FORMAT: u32 = 1;

/// How far a metric may move for the worse before it counts as a regression.
///
/// Chosen from measured spread (README, "Regression (CI)"): on one machine repeated runs are
/// bit-identical, so the tolerances only need to absorb floating-point differences between
/// machines and builds. They sit at or below the seed-to-seed spread of the suite's runs
/// (seeds 0-4, standard deviation: train accuracy 0-0.006, test accuracy 0.003-0.04,
/// objective 3.8%-90%): a change that moves a number by this much is visible, and only one
/// that reseeding could also explain would need a closer look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Largest allowed drop of the final train accuracy (absolute).
    pub train_acc: f64,
    /// Largest allowed drop of the final test accuracy (absolute).
    pub test_acc: f64,
    /// Largest allowed rise of the final objective, relative to the baseline.
    pub objective_rel: f64,
    /// Extra iterations to the target allowed: max(`target_iters_abs`, `target_iters_rel` x baseline).
    pub target_iters_abs: usize,
    pub target_iters_rel: f64,
    /// One run's normalized time above baseline x this factor is a slowdown.
    pub time_factor: f64,
    /// The geometric mean of the runs' time factors above this is a slowdown of the suite
    /// (checked when at least `SUITE_MIN_RUNS` runs are timed): noise of single runs averages
    /// out in it, so it can be much tighter than `time_factor`.
    pub suite_time_factor: f64,
}

/// Timed runs needed for the suite-wide time check: over fewer, a mean is as noisy as one run.
pub const SUITE_MIN_RUNS: usize = 4;

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            train_acc: 0.01,
            test_acc: 0.02,
            objective_rel: 0.02,
            target_iters_abs: 2,
            target_iters_rel: 0.2,
            time_factor: 3.0,
            suite_time_factor: 1.5,
        }
    }
}

impl Tolerances {
    fn extra_iters(&self, base: u64) -> u64 {
        (self.target_iters_abs as u64).max((self.target_iters_rel * base as f64).ceil() as u64)
    }
}

/// What `regress` should do.
#[derive(Debug, Clone)]
pub struct Options {
    pub baseline: PathBuf,
    /// Rewrite the baseline file with this measurement instead of failing on differences.
    pub update: bool,
    /// Timed repetitions of every run (the best is kept).
    pub reps: usize,
    pub tolerances: Tolerances,
    /// Whether the selection is the whole suite (no --only or --shard): only then is a baseline
    /// entry without a run an error, and `--update` drops entries it did not measure.
    pub complete: bool,
    /// The manifest(s), recorded in the baseline file.
    pub manifest: String,
}

/// One run's baseline (or current) figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The run id (with the configuration hash) this entry was measured with.
    pub run_id: String,
    /// ok | failed.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub train_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub objective: Option<f64>,
    /// First iteration (epoch for Adam) at which the target train accuracy was reached.
    pub target_iter: Option<u64>,
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
    pub format: u32,
    /// How to regenerate it.
    pub note: String,
    pub manifest: String,
    pub version: String,
    pub git_commit: String,
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
    pub runs: BTreeMap<String, Entry>,
}

impl Baseline {
    fn new(opts: &Options, runs: BTreeMap<String, Entry>) -> Self {
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
            git_commit: git_commit(),
            host: hostname(),
            profile: profile().into(),
            threads: threads(),
            clock: clock_name().into(),
            reps: opts.reps,
            runs,
        }
    }
}

/// The verdict of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Better than the baseline beyond the tolerance (consider --update).
    Better,
    Faster,
    /// Not compared (e.g. both values absent, or timings from another build profile).
    Skipped,
    Worse,
    Slower,
    /// The run failed.
    Failed,
    /// No baseline entry for this run.
    New,
    /// A baseline entry whose run is no longer in the suite.
    Missing,
}

impl Verdict {
    pub fn is_regression(self) -> bool {
        matches!(
            self,
            Verdict::Worse | Verdict::Slower | Verdict::Failed | Verdict::New | Verdict::Missing
        )
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Better => "better",
            Verdict::Faster => "faster",
            Verdict::Skipped => "skipped",
            Verdict::Worse => "WORSE",
            Verdict::Slower => "SLOWER",
            Verdict::Failed => "FAILED",
            Verdict::New => "NEW",
            Verdict::Missing => "MISSING",
        }
    }
}

/// One line of the report: a metric of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub metric: &'static str,
    pub baseline: String,
    pub now: String,
    pub delta: String,
    /// The allowed change, e.g. ">= -0.0100".
    pub limit: String,
    pub verdict: Verdict,
}

/// Everything one `regress` invocation found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Remarks (changed configurations, skipped timings, nondeterministic repetitions).
    pub notes: Vec<String>,
    /// The file written with --update (the rows then compare with the replaced baseline and
    /// fail nothing).
    pub written: Option<PathBuf>,
}

impl Report {
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict.is_regression())
            .collect()
    }

    /// The table: run, metric, baseline, now, delta, limit, verdict; then notes and a summary.
    pub fn table(&self) -> String {
        let head = [
            "run", "metric", "baseline", "now", "delta", "limit", "verdict",
        ];
        let cells: Vec<[&str; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.key.as_str(),
                    r.metric,
                    &r.baseline,
                    &r.now,
                    &r.delta,
                    &r.limit,
                    r.verdict.label(),
                ]
            })
            .collect();
        let mut width = head.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
        let mut s = String::new();
        let line = |s: &mut String, row: &[&str; 7]| {
            let _ = writeln!(
                s,
                "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {:<w5$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3],
                w4 = width[4],
                w5 = width[5],
            );
        };
        line(&mut s, &head);
        for row in &cells {
            line(&mut s, row);
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// One line per regression, for the end of the output.
    pub fn summary(&self) -> String {
        let bad = self.regressions();
        if let Some(file) = &self.written {
            return format!(
                "regress --update: {} written; {} of {} checks differed from the replaced baseline",
                file.display(),
                bad.len(),
                self.rows.len()
            );
        }
        if bad.is_empty() {
            return format!("regress: {} checks, no regression", self.rows.len());
        }
        let mut s = format!(
            "regress: {} of {} checks REGRESSED:\n",
            bad.len(),
            self.rows.len()
        );
        for r in bad {
            let _ = writeln!(
                s,
                "  {} {}: {} (baseline {}, now {}, limit {})",
                r.key,
                r.metric,
                r.verdict.label(),
                r.baseline,
                r.now,
                r.limit
            );
        }
        s
    }
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
pub fn select(runs: Vec<PlannedRun>, only: Option<&str>) -> anyhow::Result<Vec<PlannedRun>> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for r in &runs {
        if let Some(other) = seen.insert(key(r), r.id.clone()) {
            anyhow::bail!(
                "runs {other} and {} share the regression key {}: a suite's runs must differ in \
                 data source, solver, backend or seed",
                r.id,
                key(r)
            );
        }
    }
    Ok(runs
        .into_iter()
        .filter(|r| only.is_none_or(|t| r.describe().contains(t) || key(r).contains(t)))
        .collect())
}

/// Reads a baseline file; `Ok(None)` when it does not exist.
pub fn load_baseline(path: &Path) -> anyhow::Result<Option<Baseline>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("{}: cannot read the baseline: {e}", path.display()),
    };
    let b: Baseline = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a regress baseline file: {e}", path.display()))?;
    anyhow::ensure!(
        b.format == BASELINE_FORMAT,
        "{}: baseline format {} (this admm-runner reads {BASELINE_FORMAT}): rewrite it with --update",
        path.display(),
        b.format
    );
    Ok(Some(b))
}

/// Writes a baseline file atomically (temporary file, then rename).
pub fn save_baseline(path: &Path, b: &Baseline) -> anyhow::Result<()> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = serde_json::to_string_pretty(b).map_err(std::io::Error::other)?;
        text.push('\n');
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| anyhow::anyhow!("{}: cannot write the baseline: {e}", path.display()))
}

/// Runs the suite, compares it with the baseline (or rewrites the baseline with `update`).
/// `progress` receives one line per measured run.
pub fn run(
    runs: &[PlannedRun],
    opts: &Options,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Report> {
    let old = load_baseline(&opts.baseline)?;
    if old.is_none() && !opts.update {
        anyhow::bail!(
            "{}: no such baseline file: create it with --update",
            opts.baseline.display()
        );
    }
    anyhow::ensure!(opts.reps >= 1, "--reps must be at least 1");
    anyhow::ensure!(
        opts.tolerances.time_factor > 1.0,
        "--time-factor must be above 1, got {}",
        opts.tolerances.time_factor
    );
    anyhow::ensure!(
        opts.tolerances.suite_time_factor > 1.0,
        "--suite-time-factor must be above 1, got {}",
        opts.tolerances.suite_time_factor
    );
    let scratch = Scratch::new()?;
    let mut report = Report::default();
    let time_comparable = old
        .as_ref()
        .is_some_and(|b| b.profile == profile() && b.threads == threads());
    if let Some(b) = old.as_ref().filter(|_| !time_comparable) {
        report.notes.push(format!(
            "timings not compared: the baseline was timed by a {} build with {} worker thread(s), \
             this is a {} build with {}",
            b.profile,
            b.threads,
            profile(),
            threads()
        ));
    }
    let mut measured = BTreeMap::new();
    // now / baseline time ratio of every timed run, for the suite-wide check.
    let mut factors = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let k = key(run);
        let base = old.as_ref().and_then(|b| b.runs.get(&k));
        let mut m = measure(run, opts.reps, scratch.path())?;
        // A slowdown is measured again before it is believed: the best of every attempt counts.
        for attempt in 1..=RETRIES {
            let slow = match (base.and_then(|b| b.time_ratio), m.entry.time_ratio) {
                (Some(b), Some(now)) => time_comparable && now > b * opts.tolerances.time_factor,
                _ => false,
            };
            if !slow || opts.update {
                break;
            }
            progress(&format!(
                "{k}: time x{:.2} over the limit, measuring again ({attempt}/{RETRIES})",
                m.entry.time_ratio.unwrap_or(f64::NAN)
                    / base.and_then(|b| b.time_ratio).unwrap_or(f64::NAN)
            ));
            m.merge_timing(measure(run, opts.reps, scratch.path())?);
        }
        progress(&format!("[{}/{}] {k}: {}", i + 1, runs.len(), m.describe()));
        if let Some(spread) = m.rep_spread.filter(|&s| s > 0.0) {
            report.notes.push(format!(
                "{k}: repetitions disagree (largest relative difference {spread:.2e}): not deterministic"
            ));
        }
        if let Some(b) = base.filter(|b| b.run_id != run.id) {
            report.notes.push(format!(
                "{k}: configuration differs from the baseline's (run id {} there, {} now)",
                b.run_id, run.id
            ));
        }
        report.rows.extend(compare(
            &k,
            base,
            &m.entry,
            &opts.tolerances,
            time_comparable,
        ));
        if let (Some(b), Some(now)) = (base.and_then(|b| b.time_ratio), m.entry.time_ratio) {
            if time_comparable && b > 0.0 {
                factors.push(now / b);
            }
        }
        measured.insert(k, m.entry);
    }
    report.rows.extend(suite_time(&factors, &opts.tolerances));
    if let Some(b) = &old {
        for k in b.runs.keys().filter(|k| !measured.contains_key(*k)) {
            if opts.complete {
                report.rows.push(Row {
                    key: k.clone(),
                    metric: "run",
                    baseline: "present".into(),
                    now: "absent".into(),
                    delta: "-".into(),
                    limit: "in the suite".into(),
                    verdict: Verdict::Missing,
                });
            }
        }
    }
    if opts.update {
        let mut runs = match (&old, opts.complete) {
            (Some(b), false) => b.runs.clone(),
            _ => BTreeMap::new(),
        };
        runs.extend(measured);
        save_baseline(&opts.baseline, &Baseline::new(opts, runs))?;
        report.written = Some(opts.baseline.clone());
    }
    Ok(report)
}

/// Wall-clock time less the time the timing thread spent runnable but waiting for a CPU
/// (Linux `/proc/thread-self/schedstat`, second field): what other processes on a shared
/// machine take away is not counted, while time the code itself waits or sleeps still is.
/// Where schedstat cannot be read it is plain wall-clock time.
struct Clock {
    start: Instant,
    waited_ns: Option<u64>,
}

impl Clock {
    // The clock is read outside the wait counter at both ends, so that a preemption between
    // the two reads can only count as time on the CPU, never make the result negative.
    fn start() -> Self {
        let start = Instant::now();
        Clock {
            waited_ns: runqueue_wait_ns(),
            start,
        }
    }

    /// Seconds since `start` not spent waiting for a CPU.
    fn on_cpu(&self) -> f64 {
        let now = runqueue_wait_ns();
        let wall = self.start.elapsed().as_secs_f64();
        let waited = match (self.waited_ns, now) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 * 1e-9,
            _ => 0.0,
        };
        (wall - waited).max(0.0)
    }

    /// The fraction of the wall-clock time since `start` that was not spent waiting for a CPU.
    fn on_cpu_share(&self) -> f64 {
        let wall = self.start.elapsed().as_secs_f64();
        if wall > 0.0 {
            (self.on_cpu() / wall).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }
}

/// Nanoseconds the calling thread has spent waiting on a run queue. Only this thread: the
/// timed work runs on it (regress sets one worker thread), and idle pool threads that yield
/// accumulate run-queue time of their own that is no delay of the work.
fn runqueue_wait_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the run-queue clock is available here (else timings are plain wall-clock).
pub fn contention_clock_available() -> bool {
    runqueue_wait_ns().is_some()
}

/// Extra measurements of a run whose time is over the limit.
const RETRIES: usize = 2;
/// Short runs are repeated until their solves add up to this many seconds, at most `MAX_REPS`.
const MIN_TOTAL_S: f64 = 1.0;
const MAX_REPS: usize = 10;
/// Calibration: blocks per measurement (the best counts) and GEMM pairs per block.
const CALIB_BLOCKS: usize = 15;
const CALIB_INNER: usize = 20;

/// One run measured: its entry and how much its repetitions disagreed.
struct Measured {
    entry: Entry,
    /// Largest relative difference of the final metrics between repetitions (0: identical).
    rep_spread: Option<f64>,
    reps: usize,
}

impl Measured {
    /// Keeps the best solve time and the best calibration of both measurements.
    fn merge_timing(&mut self, other: Measured) {
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        self.entry.solve_s = min(self.entry.solve_s, other.entry.solve_s);
        self.entry.calib_s = min(self.entry.calib_s, other.entry.calib_s);
        self.entry.time_ratio = min(self.entry.time_ratio, other.entry.time_ratio);
        self.reps += other.reps;
    }

    fn describe(&self) -> String {
        let e = &self.entry;
        if e.status != "ok" {
            return format!("FAILED: {}", e.reason.as_deref().unwrap_or("no reason"));
        }
        format!(
            "train {} test {} objective {} target at {} | solve {:.3} s (best of {}), calibration {:.3} ms, ratio {}",
            fmt_acc(e.train_acc),
            fmt_acc(e.test_acc),
            fmt_obj(e.objective),
            e.target_iter.map_or("-".into(), |t| t.to_string()),
            e.solve_s.unwrap_or(f64::NAN),
            self.reps,
            e.calib_s.unwrap_or(f64::NAN) * 1e3,
            fmt_ratio(e.time_ratio)
        )
    }
}

/// Runs `run` through the runner at least `reps` times, and more (up to `MAX_REPS`) while the
/// repetitions add up to less than `MIN_TOTAL_S` of solving, so that short runs get more
/// samples. Each solve is followed by the calibration kernel, and each (solve, calibration)
/// pair gives a ratio: the two are taken moments apart, so a machine that is slower for a
/// while (a busy hyperthread sibling, a lower clock) slows both. The best (lowest) pair counts.
fn measure(run: &PlannedRun, reps: usize, scratch: &Path) -> anyhow::Result<Measured> {
    let mut first: Option<Entry> = None;
    let mut kernel = None;
    let mut best_solve: Option<f64> = None;
    let mut best_calib: Option<f64> = None;
    let mut best_ratio: Option<f64> = None;
    let mut spread: f64 = 0.0;
    let mut total = 0.0;
    let mut done = 0;
    let keep_min = |best: &mut Option<f64>, x: f64| *best = Some(best.map_or(x, |b| b.min(x)));
    while done < reps || (total < MIN_TOTAL_S && done < MAX_REPS) {
        let clock = Clock::start();
        let (mut e, k) = solve_once(run, scratch)?;
        done += 1;
        // Contention is removed in proportion: the solve is part of the run.
        e.solve_s = e.solve_s.map(|s| s * clock.on_cpu_share());
        if kernel.is_none() {
            kernel = k; // the shapes are known from the first summary
        }
        if e.status == "ok" {
            if let Some(s) = e.solve_s {
                total += s;
                keep_min(&mut best_solve, s);
                if let Some(c) = calibrate(run.config.backend, kernel.clone()) {
                    keep_min(&mut best_calib, c);
                    if c > 0.0 {
                        keep_min(&mut best_ratio, s / c);
                    }
                }
            }
        }
        match &first {
            None => {
                let failed = e.status != "ok";
                first = Some(e);
                if failed {
                    break; // a failed run is not worth repeating
                }
            }
            Some(f) => spread = spread.max(disagreement(f, &e)),
        }
    }
    let mut entry = first.ok_or_else(|| anyhow::anyhow!("{}: no repetition ran", run.id))?;
    entry.solve_s = best_solve;
    entry.calib_s = best_calib;
    entry.time_ratio = best_ratio;
    let reps = done;
    Ok(Measured {
        entry,
        rep_spread: (reps > 1).then_some(spread),
        reps,
    })
}

/// Largest relative difference between two repetitions' final metrics.
fn disagreement(a: &Entry, b: &Entry) -> f64 {
    let rel = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if x == y => 0.0,
        (Some(x), Some(y)) => (x - y).abs() / x.abs().max(y.abs()).max(1e-300),
        (None, None) => 0.0,
        _ => f64::INFINITY,
    };
    let iters = if a.target_iter == b.target_iter {
        0.0
    } else {
        f64::INFINITY
    };
    [
        rel(a.train_acc, b.train_acc),
        rel(a.test_acc, b.test_acc),
        rel(a.objective, b.objective),
        iters,
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

/// One execution of `run` by the normal runner, read back from its summary, with the
/// calibration kernel of its shapes (n, d with bias, P kept) when the summary has them.
fn solve_once(run: &PlannedRun, scratch: &Path) -> anyhow::Result<(Entry, Option<Calibrate>)> {
    let opts = RunOptions {
        out: scratch.to_path_buf(),
        force: true,
        retry_failed: false,
        quiet: true,
    };
    runner::run_sweep(std::slice::from_ref(run), &opts);
    let paths = RunPaths::new(scratch, &run.config.experiment, &run.id);
    let df = results::read(&paths.summary)
        .map_err(|e| anyhow::anyhow!("{}: no summary written: {e}", run.id))?;
    let f =
        |name: &str| results::column_f64(&df, name).and_then(|v| v.into_iter().next().flatten());
    let s =
        |name: &str| results::column_str(&df, name).and_then(|v| v.into_iter().next().flatten());
    let u = |name: &str| f(name).filter(|x| *x >= 0.0).map(|x| x as u64);
    let entry = Entry {
        run_id: run.id.clone(),
        status: s("status").unwrap_or_else(|| "failed".into()),
        reason: s("reason"),
        train_acc: f("train_acc"),
        test_acc: f("test_acc"),
        objective: f("objective"),
        target_iter: u("target_iter"),
        iterations: u("iterations"),
        solve_s: f("solve_s"),
        calib_s: None,
        time_ratio: None,
    };
    let kernel = match (u("n"), u("d"), u("p")) {
        (Some(n), Some(d), Some(p)) if n > 0 && d > 0 && p > 0 => Some(Calibrate {
            n: n as usize,
            d: d as usize,
            cols: 2 * p as usize,
        }),
        _ => None,
    };
    Ok((entry, kernel))
}

/// Seconds of one calibration GEMM pair, best of `CALIB_BLOCKS`.
fn calibrate(kind: BackendKind, kernel: Option<Calibrate>) -> Option<f64> {
    backend::dispatch(kind, kernel?).ok()
}

/// The calibration kernel: B <- X^T (X B) / n, the GEMM pair of one A-application, with
/// burn's own matmul on random data (none of this crate's code is timed, so a slower solver
/// cannot slow its own yardstick).
#[derive(Debug, Clone)]
struct Calibrate {
    n: usize,
    d: usize,
    cols: usize,
}

impl BackendTask for Calibrate {
    type Output = f64;

    fn run<B: Backend>(self, device: B::Device) -> f64 {
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<B, 2>::random([self.n, self.d], normal, &device);
        let xt = Tensor::<B, 2>::random([self.d, self.n], normal, &device);
        let b0 = Tensor::<B, 2>::random([self.d, self.cols], normal, &device);
        let scale = 1.0 / self.n as f64;
        let block = || {
            let mut b = b0.clone();
            for _ in 0..CALIB_INNER {
                b = xt.clone().matmul(x.clone().matmul(b)).mul_scalar(scale);
            }
            // Reading a value forces lazy backends; sync waits for queued device work.
            let _ = scalar(b.slice([0..1, 0..1]));
            let _ = B::sync(&device);
        };
        block(); // warm-up: allocations, thread pool
        let mut best = f64::INFINITY;
        for _ in 0..CALIB_BLOCKS {
            let clock = Clock::start();
            block();
            best = best.min(clock.on_cpu());
        }
        best / CALIB_INNER as f64
    }
}

/// The rows of one run: status, accuracies, objective, iterations to target, time.
fn compare(
    key: &str,
    base: Option<&Entry>,
    now: &Entry,
    tol: &Tolerances,
    time_comparable: bool,
) -> Vec<Row> {
    let row = |metric, baseline: String, now: String, delta: String, limit: String, verdict| Row {
        key: key.to_string(),
        metric,
        baseline,
        now,
        delta,
        limit,
        verdict,
    };
    let Some(base) = base else {
        return vec![row(
            "run",
            "absent".into(),
            now.status.clone(),
            "-".into(),
            "a baseline entry (--update)".into(),
            Verdict::New,
        )];
    };
    if now.status != "ok" {
        return vec![row(
            "status",
            base.status.clone(),
            format!("failed: {}", now.reason.as_deref().unwrap_or("no reason")),
            "-".into(),
            "ok".into(),
            Verdict::Failed,
        )];
    }
    let mut rows = Vec::new();
    for (metric, b, n, drop) in [
        ("train_acc", base.train_acc, now.train_acc, tol.train_acc),
        ("test_acc", base.test_acc, now.test_acc, tol.test_acc),
    ] {
        let (delta, verdict) = match (b, n) {
            (Some(b), Some(n)) if n.is_finite() => {
                let d = n - b;
                let v = if d < -drop - 1e-12 {
                    Verdict::Worse
                } else if d > drop {
                    Verdict::Better
                } else {
                    Verdict::Ok
                };
                (format!("{d:+.4}"), v)
            }
            (None, None) => ("-".into(), Verdict::Skipped),
            (_, None) => ("-".into(), Verdict::Worse),
            (None, Some(_)) => ("-".into(), Verdict::Better),
            (Some(_), Some(_)) => ("NaN".into(), Verdict::Worse),
        };
        rows.push(row(
            metric,
            fmt_acc(b),
            fmt_acc(n),
            delta,
            format!(">= -{drop:.4}"),
            verdict,
        ));
    }
    let (delta, verdict) = match (base.objective, now.objective) {
        (Some(b), Some(n)) if n.is_finite() => {
            let rel = (n - b) / b.abs().max(1e-12);
            let v = if rel > tol.objective_rel {
                Verdict::Worse
            } else if rel < -tol.objective_rel {
                Verdict::Better
            } else {
                Verdict::Ok
            };
            (format!("{:+.2}%", 100.0 * rel), v)
        }
        (None, None) => ("-".into(), Verdict::Skipped),
        (None, Some(_)) => ("-".into(), Verdict::Better),
        _ => ("-".into(), Verdict::Worse),
    };
    rows.push(row(
        "objective",
        fmt_obj(base.objective),
        fmt_obj(now.objective),
        delta,
        format!("<= +{:.2}%", 100.0 * tol.objective_rel),
        verdict,
    ));
    let (delta, limit, verdict) = match (base.target_iter, now.target_iter) {
        (Some(b), Some(n)) => {
            let extra = tol.extra_iters(b);
            let v = if n > b + extra {
                Verdict::Worse
            } else if n + extra < b {
                Verdict::Better
            } else {
                Verdict::Ok
            };
            (
                format!("{:+}", n as i64 - b as i64),
                format!("<= +{extra}"),
                v,
            )
        }
        (Some(b), None) => (
            "never".into(),
            format!("<= +{}", tol.extra_iters(b)),
            Verdict::Worse,
        ),
        (None, Some(_)) => ("-".into(), "reached".into(), Verdict::Better),
        (None, None) => ("-".into(), "-".into(), Verdict::Skipped),
    };
    rows.push(row(
        "target_iter",
        base.target_iter.map_or("never".into(), |t| t.to_string()),
        now.target_iter.map_or("never".into(), |t| t.to_string()),
        delta,
        limit,
        verdict,
    ));
    let (delta, verdict) = match (base.time_ratio, now.time_ratio) {
        (Some(b), Some(n)) if time_comparable && b > 0.0 => {
            let f = n / b;
            let v = if f > tol.time_factor {
                Verdict::Slower
            } else if f < 1.0 / tol.time_factor {
                Verdict::Faster
            } else {
                Verdict::Ok
            };
            (format!("x{f:.2}"), v)
        }
        _ => ("-".into(), Verdict::Skipped),
    };
    rows.push(row(
        "time",
        fmt_ratio(base.time_ratio),
        fmt_ratio(now.time_ratio),
        delta,
        format!("<= x{:.2}", tol.time_factor),
        verdict,
    ));
    rows
}

/// The suite-wide time row: the geometric mean of the runs' now / baseline time factors, when
/// enough runs were timed. A change that slows every solver a little shows here long before
/// any single run passes its own, noise-sized limit.
pub fn suite_time(factors: &[f64], tol: &Tolerances) -> Option<Row> {
    if factors.len() < SUITE_MIN_RUNS {
        return None;
    }
    let g = (factors.iter().map(|f| f.ln()).sum::<f64>() / factors.len() as f64).exp();
    let verdict = if g > tol.suite_time_factor {
        Verdict::Slower
    } else if g < 1.0 / tol.suite_time_factor {
        Verdict::Faster
    } else {
        Verdict::Ok
    };
    Some(Row {
        key: format!("suite ({} runs)", factors.len()),
        metric: "time_geomean",
        baseline: "1.00".into(),
        now: format!("{g:.2}"),
        delta: format!("x{g:.2}"),
        limit: format!("<= x{:.2}", tol.suite_time_factor),
        verdict,
    })
}

fn fmt_acc(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.4}"))
}

fn fmt_obj(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.6e}"))
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

/// A temporary results directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "admm-runner-regress-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    }
}

/// The worker threads burn's and faer's parallel sections use.
fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn clock_name() -> &'static str {
    if contention_clock_available() {
        "wall-minus-runqueue-wait"
    } else {
        "wall"
    }
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
