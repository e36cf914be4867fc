//! Importance matrices and GPTQ for JS: jobs a Web Worker steps (one block
//! of one chunk, or one site's matrices, per call) to report per-block
//! progress and honour a cancel between steps.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::{js_err, to_js, Model, Source};
use crate::io::gguf::GgufFile;
use crate::io::imatrix;
use crate::model::calib::{self, Calibration, GptqJob, ImatrixJob};
use crate::model::generate::Runner;
use crate::model::quantize::{QuantizeJob, Target};
use crate::quant::gptq::GptqOptions;
use crate::quant::preset::{self, Preset};

#[wasm_bindgen(typescript_custom_section)]
const TS_SECTION: &str = TS_TYPES;

#[cfg_attr(not(test), allow(dead_code))]
pub(super) const TS_TYPES: &str = r#"
export interface CalibOptions {
  nCtx?: number; chunks?: number;
}
export interface GptqConfig {
  nCtx?: number; chunks?: number; damp?: number; block?: number; group?: number;
  actOrder?: boolean; pure?: boolean;
}
export interface CalibProgress {
  done: number; total: number; layer: number; layers: number; layerDone: number; layerTotal: number;
  chunk: number | null; what: string;
}
export interface GptqStep { phase: "gptq" | "write"; done: number; total: number; progress: CalibProgress | null; report: TensorReport | null; }
"#;

/// Calibration settings shared by both jobs.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CalibOptions {
    n_ctx: Option<usize>,
    chunks: Option<usize>,
}

/// GPTQ settings from JS; `group` -1 is static groups.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GptqConfig {
    n_ctx: Option<usize>,
    chunks: Option<usize>,
    damp: Option<f64>,
    block: Option<usize>,
    group: Option<i64>,
    act_order: Option<bool>,
    pure: Option<bool>,
}

/// Read an options object, refusing names it does not know (a typo would
/// otherwise be ignored: serde-wasm-bindgen reads only the known fields).
fn options<T: for<'de> Deserialize<'de> + Default>(
    v: JsValue,
    known: &[&str],
) -> Result<T, JsError> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    if !v.is_object() {
        return Err(JsError::new("invalid options: not an object"));
    }
    for k in js_sys::Object::keys(&js_sys::Object::from(v.clone())).iter() {
        let k = k.as_string().unwrap_or_default();
        if !known.contains(&k.as_str()) {
            return Err(JsError::new(&format!(
                "invalid options: unknown field {k:?} (known: {})",
                known.join(", ")
            )));
        }
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("invalid options: {e}")))
}

/// Load `file` with a KV cache of one calibration chunk and cut `text`.
fn calibration(
    file: &GgufFile<Source>,
    text: &str,
    n_ctx: Option<usize>,
    chunks: Option<usize>,
) -> crate::Result<(Runner, Calibration)> {
    let model_ctx = crate::model::config::Config::from_gguf(file)?.seq_len;
    let n_ctx = n_ctx.unwrap_or(512.min(model_ctx));
    let mut runner = Runner::load(file, n_ctx.min(model_ctx))?;
    // The forward passes split over the threads `setThreads` chose.
    runner.transformer.set_threads(super::threads());
    let calib = Calibration::new(&runner.tokenizer, text, n_ctx, model_ctx, chunks)?;
    Ok((runner, calib))
}

/// Computes llama.cpp's importance matrix of a model over calibration text.
#[wasm_bindgen]
pub struct ImatrixBuilder {
    runner: Runner,
    job: ImatrixJob,
}

#[wasm_bindgen]
impl ImatrixBuilder {
    /// `options`: `{nCtx, chunks}` (512 or the model's context if shorter;
    /// all chunks of the text). `dataset` names the text in the file.
    #[wasm_bindgen(constructor)]
    pub fn new(
        model: &Model,
        text: &str,
        #[wasm_bindgen(unchecked_param_type = "CalibOptions | undefined")] options_: JsValue,
        dataset: Option<String>,
    ) -> Result<ImatrixBuilder, JsError> {
        let o: CalibOptions = options(options_, &["nCtx", "chunks"])?;
        let (runner, calib) = calibration(&model.file, text, o.n_ctx, o.chunks).map_err(js_err)?;
        let job = ImatrixJob::new(
            calib,
            runner.transformer.config.n_layers,
            dataset.as_deref().unwrap_or("calibration text"),
        );
        Ok(ImatrixBuilder { runner, job })
    }

