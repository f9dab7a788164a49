//! Comparing a measurement with its baseline: the tolerances, one report row per metric of a
//! run, the suite-wide time row, and the report's table and summary.

use super::baseline::Entry;
use std::fmt::Write as _;
use std::path::PathBuf;

/// How far a metric may move for the worse before it counts as a regression.
///
/// Chosen from measured spread (README, "Regression (CI)"): on one machine repeated runs are
/// bit-identical, so the tolerances only need to absorb floating-point differences between
/// machines and builds. They sit at or below the seed-to-seed spread of the suite's runs
/// (seeds 0-4, standard deviation: train accuracy 0-0.006, test accuracy 0.003-0.04,
/// objective 3.8%-90%): a change that moves a number by this much is visible, and only one
/// that reseeding could also explain would need a closer look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Largest allowed drop of the final train accuracy (absolute).
    pub train_acc: f64,
    /// Largest allowed drop of the final test accuracy (absolute).
    pub test_acc: f64,
    /// Largest allowed rise of the final objective, relative to the baseline.
    pub objective_rel: f64,
    /// Extra iterations to the target allowed: max(`target_iters_abs`, `target_iters_rel` x baseline).
    pub target_iters_abs: usize,
    /// The relative part of the extra iterations allowed (see `target_iters_abs`).
    pub target_iters_rel: f64,
    /// One run's normalized time above baseline x this factor is a slowdown.
    pub time_factor: f64,
    /// The geometric mean of the runs' time factors above this is a slowdown of the suite
    /// (checked when at least `SUITE_MIN_RUNS` runs are timed): noise of single runs averages
    /// out in it, so it can be much tighter than `time_factor`.
    pub suite_time_factor: f64,
}

/// Timed runs needed for the suite-wide time check: over fewer, a mean is as noisy as one run.
pub const SUITE_MIN_RUNS: usize = 4;

impl Default for Tolerances {
    /// The tolerances chosen from the measured spread (see the type's documentation).
    fn default() -> Self {
        Tolerances {
            train_acc: 0.01,
            test_acc: 0.02,
            objective_rel: 0.02,
            target_iters_abs: 2,
            target_iters_rel: 0.2,
            time_factor: 3.0,
            suite_time_factor: 1.5,
        }
    }
}

impl Tolerances {
    /// Extra iterations to the target allowed over a baseline of `base`: an absolute floor,
    /// so that a run reaching its target in a few iterations is not flagged for one more.
    fn extra_iters(&self, base: u64) -> u64 {
        (self.target_iters_abs as u64).max((self.target_iters_rel * base as f64).ceil() as u64)
    }
}

/// The verdict of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the tolerance.
    Ok,
    /// Better than the baseline beyond the tolerance (consider --update).
    Better,
    /// Faster than the baseline beyond the time factor (consider --update).
    Faster,
    /// Not compared (e.g. both values absent, or timings from another build profile).
    Skipped,
    /// Worse than the baseline beyond the tolerance.
    Worse,
    /// Slower than the baseline beyond the time factor.
    Slower,
    /// The run failed.
    Failed,
    /// No baseline entry for this run.
    New,
    /// A baseline entry whose run is no longer in the suite.
    Missing,
}

impl Verdict {
    /// Whether this verdict fails `regress` (a run without a baseline entry, or a baseline
    /// entry without its run, too: the baseline must cover the suite exactly).
    pub fn is_regression(self) -> bool {
        matches!(
            self,
            Verdict::Worse | Verdict::Slower | Verdict::Failed | Verdict::New | Verdict::Missing
        )
    }

    /// The verdict column's text: regressions in capitals, to stand out in the table.
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Better => "better",
            Verdict::Faster => "faster",
            Verdict::Skipped => "skipped",
            Verdict::Worse => "WORSE",
            Verdict::Slower => "SLOWER",
            Verdict::Failed => "FAILED",
            Verdict::New => "NEW",
            Verdict::Missing => "MISSING",
        }
    }
}

