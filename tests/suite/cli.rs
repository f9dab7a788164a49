//! The binary end to end: run, skip on rerun, --force, failures recorded while the sweep
//! goes on, plan output and errors.

use crate::common::{admm_runner, text, write_manifest, write_npy};
use admm_runner::results::{self, column_f64, column_str, ReadLimits};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    admm_runner()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

const SMALL: &str = "
name: small
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 15, target_train_acc: 0.5}
sweep:
  solver: [exact, cg]
";

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn run_writes_results_and_rerun_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 ok"), "{}", text(&o));
    let summaries = files(&out.join("small/runs"));
    let traces = files(&out.join("small/trace"));
    assert_eq!(summaries.len(), 2);
    assert_eq!(traces.len(), 2);
    for s in &summaries {
        let df = results::read(s, &ReadLimits::SUMMARY).unwrap();
        assert_eq!(column_str(&df, "status").unwrap()[0].as_deref(), Some("ok"));
        let secs = column_f64(&df, "solve_s").unwrap()[0].unwrap();
        let parts: f64 = ["precompute_s", "u_s", "v_s", "dual_s"]
            .iter()
            .map(|c| column_f64(&df, c).unwrap()[0].unwrap())
            .sum();
        assert!((secs - parts).abs() < 1e-9);
        assert!(column_f64(&df, "config.solver.admm.rho").unwrap()[0] == Some(0.5));
        assert!(
            column_f64(&df, "target_s").unwrap()[0].is_some(),
            "50% train accuracy is reached"
        );
    }
    let trace = results::read(&traces[0], &ReadLimits::TRACE).unwrap();
    assert_eq!(trace.height(), 15);
    let before = std::fs::metadata(&summaries[0])
        .unwrap()
        .modified()
        .unwrap();

    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(text(&o).contains("2 skipped"), "{}", text(&o));
    assert_eq!(
        std::fs::metadata(&summaries[0])
            .unwrap()
            .modified()
            .unwrap(),
        before
    );

    let o = run(&[
        "run",
        m.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
        "--only",
        "exact",
    ]);
    assert!(o.status.success());
    assert!(text(&o).contains("1 runs: 1 ok"), "{}", text(&o));
}

#[test]
fn a_failing_run_is_recorded_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // The exact solver refuses (limit 1), cg succeeds.
    let body = SMALL.replace("max_iters: 15,", "max_iters: 15, exact: {max_dim: 1},");
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("1 ok, 1 failed"), "{}", text(&o));
    let mut statuses = Vec::new();
    for s in files(&out.join("small/runs")) {
        let df = results::read(&s, &ReadLimits::SUMMARY).unwrap();
        let status = column_str(&df, "status").unwrap()[0].clone().unwrap();
        if status == "failed" {
            let reason = column_str(&df, "reason").unwrap()[0].clone().unwrap();
            assert!(reason.contains("solver.exact.max_dim"), "{reason}");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, vec!["failed", "ok"]);
}

#[test]
fn adam_runs_through_the_same_harness() {
    let dir = tempfile::tempdir().unwrap();
    let body =
        SMALL.replace("[exact, cg]", "[cg, adam]") + "variants:\n  - {solver.max_iters: 6}\n";
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let adam = |sub: &str| {
        files(&out.join(sub))
            .into_iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("adam-")
            })
            .unwrap()
    };
    let cg = |sub: &str| {
        files(&out.join(sub))
            .into_iter()
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("cg-"))
            .unwrap()
    };
    // One trace row per epoch, with the ADMM trace's columns.
    let (ta, tc) = (
        results::read(&adam("small/trace"), &ReadLimits::TRACE).unwrap(),
        results::read(&cg("small/trace"), &ReadLimits::TRACE).unwrap(),
    );
    assert_eq!(ta.height(), 6);
    assert_eq!(ta.get_column_names(), tc.get_column_names());
    let iters = column_f64(&ta, "iter").unwrap();
    assert_eq!(iters.last().copied().flatten(), Some(6.0));
    // The summary: ok, the solver named, epochs counted, training time in u.
    let s = results::read(&adam("small/runs"), &ReadLimits::SUMMARY).unwrap();
    assert_eq!(column_str(&s, "status").unwrap()[0].as_deref(), Some("ok"));
    assert_eq!(
        column_str(&s, "solver").unwrap()[0].as_deref(),
        Some("adam")
    );
    assert_eq!(column_f64(&s, "iterations").unwrap()[0], Some(6.0));
    assert!(column_f64(&s, "u_s").unwrap()[0].unwrap() > 0.0);
    assert_eq!(column_f64(&s, "v_s").unwrap()[0], Some(0.0));
    let acc = column_f64(&s, "train_acc").unwrap()[0].unwrap();
    assert!(acc > 0.5, "adam learns something: train acc {acc}");
}

