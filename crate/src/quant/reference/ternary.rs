//! The ternary formats TQ1_0 and TQ2_0: quantizers, dequantizers, dot
//! products.

use super::*;

/// `quantize_row_tq1_0_ref`: ternary digits, five per byte in `qs`,
/// four (times 3) per byte in `qh`, stored as `ceil(q * 256 / 243)`.
pub fn quantize_row_tq1_0_ref(x: &[f32], y: &mut [BlockTq1_0]) {
    /// `lroundf(v * id) + 1` as ggml's `int xi`.
    #[inline(always)]
    fn trit(v: f32, id: f32) -> i32 {
        lroundf(v * id).wrapping_add(1) as i32
    }
    /// `q = q * 3 + xi` in `uint8_t`.
    #[inline(always)]
    fn push(q: u8, xi: i32) -> u8 {
        let q = (q as i32 * 3) as u8;
        (q as i32).wrapping_add(xi) as u8
    }
    /// ceiling division (243 == pow(3, 5))
    #[inline(always)]
    fn ceil_div(q: u8) -> u8 {
        ((q as i32 * 256 + (243 - 1)) / 243) as u8
    }
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
        let d = amax;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        // 5 elements per byte, along 32 bytes
        let x0 = &x[..160];
        for m in 0..32 {
            let mut q = 0u8;
            for n in 0..5 {
                q = push(q, trit(x0[m + n * 32], id));
            }
            y.qs[m] = ceil_div(q);
        }
        // along 16 bytes
        let x1 = &x[160..240];
        for m in 0..16 {
            let mut q = 0u8;
            for n in 0..5 {
                q = push(q, trit(x1[m + n * 16], id));
            }
            y.qs[32 + m] = ceil_div(q);
        }
        // 4 elements per byte
        let x2 = &x[240..];
        for j in 0..4 {
            let mut q = 0u8;
            for m in 0..4 {
                q = push(q, trit(x2[j + m * 4], id));
            }
            // shift the first value to the most significant trit
            q = (q as i32 * 3) as u8;
            y.qh[j] = ceil_div(q);
        }
    }
}

/// `quantize_row_tq2_0_ref`: 2 bits per weight, `q = round(x / amax) + 1`.
pub fn quantize_row_tq2_0_ref(x: &[f32], y: &mut [BlockTq2_0]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
        let d = amax;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp16(d);
        for (j, x) in x.chunks_exact(128).enumerate() {
            for m in 0..32 {
                let mut q = 0i32;
                for n in 0..4 {
                    let xi = lroundf(x[m + n * 32] * id).wrapping_add(1) as i32;
                    q += (xi & 3) << (2 * n);
                }
                y.qs[32 * j + m] = q as u8;
            }
        }
    }
}

/// `dequantize_row_tq1_0`.
pub fn dequantize_row_tq1_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockTq1_0, QK_K>(x, y) {
        let d = f16_le(b.d);
        let mut out = y.iter_mut();
        // qs[0..32] then qs[32..48], 5 digits each, then qh, 4 digits.
        for chunk in [&b.qs[..32], &b.qs[32..]] {
            for &p in &TQ1_POW3[..5] {
                for (&q, o) in chunk.iter().zip(out.by_ref()) {
                    *o = (tq1_digit(q, p) - 1) as f32 * d;
                }
            }
        }
        for &p in &TQ1_POW3[..4] {
            for (&q, o) in b.qh.iter().zip(out.by_ref()) {
                *o = (tq1_digit(q, p) - 1) as f32 * d;
            }
        }
    }
}

/// `dequantize_row_tq2_0`.
pub fn dequantize_row_tq2_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockTq2_0, QK_K>(x, y) {
        let d = f16_le(b.d);
        let mut out = y.iter_mut();
        for q in b.qs.chunks_exact(32) {
            for l in 0..4 {
                for (&v, o) in q.iter().zip(out.by_ref()) {
                    let q = ((v >> (l * 2)) & 3) as i32;
                    *o = (q - 1) as f32 * d;
                }
            }
        }
    }
}

/// `ggml_vec_dot_tq1_0_q8_K_generic`.
pub fn vec_dot_tq1_0_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in block_pairs::<BlockTq1_0, BlockQ8K>(vx, vy) {
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
    for (x, y) in block_pairs::<BlockTq2_0, BlockQ8K>(vx, vy) {
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
