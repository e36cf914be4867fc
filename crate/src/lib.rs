//! webquant: quantize language models the way llama.cpp does, run them, and
//! measure what quantization cost: natively and in a browser tab (wasm).
//!
//! The data path, one module per concern:
//! `formats` (number formats) → `quant` (schemes, ggml blocks, dot products,
//! metrics) → `io` (GGUF, llama2.c) → `model` → `gpu`; `wasm` is the only
//! module that knows JavaScript.

pub mod cpu;
pub mod error;
pub mod formats;
pub mod gpu;
pub mod io;
pub mod model;
pub mod quant;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
