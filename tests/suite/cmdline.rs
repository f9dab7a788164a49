//! Sweeps and messages from the command line (issue 30, item 8): `--sweep KEY=a,b,c` and
//! `--set sweep.KEY=[...]` add an axis, `1e3` is an integer where one is meant, and a `--set`
//! typo gets a suggestion without being blamed on the manifest.

use crate::common::{admm_runner, text, write_manifest};
use std::process::Output;

const ONE: &str = "
name: cmd
data: {source: synthetic, n_train: 40, n_test: 10, dim: 4}
problem: {patterns: 3}
solver: {name: cg, max_iters: 2}
";

fn plan(m: &std::path::Path, extra: &[&str]) -> Output {
    admm_runner()
        .arg("plan")
        .arg(m)
        .args(extra)
        .output()
        .unwrap()
}

fn ids(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", text(o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn sweep_adds_an_axis_and_its_points_are_the_runs_set_would_give() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), ONE);
    let swept = ids(&plan(
        &m,
        &["--sweep", "solver.admm.rho=0.1,1", "--sweep", "seed=0,1"],
    ));
    assert_eq!(swept.len(), 4, "{swept:?}");
    let same = ids(&plan(
        &m,
        &[
            "--set",
            "sweep.solver.admm.rho=[0.1,1]",
            "--set",
            "sweep.seed=[0,1]",
        ],
    ));
    assert_eq!(same, swept);
    // Each point is the run that --set gives: the ids do not depend on how a value came.
    let one = ids(&plan(
        &m,
        &["--set", "solver.admm.rho=0.1", "--set", "seed=1"],
    ));
    assert!(swept.contains(&one[0]), "{one:?} in {swept:?}");
    let o = plan(&m, &["--sweep", "solver.admm.rho"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--sweep solver.admm.rho: expected KEY=a,b,c"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_exact_exponent_is_an_integer_and_a_set_typo_is_not_blamed_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), ONE);
    let e = ids(&plan(&m, &["--set", "data.n_train=1e3"]));
    let plain = ids(&plan(&m, &["--set", "data.n_train=1000"]));
    assert_eq!(e, plain);
    let o = plan(&m, &["--set", "data.n_train=1.5e0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = plan(&m, &["--set", "solver.admm.rhoo=1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("(a --set or sweep value)") && msg.contains("did you mean `rho`?"),
        "{msg}"
    );
}
