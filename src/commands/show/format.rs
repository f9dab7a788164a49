//! `show`'s views: an aligned table or Markdown (runs with a summary, then counts and what is
//! not done), CSV and JSON with every entry; each with a column per setting the runs vary.

use super::{cell, Column, Entry, Format, Listing, State, Value};

/// A column of a view: one of `show`'s own, or a setting the listed runs vary.
#[derive(Debug, Clone, Copy)]
enum ViewCol<'a> {
    Own(Column),
    Setting(&'a str),
}

impl ViewCol<'_> {
    fn name(&self) -> &str {
        match self {
            ViewCol::Own(c) => c.name(),
            ViewCol::Setting(key) => key,
        }
    }

    /// The cell; a setting is text ("-" where the run does not have the key).
    fn value(&self, e: &Entry) -> Value {
        match self {
            ViewCol::Own(c) => cell(e, *c),
            ViewCol::Setting(key) => {
                Value::Text(e.settings.get(*key).cloned().unwrap_or_else(|| "-".into()))
            }
        }
    }
}

/// The columns of the table and Markdown views (the experiment only when there are several;
/// the seed is part of the id; the reason is part of the status), the varied settings after
/// the backend; the path columns only when `paths`.
fn view_columns<'a>(entries: &[&Entry], params: &'a [String], paths: bool) -> Vec<ViewCol<'a>> {
    let several = entries
        .iter()
        .any(|e| e.experiment != entries[0].experiment);
    let mut cols = Vec::new();
    for c in Column::ALL {
        match c {
            Column::Experiment if !several => {}
            Column::Seed | Column::Reason => {}
            c if c.path_only() && !paths => {}
            _ => cols.push(ViewCol::Own(c)),
        }
        if c == Column::Backend {
            cols.extend(params.iter().map(|p| ViewCol::Setting(p)));
        }
    }
    cols
}

/// Every column, for CSV and JSON: `show`'s own, then the varied settings (last, so that the
/// positions of the fixed columns do not move); the path columns only when `paths`.
fn all_columns(params: &[String], paths: bool) -> Vec<ViewCol<'_>> {
    let own = Column::ALL
        .into_iter()
        .filter(|c| paths || !c.path_only())
        .map(ViewCol::Own);
    own.chain(params.iter().map(|p| ViewCol::Setting(p)))
        .collect()
}

/// Renders a listing in `format`.
pub fn render(listing: &Listing, format: Format) -> String {
    match format {
        Format::Table => text_view(listing, false),
        Format::Md => text_view(listing, true),
        Format::Csv => csv(&listing.entries, &listing.params, listing.paths),
        Format::Json => json(&listing.entries, &listing.params, listing.paths),
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
        let cols = view_columns(&shown, &listing.params, listing.paths);
        let rows: Vec<Vec<(String, bool)>> = shown
            .iter()
            .map(|e| cols.iter().map(|&c| view_cell(e, c, markdown)).collect())
            .collect();
        let names: Vec<&str> = cols.iter().map(|c| c.name()).collect();
        out += &if markdown {
            markdown_table(&names, &rows)
        } else {
            aligned_table(&names, &rows)
        };
        out.push('\n');
    }
    out += &footer(listing, markdown);
    out
}

/// A cell as the table shows it, and whether it is a number (right-aligned).
fn view_cell(e: &Entry, col: ViewCol, markdown: bool) -> (String, bool) {
    const WIDTH: usize = 60;
    if let ViewCol::Setting(_) = col {
        let text = col.value(e).text();
        let numeric = text.parse::<f64>().is_ok();
        return (text, numeric);
    }
    if matches!(col, ViewCol::Own(Column::Status)) {
        let text = e.status_text();
        let cut = if !markdown && text.chars().count() > WIDTH {
            format!("{}...", text.chars().take(WIDTH - 3).collect::<String>())
        } else {
            text
        };
        return (cut, false);
    }
    let v = col.value(e);
    let numeric = !matches!(v, Value::Text(_));
    (v.text(), numeric)
}

/// Columns aligned by width, numbers to the right (`rows` not empty).
pub(super) fn aligned_table(names: &[&str], rows: &[Vec<(String, bool)>]) -> String {
    let widths: Vec<usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            rows.iter()
                .map(|r| r[i].0.chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..names.len()).map(|i| rows[0][i].1).collect();
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
    let mut out = line(names.to_vec());
    for r in rows {
        out += &line(r.iter().map(|(t, _)| t.as_str()).collect());
    }
    out
}

/// A Markdown table, numbers right-aligned (`rows` not empty).
pub(super) fn markdown_table(names: &[&str], rows: &[Vec<(String, bool)>]) -> String {
    let esc = |t: &str| t.replace('|', "\\|");
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
    for note in &listing.notes {
        out += &format!("{note}\n");
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
pub(super) fn csv(entries: &[Entry], params: &[String], paths: bool) -> String {
    let cols = all_columns(params, paths);
    let mut names: Vec<String> = cols.iter().map(|c| quote(c.name())).collect();
    names.push("file".into());
    let mut out = names.join(",") + "\n";
    for e in entries {
        let mut cells: Vec<String> = cols
            .iter()
            .map(|c| match c.value(e) {
                Value::Int(None) | Value::Num(None, _) | Value::Flag(None) => String::new(),
                Value::Num(Some(x), _) => x.to_string(),
                Value::Flag(Some(b)) => b.to_string(),
                v => quote(&v.text()),
            })
            .collect();
        cells.push(quote(&e.file.display().to_string()));
        out += &(cells.join(",") + "\n");
    }
    out
}

/// Every entry as a JSON object, numbers as numbers (absent ones null; a setting that reads
/// as a number is one).
fn json(entries: &[Entry], params: &[String], paths: bool) -> String {
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut obj = serde_json::Map::new();
            for c in all_columns(params, paths) {
                let v = match (c, c.value(e)) {
                    (ViewCol::Setting(_), Value::Text(t)) => setting_json(&t),
                    (_, v) => v.json(),
                };
                obj.insert(c.name().into(), v);
            }
            obj.insert("file".into(), e.file.display().to_string().into());
            serde_json::Value::Object(obj)
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
}

/// A CSV field, quoted when it holds what would split it.
pub(super) fn quote(t: &str) -> String {
    if t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t.to_string()
    }
}

/// A setting's JSON: a number when the text is one, else the text.
pub(super) fn setting_json(text: &str) -> serde_json::Value {
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(|| text.into(), serde_json::Value::Number)
}