    /// Run one block over one chunk; `false` when every chunk is done.
    pub fn step(&mut self) -> Result<bool, JsError> {
        self.job.step(&mut self.runner.transformer).map_err(js_err)
    }

    /// Steps done so far.
    pub fn done(&self) -> usize {
        self.job.progress().0
    }

    /// Steps in all (blocks times chunks).
    pub fn total(&self) -> usize {
        self.job.progress().1
    }

    /// The importance matrix as a GGUF file (as llama-imatrix writes it).
    pub fn result(&self) -> Result<Vec<u8>, JsError> {
        let mut out = Vec::new();
        self.job.result().write(&mut out).map_err(js_err)?;
        Ok(out)
    }
}

/// GPTQ quantization of a model: calibrate and round block by block, then
/// write the GGUF tensor by tensor as `Quantizer` does (the block
/// projections GPTQ rounded, the rest as the preset says).
#[wasm_bindgen]
pub struct GptqQuantizer {
    file: Rc<GgufFile<Source>>,
    runner: Option<Runner>,
    gptq: GptqJob,
    targets: Vec<Target>,
    file_type: u32,
    importance: Option<imatrix::Importance>,
    write: Option<QuantizeJob<Rc<GgufFile<Source>>, Vec<u8>>>,
}

#[derive(Serialize)]
struct GptqStep<'a> {
    phase: &'static str,
    done: usize,
    total: usize,
    progress: Option<calib::CalibProgress>,
    report: Option<&'a crate::model::quantize::TensorReport>,
}

