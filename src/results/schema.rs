//! The Parquet schema: one typed record per table (`Summary`, `TraceRow`, `KappaTable`) and
//! the only place that names a column. Writers build records; readers (plots, regress, the
//! runner's resume check) get records back, so a renamed column is one edit here.

use super::row::Row;
use super::{column_f64, column_str, read, write_columns, Cell, ReadLimits, ResultsError, Values};
use admm_engine::executor::IterRecord;
use std::path::Path;

/// How a run ended, as the summary's `status` column records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    Ok,
    #[default]
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
        }
    }

    /// Any other text is `Failed`: only a run that says ok is finished well.
    pub fn parse(text: &str) -> Status {
        if text == "ok" {
            Status::Ok
        } else {
            Status::Failed
        }
    }
}

/// Cumulative seconds of the algorithm's phases (metric evaluation excluded).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PhaseTimes {
    pub precompute_s: Option<f64>,
    pub u_s: Option<f64>,
    pub v_s: Option<f64>,
    pub dual_s: Option<f64>,
}

/// The final quality of a run (the last trace row's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FinalMetrics {
    pub objective: Option<f64>,
    pub train_loss: Option<f64>,
    pub train_acc: Option<f64>,
    pub train_acc_net: Option<f64>,
    /// Train accuracy of u (`Metrics::train_acc_u`), the paper's measure.
    pub train_acc_u: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub cone_violation: Option<f64>,
    pub active_neurons: Option<i64>,
    pub primal_residual: Option<f64>,
    pub dual_residual: Option<f64>,
    /// The certified lower bound on the optimum and the relative gap to it (ADMM).
    pub lower_bound: Option<f64>,
    pub rel_gap: Option<f64>,
    /// How often the penalty rho changed.
    pub rho_changes: Option<i64>,
}

/// The first crossing of the target train accuracy (all None when never reached).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TargetCrossing {
    pub target_train_acc: Option<f64>,
    pub iter: Option<i64>,
    pub total_s: Option<f64>,
    pub times: PhaseTimes,
}

