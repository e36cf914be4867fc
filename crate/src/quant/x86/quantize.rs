//! AVX2 quantizers (no importance matrix), each writing the reference's
//! bytes: Q8_0, Q8_K, Q4_0, Q4_1, Q5_0, Q5_1, TQ1_0, TQ2_0, and through the
//! reference's skeletons ([`reference::KQuantKernels`],
//! [`reference::Iq4Kernels`]) Q2_K, Q3_K, Q4_K, Q5_K, IQ4_NL and IQ4_XS.
//!
//! Max and compare are exact in any order, and the per-value float steps
//! are the reference's (same operands, same order, no fused multiply-add),
//! so only two things need care: `roundf` (ties away from zero, unlike the
//! SIMD round-to-nearest-even, so it is built from truncation) and C's
//! float-to-int conversion, which [`reference::f32_to_i32_x86`] pins to
//! x86's `cvttss2si` followed by keeping the low byte.

use crate::quant::layout::*;
use crate::quant::reference::{self, Iq4Kernels as _, GROUP_MAX_EPS};
use crate::quant::types::QK_K;
use core::arch::x86_64::*;

#[inline(always)]
fn f16(h: [u8; 2]) -> f32 {
    fp16_to_f32(u16::from_le_bytes(h))
}

/// `fabsf` on 8 lanes.
#[inline(always)]
unsafe fn abs(v: __m256) -> __m256 {
    _mm256_andnot_ps(_mm256_set1_ps(-0.0), v)
}

/// Largest of the 8 lanes.
#[inline(always)]
unsafe fn hmax(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    _mm_cvtss_f32(m)
}

/// `(amax, max)` as the reference scans: the largest magnitude and
/// the signed value where it first occurs.
#[inline(always)]
unsafe fn amax_and_max(x: &[f32]) -> (f32, f32) {
    let mut m = _mm256_setzero_ps();
    for c in x.chunks_exact(8) {
        m = _mm256_max_ps(m, abs(_mm256_loadu_ps(c.as_ptr())));
    }
    let amax = hmax(m);
    if amax == 0.0 {
        return (0.0, 0.0);
    }
    let target = _mm256_set1_ps(amax);
    for (k, c) in x.chunks_exact(8).enumerate() {
        let eq = _mm256_cmp_ps(abs(_mm256_loadu_ps(c.as_ptr())), target, _CMP_EQ_OQ);
        let mask = _mm256_movemask_ps(eq);
        if mask != 0 {
            return (amax, x[8 * k + mask.trailing_zeros() as usize]);
        }
    }
    (amax, 0.0)
}

/// Largest magnitude (`fold(0, MAX(a, fabsf(v)))`).
#[inline(always)]
unsafe fn amax(x: &[f32]) -> f32 {
    let mut m = _mm256_setzero_ps();
    for c in x.chunks_exact(8) {
        m = _mm256_max_ps(m, abs(_mm256_loadu_ps(c.as_ptr())));
    }
    hmax(m)
}

/// `(min, max)` as the reference scans (`v < min`, `v > max` from
/// `f32::MAX`, `-f32::MAX`). Min and max are exact in any order;
/// only the sign of a zero result depends on which zero came first,
/// so then the reference's scan decides.
#[inline(always)]
unsafe fn min_max(x: &[f32]) -> (f32, f32) {
    let mut lo = _mm256_set1_ps(f32::MAX);
    let mut hi = _mm256_set1_ps(-f32::MAX);
    for c in x.chunks_exact(8) {
        let v = _mm256_loadu_ps(c.as_ptr());
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    let min = -hmax(_mm256_sub_ps(_mm256_setzero_ps(), lo));
    let max = hmax(hi);
    if min == 0.0 || max == 0.0 {
        return reference::min_max(x);
    }
    (min, max)
}

/// `roundf` (half away from zero): truncate, then step away from
/// zero when the (exact) remainder is at least one half.
#[inline(always)]
unsafe fn roundf(p: __m256) -> __m256 {
    let t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    let frac = abs(_mm256_sub_ps(p, t));
    let away = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5), _CMP_GE_OQ);
    let one = _mm256_or_ps(_mm256_and_ps(p, _mm256_set1_ps(-0.0)), _mm256_set1_ps(1.0));
    _mm256_add_ps(t, _mm256_and_ps(away, one))
}

/// Keep the low byte of each i32 (C's narrowing), as 0..=255.
#[inline(always)]
unsafe fn low_byte(v: __m256i) -> __m256i {
    _mm256_and_si256(v, _mm256_set1_epi32(0xFF))
}

/// 16 i32 lanes holding 0..=255 to 16 bytes, in order.
#[inline(always)]
unsafe fn pack_bytes(a: __m256i, b: __m256i) -> __m128i {
    // packus interleaves 128-bit lanes: a0 b0 a1 b1; put a, b back
    // in order, then narrow again.
    let w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
    _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1))
}

