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
//! The micro-kernels (`dots`, `rank_update`) use AVX2 and FMA intrinsics where the CPU has
//! them (checked at run time; plain loops elsewhere), the rank update register-blocked so
//! that the chunk's X is read from cache once per six accumulated columns.

use rayon::prelude::*;

/// Bytes of X one chunk of rows takes. A chunk is read from memory for its dots and read
/// again for the rank update: it must stay in a core's L2 (512 KiB on the development
/// machine's EPYC) beside the accumulators (2m' x d floats). 128 KiB measured the same at
/// Table 1 size (BENCHMARKS.md).
const CHUNK_BYTES: usize = 256 << 10;

/// Rows of one chunk for rows of `d` floats (at least 4, a multiple of 4).
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
                job.run(x_part, fg_part)
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

/// out[r m + k] = row r of `x` (rows of d) . column k of `g` (m x d, column by column).
#[inline(always)]
fn dots(x: &[f32], d: usize, g: &[f32], m: usize, out: &mut [f32]) {
    assert!(x.len() / d * m <= out.len() && g.len() >= m * d);
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked); the sizes are checked above.
        return unsafe { avx2::dots(x, d, g, m, out) };
    }
    portable::dots(x, d, g, m, out);
}

/// sums[k] += sum_r w[r, k] x[r] for the chunk's rows (x: rows of d; w: rows of `width`;
/// sums: width x d, column by column).
#[inline(always)]
fn rank_update(x: &[f32], d: usize, w: &[f32], width: usize, sums: &mut [f32]) {
    assert!(w.len() >= x.len() / d * width && sums.len() >= width * d);
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked); the sizes are checked above.
        return unsafe { avx2::rank_update(x, d, w, width, sums) };
    }
    portable::rank_update(x, d, w, width, sums);
}

/// The micro-kernels with AVX2 and FMA intrinsics (x86-64 CPUs that have them, checked at run
/// time). The first version of this kernel wrote them as plain loops with `f32::mul_add`
/// inside `pulp::Arch::dispatch`; the closure was not compiled with the target features, so
/// every `mul_add` became a call to libm's `fmaf`, one float at a time (70% of the fused
/// step's time in `perf`, and the step 15x the tensor step at the regression size).
#[cfg(target_arch = "x86_64")]
// The loops index registers and raw pointers by the same column or row number.
#[allow(clippy::needless_range_loop)]
mod avx2 {
    use std::arch::x86_64::*;

