//! Data loading on generated fixtures in the official formats (CIFAR-10 binary, .npy), the
//! synthetic teacher, and (when present) the real CIFAR-10 files of ../shared/data.

use admm_runner::data::{
    avg_pool, load, read_npy_f64, standardize, DataConfig, DataSource, Dataset, Standardize,
};
use std::path::{Path, PathBuf};

const PIXELS: usize = 3072;

/// Writes CIFAR-10 binary records: a label byte then R, G, B planes of 32 x 32.
fn write_cifar(path: &Path, records: &[(u8, Vec<u8>)]) {
    let mut bytes = Vec::new();
    for (label, pixels) in records {
        assert_eq!(pixels.len(), PIXELS);
        bytes.push(*label);
        bytes.extend_from_slice(pixels);
    }
    std::fs::write(path, bytes).unwrap();
}

/// Records of the given labels; record k has every pixel = `label * 20 + k % 20`, so a loaded
/// row tells its class (value / 20) and the label mapping can be checked.
fn records(labels: &[u8]) -> Vec<(u8, Vec<u8>)> {
    labels
        .iter()
        .enumerate()
        .map(|(k, &c)| (c, vec![c * 20 + (k % 20) as u8; PIXELS]))
        .collect()
}

/// The class a loaded row came from (see `records`).
fn class_of(row: &[f32]) -> u8 {
    ((row[0] * 255.0).round() as u8) / 20
}

fn count(labels: &[f32], value: f32) -> usize {
    labels.iter().filter(|&&v| v == value).count()
}

fn cfg(source: DataSource) -> DataConfig {
    DataConfig {
        source,
        path: None,
        train_files: vec![],
        test_files: vec![],
        classes: vec![0, 1],
        n_train: 8,
        n_test: 4,
        downsample: None,
        standardize: Standardize::None,
        seed: Some(1),
        dim: 5,
        teacher_width: 4,
        label_noise: 0.0,
        x: None,
        y: None,
        x_test: None,
        y_test: None,
        manifest_dir: Default::default(),
    }
}

/// A directory in our provided layout: a training file with classes 0-9 mixed (4 of each), a
/// test file sorted by class, and a "subset" test file that must be ignored.
fn cifar_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let train: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    write_cifar(&dir.path().join("my_train_all.bin"), &records(&train));
    let test: Vec<u8> = [0u8, 1, 3, 7].iter().flat_map(|&c| [c; 4]).collect();
    write_cifar(&dir.path().join("my_test.bin"), &records(&test));
    write_cifar(&dir.path().join("my_test_exact_subset.bin"), &records(&[5]));
    dir
}

fn cifar_cfg(dir: &Path) -> DataConfig {
    let mut c = cfg(DataSource::Cifar10);
    c.path = Some(dir.to_path_buf());
    c
}

#[test]
fn cifar_keeps_two_classes_with_shapes_and_labels() {
    let dir = cifar_dir();
    let mut c = cifar_cfg(dir.path());
    c.classes = vec![3, 7];
    c.n_train = 6;
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n, ds.d, ds.n_test), (6, PIXELS, 4));
    assert_eq!((ds.x.len(), ds.y.len()), (6 * PIXELS, 6));
    assert_eq!((ds.x_test.len(), ds.y_test.len()), (4 * PIXELS, 4));
    // Only classes 3 (label -1) and 7 (label +1) are kept; the "subset" file (class 5) is not.
    for (x, y) in [(&ds.x, &ds.y), (&ds.x_test, &ds.y_test)] {
        for (row, &label) in x.chunks(PIXELS).zip(y) {
            let expect = match class_of(row) {
                3 => -1.0,
                7 => 1.0,
                other => panic!("class {other} was not asked for"),
            };
            assert_eq!(label, expect);
        }
    }
    // Pixels are scaled to [0, 1] by 1/255.
    let raw = (ds.x[0] * 255.0).round();
    assert!((ds.x[0] - raw / 255.0).abs() < 1e-7);
    assert!(ds.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
}

