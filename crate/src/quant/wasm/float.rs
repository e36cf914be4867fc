//! simd128 prompts and evaluation for float weights (F32, F16, BF16): each
//! weight row is converted to f32 once per call and dotted with four tokens
//! at a time, the products summed in f32 lanes as ggml's SIMD float kernels
//! sum them. The reference sums in f64 ([`crate::quant::reference::float`]),
//! at several times the cost in wasm, so these outputs are not its bits:
//! each is within the bound the tests state, and depends only on its weight
//! row and input row (not on the batch, the tile or the thread's share).
//!
//! A sum whose partial sums pass f32's range is infinite here even where
//! the reference's f64 sum comes back into range (as in ggml).

use core::arch::wasm32::*;

/// A dequantizer: packed bytes in, one `f32` per weight out.
type DequantizeFn = fn(&[u8], &mut [f32]);

/// Weight rows converted at a time: a panel of 8 rows of the widest
/// SmolLM2 matrix (1536 columns) is 48 KiB, and the four inputs of a tile
/// stay in L1 across the panel's row pairs.
const PANEL: usize = 8;

#[inline(always)]
fn load4(p: &[f32]) -> v128 {
    let p = &p[..4];
    // SAFETY: `p` has 4 readable floats; wasm loads need no alignment.
    unsafe { v128_load(p.as_ptr() as *const v128) }
}

/// The one way a row's sum is finished: lane `j` of `acc` holds the
/// products of the columns `k ≡ j (mod 4)` up to the last multiple of 4,
/// added in column order; the lanes are added pairwise, then the remaining
/// columns one by one.
#[inline(always)]
fn finish(acc: v128, w: &[f32], x: &[f32], from: usize) -> f32 {
    let l = |v: v128, i: usize| match i {
        0 => f32x4_extract_lane::<0>(v),
        1 => f32x4_extract_lane::<1>(v),
        2 => f32x4_extract_lane::<2>(v),
        _ => f32x4_extract_lane::<3>(v),
    };
    let mut s = (l(acc, 0) + l(acc, 1)) + (l(acc, 2) + l(acc, 3));
    for k in from..w.len() {
        s += w[k] * x[k];
    }
    s
}

/// Two weight rows (f32, `cols` long) against four inputs: `[row][input]`.
#[inline(always)]
fn tile(w: [&[f32]; 2], x: [&[f32]; 4]) -> [[f32; 4]; 2] {
    let cols = w[0].len();
    let full = cols - cols % 4;
    let mut acc = [[f32x4_splat(0.0); 4]; 2];
    let mut k = 0;
    while k < full {
        let w0 = load4(&w[0][k..]);
        let w1 = load4(&w[1][k..]);
        for t in 0..4 {
            let xv = load4(&x[t][k..]);
            acc[0][t] = f32x4_add(acc[0][t], f32x4_mul(w0, xv));
            acc[1][t] = f32x4_add(acc[1][t], f32x4_mul(w1, xv));
        }
        k += 4;
    }
    let mut out = [[0.0; 4]; 2];
    for r in 0..2 {
        for t in 0..4 {
            out[r][t] = finish(acc[r][t], w[r], x[t], full);
        }
    }
    out
}

/// `out[t * rows + r] = W[r] · x[t]` for `rows` weight rows of `rb` bytes
/// that `dq` converts to f32, and `n` inputs of `cols` values, lengths
/// checked by the caller.
#[allow(clippy::too_many_arguments)]
fn matmul_float(
    dq: DequantizeFn,
    weights: &[u8],
    rows: usize,
    rb: usize,
    x: &[f32],
    cols: usize,
    n: usize,
    out: &mut [f32],
) {
    if rows == 0 || n == 0 || cols == 0 {
        out.fill(0.0);
        return;
    }
    let mut panel = vec![0.0f32; PANEL * cols];
    let input = |t: usize| &x[t * cols..(t + 1) * cols];
    for r0 in (0..rows).step_by(PANEL) {
        let nr = (rows - r0).min(PANEL);
        for (i, row) in panel.chunks_exact_mut(cols).take(nr).enumerate() {
            dq(&weights[(r0 + i) * rb..(r0 + i + 1) * rb], row);
        }
        let row = |i: usize| &panel[i.min(nr - 1) * cols..][..cols];
        for t0 in (0..n).step_by(4) {
            let nt = (n - t0).min(4);
            // A short last tile repeats its last input; the copies are
            // dropped.
            let xs = [0, 1, 2, 3].map(|k| input(t0 + k.min(nt - 1)));
            for i in (0..nr).step_by(2) {
                let s = tile([row(i), row(i + 1)], xs);
                for (di, s) in s.iter().enumerate().take((nr - i).min(2)) {
                    for (k, &v) in s.iter().enumerate().take(nt) {
                        out[(t0 + k) * rows + r0 + i + di] = v;
                    }
                }
            }
        }
    }
}

/// [`matmul_float`] for F32 weights.
pub(crate) fn matmul_f32(
    w: &[u8],
    rows: usize,
    rb: usize,
    x: &[f32],
    cols: usize,
    n: usize,
    out: &mut [f32],
) {
    let dq = crate::quant::reference::dequantize_row_f32;
    matmul_float(dq, w, rows, rb, x, cols, n, out)
}

/// [`matmul_float`] for F16 weights.
pub(crate) fn matmul_f16(
    w: &[u8],
    rows: usize,
    rb: usize,
    x: &[f32],
    cols: usize,
    n: usize,
    out: &mut [f32],
) {
    let dq = super::dequantize::dequantize_row_f16;
    matmul_float(dq, w, rows, rb, x, cols, n, out)
}

/// [`matmul_float`] for BF16 weights.
pub(crate) fn matmul_bf16(
    w: &[u8],
    rows: usize,
    rb: usize,
    x: &[f32],
    cols: usize,
    n: usize,
    out: &mut [f32],
) {
    let dq = super::dequantize::dequantize_row_bf16;
    matmul_float(dq, w, rows, rb, x, cols, n, out)
}