#[test]
fn bench_prints_kernel_and_solver_tables() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(
        dir.path(),
        &SMALL.replace("[exact, cg]", "[cg, rbcd, adam]"),
    );
    // A target that cg with one inner iteration reaches only after a few ADMM iterations.
    let (target, slow) = ("solver.target_train_acc=0.91", "solver.cg.max_iters=1");
    let o = run(&["bench", m.to_str().unwrap(), "--set", target, "--set", slow]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // One kernel row for the one (backend, size), one row per solver; d counts the bias.
    let kernel_rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| flex | 60 |"))
        .collect();
    assert_eq!(kernel_rows.len(), 1, "{out}");
    assert!(out.contains("| cg | flex | 60 | 6 | 4 |"), "{out}");
    assert!(out.contains("| rbcd | flex | 60 | 6 | 4 |"), "{out}");
    // Adam runs through the same harness (its s / iter is per epoch).
    assert!(out.contains("| adam | flex | 60 |"), "{out}");
    assert!(!out.contains("failed"), "{out}");

    // Seconds to the manifest's target: the iteration bench reports is the
    // first trace row at or above the target in a plain `run` of the same manifest.
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("| cg | flex | 60 |"))
        .unwrap_or_default()
        .split('|')
        .map(str::trim)
        .collect();
    // | solver | backend | n | d | P | s/iter | pre | iters | train acc | to target s | iters to target | ...
    let bench_secs: f64 = row[10].parse().unwrap();
    let bench_iter: usize = row[11].parse().unwrap();
    assert!(bench_secs > 0.0, "{out}");
    let res = dir.path().join("res");
    let o = run(&[
        "run",
        m.to_str().unwrap(),
        "--set",
        target,
        "--set",
        slow,
        "--only",
        "cg",
        "--out",
        res.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let trace = results::read(&files(&res.join("small/trace"))[0], &ReadLimits::TRACE).unwrap();
    let acc = column_f64(&trace, "train_acc").unwrap();
    let first = acc.iter().position(|a| a.unwrap() >= 0.91).unwrap() + 1;
    assert!(first > 1, "the target is not trivial: {acc:?}");
    assert_eq!(bench_iter, first, "{out}");
}

#[test]
fn a_diverging_run_is_recorded_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    // Huge (finite) features, not standardized: their squares overflow f32 in
    // the first inner solve. (NaN in the file is refused at load.)
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    write_npy(
        &x,
        &[4, 2],
        &[1e25, 0.0, 2e25, 1e25, -1e25, 5e24, 3e24, -2e24],
    );
    write_npy(&y, &[4], &[1.0, -1.0, 1.0, -1.0]);
    let body = format!(
        "name: nan\ndata: {{source: npy, n_train: 0, standardize: none, x: {}, y: {}}}\nproblem: {{patterns: 2}}\nsolver: {{name: cg, max_iters: 3}}\n",
        x.display(),
        y.display()
    );
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = files(&out.join("nan/runs"));
    let df = results::read(&s[0], &ReadLimits::SUMMARY).unwrap();
    assert_eq!(
        column_str(&df, "status").unwrap()[0].as_deref(),
        Some("failed")
    );
    let reason = column_str(&df, "reason").unwrap()[0].clone().unwrap();
    assert!(
        reason.contains("diverged") && reason.contains("overflow"),
        "{reason}"
    );
}

