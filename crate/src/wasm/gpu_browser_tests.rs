//! The JS API's GPU path in a browser: headless Chromium's WebGPU
//! (SwiftShader on a machine without a GPU). Compiled only with the
//! `gpu-browser-tests` feature and run by `scripts/test-gpu-browser.sh`, as
//! `gpu::browser_tests` (which says why). It fails, rather than passes, when
//! WebGPU is missing.

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

use crate::model::tests::STORIES;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn gpu_browser_js_runner_use_gpu_then_step_async() {
    // The JS API as the web app would call it.
    use crate::wasm::run::Runner as JsRunner;
    let text = |mut r: JsRunner| async move {
        r.start("Once upon", 40, Some(0.0), None, None, None, None)
            .unwrap();
        let mut out = String::new();
        while let Some(piece) = r.step_async().await.unwrap() {
            out.push_str(&piece);
        }
        out
    };
    let cpu = JsRunner::from_bytes(STORIES, Some(128)).unwrap();
    let mut gpu = JsRunner::from_bytes(STORIES, Some(128)).unwrap();
    let device = gpu
        .use_gpu()
        .await
        .unwrap_or_else(|_| panic!("useGpu failed in this browser"));
    assert!(device.starts_with("GPU ("), "{device}");
    assert_eq!(gpu.device(), device);
    assert_eq!(text(gpu).await, text(cpu).await);
}
