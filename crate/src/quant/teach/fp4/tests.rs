//! `quant::teach::fp4`: the decoded fields against ggml's MXFP4 dequantizer,
//! NVFP4's two scales worked by hand, and nearest rounding against a brute
//! force search of the E2M1 grid.

use super::*;
use crate::quant::synth;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The E2M1 magnitudes, code order.
const E2M1: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// The nearest of `factor · E2M1` to `x` by brute force (ties to the even
/// code, saturating at ±6·factor).
fn nearest(x: f32, factor: f32) -> f32 {
    let v = f64::from(x) / f64::from(factor);
    let mut best = (f64::INFINITY, 0usize);
    for (k, &e) in E2M1.iter().enumerate() {
        let d = (v.abs() - f64::from(e)).abs();
        if d < best.0 || (d == best.0 && k % 2 == 0) {
            best = (d, k);
        }
    }
    E2M1[best.1].copysign(x) * factor
}

#[test]
fn mxfp4_fields_decode_to_what_ggml_dequantizes() {
    for seed in 0..20 {
        let mut x = synth::weights(4, 32, seed);
        if seed == 1 {
            x[3] = 0.0;
            x[40..72].fill(0.0);
        }
        let q = quantize(&x, Fp4Format::Mxfp4).unwrap();
        assert_eq!(q.bytes.len(), 4 * 17);
        let lib = blocks::dequantize(GgmlType::MXFP4, &q.bytes, 128).unwrap();
        for (a, b) in q.decoded.iter().zip(&lib) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        for b in &q.blocks {
            // The block's largest value lands in E2M1's top binade [4, 8).
            if b.amax > 0.0 {
                let top = b.amax / b.scale;
                assert!((4.0..8.0).contains(&top), "{top}");
            }
            assert_eq!(b.factor, b.scale);
            assert_eq!(b.scale_bits, format!("{:08b}", b.scale_code.unwrap()));
        }
    }
    assert_eq!(
        quantize(&synth::weights(1, 32, 0), Fp4Format::Mxfp4)
            .unwrap()
            .bits_per_value,
        4.25
    );
}

#[test]
fn nvfp4_worked_example() {
    // Two blocks of 16: the first holds the tensor's largest value 3.0,
    // the second is ten times smaller.
    let mut x = vec![0.0f32; 32];
    x[0] = 3.0;
    x[1] = -1.0;
    x[2] = 0.3;
    x[16] = 0.3;
    x[17] = -0.1;
    let q = quantize(&x, Fp4Format::Nvfp4).unwrap();
    let s2 = 3.0f32 / 2688.0;
    assert_eq!(q.tensor_scale, Some(s2));
    // Block 0: 3.0 / (6 s2) = 448 exactly in E4M3 (0 1111 110).
    let b0 = &q.blocks[0];
    assert_eq!((b0.scale, b0.scale_bits.as_str()), (448.0, "01111110"));
    assert_eq!(q.decoded[0], 3.0 / 2688.0 * 448.0 * 6.0);
    assert_eq!(q.bits[0], "0111");
    // -1.0 / (448 s2) = -2 → code 1100; 0.3 / (448 s2) = 0.6 → 0.5.
    assert_eq!((q.element[1], q.bits[1].as_str()), (-2.0, "1100"));
    assert_eq!(q.element[2], 0.5);
    // Block 1: 0.3 / (6 s2) = 44.8 → E4M3 44 (0 1100 011, the nearest).
    let b1 = &q.blocks[1];
    assert_eq!((b1.scale, b1.scale_bits.as_str()), (44.0, "01100011"));
    assert_eq!(b1.factor, 44.0 * s2);
    // 0.3 / (44 s2) = 6.109 → 6 (saturates the grid's top); -0.1 → -2.036 → -2.
    assert_eq!((q.element[16], q.element[17]), (6.0, -2.0));
    // 1/8 of a bit for each scale, 1 for the tensor scale over 32 values.
    assert_eq!(q.bits_per_value, 4.0 + 0.5 + 1.0);
}

#[test]
fn every_variant_rounds_to_the_nearest_point_of_its_scaled_grid() {
    for seed in 0..10 {
        let x = synth::weights(2, 64, seed + 100);
        for format in [Fp4Format::Fp4, Fp4Format::Mxfp4, Fp4Format::Nvfp4] {
            let q = quantize(&x, format).unwrap();
            for (i, &v) in x.iter().enumerate() {
                let b = &q.blocks[i / q.block_size];
                let want = nearest(v, b.factor);
                // ggml's MXFP4 takes the first nearest code, not the even
                // one: at an exact tie either neighbour is nearest.
                let d_got = (f64::from(q.decoded[i]) - f64::from(v)).abs();
                let d_want = (f64::from(want) - f64::from(v)).abs();
                assert!(
                    d_got <= d_want * (1.0 + 1e-6),
                    "{format:?} {i}: {v} -> {} not {want}",
                    q.decoded[i]
                );
                assert_eq!(q.decoded[i], q.element[i] * b.factor);
                assert_eq!(q.errors[i], q.decoded[i] - v);
                assert_eq!(formats::fp4_e2m1_to_f32(q.codes[i]), q.element[i]);
            }
        }
        // Small weights: without a scale FP4 rounds them all to 0 or ±0.5;
        // the shared scales fit the grid to each block.
        let fp4 = quantize(&x, Fp4Format::Fp4).unwrap().stats.mse;
        let mx = quantize(&x, Fp4Format::Mxfp4).unwrap().stats.mse;
        let nv = quantize(&x, Fp4Format::Nvfp4).unwrap().stats.mse;
        assert!(nv < fp4 && mx < fp4, "{fp4} {mx} {nv}");
    }
}

#[test]
fn zeros_and_bad_input() {
    let q = quantize(&[0.0; 16], Fp4Format::Nvfp4).unwrap();
    assert_eq!((q.tensor_scale, q.blocks[0].scale), (Some(1.0), 1.0));
    assert_eq!(q.blocks[0].scale_bits, "00111000");
    assert!(q.decoded.iter().all(|&v| v == 0.0));
    let q = quantize(&[0.0; 32], Fp4Format::Mxfp4).unwrap();
    assert!(q.decoded.iter().all(|&v| v == 0.0));
    // Plain FP4 saturates at ±6.
    let q = quantize(&[7.0, -100.0, 0.25, 0.26], Fp4Format::Fp4).unwrap();
    assert_eq!(q.decoded, [6.0, -6.0, 0.0, 0.5]);
    let err = |v: &[f32], f| quantize(v, f).unwrap_err().to_string();
    assert!(err(&[1.0; 20], Fp4Format::Mxfp4).contains("multiple of 32"));
    assert!(err(&[1.0; 20], Fp4Format::Nvfp4).contains("multiple of 16"));
    assert!(err(&[], Fp4Format::Fp4).contains("1 to"));
    assert!(err(&[1.0, f32::NAN], Fp4Format::Fp4).contains("index 1"));
    assert!(Fp4Format::from_name("nvfp8")
        .unwrap_err()
        .to_string()
        .contains("nvfp8"));
    assert_eq!(Fp4Format::from_name("MXFP4").unwrap(), Fp4Format::Mxfp4);
}
