//! Checkpoints (issue 30: "long runs checkpoint their ADMM state so that an interrupted or
//! preempted run resumes where it was"): an interrupted run resumes at the iteration it had
//! reached and ends as an uninterrupted run of the same manifest; a damaged checkpoint or one
//! of another configuration is ignored with a warning and the run starts from iteration 0.

use crate::common::{admm_runner, interrupt_after_first_heartbeat, text, write_npy, Cpu, Quiet};
use admm_engine::admm::{self, Checkpoint};
use admm_engine::executor::{Executed, IterRecord, Observer};
use admm_runner::manifest::{self, PlannedRun};
use admm_runner::results::schema::read_trace;
use admm_runner::results::{RunPaths, Summary};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Long enough to be interrupted after its first iterations (a checkpoint after every one),
/// short enough to run to its end in a few seconds; the residual test is off, so every run
/// takes exactly `max_iters` iterations.
const LONG: &str = "
name: ckpt
data: {source: synthetic, n_train: 2000, n_test: 100, dim: 40}
problem: {patterns: 20}
solver: {name: cg, max_iters: 400, admm: {rho: 0.1, tol_abs: 0, tol_rel: 0}}
";

/// The manifest's only run, and its files under `out`.
fn the_run(m: &Path, out: &Path) -> (PlannedRun, RunPaths) {
    let runs = manifest::plan(m, &[]).unwrap();
    assert_eq!(runs.len(), 1);
    let run = runs.into_iter().next().unwrap();
    let paths = RunPaths::new(out, &run.config.experiment, &run.id);
    (run, paths)
}

/// Runs `m` into `out` to its end; returns its stderr.
fn run_to_end(m: &Path, out: &Path) -> String {
    let o = admm_runner()
        .env_remove("ADMM_RUNNER_CHECKPOINT_S")
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts `m` into `out` with a checkpoint after every iteration, interrupts it after its
/// first heartbeat, and checks that it saved a checkpoint and said the rerun resumes there.
fn interrupted(m: &Path, out: &Path) -> PathBuf {
    let mut child = admm_runner()
        .env("ADMM_RUNNER_HEARTBEAT_S", "0")
        .env("ADMM_RUNNER_CHECKPOINT_S", "0")
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let seen = interrupt_after_first_heartbeat(&mut child).join("\n");
    assert_eq!(child.wait().unwrap().code(), Some(130), "{seen}");
    assert!(seen.contains("resumes at iteration "), "{seen}");
    let (_, paths) = the_run(m, out);
    assert!(paths.checkpoint.is_file(), "{seen}");
    assert!(!paths.summary.exists(), "{seen}");
    paths.checkpoint
}

/// The iteration `resuming <id> at iteration K` names in `stderr`, if any.
fn resumed_at(stderr: &str, id: &str) -> Option<usize> {
    let line = stderr
        .lines()
        .find(|l| l.contains(&format!("resuming {id} at iteration ")))?;
    let k = line
        .split(" at iteration ")
        .nth(1)?
        .split_whitespace()
        .next()?;
    Some(k.parse().unwrap())
}

/// The summary's iterations and final objective, after checking that the trace numbers its
/// rows 1, 2, ... as one run.
fn result(paths: &RunPaths) -> (i64, f64) {
    let s = Summary::read(&paths.summary).unwrap();
    assert!(s.ok(), "{:?}", s.reason);
    let trace = read_trace(&paths.trace).unwrap();
    let iters: Vec<i64> = trace.iter().map(|r| r.iter).collect();
    assert_eq!(iters, (1..=trace.len() as i64).collect::<Vec<_>>());
    assert_eq!(s.iterations, Some(trace.len() as i64));
    (s.iterations.unwrap(), s.last.objective.unwrap())
}

#[test]
fn an_interrupted_run_resumes_and_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let m = crate::common::write_manifest(dir.path(), LONG);
    let whole = dir.path().join("whole");
    run_to_end(&m, &whole);
    let (run, reference) = the_run(&m, &whole);
    let (iters, objective) = result(&reference);
    assert_eq!(iters, 400);

    let out = dir.path().join("cut");
    let file = interrupted(&m, &out);
    let err = run_to_end(&m, &out);
    let k = resumed_at(&err, &run.id).unwrap_or_else(|| panic!("no resume: {err}"));
    assert!(k > 0 && k < 400, "resumed at {k}: {err}");
    let (_, paths) = the_run(&m, &out);
    let (got_iters, got) = result(&paths);
    assert_eq!(got_iters, iters, "{err}");
    assert!(
        (got - objective).abs() <= 1e-6 * objective.abs(),
        "resumed {got} vs uninterrupted {objective}"
    );
    // The first K rows are the interrupted process's, the rest this one's: the seconds go on.
    let trace = read_trace(&paths.trace).unwrap();
    assert!(trace.windows(2).all(|w| w[1].elapsed_s >= w[0].elapsed_s));
    assert!(
        !file.exists(),
        "the checkpoint is removed once the run is recorded"
    );
}

