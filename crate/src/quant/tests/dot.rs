//! Tests for the dot products.
//!
//! Ground truth, strongest first:
//! 1. `testdata/ggml_dot.bin`: ggml's own `quantize_row_q8_1_ref`,
//!    `quantize_row_q8_K_ref` and `ggml_vec_dot_*_generic`, compiled from
//!    ggml d99724f (`testdata/gen_ggml_dot.c`), run on the shared vectors.
//!    Activation quantizers and the reference kernels must match bit for bit.
//! 2. `shared/vectors/ggml/q8_0.bin`: ggml's `quantize_row_q8_0_ref` output.
//! 3. Mathematics: a dot product equals `dequantize(w) · dequantize(a)` up
//!    to float rounding (bound stated at [`dot_bound`]).
//! 4. SIMD vs reference: bit-identical for the quantized types; a derived
//!    bound for f32/f16 (see [`fast_float_matches`]).

use super::{reference_kernel, reference_quantize_row};
use crate::error::{Error, Result};
use crate::quant::blocks::dequantize;
use crate::quant::dot::*;
use crate::quant::layout::{self, BlockQ8K as BlockQ8KView};
use crate::quant::reference;
use crate::quant::traits::VecDot;
use crate::quant::types::GgmlType;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::{gemm, packed, x8};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

macro_rules! vectors {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/ggml/",
            $name
        ))
    };
}

const ROWS: usize = 32;
const N: usize = 512;
const GGML_DOT: &[u8] = include_bytes!("../testdata/ggml_dot.bin");

/// The quantized weight types with a dot product, in `ggml_dot.bin` order,
/// with their shared test vectors.
const QUANT_TYPES: [(GgmlType, &[u8]); 15] = [
    (GgmlType::Q4_0, vectors!("q4_0.bin")),
    (GgmlType::Q4_1, vectors!("q4_1.bin")),
    (GgmlType::Q5_0, vectors!("q5_0.bin")),
    (GgmlType::Q5_1, vectors!("q5_1.bin")),
    (GgmlType::Q8_0, vectors!("q8_0.bin")),
    (GgmlType::Q2K, vectors!("q2_K.bin")),
    (GgmlType::Q3K, vectors!("q3_K.bin")),
    (GgmlType::Q4K, vectors!("q4_K.bin")),
    (GgmlType::Q5K, vectors!("q5_K.bin")),
    (GgmlType::Q6K, vectors!("q6_K.bin")),
    (GgmlType::IQ4NL, vectors!("iq4_nl.bin")),
    (GgmlType::IQ4XS, vectors!("iq4_xs.bin")),
    (GgmlType::TQ1_0, vectors!("tq1_0.bin")),
    (GgmlType::TQ2_0, vectors!("tq2_0.bin")),
    (GgmlType::MXFP4, vectors!("mxfp4.bin")),
];

const FLOAT_TYPES: [GgmlType; 3] = [GgmlType::F32, GgmlType::F16, GgmlType::BF16];

fn input_rows() -> Vec<f32> {
    vectors!("input.f32")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Activation row paired with weight row `r` in `ggml_dot.bin`.
fn act_row(input: &[f32], r: usize) -> &[f32] {
    &input[(ROWS - 1 - r) * N..(ROWS - r) * N]
}

/// splitmix64: small, deterministic, the same on every target.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Roughly normal (sum of uniforms), with an occasional outlier.
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.unit()).sum::<f32>() - 2.0;
        if self.below(64) == 0 {
            s * 20.0
        } else {
            s
        }
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next() as u8;
        }
    }
    /// A finite half float of magnitude 2^-14 .. 2^-2, either sign.
    fn f16_scale(&mut self) -> [u8; 2] {
        let e = -14.0 + 12.0 * self.unit();
        let s = if self.below(2) == 0 { 1.0 } else { -1.0 };
        layout::fp32_to_fp16(s * e.exp2()).to_le_bytes()
    }
}

/// Byte layout of one block: offsets of fp16 scales, range of quant bits
/// (everything that is not a scale), and whether the format has a min.
struct Layout {
    f16: &'static [usize],
    quants: core::ops::Range<usize>,
    has_min: bool,
}

fn layout(ty: GgmlType) -> Layout {
    use GgmlType::*;
    let (f16, quants, has_min): (&'static [usize], _, _) = match ty {
        Q4_0 | IQ4NL => (&[0], 2..18, false),
        Q4_1 => (&[0, 2], 4..20, true),
        Q5_0 => (&[0], 2..22, false),
        Q5_1 => (&[0, 2], 4..24, true),
        Q8_0 => (&[0], 2..34, false),
        MXFP4 => (&[], 1..17, false),
        Q2K => (&[80, 82], 16..80, true),
        Q3K => (&[108], 0..96, false),
        Q4K => (&[0, 2], 16..144, true),
        Q5K => (&[0, 2], 16..176, true),
        Q6K => (&[208], 0..192, false),
        IQ4XS => (&[0], 8..136, false),
        TQ1_0 => (&[52], 0..52, false),
        TQ2_0 => (&[64], 0..64, false),
        _ => (&[], 0..0, false),
    };
    Layout {
        f16,
        quants,
        has_min,
    }
}

/// A random row of `n` weights: random quant and sub-scale bytes, finite
/// fp16 scales (MXFP4: exponent 2^-10 .. 2^2). For float types, random
/// normal values.
fn random_weights(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    match ty {
        GgmlType::F32 => (0..n).flat_map(|_| rng.normal().to_le_bytes()).collect(),
        GgmlType::F16 => (0..n)
            .flat_map(|_| half::f16::from_f32(rng.normal()).to_le_bytes())
            .collect(),
        GgmlType::BF16 => (0..n)
            .flat_map(|_| half::bf16::from_f32(rng.normal()).to_le_bytes())
            .collect(),
        _ => {
            let mut w = vec![0u8; ty.row_size(n).unwrap()];
            rng.fill(&mut w);
            let l = layout(ty);
            for b in w.chunks_exact_mut(ty.type_size()) {
                for &o in l.f16 {
                    b[o..o + 2].copy_from_slice(&rng.f16_scale());
                }
                if ty == GgmlType::MXFP4 {
                    b[0] = 118 + rng.below(13) as u8;
                }
            }
            w
        }
    }
}

fn random_acts(n: usize, rng: &mut Rng) -> Vec<f32> {
    let scale = (rng.unit() * 8.0 - 4.0).exp2();
    (0..n).map(|_| rng.normal() * scale).collect()
}

/// Equal bits, or both NaN (NaN payloads may differ with operand order).
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn run_reference(ty: GgmlType, w: &[u8], act: &[u8]) -> f32 {
    match reference_kernel(ty).unwrap() {
        VecDot::Quant(f) => f(w, act),
        VecDot::Float(f) => {
            let y: Vec<f32> = act
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            f(w, &y)
        }
    }
}

#[test]
fn fp32_to_fp16_matches_round_to_nearest_even() {
    let mut rng = Rng(1);
    let specials = [
        0.0f32,
        -0.0,
        65504.0,
        65520.0,
        1e-8,
        5.96e-8,
        2.98e-8,
        f32::MAX,
        1.0 / 3.0,
    ];
    let randoms = (0..200_000).map(|_| f32::from_bits(rng.next() as u32));
    for x in specials.into_iter().chain(randoms).filter(|x| !x.is_nan()) {
        assert_eq!(
            layout::fp32_to_fp16(x),
            half::f16::from_f32(x).to_bits(),
            "{x:e}"
        );
    }
    assert_eq!(layout::fp32_to_fp16(f32::NAN), 0x7E00);
}

#[test]
fn quantize_row_q8_0_matches_ggml_vectors() {
    let input = input_rows();
    let mut out = vec![0u8; GgmlType::Q8_0.row_size(input.len()).unwrap()];
    quantize_row_q8_0(&input, &mut out).unwrap();
    assert_eq!(out, vectors!("q8_0.bin"));
    assert_eq!(
        quantize_activations(GgmlType::IQ4NL, &input).unwrap(),
        vectors!("q8_0.bin")
    );
}

#[test]
fn quantize_row_q8_1_and_q8_k_match_ggml() {
    let input = input_rows();
    let q81_len = GgmlType::Q8_1.row_size(N).unwrap();
    let q8k_len = GgmlType::Q8K.row_size(N).unwrap();
    let (q81, rest) = GGML_DOT.split_at(ROWS * q81_len);
    let q8k = &rest[..ROWS * q8k_len];
    for r in 0..ROWS {
        let x = act_row(&input, r);
        assert_eq!(
            quantize_activations(GgmlType::Q4_1, x).unwrap(),
            &q81[r * q81_len..(r + 1) * q81_len],
            "q8_1 row {r}"
        );
        assert_eq!(
            quantize_activations(GgmlType::Q4K, x).unwrap(),
            &q8k[r * q8k_len..(r + 1) * q8k_len],
            "q8_K row {r}"
        );
    }
}

