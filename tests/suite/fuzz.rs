//! Property tests of the readers of user input (the manifest loader, the `.npy` reader, the
//! CIFAR-10 reader and the Parquet reader of our own results, which a hostile file may sit
//! among) and of the one writer whose output a shell runs (the Slurm script).
//! Arbitrary bytes, and arbitrary values inside otherwise well-formed inputs, must give either a result or an error that names the input; never a panic, never an
//! allocation sized by an unchecked number from the file. The case count is bounded for
//! `make test` (64 per property); `PROPTEST_CASES=5000 cargo nextest run fuzz` runs more.

use admm_runner::data::{self, read_npy_f64, DataConfig};
use admm_runner::manifest;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The error (if any) must name one of `files` by its file name, or (for a setting that the
/// files cannot satisfy) one of the `data:` section's `keys`.
fn names_input<T, E: std::fmt::Display>(
    result: Result<T, E>,
    files: &[&Path],
    keys: &[&str],
) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let msg = e.to_string();
        let file = files.iter().any(|f| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            msg.contains(name.as_ref())
        });
        let key = msg.starts_with("data:") && keys.iter().any(|k| msg.contains(k));
        prop_assert!(
            file || key,
            "error names none of {files:?} or {keys:?}: {msg}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- manifests

/// Keys the manifest schema knows (at any depth), and a few it does not.
const KEYS: &[&str] = &[
    "name",
    "description",
    "data",
    "source",
    "n_train",
    "n_test",
    "dim",
    "classes",
    "downsample",
    "path",
    "train_files",
    "test_files",
    "x",
    "y",
    "x_test",
    "y_test",
    "seed",
    "standardize",
    "teacher_width",
    "label_noise",
    "problem",
    "patterns",
    "beta",
    "bias",
    "gates",
    "loss",
    "solver",
    "max_iters",
    "time_limit",
    "target_train_acc",
    "stop_at_target",
    "admm",
    "rho",
    "gamma",
    "tol_abs",
    "tol_rel",
    "cg",
    "tol",
    "tol_schedule",
    "warm_start",
    "nys",
    "rank",
    "variant",
    "rbcd",
    "block_size",
    "threshold",
    "decay",
    "step0",
    "max_steps",
    "exact",
    "max_dim",
    "adam",
    "lr",
    "batch_size",
    "width",
    "backend",
    "sweep",
    "variants",
    "plot",
    "figures",
    "condition",
    "ranks",
    "unknown",
    "",
];

const STRINGS: &[&str] = &[
    "",
    ".",
    "..",
    "../../etc",
    "/tmp/x",
    "cg",
    "rbcd",
    "nys-pcg",
    "bj-pcg",
    "diag-pcg",
    "exact",
    "adam",
    "flex",
    "ndarray",
    "cuda",
    "cifar10",
    "synthetic",
    "npy",
    "1e12",
    "yes",
    "~",
    "-1",
    "[1, 2]",
    "{a: 1}",
    "null",
    "\u{0}",
    "iter",
    "seconds",
    "table",
    "squared",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Number(i.into())),
        prop::sample::select(vec![
            0i64,
            -1,
            1,
            2,
            3,
            9,
            10,
            4096,
            1_000_000_000_000,
            i64::MAX
        ])
        .prop_map(|i| Value::Number(i.into())),
        prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e-300,
            1e300,
            0.5,
            2.5,
            1e12,
        ])
        .prop_map(|f| Value::Number(f.into())),
        prop::sample::select(STRINGS).prop_map(|s| Value::String(s.into())),
        any::<String>().prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                Value::Mapping(
                    kv.into_iter()
                        .map(|(k, v)| (Value::String(k.into()), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A manifest that plans: every value below is a target for replacement.
const BASE: &str = "
name: fuzz
data: {source: synthetic, n_train: 40, n_test: 20, dim: 4, teacher_width: 2, seed: 1}
problem: {patterns: 3, beta: 0.01, bias: true}
solver:
  name: cg
  max_iters: 5
  admm: {rho: 0.5, gamma: 1.0}
  cg: {max_iters: 4, tol: 1.0e-3}
  nys: {rank: 2}
  rbcd: {block_size: 2}
  adam: {lr: 0.01, batch_size: 8}
backend: flex
seed: 0
sweep: {seed: [0, 1], solver: [cg, exact]}
variants:
  - {solver: rbcd}
plot: {figures: [curves]}
";

/// Every key path of a YAML tree (mappings only).
fn key_paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Mapping(m) = v {
        for (k, child) in m {
            if let Some(k) = k.as_str() {
                prefix.push(k.to_string());
                out.push(prefix.clone());
                key_paths(child, prefix, out);
                prefix.pop();
            }
        }
    }
}

/// Sets `path` (under mappings, created where missing) to `new`; `extra` appends a key.
fn set_path(root: &mut Value, path: &[String], extra: Option<&str>, new: Value) {
    let mut at = root;
    let mut keys: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(k) = extra {
        keys.push(k);
    }
    for (i, k) in keys.iter().enumerate() {
        if !at.is_mapping() {
            *at = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = at else { return };
        let key = Value::String((*k).to_string());
        if i + 1 == keys.len() {
            m.insert(key, new);
            return;
        }
        at = m.entry(key).or_insert(Value::Null);
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_manifest_loader_survives_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..400),
        toml in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), if toml { "m.toml" } else { "m.yaml" }, &bytes);
        names_input(manifest::plan(&path, &[]), &[&path], &[])?;
    }

    #[test]
    fn the_manifest_loader_survives_arbitrary_values_in_a_valid_manifest(
        edits in vec((any::<prop::sample::Index>(), prop::option::of(prop::sample::select(KEYS)), value()), 1..4),
    ) {
        let mut root: Value = serde_yaml::from_str(BASE).unwrap();
        let mut paths = Vec::new();
        key_paths(&root, &mut Vec::new(), &mut paths);
        for (at, extra, new) in edits {
            let path = at.get(&paths).clone();
            set_path(&mut root, &path, extra, new);
        }
        let dir = tempfile::tempdir().unwrap();
        let text = serde_yaml::to_string(&root).unwrap();
        let path = write(dir.path(), "m.yaml", text.as_bytes());
        names_input(manifest::plan(&path, &[]), &[&path], &[])?;
    }
}

