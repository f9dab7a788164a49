//! Executes planned runs: skip finished ones, load data, solve on the chosen backend, write
//! trace and summary. A failing run (bad data, divergence, panic) is recorded and the sweep
//! goes on.

use crate::admm::{self, IterRecord, Observer, Stop, TargetClock, Times};
use crate::backend::{self, BackendTask};
use crate::data::{self, Dataset};
use crate::manifest::{PlannedRun, RunConfig, SolverKind};
use crate::mlp::{self, AdamConfig};
use crate::problem::Problem;
use crate::results::{self, flatten_json, Cell, RunPaths};
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

/// The backend-independent result of one solve.
#[derive(Debug, Clone)]
struct Solved {
    stop: Stop,
    iterations: usize,
    times: Times,
    last: Option<IterRecord>,
    d: usize,
    p: usize,
    dropped: usize,
}

/// Collects the trace, drives the progress bar and times the first crossing of the target.
struct RunObserver {
    records: Vec<IterRecord>,
    clock: TargetClock,
    bar: Option<ProgressBar>,
}

impl Observer for RunObserver {
    fn observe(&mut self, r: &IterRecord) -> Option<String> {
        self.records.push(*r);
        if let Some(bar) = &self.bar {
            bar.set_position(r.iter as u64);
            bar.set_message(format!(
                "train {:.4} test {:.4} obj {:.4e}",
                r.metrics.train_acc, r.metrics.test_acc, r.metrics.objective
            ));
        }
        self.clock.observe(r)
    }
}

/// Builds the problem and runs ADMM on one backend.
struct SolveTask<'a> {
    cfg: &'a RunConfig,
    data: &'a Dataset,
    observer: &'a mut RunObserver,
}

impl BackendTask for SolveTask<'_> {
    type Output = Result<Solved, String>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        if self.cfg.solver.name == SolverKind::Adam {
            return train_adam::<B>(self.cfg, self.data, &device, self.observer);
        }
        let prob = Problem::<B>::new(self.data, &self.cfg.problem, self.cfg.seed, &device)
            .map_err(|e| e.to_string())?;
        let mut usolver =
            admm::usolve::make_solver::<B>(&self.cfg.solver).map_err(|e| e.to_string())?;
        let out = admm::solve(&prob, &self.cfg.solver, usolver.as_mut(), self.observer)
            .map_err(|e| e.to_string())?;
        Ok(Solved {
            stop: out.stop,
            iterations: out.iterations,
            times: out.times,
            last: out.last,
            d: prob.d,
            p: prob.p,
            dropped: prob.patterns.dropped,
        })
    }
}

