//! `admm-runner show`: the runs of a results folder, or of a manifest's plan, one line each,
//! read from the Parquet summaries (`results::Summary`), so that a user sees which runs
//! finished and how they did without opening Python. Given a manifest, it also lists the
//! planned runs that are not done (missing, failed, unfinished). A file that cannot be read is
//! listed as unreadable, never a panic. A regularization path is listed as its points, with
//! beta, beta / beta_max, the validation accuracy and which point was chosen (`paths`);
//! `--group-by` folds runs into one row per setting (`group`).

use crate::manifest::PlannedRun;
use crate::results::{RunPaths, Summary};
use crate::run::sweep;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod cells;
mod format;
mod group;
mod paths;

pub use cells::Column;
use cells::{cell, Value};

pub use format::render;

/// How `show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// A Markdown table (for a README or an issue).
    Md,
    /// CSV, every entry a row (missing and unreadable ones too), with a header.
    Csv,
    /// A JSON array of objects, every entry one object, numbers as numbers.
    Json,
}

impl Format {
    /// Every format, with its command-line name.
    pub const ALL: [(Format, &'static str); 4] = [
        (Format::Table, "table"),
        (Format::Md, "md"),
        (Format::Csv, "csv"),
        (Format::Json, "json"),
    ];
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The summary says ok and the trace is complete.
    Ok,
    /// The summary records a failure (its reason is the summary's).
    Failed,
    /// An ok summary whose trace is missing, unreadable or short: the next `run` computes it
    /// again (`sweep::is_finished`).
    Unfinished,
    /// Planned but without a summary; `claimed` when a claim file says a process holds it.
    Missing { claimed: bool },
    /// The summary (or its folder) exists but cannot be read: why.
    Unreadable(String),
}

impl State {
    fn word(&self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Failed => "failed",
            State::Unfinished => "unfinished",
            State::Missing { .. } => "missing",
            State::Unreadable(_) => "unreadable",
        }
    }
}

/// One run as `show` lists it: from its summary when there is one, else from the plan.
#[derive(Debug, Clone)]
pub struct Entry {
    pub experiment: String,
    pub id: String,
    pub method: String,
    pub backend: String,
    pub seed: Option<i64>,
    pub state: State,
    pub summary: Option<Summary>,
    /// The summary file (present or expected).
    pub file: PathBuf,
    /// The resolved settings (`dotted.key` -> value): the plan's, or the summary's
    /// `config.*` columns for a results folder.
    pub settings: BTreeMap<String, String>,
    /// A path point listed in its path's table: whether the validation accuracy chose it.
    pub chosen: Option<bool>,
}

impl Entry {
    /// A point of a regularization path (its settings have the point's index).
    pub fn is_point(&self) -> bool {
        self.chosen.is_some() || self.settings.contains_key("path.index")
    }

    /// A setting read as a number.
    fn number(&self, key: &str) -> Option<f64> {
        self.settings.get(key).and_then(|v| v.parse().ok())
    }

    /// Why, in words: the stop reason of an ok run, the failure of a failed one, and what a
    /// missing, unfinished or unreadable one means.
    pub fn reason(&self) -> String {
        let s = self.summary.as_ref();
        match &self.state {
            State::Ok => s.and_then(|s| s.stop_reason.clone()).unwrap_or_default(),
            State::Failed => s
                .and_then(|s| s.reason.clone())
                .unwrap_or_else(|| "no reason recorded".into()),
            State::Unfinished => {
                "its trace is missing or short: the next `run` computes it again".into()
            }
            State::Missing { claimed: true } => {
                "claimed by a process computing it (a dead one's claim is taken over by the next run)"
                    .into()
            }
            State::Missing { claimed: false } => "not run yet".into(),
            State::Unreadable(why) => why.clone(),
        }
    }

    /// The status with its reason, as the table shows it: `ok (max_iters)`, `failed: why`.
    fn status_text(&self) -> String {
        let why = self.reason();
        match (&self.state, why.is_empty()) {
            (_, true) => self.state.word().to_string(),
            (State::Ok, false) => format!("ok ({why})"),
            (state, false) => format!("{}: {why}", state.word()),
        }
    }

    /// The fields `--only` matches in a results folder: the columns a user would name, as
    /// `plan` lines name them (`solver=cg`, `seed=0`), beside the resolved settings.
    fn match_line(&self) -> String {
        let seed = self.seed.map(|s| s.to_string()).unwrap_or_default();
        format!(
            "{id} experiment={exp} solver={m} method={m} backend={b} seed={seed} status={st}",
            id = self.id,
            exp = self.experiment,
            m = self.method,
            b = self.backend,
            st = self.state.word(),
        )
    }

