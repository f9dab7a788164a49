//! Progress in logs (issue 30, item 6): off a terminal, a line when a run starts and a
//! heartbeat with the iteration, objective, gap and seconds; an interrupt says which run it
//! stopped and that a rerun resumes.

use crate::common::{admm_runner, interrupt_after_first_heartbeat, text, write_manifest};
use std::process::Stdio;

const SMALL: &str = "
name: beat
data: {source: synthetic, n_train: 40, n_test: 10, dim: 4}
problem: {patterns: 3}
solver: {name: cg, max_iters: 3}
";

#[test]
fn off_a_terminal_a_run_prints_its_start_and_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    let o = admm_runner()
        .env("ADMM_RUNNER_HEARTBEAT_S", "0")
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let started = err
        .lines()
        .position(|l| l.contains("[1/1] cg-flex-s0-") && l.contains(": started: solver=cg"));
    let beat = err.lines().position(|l| {
        l.contains(": iter 1 objective ") && l.contains(" gap ") && l.ends_with(" s")
    });
    assert!(
        started.is_some() && beat.is_some() && started < beat,
        "{err}"
    );
    // Quiet: neither.
    let o = admm_runner()
        .env("ADMM_RUNNER_HEARTBEAT_S", "0")
        .args([
            "run",
            m.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("started:"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_interrupt_names_the_run_it_stopped_and_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough to be interrupted (a time limit bounds it if the signal were lost).
    let m = write_manifest(
        dir.path(),
        &SMALL
            .replace("n_train: 40", "n_train: 3000")
            .replace("dim: 4", "dim: 60")
            .replace("patterns: 3", "patterns: 40")
            .replace("max_iters: 3", "max_iters: 100000, time_limit: 60"),
    );
    let out = dir.path().join("res");
    let mut child = admm_runner()
        .env("ADMM_RUNNER_HEARTBEAT_S", "0")
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let seen = interrupt_after_first_heartbeat(&mut child);
    let status = child.wait().unwrap();
    let all = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{all}");
    assert!(all.contains("interrupted: [1/1] cg-flex-s0-"), "{all}");
    assert!(all.contains("rerun the same command to resume"), "{all}");
}
