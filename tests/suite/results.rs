//! Parquet round trips and the atomic writer.

use admm_runner::results::{self, column_f64, column_str, write_summary, Cell};

#[test]
fn summary_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/a.parquet");
    write_summary(
        &path,
        vec![
            ("status".into(), Cell::Str(Some("ok".into()))),
            ("objective".into(), Cell::F64(Some(1.5))),
            ("target_s".into(), Cell::F64(None)),
            ("iterations".into(), Cell::I64(Some(7))),
        ],
    )
    .unwrap();
    let df = results::read(&path).unwrap();
    assert_eq!(df.height(), 1);
    assert_eq!(
        column_str(&df, "status").unwrap(),
        vec![Some("ok".to_string())]
    );
    assert_eq!(column_f64(&df, "objective").unwrap(), vec![Some(1.5)]);
    assert_eq!(column_f64(&df, "target_s").unwrap(), vec![None]);
    assert_eq!(column_f64(&df, "iterations").unwrap(), vec![Some(7.0)]);
}

#[test]
fn a_failed_write_leaves_no_file_and_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    // The target is an existing non-empty directory: the final rename must fail.
    let target = dir.path().join("runs/x.parquet");
    std::fs::create_dir_all(target.join("blocker")).unwrap();
    let err = write_summary(&target, vec![("a".into(), Cell::F64(Some(1.0)))]);
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
fn stale_temp_files_are_cleaned_but_results_kept() {
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("a.parquet");
    write_summary(&done, vec![("a".into(), Cell::F64(Some(1.0)))]).unwrap();
    let stale = dir.path().join(".b.parquet.tmp-999");
    std::fs::write(&stale, b"partial").unwrap();
    results::clean_stale_temp(dir.path());
    assert!(done.is_file());
    assert!(!stale.exists());
}
