//! An interior-point solve of the convex program for problems whose Newton system fits in
//! memory as a dense matrix: a certified optimum where ADMM crawls (issue "Certified optima").
//!
//! ADMM identifies which cone rows bind only slowly (fig1: the active-set finish never saw a
//! settled structure in 60 s), and an interior point needs no identification at all. The
//! program, for one output (squared or logistic loss), in epigraph form over the 2P groups
//! j (w_j in R^d, t_j in R):
//!   min  loss(sum_j s_j D_j X w_j) + beta sum_j t_j   s.t.  ||w_j|| <= t_j,  S_j X w_j >= 0
//! (s_j = +1 for the first P groups, -1 for the other P; S_j = 2 D_j - I). The barrier method
//! minimizes tau f0 - sum log(t_j^2 - ||w_j||^2) - sum log((S_j X w_j)_k) by Newton for an
//! increasing tau. The structure keeps the Newton system at 2P (d + 1) unknowns, never the
//! n x 2P rows of the constraint matrix: the loss block is s_j s_l X^T diag(h m_i m_l) X,
//! the rows' barrier a d x d X^T diag(1 / r^2) X per group, the cone's barrier a rank-two
//! d + 1 block. Dense Cholesky of that system is the exact u-step's size (`exact.rs`).
//!
//! Measured (BENCHMARKS.md): every one-output fixture certified to 1e-9 in 0.1-0.5 s; on
//! fig1 (n 1000, P 10, nu = 20,040) the first centering alone takes 260 to over 500 Newton steps
//! (the steps are clipped at rows whose slack is near zero, and at small tau the centre lies
//! far out), so the barrier method is not yet a fig1 finish: a primal-dual method, whose
//! iteration count does not grow with the start's distance from the path, is the next step.
//!
//! The answer is certified by the certificate the ADMM iterates use: the point is strictly
//! feasible, so its objective is an upper bound; on the central path the barrier's row
//! multipliers 1 / (tau r) make (grad loss, mu) dual feasible, and `bound_along` turns them
//! into a lower bound (improving mu and scaling into feasibility where the path is left).

use super::certificate::{bound_along, relative_gap};
use crate::loss::Loss;
use crate::problem::Problem;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use std::time::Instant;

/// The dense Newton system at most this many unknowns (2P (d + 1)): 64 MiB of f64 and about
/// 3e10 flops per Cholesky, a few tenths of a second at the GEMM rate measured here.
pub const MAX_UNKNOWNS: usize = 4096;
/// tau grows by this factor once a centering step has converged.
const TAU_GROWTH: f64 = 20.0;
/// Centering stops once the Newton decrement lambda^2 / 2 falls below this.
const CENTERED: f64 = 1e-7;
/// Armijo fraction of the predicted decrease a step must achieve.
const ARMIJO: f64 = 0.25;
/// A step goes this fraction of the way to the boundary at most.
const TO_BOUNDARY: f64 = 0.99;
/// Projected-gradient steps on the multipliers for the lower bound (as the finish's).
const MU_STEPS: usize = 100;

/// Why the interior point did not run or did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InteriorError {
    #[error("the interior point handles one output with the squared or logistic loss")]
    Unsupported,
    #[error("the Newton system has {0} unknowns, more than the dense limit {MAX_UNKNOWNS}")]
    TooLarge(usize),
    #[error("no strictly feasible start: a gate lies on a data point's hyperplane")]
    NoInterior,
    #[error("the Newton system is not positive definite (tau {0:e})")]
    Singular(f64),
}

/// The interior point's answer: a strictly feasible v and its certificate.
#[derive(Debug, Clone)]
pub struct Interior<B: Backend> {
    /// d x 2P, the model (strictly inside every cone).
    pub v: Tensor<B, 2>,
    /// Its objective (the certificate's upper bound).
    pub objective: f64,
    /// The dual bound.
    pub lower: f64,
    /// (objective - lower) / objective.
    pub rel_gap: f64,
    /// Newton steps taken in all.
    pub newton_steps: usize,
    /// Barrier parameters visited.
    pub outer: usize,
    pub seconds: f64,
}