#[test]
fn cifar_subsets_are_balanced_seeded_and_shuffled() {
    let dir = tempfile::tempdir().unwrap();
    // 20 of each class, every image distinct, class 0 first (sorted like the test file).
    let labels: Vec<u8> = [0u8; 20].into_iter().chain([1u8; 20]).collect();
    let recs: Vec<(u8, Vec<u8>)> = labels
        .iter()
        .enumerate()
        .map(|(k, &c)| (c, vec![k as u8; PIXELS]))
        .collect();
    write_cifar(&dir.path().join("train.bin"), &recs);
    write_cifar(&dir.path().join("test.bin"), &recs);
    let mut c = cifar_cfg(dir.path());
    c.n_train = 9;
    c.n_test = 6;
    let ds = load(&c, 0).unwrap();
    // Odd n: class b (+1) takes the extra example.
    assert_eq!((count(&ds.y, -1.0), count(&ds.y, 1.0)), (4, 5));
    assert_eq!((count(&ds.y_test, -1.0), count(&ds.y_test, 1.0)), (3, 3));
    // Labels follow the images: images 0-19 are class 0.
    for (row, &y) in ds.x.chunks(PIXELS).zip(&ds.y) {
        assert_eq!(y, if row[0] * 255.0 < 19.5 { -1.0 } else { 1.0 });
    }

    let chosen = |ds: &Dataset| {
        let mut ids: Vec<u8> =
            ds.x.chunks(PIXELS)
                .map(|r| (r[0] * 255.0).round() as u8)
                .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(ds, load(&c, 0).unwrap(), "same seed, same data");
    c.seed = Some(2);
    assert_ne!(
        chosen(&ds),
        chosen(&load(&c, 0).unwrap()),
        "another seed, another subset"
    );
    // Without data.seed the run's seed decides.
    c.seed = None;
    assert_eq!(load(&c, 1).unwrap(), load(&c, 1).unwrap());
    assert_ne!(chosen(&load(&c, 1).unwrap()), chosen(&load(&c, 2).unwrap()));
    // The order is shuffled, not all of class a first.
    let sorted = |ds: &Dataset| ds.y.windows(2).all(|w| w[0] <= w[1]);
    assert!((0..5).any(|s| !sorted(&load(&c, s).unwrap())));
}

#[test]
fn cifar_official_layout_and_explicit_files() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&nested).unwrap();
    write_cifar(&nested.join("data_batch_1.bin"), &records(&[0, 1, 0, 1]));
    write_cifar(&nested.join("data_batch_2.bin"), &records(&[1, 0, 1, 0]));
    write_cifar(&nested.join("test_batch.bin"), &records(&[0, 0, 1, 1]));
    // Not part of the official layout: must be ignored.
    write_cifar(&nested.join("my_train.bin"), &records(&[2]));
    let mut c = cifar_cfg(dir.path());
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n, ds.n_test), (8, 4), "both training batches are read");

    // Explicit files need no directory.
    let mut c2 = cfg(DataSource::Cifar10);
    c2.train_files = vec![nested.join("data_batch_1.bin")];
    c2.test_files = vec![nested.join("test_batch.bin")];
    c2.n_train = 4;
    let ds = load(&c2, 0).unwrap();
    assert_eq!((ds.n, ds.n_test), (4, 4));

    // n_test > 0 without any test file is an error, n_test = 0 means no test set.
    std::fs::remove_file(nested.join("test_batch.bin")).unwrap();
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("no CIFAR-10 test file"), "{msg}");
    c.n_test = 0;
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n_test, ds.x_test.len()), (0, 0));
}

