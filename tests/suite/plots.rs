//! Figures and tables from Parquet results: every kind renders from a small synthetic results
//! set written here (files exist, PNGs have their size), Table 1's numbers are the traces'
//! times, time-to-target on a hand-made trace, clear errors for missing results, and the
//! `make figures` script on the quick settings from a clean checkout.

use admm_runner::manifest::{plan, PlannedRun};
use admm_runner::plots::{self, table, time_to_target, PlotError, PlotOptions, Trace};
use admm_runner::results::schema::{self, PhaseTimes};
use admm_runner::results::{KappaTable, RunPaths, Status, Summary, TraceRow};
use std::path::{Path, PathBuf};
use std::process::Command;

const MANIFEST: &str = "
name: figs
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5}
problem: {patterns: 4}
solver: {name: cg, max_iters: 6, target_train_acc: 0.97}
sweep:
  solver: [cg, rbcd, adam]
  backend: [flex, cuda]
  seed: [0, 1]
plot: {x: iter, figures: [curves, runtime, train-loss, table], paper: true}
";

/// Iterations per hand-made trace.
const K: usize = 6;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A hand-made trace: dyadic times (exact in binary, so sums and means are exact), train
/// accuracy rising by `step` from `acc0`.
fn hand_trace(seed: u64, acc0: f64, step: f64) -> Trace {
    let mut t = Trace::default();
    for k in 1..=K {
        let kf = k as f64;
        let (pre, u, v, dual) = (
            0.5,
            0.125 * kf * (seed as f64 + 1.0),
            0.0625 * kf,
            0.03125 * kf,
        );
        t.iter.push(kf);
        t.precompute_s.push(pre);
        t.u_s.push(u);
        t.v_s.push(v);
        t.dual_s.push(dual);
        t.elapsed_s.push(pre + u + v + dual);
        t.train_acc.push((acc0 + step * (kf - 1.0)).min(1.0));
        t.train_loss.push(1.0 / (kf + seed as f64));
        t.test_acc.push(0.7 + 0.01 * kf);
        t.test_loss.push(0.5 + 0.2 / kf);
        // What a hand-made trace does not set is NaN, as Adam writes the ADMM-only columns.
        t.train_acc_u.push(f64::NAN);
        t.objective.push(f64::NAN);
        t.lower_bound.push(f64::NAN);
        t.rel_primal.push(f64::NAN);
    }
    t
}

fn write_trace(path: &Path, t: &Trace) {
    let rows: Vec<TraceRow> = (0..t.len())
        .map(|k| TraceRow {
            iter: t.iter[k] as i64,
            elapsed_s: t.elapsed_s[k],
            wall_s: t.elapsed_s[k],
            precompute_s: t.precompute_s[k],
            u_s: t.u_s[k],
            v_s: t.v_s[k],
            dual_s: t.dual_s[k],
            train_loss: t.train_loss[k],
            train_acc: t.train_acc[k],
            test_loss: t.test_loss[k],
            test_acc: t.test_acc[k],
            train_acc_u: t.train_acc_u[k],
            objective: t.objective[k],
            lower_bound: t.lower_bound[k],
            rel_primal: t.rel_primal[k],
            // What the hand-made trace does not have is NaN, as Adam writes the ADMM-only
            // quantities (residuals, rho, cone violation).
            train_acc_net: f64::NAN,
            primal_residual: f64::NAN,
            dual_residual: f64::NAN,
            eps_primal: f64::NAN,
            eps_dual: f64::NAN,
            cone_violation: f64::NAN,
            inner_rel_residual: f64::NAN,
            rho: f64::NAN,
            rel_gap: f64::NAN,
            rho_changes: 0,
            active_neurons: 0,
            inner_iters: 0,
        })
        .collect();
    schema::write_trace(path, &rows).unwrap();
}

