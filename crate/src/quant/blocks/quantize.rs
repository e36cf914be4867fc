//! Quantizers for ggml's block formats: `f32` rows to packed blocks, byte for
//! byte what `ggml_quantize_chunk` (`ggml-quants.c`) produces.
//!
//! [`reference`] ports ggml's functions one by one, keeping their names
//! (`quantize_row_q4_K_ref`, `make_qkx2_quants`, ...) so a reader can put the
//! two side by side. Bit-exactness depends on evaluating every float
//! expression in ggml's order with no fused multiply-add, which Rust never
//! introduces on its own; the comments point out the few C conversions
//! whose exact behaviour matters.

use crate::error::{Error, Result};
use crate::quant::blocks::dequant::layout::*;
use crate::quant::blocks::dequant::{fp16_to_f32, get_scale_min_k4, KVALUES_IQ4NL, KVALUES_MXFP4};
use crate::quant::types::{GgmlType, QK_K};

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

/// Whether `ty`'s quantizer uses importance weights (llama.cpp's imatrix).
pub fn uses_importance(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(
        ty,
        Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q2K | Q3K | Q4K | Q5K | Q6K | IQ4NL | IQ4XS
    )
}

/// Quantize rows of `row_len` values to `ty`. `importance` (one weight per
/// column) plays the role of llama.cpp's imatrix for the types that use it
/// and is ignored by the others, as in ggml.
pub fn quantize(
    ty: GgmlType,
    src: &[f32],
    row_len: usize,
    importance: Option<&[f32]>,
) -> Result<Vec<u8>> {
    let rows = check(ty, src, row_len, importance)?;
    let row_bytes = ty.row_size(row_len)?;
    let mut out = vec![0u8; rows * row_bytes];
    run(ty, src, row_len, importance, &mut out);
    Ok(out)
}

/// Like [`quantize`], into `dst`, which must be exactly the output size.
pub fn quantize_into(
    ty: GgmlType,
    src: &[f32],
    row_len: usize,
    importance: Option<&[f32]>,
    dst: &mut [u8],
) -> Result<()> {
    let rows = check(ty, src, row_len, importance)?;
    let need = rows * ty.row_size(row_len)?;
    if dst.len() != need {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: ty.block_size(),
            detail: format!(
                "output buffer holds {} bytes, {rows} rows of {row_len} values need {need}",
                dst.len()
            ),
        });
    }
    run(ty, src, row_len, importance, dst);
    Ok(())
}

/// Validate the arguments; the number of rows.
fn check(ty: GgmlType, src: &[f32], row_len: usize, importance: Option<&[f32]>) -> Result<usize> {
    if !QUANTIZABLE.contains(&ty) {
        return Err(Error::Unsupported {
            ty: ty.name(),
            what: "quantization",
        });
    }
    let bs = ty.block_size();
    let bad = |detail: String| Error::BadLength {
        ty: ty.name(),
        block_size: bs,
        detail,
    };
    if row_len == 0 {
        return Err(bad("row length is 0".into()));
    }
    if !row_len.is_multiple_of(bs) {
        return Err(bad(format!(
            "row length {row_len} is not a multiple of the block size {bs}"
        )));
    }
    if !src.len().is_multiple_of(row_len) {
        return Err(bad(format!(
            "{} values are not a whole number of rows of {row_len} (index {} starts a partial row)",
            src.len(),
            src.len() / row_len * row_len
        )));
    }
    if let Some(i) = src.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            ty: ty.name(),
            index: i,
            value: src[i],
        });
    }
    if let Some(w) = importance {
        if w.len() != row_len {
            return Err(bad(format!(
                "importance has {} weights, the rows have {row_len} values",
                w.len()
            )));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::invalid(format!(
                "{}: importance weight {} at column {i} is not a finite non-negative number",
                ty.name(),
                w[i]
            )));
        }
    }
    Ok(src.len() / row_len)
}

/// Dispatch to ggml's per-type entry point (`quantize_q4_0`, ...). Arguments
/// are already checked.
fn run(ty: GgmlType, src: &[f32], row_len: usize, importance: Option<&[f32]>, dst: &mut [u8]) {
    use reference as r;
    use GgmlType::*;
    let importance = importance.filter(|_| uses_importance(ty));
    let row_bytes = dst.len() / (src.len() / row_len);
    // Types whose quantizer looks at a whole row (imatrix paths, IQ4) go row
    // by row; the others are a run of independent blocks.
    fn per_row(
        src: &[f32],
        row_len: usize,
        dst: &mut [u8],
        row_bytes: usize,
        f: impl Fn(&[f32], &mut [u8]),
    ) {
        for (x, y) in src
            .chunks_exact(row_len)
            .zip(dst.chunks_exact_mut(row_bytes))
        {
            f(x, y);
        }
    }
    match (ty, importance) {
        (F32, _) => {
            for (v, b) in src.iter().zip(dst.chunks_exact_mut(4)) {
                b.copy_from_slice(&v.to_le_bytes());
            }
        }
        (F16, _) => {
            for (v, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
                b.copy_from_slice(&r::fp32_to_fp16(*v));
            }
        }
        (BF16, _) => {
            for (v, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
                b.copy_from_slice(&r::fp32_to_bf16(*v).to_le_bytes());
            }
        }
        (Q8_0, _) => r::quantize_row_q8_0_ref(src, blocks(dst)),
        (MXFP4, _) => r::quantize_row_mxfp4_ref(src, blocks(dst)),
        (TQ1_0, _) => r::quantize_row_tq1_0_ref(src, blocks(dst)),
        (TQ2_0, _) => r::quantize_row_tq2_0_ref(src, blocks(dst)),
        (Q8K, _) => r::quantize_row_q8_K_ref(src, blocks(dst)),
        (Q4_0, None) => r::quantize_row_q4_0_ref(src, blocks(dst)),
        (Q4_1, None) => r::quantize_row_q4_1_ref(src, blocks(dst)),
        (Q5_0, None) => r::quantize_row_q5_0_ref(src, blocks(dst)),
        (Q5_1, None) => r::quantize_row_q5_1_ref(src, blocks(dst)),
        (Q2K, None) => r::quantize_row_q2_K_ref(src, blocks(dst)),
        (Q3K, None) => r::quantize_row_q3_K_ref(src, blocks(dst)),
        (Q4K, None) => r::quantize_row_q4_K_ref(src, blocks(dst)),
        (Q5K, None) => r::quantize_row_q5_K_ref(src, blocks(dst)),
        (Q6K, None) => r::quantize_row_q6_K_ref(src, blocks(dst)),
        (Q4_0, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q4_0_impl(x, blocks(y), w)
        }),
        (Q4_1, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q4_1_impl(x, blocks(y), w)
        }),
        (Q5_0, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q5_0_impl(x, blocks(y), w)
        }),
        (Q5_1, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q5_1_impl(x, blocks(y), w)
        }),
        (Q2K, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q2_K_impl(x, blocks(y), w)
        }),
        (Q3K, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q3_K_impl(x, blocks(y), Some(w))
        }),
        (Q4K, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q4_K_impl(x, blocks(y), Some(w))
        }),
        (Q5K, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q5_K_impl(x, blocks(y), Some(w))
        }),
        (Q6K, Some(w)) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_row_q6_K_impl(x, blocks(y), Some(w))
        }),
        (IQ4NL, w) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_iq4_nl(x, blocks(y), w)
        }),
        (IQ4XS, w) => per_row(src, row_len, dst, row_bytes, |x, y| {
            r::quantize_iq4_xs(x, blocks(y), w)
        }),
        // `check` admits only the types above.
        (Q8_1 | I8 | I16 | I32, _) => unreachable!("not in QUANTIZABLE"),
    }
}

