//! The quantizers against llama.cpp's own bytes (`../shared/vectors/ggml`,
//! written by ggml's `ggml_quantize_chunk`), then round-trip error bounds on
//! random data, then bad input.

use super::*;
use crate::quant::blocks::dequantize;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

macro_rules! vector {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/ggml/",
            $name
        ))
    };
}

const ROWS: usize = 32;
const ROW_LEN: usize = 512;

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn input() -> Vec<f32> {
    f32s(vector!("input.f32"))
}

fn imatrix() -> Vec<f32> {
    f32s(vector!("imatrix.f32"))
}

/// (type, bytes, dequantized, imatrix bytes, imatrix dequantized)
type Vector = (
    GgmlType,
    &'static [u8],
    &'static [u8],
    Option<(&'static [u8], &'static [u8])>,
);

fn vectors() -> Vec<Vector> {
    use GgmlType::*;
    vec![
        (
            Q4_0,
            vector!("q4_0.bin"),
            vector!("q4_0.deq.f32"),
            Some((vector!("q4_0.imatrix.bin"), vector!("q4_0.imatrix.deq.f32"))),
        ),
        (
            Q4_1,
            vector!("q4_1.bin"),
            vector!("q4_1.deq.f32"),
            Some((vector!("q4_1.imatrix.bin"), vector!("q4_1.imatrix.deq.f32"))),
        ),
        (
            Q5_0,
            vector!("q5_0.bin"),
            vector!("q5_0.deq.f32"),
            Some((vector!("q5_0.imatrix.bin"), vector!("q5_0.imatrix.deq.f32"))),
        ),
        (
            Q5_1,
            vector!("q5_1.bin"),
            vector!("q5_1.deq.f32"),
            Some((vector!("q5_1.imatrix.bin"), vector!("q5_1.imatrix.deq.f32"))),
        ),
        (Q8_0, vector!("q8_0.bin"), vector!("q8_0.deq.f32"), None),
        (
            Q2K,
            vector!("q2_K.bin"),
            vector!("q2_K.deq.f32"),
            Some((vector!("q2_K.imatrix.bin"), vector!("q2_K.imatrix.deq.f32"))),
        ),
        (
            Q3K,
            vector!("q3_K.bin"),
            vector!("q3_K.deq.f32"),
            Some((vector!("q3_K.imatrix.bin"), vector!("q3_K.imatrix.deq.f32"))),
        ),
        (
            Q4K,
            vector!("q4_K.bin"),
            vector!("q4_K.deq.f32"),
            Some((vector!("q4_K.imatrix.bin"), vector!("q4_K.imatrix.deq.f32"))),
        ),
        (
            Q5K,
            vector!("q5_K.bin"),
            vector!("q5_K.deq.f32"),
            Some((vector!("q5_K.imatrix.bin"), vector!("q5_K.imatrix.deq.f32"))),
        ),
        (
            Q6K,
            vector!("q6_K.bin"),
            vector!("q6_K.deq.f32"),
            Some((vector!("q6_K.imatrix.bin"), vector!("q6_K.imatrix.deq.f32"))),
        ),
        (
            IQ4NL,
            vector!("iq4_nl.bin"),
            vector!("iq4_nl.deq.f32"),
            Some((
                vector!("iq4_nl.imatrix.bin"),
                vector!("iq4_nl.imatrix.deq.f32"),
            )),
        ),
        (
            IQ4XS,
            vector!("iq4_xs.bin"),
            vector!("iq4_xs.deq.f32"),
            Some((
                vector!("iq4_xs.imatrix.bin"),
                vector!("iq4_xs.imatrix.deq.f32"),
            )),
        ),
        (TQ1_0, vector!("tq1_0.bin"), vector!("tq1_0.deq.f32"), None),
        (TQ2_0, vector!("tq2_0.bin"), vector!("tq2_0.deq.f32"), None),
        (MXFP4, vector!("mxfp4.bin"), vector!("mxfp4.deq.f32"), None),
    ]
}

