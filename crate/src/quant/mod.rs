//! Quantization: ggml's types and block formats, the dot products the runner
//! uses on packed blocks, the teaching schemes, and error metrics.

pub mod blocks;
pub mod dot;
pub mod gptq;
pub mod metrics;
pub mod preset;
pub mod synth;
pub mod teach;
pub mod types;

pub use blocks::{dequantize, dequantize_into};
pub use types::{GgmlType, QK_K};