/// View a byte buffer of whole blocks as blocks (alignment 1, so always valid).
fn blocks<B: bytemuck::Pod>(bytes: &mut [u8]) -> &mut [B] {
    bytemuck::cast_slice_mut(bytes)
}

/// Scalar ports of ggml's quantizers, named as in `ggml-quants.c`. Index
/// loops mirror the C line for line, which is what makes review possible.
#[allow(non_snake_case, clippy::needless_range_loop)]
pub(crate) mod reference {
    use super::*;

    /// `GROUP_MAX_EPS`: below this a group counts as all zeros.
    const GROUP_MAX_EPS: f32 = 1e-15;

    /// `GGML_FP32_TO_FP16`: round to nearest even.
    #[inline(always)]
    pub fn fp32_to_fp16(x: f32) -> [u8; 2] {
        half::f16::from_f32(x).to_bits().to_le_bytes()
    }

    /// `GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(x))`: what a reader gets back.
    #[inline(always)]
    fn fp16_round(x: f32) -> f32 {
        fp16_to_f32(half::f16::from_f32(x).to_bits())
    }

    /// `ggml_compute_fp32_to_bf16`: NaN made quiet, else round to nearest even.
    #[inline(always)]
    pub fn fp32_to_bf16(s: f32) -> u16 {
        let u = s.to_bits();
        if (u & 0x7fff_ffff) > 0x7f80_0000 {
            return ((u >> 16) | 64) as u16;
        }
        (u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16) as u16
    }

    /// `nearest_int`: round half to even through the 1.5·2^23 trick.
    #[inline(always)]
    fn nearest_int(fval: f32) -> i32 {
        let val = fval + 12582912.0;
        (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
    }

    /// C's `MAX`/`MIN` macros (`a > b ? a : b`), kept for their NaN behaviour.
    #[inline(always)]
    fn fmax(a: f32, b: f32) -> f32 {
        if a > b {
            a
        } else {
            b
        }
    }

    /// `(uint8_t)(int8_t)f` / `(uint8_t)f` in ggml's q4/q5 rounding: the
    /// value is always in range there, where C truncates toward zero.
    #[inline(always)]
    fn trunc_i32(f: f32) -> i32 {
        f as i32
    }

    // ------------------------------------------------------------------
    // 32-value blocks

    pub fn quantize_row_q4_0_ref(x: &[f32], y: &mut [BlockQ4_0]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let (mut amax, mut max) = (0f32, 0f32);
            for &v in x {
                if amax < v.abs() {
                    amax = v.abs();
                    max = v;
                }
            }
            let d = max / -8.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp32_to_fp16(d);
            for j in 0..16 {
                let x0 = x[j] * id;
                let x1 = x[16 + j] * id;
                // MIN(15, (int8_t)(x0 + 8.5f))
                let xi0 = trunc_i32(x0 + 8.5).min(15) as u8;
                let xi1 = trunc_i32(x1 + 8.5).min(15) as u8;
                y.qs[j] = xi0 | (xi1 << 4);
            }
        }
    }

