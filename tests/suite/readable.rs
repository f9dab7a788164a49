//! Sweeps a researcher can read (issue 30, the remaining items): a regularization path shown
//! as its points with beta, beta / beta_max, validation accuracy and the chosen one (and its
//! model file); `show --group-by`; `plan`'s time estimate; relative data paths beside the
//! manifest; `submit` keeping the earlier script and a copy of the manifest; and the figures'
//! own axes (Adam's epochs, one loss panel per loss, the real n and d of `.npy` data).

use crate::common::{admm_runner, fixtures, text, write_manifest, write_npy};
use admm_runner::manifest;
use admm_runner::results::{RunPaths, Summary};
use std::path::Path;
use std::process::Output;

/// A small path, warm and cold (as tests/suite/path.rs).
const PATH: &str = "
name: bpath
data: {source: synthetic, n_train: 80, n_test: 40, dim: 4, teacher_width: 3}
problem: {patterns: 6}
solver: {name: exact, admm: {rho: 0.5, tol_abs: 1.0e-8, tol_rel: 1.0e-6}, max_iters: 3000}
beta_path: {count: 4, ratio: 0.05, validation: 0.25, compare_cold: true}
plot: {figures: [beta-path]}
";

fn run_cmd(args: &[&str]) -> Output {
    admm_runner().args(args).output().unwrap()
}

fn json(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", text(o));
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap_or_else(|e| panic!("{e}: {out}"))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_path_is_shown_as_its_points_with_beta_validation_and_the_chosen_model() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), PATH);
    let out = dir.path().join("res");
    let (ms, os) = (m.to_str().unwrap(), out.to_str().unwrap());

    // Before the run: each path (warm, cold) is one missing entry, not a hash of no file.
    let before = json(&run_cmd(&["show", ms, "--results", os, "--format", "json"]));
    assert_eq!(before.len(), 2, "{before:?}");
    for row in &before {
        assert_eq!(row["status"], "missing", "{row}");
        assert!(row["id"].as_str().unwrap().starts_with("path-"), "{row}");
    }

    let o = run_cmd(&["run", ms, "--out", os]);
    assert!(o.status.success(), "{}", text(&o));
    // The run names the chosen model's file, and the file is there.
    let said = text(&o);
    let model_line = said
        .lines()
        .find(|l| l.contains("chosen model "))
        .unwrap_or_else(|| panic!("no chosen model named: {said}"));
    let file = model_line.rsplit("chosen model ").next().unwrap().trim();
    assert!(Path::new(file).is_file(), "{file}");

    // The manifest: the points of both paths, none missing, each with its numbers.
    let rows = json(&run_cmd(&["show", ms, "--results", os, "--format", "json"]));
    assert_eq!(rows.len(), 8, "4 betas x warm and cold: {rows:?}");
    let mut chosen = 0;
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row}");
        let id = row["id"].as_str().unwrap();
        let s = Summary::read(&RunPaths::new(&out, "bpath", id).summary).unwrap();
        assert_eq!(row["val_acc"].as_f64(), s.val_acc, "{row}");
        let (beta, ratio) = (row["beta"].as_f64().unwrap(), row["beta/beta_max"].as_f64());
        assert!(
            beta > 0.0 && ratio.is_some_and(|r| r > 0.0 && r <= 1.0 + 1e-12),
            "{row}"
        );
        chosen += usize::from(row["chosen"] == true);
    }
    assert_eq!(chosen, 2, "one chosen point per path");
    // The largest beta of each path is beta_max itself.
    assert_eq!(
        rows.iter()
            .filter(|r| (r["beta/beta_max"].as_f64().unwrap() - 1.0).abs() < 1e-12)
            .count(),
        2
    );

    // The folder: the same points, sortable by validation accuracy, the model named below.
    let folder = out.join("bpath");
    let fs = folder.to_str().unwrap();
    let sorted = json(&run_cmd(&[
        "show",
        fs,
        "--sort",
        "val_acc",
        "--reverse",
        "--format",
        "json",
    ]));
    let vals: Vec<f64> = sorted
        .iter()
        .map(|r| r["val_acc"].as_f64().unwrap())
        .collect();
    assert!(vals.windows(2).all(|w| w[0] >= w[1]), "{vals:?}");
    assert!(sorted.iter().any(|r| r["chosen"] == true));
    let table = run_cmd(&["show", fs]);
    let shown = text(&table);
    for col in ["beta", "beta/beta_max", "val_acc", "chosen"] {
        assert!(shown.lines().next().unwrap().contains(col), "{shown}");
    }
    assert!(shown.contains(&format!("model {file}")), "{shown}");
    assert!(!shown.contains("not in this plan"), "{shown}");
    let planned = text(&run_cmd(&["show", ms, "--results", os]));
    assert!(
        !planned.contains("missing") && !planned.contains("not in this plan"),
        "{planned}"
    );
}

