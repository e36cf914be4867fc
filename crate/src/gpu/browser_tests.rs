//! The GPU kernels in a browser: headless Chromium's WebGPU, which on a
//! machine without a GPU is SwiftShader (no shader-f16, so this also checks
//! the f32 / unpack2x16float path). The native tests are `gpu::tests`; the
//! whole forward pass in the browser is `model::gpu_browser_tests`, the JS
//! API's `wasm::gpu_browser_tests`.
//!
//! wasm-bindgen's "run in browser" setting covers a whole test binary, and
//! the library's other wasm tests run in Node, so these are compiled only
//! with the `gpu-browser-tests` feature: `scripts/test-gpu-browser.sh` sets it, points
//! the runner at chromedriver and crate/webdriver.json (the WebGPU flags),
//! and runs only these. They fail, rather than pass, when WebGPU is missing.

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

use crate::gpu::{GpuContext, GpuMatrix, GpuOptions, MatMul, MatVec};
use crate::quant::blocks::quantize;
use crate::quant::{dequantize, GgmlType};

wasm_bindgen_test_configure!(run_in_browser);

async fn context() -> GpuContext {
    GpuContext::new(GpuOptions::default())
        .await
        .unwrap_or_else(|e| panic!("no WebGPU adapter in this browser ({e})"))
}

/// Pseudo-random values in [-1, 1).
fn values(n: usize, mut seed: u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

#[wasm_bindgen_test]
async fn gpu_browser_matvec_and_matmul_match_cpu() {
    let ctx = context().await;
    // Types without a block offset, whose bound is the plain one (see
    // gpu::tests): |gpu - ref| <= (cols + 8) 2^-24 sum |w_i x_i|.
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q3K,
        GgmlType::Q6K,
    ] {
        let (rows, cols) = (37, 512);
        let src = values(rows * cols, 3);
        let data = match ty {
            GgmlType::F32 => bytemuck::cast_slice(&src).to_vec(),
            _ => quantize(ty, &src, cols, None).unwrap(),
        };
        let m = GpuMatrix::new(&ctx, "w", ty, rows, cols, &data).unwrap();
        let rb = ty.row_size(cols).unwrap();
        // One token through the matrix-vector product, then 11 (a full and
        // a partial tile of 8) through the matrix-matrix one.
        let x = values(cols, 5);
        let y = MatVec::new(&ctx, &m).unwrap().run(&ctx, &x).await.unwrap();
        let n = 11;
        let xs = values(n * cols, 7);
        let ys = MatMul::new(&ctx, &m, n)
            .unwrap()
            .run(&ctx, &xs)
            .await
            .unwrap();
        for r in 0..rows {
            let w = dequantize(ty, &data[r * rb..(r + 1) * rb], cols).unwrap();
            let outputs = std::iter::once((&x[..], y[r]))
                .chain((0..n).map(|t| (&xs[t * cols..(t + 1) * cols], ys[t * rows + r])));
            for (x, got) in outputs {
                let want: f64 = w.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
                let mag: f64 = w
                    .iter()
                    .zip(x)
                    .map(|(&a, &b)| (a as f64 * b as f64).abs())
                    .sum();
                let bound = (cols + 8) as f64 * mag / (1u64 << 24) as f64;
                assert!(
                    (got as f64 - want).abs() <= bound,
                    "{} row {r}: {got} vs {want}",
                    ty.name(),
                );
            }
        }
    }
}
