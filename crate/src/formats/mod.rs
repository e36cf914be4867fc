//! Number formats: f32 <-> f16 / bf16 / tf32 / fp8 / fp4 / int8, and bit fields for teaching.
//!
//! Conventions (all conversions from f32):
//! - Floating-point targets round to nearest, ties to even (IEEE 754 default,
//!   and what the OCP OFP8 / MX specs prescribe). Subnormals, ±0, ±inf and
//!   NaN are handled; decoding is always exact.
//! - f16 and bf16 go through the `half` crate; tf32, fp8 and fp4 through a
//!   generic exact encoder (`minifloat`), which the tests cross-check against
//!   `half` on f16/bf16.
//! - Overflow: see [`Overflow`]. The default is the spec's non-saturating
//!   behaviour (±inf, or NaN for E4M3); fp4 E2M1 and the integer formats have
//!   no special values and always saturate.
//! - int8 / uint8 round half away from zero (C `roundf`, what ggml uses and
//!   what `quant::teach` uses), then saturate to [-128, 127] / [0, 255].
//!   NaN has no integer encoding: it is stored as 0 and classed `Invalid`.

mod minifloat;

use crate::error::{Error, Result};
use minifloat::{Layout, BF16, E2M1, E4M3, E5M2, FP16, FP32, TF32};
pub use minifloat::{Overflow, ValueClass};
use serde::{Deserialize, Serialize};

/// A number format a value can be stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// IEEE binary32.
    #[serde(rename = "fp32")]
    Fp32,
    /// IEEE binary16 (1-5-10, bias 15).
    #[serde(rename = "fp16")]
    Fp16,
    /// bfloat16 (1-8-7, bias 127): f32's range with 8 bits of precision.
    #[serde(rename = "bf16")]
    Bf16,
    /// NVIDIA TensorFloat-32 (1-8-10): an f32 with the low 13 mantissa bits
    /// rounded away; stored in an f32.
    #[serde(rename = "tf32")]
    Tf32,
    /// OCP OFP8 E4M3 (1-4-3, bias 7): no infinities, NaN = S.1111.111, max 448.
    #[serde(rename = "fp8_e4m3")]
    Fp8E4M3,
    /// OCP OFP8 E5M2 (1-5-2, bias 15): IEEE-like with ±inf and NaN, max 57344.
    #[serde(rename = "fp8_e5m2")]
    Fp8E5M2,
    /// OCP MX FP4 E2M1 (1-2-1, bias 1): ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
    #[serde(rename = "fp4_e2m1")]
    Fp4E2M1,
    /// Two's complement 8-bit integer.
    #[serde(rename = "int8")]
    Int8,
    /// Unsigned 8-bit integer.
    #[serde(rename = "uint8")]
    Uint8,
}

impl Format {
    /// Every format, narrowest-last order as the UI lists them.
    pub const ALL: [Format; 9] = [
        Format::Fp32,
        Format::Fp16,
        Format::Bf16,
        Format::Tf32,
        Format::Fp8E4M3,
        Format::Fp8E5M2,
        Format::Fp4E2M1,
        Format::Int8,
        Format::Uint8,
    ];

