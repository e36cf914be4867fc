//! Scalar ports of ggml's generic dot products (`ggml_vec_dot_*_generic` in
//! `ggml-cpu/quants.c`, `ggml_vec_dot_f32` / `_f16` / `_bf16` in `vec.cpp`),
//! the ground truth the SIMD paths are tested against.
//!
//! Each function takes whole weight blocks in `vx` and the matching
//! activation blocks in `vy` (the public entry points check lengths). The
//! float expressions keep ggml's operand order exactly, because float
//! addition and multiplication are not associative: `sumi*dx*dy` and
//! `sumi*(dx*dy)` round differently. Integer sums are exact, so their order
//! is free.

// Index loops keep ggml's C loop structure, which is what makes the port
// checkable line by line.
#![allow(clippy::needless_range_loop)]

use crate::quant::blocks::dequant::layout::*;
use crate::quant::blocks::dequant::{
    as_blocks, bf16_to_f32, e8m0_to_f32_half, f16_le, fp16_to_f32, iq4xs_scale, k4_scales_mins,
    q3k_scales, tq1_digit, KVALUES_IQ4NL, KVALUES_MXFP4, TQ1_POW3,
};

/// Weight blocks paired with their activation blocks.
#[inline(always)]
fn pairs<'a, X: bytemuck::Pod, Y: bytemuck::Pod>(
    vx: &'a [u8],
    vy: &'a [u8],
) -> impl Iterator<Item = (&'a X, &'a Y)> {
    as_blocks::<X>(vx).iter().zip(as_blocks::<Y>(vy))
}

/// `ggml_vec_dot_q4_0_q8_0_generic`.
pub fn vec_dot_q4_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ4_0, BlockQ8_0>(vx, vy) {
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let v0 = (x.qs[j] & 0x0F) as i32 - 8;
            let v1 = (x.qs[j] >> 4) as i32 - 8;
            sumi0 += v0 * y.qs[j] as i32;
            sumi1 += v1 * y.qs[j + 16] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += sumi as f32 * f16_le(x.d) * f16_le(y.d);
    }
    sumf
}

/// `ggml_vec_dot_q4_1_q8_1_generic`.
pub fn vec_dot_q4_1_q8_1(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ4_1, BlockQ8_1>(vx, vy) {
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let v0 = (x.qs[j] & 0x0F) as i32;
            let v1 = (x.qs[j] >> 4) as i32;
            sumi0 += v0 * y.qs[j] as i32;
            sumi1 += v1 * y.qs[j + 16] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (f16_le(x.d) * f16_le(y.d)) * sumi as f32 + f16_le(x.m) * f16_le(y.s);
    }
    sumf
}

/// `ggml_vec_dot_q5_0_q8_0_generic`.
pub fn vec_dot_q5_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ5_0, BlockQ8_0>(vx, vy) {
        let qh = u32::from_le_bytes(x.qh);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let xh_0 = (((qh & (1u32 << j)) >> j) << 4) as u8;
            let xh_1 = ((qh & (1u32 << (j + 16))) >> (j + 12)) as u8;
            let x0 = ((x.qs[j] & 0x0F) | xh_0) as i32 - 16;
            let x1 = ((x.qs[j] >> 4) | xh_1) as i32 - 16;
            sumi0 += x0 * y.qs[j] as i32;
            sumi1 += x1 * y.qs[j + 16] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (f16_le(x.d) * f16_le(y.d)) * sumi as f32;
    }
    sumf
}

/// `ggml_vec_dot_q5_1_q8_1_generic`.
pub fn vec_dot_q5_1_q8_1(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ5_1, BlockQ8_1>(vx, vy) {
        let qh = u32::from_le_bytes(x.qh);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let xh_0 = (((qh >> j) << 4) & 0x10) as i32;
            let xh_1 = ((qh >> (j + 12)) & 0x10) as i32;
            let x0 = (x.qs[j] & 0xF) as i32 | xh_0;
            let x1 = (x.qs[j] >> 4) as i32 | xh_1;
            sumi0 += x0 * y.qs[j] as i32;
            sumi1 += x1 * y.qs[j + 16] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (f16_le(x.d) * f16_le(y.d)) * sumi as f32 + f16_le(x.m) * f16_le(y.s);
    }
    sumf
}