#[inline(always)]
unsafe fn load(x: &[f32], k: usize) -> __m256 {
    _mm256_loadu_ps(x.as_ptr().add(8 * k))
}

/// `quantize_row_q8_0_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let d = amax(x) / 127.0;
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        let q: [__m256i; 4] = core::array::from_fn(|k| {
            low_byte(_mm256_cvttps_epi32(roundf(_mm256_mul_ps(load(x, k), id))))
        });
        let out = y.qs.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(out, pack_bytes(q[0], q[1]));
        _mm_storeu_si128(out.add(1), pack_bytes(q[2], q[3]));
    }
}

/// `quantize_row_q8_K_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let (amax, max) = amax_and_max(x);
        if amax == 0.0 {
            *y = bytemuck::Zeroable::zeroed();
            continue;
        }
        let iscale = -127.0 / max;
        let vs = _mm256_set1_ps(iscale);
        let magic = _mm256_set1_ps(12_582_912.0);
        let out = y.qs.as_mut_ptr() as *mut __m128i;
        for g in 0..QK_K / 16 {
            let q: [__m256i; 2] = core::array::from_fn(|h| {
                // nearest_int: the magic-number trick, then MIN(127, v)
                let v = _mm256_add_ps(_mm256_mul_ps(vs, load(x, 2 * g + h)), magic);
                let i = _mm256_sub_epi32(
                    _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x007f_ffff)),
                    _mm256_set1_epi32(0x0040_0000),
                );
                low_byte(_mm256_min_epi32(i, _mm256_set1_epi32(127)))
            });
            _mm_storeu_si128(out.add(g), pack_bytes(q[0], q[1]));
        }
        for (s, q) in y.bsums.chunks_exact_mut(2).zip(y.qs.chunks_exact(16)) {
            let sum: i32 = q.iter().map(|&q| q as i32).sum();
            s.copy_from_slice(&(sum as i16).to_le_bytes());
        }
        y.d = (1.0 / iscale).to_le_bytes();
    }
}

/// `quantize_row_q4_0_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (_, max) = amax_and_max(x);
        let d = max / -8.0;
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        // MIN(15, (int8_t)(x0 + 8.5f)): sign-extend the low byte,
        // clamp, and keep what survives in the u8 nibble packing.
        let q: [__m256i; 4] = core::array::from_fn(|k| {
            let v = _mm256_add_ps(_mm256_mul_ps(load(x, k), id), _mm256_set1_ps(8.5));
            let i = _mm256_cvttps_epi32(v);
            let i8v = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
            _mm256_min_epi32(i8v, _mm256_set1_epi32(15))
        });
        // qs[j] = xi(x[j]) | xi(x[j + 16]) << 4, as u8
        let b0 = _mm256_or_si256(low_byte(q[0]), low_byte(_mm256_slli_epi32(q[2], 4)));
        let b1 = _mm256_or_si256(low_byte(q[1]), low_byte(_mm256_slli_epi32(q[3], 4)));
        _mm_storeu_si128(y.qs.as_mut_ptr() as *mut __m128i, pack_bytes(b0, b1));
    }
}

/// C's `(int8_t)` of an int, then `MIN(hi, v)`, as i32 lanes.
#[inline(always)]
unsafe fn i8_min(i: __m256i, hi: i32) -> __m256i {
    let i8v = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
    _mm256_min_epi32(i8v, _mm256_set1_epi32(hi))
}

/// `qs[j] = l[j] | l[j + 16] << 4` (as u8) for 32 i32 quants.
#[inline(always)]
unsafe fn pack_nibbles(q: &[__m256i; 4], qs: &mut [u8; 16]) {
    let b0 = _mm256_or_si256(low_byte(q[0]), low_byte(_mm256_slli_epi32(q[2], 4)));
    let b1 = _mm256_or_si256(low_byte(q[1]), low_byte(_mm256_slli_epi32(q[3], 4)));
    _mm_storeu_si128(qs.as_mut_ptr() as *mut __m128i, pack_bytes(b0, b1));
}

/// `pack_q5` for 32 i32 quants (only their low 5 bits count): low
/// nibbles in `qs`, bit 4 of quant `j` as bit `j` of `qh`.
#[inline(always)]
unsafe fn pack_q5(q: &[__m256i; 4], qs: &mut [u8; 16], qh: &mut [u8; 4]) {
    let lo = pack_bytes(low_byte(q[0]), low_byte(q[1]));
    let hi = pack_bytes(low_byte(q[2]), low_byte(q[3]));
    let m4 = _mm_set1_epi8(0x0F);
    let nib = _mm_or_si128(
        _mm_and_si128(lo, m4),
        _mm_slli_epi16(_mm_and_si128(hi, m4), 4),
    );
    _mm_storeu_si128(qs.as_mut_ptr() as *mut __m128i, nib);
    // bit 4 of each byte to bit 7, where movemask reads it
    let bits = (_mm_movemask_epi8(_mm_slli_epi16(lo, 3)) as u32 & 0xFFFF)
        | ((_mm_movemask_epi8(_mm_slli_epi16(hi, 3)) as u32) << 16);
    *qh = bits.to_le_bytes();
}