/// One run's summary: one row of `runs/<run-id>.parquet`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    pub run_id: String,
    pub experiment: String,
    pub manifest: String,
    /// Where the data came from: the resolved CIFAR-10 directory or files, the `.npy` files,
    /// or `synthetic` (empty when not known, e.g. older files).
    pub data_path: String,
    /// The data files' identity when the run was computed (`data::fingerprint`; None for
    /// synthetic data and older files): a run whose data changed since is not finished.
    pub data_fingerprint: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub stop_reason: Option<String>,
    pub solver: String,
    pub backend: String,
    pub seed: i64,
    pub n: Option<i64>,
    /// Features with the bias column.
    pub d: Option<i64>,
    /// Patterns kept.
    pub p: Option<i64>,
    pub patterns_dropped: Option<i64>,
    pub iterations: Option<i64>,
    pub load_s: Option<f64>,
    pub times: PhaseTimes,
    pub solve_s: Option<f64>,
    pub wall_s: Option<f64>,
    pub last: FinalMetrics,
    pub target: TargetCrossing,
    pub peak_host_rss_bytes: Option<i64>,
    /// The memory estimate the run was admitted (or refused) by (src/memory.rs).
    pub mem_estimate_bytes: Option<i64>,
    pub device_mem_reserved_bytes: Option<i64>,
    /// The commit the binary was built from.
    pub git_commit: String,
    pub host: String,
    pub version: String,
    /// The command line that ran it, and its overrides (`--set`, `ADMM_SET_*`) as a JSON list.
    pub command: String,
    pub overrides: String,
    pub started_at: Option<f64>,
    /// Accuracy on the validation split (regularization-path points only).
    pub val_acc: Option<f64>,
    /// The resolved configuration as `config.<dotted key>` cells (`show` reads them back for
    /// its setting columns).
    pub config: Vec<(String, Cell)>,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The row as named cells, in column order.
    fn cells(&self) -> Vec<(String, Cell)> {
        let s = |v: &str| Cell::Str(Some(v.to_string()));
        let (f, i) = (Cell::F64, Cell::I64);
        let (m, t) = (&self.last, &self.target);
        let mut row: Vec<(&str, Cell)> = vec![
            ("run_id", s(&self.run_id)),
            ("experiment", s(&self.experiment)),
            ("manifest", s(&self.manifest)),
            ("data_path", s(&self.data_path)),
            ("data_fingerprint", Cell::Str(self.data_fingerprint.clone())),
            ("status", s(self.status.as_str())),
            ("reason", Cell::Str(self.reason.clone())),
            ("stop_reason", Cell::Str(self.stop_reason.clone())),
            ("solver", s(&self.solver)),
            ("backend", s(&self.backend)),
            ("seed", i(Some(self.seed))),
            ("n", i(self.n)),
            ("d", i(self.d)),
            ("p", i(self.p)),
            ("patterns_dropped", i(self.patterns_dropped)),
            ("iterations", i(self.iterations)),
            ("load_s", f(self.load_s)),
        ];
        row.extend(phase_cells("", &self.times));
        row.extend([
            ("solve_s", f(self.solve_s)),
            ("wall_s", f(self.wall_s)),
            ("objective", f(m.objective)),
            ("train_loss", f(m.train_loss)),
            ("train_acc", f(m.train_acc)),
            ("train_acc_net", f(m.train_acc_net)),
            ("train_acc_u", f(m.train_acc_u)),
            ("test_loss", f(m.test_loss)),
            ("test_acc", f(m.test_acc)),
            ("cone_violation", f(m.cone_violation)),
            ("active_neurons", i(m.active_neurons)),
            ("primal_residual", f(m.primal_residual)),
            ("dual_residual", f(m.dual_residual)),
            ("lower_bound", f(m.lower_bound)),
            ("rel_gap", f(m.rel_gap)),
            ("rho_changes", i(m.rho_changes)),
            ("target_train_acc", f(t.target_train_acc)),
            ("target_iter", i(t.iter)),
            ("target_s", f(t.total_s)),
        ]);
        row.extend(phase_cells("target_", &t.times));
        row.extend([
            ("peak_host_rss_bytes", i(self.peak_host_rss_bytes)),
            ("mem_estimate_bytes", i(self.mem_estimate_bytes)),
            (
                "device_mem_reserved_bytes",
                i(self.device_mem_reserved_bytes),
            ),
            ("git_commit", s(&self.git_commit)),
            ("host", s(&self.host)),
            ("version", s(&self.version)),
            ("command", s(&self.command)),
            ("overrides", s(&self.overrides)),
            ("started_at", f(self.started_at)),
            ("val_acc", f(self.val_acc)),
        ]);
        let mut cells: Vec<(String, Cell)> =
            row.into_iter().map(|(k, c)| (k.to_string(), c)).collect();
        cells.extend(self.config.iter().cloned());
        cells
    }

    /// Writes the summary atomically.
    pub fn write(&self, path: &Path) -> Result<(), ResultsError> {
        let columns = self
            .cells()
            .into_iter()
            .map(|(name, cell)| (name, cell.into_values()))
            .collect();
        write_columns(path, columns)
    }

    /// Reads a summary back. Columns a file lacks are None (older files, hand-made ones);
    /// a summary without a `status` is an error naming the file.
    pub fn read(path: &Path) -> Result<Summary, ResultsError> {
        let df = read(path, &ReadLimits::SUMMARY)?;
        let c = Row(&df);
        let status = c.str("status").ok_or_else(|| ResultsError {
            path: path.to_path_buf(),
            reason: "summary has no `status`".into(),
        })?;
        Ok(Summary {
            run_id: c.str("run_id").unwrap_or_default(),
            experiment: c.str("experiment").unwrap_or_default(),
            manifest: c.str("manifest").unwrap_or_default(),
            data_path: c.str("data_path").unwrap_or_default(),
            data_fingerprint: c.str("data_fingerprint"),
            status: Status::parse(&status),
            reason: c.str("reason"),
            stop_reason: c.str("stop_reason"),
            solver: c.str("solver").unwrap_or_default(),
            backend: c.str("backend").unwrap_or_default(),
            seed: c.int("seed").unwrap_or_default(),
            n: c.int("n"),
            d: c.int("d"),
            p: c.int("p"),
            patterns_dropped: c.int("patterns_dropped"),
            iterations: c.int("iterations"),
            load_s: c.f64("load_s"),
            times: c.phases(""),
            solve_s: c.f64("solve_s"),
            wall_s: c.f64("wall_s"),
            last: c.final_metrics(),
            target: TargetCrossing {
                target_train_acc: c.f64("target_train_acc"),
                iter: c.int("target_iter"),
                total_s: c.f64("target_s"),
                times: c.phases("target_"),
            },
            peak_host_rss_bytes: c.int("peak_host_rss_bytes"),
            mem_estimate_bytes: c.int("mem_estimate_bytes"),
            device_mem_reserved_bytes: c.int("device_mem_reserved_bytes"),
            git_commit: c.str("git_commit").unwrap_or_default(),
            host: c.str("host").unwrap_or_default(),
            version: c.str("version").unwrap_or_default(),
            command: c.str("command").unwrap_or_default(),
            overrides: c.str("overrides").unwrap_or_default(),
            started_at: c.f64("started_at"),
            val_acc: c.f64("val_acc"),
            config: c.config(),
        })
    }
}

