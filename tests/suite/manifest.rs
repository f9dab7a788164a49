//! Manifest loading, sweep expansion, overrides, strict errors, YAML/TOML equivalence.

use admm_runner::manifest::{parse_overrides, plan, BackendKind, Method, SolverKind};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    crate::common::repo_root()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const BASE: &str = "
name: t
data: {source: synthetic, n_train: 50, n_test: 10, dim: 4}
problem: {patterns: 3}
solver: {name: cg}
";

#[test]
fn sweep_axes_expand_as_a_cartesian_product() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "m.yaml",
        &format!(
            "{BASE}sweep:\n  solver: [exact, cg]\n  seed: [0, 1, 2]\n  data.n_train: [20, 40]\n"
        ),
    );
    let runs = plan(&p, &[]).unwrap();
    assert_eq!(runs.len(), 12);
    let exact = runs
        .iter()
        .filter(|r| r.config.solver.method.kind() == SolverKind::Exact)
        .count();
    assert_eq!(exact, 6);
    assert!(runs
        .iter()
        .any(|r| r.config.data.n_train == 40 && r.config.seed == 2));
    // Ids are unique and stable across two loads.
    let again = plan(&p, &[]).unwrap();
    let ids: Vec<_> = runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, again.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    let mut uniq = ids.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), ids.len());
}

#[test]
fn variants_cross_with_axes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "m.yaml",
        &format!(
            "{BASE}variants:\n  - {{solver: exact}}\n  - {{solver: cg, solver.cg.max_iters: 5}}\nsweep:\n  seed: [0, 1]\n"
        ),
    );
    let runs = plan(&p, &[]).unwrap();
    assert_eq!(runs.len(), 4);
    let cg: Vec<_> = runs
        .iter()
        .filter(|r| r.config.solver.method.kind() == SolverKind::Cg)
        .collect();
    assert_eq!(cg.len(), 2);
    assert!(cg.iter().all(|r| matches!(
        r.config.solver.method,
        Method::Cg { cg, .. } if cg.max_iters == 5
    )));
}

#[test]
fn set_overrides_win_and_can_change_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "m.yaml",
        &format!("{BASE}sweep:\n  seed: [0, 1, 2]\n"),
    );
    let ov = parse_overrides(&[
        "solver.admm.rho=0.5".to_string(),
        "sweep.seed=[7]".to_string(),
        "backend=ndarray".to_string(),
        "solver.cg.tol=1e-4".to_string(),
    ])
    .unwrap();
    let runs = plan(&p, &ov).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].config.seed, 7);
    let Method::Cg { admm, cg } = runs[0].config.solver.method else {
        panic!("{:?}", runs[0].config.solver.method)
    };
    assert_eq!(admm.rho, 0.5);
    assert_eq!(runs[0].config.backend, BackendKind::Ndarray);
    assert_eq!(cg.tol, 1e-4, "exponent notation is a number");
    assert!(runs[0].id.starts_with("cg-ndarray-s7-"));
    assert!(parse_overrides(&["novalue".to_string()]).is_err());
}

#[test]
fn unknown_key_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bad.yaml",
        &BASE.replace("solver: {name: cg}", "solver: {name: cg, rhoo: 1}"),
    );
    let msg = plan(&p, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("bad.yaml") && msg.contains("solver") && msg.contains("rhoo"),
        "{msg}"
    );
}

#[test]
fn wrong_type_names_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.toml", "[data]\nsource = \"synthetic\"\nn_train = \"many\"\n[problem]\npatterns = 3\n[solver]\nname = \"cg\"\n");
    let msg = plan(&p, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("bad.toml") && msg.contains("data.n_train") && msg.contains("string"),
        "{msg}"
    );
}

#[test]
fn unknown_solver_and_bad_range_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "m.yaml",
        &BASE.replace("name: cg", "name: magic"),
    );
    let msg = plan(&p, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("solver.name") && msg.contains("magic"),
        "{msg}"
    );
    let p = write(
        dir.path(),
        "m2.yaml",
        &BASE.replace("{name: cg}", "{name: cg, admm: {rho: -1}}"),
    );
    let msg = plan(&p, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("m2.yaml") && msg.contains("solver.admm.rho"),
        "{msg}"
    );
    let msg = plan(&dir.path().join("missing.yaml"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("missing.yaml") && msg.contains("no such file"),
        "{msg}"
    );
}

#[test]
fn yaml_and_toml_give_identical_plans() {
    let yaml = plan(&root().join("experiments/fig1.yaml"), &[]).unwrap();
    let toml = plan(&root().join("tests/fixtures/fig1.toml"), &[]).unwrap();
    assert_eq!(yaml.len(), 18);
    let strip = |runs: &[admm_runner::manifest::PlannedRun]| {
        runs.iter()
            .map(|r| (r.id.clone(), r.config.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&yaml), strip(&toml));
}

#[test]
fn environment_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.yaml", BASE);
    // figment's Jail is not used: the variable name is unique to this test.
    std::env::set_var("ADMM_SET_PROBLEM__BETA", "0.125");
    let runs = plan(&p, &[]);
    std::env::remove_var("ADMM_SET_PROBLEM__BETA");
    assert_eq!(runs.unwrap()[0].config.problem.beta, 0.125);
}