/// Equal bytes, or a message naming the first differing row and byte.
fn same_bytes(
    ty: GgmlType,
    what: &str,
    got: &[u8],
    want: &[u8],
) -> std::result::Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{ty} {what}: {} bytes, want {}",
            got.len(),
            want.len()
        ));
    }
    let row = want.len() / ROWS;
    match got.iter().zip(want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{ty} {what}: row {} byte {} differs: got {:#04x}, want {:#04x}",
            i / row,
            i % row,
            got[i],
            want[i]
        )),
    }
}

fn same_floats(
    ty: GgmlType,
    what: &str,
    got: &[f32],
    want: &[f32],
) -> std::result::Result<(), String> {
    match got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits())
    {
        None if got.len() == want.len() => Ok(()),
        None => Err(format!(
            "{ty} {what}: {} values, want {}",
            got.len(),
            want.len()
        )),
        Some(i) => Err(format!(
            "{ty} {what}: row {} value {} differs: got {}, want {}",
            i / ROW_LEN,
            i % ROW_LEN,
            got[i],
            want[i]
        )),
    }
}

#[test]
fn quantized_bytes_equal_llama_cpp_for_every_type_and_row() {
    let x = input();
    let mut failures = Vec::new();
    for (ty, bin, _, _) in vectors() {
        let q = quantize(ty, &x, ROW_LEN, None).unwrap();
        if let Err(e) = same_bytes(ty, "quantize", &q, bin) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quantized_bytes_with_importance_equal_llama_cpp() {
    let (x, w) = (input(), imatrix());
    let mut failures = Vec::new();
    for (ty, _, _, im) in vectors() {
        let Some((bin, _)) = im else { continue };
        let q = quantize(ty, &x, ROW_LEN, Some(&w)).unwrap();
        if let Err(e) = same_bytes(ty, "quantize with imatrix", &q, bin) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dequantized_values_equal_llama_cpp_bit_for_bit() {
    let mut failures = Vec::new();
    for (ty, bin, deq, im) in vectors() {
        let got = dequantize(ty, bin, ROW_LEN).unwrap();
        if let Err(e) = same_floats(ty, "dequantize", &got, &f32s(deq)) {
            failures.push(e);
        }
        if let Some((bin, deq)) = im {
            let got = dequantize(ty, bin, ROW_LEN).unwrap();
            if let Err(e) = same_floats(ty, "dequantize (imatrix)", &got, &f32s(deq)) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_importance_matrix_changes_what_it_should() {
    let (x, w) = (input(), imatrix());
    for &ty in QUANTIZABLE {
        let plain = quantize(ty, &x, ROW_LEN, None).unwrap();
        let weighted = quantize(ty, &x, ROW_LEN, Some(&w)).unwrap();
        // Types without an imatrix path must ignore it; the others use it.
        assert_eq!(plain == weighted, !uses_importance(ty), "{ty}");
    }
}

/// A tiny deterministic generator (xorshift64*), so the tests need no crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let u = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32;
        2.0 * u - 1.0
    }
    fn normal(&mut self) -> f32 {
        (self.next() + self.next() + self.next() + self.next()) * 0.5
    }
}

/// Relative RMS error bound per type on this bell-shaped data: 1.25x the
/// worst value measured when the bounds were set (in brackets), so a
/// regression in any quantizer shows, while ggml-exact output passes.
fn rmse_bound(ty: GgmlType) -> f64 {
    use GgmlType::*;
    match ty {
        F32 => 0.0,
        F16 => 3e-4,            // [0.0002]
        BF16 => 2.2e-3,         // [0.0017]
        Q8_0 => 0.0065,         // [0.0052]
        Q6K => 0.021,           // [0.0169]
        Q5K => 0.044,           // [0.0346]
        Q5_0 => 0.051,          // [0.0408]
        Q5_1 => 0.046,          // [0.0366]
        Q4K => 0.087,           // [0.0694]
        Q4_1 => 0.095,          // [0.0753]
        Q4_0 => 0.103,          // [0.0820]
        IQ4NL | IQ4XS => 0.094, // [0.0752]
        MXFP4 => 0.149,         // [0.1185]
        Q3K => 0.18,            // [0.1438]
        Q2K => 0.361,           // [0.2881]
        TQ1_0 | TQ2_0 => 0.957, // [0.7651]: ternary, meant for ternary-trained weights
        _ => unreachable!(),
    }
}

#[test]
fn round_trip_error_is_within_each_types_bound() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for row_len in [256usize, 512, 2048] {
        let x: Vec<f32> = (0..row_len * 4).map(|_| rng.normal() * 0.05).collect();
        let norm = (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
        for &ty in QUANTIZABLE {
            let q = quantize(ty, &x, row_len, None).unwrap();
            assert_eq!(q.len(), 4 * ty.row_size(row_len).unwrap());
            let y = dequantize(ty, &q, row_len).unwrap();
            let mse = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                / x.len() as f64;
            let rel = mse.sqrt() / norm;
            assert!(
                rel <= rmse_bound(ty),
                "{ty} row {row_len}: relative RMSE {rel:.4} > {}",
                rmse_bound(ty)
            );
        }
    }
}

#[test]
fn edge_rows_quantize_and_dequantize_to_finite_values() {
    let row_len = 256;
    let mut rows: Vec<Vec<f32>> = vec![
        vec![0.0; row_len],
        vec![1.5; row_len],
        vec![-3.0; row_len],
        (0..row_len)
            .map(|i| if i == 17 { 1000.0 } else { 0.01 })
            .collect(),
        (0..row_len).map(|i| (i as f32 - 128.0) * 1e-7).collect(),
        (0..row_len).map(|i| (i as f32 - 128.0) * 300.0).collect(),
        (0..row_len)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
    ];
    rows.push(
        rows[0]
            .iter()
            .enumerate()
            .map(|(i, _)| (i % 7) as f32 - 3.0)
            .collect(),
    );
    for x in rows {
        for &ty in QUANTIZABLE {
            let q = quantize(ty, &x, row_len, None).unwrap();
            let y = dequantize(ty, &q, row_len).unwrap();
            assert!(y.iter().all(|v| v.is_finite()), "{ty}: non-finite output");
            if x.iter().all(|&v| v == 0.0) {
                assert!(y.iter().all(|&v| v == 0.0), "{ty}: zeros must stay zeros");
            }
        }
    }
}

#[test]
fn quantize_into_equals_quantize_and_rejects_a_wrong_buffer() {
    let x = input();
    for &ty in QUANTIZABLE {
        let q = quantize(ty, &x, ROW_LEN, None).unwrap();
        let mut dst = vec![0xAAu8; q.len()];
        quantize_into(ty, &x, ROW_LEN, None, &mut dst).unwrap();
        assert_eq!(dst, q, "{ty}: a reused buffer must be fully overwritten");
        let mut short = vec![0u8; q.len() - 1];
        assert!(quantize_into(ty, &x, ROW_LEN, None, &mut short).is_err());
    }
}

#[test]
fn bad_input_names_the_type_block_size_and_index() {
    let e = quantize(GgmlType::Q4K, &[0.0; 300], 300, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("q4_K") && e.contains("256") && e.contains("300"),
        "{e}"
    );
    let e = quantize(GgmlType::Q4_0, &[0.0; 48], 32, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("q4_0") && e.contains("48") && e.contains("32"),
        "{e}"
    );
    let mut x = vec![0.5f32; 64];
    x[37] = f32::NAN;
    let e = quantize(GgmlType::Q8_0, &x, 32, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("q8_0") && e.contains("index 37"), "{e}");
    x[37] = f32::INFINITY;
    let e = quantize(
        GgmlType::Q6K,
        &[x.clone(), vec![0.0; 192]].concat(),
        256,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("q6_K") && e.contains("37") && e.contains("inf"),
        "{e}"
    );
    let e = quantize(GgmlType::Q4_0, &[0.0; 32], 32, Some(&[1.0; 16]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("importance") && e.contains("16"), "{e}");
    let e = quantize(GgmlType::Q4_0, &[0.0; 32], 32, Some(&[-1.0; 32]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("importance"), "{e}");
    let e = quantize(GgmlType::Q8_1, &[0.0; 32], 32, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("q8_1"), "{e}");
    assert!(quantize(GgmlType::Q4_0, &[], 0, None).is_err());
}
