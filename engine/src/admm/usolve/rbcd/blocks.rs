//! RBCD with several blocks per pass over X (`rbcd.blocks_per_pass`): the k blocks' step
//! sizes chosen together by the exact minimizer over their span, and the indicator matrices
//! that sum a block's (or an output's) columns.

use super::line::subspace_step;
use super::state::{BlockGradient, BlockState};
use crate::problem::to_host;
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Tensor, TensorData};

impl<B: Backend> BlockState<'_, B> {
    /// One step on k disjoint blocks that shares both passes over X: with G = [g_1 .. g_k]
    /// the k block gradients at the current u, it moves u <- u - sum_j t_j g_j with t the
    /// exact minimizer of the quadratic over that span,
    ///   t = H^{-1} a,  a_j = ||g_j||^2,  H_jl = g_j^T A g_l = (F g_j).(F g_l) / rho
    ///                                              + [j = l] g_j^T (I + K) g_j
    /// (disjoint blocks own disjoint columns, and I + K acts column by column, so only F
    /// couples them). The decrease is a^T t / 2 >= each block's own exact step, so it is a
    /// descent step whatever the coupling. `blocks` must be disjoint, each pattern < PC.
    /// With C outputs F g_j is n x C: its columns are kept apart (n x kC) and H sums their
    /// products output by output. Returns the decrease of q.
    pub fn step_blocks(&mut self, blocks: &[Vec<usize>]) -> f64 {
        let (prob, rho) = (self.prob, self.rho);
        let pats: Vec<usize> = blocks.iter().flatten().copied().collect();
        let (k, m) = (blocks.len(), pats.len());
        let BlockGradient {
            idx,
            mask_b,
            g,
            g_diff,
        } = self.gradient(&pats);
        // Column j C + c of fg is output c of F g_j: the masked X g columns summed over block
        // j's patterns that feed output c.
        let c_out = prob.c;
        let owner = if c_out == 1 {
            block_indicator::<B>(blocks, &prob.device)
        } else {
            block_output_indicator::<B>(blocks, prob.p, c_out, &prob.device)
        };
        let fg = (prob.x.clone().matmul(g_diff) * mask_b).matmul(owner); // n x kC
        let ikg = g.clone() + prob.k.clone().matmul(g.clone());
        let per_col = Tensor::cat(
            vec![
                (g.clone() * g.clone()).sum_dim(0),
                (g.clone() * ikg.clone()).sum_dim(0),
            ],
            1,
        )
        .reshape([4 * m]);
        let kc = k * c_out;
        let gram = fg.clone().transpose().matmul(fg.clone()).reshape([kc * kc]);
        let host = to_host(Tensor::cat(vec![per_col, gram], 0));
        let (gg, gikg, ff_out) = (&host[..2 * m], &host[2 * m..4 * m], &host[4 * m..]);
        // (F g_j) . (F g_l), summed over outputs.
        let ff: Vec<f64> = (0..k * k)
            .map(|jl| {
                let (j, l) = (jl / k, jl % k);
                (0..c_out)
                    .map(|c| ff_out[(j * c_out + c) * kc + l * c_out + c])
                    .sum()
            })
            .collect();
        let mut a = vec![0.0; k];
        let mut h = vec![0.0; k * k];
        let mut col = 0;
        for (j, block) in blocks.iter().enumerate() {
            for _ in 0..block.len() {
                // v-column col and w-column m + col both belong to block j.
                a[j] += gg[col] + gg[m + col];
                h[j * k + j] += gikg[col] + gikg[m + col];
                col += 1;
            }
        }
        for (hv, fv) in h.iter_mut().zip(&ff) {
            *hv += fv / rho;
        }
        let Some((t, decrease)) = subspace_step(&a, &h) else {
            return 0.0;
        };
        // -t_j on each of block j's v- and w-columns; t itself for the n x k update of F u.
        let t_cols: Vec<f64> = blocks
            .iter()
            .zip(&t)
            .flat_map(|(block, &tj)| std::iter::repeat_n(-tj, block.len()))
            .collect();
        let t_cols =
            Tensor::<B, 1>::from_data(TensorData::new(t_cols, [m]), &prob.device).reshape([1, m]);
        let t_both = Tensor::cat(vec![t_cols.clone(), t_cols], 1);
        // kC x C: t_j at (j C + c, c), so fg t_blocks = sum_j t_j F g_j (for C = 1, just t).
        let spread: Vec<f64> = (0..kc * c_out)
            .map(|e| {
                let (row, col) = (e / c_out, e % c_out);
                if row % c_out == col {
                    t[row / c_out]
                } else {
                    0.0
                }
            })
            .collect();
        let t_blocks =
            Tensor::<B, 1>::from_data(TensorData::new(spread, [kc * c_out]), &prob.device)
                .reshape([kc, c_out]);
        let add = IndexingUpdateOp::Add;
        self.u = self
            .u
            .clone()
            .select_assign(1, idx.clone(), g * t_both.clone(), add);
        self.c = self.c.clone().select_assign(1, idx, ikg * t_both, add);
        self.yhat = self.yhat.clone() - fg.matmul(t_blocks);
        decrease
    }
}

/// The m x k matrix whose column j is 1 on block j's rows (patterns in the order of
/// `blocks` flattened): a product with it sums each block's columns.
pub(super) fn block_indicator<B: Backend>(
    blocks: &[Vec<usize>],
    device: &B::Device,
) -> Tensor<B, 2> {
    let (k, m) = (blocks.len(), blocks.iter().map(Vec::len).sum::<usize>());
    let mut ind = vec![0f32; m * k];
    let mut row = 0;
    for (j, block) in blocks.iter().enumerate() {
        for _ in 0..block.len() {
            ind[row * k + j] = 1.0;
            row += 1;
        }
    }
    Tensor::from_data(TensorData::new(ind, [m, k]), device)
}

/// The m x C matrix with a 1 at (j, output of column j): a product with it sums the columns
/// feeding each output (columns c P + i feed output c).
pub(super) fn output_indicator<B: Backend>(
    cols: &[usize],
    p: usize,
    c: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let m = cols.len();
    let mut ind = vec![0f32; m * c];
    for (row, &col) in cols.iter().enumerate() {
        ind[row * c + col / p] = 1.0;
    }
    Tensor::from_data(TensorData::new(ind, [m, c]), device)
}

/// The m x kC matrix with a 1 at (row, j C + c) for the rows of block j feeding output c.
pub(super) fn block_output_indicator<B: Backend>(
    blocks: &[Vec<usize>],
    p: usize,
    c: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let (k, m) = (blocks.len(), blocks.iter().map(Vec::len).sum::<usize>());
    let mut ind = vec![0f32; m * k * c];
    let mut row = 0;
    for (j, block) in blocks.iter().enumerate() {
        for &col in block {
            ind[row * k * c + j * c + col / p] = 1.0;
            row += 1;
        }
    }
    Tensor::from_data(TensorData::new(ind, [m, k * c]), device)
}