#[test]
fn every_shipped_manifest_plans() {
    for entry in std::fs::read_dir(root().join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        let runs = plan(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!runs.is_empty(), "{}", path.display());
    }
}

#[test]
fn shard_and_only_select_runs() {
    use admm_runner::run::shard::{parse_shard, select};
    let runs = plan(&root().join("experiments/fig1.yaml"), &[]).unwrap();
    let a = select(runs.clone(), &[], Some((0, 4)));
    let b = select(runs.clone(), &[], Some((1, 4)));
    assert_eq!(
        a.len()
            + b.len()
            + select(runs.clone(), &[], Some((2, 4))).len()
            + select(runs.clone(), &[], Some((3, 4))).len(),
        runs.len()
    );
    assert!(a.iter().all(|r| !b.contains(r)));
    let only = select(runs.clone(), &["solver=exact".to_string()], None);
    assert_eq!(only.len(), 3);
    assert_eq!(parse_shard("1/3", |_| None).unwrap(), (1, 3));
    assert!(parse_shard("3/3", |_| None).is_err());
    let env = |k: &str| match k {
        "SLURM_ARRAY_TASK_ID" => Some("2".to_string()),
        "SLURM_ARRAY_TASK_COUNT" => Some("5".to_string()),
        _ => None,
    };
    assert_eq!(parse_shard("slurm", env).unwrap(), (2, 5));
    let msg = parse_shard("slurm", |_| None).unwrap_err().to_string();
    assert!(msg.contains("SLURM_ARRAY_TASK_ID"), "{msg}");
}

fn plan_error(dir: &Path, file: &str, text: &str) -> String {
    let p = write(dir, file, text);
    plan(&p, &[]).unwrap_err().to_string()
}

#[test]
fn an_unsafe_experiment_name_is_rejected_naming_the_allowed_characters() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "../../x", "/tmp/abs", "\"\"", ".", "..", ".hidden", "a/b", "a b",
    ] {
        let text = BASE.replace("name: t", &format!("name: {name}"));
        let err = plan_error(dir.path(), "m.yaml", &text);
        assert!(
            err.contains("m.yaml") && err.contains("name") && err.contains("A-Z a-z 0-9 . _ -"),
            "{name}: {err}"
        );
    }
    for ok in ["fig1", "table1-mid", "a.b_c-1"] {
        let p = write(
            dir.path(),
            "m.yaml",
            &BASE.replace("name: t", &format!("name: {ok}")),
        );
        assert_eq!(plan(&p, &[]).unwrap()[0].config.experiment, ok);
    }
}

#[test]
fn an_unsafe_file_stem_is_rejected_when_no_name_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE.replace("name: t\n", "");
    let err = plan_error(dir.path(), "my exp.yaml", &text);
    assert!(
        err.contains("my exp.yaml") && err.contains("set `name:`"),
        "{err}"
    );
    let p = write(dir.path(), "fine.yaml", &text);
    assert_eq!(plan(&p, &[]).unwrap()[0].config.experiment, "fine");
}

#[test]
fn zero_features_are_rejected_at_plan_time() {
    let dir = tempfile::tempdir().unwrap();
    let err = plan_error(dir.path(), "m.yaml", &BASE.replace("dim: 4", "dim: 0"));
    assert!(err.contains("data.dim") && err.contains("m.yaml"), "{err}");
    let err = plan_error(
        dir.path(),
        "m.yaml",
        &BASE.replace("dim: 4", "dim: 4, downsample: 0"),
    );
    assert!(err.contains("data.downsample"), "{err}");
}

#[test]
fn classes_out_of_range_or_equal_are_rejected_at_plan_time() {
    let dir = tempfile::tempdir().unwrap();
    for classes in ["[3, 12]", "[4, 4]"] {
        let text = BASE.replace("dim: 4", &format!("dim: 4, classes: {classes}"));
        let err = plan_error(dir.path(), "m.yaml", &text);
        assert!(
            err.contains("data.classes") && err.contains("m.yaml"),
            "{err}"
        );
    }
}

#[test]
fn duplicate_yaml_keys_are_rejected_naming_the_key_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name: t\ndata: {source: synthetic, n_train: 50, dim: 4}\nproblem:\n  \
                patterns: 3\n  beta: 0.1\n  patterns: 5\nsolver: {name: cg}\n";
    let err = plan_error(dir.path(), "m.yaml", text);
    assert!(
        err.contains("m.yaml") && err.contains("problem.patterns") && err.contains("lines 4 and 6"),
        "{err}"
    );
    let err = plan_error(
        dir.path(),
        "m.yaml",
        &BASE.replace("solver: {name: cg}", "solver: {name: cg, name: exact}"),
    );
    assert!(err.contains("solver.name"), "{err}");
}

#[test]
fn a_directory_given_as_manifest_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = plan(dir.path(), &[]).unwrap_err().to_string();
    assert!(
        err.contains("is a directory") && !err.contains("no such file"),
        "{err}"
    );
}
