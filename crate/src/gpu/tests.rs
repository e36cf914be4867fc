//! GPU kernels against the CPU, natively (lavapipe on a machine without a
//! GPU). These tests fail, rather than pass silently, when no adapter exists.
//!
//! Error bound of a matrix-vector product. The reference dequantizes each row
//! with the crate's bit-exact CPU dequantizer and sums `w_i * x_i` in f64.
//! The GPU dequantizes in f32 with the same formulas, but may order or fuse
//! the two or three operations of a weight differently (d*sc*q - dmin*m),
//! each rounding by at most u = 2^-24 of the magnitudes involved; it then sums
//! `cols` products in f32, in an order of its own (strided per thread, then a
//! tree), which costs at most (cols - 1) u of the sum of magnitudes. So for
//! every type
//!
//!   |gpu - ref| <= (cols + 8) u * sum_i |x_i| (|w_i| + 2 |m_i|)
//!
//! where m_i is the offset of weight i's (sub-)block: Q4_1 / Q5_1's m, the
//! K-quants' dmin * min; 0 for F32, F16, Q8_0, Q4_0, Q5_0, Q3_K, Q6_K (whose
//! bound is the plain (cols + 8) u * sum |x_i w_i|). The offset term is there
//! because `d*q - m` rounds relative to its operands, not its result.
//!
//! A matrix-matrix product computes each of its outputs as the
//! matrix-vector product does (same decode, same per-thread strides, same
//! tree), so each output has the same bound, with x the token's input.

use std::sync::OnceLock;

use super::*;
use crate::quant::blocks::quantize;
use crate::quant::{dequantize, GgmlType};

const U: f64 = 1.0 / (1u64 << 24) as f64;

/// One context for the tests of this module (opening a device takes time).
fn ctx() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        pollster::block_on(GpuContext::new(GpuOptions::default())).unwrap_or_else(|e| {
            panic!("no GPU adapter for the GPU tests ({e}); on Linux install Mesa's lavapipe")
        })
    })
}

/// Deterministic pseudo-random values, roughly N(0, 1).
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        (0..4).map(|_| self.uniform()).sum::<f32>() - 2.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal()).collect()
    }
}

fn f16_at(b: &[u8], o: usize) -> f32 {
    half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32()
}

/// The offsets m_i (see the module comment) of one packed row.
fn offsets(ty: GgmlType, row: &[u8], cols: usize) -> Vec<f32> {
    let bs = ty.block_size();
    let ts = ty.type_size();
    (0..cols)
        .map(|i| {
            let b = &row[(i / bs) * ts..(i / bs + 1) * ts];
            let e = i % bs;
            match ty {
                GgmlType::Q4_1 | GgmlType::Q5_1 => f16_at(b, 2),
                GgmlType::Q2K => {
                    let is = (e / 128) * 8 + (e % 128) / 32 * 2 + (e % 32) / 16;
                    f16_at(b, 82) * (b[is] >> 4) as f32
                }
                GgmlType::Q4K | GgmlType::Q5K => {
                    let (j, s) = (e / 32, &b[4..16]);
                    let m = if j < 4 {
                        s[j + 4] & 63
                    } else {
                        (s[j + 4] >> 4) | ((s[j] >> 6) << 4)
                    };
                    f16_at(b, 2) * m as f32
                }
                _ => 0.0,
            }
        })
        .collect()
}

/// Packed random rows of `ty`.
fn random_matrix(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let src = rng.vec(rows * cols);
    match ty {
        GgmlType::F32 => bytemuck::cast_slice(&src).to_vec(),
        _ => quantize(ty, &src, cols, None).unwrap(),
    }
}

/// Check `y` (n tokens' outputs, `rows` each) of the GPU product of the
/// packed matrix `data` with `x` (n tokens' inputs) against the bound;
/// returns the largest error as a fraction of its bound.
fn check_products(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    data: &[u8],
    x: &[f32],
    y: &[f32],
) -> f64 {
    let n = x.len() / cols;
    assert_eq!(y.len(), n * rows);
    let rb = ty.row_size(cols).unwrap();
    let mut worst = 0f64;
    for r in 0..rows {
        let row = &data[r * rb..(r + 1) * rb];
        let w = dequantize(ty, row, cols).unwrap();
        let off = offsets(ty, row, cols);
        for t in 0..n {
            let x = &x[t * cols..(t + 1) * cols];
            let got = y[t * rows + r];
            let reference: f64 = w.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
            let mag: f64 = (0..cols)
                .map(|i| (x[i] as f64).abs() * ((w[i] as f64).abs() + 2.0 * (off[i] as f64).abs()))
                .sum();
            let bound = (cols + 8) as f64 * U * mag;
            let err = (got as f64 - reference).abs();
            assert!(
                err <= bound,
                "{} {rows}x{cols} token {t} of {n} row {r}: gpu {got} cpu {reference} \
                 error {err:e} > bound {bound:e}",
                ty.name(),
            );
            if bound > 0.0 {
                worst = worst.max(err / bound);
            }
        }
    }
    worst
}

