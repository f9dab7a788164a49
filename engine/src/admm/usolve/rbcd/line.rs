//! RBCD's line searches: the backtracking search along one block's gradient (with its step
//! size carried from step to step), the root search of the true-loss step, and the exact
//! k-dimensional step of several blocks (a small Cholesky solve on the host).

/// Trial-step shrink factor within one line search (the reference's).
const SHRINK: f64 = 2.5;
/// The carried step grows by this after an accepted step...
const GROW: f64 = 1.05;
/// ...and shrinks by this after every backtrack.
const BACKOFF: f64 = 1.5;
/// Armijo's sufficient-decrease constant.
const ARMIJO: f64 = 1e-4;
/// Backtracks per step at most: 2.5^200 spans any step size f64 can hold.
const MAX_BACKTRACKS: usize = 200;

/// Backtracking line search along the negative block gradient, with a step size carried from
/// one step (and one u-step) to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineSearch {
    step: f64,
}

impl LineSearch {
    pub fn new(step0: f64) -> Self {
        LineSearch { step: step0 }
    }

    /// The carried step size.
    pub fn step(&self) -> f64 {
        self.step
    }

    /// Picks t for u <- u - t g given a = ||g||^2 and c = g^T A g. Since q is quadratic,
    /// q(u - t g) - q(u) = -t a + t^2 c / 2 exactly, so every trial is evaluated on the host
    /// without tensor work. Returns (t, decrease of q), or None when there is nothing to do
    /// (zero gradient, or a non-finite or non-positive curvature).
    pub fn search(&mut self, a: f64, c: f64) -> Option<(f64, f64)> {
        if !(c > 0.0 && c.is_finite()) {
            return None;
        }
        self.search_by(a, |t| -t * a + 0.5 * t * t * c)
    }

    /// Backtracking (Armijo) along -g with a = ||g||^2, `change(t)` the objective's change at
    /// step t. Returns (t, decrease), or None when nothing was accepted.
    pub fn search_by(&mut self, a: f64, change: impl Fn(f64) -> f64) -> Option<(f64, f64)> {
        if !(a > 0.0 && a.is_finite()) {
            return None;
        }
        let mut t = self.step;
        for _ in 0..MAX_BACKTRACKS {
            let change = change(t);
            if change <= -ARMIJO * t * a {
                self.step *= GROW;
                return Some((t, -change));
            }
            t /= SHRINK;
            self.step = (self.step / BACKOFF).max(f64::MIN_POSITIVE);
        }
        None
    }
}

/// Bisection steps of `descend_to_root` (each one device reduction).
const ROOT_STEPS: usize = 8;

/// The largest t found with slope(t) <= 0, for an increasing slope with slope(0) < 0: from
/// t0, doubling until the slope turns positive (at most 30 times), then `ROOT_STEPS`
/// bisections of the bracket. A convex function falls all the way from 0 to that t. When
/// every point tried below t0 has a positive slope, t0 itself (the majorized step, a descent
/// step on its own).
pub(super) fn descend_to_root(t0: f64, slope: impl Fn(f64) -> f64) -> f64 {
    let (mut lo, mut hi) = (t0, t0);
    if slope(t0) <= 0.0 {
        for _ in 0..30 {
            hi = 2.0 * lo;
            let s = slope(hi);
            if s > 0.0 || s.is_nan() {
                break;
            }
            lo = hi;
        }
    } else {
        lo = 0.0;
    }
    for _ in 0..ROOT_STEPS {
        let mid = 0.5 * (lo + hi);
        if slope(mid) <= 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo > 0.0 {
        lo
    } else {
        t0
    }
}

/// Minimizes -a^T t + t^T H t / 2 over t for a k x k symmetric H (row-major). Returns t and
/// the decrease a^T t / 2, or None when there is nothing to do. H is positive definite in
/// exact arithmetic when the directions are independent; when rounding or dependent
/// directions defeat the Cholesky factorization, it falls back to the average of the
/// blocks' own exact steps (t_j = a_j / (k H_jj)), a descent step by convexity.
pub(super) fn subspace_step(a: &[f64], h: &[f64]) -> Option<(Vec<f64>, f64)> {
    let k = a.len();
    if a.iter().all(|&v| v == 0.0) || a.iter().chain(h).any(|v| !v.is_finite()) {
        return None;
    }
    let decrease = |t: &[f64]| {
        let quad: f64 = (0..k)
            .map(|i| t[i] * (0..k).map(|j| h[i * k + j] * t[j]).sum::<f64>())
            .sum();
        a.iter().zip(t).map(|(x, y)| x * y).sum::<f64>() - 0.5 * quad
    };
    if let Some(t) = cholesky_solve(h, a) {
        let dec = decrease(&t);
        if dec > 0.0 && dec.is_finite() {
            return Some((t, dec));
        }
    }
    let t: Vec<f64> = (0..k)
        .map(|j| {
            let c = h[j * k + j];
            if c > 0.0 {
                a[j] / (k as f64 * c)
            } else {
                0.0
            }
        })
        .collect();
    let dec = decrease(&t);
    (dec > 0.0 && dec.is_finite()).then_some((t, dec))
}

/// Solves H t = a by Cholesky (H symmetric, k x k row-major, k small); None unless H is
/// numerically positive definite.
fn cholesky_solve(h: &[f64], a: &[f64]) -> Option<Vec<f64>> {
    let k = a.len();
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s = h[i * k + j] - (0..j).map(|q| l[i * k + q] * l[j * k + q]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 1e-12 * h[i * k + i].abs() {
                    return None;
                }
                l[i * k + i] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    let mut z = vec![0.0; k];
    for i in 0..k {
        z[i] = (a[i] - (0..i).map(|q| l[i * k + q] * z[q]).sum::<f64>()) / l[i * k + i];
    }
    let mut t = vec![0.0; k];
    for i in (0..k).rev() {
        t[i] = (z[i] - (i + 1..k).map(|q| l[q * k + i] * t[q]).sum::<f64>()) / l[i * k + i];
    }
    Some(t)
}
