//! The host kernels of RBCD's fused block step (issue 31): everything a step needs from X in
//! one read of it, over row-major f32 slices.
//!
//! A block step is bound by memory bandwidth (BENCHMARKS.md, "RBCD against its memory floor"),
//! and the tensor step reads X twice: once for the block's gradient X^T (M_J .* F u), once
//! for F g. `Pass::run` reads it once: in chunks of rows small enough to stay in L2, it forms
//! a = X g_diff for the stepped block's columns (so F g on the chunk's rows), then, while the
//! chunk is still in cache, accumulates X^T (M_J' .* F u) and X^T (M_J' .* F g) for the block
//! J' drawn next. The caller's step size t then gives the next gradient's sum as the first
//! minus t times the second, because F u moves by -t F g. `gram_apply` is the product with K
//! for the block's curvature (d x d, read once).
//!
//! The chunks are split among rayon's threads in contiguous, fixed parts (so the sums add in
//! the same order on every run with the same thread count), each with its own accumulators.
//! The micro-kernels are plain loops run inside `pulp::Arch::dispatch`, which compiles them
//! with AVX2 and FMA (AVX-512 where available) when the CPU has them.

use rayon::prelude::*;

/// Bytes of X one chunk of rows takes. A chunk is read from memory for its dots and read
/// again for the rank update: it must stay in a core's L2 (1.25 MiB on the development
/// machine) beside the accumulators (2m' x d floats).
const CHUNK_BYTES: usize = 256 << 10;

/// Lanes of the dot-product accumulators: two AVX2 registers per column, enough independent
/// sums to hide the FMA latency when three or four columns share a row.
const LANES: usize = 16;

/// Rows of one chunk for rows of `d` floats (at least 4, a multiple of 4: the rank update
/// takes rows four at a time).
pub fn chunk_rows(d: usize) -> usize {
    (CHUNK_BYTES / (4 * d.max(1))).max(4) / 4 * 4
}

/// The columns of one block as the kernel reads them: for each column, the pattern whose mask
/// gates it (the mask's column) and the output it feeds (column c P + i: pattern i, output c).
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    pub pats: Vec<usize>,
    pub outs: Vec<usize>,
}

impl Gates {
    /// The gates of block columns `cols` (each < PC) for P patterns.
    pub fn of(cols: &[usize], p: usize) -> Self {
        Gates {
            pats: cols.iter().map(|&c| c % p).collect(),
            outs: cols.iter().map(|&c| c / p).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.pats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pats.is_empty()
    }
}

/// The data one pass reads: X (n x d), the mask M (n x P), yhat = F u (n x C), row-major.
#[derive(Debug, Clone, Copy)]
pub struct Pass<'a> {
    pub x: &'a [f32],
    pub n: usize,
    pub d: usize,
    pub mask: &'a [f32],
    pub p: usize,
    pub outs: usize,
    pub yhat: &'a [f32],
}

/// What one pass computed.
#[derive(Debug, Clone, Default)]
pub struct PassResult {
    /// F g of the stepped block (n x C row-major; zeros without one).
    pub fg: Vec<f32>,
    /// ||F g||^2.
    pub ff: f64,
    /// For the next block's columns k: rows k of X^T (M_k .* yhat_k) (m' x d), then, with a
    /// stepped block, rows m' + k of X^T (M_k .* (F g)_k).
    pub sums: Vec<f32>,
}

/// One part's share of the pass: its accumulated sums and its part of ||F g||^2.
struct Partial {
    sums: Vec<f32>,
    ff: f64,
}

