//! F32, F16 and BF16: ggml's conversions (`ggml_fp32_to_fp16_row`,
//! `ggml_fp32_to_bf16_row_ref`), their inverses, and `ggml_vec_dot_f32` /
//! `_f16` / `_bf16`.

use super::*;

/// `ggml_fp16_to_fp32_row`.
pub fn dequantize_row_f16(x: &[u8], y: &mut [f32]) {
    for (b, o) in x.chunks_exact(2).zip(y.iter_mut()) {
        *o = fp16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// `ggml_bf16_to_fp32_row`.
pub fn dequantize_row_bf16(x: &[u8], y: &mut [f32]) {
    for (b, o) in x.chunks_exact(2).zip(y.iter_mut()) {
        *o = bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// Little-endian f32 copy.
pub fn dequantize_row_f32(x: &[u8], y: &mut [f32]) {
    for (b, o) in x.chunks_exact(4).zip(y.iter_mut()) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
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

/// F32 stored as it is (little-endian).
pub(crate) fn quantize_row_f32_ref(x: &[f32], y: &mut [u8]) {
    for (o, v) in y.chunks_exact_mut(4).zip(x) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// `ggml_fp32_to_fp16_row`.
pub(crate) fn quantize_row_f16_ref(x: &[f32], y: &mut [u8]) {
    for (o, &v) in y.chunks_exact_mut(2).zip(x) {
        o.copy_from_slice(&fp32_to_fp16(v).to_le_bytes());
    }
}

/// `ggml_fp32_to_bf16_row_ref`.
pub(crate) fn quantize_row_bf16_ref(x: &[f32], y: &mut [u8]) {
    for (o, &v) in y.chunks_exact_mut(2).zip(x) {
        o.copy_from_slice(&fp32_to_bf16(v).to_le_bytes());
    }
}
