//! Table 1's rows from the results: per (solver, backend), the seeds' mean seconds to the
//! target split by phase, why a row has no number, and the companion measures (the paper's
//! u-accuracy, suboptimality against a reference objective, seconds to test accuracy).

use super::paper::{PaperRow, PAPER_TABLE1};
use crate::manifest::{PlannedRun, SolverKind};
use crate::plots::data::{seconds_when, time_to_target, Loaded, RunResult, TargetTime, Trace};
use std::collections::HashMap;

/// What a row reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every planned seed reached the target: the times are their mean.
    Reached,
    /// Some seed finished without reaching it.
    NotReached,
    /// Some seed failed (error, time limit, divergence) without reaching it.
    Failed,
    /// No seed has results.
    NoResults,
    /// The paper's own number.
    Paper,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Reached => "reached",
            Status::NotReached => "not reached",
            Status::Failed => "failed",
            Status::NoResults => "no results",
            Status::Paper => "paper",
        }
    }
}

/// One table row: ours (a solver and backend, seeds averaged) or the paper's.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// "ours" or "paper".
    pub source: &'static str,
    pub solver: String,
    pub method: String,
    pub backend: String,
    pub status: Status,
    /// Seeds that reached the target, and planned seeds (ours only).
    pub reached: usize,
    pub planned: usize,
    pub target: Option<f64>,
    /// Mean iteration (Adam: epoch) of the first crossing.
    pub iter: Option<f64>,
    /// Total, precomputation, u, v, dual (the split None where unknown).
    pub total_s: Option<f64>,
    pub split: Option<[f64; 4]>,
    /// Mean test accuracy at the first crossing (ours only): speed is not bought with it.
    pub test_acc: Option<f64>,
    pub note: String,
    /// The companion measures (ours only): each the seeds' mean seconds, None where some seed
    /// never got there.
    pub also: Companion,
}

/// The companion table's measures of one row: the paper's train accuracy (of u), and the
/// quality-aware ones that do not reward fitting the training set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Companion {
    /// Seconds to the target train accuracy of u (sign(F u), before the soft-threshold): the
    /// paper's and the authors' code's measure.
    pub u_total_s: Option<f64>,
    /// Seconds to relative suboptimality `SUBOPT_LEVELS` against the reference objective.
    pub subopt_s: [Option<f64>; 2],
    /// Seconds to test accuracy `TEST_TARGET`.
    pub test_s: Option<f64>,
    /// The reference objective (mean over seeds) and the best certified lower bound on it.
    pub reference: Option<f64>,
    pub reference_bound: Option<f64>,
}

/// Relative suboptimality levels of the companion table.
pub const SUBOPT_LEVELS: [f64; 2] = [1e-2, 1e-3];
pub use crate::results::TEST_TARGET;
/// A trace row counts for the reference objective and for suboptimality only when its
/// relative primal residual is below this: an infeasible v can have any objective.
pub(super) const FEASIBLE: f64 = 1e-3;

/// The reference objective of each run's problem: the lowest objective any ADMM run of the
/// same problem (data, problem settings and seed, so the same patterns) reached at a nearly
/// feasible iterate, with the best certified lower bound any of them proved. Keyed by run id.
fn references(
    planned: &[PlannedRun],
    loaded: &Loaded,
    reference: Option<&(Vec<PlannedRun>, Loaded)>,
) -> HashMap<String, (f64, f64)> {
    let key = |p: &PlannedRun| {
        let c = &p.config;
        format!(
            "{}|{}|{}",
            serde_json::to_string(&c.data).unwrap_or_default(),
            serde_json::to_string(&c.problem).unwrap_or_default(),
            c.seed
        )
    };
    let mut best: HashMap<String, (f64, f64)> = HashMap::new();
    let sources =
        std::iter::once((planned, loaded)).chain(reference.map(|(p, l)| (p.as_slice(), l)));
    for (p, t) in sources.flat_map(|(planned, loaded)| {
        planned.iter().filter_map(move |p| {
            let t = loaded.runs.iter().find(|r| r.id == p.id)?.trace.as_ref()?;
            Some((p, t))
        })
    }) {
        if p.config.solver.method.kind() == SolverKind::Adam {
            continue;
        }
        let e = best
            .entry(key(p))
            .or_insert((f64::INFINITY, f64::NEG_INFINITY));
        for k in 0..t.len() {
            if t.rel_primal[k] <= FEASIBLE && t.objective[k].is_finite() {
                e.0 = e.0.min(t.objective[k]);
            }
            if t.lower_bound[k].is_finite() {
                e.1 = e.1.max(t.lower_bound[k]);
            }
        }
    }
    planned
        .iter()
        .filter_map(|p| {
            let r = best.get(&key(p)).copied()?;
            r.0.is_finite().then(|| (p.id.clone(), r))
        })
        .collect()
}

