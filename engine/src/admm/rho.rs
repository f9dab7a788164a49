//! How the penalty rho adapts: never (`fixed`), by residual balancing (Boyd et al. sec. 3.4.1
//! in OSQP's normalized form), or by the spectral rule of adaptive ADMM (Xu, Figueiredo,
//! Goldstein 2017). A rule only proposes; the proposal is adopted when it differs from the
//! current rho by more than `rho_factor` (OSQP's 5x), so that the u-solver's rho-dependent
//! work (a factorization, a sketch) is redone rarely and is always consistent with rho.

use crate::problem::scalar;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// The manifest's `solver.admm.rho_rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum RhoRule {
    /// rho stays as given.
    #[default]
    Fixed,
    /// rho * sqrt(normalized primal residual / normalized dual residual).
    Balance,
    /// Xu et al.'s spectral estimate sqrt(alpha beta) of the curvatures of both sides.
    Spectral,
}

/// The smallest and largest rho a rule may propose (OSQP's bounds, widened: our data scales
/// move rho's natural size by orders of magnitude).
const RHO_MIN: f64 = 1e-10;
const RHO_MAX: f64 = 1e10;
/// Xu et al.'s correlation threshold: a curvature estimate is trusted above it.
const EPS_COR: f64 = 0.2;

/// The residual norms of one iteration, with the scales the Boyd tolerances use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residuals {
    pub primal: f64,
    pub dual: f64,
    /// max(||(u, G u)||, ||(v, s)||).
    pub primal_scale: f64,
    /// rho ||lambda + G^T nu||: the unscaled dual's size.
    pub dual_scale: f64,
}

/// Residual balancing: the rho that would make both normalized residuals equal, if the
/// residuals scale as rho^(+-1/2). None when a residual is zero or not finite.
pub fn balance(rho: f64, r: &Residuals) -> Option<f64> {
    let p = r.primal / r.primal_scale.max(f64::MIN_POSITIVE);
    let d = r.dual / r.dual_scale.max(f64::MIN_POSITIVE);
    let next = rho * (p / d).sqrt();
    (next.is_finite() && next > 0.0).then(|| next.clamp(RHO_MIN, RHO_MAX))
}

/// Whether `proposal` has moved far enough from `rho` to be adopted.
pub fn adopt(rho: f64, proposal: f64, factor: f64) -> bool {
    proposal > rho * factor || proposal < rho / factor
}

/// What the spectral rule needs of one iteration: the u-side (u, G u) with the unscaled
/// "hat" dual y^ = rho (lambda_old + u - v_old, nu_old + G u - s_old), and the v-side (v, s)
/// with the unscaled dual y = rho (lambda, nu). Each is a pair of (d x 2P, n x 2P) tensors.
#[derive(Clone)]
pub struct SpectralPoint<B: Backend> {
    pub h: [Tensor<B, 2>; 2],
    pub y_hat: [Tensor<B, 2>; 2],
    pub g: [Tensor<B, 2>; 2],
    pub y: [Tensor<B, 2>; 2],
}

/// <a, b> summed over both parts.
fn dot<B: Backend>(a: &[Tensor<B, 2>; 2], b: &[Tensor<B, 2>; 2]) -> f64 {
    (0..2).map(|i| scalar(a[i].clone() * b[i].clone())).sum()
}

fn diff<B: Backend>(a: &[Tensor<B, 2>; 2], b: &[Tensor<B, 2>; 2]) -> [Tensor<B, 2>; 2] {
    [a[0].clone() - b[0].clone(), a[1].clone() - b[1].clone()]
}

/// One side's curvature estimate from the change dx of the primal side and dl of its dual,
/// with <dx, dl> >= 0 for a convex function: (safeguarded SD/MG hybrid, correlation).
fn curvature(xx: f64, xl: f64, ll: f64) -> Option<(f64, f64)> {
    if !(xl > 0.0 && xx > 0.0 && ll > 0.0) {
        return None;
    }
    let (sd, mg) = (ll / xl, xl / xx);
    let est = if 2.0 * mg > sd { mg } else { sd - mg / 2.0 };
    Some((est, xl / (xx.sqrt() * ll.sqrt())))
}

/// Xu et al.'s rule from the point `then` (T_f iterations ago) to `now`. In their sign
/// convention the duals are the negatives of ours, which flips the sign of the cross terms
/// of the u-side (whose subgradient is -A^T y^) and leaves the v-side's (B = -I) alone.
pub fn spectral<B: Backend>(then: &SpectralPoint<B>, now: &SpectralPoint<B>) -> Option<f64> {
    let (dh, dyh) = (diff(&now.h, &then.h), diff(&now.y_hat, &then.y_hat));
    let (dg, dy) = (diff(&now.g, &then.g), diff(&now.y, &then.y));
    let a = curvature(dot(&dh, &dh), -dot(&dh, &dyh), dot(&dyh, &dyh));
    let b = curvature(dot(&dg, &dg), dot(&dg, &dy), dot(&dy, &dy));
    let good = |c: Option<(f64, f64)>| c.filter(|&(_, cor)| cor > EPS_COR).map(|(e, _)| e);
    let next = match (good(a), good(b)) {
        (Some(a), Some(b)) => (a * b).sqrt(),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    (next.is_finite() && next > 0.0).then(|| next.clamp(RHO_MIN, RHO_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balancing_moves_rho_towards_the_larger_normalized_residual() {
        let r = Residuals {
            primal: 4.0,
            dual: 1.0,
            primal_scale: 1.0,
            dual_scale: 1.0,
        };
        assert_eq!(balance(1.0, &r), Some(2.0));
        let r = Residuals { dual: 0.0, ..r };
        assert_eq!(balance(1.0, &r), None);
        assert!(adopt(1.0, 5.1, 5.0) && adopt(1.0, 0.19, 5.0));
        assert!(!adopt(1.0, 4.9, 5.0) && !adopt(1.0, 0.21, 5.0));
    }

    #[test]
    fn the_curvature_of_a_quadratic_is_recovered() {
        // f(x) = c/2 ||x||^2: dl = c dx, so SD = MG = c and the correlation is 1.
        let (c, xx) = (3.0, 2.0);
        let (est, cor) = curvature(xx, c * xx, c * c * xx).unwrap();
        assert!((est - c).abs() < 1e-12 && (cor - 1.0).abs() < 1e-12);
        assert_eq!(curvature(1.0, -1.0, 1.0), None);
    }
}
