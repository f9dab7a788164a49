//! `execute(run) -> Outcome`: one planned run, from loading its data to its typed summary and
//! trace, shared by `run`, `bench` and `regress` so that each of them measures exactly the same
//! thing. The data cache, panic capture, memory readings and provenance live here, once;
//! writing the files is the runner's business (`results`).

use crate::backend::{self, BackendTask};
use crate::data::{self, Dataset, Standardization};
use crate::manifest::{Algorithm, PlannedRun, RunConfig};
use crate::results::flatten_json;
use crate::results::schema::{FinalMetrics, PhaseTimes, Status, Summary, TargetCrossing, TraceRow};
use crate::run::checkpoint::{self, Saver};
use crate::run::memory;
use admm_engine::adam::Network;
use admm_engine::adam::{self, AdamConfig};
use admm_engine::admm::{self, usolve};
use admm_engine::executor::{Executed, IterRecord, Observer, Stop, Times};
use admm_engine::problem::Problem;
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one run produced: its summary and its trace, in memory.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub summary: Summary,
    pub trace: Vec<TraceRow>,
    /// The record at the first crossing of the target train accuracy, if any.
    pub reached: Option<IterRecord>,
    /// The trained network, when the solve produced one.
    pub network: Option<Network>,
    /// The standardization fitted on the training set (None when the data is not
    /// standardized): a saved model needs it to transform new data.
    pub standardization: Option<Standardization>,
}

impl Outcome {
    /// The failure reason, if the run failed.
    pub fn failure(&self) -> Option<&str> {
        match self.summary.status {
            Status::Ok => None,
            Status::Failed => Some(self.summary.reason.as_deref().unwrap_or("no reason")),
        }
    }
}

/// Optional extras for one execution: an observer beside the trace recorder (a progress bar),
/// a delay added to every u-step (a wrapped u-solver that simulates a slower one, so that
/// tests can show a timing check catching a slowdown), and checkpoints (the sweep's: where to
/// save them and the one to resume from, `checkpoint`).
#[derive(Default)]
pub struct Hooks<'a> {
    pub observer: Option<&'a mut dyn Observer>,
    pub u_step_delay: Option<Duration>,
    pub checkpoint: Option<Saver<'a>>,
}

/// The first planned run of `manifest` (with `key=value` overrides) whose id contains `pick`,
/// and its problem on backend B's default device: where the measurement examples (gap_trace,
/// dump_problem) start, so that they see exactly the problem `run` would solve.
pub fn planned_problem<B: Backend>(
    manifest: &std::path::Path,
    pick: &str,
    overrides: &[String],
) -> Result<(PlannedRun, Problem<B>), String> {
    let overrides = crate::manifest::parse_overrides(overrides).map_err(|e| e.to_string())?;
    let runs = crate::manifest::plan(manifest, &overrides).map_err(|e| e.to_string())?;
    let run = runs
        .into_iter()
        .find(|r| r.id.contains(pick))
        .ok_or(format!("{}: no run id contains {pick}", manifest.display()))?;
    let mut session = Session::new();
    let (data, _) = session.data(&run.config)?;
    let prob = run
        .config
        .problem
        .build::<B>(data, run.config.seed, &Default::default())
        .map_err(|e| e.to_string())?;
    Ok((run, prob))
}

/// State shared by the runs of one command: the last data set and where results come from.
#[derive(Debug, Default)]
pub struct Session {
    cache: Option<(String, Dataset, Option<Standardization>)>,
    provenance: Provenance,
}

impl Session {
    pub fn new() -> Self {
        Session {
            cache: None,
            provenance: Provenance::detect(),
        }
    }

    /// The run's data set and the seconds it took to load (0 when the previous run's data set
    /// is reused: same `data:` section and data seed).
    pub fn data(&mut self, cfg: &RunConfig) -> Result<(&Dataset, f64), String> {
        let seed = cfg.data.seed.unwrap_or(cfg.seed);
        let key = serde_json::to_string(&(&cfg.data, seed)).unwrap_or_default();
        let hit = self.cache.as_ref().is_some_and(|(k, _, _)| *k == key);
        let mut secs = 0.0;
        if !hit {
            let t = Instant::now();
            let (data, stats) =
                data::load_fitted(&cfg.data, cfg.seed).map_err(|e| e.to_string())?;
            secs = t.elapsed().as_secs_f64();
            self.cache = Some((key, data, stats));
        }
        match &self.cache {
            Some((_, data, _)) => Ok((data, secs)),
            None => Err("data cache is empty".into()),
        }
    }

