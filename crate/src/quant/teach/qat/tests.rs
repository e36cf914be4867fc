//! `quant::teach::qat`: the straight-through estimator, the gradient of
//! `round`, backpropagation against finite differences, determinism, and
//! the default-seed result the page prints.

use super::*;
use crate::quant::synth;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn wcfg(
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

/// Whether `x` is inside the clip range of `g`, computed the long way: its
/// integer before clamping, `round(x / Δ) + zero point`, is on the grid.
fn inside(x: f32, g: &GridRange) -> bool {
    if g.scale == 0.0 {
        return x == 0.0;
    }
    let q = (f64::from(x) / g.scale).round() as i64 + i64::from(g.zero_point);
    (i64::from(g.qmin)..=i64::from(g.qmax)).contains(&q)
}

#[test]
fn ste_gradient_is_the_upstream_gradient_inside_the_clip_range_and_zero_outside() {
    let rows = 8;
    let cols = 32;
    let mut seed = 7u64;
    let mut total_passed = 0;
    let mut total_clipped = 0;
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        for bits in [2, 3, 4, 8] {
            for granularity in [Granularity::PerTensor, Granularity::PerRow] {
                for calibration in [
                    Calibration::MinMax,
                    Calibration::Percentile { percentile: 90.0 },
                    Calibration::Mse { candidates: 50 },
                ] {
                    seed += 1;
                    let mut data = synth::weights(rows, cols, seed);
                    // An outlier, so that the clipping methods clip something.
                    data[5] = 0.9;
                    let upstream: Vec<f32> = synth::weights(rows, cols, seed + 1000);
                    let c = wcfg(scheme, bits, granularity, calibration);
                    let fq = fake_quantize(&data, rows, cols, &c).unwrap();
                    let ste = ste_backward(&upstream, &fq).unwrap();
                    for (i, &x) in data.iter().enumerate() {
                        let g = &fq.groups[i / fq.group_size];
                        let within = inside(x, g);
                        assert_eq!(fq.pass[i], within, "{c:?} element {i} = {x}");
                        // The reported clip range says the same.
                        let open = g.clip_lo < f64::from(x) && f64::from(x) < g.clip_hi;
                        assert_eq!(open, within, "{c:?} element {i} = {x} in {g:?}");
                        if within {
                            assert_eq!(ste[i].to_bits(), upstream[i].to_bits());
                            total_passed += 1;
                        } else {
                            assert_eq!(ste[i], 0.0);
                            total_clipped += 1;
                        }
                    }
                    // Clamped values dequantize to the end of the grid.
                    for (i, &v) in fq.values.iter().enumerate() {
                        let g = &fq.groups[i / fq.group_size];
                        let end = f64::from(fq.ints[i] - g.zero_point) * g.scale;
                        assert!((f64::from(v) - end).abs() <= 1e-6 * end.abs().max(1e-6));
                        assert!((g.qmin..=g.qmax).contains(&fq.ints[i]));
                    }
                }
            }
        }
    }
    // Both sides of the rule were exercised.
    assert!(
        total_passed > 10_000 && total_clipped > 500,
        "{total_passed} {total_clipped}"
    );
}

#[test]
fn ste_at_the_edges_of_the_clip_range() {
    // Symmetric 2 bits over [-1, 1]: grid {-1, 0, 1}, Δ = 1, clip range
    // (-1.5, 1.5); 13 points from -2.25 to 2.25 land on both ends exactly.
    let r = round_gradient(Scheme::Symmetric, 2, -1.0, 1.0, 13).unwrap();
    assert_eq!((r.grid.clip_lo, r.grid.clip_hi), (-1.5, 1.5));
    let expect_x = [
        -2.25, -1.875, -1.5, -1.125, -0.75, -0.375, 0.0, 0.375, 0.75, 1.125, 1.5, 1.875, 2.25,
    ];
    assert_eq!(r.x, expect_x);
    // ±1.5 round to ±2, off the grid: clamped, no gradient; ±1.125 pass.
    let ste = [0., 0., 0., 1., 1., 1., 1., 1., 1., 1., 0., 0., 0.];
    assert_eq!(r.ste_gradient, ste);
    assert_eq!(
        r.fake_quant,
        [-1., -1., -1., -1., -1., 0., 0., 0., 1., 1., 1., 1., 1.]
    );
    assert_eq!(r.jumps, [-0.5, 0.5]);
    // A zero-width range has no grid to clip to.
    assert!(round_gradient(Scheme::Symmetric, 4, 0.0, 0.0, 10).is_err());
    // Asymmetric keeps 0 in the range: [0.5, 2] becomes [0, 2].
    let r = round_gradient(Scheme::Asymmetric, 2, 0.5, 2.0, 100).unwrap();
    assert_eq!((r.grid.lo, r.grid.hi, r.grid.zero_point), (0.0, 2.0, 0));
}