/// `quantize_row_q4_1_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        y.m = fp32_to_fp16(min).to_le_bytes();
        let vmin = _mm256_set1_ps(min);
        // MIN(15, (int8_t)((x - min) * id + 0.5f))
        let q: [__m256i; 4] = core::array::from_fn(|k| {
            let v = _mm256_mul_ps(_mm256_sub_ps(load(x, k), vmin), id);
            i8_min(
                _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5))),
                15,
            )
        });
        pack_nibbles(&q, &mut y.qs);
    }
}

/// `quantize_row_q5_0_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q5_0(x: &[f32], y: &mut [BlockQ5_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (_, max) = amax_and_max(x);
        let d = max / -16.0;
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        // MIN(31, (int8_t)(x * id + 16.5f))
        let q: [__m256i; 4] = core::array::from_fn(|k| {
            let v = _mm256_add_ps(_mm256_mul_ps(load(x, k), id), _mm256_set1_ps(16.5));
            i8_min(_mm256_cvttps_epi32(v), 31)
        });
        pack_q5(&q, &mut y.qs, &mut y.qh);
    }
}

/// `quantize_row_q5_1_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q5_1(x: &[f32], y: &mut [BlockQ5_1]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        y.m = fp32_to_fp16(min).to_le_bytes();
        let vmin = _mm256_set1_ps(min);
        // (uint8_t)((x - min) * id + 0.5f), no clamp
        let q: [__m256i; 4] = core::array::from_fn(|k| {
            let v = _mm256_mul_ps(_mm256_sub_ps(load(x, k), vmin), id);
            _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5)))
        });
        pack_q5(&q, &mut y.qs, &mut y.qh);
    }
}

/// `lroundf(v * id) + 1` as an i32 lane, correct in its low byte
/// (all that the ternary packings keep): out of i32 range both
/// `lroundf` and `cvttps` give a multiple of 256.
#[inline(always)]
unsafe fn trit(v: __m256, id: __m256) -> __m256i {
    let i = _mm256_cvttps_epi32(roundf(_mm256_mul_ps(v, id)));
    _mm256_add_epi32(i, _mm256_set1_epi32(1))
}

/// `quantize_row_tq2_0_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_tq2_0(x: &[f32], y: &mut [BlockTq2_0]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let d = amax(x);
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        let m3 = _mm256_set1_epi32(3);
        for j in 0..2 {
            let x = &x[128 * j..];
            // qs[32j + m] = sum over n of (xi(x[m + 32n]) & 3) << 2n
            let q: [__m256i; 4] = core::array::from_fn(|k| {
                let mut q = _mm256_setzero_si256();
                for n in (0..4).rev() {
                    let t = _mm256_and_si256(trit(load(x, 4 * n + k), id), m3);
                    q = _mm256_or_si256(_mm256_slli_epi32(q, 2), t);
                }
                q
            });
            let out = y.qs.as_mut_ptr().add(32 * j) as *mut __m128i;
            _mm_storeu_si128(out, pack_bytes(q[0], q[1]));
            _mm_storeu_si128(out.add(1), pack_bytes(q[2], q[3]));
        }
    }
}

/// TQ1_0's `ceil(q * 256 / 243)` of a byte `q`, kept as C's
/// `uint8_t`: `q + (13q + 242) / 243`, the division as a multiply
/// and shift (exact for every byte; checked in the tests).
#[inline(always)]
unsafe fn tq1_ceil_div(q: __m256i) -> __m256i {
    let q = low_byte(q);
    let t = _mm256_srli_epi32(
        _mm256_add_epi32(
            _mm256_mullo_epi32(q, _mm256_set1_epi32(14027)),
            _mm256_set1_epi32(261_118),
        ),
        18,
    );
    low_byte(_mm256_add_epi32(q, t))
}

/// Base-3 digits of `n` loads (`q = q * 3 + xi`, first digit most
/// significant), mod 256 as the reference's `uint8_t`.
#[inline(always)]
unsafe fn tq1_horner(load: impl Fn(usize) -> __m256, n: usize, id: __m256) -> __m256i {
    let mut q = _mm256_setzero_si256();
    for i in 0..n {
        let v = load(i);
        let q3 = _mm256_add_epi32(q, _mm256_add_epi32(q, q));
        q = _mm256_add_epi32(q3, trit(v, id));
    }
    q
}

