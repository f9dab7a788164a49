//! CIFAR-10 in its binary format: records of 1 label byte + 3072 pixel bytes (R, G, B planes of
//! 32 x 32, row-major). Two classes, seeded class-balanced subsets, [0, 1] scaling, pooling.

use super::preprocess::avg_pool;
use super::{DataConfig, DataError, Dataset};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

const PIXELS: usize = 3072;
const RECORD: usize = PIXELS + 1;
const SIDE: usize = 32;

/// One decoded record.
struct Image {
    label: u8,
    pixels: Vec<u8>,
}

/// Loads the train and test subsets described by `cfg`.
pub fn load(cfg: &DataConfig, seed: u64) -> Result<Dataset, DataError> {
    let (train_files, test_files) = resolve_files(cfg)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let features = Features::new(cfg.downsample)?;
    let (x, y) = subset(&train_files, cfg, cfg.n_train, &features, &mut rng)?;
    let (x_test, y_test) = if cfg.n_test > 0 {
        if test_files.is_empty() {
            return Err(DataError::Config(format!(
                "n_test = {} but no CIFAR-10 test file was found (give data.test_files)",
                cfg.n_test
            )));
        }
        subset(&test_files, cfg, cfg.n_test, &features, &mut rng)?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Dataset {
        n: y.len(),
        d: features.dim,
        x,
        y,
        n_test: y_test.len(),
        x_test,
        y_test,
    })
}

/// Training and test files: explicit lists, or found in `path` / `$CIFAR10_DIR`.
fn resolve_files(cfg: &DataConfig) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    if !cfg.train_files.is_empty() {
        return Ok((cfg.train_files.clone(), cfg.test_files.clone()));
    }
    let dir = match &cfg.path {
        Some(p) => p.clone(),
        None => std::env::var_os("CIFAR10_DIR")
            .map(PathBuf::from)
            .ok_or_else(|| {
                DataError::Config(
                    "CIFAR-10 location not set: give data.path in the manifest or set CIFAR10_DIR"
                        .into(),
                )
            })?,
    };
    let nested = dir.join("cifar-10-batches-bin");
    let dir = if nested.is_dir() { nested } else { dir };
    let names = list_bin(&dir)?;
    let pick = |official: &dyn Fn(&str) -> bool, ours: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
        let chosen: Vec<&String> = if names.iter().any(|n| official(n)) {
            names.iter().filter(|n| official(n)).collect()
        } else {
            names.iter().filter(|n| ours(n)).collect()
        };
        chosen.into_iter().map(|n| dir.join(n)).collect()
    };
    let train = pick(&|n| n.starts_with("data_batch_"), &|n| n.contains("train"));
    let test = pick(&|n| n == "test_batch.bin", &|n| {
        n.contains("test") && !n.contains("subset")
    });
    if train.is_empty() {
        return Err(DataError::file(
            &dir,
            "no CIFAR-10 training file (data_batch_*.bin or *train*.bin) in this directory",
        ));
    }
    Ok((train, test))
}

fn list_bin(dir: &Path) -> Result<Vec<String>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::file(dir, e))?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads every record of the files, checking sizes and labels.
fn read_records(files: &[PathBuf]) -> Result<Vec<Image>, DataError> {
    let mut images = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| DataError::file(path, e))?;
        if bytes.len() % RECORD != 0 {
            let k = bytes.len() / RECORD;
            return Err(DataError::file(
                path,
                format!(
                    "truncated record {k} (got {} of {RECORD} bytes): not a CIFAR-10 binary file?",
                    bytes.len() % RECORD
                ),
            ));
        }
        for (k, rec) in bytes.chunks(RECORD).enumerate() {
            if rec[0] > 9 {
                return Err(DataError::file(
                    path,
                    format!(
                        "record {k}: label byte {} is not a CIFAR-10 class (0-9)",
                        rec[0]
                    ),
                ));
            }
            images.push(Image {
                label: rec[0],
                pixels: rec[1..].to_vec(),
            });
        }
    }
    Ok(images)
}

/// A class-balanced seeded subset of `n` images of the two classes, in shuffled order.
fn subset(
    files: &[PathBuf],
    cfg: &DataConfig,
    n: usize,
    features: &Features,
    rng: &mut StdRng,
) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    let images = read_records(files)?;
    let [a, b] = cfg.classes;
    let mut chosen = Vec::with_capacity(n);
    // Class b takes the extra example when n is odd.
    for (class, want, label) in [(a, n / 2, -1.0f32), (b, n - n / 2, 1.0)] {
        let mut idx: Vec<usize> = (0..images.len())
            .filter(|&i| images[i].label == class)
            .collect();
        if idx.len() < want {
            let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            return Err(DataError::Config(format!(
                "{want} examples of class {class} wanted but only {} in {}",
                idx.len(),
                list.join(", ")
            )));
        }
        idx.shuffle(rng);
        chosen.extend(idx.into_iter().take(want).map(|i| (i, label)));
    }
    chosen.shuffle(rng);
    let mut x = Vec::with_capacity(n * features.dim);
    let mut y = Vec::with_capacity(n);
    for (i, label) in chosen {
        x.extend(features.extract(&images[i].pixels));
        y.push(label);
    }
    Ok((x, y))
}

/// How raw pixels become features: [0, 1] scaling, then optional average pooling.
struct Features {
    dim: usize,
    /// (grey, k): pool to k x k per channel, or to k x k grey.
    pool: Option<(bool, usize)>,
}

impl Features {
    fn new(downsample: Option<usize>) -> Result<Self, DataError> {
        let Some(d) = downsample else {
            return Ok(Features {
                dim: PIXELS,
                pool: None,
            });
        };
        let root = |m: usize| (1..=SIDE).find(|k| k * k == m);
        let pool = if d % 3 == 0 {
            root(d / 3).map(|k| (false, k))
        } else {
            None
        }
        .or_else(|| root(d).map(|k| (true, k)));
        match pool {
            Some(p) => Ok(Features {
                dim: d,
                pool: Some(p),
            }),
            None => {
                let mut valid: Vec<usize> = (1..=SIDE).flat_map(|k| [k * k, 3 * k * k]).collect();
                valid.sort_by_key(|v| v.abs_diff(d));
                Err(DataError::Config(format!(
                    "downsample = {d} is not k*k (grey) or 3*k*k (colour) for k <= 32; nearest valid: {}",
                    valid[..4].iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                )))
            }
        }
    }

    fn extract(&self, pixels: &[u8]) -> Vec<f32> {
        let scaled: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let plane = SIDE * SIDE;
        match self.pool {
            None => scaled,
            Some((false, k)) => scaled
                .chunks(plane)
                .flat_map(|ch| avg_pool(ch, SIDE, k))
                .collect(),
            Some((true, k)) => {
                let grey: Vec<f32> = (0..plane)
                    .map(|i| (scaled[i] + scaled[plane + i] + scaled[2 * plane + i]) / 3.0)
                    .collect();
                avg_pool(&grey, SIDE, k)
            }
        }
    }
}
