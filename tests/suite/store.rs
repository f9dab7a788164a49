//! The results store shared by several writers: owned temp files, claims, the summary as the
//! commit marker, retrying failed runs, and cleanup on SIGINT/SIGTERM.

use crate::common::{admm_runner, text, write_manifest, write_npy};
use admm_runner::manifest;
use admm_runner::results::store::{self, ClaimResult};
use admm_runner::results::{self, schema, RunPaths, Status, Summary, TraceRow};
use admm_runner::run::sweep::is_finished;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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
solver: {name: cg, admm: {rho: 0.5}, max_iters: 15}
sweep:
  solver: [exact, cg]
";

/// Names in `dir` (empty when it does not exist), sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The pid of a process that has exited (and been reaped): provably dead.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A live process other than this one, killed when the guard drops.
struct LiveProcess(Child);

impl LiveProcess {
    fn start() -> Self {
        LiveProcess(Command::new("sleep").arg("600").spawn().unwrap())
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for LiveProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn claim_line(pid: u32) -> String {
    format!("{pid} {} -\n", store::host())
}

/// "N runs: A ok, F failed, S skipped (...), C claimed ..." -> (A, F, S, C).
fn counts(o: &Output) -> (usize, usize, usize, usize) {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.contains(" runs: "))
        .unwrap_or_else(|| panic!("no summary line in {}", text(o)));
    let num = |word: &str| -> usize {
        let before = &line[..line
            .find(word)
            .unwrap_or_else(|| panic!("no `{word}` in {line}"))];
        before
            .trim_end()
            .rsplit([' ', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num(" ok"), num(" failed"), num(" skipped"), num(" claimed"))
}

#[test]
fn a_dead_writers_temp_is_removed_and_a_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("a.parquet");
    Summary::default().write(&done).unwrap();
    let live = LiveProcess::start();
    let host = store::host();
    let dead = dir
        .path()
        .join(format!(".b.parquet.tmp-{}.{host}", dead_pid()));
    let dead_old_style = dir.path().join(format!(".c.parquet.tmp-{}", dead_pid()));
    let alive = dir
        .path()
        .join(format!(".d.parquet.tmp-{}.{host}", live.pid()));
    let mine = dir
        .path()
        .join(format!(".e.parquet.tmp-{}", std::process::id()));
    let other_host = dir
        .path()
        .join(format!(".f.parquet.tmp-{}.another-host", dead_pid()));
    for f in [&dead, &dead_old_style, &alive, &mine, &other_host] {
        std::fs::write(f, b"partial").unwrap();
    }
    results::clean_stale_temp(dir.path());
    assert!(done.is_file());
    assert!(!dead.exists(), "a dead writer's temp file is removed");
    assert!(!dead_old_style.exists(), "also in the older naming");
    assert!(alive.exists(), "a live writer's temp file is kept");
    assert!(mine.exists(), "this process's temp file is kept");
    assert!(
        other_host.exists(),
        "another host's writer cannot be proven dead"
    );
}

#[test]
fn a_live_claim_is_held_and_a_dead_one_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = store::claim_path(dir.path(), "run-1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let live = LiveProcess::start();
    std::fs::write(&path, claim_line(live.pid())).unwrap();
    match store::claim(&path).unwrap() {
        ClaimResult::Held(Some(owner)) => assert_eq!(owner.pid, live.pid()),
        other => panic!("a live claim must be held: {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        claim_line(live.pid())
    );

    let dead = dead_pid();
    std::fs::write(&path, claim_line(dead)).unwrap();
    let claim = match store::claim(&path).unwrap() {
        ClaimResult::Claimed {
            claim,
            taken_over: Some(owner),
        } => {
            assert_eq!(owner.pid, dead);
            claim
        }
        other => panic!("a dead claim must be taken over: {other:?}"),
    };
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(&format!("{} ", std::process::id())),
        "{text}"
    );
    // Ours now: a second attempt (as another process would see it) is refused...
    assert!(matches!(
        store::claim(&path).unwrap(),
        ClaimResult::Held(Some(_))
    ));
    // ...and releasing it removes the file.
    drop(claim);
    assert!(!path.exists());
    assert!(
        names(path.parent().unwrap()).iter().all(|n| n == ".lock"),
        "no temp file is left: {:?}",
        names(path.parent().unwrap())
    );
}

#[test]
fn a_run_is_finished_only_when_its_summary_and_trace_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RunPaths::new(dir.path(), "e", "r");
    assert!(!is_finished(&paths, false), "no summary");
    // An unreadable summary.
    std::fs::create_dir_all(paths.summary.parent().unwrap()).unwrap();
    std::fs::write(&paths.summary, b"PAR1 not really").unwrap();
    assert!(!is_finished(&paths, true), "unreadable summary");
    // Ok with 3 iterations, but no trace.
    let ok = Summary {
        status: Status::Ok,
        iterations: Some(3),
        ..Summary::default()
    };
    ok.write(&paths.summary).unwrap();
    assert!(!is_finished(&paths, false), "ok summary without its trace");
    // A trace that is not Parquet, then a short one, then the right one.
    std::fs::create_dir_all(paths.trace.parent().unwrap()).unwrap();
    std::fs::write(&paths.trace, b"garbage").unwrap();
    assert!(!is_finished(&paths, false), "unreadable trace");
    schema::write_trace(&paths.trace, &[TraceRow::default(); 2]).unwrap();
    assert!(
        !is_finished(&paths, false),
        "trace shorter than the summary"
    );
    schema::write_trace(&paths.trace, &[TraceRow::default(); 3]).unwrap();
    assert!(is_finished(&paths, false));
    // A failed run is finished only when failed runs are kept.
    let failed = Summary {
        status: Status::Failed,
        iterations: Some(0),
        ..Summary::default()
    };
    failed.write(&paths.summary).unwrap();
    assert!(!is_finished(&paths, false));
    assert!(is_finished(&paths, true));
}

#[test]
fn a_live_claim_makes_a_second_runner_skip_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    let runs = manifest::plan(&m, &[]).unwrap();
    let live = LiveProcess::start();
    let held = RunPaths::new(&out, "small", &runs[0].id).claim;
    std::fs::create_dir_all(held.parent().unwrap()).unwrap();
    std::fs::write(&held, claim_line(live.pid())).unwrap();
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(counts(&o), (1, 0, 0, 1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("claimed by pid {}", live.pid())),
        "{}",
        text(&o)
    );
    assert!(!RunPaths::new(&out, "small", &runs[0].id).summary.exists());
    assert!(held.exists(), "another process's claim is left alone");
    assert!(!RunPaths::new(&out, "small", &runs[1].id).claim.exists());
}