    /// Canonical lower-case name (the serde name too).
    pub const fn name(self) -> &'static str {
        match self {
            Format::Fp32 => "fp32",
            Format::Fp16 => "fp16",
            Format::Bf16 => "bf16",
            Format::Tf32 => "tf32",
            Format::Fp8E4M3 => "fp8_e4m3",
            Format::Fp8E5M2 => "fp8_e5m2",
            Format::Fp4E2M1 => "fp4_e2m1",
            Format::Int8 => "int8",
            Format::Uint8 => "uint8",
        }
    }

    /// Parses a name case-insensitively, ignoring `_`, `-` and spaces; accepts
    /// common aliases ("e4m3", "float8_e4m3fn", "half", "bfloat16", "fp4", "i8").
    pub fn from_name(name: &str) -> Result<Self> {
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        Ok(match key.as_str() {
            "fp32" | "f32" | "float32" | "float" | "single" => Format::Fp32,
            "fp16" | "f16" | "float16" | "half" => Format::Fp16,
            "bf16" | "bfloat16" => Format::Bf16,
            "tf32" | "tensorfloat32" => Format::Tf32,
            "fp8e4m3" | "e4m3" | "e4m3fn" | "float8e4m3" | "float8e4m3fn" | "fp8e4m3fn" => {
                Format::Fp8E4M3
            }
            "fp8e5m2" | "e5m2" | "float8e5m2" => Format::Fp8E5M2,
            "fp4e2m1" | "e2m1" | "fp4" | "float4e2m1" | "float4e2m1fn" => Format::Fp4E2M1,
            "int8" | "i8" | "s8" => Format::Int8,
            "uint8" | "u8" => Format::Uint8,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown number format {name:?} (expected one of fp32, fp16, bf16, tf32, \
                     fp8_e4m3, fp8_e5m2, fp4_e2m1, int8, uint8)"
                )))
            }
        })
    }

    /// Significant bits of one value (tf32 has 19, though it lives in 32).
    pub const fn bits(self) -> u32 {
        match self {
            Format::Fp32 => 32,
            Format::Fp16 | Format::Bf16 => 16,
            Format::Tf32 => 19,
            Format::Fp8E4M3 | Format::Fp8E5M2 | Format::Int8 | Format::Uint8 => 8,
            Format::Fp4E2M1 => 4,
        }
    }

    /// The floating-point layout, `None` for the integer formats.
    const fn layout(self) -> Option<Layout> {
        match self {
            Format::Fp32 => Some(FP32),
            Format::Fp16 => Some(FP16),
            Format::Bf16 => Some(BF16),
            Format::Tf32 => Some(TF32),
            Format::Fp8E4M3 => Some(E4M3),
            Format::Fp8E5M2 => Some(E5M2),
            Format::Fp4E2M1 => Some(E2M1),
            Format::Int8 | Format::Uint8 => None,
        }
    }

    /// Whether this is a floating-point format.
    pub const fn is_float(self) -> bool {
        self.layout().is_some()
    }

    /// Exponent field width (0 for integers).
    pub const fn exponent_bits(self) -> u32 {
        match self.layout() {
            Some(l) => l.ebits,
            None => 0,
        }
    }

    /// Stored mantissa (fraction) width, without the implicit bit (0 for integers).
    pub const fn mantissa_bits(self) -> u32 {
        match self.layout() {
            Some(l) => l.mbits,
            None => 0,
        }
    }

    /// Exponent bias (`None` for integers).
    pub const fn exponent_bias(self) -> Option<i32> {
        match self.layout() {
            Some(l) => Some(l.bias),
            None => None,
        }
    }

    /// Largest finite value.
    pub fn max_finite(self) -> f32 {
        match self {
            Format::Int8 => 127.0,
            Format::Uint8 => 255.0,
            _ => self.decode_unchecked(self.layout().map_or(0, Layout::max_code)),
        }
    }

    /// Smallest positive value (the smallest subnormal for floats, 1 for integers).
    pub fn min_positive(self) -> f32 {
        if self.is_float() {
            self.decode_unchecked(1)
        } else {
            1.0
        }
    }

    /// Encodes `x`: returns the stored code (in the low [`bits`](Self::bits)
    /// bits; int8 as two's complement) and its class.
    pub fn encode(self, x: f32, overflow: Overflow) -> (u32, ValueClass) {
        let Some(layout) = self.layout() else {
            return if self == Format::Int8 {
                encode_int(x, -128.0, 127.0, |q| u32::from(q as i8 as u8))
            } else {
                encode_int(x, 0.0, 255.0, |q| q as u32)
            };
        };
        match self {
            Format::Fp32 => {
                let code = x.to_bits();
                (code, layout.classify(code))
            }
            Format::Fp16 => {
                let code = u32::from(half::f16::from_f32(x).to_bits());
                ieee_overflow(layout, code, overflow)
            }
            Format::Bf16 => {
                let code = u32::from(half::bf16::from_f32(x).to_bits());
                ieee_overflow(layout, code, overflow)
            }
            _ => layout.encode(x, overflow),
        }
    }

    /// Decodes a code produced by [`encode`](Self::encode). Errors when the
    /// code has bits set above [`bits`](Self::bits).
    pub fn decode(self, code: u32) -> Result<f32> {
        if self.bits() < 32 && code >> self.bits() != 0 {
            return Err(Error::invalid(format!(
                "code {code:#x} does not fit in the {} bits of {}",
                self.bits(),
                self.name()
            )));
        }
        Ok(self.decode_unchecked(code))
    }

    fn decode_unchecked(self, code: u32) -> f32 {
        match self {
            Format::Fp32 => f32::from_bits(code),
            Format::Fp16 => half::f16::from_bits(code as u16).to_f32(),
            Format::Bf16 => half::bf16::from_bits(code as u16).to_f32(),
            Format::Int8 => f32::from(code as u8 as i8),
            Format::Uint8 => f32::from(code as u8),
            _ => self.layout().map_or(f32::NAN, |l| l.decode(code)),
        }
    }

    /// The value `x` becomes after a trip through this format.
    pub fn round_trip(self, x: f32, overflow: Overflow) -> f32 {
        self.decode_unchecked(self.encode(x, overflow).0)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Format::from_name(s)
    }
}

