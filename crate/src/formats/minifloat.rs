//! A generic binary floating-point layout (sign, `e` exponent bits, `m`
//! mantissa bits, bias) with exact round-to-nearest-even encoding from f32 and
//! exact decoding back to f32.
//!
//! It encodes tf32, fp8 E4M3/E5M2 and fp4 E2M1; the f32/f16/bf16 layouts
//! are used to classify codes and, in the tests, to cross-check this encoder
//! against `half`. Every layout is a subset of f32, so the arithmetic is done in
//! f64 where scaling by a power of two and the final product are exact: the
//! only rounding is the one `round_ties_even` performs.

/// How a layout uses its all-ones exponent field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Specials {
    /// IEEE 754: all-ones exponent is ±inf (mantissa 0) or NaN.
    Ieee,
    /// OCP E4M3 ("fn"): no infinities; only S.1111.111 is NaN, the other
    /// all-ones-exponent codes are ordinary normals.
    NanOnly,
    /// OCP E2M1: every code is a finite number.
    FiniteOnly,
}

/// What happens to a value whose magnitude rounds beyond the largest finite
/// value (and to ±inf inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Overflow {
    /// Spec default: ±inf where the format has infinities (f16, bf16, tf32,
    /// E5M2), NaN for E4M3. Formats without special values (fp4, int8,
    /// uint8) always saturate.
    #[default]
    NonSaturating,
    /// Clamp to ±(largest finite value); ±inf inputs clamp too. NaN stays NaN
    /// where the format has one.
    Saturate,
}

/// The class of an encoded value, as the teaching UI labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ValueClass {
    /// ±0 (including values that underflowed to zero).
    Zero,
    /// Exponent field 0, no implicit leading one.
    Subnormal,
    /// Ordinary value (for integer formats: any non-zero integer in range).
    Normal,
    /// ±infinity.
    Inf,
    /// Not a number (including E4M3 overflow in non-saturating mode).
    Nan,
    /// The input was out of range (or infinite) and was clamped to the
    /// largest finite value of the format.
    Saturated,
    /// The input was NaN but the format has no NaN (fp4, int8, uint8): the
    /// stored code is 0.
    Invalid,
}

/// A floating-point bit layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub ebits: u32,
    pub mbits: u32,
    pub bias: i32,
    pub specials: Specials,
}

