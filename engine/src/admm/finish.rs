//! A second-order finish after ADMM (method.md sec. 8): an active-set polish, as OSQP polishes
//! its ADMM iterate.
//!
//! ADMM identifies the structure of the optimum (which groups are non-zero, which cone rows
//! bind) long before it gets the values to high accuracy. Given that structure, the problem is
//! smooth: minimize loss(F x) + beta sum_{j active} ||x_j|| subject to C_j x_j = 0 on each
//! active group's tight rows C_j (rows of S_i X), every other group zero. That is solved by
//! Newton-CG in the null space of the tight rows: the Hessian is applied matrix-free through
//! F and F^T, and the projection onto the null space needs only the small |T_j| x |T_j| Gram
//! matrix C_j C_j^T of each group's tight rows (never the n x 2P dense-row constraint matrix).
//!
//! The polished point is accepted only when it is proven: the multipliers of its tight rows
//! (least squares on the stationarity condition) are nonnegative, the point restored to every
//! cone row (`feasible.rs`) has an objective within the requested relative gap of the dual
//! bound built from its own gradient and those multipliers (`certificate::bound_along`, which
//! also finds the inactive groups' multipliers). A wrong structure fails one of these, and
//! ADMM goes on.

use super::certificate::{bound_along, relative_gap};
use super::feasible::{Feasible, Restorer};
use crate::loss::Loss;
use crate::problem::{scalar, to_host, Problem};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// Newton steps at most per attempt.
const NEWTON_STEPS: usize = 30;
/// CG steps at most per Newton step.
const CG_STEPS: usize = 50;
/// Projected-gradient steps on the multipliers for the bound (the finish is rare, so it can
/// afford far more than the per-iteration certificate's `MU_STEPS`).
const MU_STEPS: usize = 100;
/// A tight row's multiplier below -this times the largest counts as negative: the row should
/// not bind, so the structure is wrong.
const MU_NEGATIVE: f64 = 1e-6;
/// A row starts tight where ADMM's multiplier is above this fraction of its column's largest.
const TIGHT_FRACTION: f64 = 1e-4;
/// A row whose constraint value is below -this times its column's largest is violated.
const VIOLATED: f64 = 1e-9;
/// Active-set rounds at most per attempt.
const ROUNDS: usize = 6;

/// What one attempt produced.
#[derive(Debug, Clone)]
pub enum Verdict<B: Backend> {
    /// Proven within the tolerance: the feasible point, its certified bound and gap.
    Accepted(Polished<B>),
    /// Not proven, and why (the structure was wrong or the gap is still too large).
    Rejected(String),
}

/// An accepted polish.
#[derive(Debug, Clone)]
pub struct Polished<B: Backend> {
    pub point: Feasible<B>,
    pub lower: f64,
    pub rel_gap: f64,
    pub newton_steps: usize,
    pub cg_steps: usize,
}

/// The tight rows of one active group and the inverse Gram matrix of those rows.
struct Tight {
    col: usize,
    /// |T| x d row-major: the rows s_k x_k of S_i X.
    c: Vec<f64>,
    /// (C C^T + delta I)^{-1}, |T| x |T|.
    w: Mat<f64>,
}

impl Tight {
    /// C y for a column y (length d).
    fn apply(&self, y: &[f64]) -> Vec<f64> {
        self.c.chunks(y.len()).map(|r| dot(r, y)).collect()
    }

    /// (C C^T)^{-1} C y: the least-squares multipliers of the tight rows for a gradient y.
    fn multipliers(&self, y: &[f64]) -> Vec<f64> {
        let cy = self.apply(y);
        let t = cy.len();
        (0..t)
            .map(|a| (0..t).map(|b| self.w[(a, b)] * cy[b]).sum())
            .collect()
    }

    /// y - C^T (C C^T)^{-1} C y: the projection onto the null space of the tight rows.
    fn project(&self, y: &mut [f64]) {
        let d = y.len();
        let m = self.multipliers(y);
        for (r, &mk) in self.c.chunks(d).zip(&m) {
            for (ya, &ra) in y.iter_mut().zip(r) {
                *ya -= mk * ra;
            }
        }
    }
}

/// The reduced problem: the active columns and their tight rows.
struct Reduced {
    d: usize,
    cols: usize,
    active: Vec<bool>,
    tight: Vec<Tight>,
}

