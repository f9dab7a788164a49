//! CIFAR-10 in its binary format: records of 1 label byte + 3072 pixel bytes (R, G, B planes of
//! 32 x 32, row-major). Two or more classes, seeded class-balanced subsets, [0, 1] scaling,
//! pooling.

use super::preprocess::PoolWeights;
use super::{DataConfig, DataError, Dataset};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;
const PIXELS: usize = 3 * PLANE;
const RECORD: usize = PIXELS + 1;
/// Labels 0-9 are the ten CIFAR-10 classes; any other byte means the file is not CIFAR-10.
const CLASSES: u8 = 10;

/// The pixels of one kept record and its label (`class_label`).
struct Image {
    label: f32,
    pixels: Vec<u8>,
}

/// Loads the train and test subsets described by `cfg`.
pub fn load(cfg: &DataConfig, seed: u64) -> Result<Dataset, DataError> {
    check_classes(&cfg.classes)?;
    if cfg.n_train == 0 {
        return Err(DataError::config("n_train must be at least 1 for cifar10"));
    }
    // Checked before any file is read: a bad setting should not wait for a 150 MB read.
    let features = Features::new(cfg.downsample)?;
    let (train_files, test_files) = resolve_files(cfg)?;
    // Separate streams, so that the test subset does not depend on n_train.
    let mut seeds = StdRng::seed_from_u64(seed);
    let (train_seed, test_seed): (u64, u64) = (seeds.random(), seeds.random());

    let (x, y) = split(
        &train_files,
        cfg.n_train,
        "n_train",
        &cfg.classes,
        &features,
        train_seed,
    )?;
    let (x_test, y_test) = if cfg.n_test == 0 {
        (Vec::new(), Vec::new())
    } else {
        split(
            &test_files,
            cfg.n_test,
            "n_test",
            &cfg.classes,
            &features,
            test_seed,
        )?
    };
    Ok(Dataset {
        n: y.len(),
        d: features.dim,
        x,
        y,
        n_test: y_test.len(),
        x_test,
        y_test,
        classes: cfg.classes.len(),
    })
}

fn check_classes(classes: &[u8]) -> Result<(), DataError> {
    super::check_class_list(classes)
        .map_err(|reason| DataError::config(format!("classes = {classes:?}: {reason}")))
}

/// The label of the k-th class of the list: -1 and +1 for two classes (the first is -1), the
/// position 0..K-1 for more.
pub fn class_label(k: usize, classes: usize) -> f32 {
    match (classes, k) {
        (2, 0) => -1.0,
        (2, _) => 1.0,
        _ => k as f32,
    }
}

/// Finds the training and test files (`data.path`, `$CIFAR10_DIR` or the explicit lists) and
/// checks that each is a file, without reading them (`super::check`).
pub(super) fn check(cfg: &DataConfig) -> Result<(), DataError> {
    let (train, test) = resolve_files(cfg)?;
    match train.iter().chain(&test).find(|f| !f.is_file()) {
        Some(f) => Err(DataError::file(f, "no such file")),
        None => Ok(()),
    }
}

/// Training and test files: the explicit lists where given, else found in the directory.
/// The directory is only consulted for a list that is needed and not given, so explicit files
/// work without `data.path` or `$CIFAR10_DIR`.
pub(super) fn resolve_files(cfg: &DataConfig) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let need_test = cfg.n_test > 0 && cfg.test_files.is_empty();
    if !cfg.train_files.is_empty() && !need_test {
        return Ok((cfg.train_files.clone(), cfg.test_files.clone()));
    }
    let dir = data_dir(cfg)?;
    let (found_train, found_test) = find_in_dir(&dir)?;
    let train = if cfg.train_files.is_empty() {
        found_train
    } else {
        cfg.train_files.clone()
    };
    let test = if cfg.test_files.is_empty() {
        found_test
    } else {
        cfg.test_files.clone()
    };
    if train.is_empty() {
        return Err(DataError::file(
            &dir,
            "no CIFAR-10 training file here (data_batch_*.bin or *train*.bin)",
        ));
    }
    if cfg.n_test > 0 && test.is_empty() {
        return Err(DataError::file(
            &dir,
            format!(
                "n_test = {} but no CIFAR-10 test file here (test_batch.bin or *test*.bin); \
                 give data.test_files or set n_test: 0",
                cfg.n_test
            ),
        ));
    }
    Ok((train, test))
}

