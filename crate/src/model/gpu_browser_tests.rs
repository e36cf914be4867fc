//! The whole forward pass (`model::gpu_forward`) in a browser: headless
//! Chromium's WebGPU (SwiftShader on a machine without a GPU). Compiled only
//! with the `gpu-browser-tests` feature and run by
//! `scripts/test-gpu-browser.sh`, as `gpu::browser_tests` (which says why).
//! They fail, rather than pass, when WebGPU is missing.

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

use crate::gpu::{Device, GpuOptions};
use crate::io::gguf::GgufFile;
use crate::model::generate::{generate, Generation, Runner};
use crate::model::sampler::SamplerConfig;
use crate::model::tests::STORIES;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn gpu_browser_stories260k_greedy_equals_cpu() {
    let g = GgufFile::open(STORIES).unwrap();
    let greedy = SamplerConfig {
        temperature: 0.0,
        ..SamplerConfig::default()
    };
    // A prompt of several tokens: one batch through the matrix-matrix path.
    let prompt = "Once upon a time, there was a little dog";
    let mut cpu = Runner::load(&g, 512).unwrap();
    let want = generate(&mut cpu, prompt, 60, greedy.clone()).unwrap();

    let mut gpu = Runner::load(&g, 512).unwrap();
    gpu.set_device(Device::Gpu, GpuOptions::default())
        .await
        .unwrap_or_else(|e| panic!("the GPU does not run stories260K here ({e})"));
    assert!(gpu.transformer.on_gpu());
    let mut gen = Generation::new(&gpu, prompt, 60, greedy).unwrap();
    let mut got = String::new();
    while let Some((_, piece)) = gen.step_async(&mut gpu).await.unwrap() {
        got.push_str(&piece);
    }
    assert_eq!(got, want, "on {}", gpu.transformer.device());
}
