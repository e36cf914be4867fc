//! Activation quantizers: ggml's `quantize_row_q8_0_ref`,
//! `quantize_row_q8_1_ref` and `quantize_row_q8_K_ref` (`ggml-quants.c`),
//! bit for bit. These are what the dot products consume on the activation
//! side; the weight quantizers live in `quant::blocks::quantize`.

use crate::error::{Error, Result};
use crate::quant::blocks::dequant::layout::{BlockQ8K, BlockQ8_0, BlockQ8_1};
use crate::quant::blocks::quantize::simd;
use crate::quant::types::{GgmlType, QK_K};

/// `ggml_compute_fp32_to_fp16`: round to nearest even, overflow to
/// infinity, NaN to 0x7E00. Ported rather than taken from `half` so the
/// bits match ggml by construction.
#[inline]
pub(crate) fn fp32_to_fp16(f: f32) -> u16 {
    let scale_to_inf = f32::from_bits(0x7780_0000); // 0x1.0p+112f
    let scale_to_zero = f32::from_bits(0x0880_0000); // 0x1.0p-110f
    let mut base = (f.abs() * scale_to_inf) * scale_to_zero;

    let w = f.to_bits();
    let shl1_w = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    let bias = (shl1_w & 0xFF00_0000).max(0x7100_0000);

    base += f32::from_bits((bias >> 1) + 0x0780_0000);
    let bits = base.to_bits();
    let exp_bits = (bits >> 13) & 0x0000_7C00;
    let mantissa_bits = bits & 0x0000_0FFF;
    let nonsign = exp_bits + mantissa_bits;
    ((sign >> 16)
        | if shl1_w > 0xFF00_0000 {
            0x7E00
        } else {
            nonsign
        }) as u16
}

/// ggml's `nearest_int`: adding 1.5 * 2^23 rounds to the nearest integer,
/// ties to even (not `roundf`'s ties away from zero). Valid for
/// |fval| <= 4194303, which the Q8_K scaling guarantees (|fval| <= 127).
#[inline(always)]
fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// `v.round() as i8` (ties away from zero, as C's `roundf`) for the
/// quantizers' |v| <= 127.x, without the libm call that keeps the loop from
/// vectorizing: `v - trunc(v)` is exact for |v| < 2^23.
#[inline(always)]
fn round_i8(v: f32) -> i8 {
    let t = v as i32;
    let f = v - t as f32;
    // Wrapping: an infinite `v` (a block of subnormals makes `1/d`
    // overflow; C's cast is undefined there) must not panic.
    t.wrapping_add((f >= 0.5) as i32)
        .wrapping_sub((f <= -0.5) as i32) as i8
}

/// `max |x_i|` in 8 lanes (max is exact in any order; inputs are finite,
/// so a plain compare stands in for `f32::max`'s NaN handling).
#[inline(always)]
fn amax(x: &[f32]) -> f32 {
    let mut m = [0.0f32; 8];
    let c = x.chunks_exact(8);
    let tail = c.remainder().iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for v in c {
        for i in 0..8 {
            let a = v[i].abs();
            m[i] = if a > m[i] { a } else { m[i] };
        }
    }
    m.iter().fold(tail, |a, &b| a.max(b))
}

/// Lengths and finiteness, checked before quantizing activations.
fn check_input(ty: GgmlType, x: &[f32], y_len: usize) -> Result<()> {
    let bs = ty.block_size();
    let row = ty.row_size(x.len())?;
    if y_len != row {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!("output holds {y_len} bytes, {} values need {row}", x.len()),
        });
    }
    // ggml's MAX/`>` comparisons would silently skip or spread NaN and
    // infinity; a non-finite activation is a bug upstream, so say where.
    // A branch-free scan first (vectorizes); the index only on failure.
    let bad = x.iter().fold(0u32, |a, v| {
        a | (v.to_bits() & 0x7f80_0000 == 0x7f80_0000) as u32
    });
    if bad == 0 {
        return Ok(());
    }
    if let Some((index, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            ty: ty.name(),
            index,
            value,
        });
    }
    Ok(())
}

/// `quantize_row_q8_0_ref`: blocks of 32, `d = amax/127`, `q = roundf(x/d)`.
/// `y` must hold exactly `x.len() / 32` blocks of 34 bytes.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [u8]) -> Result<()> {
    check_input(GgmlType::Q8_0, x, y.len())?;
    // The weight quantizers' SIMD Q8_0 is bit-identical to this loop.
    if !simd::quantize_row(GgmlType::Q8_0, x, y) {
        q8_0_scalar(x, y);
    }
    Ok(())
}

/// [`quantize_row_q8_0`]'s loop (checked input).
pub(super) fn q8_0_scalar(x: &[f32], y: &mut [u8]) {
    let blocks: &mut [BlockQ8_0] = bytemuck::try_cast_slice_mut(y).unwrap_or_default();
    for (x, b) in x.chunks_exact(32).zip(blocks) {
        let amax = amax(x);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = fp32_to_fp16(d).to_le_bytes();
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = round_i8(v * id);
        }
    }
}

/// `quantize_row_q8_1_ref`: as Q8_0, plus `s = d * sum(q)` for the min
/// term of Q4_1/Q5_1.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [u8]) -> Result<()> {
    check_input(GgmlType::Q8_1, x, y.len())?;
    let blocks: &mut [BlockQ8_1] = bytemuck::try_cast_slice_mut(y).unwrap_or_default();
    for (x, b) in x.chunks_exact(32).zip(blocks) {
        let amax = amax(x);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = fp32_to_fp16(d).to_le_bytes();
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = round_i8(v * id);
            sum += *q as i32;
        }
        b.s = fp32_to_fp16(sum as f32 * d).to_le_bytes();
    }
    Ok(())
}

/// `quantize_row_q8_K_ref`: blocks of 256 with an f32 scale `d = -max/127`
/// (sign of the largest-magnitude value), `q = nearest_int(x/d)` and the
/// 16 sums of 16 quants (`bsums`) the k-quant dot products use for mins.
#[allow(non_snake_case)] // ggml's name
pub fn quantize_row_q8_K(x: &[f32], y: &mut [u8]) -> Result<()> {
    check_input(GgmlType::Q8K, x, y.len())?;
    if !simd::quantize_row(GgmlType::Q8K, x, y) {
        q8_k_scalar(x, y);
    }
    Ok(())
}

/// [`quantize_row_q8_K`]'s loop (checked input).
pub(super) fn q8_k_scalar(x: &[f32], y: &mut [u8]) {
    let blocks: &mut [BlockQ8K] = bytemuck::try_cast_slice_mut(y).unwrap_or_default();
    for (x, b) in x.chunks_exact(QK_K).zip(blocks) {
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in x {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax == 0.0 {
            // ggml leaves bsums unwritten here; zero is their true value.
            *b = bytemuck::Zeroable::zeroed();
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (s, q) in b.bsums.chunks_exact_mut(2).zip(b.qs.chunks_exact(16)) {
            let sum: i32 = q.iter().map(|&q| q as i32).sum();
            s.copy_from_slice(&(sum as i16).to_le_bytes());
        }
        b.d = (1.0 / iscale).to_le_bytes();
    }
}
