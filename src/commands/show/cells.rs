//! `show`'s cells: its own columns (every one also a `--sort` key), the typed value of a cell
//! (so that sorting is numeric where the column is), and how an entry fills each.

use super::Entry;
use crate::results::Summary;

/// A column of `show`'s output; every column is also a `--sort` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Experiment,
    Id,
    Method,
    Backend,
    /// A path point's beta, and that beta over the path's beta_max.
    Beta,
    BetaRatio,
    Seed,
    Status,
    Reason,
    Iters,
    TrainAcc,
    /// A path point's accuracy on the validation split that chose beta.
    ValAcc,
    TestAcc,
    Objective,
    Seconds,
    ToTarget,
    /// Whether a path point is the one its path chose.
    Chosen,
}

impl Column {
    pub const ALL: [Column; 17] = [
        Column::Experiment,
        Column::Id,
        Column::Method,
        Column::Backend,
        Column::Beta,
        Column::BetaRatio,
        Column::Seed,
        Column::Status,
        Column::Reason,
        Column::Iters,
        Column::TrainAcc,
        Column::ValAcc,
        Column::TestAcc,
        Column::Objective,
        Column::Seconds,
        Column::ToTarget,
        Column::Chosen,
    ];

    /// The columns only a path point has: shown only when the listing holds one, so that
    /// other listings (and their CSV columns) stay as they were.
    pub fn path_only(self) -> bool {
        matches!(
            self,
            Column::Beta | Column::BetaRatio | Column::ValAcc | Column::Chosen
        )
    }

    /// The header text, which is also the `--sort` key and the CSV/JSON field name.
    pub fn name(self) -> &'static str {
        match self {
            Column::Experiment => "experiment",
            Column::Id => "id",
            Column::Method => "method",
            Column::Backend => "backend",
            Column::Beta => "beta",
            Column::BetaRatio => "beta/beta_max",
            Column::Seed => "seed",
            Column::Status => "status",
            Column::Reason => "reason",
            Column::Iters => "iters",
            Column::TrainAcc => "train_acc",
            Column::ValAcc => "val_acc",
            Column::TestAcc => "test_acc",
            Column::Objective => "objective",
            Column::Seconds => "seconds",
            Column::ToTarget => "to_target",
            Column::Chosen => "chosen",
        }
    }
}

/// One value of a cell, typed so that sorting is numeric where the column is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Text(String),
    Int(Option<i64>),
    /// A number and the decimals it is printed with (None: scientific, 4 digits).
    Num(Option<f64>, Option<usize>),
    /// Yes or no ("yes" or empty), or not applicable ("-").
    Flag(Option<bool>),
}

impl Value {
    pub(super) fn text(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Int(Some(i)) => i.to_string(),
            Value::Num(Some(x), Some(d)) if x.is_finite() => format!("{x:.d$}"),
            Value::Num(Some(x), None) if x.is_finite() => format!("{x:.4e}"),
            Value::Num(Some(x), _) => x.to_string(),
            Value::Int(None) | Value::Num(None, _) | Value::Flag(None) => "-".into(),
            Value::Flag(Some(true)) => "yes".into(),
            Value::Flag(Some(false)) => String::new(),
        }
    }

    pub(super) fn json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Text(t) => J::String(t.clone()),
            Value::Int(i) => i.map_or(J::Null, J::from),
            Value::Num(x, _) => x
                .and_then(serde_json::Number::from_f64)
                .map_or(J::Null, J::Number),
            Value::Flag(b) => b.map_or(J::Null, J::Bool),
        }
    }

    /// Ascending order, with absent values last whatever the direction.
    pub(super) fn cmp_key(&self, other: &Value) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let num = |v: &Value| match v {
            Value::Int(i) => i.map(|i| i as f64),
            Value::Num(x, _) => x.filter(|x| !x.is_nan()),
            Value::Flag(b) => b.map(|b| f64::from(u8::from(b))),
            Value::Text(_) => None,
        };
        match (self, other) {
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            _ => match (num(self), num(other)) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        }
    }
}

/// The value of `col` for `e`.
pub(super) fn cell(e: &Entry, col: Column) -> Value {
    let s = e.summary.as_ref();
    let f = |get: fn(&Summary) -> Option<f64>| s.and_then(get);
    match col {
        Column::Experiment => Value::Text(e.experiment.clone()),
        Column::Id => Value::Text(e.id.clone()),
        Column::Method => Value::Text(e.method.clone()),
        Column::Backend => Value::Text(e.backend.clone()),
        Column::Beta => Value::Num(e.number("problem.beta").filter(|_| e.is_point()), None),
        Column::BetaRatio => {
            let ratio = e.number("problem.beta").zip(e.number("path.beta_max"));
            Value::Num(ratio.map(|(b, m)| b / m).filter(|_| e.is_point()), None)
        }
        Column::Seed => Value::Int(e.seed),
        Column::Status => Value::Text(e.state.word().into()),
        Column::Reason => Value::Text(e.reason()),
        Column::Iters => Value::Int(s.and_then(|s| s.iterations)),
        Column::TrainAcc => Value::Num(f(|s| s.last.train_acc), Some(4)),
        Column::ValAcc => Value::Num(f(|s| s.val_acc), Some(4)),
        Column::TestAcc => Value::Num(f(|s| s.last.test_acc), Some(4)),
        Column::Objective => Value::Num(f(|s| s.last.objective), None),
        Column::Seconds => Value::Num(f(|s| s.solve_s), Some(2)),
        Column::ToTarget => Value::Num(f(|s| s.target.total_s), Some(2)),
        Column::Chosen => Value::Flag(e.chosen),
    }
}