    /// The standardization fitted for the data set `data` last loaded.
    fn standardization(&self) -> Option<Standardization> {
        self.cache.as_ref().and_then(|(_, _, s)| s.clone())
    }

    /// Runs `run`: loads its data, solves on its backend (a panic or error is a failed run, not
    /// a crash), and returns its summary and trace. Never fails: every problem is in the summary.
    pub fn execute(&mut self, run: &PlannedRun, hooks: Hooks) -> Outcome {
        let started = unix_now();
        let wall = Instant::now();
        let cfg = &run.config;
        let mut recorder = Recorder {
            rows: Vec::new(),
            also: hooks.observer,
            saver: hooks.checkpoint,
        };
        backend::reset_peak_host_memory();
        let mut load_s = None;
        // Refused before anything large is allocated when it cannot fit.
        let estimate = memory::estimate(cfg).map_err(|e| e.to_string());
        let mem_estimate_bytes = estimate.as_ref().ok().map(|e| e.bytes() as i64);
        let admitted = estimate.and_then(|e| memory::check(&e));
        let result = admitted
            .and_then(|()| self.data(cfg))
            .and_then(|(data, secs)| {
                load_s = Some(secs);
                let task = SolveTask {
                    cfg,
                    data,
                    recorder: &mut recorder,
                    u_step_delay: hooks.u_step_delay,
                };
                catch_panic(|| backend::dispatch(cfg.backend, task))
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .and_then(|inner| inner)
            });
        let resumed_wall = recorder.saver.as_ref().map_or(0.0, |s| s.resumed_wall);
        let mut summary = Summary {
            load_s,
            wall_s: Some(wall.elapsed().as_secs_f64() + resumed_wall),
            started_at: Some(started),
            peak_host_rss_bytes: backend::peak_host_memory_bytes().map(|b| b as i64),
            mem_estimate_bytes,
            device_mem_reserved_bytes: backend::device_memory_reserved_bytes(cfg.backend)
                .map(|b| b as i64),
            ..self.identity(run)
        };
        let reached = result.as_ref().ok().and_then(|s| s.reached);
        let network = result.as_ref().ok().and_then(|s| s.network.clone());
        fill_result(&mut summary, result, &recorder.rows, cfg);
        Outcome {
            summary,
            trace: recorder.rows,
            reached,
            network,
            standardization: self.standardization(),
        }
    }

    /// The summary's identity, provenance and configuration columns.
    pub(crate) fn identity(&self, run: &PlannedRun) -> Summary {
        let cfg = &run.config;
        let mut config = Vec::new();
        if let Ok(json) = serde_json::to_value(cfg) {
            flatten_json("config", &json, &mut config);
        }
        if let Some(admm) = cfg.solver.method.admm() {
            // The run id's serialization leaves out options that are off; the table has them.
            let prefix = "config.solver.admm";
            config.retain(|(k, _)| !k.starts_with(&format!("{prefix}.")));
            flatten_json(prefix, &admm_columns(admm), &mut config);
        }
        Summary {
            run_id: run.id.clone(),
            experiment: cfg.experiment.clone(),
            manifest: run.manifest.display().to_string(),
            data_path: data_location(&cfg.data),
            data_fingerprint: data::fingerprint(&cfg.data),
            solver: cfg.solver.method.kind().to_string(),
            backend: cfg.backend.to_string(),
            seed: cfg.seed as i64,
            n: Some(cfg.data.n_train as i64),
            target: TargetCrossing {
                target_train_acc: cfg.solver.stop.target_train_acc,
                ..TargetCrossing::default()
            },
            git_commit: self.provenance.commit.clone(),
            host: self.provenance.host.clone(),
            command: self.provenance.command.clone(),
            overrides: self.provenance.overrides.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            config,
            ..Summary::default()
        }
    }
}

