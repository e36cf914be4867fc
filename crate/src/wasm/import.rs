//! Importing a model that is not GGUF in the browser: a Hugging Face
//! safetensors model (with its config.json, tokenizer.json and
//! tokenizer_config.json) or a llama2.c checkpoint (with its tokenizer.bin),
//! written out as a GGUF one tensor per step, like the `Quantizer`, so the
//! worker can report progress, honour a cancel and stream the file to disk
//! (the page then opens that file as any GGUF).

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::blob::BlobSource;
use super::{js_err, to_js, Source};
use crate::io::hf::HfModel;
use crate::io::llama2c::{self, Llama2cModel};
use crate::model::quantize::{QuantizeJob, Target};
use crate::model::source::{HfImport, Llama2cImport, ModelSource};
use crate::quant::preset::{self, Preset};
use crate::quant::GgmlType;

/// Bytes in memory (`Uint8Array`) or a `File`/`Blob` read lazily.
fn source(v: JsValue, what: &str) -> Result<Source, JsError> {
    if let Some(b) = v.dyn_ref::<web_sys::Blob>() {
        return Ok(Source::Blob(BlobSource::new(b.clone()).map_err(js_err)?));
    }
    if let Some(a) = v.dyn_ref::<js_sys::Uint8Array>() {
        return Ok(Source::Bytes(a.to_vec()));
    }
    Err(JsError::new(&format!(
        "{what}: expected a File, Blob or Uint8Array"
    )))
}

/// Writes an imported model as a GGUF of `type` (f32, f16 or bf16; norms
/// and other 1-D tensors stay F32, as llama.cpp's converters keep them).
#[wasm_bindgen]
pub struct Importer {
    job: QuantizeJob<Box<dyn ModelSource>, Vec<u8>>,
}

