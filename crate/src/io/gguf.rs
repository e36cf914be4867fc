//! GGUF, llama.cpp's model file: a header (magic, version, counts), typed
//! key/value metadata, tensor infos, then aligned tensor data.
//!
//! Reading is lazy: [`GgufFile::open`] parses the header only; tensor bytes are
//! read on demand by byte range. Writing streams tensor by tensor.

use std::collections::BTreeMap;
use std::io::Write;

use crate::error::{Error, Result};
use crate::io::source::{ByteSource, Cursor};
use crate::quant::GgmlType;

pub const MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions (GGML_MAX_DIMS).
pub const MAX_DIMS: usize = 4;
/// Nesting limit for arrays of arrays, so a malicious file cannot recurse deeply.
const MAX_ARRAY_DEPTH: usize = 8;

const FMT: &str = "GGUF";

/// A metadata value, one variant per GGUF value type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    /// Element type id (as in the file) and the elements.
    Array(u32, Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// The GGUF value type id.
    pub fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(..) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    /// An integer value of any width, if it is one and fits.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(_, v) => Some(v),
            _ => None,
        }
    }

    /// A short human-readable rendering (arrays abbreviated).
    pub fn display(&self) -> String {
        match self {
            Value::String(s) => format!("{s:?}"),
            Value::Array(_, v) => {
                let head: Vec<String> = v.iter().take(4).map(Value::display).collect();
                let more = if v.len() > 4 { ", ..." } else { "" };
                format!("[{}{more}] ({} items)", head.join(", "), v.len())
            }
            Value::Bool(b) => b.to_string(),
            Value::F32(f) => f.to_string(),
            Value::F64(f) => f.to_string(),
            other => other.as_u64().map_or_else(
                || match other {
                    Value::I8(v) => v.to_string(),
                    Value::I16(v) => v.to_string(),
                    Value::I32(v) => v.to_string(),
                    Value::I64(v) => v.to_string(),
                    _ => String::new(),
                },
                |v| v.to_string(),
            ),
        }
    }
}

/// One tensor's description from the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length (fastest-varying).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// Row length (ne0).
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }
    pub fn n_rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }
    /// Bytes of data, as ggml computes them (validated at parse time).
    pub fn n_bytes(&self) -> u64 {
        (self.n_elements() / self.ty.block_size() as u64) * self.ty.type_size() as u64
    }
}

/// A parsed GGUF header over a lazily read source.
pub struct GgufFile<S: ByteSource> {
    source: S,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    /// Keys in file order (the map is sorted; writers keep the original order).
    pub metadata_order: Vec<String>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
}

impl<S: ByteSource> GgufFile<S> {
    /// Parse the header; no tensor data is read.
    pub fn open(source: S) -> Result<Self> {
        let (version, metadata, metadata_order, tensors, alignment, data_offset) = {
            let mut c = Cursor::new(&source, FMT);
            let mut magic = [0u8; 4];
            c.read(&mut magic)
                .map_err(|_| Error::format(FMT, "file is shorter than the 4-byte magic"))?;
            if magic != MAGIC {
                return Err(Error::format(
                    FMT,
                    format!(
                        "wrong magic {:?} (expected \"GGUF\"): not a GGUF file",
                        String::from_utf8_lossy(&magic)
                    ),
                ));
            }
            let version = c.u32()?;
            if !(2..=3).contains(&version) {
                return Err(Error::format(
                    FMT,
                    format!("unsupported version {version} (webquant reads versions 2 and 3)"),
                ));
            }
            let n_tensors = c.u64()?;
            let n_kv = c.u64()?;
            // Each key/value takes at least 8 (key length) + 4 (type) bytes, each
            // tensor info at least 8 + 4 + 4 + 8: reject counts the file cannot hold.
            if n_kv > c.remaining() / 12 {
                return Err(Error::format(
                    FMT,
                    format!("metadata count {n_kv} is larger than the file could hold"),
                ));
            }
            if n_tensors > c.remaining() / 24 {
                return Err(Error::format(
                    FMT,
                    format!("tensor count {n_tensors} is larger than the file could hold"),
                ));
            }
            let mut metadata = BTreeMap::new();
            let mut order = Vec::with_capacity(n_kv as usize);
            for i in 0..n_kv {
                let key = read_string(&mut c)
                    .map_err(|e| Error::format(FMT, format!("metadata key #{i}: {e}")))?;
                let ty = c.u32()?;
                let value = read_value(&mut c, ty, 0)
                    .map_err(|e| Error::format(FMT, format!("metadata {key:?}: {e}")))?;
                if metadata.insert(key.clone(), value).is_some() {
                    return Err(Error::format(
                        FMT,
                        format!("duplicate metadata key {key:?}"),
                    ));
                }
                order.push(key);
            }
            let alignment = match metadata.get("general.alignment") {
                None => DEFAULT_ALIGNMENT,
                Some(v) => match v.as_u64() {
                    Some(a) if a > 0 && a.is_power_of_two() => a,
                    _ => {
                        return Err(Error::format(
                            FMT,
                            format!("general.alignment {} is not a power of two", v.display()),
                        ))
                    }
                },
            };
            let mut tensors = Vec::with_capacity(n_tensors as usize);
            for i in 0..n_tensors {
                tensors.push(
                    read_tensor_info(&mut c)
                        .map_err(|e| Error::format(FMT, format!("tensor info #{i}: {e}")))?,
                );
            }
            let data_offset = align_up(c.pos(), alignment);
            (version, metadata, order, tensors, alignment, data_offset)
        };
        let file = GgufFile {
            source,
            version,
            metadata,
            metadata_order,
            tensors,
            alignment,
            data_offset,
        };
        file.validate_layout()?;
        Ok(file)
    }

