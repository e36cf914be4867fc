//! Tests of the block quantizers and dequantizers, in three levels (as
//! candle's quantized tests): exactness against ggml's own bytes
//! (`shared/vectors/ggml`), round-trip error bounds on random data, and
//! dot-product / scale sanity. Plus the fast paths against the scalar
//! references, and every way the input can be wrong.

use super::{quantizable, reference_dequantize, reference_quantize_row};
use crate::error::Error;
use crate::quant::blocks::{
    dequantize, dequantize_into, dequantize_threads, quantize, quantize_into, quantize_threads,
    uses_importance,
};
use crate::quant::layout::{self as dequant, fp32_to_bf16, fp32_to_fp16};
use crate::quant::reference;
use crate::quant::types::{GgmlType, QK_K};
use proptest::prelude::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

// ---------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------

macro_rules! vector {
    ($($part:literal),+) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/ggml/",
            $($part),+
        ))
        .as_slice()
    };
}

/// Rows and columns of `input.f32`.
const ROWS: usize = 32;
const COLS: usize = 512;

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// ggml's bytes for one type: plain, and with `imatrix.f32` where the
/// quantizer takes one.
struct Vectors {
    ty: GgmlType,
    bin: &'static [u8],
    deq: &'static [u8],
    imatrix: Option<(&'static [u8], &'static [u8])>,
}

macro_rules! vectors {
    ($ty:expr, $name:literal) => {
        Vectors {
            ty: $ty,
            bin: vector!($name, ".bin"),
            deq: vector!($name, ".deq.f32"),
            imatrix: None,
        }
    };
    ($ty:expr, $name:literal, imatrix) => {
        Vectors {
            ty: $ty,
            bin: vector!($name, ".bin"),
            deq: vector!($name, ".deq.f32"),
            imatrix: Some((
                vector!($name, ".imatrix.bin"),
                vector!($name, ".imatrix.deq.f32"),
            )),
        }
    };
}

fn all_vectors() -> Vec<Vectors> {
    use GgmlType::*;
    vec![
        vectors!(Q4_0, "q4_0", imatrix),
        vectors!(Q4_1, "q4_1", imatrix),
        vectors!(Q5_0, "q5_0", imatrix),
        vectors!(Q5_1, "q5_1", imatrix),
        vectors!(Q8_0, "q8_0"),
        vectors!(Q2K, "q2_K", imatrix),
        vectors!(Q3K, "q3_K", imatrix),
        vectors!(Q4K, "q4_K", imatrix),
        vectors!(Q5K, "q5_K", imatrix),
        vectors!(Q6K, "q6_K", imatrix),
        vectors!(IQ4NL, "iq4_nl", imatrix),
        vectors!(IQ4XS, "iq4_xs", imatrix),
        vectors!(TQ1_0, "tq1_0"),
        vectors!(TQ2_0, "tq2_0"),
        vectors!(MXFP4, "mxfp4"),
    ]
}

fn input() -> Vec<f32> {
    let x = f32s(vector!("input.f32"));
    assert_eq!(x.len(), ROWS * COLS);
    x
}

fn imatrix() -> Vec<f32> {
    let w = f32s(vector!("imatrix.f32"));
    assert_eq!(w.len(), COLS);
    w
}

/// First difference between two quantized buffers of `row_bytes` rows, as
/// "row r, byte b (block k, offset o): got .., want ..".
pub(super) fn first_byte_diff(
    ty: GgmlType,
    got: &[u8],
    want: &[u8],
    row_bytes: usize,
) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("length {} != {}", got.len(), want.len()));
    }
    let i = got.iter().zip(want).position(|(a, b)| a != b)?;
    let (row, byte) = (i / row_bytes, i % row_bytes);
    let rows_differing = got
        .chunks(row_bytes)
        .zip(want.chunks(row_bytes))
        .filter(|(a, b)| a != b)
        .count();
    Some(format!(
        "{}: row {row}, byte {byte} (block {}, offset {}): got {:#04x}, want {:#04x}; {rows_differing} rows differ",
        ty.name(),
        byte / ty.type_size(),
        byte % ty.type_size(),
        got[i],
        want[i]
    ))
}

/// First float that differs in bits.
fn first_bits_diff(got: &[f32], want: &[f32], row_len: usize) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("length {} != {}", got.len(), want.len()));
    }
    let i = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits())?;
    Some(format!(
        "row {}, column {}: got {:e} ({:#010x}), want {:e} ({:#010x})",
        i / row_len,
        i % row_len,
        got[i],
        got[i].to_bits(),
        want[i],
        want[i].to_bits()
    ))
}

/// Deterministic random numbers (xorshift64*), so failures reproduce.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub(super) fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Standard normal (Box-Muller).
    pub(super) fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
    pub(super) fn normals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal()).collect()
    }
}

// ---------------------------------------------------------------------
// Level 1: exactness against ggml
// ---------------------------------------------------------------------