impl Reduced {
    /// Zeroes the inactive columns and projects each active one onto its null space
    /// (host d x cols row-major).
    fn project(&self, m: &mut [f64]) {
        let (d, cols) = (self.d, self.cols);
        for j in 0..cols {
            if !self.active[j] {
                for a in 0..d {
                    m[a * cols + j] = 0.0;
                }
            }
        }
        for t in &self.tight {
            let mut y: Vec<f64> = (0..d).map(|a| m[a * cols + t.col]).collect();
            t.project(&mut y);
            for (a, ya) in y.into_iter().enumerate() {
                m[a * cols + t.col] = ya;
            }
        }
    }

    fn column(&self, m: &[f64], j: usize) -> Vec<f64> {
        (0..self.d).map(|a| m[a * self.cols + j]).collect()
    }
}

/// The active groups of `v`: its non-zero columns.
pub fn active_columns<B: Backend>(v: &Tensor<B, 2>) -> Vec<bool> {
    to_host((v.clone() * v.clone()).sum_dim(0))
        .into_iter()
        .map(|s| s > 0.0)
        .collect()
}

/// One attempt: the structure from `v` (active = `active`, tight rows = where ADMM's scaled
/// dual `nu` is negative, i.e. its slack is at zero), the smooth problem solved by Newton-CG,
/// accepted only if proven within relative gap `tol`.
pub fn polish<B: Backend>(
    prob: &Problem<B>,
    restorer: &Restorer<B>,
    v: &Tensor<B, 2>,
    nu: &Tensor<B, 2>,
    rho: f64,
    active: &[bool],
    tol: f64,
) -> Verdict<B> {
    let (n, d, cols) = (prob.n, prob.d, 2 * prob.q());
    if !active.iter().any(|&a| a) {
        return Verdict::Rejected("no active group".into());
    }
    let to_dev = |m: &[f64]| -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(m.to_vec(), [d, cols]), &prob.device)
    };
    // ADMM's multipliers mu = -rho nu; a row starts tight where its multiplier is a visible
    // fraction of its column's largest (rows whose multiplier ADMM is still driving to zero
    // would otherwise all count).
    let mu_admm = to_host(nu.clone().mul_scalar(-rho).clamp_min(0.0));
    let mut sets: Vec<(usize, Vec<usize>)> = Vec::new();
    for j in (0..cols).filter(|&j| active[j]) {
        let top = (0..n).map(|k| mu_admm[k * cols + j]).fold(0.0, f64::max);
        let rows = (0..n)
            .filter(|&k| mu_admm[k * cols + j] > TIGHT_FRACTION * top)
            .collect();
        sets.push((j, rows));
    }
    let mut x = to_host(v.clone());
    let (mut newton_steps, mut cg_steps) = (0, 0);
    // Primal-dual active-set rounds: rows the solution violates join their group's tight
    // set, rows whose multiplier comes out negative leave it.
    for round in 0..ROUNDS {
        let red = match reduced(prob, active, &sets) {
            Ok(red) => red,
            Err(why) => return Verdict::Rejected(why),
        };
        red.project(&mut x);
        let (steps, cg) = newton(prob, &red, &mut x);
        newton_steps += steps;
        cg_steps += cg;
        let xt = to_dev(&x);
        let mut g = to_host(prob.ft(&prob.loss.gradient(prob.f(&xt), &prob.y)));
        add_norm_gradient(&red, &x, &mut g, prob.beta);
        let gx = to_host(prob.g(&xt));
        let mut changed = false;
        let mut largest = 0f64;
        let mut mus = Vec::with_capacity(red.tight.len());
        for t in &red.tight {
            let m = t.multipliers(&red.column(&g, t.col));
            largest = m.iter().fold(largest, |a, b| a.max(b.abs()));
            mus.push(m);
        }
        let mut mu = mu_admm.clone();
        for ((j, rows), m) in sets.iter_mut().zip(&mus) {
            for k in 0..n {
                mu[k * cols + *j] = 0.0;
            }
            let mut keep = Vec::with_capacity(rows.len());
            for (&k, &mk) in rows.iter().zip(m) {
                if mk < -MU_NEGATIVE * largest.max(f64::MIN_POSITIVE) {
                    changed = true;
                } else {
                    mu[k * cols + *j] = mk.max(0.0);
                    keep.push(k);
                }
            }
            let scale = (0..n).map(|k| gx[k * cols + *j].abs()).fold(0.0, f64::max);
            for k in 0..n {
                if gx[k * cols + *j] < -VIOLATED * scale && !keep.contains(&k) {
                    keep.push(k);
                    changed = true;
                }
            }
            *rows = keep;
        }
        if changed && round + 1 < ROUNDS {
            continue;
        }
        let z = prob.loss.gradient(prob.f(&xt), &prob.y);
        let mu = Tensor::from_data(TensorData::new(mu, [n, cols]), &prob.device);
        let bound = bound_along(prob, &z, mu, MU_STEPS);
        let point = restorer.restore(prob, &xt);
        let rel_gap = relative_gap(point.objective, bound.lower);
        if rel_gap.is_nan() || rel_gap > tol {
            return Verdict::Rejected(format!(
                "certified gap {rel_gap:e} above {tol:e} after {} rounds (objective {}, bound {})",
                round + 1,
                point.objective,
                bound.lower
            ));
        }
        return Verdict::Accepted(Polished {
            point,
            lower: bound.lower,
            rel_gap,
            newton_steps,
            cg_steps,
        });
    }
    Verdict::Rejected("no rounds".into())
}