/// One line of the report: a metric of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The run's regression key (`regress::key`), or "suite (N runs)" for the suite row.
    pub key: String,
    /// What is compared: run, status, train_acc, test_acc, objective, target_iter, time,
    /// time_geomean.
    pub metric: &'static str,
    /// The baseline's value, formatted.
    pub baseline: String,
    /// The measured value, formatted.
    pub now: String,
    /// The change from the baseline, formatted ("-" when there is none to show).
    pub delta: String,
    /// The allowed change, e.g. ">= -0.0100".
    pub limit: String,
    /// What the change amounts to.
    pub verdict: Verdict,
}

/// Everything one `regress` invocation found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The table's rows, in run order, then the suite row and missing runs.
    pub rows: Vec<Row>,
    /// Remarks (changed configurations, skipped timings, nondeterministic repetitions).
    pub notes: Vec<String>,
    /// The file written with --update (the rows then compare with the replaced baseline and
    /// fail nothing).
    pub written: Option<PathBuf>,
}

/// The table's column headers.
const HEAD: [&str; 7] = [
    "run", "metric", "baseline", "now", "delta", "limit", "verdict",
];

impl Report {
    /// The rows that fail `regress`.
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict.is_regression())
            .collect()
    }

    /// The table: run, metric, baseline, now, delta, limit, verdict; then notes and a summary.
    pub fn table(&self) -> String {
        let cells: Vec<[&str; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.key.as_str(),
                    r.metric,
                    &r.baseline,
                    &r.now,
                    &r.delta,
                    &r.limit,
                    r.verdict.label(),
                ]
            })
            .collect();
        let width = column_widths(&cells);
        let mut s = String::new();
        table_line(&mut s, &HEAD, &width);
        for row in &cells {
            table_line(&mut s, row, &width);
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// One line per regression, for the end of the output.
    pub fn summary(&self) -> String {
        let bad = self.regressions();
        if let Some(file) = &self.written {
            return format!(
                "regress --update: {} written; {} of {} checks differed from the replaced baseline",
                file.display(),
                bad.len(),
                self.rows.len()
            );
        }
        if bad.is_empty() {
            return format!("regress: {} checks, no regression", self.rows.len());
        }
        let mut s = format!(
            "regress: {} of {} checks REGRESSED:\n",
            bad.len(),
            self.rows.len()
        );
        for r in bad {
            let _ = writeln!(
                s,
                "  {} {}: {} (baseline {}, now {}, limit {})",
                r.key,
                r.metric,
                r.verdict.label(),
                r.baseline,
                r.now,
                r.limit
            );
        }
        s
    }
}

/// The width of each table column: its widest cell or header, so that the columns line up.
fn column_widths(cells: &[[&str; 7]]) -> [usize; 7] {
    let mut width = HEAD.map(str::len);
    for row in cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    width
}

/// Appends one table line: text columns left-aligned, numbers right-aligned, the verdict
/// unpadded (it is last).
fn table_line(s: &mut String, row: &[&str; 7], width: &[usize; 7]) {
    let _ = writeln!(
        s,
        "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {:<w5$}  {}",
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        w0 = width[0],
        w1 = width[1],
        w2 = width[2],
        w3 = width[3],
        w4 = width[4],
        w5 = width[5],
    );
}

/// The rows of one run: status, accuracies, objective, iterations to target, time.
///
/// A run without a baseline entry, or one that failed, gets a single row: its metrics have
/// nothing to be compared with, or are absent.
pub(super) fn compare(
    key: &str,
    base: Option<&Entry>,
    now: &Entry,
    tol: &Tolerances,
    time_comparable: bool,
) -> Vec<Row> {
    let Some(base) = base else {
        return vec![new_row(key, now)];
    };
    if now.status != crate::results::Status::Ok.as_str() {
        return vec![failed_row(key, base, now)];
    }
    let mut rows = accuracy_rows(key, base, now, tol);
    rows.push(objective_row(key, base, now, tol));
    rows.push(target_iter_row(key, base, now, tol));
    rows.push(time_row(key, base, now, tol, time_comparable));
    rows
}

/// A row of the run `key`: one place that spells out the fields, for the per-metric functions.
fn row(
    key: &str,
    metric: &'static str,
    baseline: String,
    now: String,
    delta: String,
    limit: String,
    verdict: Verdict,
) -> Row {
    Row {
        key: key.to_string(),
        metric,
        baseline,
        now,
        delta,
        limit,
        verdict,
    }
}

