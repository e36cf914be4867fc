//! ggml's block formats: packed rows of quantized weights, byte for byte as
//! llama.cpp stores them in GGUF.

pub mod dequant;
pub mod quantize;
#[cfg(test)]
mod tests;

pub use dequant::{dequantize, dequantize_into};
pub use quantize::{quantize, quantize_into, uses_importance, QUANTIZABLE};
