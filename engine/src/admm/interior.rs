//! An interior-point solve of the convex program for problems whose Newton step is cheap
//! enough (`MAX_STEP_COST`): a certified optimum where ADMM crawls (issue "Certified optima").
//!
//! ADMM identifies which cone rows bind only slowly (fig1: the active-set finish never saw a
//! settled structure in 60 s), and an interior point needs no identification at all. The
//! program, for one output (squared or logistic loss), in epigraph form over the 2P groups
//! j (w_j in R^d, t_j in R):
//!   min  loss(sum_j s_j D_j X w_j) + beta sum_j t_j   s.t.  ||w_j|| <= t_j,  S_j X w_j >= 0
//! (s_j = +1 for the first P groups, -1 for the other P; S_j = 2 D_j - I). A primal-dual
//! path-following method (Mehrotra's predictor-corrector with Gondzio's centrality
//! correctors; the group cones with Nesterov-Todd scaling, `soc.rs`) keeps the rows' slacks
//! r, their multipliers lam, the cone points and their duals strictly inside and drives
//! every product lam r (and x_j . s_j) to zero together. The structure keeps the Newton
//! system at 2P (d + 1) unknowns, never the n x 2P rows of the constraint matrix: the loss
//! block s_j s_l X^T diag(h m_i m_l) X, the rows' X^T diag(lam / r) X per group, the cone's
//! (d + 1)-square scaling block. Its two sides reduce to P (d + 1) unknowns (`Newton`), solved
//! by one dense Cholesky or, when n is the smaller side, through Woodbury's identity with an
//! n x n Cholesky (`LowRank`: n 1000, d 973, P 10 is 3.8e10 multiply-adds a step instead of
//! 3.8e11).
//!
//! Measured (BENCHMARKS.md, "A primal-dual interior point"): fig1 (n 1000, P 10, 20,000 rows)
//! certified to 1e-6 in 53 Newton steps, 8.5 s on 2 cores, against Clarabel's 31.4 s in the
//! same invocation. The barrier method this replaced needed 260 to over 500 Newton
//! steps for its first centering alone on fig1: its steps were clipped at rows whose slack is
//! near zero, which the multipliers now carry.
//!
//! The answer is certified in f64 (`certify`): the upper bound is the objective of the
//! strictly feasible point (or of its rounding to the model's precision, if larger), the
//! lower bound the dual objective at z = grad loss with the multipliers lam, scaled into
//! dual feasibility. Independent of the method: a wrong step can only make the gap larger.

use super::certificate::{largest_scale, relative_gap};
use super::soc;
use crate::loss::Loss;
use crate::problem::to_host;
use crate::problem::Problem;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::solvers::{Llt, Solve};
use faer::{Accum, Mat, MatRef, Side};
use std::time::Instant;

/// A Newton step's work at most, in multiply-adds (`step_cost`), so that 50 steps stay within
/// minutes on 2 cores (fig1: 1.0e9, dense; n 1000, d 973, P 10: 3.8e10, low-rank, where dense
/// would be 3.8e11; table1-mid, 4.6e11, is beyond it).
pub const MAX_STEP_COST: f64 = 1.2e11;
/// A step goes this fraction of the way to the boundary at most.
const TO_BOUNDARY: f64 = 0.99;
/// Centrality correctors per step at most (Gondzio): on fig1 4 took the step count from 72
/// to 53 (2: 59), each costing a solve with the factorization already made.
const CORRECTORS: usize = 4;

/// Why the interior point did not run or did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InteriorError {
    #[error("the interior point handles one output with the squared or logistic loss")]
    Unsupported,
    #[error(
        "a Newton step would take {0:.1e} multiply-adds, more than the limit {MAX_STEP_COST:.1e}"
    )]
    TooLarge(f64),
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
    /// Newton steps (factorizations) taken in all.
    pub newton_steps: usize,
    pub seconds: f64,
    /// Every certificate taken on the way, in order: (certified gap, seconds since the start).
    pub certified: Vec<(f64, f64)>,
}

/// Whether the interior point applies to `prob`: one output, squared or logistic loss, and
/// a Newton step within `MAX_STEP_COST`.
pub fn applies<B: Backend>(prob: &Problem<B>) -> Result<(), InteriorError> {
    if prob.c != 1 || !matches!(prob.loss, Loss::Squared | Loss::Logistic) {
        return Err(InteriorError::Unsupported);
    }
    let (_, cost) = step_cost(prob.n, prob.d, prob.p);
    if cost > MAX_STEP_COST {
        return Err(InteriorError::TooLarge(cost));
    }
    Ok(())
}

/// How the loss's block of the reduced Newton matrix is handled: formed and factored with
/// the rest (P (d + 1) unknowns), or kept as its rank-n factor and inverted by Woodbury's
/// identity through an n x n matrix, whichever is cheaper. fig1 (n 1000, P (d + 1) 1,020) is
/// dense; n 1000 with d 973 (9,740 unknowns) is low-rank, 10x cheaper per step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Form {
    Dense,
    LowRank,
}

