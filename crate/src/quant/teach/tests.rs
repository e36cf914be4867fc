//! `quant::teach`: worked examples from the visual guides, the conventions
//! of the module comment, the calibration methods, and properties over
//! random input.

// In wasm the same tests run under wasm-bindgen's runner (Node).
use super::*;
use proptest::prelude::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const GUIDE: [f32; 8] = [1.2, -0.5, -4.3, 1.2, -3.1, 0.8, 2.4, 5.4];

fn cfg(
    scheme: Scheme,
    bits: u32,
    granularity: Granularity,
    calibration: Calibration,
) -> QuantConfig {
    QuantConfig {
        scheme,
        bits,
        granularity,
        calibration,
    }
}

fn round4(v: f32) -> f64 {
    (f64::from(v) * 1e4).round() / 1e4
}

#[test]
fn absmax_worked_example() {
    let q = absmax(&GUIDE, 8).unwrap();
    assert_eq!(q.values, [28, -12, -101, 28, -73, 19, 56, 127]);
    let deq: Vec<f64> = q.dequantized.iter().map(|&v| round4(v)).collect();
    assert_eq!(
        deq,
        [1.1906, -0.5102, -4.2945, 1.1906, -3.1039, 0.8079, 2.3811, 5.4]
    );
    assert_eq!(q.dequantized[7], 5.4);
    let g = &q.groups[0];
    assert_eq!(
        (g.lo, g.hi, g.zero_point),
        (-f64::from(5.4f32), f64::from(5.4f32), 0)
    );
    assert!((g.scale - 5.4 / 127.0).abs() < 1e-9);
    assert!((g.inv_scale - 127.0 / 5.4).abs() < 1e-6);
    assert_eq!((q.qmin, q.qmax), (-127, 127));
    assert!((q.scaled[0] - 28.222).abs() < 1e-3);
    assert!(q.clamped.iter().all(|c| !c));
    // 2.4 -> 56 -> 2.3811 is the worst element.
    assert_eq!(q.stats.max_abs_error_index, 6);
    assert!((q.stats.max_abs_error - (2.4 - 56.0 * 5.4 / 127.0)).abs() < 1e-6);
    assert!(q.stats.sqnr_db.unwrap() > 30.0);
}

#[test]
fn single_value_example() {
    let s = quantize_value(0.3, -1.0, 1.0, Scheme::Symmetric, 8).unwrap();
    assert_eq!(
        (s.q, s.rounded, s.clamped, s.zero_point),
        (38, 38, false, 0)
    );
    assert_eq!(round4(s.dequantized), 0.2992);
    assert!((s.scaled - 38.1).abs() < 1e-5);
    assert!((s.scale - 1.0 / 127.0).abs() < 1e-15);
    // Outside the range: clamped to qmax.
    let s = quantize_value(1.5, -1.0, 1.0, Scheme::Symmetric, 8).unwrap();
    assert_eq!(
        (s.q, s.rounded, s.clamped, s.dequantized),
        (127, 191, true, 1.0)
    );
    // Affine in [-1, 1]: Δ = 2/255, zero point round(127.5) = 128.
    let s = quantize_value(0.3, -1.0, 1.0, Scheme::Asymmetric, 8).unwrap();
    assert_eq!((s.zero_point, s.q), (128, 166));
    assert_eq!(round4(s.dequantized), 0.298);
    // Half away from zero: 0.5 step rounds up in magnitude both ways.
    let s = quantize_value(0.5, -127.0, 127.0, Scheme::Symmetric, 8).unwrap();
    assert_eq!(s.q, 1);
    let s = quantize_value(-0.5, -127.0, 127.0, Scheme::Symmetric, 8).unwrap();
    assert_eq!(s.q, -1);
}

#[test]
fn zero_point_worked_example() {
    let q = zero_point(&GUIDE, 8).unwrap();
    let g = &q.groups[0];
    // Δ = (5.4 + 4.3) / 255; the guide's s = 255 / 9.7 ≈ 26.29 is 1/Δ.
    assert!((g.scale - 9.7 / 255.0).abs() < 1e-8);
    assert!((g.inv_scale - 26.2887).abs() < 1e-4);
    assert_eq!(g.zero_point, 113);
    assert_eq!(q.values, [145, 100, 0, 145, 32, 134, 176, 255]);
    assert_eq!((q.qmin, q.qmax), (0, 255));
    let deq: Vec<f64> = q.dequantized.iter().map(|&v| round4(v)).collect();
    assert_eq!(
        deq,
        [1.2173, -0.4945, -4.2984, 1.2173, -3.0812, 0.7988, 2.3965, 5.4016]
    );

    // The guide's signed-int8 formulation: s = 255/(max-min),
    // z = round(-s·min) - 128, q = round(s·x + z). Same integers - 128.
    let s = 255.0 / (5.4f64 + 4.3);
    let z = (-s * -4.3f64).round() - 128.0;
    assert_eq!(z, -15.0);
    let guide: Vec<i32> = GUIDE
        .iter()
        .map(|&x| (s * f64::from(x) + z).round() as i32)
        .collect();
    assert_eq!(guide, [17, -28, -128, 17, -96, 6, 48, 127]);
    let ours: Vec<i32> = q.values.iter().map(|v| v - 128).collect();
    assert_eq!(ours, guide);
    assert_eq!(g.zero_point - 128, z as i32);
}

