//! x86_64 AVX2 dot products.
//!
//! The quantized kernels are bit-identical to [`crate::quant::reference`]: integer
//! sums are exact (operands are kept unsigned on the `maddubs` side so it
//! never saturates, whatever the bytes), and the float steps repeat the
//! reference's expressions lane for lane, with separate multiply and add
//! (no FMA). For the k-quants the reference keeps 8 float lanes, lane `l`
//! summing the values at positions `k ≡ l (mod 8)`, so the integer sums are
//! gathered per lane: bytes are shuffled to pair `k` with `k + 8` before
//! `maddubs`, and two sub-blocks are interleaved before `madd` so each i32
//! lane again holds a single `l`.

use crate::quant::layout::*;
use core::arch::x86_64::*;

#[inline(always)]
unsafe fn load256(p: &[u8]) -> __m256i {
    debug_assert!(p.len() >= 32);
    _mm256_loadu_si256(p.as_ptr() as *const __m256i)
}

#[inline(always)]
unsafe fn load128(p: &[u8]) -> __m128i {
    debug_assert!(p.len() >= 16);
    _mm_loadu_si128(p.as_ptr() as *const __m128i)
}

/// Lane `i` of the result is the sum of the 8 lanes of `v[i]`.
#[inline(always)]
pub(super) unsafe fn hsum_8x8(v: &[__m256i; 8]) -> __m256i {
    let h01 = _mm256_hadd_epi32(v[0], v[1]);
    let h23 = _mm256_hadd_epi32(v[2], v[3]);
    let h45 = _mm256_hadd_epi32(v[4], v[5]);
    let h67 = _mm256_hadd_epi32(v[6], v[7]);
    // Each 128-bit half: partial sums of v0..v3 (resp. v4..v7).
    let h0123 = _mm256_hadd_epi32(h01, h23);
    let h4567 = _mm256_hadd_epi32(h45, h67);
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(h0123, h4567),
        _mm256_permute2x128_si256::<0x31>(h0123, h4567),
    )
}

/// Runs of up to 8 blocks for the 32-value formats: `block(k)` gives block
/// `k`'s integer sum (spread over 8 i32 lanes) and its two fp16 scales; the
/// 8 products `combine(sumi, dx, dy)` are formed in one vector (same
/// roundings as the scalar expression) and then added to `sumf` one by
/// one, in block order, as the reference does.
#[inline(always)]
unsafe fn blocks32(
    nb: usize,
    mut block: impl FnMut(usize) -> (__m256i, [u8; 2], [u8; 2]),
    combine: impl Fn(__m256, __m256, __m256) -> __m256,
) -> f32 {
    let mut sumf = 0.0f32;
    let mut ib = 0;
    while ib < nb {
        let cnt = (nb - ib).min(8);
        let mut sumi = [_mm256_setzero_si256(); 8];
        let mut dx = [0u16; 8];
        let mut dy = [0u16; 8];
        for k in 0..cnt {
            let (s, x, y) = block(ib + k);
            sumi[k] = s;
            dx[k] = u16::from_le_bytes(x);
            dy[k] = u16::from_le_bytes(y);
        }
        let s = _mm256_cvtepi32_ps(hsum_8x8(&sumi));
        // F16C conversion is exact, like `fp16_to_f32`.
        let dx = _mm256_cvtph_ps(_mm_loadu_si128(dx.as_ptr() as *const __m128i));
        let dy = _mm256_cvtph_ps(_mm_loadu_si128(dy.as_ptr() as *const __m128i));
        let mut prod = [0.0f32; 8];
        _mm256_storeu_ps(prod.as_mut_ptr(), combine(s, dx, dy));
        for &p in &prod[..cnt] {
            sumf += p;
        }
        ib += cnt;
    }
    sumf
}

