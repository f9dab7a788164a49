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
use super::{interior, sync, Admm};
use crate::executor::IterRecord;
use crate::loss::Loss;
use crate::metrics::{evaluate, Metrics};
use crate::problem::{scalar, to_host, Problem};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use std::time::Instant;

/// Newton steps at most per attempt.
const NEWTON_STEPS: usize = 30;
/// Newton stops once its model promises a decrease below this fraction of the objective
/// (far below any gap a user asks for, far above rounding).
const NEWTON_DECREMENT: f64 = 1e-13;
/// CG steps at most per Newton step.
const CG_STEPS: usize = 50;
/// Projected-gradient steps on the multipliers for the bound (the finish is rare, so it can
/// afford far more than the per-iteration certificate's `MU_STEPS`).
const MU_STEPS: usize = 100;
/// A tight row's multiplier below -this times the largest counts as negative: the row should
/// not bind, so the structure is wrong.
const MU_NEGATIVE: f64 = 1e-6;
/// A row can start tight only where ADMM's multiplier is above this fraction of its column's
/// largest.
const TIGHT_FRACTION: f64 = 1e-4;
/// A row whose constraint value is below -this times its column's largest is violated.
const VIOLATED: f64 = 1e-9;
/// The structure counts as settled when at most one in this many zero-slack rows changed.
const FLICKER: usize = 50;
/// A certified gap below this means ADMM is near enough for the finish whatever flickers.
const NEAR: f64 = 1e-3;
/// A round that changes more than one in this many tight rows ends the attempt.
const FAR: usize = 4;
/// Active-set rounds at most per attempt.
const ROUNDS: usize = 6;
/// An active group whose norm falls below this fraction of the largest has collapsed to zero.
const COLLAPSED: f64 = 1e-9;
/// An active group below this fraction of the largest norm, for which zero is optimal given
/// the others, is collapsing: Newton only creeps towards the kink of its norm.
const SHRUNK: f64 = 1e-3;

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

/// The interior point's Newton steps at most: fig1 needs 53 for 1e-6, the fixtures 20-40.
const INTERIOR_STEPS: usize = 200;

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

/// ADMM's current guess at the structure: v's non-zero columns, then the rows of the slack
/// `s` (n x cols) that sit at zero, as one flag per entry.
pub fn structure<B: Backend>(v: &Tensor<B, 2>, s: &Tensor<B, 2>) -> Vec<bool> {
    let mut flags = active_columns(v);
    flags.extend(to_host(s.clone()).into_iter().map(|x| x <= 0.0));
    flags
}

/// Whether the structure held still between two checks (`structure`, whose first `cols` flags
/// are the groups): the same non-zero groups, and at most one in `FLICKER` of the zero-slack
/// rows changed, or a certified gap `rel_gap` already below `NEAR` (an inexact u-solver such
/// as RBCD keeps borderline rows flickering long after the structure is known).
pub fn settled(before: &[bool], now: &[bool], cols: usize, rel_gap: f64) -> bool {
    if before.len() != now.len() || before[..cols] != now[..cols] {
        return false;
    }
    if rel_gap <= NEAR {
        return true;
    }
    let tight = now[cols..].iter().filter(|&&t| t).count();
    let changed = before[cols..]
        .iter()
        .zip(&now[cols..])
        .filter(|(a, b)| a != b)
        .count();
    changed * FLICKER <= tight
}

/// The active groups of `v`: its non-zero columns.
pub fn active_columns<B: Backend>(v: &Tensor<B, 2>) -> Vec<bool> {
    to_host((v.clone() * v.clone()).sum_dim(0))
        .into_iter()
        .map(|s| s > 0.0)
        .collect()
}

