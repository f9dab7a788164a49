//! beta_max: the smallest beta at which u = 0 solves the convex problem, the top of a
//! regularization path.
//!
//! At u = 0 the loss gradient is -F^T y = -C (C = F^T y, d x 2P, block j its column). With the
//! cone constraints G u >= 0 and multipliers mu >= 0 (n x 2P), the KKT conditions at u = 0 read
//! beta s_j = C_j + (G^T mu)_j with ||s_j|| <= 1 for every block j. So u = 0 is optimal exactly
//! when beta >= beta_max = max_j min_{mu_j >= 0} ||C_j + (G^T mu)_j||, one non-negative least
//! squares per block (the cone constraints can only lower it below the constraint-free value
//! max_j ||C_j||). The blocks decouple, so all of them are solved at once by FISTA on
//! 1/2 ||C + G^T mu||_F^2 with the problem's own G and G^T.
//!
//! Every mu >= 0 met on the way certifies its value: at any beta >= max_j ||C_j + (G^T mu)_j||
//! the KKT conditions hold with that mu, so u = 0 is optimal. The value returned is the best
//! such certificate, an upper bound on the exact beta_max that meets it as FISTA converges.

use crate::problem::{scalar, to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// beta_max and how it was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaMax {
    /// The certified value: u = 0 is optimal for every beta at or above it.
    pub value: f64,
    /// max_j ||C_j||, the value without the cone constraints (an upper bound on `value`).
    pub unconstrained: f64,
    /// FISTA iterations taken.
    pub iters: usize,
}

/// Iterations between two certificate evaluations (each costs a G^T product and a reduction).
const CHECK_EVERY: usize = 25;
/// Stop when a check improves the certificate by less than this fraction.
const REL_TOL: f64 = 1e-7;

/// beta_max of `prob` by at most `max_iters` FISTA iterations (see the module doc).
pub fn beta_max<B: Backend>(prob: &Problem<B>, max_iters: usize) -> BetaMax {
    // The loss's negative gradient at zero predictions: y for the squared loss.
    let c = match prob.loss {
        crate::loss::Loss::Squared => prob.ft(&prob.y),
        loss => prob.ft(&loss.gradient(prob.y.zeros_like(), &prob.y).neg()),
    };
    let unconstrained = max_block_norm(&c);
    let step = 1.0 / lipschitz(prob);
    let mut mu = prob.zeros_s();
    let mut z = mu.clone();
    let mut t = 1.0_f64;
    let mut best = unconstrained;
    let mut iters = 0;
    while iters < max_iters {
        let grad = prob.g(&(c.clone() + prob.gt(&z)));
        let next = (z - grad.mul_scalar(step)).clamp_min(0.0);
        let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        z = next.clone() + (next.clone() - mu).mul_scalar((t - 1.0) / t_next);
        mu = next;
        t = t_next;
        iters += 1;
        if iters % CHECK_EVERY == 0 || iters == max_iters {
            let value = max_block_norm(&(c.clone() + prob.gt(&mu)));
            let improved = best - value;
            best = best.min(value);
            if improved >= 0.0 && improved <= REL_TOL * best {
                break;
            }
        }
    }
    BetaMax {
        value: best,
        unconstrained,
        iters,
    }
}

/// The largest column norm of a d x 2P block matrix.
fn max_block_norm<B: Backend>(t: &Tensor<B, 2>) -> f64 {
    let norms = (t.clone() * t.clone()).sum_dim(0).sqrt();
    to_host(norms)
        .into_iter()
        .fold(0.0, |m: f64, v| if v > m { v } else { m })
}

/// A Lipschitz constant of the gradient mu -> G (C + G^T mu): ||G_j||^2 = lambda_max(X^T X)
/// for every block (the signs are +-1), estimated by power iteration on K and padded by 10%
/// (power iteration approaches it from below; a larger constant only slows FISTA down).
fn lipschitz<B: Backend>(prob: &Problem<B>) -> f64 {
    let mut v: Tensor<B, 2> = Tensor::ones([prob.d, 1], &prob.device);
    let mut lambda = 1.0;
    for _ in 0..50 {
        let kv = prob.k.clone().matmul(v);
        lambda = scalar(kv.clone() * kv.clone()).sqrt();
        if !(lambda > 0.0 && lambda.is_finite()) {
            return 1.0;
        }
        v = kv.div_scalar(lambda);
    }
    1.1 * lambda
}
