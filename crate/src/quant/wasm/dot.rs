//! wasm32 simd128 dot products, bit-identical to [`crate::quant::reference`] for
//! the quantized types (same design as the AVX2 ones: exact integer sums,
//! then the reference's float steps in its order). simd128 has no
//! `maddubs`; its widening `extmul` keeps lane `i` of an 8-value half at
//! position `k ≡ i (mod 8)`, which is exactly the k-quant lane layout.

use super::batch::{hsum4, load_i16};
use crate::quant::layout::*;
use core::arch::wasm32::*;
use std::sync::OnceLock;

/// Every half as f32 ([`fp16_to_f32`], so the same bits), built on first
/// use: one load per block scale instead of a dozen integer and float
/// steps, which in simd128 cost as much as a 32-value block's products
/// (ggml keeps the same table, `ggml_table_f32_f16`, for CPUs without F16C).
fn halves() -> &'static [f32] {
    static TABLE: OnceLock<Box<[f32]>> = OnceLock::new();
    TABLE.get_or_init(|| (0..=u16::MAX).map(fp16_to_f32).collect())
}

/// A little-endian half from [`halves`].
#[inline(always)]
fn half(t: &[f32], b: [u8; 2]) -> f32 {
    t[u16::from_le_bytes(b) as usize]
}

/// 16 bytes from the front of `p`.
#[inline(always)]
fn load16(p: &[u8]) -> v128 {
    let p = &p[..16];
    // SAFETY: `p` has 16 readable bytes; wasm loads need no alignment.
    unsafe { v128_load(p.as_ptr() as *const v128) }
}

#[inline(always)]
fn hsum_i32x4(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v)
        .wrapping_add(i32x4_extract_lane::<1>(v))
        .wrapping_add(i32x4_extract_lane::<2>(v))
        .wrapping_add(i32x4_extract_lane::<3>(v))
}

/// Σ x·y over 16 signed bytes, as i16 lanes (`k mod 8`); the caller keeps
/// |x·y| small enough that two products fit i16.
#[inline(always)]
fn dot16_i16(x: v128, y: v128) -> v128 {
    i16x8_add(i16x8_extmul_low_i8x16(x, y), i16x8_extmul_high_i8x16(x, y))
}

/// The blocks `0..n` in order: `f(b, sumi)` is the reference's float step
/// for block `b` with its integer sum, which `sumi(b)` gives as i32 lanes;
/// the lanes of four blocks at a time are added by one [`hsum4`] instead
/// of four horizontal sums.
#[inline(always)]
fn blocks4(n: usize, sumi: impl Fn(usize) -> v128, mut f: impl FnMut(usize, i32)) {
    let mut b = 0;
    while b + 4 <= n {
        let s = hsum4([sumi(b), sumi(b + 1), sumi(b + 2), sumi(b + 3)]);
        f(b, i32x4_extract_lane::<0>(s));
        f(b + 1, i32x4_extract_lane::<1>(s));
        f(b + 2, i32x4_extract_lane::<2>(s));
        f(b + 3, i32x4_extract_lane::<3>(s));
        b += 4;
    }
    while b < n {
        f(b, hsum_i32x4(sumi(b)));
        b += 1;
    }
}

/// Σ w·y of one 32-value block as i32 lanes: `w` its values in order as
/// two i8x16, `y` its 32 activations. Widened to i16 and multiplied with
/// `dot_i16x8` (each i32 lane two products): fewer instructions than
/// `extmul` pairs, and no i16 sum to keep in range.
#[inline(always)]
fn block_dot(w: [v128; 2], y: &[i8; 32]) -> v128 {
    let half16 = |w: v128, o: usize| {
        i32x4_add(
            i32x4_dot_i16x8(i16x8_extend_low_i8x16(w), load_i16(&y[o..])),
            i32x4_dot_i16x8(i16x8_extend_high_i8x16(w), load_i16(&y[o + 8..])),
        )
    };
    i32x4_add(half16(w[0], 0), half16(w[1], 16))
}

