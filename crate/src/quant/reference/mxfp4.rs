//! MXFP4 (E2M1 values with a shared E8M0 scale per 32): quantizer,
//! dequantizer, dot product.

use super::*;

/// `best_index_mxfp4`: first index of the smallest `|kvalues[i] * e - x|`.
#[inline]
pub(crate) fn best_index_mxfp4(x: f32, e: f32) -> u8 {
    let mut best_index = 0u8;
    let mut best_err = (KVALUES_MXFP4[0] as f32 * e - x).abs();
    for (i, &k) in KVALUES_MXFP4.iter().enumerate().skip(1) {
        let err = (k as f32 * e - x).abs();
        if err < best_err {
            best_index = i as u8;
            best_err = err;
        }
    }
    best_index
}

/// `floorf(log2f(amax))` for finite `amax > 0`. Computed in f64 and
/// rounded to f32 as a correctly rounded `log2f` would (glibc's is, at
/// these points), so just below a power of two the result rounds up to
/// the integer exactly as ggml's does, on every platform.
#[inline]
pub(crate) fn floor_log2f(amax: f32) -> f32 {
    ((amax as f64).log2() as f32).floor()
}

/// `quantize_row_mxfp4_ref`: E8M0 exponent `floor(log2(amax)) - 2 + 127`,
/// then nearest E2M1 value.
pub fn quantize_row_mxfp4_ref(x: &[f32], y: &mut [BlockMxfp4]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let mut amax = 0f32;
        for &v in x {
            if amax < v.abs() {
                amax = v.abs();
            }
        }
        // (uint8_t)(floorf(log2f(amax)) - 2 + 127), wrapping as x86 does
        // for amax below 2^-125.
        let e = if amax > 0.0 {
            f32_to_i32_x86(floor_log2f(amax) - 2.0 + 127.0) as u8
        } else {
            0
        };
        let d = crate::quant::layout::e8m0_to_f32_half(e);
        y.e = e;
        for j in 0..16 {
            let x0 = best_index_mxfp4(x[j], d);
            let x1 = best_index_mxfp4(x[16 + j], d);
            y.qs[j] = x0 | (x1 << 4);
        }
    }
}

/// `dequantize_row_mxfp4`.
pub fn dequantize_row_mxfp4(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockMxfp4, 32>(x, y) {
        let d = e8m0_to_f32_half(b.e);
        for j in 0..16 {
            let x0 = KVALUES_MXFP4[(b.qs[j] & 0x0F) as usize];
            let x1 = KVALUES_MXFP4[(b.qs[j] >> 4) as usize];
            y[j] = x0 as f32 * d;
            y[j + 16] = x1 as f32 * d;
        }
    }
}

/// `ggml_vec_dot_mxfp4_q8_0_generic`.
pub fn vec_dot_mxfp4_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in block_pairs::<BlockMxfp4, BlockQ8_0>(vx, vy) {
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