// ---------------------------------------------------------------- .npy

/// An `.npy` file from its parts, any of which may be wrong.
fn npy(
    version: u8,
    descr: &str,
    fortran: bool,
    shape: &[u64],
    claimed_len: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    while (header.len() + 11) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([version, 0]);
    let len = claimed_len.unwrap_or(header.len() as u32);
    if version == 1 {
        out.extend((len as u16).to_le_bytes());
    } else {
        out.extend(len.to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend(payload);
    out
}

fn dim() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..6, Just(1 << 31), Just(1 << 40), Just(u64::MAX)]
}

fn npy_file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![1u8, 2, 3, 0, 9]),
        prop::sample::select(vec![
            "<f4", "<f8", ">f8", "<i8", "<i4", "|u1", "|b1", "<c16", "O", "<U3", "",
        ]),
        any::<bool>(),
        vec(dim(), 0..4),
        prop::option::weighted(0.1, any::<u32>()),
        vec(any::<u8>(), 0..200),
    )
        .prop_map(|(v, descr, fortran, shape, len, payload)| {
            npy(v, descr, fortran, &shape, len, &payload)
        })
}

fn npy_config(x: &Path, y: &Path) -> DataConfig {
    serde_json::from_value(serde_json::json!({
        "source": "npy", "n_train": 0, "x": x, "y": y, "standardize": "none",
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_npy_reader_survives_arbitrary_bytes(bytes in vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.npy", &bytes);
        names_input(read_npy_f64(&path), &[&path], &[])?;
    }

    #[test]
    fn the_npy_reader_survives_arbitrary_headers_and_payloads(file in npy_file()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.npy", &file);
        names_input(read_npy_f64(&path), &[&path], &[])?;
    }

    #[test]
    fn npy_data_sets_survive_arbitrary_files(x in npy_file(), y in npy_file()) {
        let dir = tempfile::tempdir().unwrap();
        let xp = write(dir.path(), "x.npy", &x);
        let yp = write(dir.path(), "y.npy", &y);
        names_input(data::load(&npy_config(&xp, &yp), 0), &[&xp, &yp], &["n_train"])?;
    }
}

// ---------------------------------------------------------------- Parquet results

/// A real summary file (written once), whose footer the Parquet properties corrupt.
fn summary_file() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let summary = admm_runner::results::Summary {
            run_id: "r".into(),
            ..Default::default()
        };
        summary.write(&path).unwrap();
        std::fs::read(path).unwrap()
    })
}