#[test]
fn plan_prints_one_line_per_run() {
    let root = crate::common::repo_root();
    let o = run(&["plan", root.join("experiments/fig1.yaml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 18);
    assert!(lines
        .iter()
        .all(|l| l.contains("backend=flex") && l.contains("P=10") && l.contains("seed=")));
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), &SMALL.replace("patterns: 4", "patterns: four"));
    let o = run(&["plan", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let msg = text(&o);
    assert!(
        msg.contains("m.yaml") && msg.contains("problem.patterns"),
        "{msg}"
    );
    let o = run(&["run", m.to_str().unwrap(), "--shard", "5/2"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--help"]);
    assert!(text(&o).contains("Examples:"));
}

#[test]
fn cuda_without_a_device_fails_clearly_and_the_sweep_goes_on() {
    if admm_runner::backend::cuda_probe().is_ok() {
        eprintln!("skipped: a CUDA device is present");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let body = SMALL.replace(
        "sweep:\n  solver: [exact, cg]",
        "sweep:\n  backend: [cuda, flex]",
    );
    let m = write_manifest(dir.path(), &body);
    let plan = run(&["plan", m.to_str().unwrap()]);
    assert!(text(&plan).contains("backend=cuda"), "{}", text(&plan));
    let out = dir.path().join("res");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("1 ok, 1 failed"), "{}", text(&o));
    let failed: Vec<String> = files(&out.join("small/runs"))
        .iter()
        .filter_map(|s| {
            let df = results::read(s, &ReadLimits::SUMMARY).unwrap();
            column_str(&df, "reason").unwrap()[0].clone()
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].contains("cuda")
            && (failed[0].contains("not compiled") || failed[0].contains("not found")),
        "{}",
        failed[0]
    );
}

#[test]
fn info_lists_the_backends() {
    let o = run(&["info"]);
    assert!(o.status.success());
    let t = text(&o);
    assert!(
        t.contains("flex") && t.contains("ndarray") && t.contains("cuda"),
        "{t}"
    );
}

#[test]
fn a_killed_sweep_leaves_only_whole_files_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let body = SMALL
        .replace("n_train: 60", "n_train: 400")
        .replace("max_iters: 15", "max_iters: 400")
        .replace(
            "sweep:\n  solver: [exact, cg]",
            "sweep:\n  seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]",
        );
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let runs = out.join("small/runs");
    let mut child = bin()
        .args([
            "run",
            m.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no chance to clean up) once the first run has finished.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let finished_runs = || {
        files(&runs)
            .into_iter()
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .count()
    };
    while finished_runs() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = finished_runs();
    assert!(
        (1..12).contains(&finished),
        "{finished} runs finished before the kill"
    );
    // Every result file is whole: it parses.
    let traces = out.join("small/trace");
    for (d, limits) in [(&runs, ReadLimits::SUMMARY), (&traces, ReadLimits::TRACE)] {
        for f in files(d)
            .iter()
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        {
            results::read(f, &limits)
                .unwrap_or_else(|e| panic!("partial file {}: {e}", f.display()));
        }
    }
    // The rerun skips what finished and completes the rest.
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{finished} skipped")),
        "{}",
        text(&o)
    );
    assert_eq!(
        files(&runs).len(),
        12,
        "temp files were cleaned and all runs written"
    );
}

#[test]
fn a_run_that_never_left_zero_is_recorded_failed_not_converged() {
    let dir = tempfile::tempdir().unwrap();
    let body = "name: still\ndata: {source: synthetic, n_train: 40, n_test: 10, dim: 4, \
                teacher_width: 3}\nproblem: {patterns: 4, beta: 0.01}\n\
                solver: {name: cg, admm: {rho: 1.0e30}, max_iters: 5}\n";
    let m = write_manifest(dir.path(), body);
    let out = dir.path().join("res");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nothing moved"), "{}", text(&o));
    let summaries = files(&out.join("still/runs"));
    assert_eq!(summaries.len(), 1);
    let df = results::read(&summaries[0], &ReadLimits::SUMMARY).unwrap();
    assert_eq!(
        column_str(&df, "status").unwrap()[0].as_deref(),
        Some("failed")
    );
    assert_eq!(
        column_str(&df, "stop_reason").unwrap()[0].as_deref(),
        Some("nothing_moved")
    );
}

#[test]
fn only_matching_nothing_exits_2_naming_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    for cmd in [
        vec!["plan", m.to_str().unwrap(), "--only", "no-such-run"],
        vec![
            "run",
            m.to_str().unwrap(),
            "--only",
            "no-such-run",
            "--out",
            out.to_str().unwrap(),
        ],
        vec!["bench", m.to_str().unwrap(), "--only", "no-such-run"],
    ] {
        let o = run(&cmd);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", text(&o));
        assert!(
            text(&o).contains("no-such-run") && text(&o).contains("2 planned runs"),
            "{}",
            text(&o)
        );
    }
    assert!(!out.exists(), "nothing is run");
}

#[test]
fn a_directory_as_manifest_exits_2_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["plan", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("is a directory"), "{}", text(&o));
}

#[test]
fn classes_out_of_range_exit_2_at_plan_time() {
    let dir = tempfile::tempdir().unwrap();
    let body = SMALL.replace("teacher_width: 3}", "teacher_width: 3, classes: [3, 12]}");
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    for args in [
        vec!["plan", m.to_str().unwrap()],
        vec!["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("data.classes"), "{}", text(&o));
    }
    assert!(!out.exists(), "no run was attempted");
}

#[test]
fn an_unsafe_name_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(
        dir.path(),
        &SMALL.replace("name: small", "name: ../escaped"),
    );
    let out = dir.path().join("a/b");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("name"), "{}", text(&o));
    assert!(!dir.path().join("a/escaped").exists());
}

#[test]
fn an_unwritable_out_exits_2_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("res");
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(out.to_str().unwrap()), "{}", text(&o));
    assert!(!text(&o).contains("[1/2]"), "no run started: {}", text(&o));
}