/// Run the GPU matrix-vector product and check every output against the
/// bound; returns the largest error as a fraction of its bound.
fn check_matvec(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let data = random_matrix(ty, rows, cols, &mut rng);
    let x = rng.vec(cols);
    let c = ctx();
    let m = GpuMatrix::new(c, "w", ty, rows, cols, &data).unwrap();
    let mv = MatVec::new(c, &m).unwrap();
    let y = pollster::block_on(mv.run(c, &x)).unwrap();
    check_products(ty, rows, cols, &data, &x, &y)
}

/// The same for the matrix-matrix product over `n` tokens.
fn check_matmul(ty: GgmlType, rows: usize, cols: usize, n: usize, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let data = random_matrix(ty, rows, cols, &mut rng);
    let x = rng.vec(n * cols);
    let c = ctx();
    let m = GpuMatrix::new(c, "w", ty, rows, cols, &data).unwrap();
    let mm = MatMul::new(c, &m, n).unwrap();
    let y = pollster::block_on(mm.run(c, &x)).unwrap();
    check_products(ty, rows, cols, &data, &x, &y)
}

#[test]
fn gpu_context_reports_adapter() {
    let c = ctx();
    assert!(c.info.available);
    assert!(!c.info.name.is_empty());
    assert!(c.max_binding >= 1 << 20);
}

#[test]
fn gpu_matvec_matches_cpu_every_type() {
    for (i, &ty) in kernels::GPU_TYPES.iter().enumerate() {
        let bs = ty.block_size();
        let col_choices: Vec<usize> = match bs {
            // Odd lengths, a partial last chunk, one and many chunks.
            1 => vec![1, 5, 31, 33, 64, 100, 577],
            32 => vec![32, 96, 160, 576],
            _ => vec![256, 512, 1536],
        };
        let mut worst = 0f64;
        for (j, &cols) in col_choices.iter().enumerate() {
            for (k, &rows) in [1usize, 3, 7, 33, 130].iter().enumerate() {
                let seed = 1 + (i * 100 + j * 10 + k) as u64;
                worst = worst.max(check_matvec(ty, rows, cols, seed));
            }
        }
        assert!(worst <= 1.0, "{}", ty.name());
    }
}

#[test]
fn gpu_matmul_matches_cpu_every_type() {
    for (i, &ty) in kernels::GPU_TYPES.iter().enumerate() {
        let col_choices: Vec<usize> = match ty.block_size() {
            // Odd lengths and a partial last chunk, one and several chunks.
            1 => vec![5, 33, 100],
            32 => vec![32, 160],
            _ => vec![256, 512],
        };
        let mut worst = 0f64;
        for (j, &cols) in col_choices.iter().enumerate() {
            // Rows not a multiple of a workgroup's 4; tokens a partial tile
            // (of 8), one tile and two.
            for (k, &rows) in [1usize, 7, 33].iter().enumerate() {
                for (l, &n) in [1usize, 3, 7, 16].iter().enumerate() {
                    let seed = 1 + (i * 1000 + j * 100 + k * 10 + l) as u64;
                    worst = worst.max(check_matmul(ty, rows, cols, n, seed));
                }
            }
        }
        assert!(worst <= 1.0, "{}", ty.name());
    }
}