/// `<prefix>precompute_s`, `<prefix>u_s`, `<prefix>v_s`, `<prefix>dual_s`.
fn phase_cells(prefix: &str, t: &PhaseTimes) -> Vec<(&'static str, Cell)> {
    let names: [&'static str; 4] = if prefix.is_empty() {
        ["precompute_s", "u_s", "v_s", "dual_s"]
    } else {
        [
            "target_precompute_s",
            "target_u_s",
            "target_v_s",
            "target_dual_s",
        ]
    };
    let values = [t.precompute_s, t.u_s, t.v_s, t.dual_s];
    names
        .into_iter()
        .zip(values)
        .map(|(n, v)| (n, Cell::F64(v)))
        .collect()
}

/// One row of a trace (`trace/<run-id>.parquet`): one ADMM iteration or Adam epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TraceRow {
    pub iter: i64,
    /// Algorithm seconds: precompute + u + v + dual.
    pub elapsed_s: f64,
    /// Wall-clock seconds, metric evaluation included.
    pub wall_s: f64,
    pub precompute_s: f64,
    pub u_s: f64,
    pub v_s: f64,
    pub dual_s: f64,
    pub objective: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub train_acc_net: f64,
    /// Train accuracy of u, before the soft-threshold (NaN for Adam).
    pub train_acc_u: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub primal_residual: f64,
    pub dual_residual: f64,
    pub eps_primal: f64,
    pub eps_dual: f64,
    pub cone_violation: f64,
    pub active_neurons: i64,
    pub inner_iters: i64,
    pub inner_rel_residual: f64,
    pub rho: f64,
    /// Cumulative rho changes up to this iteration.
    pub rho_changes: i64,
    /// The certified lower bound on the optimum (NaN for Adam).
    pub lower_bound: f64,
    /// (objective - lower_bound) / |objective|.
    pub rel_gap: f64,
    /// Primal residual / the iterates' size (the gap certifies only where this is small).
    pub rel_primal: f64,
}

impl From<&IterRecord> for TraceRow {
    fn from(r: &IterRecord) -> Self {
        let m = &r.metrics;
        TraceRow {
            iter: r.iter as i64,
            elapsed_s: r.times.total(),
            wall_s: r.wall,
            precompute_s: r.times.precompute,
            u_s: r.times.u,
            v_s: r.times.v,
            dual_s: r.times.dual,
            objective: m.objective,
            train_loss: m.train_loss,
            train_acc: m.train_acc,
            train_acc_net: m.train_acc_net,
            train_acc_u: m.train_acc_u,
            test_loss: m.test_loss,
            test_acc: m.test_acc,
            primal_residual: r.primal_residual,
            dual_residual: r.dual_residual,
            eps_primal: r.eps_primal,
            eps_dual: r.eps_dual,
            cone_violation: m.cone_violation,
            active_neurons: m.active_neurons as i64,
            inner_iters: r.inner.iters as i64,
            inner_rel_residual: r.inner.rel_residual,
            rho: r.rho,
            rho_changes: r.rho_changes as i64,
            lower_bound: r.lower_bound,
            rel_gap: r.rel_gap,
            rel_primal: r.rel_primal,
        }
    }
}

