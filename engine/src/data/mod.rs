//! The in-memory data set every solver reads, and the synthetic teacher that makes one.
//!
//! Loading files (CIFAR-10, `.npy`) and preprocessing belong to the caller: the engine starts
//! from arrays.

mod synthetic;

pub use synthetic::{generate as teacher_dataset, TeacherSpec};

/// Examples in row-major f32 with labels +1/-1 (two classes) or 0..K-1 (K >= 3 classes).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub n: usize,
    pub d: usize,
    /// n x d, row-major.
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub n_test: usize,
    /// n_test x d, row-major.
    pub x_test: Vec<f32>,
    pub y_test: Vec<f32>,
    /// Number of classes K: 2 means +1/-1 labels, K >= 3 means labels 0..K-1.
    pub classes: usize,
}

/// A data set that cannot be made: the reason, in words that name the setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("data: {0}")]
    Invalid(String),
}
