//! The engine's own tests of the problem: the matrix-free operators against the dense A formed independently on the host, and the
//! adjoint identities <F u, r> = <u, F^T r>, <G u, T> = <u, G^T T>.

use super::{dedupe, gram, Problem, ProblemConfig};
use crate::admm::usolve::exact::{blocks_to_vec, dense_a};
use crate::data::{teacher_dataset, Dataset, TeacherSpec};
use crate::tensor::{scalar, tensor2, to_host};
use burn::backend::NdArray;
use burn::tensor::{Distribution, Tensor};

type F64 = NdArray<f64>;

/// A small teacher problem without a bias column (the identities hold for any data).
fn small() -> (Dataset, ProblemConfig) {
    let spec = TeacherSpec {
        n_train: 40,
        n_test: 0,
        dim: 5,
        teacher_width: 4,
        label_noise: 0.0,
        classes: 2,
    };
    let cfg = ProblemConfig {
        patterns: 6,
        beta: 0.01,
        bias: false,
        ..ProblemConfig::default()
    };
    (teacher_dataset(&spec, 3).unwrap(), cfg)
}

fn fixture_problem() -> Problem<F64> {
    let (data, cfg) = small();
    Problem::<F64>::new(&data, &cfg, 0, &Default::default()).unwrap()
}

#[test]
fn matrix_free_a_equals_dense_a() {
    let prob = fixture_problem();
    let rho = 0.3;
    let u: Tensor<F64, 2> = Tensor::random(
        [prob.d, 2 * prob.p],
        Distribution::Normal(0.0, 1.0),
        &prob.device,
    );
    let au = blocks_to_vec(prob.apply_a(&u, rho));
    let a = dense_a(&prob, rho);
    let uv = blocks_to_vec(u);
    let dense: Vec<f64> = (0..uv.len())
        .map(|i| (0..uv.len()).map(|j| a[(i, j)] * uv[j]).sum())
        .collect();
    let err: f64 = au
        .iter()
        .zip(&dense)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = dense.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(err / norm < 1e-6, "relative error {}", err / norm);
}

#[test]
fn operators_are_adjoint() {
    let prob = fixture_problem();
    let dev = &prob.device;
    let u: Tensor<F64, 2> =
        Tensor::random([prob.d, 2 * prob.p], Distribution::Normal(0.0, 1.0), dev);
    let r: Tensor<F64, 2> = Tensor::random([prob.n, 1], Distribution::Normal(0.0, 1.0), dev);
    let t: Tensor<F64, 2> =
        Tensor::random([prob.n, 2 * prob.p], Distribution::Normal(0.0, 1.0), dev);
    let lhs = scalar(prob.f(&u) * r.clone());
    let rhs = scalar(u.clone() * prob.ft(&r));
    assert!(
        (lhs - rhs).abs() <= 1e-9 * lhs.abs().max(1.0),
        "{lhs} vs {rhs}"
    );
    let lhs = scalar(prob.g(&u) * t.clone());
    let rhs = scalar(u.clone() * prob.gt(&t));
    assert!(
        (lhs - rhs).abs() <= 1e-9 * lhs.abs().max(1.0),
        "{lhs} vs {rhs}"
    );
    // G^T G U = K U because (2D - I)^2 = I.
    let gtg = blocks_to_vec(prob.gt(&prob.g(&u)));
    let ku = blocks_to_vec(prob.k.clone().matmul(u));
    let diff: f64 = gtg
        .iter()
        .zip(&ku)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-9, "G^T G U differs from K U by {diff}");
}

#[test]
fn duplicate_patterns_are_dropped_and_counted() {
    // 3 samples, 2-dim, 4 gates: gates 0 and 2 are identical, gate 3 is gate 1 scaled.
    let gates = vec![1.0, -1.0, 1.0, -2.0, 0.5, 0.5, 0.5, 1.0];
    let x = [1.0f32, 0.0, 0.0, 1.0, -1.0, -1.0];
    let mut mask = vec![0.0f32; 12];
    for i in 0..3 {
        for j in 0..4 {
            let dot = x[2 * i] * gates[j] + x[2 * i + 1] * gates[4 + j];
            mask[i * 4 + j] = if dot >= 0.0 { 1.0 } else { 0.0 };
        }
    }
    let pats = dedupe(&gates, &mask, 3, 2, 4);
    assert_eq!(pats.p, 2);
    assert_eq!(pats.dropped, 2);
    assert_eq!(pats.gates, vec![1.0, -1.0, 0.5, 0.5]);
}

#[test]
fn bias_column_is_appended() {
    let (data, mut cfg) = small();
    cfg.bias = true;
    let prob = Problem::<F64>::new(&data, &cfg, 3, &Default::default()).unwrap();
    assert_eq!(prob.d, data.d + 1);
    let last: Vec<f64> = to_host(prob.x.clone().slice([0..prob.n, prob.d - 1..prob.d]));
    assert!(last.iter().all(|&v| v == 1.0));
    let _ = tensor2::<F64>(&[1.0], 1, 1, &prob.device);
}

/// K = X^T X from the upper column blocks equals the sum over rows computed on the host,
/// for a d that is not a multiple of the block count and one below the blocking threshold.
#[test]
fn gram_from_upper_blocks_equals_x_transpose_x() {
    for (n, d) in [(37, 601), (29, 40)] {
        let x_host: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5)
            .collect();
        let x = tensor2::<F64>(&x_host, n, d, &Default::default());
        let k = to_host(gram(&x.clone().transpose(), &x));
        assert_eq!(k.len(), d * d);
        let mut worst: f64 = 0.0;
        for i in 0..d {
            for j in 0..d {
                let want: f64 = (0..n)
                    .map(|r| x_host[r * d + i] as f64 * x_host[r * d + j] as f64)
                    .sum();
                worst = worst.max((k[i * d + j] - want).abs());
            }
        }
        assert!(worst < 1e-9, "n={n} d={d}: largest error {worst}");
    }
}