/// `ggml_vec_dot_q8_0_q8_0_generic`.
pub fn vec_dot_q8_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ8_0, BlockQ8_0>(vx, vy) {
        let sumi: i32 =
            x.qs.iter()
                .zip(&y.qs)
                .map(|(&a, &b)| a as i32 * b as i32)
                .sum();
        sumf += sumi as f32 * (f16_le(x.d) * f16_le(y.d));
    }
    sumf
}

/// `ggml_vec_dot_mxfp4_q8_0_generic`.
pub fn vec_dot_mxfp4_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockMxfp4, BlockQ8_0>(vx, vy) {
        let d = f16_le(y.d) * e8m0_to_f32_half(x.e);
        let mut sumi1 = 0i32;
        let mut sumi2 = 0i32;
        for j in 0..16 {
            sumi1 += y.qs[j] as i32 * KVALUES_MXFP4[(x.qs[j] & 0xf) as usize] as i32;
            sumi2 += y.qs[j + 16] as i32 * KVALUES_MXFP4[(x.qs[j] >> 4) as usize] as i32;
        }
        sumf += d * (sumi1 + sumi2) as f32;
    }
    sumf
}

/// `ggml_vec_dot_iq4_nl_q8_0_generic`.
pub fn vec_dot_iq4_nl_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIq4Nl, BlockQ8_0>(vx, vy) {
        let d = f16_le(y.d) * f16_le(x.d);
        let mut sumi1 = 0i32;
        let mut sumi2 = 0i32;
        for j in 0..16 {
            sumi1 += y.qs[j] as i32 * KVALUES_IQ4NL[(x.qs[j] & 0xf) as usize] as i32;
            sumi2 += y.qs[j + 16] as i32 * KVALUES_IQ4NL[(x.qs[j] >> 4) as usize] as i32;
        }
        sumf += d * (sumi1 + sumi2) as f32;
    }
    sumf
}

/// `ggml_vec_dot_tq1_0_q8_K_generic`.
pub fn vec_dot_tq1_0_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockTq1_0, BlockQ8K>(vx, vy) {
        let mut sum = 0i32;
        // qs[0..32]: 5 digits each, activations j*5 + l*32 + m.
        for l in 0..5 {
            for m in 0..32 {
                let xi = tq1_digit(x.qs[m], TQ1_POW3[l]);
                sum += (xi - 1) * y.qs[l * 32 + m] as i32;
            }
        }
        // qs[32..48]: 5 digits each, in groups of 16.
        for l in 0..5 {
            for m in 0..16 {
                let xi = tq1_digit(x.qs[32 + m], TQ1_POW3[l]);
                sum += (xi - 1) * y.qs[32 * 5 + l * 16 + m] as i32;
            }
        }
        // qh: 4 digits each.
        for l in 0..4 {
            for j in 0..4 {
                let xi = tq1_digit(x.qh[j], TQ1_POW3[l]);
                sum += (xi - 1) * y.qs[48 * 5 + l * 4 + j] as i32;
            }
        }
        sumf += sum as f32 * (f16_le(x.d) * y.d());
    }
    sumf
}

/// `ggml_vec_dot_tq2_0_q8_K_generic`.
pub fn vec_dot_tq2_0_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockTq2_0, BlockQ8K>(vx, vy) {
        let mut sumi = 0i32;
        for j in (0..64).step_by(32) {
            for l in 0..4 {
                for k in 0..32 {
                    let q = ((x.qs[j + k] >> (l * 2)) & 3) as i32 - 1;
                    sumi += y.qs[j * 4 + l * 32 + k] as i32 * q;
                }
            }
        }
        let d = y.d() * f16_le(x.d);
        sumf += sumi as f32 * d;
    }
    sumf
}

