//! The non-convex baseline: the same two-layer ReLU network, trained directly by Adam on the
//! weight-decayed squared loss of the paper's eq. (2), so that its trace can be set against
//! ADMM's on the same clocks and metrics (reference-notes.md, "Adam baseline").
//!
//! The network is f(x) = relu(x W1) w2 with W1: d_in x m and w2: m x 1, both bias-free. With
//! `bias` on, a column of ones is appended to X exactly as the convex problem does, so the
//! bias is part of W1 and of its weight decay: then the objective below *is* the convex
//! objective at the equivalent convex weights (method.md sec. 1), which the tests check.
//!
//! eq. (2): J(W1, w2) = 1/2 ||f(X) - y||^2 + beta/2 (||W1||_F^2 + ||w2||^2), with the
//! squared loss replaced by the problem's loss (`problem.loss`) and w2: m x C for C outputs.

use super::network::{Network, Readout};
use crate::data::Dataset;
use crate::error::InvalidOption;
use crate::executor::{
    self, InnerStats, IterRecord, Iterate, Observer, Step, Stop, StopRules, Times,
};
use crate::loss::{targets, Loss};
use crate::metrics::{loss_acc_of, Metrics};
use crate::problem::ProblemConfig;
use crate::tensor::{scalar, tensor2, to_host, with_bias};
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Adam's own options (the manifest's `solver.adam` section).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct AdamOptions {
    /// The learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moment estimates.
    pub beta1: f64,
    pub beta2: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Hidden neurons; 2PC, the convex model's neuron budget, when absent.
    pub width: Option<usize>,
}

impl Default for AdamOptions {
    fn default() -> Self {
        AdamOptions {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            batch_size: 64,
            width: None,
        }
    }
}

impl AdamOptions {
    /// Ranges the types cannot express: the first bad option and why.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(InvalidOption::new(
                "lr",
                format!("must be > 0, got {}", self.lr),
            ));
        }
        for (key, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(InvalidOption::new(
                    key,
                    format!("must be in [0, 1), got {b}"),
                ));
            }
        }
        if self.batch_size == 0 {
            return Err(InvalidOption::new("batch_size", "must be at least 1"));
        }
        if self.width == Some(0) {
            return Err(InvalidOption::new("width", "must be at least 1"));
        }
        Ok(())
    }
}

/// Everything one Adam run needs besides the data and the stop rules.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamConfig {
    /// Hidden neurons m (2PC by default, the convex model's neuron budget).
    pub width: usize,
    /// The training loss (the problem's).
    pub loss: Loss,
    /// Weight decay of eq. (2), the same beta as the convex problem's.
    pub beta: f64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub batch_size: usize,
    /// Seeds the initial weights and the per-epoch shuffles.
    pub seed: u64,
    /// Append a ones column to X (a bias inside W1, decayed like the convex problem's).
    pub bias: bool,
}

impl AdamConfig {
    /// Adam's options with the problem's beta, bias, loss and P (the width defaults to 2PC,
    /// C the outputs the loss gives the data's classes).
    pub fn new(opts: &AdamOptions, problem: &ProblemConfig, outputs: usize, seed: u64) -> Self {
        AdamConfig {
            width: opts.width.unwrap_or(2 * problem.patterns * outputs),
            loss: problem.loss,
            beta: problem.beta,
            lr: opts.lr,
            beta1: opts.beta1,
            beta2: opts.beta2,
            batch_size: opts.batch_size,
            seed,
            bias: problem.bias,
        }
    }
}

/// A configuration or data set that cannot be trained on.
#[derive(Debug, thiserror::Error)]
pub enum MlpError {
    #[error("adam: {0}")]
    Config(String),
}

/// The end state of an Adam run.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpOutcome {
    pub stop: Stop,
    /// Epochs completed.
    pub epochs: usize,
    pub times: Times,
    pub last: Option<IterRecord>,
    /// The first epoch's record that reached the target train accuracy.
    pub reached: Option<IterRecord>,
    /// The trained network's weights (to save and predict with).
    pub network: Option<Network>,
}

