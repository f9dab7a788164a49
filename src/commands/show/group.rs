//! `show --group-by KEY[,KEY]`: one row per distinct value of the keys, every numeric column as
//! its mean, min and max over the ok runs of the group (the seeds, or whatever else the keys
//! leave out), so that a sweep reads as a table of its settings rather than of run ids. The
//! counts say how many runs a row folds and how many of them are ok, so that a mean over fewer
//! runs than planned is never taken for a complete one.

use super::format::{aligned_table, markdown_table, quote, setting_json};
use super::{cell, Column, Entry, Format, Listing, Options, ShowError, State, Value};

/// The numeric columns a group row summarizes (the path ones only for a path listing).
const NUMBERS: [Column; 8] = [
    Column::Iters,
    Column::TrainAcc,
    Column::ValAcc,
    Column::TestAcc,
    Column::Objective,
    Column::Seconds,
    Column::ToTarget,
    Column::BetaRatio,
];

/// Mean, min and max of a column over a group's ok runs that have a finite value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    mean: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let fold = |f: fn(f64, f64) -> f64, init| values.iter().copied().fold(init, f);
        Some(Stats {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            min: fold(f64::min, f64::INFINITY),
            max: fold(f64::max, f64::NEG_INFINITY),
        })
    }
}

/// One row: the keys' values, how many runs it folds, how many are ok, and a summary per
/// numeric column.
struct Row {
    keys: Vec<String>,
    runs: usize,
    ok: usize,
    stats: Vec<Option<Stats>>,
}

