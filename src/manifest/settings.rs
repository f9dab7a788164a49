//! A run's resolved settings as `dotted.key` -> value text: the keys a sweep varies (fields of
//! `plan` lines, columns of `show`), what `--only KEY=VALUE` matches, and `plan --config`.

use super::{PlannedRun, RunConfig};
use std::collections::BTreeMap;

/// Every resolved key of `config` with its value as text (lists as JSON), from the same
/// serialization the run id hashes, so that what is printed is what identifies the run.
pub fn settings(config: &RunConfig) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(json) = serde_json::to_value(config) {
        flatten("", &json, &mut out);
    }
    out
}

/// Adds `value`'s leaves under `prefix` (objects recurse with dotted keys).
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    use serde_json::Value as J;
    match value {
        J::Object(map) => {
            for (k, v) in map {
                let key = match prefix {
                    "" => k.clone(),
                    _ => format!("{prefix}.{k}"),
                };
                flatten(&key, v, out);
            }
        }
        J::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        J::Number(n) => {
            out.insert(prefix.to_string(), number_text(n));
        }
        J::Null => {
            out.insert(prefix.to_string(), "none".into());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// A number as people write it: integers without a fraction, others by Rust's shortest
/// round-trip form (the same text whether it came from a manifest or a Parquet summary).
fn number_text(n: &serde_json::Number) -> String {
    match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => u.to_string(),
        (_, Some(i), _) => i.to_string(),
        (_, _, Some(f)) => f.to_string(),
        _ => n.to_string(),
    }
}

/// The keys a set of runs varies, in key order: those two runs that both have give different
/// values (the swept axes, the variants' keys and what follows from them). A key only some
/// runs have (a method's own options in a sweep over methods) counts only where it differs,
/// so that it does not turn every method's options into columns.
pub fn varied_keys<'a>(
    runs: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
) -> Vec<String> {
    let mut first: BTreeMap<&str, &str> = BTreeMap::new();
    let mut varied: Vec<String> = Vec::new();
    for run in runs {
        for (k, v) in run {
            match first.get(k.as_str()) {
                None => {
                    first.insert(k, v);
                }
                Some(seen) if seen != v && !varied.contains(k) => varied.push(k.clone()),
                Some(_) => {}
            }
        }
    }
    varied.sort();
    varied
}

/// The keys `plan` lines already show as their own fields (`PlannedRun::describe`).
const IN_PLAN_LINE: [&str; 9] = [
    "experiment",
    "solver.name",
    "backend",
    "seed",
    "data.n_train",
    "problem.patterns",
    "problem.beta",
    "solver.admm.rho",
    "solver.adam.lr",
];

impl PlannedRun {
    /// The plan line (`describe`) followed by `key=value` for every key of `varied` it does
    /// not already show, so that two runs of a sweep never print the same line.
    pub fn describe_varied(&self, varied: &[String]) -> String {
        let mut line = self.describe();
        let own = settings(&self.config);
        for key in varied
            .iter()
            .filter(|k| !IN_PLAN_LINE.contains(&k.as_str()))
        {
            if let Some(value) = own.get(key) {
                line += &format!(" {key}={value}");
            }
        }
        line
    }
}

/// The varied keys of a plan, for its lines.
pub fn plan_varied(runs: &[PlannedRun]) -> Vec<String> {
    let all: Vec<BTreeMap<String, String>> = runs.iter().map(|r| settings(&r.config)).collect();
    varied_keys(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_key_varies_only_where_two_runs_have_it_and_differ() {
        let a = run(&[
            ("solver.name", "cg"),
            ("solver.cg.max_iters", "5"),
            ("seed", "0"),
        ]);
        let b = run(&[
            ("solver.name", "cg"),
            ("solver.cg.max_iters", "9"),
            ("seed", "0"),
        ]);
        let c = run(&[
            ("solver.name", "exact"),
            ("solver.exact.max_dim", "9"),
            ("seed", "0"),
        ]);
        assert_eq!(
            varied_keys([&a, &b, &c]),
            ["solver.cg.max_iters", "solver.name"]
        );
        assert!(varied_keys([&a]).is_empty());
    }
}