/// Two solvers, two seeds; exact refuses (max_dim 1), so its group has no ok run.
const FOUR: &str = "
name: small
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 8, exact: {max_dim: 1}}
sweep:
  solver: [exact, cg]
  seed: [0, 1]
";

#[test]
fn group_by_folds_seeds_into_mean_min_and_max_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), FOUR);
    let out = dir.path().join("res");
    let (ms, os) = (m.to_str().unwrap(), out.to_str().unwrap());
    let o = run_cmd(&["run", ms, "--out", os]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let accs: Vec<f64> = manifest::plan(&m, &[])
        .unwrap()
        .iter()
        .filter(|r| r.config.solver.method.kind().to_string() == "cg")
        .map(|r| {
            let s = Summary::read(&RunPaths::new(&out, "small", &r.id).summary).unwrap();
            s.last.test_acc.unwrap()
        })
        .collect();
    assert_eq!(accs.len(), 2);

    let folder = out.join("small");
    let fs = folder.to_str().unwrap();
    let rows = json(&run_cmd(&[
        "show",
        fs,
        "--group-by",
        "method",
        "--format",
        "json",
    ]));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let cg = rows.iter().find(|r| r["method"] == "cg").unwrap();
    assert_eq!((cg["runs"].as_u64(), cg["ok"].as_u64()), (Some(2), Some(2)));
    let mean = (accs[0] + accs[1]) / 2.0;
    assert!(
        (cg["test_acc_mean"].as_f64().unwrap() - mean).abs() < 1e-12,
        "{cg}"
    );
    assert_eq!(cg["test_acc_min"].as_f64(), Some(accs[0].min(accs[1])));
    assert_eq!(cg["test_acc_max"].as_f64(), Some(accs[0].max(accs[1])));
    let exact = rows.iter().find(|r| r["method"] == "exact").unwrap();
    assert_eq!(exact["ok"].as_u64(), Some(0));
    assert!(exact["test_acc_mean"].is_null(), "{exact}");

    // Two keys, from a manifest; the table, Markdown and CSV views say the same.
    let by_two = ["--group-by", "solver,seed", "--results", os];
    let csv = run_cmd(&[&["show", ms, "--format", "csv"][..], &by_two[..]].concat());
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert!(csv.starts_with("solver,seed,runs,ok,iters_mean"), "{csv}");
    assert_eq!(csv.lines().count(), 5, "{csv}");
    for format in ["table", "md"] {
        let o = run_cmd(&[&["show", ms, "--format", format][..], &by_two[..]].concat());
        assert!(text(&o).contains("mean (min..max)"), "{}", text(&o));
    }
    // A key no run has is refused, with the full key when only its end was given.
    let o = run_cmd(&["show", fs, "--group-by", "rho"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("did you mean solver.admm.rho"),
        "{}",
        text(&o)
    );
}

#[test]
fn plan_estimates_each_run_and_the_total_without_changing_ids() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), FOUR);
    let ms = m.to_str().unwrap();
    let seconds = |args: &[&str]| -> (Vec<String>, Vec<f64>) {
        let o = run_cmd(&[&["plan", ms][..], args].concat());
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("estimated time: at most"),
            "{}",
            text(&o)
        );
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        stdout
            .lines()
            .map(|l| {
                let id = l.split_whitespace().next().unwrap().to_string();
                let est = l.rsplit("est<=").next().unwrap();
                (id, parse_human(est))
            })
            .unzip()
    };
    let (ids, base) = seconds(&[]);
    let planned: Vec<String> = manifest::plan(&m, &[])
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, planned);
    // Ten times the iterations, and a slower machine, take longer.
    let (_, longer) = seconds(&["--set", "solver.max_iters=80"]);
    for (a, b) in base.iter().zip(&longer) {
        assert!(b > a, "{base:?} {longer:?}");
    }
    let slow = admm_runner()
        .env(admm_runner::run::estimate::RATE_VAR, "0.001")
        .args(["plan", ms])
        .output()
        .unwrap();
    let slow_text = String::from_utf8_lossy(&slow.stdout).into_owned();
    let first = parse_human(
        slow_text
            .lines()
            .next()
            .unwrap()
            .rsplit("est<=")
            .next()
            .unwrap(),
    );
    assert!(first > base[0], "{slow_text}");
}