/// The grouped listing, rendered in `opts.format`.
pub(super) fn show(listing: &Listing, opts: &Options) -> Result<String, ShowError> {
    for key in &opts.group_by {
        check_key(listing, key)?;
    }
    let numbers: Vec<Column> = NUMBERS
        .into_iter()
        .filter(|c| listing.paths || !c.path_only())
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    for e in &listing.entries {
        let keys: Vec<String> = opts.group_by.iter().map(|k| key_value(e, k)).collect();
        match rows.iter_mut().find(|r| r.keys == keys) {
            Some(r) => r.runs += 1,
            None => rows.push(Row {
                keys,
                runs: 1,
                ok: 0,
                stats: Vec::new(),
            }),
        }
    }
    for row in &mut rows {
        let members: Vec<&Entry> = listing
            .entries
            .iter()
            .filter(|e| e.state == State::Ok)
            .filter(|e| {
                opts.group_by
                    .iter()
                    .map(|k| key_value(e, k))
                    .eq(row.keys.iter().cloned())
            })
            .collect();
        row.ok = members.len();
        row.stats = numbers
            .iter()
            .map(|&c| {
                Stats::of(
                    &members
                        .iter()
                        .filter_map(|e| number(e, c))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
    }
    order(&mut rows, &numbers, opts);
    Ok(match opts.format {
        Format::Table | Format::Md => text(&rows, &opts.group_by, &numbers, opts.format),
        Format::Csv => csv(&rows, &opts.group_by, &numbers),
        Format::Json => json(&rows, &opts.group_by, &numbers),
    })
}

/// A key is one of `show`'s own columns (`method`, `seed`, ...; `solver` as `plan` names it)
/// or a setting some listed run has.
fn check_key(listing: &Listing, key: &str) -> Result<(), ShowError> {
    if own(key).is_some() || listing.entries.iter().any(|e| e.settings.contains_key(key)) {
        return Ok(());
    }
    let suffix = format!(".{key}");
    let mut near: Vec<&String> = listing
        .entries
        .iter()
        .flat_map(|e| e.settings.keys())
        .filter(|k| k.ends_with(&suffix))
        .collect();
    near.sort();
    near.dedup();
    let hint = match near.first() {
        Some(k) => format!(" (did you mean {k}?)"),
        None => " (a column such as method, backend, seed, or a resolved key as `admm-runner \
                 plan --config RUN_ID` prints them)"
            .to_string(),
    };
    Err(ShowError::GroupKey {
        key: key.to_string(),
        hint,
    })
}

/// `show`'s own column a key names, if any.
fn own(key: &str) -> Option<Column> {
    let key = if key == "solver" { "method" } else { key };
    Column::ALL.into_iter().find(|c| c.name() == key)
}

/// The entry's value of a grouping key, as text.
fn key_value(e: &Entry, key: &str) -> String {
    match own(key) {
        Some(c) => cell(e, c).text(),
        None => e.settings.get(key).cloned().unwrap_or_else(|| "-".into()),
    }
}

/// A numeric cell, when finite.
fn number(e: &Entry, c: Column) -> Option<f64> {
    match cell(e, c) {
        Value::Int(i) => i.map(|i| i as f64),
        Value::Num(x, _) => x,
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// Rows in key order (numbers numerically), or by the mean of `--sort` when it is a numeric
/// column (rows without a value last either way).
fn order(rows: &mut [Row], numbers: &[Column], opts: &Options) {
    let by_keys = |a: &Row, b: &Row| {
        for (x, y) in a.keys.iter().zip(&b.keys) {
            let o = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(p), Ok(q)) => p.total_cmp(&q),
                _ => x.cmp(y),
            };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    };
    let metric = opts.sort.and_then(|s| numbers.iter().position(|&c| c == s));
    rows.sort_by(|a, b| match metric {
        None => by_keys(a, b),
        Some(i) => match (a.stats[i], b.stats[i]) {
            (Some(p), Some(q)) if opts.reverse => q.mean.total_cmp(&p.mean),
            (Some(p), Some(q)) => p.mean.total_cmp(&q.mean),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => by_keys(a, b),
        },
    });
    if metric.is_none() && opts.reverse {
        rows.reverse();
    }
}

/// A number as its column prints it (`show`'s decimals).
fn fmt(c: Column, x: f64) -> String {
    match c {
        Column::Iters => format!("{x:.1}"),
        other => match cell_decimals(other) {
            Some(d) => format!("{x:.d$}"),
            None => format!("{x:.4e}"),
        },
    }
}

/// The decimals `show` prints a column with (None: scientific).
fn cell_decimals(c: Column) -> Option<usize> {
    match c {
        Column::TrainAcc | Column::ValAcc | Column::TestAcc => Some(4),
        Column::Seconds | Column::ToTarget => Some(2),
        _ => None,
    }
}

/// The table and Markdown views: `mean (min..max)` per cell (the mean alone for one run),
/// then a line saying what the cells are.
fn text(rows: &[Row], keys: &[String], numbers: &[Column], format: Format) -> String {
    let mut names: Vec<&str> = keys.iter().map(String::as_str).collect();
    names.extend(["runs", "ok"]);
    names.extend(numbers.iter().map(|c| c.name()));
    let cells: Vec<Vec<(String, bool)>> = rows
        .iter()
        .map(|r| {
            let mut out: Vec<(String, bool)> = r
                .keys
                .iter()
                .map(|k| (k.clone(), k.parse::<f64>().is_ok()))
                .collect();
            out.push((r.runs.to_string(), true));
            out.push((r.ok.to_string(), true));
            for (c, s) in numbers.iter().zip(&r.stats) {
                let text = match s {
                    None => "-".to_string(),
                    Some(s) if s.min == s.max => fmt(*c, s.mean),
                    Some(s) => format!(
                        "{} ({}..{})",
                        fmt(*c, s.mean),
                        fmt(*c, s.min),
                        fmt(*c, s.max)
                    ),
                };
                out.push((text, true));
            }
            out
        })
        .collect();
    if cells.is_empty() {
        return "no runs\n".into();
    }
    let table = match format {
        Format::Md => markdown_table(&names, &cells),
        _ => aligned_table(&names, &cells),
    };
    format!(
        "{table}\n{} group(s) by {}: each number is the mean (min..max) over the group's ok runs\n",
        rows.len(),
        keys.join(", ")
    )
}

/// CSV: the keys, `runs`, `ok`, then `<column>_mean`, `_min`, `_max` for every number.
fn csv(rows: &[Row], keys: &[String], numbers: &[Column]) -> String {
    let mut head: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    head.extend(["runs".to_string(), "ok".to_string()]);
    for c in numbers {
        for part in ["mean", "min", "max"] {
            head.push(quote(&format!("{}_{part}", c.name())));
        }
    }
    let mut out = head.join(",") + "\n";
    for r in rows {
        let mut cells: Vec<String> = r.keys.iter().map(|k| quote(k)).collect();
        cells.extend([r.runs.to_string(), r.ok.to_string()]);
        for s in &r.stats {
            match s {
                Some(s) => cells.extend([s.mean, s.min, s.max].map(|x| x.to_string())),
                None => cells.extend([String::new(), String::new(), String::new()]),
            }
        }
        out += &(cells.join(",") + "\n");
    }
    out
}

/// JSON: an object per row, keys as numbers where they read as one, `<column>_mean` etc.
fn json(rows: &[Row], keys: &[String], numbers: &[Column]) -> String {
    let objects: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut obj = serde_json::Map::new();
            for (k, v) in keys.iter().zip(&r.keys) {
                obj.insert(k.clone(), setting_json(v));
            }
            obj.insert("runs".into(), r.runs.into());
            obj.insert("ok".into(), r.ok.into());
            for (c, s) in numbers.iter().zip(&r.stats) {
                let parts = [
                    ("mean", s.map(|s| s.mean)),
                    ("min", s.map(|s| s.min)),
                    ("max", s.map(|s| s.max)),
                ];
                for (part, x) in parts {
                    let v = x
                        .and_then(serde_json::Number::from_f64)
                        .map_or(serde_json::Value::Null, serde_json::Value::Number);
                    obj.insert(format!("{}_{part}", c.name()), v);
                }
            }
            serde_json::Value::Object(obj)
        })
        .collect();
    serde_json::to_string_pretty(&objects).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_mean_min_and_max_and_none_without_values() {
        let s = Stats::of(&[1.0, 2.0, 6.0]).unwrap();
        assert_eq!((s.mean, s.min, s.max), (3.0, 1.0, 6.0));
        assert!(Stats::of(&[]).is_none());
    }
}