/// The Adam baseline on the same backend, with autodiff on top. Its budget is the solver's
/// `max_iters` in epochs; its width defaults to 2P, the convex model's neuron budget.
fn train_adam<B: Backend>(
    cfg: &RunConfig,
    data: &Dataset,
    device: &B::Device,
    observer: &mut RunObserver,
) -> Result<Solved, String> {
    let adam = AdamConfig::from_run(cfg);
    let out =
        mlp::train::<Autodiff<B>>(data, &adam, device, observer).map_err(|e| e.to_string())?;
    Ok(Solved {
        stop: out.stop,
        iterations: out.epochs,
        times: out.times,
        last: out.last,
        d: data.d + usize::from(cfg.problem.bias),
        // P, as for ADMM (the width is in the config columns): figures group by it.
        p: cfg.problem.patterns,
        dropped: 0,
    })
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
            .add(ProgressBar::new(run.config.solver.max_iters as u64));
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
    let provenance = Provenance::detect();
    let mut cache: Option<(String, Dataset, f64)> = None;
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
        let outcome = execute(run, &paths, &progress, &provenance, &mut cache);
        match outcome {
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
    if !retry_failed {
        return true;
    }
    results::read(&paths.summary)
        .ok()
        .and_then(|df| results::column_str(&df, "status"))
        .and_then(|s| s.into_iter().next().flatten())
        .is_some_and(|s| s == "ok")
}

/// Runs one planned run and writes its files. Ok(one-line result) or Err(failure reason);
/// either way a summary is written.
fn execute(
    run: &PlannedRun,
    paths: &RunPaths,
    progress: &Progress,
    provenance: &Provenance,
    cache: &mut Option<(String, Dataset, f64)>,
) -> Result<String, String> {
    let started = unix_now();
    let wall = Instant::now();
    let cfg = &run.config;
    let mut observer = RunObserver {
        records: Vec::new(),
        clock: TargetClock::new(&cfg.solver),
        bar: progress.run_bar(run),
    };
    let mut load_s = f64::NAN;
    backend::reset_peak_host_memory();
    let result = load_cached(cfg, cache).and_then(|(data, secs)| {
        load_s = secs;
        let task = SolveTask {
            cfg,
            data,
            observer: &mut observer,
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backend::dispatch(cfg.backend, task)
        }));
        match caught {
            Ok(Ok(inner)) => inner,
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(format!("panicked: {}", panic_text(&panic))),
        }
    });
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    let memory = Memory {
        host_peak: backend::peak_host_memory_bytes(),
        device_reserved: backend::device_memory_reserved_bytes(cfg.backend),
    };
    let (status, reason, solved) = match result {
        Ok(s) => match s.stop.failure() {
            Some(why) => ("failed", Some(why), Some(s)),
            None => ("ok", None, Some(s)),
        },
        Err(why) => ("failed", Some(why), None),
    };
    let mut write_err = None;
    if !observer.records.is_empty() {
        write_err = results::write_trace(&paths.trace, &observer.records).err();
    }
    let row = summary_row(
        run,
        status,
        &reason,
        solved.as_ref(),
        &observer,
        load_s,
        wall.elapsed().as_secs_f64(),
        started,
        provenance,
        memory,
    );
    if let Err(e) = results::write_summary(&paths.summary, row) {
        return Err(format!("could not write results: {e}"));
    }
    if let Some(e) = write_err {
        return Err(format!("could not write the trace: {e}"));
    }
    match (reason, solved) {
        (Some(why), _) => Err(why),
        (None, Some(s)) => Ok(describe(&s, &observer)),
        (None, None) => Err("no result".into()),
    }
}

fn describe(s: &Solved, obs: &RunObserver) -> String {
    let m = s.last.map(|r| r.metrics).unwrap_or_default();
    let mut line = format!(
        "ok ({}), {} iters, train acc {:.4}, test acc {:.4}, objective {:.6e}, {:.2} s (pre {:.2}, u {:.2}, v {:.2}, dual {:.3})",
        s.stop.label(),
        s.iterations,
        m.train_acc,
        m.test_acc,
        m.objective,
        s.times.total(),
        s.times.precompute,
        s.times.u,
        s.times.v,
        s.times.dual
    );
    if let (Some(t), Some(r)) = (obs.clock.target, obs.clock.reached) {
        line += &format!(", {:.0}% train acc at {:.2} s", t * 100.0, r.times.total());
    }
    line
}

