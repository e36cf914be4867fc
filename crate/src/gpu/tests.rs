//! GPU kernels against the CPU, natively (lavapipe on a machine without a
//! GPU). These tests fail, rather than pass silently, when no adapter exists.
//! The whole forward pass on the GPU is tested in `model::gpu_tests`.
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

/// One context for the native GPU tests (opening a device takes time); also
/// `model::gpu_tests`'. Panics, naming the package, when there is no adapter.
pub(crate) fn ctx() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        pollster::block_on(GpuContext::new(GpuOptions::default())).unwrap_or_else(|e| {
            panic!(
                "no GPU adapter for the GPU tests ({e}); without a GPU they run on Mesa's \
                 lavapipe (CPU Vulkan): install it with `apt-get install mesa-vulkan-drivers` \
                 (scripts/setup.sh does)"
            )
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
    ctx(); // without an adapter, fail saying what to install
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
