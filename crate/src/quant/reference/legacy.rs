//! The 32-value formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1:
//! `quantize_row_*_ref`, the importance-weighted `quantize_row_*_impl`,
//! `dequantize_row_*` and `ggml_vec_dot_*_q8_*`.

use super::*;

/// `quantize_row_q4_0_ref`: `d = max / -8` (signed max by magnitude).
pub fn quantize_row_q4_0_ref(x: &[f32], y: &mut [BlockQ4_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let mut amax = 0f32;
        let mut max = 0f32;
        for &v in x {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        for j in 0..16 {
            let x0 = x[j] * id;
            let x1 = x[16 + j] * id;
            // MIN(15, (int8_t)(x0 + 8.5f))
            let xi0 = (f32_to_i32_x86(x0 + 8.5) as i8).min(15) as u8;
            let xi1 = (f32_to_i32_x86(x1 + 8.5) as i8).min(15) as u8;
            y.qs[j] = xi0 | (xi1 << 4);
        }
    }
}

/// `quantize_row_q4_1_ref`: `d = (max - min) / 15`, `m = min`.
pub fn quantize_row_q4_1_ref(x: &[f32], y: &mut [BlockQ4_1]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        y.m = fp16(min);
        for j in 0..16 {
            let x0 = (x[j] - min) * id;
            let x1 = (x[16 + j] - min) * id;
            let xi0 = (f32_to_i32_x86(x0 + 0.5) as i8).min(15) as u8;
            let xi1 = (f32_to_i32_x86(x1 + 0.5) as i8).min(15) as u8;
            y.qs[j] = xi0 | (xi1 << 4);
        }
    }
}

/// Q5_0/Q5_1 packing: low nibbles in `qs`, fifth bits in `qh`.
#[inline(always)]
pub(crate) fn pack_q5(l: &[u8], qs: &mut [u8; 16], qh_out: &mut [u8; 4]) {
    let mut qh = 0u32;
    for j in 0..16 {
        let (xi0, xi1) = (l[j], l[j + 16]);
        qs[j] = (xi0 & 0x0F) | ((xi1 & 0x0F) << 4);
        qh |= (((xi0 & 0x10) >> 4) as u32) << j;
        qh |= (((xi1 & 0x10) >> 4) as u32) << (j + 16);
    }
    *qh_out = qh.to_le_bytes();
}

/// `quantize_row_q5_0_ref`: `d = max / -16`.
pub fn quantize_row_q5_0_ref(x: &[f32], y: &mut [BlockQ5_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let mut amax = 0f32;
        let mut max = 0f32;
        for &v in x {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        let mut l = [0u8; 32];
        for (l, &v) in l.iter_mut().zip(x) {
            // MIN(31, (int8_t)(x0 + 16.5f))
            *l = (f32_to_i32_x86(v * id + 16.5) as i8).min(31) as u8;
        }
        pack_q5(&l, &mut y.qs, &mut y.qh);
    }
}

/// `quantize_row_q5_1_ref`: `d = (max - min) / 31`, `m = min`.
pub fn quantize_row_q5_1_ref(x: &[f32], y: &mut [BlockQ5_1]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        y.m = fp16(min);
        let mut l = [0u8; 32];
        for (l, &v) in l.iter_mut().zip(x) {
            // (uint8_t)(x0 + 0.5f), no clamp in ggml
            *l = f32_to_i32_x86((v - min) * id + 0.5) as u8;
        }
        pack_q5(&l, &mut y.qs, &mut y.qh);
    }
}

/// `quantize_row_q8_0_ref`: `d = amax / 127`, `q = roundf(x / d)`.
pub fn quantize_row_q8_0_ref(x: &[f32], y: &mut [BlockQ8_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        for (q, &v) in y.qs.iter_mut().zip(x) {
            *q = f32_to_i32_x86((v * id).round()) as i8;
        }
    }
}

/// `quantize_row_q8_1_ref`: as Q8_0, plus `s = d * sum(q)`.
pub fn quantize_row_q8_1_ref(x: &[f32], y: &mut [BlockQ8_1]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        let mut sum = 0i32;
        for j in 0..16 {
            y.qs[j] = f32_to_i32_x86((x[j] * id).round()) as i8;
            y.qs[16 + j] = f32_to_i32_x86((x[16 + j] * id).round()) as i8;
            sum += y.qs[j] as i32;
            sum += y.qs[16 + j] as i32;
        }
        y.s = fp16(sum as f32 * d);
    }
}

/// `quantize_row_q4_0_impl`.
pub fn quantize_row_q4_0_impl(x: &[f32], y: &mut [BlockQ4_0], quant_weights: &[f32]) {
    let sigma2 = sum_sq(x) / x.len() as f32;
    let mut weight = [0f32; 32];
    let mut l = [0i8; 32];
    for ((xb, qw), y) in x
        .chunks_exact(32)
        .zip(quant_weights.chunks_exact(32))
        .zip(y)
    {
        imatrix_weights(&mut weight, qw, xb, sigma2);
        let d = make_qx_quants(8, xb, &mut l, Some(&weight));
        y.d = fp16(d);
        for j in 0..16 {
            y.qs[j] = (l[j] as u8) | ((l[j + 16] as u8) << 4);
        }
    }
}

