//! Whole-model quantization for JS: a job the worker steps one tensor at a
//! time, taking the output bytes after each step, so it can report progress,
//! honour a cancel between tensors and stream the file out.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::{js_err, to_js, Model, Source};
use crate::io::gguf::GgufFile;
use crate::io::imatrix;
use crate::model::quantize::{QuantizeJob, Target};
use crate::quant::preset::{self, Preset};

/// Quantizes an open model to a preset ("Q4_K_M", ...) or, with `pure`, one
/// ggml type for every quantizable tensor; with an importance matrix where
/// one is given.
#[wasm_bindgen]
pub struct Quantizer {
    job: QuantizeJob<Rc<GgufFile<Source>>, Vec<u8>>,
    targets: Vec<Target>,
}

#[wasm_bindgen]
impl Quantizer {
    /// Plan the output and write its header (taken by the first
    /// [`takeOutput`](Self::take_output)). `type` is a preset name or a ggml
    /// type name, as for `webquant quantize --type`; `imatrix` an importance
    /// matrix file (GGUF or legacy), as for `--imatrix`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        model: &Model,
        r#type: &str,
        pure: Option<bool>,
        imatrix: Option<Vec<u8>>,
    ) -> Result<Quantizer, JsError> {
        let p = Preset::from_type_arg(r#type, pure.unwrap_or(false)).map_err(js_err)?;
        let importance = match imatrix {
            Some(b) => Some(imatrix::read(b.as_slice()).map_err(js_err)?),
            None => None,
        };
        let src = Rc::clone(&model.file);
        let targets = Target::plan(&src, p, importance.is_some()).map_err(js_err)?;
        let job = QuantizeJob::new(
            src,
            targets.clone(),
            preset::file_type(p),
            importance.unwrap_or_default(),
            Vec::new(),
        )
        .map_err(js_err)?
        // Rows of each tensor split over the threads `setThreads` chose.
        .with_threads(super::threads());
        Ok(Quantizer { job, targets })
    }

    /// The tensor count.
    pub fn total(&self) -> usize {
        self.job.progress().1
    }

    /// Per tensor: the chosen type and the rule that chose it.
    #[wasm_bindgen(unchecked_return_type = "{type: string, reason: string}[]")]
    pub fn plan(&self) -> Result<JsValue, JsError> {
        #[derive(serde::Serialize)]
        struct P<'a> {
            r#type: &'static str,
            reason: &'a str,
        }
        let v: Vec<P> = self
            .targets
            .iter()
            .map(|t| P {
                r#type: t.ty.name(),
                reason: &t.reason,
            })
            .collect();
        to_js(&v)
    }

    /// Quantize the next tensor; its report, or `undefined` when all are done.
    #[wasm_bindgen(unchecked_return_type = "TensorReport | undefined")]
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        match self.job.step().map_err(js_err)? {
            Some(r) => to_js(r),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The output bytes written since the last call.
    #[wasm_bindgen(js_name = takeOutput)]
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(self.job.writer_mut())
    }

    /// Sizes and bits per weight so far.
    #[wasm_bindgen(unchecked_return_type = "QuantTotals")]
    pub fn totals(&self) -> Result<JsValue, JsError> {
        to_js(&self.job.totals())
    }

    /// Check every tensor was written; the last output bytes.
    pub fn finish(self) -> Result<Vec<u8>, JsError> {
        self.job.finish().map_err(js_err)
    }
}