/// A float column of the trace: its name and how to read it from a row and set it on one.
type FloatColumn = (&'static str, fn(&TraceRow) -> f64, fn(&mut TraceRow, f64));
/// An integer column of the trace, likewise.
type IntColumn = (&'static str, fn(&TraceRow) -> i64, fn(&mut TraceRow, i64));

/// The trace's integer columns (written first for `iter`, in this order).
const TRACE_INTS: [IntColumn; 4] = [
    ("iter", |r| r.iter, |r, v| r.iter = v),
    (
        "active_neurons",
        |r| r.active_neurons,
        |r, v| r.active_neurons = v,
    ),
    ("inner_iters", |r| r.inner_iters, |r, v| r.inner_iters = v),
    ("rho_changes", |r| r.rho_changes, |r, v| r.rho_changes = v),
];

/// The trace's float columns.
const TRACE_FLOATS: [FloatColumn; 23] = [
    ("elapsed_s", |r| r.elapsed_s, |r, v| r.elapsed_s = v),
    ("wall_s", |r| r.wall_s, |r, v| r.wall_s = v),
    (
        "precompute_s",
        |r| r.precompute_s,
        |r, v| r.precompute_s = v,
    ),
    ("u_s", |r| r.u_s, |r, v| r.u_s = v),
    ("v_s", |r| r.v_s, |r, v| r.v_s = v),
    ("dual_s", |r| r.dual_s, |r, v| r.dual_s = v),
    ("objective", |r| r.objective, |r, v| r.objective = v),
    ("train_loss", |r| r.train_loss, |r, v| r.train_loss = v),
    ("train_acc", |r| r.train_acc, |r, v| r.train_acc = v),
    (
        "train_acc_net",
        |r| r.train_acc_net,
        |r, v| r.train_acc_net = v,
    ),
    ("train_acc_u", |r| r.train_acc_u, |r, v| r.train_acc_u = v),
    ("test_loss", |r| r.test_loss, |r, v| r.test_loss = v),
    ("test_acc", |r| r.test_acc, |r, v| r.test_acc = v),
    (
        "primal_residual",
        |r| r.primal_residual,
        |r, v| r.primal_residual = v,
    ),
    (
        "dual_residual",
        |r| r.dual_residual,
        |r, v| r.dual_residual = v,
    ),
    ("eps_primal", |r| r.eps_primal, |r, v| r.eps_primal = v),
    ("eps_dual", |r| r.eps_dual, |r, v| r.eps_dual = v),
    (
        "cone_violation",
        |r| r.cone_violation,
        |r, v| r.cone_violation = v,
    ),
    (
        "inner_rel_residual",
        |r| r.inner_rel_residual,
        |r, v| r.inner_rel_residual = v,
    ),
    ("rho", |r| r.rho, |r, v| r.rho = v),
    ("lower_bound", |r| r.lower_bound, |r, v| r.lower_bound = v),
    ("rel_gap", |r| r.rel_gap, |r, v| r.rel_gap = v),
    ("rel_primal", |r| r.rel_primal, |r, v| r.rel_primal = v),
];

/// Trace columns a reader needs: a trace without them is not one of ours.
const TRACE_REQUIRED: [&str; 10] = [
    "iter",
    "elapsed_s",
    "precompute_s",
    "u_s",
    "v_s",
    "dual_s",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
];

/// Writes a run's trace atomically, one row per record.
pub fn write_trace(path: &Path, rows: &[TraceRow]) -> Result<(), ResultsError> {
    let staged = stage_trace(path, rows)?;
    staged.commit(path).map_err(|e| ResultsError {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A trace written to a temp file for `path`, not yet in place (`results::stage`): a
/// recomputation keeps the earlier trace until the new run is committed.
pub fn stage_trace(path: &Path, rows: &[TraceRow]) -> Result<super::safe::Staged, ResultsError> {
    let mut cols: Vec<(String, Values)> = TRACE_INTS
        .iter()
        .map(|(name, get, _)| {
            let v = rows.iter().map(|r| Some(get(r))).collect();
            (name.to_string(), Values::I64(v))
        })
        .collect();
    let floats = TRACE_FLOATS.iter().map(|(name, get, _)| {
        let v = rows.iter().map(|r| Some(get(r))).collect();
        (name.to_string(), Values::F64(v))
    });
    cols.extend(floats);
    super::stage_columns(path, cols)
}

/// Reads a trace back. Missing or null cells are NaN (0 for the integer columns), except that
/// the columns the figures need must be present.
pub fn read_trace(path: &Path) -> Result<Vec<TraceRow>, ResultsError> {
    let df = read(path, &ReadLimits::TRACE)?;
    if let Some(name) = TRACE_REQUIRED
        .iter()
        .find(|name| column_f64(&df, name).is_none())
    {
        return Err(ResultsError {
            path: path.to_path_buf(),
            reason: format!("trace has no numeric column `{name}`"),
        });
    }
    let mut rows = vec![TraceRow::default(); df.height()];
    for (name, _, set) in TRACE_INTS {
        for (row, v) in rows
            .iter_mut()
            .zip(column_f64(&df, name).unwrap_or_default())
        {
            set(row, v.map_or(0, |x| x as i64));
        }
    }
    for (name, _, set) in TRACE_FLOATS {
        let col = column_f64(&df, name).unwrap_or_else(|| vec![None; df.height()]);
        for (row, v) in rows.iter_mut().zip(col) {
            set(row, v.unwrap_or(f64::NAN));
        }
    }
    Ok(rows)
}

/// The trace's columns in the order of `trace_values`: its integer columns, then its floats.
pub fn trace_columns() -> Vec<&'static str> {
    let ints = TRACE_INTS.iter().map(|(name, _, _)| *name);
    ints.chain(TRACE_FLOATS.iter().map(|(name, _, _)| *name))
        .collect()
}

/// Trace rows as one row-major matrix of f64 (`trace_columns` wide; the integer columns are
/// far below 2^53, so exact): how a checkpoint keeps the rows of a run in progress.
pub fn trace_values(rows: &[TraceRow]) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows.len() * (TRACE_INTS.len() + TRACE_FLOATS.len()));
    for r in rows {
        out.extend(TRACE_INTS.iter().map(|(_, get, _)| get(r) as f64));
        out.extend(TRACE_FLOATS.iter().map(|(_, get, _)| get(r)));
    }
    out
}

/// The inverse of `trace_values` (None when `values` is not a whole number of rows).
pub fn trace_from_values(values: &[f64]) -> Option<Vec<TraceRow>> {
    let width = TRACE_INTS.len() + TRACE_FLOATS.len();
    if !values.len().is_multiple_of(width) {
        return None;
    }
    let rows = values.chunks_exact(width).map(|v| {
        let mut row = TraceRow::default();
        let (ints, floats) = v.split_at(TRACE_INTS.len());
        for ((_, _, set), x) in TRACE_INTS.iter().zip(ints) {
            set(&mut row, *x as i64);
        }
        for ((_, _, set), x) in TRACE_FLOATS.iter().zip(floats) {
            set(&mut row, *x);
        }
        row
    });
    Some(rows.collect())
}

/// One point of a regularization path: a row of `paths/<path-id>.parquet`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PathRow {
    /// 0 for the largest beta.
    pub index: i64,
    pub beta: f64,
    pub beta_max: f64,
    pub run_id: String,
    pub warm_start: bool,
    pub status: Status,
    pub iterations: i64,
    /// Algorithm seconds (precompute + u + v + dual) of this point.
    pub solve_s: f64,
    pub objective: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    pub test_acc: f64,
    pub active_neurons: i64,
    /// The point the validation accuracy picked.
    pub chosen: bool,
}

/// Writes a path table atomically, one row per beta.
pub fn write_path(path: &Path, rows: &[PathRow]) -> Result<(), ResultsError> {
    let f = |get: fn(&PathRow) -> f64| Values::F64(rows.iter().map(|r| Some(get(r))).collect());
    let i = |get: fn(&PathRow) -> i64| Values::I64(rows.iter().map(|r| Some(get(r))).collect());
    let cols = vec![
        ("index", i(|r| r.index)),
        ("beta", f(|r| r.beta)),
        ("beta_max", f(|r| r.beta_max)),
        (
            "run_id",
            Values::Str(rows.iter().map(|r| Some(r.run_id.clone())).collect()),
        ),
        (
            "warm_start",
            Values::Bool(rows.iter().map(|r| Some(r.warm_start)).collect()),
        ),
        (
            "status",
            Values::Str(
                rows.iter()
                    .map(|r| Some(r.status.as_str().into()))
                    .collect(),
            ),
        ),
        ("iterations", i(|r| r.iterations)),
        ("solve_s", f(|r| r.solve_s)),
        ("objective", f(|r| r.objective)),
        ("train_acc", f(|r| r.train_acc)),
        ("val_acc", f(|r| r.val_acc)),
        ("test_acc", f(|r| r.test_acc)),
        ("active_neurons", i(|r| r.active_neurons)),
        (
            "chosen",
            Values::Bool(rows.iter().map(|r| Some(r.chosen)).collect()),
        ),
    ];
    let cols = cols.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    write_columns(path, cols)
}

/// Reads a path table back; missing cells are NaN, 0, false or empty.
pub fn read_path(path: &Path) -> Result<Vec<PathRow>, ResultsError> {
    let df = read(path, &ReadLimits::TABLE)?;
    let num = |name: &str| column_f64(&df, name).unwrap_or_else(|| vec![None; df.height()]);
    let text = |name: &str| column_str(&df, name).unwrap_or_else(|| vec![None; df.height()]);
    let flag = |name: &str| -> Vec<bool> {
        df.column(name)
            .ok()
            .and_then(|c| c.as_materialized_series().bool().ok().cloned())
            .map(|ca| (0..ca.len()).map(|k| ca.get(k).unwrap_or(false)).collect())
            .unwrap_or_else(|| vec![false; df.height()])
    };
    let (index, beta, beta_max, iters) = (
        num("index"),
        num("beta"),
        num("beta_max"),
        num("iterations"),
    );
    let (solve, obj, train, val) = (
        num("solve_s"),
        num("objective"),
        num("train_acc"),
        num("val_acc"),
    );
    let (test, active, ids, status) = (
        num("test_acc"),
        num("active_neurons"),
        text("run_id"),
        text("status"),
    );
    let (warm, chosen) = (flag("warm_start"), flag("chosen"));
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    Ok((0..df.height())
        .map(|k| PathRow {
            index: index[k].unwrap_or(0.0) as i64,
            beta: nan(beta[k]),
            beta_max: nan(beta_max[k]),
            run_id: ids[k].clone().unwrap_or_default(),
            warm_start: warm[k],
            status: Status::parse(status[k].as_deref().unwrap_or("")),
            iterations: iters[k].unwrap_or(0.0) as i64,
            solve_s: nan(solve[k]),
            objective: nan(obj[k]),
            train_acc: nan(train[k]),
            val_acc: nan(val[k]),
            test_acc: nan(test[k]),
            active_neurons: active[k].unwrap_or(0.0) as i64,
            chosen: chosen[k],
        })
        .collect())
}

/// Figure 2's condition numbers (`kappa.parquet`): one row per Nystrom rank.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KappaTable {
    pub ranks: Vec<f64>,
    pub kappa_a: Vec<f64>,
    pub kappa_diag: Vec<f64>,
    /// The textbook Nystrom preconditioner, per rank.
    pub kappa_nys: Vec<f64>,
    /// The paper code's variant, when it was computed.
    pub kappa_nys_ref: Option<Vec<f64>>,
}