#[test]
fn all_positive_and_all_zero() {
    // The range is widened to include 0, so 0 stays exact.
    let q = zero_point(&[1.0, 2.0, 3.0], 8).unwrap();
    assert_eq!((q.groups[0].lo, q.groups[0].zero_point), (0.0, 0));
    assert_eq!(q.values, [85, 170, 255]);
    let q = absmax(&[0.0, 0.0], 4).unwrap();
    assert_eq!(
        (q.values.clone(), q.dequantized.clone()),
        (vec![0, 0], vec![0.0, 0.0])
    );
    assert_eq!((q.groups[0].scale, q.groups[0].inv_scale), (0.0, 0.0));
    assert!(q.stats.exact);
    let q = zero_point(&[0.0], 2).unwrap();
    assert_eq!(q.values, [0]);
}

#[test]
fn granularity() {
    // Two rows with very different magnitudes.
    let data = [1.0, -2.0, 3.0, -4.0, 100.0, 50.0, -25.0, 10.0];
    let t = quantize(
        &data,
        2,
        4,
        &cfg(
            Scheme::Symmetric,
            8,
            Granularity::PerTensor,
            Calibration::MinMax,
        ),
    )
    .unwrap();
    let r = quantize(
        &data,
        2,
        4,
        &cfg(
            Scheme::Symmetric,
            8,
            Granularity::PerRow,
            Calibration::MinMax,
        ),
    )
    .unwrap();
    let g = quantize(
        &data,
        2,
        4,
        &cfg(
            Scheme::Symmetric,
            8,
            Granularity::PerGroup { size: 2 },
            Calibration::MinMax,
        ),
    )
    .unwrap();
    assert_eq!((t.groups.len(), r.groups.len(), g.groups.len()), (1, 2, 4));
    assert_eq!(r.groups[1].row, 1);
    assert_eq!(
        (g.groups[3].row, g.groups[3].start, g.groups[3].len),
        (1, 6, 2)
    );
    assert_eq!(r.values[..4], [32, -64, 95, -127]);
    assert_eq!(g.values[..4], [64, -127, 95, -127]);
    assert!(g.stats.mse < r.stats.mse && r.stats.mse < t.stats.mse);
    assert_eq!(g.group_of(5).unwrap().index, 2);
    let step = g.step(5, data[5]).unwrap();
    assert_eq!((step.q, step.dequantized), (g.values[5], g.dequantized[5]));
    assert!(g.step(8, 0.0).is_none());
}

/// Deterministic standard-normal-ish samples (Box-Muller on an LCG).
fn normal(n: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
        })
        .collect()
}

#[test]
fn calibration_clips_outlier() {
    let mut data = normal(10_000);
    data[1234] = 20.0;
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        let run = |c| {
            quantize(
                &data,
                1,
                data.len(),
                &cfg(scheme, 4, Granularity::PerTensor, c),
            )
            .unwrap()
        };
        let minmax = run(Calibration::MinMax);
        assert_eq!(minmax.groups[0].hi, 20.0);
        for c in [
            Calibration::Percentile { percentile: 99.9 },
            Calibration::Mse { candidates: 100 },
            Calibration::Kl { bins: 2048 },
        ] {
            let q = run(c);
            let g = &q.groups[0];
            assert!(g.hi < 10.0, "{scheme:?} {c:?} hi {}", g.hi);
            assert!(g.clamped > 0);
            assert!(
                q.stats.mse < minmax.stats.mse / 2.0,
                "{scheme:?} {c:?}: {} vs {}",
                q.stats.mse,
                minmax.stats.mse
            );
            assert!(q.clamped[1234] && q.values[1234] == q.qmax);
        }
        let mse = run(Calibration::Mse { candidates: 100 });
        assert_eq!(mse.groups[0].search.len(), 100);
        let best = mse.groups[0]
            .search
            .iter()
            .map(|s| s.score.unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!((mse.groups[0].mse - best).abs() <= 1e-12 * best);
        let kl = run(Calibration::Kl { bins: 2048 });
        assert_eq!(kl.groups[0].search.len(), 2048 - 8 + 1);
    }
    // At 8 bits the MSE search still never does worse than min-max.
    let run = |c| {
        quantize(
            &data,
            1,
            data.len(),
            &cfg(Scheme::Symmetric, 8, Granularity::PerTensor, c),
        )
        .unwrap()
    };
    assert!(
        run(Calibration::Mse { candidates: 100 }).stats.mse <= run(Calibration::MinMax).stats.mse
    );
}

