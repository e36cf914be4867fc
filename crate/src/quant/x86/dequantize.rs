//! AVX2 dequantizers: each computes the reference's float expression per
//! element (same operands, same order, no fused multiply-add), so the
//! results are bit-identical.

use crate::quant::layout::*;
use crate::quant::reference;
use crate::quant::types::QK_K;
use core::arch::x86_64::*;

/// 32 values from 16 bytes of nibbles (low nibbles first) and a
/// 16-entry table of small integers: `d * table[q]`, the table looked
/// up with a byte shuffle.
#[inline(always)]
unsafe fn lut_32(table: &[i8; 16], qs: *const u8, d: __m256, y: *mut f32) {
    let table = _mm_loadu_si128(table.as_ptr() as *const __m128i);
    let m4 = _mm_set1_epi8(0x0F);
    let q = _mm_loadu_si128(qs as *const __m128i);
    let lo = _mm_shuffle_epi8(table, _mm_and_si128(q, m4));
    let hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), m4));
    for (k, v) in [lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)]
        .into_iter()
        .enumerate()
    {
        let f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
        _mm256_storeu_ps(y.add(8 * k), _mm256_mul_ps(d, f));
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_iq4_nl(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockIq4Nl>(x)
        .iter()
        .zip(y.chunks_exact_mut(32))
    {
        let d = _mm256_set1_ps(f16_le(b.d));
        lut_32(&KVALUES_IQ4NL, b.qs.as_ptr(), d, y.as_mut_ptr());
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_mxfp4(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockMxfp4>(x)
        .iter()
        .zip(y.chunks_exact_mut(32))
    {
        let d = _mm256_set1_ps(e8m0_to_f32_half(b.e));
        lut_32(&KVALUES_MXFP4, b.qs.as_ptr(), d, y.as_mut_ptr());
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_iq4_xs(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockIq4Xs>(x)
        .iter()
        .zip(y.chunks_exact_mut(QK_K))
    {
        let d = f16_le(b.d);
        for ib in 0..QK_K / 32 {
            let dl = d * (iq4xs_scale(b, ib) - 32) as f32;
            lut_32(
                &KVALUES_IQ4NL,
                b.qs.as_ptr().add(16 * ib),
                _mm256_set1_ps(dl),
                y.as_mut_ptr().add(32 * ib),
            );
        }
    }
}

/// 8 bytes widened to i32 lanes, zero-extended.
#[inline(always)]
unsafe fn u8x8(p: *const u8) -> __m256i {
    _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q4_1(x: &[u8], y: &mut [f32]) {
    let m4 = _mm_set1_epi8(0x0F);
    for (b, y) in as_blocks::<BlockQ4_1>(x).iter().zip(y.chunks_exact_mut(32)) {
        let d = _mm256_set1_ps(f16_le(b.d));
        let m = _mm256_set1_ps(f16_le(b.m));
        let q = _mm_loadu_si128(b.qs.as_ptr() as *const __m128i);
        let lo = _mm_and_si128(q, m4);
        let hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
        let yp = y.as_mut_ptr();
        for (k, v) in [lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)]
            .into_iter()
            .enumerate()
        {
            // x0 * d + m, unfused, as the reference.
            let f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
            _mm256_storeu_ps(yp.add(8 * k), _mm256_add_ps(_mm256_mul_ps(f, d), m));
        }
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q2_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockQ2K>(x)
        .iter()
        .zip(y.chunks_exact_mut(QK_K))
    {
        let d = f16_le(b.d);
        let min = f16_le(b.dmin);
        let m3 = _mm256_set1_epi32(3);
        let mut yp = y.as_mut_ptr();
        let mut is = 0;
        for n in 0..2 {
            for shift in [0, 2, 4, 6] {
                let sh = _mm_cvtsi32_si128(shift);
                for half in 0..2 {
                    let sc = b.scales[is];
                    is += 1;
                    let dl = _mm256_set1_ps(d * (sc & 0xF) as f32);
                    let ml = _mm256_set1_ps(min * (sc >> 4) as f32);
                    let qp = b.qs.as_ptr().add(32 * n + 16 * half);
                    for k in 0..2 {
                        let q = _mm256_and_si256(_mm256_srl_epi32(u8x8(qp.add(8 * k)), sh), m3);
                        let v = _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(q)), ml);
                        _mm256_storeu_ps(yp, v);
                        yp = yp.add(8);
                    }
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q3_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockQ3K>(x)
        .iter()
        .zip(y.chunks_exact_mut(QK_K))
    {
        let d_all = f16_le(b.d);
        let scales = q3k_scales(&b.scales);
        let m3 = _mm256_set1_epi32(3);
        let four = _mm256_set1_epi32(4);
        let mut yp = y.as_mut_ptr();
        let mut is = 0;
        let mut m = 1i32;
        for n in 0..2 {
            for shift in [0, 2, 4, 6] {
                let sh = _mm_cvtsi32_si128(shift);
                let vm = _mm256_set1_epi32(m);
                for half in 0..2 {
                    let dl = _mm256_set1_ps(d_all * (scales[is] as i32 - 32) as f32);
                    is += 1;
                    let qp = b.qs.as_ptr().add(32 * n + 16 * half);
                    let hp = b.hmask.as_ptr().add(16 * half);
                    for k in 0..2 {
                        let q = _mm256_and_si256(_mm256_srl_epi32(u8x8(qp.add(8 * k)), sh), m3);
                        // minus 4 where the hmask bit is clear
                        let clear = _mm256_cmpeq_epi32(
                            _mm256_and_si256(u8x8(hp.add(8 * k)), vm),
                            _mm256_setzero_si256(),
                        );
                        let v = _mm256_sub_epi32(q, _mm256_and_si256(clear, four));
                        _mm256_storeu_ps(yp, _mm256_mul_ps(dl, _mm256_cvtepi32_ps(v)));
                        yp = yp.add(8);
                    }
                }
                m <<= 1;
            }
        }
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q5_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockQ5K>(x)
        .iter()
        .zip(y.chunks_exact_mut(QK_K))
    {
        let d = f16_le(b.d);
        let min = f16_le(b.dmin);
        let m15 = _mm256_set1_epi32(0xF);
        let sixteen = _mm256_set1_epi32(16);
        for j in 0..4 {
            let (sc1, m1) = get_scale_min_k4(2 * j, &b.scales);
            let (sc2, m2) = get_scale_min_k4(2 * j + 1, &b.scales);
            let d1 = _mm256_set1_ps(d * sc1 as f32);
            let m1 = _mm256_set1_ps(min * m1 as f32);
            let d2 = _mm256_set1_ps(d * sc2 as f32);
            let m2 = _mm256_set1_ps(min * m2 as f32);
            let u1 = _mm256_set1_epi32(1 << (2 * j));
            let u2 = _mm256_set1_epi32(2 << (2 * j));
            let qp = b.qs.as_ptr().add(32 * j);
            let yp = y.as_mut_ptr().add(64 * j);
            for k in 0..4 {
                let q = u8x8(qp.add(8 * k));
                let h = u8x8(b.qh.as_ptr().add(8 * k));
                // 16 where the qh bit is set
                let h1 = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(h, u1), u1), sixteen);
                let h2 = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(h, u2), u2), sixteen);
                let lo = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_and_si256(q, m15), h1));
                let hi = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_srli_epi32(q, 4), h2));
                // d1 * q - m1, unfused, as the reference.
                _mm256_storeu_ps(yp.add(8 * k), _mm256_sub_ps(_mm256_mul_ps(d1, lo), m1));
                _mm256_storeu_ps(yp.add(32 + 8 * k), _mm256_sub_ps(_mm256_mul_ps(d2, hi), m2));
            }
        }
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_tq1_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockTq1_0>(x)
        .iter()
        .zip(y.chunks_exact_mut(QK_K))
    {
        let d = _mm256_set1_ps(f16_le(b.d));
        let mut yp = y.as_mut_ptr();
        // qs[0..32] then qs[32..48], 5 digits each; tq1_digit per lane
        for (start, len) in [(0, 32), (32, 16)] {
            for &p in &TQ1_POW3[..5] {
                let vp = _mm256_set1_epi32(p as i32);
                for k in 0..len / 8 {
                    let q = u8x8(b.qs.as_ptr().add(start + 8 * k));
                    let qp = _mm256_and_si256(_mm256_mullo_epi32(q, vp), _mm256_set1_epi32(0xFF));
                    let digit =
                        _mm256_srli_epi32(_mm256_add_epi32(qp, _mm256_add_epi32(qp, qp)), 8);
                    let v = _mm256_sub_epi32(digit, _mm256_set1_epi32(1));
                    _mm256_storeu_ps(yp, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
                    yp = yp.add(8);
                }
            }
        }
        let d = f16_le(b.d);
        for (i, &p) in TQ1_POW3[..4].iter().enumerate() {
            for (l, &q) in b.qh.iter().enumerate() {
                y[240 + 4 * i + l] = (tq1_digit(q, p) - 1) as f32 * d;
            }
        }
    }
}

/// 8 bytes (as i32 after the caller's widening) to floats.
#[inline(always)]
unsafe fn i8x8_to_ps(p: *const u8) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i)))
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_f16(x: &[u8], y: &mut [f32]) {
    let n = (x.len() / 2).min(y.len());
    let mut i = 0;
    while i + 8 <= n {
        let h = _mm_loadu_si128(x.as_ptr().add(2 * i) as *const __m128i);
        _mm256_storeu_ps(y.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        i += 8;
    }
    reference::dequantize_row_f16(&x[2 * i..2 * n], &mut y[i..n]);
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q4_0(x: &[u8], y: &mut [f32]) {
    let m4 = _mm_set1_epi8(0x0F);
    let eight = _mm_set1_epi8(8);
    for (b, y) in as_blocks::<BlockQ4_0>(x).iter().zip(y.chunks_exact_mut(32)) {
        let d = _mm256_set1_ps(f16_le(b.d));
        let q = _mm_loadu_si128(b.qs.as_ptr() as *const __m128i);
        let lo = _mm_sub_epi8(_mm_and_si128(q, m4), eight);
        let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight);
        let mut tmp = [0u8; 32];
        _mm_storeu_si128(tmp.as_mut_ptr() as *mut __m128i, lo);
        _mm_storeu_si128(tmp.as_mut_ptr().add(16) as *mut __m128i, hi);
        let yp = y.as_mut_ptr();
        for k in 0..4 {
            // x0*d: int converted to float, times d, as the reference.
            let v = _mm256_mul_ps(i8x8_to_ps(tmp.as_ptr().add(8 * k)), d);
            _mm256_storeu_ps(yp.add(8 * k), v);
        }
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q8_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockQ8_0>(x).iter().zip(y.chunks_exact_mut(32)) {
        let d = _mm256_set1_ps(f16_le(b.d));
        let qp = b.qs.as_ptr() as *const u8;
        let yp = y.as_mut_ptr();
        for k in 0..4 {
            _mm256_storeu_ps(yp.add(8 * k), _mm256_mul_ps(i8x8_to_ps(qp.add(8 * k)), d));
        }
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q4_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockQ4K>(x)
        .iter()
        .zip(y.chunks_exact_mut(QK_K))
    {
        let d = f16_le(b.d);
        let min = f16_le(b.dmin);
        for j in 0..4 {
            let (sc1, m1) = get_scale_min_k4(2 * j, &b.scales);
            let (sc2, m2) = get_scale_min_k4(2 * j + 1, &b.scales);
            let d1 = _mm256_set1_ps(d * sc1 as f32);
            let m1 = _mm256_set1_ps(min * m1 as f32);
            let d2 = _mm256_set1_ps(d * sc2 as f32);
            let m2 = _mm256_set1_ps(min * m2 as f32);
            let qp = b.qs.as_ptr().add(32 * j);
            let yp = y.as_mut_ptr().add(64 * j);
            for k in 0..4 {
                let q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(qp.add(8 * k) as *const __m128i));
                let lo = _mm256_cvtepi32_ps(_mm256_and_si256(q, _mm256_set1_epi32(0xF)));
                let hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4));
                // d1 * q - m1, unfused, as the reference.
                _mm256_storeu_ps(yp.add(8 * k), _mm256_sub_ps(_mm256_mul_ps(d1, lo), m1));
                _mm256_storeu_ps(yp.add(32 + 8 * k), _mm256_sub_ps(_mm256_mul_ps(d2, hi), m2));
            }
        }
    }
}