/// A damaged copy of a valid checkpoint `bytes`, by kind.
fn damaged(bytes: &[u8], kind: &str) -> Vec<u8> {
    use safetensors::tensor::{SafeTensors, TensorView};
    match kind {
        "truncated" => bytes[..bytes.len() / 2].to_vec(),
        "garbage" => b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a checkpoint".to_vec(),
        "nan" | "wrong size" => {
            let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
            let meta = header.metadata().clone();
            let st = SafeTensors::deserialize(bytes).unwrap();
            let mut owned: Vec<(String, safetensors::tensor::Dtype, Vec<usize>, Vec<u8>)> = st
                .tensors()
                .into_iter()
                .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
                .collect();
            let u = owned.iter_mut().find(|t| t.0 == "u").unwrap();
            if kind == "nan" {
                u.3[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
            } else {
                // One row fewer: consistent as a file, not the problem's size.
                u.2[0] -= 1;
                let keep = u.2[0] * u.2[1] * 4;
                u.3.truncate(keep);
            }
            let views: Vec<(String, TensorView)> = owned
                .iter()
                .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
                .collect();
            safetensors::serialize(views, meta).unwrap()
        }
        _ => unreachable!(),
    }
}

#[test]
fn a_damaged_checkpoint_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let m = crate::common::write_manifest(dir.path(), LONG);
    let out = dir.path().join("res");
    let file = interrupted(&m, &out);
    let good = std::fs::read(&file).unwrap();
    let (run, paths) = the_run(&m, &out);
    for kind in ["truncated", "garbage", "nan", "wrong size"] {
        std::fs::write(&file, damaged(&good, kind)).unwrap();
        let err = run_to_end(&m, &out);
        let warned = err.lines().any(|l| {
            l.contains("warning: ignoring the checkpoint") && l.contains(&*file.to_string_lossy())
        });
        assert!(warned, "{kind}: {err}");
        assert_eq!(resumed_at(&err, &run.id), None, "{kind}: {err}");
        assert_eq!(
            result(&paths).0,
            400,
            "{kind}: the run starts from iteration 0"
        );
        assert!(!file.exists(), "{kind}");
        // Unfinished again for the next kind.
        std::fs::remove_file(&paths.summary).unwrap();
    }
}

#[test]
fn a_checkpoint_of_another_configuration_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    // .npy data: replacing the files keeps the run id but not what the run computes.
    let (n, d) = (2000, 40);
    let write_data = |seed: u64| {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        let x: Vec<f64> = (0..n * d).map(|_| next()).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| {
                if x[i * d] + x[i * d + 1] > 0.0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        write_npy(&dir.path().join("x.npy"), &[n, d], &x);
        write_npy(&dir.path().join("y.npy"), &[n], &y);
    };
    write_data(1);
    let body = format!(
        "
name: ckpt
data: {{source: npy, x: {x}, y: {y}, n_train: 0, n_test: 0}}
problem: {{patterns: 20}}
solver: {{name: cg, max_iters: 400, admm: {{rho: 0.1, tol_abs: 0, tol_rel: 0}}}}
",
        x = dir.path().join("x.npy").display(),
        y = dir.path().join("y.npy").display(),
    );
    let m = crate::common::write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let file = interrupted(&m, &out);
    let (before, _) = the_run(&m, &out);
    write_data(2);
    let (run, paths) = the_run(&m, &out);
    assert_eq!(run.id, before.id, "the same run id, other data");
    let err = run_to_end(&m, &out);
    assert!(
        err.contains(&format!(
            "warning: ignoring the checkpoint {}: it was made from another configuration",
            file.display()
        )),
        "{err}"
    );
    assert_eq!(resumed_at(&err, &run.id), None, "{err}");
    assert_eq!(result(&paths).0, 400);
}