/// f(x) = relu(x W1) w2: two bias-free burn-nn `Linear` layers.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// W1, d_in x m: column j is neuron j's first-layer weight.
    pub hidden: Linear<B>,
    /// w2, m x C.
    pub output: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// The network with the given weights (W1: d_in x m, w2: m x C), e.g. to test at a point.
    pub fn from_weights(w1: Tensor<B, 2>, w2: Tensor<B, 2>) -> Self {
        let [d_in, m] = w1.dims();
        let outputs = w2.dims()[1];
        let device = w1.device();
        let mut hidden = LinearConfig::new(d_in, m).with_bias(false).init(&device);
        let mut output = LinearConfig::new(m, outputs).with_bias(false).init(&device);
        hidden.weight = Param::from_tensor(w1);
        output.weight = Param::from_tensor(w2);
        Mlp { hidden, output }
    }

    /// Seeded init, drawn on the host so that it is identical on every backend and immune to
    /// other users of the backend's global RNG: U(-k, k) with k = 1/sqrt(fan_in), the
    /// distribution of burn's (and PyTorch's) default `Linear` init.
    pub fn init(
        d_in: usize,
        width: usize,
        outputs: usize,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Self {
        let w1 = uniform_host(rng, d_in * width, d_in);
        let w2 = uniform_host(rng, width * outputs, width);
        Self::from_weights(
            tensor2::<B>(&w1, d_in, width, device),
            tensor2::<B>(&w2, width, outputs, device),
        )
    }

    /// Predictions f(X), n x C.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let act = burn::tensor::activation::relu(self.hidden.forward(x));
        self.output.forward(act)
    }

    /// Adam's network from its trained layers.
    pub fn to_network(&self, loss: Loss, bias: bool) -> Network {
        let model = self;
        let w1 = model.hidden.weight.val();
        let [d_in, width] = w1.dims();
        let w2 = model.output.weight.val();
        let outputs = w2.dims()[1];
        let host = |t: Tensor<B, 2>| to_host(t).into_iter().map(|x| x as f32).collect();
        Network {
            d_in,
            width,
            w1: host(w1),
            w2: host(w2),
            outputs,
            loss,
            bias,
            readout: Readout::Dense,
        }
    }

    /// ||W1||_F^2 + ||w2||^2.
    pub fn weight_norm_sq(&self) -> Tensor<B, 1> {
        let (w1, w2) = (self.hidden.weight.val(), self.output.weight.val());
        (w1.clone() * w1).sum() + (w2.clone() * w2).sum()
    }
}

/// n values U(-k, k) with k = 1/sqrt(fan_in).
fn uniform_host(rng: &mut StdRng, n: usize, fan_in: usize) -> Vec<f32> {
    let k = 1.0 / (fan_in.max(1) as f64).sqrt();
    (0..n).map(|_| rng.random_range(-k..k) as f32).collect()
}

/// eq. (2) on the full set: loss(f(X), y) + beta/2 (||W1||_F^2 + ||w2||^2) (for the squared
/// loss 1/2 ||f(X) - y||^2 + ...).
pub fn objective<B: Backend>(
    model: &Mlp<B>,
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    loss: Loss,
    beta: f64,
) -> Tensor<B, 1> {
    let fx = model.forward(x);
    let data = match loss {
        Loss::Squared => {
            let r = fx - y;
            (r.clone() * r).sum().mul_scalar(0.5)
        }
        _ => loss.sum(fx, &y),
    };
    data + model.weight_norm_sq().mul_scalar(beta / 2.0)
}

/// The mini-batch loss that Adam descends: loss(f(X_B), y_B) / b + beta/(2n) (...) (for the
/// squared loss 1/(2b) ||f(X_B) - y_B||^2 + ...).
///
/// Its expectation over a uniformly drawn batch is J/n, so every step (the short last batch
/// included) follows an unbiased estimate of the full eq. (2) gradient, at the scale of a mean
/// loss that Adam's epsilon and the reference's learning rates are tuned for.
pub fn batch_loss<B: Backend>(
    model: &Mlp<B>,
    xb: Tensor<B, 2>,
    yb: Tensor<B, 2>,
    loss: Loss,
    beta: f64,
    n: usize,
) -> Tensor<B, 1> {
    let b = xb.dims()[0].max(1) as f64;
    let fx = model.forward(xb);
    let data = match loss {
        Loss::Squared => {
            let r = fx - yb;
            (r.clone() * r).sum().div_scalar(2.0 * b)
        }
        _ => loss.sum(fx, &yb).div_scalar(b),
    };
    data + model.weight_norm_sq().mul_scalar(beta / (2.0 * n as f64))
}

