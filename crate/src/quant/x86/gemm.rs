//! Tiled batched matmul for prompts (x86_64 AVX2): several weight rows times
//! several tokens per step, in the spirit of llamafile's tinyBLAS.
//!
//! Weights (a panel of rows at a time) and the quantized activations are
//! first unpacked to i16 "effective quants" (`q - 8` for Q4_0, `q * sc` for
//! the k-quants, ...) with one f32 scale per block, so the inner loop is
//! the same for every type: `madd` the i16 values into exact i32 lane sums
//! per block, then `acc += f32(sum) * (dw * da)` with one FMA per block,
//! eight f32 lanes per (row, token), summed across lanes at the end. Mins
//! (Q4_K, Q5_K) are one more `madd` against Q8_K's `bsums`.
//!
//! Not bit-identical to [`crate::quant::reference`]: the reference adds block
//! terms one by one in f32 (k-quants: per `k mod 8` lane), this kernel
//! adds them per lane with FMA and sums the lanes last. The integer sums
//! are exact in both, so the difference is float summation order only; the
//! tests hold it to the same bound the reference meets against the exact
//! product of the dequantized values (`(n/32 + 8)·2^-23·Σ|a|(|w| + |m|)`,
//! see `tests::dot_bound`): each lane adds at most `n/32` block terms, each
//! term rounded once (`dw*da`) and once in the FMA, plus 3 lane additions.

use crate::quant::layout::*;
use crate::quant::types::GgmlType;
use core::arch::x86_64::*;

/// Rows of i16 effective quants with per-block scales (and, for the
/// k-quants with mins, 16 i16 mins per block, one per 16 values, and the
/// per-block min scale).
#[derive(Default)]
struct Panel {
    vals: Vec<i16>,
    d: Vec<f32>,
    mins: Vec<i16>,
    dmin: Vec<f32>,
}

impl Panel {
    fn clear(&mut self) {
        self.vals.clear();
        self.d.clear();
        self.mins.clear();
        self.dmin.clear();
    }

    /// Append one packed weight row of type `ty`.
    fn push_weights(&mut self, ty: GgmlType, row: &[u8]) {
        use GgmlType::*;
        match ty {
            Q4_0 => {
                for b in as_blocks::<BlockQ4_0>(row) {
                    self.d.push(f16_le(b.d));
                    let lo = b.qs.map(|q| (q & 15) as i16 - 8);
                    let hi = b.qs.map(|q| (q >> 4) as i16 - 8);
                    self.vals.extend_from_slice(&lo);
                    self.vals.extend_from_slice(&hi);
                }
            }
            Q5_0 => {
                for b in as_blocks::<BlockQ5_0>(row) {
                    self.d.push(f16_le(b.d));
                    let qh = u32::from_le_bytes(b.qh);
                    let v = |j: usize, q: u8| (q | (((qh >> j) & 1) as u8) << 4) as i16 - 16;
                    let lo: [i16; 16] = core::array::from_fn(|j| v(j, b.qs[j] & 15));
                    let hi: [i16; 16] = core::array::from_fn(|j| v(j + 16, b.qs[j] >> 4));
                    self.vals.extend_from_slice(&lo);
                    self.vals.extend_from_slice(&hi);
                }
            }
            Q8_0 => {
                for b in as_blocks::<BlockQ8_0>(row) {
                    self.d.push(f16_le(b.d));
                    self.vals.extend(b.qs.iter().map(|&q| q as i16));
                }
            }
            Q4K | Q5K => {
                // (scales, qs, qh, d, dmin) of each block.
                #[allow(clippy::type_complexity)]
                let blocks: Vec<(
                    &[u8; 12],
                    &[u8; 128],
                    Option<&[u8; 32]>,
                    [u8; 2],
                    [u8; 2],
                )> = if ty == Q4K {
                    as_blocks::<BlockQ4K>(row)
                        .iter()
                        .map(|b| (&b.scales, &b.qs, None, b.d, b.dmin))
                        .collect()
                } else {
                    as_blocks::<BlockQ5K>(row)
                        .iter()
                        .map(|b| (&b.scales, &b.qs, Some(&b.qh), b.d, b.dmin))
                        .collect()
                };
                for (sc, qs, qh, d, dmin) in blocks {
                    let (scales, mins) = k4_scales_mins(sc);
                    self.d.push(f16_le(d));
                    self.dmin.push(f16_le(dmin));
                    for j in 0..4 {
                        for (h, shift) in [(0, 0), (1, 4)] {
                            let s = scales[2 * j + h] as i16;
                            for l in 0..32 {
                                let mut q = (qs[32 * j + l] >> shift) & 15;
                                if let Some(qh) = qh {
                                    q |= ((qh[l] >> (2 * j + h)) & 1) << 4;
                                }
                                self.vals.push(q as i16 * s);
                            }
                        }
                    }
                    self.mins.extend((0..16).map(|k| mins[k / 2] as i16));
                }
            }
            Q6K => {
                for b in as_blocks::<BlockQ6K>(row) {
                    self.d.push(f16_le(b.d));
                    for n in 0..2 {
                        let ql = &b.ql[64 * n..64 * n + 64];
                        let qh = &b.qh[32 * n..32 * n + 32];
                        let sc = &b.scales[8 * n..8 * n + 8];
                        let q = |l: usize, k: usize| -> i16 {
                            let lo = if k < 2 {
                                ql[l + 32 * k] & 15
                            } else {
                                ql[l + 32 * (k - 2)] >> 4
                            };
                            (lo | ((qh[l] >> (2 * k)) & 3) << 4) as i16 - 32
                        };
                        for k in 0..4 {
                            for l in 0..32 {
                                self.vals.push(q(l, k) * sc[l / 16 + 2 * k] as i16);
                            }
                        }
                    }
                }
            }
            _ => unreachable!("gemm::supports excludes {ty}"),
        }
    }

