//! Per-iteration quality metrics of the group variable v (the sparse iterate that the recovered
//! network is built from). Losses are per example (the problem's loss divided by n; for the
//! squared loss 1/(2n) ||yhat - y||^2); the objective uses the sum, as in the convex program.

use crate::loss::Loss;
use crate::problem::Problem;
use crate::tensor::scalar;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Quality of one iterate.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// loss(F v) + beta * sum_j ||v_j|| (for the squared loss 1/2 ||F v - y||^2 + ...).
    pub objective: f64,
    /// loss(F v) / n: the convex (gated) model on the training set.
    pub train_loss: f64,
    /// Accuracy of F v: sign for one output, argmax for several.
    pub train_acc: f64,
    /// Accuracy of the recovered ReLU network on the training set.
    pub train_acc_net: f64,
    /// Accuracy of sign(F u), the u copy before the group soft-threshold: what the authors'
    /// code and the paper report as train accuracy (NaN for Adam). Like-for-like only; the
    /// model is v.
    pub train_acc_u: f64,
    /// loss / n_test of the recovered ReLU network on the test set (NaN without a test set).
    pub test_loss: f64,
    pub test_acc: f64,
    /// max over all cone constraints of max(0, -(2 D_i - I) X v_i).
    pub cone_violation: f64,
    /// Neurons of the recovered network: blocks v_j, w_j that are not zero.
    pub active_neurons: usize,
}

/// `loss`'s value per example and the accuracy of predictions `pred` (n x C) for targets `y`.
/// The squared loss keeps the operations it always had (1 / (2n) ||r||^2), so its records are
/// unchanged; the accuracy counts a tie (an output of exactly 0) half right (`Loss::accuracy`).
pub fn loss_acc_of<B: Backend>(loss: Loss, pred: Tensor<B, 2>, y: &Tensor<B, 2>) -> (f64, f64) {
    let [rows, outputs] = pred.dims();
    let n = rows.max(1) as f64;
    if loss == Loss::Squared && outputs == 1 {
        let r = pred.clone() - y.clone();
        let value = scalar(r.clone() * r) / (2.0 * n);
        return (value, Loss::accuracy(pred, y));
    }
    let value = loss.value(pred.clone(), y) / n;
    (value, Loss::accuracy(pred, y))
}

/// Accuracy of sign(F u) on the training set (`Metrics::train_acc_u`), from G u, which the
/// u-step has already computed: G u = [S, S] .* X u with S = 2 D - I in {-1, +1}, so
/// X u = [S, S] .* G u exactly and no product with X is needed.
pub fn train_acc_of_gu<B: Backend>(prob: &Problem<B>, gu: &Tensor<B, 2>) -> f64 {
    let fu = prob.f_from_xu(&(prob.sign2.clone() * gu.clone()));
    loss_acc_of(prob.loss, fu, &prob.y).1
}

/// Evaluates v (a d x 2PC block matrix) on the training and test sets.
pub fn evaluate<B: Backend>(prob: &Problem<B>, v: &Tensor<B, 2>) -> Metrics {
    let xv = prob.x.clone().matmul(v.clone());
    let fv = prob.f_from_xu(&xv);
    let (train_loss, train_acc) = loss_acc_of(prob.loss, fv, &prob.y);
    let (_, train_acc_net) = loss_acc_of(prob.loss, prob.relu_net(xv.clone()), &prob.y);
    let norms = (v.clone() * v.clone()).sum_dim(0).sqrt();
    let penalty = prob.beta * scalar(norms.clone());
    let active = scalar(norms.greater_elem(0.0).float()) as usize;
    let violation = (prob.sign2.clone() * xv).neg().max();
    let cone_violation = scalar(violation).max(0.0);
    let (test_loss, test_acc) = if prob.n_test > 0 {
        let xtv = prob.x_test.clone().matmul(v.clone());
        loss_acc_of(prob.loss, prob.relu_net(xtv), &prob.y_test)
    } else {
        (f64::NAN, f64::NAN)
    };
    Metrics {
        objective: train_loss * prob.n as f64 + penalty,
        train_loss,
        train_acc,
        train_acc_net,
        train_acc_u: f64::NAN,
        test_loss,
        test_acc,
        cone_violation,
        active_neurons: active,
    }
}
