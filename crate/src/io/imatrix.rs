//! llama.cpp importance-matrix files, read the way `llama-quantize` reads
//! them (`common_imatrix_load` and `load_imatrix` in llama.cpp), giving one
//! importance weight per column for each weight tensor.
//!
//! Two formats exist:
//! - GGUF (what `llama-imatrix` writes now): per tensor `NAME.in_sum2`
//!   (sums of squared activations, `ne0` per matrix) and `NAME.counts`
//!   (tokens seen, one per matrix); the weight is `in_sum2 / count`, or 1
//!   where a matrix saw no tokens.
//! - legacy `.dat`: i32 entry count; per entry an i32-length name, i32
//!   ncall, i32 nval and nval f32 (already averaged, times ncall); then an
//!   optional chunk count and dataset name. The weight is `sum / ncall`.
//!
//! [`ImatrixData`] is the GGUF form's content, which [`ImatrixData::write`]
//! writes as `llama-imatrix` does (`save_imatrix`).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use crate::error::{Error, Result};
use crate::io::gguf::{write_gguf, GgufFile, TensorPlan, Value, MAGIC};
use crate::io::source::{ByteSource, Cursor};
use crate::quant::GgmlType;

const FMT: &str = "imatrix";

/// Importance weights per tensor name, as llama-quantize uses them.
pub type Importance = HashMap<String, Vec<f32>>;

/// Read either format (told apart by the GGUF magic).
pub fn read<S: ByteSource>(src: S) -> Result<Importance> {
    let mut head = [0u8; 4];
    if src.len() >= 4 {
        src.read_at(0, &mut head)?;
    }
    let m = if head == MAGIC {
        read_gguf(GgufFile::open(src)?)?
    } else {
        read_legacy(&src)?
    };
    if m.is_empty() {
        return Err(Error::format(FMT, "no entries"));
    }
    Ok(m)
}

fn read_gguf<S: ByteSource>(g: GgufFile<S>) -> Result<Importance> {
    ImatrixData::from_gguf(&g)?.importance()
}

/// One tensor's statistics: per matrix (one, or one per expert) the sums of
/// squared input activations per column, and the inputs counted.
#[derive(Clone, Debug, PartialEq)]
pub struct ImatrixEntry {
    /// (n_mat, ne0)
    pub sums: Vec<f32>,
    /// (n_mat,)
    pub counts: Vec<f32>,
}

/// An importance matrix as llama-imatrix's GGUF holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImatrixData {
    /// Keyed by weight tensor name (`blk.0.attn_q.weight`).
    pub entries: BTreeMap<String, ImatrixEntry>,
    /// `imatrix.chunk_count`: chunks the sums cover.
    pub chunk_count: u32,
    /// `imatrix.chunk_size`: tokens per chunk.
    pub chunk_size: u32,
    /// `imatrix.datasets`: where the text came from.
    pub datasets: Vec<String>,
}

impl ImatrixData {
    /// Read a GGUF imatrix (`NAME.in_sum2` / `NAME.counts` pairs).
    pub fn from_gguf<S: ByteSource>(g: &GgufFile<S>) -> Result<ImatrixData> {
        // name -> (in_sum2, counts)
        let mut pairs: BTreeMap<&str, (Option<usize>, Option<usize>)> = BTreeMap::new();
        for (i, t) in g.tensors.iter().enumerate() {
            if let Some(n) = t.name.strip_suffix(".in_sum2") {
                pairs.entry(n).or_default().0 = Some(i);
            } else if let Some(n) = t.name.strip_suffix(".counts") {
                pairs.entry(n).or_default().1 = Some(i);
            }
        }
        let mut entries = BTreeMap::new();
        for (name, pair) in pairs {
            let (Some(s), Some(c)) = pair else {
                return Err(Error::format(
                    FMT,
                    format!("mismatched sums and counts for {name}"),
                ));
            };
            let (s, c) = (&g.tensors[s], &g.tensors[c]);
            if s.ty != GgmlType::F32 || c.ty != GgmlType::F32 {
                return Err(Error::format(
                    FMT,
                    format!("sums and counts for {name} must be F32"),
                ));
            }
            let sums = f32s(&g.tensor_bytes(s)?);
            let counts = f32s(&g.tensor_bytes(c)?);
            if counts.is_empty() || sums.is_empty() || !sums.len().is_multiple_of(counts.len()) {
                return Err(Error::format(
                    FMT,
                    format!(
                        "{name}: {} sums do not split into {} matrices",
                        sums.len(),
                        counts.len()
                    ),
                ));
            }
            entries.insert(name.to_string(), ImatrixEntry { sums, counts });
        }
        let u32_key = |k: &str| {
            g.get_u64(k)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        let datasets = g
            .get("imatrix.datasets")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ImatrixData {
            entries,
            chunk_count: u32_key("imatrix.chunk_count"),
            chunk_size: u32_key("imatrix.chunk_size"),
            datasets,
        })
    }