#[wasm_bindgen]
impl GptqQuantizer {
    /// `type`: a preset or ggml type as for `Quantizer`; `text`: the
    /// calibration text; `imatrix`: an importance matrix file (GGUF or
    /// legacy) for the tensors GPTQ does not round.
    #[wasm_bindgen(constructor)]
    pub fn new(
        model: &Model,
        r#type: &str,
        text: &str,
        #[wasm_bindgen(unchecked_param_type = "GptqConfig | undefined")] config: JsValue,
        imatrix: Option<Vec<u8>>,
    ) -> Result<GptqQuantizer, JsError> {
        let c: GptqConfig = options(
            config,
            &[
                "nCtx", "chunks", "damp", "block", "group", "actOrder", "pure",
            ],
        )?;
        let p = Preset::from_type_arg(r#type, c.pure.unwrap_or(false)).map_err(js_err)?;
        let importance = match imatrix {
            Some(b) => Some(imatrix::read(b.as_slice()).map_err(js_err)?),
            None => None,
        };
        let file = Rc::clone(&model.file);
        let targets = Target::plan(&file, p, importance.is_some()).map_err(js_err)?;
        let chosen = calib::gptq_targets(
            &crate::model::source::ModelSource::tensors(&*file),
            &targets,
        );
        let group = c.group.unwrap_or(0);
        if group < -1 {
            return Err(JsError::new(&format!("group {group}: give N > 0 or -1")));
        }
        let opts = GptqOptions {
            damp: c.damp.unwrap_or(0.01),
            block: c.block.unwrap_or(128),
            group: (group > 0).then_some(group as usize),
            act_order: c.act_order.unwrap_or(false),
            static_groups: group == -1,
        };
        let (mut runner, calib) = calibration(&file, text, c.n_ctx, c.chunks).map_err(js_err)?;
        let gptq = GptqJob::new(&mut runner.transformer, calib, chosen, opts).map_err(js_err)?;
        Ok(GptqQuantizer {
            file,
            runner: Some(runner),
            gptq,
            targets,
            file_type: preset::file_type(p),
            importance,
            write: None,
        })
    }

    /// Steps in all: GPTQ's (per block, each chunk twice and four sites)
    /// then one per tensor written.
    pub fn total(&self) -> usize {
        self.gptq.progress().1 + self.targets.len()
    }

    /// One step; what it did, or `undefined` when all are done.
    #[wasm_bindgen(unchecked_return_type = "GptqStep | undefined")]
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        let total = self.total();
        let (gptq_done, gptq_total) = self.gptq.progress();
        if let Some(runner) = self.runner.as_mut() {
            let progress = self.gptq.describe();
            self.gptq.step(&mut runner.transformer).map_err(js_err)?;
            if self.gptq.is_done() {
                let replaced = self
                    .gptq
                    .take_results(&mut runner.transformer)
                    .map_err(js_err)?;
                // The rest of the weights go before the file is written.
                self.runner = None;
                let job = QuantizeJob::new(
                    Rc::clone(&self.file),
                    self.targets.clone(),
                    self.file_type,
                    self.importance.take().unwrap_or_default(),
                    Vec::new(),
                )
                .and_then(|j| j.with_replacements(replaced))
                .map_err(js_err)?;
                self.write = Some(job);
            }
            return to_js(&GptqStep {
                phase: "gptq",
                done: gptq_done + 1,
                total,
                progress: Some(progress),
                report: None,
            });
        }
        let Some(job) = self.write.as_mut() else {
            return Err(JsError::new("the GPTQ job failed earlier"));
        };
        let done = gptq_total + job.progress().0 + 1;
        match job.step().map_err(js_err)? {
            Some(r) => to_js(&GptqStep {
                phase: "write",
                done,
                total,
                progress: None,
                report: Some(r),
            }),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The output bytes written since the last call (the GGUF header comes
    /// once GPTQ is done).
    #[wasm_bindgen(js_name = takeOutput)]
    pub fn take_output(&mut self) -> Vec<u8> {
        match self.write.as_mut() {
            Some(j) => std::mem::take(j.writer_mut()),
            None => Vec::new(),
        }
    }

    /// Sizes and bits per weight of the tensors written so far.
    #[wasm_bindgen(unchecked_return_type = "QuantTotals")]
    pub fn totals(&self) -> Result<JsValue, JsError> {
        match self.write.as_ref() {
            Some(j) => to_js(&j.totals()),
            None => Err(JsError::new("GPTQ has not finished")),
        }
    }

    /// Check every tensor was written; the last output bytes.
    pub fn finish(self) -> Result<Vec<u8>, JsError> {
        match self.write {
            Some(j) => j.finish().map_err(js_err),
            None => Err(JsError::new("GPTQ has not finished")),
        }
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::wasm::tests::ts_fields_in;

    const STORIES: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../web/models/stories260K.gguf"
    ));
    const TEXT: &str = include_str!("../model/testdata/calib-shakespeare.txt");

    fn model() -> Model {
        Model::from_bytes(STORIES.to_vec()).unwrap()
    }

    fn keys(v: &JsValue) -> Vec<String> {
        let mut k: Vec<String> = js_sys::Object::keys(&js_sys::Object::from(v.clone()))
            .iter()
            .filter_map(|k| k.as_string())
            .collect();
        k.sort();
        k
    }

    fn get(v: &JsValue, k: &str) -> JsValue {
        js_sys::Reflect::get(v, &k.into()).unwrap()
    }

    #[test]
    fn imatrix_steps_to_a_file_the_reader_reads() {
        let opts = js_sys::JSON::parse(r#"{"nCtx":128,"chunks":2}"#).unwrap();
        let mut b = ImatrixBuilder::new(&model(), TEXT, opts, Some("t.txt".into())).unwrap();
        assert_eq!(b.total(), 10);
        let mut steps = 0;
        loop {
            let more = b.step().unwrap();
            steps += 1;
            assert_eq!(b.done(), steps);
            if !more {
                break;
            }
        }
        assert_eq!(steps, 10);
        let file = b.result().unwrap();
        let m = imatrix::read(file.as_slice()).unwrap();
        assert_eq!(m.len(), 35);
        assert_eq!(m["blk.4.ffn_down.weight"].len(), 172);

        // the file weights the quantizer's rounding
        let quantize = |imatrix: Option<Vec<u8>>| {
            let mut q =
                crate::wasm::model_quant::Quantizer::new(&model(), "Q4_0", Some(true), imatrix)
                    .unwrap();
            let mut out = q.take_output();
            while !q.step().unwrap().is_undefined() {
                out.extend(q.take_output());
            }
            out.extend(q.finish().unwrap());
            out
        };
        assert_ne!(quantize(Some(file)), quantize(None));
        let e = match crate::wasm::model_quant::Quantizer::new(
            &model(),
            "Q4_0",
            None,
            Some(vec![1, 2]),
        ) {
            Ok(_) => "no error".to_string(),
            Err(e) => String::from(js_sys::Error::from(JsValue::from(e)).message()),
        };
        assert!(e.contains("imatrix"), "{e}");
    }

    #[test]
    fn gptq_steps_through_blocks_then_writes_a_gguf() {
        let config = js_sys::JSON::parse(r#"{"nCtx":64,"chunks":2,"actOrder":true}"#).unwrap();
        let mut q = GptqQuantizer::new(&model(), "Q4_0", TEXT, config, None).unwrap();
        let total = q.total();
        let mut out = Vec::new();
        let mut phases = Vec::new();
        let mut last = 0.0;
        let mut writes = 0;
        let mut layer_at: Option<(usize, usize, usize)> = None;
        loop {
            let s = q.step().unwrap();
            out.extend(q.take_output());
            if s.is_undefined() {
                break;
            }
            assert_eq!(keys(&s), ts_fields_in(TS_TYPES, "GptqStep"));
            let done = get(&s, "done").as_f64().unwrap();
            assert!(done > last);
            last = done;
            let phase = get(&s, "phase").as_string().unwrap();
            writes += usize::from(phase == "write");
            if phase == "gptq" {
                let p = get(&s, "progress");
                assert_eq!(keys(&p), ts_fields_in(TS_TYPES, "CalibProgress"));
                // per block: 1, 2, .. layerTotal, then the next block
                let n = |k: &str| get(&p, k).as_f64().unwrap() as usize;
                let at = (n("layer"), n("layerDone"));
                let want = match layer_at {
                    Some((l, d, t)) if d == t => (l + 1, 1),
                    Some((l, d, _)) => (l, d + 1),
                    None => (0, 1),
                };
                assert_eq!(at, want);
                layer_at = Some((at.0, at.1, n("layerTotal")));
                assert_eq!(n("layers"), 5);
            }
            if phases.last() != Some(&phase) {
                phases.push(phase);
            }
        }
        assert_eq!(phases, ["gptq", "write"]);
        // the last block is the fifth, and complete
        assert!(matches!(layer_at, Some((4, d, t)) if d == t));
        assert_eq!(last as usize, total);
        let totals = q.totals().unwrap();
        assert_eq!(get(&totals, "tensors").as_f64(), Some(writes as f64));
        out.extend(q.finish().unwrap());
        let g = GgufFile::open(out.as_slice()).unwrap();
        assert_eq!(
            g.tensor("blk.2.attn_q.weight").unwrap().ty,
            crate::quant::GgmlType::Q4_0
        );
        // the output runs
        assert!(crate::model::generate::Runner::load(&g, 16).is_ok());
    }

    #[test]
    fn bad_input_is_an_exception_with_a_message() {
        let m = model();
        let check = |ty: &str, text: &str, config: &str, imatrix: Option<Vec<u8>>, want: &str| {
            let parsed = js_sys::JSON::parse(config).unwrap();
            let e = match GptqQuantizer::new(&m, ty, text, parsed, imatrix) {
                Ok(_) => "no error".to_string(),
                Err(e) => String::from(js_sys::Error::from(JsValue::from(e)).message()),
            };
            assert!(e.contains(want), "{ty} {config:?}: {e}");
        };
        check("Q4_0", "", "null", None, "no calibration text");
        check(
            "Q4_0",
            TEXT,
            r#"{"dampening":0.1}"#,
            None,
            "invalid options",
        );
        check("Q4_0", TEXT, r#"{"nCtx":64,"damp":-1}"#, None, "dampening");
        // a plan with nothing GPTQ rounds
        check("F16", TEXT, "null", None, "GPTQ has no tensors");
        check("Q4_0", TEXT, "null", Some(vec![1, 2, 3]), "imatrix");
        let q = GptqQuantizer::new(&m, "Q4_0", TEXT, JsValue::UNDEFINED, None).unwrap();
        let v: JsValue = q.finish().err().unwrap().into();
        assert!(String::from(js_sys::Error::from(v).message()).contains("not finished"));
    }
}
