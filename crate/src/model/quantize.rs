//! Whole-model quantization: any [`ModelSource`] in, GGUF out, one tensor
//! at a time.
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
use crate::io::gguf::{GgufWriter, TensorPlan, Value};
use crate::model::source::{ModelSource, SourceTensor};
use crate::quant::preset::{self, ModelShape, Preset, TensorDesc};
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

impl Target {
    /// llama-quantize's choice for every tensor of `src` under `preset`
    /// (`has_imatrix`: an importance matrix will be used, which changes a rule).
    pub fn plan(
        src: &(impl ModelSource + ?Sized),
        preset: Preset,
        has_imatrix: bool,
    ) -> Result<Vec<Target>> {
        let tensors = src.tensors();
        let descs: Vec<TensorDesc> = tensors
            .iter()
            .map(|t| TensorDesc {
                name: &t.name,
                dims: &t.dims,
                ty: t.ty,
            })
            .collect();
        let shape = ModelShape {
            has_imatrix,
            ..model_shape(&src.metadata())?
        };
        Ok(preset::plan(preset, &shape, &descs)?
            .into_iter()
            .map(|c| Target {
                ty: c.target,
                reason: match c.fallback_from {
                    Some(f) => format!(
                        "{} (fallback: {} does not divide the row length)",
                        c.reason,
                        f.name()
                    ),
                    None => c.reason.to_string(),
                },
            })
            .collect())
    }
}

/// llama.cpp's tensor order (`weight_name_comparer` in
/// `llama-model-loader.h`): by block number (tensors outside a `blk.N.`
/// first), then by name.
fn llama_order(a: &str, b: &str) -> std::cmp::Ordering {
    let layer = |n: &str| -> i64 {
        n.strip_prefix("blk.")
            .and_then(|r| {
                r[..r.bytes().take_while(u8::is_ascii_digit).count()]
                    .parse()
                    .ok()
            })
            .unwrap_or(-1)
    };
    layer(a).cmp(&layer(b)).then_with(|| a.cmp(b))
}

/// The hyperparameters llama.cpp's preset rules look at, from GGUF metadata.
pub fn model_shape(md: &[(String, Value)]) -> Result<ModelShape> {
    let get = |k: &str| md.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let arch = get("general.architecture")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("the model has no general.architecture"))?
        .to_string();
    // Per-layer arrays (some architectures vary head counts by layer): layer 0, as llama.cpp.
    let num = |k: &str| -> Option<u32> {
        let v = get(&format!("{arch}.{k}"))?;
        let v = match v.as_array() {
            Some(a) => a.first()?,
            None => v,
        };
        v.as_u64().and_then(|n| u32::try_from(n).ok())
    };
    let n_layer = num("block_count")
        .ok_or_else(|| Error::invalid(format!("the model has no {arch}.block_count")))?;
    let n_head = num("attention.head_count").unwrap_or(0);
    Ok(ModelShape {
        n_layer,
        n_head,
        n_head_kv: num("attention.head_count_kv").unwrap_or(n_head),
        n_expert: num("expert_count").unwrap_or(0),
        has_imatrix: false,
        arch,
    })
}

/// One model being quantized into `W`. `M` is the source itself or a
/// reference to it (`&GgufFile<_>`, `&dyn ModelSource`, `Rc<_>`).
pub struct QuantizeJob<M: ModelSource, W: Write> {
    src: M,
    /// In writing order; `order[i]` is tensor `i`'s index in the source.
    tensors: Vec<SourceTensor>,
    order: Vec<usize>,
    targets: Vec<Target>,
    importance: HashMap<String, Vec<f32>>,
    /// Tensors quantized elsewhere (GPTQ): written as given.
    replacements: HashMap<String, (GgmlType, Vec<u8>)>,
    writer: GgufWriter<W>,
    reports: Vec<TensorReport>,
    /// Threads each tensor's rows are split over (see `crate::par`).
    threads: usize,
}

