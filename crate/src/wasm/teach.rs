//! Teaching functions for JS: number formats, absmax / zero-point schemes,
//! calibration and error metrics. Results are plain JS objects.

use wasm_bindgen::prelude::*;

use super::{js_err, to_js};
use crate::formats::{self, Format, Overflow};
use crate::quant::{metrics, teach};

// TypeScript shapes of the objects these functions return (serde's
// camelCase of the Rust structs in `formats`, `quant::teach` and
// `quant::metrics`), so `webquant.d.ts` is typed rather than `any`.
#[wasm_bindgen(typescript_custom_section)]
const TS_SECTION: &str = TS_TYPES;

// The section above embeds it at compile time, which the dead-code lint does not see.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) const TS_TYPES: &str = r#"
export type NumberFormat = "fp32" | "fp16" | "bf16" | "tf32" | "fp8_e4m3" | "fp8_e5m2" | "fp4_e2m1" | "int8" | "uint8";
export type ValueClass = "zero" | "subnormal" | "normal" | "inf" | "nan" | "saturated" | "invalid";
export interface BitFields {
  format: NumberFormat; overflow: "nonSaturating" | "saturate"; input: number;
  code: number; bits: string; sign: string; exponent: string; mantissa: string;
  exponentBias: number | null; decoded: number; error: number; class: ValueClass;
}
export interface ErrorStats {
  n: number; mse: number; rmse: number; meanAbsError: number; maxAbsError: number;
  maxAbsErrorIndex: number; signalPower: number; sqnrDb: number | null;
  cosineSimilarity: number; exact: boolean;
}
export interface Histogram { edges: number[]; counts: number[]; below: number; above: number; nan: number; }
export type Granularity = { kind: "perTensor" } | { kind: "perRow" } | { kind: "perGroup"; size: number };
export type Calibration =
  | { method: "minMax" } | { method: "percentile"; percentile: number }
  | { method: "mse"; candidates: number } | { method: "kl"; bins: number };
export interface QuantConfig {
  scheme: "symmetric" | "asymmetric"; bits: number; granularity: Granularity; calibration?: Calibration;
}
export interface SearchPoint { ratio: number; lo: number; hi: number; score: number | null; }
export interface GroupParams {
  index: number; row: number; start: number; len: number; dataMin: number; dataMax: number;
  lo: number; hi: number; scale: number; invScale: number; zeroPoint: number;
  clamped: number; mse: number; search: SearchPoint[];
}
export interface Quantized {
  config: QuantConfig; rows: number; cols: number; groupSize: number; qmin: number; qmax: number;
  groups: GroupParams[]; scaled: number[]; values: number[]; clamped: boolean[];
  dequantized: number[]; errors: number[]; stats: ErrorStats;
}
export interface ValueStep {
  x: number; lo: number; hi: number; scale: number; invScale: number; zeroPoint: number;
  qmin: number; qmax: number; scaled: number; rounded: number; q: number; clamped: boolean;
  dequantized: number; error: number;
}
export interface TensorReport {
  name: string; dims: number[]; from: string; to: string; bytesIn: number; bytesOut: number;
  nElements: number; rmse: number; maxAbsError: number; sqnrDb: number | null; cosine: number; reason: string;
}
export interface TensorView {
  name: string; from: string; to: string; original: Histogram; quantized: Histogram; stats: ErrorStats;
}
export interface QuantTotals {
  tensors: number; nElements: number; bytesIn: number; bytesOut: number;
  bitsPerWeightIn: number; bitsPerWeightOut: number;
}
export interface GgmlTypeInfo {
  name: string; blockSize: number; typeSize: number; bitsPerWeight: number; usesImportance: boolean;
  gptq: boolean;
}
"#;