#[test]
fn pooling_matches_hand_computed_block_means() {
    // Constant planes stay constant for any output size.
    for k in [1, 5, 8, 10, 31, 32] {
        let pooled = avg_pool(&[0.7; 1024], 32, k);
        assert_eq!(pooled.len(), k * k);
        assert!(pooled.iter().all(|&v| (v - 0.7).abs() < 1e-6), "k = {k}");
    }
    // 4x4 -> 2x2 averages 2x2 blocks; 4x4 -> 3x3 weights partial overlaps by area.
    let plane: Vec<f32> = (0..16).map(|v| v as f32).collect();
    assert_eq!(avg_pool(&plane, 4, 2), vec![2.5, 4.5, 10.5, 12.5]);
    // Output (0, 0) covers [0, 4/3) on both axes: weight 3/4 on index 0 and 1/4 on index 1.
    let expect = 0.75 * 0.75 * 0.0 + 0.75 * 0.25 * 1.0 + 0.25 * 0.75 * 4.0 + 0.25 * 0.25 * 5.0;
    assert!((avg_pool(&plane, 4, 3)[0] - expect).abs() < 1e-6);

    // A hand-made image: pixel (ch, r, c) = ch * 60 + r + 2c; pooled 32 -> 4 in 8 x 8 blocks.
    let value = |ch: usize, r: usize, c: usize| (ch * 60 + r + 2 * c) as f64;
    let pixels: Vec<u8> = (0..PIXELS)
        .map(|i| value(i / 1024, i % 1024 / 32, i % 32) as u8)
        .collect();
    let block_mean = |ch: usize, br: usize, bc: usize| {
        let mut sum = 0.0;
        for r in 8 * br..8 * br + 8 {
            for c in 8 * bc..8 * bc + 8 {
                sum += value(ch, r, c);
            }
        }
        sum / 64.0 / 255.0
    };
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<(u8, Vec<u8>)> = vec![(0, pixels.clone()), (1, pixels)];
    write_cifar(&dir.path().join("train.bin"), &recs);
    let mut c = cifar_cfg(dir.path());
    (c.n_train, c.n_test) = (2, 0);
    // d = 48 = 3 * 4^2: each channel to 4 x 4, channel-major.
    c.downsample = Some(48);
    let ds = load(&c, 0).unwrap();
    assert_eq!(ds.d, 48);
    for (j, &v) in ds.x[..48].iter().enumerate() {
        let (ch, br, bc) = (j / 16, j % 16 / 4, j % 4);
        assert!(
            (f64::from(v) - block_mean(ch, br, bc)).abs() < 1e-6,
            "feature {j}"
        );
    }
    // d = 16 = 4^2: the channel mean (grey) to 4 x 4.
    c.downsample = Some(16);
    let ds = load(&c, 0).unwrap();
    assert_eq!(ds.d, 16);
    for (j, &v) in ds.x[..16].iter().enumerate() {
        let grey = (0..3).map(|ch| block_mean(ch, j / 4, j % 4)).sum::<f64>() / 3.0;
        assert!((f64::from(v) - grey).abs() < 1e-6, "feature {j}");
    }
    // d = 100 (the paper's) pools grey to 10 x 10 with fractional overlaps.
    c.downsample = Some(100);
    assert_eq!(load(&c, 0).unwrap().d, 100);
    // A count pooling cannot produce names the setting and the nearest valid values.
    c.downsample = Some(101);
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(
        msg.contains("data.downsample") && msg.contains("100") && msg.contains("108"),
        "{msg}"
    );
}