    /// Offsets aligned, inside the file, and not overlapping; names unique.
    fn validate_layout(&self) -> Result<()> {
        let file_len = self.source.len();
        let mut spans: Vec<(u64, u64, &str)> = Vec::with_capacity(self.tensors.len());
        let mut names = std::collections::HashSet::new();
        for t in &self.tensors {
            if !names.insert(t.name.as_str()) {
                return Err(Error::format(
                    FMT,
                    format!("duplicate tensor name {:?}", t.name),
                ));
            }
            if t.offset % self.alignment != 0 {
                return Err(Error::format(
                    FMT,
                    format!(
                        "tensor {:?}: offset {} is not a multiple of the alignment {}",
                        t.name, t.offset, self.alignment
                    ),
                ));
            }
            let start = self.data_offset.checked_add(t.offset);
            let end = start.and_then(|s| s.checked_add(t.n_bytes()));
            match (start, end) {
                (Some(s), Some(e)) if e <= file_len => spans.push((s, e, &t.name)),
                _ => {
                    return Err(Error::format(
                        FMT,
                        format!(
                            "tensor {:?}: data at offset {} ({} bytes) lies outside the file ({} bytes): truncated or corrupt",
                            t.name,
                            t.offset,
                            t.n_bytes(),
                            file_len
                        ),
                    ))
                }
            }
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            if w[1].0 < w[0].1 {
                return Err(Error::format(
                    FMT,
                    format!("tensors {:?} and {:?} overlap", w[0].2, w[1].2),
                ));
            }
        }
        Ok(())
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A tensor's raw bytes as stored (packed blocks for quantized types).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> Result<Vec<u8>> {
        self.source
            .read_vec(self.data_offset + t.offset, t.n_bytes())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    /// `general.architecture`, or an error naming the missing key.
    pub fn architecture(&self) -> Result<&str> {
        self.get_str("general.architecture")
            .ok_or_else(|| Error::format(FMT, "missing general.architecture"))
    }

    /// Metadata in file order.
    pub fn metadata_in_order(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.metadata_order
            .iter()
            .filter_map(|k| self.metadata.get(k).map(|v| (k.as_str(), v)))
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a).saturating_mul(a)
}

fn read_string<S: ByteSource + ?Sized>(c: &mut Cursor<'_, S>) -> Result<String> {
    let len = c.u64()?;
    let bytes = c.bytes(len)?;
    String::from_utf8(bytes).map_err(|_| Error::format(FMT, "string is not valid UTF-8"))
}

fn read_value<S: ByteSource + ?Sized>(
    c: &mut Cursor<'_, S>,
    ty: u32,
    depth: usize,
) -> Result<Value> {
    Ok(match ty {
        0 => Value::U8(c.u8()?),
        1 => Value::I8(c.u8()? as i8),
        2 => Value::U16(c.u16()?),
        3 => Value::I16(c.u16()? as i16),
        4 => Value::U32(c.u32()?),
        5 => Value::I32(c.i32()?),
        6 => Value::F32(c.f32()?),
        7 => match c.u8()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => {
                return Err(Error::format(
                    FMT,
                    format!("bool value {b} is neither 0 nor 1"),
                ))
            }
        },
        8 => Value::String(read_string(c)?),
        9 => {
            if depth >= MAX_ARRAY_DEPTH {
                return Err(Error::format(FMT, "arrays nested too deeply"));
            }
            let elem = c.u32()?;
            let n = c.u64()?;
            let min_size = match elem {
                0 | 1 | 7 => 1,
                2 | 3 => 2,
                4..=6 => 4,
                8 | 10..=12 => 8,
                9 => 12,
                other => {
                    return Err(Error::format(
                        FMT,
                        format!("unknown array element type {other}"),
                    ))
                }
            };
            if n > c.remaining() / min_size {
                return Err(Error::format(
                    FMT,
                    format!("array of {n} elements is larger than the file could hold"),
                ));
            }
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                v.push(read_value(c, elem, depth + 1)?);
            }
            Value::Array(elem, v)
        }
        10 => Value::U64(c.u64()?),
        11 => Value::I64(c.u64()? as i64),
        12 => Value::F64(c.f64()?),
        other => return Err(Error::format(FMT, format!("unknown value type {other}"))),
    })
}

