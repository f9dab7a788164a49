//! nys-PCG: CG preconditioned by a randomized rank-r Nystrom approximation (Frangella, Tropp,
//! Udell, "Randomized Nystrom Preconditioning", Alg. 4-5; method.md sec. 4).
//!
//! The sketch Y = H Omega needs r applications of H; they run batched on the backend (a few
//! large matrix products per chunk of columns), as do the other products with N x r matrices.
//! Only r x r matrices (Cholesky factors, Gram matrices) and the thin SVD of B go to the host,
//! in f64: the SVD is taken of B itself rather than of B^T B, whose f32 rounding would swamp
//! the small eigenvalues next to mu.
//!
//! Layout: r vectors of dimension N = 2dP are an r x N tensor whose row c is the d x 2P block
//! matrix of vector c flattened row-major (entry (a, j) at a * 2P + j), so that reshaping
//! between the two forms is free.

use super::cg::Preconditioner;
use super::SolveError;
use crate::problem::{to_host, Problem};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use faer::{Mat, Side};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Which matrix the Nystrom preconditioner sketches, and its shift mu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum NysVariant {
    /// Frangella-Tropp-Udell: sketch the PSD part H = F^T F / rho + G^T G of A = H + I, mu = 1.
    #[default]
    Textbook,
    /// The paper's code: sketch the whole A (identity included), mu = rho.
    Reference,
}

/// Options of nys-pcg (the manifest's `solver.nys` section).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct NysOptions {
    /// Rank r of the sketch (must be below N = 2dP).
    pub rank: usize,
    /// The textbook preconditioner or the paper code's variant.
    pub variant: NysVariant,
}

impl Default for NysOptions {
    fn default() -> Self {
        NysOptions {
            rank: 100,
            variant: NysVariant::Textbook,
        }
    }
}

impl NysOptions {
    /// Ranges the types cannot express (the rank's upper bound, N = 2dP, is known only with
    /// the problem: `SolveError::RankTooLarge`).
    pub fn validate(&self) -> Result<(), crate::InvalidOption> {
        if self.rank == 0 {
            return Err(crate::InvalidOption::new("rank", "must be at least 1"));
        }
        Ok(())
    }
}

/// Largest intermediate (elements) one batched H-application may create: the sketch runs in
/// chunks of columns so that full scale (n = 10^4, P = 50, r = 100) stays within memory.
const CHUNK_ELEMS: usize = 1 << 26;

/// How often the Cholesky of the shifted core matrix is retried with a 10x larger shift when
/// f32 rounding leaves it indefinite.
const SHIFT_RETRIES: usize = 6;

/// The Nystrom approximation U diag(lambda) U^T of the sketched matrix, on the host in f64.
#[derive(Debug, Clone)]
pub struct NystromFactors {
    /// N x r with orthonormal columns; row index a * 2P + j for block entry (a, j).
    pub u: Mat<f64>,
    /// Eigenvalue estimates, nonincreasing, >= 0.
    pub lambda: Vec<f64>,
    /// The shift mu of the preconditioned system (sketched matrix + mu I).
    pub mu: f64,
    /// The stabilizing shift nu actually used.
    pub shift: f64,
}

impl NystromFactors {
    /// U with its rows in block order (index j * d + a), the order of `exact::dense_a`.
    pub fn u_block_order(&self, d: usize, cols: usize) -> Mat<f64> {
        Mat::from_fn(self.u.nrows(), self.u.ncols(), |row, c| {
            self.u[((row % d) * cols + row / d, c)]
        })
    }

    /// s_i = (lambda_r + mu) / (lambda_i + mu), so that P^{-1} = U diag(s) U^T + (I - U U^T).
    pub fn inverse_scales(&self) -> Vec<f64> {
        let last = self.lambda.last().copied().unwrap_or(0.0);
        self.lambda
            .iter()
            .map(|l| (last + self.mu) / (l + self.mu))
            .collect()
    }
}

/// Builds the rank-`rank` Nystrom approximation of H = F^T F / rho + G^T G (textbook, mu = 1)
/// or of the whole A (the paper code's variant, mu = rho). Omega is seeded Gaussian, so the
/// sketch for rank r uses the first r rows of the sketch for any larger rank.
pub fn nystrom_factors<B: Backend>(
    prob: &Problem<B>,
    rho: f64,
    rank: usize,
    seed: u64,
    variant: NysVariant,
) -> Result<NystromFactors, SolveError> {
    let dim = prob.dim();
    if rank >= dim {
        return Err(SolveError::RankTooLarge { rank, dim });
    }
    let omega = gaussian_rows::<B>(rank, dim, seed, &prob.device);
    // CholQR2: Gaussian columns are well conditioned, and a second pass restores
    // orthogonality to working precision.
    let omega = chol_qr(chol_qr(omega)?)?;
    let mut y = sketch(prob, rho, &omega);
    let mu = match variant {
        NysVariant::Textbook => 1.0,
        NysVariant::Reference => {
            y = y + omega.clone();
            rho
        }
    };
    let shift = (dim as f64).sqrt() * eps_f32(spectral_norm(&y)?);
    let (b_rows, shift) = shifted_factor(&omega, y, shift)?;
    let (u, sigma) = thin_svd(b_rows)?;
    let lambda = sigma.iter().map(|s| (s * s - shift).max(0.0)).collect();
    Ok(NystromFactors {
        u,
        lambda,
        mu,
        shift,
    })
}

