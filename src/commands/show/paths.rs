//! Regularization paths in `show`. A path run is planned once but written as one run per beta
//! (ids only known once beta_max is), with its table `paths/<path-id>.parquet` written last
//! (`run::path`). So a manifest's path run is listed as the points of its tables, and a
//! results folder's point summaries are marked chosen or not from those tables; each table
//! gives a note naming the chosen point's model, the file a user takes away.

use super::{load, Entry, State};
use crate::manifest::PlannedRun;
use crate::results::schema::{read_path, PathRow};
use crate::results::RunPaths;
use crate::run::path;
use std::collections::BTreeMap;
use std::path::Path;

/// The points of a planned path run (each path it solves: warm, cold or both), from its
/// tables; a path without a table yet is one missing entry under its path id. Returns the
/// entries and a note per solved path.
pub(super) fn planned_points(run: &PlannedRun, out: &Path) -> (Vec<Entry>, Vec<String>) {
    let Some(spec) = &run.beta_path else {
        return (Vec::new(), Vec::new());
    };
    let experiment = &run.config.experiment;
    let (mut entries, mut notes) = (Vec::new(), Vec::new());
    for warm in path::modes(spec) {
        let id = path::path_id(run, spec, warm);
        let table = path::table_path(out, run, &id);
        match read_path(&table) {
            Ok(rows) if !rows.is_empty() => {
                entries.extend(rows.iter().map(|r| point_entry(out, experiment, r)));
                notes.push(chosen_note(out, experiment, &id, &rows));
            }
            _ => entries.push(Entry {
                experiment: experiment.clone(),
                id,
                method: run.config.solver.method.kind().to_string(),
                backend: run.config.backend.to_string(),
                seed: i64::try_from(run.config.seed).ok(),
                state: State::Missing { claimed: false },
                summary: None,
                file: table,
                settings: crate::manifest::settings(&run.config),
                chosen: None,
            }),
        }
    }
    (entries, notes)
}

/// The run ids of a planned path run's points, as its tables name them (none for a run that
/// is no path, or a path not solved yet).
pub(super) fn point_ids(run: &PlannedRun, out: &Path) -> Vec<String> {
    let Some(spec) = &run.beta_path else {
        return Vec::new();
    };
    path::modes(spec)
        .into_iter()
        .flat_map(|warm| {
            let id = path::path_id(run, spec, warm);
            read_path(&path::table_path(out, run, &id)).unwrap_or_default()
        })
        .map(|r| r.run_id)
        .collect()
}

/// One point of a table, from its summary (missing if the summary is gone).
fn point_entry(out: &Path, experiment: &str, row: &PathRow) -> Entry {
    let paths = RunPaths::new(out, experiment, &row.run_id);
    let mut e = Entry {
        experiment: experiment.to_string(),
        id: row.run_id.clone(),
        method: String::new(),
        backend: String::new(),
        seed: None,
        state: State::Missing {
            claimed: paths.claim.exists(),
        },
        summary: None,
        file: paths.summary.clone(),
        settings: BTreeMap::new(),
        chosen: None,
    };
    if paths.summary.exists() {
        load(&mut e, &paths);
    }
    table_facts(&mut e, row);
    e
}

/// What only the path table knows of a point: whether it was chosen, and the path's beta_max
/// (a summary records it beside its `config.*` columns, where they are not read back).
fn table_facts(e: &mut Entry, row: &PathRow) {
    e.chosen = Some(row.chosen);
    if row.beta_max.is_finite() {
        e.settings
            .insert("path.beta_max".into(), row.beta_max.to_string());
    }
}

/// Marks the points of `<out>/<experiment>/` chosen or not from the experiment's path tables
/// (sorted by name; an unreadable table leaves its points unmarked); a note per table.
pub(super) fn mark(out: &Path, experiment: &str, entries: &mut [Entry]) -> Vec<String> {
    let dir = out.join(experiment).join("paths");
    let Ok(read) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut tables: Vec<_> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| super::is_summary_file(p))
        .collect();
    tables.sort();
    let mut notes = Vec::new();
    for table in tables {
        let Ok(rows) = read_path(&table) else {
            continue;
        };
        for r in &rows {
            if let Some(e) = entries.iter_mut().find(|e| e.id == r.run_id) {
                table_facts(e, r);
            }
        }
        let id = table
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        notes.push(chosen_note(out, experiment, &id, &rows));
    }
    notes
}

/// "path ID (warm start, 8 betas): chosen RUN (beta B, beta/beta_max R, val_acc V, test_acc
/// T); model FILE", or why there is no choice or no model file.
pub(super) fn chosen_note(out: &Path, experiment: &str, id: &str, rows: &[PathRow]) -> String {
    let mode = if rows.first().is_some_and(|r| r.warm_start) {
        "warm"
    } else {
        "cold"
    };
    let head = format!("path {id} ({mode} start, {} betas)", rows.len());
    let Some(c) = rows.iter().find(|r| r.chosen) else {
        return format!("{head}: no point finished ok, no beta chosen");
    };
    let model = RunPaths::new(out, experiment, &c.run_id).model;
    let file = if model.is_file() {
        format!("model {}", model.display())
    } else {
        "no model file (output.save_model off, or removed)".to_string()
    };
    format!(
        "{head}: chosen {} (beta {:.4e}, beta/beta_max {:.4e}, val_acc {:.4}, test_acc {:.4}); {file}",
        c.run_id,
        c.beta,
        c.beta / c.beta_max,
        c.val_acc,
        c.test_acc
    )
}