#[test]
fn gpu_matmul_fewer_tokens_than_its_buffers_and_many_rows() {
    // A product made for 16 tokens run on 11, then on 2; then 270 000 rows
    // (67 500 workgroups, past the 65 535 of one dimension) over 3 tokens.
    let c = ctx();
    let (ty, rows, cols) = (GgmlType::Q4K, 37, 512);
    let mut rng = Rng(21);
    let data = random_matrix(ty, rows, cols, &mut rng);
    let m = GpuMatrix::new(c, "w", ty, rows, cols, &data).unwrap();
    let mm = MatMul::new(c, &m, 16).unwrap();
    for n in [11, 2] {
        let x = rng.vec(n * cols);
        let y = pollster::block_on(mm.run(c, &x)).unwrap();
        assert!(check_products(ty, rows, cols, &data, &x, &y) <= 1.0);
    }
    assert!(pollster::block_on(mm.run(c, &rng.vec(17 * cols))).is_err());

    let (ty, rows, cols) = (GgmlType::Q4_0, 270_000, 32);
    let data = random_matrix(ty, rows, cols, &mut rng);
    let x = rng.vec(3 * cols);
    let m = GpuMatrix::new(c, "w", ty, rows, cols, &data).unwrap();
    let y = pollster::block_on(MatMul::new(c, &m, 3).unwrap().run(c, &x)).unwrap();
    let rb = ty.row_size(cols).unwrap();
    for r in (0..rows).step_by(997).chain([rows - 1]) {
        let w = dequantize(ty, &data[r * rb..(r + 1) * rb], cols).unwrap();
        for t in 0..3 {
            let x = &x[t * cols..(t + 1) * cols];
            let reference: f64 = w.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
            let mag: f64 = w
                .iter()
                .zip(x)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            assert!(
                (y[t * rows + r] as f64 - reference).abs() <= (cols + 8) as f64 * U * mag,
                "row {r} token {t}"
            );
        }
    }
}

#[test]
fn gpu_matvec_splits_tensors_larger_than_a_binding() {
    // A 256-byte binding limit: 7 rows of Q4_0 x 64 (36 bytes) a buffer.
    let small = pollster::block_on(GpuContext::new(GpuOptions {
        max_binding_bytes: Some(256),
    }))
    .expect("no GPU adapter for the GPU tests");
    for ty in [GgmlType::Q4_0, GgmlType::Q6K, GgmlType::F16] {
        let cols = if ty.block_size() == 256 { 256 } else { 64 };
        let rows = 100;
        let mut rng = Rng(7);
        let data = random_matrix(ty, rows, cols, &mut rng);
        let x = rng.vec(cols);
        let split = GpuMatrix::new(&small, "w", ty, rows, cols, &data);
        if ty == GgmlType::Q6K {
            // 210 bytes a row plus a word of padding still fit in 256...
            let m = split.unwrap();
            assert_eq!(m.n_parts(), 100);
            let y = pollster::block_on(MatVec::new(&small, &m).unwrap().run(&small, &x)).unwrap();
            let whole = GpuMatrix::new(ctx(), "w", ty, rows, cols, &data).unwrap();
            assert_eq!(whole.n_parts(), 1);
            let y1 =
                pollster::block_on(MatVec::new(ctx(), &whole).unwrap().run(ctx(), &x)).unwrap();
            assert_eq!(y, y1, "{}", ty.name());
            continue;
        }
        let m = split.unwrap();
        assert!(m.n_parts() > 1, "{}: {} parts", ty.name(), m.n_parts());
        let y = pollster::block_on(MatVec::new(&small, &m).unwrap().run(&small, &x)).unwrap();
        // Each row is computed the same way whichever buffer holds it.
        let whole = GpuMatrix::new(ctx(), "w", ty, rows, cols, &data).unwrap();
        assert_eq!(whole.n_parts(), 1);
        let y1 = pollster::block_on(MatVec::new(ctx(), &whole).unwrap().run(ctx(), &x)).unwrap();
        assert_eq!(y, y1, "{}", ty.name());
        // So is each output of the matrix-matrix product, over 9 tokens.
        let xs = rng.vec(9 * cols);
        let ys = pollster::block_on(MatMul::new(&small, &m, 9).unwrap().run(&small, &xs)).unwrap();
        let ys1 =
            pollster::block_on(MatMul::new(ctx(), &whole, 9).unwrap().run(ctx(), &xs)).unwrap();
        assert_eq!(ys, ys1, "{}", ty.name());
        assert!(check_products(ty, rows, cols, &data, &xs, &ys) <= 1.0);
    }
    // ...but a row larger than a binding is refused with a reason.
    let err = GpuMatrix::new(&small, "w", GgmlType::F32, 1, 128, &[0; 512])
        .err()
        .expect("a 512-byte row in 256-byte bindings");
    assert!(
        err.to_string().contains("larger than a GPU binding"),
        "{err}"
    );
}