/// Applies the saturating rule to an IEEE result computed by `half` (which
/// always overflows to ±inf).
fn ieee_overflow(layout: Layout, code: u32, overflow: Overflow) -> (u32, ValueClass) {
    let class = layout.classify(code);
    if class == ValueClass::Inf && overflow == Overflow::Saturate {
        let sign = code & (1 << (layout.bits() - 1));
        return (sign | layout.max_code(), ValueClass::Saturated);
    }
    (code, class)
}

fn encode_int(x: f32, lo: f32, hi: f32, to_code: impl Fn(f32) -> u32) -> (u32, ValueClass) {
    if x.is_nan() {
        return (0, ValueClass::Invalid);
    }
    // Half away from zero, like C roundf (ggml) and `quant::teach`.
    let r = x.round();
    let q = r.clamp(lo, hi);
    let class = if q != r {
        ValueClass::Saturated
    } else if q == 0.0 {
        ValueClass::Zero
    } else {
        ValueClass::Normal
    };
    // Normalise -0.0 so that uint8 codes are plain.
    (to_code(q + 0.0), class)
}

/// f32 -> IEEE f16 bits, round to nearest even, overflow to ±inf.
pub fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

/// IEEE f16 bits -> f32 (exact).
pub fn f16_to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

/// f32 -> bf16 bits, round to nearest even, overflow to ±inf, NaN stays NaN.
pub fn f32_to_bf16(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

/// bf16 bits -> f32 (exact).
pub fn bf16_to_f32(bits: u16) -> f32 {
    half::bf16::from_bits(bits).to_f32()
}

/// Rounds an f32 to tf32 precision (10 mantissa bits, nearest even); the
/// result is an f32 whose low 13 mantissa bits are zero.
pub fn round_tf32(x: f32) -> f32 {
    Format::Tf32.round_trip(x, Overflow::NonSaturating)
}

/// f32 -> OCP fp8 E4M3 code. Non-saturating: overflow and ±inf become NaN.
pub fn f32_to_fp8_e4m3(x: f32, overflow: Overflow) -> u8 {
    E4M3.encode(x, overflow).0 as u8
}

/// OCP fp8 E4M3 code -> f32 (exact; 0x7f / 0xff are NaN).
pub fn fp8_e4m3_to_f32(code: u8) -> f32 {
    E4M3.decode(u32::from(code))
}

/// f32 -> OCP fp8 E5M2 code. Non-saturating: overflow becomes ±inf.
pub fn f32_to_fp8_e5m2(x: f32, overflow: Overflow) -> u8 {
    E5M2.encode(x, overflow).0 as u8
}

/// OCP fp8 E5M2 code -> f32 (exact).
pub fn fp8_e5m2_to_f32(code: u8) -> f32 {
    E5M2.decode(u32::from(code))
}

/// f32 -> fp4 E2M1 code (low 4 bits), nearest even, saturating to ±6; NaN -> 0.
pub fn f32_to_fp4_e2m1(x: f32) -> u8 {
    E2M1.encode(x, Overflow::Saturate).0 as u8
}

/// fp4 E2M1 code (low 4 bits used) -> f32.
pub fn fp4_e2m1_to_f32(code: u8) -> f32 {
    E2M1.decode(u32::from(code & 0xf))
}

/// f32 -> int8, half away from zero, saturating; NaN -> 0.
pub fn f32_to_int8(x: f32) -> i8 {
    Format::Int8.encode(x, Overflow::Saturate).0 as u8 as i8
}

/// f32 -> uint8, half away from zero, saturating; NaN -> 0.
pub fn f32_to_uint8(x: f32) -> u8 {
    Format::Uint8.encode(x, Overflow::Saturate).0 as u8
}

/// One value taken apart in a format, for the teaching UI.
///
/// Bit strings are most significant bit first. For integer formats
/// `exponent` and `mantissa` are empty and `sign` is the two's-complement top
/// bit for int8 (empty for uint8); `bits` always holds the whole pattern.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitFields {
    /// The format encoded to.
    pub format: Format,
    /// The overflow rule used.
    pub overflow: Overflow,
    /// The f32 that was encoded.
    pub input: f32,
    /// The stored code (low `format.bits()` bits).
    pub code: u32,
    /// The stored bits as '0'/'1', `format.bits()` characters.
    pub bits: String,
    /// Sign bit ("" for uint8).
    pub sign: String,
    /// Exponent field ("" for integers).
    pub exponent: String,
    /// Mantissa (fraction) field ("" for integers).
    pub mantissa: String,
    /// Exponent bias (`None` for integers).
    pub exponent_bias: Option<i32>,
    /// The value the stored code decodes to.
    pub decoded: f32,
    /// `decoded - input` in f64 (exact): 0 when they are equal (±inf
    /// included), NaN when either is NaN, ±inf when an infinite input
    /// saturated (JSON serialisers write non-finite numbers as null).
    pub error: f64,
    /// What kind of value was stored.
    pub class: ValueClass,
}

