//! The scalar reference: ports of ggml's quantizers (`quantize_row_*_ref`,
//! `quantize_row_*_impl` in `ggml-quants.c`), dequantizers
//! (`dequantize_row_*`) and generic dot products (`ggml_vec_dot_*_generic`
//! in `ggml-cpu/quants.c`), names kept so a reader can put them side by
//! side. They are the ground truth every SIMD path (`quant::x86`,
//! `quant::wasm`) is tested against. One file per family of types.
//!
//! Conventions: `x` is one row (whole blocks, already checked finite), `y`
//! the row's blocks; C's `MAX`/`MIN` macros, integer truncations and x86's
//! float-to-int conversions are spelled out where they matter. Every float
//! expression is evaluated in `f32` in ggml's operation order; Rust does not
//! contract `a * b + c` into a fused multiply-add, and ggml-base is built
//! without FMA, so the roundings agree. Loops index as ggml's do.

// Index loops keep ggml's C loop structure, which is what makes the port
// checkable line by line.
#![allow(clippy::needless_range_loop)]

pub(crate) use crate::quant::layout::*;
pub(crate) use crate::quant::types::QK_K;

mod float;
mod iq4;
mod kquants;
mod legacy;
mod mxfp4;
mod search;
mod ternary;

pub(crate) use float::*;
pub(crate) use iq4::*;
pub(crate) use kquants::*;
pub(crate) use legacy::*;
pub(crate) use mxfp4::*;
pub(crate) use search::*;
pub(crate) use ternary::*;

/// `GROUP_MAX_EPS`: groups with a smaller absolute maximum are zero.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

#[inline(always)]
pub(crate) fn fp16(f: f32) -> [u8; 2] {
    fp32_to_fp16(f).to_le_bytes()
}

#[inline(always)]
pub(crate) fn f16(h: [u8; 2]) -> f32 {
    fp16_to_f32(u16::from_le_bytes(h))
}

/// `nearest_int`: adding 1.5 * 2^23 rounds to the nearest integer, ties
/// to even; the low mantissa bits are the result (ggml asserts
/// |fval| <= 4194303; outside that it is garbage, but deterministic).
#[inline(always)]
pub(crate) fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// ggml's `MAX(a, b)` macro for floats: `a > b ? a : b` (NaN in `b` wins).
#[inline(always)]
pub(crate) fn max_f(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// C's float to 32-bit int conversion as x86 compiles it (`cvttss2si`):
/// truncation, and 0x80000000 for NaN or out of range, where C leaves it
/// undefined. Narrower C integer targets then keep the low bits.
#[inline(always)]
pub(crate) fn f32_to_i32_x86(v: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// `lroundf` (glibc, x86_64): round half away from zero, and
/// `LONG_MIN` for NaN or out of range.
#[inline(always)]
pub(crate) fn lroundf(v: f32) -> i64 {
    let r = v.round();
    // [-2^63, 2^63): the range of a 64-bit `long`
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) {
        r as i64
    } else {
        i64::MIN
    }
}

/// The `min`/`max` scan of the Q4_1 and Q5_1 quantizers (the first of
/// equal values wins, which decides the sign of a zero).
#[inline(always)]
pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// Blocks of `x` paired with their `QK`-float output chunks.
pub(crate) fn pairs<'a, B: bytemuck::Pod, const QK: usize>(
    x: &'a [u8],
    y: &'a mut [f32],
) -> impl Iterator<Item = (&'a B, &'a mut [f32])> {
    as_blocks::<B>(x).iter().zip(y.chunks_exact_mut(QK))
}

/// Weight blocks paired with their activation blocks.
#[inline(always)]
pub(crate) fn block_pairs<'a, X: bytemuck::Pod, Y: bytemuck::Pod>(
    vx: &'a [u8],
    vy: &'a [u8],
) -> impl Iterator<Item = (&'a X, &'a Y)> {
    as_blocks::<X>(vx).iter().zip(as_blocks::<Y>(vy))
}