/// The reduced problem of the active columns with tight rows `sets`.
fn reduced<B: Backend>(
    prob: &Problem<B>,
    active: &[bool],
    sets: &[(usize, Vec<usize>)],
) -> Result<Reduced, String> {
    let (d, cols) = (prob.d, 2 * prob.q());
    let mut tight = Vec::new();
    for (j, rows) in sets {
        let j = *j;
        let i = (j % prob.q()) % prob.p;
        if rows.len() >= d {
            return Err(format!(
                "group {j} has {} tight rows in {d} dimensions",
                rows.len()
            ));
        }
        let mut c = Vec::with_capacity(rows.len() * d);
        for &k in rows {
            let s = 2.0 * f64::from(prob.patterns.mask[k * prob.p + i]) - 1.0;
            c.extend((0..d).map(|a| s * f64::from(prob.x_host[k * d + a])));
        }
        let t = rows.len();
        let gram = Mat::<f64>::from_fn(t, t, |a, b| {
            dot(&c[a * d..(a + 1) * d], &c[b * d..(b + 1) * d])
        });
        let scale = (0..t).map(|a| gram[(a, a)]).fold(0.0, f64::max).max(1e-300);
        let ridged = Mat::<f64>::from_fn(t, t, |a, b| {
            gram[(a, b)] + if a == b { 1e-12 * scale } else { 0.0 }
        });
        let w = match ridged.llt(Side::Lower) {
            Ok(llt) => llt.inverse(),
            Err(e) => return Err(format!("group {j}: tight rows {e:?}")),
        };
        tight.push(Tight { col: j, c, w });
    }
    Ok(Reduced {
        d,
        cols,
        active: active.to_vec(),
        tight,
    })
}

/// Newton-CG on the reduced problem from `x` (in its null space); (Newton steps, CG steps).
fn newton<B: Backend>(prob: &Problem<B>, red: &Reduced, x: &mut Vec<f64>) -> (usize, usize) {
    let (d, cols) = (red.d, red.cols);
    let to_dev = |m: &[f64]| -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(m.to_vec(), [d, cols]), &prob.device)
    };
    let (mut newton_steps, mut cg_steps) = (0, 0);
    let mut phi = reduced_objective(prob, &to_dev(x));
    for _ in 0..NEWTON_STEPS {
        let xt = to_dev(x);
        let yhat = prob.f(&xt);
        let mut g = to_host(prob.ft(&prob.loss.gradient(yhat.clone(), &prob.y)));
        add_norm_gradient(red, x, &mut g, prob.beta);
        red.project(&mut g);
        let gg = dot(&g, &g);
        if gg == 0.0 {
            break;
        }
        // Newton-CG on H p = -g within the null space (H p stays there: it is projected).
        let xs: &[f64] = x;
        let hess = |p: &[f64]| -> Vec<f64> {
            let fp = prob.f(&to_dev(p));
            let mut h = to_host(prob.ft(&loss_hessian_times(prob.loss, &yhat, fp)));
            add_norm_hessian(red, xs, p, &mut h, prob.beta);
            red.project(&mut h);
            h
        };
        let (p, steps) = conjugate_gradient(hess, &g, 1e-3f64.min(gg.sqrt().sqrt()));
        cg_steps += steps;
        newton_steps += 1;
        let slope = dot(&g, &p);
        if slope >= 0.0 {
            break;
        }
        // Backtracking (Armijo) on the reduced objective.
        let mut step = 1.0;
        let mut moved = false;
        for _ in 0..30 {
            let trial: Vec<f64> = x.iter().zip(&p).map(|(a, b)| a + step * b).collect();
            let phi_t = reduced_objective(prob, &to_dev(&trial));
            if phi_t <= phi + 1e-4 * step * slope {
                *x = trial;
                phi = phi_t;
                moved = true;
                break;
            }
            step *= 0.5;
        }
        // The Newton decrement: stop once the model promises less than rounding can show.
        if !moved || -slope < 1e-15 * phi.abs().max(1.0) {
            break;
        }
    }
    (newton_steps, cg_steps)
}