#[test]
fn a_dead_claim_is_taken_over_by_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    let runs = manifest::plan(&m, &[]).unwrap();
    let dead = dead_pid();
    let stale = RunPaths::new(&out, "small", &runs[0].id).claim;
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, claim_line(dead)).unwrap();
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(counts(&o), (2, 0, 0, 0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("took over the claim of pid {dead}")),
        "{}",
        text(&o)
    );
    assert!(!stale.exists(), "the claim is released after the summary");
}

/// `body` swept over six seeds (12 runs with its two solvers): enough runs for several
/// writers to contend.
fn with_six_seeds(body: String) -> String {
    body.replace(
        "sweep:\n  solver: [exact, cg]",
        "sweep:\n  solver: [exact, cg]\n  seed: [0, 1, 2, 3, 4, 5]",
    )
}

/// One writer: `admm-runner run m --out out` plus `extra`, its output captured.
fn spawn_writer(m: &Path, out: &Path, extra: &[&str]) -> std::process::Child {
    bin()
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Run `id` of experiment "small" finished ok, and its trace reads back with a row per
/// iteration the summary counts.
fn assert_ok_and_readable(out: &Path, id: &str) {
    let paths = RunPaths::new(out, "small", id);
    let s = Summary::read(&paths.summary).unwrap();
    assert!(s.ok(), "{:?}", s.reason);
    let rows = schema::read_trace(&paths.trace).unwrap();
    assert_eq!(Some(rows.len() as i64), s.iterations);
}

#[test]
fn concurrent_processes_and_shards_compute_every_run_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let body = with_six_seeds(
        SMALL
            .replace("n_train: 60", "n_train: 300")
            .replace("max_iters: 15", "max_iters: 60"),
    );
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let planned = manifest::plan(&m, &[]).unwrap();
    let spawn = |extra: &[&str]| spawn_writer(&m, &out, extra);
    // Two unsharded processes, and the two shards of a job array, all in one folder.
    let children = [
        spawn(&[]),
        spawn(&[]),
        spawn(&["--shard", "0/2"]),
        spawn(&["--shard", "1/2"]),
    ];
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut computed = 0;
    for o in &outputs {
        assert!(o.status.success(), "{}", text(o));
        let (ok, failed, _, _) = counts(o);
        assert_eq!(failed, 0, "{}", text(o));
        computed += ok;
    }
    let all: String = outputs.iter().map(text).collect();
    assert_eq!(computed, planned.len(), "each run computed once: {all}");
    // Each run's result line appears once over all processes (a run computed twice would
    // print two).
    for r in &planned {
        let lines = all
            .lines()
            .filter(|l| l.contains(&format!("] {}: ", r.id)) && !l.contains("skipped"))
            // Progress lines (a run's start, heartbeats) are not results.
            .filter(|l| !l.contains(": started: ") && !l.contains(": iter "))
            .count();
        assert_eq!(lines, 1, "{}: {all}", r.id);
        assert_ok_and_readable(&out, &r.id);
    }
    for sub in ["runs", "trace", "claims"] {
        let left: Vec<String> = names(&out.join("small").join(sub))
            .into_iter()
            .filter(|n| n.starts_with('.') && n != ".lock" || n.ends_with(".claim"))
            .collect();
        assert!(left.is_empty(), "{sub}: {left:?}");
    }
}