/// The data on the device, bias column included. Kept on the inner (non-autodiff) backend:
/// evaluation uses it directly and training lifts only each mini-batch into the graph.
pub struct Inputs<B: Backend> {
    pub n: usize,
    /// Outputs C; `y` and `y_test` hold the targets (n x C, `loss::targets`).
    pub outputs: usize,
    /// Input width of the network (d, plus 1 with the bias column).
    pub d_in: usize,
    pub x: Tensor<B, 2>,
    pub y: Tensor<B, 2>,
    pub n_test: usize,
    pub x_test: Tensor<B, 2>,
    pub y_test: Tensor<B, 2>,
}

impl<B: Backend> Inputs<B> {
    pub fn new(data: &Dataset, bias: bool, outputs: usize, device: &B::Device) -> Self {
        let add = |x: &[f32], n| {
            if bias {
                with_bias(x, n, data.d)
            } else {
                x.to_vec()
            }
        };
        let d_in = data.d + usize::from(bias);
        let t = |y: &[f32], n| tensor2::<B>(&targets(y, outputs), n, outputs, device);
        Inputs {
            n: data.n,
            outputs,
            d_in,
            x: tensor2::<B>(&add(&data.x, data.n), data.n, d_in, device),
            y: t(&data.y, data.n),
            n_test: data.n_test,
            x_test: tensor2::<B>(&add(&data.x_test, data.n_test), data.n_test, d_in, device),
            y_test: t(&data.y_test, data.n_test),
        }
    }
}

/// Trains the network by Adam, one `IterRecord` per epoch through `observer`, until a stop
/// rule fires (`rules.max_iters` counts epochs).
///
/// Clocks: `times.precompute` is the upload of the data and the model init, `times.u` the
/// cumulative training seconds, `v` and `dual` stay 0; the per-epoch evaluation is untimed
/// (it is in `wall` only), as ADMM's metric evaluation is.
pub fn train<B: AutodiffBackend>(
    data: &Dataset,
    cfg: &AdamConfig,
    rules: &StopRules,
    device: &B::Device,
    observer: &mut dyn Observer,
) -> Result<MlpOutcome, MlpError> {
    let outputs = validate(data, cfg)?;
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let inputs = Inputs::<B::InnerBackend>::new(data, cfg.bias, outputs, device);
    let model = Mlp::<B>::init(inputs.d_in, cfg.width, outputs, &mut rng, device);
    let optim = burn::optim::AdamConfig::new()
        .with_beta_1(cfg.beta1 as f32)
        .with_beta_2(cfg.beta2 as f32)
        .init::<B, Mlp<B>>();
    let _ = B::sync(device);
    let times = Times {
        precompute: start.elapsed().as_secs_f64(),
        ..Times::default()
    };
    let mut run = AdamRun {
        model: Some(model),
        optim,
        inputs,
        cfg,
        rng,
        times,
        start,
    };
    let out = executor::execute(&mut run, rules, observer).unwrap_or_else(|never| match never {});
    let network = run
        .model
        .as_ref()
        .map(|m| m.valid().to_network(cfg.loss, cfg.bias));
    Ok(MlpOutcome {
        stop: out.stop,
        epochs: out.iterations,
        times: out.last.map_or(times, |r| r.times),
        last: out.last,
        reached: out.reached,
        network,
    })
}

/// Adam training in progress: one `step` is one epoch.
struct AdamRun<'a, B: AutodiffBackend, O> {
    /// Always Some between steps (an epoch takes the model by value).
    model: Option<Mlp<B>>,
    optim: O,
    inputs: Inputs<B::InnerBackend>,
    cfg: &'a AdamConfig,
    rng: StdRng,
    times: Times,
    start: Instant,
}

impl<B: AutodiffBackend, O: Optimizer<Mlp<B>, B>> Iterate for AdamRun<'_, B, O> {
    type Error = std::convert::Infallible;

    fn unit(&self) -> &'static str {
        "epoch"
    }

    fn step(&mut self, k: usize) -> Result<Step, Self::Error> {
        let Some(model) = self.model.take() else {
            unreachable!("the model is put back after every epoch")
        };
        let t = Instant::now();
        let (model, steps) = run_epoch(
            model,
            &mut self.optim,
            &self.inputs,
            self.cfg,
            &mut self.rng,
        );
        let _ = B::sync(&self.inputs.x.device());
        self.times.u += t.elapsed().as_secs_f64();
        let metrics = evaluate(&model.valid(), &self.inputs, self.cfg.loss, self.cfg.beta);
        self.model = Some(model);
        let wall = self.start.elapsed().as_secs_f64();
        Ok(Step {
            record: epoch_record(k + 1, self.times, wall, metrics, steps),
            converged: false,
        })
    }
}

