//! The convex problem: gates, the pattern mask, and the matrix-free operators F, F^T, G, G^T
//! and A (method.md sec. 1-3).
//!
//! The ADMM variable u = (u_1..u_P, z_1..z_P) is stored as a `d x 2P` matrix U: column j is
//! block j (the v-copies first, then the w-copies). Every operator is a handful of batched
//! tensor products on the backend; nothing loops over patterns.
//!
//! With C outputs there is one neuron per (pattern i, output c) and side: U is `d x 2PC`, its
//! columns the v-copies then the w-copies, each in the order (c, i) -> c P + i. The q = PC
//! columns of a side act like patterns whose mask is M tiled C times (`maskc`), and F sums
//! each output's columns. With C = 1 every operator runs exactly the operations it ran before
//! outputs existed.

use crate::data::Dataset;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::HashSet;

use crate::error::InvalidOption;
pub use crate::loss::Loss;
pub use crate::tensor::{scalar, tensor2, to_host, with_bias};

/// What defines the convex problem besides the data.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemConfig {
    /// Number of sampled gate vectors P (before duplicate patterns are dropped).
    pub patterns: usize,
    /// Weight-decay / group-lasso strength beta.
    pub beta: f64,
    pub loss: Loss,
    /// Append a column of ones to X (the gates get that coordinate too).
    pub bias: bool,
    /// Gates given instead of sampled (a caller read them from a file, say).
    pub gates: Option<Gates>,
}

impl Default for ProblemConfig {
    /// The paper's setting: beta 1e-3, the squared loss, a bias column, sampled gates.
    fn default() -> Self {
        ProblemConfig {
            patterns: 10,
            beta: 1e-3,
            loss: Loss::Squared,
            bias: true,
            gates: None,
        }
    }
}

/// Gate vectors given by the caller: `rows` x `cols` row-major, rows = the features d (with
/// the bias coordinate when `bias` is on); the first `patterns` columns are used.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
}

impl ProblemConfig {
    /// Ranges the types cannot express: the first bad field and why.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if self.patterns == 0 {
            return Err(InvalidOption::new("patterns", "must be at least 1"));
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(InvalidOption::new(
                "beta",
                format!("must be >= 0, got {}", self.beta),
            ));
        }
        Ok(())
    }
}