/// Population mean and std of some values.
fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().map(f64::from).sum::<f64>() / n;
    let var = values.map(|v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// A 4 x 3 training set (the last column constant) and a 2 x 3 test set.
fn small_dataset() -> Dataset {
    Dataset {
        n: 4,
        d: 3,
        x: vec![
            1.0, 10.0, 5.0, 2.0, 20.0, 5.0, 3.0, 30.0, 5.0, 4.0, 40.0, 5.0,
        ],
        y: vec![1.0, -1.0, 1.0, -1.0],
        n_test: 2,
        x_test: vec![5.0, 50.0, 6.0, 0.0, 0.0, 5.0],
        y_test: vec![1.0, -1.0],
        classes: 2,
    }
}

#[test]
fn standardization_uses_training_statistics_only() {
    let raw = small_dataset();

    let mut ds = raw.clone();
    standardize(&mut ds, Standardize::Scalar);
    let (m, s) = mean_std(ds.x.iter().copied());
    assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-6, "mean {m} std {s}");
    let (tm, ts) = mean_std(raw.x.iter().copied());
    for (&v, &r) in ds.x_test.iter().zip(&raw.x_test) {
        assert!((f64::from(v) - (f64::from(r) - tm) / ts).abs() < 1e-5);
    }

    let mut ds = raw.clone();
    standardize(&mut ds, Standardize::PerFeature);
    for j in 0..2 {
        let (m, s) = mean_std(ds.x.iter().skip(j).step_by(3).copied());
        assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-6, "column {j}");
    }
    // The constant column is only centered; the test set uses the training column statistics
    // (column 0: mean 2.5, std sqrt(1.25); column 2: mean 5, std taken as 1).
    assert!(ds.x.iter().skip(2).step_by(3).all(|&v| v == 0.0));
    let expect0 = (5.0 - 2.5) / 1.25f64.sqrt();
    assert!((f64::from(ds.x_test[0]) - expect0).abs() < 1e-5);
    assert_eq!((ds.x_test[2], ds.x_test[5]), (1.0, 0.0));

    let mut ds = raw.clone();
    standardize(&mut ds, Standardize::None);
    assert_eq!(ds, raw);

    // Through load, for a real source.
    let dir = cifar_dir();
    let mut c = cifar_cfg(dir.path());
    c.downsample = Some(4);
    for how in [Standardize::Scalar, Standardize::PerFeature] {
        c.standardize = how;
        let ds = load(&c, 0).unwrap();
        let (m, s) = mean_std(ds.x.iter().copied());
        assert!(m.abs() < 1e-5 && (s - 1.0).abs() < 1e-4, "{how:?}: {m} {s}");
    }
}

#[test]
fn truncated_file_is_an_error_naming_it() {
    let dir = cifar_dir();
    let train = dir.path().join("my_train_all.bin");
    let mut bytes = std::fs::read(&train).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&train, &bytes).unwrap();
    let msg = load(&cifar_cfg(dir.path()), 0).unwrap_err().to_string();
    assert!(
        msg.contains(&train.display().to_string())
            && msg.contains("truncated record 39")
            && msg.contains("2973 of 3073 bytes"),
        "{msg}"
    );
}

#[test]
fn bad_label_byte_is_an_error() {
    let dir = cifar_dir();
    let train = dir.path().join("my_train_all.bin");
    write_cifar(&train, &records(&[0, 1, 12, 0]));
    let msg = load(&cifar_cfg(dir.path()), 0).unwrap_err().to_string();
    assert!(
        msg.contains("my_train_all.bin") && msg.contains("label byte 12"),
        "{msg}"
    );
}

#[test]
fn too_few_examples_of_a_class_is_an_error() {
    let dir = cifar_dir();
    let mut c = cifar_cfg(dir.path());
    c.n_train = 12; // 6 per class, the file has 4 of each
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(
        msg.contains("n_train=12")
            && msg.contains("class 0")
            && msg.contains("only 4")
            && msg.contains("my_train_all.bin"),
        "{msg}"
    );
    c.n_train = 8;
    c.classes = vec![3, 3];
    assert!(load(&c, 0).unwrap_err().to_string().contains("differ"));
}

#[test]
fn cifar_location_must_be_given() {
    // `make test` exports CIFAR10_DIR; the test must not change the environment other tests
    // (and the processes they start) share, so it only runs where the variable is unset.
    if std::env::var_os("CIFAR10_DIR").is_some_and(|v| !v.is_empty()) {
        eprintln!("skipped: CIFAR10_DIR is set");
        return;
    }
    let msg = load(&cfg(DataSource::Cifar10), 0).unwrap_err().to_string();
    assert!(
        msg.contains("data.path") && msg.contains("CIFAR10_DIR"),
        "{msg}"
    );
}

/// Writes a .npy file of format `version` (1, 2 or 3) with the given header fields and data.
fn write_npy(path: &Path, version: u8, descr: &str, shape: &str, data: &[u8]) {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    write_npy_header(path, version, &dict, data);
}