fn write_summary(
    path: &Path,
    run: &PlannedRun,
    status: Status,
    reason: Option<&str>,
    t: Option<&Trace>,
) {
    let last = |v: &[f64]| v.last().copied();
    Summary {
        run_id: run.id.clone(),
        experiment: run.config.experiment.clone(),
        status,
        reason: reason.map(str::to_string),
        stop_reason: t.map(|_| "max_iters".to_string()),
        solver: run.config.solver.method.kind().to_string(),
        backend: run.config.backend.to_string(),
        seed: run.config.seed as i64,
        iterations: Some(t.map_or(0, |t| t.len()) as i64),
        times: PhaseTimes {
            precompute_s: t.and_then(|t| last(&t.precompute_s)),
            u_s: t.and_then(|t| last(&t.u_s)),
            v_s: t.and_then(|t| last(&t.v_s)),
            dual_s: t.and_then(|t| last(&t.dual_s)),
        },
        ..Default::default()
    }
    .write(path)
    .unwrap();
}

/// cg's trace: train accuracy of v 0.67, 0.77, ... (97% at iteration 4), of u 0.1 ahead (97%
/// at iteration 3); objective 1 + 10/k at nearly feasible iterates (so the lowest, 1 + 10/6,
/// is the reference, first reached at iteration 6), and a certified lower bound of 2.5.
fn cg_trace(seed: u64) -> Trace {
    let mut t = hand_trace(seed, 0.67, 0.1);
    for k in 0..K {
        t.train_acc_u[k] = (t.train_acc[k] + 0.1).min(1.0);
        t.objective[k] = 1.0 + 10.0 / (k + 1) as f64;
        t.rel_primal[k] = 1e-4;
        t.lower_bound[k] = 2.5;
    }
    t
}

/// rbcd's trace: never 97%; its last objective (2.0) is below cg's but at an infeasible
/// iterate (relative primal residual 1e-2), so it must not become the reference.
fn rbcd_trace(seed: u64) -> Trace {
    let mut t = hand_trace(seed, 0.70, 0.05);
    t.objective[K - 1] = 2.0;
    t.rel_primal[K - 1] = 1e-2;
    t
}

/// Writes results for every planned run: cuda runs failed without a trace; cg reaches 97% at
/// iteration 4, adam at epoch 5, rbcd never (it tops out at 0.95).
pub(crate) fn write_results(runs: &[PlannedRun], out: &Path) {
    for run in runs {
        let paths = RunPaths::new(out, &run.config.experiment, &run.id);
        if run.config.backend.to_string() == "cuda" {
            write_summary(
                &paths.summary,
                run,
                Status::Failed,
                Some("backend `cuda` unavailable: not compiled in"),
                None,
            );
            continue;
        }
        let seed = run.config.seed;
        let t = match run.config.solver.method.kind().to_string().as_str() {
            "cg" => cg_trace(seed),
            "adam" => hand_trace(seed, 0.57, 0.1),
            _ => rbcd_trace(seed),
        };
        write_trace(&paths.trace, &t);
        write_summary(&paths.summary, run, Status::Ok, None, Some(&t));
    }
}

/// (width, height) from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    ));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

struct Setup {
    _dir: tempfile::TempDir,
    manifest: PathBuf,
    opts: PlotOptions,
    runs: Vec<PlannedRun>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "figs.yaml", MANIFEST);
    let runs = plan(&manifest, &[]).unwrap();
    assert_eq!(runs.len(), 12);
    let opts = PlotOptions {
        results: dir.path().join("results"),
        plots: dir.path().join("plots"),
    };
    write_results(&runs, &opts.results);
    Setup {
        _dir: dir,
        manifest,
        opts,
        runs,
    }
}