    /// Whether the CPU has AVX2 and FMA (std caches the answer).
    #[inline(always)]
    pub fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// The sum of the eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    /// See `super::dots`. Safety: x.len() / d rows, out holds m per row, g holds m x d.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dots(x: &[f32], d: usize, g: &[f32], m: usize, out: &mut [f32]) {
        for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(m)) {
            let mut k = 0;
            while k < m {
                let take = (m - k).min(4);
                let (cols, o) = (g.as_ptr().add(k * d), &mut o[k..k + take]);
                match take {
                    4 => dot_n::<4>(row, cols, o),
                    3 => dot_n::<3>(row, cols, o),
                    2 => dot_n::<2>(row, cols, o),
                    _ => dot_n::<1>(row, cols, o),
                }
                k += take;
            }
        }
    }

    /// out[j] = row . column j of `cols` (N columns of row.len() floats, one after another),
    /// 16 floats a step in two accumulators per column.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_n<const N: usize>(row: &[f32], cols: *const f32, out: &mut [f32]) {
        let d = row.len();
        let xp = row.as_ptr();
        let mut lo = [_mm256_setzero_ps(); N];
        let mut hi = [_mm256_setzero_ps(); N];
        let mut i = 0;
        while i + 16 <= d {
            let (x0, x1) = (_mm256_loadu_ps(xp.add(i)), _mm256_loadu_ps(xp.add(i + 8)));
            for j in 0..N {
                let gp = cols.add(j * d + i);
                lo[j] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(gp), lo[j]);
                hi[j] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(gp.add(8)), hi[j]);
            }
            i += 16;
        }
        if i + 8 <= d {
            let x0 = _mm256_loadu_ps(xp.add(i));
            for j in 0..N {
                lo[j] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(cols.add(j * d + i)), lo[j]);
            }
            i += 8;
        }
        for j in 0..N {
            let mut s = hsum(_mm256_add_ps(lo[j], hi[j]));
            for t in i..d {
                s = row[t].mul_add(*cols.add(j * d + t), s);
            }
            out[j] = s;
        }
    }

    /// See `super::rank_update`: the columns of `sums` taken up to six at a time; for each
    /// strip of 16 floats of d, the six accumulators stay in registers over all the chunk's
    /// rows, so a chunk's X is read once from cache per six columns and each sum is loaded and
    /// stored once per chunk. Safety: as `super::rank_update` checks.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rank_update(x: &[f32], d: usize, w: &[f32], width: usize, sums: &mut [f32]) {
        let rows = x.len() / d;
        let (xp, wp, sp) = (x.as_ptr(), w.as_ptr(), sums.as_mut_ptr());
        let mut k0 = 0;
        while k0 < width {
            let take = (width - k0).min(6);
            let (wk, sk) = (wp.add(k0), sp.add(k0 * d));
            match take {
                6 => update_n::<6>(xp, d, rows, wk, width, sk),
                5 => update_n::<5>(xp, d, rows, wk, width, sk),
                4 => update_n::<4>(xp, d, rows, wk, width, sk),
                3 => update_n::<3>(xp, d, rows, wk, width, sk),
                2 => update_n::<2>(xp, d, rows, wk, width, sk),
                _ => update_n::<1>(xp, d, rows, wk, width, sk),
            }
            k0 += take;
        }
    }

    /// N columns of the rank update: sums[k] (at s + k d) += sum_r w[r width + k] x[r].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn update_n<const N: usize>(
        x: *const f32,
        d: usize,
        rows: usize,
        w: *const f32,
        width: usize,
        s: *mut f32,
    ) {
        let mut i = 0;
        while i + 16 <= d {
            let (mut lo, mut hi) = ([_mm256_setzero_ps(); N], [_mm256_setzero_ps(); N]);
            for k in 0..N {
                lo[k] = _mm256_loadu_ps(s.add(k * d + i));
                hi[k] = _mm256_loadu_ps(s.add(k * d + i + 8));
            }
            for r in 0..rows {
                let xr = x.add(r * d + i);
                let (x0, x1) = (_mm256_loadu_ps(xr), _mm256_loadu_ps(xr.add(8)));
                for k in 0..N {
                    let wb = _mm256_broadcast_ss(&*w.add(r * width + k));
                    lo[k] = _mm256_fmadd_ps(x0, wb, lo[k]);
                    hi[k] = _mm256_fmadd_ps(x1, wb, hi[k]);
                }
            }
            for k in 0..N {
                _mm256_storeu_ps(s.add(k * d + i), lo[k]);
                _mm256_storeu_ps(s.add(k * d + i + 8), hi[k]);
            }
            i += 16;
        }
        if i + 8 <= d {
            let mut lo = [_mm256_setzero_ps(); N];
            for k in 0..N {
                lo[k] = _mm256_loadu_ps(s.add(k * d + i));
            }
            for r in 0..rows {
                let x0 = _mm256_loadu_ps(x.add(r * d + i));
                for k in 0..N {
                    let wb = _mm256_broadcast_ss(&*w.add(r * width + k));
                    lo[k] = _mm256_fmadd_ps(x0, wb, lo[k]);
                }
            }
            for k in 0..N {
                _mm256_storeu_ps(s.add(k * d + i), lo[k]);
            }
            i += 8;
        }
        for t in i..d {
            for k in 0..N {
                let mut acc = *s.add(k * d + t);
                for r in 0..rows {
                    acc = (*x.add(r * d + t)).mul_add(*w.add(r * width + k), acc);
                }
                *s.add(k * d + t) = acc;
            }
        }
    }
}

/// The micro-kernels as plain loops, for CPUs without AVX2 and FMA (plain multiply and add:
/// `f32::mul_add` would be a libm call on such a CPU).
mod portable {
    /// See `super::dots`.
    pub fn dots(x: &[f32], d: usize, g: &[f32], m: usize, out: &mut [f32]) {
        for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(m)) {
            for (k, o) in o.iter_mut().enumerate() {
                *o = row
                    .iter()
                    .zip(&g[k * d..(k + 1) * d])
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
    }

    /// See `super::rank_update`.
    pub fn rank_update(x: &[f32], d: usize, w: &[f32], width: usize, sums: &mut [f32]) {
        for (r, xr) in x.chunks_exact(d).enumerate() {
            for (k, s) in sums.chunks_exact_mut(d).take(width).enumerate() {
                let wk = w[r * width + k];
                for (s, a) in s.iter_mut().zip(xr) {
                    *s += a * wk;
                }
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
        .for_each(|(out, kc)| dots(kc, d, g, cols, out));
    let mut out = vec![0f32; d * cols];
    for (i, row) in by_row.chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[j * d + i] = v;
        }
    }
    out
}