#[test]
fn percentile_values() {
    let data: Vec<f32> = (0..=100).map(|i| i as f32).collect();
    let q = quantize(
        &data,
        1,
        101,
        &cfg(
            Scheme::Symmetric,
            8,
            Granularity::PerTensor,
            Calibration::Percentile { percentile: 90.0 },
        ),
    )
    .unwrap();
    assert_eq!(q.groups[0].hi, 90.0);
    let q = quantize(
        &data,
        1,
        101,
        &cfg(
            Scheme::Asymmetric,
            8,
            Granularity::PerTensor,
            Calibration::Percentile { percentile: 99.5 },
        ),
    )
    .unwrap();
    // lo = 0.5th percentile = 0.5, widened to 0; hi = 99.5.
    assert_eq!((q.groups[0].lo, q.groups[0].hi), (0.0, 99.5));
    let q = quantize(
        &data,
        1,
        101,
        &cfg(
            Scheme::Symmetric,
            8,
            Granularity::PerTensor,
            Calibration::Percentile { percentile: 100.0 },
        ),
    )
    .unwrap();
    assert_eq!(q.groups[0].hi, 100.0);
}

#[test]
fn kl_on_uniform_keeps_most_of_the_range() {
    // Uniform data has no tail worth clipping.
    let data: Vec<f32> = (0..4096)
        .map(|i| (i as f32 + 0.5) / 4096.0 * 2.0 - 1.0)
        .collect();
    let q = quantize(
        &data,
        1,
        4096,
        &cfg(
            Scheme::Symmetric,
            8,
            Granularity::PerTensor,
            Calibration::Kl { bins: 2048 },
        ),
    )
    .unwrap();
    assert!(q.groups[0].hi > 0.9, "{}", q.groups[0].hi);
}

