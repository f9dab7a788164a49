//! Reading a manifest's results back from Parquet: summaries, traces, and the derived numbers
//! the figures need (seed means and bands, time to the target accuracy).

use crate::manifest::{PlannedRun, PlotX, SolverKind};
use crate::results::schema::{self, Summary};
use crate::results::{ResultsError, RunPaths};
use admm_engine::executor::Stop;
use std::path::Path;

/// One run's trace: a row per ADMM iteration (Adam: per epoch). Missing or null cells are NaN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub iter: Vec<f64>,
    /// Cumulative solver seconds: precompute + u + v + dual.
    pub elapsed_s: Vec<f64>,
    pub precompute_s: Vec<f64>,
    pub u_s: Vec<f64>,
    pub v_s: Vec<f64>,
    pub dual_s: Vec<f64>,
    pub train_loss: Vec<f64>,
    pub train_acc: Vec<f64>,
    pub test_loss: Vec<f64>,
    pub test_acc: Vec<f64>,
    /// Train accuracy of u (the paper's measure; NaN for Adam and older traces).
    pub train_acc_u: Vec<f64>,
    /// Objective, certified lower bound and relative primal residual (ADMM; NaN otherwise).
    pub objective: Vec<f64>,
    pub lower_bound: Vec<f64>,
    pub rel_primal: Vec<f64>,
}

impl Trace {
    pub fn len(&self) -> usize {
        self.iter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.iter.is_empty()
    }

    /// Reads a trace file into the columns the figures use.
    pub fn read(path: &Path) -> Result<Trace, ResultsError> {
        let rows = schema::read_trace(path)?;
        let col = |get: fn(&schema::TraceRow) -> f64| rows.iter().map(get).collect();
        Ok(Trace {
            iter: col(|r| r.iter as f64),
            elapsed_s: col(|r| r.elapsed_s),
            precompute_s: col(|r| r.precompute_s),
            u_s: col(|r| r.u_s),
            v_s: col(|r| r.v_s),
            dual_s: col(|r| r.dual_s),
            train_loss: col(|r| r.train_loss),
            train_acc: col(|r| r.train_acc),
            test_loss: col(|r| r.test_loss),
            test_acc: col(|r| r.test_acc),
            train_acc_u: col(|r| r.train_acc_u),
            objective: col(|r| r.objective),
            lower_bound: col(|r| r.lower_bound),
            rel_primal: col(|r| r.rel_primal),
        })
    }

    /// A metric column by name.
    pub fn metric(&self, m: Metric) -> &[f64] {
        match m {
            Metric::TrainLoss => &self.train_loss,
            Metric::TrainAcc => &self.train_acc,
            Metric::TestLoss => &self.test_loss,
            Metric::TestAcc => &self.test_acc,
        }
    }

    /// The x coordinate of each row.
    pub fn x(&self, x: PlotX) -> &[f64] {
        match x {
            PlotX::Iter => &self.iter,
            PlotX::Seconds => &self.elapsed_s,
        }
    }
}

/// The four metrics of the curve panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    TrainLoss,
    TrainAcc,
    TestLoss,
    TestAcc,
}

/// When (and at what cost) a run first reached the target train accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetTime {
    /// The iteration (Adam: epoch) at which `train_acc >= target` first held.
    pub iter: f64,
    /// Cumulative solver seconds at that row, and their split.
    pub total_s: f64,
    pub precompute_s: f64,
    pub u_s: f64,
    pub v_s: f64,
    pub dual_s: f64,
    /// Test accuracy at that row (NaN where the trace has none).
    pub test_acc: f64,
}

/// The first row whose train accuracy reaches `target` (NaN never does), with the cumulative
/// times of that row; None when no row does.
pub fn time_to_target(trace: &Trace, target: f64) -> Option<TargetTime> {
    first_row(trace, trace.train_acc.iter().map(|&a| a >= target))
}

/// The cumulative solver seconds at the first row where `hit` holds.
pub fn seconds_when(trace: &Trace, hit: impl Iterator<Item = bool>) -> Option<f64> {
    first_row(trace, hit).map(|t| t.total_s)
}