/// loss(F x) + beta sum_j ||x_j|| (x zero outside the active columns).
fn reduced_objective<B: Backend>(prob: &Problem<B>, x: &Tensor<B, 2>) -> f64 {
    let norms = (x.clone() * x.clone()).sum_dim(0).sqrt();
    prob.loss.value(prob.f(x), &prob.y) + prob.beta * scalar(norms)
}

/// g_j += beta x_j / ||x_j|| on the active columns.
fn add_norm_gradient(red: &Reduced, x: &[f64], g: &mut [f64], beta: f64) {
    for j in (0..red.cols).filter(|&j| red.active[j]) {
        let xj = red.column(x, j);
        let norm = dot(&xj, &xj).sqrt();
        if norm > 0.0 {
            for (a, xa) in xj.iter().enumerate() {
                g[a * red.cols + j] += beta * xa / norm;
            }
        }
    }
}

/// h_j += beta (p_j / ||x_j|| - x_j <x_j, p_j> / ||x_j||^3): the Hessian of beta ||x_j||.
fn add_norm_hessian(red: &Reduced, x: &[f64], p: &[f64], h: &mut [f64], beta: f64) {
    for j in (0..red.cols).filter(|&j| red.active[j]) {
        let (xj, pj) = (red.column(x, j), red.column(p, j));
        let norm = dot(&xj, &xj).sqrt();
        if norm > 0.0 {
            let xp = dot(&xj, &pj);
            for a in 0..red.d {
                h[a * red.cols + j] += beta * (pj[a] / norm - xj[a] * xp / (norm * norm * norm));
            }
        }
    }
}

/// The loss's Hessian at predictions `yhat` applied to `r` (n x C): r (squared),
/// p (1 - p) r with p = sigma(yhat) (logistic), p .* r - p <p, r> per row with p the softmax
/// (cross-entropy).
fn loss_hessian_times<B: Backend>(
    loss: Loss,
    yhat: &Tensor<B, 2>,
    r: Tensor<B, 2>,
) -> Tensor<B, 2> {
    match loss {
        Loss::Squared => r,
        Loss::Logistic => {
            let p = sigmoid(yhat.clone());
            p.clone() * p.neg().add_scalar(1.0) * r
        }
        Loss::CrossEntropy => {
            let p = softmax(yhat.clone(), 1);
            let pr = p.clone() * r;
            pr.clone() - p * pr.sum_dim(1)
        }
    }
}

/// CG on H p = -g (H positive semidefinite on the null space) to relative residual `tol`.
fn conjugate_gradient(h: impl Fn(&[f64]) -> Vec<f64>, g: &[f64], tol: f64) -> (Vec<f64>, usize) {
    let mut p = vec![0.0; g.len()];
    let mut r: Vec<f64> = g.iter().map(|a| -a).collect();
    let mut dir = r.clone();
    let r0 = dot(&r, &r);
    let mut rr = r0;
    let mut steps = 0;
    while steps < CG_STEPS && rr > tol * tol * r0 {
        let hd = h(&dir);
        let curv = dot(&dir, &hd);
        steps += 1;
        if curv <= 0.0 {
            break;
        }
        let a = rr / curv;
        for i in 0..p.len() {
            p[i] += a * dir[i];
            r[i] -= a * hd[i];
        }
        let rr_new = dot(&r, &r);
        let b = rr_new / rr;
        rr = rr_new;
        for i in 0..dir.len() {
            dir[i] = r[i] + b * dir[i];
        }
    }
    if steps == 0 || p.iter().all(|&a| a == 0.0) {
        // No curvature seen: fall back to steepest descent.
        return (g.iter().map(|a| -a).collect(), steps);
    }
    (p, steps)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