/// One attempt: the structure from `v` (active = `active`; tight rows where ADMM's multiplier
/// -rho nu outweighs v's constraint value, `initial_tight`), the smooth problem solved by
/// Newton-CG, the structure corrected in primal-dual active-set rounds (negative multipliers
/// leave, violated rows join, collapsed groups become inactive), accepted only if proven
/// within relative gap `tol`.
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
    // ADMM's multipliers mu = -rho nu, and the constraint values of v.
    let mu_admm = to_host(nu.clone().mul_scalar(-rho).clamp_min(0.0));
    let gv = to_host(prob.g(v));
    let cap = d.saturating_sub(1);
    let mut active = active.to_vec();
    let mut sets: Vec<(usize, Vec<usize>)> = (0..cols)
        .filter(|&j| active[j])
        .map(|j| {
            let mu: Vec<f64> = (0..n).map(|k| mu_admm[k * cols + j]).collect();
            let g: Vec<f64> = (0..n).map(|k| gv[k * cols + j]).collect();
            (j, initial_tight(&mu, &g, cap))
        })
        .collect();
    let mut x = to_host(v.clone());
    let (mut newton_steps, mut cg_steps) = (0, 0);
    // Primal-dual active-set rounds: rows the solution violates join their group's tight
    // set, rows whose multiplier comes out negative leave it.
    // A structure met twice means the rounds cycle: reject at once, so that a failed attempt
    // stays cheap and ADMM gets on with identifying the structure.
    let mut seen: Vec<Vec<(usize, Vec<usize>)>> = Vec::new();
    for round in 0..ROUNDS {
        if seen.contains(&sets) {
            return Verdict::Rejected(format!("the active set cycles after {round} rounds"));
        }
        seen.push(sets.clone());
        let red = match reduced(prob, &active, &sets) {
            Ok(red) => red,
            Err(why) => return Verdict::Rejected(why),
        };
        red.project(&mut x);
        let (steps, cg) = newton(prob, &red, &mut x);
        newton_steps += steps;
        cg_steps += cg;
        if std::env::var_os("ADMM_FINISH_TRACE").is_some() {
            let sizes: Vec<usize> = sets.iter().map(|(_, r)| r.len()).collect();
            eprintln!(
                "finish round {round}: objective {:.10e} after {steps} Newton steps, tight rows {sizes:?}",
                reduced_objective(prob, &to_dev(&x))
            );
        }
        // A group Newton drove to (numerically) zero belongs to the inactive ones: its norm
        // is not smooth there, so Newton would only creep towards it.
        // Zero is optimal for group j (the others fixed) when the loss gradient projected
        // onto its free directions is inside the ball of radius beta; such a group that has
        // also shrunk is collapsing.
        let norms: Vec<f64> = (0..cols).map(|j| norm(&red.column(&x, j))).collect();
        let top = norms.iter().copied().fold(0.0, f64::max);
        // The loss gradient at x, once per round: the collapse test, the stationarity
        // multipliers and the bound all read it.
        let xt = to_dev(&x);
        let z = prob.loss.gradient(prob.f(&xt), &prob.y);
        let a = to_host(prob.ft(&z));
        let free_gradient = |j: usize| -> f64 {
            let mut aj = red.column(&a, j);
            if let Some(t) = red.tight.iter().find(|t| t.col == j) {
                t.project(&mut aj);
            }
            norm(&aj)
        };
        let collapsed: Vec<usize> = (0..cols)
            .filter(|&j| {
                active[j]
                    && (norms[j] <= COLLAPSED * top
                        || (norms[j] <= SHRUNK * top && free_gradient(j) < prob.beta))
            })
            .collect();
        if !collapsed.is_empty() && round + 1 < ROUNDS {
            for &j in &collapsed {
                active[j] = false;
                for a in 0..d {
                    x[a * cols + j] = 0.0;
                }
            }
            sets.retain(|(j, _)| active[*j]);
            if !active.iter().any(|&a| a) {
                return Verdict::Rejected("every active group collapsed to zero".into());
            }
            continue;
        }
        let mut g = a;
        add_norm_gradient(&red, &x, &mut g, prob.beta);
        let gx = to_host(prob.g(&xt));
        let mut changes = 0usize;
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
                    changes += 1;
                } else {
                    mu[k * cols + *j] = mk.max(0.0);
                    keep.push(k);
                }
            }
            // Violated rows join, the most violated first, while the group has room.
            let scale = (0..n).map(|k| gx[k * cols + *j].abs()).fold(0.0, f64::max);
            let mut violated: Vec<(f64, usize)> = (0..n)
                .map(|k| (gx[k * cols + *j], k))
                .filter(|&(g, k)| g < -VIOLATED * scale && !keep.contains(&k))
                .collect();
            violated.sort_by(|p, q| p.0.total_cmp(&q.0));
            for (_, k) in violated {
                if keep.len() >= cap {
                    break;
                }
                keep.push(k);
                changes += 1;
            }
            keep.sort_unstable();
            *rows = keep;
        }
        let tight: usize = sets.iter().map(|(_, rows)| rows.len()).sum();
        if changes * FAR > tight.max(1) {
            // More than one in FAR rows moved: the structure is far from ADMM's limit, and
            // rounds from here cost more than ADMM needs to settle it.
            return Verdict::Rejected(format!(
                "{changes} of {tight} tight rows changed in round {round}"
            ));
        }
        if changes > 0 && round + 1 < ROUNDS {
            continue;
        }
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