/// `quantize_row_tq1_0_ref`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_tq1_0(x: &[f32], y: &mut [BlockTq1_0]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let d = amax(x);
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        // qs[m], m < 32: digits x[m + 32n]; qs[32 + m], m < 16: x[160 + m + 16n]
        let at = |i: usize| _mm256_loadu_ps(x.as_ptr().add(i));
        let q: [__m256i; 6] = core::array::from_fn(|k| {
            if k < 4 {
                tq1_ceil_div(tq1_horner(|n| at(8 * k + 32 * n), 5, id))
            } else {
                tq1_ceil_div(tq1_horner(|n| at(160 + 8 * (k - 4) + 16 * n), 5, id))
            }
        });
        let out = y.qs.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(out, pack_bytes(q[0], q[1]));
        _mm_storeu_si128(out.add(1), pack_bytes(q[2], q[3]));
        _mm_storeu_si128(out.add(2), pack_bytes(q[4], q[5]));
        // qh[j], j < 4: digits x[240 + j + 4m], then one more * 3;
        // lanes 4..8 are zero and dropped.
        let h = tq1_horner(
            |m| _mm256_zextps128_ps256(_mm_loadu_ps(x.as_ptr().add(240 + 4 * m))),
            4,
            id,
        );
        let h = tq1_ceil_div(_mm256_add_epi32(h, _mm256_add_epi32(h, h)));
        let b = _mm_cvtsi128_si32(pack_bytes(h, h)) as u32;
        y.qh = b.to_le_bytes();
    }
}

/// `nearest_int` on 8 lanes (the same magic-number bits).
#[inline(always)]
unsafe fn nearest_int(v: __m256) -> __m256i {
    let v = _mm256_add_ps(v, _mm256_set1_ps(12_582_912.0));
    _mm256_sub_epi32(
        _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x007f_ffff)),
        _mm256_set1_epi32(0x0040_0000),
    )
}

#[inline(always)]
unsafe fn clamp_i32(v: __m256i, lo: i32, hi: i32) -> __m256i {
    _mm256_min_epi32(
        _mm256_max_epi32(v, _mm256_set1_epi32(lo)),
        _mm256_set1_epi32(hi),
    )
}

#[inline(always)]
unsafe fn lanes(v: __m256) -> [f32; 8] {
    core::mem::transmute(v)
}

/// 16 i32 lanes (each in -128..=127) to 16 bytes, in order.
#[inline(always)]
unsafe fn pack_i8(a: __m256i, b: __m256i) -> __m128i {
    let w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1))
}

/// `make_qkx2_quants` (same arguments and results). The `nstep + 1`
/// candidate scales go 8 to a vector; a candidate that wins moves
/// `min` (and so every later candidate's `iscale` and quants, as in
/// ggml), so the lanes after it are evaluated again.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l_out: &mut [u8],
    _laux: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    const N: usize = 32;
    let n = x.len();
    if n > N || !n.is_multiple_of(8) {
        return reference::make_qkx2_quants(
            nmax, x, weights, l_out, _laux, rmin, rdelta, nstep, use_mad,
        );
    }
    let weights = &weights[..n];
    let l_out = &mut l_out[..n];
    let (mut min, max, sum_w, sum_x) = reference::weighted_range(x, weights);
    if max == min {
        l_out.fill(0);
        return (0.0, -min);
    }
    let err = |d: __m256| {
        if use_mad {
            abs(d)
        } else {
            _mm256_mul_ps(d, d)
        }
    };
    // The first guess, with the values in lanes; the error terms
    // are then added up in order.
    let iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut terms = [0f32; N];
    for k in 0..n / 8 {
        let xv = load(x, k);
        let l = nearest_int(_mm256_mul_ps(
            _mm256_set1_ps(iscale),
            _mm256_sub_ps(xv, _mm256_set1_ps(min)),
        ));
        let l = clamp_i32(l, 0, nmax);
        let mut b = [0i32; 8];
        _mm256_storeu_si256(b.as_mut_ptr() as *mut __m256i, l);
        for (o, &q) in l_out[8 * k..8 * k + 8].iter_mut().zip(&b) {
            *o = q as u8;
        }
        let diff = _mm256_sub_ps(
            _mm256_add_ps(
                _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(l)),
                _mm256_set1_ps(min),
            ),
            xv,
        );
        let t = _mm256_mul_ps(_mm256_loadu_ps(weights.as_ptr().add(8 * k)), err(diff));
        _mm256_storeu_ps(terms.as_mut_ptr().add(8 * k), t);
    }
    let mut best_error = 0f32;
    for &t in &terms[..n] {
        best_error += t;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    let mut lf = [_mm256_setzero_ps(); N];
    let mut is0 = 0i32;
    'chunks: while is0 <= nstep {
        let isv = _mm256_cvtepi32_ps(_mm256_add_epi32(
            _mm256_set1_epi32(is0),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        ));
        // (rmin + rdelta * is + nmax) / (max - min)
        let iscale = _mm256_div_ps(
            _mm256_add_ps(
                _mm256_add_ps(
                    _mm256_set1_ps(rmin),
                    _mm256_mul_ps(_mm256_set1_ps(rdelta), isv),
                ),
                _mm256_set1_ps(nmax as f32),
            ),
            _mm256_set1_ps(max - min),
        );
        let (mut sum_l, mut sum_l2, mut sum_xl) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        for i in 0..n {
            let xm = _mm256_set1_ps(x[i] - min);
            let l = clamp_i32(nearest_int(_mm256_mul_ps(iscale, xm)), 0, nmax);
            let lv = _mm256_cvtepi32_ps(l);
            lf[i] = lv;
            let wl = _mm256_mul_ps(_mm256_set1_ps(weights[i]), lv);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, lv));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, _mm256_set1_ps(x[i])));
        }
        let (sw, sx) = (_mm256_set1_ps(sum_w), _mm256_set1_ps(sum_x));
        let dd = _mm256_sub_ps(_mm256_mul_ps(sw, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        let mut this_scale = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sw, sum_xl), _mm256_mul_ps(sx, sum_l)),
            dd,
        );
        let mut this_min = _mm256_div_ps(
            _mm256_sub_ps(_mm256_mul_ps(sum_l2, sx), _mm256_mul_ps(sum_l, sum_xl)),
            dd,
        );
        let pos = _mm256_cmp_ps(this_min, _mm256_setzero_ps(), _CMP_GT_OQ);
        this_min = _mm256_andnot_ps(pos, this_min);
        this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), pos);
        let mut cur = _mm256_setzero_ps();
        for i in 0..n {
            let diff = _mm256_sub_ps(
                _mm256_add_ps(_mm256_mul_ps(this_scale, lf[i]), this_min),
                _mm256_set1_ps(x[i]),
            );
            cur = _mm256_add_ps(cur, _mm256_mul_ps(_mm256_set1_ps(weights[i]), err(diff)));
        }
        let (dd, cur) = (lanes(dd), lanes(cur));
        let (ts, tm) = (lanes(this_scale), lanes(this_min));
        let count = ((nstep - is0 + 1) as usize).min(8);
        for k in 0..count {
            if dd[k] > 0.0 && cur[k] < best_error {
                for (o, v) in l_out.iter_mut().zip(&lf[..n]) {
                    *o = lanes(*v)[k] as u8;
                }
                best_error = cur[k];
                scale = ts[k];
                min = tm[k];
                is0 += k as i32 + 1;
                continue 'chunks;
            }
        }
        is0 += 8;
    }
    (scale, -min)
}

