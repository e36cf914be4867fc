//! Whole-model quantization: GGUF in, GGUF out, one tensor at a time.
//!
//! A [`QuantizeJob`] is a step-by-step process so that callers own the loop:
//! the CLI runs it to the end, the browser worker yields between steps to
//! report progress and honour a cancel. Memory stays at one tensor (its
//! source bytes, its f32 values and its quantized bytes), whatever the
//! model's size.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::gguf::{GgufFile, GgufWriter, TensorPlan, Value};
use crate::io::source::ByteSource;
use crate::quant::{blocks, metrics, GgmlType};

/// What happened to one tensor.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorReport {
    pub name: String,
    /// ggml order (row length first).
    pub dims: Vec<u64>,
    pub from: String,
    pub to: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub n_elements: u64,
    /// Error of the quantized tensor against the source tensor's values.
    pub rmse: f64,
    pub max_abs_error: f64,
    /// `None` when the tensor is reproduced exactly.
    pub sqnr_db: Option<f64>,
    pub cosine: f64,
    /// Why this type was chosen (a preset rule, a shape fallback, ...).
    pub reason: String,
}

/// Totals over the model.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub tensors: usize,
    pub n_elements: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Bits per weight of the tensor data (file header excluded).
    pub bits_per_weight_in: f64,
    pub bits_per_weight_out: f64,
}

/// The type chosen for one tensor, and why.
#[derive(Clone, Debug)]
pub struct Target {
    pub ty: GgmlType,
    pub reason: String,
}

/// One model being quantized into `W`.
pub struct QuantizeJob<'a, S: ByteSource, W: Write> {
    src: &'a GgufFile<S>,
    targets: Vec<Target>,
    importance: HashMap<String, Vec<f32>>,
    writer: GgufWriter<W>,
    reports: Vec<TensorReport>,
}

impl<'a, S: ByteSource, W: Write> QuantizeJob<'a, S, W> {
    /// Plan the output (one target per source tensor, in order), write its
    /// header to `out`. `file_type` is written as `general.file_type`
    /// (llama.cpp's `llama_ftype`). `importance` maps tensor names to
    /// per-column importance weights (an imatrix), used where the target
    /// type's quantizer takes them.
    pub fn new(
        src: &'a GgufFile<S>,
        targets: Vec<Target>,
        file_type: u32,
        importance: HashMap<String, Vec<f32>>,
        out: W,
    ) -> Result<Self> {
        if targets.len() != src.tensors.len() {
            return Err(Error::invalid(format!(
                "{} target types for {} tensors",
                targets.len(),
                src.tensors.len()
            )));
        }
        let mut plans = Vec::with_capacity(targets.len());
        for (t, target) in src.tensors.iter().zip(&targets) {
            let row_len = t.dims.first().copied().unwrap_or(0);
            if row_len % target.ty.block_size() as u64 != 0 {
                return Err(Error::BadLength {
                    ty: target.ty.name(),
                    block_size: target.ty.block_size(),
                    detail: format!(
                        "tensor {}: row length {row_len} is not a multiple of the block size",
                        t.name
                    ),
                });
            }
            if let Some(w) = importance.get(&t.name) {
                if w.len() as u64 != row_len {
                    return Err(Error::invalid(format!(
                        "importance weights for {} have {} values, its rows have {row_len}",
                        t.name,
                        w.len()
                    )));
                }
            }
            plans.push(TensorPlan {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ty: target.ty,
            });
        }
        let writer = GgufWriter::new(out, &output_metadata(src, file_type), &plans)?;
        Ok(QuantizeJob {
            src,
            targets,
            importance,
            writer,
            reports: Vec::new(),
        })
    }

