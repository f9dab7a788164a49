//! A seeded synthetic teacher: Gaussian inputs labelled by a random two-layer ReLU network.
//!
//! Label noise flips labels of the **training set only**: the test labels stay the teacher's
//! own, so test accuracy measures how well the teacher was recovered (and can reach 100%).
//!
//! With K = `TeacherSpec::classes` >= 3 classes the teacher has K outputs (Gaussian output
//! weights) and labels an input with the index of its largest output; noise moves a label to
//! another class drawn uniformly.

use super::{DataError, Dataset};
use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// The random teacher network f(x) = sum_j w2_j relu(x . W1_j).
struct Teacher {
    dim: usize,
    /// `width` rows of `dim` first-layer weights, entries N(0, 1/dim).
    w1: Vec<f64>,
    /// Output weights alternating +1, -1: with only positive weights every label would be +1
    /// (a sum of ReLUs is never negative), and alternating keeps the classes roughly balanced.
    w2: Vec<f64>,
    /// K >= 3: `width` rows of K output weights, N(0, 1); empty for two classes.
    w2_multi: Vec<f64>,
    classes: usize,
}

impl Teacher {
    fn new(dim: usize, width: usize, classes: usize, rng: &mut StdRng) -> Self {
        let scale = (dim as f64).sqrt();
        let w1 = (0..width * dim).map(|_| normal(rng) / scale).collect();
        let w2_multi = if classes > 2 {
            (0..width * classes).map(|_| normal(rng)).collect()
        } else {
            Vec::new()
        };
        Teacher {
            dim,
            w1,
            w2: (0..width)
                .map(|j| if j % 2 == 0 { 1.0 } else { -1.0 })
                .collect(),
            w2_multi,
            classes,
        }
    }

    /// sign(f(x)) for two classes, with f(x) = 0 counted as +1; the index of the largest
    /// output for more.
    fn label(&self, x: &[f32]) -> f32 {
        let hidden: Vec<f64> = self
            .w1
            .chunks(self.dim)
            .map(|w| {
                let z: f64 = w.iter().zip(x).map(|(&a, &b)| a * f64::from(b)).sum();
                z.max(0.0)
            })
            .collect();
        if self.classes > 2 {
            let k = self.classes;
            let out = |c: usize| -> f64 {
                hidden
                    .iter()
                    .enumerate()
                    .map(|(j, h)| h * self.w2_multi[j * k + c])
                    .sum()
            };
            let best = (0..k).fold(0, |b, c| if out(c) > out(b) { c } else { b });
            return best as f32;
        }
        let out: f64 = hidden.iter().zip(&self.w2).map(|(h, v)| v * h).sum();
        if out >= 0.0 {
            1.0
        } else {
            -1.0
        }
    }
}

fn normal(rng: &mut StdRng) -> f64 {
    StandardNormal.sample(rng)
}

/// The synthetic data set: sizes, the teacher's shape and the label noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TeacherSpec {
    /// Training examples.
    pub n_train: usize,
    /// Test examples (never noisy).
    pub n_test: usize,
    /// Input dimension.
    pub dim: usize,
    /// Hidden units of the teacher (at least 2).
    pub teacher_width: usize,
    /// Fraction of training labels flipped, in [0, 1].
    pub label_noise: f64,
    /// Classes K >= 2 (the teacher has one output per class when K >= 3).
    pub classes: usize,
}

/// Draws the training and test sets. The teacher, the training inputs, the test inputs and the
/// label noise each get their own seeded stream, so changing n_test or label_noise does not
/// change the other draws.
pub fn generate(cfg: &TeacherSpec, seed: u64) -> Result<Dataset, DataError> {
    check(cfg)?;
    let mut seeds = StdRng::seed_from_u64(seed);
    let mut stream = || StdRng::seed_from_u64(seeds.random());
    let (mut teacher_rng, mut train_rng, mut test_rng, mut noise_rng) =
        (stream(), stream(), stream(), stream());

    let d = cfg.dim;
    let classes = cfg.classes;
    let teacher = Teacher::new(d, cfg.teacher_width, classes, &mut teacher_rng);
    let (x, mut y) = draw(&teacher, cfg.n_train, &mut train_rng);
    let (x_test, y_test) = draw(&teacher, cfg.n_test, &mut test_rng);
    flip(&mut y, cfg.label_noise, classes, &mut noise_rng);
    Ok(Dataset {
        n: cfg.n_train,
        d,
        x,
        y,
        n_test: cfg.n_test,
        x_test,
        y_test,
        classes,
    })
}

fn check(cfg: &TeacherSpec) -> Result<(), DataError> {
    if cfg.dim == 0 || cfg.n_train == 0 {
        return Err(DataError::Invalid(format!(
            "synthetic data needs dim >= 1 and n_train >= 1 (got dim={}, n_train={})",
            cfg.dim, cfg.n_train
        )));
    }
    if cfg.teacher_width < 2 {
        return Err(DataError::Invalid(format!(
            "teacher_width={} but the synthetic teacher needs at least 2 hidden units \
             (with one, every label is +1)",
            cfg.teacher_width
        )));
    }
    if !(0.0..=1.0).contains(&cfg.label_noise) {
        return Err(DataError::Invalid(format!(
            "label_noise={} is not a fraction in [0, 1]",
            cfg.label_noise
        )));
    }
    Ok(())
}

/// n rows of N(0, 1) inputs and their teacher labels.
fn draw(teacher: &Teacher, n: usize, rng: &mut StdRng) -> (Vec<f32>, Vec<f32>) {
    let x: Vec<f32> = (0..n * teacher.dim).map(|_| normal(rng) as f32).collect();
    let y = x
        .chunks(teacher.dim)
        .map(|row| teacher.label(row))
        .collect();
    (x, y)
}

/// Flips exactly round(fraction * n) labels chosen at random, so the noise level is the one
/// asked for rather than a binomial draw around it. With K >= 3 classes a flipped label moves
/// to one of the other K - 1 classes, uniformly.
fn flip(y: &mut [f32], fraction: f64, classes: usize, rng: &mut StdRng) {
    let count = ((fraction * y.len() as f64).round() as usize).min(y.len());
    for i in index::sample(rng, y.len(), count) {
        y[i] = if classes > 2 {
            let shift = 1 + rng.random_range(0..classes - 1);
            ((y[i] as usize + shift) % classes) as f32
        } else {
            -y[i]
        };
    }
}