/// The bit fields of `value` stored in `format` ("fp32", "fp16", "bf16",
/// "tf32", "fp8_e4m3", "fp8_e5m2", "fp4_e2m1", "int8", "uint8"): sign,
/// exponent and mantissa bits, the decoded value and the error.
/// `saturate` clamps overflow to the largest finite value.
#[wasm_bindgen(js_name = bitFields, unchecked_return_type = "BitFields")]
pub fn bit_fields(format: &str, value: f32, saturate: Option<bool>) -> Result<JsValue, JsError> {
    let f = Format::from_name(format).map_err(js_err)?;
    let overflow = if saturate.unwrap_or(false) {
        Overflow::Saturate
    } else {
        Overflow::NonSaturating
    };
    to_js(&formats::bit_fields_with(f, value, overflow))
}

/// Quantize `data` (`rows` × `cols`, row-major) with a teaching scheme.
/// `config`: `{scheme: "symmetric"|"asymmetric", bits: 2..8,
/// granularity: {kind: "perTensor"|"perRow"|"perGroup", size?},
/// calibration?: {method: "minMax"|"percentile"|"mse"|"kl", ...}}`.
#[wasm_bindgen(js_name = teachQuantize, unchecked_return_type = "Quantized")]
pub fn teach_quantize(
    data: &[f32],
    rows: usize,
    cols: usize,
    #[wasm_bindgen(unchecked_param_type = "QuantConfig")] config: JsValue,
) -> Result<JsValue, JsError> {
    let config: teach::QuantConfig = serde_wasm_bindgen::from_value(config)
        .map_err(|e| JsError::new(&format!("invalid quantization config: {e}")))?;
    to_js(&teach::quantize(data, rows, cols, &config).map_err(js_err)?)
}

/// Symmetric absmax quantization of the whole array to `bits` bits.
#[wasm_bindgen(js_name = teachAbsmax, unchecked_return_type = "Quantized")]
pub fn teach_absmax(data: &[f32], bits: u32) -> Result<JsValue, JsError> {
    to_js(&teach::absmax(data, bits).map_err(js_err)?)
}

/// Asymmetric zero-point quantization of the whole array to `bits` bits.
#[wasm_bindgen(js_name = teachZeroPoint, unchecked_return_type = "Quantized")]
pub fn teach_zero_point(data: &[f32], bits: u32) -> Result<JsValue, JsError> {
    to_js(&teach::zero_point(data, bits).map_err(js_err)?)
}

/// One value quantized in the range [lo, hi], every step shown.
#[wasm_bindgen(js_name = teachValue, unchecked_return_type = "ValueStep")]
pub fn teach_value(x: f32, lo: f32, hi: f32, scheme: &str, bits: u32) -> Result<JsValue, JsError> {
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "symmetric" | "absmax" => teach::Scheme::Symmetric,
        "asymmetric" | "zeropoint" | "zero-point" | "affine" => teach::Scheme::Asymmetric,
        other => {
            return Err(JsError::new(&format!(
                "unknown scheme {other:?}: use \"symmetric\" or \"asymmetric\""
            )))
        }
    };
    to_js(&teach::quantize_value(x, lo, hi, scheme, bits).map_err(js_err)?)
}

/// MSE, RMSE, max abs error, SQNR (dB) and cosine similarity of a reconstruction.
#[wasm_bindgen(js_name = errorStats, unchecked_return_type = "ErrorStats")]
pub fn error_stats(original: &[f32], reconstructed: &[f32]) -> Result<JsValue, JsError> {
    to_js(&metrics::error_stats(original, reconstructed).map_err(js_err)?)
}

/// A histogram of `values` in `bins` bins over [lo, hi] (the data's range
/// when lo and hi are not given).
#[wasm_bindgen(unchecked_return_type = "Histogram")]
pub fn histogram(
    values: &[f32],
    bins: usize,
    lo: Option<f32>,
    hi: Option<f32>,
) -> Result<JsValue, JsError> {
    let range = match (lo, hi) {
        (Some(lo), Some(hi)) => Some((lo, hi)),
        (None, None) => None,
        _ => return Err(JsError::new("histogram: give both lo and hi, or neither")),
    };
    to_js(&metrics::histogram(values, bins, range).map_err(js_err)?)
}