/// Whether the dense interior point applies to `prob`: one output, squared or logistic loss,
/// and a Newton system within `MAX_UNKNOWNS`.
pub fn applies<B: Backend>(prob: &Problem<B>) -> Result<(), InteriorError> {
    if prob.c != 1 || !matches!(prob.loss, Loss::Squared | Loss::Logistic) {
        return Err(InteriorError::Unsupported);
    }
    let unknowns = 2 * prob.p * (prob.d + 1);
    if unknowns > MAX_UNKNOWNS {
        return Err(InteriorError::TooLarge(unknowns));
    }
    Ok(())
}

/// The host copy of the problem in f64 and the barrier's state.
struct Barrier {
    n: usize,
    d: usize,
    p: usize,
    beta: f64,
    loss: Loss,
    /// X, n x d.
    x: Mat<f64>,
    /// Targets y (n).
    y: Vec<f64>,
    /// Mask, n x P (0/1).
    m: Mat<f64>,
    /// [m_i .* X]_i, n x Pd: the columns of F on the first side.
    fp: Mat<f64>,
    /// w_j (d x 2P) and t_j.
    w: Mat<f64>,
    t: Vec<f64>,
}

impl Barrier {
    fn groups(&self) -> usize {
        2 * self.p
    }

    /// Pattern and sign of group j.
    fn pattern(&self, j: usize) -> (usize, f64) {
        (j % self.p, if j < self.p { 1.0 } else { -1.0 })
    }

    /// F w: the prediction (n).
    fn predict(&self, w: &Mat<f64>) -> Vec<f64> {
        let xw = &self.x * w;
        (0..self.n)
            .map(|k| {
                (0..self.groups())
                    .map(|j| {
                        let (i, s) = self.pattern(j);
                        s * self.m[(k, i)] * xw[(k, j)]
                    })
                    .sum()
            })
            .collect()
    }

    /// The row slacks r = S_j X w_j (n x 2P) of `xw` = X w.
    fn slacks(&self, xw: &Mat<f64>) -> Mat<f64> {
        Mat::from_fn(self.n, self.groups(), |k, j| {
            let (i, _) = self.pattern(j);
            (2.0 * self.m[(k, i)] - 1.0) * xw[(k, j)]
        })
    }

    /// The loss, its gradient and its curvature at the prediction `yhat`.
    fn loss(&self, yhat: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let mut value = 0.0;
        let mut grad = Vec::with_capacity(self.n);
        let mut curv = Vec::with_capacity(self.n);
        for (&f, &y) in yhat.iter().zip(&self.y) {
            match self.loss {
                Loss::Logistic => {
                    let z = -y * f;
                    // log(1 + e^z), stably.
                    value += if z > 0.0 {
                        z + (-z).exp().ln_1p()
                    } else {
                        z.exp().ln_1p()
                    };
                    let sig = 1.0 / (1.0 + (-z).exp()); // sigma(-y f)
                    grad.push(-y * sig);
                    curv.push(sig * (1.0 - sig));
                }
                _ => {
                    value += 0.5 * (f - y) * (f - y);
                    grad.push(f - y);
                    curv.push(1.0);
                }
            }
        }
        (value, grad, curv)
    }

    /// f0 = loss + beta sum t, and the barrier, at (w, t) with prediction `yhat` and slacks
    /// `r`; None outside the domain.
    fn merit(&self, tau: f64, yhat: &[f64], r: &Mat<f64>, w: &Mat<f64>, t: &[f64]) -> Option<f64> {
        let (loss, _, _) = self.loss(yhat);
        self.merit_with(tau, loss, r, w, t)
    }

