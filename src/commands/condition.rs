//! Figure 2: condition numbers of the u-step matrix A, of its diagonally preconditioned form
//! and of its Nystrom-preconditioned forms for a range of sketch ranks.
//!
//! Everything is measured on the solver's real A (with G^T G = I_2P (x) K), formed densely in
//! f64, through the symmetric forms D^{-1/2} A D^{-1/2} and P^{-1/2} A P^{-1/2}: they have the
//! eigenvalues of the preconditioned operators CG effectively works with. (The paper's own
//! Figure 2 took cond() of the non-symmetric P^{-1} A of a different A; see reference-notes.md.)
//! The Nystrom factors are the ones `nys-pcg` builds (same seed, same code), in f64.

use crate::manifest::{self, ConditionConfig, ManifestError};
use crate::results::{KappaTable, ResultsError};
use admm_engine::admm::usolve::exact::dense_a;
use admm_engine::admm::usolve::nystrom::{nystrom_factors, NystromFactors};
use admm_engine::admm::usolve::{NysVariant, SolveError};
use admm_engine::problem::{Problem, ProblemError};
use burn::tensor::backend::Backend;
use faer::{Mat, Side};
use figment::value::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Why the condition numbers could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ConditionError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Problem(#[from] ProblemError),
    #[error(transparent)]
    Solve(#[from] SolveError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("A would be formed densely at N = 2dP = {dim}, above condition.max_dim = {limit} (one N x N eigenproblem per rank); raise the limit or shrink the problem")]
    TooLarge { dim: usize, limit: usize },
    #[error("eigenvalues of {what}: {reason}")]
    Eigen { what: String, reason: String },
}

/// Condition numbers of A, of the diagonally preconditioned A, and per Nystrom rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Kappas {
    pub kappa_a: f64,
    pub kappa_diag: f64,
    pub ranks: Vec<usize>,
    /// Textbook Nystrom preconditioner (sketch of H, mu = 1), one per rank.
    pub kappa_nys: Vec<f64>,
    /// The paper code's variant (sketch of the whole A, mu = rho), when asked for.
    pub kappa_nys_ref: Option<Vec<f64>>,
}

/// `admm-runner condition`: the manifest's first run, on the flex backend, written to
/// `<out>/<experiment>/kappa.parquet`. Returns the file and the numbers.
pub fn run(
    path: &Path,
    overrides: &[(String, Value)],
    out: &Path,
) -> Result<(PathBuf, Kappas), ConditionError> {
    let (cfg, cond) = manifest::condition_plan(path, overrides)?;
    let data = crate::data::load(&cfg.data, cfg.seed)?;
    let prob = cfg
        .problem
        .build::<burn::backend::Flex>(&data, cfg.seed, &Default::default())?;
    // Figure 2's A at the run's rho (the ADMM default for a manifest whose first run is Adam).
    let rho = cfg.solver.method.admm().copied().unwrap_or_default().rho;
    let kappas = compute(&prob, rho, cfg.seed, &cond)?;
    let file = out.join(&cfg.experiment).join("kappa.parquet");
    write(&file, &kappas)?;
    Ok((file, kappas))
}