/// The companion measures of one group's runs (ids and traces), each the seeds' mean where
/// every seed got there.
fn companion(
    results: &[&RunResult],
    refs: &HashMap<String, (f64, f64)>,
    target: Option<f64>,
    planned: usize,
) -> Companion {
    let mean = |each: &dyn Fn(&RunResult, &Trace) -> Option<f64>| {
        let got: Vec<f64> = results
            .iter()
            .filter_map(|r| r.trace.as_ref().and_then(|t| each(r, t)))
            .collect();
        (got.len() == planned && planned > 0).then(|| got.iter().sum::<f64>() / got.len() as f64)
    };
    let subopt = |level: f64| {
        mean(&|r, t| {
            let (reference, _) = *refs.get(&r.id)?;
            let hit = (0..t.len()).map(|k| {
                t.rel_primal[k] <= FEASIBLE
                    && (t.objective[k] - reference) / reference.abs() <= level
            });
            seconds_when(t, hit)
        })
    };
    Companion {
        u_total_s: target.and_then(|goal| {
            mean(&|_, t| seconds_when(t, t.train_acc_u.iter().map(|&a| a >= goal)))
        }),
        subopt_s: SUBOPT_LEVELS.map(subopt),
        test_s: mean(&|_, t| seconds_when(t, t.test_acc.iter().map(|&a| a >= TEST_TARGET))),
        reference: mean(&|r, _| refs.get(&r.id).map(|x| x.0)),
        reference_bound: mean(&|r, _| refs.get(&r.id).map(|x| x.1).filter(|b| b.is_finite())),
    }
}

/// The rows: ours per (solver, backend) in plan order, each solver's paper rows after its own
/// when `paper`, and the paper's rows for solvers we did not run at the end.
pub fn rows(planned: &[PlannedRun], loaded: &Loaded, paper: bool) -> Vec<Row> {
    rows_with_reference(planned, loaded, paper, None)
}