/// `quantize_row_q4_1_impl`.
pub fn quantize_row_q4_1_impl(x: &[f32], y: &mut [BlockQ4_1], quant_weights: &[f32]) {
    let sigma2 = sum_sq(x) / x.len() as f32;
    let mut weight = [0f32; 32];
    let (mut l, mut laux) = ([0u8; 32], [0u8; 32]);
    for ((xb, qw), y) in x
        .chunks_exact(32)
        .zip(quant_weights.chunks_exact(32))
        .zip(y)
    {
        imatrix_weights(&mut weight, qw, xb, sigma2);
        let (d, min) = make_qkx3_quants(15, xb, &weight, &mut l, &mut laux, -0.9, 0.05, 36, false);
        y.d = fp16(d);
        y.m = fp16(-min);
        for j in 0..16 {
            y.qs[j] = l[j] | (l[j + 16] << 4);
        }
    }
}

/// `quantize_row_q5_0_impl`.
pub fn quantize_row_q5_0_impl(x: &[f32], y: &mut [BlockQ5_0], quant_weights: &[f32]) {
    let sigma2 = sum_sq(x) / x.len() as f32;
    let mut weight = [0f32; 32];
    let mut l = [0i8; 32];
    for ((xb, qw), y) in x
        .chunks_exact(32)
        .zip(quant_weights.chunks_exact(32))
        .zip(y)
    {
        imatrix_weights(&mut weight, qw, xb, sigma2);
        let d = make_qx_quants(16, xb, &mut l, Some(&weight));
        y.d = fp16(d);
        let lu: [u8; 32] = l.map(|v| v as u8);
        pack_q5(&lu, &mut y.qs, &mut y.qh);
    }
}

/// `quantize_row_q5_1_impl`.
pub fn quantize_row_q5_1_impl(x: &[f32], y: &mut [BlockQ5_1], quant_weights: &[f32]) {
    let sigma2 = sum_sq(x) / x.len() as f32;
    let mut weight = [0f32; 32];
    let (mut l, mut laux) = ([0u8; 32], [0u8; 32]);
    for ((xb, qw), y) in x
        .chunks_exact(32)
        .zip(quant_weights.chunks_exact(32))
        .zip(y)
    {
        imatrix_weights(&mut weight, qw, xb, sigma2);
        let (d, min) = make_qkx3_quants(31, xb, &weight, &mut l, &mut laux, -0.9, 0.05, 36, false);
        y.d = fp16(d);
        y.m = fp16(-min);
        pack_q5(&l, &mut y.qs, &mut y.qh);
    }
}

/// `dequantize_row_q4_0`.
pub fn dequantize_row_q4_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ4_0, 32>(x, y) {
        let d = f16_le(b.d);
        for j in 0..16 {
            let x0 = (b.qs[j] & 0x0F) as i32 - 8;
            let x1 = (b.qs[j] >> 4) as i32 - 8;
            y[j] = x0 as f32 * d;
            y[j + 16] = x1 as f32 * d;
        }
    }
}

/// `dequantize_row_q4_1`.
pub fn dequantize_row_q4_1(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ4_1, 32>(x, y) {
        let d = f16_le(b.d);
        let m = f16_le(b.m);
        for j in 0..16 {
            let x0 = (b.qs[j] & 0x0F) as i32;
            let x1 = (b.qs[j] >> 4) as i32;
            y[j] = x0 as f32 * d + m;
            y[j + 16] = x1 as f32 * d + m;
        }
    }
}

/// `dequantize_row_q5_0`.
pub fn dequantize_row_q5_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ5_0, 32>(x, y) {
        let d = f16_le(b.d);
        let qh = u32::from_le_bytes(b.qh);
        for j in 0..16 {
            let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
            let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
            let x0 = ((b.qs[j] & 0x0F) | xh_0) as i32 - 16;
            let x1 = ((b.qs[j] >> 4) | xh_1) as i32 - 16;
            y[j] = x0 as f32 * d;
            y[j + 16] = x1 as f32 * d;
        }
    }
}

/// `dequantize_row_q5_1`.
pub fn dequantize_row_q5_1(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ5_1, 32>(x, y) {
        let d = f16_le(b.d);
        let m = f16_le(b.m);
        let qh = u32::from_le_bytes(b.qh);
        for j in 0..16 {
            let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
            let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
            let x0 = ((b.qs[j] & 0x0F) | xh_0) as i32;
            let x1 = ((b.qs[j] >> 4) | xh_1) as i32;
            y[j] = x0 as f32 * d + m;
            y[j + 16] = x1 as f32 * d + m;
        }
    }
}

/// `dequantize_row_q8_0`.
pub fn dequantize_row_q8_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ8_0, 32>(x, y) {
        let d = f16_le(b.d);
        for (o, &q) in y.iter_mut().zip(&b.qs) {
            *o = q as f32 * d;
        }
    }
}

/// Q8_1 has no `to_float` in ggml; like Q8_0 it is `qs * d` (`s` is
/// only a cached sum for the dot product).
pub fn dequantize_row_q8_1(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ8_1, 32>(x, y) {
        let d = f16_le(b.d);
        for (o, &q) in y.iter_mut().zip(&b.qs) {
            *o = q as f32 * d;
        }
    }
}

/// `ggml_vec_dot_q4_0_q8_0_generic`.
pub fn vec_dot_q4_0_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in block_pairs::<BlockQ4_0, BlockQ8_0>(vx, vy) {
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
    for (x, y) in block_pairs::<BlockQ4_1, BlockQ8_1>(vx, vy) {
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
    for (x, y) in block_pairs::<BlockQ5_0, BlockQ8_0>(vx, vy) {
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
    for (x, y) in block_pairs::<BlockQ5_1, BlockQ8_1>(vx, vy) {
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
    for (x, y) in block_pairs::<BlockQ8_0, BlockQ8_0>(vx, vy) {
        let sumi: i32 =
            x.qs.iter()
                .zip(&y.qs)
                .map(|(&a, &b)| a as i32 * b as i32)
                .sum();
        sumf += sumi as f32 * (f16_le(x.d) * f16_le(y.d));
    }
    sumf
}
