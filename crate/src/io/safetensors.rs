//! safetensors, Hugging Face's weight file: an 8-byte little-endian header
//! length, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__":
//! {..}}`, then the tensors' bytes back to back.
//!
//! Reading is lazy like the GGUF reader: [`SafetensorsFile::open`] reads the
//! header only, tensor bytes are read by range on demand. Dtype names and
//! sizes come from the `safetensors` crate; the offsets are parsed as u64
//! here because the crate's `usize` offsets cannot address a > 4 GiB shard
//! on wasm32. Validation follows the format's rules (and the crate's): every
//! tensor's byte length matches its shape and dtype, tensors cover the data
//! section exactly, without gaps or overlaps, up to the end of the file.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::io::source::ByteSource;
use crate::quant::GgmlType;

const FMT: &str = "safetensors";

/// Headers longer than this are refused, as the `safetensors` crate does.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// True if `head` (the first bytes of a file, at least 9) looks like
/// safetensors: a plausible header length followed by a JSON object.
pub fn looks_like_safetensors(head: &[u8]) -> bool {
    match head.get(..9) {
        Some(h) => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&h[..8]);
            let n = u64::from_le_bytes(n);
            (2..=MAX_HEADER_LEN).contains(&n) && h[8] == b'{'
        }
        None => false,
    }
}

/// One tensor of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StTensor {
    pub name: String,
    /// F32, F16 or BF16.
    pub ty: GgmlType,
    /// Row-major shape as in the file (`shape[last]` varies fastest).
    pub shape: Vec<u64>,
    /// Absolute offset of the first byte in the file.
    pub offset: u64,
    pub n_bytes: u64,
}

impl StTensor {
    pub fn n_elements(&self) -> u64 {
        // Checked against n_bytes at open, so it cannot overflow.
        self.shape.iter().product()
    }
    /// ggml order: the reversed shape (`dims[0]` = row length); `[1]` for a scalar.
    pub fn ggml_dims(&self) -> Vec<u64> {
        if self.shape.is_empty() {
            vec![1]
        } else {
            self.shape.iter().rev().copied().collect()
        }
    }
}

#[derive(Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// A parsed safetensors header over a lazily read source.
pub struct SafetensorsFile<S: ByteSource> {
    source: S,
    /// Sorted by name (the order llama.cpp's converter and the Python
    /// `safetensors` package list them in).
    pub tensors: Vec<StTensor>,
    /// The free-form `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
    /// Absolute offset of the data section (8 + header length).
    pub data_offset: u64,
}

impl<S: ByteSource> SafetensorsFile<S> {
    /// Read and check the header; no tensor data is read.
    pub fn open(source: S) -> Result<Self> {
        let len = source.len();
        if len < 8 {
            return Err(Error::format(
                FMT,
                format!("file has {len} bytes, shorter than the 8-byte header length"),
            ));
        }
        let mut n = [0u8; 8];
        source.read_at(0, &mut n)?;
        let n = u64::from_le_bytes(n);
        if n > MAX_HEADER_LEN {
            return Err(Error::format(
                FMT,
                format!("header length {n} is over the {MAX_HEADER_LEN}-byte limit: corrupt or not a safetensors file"),
            ));
        }
        if n > len - 8 {
            return Err(Error::format(
                FMT,
                format!("header length {n} runs past the end of the file ({len} bytes): truncated"),
            ));
        }
        let header = source.read_vec(8, n)?;
        let data_offset = 8 + n;
        let (tensors, metadata) = parse_header(&header, len - data_offset)?;
        let tensors = tensors
            .into_iter()
            .map(|mut t| {
                t.offset += data_offset;
                t
            })
            .collect();
        Ok(SafetensorsFile {
            source,
            tensors,
            metadata,
            data_offset,
        })
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn tensor(&self, name: &str) -> Option<&StTensor> {
        self.tensors
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tensors[i])
    }

    /// A tensor's bytes as stored (little-endian F32 / F16 / BF16).
    pub fn tensor_bytes(&self, t: &StTensor) -> Result<Vec<u8>> {
        self.source.read_vec(t.offset, t.n_bytes)
    }

    /// A tensor's values widened to f32 (exact for all three types).
    pub fn tensor_f32(&self, t: &StTensor) -> Result<Vec<f32>> {
        Ok(to_f32(t.ty, &self.tensor_bytes(t)?))
    }
}

