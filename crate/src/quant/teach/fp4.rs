//! FP4 E2M1 values with a shared scale, for the number-format explorer:
//!
//! - **FP4**: each value rounded to E2M1 (±{0, 0.5, 1, 1.5, 2, 3, 4, 6}) as
//!   it is, no scale ([`crate::formats`], nearest even, saturating at ±6).
//! - **MXFP4** (OCP Microscaling): 32 values share one E8M0 scale, a power
//!   of two `2^(e − 127)`, with `e = floor(log2(amax)) − 2 + 127` so that the
//!   block's largest value lands in E2M1's top binade. These are the bytes
//!   ggml's MXFP4 quantizer writes (`quantize_row_mxfp4_ref`: 1 byte `e`, 16
//!   bytes of 4-bit codes, value `j` in the low half of byte `j`, value
//!   `j + 16` in the high half), decoded here field by field.
//! - **NVFP4** (NVIDIA): 16 values share one FP8 E4M3 scale, and the tensor
//!   one f32 scale `s₂ = amax / (6 · 448)`, as NVIDIA's TensorRT Model
//!   Optimizer computes them: block scale `E4M3(amax_block / (6 · s₂))` (1
//!   when the block is all zeros), each value `E2M1(x / (scale · s₂))`,
//!   nearest even, saturating. A block scale that underflows E4M3 to 0 keeps
//!   its values at 0.

use crate::error::{Error, Result};
use crate::formats::{self, Format, Overflow};
use crate::quant::blocks;
use crate::quant::metrics::{self, ErrorStats};
use crate::quant::types::GgmlType;
use serde::{Deserialize, Serialize};

/// MXFP4's values per scale.
pub const MXFP4_BLOCK: usize = 32;
/// NVFP4's values per block scale.
pub const NVFP4_BLOCK: usize = 16;
/// Largest E4M3 value (NVFP4's block-scale range).
const E4M3_MAX: f32 = 448.0;
/// Largest E2M1 value.
const E2M1_MAX: f32 = 6.0;
/// The most values one call takes (the explorer shows a few blocks).
pub const MAX_VALUES: usize = 4096;

/// Which FP4 variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fp4Format {
    /// E2M1 alone.
    Fp4,
    /// E2M1 with an E8M0 scale per 32.
    Mxfp4,
    /// E2M1 with an E4M3 scale per 16 and an f32 scale per tensor.
    Nvfp4,
}

impl Fp4Format {
    /// Parses "fp4" / "fp4_e2m1", "mxfp4", "nvfp4" (any case).
    pub fn from_name(name: &str) -> Result<Fp4Format> {
        match name.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "fp4" | "fp4_e2m1" | "e2m1" => Ok(Fp4Format::Fp4),
            "mxfp4" => Ok(Fp4Format::Mxfp4),
            "nvfp4" => Ok(Fp4Format::Nvfp4),
            _ => Err(Error::invalid(format!(
                "unknown FP4 format {name:?} (expected fp4, mxfp4 or nvfp4)"
            ))),
        }
    }
}

/// One block's shared scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fp4Block {
    /// Index of the first value.
    pub start: usize,
    /// Values in the block.
    pub len: usize,
    /// Largest |x| in the block.
    pub amax: f32,
    /// The stored scale's code (E8M0 for MXFP4, E4M3 for NVFP4); `None` for
    /// plain FP4.
    pub scale_code: Option<u32>,
    /// Its bits, most significant first ("" for plain FP4).
    pub scale_bits: String,
    /// The value the scale code stands for (1 for plain FP4).
    pub scale: f32,
    /// What each E2M1 value of the block is multiplied by: `scale`, times the
    /// tensor scale for NVFP4.
    pub factor: f32,
}

/// Values stored in an FP4 variant, with every field decoded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fp4Quantized {
    /// The variant.
    pub format: Fp4Format,
    /// Values per block scale (the whole input for plain FP4).
    pub block_size: usize,
    /// NVFP4's per-tensor f32 scale `s₂`.
    pub tensor_scale: Option<f32>,
    /// Storage cost, scales included.
    pub bits_per_value: f64,
    /// The blocks.
    pub blocks: Vec<Fp4Block>,
    /// Per value: the 4-bit E2M1 code.
    pub codes: Vec<u8>,
    /// Per value: the code's bits, "SEEM".
    pub bits: Vec<String>,
    /// Per value: the E2M1 value of the code.
    pub element: Vec<f32>,
    /// Per value: `element · factor`.
    pub decoded: Vec<f32>,
    /// Per value: `decoded − x`.
    pub errors: Vec<f32>,
    /// Totals.
    pub stats: ErrorStats,
    /// For MXFP4: ggml's bytes (17 per block) that were decoded; empty otherwise.
    pub bytes: Vec<u8>,
}