fn write_npy_header(path: &Path, version: u8, dict: &str, data: &[u8]) {
    let prefix = if version == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while !(prefix + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[version, 0]);
    if version == 1 {
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

fn f4(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f8(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn npy_round_trips_every_dtype_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let xs = [1.5f32, -2.0, 3.25, 0.0, 1e-3, 2.0];
    for version in [1, 2, 3] {
        write_npy(&p, version, "<f4", "(3, 2)", &f4(&xs));
        let (vals, shape) = read_npy_f64(&p).unwrap();
        assert_eq!(shape, vec![3, 2]);
        assert_eq!(vals, xs.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    }
    let xd = [0.1f64, -1e300, 7.0];
    write_npy(&p, 1, "<f8", "(3,)", &f8(&xd));
    assert_eq!(read_npy_f64(&p).unwrap(), (xd.to_vec(), vec![3]));
    let ints: [(&str, Vec<u8>); 5] = [
        (
            "<i4",
            [-1i32, 0, 1].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            "<i8",
            [-1i64, 0, 1].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        ("|i1", vec![255, 0, 1]),
        ("|u1", vec![255, 0, 1]),
        ("|b1", vec![1, 0, 1]),
    ];
    for (descr, data) in ints {
        write_npy(&p, 1, descr, "(3,)", &data);
        let (vals, _) = read_npy_f64(&p).unwrap();
        let first = match descr {
            "|u1" => 255.0,
            "|b1" => 1.0,
            _ => -1.0,
        };
        assert_eq!(vals, vec![first, 0.0, 1.0], "{descr}");
    }
}

/// X (3 x 2, f4) and y (+1/-1, f8) in `dir`, and a config reading them.
fn npy_fixture(dir: &Path) -> DataConfig {
    write_npy(
        &dir.join("x.npy"),
        1,
        "<f4",
        "(3, 2)",
        &f4(&[1., 2., 3., 4., 5., 6.]),
    );
    write_npy(&dir.join("y.npy"), 1, "<f8", "(3,)", &f8(&[1.0, -1.0, 1.0]));
    let mut c = cfg(DataSource::Npy);
    (c.n_train, c.n_test) = (0, 0);
    c.x = Some(dir.join("x.npy"));
    c.y = Some(dir.join("y.npy"));
    c
}

#[test]
fn npy_source_reads_rows_labels_and_test_pair() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = npy_fixture(dir.path());
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n, ds.d, ds.n_test), (3, 2, 0));
    assert_eq!(ds.x, vec![1., 2., 3., 4., 5., 6.]);
    assert_eq!(ds.y, vec![1.0, -1.0, 1.0]);
    // 0/1 labels (here bool) map 0 -> -1; n_train takes the first rows.
    write_npy(&dir.path().join("y.npy"), 1, "|b1", "(3,)", &[0, 1, 1]);
    c.n_train = 2;
    let ds = load(&c, 0).unwrap();
    assert_eq!(
        (ds.n, ds.x, ds.y),
        (2, vec![1., 2., 3., 4.], vec![-1.0, 1.0])
    );
    c.n_train = 4;
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("x.npy") && msg.contains("n_train=4"), "{msg}");
    c.n_train = 0;
    // A test pair: both files or neither, same number of columns.
    c.x_test = Some(dir.path().join("x.npy"));
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("x_test") && msg.contains("y_test"), "{msg}");
    c.y_test = Some(dir.path().join("y.npy"));
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n_test, ds.x_test.len()), (3, 6));
    write_npy(
        &dir.path().join("xt.npy"),
        1,
        "<f8",
        "(3, 1)",
        &f8(&[1., 2., 3.]),
    );
    c.x_test = Some(dir.path().join("xt.npy"));
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("xt.npy") && msg.contains("columns"), "{msg}");
}

