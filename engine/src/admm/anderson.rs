//! Type-II Anderson acceleration of the ADMM fixed-point map x -> T(x) (as SCS does), with
//! memory m. x is everything that determines the next iteration: (v, s, lambda, nu), flattened
//! into one 1 x N row. The caller safeguards: it keeps the plain T(x) and falls back to it when
//! the accelerated point's residual ||T(x) - x|| grew (Zhang, O'Donoghue, Boyd 2020).

use crate::problem::to_host;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use std::collections::VecDeque;

/// Tikhonov weight of the least-squares problem, relative to its Gram matrix's trace: keeps
/// nearly dependent differences from blowing the combination up.
const REGULARIZATION: f64 = 1e-10;

/// The last m + 1 points x and their images y = T(x), as 1 x N rows.
pub struct Anderson<B: Backend> {
    memory: usize,
    xs: VecDeque<Tensor<B, 2>>,
    ys: VecDeque<Tensor<B, 2>>,
}

impl<B: Backend> Anderson<B> {
    pub fn new(memory: usize) -> Self {
        Anderson {
            memory,
            xs: VecDeque::new(),
            ys: VecDeque::new(),
        }
    }

    /// Forgets the history (after a rho change rescales the duals, or a rejected step).
    pub fn reset(&mut self) {
        self.xs.clear();
        self.ys.clear();
    }

    /// Records x -> y = T(x) and returns the accelerated point y - dY gamma, gamma minimizing
    /// ||f - dF gamma|| over the residual differences (f = y - x); None until two points are
    /// known or when the least squares cannot be solved.
    pub fn push(&mut self, x: Tensor<B, 2>, y: Tensor<B, 2>) -> Option<Tensor<B, 2>> {
        self.xs.push_back(x);
        self.ys.push_back(y);
        if self.xs.len() > self.memory + 1 {
            self.xs.pop_front();
            self.ys.pop_front();
        }
        let k = self.xs.len() - 1;
        if k == 0 {
            return None;
        }
        let f = |i: usize| self.ys[i].clone() - self.xs[i].clone();
        let df = Tensor::cat((0..k).map(|i| f(i + 1) - f(i)).collect(), 0); // k x N
        let dy = Tensor::cat(
            (0..k)
                .map(|i| self.ys[i + 1].clone() - self.ys[i].clone())
                .collect(),
            0,
        );
        let gram = to_host(df.clone().matmul(df.clone().transpose()));
        let rhs = to_host(df.matmul(f(k).transpose()));
        let gamma = solve_regularized(&gram, &rhs, k)?;
        let dev = self.ys[k].device();
        let g = Tensor::<B, 2>::from_data(burn::tensor::TensorData::new(gamma, [1, k]), &dev);
        Some(self.ys[k].clone() - g.matmul(dy))
    }
}

/// (G + reg I) gamma = rhs for the k x k Gram matrix G (row-major), in f64.
fn solve_regularized(gram: &[f64], rhs: &[f64], k: usize) -> Option<Vec<f64>> {
    let trace: f64 = (0..k).map(|i| gram[i * k + i]).sum();
    if !(trace > 0.0 && trace.is_finite()) {
        return None;
    }
    let reg = REGULARIZATION * trace;
    let a = Mat::<f64>::from_fn(k, k, |i, j| {
        gram[i * k + j] + if i == j { reg } else { 0.0 }
    });
    let llt = a.llt(Side::Lower).ok()?;
    let mut b = Mat::<f64>::from_fn(k, 1, |i, _| rhs[i]);
    llt.solve_in_place(&mut b);
    let gamma: Vec<f64> = (0..k).map(|i| b[(i, 0)]).collect();
    gamma.iter().all(|g| g.is_finite()).then_some(gamma)
}

#[cfg(test)]
mod tests {
    use super::*;
    type Cpu = burn::backend::NdArray<f64>;

    fn row(v: &[f64]) -> Tensor<Cpu, 2> {
        Tensor::from_data(
            burn::tensor::TensorData::new(v.to_vec(), [1, v.len()]),
            &Default::default(),
        )
    }

    /// On an affine map T(x) = M x + c, Anderson with memory >= dim finds the fixed point
    /// exactly after dim + 1 evaluations (it is GMRES in disguise).
    #[test]
    fn anderson_solves_an_affine_fixed_point_in_dim_plus_one_steps() {
        let t = |x: &[f64]| {
            vec![
                0.5 * x[0] + 0.2 * x[1] + 1.0,
                -0.3 * x[0] + 0.4 * x[1] - 2.0,
            ]
        };
        // Fixed point: (I - M) x = c.
        let (a, b, c, d) = (0.5, -0.2, 0.3, 0.6);
        let det = a * d - b * c;
        let star = [(d * 1.0 - b * -2.0) / det, (-c * 1.0 + a * -2.0) / det];
        let mut aa = Anderson::<Cpu>::new(5);
        let mut x = vec![0.0, 0.0];
        for _ in 0..3 {
            let y = t(&x);
            x = match aa.push(row(&x), row(&y)) {
                Some(acc) => to_host(acc),
                None => y,
            };
        }
        assert!(
            (x[0] - star[0]).abs() < 1e-9 && (x[1] - star[1]).abs() < 1e-9,
            "{x:?} vs {star:?}"
        );
    }
}