fn check(values: &[f32], format: Fp4Format) -> Result<usize> {
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(Error::invalid(format!(
            "give 1 to {MAX_VALUES} values, got {}",
            values.len()
        )));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            ty: "fp4 input",
            index: i,
            value: values[i],
        });
    }
    let block = match format {
        Fp4Format::Fp4 => values.len(),
        Fp4Format::Mxfp4 => MXFP4_BLOCK,
        Fp4Format::Nvfp4 => NVFP4_BLOCK,
    };
    if !values.len().is_multiple_of(block) {
        return Err(Error::invalid(format!(
            "{format:?} stores blocks of {block} values: {} values is not a multiple of {block}",
            values.len()
        )));
    }
    Ok(block)
}

fn amax(xs: &[f32]) -> f32 {
    xs.iter().fold(0.0f32, |m, &x| m.max(x.abs()))
}

/// Stores `values` in `format` and takes every block apart. Errors on an
/// empty or too long input, a NaN or infinity, or a length that is not a
/// whole number of blocks.
pub fn quantize(values: &[f32], format: Fp4Format) -> Result<Fp4Quantized> {
    let block_size = check(values, format)?;
    let n = values.len();
    let mut blocks_out = Vec::with_capacity(n / block_size);
    let mut codes = Vec::with_capacity(n);
    let mut bytes = Vec::new();
    let mut tensor_scale = None;
    match format {
        Fp4Format::Fp4 => {
            codes.extend(values.iter().map(|&x| formats::f32_to_fp4_e2m1(x)));
            blocks_out.push(Fp4Block {
                start: 0,
                len: n,
                amax: amax(values),
                scale_code: None,
                scale_bits: String::new(),
                scale: 1.0,
                factor: 1.0,
            });
        }
        Fp4Format::Mxfp4 => {
            bytes = blocks::quantize(GgmlType::MXFP4, values, n, None)?;
            let per = GgmlType::MXFP4.type_size();
            for (b, block) in bytes.chunks_exact(per).enumerate() {
                let e = block[0];
                // E8M0: 2^(e − 127); e = 0 is 2^-127, below f32's normals,
                // exact as a subnormal.
                let scale = libm::ldexp(1.0, i32::from(e) - 127) as f32;
                let start = b * MXFP4_BLOCK;
                blocks_out.push(Fp4Block {
                    start,
                    len: MXFP4_BLOCK,
                    amax: amax(&values[start..start + MXFP4_BLOCK]),
                    scale_code: Some(u32::from(e)),
                    scale_bits: format!("{e:08b}"),
                    scale,
                    factor: scale,
                });
                let qs = &block[1..];
                codes.extend(qs.iter().map(|q| q & 0x0f));
                codes.extend(qs.iter().map(|q| q >> 4));
            }
        }
        Fp4Format::Nvfp4 => {
            let global = amax(values);
            // All zeros: any scale will do; 1 keeps every number finite.
            let s2 = if global > 0.0 {
                global / (E2M1_MAX * E4M3_MAX)
            } else {
                1.0
            };
            tensor_scale = Some(s2);
            for (b, xs) in values.chunks_exact(NVFP4_BLOCK).enumerate() {
                let a = amax(xs);
                let wanted = if a > 0.0 { a / (E2M1_MAX * s2) } else { 1.0 };
                let code = formats::f32_to_fp8_e4m3(wanted, Overflow::Saturate);
                let scale = formats::fp8_e4m3_to_f32(code);
                let factor = scale * s2;
                blocks_out.push(Fp4Block {
                    start: b * NVFP4_BLOCK,
                    len: NVFP4_BLOCK,
                    amax: a,
                    scale_code: Some(u32::from(code)),
                    scale_bits: format!("{code:08b}"),
                    scale,
                    factor,
                });
                codes.extend(xs.iter().map(|&x| {
                    if factor > 0.0 {
                        formats::f32_to_fp4_e2m1(x / factor)
                    } else {
                        0
                    }
                }));
            }
        }
    }
    let element: Vec<f32> = codes.iter().map(|&c| formats::fp4_e2m1_to_f32(c)).collect();
    let decoded: Vec<f32> = element
        .iter()
        .enumerate()
        .map(|(i, &e)| e * blocks_out[i / block_size].factor)
        .collect();
    let errors = decoded.iter().zip(values).map(|(&d, &x)| d - x).collect();
    let stats = metrics::error_stats(values, &decoded)?;
    let scale_bits = match format {
        Fp4Format::Fp4 => 0.0,
        Fp4Format::Mxfp4 | Fp4Format::Nvfp4 => 8.0 / block_size as f64,
    };
    let tensor_bits = if tensor_scale.is_some() {
        32.0 / n as f64
    } else {
        0.0
    };
    Ok(Fp4Quantized {
        format,
        block_size,
        tensor_scale,
        bits_per_value: f64::from(Format::Fp4E2M1.bits()) + scale_bits + tensor_bits,
        blocks: blocks_out,
        bits: codes.iter().map(|c| format!("{c:04b}")).collect(),
        codes,
        element,
        decoded,
        errors,
        stats,
        bytes,
    })
}

#[cfg(test)]
mod tests;
