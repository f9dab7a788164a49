//! Issue 29, class 5, the Parquet part: a small file in an output folder that claims (or
//! decompresses to) far more than the runner ever writes is refused from its footer, naming
//! the file and the limit, by every reader (`show`, `plot`, the resume check), and a footer
//! whose lists claim billions of elements is an error instead of an aborted process.

use crate::common::{admm_runner, first_planned_id, text, write_manifest};
use admm_runner::results::{self, schema, ReadLimits, RunPaths, Summary, Values, MAX_TRACE_ROWS};
use std::path::{Path, PathBuf};

const SMALL: &str = "
name: small
data: {source: synthetic, n_train: 60, n_test: 30, dim: 5, teacher_width: 3}
problem: {patterns: 4, beta: 0.01}
solver: {name: cg, admm: {rho: 0.5}, max_iters: 15}
plot: {x: iter, figures: [curves]}
";

/// A Parquet file of `rows` equal values in one column: a few kilobytes on disk (one
/// dictionary entry and a run length), `rows` x 8 bytes once decoded.
fn compressible(path: &Path, rows: usize) {
    let column = Values::F64(vec![Some(1.0); rows]);
    results::write_columns(path, vec![("iter".into(), column)]).unwrap();
}

/// A one-row Parquet file with `columns` columns.
fn wide(path: &Path, columns: usize) {
    let cols = (0..columns)
        .map(|i| (format!("c{i}"), Values::F64(vec![Some(0.0)])))
        .collect();
    results::write_columns(path, cols).unwrap();
}

/// A Parquet file whose footer is `footer` (no data pages at all).
fn with_footer(path: &Path, footer: &[u8]) {
    let mut bytes = b"PAR1".to_vec();
    bytes.extend_from_slice(footer);
    bytes.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"PAR1");
    std::fs::write(path, bytes).unwrap();
}

/// Runs SMALL into `<dir>/res` and returns the manifest, the results folder and the run's
/// files.
fn finished_run(dir: &Path) -> (PathBuf, PathBuf, RunPaths) {
    let m = write_manifest(dir, SMALL);
    let out = dir.join("res");
    let o = admm_runner()
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let id = first_planned_id(&m);
    let paths = RunPaths::new(&out, "small", &id);
    assert!(paths.summary.is_file());
    (m, out, paths)
}

#[test]
fn hostile_a_summary_bomb_is_refused_by_show_and_the_other_runs_are_still_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, paths) = finished_run(dir.path());
    let bomb = out.join("small/runs/bomb.parquet");
    compressible(&bomb, 3_000_000);
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 200_000, "a small file: {size} bytes");
    let err = Summary::read(&bomb).unwrap_err().to_string();
    assert!(err.contains("bomb.parquet"), "{err}");
    assert!(
        err.contains("3000000 rows, more than the 1 a summary may have"),
        "{err}"
    );
    let wide_file = out.join("small/runs/wide.parquet");
    wide(&wide_file, 5000);
    let err = Summary::read(&wide_file).unwrap_err().to_string();
    assert!(err.contains("5000 columns, more than the 4096"), "{err}");

    let o = admm_runner()
        .args(["show", out.to_str().unwrap(), "--format", "csv"])
        .output()
        .unwrap();
    let all = text(&o);
    let id = paths.summary.file_stem().unwrap().to_str().unwrap();
    let line = |name: &str| all.lines().find(|l| l.contains(name)).unwrap_or("");
    assert!(line("bomb").contains("3000000 rows"), "{all}");
    assert!(line("wide").contains("5000 columns"), "{all}");
    assert!(line(id).contains("ok"), "{all}");
}

#[test]
fn hostile_a_trace_bomb_is_refused_and_the_run_is_computed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (m, out, paths) = finished_run(dir.path());
    let rows = MAX_TRACE_ROWS as usize + 1;
    compressible(&paths.trace, rows);
    let err = schema::read_trace(&paths.trace).unwrap_err().to_string();
    assert!(err.contains(&paths.trace.display().to_string()), "{err}");
    assert!(
        err.contains(&format!(
            "{rows} rows, more than the {MAX_TRACE_ROWS} a trace"
        )),
        "{err}"
    );
    // plot names the file and the limit rather than decoding it.
    let o = admm_runner()
        .args(["plot", m.to_str().unwrap(), "--results"])
        .arg(&out)
        .arg("--plots")
        .arg(dir.path().join("plots"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&format!("{rows} rows")), "{}", text(&o));
    // The resume check: a trace that cannot be read is no finished run.
    let o = admm_runner()
        .args(["run", m.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 ok"), "{}", text(&o));
    let iterations = Summary::read(&paths.summary).unwrap().iterations.unwrap();
    let rows = schema::read_trace(&paths.trace).unwrap().len();
    assert_eq!(rows as i64, iterations);
}

#[test]
fn hostile_a_footer_claiming_billions_of_elements_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, _) = finished_run(dir.path());
    // version 1, then the schema: a list of structs claiming 2^31 - 1 elements.
    let footer = [0x15, 0x02, 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
    let file = out.join("small/runs/huge-list.parquet");
    with_footer(&file, &footer);
    let err = Summary::read(&file).unwrap_err().to_string();
    assert!(err.contains("huge-list.parquet"), "{err}");
    assert!(err.contains("2147483647 elements"), "{err}");
    // A footer longer than the file, and one over the limit.
    let lying = out.join("small/runs/lying.parquet");
    std::fs::write(&lying, [b"PAR1".as_slice(), &[0xff; 4], b"PAR1"].concat()).unwrap();
    let err = Summary::read(&lying).unwrap_err().to_string();
    assert!(err.contains("more than the file holds"), "{err}");
    let long = ReadLimits::SUMMARY.footer_bytes as usize + 1;
    let big = out.join("small/runs/big-footer.parquet");
    with_footer(&big, &vec![0u8; long]);
    let err = Summary::read(&big).unwrap_err().to_string();
    assert!(err.contains("bytes of footer metadata"), "{err}");
    // show survives them all and says which.
    let o = admm_runner()
        .args(["show", out.to_str().unwrap(), "--format", "csv"])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), None, "killed by a signal: {}", text(&o));
    assert!(text(&o).contains("2147483647 elements"), "{}", text(&o));
}

#[test]
fn hostile_parquet_readers_take_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("f.parquet");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    for p in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
        let err = Summary::read(p).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}

#[test]
fn hostile_no_run_may_write_a_trace_longer_than_the_readers_accept() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path(), SMALL);
    let plan = |iters: u64| {
        admm_runner()
            .args(["plan", m.to_str().unwrap(), "--set"])
            .arg(format!("solver.max_iters={iters}"))
            .output()
            .unwrap()
    };
    assert!(plan(MAX_TRACE_ROWS).status.success());
    let o = plan(MAX_TRACE_ROWS + 1);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("at most {MAX_TRACE_ROWS} steps per run")),
        "{}",
        text(&o)
    );
}
