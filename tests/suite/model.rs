//! Saved models: a run's network written as safetensors, read back, and `predict` reproducing
//! exactly the test accuracy the run recorded.

use crate::common::{admm_runner, fixtures, text, write_manifest, write_npy};
use admm_engine::adam::{Network, Readout};
use admm_runner::commands::predict;
use admm_runner::results::Summary;
use admm_runner::run::model::SavedModel;
use std::path::{Path, PathBuf};

const SYNTH: &str = "
name: saved
data: {source: synthetic, n_train: 60, n_test: 40, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 12, adam: {batch_size: 16}}
sweep:
  solver: [exact, adam]
";

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs `body` into `<dir>/res` and returns the experiment folder.
fn run_manifest(dir: &Path, body: &str) -> PathBuf {
    let m = write_manifest(dir, body);
    let out = dir.join("res");
    let o = admm_runner()
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    out
}

/// For every run of the experiment: the model's accuracy on its own test set, recomputed from
/// the file alone, equals the summary's test accuracy exactly.
fn check_every_model_reproduces_its_accuracy(exp: &Path, expected_runs: usize) {
    let summaries = files(&exp.join("runs"));
    assert_eq!(summaries.len(), expected_runs);
    for s in summaries {
        let summary = Summary::read(&s).unwrap();
        let model_file = exp
            .join("models")
            .join(format!("{}.safetensors", summary.run_id));
        let model = SavedModel::read(&model_file).unwrap();
        assert_eq!(model.run_id, summary.run_id);
        let ex = predict::examples(&model, &[], &[]).unwrap();
        let p = predict::predict(&model, ex, model.backend).unwrap();
        let recorded = summary.last.test_acc.unwrap();
        assert_eq!(p.scored.accuracy, recorded, "{}", summary.run_id);
        assert_eq!(model.test_acc, recorded);
    }
}

#[test]
fn a_saved_model_reproduces_the_recorded_test_accuracy_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_manifest(dir.path(), SYNTH);
    check_every_model_reproduces_its_accuracy(&out.join("saved"), 2);
    // The command line: writes one output per test example and prints the accuracy.
    let model = files(&out.join("saved/models")).remove(0);
    let csv = dir.path().join("p.csv");
    let o = admm_runner()
        .args([
            "predict",
            model.to_str().unwrap(),
            "--out",
            csv.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("40 examples") && text(&o).contains("accuracy"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 41);
}

#[test]
fn a_cifar_model_reproduces_its_accuracy_through_a_manifest_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixtures().join("cifar10_ci");
    let body = format!(
        "name: cif\ndata: {{source: cifar10, train_files: [{}], test_files: [{}], n_train: 60, \
         n_test: 40, downsample: 12}}\nproblem: {{patterns: 4, beta: 0.01}}\n\
         solver: {{name: cg, admm: {{rho: 0.1}}, max_iters: 8}}\n",
        fx.join("ci_train_c01.bin").display(),
        fx.join("ci_test_c01.bin").display()
    );
    let out = run_manifest(dir.path(), &body);
    check_every_model_reproduces_its_accuracy(&out.join("cif"), 1);
    let model_file = files(&out.join("cif/models")).remove(0);
    let model = SavedModel::read(&model_file).unwrap();
    let summary = Summary::read(&files(&out.join("cif/runs"))[0]).unwrap();
    // Through the manifest: the same test set, so the same accuracy.
    let m = dir.path().join("m.yaml");
    let ex = predict::examples(&model, std::slice::from_ref(&m), &[]).unwrap();
    let p = predict::predict(&model, ex.clone(), model.backend).unwrap();
    assert_eq!(p.scored.accuracy, summary.last.test_acc.unwrap());
    // Through .npy files holding the raw (pooled, unstandardized) features.
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let xs: Vec<f64> = ex.x.iter().map(|&v| f64::from(v)).collect();
    let ys: Vec<f64> = ex.y.iter().map(|&v| f64::from(v)).collect();
    write_npy(&x, &[ex.n, ex.d], &xs);
    write_npy(&y, &[ex.n], &ys);
    let npy = predict::examples(&model, &[x, y], &[]).unwrap();
    let q = predict::predict(&model, npy, model.backend).unwrap();
    assert_eq!(q.scored.outputs, p.scored.outputs);
    // Other classes than the model's: refused, naming the key.
    std::fs::write(
        &m,
        body.replace("downsample: 12}", "downsample: 12, classes: [1, 0]}"),
    )
    .unwrap();
    let err = predict::examples(&model, &[m], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.classes"), "{err}");
}

#[test]
fn save_model_off_writes_no_model_and_keeps_the_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let body = SYNTH.replace("[exact, adam]", "[exact]");
    let on = run_manifest(dir.path(), &body);
    let off_dir = dir.path().join("off");
    std::fs::create_dir_all(&off_dir).unwrap();
    let off = run_manifest(&off_dir, &(body + "output: {save_model: false}\n"));
    assert_eq!(files(&on.join("saved/models")).len(), 1);
    assert!(files(&off.join("saved/models")).is_empty());
    let name = |d: &Path| {
        files(&d.join("saved/runs"))[0]
            .file_name()
            .unwrap()
            .to_owned()
    };
    assert_eq!(name(&on), name(&off));
}

#[test]
fn the_paired_network_computes_relu_sums_by_hand() {
    // Two patterns, d_in = 2 (one feature and the bias column): W1 columns v1, v2, w1, w2.
    let net = Network {
        d_in: 2,
        width: 4,
        w1: vec![1.0, -1.0, 0.0, 2.0, /* bias row */ 0.5, 0.0, 1.0, -1.0],
        w2: vec![1.0, 1.0, -1.0, -1.0],
        outputs: 1,
        loss: admm_engine::loss::Loss::Squared,
        bias: true,
        readout: Readout::Paired { p: 2 },
    };
    let x = [2.0_f32, -1.0];
    let dev = Default::default();
    let got = net.score::<crate::common::Cpu>(&x, &[1.0, -1.0], 2, &dev);
    // x = 2: relu(2.5) + relu(-2) - relu(1) - relu(3) = -1.5
    // x = -1: relu(-0.5) + relu(1) - relu(1) - relu(-3) = 0
    assert_eq!(got.outputs, vec![-1.5, 0.0]);
    // The tie rule (README, "Ties"): an output of exactly 0 counts half right.
    assert_eq!(
        got.accuracy, 0.25,
        "-1.5 is wrong for +1, and 0 is a tie for -1 (1/2): (0 + 1/2) / 2"
    );
    let dense = Network {
        readout: Readout::Dense,
        ..net
    };
    assert_eq!(
        dense.score::<crate::common::Cpu>(&x, &[], 2, &dev).outputs,
        vec![-1.5, 0.0]
    );
}
