//! Executes planned runs: skip finished ones, load data, solve on the chosen backend, write
//! trace and summary. A failing run (bad data, divergence, panic) is recorded and the sweep
//! goes on.

use crate::execute::{self, Hooks, Outcome, Session};
use crate::executor::{IterRecord, Observer};
use crate::manifest::PlannedRun;
use crate::results::{self, schema, RunPaths, Summary};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// How to execute a sweep.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Rerun runs whose results exist.
    pub force: bool,
    /// Rerun runs recorded as failed.
    pub retry_failed: bool,
    pub quiet: bool,
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Drives a run's progress bar.
struct Bar(ProgressBar);

impl Observer for Bar {
    fn observe(&mut self, r: &IterRecord) {
        self.0.set_position(r.iter as u64);
        self.0.set_message(format!(
            "train {:.4} test {:.4} obj {:.4e}",
            r.metrics.train_acc, r.metrics.test_acc, r.metrics.objective
        ));
    }
}

/// Terminal output: bars on a terminal, plain lines elsewhere, nothing but errors when quiet.
struct Progress {
    multi: MultiProgress,
    sweep: ProgressBar,
    fancy: bool,
    quiet: bool,
}

impl Progress {
    fn new(total: usize, quiet: bool) -> Self {
        let fancy = !quiet && std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if fancy {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let sweep = multi.add(ProgressBar::new(total as u64));
        sweep.set_style(
            ProgressStyle::with_template("sweep [{bar:30}] {pos}/{len} runs  eta {eta}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            multi,
            sweep,
            fancy,
            quiet,
        }
    }

    fn run_bar(&self, run: &PlannedRun) -> Option<ProgressBar> {
        if !self.fancy {
            return None;
        }
        let bar = self
            .multi
            .add(ProgressBar::new(run.config.solver.stop.max_iters as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix} iter {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(run.id.clone());
        Some(bar)
    }

    /// A line that stays: above the bars on a terminal, plain otherwise.
    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.fancy {
            self.multi.suspend(|| eprintln!("{text}"));
        } else {
            eprintln!("{text}");
        }
    }
}

/// Runs every planned run, skipping finished ones unless `force`.
pub fn run_sweep(runs: &[PlannedRun], opts: &RunOptions) -> SweepReport {
    let mut report = SweepReport::default();
    let progress = Progress::new(runs.len(), opts.quiet);
    let mut session = Session::new();
    for (i, run) in runs.iter().enumerate() {
        let paths = RunPaths::new(&opts.out, &run.config.experiment, &run.id);
        for dir in [&paths.summary, &paths.trace] {
            if let Some(parent) = dir.parent() {
                results::clean_stale_temp(parent);
            }
        }
        let tag = format!("[{}/{}] {}", i + 1, runs.len(), run.id);
        if !opts.force && is_finished(&paths, opts.retry_failed) {
            report.skipped += 1;
            progress.line(&format!(
                "{tag}: finished earlier, skipped (--force reruns)"
            ));
            progress.sweep.inc(1);
            continue;
        }
        match run_one(run, &paths, &progress, &mut session) {
            Ok(line) => {
                report.ok += 1;
                progress.line(&format!("{tag}: {line}"));
            }
            Err(why) => {
                report.failed += 1;
                // Failures are shown even when quiet.
                progress.multi.suspend(|| eprintln!("{tag}: FAILED: {why}"));
            }
        }
        progress.sweep.inc(1);
    }
    progress.sweep.finish_and_clear();
    report
}

/// A run is finished when its summary exists (and, with `retry_failed`, says ok).
fn is_finished(paths: &RunPaths, retry_failed: bool) -> bool {
    if !paths.summary.is_file() {
        return false;
    }
    !retry_failed || Summary::read(&paths.summary).is_ok_and(|s| s.ok())
}

/// Executes one run and writes its files, the summary last. Ok(one-line result) or
/// Err(failure reason); either way a summary is written.
fn run_one(
    run: &PlannedRun,
    paths: &RunPaths,
    progress: &Progress,
    session: &mut Session,
) -> Result<String, String> {
    let mut bar = progress.run_bar(run).map(Bar);
    let hooks = Hooks {
        observer: bar.as_mut().map(|b| b as &mut dyn Observer),
        ..Hooks::default()
    };
    let outcome = session.execute(run, hooks);
    if let Some(Bar(b)) = &bar {
        b.finish_and_clear();
    }
    store(paths, &outcome)?;
    match outcome.failure() {
        Some(why) => Err(why.to_string()),
        None => Ok(execute::describe(&outcome.summary)),
    }
}

/// Writes the trace (when there is one), then the summary.
fn store(paths: &RunPaths, outcome: &Outcome) -> Result<(), String> {
    let mut write_err = None;
    if !outcome.trace.is_empty() {
        write_err = schema::write_trace(&paths.trace, &outcome.trace).err();
    }
    if let Err(e) = outcome.summary.write(&paths.summary) {
        return Err(format!("could not write results: {e}"));
    }
    match write_err {
        Some(e) => Err(format!("could not write the trace: {e}")),
        None => Ok(()),
    }
}
