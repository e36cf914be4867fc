//! Teaching functions for JS: number formats (FP4 with shared scales
//! included), absmax / zero-point schemes, calibration, error metrics and
//! quantization-aware training. Results are plain JS objects.

use wasm_bindgen::prelude::*;

use super::{js_err, to_js};
use crate::formats::{self, Format, Overflow};
use crate::quant::teach::{fp4, qat};
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
export interface GridRange {
  lo: number; hi: number; scale: number; zeroPoint: number; qmin: number; qmax: number;
  clipLo: number; clipHi: number;
}
export type QatGranularity = { kind: "perTensor" } | { kind: "perRow" };
export interface QatConfig {
  task?: "circle" | "xor" | "moons"; bits: number; scheme: "symmetric" | "asymmetric";
  granularity: QatGranularity; calibration?: Calibration;
  actBits?: number | null; hidden?: number; learningRate?: number; batch?: number; seed?: number;
}
export interface QatEval { loss: number; accuracy: number; }
export interface QatEvals { float: QatEval; ptq: QatEval; qat: QatEval; }
export interface QatHistory {
  step: number[]; floatTrain: number[]; floatTest: number[]; ptqTrain: number[]; ptqTest: number[];
  qatTrain: number[]; qatTest: number[]; floatAccuracy: number[]; ptqAccuracy: number[]; qatAccuracy: number[];
}
export interface WeightGrid { groups: GridRange[]; histogram: Histogram; levels: number[]; clipped: number; }
export interface LayerView { rows: number; cols: number; ptq: WeightGrid; qat: WeightGrid; }
export interface LayerGradient { upstream: number[]; ste: number[]; passed: number; clipped: number; }
export interface QatBoundary { size: number; extent: number; float: number[]; ptq: number[]; qat: number[]; }
export interface ActRange { layer: number; dataMin: number; dataMax: number; grid: GridRange; }
export interface QatActivations { qatBatch: ActRange[]; ptqTest: ActRange[]; qatTest: ActRange[]; }
export interface QatView {
  config: QatConfig; step: number; test: QatEvals; train: QatEvals; history: QatHistory;
  boundary: QatBoundary; layers: LayerView[]; gradient: LayerGradient[]; activations: QatActivations;
}
export interface QatPoints { xy: number[]; labels: number[]; }
export interface QatDataset { task: "circle" | "xor" | "moons"; train: QatPoints; test: QatPoints; }
export interface RoundGradient {
  grid: GridRange; x: number[]; fakeQuant: number[]; trueGradient: number[]; steGradient: number[];
  jumps: number[]; h: number;
}
export interface Fp4Block {
  start: number; len: number; amax: number; scaleCode: number | null; scaleBits: string; scale: number; factor: number;
}
export interface Fp4Quantized {
  format: "fp4" | "mxfp4" | "nvfp4"; blockSize: number; tensorScale: number | null; bitsPerValue: number;
  blocks: Fp4Block[]; codes: number[]; bits: string[]; element: number[]; decoded: number[]; errors: number[];
  stats: ErrorStats; bytes: number[];
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

fn scheme(name: &str) -> Result<teach::Scheme, JsError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "symmetric" | "absmax" => teach::Scheme::Symmetric,
        "asymmetric" | "zeropoint" | "zero-point" | "affine" => teach::Scheme::Asymmetric,
        other => {
            return Err(JsError::new(&format!(
                "unknown scheme {other:?}: use \"symmetric\" or \"asymmetric\""
            )))
        }
    })
}

/// One value quantized in the range [lo, hi], every step shown.
#[wasm_bindgen(js_name = teachValue, unchecked_return_type = "ValueStep")]
pub fn teach_value(x: f32, lo: f32, hi: f32, scheme: &str, bits: u32) -> Result<JsValue, JsError> {
    let scheme = self::scheme(scheme)?;
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

fn qat_config(config: JsValue) -> Result<qat::QatConfig, JsError> {
    serde_wasm_bindgen::from_value(config)
        .map_err(|e| JsError::new(&format!("invalid QAT config: {e}")))
}

/// A float and a quantization-aware copy of a small MLP (2 → H → H → 1)
/// trained side by side on a 2-D toy task, a few steps per call, so a page
/// can redraw between calls. Deterministic for a config, however the steps
/// are split.
#[wasm_bindgen]
pub struct QatTrainer {
    inner: qat::QatTrainer,
}

#[wasm_bindgen]
impl QatTrainer {
    /// `config`: `{bits, scheme, granularity: {kind: "perTensor"|"perRow"},
    /// calibration?, actBits?, task?: "circle"|"xor"|"moons", hidden?,
    /// learningRate?, batch?, seed?}`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "QatConfig")] config: JsValue,
    ) -> Result<QatTrainer, JsError> {
        let inner = qat::QatTrainer::new(qat_config(config)?).map_err(js_err)?;
        Ok(QatTrainer { inner })
    }

    /// Trains both models `steps` more steps.
    pub fn train(&mut self, steps: usize) -> Result<(), JsError> {
        self.inner.train(steps).map_err(js_err)
    }

    /// Steps trained so far.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> usize {
        self.inner.step()
    }

    /// Losses, curves, decision boundaries, weight grids, the last step's
    /// gradients and the activation ranges, now.
    #[wasm_bindgen(unchecked_return_type = "QatView")]
    pub fn view(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.view().map_err(js_err)?)
    }

    /// The training and test points.
    #[wasm_bindgen(unchecked_return_type = "QatDataset")]
    pub fn data(&self) -> Result<JsValue, JsError> {
        to_js(self.inner.data())
    }
}

/// `new QatTrainer(config)` trained `steps` steps, its view: what the page
/// shows after as many steps.
#[wasm_bindgen(js_name = teachQat, unchecked_return_type = "QatView")]
pub fn teach_qat(
    #[wasm_bindgen(unchecked_param_type = "QatConfig")] config: JsValue,
    steps: usize,
) -> Result<JsValue, JsError> {
    to_js(&qat::run(qat_config(config)?, steps).map_err(js_err)?)
}

/// Fake quantization over [lo, hi] sampled at `points` values, with the true
/// gradient of the staircase and the straight-through estimator's.
#[wasm_bindgen(js_name = teachRoundGradient, unchecked_return_type = "RoundGradient")]
pub fn teach_round_gradient(
    scheme: &str,
    bits: u32,
    lo: f32,
    hi: f32,
    points: usize,
) -> Result<JsValue, JsError> {
    let scheme = self::scheme(scheme)?;
    to_js(&qat::round_gradient(scheme, bits, lo, hi, points).map_err(js_err)?)
}

/// `values` stored as FP4 E2M1 ("fp4"), MXFP4 ("mxfp4", an E8M0 scale per
/// 32) or NVFP4 ("nvfp4", an E4M3 scale per 16 and an f32 one per tensor),
/// every field decoded.
#[wasm_bindgen(js_name = teachFp4, unchecked_return_type = "Fp4Quantized")]
pub fn teach_fp4(values: &[f32], format: &str) -> Result<JsValue, JsError> {
    let format = fp4::Fp4Format::from_name(format).map_err(js_err)?;
    to_js(&fp4::quantize(values, format).map_err(js_err)?)
}