    /// `merit` with the loss already known (the Newton step computed it at this point).
    fn merit_with(
        &self,
        tau: f64,
        loss: f64,
        r: &Mat<f64>,
        w: &Mat<f64>,
        t: &[f64],
    ) -> Option<f64> {
        let mut barrier = 0.0;
        for j in 0..self.groups() {
            let ww: f64 = (0..self.d).map(|a| w[(a, j)] * w[(a, j)]).sum();
            let cone = t[j] * t[j] - ww;
            if t[j] <= 0.0 || cone <= 0.0 {
                return None;
            }
            barrier -= cone.ln();
            for k in 0..self.n {
                let s = r[(k, j)];
                if s <= 0.0 {
                    return None;
                }
                barrier -= s.ln();
            }
        }
        Some(tau * (loss + self.beta * t.iter().sum::<f64>()) + barrier)
    }
}

/// Index of coordinate a of w_j (a < d) or of t_j (a = d) in the Newton system.
fn at(d: usize, j: usize, a: usize) -> usize {
    j * (d + 1) + a
}

/// Solves the convex program of `prob` by the barrier method until its certified relative
/// gap is at most `tol_gap` (or `max_newton` Newton steps are spent; the answer then says
/// how far it got).
pub fn solve<B: Backend>(
    prob: &Problem<B>,
    tol_gap: f64,
    max_newton: usize,
) -> Result<Interior<B>, InteriorError> {
    applies(prob)?;
    let start = Instant::now();
    let mut b = host(prob);
    start_inside(&mut b, prob)?;
    let (d, groups) = (b.d, b.groups());
    let size = groups * (d + 1);
    // nu: the barrier's parameter (every row of every group, and two per cone).
    let nu = (groups * (b.n + 2)) as f64;
    // The first tau weighs the objective like the barrier: nu / f0.
    let f0 = {
        let (loss, _, _) = b.loss(&b.predict(&b.w));
        loss + b.beta * b.t.iter().sum::<f64>()
    };
    let mut tau = nu / f0.max(1e-12);
    let mut steps = 0;
    let mut outer = 0;
    let mut best: Option<Interior<B>> = None;
    // The loss block of the Hessian (`loss_block`).
    let mut loss_hessian: Option<Mat<f64>> = None;
    let trace = std::env::var_os("ADMM_INTERIOR_TRACE").is_some();
    loop {
        outer += 1;
        let before = steps;
        // Center: Newton on tau f0 + barrier.
        while steps < max_newton {
            steps += 1;
            let xw = &b.x * &b.w;
            let r = b.slacks(&xw);
            let yhat = b.predict(&b.w);
            let (loss_value, g_loss, h_loss) = b.loss(&yhat);
            // The squared loss's block is constant: built once, then reused.
            if b.loss != Loss::Squared {
                loss_hessian = None;
            }
            let hp = loss_hessian.get_or_insert_with(|| loss_block(&b, &h_loss));
            let (hess, grad) = newton_system(&b, tau, hp, &g_loss, &r);
            let dx = factor_solve(hess, &grad).ok_or(InteriorError::Singular(tau))?;
            let decrement: f64 = (0..size).map(|i| grad[(i, 0)] * dx[(i, 0)]).sum();
            // The step is -dx.
            let dw = Mat::from_fn(d, groups, |a, j| -dx[(at(d, j, a), 0)]);
            let dt: Vec<f64> = (0..groups).map(|j| -dx[(at(d, j, d), 0)]).collect();
            if decrement / 2.0 <= CENTERED {
                break;
            }
            let here = b.merit_with(tau, loss_value, &r, &b.w, &b.t);
            let alpha = line_search(&b, tau, here, &r, &yhat, &dw, &dt, decrement);
            if trace && (steps - before < 20 || (steps - before) % 20 == 0) {
                eprintln!(
                    "  step {}: decrement {decrement:.3e}, alpha {alpha:.3e}, t_max {:.3e}",
                    steps - before,
                    b.t.iter().cloned().fold(0.0, f64::max)
                );
            }
            if alpha == 0.0 {
                break;
            }
            for j in 0..groups {
                for a in 0..d {
                    b.w[(a, j)] += alpha * dw[(a, j)];
                }
                b.t[j] += alpha * dt[j];
            }
        }
        let candidate = certify(prob, &b, tau, start);
        if trace {
            eprintln!(
                "interior: tau {tau:.3e} centered in {} Newton steps, objective {:.10e}, \
                 certified gap {:.2e}, {:.2} s",
                steps - before,
                candidate.objective,
                candidate.rel_gap,
                candidate.seconds
            );
        }
        let done = candidate.rel_gap <= tol_gap || steps >= max_newton;
        if best.as_ref().is_none_or(|x| candidate.rel_gap < x.rel_gap) {
            best = Some(Interior {
                newton_steps: steps,
                outer,
                ..candidate
            });
        }
        if done {
            break;
        }
        tau *= TAU_GROWTH;
    }
    Ok(best.expect("at least one outer iteration ran"))
}

