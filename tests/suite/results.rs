//! Parquet round trips and the atomic writer.

use admm_runner::results::schema::{FinalMetrics, TargetCrossing};
use admm_runner::results::{self, column_f64, column_str, Status, Summary, Values};

#[test]
fn summary_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/a.parquet");
    let summary = Summary {
        status: Status::Ok,
        last: FinalMetrics {
            objective: Some(1.5),
            ..Default::default()
        },
        target: TargetCrossing {
            total_s: None,
            ..Default::default()
        },
        iterations: Some(7),
        ..Default::default()
    };
    summary.write(&path).unwrap();
    let df = results::read(&path, &results::ReadLimits::SUMMARY).unwrap();
    assert_eq!(df.height(), 1);
    assert_eq!(
        column_str(&df, "status").unwrap(),
        vec![Some("ok".to_string())]
    );
    assert_eq!(column_f64(&df, "objective").unwrap(), vec![Some(1.5)]);
    assert_eq!(column_f64(&df, "target_s").unwrap(), vec![None]);
    assert_eq!(column_f64(&df, "iterations").unwrap(), vec![Some(7.0)]);
    // And the typed reader gives the same summary back.
    assert_eq!(Summary::read(&path).unwrap(), summary);
}

#[test]
fn a_failed_write_leaves_no_file_and_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    // The target is an existing non-empty directory: the final rename must fail.
    let target = dir.path().join("runs/x.parquet");
    std::fs::create_dir_all(target.join("blocker")).unwrap();
    let err = Summary::default().write(&target);
    assert!(err.is_err());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers,
        vec!["x.parquet".to_string()],
        "only the blocking directory remains"
    );
}

#[test]
fn a_partial_summary_reads_with_missing_columns_as_none() {
    // Hand-made or older summaries lack columns: those read back as None; no `status` is an
    // error naming the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/p.parquet");
    let s = |x: &str| Values::Str(vec![Some(x.to_string())]);
    results::write_columns(
        &path,
        vec![
            ("status".into(), s("ok")),
            ("solver".into(), s("cg")),
            ("iterations".into(), Values::I64(vec![Some(3)])),
            ("u_s".into(), Values::F64(vec![Some(0.25)])),
        ],
    )
    .unwrap();
    let summary = Summary::read(&path).unwrap();
    assert!(summary.ok());
    assert_eq!(summary.solver, "cg");
    assert_eq!(summary.iterations, Some(3));
    assert_eq!(summary.times.u_s, Some(0.25));
    assert_eq!(summary.times.precompute_s, None);
    assert_eq!(summary.last.objective, None);
    assert_eq!(summary.target.total_s, None);
    assert_eq!(summary.reason, None);

    let bare = dir.path().join("runs/q.parquet");
    results::write_columns(&bare, vec![("solver".into(), s("cg"))]).unwrap();
    let msg = Summary::read(&bare).unwrap_err().to_string();
    assert!(msg.contains("q.parquet") && msg.contains("status"), "{msg}");
}