/// `data.path`, else `$CIFAR10_DIR`; descends into `cifar-10-batches-bin` when the official
/// archive was extracted there.
fn data_dir(cfg: &DataConfig) -> Result<PathBuf, DataError> {
    let dir = match &cfg.path {
        Some(p) => p.clone(),
        None => std::env::var_os("CIFAR10_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                DataError::config(
                    "CIFAR-10 location not set: give data.path in the manifest or set CIFAR10_DIR",
                )
            })?,
    };
    let nested = dir.join("cifar-10-batches-bin");
    Ok(if nested.is_dir() { nested } else { dir })
}

/// The official layout (`data_batch_*.bin`, `test_batch.bin`) if present, else ours
/// (`*train*.bin`, `*test*.bin` without "subset", which is a partial copy of the test set).
fn find_in_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let names = list_bin(dir)?;
    let official = names.iter().any(|n| n.starts_with("data_batch_"));
    let pick = |keep: fn(&str, bool) -> bool| -> Vec<PathBuf> {
        names
            .iter()
            .filter(|n| keep(n, official))
            .map(|n| dir.join(n))
            .collect()
    };
    Ok((pick(is_train_file), pick(is_test_file)))
}

fn is_train_file(name: &str, official: bool) -> bool {
    if official {
        name.starts_with("data_batch_")
    } else {
        name.contains("train")
    }
}

fn is_test_file(name: &str, official: bool) -> bool {
    if official {
        name == "test_batch.bin"
    } else {
        name.contains("test") && !name.contains("subset")
    }
}

/// The `.bin` file names in `dir`, sorted so that the record order is reproducible.
fn list_bin(dir: &Path) -> Result<Vec<String>, DataError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| DataError::file(dir, format!("cannot list the CIFAR-10 directory: {e}")))?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    names.sort();
    Ok(names)
}

/// The pixels of the records of each class of the list, in file order.
/// Every record is checked, so a corrupt file fails even where its bad part is not kept.
fn read_classes(files: &[PathBuf], classes: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, DataError> {
    let mut kept: Vec<Vec<Vec<u8>>> = vec![Vec::new(); classes.len()];
    for path in files {
        let bytes = read_bin(path)?;
        for (k, rec) in bytes.chunks_exact(RECORD).enumerate() {
            let label = rec[0];
            if label >= CLASSES {
                return Err(DataError::file(
                    path,
                    format!("record {k}: label byte {label} is not a CIFAR-10 class (0-9)"),
                ));
            }
            if let Some(k) = classes.iter().position(|&c| c == label) {
                kept[k].push(rec[1..].to_vec());
            }
        }
    }
    Ok(kept)
}

/// A CIFAR-10 binary file, read only when it is a regular file whose size is a whole number
/// of records (checked before reading: a FIFO or a device is refused, not read without end).
fn read_bin(path: &Path) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    let file = crate::results::safe::open_regular(path).map_err(|e| DataError::file(path, e))?;
    let len = file.metadata().map_err(|e| DataError::file(path, e))?.len();
    check_size(path, usize::try_from(len).unwrap_or(usize::MAX))?;
    let mut bytes = Vec::new();
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::file(path, e))?;
    check_size(path, bytes.len())?;
    Ok(bytes)
}

fn check_size(path: &Path, len: usize) -> Result<(), DataError> {
    let rest = len % RECORD;
    if len == 0 {
        return Err(DataError::file(path, "empty file: no CIFAR-10 record"));
    }
    if rest != 0 {
        return Err(DataError::file(
            path,
            format!(
                "truncated record {} (got {rest} of {RECORD} bytes): a CIFAR-10 binary file \
                 is a whole number of {RECORD}-byte records",
                len / RECORD
            ),
        ));
    }
    Ok(())
}

/// Features and labels of a seeded class-balanced subset of `n` images of `files`; `key` is the
/// manifest key of `n`, for the error message.
fn split(
    files: &[PathBuf],
    n: usize,
    key: &str,
    classes: &[u8],
    features: &Features,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    let by_class = read_classes(files, classes)?;
    for (c, want) in balanced(n, classes.len()).into_iter().enumerate() {
        if by_class[c].len() < want {
            return Err(DataError::config(format!(
                "{key}={n} needs {want} examples of class {} but there are only {} in {}",
                classes[c],
                by_class[c].len(),
                file_list(files)
            )));
        }
    }
    Ok(features.extract_all(&subset(&by_class, n, seed)))
}