/// "0.4s", "12s", "4.2min", "3.1h", "2.5d" back to seconds.
fn parse_human(t: &str) -> f64 {
    let t = t.trim();
    let units = [("min", 60.0), ("s", 1.0), ("h", 3600.0), ("d", 86400.0)];
    for (unit, factor) in units {
        if let Some(x) = t.strip_suffix(unit) {
            return x.parse::<f64>().unwrap_or_else(|_| panic!("{t}")) * factor;
        }
    }
    panic!("no unit: {t}")
}

const NPY: &str = "
name: rel
data: {source: npy, x: data/x.npy, y: data/y.npy, n_train: 0, n_test: 0}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 3}
";

#[test]
fn relative_data_paths_are_read_beside_the_manifest_first_and_ids_stay() {
    let root = tempfile::tempdir().unwrap();
    let (here, there, elsewhere) = (
        root.path().join("project"),
        root.path().join("copy"),
        root.path().join("cwd"),
    );
    for d in [&here, &there, &elsewhere] {
        std::fs::create_dir_all(d.join("data")).unwrap();
    }
    let x: Vec<f64> = (0..40).map(|k| ((k * 7) % 11) as f64 - 5.0).collect();
    let y: Vec<f64> = (0..20)
        .map(|k| if k % 3 == 0 { 1.0 } else { -1.0 })
        .collect();
    write_npy(&here.join("data/x.npy"), &[20, 2], &x);
    write_npy(&here.join("data/y.npy"), &[20], &y);
    let m = write_manifest(&here, NPY);
    // A copy with nothing beside it: the same ids (the written path is hashed, not where it
    // resolves).
    let copy = write_manifest(&there, NPY);
    let ids = |p: &Path| -> Vec<String> {
        manifest::plan(p, &[])
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(&m), ids(&copy));

    // Run from another folder: the data beside the manifest is found.
    let out = root.path().join("res");
    let o = admm_runner()
        .current_dir(&elsewhere)
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = Summary::read(&RunPaths::new(&out, "rel", &ids(&m)[0]).summary).unwrap();
    assert!(
        s.data_path.contains("project/data/x.npy"),
        "{}",
        s.data_path
    );

    // The copy has no data beside it: read from the current folder, when it is there...
    let o = admm_runner()
        .current_dir(&here)
        .args(["plan", copy.to_str().unwrap(), "--memory"])
        .output()
        .unwrap();
    assert!(!text(&o).contains("unknown"), "{}", text(&o));
    // ...and an error naming both places when it is nowhere (another --out: in this one the
    // run is finished, and a finished run is not read again).
    let other = root.path().join("res2");
    let o = admm_runner()
        .current_dir(&elsewhere)
        .args([
            "run",
            copy.to_str().unwrap(),
            "--out",
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("beside the manifest"), "{}", text(&o));
}

const TWO: &str = "
name: small
data: {source: synthetic, n_train: 40, n_test: 20, dim: 3, teacher_width: 2}
problem: {patterns: 2, beta: 0.01}
solver: {name: cg, max_iters: 2}
sweep: {seed: [0, 1]}
";

#[test]
fn submit_keeps_the_earlier_script_and_copies_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), TWO);
    let submit = |args: &[&str]| {
        admm_runner()
            .current_dir(dir.path())
            .args(["submit", "m.yaml", "--slurm", "--out", "res"])
            .args(args)
            .output()
            .unwrap()
    };
    let slurm = dir.path().join("res/small/slurm");
    let o = submit(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let first = std::fs::read_to_string(slurm.join("array.sbatch")).unwrap();
    let copy = std::fs::read_to_string(slurm.join("manifest.yaml")).unwrap();
    assert_eq!(copy, std::fs::read_to_string(&m).unwrap());
    assert!(first.contains("manifest.yaml"), "the script names the copy");
    // The same script again is no change; another one is refused without --force.
    assert!(submit(&[]).status.success());
    let o = submit(&["--time", "00:05:00"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(slurm.join("array.sbatch")).unwrap(),
        first
    );
    // With --force the earlier script and manifest copy are kept, numbered.
    std::fs::write(&m, TWO.replace("max_iters: 2", "max_iters: 3")).unwrap();
    let o = submit(&["--time", "00:05:00", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(slurm.join("array.1.sbatch")).unwrap(),
        first
    );
    assert_eq!(
        std::fs::read_to_string(slurm.join("manifest.1.yaml")).unwrap(),
        copy
    );
    let now = std::fs::read_to_string(slurm.join("manifest.yaml")).unwrap();
    assert!(now.contains("max_iters: 3"), "{now}");
}

/// cg and Adam under two losses, from hand-made traces.
const MIXED: &str = "
name: mixed
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5}
problem: {patterns: 4}
solver: {name: cg, max_iters: 6}
sweep:
  solver: [cg, adam]
  problem.loss: [squared, logistic]
plot: {x: iter, figures: [curves, runtime]}
";

#[test]
fn figures_give_adam_its_epoch_axis_each_loss_its_panel_and_bars_their_setting() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("mixed.yaml");
    std::fs::write(&m, MIXED).unwrap();
    let opts = admm_runner::plots::PlotOptions {
        results: dir.path().join("results"),
        plots: dir.path().join("plots"),
    };
    crate::plots::write_results(&manifest::plan(&m, &[]).unwrap(), &opts.results);
    admm_runner::plots::plot_manifest(&m, &[], &opts).unwrap();
    let svg = std::fs::read_to_string(opts.plots.join("mixed.svg")).unwrap();
    for label in [
        "Adam epoch",
        "ADMM iteration",
        "squared loss",
        "logistic loss per example",
        "(a) Train loss: logistic",
    ] {
        assert!(svg.contains(label), "no {label:?} in the curves");
    }
    assert!(!svg.contains("(Adam: epoch)"), "one shared axis");
    // The runtime bars: one per solver and loss, never averaged over the two losses.
    let bars = std::fs::read_to_string(opts.plots.join("mixed-runtime.svg")).unwrap();
    assert!(
        bars.contains("ADMM-CG, logistic") && bars.contains("ADMM-CG, squared"),
        "{bars}"
    );

    // `.npy` data: the subtitle gives the files' n and d, not 0 and "npy".
    let digits = fixtures().join("digits");
    let npy = format!(
        "name: dig\ndata: {{source: npy, x: {0}/x_train.npy, y: {0}/y_train.npy, n_train: 0}}\n\
         problem: {{patterns: 2}}\nsolver: {{name: cg, max_iters: 6}}\nplot: {{figures: [curves]}}\n",
        digits.display()
    );
    let m = dir.path().join("dig.yaml");
    std::fs::write(&m, npy).unwrap();
    let runs = manifest::plan(&m, &[]).unwrap();
    crate::plots::write_results(&runs, &opts.results);
    admm_runner::plots::plot_manifest(&m, &[], &opts).unwrap();
    let svg = std::fs::read_to_string(opts.plots.join("dig.svg")).unwrap();
    let s = admm_runner::data::shapes(&runs[0].config.data).unwrap();
    assert!(
        svg.contains(&format!("n={}, d={}", s.n, s.d)) && !svg.contains("d=npy"),
        "subtitle"
    );
}