#[test]
fn npy_bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c = npy_fixture(dir.path());
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let err = |c: &DataConfig| load(c, 0).unwrap_err().to_string();

    // A label that is no class (class indices are whole numbers), and an ambiguous mix of 0
    // and -1.
    write_npy(&yp, 1, "<f8", "(3,)", &f8(&[1.0, 2.5, 1.0]));
    let msg = err(&c);
    assert!(
        msg.contains(&yp.display().to_string()) && msg.contains("label 2.5 at index 1"),
        "{msg}"
    );
    // Class indices 0..K-1 are read as K classes.
    write_npy(&yp, 1, "<f8", "(3,)", &f8(&[1.0, 2.0, 0.0]));
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.classes, ds.y.clone()), (3, vec![1.0, 2.0, 0.0]));
    // A gap would be a class without an example: refused, naming it.
    write_npy(&yp, 1, "<f8", "(3,)", &f8(&[1.0, 3.0, 0.0]));
    let msg = err(&c);
    assert!(msg.contains("[2]") && msg.contains("no example"), "{msg}");
    let mixed: Vec<u8> = [-1i64, 0, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(&yp, 1, "<i8", "(3,)", &mixed);
    assert!(err(&c).contains("label 0 at index 1"), "{}", err(&c));
    // Row counts that differ.
    write_npy(&yp, 1, "<f8", "(2,)", &f8(&[1.0, -1.0]));
    let msg = err(&c);
    assert!(
        msg.contains("x.npy has 3 rows but") && msg.contains("y.npy has 2"),
        "{msg}"
    );
    // y must be 1-D, X 2-D and floating point.
    write_npy(&yp, 1, "<f8", "(3, 1)", &f8(&[1.0, -1.0, 1.0]));
    assert!(err(&c).contains("1-D"), "{}", err(&c));
    write_npy(&yp, 1, "<f8", "(3,)", &f8(&[1.0, -1.0, 1.0]));
    write_npy(&xp, 1, "<i4", "(3, 1)", &[0; 12]);
    assert!(err(&c).contains("<f4 or <f8"), "{}", err(&c));
    write_npy(&xp, 1, "<f8", "(3,)", &f8(&[1.0, 2.0, 3.0]));
    assert!(err(&c).contains("2-D"), "{}", err(&c));

    // Header and data problems, through the public reader.
    let read_err = |p: &Path| read_npy_f64(p).unwrap_err().to_string();
    write_npy(&xp, 1, "<f4", "(3, 2)", &f4(&[1.0; 5]));
    let msg = read_err(&xp);
    assert!(
        msg.contains("x.npy") && msg.contains("24 data bytes"),
        "{msg}"
    );
    write_npy_header(&xp, 1, "{'descr': '<f4', 'fortran_order': False}", &[]);
    assert!(
        read_err(&xp).contains("malformed header"),
        "{}",
        read_err(&xp)
    );
    write_npy_header(
        &xp,
        1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }",
        &[],
    );
    assert!(read_err(&xp).contains("shape"), "{}", read_err(&xp));
    write_npy_header(
        &xp,
        1,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
        &[0; 4],
    );
    assert!(read_err(&xp).contains("fortran_order"), "{}", read_err(&xp));
    write_npy(&xp, 1, ">f8", "(1,)", &[0; 8]);
    assert!(read_err(&xp).contains("big-endian"), "{}", read_err(&xp));
    write_npy(&xp, 1, "<c16", "(1,)", &[0; 16]);
    assert!(read_err(&xp).contains("not supported"), "{}", read_err(&xp));
    std::fs::write(&xp, b"\x93NUMPY\x01\x00\xff\x00{'descr'").unwrap();
    assert!(read_err(&xp).contains("cut short"), "{}", read_err(&xp));
    std::fs::write(&xp, b"not numpy").unwrap();
    assert!(read_err(&xp).contains("magic"), "{}", read_err(&xp));
    let missing = dir.path().join("missing.npy");
    assert!(read_err(&missing).contains("missing.npy"));
}