impl Pass<'_> {
    /// One read of X. `now`: the stepped block's gates and its g_v - g_w (m x d, column by
    /// column), giving F g; `next`: the block whose gradient sums to accumulate (with `now`,
    /// against both yhat and F g). Either may be absent: the two-pass step runs one of each.
    pub fn run(&self, now: Option<(&Gates, &[f32])>, next: Option<&Gates>) -> PassResult {
        let (n, d, outs) = (self.n, self.d, self.outs);
        let m_next = next.map_or(0, Gates::len);
        let width = if now.is_some() { 2 * m_next } else { m_next };
        let mut fg = vec![0f32; n * outs];
        let part_rows = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
        let partials: Vec<Partial> = fg
            .par_chunks_mut(part_rows * outs)
            .zip(self.x.par_chunks(part_rows * d))
            .enumerate()
            .map(|(t, (fg_part, x_part))| {
                let job = Part {
                    pass: self,
                    row0: t * part_rows,
                    now,
                    next,
                    width,
                };
                pulp::Arch::new().dispatch(|| job.run(x_part, fg_part))
            })
            .collect();
        let mut sums = vec![0f32; width * d];
        let mut ff = 0.0;
        for part in partials {
            for (s, v) in sums.iter_mut().zip(&part.sums) {
                *s += v;
            }
            ff += part.ff;
        }
        PassResult { fg, ff, sums }
    }
}

/// One thread's contiguous rows of a pass.
struct Part<'a> {
    pass: &'a Pass<'a>,
    row0: usize,
    now: Option<(&'a Gates, &'a [f32])>,
    next: Option<&'a Gates>,
    width: usize,
}

impl Part<'_> {
    /// Runs the part chunk by chunk: the dots of the chunk's rows, then (the chunk still in
    /// cache) the rank update of the next block's sums.
    #[inline(always)]
    fn run(&self, x_part: &[f32], fg_part: &mut [f32]) -> Partial {
        let Pass {
            d, mask, p, outs, ..
        } = *self.pass;
        let rows = chunk_rows(d);
        let m_now = self.now.map_or(0, |(g, _)| g.len());
        let mut sums = vec![0f32; self.width * d];
        let mut a = vec![0f32; rows * m_now];
        let mut w = vec![0f32; rows * self.width];
        let mut ff = 0.0;
        for (ci, (xc, fgc)) in x_part
            .chunks(rows * d)
            .zip(fg_part.chunks_mut(rows * outs))
            .enumerate()
        {
            let (r0, rc) = (self.row0 + ci * rows, xc.len() / d);
            if let Some((gates, gd)) = self.now {
                dots(xc, d, gd, m_now, &mut a[..rc * m_now]);
                for r in 0..rc {
                    let mrow = &mask[(r0 + r) * p..(r0 + r + 1) * p];
                    let frow = &mut fgc[r * outs..(r + 1) * outs];
                    let ar = &a[r * m_now..(r + 1) * m_now];
                    for ((&o, &i), &ak) in gates.outs.iter().zip(&gates.pats).zip(ar) {
                        frow[o] += mrow[i] * ak;
                    }
                    ff += frow
                        .iter()
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum::<f64>();
                }
            }
            if let Some(next) = self.next {
                self.weights(next, r0, fgc, &mut w[..rc * self.width]);
                rank_update(xc, d, &w[..rc * self.width], self.width, &mut sums);
            }
        }
        Partial { sums, ff }
    }

    /// The rank update's weights for the chunk from row r0: M_k .* yhat_k for the next block's
    /// columns k, then (with a stepped block) M_k .* (F g)_k.
    #[inline(always)]
    fn weights(&self, next: &Gates, r0: usize, fgc: &[f32], w: &mut [f32]) {
        let Pass {
            mask,
            p,
            outs,
            yhat,
            ..
        } = *self.pass;
        let m = next.len();
        for (r, wrow) in w.chunks_exact_mut(self.width).enumerate() {
            let mrow = &mask[(r0 + r) * p..(r0 + r + 1) * p];
            let yrow = &yhat[(r0 + r) * outs..(r0 + r + 1) * outs];
            for (k, (&i, &o)) in next.pats.iter().zip(&next.outs).enumerate() {
                let mk = mrow[i];
                wrow[k] = mk * yrow[o];
                if self.now.is_some() {
                    wrow[m + k] = mk * fgc[r * outs + o];
                }
            }
        }
    }
}