/// The finish's two entry points on the ADMM state (here, beside the finish itself).
impl<B: Backend> Admm<'_, B> {
    /// One attempt of the active-set finish from the current iterate, with the active
    /// groups `active` (the non-zero columns of v, `active_columns`; a test injects
    /// others). Charged to the u-step's time. The state is left alone: an accepted result is
    /// taken by `take_polished`.
    pub fn try_finish(&mut self, active: &[bool]) -> Verdict<B> {
        let t = Instant::now();
        let st = &self.st;
        let verdict = polish(
            self.prob,
            &self.restorer,
            &st.v,
            &st.nu,
            self.rho,
            active,
            self.opts.tol_gap,
        );
        sync(self.prob);
        if std::env::var_os("ADMM_FINISH_TRACE").is_some() {
            if let Verdict::Rejected(why) = &verdict {
                eprintln!("finish rejected: {why}");
            }
        }
        self.times.u += t.elapsed().as_secs_f64();
        verdict
    }

    /// The interior-point finish (`interior.rs`) where it applies: its certified point when it
    /// proves `tol_gap`, otherwise None (ADMM goes on, with the active-set finish). Charged
    /// to the u-step's time, as the active-set finish.
    pub fn try_interior(&mut self) -> Option<Polished<B>> {
        interior::applies(self.prob).ok()?;
        let t = Instant::now();
        let left = self
            .time_limit
            .map_or(f64::INFINITY, |limit| limit - self.times.total());
        let out = interior::solve(self.prob, self.opts.tol_gap, INTERIOR_STEPS, left);
        sync(self.prob);
        self.times.u += t.elapsed().as_secs_f64();
        if std::env::var_os("ADMM_FINISH_TRACE").is_some() {
            match &out {
                Ok(o) => eprintln!(
                    "interior finish: gap {:.2e} in {} Newton steps, {:.2} s",
                    o.rel_gap, o.newton_steps, o.seconds
                ),
                Err(e) => eprintln!("interior finish: {e}"),
            }
        }
        let out = out.ok().filter(|o| o.rel_gap <= self.opts.tol_gap)?;
        Some(Polished {
            point: Feasible {
                v: out.v,
                objective: out.objective,
                shifted: 0,
                zeroed: 0,
            },
            lower: out.lower,
            rel_gap: out.rel_gap,
            newton_steps: out.newton_steps,
            cg_steps: 0,
        })
    }

    /// Makes an accepted polish the iterate (u = v = the polished point) and the record's
    /// model, bound and gap.
    pub(super) fn take_polished(&mut self, p: Polished<B>, r: &mut IterRecord) {
        let v = p.point.v.clone();
        self.st.u = v.clone();
        self.st.v = v.clone();
        r.metrics = Metrics {
            train_acc_u: r.metrics.train_acc_u,
            ..evaluate(self.prob, &v)
        };
        r.upper_bound = p.point.objective;
        r.lower_bound = p.lower;
        r.rel_gap = p.rel_gap;
        r.times = self.times;
        r.wall = self.start.elapsed().as_secs_f64();
        self.certified = Some(p.point);
    }
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
        if !moved || -slope < NEWTON_DECREMENT * phi.abs().max(f64::MIN_POSITIVE) {
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

/// The rows of one active column that start tight: those whose multiplier (a fraction of the
/// column's largest) outweighs their constraint value (a fraction of the column's largest),
/// the largest margins first and at most `cap` of them (generic data puts fewer than d rows
/// on a hyperplane through the origin; ADMM still drives many slack multipliers to zero, so
/// the multiplier alone over-counts).
fn initial_tight(mu: &[f64], g: &[f64], cap: usize) -> Vec<usize> {
    let mu_top = mu.iter().copied().fold(0.0, f64::max);
    if mu_top <= 0.0 {
        return Vec::new();
    }
    let g_top = g.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let mut scored: Vec<(f64, usize)> = (0..mu.len())
        .filter_map(|k| {
            let a = mu[k] / mu_top;
            let b = if g_top > 0.0 { g[k].abs() / g_top } else { 0.0 };
            (a > TIGHT_FRACTION && a > b).then_some((a - b, k))
        })
        .collect();
    scored.sort_by(|p, q| q.0.total_cmp(&p.0));
    scored.truncate(cap);
    let mut rows: Vec<usize> = scored.into_iter().map(|(_, k)| k).collect();
    rows.sort_unstable();
    rows
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