/// The cheaper `Form` for n rows, d features and P patterns, and a Newton step's cost in
/// multiply-adds: the rows' blocks X^T diag(lam / r) X (one triangle, 2P of them) and the
/// parallel sums (about 2 (d + 1)^3 per pattern) in both forms; then either the loss block
/// (n (P d)^2 / 2) and one Cholesky of P (d + 1), or the P triangular solves of n
/// right-hand sides, the n x n Gram matrix (one triangle) and its Cholesky.
fn step_cost(n: usize, d: usize, p: usize) -> (Form, f64) {
    let (n, d, p) = (n as f64, d as f64, p as f64);
    let d1 = d + 1.0;
    let common = 2.0 * p * n * d * d / 2.0 + p * 2.0 * d1.powi(3);
    let dense = n * (p * d).powi(2) / 2.0 + (p * d1).powi(3) / 3.0;
    let low_rank = p * d1 * d1 * n / 2.0 + n * n * p * d1 / 2.0 + n.powi(3) / 3.0;
    if dense <= low_rank {
        (Form::Dense, common + dense)
    } else {
        (Form::LowRank, common + low_rank)
    }
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

    /// X^T (m_i .* z) per pattern i (d x P): F^T z on the first side (the second side's is
    /// its negative).
    fn ft(&self, z: &[f64]) -> Mat<f64> {
        let mz = Mat::<f64>::from_fn(self.n, self.p, |k, i| self.m[(k, i)] * z[k]);
        self.x.transpose() * &mz
    }

    /// G^T v per group j (d x 2P): X^T (S_j .* v_j), the transpose of `slacks`.
    fn gt(&self, v: &Mat<f64>) -> Mat<f64> {
        let sv = Mat::<f64>::from_fn(self.n, self.groups(), |k, j| {
            let (i, _) = self.pattern(j);
            (2.0 * self.m[(k, i)] - 1.0) * v[(k, j)]
        });
        self.x.transpose() * &sv
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

    /// loss(F w) + beta sum_j ||w_j||.
    fn objective(&self, w: &Mat<f64>) -> f64 {
        let (loss, _, _) = self.loss(&self.predict(w));
        let norms: f64 = (0..self.groups())
            .map(|j| (0..self.d).map(|a| w[(a, j)].powi(2)).sum::<f64>().sqrt())
            .sum();
        loss + self.beta * norms
    }

    /// Group j's point in cone order: (t_j, w_j).
    fn xcone(&self, j: usize) -> Vec<f64> {
        std::iter::once(self.t[j])
            .chain((0..self.d).map(|a| self.w[(a, j)]))
            .collect()
    }
}

/// Index of coordinate a of w_j (a < d) or of t_j (a = d) in the Newton system.
fn at(d: usize, j: usize, a: usize) -> usize {
    j * (d + 1) + a
}

/// Solves the convex program of `prob` by the primal-dual method until its certified
/// relative gap is at most `tol_gap` (or `max_newton` Newton steps are spent, or the next
/// step would end after `max_seconds`; the answer then says how far it got).
pub fn solve<B: Backend>(
    prob: &Problem<B>,
    tol_gap: f64,
    max_newton: usize,
    max_seconds: f64,
) -> Result<Interior<B>, InteriorError> {
    let (form, _) = step_cost(prob.n, prob.d, prob.p);
    solve_as(prob, form, tol_gap, max_newton, max_seconds)
}

/// `solve` with the loss block in the given `Form` rather than the cheaper one (the tests
/// hold both forms to the same optima).
pub fn solve_as<B: Backend>(
    prob: &Problem<B>,
    form: Form,
    tol_gap: f64,
    max_newton: usize,
    max_seconds: f64,
) -> Result<Interior<B>, InteriorError> {
    applies(prob)?;
    let start = Instant::now();
    let mut b = host(prob);
    start_inside(&mut b, prob)?;
    let (n, groups) = (b.n, b.groups());
    // The degree: one per row, one per cone.
    let degree = (n * groups + groups) as f64;
    let mut r = b.slacks(&(&b.x * &b.w));
    // Start on the central path of mu0 = f0 / degree: lam r = mu0, s_j = mu0 x_j^-1.
    let f0 = {
        let (loss, _, _) = b.loss(&b.predict(&b.w));
        loss + b.beta * b.t.iter().sum::<f64>()
    };
    let mu0 = f0 / degree;
    let mut lam = Mat::<f64>::from_fn(n, groups, |k, j| mu0 / r[(k, j)]);
    let mut s: Vec<Vec<f64>> = (0..groups)
        .map(|j| soc::inverse(&b.xcone(j)).iter().map(|v| mu0 * v).collect())
        .collect();
    let mut best: Option<Interior<B>> = None;
    let mut done = false;
    // Certificates are taken as the path's estimate passes 1e-2, 1e-4, ... on the way (each
    // costs a few products with X), so one solve reports its time to every level.
    let mut next_level = 1e-2_f64.max(tol_gap);
    let mut certified = Vec::new();
    // The loss block of the Hessian (`loss_block`), constant for the squared loss.
    let mut loss_hessian: Option<Mat<f64>> = None;
    let trace = std::env::var_os("ADMM_INTERIOR_TRACE").is_some();
    let mut steps = 0;
    // The longest step so far, to stop before a step that would overrun `max_seconds`.
    let mut longest = 0.0f64;
    while steps < max_newton && start.elapsed().as_secs_f64() + longest <= max_seconds {
        let step_start = Instant::now();
        steps += 1;
        let yhat = b.predict(&b.w);
        let (loss_value, g_loss, h_loss) = b.loss(&yhat);
        let gap = dot(&lam, &r) + (0..groups).map(|j| vdot(&b.xcone(j), &s[j])).sum::<f64>();
        let mu = gap / degree;
        let curvature = match form {
            Form::Dense => {
                if b.loss != Loss::Squared {
                    loss_hessian = None;
                }
                Curvature::Dense(loss_hessian.get_or_insert_with(|| loss_block(&b, &h_loss)))
            }
            Form::LowRank => Curvature::LowRank(&h_loss),
        };
        let scalings: Vec<soc::Scaling> = (0..groups)
            .map(|j| soc::Scaling::new(&b.xcone(j), &s[j]))
            .collect();
        let newton =
            Newton::new(&b, curvature, &scalings, &lam, &r).ok_or(InteriorError::Singular(mu))?;
        let point = Point {
            g_loss: &g_loss,
            lam: &lam,
            r: &r,
            s: &s,
            scalings: &scalings,
        };
        // Predictor: the affine step (complementarity target 0) measures how far mu can fall.
        let zero = Mat::<f64>::zeros(n, groups);
        let no_cone = vec![vec![0.0; b.d + 1]; groups];
        let affine = direction(&b, &newton, &point, 0.0, &zero, &no_cone);
        let a_aff = step_to_boundary(&b, &point, &affine, 1.0);
        let mu_aff = complementarity(&b, &point, &affine, a_aff) / degree;
        let sigma = (mu_aff / mu).clamp(0.0, 1.0).powi(3);
        // Corrector: centre at sigma mu, with the affine step's second-order terms.
        let mut target = Mat::<f64>::from_fn(n, groups, |k, j| {
            sigma * mu - affine.dr[(k, j)] * affine.dl[(k, j)]
        });
        let cone_terms: Vec<Vec<f64>> = (0..groups)
            .map(|j| {
                let sc = &scalings[j];
                soc::product(&sc.unscale(&affine.ds[j]), &sc.scale(&affine.dx(j)))
            })
            .collect();
        let mut step = direction(&b, &newton, &point, sigma * mu, &target, &cone_terms);
        let mut alpha = step_to_boundary(&b, &point, &step, TO_BOUNDARY);
        // Centrality correctors (Gondzio 1996): the step is cut short by a few rows whose
        // products lam r fall far from the others; aim each product of a longer trial step
        // back into [sigma mu / 10, 10 sigma mu], keep the correction while it lengthens the step.
        for _ in 0..CORRECTORS {
            let trial = (1.5 * alpha + 0.1).min(1.0);
            let centre = sigma * mu;
            let aimed = Mat::<f64>::from_fn(n, groups, |k, j| {
                let v =
                    (r[(k, j)] + trial * step.dr[(k, j)]) * (lam[(k, j)] + trial * step.dl[(k, j)]);
                let shift = v.clamp(0.1 * centre, 10.0 * centre) - v;
                target[(k, j)] + shift.max(-10.0 * centre)
            });
            let better = direction(&b, &newton, &point, sigma * mu, &aimed, &cone_terms);
            let longer = step_to_boundary(&b, &point, &better, TO_BOUNDARY);
            if longer < 1.01 * alpha {
                break;
            }
            (step, alpha, target) = (better, longer, aimed);
        }
        if alpha.is_nan() || alpha <= 0.0 {
            // No progress possible (a NaN direction or a step at the boundary already).
            break;
        }
        for j in 0..groups {
            for a in 0..b.d {
                b.w[(a, j)] += alpha * step.dw[(a, j)];
            }
            b.t[j] += alpha * step.dt[j];
            for k in 0..n {
                lam[(k, j)] += alpha * step.dl[(k, j)];
            }
            for (v, dv) in s[j].iter_mut().zip(&step.ds[j]) {
                *v += alpha * dv;
            }
        }
        r = b.slacks(&(&b.x * &b.w));
        let objective = loss_value + b.beta * b.t.iter().sum::<f64>();
        let gap = dot(&lam, &r) + (0..groups).map(|j| vdot(&b.xcone(j), &s[j])).sum::<f64>();
        // The path's own gap estimate decides when the (costlier) certificate is worth taking.
        let estimate = gap / objective.abs().max(f64::MIN_POSITIVE);
        longest = longest.max(step_start.elapsed().as_secs_f64());
        if trace {
            eprintln!(
                "interior: step {steps}: mu {mu:.3e}, sigma {sigma:.2e}, alpha {alpha:.3e}, \
                 estimate {estimate:.2e}, f0 {objective:.8e}, {:.2} s",
                start.elapsed().as_secs_f64()
            );
        }
        if estimate > next_level && steps < max_newton {
            continue;
        }
        let candidate = certify(prob, &b, &lam, start);
        if trace {
            eprintln!(
                "interior: objective {:.10e}, certified gap {:.2e}",
                candidate.objective, candidate.rel_gap
            );
        }
        while next_level > tol_gap && estimate <= next_level {
            next_level = (next_level * 1e-2).max(tol_gap);
        }
        done = candidate.rel_gap <= tol_gap;
        keep_better(&mut best, candidate, steps, &mut certified);
        if done {
            break;
        }
    }
    if !done {
        // Stopped by the step or time budget: the last point may beat the last certificate.
        keep_better(
            &mut best,
            certify(prob, &b, &lam, start),
            steps,
            &mut certified,
        );
    }
    // `keep_better` has run at least once by now.
    let best = best.unwrap_or_else(|| certify(prob, &b, &lam, start));
    Ok(Interior { certified, ..best })
}

/// Records `candidate`'s certificate and keeps it as `best` if its gap is smaller.
fn keep_better<B: Backend>(
    best: &mut Option<Interior<B>>,
    candidate: Interior<B>,
    steps: usize,
    certified: &mut Vec<(f64, f64)>,
) {
    certified.push((candidate.rel_gap, candidate.seconds));
    if best.as_ref().is_none_or(|x| candidate.rel_gap < x.rel_gap) {
        *best = Some(Interior {
            newton_steps: steps,
            ..candidate
        });
    }
}

/// The iterate's duals and the quantities every direction at it shares.
struct Point<'a> {
    g_loss: &'a [f64],
    lam: &'a Mat<f64>,
    r: &'a Mat<f64>,
    /// The cones' duals (sigma_j, z_j), cone-ordered.
    s: &'a [Vec<f64>],
    scalings: &'a [soc::Scaling],
}

