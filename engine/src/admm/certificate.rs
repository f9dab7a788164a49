//! A lower bound on the optimal value from ADMM's iterates: a duality-gap certificate
//! (docs/certificate.md derives it; method.md sec. 7).
//!
//! For the squared loss the Lagrangian dual of
//!   min_u 1/2 ||F u - y||^2 + beta sum_j ||u_j||  s.t.  G u >= 0
//! is
//!   max  -1/2 ||z||^2 - <z, y>  over z and mu >= 0,  s.t.  ||(F^T z - G^T mu)_j|| <= beta,
//! so every dual-feasible (z, mu) bounds the optimum from below. The candidate is
//! z = F u - y and mu = max(0, -rho nu) (the unscaled multiplier of G u - s = 0), mu improved
//! group by group (`bound_along`), then scaled by the
//! t in [0, t_max] that maximizes the dual objective, t_max keeping every group feasible.
//! Any t in that range gives a valid bound, so rounding in t only loosens it.
//!
//! Every loss works the same way (docs/certificate.md, "Other losses"): the dual is
//! max -loss*(z) under the same constraints, the candidate is z = grad loss(F u) (for the
//! squared loss F u - y), and `Loss::best_dual_scale` maximizes -loss*(t z) over the
//! feasible t.

use crate::problem::{to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// The dual bound and the quantities it was built from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// -1/2 t^2 ||z||^2 - t <z, y>: at most the optimum.
    pub lower: f64,
    /// The scale applied to (z, mu).
    pub t: f64,
    /// beta / max_j ||(F^T z - G^T mu)_j||: the largest feasible scale.
    pub t_max: f64,
}

/// Projected-gradient steps that improve mu per group before the bound is taken: on fig1
/// (docs/certificate.md, "Improving mu") 5 steps raise the bound 2-2.6x, 20 steps 1.3x more.
pub const MU_STEPS: usize = 5;

/// The lower bound from u (d x 2PC) and the scaled dual nu (n x 2PC) at penalty rho:
/// z = grad loss(F u) (F u - y for the squared loss) and mu = max(0, -rho nu), improved by
/// `MU_STEPS` per-group steps (`bound_along`).
/// Costs one F, one F^T and 1 + 3 `MU_STEPS` G or G^T applications.
pub fn lower_bound<B: Backend>(
    prob: &Problem<B>,
    u: &Tensor<B, 2>,
    nu: &Tensor<B, 2>,
    rho: f64,
) -> Bound {
    let z = prob.loss.gradient(prob.f(u), &prob.y);
    bound_along(prob, &z, nu.clone().mul_scalar(-rho), MU_STEPS)
}

/// The bound along the ray through z, with the constraint multipliers mu >= 0 improved group
/// by group: the dual objective does not involve mu, and mu_j enters only group j's
/// constraint ||(F^T z - G^T mu)_j|| <= beta, so each group keeps the smallest norm any
/// nonnegative mu_j reached in `steps` projected-gradient steps (exact line search per group)
/// on 1/2 ||(F^T z - G^T mu)_j||^2, started from `mu`. Every mu_j tried is >= 0, so the bound
/// stays valid whatever the steps do. Costs one F^T, one G^T and 3 `steps` G/G^T applications.
pub fn bound_along<B: Backend>(
    prob: &Problem<B>,
    z: &Tensor<B, 2>,
    mu: Tensor<B, 2>,
    steps: usize,
) -> Bound {
    let a = prob.ft(z);
    let mut mu = mu.clamp_min(0.0);
    let mut w = a.clone() - prob.gt(&mu);
    let mut best = to_host(col_norms(&w));
    for _ in 0..steps {
        let g = prob.g(&w);
        // The projected direction: no push below zero where mu is already zero.
        let free = mu
            .clone()
            .greater_elem(0.0)
            .bool_or(g.clone().greater_elem(0.0));
        let dir = g.mask_fill(free.bool_not(), 0.0);
        let gd = prob.gt(&dir);
        let num = (dir.clone() * dir.clone()).sum_dim(0);
        let den = (gd.clone() * gd).sum_dim(0).clamp_min(f64::MIN_POSITIVE);
        mu = (mu + dir * (num / den)).clamp_min(0.0);
        w = a.clone() - prob.gt(&mu);
        for (b, n) in best.iter_mut().zip(to_host(col_norms(&w))) {
            *b = b.min(n);
        }
    }
    let worst = best.iter().copied().fold(0.0, f64::max);
    let t_max = largest_scale(prob.beta, worst);
    let (t, lower) = prob.loss.best_dual_scale(z, &prob.y, t_max);
    Bound { lower, t, t_max }
}

/// beta / worst: the largest scale of a dual candidate whose worst group norm is `worst` that
/// keeps every group within beta (unbounded when every group norm is 0).
pub fn largest_scale(beta: f64, worst: f64) -> f64 {
    if worst > 0.0 {
        beta / worst
    } else {
        f64::INFINITY
    }
}

/// The Euclidean norm of every column, as a 1 x c row.
fn col_norms<B: Backend>(w: &Tensor<B, 2>) -> Tensor<B, 2> {
    (w.clone() * w.clone()).sum_dim(0).sqrt()
}

/// Maximizes q(t) = -t^2 zz / 2 - t zy over 0 <= t <= beta / worst (the squared loss's dual
/// objective along the ray through (z, mu)); q is concave with its peak at t = -zy / zz.
pub fn best_scale(beta: f64, worst: f64, zz: f64, zy: f64) -> Bound {
    let t_max = largest_scale(beta, worst);
    let (t, lower) = crate::loss::squared_peak(zz, zy, t_max);
    Bound { lower, t, t_max }
}

/// (objective - lower) / |objective|: the relative gap (0 when both are 0).
pub fn relative_gap(objective: f64, lower: f64) -> f64 {
    let gap = objective - lower;
    if gap == 0.0 {
        0.0
    } else {
        gap / objective.abs().max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_the_clipped_peak_and_zero_is_always_feasible() {
        // Peak at t = 2 (zy = -2, zz = 1); feasible up to 0.5.
        let b = best_scale(1.0, 2.0, 1.0, -2.0);
        assert_eq!((b.t, b.t_max), (0.5, 0.5));
        assert_eq!(b.lower, -0.125 + 1.0);
        // Peak inside: t = 2, value 2.
        let b = best_scale(1.0, 0.1, 1.0, -2.0);
        assert_eq!((b.t, b.lower), (2.0, 2.0));
        // A candidate pointing the wrong way gives the trivial bound 0.
        let b = best_scale(1.0, 1.0, 1.0, 3.0);
        assert_eq!((b.t, b.lower), (0.0, 0.0));
        assert_eq!(relative_gap(2.0, 1.0), 0.5);
        assert_eq!(relative_gap(0.0, 0.0), 0.0);
    }
}