impl KappaTable {
    /// Writes the table atomically.
    pub fn write(&self, path: &Path) -> Result<(), ResultsError> {
        let floats = |v: &[f64]| Values::F64(v.iter().map(|&x| Some(x)).collect());
        let ranks = self.ranks.iter().map(|&r| Some(r as i64)).collect();
        let mut cols = vec![
            ("rank".to_string(), Values::I64(ranks)),
            ("kappa_nys".to_string(), floats(&self.kappa_nys)),
            ("kappa_a".to_string(), floats(&self.kappa_a)),
            ("kappa_diag".to_string(), floats(&self.kappa_diag)),
        ];
        if let Some(r) = &self.kappa_nys_ref {
            cols.push(("kappa_nys_ref".to_string(), floats(r)));
        }
        write_columns(path, cols)
    }

    /// Reads the table; null cells are NaN.
    pub fn read(path: &Path) -> Result<KappaTable, ResultsError> {
        let df = read(path, &ReadLimits::TABLE)?;
        let opt = |name: &str| {
            column_f64(&df, name).map(|v| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        };
        let col = |name: &str| {
            opt(name).ok_or_else(|| ResultsError {
                path: path.to_path_buf(),
                reason: format!("no numeric column `{name}`"),
            })
        };
        Ok(KappaTable {
            ranks: col("rank")?,
            kappa_a: col("kappa_a")?,
            kappa_diag: col("kappa_diag")?,
            kappa_nys: col("kappa_nys")?,
            kappa_nys_ref: opt("kappa_nys_ref"),
        })
    }
}
