//! Data loading on generated fixtures in the official formats.

use admm_runner::data::{avg_pool, load, read_npy_f64, DataConfig, DataSource, Standardize};
use std::path::{Path, PathBuf};

/// Writes CIFAR-10 binary records; image k of class c has every pixel = (c * 100 + k) % 256.
fn write_cifar(path: &Path, labels: &[u8]) {
    let mut bytes = Vec::new();
    for (k, &c) in labels.iter().enumerate() {
        bytes.push(c);
        bytes.extend(std::iter::repeat_n(
            ((c as usize * 100 + k) % 256) as u8,
            3072,
        ));
    }
    std::fs::write(path, bytes).unwrap();
}

fn cfg(source: DataSource) -> DataConfig {
    DataConfig {
        source,
        path: None,
        train_files: vec![],
        test_files: vec![],
        classes: [0, 1],
        n_train: 8,
        n_test: 4,
        downsample: None,
        standardize: Standardize::None,
        seed: Some(1),
        dim: 5,
        teacher_width: 3,
        label_noise: 0.0,
        x: None,
        y: None,
        x_test: None,
        y_test: None,
    }
}

/// A directory with a training file (classes 0, 1 and 2 mixed) and a test file sorted by class.
fn cifar_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let train: Vec<u8> = (0..30).map(|i| [0u8, 1, 2][i % 3]).collect();
    write_cifar(&dir.path().join("my_train_c012.bin"), &train);
    write_cifar(&dir.path().join("my_test.bin"), &[0, 0, 0, 0, 1, 1, 1, 1]);
    write_cifar(&dir.path().join("my_test_exact_subset.bin"), &[7]);
    let p = dir.path().to_path_buf();
    (dir, p)
}

#[test]
fn cifar_shapes_labels_and_balance() {
    let (_keep, dir) = cifar_dir();
    let mut c = cfg(DataSource::Cifar10);
    c.path = Some(dir);
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n, ds.d, ds.n_test), (8, 3072, 4));
    assert_eq!(ds.x.len(), 8 * 3072);
    assert_eq!(ds.y.iter().filter(|&&v| v == 1.0).count(), 4);
    assert_eq!(ds.y.iter().filter(|&&v| v == -1.0).count(), 4);
    assert_eq!(
        ds.y_test.iter().filter(|&&v| v == 1.0).count(),
        2,
        "test subset is balanced although the file is sorted"
    );
    assert!(ds.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // Class 0 pixels are below 100/255, class 1 pixels in [100, 130)/255: labels follow pixels.
    for (row, &label) in ds.x.chunks(3072).zip(&ds.y) {
        let class1 = (row[0] * 255.0).round() >= 100.0;
        assert_eq!(label, if class1 { 1.0 } else { -1.0 });
    }
}

#[test]
fn subsets_are_seeded() {
    let (_keep, dir) = cifar_dir();
    let mut c = cfg(DataSource::Cifar10);
    c.path = Some(dir);
    let a = load(&c, 0).unwrap();
    let b = load(&c, 0).unwrap();
    assert_eq!(a, b);
    c.seed = Some(2);
    let other = load(&c, 0).unwrap();
    assert_ne!(a.x, other.x);
}

#[test]
fn standardization_uses_training_statistics() {
    let (_keep, dir) = cifar_dir();
    let mut c = cfg(DataSource::Cifar10);
    c.path = Some(dir);
    c.downsample = Some(4);
    for how in [Standardize::Scalar, Standardize::PerFeature] {
        c.standardize = how;
        let ds = load(&c, 0).unwrap();
        let mean: f64 = ds.x.iter().map(|&v| f64::from(v)).sum::<f64>() / ds.x.len() as f64;
        let var: f64 =
            ds.x.iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / ds.x.len() as f64;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "{how:?}: mean {mean} var {var}"
        );
        // The test set is transformed with the training statistics, not its own.
        let raw = {
            let mut r = c.clone();
            r.standardize = Standardize::None;
            load(&r, 0).unwrap()
        };
        let tm: f64 = raw.x.iter().map(|&v| f64::from(v)).sum::<f64>() / raw.x.len() as f64;
        let ts = (raw
            .x
            .iter()
            .map(|&v| (f64::from(v) - tm).powi(2))
            .sum::<f64>()
            / raw.x.len() as f64)
            .sqrt();
        if how == Standardize::Scalar {
            let expect = (f64::from(raw.x_test[0]) - tm) / ts;
            assert!((f64::from(ds.x_test[0]) - expect).abs() < 1e-4);
        }
    }
}