    /// Whether every `--only` filter matches (`shard::matches`).
    fn matches(&self, only: &[String]) -> bool {
        let line = self.match_line();
        only.iter()
            .all(|f| crate::run::shard::matches(&line, &self.settings, f))
    }
}

/// The keys shown as columns of their own, never again as settings.
const OWN_COLUMNS: [&str; 4] = ["experiment", "solver.name", "backend", "seed"];

/// The settings the listed runs vary (`manifest::varied_keys`): one column each.
fn varied(entries: &[Entry]) -> Vec<String> {
    crate::manifest::varied_keys(entries.iter().map(|e| &e.settings))
        .into_iter()
        .filter(|k| !OWN_COLUMNS.contains(&k.as_str()))
        .collect()
}

/// A summary's `config.<key>` columns as settings text (numbers as `manifest::settings`
/// writes them, so a folder and a manifest show the same values).
fn summary_settings(s: &Summary) -> BTreeMap<String, String> {
    use crate::results::Cell;
    s.config
        .iter()
        .map(|(k, cell)| {
            let key = k.strip_prefix("config.").unwrap_or(k).to_string();
            let text = match cell {
                Cell::F64(Some(x)) => x.to_string(),
                Cell::I64(Some(i)) => i.to_string(),
                Cell::Str(Some(t)) => t.clone(),
                Cell::Bool(Some(b)) => b.to_string(),
                _ => "none".into(),
            };
            (key, text)
        })
        .collect()
}

/// What `show` was asked: a results folder or a manifest, and how to print.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A results folder (`results/` or `results/<experiment>/`) or a manifest file.
    pub target: PathBuf,
    /// `--set` overrides: they select a manifest's run ids, as for `run`.
    pub overrides: Vec<(String, figment::value::Value)>,
    /// Where a manifest's results are (`run --out`).
    pub results: PathBuf,
    /// Keep entries every filter matches (for a manifest: its plan, as `run`).
    pub only: Vec<String>,
    pub sort: Option<Column>,
    pub reverse: bool,
    pub format: Format,
    /// `--group-by`: one row per distinct value of these keys, numbers as mean, min, max.
    pub group_by: Vec<String>,
}

/// Why `show` has nothing to list: a manifest that does not plan, a folder that holds no
/// results, or a selection that matches nothing.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error("{folder}: --set applies to a manifest, and this is a results folder")]
    SetOnResults { folder: PathBuf },
    #[error("--only {only:?} matches no run of {target}")]
    NoMatch { only: String, target: PathBuf },
    // `reason`, not `source`: the message holds it already (a source would print it twice).
    #[error("{folder}: cannot read the folder: {reason}")]
    ReadFolder {
        folder: PathBuf,
        reason: std::io::Error,
    },
    #[error(
        "{folder}: no results here (expected <experiment>/runs/<run-id>.parquet, as \
         `admm-runner run --out {folder}` writes them)"
    )]
    NoResults { folder: PathBuf },
    #[error("--group-by {key}: no column or setting of these runs has this name{hint}")]
    GroupKey { key: String, hint: String },
}

/// The entries `show` lists and the notes printed under a table.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// Given a manifest: the command that computes what is not done.
    pub hint: Option<String>,
    /// Given a manifest: summaries in its experiments' folders that are not in this plan.
    pub others: Vec<(String, usize)>,
    /// The settings the entries vary: a column each, in every format.
    pub params: Vec<String>,
    /// Some entry is a path point: the path columns are shown.
    pub paths: bool,
    /// Lines under a table: each path's chosen point and its model file.
    pub notes: Vec<String>,
}

/// `admm-runner show`: the listing of `opts.target`, rendered.
pub fn show(opts: &Options) -> Result<String, ShowError> {
    let mut listing = if opts.target.is_dir() {
        if !opts.overrides.is_empty() {
            return Err(ShowError::SetOnResults {
                folder: opts.target.clone(),
            });
        }
        let (mut entries, notes) = from_dir(&opts.target)?;
        // The columns of everything in the folder, so that a selection still shows them.
        let params = varied(&entries);
        entries.retain(|e| e.matches(&opts.only));
        Listing {
            entries,
            params,
            notes,
            ..Listing::default()
        }
    } else {
        from_manifest(opts)?
    };
    if !opts.only.is_empty() && listing.entries.is_empty() {
        return Err(ShowError::NoMatch {
            only: opts.only.join(" "),
            target: opts.target.clone(),
        });
    }

    listing.paths = listing.entries.iter().any(Entry::is_point);
    if listing.paths {
        // Beta has a column of its own, and the index only orders the points.
        let shown_apart = ["problem.beta", "path.index", "path.beta_max"];
        listing
            .params
            .retain(|k| !shown_apart.contains(&k.as_str()));
    }
    if !opts.group_by.is_empty() {
        return group::show(&listing, opts);
    }
    if let Some(key) = opts.sort {
        sort(&mut listing.entries, key, opts.reverse);
    }
    Ok(render(&listing, opts.format))
}