/// The first row (in trace order) where `hit` holds, with its times.
fn first_row(trace: &Trace, mut hit: impl Iterator<Item = bool>) -> Option<TargetTime> {
    let k = hit.position(|h| h)?;
    Some(TargetTime {
        iter: trace.iter[k],
        total_s: trace.elapsed_s[k],
        precompute_s: trace.precompute_s[k],
        u_s: trace.u_s[k],
        v_s: trace.v_s[k],
        dual_s: trace.dual_s[k],
        test_acc: trace.test_acc.get(k).copied().unwrap_or(f64::NAN),
    })
}

/// A finished run (its summary exists) and its trace, if one was written.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub id: String,
    pub solver: SolverKind,
    pub backend: String,
    /// The training loss (`problem.loss`): curves draw one line per loss when runs differ.
    pub loss: admm_engine::loss::Loss,
    pub seed: u64,
    /// The values of the plot's grouping keys (`rho=0.1, beta=0.001`; empty when none): runs
    /// that differ here are different lines.
    pub setting: String,
    pub status: schema::Status,
    pub reason: Option<String>,
    pub stop_reason: Option<String>,
    /// Iterations done (from the summary).
    pub iterations: f64,
    /// Totals of the whole run (NaN when the summary has none).
    pub precompute_s: f64,
    pub u_s: f64,
    pub v_s: f64,
    pub dual_s: f64,
    pub trace: Option<Trace>,
}

impl RunResult {
    pub fn ok(&self) -> bool {
        self.status == schema::Status::Ok
    }

    /// Stopped by its time limit: failed, but its trace is valid as far as it goes.
    pub fn time_limited(&self) -> bool {
        self.stop_reason.as_deref() == Some(Stop::TimeLimit(0.0).label())
    }
}

/// The planned runs' results, in plan order, and the ids of those without results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    pub runs: Vec<RunResult>,
    pub missing: Vec<String>,
    /// Ok runs whose summary records iterations but whose trace file is missing: drawn
    /// without curves, and said so.
    pub lost_traces: Vec<String>,
}