/// `ggml_vec_dot_q4_0_q8_0`.
pub(crate) fn vec_dot_q4_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let t = halves();
    let (xs, ys) = (as_blocks::<BlockQ4_0>(vx), as_blocks::<BlockQ8_0>(vy));
    let mut sumf = 0.0f32;
    let sumi = |b: usize| {
        let q = load16(&xs[b].qs);
        let v0 = i8x16_sub(v128_and(q, u8x16_splat(0x0F)), i8x16_splat(8));
        let v1 = i8x16_sub(u8x16_shr(q, 4), i8x16_splat(8));
        block_dot([v0, v1], &ys[b].qs)
    };
    blocks4(xs.len().min(ys.len()), sumi, |b, s| {
        sumf += s as f32 * half(t, xs[b].d) * half(t, ys[b].d);
    });
    sumf
}

/// Σ x·y over a 32-value block whose low nibbles pair with `y[..16]` and
/// high nibbles with `y[16..]`, each as 16 bytes; |x·y| <= 4096 keeps four
/// products within i16.
#[inline(always)]
fn dot32(lo: v128, hi: v128, y: &[i8; 32]) -> i32 {
    let yq: &[u8] = bytemuck::cast_slice(y);
    let p = i16x8_add(
        dot16_i16(lo, load16(&yq[..16])),
        dot16_i16(hi, load16(&yq[16..])),
    );
    hsum_i32x4(i32x4_extadd_pairwise_i16x8(p))
}

/// The 5th bits of a Q5 block as 0x10 bytes: lane `j` of the first vector
/// holds bit `j` of `qh`, lane `j` of the second bit `j + 16`.
#[inline(always)]
fn q5_high_bits(qh: [u8; 4]) -> (v128, v128) {
    let v = i32x4_splat(i32::from_le_bytes(qh));
    let bit = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    let spread = |idx: v128| {
        let b = v128_and(i8x16_swizzle(v, idx), bit);
        v128_and(i8x16_eq(b, bit), u8x16_splat(0x10))
    };
    (
        spread(u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)),
        spread(u8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)),
    )
}

/// `ggml_vec_dot_q4_1_q8_1`.
pub(crate) fn vec_dot_q4_1_q8_1(vx: &[u8], vy: &[u8]) -> f32 {
    let t = halves();
    let mut sumf = 0.0f32;
    for (x, y) in as_blocks::<BlockQ4_1>(vx)
        .iter()
        .zip(as_blocks::<BlockQ8_1>(vy))
    {
        let q = load16(&x.qs);
        let sumi = dot32(v128_and(q, u8x16_splat(0x0F)), u8x16_shr(q, 4), &y.qs);
        sumf += (half(t, x.d) * half(t, y.d)) * sumi as f32 + half(t, x.m) * half(t, y.s);
    }
    sumf
}

/// `ggml_vec_dot_q5_0_q8_0`.
pub(crate) fn vec_dot_q5_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let t = halves();
    let (xs, ys) = (as_blocks::<BlockQ5_0>(vx), as_blocks::<BlockQ8_0>(vy));
    let mut sumf = 0.0f32;
    let sumi = |b: usize| {
        let q = load16(&xs[b].qs);
        let (h0, h1) = q5_high_bits(xs[b].qh);
        let lo = i8x16_sub(v128_or(v128_and(q, u8x16_splat(0x0F)), h0), i8x16_splat(16));
        let hi = i8x16_sub(v128_or(u8x16_shr(q, 4), h1), i8x16_splat(16));
        block_dot([lo, hi], &ys[b].qs)
    };
    blocks4(xs.len().min(ys.len()), sumi, |b, s| {
        sumf += (half(t, xs[b].d) * half(t, ys[b].d)) * s as f32;
    });
    sumf
}

/// `ggml_vec_dot_q5_1_q8_1`.
pub(crate) fn vec_dot_q5_1_q8_1(vx: &[u8], vy: &[u8]) -> f32 {
    let t = halves();
    let mut sumf = 0.0f32;
    for (x, y) in as_blocks::<BlockQ5_1>(vx)
        .iter()
        .zip(as_blocks::<BlockQ8_1>(vy))
    {
        let q = load16(&x.qs);
        let (h0, h1) = q5_high_bits(x.qh);
        let lo = v128_or(v128_and(q, u8x16_splat(0x0F)), h0);
        let hi = v128_or(u8x16_shr(q, 4), h1);
        let sumi = dot32(lo, hi, &y.qs);
        sumf += (half(t, x.d) * half(t, y.d)) * sumi as f32 + half(t, x.m) * half(t, y.s);
    }
    sumf
}

