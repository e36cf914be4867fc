//! x86_64 fast paths (AVX2, FMA and F16C; AVX-VNNI and AVX512-VNNI for the
//! eight-row kernels), chosen at run time (`crate::cpu`). Function names
//! are the reference's (`quantize_row_q4_0`, `dequantize_row_q4_0`,
//! `vec_dot_q4_0_q8_0`), so one grep finds every version of a kernel; the
//! table in `quant::traits` says which type has which, and the tests in
//! `quant/tests` check each one against the reference bit for bit.

pub(crate) mod avx512;
pub(crate) mod dequantize;
pub(crate) mod dot;
pub(crate) mod gemm;
pub(crate) mod packed;
pub(crate) mod quantize;
pub(crate) mod x8;