/// sum (r + a dr) (lam + a dlam) + sum_j (x_j + a dx_j) . (s_j + a ds_j).
fn complementarity(b: &Barrier, at: &Point, dir: &Direction, a: f64) -> f64 {
    let rows: f64 = (0..b.groups())
        .flat_map(|j| (0..b.n).map(move |k| (k, j)))
        .map(|(k, j)| (at.r[(k, j)] + a * dir.dr[(k, j)]) * (at.lam[(k, j)] + a * dir.dl[(k, j)]))
        .sum();
    let cones: f64 = (0..b.groups())
        .map(|j| {
            let x = b.xcone(j);
            let dx = dir.dx(j);
            (0..x.len())
                .map(|c| (x[c] + a * dx[c]) * (at.s[j][c] + a * dir.ds[j][c]))
                .sum::<f64>()
        })
        .sum();
    rows + cones
}

/// x . y.
fn vdot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// sum a .* b over two equally shaped matrices.
fn dot(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (0..a.ncols())
        .flat_map(|j| (0..a.nrows()).map(move |k| (k, j)))
        .map(|(k, j)| a[(k, j)] * b[(k, j)])
        .sum()
}

/// The f64 host copy of `prob` (one output).
fn host<B: Backend>(prob: &Problem<B>) -> Barrier {
    let (n, d, p) = (prob.n, prob.d, prob.p);
    let x = Mat::<f64>::from_fn(n, d, |k, a| f64::from(prob.x_host[k * d + a]));
    let m = Mat::<f64>::from_fn(n, p, |k, i| f64::from(prob.patterns.mask[k * p + i]));
    Barrier {
        n,
        d,
        p,
        beta: prob.beta,
        loss: prob.loss,
        y: prob.y_host.iter().map(|&v| f64::from(v)).collect(),
        x,
        m,
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

/// Hp = Fp^T diag(h) Fp (Pd x Pd), Fp = [m_i .* X]_i: the loss's Hessian on the first side
/// (the full one is [[Hp, -Hp], [-Hp, Hp]] since F = [Fp, -Fp]).
fn loss_block(b: &Barrier, h: &[f64]) -> Mat<f64> {
    let d = b.d;
    let mut scaled = Mat::<f64>::zeros(b.n, b.p * d);
    for i in 0..b.p {
        let weights: Vec<f64> = (0..b.n).map(|k| h[k].sqrt() * b.m[(k, i)]).collect();
        scaled
            .as_mut()
            .submatrix_mut(0, i * d, b.n, d)
            .copy_from(row_scaled(&b.x, &weights));
    }
    gram(scaled.as_ref())
}

/// diag(weights) A, column by column (contiguous in faer's column-major storage).
fn row_scaled(a: &Mat<f64>, weights: &[f64]) -> Mat<f64> {
    let mut out = a.clone();
    for c in 0..out.ncols() {
        for (v, w) in out.col_mut(c).iter_mut().zip(weights) {
            *v *= w;
        }
    }
    out
}

/// A^T A, one triangle computed (half a general product's work) and mirrored.
fn gram(a: MatRef<'_, f64>) -> Mat<f64> {
    lower_product(a, a)
}

/// A^T B for a product known to be symmetric: its lower triangle, mirrored.
fn lower_product(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let size = a.ncols();
    let mut out = Mat::<f64>::zeros(size, size);
    triangular::matmul(
        out.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        a.transpose(),
        BlockStructure::Rectangular,
        b,
        BlockStructure::Rectangular,
        1.0,
        faer::get_global_parallelism(),
    );
    for c in 0..size {
        for r in 0..c {
            out[(r, c)] = out[(c, r)];
        }
    }
    out
}

/// The loss's part of the reduced Newton matrix (`Form`): Hp itself, or the curvature h
/// whose factor diag(sqrt h) Fp stays implicit.
enum Curvature<'a> {
    Dense(&'a Mat<f64>),
    LowRank(&'a [f64]),
}

/// The Newton system, solved through its two sides. Its matrix, with the groups of the first
/// side (s_j = +1) before those of the second, is [[H + B1, -H], [-H, H + B2]]: H the loss
/// block (`loss_block`, zero in the t coordinates), B1 and B2 block diagonal with one
/// (d + 1)-square block per group (the cone's scaling W_j^2 and the rows'
/// X^T diag(lam / r) X). With u = x1 - x2 the two block rows add to (B1 + B2) x1 = q + B2 u
/// (q = r1 + r2), and the first becomes (H + B1 (B1 + B2)^-1 B2) u = r1 - B1 (B1 + B2)^-1 q,
/// whose correction K is block diagonal (the parallel sum (B1^-1 + B2^-1)^-1, symmetric
/// positive definite). One system of P (d + 1) unknowns instead of 2P (d + 1) (`Reduced`).
struct Newton {
    /// d + 1 and P.
    d1: usize,
    p: usize,
    /// B_j for every group j.
    blocks: Vec<Mat<f64>>,
    /// Cholesky of B_i + B_{i+P} per pattern i.
    sums: Vec<Llt<f64>>,
    reduced: Reduced,
}

impl Newton {
    /// None when a factorization fails even with the ridge (`factor`).
    fn new(
        b: &Barrier,
        curvature: Curvature,
        scalings: &[soc::Scaling],
        lam: &Mat<f64>,
        r: &Mat<f64>,
    ) -> Option<Self> {
        let (n, d, p) = (b.n, b.d, b.p);
        let d1 = d + 1;
        // Cone coordinate 0 is t (position d in a block), 1 + a is w_a (position a).
        let pos = |c: usize| if c == 0 { d } else { c - 1 };
        let blocks: Vec<Mat<f64>> = scalings
            .iter()
            .enumerate()
            .map(|(j, sc)| {
                let root: Vec<f64> = (0..n).map(|k| (lam[(k, j)] / r[(k, j)]).sqrt()).collect();
                let rows = gram(row_scaled(&b.x, &root).as_ref());
                let mut m = Mat::<f64>::zeros(d1, d1);
                for a in 0..d1 {
                    for e in 0..d1 {
                        m[(pos(a), pos(e))] = sc.hessian(a, e);
                    }
                }
                for a in 0..d {
                    for e in 0..d {
                        m[(a, e)] += rows[(a, e)];
                    }
                }
                m
            })
            .collect();
        let mut sums = Vec::with_capacity(p);
        let mut corrections = Vec::with_capacity(p);
        for i in 0..p {
            let (b1, b2) = (&blocks[i], &blocks[i + p]);
            // B1 (B1 + B2)^-1 B2 = (L^-1 B1)^T (L^-1 B2), symmetric: one triangle.
            let sum = factor(b1 + b2)?;
            let mut a1 = b1.clone();
            let mut a2 = b2.clone();
            sum.L().solve_lower_triangular_in_place(a1.as_mut());
            sum.L().solve_lower_triangular_in_place(a2.as_mut());
            corrections.push(lower_product(a1.as_ref(), a2.as_ref()));
            sums.push(sum);
        }
        let reduced = match curvature {
            Curvature::Dense(hp) => {
                let mut reduced = Mat::<f64>::zeros(p * d1, p * d1);
                for i in 0..p {
                    for l in 0..p {
                        for a in 0..d {
                            for e in 0..d {
                                reduced[(i * d1 + a, l * d1 + e)] = hp[(i * d + a, l * d + e)];
                            }
                        }
                    }
                    for a in 0..d1 {
                        for e in 0..d1 {
                            reduced[(i * d1 + a, i * d1 + e)] += corrections[i][(a, e)];
                        }
                    }
                }
                Reduced::Dense(factor(reduced)?)
            }
            Curvature::LowRank(h) => Reduced::LowRank(LowRank::new(b, h, corrections)?),
        };
        Some(Newton {
            d1,
            p,
            blocks,
            sums,
            reduced,
        })
    }

    /// The solution of the Newton system for `rhs` (2P (d + 1) x 1, `at` order).
    fn solve(&self, b: &Barrier, rhs: &Mat<f64>) -> Mat<f64> {
        let (d1, p) = (self.d1, self.p);
        let half = p * d1;
        let mut rhs_u = Mat::<f64>::zeros(half, 1);
        let mut q = Vec::with_capacity(p);
        for i in 0..p {
            let qi = Mat::<f64>::from_fn(d1, 1, |a, _| {
                rhs[(i * d1 + a, 0)] + rhs[(half + i * d1 + a, 0)]
            });
            let b1y = &self.blocks[i] * self.sums[i].solve(&qi);
            for a in 0..d1 {
                rhs_u[(i * d1 + a, 0)] = rhs[(i * d1 + a, 0)] - b1y[(a, 0)];
            }
            q.push(qi);
        }
        let u = match &self.reduced {
            Reduced::Dense(llt) => llt.solve(&rhs_u),
            Reduced::LowRank(low) => low.solve(b, &rhs_u),
        };
        let mut x = Mat::<f64>::zeros(2 * half, 1);
        for (i, qi) in q.iter().enumerate() {
            let ui = Mat::<f64>::from_fn(d1, 1, |a, _| u[(i * d1 + a, 0)]);
            let x1 = self.sums[i].solve(&(qi + &self.blocks[i + p] * &ui));
            for a in 0..d1 {
                x[(i * d1 + a, 0)] = x1[(a, 0)];
                x[(half + i * d1 + a, 0)] = x1[(a, 0)] - ui[(a, 0)];
            }
        }
        x
    }
}

/// The reduced matrix Hp + K (P (d + 1) square), factored (`Form::Dense`) or inverted through
/// its low-rank loss part (`Form::LowRank`).
enum Reduced {
    Dense(Llt<f64>),
    LowRank(LowRank),
}

/// (K + G^T G)^-1 by Woodbury's identity, G = diag(sqrt h) [m_i .* X, 0]_i (n x P (d + 1)),
/// K = L L^T block diagonal: with Z = L^-1 G^T,
///   (K + G^T G)^-1 = L^-T (I - Z (I + Z^T Z)^-1 Z^T) L^-1,
/// so the work is P triangular solves of n right-hand sides and one Cholesky of n, never the
/// P (d + 1)-square matrix. K spans many orders of magnitude late on the path, which costs
/// the identity accuracy: each solve is refined against the matrix applied matrix-free.
struct LowRank {
    d1: usize,
    /// K_i, and its Cholesky factor, per pattern.
    k: Vec<Mat<f64>>,
    kf: Vec<Llt<f64>>,
    /// sqrt h per row.
    root_h: Vec<f64>,
    /// Z, P (d + 1) x n.
    z: Mat<f64>,
    /// Cholesky of I + Z^T Z.
    cap: Llt<f64>,
}

/// Refinement steps at most per low-rank solve, and the relative residual that ends them.
const REFINE: usize = 3;
const REFINE_TOL: f64 = 1e-12;

impl LowRank {
    fn new(b: &Barrier, h: &[f64], k: Vec<Mat<f64>>) -> Option<Self> {
        let (n, d, p) = (b.n, b.d, b.p);
        let d1 = d + 1;
        let root_h: Vec<f64> = h.iter().map(|v| v.max(0.0).sqrt()).collect();
        let kf = k
            .iter()
            .map(|ki| factor(ki.clone()))
            .collect::<Option<Vec<_>>>()?;
        let mut z = Mat::<f64>::zeros(p * d1, n);
        for (i, f) in kf.iter().enumerate() {
            let weights: Vec<f64> = (0..n).map(|k| root_h[k] * b.m[(k, i)]).collect();
            let mut zi = z.as_mut().submatrix_mut(i * d1, 0, d1, n);
            // G_i^T: the t row stays zero.
            zi.as_mut()
                .submatrix_mut(0, 0, d, n)
                .copy_from(row_scaled(&b.x, &weights).transpose());
            f.L().solve_lower_triangular_in_place(zi);
        }
        let mut capacitance = gram(z.as_ref());
        for row in 0..n {
            capacitance[(row, row)] += 1.0;
        }
        let cap = factor(capacitance)?;
        Some(LowRank {
            d1,
            k,
            kf,
            root_h,
            z,
            cap,
        })
    }

    /// One application of Woodbury's identity to `rhs`.
    fn solve_once(&self, rhs: &Mat<f64>) -> Mat<f64> {
        let d1 = self.d1;
        let mut c = rhs.clone();
        for (i, f) in self.kf.iter().enumerate() {
            f.L()
                .solve_lower_triangular_in_place(c.as_mut().submatrix_mut(i * d1, 0, d1, 1));
        }
        let y = self.cap.solve(&(self.z.transpose() * &c));
        let mut out = &c - &self.z * &y;
        for (i, f) in self.kf.iter().enumerate() {
            f.L()
                .transpose()
                .solve_upper_triangular_in_place(out.as_mut().submatrix_mut(i * d1, 0, d1, 1));
        }
        out
    }

    /// (K + G^T G) u, matrix-free: K per block, then G u = sqrt h .* sum_i m_i .* X u_i and
    /// G^T back through X^T.
    fn apply(&self, b: &Barrier, u: &Mat<f64>) -> Mat<f64> {
        let (d, p, d1) = (b.d, b.p, self.d1);
        let ui = Mat::<f64>::from_fn(d, p, |a, i| u[(i * d1 + a, 0)]);
        let xu = &b.x * &ui;
        let gu: Vec<f64> = (0..b.n)
            .map(|k| self.root_h[k] * (0..p).map(|i| b.m[(k, i)] * xu[(k, i)]).sum::<f64>())
            .collect();
        let back: Vec<f64> = gu.iter().zip(&self.root_h).map(|(g, r)| g * r).collect();
        let gtg = b.ft(&back);
        let mut out = Mat::<f64>::zeros(p * d1, 1);
        for (i, ki) in self.k.iter().enumerate() {
            let kx = ki * u.as_ref().submatrix(i * d1, 0, d1, 1);
            for a in 0..d1 {
                out[(i * d1 + a, 0)] = kx[(a, 0)] + if a < d { gtg[(a, i)] } else { 0.0 };
            }
        }
        out
    }

    /// Woodbury's answer refined against `apply` (up to `REFINE` times).
    fn solve(&self, b: &Barrier, rhs: &Mat<f64>) -> Mat<f64> {
        let scale = rhs.norm_l2();
        let mut x = self.solve_once(rhs);
        for _ in 0..REFINE {
            let residual = rhs - self.apply(b, &x);
            if residual.norm_l2() <= REFINE_TOL * scale {
                break;
            }
            x += self.solve_once(&residual);
        }
        x
    }
}

/// A primal-dual direction: the step in w, t, the row multipliers lam and the cones' duals
/// s, and the rows' slack change dr = S X dw.
struct Direction {
    dw: Mat<f64>,
    dt: Vec<f64>,
    dr: Mat<f64>,
    dl: Mat<f64>,
    ds: Vec<Vec<f64>>,
}

impl Direction {
    /// Group j's step in cone order (dt_j, dw_j).
    fn dx(&self, j: usize) -> Vec<f64> {
        std::iter::once(self.dt[j])
            .chain((0..self.dw.nrows()).map(|a| self.dw[(a, j)]))
            .collect()
    }
}

/// The Newton direction towards lam .* r = `target` per row and, per cone,
/// lambda o (W dx + W^-1 ds) = `mu_cone` e - lambda o lambda - `cone_terms`:
/// H dx = -(beta, grad loss) + A^T (target ./ r) + s + r_c with
/// r_c = W (lambda \ (mu_cone e - lambda o lambda - cone_terms)), then
/// ds = r_c - W^2 dx and dlam = (target - lam .* (r + dr)) ./ r.
fn direction(
    b: &Barrier,
    newton: &Newton,
    at_: &Point,
    mu_cone: f64,
    target: &Mat<f64>,
    cone_terms: &[Vec<f64>],
) -> Direction {
    let (n, d, groups) = (b.n, b.d, b.groups());
    let (lam, r) = (at_.lam, at_.r);
    let xtmg = b.ft(at_.g_loss);
    let xt_pull = b.gt(&Mat::from_fn(n, groups, |k, j| target[(k, j)] / r[(k, j)]));
    let mut rhs = Mat::<f64>::zeros(groups * (d + 1), 1);
    let mut r_c = Vec::with_capacity(groups);
    for j in 0..groups {
        let (i, s) = b.pattern(j);
        let sc = &at_.scalings[j];
        let l = &sc.lambda;
        let ll = soc::product(l, l);
        let v: Vec<f64> = (0..=d)
            .map(|a| if a == 0 { mu_cone } else { 0.0 } - ll[a] - cone_terms[j][a])
            .collect();
        let rc = sc.scale(&soc::divide(l, &v));
        for a in 0..d {
            rhs[(at(d, j, a), 0)] =
                xt_pull[(a, j)] - s * xtmg[(a, i)] + at_.s[j][a + 1] + rc[a + 1];
        }
        rhs[(at(d, j, d), 0)] = at_.s[j][0] + rc[0] - b.beta;
        r_c.push(rc);
    }
    let dx = newton.solve(b, &rhs);
    let dw = Mat::from_fn(d, groups, |a, j| dx[(at(d, j, a), 0)]);
    let dt: Vec<f64> = (0..groups).map(|j| dx[(at(d, j, d), 0)]).collect();
    let dr = b.slacks(&(&b.x * &dw));
    let dl = Mat::from_fn(n, groups, |k, j| {
        (target[(k, j)] - lam[(k, j)] * (r[(k, j)] + dr[(k, j)])) / r[(k, j)]
    });
    let ds = (0..groups)
        .map(|j| {
            let sc = &at_.scalings[j];
            let dxj: Vec<f64> = std::iter::once(dt[j])
                .chain((0..d).map(|a| dw[(a, j)]))
                .collect();
            let w2dx = sc.hessian_times(&dxj);
            (0..=d).map(|a| r_c[j][a] - w2dx[a]).collect()
        })
        .collect();
    Direction { dw, dt, dr, dl, ds }
}

/// Cholesky of a Newton block. The loss block is singular (rank n at most) and the barrier
/// blocks are tiny next to it at some rows late on the path, so rounding can leave the matrix
/// numerically indefinite: a ridge of 1e-12, then 1e-10 and 1e-8 times the
/// largest diagonal entry is added before giving up (it only bends the step; the
/// certificate judges the answer, not the step).
fn factor(mut hess: Mat<f64>) -> Option<Llt<f64>> {
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
            return Some(llt);
        }
    }
    None
}

/// The longest step along `dir` (at most 1, times `fraction`) that keeps the rows' slacks,
/// their multipliers, every cone point and every cone dual strictly inside. One length for
/// the primal and the dual side: separate ones took 64 steps on fig1 against 72 without
/// correctors, and the dual residual of a quadratic objective falls linearly only with one.
fn step_to_boundary(b: &Barrier, at_: &Point, dir: &Direction, fraction: f64) -> f64 {
    let (mut primal, mut dual) = (f64::INFINITY, f64::INFINITY);
    for j in 0..b.groups() {
        for k in 0..b.n {
            if dir.dr[(k, j)] < 0.0 {
                primal = primal.min(-at_.r[(k, j)] / dir.dr[(k, j)]);
            }
            if dir.dl[(k, j)] < 0.0 {
                dual = dual.min(-at_.lam[(k, j)] / dir.dl[(k, j)]);
            }
        }
        primal = primal.min(soc::step_to_boundary(&b.xcone(j), &dir.dx(j)));
        dual = dual.min(soc::step_to_boundary(&at_.s[j], &dir.ds[j]));
    }
    (fraction * primal.min(dual)).min(1.0)
}

/// The current point as the model, with its certificate, both in f64 on the host. The upper
/// bound is the objective of the solver's point, which is strictly feasible in f64, or of the
/// model as returned (that point rounded to the backend's precision) if that is larger: the
/// rounding can move tight rows by f32's epsilon, and restoring them (`Restorer`) would move
/// the objective by 1e-4 on fig1, so the gap covers both points instead. The lower bound is
/// the dual objective at z = grad loss with the row multipliers lam, scaled into
/// feasibility ||(F^T z - G^T lam)_j|| <= beta (docs/certificate.md); f32 cancellation in
/// those norms would cost about 3e-5 on fig1, hence f64.
fn certify<B: Backend>(
    prob: &Problem<B>,
    b: &Barrier,
    lam: &Mat<f64>,
    start: Instant,
) -> Interior<B> {
    let (n, d, groups) = (b.n, b.d, b.groups());
    let dev = &prob.device;
    let v_host: Vec<f64> = (0..d)
        .flat_map(|a| (0..groups).map(move |j| (a, j)))
        .map(|(a, j)| b.w[(a, j)])
        .collect();
    let v = Tensor::<B, 2>::from_data(TensorData::new(v_host, [d, groups]), dev);
    let model = to_host(v.clone());
    let rounded = Mat::<f64>::from_fn(d, groups, |a, j| model[a * groups + j]);
    let objective = b.objective(&b.w).max(b.objective(&rounded));
    // The dual candidate from the solver's own point (not the rounded model's).
    let (_, z, _) = b.loss(&b.predict(&b.w));
    let ftz = b.ft(&z);
    let gtl = b.gt(&Mat::from_fn(n, groups, |k, j| lam[(k, j)].max(0.0)));
    let worst = (0..groups)
        .map(|j| {
            let (i, s) = b.pattern(j);
            (0..d)
                .map(|a| (s * ftz[(a, i)] - gtl[(a, j)]).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .fold(0.0, f64::max);
    let (_, lower) = b
        .loss
        .best_dual_scale_host(&z, &b.y, largest_scale(b.beta, worst));
    Interior {
        v,
        objective,
        lower,
        rel_gap: relative_gap(objective, lower),
        newton_steps: 0,
        seconds: start.elapsed().as_secs_f64(),
        certified: Vec::new(),
    }
}