/// `finish_q2_k`: requantize with the values in lanes, then pack.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn finish_q2_k(x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
    let (dd, dmin) = (f16(y.d), f16(y.dmin));
    let x = &x[..QK_K];
    for j in 0..QK_K / 16 {
        let d = dd * (y.scales[j] & 0xF) as f32;
        if d == 0.0 {
            continue;
        }
        let dm = _mm256_set1_ps(dmin * (y.scales[j] >> 4) as f32);
        let d = _mm256_set1_ps(d);
        // nearest_int((x + dm) / d), clamped to 0..=3
        let q: [__m256i; 2] = core::array::from_fn(|h| {
            let v = _mm256_div_ps(_mm256_add_ps(load(x, 2 * j + h), dm), d);
            clamp_i32(nearest_int(v), 0, 3)
        });
        _mm_storeu_si128(
            l.as_mut_ptr().add(16 * j) as *mut __m128i,
            pack_i8(q[0], q[1]),
        );
    }
    pack_2bit(l, &mut y.qs);
}

/// Q2_K/Q3_K's packing of 256 quants (0..=3) four to a byte, 32
/// apart.
#[inline(always)]
unsafe fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8; 64]) {
    let lp = l.as_ptr() as *const __m256i;
    for h in 0..2 {
        let v = |o: usize| _mm256_loadu_si256(lp.add(4 * h + o));
        // values are at most 3, so 16-bit shifts stay inside bytes
        let b = _mm256_or_si256(
            _mm256_or_si256(v(0), _mm256_slli_epi16(v(1), 2)),
            _mm256_or_si256(_mm256_slli_epi16(v(2), 4), _mm256_slli_epi16(v(3), 6)),
        );
        _mm256_storeu_si256(qs.as_mut_ptr().add(32 * h) as *mut __m256i, b);
    }
}

