//! Data sources (CIFAR-10 binary, synthetic teacher, .npy) and preprocessing -> one `Dataset`.
//!
//! Every source yields features as f32 and labels as +1/-1 (two classes) or 0..K-1 (K >= 3
//! classes); standardization then uses the training statistics only, so the test set never
//! leaks into the preprocessing.

mod cifar10;
pub(crate) mod fingerprint;
mod gates;
mod npy;
mod preprocess;
mod split;

pub use fingerprint::fingerprint;
pub use gates::ProblemSection;
pub use npy::{read_npy_f64, read_shape};
pub use preprocess::{avg_pool, standardize, Standardization};
pub use split::{split_validation, Holdout};

pub use admm_engine::data::Dataset;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bad or missing data: every message names the file (or manifest key) and the reason.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A data file that cannot be read or does not hold what it should.
    #[error("data file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    /// A `data:` setting that cannot be satisfied (no file involved, or several).
    #[error("data: {0}")]
    Config(String),
    /// The problem cannot be built from this data (the loss does not fit the labels, say).
    #[error(transparent)]
    Problem(#[from] admm_engine::problem::ProblemError),
}

impl DataError {
    pub(crate) fn file(path: &Path, reason: impl ToString) -> Self {
        DataError::File {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn config(reason: impl ToString) -> Self {
        DataError::Config(reason.to_string())
    }
}

/// Loads and preprocesses the dataset a `data:` section describes.
///
/// Random choices (CIFAR-10 subsets, synthetic draws) use `cfg.seed`, or `run_seed` when the
/// manifest does not pin the data seed, so that the same run always sees the same data.
pub fn load(cfg: &DataConfig, run_seed: u64) -> Result<Dataset, DataError> {
    load_fitted(cfg, run_seed).map(|(ds, _)| ds)
}

/// `load`, and the standardization statistics it fitted on the training set (None when the
/// section standardizes nothing): a saved model keeps them to transform new data the same way.
pub fn load_fitted(
    cfg: &DataConfig,
    run_seed: u64,
) -> Result<(Dataset, Option<Standardization>), DataError> {
    let mut ds = load_raw(cfg, run_seed)?;
    let stats = Standardization::fit(&ds, cfg.standardize);
    if let Some(s) = &stats {
        s.apply(&mut ds.x);
        s.apply(&mut ds.x_test);
    }
    Ok((ds, stats))
}

/// The dataset before standardization: CIFAR-10 scaled to [0, 1] and pooled, synthetic draws,
/// or the `.npy` arrays as stored. Prediction and the validation split start here, so that
/// they can fit (or reuse) the statistics themselves.
pub fn load_raw(cfg: &DataConfig, run_seed: u64) -> Result<Dataset, DataError> {
    let cfg = &cfg.located();
    let seed = cfg.seed.unwrap_or(run_seed);
    match cfg.source {
        DataSource::Cifar10 => cifar10::load(cfg, seed),
        DataSource::Synthetic => synthetic(cfg, seed),
        DataSource::Npy => npy::load(cfg),
    }
}

/// The engine's synthetic teacher, as the `data:` section sets it up.
fn synthetic(cfg: &DataConfig, seed: u64) -> Result<Dataset, DataError> {
    let spec = admm_engine::data::TeacherSpec {
        n_train: cfg.n_train,
        n_test: cfg.n_test,
        dim: cfg.dim,
        teacher_width: cfg.teacher_width,
        label_noise: cfg.label_noise,
        classes: cfg.classes.len(),
    };
    admm_engine::data::teacher_dataset(&spec, seed).map_err(|e| match e {
        admm_engine::data::DataError::Invalid(reason) => DataError::Config(reason),
    })
}

/// The sizes a `data:` section produces, known without loading it (for the memory estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shapes {
    pub n: usize,
    /// Features before any bias column.
    pub d: usize,
    pub n_test: usize,
}

/// The sizes `load` would produce: from the manifest for CIFAR-10 and synthetic data, from the
/// `.npy` headers (not the data) for `npy`.
pub fn shapes(cfg: &DataConfig) -> Result<Shapes, DataError> {
    let cfg = &cfg.located();
    Ok(match cfg.source {
        DataSource::Cifar10 => Shapes {
            n: cfg.n_train,
            d: cfg.downsample.unwrap_or(3 * 32 * 32),
            n_test: cfg.n_test,
        },
        DataSource::Synthetic => Shapes {
            n: cfg.n_train,
            d: cfg.dim,
            n_test: cfg.n_test,
        },
        DataSource::Npy => {
            let rows =
                |path: &Option<PathBuf>, wanted: usize| -> Result<(usize, usize), DataError> {
                    let Some(path) = path else { return Ok((0, 0)) };
                    let shape = read_shape(path)?;
                    let all = shape.first().copied().unwrap_or(1);
                    // Checked: a header may declare any shape, (2^64-1, 2^64-1) included.
                    let cols = shape
                        .iter()
                        .skip(1)
                        .try_fold(1usize, |acc, &k| acc.checked_mul(k))
                        .ok_or_else(|| {
                            DataError::file(path, format!("shape {shape:?} is too large"))
                        })?;
                    Ok((if wanted == 0 { all } else { wanted.min(all) }, cols))
                };
            let (n, d) = rows(&cfg.x, cfg.n_train)?;
            let (n_test, _) = rows(&cfg.x_test, cfg.n_test)?;
            Shapes { n, d, n_test }
        }
    })
}

/// Checks, without loading them, that the files a `data:` section names can be found: the
/// CIFAR-10 directory and its files, the `.npy` files (and the features' headers). `run`
/// calls it once per distinct data section before any run starts, so that a wrong path is one
/// error, not a failure per run.
pub fn check(cfg: &DataConfig) -> Result<(), DataError> {
    let cfg = &cfg.located();
    match cfg.source {
        DataSource::Synthetic => Ok(()),
        DataSource::Cifar10 => cifar10::check(cfg),
        DataSource::Npy => {
            shapes(cfg)?;
            let labels = [&cfg.y, &cfg.y_test].into_iter().flatten();
            match labels.into_iter().find(|p| !p.is_file()) {
                Some(p) => Err(DataError::file(p, "no such file")),
                None => Ok(()),
            }
        }
    }
}

/// Where the examples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    Cifar10,
    Synthetic,
    Npy,
}