/// A manifest's planned runs (after `--only`, as `run` selects them) against its results.
fn from_manifest(opts: &Options) -> Result<Listing, ShowError> {
    let all = crate::manifest::plan(&opts.target, &opts.overrides)?;
    let others = others(&all, &opts.results);
    // The columns of the whole plan, so that a selection still shows them.
    let settings: Vec<_> = all
        .iter()
        .map(|r| crate::manifest::settings(&r.config))
        .collect();
    let mut params: Vec<String> = crate::manifest::varied_keys(&settings)
        .into_iter()
        .filter(|k| !OWN_COLUMNS.contains(&k.as_str()))
        .collect();
    let runs = crate::run::shard::select(all, &opts.only, None);
    let (entries, notes) = from_plan(&runs, &opts.results);
    // A path's points vary beta and warm or cold start: their columns too.
    for key in varied(&entries) {
        if !params.contains(&key) {
            params.push(key);
        }
    }
    let mut hint = format!("admm-runner run {}", opts.target.display());
    for (key, value) in &opts.overrides {
        hint += &format!(" --set '{key}={}'", crate::manifest::value_text(value));
    }
    if opts.results != Path::new("results") {
        hint += &format!(" --out {}", opts.results.display());
    }
    Ok(Listing {
        others,
        entries,
        hint: Some(hint),
        params,
        notes,
        paths: false,
    })
}

/// Every planned run, from its summary when there is one; a path run as its points (from its
/// tables), with a note per path naming the chosen point's model.
pub fn from_plan(runs: &[PlannedRun], out: &Path) -> (Vec<Entry>, Vec<String>) {
    let mut notes = Vec::new();
    let mut entries = Vec::new();
    for run in runs {
        if run.beta_path.is_some() {
            let (points, more) = paths::planned_points(run, out);
            entries.extend(points);
            notes.extend(more);
        } else {
            entries.push(planned_entry(run, out));
        }
    }
    (entries, notes)
}

/// A planned run that is no path, from its summary when there is one.
fn planned_entry(run: &PlannedRun, out: &Path) -> Entry {
    let c = &run.config;
    let paths = RunPaths::new(out, &c.experiment, &run.id);
    let mut e = Entry {
        experiment: c.experiment.clone(),
        id: run.id.clone(),
        method: c.solver.method.kind().to_string(),
        backend: c.backend.to_string(),
        seed: i64::try_from(c.seed).ok(),
        state: State::Missing {
            claimed: paths.claim.exists(),
        },
        summary: None,
        file: paths.summary.clone(),
        settings: crate::manifest::settings(c),
        chosen: None,
    };
    if paths.summary.exists() {
        load(&mut e, &paths);
    }
    e
}

/// Every summary in a results folder: `dir` is either one experiment's folder (it has
/// `runs/`) or a folder of them (`results/`); path points are marked chosen or not from their
/// tables, and each table gives a note naming its chosen point's model.
pub fn from_dir(dir: &Path) -> Result<(Vec<Entry>, Vec<String>), ShowError> {
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    for exp in experiment_dirs(dir)? {
        // "." and ".." have no name of their own: their absolute form does.
        let exp = match exp.file_name() {
            Some(_) => exp,
            None => exp.canonicalize().unwrap_or(exp),
        };
        let name = exp
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out = exp.parent().unwrap_or(Path::new("."));
        let mut found = entries_in(out, &name);
        notes.extend(paths::mark(out, &name, &mut found));
        entries.extend(found);
    }
    Ok((entries, notes))
}

/// The experiment folders under `dir` (or `dir` itself), sorted by name.
fn experiment_dirs(dir: &Path) -> Result<Vec<PathBuf>, ShowError> {
    if dir.join("runs").is_dir() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let read = std::fs::read_dir(dir).map_err(|reason| ShowError::ReadFolder {
        folder: dir.into(),
        reason,
    })?;
    let mut found: Vec<PathBuf> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("runs").is_dir())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(ShowError::NoResults { folder: dir.into() });
    }
    Ok(found)
}

/// The summaries in `<out>/<experiment>/runs/`, sorted by file name (temp files skipped).
fn entries_in(out: &Path, experiment: &str) -> Vec<Entry> {
    let runs = out.join(experiment).join("runs");
    let blank = |id: String, file: PathBuf, state: State| Entry {
        experiment: experiment.to_string(),
        id,
        method: String::new(),
        backend: String::new(),
        seed: None,
        state,
        summary: None,
        file,
        settings: BTreeMap::new(),
        chosen: None,
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&runs) {
        Ok(read) => read.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            let why = format!("cannot read the folder: {e}");
            return vec![blank("-".into(), runs, State::Unreadable(why))];
        }
    };
    files.retain(|p| is_summary_file(p));
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let id = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let paths = RunPaths::new(out, experiment, &id);
            let mut e = blank(id, file, State::Missing { claimed: false });
            load(&mut e, &paths);
            e
        })
        .collect()
}