/// out[r m + k] = row r of `x` (rows of d) . column k of `g` (m x d, column by column), columns
/// taken up to four at a time so that each row is loaded once per group.
#[inline(always)]
fn dots(x: &[f32], d: usize, g: &[f32], m: usize, out: &mut [f32]) {
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(m)) {
        let mut k = 0;
        while k < m {
            let take = (m - k).min(4);
            let cols = &g[k * d..(k + take) * d];
            match take {
                4 => o[k..k + 4].copy_from_slice(&dot_n::<4>(row, cols)),
                3 => o[k..k + 3].copy_from_slice(&dot_n::<3>(row, cols)),
                2 => o[k..k + 2].copy_from_slice(&dot_n::<2>(row, cols)),
                _ => o[k] = dot_n::<1>(row, cols)[0],
            }
            k += take;
        }
    }
}

/// The dots of `row` with the N columns in `cols` (N x len), each over `LANES` partial sums.
#[inline(always)]
fn dot_n<const N: usize>(row: &[f32], cols: &[f32]) -> [f32; N] {
    let d = row.len();
    let full = d / LANES * LANES;
    let mut acc = [[0f32; LANES]; N];
    for i in (0..full).step_by(LANES) {
        let xr = &row[i..i + LANES];
        for (j, acc) in acc.iter_mut().enumerate() {
            let gc = &cols[j * d + i..j * d + i + LANES];
            for ((a, x), g) in acc.iter_mut().zip(xr).zip(gc) {
                *a = x.mul_add(*g, *a);
            }
        }
    }
    std::array::from_fn(|j| {
        let tail: f32 = (full..d).map(|i| row[i] * cols[j * d + i]).sum();
        lane_sum(&acc[j]) + tail
    })
}

/// The sum of the lanes, pairwise (as a SIMD reduction would add them).
#[inline(always)]
fn lane_sum(v: &[f32; LANES]) -> f32 {
    let mut h = *v;
    let mut len = LANES;
    while len > 1 {
        len /= 2;
        let (lo, hi) = h.split_at_mut(len);
        for (a, b) in lo.iter_mut().zip(&hi[..len]) {
            *a += b;
        }
    }
    h[0]
}

/// sums[k] += sum_r w[r, k] x[r] for the chunk's rows (x: rows of d; w: rows of `width`;
/// sums: width x d, column by column), four rows at a time so that each accumulator row is
/// loaded and stored once per four rows of X.
#[inline(always)]
fn rank_update(x: &[f32], d: usize, w: &[f32], width: usize, sums: &mut [f32]) {
    let rows = x.len() / d;
    let mut r = 0;
    while r + 4 <= rows {
        let x4 = &x[r * d..(r + 4) * d];
        let (x0, rest) = x4.split_at(d);
        let (x1, rest) = rest.split_at(d);
        let (x2, x3) = rest.split_at(d);
        for (k, s) in sums.chunks_exact_mut(d).enumerate() {
            let wk = |i: usize| w[(r + i) * width + k];
            let (w0, w1, w2, w3) = (wk(0), wk(1), wk(2), wk(3));
            for ((((s, a), b), c), e) in s.iter_mut().zip(x0).zip(x1).zip(x2).zip(x3) {
                *s = e.mul_add(w3, c.mul_add(w2, b.mul_add(w1, a.mul_add(w0, *s))));
            }
        }
        r += 4;
    }
    for r in r..rows {
        let xr = &x[r * d..(r + 1) * d];
        for (k, s) in sums.chunks_exact_mut(d).enumerate() {
            let wk = w[r * width + k];
            for (s, a) in s.iter_mut().zip(xr) {
                *s = a.mul_add(wk, *s);
            }
        }
    }
}

/// K G for a symmetric K (d x d, row-major) and the columns of G (cols x d, column by column),
/// returned column by column: one read of K, its rows split among the threads.
pub fn gram_apply(k: &[f32], d: usize, g: &[f32], cols: usize) -> Vec<f32> {
    let rows = chunk_rows(d);
    let mut by_row = vec![0f32; d * cols];
    by_row
        .par_chunks_mut(rows * cols)
        .zip(k.par_chunks(rows * d))
        .for_each(|(out, kc)| pulp::Arch::new().dispatch(|| dots(kc, d, g, cols, out)));
    let mut out = vec![0f32; d * cols];
    for (i, row) in by_row.chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[j * d + i] = v;
        }
    }
    out
}