/// [`blocks32`] for one weight row against `T` activation rows at once:
/// the weight block is unpacked once per block and reused, and the `T`
/// float sums are independent chains. Each result repeats [`blocks32`]'s
/// float operations exactly, so it is bit-identical to the one-row kernel.
#[inline(always)]
unsafe fn blocks32_multi<const T: usize>(
    nb: usize,
    mut block: impl FnMut(usize, &mut [__m256i; T], &mut [[u8; 2]; T]) -> [u8; 2],
    combine: impl Fn(__m256, __m256, __m256) -> __m256,
) -> [f32; T] {
    let mut sumf = [0.0f32; T];
    let mut ib = 0;
    let zero = _mm256_setzero_si256();
    while ib < nb {
        let cnt = (nb - ib).min(8);
        // Built element by element (no zero-filled 1 KiB arrays to memset).
        let mut dx = [0u16; 8];
        let mut dy = [[0u16; 8]; T];
        let sums: [[__m256i; T]; 8] = core::array::from_fn(|k| {
            let mut s = [zero; T];
            if k < cnt {
                let mut y = [[0u8; 2]; T];
                dx[k] = u16::from_le_bytes(block(ib + k, &mut s, &mut y));
                for t in 0..T {
                    dy[t][k] = u16::from_le_bytes(y[t]);
                }
            }
            s
        });
        let dxv = _mm256_cvtph_ps(_mm_loadu_si128(dx.as_ptr() as *const __m128i));
        for t in 0..T {
            let st = _mm256_cvtepi32_ps(hsum_8x8(&core::array::from_fn(|k| sums[k][t])));
            let dyv = _mm256_cvtph_ps(_mm_loadu_si128(dy[t].as_ptr() as *const __m128i));
            let mut prod = [0.0f32; 8];
            _mm256_storeu_ps(prod.as_mut_ptr(), combine(st, dxv, dyv));
            for &p in &prod[..cnt] {
                sumf[t] += p;
            }
        }
        ib += cnt;
    }
    sumf
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot4_q4_0_q8_0(vx: &[u8], vy: [&[u8]; 4]) -> [f32; 4] {
    let x = as_blocks::<BlockQ4_0>(vx);
    let y = vy.map(as_blocks::<BlockQ8_0>);
    let nb = y.iter().fold(x.len(), |n, y| n.min(y.len()));
    let m4 = _mm256_set1_epi8(0x0F);
    let eight = _mm256_set1_epi8(8);
    let ones = _mm256_set1_epi16(1);
    blocks32_multi::<4>(
        nb,
        |i, s, dy| {
            let xb = &x[i];
            let q = load128(&xb.qs);
            let u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(q), q), m4);
            for t in 0..4 {
                let yb = &y[t][i];
                let v = load256(bytemuck::cast_slice(&yb.qs));
                let p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(u, v), _mm256_maddubs_epi16(eight, v));
                s[t] = _mm256_madd_epi16(p, ones);
                dy[t] = yb.d;
            }
            xb.d
        },
        |s, dx, dy| _mm256_mul_ps(_mm256_mul_ps(s, dx), dy),
    )
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot4_q5_0_q8_0(vx: &[u8], vy: [&[u8]; 4]) -> [f32; 4] {
    let x = as_blocks::<BlockQ5_0>(vx);
    let y = vy.map(as_blocks::<BlockQ8_0>);
    let nb = y.iter().fold(x.len(), |n, y| n.min(y.len()));
    let m4 = _mm256_set1_epi8(0x0F);
    let bit4 = _mm256_set1_epi8(0x10);
    let sixteen = _mm256_set1_epi8(16);
    let ones = _mm256_set1_epi16(1);
    blocks32_multi::<4>(
        nb,
        |i, s, dy| {
            let xb = &x[i];
            let q = load128(&xb.qs);
            let lo = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(q), q), m4);
            let u = _mm256_or_si256(lo, _mm256_and_si256(bytes_from_bits_32(xb.qh), bit4));
            for t in 0..4 {
                let yb = &y[t][i];
                let v = load256(bytemuck::cast_slice(&yb.qs));
                let p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(u, v), _mm256_maddubs_epi16(sixteen, v));
                s[t] = _mm256_madd_epi16(p, ones);
                dy[t] = yb.d;
            }
            xb.d
        },
        |s, dx, dy| _mm256_mul_ps(_mm256_mul_ps(dx, dy), s),
    )
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot4_q8_0_q8_0(vx: &[u8], vy: [&[u8]; 4]) -> [f32; 4] {
    let x = as_blocks::<BlockQ8_0>(vx);
    let y = vy.map(as_blocks::<BlockQ8_0>);
    let nb = y.iter().fold(x.len(), |n, y| n.min(y.len()));
    blocks32_multi::<4>(
        nb,
        |i, s, dy| {
            let xb = &x[i];
            let xq: &[u8] = bytemuck::cast_slice(&xb.qs);
            let x0 = _mm256_cvtepi8_epi16(load128(&xq[..16]));
            let x1 = _mm256_cvtepi8_epi16(load128(&xq[16..]));
            for t in 0..4 {
                let yb = &y[t][i];
                let yq: &[u8] = bytemuck::cast_slice(&yb.qs);
                let y0 = _mm256_cvtepi8_epi16(load128(&yq[..16]));
                let y1 = _mm256_cvtepi8_epi16(load128(&yq[16..]));
                s[t] = _mm256_add_epi32(_mm256_madd_epi16(x0, y0), _mm256_madd_epi16(x1, y1));
                dy[t] = yb.d;
            }
            xb.d
        },
        |s, dx, dy| _mm256_mul_ps(s, _mm256_mul_ps(dx, dy)),
    )
}