#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn dequantize_row_q6_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in as_blocks::<BlockQ6K>(x)
        .iter()
        .zip(y.chunks_exact_mut(QK_K))
    {
        let d = f16_le(b.d);
        for n in 0..2 {
            let ql = b.ql.as_ptr().add(64 * n);
            let qh = b.qh.as_ptr().add(32 * n);
            let sc = &b.scales[8 * n..8 * n + 8];
            let yp = y.as_mut_ptr().add(128 * n);
            for k in 0..4 {
                // l = 8k..8k+8, is = l / 16
                let is = k / 2;
                let l0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(ql.add(8 * k) as *const __m128i));
                let l1 =
                    _mm256_cvtepu8_epi32(_mm_loadl_epi64(ql.add(32 + 8 * k) as *const __m128i));
                let h = _mm256_cvtepu8_epi32(_mm_loadl_epi64(qh.add(8 * k) as *const __m128i));
                let m15 = _mm256_set1_epi32(0xF);
                let m3 = _mm256_set1_epi32(3);
                let off = _mm256_set1_epi32(32);
                let q1 = _mm256_or_si256(
                    _mm256_and_si256(l0, m15),
                    _mm256_slli_epi32(_mm256_and_si256(h, m3), 4),
                );
                let q2 = _mm256_or_si256(
                    _mm256_and_si256(l1, m15),
                    _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, 2), m3), 4),
                );
                let q3 = _mm256_or_si256(
                    _mm256_srli_epi32(l0, 4),
                    _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, 4), m3), 4),
                );
                let q4 = _mm256_or_si256(
                    _mm256_srli_epi32(l1, 4),
                    _mm256_slli_epi32(_mm256_srli_epi32(h, 6), 4),
                );
                let qs = [q1, q2, q3, q4];
                for (t, q) in qs.into_iter().enumerate() {
                    // (d * sc) * q, as the reference.
                    let ds = _mm256_set1_ps(d * sc[is + 2 * t] as f32);
                    let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(q, off));
                    _mm256_storeu_ps(yp.add(32 * t + 8 * k), _mm256_mul_ps(ds, v));
                }
            }
        }
    }
}
