//! Quantizers for ggml's block formats: `f32` rows to packed bytes, bit for
//! bit what ggml's `ggml_quantize_chunk` (`ggml-quants.c`) writes.
//!
//! [`reference`] holds scalar ports of ggml's `quantize_row_*_ref` and
//! `quantize_row_*_impl` functions and their helpers (`make_qx_quants`,
//! `make_qkx2_quants`, `make_qp_quants`, ...), names kept so a reader can
//! put them side by side. Every float expression is evaluated in `f32` in
//! ggml's operation order; Rust does not contract `a * b + c` into a fused
//! multiply-add, and ggml-base is built without FMA, so the roundings agree.
//!
//! As in `ggml_quantize_chunk`, an importance matrix (one weight per column)
//! selects the `*_impl` path for the types whose quantizer takes one
//! ([`uses_importance`]); without it the `*_ref` path runs (for IQ4_NL and
//! IQ4_XS, `quantize_iq4_nl` / `quantize_iq4_xs` with no weights, which is
//! what ggml does too). Without importance, the types listed in `simd` have SIMD
//! fast paths that give the same bytes.

use crate::error::{Error, Result};
use crate::quant::types::GgmlType;

/// Every type webquant quantizes to, in the order the UI lists them.
pub const QUANTIZABLE: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q6K,
    GgmlType::Q5K,
    GgmlType::Q5_1,
    GgmlType::Q5_0,
    GgmlType::Q4K,
    GgmlType::Q4_1,
    GgmlType::Q4_0,
    GgmlType::IQ4NL,
    GgmlType::IQ4XS,
    GgmlType::MXFP4,
    GgmlType::Q3K,
    GgmlType::Q2K,
    GgmlType::TQ2_0,
    GgmlType::TQ1_0,
];

/// Whether ggml's quantizer for `ty` uses an importance matrix. For the
/// other types [`quantize`] ignores one (after checking it), as ggml does.
pub fn uses_importance(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(
        ty,
        Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q2K | Q3K | Q4K | Q5K | Q6K | IQ4NL | IQ4XS
    )
}

/// Quantize rows of `row_len` values to `ty`; `importance` (len `row_len`,
/// finite, non-negative) as llama.cpp's imatrix: one weight per column.
///
/// Returns `src.len() / row_len` rows of `ty.row_size(row_len)` bytes.
pub fn quantize(
    ty: GgmlType,
    src: &[f32],
    row_len: usize,
    importance: Option<&[f32]>,
) -> Result<Vec<u8>> {
    let (rows, row_bytes) = check_input(ty, src, row_len, importance)?;
    let total = rows
        .checked_mul(row_bytes)
        .ok_or_else(|| Error::invalid(format!("{rows} rows of {row_bytes} bytes overflow")))?;
    let mut out = vec![0u8; total];
    quantize_rows(ty, src, row_len, row_bytes, importance, &mut out);
    Ok(out)
}

/// Like [`quantize`], writing into `dst`, which must be exactly the size of
/// the quantized rows.
pub fn quantize_into(
    ty: GgmlType,
    src: &[f32],
    row_len: usize,
    importance: Option<&[f32]>,
    dst: &mut [u8],
) -> Result<()> {
    let (rows, row_bytes) = check_input(ty, src, row_len, importance)?;
    if rows.checked_mul(row_bytes) != Some(dst.len()) {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: ty.block_size(),
            detail: format!(
                "output holds {} bytes, {rows} rows of {row_len} values need {} bytes",
                dst.len(),
                rows.saturating_mul(row_bytes)
            ),
        });
    }
    quantize_rows(ty, src, row_len, row_bytes, importance, dst);
    Ok(())
}

/// Everything that can be wrong with the arguments, checked up front so
/// the quantizers themselves never see bad input. Returns (rows, row bytes).
fn check_input(
    ty: GgmlType,
    src: &[f32],
    row_len: usize,
    importance: Option<&[f32]>,
) -> Result<(usize, usize)> {
    if !reference::supported(ty) {
        return Err(Error::Unsupported {
            ty: ty.name(),
            what: "quantization",
        });
    }
    let bs = ty.block_size();
    if row_len == 0 || !row_len.is_multiple_of(bs) {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!(
                "row length {row_len} is not a positive multiple of the block size {bs}"
            ),
        });
    }
    let row_bytes = ty.row_size(row_len)?;
    if !src.len().is_multiple_of(row_len) {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!(
                "{} values are not a whole number of rows of {row_len}",
                src.len()
            ),
        });
    }
    if let Some(w) = importance {
        if w.len() != row_len {
            return Err(Error::invalid(format!(
                "{}: importance has {} weights, expected one per column ({row_len})",
                ty.name(),
                w.len()
            )));
        }
        if let Some((i, v)) = w
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
        {
            return Err(Error::invalid(format!(
                "{}: importance weight {i} is {v}; weights must be finite and non-negative",
                ty.name()
            )));
        }
    }
    // ggml's comparisons would silently skip or spread NaN and infinity
    // (and its float-to-int casts are undefined for them): refuse instead.
    if let Some(index) = first_non_finite(src) {
        return Err(Error::NonFinite {
            ty: ty.name(),
            index,
            value: src[index],
        });
    }
    Ok((src.len() / row_len, row_bytes))
}

/// Index of the first NaN or infinity. A branch-free maximum of the
/// magnitudes' bits per chunk (which vectorises; an early-exit scan does
/// not, and cost as much as quantizing), then a search only in a chunk
/// that has one.
fn first_non_finite(src: &[f32]) -> Option<usize> {
    const CHUNK: usize = 1024;
    for (c, chunk) in src.chunks(CHUNK).enumerate() {
        let top = chunk
            .iter()
            .fold(0u32, |m, v| m.max(v.to_bits() & 0x7FFF_FFFF));
        if top >= 0x7F80_0000 {
            return chunk
                .iter()
                .position(|v| !v.is_finite())
                .map(|i| c * CHUNK + i);
        }
    }
    None
}

/// Quantize checked input row by row (the `*_impl` quantizers depend on the
/// whole row through `sigma2`, so rows are the unit, as in ggml).
fn quantize_rows(
    ty: GgmlType,
    src: &[f32],
    row_len: usize,
    row_bytes: usize,
    importance: Option<&[f32]>,
    dst: &mut [u8],
) {
    let qw = importance.filter(|_| uses_importance(ty));
    for (x, y) in src
        .chunks_exact(row_len)
        .zip(dst.chunks_exact_mut(row_bytes))
    {
        if qw.is_none() && simd::quantize_row(ty, x, y) {
            continue;
        }
        reference::quantize_row(ty, x, y, qw);
    }
}

/// `ggml_compute_fp32_to_fp16` (`GGML_FP32_TO_FP16`): round to nearest
/// even, overflow to infinity, NaN to 0x7E00.
#[inline]
pub(crate) fn fp32_to_fp16(f: f32) -> u16 {
    let scale_to_inf = f32::from_bits(0x7780_0000); // 0x1.0p+112f
    let scale_to_zero = f32::from_bits(0x0880_0000); // 0x1.0p-110f
    let mut base = (f.abs() * scale_to_inf) * scale_to_zero;

    let w = f.to_bits();
    let shl1_w = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    let bias = (shl1_w & 0xFF00_0000).max(0x7100_0000);

    base += f32::from_bits((bias >> 1) + 0x0780_0000);
    let bits = base.to_bits();
    let exp_bits = (bits >> 13) & 0x0000_7C00;
    let mantissa_bits = bits & 0x0000_0FFF;
    let nonsign = exp_bits + mantissa_bits;
    ((sign >> 16)
        | if shl1_w > 0xFF00_0000 {
            0x7E00
        } else {
            nonsign
        }) as u16
}

/// `ggml_compute_fp32_to_bf16`: NaN made quiet, otherwise round to nearest
/// even.
#[inline]
pub(crate) fn fp32_to_bf16(s: f32) -> u16 {
    let i = s.to_bits();
    if (i & 0x7fff_ffff) > 0x7f80_0000 {
        return ((i >> 16) | 64) as u16;
    }
    (i.wrapping_add(0x7fff + ((i >> 16) & 1)) >> 16) as u16
}

/// Scalar ports of ggml's quantizers (`ggml-quants.c` at the commit the test
/// vectors were made with), the ground truth for the fast paths.
///
/// Conventions: `x` is one row (whole blocks, already checked finite), `y`
/// the row's blocks; C's `MAX`/`MIN` macros, integer truncations and x86's
/// float-to-int conversions are spelled out where they matter. Loops index
/// as ggml's do, so the two read side by side.
#[allow(clippy::needless_range_loop)]
pub(crate) mod reference {
    use super::super::dequant::layout::*;
    use super::super::dequant::{fp16_to_f32, KVALUES_IQ4NL, KVALUES_MXFP4};
    use super::{fp32_to_bf16, fp32_to_fp16};
    use crate::quant::types::{GgmlType, QK_K};

    /// `GROUP_MAX_EPS`: groups with a smaller absolute maximum are zero.
    pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

    /// Whether [`quantize_row`] handles `ty`.
    pub fn supported(ty: GgmlType) -> bool {
        !matches!(ty, GgmlType::I8 | GgmlType::I16 | GgmlType::I32)
    }

    /// One row as `ggml_quantize_chunk` does it: `qw` (one weight per
    /// column) is only passed for the types that use it. `y` must be
    /// exactly the row's bytes.
    pub fn quantize_row(ty: GgmlType, x: &[f32], y: &mut [u8], qw: Option<&[f32]>) {
        use GgmlType::*;
        // Start from zero so no byte of a caller's buffer survives, whatever
        // a quantizer leaves untouched (ggml leaves Q8_K's bsums of an
        // all-zero block unset).
        y.fill(0);
        match ty {
            F32 => {
                for (o, v) in y.chunks_exact_mut(4).zip(x) {
                    o.copy_from_slice(&v.to_le_bytes());
                }
            }
            // `ggml_fp32_to_fp16_row`
            F16 => {
                for (o, &v) in y.chunks_exact_mut(2).zip(x) {
                    o.copy_from_slice(&fp32_to_fp16(v).to_le_bytes());
                }
            }
            // `ggml_fp32_to_bf16_row_ref`
            BF16 => {
                for (o, &v) in y.chunks_exact_mut(2).zip(x) {
                    o.copy_from_slice(&fp32_to_bf16(v).to_le_bytes());
                }
            }
            Q4_0 => match qw {
                Some(qw) => quantize_row_q4_0_impl(x, blocks(y), qw),
                None => quantize_row_q4_0_ref(x, blocks(y)),
            },
            Q4_1 => match qw {
                Some(qw) => quantize_row_q4_1_impl(x, blocks(y), qw),
                None => quantize_row_q4_1_ref(x, blocks(y)),
            },
            Q5_0 => match qw {
                Some(qw) => quantize_row_q5_0_impl(x, blocks(y), qw),
                None => quantize_row_q5_0_ref(x, blocks(y)),
            },
            Q5_1 => match qw {
                Some(qw) => quantize_row_q5_1_impl(x, blocks(y), qw),
                None => quantize_row_q5_1_ref(x, blocks(y)),
            },
            Q8_0 => quantize_row_q8_0_ref(x, blocks(y)),
            Q8_1 => quantize_row_q8_1_ref(x, blocks(y)),
            Q2K => match qw {
                Some(qw) => quantize_row_q2_k_impl(x, blocks(y), qw),
                None => quantize_row_q2_k_ref(x, blocks(y)),
            },
            Q3K => match qw {
                Some(qw) => quantize_row_q3_k_impl(x, blocks(y), qw),
                None => quantize_row_q3_k_ref(x, blocks(y)),
            },
            Q4K => match qw {
                Some(qw) => quantize_row_q4_k_impl(x, blocks(y), qw),
                None => quantize_row_q4_k_ref(x, blocks(y)),
            },
            Q5K => match qw {
                Some(qw) => quantize_row_q5_k_impl(x, blocks(y), qw),
                None => quantize_row_q5_k_ref(x, blocks(y)),
            },
            Q6K => quantize_row_q6_k_impl(x, blocks(y), qw),
            Q8K => quantize_row_q8_k_ref(x, blocks(y)),
            IQ4NL => quantize_iq4_nl(x, blocks(y), qw),
            IQ4XS => quantize_iq4_xs(x, blocks(y), qw),
            TQ1_0 => quantize_row_tq1_0_ref(x, blocks(y)),
            TQ2_0 => quantize_row_tq2_0_ref(x, blocks(y)),
            MXFP4 => quantize_row_mxfp4_ref(x, blocks(y)),
            I8 | I16 | I32 => {}
        }
    }

    /// View whole blocks of output bytes as blocks (alignment 1, so only a
    /// length that is not whole blocks could fail; callers check that).
    #[inline(always)]
    fn blocks<B: bytemuck::Pod>(y: &mut [u8]) -> &mut [B] {
        bytemuck::try_cast_slice_mut(y).unwrap_or_default()
    }

    #[inline(always)]
    fn fp16(f: f32) -> [u8; 2] {
        fp32_to_fp16(f).to_le_bytes()
    }

    #[inline(always)]
    fn f16(h: [u8; 2]) -> f32 {
        fp16_to_f32(u16::from_le_bytes(h))
    }

    /// `nearest_int`: adding 1.5 * 2^23 rounds to the nearest integer, ties
    /// to even; the low mantissa bits are the result (ggml asserts
    /// |fval| <= 4194303; outside that it is garbage, but deterministic).
    #[inline(always)]
    pub(crate) fn nearest_int(fval: f32) -> i32 {
        let val = fval + 12_582_912.0;
        (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
    }

    /// ggml's `MAX(a, b)` macro for floats: `a > b ? a : b` (NaN in `b` wins).
    #[inline(always)]
    fn max_f(a: f32, b: f32) -> f32 {
        if a > b {
            a
        } else {
            b
        }
    }

    /// C's float to 32-bit int conversion as x86 compiles it (`cvttss2si`):
    /// truncation, and 0x80000000 for NaN or out of range, where C leaves it
    /// undefined. Narrower C integer targets then keep the low bits.
    #[inline(always)]
    pub(crate) fn f32_to_i32_x86(v: f32) -> i32 {
        if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
            v as i32
        } else {
            i32::MIN
        }
    }

