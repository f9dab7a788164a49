//! `admm-runner regress`: an injected slowdown (a wrapped, slower u-solver) turns the timing
//! verdict red, a perturbed solver parameter turns the accuracy verdict red, an unchanged run
//! passes, and the committed
//! baseline covers the suite. Each case runs one small run of experiments/ci.yaml (`--only`)
//! against a baseline written into a temporary directory, so it does not depend on the
//! committed numbers or on this machine's speed.

use crate::common::{repo_root, text};
use admm_runner::manifest;
use admm_runner::regress;
use std::path::Path;
use std::process::{Command, Output};

const SUITE: &str = "experiments/ci.yaml";
/// One run of the suite: CG on the CIFAR-10 slice (about 0.2 s).
const ONE: &str = "cifar10/cg-flex-s0";

fn regress_cmd(baseline: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_admm-runner"));
    c.current_dir(repo_root())
        .args(["regress", SUITE, "--baseline"])
        .arg(baseline)
        .args(["--only", ONE])
        .args(extra);
    for (k, _) in std::env::vars() {
        if k.starts_with(manifest::ENV_PREFIX) {
            c.env_remove(k);
        }
    }
    c.output().expect("admm-runner starts")
}

/// The verdict column of the table row of `metric` for the run `ONE`.
fn verdict(o: &Output, metric: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() >= 3 && w[0] == ONE && w[1] == metric)
        .and_then(|w| w.last().map(|s| s.to_string()))
        .unwrap_or_else(|| panic!("no {metric} row for {ONE} in:\n{}", text(o)))
}

/// A baseline of `ONE` alone, measured now into `dir`.
fn fresh_baseline(dir: &Path) -> std::path::PathBuf {
    let b = dir.join("ci.json");
    let o = regress_cmd(&b, &["--update", "--reps", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(b.is_file(), "{}", text(&o));
    b
}

#[test]
fn unchanged_code_passes_against_a_fresh_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let b = fresh_baseline(dir.path());
    // Timing is the other tests' subject: here the machine is busy with them, so be lenient.
    let o = regress_cmd(&b, &["--reps", "2", "--time-factor", "20"]);
    assert!(o.status.success(), "{}", text(&o));
    for metric in ["train_acc", "test_acc", "objective", "target_iter", "time"] {
        assert_eq!(verdict(&o, metric), "ok", "{}", text(&o));
    }
    assert!(text(&o).contains("no regression"), "{}", text(&o));
}

/// `regress` on the run `ONE` in this process, with `u_step_delay` added to every u-step by a
/// wrapped u-solver (the library's way to simulate a slower solver without touching the loop).
fn regress_in_process(
    baseline: &Path,
    update: bool,
    u_step_delay: Option<std::time::Duration>,
) -> regress::Report {
    let runs = manifest::plan(&repo_root().join(SUITE), &[]).unwrap();
    let runs = regress::select(runs, &[ONE.to_string()]).unwrap();
    assert_eq!(runs.len(), 1);
    let opts = regress::Options {
        baseline: baseline.to_path_buf(),
        update,
        reps: 2,
        tolerances: regress::Tolerances::default(),
        complete: false,
        manifest: SUITE.into(),
        u_step_delay,
    };
    regress::run(&runs, &opts, |_| {}).unwrap()
}

#[test]
fn injected_slowdown_turns_the_timing_verdict_red() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("ci.json");
    // Baseline and check in the same process, so both are timed with the same thread count.
    regress_in_process(&b, true, None);
    // 10 ms per ADMM iteration, 100 iterations: about 1 s on a solve of about 0.2 s.
    let report = regress_in_process(&b, false, Some(std::time::Duration::from_millis(10)));
    let verdict = |metric: &str| {
        report
            .rows
            .iter()
            .find(|r| r.key == ONE && r.metric == metric)
            .map(|r| r.verdict)
    };
    let t = format!("{}{}", report.table(), report.summary());
    assert_eq!(verdict("time"), Some(regress::Verdict::Slower), "{t}");
    // The numbers themselves did not move.
    for metric in ["train_acc", "test_acc", "objective", "target_iter"] {
        assert_eq!(verdict(metric), Some(regress::Verdict::Ok), "{metric}: {t}");
    }
    assert!(t.contains("REGRESSED") && t.contains(ONE), "{t}");
}

#[test]
fn perturbed_solver_parameter_turns_the_accuracy_verdict_red() {
    let dir = tempfile::tempdir().unwrap();
    let b = fresh_baseline(dir.path());
    // A u-step cut to a single CG iteration: ADMM no longer fits the training set in 100 iterations.
    let o = regress_cmd(&b, &["--reps", "1", "--set", "solver.cg.max_iters=1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let worse: Vec<&str> = ["train_acc", "test_acc"]
        .into_iter()
        .filter(|m| verdict(&o, m) == "WORSE")
        .collect();
    assert!(!worse.is_empty(), "{}", text(&o));
    assert_eq!(verdict(&o, "objective"), "WORSE", "{}", text(&o));
    assert!(
        text(&o).contains("--update"),
        "the way to accept a change is named: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("configuration differs from the baseline"),
        "{}",
        text(&o)
    );
}

#[test]
fn update_accepts_a_change_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let b = fresh_baseline(dir.path());
    let perturbed = ["--reps", "1", "--set", "solver.cg.max_iters=1"];
    let o = regress_cmd(&b, &[&perturbed[..], &["--update"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    let o = regress_cmd(&b, &[&perturbed[..], &["--time-factor", "20"]].concat());
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_missing_baseline_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("nope.json");
    let o = regress_cmd(&b, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("nope.json") && text(&o).contains("--update"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_corrupt_baseline_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("bad.json");
    std::fs::write(&b, "{\"format\": 1, \"runs\": 3}").unwrap();
    let o = regress_cmd(&b, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.json"), "{}", text(&o));
}

/// The committed baseline has an entry for every run of the suite, measured with the suite's
/// current configuration (so an edit of ci.yaml comes with a regenerated baseline).
#[test]
fn committed_baseline_covers_the_suite() {
    let root = repo_root();
    let runs = manifest::plan(&root.join(SUITE), &[]).unwrap();
    let runs = regress::select(runs, &[]).unwrap();
    let base = regress::load_baseline(&root.join("tests/baselines/ci.json"))
        .unwrap()
        .expect("tests/baselines/ci.json exists");
    let mut keys: Vec<String> = runs.iter().map(regress::key).collect();
    keys.sort();
    let have: Vec<String> = base.runs.keys().cloned().collect();
    assert_eq!(keys, have, "regenerate with `regress ... --update`");
    for r in &runs {
        let e = &base.runs[&regress::key(r)];
        assert_eq!(e.run_id, r.id, "{}: configuration changed", regress::key(r));
        assert_eq!(e.status, "ok", "{}", regress::key(r));
        assert!(e.time_ratio.is_some_and(|t| t > 0.0), "{}", regress::key(r));
    }
    // Every solver of the manifest schema is covered.
    let solvers: std::collections::BTreeSet<String> = runs
        .iter()
        .map(|r| r.config.solver.method.kind().to_string())
        .collect();
    for s in [
        "exact", "cg", "diag-pcg", "nys-pcg", "bj-pcg", "rbcd", "adam",
    ] {
        assert!(solvers.contains(s), "{s} is not in {SUITE}");
    }
}