/// An epoch in the trace's shape; ADMM-only quantities (residuals, rho, cone violation) are NaN.
fn epoch_record(
    epoch: usize,
    times: Times,
    wall: f64,
    metrics: Metrics,
    steps: usize,
) -> IterRecord {
    IterRecord {
        iter: epoch,
        times,
        wall,
        metrics,
        primal_residual: f64::NAN,
        dual_residual: f64::NAN,
        eps_primal: f64::NAN,
        eps_dual: f64::NAN,
        inner: InnerStats {
            iters: steps,
            rel_residual: f64::NAN,
        },
        rho: f64::NAN,
        lower_bound: f64::NAN,
        upper_bound: f64::NAN,
        rel_gap: f64::NAN,
        rel_primal: f64::NAN,
        rho_changes: 0,
    }
}

/// Rejects what would train nothing or divide by zero, naming the field; returns the number
/// of outputs the loss gives the data's classes.
fn validate(data: &Dataset, cfg: &AdamConfig) -> Result<usize, MlpError> {
    let bad = |msg: &str| Err(MlpError::Config(msg.into()));
    if cfg.width == 0 {
        return bad("width must be at least 1");
    }
    if cfg.batch_size == 0 {
        return bad("batch_size must be at least 1");
    }
    if data.n == 0 {
        return bad("the training set is empty");
    }
    if !(cfg.lr > 0.0 && cfg.lr.is_finite()) {
        return bad("lr must be positive");
    }
    if !(0.0..1.0).contains(&cfg.beta1) || !(0.0..1.0).contains(&cfg.beta2) {
        return bad("beta1 and beta2 must lie in [0, 1)");
    }
    cfg.loss
        .outputs(data.classes)
        .map_err(|e| MlpError::Config(format!("problem.loss = {}: {e}", cfg.loss.name())))
}

/// One pass over a fresh seeded shuffle of the training set; returns the model and the
/// number of Adam steps taken.
fn run_epoch<B: AutodiffBackend, O: Optimizer<Mlp<B>, B>>(
    mut model: Mlp<B>,
    optim: &mut O,
    inputs: &Inputs<B::InnerBackend>,
    cfg: &AdamConfig,
    rng: &mut StdRng,
) -> (Mlp<B>, usize) {
    let n = inputs.n;
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(rng);
    // One upload per epoch; each batch is a slice of it gathered on the device.
    let perm = Tensor::<B::InnerBackend, 1, Int>::from_data(
        TensorData::new(order, [n]),
        &inputs.x.device(),
    );
    let mut steps = 0;
    for lo in (0..n).step_by(cfg.batch_size) {
        let idx = perm.clone().slice(lo..(lo + cfg.batch_size).min(n));
        let xb = Tensor::from_inner(inputs.x.clone().select(0, idx.clone()));
        let yb = Tensor::from_inner(inputs.y.clone().select(0, idx));
        let loss = batch_loss(&model, xb, yb, cfg.loss, cfg.beta, n);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
        steps += 1;
    }
    (model, steps)
}

/// Full-batch metrics of the network, in the conventions of `crate::metrics`.
pub fn evaluate<B: Backend>(model: &Mlp<B>, inputs: &Inputs<B>, loss: Loss, beta: f64) -> Metrics {
    let (train_loss, train_acc) = loss_acc_of(loss, model.forward(inputs.x.clone()), &inputs.y);
    let (test_loss, test_acc) = if inputs.n_test > 0 {
        loss_acc_of(loss, model.forward(inputs.x_test.clone()), &inputs.y_test)
    } else {
        (f64::NAN, f64::NAN)
    };
    let penalty = beta / 2.0 * scalar(model.weight_norm_sq());
    Metrics {
        objective: train_loss * inputs.n as f64 + penalty,
        train_loss,
        train_acc,
        train_acc_net: train_acc,
        train_acc_u: f64::NAN,
        test_loss,
        test_acc,
        cone_violation: f64::NAN,
        active_neurons: model.hidden.weight.dims()[1],
    }
}
