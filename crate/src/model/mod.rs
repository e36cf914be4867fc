//! Models: what a loaded model is (its summary for people and the UI).

pub mod calib;
pub mod config;
pub mod eval;
pub mod forward;
pub mod generate;
pub mod gpu_forward;
pub mod quantize;
pub mod sampler;
pub mod source;
pub mod tokenizer;
mod vexp;
pub mod weights;

#[cfg(all(test, target_arch = "wasm32", feature = "gpu-browser-tests"))]
mod gpu_browser_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod gpu_tests;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::io::gguf::GgufFile;
use crate::io::source::ByteSource;

/// One tensor as the UI lists it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorSummary {
    pub name: String,
    /// ggml order: row length first.
    pub dims: Vec<u64>,
    pub ty: String,
    pub n_elements: u64,
    pub n_bytes: u64,
}

/// A model's headline facts, from its GGUF header alone (no tensor data read).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub name: String,
    pub architecture: String,
    pub gguf_version: u32,
    pub file_bytes: u64,
    pub parameter_count: u64,
    pub tensor_count: usize,
    /// Tensor count per ggml type name.
    pub types: BTreeMap<String, usize>,
    pub context_length: Option<u64>,
    pub embedding_length: Option<u64>,
    pub block_count: Option<u64>,
    pub vocab_size: Option<usize>,
    pub tensors: Vec<TensorSummary>,
}

impl ModelInfo {
    pub fn from_gguf<S: ByteSource>(g: &GgufFile<S>) -> Self {
        let arch = g
            .get_str("general.architecture")
            .unwrap_or("unknown")
            .to_string();
        let arch_key = |k: &str| g.get_u64(&format!("{arch}.{k}"));
        let mut types = BTreeMap::new();
        let tensors: Vec<TensorSummary> = g
            .tensors
            .iter()
            .map(|t| {
                *types.entry(t.ty.name().to_string()).or_insert(0) += 1;
                TensorSummary {
                    name: t.name.clone(),
                    dims: t.dims.clone(),
                    ty: t.ty.name().to_string(),
                    n_elements: t.n_elements(),
                    n_bytes: t.n_bytes(),
                }
            })
            .collect();
        ModelInfo {
            name: g.get_str("general.name").unwrap_or("(unnamed)").to_string(),
            gguf_version: g.version,
            file_bytes: g.source().len(),
            parameter_count: tensors.iter().map(|t| t.n_elements).sum(),
            tensor_count: tensors.len(),
            types,
            context_length: arch_key("context_length"),
            embedding_length: arch_key("embedding_length"),
            block_count: arch_key("block_count"),
            vocab_size: g
                .get("tokenizer.ggml.tokens")
                .and_then(|v| v.as_array())
                .map(<[_]>::len),
            architecture: arch,
            tensors,
        }
    }
}

/// Value statistics of one tensor, for the UI's tensor list.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorStats {
    pub name: String,
    pub min: f32,
    pub max: f32,
    pub mean: f64,
    pub std: f64,
    /// Count of NaN or infinite values (a healthy tensor has none).
    pub non_finite: u64,
}

/// Read tensor `index` (its bytes only), dequantize it and summarise it.
pub fn tensor_stats<S: ByteSource>(g: &GgufFile<S>, index: usize) -> crate::Result<TensorStats> {
    let t = g.tensors.get(index).ok_or_else(|| {
        crate::Error::invalid(format!(
            "tensor index {index} out of range (the model has {})",
            g.tensors.len()
        ))
    })?;
    let bytes = g.tensor_bytes(t)?;
    let row_len = usize::try_from(t.row_len())
        .map_err(|_| crate::Error::invalid(format!("tensor {}: row length too large", t.name)))?;
    let values = crate::quant::dequantize(t.ty, &bytes, row_len)?;
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    let (mut sum, mut sum2, mut n, mut non_finite) = (0f64, 0f64, 0u64, 0u64);
    for &v in &values {
        if !v.is_finite() {
            non_finite += 1;
            continue;
        }
        min = min.min(v);
        max = max.max(v);
        sum += v as f64;
        sum2 += (v as f64) * (v as f64);
        n += 1;
    }
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let var = if n > 0 {
        (sum2 / n as f64 - mean * mean).max(0.0)
    } else {
        0.0
    };
    if n == 0 {
        (min, max) = (0.0, 0.0);
    }
    Ok(TensorStats {
        name: t.name.clone(),
        min,
        max,
        mean,
        std: var.sqrt(),
        non_finite,
    })
}
