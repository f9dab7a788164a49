//! The second hostile round (issue 29), one test or more per class: writes that follow links,
//! outputs that replace what they name, shell injection in the Slurm script, `--force` losing
//! work, unbounded reads and hangs, panics in size arithmetic, stale results, and answers
//! that mislead. Two more files hold the rest of the round: `hostile_parquet.rs` (Parquet
//! bombs against every results reader) and `hostile_answers.rs` (`predict`, `plot`, `bench`
//! and `regress` through the binary).

use crate::common::{
    admm_runner, first_planned_id, interrupt_after_first_heartbeat, text, write_manifest, write_npy,
};
use admm_runner::commands::{predict, submit};
use admm_runner::data::read_npy_f64;
use admm_runner::results::{self, RunPaths, Status, Summary};
use admm_runner::run::sweep::{is_finished_for, printable};
use std::path::Path;
use std::time::{Duration, Instant};

const SMALL: &str = "
name: small
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 15}
";

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Runs `f` and asserts it returns within a generous bound (a blocking read never would).
fn returns_quickly<T>(f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    assert!(t.elapsed() < Duration::from_secs(20), "blocked");
    out
}

// 1. Writes that follow links.

#[test]
fn a_link_at_the_final_name_is_replaced_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "precious").unwrap();
    let target = dir.path().join("out/a.parquet");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&outside, &target).unwrap();
    results::write_atomically(&target, |f| {
        use std::io::Write;
        f.write_all(b"new").map_err(|e| e.to_string())
    })
    .unwrap();
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(meta.is_file(), "the link was replaced by our file");
    // Nothing but the final file is left in the folder.
    let names: Vec<_> = std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn a_linked_trace_folder_is_refused_and_nothing_is_written_there() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join(".x.parquet.tmp-1.host"), "keep").unwrap();
    std::fs::create_dir_all(out.join("small")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("small/trace")).unwrap();
    let o = admm_runner()
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    let names: Vec<_> = std::fs::read_dir(&elsewhere)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from(".x.parquet.tmp-1.host")]
    );
}

// 2. Outputs that replace what they name.

#[test]
fn predict_refuses_an_output_that_is_an_input_or_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, "model").unwrap();
    let alias = dir.path().join("alias.csv");
    std::fs::hard_link(&model, &alias).unwrap();
    let err = predict::check_output(&alias, &[&model]).unwrap_err();
    assert!(err.to_string().contains("is the input"), "{err}");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(dir.path().join("x"), &link).unwrap();
    let err = predict::check_output(&link, &[&model]).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(predict::check_output(&dir.path().join("new.csv"), &[&model]).is_ok());
    assert_eq!(std::fs::read_to_string(&model).unwrap(), "model");
}

// 3. Shell injection in the Slurm script.

fn job(manifest: &str, out: &str) -> submit::Job {
    submit::Job {
        experiment: "small".into(),
        runs: 2,
        launcher: Default::default(),
        binary: "/usr/bin/admm runner".into(),
        workdir: "/tmp/work dir".into(),
        manifest: manifest.into(),
        out: out.into(),
        set: vec!["problem.beta=0.1; rm -rf ~".into()],
        only: vec!["$(id)`id`\\'\"".into()],
        cifar10_dir: None,
    }
}

#[test]
fn every_byte_that_matters_stays_inside_its_quotes() {
    let nasty = "a b'c\"d\\e$f`g`;h&i|j*k?~l#m(n)o{p}";
    let j = job(&format!("/tmp/{nasty}.yaml"), &format!("/tmp/out{nasty}"));
    let script = submit::script(&j);
    // bash parses it, the #SBATCH block comes before any command, and every line is a
    // comment, a directive or one of the commands the runner writes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sbatch");
    std::fs::write(&path, &script).unwrap();
    let ok = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success(), "{script}");
    let lines: Vec<&str> = script.lines().collect();
    let first_command = lines.iter().position(|l| !l.starts_with('#')).unwrap();
    let last_directive = lines
        .iter()
        .rposition(|l| l.starts_with("#SBATCH"))
        .unwrap();
    assert!(last_directive < first_command, "{script}");
    // Running the exec line with echo shows every argument arrives whole.
    let exec = script.lines().find(|l| l.starts_with("exec ")).unwrap();
    let echoed = std::process::Command::new("bash")
        .arg("-c")
        .arg(exec.replacen("exec ", "printf '%s\\n' ", 1))
        .output()
        .unwrap();
    let args = String::from_utf8(echoed.stdout).unwrap();
    assert!(args.contains(&format!("/tmp/{nasty}.yaml\n")), "{args}");
    assert!(args.contains("$(id)`id`\\'\"\n"), "{args}");
}