/// `ggml_vec_dot_q4_0_q8_0`: `sumf += sumi*dx*dy`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q4_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let x = as_blocks::<BlockQ4_0>(vx);
    let y = as_blocks::<BlockQ8_0>(vy);
    let m4 = _mm256_set1_epi8(0x0F);
    let eight = _mm256_set1_epi8(8);
    let ones = _mm256_set1_epi16(1);
    blocks32(
        x.len().min(y.len()),
        |i| {
            let (xb, yb) = (&x[i], &y[i]);
            let q = load128(&xb.qs);
            // Nibbles as bytes 0..15 (low) and 16..31 (high), unsigned.
            let u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(q), q), m4);
            let v = load256(bytemuck::cast_slice(&yb.qs));
            // (u - 8) * v in pairs; |u * v pair| <= 3840, no saturation.
            let p = _mm256_sub_epi16(_mm256_maddubs_epi16(u, v), _mm256_maddubs_epi16(eight, v));
            (_mm256_madd_epi16(p, ones), xb.d, yb.d)
        },
        |s, dx, dy| _mm256_mul_ps(_mm256_mul_ps(s, dx), dy),
    )
}

/// Byte `i` is 0xFF where bit `i` of the little-endian `bits` is set
/// (ggml's `bytes_from_bits_32`).
#[inline(always)]
unsafe fn bytes_from_bits_32(bits: [u8; 4]) -> __m256i {
    let x = _mm256_set1_epi32(i32::from_le_bytes(bits));
    let spread = _mm256_shuffle_epi8(
        x,
        _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        ),
    );
    // Each byte keeps all bits but its own set; equal to all-ones iff set.
    let others = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
    _mm256_cmpeq_epi8(others, _mm256_set1_epi64x(-1))
}

/// `ggml_vec_dot_q5_0_q8_0`: `sumf += (dx*dy)*sumi`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q5_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let x = as_blocks::<BlockQ5_0>(vx);
    let y = as_blocks::<BlockQ8_0>(vy);
    let m4 = _mm256_set1_epi8(0x0F);
    let bit4 = _mm256_set1_epi8(0x10);
    let sixteen = _mm256_set1_epi8(16);
    let ones = _mm256_set1_epi16(1);
    blocks32(
        x.len().min(y.len()),
        |i| {
            let (xb, yb) = (&x[i], &y[i]);
            let q = load128(&xb.qs);
            // Values 0..31 unsigned: nibble (low, then high) | fifth bit from qh.
            let lo = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(q), q), m4);
            let u = _mm256_or_si256(lo, _mm256_and_si256(bytes_from_bits_32(xb.qh), bit4));
            let v = load256(bytemuck::cast_slice(&yb.qs));
            // (u - 16) * v in pairs; |u * v pair| <= 7936, no saturation.
            let p = _mm256_sub_epi16(_mm256_maddubs_epi16(u, v), _mm256_maddubs_epi16(sixteen, v));
            (_mm256_madd_epi16(p, ones), xb.d, yb.d)
        },
        |s, dx, dy| _mm256_mul_ps(_mm256_mul_ps(dx, dy), s),
    )
}