#[test]
fn every_figure_and_table_renders_with_its_size() {
    let s = setup();
    let report = plots::plot_manifest(&s.manifest, &[], &s.opts).unwrap();
    let p = |name: &str| s.opts.plots.join(name);
    for (png, size) in [
        ("figs.png", (1800, 1400)),
        ("figs-runtime.png", (1500, 1000)),
        ("figs-train-loss.png", (1400, 950)),
    ] {
        assert!(report.files.contains(&p(png)), "{:?}", report.files);
        assert_eq!(png_size(&p(png)), size, "{png}");
        let svg = std::fs::read_to_string(p(&png.replace(".png", ".svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{png}");
        assert!(
            svg.contains("ADMM-CG") && svg.contains("Adam"),
            "{png}: legend"
        );
    }
    for ext in ["md", "csv", "tex"] {
        assert!(p(&format!("figs-table.{ext}")).is_file(), "{ext}");
    }
    // The failed cuda runs are reported, not silently dropped.
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("cuda") && w.contains("failed")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn condition_figure_renders_from_kappa_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "kap.yaml",
        "name: kap\ndata: {source: synthetic, n_train: 60, dim: 5}\nproblem: {patterns: 4}\nsolver: {name: nys-pcg}\nplot: {figures: [condition]}\n",
    );
    let opts = PlotOptions {
        results: dir.path().join("results"),
        plots: dir.path().join("plots"),
    };
    // Missing kappa.parquet: an error naming the command to run.
    let err = plots::plot_manifest(&m, &[], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("admm-runner condition") && err.contains("kap.yaml"),
        "{err}"
    );
    let ranks: Vec<f64> = (1..=20).map(f64::from).collect();
    let col = |f: &dyn Fn(f64) -> f64| ranks.iter().map(|&r| f(r)).collect();
    KappaTable {
        ranks: ranks.clone(),
        kappa_nys: col(&|r| 1e9 / r.powi(2)),
        kappa_a: col(&|_| 1.1e9),
        kappa_diag: col(&|_| 1.5e9),
        kappa_nys_ref: None,
    }
    .write(&opts.results.join("kap/kappa.parquet"))
    .unwrap();
    let report = plots::plot_manifest(&m, &[], &opts).unwrap();
    assert_eq!(png_size(&opts.plots.join("kap.png")), (1400, 1000));
    assert!(report.files.contains(&opts.plots.join("kap.svg")));
}

/// Parses the CSV table into header -> value maps (no quoted commas in the checked fields).
fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn table_numbers_are_the_times_in_the_parquet() {
    let s = setup();
    plots::plot_manifest(&s.manifest, &[], &s.opts).unwrap();
    let csv = std::fs::read_to_string(s.opts.plots.join("figs-table.csv")).unwrap();
    let rows = csv_rows(&csv);
    let ours = |solver: &str, backend: &str| {
        rows.iter()
            .find(|r| r["source"] == "ours" && r["solver"] == solver && r["backend"] == backend)
            .unwrap_or_else(|| panic!("no row {solver} {backend}:\n{csv}"))
    };
    for solver in ["cg", "adam"] {
        // The expected numbers, read back from the Parquet traces the runs wrote.
        let traces: Vec<Trace> = s
            .runs
            .iter()
            .filter(|r| {
                r.config.solver.method.kind().to_string() == solver
                    && r.config.backend.to_string() == "flex"
            })
            .map(|r| Trace::read(&RunPaths::new(&s.opts.results, "figs", &r.id).trace).unwrap())
            .collect();
        assert_eq!(traces.len(), 2);
        let hits: Vec<_> = traces
            .iter()
            .map(|t| time_to_target(t, 0.97).unwrap())
            .collect();
        let row = ours(solver, "flex");
        assert_eq!(row["status"], "reached");
        let num = |k: &str| row[k].parse::<f64>().unwrap_or_else(|e| panic!("{k}: {e}"));
        let mean = |f: &dyn Fn(&plots::TargetTime) -> f64| (f(&hits[0]) + f(&hits[1])) / 2.0;
        assert_eq!(num("total_s"), mean(&|h| h.total_s));
        assert_eq!(num("precompute_s"), mean(&|h| h.precompute_s));
        assert_eq!(num("u_s"), mean(&|h| h.u_s));
        assert_eq!(num("v_s"), mean(&|h| h.v_s));
        assert_eq!(num("dual_s"), mean(&|h| h.dual_s));
        // Test accuracy beside the time: the traces' own value at the crossing.
        assert_eq!(num("test_acc"), mean(&|h| h.test_acc));
        assert!(hits.iter().all(|h| h.test_acc.is_finite()));
        assert_eq!(num("iter"), if solver == "cg" { 4.0 } else { 5.0 });
        // And the split adds up to the total.
        assert_eq!(
            num("total_s"),
            num("precompute_s") + num("u_s") + num("v_s") + num("dual_s")
        );
    }
    // cg at iteration 4, seed 0: 0.5 + 0.5 + 0.25 + 0.125; seed 1: 0.5 + 1.0 + 0.25 + 0.125.
    assert_eq!(ours("cg", "flex")["total_s"], "1.625");
    // Never reached, and failed: shown as such, never as a number.
    let rbcd = ours("rbcd", "flex");
    assert_eq!(rbcd["status"], "not reached");
    assert_eq!(rbcd["total_s"], "");
    let cuda = ours("cg", "cuda");
    assert_eq!(cuda["status"], "failed");
    assert_eq!(cuda["total_s"], "");
    let md = std::fs::read_to_string(s.opts.plots.join("figs-table.md")).unwrap();
    assert!(
        md.contains("| ours | ADMM-RBCD | flex | – | **not reached** |"),
        "{md}"
    );
    assert!(md.contains("| ours | ADMM-CG | flex | 4 | 1.625 |"), "{md}");
    // The paper's rows, labelled as the paper's, with its numbers.
    assert!(
        md.contains("| paper | RBCD (paper) | CPU | – | 185.896 | 0.523 | 181.689 |"),
        "{md}"
    );
    assert!(
        md.contains("| paper | Adam (paper) | GPU | – | 55.129 | n/a |"),
        "{md}"
    );
    let tex = std::fs::read_to_string(s.opts.plots.join("figs-table.tex")).unwrap();
    assert!(
        tex.contains("\\textit{not reached}") && tex.contains("185.896"),
        "{tex}"
    );
    // The companion: time to 97% counted on u, to suboptimality against the reference (the
    // lowest objective at a nearly feasible iterate of any run of the same problem), to test 0.85.
    let elapsed = |seed: f64, k: f64| 0.5 + 0.125 * k * (seed + 1.0) + 0.0625 * k + 0.03125 * k;
    let cg = ours("cg", "flex");
    let num = |row: &std::collections::HashMap<String, String>, k: &str| {
        row[k]
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("{k}: {e} in {row:?}"))
    };
    assert_eq!(
        num(cg, "u_total_s"),
        (elapsed(0.0, 3.0) + elapsed(1.0, 3.0)) / 2.0
    );
    assert!(num(cg, "u_total_s") < num(cg, "total_s"));
    let at6 = (elapsed(0.0, 6.0) + elapsed(1.0, 6.0)) / 2.0;
    assert_eq!(num(cg, "subopt_1e-2_s"), at6);
    assert_eq!(num(cg, "subopt_1e-3_s"), at6);
    assert_eq!(num(cg, "reference_objective"), 1.0 + 10.0 / 6.0);
    assert_eq!(num(cg, "reference_lower_bound"), 2.5);
    assert_eq!(cg["test_085_s"], "", "test accuracy tops out at 0.76");
    // rbcd shares cg's problem and so its reference; its own objective never gets within 1e-2.
    assert_eq!(num(rbcd, "reference_objective"), 1.0 + 10.0 / 6.0);
    assert_eq!(rbcd["subopt_1e-2_s"], "");
    assert_eq!(rbcd["u_total_s"], "");
    assert!(md.contains("## Companion"), "{md}");
    // The in-memory rows agree with the file.
    let loaded = plots::data::load(&s.runs, &s.opts.results).unwrap();
    let r = table::rows(&s.runs, &loaded, false);
    assert_eq!(r.len(), 6);
    assert!(r.iter().all(|r| r.source == "ours"));
}