fn read_tensor_info<S: ByteSource + ?Sized>(c: &mut Cursor<'_, S>) -> Result<TensorInfo> {
    let name = read_string(c)?;
    let n_dims = c.u32()? as usize;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(Error::format(
            FMT,
            format!("tensor {name:?} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)"),
        ));
    }
    let mut dims = Vec::with_capacity(n_dims);
    for _ in 0..n_dims {
        dims.push(c.u64()?);
    }
    let ty_id = c.u32()?;
    let ty = GgmlType::from_id(ty_id)
        .map_err(|_| Error::format(FMT, format!("tensor {name:?} has unknown type id {ty_id}")))?;
    let offset = c.u64()?;
    let n = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n < (1u64 << 62))
        .ok_or_else(|| {
            Error::format(
                FMT,
                format!("tensor {name:?}: dimensions {dims:?} overflow"),
            )
        })?;
    let bs = ty.block_size() as u64;
    if dims[0] % bs != 0 {
        return Err(Error::format(
            FMT,
            format!(
                "tensor {name:?}: row length {} is not a multiple of {}'s block size {bs}",
                dims[0], ty
            ),
        ));
    }
    let _ = n;
    Ok(TensorInfo {
        name,
        dims,
        ty,
        offset,
    })
}

// ---------------------------------------------------------------------------
// Writing

/// A tensor to be written: its data is supplied later, in order.
#[derive(Clone, Debug)]
pub struct TensorPlan {
    pub name: String,
    /// ggml order (`dims[0]` = row length).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
}

impl TensorPlan {
    pub fn n_bytes(&self) -> Result<u64> {
        let overflow = || {
            Error::invalid(format!(
                "tensor {:?}: dimensions {:?} overflow",
                self.name, self.dims
            ))
        };
        let Some((&row_len, rest)) = self.dims.split_first() else {
            return Err(Error::invalid(format!(
                "tensor {:?} has no dimensions",
                self.name
            )));
        };
        let rows = rest
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(overflow)?;
        let row_len = usize::try_from(row_len).map_err(|_| overflow())?;
        let row = self.ty.row_size(row_len)? as u64;
        row.checked_mul(rows).ok_or_else(overflow)
    }
}