/// `rows`, with the reference objectives also taken from `reference`'s runs
/// (`plot.reference`).
pub fn rows_with_reference(
    planned: &[PlannedRun],
    loaded: &Loaded,
    paper: bool,
    reference: Option<&(Vec<PlannedRun>, Loaded)>,
) -> Vec<Row> {
    // A row per (solver, backend, setting of the keys the runs vary, seeds aside), as curve
    // lines are grouped: a row averages seeds only, never different settings.
    let mut keys = crate::plots::data::grouping_keys(planned, None).unwrap_or_default();
    // Curves give each loss its own line apart from the keys; a row must too.
    if planned
        .iter()
        .any(|r| r.config.problem.loss != planned[0].config.problem.loss)
    {
        keys.push("problem.loss".into());
    }
    let setting = |r: &PlannedRun| {
        let own = crate::manifest::settings(&r.config);
        let parts: Vec<String> = keys
            .iter()
            .map(|k| {
                let short = k.rsplit('.').next().unwrap_or(k);
                format!("{short}={}", own.get(k).map_or("-", String::as_str))
            })
            .collect();
        parts.join(", ")
    };
    let mut groups: Vec<(SolverKind, String, String)> = Vec::new();
    for r in planned {
        let key = (
            r.config.solver.method.kind(),
            r.config.backend.to_string(),
            setting(r),
        );
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    let refs = references(planned, loaded, reference);
    let mut out = Vec::new();
    let mut paper_done = vec![false; PAPER_TABLE1.len()];
    for (gi, (solver, backend, set)) in groups.iter().enumerate() {
        let plan: Vec<&PlannedRun> = planned
            .iter()
            .filter(|r| {
                r.config.solver.method.kind() == *solver
                    && r.config.backend.to_string() == *backend
                    && setting(r) == *set
            })
            .collect();
        let results: Vec<&RunResult> = plan
            .iter()
            .filter_map(|p| loaded.runs.iter().find(|r| r.id == p.id))
            .collect();
        let target = plan
            .iter()
            .find_map(|p| p.config.solver.stop.target_train_acc);
        let mut row = our_row(*solver, backend, plan.len(), &results, target);
        row.also = companion(&results, &refs, target, plan.len());
        // The setting names the row only where another row of the method would read the same.
        let twins = groups
            .iter()
            .filter(|(s, b, _)| s == solver && b == backend)
            .count();
        if twins > 1 {
            row.method = format!("{}, {set}", row.method);
        }
        out.push(row);
        let last_of_solver = !groups[gi + 1..].iter().any(|(s, _, _)| s == solver);
        if paper && last_of_solver {
            for (k, p) in PAPER_TABLE1.iter().enumerate() {
                if p.solver == *solver && !paper_done[k] {
                    out.push(paper_row(p));
                    paper_done[k] = true;
                }
            }
        }
    }
    if paper {
        for (k, p) in PAPER_TABLE1.iter().enumerate() {
            if !paper_done[k] {
                out.push(paper_row(p));
            }
        }
    }
    out
}

/// Our row for one (solver, backend) group from the results of its `planned` seeds.
fn our_row(
    solver: SolverKind,
    backend: &str,
    planned: usize,
    results: &[&RunResult],
    target: Option<f64>,
) -> Row {
    let mut row = Row {
        source: "ours",
        solver: solver.to_string(),
        method: solver.label().to_string(),
        backend: backend.to_string(),
        status: Status::NoResults,
        reached: 0,
        planned,
        target,
        iter: None,
        total_s: None,
        split: None,
        test_acc: None,
        note: String::new(),
        also: Companion::default(),
    };
    let Some(target) = target else {
        row.status = Status::NotReached;
        row.note = "no solver.target_train_acc in the manifest".into();
        return row;
    };
    if results.is_empty() {
        row.note = "no results yet: run the manifest".into();
        return row;
    }
    let hits: Vec<(&RunResult, Option<TargetTime>)> = results
        .iter()
        .map(|r| (*r, r.trace.as_ref().and_then(|t| time_to_target(t, target))))
        .collect();
    let reached: Vec<TargetTime> = hits.iter().filter_map(|(_, t)| *t).collect();
    row.reached = reached.len();
    let notes = if reached.len() == planned {
        fill_reached(&mut row, &reached, solver)
    } else {
        fill_not_reached(&mut row, &hits, results.len())
    };
    row.note = notes.join("; ");
    row
}

/// Every planned seed reached the target: the row's numbers are the seeds' means. Returns the
/// row's notes.
fn fill_reached(row: &mut Row, reached: &[TargetTime], solver: SolverKind) -> Vec<String> {
    let planned = row.planned;
    let n = reached.len() as f64;
    let mean = |f: &dyn Fn(&TargetTime) -> f64| reached.iter().map(f).sum::<f64>() / n;
    row.status = Status::Reached;
    row.iter = Some(mean(&|t| t.iter));
    row.total_s = Some(mean(&|t| t.total_s));
    row.split = Some([
        mean(&|t| t.precompute_s),
        mean(&|t| t.u_s),
        mean(&|t| t.v_s),
        mean(&|t| t.dual_s),
    ]);
    row.test_acc = Some(mean(&|t| t.test_acc)).filter(|a| a.is_finite());
    let mut notes = Vec::new();
    if planned > 1 {
        notes.push(format!("mean of {planned} seeds"));
    }
    if solver == SolverKind::Adam {
        notes.push("u = training, precomp. = data upload; iterations are epochs".into());
    }
    notes
}

/// Some planned seed did not reach the target (or has no results): the row shows why instead
/// of a number, and its notes say how far the runs got. `with_results` of the planned seeds
/// have results. Returns the row's notes.
fn fill_not_reached(
    row: &mut Row,
    hits: &[(&RunResult, Option<TargetTime>)],
    with_results: usize,
) -> Vec<String> {
    let planned = row.planned;
    let failed = hits
        .iter()
        .find(|(r, t)| t.is_none() && !r.ok())
        .map(|(r, _)| *r);
    row.status = if failed.is_some() {
        Status::Failed
    } else if with_results < planned && hits.iter().all(|(_, t)| t.is_some()) {
        Status::NoResults
    } else {
        Status::NotReached
    };
    let mut notes = why_not_reached(failed, hits);
    if planned > 1 {
        notes.push(format!("{} of {planned} seeds reached it", row.reached));
    }
    if with_results < planned {
        notes.push(format!(
            "{} seed(s) without results",
            planned - with_results
        ));
    }
    notes
}

/// The note on the first seed that did not reach the target: a failed run's reason and its
/// best train accuracy, or else where a finished run stopped and its best train accuracy.
fn why_not_reached(
    failed: Option<&RunResult>,
    hits: &[(&RunResult, Option<TargetTime>)],
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(r) = failed {
        notes.push(format!(
            "failed: {}",
            r.reason.as_deref().unwrap_or("no reason recorded")
        ));
        if let Some(b) = best_train_acc(r).filter(|b| b.is_finite()) {
            notes.push(format!(
                "best train acc {b:.4} in {:.0} iterations",
                r.iterations
            ));
        }
    } else if let Some((r, _)) = hits.iter().find(|(_, t)| t.is_none()) {
        notes.push(format!(
            "stopped ({}) after {:.0} iterations, best train acc {:.4}",
            r.stop_reason.as_deref().unwrap_or("unknown"),
            r.iterations,
            best_train_acc(r).unwrap_or(f64::NAN)
        ));
    }
    notes
}

/// The run's best finite train accuracy (NaN when it has none); `None` without a trace.
fn best_train_acc(r: &RunResult) -> Option<f64> {
    r.trace.as_ref().map(|t| {
        t.train_acc
            .iter()
            .copied()
            .filter(|a| a.is_finite())
            .fold(f64::NAN, f64::max)
    })
}

/// A row of the paper's table, labelled as the paper's.
fn paper_row(p: &PaperRow) -> Row {
    Row {
        source: "paper",
        solver: p.solver.to_string(),
        method: format!("{} (paper)", p.method),
        backend: p.device.to_string(),
        status: Status::Paper,
        reached: 0,
        planned: 0,
        target: Some(0.97),
        iter: None,
        total_s: Some(p.total_s),
        split: p.split,
        test_acc: None,
        note: "Feng, Shah, Abraham, Table 1 (their hardware)".into(),
        also: Companion::default(),
    }
}
