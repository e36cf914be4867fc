//! wasm32 simd128 fast paths (compiled in when the build enables simd128;
//! the page loads a plain build where the browser lacks it). Function
//! names are the reference's (`quantize_row_q4_0`, `dequantize_row_q4_0`,
//! `vec_dot_q4_0_q8_0`), so one grep finds every version of a kernel; the
//! table in `quant::traits` says which type has which, and the tests in
//! `quant/tests` (run in Node with and without simd128) check each one
//! against the reference bit for bit.

pub(crate) mod batch;
pub(crate) mod dequantize;
pub(crate) mod dot;
pub(crate) mod float;
pub(crate) mod kquants;
pub(crate) mod quantize;