    /// The per-column weights llama-quantize uses: `sum / count` per
    /// matrix, 1 where a matrix saw no tokens.
    pub fn importance(&self) -> Result<Importance> {
        let mut out = HashMap::new();
        for (name, ImatrixEntry { sums, counts }) in &self.entries {
            if counts.is_empty() || !sums.len().is_multiple_of(counts.len()) {
                return Err(Error::format(
                    FMT,
                    format!("{name}: {} sums for {} matrices", sums.len(), counts.len()),
                ));
            }
            let ne0 = sums.len() / counts.len();
            let mut e = vec![0f32; sums.len()];
            for (j, &count) in counts.iter().enumerate() {
                // std::lround, then back to float, as llama.cpp does
                let count = count.round() as i64 as f32;
                for i in 0..ne0 {
                    e[j * ne0 + i] = if count > 0.0 {
                        sums[j * ne0 + i] / count
                    } else {
                        1.0
                    };
                }
            }
            check_weights(name, &e)?;
            out.insert(name.clone(), e);
        }
        Ok(out)
    }

    /// Write as llama-imatrix's `save_imatrix`: `general.type`,
    /// `imatrix.datasets`, `imatrix.chunk_count`, `imatrix.chunk_size`, then
    /// per entry in name order `NAME.in_sum2` [ne0, n_mat] and `NAME.counts`
    /// [1, n_mat], all F32.
    pub fn write<W: Write>(&self, out: W) -> Result<()> {
        let md = [
            ("general.type".to_string(), Value::String("imatrix".into())),
            (
                "imatrix.datasets".to_string(),
                Value::Array(
                    Value::String(String::new()).type_id(),
                    self.datasets.iter().cloned().map(Value::String).collect(),
                ),
            ),
            (
                "imatrix.chunk_count".to_string(),
                Value::U32(self.chunk_count),
            ),
            (
                "imatrix.chunk_size".to_string(),
                Value::U32(self.chunk_size),
            ),
        ];
        let mut plans = Vec::with_capacity(2 * self.entries.len());
        let mut data: Vec<&[f32]> = Vec::with_capacity(2 * self.entries.len());
        for (name, e) in &self.entries {
            let n_mat = e.counts.len();
            if n_mat == 0 || e.sums.is_empty() || !e.sums.len().is_multiple_of(n_mat) {
                return Err(Error::invalid(format!(
                    "imatrix entry {name}: {} sums for {n_mat} matrices",
                    e.sums.len()
                )));
            }
            // ggml writes no trailing dimensions of 1 (ggml_n_dims).
            let (sums_dims, counts_dims) = match n_mat {
                1 => (vec![e.sums.len() as u64], vec![1]),
                n => (vec![(e.sums.len() / n) as u64, n as u64], vec![1, n as u64]),
            };
            plans.push(TensorPlan {
                name: format!("{name}.in_sum2"),
                dims: sums_dims,
                ty: GgmlType::F32,
            });
            plans.push(TensorPlan {
                name: format!("{name}.counts"),
                dims: counts_dims,
                ty: GgmlType::F32,
            });
            data.push(&e.sums);
            data.push(&e.counts);
        }
        write_gguf(out, &md, &plans, |i| {
            Ok(data[i].iter().flat_map(|v| v.to_le_bytes()).collect())
        })
    }
}