#[test]
fn control_characters_in_script_values_are_refused() {
    for bad in ["\n", "\r", "\u{1b}"] {
        let dir = tempfile::tempdir().unwrap();
        let m = write_manifest(dir.path(), SMALL);
        let out = dir.path().join(format!("o{bad}x; touch pwned"));
        let o = admm_runner()
            .args(["submit", m.to_str().unwrap(), "--slurm", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{bad:?}: {}", text(&o));
        assert!(text(&o).contains("control character"), "{}", text(&o));
        assert!(!out.exists());
    }
    let l = submit::Launcher {
        sbatch: vec!["--qos=long\u{b}x".into()],
        ..Default::default()
    };
    assert!(l.validate().is_err());
    let l = submit::Launcher {
        setup: vec!["module load cuda\nrm -rf /".into()],
        ..Default::default()
    };
    assert!(l.validate().is_err());
}

// 4. --force loses finished work; 7. stale results.

#[test]
fn force_keeps_the_old_result_until_the_new_one_commits_and_changed_data_is_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RunPaths::new(dir.path(), "e", "r");
    let summary = Summary {
        run_id: "r".into(),
        status: Status::Ok,
        data_fingerprint: Some("10:1:aa".into()),
        ..Summary::default()
    };
    summary.write(&paths.summary).unwrap();
    assert!(is_finished_for(&paths, false, Some("10:1:aa")));
    assert!(!is_finished_for(&paths, false, Some("10:2:aa")), "stale");
    assert!(is_finished_for(&paths, false, None));
}

/// The bytes of a run's summary, trace and model.
fn result_bytes(paths: &RunPaths) -> Vec<Vec<u8>> {
    [&paths.summary, &paths.trace, &paths.model]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn an_interrupted_force_rerun_keeps_the_finished_result_and_a_rerun_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough that the rerun is still computing when the signal lands after its first
    // iteration (a time limit bounds it if the signal were lost).
    let body = SMALL
        .replace("n_train: 60", "n_train: 3000")
        .replace("dim: 5", "dim: 60")
        .replace("patterns: 4", "patterns: 40")
        .replace("max_iters: 15", "max_iters: 40, time_limit: 120");
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let run = |force: bool| {
        let mut c = admm_runner();
        c.args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        if force {
            c.arg("--force");
        }
        c
    };
    let o = run(false).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let summaries: Vec<_> = std::fs::read_dir(out.join("small/runs")).unwrap().collect();
    assert_eq!(summaries.len(), 1);
    let summary = summaries.into_iter().next().unwrap().unwrap().path();
    let id = summary.file_stem().unwrap().to_str().unwrap().to_string();
    let paths = RunPaths::new(&out, "small", &id);
    let before = result_bytes(&paths);

    let mut child = run(true)
        .env("ADMM_RUNNER_HEARTBEAT_S", "0")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = interrupt_after_first_heartbeat(&mut child);
    let status = child.wait().unwrap();
    let all = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{all}");
    assert!(all.contains("interrupted:"), "{all}");

    // The earlier result is whole, reads back, and counts as finished.
    assert_eq!(result_bytes(&paths), before, "{all}");
    assert!(Summary::read(&paths.summary).unwrap().ok());
    admm_runner::run::model::SavedModel::read(&paths.model).unwrap();
    assert!(is_finished_for(&paths, false, None));
    let leftovers: Vec<_> = ["runs", "trace", "models", "claims"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(out.join("small").join(d))
                .into_iter()
                .flatten()
        })
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.ends_with(".claim"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let o = run(false).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("finished earlier, skipped"),
        "{}",
        text(&o)
    );
    assert_eq!(result_bytes(&paths), before);
}

#[test]
fn replaced_npy_data_is_computed_again_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let xs: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin()).collect();
    let ys: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    write_npy(&x, &[20, 2], &xs);
    write_npy(&y, &[20], &ys);
    let body = format!(
        "name: npyrun\ndata: {{source: npy, n_train: 0, n_test: 0, x: {}, y: {}}}\nproblem: {{patterns: 3, beta: 0.01}}\nsolver: {{name: cg, admm: {{rho: 0.5}}, max_iters: 5}}\n",
        x.display(),
        y.display()
    );
    let m = write_manifest(dir.path(), &body);
    let out = dir.path().join("res");
    let run = || {
        admm_runner()
            .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", text(&o));
    let o = run();
    assert!(
        text(&o).contains("finished earlier, skipped"),
        "{}",
        text(&o)
    );
    let flipped: Vec<f64> = ys.iter().map(|v| -v).collect();
    write_npy(&y, &[20], &flipped);
    let o = run();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 ok"), "{}", text(&o));
    assert!(
        !text(&o).contains("finished earlier, skipped"),
        "{}",
        text(&o)
    );
}

// 5. Unbounded reads and hangs; 6. panics in size arithmetic.