#[test]
fn q8_k_rounds_ties_to_even_and_q8_0_away_from_zero() {
    // max = -127 makes iscale = 1, so x itself is rounded.
    let mut x = vec![0.0f32; 256];
    x[0] = -127.0;
    x[1] = 2.5;
    x[2] = -3.5;
    x[3] = 0.5;
    let q = quantize_activations(GgmlType::Q4K, &x).unwrap();
    let b: &BlockQ8KView = bytemuck::from_bytes(&q);
    assert_eq!(&b.qs[..4], &[-127, 2, -4, 0]);
    assert_eq!(f32::from_le_bytes(b.d), 1.0);
    // Q8_0: d = 127/127 = 1, roundf.
    let mut x = vec![0.0f32; 32];
    x[0] = 127.0;
    x[1] = 2.5;
    x[2] = -3.5;
    x[3] = 0.5;
    let q = quantize_activations(GgmlType::Q8_0, &x).unwrap();
    assert_eq!(&q[2..6], &[127, 3, (-4i8) as u8, 1]);
}

/// The activation quantizers' SIMD paths (the weight quantizers' Q8_0 and
/// Q8_K) against their scalar loops: random rows, zero blocks, ties,
/// one outlier, tiny and huge values. (Not subnormal-only blocks: there
/// `1/d` overflows and ggml's `(int8_t)roundf(inf)` is undefined.)
#[test]
fn activation_quantizers_fast_equals_scalar() {
    let mut rng = Rng(41);
    let n = 512;
    let mut rows: Vec<Vec<f32>> = (0..8).map(|_| random_acts(n, &mut rng)).collect();
    rows.push(vec![0.0; n]);
    let mut half_zero = random_acts(n, &mut rng);
    half_zero[..256].fill(0.0);
    rows.push(half_zero);
    rows.push((0..n).map(|i| (i % 7) as f32 - 3.5).collect());
    let mut outlier = vec![1.0e-3; n];
    outlier[300] = -900.0;
    rows.push(outlier);
    rows.push(vec![1.0e-30; n]);
    rows.push(vec![-3.0e38; n]);
    for x in &rows {
        for (vt, fast, scalar) in [
            (
                GgmlType::Q8_0,
                quantize_row_q8_0 as fn(&[f32], &mut [u8]) -> Result<()>,
                (|x, y| reference_quantize_row(GgmlType::Q8_0, x, y)) as fn(&[f32], &mut [u8]),
            ),
            (GgmlType::Q8K, quantize_row_q8_K, |x, y| {
                reference_quantize_row(GgmlType::Q8K, x, y)
            }),
        ] {
            let len = vt.row_size(n).unwrap();
            let (mut a, mut b) = (vec![0xAAu8; len], vec![0x55u8; len]);
            fast(x, &mut a).unwrap();
            scalar(x, &mut b);
            assert_eq!(a, b, "{vt} on {:?}..", &x[..4]);
        }
    }
}

#[test]
fn reference_matches_ggml_generic_bit_for_bit() {
    let input = input_rows();
    let q81_len = GgmlType::Q8_1.row_size(N).unwrap();
    let q8k_len = GgmlType::Q8K.row_size(N).unwrap();
    let dots = &GGML_DOT[ROWS * (q81_len + q8k_len)..];
    assert_eq!(dots.len(), QUANT_TYPES.len() * ROWS * 4);
    for (t, (ty, w)) in QUANT_TYPES.iter().enumerate() {
        let rb = ty.row_size(N).unwrap();
        for r in 0..ROWS {
            let at = 4 * (t * ROWS + r);
            let want = f32::from_le_bytes([dots[at], dots[at + 1], dots[at + 2], dots[at + 3]]);
            let act = quantize_activations(*ty, act_row(&input, r)).unwrap();
            let row = &w[r * rb..(r + 1) * rb];
            let got = run_reference(*ty, row, &act);
            assert!(same(got, want), "{ty} row {r}: {got:e} vs ggml {want:e}");
            let fast = vec_dot(*ty, row, &act, N).unwrap();
            assert!(
                same(fast, want),
                "{ty} row {r} (fast): {fast:e} vs ggml {want:e}"
            );
        }
    }
}

/// `Σ dequant(w)_i · dequant(a)_i` in f64, and the tolerance for `vec_dot`.
///
/// Bound: `(n/32 + 8) · 2^-23 · A`, with `A = Σ |a_i| · (|w_i| + |m_i|)`,
/// where `m_i` is the min term of the value's sub-block (formats with a
/// min; 0 otherwise). Why: the dot product adds at most `n/32` block terms
/// (plus 8 lanes) in f32, so recursive summation is within `(n/32 + 8)·u`
/// of exact, each term has at most 4 roundings, and the dequantized values
/// themselves carry up to 3 roundings each (`d*sc`, `*q`, `- m`); counted
/// on `A` rather than `Σ|w a|` because `d*q` and `m` can cancel.
/// Q4_1/Q5_1 add [`q8_1_sum_error`], the gap between ggml's `m·s` and
/// what the dequantized values give.
/// Float types: f32 products (`u` each), f64 sum, one final rounding:
/// `2^-23 · Σ|w a|`.
fn dot_bound(ty: GgmlType, w: &[u8], act: &[u8], n: usize) -> (f64, f64) {
    let wd = dequantize(ty, w, n).unwrap();
    let ad: Vec<f32> = match vec_dot_type(ty) {
        GgmlType::F32 => act
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        vt => dequantize(vt, act, n).unwrap(),
    };
    let l = layout(ty);
    let mins: Vec<f32> = if l.has_min {
        let mut w0 = w.to_vec();
        for b in w0.chunks_exact_mut(ty.type_size()) {
            b[l.quants.clone()].fill(0);
        }
        dequantize(ty, &w0, n).unwrap()
    } else {
        vec![0.0; n]
    };
    let exact: f64 = wd.iter().zip(&ad).map(|(&w, &a)| w as f64 * a as f64).sum();
    let a: f64 = (0..n)
        .map(|i| (ad[i] as f64).abs() * ((wd[i] as f64).abs() + (mins[i] as f64).abs()))
        .sum();
    let u = (-23f64).exp2();
    let tol = if ty.is_quantized() {
        (n as f64 / 32.0 + 8.0) * u * a + q8_1_sum_error(ty, w, act)
    } else {
        u * a
    };
    (exact, tol)
}

/// Q4_1/Q5_1 use `m * s` with Q8_1's stored `s = fp16(d_f32 * Σq)`, where
/// dequantization sees `fp16(d_f32) * Σq`: the two differ by fp16 rounding
/// (and by all of `s` when `d` underflows in fp16 but `s` does not).
/// Returns `Σ_blocks |m| · |s - d·Σq|` (0 for other types).
fn q8_1_sum_error(ty: GgmlType, w: &[u8], act: &[u8]) -> f64 {
    if vec_dot_type(ty) != GgmlType::Q8_1 {
        return 0.0;
    }
    let f16 = |b: &[u8], o: usize| act_f16(b[o], b[o + 1]);
    let e: f64 = w
        .chunks_exact(ty.type_size())
        .zip(act.chunks_exact(36))
        .map(|(wb, ab)| {
            let sum: f64 = ab[4..].iter().map(|&q| q as i8 as f64).sum();
            f16(wb, 2).abs() * (f16(ab, 2) - f16(ab, 0) * sum).abs()
        })
        .sum();
    e * (1.0 + 1e-9)
}

fn act_f16(lo: u8, hi: u8) -> f64 {
    crate::quant::layout::f16_le([lo, hi]) as f64
}

fn check_against_dequantized(ty: GgmlType, w: &[u8], act: &[u8], n: usize, what: &str) {
    let got = vec_dot(ty, w, act, n).unwrap() as f64;
    let (exact, tol) = dot_bound(ty, w, act, n);
    assert!(
        (got - exact).abs() <= tol,
        "{ty} {what} n={n}: {got:e} vs {exact:e}, |diff| {:e} > tol {tol:e}",
        (got - exact).abs()
    );
}