/// How features are standardized, always with training-set statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Standardize {
    /// One mean and one std over all training features (the authors' choice).
    #[default]
    Scalar,
    /// A mean and std per feature.
    PerFeature,
    None,
}

/// The `data:` section of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub source: DataSource,
    /// cifar10: a `cifar-10-batches-bin` dir or a dir of `.bin` files; defaults to `$CIFAR10_DIR`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// cifar10: explicit training / test `.bin` files (override `path`).
    #[serde(default)]
    pub train_files: Vec<PathBuf>,
    #[serde(default)]
    pub test_files: Vec<PathBuf>,
    /// cifar10: the classes, two or more of 0-9. With two, the first gets label -1 and the
    /// second +1; with more, each gets its position in the list (0..K-1). synthetic: the
    /// teacher has one output per class, so the list's length is the number of classes.
    #[serde(default = "default_classes")]
    pub classes: Vec<u8>,
    pub n_train: usize,
    #[serde(default)]
    pub n_test: usize,
    /// cifar10: number of features after average pooling (None = all 3072).
    #[serde(default)]
    pub downsample: Option<usize>,
    #[serde(default)]
    pub standardize: Standardize,
    /// Seed of subsets / synthetic draws; defaults to the run's seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// synthetic: feature dimension, teacher width, fraction of flipped labels.
    #[serde(default = "default_dim")]
    pub dim: usize,
    #[serde(default = "default_teacher_width")]
    pub teacher_width: usize,
    #[serde(default = "default_label_noise")]
    pub label_noise: f64,
    /// npy: the arrays.
    #[serde(default)]
    pub x: Option<PathBuf>,
    #[serde(default)]
    pub y: Option<PathBuf>,
    #[serde(default)]
    pub x_test: Option<PathBuf>,
    #[serde(default)]
    pub y_test: Option<PathBuf>,
    /// The folder of the manifest this section came from (`manifest::plan` sets it): relative
    /// file names are looked for there first (`located`). Never serialized, so that run ids
    /// and summaries hash and show what the manifest wrote, wherever it is run from.
    #[serde(skip)]
    pub manifest_dir: ManifestDir,
}

/// Where a manifest is: where its relative data paths are looked for first. It is location,
/// not identity: two sections that say the same are equal wherever their manifests are (a
/// YAML and a TOML copy of one manifest plan the same runs), as their run ids are.
#[derive(Debug, Clone, Default)]
pub struct ManifestDir(pub Option<PathBuf>);

impl PartialEq for ManifestDir {
    fn eq(&self, _: &ManifestDir) -> bool {
        true
    }
}

impl DataConfig {
    /// The section with its relative file names resolved: beside the manifest when the file
    /// (or folder) is there, else as written, from the current directory. So a manifest
    /// copied to another folder with its data beside it runs from anywhere, and the
    /// committed manifests, whose paths start at the repository root, still run from there.
    /// `CIFAR10_DIR` is the environment's, never the manifest's, and is left alone.
    pub fn located(&self) -> DataConfig {
        let Some(dir) = self.manifest_dir.0.as_deref() else {
            return self.clone();
        };
        let at = |p: &PathBuf| -> PathBuf {
            let beside = dir.join(p);
            if p.is_relative() && !dir.as_os_str().is_empty() && beside.exists() {
                beside
            } else {
                p.clone()
            }
        };
        let one = |p: &Option<PathBuf>| p.as_ref().map(at);
        DataConfig {
            path: one(&self.path),
            train_files: self.train_files.iter().map(at).collect(),
            test_files: self.test_files.iter().map(at).collect(),
            x: one(&self.x),
            y: one(&self.y),
            x_test: one(&self.x_test),
            y_test: one(&self.y_test),
            manifest_dir: ManifestDir(None),
            ..self.clone()
        }
    }

    /// Ranges serde cannot express, checked at plan time whatever the source (a bad value is a
    /// mistake in the file even where this source does not read it): the first bad field
    /// (relative key) and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.dim == 0 {
            return Err(("dim", "must be at least 1 (0 features)".into()));
        }
        if self.downsample == Some(0) {
            return Err(("downsample", "must be at least 1 (0 features)".into()));
        }
        if let Err(reason) = check_class_list(&self.classes) {
            return Err(("classes", format!("{:?}: {reason}", self.classes)));
        }
        Ok(())
    }
}

fn default_classes() -> Vec<u8> {
    vec![0, 1]
}

/// Why a class list is not usable: fewer than two classes, one outside 0-9, or a repeat.
pub(crate) fn check_class_list(classes: &[u8]) -> Result<(), String> {
    if classes.len() < 2 {
        return Err("give at least two classes".into());
    }
    if let Some(c) = classes.iter().find(|&&c| c > 9) {
        return Err(format!("class {c} is not one of CIFAR-10's classes 0-9"));
    }
    for (i, c) in classes.iter().enumerate() {
        if classes[..i].contains(c) {
            return Err(format!(
                "class {c} is listed twice: the classes must differ"
            ));
        }
    }
    Ok(())
}
fn default_dim() -> usize {
    20
}
fn default_teacher_width() -> usize {
    8
}
fn default_label_noise() -> f64 {
    0.05
}
