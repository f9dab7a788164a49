//! Table 1 written out: Markdown (with the companion table), CSV with full precision, and
//! LaTeX (booktabs).

use super::rows::{Row, Status, FEASIBLE, TEST_TARGET};
use crate::manifest::SolverKind;
use crate::plots::labels::short;
use std::fmt::Write as _;

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