/// `ggml_vec_dot_q2_K_q8_K_generic`.
pub fn vec_dot_q2_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ2K, BlockQ8K>(vx, vy) {
        let sc = &x.scales;
        let mut summs = 0i32;
        for (j, &s) in sc.iter().enumerate() {
            summs += y.bsum(j) as i32 * (s >> 4) as i32;
        }
        let dall = y.d() * f16_le(x.d);
        let dmin = y.d() * f16_le(x.dmin);

        let mut isum = 0i32;
        let mut is = 0;
        for (k, q2) in x.qs.chunks_exact(32).enumerate() {
            for j in 0..4 {
                let shift = 2 * j;
                let q8 = &y.qs[128 * k + 32 * j..128 * k + 32 * j + 32];
                for half in 0..2 {
                    let d = (sc[is] & 0xF) as i32;
                    is += 1;
                    let mut isuml = 0i32;
                    for l in 16 * half..16 * half + 16 {
                        isuml += q8[l] as i32 * ((q2[l] >> shift) & 3) as i32;
                    }
                    isum += d * isuml;
                }
            }
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// The 8-lane float tail shared by the q3_K..q6_K generic functions:
/// `sums[l] += d * aux32[l]` per block, then `sumf += sums[l]` in lane order.
#[inline(always)]
fn add_lanes(sums: &mut [f32; 8], d: f32, aux32: &[i32; 8]) {
    for (s, &a) in sums.iter_mut().zip(aux32) {
        *s += d * a as f32;
    }
}

/// `aux32[l] += scale * q8[k] * a[k]` over `k ≡ l (mod 8)`, for a run of
/// `q8.len()` values sharing one scale (ggml's `aux16`/`aux32` loops; the
/// `int16` products cannot overflow for these formats: |q8*a| <= 128*32).
#[inline(always)]
fn mul_add_lanes(aux32: &mut [i32; 8], scale: i32, q8: &[i8], a: &[i8]) {
    for (q8, a) in q8.chunks_exact(8).zip(a.chunks_exact(8)) {
        for l in 0..8 {
            aux32[l] += scale * (q8[l] as i32 * a[l] as i32);
        }
    }
}

/// `ggml_vec_dot_q3_K_q8_K_generic`.
pub fn vec_dot_q3_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut aux8 = [0i8; 256];
    for (x, y) in pairs::<BlockQ3K, BlockQ8K>(vx, vy) {
        let mut a = aux8.iter_mut();
        let mut m: u8 = 1;
        for q3 in x.qs.chunks_exact(32) {
            for shift in [0, 2, 4, 6] {
                // The slices lead the zip: a by_ref iterator in front would lose
                // one element each time the shorter side runs out.
                for ((&q, &h), o) in q3.iter().zip(&x.hmask).zip(a.by_ref()) {
                    *o = ((q >> shift) & 3) as i8 - if h & m != 0 { 0 } else { 4 };
                }
                m = m.wrapping_shl(1);
            }
        }
        let scales = q3k_scales(&x.scales);
        let mut aux32 = [0i32; 8];
        for (j, &s) in scales.iter().enumerate() {
            let r = 16 * j..16 * j + 16;
            mul_add_lanes(&mut aux32, s as i32 - 32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
    }
    sums.iter().fold(0.0f32, |s, &v| s + v)
}

/// `ggml_vec_dot_q4_K_q8_K_generic`.
pub fn vec_dot_q4_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    let mut aux8 = [0i8; 256];
    for (x, y) in pairs::<BlockQ4K, BlockQ8K>(vx, vy) {
        for (q4, a) in x.qs.chunks_exact(32).zip(aux8.chunks_exact_mut(64)) {
            for (l, &q) in q4.iter().enumerate() {
                a[l] = (q & 0xF) as i8;
                a[l + 32] = (q >> 4) as i8;
            }
        }
        let (scales, mins) = k4_scales_mins(&x.scales);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += y.bsum(j) as i32 * mins[j / 2] as i32;
        }
        let mut aux32 = [0i32; 8];
        for (j, &s) in scales.iter().enumerate() {
            let r = 32 * j..32 * j + 32;
            mul_add_lanes(&mut aux32, s as i32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
        let dmin = f16_le(x.dmin) * y.d();
        sumf -= dmin * sumi as f32;
    }
    sums.iter().fold(sumf, |s, &v| s + v)
}

/// `ggml_vec_dot_q5_K_q8_K_generic`.
pub fn vec_dot_q5_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    let mut aux8 = [0i8; 256];
    for (x, y) in pairs::<BlockQ5K, BlockQ8K>(vx, vy) {
        let mut m: u8 = 1;
        for (q4, a) in x.qs.chunks_exact(32).zip(aux8.chunks_exact_mut(64)) {
            for (l, (&q, &h)) in q4.iter().zip(&x.qh).enumerate() {
                a[l] = (q & 0xF) as i8 + if h & m != 0 { 16 } else { 0 };
                a[l + 32] = (q >> 4) as i8 + if h & (m << 1) != 0 { 16 } else { 0 };
            }
            m = m.wrapping_shl(2);
        }
        let (scales, mins) = k4_scales_mins(&x.scales);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += y.bsum(j) as i32 * mins[j / 2] as i32;
        }
        let mut aux32 = [0i32; 8];
        for (j, &s) in scales.iter().enumerate() {
            let r = 32 * j..32 * j + 32;
            mul_add_lanes(&mut aux32, s as i32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
        let dmin = f16_le(x.dmin) * y.d();
        sumf -= dmin * sumi as f32;
    }
    sums.iter().fold(sumf, |s, &v| s + v)
}

/// `ggml_vec_dot_q6_K_q8_K_generic`.
pub fn vec_dot_q6_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut aux8 = [0i8; 256];
    for (x, y) in pairs::<BlockQ6K, BlockQ8K>(vx, vy) {
        for (n, a) in aux8.chunks_exact_mut(128).enumerate() {
            let q4 = &x.ql[64 * n..64 * n + 64];
            let qh = &x.qh[32 * n..32 * n + 32];
            for l in 0..32 {
                a[l] = ((q4[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
                a[l + 32] = ((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                a[l + 64] = ((q4[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                a[l + 96] = ((q4[l + 32] >> 4) | ((qh[l] >> 6) << 4)) as i8 - 32;
            }
        }
        let mut aux32 = [0i32; 8];
        for (j, &s) in x.scales.iter().enumerate() {
            let r = 16 * j..16 * j + 16;
            mul_add_lanes(&mut aux32, s as i32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
    }
    sums.iter().fold(0.0f32, |s, &v| s + v)
}

/// `ggml_vec_dot_iq4_xs_q8_K_generic`.
pub fn vec_dot_iq4_xs_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIq4Xs, BlockQ8K>(vx, vy) {
        let d4d8 = f16_le(x.d) * y.d();
        for ib in 0..8 {
            let dl = d4d8 * (iq4xs_scale(x, ib) - 32) as f32;
            let qs = &x.qs[16 * ib..16 * ib + 16];
            let q8 = &y.qs[32 * ib..32 * ib + 32];
            let mut sumi1 = 0i32;
            let mut sumi2 = 0i32;
            for j in 0..16 {
                sumi1 += q8[j] as i32 * KVALUES_IQ4NL[(qs[j] & 0xf) as usize] as i32;
                sumi2 += q8[j + 16] as i32 * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as i32;
            }
            sumf += dl * (sumi1 + sumi2) as f32;
        }
    }
    sumf
}

/// `ggml_vec_dot_f32`, scalar branch: products rounded to `f32`, summed in
/// `ggml_float` (f64).
pub fn vec_dot_f32(vx: &[u8], y: &[f32]) -> f32 {
    let mut sumf = 0.0f64;
    for (b, &y) in vx.chunks_exact(4).zip(y) {
        sumf += (f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * y) as f64;
    }
    sumf as f32
}

/// F16 weights times f32 activations, summed like the scalar
/// `ggml_vec_dot_f16` (f32 products, f64 sum). ggml would first round the
/// activations to f16; webquant keeps them in f32.
pub fn vec_dot_f16(vx: &[u8], y: &[f32]) -> f32 {
    let mut sumf = 0.0f64;
    for (b, &y) in vx.chunks_exact(2).zip(y) {
        sumf += (fp16_to_f32(u16::from_le_bytes([b[0], b[1]])) * y) as f64;
    }
    sumf as f32
}

/// BF16 weights times f32 activations, as [`vec_dot_f16`].
pub fn vec_dot_bf16(vx: &[u8], y: &[f32]) -> f32 {
    let mut sumf = 0.0f64;
    for (b, &y) in vx.chunks_exact(2).zip(y) {
        sumf += (bf16_to_f32(u16::from_le_bytes([b[0], b[1]])) * y) as f64;
    }
    sumf as f32
}
