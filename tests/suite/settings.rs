//! Swept settings made visible (issue 30, item 2): varied keys as `plan` fields and `show`
//! columns, `--only KEY=VALUE` (exact, repeatable), whole-field text filters, and
//! `plan --config RUN_ID`; plus the plain-language manifest messages of item 8.

use crate::common::{admm_runner, text, write_manifest};
use std::process::Output;

/// Two swept keys that `plan` lines did not show before: six runs of one seed.
const SIX: &str = "
name: grid
data: {source: synthetic, n_train: 40, n_test: 10, dim: 4}
problem: {patterns: 3}
solver: {name: nys-pcg, max_iters: 3}
sweep:
  solver.cg.max_iters: [5, 10, 20]
  solver.nys.rank: [2, 3]
";

fn cmd(args: &[&str]) -> Output {
    admm_runner().args(args).output().unwrap()
}

fn lines(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", text(o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn plan_lines_name_every_swept_key_and_differ() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SIX);
    let ms = m.to_str().unwrap();
    let all = lines(&cmd(&["plan", ms]));
    assert_eq!(all.len(), 6);
    let fields = |l: &str| l.split_once("  ").map(|(_, f)| f.to_string()).unwrap();
    let mut distinct: Vec<String> = all.iter().map(|l| fields(l)).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "{all:#?}");
    assert!(
        all.iter().all(|l| l.contains(" solver.cg.max_iters=")),
        "{all:#?}"
    );
    assert!(
        all.iter().all(|l| l.contains(" solver.nys.rank=")),
        "{all:#?}"
    );
    // KEY=VALUE by the key's last part or in full, exact, and repeatable (all must match).
    assert_eq!(lines(&cmd(&["plan", ms, "--only", "rank=2"])).len(), 3);
    assert_eq!(
        lines(&cmd(&["plan", ms, "--only", "solver.nys.rank=3"])).len(),
        3
    );
    let both = lines(&cmd(&[
        "plan",
        ms,
        "--only",
        "rank=2",
        "--only",
        "max_iters=10",
    ]));
    assert_eq!(both.len(), 1, "{both:#?}");
    assert!(both[0].contains("solver.cg.max_iters=10") && both[0].contains("rank=2"));
    // A value is exact: 1 is not 10; nothing selected is an error that says so.
    let o = cmd(&["plan", ms, "--only", "solver.cg.max_iters=1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("matches none of the 6"), "{}", text(&o));
}

#[test]
fn text_filters_match_whole_fields_so_cg_is_not_diag_pcg() {
    let dir = tempfile::tempdir().unwrap();
    let body = "
name: m
data: {source: synthetic, n_train: 30, n_test: 10, dim: 3}
problem: {patterns: 2}
solver: {name: cg, max_iters: 2}
sweep:
  solver: [cg, diag-pcg, nys-pcg]
";
    let m = write_manifest(dir.path(), body);
    let ms = m.to_str().unwrap();
    let cg = lines(&cmd(&["plan", ms, "--only", "cg-flex-s0"]));
    assert_eq!(cg.len(), 1, "{cg:#?}");
    assert!(cg[0].starts_with("cg-flex-s0-"), "{cg:#?}");
    assert_eq!(lines(&cmd(&["plan", ms, "--only", "cg"])).len(), 1);
    assert_eq!(lines(&cmd(&["plan", ms, "--only", "nys"])).len(), 1);
    assert_eq!(lines(&cmd(&["plan", ms, "--only", "flex"])).len(), 3);
}

#[test]
fn plan_config_prints_one_runs_whole_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SIX);
    let ms = m.to_str().unwrap();
    let first = lines(&cmd(&[
        "plan",
        ms,
        "--only",
        "rank=3",
        "--only",
        "max_iters=20",
    ]));
    let id = first[0].split_whitespace().next().unwrap().to_string();
    let config = lines(&cmd(&["plan", ms, "--config", &id]));
    assert!(config[0].contains(&id), "{config:#?}");
    for want in [
        "solver.nys.rank = 3",
        "solver.cg.max_iters = 20",
        "data.n_train = 40",
        "seed = 0",
        "solver.name = nys-pcg",
    ] {
        assert!(config.iter().any(|l| l == want), "{want}: {config:#?}");
    }
    let o = cmd(&["plan", ms, "--config", "nys-pcg"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("give more of the id"), "{}", text(&o));
}

#[test]
fn show_has_a_column_per_varied_setting_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SIX);
    let out = dir.path().join("res");
    let (ms, os) = (m.to_str().unwrap(), out.to_str().unwrap());
    let o = cmd(&[
        "run",
        ms,
        "--out",
        os,
        "--only",
        "rank=2",
        "--only",
        "max_iters=5",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cmd(&[
        "run",
        ms,
        "--out",
        os,
        "--only",
        "rank=3",
        "--only",
        "max_iters=20",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // A results folder: the settings come from the summaries.
    let table = lines(&cmd(&["show", os]));
    assert!(
        table[0].contains("solver.cg.max_iters") && table[0].contains("solver.nys.rank"),
        "{table:#?}"
    );
    let md = lines(&cmd(&["show", ms, "--results", os, "--format", "md"])).join("\n");
    assert!(
        md.contains("| solver.cg.max_iters | solver.nys.rank |"),
        "{md}"
    );
    let csv = lines(&cmd(&["show", ms, "--results", os, "--format", "csv"]));
    assert!(
        csv[0].ends_with(",solver.cg.max_iters,solver.nys.rank,file"),
        "{csv:#?}"
    );
    let o = cmd(&["show", os, "--format", "json", "--only", "rank=3"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&lines(&o).join("\n")).unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["solver.nys.rank"], 3.0);
    assert_eq!(rows[0]["solver.cg.max_iters"], 20.0);
}

#[test]
fn a_misspelt_key_gets_a_suggestion_and_integers_read_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(
        dir.path(),
        &SIX.replace("max_iters: 3}", "max_iters: 3, admm: {rhoo: 1}}"),
    );
    let o = cmd(&["plan", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("did you mean `rho`?"), "{}", text(&o));
    let m = write_manifest(
        dir.path(),
        "
name: m
data: {source: synthetic, n_train: 30, n_test: 10, dim: 3}
problem: {patterns: 2}
solver: {name: cg, max_iters: 2}
sweep:
  seed: [0]
  problem.beta: [oops]
",
    );
    let o = cmd(&["plan", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("seed=0"), "{}", text(&o));
    assert!(!text(&o).contains("U64"), "{}", text(&o));
}
