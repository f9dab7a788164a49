//! The memory estimate: runs too large for the machine are refused as failed runs naming the
//! estimate and the memory available, and the sweep goes on; the estimate tracks the measured
//! peak.

use crate::common::{admm_runner, text, write_manifest};
use admm_runner::manifest;
use admm_runner::results::{RunPaths, Summary};
use admm_runner::run::memory::LIMIT_VAR;

const SMALL: &str = "
name: mem
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 5}
";

fn summaries(m: &std::path::Path, out: &std::path::Path) -> Vec<Summary> {
    manifest::plan(m, &[])
        .unwrap()
        .iter()
        .map(|r| Summary::read(&RunPaths::new(out, "mem", &r.id).summary).unwrap())
        .collect()
}

#[test]
fn a_run_too_large_for_the_machine_is_refused_and_the_sweep_goes_on() {
    for axis in [
        "data.n_train: [1000000000000, 60]",
        "problem.patterns: [1000000000, 4]",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let m = write_manifest(dir.path(), &format!("{SMALL}sweep:\n  {axis}\n"));
        let out = dir.path().join("res");
        let o = admm_runner()
            .env_remove(LIMIT_VAR)
            .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{axis}: {}", text(&o));
        let s = summaries(&m, &out);
        let reason = s[0].reason.clone().unwrap_or_default();
        assert!(!s[0].ok(), "{axis}");
        assert!(
            reason.contains("too large for this machine") && reason.contains("is available"),
            "{axis}: {reason}"
        );
        assert!(
            s[0].mem_estimate_bytes.unwrap() > 1 << 40,
            "{axis}: {:?}",
            s[0]
        );
        assert!(
            s[1].ok(),
            "{axis}: the next run still runs: {:?}",
            s[1].reason
        );
    }
}

#[test]
fn the_memory_limit_can_be_set_and_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let out = dir.path().join("res");
    let run = |limit: &str| {
        admm_runner()
            .env(LIMIT_VAR, limit)
            .args([
                "run",
                m.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--force",
            ])
            .output()
            .unwrap()
    };
    let o = run("1M");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reason = summaries(&m, &out)[0].reason.clone().unwrap_or_default();
    assert!(reason.contains(&format!("{LIMIT_VAR}=1M")), "{reason}");
    let o = run("off");
    assert!(o.status.success(), "{}", text(&o));
    // A forced rerun that fails keeps the earlier finished result (issue 29) and says why.
    let o = run("lots");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("expected bytes"), "{}", text(&o));
    assert!(
        text(&o).contains("earlier finished result is kept"),
        "{}",
        text(&o)
    );
    assert!(summaries(&m, &out)[0].ok());
}

/// Each solver in a fresh process at a size where the data and the solver's buffers, not the
/// process itself, dominate: the estimate is within 2x of the peak RSS the run recorded.
#[test]
fn the_estimate_is_within_2x_of_the_measured_peak_for_every_solver() {
    let dir = tempfile::tempdir().unwrap();
    for solver in [
        "exact", "cg", "diag-pcg", "nys-pcg", "bj-pcg", "rbcd", "adam",
    ] {
        let body = format!(
            "name: mem
data: {{source: synthetic, n_train: 20000, n_test: 2000, dim: 600, teacher_width: 3}}
problem: {{patterns: {p}, beta: 0.01}}
solver: {{name: {solver}, max_iters: 2, nys: {{rank: 50}}, exact: {{max_dim: 2500}}}}
",
            p = if solver == "exact" { 2 } else { 20 },
        );
        let m = write_manifest(dir.path(), &body);
        let out = dir.path().join(solver);
        let o = admm_runner()
            .env_remove(LIMIT_VAR)
            .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{solver}: {}", text(&o));
        let s = &summaries(&m, &out)[0];
        let est = s.mem_estimate_bytes.unwrap() as f64;
        let peak = s.peak_host_rss_bytes.unwrap() as f64;
        let ratio = est / peak;
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{solver}: estimate {est:.3e} vs peak {peak:.3e} (ratio {ratio:.2})"
        );
    }
}

#[test]
fn plan_memory_prints_the_available_memory_and_each_runs_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), &format!("{SMALL}sweep:\n  seed: [0, 1]\n"));
    let o = admm_runner()
        .env(LIMIT_VAR, "2G")
        .args(["plan", m.to_str().unwrap(), "--memory"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("available memory: 2.0 GiB ({LIMIT_VAR}=2G)")),
        "{out}"
    );
    assert_eq!(out.matches("estimated memory: ").count(), 2, "{out}");
    assert!(out.contains("process 80.0 MiB"), "{out}");
}
