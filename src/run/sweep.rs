//! Executes planned runs: skip finished ones, claim the rest, load data, solve on the chosen
//! backend, write trace then summary (the commit marker), release the claim. A failing run (bad data, divergence, panic) is recorded and the sweep
//! goes on.

use crate::manifest::PlannedRun;
use crate::results::store::{self, ClaimResult};
use crate::results::{schema, RunPaths, Status, Summary};
use crate::run::checkpoint::{self, Place, Saver};
use crate::run::model::SavedModel;
use crate::run::single::{self, Hooks, Outcome, Session};
use admm_engine::executor::{IterRecord, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The run this process is computing (`[k/N] id`), for the interrupt message.
static CURRENT: Mutex<Option<String>> = Mutex::new(None);

/// Seconds between heartbeat lines off a terminal (`ADMM_RUNNER_HEARTBEAT_S` overrides).
const HEARTBEAT_S: f64 = 5.0;

/// How to execute a sweep.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Rerun runs whose results exist.
    pub force: bool,
    /// Skip runs recorded as failed (by default a rerun retries them, as make does).
    pub keep_failed: bool,
    pub quiet: bool,
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub ok: usize,
    pub failed: usize,
    /// Finished earlier (by this or another process).
    pub skipped: usize,
    /// Held by another live process's claim: that process computes it.
    pub claimed: usize,
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

/// Progress off a terminal (a log file, nohup, a batch job): a line every few seconds with the
/// iteration, objective, certified gap and elapsed seconds, so a long run is never silent.
struct Heartbeat {
    tag: String,
    every: Duration,
    last: Instant,
}

impl Heartbeat {
    fn new(tag: &str) -> Self {
        let secs = std::env::var("ADMM_RUNNER_HEARTBEAT_S")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(HEARTBEAT_S);
        Heartbeat {
            tag: tag.to_string(),
            every: Duration::from_secs_f64(secs),
            last: Instant::now(),
        }
    }
}

impl Observer for Heartbeat {
    fn observe(&mut self, r: &IterRecord) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        eprintln!(
            "{}: iter {} objective {:.4e} gap {:.2e} train {:.4} {:.1} s",
            self.tag, r.iter, r.metrics.objective, r.rel_gap, r.metrics.train_acc, r.wall
        );
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

/// Runs every planned run, skipping finished ones unless `force` and runs another live
/// process has claimed. A run is claimed (`store::claim`) before it is solved and released
/// after its summary is written, so processes sharing a results folder never compute one run
/// twice (unless `force`).
pub fn run_sweep(runs: &[PlannedRun], opts: &RunOptions) -> SweepReport {
    let mut report = SweepReport::default();
    let progress = Progress::new(runs.len(), opts.quiet);
    let mut session = Session::new();
    let mut cleaned = HashSet::new();
    for (i, run) in runs.iter().enumerate() {
        let paths = RunPaths::new(&opts.out, &run.config.experiment, &run.id);
        for file in [
            &paths.summary,
            &paths.trace,
            &paths.claim,
            &paths.checkpoint,
        ] {
            if let Some(dir) = file.parent().filter(|d| cleaned.insert(d.to_path_buf())) {
                store::clean_stale_temp(dir);
            }
        }
        let tag = format!("[{}/{}] {}", i + 1, runs.len(), run.id);
        set_current(Some(&tag));
        match sweep_one(run, &paths, opts, &progress, &mut session, &tag) {
            Done::Ok(line) => {
                report.ok += 1;
                progress.line(&format!("{tag}: {line}"));
            }
            Done::Failed(why) => {
                report.failed += 1;
                // Failures are shown even when quiet; their text may come from a file or a
                // panic, so control characters are escaped before reaching the terminal.
                let why = printable(&why);
                progress.multi.suspend(|| eprintln!("{tag}: FAILED: {why}"));
            }
            Done::Skipped => {
                report.skipped += 1;
                progress.line(&format!(
                    "{tag}: finished earlier, skipped (--force reruns)"
                ));
            }
            Done::Claimed(line) => {
                report.claimed += 1;
                progress.line(&format!("{tag}: {line}"));
            }
        }
        progress.sweep.inc(1);
    }
    set_current(None);
    progress.sweep.finish_and_clear();
    report
}

/// `text` with control characters (escape sequences, carriage returns, newlines) escaped, so
/// that a message read from a file or a panic cannot drive the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Records the run in progress for the interrupt message.
fn set_current(tag: Option<&str>) {
    if let Ok(mut current) = CURRENT.lock() {
        *current = tag.map(str::to_string);
    }
}

/// What an interrupt stopped and what a rerun does, for the message printed on exit: with a
/// checkpoint (its iteration and file), the run resumes there.
fn interrupted_text(sig: i32, current: Option<&str>, saved: Option<&(usize, PathBuf)>) -> String {
    let name = if sig == signal_hook::consts::SIGINT {
        "interrupted"
    } else {
        "terminated"
    };
    let again = match saved {
        Some((k, file)) => format!(
            "this one resumes at iteration {k} from its checkpoint {}",
            file.display()
        ),
        None => "this one starts again".into(),
    };
    match current {
        Some(tag) => format!(
            "{name}: {tag} was in progress and is left unfinished (no summary written); rerun \
             the same command to resume: finished runs are skipped and {again}"
        ),
        None => format!("{name}: no run was in progress"),
    }
}

/// What became of one planned run in a sweep.
enum Done {
    /// Computed and ok: the one-line result.
    Ok(String),
    /// Computed (or not even claimed) and failed: why.
    Failed(String),
    /// Finished earlier.
    Skipped,
    /// Another live process holds its claim: who.
    Claimed(String),
}

/// One run of a sweep: skip it if finished, else claim it (so that no other process computes
/// it too), check again under the claim, compute it and write its files; the claim is
/// released when its guard drops.
fn sweep_one(
    run: &PlannedRun,
    paths: &RunPaths,
    opts: &RunOptions,
    progress: &Progress,
    session: &mut Session,
    tag: &str,
) -> Done {
    if let Err(e) = paths.check_dirs() {
        return Done::Failed(e.to_string());
    }
    let data = crate::data::fingerprint(&run.config.data);
    let finished = || is_finished_for(paths, opts.keep_failed, data.as_deref());
    if !opts.force && finished() {
        return Done::Skipped;
    }
    let _claim = match store::claim(&paths.claim) {
        Ok(ClaimResult::Claimed { claim, taken_over }) => {
            if let Some(dead) = taken_over {
                progress.line(&format!(
                    "{tag}: took over the claim of pid {} (no longer running)",
                    dead.pid
                ));
            }
            claim
        }
        Ok(ClaimResult::Held(Some(o))) => {
            return Done::Claimed(format!(
                "claimed by pid {} on {}, skipped ({})",
                o.pid,
                o.host,
                paths.claim.display()
            ));
        }
        // Claims are created whole, so one that does not read back is not ours: say so (and
        // fail) rather than skip the run silently on every rerun.
        Ok(ClaimResult::Held(None)) => {
            return Done::Failed(format!(
                "{} is not a claim this runner wrote (unreadable or garbage); remove it if no \
                 process is computing this run",
                paths.claim.display()
            ))
        }
        Err(e) => return Done::Failed(format!("could not claim {}: {e}", paths.claim.display())),
    };
    // Another process may have finished it between the check above and our claim.
    if !opts.force && finished() {
        return Done::Skipped;
    }
    match run_one(run, paths, opts.force, progress, session, tag) {
        Ok(line) => Done::Ok(line),
        Err(why) => Done::Failed(why),
    }
}

/// Whether a run is finished. Its summary is the commit marker: the run is finished only when
/// the summary reads back and either records a failure (then finished only with
/// `keep_failed`: a plain rerun retries failed runs) or says ok with a trace that reads back
/// with as many rows as the summary's `iterations`. An unreadable summary, or an ok summary
/// whose trace is missing, unreadable or short, means not finished: the run is computed again.
pub fn is_finished(paths: &RunPaths, keep_failed: bool) -> bool {
    is_finished_for(paths, keep_failed, None)
}

/// `is_finished`, and computed on the data that is there now: a summary that recorded another
/// data fingerprint (`data::fingerprint`: the files were replaced since) is not finished. A
/// summary without one (synthetic data, older files) is judged as before.
pub fn is_finished_for(paths: &RunPaths, keep_failed: bool, data: Option<&str>) -> bool {
    let Ok(summary) = Summary::read(&paths.summary) else {
        return false;
    };
    if let (Some(then), Some(now)) = (summary.data_fingerprint.as_deref(), data) {
        if then != now {
            return false;
        }
    }
    if !summary.ok() {
        return keep_failed;
    }
    match summary.iterations {
        Some(n) if n > 0 => {
            schema::read_trace(&paths.trace).is_ok_and(|rows| rows.len() as i64 == n)
        }
        _ => true,
    }
}

/// On SIGINT or SIGTERM: ask the ADMM run in progress for a checkpoint and wait for it (at
/// most `checkpoint::INTERRUPT_WAIT`; a second signal stops waiting), then remove this
/// process's temp files and claims, and exit 130 or 143 (128 + the signal). The run in
/// progress is left unfinished (its summary, the commit marker, is not written), so the next
/// run computes it, from its checkpoint when it has one. Call once, from the binary.
pub fn install_interrupt_cleanup() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("interrupt-cleanup".into())
        .spawn(move || {
            let first = signals.forever().next();
            if let Some(sig) = first {
                let saved = checkpoint::on_interrupt(&mut || signals.pending().next().is_some());
                // Held until exit: a commit under way finishes first, and no new temp file
                // or claim appears after the cleanup.
                let _commit = store::commit_section();
                let _registry = store::remove_live_files();
                let current = CURRENT.lock().ok().and_then(|c| c.clone());
                eprintln!(
                    "{}",
                    interrupted_text(sig, current.as_deref(), saved.as_ref())
                );
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

/// Executes one run and writes its files, the summary last. Ok(one-line result) or
/// Err(failure reason). The earlier files stay in place while it computes (`store` replaces
/// them only once the new run is ready to commit), so an interrupted `--force` loses nothing.
/// An ADMM run goes on from its checkpoint when it has a usable one (`--force` discards it),
/// saves one as it goes, and removes it once its summary is written.
fn run_one(
    run: &PlannedRun,
    paths: &RunPaths,
    force: bool,
    progress: &Progress,
    session: &mut Session,
    tag: &str,
) -> Result<String, String> {
    // Warnings are shown even when quiet; text from a file is escaped.
    let say = |text: &str| {
        let line = format!("{tag}: {}", printable(text));
        if text.starts_with("warning") {
            progress.multi.suspend(|| eprintln!("{line}"));
        } else {
            progress.line(&line);
        }
    };
    let place = Place::new(&paths.checkpoint, run);
    let resume = if force {
        if let Err(e) = checkpoint::remove(&place.path) {
            say(&format!("warning: {e}"));
        }
        None
    } else {
        checkpoint::load(&place, run).unwrap_or_else(|why| {
            say(&format!(
                "warning: ignoring the checkpoint {}: {why}; starting from iteration 0",
                place.path.display()
            ));
            None
        })
    };
    let mut bar = progress.run_bar(run).map(Bar);
    let mut beat = (!progress.fancy && !progress.quiet).then(|| Heartbeat::new(tag));
    if beat.is_some() {
        let fields = run.describe();
        let fields = fields.split_once("  ").map_or(fields.as_str(), |(_, f)| f);
        progress.line(&format!("{tag}: started: {fields}"));
    }
    let observer: Option<&mut dyn Observer> = match (bar.as_mut(), beat.as_mut()) {
        (Some(b), _) => Some(b),
        (None, Some(h)) => Some(h),
        (None, None) => None,
    };
    let hooks = Hooks {
        observer,
        checkpoint: Some(Saver::new(place, resume, &say)),
        ..Hooks::default()
    };
    let outcome = session.execute(run, hooks);
    if let Some(Bar(b)) = &bar {
        b.finish_and_clear();
    }
    store(run, paths, &outcome)?;
    // Recorded (ok or failed): the checkpoint has served. Kept when the results could not be
    // written, so that a rerun does not start over.
    if let Err(e) = checkpoint::remove(&paths.checkpoint) {
        say(&format!("warning: {e}"));
    }
    match outcome.failure() {
        Some(why) => Err(why.to_string()),
        None => Ok(single::describe(&outcome.summary)),
    }
}

/// Writes the trace (when there is one) and the model (when asked for), then the summary, the
/// commit marker.
///
/// The new trace and model are first written to temp files beside the old ones (staged); only
/// when they are on disk are the old files replaced: the old summary (the commit marker) is
/// removed first, the staged files renamed into place, the new summary written last. So an
/// interrupt while computing or writing leaves the earlier result whole, and a rerun that
/// fails never replaces a finished ok result (it says the earlier one is kept).
///
/// When the trace or the model cannot be written, the summary written is a *failed* one whose
/// reason says so (rather than none): the attempt and its cause stay visible to the user and to
/// `plot`, and since a plain rerun retries failed runs, the run is computed again next time.
/// An ok summary is only ever written after its trace and model are on disk.
pub(crate) fn store(run: &PlannedRun, paths: &RunPaths, outcome: &Outcome) -> Result<(), String> {
    let mut summary = std::borrow::Cow::Borrowed(&outcome.summary);
    let mut write_err = None;
    let mut fail = |why: String| {
        let s = summary.to_mut();
        s.status = Status::Failed;
        s.reason = Some(match s.reason.take() {
            Some(earlier) => format!("{why}; {earlier}"),
            None => why.clone(),
        });
        write_err.get_or_insert(why);
    };
    let mut trace = None;
    if !outcome.trace.is_empty() {
        match schema::stage_trace(&paths.trace, &outcome.trace) {
            Ok(staged) => trace = Some(staged),
            Err(e) => fail(format!("the trace could not be written: {e}")),
        }
    }
    let mut model = None;
    if let (true, Some(net)) = (run.save_model, &outcome.network) {
        let test_acc = outcome.summary.last.test_acc;
        let saved = SavedModel::of_run(run, net.clone(), outcome.standardization.clone(), test_acc);
        match saved.stage(&paths.model) {
            Ok(staged) => model = Some(staged),
            Err(e) => fail(format!("the model could not be written: {e}")),
        }
    }
    if !summary.ok() && is_finished_for(paths, false, summary.data_fingerprint.as_deref()) {
        let why = summary.reason.clone().unwrap_or_else(|| "failed".into());
        return Err(format!(
            "{why}; the earlier finished result is kept ({})",
            paths.summary.display()
        ));
    }
    // From here to the new summary, an interrupt waits (`store::commit_section`).
    let _commit = store::commit_section();
    uncommit(paths)?;
    commit_staged(trace, &paths.trace)?;
    commit_staged(model, &paths.model)?;
    if let Err(e) = summary.write(&paths.summary) {
        return Err(format!("could not write results: {e}"));
    }
    write_err.map_or(Ok(()), Err)
}

/// Renames a staged file into place (nothing to do when there is none).
fn commit_staged(staged: Option<store::Staged>, path: &std::path::Path) -> Result<(), String> {
    match staged {
        Some(s) => s
            .commit(path)
            .map_err(|e| format!("could not write {}: {e}", path.display())),
        None => Ok(()),
    }
}

/// Removes a run's summary (first: the commit marker), trace and model, just before the new
/// ones take their places, so that a half-replaced result is never mistaken for a finished one.
pub(crate) fn uncommit(paths: &RunPaths) -> Result<(), String> {
    for file in [&paths.summary, &paths.trace, &paths.model] {
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => return Err(format!("could not remove {}: {e}", file.display())),
        }
    }
    Ok(())
}
