//! Figures never mix settings (issue 30, item 1): curve lines are grouped by every key the runs
//! vary but the seed (or `plot.group_by`), each labelled with its setting, averaged over seeds
//! only; a `group_by` that would average over a varied key is refused.

use crate::plots::write_results;
use admm_runner::manifest::plan;
use admm_runner::plots::{self, PlotError, PlotOptions};

/// rho x beta, two seeds each: four settings, so four lines of two seeds.
const GRID: &str = "
name: grid
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5}
problem: {patterns: 4}
solver: {name: cg, max_iters: 6}
sweep:
  solver.admm.rho: [0.1, 1]
  problem.beta: [0.001, 0.01]
  seed: [0, 1]
plot: {figures: [curves]}
";

fn render(body: &str) -> (tempfile::TempDir, Result<String, PlotError>) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("grid.yaml");
    std::fs::write(&m, body).unwrap();
    let opts = PlotOptions {
        results: dir.path().join("results"),
        plots: dir.path().join("plots"),
    };
    write_results(&plan(&m, &[]).unwrap(), &opts.results);
    let svg = plots::plot_manifest(&m, &[], &opts)
        .map(|_| std::fs::read_to_string(opts.plots.join("grid.svg")).unwrap());
    (dir, svg)
}

#[test]
fn lines_are_split_by_every_varied_setting_and_averaged_over_seeds_only() {
    let (_dir, svg) = render(GRID);
    let svg = svg.unwrap();
    for label in [
        "ADMM-CG, beta=0.001, rho=0.1",
        "ADMM-CG, beta=0.01, rho=0.1",
        "ADMM-CG, beta=0.001, rho=1",
        "ADMM-CG, beta=0.01, rho=1",
    ] {
        assert!(svg.contains(label), "no line {label:?}");
    }
    assert!(
        svg.contains("mean over 2 seeds"),
        "the subtitle counts seeds per line"
    );
    assert!(!svg.contains("mean over 8 seeds"));
    // One seed: one run per line, never a mean over settings.
    let (_dir, one) = render(&GRID.replace("seed: [0, 1]", "seed: [0]"));
    let one = one.unwrap();
    assert!(one.contains("one seed per line") && !one.contains("mean over"));
}

#[test]
fn group_by_names_the_line_keys_and_cannot_average_over_a_varied_one() {
    let by = GRID.replace(
        "plot: {figures: [curves]}",
        "plot: {figures: [curves], group_by: [solver.admm.rho]}",
    );
    let (_dir, err) = render(&by);
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.contains("plot.group_by") && msg.contains("problem.beta"),
        "{msg}"
    );
    let both = GRID.replace(
        "plot: {figures: [curves]}",
        "plot: {figures: [curves], group_by: [solver.admm.rho, problem.beta]}",
    );
    let (_dir, svg) = render(&both);
    assert!(svg.unwrap().contains("ADMM-CG, rho=0.1, beta=0.01"));
    let typo = GRID.replace(
        "plot: {figures: [curves]}",
        "plot: {figures: [curves], group_by: [solver.admm.rhoo, problem.beta]}",
    );
    let (_dir, err) = render(&typo);
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.contains("`solver.admm.rhoo` is no resolved key"),
        "{msg}"
    );
}