/// The row of a run without a baseline entry: a new run must be accepted with --update, so
/// that the baseline covers the suite.
fn new_row(key: &str, now: &Entry) -> Row {
    row(
        key,
        "run",
        "absent".into(),
        now.status.clone(),
        "-".into(),
        "a baseline entry (--update)".into(),
        Verdict::New,
    )
}

/// The row of a run that failed: its metrics are absent or meaningless.
fn failed_row(key: &str, base: &Entry, now: &Entry) -> Row {
    row(
        key,
        "status",
        base.status.clone(),
        format!("failed: {}", now.reason.as_deref().unwrap_or("no reason")),
        "-".into(),
        crate::results::Status::Ok.as_str().into(),
        Verdict::Failed,
    )
}

/// The train and test accuracy rows: each may drop by at most its absolute tolerance.
fn accuracy_rows(key: &str, base: &Entry, now: &Entry, tol: &Tolerances) -> Vec<Row> {
    [
        ("train_acc", base.train_acc, now.train_acc, tol.train_acc),
        ("test_acc", base.test_acc, now.test_acc, tol.test_acc),
    ]
    .into_iter()
    .map(|(metric, b, n, drop)| accuracy_row(key, metric, b, n, drop))
    .collect()
}

/// One accuracy row; a value that disappeared or became NaN is worse, one that appeared is
/// better.
fn accuracy_row(key: &str, metric: &'static str, b: Option<f64>, n: Option<f64>, drop: f64) -> Row {
    let (delta, verdict) = match (b, n) {
        (Some(b), Some(n)) if n.is_finite() => {
            let d = n - b;
            let v = if d < -drop - 1e-12 {
                Verdict::Worse
            } else if d > drop {
                Verdict::Better
            } else {
                Verdict::Ok
            };
            (format!("{d:+.4}"), v)
        }
        (None, None) => ("-".into(), Verdict::Skipped),
        (_, None) => ("-".into(), Verdict::Worse),
        (None, Some(_)) => ("-".into(), Verdict::Better),
        (Some(_), Some(_)) => ("NaN".into(), Verdict::Worse),
    };
    row(
        key,
        metric,
        fmt_acc(b),
        fmt_acc(n),
        delta,
        format!(">= -{drop:.4}"),
        verdict,
    )
}

/// The objective row: relative, since objectives of different runs differ by orders of
/// magnitude.
fn objective_row(key: &str, base: &Entry, now: &Entry, tol: &Tolerances) -> Row {
    let (delta, verdict) = match (base.objective, now.objective) {
        (Some(b), Some(n)) if n.is_finite() => {
            let rel = (n - b) / b.abs().max(1e-12);
            let v = if rel > tol.objective_rel {
                Verdict::Worse
            } else if rel < -tol.objective_rel {
                Verdict::Better
            } else {
                Verdict::Ok
            };
            (format!("{:+.2}%", 100.0 * rel), v)
        }
        (None, None) => ("-".into(), Verdict::Skipped),
        (None, Some(_)) => ("-".into(), Verdict::Better),
        _ => ("-".into(), Verdict::Worse),
    };
    row(
        key,
        "objective",
        fmt_obj(base.objective),
        fmt_obj(now.objective),
        delta,
        format!("<= +{:.2}%", 100.0 * tol.objective_rel),
        verdict,
    )
}

/// The iterations-to-target row: a target reached in the baseline must still be reached, in
/// at most `Tolerances::extra_iters` more iterations.
fn target_iter_row(key: &str, base: &Entry, now: &Entry, tol: &Tolerances) -> Row {
    let (delta, limit, verdict) = match (base.target_iter, now.target_iter) {
        (Some(b), Some(n)) => {
            let extra = tol.extra_iters(b);
            let v = if n > b + extra {
                Verdict::Worse
            } else if n + extra < b {
                Verdict::Better
            } else {
                Verdict::Ok
            };
            (
                format!("{:+}", n as i64 - b as i64),
                format!("<= +{extra}"),
                v,
            )
        }
        (Some(b), None) => (
            "never".into(),
            format!("<= +{}", tol.extra_iters(b)),
            Verdict::Worse,
        ),
        (None, Some(_)) => ("-".into(), "reached".into(), Verdict::Better),
        (None, None) => ("-".into(), "-".into(), Verdict::Skipped),
    };
    row(
        key,
        "target_iter",
        base.target_iter.map_or("never".into(), |t| t.to_string()),
        now.target_iter.map_or("never".into(), |t| t.to_string()),
        delta,
        limit,
        verdict,
    )
}

