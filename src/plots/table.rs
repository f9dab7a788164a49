//! Table 1: seconds to the target train accuracy per solver and backend, split into
//! precomputation, u, v and dual updates, as Markdown, CSV and LaTeX. Times come from the
//! traces (the first row whose train accuracy reaches the target); a run that never reached it
//! shows as such, never as a number. With `plot.paper`, the paper's own rows appear beside ours,
//! labelled as the paper's.

use super::data::{seconds_when, time_to_target, Loaded, RunResult, TargetTime, Trace};
use super::labels::{short, solver_label};
use super::render::{with_ext, write_atomic};
use super::{Context, FigError};
use crate::manifest::{PlannedRun, SolverKind};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One row of the paper's Table 1 (Feng, Shah, Abraham): seconds to 97% train accuracy,
/// CIFAR-10 two classes, n=10000, d=3072, P=50, on the authors' hardware.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperRow {
    /// Our solver name, for placing the row beside ours.
    pub solver: SolverKind,
    pub method: &'static str,
    pub device: &'static str,
    pub total_s: f64,
    /// Precomputation, u, v, dual; None where the paper gives n/a.
    pub split: Option<[f64; 4]>,
}

/// The paper's Table 1, verbatim.
pub const PAPER_TABLE1: [PaperRow; 5] = [
    PaperRow {
        solver: SolverKind::NysPcg,
        method: "nysPCG",
        device: "GPU",
        total_s: 39.484,
        split: Some([16.321, 23.119, 0.043, 0.001]),
    },
    PaperRow {
        solver: SolverKind::Rbcd,
        method: "RBCD",
        device: "GPU",
        total_s: 23.502,
        split: Some([0.000, 23.136, 0.361, 0.005]),
    },
    PaperRow {
        solver: SolverKind::Rbcd,
        method: "RBCD",
        device: "JAX-GPU",
        total_s: 16.243,
        split: Some([0.000, 16.118, 0.125, 0.000]),
    },
    PaperRow {
        solver: SolverKind::Rbcd,
        method: "RBCD",
        device: "CPU",
        total_s: 185.896,
        split: Some([0.523, 181.689, 3.663, 0.020]),
    },
    PaperRow {
        solver: SolverKind::Adam,
        method: "Adam",
        device: "GPU",
        total_s: 55.129,
        split: None,
    },
];

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
/// Test accuracy of the companion table.
pub const TEST_TARGET: f64 = 0.85;
/// A trace row counts for the reference objective and for suboptimality only when its
/// relative primal residual is below this: an infeasible v can have any objective.
const FEASIBLE: f64 = 1e-3;

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
    let mut groups: Vec<(SolverKind, String)> = Vec::new();
    for r in planned {
        let key = (r.config.solver.method.kind(), r.config.backend.to_string());
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    let refs = references(planned, loaded, reference);
    let mut out = Vec::new();
    let mut paper_done = vec![false; PAPER_TABLE1.len()];
    for (gi, (solver, backend)) in groups.iter().enumerate() {
        let plan: Vec<&PlannedRun> = planned
            .iter()
            .filter(|r| {
                r.config.solver.method.kind() == *solver && r.config.backend.to_string() == *backend
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
        out.push(row);
        let last_of_solver = !groups[gi + 1..].iter().any(|(s, _)| s == solver);
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
        method: solver_label(solver).to_string(),
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

/// "97%" for 0.97.
fn percent(t: f64) -> String {
    let p = t * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{:.0}%", p)
    } else {
        format!("{p}%")
    }
}

/// The text of the time cells in Markdown and LaTeX: numbers, or why there are none.
fn cells(row: &Row) -> [String; 6] {
    let f = |x: f64| {
        if x != 0.0 && x.abs() < 5e-4 {
            format!("{x:.2e}")
        } else {
            format!("{x:.3}")
        }
    };
    match (row.status, row.total_s) {
        (Status::Reached | Status::Paper, Some(total)) => {
            let split = row
                .split
                .map(|s| s.map(f))
                .unwrap_or_else(|| std::array::from_fn(|_| "n/a".to_string()));
            [
                row.iter
                    .map(|i| format!("{i:.1}").trim_end_matches(".0").to_string())
                    .unwrap_or_else(|| "–".into()),
                f(total),
                split[0].clone(),
                split[1].clone(),
                split[2].clone(),
                split[3].clone(),
            ]
        }
        (status, _) => {
            let dash = || "–".to_string();
            [
                dash(),
                status.label().to_string(),
                dash(),
                dash(),
                dash(),
                dash(),
            ]
        }
    }
}

const HEADER: [&str; 11] = [
    "Source",
    "Method",
    "Backend",
    "Iter.",
    "Total (s)",
    "Precomp. (s)",
    "u updates (s)",
    "v updates (s)",
    "dual updates (s)",
    "Test acc.",
    "Note",
];

/// The test accuracy cell: the mean at the target, or a dash.
fn test_cell(row: &Row) -> String {
    row.test_acc
        .map_or_else(|| "–".to_string(), |a| format!("{a:.4}"))
}

fn target_of(rows: &[Row]) -> String {
    rows.iter()
        .find(|r| r.source == "ours")
        .and_then(|r| r.target)
        .map(percent)
        .unwrap_or_else(|| "target".into())
}

const FOOTNOTE: &str = "Times are cumulative solver seconds (precomputation + u + v + dual) at the first iteration whose train accuracy reaches the target (ADMM: the convex model sign(Fv); Adam: the network, per epoch); data loading and metric evaluation are excluded. A run that never reached the target is shown as such, not as a number.";

/// The Markdown table.
pub fn markdown(title: &str, setting: &str, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {title}\n");
    let _ = writeln!(
        s,
        "Seconds to {} train accuracy. {setting}.\n",
        target_of(rows)
    );
    let _ = writeln!(s, "| {} |", HEADER.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        ["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"]
            .map(|a| format!("{a}|"))
            .concat()
    );
    for r in rows {
        let c = cells(r);
        let total = if r.status == Status::Reached || r.status == Status::Paper {
            c[1].clone()
        } else {
            format!("**{}**", c[1])
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            if r.source == "paper" { "paper" } else { "ours" },
            r.method,
            r.backend,
            c[0],
            total,
            c[2],
            c[3],
            c[4],
            c[5],
            test_cell(r),
            md_escape(&short(&r.note, 160))
        );
    }
    let _ = writeln!(s, "\n{FOOTNOTE}");
    companion_markdown(&mut s, rows);
    if rows.iter().any(|r| r.source == "paper") {
        let _ = writeln!(
            s,
            "\nRows marked `paper` are the values the paper reports (Feng, Shah, Abraham, Table 1: n=10000, d=3072, P=50, their hardware), shown for comparison; they were not measured here."
        );
    }
    s
}

/// The companion table: the paper's train accuracy (of u) beside ours, and the quality-aware
/// measures.
fn companion_markdown(s: &mut String, rows: &[Row]) {
    let ours: Vec<&Row> = rows.iter().filter(|r| r.source == "ours").collect();
    if ours.is_empty() {
        return;
    }
    let target = target_of(rows);
    let _ = writeln!(
        s,
        "\n## Companion: the paper's measure and quality-aware measures\n"
    );
    let _ = writeln!(
        s,
        "| Method | Backend | to {target} train (v, ours) (s) | to {target} train (u, paper's) (s) | to rel. subopt. 1e-2 (s) | to 1e-3 (s) | to test {TEST_TARGET} (s) | reference objective | best lower bound |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let secs = |x: Option<f64>| x.map_or_else(|| "not reached".to_string(), |v| format!("{v:.3}"));
    let num = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |v| format!("{v:.6e}"));
    for r in ours {
        if r.status == Status::NoResults {
            let _ = writeln!(s, "| {} | {} | no results |||||||", r.method, r.backend);
            continue;
        }
        let adam = r.solver == SolverKind::Adam.to_string();
        let admm_only = |x: Option<f64>| {
            if adam {
                "n/a".to_string()
            } else {
                secs(x)
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.method,
            r.backend,
            secs(r.total_s.filter(|_| r.status == Status::Reached)),
            admm_only(r.also.u_total_s),
            admm_only(r.also.subopt_s[0]),
            admm_only(r.also.subopt_s[1]),
            secs(r.also.test_s),
            if adam {
                "n/a".into()
            } else {
                num(r.also.reference)
            },
            if adam {
                "n/a".into()
            } else {
                num(r.also.reference_bound)
            },
        );
    }
    let _ = writeln!(
        s,
        "\nThe paper and the authors' code count train accuracy on u (sign(F u), the copy before the group soft-threshold); ours counts v, the model, so the u column is the like-for-like one against the paper. Suboptimality is (objective - reference) / |reference| at the first iteration whose relative primal residual is at most {FEASIBLE:e}; the reference is the lowest objective that any ADMM run of the same problem (data, settings, seed) in this table, or in the manifest named by `plot.reference`, reached at such an iterate, and the best lower bound is the largest certified bound any of them proved (so the reference is within their difference of the optimum); a dash means no run of the problem reached such an iterate (runs that stop at the train-accuracy target rarely do), so suboptimality cannot be measured there. Adam solves a different (non-convex) problem: n/a."
    );
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The CSV table: full-precision numbers (empty where there are none) and a status column.
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "source,solver,method,backend,status,seeds_reached,seeds_planned,target_train_acc,iter,total_s,precompute_s,u_s,v_s,dual_s,test_acc,u_total_s,subopt_1e-2_s,subopt_1e-3_s,test_085_s,reference_objective,reference_lower_bound,note\n",
    );
    let num = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        let split = r.split.map(|a| a.map(Some)).unwrap_or([None; 4]);
        let fields = [
            r.source.to_string(),
            r.solver.clone(),
            r.method.clone(),
            r.backend.clone(),
            r.status.label().to_string(),
            if r.source == "ours" {
                r.reached.to_string()
            } else {
                String::new()
            },
            if r.source == "ours" {
                r.planned.to_string()
            } else {
                String::new()
            },
            num(r.target),
            num(r.iter),
            num(r.total_s),
            num(split[0]),
            num(split[1]),
            num(split[2]),
            num(split[3]),
            num(r.test_acc),
            num(r.also.u_total_s),
            num(r.also.subopt_s[0]),
            num(r.also.subopt_s[1]),
            num(r.also.test_s),
            num(r.also.reference),
            num(r.also.reference_bound),
            r.note.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    s
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// The LaTeX table (booktabs).
pub fn latex(title: &str, setting: &str, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "% {title} (generated by admm-runner plot; needs \\usepackage{{booktabs}})"
    );
    let _ = writeln!(s, "\\begin{{table}}[t]");
    let _ = writeln!(s, "\\centering");
    let _ = writeln!(
        s,
        "\\caption{{Seconds to {} train accuracy. {}. Rows marked ``paper'' are the paper's reported values, not measured here. A run that never reached the target is shown as such.}}",
        tex(&target_of(rows)),
        tex(setting)
    );
    let _ = writeln!(s, "\\begin{{tabular}}{{lllrrrrrrrl}}");
    let _ = writeln!(s, "\\toprule");
    let _ = writeln!(
        s,
        "{} \\\\",
        HEADER
            .iter()
            .map(|h| tex(h))
            .collect::<Vec<_>>()
            .join(" & ")
    );
    let _ = writeln!(s, "\\midrule");
    for r in rows {
        let c = cells(r);
        let total = if r.status == Status::Reached || r.status == Status::Paper {
            c[1].clone()
        } else {
            format!("\\textit{{{}}}", tex(&c[1]))
        };
        let _ = writeln!(
            s,
            "{} & {} & {} & {} & {} & {} & {} & {} & {} & {} & {} \\\\",
            r.source,
            tex(&r.method),
            tex(&r.backend),
            tex(&c[0]),
            total,
            tex(&c[2]),
            tex(&c[3]),
            tex(&c[4]),
            tex(&c[5]),
            tex(&test_cell(r)),
            tex(&short(&r.note, 70))
        );
    }
    let _ = writeln!(s, "\\bottomrule");
    let _ = writeln!(s, "\\end{{tabular}}");
    let _ = writeln!(s, "\\end{{table}}");
    s
}

fn tex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '–' => out.push_str("--"),
            _ => out.push(ch),
        }
    }
    out
}

pub(crate) fn render(
    ctx: &Context,
    loaded: &Loaded,
    planned: &[PlannedRun],
    stem: &Path,
) -> Result<Vec<PathBuf>, FigError> {
    if planned
        .iter()
        .all(|p| p.config.solver.stop.target_train_acc.is_none())
    {
        return Err(FigError::Empty(
            "no run sets solver.target_train_acc, so there is no time to target".into(),
        ));
    }
    let rows = rows_with_reference(planned, loaded, ctx.plot.paper, ctx.reference.as_ref());
    let title = ctx.title("time to target train accuracy");
    let outputs = [
        ("md", markdown(&title, &ctx.setting, &rows)),
        ("csv", csv(&rows)),
        ("tex", latex(&title, &ctx.setting, &rows)),
    ];
    let mut files = Vec::new();
    for (ext, text) in outputs {
        let path = with_ext(stem, ext);
        write_atomic(&path, |f| {
            use std::io::Write;
            f.write_all(text.as_bytes()).map_err(|e| e.to_string())
        })?;
        files.push(path);
    }
    Ok(files)
}
