//! The fast paths (x86, wasm) against the scalar reference: equal bytes
//! on edge rows, ties, mixed scales and random rows, for every type that
//! has a fast quantizer in this build (the others are skipped per row).

use super::blocks::{edge_rows, first_byte_diff, Rng};
use super::{fast_quantize_row, quantizable, reference_quantize_row};
use crate::quant::blocks::quantize;
use crate::quant::types::{GgmlType, QK_K};
use proptest::prelude::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The fast TQ1_0 packers' `ceil(q * 256 / 243)` as `q + (13q + 242) / 243`
/// with the division done as `* 1079 >> 18`, for every byte.
#[test]
fn tq1_ceil_div_by_multiply_is_exact() {
    for q in 0u32..256 {
        let want = (q * 256).div_ceil(243) as u8;
        assert_eq!((q + ((q * 14027 + 261_118) >> 18)) as u8, want, "{q}");
    }
}

/// Fast path and reference on one row: equal bytes. Returns whether this
/// machine had a fast path for `ty`.
fn check_fast_row(ty: GgmlType, x: &[f32]) -> bool {
    let row_bytes = ty.row_size(x.len()).unwrap();
    let mut fast = vec![0x5Au8; row_bytes];
    if !fast_quantize_row(ty, x, &mut fast) {
        return false;
    }
    let mut reference = vec![0u8; row_bytes];
    reference_quantize_row(ty, x, &mut reference);
    if let Some(d) = first_byte_diff(ty, &fast, &reference, row_bytes) {
        panic!("fast path differs from reference: {d}; input {x:?}");
    }
    true
}

/// Rows whose scaled values land exactly on .5 (where `roundf` and
/// round-to-nearest-even part), and with the largest magnitude tied
/// between signs (the reference keeps the first).
fn tie_rows(n: usize) -> Vec<Vec<f32>> {
    vec![
        // amax 127 gives id = 1 for Q8_0 and -1 for Q8_K: x*id = k + 0.5
        (0..n)
            .map(|i| {
                if i % 32 == 0 {
                    127.0
                } else {
                    (i % 64) as f32 - 31.5
                }
            })
            .collect(),
        (0..n)
            .map(|i| {
                if i % 32 == 0 {
                    -127.0
                } else {
                    (i % 17) as f32 * 0.5 - 4.0
                }
            })
            .collect(),
        // Q4_0: max = -8 gives id = 1, x + 8.5 = k exactly
        (0..n)
            .map(|i| {
                if i % 32 == 3 {
                    -8.0
                } else {
                    (i % 16) as f32 * 0.5 - 4.0
                }
            })
            .collect(),
        (0..n)
            .map(|i| {
                if i % 7 == 0 {
                    -2.0
                } else if i % 5 == 0 {
                    2.0
                } else {
                    0.5
                }
            })
            .collect(),
        (0..n)
            .map(|i| if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect(),
    ]
}

/// The AVX2 and wasm IQ4 index searches (a count of table entries; a
/// count of midpoints by buckets of `floor(2x)`) against
/// `best_index_int8`'s binary search where they could part: the entries
/// and the midpoints between them (ties go up) and their neighbours, both
/// ends and beyond, the wasm buckets' and clamp's edges, signed zeros,
/// infinities, NaN, and a sweep of bit patterns.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
#[test]
fn iq4_fast_indices_match_reference() {
    use crate::quant::layout as dequant;
    use crate::quant::reference::{Iq4Kernels, Iq4Scalar};
    #[cfg(target_arch = "x86_64")]
    let fast_k = {
        if !crate::cpu::has_avx2() {
            return;
        }
        crate::quant::x86::quantize::Iq4Avx2
    };
    #[cfg(target_arch = "wasm32")]
    let fast_k = crate::quant::wasm::kquants::Iq4Wasm;
    let kv = &dequant::KVALUES_IQ4NL;
    let mut xs = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        -f32::MAX,
        f32::from_bits(1),
        -f32::from_bits(1),
        1e30,
    ];
    for w in kv.windows(2) {
        let (a, b) = (w[0] as f32, w[1] as f32);
        let mid = (a + b) / 2.0;
        for v in [a, b, mid] {
            xs.extend([v, v.next_up(), v.next_down()]);
        }
    }
    // The wasm search's buckets (16 wide, from -128) and clamp bounds of
    // `floor(2x)`, and a sweep over bit patterns of all exponents.
    for b in 0..=17 {
        let v = 16.0 * b as f32 - 128.5;
        for v in [v, v + 0.5, v + 0.25] {
            xs.extend([v, v.next_up(), v.next_down()]);
        }
    }
    xs.extend((0..u32::MAX).step_by(65_521).map(f32::from_bits));
    // Lengths that leave a tail after the 16-lane steps, too.
    for len in [xs.len(), xs.len() - 5] {
        for id in [1.0f32, -1.0, 0.5, 3.0, 1e-3, f32::INFINITY] {
            let (mut fast, mut want) = (vec![0xAAu8; len], vec![0x55u8; len]);
            fast_k.indices(kv, id, &xs[..len], &mut fast);
            Iq4Scalar.indices(kv, id, &xs[..len], &mut want);
            for i in 0..len {
                assert_eq!(fast[i], want[i], "id {id}, x {}", xs[i]);
            }
        }
    }
}

