//! A lower bound on the optimal value from ADMM's iterates: a duality-gap certificate
//! (docs/certificate.md derives it; method.md sec. 7).
//!
//! For the squared loss the Lagrangian dual of
//!   min_u 1/2 ||F u - y||^2 + beta sum_j ||u_j||  s.t.  G u >= 0
//! is
//!   max  -1/2 ||z||^2 - <z, y>  over z and mu >= 0,  s.t.  ||(F^T z - G^T mu)_j|| <= beta,
//! so every dual-feasible (z, mu) bounds the optimum from below. The candidate is
//! z = F u - y and mu = max(0, -rho nu) (the unscaled multiplier of G u - s = 0), scaled by the
//! t in [0, t_max] that maximizes the dual objective, t_max keeping every group feasible.
//! Any t in that range gives a valid bound, so rounding in t only loosens it.

use crate::problem::{scalar, Problem};
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

/// The lower bound from u (d x 2P) and the scaled dual nu (n x 2P) at penalty rho.
/// Costs one F, one F^T and one G^T application.
pub fn lower_bound<B: Backend>(
    prob: &Problem<B>,
    u: &Tensor<B, 2>,
    nu: &Tensor<B, 2>,
    rho: f64,
) -> Bound {
    let z = prob.f(u) - prob.y.clone();
    let mu = nu.clone().mul_scalar(-rho).clamp_min(0.0);
    let w = prob.ft(&z) - prob.gt(&mu);
    let worst = scalar((w.clone() * w).sum_dim(0).sqrt().max());
    let zz = scalar(z.clone() * z.clone());
    let zy = scalar(z * prob.y.clone());
    best_scale(prob.beta, worst, zz, zy)
}

/// Maximizes q(t) = -t^2 zz / 2 - t zy over 0 <= t <= beta / worst (the dual objective along
/// the ray through (z, mu)); q is concave with its peak at t = -zy / zz.
pub fn best_scale(beta: f64, worst: f64, zz: f64, zy: f64) -> Bound {
    let t_max = if worst > 0.0 {
        beta / worst
    } else {
        f64::INFINITY
    };
    let peak = if zz > 0.0 { -zy / zz } else { 0.0 };
    let t = peak.clamp(0.0, t_max);
    let t = if t.is_finite() { t } else { 0.0 };
    Bound {
        lower: -0.5 * t * t * zz - t * zy,
        t,
        t_max,
    }
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