/// Where a run's data comes from, for its summary: the resolved CIFAR-10 directory (`data.path`
/// or `$CIFAR10_DIR`, inside `cifar-10-batches-bin` when present) or its explicit files, the
/// `.npy` files, or `synthetic`; absolute paths, comma-separated.
pub fn data_location(cfg: &data::DataConfig) -> String {
    let cfg = &cfg.located();
    use data::DataSource;
    let abs = |p: &std::path::Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let list = |paths: Vec<&std::path::PathBuf>| {
        paths
            .into_iter()
            .map(|p| abs(p))
            .collect::<Vec<_>>()
            .join(",")
    };
    match cfg.source {
        DataSource::Synthetic => "synthetic".into(),
        DataSource::Npy => list(
            [&cfg.x, &cfg.y, &cfg.x_test, &cfg.y_test]
                .into_iter()
                .flatten()
                .collect(),
        ),
        DataSource::Cifar10 if !cfg.train_files.is_empty() => {
            list(cfg.train_files.iter().chain(&cfg.test_files).collect())
        }
        DataSource::Cifar10 => {
            let dir = cfg.path.clone().or_else(|| {
                std::env::var_os("CIFAR10_DIR")
                    .filter(|v| !v.is_empty())
                    .map(std::path::PathBuf::from)
            });
            match dir {
                Some(dir) => {
                    let nested = dir.join("cifar-10-batches-bin");
                    abs(if nested.is_dir() { &nested } else { &dir })
                }
                None => "(not set)".into(),
            }
        }
    }
}

/// Status, reason, shapes, times, final metrics and the target crossing from a solve.
pub(crate) fn fill_result(
    s: &mut Summary,
    result: Result<Solved, String>,
    rows: &[TraceRow],
    cfg: &RunConfig,
) {
    s.iterations = Some(rows.len() as i64);
    s.last = rows.last().map(final_metrics).unwrap_or_default();
    let solved = match result {
        Ok(solved) => solved,
        Err(why) => {
            s.status = Status::Failed;
            s.reason = Some(why);
            return;
        }
    };
    s.reason = solved.stop.failure();
    s.status = if s.reason.is_some() {
        Status::Failed
    } else {
        Status::Ok
    };
    s.stop_reason = Some(solved.stop.label().to_string());
    s.d = Some(solved.d as i64);
    s.p = Some(solved.p as i64);
    s.patterns_dropped = Some(solved.dropped as i64);
    s.times = phase_times(&solved.times);
    s.solve_s = Some(solved.times.total());
    if let Some(r) = solved.reached {
        s.target = TargetCrossing {
            target_train_acc: cfg.solver.stop.target_train_acc,
            iter: Some(r.iter as i64),
            total_s: Some(r.times.total()),
            times: phase_times(&r.times),
        };
    }
}

fn phase_times(t: &Times) -> PhaseTimes {
    PhaseTimes {
        precompute_s: Some(t.precompute),
        u_s: Some(t.u),
        v_s: Some(t.v),
        dual_s: Some(t.dual),
    }
}

fn final_metrics(r: &TraceRow) -> FinalMetrics {
    FinalMetrics {
        objective: Some(r.objective),
        train_loss: Some(r.train_loss),
        train_acc: Some(r.train_acc),
        train_acc_net: Some(r.train_acc_net),
        train_acc_u: Some(r.train_acc_u),
        test_loss: Some(r.test_loss),
        test_acc: Some(r.test_acc),
        cone_violation: Some(r.cone_violation),
        active_neurons: Some(r.active_neurons),
        primal_residual: Some(r.primal_residual),
        dual_residual: Some(r.dual_residual),
        lower_bound: Some(r.lower_bound),
        rel_gap: Some(r.rel_gap),
        rho_changes: Some(r.rho_changes),
    }
}

/// One line for the terminal: how the run ended, its final metrics and times.
pub fn describe(s: &Summary) -> String {
    if let (Status::Failed, Some(why)) = (s.status, &s.reason) {
        return why.clone();
    }
    let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
    let (m, t) = (&s.last, &s.times);
    let mut line = format!(
        "ok ({}), {} iters, train acc {:.4}, test acc {:.4}, objective {:.6e}, {:.2} s (pre {:.2}, u {:.2}, v {:.2}, dual {:.3})",
        s.stop_reason.as_deref().unwrap_or("-"),
        s.iterations.unwrap_or(0),
        v(m.train_acc),
        v(m.test_acc),
        v(m.objective),
        v(s.solve_s),
        v(t.precompute_s),
        v(t.u_s),
        v(t.v_s),
        v(t.dual_s)
    );
    if let (Some(goal), Some(secs)) = (s.target.target_train_acc, s.target.total_s) {
        line += &format!(", {:.0}% train acc at {:.2} s", goal * 100.0, secs);
    }
    line
}