/// `ggml_vec_dot_q8_0_q8_0`: `sumf += sumi*(dx*dy)`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q8_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let x = as_blocks::<BlockQ8_0>(vx);
    let y = as_blocks::<BlockQ8_0>(vy);
    blocks32(
        x.len().min(y.len()),
        |i| {
            let (xb, yb) = (&x[i], &y[i]);
            let xq: &[u8] = bytemuck::cast_slice(&xb.qs);
            let yq: &[u8] = bytemuck::cast_slice(&yb.qs);
            // Widen to i16 so -128 * -128 is exact (sign tricks would wrap).
            let x0 = _mm256_cvtepi8_epi16(load128(&xq[..16]));
            let x1 = _mm256_cvtepi8_epi16(load128(&xq[16..]));
            let y0 = _mm256_cvtepi8_epi16(load128(&yq[..16]));
            let y1 = _mm256_cvtepi8_epi16(load128(&yq[16..]));
            let s = _mm256_add_epi32(_mm256_madd_epi16(x0, y0), _mm256_madd_epi16(x1, y1));
            (s, xb.d, yb.d)
        },
        |s, dx, dy| _mm256_mul_ps(s, _mm256_mul_ps(dx, dy)),
    )
}

/// Per 128-bit half, reorder bytes to 0,8,1,9,...,7,15 so that `maddubs`
/// adds positions `k` and `k + 8`, which share the lane `k mod 8`.
#[inline(always)]
unsafe fn lane_shuffle() -> __m256i {
    _mm256_setr_epi8(
        0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5,
        13, 6, 14, 7, 15,
    )
}

/// `maddubs` of `u` (unsigned) and `v` after [`lane_shuffle`]: i16 lane `i`
/// of each half holds the sum over `k ≡ i (mod 8)` of that half.
#[inline(always)]
unsafe fn lane_products(u: __m256i, v: __m256i, shuf: __m256i) -> __m256i {
    _mm256_maddubs_epi16(_mm256_shuffle_epi8(u, shuf), _mm256_shuffle_epi8(v, shuf))
}

/// Two i16 scales as the pair `madd` multiplies an `unpack*_epi16` with.
#[inline(always)]
fn scale_pair(first: i32, second: i32) -> i32 {
    ((second as i16 as u16 as u32) << 16 | first as i16 as u16 as u32) as i32
}

/// `acc_a` holds lanes 0..3 in both halves, `acc_b` lanes 4..7: fold into
/// the 8 lanes `aux32[0..8]` as float, times `d`, added to `sums`.
#[inline(always)]
unsafe fn add_lanes(sums: __m256, d: f32, acc_a: __m256i, acc_b: __m256i) -> __m256 {
    let lo = _mm_add_epi32(
        _mm256_castsi256_si128(acc_a),
        _mm256_extracti128_si256::<1>(acc_a),
    );
    let hi = _mm_add_epi32(
        _mm256_castsi256_si128(acc_b),
        _mm256_extracti128_si256::<1>(acc_b),
    );
    let aux = _mm256_cvtepi32_ps(_mm256_set_m128i(hi, lo));
    // `sums[l] += d * aux32[l]`, unfused as in the reference.
    _mm256_add_ps(sums, _mm256_mul_ps(_mm256_set1_ps(d), aux))
}

/// `sumf + sums[0] + ... + sums[7]`, in lane order as the reference.
#[inline(always)]
unsafe fn finish(sumf: f32, sums: __m256) -> f32 {
    let mut s = [0.0f32; 8];
    _mm256_storeu_ps(s.as_mut_ptr(), sums);
    s.iter().fold(sumf, |a, &v| a + v)
}

/// `ggml_vec_dot_q4_K_q8_K`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q4_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    k_quant_4bit(
        as_blocks::<BlockQ4K>(vx)
            .iter()
            .map(|x| (x.d, x.dmin, &x.scales, &x.qs, None)),
        as_blocks::<BlockQ8K>(vy),
        |q, _, _| {
            (
                _mm256_and_si256(q, m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4),
            )
        },
    )
}