/// The f64 host copy of `prob` (one output).
fn host<B: Backend>(prob: &Problem<B>) -> Barrier {
    let (n, d, p) = (prob.n, prob.d, prob.p);
    let x = Mat::<f64>::from_fn(n, d, |k, a| f64::from(prob.x_host[k * d + a]));
    let m = Mat::<f64>::from_fn(n, p, |k, i| f64::from(prob.patterns.mask[k * p + i]));
    let fp = Mat::<f64>::from_fn(n, p * d, |k, c| m[(k, c / d)] * x[(k, c % d)]);
    Barrier {
        n,
        d,
        p,
        beta: prob.beta,
        loss: prob.loss,
        y: prob.y_host.iter().map(|&v| f64::from(v)).collect(),
        x,
        m,
        fp,
        w: Mat::zeros(d, 2 * p),
        t: vec![0.0; 2 * p],
    }
}

/// A strictly feasible start at the data's scale: each group along its own gate (strictly
/// inside its cone unless a data point lies on the gate's hyperplane), the two sides' lengths
/// a_i - b_i fitting y by least squares on the P gated features m_i .* X h_i, and t_j above
/// the norm. A start at the origin's scale costs hundreds of Newton steps on fig1: the steps
/// are clipped at the row boundaries, so w can grow only a few percent per step.
fn start_inside<B: Backend>(b: &mut Barrier, prob: &Problem<B>) -> Result<(), InteriorError> {
    let (n, d, p) = (b.n, b.d, b.p);
    let mut gates = Mat::<f64>::zeros(d, p);
    for i in 0..p {
        let h: Vec<f64> = (0..d)
            .map(|a| f64::from(prob.patterns.gates[a * p + i]))
            .collect();
        let norm = h.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(InteriorError::NoInterior);
        }
        for a in 0..d {
            gates[(a, i)] = h[a] / norm;
        }
    }
    let xh = &b.x * &gates;
    let phi = Mat::<f64>::from_fn(n, p, |k, i| b.m[(k, i)] * xh[(k, i)]);
    let y = Mat::<f64>::from_fn(n, 1, |k, _| b.y[k]);
    let mut normal = phi.transpose() * &phi;
    let top = (0..p).map(|i| normal[(i, i)]).fold(0.0, f64::max);
    for i in 0..p {
        normal[(i, i)] += 1e-8 * top + f64::MIN_POSITIVE;
    }
    let delta = match normal.llt(Side::Lower) {
        Ok(llt) => llt.solve(&(phi.transpose() * &y)),
        Err(_) => Mat::zeros(p, 1),
    };
    let mean = (0..p).map(|i| delta[(i, 0)].abs()).sum::<f64>() / p as f64;
    let floor = if mean > 0.0 { 0.1 * mean } else { 1e-3 };
    for j in 0..2 * p {
        let (i, s) = b.pattern(j);
        let length = floor + (s * delta[(i, 0)]).max(0.0);
        for a in 0..d {
            b.w[(a, j)] = length * gates[(a, i)];
        }
        b.t[j] = 2.0 * length;
    }
    let r = b.slacks(&(&b.x * &b.w));
    if (0..r.nrows()).any(|k| (0..r.ncols()).any(|j| r[(k, j)] <= 0.0)) {
        return Err(InteriorError::NoInterior);
    }
    Ok(())
}