/// Keeps every record as a trace row and passes it on to another observer, if any; with a
/// saver, it writes the checkpoints (the solver's state with these rows).
pub(crate) struct Recorder<'a> {
    pub(crate) rows: Vec<TraceRow>,
    pub(crate) also: Option<&'a mut dyn Observer>,
    pub(crate) saver: Option<Saver<'a>>,
}

impl Observer for Recorder<'_> {
    fn observe(&mut self, r: &IterRecord) {
        self.rows.push(TraceRow::from(r));
        if let Some(o) = self.also.as_deref_mut() {
            o.observe(r);
        }
    }

    fn checkpoint_due(&mut self, r: &IterRecord) -> bool {
        self.saver.as_mut().is_some_and(|s| s.due(r))
    }

    fn checkpoint(&mut self, state: &admm::Checkpoint) {
        if let Some(s) = self.saver.as_mut() {
            s.save(state, &self.rows);
        }
    }
}

/// The backend-independent result of one solve.
#[derive(Debug, Clone)]
pub(crate) struct Solved {
    pub(crate) stop: Stop,
    pub(crate) times: Times,
    pub(crate) reached: Option<IterRecord>,
    /// Features with the bias column, patterns kept, patterns dropped as duplicates.
    pub(crate) d: usize,
    pub(crate) p: usize,
    pub(crate) dropped: usize,
    /// The trained network.
    pub(crate) network: Option<Network>,
}

/// Builds the problem and runs the method on one backend.
struct SolveTask<'a, 'r> {
    cfg: &'a RunConfig,
    data: &'a Dataset,
    recorder: &'a mut Recorder<'r>,
    u_step_delay: Option<Duration>,
}

impl SolveTask<'_, '_> {
    /// The checkpoint to resume from and what the executor had done by then, if the sweep
    /// found one and it fits `prob`; one that does not is reported and dropped (the run
    /// starts from iteration 0). The rows it had written become the start of this run's trace.
    fn resume_point<B: Backend>(
        &mut self,
        prob: &Problem<B>,
    ) -> Option<(admm::Checkpoint, Executed)> {
        let saver = self.recorder.saver.as_mut()?;
        let saved = saver.resume.take()?;
        let path = saver.place.path.display();
        if let Err(why) = saved.state.check(prob) {
            (saver.say)(&format!(
                "warning: ignoring the checkpoint {path}: {why}; starting from iteration 0"
            ));
            return None;
        }
        let c = &saved.state.counters;
        (saver.say)(&format!(
            "resuming {} at iteration {} ({:.2} s) from {path}",
            saver.place.run_id,
            c.iterations,
            c.times.total()
        ));
        saver.resumed_wall = c.wall;
        let done = saved.executed(self.cfg.solver.stop.target_train_acc);
        self.recorder.rows = saved.rows;
        Some((saved.state, done))
    }
}

impl BackendTask for SolveTask<'_, '_> {
    type Output = Result<Solved, String>;

