//! The Adam baseline: its gradient against finite differences of an independent host-side
//! eq. (2), its training loop (accuracy, trace shape, determinism), and the identity between
//! its objective and the convex objective at the equivalent convex weights (method.md sec. 1).

use crate::common::write_npy;
use admm_engine::adam::{self, batch_loss, objective, AdamConfig, Inputs, Mlp};
use admm_engine::executor::{IterRecord, Observer, Stop, StopRules};
use admm_engine::loss::Loss;
use admm_engine::metrics::evaluate as convex_metrics;
use admm_engine::problem::scalar;
use admm_runner::data::Dataset;
use admm_runner::manifest::ProblemSection;
use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

type F64 = NdArray<f64>;
type F64Ad = Autodiff<F64>;
type CpuAd = Autodiff<Flex>;

/// n Gaussian examples in d dimensions labelled by the sign of a random hyperplane, keeping
/// only points with margin, so that the set is linearly separable.
fn separable(n: usize, d: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let w: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    while y.len() < n {
        let row: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        let s: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum();
        if s.abs() > 0.3 {
            x.extend(row.iter().map(|&v| v as f32));
            y.push(s.signum() as f32);
        }
    }
    Dataset {
        n,
        d,
        x,
        y,
        n_test: 0,
        x_test: vec![],
        y_test: vec![],
        classes: 2,
    }
}

fn gaussian(rng: &mut StdRng, len: usize) -> Vec<f64> {
    (0..len).map(|_| rng.sample(StandardNormal)).collect()
}

fn t2<B: Backend>(v: &[f64], rows: usize, cols: usize) -> Tensor<B, 2> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [rows, cols]),
        &Default::default(),
    )
}

fn config(width: usize, seed: u64) -> AdamConfig {
    AdamConfig {
        loss: Loss::Squared,
        width,
        beta: 1e-3,
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        batch_size: 8,
        seed,
        bias: true,
    }
}

/// `epochs` epochs at most, no time limit, no target.
fn epochs(max_iters: usize) -> StopRules {
    StopRules {
        max_iters,
        time_limit: None,
        target_train_acc: None,
        stop_at_target: false,
    }
}

/// Keeps the trace.
#[derive(Default)]
struct Trace {
    records: Vec<IterRecord>,
}

impl Observer for Trace {
    fn observe(&mut self, r: &IterRecord) {
        self.records.push(*r);
    }
}

fn trace(data: &Dataset, cfg: &AdamConfig, rules: &StopRules) -> (adam::MlpOutcome, Vec<f64>) {
    let mut obs = Trace::default();
    let out = adam::train::<CpuAd>(data, cfg, rules, &Default::default(), &mut obs).unwrap();
    let objs = obs.records.iter().map(|r| r.metrics.objective).collect();
    (out, objs)
}

/// eq. (2) computed on the host in f64: 1/2 ||relu(X W1) w2 - y||^2 + beta/2 (|W1|^2 + |w2|^2).
fn host_objective(x: &[f64], y: &[f64], w1: &[f64], w2: &[f64], d: usize, beta: f64) -> f64 {
    let m = w2.len();
    let fit: f64 = (0..y.len())
        .map(|i| {
            let f: f64 = (0..m)
                .map(|j| {
                    (0..d)
                        .map(|k| x[i * d + k] * w1[k * m + j])
                        .sum::<f64>()
                        .max(0.0)
                        * w2[j]
                })
                .sum();
            (f - y[i]).powi(2)
        })
        .sum();
    let decay: f64 = w1.iter().chain(w2).map(|v| v * v).sum();
    0.5 * fit + 0.5 * beta * decay
}