fn lengths(ty: GgmlType) -> Vec<usize> {
    let bs = ty.block_size();
    if bs == 1 {
        vec![1, 7, 8, 15, 16, 17, 31, 64, 100, 257, 1000]
    } else if bs == 32 {
        [1, 2, 3, 7, 8, 9, 16, 17, 40]
            .iter()
            .map(|k| k * bs)
            .collect()
    } else {
        [1, 2, 3, 5].iter().map(|k| k * bs).collect()
    }
}

fn all_types() -> impl Iterator<Item = GgmlType> {
    QUANT_TYPES.iter().map(|t| t.0).chain(FLOAT_TYPES)
}

#[test]
fn vec_dot_matches_dequantized_product_on_random_rows() {
    let mut rng = Rng(7);
    for ty in all_types() {
        for n in lengths(ty) {
            for _ in 0..4 {
                let w = random_weights(ty, n, &mut rng);
                let act = quantize_activations(ty, &random_acts(n, &mut rng)).unwrap();
                check_against_dequantized(ty, &w, &act, n, "random");
            }
        }
    }
}

#[test]
fn vec_dot_matches_dequantized_product_on_ggml_vectors() {
    let input = input_rows();
    for (ty, w) in QUANT_TYPES {
        let rb = ty.row_size(N).unwrap();
        for r in 0..ROWS {
            let act = quantize_activations(ty, act_row(&input, r)).unwrap();
            check_against_dequantized(ty, &w[r * rb..(r + 1) * rb], &act, N, "vectors");
        }
    }
    for ty in FLOAT_TYPES {
        for r in 0..ROWS {
            let x = &input[r * N..(r + 1) * N];
            let w: Vec<u8> = match ty {
                GgmlType::F32 => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
                GgmlType::F16 => x
                    .iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                    .collect(),
                _ => x
                    .iter()
                    .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                    .collect(),
            };
            let act = quantize_activations(ty, act_row(&input, r)).unwrap();
            check_against_dequantized(ty, &w, &act, N, "vectors");
        }
    }
}

/// Fast f32/f16/bf16 vs reference: both sum the same f32 products `p_i`
/// in f64, in different orders, so each is within `(n-1)·2^-53·Σ|p|` of
/// the exact sum; rounding both to f32 adds at most half an ulp each.
/// Tolerance: `n·2^-52·Σ|p| + 2^-23·|ref|`.
fn fast_float_matches(ty: GgmlType, w: &[u8], act: &[u8], n: usize) -> Result<(), String> {
    let fast = vec_dot(ty, w, act, n).unwrap();
    let reference = run_reference(ty, w, act);
    let wd = dequantize(ty, w, n).unwrap();
    let s: f64 = wd
        .iter()
        .zip(act.chunks_exact(4))
        .map(|(&w, b)| (w * f32::from_le_bytes([b[0], b[1], b[2], b[3]])).abs() as f64)
        .sum();
    let tol = n as f64 * (-52f64).exp2() * s + (-23f64).exp2() * (reference as f64).abs();
    let diff = (fast as f64 - reference as f64).abs();
    if same(fast, reference) || diff <= tol {
        Ok(())
    } else {
        Err(format!(
            "{ty} n={n}: fast {fast:e} vs reference {reference:e}, tol {tol:e}"
        ))
    }
}

/// A quantized dot product kernel: weight row bytes, activation bytes.
type QuantDot = fn(&[u8], &[u8]) -> f32;