/// `make_q3_quants` (16 values, `do_rmse`). The rounds of moving
/// single quants are sequential: each move changes the sums the
/// next value is judged by. So all 16 proposals are computed in
/// lanes with the current sums, exactly as the reference would for
/// each value while no earlier one moved; the first value that
/// proposes a change is then judged in scalar, and after a move the
/// proposals of the later values are computed again.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    if x.len() != 16 {
        return reference::make_q3_quants(nmax, x, l_out);
    }
    let l_out = &mut l_out[..16];
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let xv = [load(x, 0), load(x, 1)];
    // w * x[i] (w = x * x) as the reference forms it, per value
    let wx = xv.map(|v| _mm256_mul_ps(_mm256_mul_ps(v, v), v));
    let iscale = _mm256_set1_ps(-(nmax as f32) / max);
    let mut li = [_mm256_setzero_si256(); 2];
    let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
    for h in 0..2 {
        li[h] = clamp_i32(nearest_int(_mm256_mul_ps(iscale, xv[h])), -nmax, nmax - 1);
        let lf = _mm256_cvtepi32_ps(li[h]);
        let w = _mm256_mul_ps(xv[h], xv[h]);
        _mm256_storeu_ps(a.as_mut_ptr().add(8 * h), _mm256_mul_ps(wx[h], lf));
        _mm256_storeu_ps(
            b.as_mut_ptr().add(8 * h),
            _mm256_mul_ps(_mm256_mul_ps(w, lf), lf),
        );
    }
    let mut sumlx = 0f32;
    let mut suml2 = 0f32;
    for i in 0..16 {
        sumlx += a[i];
        suml2 += b[i];
    }
    let mut l = [0i32; 16];
    _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, li[0]);
    _mm256_storeu_si256(l.as_mut_ptr().add(8) as *mut __m256i, li[1]);
    for _itry in 0..5 {
        let mut n_changed = 0;
        let mut from = 0usize;
        'scan: loop {
            let (mut slx_a, mut sl2_a, mut new_a) = ([0f32; 16], [0f32; 16], [0i32; 16]);
            let mut want = 0u32;
            for h in 0..2 {
                let cur = _mm256_loadu_si256(l.as_ptr().add(8 * h) as *const __m256i);
                let lf = _mm256_cvtepi32_ps(cur);
                let w = _mm256_mul_ps(xv[h], xv[h]);
                // sumlx - w * x * l, suml2 - w * l * l
                let slx = _mm256_sub_ps(_mm256_set1_ps(sumlx), _mm256_mul_ps(wx[h], lf));
                let sl2 = _mm256_sub_ps(
                    _mm256_set1_ps(suml2),
                    _mm256_mul_ps(_mm256_mul_ps(w, lf), lf),
                );
                let new_l = clamp_i32(
                    nearest_int(_mm256_div_ps(_mm256_mul_ps(xv[h], sl2), slx)),
                    -nmax,
                    nmax - 1,
                );
                let moves = _mm256_andnot_ps(
                    _mm256_castsi256_ps(_mm256_cmpeq_epi32(new_l, cur)),
                    _mm256_cmp_ps(slx, _mm256_setzero_ps(), _CMP_GT_OQ),
                );
                want |= (_mm256_movemask_ps(moves) as u32) << (8 * h);
                _mm256_storeu_ps(slx_a.as_mut_ptr().add(8 * h), slx);
                _mm256_storeu_ps(sl2_a.as_mut_ptr().add(8 * h), sl2);
                _mm256_storeu_si256(new_a.as_mut_ptr().add(8 * h) as *mut __m256i, new_l);
            }
            want &= !0u32 << from;
            while want != 0 {
                let i = want.trailing_zeros() as usize;
                want &= want - 1;
                let w = x[i] * x[i];
                let new_l = new_a[i];
                let slx = slx_a[i] + w * x[i] * new_l as f32;
                let sl2 = sl2_a[i] + w * new_l as f32 * new_l as f32;
                if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                    l[i] = new_l;
                    sumlx = slx;
                    suml2 = sl2;
                    n_changed += 1;
                    from = i + 1;
                    if from < 16 {
                        continue 'scan;
                    }
                }
            }
            break;
        }
        if n_changed == 0 {
            break;
        }
    }
    for (o, &v) in l_out.iter_mut().zip(&l) {
        *o = (v + nmax) as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// `finish_q3_k`: requantize with the values in lanes, then split
/// off the high bits and pack, 32 quants at a time.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn finish_q3_k(x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
    let dd = f16(y.d);
    let x = &x[..QK_K];
    for j in 0..QK_K / 16 {
        let sc = if j < 8 {
            y.scales[j] & 0xF
        } else {
            y.scales[j - 8] >> 4
        } as i32;
        let sc = (sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i32) - 32;
        let d = dd * sc as i8 as f32;
        if d == 0.0 {
            continue;
        }
        let d = _mm256_set1_ps(d);
        let q: [__m256i; 2] = core::array::from_fn(|h| {
            let q = clamp_i32(nearest_int(_mm256_div_ps(load(x, 2 * j + h), d)), -4, 3);
            _mm256_add_epi32(q, _mm256_set1_epi32(4))
        });
        _mm_storeu_si128(
            l.as_mut_ptr().add(16 * j) as *mut __m128i,
            pack_i8(q[0], q[1]),
        );
    }
    // quants are 0..=7: bit 2 goes to hmask (bit k of byte m for
    // quant 32k + m), the low two bits are packed
    let lp = l.as_ptr() as *const __m256i;
    let mut hm = _mm256_setzero_si256();
    let mut low = [0u8; QK_K];
    for k in 0..8 {
        let v = _mm256_loadu_si256(lp.add(k));
        let high = _mm256_cmpgt_epi8(v, _mm256_set1_epi8(3));
        hm = _mm256_or_si256(
            hm,
            _mm256_and_si256(high, _mm256_set1_epi8((1u8 << k) as i8)),
        );
        _mm256_storeu_si256(
            low.as_mut_ptr().add(32 * k) as *mut __m256i,
            _mm256_and_si256(v, _mm256_set1_epi8(3)),
        );
    }
    _mm256_storeu_si256(y.hmask.as_mut_ptr() as *mut __m256i, hm);
    pack_2bit(&low, &mut y.qs);
}

