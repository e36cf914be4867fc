//! webquant: quantize language models the way llama.cpp does, run them, and
//! measure what quantization cost: natively and in a browser tab (wasm).
//!
//! One module per concern, in layers that import only downward:
//! `error` → `cpu` (CPU features) → `par` (work split over threads) → `formats` (number formats) → `quant` (schemes, ggml blocks, dot
//! products, metrics) → `io` (GGUF, safetensors, llama2.c) → `gpu` (the
//! device: wgpu context, WGSL kernels) → `model` (config, weights, CPU and
//! GPU forward passes, generation, quantization jobs) → `wasm` (the only
//! module that knows JavaScript) → the CLI (`src/bin/webquant.rs`). The
//! order is defined, and checked, in `scripts/check-layers.mjs`.

pub mod cpu;
pub mod error;
pub mod formats;
pub mod gpu;
pub mod io;
pub mod model;
pub mod par;
pub mod quant;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