#[test]
fn the_true_gradient_of_round_is_zero_except_at_the_jumps() {
    for (scheme, bits, lo, hi) in [
        (Scheme::Symmetric, 2, -1.0f32, 1.0f32),
        (Scheme::Symmetric, 4, -0.3, 0.7),
        (Scheme::Asymmetric, 3, -0.2, 1.3),
        (Scheme::Asymmetric, 8, -5.0, 2.0),
    ] {
        let r = round_gradient(scheme, bits, lo, hi, 997).unwrap();
        let g = r.grid;
        assert_eq!(r.jumps.len(), (g.qmax - g.qmin) as usize);
        let mut flat = 0;
        for (i, &x) in r.x.iter().enumerate() {
            let x = f64::from(x);
            let near_jump = r.jumps.iter().any(|&j| (x - j).abs() <= 2.0 * r.h);
            if !near_jump {
                assert_eq!(r.true_gradient[i], 0.0, "x = {x}");
                flat += 1;
            }
            let inside = g.clip_lo < x && x < g.clip_hi;
            assert_eq!(r.ste_gradient[i], if inside { 1.0 } else { 0.0 }, "x = {x}");
        }
        // Samples are far apart next to h: at most one is near each jump.
        assert!(flat >= r.x.len() - r.jumps.len(), "{flat}");
        // The staircase climbs and takes every level once.
        assert!(r.fake_quant.windows(2).all(|w| w[0] <= w[1]));
        let mut levels = r.fake_quant.clone();
        levels.dedup();
        assert_eq!(levels.len(), (g.qmax - g.qmin + 1) as usize);
        // Right at a jump the difference quotient is a spike of Δ / 2h,
        // which grows without bound as h shrinks.
        let j = r.jumps[0];
        let fq = |v: f64| {
            f64::from(
                Grid::new(scheme, bits, lo.into(), hi.into())
                    .step(v as f32)
                    .dequantized,
            )
        };
        let spike = (fq(j + r.h) - fq(j - r.h)) / (2.0 * r.h);
        let want = g.scale / (2.0 * r.h);
        assert!((spike - want).abs() < 1e-3 * want, "{spike} vs {want}");
    }
}

/// The mean loss of the float forward pass and which hidden units were
/// active, for finite differences.
fn mean_loss(layers: &[Layer], xy: &[f32], labels: &[f32]) -> (f64, Vec<bool>) {
    let w: Vec<&[f32]> = layers.iter().map(|l| l.w.as_slice()).collect();
    let pass = forward(layers, &w, xy, None);
    let active = pass.pre[..2].iter().flatten().map(|&z| z > 0.0).collect();
    (score(pass.logits(), labels).loss, active)
}