/// IQ4_NL's 16 values as floats, in two vectors.
struct Iq4Table {
    lo: __m256,
    hi: __m256,
    v: [__m256; 16],
}

impl Iq4Table {
    #[inline(always)]
    unsafe fn new(values: &[i8; 16]) -> Self {
        let mut f = [0f32; 16];
        let mut v = [_mm256_setzero_ps(); 16];
        for k in 0..16 {
            f[k] = values[k] as f32;
            v[k] = _mm256_set1_ps(f[k]);
        }
        Iq4Table {
            lo: _mm256_loadu_ps(f.as_ptr()),
            hi: _mm256_loadu_ps(f.as_ptr().add(8)),
            v,
        }
    }

    /// `values[i]` per lane, `i` in 0..16.
    #[inline(always)]
    unsafe fn get(&self, i: __m256i) -> __m256 {
        let upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(i, _mm256_set1_epi32(7)));
        _mm256_blendv_ps(
            _mm256_permutevar8x32_ps(self.lo, i),
            _mm256_permutevar8x32_ps(self.hi, i),
            upper,
        )
    }

    /// `best_index_int8` per lane, and the value it picks. The
    /// binary search ends at `mu` = one past the entries it found
    /// `<=` x; as a count that is `1 + #{k in 1..15: !(x <
    /// values[k])}`, which also gives the search's answers for the
    /// early returns (x at or beyond either end) and for NaN (15).
    #[inline(always)]
    unsafe fn best_index(&self, x: __m256) -> (__m256i, __m256) {
        let mut mu = _mm256_set1_epi32(1);
        for k in 1..15 {
            let ge = _mm256_cmp_ps(x, self.v[k], _CMP_NLT_UQ);
            mu = _mm256_sub_epi32(mu, _mm256_castps_si256(ge));
        }
        let below = self.get(_mm256_sub_epi32(mu, _mm256_set1_epi32(1)));
        let above = self.get(mu);
        // x - values[mu - 1] < values[mu] - x: the lower one
        let lower = _mm256_cmp_ps(_mm256_sub_ps(x, below), _mm256_sub_ps(above, x), _CMP_LT_OQ);
        (
            _mm256_add_epi32(mu, _mm256_castps_si256(lower)),
            _mm256_blendv_ps(above, below, lower),
        )
    }
}

/// The IQ4 kernels; the scale search runs the first pass and the 15
/// tries (ntry = 7, the only value ggml uses) as 16 lanes.
pub(crate) struct Iq4Avx2;

impl reference::Iq4Kernels for Iq4Avx2 {
    #[inline(always)]
    fn scale(
        &self,
        xb: &[f32],
        weight: &[f32; 32],
        lb: &mut [u8],
        values: &[i8; 16],
        max: f32,
        ntry: i32,
    ) -> f32 {
        // SAFETY: Iq4Avx2 is only used where AVX2 was detected.
        unsafe { iq4_scale(xb, weight, lb, values, max, ntry) }
    }