/// The condition numbers for `prob` at penalty `rho`, for the ranks `cond` names.
pub fn compute<B: Backend>(
    prob: &Problem<B>,
    rho: f64,
    seed: u64,
    cond: &ConditionConfig,
) -> Result<Kappas, ConditionError> {
    let dim = prob.dim();
    if dim > cond.max_dim {
        return Err(ConditionError::TooLarge {
            dim,
            limit: cond.max_dim,
        });
    }
    let ranks = cond.rank_list();
    let a = dense_a(prob, rho);
    let kappa_a = kappa(&a, "A")?;
    let kappa_diag = kappa(&diag_scaled(&a), "D^-1/2 A D^-1/2")?;
    let mut variants = vec![NysVariant::Textbook];
    if cond.reference {
        variants.push(NysVariant::Reference);
    }
    // The sketches use the backend (sequentially); the eigenproblems run on all cores.
    let mut jobs = Vec::new();
    for &variant in &variants {
        for &r in &ranks {
            let f = nystrom_factors(prob, rho, r, seed, variant)?;
            jobs.push((r, variant, f));
        }
    }
    let (d, cols) = (prob.d, 2 * prob.p);
    let results = parallel_map(&jobs, |(r, variant, f)| {
        kappa(
            &nystrom_scaled(&a, f, d, cols),
            &format!("P^-1/2 A P^-1/2 ({variant:?}, rank {r})"),
        )
    });
    let mut per_variant = vec![Vec::new(); variants.len()];
    for ((_, variant, _), k) in jobs.iter().zip(results) {
        let slot = if *variant == NysVariant::Textbook {
            0
        } else {
            1
        };
        per_variant[slot].push(k?);
    }
    let mut it = per_variant.into_iter();
    Ok(Kappas {
        kappa_a,
        kappa_diag,
        ranks,
        kappa_nys: it.next().unwrap_or_default(),
        kappa_nys_ref: it.next(),
    })
}

/// lambda_max / lambda_min of a symmetric positive definite matrix.
pub fn kappa(m: &Mat<f64>, what: &str) -> Result<f64, ConditionError> {
    let eig = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| ConditionError::Eigen {
            what: what.into(),
            reason: format!("{e:?}"),
        })?;
    match (eig.first(), eig.last()) {
        (Some(&lo), Some(&hi)) if lo > 0.0 => Ok(hi / lo),
        (Some(&lo), _) => Err(ConditionError::Eigen {
            what: what.into(),
            reason: format!("not positive definite (smallest eigenvalue {lo:e})"),
        }),
        _ => Err(ConditionError::Eigen {
            what: what.into(),
            reason: "empty matrix".into(),
        }),
    }
}

/// D^{-1/2} A D^{-1/2} with D = diag(A), the symmetric form of diag-PCG's operator.
pub fn diag_scaled(a: &Mat<f64>) -> Mat<f64> {
    let s: Vec<f64> = (0..a.nrows()).map(|i| a[(i, i)].sqrt().recip()).collect();
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] * s[i] * s[j])
}

/// P^{-1/2} A P^{-1/2} for P^{-1} = U diag(s) U^T + (I - U U^T): with W = U diag(sqrt(s) - 1),
/// P^{-1/2} = I + W U^T, so the product is A + W (A U)^T + (A U) W^T + W (U^T A U) W^T,
/// O(N^2 r) instead of two dense N^3 products.
pub fn nystrom_scaled(a: &Mat<f64>, f: &NystromFactors, d: usize, cols: usize) -> Mat<f64> {
    let u = f.u_block_order(d, cols);
    let w_diag: Vec<f64> = f.inverse_scales().iter().map(|s| s.sqrt() - 1.0).collect();
    let w = Mat::from_fn(u.nrows(), u.ncols(), |i, c| u[(i, c)] * w_diag[c]);
    let au = a * &u;
    let core = u.transpose() * &au;
    let cross = &w * au.transpose();
    let wcw = &w * &core * w.transpose();
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| {
        a[(i, j)] + cross[(i, j)] + cross[(j, i)] + wcw[(i, j)]
    })
}

/// Maps `f` over `items` on all cores (the eigenproblems are independent and single-threaded).
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// One row per rank: rank, kappa_nys, kappa_a, kappa_diag (and kappa_nys_ref).
fn write(file: &Path, k: &Kappas) -> Result<(), ResultsError> {
    let n = k.ranks.len();
    KappaTable {
        ranks: k.ranks.iter().map(|&r| r as f64).collect(),
        kappa_a: vec![k.kappa_a; n],
        kappa_diag: vec![k.kappa_diag; n],
        kappa_nys: k.kappa_nys.clone(),
        kappa_nys_ref: k.kappa_nys_ref.clone(),
    }
    .write(file)
}