#[test]
fn gradient_matches_central_differences_of_host_objective() {
    let (n, d, m, beta) = (7, 3, 4, 0.3);
    let mut rng = StdRng::seed_from_u64(11);
    let (x, w1, w2) = (
        gaussian(&mut rng, n * d),
        gaussian(&mut rng, d * m),
        gaussian(&mut rng, m),
    );
    let y: Vec<f64> = gaussian(&mut rng, n).iter().map(|v| v.signum()).collect();
    let model = Mlp::<F64Ad>::from_weights(t2(&w1, d, m), t2(&w2, m, 1));
    let (xt, yt) = (t2::<F64Ad>(&x, n, d), t2::<F64Ad>(&y, n, 1));
    let obj = objective(&model, xt.clone(), yt.clone(), Loss::Squared, beta);
    let value = scalar(obj.clone().inner());
    let host = |a: &[f64], b: &[f64]| host_objective(&x, &y, a, b, d, beta);
    assert!((value - host(&w1, &w2)).abs() < 1e-10 * value.abs().max(1.0));
    // The mini-batch loss on the whole set is J / n: the scaling the training loop relies on.
    let full = scalar(batch_loss(&model, xt, yt, Loss::Squared, beta, n).inner());
    assert!((full - value / n as f64).abs() < 1e-12 * value.abs().max(1.0));

    let grads = obj.backward();
    let g1 = mlp_grad(model.hidden.weight.val().grad(&grads));
    let g2 = mlp_grad(model.output.weight.val().grad(&grads));
    let h = 1e-6;
    let central = |p: &mut Vec<f64>, i: usize, eval: &dyn Fn(&[f64]) -> f64| {
        let keep = p[i];
        p[i] = keep + h;
        let up = eval(p);
        p[i] = keep - h;
        let down = eval(p);
        p[i] = keep;
        (up - down) / (2.0 * h)
    };
    let mut p1 = w1.clone();
    for (i, g) in g1.iter().enumerate() {
        let fd = central(&mut p1, i, &|a| host(a, &w2));
        assert!(
            (g - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "dW1[{i}]: {g} vs {fd}"
        );
    }
    let mut p2 = w2.clone();
    for (i, g) in g2.iter().enumerate() {
        let fd = central(&mut p2, i, &|b| host(&w1, b));
        assert!(
            (g - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "dw2[{i}]: {g} vs {fd}"
        );
    }
}

fn mlp_grad(g: Option<Tensor<F64, 2>>) -> Vec<f64> {
    admm_engine::problem::to_host(g.expect("parameter has a gradient"))
}

#[test]
fn reaches_full_train_accuracy_on_separable_data() {
    let data = separable(64, 5, 3);
    let cfg = config(8, 1);
    // Stops once train accuracy reaches the target (as a run with stop_at_target does).
    let rules = StopRules {
        target_train_acc: Some(1.0),
        stop_at_target: true,
        ..epochs(300)
    };
    let mut obs = Trace::default();
    let out = adam::train::<CpuAd>(&data, &cfg, &rules, &Default::default(), &mut obs).unwrap();
    assert_eq!(out.stop, Stop::TargetReached);
    // Stopped at the first epoch that reached it (records hold NaN: compare the epochs).
    assert_eq!(out.reached.map(|r| r.iter), out.last.map(|r| r.iter));
    let last = out.last.unwrap();
    assert_eq!(last.metrics.train_acc, 1.0);
    assert_eq!(last.metrics.train_acc_net, 1.0);
    // The trace's shape: 1-based epochs, 8 steps of 8 per epoch, training time only in u.
    assert_eq!(obs.records.len(), out.epochs);
    for (k, r) in obs.records.iter().enumerate() {
        assert_eq!(r.iter, k + 1);
        assert_eq!(r.inner.iters, 8);
        assert_eq!((r.times.v, r.times.dual), (0.0, 0.0));
        assert!(r.wall >= r.times.total());
        assert!(r.metrics.cone_violation.is_nan() && r.primal_residual.is_nan());
        assert_eq!(r.metrics.active_neurons, 8);
    }
    assert!(obs.records.windows(2).all(|w| w[1].times.u >= w[0].times.u));
    assert_eq!(out.times, last.times);
}

#[test]
fn training_lowers_the_objective_and_counts_short_batches() {
    let data = separable(50, 4, 5);
    let cfg = config(6, 2);
    let mut obs = Trace::default();
    let out =
        adam::train::<CpuAd>(&data, &cfg, &epochs(30), &Default::default(), &mut obs).unwrap();
    assert_eq!((out.stop, out.epochs), (Stop::MaxIters, 30));
    // 50 examples in batches of 8: six full batches and one of 2.
    assert!(obs.records.iter().all(|r| r.inner.iters == 7));
    let first = obs.records[0].metrics.objective;
    let last = obs.records[29].metrics.objective;
    assert!(last < 0.5 * first, "{first} -> {last}");
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let data = separable(40, 4, 7);
    let (_, a) = trace(&data, &config(6, 5), &epochs(5));
    let (_, b) = trace(&data, &config(6, 5), &epochs(5));
    let (_, c) = trace(&data, &config(6, 6), &epochs(5));
    assert_eq!(a.len(), 5);
    assert_eq!(a, b);
    assert!(a.iter().zip(&c).all(|(x, y)| x != y), "{a:?} vs {c:?}");
}

#[test]
fn time_limit_is_a_failure_and_nan_diverges() {
    let data = separable(40, 4, 7);
    let rules = StopRules {
        time_limit: Some(0.0),
        ..epochs(5)
    };
    let (out, objs) = trace(&data, &config(4, 1), &rules);
    assert_eq!((out.stop.clone(), objs.len()), (Stop::TimeLimit(0.0), 1));
    assert!(out.stop.failure().is_some());

    let mut bad = data.clone();
    bad.x[0] = f32::NAN;
    let (out, _) = trace(&bad, &config(4, 1), &epochs(5));
    assert!(matches!(out.stop, Stop::Diverged(_)), "{:?}", out.stop);

    let zero = AdamConfig {
        batch_size: 0,
        ..config(4, 1)
    };
    let err = adam::train::<CpuAd>(
        &data,
        &zero,
        &epochs(5),
        &Default::default(),
        &mut Trace::default(),
    );
    assert!(err.unwrap_err().to_string().contains("batch_size"));
}

#[test]
fn objective_equals_convex_objective_at_equivalent_weights() {
    let (n, d, m, beta) = (30, 3, 4, 0.2);
    let mut rng = StdRng::seed_from_u64(21);
    let mut data = separable(n, d, 9);
    data.y[0] = -data.y[0]; // some misfit, so the loss term is not tiny
    let d_in = d + 1; // bias column, as the convex problem appends it
    let (w1, w2) = (gaussian(&mut rng, d_in * m), gaussian(&mut rng, m));
    assert!(w2.iter().any(|&v| v > 0.0) && w2.iter().any(|&v| v < 0.0));
    // Rescale each neuron so that ||W1_j|| = |w2_j|: f is unchanged and the decay is minimal.
    let (w1, w2) = balance(&w1, &w2, d_in);

    let dev = Default::default();
    let inputs = Inputs::<F64>::new(&data, true, 1, &dev);
    let model = Mlp::<F64>::from_weights(t2(&w1, d_in, m), t2(&w2, m, 1));
    let nonconvex = scalar(objective(
        &model,
        inputs.x.clone(),
        inputs.y.clone(),
        Loss::Squared,
        beta,
    ));

    // Gates h_j = W1_j, so D_j X u_j = relu(X u_j) and the cone constraints hold exactly.
    let dir = tempfile::tempdir().unwrap();
    let gates = dir.path().join("gates.npy");
    write_npy(&gates, &[d_in, m], &w1);
    let section = ProblemSection {
        patterns: m,
        beta,
        loss: Default::default(),
        bias: true,
        gates: Some(gates),
    };
    let prob = section.build::<F64>(&data, 0, &dev).unwrap();
    assert_eq!(prob.p, m, "distinct patterns");
    let v = convex_weights(&w1, &w2, d_in);
    let convex = convex_metrics(&prob, &t2(&v, d_in, 2 * m));
    assert_eq!(convex.cone_violation, 0.0);
    let rel = (nonconvex - convex.objective).abs() / convex.objective;
    assert!(
        rel < 1e-6,
        "eq. (2) {nonconvex} vs convex {}",
        convex.objective
    );
    let ours = adam::evaluate(&model, &inputs, Loss::Squared, beta);
    assert!((ours.objective - convex.objective).abs() / convex.objective < 1e-6);
    assert_eq!(ours.train_acc, convex.train_acc_net);
}

/// Scales neuron j by a = sqrt(|w2_j| / ||W1_j||): W1_j a, w2_j / a.
fn balance(w1: &[f64], w2: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let m = w2.len();
    let a: Vec<f64> = (0..m)
        .map(|j| (w2[j].abs() / col_norm(w1, d, m, j)).sqrt())
        .collect();
    let w1b = (0..d * m).map(|i| w1[i] * a[i % m]).collect();
    let w2b = (0..m).map(|j| w2[j] / a[j]).collect();
    (w1b, w2b)
}

fn col_norm(w: &[f64], d: usize, m: usize, j: usize) -> f64 {
    (0..d).map(|k| w[k * m + j].powi(2)).sum::<f64>().sqrt()
}

/// The convex variable V (d x 2m): u_j = W1_j |w2_j| in the v-block when w2_j > 0, in the
/// w-block otherwise.
fn convex_weights(w1: &[f64], w2: &[f64], d: usize) -> Vec<f64> {
    let m = w2.len();
    let mut v = vec![0.0; d * 2 * m];
    for j in 0..m {
        let col = if w2[j] > 0.0 { j } else { m + j };
        for k in 0..d {
            v[k * 2 * m + col] = w1[k * m + j] * w2[j].abs();
        }
    }
    v
}
