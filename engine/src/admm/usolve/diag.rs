//! diag-PCG: CG preconditioned by M = diag(A) (Jacobi), built matrix-free (method.md sec. 3).
//!
//! Coordinate a of v-block i of A = I + F^T F / rho + I_2P (x) K has diagonal entry
//! 1 + sum_k M[k,i] X[k,a]^2 / rho + K[a,a]; w-block i has the same one (F's sign squares
//! away). So the whole d x 2P diagonal is one (X .* X)^T M product, with no pattern loop.
//! The paper reports that this can raise the condition number; Figure 2 measures it.

use super::cg::Preconditioner;
use super::SolveError;
use crate::problem::Problem;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Jacobi preconditioner: stores 1 / diag(A) as a d x 2P block matrix.
pub struct DiagPrecond<B: Backend> {
    inv_diag: Option<Tensor<B, 2>>,
}

impl<B: Backend> Default for DiagPrecond<B> {
    fn default() -> Self {
        DiagPrecond { inv_diag: None }
    }
}

/// diag(A) as a d x 2PC block matrix, matrix-free: 1 + ((X .* X)^T M) / rho + diag(K), the
/// gated part the same for every output and side.
pub fn diag_a<B: Backend>(prob: &Problem<B>, rho: f64) -> Tensor<B, 2> {
    // X^T is resident: squaring it avoids a transposed product.
    let xt_sq = prob.xt.clone() * prob.xt.clone();
    let k_diag = xt_sq.clone().sum_dim(1); // d x 1: K[a,a] = sum_k X[k,a]^2
    let gated = xt_sq.matmul(prob.mask.clone()).div_scalar(rho); // d x P
    Tensor::cat(vec![gated; 2 * prob.c], 1) + k_diag.add_scalar(1.0)
}

impl<B: Backend> Preconditioner<B> for DiagPrecond<B> {
    fn prepare(&mut self, prob: &Problem<B>, rho: f64) -> Result<(), SolveError> {
        self.inv_diag = Some(diag_a(prob, rho).recip());
        Ok(())
    }

    fn is_ready(&self) -> bool {
        self.inv_diag.is_some()
    }

    fn apply(&self, r: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.inv_diag {
            Some(inv) => r * inv.clone(),
            None => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::diag_a;
    use crate::admm::usolve::exact::{blocks_to_vec, dense_a};
    use crate::data::{teacher_dataset, TeacherSpec};
    use crate::problem::{Problem, ProblemConfig};

    type F64 = burn::backend::NdArray<f64>;

    #[test]
    fn diag_of_a_matrix_free_equals_the_dense_diagonal() {
        let spec = TeacherSpec {
            n_train: 60,
            n_test: 0,
            dim: 6,
            teacher_width: 4,
            label_noise: 0.1,
            classes: 2,
        };
        let data = teacher_dataset(&spec, 1).unwrap();
        let cfg = ProblemConfig {
            patterns: 8,
            ..ProblemConfig::default()
        };
        let prob = Problem::<F64>::new(&data, &cfg, 0, &Default::default()).unwrap();
        for rho in [0.01, 0.7] {
            let fast = blocks_to_vec(diag_a(&prob, rho));
            let dense = dense_a(&prob, rho);
            for (i, v) in fast.iter().enumerate() {
                let want = dense[(i, i)];
                assert!(
                    (v - want).abs() <= 1e-9 * want,
                    "rho {rho}, entry {i}: {v} vs {want}"
                );
            }
        }
    }
}