/// Little-endian F32 / F16 / BF16 bytes as f32 (any other type: empty).
pub(crate) fn to_f32(ty: GgmlType, bytes: &[u8]) -> Vec<f32> {
    match ty {
        GgmlType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        GgmlType::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        GgmlType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => Vec::new(),
    }
}

/// Parse and validate the JSON header; offsets returned are relative to the
/// data section, which holds `data_len` bytes.
fn parse_header(header: &[u8], data_len: u64) -> Result<(Vec<StTensor>, BTreeMap<String, String>)> {
    let text = std::str::from_utf8(header)
        .map_err(|e| Error::format(FMT, format!("header is not valid UTF-8: {e}")))?;
    let entries: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| Error::format(FMT, format!("header is not a JSON object: {e}")))?;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        if name == "__metadata__" {
            metadata = serde_json::from_value(value).map_err(|e| {
                Error::format(
                    FMT,
                    format!("__metadata__ is not a map of strings to strings: {e}"),
                )
            })?;
            continue;
        }
        let raw: RawInfo = serde_json::from_value(value).map_err(|e| {
            Error::format(
                FMT,
                format!("tensor {name:?}: {e} (expected dtype, shape and data_offsets)"),
            )
        })?;
        tensors.push(check_tensor(name, raw)?);
    }
    // Walk the tensors in offset order: each must start where the previous
    // ended, and the last must end at the end of the file.
    let mut by_offset: Vec<&StTensor> = tensors.iter().collect();
    by_offset.sort_by_key(|t| (t.offset, t.n_bytes));
    let mut pos = 0u64;
    let mut prev: Option<&str> = None;
    for t in by_offset {
        if t.offset < pos {
            return Err(Error::format(
                FMT,
                format!(
                    "tensors {:?} and {:?} overlap (bytes {}..{} of the data)",
                    prev.unwrap_or_default(),
                    t.name,
                    t.offset,
                    pos
                ),
            ));
        }
        if t.offset > pos {
            return Err(Error::format(
                FMT,
                format!(
                    "bytes {pos}..{} of the data before tensor {:?} belong to no tensor",
                    t.offset, t.name
                ),
            ));
        }
        pos = t.offset + t.n_bytes; // end was checked for overflow
        prev = Some(&t.name);
    }
    if pos != data_len {
        return Err(Error::format(
            FMT,
            if pos > data_len {
                format!(
                    "tensor {:?} ends at byte {pos} of the data but the file holds {data_len}: truncated",
                    prev.unwrap_or_default()
                )
            } else {
                format!(
                    "the tensors cover {pos} bytes of data but the file holds {data_len} after the header"
                )
            },
        ));
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((tensors, metadata))
}

fn check_tensor(name: String, raw: RawInfo) -> Result<StTensor> {
    let dtype: safetensors::Dtype =
        serde_json::from_value(serde_json::Value::String(raw.dtype.clone())).map_err(|_| {
            Error::format(
                FMT,
                format!("tensor {name:?} has unknown dtype {:?}", raw.dtype),
            )
        })?;
    let ty = match dtype {
        safetensors::Dtype::F32 => GgmlType::F32,
        safetensors::Dtype::F16 => GgmlType::F16,
        safetensors::Dtype::BF16 => GgmlType::BF16,
        other => {
            return Err(Error::format(
                FMT,
                format!(
                    "tensor {name:?} has dtype {other:?}; webquant reads F32, F16 and BF16 tensors"
                ),
            ))
        }
    };
    let [start, end] = raw.data_offsets;
    let elems = raw.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let bytes = elems.and_then(|n| n.checked_mul(dtype.bitsize() as u64 / 8));
    let Some(bytes) = bytes else {
        return Err(Error::format(
            FMT,
            format!("tensor {name:?}: shape {:?} overflows", raw.shape),
        ));
    };
    if end < start || end - start != bytes {
        return Err(Error::format(
            FMT,
            format!(
                "tensor {name:?}: data_offsets [{start}, {end}] hold {} bytes but shape {:?} of {dtype:?} needs {bytes}",
                end.saturating_sub(start),
                raw.shape
            ),
        ));
    }
    Ok(StTensor {
        name,
        ty,
        shape: raw.shape,
        offset: start,
        n_bytes: bytes,
    })
}

#[cfg(test)]
#[path = "safetensors_tests.rs"]
mod tests;