/// A `<run-id>.parquet` (not a `.<name>.tmp-...` file being written).
fn is_summary_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.') && name.ends_with(".parquet")
}

/// Reads an entry's summary and judges it as `run`'s resume check does.
pub(super) fn load(e: &mut Entry, paths: &RunPaths) {
    match read_summary(&e.file) {
        Err(why) => e.state = State::Unreadable(why),
        Ok(s) => {
            e.state = if !s.ok() {
                State::Failed
            } else if sweep::is_finished(paths, false) {
                State::Ok
            } else {
                State::Unfinished
            };
            e.method.clone_from(&s.solver);
            e.backend.clone_from(&s.backend);
            e.seed = Some(s.seed);
            if e.settings.is_empty() {
                e.settings = summary_settings(&s);
            }
            e.summary = Some(s);
        }
    }
}

/// A summary, or why it cannot be read. A reader panic (a corrupt file polars trips on) is a
/// reason too: one bad file must not hide the others.
fn read_summary(path: &Path) -> Result<Summary, String> {
    match std::panic::catch_unwind(|| Summary::read(path)) {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.reason),
        Err(_) => Err("the Parquet reader failed on this file (corrupt?)".into()),
    }
}

/// Per experiment of the plan: how many summaries its folder holds that the plan does not
/// name (results of other `--set` values, or of an older manifest).
fn others(runs: &[PlannedRun], out: &Path) -> Vec<(String, usize)> {
    // A path's points are the plan's too (their ids are only known from its tables).
    let points: Vec<String> = runs.iter().flat_map(|r| paths::point_ids(r, out)).collect();
    let mut experiments: Vec<&str> = runs.iter().map(|r| r.config.experiment.as_str()).collect();
    experiments.dedup();
    experiments
        .into_iter()
        .filter_map(|exp| {
            let read = std::fs::read_dir(out.join(exp).join("runs")).ok()?;
            let n = read
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_summary_file(p))
                .filter(|p| {
                    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                    !runs.iter().any(|r| Some(&r.id) == stem.as_ref())
                        && !points.iter().any(|id| Some(id) == stem.as_ref())
                })
                .count();
            (n > 0).then(|| (exp.to_string(), n))
        })
        .collect()
}

/// Sorts by `key` (numbers numerically), keeping the order of equal entries; entries without
/// a value (a missing run's accuracy) come last in either direction.
pub fn sort(entries: &mut [Entry], key: Column, reverse: bool) {
    entries.sort_by(|a, b| {
        let (x, y) = (cell(a, key), cell(b, key));
        let absent = |v: &Value| {
            matches!(
                v,
                Value::Int(None) | Value::Num(None, _) | Value::Flag(None)
            )
        };
        match (absent(&x), absent(&y)) {
            (false, true) => std::cmp::Ordering::Less,
            (true, false) => std::cmp::Ordering::Greater,
            _ if reverse => y.cmp_key(&x),
            _ => x.cmp_key(&y),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, test_acc: Option<f64>) -> Entry {
        let mut s = Summary::default();
        s.last.test_acc = test_acc;
        Entry {
            experiment: "e".into(),
            id: id.into(),
            method: "cg".into(),
            backend: "flex".into(),
            seed: Some(0),
            state: State::Ok,
            summary: Some(s),
            file: PathBuf::from(format!("{id}.parquet")),
            settings: BTreeMap::new(),
            chosen: None,
        }
    }

    fn ids(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn sorting_is_numeric_and_absent_values_come_last_both_ways() {
        let mut v = vec![
            entry("a", Some(0.9)),
            entry("b", None),
            entry("c", Some(0.10)),
            entry("d", Some(0.5)),
        ];
        sort(&mut v, Column::TestAcc, false);
        assert_eq!(ids(&v), ["c", "d", "a", "b"]);
        sort(&mut v, Column::TestAcc, true);
        assert_eq!(ids(&v), ["a", "d", "c", "b"]);
        sort(&mut v, Column::Id, true);
        assert_eq!(ids(&v), ["d", "c", "b", "a"]);
    }

    #[test]
    fn csv_quotes_what_would_split_a_field() {
        let mut e = entry("a", Some(0.5));
        e.state = State::Failed;
        if let Some(s) = e.summary.as_mut() {
            s.reason = Some("bad \"x\", then y".into());
        }
        let text = format::csv(&[e], &[], false);
        let row = text.lines().nth(1).unwrap();
        assert!(row.contains(",failed,\"bad \"\"x\"\", then y\","), "{row}");
    }
}