/// `PAR1`, `footer`, its length, `PAR1`: a Parquet file that is nothing but a footer.
fn footer_only(footer: &[u8]) -> Vec<u8> {
    let len = u32::try_from(footer.len()).unwrap().to_le_bytes();
    [b"PAR1".as_slice(), footer, &len, b"PAR1"].concat()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_parquet_reader_survives_arbitrary_footers(footer in vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s.parquet", &footer_only(&footer));
        names_input(admm_runner::results::Summary::read(&path), &[&path], &[])?;
    }

    #[test]
    fn the_parquet_reader_survives_corrupt_bytes_in_a_real_footer(
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = summary_file().to_vec();
        let n = bytes.len();
        let footer = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
        for (at, b) in edits {
            bytes[n - 8 - footer + at.index(footer)] = b;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s.parquet", &bytes);
        names_input(admm_runner::results::Summary::read(&path), &[&path], &[])?;
    }
}

// ---------------------------------------------------------------- CIFAR-10

/// CIFAR-10 binary records (label byte + 3072 pixels), then `tail` bytes of a cut record.
fn cifar_file() -> impl Strategy<Value = Vec<u8>> {
    (
        vec((prop_oneof![0u8..10, any::<u8>()], any::<u8>()), 0..12),
        prop_oneof![Just(0usize), 0usize..3073],
    )
        .prop_map(|(records, tail)| {
            let mut out = Vec::new();
            for (label, fill) in records {
                out.push(label);
                out.extend(std::iter::repeat_n(fill, 3072));
            }
            out.extend(std::iter::repeat_n(7u8, tail));
            out
        })
}

fn cifar_config(
    train: &Path,
    test: &Path,
    n_train: usize,
    n_test: usize,
    downsample: Option<usize>,
) -> DataConfig {
    serde_json::from_value(serde_json::json!({
        "source": "cifar10", "classes": [0, 1], "n_train": n_train, "n_test": n_test,
        "downsample": downsample, "train_files": [train], "test_files": [test],
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_cifar_reader_survives_arbitrary_bytes(
        train in vec(any::<u8>(), 0..8000),
        test in vec(any::<u8>(), 0..4000),
        n_train in 0usize..6,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "train.bin", &train);
        let b = write(dir.path(), "test.bin", &test);
        names_input(data::load(&cifar_config(&a, &b, n_train, 1, None), 0), &[&a, &b], &["n_train", "n_test", "downsample"])?;
    }

    #[test]
    fn the_cifar_reader_survives_arbitrary_records(
        train in cifar_file(),
        test in cifar_file(),
        n_train in prop_oneof![0usize..8, Just(1 << 40)],
        n_test in 0usize..4,
        downsample in prop::option::of(prop::sample::select(vec![1usize, 3, 12, 100, 3072, 5000])),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "train.bin", &train);
        let b = write(dir.path(), "test.bin", &test);
        let cfg = cifar_config(&a, &b, n_train, n_test, downsample);
        names_input(data::load(&cfg, 0), &[&a, &b], &["n_train", "n_test", "downsample"])?;
    }
}

/// A string of anything a path or a `--set` value may hold in the Slurm script: printable
/// ASCII (quotes, `$`, backticks, `;`, `\`, spaces) and some non-ASCII, never a control
/// character (those are refused, tests/suite/hostile.rs).
fn script_text() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            (0x20u8..0x7f).prop_map(char::from),
            Just('é'),
            Just('→'),
            Just('\u{a0}'),
        ],
        1..40,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(config())]

    /// Issue 29, class 3, as a property: whatever printable text the manifest path, a `--set`
    /// value or an `--only` holds, the generated script parses, its `#SBATCH` block comes
    /// before every command, and each value arrives at the runner as one whole argument.
    #[test]
    fn every_printable_value_reaches_the_slurm_task_whole(
        path in script_text(),
        set in script_text(),
        only in script_text(),
    ) {
        use admm_runner::commands::submit;
        let job = submit::Job {
            experiment: "e".into(),
            runs: 2,
            launcher: Default::default(),
            binary: "/usr/bin/admm-runner".into(),
            workdir: "/tmp".into(),
            manifest: PathBuf::from(format!("/m/{path}")),
            out: "/o".into(),
            set: vec![set.clone()],
            only: vec![only.clone()],
            cifar10_dir: None,
        };
        let script = submit::script(&job);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.sbatch");
        std::fs::write(&file, &script).unwrap();
        let parsed = std::process::Command::new("bash").arg("-n").arg(&file).status().unwrap();
        prop_assert!(parsed.success(), "{}", script);
        let lines: Vec<&str> = script.lines().collect();
        let first_command = lines.iter().position(|l| !l.starts_with('#')).unwrap();
        let last_directive = lines.iter().rposition(|l| l.starts_with("#SBATCH")).unwrap();
        prop_assert!(last_directive < first_command, "{}", script);
        let exec = lines.iter().find(|l| l.starts_with("exec ")).unwrap();
        let echoed = std::process::Command::new("bash")
            .arg("-c")
            .arg(exec.replacen("exec ", "printf '%s\\0' ", 1))
            .output()
            .unwrap();
        let args: Vec<String> = String::from_utf8(echoed.stdout)
            .unwrap()
            .split('\0')
            .map(str::to_string)
            .collect();
        let manifest = format!("/m/{path}");
        prop_assert!(args.contains(&manifest), "{:?}", args);
        prop_assert!(args.contains(&set), "{:?}", args);
        prop_assert!(args.contains(&only), "{:?}", args);
    }
}
