//! Checkpoints: a long ADMM run saves its state (`admm::Checkpoint`: iterates, duals, rho,
//! the clocks, the u-solver's random stream) and its trace rows so far every minute or so, and
//! when an interrupt (Ctrl-C, SIGTERM, a preempted job) stops it; a rerun of the same sweep
//! goes on from there instead of from iteration 0, and its summary and trace are those of one
//! uninterrupted run. Adam runs do not checkpoint (they restart).
//!
//! One file per run, `<out>/<experiment>/checkpoints/<run-id>.safetensors`, written as every
//! result file is (a temp file created exclusively in a folder we own, renamed into place:
//! `results::stage`), so a crash leaves the previous checkpoint or the new one. Tensors: `u`,
//! `v`, `lambda`, `s`, `nu` (f32, as the solver holds them), `structure` (u8, the finish's
//! last structure, when there is one) and `trace` (f64, a row per iteration done,
//! `schema::trace_columns` wide). Metadata: `format`, `run_id`, `config` (a hash of the
//! resolved configuration and of the data files' fingerprint), `trace_columns` and
//! `counters` (JSON, `admm::checkpoint::Counters`).
//!
//! A checkpoint is used only when all of that matches this run and its sizes and values fit
//! the problem (`Checkpoint::check`); any other file (another configuration, truncated,
//! corrupt, hand-made) is ignored with a warning naming it, and the run starts from iteration
//! 0. The file is removed once the run's summary is written, and `--force` discards it.

use crate::data;
use crate::manifest::PlannedRun;
use crate::results::schema::{self, TraceRow};
use crate::results::{safe, stage, store};
use crate::run::memory;
use crate::run::model::{f32s, f64s, serialize, Buffer};
use admm_engine::admm::checkpoint::{Counters, Matrix};
use admm_engine::admm::Checkpoint;
use admm_engine::executor::{Executed, InnerStats, IterRecord, Times};
use admm_engine::metrics::Metrics;
use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The `format` metadata value of the files this version writes and reads.
pub const FORMAT: &str = "admm-runner-checkpoint/1";

/// Seconds of a run between two checkpoints (`ADMM_RUNNER_CHECKPOINT_S` overrides; 0 saves
/// after every iteration). A minute bounds what a preemption loses.
pub const EVERY_S: f64 = 60.0;

/// Writing must not cost more than a tenth of the run: the wait between checkpoints is at
/// least this many times the last write's duration (a large problem's state is large).
const WRITE_SHARE: f64 = 10.0;

/// An interrupt waits at most this long for the iteration in progress to end and its state to
/// be saved (a second signal stops waiting); Slurm's default grace after SIGTERM is 30 s.
pub const INTERRUPT_WAIT: Duration = Duration::from_secs(20);

/// Where a run's checkpoint lives and what it must say to be this run's.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub path: PathBuf,
    pub run_id: String,
    /// `config_hash` of the run.
    pub config: String,
}

impl Place {
    pub fn new(path: &Path, run: &PlannedRun) -> Self {
        Place {
            path: path.to_path_buf(),
            run_id: run.id.clone(),
            config: config_hash(run),
        }
    }
}

/// A hash of what the run computes: its resolved configuration (the run id covers only part
/// of it in its 8 hex digits), the data files' fingerprint (size and content sample: files
/// replaced since are another run) and this file format.
pub fn config_hash(run: &PlannedRun) -> String {
    use crate::data::fingerprint::{fnv1a64, FNV_OFFSET};
    let config = serde_json::to_string(&run.config).unwrap_or_default();
    let data = data::fingerprint(&run.config.data).unwrap_or_default();
    let parts: [&str; 4] = [FORMAT, &run.id, &config, &data];
    let h = parts.iter().fold(FNV_OFFSET, |h, part| {
        fnv1a64(&[0], fnv1a64(part.as_bytes(), h))
    });
    format!("{h:016x}")
}

/// A checkpoint read back: the solver's state and the trace rows it had written.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub state: Checkpoint,
    pub rows: Vec<TraceRow>,
}

impl Saved {
    /// What the executor had done: the steps, the last record and the first that reached the
    /// target train accuracy (`target`), as it would have them after these rows.
    pub fn executed(&self, target: Option<f64>) -> Executed {
        let reached = target.and_then(|t| self.rows.iter().find(|r| r.train_acc >= t));
        Executed {
            iterations: self.rows.len(),
            last: self.rows.last().map(record_of),
            reached: reached.map(record_of),
            ..Executed::start()
        }
    }
}