/// Every quantized dot product kernel this machine can run for `ty`,
/// besides the one [`vec_dot`] picks: the AVX2 column where AVX-512 wins.
fn other_quant_kernels(ty: GgmlType) -> Vec<(&'static str, QuantDot)> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let t = crate::quant::traits::traits(ty);
        if crate::cpu::has_avx2() {
            if let Some(VecDot::Quant(f)) = t.x86.vec_dot {
                v.push(("avx2", f));
            }
        }
        if crate::cpu::has_avx512_kq() {
            if let Some(VecDot::Quant(f)) = t.avx512.vec_dot {
                v.push(("avx512", f));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ty;
    v
}

fn check_fast(ty: GgmlType, w: &[u8], act: &[u8], n: usize, what: &str) {
    if ty.is_quantized() {
        let fast = vec_dot(ty, w, act, n).unwrap();
        let reference = run_reference(ty, w, act);
        assert!(
            same(fast, reference),
            "{ty} {what} n={n}: fast {fast:e} ({:#x}) vs reference {reference:e} ({:#x})",
            fast.to_bits(),
            reference.to_bits()
        );
        for (isa, f) in other_quant_kernels(ty) {
            let got = f(w, act);
            assert!(
                same(got, reference),
                "{ty} {isa} {what} n={n}: {got:e} vs reference {reference:e}"
            );
        }
    } else if let Err(e) = fast_float_matches(ty, w, act, n) {
        panic!("{what}: {e}");
    }
}

#[test]
fn fast_paths_match_reference_on_random_rows() {
    let mut rng = Rng(11);
    for ty in all_types() {
        for n in lengths(ty) {
            for _ in 0..8 {
                let w = random_weights(ty, n, &mut rng);
                let act = quantize_activations(ty, &random_acts(n, &mut rng)).unwrap();
                check_fast(ty, &w, &act, n, "random");
            }
        }
    }
}

#[test]
fn fast_paths_match_reference_on_arbitrary_bytes() {
    // Every byte random, scales and Q8 activation bytes included: the
    // integer paths must be exact for any input, not just quantizer output
    // (e.g. q8 = -128, which sign tricks would mishandle).
    let mut rng = Rng(13);
    for (ty, _) in QUANT_TYPES {
        for n in lengths(ty) {
            for _ in 0..8 {
                let mut w = vec![0u8; ty.row_size(n).unwrap()];
                let mut act = vec![0u8; vec_dot_type(ty).row_size(n).unwrap()];
                rng.fill(&mut w);
                rng.fill(&mut act);
                check_fast(ty, &w, &act, n, "arbitrary bytes");
            }
        }
    }
}

#[test]
fn fast_paths_match_reference_on_edge_cases() {
    let mut rng = Rng(17);
    for ty in all_types() {
        let n = 4 * ty.block_size().max(8);
        let quantized = ty.is_quantized();
        let wlen = ty.row_size(n).unwrap();
        let alen = act_row_size(ty, n).unwrap();
        let mut cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
            ("zeros", vec![0u8; wlen], vec![0u8; alen]),
            (
                "zero activations",
                random_weights(ty, n, &mut rng),
                quantize_activations(ty, &vec![0.0; n]).unwrap(),
            ),
            (
                "constant activations",
                random_weights(ty, n, &mut rng),
                quantize_activations(ty, &vec![-0.75; n]).unwrap(),
            ),
            (
                "huge activations",
                random_weights(ty, n, &mut rng),
                quantize_activations(ty, &vec![3.0e38; n]).unwrap(),
            ),
        ];
        if quantized {
            // All quant bits set, scales finite; activations at the
            // extremes of i8 (Q8_K's d/bsums left as the fill wrote them).
            let mut w = vec![0xFFu8; wlen];
            let l = layout(ty);
            for b in w.chunks_exact_mut(ty.type_size()) {
                for &o in l.f16 {
                    b[o..o + 2].copy_from_slice(&layout::fp32_to_fp16(1.0).to_le_bytes());
                }
            }
            for fill in [0x80u8, 0x7F] {
                let mut a = vec![fill; alen];
                let bs = vec_dot_type(ty).type_size();
                for b in a.chunks_exact_mut(bs) {
                    if vec_dot_type(ty) == GgmlType::Q8K {
                        b[..4].copy_from_slice(&1.0f32.to_le_bytes());
                    } else {
                        b[..2].copy_from_slice(&layout::fp32_to_fp16(1.0).to_le_bytes());
                    }
                }
                cases.push(("max magnitudes", w.clone(), a));
            }
            let mut zero_scales = random_weights(ty, n, &mut rng);
            for b in zero_scales.chunks_exact_mut(ty.type_size()) {
                for &o in l.f16 {
                    b[o..o + 2].fill(0);
                }
            }
            let a = quantize_activations(ty, &random_acts(n, &mut rng)).unwrap();
            cases.push(("zero scales", zero_scales, a));
        } else {
            let big: Vec<u8> = match ty {
                GgmlType::F32 => (0..n).flat_map(|_| 1.0e19f32.to_le_bytes()).collect(),
                _ => [0xFF, 0x7B].repeat(n), // f16 65504 / bf16 ~1.3e36
            };
            let a = quantize_activations(ty, &vec![1.0e19; n]).unwrap();
            cases.push(("huge products", big, a));
        }
        for (what, w, a) in cases {
            check_fast(ty, &w, &a, n, what);
        }
    }
}

#[test]
fn matvec_matches_vec_dot_per_row() {
    let mut rng = Rng(19);
    for ty in all_types() {
        let (rows, cols) = (5, 2 * ty.block_size().max(16));
        let w: Vec<u8> = (0..rows)
            .flat_map(|_| random_weights(ty, cols, &mut rng))
            .collect();
        let x = random_acts(cols, &mut rng);
        let act = quantize_activations(ty, &x).unwrap();
        let mut out = vec![f32::NAN; rows];
        matvec(ty, &w, rows, cols, &x, &mut out).unwrap();
        let rb = ty.row_size(cols).unwrap();
        for (r, o) in out.iter().enumerate() {
            let want = vec_dot(ty, &w[r * rb..(r + 1) * rb], &act, cols).unwrap();
            assert!(same(*o, want), "{ty} row {r}: {o} vs {want}");
        }
        // Empty matrices are fine.
        matvec(ty, &[], 0, cols, &x, &mut []).unwrap();
        let mut one = [f32::NAN];
        matvec(ty, &[], 1, 0, &[], &mut one).unwrap();
        assert_eq!(one[0], 0.0);
    }
}

#[test]
fn vec_dot_type_is_ggmls() {
    use GgmlType::*;
    for (ty, want) in [
        (Q4_0, Q8_0),
        (Q4_1, Q8_1),
        (Q5_0, Q8_0),
        (Q5_1, Q8_1),
        (Q8_0, Q8_0),
        (IQ4NL, Q8_0),
        (MXFP4, Q8_0),
        (Q2K, Q8K),
        (Q3K, Q8K),
        (Q4K, Q8K),
        (Q5K, Q8K),
        (Q6K, Q8K),
        (IQ4XS, Q8K),
        (TQ1_0, Q8K),
        (TQ2_0, Q8K),
        (F32, F32),
        (F16, F32),
        (BF16, F32),
    ] {
        assert_eq!(vec_dot_type(ty), want, "{ty}");
    }
}

fn expect_bad_length<T: std::fmt::Debug>(r: Result<T>, ty: GgmlType) {
    match r {
        Err(Error::BadLength {
            ty: name,
            block_size,
            detail,
        }) => {
            assert_eq!(name, ty.name());
            assert_eq!(block_size, ty.block_size());
            assert!(!detail.is_empty());
            let msg = Error::BadLength {
                ty: name,
                block_size,
                detail,
            }
            .to_string();
            assert!(msg.contains(ty.name()) && msg.contains(&ty.block_size().to_string()));
        }
        other => panic!("{ty}: expected BadLength, got {other:?}"),
    }
}

#[test]
fn wrong_lengths_are_errors_not_panics() {
    let mut rng = Rng(23);
    for ty in all_types() {
        let bs = ty.block_size();
        let n = 2 * bs.max(8);
        let w = random_weights(ty, n, &mut rng);
        let act = quantize_activations(ty, &random_acts(n, &mut rng)).unwrap();
        assert!(vec_dot(ty, &w, &act, n).is_ok());
        expect_bad_length(vec_dot(ty, &w[..w.len() - 1], &act, n), ty);
        expect_bad_length(vec_dot(ty, &[w.as_slice(), &[0]].concat(), &act, n), ty);
        expect_bad_length(vec_dot(ty, &w, &act[..act.len() - 1], n), ty);
        expect_bad_length(vec_dot(ty, &w, &act, n + 1), ty);
        expect_bad_length(vec_dot(ty, &w, &act, usize::MAX), ty);
        if bs > 1 {
            expect_bad_length(vec_dot(ty, &w, &act, n - 1), ty);
            expect_bad_length(quantize_activations(ty, &vec![1.0; n - 1]), ty);
        }
        let x = vec![0.5f32; n];
        let mut out = vec![0.0f32; 2];
        expect_bad_length(matvec(ty, &w, 2, n, &x, &mut out), ty);
        expect_bad_length(matvec(ty, &w, 1, n, &x[1..], &mut out[..1]), ty);
        expect_bad_length(matvec(ty, &w, 1, n, &x, &mut out), ty);
        expect_bad_length(matvec(ty, &w, usize::MAX, n, &x, &mut out), ty);
        if bs > 1 {
            expect_bad_length(matvec(ty, &w, 1, n - 1, &x[1..], &mut out[..1]), ty);
        }
        assert!(vec_dot(ty, &[], &[], 0).unwrap() == 0.0);
    }
    // The row quantizers check their output size too.
    expect_bad_length(
        quantize_row_q8_0(&[0.0; 32], &mut [0u8; 33]),
        GgmlType::Q8_0,
    );
    expect_bad_length(
        quantize_row_q8_1(&[0.0; 31], &mut [0u8; 36]),
        GgmlType::Q8_1,
    );
    expect_bad_length(
        quantize_row_q8_K(&[0.0; 256], &mut [0u8; 291]),
        GgmlType::Q8K,
    );
}

#[test]
fn unsupported_types_and_non_finite_inputs_are_errors() {
    for ty in [
        GgmlType::Q8_1,
        GgmlType::Q8K,
        GgmlType::I8,
        GgmlType::I16,
        GgmlType::I32,
    ] {
        assert!(matches!(
            vec_dot(ty, &[], &[], 0),
            Err(Error::Unsupported {
                what: "dot product",
                ..
            })
        ));
        assert!(matches!(
            quantize_activations(ty, &[]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            matvec(ty, &[], 0, 0, &[], &mut []),
            Err(Error::Unsupported { .. })
        ));
    }
    for ty in all_types() {
        let n = ty.block_size().max(8);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![1.0f32; n];
            x[3] = bad;
            match quantize_activations(ty, &x) {
                Err(Error::NonFinite { index: 3, .. }) => {}
                other => panic!("{ty}: expected NonFinite, got {other:?}"),
            }
            let w = vec![0u8; ty.row_size(n).unwrap()];
            let mut out = [0.0f32];
            assert!(matches!(
                matvec(ty, &w, 1, n, &x, &mut out),
                Err(Error::NonFinite { index: 3, .. })
            ));
        }
    }
}

#[test]
fn matmul_matches_vec_dot_per_row_and_input() {
    // Batches of 1..=9 inputs cover the 4-input kernels and the remainder.
    let mut rng = Rng(23);
    for ty in all_types() {
        // 11 rows: a group of 8 for the 8-row kernels and 3 left over.
        let (rows, cols) = (11, 2 * ty.block_size().max(32));
        let w: Vec<u8> = (0..rows)
            .flat_map(|_| random_weights(ty, cols, &mut rng))
            .collect();
        for n in 1..=9 {
            let x = random_acts(n * cols, &mut rng);
            let mut out = vec![0.0; n * rows];
            matmul(ty, &w, rows, cols, &x, n, &mut out).unwrap();
            let rb = ty.row_size(cols).unwrap();
            for t in 0..n {
                let act = quantize_activations(ty, &x[t * cols..(t + 1) * cols]).unwrap();
                for r in 0..rows {
                    let wr = &w[r * rb..(r + 1) * rb];
                    let want = vec_dot(ty, wr, &act, cols).unwrap();
                    let got = out[t * rows + r];
                    if uses_gemm(ty, n) {
                        // The tiled kernel sums in another order: the bound
                        // of `check_gemm_value`.
                        check_gemm_value(ty, wr, &act, cols, got, want, "matmul");
                    } else if uses_float_batch(ty, n) {
                        let xt = &x[t * cols..(t + 1) * cols];
                        check_float_batch_value(ty, wr, xt, got, want, "matmul");
                    } else {
                        assert!(same(got, want), "{ty} n={n} t={t} r={r}");
                    }
                }
            }
        }
    }
}

/// Splitting the rows over threads changes nothing: every output of
/// `matmul_threads` and `matmul_prepared_threads` has the bits of the
/// one-thread `matmul`, for every type (gemm ones included), batch size and
/// thread count, on a row count that is not a multiple of the share size.
#[test]
fn threaded_matmul_is_bit_identical_to_one_thread() {
    let mut rng = Rng(29);
    for ty in all_types() {
        // 301 rows: 10 runs of 32 rows (several shares) with a ragged end.
        let (rows, cols) = (301, 1024);
        let w: Vec<u8> = (0..rows)
            .flat_map(|_| random_weights(ty, cols, &mut rng))
            .collect();
        for n in [1, 2, 5] {
            let x = random_acts(n * cols, &mut rng);
            let mut want = vec![0.0; n * rows];
            matmul(ty, &w, rows, cols, &x, n, &mut want).unwrap();
            for threads in [2, 3, 7] {
                let mut got = vec![f32::NAN; n * rows];
                matmul_threads(ty, &w, rows, cols, &x, n, &mut got, threads).unwrap();
                let first_diff = got.iter().zip(&want).position(|(a, b)| !same(*a, *b));
                assert_eq!(first_diff, None, "{ty} n={n} threads={threads}");
                if takes_prepared(ty) {
                    let p = prepare(ty, &x, cols, n).unwrap();
                    let mut got = vec![f32::NAN; n * rows];
                    matmul_prepared_threads(ty, &w, rows, cols, &p, &mut got, threads).unwrap();
                    let first_diff = got.iter().zip(&want).position(|(a, b)| !same(*a, *b));
                    assert_eq!(first_diff, None, "prepared {ty} n={n} threads={threads}");
                    // Weights packed at load time, where this CPU has kernels.
                    let packed = pack(ty, &w, rows, cols);
                    for t in [1, threads] {
                        let mut got = vec![f32::NAN; n * rows];
                        matmul_prepared_threads_packed(
                            ty,
                            &w,
                            packed.as_ref(),
                            rows,
                            cols,
                            &p,
                            &mut got,
                            t,
                        )
                        .unwrap();
                        let first_diff = got.iter().zip(&want).position(|(a, b)| !same(*a, *b));
                        assert_eq!(first_diff, None, "packed {ty} n={n} threads={t}");
                    }
                }
            }
        }
        // Wrong lengths are errors on the threaded path too.
        let x = random_acts(2 * cols, &mut rng);
        let mut short = vec![0.0; 2 * rows - 1];
        expect_bad_length(matmul_threads(ty, &w, rows, cols, &x, 2, &mut short, 4), ty);
        expect_bad_length(
            matmul_threads(ty, &w[1..], rows, cols, &x, 2, &mut short, 4),
            ty,
        );
    }
}

/// `row_shares` covers every row once in runs that start on a share
/// boundary, and `matmul_prepared_rows` over them (packed or not) gives the
/// bits of the matrix's own threaded product; rows off a boundary, past the
/// end or for more than one input are errors.
#[test]
fn row_shares_recompose_the_threaded_product() {
    let mut rng = Rng(29);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q5_0,
        GgmlType::Q4K,
        GgmlType::Q6K,
    ] {
        let cols = 2 * ty.block_size().max(32);
        for rows in [1, 31, 301, 4100] {
            let w: Vec<u8> = (0..rows)
                .flat_map(|_| random_weights(ty, cols, &mut rng))
                .collect();
            let x = random_acts(cols, &mut rng);
            let p = prepare(ty, &x, cols, 1).unwrap();
            let packed = pack(ty, &w, rows, cols);
            for threads in [1, 2, 3, 7] {
                let mut want = vec![0.0; rows];
                matmul_prepared_threads_packed(
                    ty,
                    &w,
                    packed.as_ref(),
                    rows,
                    cols,
                    &p,
                    &mut want,
                    threads,
                )
                .unwrap();
                let shares = row_shares(rows, cols, threads);
                assert_eq!(shares.iter().map(|s| s.1).sum::<usize>(), rows);
                assert!(shares.windows(2).all(|s| s[0].0 + s[0].1 == s[1].0));
                let mut got = vec![f32::NAN; rows];
                for (r0, nr) in shares {
                    let out = &mut got[r0..r0 + nr];
                    matmul_prepared_rows(ty, &w, packed.as_ref(), rows, cols, &p, r0, out).unwrap();
                }
                let diff = got.iter().zip(&want).position(|(a, b)| !same(*a, *b));
                assert_eq!(diff, None, "{ty} rows={rows} threads={threads}");
            }
            if rows > 32 {
                let mut o = vec![0.0; 4];
                expect_bad_length(
                    matmul_prepared_rows(ty, &w, None, rows, cols, &p, 5, &mut o),
                    ty,
                );
                let mut o = vec![0.0; rows];
                expect_bad_length(
                    matmul_prepared_rows(ty, &w, None, rows, cols, &p, 32, &mut o),
                    ty,
                );
            }
            let two = prepare(ty, &random_acts(2 * cols, &mut rng), cols, 2).unwrap();
            let mut o = vec![0.0; rows.min(32)];
            expect_bad_length(
                matmul_prepared_rows(ty, &w, None, rows, cols, &two, 0, &mut o),
                ty,
            );
        }
    }
}

