//! A seeded synthetic teacher: Gaussian inputs labelled by a random two-layer ReLU network, with
//! a fraction of labels flipped (in the training and the test set alike).

use super::{DataConfig, Dataset};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

pub fn generate(cfg: &DataConfig, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = cfg.dim.max(1);
    let m = cfg.teacher_width.max(1);
    let normal = |rng: &mut StdRng| -> f64 { StandardNormal.sample(rng) };
    let w1: Vec<f64> = (0..d * m)
        .map(|_| normal(&mut rng) / (d as f64).sqrt())
        .collect();
    let w2: Vec<f64> = (0..m)
        .map(|j| if j % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let draw = |n: usize, rng: &mut StdRng| {
        let x: Vec<f32> = (0..n * d).map(|_| normal(rng) as f32).collect();
        let y: Vec<f32> = x
            .chunks(d)
            .map(|row| {
                let out: f64 = (0..m)
                    .map(|j| {
                        let z: f64 = row
                            .iter()
                            .enumerate()
                            .map(|(a, &v)| f64::from(v) * w1[a * m + j])
                            .sum();
                        z.max(0.0) * w2[j]
                    })
                    .sum();
                let label = if out >= 0.0 { 1.0 } else { -1.0 };
                if rng.random::<f64>() < cfg.label_noise {
                    -label
                } else {
                    label
                }
            })
            .collect();
        (x, y)
    };
    let (x, y) = draw(cfg.n_train, &mut rng);
    let (x_test, y_test) = draw(cfg.n_test, &mut rng);
    Dataset {
        n: cfg.n_train,
        d,
        x,
        y,
        n_test: cfg.n_test,
        x_test,
        y_test,
    }
}