/// H W for c block matrices at once (W is c x d x 2PC): H = F^T F / rho + I_2PC (x) K, the
/// same operator as `Problem::apply_a` minus the identity, with the c columns batched into
/// single n x d by d x cPC products. The C outputs of one column are independent in F (each
/// sums its own P columns), so they batch like c C separate columns of P patterns.
pub fn apply_h_batch<B: Backend>(prob: &Problem<B>, rho: f64, w: Tensor<B, 3>) -> Tensor<B, 3> {
    let [c, d, p2] = w.dims();
    let (n, q, p) = (prob.n, p2 / 2, prob.p);
    let cc = c * (q / p); // (column, output) pairs
    let diff = w.clone().slice([0..c, 0..d, 0..q]) - w.clone().slice([0..c, 0..d, q..p2]);
    let xd = prob
        .x
        .clone()
        .matmul(diff.swap_dims(0, 1).reshape([d, c * q]))
        .reshape([n, cc, p]);
    let mask = prob.mask.clone().reshape([n, 1, p]);
    let fw = (xd * mask.clone()).sum_dim(2); // n x cC x 1: F w for each column and output
    let t = prob
        .xt
        .clone()
        .matmul((mask * fw).reshape([n, c * q]))
        .reshape([d, c, q])
        .swap_dims(0, 1);
    let ftf = Tensor::cat(vec![t.clone(), t.neg()], 2).div_scalar(rho);
    let kw = prob
        .k
        .clone()
        .matmul(w.swap_dims(0, 1).reshape([d, c * p2]))
        .reshape([d, c, p2])
        .swap_dims(0, 1);
    ftf + kw
}

/// Y = H Omega, as rows (r x N), in chunks of columns.
fn sketch<B: Backend>(prob: &Problem<B>, rho: f64, omega: &Tensor<B, 2>) -> Tensor<B, 2> {
    let [r, dim] = omega.dims();
    let (d, p2) = (prob.d, 2 * prob.q());
    let chunk = (CHUNK_ELEMS / (prob.n.max(d) * p2).max(1)).clamp(1, r);
    let parts = (0..r)
        .step_by(chunk)
        .map(|s| {
            let e = (s + chunk).min(r);
            let w = omega.clone().slice([s..e, 0..dim]).reshape([e - s, d, p2]);
            apply_h_batch(prob, rho, w).reshape([e - s, dim])
        })
        .collect();
    Tensor::cat(parts, 0)
}

/// r x N standard normal, seeded (a stream apart from the gates').
fn gaussian_rows<B: Backend>(r: usize, dim: usize, seed: u64, dev: &B::Device) -> Tensor<B, 2> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xbb67_ae85_84ca_a73b);
    let vals: Vec<f32> = (0..r * dim)
        .map(|_| {
            let v: f64 = StandardNormal.sample(&mut rng);
            v as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(vals, [r, dim]), dev)
}

/// Orthonormalizes the rows of W (r x N) by Cholesky-QR: W <- L^{-1} W with L L^T = W W^T.
fn chol_qr<B: Backend>(w: Tensor<B, 2>) -> Result<Tensor<B, 2>, SolveError> {
    let gram = host_mat(w.clone().matmul(w.clone().transpose()));
    let llt = gram
        .llt(Side::Lower)
        .map_err(|e| SolveError::Sketch(format!("Cholesky-QR of Omega: {e:?}")))?;
    let linv = lower_inverse(&llt.L().to_owned());
    Ok(upload::<B>(&linv, &w.device()).matmul(w))
}

/// C = chol(Omega^T (Y + nu Omega)) and B = (Y + nu Omega) C^{-1}, as rows: B^T = L^{-1} Y_nu^T.
/// Returns B^T and the shift used (raised tenfold while f32 rounding leaves the core indefinite).
fn shifted_factor<B: Backend>(
    omega: &Tensor<B, 2>,
    y: Tensor<B, 2>,
    mut shift: f64,
) -> Result<(Tensor<B, 2>, f64), SolveError> {
    for _ in 0..SHIFT_RETRIES {
        let y_nu = y.clone() + omega.clone().mul_scalar(shift);
        let core = host_mat(omega.clone().matmul(y_nu.clone().transpose()));
        let sym = Mat::from_fn(core.nrows(), core.ncols(), |i, j| {
            0.5 * (core[(i, j)] + core[(j, i)])
        });
        if let Ok(llt) = sym.llt(Side::Lower) {
            let linv = lower_inverse(&llt.L().to_owned());
            return Ok((upload::<B>(&linv, &omega.device()).matmul(y_nu), shift));
        }
        shift = if shift > 0.0 { shift * 10.0 } else { 1e-6 };
    }
    Err(SolveError::Sketch(format!(
        "Omega^T (Y + nu Omega) stayed indefinite up to nu = {shift:e}"
    )))
}