    /// Append one activation row of Q8_0 or Q8_K blocks.
    fn push_acts(&mut self, vt: GgmlType, row: &[u8]) {
        if vt == GgmlType::Q8K {
            for b in as_blocks::<BlockQ8K>(row) {
                self.d.push(b.d());
                self.vals.extend(b.qs.iter().map(|&q| q as i16));
                self.mins.extend((0..16).map(|j| b.bsum(j)));
            }
        } else {
            for b in as_blocks::<BlockQ8_0>(row) {
                self.d.push(f16_le(b.d));
                self.vals.extend(b.qs.iter().map(|&q| q as i16));
            }
        }
    }
}

/// Rows unpacked at a time: 32 rows of a 576-wide matrix are 36 KiB of i16,
/// which stay in L1/L2 while every token passes over them.
const PANEL: usize = 32;
/// Tile: weight rows × tokens per step (12 f32 accumulators).
const RM: usize = 4;
const RN: usize = 3;

/// `out[t * rows + r] = W[r] · act[t]` for `n` activation rows already
/// quantized to `vt`, the type's `vec_dot_type` (`ab` bytes each, concatenated in
/// `acts`); `weights` holds `rows` rows of `rb` bytes. The caller checked
/// lengths, and `ty` has `gemm` in its row of `quant::traits` (handed out
/// only where the CPU has AVX2 and FMA).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    ty: GgmlType,
    vt: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    rb: usize,
    acts: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    let mut a = Panel::default();
    for row in acts.chunks_exact(ab).take(n) {
        a.push_acts(vt, row);
    }
    let mut w = Panel::default();
    for r0 in (0..rows).step_by(PANEL) {
        let pr = PANEL.min(rows - r0);
        w.clear();
        for row in weights[r0 * rb..(r0 + pr) * rb].chunks_exact(rb) {
            w.push_weights(ty, row);
        }
        // SAFETY: the table hands out `gemm` only with AVX2/FMA; the panels hold `pr` and `n`
        // rows of `cols` values (and their per-block scales).
        unsafe {
            match (ty.block_size(), matches!(ty, GgmlType::Q4K | GgmlType::Q5K)) {
                (32, _) => panel::<32, false>(&w, pr, &a, n, cols, out, rows, r0),
                (_, false) => panel::<256, false>(&w, pr, &a, n, cols, out, rows, r0),
                (_, true) => panel::<256, true>(&w, pr, &a, n, cols, out, rows, r0),
            }
        }
    }
}