/// The float kernels (simd128 and AVX2 convert halves in vector lanes) on
/// the values a lane conversion can get wrong: subnormals, signed zeros, the
/// largest finite values, and rows holding an infinity or a NaN.
#[test]
fn half_dots_match_the_reference_on_special_values() {
    let f16_finite: [u16; 8] = [
        0x0001, 0x03FF, 0x8001, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x3C00,
    ];
    let bf16_finite: [u16; 8] = [
        0x0001, 0x007F, 0x8001, 0x0000, 0x8000, 0x7F7F, 0xFF7F, 0x3F80,
    ];
    let (inf, nan) = ([0x7C00u16, 0xFC00, 0x7E00], [0x7F80u16, 0xFF80, 0x7FC0]);
    // three groups of 8 and a scalar tail; activations below 1, so that
    // BF16's largest finite values give finite products
    let n = 27;
    let y: Vec<f32> = (0..n).map(|k| 0.25 + k as f32 * 0.025).collect();
    for (ty, finite, non_finite, reference) in [
        (
            GgmlType::F16,
            f16_finite,
            inf,
            reference::vec_dot_f16 as fn(&[u8], &[f32]) -> f32,
        ),
        (GgmlType::BF16, bf16_finite, nan, reference::vec_dot_bf16),
    ] {
        let act = quantize_activations(ty, &y).unwrap();
        let row = |h: &dyn Fn(usize) -> u16| -> Vec<u8> {
            (0..n).flat_map(|k| h(k).to_le_bytes()).collect()
        };
        let finite_row = row(&|k| finite[(k * 3) % 8]);
        let want = reference(&finite_row, &y);
        let got = vec_dot(ty, &finite_row, &act, n).unwrap();
        assert!(
            (got - want).abs() <= want.abs() * 1e-6,
            "{ty}: {got:e} vs {want:e}"
        );
        // +inf, -inf and NaN in the vector part and in the tail
        for (at, special) in [(3, non_finite[0]), (12, non_finite[1]), (25, non_finite[2])] {
            let r = row(&|k| if k == at { special } else { finite[k % 8] });
            let (got, want) = (vec_dot(ty, &r, &act, n).unwrap(), reference(&r, &y));
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{ty} with {special:#06x} at {at}: {got} vs {want}"
            );
        }
    }
}

/// Whether `matmul` of `n` inputs takes the tiled kernel (`gemm`), whose
/// float sums are in another order (`x8`, bit-identical, comes first).
fn uses_gemm(ty: GgmlType, n: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    return n >= GEMM_MIN_BATCH
        && x8_isa(ty).is_none()
        && crate::quant::traits::traits(ty).simd().gemm;
    #[allow(unreachable_code)]
    {
        let _ = (ty, n);
        false
    }
}

/// Whether `matmul` of `n` inputs of float type `ty` takes the batched
/// float kernel (`Simd::fmatmul`, f32 sums).
fn uses_float_batch(ty: GgmlType, n: usize) -> bool {
    n >= BATCH_MIN && crate::quant::traits::traits(ty).simd().fmatmul.is_some()
}

