//! `admm-runner show`: every run one line with the numbers its summary holds, the planned runs
//! that are not done, sorting, the four formats, and unreadable files listed, not fatal.

use crate::common::{admm_runner, text, write_manifest};
use admm_runner::manifest;
use admm_runner::results::{RunPaths, Summary};
use std::path::Path;
use std::process::Output;

/// Four runs: exact (refuses: max_dim 1, so it fails) and cg, two seeds each.
const FOUR: &str = "
name: small
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 8, target_train_acc: 0.5, exact: {max_dim: 1}}
sweep:
  solver: [exact, cg]
  seed: [0, 1]
";

fn show(args: &[&str]) -> Output {
    admm_runner().arg("show").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs the manifest's runs whose plan line contains `only` into `out`.
fn run_only(m: &Path, out: &Path, only: &str) {
    let o = admm_runner()
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--only", only])
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", text(&o));
}

fn json(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_str::<serde_json::Value>(&stdout(o))
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_manifest_shows_its_runs_from_the_summaries_and_what_is_not_done() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), FOUR);
    let out = dir.path().join("res");
    let planned = manifest::plan(&m, &[]).unwrap();
    // Seed 0 only: cg ok, exact failed; the seed-1 runs are missing.
    run_only(&m, &out, "seed=0");
    let (ms, os) = (m.to_str().unwrap(), out.to_str().unwrap());
    let rows = json(&show(&[ms, "--results", os, "--format", "json"]));
    assert_eq!(rows.len(), planned.len());
    for (row, run) in rows.iter().zip(&planned) {
        assert_eq!(row["id"], run.id.as_str());
        let paths = RunPaths::new(&out, "small", &run.id);
        let expected = match (run.config.seed, row["method"].as_str()) {
            (1, _) => "missing",
            (_, Some("exact")) => "failed",
            _ => "ok",
        };
        assert_eq!(row["status"], expected, "{row}");
        if expected == "missing" {
            assert!(row["test_acc"].is_null() && row["iters"].is_null(), "{row}");
            continue;
        }
        // The numbers are the summary's, read independently here (to the last bits that
        // serde_json's float parsing may round).
        let s = Summary::read(&paths.summary).unwrap();
        assert_eq!(row["iters"].as_i64(), s.iterations);
        let same = |key: &str, want: Option<f64>| {
            let got = row[key].as_f64();
            let close = match (got, want) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                (a, b) => a == b,
            };
            assert!(close, "{key}: {got:?} != {want:?}");
        };
        same("train_acc", s.last.train_acc);
        same("test_acc", s.last.test_acc);
        same("objective", s.last.objective);
        same("seconds", s.solve_s);
        same("to_target", s.target.total_s);
        if expected == "failed" {
            assert!(row["reason"].as_str().unwrap().contains("max_dim"), "{row}");
        } else {
            assert_eq!(row["reason"].as_str(), s.stop_reason.as_deref());
        }
    }
    // The table: the two runs with summaries, then the list of the three not done.
    let o = show(&[ms, "--results", os]);
    assert!(o.status.success(), "{}", text(&o));
    let t = stdout(&o);
    assert!(
        t.contains("4 planned runs: 1 ok, 1 failed, 2 missing"),
        "{t}"
    );
    assert!(t.contains("not done (3 of 4):"), "{t}");
    assert!(t.contains("compute them: admm-runner run"), "{t}");
    for run in &planned {
        let line = t.lines().find(|l| l.contains(&run.id)).unwrap_or_default();
        let want = match run.config.seed {
            1 => "missing: not run yet",
            _ if line.contains("exact") => "failed: ",
            _ => "ok (",
        };
        assert!(line.contains(want), "{}: {want}\n{t}", run.id);
    }
}

