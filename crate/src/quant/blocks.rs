//! Rows of `f32` to packed ggml blocks and back: the checked entry points
//! (`quantize`, `dequantize`), bit for bit what ggml's `ggml_quantize_chunk`
//! and `to_float` give. Each looks up the type's row in
//! [`traits`](crate::quant::traits) and runs its fast path for this machine
//! where there is one, otherwise the scalar reference.
//!
//! As in `ggml_quantize_chunk`, an importance matrix (one weight per column)
//! selects the `*_impl` path for the types whose quantizer takes one
//! ([`uses_importance`]); without it the `*_ref` path runs. Fast paths are
//! only for the `*_ref` path and give the same bytes.

use crate::error::{Error, Result};
use crate::quant::traits::traits;
use crate::quant::types::GgmlType;

/// Every type webquant quantizes to, in the order the UI lists them.
pub fn quantizable() -> Vec<GgmlType> {
    crate::quant::traits::listed().collect()
}

/// Whether ggml's quantizer for `ty` uses an importance matrix. For the
/// other types [`quantize`] ignores one (after checking it), as ggml does.
pub fn uses_importance(ty: GgmlType) -> bool {
    traits(ty).quantize_weighted.is_some()
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
    quantize_threads(ty, src, row_len, importance, 1)
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
    if traits(ty).quantize.is_none() {
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
    let t = traits(ty);
    for (x, y) in src
        .chunks_exact(row_len)
        .zip(dst.chunks_exact_mut(row_bytes))
    {
        match (importance, t.quantize_weighted) {
            (Some(w), Some(f)) => {
                // No byte of a caller's buffer survives, whatever a
                // quantizer leaves untouched.
                y.fill(0);
                f(x, y, w)
            }
            _ => quantize_row(ty, x, y),
        }
    }
}

/// One checked row without importance: the fast path where this machine
/// has one, otherwise the reference. Also the activation quantizer of the
/// dot products (`quant::act`): one Q8_0 / Q8_K quantizer for both.
pub(crate) fn quantize_row(ty: GgmlType, x: &[f32], y: &mut [u8]) {
    let t = traits(ty);
    if let Some(f) = t.simd().quantize {
        return f(x, y);
    }
    if let Some(f) = t.quantize {
        // ggml leaves Q8_K's bsums of an all-zero block unset: start from zero.
        y.fill(0);
        f(x, y);
    }
}

/// Number of rows in `bytes`, checking that `row_len` is whole blocks and
/// `bytes` whole rows.
fn check_rows(ty: GgmlType, bytes_len: usize, row_len: usize) -> Result<usize> {
    let bs = ty.block_size();
    if !row_len.is_multiple_of(bs) {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!("row length {row_len} is not a multiple of the block size {bs}"),
        });
    }
    let row_bytes = ty.row_size(row_len)?;
    if row_bytes == 0 {
        if bytes_len == 0 {
            return Ok(0);
        }
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!("row length 0 but {bytes_len} bytes of data"),
        });
    }
    if !bytes_len.is_multiple_of(row_bytes) {
        let rows = bytes_len / row_bytes;
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!(
                "{bytes_len} bytes is not a whole number of rows of {row_len} values \
                 ({row_bytes} bytes each): expected {} or {} bytes, got {bytes_len}",
                rows * row_bytes,
                (rows + 1) * row_bytes
            ),
        });
    }
    Ok(bytes_len / row_bytes)
}

/// Dequantize `bytes` (one or more rows of `row_len` values of type `ty`)
/// to `f32`, as ggml's `to_float` does.
pub fn dequantize(ty: GgmlType, bytes: &[u8], row_len: usize) -> Result<Vec<f32>> {
    dequantize_threads(ty, bytes, row_len, 1)
}

/// Like [`dequantize`], writing into `dst`, which must hold exactly the
/// values in `bytes`.
pub fn dequantize_into(ty: GgmlType, bytes: &[u8], row_len: usize, dst: &mut [f32]) -> Result<()> {
    let rows = check_rows(ty, bytes.len(), row_len)?;
    let n = rows.checked_mul(row_len);
    if n != Some(dst.len()) {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: ty.block_size(),
            detail: format!(
                "output holds {} values, the input has {rows} rows of {row_len}",
                dst.len()
            ),
        });
    }
    let f = dequantizer(ty)?;
    // Rows are contiguous, so the whole buffer is one long run of blocks.
    f(bytes, dst);
    Ok(())
}

/// [`quantize`] on up to `threads` threads: the rows are split into
/// contiguous runs, one per thread, and each run is quantized exactly as
/// [`quantize`] does it (rows are independent), so the bytes are the same
/// for every thread count. Small inputs, and builds without threads
/// ([`crate::par`]), run on the calling thread.
pub fn quantize_threads(
    ty: GgmlType,
    src: &[f32],
    row_len: usize,
    importance: Option<&[f32]>,
    threads: usize,
) -> Result<Vec<u8>> {
    let (rows, row_bytes) = check_input(ty, src, row_len, importance)?;
    let total = rows
        .checked_mul(row_bytes)
        .ok_or_else(|| Error::invalid(format!("{rows} rows of {row_bytes} bytes overflow")))?;
    let mut out = vec![0u8; total];
    if total == 0 {
        return Ok(out);
    }
    let per = rows_per_thread(rows, row_len, threads);
    crate::par::map(
        src.chunks(per * row_len)
            .zip(out.chunks_mut(per * row_bytes))
            .collect(),
        |(x, y)| quantize_rows(ty, x, row_len, row_bytes, importance, y),
    );
    Ok(out)
}

/// This machine's fastest dequantizer for `ty`, or an error naming the type.
fn dequantizer(ty: GgmlType) -> Result<crate::quant::traits::DequantizeFn> {
    let t = traits(ty);
    t.simd()
        .dequantize
        .or(t.dequantize)
        .ok_or(Error::Unsupported {
            ty: ty.name(),
            what: "dequantization",
        })
}

/// [`dequantize`] on up to `threads` threads, row runs split as in
/// [`quantize_threads`]; the values are the same for every thread count.
pub fn dequantize_threads(
    ty: GgmlType,
    bytes: &[u8],
    row_len: usize,
    threads: usize,
) -> Result<Vec<f32>> {
    let rows = check_rows(ty, bytes.len(), row_len)?;
    let n = rows
        .checked_mul(row_len)
        .ok_or_else(|| Error::invalid(format!("{rows} rows of {row_len} values overflow")))?;
    let f = dequantizer(ty)?;
    let mut out = vec![0.0f32; n];
    if n == 0 {
        return Ok(out);
    }
    // Lengths are checked: each run is whole rows, so whole blocks.
    let row_bytes = bytes.len() / rows;
    let per = rows_per_thread(rows, row_len, threads);
    crate::par::map(
        bytes
            .chunks(per * row_bytes)
            .zip(out.chunks_mut(per * row_len))
            .collect(),
        |(x, y)| f(x, y),
    );
    Ok(out)
}

/// Rows per thread: whole rows, at least about 64K values a thread (below
/// that, handing rows to another thread costs more than it saves), and at
/// least 1.
fn rows_per_thread(rows: usize, row_len: usize, threads: usize) -> usize {
    const MIN_VALUES: usize = 1 << 16;
    let by_size = MIN_VALUES.div_ceil(row_len.max(1));
    rows.div_ceil(threads.max(1)).max(by_size).max(1)
}