#[test]
fn synthetic_teacher_is_deterministic_by_seed() {
    let mut c = cfg(DataSource::Synthetic);
    (c.n_train, c.n_test, c.dim) = (500, 100, 10);
    c.seed = None;
    let a = load(&c, 5).unwrap();
    assert_eq!((a.n, a.d, a.n_test), (500, 10, 100));
    assert_eq!((a.x.len(), a.x_test.len()), (5000, 1000));
    assert!(a.y.iter().chain(&a.y_test).all(|&v| v == 1.0 || v == -1.0));
    assert_eq!(a, load(&c, 5).unwrap());
    assert_ne!(a.x, load(&c, 6).unwrap().x);
    // Both classes occur in fair numbers.
    let pos = count(&a.y, 1.0);
    assert!((50..=450).contains(&pos), "{pos} positive of 500");
    // data.seed overrides the run's seed.
    c.seed = Some(5);
    assert_eq!(load(&c, 1).unwrap(), load(&c, 2).unwrap());
}

#[test]
fn synthetic_label_noise_flips_that_fraction_of_training_labels() {
    let mut c = cfg(DataSource::Synthetic);
    (c.n_train, c.n_test) = (2000, 300);
    let clean = load(&c, 0).unwrap();
    c.label_noise = 0.2;
    let noisy = load(&c, 0).unwrap();
    assert_eq!(noisy.x, clean.x, "noise flips labels only");
    assert_eq!(noisy.x_test, clean.x_test);
    assert_eq!(noisy.y_test, clean.y_test, "test labels stay clean");
    let flipped = clean.y.iter().zip(&noisy.y).filter(|(p, q)| p != q).count();
    assert_eq!(flipped, 400);
    c.label_noise = 1.5;
    assert!(load(&c, 0).unwrap_err().to_string().contains("label_noise"));
}

#[test]
fn real_cifar10_files_load_balanced() {
    let dir: PathBuf = crate::common::repo_root().join("../shared/data/cifar10");
    if !dir.is_dir() {
        eprintln!("skipped: {} not present", dir.display());
        return;
    }
    let mut c = cifar_cfg(&dir);
    (c.n_train, c.n_test) = (1000, 200);
    c.downsample = Some(100);
    c.standardize = Standardize::Scalar;
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n, ds.d, ds.n_test), (1000, 100, 200));
    assert_eq!((count(&ds.y, -1.0), count(&ds.y, 1.0)), (500, 500));
    assert_eq!(
        (count(&ds.y_test, -1.0), count(&ds.y_test, 1.0)),
        (100, 100)
    );
    let (m, s) = mean_std(ds.x.iter().copied());
    assert!(m.abs() < 1e-4 && (s - 1.0).abs() < 1e-3, "{m} {s}");
}

#[test]
fn npy_with_zero_training_rows_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = npy_fixture(dir.path());
    write_npy(&dir.path().join("x0.npy"), 1, "<f4", "(0, 2)", &[]);
    write_npy(&dir.path().join("y0.npy"), 1, "<f8", "(0,)", &[]);
    c.x = Some(dir.path().join("x0.npy"));
    c.y = Some(dir.path().join("y0.npy"));
    let err = admm_runner::data::load(&c, 0).unwrap_err().to_string();
    assert!(err.contains("x0.npy") && err.contains("0 rows"), "{err}");
}

#[test]
fn gates_with_nan_or_inf_are_an_error_naming_the_file() {
    use admm_runner::manifest::ProblemSection;
    let dir = tempfile::tempdir().unwrap();
    let ds = small_dataset();
    for (name, bad) in [("nan.npy", f64::NAN), ("inf.npy", f64::INFINITY)] {
        let gates = dir.path().join(name);
        let mut vals = vec![0.5; ds.d * 2];
        vals[1] = bad;
        write_npy(&gates, 1, "<f8", &format!("({}, 2)", ds.d), &f8(&vals));
        let section = ProblemSection {
            patterns: 2,
            beta: 1e-3,
            loss: Default::default(),
            bias: false,
            gates: Some(gates),
        };
        let err = section
            .build::<burn::backend::Flex>(&ds, 0, &Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains("not finite"), "{err}");
    }
}