#[test]
fn quantize_matches_ggml_bytes() {
    let x = input();
    let mut failures = Vec::new();
    let mut rows_checked = 0;
    for v in all_vectors() {
        let row_bytes = v.ty.row_size(COLS).unwrap();
        assert_eq!(v.bin.len(), ROWS * row_bytes, "{}", v.ty);
        let got = quantize(v.ty, &x, COLS, None).unwrap();
        if let Some(d) = first_byte_diff(v.ty, &got, v.bin, row_bytes) {
            failures.push(d);
        }
        // The scalar reference too, in case a fast path answered above.
        let mut r = vec![0u8; got.len()];
        for (x, y) in x.chunks(COLS).zip(r.chunks_mut(row_bytes)) {
            reference_quantize_row(v.ty, x, y);
        }
        if let Some(d) = first_byte_diff(v.ty, &r, v.bin, row_bytes) {
            failures.push(format!("reference: {d}"));
        }
        rows_checked += ROWS;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(rows_checked, 15 * ROWS);
}

#[test]
fn quantize_with_imatrix_matches_ggml_bytes() {
    let x = input();
    let w = imatrix();
    let mut failures = Vec::new();
    let mut types = 0;
    for v in all_vectors() {
        let row_bytes = v.ty.row_size(COLS).unwrap();
        let got = quantize(v.ty, &x, COLS, Some(&w)).unwrap();
        // Types that ignore the imatrix must give the plain bytes.
        let want = v.imatrix.map_or(v.bin, |(bin, _)| bin);
        assert_eq!(v.imatrix.is_some(), uses_importance(v.ty), "{}", v.ty);
        if let Some(d) = first_byte_diff(v.ty, &got, want, row_bytes) {
            failures.push(format!("with imatrix: {d}"));
        }
        types += v.imatrix.is_some() as usize;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(types, 11);
}

#[test]
fn dequantize_matches_ggml_floats() {
    let mut failures = Vec::new();
    for v in all_vectors() {
        let mut cases = vec![("", v.bin, v.deq)];
        if let Some((bin, deq)) = v.imatrix {
            cases.push(("imatrix ", bin, deq));
        }
        for (what, bin, deq) in cases {
            let got = dequantize(v.ty, bin, COLS).unwrap();
            if let Some(d) = first_bits_diff(&got, &f32s(deq), COLS) {
                failures.push(format!("{} {what}{d}", v.ty));
            }
            // The scalar reference too, in case a fast path answered above.
            let mut r = vec![0f32; ROWS * COLS];
            reference_dequantize(v.ty).unwrap()(bin, &mut r);
            if let Some(d) = first_bits_diff(&r, &f32s(deq), COLS) {
                failures.push(format!("{} reference {what}{d}", v.ty));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The vectors' round trip is ggml's: dequantize(quantize(input)) equals
/// TYPE.deq.f32 (the composition of the two exact checks above, through
/// the public API in one go).
#[test]
fn round_trip_of_input_matches_ggml() {
    let x = input();
    for v in all_vectors() {
        let q = quantize(v.ty, &x, COLS, None).unwrap();
        let y = dequantize(v.ty, &q, COLS).unwrap();
        assert!(
            first_bits_diff(&y, &f32s(v.deq), COLS).is_none(),
            "{}",
            v.ty
        );
    }
}

/// Rows are independent: quantizing one row alone gives that row's bytes
/// (the `*_impl` paths use whole-row statistics, so this checks the row
/// split too).
#[test]
fn rows_quantize_independently() {
    let x = input();
    let w = imatrix();
    for v in all_vectors() {
        let row_bytes = v.ty.row_size(COLS).unwrap();
        let want = v.imatrix.map_or(v.bin, |(bin, _)| bin);
        for r in [0, 7, 31] {
            let got = quantize(v.ty, &x[r * COLS..(r + 1) * COLS], COLS, Some(&w)).unwrap();
            assert_eq!(
                got,
                &want[r * row_bytes..(r + 1) * row_bytes],
                "{} row {r}",
                v.ty
            );
        }
    }
}

#[test]
fn float_types_match_ggml_conversions() {
    let mut rng = Rng::new(7);
    let mut vals: Vec<f32> = (0..20_000)
        .map(|i| {
            let bits = rng.next_u64() as u32;
            let v = f32::from_bits(bits);
            match i % 3 {
                0 if v.is_finite() => v,
                1 => rng.normal() * 1e-5,
                _ => rng.normal() * 1e4,
            }
        })
        .collect();
    vals.extend([
        0.0,
        -0.0,
        65504.0,
        65520.0, // rounds to infinity
        65519.99,
        6.1035156e-5,
        5.9604645e-8,
        2.9802322e-8, // half of the smallest subnormal: ties to even, 0
        2.9802326e-8,
        1.0 + f32::EPSILON,
        f32::MAX,
        f32::MIN_POSITIVE,
        -f32::MAX,
    ]);
    let f16 = quantize(GgmlType::F16, &vals, 1, None).unwrap();
    let bf16 = quantize(GgmlType::BF16, &vals, 1, None).unwrap();
    let f32b = quantize(GgmlType::F32, &vals, 1, None).unwrap();
    for (i, &v) in vals.iter().enumerate() {
        let h = u16::from_le_bytes([f16[2 * i], f16[2 * i + 1]]);
        assert_eq!(h, half::f16::from_f32(v).to_bits(), "f16 of {v:e}");
        let b = u16::from_le_bytes([bf16[2 * i], bf16[2 * i + 1]]);
        assert_eq!(b, half::bf16::from_f32(v).to_bits(), "bf16 of {v:e}");
        assert_eq!(&f32b[4 * i..4 * i + 4], &v.to_le_bytes());
    }
    // ggml's NaN handling (only reachable internally: inputs are checked).
    assert_eq!(fp32_to_fp16(f32::NAN) & 0x7fff, 0x7E00);
    assert_eq!(fp32_to_fp16(f32::INFINITY), 0x7C00);
    assert_eq!(fp32_to_fp16(f32::NEG_INFINITY), 0xFC00);
    assert_eq!(fp32_to_bf16(f32::from_bits(0x7f80_0001)), 0x7fc0);
    assert_eq!(fp32_to_bf16(f32::from_bits(0xff81_0000)), 0xffc1);
    // And back: F16/BF16/F32 dequantize to the same values.
    let back = dequantize(GgmlType::F16, &f16, 1).unwrap();
    for (&v, &b) in vals.iter().zip(&back) {
        assert_eq!(b.to_bits(), half::f16::from_f32(v).to_f32().to_bits());
    }
    let back = dequantize(GgmlType::BF16, &bf16, 1).unwrap();
    for (&v, &b) in vals.iter().zip(&back) {
        assert_eq!(b.to_bits(), half::bf16::from_f32(v).to_f32().to_bits());
    }
    let back = dequantize(GgmlType::F32, &f32b, 1).unwrap();
    assert!(first_bits_diff(&back, &vals, 1).is_none());
}

#[test]
fn nearest_int_rounds_half_to_even() {
    use reference::nearest_int;
    for (v, want) in [
        (0.5, 0),
        (1.5, 2),
        (2.5, 2),
        (-0.5, 0),
        (-1.5, -2),
        (0.49999997, 0),
        (127.4, 127),
        (-4194303.0, -4194303),
        (4194303.0, 4194303),
    ] {
        assert_eq!(nearest_int(v), want, "{v}");
    }
}

// ---------------------------------------------------------------------
// Level 2: round-trip error bounds
// ---------------------------------------------------------------------

/// Bound on `max |x - y|` over a block of 32 values (or the type's block),
/// as a multiple of the block's `amax`, where one can be proved from the
/// quantizer's formula. `h = 2^-11` is fp16's relative rounding error.
///
/// - Q8_0/Q8_1: `q = round(x/d)`, `d = amax/127` stored in fp16:
///   `|x - q d16| <= d/2 + 127 d h`, i.e. `(0.5 + 127h)/127`.
/// - Q8_K: as Q8_0 with an f32 `d`: `0.5/127`, plus float rounding.
/// - Q4_0/Q5_0: `d = max/-8` (`/-16`); the top code clamps, so `x = -max`
///   lands a whole step off: `|d| (1 + 8h)` (`16h`).
/// - Q4_1/Q5_1: `d = (max-min)/15` (`/31`) `<= 2 amax/15`: `d/2 + 15 d h`
///   for `d`, `amax h` for `m`.
/// - TQ1_0/TQ2_0: values `{-d, 0, d}` with `d = amax`: half a step.
/// - MXFP4: with `E = floor(log2 amax)`, the grid is `{0..4, 6, 8, 12} *
///   2^(E-3)`; the widest gap (8 to 12) and the clip above `1.5 * 2^E`
///   (`amax < 2^(E+1)`) both stay below `amax / 4`.
/// - F16/BF16: per value, relative `2^-11` / `2^-8` (checked separately).
fn max_error_bound(ty: GgmlType) -> Option<f32> {
    use GgmlType::*;
    let h = 1.0 / 2048.0;
    // float rounding inside the quantizer (x * id etc.), a few ulps
    let slack = 1e-5;
    Some(
        slack
            + match ty {
                Q8_0 | Q8_1 => (0.5 + 127.0 * h) / 127.0,
                Q8K => 0.5 / 127.0,
                Q4_0 => (1.0 + 8.0 * h) / 8.0,
                Q5_0 => (1.0 + 16.0 * h) / 16.0,
                Q4_1 => 1.0 / 15.0 + 2.0 * h + h,
                Q5_1 => 1.0 / 31.0 + 2.0 * h + h,
                TQ1_0 | TQ2_0 => 0.5 + h,
                MXFP4 => 0.25,
                _ => return None,
            },
    )
}

/// Bound on the relative RMS error `|x - y| / |x|` for unit-normal rows
/// (the worst of 40 rows of 1024 in [`round_trip_error_is_bounded`]).
///
/// Estimate: a `b`-bit uniform grid spanning a block's range `R` has RMS
/// error `R / ((2^b - 1) sqrt 12)`; 32 normal values span about `4.1`, so
/// 4 bits give ~0.079, 5 bits ~0.038, 8 bits ~0.0047; 16-value sub-blocks
/// (Q2_K, Q3_K, Q6_K) span ~3.5. Symmetric types (Q4_0, Q5_0, Q3_K) lose
/// one code. The bounds are measured values (in parentheses) plus ~20%, so
/// a regression in the scale search shows while bit-exactness with ggml is
/// checked above.
fn rmse_bound(ty: GgmlType) -> f64 {
    use GgmlType::*;
    match ty {
        F32 => 0.0,
        F16 => 0.0003,  // (0.00022) 2^-11 / sqrt 3 for uniform mantissas
        BF16 => 0.0022, // (0.0017)
        Q4_0 => 0.11,   // (0.094)
        Q4_1 => 0.10,   // (0.082) estimate 0.079
        Q5_0 => 0.055,  // (0.045)
        Q5_1 => 0.048,  // (0.040) estimate 0.038
        Q8_0 => 0.007,  // (0.0057)
        Q8_1 => 0.007,  // (0.0059)
        Q2K => 0.37,    // (0.315) 2 bits on 16 values: 3.5 / (3 sqrt 12) = 0.34
        Q3K => 0.19,    // (0.162)
        Q4K => 0.095,   // (0.078)
        Q5K => 0.046,   // (0.038)
        Q6K => 0.023,   // (0.019)
        Q8K => 0.010,   // (0.0083) one scale per 256 values
        IQ4NL => 0.097, // (0.081)
        IQ4XS => 0.095, // (0.080)
        TQ1_0 => 0.9,   // (0.86) ternary with d = amax: most values round to 0
        TQ2_0 => 0.9,   // (0.86)
        MXFP4 => 0.145, // (0.121)
        I8 | I16 | I32 => unreachable!(),
    }
}

fn rel_rmse(x: &[f32], y: &[f32]) -> f64 {
    let e: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum();
    let s: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum();
    (e / s).sqrt()
}

/// Worst `max|x - y| / amax` over the chunks of `chunk` values.
fn worst_max_error(x: &[f32], y: &[f32], chunk: usize) -> f32 {
    x.chunks(chunk)
        .zip(y.chunks(chunk))
        .map(|(x, y)| {
            let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let e = x.iter().zip(y).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            if amax > 0.0 {
                e / amax
            } else {
                e
            }
        })
        .fold(0.0, f32::max)
}

#[test]
fn round_trip_error_is_bounded() {
    let mut rng = Rng::new(1);
    let n = 1024;
    for ty in quantizable() {
        let mut worst = [0f64; 2];
        for _ in 0..40 {
            let x = rng.normals(n);
            let w: Vec<f32> = (0..n).map(|_| rng.uniform() + 0.01).collect();
            for (k, imx) in [None, Some(&w[..])].into_iter().enumerate() {
                let y = dequantize(ty, &quantize(ty, &x, n, imx).unwrap(), n).unwrap();
                worst[k] = worst[k].max(rel_rmse(&x, &y));
                // The bounds are for the plain (`*_ref`) formulas; the
                // importance-weighted fits may clip an outlier.
                let plain = imx.is_none() || !uses_importance(ty);
                if let Some(b) = max_error_bound(ty).filter(|_| plain) {
                    let e = worst_max_error(&x, &y, ty.block_size());
                    assert!(e <= b, "{ty}: max error {e} amax > {b}");
                }
                match ty {
                    GgmlType::F16 | GgmlType::BF16 => {
                        // Relative half-ulp; fp16 subnormals: half of 2^-24.
                        let rel = if ty == GgmlType::F16 {
                            2f32.powi(-11)
                        } else {
                            2f32.powi(-8)
                        };
                        for (a, b) in x.iter().zip(&y) {
                            let bound = (a.abs() * rel).max(2f32.powi(-25));
                            assert!((a - b).abs() <= bound, "{ty}: {a} -> {b}");
                        }
                    }
                    GgmlType::F32 => assert_eq!(x, y),
                    _ => {}
                }
            }
        }
        let bound = rmse_bound(ty);
        assert!(
            worst[0] <= bound && worst[1] <= bound,
            "{ty}: relative RMS error {worst:?} above {bound}"
        );
    }
}

/// Different row lengths (1 to 8 blocks, and 4096), with and without
/// importance, quantize to the right size and within the RMS bound (a
/// little looser for short rows, whose worst row is noisier).
#[test]
fn round_trip_over_row_lengths() {
    let mut rng = Rng::new(2);
    for ty in quantizable() {
        let bs = ty.block_size().max(32);
        for blocks in [1, 2, 3, 5, 8, 4096 / bs] {
            let n = blocks * bs;
            let rows = 3;
            let x = rng.normals(n * rows);
            let w: Vec<f32> = (0..n).map(|_| rng.uniform() * 4.0).collect();
            for imx in [None, Some(&w[..])] {
                let q = quantize(ty, &x, n, imx).unwrap();
                assert_eq!(q.len(), rows * ty.row_size(n).unwrap());
                let y = dequantize(ty, &q, n).unwrap();
                let e = rel_rmse(&x, &y);
                assert!(e <= rmse_bound(ty) * 1.3, "{ty} n={n}: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------
// Level 3: dot product and scale sanity
// ---------------------------------------------------------------------

/// ggml's quantizers commute with scaling by a power of two (every step is
/// a product, quotient, comparison or square root that scales exactly, and
/// `nearest_int` sees `iscale * x` unchanged), as long as the fp16 scales
/// stay normal. So `dequantize(quantize(2x)) == 2 dequantize(quantize(x))`
/// bit for bit: a check on the whole pipeline that needs no reference.
#[test]
fn scaling_by_powers_of_two_is_exact() {
    let mut rng = Rng::new(3);
    let n = 512;
    let x = rng.normals(n * 4);
    let w: Vec<f32> = (0..n).map(|_| rng.uniform() + 0.1).collect();
    for ty in quantizable() {
        for imx in [None, Some(&w[..])] {
            let y = dequantize(ty, &quantize(ty, &x, n, imx).unwrap(), n).unwrap();
            for c in [2.0f32, 0.5, 16.0] {
                let xc: Vec<f32> = x.iter().map(|v| v * c).collect();
                let yc = dequantize(ty, &quantize(ty, &xc, n, imx).unwrap(), n).unwrap();
                let want: Vec<f32> = y.iter().map(|v| v * c).collect();
                assert!(
                    first_bits_diff(&yc, &want, n).is_none(),
                    "{ty} x{c}: {:?}",
                    first_bits_diff(&yc, &want, n)
                );
            }
        }
    }
}

/// Dot products survive quantization as the runner uses it: weights in
/// `ty`, activations in Q8_0 or Q8_K (what ggml pairs them with). By
/// Cauchy-Schwarz `|x.a - x'.a'| <= (ex + ea + ex ea) |x| |a|` with the
/// relative errors `ex`, `ea`; the noise is uncorrelated with the other
/// vector, so on average it is ~`1/sqrt(n)` of that; allow 4 times the
/// average bound per row and 1.5 times on the mean.
#[test]
fn dot_products_survive_quantization() {
    let mut rng = Rng::new(4);
    let n = 1024;
    for ty in quantizable() {
        let act = if ty.block_size() == 32 || ty.block_size() == 1 {
            GgmlType::Q8_0
        } else {
            GgmlType::Q8K
        };
        let (ex, ea) = (rmse_bound(ty), rmse_bound(act));
        let per_row = (ex + ea + ex * ea) * 4.0 / (n as f64).sqrt();
        let mut mean = 0.0;
        let rows = 20;
        for _ in 0..rows {
            let x = rng.normals(n);
            let a = rng.normals(n);
            let xq = dequantize(ty, &quantize(ty, &x, n, None).unwrap(), n).unwrap();
            let aq = dequantize(act, &quantize(act, &a, n, None).unwrap(), n).unwrap();
            let dot = |u: &[f32], v: &[f32]| -> f64 {
                u.iter().zip(v).map(|(a, b)| *a as f64 * *b as f64).sum()
            };
            let norm = (dot(&x, &x) * dot(&a, &a)).sqrt();
            let e = (dot(&xq, &aq) - dot(&x, &a)).abs() / norm;
            assert!(e <= per_row, "{ty}: dot error {e} > {per_row}");
            mean += e / rows as f64;
        }
        assert!(mean <= per_row / 4.0 * 1.5, "{ty}: mean dot error {mean}");
    }
}

/// The fitted scales are unbiased: over many rows, `x . y / |x|^2` (the
/// least-squares gain from x to its reconstruction) stays near 1 (ternary
/// and MXFP4 excepted: their fixed grids shrink values on purpose).
#[test]
fn reconstruction_gain_is_near_one() {
    let mut rng = Rng::new(5);
    let n = 2048;
    for ty in quantizable() {
        let x = rng.normals(n * 8);
        let y = dequantize(ty, &quantize(ty, &x, n, None).unwrap(), n).unwrap();
        let xy: f64 = x.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
        let xx: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum();
        let gain = xy / xx;
        let tol = match ty {
            GgmlType::TQ1_0 | GgmlType::TQ2_0 => continue,
            // RMS error e allows a gain off by about e^2 for a
            // least-squares fit, 2e for the max-based ones.
            _ => 2.0 * rmse_bound(ty) + 1e-6,
        };
        assert!((gain - 1.0).abs() <= tol, "{ty}: gain {gain}");
    }
}

// ---------------------------------------------------------------------
// Edge inputs and property tests
// ---------------------------------------------------------------------

/// Rows that stress the special cases: zeros (the `GROUP_MAX_EPS`
/// branches), constants, one outlier, huge and subnormal magnitudes (fp16
/// scales overflowing or flushing to zero), exact ties.
pub(super) fn edge_rows(n: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(6);
    let mut rows = vec![
        vec![0.0; n],
        vec![-0.0; n],
        vec![1.0; n],
        vec![-3.5; n],
        (0..n)
            .map(|i| if i == n / 3 { 100.0 } else { 0.01 })
            .collect(),
        (0..n).map(|i| (i % 17) as f32 * 0.5 - 4.0).collect(),
        (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
        (0..n).map(|_| rng.normal() * 1e-30).collect(),
        (0..n).map(|_| rng.normal() * 1e-41).collect(), // subnormal f32
        (0..n).map(|_| rng.normal() * 1e30).collect(),
        (0..n).map(|_| rng.normal() * 1e37).collect(),
        vec![f32::MAX; n],
        vec![-f32::MAX; n],
        vec![f32::MIN_POSITIVE; n],
        vec![f32::from_bits(1); n],
        (0..n)
            .map(|i| if i % 5 == 0 { 65504.0 } else { -1e-3 })
            .collect(),
        (0..n)
            .map(|i| if i < n / 2 { 0.0 } else { rng.normal() })
            .collect(),
    ];
    rows.push((0..n).map(|_| rng.uniform()).collect());
    rows
}

/// Nothing panics on extreme finite input, with or without importance
/// (all-zero importance included), and the output always has the right
/// size and is deterministic. (Values out of fp16 range give infinite or
/// NaN scales, as in ggml; that is not an error.)
#[test]
fn extreme_inputs_do_not_panic() {
    for ty in quantizable() {
        let n = ty.block_size().max(32) * 2;
        let zeros = vec![0.0f32; n];
        let ones = vec![1.0f32; n];
        let big = vec![1e30f32; n];
        for row in edge_rows(n) {
            for imx in [None, Some(&zeros[..]), Some(&ones[..]), Some(&big[..])] {
                let q = quantize(ty, &row, n, imx).unwrap();
                assert_eq!(q.len(), ty.row_size(n).unwrap());
                assert_eq!(q, quantize(ty, &row, n, imx).unwrap());
                dequantize(ty, &q, n).unwrap();
            }
        }
    }
}

/// Zero rows quantize to zero values, for every type.
#[test]
fn zeros_stay_zero() {
    for ty in quantizable() {
        let n = ty.block_size().max(32) * 2;
        let y = dequantize(ty, &quantize(ty, &vec![0.0; n], n, None).unwrap(), n).unwrap();
        assert!(y.iter().all(|&v| v == 0.0), "{ty}: {y:?}");
    }
}

fn any_type() -> impl Strategy<Value = GgmlType> {
    let types = quantizable();
    (0..types.len()).prop_map(move |i| types[i])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random rows of 1-3 blocks at random scales: the right size, the
    /// same bytes through `quantize_into` over a dirty buffer, rows
    /// independent, and the error within the provable bounds where the
    /// scales are representable in fp16.
    #[test]
    fn random_rows(
        ty in any_type(),
        blocks in 1usize..=3,
        rows in 1usize..=3,
        log2_scale in -8i32..=8,
        seed in any::<u64>(),
        zero_frac in 0.0f32..0.5,
        with_importance in any::<bool>(),
    ) {
        let mut rng = Rng::new(seed);
        let n = blocks * ty.block_size().max(32);
        let scale = 2f32.powi(log2_scale);
        let x: Vec<f32> = (0..n * rows)
            .map(|_| if rng.uniform() < zero_frac { 0.0 } else { rng.normal() * scale })
            .collect();
        let w: Vec<f32> = (0..n).map(|_| rng.uniform() * 3.0).collect();
        let imx = with_importance.then_some(&w[..]);
        let q = quantize(ty, &x, n, imx).unwrap();
        let row_bytes = ty.row_size(n).unwrap();
        prop_assert_eq!(q.len(), rows * row_bytes);
        let mut dirty = vec![0xA5u8; q.len()];
        quantize_into(ty, &x, n, imx, &mut dirty).unwrap();
        prop_assert_eq!(&dirty, &q);
        let last = quantize(ty, &x[(rows - 1) * n..], n, imx).unwrap();
        prop_assert_eq!(&last[..], &q[(rows - 1) * row_bytes..]);
        let y = dequantize(ty, &q, n).unwrap();
        prop_assert!(y.iter().all(|v| v.is_finite()));
        if let Some(b) = max_error_bound(ty).filter(|_| !(with_importance && uses_importance(ty))) {
            // Blocks whose amax is tiny have subnormal fp16 scales, where
            // h is no longer 2^-11: check the blocks of normal size only.
            for (xb, yb) in x.chunks(ty.block_size()).zip(y.chunks(ty.block_size())) {
                let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                if amax > 0.05 {
                    let e = worst_max_error(xb, yb, xb.len());
                    prop_assert!(e <= b, "{}: {} > {}", ty, e, b);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------

#[test]
fn bad_row_lengths_are_errors() {
    let x = vec![0.5f32; 512];
    for ty in quantizable().into_iter().filter(|t| t.is_quantized()) {
        let bs = ty.block_size();
        for row_len in [0, bs + 1, bs / 2] {
            let e = quantize(ty, &x, row_len, None).unwrap_err();
            assert!(matches!(e, Error::BadLength { .. }), "{e}");
            let m = e.to_string();
            assert!(
                m.contains(ty.name())
                    && m.contains(&bs.to_string())
                    && m.contains(&format!("row length {row_len}")),
                "{m}"
            );
        }
    }
    // F32 takes any positive row length, but not 0.
    assert!(quantize(GgmlType::F32, &x, 0, None).is_err());
    let e = quantize(GgmlType::F32, &x, 7, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("512") && e.contains("rows of 7"), "{e}");
}

#[test]
fn src_not_whole_rows_is_an_error() {
    let x = vec![0.5f32; 300];
    let e = quantize(GgmlType::Q8_0, &x, 64, None).unwrap_err();
    assert!(matches!(e, Error::BadLength { .. }));
    let m = e.to_string();
    assert!(
        m.contains("q8_0") && m.contains("300") && m.contains("64"),
        "{m}"
    );
    // An empty input is zero rows.
    assert!(quantize(GgmlType::Q4K, &[], 256, None).unwrap().is_empty());
}

#[test]
fn non_finite_input_names_the_index() {
    for ty in quantizable() {
        let n = ty.block_size().max(32) * 2;
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![0.25f32; 3 * n];
            x[n + 5] = bad;
            x[2 * n] = bad;
            match quantize(ty, &x, n, None) {
                Err(Error::NonFinite {
                    ty: t,
                    index,
                    value,
                }) => {
                    assert_eq!((t, index), (ty.name(), n + 5));
                    assert_eq!(value.to_bits(), bad.to_bits());
                }
                other => panic!("{ty}: {other:?}"),
            }
        }
    }
    // Past the first chunks of the scan, negative NaN included.
    for bad in [-f32::NAN, f32::NEG_INFINITY] {
        let mut x = vec![0.25f32; 8192];
        x[3000] = bad;
        x[5000] = bad;
        match quantize(GgmlType::Q8_0, &x, 32, None) {
            Err(Error::NonFinite { index, .. }) => assert_eq!(index, 3000),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn bad_importance_is_an_error() {
    let x = vec![0.5f32; 512];
    for ty in [GgmlType::Q4K, GgmlType::Q8_0] {
        let e = quantize(ty, &x, 256, Some(&[1.0; 255]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("255") && e.contains("256") && e.contains(ty.name()),
            "{e}"
        );
        for bad in [f32::NAN, f32::INFINITY, -1.0, -0.5e-30] {
            let mut w = vec![1.0f32; 256];
            w[17] = bad;
            let e = quantize(ty, &x, 256, Some(&w)).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
            assert!(e.to_string().contains("weight 17"), "{e}");
        }
    }
    // Zero weights are fine (a column never seen in calibration).
    assert!(quantize(GgmlType::Q4K, &x, 256, Some(&[0.0; 256])).is_ok());
}

#[test]
fn unsupported_types_are_errors() {
    for ty in [GgmlType::I8, GgmlType::I16, GgmlType::I32] {
        let e = quantize(ty, &[1.0; 4], 4, None).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains(ty.name()));
        let bytes = vec![0u8; 4 * ty.type_size()];
        assert!(matches!(
            dequantize(ty, &bytes, 4),
            Err(Error::Unsupported { .. })
        ));
    }
    assert!(!uses_importance(GgmlType::Q8_0));
    assert!(uses_importance(GgmlType::IQ4XS));
}

#[test]
fn quantize_into_checks_the_output_size() {
    let x = vec![0.5f32; 64];
    let mut dst = vec![0u8; 67];
    let e = quantize_into(GgmlType::Q8_0, &x, 32, None, &mut dst).unwrap_err();
    assert!(matches!(e, Error::BadLength { .. }));
    assert!(
        e.to_string().contains("67") && e.to_string().contains("68"),
        "{e}"
    );
    let mut dst = vec![0u8; 68];
    quantize_into(GgmlType::Q8_0, &x, 32, None, &mut dst).unwrap();
    assert_eq!(dst, quantize(GgmlType::Q8_0, &x, 32, None).unwrap());
}

#[test]
fn dequantize_checks_lengths() {
    // Not whole blocks per row.
    let e = dequantize(GgmlType::Q4_0, &[0; 18], 20).unwrap_err();
    assert!(matches!(e, Error::BadLength { .. }));
    assert!(e.to_string().contains("20") && e.to_string().contains("32"));
    // Not whole rows.
    let e = dequantize(GgmlType::Q4_0, &[0; 19], 32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("19") && e.contains("18"), "{e}");
    // Output of the wrong size.
    let mut out = vec![0f32; 31];
    assert!(dequantize_into(GgmlType::Q4_0, &[0; 18], 32, &mut out).is_err());
    // Empty is empty.
    assert!(dequantize(GgmlType::Q6K, &[], 256).unwrap().is_empty());
}

/// The dequantizers' fast paths (whichever this machine has) give the
/// reference's bits on arbitrary bytes, NaN and infinite scales included.
#[test]
fn dequantize_fast_paths_match_reference() {
    let mut rng = Rng::new(8);
    // F16 and BF16 also at lengths that leave a tail after the vectors.
    let odd = [GgmlType::F16, GgmlType::BF16].map(|ty| (ty, 13));
    for (ty, n) in quantizable()
        .iter()
        .map(|&ty| (ty, ty.block_size().max(32) * 5))
        .chain(odd)
    {
        let row_bytes = ty.row_size(n).unwrap();
        for _ in 0..20 {
            let bytes: Vec<u8> = (0..row_bytes * 2).map(|_| rng.next_u64() as u8).collect();
            let got = dequantize(ty, &bytes, n).unwrap();
            let mut want = vec![0f32; 2 * n];
            reference_dequantize(ty).unwrap()(&bytes, &mut want);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{ty} value {i}: {a} vs {b}"
                );
            }
        }
    }
}

/// MXFP4 with every exponent byte (the SIMD path takes the reference below
/// 26, where the scale times 2^-24 would round) against the reference.
#[test]
fn mxfp4_dequantize_every_scale() {
    let mut rng = Rng::new(10);
    let bytes: Vec<u8> = (0..=255u8)
        .flat_map(|e| {
            let mut b = vec![e];
            b.extend((0..16).map(|_| rng.next_u64() as u8));
            b
        })
        .collect();
    let got = dequantize(GgmlType::MXFP4, &bytes, 32).unwrap();
    let mut want = vec![0f32; got.len()];
    reference_dequantize(GgmlType::MXFP4).unwrap()(&bytes, &mut want);
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "value {i} (exponent byte {}): {a} vs {b}",
            i / 32
        );
    }
}

/// Every half (zeros, subnormals, infinities and NaN included) through the
/// F16 dequantizer, whose fast paths treat those apart, against the scalar
/// conversion, bit for bit: in order (vectors of one kind) and permuted
/// (kinds mixed within a vector).
#[test]
fn f16_dequantize_is_exact_for_every_half() {
    let in_order: Vec<u16> = (0..=u16::MAX).collect();
    // 40503 is odd, so i * 40503 mod 2^16 is a permutation.
    let mixed: Vec<u16> = (0..=u16::MAX).map(|i| i.wrapping_mul(40503)).collect();
    for halves in [in_order, mixed] {
        let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
        let got = dequantize(GgmlType::F16, &bytes, halves.len()).unwrap();
        for (&h, g) in halves.iter().zip(&got) {
            let want = dequant::fp16_to_f32(h);
            assert_eq!(g.to_bits(), want.to_bits(), "half {h:#06x}");
        }
    }
}

#[test]
fn q8_k_sums_and_scale() {
    let mut rng = Rng::new(9);
    let x = rng.normals(QK_K * 3);
    let q = quantize(GgmlType::Q8K, &x, QK_K, None).unwrap();
    let blocks: &[dequant::BlockQ8K] = bytemuck::cast_slice(&q);
    for (b, x) in blocks.iter().zip(x.chunks(QK_K)) {
        for j in 0..16 {
            let s: i32 = b.qs[16 * j..16 * j + 16].iter().map(|&q| q as i32).sum();
            assert_eq!(b.bsum(j) as i32, s);
        }
        // The largest magnitude maps to -127 * sign: d = max / -127.
        let (i, _) = x.iter().enumerate().fold((0, 0f32), |(bi, bm), (i, v)| {
            if v.abs() > bm {
                (i, v.abs())
            } else {
                (bi, bm)
            }
        });
        assert_eq!(b.qs[i], -127);
    }
}

// ---------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------

#[test]
fn threads_give_the_same_bytes_and_values() {
    let mut rng = Rng::new(21);
    // 301 rows of 512: whole blocks of every type, a row count no thread
    // count divides, and enough values for three runs of rows.
    let (rows, row_len) = (301, 512);
    let x = rng.normals(rows * row_len);
    let imp: Vec<f32> = (0..row_len).map(|_| rng.uniform() + 0.01).collect();
    for ty in quantizable() {
        for w in [None, Some(imp.as_slice())] {
            let want = quantize(ty, &x, row_len, w).unwrap();
            let back = dequantize(ty, &want, row_len).unwrap();
            for threads in [0, 2, 3, 8] {
                let got = quantize_threads(ty, &x, row_len, w, threads).unwrap();
                assert!(
                    got == want,
                    "{ty} on {threads} threads, importance {}",
                    w.is_some()
                );
                let got = dequantize_threads(ty, &want, row_len, threads).unwrap();
                assert!(
                    got.iter()
                        .map(|v| v.to_bits())
                        .eq(back.iter().map(|v| v.to_bits())),
                    "{ty} dequantized on {threads} threads"
                );
            }
        }
    }
    // Bad input is the same error on any number of threads.
    let e = quantize_threads(GgmlType::Q4K, &x[..300], 300, None, 4).unwrap_err();
    assert_eq!(
        e.to_string(),
        quantize(GgmlType::Q4K, &x[..300], 300, None)
            .unwrap_err()
            .to_string()
    );
    assert!(dequantize_threads(GgmlType::I8, &[], 0, 4).is_err());
}