/// A trace row as the record it was made from (the feasible point's objective, which the
/// trace does not keep, as NaN: the stop rules read only what the trace has).
fn record_of(r: &TraceRow) -> IterRecord {
    IterRecord {
        iter: r.iter.max(0) as usize,
        times: Times {
            precompute: r.precompute_s,
            u: r.u_s,
            v: r.v_s,
            dual: r.dual_s,
        },
        wall: r.wall_s,
        metrics: Metrics {
            objective: r.objective,
            train_loss: r.train_loss,
            train_acc: r.train_acc,
            train_acc_net: r.train_acc_net,
            train_acc_u: r.train_acc_u,
            test_loss: r.test_loss,
            test_acc: r.test_acc,
            cone_violation: r.cone_violation,
            active_neurons: r.active_neurons.max(0) as usize,
        },
        primal_residual: r.primal_residual,
        dual_residual: r.dual_residual,
        eps_primal: r.eps_primal,
        eps_dual: r.eps_dual,
        inner: InnerStats {
            iters: r.inner_iters.max(0) as usize,
            rel_residual: r.inner_rel_residual,
        },
        rho: r.rho,
        lower_bound: r.lower_bound,
        upper_bound: f64::NAN,
        rel_gap: r.rel_gap,
        rel_primal: r.rel_primal,
        rho_changes: r.rho_changes.max(0) as usize,
    }
}

// ---------------------------------------------------------------------------------------
// Writing.

/// The checkpoint side of a run's recorder: when to save, and where. Owns the checkpoint the
/// run resumes from until the solve takes it.
pub struct Saver<'a> {
    pub place: Place,
    /// Seconds of the run (its trace's `wall_s`) between two checkpoints.
    every: f64,
    /// The run's seconds at the last checkpoint, and how long writing it took.
    last: f64,
    cost: f64,
    /// A write failed: said once, and the run goes on without checkpoints.
    broken: bool,
    /// Warnings and the resume notice, on the sweep's terminal.
    pub say: &'a dyn Fn(&str),
    /// The checkpoint to resume from, taken by the solve (`SolveTask`).
    pub resume: Option<Saved>,
    /// The wall-clock seconds of the interrupted process(es), once the solve resumed: the
    /// summary's `wall_s` counts them too.
    pub resumed_wall: f64,
}

impl<'a> Saver<'a> {
    pub fn new(place: Place, resume: Option<Saved>, say: &'a dyn Fn(&str)) -> Self {
        let every = std::env::var("ADMM_RUNNER_CHECKPOINT_S")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(EVERY_S);
        let last = resume
            .as_ref()
            .map_or(0.0, |s| s.state.counters.wall.max(0.0));
        Saver {
            place,
            every,
            last,
            cost: 0.0,
            broken: false,
            say,
            resume,
            resumed_wall: 0.0,
        }
    }

    /// Whether to save after `r`: an interrupt is waiting for it, or the interval is up.
    pub fn due(&mut self, r: &IterRecord) -> bool {
        if self.broken {
            return false;
        }
        requested() || r.wall - self.last >= self.every.max(WRITE_SHARE * self.cost)
    }

    /// Writes the checkpoint (`state` and the rows so far), then tells a waiting interrupt.
    pub fn save(&mut self, state: &Checkpoint, rows: &[TraceRow]) {
        let t = Instant::now();
        match write(&self.place, state, rows) {
            Ok(()) => {
                self.last = state.counters.wall;
                self.cost = t.elapsed().as_secs_f64();
                saved(state.counters.iterations, &self.place.path);
            }
            Err(why) => {
                self.broken = true;
                (self.say)(&format!(
                    "warning: could not write the checkpoint {}: {why}; the run goes on \
                     without checkpoints",
                    self.place.path.display()
                ));
            }
        }
    }
}

