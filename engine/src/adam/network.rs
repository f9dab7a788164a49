//! A trained two-layer ReLU network on the host, f(x) = sum_j w2_j relu(x . W1_j) (w2_j a row
//! of C output weights), and its
//! predictions on a backend. ADMM's recovered network (method.md sec. 1) and Adam's network
//! are both one of these, so a saved model predicts the same way whichever method trained it.
//!
//! Predictions are computed with exactly the tensor operations the training metrics used
//! (`metrics::evaluate`, `mlp::evaluate`), so a reloaded network reproduces the recorded
//! accuracies bit for bit on the same backend.

use crate::loss::{targets, Loss};
use crate::metrics::loss_acc_of;
use crate::problem::relu_net_from_xu;
use crate::tensor::{tensor2, to_host, with_bias};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// How the hidden layer's outputs are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readout {
    /// ADMM's network: the first PC neurons have w2 = +1, the next PC have w2 = -1 (the
    /// blocks v_j and w_j of the convex solution), neuron c P + i of each half feeding output
    /// c, summed as the metrics sum them.
    Paired { p: usize },
    /// Any w2 (Adam's network): relu(X W1) w2.
    Dense,
}

/// Host weights of a two-layer ReLU network without biases (a bias is a ones column in X).
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Input width, the bias column included when `bias`.
    pub d_in: usize,
    /// Hidden neurons m.
    pub width: usize,
    /// W1, d_in x m, row-major: column j is neuron j's input weights (burn's `Linear` layout).
    pub w1: Vec<f32>,
    /// w2, m x C row-major.
    pub w2: Vec<f32>,
    /// Outputs C: 1 for a binary network with one signed score, else one score per class.
    pub outputs: usize,
    /// The loss it was trained with: `score` reports it.
    pub loss: Loss,
    /// Whether a ones column is appended to the features before the first layer.
    pub bias: bool,
    pub readout: Readout,
}

/// Accuracy and loss of a network's predictions against class labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// f(x) for every example (n x C row-major).
    pub outputs: Vec<f64>,
    /// The training loss per example (1/(2n) ||f(X) - y||^2 for the squared loss) and the
    /// fraction classified right (sign, or argmax with several outputs; NaN without labels).
    pub loss: f64,
    pub accuracy: f64,
}

impl Network {
    /// ADMM's network from the group variable v (d x 2PC) of a problem with `outputs`
    /// outputs: W1 = v, w2 = +1 on the first half and -1 on the second, each neuron feeding
    /// its own output.
    pub fn from_convex<B: Backend>(
        v: &Tensor<B, 2>,
        outputs: usize,
        loss: Loss,
        bias: bool,
    ) -> Self {
        let [d, m] = v.dims();
        let q = m / 2;
        let p = q / outputs.max(1);
        let w1 = to_host(v.clone()).into_iter().map(|x| x as f32).collect();
        let mut w2 = vec![0.0; m * outputs];
        for j in 0..m {
            let out = (j % q) / p.max(1);
            w2[j * outputs + out] = if j < q { 1.0 } else { -1.0 };
        }
        Network {
            d_in: d,
            width: m,
            w1,
            w2,
            outputs,
            loss,
            bias,
            readout: Readout::Paired { p },
        }
    }

    /// Features per example that `predict` expects (before the bias column).
    pub fn features(&self) -> usize {
        self.d_in - usize::from(self.bias)
    }

    /// f(X) for n examples of `features()` values each (row-major), n x C on the device.
    pub fn forward<B: Backend>(&self, x: &[f32], n: usize, device: &B::Device) -> Tensor<B, 2> {
        let d = self.features();
        let x = if self.bias {
            tensor2::<B>(&with_bias(x, n, d), n, self.d_in, device)
        } else {
            tensor2::<B>(x, n, d, device)
        };
        let w1 = tensor2::<B>(&self.w1, self.d_in, self.width, device);
        match self.readout {
            Readout::Paired { p } => relu_net_from_xu(x.matmul(w1), p, self.outputs),
            Readout::Dense => {
                let w2 = tensor2::<B>(&self.w2, self.width, self.outputs, device);
                // relu(X W1) W2: the dense two-layer network Adam trains.
                burn::tensor::activation::relu(x.matmul(w1)).matmul(w2)
            }
        }
    }

    /// Outputs, loss and accuracy on n examples with labels `y` (+1/-1 for two classes, else
    /// 0..K-1; empty for none).
    pub fn score<B: Backend>(&self, x: &[f32], y: &[f32], n: usize, dev: &B::Device) -> Scored {
        let out = self.forward::<B>(x, n, dev);
        let (loss, accuracy) = if y.len() == n && n > 0 {
            let t = tensor2::<B>(&targets(y, self.outputs), n, self.outputs, dev);
            loss_acc_of(self.loss, out.clone(), &t)
        } else {
            (f64::NAN, f64::NAN)
        };
        Scored {
            outputs: to_host(out),
            loss,
            accuracy,
        }
    }

    /// Neurons with a nonzero first-layer weight column.
    pub fn active_neurons(&self) -> usize {
        (0..self.width)
            .filter(|&j| (0..self.d_in).any(|i| self.w1[i * self.width + j] != 0.0))
            .count()
    }
}