/// A batched float result `got` (f32 sums, `quant::wasm::float`) for
/// weight row `w` and inputs `x`, against the reference's `want` (f64
/// sums). Both add the same f32 products `p`. The kernel's lane `j` adds
/// the products of columns `k ≡ j (mod 4)` in order, then the lanes go
/// pairwise, then at most 3 tail products: no product passes through more
/// than `m = n/4 + 5` f32 additions, each off by at most 2^-24 of its
/// result, so `|got - Σp| <= m·2^-24·Σ|p|` (to first order; the slack
/// below covers the rest), and the reference's f64 sum rounded to f32 is
/// within `2^-24·|Σp|` plus f64 noise. Tolerance: `(m+1)·2^-24·Σ|p| +
/// 2^-23·|want|`. Where the finite products' `Σ|p|` passes f32's range,
/// partial sums may overflow (as in ggml): only that case is exempt.
/// Otherwise a row with a non-finite product must give the reference's
/// value.
fn check_float_batch_value(ty: GgmlType, w: &[u8], x: &[f32], got: f32, want: f32, what: &str) {
    let n = x.len();
    let wd = dequantize(ty, w, n).unwrap();
    let p: Vec<f32> = wd.iter().zip(x).map(|(&w, &x)| w * x).collect();
    let s: f64 = p
        .iter()
        .filter(|p| p.is_finite())
        .map(|&p| (p as f64).abs())
        .sum();
    if s >= f32::MAX as f64 * (1.0 - (-20f64).exp2()) {
        return;
    }
    if p.iter().any(|p| !p.is_finite()) {
        assert!(same(got, want), "{ty} {what} n={n}: {got} vs {want}");
        return;
    }
    let m = (n / 4 + 5) as f64;
    let tol = (m + 1.0) * (-24f64).exp2() * s + (-23f64).exp2() * (want as f64).abs();
    let diff = (got as f64 - want as f64).abs();
    assert!(
        same(got, want) || diff <= tol,
        "{ty} {what} n={n}: {got:e} vs reference {want:e}, tol {tol:e}"
    );
}

/// A tiled-kernel result `got` for weight row `w` and activations `act`,
/// against the reference's `want`: both must be within [`dot_bound`] of the
/// exact product of the dequantized values (the kernel differs from the
/// reference only in float summation order; see `gemm`'s module comment),
/// hence within twice that of each other. Non-finite where the reference
/// is non-finite.
fn check_gemm_value(ty: GgmlType, w: &[u8], act: &[u8], n: usize, got: f32, want: f32, what: &str) {
    if !want.is_finite() {
        assert!(!got.is_finite(), "{ty} {what} n={n}: {got} vs {want}");
        return;
    }
    let (exact, tol) = dot_bound(ty, w, act, n);
    let (g, r) = (got as f64, want as f64);
    assert!(
        (g - exact).abs() <= tol && (g - r).abs() <= 2.0 * tol,
        "{ty} {what} n={n}: {got:e} vs reference {want:e}, exact {exact:e}, tol {tol:e}"
    );
}