/// The checkpoint file's bytes, staged beside `place.path` and renamed into place; an
/// interrupt waits for the rename (`store::commit_section`).
fn write(place: &Place, state: &Checkpoint, rows: &[TraceRow]) -> Result<(), String> {
    let bytes = to_bytes(place, state, rows)?;
    let staged = stage(&place.path, |file| {
        use std::io::Write;
        file.write_all(&bytes).map_err(|e| e.to_string())
    })
    .map_err(|e| e.to_string())?;
    let _commit = store::commit_section();
    staged.commit(&place.path).map_err(|e| e.to_string())?;
    safe::sync_dir(safe::parent_dir(&place.path));
    Ok(())
}

fn to_bytes(place: &Place, state: &Checkpoint, rows: &[TraceRow]) -> Result<Vec<u8>, String> {
    let mut buffers: Vec<Buffer> = state
        .matrices()
        .into_iter()
        .map(|(name, m)| (name, Dtype::F32, vec![m.rows, m.cols], f32s(&m.data)))
        .collect();
    if let Some(flags) = &state.structure {
        let bytes = flags.iter().map(|&b| u8::from(b)).collect();
        buffers.push(("structure", Dtype::U8, vec![flags.len()], bytes));
    }
    let columns = schema::trace_columns();
    let trace = f64s(&schema::trace_values(rows));
    buffers.push(("trace", Dtype::F64, vec![rows.len(), columns.len()], trace));
    let counters = serde_json::to_string(&state.counters).map_err(|e| e.to_string())?;
    let meta: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("run_id", place.run_id.clone()),
        ("config", place.config.clone()),
        ("trace_columns", columns.join(",")),
        ("counters", counters),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    serialize(&buffers, meta)
}

/// Removes a run's checkpoint (its run finished, or `--force` discards it); a missing file
/// is fine.
pub fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("could not remove {}: {e}", path.display())),
    }
}

// ---------------------------------------------------------------------------------------
// Reading.

/// The checkpoint of `run` at `place`, when there is one this run may resume from. Ok(None):
/// no file. Err(why): a file that is not usable (another configuration, truncated, corrupt,
/// past the run's budget), which the caller reports and ignores.
pub fn load(place: &Place, run: &PlannedRun) -> Result<Option<Saved>, String> {
    match std::fs::symlink_metadata(&place.path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    // Never larger than the run's own memory: the state is part of it.
    let limit = memory::estimate(&run.config)
        .map_or(u64::MAX, |e| e.bytes())
        .max(64 << 20);
    let bytes = safe::read_regular(&place.path, limit).map_err(|e| format!("cannot read: {e}"))?;
    let saved = parse(&bytes, place)?;
    let max_iters = run.config.solver.stop.max_iters;
    if saved.state.counters.iterations >= max_iters {
        return Err(format!(
            "it is at iteration {}, not below the run's max_iters = {max_iters}",
            saved.state.counters.iterations
        ));
    }
    Ok(Some(saved))
}

/// The checkpoint in `bytes`, checked against `place` (format, run id, configuration) and
/// for its own consistency (shapes, a trace row per iteration done, numbered 1, 2, ...).
/// The sizes against the problem and the values are `Checkpoint::check`'s, once the problem
/// is built.
fn parse(bytes: &[u8], place: &Place) -> Result<Saved, String> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a checkpoint: {e}"))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("metadata has no `{key}`"))
    };
    let format = get("format")?;
    if format != FORMAT {
        return Err(format!(
            "format {format:?}: this version reads {FORMAT:?} only"
        ));
    }
    if get("run_id")? != place.run_id {
        return Err(format!("it is of run {:?}", get("run_id")?));
    }
    if get("config")? != place.config {
        return Err("it was made from another configuration or other data files".into());
    }
    let columns = schema::trace_columns().join(",");
    if get("trace_columns")? != columns {
        return Err("its trace has other columns than this version writes".into());
    }
    let counters: Counters =
        serde_json::from_str(get("counters")?).map_err(|e| format!("metadata `counters`: {e}"))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| format!("unreadable: {e}"))?;
    let matrix = |name: &str| -> Result<Matrix, String> {
        let t = tensors.tensor(name).map_err(|e| format!("`{name}`: {e}"))?;
        let (&[rows, cols], Dtype::F32) = (t.shape(), t.dtype()) else {
            return Err(format!(
                "`{name}` is {:?} of shape {:?}, expected F32 of two dimensions",
                t.dtype(),
                t.shape()
            ));
        };
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Matrix { rows, cols, data })
    };
    let structure = match tensors.tensor("structure") {
        Err(_) => None,
        Ok(t) if t.dtype() == Dtype::U8 && t.shape().len() == 1 => {
            if t.data().iter().any(|&b| b > 1) {
                return Err("`structure` has a flag other than 0 or 1".into());
            }
            Some(t.data().iter().map(|&b| b == 1).collect())
        }
        Ok(t) => {
            return Err(format!(
                "`structure` is {:?} of shape {:?}, expected U8 of one dimension",
                t.dtype(),
                t.shape()
            ))
        }
    };
    let rows = trace(&tensors, counters.iterations)?;
    let state = Checkpoint {
        counters,
        u: matrix("u")?,
        v: matrix("v")?,
        lambda: matrix("lambda")?,
        s: matrix("s")?,
        nu: matrix("nu")?,
        structure,
    };
    Ok(Saved { state, rows })
}