impl Loaded {
    /// One line per failed run: "run <id> failed: <reason>".
    pub fn failed_notes(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|r| !r.ok())
            .map(|r| {
                format!(
                    "run {} failed: {}",
                    r.id,
                    r.reason.as_deref().unwrap_or("no reason recorded")
                )
            })
            .collect()
    }

    /// The distinct (solver, backend) groups, in first-seen order.
    pub fn groups(&self) -> Vec<(SolverKind, String)> {
        let mut out: Vec<(SolverKind, String)> = Vec::new();
        for r in &self.runs {
            let g = (r.solver, r.backend.clone());
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// Labels each run with its values of the grouping keys `keys` (`RunResult::setting`).
    pub fn label_settings(&mut self, planned: &[PlannedRun], keys: &[String]) {
        for r in &mut self.runs {
            let Some(run) = planned.iter().find(|p| p.id == r.id) else {
                continue;
            };
            let own = crate::manifest::settings(&run.config);
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    let short = k.rsplit('.').next().unwrap_or(k);
                    let value = own.get(k).map_or("-", String::as_str);
                    format!("{short}={value}")
                })
                .collect();
            r.setting = parts.join(", ");
        }
    }

    /// The distinct (solver, backend, loss, setting) groups, in first-seen order: one line
    /// each, averaged over seeds only.
    pub fn loss_groups(&self) -> Vec<(SolverKind, String, admm_engine::loss::Loss, String)> {
        let mut out = Vec::new();
        for r in &self.runs {
            let g = (r.solver, r.backend.clone(), r.loss, r.setting.clone());
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// Distinct values of `key` over the runs, in first-seen order.
    pub fn distinct(&self, key: impl Fn(&RunResult) -> String) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.runs {
            let k = key(r);
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }
}

/// Reads every planned run's summary (and trace) under `results`; a run without a summary is
/// listed as missing; an unreadable file is an error naming it.
pub fn load(runs: &[PlannedRun], results_dir: &Path) -> Result<Loaded, ResultsError> {
    let mut out = Loaded::default();
    for run in runs {
        let paths = RunPaths::new(results_dir, &run.config.experiment, &run.id);
        if !paths.summary.is_file() {
            out.missing.push(run.id.clone());
            continue;
        }
        let summary = Summary::read(&paths.summary)?;
        let trace = if paths.trace.is_file() {
            Some(Trace::read(&paths.trace)?)
        } else {
            if summary.ok() && summary.iterations.is_some_and(|n| n > 0) {
                out.lost_traces.push(paths.trace.display().to_string());
            }
            None
        };
        let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
        out.runs.push(RunResult {
            id: run.id.clone(),
            solver: run.config.solver.method.kind(),
            backend: run.config.backend.to_string(),
            loss: run.config.problem.loss,
            seed: run.config.seed,
            setting: String::new(),
            status: summary.status,
            reason: summary.reason,
            stop_reason: summary.stop_reason,
            iterations: summary.iterations.map_or(f64::NAN, |i| i as f64),
            precompute_s: v(summary.times.precompute_s),
            u_s: v(summary.times.u_s),
            v_s: v(summary.times.v_s),
            dual_s: v(summary.times.dual_s),
            trace,
        });
    }
    Ok(out)
}

/// Keys that are lines of their own already (method, backend, loss) or are averaged over (the
/// seeds), never grouping keys.
const NOT_GROUPING: [&str; 6] = [
    "experiment",
    "solver.name",
    "backend",
    "problem.loss",
    "seed",
    "data.seed",
];

/// The keys that separate curve lines: `group_by` when given (checked: every key the runs
/// vary, seeds aside, must be in it, or a line would average different settings), else every
/// varied key but the seeds. The error says which keys are missing or unknown.
pub fn grouping_keys(
    runs: &[PlannedRun],
    group_by: Option<&[String]>,
) -> Result<Vec<String>, String> {
    let all: Vec<_> = runs
        .iter()
        .map(|r| crate::manifest::settings(&r.config))
        .collect();
    let varied: Vec<String> = crate::manifest::varied_keys(&all)
        .into_iter()
        .filter(|k| !NOT_GROUPING.contains(&k.as_str()))
        .collect();
    let Some(given) = group_by else {
        return Ok(varied);
    };
    if let Some(unknown) = given
        .iter()
        .find(|k| !all.iter().any(|s| s.contains_key(*k)))
    {
        return Err(format!(
            "plot.group_by: `{unknown}` is no resolved key of these runs (`admm-runner plan \
             --config RUN_ID` lists them)"
        ));
    }
    let left_out: Vec<&String> = varied.iter().filter(|k| !given.contains(k)).collect();
    if !left_out.is_empty() {
        let names: Vec<&str> = left_out.iter().map(|k| k.as_str()).collect();
        return Err(format!(
            "plot.group_by leaves out {}, which these runs vary: a line would average over \
             different settings; add them, or select runs with --set",
            names.join(", ")
        ));
    }
    Ok(given.to_vec())
}

/// Mean and min-max band over seeds, per iteration index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Band {
    pub x: Vec<f64>,
    pub mean: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

impl Band {
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// Aggregates a metric over traces row by row (row k of each trace is iteration k+1): x is the
/// mean x of the traces that have a finite value at that row, the line their mean, the band
/// their min and max. Rows where no trace has a finite value are left out.
pub fn band(traces: &[&Trace], metric: Metric, x: PlotX) -> Band {
    let rows = traces.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut b = Band::default();
    for k in 0..rows {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for t in traces {
            let (Some(&xv), Some(&yv)) = (t.x(x).get(k), t.metric(metric).get(k)) else {
                continue;
            };
            if xv.is_finite() && yv.is_finite() {
                xs.push(xv);
                ys.push(yv);
            }
        }
        if ys.is_empty() {
            continue;
        }
        let n = ys.len() as f64;
        b.x.push(xs.iter().sum::<f64>() / n);
        b.mean.push(ys.iter().sum::<f64>() / n);
        b.lo.push(ys.iter().copied().fold(f64::INFINITY, f64::min));
        b.hi.push(ys.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
    b
}