    /// Tensors done so far, and in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.reports.len(), self.src.tensors.len())
    }

    /// The name of the tensor the next [`step`](Self::step) works on.
    pub fn next_name(&self) -> Option<&str> {
        self.src
            .tensors
            .get(self.reports.len())
            .map(|t| t.name.as_str())
    }

    pub fn is_done(&self) -> bool {
        self.reports.len() == self.src.tensors.len()
    }

    /// The underlying writer (the browser takes each step's bytes from it).
    pub fn writer_mut(&mut self) -> &mut W {
        self.writer.get_mut()
    }

    /// Quantize and write the next tensor; `None` when all are done.
    pub fn step(&mut self) -> Result<Option<&TensorReport>> {
        let i = self.reports.len();
        let Some(t) = self.src.tensors.get(i) else {
            return Ok(None);
        };
        let target = &self.targets[i];
        let in_context = |e: Error| {
            match e {
            Error::InvalidArgument(m) => Error::InvalidArgument(format!("tensor {}: {m}", t.name)),
            Error::NonFinite { ty, index, value } => Error::InvalidArgument(format!(
                "tensor {}: non-finite value {value} at element {index} (while quantizing to {ty}); \
                 the source model is damaged",
                t.name
            )),
            other => other,
        }
        };
        let row_len = usize::try_from(t.row_len())
            .map_err(|_| Error::invalid(format!("tensor {}: row too long", t.name)))?;
        let src_bytes = self.src.tensor_bytes(t)?;
        let values = blocks::dequantize(t.ty, &src_bytes, row_len).map_err(in_context)?;
        let (out_bytes, stats) = if target.ty == t.ty {
            // Same type: copy, bit for bit.
            let stats = metrics::error_stats(&values, &values).map_err(in_context)?;
            (src_bytes, stats)
        } else {
            let importance = self.importance.get(&t.name).map(Vec::as_slice);
            let q =
                blocks::quantize(target.ty, &values, row_len, importance).map_err(in_context)?;
            let back = blocks::dequantize(target.ty, &q, row_len).map_err(in_context)?;
            let stats = metrics::error_stats(&values, &back).map_err(in_context)?;
            (q, stats)
        };
        self.writer.write_tensor(&out_bytes)?;
        self.reports.push(TensorReport {
            name: t.name.clone(),
            dims: t.dims.clone(),
            from: t.ty.name().to_string(),
            to: target.ty.name().to_string(),
            bytes_in: t.n_bytes(),
            bytes_out: out_bytes.len() as u64,
            n_elements: t.n_elements(),
            rmse: stats.rmse,
            max_abs_error: stats.max_abs_error,
            sqnr_db: stats.sqnr_db,
            cosine: stats.cosine_similarity,
            reason: target.reason.clone(),
        });
        Ok(self.reports.last())
    }

    pub fn reports(&self) -> &[TensorReport] {
        &self.reports
    }

    pub fn totals(&self) -> Totals {
        let n_elements: u64 = self.reports.iter().map(|r| r.n_elements).sum();
        let bytes_in: u64 = self.reports.iter().map(|r| r.bytes_in).sum();
        let bytes_out: u64 = self.reports.iter().map(|r| r.bytes_out).sum();
        let bpw = |b: u64| {
            if n_elements == 0 {
                0.0
            } else {
                b as f64 * 8.0 / n_elements as f64
            }
        };
        Totals {
            tensors: self.reports.len(),
            n_elements,
            bytes_in,
            bytes_out,
            bits_per_weight_in: bpw(bytes_in),
            bits_per_weight_out: bpw(bytes_out),
        }
    }

    /// Run every remaining step, calling `progress(done, total, name)` after
    /// each; `progress` returning `false` cancels ([`Error::Cancelled`]).
    pub fn run(&mut self, mut progress: impl FnMut(usize, usize, &str) -> bool) -> Result<()> {
        while let Some(r) = self.step()? {
            let name = r.name.clone();
            let (done, total) = self.progress();
            if !progress(done, total, &name) {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    }

    /// Check every tensor was written and return the writer.
    pub fn finish(self) -> Result<W> {
        self.writer.finish()
    }
}

/// The source metadata in its order, with `general.file_type` and
/// `general.quantization_version` set as llama.cpp sets them.
fn output_metadata<S: ByteSource>(src: &GgufFile<S>, file_type: u32) -> Vec<(String, Value)> {
    let mut md: Vec<(String, Value)> = src
        .metadata_in_order()
        .filter(|(k, _)| *k != "general.file_type" && *k != "general.quantization_version")
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    // llama.cpp writes these two right after the architecture keys; their
    // position does not matter to readers.
    md.push((
        "general.quantization_version".into(),
        Value::U32(GGML_QNT_VERSION),
    ));
    md.push(("general.file_type".into(), Value::U32(file_type)));
    md
}

/// `GGML_QNT_VERSION` in ggml.h: the block-format revision llama.cpp writes.
pub const GGML_QNT_VERSION: u32 = 2;
