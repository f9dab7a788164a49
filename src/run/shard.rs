//! Selecting a subset of a sweep: `--only` text filters and `--shard K/N` (or SLURM arrays).

use crate::manifest::PlannedRun;

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

/// Keeps runs matching `only` (a substring of the plan line), then every N-th from K.
pub fn select(
    runs: Vec<PlannedRun>,
    only: Option<&str>,
    shard: Option<(usize, usize)>,
) -> Vec<PlannedRun> {
    let filtered = runs
        .into_iter()
        .filter(|r| only.is_none_or(|t| r.describe().contains(t)));
    match shard {
        Some((k, n)) => filtered
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, r)| r)
            .collect(),
        None => filtered.collect(),
    }
}