/// Errors building the problem from data and configuration.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    /// The given gates do not fit the data (the reason names the shape or the value).
    #[error("problem.gates: {0}")]
    Gates(String),
    #[error(transparent)]
    Invalid(#[from] InvalidOption),
    #[error("problem.loss = {loss}: {reason}")]
    Loss { loss: &'static str, reason: String },
}

/// Host-side description of the sampled patterns.
#[derive(Debug, Clone, PartialEq)]
pub struct Patterns {
    /// Gate vectors kept, d x P row-major (d includes the bias coordinate).
    pub gates: Vec<f32>,
    /// Mask M, n x P row-major, entries 0/1.
    pub mask: Vec<f32>,
    /// Number of patterns kept (distinct columns of M).
    pub p: usize,
    /// Patterns dropped as duplicates of an earlier one.
    pub dropped: usize,
}

/// The problem on a backend: data, mask and the precomputed Gram matrix K = X^T X.
#[derive(Debug, Clone)]
pub struct Problem<B: Backend> {
    pub n: usize,
    /// Features, including the bias column when `bias` is on.
    pub d: usize,
    pub p: usize,
    pub beta: f64,
    pub patterns: Patterns,
    /// X with the bias column, row-major, kept on the host for small dense work.
    pub x_host: Vec<f32>,
    /// The targets T, n x C row-major (`loss::targets`).
    pub y_host: Vec<f32>,
    /// The loss the objective sums over examples.
    pub loss: Loss,
    /// Outputs C (1 for a binary problem with the squared or logistic loss).
    pub c: usize,
    pub x: Tensor<B, 2>,
    /// X^T kept resident: some backends run the transposed product far slower.
    pub xt: Tensor<B, 2>,
    /// K = X^T X, so that G^T G U = K U.
    pub k: Tensor<B, 2>,
    /// n x C targets T.
    pub y: Tensor<B, 2>,
    /// n x P mask M (0/1).
    pub mask: Tensor<B, 2>,
    /// n x PC: M tiled once per output (the mask of every column of one side of U).
    pub maskc: Tensor<B, 2>,
    /// n x 2PC signs [S, .., S] with S = 2M - 1, one copy per column block.
    pub sign2: Tensor<B, 2>,
    pub n_test: usize,
    pub x_test: Tensor<B, 2>,
    /// n_test x C targets.
    pub y_test: Tensor<B, 2>,
    pub device: B::Device,
    /// Seconds to build this (mask, K, device copies): part of the precomputation time.
    pub setup_seconds: f64,
}

impl<B: Backend> Problem<B> {
    /// Samples (or loads) the gates, builds the mask, drops duplicate patterns and moves
    /// everything the operators need onto the device. (A straight sequence of uploads, kept in
    /// one piece so that `setup_seconds` visibly covers all of it.)
    pub fn new(
        data: &Dataset,
        cfg: &ProblemConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, ProblemError> {
        let started = std::time::Instant::now();
        let (x_host, d) = if cfg.bias {
            (with_bias(&data.x, data.n, data.d), data.d + 1)
        } else {
            (data.x.clone(), data.d)
        };
        let x_test_host = if cfg.bias {
            with_bias(&data.x_test, data.n_test, data.d)
        } else {
            data.x_test.clone()
        };
        let n = data.n;
        let outputs = cfg
            .loss
            .outputs(data.classes)
            .map_err(|reason| ProblemError::Loss {
                loss: cfg.loss.name(),
                reason,
            })?;
        cfg.validate()?;
        let (gates, p_raw) = match &cfg.gates {
            Some(given) => (check_gates(given, d, cfg.patterns)?, cfg.patterns),
            None => (sample_gates(d, cfg.patterns, seed), cfg.patterns),
        };
        let x = tensor2::<B>(&x_host, n, d, device);
        let h = tensor2::<B>(&gates, d, p_raw, device);
        let raw_mask: Vec<f32> = to_host(x.clone().matmul(h).greater_equal_elem(0.0).float())
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let patterns = dedupe(&gates, &raw_mask, n, d, p_raw);
        let p = patterns.p;
        let mask = tensor2::<B>(&patterns.mask, n, p, device);
        let s = mask.clone().mul_scalar(2.0).sub_scalar(1.0);
        let maskc = match outputs {
            1 => mask.clone(),
            c => mask.clone().repeat_dim(1, c),
        };
        let sign2 = match outputs {
            1 => Tensor::cat(vec![s.clone(), s], 1),
            c => s.repeat_dim(1, 2 * c),
        };
        // X^T resident, not a transposed view of X: backends run the product of a transposed
        // view slower (ndarray about 10x, flex about 1.5x; BENCHMARKS.md), at the cost of a
        // second copy of X.
        let xt = tensor2::<B>(&transpose(&x_host, n, d), d, n, device);
        let k = gram(&xt, &x);
        let y_host = crate::loss::targets(&data.y, outputs);
        let y = tensor2::<B>(&y_host, n, outputs, device);
        let x_test = tensor2::<B>(&x_test_host, data.n_test, d, device);
        let y_test = tensor2::<B>(
            &crate::loss::targets(&data.y_test, outputs),
            data.n_test,
            outputs,
            device,
        );
        let _ = B::sync(device);
        Ok(Problem {
            n,
            d,
            p,
            beta: cfg.beta,
            patterns,
            x_host,
            y_host,
            loss: cfg.loss,
            c: outputs,
            x,
            xt,
            k,
            y,
            mask,
            maskc,
            sign2,
            n_test: data.n_test,
            x_test,
            y_test,
            device: device.clone(),
            setup_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Columns of one side of U: q = PC neurons, one per (output, pattern).
    pub fn q(&self) -> usize {
        self.p * self.c
    }

    /// Dimension of u: 2dPC.
    pub fn dim(&self) -> usize {
        2 * self.d * self.q()
    }

    /// A zero `d x 2PC` block matrix.
    pub fn zeros_u(&self) -> Tensor<B, 2> {
        Tensor::zeros([self.d, 2 * self.q()], &self.device)
    }

    /// A zero `n x 2PC` slack-shaped matrix.
    pub fn zeros_s(&self) -> Tensor<B, 2> {
        Tensor::zeros([self.n, 2 * self.q()], &self.device)
    }

    /// F u: output c is rowsum(M .* X (U_v,c - U_w,c)); n x C.
    pub fn f(&self, u: &Tensor<B, 2>) -> Tensor<B, 2> {
        let q = self.q();
        let diff = u.clone().slice([0..self.d, 0..q]) - u.clone().slice([0..self.d, q..2 * q]);
        self.per_output(self.x.clone().matmul(diff) * self.maskc.clone())
    }

    /// F^T R = [X^T (M .* R_c) for every c, then the same negated], a d x 2PC matrix.
    pub fn ft(&self, r: &Tensor<B, 2>) -> Tensor<B, 2> {
        let t = self.xt.clone().matmul(self.spread(r));
        Tensor::cat(vec![t.clone(), t.neg()], 1)
    }

    /// M .* R spread over the columns of one side: column c P + i is M[:, i] .* R[:, c]
    /// (n x PC; the plain broadcast M .* r for one output).
    pub fn spread(&self, r: &Tensor<B, 2>) -> Tensor<B, 2> {
        if self.c == 1 {
            return self.mask.clone() * r.clone();
        }
        let (n, c, p) = (self.n, self.c, self.p);
        let wide = r
            .clone()
            .reshape([n, c, 1])
            .repeat_dim(2, p)
            .reshape([n, c * p]);
        self.maskc.clone() * wide
    }

    /// Sums the masked columns of one side per output: n x PC -> n x C.
    pub fn per_output(&self, z: Tensor<B, 2>) -> Tensor<B, 2> {
        if self.c == 1 {
            return z.sum_dim(1);
        }
        let [n, _] = z.dims();
        z.reshape([n, self.c, self.p])
            .sum_dim(2)
            .reshape([n, self.c])
    }

    /// G u = [S, .., S] .* (X U), an n x 2PC matrix.
    pub fn g(&self, u: &Tensor<B, 2>) -> Tensor<B, 2> {
        self.sign2.clone() * self.x.clone().matmul(u.clone())
    }

    /// G^T T = X^T ([S, .., S] .* T), a d x 2PC matrix.
    pub fn gt(&self, t: &Tensor<B, 2>) -> Tensor<B, 2> {
        self.xt.clone().matmul(self.sign2.clone() * t.clone())
    }

    /// A U = U + F^T F U / rho + K U (G^T G = I_2PC (x) K because (2D - I)^2 = I).
    pub fn apply_a(&self, u: &Tensor<B, 2>, rho: f64) -> Tensor<B, 2> {
        let fu = self.f(u);
        u.clone() + self.ft(&fu).div_scalar(rho) + self.k.clone().matmul(u.clone())
    }

    /// Convex-model predictions F u from a precomputed X U (n x 2PC).
    pub fn f_from_xu(&self, xu: &Tensor<B, 2>) -> Tensor<B, 2> {
        let q = self.q();
        let diff = xu.clone().slice([0..self.n, 0..q]) - xu.clone().slice([0..self.n, q..2 * q]);
        self.per_output(diff * self.maskc.clone())
    }

    /// The recovered ReLU network's predictions from X U (n x 2PC): n x C.
    pub fn relu_net(&self, xu: Tensor<B, 2>) -> Tensor<B, 2> {
        relu_net_from_xu(xu, self.p, self.c)
    }
}

/// The d x n transpose of a row-major n x d matrix, in tiles so that both sides stay in cache.
fn transpose(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    const TILE: usize = 64;
    let mut out = vec![0.0; n * d];
    for r0 in (0..n).step_by(TILE) {
        for c0 in (0..d).step_by(TILE) {
            for r in r0..(r0 + TILE).min(n) {
                for c in c0..(c0 + TILE).min(d) {
                    out[c * n + r] = x[r * d + c];
                }
            }
        }
    }
    out
}

/// Column blocks of X for `gram`: enough that skipping the blocks below the diagonal pays
/// (4 blocks: 10 of 16 block products, 62.5% of the flops), few enough that each block product
/// is still a large GEMM.
const GRAM_BLOCKS: usize = 4;
/// Below this d the plain product is cheap anyway.
const GRAM_MIN_D: usize = 512;

/// K = X^T X, given X^T (d x n) and X (n x d). K is symmetric, so with X split into column
/// blocks X_1..X_m only the blocks K_ij = X_i^T X_j with j >= i are multiplied (X_i^T as a row
/// block of the resident X^T); those below the diagonal are their transposes. K is the largest precomputation every solver shares (2 n d^2 flops: about 6 s
/// at the Table 1 size on 2 cores), and burn has no symmetric rank-k update.
pub fn gram<B: Backend>(xt: &Tensor<B, 2>, x: &Tensor<B, 2>) -> Tensor<B, 2> {
    let [n, d] = x.dims();
    if d < GRAM_MIN_D {
        return xt.clone().matmul(x.clone());
    }
    let edges: Vec<usize> = (0..=GRAM_BLOCKS).map(|i| i * d / GRAM_BLOCKS).collect();
    let rows_t: Vec<Tensor<B, 2>> = edges
        .windows(2)
        .map(|e| xt.clone().slice([e[0]..e[1], 0..n]))
        .collect();
    let cols: Vec<Tensor<B, 2>> = edges
        .windows(2)
        .map(|e| x.clone().slice([0..n, e[0]..e[1]]))
        .collect();
    let m = cols.len();
    // upper[i][j - i] = X_i^T X_j for j >= i.
    let upper: Vec<Vec<Tensor<B, 2>>> = (0..m)
        .map(|i| {
            (i..m)
                .map(|j| rows_t[i].clone().matmul(cols[j].clone()))
                .collect()
        })
        .collect();
    let block = |i: usize, j: usize| {
        if i <= j {
            upper[i][j - i].clone()
        } else {
            upper[j][i - j].clone().transpose()
        }
    };
    let rows: Vec<Tensor<B, 2>> = (0..m)
        .map(|i| Tensor::cat((0..m).map(|j| block(i, j)).collect(), 1))
        .collect();
    Tensor::cat(rows, 0)
}

/// Prediction of the recovered ReLU network from X U (n x 2PC): output c is
/// sum_i relu(X v_ic) - relu(X w_ic); n x C.
pub fn relu_net_from_xu<B: Backend>(xu: Tensor<B, 2>, p: usize, c: usize) -> Tensor<B, 2> {
    let [n, _] = xu.dims();
    let q = p * c;
    let act = burn::tensor::activation::relu(xu);
    let diff = act.clone().slice([0..n, 0..q]) - act.slice([0..n, q..2 * q]);
    if c == 1 {
        return diff.sum_dim(1);
    }
    diff.reshape([n, c, p]).sum_dim(2).reshape([n, c])
}

/// h_i ~ N(0, I_d), seeded; d x P row-major.
pub fn sample_gates(d: usize, p: usize, seed: u64) -> Vec<f32> {
    // A stream distinct from the data's, so that changing the data seed leaves the gates alone.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6a09_e667_f3bc_c908);
    (0..d * p)
        .map(|_| StandardNormal.sample(&mut rng))
        .map(|v: f64| v as f32)
        .collect()
}

/// The first `patterns` columns of the given gates, after checking their shape and values.
fn check_gates(g: &Gates, d: usize, patterns: usize) -> Result<Vec<f32>, ProblemError> {
    let bad = |reason: String| ProblemError::Gates(reason);
    if g.rows != d || g.values.len() != g.rows * g.cols {
        return Err(bad(format!(
            "expected shape ({d}, P) (d includes the bias row when problem.bias is on), got ({}, {})",
            g.rows, g.cols
        )));
    }
    if g.cols < patterns {
        return Err(bad(format!(
            "has {} gates but problem.patterns = {patterns}",
            g.cols
        )));
    }
    if let Some(i) = g.values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "value {} at row {}, column {} is not finite: gates must be finite numbers",
            g.values[i],
            i / g.cols,
            i % g.cols
        )));
    }
    Ok((0..d)
        .flat_map(|r| (0..patterns).map(move |c| (r, c)))
        .map(|(r, c)| g.values[r * g.cols + c])
        .collect())
}

/// Drops columns of the mask that repeat an earlier column, keeping gates in step.
pub(crate) fn dedupe(gates: &[f32], mask: &[f32], n: usize, d: usize, p: usize) -> Patterns {
    let mut seen = HashSet::new();
    let keep: Vec<usize> = (0..p)
        .filter(|&j| {
            let col: Vec<bool> = (0..n).map(|i| mask[i * p + j] > 0.5).collect();
            seen.insert(col)
        })
        .collect();
    let q = keep.len();
    let pick = |src: &[f32], rows: usize| -> Vec<f32> {
        (0..rows)
            .flat_map(|i| keep.iter().map(move |&j| src[i * p + j]))
            .collect()
    };
    Patterns {
        gates: pick(gates, d),
        mask: pick(mask, n),
        p: q,
        dropped: p - q,
    }
}

#[cfg(test)]
mod tests;