#[wasm_bindgen]
impl Importer {
    /// A Hugging Face Llama-architecture model: `weights` is its
    /// model.safetensors; the JSON files are passed as text.
    #[wasm_bindgen(js_name = fromHuggingFace)]
    pub fn from_hugging_face(
        #[wasm_bindgen(unchecked_param_type = "Blob | Uint8Array")] weights: JsValue,
        #[wasm_bindgen(js_name = "configJson")] config_json: &str,
        #[wasm_bindgen(js_name = "tokenizerJson")] tokenizer_json: &str,
        #[wasm_bindgen(js_name = "tokenizerConfigJson")] tokenizer_config_json: Option<String>,
        name: &str,
        r#type: &str,
    ) -> Result<Importer, JsError> {
        let model = HfModel::open(
            source(weights, "model.safetensors")?,
            config_json,
            Some(tokenizer_json),
            tokenizer_config_json.as_deref(),
        )
        .map_err(js_err)?;
        let src = HfImport::new(model, name).map_err(js_err)?;
        Self::new(Box::new(src), r#type)
    }

    /// A llama2.c checkpoint and its tokenizer.bin.
    #[wasm_bindgen(js_name = fromLlama2c)]
    pub fn from_llama2c(
        #[wasm_bindgen(unchecked_param_type = "Blob | Uint8Array")] checkpoint: JsValue,
        tokenizer: &[u8],
        name: &str,
        r#type: &str,
    ) -> Result<Importer, JsError> {
        let model = Llama2cModel::open(source(checkpoint, "checkpoint")?).map_err(js_err)?;
        let vocab = llama2c::read_tokenizer(tokenizer, model.config.vocab_size).map_err(js_err)?;
        let src = Llama2cImport::new(model, name, &vocab).map_err(js_err)?;
        Self::new(Box::new(src), r#type)
    }

    fn new(src: Box<dyn ModelSource>, ty: &str) -> Result<Importer, JsError> {
        let ty = GgmlType::from_name(ty).map_err(js_err)?;
        if !matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
            return Err(JsError::new(&format!(
                "an import writes f32, f16 or bf16, not {}; quantize the imported model",
                ty.name()
            )));
        }
        let preset = Preset::Pure(ty);
        let targets = Target::plan(src.as_ref(), preset, false).map_err(js_err)?;
        let job = QuantizeJob::new(
            src,
            targets,
            preset::file_type(preset),
            Default::default(),
            Vec::new(),
        )
        .map_err(js_err)?;
        Ok(Importer { job })
    }

    /// The tensor count.
    pub fn total(&self) -> usize {
        self.job.progress().1
    }

    /// Write the next tensor; its report, or `undefined` when all are done.
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

    /// Check every tensor was written; the last output bytes.
    pub fn finish(self) -> Result<Vec<u8>, JsError> {
        self.job.finish().map_err(js_err)
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::io::gguf::GgufFile;
    use crate::model::tests::STORIES;

    const CKPT: &[u8] = include_bytes!("../../../../shared/models/stories260K/stories260K.bin");
    const TOK: &[u8] = include_bytes!("../../../../shared/models/stories260K/tok512.bin");
    const HF: &[u8] = include_bytes!("../../tests/data/hf-tiny/model/model.safetensors");
    const HF_CONFIG: &str = include_str!("../../tests/data/hf-tiny/model/config.json");
    const HF_TOK: &str = include_str!("../../tests/data/hf-tiny/model/tokenizer.json");

    fn run(mut imp: Importer) -> Vec<u8> {
        let mut out = imp.take_output();
        let mut steps = 0;
        while !imp.step().unwrap().is_undefined() {
            out.extend(imp.take_output());
            steps += 1;
        }
        assert_eq!(steps, imp.total());
        out.extend(imp.finish().unwrap());
        out
    }

    fn message(e: JsError) -> String {
        js_sys::Error::from(JsValue::from(e)).message().into()
    }

    #[test]
    fn llama2c_import_equals_the_bundled_gguf() {
        let ckpt = JsValue::from(js_sys::Uint8Array::from(CKPT));
        let out = run(Importer::from_llama2c(ckpt, TOK, "stories260K", "f32").unwrap());
        // The bundled file was converted the same way, before the converter
        // wrote general.quantization_version as llama.cpp's does.
        let (a, b) = (
            GgufFile::open(out.as_slice()).unwrap(),
            GgufFile::open(STORIES).unwrap(),
        );
        let mut meta = a.metadata.clone();
        meta.remove("general.quantization_version");
        assert_eq!(meta, b.metadata);
        assert_eq!(a.tensors.len(), b.tensors.len());
        for (x, y) in a.tensors.iter().zip(&b.tensors) {
            assert_eq!((&x.name, &x.dims), (&y.name, &y.dims));
            assert!(
                a.tensor_bytes(x).unwrap() == b.tensor_bytes(y).unwrap(),
                "{}",
                x.name
            );
        }
    }

    #[test]
    fn hugging_face_import_opens_as_gguf() {
        let w = JsValue::from(js_sys::Uint8Array::from(HF));
        let out =
            run(Importer::from_hugging_face(w, HF_CONFIG, HF_TOK, None, "tiny", "f16").unwrap());
        let g = GgufFile::open(out.as_slice()).unwrap();
        assert_eq!(
            g.tensors.len(),
            crate::io::safetensors::SafetensorsFile::open(HF)
                .unwrap()
                .tensors
                .len()
        );
    }

    #[test]
    fn bad_inputs_are_errors_naming_them() {
        let w = JsValue::from(js_sys::Uint8Array::from(HF));
        let e = Importer::from_hugging_face(w, HF_CONFIG, HF_TOK, None, "tiny", "q4_0")
            .err()
            .unwrap();
        assert!(message(e).contains("q4_0"));
        let e = Importer::from_hugging_face(JsValue::from(3), HF_CONFIG, HF_TOK, None, "t", "f16")
            .err()
            .unwrap();
        assert!(message(e).contains("model.safetensors"));
        let w = JsValue::from(js_sys::Uint8Array::from(HF));
        let e = Importer::from_hugging_face(w, "{", HF_TOK, None, "t", "f16")
            .err()
            .unwrap();
        assert!(message(e).contains("config.json"), "{}", "names the file");
        let ckpt = JsValue::from(js_sys::Uint8Array::from(&CKPT[..100]));
        assert!(Importer::from_llama2c(ckpt, TOK, "s", "f32").is_err());
    }
}