/// 2^k as f64, exact for the exponents these layouts need.
fn pow2(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

impl Layout {
    pub const fn bits(self) -> u32 {
        1 + self.ebits + self.mbits
    }

    fn exp_all_ones(self) -> u32 {
        (1 << self.ebits) - 1
    }

    fn mant_all_ones(self) -> u32 {
        (1 << self.mbits) - 1
    }

    /// Smallest normal exponent (unbiased).
    fn emin(self) -> i32 {
        1 - self.bias
    }

    /// The code (without sign) of the largest finite magnitude.
    pub fn max_code(self) -> u32 {
        let (e, m) = match self.specials {
            Specials::Ieee => (self.exp_all_ones() - 1, self.mant_all_ones()),
            Specials::NanOnly => (self.exp_all_ones(), self.mant_all_ones() - 1),
            Specials::FiniteOnly => (self.exp_all_ones(), self.mant_all_ones()),
        };
        (e << self.mbits) | m
    }

    /// The canonical NaN code (without sign), if the layout has one.
    fn nan_code(self) -> Option<u32> {
        match self.specials {
            // Quiet NaN: top mantissa bit set (what f16/bf16 conversions produce).
            Specials::Ieee => Some((self.exp_all_ones() << self.mbits) | (1 << (self.mbits - 1))),
            Specials::NanOnly => Some((self.exp_all_ones() << self.mbits) | self.mant_all_ones()),
            Specials::FiniteOnly => None,
        }
    }

    fn sign_bit(self) -> u32 {
        1 << (self.ebits + self.mbits)
    }

    /// Decodes a code (only the low `bits()` bits are used) to f32, exactly.
    pub fn decode(self, code: u32) -> f32 {
        let neg = code & self.sign_bit() != 0;
        let e = (code >> self.mbits) & self.exp_all_ones();
        let m = code & self.mant_all_ones();
        let mag = match self.specials {
            Specials::Ieee if e == self.exp_all_ones() => {
                if m == 0 {
                    f64::INFINITY
                } else {
                    f64::NAN
                }
            }
            Specials::NanOnly if e == self.exp_all_ones() && m == self.mant_all_ones() => f64::NAN,
            _ if e == 0 => m as f64 * pow2(self.emin() - self.mbits as i32),
            _ => ((1u32 << self.mbits) + m) as f64 * pow2(e as i32 - self.bias - self.mbits as i32),
        };
        let v = mag as f32;
        if neg {
            -v
        } else {
            v
        }
    }

    /// Classifies a code by its fields alone.
    pub fn classify(self, code: u32) -> ValueClass {
        let e = (code >> self.mbits) & self.exp_all_ones();
        let m = code & self.mant_all_ones();
        match self.specials {
            Specials::Ieee if e == self.exp_all_ones() => {
                if m == 0 {
                    ValueClass::Inf
                } else {
                    ValueClass::Nan
                }
            }
            Specials::NanOnly if e == self.exp_all_ones() && m == self.mant_all_ones() => {
                ValueClass::Nan
            }
            _ if e == 0 && m == 0 => ValueClass::Zero,
            _ if e == 0 => ValueClass::Subnormal,
            _ => ValueClass::Normal,
        }
    }

    /// Encodes `x` with round-to-nearest, ties-to-even. Returns the code and
    /// its class (`Saturated` / `Invalid` when the overflow or NaN rule
    /// applied).
    pub fn encode(self, x: f32, overflow: Overflow) -> (u32, ValueClass) {
        let sign = if x.is_sign_negative() {
            self.sign_bit()
        } else {
            0
        };
        let saturate = overflow == Overflow::Saturate || self.specials == Specials::FiniteOnly;
        // The code for an overflowing or infinite input.
        let overflowed = || {
            if saturate {
                (sign | self.max_code(), ValueClass::Saturated)
            } else if self.specials == Specials::Ieee {
                (sign | (self.exp_all_ones() << self.mbits), ValueClass::Inf)
            } else {
                // E4M3 has no infinity: non-saturating overflow is NaN.
                (sign | self.nan_code().unwrap_or(0), ValueClass::Nan)
            }
        };
        if x.is_nan() {
            return match self.nan_code() {
                Some(c) => (sign | c, ValueClass::Nan),
                None => (0, ValueClass::Invalid),
            };
        }
        if x.is_infinite() {
            return overflowed();
        }
        let a = (x as f64).abs();
        if a == 0.0 {
            return (sign, ValueClass::Zero);
        }
        // f32 subnormals are normal in f64, so the biased f64 exponent gives
        // floor(log2 a) exactly.
        let e = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        let eq = e.max(self.emin());
        // Count of quanta at this binade's spacing; scaling by 2^k is exact.
        let n = (a * pow2(self.mbits as i32 - eq)).round_ties_even() as u64;
        let hidden = 1u64 << self.mbits;
        let (exp_field, mant) = if n < hidden {
            // Only reachable in the subnormal range (eq == emin).
            (0i32, n as u32)
        } else if n == 2 * hidden {
            // Rounded up into the next binade.
            (eq + 1 + self.bias, 0)
        } else {
            (eq + self.bias, (n - hidden) as u32)
        };
        if exp_field > self.exp_all_ones() as i32 {
            return overflowed();
        }
        let mag = ((exp_field as u32) << self.mbits) | mant;
        if mag > self.max_code() {
            return overflowed();
        }
        let code = sign | mag;
        (code, self.classify(code))
    }
}

pub(crate) const TF32: Layout = Layout {
    ebits: 8,
    mbits: 10,
    bias: 127,
    specials: Specials::Ieee,
};
pub(crate) const E4M3: Layout = Layout {
    ebits: 4,
    mbits: 3,
    bias: 7,
    specials: Specials::NanOnly,
};
pub(crate) const E5M2: Layout = Layout {
    ebits: 5,
    mbits: 2,
    bias: 15,
    specials: Specials::Ieee,
};
pub(crate) const E2M1: Layout = Layout {
    ebits: 2,
    mbits: 1,
    bias: 1,
    specials: Specials::FiniteOnly,
};
pub(crate) const FP32: Layout = Layout {
    ebits: 8,
    mbits: 23,
    bias: 127,
    specials: Specials::Ieee,
};
/// f16 and bf16 are encoded by `half`; these layouts classify the codes and
/// let the tests cross-check the generic encoder against `half`.
pub(crate) const FP16: Layout = Layout {
    ebits: 5,
    mbits: 10,
    bias: 15,
    specials: Specials::Ieee,
};
pub(crate) const BF16: Layout = Layout {
    ebits: 8,
    mbits: 7,
    bias: 127,
    specials: Specials::Ieee,
};