impl<M: ModelSource, W: Write> QuantizeJob<M, W> {
    /// Plan the output (one target per source tensor, in the source's
    /// order; see [`ModelSource::llama_quantize_order`] for the order it is
    /// written in), write its
    /// header to `out`. `file_type` is written as `general.file_type`
    /// (llama.cpp's `llama_ftype`). `importance` maps tensor names to
    /// per-column importance weights (an imatrix), used where the target
    /// type's quantizer takes them.
    pub fn new(
        src: M,
        targets: Vec<Target>,
        file_type: u32,
        importance: HashMap<String, Vec<f32>>,
        out: W,
    ) -> Result<Self> {
        let tensors = src.tensors();
        if targets.len() != tensors.len() {
            return Err(Error::invalid(format!(
                "{} target types for {} tensors",
                targets.len(),
                tensors.len()
            )));
        }
        // A GGUF's copy is written in llama-quantize's order, so the whole
        // file (not only each tensor) is the same bytes as its output.
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        if src.llama_quantize_order() {
            order.sort_by(|&a, &b| llama_order(&tensors[a].name, &tensors[b].name));
        }
        let targets: Vec<Target> = order.iter().map(|&i| targets[i].clone()).collect();
        let tensors: Vec<SourceTensor> = order.iter().map(|&i| tensors[i].clone()).collect();
        let mut plans = Vec::with_capacity(targets.len());
        for (t, target) in tensors.iter().zip(&targets) {
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
                // One weight per column, or per column of each matrix of a
                // stack (experts), as llama.cpp's imatrix stores them.
                let n_mat: u64 = t.dims.iter().skip(2).product();
                if w.len() as u64 != row_len && w.len() as u64 != row_len * n_mat {
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
        let writer = GgufWriter::new(out, &output_metadata(src.metadata(), file_type), &plans)?;
        Ok(QuantizeJob {
            src,
            tensors,
            order,
            targets,
            importance,
            replacements: HashMap::new(),
            writer,
            reports: Vec::new(),
            threads: 1,
        })
    }

    /// Write these tensors' bytes as given (quantized by GPTQ) instead of
    /// quantizing them; each must be of its planned type and size.
    pub fn with_replacements(
        mut self,
        replacements: HashMap<String, (GgmlType, Vec<u8>)>,
    ) -> Result<Self> {
        for (name, (ty, bytes)) in &replacements {
            let i = self
                .tensors
                .iter()
                .position(|t| &t.name == name)
                .ok_or_else(|| Error::invalid(format!("no tensor {name} to replace")))?;
            let t = &self.tensors[i];
            let planned = self.targets[i].ty;
            let rows = t.n_elements() / t.row_len().max(1);
            let want = planned.row_size(t.row_len() as usize)? as u64 * rows;
            if *ty != planned || bytes.len() as u64 != want {
                return Err(Error::invalid(format!(
                    "{name}: {} bytes of {} given, the plan is {want} bytes of {}",
                    bytes.len(),
                    ty.name(),
                    planned.name()
                )));
            }
        }
        self.replacements = replacements;
        Ok(self)
    }

    /// Tensors done so far, and in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.reports.len(), self.tensors.len())
    }

    /// The name of the tensor the next [`step`](Self::step) works on.
    pub fn next_name(&self) -> Option<&str> {
        self.tensors
            .get(self.reports.len())
            .map(|t| t.name.as_str())
    }

    pub fn is_done(&self) -> bool {
        self.reports.len() == self.tensors.len()
    }

    /// The underlying writer (the browser takes each step's bytes from it).
    pub fn writer_mut(&mut self) -> &mut W {
        self.writer.get_mut()
    }

    /// Split each tensor's rows over `threads` threads (see `crate::par`;
    /// the output bytes are the same for any count).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Quantize and write the next tensor; `None` when all are done.
    pub fn step(&mut self) -> Result<Option<&TensorReport>> {
        let i = self.reports.len();
        let Some(t) = self.tensors.get(i) else {
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
        let src_bytes = self.src.tensor_bytes(self.order[i])?;
        let values = blocks::dequantize_threads(t.ty, &src_bytes, row_len, self.threads)
            .map_err(in_context)?;
        let replaced = self.replacements.remove(&t.name);
        let replaced_by_gptq = replaced.is_some();
        let (out_bytes, stats) = if let Some((ty, q)) = replaced {
            let back =
                blocks::dequantize_threads(ty, &q, row_len, self.threads).map_err(in_context)?;
            let stats =
                metrics::error_stats_threads(&values, &back, self.threads).map_err(in_context)?;
            (q, stats)
        } else if target.ty == t.ty {
            // Same type: copy, bit for bit.
            let stats =
                metrics::error_stats_threads(&values, &values, self.threads).map_err(in_context)?;
            (src_bytes, stats)
        } else {
            let q = match self.importance.get(&t.name) {
                // Per-matrix weights: quantize each matrix with its own.
                Some(w) if w.len() != row_len => {
                    let per_mat = values.len() / (w.len() / row_len);
                    let mut q = Vec::new();
                    for (m, w) in values.chunks(per_mat).zip(w.chunks(row_len)) {
                        q.extend(
                            blocks::quantize_threads(target.ty, m, row_len, Some(w), self.threads)
                                .map_err(in_context)?,
                        );
                    }
                    q
                }
                w => blocks::quantize_threads(
                    target.ty,
                    &values,
                    row_len,
                    w.map(Vec::as_slice),
                    self.threads,
                )
                .map_err(in_context)?,
            };
            let back = blocks::dequantize_threads(target.ty, &q, row_len, self.threads)
                .map_err(in_context)?;
            let stats =
                metrics::error_stats_threads(&values, &back, self.threads).map_err(in_context)?;
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
            reason: if replaced_by_gptq {
                format!("{}; rounded by GPTQ", target.reason)
            } else {
                target.reason.clone()
            },
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

/// One tensor before and after quantization, for plots: histograms of the
/// original and the dequantized values over the same bins (the dequantized
/// one shows the grid the values were rounded to), and the error.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorView {
    pub name: String,
    pub from: String,
    pub to: String,
    pub original: metrics::Histogram,
    pub quantized: metrics::Histogram,
    pub stats: metrics::ErrorStats,
}

/// [`TensorView`] of tensor `index` of `src` quantized to `ty` (no
/// importance weights), histograms of `bins` bins.
pub fn tensor_view(
    src: &(impl ModelSource + ?Sized),
    index: usize,
    ty: GgmlType,
    bins: usize,
) -> Result<TensorView> {
    let t = src
        .tensors()
        .into_iter()
        .nth(index)
        .ok_or_else(|| Error::invalid(format!("no tensor #{index}")))?;
    let row_len = usize::try_from(t.row_len())
        .map_err(|_| Error::invalid(format!("tensor {}: row too long", t.name)))?;
    let values = src.tensor_f32(index)?;
    let back = blocks::dequantize(ty, &blocks::quantize(ty, &values, row_len, None)?, row_len)?;
    let (lo, hi) = values
        .iter()
        .chain(&back)
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = (lo < hi).then_some((lo, hi));
    Ok(TensorView {
        from: t.ty.name().to_string(),
        to: ty.name().to_string(),
        original: metrics::histogram(&values, bins, range)?,
        quantized: metrics::histogram(&back, bins, range)?,
        stats: metrics::error_stats(&values, &back)?,
        name: t.name,
    })
}

/// The source metadata in its order, with `general.file_type` and
/// `general.quantization_version` set as llama.cpp sets them.
fn output_metadata(src: Vec<(String, Value)>, file_type: u32) -> Vec<(String, Value)> {
    let mut md: Vec<(String, Value)> = src
        .into_iter()
        .filter(|(k, _)| k != "general.file_type" && k != "general.quantization_version")
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

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::io::gguf::{write_gguf, GgufFile};

    const BUNDLED: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../web/models/stories260K.gguf"
    ));

    fn bundled() -> GgufFile<&'static [u8]> {
        GgufFile::open(BUNDLED).unwrap()
    }

    #[test]
    fn tensors_are_written_in_llama_quantize_order() {
        let mut names = vec![
            "blk.10.attn_q.weight",
            "output.weight",
            "blk.2.ffn_up.weight",
            "token_embd.weight",
            "blk.2.attn_q.weight",
            "blk.x.weight",
        ];
        names.sort_by(|a, b| llama_order(a, b));
        assert_eq!(
            names,
            [
                "blk.x.weight",
                "output.weight",
                "token_embd.weight",
                "blk.2.attn_q.weight",
                "blk.2.ffn_up.weight",
                "blk.10.attn_q.weight"
            ]
        );
        // The bundled model stores its tensors kind by kind (every
        // attn_norm, then every attn_q, ...); the output goes block by block.
        let src = bundled();
        let targets = Target::plan(&src, Preset::Q8_0, false).unwrap();
        let mut job = QuantizeJob::new(&src, targets, 7, HashMap::new(), Vec::new()).unwrap();
        job.run(|_, _, _| true).unwrap();
        let out = job.finish().unwrap();
        let written = GgufFile::open(&out[..]).unwrap();
        let got: Vec<_> = written.tensors().iter().map(|t| t.name.clone()).collect();
        let first_block = got.iter().find(|n| n.starts_with("blk."));
        assert_eq!(first_block.map(String::as_str), Some("blk.0.attn_k.weight"));
        let mut want = got.clone();
        want.sort_by(|a, b| llama_order(a, b));
        assert_eq!(got, want);
    }

    #[test]
    fn preset_output_reads_back_with_planned_types_and_exact_bytes() {
        let src = bundled();
        let targets = Target::plan(&src, Preset::Q4KM, false).unwrap();
        let mut job =
            QuantizeJob::new(&src, targets.clone(), 15, HashMap::new(), Vec::new()).unwrap();
        let mut seen = Vec::new();
        job.run(|done, total, name| {
            seen.push((done, total, name.to_string()));
            true
        })
        .unwrap();
        assert_eq!(seen.len(), src.tensors.len());
        assert_eq!(seen.last().unwrap().0, seen.last().unwrap().1);
        let totals = job.totals();
        let out = job.finish().unwrap();
        let q = GgufFile::open(out.as_slice()).unwrap();
        assert_eq!(q.get_u64("general.file_type"), Some(15));
        assert_eq!(q.get_u64("general.quantization_version"), Some(2));
        assert_eq!(q.get_str("general.name"), src.get_str("general.name"));
        assert_eq!(q.tensors.len(), src.tensors.len());
        let mut bytes_out = 0;
        for t in &q.tensors {
            // Written in llama-quantize's order, not the source's.
            let i = src.tensors.iter().position(|s| s.name == t.name).unwrap();
            let (s, target) = (&src.tensors[i], &targets[i]);
            assert_eq!((&t.dims, t.ty), (&s.dims, target.ty));
            let values = src.tensor_f32(i);
            let want = blocks::quantize(t.ty, &values.unwrap(), t.row_len() as usize, None);
            let got = q.tensor_bytes(t).unwrap();
            assert_eq!(got, want.unwrap(), "{}", t.name);
            bytes_out += got.len() as u64;
        }
        assert_eq!(totals.bytes_out, bytes_out);
        assert_eq!(totals.tensors, src.tensors.len());
        assert!(totals.bits_per_weight_out < totals.bits_per_weight_in);
    }

    #[test]
    fn tensor_view_shows_the_grid_the_values_were_rounded_to() {
        let src = bundled();
        let i = src
            .tensors
            .iter()
            .position(|t| t.name == "blk.0.attn_q.weight")
            .unwrap();
        let v = tensor_view(&src, i, GgmlType::Q4_0, 512).unwrap();
        assert_eq!(v.original.counts.iter().sum::<u64>(), 64 * 64);
        assert_eq!(v.quantized.counts.iter().sum::<u64>(), 64 * 64);
        assert_eq!(v.original.edges, v.quantized.edges);
        // 4-bit blocks: far fewer distinct levels than the original's spread
        let occupied = |h: &metrics::Histogram| h.counts.iter().filter(|&&c| c > 0).count();
        assert!(occupied(&v.quantized) < occupied(&v.original));
        assert!(v.stats.cosine_similarity > 0.99 && v.stats.sqnr_db.unwrap() > 10.0);
        assert!(tensor_view(&src, 999, GgmlType::Q4_0, 8).is_err());
        // a row of 64 is not a whole number of Q4_K blocks: an error, not a panic
        assert!(tensor_view(&src, i, GgmlType::Q4K, 8).is_err());
    }

    #[test]
    fn cancel_stops_with_cancelled() {
        let src = bundled();
        let targets = Target::plan(&src, Preset::Q8_0, false).unwrap();
        let mut job = QuantizeJob::new(&src, targets, 7, HashMap::new(), Vec::new()).unwrap();
        let r = job.run(|done, _, _| done < 3);
        assert!(matches!(r, Err(Error::Cancelled)));
        assert_eq!(job.progress().0, 3);
        // an unfinished file is not handed out as complete
        assert!(job.finish().is_err());
    }

    /// A two-tensor model with the given values in its 2-D tensor.
    fn small_model(values: &[f32], dims: [u64; 3]) -> Vec<u8> {
        let md = [
            (
                "general.architecture".to_string(),
                Value::String("llama".into()),
            ),
            ("llama.block_count".to_string(), Value::U32(1)),
        ];
        let plans = [
            TensorPlan {
                name: "blk.0.ffn_down_exps.weight".into(),
                dims: dims.to_vec(),
                ty: GgmlType::F32,
            },
            TensorPlan {
                // Sorts after the first, so the job keeps this order.
                name: "blk.0.ffn_norm.weight".into(),
                dims: vec![dims[0]],
                ty: GgmlType::F32,
            },
        ];
        let data = [
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
            vec![0u8; dims[0] as usize * 4],
        ];
        let mut out = Vec::new();
        write_gguf(&mut out, &md, &plans, |i| Ok(data[i].clone())).unwrap();
        out
    }

    fn q4k_targets() -> Vec<Target> {
        [GgmlType::Q4K, GgmlType::F32]
            .iter()
            .map(|&ty| Target {
                ty,
                reason: "test".into(),
            })
            .collect()
    }

    #[test]
    fn non_finite_weights_name_the_tensor_and_element() {
        let mut v = crate::quant::synth::weights(2, 256, 3);
        v[300] = f32::NAN;
        let file = small_model(&v, [256, 2, 1]);
        let src = GgufFile::open(file.as_slice()).unwrap();
        let mut job =
            QuantizeJob::new(&src, q4k_targets(), 15, HashMap::new(), Vec::new()).unwrap();
        let e = job.step().unwrap_err().to_string();
        assert!(
            e.contains("blk.0.ffn_down_exps.weight") && e.contains("300"),
            "{e}"
        );
    }

    #[test]
    fn bad_plans_are_refused_up_front() {
        let v = crate::quant::synth::weights(2, 256, 3);
        let file = small_model(&v, [256, 2, 1]);
        let src = GgufFile::open(file.as_slice()).unwrap();
        let one = vec![q4k_targets().remove(0)];
        assert!(QuantizeJob::new(&src, one, 15, HashMap::new(), Vec::new()).is_err());
        let bad_imatrix = HashMap::from([("blk.0.ffn_down_exps.weight".to_string(), vec![1.0; 7])]);
        let e = QuantizeJob::new(&src, q4k_targets(), 15, bad_imatrix, Vec::new());
        assert!(e.is_err());
        // a row length the target's block size does not divide
        let file = small_model(&crate::quant::synth::weights(2, 64, 3), [64, 2, 1]);
        let src = GgufFile::open(file.as_slice()).unwrap();
        let e = QuantizeJob::new(&src, q4k_targets(), 15, HashMap::new(), Vec::new());
        assert!(matches!(e, Err(Error::BadLength { .. })));
    }

    #[test]
    fn per_matrix_importance_quantizes_each_matrix_with_its_own() {
        // 2 experts of 2 rows of 256
        let v = crate::quant::synth::weights(4, 256, 5);
        let file = small_model(&v, [256, 2, 2]);
        let src = GgufFile::open(file.as_slice()).unwrap();
        let w: Vec<f32> = (0..512)
            .map(|i| if i < 256 { 1.0 } else { (i % 7) as f32 })
            .collect();
        let imatrix = HashMap::from([("blk.0.ffn_down_exps.weight".to_string(), w.clone())]);
        let mut job = QuantizeJob::new(&src, q4k_targets(), 15, imatrix, Vec::new()).unwrap();
        job.run(|_, _, _| true).unwrap();
        let out = job.finish().unwrap();
        let q = GgufFile::open(out.as_slice()).unwrap();
        let got = q.tensor_bytes(&q.tensors[0]).unwrap();
        let mut want = blocks::quantize(GgmlType::Q4K, &v[..512], 256, Some(&w[..256])).unwrap();
        want.extend(blocks::quantize(GgmlType::Q4K, &v[512..], 256, Some(&w[256..])).unwrap());
        assert_eq!(got, want);
        let plain = blocks::quantize(GgmlType::Q4K, &v, 256, None).unwrap();
        assert_ne!(got, plain, "the importance weights were not used");
    }
}
