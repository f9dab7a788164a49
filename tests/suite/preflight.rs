//! Data checked once per sweep (issue 30, item 7): a missing data file is one error (exit 2)
//! before any run starts, naming the file and how relative paths resolve.

use crate::common::{admm_runner, text, write_manifest};

#[test]
fn missing_data_is_one_error_before_any_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let body = "
name: npy
data: {source: npy, x: nowhere/x.npy, y: nowhere/y.npy, n_train: 0, n_test: 0}
problem: {patterns: 3}
solver: {name: cg, max_iters: 2}
sweep:
  seed: [0, 1, 2]
";
    let m = write_manifest(dir.path(), body);
    let out = dir.path().join("res");
    let o = admm_runner()
        .current_dir(dir.path())
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = text(&o);
    assert_eq!(msg.matches("nowhere/x.npy").count(), 1, "{msg}");
    assert!(
        msg.contains("nothing was run") && msg.contains("current directory"),
        "{msg}"
    );
    assert!(!out.join("npy/runs").exists(), "no summary may be written");
}