#[test]
fn pooling_matches_hand_computation() {
    // A 4x4 plane pooled to 2x2 averages 2x2 blocks; to 3x3 weights partial overlaps by area.
    let plane: Vec<f32> = (0..16).map(|v| v as f32).collect();
    assert_eq!(avg_pool(&plane, 4, 2), vec![2.5, 4.5, 10.5, 12.5]);
    let p3 = avg_pool(&plane, 4, 3);
    // Output (0,0) covers rows/cols [0, 4/3): weights 3/4 on index 0, 1/4 on index 1.
    let expect = 0.75 * 0.75 * 0.0 + 0.75 * 0.25 * 1.0 + 0.25 * 0.75 * 4.0 + 0.25 * 0.25 * 5.0;
    assert!((p3[0] - expect).abs() < 1e-6);
    assert!(avg_pool(&[7.0; 1024], 32, 10)
        .iter()
        .all(|&v| (v - 7.0).abs() < 1e-5));
    // Grey pooling to d = 100 and colour pooling to d = 3*4*4.
    let (_keep, dir) = cifar_dir();
    let mut c = cfg(DataSource::Cifar10);
    c.path = Some(dir);
    c.downsample = Some(100);
    assert_eq!(load(&c, 0).unwrap().d, 100);
    c.downsample = Some(48);
    assert_eq!(load(&c, 0).unwrap().d, 48);
    c.downsample = Some(101);
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("downsample") && msg.contains("100"), "{msg}");
}

#[test]
fn truncated_file_and_bad_label_are_clear_errors() {
    let (_keep, dir) = cifar_dir();
    let train = dir.join("my_train_c012.bin");
    let mut bytes = std::fs::read(&train).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&train, &bytes).unwrap();
    let mut c = cfg(DataSource::Cifar10);
    c.path = Some(dir.clone());
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(
        msg.contains("my_train_c012.bin") && msg.contains("truncated"),
        "{msg}"
    );
    write_cifar(&train, &[0, 1, 12, 0]);
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("label byte 12"), "{msg}");
    write_cifar(&train, &[0, 1, 0, 1]);
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(
        msg.contains("4 examples of class 0") && msg.contains("only 2"),
        "{msg}"
    );
    c.path = None;
    std::env::remove_var("CIFAR10_DIR");
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("CIFAR10_DIR"), "{msg}");
}

fn write_npy(path: &Path, descr: &str, shape: &str, data: &[u8]) {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn npy_round_trips_and_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let f4: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0, 1.0, 2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let f8: Vec<u8> = [1.0f64, 0.0, 1.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_npy(&dir.path().join("x.npy"), "<f4", "(3, 2)", &f4);
    write_npy(&dir.path().join("y.npy"), "<f8", "(3,)", &f8);
    let (vals, shape) = read_npy_f64(&dir.path().join("x.npy")).unwrap();
    assert_eq!(shape, vec![3, 2]);
    assert_eq!(vals, vec![1.5, -2.0, 3.25, 0.0, 1.0, 2.0]);
    let mut c = cfg(DataSource::Npy);
    c.n_train = 0;
    c.x = Some(dir.path().join("x.npy"));
    c.y = Some(dir.path().join("y.npy"));
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n, ds.d), (3, 2));
    assert_eq!(ds.y, vec![1.0, -1.0, 1.0]);
    // A bad label, a shape mismatch, a broken header.
    let bad: Vec<u8> = [1.0f64, 3.0, 1.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_npy(&dir.path().join("y.npy"), "<f8", "(3,)", &bad);
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(
        msg.contains("y.npy") && msg.contains("label 3") && msg.contains("index 1"),
        "{msg}"
    );
    write_npy(&dir.path().join("y.npy"), "<f8", "(2,)", &bad[..16]);
    let msg = load(&c, 0).unwrap_err().to_string();
    assert!(msg.contains("y.npy") && msg.contains("(3,)"), "{msg}");
    write_npy(&dir.path().join("x.npy"), "<f4", "(3, 2)", &f4[..20]);
    let msg = read_npy_f64(&dir.path().join("x.npy"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("x.npy") && msg.contains("24 data bytes"),
        "{msg}"
    );
    std::fs::write(dir.path().join("x.npy"), b"not numpy").unwrap();
    assert!(read_npy_f64(&dir.path().join("x.npy"))
        .unwrap_err()
        .to_string()
        .contains("magic"));
}

#[test]
fn synthetic_teacher_is_seeded_and_noisy_as_asked() {
    let mut c = cfg(DataSource::Synthetic);
    c.n_train = 2000;
    c.n_test = 10;
    c.seed = None;
    let a = load(&c, 5).unwrap();
    assert_eq!(a, load(&c, 5).unwrap());
    assert_ne!(a, load(&c, 6).unwrap());
    c.label_noise = 0.2;
    let noisy = load(&c, 5).unwrap();
    assert_eq!(noisy.x, a.x, "noise flips labels only");
    let flipped = a.y.iter().zip(&noisy.y).filter(|(p, q)| p != q).count() as f64 / 2000.0;
    assert!((flipped - 0.2).abs() < 0.04, "flipped fraction {flipped}");
}

#[test]
fn real_cifar10_files_load_balanced() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10");
    if !dir.is_dir() {
        eprintln!("skipped: {} not present", dir.display());
        return;
    }
    let mut c = cfg(DataSource::Cifar10);
    c.path = Some(dir);
    c.n_train = 1000;
    c.n_test = 200;
    c.downsample = Some(100);
    c.standardize = Standardize::Scalar;
    let ds = load(&c, 0).unwrap();
    assert_eq!((ds.n, ds.d, ds.n_test), (1000, 100, 200));
    assert_eq!(ds.y.iter().filter(|&&v| v == 1.0).count(), 500);
    assert_eq!(ds.y_test.iter().filter(|&&v| v == 1.0).count(), 100);
}