    pub fn quantize_row_q4_1_ref(x: &[f32], y: &mut [BlockQ4_1]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let (mut min, mut max) = (f32::MAX, -f32::MAX);
            for &v in x {
                if v < min {
                    min = v;
                }
                if v > max {
                    max = v;
                }
            }
            let d = (max - min) / 15.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp32_to_fp16(d);
            y.m = fp32_to_fp16(min);
            for j in 0..16 {
                let x0 = (x[j] - min) * id;
                let x1 = (x[16 + j] - min) * id;
                let xi0 = trunc_i32(x0 + 0.5).min(15) as u8;
                let xi1 = trunc_i32(x1 + 0.5).min(15) as u8;
                y.qs[j] = xi0 | (xi1 << 4);
            }
        }
    }

    /// Pack 32 five-bit values (`L[j]`, `L[j+16]` share a byte) into qs/qh.
    fn pack_q5(l: impl Fn(usize) -> u8, qs: &mut [u8; 16], qh_out: &mut [u8; 4]) {
        let mut qh = 0u32;
        for j in 0..16 {
            let xi0 = l(j);
            let xi1 = l(j + 16);
            qs[j] = (xi0 & 0x0F) | ((xi1 & 0x0F) << 4);
            qh |= (((xi0 & 0x10) >> 4) as u32) << j;
            qh |= (((xi1 & 0x10) >> 4) as u32) << (j + 16);
        }
        *qh_out = qh.to_le_bytes();
    }

    pub fn quantize_row_q5_0_ref(x: &[f32], y: &mut [BlockQ5_0]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let (mut amax, mut max) = (0f32, 0f32);
            for &v in x {
                if amax < v.abs() {
                    amax = v.abs();
                    max = v;
                }
            }
            let d = max / -16.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp32_to_fp16(d);
            pack_q5(
                |j| trunc_i32(x[j] * id + 16.5).min(31) as u8,
                &mut y.qs,
                &mut y.qh,
            );
        }
    }

    pub fn quantize_row_q5_1_ref(x: &[f32], y: &mut [BlockQ5_1]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let (mut min, mut max) = (f32::MAX, -f32::MAX);
            for &v in x {
                if v < min {
                    min = v;
                }
                if v > max {
                    max = v;
                }
            }
            let d = (max - min) / 31.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp32_to_fp16(d);
            y.m = fp32_to_fp16(min);
            // (uint8_t)(x0 + 0.5f), no clamp in ggml
            pack_q5(
                |j| trunc_i32((x[j] - min) * id + 0.5) as u8,
                &mut y.qs,
                &mut y.qh,
            );
        }
    }

    pub fn quantize_row_q8_0_ref(x: &[f32], y: &mut [BlockQ8_0]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let mut amax = 0f32;
            for &v in x {
                amax = fmax(amax, v.abs());
            }
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp32_to_fp16(d);
            for (q, &v) in y.qs.iter_mut().zip(x) {
                *q = (v * id).round() as i8; // roundf: half away from zero
            }
        }
    }

    fn best_index_mxfp4(x: f32, e: f32) -> u8 {
        let mut best_index = 0;
        let mut best_err = (KVALUES_MXFP4[0] as f32 * e - x).abs();
        for (i, &k) in KVALUES_MXFP4.iter().enumerate().skip(1) {
            let err = (k as f32 * e - x).abs();
            if err < best_err {
                best_index = i;
                best_err = err;
            }
        }
        best_index as u8
    }

    pub fn quantize_row_mxfp4_ref(x: &[f32], y: &mut [BlockMxfp4]) {
        for (x, y) in x.chunks_exact(32).zip(y) {
            let mut amax = 0f32;
            for &v in x {
                if amax < v.abs() {
                    amax = v.abs();
                }
            }
            // (uint8_t)(floorf(log2f(amax)) - 2 + 127). log2f is taken as the
            // correctly rounded f32 of log2 (glibc's), computed in f64 so every
            // platform and wasm agree; the conversion wraps like x86's.
            let e = if amax > 0.0 {
                let l = ((amax as f64).log2() as f32).floor();
                (l - 2.0 + 127.0) as i32 as u8
            } else {
                0
            };
            let d = crate::quant::blocks::dequant::e8m0_to_f32_half(e);
            y.e = e;
            for j in 0..16 {
                let x0 = best_index_mxfp4(x[j], d);
                let x1 = best_index_mxfp4(x[16 + j], d);
                y.qs[j] = x0 | (x1 << 4);
            }
        }
    }

    // ------------------------------------------------------------------
    // Helpers of the k-quants

    /// `make_qx_quants`: signed levels `L` in `[0, 2·nmax)` and the scale.
    fn make_qx_quants(
        nmax: i32,
        x: &[f32],
        l_out: &mut [i8],
        rmse_type: i32,
        qw: Option<&[f32]>,
    ) -> f32 {
        let n = x.len();
        let (mut max, mut amax) = (0f32, 0f32);
        for &v in x {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            l_out[..n].fill(0);
            return 0.0;
        }
        let nmaxf = nmax as f32;
        let mut iscale = -nmaxf / max;
        if rmse_type == 0 {
            for i in 0..n {
                let l = nearest_int(iscale * x[i]);
                l_out[i] = (nmax + l.clamp(-nmax, nmax - 1)) as i8;
            }
            return 1.0 / iscale;
        }
        let (rmse_type, return_early) = if rmse_type < 0 {
            (-rmse_type, true)
        } else {
            (rmse_type, false)
        };
        let weight = |i: usize| -> f32 {
            match qw {
                Some(q) => q[i],
                None => match rmse_type {
                    1 => x[i] * x[i],
                    2 => 1.0,
                    3 => x[i].abs(),
                    _ => x[i].abs().sqrt(),
                },
            }
        };
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
            l_out[i] = (l + nmax) as i8;
            let w = weight(i);
            let lf = l as f32;
            sumlx += w * x[i] * lf;
            suml2 += w * lf * lf;
        }
        let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
        if return_early {
            return if suml2 > 0.0 {
                0.5 * (scale + 1.0 / iscale)
            } else {
                1.0 / iscale
            };
        }
        let mut best = scale * sumlx;
        for is in -9..=9 {
            if is == 0 {
                continue;
            }
            iscale = -(nmaxf + 0.1 * is as f32) / max;
            sumlx = 0.0;
            suml2 = 0.0;
            for i in 0..n {
                let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
                let w = weight(i);
                let lf = l as f32;
                sumlx += w * x[i] * lf;
                suml2 += w * lf * lf;
            }
            if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
                for i in 0..n {
                    let l = nearest_int(iscale * x[i]);
                    l_out[i] = (nmax + l.clamp(-nmax, nmax - 1)) as i8;
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        scale
    }

    /// `make_q3_quants`.
    fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8], do_rmse: bool) -> f32 {
        let n = x.len();
        let (mut max, mut amax) = (0f32, 0f32);
        for &v in x {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            l_out[..n].fill(0);
            return 0.0;
        }
        let iscale = -(nmax as f32) / max;
        if do_rmse {
            let (mut sumlx, mut suml2) = (0f32, 0f32);
            for i in 0..n {
                let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
                l_out[i] = l as i8;
                let w = x[i] * x[i];
                sumlx += w * x[i] * l as f32;
                suml2 += w * l as f32 * l as f32;
            }
            for _ in 0..5 {
                let mut n_changed = 0;
                for i in 0..n {
                    let w = x[i] * x[i];
                    let li = l_out[i] as f32;
                    let mut slx = sumlx - w * x[i] * li;
                    if slx > 0.0 {
                        let mut sl2 = suml2 - w * li * li;
                        let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                        if new_l != l_out[i] as i32 {
                            let nl = new_l as f32;
                            slx += w * x[i] * nl;
                            sl2 += w * nl * nl;
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
            for l in &mut l_out[..n] {
                *l += nmax as i8;
            }
            return if suml2 > 0.0 { sumlx / suml2 } else { 0.0 };
        }
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
            l_out[i] = (l + nmax) as i8;
        }
        1.0 / iscale
    }

    /// `make_qkx2_quants` (`use_mad` is false at every call site in ggml
    /// except Q2_K's, so it is kept as an argument).
    #[allow(clippy::too_many_arguments)]
    fn make_qkx2_quants(
        nmax: i32,
        x: &[f32],
        weights: &[f32],
        l_out: &mut [u8],
        the_min: &mut f32,
        laux: &mut [u8],
        rmin: f32,
        rdelta: f32,
        nstep: i32,
        use_mad: bool,
    ) -> f32 {
        let n = x.len();
        let mut min = x[0];
        let mut max = x[0];
        let mut sum_w = weights[0];
        let mut sum_x = sum_w * x[0];
        for i in 1..n {
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
        if max == min {
            l_out[..n].fill(0);
            *the_min = -min;
            return 0.0;
        }
        let nmaxf = nmax as f32;
        let mut iscale = nmaxf / (max - min);
        let mut scale = 1.0 / iscale;
        let mut best_error = 0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min));
            l_out[i] = l.clamp(0, nmax) as u8;
            let mut diff = scale * l_out[i] as f32 + min - x[i];
            diff = if use_mad { diff.abs() } else { diff * diff };
            best_error += weights[i] * diff;
        }
        if nstep < 1 {
            *the_min = -min;
            return scale;
        }
        for is in 0..=nstep {
            iscale = (rmin + rdelta * is as f32 + nmaxf) / (max - min);
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
            let d = sum_w * sum_l2 - sum_l * sum_l;
            if d > 0.0 {
                let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
                let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sum_xl / sum_l2;
                }
                let mut cur_error = 0f32;
                for i in 0..n {
                    let mut diff = this_scale * laux[i] as f32 + this_min - x[i];
                    diff = if use_mad { diff.abs() } else { diff * diff };
                    cur_error += weights[i] * diff;
                }
                if cur_error < best_error {
                    l_out[..n].copy_from_slice(&laux[..n]);
                    best_error = cur_error;
                    scale = this_scale;
                    min = this_min;
                }
            }
        }
        *the_min = -min;
        scale
    }

    /// `make_qkx3_quants`: as qkx2, with `x²` weights when none are given.
    #[allow(clippy::too_many_arguments)]
    fn make_qkx3_quants(
        nmax: i32,
        x: &[f32],
        weights: Option<&[f32]>,
        l_out: &mut [u8],
        the_min: &mut f32,
        laux: &mut [u8],
        rmin: f32,
        rdelta: f32,
        nstep: i32,
        use_mad: bool,
    ) -> f32 {
        let n = x.len();
        let wt = |i: usize| match weights {
            Some(w) => w[i],
            None => x[i] * x[i],
        };
        let mut min = x[0];
        let mut max = x[0];
        let mut sum_w = wt(0);
        let mut sum_x = sum_w * x[0];
        for i in 1..n {
            if x[i] < min {
                min = x[i];
            }
            if x[i] > max {
                max = x[i];
            }
            let w = wt(i);
            sum_w += w;
            sum_x += w * x[i];
        }
        if min > 0.0 {
            min = 0.0;
        }
        if max <= min {
            l_out[..n].fill(0);
            *the_min = -min;
            return 0.0;
        }
        let nmaxf = nmax as f32;
        let mut iscale = nmaxf / (max - min);
        let mut scale = 1.0 / iscale;
        let mut best_mad = 0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min));
            l_out[i] = l.clamp(0, nmax) as u8;
            let mut diff = scale * l_out[i] as f32 + min - x[i];
            diff = if use_mad { diff.abs() } else { diff * diff };
            best_mad += wt(i) * diff;
        }
        if nstep < 1 {
            *the_min = -min;
            return scale;
        }
        for is in 0..=nstep {
            iscale = (rmin + rdelta * is as f32 + nmaxf) / (max - min);
            let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
            for i in 0..n {
                let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
                laux[i] = l as u8;
                let w = wt(i);
                let lf = l as f32;
                sum_l += w * lf;
                sum_l2 += w * lf * lf;
                sum_xl += w * lf * x[i];
            }
            let d = sum_w * sum_l2 - sum_l * sum_l;
            if d > 0.0 {
                let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
                let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sum_xl / sum_l2;
                }
                let mut mad = 0f32;
                for i in 0..n {
                    let mut diff = this_scale * laux[i] as f32 + this_min - x[i];
                    diff = if use_mad { diff.abs() } else { diff * diff };
                    mad += wt(i) * diff;
                }
                if mad < best_mad {
                    l_out[..n].copy_from_slice(&laux[..n]);
                    best_mad = mad;
                    scale = this_scale;
                    min = this_min;
                }
            }
        }
        *the_min = -min;
        scale
    }

    /// `make_qp_quants`: unsigned levels for non-negative `x` (scales, mins).
    fn make_qp_quants(nmax: i32, x: &[f32], l_out: &mut [u8], quant_weights: &[f32]) -> f32 {
        let n = x.len();
        let mut max = 0f32;
        for &v in x {
            max = fmax(max, v);
        }
        if max < GROUP_MAX_EPS {
            l_out[..n].fill(0);
            return 0.0;
        }
        let nmaxf = nmax as f32;
        let mut iscale = nmaxf / max;
        for i in 0..n {
            l_out[i] = nearest_int(iscale * x[i]) as u8;
        }
        let scale = 1.0 / iscale;
        let mut best_mse = 0f32;
        for i in 0..n {
            let diff = x[i] - scale * l_out[i] as f32;
            best_mse += quant_weights[i] * diff * diff;
        }
        for is in -4..=4 {
            if is == 0 {
                continue;
            }
            let iscale_is = (0.1 * is as f32 + nmaxf) / max;
            let scale_is = 1.0 / iscale_is;
            let mut mse = 0f32;
            for i in 0..n {
                let l = nearest_int(iscale_is * x[i]).min(nmax);
                let diff = x[i] - scale_is * l as f32;
                mse += quant_weights[i] * diff * diff;
            }
            if mse < best_mse {
                best_mse = mse;
                iscale = iscale_is;
            }
        }
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).min(nmax);
            l_out[i] = l as u8;
            let w = quant_weights[i];
            sumlx += w * x[i] * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        for _ in 0..5 {
            let mut n_changed = 0;
            for i in 0..n {
                let w = quant_weights[i];
                let li = l_out[i] as f32;
                let mut slx = sumlx - w * x[i] * li;
                let mut sl2 = suml2 - w * li * li;
                if slx > 0.0 && sl2 > 0.0 {
                    let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                    if new_l != l_out[i] as i32 {
                        let nl = new_l as f32;
                        slx += w * x[i] * nl;
                        sl2 += w * nl * nl;
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

    /// Pack 2-bit levels: `qs[j/4 + l]` holds L[j+l], L[j+l+32], L[j+l+64], L[j+l+96].
    fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8; 64]) {
        for j in (0..QK_K).step_by(128) {
            for k in 0..32 {
                qs[j / 4 + k] =
                    l[j + k] | (l[j + k + 32] << 2) | (l[j + k + 64] << 4) | (l[j + k + 96] << 6);
            }
        }
    }

    // ------------------------------------------------------------------
    // Q2_K

    pub fn quantize_row_q2_K_ref(x: &[f32], y: &mut [BlockQ2K]) {
        let q4scale = 15f32;
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0u8; QK_K];
            let mut laux = [0u8; 16];
            let mut weights = [0f32; 16];
            let mut mins = [0f32; QK_K / 16];
            let mut scales = [0f32; QK_K / 16];
            let (mut max_scale, mut max_min) = (0f32, 0f32);
            for j in 0..QK_K / 16 {
                let xb = &x[16 * j..16 * j + 16];
                for k in 0..16 {
                    weights[k] = xb[k].abs();
                }
                scales[j] = make_qkx2_quants(
                    3,
                    xb,
                    &weights,
                    &mut l[16 * j..16 * j + 16],
                    &mut mins[j],
                    &mut laux,
                    -0.5,
                    0.1,
                    15,
                    true,
                );
                if scales[j] > max_scale {
                    max_scale = scales[j];
                }
                if mins[j] > max_min {
                    max_min = mins[j];
                }
            }
            if max_scale > 0.0 {
                let iscale = q4scale / max_scale;
                for j in 0..QK_K / 16 {
                    y.scales[j] = nearest_int(iscale * scales[j]) as u8;
                }
                y.d = fp32_to_fp16(max_scale / q4scale);
            } else {
                y.scales = [0; 16];
                y.d = fp32_to_fp16(0.0);
            }
            if max_min > 0.0 {
                let iscale = q4scale / max_min;
                for j in 0..QK_K / 16 {
                    let li = nearest_int(iscale * mins[j]);
                    y.scales[j] |= (li << 4) as u8;
                }
                y.dmin = fp32_to_fp16(max_min / q4scale);
            } else {
                y.dmin = fp32_to_fp16(0.0);
            }
            requantize_q2(
                x,
                y,
                &mut l,
                fp16_to_f32(u16::from_le_bytes(y.d)),
                fp16_to_f32(u16::from_le_bytes(y.dmin)),
            );
            pack_2bit(&l, &mut y.qs);
        }
    }

    /// The second pass of Q2_K: levels from the stored (rounded) scales.
    fn requantize_q2(x: &[f32], y: &BlockQ2K, l: &mut [u8; QK_K], dm: f32, mm: f32) {
        for j in 0..QK_K / 16 {
            let d = dm * (y.scales[j] & 0xF) as f32;
            if d == 0.0 {
                continue;
            }
            let m = mm * (y.scales[j] >> 4) as f32;
            for ii in 0..16 {
                let li = nearest_int((x[16 * j + ii] + m) / d);
                l[16 * j + ii] = li.clamp(0, 3) as u8;
            }
        }
    }

    pub fn quantize_row_q2_K_impl(x: &[f32], y: &mut [BlockQ2K], quant_weights: &[f32]) {
        for (i, (x, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            let mut l = [0u8; QK_K];
            let mut laux = [0u8; 16];
            let mut mins = [0f32; QK_K / 16];
            let mut scales = [0f32; QK_K / 16];
            let mut sw = [0f32; QK_K / 16];
            let mut weight = [0f32; 16];
            let mut ls = [0u8; QK_K / 16];
            let mut lm = [0u8; QK_K / 16];
            let mut sumx2 = 0f32;
            for &v in x {
                sumx2 += v * v;
            }
            let sigma2 = sumx2 / QK_K as f32;
            for j in 0..QK_K / 16 {
                let qw = &quant_weights[QK_K * i + 16 * j..];
                for k in 0..16 {
                    weight[k] = qw[k] * (sigma2 + x[16 * j + k] * x[16 * j + k]).sqrt();
                }
                for &w in &weight[..QK_K / 16] {
                    sw[j] += w;
                }
                scales[j] = make_qkx3_quants(
                    3,
                    &x[16 * j..16 * j + 16],
                    Some(&weight),
                    &mut l[16 * j..16 * j + 16],
                    &mut mins[j],
                    &mut laux,
                    -0.9,
                    0.05,
                    36,
                    false,
                );
            }
            let dm = make_qp_quants(15, &scales, &mut ls, &sw);
            let mm = make_qp_quants(15, &mins, &mut lm, &sw);
            y.d = fp32_to_fp16(dm);
            y.dmin = fp32_to_fp16(mm);
            for j in 0..QK_K / 16 {
                y.scales[j] = ls[j] | (lm[j] << 4);
            }
            requantize_q2(x, y, &mut l, fp16_round(dm), fp16_round(mm));
            pack_2bit(&l, &mut y.qs);
        }
    }

    // ------------------------------------------------------------------
    // Q3_K

    /// Store 16 six-bit scales (`l` already offset by 32) as Q3_K packs them.
    fn pack_q3_scales(ls: impl Fn(usize) -> i32, scales: &mut [u8; 12]) {
        *scales = [0; 12];
        for j in 0..QK_K / 16 {
            let mut l = ls(j);
            if j < 8 {
                scales[j] = (l & 0xF) as u8;
            } else {
                scales[j - 8] |= ((l & 0xF) << 4) as u8;
            }
            l >>= 4;
            scales[j % 4 + 8] |= (l << (2 * (j / 4))) as u8;
        }
    }

    /// Levels from the stored scales, the high-bit mask and the 2-bit packing.
    fn finish_q3(x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
        let d_all = fp16_to_f32(u16::from_le_bytes(y.d));
        for j in 0..QK_K / 16 {
            let lo = if j < 8 {
                y.scales[j] & 0xF
            } else {
                y.scales[j - 8] >> 4
            } as i32;
            let sc = (lo | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) as i32) << 4) - 32;
            let d = d_all * sc as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let li = nearest_int(x[16 * j + ii] / d).clamp(-4, 3);
                l[16 * j + ii] = (li + 4) as i8;
            }
        }
        y.hmask = [0; 32];
        let (mut m, mut hm) = (0usize, 1u8);
        for lj in l.iter_mut() {
            if *lj > 3 {
                y.hmask[m] |= hm;
                *lj -= 4;
            }
            m += 1;
            if m == QK_K / 8 {
                m = 0;
                hm <<= 1;
            }
        }
        let mut lu = [0u8; QK_K];
        for (u, &v) in lu.iter_mut().zip(l.iter()) {
            *u = v as u8;
        }
        pack_2bit(&lu, &mut y.qs);
    }

    pub fn quantize_row_q3_K_ref(x: &[f32], y: &mut [BlockQ3K]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0i8; QK_K];
            let mut scales = [0f32; QK_K / 16];
            let (mut max_scale, mut amax) = (0f32, 0f32);
            for j in 0..QK_K / 16 {
                scales[j] = make_q3_quants(
                    4,
                    &x[16 * j..16 * j + 16],
                    &mut l[16 * j..16 * j + 16],
                    true,
                );
                let scale = scales[j].abs();
                if scale > amax {
                    amax = scale;
                    max_scale = scales[j];
                }
            }
            if max_scale != 0.0 {
                let iscale = -32.0 / max_scale;
                // int8_t l = nearest_int(...); l = MAX(-32, MIN(31, l)) + 32;
                pack_q3_scales(
                    |j| (nearest_int(iscale * scales[j]) as i8 as i32).clamp(-32, 31) + 32,
                    &mut y.scales,
                );
                y.d = fp32_to_fp16(1.0 / iscale);
            } else {
                y.scales = [0; 12];
                y.d = fp32_to_fp16(0.0);
            }
            finish_q3(x, y, &mut l);
        }
    }

    pub fn quantize_row_q3_K_impl(x: &[f32], y: &mut [BlockQ3K], quant_weights: Option<&[f32]>) {
        for (i, (x, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            let mut l = [0i8; QK_K];
            let mut scales = [0f32; QK_K / 16];
            let mut weight = [0f32; 16];
            let mut sw = [0f32; QK_K / 16];
            let mut ls = [0i8; QK_K / 16];
            let mut sumx2 = 0f32;
            for &v in x {
                sumx2 += v * v;
            }
            let sigma2 = 2.0 * sumx2 / QK_K as f32;
            for j in 0..QK_K / 16 {
                let xb = &x[16 * j..16 * j + 16];
                match quant_weights {
                    Some(q) => {
                        let qw = &q[QK_K * i + 16 * j..];
                        for k in 0..16 {
                            weight[k] = qw[k] * (sigma2 + xb[k] * xb[k]).sqrt();
                        }
                    }
                    None => {
                        for k in 0..16 {
                            weight[k] = xb[k] * xb[k];
                        }
                    }
                }
                let mut sumw = 0f32;
                for &w in &weight {
                    sumw += w;
                }
                sw[j] = sumw;
                scales[j] = make_qx_quants(4, xb, &mut l[16 * j..16 * j + 16], 1, Some(&weight));
            }
            let d_block = make_qx_quants(32, &scales, &mut ls, 1, Some(&sw));
            pack_q3_scales(|j| ls[j] as i32, &mut y.scales);
            y.d = fp32_to_fp16(d_block);
            finish_q3(x, y, &mut l);
        }
    }

    // ------------------------------------------------------------------
    // Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins

    /// Store 8 six-bit scales and mins as `get_scale_min_k4` reads them.
    fn pack_k4_scales(ls: &[u8; 8], lm: &[u8; 8], scales: &mut [u8; 12]) {
        for j in 0..QK_K / 32 {
            let (s, m) = (ls[j], lm[j]);
            if j < 4 {
                scales[j] = s;
                scales[j + 4] = m;
            } else {
                scales[j + 4] = (s & 0xF) | ((m & 0xF) << 4);
                scales[j - 4] |= (s >> 4) << 6;
                scales[j] |= (m >> 4) << 6;
            }
        }
    }

    /// Levels 0..=nmax from the stored scales and mins (the second pass).
    fn requantize_k4(
        x: &[f32],
        d: [u8; 2],
        dmin: [u8; 2],
        scales: &[u8; 12],
        nmax: i32,
        l: &mut [u8; QK_K],
    ) {
        let dd = fp16_to_f32(u16::from_le_bytes(d));
        let dmm = fp16_to_f32(u16::from_le_bytes(dmin));
        for j in 0..QK_K / 32 {
            let (sc, m) = get_scale_min_k4(j, scales);
            let d = dd * sc as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmm * m as f32;
            for ii in 0..32 {
                let li = nearest_int((x[32 * j + ii] + dm) / d);
                l[32 * j + ii] = li.clamp(0, nmax) as u8;
            }
        }
    }

    /// The first pass shared by `quantize_row_q4_K_ref` / `q5_K_ref`.
    fn k4_ref_scales(
        x: &[f32],
        nmax: i32,
        rmin: f32,
        nstep: i32,
        l: &mut [u8; QK_K],
    ) -> ([u8; 8], [u8; 8], f32, f32) {
        let mut laux = [0u8; 32];
        let mut weights = [0f32; 32];
        let mut mins = [0f32; QK_K / 32];
        let mut scales = [0f32; QK_K / 32];
        let (mut max_scale, mut max_min) = (0f32, 0f32);
        for j in 0..QK_K / 32 {
            let xb = &x[32 * j..32 * j + 32];
            let mut sum_x2 = 0f32;
            for &v in xb {
                sum_x2 += v * v;
            }
            let av_x = (sum_x2 / 32.0).sqrt();
            for k in 0..32 {
                weights[k] = av_x + xb[k].abs();
            }
            scales[j] = make_qkx2_quants(
                nmax,
                xb,
                &weights,
                &mut l[32 * j..32 * j + 32],
                &mut mins[j],
                &mut laux,
                rmin,
                0.1,
                nstep,
                false,
            );
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        let inv_scale = if max_scale > 0.0 {
            63.0 / max_scale
        } else {
            0.0
        };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
        for j in 0..QK_K / 32 {
            // uint8_t ls = nearest_int(...); ls = MIN(63, ls);
            ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
            lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
        }
        (ls, lm, max_scale / 63.0, max_min / 63.0)
    }

    /// The first pass shared by `quantize_row_q4_K_impl` / `q5_K_impl`.
    fn k4_impl_scales(
        x: &[f32],
        qw: Option<&[f32]>,
        nmax: i32,
        l: &mut [u8; QK_K],
    ) -> ([u8; 8], [u8; 8], f32, f32) {
        let mut laux = [0u8; 32];
        let mut ls = [0u8; 8];
        let mut lm = [0u8; 8];
        let mut weights = [0f32; 32];
        let mut sw = [0f32; QK_K / 32];
        let mut mins = [0f32; QK_K / 32];
        let mut scales = [0f32; QK_K / 32];
        let mut sum_x2 = 0f32;
        for &v in x {
            sum_x2 += v * v;
        }
        let sigma2 = 2.0 * sum_x2 / QK_K as f32;
        let av_x = sigma2.sqrt();
        for j in 0..QK_K / 32 {
            let xb = &x[32 * j..32 * j + 32];
            match qw {
                Some(q) => {
                    let q = &q[32 * j..];
                    for k in 0..32 {
                        weights[k] = q[k] * (sigma2 + xb[k] * xb[k]).sqrt();
                    }
                }
                None => {
                    for k in 0..32 {
                        weights[k] = av_x + xb[k].abs();
                    }
                }
            }
            let mut sumw = 0f32;
            for &w in &weights {
                sumw += w;
            }
            sw[j] = sumw;
            scales[j] = make_qkx3_quants(
                nmax,
                xb,
                Some(&weights),
                &mut l[32 * j..32 * j + 32],
                &mut mins[j],
                &mut laux,
                -0.9,
                0.05,
                36,
                false,
            );
        }
        let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
        let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
        for j in 0..8 {
            ls[j] = ls[j].min(63);
            lm[j] = lm[j].min(63);
        }
        (ls, lm, d_block, m_block)
    }

    fn pack_q4_K(l: &[u8; QK_K], qs: &mut [u8; 128]) {
        for (n, j) in (0..QK_K).step_by(64).enumerate() {
            for k in 0..32 {
                qs[32 * n + k] = l[j + k] | (l[j + k + 32] << 4);
            }
        }
    }

    fn pack_q5_K(l: &[u8; QK_K], qs: &mut [u8; 128], qh: &mut [u8; 32]) {
        *qh = [0; 32];
        let (mut m1, mut m2) = (1u8, 2u8);
        for (nn, n) in (0..QK_K).step_by(64).enumerate() {
            for j in 0..32 {
                let mut l1 = l[n + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = l[n + j + 32];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                qs[32 * nn + j] = l1 | (l2 << 4);
            }
            m1 <<= 2;
            m2 <<= 2;
        }
    }

    pub fn quantize_row_q4_K_ref(x: &[f32], y: &mut [BlockQ4K]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0u8; QK_K];
            let (ls, lm, d, dmin) = k4_ref_scales(x, 15, -1.0, 20, &mut l);
            pack_k4_scales(&ls, &lm, &mut y.scales);
            y.d = fp32_to_fp16(d);
            y.dmin = fp32_to_fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 15, &mut l);
            pack_q4_K(&l, &mut y.qs);
        }
    }

    pub fn quantize_row_q4_K_impl(x: &[f32], y: &mut [BlockQ4K], quant_weights: Option<&[f32]>) {
        for (i, (x, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            let mut l = [0u8; QK_K];
            let qw = quant_weights.map(|q| &q[QK_K * i..QK_K * (i + 1)]);
            let (ls, lm, d, dmin) = k4_impl_scales(x, qw, 15, &mut l);
            pack_k4_scales(&ls, &lm, &mut y.scales);
            y.d = fp32_to_fp16(d);
            y.dmin = fp32_to_fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 15, &mut l);
            pack_q4_K(&l, &mut y.qs);
        }
    }

    pub fn quantize_row_q5_K_ref(x: &[f32], y: &mut [BlockQ5K]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut l = [0u8; QK_K];
            let (ls, lm, d, dmin) = k4_ref_scales(x, 31, -0.5, 15, &mut l);
            pack_k4_scales(&ls, &lm, &mut y.scales);
            y.d = fp32_to_fp16(d);
            y.dmin = fp32_to_fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 31, &mut l);
            pack_q5_K(&l, &mut y.qs, &mut y.qh);
        }
    }

    pub fn quantize_row_q5_K_impl(x: &[f32], y: &mut [BlockQ5K], quant_weights: Option<&[f32]>) {
        for (i, (x, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            let mut l = [0u8; QK_K];
            let qw = quant_weights.map(|q| &q[QK_K * i..QK_K * (i + 1)]);
            let (ls, lm, d, dmin) = k4_impl_scales(x, qw, 31, &mut l);
            pack_k4_scales(&ls, &lm, &mut y.scales);
            y.d = fp32_to_fp16(d);
            y.dmin = fp32_to_fp16(dmin);
            requantize_k4(x, y.d, y.dmin, &y.scales, 31, &mut l);
            pack_q5_K(&l, &mut y.qs, &mut y.qh);
        }
    }

    // ------------------------------------------------------------------
    // Q6_K

    fn q6_K_block(x: &[f32], y: &mut BlockQ6K, qw: Option<&[f32]>) {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
        for ib in 0..QK_K / 16 {
            let w = qw.map(|q| &q[16 * ib..16 * ib + 16]);
            let scale = make_qx_quants(
                32,
                &x[16 * ib..16 * ib + 16],
                &mut l[16 * ib..16 * ib + 16],
                1,
                w,
            );
            scales[ib] = scale;
            let abs_scale = scale.abs();
            if abs_scale > max_abs_scale {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            *y = bytemuck::Zeroable::zeroed();
            y.d = fp32_to_fp16(0.0);
            return;
        }
        let iscale = -128.0 / max_scale;
        y.d = fp32_to_fp16(1.0 / iscale);
        for ib in 0..QK_K / 16 {
            // MIN(127, nearest_int(...)) stored in an int8_t
            y.scales[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
        }
        let dd = fp16_to_f32(u16::from_le_bytes(y.d));
        for j in 0..QK_K / 16 {
            let d = dd * y.scales[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let li = nearest_int(x[16 * j + ii] / d).clamp(-32, 31);
                l[16 * j + ii] = (li + 32) as i8;
            }
        }
        let l = l.map(|v| v as u8);
        for (n, j) in (0..QK_K).step_by(128).enumerate() {
            let (ql, qh) = (
                &mut y.ql[64 * n..64 * n + 64],
                &mut y.qh[32 * n..32 * n + 32],
            );
            for k in 0..32 {
                let q1 = l[j + k] & 0xF;
                let q2 = l[j + k + 32] & 0xF;
                let q3 = l[j + k + 64] & 0xF;
                let q4 = l[j + k + 96] & 0xF;
                ql[k] = q1 | (q3 << 4);
                ql[k + 32] = q2 | (q4 << 4);
                qh[k] = (l[j + k] >> 4)
                    | ((l[j + k + 32] >> 4) << 2)
                    | ((l[j + k + 64] >> 4) << 4)
                    | ((l[j + k + 96] >> 4) << 6);
            }
        }
    }

    pub fn quantize_row_q6_K_ref(x: &[f32], y: &mut [BlockQ6K]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            q6_K_block(x, y, None);
        }
    }

    pub fn quantize_row_q6_K_impl(x: &[f32], y: &mut [BlockQ6K], quant_weights: Option<&[f32]>) {
        for (i, (x, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            q6_K_block(x, y, quant_weights.map(|q| &q[QK_K * i..QK_K * (i + 1)]));
        }
    }

    // ------------------------------------------------------------------
    // 32-value blocks with importance weights

    /// `sigma2` of the `_impl` quantizers: mean square over the whole row.
    fn row_sigma2(x: &[f32]) -> f32 {
        let mut sum_x2 = 0f32;
        for &v in x {
            sum_x2 += v * v;
        }
        sum_x2 / x.len() as f32
    }

    fn impl_weights(xb: &[f32], qw: &[f32], sigma2: f32) -> [f32; 32] {
        let mut w = [0f32; 32];
        for j in 0..32 {
            w[j] = qw[j] * (sigma2 + xb[j] * xb[j]).sqrt();
        }
        w
    }

    pub fn quantize_row_q4_0_impl(x: &[f32], y: &mut [BlockQ4_0], quant_weights: &[f32]) {
        let sigma2 = row_sigma2(x);
        for (ib, (xb, y)) in x.chunks_exact(32).zip(y).enumerate() {
            let weight = impl_weights(xb, &quant_weights[32 * ib..], sigma2);
            let mut l = [0i8; 32];
            let d = make_qx_quants(8, xb, &mut l, 1, Some(&weight));
            y.d = fp32_to_fp16(d);
            for j in 0..16 {
                y.qs[j] = (l[j] as u8) | ((l[j + 16] as u8) << 4);
            }
        }
    }

    pub fn quantize_row_q4_1_impl(x: &[f32], y: &mut [BlockQ4_1], quant_weights: &[f32]) {
        let sigma2 = row_sigma2(x);
        for (ib, (xb, y)) in x.chunks_exact(32).zip(y).enumerate() {
            let weight = impl_weights(xb, &quant_weights[32 * ib..], sigma2);
            let (mut l, mut laux, mut min) = ([0u8; 32], [0u8; 32], 0f32);
            let d = make_qkx3_quants(
                15,
                xb,
                Some(&weight),
                &mut l,
                &mut min,
                &mut laux,
                -0.9,
                0.05,
                36,
                false,
            );
            y.d = fp32_to_fp16(d);
            y.m = fp32_to_fp16(-min);
            for j in 0..16 {
                y.qs[j] = l[j] | (l[j + 16] << 4);
            }
        }
    }

    pub fn quantize_row_q5_0_impl(x: &[f32], y: &mut [BlockQ5_0], quant_weights: &[f32]) {
        let sigma2 = row_sigma2(x);
        for (ib, (xb, y)) in x.chunks_exact(32).zip(y).enumerate() {
            let weight = impl_weights(xb, &quant_weights[32 * ib..], sigma2);
            let mut l = [0i8; 32];
            let d = make_qx_quants(16, xb, &mut l, 1, Some(&weight));
            y.d = fp32_to_fp16(d);
            pack_q5(|j| l[j] as u8, &mut y.qs, &mut y.qh);
        }
    }

    pub fn quantize_row_q5_1_impl(x: &[f32], y: &mut [BlockQ5_1], quant_weights: &[f32]) {
        let sigma2 = row_sigma2(x);
        for (ib, (xb, y)) in x.chunks_exact(32).zip(y).enumerate() {
            let weight = impl_weights(xb, &quant_weights[32 * ib..], sigma2);
            let (mut l, mut laux, mut min) = ([0u8; 32], [0u8; 32], 0f32);
            let d = make_qkx3_quants(
                31,
                xb,
                Some(&weight),
                &mut l,
                &mut min,
                &mut laux,
                -0.9,
                0.05,
                36,
                false,
            );
            y.d = fp32_to_fp16(d);
            y.m = fp32_to_fp16(-min);
            pack_q5(|j| l[j], &mut y.qs, &mut y.qh);
        }
    }

    // ------------------------------------------------------------------
    // Ternary (TQ1_0, TQ2_0) and Q8_K

    /// `lroundf(v) + 1`: -1, 0, 1 -> 0, 1, 2.
    #[inline(always)]
    fn trit(v: f32) -> u8 {
        (v.round() as i32 + 1) as u8
    }

    pub fn quantize_row_tq1_0_ref(x: &[f32], y: &mut [BlockTq1_0]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut amax = 0f32;
            for &v in x {
                amax = fmax(amax, v.abs());
            }
            let d = amax;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp32_to_fp16(d);
            let mut off = 0;
            // 5 values per byte, along 32 bytes (qs[0..32])
            for m in 0..32 {
                let mut q = 0u8;
                for n in 0..5 {
                    q = q
                        .wrapping_mul(3)
                        .wrapping_add(trit(x[off + m + n * 32] * id));
                }
                y.qs[m] = (q as u16 * 256).div_ceil(243) as u8;
            }
            off += 160;
            // then along 16 bytes (qs[32..48])
            for m in 0..16 {
                let mut q = 0u8;
                for n in 0..5 {
                    q = q
                        .wrapping_mul(3)
                        .wrapping_add(trit(x[off + m + n * 16] * id));
                }
                y.qs[32 + m] = (q as u16 * 256).div_ceil(243) as u8;
            }
            off += 80;
            // 4 values per byte (qh)
            for j in 0..4 {
                let mut q = 0u8;
                for m in 0..4 {
                    q = q
                        .wrapping_mul(3)
                        .wrapping_add(trit(x[off + j + m * 4] * id));
                }
                q = q.wrapping_mul(3);
                y.qh[j] = (q as u16 * 256).div_ceil(243) as u8;
            }
        }
    }

    pub fn quantize_row_tq2_0_ref(x: &[f32], y: &mut [BlockTq2_0]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let mut amax = 0f32;
            for &v in x {
                amax = fmax(amax, v.abs());
            }
            let d = amax;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            y.d = fp32_to_fp16(d);
            for (jj, j) in (0..64).step_by(32).enumerate() {
                for m in 0..32 {
                    let mut q = 0u8;
                    for n in 0..4 {
                        q += (trit(x[128 * jj + m + n * 32] * id) & 3) << (2 * n);
                    }
                    y.qs[j + m] = q;
                }
            }
        }
    }

    pub fn quantize_row_q8_K_ref(x: &[f32], y: &mut [BlockQ8K]) {
        for (x, y) in x.chunks_exact(QK_K).zip(y) {
            let (mut max, mut amax) = (0f32, 0f32);
            for &v in x {
                let ax = v.abs();
                if ax > amax {
                    amax = ax;
                    max = v;
                }
            }
            if amax == 0.0 {
                *y = bytemuck::Zeroable::zeroed();
                continue;
            }
            let iscale = -127.0 / max;
            for j in 0..QK_K {
                y.qs[j] = nearest_int(iscale * x[j]).min(127) as i8;
            }
            for j in 0..QK_K / 16 {
                let sum: i32 = y.qs[16 * j..16 * j + 16].iter().map(|&q| q as i32).sum();
                y.bsums[2 * j..2 * j + 2].copy_from_slice(&(sum as i16).to_le_bytes());
            }
            y.d = (1.0 / iscale).to_le_bytes();
        }
    }

    // ------------------------------------------------------------------
    // IQ4_NL and IQ4_XS

    /// `best_index_int8`: nearest of the sorted `val`, ties to the upper one.
    fn best_index_int8(val: &[i8; 16], x: f32) -> u8 {
        if x <= val[0] as f32 {
            return 0;
        }
        if x >= val[15] as f32 {
            return 15;
        }
        let (mut ml, mut mu) = (0usize, 15usize);
        while mu - ml > 1 {
            let mav = (ml + mu) / 2;
            if x < val[mav] as f32 {
                mu = mav;
            } else {
                ml = mav;
            }
        }
        if x - (val[mu - 1] as f32) < (val[mu] as f32) - x {
            (mu - 1) as u8
        } else {
            mu as u8
        }
    }

    /// `quantize_row_iq4_nl_impl` for one super-block: `L` and the scales.
    /// Returns (dh, scales_h, scales_l); the caller packs `L` into `q4`.
    fn iq4_nl_impl(
        super_block_size: usize,
        x: &[f32],
        l: &mut [u8],
        quant_weights: Option<&[f32]>,
        ntry: i32,
    ) -> ([u8; 2], u16, [u8; 4]) {
        let block_size = 32;
        let values = &KVALUES_IQ4NL;
        let nblocks = super_block_size / block_size;
        let mut scales = [0f32; QK_K / 32];
        let mut weight = [0f32; 32];
        let mut sigma2 = 0f32;
        for &v in &x[..super_block_size] {
            sigma2 += v * v;
        }
        sigma2 *= 2.0 / super_block_size as f32;
        let dh;
        let (mut max_scale, mut amax_scale) = (0f32, 0f32);
        for ib in 0..nblocks {
            let xb = &x[ib * block_size..(ib + 1) * block_size];
            match quant_weights {
                Some(q) => {
                    let qw = &q[ib * block_size..];
                    for j in 0..block_size {
                        weight[j] = qw[j] * (sigma2 + xb[j] * xb[j]).sqrt();
                    }
                }
                None => {
                    for j in 0..block_size {
                        weight[j] = xb[j] * xb[j];
                    }
                }
            }
            let (mut amax, mut max) = (0f32, 0f32);
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
            let v0 = values[0] as f32;
            let mut d = if ntry > 0 { -max / v0 } else { max / v0 };
            let mut id = 1.0 / d;
            let (mut sumqx, mut sumq2) = (0f32, 0f32);
            let lb = &mut l[ib * block_size..(ib + 1) * block_size];
            for j in 0..block_size {
                let al = id * xb[j];
                let li = best_index_int8(values, al);
                lb[j] = li;
                let q = values[li as usize] as f32;
                let w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
            let mut best = d * sumqx;
            for itry in -ntry..=ntry {
                id = (itry as f32 + v0) / max;
                sumqx = 0.0;
                sumq2 = 0.0;
                for j in 0..block_size {
                    let al = id * xb[j];
                    let li = best_index_int8(values, al);
                    let q = values[li as usize] as f32;
                    let w = weight[j];
                    sumqx += w * q * xb[j];
                    sumq2 += w * q * q;
                }
                if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            scales[ib] = d;
            let abs_d = d.abs();
            if abs_d > amax_scale {
                amax_scale = abs_d;
                max_scale = d;
            }
        }
        let (mut scales_h, mut scales_l) = (0u16, [0u8; 4]);
        if nblocks > 1 {
            let d = -max_scale / 32.0;
            dh = fp32_to_fp16(d);
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            for ib in 0..nblocks {
                let li = nearest_int(id * scales[ib]).clamp(-32, 31);
                let dl = d * li as f32;
                let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
                let xb = &x[ib * block_size..(ib + 1) * block_size];
                for j in 0..block_size {
                    l[ib * block_size + j] = best_index_int8(values, idl * xb[j]);
                }
                let lv = (li + 32) as u8;
                let (l_l, l_h) = (lv & 0xf, lv >> 4);
                if ib % 2 == 0 {
                    scales_l[ib / 2] = l_l;
                } else {
                    scales_l[ib / 2] |= l_l << 4;
                }
                scales_h |= (l_h as u16) << (2 * (ib % 8));
            }
        } else {
            dh = fp32_to_fp16(scales[0]);
            if ntry > 0 {
                let id = if scales[0] != 0.0 {
                    1.0 / scales[0]
                } else {
                    0.0
                };
                for j in 0..super_block_size {
                    l[j] = best_index_int8(values, id * x[j]);
                }
            }
        }
        (dh, scales_h, scales_l)
    }

    fn pack_iq4(l: &[u8], q4: &mut [u8]) {
        for i in 0..l.len() / 32 {
            for j in 0..16 {
                q4[16 * i + j] = l[32 * i + j] | (l[32 * i + 16 + j] << 4);
            }
        }
    }

    /// `quantize_iq4_nl` for one row (ntry 7, as `ggml_quantize_chunk` calls it).
    pub fn quantize_iq4_nl(x: &[f32], y: &mut [BlockIq4Nl], quant_weights: Option<&[f32]>) {
        for (ibl, (xb, y)) in x.chunks_exact(32).zip(y).enumerate() {
            let mut l = [0u8; 32];
            let qw = quant_weights.map(|q| &q[32 * ibl..32 * ibl + 32]);
            let (dh, _, _) = iq4_nl_impl(32, xb, &mut l, qw, 7);
            y.d = dh;
            pack_iq4(&l, &mut y.qs);
        }
    }

    /// `quantize_iq4_xs` for one row.
    pub fn quantize_iq4_xs(x: &[f32], y: &mut [BlockIq4Xs], quant_weights: Option<&[f32]>) {
        for (ibl, (xb, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
            let mut l = [0u8; QK_K];
            let qw = quant_weights.map(|q| &q[QK_K * ibl..QK_K * (ibl + 1)]);
            let (dh, sh, sl) = iq4_nl_impl(QK_K, xb, &mut l, qw, 7);
            y.d = dh;
            y.scales_h = sh.to_le_bytes();
            y.scales_l = sl;
            pack_iq4(&l, &mut y.qs);
        }
    }
}

#[cfg(test)]
mod tests;