/// Loads the dataset, reusing the previous one when the data section and seed are the same.
fn load_cached<'c>(
    cfg: &RunConfig,
    cache: &'c mut Option<(String, Dataset, f64)>,
) -> Result<(&'c Dataset, f64), String> {
    let key =
        serde_json::to_string(&(&cfg.data, cfg.data.seed.unwrap_or(cfg.seed))).unwrap_or_default();
    let hit = cache.as_ref().is_some_and(|(k, _, _)| *k == key);
    if !hit {
        let t = Instant::now();
        let data = data::load(&cfg.data, cfg.seed).map_err(|e| e.to_string())?;
        *cache = Some((key, data, t.elapsed().as_secs_f64()));
    }
    match cache {
        Some((_, data, secs)) => Ok((data, if hit { 0.0 } else { *secs })),
        None => Err("data cache is empty".into()),
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Memory a run used, where the platform reports it.
#[derive(Debug, Clone, Copy)]
struct Memory {
    host_peak: Option<u64>,
    device_reserved: Option<u64>,
}

/// Where and from what code a result came.
#[derive(Debug, Clone)]
struct Provenance {
    commit: String,
    host: String,
}

impl Provenance {
    fn detect() -> Self {
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_string())
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        Provenance { commit, host }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The one-row summary: identity, status, times, final metrics, target, provenance, config.
#[allow(clippy::too_many_arguments)]
fn summary_row(
    run: &PlannedRun,
    status: &str,
    reason: &Option<String>,
    solved: Option<&Solved>,
    obs: &RunObserver,
    load_s: f64,
    wall_s: f64,
    started: f64,
    prov: &Provenance,
    memory: Memory,
) -> Vec<(String, Cell)> {
    let cfg = &run.config;
    let s = |v: &str| Cell::Str(Some(v.to_string()));
    let f = Cell::F64;
    let i = |v: Option<usize>| Cell::I64(v.map(|x| x as i64));
    let times = solved.map(|x| x.times);
    let last = obs.records.last().copied();
    let m = last.map(|r| r.metrics);
    let reached = obs.clock.reached;
    let mut row = vec![
        ("run_id".into(), s(&run.id)),
        ("experiment".into(), s(&cfg.experiment)),
        ("manifest".into(), s(&run.manifest.display().to_string())),
        ("status".into(), s(status)),
        ("reason".into(), Cell::Str(reason.clone())),
        (
            "stop_reason".into(),
            Cell::Str(solved.map(|x| x.stop.label())),
        ),
        ("solver".into(), s(&cfg.solver.name.to_string())),
        ("backend".into(), s(&cfg.backend.to_string())),
        ("seed".into(), Cell::I64(Some(cfg.seed as i64))),
        ("n".into(), i(Some(cfg.data.n_train))),
        ("d".into(), i(solved.map(|x| x.d))),
        ("p".into(), i(solved.map(|x| x.p))),
        ("patterns_dropped".into(), i(solved.map(|x| x.dropped))),
        ("iterations".into(), i(Some(obs.records.len()))),
        ("load_s".into(), f(Some(load_s).filter(|x| x.is_finite()))),
        ("precompute_s".into(), f(times.map(|t| t.precompute))),
        ("u_s".into(), f(times.map(|t| t.u))),
        ("v_s".into(), f(times.map(|t| t.v))),
        ("dual_s".into(), f(times.map(|t| t.dual))),
        ("solve_s".into(), f(times.map(|t| t.total()))),
        ("wall_s".into(), f(Some(wall_s))),
        ("objective".into(), f(m.map(|m| m.objective))),
        ("train_loss".into(), f(m.map(|m| m.train_loss))),
        ("train_acc".into(), f(m.map(|m| m.train_acc))),
        ("train_acc_net".into(), f(m.map(|m| m.train_acc_net))),
        ("test_loss".into(), f(m.map(|m| m.test_loss))),
        ("test_acc".into(), f(m.map(|m| m.test_acc))),
        ("cone_violation".into(), f(m.map(|m| m.cone_violation))),
        ("active_neurons".into(), i(m.map(|m| m.active_neurons))),
        ("primal_residual".into(), f(last.map(|r| r.primal_residual))),
        ("dual_residual".into(), f(last.map(|r| r.dual_residual))),
        ("target_train_acc".into(), f(cfg.solver.target_train_acc)),
        ("target_iter".into(), i(reached.map(|r| r.iter))),
        ("target_s".into(), f(reached.map(|r| r.times.total()))),
        (
            "target_precompute_s".into(),
            f(reached.map(|r| r.times.precompute)),
        ),
        ("target_u_s".into(), f(reached.map(|r| r.times.u))),
        ("target_v_s".into(), f(reached.map(|r| r.times.v))),
        ("target_dual_s".into(), f(reached.map(|r| r.times.dual))),
        (
            "peak_host_rss_bytes".into(),
            Cell::I64(memory.host_peak.map(|b| b as i64)),
        ),
        (
            "device_mem_reserved_bytes".into(),
            Cell::I64(memory.device_reserved.map(|b| b as i64)),
        ),
        ("git_commit".into(), s(&prov.commit)),
        ("host".into(), s(&prov.host)),
        ("version".into(), s(env!("CARGO_PKG_VERSION"))),
        ("started_at".into(), f(Some(started))),
    ];
    if let Ok(json) = serde_json::to_value(cfg) {
        flatten_json("config", &json, &mut row);
    }
    row
}