    #[inline(always)]
    fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
        // SAFETY: as above.
        unsafe { iq4_indices(values, id, xs, out) }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn iq4_scale(
    xb: &[f32],
    weight: &[f32; 32],
    lb: &mut [u8],
    values: &[i8; 16],
    max: f32,
    ntry: i32,
) -> f32 {
    use reference::Iq4Scalar;
    if ntry != 7 {
        return Iq4Scalar.scale(xb, weight, lb, values, max, ntry);
    }
    let xb = &xb[..32];
    let lb = &mut lb[..32];
    let t = Iq4Table::new(values);
    // lane 0: id = 1 / d, d = -max / values[0]; lane 1 + k: try
    // itry = k - 7, id = (itry + values[0]) / max
    let d0 = -max / values[0] as f32;
    let tries = _mm256_cvtepi32_ps(_mm256_add_epi32(
        _mm256_setr_epi32(-8, -7, -6, -5, -4, -3, -2, -1),
        _mm256_set1_epi32(values[0] as i32),
    ));
    let mut id = [
        _mm256_div_ps(tries, _mm256_set1_ps(max)),
        _mm256_div_ps(
            _mm256_cvtepi32_ps(_mm256_add_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32(values[0] as i32),
            )),
            _mm256_set1_ps(max),
        ),
    ];
    id[0] = _mm256_blend_ps(id[0], _mm256_set1_ps(1.0 / d0), 1);
    let mut sumqx = [_mm256_setzero_ps(); 2];
    let mut sumq2 = [_mm256_setzero_ps(); 2];
    for j in 0..32 {
        let xj = _mm256_set1_ps(xb[j]);
        let w = _mm256_set1_ps(weight[j]);
        for h in 0..2 {
            let (li, q) = t.best_index(_mm256_mul_ps(id[h], xj));
            if h == 0 {
                lb[j] = _mm256_cvtsi256_si32(li) as u8;
            }
            let wq = _mm256_mul_ps(w, q);
            sumqx[h] = _mm256_add_ps(sumqx[h], _mm256_mul_ps(wq, xj));
            sumq2[h] = _mm256_add_ps(sumq2[h], _mm256_mul_ps(wq, q));
        }
    }
    let (sx0, sx1) = (lanes(sumqx[0]), lanes(sumqx[1]));
    let (s20, s21) = (lanes(sumq2[0]), lanes(sumq2[1]));
    let sx: [f32; 16] = core::array::from_fn(|k| if k < 8 { sx0[k] } else { sx1[k - 8] });
    let s2: [f32; 16] = core::array::from_fn(|k| if k < 8 { s20[k] } else { s21[k - 8] });
    let mut d = if s2[0] > 0.0 { sx[0] / s2[0] } else { 0.0 };
    let mut best = d * sx[0];
    for k in 1..16 {
        if s2[k] > 0.0 && sx[k] * sx[k] > best * s2[k] {
            d = sx[k] / s2[k];
            best = d * sx[k];
        }
    }
    d
}

#[target_feature(enable = "avx2")]
unsafe fn iq4_indices(values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
    let t = Iq4Table::new(values);
    let n = xs.len().min(out.len());
    let idv = _mm256_set1_ps(id);
    let mut i = 0;
    while i + 16 <= n {
        let a = t
            .best_index(_mm256_mul_ps(idv, _mm256_loadu_ps(xs.as_ptr().add(i))))
            .0;
        let b = t
            .best_index(_mm256_mul_ps(idv, _mm256_loadu_ps(xs.as_ptr().add(i + 8))))
            .0;
        _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, pack_i8(a, b));
        i += 16;
    }
    reference::Iq4Scalar.indices(values, id, &xs[i..n], &mut out[i..n]);
}

/// The k-quant kernels AVX2 has; the rest are the reference's.
pub(crate) struct KAvx2;

impl reference::KQuantKernels for KAvx2 {
    #[inline(always)]
    fn make_qkx2_quants(
        &self,
        nmax: i32,
        x: &[f32],
        weights: &[f32],
        l: &mut [u8],
        laux: &mut [u8],
        rmin: f32,
        rdelta: f32,
        nstep: i32,
        use_mad: bool,
    ) -> (f32, f32) {
        // SAFETY: KAvx2 is only used where AVX2 was detected.
        unsafe { make_qkx2_quants(nmax, x, weights, l, laux, rmin, rdelta, nstep, use_mad) }
    }

    #[inline(always)]
    fn make_q3_quants(&self, nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
        // SAFETY: as above.
        unsafe { make_q3_quants(nmax, x, l) }
    }

    #[inline(always)]
    fn make_qx_quants(&self, nmax: i32, x: &[f32], l: &mut [i8], qw: Option<&[f32]>) -> f32 {
        // Portable lanes, vectorized with AVX2 where this is inlined.
        crate::quant::lanes::make_qx_quants(nmax, x, l, qw)
    }

    #[inline(always)]
    fn finish_q2_k(&self, x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
        // SAFETY: as above.
        unsafe { finish_q2_k(x, y, l) }
    }

    #[inline(always)]
    fn finish_q3_k(&self, x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
        // SAFETY: as above.
        unsafe { finish_q3_k(x, y, l) }
    }
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q2_k(x: &[f32], y: &mut [BlockQ2K]) {
    reference::quantize_row_q2_k_with(x, y, &KAvx2);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q3_k(x: &[f32], y: &mut [BlockQ3K]) {
    reference::quantize_row_q3_k_with(x, y, &KAvx2);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q4_k(x: &[f32], y: &mut [BlockQ4K]) {
    reference::quantize_row_q4_k_with(x, y, &KAvx2);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q5_k(x: &[f32], y: &mut [BlockQ5K]) {
    reference::quantize_row_q5_k_with(x, y, &KAvx2);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_row_q6_k(x: &[f32], y: &mut [BlockQ6K]) {
    reference::quantize_row_q6_k_with(x, y, None, &KAvx2);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_iq4_nl(x: &[f32], y: &mut [BlockIq4Nl]) {
    reference::quantize_iq4_nl_with(x, y, None, &Iq4Avx2);
}

#[target_feature(enable = "avx2")]
pub(crate) unsafe fn quantize_iq4_xs(x: &[f32], y: &mut [BlockIq4Xs]) {
    reference::quantize_iq4_xs_with(x, y, None, &Iq4Avx2);
}