/// `ggml_vec_dot_q5_K_q8_K`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q5_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let k16 = _mm256_set1_epi8(16);
    k_quant_4bit(
        as_blocks::<BlockQ5K>(vx)
            .iter()
            .map(|x| (x.d, x.dmin, &x.scales, &x.qs, Some(&x.qh))),
        as_blocks::<BlockQ8K>(vy),
        |q, qh, j| {
            // Bit 2j of qh[l] is the 5th bit of sub-block 2j's value l,
            // bit 2j+1 that of sub-block 2j+1.
            let hbit = |b: i8| {
                let m = _mm256_set1_epi8(b);
                _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m), m), k16)
            };
            (
                _mm256_or_si256(_mm256_and_si256(q, m4), hbit(1 << (2 * j))),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4),
                    hbit((2u8 << (2 * j)) as i8),
                ),
            )
        },
    )
}

/// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
/// `values(qs, qh, j)` unpacks 32 bytes of `qs` (and `qh`, zero for Q4_K)
/// into the unsigned values of sub-blocks `2j` and `2j + 1` (at most 31, so
/// `maddubs` pairs stay within 2·31·128).
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn k_quant_4bit<'a>(
    x: impl Iterator<
        Item = (
            [u8; 2],
            [u8; 2],
            &'a [u8; 12],
            &'a [u8; 128],
            Option<&'a [u8; 32]>,
        ),
    >,
    y: &[BlockQ8K],
    values: impl Fn(__m256i, __m256i, usize) -> (__m256i, __m256i),
) -> f32 {
    let shuf = lane_shuffle();
    let mut sums = _mm256_setzero_ps();
    let mut sumf = 0.0f32;
    for ((d, dmin, sc, qs, qh), y) in x.zip(y) {
        let (scales, mins) = k4_scales_mins(sc);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += y.bsum(j) as i32 * mins[j / 2] as i32;
        }
        let q8: &[u8] = bytemuck::cast_slice(&y.qs);
        let qh = match qh {
            Some(h) => load256(h),
            None => _mm256_setzero_si256(),
        };
        let mut acc_a = _mm256_setzero_si256();
        let mut acc_b = _mm256_setzero_si256();
        for j in 0..4 {
            let (lo, hi) = values(load256(&qs[32 * j..]), qh, j);
            let p_lo = lane_products(lo, load256(&q8[64 * j..]), shuf);
            let p_hi = lane_products(hi, load256(&q8[64 * j + 32..]), shuf);
            let sc = _mm256_set1_epi32(scale_pair(scales[2 * j] as i32, scales[2 * j + 1] as i32));
            acc_a = _mm256_add_epi32(
                acc_a,
                _mm256_madd_epi16(_mm256_unpacklo_epi16(p_lo, p_hi), sc),
            );
            acc_b = _mm256_add_epi32(
                acc_b,
                _mm256_madd_epi16(_mm256_unpackhi_epi16(p_lo, p_hi), sc),
            );
        }
        sums = add_lanes(sums, f16_le(d) * y.d(), acc_a, acc_b);
        let dmin = f16_le(dmin) * y.d();
        sumf -= dmin * sumi as f32;
    }
    finish(sumf, sums)
}