/// Thin SVD of B (given as B^T, r x N) on the host in f64: (U, singular values).
fn thin_svd<B: Backend>(b_rows: Tensor<B, 2>) -> Result<(Mat<f64>, Vec<f64>), SolveError> {
    let [r, dim] = b_rows.dims();
    let host = to_host(b_rows);
    let b = Mat::<f64>::from_fn(dim, r, |i, c| host[c * dim + i]);
    let svd = b
        .thin_svd()
        .map_err(|e| SolveError::Sketch(format!("thin SVD of B: {e:?}")))?;
    let sigma = (0..r).map(|i| svd.S()[i]).collect();
    Ok((svd.U().to_owned(), sigma))
}

/// ||Y||_2 from the r x r Gram matrix Y Y^T.
fn spectral_norm<B: Backend>(y: &Tensor<B, 2>) -> Result<f64, SolveError> {
    let gram = host_mat(y.clone().matmul(y.clone().transpose()));
    let eig = gram
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| SolveError::Sketch(format!("eigenvalues of Y^T Y: {e:?}")))?;
    Ok(eig.last().copied().unwrap_or(0.0).max(0.0).sqrt())
}

/// MATLAB's eps(x) for single precision: the spacing of f32 numbers at x (the backend's
/// precision, not f64's, bounds the sketch's rounding).
fn eps_f32(x: f64) -> f64 {
    if x > 0.0 && x.is_finite() {
        2f64.powf(x.log2().floor() - 23.0)
    } else {
        f64::from(f32::EPSILON)
    }
}

fn lower_inverse(l: &Mat<f64>) -> Mat<f64> {
    let mut inv = Mat::<f64>::identity(l.nrows(), l.ncols());
    l.solve_lower_triangular_in_place(&mut inv);
    inv
}

fn host_mat<B: Backend>(t: Tensor<B, 2>) -> Mat<f64> {
    let [rows, cols] = t.dims();
    let v = to_host(t);
    Mat::from_fn(rows, cols, |i, j| v[i * cols + j])
}

fn upload<B: Backend>(m: &Mat<f64>, dev: &B::Device) -> Tensor<B, 2> {
    let (rows, cols) = (m.nrows(), m.ncols());
    let v: Vec<f32> = (0..rows * cols)
        .map(|idx| m[(idx / cols, idx % cols)] as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), dev)
}

/// The preconditioner on the backend: U (N x r), U^T (r x N) and s - 1 (r x 1), so that
/// P^{-1} x = x + U ((s - 1) .* U^T x), three small products per application.
struct Applied<B: Backend> {
    u: Tensor<B, 2>,
    ut: Tensor<B, 2>,
    scale: Tensor<B, 2>,
}

/// Randomized Nystrom preconditioner (built in `prepare`, i.e. charged to precomputation).
pub struct NystromPrecond<B: Backend> {
    rank: usize,
    seed: u64,
    variant: NysVariant,
    applied: Option<Applied<B>>,
}

impl<B: Backend> NystromPrecond<B> {
    pub fn new(rank: usize, seed: u64, variant: NysVariant) -> Self {
        NystromPrecond {
            rank,
            seed,
            variant,
            applied: None,
        }
    }
}

impl<B: Backend> Preconditioner<B> for NystromPrecond<B> {
    fn prepare(&mut self, prob: &Problem<B>, rho: f64) -> Result<(), SolveError> {
        let f = nystrom_factors(prob, rho, self.rank, self.seed, self.variant)?;
        let r = f.lambda.len();
        let scale: Vec<f64> = f.inverse_scales().iter().map(|s| s - 1.0).collect();
        let scale = Mat::<f64>::from_fn(r, 1, |i, _| scale[i]);
        let dev = &prob.device;
        self.applied = Some(Applied {
            u: upload::<B>(&f.u, dev),
            ut: upload::<B>(&f.u.transpose().to_owned(), dev),
            scale: upload::<B>(&scale, dev),
        });
        Ok(())
    }

    fn is_ready(&self) -> bool {
        self.applied.is_some()
    }

    fn apply(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let Some(a) = &self.applied else {
            return x;
        };
        let [d, cols] = x.dims();
        let coeff = a.ut.clone().matmul(x.clone().reshape([d * cols, 1])) * a.scale.clone();
        x + a.u.clone().matmul(coeff).reshape([d, cols])
    }
}