/// The `trace` tensor's rows: one per iteration done, numbered 1 to `iterations`.
fn trace(tensors: &SafeTensors, iterations: usize) -> Result<Vec<TraceRow>, String> {
    let t = tensors
        .tensor("trace")
        .map_err(|e| format!("`trace`: {e}"))?;
    let width = schema::trace_columns().len();
    if t.dtype() != Dtype::F64 || t.shape() != [iterations, width] {
        return Err(format!(
            "`trace` is {:?} of shape {:?}, expected F64 of [{iterations}, {width}] (a row \
             per iteration done)",
            t.dtype(),
            t.shape()
        ));
    }
    let values: Vec<f64> = t
        .data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect();
    let rows = schema::trace_from_values(&values).ok_or("`trace` is not whole rows")?;
    match rows.iter().zip(1..).find(|(r, i)| r.iter != *i) {
        Some((r, i)) => Err(format!("trace row {i} is numbered {}", r.iter)),
        None => Ok(rows),
    }
}

// ---------------------------------------------------------------------------------------
// Interrupts: the signal handler asks the solve in progress for a checkpoint and waits for
// it (at most `INTERRUPT_WAIT`), so that Ctrl-C loses nothing.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// No checkpointing solve is in progress.
    Idle,
    Solving,
    /// An interrupt asked for a checkpoint.
    Requested,
}

struct Shared {
    phase: Phase,
    /// The last checkpoint of the solve in progress: its iteration and file.
    last: Option<(usize, PathBuf)>,
}

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    phase: Phase::Idle,
    last: None,
});
static CHANGED: Condvar = Condvar::new();

fn shared() -> std::sync::MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Marks a checkpointing solve in progress until dropped (also on a panic).
pub struct Solving(());

impl Solving {
    /// `from`: the checkpoint (iteration, file) the solve resumes from, if any: until it
    /// writes its own, that one is what a rerun resumes from.
    pub fn start(from: Option<(usize, PathBuf)>) -> Self {
        let mut s = shared();
        s.phase = Phase::Solving;
        s.last = from;
        Solving(())
    }
}

impl Drop for Solving {
    fn drop(&mut self) {
        let mut s = shared();
        s.phase = Phase::Idle;
        s.last = None;
        CHANGED.notify_all();
    }
}

fn requested() -> bool {
    shared().phase == Phase::Requested
}

fn saved(iteration: usize, path: &Path) {
    let mut s = shared();
    s.last = Some((iteration, path.to_path_buf()));
    if s.phase == Phase::Requested {
        s.phase = Phase::Solving;
        CHANGED.notify_all();
    }
}

/// For the signal handler: asks the solve in progress (if any) for a checkpoint after its
/// current iteration and waits for it, until `give_up` says so (a second signal) or
/// `INTERRUPT_WAIT` passes. Returns the run's last checkpoint (iteration, file), if any.
pub fn on_interrupt(give_up: &mut dyn FnMut() -> bool) -> Option<(usize, PathBuf)> {
    let deadline = Instant::now() + INTERRUPT_WAIT;
    let mut s = shared();
    if s.phase != Phase::Solving {
        return s.last.clone();
    }
    s.phase = Phase::Requested;
    eprintln!(
        "interrupt: saving a checkpoint after the current iteration (a second Ctrl-C quits \
         at once)"
    );
    while s.phase == Phase::Requested && Instant::now() < deadline && !give_up() {
        s = CHANGED
            .wait_timeout(s, Duration::from_millis(50))
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    s.last.clone()
}