#[test]
fn time_to_target_on_a_hand_made_trace() {
    let mut t = hand_trace(0, 0.5, 0.2);
    // 0.5, 0.7, 0.9, 1.0, ... ; a NaN never counts.
    t.train_acc[1] = f64::NAN;
    let hit = time_to_target(&t, 0.9).unwrap();
    assert_eq!(hit.iter, 3.0);
    assert_eq!(hit.precompute_s, 0.5);
    assert_eq!(hit.u_s, 0.375);
    assert_eq!(hit.v_s, 0.1875);
    assert_eq!(hit.dual_s, 0.09375);
    assert_eq!(hit.total_s, 0.5 + 0.375 + 0.1875 + 0.09375);
    // Exactly at the target counts (>=); the first crossing wins, not a later one.
    assert_eq!(time_to_target(&t, 0.5).unwrap().iter, 1.0);
    assert_eq!(time_to_target(&t, 1.0).unwrap().iter, 4.0);
    assert!(time_to_target(&t, 1.01).is_none());
    assert!(time_to_target(&Trace::default(), 0.5).is_none());
}

#[test]
fn missing_results_name_the_manifest_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "figs.yaml", MANIFEST);
    let opts = PlotOptions {
        results: dir.path().join("results"),
        plots: dir.path().join("plots"),
    };
    let err = plots::plot_manifest(&m, &[], &opts).unwrap_err();
    assert!(matches!(err, PlotError::Missing { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("admm-runner run") && text.contains("figs.yaml"),
        "{text}"
    );
    assert!(!opts.plots.join("figs.png").exists(), "nothing drawn");

    // Only failed runs without traces: an error, never an empty figure.
    let runs = plan(&m, &[]).unwrap();
    for r in &runs {
        let paths = RunPaths::new(&opts.results, "figs", &r.id);
        write_summary(&paths.summary, r, Status::Failed, Some("boom"), None);
    }
    let text = plots::plot_manifest(&m, &[], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("nothing to draw") && text.contains("boom"),
        "{text}"
    );
    assert!(!opts.plots.join("figs.png").exists(), "nothing drawn");

    // Through the binary: exit status 2 and the message.
    let o = Command::new(env!("CARGO_BIN_EXE_admm-runner"))
        .args(["plot", m.to_str().unwrap(), "--results"])
        .arg(dir.path().join("elsewhere"))
        .arg("--plots")
        .arg(&opts.plots)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("admm-runner run") && err.contains("figs.yaml"),
        "{err}"
    );
}