    fn run<B: Backend>(mut self, device: B::Device) -> Self::Output {
        let cfg = self.cfg;
        let rules = &cfg.solver.stop;
        match cfg.solver.method.algorithm() {
            Algorithm::Adam(opts) => {
                let outputs = cfg
                    .problem
                    .loss
                    .outputs(self.data.classes)
                    .map_err(|e| format!("problem.loss = {}: {e}", cfg.problem.loss.name()))?;
                let adam = AdamConfig::new(&opts, &cfg.problem.without_gates(), outputs, cfg.seed);
                let out =
                    adam::train::<Autodiff<B>>(self.data, &adam, rules, &device, self.recorder)
                        .map_err(|e| e.to_string())?;
                Ok(Solved {
                    stop: out.stop,
                    times: out.times,
                    reached: out.reached,
                    d: self.data.d + usize::from(cfg.problem.bias),
                    // P, as for ADMM (the width is in the config columns): figures group by it.
                    p: cfg.problem.patterns,
                    dropped: 0,
                    network: out.network,
                })
            }
            Algorithm::Admm(opts, spec) => {
                let prob = cfg
                    .problem
                    .build::<B>(self.data, cfg.seed, &device)
                    .map_err(|e| e.to_string())?;
                let mut usolver =
                    usolve::make_solver::<B>(&spec, cfg.seed).map_err(|e| e.to_string())?;
                if let Some(delay) = self.u_step_delay {
                    usolver = Box::new(usolve::Delayed::new(usolver, delay));
                }
                let resume = self.resume_point(&prob);
                // An interrupt from here on waits for this solve's checkpoint.
                let _solving = self.recorder.saver.as_ref().map(|saver| {
                    let from = resume.as_ref().map(|(state, _)| state.counters.iterations);
                    checkpoint::Solving::start(from.map(|k| (k, saver.place.path.clone())))
                });
                let out = match resume {
                    Some((state, done)) => {
                        let (usolver, rec) = (usolver.as_mut(), &mut *self.recorder);
                        admm::resume(&prob, &opts, rules, usolver, rec, &state, done)
                    }
                    None => admm::solve(&prob, &opts, rules, usolver.as_mut(), self.recorder),
                }
                .map_err(|e| e.to_string())?;
                Ok(Solved {
                    network: Some(Network::from_convex(
                        &out.v,
                        prob.c,
                        prob.loss,
                        cfg.problem.bias,
                    )),
                    stop: out.stop,
                    times: out.times,
                    reached: out.reached,
                    d: prob.d,
                    p: prob.p,
                    dropped: prob.patterns.dropped,
                })
            }
        }
    }
}

/// Runs `f`, turning a panic into an error naming its message.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|p| format!("panicked: {}", panic_text(&p)))
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Where, from what code and by what command a result came.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// The commit the binary was built from (build.rs), not the current directory's.
    pub commit: String,
    pub host: String,
    /// The command line, shell-quoted where needed.
    pub command: String,
    /// The overrides in effect, as a JSON list of `KEY=VALUE`: `--set` as typed, then the
    /// `ADMM_SET_*` environment variables.
    pub overrides: String,
}

impl Provenance {
    /// This process's provenance ("unknown" where not found).
    pub fn detect() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let commit = env!("ADMM_RUNNER_GIT_COMMIT").to_string();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_string())
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        Provenance {
            commit,
            host,
            command: command_line(&args),
            overrides: overrides(&args, std::env::vars()),
        }
    }
}

/// The arguments joined with spaces, each single-quoted when a shell would split or expand it.
fn command_line(args: &[String]) -> String {
    let plain = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    };
    let quoted: Vec<String> = args
        .iter()
        .map(|a| match plain(a) {
            true => a.clone(),
            false => format!("'{}'", a.replace('\'', "'\\''")),
        })
        .collect();
    quoted.join(" ")
}

/// `--set K=V` / `--set=K=V` values of `args`, then `ADMM_SET_*` variables, as a JSON list.
fn overrides(args: &[String], env: impl Iterator<Item = (String, String)>) -> String {
    let mut found = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--set" {
            found.extend(it.next().cloned());
        } else if let Some(v) = a.strip_prefix("--set=") {
            found.push(v.to_string());
        }
    }
    let mut vars: Vec<String> = env
        .filter(|(k, _)| k.starts_with(crate::manifest::ENV_PREFIX))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vars.sort();
    found.extend(vars);
    serde_json::to_string(&found).unwrap_or_default()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Every ADMM option, including those the run id's serialization leaves out because they are
/// off: the summary's `config.solver.admm.*` columns, so that a sweep over them has no empty
/// cells.
fn admm_columns(a: &admm_engine::AdmmOptions) -> serde_json::Value {
    serde_json::json!({
        "rho": a.rho,
        "gamma": a.gamma,
        "tol_abs": a.tol_abs,
        "tol_rel": a.tol_rel,
        "rho_rule": a.rho_rule,
        "rho_factor": a.rho_factor,
        "rho_interval": a.rho_interval,
        "alpha": a.alpha,
        "anderson": a.anderson,
        "tol_gap": a.tol_gap,
        "converged_gap": a.converged_gap,
        "finish_every": a.finish_every,
        "interior": a.interior,
    })
}