/// The time row: the ratio of the normalized times against a generous factor, since single
/// timings on a shared machine are noisy; skipped when the timings are not comparable.
fn time_row(key: &str, base: &Entry, now: &Entry, tol: &Tolerances, time_comparable: bool) -> Row {
    let (delta, verdict) = match (base.time_ratio, now.time_ratio) {
        (Some(b), Some(n)) if time_comparable && b > 0.0 => {
            let f = n / b;
            let v = if f > tol.time_factor {
                Verdict::Slower
            } else if f < 1.0 / tol.time_factor {
                Verdict::Faster
            } else {
                Verdict::Ok
            };
            (format!("x{f:.2}"), v)
        }
        _ => ("-".into(), Verdict::Skipped),
    };
    row(
        key,
        "time",
        fmt_ratio(base.time_ratio),
        fmt_ratio(now.time_ratio),
        delta,
        format!("<= x{:.2}", tol.time_factor),
        verdict,
    )
}

/// A run's now / baseline time factor, for the suite-wide check: only where the time row
/// compares the two.
pub(super) fn time_factor(base: Option<&Entry>, now: &Entry, time_comparable: bool) -> Option<f64> {
    match (base.and_then(|b| b.time_ratio), now.time_ratio) {
        (Some(b), Some(now)) if time_comparable && b > 0.0 => Some(now / b),
        _ => None,
    }
}

/// The suite-wide time row: the geometric mean of the runs' now / baseline time factors, when
/// enough runs were timed. A change that slows every solver a little shows here long before
/// any single run passes its own, noise-sized limit.
pub fn suite_time(factors: &[f64], tol: &Tolerances) -> Option<Row> {
    if factors.len() < SUITE_MIN_RUNS {
        return None;
    }
    let g = (factors.iter().map(|f| f.ln()).sum::<f64>() / factors.len() as f64).exp();
    let verdict = if g > tol.suite_time_factor {
        Verdict::Slower
    } else if g < 1.0 / tol.suite_time_factor {
        Verdict::Faster
    } else {
        Verdict::Ok
    };
    Some(Row {
        key: format!("suite ({} runs)", factors.len()),
        metric: "time_geomean",
        baseline: "1.00".into(),
        now: format!("{g:.2}"),
        delta: format!("x{g:.2}"),
        limit: format!("<= x{:.2}", tol.suite_time_factor),
        verdict,
    })
}

/// An accuracy as shown in the report and progress lines ("-" when absent).
pub(super) fn fmt_acc(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.4}"))
}

/// An objective as shown in the report and progress lines: scientific, since objectives span
/// orders of magnitude.
pub(super) fn fmt_obj(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.6e}"))
}

/// A time ratio as shown in the report and progress lines.
pub(super) fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite-wide check: the geometric mean of the runs' time factors against its own,
    /// tighter limit, and only over enough runs to average the noise of single runs.
    #[test]
    fn suite_time_is_the_geometric_mean_of_the_run_factors() {
        let tol = Tolerances::default();
        let row = |f: &[f64]| suite_time(f, &tol);
        // x1.6 everywhere: no run passes its own 3x limit, the suite does pass 1.5x.
        let slow = row(&[1.6, 1.6, 1.6, 1.6]).expect("four runs are enough");
        assert_eq!(slow.verdict, Verdict::Slower, "{slow:?}");
        assert_eq!(slow.now, "1.60");
        // Noise: one run at x2.5, the others at x1.0 and below: geomean (2.5 * 0.8 * 1.0 * 0.9)^(1/4).
        let noisy = row(&[2.5, 0.8, 1.0, 0.9]).unwrap();
        assert_eq!(noisy.verdict, Verdict::Ok, "{noisy:?}");
        assert_eq!(noisy.now, format!("{:.2}", (2.5f64 * 0.8 * 0.9).powf(0.25)));
        // Too few runs to average: no suite row.
        assert!(row(&[5.0, 5.0, 5.0]).is_none());
    }
}