/// Images per class in a balanced subset of n from K classes: n / K each, the last n % K
/// classes one more (for two classes: n/2 of the first, the rest of the second).
fn balanced(n: usize, k: usize) -> Vec<usize> {
    (0..k)
        .map(|c| n / k + usize::from(c >= k - n % k))
        .collect()
}

/// A seeded class-balanced subset of `n` images (`balanced`), labelled by `class_label`, then
/// shuffled so that the classes mix. Selection is by shuffle, never "the first n", because a
/// file may be sorted by class. The caller has checked that each class has enough images.
fn subset(by_class: &[Vec<Vec<u8>>], n: usize, seed: u64) -> Vec<Image> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chosen: Vec<Image> = Vec::with_capacity(n);
    let k = by_class.len();
    for (c, (have, want)) in by_class.iter().zip(balanced(n, k)).enumerate() {
        let label = class_label(c, k);
        let mut idx: Vec<usize> = (0..have.len()).collect();
        idx.shuffle(&mut rng);
        chosen.extend(idx[..want].iter().map(|&i| Image {
            label,
            pixels: have[i].clone(),
        }));
    }
    chosen.shuffle(&mut rng);
    chosen
}

fn file_list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

/// How raw pixels become features: [0, 1] scaling, then optional average pooling.
struct Features {
    dim: usize,
    pool: Pool,
}

enum Pool {
    /// All 3072 scaled pixels.
    None,
    /// Each colour plane pooled to k x k, channel-major like the raw record.
    Colour(PoolWeights),
    /// The channel mean pooled to k x k.
    Grey(PoolWeights),
}

impl Features {
    /// d = 3k^2 pools each channel to k x k; otherwise a square d = k^2 pools grey to k x k.
    fn new(downsample: Option<usize>) -> Result<Self, DataError> {
        let Some(d) = downsample else {
            return Ok(Features {
                dim: PIXELS,
                pool: Pool::None,
            });
        };
        let side = |m: usize| (1..=SIDE).find(|k| k * k == m);
        let pool = match d.is_multiple_of(3).then(|| side(d / 3)).flatten() {
            Some(k) => Pool::Colour(PoolWeights::new(SIDE, k)),
            None => match side(d) {
                Some(k) => Pool::Grey(PoolWeights::new(SIDE, k)),
                None => return Err(bad_downsample(d)),
            },
        };
        Ok(Features { dim: d, pool })
    }

    /// The n x d feature matrix (row-major) and the labels of `images`.
    fn extract_all(&self, images: &[Image]) -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::with_capacity(images.len() * self.dim);
        for im in images {
            x.extend(self.extract(&im.pixels));
        }
        (x, images.iter().map(|im| im.label).collect())
    }

    fn extract(&self, pixels: &[u8]) -> Vec<f32> {
        let scaled: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        match &self.pool {
            Pool::None => scaled,
            Pool::Colour(w) => scaled.chunks(PLANE).flat_map(|ch| w.apply(ch)).collect(),
            Pool::Grey(w) => {
                let (r, rest) = scaled.split_at(PLANE);
                let (g, b) = rest.split_at(PLANE);
                let grey: Vec<f32> = (0..PLANE).map(|i| (r[i] + g[i] + b[i]) / 3.0).collect();
                w.apply(&grey)
            }
        }
    }
}

/// The error for a feature count pooling cannot produce, with the nearest ones it can.
fn bad_downsample(d: usize) -> DataError {
    let mut valid: Vec<usize> = (1..=SIDE).flat_map(|k| [k * k, 3 * k * k]).collect();
    valid.sort_by_key(|&v| (v.abs_diff(d), v));
    let mut nearest = valid[..4].to_vec();
    nearest.sort_unstable();
    let nearest: Vec<String> = nearest.iter().map(|v| v.to_string()).collect();
    DataError::config(format!(
        "data.downsample = {d} cannot be pooled to: use k*k (grey k x k) or 3*k*k (colour \
         k x k) with k <= 32; nearest valid values: {}",
        nearest.join(", ")
    ))
}
