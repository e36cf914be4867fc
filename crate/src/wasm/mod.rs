//! The JavaScript API (wasm-bindgen). The only module that knows about JS:
//! it converts arguments, calls the plain-Rust core, and turns every error
//! into a JS exception with the core's message (never a trap).

use wasm_bindgen::prelude::*;

use crate::io::gguf::GgufFile;
use crate::io::source::ByteSource;
use crate::model::ModelInfo;

mod blob;
mod calib;
mod import;
mod model_quant;
mod quant;
mod run;
mod teach;
pub use blob::BlobSource;

// The "threads" build (shared memory): `initThreadPool(n)` starts rayon's
// pool on n Web Workers; it must be exported from this crate's module.
#[cfg(target_feature = "atomics")]
pub use wasm_bindgen_rayon::init_thread_pool;

use std::sync::atomic::{AtomicUsize, Ordering};

/// The threads jobs split their work over (see `setThreads`).
static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Use up to `n` threads for running, evaluating and quantizing from the
/// next step on (results do not depend on the count). Returns the count
/// in effect: between 1 and the pool's size (1 in a build without threads,
/// or before `initThreadPool`).
#[wasm_bindgen(js_name = setThreads)]
pub fn set_threads(n: usize) -> usize {
    let n = n.clamp(1, crate::par::pool_size());
    THREADS.store(n, Ordering::Relaxed);
    n
}

/// The thread count `setThreads` chose.
pub(crate) fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    // Maps (not plain objects) would surprise JS callers; ask for objects.
    let s = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    v.serialize(&s).map_err(|e| JsError::new(&e.to_string()))
}

fn js_err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// Facts about this build: crate version, whether it uses wasm SIMD, whether
/// it has threads (shared memory), the pool's size and the threads in use.
#[wasm_bindgen(js_name = buildInfo)]
pub fn build_info() -> Result<JsValue, JsError> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Build {
        version: &'static str,
        simd128: bool,
        threaded: bool,
        pool_size: usize,
        threads: usize,
    }
    to_js(&Build {
        version: env!("CARGO_PKG_VERSION"),
        simd128: cfg!(target_feature = "simd128"),
        threaded: crate::par::THREADED,
        pool_size: crate::par::pool_size(),
        threads: threads(),
    })
}

/// The WebGPU adapter, or why there is none (`{available, name, reason, ...}`).
#[wasm_bindgen(js_name = gpuInfo)]
pub async fn gpu_info() -> Result<JsValue, JsError> {
    to_js(&crate::gpu::probe().await)
}

/// Where a model's bytes come from: memory, or a `Blob`/`File` read lazily.
enum Source {
    Bytes(Vec<u8>),
    Blob(BlobSource),
}

impl ByteSource for Source {
    fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => ByteSource::len(b),
            Source::Blob(b) => b.len(),
        }
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::Result<()> {
        match self {
            Source::Bytes(b) => b.read_at(offset, buf),
            Source::Blob(b) => b.read_at(offset, buf),
        }
    }
}

/// An opened GGUF model. Only the header is parsed on opening.
#[wasm_bindgen]
pub struct Model {
    // Shared with the jobs that read it (a quantization in progress).
    file: std::rc::Rc<GgufFile<Source>>,
}

#[wasm_bindgen]
impl Model {
    /// Open a GGUF held in memory.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Model, JsError> {
        let file = GgufFile::open(Source::Bytes(bytes)).map_err(js_err)?;
        Ok(Model { file: file.into() })
    }

    /// Open a GGUF `File`/`Blob` without copying it: byte ranges are read on
    /// demand (synchronously, so only inside a Web Worker).
    #[wasm_bindgen(js_name = fromBlob)]
    pub fn from_blob(blob: web_sys::Blob) -> Result<Model, JsError> {
        let src = BlobSource::new(blob).map_err(js_err)?;
        let file = GgufFile::open(Source::Blob(src)).map_err(js_err)?;
        Ok(Model { file: file.into() })
    }

    /// Name, architecture, parameter and tensor counts, tensor list.
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&ModelInfo::from_gguf(&self.file))
    }

    #[wasm_bindgen(js_name = tensorCount)]
    pub fn tensor_count(&self) -> usize {
        self.file.tensors.len()
    }

    /// Tensor `index` quantized to `type`: histograms of its values before
    /// and after over the same `bins` bins, and the error.
    #[wasm_bindgen(js_name = tensorView, unchecked_return_type = "TensorView")]
    pub fn tensor_view(&self, index: usize, r#type: &str, bins: usize) -> Result<JsValue, JsError> {
        let ty = crate::quant::GgmlType::from_name(r#type).map_err(js_err)?;
        let v =
            crate::model::quantize::tensor_view(&*self.file, index, ty, bins).map_err(js_err)?;
        to_js(&v)
    }

    /// Value statistics of tensor `index` (reads that tensor's bytes only).
    #[wasm_bindgen(js_name = tensorStats)]
    pub fn tensor_stats(&self, index: usize) -> Result<JsValue, JsError> {
        let stats = crate::model::tensor_stats(&self.file, index).map_err(js_err)?;
        to_js(&stats)
    }
}

#[cfg(all(test, feature = "gpu-browser-tests"))]
mod gpu_browser_tests;
#[cfg(test)]
mod tests;
