//! Selecting a subset of a sweep: `--only` filters (text or KEY=VALUE) and `--shard K/N` (or SLURM arrays).

use crate::manifest::PlannedRun;
use std::collections::BTreeMap;

/// A bad `--shard` value or SLURM environment.
#[derive(Debug, thiserror::Error)]
#[error("--shard {given}: {reason}")]
pub struct ShardError {
    pub given: String,
    pub reason: String,
}

/// Parses "K/N" (0 <= K < N) or "slurm" (from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT,
/// offset by SLURM_ARRAY_TASK_MIN when set).
pub fn parse_shard(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(usize, usize), ShardError> {
    let bad = |reason: String| ShardError {
        given: text.to_string(),
        reason,
    };
    let num = |name: &str, v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("{name} = {v:?} is not a non-negative integer")))
    };
    let (k, n) = if text == "slurm" {
        let get = |name: &str| env(name).ok_or_else(|| bad(format!("{name} is not set")));
        let id = num("SLURM_ARRAY_TASK_ID", &get("SLURM_ARRAY_TASK_ID")?)?;
        let count = num("SLURM_ARRAY_TASK_COUNT", &get("SLURM_ARRAY_TASK_COUNT")?)?;
        let min = match env("SLURM_ARRAY_TASK_MIN") {
            Some(m) => num("SLURM_ARRAY_TASK_MIN", &m)?,
            None => 0,
        };
        (
            id.checked_sub(min)
                .ok_or_else(|| bad("task id below SLURM_ARRAY_TASK_MIN".into()))?,
            count,
        )
    } else {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| bad("expected K/N, e.g. 0/4, or slurm".into()))?;
        (num("K", k)?, num("N", n)?)
    };
    if n == 0 || k >= n {
        return Err(bad(format!("need 0 <= K < N, got K={k}, N={n}")));
    }
    Ok((k, n))
}

/// Keeps runs that every `only` filter matches (`matches`), then every N-th from K.
pub fn select(
    runs: Vec<PlannedRun>,
    only: &[String],
    shard: Option<(usize, usize)>,
) -> Vec<PlannedRun> {
    let filtered = runs.into_iter().filter(|r| run_matches(r, only));
    match shard {
        Some((k, n)) => filtered
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, r)| r)
            .collect(),
        None => filtered.collect(),
    }
}

/// Whether a planned run passes every filter, against its plan line and resolved settings.
pub fn run_matches(run: &PlannedRun, only: &[String]) -> bool {
    if only.is_empty() {
        return true;
    }
    let line = run.describe();
    let settings = crate::manifest::settings(&run.config);
    only.iter().all(|f| matches(&line, &settings, f))
}

/// One `--only` filter against a line of `key=value` and plain fields and a run's resolved
/// settings. `KEY=VALUE` is exact: a field of the line, or a resolved key named in full or by
/// its last parts (`rank=20` is `solver.nys.rank=20`), numbers compared as numbers. Plain
/// text matches the start of a whole field or of a field's value (`cg-flex-s0` is a run id's
/// start, `nys` the solver nys-pcg), never the middle of one, so `cg` is not `diag-pcg`.
pub fn matches(line: &str, settings: &BTreeMap<String, String>, filter: &str) -> bool {
    let mut fields = line.split_whitespace();
    let filter = filter.trim();
    match filter.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
        Some((key, value)) => {
            fields.any(|t| {
                t.split_once('=')
                    .is_some_and(|(k, v)| k == key && same(v, value))
            }) || settings
                .iter()
                .any(|(k, v)| (k == key || k.ends_with(&format!(".{key}"))) && same(v, value))
        }
        None => fields.any(|t| {
            let value = t.split_once('=').map_or(t, |(_, v)| v);
            t.starts_with(filter) || value.starts_with(filter)
        }),
    }
}

/// Equal as text, or as numbers (`0.1` and `1e-1`).
fn same(a: &str, b: &str) -> bool {
    a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "cg-flex-s0-1a2b3c4d  solver=cg backend=flex n=100 seed=0 rho=0.1";

    fn settings() -> BTreeMap<String, String> {
        [("solver.nys.rank", "20"), ("problem.beta", "0.001")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn text_matches_whole_fields_from_their_start_only() {
        let s = settings();
        assert!(matches(LINE, &s, "cg-flex-s0"));
        assert!(matches(LINE, &s, "cg"));
        assert!(matches(LINE, &s, "flex"));
        let diag = "diag-pcg-flex-s0-1a2b3c4d  solver=diag-pcg backend=flex";
        assert!(!matches(diag, &s, "cg-flex-s0"));
        assert!(!matches(diag, &s, "cg"));
        assert!(matches(diag, &s, "diag"));
    }

    #[test]
    fn key_value_is_exact_on_fields_and_resolved_keys() {
        let s = settings();
        assert!(matches(LINE, &s, "solver=cg"));
        assert!(!matches(LINE, &s, "solver=c"));
        assert!(matches(LINE, &s, "rank=20"));
        assert!(matches(LINE, &s, "solver.nys.rank=20"));
        assert!(!matches(LINE, &s, "nys.rank=2"));
        assert!(matches(LINE, &s, "beta=1e-3"));
        assert!(matches(LINE, &s, "rho=0.10"));
        assert!(!matches(LINE, &s, "ank=20"));
    }
}