#[test]
fn a_results_folder_lists_every_summary_and_its_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), FOUR);
    let out = dir.path().join("res");
    run_only(&m, &out, "solver=cg");
    let runs = out.join("small/runs");
    std::fs::write(runs.join("garbage.parquet"), b"not parquet at all").unwrap();
    std::fs::write(runs.join("empty.parquet"), b"").unwrap();
    // A finished run whose trace is gone is not finished: `run` would compute it again.
    let planned = manifest::plan(&m, &[]).unwrap();
    let cg0 = planned
        .iter()
        .find(|r| r.describe().contains("solver=cg") && r.config.seed == 0)
        .unwrap();
    std::fs::remove_file(RunPaths::new(&out, "small", &cg0.id).trace).unwrap();
    for target in [out.clone(), out.join("small")] {
        let o = show(&[target.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let t = stdout(&o);
        assert!(
            t.contains("4 runs: 1 ok, 1 unfinished, 2 unreadable"),
            "{t}"
        );
        let bad = |name: &str| {
            t.lines()
                .any(|l| l.contains(name) && l.contains("unreadable: "))
        };
        assert!(bad("garbage") && bad("empty"), "{t}");
        let cg0_line = t.lines().find(|l| l.contains(&cg0.id)).unwrap();
        assert!(cg0_line.contains("unfinished"), "{t}");
    }
}

#[test]
fn sort_orders_numerically_and_an_unknown_key_lists_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), &FOUR.replace(", exact: {max_dim: 1}", ""));
    let out = dir.path().join("res");
    run_only(&m, &out, "");
    let os = out.to_str().unwrap();
    for (args, descending) in [
        (vec!["--sort", "objective"], false),
        (vec!["--sort", "test_acc", "--reverse"], true),
    ] {
        let key = args[1];
        let rows = json(&show(&[&[os, "--format", "json"], &args[..]].concat()));
        let values: Vec<f64> = rows.iter().map(|r| r[key].as_f64().unwrap()).collect();
        assert_eq!(values.len(), 4);
        let ordered = values.windows(2).all(|w| {
            if descending {
                w[0] >= w[1]
            } else {
                w[0] <= w[1]
            }
        });
        assert!(ordered, "{key}: {values:?}");
    }
    let o = show(&[os, "--sort", "accuracy"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for key in [
        "train_acc",
        "test_acc",
        "objective",
        "seconds",
        "to_target",
        "iters",
    ] {
        assert!(text(&o).contains(key), "{}", text(&o));
    }
    let o = show(&[os, "--only", "no-such-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = show(&[dir.path().join("nowhere").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn csv_and_markdown_hold_one_row_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), FOUR);
    let out = dir.path().join("res");
    run_only(&m, &out, "seed=0");
    let (ms, os) = (m.to_str().unwrap(), out.to_str().unwrap());
    let o = show(&[ms, "--results", os, "--format", "csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("experiment,id,method,backend,seed,status,reason,iters"),
        "{csv}"
    );
    assert_eq!(lines.len(), 1 + 4, "{csv}");
    let o = show(&[ms, "--results", os, "--format", "md", "--only", "solver=cg"]);
    assert!(o.status.success(), "{}", text(&o));
    let md = stdout(&o);
    assert!(
        md.starts_with("| id | method | backend | status | iters |"),
        "{md}"
    );
    // Header, rule, the one cg run with a summary.
    assert_eq!(md.lines().filter(|l| l.starts_with('|')).count(), 3, "{md}");
    assert!(
        md.contains("- ") && md.contains("missing: not run yet"),
        "{md}"
    );
}

/// The README shows what the tool produces (issue "Use what was trained", item 5): every image
/// it links under docs/figures/ is committed and is a PNG, and the section says which commit
/// and machine made them.
#[test]
fn the_readme_figures_are_committed_images_with_their_provenance() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let links: Vec<&str> = readme
        .split("](docs/figures/")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .collect();
    assert!(links.len() >= 4, "README links {links:?}");
    for name in &links {
        let path = root.join("docs/figures").join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if name.ends_with(".png") {
            assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
                "{} is not a PNG",
                path.display()
            );
        }
    }
    let section = readme
        .split("## What it produces")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a \"What it produces\" section");
    let commit = section
        .split("commit `")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .expect("the section names the commit the figures came from");
    assert!(
        commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "commit {commit:?}"
    );
    assert!(section.contains("machine"), "the section names the machine");
}
