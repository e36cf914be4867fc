//! Quantization: ggml's types and block formats, the dot products the runner
//! uses on packed blocks, the teaching schemes, and error metrics.
//!
//! The layers inside, bottom up (each file imports only from those above it
//! in this list):
//! - `types`: the type ids and names; `layout`: block structs, tables, bit
//!   helpers;
//! - `reference/`: the scalar ports of ggml (quantize, dequantize, dot),
//!   one file per family of types; `x86/` and `wasm/`: the fast paths, one
//!   folder per instruction set, with the reference's function names;
//!   `lanes`: portable kernels the compiler vectorizes, for both;
//! - `traits`: one row per type naming all of the above;
//! - `blocks` (quantize / dequantize rows), `act` (activations), `dot`
//!   (dot products, matvec, matmul): the checked entry points, which read
//!   the table;
//! - `gptq`, `preset`, `metrics`, `teach`, `synth`: built on those.

pub mod act;
pub mod blocks;
pub mod dot;
pub mod gptq;
pub(crate) mod lanes;
pub(crate) mod layout;
pub mod metrics;
pub mod preset;
pub(crate) mod reference;
pub mod synth;
pub mod teach;
pub mod traits;
pub mod types;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod wasm;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

#[cfg(test)]
mod tests;

pub use blocks::{dequantize, dequantize_into};
pub use types::{GgmlType, QK_K};
