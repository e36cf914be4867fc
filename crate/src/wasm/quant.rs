//! ggml block formats for JS: quantize and dequantize rows, type facts.

use wasm_bindgen::prelude::*;

use super::{js_err, to_js};
use crate::quant::synth::Aligned;
use crate::quant::{blocks, GgmlType};

/// Quantize `data` (whole rows of `rowLen` values) to the ggml type `type`
/// (`"q4_0"`, `"q4_K"`, ... as ggml writes them, any case). `importance`
/// (one weight per column, llama.cpp's imatrix) is used by the types whose
/// quantizer takes it. Returns the packed bytes, as stored in GGUF.
#[wasm_bindgen]
pub fn quantize(
    data: &[f32],
    r#type: &str,
    #[wasm_bindgen(js_name = "rowLen")] row_len: usize,
    importance: Option<Vec<f32>>,
) -> Result<Vec<u8>, JsError> {
    let ty = GgmlType::from_name(r#type).map_err(js_err)?;
    blocks::quantize(ty, data, row_len, importance.as_deref()).map_err(js_err)
}

/// Dequantize packed rows of type `type` back to f32, as ggml's `to_float`.
#[wasm_bindgen]
pub fn dequantize(
    bytes: &[u8],
    r#type: &str,
    #[wasm_bindgen(js_name = "rowLen")] row_len: usize,
) -> Result<Vec<f32>, JsError> {
    let ty = GgmlType::from_name(r#type).map_err(js_err)?;
    blocks::dequantize(ty, bytes, row_len).map_err(js_err)
}

/// Facts about every type webquant can quantize: name, block size, bytes
/// per block, bits per weight, whether it takes importance weights.
#[wasm_bindgen(js_name = ggmlTypes, unchecked_return_type = "GgmlTypeInfo[]")]
pub fn ggml_types() -> Result<JsValue, JsError> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TypeInfo {
        name: &'static str,
        block_size: usize,
        type_size: usize,
        bits_per_weight: f64,
        uses_importance: bool,
        gptq: bool,
    }
    let list: Vec<TypeInfo> = blocks::quantizable()
        .into_iter()
        .map(|ty| TypeInfo {
            name: ty.name(),
            block_size: ty.block_size(),
            type_size: ty.type_size(),
            bits_per_weight: ty.bits_per_weight(),
            uses_importance: blocks::uses_importance(ty),
            gptq: crate::quant::gptq::supported(ty),
        })
        .collect();
    to_js(&list)
}

/// The benchmark of `web/bench.html`: quantize / dequantize the same data as
/// the native criterion benchmark (`quant::synth::weights`) inside wasm, so
/// the timings measure the kernels, not copies across the JS boundary. The
/// buffers start on cache lines, as the native benchmark's do.
#[wasm_bindgen(js_name = QuantBench)]
pub struct QuantBench {
    ty: GgmlType,
    row_len: usize,
    data: Aligned<f32>,
    packed: Aligned<u8>,
    out: Aligned<f32>,
}

#[wasm_bindgen(js_class = QuantBench)]
impl QuantBench {
    #[wasm_bindgen(constructor)]
    pub fn new(
        r#type: &str,
        rows: usize,
        row_len: usize,
        seed: u64,
    ) -> Result<QuantBench, JsError> {
        let ty = GgmlType::from_name(r#type).map_err(js_err)?;
        let data = crate::quant::synth::weights(rows, row_len, seed);
        let packed = blocks::quantize(ty, &data, row_len, None).map_err(js_err)?;
        Ok(QuantBench {
            ty,
            row_len,
            out: Aligned::zeroed(data.len()),
            data: Aligned::from_slice(&data),
            packed: Aligned::from_slice(&packed),
        })
    }

    /// Bytes of f32 input per run (throughput is this over the time).
    #[wasm_bindgen(js_name = inputBytes)]
    pub fn input_bytes(&self) -> usize {
        self.data.as_slice().len() * 4
    }

    /// Quantize the data `iters` times.
    pub fn quantize(&mut self, iters: u32) -> Result<(), JsError> {
        for _ in 0..iters {
            let (data, packed) = (self.data.as_slice(), self.packed.as_mut_slice());
            blocks::quantize_into(self.ty, data, self.row_len, None, packed).map_err(js_err)?;
        }
        Ok(())
    }

    /// Dequantize the packed data `iters` times.
    pub fn dequantize(&mut self, iters: u32) -> Result<(), JsError> {
        for _ in 0..iters {
            let (packed, out) = (self.packed.as_slice(), self.out.as_mut_slice());
            blocks::dequantize_into(self.ty, packed, self.row_len, out).map_err(js_err)?;
        }
        Ok(())
    }
}