#[test]
fn bad_input() {
    let ok = cfg(
        Scheme::Symmetric,
        8,
        Granularity::PerTensor,
        Calibration::MinMax,
    );
    let data = [1.0, 2.0, 3.0, 4.0];
    for bits in [0, 1, 9, 32] {
        assert!(matches!(
            absmax(&data, bits),
            Err(Error::InvalidArgument(_))
        ));
        assert!(quantize_value(0.1, -1.0, 1.0, Scheme::Asymmetric, bits).is_err());
    }
    for size in [0, 3, 5] {
        let c = cfg(
            Scheme::Symmetric,
            8,
            Granularity::PerGroup { size },
            Calibration::MinMax,
        );
        assert!(matches!(
            quantize(&data, 1, 4, &c),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(matches!(absmax(&[], 8), Err(Error::InvalidArgument(_))));
    assert!(quantize(&data, 0, 4, &ok).is_err());
    assert!(quantize(&data, 2, 3, &ok).is_err());
    assert!(quantize(&data, usize::MAX, 2, &ok).is_err());
    match absmax(&[1.0, 2.0, f32::NAN], 8) {
        Err(Error::NonFinite { index, value, .. }) => assert!(index == 2 && value.is_nan()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        zero_point(&[f32::NEG_INFINITY], 8),
        Err(Error::NonFinite { index: 0, .. })
    ));
    assert!(matches!(
        quantize_value(0.0, f32::NAN, 1.0, Scheme::Symmetric, 8),
        Err(Error::NonFinite { index: 1, .. })
    ));
    assert!(quantize_value(0.0, 1.0, -1.0, Scheme::Symmetric, 8).is_err());
    for c in [
        Calibration::Percentile { percentile: 49.0 },
        Calibration::Percentile { percentile: 100.5 },
        Calibration::Percentile {
            percentile: f64::NAN,
        },
        Calibration::Mse { candidates: 0 },
        Calibration::Mse {
            candidates: MAX_MSE_CANDIDATES + 1,
        },
        Calibration::Kl { bins: 127 },
        Calibration::Kl {
            bins: MAX_KL_BINS + 1,
        },
    ] {
        let c = cfg(Scheme::Symmetric, 8, Granularity::PerTensor, c);
        assert!(
            matches!(quantize(&data, 1, 4, &c), Err(Error::InvalidArgument(_))),
            "{c:?}"
        );
    }
    // 2 bits needs only 2 KL levels.
    let c = cfg(
        Scheme::Symmetric,
        2,
        Granularity::PerTensor,
        Calibration::Kl { bins: 2 },
    );
    assert!(quantize(&data, 1, 4, &c).is_ok());
    // A zero range under KL (all zeros) does not divide by zero.
    let c = cfg(
        Scheme::Asymmetric,
        8,
        Granularity::PerRow,
        Calibration::Kl { bins: 128 },
    );
    assert_eq!(quantize(&[0.0; 4], 2, 2, &c).unwrap().values, [0; 4]);
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![Just(Scheme::Symmetric), Just(Scheme::Asymmetric)]
}

proptest! {
    // No regression files: the source tree is shared.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn minmax_error_within_half_step(
        data in prop::collection::vec(-1000.0f32..1000.0, 1..64),
        bits in 2u32..=8,
        scheme in scheme(),
    ) {
        let c = cfg(scheme, bits, Granularity::PerTensor, Calibration::MinMax);
        let q = quantize(&data, 1, data.len(), &c).unwrap();
        let g = &q.groups[0];
        for (i, &x) in data.iter().enumerate() {
            prop_assert!((q.qmin..=q.qmax).contains(&q.values[i]));
            let tol = g.scale / 2.0 * (1.0 + 1e-9) + f64::from(x.abs()) * 1e-7 + 1e-30;
            prop_assert!(f64::from(q.errors[i]).abs() <= tol, "{} {} {}", x, q.errors[i], g.scale);
        }
    }

    #[test]
    fn clipped_values_inside_range_within_half_step(
        data in prop::collection::vec(-10.0f32..10.0, 2..64),
        bits in 2u32..=8,
        scheme in scheme(),
        p in 50.0f64..100.0,
    ) {
        let c = cfg(scheme, bits, Granularity::PerTensor, Calibration::Percentile { percentile: p });
        let q = quantize(&data, 1, data.len(), &c).unwrap();
        let g = &q.groups[0];
        for (i, &x) in data.iter().enumerate() {
            prop_assert!((q.qmin..=q.qmax).contains(&q.values[i]));
            let x = f64::from(x);
            if x >= g.lo && x <= g.hi {
                let tol = g.scale / 2.0 * (1.0 + 1e-9) + x.abs() * 1e-7 + 1e-30;
                prop_assert!(f64::from(q.errors[i]).abs() <= tol);
            }
        }
    }

    #[test]
    fn group_of_whole_row_is_per_tensor(
        data in prop::collection::vec(-5.0f32..5.0, 1..48),
        bits in 2u32..=8,
        scheme in scheme(),
    ) {
        let n = data.len();
        let cal = Calibration::Mse { candidates: 20 };
        let t = quantize(&data, 1, n, &cfg(scheme, bits, Granularity::PerTensor, cal)).unwrap();
        let g = quantize(&data, 1, n, &cfg(scheme, bits, Granularity::PerGroup { size: n }, cal)).unwrap();
        let r = quantize(&data, 1, n, &cfg(scheme, bits, Granularity::PerRow, cal)).unwrap();
        prop_assert_eq!(&t.values, &g.values);
        prop_assert_eq!(&t.values, &r.values);
        prop_assert_eq!(&t.dequantized, &g.dequantized);
        prop_assert_eq!(&t.groups, &g.groups);
    }

    #[test]
    fn extreme_finite_values_give_finite_results(
        data in prop::collection::vec(any::<f32>().prop_filter("finite", |v| v.is_finite()), 1..16),
        bits in 2u32..=8,
        scheme in scheme(),
        which in 0usize..4,
    ) {
        let cal = [
            Calibration::MinMax,
            Calibration::Percentile { percentile: 60.0 },
            Calibration::Mse { candidates: 10 },
            Calibration::Kl { bins: 256 },
        ][which];
        let n = data.len();
        let q = quantize(&data, 1, n, &cfg(scheme, bits, Granularity::PerTensor, cal)).unwrap();
        prop_assert!(q.dequantized.iter().chain(&q.errors).all(|v| v.is_finite()));
        prop_assert!(q.scaled.iter().all(|v| v.is_finite()));
        prop_assert!(q.values.iter().all(|v| (q.qmin..=q.qmax).contains(v)));
    }

    #[test]
    fn any_input_never_panics(
        data in prop::collection::vec(any::<f32>(), 0..16),
        bits in 0u32..12,
        size in 0usize..6,
        scheme in scheme(),
        which in 0usize..4,
    ) {
        let cal = [
            Calibration::MinMax,
            Calibration::Percentile { percentile: 99.0 },
            Calibration::Mse { candidates: 10 },
            Calibration::Kl { bins: 256 },
        ][which];
        let c = cfg(scheme, bits, Granularity::PerGroup { size }, cal);
        let cols = data.len().max(1);
        let _ = quantize(&data, 1, cols, &c);
    }
}