/// Rows whose 16-value sub-blocks differ in kind (zero, constant, all
/// positive, all negative, one outlier, tiny, random), so the fast paths
/// that run several sub-blocks side by side (one per lane) meet the
/// special cases next to ordinary ones.
fn mixed_rows(n: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(11);
    (0..4)
        .map(|shift| {
            (0..n)
                .map(|i| {
                    let (b, k) = (i / 16, i % 16);
                    match (b * 5 + shift) % 9 {
                        0 => 0.0,
                        1 => -0.0,
                        2 => 0.75,
                        3 => -2.5,
                        4 => rng.uniform() + 0.5,
                        5 => -rng.uniform() - 0.1,
                        6 => {
                            if k == 5 {
                                40.0
                            } else {
                                0.01 * rng.normal()
                            }
                        }
                        7 => rng.normal() * 1e-20,
                        _ => rng.normal(),
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn fast_quantizers_match_reference_on_edges() {
    let mut any = false;
    for ty in quantizable() {
        let n = QK_K * 2;
        for row in edge_rows(n)
            .into_iter()
            .chain(tie_rows(n))
            .chain(mixed_rows(n))
        {
            any |= check_fast_row(ty, &row);
        }
    }
    #[cfg(target_arch = "x86_64")]
    assert_eq!(any, crate::cpu::has_avx2());
    let _ = any;
}

#[test]
fn fast_quantizers_match_reference_on_random_rows() {
    let mut rng = Rng::new(10);
    for ty in quantizable() {
        for &n in &[256usize, 512, 4096] {
            for k in 0..30 {
                let scale = 2f32.powi(k % 40 - 20);
                let x: Vec<f32> = (0..n).map(|_| rng.normal() * scale).collect();
                check_fast_row(ty, &x);
                // Also through the public API, which picks the fast path.
                let mut want = vec![0u8; ty.row_size(n).unwrap()];
                reference_quantize_row(ty, &x, &mut want);
                assert_eq!(quantize(ty, &x, n, None).unwrap(), want, "{ty}");
            }
        }
    }
    // BF16 has blocks of one: lengths that leave a tail after the vectors.
    for n in [1usize, 7, 9, 4097] {
        check_fast_row(GgmlType::BF16, &rng.normals(n));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary finite floats (any bit pattern, so subnormals, huge
    /// values and exact integers all turn up), fast path against reference.
    #[test]
    fn fast_quantizers_match_reference_on_any_floats(
        which in 0..quantizable().len(),
        bits in proptest::collection::vec(any::<u32>(), QK_K),
        small in any::<bool>(),
    ) {
        let x: Vec<f32> = bits
            .iter()
            .map(|&b| {
                let v = f32::from_bits(b);
                let v = if v.is_finite() { v } else { 1.0 };
                // Half the cases squeezed into a narrow exponent range so
                // that many values share a block scale.
                if small { v.abs().min(4.0) * v.signum() * 0.37 } else { v }
            })
            .collect();
        check_fast_row(quantizable()[which], &x);
    }
}

/// `lanes::make_qx_quants` (the 19 trial scales side by side) against the
/// reference: the same scale bits and quants, with and without importance
/// weights, for every `nmax` and length ggml's callers use, on random,
/// edge and tie rows.
#[test]
fn make_qx_quants_lanes_equal_the_reference() {
    use crate::quant::lanes;
    use crate::quant::reference::make_qx_quants;
    let mut rng = Rng::new(77);
    let mut rows: Vec<Vec<f32>> = edge_rows(QK_K);
    rows.extend(tie_rows(QK_K));
    for _ in 0..64 {
        let scale = (rng.uniform() * 30.0 - 15.0).exp2();
        rows.push((0..QK_K).map(|_| rng.normal() * scale).collect());
    }
    for row in &rows {
        let weights: Vec<f32> = row.iter().map(|v| v.abs() + 0.25 * rng.uniform()).collect();
        for (nmax, n) in [(4, 16), (8, 32), (16, 32), (32, 16)] {
            for (x, w) in row.chunks_exact(n).zip(weights.chunks_exact(n)).take(4) {
                for qw in [None, Some(w)] {
                    let (mut a, mut b) = (vec![0i8; n], vec![0i8; n]);
                    let got = lanes::make_qx_quants(nmax, x, &mut a, qw);
                    let want = make_qx_quants(nmax, x, &mut b, qw);
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "nmax {nmax} weighted {}: scale {got:e} vs {want:e}; x {x:?}",
                        qw.is_some()
                    );
                    assert_eq!(
                        a,
                        b,
                        "nmax {nmax} weighted {}: quants; x {x:?}",
                        qw.is_some()
                    );
                }
            }
        }
    }
}
