//! Provenance in every summary (issue 30, item 4): the commit the binary was built from (not
//! the current directory's repository), the command line and the overrides.

use crate::common::{admm_runner, repo_root, text, write_manifest};
use admm_runner::results::Summary;

const ONE: &str = "
name: prov
data: {source: synthetic, n_train: 30, n_test: 10, dim: 3}
problem: {patterns: 2}
solver: {name: cg, max_iters: 2}
";

#[test]
fn a_summary_records_the_binarys_commit_the_command_and_the_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), ONE);
    let out = dir.path().join("res");
    // Run from a folder that is no git repository: the commit must still be the binary's.
    let o = admm_runner()
        .current_dir(dir.path())
        .env("ADMM_SET_SOLVER__ADMM__RHO", "0.5")
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--set", "problem.beta=0.01"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // The one summary (its id depends on the environment's rho, which this process lacks).
    let summaries: Vec<_> = std::fs::read_dir(out.join("prov/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let s = Summary::read(&summaries[0]).unwrap();
    // The commit embedded in this build (the test binary shares the binary's build script),
    // which is a commit of this repository, although the run started outside any repository.
    let built = env!("ADMM_RUNNER_GIT_COMMIT");
    assert_eq!(s.git_commit, built);
    let known = std::process::Command::new("git")
        .arg("-C")
        .arg(repo_root())
        .args(["cat-file", "-e", &format!("{built}^{{commit}}")])
        .status()
        .unwrap();
    assert!(built.len() == 40 && known.success(), "{built}");
    assert!(
        s.command.contains(" run ") && s.command.contains("--set problem.beta=0.01"),
        "{}",
        s.command
    );
    let overrides: Vec<String> = serde_json::from_str(&s.overrides).unwrap();
    assert_eq!(
        overrides,
        ["problem.beta=0.01", "ADMM_SET_SOLVER__ADMM__RHO=0.5"]
    );
}