#[test]
fn partial_results_draw_with_a_warning() {
    let s = setup();
    // Remove one run's summary: it is missing, the rest is drawn.
    let gone = &s.runs[0];
    std::fs::remove_file(RunPaths::new(&s.opts.results, "figs", &gone.id).summary).unwrap();
    let report = plots::plot_manifest(&s.manifest, &[], &s.opts).unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("1 of 12 runs have no results") && w.contains(&gone.id)),
        "{:?}",
        report.warnings
    );
    assert!(s.opts.plots.join("figs.png").is_file());
}

#[test]
fn plot_section_is_strict_and_leaves_run_ids_alone() {
    let dir = tempfile::tempdir().unwrap();
    let without = MANIFEST.replace(
        "plot: {x: iter, figures: [curves, runtime, train-loss, table], paper: true}\n",
        "",
    );
    let a = plan(&write(dir.path(), "a.yaml", MANIFEST), &[]).unwrap();
    let b = plan(&write(dir.path(), "b.yaml", &without), &[]).unwrap();
    let ids = |v: &[PlannedRun]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    let bad = write(
        dir.path(),
        "c.yaml",
        &MANIFEST.replace("x: iter", "x: epochs"),
    );
    let err = plan(&bad, &[]).unwrap_err().to_string();
    assert!(err.contains("c.yaml") && err.contains("plot.x"), "{err}");
    let bad = write(
        dir.path(),
        "d.yaml",
        &MANIFEST.replace("paper: true", "colour: red"),
    );
    let err = plan(&bad, &[]).unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
}

