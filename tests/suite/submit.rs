//! `admm-runner submit --slurm`: the job-array script, run here without a cluster (its tasks
//! started concurrently with the array variables set, into one folder), resources from the
//! manifest's `launcher:` section and flags, and `--now` with and without `sbatch`.

use crate::common::{admm_runner, text, write_manifest};
use admm_runner::manifest;
use admm_runner::results::{schema, RunPaths, Summary};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Six quick runs (two solvers, three seeds) and a launcher section.
const SIX: &str = "
name: small
data: {source: synthetic, n_train: 80, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 10}
sweep:
  solver: [exact, cg]
  seed: [0, 1, 2]
launcher:
  time: '00:10:00'
  mem: 2G
  partition: short
  setup: ['echo task $SLURM_ARRAY_TASK_ID starts']
";

/// `submit` run in `dir` (the tasks start where submit ran).
fn submit(dir: &Path, args: &[&str]) -> Output {
    admm_runner()
        .current_dir(dir)
        .args(["submit", "m.yaml", "--slurm", "--out", "res"])
        .args(args)
        .output()
        .unwrap()
}

fn script_of(dir: &Path) -> PathBuf {
    dir.join("res/small/slurm/array.sbatch")
}

#[test]
fn the_array_tasks_run_concurrently_into_one_folder_and_compute_every_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SIX);
    let o = submit(dir.path(), &["--shards", "4", "--cpus", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let script = std::fs::read_to_string(script_of(dir.path())).unwrap();
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --time=00:10:00",
        "#SBATCH --mem=2G",
        "#SBATCH --partition=short",
        "#SBATCH --cpus-per-task=1",
        "run ",
        "--shard slurm --out",
    ] {
        assert!(script.contains(line), "{line}:\n{script}");
    }
    // The four array tasks, as SLURM would start them, all at once.
    let tasks: Vec<_> = (0..4)
        .map(|k| {
            Command::new("bash")
                .arg(script_of(dir.path()))
                .env("SLURM_ARRAY_TASK_ID", k.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", "4")
                .env_remove("ADMM_SET_PROBLEM__BETA")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = tasks
        .into_iter()
        .map(|t| t.wait_with_output().unwrap())
        .collect();
    let all: String = outputs.iter().map(text).collect();
    for (k, o) in outputs.iter().enumerate() {
        assert!(o.status.success(), "task {k}: {}", text(o));
        assert!(text(o).contains(&format!("task {k} starts")), "{}", text(o));
    }
    // Every planned run present exactly once, computed by exactly one task.
    let planned = manifest::plan(&m, &[]).unwrap();
    assert_eq!(planned.len(), 6);
    let out = dir.path().join("res");
    let mut summaries: Vec<String> = std::fs::read_dir(out.join("small/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    summaries.sort();
    let mut expected: Vec<String> = planned
        .iter()
        .map(|r| format!("{}.parquet", r.id))
        .collect();
    expected.sort();
    assert_eq!(summaries, expected);
    for r in &planned {
        let computed = all
            .lines()
            .filter(|l| l.contains(&format!("] {}: ok", r.id)))
            .count();
        assert_eq!(computed, 1, "{}: {all}", r.id);
        let paths = RunPaths::new(&out, "small", &r.id);
        let s = Summary::read(&paths.summary).unwrap();
        assert!(s.ok(), "{:?}", s.reason);
        assert_eq!(
            Some(schema::read_trace(&paths.trace).unwrap().len() as i64),
            s.iterations
        );
    }
}

#[test]
fn the_launcher_section_leaves_run_ids_alone_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let with = write_manifest(dir.path(), SIX);
    let ids = |p: &Path| -> Vec<String> {
        manifest::plan(p, &[])
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    let with_ids = ids(&with);
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, SIX.split("launcher:").next().unwrap()).unwrap();
    assert_eq!(ids(&plain), with_ids);

    let o = submit(dir.path(), &["--time", "02:00:00", "--only", "seed=1"]);
    assert!(o.status.success(), "{}", text(&o));
    let script = std::fs::read_to_string(script_of(dir.path())).unwrap();
    // The flag wins over the section; the section's other keys stay; --only passes on and
    // sizes the array (two runs: one task each by default).
    assert!(script.contains("#SBATCH --time=02:00:00"), "{script}");
    assert!(!script.contains("00:10:00"), "{script}");
    assert!(script.contains("#SBATCH --mem=2G"), "{script}");
    assert!(script.contains("#SBATCH --array=0-1"), "{script}");
    assert!(script.contains("--only 'seed=1'"), "{script}");

    // A value that would break the script, and an unknown key, are named.
    let o = submit(dir.path(), &["--time", "1 hour"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("launcher.time"), "{}", text(&o));
    write_manifest(dir.path(), &SIX.replace("mem: 2G", "memory: 2G"));
    let o = submit(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("memory"), "{}", text(&o));
}

#[test]
fn now_hands_the_script_to_sbatch_or_says_that_sbatch_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), SIX);
    // No sbatch: PATH holds only an empty folder.
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let o = admm_runner()
        .current_dir(dir.path())
        .env("PATH", &empty)
        .args(["submit", "m.yaml", "--slurm", "--out", "res", "--now"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("`sbatch` is not on PATH"), "{}", text(&o));
    assert!(
        script_of(dir.path()).is_file(),
        "the script is still written"
    );

    // A stand-in sbatch that records what it was given.
    let bin = dir.path().join("fake-bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("sbatch-args");
    let fake = format!(
        "#!/bin/sh\necho \"$@\" > '{}'\necho 'Submitted batch job 42'\n",
        log.display()
    );
    std::fs::write(bin.join("sbatch"), fake).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let exec = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(bin.join("sbatch"), exec).unwrap();
    }
    let o = admm_runner()
        .current_dir(dir.path())
        .env("PATH", &bin)
        .args(["submit", "m.yaml", "--slurm", "--out", "res", "--now"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Submitted batch job 42"), "{}", text(&o));
    let given = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        Path::new(given.trim()).canonicalize().unwrap(),
        script_of(dir.path()).canonicalize().unwrap()
    );
}