/// `ggml_vec_dot_q6_K_q8_K`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q6_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let shuf = lane_shuffle();
    let m4 = _mm256_set1_epi8(0x0F);
    let m3 = _mm256_set1_epi8(3);
    let k32 = _mm256_set1_epi8(32);
    let mut sums = _mm256_setzero_ps();
    for (x, y) in as_blocks::<BlockQ6K>(vx)
        .iter()
        .zip(as_blocks::<BlockQ8K>(vy))
    {
        let q8: &[u8] = bytemuck::cast_slice(&y.qs);
        let sc = &x.scales;
        let mut acc_a = _mm256_setzero_si256();
        let mut acc_b = _mm256_setzero_si256();
        for n in 0..2 {
            let ql0 = load256(&x.ql[64 * n..]);
            let ql1 = load256(&x.ql[64 * n + 32..]);
            let qh = load256(&x.qh[32 * n..]);
            // The 6-bit quants, unsigned 0..63 (ggml subtracts 32 after).
            let hbits = |s: i32| match s {
                0 => _mm256_and_si256(qh, m3),
                2 => _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m3),
                4 => _mm256_and_si256(_mm256_srli_epi16::<4>(qh), m3),
                _ => _mm256_and_si256(_mm256_srli_epi16::<6>(qh), m3),
            };
            let q = [
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16::<4>(hbits(0))),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16::<4>(hbits(2))),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                    _mm256_slli_epi16::<4>(hbits(4)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                    _mm256_slli_epi16::<4>(hbits(6)),
                ),
            ];
            // (q - 32) * q8 per lane pair: |q*q8 pair| <= 16128 and
            // |32*q8 pair| <= 8192, so neither maddubs saturates and the
            // difference fits i16.
            let p = |t: usize| {
                let v = _mm256_shuffle_epi8(load256(&q8[128 * n + 32 * t..]), shuf);
                let qs = _mm256_shuffle_epi8(q[t], shuf);
                _mm256_sub_epi16(_mm256_maddubs_epi16(qs, v), _mm256_maddubs_epi16(k32, v))
            };
            // Vector t covers sub-blocks 8n+2t (low half) and 8n+2t+1 (high).
            for (t0, t1) in [(0, 1), (2, 3)] {
                let s = |t: usize, h: usize| sc[8 * n + 2 * t + h] as i32;
                let scv = _mm256_set_m128i(
                    _mm_set1_epi32(scale_pair(s(t0, 1), s(t1, 1))),
                    _mm_set1_epi32(scale_pair(s(t0, 0), s(t1, 0))),
                );
                let (pa, pb) = (p(t0), p(t1));
                acc_a =
                    _mm256_add_epi32(acc_a, _mm256_madd_epi16(_mm256_unpacklo_epi16(pa, pb), scv));
                acc_b =
                    _mm256_add_epi32(acc_b, _mm256_madd_epi16(_mm256_unpackhi_epi16(pa, pb), scv));
            }
        }
        sums = add_lanes(sums, f16_le(x.d) * y.d(), acc_a, acc_b);
    }
    finish(0.0, sums)
}

/// Sum of f32 products in f64, 16 values per step over 4 f64x4
/// accumulators; `load(i)` gives 8 weights as f32 starting at value `i`.
#[inline(always)]
unsafe fn f64_dot(
    n: usize,
    y: &[f32],
    load: impl Fn(usize) -> __m256,
    tail: impl Fn(usize) -> f32,
) -> f32 {
    let mut acc = [_mm256_setzero_pd(); 4];
    let mut i = 0;
    while i + 16 <= n {
        for h in 0..2 {
            let p = _mm256_mul_ps(load(i + 8 * h), _mm256_loadu_ps(y.as_ptr().add(i + 8 * h)));
            acc[2 * h] = _mm256_add_pd(acc[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
            acc[2 * h + 1] = _mm256_add_pd(
                acc[2 * h + 1],
                _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(p)),
            );
        }
        i += 16;
    }
    let acc = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
    let mut a = [0.0f64; 4];
    _mm256_storeu_pd(a.as_mut_ptr(), acc);
    let mut sumf = (a[0] + a[1]) + (a[2] + a[3]);
    while i < n {
        sumf += (tail(i) * y[i]) as f64;
        i += 1;
    }
    sumf as f32
}

/// `ggml_vec_dot_f32` with the scalar branch's f64 sum.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_f32(vx: &[u8], y: &[f32]) -> f32 {
    let n = (vx.len() / 4).min(y.len());
    let xp = vx.as_ptr();
    f64_dot(
        n,
        y,
        |i| _mm256_loadu_ps(xp.add(4 * i) as *const f32),
        |i| f32::from_le_bytes([vx[4 * i], vx[4 * i + 1], vx[4 * i + 2], vx[4 * i + 3]]),
    )
}

/// F16 weights, f32 activations, f64 sum.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_f16(vx: &[u8], y: &[f32]) -> f32 {
    let n = (vx.len() / 2).min(y.len());
    let xp = vx.as_ptr();
    f64_dot(
        n,
        y,
        |i| _mm256_cvtph_ps(_mm_loadu_si128(xp.add(2 * i) as *const __m128i)),
        |i| f16_le([vx[2 * i], vx[2 * i + 1]]),
    )
}