/// `ggml_vec_dot_q8_0_q8_0`.
pub(crate) fn vec_dot_q8_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let t = halves();
    let (xs, ys) = (as_blocks::<BlockQ8_0>(vx), as_blocks::<BlockQ8_0>(vy));
    let mut sumf = 0.0f32;
    let sumi = |b: usize| {
        let (x, y) = (&xs[b].qs, &ys[b].qs);
        let d = |o: usize| i32x4_dot_i16x8(load_i16(&x[o..]), load_i16(&y[o..]));
        i32x4_add(i32x4_add(d(0), d(8)), i32x4_add(d(16), d(24)))
    };
    blocks4(xs.len().min(ys.len()), sumi, |b, s| {
        sumf += s as f32 * (half(t, xs[b].d) * half(t, ys[b].d));
    });
    sumf
}

/// 8 float lanes as two f32x4, `sums[l] += d * aux32[l]` (unfused).
#[inline(always)]
fn add_lanes(sums: &mut [v128; 2], d: f32, aux: [v128; 2]) {
    let d = f32x4_splat(d);
    for (s, a) in sums.iter_mut().zip(aux) {
        *s = f32x4_add(*s, f32x4_mul(d, f32x4_convert_i32x4(a)));
    }
}

/// `aux[l] += scale * p[l]` for 8 i16 lanes.
#[inline(always)]
fn mul_add_scale(aux: &mut [v128; 2], p: v128, scale: i16) {
    let s = i16x8_splat(scale);
    aux[0] = i32x4_add(aux[0], i32x4_extmul_low_i16x8(p, s));
    aux[1] = i32x4_add(aux[1], i32x4_extmul_high_i16x8(p, s));
}

/// `sumf + sums[0] + ... + sums[7]`, in lane order.
#[inline(always)]
fn finish(sumf: f32, sums: [v128; 2]) -> f32 {
    let mut s = sumf;
    for v in sums {
        s += f32x4_extract_lane::<0>(v);
        s += f32x4_extract_lane::<1>(v);
        s += f32x4_extract_lane::<2>(v);
        s += f32x4_extract_lane::<3>(v);
    }
    s
}

/// `ggml_vec_dot_q4_K_q8_K`.
pub(crate) fn vec_dot_q4_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let m4 = u8x16_splat(0x0F);
    k_quant_4bit(
        as_blocks::<BlockQ4K>(vx)
            .iter()
            .map(|x| (x.d, x.dmin, &x.scales, &x.qs, None)),
        as_blocks::<BlockQ8K>(vy),
        |q, _, _| (v128_and(q, m4), u8x16_shr(q, 4)),
    )
}

/// `ggml_vec_dot_q5_K_q8_K`.
pub(crate) fn vec_dot_q5_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let m4 = u8x16_splat(0x0F);
    let k16 = u8x16_splat(16);
    k_quant_4bit(
        as_blocks::<BlockQ5K>(vx)
            .iter()
            .map(|x| (x.d, x.dmin, &x.scales, &x.qs, Some(&x.qh))),
        as_blocks::<BlockQ8K>(vy),
        |q, qh, j| {
            // Bit 2j of qh[l]: 5th bit of sub-block 2j's value l; 2j+1 likewise.
            let hbit = |b: u8| {
                let m = u8x16_splat(b);
                v128_and(i8x16_eq(v128_and(qh, m), m), k16)
            };
            (
                v128_or(v128_and(q, m4), hbit(1 << (2 * j))),
                v128_or(u8x16_shr(q, 4), hbit(2 << (2 * j))),
            )
        },
    )
}

/// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
/// `values(qs16, qh16, j)` unpacks 16 bytes of `qs` (and the matching 16
/// of `qh`, zero for Q4_K) into 16 values of sub-block `2j` and 16 of
/// `2j + 1`, each at most 31: four products of |v·y| <= 3968 fit i16.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn k_quant_4bit<'a>(
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
    values: impl Fn(v128, v128, usize) -> (v128, v128),
) -> f32 {
    let mut sums = [f32x4_splat(0.0); 2];
    let mut sumf = 0.0f32;
    for ((d, dmin, sc, qs, qh), y) in x.zip(y) {
        let (scales, mins) = k4_scales_mins(sc);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += y.bsum(j) as i32 * mins[j / 2] as i32;
        }
        let q8: &[u8] = bytemuck::cast_slice(&y.qs);
        let qh = |h: usize| qh.map_or(i8x16_splat(0), |qh| load16(&qh[16 * h..]));
        let mut aux = [i32x4_splat(0); 2];
        for j in 0..4 {
            let (lo_a, hi_a) = values(load16(&qs[32 * j..]), qh(0), j);
            let (lo_b, hi_b) = values(load16(&qs[32 * j + 16..]), qh(1), j);
            let y = &q8[64 * j..];
            let lo = i16x8_add(
                dot16_i16(lo_a, load16(y)),
                dot16_i16(lo_b, load16(&y[16..])),
            );
            let hi = i16x8_add(
                dot16_i16(hi_a, load16(&y[32..])),
                dot16_i16(hi_b, load16(&y[48..])),
            );
            mul_add_scale(&mut aux, lo, scales[2 * j] as i16);
            mul_add_scale(&mut aux, hi, scales[2 * j + 1] as i16);
        }
        add_lanes(&mut sums, f16_le(d) * y.d(), aux);
        let dmin = f16_le(dmin) * y.d();
        sumf -= dmin * sumi as f32;
    }
    finish(sumf, sums)
}

/// `ggml_vec_dot_q6_K_q8_K`.
pub(crate) fn vec_dot_q6_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [f32x4_splat(0.0); 2];
    let m4 = u8x16_splat(0x0F);
    let m3 = u8x16_splat(3);
    for (x, y) in as_blocks::<BlockQ6K>(vx)
        .iter()
        .zip(as_blocks::<BlockQ8K>(vy))
    {
        let q8: &[u8] = bytemuck::cast_slice(&y.qs);
        let mut aux = [i32x4_splat(0); 2];
        for n in 0..2 {
            for h in 0..2 {
                let ql0 = load16(&x.ql[64 * n + 16 * h..]);
                let ql1 = load16(&x.ql[64 * n + 32 + 16 * h..]);
                let qh = load16(&x.qh[32 * n + 16 * h..]);
                let q = [
                    v128_or(v128_and(ql0, m4), i8x16_shl(v128_and(qh, m3), 4)),
                    v128_or(
                        v128_and(ql1, m4),
                        i8x16_shl(v128_and(u8x16_shr(qh, 2), m3), 4),
                    ),
                    v128_or(
                        u8x16_shr(ql0, 4),
                        i8x16_shl(v128_and(u8x16_shr(qh, 4), m3), 4),
                    ),
                    v128_or(u8x16_shr(ql1, 4), i8x16_shl(u8x16_shr(qh, 6), 4)),
                ];
                for (t, q) in q.into_iter().enumerate() {
                    // Values 128n + 32t + 16h + 0..16: one sub-block.
                    let a = i8x16_sub(q, i8x16_splat(32));
                    let yv = load16(&q8[128 * n + 32 * t + 16 * h..]);
                    // |a·y| <= 4096, two of them fit i16.
                    mul_add_scale(
                        &mut aux,
                        dot16_i16(a, yv),
                        x.scales[8 * n + 2 * t + h] as i16,
                    );
                }
            }
        }
        add_lanes(&mut sums, f16_le(x.d) * y.d(), aux);
    }
    finish(0.0, sums)
}

/// `ggml_vec_dot_f32` with the scalar branch's f64 sum: f32 products,
/// added in f64 over 4 f64x2 accumulators.
pub(crate) fn vec_dot_f32(vx: &[u8], y: &[f32]) -> f32 {
    let n = (vx.len() / 4).min(y.len());
    let yb: &[u8] = bytemuck::cast_slice(y);
    let mut acc = [f64x2_splat(0.0); 4];
    let mut i = 0;
    while i + 8 <= n {
        for h in 0..2 {
            let p = f32x4_mul(
                load16(&vx[4 * (i + 4 * h)..]),
                load16(&yb[4 * (i + 4 * h)..]),
            );
            acc[2 * h] = f64x2_add(acc[2 * h], f64x2_promote_low_f32x4(p));
            let p_hi = i32x4_shuffle::<2, 3, 0, 1>(p, p);
            acc[2 * h + 1] = f64x2_add(acc[2 * h + 1], f64x2_promote_low_f32x4(p_hi));
        }
        i += 8;
    }
    let a = f64x2_add(f64x2_add(acc[0], acc[1]), f64x2_add(acc[2], acc[3]));
    let mut sumf = f64x2_extract_lane::<0>(a) + f64x2_extract_lane::<1>(a);
    while i < n {
        let w = f32::from_le_bytes([vx[4 * i], vx[4 * i + 1], vx[4 * i + 2], vx[4 * i + 3]]);
        sumf += (w * y[i]) as f64;
        i += 1;
    }
    sumf as f32
}