#[test]
fn gpu_matvec_more_rows_than_one_dispatch_dimension() {
    // 270 000 rows need 67 500 workgroups, past the 65 535 of one dimension.
    let (rows, cols, ty) = (270_000, 32, GgmlType::Q4_0);
    let mut rng = Rng(11);
    let data = random_matrix(ty, rows, cols, &mut rng);
    let x = rng.vec(cols);
    let m = GpuMatrix::new(ctx(), "w", ty, rows, cols, &data).unwrap();
    let y = pollster::block_on(MatVec::new(ctx(), &m).unwrap().run(ctx(), &x)).unwrap();
    let rb = ty.row_size(cols).unwrap();
    for r in (0..rows).step_by(997).chain([rows - 1]) {
        let w = dequantize(ty, &data[r * rb..(r + 1) * rb], cols).unwrap();
        let reference: f64 = w.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
        let mag: f64 = w
            .iter()
            .zip(&x)
            .map(|(&a, &b)| (a as f64 * b as f64).abs())
            .sum();
        assert!(
            (y[r] as f64 - reference).abs() <= (cols + 8) as f64 * U * mag,
            "row {r}"
        );
    }
}

// The whole forward pass: greedy text on the GPU equals the CPU's.

use crate::io::gguf::GgufFile;
use crate::model::generate::{generate, Runner};
use crate::model::sampler::SamplerConfig;
use crate::model::tests::STORIES;

fn greedy() -> SamplerConfig {
    SamplerConfig {
        temperature: 0.0,
        ..SamplerConfig::default()
    }
}

/// stories260K with every matrix whose rows are whole blocks turned into
/// `ty` (the others, e.g. the 172-wide ffn_down, stay F32).
fn stories_as(ty: GgmlType) -> Runner {
    let g = GgufFile::open(STORIES).unwrap();
    let mut r = Runner::load(&g, 512).unwrap();
    if ty != GgmlType::F32 {
        let w = &mut r.transformer.weights;
        let mut mats: Vec<&mut crate::model::weights::Matrix> = vec![&mut w.token_embd];
        for l in &mut w.layers {
            mats.extend([
                &mut l.wq,
                &mut l.wk,
                &mut l.wv,
                &mut l.wo,
                &mut l.w_gate,
                &mut l.w_up,
                &mut l.w_down,
            ]);
        }
        for m in mats {
            if m.cols.is_multiple_of(ty.block_size()) {
                let f = dequantize(m.ty, &m.data, m.rows * m.cols).unwrap();
                m.data = quantize(ty, &f, m.cols, None).unwrap();
                m.ty = ty;
            }
        }
    }
    r
}

fn gpu_text_equals_cpu(ty: GgmlType, prompt: &str) {
    let mut cpu = stories_as(ty);
    let mut gpu = stories_as(ty);
    pollster::block_on(gpu.set_device(Device::Gpu, GpuOptions::default()))
        .expect("the GPU runs stories260K");
    assert!(gpu.transformer.on_gpu() && !cpu.transformer.on_gpu());
    let want = generate(&mut cpu, prompt, 200, greedy()).unwrap();
    let got = generate(&mut gpu, prompt, 200, greedy()).unwrap();
    assert!(want.len() > 200, "{want:?}");
    assert_eq!(got, want, "{} on {}", ty.name(), gpu.transformer.device());
}

#[test]
fn gpu_stories260k_f32_greedy_equals_cpu() {
    gpu_text_equals_cpu(GgmlType::F32, "");
}

#[test]
fn gpu_stories260k_q8_0_greedy_equals_cpu() {
    gpu_text_equals_cpu(GgmlType::Q8_0, "");
}

#[test]
fn gpu_stories260k_prompt_greedy_equals_cpu() {
    // A prompt of several tokens goes through the GPU as one batch.
    // F32, not a 4-bit type: for those the CPU rounds the activations to
    // Q8_0 (as llama.cpp's CPU backend) and the GPU keeps them f32, so the
    // two compute different things and may part at a near-tie (Q4_0 here
    // does, 150 tokens in); F32 and Q8_0 above compare like with like.
    gpu_text_equals_cpu(GgmlType::F32, "Once upon a time, there was a little dog");
}

/// A prompt of more tokens than a GPU batch takes (64), so that it goes
/// through two batches.
const LONG_PROMPT: &str = "Once upon a time, there was a little girl named Lily. She loved to \
    play outside in the park with her big red ball. One day, she saw a bird in a tree. The bird \
    was sad because it could not fly. Lily wanted to help the bird, so she";

fn long_prompt_tokens() -> usize {
    let r = stories_as(GgmlType::F32);
    r.tokenizer.encode(LONG_PROMPT, true, false).len()
}