/// Encodes `value` in `format` with the spec's default overflow rule
/// ([`Overflow::NonSaturating`]) and takes the result apart.
pub fn bit_fields(format: Format, value: f32) -> BitFields {
    bit_fields_with(format, value, Overflow::default())
}

/// [`bit_fields`] with an explicit overflow rule.
pub fn bit_fields_with(format: Format, value: f32, overflow: Overflow) -> BitFields {
    let (code, class) = format.encode(value, overflow);
    let decoded = format.decode_unchecked(code);
    let width = format.bits() as usize;
    let bits = format!("{code:0width$b}");
    let (sign, exponent, mantissa) = match format.layout() {
        Some(l) => {
            let e = l.ebits as usize;
            (
                bits[..1].to_string(),
                bits[1..1 + e].to_string(),
                bits[1 + e..].to_string(),
            )
        }
        None if format == Format::Int8 => (bits[..1].to_string(), String::new(), String::new()),
        None => (String::new(), String::new(), String::new()),
    };
    let error = if decoded == value {
        0.0
    } else {
        f64::from(decoded) - f64::from(value)
    };
    BitFields {
        format,
        overflow,
        input: value,
        code,
        bits,
        sign,
        exponent,
        mantissa,
        exponent_bias: format.exponent_bias(),
        decoded,
        error,
        class,
    }
}

#[cfg(test)]
mod tests;