/// Add the f32 products `w[k] * y[k]` of 8 lanes (two f32x4 each) to four
/// f64x2 sums, as [`f32_dot`] does.
#[inline(always)]
fn add_products8(acc: &mut [v128; 4], w: [v128; 2], y: &[u8]) {
    for h in 0..2 {
        let p = f32x4_mul(w[h], load16(&y[16 * h..]));
        acc[2 * h] = f64x2_add(acc[2 * h], f64x2_promote_low_f32x4(p));
        let p_hi = i32x4_shuffle::<2, 3, 0, 1>(p, p);
        acc[2 * h + 1] = f64x2_add(acc[2 * h + 1], f64x2_promote_low_f32x4(p_hi));
    }
}

#[inline(always)]
fn sum_f64x2(acc: [v128; 4]) -> f64 {
    let a = f64x2_add(f64x2_add(acc[0], acc[1]), f64x2_add(acc[2], acc[3]));
    f64x2_extract_lane::<0>(a) + f64x2_extract_lane::<1>(a)
}

/// Eight 16-bit values as the high halves of two f32x4 (lanes 0..4, 4..8).
#[inline(always)]
fn halves_high(h: v128) -> [v128; 2] {
    let zero = i16x8_splat(0);
    [
        i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(zero, h),
        i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(zero, h),
    ]
}

/// F16 weights times f32 activations: f32 products summed in f64, as the
/// reference (in another order). Halves become f32 as the simd128
/// dequantizer converts them (exactly: fields moved, times 2^112); a group
/// of 8 holding an infinity or NaN takes the scalar conversion.
pub(crate) fn vec_dot_f16(vx: &[u8], y: &[f32]) -> f32 {
    let n = (vx.len() / 2).min(y.len());
    let yb: &[u8] = bytemuck::cast_slice(y);
    let scale = f32x4_splat(f32::from_bits(0x7780_0000)); // 0x1.0p+112f
                                                          // sign to bit 31, exponent and mantissa to bits 13..=27
    let to_f32 = |w: v128| {
        f32x4_mul(
            v128_and(i32x4_shr(w, 3), i32x4_splat(0x8FFF_E000_u32 as i32)),
            scale,
        )
    };
    let mut acc = [f64x2_splat(0.0); 4];
    let mut sumf = 0.0f64;
    let mut i = 0;
    while i + 8 <= n {
        let h = load16(&vx[2 * i..]);
        let exp = v128_and(h, i16x8_splat(0x7C00));
        if v128_any_true(i16x8_eq(exp, i16x8_splat(0x7C00))) {
            for k in i..i + 8 {
                let w = fp16_to_f32(u16::from_le_bytes([vx[2 * k], vx[2 * k + 1]]));
                sumf += (w * y[k]) as f64;
            }
        } else {
            let [lo, hi] = halves_high(h);
            add_products8(&mut acc, [to_f32(lo), to_f32(hi)], &yb[4 * i..]);
        }
        i += 8;
    }
    sumf += sum_f64x2(acc);
    while i < n {
        let w = fp16_to_f32(u16::from_le_bytes([vx[2 * i], vx[2 * i + 1]]));
        sumf += (w * y[i]) as f64;
        i += 1;
    }
    sumf as f32
}

/// BF16 weights times f32 activations, as [`f16_dot`]; a bfloat16 is the
/// high half of its f32, infinities and NaNs included.
pub(crate) fn vec_dot_bf16(vx: &[u8], y: &[f32]) -> f32 {
    let n = (vx.len() / 2).min(y.len());
    let yb: &[u8] = bytemuck::cast_slice(y);
    let mut acc = [f64x2_splat(0.0); 4];
    let mut i = 0;
    while i + 8 <= n {
        add_products8(&mut acc, halves_high(load16(&vx[2 * i..])), &yb[4 * i..]);
        i += 8;
    }
    let mut sumf = sum_f64x2(acc);
    while i < n {
        let w = bf16_to_f32(u16::from_le_bytes([vx[2 * i], vx[2 * i + 1]]));
        sumf += (w * y[i]) as f64;
        i += 1;
    }
    sumf as f32
}