/// `make figures QUICK=1` runs scripts/figures.sh; here on a clean copy of the manifests (no
/// results, no plots), with the test build's binary.
#[test]
fn make_figures_quick_works_from_a_clean_checkout() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or(root, PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    for e in std::fs::read_dir(root.join("experiments")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(
            &p,
            dir.path().join("experiments").join(p.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::copy(
        root.join("scripts/figures.sh"),
        dir.path().join("scripts/figures.sh"),
    )
    .unwrap();
    let o = Command::new("bash")
        .arg("scripts/figures.sh")
        .current_dir(dir.path())
        .env("RUNNER", env!("CARGO_BIN_EXE_admm-runner"))
        .env("QUICK", "1")
        .env_remove("CIFAR10_DIR")
        .output()
        .unwrap();
    let text = crate::common::text(&o);
    assert!(o.status.success(), "{text}");
    let plots = dir.path().join("plots");
    for (png, size) in [
        ("fig1-quick.png", (1800, 1400)),
        ("fig2-quick.png", (1400, 1000)),
        ("fig3-quick.png", (1800, 1400)),
        ("fig3-quick-runtime.png", (1500, 1000)),
        ("fig4-quick.png", (1400, 950)),
    ] {
        assert_eq!(png_size(&plots.join(png)), size, "{png}\n{text}");
        assert!(plots.join(png.replace(".png", ".svg")).is_file(), "{png}");
    }
    for ext in ["md", "csv", "tex"] {
        assert!(
            plots.join(format!("table1-quick.{ext}")).is_file(),
            "{ext}\n{text}"
        );
    }
    // Rerunning skips every finished run.
    let o = Command::new("bash")
        .arg("scripts/figures.sh")
        .current_dir(dir.path())
        .env("RUNNER", env!("CARGO_BIN_EXE_admm-runner"))
        .env("QUICK", "1")
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(again.contains("0 ok, 0 failed, 12 skipped"), "{again}");
}

/// `plot.reference` names a manifest of long solves of the same problems: its lowest nearly
/// feasible objective becomes the companion table's reference, and without its results the
/// plot warns and the columns stay empty.
#[test]
fn a_reference_manifest_gives_the_suboptimality_reference() {
    let s = setup();
    let dir = s.manifest.parent().unwrap();
    let with_ref = MANIFEST.replace("paper: true}", "paper: true, reference: long.yaml}");
    let manifest = write(dir, "figs.yaml", &with_ref);
    let long = "
name: figs-long
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5}
problem: {patterns: 4}
solver: {name: bj-pcg, max_iters: 6}
sweep:
  seed: [0, 1]
";
    write(dir, "long.yaml", long);
    // Without the reference's results: a warning, and no reference.
    let report = plots::plot_manifest(&manifest, &[], &s.opts).unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("long.yaml has no results")),
        "{:?}",
        report.warnings
    );
    // The long runs reach 2.5 at nearly feasible iterates (below cg's 1 + 10/6).
    for run in plan(&dir.join("long.yaml"), &[]).unwrap() {
        let paths = RunPaths::new(&s.opts.results, &run.config.experiment, &run.id);
        let mut t = hand_trace(run.config.seed, 0.5, 0.01);
        for k in 0..K {
            t.objective[k] = 2.5 + 1.0 / (k + 1) as f64 - 1.0 / K as f64;
            t.rel_primal[k] = 1e-5;
        }
        write_trace(&paths.trace, &t);
        write_summary(&paths.summary, &run, Status::Ok, None, Some(&t));
    }
    plots::plot_manifest(&manifest, &[], &s.opts).unwrap();
    let csv = std::fs::read_to_string(s.opts.plots.join("figs-table.csv")).unwrap();
    let rows = csv_rows(&csv);
    let cg = rows
        .iter()
        .find(|r| r["source"] == "ours" && r["solver"] == "cg" && r["backend"] == "flex")
        .unwrap();
    assert_eq!(cg["reference_objective"].parse::<f64>().unwrap(), 2.5);
    // cg's best, 1 + 10/6, is 6.7% above it: within neither 1e-2 nor 1e-3.
    assert_eq!(cg["subopt_1e-2_s"], "");
    assert_eq!(cg["subopt_1e-3_s"], "");
}

/// `plot --all` draws every manifest that has results and skips, with a note, the ones never
/// run; only when none has results is it an error (exit 2, each manifest named).
#[test]
fn plot_all_skips_manifests_not_run_yet() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("experiments");
    std::fs::create_dir_all(&exp).unwrap();
    let figs = write(&exp, "figs.yaml", MANIFEST);
    write(
        &exp,
        "other.yaml",
        &MANIFEST.replace("name: figs", "name: other"),
    );
    let results = dir.path().join("results");
    let plots_dir = dir.path().join("plots");
    let plot_all = || {
        Command::new(env!("CARGO_BIN_EXE_admm-runner"))
            .args(["plot", "--all", "--results"])
            .arg(&results)
            .arg("--plots")
            .arg(&plots_dir)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };

    let o = plot_all();
    assert_eq!(o.status.code(), Some(2), "{}", crate::common::text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("figs.yaml") && err.contains("other.yaml") && err.contains("admm-runner run"),
        "{err}"
    );

    write_results(&plan(&figs, &[]).unwrap(), &results);
    let o = plot_all();
    let text = crate::common::text(&o);
    assert!(o.status.success(), "{text}");
    assert!(plots_dir.join("figs.png").is_file(), "{text}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("skipped (not run yet)") && err.contains("other.yaml"),
        "{err}"
    );
    assert!(!plots_dir.join("other.png").exists());
}