#[test]
fn fifos_devices_and_folders_are_refused_as_data_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.npy");
    mkfifo(&fifo);
    for p in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
        let err = returns_quickly(|| read_npy_f64(p)).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
    let err = returns_quickly(|| admm_runner::run::model::SavedModel::read(&fifo))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn a_huge_npy_shape_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let max = u64::MAX;
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({max}, {max}), }}");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16 + 1).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.push(b'\n');
    std::fs::write(&x, bytes).unwrap();
    let err = read_npy_f64(&x).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
    let body = format!(
        "name: huge\ndata: {{source: npy, x: {p}, y: {p}}}\nproblem: {{patterns: 3, beta: 0.01}}\nsolver: {{name: cg, max_iters: 5}}\n",
        p = x.display()
    );
    let m = write_manifest(dir.path(), &body);
    let o = admm_runner()
        .args(["plan", m.to_str().unwrap(), "--memory"])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(101), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}

#[test]
fn huge_sweeps_deep_yaml_and_long_paths_are_refused_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let axis: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let body = format!(
        "{SMALL}sweep:\n  seed: [{a}]\n  problem.patterns: [{a}]\n",
        a = axis.join(", ")
    );
    let m = write_manifest(dir.path(), &body);
    let o = returns_quickly(|| admm_runner().args(["plan", m.to_str().unwrap()]).output()).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("1000000 runs"), "{}", text(&o));

    let deep = format!(
        "name: deep\nx: {}{}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let m = write_manifest(dir.path(), &deep);
    let o = returns_quickly(|| admm_runner().args(["plan", m.to_str().unwrap()]).output()).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nested more than"), "{}", text(&o));

    let path = format!("{SMALL}beta_path: {{count: 100000000}}\n");
    let m = write_manifest(dir.path(), &path);
    let o = admm_runner()
        .args(["plan", m.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("count"), "{}", text(&o));

    let o = admm_runner()
        .args(["bench", m.to_str().unwrap(), "--gap", "nan"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

// 8. Answers that mislead.

#[test]
fn a_bom_manifest_plans_and_a_fifo_manifest_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), &format!("\u{feff}{SMALL}"));
    let o = admm_runner()
        .args(["plan", m.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let fifo = dir.path().join("f.yaml");
    mkfifo(&fifo);
    let o = returns_quickly(|| {
        admm_runner()
            .args(["plan", fifo.to_str().unwrap()])
            .output()
    })
    .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a regular file"), "{}", text(&o));
}

#[test]
fn labels_that_are_no_class_or_leave_a_class_empty_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    write_npy(&x, &[3, 1], &[1.0, 2.0, 3.0]);
    let body = format!(
        "name: labels\ndata: {{source: npy, n_train: 0, n_test: 0, x: {}, y: {}}}\nproblem: {{patterns: 3, beta: 0.01}}\nsolver: {{name: cg, max_iters: 5}}\n",
        x.display(),
        y.display()
    );
    let m = write_manifest(dir.path(), &body);
    for (labels, want) in [
        ([f64::NAN, 1.0, 0.0], "label NaN at index 0"),
        ([1.0, 0.5, 0.0], "label 0.5 at index 1"),
        ([2.0, 3.0, 2.0], "[0, 1]"),
    ] {
        write_npy(&y, &[3], &labels);
        let out = dir.path().join("res");
        let o = admm_runner()
            .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    }
}

#[test]
fn control_characters_in_messages_are_escaped() {
    assert_eq!(printable("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
}

#[test]
fn a_garbage_claim_fails_the_run_instead_of_skipping_it_silently() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    let id = first_planned_id(&m);
    let claim = RunPaths::new(&out, "small", &id).claim;
    std::fs::create_dir_all(claim.parent().unwrap()).unwrap();
    std::fs::write(&claim, "garbage\u{0}\u{ff}").unwrap();
    let o = admm_runner()
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a claim"), "{}", text(&o));
}

/// submit's manifest copy (`slurm/manifest.yaml`, new with issue 30) is created inside the
/// output folder like every other file: a link planted at its name is replaced by a regular
/// file, and the file the link pointed to, outside the output folder, is left as it was.
#[test]
fn a_link_at_the_manifest_copy_is_replaced_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), SMALL);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let slurm = dir.path().join("res/small/slurm");
    std::fs::create_dir_all(&slurm).unwrap();
    std::os::unix::fs::symlink(&victim, slurm.join("manifest.yaml")).unwrap();
    let o = admm_runner()
        .current_dir(dir.path())
        .args(["submit", "m.yaml", "--slurm", "--out", "res"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let copy = std::fs::symlink_metadata(slurm.join("manifest.yaml")).unwrap();
    assert!(copy.file_type().is_file(), "the link was kept");
    assert_eq!(
        std::fs::read_to_string(slurm.join("manifest.yaml")).unwrap(),
        std::fs::read_to_string(dir.path().join("m.yaml")).unwrap()
    );
}