/// Keeps the state the executor hands over after iteration `at`.
struct TakeAt {
    at: usize,
    state: Option<Checkpoint>,
    records: Vec<IterRecord>,
}

impl Observer for TakeAt {
    fn observe(&mut self, r: &IterRecord) {
        self.records.push(*r);
    }
    fn checkpoint_due(&mut self, r: &IterRecord) -> bool {
        r.iter == self.at
    }
    fn checkpoint(&mut self, state: &Checkpoint) {
        self.state = Some(state.clone());
    }
}

/// In one process, through the engine: a solve resumed from its state after 15 of 40
/// iterations ends where the uninterrupted one does, exactly for CG with a fixed rho and
/// within rounding for RBCD (its random stream is restored; its incremental products are
/// rebuilt from u).
#[test]
fn the_engine_resumes_a_solve_from_its_checkpoint() {
    use admm_runner::manifest::SolverKind;
    let opt = crate::common::optimum("opt_small");
    let prob = admm_engine::Problem::<Cpu>::new(
        &opt.data,
        &crate::common::problem_config(&opt),
        0,
        &Default::default(),
    )
    .unwrap();
    for (kind, tol) in [(SolverKind::Cg, 0.0), (SolverKind::Rbcd, 1e-4)] {
        let cfg = crate::common::solver_config(kind, 0.5, 40);
        let mut whole = crate::common::usolver::<Cpu>(&cfg, 0);
        let mut take = TakeAt {
            at: 15,
            state: None,
            records: Vec::new(),
        };
        let full = crate::common::solve_admm(&prob, &cfg, whole.as_mut(), &mut take).unwrap();
        let state = take.state.clone().expect("a checkpoint after iteration 15");
        assert_eq!(state.counters.iterations, 15);
        let done = Executed {
            iterations: 15,
            last: take.records.get(14).copied(),
            ..Executed::start()
        };
        let resolved = cfg.resolve();
        let opts = match resolved.method.algorithm() {
            admm_runner::manifest::Algorithm::Admm(o, _) => o,
            _ => unreachable!(),
        };
        let mut fresh = crate::common::usolver::<Cpu>(&cfg, 0);
        let resumed = admm::resume(
            &prob,
            &opts,
            &resolved.stop,
            fresh.as_mut(),
            &mut Quiet,
            &state,
            done,
        )
        .unwrap();
        assert_eq!(resumed.iterations, 40);
        let (a, b) = (
            full.last.unwrap().metrics.objective,
            resumed.last.unwrap().metrics.objective,
        );
        assert!(
            (a - b).abs() <= tol * a.abs(),
            "{kind}: uninterrupted {a}, resumed {b}"
        );
        assert_eq!(resumed.last.unwrap().iter, 40);
    }
}

/// Hostile: a link planted at the checkpoint's name (pointing at a file outside the results)
/// is replaced by the run's own file and then removed, never written through; the file it
/// pointed at keeps its bytes.
#[test]
fn hostile_a_link_at_the_checkpoint_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let m = crate::common::write_manifest(dir.path(), LONG);
    let out = dir.path().join("res");
    let outside = dir.path().join("outside.bin");
    std::fs::write(&outside, "precious").unwrap();
    let (_, paths) = the_run(&m, &out);
    std::fs::create_dir_all(paths.checkpoint.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&outside, &paths.checkpoint).unwrap();
    let o = admm_runner()
        .env("ADMM_RUNNER_CHECKPOINT_S", "0")
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    assert!(std::fs::symlink_metadata(&paths.checkpoint).is_err());
    assert_eq!(result(&paths).0, 400);
}

/// Hostile: a `checkpoints` folder that is a link is refused (as `trace/` and `runs/` are) and
/// nothing is written where it points.
#[test]
fn hostile_a_linked_checkpoints_folder_is_refused_and_nothing_is_written_there() {
    let dir = tempfile::tempdir().unwrap();
    let m = crate::common::write_manifest(dir.path(), LONG);
    let out = dir.path().join("res");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let (_, paths) = the_run(&m, &out);
    let folder = paths.checkpoint.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(folder.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &folder).unwrap();
    let o = admm_runner()
        .env("ADMM_RUNNER_CHECKPOINT_S", "0")
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}