/// All tiles of one weight panel against all tokens.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn panel<const BS: usize, const MINS: bool>(
    w: &Panel,
    pr: usize,
    a: &Panel,
    n: usize,
    cols: usize,
    out: &mut [f32],
    rows: usize,
    r0: usize,
) {
    macro_rules! run {
        ($rm:literal, $rn:literal, $r:expr, $t:expr) => {
            tile::<$rm, $rn, BS, MINS>(w, $r, a, $t, cols, out, rows, r0)
        };
    }
    let mut r = 0;
    while r < pr {
        let rm = RM.min(pr - r);
        let mut t = 0;
        while t < n {
            let rn = RN.min(n - t);
            match (rm, rn) {
                (4, 3) => run!(4, 3, r, t),
                (4, 2) => run!(4, 2, r, t),
                (4, 1) => run!(4, 1, r, t),
                (3, 3) => run!(3, 3, r, t),
                (3, 2) => run!(3, 2, r, t),
                (3, 1) => run!(3, 1, r, t),
                (2, 3) => run!(2, 3, r, t),
                (2, 2) => run!(2, 2, r, t),
                (2, 1) => run!(2, 1, r, t),
                (1, 3) => run!(1, 3, r, t),
                (1, 2) => run!(1, 2, r, t),
                _ => run!(1, 1, r, t),
            }
            t += rn;
        }
        r += rm;
    }
}

/// Rows `r..r + RM_` of the panel against tokens `t..t + RN_`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const RM_: usize, const RN_: usize, const BS: usize, const MINS: bool>(
    w: &Panel,
    r: usize,
    a: &Panel,
    t: usize,
    cols: usize,
    out: &mut [f32],
    rows: usize,
    r0: usize,
) {
    let nb = cols / BS;
    let wv = w.vals.as_ptr().add(r * cols);
    let av = a.vals.as_ptr().add(t * cols);
    let wd = w.d.as_ptr().add(r * nb);
    let ad = a.d.as_ptr().add(t * nb);
    let mut acc = [[_mm256_setzero_ps(); RN_]; RM_];
    for b in 0..nb {
        let mut s = [[_mm256_setzero_si256(); RN_]; RM_];
        for c in 0..BS / 16 {
            let o = b * BS + 16 * c;
            let x: [__m256i; RN_] =
                core::array::from_fn(|j| _mm256_loadu_si256(av.add(j * cols + o) as *const _));
            for (i, si) in s.iter_mut().enumerate() {
                let y = _mm256_loadu_si256(wv.add(i * cols + o) as *const _);
                for (sij, &xj) in si.iter_mut().zip(&x) {
                    *sij = _mm256_add_epi32(*sij, _mm256_madd_epi16(y, xj));
                }
            }
        }
        for (i, (acc, s)) in acc.iter_mut().zip(&s).enumerate() {
            let dw = *wd.add(i * nb + b);
            for (j, (acc, &s)) in acc.iter_mut().zip(s).enumerate() {
                let scale = _mm256_set1_ps(dw * *ad.add(j * nb + b));
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, *acc);
            }
        }
        if MINS {
            for (i, acc) in acc.iter_mut().enumerate() {
                let m =
                    _mm256_loadu_si256(w.mins.as_ptr().add(((r + i) * nb + b) * 16) as *const _);
                let dmin = *w.dmin.as_ptr().add((r + i) * nb + b);
                for (j, acc) in acc.iter_mut().enumerate() {
                    let bs = _mm256_loadu_si256(
                        a.mins.as_ptr().add(((t + j) * nb + b) * 16) as *const _
                    );
                    let scale = _mm256_set1_ps(dmin * *ad.add(j * nb + b));
                    let sm = _mm256_cvtepi32_ps(_mm256_madd_epi16(m, bs));
                    *acc = _mm256_fnmadd_ps(sm, scale, *acc);
                }
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        for (j, &v) in acc.iter().enumerate() {
            out[(t + j) * rows + r0 + r + i] = hsum(v);
        }
    }
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}