fn write_string<W: Write>(w: &mut W, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn write_value<W: Write>(w: &mut W, v: &Value) -> std::io::Result<()> {
    match v {
        Value::U8(x) => w.write_all(&[*x]),
        Value::I8(x) => w.write_all(&x.to_le_bytes()),
        Value::U16(x) => w.write_all(&x.to_le_bytes()),
        Value::I16(x) => w.write_all(&x.to_le_bytes()),
        Value::U32(x) => w.write_all(&x.to_le_bytes()),
        Value::I32(x) => w.write_all(&x.to_le_bytes()),
        Value::F32(x) => w.write_all(&x.to_le_bytes()),
        Value::Bool(x) => w.write_all(&[*x as u8]),
        Value::String(s) => write_string(w, s),
        Value::Array(elem, items) => {
            w.write_all(&elem.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            for it in items {
                write_value(w, it)?;
            }
            Ok(())
        }
        Value::U64(x) => w.write_all(&x.to_le_bytes()),
        Value::I64(x) => w.write_all(&x.to_le_bytes()),
        Value::F64(x) => w.write_all(&x.to_le_bytes()),
    }
}

/// Counts bytes so the writer can pad to the alignment and check each
/// tensor's size without seeking (works on any `Write`, e.g. a browser stream).
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a GGUF v3 file as a stream: the header (metadata in the given
/// order and every tensor's info) on creation, then each tensor's bytes in
/// order, padded to the alignment. Only one tensor's bytes need be in memory,
/// and nothing is ever seeked, so any `Write` works (a file, a browser stream).
pub struct GgufWriter<W: Write> {
    w: Counting<W>,
    alignment: u64,
    tensors: Vec<TensorPlan>,
    sizes: Vec<u64>,
    next: usize,
}

impl<W: Write> GgufWriter<W> {
    /// Check the plan and write the header.
    pub fn new(out: W, metadata: &[(String, Value)], tensors: &[TensorPlan]) -> Result<Self> {
        let alignment = metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .unwrap_or(DEFAULT_ALIGNMENT);
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(Error::invalid(format!(
                "alignment {alignment} is not a power of two"
            )));
        }
        // Check every tensor before writing anything.
        let mut sizes = Vec::with_capacity(tensors.len());
        for t in tensors {
            if t.dims.is_empty() || t.dims.len() > MAX_DIMS {
                return Err(Error::invalid(format!(
                    "tensor {:?} has {} dimensions",
                    t.name,
                    t.dims.len()
                )));
            }
            sizes.push(t.n_bytes()?);
        }
        let mut w = Counting { inner: out, n: 0 };
        w.write_all(&MAGIC)?;
        w.write_all(&3u32.to_le_bytes())?;
        w.write_all(&(tensors.len() as u64).to_le_bytes())?;
        w.write_all(&(metadata.len() as u64).to_le_bytes())?;
        for (k, v) in metadata {
            write_string(&mut w, k)?;
            w.write_all(&v.type_id().to_le_bytes())?;
            write_value(&mut w, v)?;
        }
        let mut offset = 0u64;
        for (t, &size) in tensors.iter().zip(&sizes) {
            write_string(&mut w, &t.name)?;
            w.write_all(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                w.write_all(&d.to_le_bytes())?;
            }
            w.write_all(&t.ty.id().to_le_bytes())?;
            w.write_all(&offset.to_le_bytes())?;
            offset = align_up(offset + size, alignment);
        }
        pad(&mut w, alignment)?;
        Ok(GgufWriter {
            w,
            alignment,
            tensors: tensors.to_vec(),
            sizes,
            next: 0,
        })
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.w.n
    }

    /// The underlying writer (e.g. to take the bytes of a chunk buffer).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w.inner
    }

    /// Write the next tensor's bytes; their length must match its plan.
    pub fn write_tensor(&mut self, data: &[u8]) -> Result<()> {
        let i = self.next;
        let t = self.tensors.get(i).ok_or_else(|| {
            Error::invalid(format!(
                "all {} tensors are already written",
                self.tensors.len()
            ))
        })?;
        if data.len() as u64 != self.sizes[i] {
            return Err(Error::invalid(format!(
                "tensor {:?}: got {} bytes of data, its type {} and shape {:?} need {}",
                t.name,
                data.len(),
                t.ty,
                t.dims,
                self.sizes[i]
            )));
        }
        self.w.write_all(data)?;
        pad(&mut self.w, self.alignment)?;
        self.next += 1;
        Ok(())
    }

    /// Check that every tensor was written, flush, and return the writer.
    pub fn finish(mut self) -> Result<W> {
        if self.next != self.tensors.len() {
            return Err(Error::invalid(format!(
                "only {} of {} tensors were written",
                self.next,
                self.tensors.len()
            )));
        }
        self.w.flush()?;
        Ok(self.w.inner)
    }
}

/// Write a whole GGUF v3 file with [`GgufWriter`], asking `tensor_data(index)`
/// for each tensor's bytes in order.
pub fn write_gguf<W: Write>(
    out: W,
    metadata: &[(String, Value)],
    tensors: &[TensorPlan],
    mut tensor_data: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut w = GgufWriter::new(out, metadata, tensors)?;
    for i in 0..tensors.len() {
        w.write_tensor(&tensor_data(i)?)?;
    }
    w.finish()?;
    Ok(())
}

fn pad<W: Write>(w: &mut Counting<W>, alignment: u64) -> std::io::Result<()> {
    let n = align_up(w.n, alignment) - w.n;
    w.write_all(&vec![0u8; n as usize])
}

#[cfg(test)]
mod tests {
    // In wasm the same tests run under wasm-bindgen's runner (Node).
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn sample() -> Vec<u8> {
        let md = vec![
            (
                "general.architecture".to_string(),
                Value::String("llama".into()),
            ),
            ("general.name".to_string(), Value::String("tiny".into())),
            ("x.u32".to_string(), Value::U32(7)),
            (
                "x.nested".to_string(),
                Value::Array(9, vec![Value::Array(4, vec![Value::U32(1), Value::U32(2)])]),
            ),
            ("x.f64".to_string(), Value::F64(-0.5)),
            ("x.bool".to_string(), Value::Bool(true)),
        ];
        let tensors = vec![
            TensorPlan {
                name: "a".into(),
                dims: vec![3, 2],
                ty: GgmlType::F32,
            },
            TensorPlan {
                name: "b".into(),
                dims: vec![5],
                ty: GgmlType::F16,
            },
        ];
        let mut out = Vec::new();
        write_gguf(&mut out, &md, &tensors, |i| {
            Ok(match i {
                0 => (0..6).flat_map(|x| (x as f32).to_le_bytes()).collect(),
                _ => vec![0x3c; 10],
            })
        })
        .unwrap();
        out
    }

    #[test]
    fn write_then_read_round_trips() {
        let bytes = sample();
        let f = GgufFile::open(bytes.as_slice()).unwrap();
        assert_eq!(f.version, 3);
        assert_eq!(f.architecture().unwrap(), "llama");
        assert_eq!(f.get_u64("x.u32"), Some(7));
        assert_eq!(f.get("x.f64"), Some(&Value::F64(-0.5)));
        assert_eq!(
            f.metadata_order,
            [
                "general.architecture",
                "general.name",
                "x.u32",
                "x.nested",
                "x.f64",
                "x.bool"
            ]
        );
        assert_eq!(f.tensors.len(), 2);
        let a = f.tensor("a").unwrap();
        assert_eq!(a.dims, vec![3, 2]);
        assert_eq!(f.tensor_bytes(a).unwrap().len(), 24);
        let b = f.tensor("b").unwrap();
        assert_eq!(b.offset % 32, 0);
        assert_eq!(f.tensor_bytes(b).unwrap(), vec![0x3c; 10]);
        assert_eq!(f.data_offset % 32, 0);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample();
        for n in 0..bytes.len() - 1 {
            // Only the final tensor's padding may be cut without losing data.
            if let Ok(f) = GgufFile::open(&bytes[..n]) {
                let last = f.tensors.last().unwrap();
                assert!(f.data_offset + last.offset + last.n_bytes() <= n as u64);
            }
        }
    }

    #[test]
    fn absurd_counts_and_lengths_are_rejected() {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&(1u64 << 60).to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        let e = GgufFile::open(b.as_slice()).err().unwrap().to_string();
        assert!(e.contains("tensor count"), "{e}");

        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&(1u64 << 40).to_le_bytes()); // key length 2^40
        b.extend_from_slice(&[0u8; 8]); // room for one key/value by count
        let e = GgufFile::open(b.as_slice()).err().unwrap().to_string();
        assert!(e.contains("runs past the end"), "{e}");

        let e = GgufFile::open(&b"GGML\x03\0\0\0"[..])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("wrong magic"), "{e}");
    }

    #[test]
    fn overflowing_dims_and_bad_types_are_rejected() {
        let md = vec![];
        let t = vec![TensorPlan {
            name: "t".into(),
            dims: vec![4],
            ty: GgmlType::F32,
        }];
        let mut out = Vec::new();
        write_gguf(&mut out, &md, &t, |_| Ok(vec![0; 16])).unwrap();
        // Patch the dimension (after magic, version, counts, name) to 2^63.
        let dim_at = 4 + 4 + 8 + 8 + 8 + 1 + 4;
        let mut bad = out.clone();
        bad[dim_at..dim_at + 8].copy_from_slice(&(1u64 << 63).to_le_bytes());
        let e = GgufFile::open(bad.as_slice()).err().unwrap().to_string();
        assert!(e.contains("overflow") || e.contains("outside"), "{e}");
        let mut bad = out.clone();
        bad[dim_at + 8..dim_at + 12].copy_from_slice(&77u32.to_le_bytes());
        let e = GgufFile::open(bad.as_slice()).err().unwrap().to_string();
        assert!(e.contains("unknown type id 77"), "{e}");
    }

    #[test]
    fn writer_checks_data_length() {
        let t = vec![TensorPlan {
            name: "t".into(),
            dims: vec![4],
            ty: GgmlType::F32,
        }];
        let e = write_gguf(Vec::new(), &[], &t, |_| Ok(vec![0; 15])).unwrap_err();
        assert!(e.to_string().contains("need 16"), "{e}");
    }
}
