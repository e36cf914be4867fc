//! Tests of `quant`'s kernels: every version (reference, x86, wasm) against
//! ggml's own bytes and against each other.

mod blocks;
mod dot;
mod fast_paths;

use crate::quant::traits::{traits, DequantizeFn, VecDot, TABLE};
use crate::quant::types::GgmlType;

/// The scalar reference quantizer of `ty` (no importance) on one row,
/// zeroing `y` first as `blocks` does.
fn reference_quantize_row(ty: GgmlType, x: &[f32], y: &mut [u8]) {
    y.fill(0);
    traits(ty).quantize.expect("a reference quantizer")(x, y);
}

/// This machine's fast quantizer of `ty` on one row; `false` where it has none.
fn fast_quantize_row(ty: GgmlType, x: &[f32], y: &mut [u8]) -> bool {
    match traits(ty).simd().quantize {
        Some(f) => {
            f(x, y);
            true
        }
        None => false,
    }
}

/// The scalar reference dequantizer of `ty`.
fn reference_dequantize(ty: GgmlType) -> Option<DequantizeFn> {
    traits(ty).dequantize
}

/// The scalar reference dot product of `ty`.
fn reference_kernel(ty: GgmlType) -> Option<VecDot> {
    traits(ty).vec_dot
}

/// Every type the table has a reference quantizer for (what
/// `blocks::quantize` takes), in the table's order.
fn quantizable() -> Vec<GgmlType> {
    TABLE
        .iter()
        .filter(|t| t.quantize.is_some())
        .map(|t| t.ty)
        .collect()
}