#[test]
fn a_trace_write_failure_never_leaves_an_ok_summary() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    // The trace directory is a file: no trace can be written.
    std::fs::create_dir_all(out.join("small")).unwrap();
    std::fs::write(out.join("small/trace"), b"in the way").unwrap();
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(counts(&o).1, 2, "{}", text(&o));
    let summaries = names(&out.join("small/runs"));
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    for name in &summaries {
        let s = Summary::read(&out.join("small/runs").join(name)).unwrap();
        assert_eq!(s.status, Status::Failed);
        let reason = s.reason.unwrap_or_default();
        assert!(reason.contains("trace could not be written"), "{reason}");
    }
    // Once the trace can be written, a plain rerun computes both again.
    std::fs::remove_file(out.join("small/trace")).unwrap();
    let o = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(counts(&o), (2, 0, 0, 0), "{}", text(&o));
}

#[test]
fn a_failed_run_is_retried_by_a_plain_rerun_and_kept_with_keep_failed() {
    let dir = tempfile::tempdir().unwrap();
    // The labels do not fit the features (3 for 4 examples): the run fails when it loads them.
    // (A missing file is refused before any run starts: `preflight`.)
    let data = dir.path().join("data");
    let (x, y) = (data.join("x.npy"), data.join("y.npy"));
    std::fs::create_dir_all(&data).unwrap();
    write_npy(&x, &[4, 2], &[1.0, 0.0, 0.5, 1.0, -1.0, 0.5, 0.3, -0.2]);
    write_npy(&y, &[3], &[1.0, -1.0, 1.0]);
    let body = format!(
        "name: retry\ndata: {{source: npy, n_train: 0, x: {}, y: {}}}\nproblem: {{patterns: 2}}\nsolver: {{name: cg, max_iters: 3}}\n",
        x.display(),
        y.display()
    );
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let args = ["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(counts(&o), (0, 1, 0, 0), "{}", text(&o));
    let summary = out
        .join("retry/runs")
        .join(&names(&out.join("retry/runs"))[0]);
    let s = Summary::read(&summary).unwrap();
    assert_eq!(s.status, Status::Failed);
    assert!(s.data_path.contains("x.npy"), "{}", s.data_path);

    // --keep-failed skips the failed run while its data is unchanged.
    let o = run(&[&args[..], &["--keep-failed"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(counts(&o), (0, 0, 1, 0), "{}", text(&o));
    assert_eq!(Summary::read(&summary).unwrap().status, Status::Failed);

    // The data is fixed. A plain rerun (and the old --retry-failed spelling) retries the run
    // (changed data alone would too: its recorded fingerprint no longer matches, issue 29).
    write_npy(&x, &[4, 2], &[1.0, 0.0, 0.5, 1.0, -1.0, 0.5, 0.3, -0.2]);
    write_npy(&y, &[4], &[1.0, -1.0, 1.0, -1.0]);
    let o = run(&[&args[..], &["--retry-failed"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(counts(&o), (1, 0, 0, 0), "{}", text(&o));
    let s = Summary::read(&summary).unwrap();
    assert_eq!(s.status, Status::Ok);
    let canonical = std::fs::canonicalize(&x).unwrap();
    assert!(
        s.data_path.contains(&canonical.display().to_string()),
        "{}",
        s.data_path
    );
    let o = run(&args);
    assert_eq!(counts(&o), (0, 0, 1, 0), "{}", text(&o));
}

#[test]
fn sigint_and_sigterm_leave_no_temp_or_claim_and_the_run_unfinished() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let dir = tempfile::tempdir().unwrap();
        // Many long runs: the sweep is surely still running when the signal comes.
        let body = SMALL
            .replace("n_train: 60", "n_train: 400")
            .replace("max_iters: 15", "max_iters: 5000")
            .replace(
                "sweep:\n  solver: [exact, cg]",
                "sweep:\n  seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]",
            );
        let m = write_manifest(dir.path(), &body);
        let out = dir.path().join("res");
        let mut child = bin()
            .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .args(["-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let claims = out.join("small/claims");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !names(&claims).iter().any(|n| n.ends_with(".claim")) {
            assert!(Instant::now() < deadline, "no run was claimed in 60 s");
            assert!(child.try_wait().unwrap().is_none(), "the sweep ended early");
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert_eq!(exit.code(), Some(code), "SIG{signal}");
        for sub in ["runs", "trace", "claims"] {
            let left: Vec<String> = names(&out.join("small").join(sub))
                .into_iter()
                .filter(|n| (n.starts_with('.') && n != ".lock") || n.ends_with(".claim"))
                .collect();
            assert!(left.is_empty(), "SIG{signal}: {sub}: {left:?}");
        }
        // The interrupted run is not finished: every summary present has its whole trace.
        let runs = manifest::plan(&m, &[]).unwrap();
        let finished = runs
            .iter()
            .filter(|r| is_finished(&RunPaths::new(&out, "small", &r.id), false))
            .count();
        assert_eq!(finished, names(&out.join("small/runs")).len());
        assert!(finished < runs.len());
    }
}

/// Result lines ("[k/N] <id>: ok ..." or "failed") of run `id`: one per computation.
fn computations(all: &str, id: &str) -> usize {
    let (ok, failed) = (format!("] {id}: ok"), format!("] {id}: failed"));
    all.lines()
        .filter(|l| l.contains(&ok) || l.contains(&failed))
        .count()
}

#[test]
fn four_writers_and_a_kill_9_then_a_rerun_leave_every_run_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let body = with_six_seeds(
        SMALL
            .replace("n_train: 60", "n_train: 400")
            .replace("max_iters: 15", "max_iters: 400")
            .replace(
                "admm: {rho: 0.5}",
                "admm: {rho: 0.5, tol_abs: 0, tol_rel: 0}",
            ),
    );
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let planned = manifest::plan(&m, &[]).unwrap();
    let spawn = |extra: &[&str]| spawn_writer(&m, &out, extra);
    let mut victim = spawn(&[]);
    let others = [
        spawn(&[]),
        spawn(&["--shard", "0/2"]),
        spawn(&["--shard", "1/2"]),
    ];
    // kill -9 the first writer while it holds a claim: in the middle of a run.
    let claims = out.join("small/claims");
    let mine = format!("{} ", victim.id());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held = names(&claims)
            .iter()
            .any(|n| std::fs::read_to_string(claims.join(n)).is_ok_and(|t| t.starts_with(&mine)));
        if held {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first writer never claimed a run"
        );
        assert!(
            victim.try_wait().unwrap().is_none(),
            "the first writer ended early"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    victim.kill().unwrap(); // SIGKILL: no cleanup of its temp files or claim
    let killed = victim.wait_with_output().unwrap();
    let mut all = text(&killed);
    for child in others {
        let o = child.wait_with_output().unwrap();
        assert_eq!(counts(&o).1, 0, "{}", text(&o));
        all.push_str(&text(&o));
    }
    let rerun = run(&["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(rerun.status.success(), "{}", text(&rerun));
    all.push_str(&text(&rerun));
    for r in &planned {
        assert_eq!(
            computations(&all, &r.id),
            1,
            "{} computed once: {all}",
            r.id
        );
        assert_ok_and_readable(&out, &r.id);
    }
    // Exactly one summary and one trace per run; no temp file or claim survives.
    for sub in ["runs", "trace"] {
        let files: Vec<String> = names(&out.join("small").join(sub))
            .into_iter()
            .filter(|n| n != ".lock")
            .collect();
        assert_eq!(files.len(), planned.len(), "{sub}: {files:?}");
    }
    let left: Vec<String> = names(&claims)
        .into_iter()
        .filter(|n| n.ends_with(".claim") || n.starts_with(".c"))
        .collect();
    assert!(left.is_empty(), "claims: {left:?}");
}