/// Hp = Fp^T diag(h) Fp (Pd x Pd): the loss's Hessian on the first side (the full one is
/// [[Hp, -Hp], [-Hp, Hp]] since F = [Fp, -Fp]).
fn loss_block(b: &Barrier, h: &[f64]) -> Mat<f64> {
    let scaled = Mat::<f64>::from_fn(b.n, b.p * b.d, |k, c| h[k] * b.fp[(k, c)]);
    b.fp.transpose() * &scaled
}

/// The Hessian and gradient of tau f0 + barrier at the barrier's point.
fn newton_system(
    b: &Barrier,
    tau: f64,
    hp: &Mat<f64>,
    g_loss: &[f64],
    r: &Mat<f64>,
) -> (Mat<f64>, Mat<f64>) {
    let (n, d, p, groups) = (b.n, b.d, b.p, b.groups());
    let size = groups * (d + 1);
    let mut hess = Mat::<f64>::zeros(size, size);
    let mut grad = Mat::<f64>::zeros(size, 1);
    // Loss: tau s_j s_l Hp[i, l'] between the w blocks.
    for j in 0..groups {
        let (i, sj) = b.pattern(j);
        for l in 0..groups {
            let (il, sl) = b.pattern(l);
            let c = tau * sj * sl;
            for a in 0..d {
                for e in 0..d {
                    hess[(at(d, j, a), at(d, l, e))] = c * hp[(i * d + a, il * d + e)];
                }
            }
        }
    }
    // Loss gradient: tau s_j X^T (m_i .* g); the rows' barrier: -X^T (S_i ./ r_j).
    let mg = Mat::<f64>::from_fn(n, p, |k, i| b.m[(k, i)] * g_loss[k]);
    let xtmg = b.x.transpose() * &mg;
    let inv_r = Mat::<f64>::from_fn(n, groups, |k, j| {
        let (i, _) = b.pattern(j);
        (2.0 * b.m[(k, i)] - 1.0) / r[(k, j)]
    });
    let xt_inv_r = b.x.transpose() * &inv_r;
    for j in 0..groups {
        let (i, s) = b.pattern(j);
        let w: Vec<f64> = (0..d).map(|a| b.w[(a, j)]).collect();
        let t = b.t[j];
        let cone = t * t - w.iter().map(|v| v * v).sum::<f64>();
        for a in 0..d {
            grad[(at(d, j, a), 0)] = tau * s * xtmg[(a, i)] - xt_inv_r[(a, j)] + 2.0 * w[a] / cone;
        }
        grad[(at(d, j, d), 0)] = tau * b.beta - 2.0 * t / cone;
        // The rows' barrier: X^T diag(1 / r^2) X.
        let xs = Mat::<f64>::from_fn(n, d, |k, a| b.x[(k, a)] / r[(k, j)]);
        let rows = xs.transpose() * &xs;
        for a in 0..d {
            for e in 0..d {
                let mut v = rows[(a, e)] + 4.0 * w[a] * w[e] / (cone * cone);
                if a == e {
                    v += 2.0 / cone;
                }
                hess[(at(d, j, a), at(d, j, e))] += v;
            }
            let wt = -4.0 * t * w[a] / (cone * cone);
            hess[(at(d, j, a), at(d, j, d))] += wt;
            hess[(at(d, j, d), at(d, j, a))] += wt;
        }
        hess[(at(d, j, d), at(d, j, d))] += -2.0 / cone + 4.0 * t * t / (cone * cone);
    }
    (hess, grad)
}

/// Solves hess dx = grad by Cholesky. The loss block is singular (rank n at most) and the
/// barrier's blocks are tiny next to it late on the path, so rounding can leave the matrix
/// numerically indefinite: a ridge of 1e-12, then 1e-10 and 1e-8 times the largest diagonal
/// entry is added before giving up (it only shortens or bends the step; the line search
/// keeps every accepted step a descent step).
fn factor_solve(mut hess: Mat<f64>, grad: &Mat<f64>) -> Option<Mat<f64>> {
    let size = hess.nrows();
    let top = (0..size).map(|i| hess[(i, i)]).fold(0.0, f64::max);
    let mut added = 0.0;
    for ridge in [0.0, 1e-12, 1e-10, 1e-8] {
        let extra = ridge * top - added;
        for i in 0..size {
            hess[(i, i)] += extra;
        }
        added += extra;
        if let Ok(llt) = hess.llt(Side::Lower) {
            return Some(llt.solve(grad));
        }
    }
    None
}