fn read_legacy<S: ByteSource>(src: &S) -> Result<Importance> {
    let mut c = Cursor::new(src, FMT);
    let n_entries = c.i32()?;
    if n_entries < 1 {
        return Err(Error::format(
            FMT,
            format!("not a GGUF imatrix, and as a legacy imatrix it has {n_entries} entries"),
        ));
    }
    let mut out = HashMap::new();
    for i in 0..n_entries {
        let len = c.i32()?;
        let len = u64::try_from(len)
            .map_err(|_| Error::format(FMT, format!("entry {i}: name length {len}")))?;
        let name = String::from_utf8(c.bytes(len)?)
            .map_err(|_| Error::format(FMT, format!("entry {i}: name is not UTF-8")))?;
        let ncall = c.i32()?;
        let nval = c.i32()?;
        if nval < 1 {
            return Err(Error::format(
                FMT,
                format!("entry {i} ({name}): {nval} values"),
            ));
        }
        // c.bytes checks the length against what is left before allocating
        let sums = f32s(&c.bytes(nval as u64 * 4)?);
        let e: Vec<f32> = if ncall > 0 {
            sums.iter().map(|v| v / ncall as f32).collect()
        } else {
            sums
        };
        check_weights(&name, &e)?;
        out.insert(name, e);
    }
    Ok(out)
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The quantizers need finite, non-negative weights; name the entry if not.
fn check_weights(name: &str, e: &[f32]) -> Result<()> {
    match e.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        Some(i) => Err(Error::format(
            FMT,
            format!("{name}: weight {i} is {}", e[i]),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn legacy(entries: &[(&str, i32, &[f32])], trailer: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((entries.len() as i32).to_le_bytes());
        for (name, ncall, vals) in entries {
            b.extend((name.len() as i32).to_le_bytes());
            b.extend(name.as_bytes());
            b.extend(ncall.to_le_bytes());
            b.extend((vals.len() as i32).to_le_bytes());
            for v in *vals {
                b.extend(v.to_le_bytes());
            }
        }
        if trailer {
            b.extend(10i32.to_le_bytes());
            b.extend(4i32.to_le_bytes());
            b.extend(b"wiki");
        }
        b
    }

    #[test]
    fn legacy_divides_by_ncall() {
        let f = legacy(&[("blk.0.ffn_up.weight", 4, &[4.0, 8.0, 0.0])], true);
        let m = read(f.as_slice()).unwrap();
        assert_eq!(m["blk.0.ffn_up.weight"], vec![1.0, 2.0, 0.0]);
        let f = legacy(&[("a", 0, &[3.0])], false);
        assert_eq!(read(f.as_slice()).unwrap()["a"], vec![3.0]);
    }

    #[test]
    fn gguf_divides_by_count_per_matrix() {
        let f32b = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let tensors = [
            TensorPlan {
                name: "blk.0.ffn_down_exps.weight.in_sum2".into(),
                dims: vec![2, 2],
                ty: GgmlType::F32,
            },
            TensorPlan {
                name: "blk.0.ffn_down_exps.weight.counts".into(),
                dims: vec![1, 2],
                ty: GgmlType::F32,
            },
        ];
        let data = [f32b(&[6.0, 9.0, 5.0, 7.0]), f32b(&[3.0, 0.0])];
        let md = [("imatrix.chunk_count".to_string(), Value::U32(1))];
        let mut out = Vec::new();
        write_gguf(&mut out, &md, &tensors, |i| Ok(data[i].clone())).unwrap();
        let m = read(out.as_slice()).unwrap();
        // the matrix with no tokens gets weight 1, as in llama-quantize
        assert_eq!(m["blk.0.ffn_down_exps.weight"], vec![2.0, 3.0, 1.0, 1.0]);
    }

    #[test]
    fn written_imatrix_reads_back() {
        let mut entries = BTreeMap::new();
        entries.insert(
            "blk.0.attn_q.weight".to_string(),
            ImatrixEntry {
                sums: vec![2.0, 4.0, 6.0, 8.0],
                counts: vec![2.0],
            },
        );
        entries.insert(
            "blk.0.ffn_down_exps.weight".to_string(),
            ImatrixEntry {
                sums: vec![3.0, 6.0, 5.0, 7.0],
                counts: vec![3.0, 0.0],
            },
        );
        let data = ImatrixData {
            entries,
            chunk_count: 3,
            chunk_size: 512,
            datasets: vec!["calibration.txt".into()],
        };
        let mut out = Vec::new();
        data.write(&mut out).unwrap();
        let g = GgufFile::open(out.as_slice()).unwrap();
        assert_eq!(g.get_str("general.type"), Some("imatrix"));
        let names: Vec<&str> = g.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "blk.0.attn_q.weight.in_sum2",
                "blk.0.attn_q.weight.counts",
                "blk.0.ffn_down_exps.weight.in_sum2",
                "blk.0.ffn_down_exps.weight.counts"
            ]
        );
        assert_eq!(g.tensors[0].dims, [4]);
        assert_eq!(g.tensors[1].dims, [1]);
        assert_eq!(g.tensors[2].dims, [2, 2]);
        assert_eq!(g.tensors[3].dims, [1, 2]);
        assert_eq!(ImatrixData::from_gguf(&g).unwrap(), data);
        let m = read(out.as_slice()).unwrap();
        assert_eq!(m["blk.0.attn_q.weight"], vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m["blk.0.ffn_down_exps.weight"], vec![1.0, 2.0, 1.0, 1.0]);
        // an entry whose sums do not split into its matrices is refused
        let mut bad = data.clone();
        bad.entries.get_mut("blk.0.attn_q.weight").unwrap().counts = vec![1.0; 3];
        assert!(bad.write(Vec::new()).is_err());
    }

    /// llama-imatrix's own file (see model/testdata/README.md).
    const LLAMA_IMATRIX: &[u8] = include_bytes!("../model/testdata/imatrix-stories260K.gguf");

    #[test]
    fn llama_imatrix_file_reads_and_rewrites_byte_for_byte() {
        let g = GgufFile::open(LLAMA_IMATRIX).unwrap();
        let data = ImatrixData::from_gguf(&g).unwrap();
        // 5 blocks of 7 projections, 8 chunks of 128 tokens
        assert_eq!(data.entries.len(), 35);
        assert_eq!((data.chunk_count, data.chunk_size), (8, 128));
        assert_eq!(data.datasets, ["calib-shakespeare.txt"]);
        let q = &data.entries["blk.0.attn_q.weight"];
        assert_eq!((q.sums.len(), q.counts.clone()), (64, vec![1024.0]));
        assert_eq!(data.entries["blk.4.ffn_down.weight"].sums.len(), 172);
        let m = read(LLAMA_IMATRIX).unwrap();
        assert_eq!(m["blk.0.attn_q.weight"][5], q.sums[5] / 1024.0);
        let mut out = Vec::new();
        data.write(&mut out).unwrap();
        assert!(out == LLAMA_IMATRIX, "the rewritten file differs");
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(read(&[][..]).is_err());
        assert!(read(&0i32.to_le_bytes()[..]).is_err());
        let mut f = legacy(&[("a", 1, &[1.0, 2.0])], false);
        f.truncate(f.len() - 2);
        let e = read(f.as_slice()).unwrap_err().to_string();
        assert!(e.contains("imatrix"), "{e}");
        // an absurd value count is refused before allocating
        let mut f = legacy(&[("a", 1, &[1.0])], false);
        let at = 4 + 4 + 1 + 4;
        f[at..at + 4].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(read(f.as_slice()).is_err());
        let f = legacy(&[("a", 1, &[f32::NAN])], false);
        assert!(read(f.as_slice())
            .unwrap_err()
            .to_string()
            .contains("a: weight 0"));
        let f = legacy(&[("a", 1, &[-1.0])], false);
        assert!(read(f.as_slice()).is_err());
    }
}