/// cg at two rhos, two seeds each, under a target: Table 1's rows.
const RHOS: &str = "
name: rhos
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5}
problem: {patterns: 4}
solver: {name: cg, max_iters: 6, target_train_acc: 0.97}
sweep:
  solver.admm.rho: [0.1, 1]
  seed: [0, 1]
plot: {figures: [table, runtime]}
";

#[test]
fn table_rows_and_runtime_bars_are_split_by_setting_and_averaged_over_seeds_only() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("rhos.yaml");
    std::fs::write(&m, RHOS).unwrap();
    let opts = admm_runner::plots::PlotOptions {
        results: dir.path().join("results"),
        plots: dir.path().join("plots"),
    };
    crate::plots::write_results(&manifest::plan(&m, &[]).unwrap(), &opts.results);
    admm_runner::plots::plot_manifest(&m, &[], &opts).unwrap();
    let md = std::fs::read_to_string(opts.plots.join("rhos.md")).unwrap();
    for label in ["ADMM-CG, rho=0.1", "ADMM-CG, rho=1"] {
        assert!(md.contains(label), "no row {label:?}: {md}");
    }
    // Two rows of ours: one per setting, each over its own seeds.
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ours |")).count(),
        2,
        "{md}"
    );
    let bars = std::fs::read_to_string(opts.plots.join("rhos-runtime.svg")).unwrap();
    assert!(bars.contains("ADMM-CG, rho=0.1") && bars.contains("ADMM-CG, rho=1"));
}

/// `plan` lines give `.npy` data's sizes from the files' headers (the digits fixture: 1438
/// training rows of 64 features), not the manifest's `n_train: 0` or a placeholder.
#[test]
fn plan_lines_give_npy_sizes_from_the_headers() {
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/digits.yaml");
    let o = admm_runner()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["plan", m.to_str().unwrap()])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(stdout.lines().count() > 0, "{out}");
    for l in stdout.lines() {
        assert!(l.contains(" n=1438 d=64 "), "{l}");
    }
}
