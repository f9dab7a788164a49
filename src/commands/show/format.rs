//! `show`'s views: an aligned table or Markdown (runs with a summary, then counts and what is
//! not done), CSV and JSON with every entry.

use super::{cell, Column, Entry, Format, Listing, State, Value};

/// The columns of the table and Markdown views (the experiment only when there are several;
/// the seed is part of the id; the reason is part of the status).
fn view_columns(entries: &[&Entry]) -> Vec<Column> {
    let several = entries
        .iter()
        .any(|e| e.experiment != entries[0].experiment);
    Column::ALL
        .into_iter()
        .filter(|&c| match c {
            Column::Experiment => several,
            Column::Seed | Column::Reason => false,
            _ => true,
        })
        .collect()
}

/// Renders a listing in `format`.
pub fn render(listing: &Listing, format: Format) -> String {
    match format {
        Format::Table => text_view(listing, false),
        Format::Md => text_view(listing, true),
        Format::Csv => csv(&listing.entries),
        Format::Json => json(&listing.entries),
    }
}

/// A table of the runs that have a summary, then the counts and what is not done.
fn text_view(listing: &Listing, markdown: bool) -> String {
    let shown: Vec<&Entry> = listing
        .entries
        .iter()
        .filter(|e| e.summary.is_some())
        .collect();
    let mut out = String::new();
    if !shown.is_empty() {
        let cols = view_columns(&shown);
        let rows: Vec<Vec<(String, bool)>> = shown
            .iter()
            .map(|e| cols.iter().map(|&c| view_cell(e, c, markdown)).collect())
            .collect();
        out += &if markdown {
            markdown_table(&cols, &rows)
        } else {
            aligned_table(&cols, &rows)
        };
        out.push('\n');
    }
    out += &footer(listing, markdown);
    out
}

/// A cell as the table shows it, and whether it is a number (right-aligned).
fn view_cell(e: &Entry, col: Column, markdown: bool) -> (String, bool) {
    const WIDTH: usize = 60;
    if col == Column::Status {
        let text = e.status_text();
        let cut = if !markdown && text.chars().count() > WIDTH {
            format!("{}...", text.chars().take(WIDTH - 3).collect::<String>())
        } else {
            text
        };
        return (cut, false);
    }
    let v = cell(e, col);
    let numeric = !matches!(v, Value::Text(_));
    (v.text(), numeric)
}

fn aligned_table(cols: &[Column], rows: &[Vec<(String, bool)>]) -> String {
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].0.chars().count())
                .chain([c.name().len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..cols.len()).map(|i| rows[0][i].1).collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, t)| match numeric[i] {
                true => format!("{t:>w$}", w = widths[i]),
                false => format!("{t:<w$}", w = widths[i]),
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(cols.iter().map(|c| c.name()).collect());
    for r in rows {
        out += &line(r.iter().map(|(t, _)| t.as_str()).collect());
    }
    out
}

fn markdown_table(cols: &[Column], rows: &[Vec<(String, bool)>]) -> String {
    let esc = |t: &str| t.replace('|', "\\|");
    let names: Vec<&str> = cols.iter().map(|c| c.name()).collect();
    let rules: Vec<&str> = rows[0]
        .iter()
        .map(|(_, num)| if *num { "---:" } else { "---" })
        .collect();
    let mut out = format!("| {} |\n|{}|\n", names.join(" | "), rules.join("|"));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|(t, _)| esc(t)).collect();
        out += &format!("| {} |\n", cells.join(" | "));
    }
    out
}

/// The counts by status, then every entry that is not ok with its reason, then the notes.
fn footer(listing: &Listing, markdown: bool) -> String {
    let entries = &listing.entries;
    let words = ["ok", "failed", "unfinished", "missing", "unreadable"];
    let counts: Vec<String> = words
        .iter()
        .map(|w| (w, entries.iter().filter(|e| e.state.word() == *w).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(w, n)| format!("{n} {w}"))
        .collect();
    let what = if listing.hint.is_some() {
        "planned runs"
    } else {
        "runs"
    };
    let mut out = format!("{} {what}: {}\n", entries.len(), counts.join(", "));
    let bad: Vec<&Entry> = entries.iter().filter(|e| e.state != State::Ok).collect();
    if !bad.is_empty() {
        let label = if listing.hint.is_some() {
            "not done"
        } else {
            "not ok"
        };
        out += &format!("{label} ({} of {}):\n", bad.len(), entries.len());
        let bullet = if markdown { "- " } else { "  " };
        let width = bad.iter().map(|e| e.id.len()).max().unwrap_or(0);
        for e in &bad {
            let at = match e.state {
                State::Unreadable(_) => format!(" ({})", e.file.display()),
                _ => String::new(),
            };
            out += &format!("{bullet}{:<width$}  {}{at}\n", e.id, e.status_text());
        }
        if let Some(hint) = &listing.hint {
            out += &format!("compute them: {hint}\n");
        }
    }
    for (exp, n) in &listing.others {
        out += &format!(
            "{n} other result(s) in the {exp} folder are not in this plan (other --set values?): \
             `admm-runner show` on the folder lists them\n"
        );
    }
    out
}

/// Every entry as a CSV row, every column (and the summary file), with a header.
pub(super) fn csv(entries: &[Entry]) -> String {
    let quote = |t: &str| {
        if t.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", t.replace('"', "\"\""))
        } else {
            t.to_string()
        }
    };
    let mut names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    names.push("file");
    let mut out = names.join(",") + "\n";
    for e in entries {
        let mut cells: Vec<String> = Column::ALL
            .iter()
            .map(|&c| match cell(e, c) {
                Value::Int(None) | Value::Num(None, _) => String::new(),
                Value::Num(Some(x), _) => x.to_string(),
                v => quote(&v.text()),
            })
            .collect();
        cells.push(quote(&e.file.display().to_string()));
        out += &(cells.join(",") + "\n");
    }
    out
}

/// Every entry as a JSON object, numbers as numbers (absent ones null).
fn json(entries: &[Entry]) -> String {
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut obj = serde_json::Map::new();
            for c in Column::ALL {
                obj.insert(c.name().into(), cell(e, c).json());
            }
            obj.insert("file".into(), e.file.display().to_string().into());
            serde_json::Value::Object(obj)
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
}