    /// `lroundf` (glibc, x86_64): round half away from zero, and
    /// `LONG_MIN` for NaN or out of range.
    #[inline(always)]
    fn lroundf(v: f32) -> i64 {
        let r = v.round();
        // [-2^63, 2^63): the range of a 64-bit `long`
        if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) {
            r as i64
        } else {
            i64::MIN
        }
    }

    /// `best_index_int8`: index of the entry of sorted `val` nearest to `x`
    /// (binary search; ties go up).
    #[inline]
    fn best_index_int8(val: &[i8; 16], x: f32) -> usize {
        let n = val.len();
        if x <= val[0] as f32 {
            return 0;
        }
        if x >= val[n - 1] as f32 {
            return n - 1;
        }
        let (mut ml, mut mu) = (0usize, n - 1);
        while mu - ml > 1 {
            let mav = (ml + mu) / 2;
            if x < val[mav] as f32 {
                mu = mav;
            } else {
                ml = mav;
            }
        }
        if x - (val[mu - 1] as f32) < (val[mu] as f32) - x {
            mu - 1
        } else {
            mu
        }
    }

    // ------------------------------------------------------------------
    // Simple block formats
    // ------------------------------------------------------------------

    /// `quantize_row_q4_0_ref`: `d = max / -8` (signed max by magnitude).
    pub fn quantize_row_q4_0_ref(x: &[f32], y: &mut [BlockQ4_0]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let mut amax = 0f32;
            let mut max = 0f32;
            for &v in x {
                if amax < v.abs() {
                    amax = v.abs();
                    max = v;
                }
            }
            let d = max / -8.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            for j in 0..16 {
                let x0 = x[j] * id;
                let x1 = x[16 + j] * id;
                // MIN(15, (int8_t)(x0 + 8.5f))
                let xi0 = (f32_to_i32_x86(x0 + 8.5) as i8).min(15) as u8;
                let xi1 = (f32_to_i32_x86(x1 + 8.5) as i8).min(15) as u8;
                y.qs[j] = xi0 | (xi1 << 4);
            }
        }
    }

    /// The `min`/`max` scan of the Q4_1 and Q5_1 quantizers (the first of
    /// equal values wins, which decides the sign of a zero).
    #[inline(always)]
    pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
        let mut min = f32::MAX;
        let mut max = -f32::MAX;
        for &v in x {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        (min, max)
    }

    /// `quantize_row_q4_1_ref`: `d = (max - min) / 15`, `m = min`.
    pub fn quantize_row_q4_1_ref(x: &[f32], y: &mut [BlockQ4_1]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let (min, max) = min_max(x);
            let d = (max - min) / 15.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            y.m = fp16(min);
            for j in 0..16 {
                let x0 = (x[j] - min) * id;
                let x1 = (x[16 + j] - min) * id;
                let xi0 = (f32_to_i32_x86(x0 + 0.5) as i8).min(15) as u8;
                let xi1 = (f32_to_i32_x86(x1 + 0.5) as i8).min(15) as u8;
                y.qs[j] = xi0 | (xi1 << 4);
            }
        }
    }

    /// Q5_0/Q5_1 packing: low nibbles in `qs`, fifth bits in `qh`.
    #[inline(always)]
    fn pack_q5(l: &[u8], qs: &mut [u8; 16], qh_out: &mut [u8; 4]) {
        let mut qh = 0u32;
        for j in 0..16 {
            let (xi0, xi1) = (l[j], l[j + 16]);
            qs[j] = (xi0 & 0x0F) | ((xi1 & 0x0F) << 4);
            qh |= (((xi0 & 0x10) >> 4) as u32) << j;
            qh |= (((xi1 & 0x10) >> 4) as u32) << (j + 16);
        }
        *qh_out = qh.to_le_bytes();
    }

    /// `quantize_row_q5_0_ref`: `d = max / -16`.
    pub fn quantize_row_q5_0_ref(x: &[f32], y: &mut [BlockQ5_0]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let mut amax = 0f32;
            let mut max = 0f32;
            for &v in x {
                if amax < v.abs() {
                    amax = v.abs();
                    max = v;
                }
            }
            let d = max / -16.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            let mut l = [0u8; 32];
            for (l, &v) in l.iter_mut().zip(x) {
                // MIN(31, (int8_t)(x0 + 16.5f))
                *l = (f32_to_i32_x86(v * id + 16.5) as i8).min(31) as u8;
            }
            pack_q5(&l, &mut y.qs, &mut y.qh);
        }
    }

    /// `quantize_row_q5_1_ref`: `d = (max - min) / 31`, `m = min`.
    pub fn quantize_row_q5_1_ref(x: &[f32], y: &mut [BlockQ5_1]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let (min, max) = min_max(x);
            let d = (max - min) / 31.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            y.m = fp16(min);
            let mut l = [0u8; 32];
            for (l, &v) in l.iter_mut().zip(x) {
                // (uint8_t)(x0 + 0.5f), no clamp in ggml
                *l = f32_to_i32_x86((v - min) * id + 0.5) as u8;
            }
            pack_q5(&l, &mut y.qs, &mut y.qh);
        }
    }

    /// `quantize_row_q8_0_ref`: `d = amax / 127`, `q = roundf(x / d)`.
    pub fn quantize_row_q8_0_ref(x: &[f32], y: &mut [BlockQ8_0]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            for (q, &v) in y.qs.iter_mut().zip(x) {
                *q = f32_to_i32_x86((v * id).round()) as i8;
            }
        }
    }

    /// `quantize_row_q8_1_ref`: as Q8_0, plus `s = d * sum(q)`.
    pub fn quantize_row_q8_1_ref(x: &[f32], y: &mut [BlockQ8_1]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            let mut sum = 0i32;
            for j in 0..16 {
                y.qs[j] = f32_to_i32_x86((x[j] * id).round()) as i8;
                y.qs[16 + j] = f32_to_i32_x86((x[16 + j] * id).round()) as i8;
                sum += y.qs[j] as i32;
                sum += y.qs[16 + j] as i32;
            }
            y.s = fp16(sum as f32 * d);
        }
    }

    /// `quantize_row_q8_K_ref`: `iscale = -127 / max` (signed max by
    /// magnitude), `q = MIN(127, nearest_int(iscale * x))`, f32 `d`, and
    /// the sums of each 16 quants.
    pub fn quantize_row_q8_k_ref(x: &[f32], y: &mut [BlockQ8K]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut max = 0f32;
            let mut amax = 0f32;
            for &v in x {
                let ax = v.abs();
                if ax > amax {
                    amax = ax;
                    max = v;
                }
            }
            if amax == 0.0 {
                // ggml leaves bsums unwritten; zero is their value.
                *y = bytemuck::Zeroable::zeroed();
                continue;
            }
            let iscale = -127.0 / max;
            for (q, &v) in y.qs.iter_mut().zip(x) {
                *q = nearest_int(iscale * v).min(127) as i8;
            }
            for (s, q) in y.bsums.chunks_exact_mut(2).zip(y.qs.chunks_exact(16)) {
                let sum: i32 = q.iter().map(|&q| q as i32).sum();
                s.copy_from_slice(&(sum as i16).to_le_bytes());
            }
            y.d = (1.0 / iscale).to_le_bytes();
        }
    }

    /// `best_index_mxfp4`: first index of the smallest `|kvalues[i] * e - x|`.
    #[inline]
    fn best_index_mxfp4(x: f32, e: f32) -> u8 {
        let mut best_index = 0u8;
        let mut best_err = (KVALUES_MXFP4[0] as f32 * e - x).abs();
        for (i, &k) in KVALUES_MXFP4.iter().enumerate().skip(1) {
            let err = (k as f32 * e - x).abs();
            if err < best_err {
                best_index = i as u8;
                best_err = err;
            }
        }
        best_index
    }

    /// `floorf(log2f(amax))` for finite `amax > 0`. Computed in f64 and
    /// rounded to f32 as a correctly rounded `log2f` would (glibc's is, at
    /// these points), so just below a power of two the result rounds up to
    /// the integer exactly as ggml's does, on every platform.
    #[inline]
    fn floor_log2f(amax: f32) -> f32 {
        ((amax as f64).log2() as f32).floor()
    }

    /// `quantize_row_mxfp4_ref`: E8M0 exponent `floor(log2(amax)) - 2 + 127`,
    /// then nearest E2M1 value.
    pub fn quantize_row_mxfp4_ref(x: &[f32], y: &mut [BlockMxfp4]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let mut amax = 0f32;
            for &v in x {
                if amax < v.abs() {
                    amax = v.abs();
                }
            }
            // (uint8_t)(floorf(log2f(amax)) - 2 + 127), wrapping as x86 does
            // for amax below 2^-125.
            let e = if amax > 0.0 {
                f32_to_i32_x86(floor_log2f(amax) - 2.0 + 127.0) as u8
            } else {
                0
            };
            let d = super::super::dequant::e8m0_to_f32_half(e);
            y.e = e;
            for j in 0..16 {
                let x0 = best_index_mxfp4(x[j], d);
                let x1 = best_index_mxfp4(x[16 + j], d);
                y.qs[j] = x0 | (x1 << 4);
            }
        }
    }

    /// `quantize_row_tq1_0_ref`: ternary digits, five per byte in `qs`,
    /// four (times 3) per byte in `qh`, stored as `ceil(q * 256 / 243)`.
    pub fn quantize_row_tq1_0_ref(x: &[f32], y: &mut [BlockTq1_0]) {
        /// `lroundf(v * id) + 1` as ggml's `int xi`.
        #[inline(always)]
        fn trit(v: f32, id: f32) -> i32 {
            lroundf(v * id).wrapping_add(1) as i32
        }
        /// `q = q * 3 + xi` in `uint8_t`.
        #[inline(always)]
        fn push(q: u8, xi: i32) -> u8 {
            let q = (q as i32 * 3) as u8;
            (q as i32).wrapping_add(xi) as u8
        }
        /// ceiling division (243 == pow(3, 5))
        #[inline(always)]
        fn ceil_div(q: u8) -> u8 {
            ((q as i32 * 256 + (243 - 1)) / 243) as u8
        }
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
            let d = amax;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            // 5 elements per byte, along 32 bytes
            let x0 = &x[..160];
            for m in 0..32 {
                let mut q = 0u8;
                for n in 0..5 {
                    q = push(q, trit(x0[m + n * 32], id));
                }
                y.qs[m] = ceil_div(q);
            }
            // along 16 bytes
            let x1 = &x[160..240];
            for m in 0..16 {
                let mut q = 0u8;
                for n in 0..5 {
                    q = push(q, trit(x1[m + n * 16], id));
                }
                y.qs[32 + m] = ceil_div(q);
            }
            // 4 elements per byte
            let x2 = &x[240..];
            for j in 0..4 {
                let mut q = 0u8;
                for m in 0..4 {
                    q = push(q, trit(x2[j + m * 4], id));
                }
                // shift the first value to the most significant trit
                q = (q as i32 * 3) as u8;
                y.qh[j] = ceil_div(q);
            }
        }
    }

    /// `quantize_row_tq2_0_ref`: 2 bits per weight, `q = round(x / amax) + 1`.
    pub fn quantize_row_tq2_0_ref(x: &[f32], y: &mut [BlockTq2_0]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let amax = x.iter().fold(0f32, |a, v| max_f(a, v.abs()));
            let d = amax;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp16(d);
            for (j, x) in x.chunks_exact(128).enumerate() {
                for m in 0..32 {
                    let mut q = 0i32;
                    for n in 0..4 {
                        let xi = lroundf(x[m + n * 32] * id).wrapping_add(1) as i32;
                        q += (xi & 3) << (2 * n);
                    }
                    y.qs[32 * j + m] = q as u8;
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Helpers of the 2-6 bit quantizers
    // ------------------------------------------------------------------

    /// `make_qx_quants` with `rmse_type == 1` (the only one ggml's
    /// quantizers call): symmetric quants `L` in `0..2*nmax`, weights `qw`
    /// or `x * x`; tries 18 scales around `-nmax / max` and keeps the one
    /// with the best weighted fit. Returns the scale.
    fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8], qw: Option<&[f32]>) -> f32 {
        let n = x.len();
        let l_out = &mut l_out[..n];
        let mut max = 0f32;
        let mut amax = 0f32;
        for &v in x {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            // all zero
            l_out.fill(0);
            return 0.0;
        }
        let weight = |i: usize| match qw {
            Some(qw) => qw[i],
            None => x[i] * x[i],
        };
        let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
        let mut iscale = -(nmax as f32) / max;
        let mut sumlx = 0f32;
        let mut suml2 = 0f32;
        for i in 0..n {
            let l = clamp(nearest_int(iscale * x[i]));
            l_out[i] = (l + nmax) as i8;
            let w = weight(i);
            sumlx += w * x[i] * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
        let mut best = scale * sumlx;
        for is in -9i32..=9 {
            if is == 0 {
                continue;
            }
            iscale = -(nmax as f32 + 0.1 * is as f32) / max;
            sumlx = 0.0;
            suml2 = 0.0;
            for i in 0..n {
                let l = clamp(nearest_int(iscale * x[i]));
                let w = weight(i);
                sumlx += w * x[i] * l as f32;
                suml2 += w * l as f32 * l as f32;
            }
            if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
                for i in 0..n {
                    let l = nearest_int(iscale * x[i]);
                    l_out[i] = (nmax + clamp(l)) as i8;
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        scale
    }

    /// `make_q3_quants` with `do_rmse = true` (as Q3_K calls it): weights
    /// `x * x`, then up to 5 rounds of moving single quants while that
    /// improves the weighted fit. `L` in `0..2*nmax`; returns the scale.
    pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
        let n = x.len();
        let l_out = &mut l_out[..n];
        let mut max = 0f32;
        let mut amax = 0f32;
        for &v in x {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            // all zero
            l_out.fill(0);
            return 0.0;
        }
        let iscale = -(nmax as f32) / max;
        let mut sumlx = 0f32;
        let mut suml2 = 0f32;
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
            l_out[i] = l as i8;
            let w = x[i] * x[i];
            sumlx += w * x[i] * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        for _itry in 0..5 {
            let mut n_changed = 0;
            for i in 0..n {
                let w = x[i] * x[i];
                let li = l_out[i] as f32;
                let mut slx = sumlx - w * x[i] * li;
                if slx > 0.0 {
                    let mut sl2 = suml2 - w * li * li;
                    let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                    if new_l != l_out[i] as i32 {
                        slx += w * x[i] * new_l as f32;
                        sl2 += w * new_l as f32 * new_l as f32;
                        if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            l_out[i] = new_l as i8;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                        }
                    }
                }
            }
            if n_changed == 0 {
                break;
            }
        }
        for l in l_out.iter_mut() {
            *l = (*l as i32 + nmax) as i8;
        }
        if suml2 > 0.0 {
            sumlx / suml2
        } else {
            0.0
        }
    }

    /// The scan that opens `make_qkx2_quants` / `make_qkx3_quants`: the
    /// minimum (raised to 0 if positive), the maximum, `sum(w)` and
    /// `sum(w * x)`, in the reference's order.
    #[inline(always)]
    pub(crate) fn weighted_range(x: &[f32], weights: &[f32]) -> (f32, f32, f32, f32) {
        let mut min = x[0];
        let mut max = x[0];
        let mut sum_w = weights[0];
        let mut sum_x = sum_w * x[0];
        for i in 1..x.len() {
            if x[i] < min {
                min = x[i];
            }
            if x[i] > max {
                max = x[i];
            }
            let w = weights[i];
            sum_w += w;
            sum_x += w * x[i];
        }
        if min > 0.0 {
            min = 0.0;
        }
        (min, max, sum_w, sum_x)
    }

    /// `make_qkx2_quants`: asymmetric quants `L` in `0..=nmax` with a min;
    /// starts from `nmax / (max - min)` and tries `nstep + 1` scales
    /// `(rmin + rdelta * is + nmax) / (max - min)`, solving the weighted
    /// least-squares scale and min for each. Returns `(scale, -min)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn make_qkx2_quants(
        nmax: i32,
        x: &[f32],
        weights: &[f32],
        l_out: &mut [u8],
        laux: &mut [u8],
        rmin: f32,
        rdelta: f32,
        nstep: i32,
        use_mad: bool,
    ) -> (f32, f32) {
        let n = x.len();
        let l_out = &mut l_out[..n];
        let laux = &mut laux[..n];
        let (mut min, max, sum_w, sum_x) = weighted_range(x, weights);
        if max == min {
            l_out.fill(0);
            return (0.0, -min);
        }
        let err = |d: f32| if use_mad { d.abs() } else { d * d };
        let mut iscale = nmax as f32 / (max - min);
        let mut scale = 1.0 / iscale;
        let mut best_error = 0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min));
            l_out[i] = l.clamp(0, nmax) as u8;
            let diff = err(scale * l_out[i] as f32 + min - x[i]);
            best_error += weights[i] * diff;
        }
        if nstep < 1 {
            return (scale, -min);
        }
        for is in 0..=nstep {
            iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
            let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
            for i in 0..n {
                let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
                laux[i] = l as u8;
                let w = weights[i];
                let lf = l as f32;
                sum_l += w * lf;
                sum_l2 += w * lf * lf;
                sum_xl += w * lf * x[i];
            }
            let dd = sum_w * sum_l2 - sum_l * sum_l;
            if dd > 0.0 {
                let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / dd;
                let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / dd;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sum_xl / sum_l2;
                }
                let mut cur_error = 0f32;
                for i in 0..n {
                    let diff = err(this_scale * laux[i] as f32 + this_min - x[i]);
                    cur_error += weights[i] * diff;
                }
                if cur_error < best_error {
                    l_out.copy_from_slice(laux);
                    best_error = cur_error;
                    scale = this_scale;
                    min = this_min;
                }
            }
        }
        (scale, -min)
    }

    /// `make_qkx3_quants` (always with weights here): as
    /// [`make_qkx2_quants`] but an empty range is `max <= min`.
    #[allow(clippy::too_many_arguments)]
    fn make_qkx3_quants(
        nmax: i32,
        x: &[f32],
        weights: &[f32],
        l_out: &mut [u8],
        laux: &mut [u8],
        rmin: f32,
        rdelta: f32,
        nstep: i32,
        use_mad: bool,
    ) -> (f32, f32) {
        let n = x.len();
        let l_out = &mut l_out[..n];
        let laux = &mut laux[..n];
        let (mut min, max, sum_w, sum_x) = weighted_range(x, weights);
        if max <= min {
            l_out.fill(0);
            return (0.0, -min);
        }
        let err = |d: f32| if use_mad { d.abs() } else { d * d };
        let mut iscale = nmax as f32 / (max - min);
        let mut scale = 1.0 / iscale;
        let mut best_mad = 0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min));
            l_out[i] = l.clamp(0, nmax) as u8;
            let diff = err(scale * l_out[i] as f32 + min - x[i]);
            best_mad += weights[i] * diff;
        }
        if nstep < 1 {
            return (scale, -min);
        }
        for is in 0..=nstep {
            iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
            let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
            for i in 0..n {
                let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
                laux[i] = l as u8;
                let w = weights[i];
                let lf = l as f32;
                sum_l += w * lf;
                sum_l2 += w * lf * lf;
                sum_xl += w * lf * x[i];
            }
            let dd = sum_w * sum_l2 - sum_l * sum_l;
            if dd > 0.0 {
                let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / dd;
                let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / dd;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sum_xl / sum_l2;
                }
                let mut mad = 0f32;
                for i in 0..n {
                    let diff = err(this_scale * laux[i] as f32 + this_min - x[i]);
                    mad += weights[i] * diff;
                }
                if mad < best_mad {
                    l_out.copy_from_slice(laux);
                    best_mad = mad;
                    scale = this_scale;
                    min = this_min;
                }
            }
        }
        (scale, -min)
    }

    /// `make_qp_quants`: non-negative quants `L` in `0..=nmax` of the
    /// (non-negative) sub-block scales or mins `x`, weighted by
    /// `quant_weights`; returns the super-block scale. `L` is `uint8_t` in
    /// ggml and the intermediate `l` an `int`, kept apart here.
    fn make_qp_quants(nmax: i32, x: &[f32], l_out: &mut [u8], quant_weights: &[f32]) -> f32 {
        let n = x.len();
        let l_out = &mut l_out[..n];
        let mut max = 0f32;
        for &v in x {
            max = max_f(max, v);
        }
        if max < GROUP_MAX_EPS {
            // all zero
            l_out.fill(0);
            return 0.0;
        }
        let mut iscale = nmax as f32 / max;
        for i in 0..n {
            l_out[i] = nearest_int(iscale * x[i]) as u8;
        }
        let scale = 1.0 / iscale;
        let mut best_mse = 0f32;
        for i in 0..n {
            let diff = x[i] - scale * l_out[i] as f32;
            let w = quant_weights[i];
            best_mse += w * diff * diff;
        }
        for is in -4i32..=4 {
            if is == 0 {
                continue;
            }
            let iscale_is = (0.1 * is as f32 + nmax as f32) / max;
            let scale_is = 1.0 / iscale_is;
            let mut mse = 0f32;
            for i in 0..n {
                let l = nearest_int(iscale_is * x[i]).min(nmax);
                let diff = x[i] - scale_is * l as f32;
                let w = quant_weights[i];
                mse += w * diff * diff;
            }
            if mse < best_mse {
                best_mse = mse;
                iscale = iscale_is;
            }
        }
        let mut sumlx = 0f32;
        let mut suml2 = 0f32;
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).min(nmax);
            l_out[i] = l as u8;
            let w = quant_weights[i];
            sumlx += w * x[i] * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        for _itry in 0..5 {
            let mut n_changed = 0;
            for i in 0..n {
                let w = quant_weights[i];
                let li = l_out[i] as f32;
                let mut slx = sumlx - w * x[i] * li;
                let mut sl2 = suml2 - w * li * li;
                if slx > 0.0 && sl2 > 0.0 {
                    let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                    if new_l != l_out[i] as i32 {
                        slx += w * x[i] * new_l as f32;
                        sl2 += w * new_l as f32 * new_l as f32;
                        if slx * slx * suml2 > sumlx * sumlx * sl2 {
                            l_out[i] = new_l as u8;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                        }
                    }
                }
            }
            if n_changed == 0 {
                break;
            }
        }
        if suml2 > 0.0 {
            sumlx / suml2
        } else {
            0.0
        }
    }

    /// `sigma2`-scaled weights of the `*_impl` quantizers:
    /// `qw[j] * sqrtf(sigma2 + x[j]^2)`.
    #[inline(always)]
    fn imatrix_weights(weight: &mut [f32], qw: &[f32], x: &[f32], sigma2: f32) {
        for ((w, &q), &v) in weight.iter_mut().zip(qw).zip(x) {
            *w = q * (sigma2 + v * v).sqrt();
        }
    }

    /// Sum of squares in order, as ggml's `sum_x2` loops.
    #[inline(always)]
    fn sum_sq(x: &[f32]) -> f32 {
        let mut s = 0f32;
        for &v in x {
            s += v * v;
        }
        s
    }

    // ------------------------------------------------------------------
    // Importance-weighted 32-blocks
    // ------------------------------------------------------------------

    /// `quantize_row_q4_0_impl`.
    pub fn quantize_row_q4_0_impl(x: &[f32], y: &mut [BlockQ4_0], quant_weights: &[f32]) {
        let sigma2 = sum_sq(x) / x.len() as f32;
        let mut weight = [0f32; 32];
        let mut l = [0i8; 32];
        for ((xb, qw), y) in x
            .chunks_exact(32)
            .zip(quant_weights.chunks_exact(32))
            .zip(y)
        {
            imatrix_weights(&mut weight, qw, xb, sigma2);
            let d = make_qx_quants(8, xb, &mut l, Some(&weight));
            y.d = fp16(d);
            for j in 0..16 {
                y.qs[j] = (l[j] as u8) | ((l[j + 16] as u8) << 4);
            }
        }
    }

    /// `quantize_row_q4_1_impl`.
    pub fn quantize_row_q4_1_impl(x: &[f32], y: &mut [BlockQ4_1], quant_weights: &[f32]) {
        let sigma2 = sum_sq(x) / x.len() as f32;
        let mut weight = [0f32; 32];
        let (mut l, mut laux) = ([0u8; 32], [0u8; 32]);
        for ((xb, qw), y) in x
            .chunks_exact(32)
            .zip(quant_weights.chunks_exact(32))
            .zip(y)
        {
            imatrix_weights(&mut weight, qw, xb, sigma2);
            let (d, min) =
                make_qkx3_quants(15, xb, &weight, &mut l, &mut laux, -0.9, 0.05, 36, false);
            y.d = fp16(d);
            y.m = fp16(-min);
            for j in 0..16 {
                y.qs[j] = l[j] | (l[j + 16] << 4);
            }
        }
    }

    /// `quantize_row_q5_0_impl`.
    pub fn quantize_row_q5_0_impl(x: &[f32], y: &mut [BlockQ5_0], quant_weights: &[f32]) {
        let sigma2 = sum_sq(x) / x.len() as f32;
        let mut weight = [0f32; 32];
        let mut l = [0i8; 32];
        for ((xb, qw), y) in x
            .chunks_exact(32)
            .zip(quant_weights.chunks_exact(32))
            .zip(y)
        {
            imatrix_weights(&mut weight, qw, xb, sigma2);
            let d = make_qx_quants(16, xb, &mut l, Some(&weight));
            y.d = fp16(d);
            let lu: [u8; 32] = l.map(|v| v as u8);
            pack_q5(&lu, &mut y.qs, &mut y.qh);
        }
    }

    /// `quantize_row_q5_1_impl`.
    pub fn quantize_row_q5_1_impl(x: &[f32], y: &mut [BlockQ5_1], quant_weights: &[f32]) {
        let sigma2 = sum_sq(x) / x.len() as f32;
        let mut weight = [0f32; 32];
        let (mut l, mut laux) = ([0u8; 32], [0u8; 32]);
        for ((xb, qw), y) in x
            .chunks_exact(32)
            .zip(quant_weights.chunks_exact(32))
            .zip(y)
        {
            imatrix_weights(&mut weight, qw, xb, sigma2);
            let (d, min) =
                make_qkx3_quants(31, xb, &weight, &mut l, &mut laux, -0.9, 0.05, 36, false);
            y.d = fp16(d);
            y.m = fp16(-min);
            pack_q5(&l, &mut y.qs, &mut y.qh);
        }
    }

    // ------------------------------------------------------------------
    // k-quants
    // ------------------------------------------------------------------

    /// Q2_K/Q3_K packing: four 2-bit quants per byte, 32 apart.
    #[inline(always)]
    fn pack_2bit<T: Copy + Into<i32>>(l: &[T; QK_K], qs: &mut [u8; 64]) {
        for j in (0..QK_K).step_by(128) {
            for k in 0..32 {
                let v = |o: usize| -> i32 { l[j + k + o].into() };
                qs[j / 4 + k] = (v(0) | (v(32) << 2) | (v(64) << 4) | (v(96) << 6)) as u8;
            }
        }
    }

    /// Requantize Q2_K's quants against the stored (fp16-rounded) scales.
    #[inline(always)]
    fn requantize_q2_k(x: &[f32], y: &BlockQ2K, l: &mut [u8; QK_K]) {
        let (dd, dmin) = (f16(y.d), f16(y.dmin));
        for j in 0..QK_K / 16 {
            let d = dd * (y.scales[j] & 0xF) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin * (y.scales[j] >> 4) as f32;
            for ii in 0..16 {
                let q = nearest_int((x[16 * j + ii] + dm) / d);
                l[16 * j + ii] = q.clamp(0, 3) as u8;
            }
        }
    }

    /// `make_qkx2_quants`'s signature, for the kernels [`q2_k_ref_with`]
    /// takes.
    pub(crate) type Qkx2 =
        unsafe fn(i32, &[f32], &[f32], &mut [u8], &mut [u8], f32, f32, i32, bool) -> (f32, f32);

    /// The end of both Q2_K quantizers: requantize against the stored
    /// scales, pack.
    pub(crate) fn finish_q2_k(x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
        requantize_q2_k(x, y, l);
        pack_2bit(l, &mut y.qs);
    }

    /// `quantize_row_q2_K_ref`.
    pub fn quantize_row_q2_k_ref(x: &[f32], y: &mut [BlockQ2K]) {
        // SAFETY: the scalar kernels have no requirements.
        unsafe { q2_k_ref_with(x, y, make_qkx2_quants, finish_q2_k) }
    }

    /// `quantize_row_q2_K_ref` with its two hot parts as arguments, so the
    /// SIMD path shares the rest: `qkx2` must give `make_qkx2_quants`'s
    /// results and `finish` [`finish_q2_k`]'s.
    ///
    /// # Safety
    /// Whatever `qkx2` needs (a CPU feature).
    #[inline(always)]
    pub(crate) unsafe fn q2_k_ref_with(
        x: &[f32],
        y: &mut [BlockQ2K],
        qkx2: Qkx2,
        finish: impl Fn(&[f32], &mut BlockQ2K, &mut [u8; QK_K]),
    ) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0u8; QK_K];
            let mut laux = [0u8; 16];
            let mut weights = [0f32; 16];
            let mut mins = [0f32; QK_K / 16];
            let mut scales = [0f32; QK_K / 16];
            for j in 0..QK_K / 16 {
                let xs = &x[16 * j..16 * j + 16];
                for (w, v) in weights.iter_mut().zip(xs) {
                    *w = v.abs();
                }
                let (s, m) = qkx2(
                    3,
                    xs,
                    &weights,
                    &mut l[16 * j..],
                    &mut laux,
                    -0.5,
                    0.1,
                    15,
                    true,
                );
                scales[j] = s;
                mins[j] = m;
            }
            q2_k_set_scales(&scales, &mins, y);
            finish(x, y, &mut l);
        }
    }

    /// The largest sub-block scale and min, as the K-quants scan them (from
    /// zero: as the min is deducted, scales are never negative).
    #[inline(always)]
    fn maxima(scales: &[f32], mins: &[f32]) -> (f32, f32) {
        let mut max_scale = 0f32;
        let mut max_min = 0f32;
        for (&s, &m) in scales.iter().zip(mins) {
            if s > max_scale {
                max_scale = s;
            }
            if m > max_min {
                max_min = m;
            }
        }
        (max_scale, max_min)
    }

    /// `quantize_row_q2_K_ref` after the scale search: the 16 sub-block
    /// scales and mins to 4 bits against their maxima, `d` and `dmin`.
    #[inline(always)]
    pub(crate) fn q2_k_set_scales(scales: &[f32; 16], mins: &[f32; 16], y: &mut BlockQ2K) {
        let q4scale = 15f32;
        let (max_scale, max_min) = maxima(scales, mins);
        if max_scale > 0.0 {
            let iscale = q4scale / max_scale;
            for j in 0..QK_K / 16 {
                y.scales[j] = nearest_int(iscale * scales[j]) as u8;
            }
            y.d = fp16(max_scale / q4scale);
        } else {
            y.scales = [0; 16];
            y.d = fp16(0.0);
        }
        if max_min > 0.0 {
            let iscale = q4scale / max_min;
            for j in 0..QK_K / 16 {
                let q = nearest_int(iscale * mins[j]);
                y.scales[j] = (y.scales[j] as i32 | (q << 4)) as u8;
            }
            y.dmin = fp16(max_min / q4scale);
        } else {
            y.dmin = fp16(0.0);
        }
    }

    /// `quantize_row_q2_K_impl`.
    pub fn quantize_row_q2_k_impl(x: &[f32], y: &mut [BlockQ2K], quant_weights: &[f32]) {
        for ((x, qw), y) in x
            .chunks_exact(QK_K)
            .zip(quant_weights.chunks_exact(QK_K))
            .zip(y)
        {
            let mut l = [0u8; QK_K];
            let mut laux = [0u8; 16];
            let mut mins = [0f32; QK_K / 16];
            let mut scales = [0f32; QK_K / 16];
            let mut sw = [0f32; QK_K / 16];
            let mut weight = [0f32; 16];
            let (mut ls, mut lm) = ([0u8; QK_K / 16], [0u8; QK_K / 16]);
            let sigma2 = sum_sq(x) / QK_K as f32;
            for j in 0..QK_K / 16 {
                let xs = &x[16 * j..16 * j + 16];
                imatrix_weights(&mut weight, &qw[16 * j..16 * j + 16], xs, sigma2);
                for &w in &weight {
                    sw[j] += w;
                }
                let (s, m) = make_qkx3_quants(
                    3,
                    xs,
                    &weight,
                    &mut l[16 * j..],
                    &mut laux,
                    -0.9,
                    0.05,
                    36,
                    false,
                );
                scales[j] = s;
                mins[j] = m;
            }
            let dm = make_qp_quants(15, &scales, &mut ls, &sw);
            let mm = make_qp_quants(15, &mins, &mut lm, &sw);
            y.d = fp16(dm);
            y.dmin = fp16(mm);
            for j in 0..QK_K / 16 {
                y.scales[j] = ls[j] | (lm[j] << 4);
            }
            // requantize = true in ggml
            requantize_q2_k(x, y, &mut l);
            pack_2bit(&l, &mut y.qs);
        }
    }

    /// Q3_K's 16 six-bit scales `ls` (0..=63) into 12 bytes.
    #[inline(always)]
    fn pack_q3_k_scales(ls: impl Fn(usize) -> i32, scales: &mut [u8; 12]) {
        *scales = [0; 12];
        for j in 0..QK_K / 16 {
            let mut l = ls(j);
            if j < 8 {
                scales[j] = (l & 0xF) as u8;
            } else {
                scales[j - 8] = (scales[j - 8] as i32 | ((l & 0xF) << 4)) as u8;
            }
            l >>= 4;
            scales[j % 4 + 8] = (scales[j % 4 + 8] as i32 | (l << (2 * (j / 4)))) as u8;
        }
    }

    /// The end of both Q3_K quantizers: requantize against the stored
    /// scales, split off the high bits into `hmask`, pack.
    pub(crate) fn finish_q3_k(x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
        let dd = f16(y.d);
        for j in 0..QK_K / 16 {
            let sc = if j < 8 {
                y.scales[j] & 0xF
            } else {
                y.scales[j - 8] >> 4
            } as i32;
            let sc = (sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i32) - 32;
            // int8_t sc: 0..=63 - 32 fits
            let d = dd * sc as i8 as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let q = nearest_int(x[16 * j + ii] / d).clamp(-4, 3);
                l[16 * j + ii] = (q + 4) as i8;
            }
        }
        // We put the high-bit for the 1st 8 quants into bit 0, the next 8
        // into bit 1, etc.
        y.hmask = [0; 32];
        let mut m = 0;
        let mut hm = 1u8;
        for lj in l.iter_mut() {
            if *lj > 3 {
                y.hmask[m] |= hm;
                *lj -= 4;
            }
            m += 1;
            if m == QK_K / 8 {
                m = 0;
                hm = hm.wrapping_shl(1);
            }
        }
        let lw: [i32; QK_K] = l.map(|v| v as i32);
        pack_2bit(&lw, &mut y.qs);
    }

    /// `quantize_row_q3_K_ref`.
    pub fn quantize_row_q3_k_ref(x: &[f32], y: &mut [BlockQ3K]) {
        // SAFETY: the scalar kernels have no requirements.
        unsafe { q3_k_ref_with(x, y, make_q3_quants, finish_q3_k) }
    }

    /// `quantize_row_q3_K_ref` with its two hot parts as arguments, so the
    /// SIMD path shares the rest: `q3` must give `make_q3_quants`'s
    /// results and `finish` [`finish_q3_k`]'s.
    ///
    /// # Safety
    /// Whatever `q3` needs (a CPU feature).
    #[inline(always)]
    pub(crate) unsafe fn q3_k_ref_with(
        x: &[f32],
        y: &mut [BlockQ3K],
        q3: unsafe fn(i32, &[f32], &mut [i8]) -> f32,
        finish: impl Fn(&[f32], &mut BlockQ3K, &mut [i8; QK_K]),
    ) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0i8; QK_K];
            let mut scales = [0f32; QK_K / 16];
            let mut max_scale = 0f32;
            let mut amax = 0f32;
            for j in 0..QK_K / 16 {
                scales[j] = q3(4, &x[16 * j..16 * j + 16], &mut l[16 * j..]);
                let scale = scales[j].abs();
                if scale > amax {
                    amax = scale;
                    max_scale = scales[j];
                }
            }
            if max_scale != 0.0 {
                let iscale = -32.0 / max_scale;
                pack_q3_k_scales(
                    |j| {
                        // int8_t l = nearest_int(...); MAX(-32, MIN(31, l)) + 32
                        let q = nearest_int(iscale * scales[j]) as i8 as i32;
                        (q.clamp(-32, 31) + 32) as i8 as i32
                    },
                    &mut y.scales,
                );
                y.d = fp16(1.0 / iscale);
            } else {
                y.scales = [0; 12];
                y.d = fp16(0.0);
            }
            finish(x, y, &mut l);
        }
    }

    /// `quantize_row_q3_K_impl`.
    pub fn quantize_row_q3_k_impl(x: &[f32], y: &mut [BlockQ3K], quant_weights: &[f32]) {
        for ((x, qw), y) in x
            .chunks_exact(QK_K)
            .zip(quant_weights.chunks_exact(QK_K))
            .zip(y)
        {
            let mut l = [0i8; QK_K];
            let mut scales = [0f32; QK_K / 16];
            let mut weight = [0f32; 16];
            let mut sw = [0f32; QK_K / 16];
            let mut ls = [0i8; QK_K / 16];
            let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
            for j in 0..QK_K / 16 {
                let xs = &x[16 * j..16 * j + 16];
                imatrix_weights(&mut weight, &qw[16 * j..16 * j + 16], xs, sigma2);
                let mut sumw = 0f32;
                for &w in &weight {
                    sumw += w;
                }
                sw[j] = sumw;
                scales[j] = make_qx_quants(4, xs, &mut l[16 * j..], Some(&weight));
            }
            let d_block = make_qx_quants(32, &scales, &mut ls, Some(&sw));
            pack_q3_k_scales(|j| ls[j] as i32, &mut y.scales);
            y.d = fp16(d_block);
            finish_q3_k(x, y, &mut l);
        }
    }

    /// Q4_K/Q5_K: eight 6-bit scales and mins into 12 bytes (`uint8_t`
    /// arithmetic as ggml's).
    #[inline(always)]
    fn pack_k4_scales(ls: &[u8; 8], lm: &[u8; 8], scales: &mut [u8; 12]) {
        for j in 0..QK_K / 32 {
            let (ls, lm) = (ls[j], lm[j]);
            if j < 4 {
                scales[j] = ls;
                scales[j + 4] = lm;
            } else {
                scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
                scales[j - 4] |= (ls >> 4) << 6;
                scales[j] |= (lm >> 4) << 6;
            }
        }
    }

    /// Requantize Q4_K/Q5_K quants (`0..=nmax`) against the stored scales.
    #[inline(always)]
    fn requantize_k4(
        x: &[f32],
        d: [u8; 2],
        dmin: [u8; 2],
        scales: &[u8; 12],
        nmax: i32,
        l: &mut [u8; QK_K],
    ) {
        let (dd, dmin) = (f16(d), f16(dmin));
        for j in 0..QK_K / 32 {
            let (sc, m) = super::super::dequant::get_scale_min_k4(j, scales);
            let d = dd * sc as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin * m as f32;
            for ii in 0..32 {
                let q = nearest_int((x[32 * j + ii] + dm) / d);
                l[32 * j + ii] = q.clamp(0, nmax) as u8;
            }
        }
    }

    /// The scale search shared by `quantize_row_q4_K_ref` and
    /// `quantize_row_q5_K_ref`: per 32-block `make_qkx2_quants` with weights
    /// `av_x + |x|`, then scales and mins to 6 bits against their maxima.
    ///
    /// # Safety
    /// Whatever `qkx2` needs (a CPU feature).
    #[inline(always)]
    unsafe fn k4_ref_scales(
        x: &[f32],
        nmax: i32,
        rmin: f32,
        nstep: i32,
        l: &mut [u8; QK_K],
        scales_out: &mut [u8; 12],
        qkx2: Qkx2,
    ) -> (f32, f32) {
        let mut laux = [0u8; 32];
        let mut weights = [0f32; 32];
        let mut mins = [0f32; QK_K / 32];
        let mut scales = [0f32; QK_K / 32];
        for j in 0..QK_K / 32 {
            let xs = &x[32 * j..32 * j + 32];
            let av_x = (sum_sq(xs) / 32.0).sqrt();
            for (w, v) in weights.iter_mut().zip(xs) {
                *w = av_x + v.abs();
            }
            let (s, m) = qkx2(
                nmax,
                xs,
                &weights,
                &mut l[32 * j..],
                &mut laux,
                rmin,
                0.1,
                nstep,
                false,
            );
            scales[j] = s;
            mins[j] = m;
        }
        k4_set_scales(&scales, &mins, scales_out)
    }

    /// [`k4_ref_scales`] after the search: the 8 sub-block scales and mins
    /// to 6 bits against their maxima, packed; returns `(d, dmin)`.
    #[inline(always)]
    pub(crate) fn k4_set_scales(
        scales: &[f32; 8],
        mins: &[f32; 8],
        scales_out: &mut [u8; 12],
    ) -> (f32, f32) {
        let (max_scale, max_min) = maxima(scales, mins);
        let inv_scale = if max_scale > 0.0 {
            63.0 / max_scale
        } else {
            0.0
        };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        let mut ls = [0u8; 8];
        let mut lm = [0u8; 8];
        for j in 0..QK_K / 32 {
            // uint8_t ls = nearest_int(...); ls = MIN(63, ls)
            ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
            lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
        }
        pack_k4_scales(&ls, &lm, scales_out);
        (max_scale / 63.0, max_min / 63.0)
    }

    /// The scale search shared by `quantize_row_q4_K_impl` and
    /// `quantize_row_q5_K_impl`: `make_qkx3_quants` per 32-block, then
    /// `make_qp_quants` for the 6-bit scales and mins.
    fn k4_impl_scales(
        x: &[f32],
        qw: &[f32],
        nmax: i32,
        l: &mut [u8; QK_K],
        scales_out: &mut [u8; 12],
    ) -> (f32, f32) {
        let mut laux = [0u8; 32];
        let mut ls = [0u8; QK_K / 32];
        let mut lm = [0u8; QK_K / 32];
        let mut weights = [0f32; 32];
        let mut sw = [0f32; QK_K / 32];
        let mut mins = [0f32; QK_K / 32];
        let mut scales = [0f32; QK_K / 32];
        let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
        for j in 0..QK_K / 32 {
            let xs = &x[32 * j..32 * j + 32];
            imatrix_weights(&mut weights, &qw[32 * j..32 * j + 32], xs, sigma2);
            let mut sumw = 0f32;
            for &w in &weights {
                sumw += w;
            }
            sw[j] = sumw;
            let (s, m) = make_qkx3_quants(
                nmax,
                xs,
                &weights,
                &mut l[32 * j..],
                &mut laux,
                -0.9,
                0.05,
                36,
                false,
            );
            scales[j] = s;
            mins[j] = m;
        }
        let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
        let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
        if nmax == 31 {
            // quantize_row_q5_K_impl clamps, q4_K_impl does not
            for v in ls.iter_mut().chain(lm.iter_mut()) {
                *v = (*v).min(63);
            }
        }
        pack_k4_scales(&ls, &lm, scales_out);
        (d_block, m_block)
    }

    /// Q4_K quants: two nibbles 32 apart per byte.
    #[inline(always)]
    fn pack_q4_k(l: &[u8; QK_K], qs: &mut [u8; 128]) {
        for (j, q) in qs.chunks_exact_mut(32).enumerate() {
            for (k, q) in q.iter_mut().enumerate() {
                *q = l[64 * j + k] | (l[64 * j + k + 32] << 4);
            }
        }
    }

    /// Q5_K quants: low nibbles as Q4_K, fifth bits in `qh`.
    #[inline(always)]
    fn pack_q5_k(l: &[u8; QK_K], qs: &mut [u8; 128], qh: &mut [u8; 32]) {
        *qh = [0; 32];
        let (mut m1, mut m2) = (1u8, 2u8);
        for (n, ql) in qs.chunks_exact_mut(32).enumerate() {
            for j in 0..32 {
                let mut l1 = l[64 * n + j] as i32;
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = l[64 * n + j + 32] as i32;
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (l1 | (l2 << 4)) as u8;
            }
            m1 = m1.wrapping_shl(2);
            m2 = m2.wrapping_shl(2);
        }
    }

    /// `quantize_row_q4_K_ref`.
    pub fn quantize_row_q4_k_ref(x: &[f32], y: &mut [BlockQ4K]) {
        // SAFETY: the scalar kernel has no requirements.
        unsafe { q4_k_ref_with(x, y, make_qkx2_quants) }
    }

    /// `quantize_row_q4_K_ref` with its scale search as an argument (for
    /// the SIMD paths; `qkx2` must give `make_qkx2_quants`'s results).
    ///
    /// # Safety
    /// Whatever `qkx2` needs (a CPU feature).
    #[inline(always)]
    pub(crate) unsafe fn q4_k_ref_with(x: &[f32], y: &mut [BlockQ4K], qkx2: Qkx2) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0u8; QK_K];
            let (d, dmin) = k4_ref_scales(x, 15, -1.0, 20, &mut l, &mut y.scales, qkx2);
            y.d = fp16(d);
            y.dmin = fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 15, &mut l);
            pack_q4_k(&l, &mut y.qs);
        }
    }

    /// `quantize_row_q4_K_impl`.
    pub fn quantize_row_q4_k_impl(x: &[f32], y: &mut [BlockQ4K], quant_weights: &[f32]) {
        for ((x, qw), y) in x
            .chunks_exact(QK_K)
            .zip(quant_weights.chunks_exact(QK_K))
            .zip(y)
        {
            let mut l = [0u8; QK_K];
            let (d, dmin) = k4_impl_scales(x, qw, 15, &mut l, &mut y.scales);
            y.d = fp16(d);
            y.dmin = fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 15, &mut l);
            pack_q4_k(&l, &mut y.qs);
        }
    }

    /// `quantize_row_q5_K_ref`.
    pub fn quantize_row_q5_k_ref(x: &[f32], y: &mut [BlockQ5K]) {
        // SAFETY: the scalar kernel has no requirements.
        unsafe { q5_k_ref_with(x, y, make_qkx2_quants) }
    }

    /// [`q4_k_ref_with`] for `quantize_row_q5_K_ref`.
    ///
    /// # Safety
    /// Whatever `qkx2` needs (a CPU feature).
    #[inline(always)]
    pub(crate) unsafe fn q5_k_ref_with(x: &[f32], y: &mut [BlockQ5K], qkx2: Qkx2) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0u8; QK_K];
            let (d, dmin) = k4_ref_scales(x, 31, -0.5, 15, &mut l, &mut y.scales, qkx2);
            y.d = fp16(d);
            y.dmin = fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 31, &mut l);
            pack_q5_k(&l, &mut y.qs, &mut y.qh);
        }
    }

    /// `quantize_row_q5_K_impl`.
    pub fn quantize_row_q5_k_impl(x: &[f32], y: &mut [BlockQ5K], quant_weights: &[f32]) {
        for ((x, qw), y) in x
            .chunks_exact(QK_K)
            .zip(quant_weights.chunks_exact(QK_K))
            .zip(y)
        {
            let mut l = [0u8; QK_K];
            let (d, dmin) = k4_impl_scales(x, qw, 31, &mut l, &mut y.scales);
            y.d = fp16(d);
            y.dmin = fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 31, &mut l);
            pack_q5_k(&l, &mut y.qs, &mut y.qh);
        }
    }

    /// `quantize_row_q6_K_impl`, which with `quant_weights == NULL` is
    /// exactly `quantize_row_q6_K_ref` (make_qx_quants weights `x * x`).
    /// ggml passes the raw importance here, without the `sigma2` term.
    pub fn quantize_row_q6_k_impl(x: &[f32], y: &mut [BlockQ6K], quant_weights: Option<&[f32]>) {
        for (i, (x, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            let mut l = [0i8; QK_K];
            let mut scales = [0f32; QK_K / 16];
            let mut max_scale = 0f32;
            let mut max_abs_scale = 0f32;
            for ib in 0..QK_K / 16 {
                let qw = quant_weights.map(|qw| &qw[QK_K * i + 16 * ib..QK_K * i + 16 * ib + 16]);
                let scale = make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut l[16 * ib..], qw);
                scales[ib] = scale;
                let abs_scale = scale.abs();
                if abs_scale > max_abs_scale {
                    max_abs_scale = abs_scale;
                    max_scale = scale;
                }
            }
            if max_abs_scale < GROUP_MAX_EPS {
                *y = bytemuck::Zeroable::zeroed();
                y.d = fp16(0.0);
                continue;
            }
            let iscale = -128.0 / max_scale;
            y.d = fp16(1.0 / iscale);
            for ib in 0..QK_K / 16 {
                y.scales[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
            }
            let dd = f16(y.d);
            for j in 0..QK_K / 16 {
                let d = dd * y.scales[j] as f32;
                if d == 0.0 {
                    continue;
                }
                for ii in 0..16 {
                    let q = nearest_int(x[16 * j + ii] / d).clamp(-32, 31);
                    l[16 * j + ii] = (q + 32) as i8;
                }
            }
            for n in 0..2 {
                let (j, ql, qh) = (128 * n, &mut y.ql[64 * n..], &mut y.qh[32 * n..]);
                for k in 0..32 {
                    let v = |o: usize| l[j + k + o] as u8;
                    let (q1, q2, q3, q4) = (v(0) & 0xF, v(32) & 0xF, v(64) & 0xF, v(96) & 0xF);
                    ql[k] = q1 | (q3 << 4);
                    ql[k + 32] = q2 | (q4 << 4);
                    qh[k] = (v(0) >> 4)
                        | ((v(32) >> 4) << 2)
                        | ((v(64) >> 4) << 4)
                        | ((v(96) >> 4) << 6);
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Non-linear 4-bit (IQ4_NL, IQ4_XS)
    // ------------------------------------------------------------------

    /// The hot parts of `quantize_row_iq4_nl_impl`, as a trait so that the
    /// SIMD path shares the rest; [`Iq4Scalar`] is the reference.
    pub(crate) trait Iq4Kernels {
        /// One block's scale search (`xb`, `weight`: 32 values; `max` its
        /// signed largest magnitude, not tiny): the first pass's indices to
        /// `lb` (with `ntry > 0` a kernel may leave `lb` alone: the caller
        /// then writes the final indices over them), returns the best `d`.
        fn scale(
            &self,
            xb: &[f32],
            weight: &[f32; 32],
            lb: &mut [u8],
            values: &[i8; 16],
            max: f32,
            ntry: i32,
        ) -> f32;
        /// `out[j] = best_index_int8(values, id * xs[j])`.
        fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]);
    }

    /// The reference's kernels.
    pub(crate) struct Iq4Scalar;

    impl Iq4Kernels for Iq4Scalar {
        fn scale(
            &self,
            xb: &[f32],
            weight: &[f32; 32],
            lb: &mut [u8],
            values: &[i8; 16],
            max: f32,
            ntry: i32,
        ) -> f32 {
            let v0 = values[0] as f32;
            let mut d = if ntry > 0 { -max / v0 } else { max / v0 };
            let mut id = 1.0 / d;
            let mut sumqx = 0f32;
            let mut sumq2 = 0f32;
            for j in 0..32 {
                let al = id * xb[j];
                let li = best_index_int8(values, al);
                lb[j] = li as u8;
                let q = values[li] as f32;
                let w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
            let mut best = d * sumqx;
            for itry in -ntry..=ntry {
                id = (itry + values[0] as i32) as f32 / max;
                sumqx = 0.0;
                sumq2 = 0.0;
                for j in 0..32 {
                    let al = id * xb[j];
                    let li = best_index_int8(values, al);
                    let q = values[li] as f32;
                    let w = weight[j];
                    sumqx += w * q * xb[j];
                    sumq2 += w * q * q;
                }
                if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            d
        }

        fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
            for (q, &v) in out.iter_mut().zip(xs) {
                *q = best_index_int8(values, id * v) as u8;
            }
        }
    }

    /// `quantize_row_iq4_nl_impl` with `block_size = 32`: one super-block of
    /// `x.len()` values (32 for IQ4_NL, 256 for IQ4_XS). Returns the packed
    /// fp16 `d`; writes `q4` and, for several blocks, `scales_h`/`scales_l`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn quantize_row_iq4_nl_impl(
        x: &[f32],
        q4: &mut [u8],
        scales_h: &mut u16,
        scales_l: &mut [u8],
        values: &[i8; 16],
        quant_weights: Option<&[f32]>,
        ntry: i32,
        kernels: &impl Iq4Kernels,
    ) -> [u8; 2] {
        const BLOCK_SIZE: usize = 32;
        let super_block_size = x.len();
        let nb = super_block_size / BLOCK_SIZE;
        let mut l = [0u8; QK_K];
        let mut scales = [0f32; QK_K / BLOCK_SIZE];
        let mut weight = [0f32; BLOCK_SIZE];

        let mut sigma2 = sum_sq(x);
        sigma2 *= 2.0 / super_block_size as f32;

        q4.fill(0);
        let dh;

        let mut max_scale = 0f32;
        let mut amax_scale = 0f32;
        for ib in 0..nb {
            let xb = &x[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
            let lb = &mut l[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
            match quant_weights {
                Some(qw) => imatrix_weights(
                    &mut weight,
                    &qw[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE],
                    xb,
                    sigma2,
                ),
                None => {
                    for (w, &v) in weight.iter_mut().zip(xb) {
                        *w = v * v;
                    }
                }
            }
            let mut amax = 0f32;
            let mut max = 0f32;
            for &v in xb {
                let ax = v.abs();
                if ax > amax {
                    amax = ax;
                    max = v;
                }
            }
            if amax < GROUP_MAX_EPS {
                scales[ib] = 0.0;
                continue;
            }
            let d = kernels.scale(xb, &weight, lb, values, max, ntry);
            scales[ib] = d;
            let abs_d = d.abs();
            if abs_d > amax_scale {
                amax_scale = abs_d;
                max_scale = d;
            }
        }

        if nb > 1 {
            *scales_h = 0;
            let d = -max_scale / 32.0;
            dh = fp16(d);
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            for ib in 0..nb {
                let mut li = nearest_int(id * scales[ib]).clamp(-32, 31);
                let dl = d * li as f32;
                let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
                let xb = &x[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
                let lb = &mut l[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
                kernels.indices(values, idl, xb, lb);
                li += 32;
                let l_l = (li & 0xf) as u8;
                let l_h = (li >> 4) as u16;
                if ib % 2 == 0 {
                    scales_l[ib / 2] = l_l;
                } else {
                    scales_l[ib / 2] |= l_l << 4;
                }
                *scales_h |= l_h << (2 * (ib % 8));
            }
        } else {
            dh = fp16(scales[0]);
            if ntry > 0 {
                let id = if scales[0] != 0.0 {
                    1.0 / scales[0]
                } else {
                    0.0
                };
                kernels.indices(values, id, x, &mut l[..super_block_size]);
            }
        }

        for i in 0..super_block_size / 32 {
            for j in 0..16 {
                q4[16 * i + j] = l[32 * i + j] | (l[32 * i + 16 + j] << 4);
            }
        }
        dh
    }

    /// `quantize_iq4_nl` for one row (ntry = 7, importance optional).
    /// `ggml_quantize_chunk` always takes this path, never
    /// `quantize_row_iq4_nl_ref` (ntry = -1).
    pub fn quantize_iq4_nl(x: &[f32], y: &mut [BlockIq4Nl], quant_weights: Option<&[f32]>) {
        quantize_iq4_nl_with(x, y, quant_weights, &Iq4Scalar);
    }

    /// [`quantize_iq4_nl`] with the given kernels.
    #[inline(always)]
    pub(crate) fn quantize_iq4_nl_with(
        x: &[f32],
        y: &mut [BlockIq4Nl],
        quant_weights: Option<&[f32]>,
        kernels: &impl Iq4Kernels,
    ) {
        let mut unused_h = 0u16;
        for (ibl, (xb, y)) in x.chunks_exact(32).zip(y).enumerate() {
            let qw = quant_weights.map(|qw| &qw[32 * ibl..32 * ibl + 32]);
            y.d = quantize_row_iq4_nl_impl(
                xb,
                &mut y.qs,
                &mut unused_h,
                &mut [],
                &KVALUES_IQ4NL,
                qw,
                7,
                kernels,
            );
        }
    }

    /// `quantize_iq4_xs` for one row (ntry = 7, importance optional).
    pub fn quantize_iq4_xs(x: &[f32], y: &mut [BlockIq4Xs], quant_weights: Option<&[f32]>) {
        quantize_iq4_xs_with(x, y, quant_weights, &Iq4Scalar);
    }

    /// [`quantize_iq4_xs`] with the given kernels.
    #[inline(always)]
    pub(crate) fn quantize_iq4_xs_with(
        x: &[f32],
        y: &mut [BlockIq4Xs],
        quant_weights: Option<&[f32]>,
        kernels: &impl Iq4Kernels,
    ) {
        for (ibl, (xb, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            let qw = quant_weights.map(|qw| &qw[QK_K * ibl..QK_K * (ibl + 1)]);
            let mut scales_h = 0u16;
            y.d = quantize_row_iq4_nl_impl(
                xb,
                &mut y.qs,
                &mut scales_h,
                &mut y.scales_l,
                &KVALUES_IQ4NL,
                qw,
                7,
                kernels,
            );
            y.scales_h = scales_h.to_le_bytes();
        }
    }
}

/// SIMD quantizers (no importance matrix): Q8_0, Q8_K, Q4_0, Q4_1, Q5_0,
/// Q5_1, TQ1_0, TQ2_0 and BF16 (wasm), and on x86 also Q2_K, Q3_K, IQ4_NL
/// and IQ4_XS, each writing the reference's bytes.
///
/// Max and compare are exact in any order, and the per-value float steps
/// are the reference's (same operands, same order, no fused multiply-add),
/// so only two things need care: `roundf` (ties away from zero, unlike the
/// SIMD round-to-nearest-even, so it is built from truncation) and C's
/// float-to-int conversion, which [`reference::f32_to_i32_x86`] pins to
/// x86's `cvttss2si` (0x80000000 for NaN and out of range; wasm's
/// saturating conversion is corrected to that) followed by keeping the low
/// byte.
pub(crate) mod simd {
    #[allow(unused_imports)]
    use super::*;

    /// Quantize one row with a fast path if one exists for `ty` on this
    /// machine; `false` means the caller must use the reference.
    #[allow(unused_variables)]
    pub(crate) fn quantize_row(ty: GgmlType, x: &[f32], y: &mut [u8]) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::quant::dot::has_avx2() {
                // SAFETY: AVX2 (and FMA, F16C) are present, checked above.
                return unsafe { avx2::quantize_row(ty, x, y) };
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            return wasm::quantize_row(ty, x, y);
        }
        #[allow(unreachable_code)]
        false
    }

    #[cfg(target_arch = "x86_64")]
    pub(crate) mod avx2 {
        use super::super::super::dequant::fp16_to_f32;
        use super::super::super::dequant::layout::{
            BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8K, BlockQ8_0,
            BlockTq1_0, BlockTq2_0,
        };
        use super::super::reference::{self, Iq4Kernels as _, GROUP_MAX_EPS};
        use super::super::{fp32_to_fp16, GgmlType};
        use crate::quant::types::QK_K;
        use core::arch::x86_64::*;

        #[inline(always)]
        fn f16(h: [u8; 2]) -> f32 {
            fp16_to_f32(u16::from_le_bytes(h))
        }

        /// AVX2 quantizers; `false` for types without one.
        ///
        /// # Safety
        /// The CPU must support AVX2.
        #[target_feature(enable = "avx2")]
        pub(crate) unsafe fn quantize_row(ty: GgmlType, x: &[f32], y: &mut [u8]) -> bool {
            match ty {
                GgmlType::Q8_0 => q8_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q8K => q8_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q4_0 => q4_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q4_1 => q4_1(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q5_0 => q5_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q5_1 => q5_1(x, bytemuck::cast_slice_mut(y)),
                GgmlType::TQ1_0 => tq1_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::TQ2_0 => tq2_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q2K => q2_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q3K => q3_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q4K => {
                    reference::q4_k_ref_with(x, bytemuck::cast_slice_mut(y), make_qkx2_quants)
                }
                GgmlType::Q5K => {
                    reference::q5_k_ref_with(x, bytemuck::cast_slice_mut(y), make_qkx2_quants)
                }
                GgmlType::IQ4NL => {
                    reference::quantize_iq4_nl_with(x, bytemuck::cast_slice_mut(y), None, &Iq4Avx2)
                }
                GgmlType::IQ4XS => {
                    reference::quantize_iq4_xs_with(x, bytemuck::cast_slice_mut(y), None, &Iq4Avx2)
                }
                _ => return false,
            }
            true
        }

        /// `fabsf` on 8 lanes.
        #[inline(always)]
        unsafe fn abs(v: __m256) -> __m256 {
            _mm256_andnot_ps(_mm256_set1_ps(-0.0), v)
        }

        /// Largest of the 8 lanes.
        #[inline(always)]
        unsafe fn hmax(v: __m256) -> f32 {
            let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
            _mm_cvtss_f32(m)
        }

        /// `(amax, max)` as the reference scans: the largest magnitude and
        /// the signed value where it first occurs.
        #[inline(always)]
        unsafe fn amax_and_max(x: &[f32]) -> (f32, f32) {
            let mut m = _mm256_setzero_ps();
            for c in x.chunks_exact(8) {
                m = _mm256_max_ps(m, abs(_mm256_loadu_ps(c.as_ptr())));
            }
            let amax = hmax(m);
            if amax == 0.0 {
                return (0.0, 0.0);
            }
            let target = _mm256_set1_ps(amax);
            for (k, c) in x.chunks_exact(8).enumerate() {
                let eq = _mm256_cmp_ps(abs(_mm256_loadu_ps(c.as_ptr())), target, _CMP_EQ_OQ);
                let mask = _mm256_movemask_ps(eq);
                if mask != 0 {
                    return (amax, x[8 * k + mask.trailing_zeros() as usize]);
                }
            }
            (amax, 0.0)
        }

        /// Largest magnitude (`fold(0, MAX(a, fabsf(v)))`).
        #[inline(always)]
        unsafe fn amax(x: &[f32]) -> f32 {
            let mut m = _mm256_setzero_ps();
            for c in x.chunks_exact(8) {
                m = _mm256_max_ps(m, abs(_mm256_loadu_ps(c.as_ptr())));
            }
            hmax(m)
        }

        /// `(min, max)` as the reference scans (`v < min`, `v > max` from
        /// `f32::MAX`, `-f32::MAX`). Min and max are exact in any order;
        /// only the sign of a zero result depends on which zero came first,
        /// so then the reference's scan decides.
        #[inline(always)]
        unsafe fn min_max(x: &[f32]) -> (f32, f32) {
            let mut lo = _mm256_set1_ps(f32::MAX);
            let mut hi = _mm256_set1_ps(-f32::MAX);
            for c in x.chunks_exact(8) {
                let v = _mm256_loadu_ps(c.as_ptr());
                lo = _mm256_min_ps(lo, v);
                hi = _mm256_max_ps(hi, v);
            }
            let min = -hmax(_mm256_sub_ps(_mm256_setzero_ps(), lo));
            let max = hmax(hi);
            if min == 0.0 || max == 0.0 {
                return super::super::reference::min_max(x);
            }
            (min, max)
        }

        /// `roundf` (half away from zero): truncate, then step away from
        /// zero when the (exact) remainder is at least one half.
        #[inline(always)]
        unsafe fn roundf(p: __m256) -> __m256 {
            let t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            let frac = abs(_mm256_sub_ps(p, t));
            let away = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5), _CMP_GE_OQ);
            let one = _mm256_or_ps(_mm256_and_ps(p, _mm256_set1_ps(-0.0)), _mm256_set1_ps(1.0));
            _mm256_add_ps(t, _mm256_and_ps(away, one))
        }

        /// Keep the low byte of each i32 (C's narrowing), as 0..=255.
        #[inline(always)]
        unsafe fn low_byte(v: __m256i) -> __m256i {
            _mm256_and_si256(v, _mm256_set1_epi32(0xFF))
        }

        /// 16 i32 lanes holding 0..=255 to 16 bytes, in order.
        #[inline(always)]
        unsafe fn pack_bytes(a: __m256i, b: __m256i) -> __m128i {
            // packus interleaves 128-bit lanes: a0 b0 a1 b1; put a, b back
            // in order, then narrow again.
            let w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
            _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1))
        }

        #[inline(always)]
        unsafe fn load(x: &[f32], k: usize) -> __m256 {
            _mm256_loadu_ps(x.as_ptr().add(8 * k))
        }

        /// `quantize_row_q8_0_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let d = amax(x) / 127.0;
                let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                let q: [__m256i; 4] = core::array::from_fn(|k| {
                    low_byte(_mm256_cvttps_epi32(roundf(_mm256_mul_ps(load(x, k), id))))
                });
                let out = y.qs.as_mut_ptr() as *mut __m128i;
                _mm_storeu_si128(out, pack_bytes(q[0], q[1]));
                _mm_storeu_si128(out.add(1), pack_bytes(q[2], q[3]));
            }
        }

        /// `quantize_row_q8_K_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn q8_k(x: &[f32], y: &mut [BlockQ8K]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let (amax, max) = amax_and_max(x);
                if amax == 0.0 {
                    *y = bytemuck::Zeroable::zeroed();
                    continue;
                }
                let iscale = -127.0 / max;
                let vs = _mm256_set1_ps(iscale);
                let magic = _mm256_set1_ps(12_582_912.0);
                let out = y.qs.as_mut_ptr() as *mut __m128i;
                for g in 0..QK_K / 16 {
                    let q: [__m256i; 2] = core::array::from_fn(|h| {
                        // nearest_int: the magic-number trick, then MIN(127, v)
                        let v = _mm256_add_ps(_mm256_mul_ps(vs, load(x, 2 * g + h)), magic);
                        let i = _mm256_sub_epi32(
                            _mm256_and_si256(
                                _mm256_castps_si256(v),
                                _mm256_set1_epi32(0x007f_ffff),
                            ),
                            _mm256_set1_epi32(0x0040_0000),
                        );
                        low_byte(_mm256_min_epi32(i, _mm256_set1_epi32(127)))
                    });
                    _mm_storeu_si128(out.add(g), pack_bytes(q[0], q[1]));
                }
                for (s, q) in y.bsums.chunks_exact_mut(2).zip(y.qs.chunks_exact(16)) {
                    let sum: i32 = q.iter().map(|&q| q as i32).sum();
                    s.copy_from_slice(&(sum as i16).to_le_bytes());
                }
                y.d = (1.0 / iscale).to_le_bytes();
            }
        }

        /// `quantize_row_q4_0_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (_, max) = amax_and_max(x);
                let d = max / -8.0;
                let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                // MIN(15, (int8_t)(x0 + 8.5f)): sign-extend the low byte,
                // clamp, and keep what survives in the u8 nibble packing.
                let q: [__m256i; 4] = core::array::from_fn(|k| {
                    let v = _mm256_add_ps(_mm256_mul_ps(load(x, k), id), _mm256_set1_ps(8.5));
                    let i = _mm256_cvttps_epi32(v);
                    let i8v = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
                    _mm256_min_epi32(i8v, _mm256_set1_epi32(15))
                });
                // qs[j] = xi(x[j]) | xi(x[j + 16]) << 4, as u8
                let b0 = _mm256_or_si256(low_byte(q[0]), low_byte(_mm256_slli_epi32(q[2], 4)));
                let b1 = _mm256_or_si256(low_byte(q[1]), low_byte(_mm256_slli_epi32(q[3], 4)));
                _mm_storeu_si128(y.qs.as_mut_ptr() as *mut __m128i, pack_bytes(b0, b1));
            }
        }

        /// C's `(int8_t)` of an int, then `MIN(hi, v)`, as i32 lanes.
        #[inline(always)]
        unsafe fn i8_min(i: __m256i, hi: i32) -> __m256i {
            let i8v = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
            _mm256_min_epi32(i8v, _mm256_set1_epi32(hi))
        }

        /// `qs[j] = l[j] | l[j + 16] << 4` (as u8) for 32 i32 quants.
        #[inline(always)]
        unsafe fn pack_nibbles(q: &[__m256i; 4], qs: &mut [u8; 16]) {
            let b0 = _mm256_or_si256(low_byte(q[0]), low_byte(_mm256_slli_epi32(q[2], 4)));
            let b1 = _mm256_or_si256(low_byte(q[1]), low_byte(_mm256_slli_epi32(q[3], 4)));
            _mm_storeu_si128(qs.as_mut_ptr() as *mut __m128i, pack_bytes(b0, b1));
        }

        /// `pack_q5` for 32 i32 quants (only their low 5 bits count): low
        /// nibbles in `qs`, bit 4 of quant `j` as bit `j` of `qh`.
        #[inline(always)]
        unsafe fn pack_q5(q: &[__m256i; 4], qs: &mut [u8; 16], qh: &mut [u8; 4]) {
            let lo = pack_bytes(low_byte(q[0]), low_byte(q[1]));
            let hi = pack_bytes(low_byte(q[2]), low_byte(q[3]));
            let m4 = _mm_set1_epi8(0x0F);
            let nib = _mm_or_si128(
                _mm_and_si128(lo, m4),
                _mm_slli_epi16(_mm_and_si128(hi, m4), 4),
            );
            _mm_storeu_si128(qs.as_mut_ptr() as *mut __m128i, nib);
            // bit 4 of each byte to bit 7, where movemask reads it
            let bits = (_mm_movemask_epi8(_mm_slli_epi16(lo, 3)) as u32 & 0xFFFF)
                | ((_mm_movemask_epi8(_mm_slli_epi16(hi, 3)) as u32) << 16);
            *qh = bits.to_le_bytes();
        }

        /// `quantize_row_q4_1_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (min, max) = min_max(x);
                let d = (max - min) / 15.0;
                let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                y.m = fp32_to_fp16(min).to_le_bytes();
                let vmin = _mm256_set1_ps(min);
                // MIN(15, (int8_t)((x - min) * id + 0.5f))
                let q: [__m256i; 4] = core::array::from_fn(|k| {
                    let v = _mm256_mul_ps(_mm256_sub_ps(load(x, k), vmin), id);
                    i8_min(
                        _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5))),
                        15,
                    )
                });
                pack_nibbles(&q, &mut y.qs);
            }
        }

        /// `quantize_row_q5_0_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn q5_0(x: &[f32], y: &mut [BlockQ5_0]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (_, max) = amax_and_max(x);
                let d = max / -16.0;
                let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                // MIN(31, (int8_t)(x * id + 16.5f))
                let q: [__m256i; 4] = core::array::from_fn(|k| {
                    let v = _mm256_add_ps(_mm256_mul_ps(load(x, k), id), _mm256_set1_ps(16.5));
                    i8_min(_mm256_cvttps_epi32(v), 31)
                });
                pack_q5(&q, &mut y.qs, &mut y.qh);
            }
        }

        /// `quantize_row_q5_1_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn q5_1(x: &[f32], y: &mut [BlockQ5_1]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (min, max) = min_max(x);
                let d = (max - min) / 31.0;
                let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                y.m = fp32_to_fp16(min).to_le_bytes();
                let vmin = _mm256_set1_ps(min);
                // (uint8_t)((x - min) * id + 0.5f), no clamp
                let q: [__m256i; 4] = core::array::from_fn(|k| {
                    let v = _mm256_mul_ps(_mm256_sub_ps(load(x, k), vmin), id);
                    _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5)))
                });
                pack_q5(&q, &mut y.qs, &mut y.qh);
            }
        }

        /// `lroundf(v * id) + 1` as an i32 lane, correct in its low byte
        /// (all that the ternary packings keep): out of i32 range both
        /// `lroundf` and `cvttps` give a multiple of 256.
        #[inline(always)]
        unsafe fn trit(v: __m256, id: __m256) -> __m256i {
            let i = _mm256_cvttps_epi32(roundf(_mm256_mul_ps(v, id)));
            _mm256_add_epi32(i, _mm256_set1_epi32(1))
        }

        /// `quantize_row_tq2_0_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn tq2_0(x: &[f32], y: &mut [BlockTq2_0]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let d = amax(x);
                let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                let m3 = _mm256_set1_epi32(3);
                for j in 0..2 {
                    let x = &x[128 * j..];
                    // qs[32j + m] = sum over n of (xi(x[m + 32n]) & 3) << 2n
                    let q: [__m256i; 4] = core::array::from_fn(|k| {
                        let mut q = _mm256_setzero_si256();
                        for n in (0..4).rev() {
                            let t = _mm256_and_si256(trit(load(x, 4 * n + k), id), m3);
                            q = _mm256_or_si256(_mm256_slli_epi32(q, 2), t);
                        }
                        q
                    });
                    let out = y.qs.as_mut_ptr().add(32 * j) as *mut __m128i;
                    _mm_storeu_si128(out, pack_bytes(q[0], q[1]));
                    _mm_storeu_si128(out.add(1), pack_bytes(q[2], q[3]));
                }
            }
        }

        /// TQ1_0's `ceil(q * 256 / 243)` of a byte `q`, kept as C's
        /// `uint8_t`: `q + (13q + 242) / 243`, the division as a multiply
        /// and shift (exact for every byte; checked in the tests).
        #[inline(always)]
        unsafe fn tq1_ceil_div(q: __m256i) -> __m256i {
            let q = low_byte(q);
            let t = _mm256_srli_epi32(
                _mm256_add_epi32(
                    _mm256_mullo_epi32(q, _mm256_set1_epi32(14027)),
                    _mm256_set1_epi32(261_118),
                ),
                18,
            );
            low_byte(_mm256_add_epi32(q, t))
        }

        /// Base-3 digits of `n` loads (`q = q * 3 + xi`, first digit most
        /// significant), mod 256 as the reference's `uint8_t`.
        #[inline(always)]
        unsafe fn tq1_horner(load: impl Fn(usize) -> __m256, n: usize, id: __m256) -> __m256i {
            let mut q = _mm256_setzero_si256();
            for i in 0..n {
                let v = load(i);
                let q3 = _mm256_add_epi32(q, _mm256_add_epi32(q, q));
                q = _mm256_add_epi32(q3, trit(v, id));
            }
            q
        }

        /// `quantize_row_tq1_0_ref`.
        #[target_feature(enable = "avx2")]
        unsafe fn tq1_0(x: &[f32], y: &mut [BlockTq1_0]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let d = amax(x);
                let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                // qs[m], m < 32: digits x[m + 32n]; qs[32 + m], m < 16: x[160 + m + 16n]
                let at = |i: usize| _mm256_loadu_ps(x.as_ptr().add(i));
                let q: [__m256i; 6] = core::array::from_fn(|k| {
                    if k < 4 {
                        tq1_ceil_div(tq1_horner(|n| at(8 * k + 32 * n), 5, id))
                    } else {
                        tq1_ceil_div(tq1_horner(|n| at(160 + 8 * (k - 4) + 16 * n), 5, id))
                    }
                });
                let out = y.qs.as_mut_ptr() as *mut __m128i;
                _mm_storeu_si128(out, pack_bytes(q[0], q[1]));
                _mm_storeu_si128(out.add(1), pack_bytes(q[2], q[3]));
                _mm_storeu_si128(out.add(2), pack_bytes(q[4], q[5]));
                // qh[j], j < 4: digits x[240 + j + 4m], then one more * 3;
                // lanes 4..8 are zero and dropped.
                let h = tq1_horner(
                    |m| _mm256_zextps128_ps256(_mm_loadu_ps(x.as_ptr().add(240 + 4 * m))),
                    4,
                    id,
                );
                let h = tq1_ceil_div(_mm256_add_epi32(h, _mm256_add_epi32(h, h)));
                let b = _mm_cvtsi128_si32(pack_bytes(h, h)) as u32;
                y.qh = b.to_le_bytes();
            }
        }

        // --------------------------------------------------------------
        // Q2_K, Q3_K, IQ4_NL, IQ4_XS: the reference's searches with the
        // candidates (or the values) in lanes. Each lane evaluates the
        // reference's float expression for its candidate in the same
        // order; where the reference accumulates over a block's values,
        // the lanes are candidates and the values are the sequential loop,
        // so every sum is added up in the reference's order.
        // --------------------------------------------------------------

        /// `nearest_int` on 8 lanes (the same magic-number bits).
        #[inline(always)]
        unsafe fn nearest_int(v: __m256) -> __m256i {
            let v = _mm256_add_ps(v, _mm256_set1_ps(12_582_912.0));
            _mm256_sub_epi32(
                _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x007f_ffff)),
                _mm256_set1_epi32(0x0040_0000),
            )
        }

        #[inline(always)]
        unsafe fn clamp_i32(v: __m256i, lo: i32, hi: i32) -> __m256i {
            _mm256_min_epi32(
                _mm256_max_epi32(v, _mm256_set1_epi32(lo)),
                _mm256_set1_epi32(hi),
            )
        }

        #[inline(always)]
        unsafe fn lanes(v: __m256) -> [f32; 8] {
            core::mem::transmute(v)
        }

        /// 16 i32 lanes (each in -128..=127) to 16 bytes, in order.
        #[inline(always)]
        unsafe fn pack_i8(a: __m256i, b: __m256i) -> __m128i {
            let w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
            _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1))
        }

        /// `make_qkx2_quants` (same arguments and results). The `nstep + 1`
        /// candidate scales go 8 to a vector; a candidate that wins moves
        /// `min` (and so every later candidate's `iscale` and quants, as in
        /// ggml), so the lanes after it are evaluated again.
        ///
        /// # Safety
        /// The CPU must support AVX2.
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        pub(crate) unsafe fn make_qkx2_quants(
            nmax: i32,
            x: &[f32],
            weights: &[f32],
            l_out: &mut [u8],
            _laux: &mut [u8],
            rmin: f32,
            rdelta: f32,
            nstep: i32,
            use_mad: bool,
        ) -> (f32, f32) {
            const N: usize = 32;
            let n = x.len();
            if n > N || !n.is_multiple_of(8) {
                return reference::make_qkx2_quants(
                    nmax, x, weights, l_out, _laux, rmin, rdelta, nstep, use_mad,
                );
            }
            let weights = &weights[..n];
            let l_out = &mut l_out[..n];
            let (mut min, max, sum_w, sum_x) = reference::weighted_range(x, weights);
            if max == min {
                l_out.fill(0);
                return (0.0, -min);
            }
            let err = |d: __m256| {
                if use_mad {
                    abs(d)
                } else {
                    _mm256_mul_ps(d, d)
                }
            };
            // The first guess, with the values in lanes; the error terms
            // are then added up in order.
            let iscale = nmax as f32 / (max - min);
            let mut scale = 1.0 / iscale;
            let mut terms = [0f32; N];
            for k in 0..n / 8 {
                let xv = load(x, k);
                let l = nearest_int(_mm256_mul_ps(
                    _mm256_set1_ps(iscale),
                    _mm256_sub_ps(xv, _mm256_set1_ps(min)),
                ));
                let l = clamp_i32(l, 0, nmax);
                let mut b = [0i32; 8];
                _mm256_storeu_si256(b.as_mut_ptr() as *mut __m256i, l);
                for (o, &q) in l_out[8 * k..8 * k + 8].iter_mut().zip(&b) {
                    *o = q as u8;
                }
                let diff = _mm256_sub_ps(
                    _mm256_add_ps(
                        _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(l)),
                        _mm256_set1_ps(min),
                    ),
                    xv,
                );
                let t = _mm256_mul_ps(_mm256_loadu_ps(weights.as_ptr().add(8 * k)), err(diff));
                _mm256_storeu_ps(terms.as_mut_ptr().add(8 * k), t);
            }
            let mut best_error = 0f32;
            for &t in &terms[..n] {
                best_error += t;
            }
            if nstep < 1 {
                return (scale, -min);
            }
            let mut lf = [_mm256_setzero_ps(); N];
            let mut is0 = 0i32;
            'chunks: while is0 <= nstep {
                let isv = _mm256_cvtepi32_ps(_mm256_add_epi32(
                    _mm256_set1_epi32(is0),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                ));
                // (rmin + rdelta * is + nmax) / (max - min)
                let iscale = _mm256_div_ps(
                    _mm256_add_ps(
                        _mm256_add_ps(
                            _mm256_set1_ps(rmin),
                            _mm256_mul_ps(_mm256_set1_ps(rdelta), isv),
                        ),
                        _mm256_set1_ps(nmax as f32),
                    ),
                    _mm256_set1_ps(max - min),
                );
                let (mut sum_l, mut sum_l2, mut sum_xl) = (
                    _mm256_setzero_ps(),
                    _mm256_setzero_ps(),
                    _mm256_setzero_ps(),
                );
                for i in 0..n {
                    let xm = _mm256_set1_ps(x[i] - min);
                    let l = clamp_i32(nearest_int(_mm256_mul_ps(iscale, xm)), 0, nmax);
                    let lv = _mm256_cvtepi32_ps(l);
                    lf[i] = lv;
                    let wl = _mm256_mul_ps(_mm256_set1_ps(weights[i]), lv);
                    sum_l = _mm256_add_ps(sum_l, wl);
                    sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, lv));
                    sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, _mm256_set1_ps(x[i])));
                }
                let (sw, sx) = (_mm256_set1_ps(sum_w), _mm256_set1_ps(sum_x));
                let dd = _mm256_sub_ps(_mm256_mul_ps(sw, sum_l2), _mm256_mul_ps(sum_l, sum_l));
                let mut this_scale = _mm256_div_ps(
                    _mm256_sub_ps(_mm256_mul_ps(sw, sum_xl), _mm256_mul_ps(sx, sum_l)),
                    dd,
                );
                let mut this_min = _mm256_div_ps(
                    _mm256_sub_ps(_mm256_mul_ps(sum_l2, sx), _mm256_mul_ps(sum_l, sum_xl)),
                    dd,
                );
                let pos = _mm256_cmp_ps(this_min, _mm256_setzero_ps(), _CMP_GT_OQ);
                this_min = _mm256_andnot_ps(pos, this_min);
                this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), pos);
                let mut cur = _mm256_setzero_ps();
                for i in 0..n {
                    let diff = _mm256_sub_ps(
                        _mm256_add_ps(_mm256_mul_ps(this_scale, lf[i]), this_min),
                        _mm256_set1_ps(x[i]),
                    );
                    cur = _mm256_add_ps(cur, _mm256_mul_ps(_mm256_set1_ps(weights[i]), err(diff)));
                }
                let (dd, cur) = (lanes(dd), lanes(cur));
                let (ts, tm) = (lanes(this_scale), lanes(this_min));
                let count = ((nstep - is0 + 1) as usize).min(8);
                for k in 0..count {
                    if dd[k] > 0.0 && cur[k] < best_error {
                        for (o, v) in l_out.iter_mut().zip(&lf[..n]) {
                            *o = lanes(*v)[k] as u8;
                        }
                        best_error = cur[k];
                        scale = ts[k];
                        min = tm[k];
                        is0 += k as i32 + 1;
                        continue 'chunks;
                    }
                }
                is0 += 8;
            }
            (scale, -min)
        }

        /// `finish_q2_k`: requantize with the values in lanes, then pack.
        #[target_feature(enable = "avx2")]
        pub(crate) unsafe fn finish_q2_k(x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
            let (dd, dmin) = (f16(y.d), f16(y.dmin));
            let x = &x[..QK_K];
            for j in 0..QK_K / 16 {
                let d = dd * (y.scales[j] & 0xF) as f32;
                if d == 0.0 {
                    continue;
                }
                let dm = _mm256_set1_ps(dmin * (y.scales[j] >> 4) as f32);
                let d = _mm256_set1_ps(d);
                // nearest_int((x + dm) / d), clamped to 0..=3
                let q: [__m256i; 2] = core::array::from_fn(|h| {
                    let v = _mm256_div_ps(_mm256_add_ps(load(x, 2 * j + h), dm), d);
                    clamp_i32(nearest_int(v), 0, 3)
                });
                _mm_storeu_si128(
                    l.as_mut_ptr().add(16 * j) as *mut __m128i,
                    pack_i8(q[0], q[1]),
                );
            }
            pack_2bit(l, &mut y.qs);
        }

        /// Q2_K/Q3_K's packing of 256 quants (0..=3) four to a byte, 32
        /// apart.
        #[inline(always)]
        unsafe fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8; 64]) {
            let lp = l.as_ptr() as *const __m256i;
            for h in 0..2 {
                let v = |o: usize| _mm256_loadu_si256(lp.add(4 * h + o));
                // values are at most 3, so 16-bit shifts stay inside bytes
                let b = _mm256_or_si256(
                    _mm256_or_si256(v(0), _mm256_slli_epi16(v(1), 2)),
                    _mm256_or_si256(_mm256_slli_epi16(v(2), 4), _mm256_slli_epi16(v(3), 6)),
                );
                _mm256_storeu_si256(qs.as_mut_ptr().add(32 * h) as *mut __m256i, b);
            }
        }

        /// `make_q3_quants` (16 values, `do_rmse`). The rounds of moving
        /// single quants are sequential: each move changes the sums the
        /// next value is judged by. So all 16 proposals are computed in
        /// lanes with the current sums, exactly as the reference would for
        /// each value while no earlier one moved; the first value that
        /// proposes a change is then judged in scalar, and after a move the
        /// proposals of the later values are computed again.
        ///
        /// # Safety
        /// The CPU must support AVX2.
        #[target_feature(enable = "avx2")]
        pub(crate) unsafe fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
            if x.len() != 16 {
                return reference::make_q3_quants(nmax, x, l_out);
            }
            let l_out = &mut l_out[..16];
            let mut max = 0f32;
            let mut amax = 0f32;
            for &v in x {
                let ax = v.abs();
                if ax > amax {
                    amax = ax;
                    max = v;
                }
            }
            if amax < GROUP_MAX_EPS {
                l_out.fill(0);
                return 0.0;
            }
            let xv = [load(x, 0), load(x, 1)];
            // w * x[i] (w = x * x) as the reference forms it, per value
            let wx = xv.map(|v| _mm256_mul_ps(_mm256_mul_ps(v, v), v));
            let iscale = _mm256_set1_ps(-(nmax as f32) / max);
            let mut li = [_mm256_setzero_si256(); 2];
            let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
            for h in 0..2 {
                li[h] = clamp_i32(nearest_int(_mm256_mul_ps(iscale, xv[h])), -nmax, nmax - 1);
                let lf = _mm256_cvtepi32_ps(li[h]);
                let w = _mm256_mul_ps(xv[h], xv[h]);
                _mm256_storeu_ps(a.as_mut_ptr().add(8 * h), _mm256_mul_ps(wx[h], lf));
                _mm256_storeu_ps(
                    b.as_mut_ptr().add(8 * h),
                    _mm256_mul_ps(_mm256_mul_ps(w, lf), lf),
                );
            }
            let mut sumlx = 0f32;
            let mut suml2 = 0f32;
            for i in 0..16 {
                sumlx += a[i];
                suml2 += b[i];
            }
            let mut l = [0i32; 16];
            _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, li[0]);
            _mm256_storeu_si256(l.as_mut_ptr().add(8) as *mut __m256i, li[1]);
            for _itry in 0..5 {
                let mut n_changed = 0;
                let mut from = 0usize;
                'scan: loop {
                    let (mut slx_a, mut sl2_a, mut new_a) = ([0f32; 16], [0f32; 16], [0i32; 16]);
                    let mut want = 0u32;
                    for h in 0..2 {
                        let cur = _mm256_loadu_si256(l.as_ptr().add(8 * h) as *const __m256i);
                        let lf = _mm256_cvtepi32_ps(cur);
                        let w = _mm256_mul_ps(xv[h], xv[h]);
                        // sumlx - w * x * l, suml2 - w * l * l
                        let slx = _mm256_sub_ps(_mm256_set1_ps(sumlx), _mm256_mul_ps(wx[h], lf));
                        let sl2 = _mm256_sub_ps(
                            _mm256_set1_ps(suml2),
                            _mm256_mul_ps(_mm256_mul_ps(w, lf), lf),
                        );
                        let new_l = clamp_i32(
                            nearest_int(_mm256_div_ps(_mm256_mul_ps(xv[h], sl2), slx)),
                            -nmax,
                            nmax - 1,
                        );
                        let moves = _mm256_andnot_ps(
                            _mm256_castsi256_ps(_mm256_cmpeq_epi32(new_l, cur)),
                            _mm256_cmp_ps(slx, _mm256_setzero_ps(), _CMP_GT_OQ),
                        );
                        want |= (_mm256_movemask_ps(moves) as u32) << (8 * h);
                        _mm256_storeu_ps(slx_a.as_mut_ptr().add(8 * h), slx);
                        _mm256_storeu_ps(sl2_a.as_mut_ptr().add(8 * h), sl2);
                        _mm256_storeu_si256(new_a.as_mut_ptr().add(8 * h) as *mut __m256i, new_l);
                    }
                    want &= !0u32 << from;
                    while want != 0 {
                        let i = want.trailing_zeros() as usize;
                        want &= want - 1;
                        let w = x[i] * x[i];
                        let new_l = new_a[i];
                        let slx = slx_a[i] + w * x[i] * new_l as f32;
                        let sl2 = sl2_a[i] + w * new_l as f32 * new_l as f32;
                        if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            l[i] = new_l;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                            from = i + 1;
                            if from < 16 {
                                continue 'scan;
                            }
                        }
                    }
                    break;
                }
                if n_changed == 0 {
                    break;
                }
            }
            for (o, &v) in l_out.iter_mut().zip(&l) {
                *o = (v + nmax) as i8;
            }
            if suml2 > 0.0 {
                sumlx / suml2
            } else {
                0.0
            }
        }

        /// `finish_q3_k`: requantize with the values in lanes, then split
        /// off the high bits and pack, 32 quants at a time.
        #[target_feature(enable = "avx2")]
        pub(crate) unsafe fn finish_q3_k(x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
            let dd = f16(y.d);
            let x = &x[..QK_K];
            for j in 0..QK_K / 16 {
                let sc = if j < 8 {
                    y.scales[j] & 0xF
                } else {
                    y.scales[j - 8] >> 4
                } as i32;
                let sc = (sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i32) - 32;
                let d = dd * sc as i8 as f32;
                if d == 0.0 {
                    continue;
                }
                let d = _mm256_set1_ps(d);
                let q: [__m256i; 2] = core::array::from_fn(|h| {
                    let q = clamp_i32(nearest_int(_mm256_div_ps(load(x, 2 * j + h), d)), -4, 3);
                    _mm256_add_epi32(q, _mm256_set1_epi32(4))
                });
                _mm_storeu_si128(
                    l.as_mut_ptr().add(16 * j) as *mut __m128i,
                    pack_i8(q[0], q[1]),
                );
            }
            // quants are 0..=7: bit 2 goes to hmask (bit k of byte m for
            // quant 32k + m), the low two bits are packed
            let lp = l.as_ptr() as *const __m256i;
            let mut hm = _mm256_setzero_si256();
            let mut low = [0u8; QK_K];
            for k in 0..8 {
                let v = _mm256_loadu_si256(lp.add(k));
                let high = _mm256_cmpgt_epi8(v, _mm256_set1_epi8(3));
                hm = _mm256_or_si256(
                    hm,
                    _mm256_and_si256(high, _mm256_set1_epi8((1u8 << k) as i8)),
                );
                _mm256_storeu_si256(
                    low.as_mut_ptr().add(32 * k) as *mut __m256i,
                    _mm256_and_si256(v, _mm256_set1_epi8(3)),
                );
            }
            _mm256_storeu_si256(y.hmask.as_mut_ptr() as *mut __m256i, hm);
            pack_2bit(&low, &mut y.qs);
        }

        /// IQ4_NL's 16 values as floats, in two vectors.
        struct Iq4Table {
            lo: __m256,
            hi: __m256,
            v: [__m256; 16],
        }

        impl Iq4Table {
            #[inline(always)]
            unsafe fn new(values: &[i8; 16]) -> Self {
                let mut f = [0f32; 16];
                let mut v = [_mm256_setzero_ps(); 16];
                for k in 0..16 {
                    f[k] = values[k] as f32;
                    v[k] = _mm256_set1_ps(f[k]);
                }
                Iq4Table {
                    lo: _mm256_loadu_ps(f.as_ptr()),
                    hi: _mm256_loadu_ps(f.as_ptr().add(8)),
                    v,
                }
            }

            /// `values[i]` per lane, `i` in 0..16.
            #[inline(always)]
            unsafe fn get(&self, i: __m256i) -> __m256 {
                let upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(i, _mm256_set1_epi32(7)));
                _mm256_blendv_ps(
                    _mm256_permutevar8x32_ps(self.lo, i),
                    _mm256_permutevar8x32_ps(self.hi, i),
                    upper,
                )
            }

            /// `best_index_int8` per lane, and the value it picks. The
            /// binary search ends at `mu` = one past the entries it found
            /// `<=` x; as a count that is `1 + #{k in 1..15: !(x <
            /// values[k])}`, which also gives the search's answers for the
            /// early returns (x at or beyond either end) and for NaN (15).
            #[inline(always)]
            unsafe fn best_index(&self, x: __m256) -> (__m256i, __m256) {
                let mut mu = _mm256_set1_epi32(1);
                for k in 1..15 {
                    let ge = _mm256_cmp_ps(x, self.v[k], _CMP_NLT_UQ);
                    mu = _mm256_sub_epi32(mu, _mm256_castps_si256(ge));
                }
                let below = self.get(_mm256_sub_epi32(mu, _mm256_set1_epi32(1)));
                let above = self.get(mu);
                // x - values[mu - 1] < values[mu] - x: the lower one
                let lower =
                    _mm256_cmp_ps(_mm256_sub_ps(x, below), _mm256_sub_ps(above, x), _CMP_LT_OQ);
                (
                    _mm256_add_epi32(mu, _mm256_castps_si256(lower)),
                    _mm256_blendv_ps(above, below, lower),
                )
            }
        }

        /// The IQ4 kernels; the scale search runs the first pass and the 15
        /// tries (ntry = 7, the only value ggml uses) as 16 lanes.
        pub(crate) struct Iq4Avx2;

        impl reference::Iq4Kernels for Iq4Avx2 {
            #[inline(always)]
            fn scale(
                &self,
                xb: &[f32],
                weight: &[f32; 32],
                lb: &mut [u8],
                values: &[i8; 16],
                max: f32,
                ntry: i32,
            ) -> f32 {
                // SAFETY: Iq4Avx2 is only used where AVX2 was detected.
                unsafe { iq4_scale(xb, weight, lb, values, max, ntry) }
            }

            #[inline(always)]
            fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
                // SAFETY: as above.
                unsafe { iq4_indices(values, id, xs, out) }
            }
        }

        #[target_feature(enable = "avx2")]
        unsafe fn iq4_scale(
            xb: &[f32],
            weight: &[f32; 32],
            lb: &mut [u8],
            values: &[i8; 16],
            max: f32,
            ntry: i32,
        ) -> f32 {
            use reference::Iq4Scalar;
            if ntry != 7 {
                return Iq4Scalar.scale(xb, weight, lb, values, max, ntry);
            }
            let xb = &xb[..32];
            let lb = &mut lb[..32];
            let t = Iq4Table::new(values);
            // lane 0: id = 1 / d, d = -max / values[0]; lane 1 + k: try
            // itry = k - 7, id = (itry + values[0]) / max
            let d0 = -max / values[0] as f32;
            let tries = _mm256_cvtepi32_ps(_mm256_add_epi32(
                _mm256_setr_epi32(-8, -7, -6, -5, -4, -3, -2, -1),
                _mm256_set1_epi32(values[0] as i32),
            ));
            let mut id = [
                _mm256_div_ps(tries, _mm256_set1_ps(max)),
                _mm256_div_ps(
                    _mm256_cvtepi32_ps(_mm256_add_epi32(
                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                        _mm256_set1_epi32(values[0] as i32),
                    )),
                    _mm256_set1_ps(max),
                ),
            ];
            id[0] = _mm256_blend_ps(id[0], _mm256_set1_ps(1.0 / d0), 1);
            let mut sumqx = [_mm256_setzero_ps(); 2];
            let mut sumq2 = [_mm256_setzero_ps(); 2];
            for j in 0..32 {
                let xj = _mm256_set1_ps(xb[j]);
                let w = _mm256_set1_ps(weight[j]);
                for h in 0..2 {
                    let (li, q) = t.best_index(_mm256_mul_ps(id[h], xj));
                    if h == 0 {
                        lb[j] = _mm256_cvtsi256_si32(li) as u8;
                    }
                    let wq = _mm256_mul_ps(w, q);
                    sumqx[h] = _mm256_add_ps(sumqx[h], _mm256_mul_ps(wq, xj));
                    sumq2[h] = _mm256_add_ps(sumq2[h], _mm256_mul_ps(wq, q));
                }
            }
            let (sx0, sx1) = (lanes(sumqx[0]), lanes(sumqx[1]));
            let (s20, s21) = (lanes(sumq2[0]), lanes(sumq2[1]));
            let sx: [f32; 16] = core::array::from_fn(|k| if k < 8 { sx0[k] } else { sx1[k - 8] });
            let s2: [f32; 16] = core::array::from_fn(|k| if k < 8 { s20[k] } else { s21[k - 8] });
            let mut d = if s2[0] > 0.0 { sx[0] / s2[0] } else { 0.0 };
            let mut best = d * sx[0];
            for k in 1..16 {
                if s2[k] > 0.0 && sx[k] * sx[k] > best * s2[k] {
                    d = sx[k] / s2[k];
                    best = d * sx[k];
                }
            }
            d
        }

        #[target_feature(enable = "avx2")]
        unsafe fn iq4_indices(values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
            let t = Iq4Table::new(values);
            let n = xs.len().min(out.len());
            let idv = _mm256_set1_ps(id);
            let mut i = 0;
            while i + 16 <= n {
                let a = t
                    .best_index(_mm256_mul_ps(idv, _mm256_loadu_ps(xs.as_ptr().add(i))))
                    .0;
                let b = t
                    .best_index(_mm256_mul_ps(idv, _mm256_loadu_ps(xs.as_ptr().add(i + 8))))
                    .0;
                _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, pack_i8(a, b));
                i += 16;
            }
            reference::Iq4Scalar.indices(values, id, &xs[i..n], &mut out[i..n]);
        }

        #[target_feature(enable = "avx2")]
        unsafe fn q2_k(x: &[f32], y: &mut [BlockQ2K]) {
            reference::q2_k_ref_with(x, y, make_qkx2_quants, |x, y, l| finish_q2_k(x, y, l));
        }

        #[target_feature(enable = "avx2")]
        unsafe fn q3_k(x: &[f32], y: &mut [BlockQ3K]) {
            reference::q3_k_ref_with(x, y, make_q3_quants, |x, y, l| finish_q3_k(x, y, l));
        }
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub(crate) mod wasm {
        use super::super::super::dequant::layout::{
            BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1,
            BlockQ8K, BlockQ8_0, BlockTq1_0, BlockTq2_0,
        };
        use super::super::super::dequant::{fp16_to_f32, KVALUES_IQ4NL};
        use super::super::reference::{self, Iq4Kernels as _, GROUP_MAX_EPS};
        use super::super::{fp32_to_fp16, GgmlType};
        use crate::quant::types::QK_K;
        use core::arch::wasm32::*;

        /// simd128 quantizers; `false` for types without one.
        pub(crate) fn quantize_row(ty: GgmlType, x: &[f32], y: &mut [u8]) -> bool {
            match ty {
                GgmlType::BF16 => bf16(x, y),
                GgmlType::Q8_0 => q8_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q8K => q8_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q4_0 => q4_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q4_1 => q4_1(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q5_0 => q5_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q5_1 => q5_1(x, bytemuck::cast_slice_mut(y)),
                GgmlType::TQ1_0 => tq1_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::TQ2_0 => tq2_0(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q2K => q2_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q3K => q3_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q4K => q4_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::Q5K => q5_k(x, bytemuck::cast_slice_mut(y)),
                GgmlType::IQ4NL => {
                    reference::quantize_iq4_nl_with(x, bytemuck::cast_slice_mut(y), None, &Iq4Wasm)
                }
                GgmlType::IQ4XS => {
                    reference::quantize_iq4_xs_with(x, bytemuck::cast_slice_mut(y), None, &Iq4Wasm)
                }
                _ => return false,
            }
            true
        }

        /// `x[i..i + 4]` as one vector.
        #[inline(always)]
        fn load_at(x: &[f32], i: usize) -> v128 {
            let c: &[f32; 4] = x[i..i + 4].try_into().unwrap();
            // SAFETY: `c` is 16 readable bytes; `v128_load` has no
            // alignment requirement.
            unsafe { v128_load(c.as_ptr() as *const v128) }
        }

        #[inline(always)]
        fn load(x: &[f32], k: usize) -> v128 {
            load_at(x, 4 * k)
        }

        /// Store 16 bytes.
        #[inline(always)]
        fn store16(out: &mut [u8], v: v128) {
            let o: &mut [u8; 16] = (&mut out[..16]).try_into().unwrap();
            // SAFETY: `o` is 16 writable bytes; `v128_store` has no
            // alignment requirement.
            unsafe { v128_store(o.as_mut_ptr() as *mut v128, v) }
        }

        /// Largest lane. `pmax` (`b < a ? a : b`) keeps either zero of a
        /// +0/-0 tie; callers only use the result where that cannot matter.
        #[inline(always)]
        fn hmax(v: v128) -> f32 {
            let v = f32x4_pmax(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
            let v = f32x4_pmax(v, i32x4_shuffle::<1, 0, 3, 2>(v, v));
            f32x4_extract_lane::<0>(v)
        }

        /// Smallest lane (as [`hmax`]).
        #[inline(always)]
        fn hmin(v: v128) -> f32 {
            let v = f32x4_pmin(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
            let v = f32x4_pmin(v, i32x4_shuffle::<1, 0, 3, 2>(v, v));
            f32x4_extract_lane::<0>(v)
        }

        /// Largest magnitude (`fold(0, MAX(a, fabsf(v)))`; all lanes are
        /// +0 or more, so no zero sign question).
        #[inline(always)]
        fn amax(x: &[f32]) -> f32 {
            let mut m = f32x4_splat(0.0);
            for k in 0..x.len() / 4 {
                m = f32x4_pmax(m, f32x4_abs(load(x, k)));
            }
            hmax(m)
        }

        /// `(amax, max)` as the reference scans: the largest magnitude and
        /// the signed value where it first occurs. From the largest and the
        /// smallest value: unless their magnitudes tie, only one sign
        /// reaches `amax`, so which element came first does not matter;
        /// a tie takes an ordered scan.
        #[inline(always)]
        fn amax_and_max(x: &[f32]) -> (f32, f32) {
            let (mut hi, mut lo) = (load(x, 0), load(x, 0));
            for k in 1..x.len() / 4 {
                let v = load(x, k);
                hi = f32x4_pmax(hi, v);
                lo = f32x4_pmin(lo, v);
            }
            let (max, neg_min) = (hmax(hi), -hmin(lo));
            if max > neg_min {
                return (max, max);
            }
            if neg_min > max {
                return (neg_min, -neg_min);
            }
            let amax = max;
            if amax == 0.0 {
                return (0.0, 0.0);
            }
            let target = f32x4_splat(amax);
            for k in 0..x.len() / 4 {
                let mask = i32x4_bitmask(f32x4_eq(f32x4_abs(load(x, k)), target));
                if mask != 0 {
                    return (amax, x[4 * k + mask.trailing_zeros() as usize]);
                }
            }
            (amax, 0.0)
        }

        /// `(min, max)` as the reference scans; a zero result takes the
        /// reference's scan, whose first zero decides the sign.
        #[inline(always)]
        fn min_max(x: &[f32]) -> (f32, f32) {
            let mut lo = f32x4_splat(f32::MAX);
            let mut hi = f32x4_splat(-f32::MAX);
            for k in 0..x.len() / 4 {
                let v = load(x, k);
                lo = f32x4_pmin(lo, v);
                hi = f32x4_pmax(hi, v);
            }
            let (min, max) = (hmin(lo), hmax(hi));
            if min == 0.0 || max == 0.0 {
                return super::super::reference::min_max(x);
            }
            (min, max)
        }
        /// `roundf` (half away from zero): `trunc(p + copysign(0.5 - 2^-25, p))`
        /// equals it for every finite and infinite `p` (checked over all
        /// 2^32 floats); adding just under a half never rounds a value
        /// below `n + 0.5` up to `n + 1`.
        #[inline(always)]
        fn roundf(p: v128) -> v128 {
            f32x4_trunc(round_up_half(p))
        }

        /// `p + copysign(0.5 - 2^-25, p)`: [`roundf`] before its truncation.
        #[inline(always)]
        fn round_up_half(p: v128) -> v128 {
            let half = v128_or(
                v128_and(p, f32x4_splat(-0.0)),
                f32x4_splat(f32::from_bits(0x3EFF_FFFF)),
            );
            f32x4_add(p, half)
        }

        /// C's float-to-int conversion as x86 does it: truncation, and
        /// 0x80000000 for NaN or out of range (wasm saturates instead).
        #[inline(always)]
        fn cvtt(v: v128) -> v128 {
            // -2^31 itself converts to i32::MIN either way.
            let in_range = f32x4_lt(f32x4_abs(v), f32x4_splat(2_147_483_648.0));
            v128_bitselect(i32x4_trunc_sat_f32x4(v), i32x4_splat(i32::MIN), in_range)
        }

        /// 16 i32 lanes to their low bytes, in order.
        #[inline(always)]
        fn low_bytes(q: [v128; 4]) -> v128 {
            let m = i32x4_splat(0xFF);
            let [a, b, c, d] = q.map(|v| v128_and(v, m));
            u8x16_narrow_i16x8(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d))
        }

        /// `ggml_fp32_to_bf16_row_ref`.
        fn bf16(x: &[f32], y: &mut [u8]) {
            let one = |v: v128| {
                // NaN: quiet, truncated; otherwise round to nearest even
                let nan = u32x4_gt(
                    v128_and(v, i32x4_splat(0x7fff_ffff)),
                    i32x4_splat(0x7f80_0000),
                );
                let odd = v128_and(u32x4_shr(v, 16), i32x4_splat(1));
                let r = u32x4_shr(i32x4_add(v, i32x4_add(odd, i32x4_splat(0x7fff))), 16);
                let q = v128_or(u32x4_shr(v, 16), i32x4_splat(64));
                v128_bitselect(q, r, nan)
            };
            for (x, y) in x.chunks_exact(8).zip(y.chunks_exact_mut(16)) {
                let h = u16x8_narrow_i32x4(one(load(x, 0)), one(load(x, 1)));
                store16(y, h);
            }
            let done = x.len() / 8 * 8;
            for (o, &v) in y[2 * done..].chunks_exact_mut(2).zip(&x[done..]) {
                o.copy_from_slice(&super::super::fp32_to_bf16(v).to_le_bytes());
            }
        }

        /// `quantize_row_q8_0_ref`.
        fn q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let amax = amax(x);
                let d = amax / 127.0;
                let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
                let id = f32x4_splat(idf);
                y.d = fp32_to_fp16(d).to_le_bytes();
                let qs: &mut [u8; 32] = bytemuck::cast_mut(&mut y.qs);
                // The usual block: every |x * id| rounds to at most
                // amax * id < 127.5 (rounding is monotonic), so roundf gives
                // -127..=127, converted by the magic number.
                if amax * idf < 127.5 {
                    let q = |k: usize| trunc_small(round_up_half(f32x4_mul(load(x, k), id)));
                    store16(&mut qs[..16], i8_bytes([q(0), q(1), q(2), q(3)]));
                    store16(&mut qs[16..], i8_bytes([q(4), q(5), q(6), q(7)]));
                    continue;
                }
                // A finite `id` keeps |x * id| near 127 at most, where
                // saturating and x86 conversions agree.
                let in_range = idf.is_finite();
                let q = |k: usize| {
                    let r = roundf(f32x4_mul(load(x, k), id));
                    if in_range {
                        i32x4_trunc_sat_f32x4(r)
                    } else {
                        cvtt(r)
                    }
                };
                store16(&mut qs[..16], low_bytes([q(0), q(1), q(2), q(3)]));
                store16(&mut qs[16..], low_bytes([q(4), q(5), q(6), q(7)]));
            }
        }

        /// `quantize_row_q8_K_ref`.
        fn q8_k(x: &[f32], y: &mut [BlockQ8K]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let (amax, max) = amax_and_max(x);
                if amax == 0.0 {
                    *y = bytemuck::Zeroable::zeroed();
                    continue;
                }
                let iscale = -127.0 / max;
                let vs = f32x4_splat(iscale);
                // nearest_int (magic number), then MIN(127, v)
                let q = |k: usize| {
                    let v = f32x4_add(f32x4_mul(vs, load(x, k)), f32x4_splat(12_582_912.0));
                    let i = i32x4_sub(
                        v128_and(v, i32x4_splat(0x007f_ffff)),
                        i32x4_splat(0x0040_0000),
                    );
                    i32x4_min(i, i32x4_splat(127))
                };
                let qs: &mut [u8; QK_K] = bytemuck::cast_mut(&mut y.qs);
                for g in 0..QK_K / 16 {
                    let b = low_bytes([q(4 * g), q(4 * g + 1), q(4 * g + 2), q(4 * g + 3)]);
                    store16(&mut qs[16 * g..], b);
                }
                for (s, q) in y.bsums.chunks_exact_mut(2).zip(y.qs.chunks_exact(16)) {
                    let sum: i32 = q.iter().map(|&q| q as i32).sum();
                    s.copy_from_slice(&(sum as i16).to_le_bytes());
                }
                y.d = (1.0 / iscale).to_le_bytes();
            }
        }

        /// `trunc(v)` as i32 lanes where |v| < 2^22 (callers check their
        /// scale first): the integer is exact in `trunc(v) + 1.5 * 2^23`'s
        /// low mantissa bits. Equal to [`cvtt`] there, and much cheaper than
        /// wasm's saturating conversion.
        #[inline(always)]
        fn trunc_small(v: v128) -> v128 {
            let t = f32x4_add(f32x4_trunc(v), f32x4_splat(12_582_912.0));
            i32x4_sub(t, i32x4_splat(0x4B40_0000))
        }

        /// Whether every `|x * id|` of a block is at most 64, given a bound
        /// `span` on `|x|` (rounding is monotonic, so `|x| * |id|` rounds to
        /// no more than `span * |id|`). Then the quantizers' float values
        /// stay far inside i8, where [`trunc_small`] applies and C's
        /// `(int8_t)` changes nothing.
        #[inline(always)]
        fn small(span: f32, id: f32) -> bool {
            span * id.abs() <= 64.0
        }

        /// 16 i32 lanes within i8 range to their bytes, in order.
        #[inline(always)]
        fn i8_bytes(q: [v128; 4]) -> v128 {
            i8x16_narrow_i16x8(
                i16x8_narrow_i32x4(q[0], q[1]),
                i16x8_narrow_i32x4(q[2], q[3]),
            )
        }

        /// C's `(int8_t)` of an int, then `MIN(hi, v)`.
        #[inline(always)]
        fn i8_min(i: v128, hi: i32) -> v128 {
            i32x4_min(i32x4_shr(i32x4_shl(i, 24), 24), i32x4_splat(hi))
        }

        /// `MIN(hi, (int8_t)(int)v)` for 32 float lanes (`v(k)`, lanes
        /// `4k..4k + 4`), as bytes `[0..16]`, `[16..32]`. `SMALL`: the
        /// caller checked |v| < 2^22 and within i8 ([`small`]).
        #[inline(always)]
        fn i8_min_bytes<const SMALL: bool>(v: impl Fn(usize) -> v128, hi: i8) -> [v128; 2] {
            core::array::from_fn(|h| {
                if SMALL {
                    let q = i8_bytes(core::array::from_fn(|k| trunc_small(v(4 * h + k))));
                    i8x16_min(q, i8x16_splat(hi))
                } else {
                    i8_bytes(core::array::from_fn(|k| {
                        i8_min(cvtt(v(4 * h + k)), hi as i32)
                    }))
                }
            })
        }

        /// `qs[j] = l[j] | l[j + 16] << 4` (as u8) for 32 quant bytes.
        #[inline(always)]
        fn pack_nibbles(q: [v128; 2], qs: &mut [u8; 16]) {
            store16(qs, v128_or(q[0], i8x16_shl(q[1], 4)));
        }

        /// `pack_q5` for 32 quant bytes (only their low 5 bits count).
        #[inline(always)]
        fn pack_q5(q: [v128; 2], qs: &mut [u8; 16], qh: &mut [u8; 4]) {
            let [lo, hi] = q;
            let m4 = u8x16_splat(0x0F);
            store16(qs, v128_or(v128_and(lo, m4), i8x16_shl(hi, 4)));
            // bit 4 of each byte to bit 7, where bitmask reads it
            let bits = i8x16_bitmask(i8x16_shl(lo, 3)) as u32
                | ((i8x16_bitmask(i8x16_shl(hi, 3)) as u32) << 16);
            *qh = bits.to_le_bytes();
        }

        /// `quantize_row_q4_0_ref`.
        fn q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (amax, max) = amax_and_max(x);
                let d = max / -8.0;
                let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
                let id = f32x4_splat(idf);
                y.d = fp32_to_fp16(d).to_le_bytes();
                // MIN(15, (int8_t)(x0 + 8.5f)) as u8
                let v = |k| f32x4_add(f32x4_mul(load(x, k), id), f32x4_splat(8.5));
                let q = if small(amax, idf) {
                    i8_min_bytes::<true>(v, 15)
                } else {
                    i8_min_bytes::<false>(v, 15)
                };
                pack_nibbles(q, &mut y.qs);
            }
        }

        /// `quantize_row_q4_1_ref`.
        fn q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (min, max) = min_max(x);
                let d = (max - min) / 15.0;
                let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
                let id = f32x4_splat(idf);
                y.d = fp32_to_fp16(d).to_le_bytes();
                y.m = fp32_to_fp16(min).to_le_bytes();
                let vmin = f32x4_splat(min);
                // MIN(15, (int8_t)((x - min) * id + 0.5f)); 0 <= x - min <= max - min
                let v = |k| {
                    let v = f32x4_mul(f32x4_sub(load(x, k), vmin), id);
                    f32x4_add(v, f32x4_splat(0.5))
                };
                let q = if small(max - min, idf) {
                    i8_min_bytes::<true>(v, 15)
                } else {
                    i8_min_bytes::<false>(v, 15)
                };
                pack_nibbles(q, &mut y.qs);
            }
        }

        /// `quantize_row_q5_0_ref`.
        fn q5_0(x: &[f32], y: &mut [BlockQ5_0]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (amax, max) = amax_and_max(x);
                let d = max / -16.0;
                let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
                let id = f32x4_splat(idf);
                y.d = fp32_to_fp16(d).to_le_bytes();
                // MIN(31, (int8_t)(x * id + 16.5f))
                let v = |k| f32x4_add(f32x4_mul(load(x, k), id), f32x4_splat(16.5));
                let q = if small(amax, idf) {
                    i8_min_bytes::<true>(v, 31)
                } else {
                    i8_min_bytes::<false>(v, 31)
                };
                pack_q5(q, &mut y.qs, &mut y.qh);
            }
        }

        /// `quantize_row_q5_1_ref`.
        fn q5_1(x: &[f32], y: &mut [BlockQ5_1]) {
            for (x, y) in x.chunks_exact(32).zip(y) {
                let (min, max) = min_max(x);
                let d = (max - min) / 31.0;
                let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
                let id = f32x4_splat(idf);
                y.d = fp32_to_fp16(d).to_le_bytes();
                y.m = fp32_to_fp16(min).to_le_bytes();
                let vmin = f32x4_splat(min);
                // (uint8_t)((x - min) * id + 0.5f), no clamp
                let v = |k| {
                    let v = f32x4_mul(f32x4_sub(load(x, k), vmin), id);
                    f32x4_add(v, f32x4_splat(0.5))
                };
                let q: [v128; 2] = if small(max - min, idf) {
                    core::array::from_fn(|h| {
                        i8_bytes(core::array::from_fn(|k| trunc_small(v(4 * h + k))))
                    })
                } else {
                    core::array::from_fn(|h| {
                        low_bytes(core::array::from_fn(|k| cvtt(v(4 * h + k))))
                    })
                };
                pack_q5(q, &mut y.qs, &mut y.qh);
            }
        }

        /// `lroundf(v * id) + 1` as an i32 lane, correct in its low byte
        /// (all that the ternary packings keep): out of i32 range both
        /// `lroundf` and x86's conversion give a multiple of 256. `SMALL`
        /// as in [`small`].
        #[inline(always)]
        fn trit_as<const SMALL: bool>(v: v128, id: v128) -> v128 {
            let r = roundf(f32x4_mul(v, id));
            if SMALL {
                // r is a small integer: the magic-number conversion, + 1
                let t = f32x4_add(r, f32x4_splat(12_582_912.0));
                i32x4_sub(t, i32x4_splat(0x4B40_0000 - 1))
            } else {
                i32x4_add(cvtt(r), i32x4_splat(1))
            }
        }

        #[inline(always)]
        fn trit(v: v128, id: v128) -> v128 {
            trit_as::<false>(v, id)
        }

        /// `quantize_row_tq2_0_ref`.
        fn tq2_0(x: &[f32], y: &mut [BlockTq2_0]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let d = amax(x);
                let id = f32x4_splat(if d != 0.0 { 1.0 / d } else { 0.0 });
                y.d = fp32_to_fp16(d).to_le_bytes();
                let m3 = i32x4_splat(3);
                for j in 0..2 {
                    let x = &x[128 * j..128 * j + 128];
                    // qs[32j + m] = sum over n of (xi(x[m + 32n]) & 3) << 2n
                    let q = |k: usize| {
                        let mut q = i32x4_splat(0);
                        for n in (0..4).rev() {
                            let t = v128_and(trit(load(x, 8 * n + k), id), m3);
                            q = v128_or(i32x4_shl(q, 2), t);
                        }
                        q
                    };
                    store16(&mut y.qs[32 * j..], low_bytes([q(0), q(1), q(2), q(3)]));
                    store16(
                        &mut y.qs[32 * j + 16..],
                        low_bytes([q(4), q(5), q(6), q(7)]),
                    );
                }
            }
        }

        /// TQ1_0's `ceil(q * 256 / 243)` of a byte `q` as C's `uint8_t`:
        /// `q + (13q + 242) / 243`, the division as a multiply and shift
        /// (exact for every byte; checked in the tests).
        #[inline(always)]
        fn tq1_ceil_div(q: v128) -> v128 {
            let q = v128_and(q, i32x4_splat(0xFF));
            let t = i32x4_add(i32x4_mul(q, i32x4_splat(14027)), i32x4_splat(261_118));
            i32x4_add(q, u32x4_shr(t, 18))
        }

        /// Base-3 digits (`q = q * 3 + xi`, first digit most significant),
        /// mod 256 as the reference's `uint8_t`.
        #[inline(always)]
        fn tq1_horner<const SMALL: bool>(
            x: &[f32],
            at: impl Fn(usize) -> usize,
            n: usize,
            id: v128,
        ) -> v128 {
            let mut q = i32x4_splat(0);
            for i in 0..n {
                let q3 = i32x4_add(q, i32x4_add(q, q));
                q = i32x4_add(q3, trit_as::<SMALL>(load_at(x, at(i)), id));
            }
            q
        }

        /// `quantize_row_tq1_0_ref`.
        fn tq1_0(x: &[f32], y: &mut [BlockTq1_0]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let d = amax(x);
                let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
                y.d = fp32_to_fp16(d).to_le_bytes();
                if small(d, idf) {
                    tq1_block::<true>(x, y, f32x4_splat(idf));
                } else {
                    tq1_block::<false>(x, y, f32x4_splat(idf));
                }
            }
        }

        /// The packed digits of one TQ1_0 block.
        #[inline(always)]
        fn tq1_block<const SMALL: bool>(x: &[f32], y: &mut BlockTq1_0, id: v128) {
            // qs[m], m < 32: digits x[m + 32n]; qs[32 + m], m < 16: x[160 + m + 16n]
            let a = |k: usize| tq1_ceil_div(tq1_horner::<SMALL>(x, |n| 4 * k + 32 * n, 5, id));
            let b =
                |k: usize| tq1_ceil_div(tq1_horner::<SMALL>(x, |n| 160 + 4 * k + 16 * n, 5, id));
            store16(&mut y.qs[..16], low_bytes([a(0), a(1), a(2), a(3)]));
            store16(&mut y.qs[16..32], low_bytes([a(4), a(5), a(6), a(7)]));
            store16(&mut y.qs[32..], low_bytes([b(0), b(1), b(2), b(3)]));
            // qh[j], j < 4: digits x[240 + j + 4m], then one more * 3
            let h = tq1_horner::<SMALL>(x, |m| 240 + 4 * m, 4, id);
            let h = tq1_ceil_div(i32x4_add(h, i32x4_add(h, h)));
            y.qh = [
                i32x4_extract_lane::<0>(h) as u8,
                i32x4_extract_lane::<1>(h) as u8,
                i32x4_extract_lane::<2>(h) as u8,
                i32x4_extract_lane::<3>(h) as u8,
            ];
        }

        // --------------------------------------------------------------
        // Q2_K, Q3_K, IQ4_NL, IQ4_XS: the AVX2 module's kernels (the same
        // float expressions per lane, the same sequential sums), each
        // 8-lane vector there as two v128 here (16 lanes as four).
        // --------------------------------------------------------------

        #[inline(always)]
        fn f16(h: [u8; 2]) -> f32 {
            fp16_to_f32(u16::from_le_bytes(h))
        }

        /// 16 bytes at `p[..16]`.
        #[inline(always)]
        fn load_bytes(p: &[u8]) -> v128 {
            let a: &[u8; 16] = p[..16].try_into().unwrap();
            // SAFETY: `a` is 16 readable bytes; `v128_load` has no
            // alignment requirement.
            unsafe { v128_load(a.as_ptr() as *const v128) }
        }

        /// `nearest_int` on 4 lanes (the same magic-number bits).
        #[inline(always)]
        fn nearest_int(v: v128) -> v128 {
            let v = f32x4_add(v, f32x4_splat(12_582_912.0));
            i32x4_sub(
                v128_and(v, i32x4_splat(0x007f_ffff)),
                i32x4_splat(0x0040_0000),
            )
        }

        /// `nearest_int` then a clamp to `lo..=hi`, with the constants in
        /// locals (V8 would rebuild a constant at every use in a loop).
        #[derive(Clone, Copy)]
        struct RoundClamp {
            magic: v128,
            mask: v128,
            off: v128,
            lo: v128,
            hi: v128,
        }

        impl RoundClamp {
            #[inline(always)]
            fn new(lo: i32, hi: i32) -> Self {
                use core::hint::black_box as bb;
                RoundClamp {
                    magic: bb(f32x4_splat(12_582_912.0)),
                    mask: bb(i32x4_splat(0x007f_ffff)),
                    off: bb(i32x4_splat(0x0040_0000)),
                    lo: bb(i32x4_splat(lo)),
                    hi: bb(i32x4_splat(hi)),
                }
            }

            #[inline(always)]
            fn apply(&self, v: v128) -> v128 {
                let v = f32x4_add(v, self.magic);
                let n = i32x4_sub(v128_and(v, self.mask), self.off);
                i32x4_min(i32x4_max(n, self.lo), self.hi)
            }
        }

        #[inline(always)]
        fn clamp_i32(v: v128, lo: i32, hi: i32) -> v128 {
            i32x4_min(i32x4_max(v, i32x4_splat(lo)), i32x4_splat(hi))
        }

        #[inline(always)]
        fn lanes(v: v128) -> [f32; 4] {
            // SAFETY: same size, and any bits are a valid f32.
            unsafe { core::mem::transmute::<v128, [f32; 4]>(v) }
        }

        #[inline(always)]
        fn ilanes(v: v128) -> [i32; 4] {
            // SAFETY: same size, and any bits are a valid i32.
            unsafe { core::mem::transmute::<v128, [i32; 4]>(v) }
        }

        /// 16 i32 lanes (each in -128..=127) to 16 bytes, in order.
        #[inline(always)]
        fn pack_i8(q: [v128; 4]) -> v128 {
            i8x16_narrow_i16x8(
                i16x8_narrow_i32x4(q[0], q[1]),
                i16x8_narrow_i32x4(q[2], q[3]),
            )
        }

        /// `finish_q2_k`: requantize with the values in lanes, then pack.
        pub(crate) fn finish_q2_k(x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
            let (dd, dmin) = (f16(y.d), f16(y.dmin));
            let x = &x[..QK_K];
            for j in 0..QK_K / 16 {
                let d = dd * (y.scales[j] & 0xF) as f32;
                if d == 0.0 {
                    continue;
                }
                let dm = f32x4_splat(dmin * (y.scales[j] >> 4) as f32);
                let d = f32x4_splat(d);
                // nearest_int((x + dm) / d), clamped to 0..=3
                let q: [v128; 4] = core::array::from_fn(|h| {
                    let v = f32x4_div(f32x4_add(load(x, 4 * j + h), dm), d);
                    clamp_i32(nearest_int(v), 0, 3)
                });
                store16(&mut l[16 * j..], pack_i8(q));
            }
            pack_2bit(l, &mut y.qs);
        }

        /// Q2_K/Q3_K's packing of 256 quants (0..=3) four to a byte, 32
        /// apart.
        #[inline(always)]
        fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8; 64]) {
            for h in 0..2 {
                for m in 0..2 {
                    let v = |o: usize| load_bytes(&l[128 * h + 32 * o + 16 * m..]);
                    let b = v128_or(
                        v128_or(v(0), i8x16_shl(v(1), 2)),
                        v128_or(i8x16_shl(v(2), 4), i8x16_shl(v(3), 6)),
                    );
                    store16(&mut qs[32 * h + 16 * m..], b);
                }
            }
        }

        /// `make_q3_quants` (16 values, `do_rmse`), as the AVX2 one: all
        /// 16 proposals in lanes from the current sums, the first value
        /// that proposes a change judged in scalar, the later proposals
        /// computed again after a move.
        pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
            if x.len() != 16 {
                return reference::make_q3_quants(nmax, x, l_out);
            }
            let l_out = &mut l_out[..16];
            // the reference's scan for the largest magnitude (first wins)
            let (amax, max) = amax_and_max(x);
            if amax < GROUP_MAX_EPS {
                l_out.fill(0);
                return 0.0;
            }
            let xv: [v128; 4] = core::array::from_fn(|h| load(x, h));
            // w * x[i] (w = x * x) as the reference forms it, per value
            let ww = xv.map(|v| f32x4_mul(v, v));
            let wx: [v128; 4] = core::array::from_fn(|h| f32x4_mul(ww[h], xv[h]));
            let iscale = f32x4_splat(-(nmax as f32) / max);
            let rc = RoundClamp::new(-nmax, nmax - 1);
            // the quants as floats (small integers), 4 to a row
            let mut l = [[0f32; 4]; 4];
            let (mut a, mut b) = ([[0f32; 4]; 4], [[0f32; 4]; 4]);
            for h in 0..4 {
                let lf = f32x4_convert_i32x4(rc.apply(f32x4_mul(iscale, xv[h])));
                vstore4(&mut a[h], f32x4_mul(wx[h], lf));
                vstore4(&mut b[h], f32x4_mul(f32x4_mul(ww[h], lf), lf));
                vstore4(&mut l[h], lf);
            }
            let mut sumlx = 0f32;
            let mut suml2 = 0f32;
            for i in 0..16 {
                sumlx += a[i / 4][i % 4];
                suml2 += b[i / 4][i % 4];
            }
            let zero = core::hint::black_box(f32x4_splat(0.0));
            let (mut slx_a, mut sl2_a, mut new_a) =
                ([[0f32; 4]; 4], [[0f32; 4]; 4], [[0f32; 4]; 4]);
            for _itry in 0..5 {
                let mut n_changed = 0;
                let mut from = 0usize;
                'scan: loop {
                    let mut want = 0u32;
                    // the rows before `from`'s are not looked at again
                    for h in from / 4..4 {
                        let lf = vload4(&l[h]);
                        // sumlx - w * x * l, suml2 - w * l * l
                        let slx = f32x4_sub(f32x4_splat(sumlx), f32x4_mul(wx[h], lf));
                        let sl2 =
                            f32x4_sub(f32x4_splat(suml2), f32x4_mul(f32x4_mul(ww[h], lf), lf));
                        let nf =
                            f32x4_convert_i32x4(rc.apply(f32x4_div(f32x4_mul(xv[h], sl2), slx)));
                        let moves = v128_and(f32x4_gt(slx, zero), f32x4_ne(nf, lf));
                        want |= (i32x4_bitmask(moves) as u32) << (4 * h);
                        vstore4(&mut slx_a[h], slx);
                        vstore4(&mut sl2_a[h], sl2);
                        vstore4(&mut new_a[h], nf);
                    }
                    want &= !0u32 << from;
                    while want != 0 {
                        let i = want.trailing_zeros() as usize;
                        want &= want - 1;
                        let (h, m) = (i / 4, i % 4);
                        let w = x[i] * x[i];
                        let new_l = new_a[h][m];
                        let slx = slx_a[h][m] + w * x[i] * new_l;
                        let sl2 = sl2_a[h][m] + w * new_l * new_l;
                        if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            l[h][m] = new_l;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                            from = i + 1;
                            if from < 16 {
                                continue 'scan;
                            }
                        }
                    }
                    break;
                }
                if n_changed == 0 {
                    break;
                }
            }
            let off = f32x4_splat(nmax as f32);
            let q: [v128; 4] =
                core::array::from_fn(|h| i32x4_trunc_sat_f32x4(f32x4_add(vload4(&l[h]), off)));
            let o: &mut [u8; 16] = bytemuck::cast_slice_mut(l_out).try_into().unwrap();
            store16(o, pack_i8(q));
            if suml2 > 0.0 {
                sumlx / suml2
            } else {
                0.0
            }
        }

        #[inline(always)]
        fn vload4(a: &[f32; 4]) -> v128 {
            // SAFETY: `a` is 16 readable bytes; no alignment needed.
            unsafe { v128_load(a.as_ptr() as *const v128) }
        }

        #[inline(always)]
        fn vstore4(a: &mut [f32; 4], v: v128) {
            // SAFETY: `a` is 16 writable bytes; no alignment needed.
            unsafe { v128_store(a.as_mut_ptr() as *mut v128, v) }
        }

        /// `finish_q3_k`: requantize with the values in lanes, then split
        /// off the high bits and pack.
        pub(crate) fn finish_q3_k(x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
            let dd = f16(y.d);
            let x = &x[..QK_K];
            let lb: &mut [u8; QK_K] = bytemuck::cast_mut(l);
            for j in 0..QK_K / 16 {
                let sc = if j < 8 {
                    y.scales[j] & 0xF
                } else {
                    y.scales[j - 8] >> 4
                } as i32;
                let sc = (sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i32) - 32;
                let d = dd * sc as i8 as f32;
                if d == 0.0 {
                    continue;
                }
                let d = f32x4_splat(d);
                let q: [v128; 4] = core::array::from_fn(|h| {
                    let q = clamp_i32(nearest_int(f32x4_div(load(x, 4 * j + h), d)), -4, 3);
                    i32x4_add(q, i32x4_splat(4))
                });
                store16(&mut lb[16 * j..], pack_i8(q));
            }
            // quants are 0..=7: bit 2 goes to hmask (bit k of byte m for
            // quant 32k + m), the low two bits are packed
            let mut hm = [u8x16_splat(0); 2];
            let mut low = [0u8; QK_K];
            for k in 0..8 {
                for (m, hm) in hm.iter_mut().enumerate() {
                    let v = load_bytes(&lb[32 * k + 16 * m..]);
                    let high = i8x16_gt(v, i8x16_splat(3));
                    *hm = v128_or(*hm, v128_and(high, u8x16_splat(1u8 << k)));
                    store16(&mut low[32 * k + 16 * m..], v128_and(v, u8x16_splat(3)));
                }
            }
            store16(&mut y.hmask[..16], hm[0]);
            store16(&mut y.hmask[16..], hm[1]);
            pack_2bit(&low, &mut y.qs);
        }

        /// `best_index_int8`'s answer for IQ4_NL's table as a count of the
        /// midpoints `m_k = (values[k] + values[k + 1]) / 2` at or below
        /// `x` (ties go up): `x - values[k] < values[k + 1] - x` holds
        /// exactly when `x < m_k`, for every float (NaN: never, so 15;
        /// checked for all 2^32 floats). With `t_k = 2 m_k` (an integer),
        /// `x >= m_k` iff `floor(2x) >= t_k` (`2x` is exact), and
        /// `floor(2x)` clamped to -256..=255 (NaN to 255) keeps every
        /// comparison. That integer plus 256, `u` in 0..512, is split into
        /// a bucket `u >> 5` and a rest `u & 31`; a bucket holds at most
        /// two midpoints (they are at least 23 apart), so the count is the
        /// bucket's `base` (midpoints below it) plus `rest >= c1` and
        /// `rest >= c2` (the bucket's midpoints less its start; 32 for
        /// none): three table look-ups instead of 15 comparisons.
        struct Iq4Table {
            /// bytes 2 and 3 of the values as floats (bytes 0 and 1 are 0)
            f2: v128,
            f3: v128,
            zero: v128,
            base: v128,
            /// `c1 - 1`, `c2 - 1` (for a greater-than)
            c1: v128,
            c2: v128,
            m31: v128,
            lo: v128,
            hi: v128,
            magic: v128,
            magic_bits: v128,
        }

        /// `Iq4Table`'s `base`, `c1 - 1`, `c2 - 1` for a table of values.
        const fn iq4_buckets(values: &[i8; 16]) -> [[i8; 16]; 3] {
            let mut t = [[0i8, 31, 31]; 16];
            let mut k = 0;
            while k < 15 {
                let u = values[k] as i32 + values[k + 1] as i32 + 256;
                assert!(u > 0 && u < 512);
                let b = (u >> 5) as usize;
                let c = (u & 31) as i8;
                if t[b][1] == 31 {
                    t[b][1] = c - 1;
                } else {
                    assert!(t[b][2] == 31);
                    t[b][2] = c - 1;
                }
                let mut bb = b + 1;
                while bb < 16 {
                    t[bb][0] += 1;
                    bb += 1;
                }
                k += 1;
            }
            let mut out = [[0i8; 16]; 3];
            let mut b = 0;
            while b < 16 {
                out[0][b] = t[b][0];
                out[1][b] = t[b][1];
                out[2][b] = t[b][2];
                b += 1;
            }
            out
        }

        const IQ4NL_BUCKETS: [[i8; 16]; 3] = iq4_buckets(&KVALUES_IQ4NL);

        /// Bytes 2 and 3 of the values as floats; bytes 0 and 1 are 0 (a
        /// value of at most 8 significant bits).
        const fn iq4_float_bytes(values: &[i8; 16]) -> [[u8; 16]; 2] {
            let mut out = [[0u8; 16]; 2];
            let mut k = 0;
            while k < 16 {
                let b = (values[k] as f32).to_bits();
                assert!(b & 0xffff == 0);
                out[0][k] = (b >> 16) as u8;
                out[1][k] = (b >> 24) as u8;
                k += 1;
            }
            out
        }

        const IQ4NL_FLOAT_BYTES: [[u8; 16]; 2] = iq4_float_bytes(&KVALUES_IQ4NL);

        impl Iq4Table {
            /// `None` for a table other than IQ4_NL's.
            #[inline(always)]
            fn new(values: &[i8; 16]) -> Option<Self> {
                use core::hint::black_box as bb;
                if *values != KVALUES_IQ4NL {
                    return None;
                }
                let tab = |k: usize| {
                    let t: &[u8; 16] = bytemuck::cast_ref(&IQ4NL_BUCKETS[k]);
                    bb(load_bytes(t))
                };
                Some(Iq4Table {
                    f2: bb(load_bytes(&IQ4NL_FLOAT_BYTES[0])),
                    f3: bb(load_bytes(&IQ4NL_FLOAT_BYTES[1])),
                    zero: bb(i32x4_splat(0)),
                    base: tab(0),
                    c1: tab(1),
                    c2: tab(2),
                    m31: bb(i16x8_splat(31)),
                    lo: bb(f32x4_splat(-256.0)),
                    hi: bb(f32x4_splat(255.0)),
                    magic: bb(f32x4_splat(12_582_912.0)),
                    // the bits of 1.5 * 2^23, less 256
                    magic_bits: bb(i32x4_splat(0x4b40_0000 - 256)),
                })
            }

            /// `values[i]` as floats for 16 byte lanes `i` (0..16).
            #[inline(always)]
            fn get(&self, i: v128) -> [v128; 4] {
                // the floats' upper halves, then interleaved with zeros
                let (b2, b3) = (i8x16_swizzle(self.f2, i), i8x16_swizzle(self.f3, i));
                let lo =
                    i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(b2, b3);
                let hi =
                    i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(
                        b2, b3,
                    );
                [
                    i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(self.zero, lo),
                    i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(self.zero, lo),
                    i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(self.zero, hi),
                    i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(self.zero, hi),
                ]
            }

            /// `best_index_int8` for 16 lanes (the indices as bytes, in
            /// order) and the values it picks.
            #[inline(always)]
            fn best_index16(&self, x: [v128; 4]) -> (v128, [v128; 4]) {
                self.best_index16_2x(x.map(|x| f32x4_add(x, x)))
            }

            /// [`Self::best_index16`] given `2x`.
            #[inline(always)]
            fn best_index16_2x(&self, x2: [v128; 4]) -> (v128, [v128; 4]) {
                // u = clamp(floor(2x), -256, 255) + 256, via the bits of
                // that plus 1.5 * 2^23
                let u = x2.map(|x2| {
                    let f = f32x4_floor(x2);
                    let c = f32x4_pmax(self.lo, f32x4_pmin(self.hi, f));
                    i32x4_sub(f32x4_add(c, self.magic), self.magic_bits)
                });
                let p0 = u16x8_narrow_i32x4(u[0], u[1]);
                let p1 = u16x8_narrow_i32x4(u[2], u[3]);
                let b = u8x16_narrow_i16x8(u16x8_shr(p0, 5), u16x8_shr(p1, 5));
                let r = u8x16_narrow_i16x8(v128_and(p0, self.m31), v128_and(p1, self.m31));
                let base = i8x16_swizzle(self.base, b);
                let c1 = i8x16_swizzle(self.c1, b);
                let c2 = i8x16_swizzle(self.c2, b);
                let li = i8x16_sub(i8x16_sub(base, i8x16_gt(r, c1)), i8x16_gt(r, c2));
                (li, self.get(li))
            }
        }

        /// The IQ4 kernels; the scale search runs the first pass and the 15
        /// tries (ntry = 7, the only value ggml uses) as 16 lanes.
        pub(crate) struct Iq4Wasm;

        impl reference::Iq4Kernels for Iq4Wasm {
            #[inline(always)]
            fn scale(
                &self,
                xb: &[f32],
                weight: &[f32; 32],
                lb: &mut [u8],
                values: &[i8; 16],
                max: f32,
                ntry: i32,
            ) -> f32 {
                iq4_scale(xb, weight, lb, values, max, ntry)
            }

            #[inline(always)]
            fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
                iq4_indices(values, id, xs, out)
            }
        }

        fn iq4_scale(
            xb: &[f32],
            weight: &[f32; 32],
            lb: &mut [u8],
            values: &[i8; 16],
            max: f32,
            ntry: i32,
        ) -> f32 {
            use reference::Iq4Scalar;
            let t = match Iq4Table::new(values) {
                Some(t) if ntry == 7 => t,
                _ => return Iq4Scalar.scale(xb, weight, lb, values, max, ntry),
            };
            let xb = &xb[..32];
            // lane 0: id = 1 / d, d = -max / values[0]; lane k > 0: try
            // itry = k - 8, id = (itry + values[0]) / max. The first pass's
            // indices are not kept (the caller overwrites them, ntry > 0).
            let d0 = -max / values[0] as f32;
            let v0 = values[0] as i32;
            let mut id: [v128; 4] = core::array::from_fn(|h| {
                let k = 4 * h as i32 - 8;
                let tries = i32x4_add(i32x4(k, k + 1, k + 2, k + 3), i32x4_splat(v0));
                f32x4_div(f32x4_convert_i32x4(tries), f32x4_splat(max))
            });
            id[0] = f32x4_replace_lane::<0>(id[0], 1.0 / d0);
            // The search wants `2 * (id * x)`; `(2 * id) * x` is the same
            // float: id is finite (max is not tiny) and |id * x| stays
            // below 200, so only a result in the subnormal range can round
            // differently, and there floor(2 * id * x) is 0 or -1 either
            // way, both below and above the same midpoints (none at 0).
            let id2 = id.map(|id| f32x4_add(id, id));
            let zero = f32x4_splat(0.0);
            let mut sumqx = [zero; 4];
            let mut sumq2 = [zero; 4];
            for j in 0..32 {
                let xj = f32x4_splat(xb[j]);
                let w = f32x4_splat(weight[j]);
                let (_, q) = t.best_index16_2x(id2.map(|id2| f32x4_mul(id2, xj)));
                for h in 0..4 {
                    let wq = f32x4_mul(w, q[h]);
                    sumqx[h] = f32x4_add(sumqx[h], f32x4_mul(wq, xj));
                    sumq2[h] = f32x4_add(sumq2[h], f32x4_mul(wq, q[h]));
                }
            }
            let mut sx = [0f32; 16];
            let mut s2 = [0f32; 16];
            for h in 0..4 {
                sx[4 * h..4 * h + 4].copy_from_slice(&lanes(sumqx[h]));
                s2[4 * h..4 * h + 4].copy_from_slice(&lanes(sumq2[h]));
            }
            let mut d = if s2[0] > 0.0 { sx[0] / s2[0] } else { 0.0 };
            let mut best = d * sx[0];
            for k in 1..16 {
                if s2[k] > 0.0 && sx[k] * sx[k] > best * s2[k] {
                    d = sx[k] / s2[k];
                    best = d * sx[k];
                }
            }
            d
        }

        fn iq4_indices(values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
            let Some(t) = Iq4Table::new(values) else {
                return reference::Iq4Scalar.indices(values, id, xs, out);
            };
            let n = xs.len().min(out.len());
            let idv = f32x4_splat(id);
            let mut i = 0;
            while i + 16 <= n {
                let x: [v128; 4] = core::array::from_fn(|h| f32x4_mul(idv, load_at(xs, i + 4 * h)));
                store16(&mut out[i..], t.best_index16(x).0);
                i += 16;
            }
            reference::Iq4Scalar.indices(values, id, &xs[i..n], &mut out[i..n]);
        }

        fn q3_k(x: &[f32], y: &mut [BlockQ3K]) {
            // SAFETY: the kernels have no requirements (simd128 is a
            // compile-time feature).
            unsafe { reference::q3_k_ref_with(x, y, make_q3_quants, finish_q3_k) }
        }

        // --------------------------------------------------------------
        // Q2_K, Q4_K, Q5_K: `make_qkx2_quants` for four sub-blocks at
        // once, one per lane. Each lane runs the reference's search for
        // its own sub-block, candidate after candidate, with its own `min`
        // and sums added up over the values in order; so no candidate is
        // evaluated twice (candidates in lanes have to start again after
        // every winner, as the winner moves `min`).
        // --------------------------------------------------------------

        /// Four blocks of `N` values (back to back in `x`) with block `j`
        /// in lane `j`: `xt[i]` holds value `i` of each.
        #[inline(always)]
        fn transpose_in<const N: usize>(x: &[f32], xt: &mut [v128; N]) {
            let x = &x[..4 * N];
            for k in 0..N / 4 {
                let a: [v128; 4] = core::array::from_fn(|j| load_at(x, N * j + 4 * k));
                let t0 = i32x4_shuffle::<0, 4, 1, 5>(a[0], a[1]);
                let t1 = i32x4_shuffle::<2, 6, 3, 7>(a[0], a[1]);
                let t2 = i32x4_shuffle::<0, 4, 1, 5>(a[2], a[3]);
                let t3 = i32x4_shuffle::<2, 6, 3, 7>(a[2], a[3]);
                xt[4 * k] = i32x4_shuffle::<0, 1, 4, 5>(t0, t2);
                xt[4 * k + 1] = i32x4_shuffle::<2, 3, 6, 7>(t0, t2);
                xt[4 * k + 2] = i32x4_shuffle::<0, 1, 4, 5>(t1, t3);
                xt[4 * k + 3] = i32x4_shuffle::<2, 3, 6, 7>(t1, t3);
            }
        }

        /// The quants `lt` (small whole floats, block `j` in lane `j`) back
        /// to bytes, block after block, into `l[..4 * N]`.
        #[inline(always)]
        fn transpose_out<const N: usize>(lt: &[v128; N], l: &mut [u8]) {
            let l = &mut l[..4 * N];
            for k in 0..N / 4 {
                let q: [v128; 4] = core::array::from_fn(|r| i32x4_trunc_sat_f32x4(lt[4 * k + r]));
                // byte 4r + j is value 4k + r of block j; gather by block
                let b = pack_i8(q);
                let b = i8x16_shuffle::<0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15>(b, b);
                let w = ilanes(b);
                for j in 0..4 {
                    l[N * j + 4 * k..N * j + 4 * k + 4].copy_from_slice(&w[j].to_le_bytes());
                }
            }
        }

        /// `make_qkx2_quants` for four blocks of `N` values, block `j` in
        /// lane `j` of `xt` and `wt` (`use_mad` is `MAD`). Returns the
        /// lanes' `(scale, -min)`; the quants go to `lt` as floats.
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn qkx2_x4<const N: usize, const MAD: bool>(
            nmax: i32,
            xt: &[v128; N],
            wt: &[v128; N],
            lt: &mut [v128; N],
            rmin: f32,
            rdelta: f32,
            nstep: i32,
        ) -> (v128, v128) {
            use core::hint::black_box as bb;
            let zero = bb(f32x4_splat(0.0));
            let abs_mask = bb(i32x4_splat(0x7fff_ffff));
            let err = |d: v128| {
                if MAD {
                    v128_and(d, abs_mask)
                } else {
                    f32x4_mul(d, d)
                }
            };
            let mut min = xt[0];
            let mut max = xt[0];
            let mut sum_w = wt[0];
            let mut sum_x = f32x4_mul(sum_w, xt[0]);
            for i in 1..N {
                // `if x < min { min = x }`, `if x > max { max = x }`
                min = f32x4_pmin(min, xt[i]);
                max = f32x4_pmax(max, xt[i]);
                sum_w = f32x4_add(sum_w, wt[i]);
                sum_x = f32x4_add(sum_x, f32x4_mul(wt[i], xt[i]));
            }
            // if min > 0 { min = 0 }
            min = v128_andnot(min, f32x4_gt(min, zero));
            // `max == min` lanes return (0, -min) and zero quants; they
            // run along on garbage and are put right at the end
            let flat = f32x4_eq(max, min);
            let min0 = min;
            let rc = RoundClamp::new(0, nmax);
            let iscale = f32x4_div(f32x4_splat(nmax as f32), f32x4_sub(max, min));
            let mut scale = f32x4_div(f32x4_splat(1.0), iscale);
            let mut best = zero;
            for i in 0..N {
                let l = f32x4_convert_i32x4(rc.apply(f32x4_mul(iscale, f32x4_sub(xt[i], min))));
                lt[i] = l;
                let diff = f32x4_sub(f32x4_add(f32x4_mul(scale, l), min), xt[i]);
                best = f32x4_add(best, f32x4_mul(wt[i], err(diff)));
            }
            if nstep >= 1 {
                let mut laux = [zero; N];
                for is in 0..=nstep {
                    let num = rmin + rdelta * is as f32 + nmax as f32;
                    let iscale = f32x4_div(f32x4_splat(num), f32x4_sub(max, min));
                    let (mut sum_l, mut sum_l2, mut sum_xl) = (zero, zero, zero);
                    for i in 0..N {
                        let l = rc.apply(f32x4_mul(iscale, f32x4_sub(xt[i], min)));
                        let lf = f32x4_convert_i32x4(l);
                        laux[i] = lf;
                        let wl = f32x4_mul(wt[i], lf);
                        sum_l = f32x4_add(sum_l, wl);
                        sum_l2 = f32x4_add(sum_l2, f32x4_mul(wl, lf));
                        sum_xl = f32x4_add(sum_xl, f32x4_mul(wl, xt[i]));
                    }
                    let dd = f32x4_sub(f32x4_mul(sum_w, sum_l2), f32x4_mul(sum_l, sum_l));
                    let valid = f32x4_gt(dd, zero);
                    if !v128_any_true(valid) {
                        continue;
                    }
                    let mut this_scale = f32x4_div(
                        f32x4_sub(f32x4_mul(sum_w, sum_xl), f32x4_mul(sum_x, sum_l)),
                        dd,
                    );
                    let mut this_min = f32x4_div(
                        f32x4_sub(f32x4_mul(sum_l2, sum_x), f32x4_mul(sum_l, sum_xl)),
                        dd,
                    );
                    let pos = f32x4_gt(this_min, zero);
                    this_min = v128_andnot(this_min, pos);
                    this_scale = v128_bitselect(f32x4_div(sum_xl, sum_l2), this_scale, pos);
                    let mut cur = zero;
                    for i in 0..N {
                        let diff =
                            f32x4_sub(f32x4_add(f32x4_mul(this_scale, laux[i]), this_min), xt[i]);
                        cur = f32x4_add(cur, f32x4_mul(wt[i], err(diff)));
                    }
                    let win = v128_and(valid, f32x4_lt(cur, best));
                    if v128_any_true(win) {
                        for i in 0..N {
                            lt[i] = v128_bitselect(laux[i], lt[i], win);
                        }
                        best = v128_bitselect(cur, best, win);
                        scale = v128_bitselect(this_scale, scale, win);
                        min = v128_bitselect(this_min, min, win);
                    }
                }
            }
            for l in lt.iter_mut() {
                *l = v128_andnot(*l, flat);
            }
            scale = v128_andnot(scale, flat);
            min = v128_bitselect(min0, min, flat);
            (scale, f32x4_neg(min))
        }

        #[inline(always)]
        fn fp16(f: f32) -> [u8; 2] {
            fp32_to_fp16(f).to_le_bytes()
        }

        /// `quantize_row_q4_K_ref` (`NMAX` 15) and `quantize_row_q5_K_ref`
        /// (31): the scale search four sub-blocks at a time, then the
        /// requantization with the values in lanes.
        #[inline(always)]
        fn k4_block<const NMAX: i32>(
            x: &[f32],
            d_out: &mut [u8; 2],
            dmin_out: &mut [u8; 2],
            scales_out: &mut [u8; 12],
            l: &mut [u8; QK_K],
        ) {
            let x: &[f32; QK_K] = x.try_into().unwrap();
            let (rmin, nstep) = if NMAX == 15 { (-1.0, 20) } else { (-0.5, 15) };
            let mut scales = [0f32; 8];
            let mut mins = [0f32; 8];
            let zero = f32x4_splat(0.0);
            for g in 0..2 {
                let mut xt = [zero; 32];
                transpose_in(&x[128 * g..], &mut xt);
                // av_x = sqrtf(sum_x2 / 32); weights av_x + fabsf(x)
                let mut s = zero;
                for v in &xt {
                    s = f32x4_add(s, f32x4_mul(*v, *v));
                }
                let av_x = f32x4_sqrt(f32x4_div(s, f32x4_splat(32.0)));
                let wt: [v128; 32] = core::array::from_fn(|i| f32x4_add(av_x, f32x4_abs(xt[i])));
                let mut lt = [zero; 32];
                let (sc, m) = qkx2_x4::<32, false>(NMAX, &xt, &wt, &mut lt, rmin, 0.1, nstep);
                scales[4 * g..4 * g + 4].copy_from_slice(&lanes(sc));
                mins[4 * g..4 * g + 4].copy_from_slice(&lanes(m));
                transpose_out(&lt, &mut l[128 * g..]);
            }
            let (d, dmin) = reference::k4_set_scales(&scales, &mins, scales_out);
            *d_out = fp16(d);
            *dmin_out = fp16(dmin);
            // requantize against the stored scales
            let (dd, dmin) = (f16(*d_out), f16(*dmin_out));
            for j in 0..QK_K / 32 {
                let (sc, m) = super::super::super::dequant::get_scale_min_k4(j, scales_out);
                let d = dd * sc as f32;
                if d == 0.0 {
                    continue;
                }
                let dm = f32x4_splat(dmin * m as f32);
                let d = f32x4_splat(d);
                for h in 0..2 {
                    let q: [v128; 4] = core::array::from_fn(|k| {
                        let v = f32x4_div(f32x4_add(load(x, 8 * j + 4 * h + k), dm), d);
                        clamp_i32(nearest_int(v), 0, NMAX)
                    });
                    store16(&mut l[32 * j + 16 * h..], pack_i8(q));
                }
            }
        }

        fn q4_k(x: &[f32], y: &mut [BlockQ4K]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let mut l = [0u8; QK_K];
                k4_block::<15>(x, &mut y.d, &mut y.dmin, &mut y.scales, &mut l);
                // two nibbles 32 apart per byte
                for j in 0..4 {
                    for h in 0..2 {
                        let lo = load_bytes(&l[64 * j + 16 * h..]);
                        let hi = load_bytes(&l[64 * j + 32 + 16 * h..]);
                        store16(&mut y.qs[32 * j + 16 * h..], v128_or(lo, i8x16_shl(hi, 4)));
                    }
                }
            }
        }

        fn q5_k(x: &[f32], y: &mut [BlockQ5K]) {
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let mut l = [0u8; QK_K];
                k4_block::<31>(x, &mut y.d, &mut y.dmin, &mut y.scales, &mut l);
                // low nibbles as Q4_K; bit 4 of quant 64n + j goes to bit
                // 2n of qh[j], of quant 64n + 32 + j to bit 2n + 1
                let mut qh = [u8x16_splat(0); 2];
                for n in 0..4 {
                    for (h, qh) in qh.iter_mut().enumerate() {
                        let a = load_bytes(&l[64 * n + 16 * h..]);
                        let b = load_bytes(&l[64 * n + 32 + 16 * h..]);
                        let ha = v128_and(u8x16_gt(a, u8x16_splat(15)), u8x16_splat(1 << (2 * n)));
                        let hb = v128_and(u8x16_gt(b, u8x16_splat(15)), u8x16_splat(2 << (2 * n)));
                        *qh = v128_or(*qh, v128_or(ha, hb));
                        let m = u8x16_splat(15);
                        let q = v128_or(v128_and(a, m), i8x16_shl(v128_and(b, m), 4));
                        store16(&mut y.qs[32 * n + 16 * h..], q);
                    }
                }
                store16(&mut y.qh[..16], qh[0]);
                store16(&mut y.qh[16..], qh[1]);
            }
        }

        fn q2_k(x: &[f32], y: &mut [BlockQ2K]) {
            let zero = f32x4_splat(0.0);
            for (x, y) in x.chunks_exact(QK_K).zip(y) {
                let x: &[f32; QK_K] = x.try_into().unwrap();
                let mut l = [0u8; QK_K];
                let mut scales = [0f32; 16];
                let mut mins = [0f32; 16];
                for g in 0..4 {
                    let mut xt = [zero; 16];
                    transpose_in(&x[64 * g..], &mut xt);
                    let wt: [v128; 16] = core::array::from_fn(|i| f32x4_abs(xt[i]));
                    let mut lt = [zero; 16];
                    let (sc, m) = qkx2_x4::<16, true>(3, &xt, &wt, &mut lt, -0.5, 0.1, 15);
                    scales[4 * g..4 * g + 4].copy_from_slice(&lanes(sc));
                    mins[4 * g..4 * g + 4].copy_from_slice(&lanes(m));
                    transpose_out(&lt, &mut l[64 * g..]);
                }
                reference::q2_k_set_scales(&scales, &mins, y);
                finish_q2_k(x, y, &mut l);
            }
        }
    }
}