#[test]
fn backpropagation_matches_finite_differences() {
    let data = dataset(Task::Moons, 3);
    let model = Model::new(6, &mut stream(3, 1));
    let n = 24;
    let xy = &data.train.xy[..2 * n];
    let labels = &data.train.labels[..n];
    let w: Vec<&[f32]> = model.layers.iter().map(|l| l.w.as_slice()).collect();
    let grads = backward(
        &model.layers,
        &w,
        &forward(&model.layers, &w, xy, None),
        labels,
    );
    let eps = 1e-3f32;
    let (mut checked, mut kinks) = (0, 0);
    for l in 0..model.layers.len() {
        for which in 0..2 {
            let len = if which == 0 {
                model.layers[l].w.len()
            } else {
                model.layers[l].b.len()
            };
            for k in 0..len {
                let nudged = |d: f32| {
                    let mut layers = model.layers.clone();
                    let p = if which == 0 {
                        &mut layers[l].w[k]
                    } else {
                        &mut layers[l].b[k]
                    };
                    *p += d;
                    mean_loss(&layers, xy, labels)
                };
                let ((up, up_active), (down, down_active)) = (nudged(eps), nudged(-eps));
                // A ReLU that switches inside ±eps puts a kink in the
                // difference quotient: no derivative to compare there.
                if up_active != down_active {
                    kinks += 1;
                    continue;
                }
                let numeric = (up - down) / (2.0 * f64::from(eps));
                let analytic = f64::from(if which == 0 {
                    grads[l].0[k]
                } else {
                    grads[l].1[k]
                });
                assert!(
                    (analytic - numeric).abs() <= 2e-4 + 1e-2 * numeric.abs(),
                    "layer {l} {} {k}: {analytic} vs {numeric}",
                    ["w", "b"][which]
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked + kinks, (6 * 2 + 6) + (6 * 6 + 6) + (6 + 1));
    assert!(kinks <= 8, "{kinks} parameters sat on a kink");
}

#[test]
fn the_qat_step_passes_the_quantized_networks_gradient_through_the_ste() {
    for calibration in [Calibration::MinMax, Calibration::Mse { candidates: 40 }] {
        let config = QatConfig {
            bits: 3,
            calibration,
            granularity: Granularity::PerRow,
            ..QatConfig::default()
        };
        let mut t = QatTrainer::new(config).unwrap();
        t.train(5).unwrap();
        // Redo step 6 by hand from the same state and batch.
        let before = t.clone();
        t.train(1).unwrap();
        let mut b = before.clone();
        let (xy, labels) = b.next_batch();
        let fq = b.fake_quantize(&b.qat);
        let w: Vec<&[f32]> = fq.iter().map(|f| f.values.as_slice()).collect();
        let grads = backward(
            &b.qat.layers,
            &w,
            &forward(&b.qat.layers, &w, &xy, None),
            &labels,
        );
        let mut clipped = 0;
        for (l, g) in t.view().unwrap().gradient.iter().enumerate() {
            assert_eq!(g.upstream, grads[l].0);
            assert_eq!(g.ste, ste_backward(&grads[l].0, &fq[l]).unwrap());
            assert_eq!(g.passed + g.clipped, g.upstream.len());
            clipped += g.clipped;
        }
        // Min-max never clips a weight; the MSE search clips some.
        if calibration == Calibration::MinMax {
            assert_eq!(clipped, 0);
        } else {
            assert!(clipped > 0);
        }
    }
}

#[test]
fn activations_are_quantized_per_batch_to_the_unsigned_grid() {
    let config = QatConfig {
        act_bits: Some(2),
        ..QatConfig::default()
    };
    let mut t = QatTrainer::new(config).unwrap();
    t.train(3).unwrap();
    let v = t.view().unwrap();
    for ranges in [
        &v.activations.qat_batch,
        &v.activations.ptq_test,
        &v.activations.qat_test,
    ] {
        assert_eq!(ranges.iter().map(|r| r.layer).collect::<Vec<_>>(), [1, 2]);
        for r in ranges.iter() {
            // ReLU outputs: [0, max], zero point 0, 4 levels.
            assert_eq!(r.data_min, 0.0);
            assert_eq!((r.grid.lo, r.grid.hi), (0.0, f64::from(r.data_max)));
            assert_eq!((r.grid.zero_point, r.grid.qmin, r.grid.qmax), (0, 0, 3));
            assert!((r.grid.scale - f64::from(r.data_max) / 3.0).abs() < 1e-12);
        }
    }
    // The test set's hidden activations take at most 4 values per layer.
    let fq = t.fake_quantize(&t.qat);
    let w: Vec<&[f32]> = fq.iter().map(|f| f.values.as_slice()).collect();
    let pass = forward(&t.qat.layers, &w, &t.data.test.xy, Some(2));
    for a in &pass.inputs[1..] {
        let mut distinct: Vec<u32> = a.iter().map(|v| v.to_bits()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() <= 4, "{}", distinct.len());
    }
    assert_eq!(pass.act_ranges, v.activations.qat_test);
    // Float activations: no ranges.
    let v = run(QatConfig::default(), 2).unwrap();
    assert_eq!(v.activations, Activations::default());
}

#[test]
fn training_is_deterministic_however_the_steps_are_split() {
    let config = QatConfig {
        act_bits: Some(4),
        scheme: Scheme::Asymmetric,
        ..QatConfig::default()
    };
    let whole = run(config, 120).unwrap();
    let mut t = QatTrainer::new(config).unwrap();
    for chunk in [1, 9, 10, 33, 67] {
        t.train(chunk).unwrap();
    }
    assert_eq!(t.view().unwrap(), whole);
    assert_eq!(
        whole.history.step,
        (0..=120).step_by(LOG_EVERY).collect::<Vec<_>>()
    );
    // Another seed is another run.
    let other = run(QatConfig { seed: 2, ..config }, 120).unwrap();
    assert_ne!(other.test, whole.test);
}

#[test]
fn the_data_is_fixed_by_the_seed_and_fits_the_picture() {
    for task in [Task::Circle, Task::Xor, Task::Moons] {
        let d = dataset(task, 1);
        assert_eq!(d, dataset(task, 1));
        assert_ne!(d.train, dataset(task, 2).train);
        assert_eq!(
            (d.train.labels.len(), d.test.labels.len()),
            (TRAIN_POINTS, TEST_POINTS)
        );
        for p in [&d.train, &d.test] {
            assert!(p.xy.iter().all(|v| v.abs() < BOUNDARY_EXTENT), "{task:?}");
            let ones =
                p.labels.iter().filter(|&&y| y == 1.0).count() as f64 / p.labels.len() as f64;
            assert!((0.3..0.7).contains(&ones), "{task:?}: {ones}");
        }
    }
}

/// The numbers the page prints for the default configuration (circle task,
/// seed 1, 2-bit symmetric per-tensor min-max weights, float activations,
/// 600 steps): quantization-aware training recovers what rounding the
/// float model after training loses.
#[test]
fn qat_beats_ptq_at_2_bits_with_the_default_seed() {
    let v = run(QatConfig::default(), DEFAULT_STEPS).unwrap();
    let t = v.test;
    // As the page prints them: losses to 4 decimals, accuracies in percent
    // to 1.
    let shown = |e: Eval| {
        (
            (e.loss * 1e4).round() / 1e4,
            (e.accuracy * 1e3).round() / 10.0,
        )
    };
    assert_eq!(shown(t.float), (0.0580, 97.6), "float {:?}", t.float);
    assert_eq!(shown(t.ptq), (1.0048, 86.0), "ptq {:?}", t.ptq);
    assert_eq!(shown(t.qat), (0.1213, 94.2), "qat {:?}", t.qat);
    assert!(t.qat.loss < t.ptq.loss);
    // At 8 bits rounding hardly matters.
    let v8 = run(
        QatConfig {
            bits: 8,
            ..QatConfig::default()
        },
        DEFAULT_STEPS,
    )
    .unwrap();
    assert!(
        (v8.test.ptq.loss - v8.test.float.loss).abs() < 0.01,
        "{:?}",
        v8.test
    );
}

#[test]
fn views_hold_the_grids_histograms_and_boundaries() {
    let config = QatConfig {
        bits: 3,
        granularity: Granularity::PerRow,
        ..QatConfig::default()
    };
    let v = run(config, 20).unwrap();
    assert_eq!(v.step, 20);
    assert_eq!(v.layers.len(), 3);
    let h = config.hidden;
    for (l, (rows, cols)) in [(h, 2), (h, h), (1, h)].into_iter().enumerate() {
        let layer = &v.layers[l];
        assert_eq!((layer.rows, layer.cols), (rows, cols));
        for g in [&layer.ptq, &layer.qat] {
            // One grid per output channel, 7 levels (-3..=3).
            assert_eq!(g.groups.len(), rows);
            assert_eq!(g.levels.len(), 7);
            assert_eq!(g.levels.iter().sum::<u64>(), (rows * cols) as u64);
            let in_bins: u64 = g.histogram.counts.iter().sum();
            assert_eq!(
                in_bins + g.histogram.below + g.histogram.above,
                (rows * cols) as u64
            );
            assert_eq!(
                (g.histogram.edges[0], *g.histogram.edges.last().unwrap()),
                (-4.0, 4.0)
            );
        }
    }
    let b = &v.boundary;
    for p in [&b.float, &b.ptq, &b.qat] {
        assert_eq!(p.len(), BOUNDARY_SIZE * BOUNDARY_SIZE);
        assert!(p.iter().all(|&q| (0.0..=1.0).contains(&q)));
    }
    assert_eq!(v.gradient.len(), 3);
    assert_eq!(v.history.float_test.len(), 3);
    assert_eq!(*v.history.qat_test.last().unwrap(), v.test.qat.loss);
    // Before the first step there is no gradient yet.
    assert!(run(config, 0).unwrap().gradient.is_empty());
}

#[test]
fn bad_configurations_and_arguments_are_errors_naming_the_problem() {
    let base = QatConfig::default();
    let bad = [
        (QatConfig { bits: 1, ..base }, "bits"),
        (
            QatConfig {
                act_bits: Some(9),
                ..base
            },
            "activation bits",
        ),
        (QatConfig { hidden: 1, ..base }, "hidden"),
        (QatConfig { hidden: 65, ..base }, "hidden"),
        (
            QatConfig {
                learning_rate: 0.0,
                ..base
            },
            "learning rate",
        ),
        (
            QatConfig {
                learning_rate: f32::NAN,
                ..base
            },
            "learning rate",
        ),
        (QatConfig { batch: 0, ..base }, "batch"),
        (
            QatConfig {
                batch: TRAIN_POINTS + 1,
                ..base
            },
            "batch",
        ),
        (
            QatConfig {
                granularity: Granularity::PerGroup { size: 2 },
                ..base
            },
            "per tensor or per row",
        ),
        (
            QatConfig {
                calibration: Calibration::Kl { bins: 1 },
                ..base
            },
            "kl bins",
        ),
    ];
    for (c, word) in bad {
        let e = QatTrainer::new(c).unwrap_err().to_string();
        assert!(e.contains(word), "{c:?}: {e}");
    }
    let mut t = QatTrainer::new(base).unwrap();
    assert!(t.train(0).unwrap_err().to_string().contains("steps"));
    assert!(t.train(MAX_STEPS_PER_CALL + 1).is_err());
    let c = wcfg(
        Scheme::Symmetric,
        4,
        Granularity::PerTensor,
        Calibration::MinMax,
    );
    assert!(fake_quantize(&[1.0, 2.0], 1, 3, &c).is_err());
    assert!(fake_quantize(&[1.0, f32::NAN], 1, 2, &c)
        .unwrap_err()
        .to_string()
        .contains("index 1"));
    let fq = fake_quantize(&[1.0, 2.0], 1, 2, &c).unwrap();
    assert!(ste_backward(&[1.0], &fq).is_err());
    assert!(round_gradient(Scheme::Symmetric, 4, 1.0, -1.0, 10).is_err());
    assert!(round_gradient(Scheme::Symmetric, 4, -1.0, 1.0, 1).is_err());
    assert!(round_gradient(Scheme::Symmetric, 4, f32::INFINITY, 1.0, 10).is_err());
}

#[test]
fn configs_read_from_json_with_defaults() {
    let c: QatConfig = serde_json::from_str(
        r#"{"bits":2,"scheme":"symmetric","granularity":{"kind":"perTensor"}}"#,
    )
    .unwrap();
    assert_eq!(c, QatConfig::default());
    let c: QatConfig = serde_json::from_str(
        r#"{"task":"moons","bits":4,"scheme":"asymmetric","granularity":{"kind":"perRow"},
            "calibration":{"method":"mse","candidates":50},"actBits":8,"seed":9}"#,
    )
    .unwrap();
    assert_eq!((c.task, c.act_bits, c.seed), (Task::Moons, Some(8), 9));
    assert!(serde_json::from_str::<QatConfig>(
        r#"{"bits":2,"scheme":"symmetric","granularity":{"kind":"perTensor"},"lr":1}"#
    )
    .is_err());
}
