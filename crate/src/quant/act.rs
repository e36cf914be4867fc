//! Activation quantizers: what the dot products consume on the
//! activation side (Q8_0, Q8_1, Q8_K, bit for bit ggml's
//! `quantize_row_*_ref`). They check their input and then run the same
//! quantizer as the weights (`blocks::quantize_row`, fast path or
//! reference): one Q8_0 / Q8_K quantizer, not two.

use crate::error::{Error, Result};
use crate::quant::blocks::quantize_row;
use crate::quant::types::GgmlType;

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
    quantize_row(GgmlType::Q8_0, x, y);
    Ok(())
}

/// `quantize_row_q8_1_ref`: as Q8_0, plus `s = d * sum(q)` for the min
/// term of Q4_1/Q5_1.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [u8]) -> Result<()> {
    check_input(GgmlType::Q8_1, x, y.len())?;
    quantize_row(GgmlType::Q8_1, x, y);
    Ok(())
}

/// `quantize_row_q8_K_ref`: blocks of 256 with an f32 scale `d = -max/127`
/// (sign of the largest-magnitude value), `q = nearest_int(x/d)` and the
/// 16 sums of 16 quants (`bsums`) the k-quant dot products use for mins.
#[allow(non_snake_case)] // ggml's name
pub fn quantize_row_q8_K(x: &[f32], y: &mut [u8]) -> Result<()> {
    check_input(GgmlType::Q8K, x, y.len())?;
    quantize_row(GgmlType::Q8K, x, y);
    Ok(())
}
