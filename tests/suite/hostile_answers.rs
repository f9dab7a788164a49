//! Issue 29, classes 2 and 8 through the binary: `predict` refuses what it cannot score
//! (NaN features, labels outside the model's classes, data with another number of classes),
//! writes through a device rather than replacing it, and never writes over its own model;
//! `plot` says when traces are lost and never lets two manifests with one experiment name
//! overwrite each other's figure; `bench --gap nan` is refused; and (class 5) `regress` reads
//! its baseline only from a regular file.

use crate::common::{admm_runner, text, write_npy};
use std::path::{Path, PathBuf};
use std::process::Output;

const SMALL: &str = "
name: small
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 15}
plot: {x: iter, figures: [curves]}
";

/// Writes `body` as `<dir>/<name>` and runs it into `<dir>/res`.
fn run(dir: &Path, name: &str, body: &str) -> PathBuf {
    let m = dir.join(name);
    std::fs::write(&m, body).unwrap();
    let o = admm_runner()
        .args(["run", m.to_str().unwrap(), "--out"])
        .arg(dir.join("res"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    m
}

/// The one saved model of `<dir>/res/small`.
fn model(dir: &Path) -> PathBuf {
    let models = dir.join("res/small/models");
    let mut files: Vec<PathBuf> = std::fs::read_dir(models)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

fn predict(model: &Path, data: &[&Path], out: &Path) -> Output {
    admm_runner()
        .arg("predict")
        .arg(model)
        .args(data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Five features per example, none NaN unless `nan` names one (example, feature).
fn features(path: &Path, n: usize, nan: Option<(usize, usize)>) {
    let mut x: Vec<f64> = (0..n * 5).map(|i| (i as f64 * 0.37).sin()).collect();
    if let Some((i, j)) = nan {
        x[i * 5 + j] = f64::NAN;
    }
    write_npy(path, &[n, 5], &x);
}

#[test]
fn hostile_predict_refuses_nan_features_and_labels_outside_the_model_classes() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "m.yaml", SMALL);
    let model = model(dir.path());
    let (x, y, out) = (
        dir.path().join("x.npy"),
        dir.path().join("y.npy"),
        dir.path().join("p.csv"),
    );
    features(&x, 4, Some((1, 2)));
    let o = predict(&model, &[&x], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("feature 2 of example 1 is NaN"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    features(&x, 4, None);
    write_npy(&y, &[4], &[1.0, -1.0, 2.0, 1.0]);
    let o = predict(&model, &[&x, &y], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("label 2 at index 2 is not one of the model's classes"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    // The same files with labels in the model's coding are scored.
    write_npy(&y, &[4], &[1.0, -1.0, 0.0, 1.0]);
    let o = predict(&model, &[&x, &y], &out);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn hostile_predict_refuses_three_class_data_for_a_binary_model() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "m.yaml", SMALL);
    let model = model(dir.path());
    let three = dir.path().join("three.yaml");
    let body = SMALL.replace("teacher_width: 3}", "teacher_width: 3, classes: [0, 1, 2]}");
    std::fs::write(&three, body).unwrap();
    let out = dir.path().join("p.csv");
    let o = predict(&model, &[&three], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the data has 3 classes, but the model was trained on 2"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
}

#[test]
fn hostile_predict_writes_through_a_device_and_never_over_its_model() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "m.yaml", SMALL);
    let model = model(dir.path());
    let null = Path::new("/dev/null");
    let o = predict(&model, &[], null);
    assert!(o.status.success(), "{}", text(&o));
    let meta = std::fs::symlink_metadata(null).unwrap();
    assert!(meta.file_type().is_char_device(), "{meta:?}");

    let before = std::fs::read(&model).unwrap();
    let respelled = model
        .parent()
        .unwrap()
        .join(".")
        .join(model.file_name().unwrap());
    for out in [&model, &respelled] {
        let o = predict(&model, &[], out);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("is the input"), "{}", text(&o));
        assert_eq!(std::fs::read(&model).unwrap(), before);
    }
}

/// `plot MANIFESTS --results <dir>/res --plots <plots>`.
fn plot(dir: &Path, manifests: &[&Path], plots: &Path) -> Output {
    admm_runner()
        .arg("plot")
        .args(manifests)
        .arg("--results")
        .arg(dir.join("res"))
        .arg("--plots")
        .arg(plots)
        .output()
        .unwrap()
}

#[test]
fn hostile_plot_warns_of_a_lost_trace_and_still_draws() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(
        dir.path(),
        "m.yaml",
        &format!("{SMALL}sweep: {{seed: [0, 1]}}\n"),
    );
    let traces = dir.path().join("res/small/trace");
    let first = std::fs::read_dir(&traces).unwrap().next().unwrap();
    std::fs::remove_file(first.unwrap().path()).unwrap();
    let plots = dir.path().join("plots");
    let o = plot(dir.path(), &[&m], &plots);
    // Exit 0: the figure is drawn without the lost curve; the warning says so on stderr.
    // (With every trace lost there is nothing to draw: exit 2, `plots.rs` covers it.)
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning:") && err.contains("have no trace") && err.contains("--force"),
        "{err}"
    );
    assert!(plots.join("small.png").is_file(), "{}", text(&o));
}

#[test]
fn hostile_two_manifests_with_one_name_do_not_overwrite_each_others_figure() {
    let dir = tempfile::tempdir().unwrap();
    let a = run(dir.path(), "a.yaml", SMALL);
    let b = run(
        dir.path(),
        "b.yaml",
        &SMALL.replace("beta: 0.01", "beta: 0.2"),
    );
    let (pa, pb) = (dir.path().join("plots-a"), dir.path().join("plots-b"));
    assert!(plot(dir.path(), &[&a], &pa).status.success());
    assert!(plot(dir.path(), &[&b], &pb).status.success());
    let figure_a = std::fs::read(pa.join("small.png")).unwrap();
    let figure_b = std::fs::read(pb.join("small.png")).unwrap();
    assert_ne!(
        figure_a, figure_b,
        "the two manifests draw different figures"
    );
    let both = dir.path().join("plots");
    let o = plot(dir.path(), &[&a, &b], &both);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is also that of"), "{}", text(&o));
    assert_eq!(std::fs::read(both.join("small.png")).unwrap(), figure_a);
}

#[test]
fn hostile_bench_refuses_a_nan_gap() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, SMALL).unwrap();
    for gap in ["nan", "inf", "-1"] {
        let o = admm_runner()
            .args(["bench", m.to_str().unwrap()])
            .arg(format!("--gap={gap}"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{gap}: {}", text(&o));
        assert!(
            text(&o).contains("is not a finite number above 0"),
            "{gap}: {}",
            text(&o)
        );
    }
}

#[test]
fn hostile_regress_refuses_a_fifo_or_device_as_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, SMALL).unwrap();
    let fifo = dir.path().join("baseline.json");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    for baseline in [fifo.as_path(), Path::new("/dev/zero")] {
        let o = admm_runner()
            .args(["regress", m.to_str().unwrap(), "--baseline"])
            .arg(baseline)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot read the baseline"), "{err}");
        // Said once: the reason is not repeated as a source.
        assert_eq!(err.matches("not a regular file").count(), 1, "{err}");
    }
}