/// The step length along (dw, dt): at most `TO_BOUNDARY` of the way to the nearest boundary,
/// then halved until the merit falls by `ARMIJO` of the predicted decrease. 0 when no
/// length helps (the decrement is at rounding level).
#[allow(clippy::too_many_arguments)]
fn line_search(
    b: &Barrier,
    tau: f64,
    here: Option<f64>,
    r: &Mat<f64>,
    yhat: &[f64],
    dw: &Mat<f64>,
    dt: &[f64],
    decrement: f64,
) -> f64 {
    let dr = b.slacks(&(&b.x * dw));
    let dyhat = b.predict(dw);
    let mut alpha: f64 = 1.0;
    for j in 0..b.groups() {
        for k in 0..b.n {
            if dr[(k, j)] < 0.0 {
                alpha = alpha.min(-TO_BOUNDARY * r[(k, j)] / dr[(k, j)]);
            }
        }
    }
    let here = here.unwrap_or(f64::INFINITY);
    for _ in 0..60 {
        let w = Mat::from_fn(b.d, b.groups(), |a, j| b.w[(a, j)] + alpha * dw[(a, j)]);
        let t: Vec<f64> = b.t.iter().zip(dt).map(|(t, d)| t + alpha * d).collect();
        let r_new = Mat::from_fn(b.n, b.groups(), |k, j| r[(k, j)] + alpha * dr[(k, j)]);
        let y_new: Vec<f64> = yhat
            .iter()
            .zip(&dyhat)
            .map(|(y, d)| y + alpha * d)
            .collect();
        if let Some(there) = b.merit(tau, &y_new, &r_new, &w, &t) {
            if there <= here - ARMIJO * alpha * decrement {
                return alpha;
            }
        }
        alpha *= 0.5;
    }
    0.0
}

/// The barrier's point as the model, with its certificate: its objective (it is strictly
/// feasible) against `bound_along` from the loss gradient and the row multipliers 1/(tau r).
fn certify<B: Backend>(prob: &Problem<B>, b: &Barrier, tau: f64, start: Instant) -> Interior<B> {
    let (n, d, groups) = (b.n, b.d, b.groups());
    let dev = &prob.device;
    let v_host: Vec<f64> = (0..d)
        .flat_map(|a| (0..groups).map(move |j| (a, j)))
        .map(|(a, j)| b.w[(a, j)])
        .collect();
    let v = Tensor::<B, 2>::from_data(TensorData::new(v_host, [d, groups]), dev);
    let yhat = b.predict(&b.w);
    let (loss, g_loss, _) = b.loss(&yhat);
    let norms: f64 = (0..groups)
        .map(|j| (0..d).map(|a| b.w[(a, j)].powi(2)).sum::<f64>().sqrt())
        .sum();
    let objective = loss + b.beta * norms;
    let r = b.slacks(&(&b.x * &b.w));
    let mu: Vec<f64> = (0..n)
        .flat_map(|k| (0..groups).map(move |j| (k, j)))
        .map(|(k, j)| 1.0 / (tau * r[(k, j)]))
        .collect();
    let z = Tensor::<B, 2>::from_data(TensorData::new(g_loss, [n, 1]), dev);
    let mu = Tensor::<B, 2>::from_data(TensorData::new(mu, [n, groups]), dev);
    let lower = bound_along(prob, &z, mu, MU_STEPS).lower;
    Interior {
        v,
        objective,
        lower,
        rel_gap: relative_gap(objective, lower),
        newton_steps: 0,
        outer: 0,
        seconds: start.elapsed().as_secs_f64(),
    }
}