#[test]
fn gpu_stories260k_long_prompt_greedy_equals_cpu() {
    let n = long_prompt_tokens();
    assert!(n > 64, "{n} tokens");
    // F32 only: for Q8_0 the CPU runs a long prompt through its tiled
    // prompt kernel (quant::dot::gemm), whose float order differs from
    // both the reference and the GPU's, so the texts may part at a near-tie;
    // Q8_0 is compared token by token in gpu_stories260k_q8_0_greedy_equals_cpu.
    gpu_text_equals_cpu(GgmlType::F32, LONG_PROMPT);
}

#[test]
fn gpu_batch_logits_of_every_token_match_cpu() {
    // Logits of all of a prompt's tokens at once (as perplexity asks for),
    // from position 5 on, across two batches: each row's greedy choice is
    // the CPU's and every logit is within 1e-4 of the row's largest.
    let mut cpu = stories_as(GgmlType::F32);
    let mut gpu = stories_as(GgmlType::F32);
    pollster::block_on(gpu.set_device(Device::Gpu, GpuOptions::default())).unwrap();
    let toks = cpu.tokenizer.encode(LONG_PROMPT, true, false);
    let want = cpu.transformer.forward(&toks[..5], 0, 0).unwrap().to_vec();
    let got = gpu.transformer.forward(&toks[..5], 0, 0).unwrap().to_vec();
    let vocab = want.len() / 5;
    let want2 = cpu.transformer.forward(&toks[5..], 5, 0).unwrap().to_vec();
    let got2 = gpu.transformer.forward(&toks[5..], 5, 0).unwrap().to_vec();
    assert_eq!(want2.len(), (toks.len() - 5) * vocab);
    for (want, got) in [(want, got), (want2, got2)] {
        assert_eq!(want.len(), got.len());
        for (t, (w, g)) in want.chunks(vocab).zip(got.chunks(vocab)).enumerate() {
            let argmax = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            assert_eq!(argmax(w), argmax(g), "token {t}");
            let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = w.iter().zip(g).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff <= 1e-4 * scale, "token {t}: {diff} of {scale}");
        }
    }
}

#[test]
fn gpu_forward_splits_the_embeddings_past_a_binding() {
    // 512 x 64 f32 embeddings (128 KiB) in 16 KiB buffers: the token's row is
    // looked up in whichever buffer holds it, and the tied classifier runs
    // over all of them.
    let mut cpu = stories_as(GgmlType::F32);
    let mut gpu = stories_as(GgmlType::F32);
    pollster::block_on(gpu.set_device(
        Device::Gpu,
        GpuOptions {
            max_binding_bytes: Some(16 << 10),
        },
    ))
    .unwrap();
    let want = generate(&mut cpu, "", 100, greedy()).unwrap();
    assert_eq!(generate(&mut gpu, "", 100, greedy()).unwrap(), want);
    // A prompt's batches look their tokens up and run the classifier's
    // matrix-matrix product over the split buffers too.
    let want = generate(&mut cpu, LONG_PROMPT, 50, greedy()).unwrap();
    assert_eq!(generate(&mut gpu, LONG_PROMPT, 50, greedy()).unwrap(), want);
}

#[test]
fn back_on_the_cpu_after_the_gpu_the_text_is_the_cpus() {
    // The web app generates on the GPU, then evaluates on the CPU.
    let mut cpu = stories_as(GgmlType::F32);
    let mut moved = stories_as(GgmlType::F32);
    pollster::block_on(moved.set_device(Device::Gpu, GpuOptions::default())).unwrap();
    let on_gpu = generate(&mut moved, "", 50, greedy()).unwrap();
    moved.transformer.use_cpu().unwrap();
    assert_eq!(moved.transformer.device(), "CPU");
    let want = generate(&mut cpu, "", 100, greedy()).unwrap();
    assert!(want.starts_with(&on_gpu), "{on_gpu:?}");
    assert_eq!(generate(&mut moved, "", 100, greedy()).unwrap(), want);
}

#[test]
fn gpu_auto_skips_a_software_adapter_and_says_why() {
    let mut r = stories_as(GgmlType::F32);
    pollster::block_on(r.set_device(Device::Auto, GpuOptions::default())).unwrap();
    if ctx().info.software {
        assert!(!r.transformer.on_gpu());
        let note = r.device_note.expect("a reason for staying on the CPU");
        assert!(note.contains("emulates a GPU"), "{note}");
    } else {
        assert!(r.transformer.on_gpu(), "{:?}", r.device_note);
    }
}