/// The tiled kernel on `rows` weight rows and `n` activation rows (bytes as
/// the quantizer or anything else made them), each output checked against
/// the reference kernel.
#[cfg(target_arch = "x86_64")]
fn check_gemm(ty: GgmlType, w: &[u8], acts: &[u8], rows: usize, cols: usize, n: usize, what: &str) {
    let rb = ty.row_size(cols).unwrap();
    let ab = act_row_size(ty, cols).unwrap();
    let mut out = vec![f32::NAN; rows * n];
    gemm::matmul(
        ty,
        vec_dot_type(ty),
        w,
        rows,
        cols,
        rb,
        acts,
        ab,
        n,
        &mut out,
    );
    for t in 0..n {
        let a = &acts[t * ab..(t + 1) * ab];
        for r in 0..rows {
            let wr = &w[r * rb..(r + 1) * rb];
            let want = run_reference(ty, wr, a);
            check_gemm_value(ty, wr, a, cols, out[t * rows + r], want, what);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn gemm_types() -> impl Iterator<Item = GgmlType> {
    QUANT_TYPES
        .into_iter()
        .map(|(ty, _)| ty)
        .filter(|&ty| crate::quant::traits::traits(ty).simd().gemm)
}

/// A tiled kernel's check: weights, activations, rows, cols, tokens, label.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
type TileCheck<'a> = &'a dyn Fn(GgmlType, &[u8], &[u8], usize, usize, usize, &str);

#[cfg(target_arch = "x86_64")]
#[test]
fn gemm_matches_reference_on_random_tiles() {
    for ty in gemm_types() {
        random_tiles(ty, &check_gemm);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn gemm_matches_reference_on_arbitrary_bytes() {
    for ty in gemm_types() {
        arbitrary_bytes(ty, &check_gemm);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn gemm_matches_reference_on_edge_cases() {
    for ty in gemm_types() {
        edge_cases(ty, &check_gemm);
    }
}

/// Every `x8` instruction set this CPU has, with each of the three types.
#[cfg(target_arch = "x86_64")]
fn x8_isa_types() -> Vec<(x8::Isa, GgmlType)> {
    let types = [GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0];
    x8::Isa::available()
        .iter()
        .flat_map(|&isa| types.into_iter().map(move |ty| (isa, ty)))
        .collect()
}

/// `x8` with each instruction set this CPU has, against the reference bit
/// for bit.
#[cfg(target_arch = "x86_64")]
fn x8_cases(cases: fn(GgmlType, TileCheck)) {
    for (isa, ty) in x8_isa_types() {
        cases(ty, &|ty, w, acts, rows, cols, n, what| {
            let rb = ty.row_size(cols).unwrap();
            let ab = act_row_size(ty, cols).unwrap();
            // The repacking kernel on all rows, the 8-row matvec on
            // whole groups of 8.
            let mut out = vec![f32::NAN; rows * n];
            x8::matmul(isa, ty, w, rows, cols, rb, acts, ab, n, &mut out);
            let mut out_mv = vec![f32::NAN; rows * n];
            x8::matvec(isa, ty, w, rows, cols, rb, acts, ab, n, &mut out_mv);
            for t in 0..n {
                let a = &acts[t * ab..(t + 1) * ab];
                for r in 0..rows {
                    let want = run_reference(ty, &w[r * rb..(r + 1) * rb], a);
                    let got = out[t * rows + r];
                    assert!(
                        same(got, want),
                        "{ty} {isa:?} {what}: rows={rows} n={n} t={t} r={r}: {got:e} vs {want:e}"
                    );
                    if r < x8::matvec_rows(rows) {
                        let got = out_mv[t * rows + r];
                        assert!(
                                same(got, want),
                                "{ty} {isa:?} matvec {what}: rows={rows} n={n} t={t} r={r}: {got:e} vs {want:e}"
                            );
                    }
                }
            }
        });
    }
}

/// The decoding kernels on weights packed at load time (`packed`), with
/// each instruction set this CPU has, against the reference bit for bit;
/// rows past the last whole group of 8 are not packed.
#[cfg(target_arch = "x86_64")]
fn packed_cases(cases: fn(GgmlType, TileCheck)) {
    for (isa, ty) in x8_isa_types() {
        cases(ty, &|ty, w, acts, rows, cols, n, what| {
            let rb = ty.row_size(cols).unwrap();
            let ab = act_row_size(ty, cols).unwrap();
            // The cases' rows repeated to at least two groups of 8 and a
            // ragged end, so that small cases are packed too.
            let w = &w.repeat(if rows < 8 { 16 / rows + 1 } else { 1 });
            let rows = w.len() / rb;
            let p = packed::Packed::new(ty, w, rows, rb).unwrap();
            assert_eq!(p.rows(), rows / 8 * 8);
            assert_eq!(
                p.size(),
                (rows / 8) * w.len() / rows * 8,
                "{ty}: packed is the original's size"
            );
            let mut out = vec![f32::NAN; rows * n];
            packed::matvec(isa, p.groups(0, rows / 8), acts, ab, n, rows, &mut out);
            for t in 0..n {
                let a = &acts[t * ab..(t + 1) * ab];
                for r in 0..p.rows() {
                    let want = run_reference(ty, &w[r * rb..(r + 1) * rb], a);
                    let got = out[t * rows + r];
                    assert!(
                            same(got, want),
                            "{ty} {isa:?} packed {what}: rows={rows} n={n} t={t} r={r}: {got:e} vs {want:e}"
                        );
                }
            }
        });
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn packed_matches_reference_on_random_tiles() {
    packed_cases(random_tiles);
    packed_cases(tile_shapes);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn packed_matches_reference_on_arbitrary_bytes() {
    packed_cases(arbitrary_bytes);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn packed_matches_reference_on_edge_cases() {
    packed_cases(edge_cases);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x8_matches_reference_on_random_tiles() {
    x8_cases(random_tiles);
    x8_cases(tile_shapes);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x8_matches_reference_on_arbitrary_bytes() {
    x8_cases(arbitrary_bytes);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x8_matches_reference_on_edge_cases() {
    x8_cases(edge_cases);
}

#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn random_tiles(ty: GgmlType, check: TileCheck) {
    // Row counts across the 4- and 8-row tiles and the 32-row panel seams,
    // token counts across the 3- and 4-token tiles.
    let mut rng = Rng(29);
    {
        for &(rows, n) in &[
            (1, 1),
            (3, 4),
            (4, 3),
            (5, 7),
            (9, 13),
            (16, 8),
            (33, 5),
            (70, 10),
        ] {
            let cols = 2 * ty.block_size().max(32);
            let w: Vec<u8> = (0..rows)
                .flat_map(|_| random_weights(ty, cols, &mut rng))
                .collect();
            let acts: Vec<u8> = (0..n)
                .flat_map(|_| quantize_activations(ty, &random_acts(cols, &mut rng)).unwrap())
                .collect();
            check(ty, &w, &acts, rows, cols, n, "random");
        }
    }
}

#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn arbitrary_bytes(ty: GgmlType, check: TileCheck) {
    // Every quant byte random (Q8 activations at -128 included, which the
    // integer products must take exactly), scales finite, Q8_K's bsums summed.
    let mut rng = Rng(31);
    {
        let (rows, n, cols) = (6, 5, 3 * ty.block_size());
        let mut w = vec![0u8; rows * ty.row_size(cols).unwrap()];
        rng.fill(&mut w);
        let l = layout(ty);
        for b in w.chunks_exact_mut(ty.type_size()) {
            for &o in l.f16 {
                b[o..o + 2].copy_from_slice(&rng.f16_scale());
            }
        }
        let vt = vec_dot_type(ty);
        let mut acts = vec![0u8; n * vt.row_size(cols).unwrap()];
        rng.fill(&mut acts);
        for b in acts.chunks_exact_mut(vt.type_size()) {
            if vt == GgmlType::Q8K {
                // bsums consistent with the quants, as the bound assumes.
                b[..4].copy_from_slice(&(rng.normal() * 0.01).to_le_bytes());
                for j in 0..16 {
                    let sum: i32 = b[4 + 16 * j..20 + 16 * j]
                        .iter()
                        .map(|&q| q as i8 as i32)
                        .sum();
                    b[260 + 2 * j..262 + 2 * j].copy_from_slice(&(sum as i16).to_le_bytes());
                }
            } else {
                b[..2].copy_from_slice(&rng.f16_scale());
            }
        }
        check(ty, &w, &acts, rows, cols, n, "arbitrary bytes");
    }
}

#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn edge_cases(ty: GgmlType, check: TileCheck) {
    let mut rng = Rng(37);
    {
        let (rows, cols) = (5, 2 * ty.block_size());
        let w: Vec<u8> = (0..rows)
            .flat_map(|_| random_weights(ty, cols, &mut rng))
            .collect();
        let mut outlier = vec![0.001; cols];
        outlier[cols / 3] = 250.0;
        let inputs: Vec<(&str, Vec<f32>)> = vec![
            ("zeros", vec![0.0; cols]),
            ("constant", vec![-0.75; cols]),
            ("one outlier", outlier),
            ("tiny", vec![1.0e-30; cols]),
            ("huge", vec![6.0e6; cols]),
            ("random", random_acts(cols, &mut rng)),
            (
                "alternating",
                (0..cols)
                    .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                    .collect(),
            ),
        ];
        // All inputs in one batch of 7 (two full 3-token tiles and one
        // left over), and each alone.
        let acts: Vec<u8> = inputs
            .iter()
            .flat_map(|(_, x)| quantize_activations(ty, x).unwrap())
            .collect();
        check(ty, &w, &acts, rows, cols, inputs.len(), "edge-case batch");
        for (what, x) in &inputs {
            check(
                ty,
                &w,
                &quantize_activations(ty, x).unwrap(),
                rows,
                cols,
                1,
                what,
            );
        }
        // Zero weights, and all quant bits set with unit scales.
        let ab = act_row_size(ty, cols).unwrap();
        let wlen = rows * ty.row_size(cols).unwrap();
        check(
            ty,
            &vec![0u8; wlen],
            &acts,
            rows,
            cols,
            inputs.len(),
            "zero weights",
        );
        let mut full = vec![0xFFu8; wlen];
        for b in full.chunks_exact_mut(ty.type_size()) {
            for &o in layout(ty).f16 {
                b[o..o + 2].copy_from_slice(&layout::fp32_to_fp16(1.0).to_le_bytes());
            }
        }
        check(ty, &full, &acts[..ab * 3], rows, cols, 3, "all bits set");
    }
}

/// Every row count from 1 to 9 (odd ones leave a row of the simd128
/// kernels' row pairs alone) against every batch of 1 to 9 tokens (a
/// short last tile of 1, 2 or 3 tokens for each `n mod 4`).
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn tile_shapes(ty: GgmlType, check: TileCheck) {
    let mut rng = Rng(41);
    let cols = 2 * ty.block_size().max(32);
    for rows in 1..=9 {
        let w: Vec<u8> = (0..rows)
            .flat_map(|_| random_weights(ty, cols, &mut rng))
            .collect();
        for n in 1..=9 {
            let acts: Vec<u8> = (0..n)
                .flat_map(|_| quantize_activations(ty, &random_acts(cols, &mut rng)).unwrap())
                .collect();
            check(ty, &w, &acts, rows, cols, n, "shapes");
        }
    }
}

/// Half-float scale values a lane conversion or a reordered float step
/// could get wrong: signed zeros, the smallest and largest subnormals, the
/// largest finite values, infinities and NaN.
const SPECIAL_F16: [u16; 12] = [
    0x8000, 0x0000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00,
];

/// Kernels that are bit-identical to the reference, on blocks whose
/// scales (weights' and activations') are [`SPECIAL_F16`] values (Q8_K's
/// f32 scale: the same kinds of f32), one per block in turn, and on the
/// largest quant magnitudes (every weight bit set, activations at -128 and
/// 127) with unit scales.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn scale_cases(ty: GgmlType, check: TileCheck) {
    let special_f32 = [
        -0.0f32,
        0.0,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::from_bits(0x007F_FFFF),
        f32::MIN_POSITIVE,
        f32::MAX,
        -f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1.0,
    ];
    let mut rng = Rng(43);
    let vt = vec_dot_type(ty);
    let l = layout(ty);
    let (rows, n, cols) = (5, 6, 3 * ty.block_size());
    let mut k = 0;
    let mut next = || {
        k += 1;
        k
    };
    let mut w: Vec<u8> = (0..rows)
        .flat_map(|_| random_weights(ty, cols, &mut rng))
        .collect();
    for b in w.chunks_exact_mut(ty.type_size()) {
        for &o in l.f16 {
            let h = SPECIAL_F16[next() % SPECIAL_F16.len()];
            b[o..o + 2].copy_from_slice(&h.to_le_bytes());
        }
    }
    let mut acts: Vec<u8> = (0..n)
        .flat_map(|_| quantize_activations(ty, &random_acts(cols, &mut rng)).unwrap())
        .collect();
    for b in acts.chunks_exact_mut(vt.type_size()) {
        if vt == GgmlType::Q8K {
            let d = special_f32[next() % special_f32.len()];
            b[..4].copy_from_slice(&d.to_le_bytes());
        } else {
            // d, and Q8_1's s.
            let fields = if vt == GgmlType::Q8_1 { 2 } else { 1 };
            for f in 0..fields {
                let h = SPECIAL_F16[next() % SPECIAL_F16.len()];
                b[2 * f..2 * f + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
    }
    check(ty, &w, &acts, rows, cols, n, "special scales");

    // Largest magnitudes: every quant bit set, unit scales; activations
    // all -128 or all 127 (Q8_1's s and Q8_K's bsums as the quants say).
    let mut full = vec![0xFFu8; rows * ty.row_size(cols).unwrap()];
    for b in full.chunks_exact_mut(ty.type_size()) {
        for &o in l.f16 {
            b[o..o + 2].copy_from_slice(&layout::fp32_to_fp16(1.0).to_le_bytes());
        }
    }
    let mut acts = Vec::new();
    for (t, fill) in [0x80u8, 0x7F, 0x80].into_iter().enumerate() {
        let mut a = vec![fill; vt.row_size(cols).unwrap()];
        let q = fill as i8 as i32;
        for b in a.chunks_exact_mut(vt.type_size()) {
            match vt {
                GgmlType::Q8K => {
                    b[..4].copy_from_slice(&(0.5f32 + t as f32).to_le_bytes());
                    for j in 0..16 {
                        b[260 + 2 * j..262 + 2 * j].copy_from_slice(&(16 * q as i16).to_le_bytes());
                    }
                }
                GgmlType::Q8_1 => {
                    b[..2].copy_from_slice(&layout::fp32_to_fp16(1.0).to_le_bytes());
                    let s = layout::fp32_to_fp16((32 * q) as f32);
                    b[2..4].copy_from_slice(&s.to_le_bytes());
                }
                _ => b[..2].copy_from_slice(&layout::fp32_to_fp16(1.0).to_le_bytes()),
            }
        }
        acts.extend(a);
    }
    check(ty, &full, &acts, rows, cols, 3, "max magnitudes");

    // Wide integer sums: each activation near ±127 with the sign of its
    // weight's quant (times its sub-block scale), so block sums carry more
    // significant bits than f32 products of them keep exact, and the float
    // steps' order shows in the result.
    let w: Vec<u8> = (0..rows)
        .flat_map(|_| random_weights(ty, cols, &mut rng))
        .collect();
    let mut unit = w.clone();
    for b in unit.chunks_exact_mut(ty.type_size()) {
        // d = 1 and any min 0: what is left is the signed quant.
        for (i, &o) in l.f16.iter().enumerate() {
            let h = if i == 0 { layout::fp32_to_fp16(1.0) } else { 0 };
            b[o..o + 2].copy_from_slice(&h.to_le_bytes());
        }
    }
    let rb = ty.row_size(cols).unwrap();
    let acts: Vec<u8> = (0..n)
        .flat_map(|t| {
            let signs = dequantize(ty, &unit[(t % rows) * rb..(t % rows + 1) * rb], cols).unwrap();
            let q: Vec<i8> = signs
                .iter()
                .map(|&v| {
                    let m = 127 - rng.below(8) as i8;
                    if v < 0.0 || (v == 0.0 && rng.below(2) == 0) {
                        -m
                    } else {
                        m
                    }
                })
                .collect();
            q8_bytes(vt, &q, &mut rng)
        })
        .collect();
    check(ty, &w, &acts, rows, cols, n, "wide sums");
}

/// Activation blocks of type `vt` (Q8_0, Q8_1, Q8_K) holding the quants
/// `q`, with random scales and Q8_1's `s` / Q8_K's `bsums` consistent.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn q8_bytes(vt: GgmlType, q: &[i8], rng: &mut Rng) -> Vec<u8> {
    let bs = vt.block_size();
    let mut out = Vec::new();
    for q in q.chunks_exact(bs) {
        let qb = q.iter().map(|&v| v as u8);
        match vt {
            GgmlType::Q8K => {
                out.extend((rng.unit() * 0.01 + 1e-4).to_le_bytes());
                out.extend(qb);
                for g in q.chunks_exact(16) {
                    let sum: i32 = g.iter().map(|&v| v as i32).sum();
                    out.extend((sum as i16).to_le_bytes());
                }
            }
            _ => {
                let d = rng.f16_scale();
                out.extend(d);
                if vt == GgmlType::Q8_1 {
                    let sum: i32 = q.iter().map(|&v| v as i32).sum();
                    let s = layout::f16_le(d) * sum as f32;
                    out.extend(layout::fp32_to_fp16(s).to_le_bytes());
                }
                out.extend(qb);
            }
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x8_matches_reference_on_special_scales() {
    x8_cases(scale_cases);
}

/// The simd128 batched kernels (`Simd::matmul`, `quant::wasm::batch`)
/// against the reference bit for bit, every output.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn batch_cases(cases: fn(GgmlType, TileCheck)) {
    use crate::quant::traits::traits;
    for (ty, _) in QUANT_TYPES {
        let Some(f) = traits(ty).simd().matmul else {
            continue;
        };
        cases(ty, &|ty, w, acts, rows, cols, n, what| {
            let rb = ty.row_size(cols).unwrap();
            let ab = act_row_size(ty, cols).unwrap();
            let mut out = vec![f32::NAN; rows * n];
            f(w, rows, rb, acts, ab, n, &mut out);
            for t in 0..n {
                let a = &acts[t * ab..(t + 1) * ab];
                for r in 0..rows {
                    let want = run_reference(ty, &w[r * rb..(r + 1) * rb], a);
                    let got = out[t * rows + r];
                    assert!(
                        same(got, want),
                        "{ty} batch {what}: rows={rows} n={n} t={t} r={r}: {got:e} ({:#x}) vs {want:e} ({:#x})",
                        got.to_bits(),
                        want.to_bits()
                    );
                }
            }
        });
    }
}

/// The types of Q4_0, Q8_0 and Q4_K_M files, and the other 32-value and
/// k-quant formats with Q8_0 / Q8_1 / Q8_K activations, have a batched
/// simd128 kernel.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[test]
fn batch_kernels_cover_the_prompt_types() {
    use crate::quant::traits::traits;
    use GgmlType::*;
    for ty in [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4K, Q5K, Q6K] {
        assert!(traits(ty).simd().matmul.is_some(), "{ty}");
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[test]
fn batch_matches_reference_on_random_tiles() {
    batch_cases(random_tiles);
    batch_cases(tile_shapes);
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[test]
fn batch_matches_reference_on_arbitrary_bytes() {
    batch_cases(arbitrary_bytes);
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[test]
fn batch_matches_reference_on_edge_cases() {
    batch_cases(edge_cases);
    batch_cases(scale_cases);
}

/// The simd128 float prompt kernels (`Simd::fmatmul`) against the
/// reference within [`check_float_batch_value`]'s bound: random rows of
/// every width class (below 4, tails of 1 to 3, panels of 8 rows and a
/// remainder), special values (subnormals, signed zeros, the largest
/// finite values, infinities, NaNs) and huge products; and each output the
/// same bits whatever batch the input is in.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[test]
fn float_batch_matches_reference() {
    use crate::quant::traits::traits;
    let mut rng = Rng(41);
    for ty in FLOAT_TYPES {
        let f = traits(ty).simd().fmatmul.expect("every float type has one");
        let specials: &[u16] = match ty {
            GgmlType::F16 => &[
                0x0001, 0x83FF, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00,
            ],
            GgmlType::BF16 => &[
                0x0001, 0x807F, 0x0000, 0x8000, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x7FC0,
            ],
            _ => &[],
        };
        for (rows, cols) in [(1, 1), (3, 3), (8, 4), (9, 5), (11, 31), (17, 64), (5, 67)] {
            for case in 0..4 {
                let mut w: Vec<u8> = (0..rows)
                    .flat_map(|_| random_weights(ty, cols, &mut rng))
                    .collect();
                let mut x = random_acts(9 * cols, &mut rng);
                match case {
                    // special weights scattered over the matrix
                    1 if !specials.is_empty() => {
                        for (i, c) in w.chunks_exact_mut(2).enumerate() {
                            if rng.below(4) == 0 {
                                c.copy_from_slice(&specials[i % specials.len()].to_le_bytes());
                            }
                        }
                    }
                    1 => {
                        for c in w.chunks_exact_mut(4) {
                            if rng.below(4) == 0 {
                                let v =
                                    [f32::MAX, -0.0, 1e-45, f32::INFINITY, f32::NAN][rng.below(5)];
                                c.copy_from_slice(&v.to_le_bytes());
                            }
                        }
                    }
                    // products near and past f32's range
                    2 => x.iter_mut().for_each(|v| *v *= 1.0e30),
                    3 => x.iter_mut().for_each(|v| *v = 0.0),
                    _ => {}
                }
                let rb = ty.row_size(cols).unwrap();
                let Some(VecDot::Float(reference)) = reference_kernel(ty) else {
                    panic!("{ty} has a float reference dot product");
                };
                for n in [3, 4, 5, 9] {
                    let mut out = vec![f32::NAN; rows * n];
                    f(&w, rows, rb, &x[..n * cols], cols, n, &mut out);
                    for t in 0..n {
                        let xt = &x[t * cols..(t + 1) * cols];
                        for r in 0..rows {
                            let wr = &w[r * rb..(r + 1) * rb];
                            let want = reference(wr, xt);
                            let got = out[t * rows + r];
                            check_float_batch_value(ty, wr, xt, got, want, "fmatmul");
                        }
                    }
                    // The last input alone in a batch of 3 (the others
                    // before it) has the same bits as in this batch.
                    let mut alone = vec![f32::NAN; rows * 3];
                    f(
                        &w,
                        rows,
                        rb,
                        &x[(n - 3) * cols..n * cols],
                        cols,
                        3,
                        &mut alone,
                    );
                    for r in 0..rows {
                        assert!(
                            same(alone[2 * rows + r], out[(n - 1) * rows + r]),
                            "{ty} rows={rows} cols={cols} n={n} r={r}: batch changed a result"
                        );
                    }
                }
            }
        }
    }
}
