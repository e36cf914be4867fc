//! Calibration: the range `[lo, hi]` each group is quantized over, by the
//! method the config names (min-max, percentile, MSE search, KL / TensorRT
//! entropy), with every candidate's score for the UI; and the check of the
//! method's parameters. The methods are described in `quant::teach`.

use super::{Calibration, Grid, QuantConfig, Scheme, SearchPoint, MAX_KL_BINS, MAX_MSE_CANDIDATES};
use crate::error::{Error, Result};

pub(super) fn check_calibration(c: Calibration, bits: u32) -> Result<()> {
    match c {
        Calibration::MinMax => Ok(()),
        Calibration::Percentile { percentile } => {
            if percentile.is_finite() && (50.0..=100.0).contains(&percentile) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "percentile must be in [50, 100], got {percentile}"
                )))
            }
        }
        Calibration::Mse { candidates } => {
            if (1..=MAX_MSE_CANDIDATES).contains(&candidates) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "mse candidates must be in 1..={MAX_MSE_CANDIDATES}, got {candidates}"
                )))
            }
        }
        Calibration::Kl { bins } => {
            let levels = 1usize << (bits - 1);
            if (levels..=MAX_KL_BINS).contains(&bins) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "kl bins must be in {levels}..={MAX_KL_BINS} for {bits} bits, got {bins}"
                )))
            }
        }
    }
}

/// Linear-interpolated percentile `p` (0..=100) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let i = rank.floor() as usize;
    let frac = rank - i as f64;
    match sorted.get(i + 1) {
        Some(&next) if frac > 0.0 => sorted[i] + (next - sorted[i]) * frac,
        _ => sorted[i],
    }
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

/// TensorRT entropy calibration: returns the threshold and every candidate.
fn kl_threshold(xs: &[f32], amax: f64, bins: usize, levels: usize) -> (f64, Vec<SearchPoint>) {
    let mut hist = vec![0u64; bins];
    for &x in xs {
        let i = (f64::from(x).abs() / amax * bins as f64) as usize;
        hist[i.min(bins - 1)] += 1;
    }
    let width = amax / bins as f64;
    // tail[i] = values in bins i.. (clipped by a threshold of i bins).
    let mut tail = vec![0u64; bins + 1];
    for i in (0..bins).rev() {
        tail[i] = tail[i + 1] + hist[i];
    }
    let mut search = Vec::with_capacity(bins - levels + 1);
    let mut best = (f64::INFINITY, bins);
    let mut sums = vec![0u64; levels];
    let mut nonzero = vec![0u64; levels];
    for i in levels..=bins {
        sums.iter_mut().for_each(|s| *s = 0);
        nonzero.iter_mut().for_each(|s| *s = 0);
        for (j, &h) in hist[..i].iter().enumerate() {
            if h > 0 {
                let g = j * levels / i;
                sums[g] += h;
                nonzero[g] += 1;
            }
        }
        let p_total = tail[0] as f64;
        let q_total = (tail[0] - tail[i]) as f64;
        let mut kl = 0.0;
        for (j, &h) in hist[..i].iter().enumerate() {
            let p = h as f64 + if j == i - 1 { tail[i] as f64 } else { 0.0 };
            if p == 0.0 {
                continue;
            }
            let g = j * levels / i;
            let q = if h > 0 {
                sums[g] as f64 / nonzero[g] as f64
            } else {
                0.0
            };
            if q == 0.0 {
                kl = f64::INFINITY;
                break;
            }
            let (p, q) = (p / p_total, q / q_total);
            kl += p * (p / q).ln();
        }
        let t = i as f64 * width;
        search.push(SearchPoint {
            ratio: i as f64 / bins as f64,
            lo: -t,
            hi: t,
            score: kl.is_finite().then_some(kl),
        });
        // `<=`: ties go to the larger threshold.
        if kl <= best.0 {
            best = (kl, i);
        }
    }
    (best.1 as f64 * width, search)
}

/// Chooses the range of one group.
pub(super) fn calibrate(xs: &[f32], config: &QuantConfig) -> (f64, f64, Vec<SearchPoint>) {
    let (min, max) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(f64::from(x)), b.max(f64::from(x)))
        });
    let amax = min.abs().max(max.abs());
    let (lo0, hi0) = match config.scheme {
        Scheme::Symmetric => (-amax, amax),
        Scheme::Asymmetric => (min.min(0.0), max.max(0.0)),
    };
    match config.calibration {
        Calibration::MinMax => (lo0, hi0, Vec::new()),
        Calibration::Percentile { percentile: p } => match config.scheme {
            Scheme::Symmetric => {
                let t = percentile(&sorted(xs.iter().map(|&x| f64::from(x).abs())), p);
                (-t, t, Vec::new())
            }
            Scheme::Asymmetric => {
                let s = sorted(xs.iter().map(|&x| f64::from(x)));
                (percentile(&s, 100.0 - p), percentile(&s, p), Vec::new())
            }
        },
        Calibration::Mse { candidates } => {
            let mut best = (f64::INFINITY, lo0, hi0);
            let mut search = Vec::with_capacity(candidates);
            // Widest first with a strict `<`, so ties keep the wider range.
            for k in (1..=candidates).rev() {
                let ratio = k as f64 / candidates as f64;
                let (lo, hi) = (lo0 * ratio, hi0 * ratio);
                let mse = Grid::new(config.scheme, config.bits, lo, hi).mse(xs);
                search.push(SearchPoint {
                    ratio,
                    lo,
                    hi,
                    score: Some(mse),
                });
                if mse < best.0 {
                    best = (mse, lo, hi);
                }
            }
            search.reverse();
            (best.1, best.2, search)
        }
        Calibration::Kl { bins } => {
            if amax == 0.0 {
                return (0.0, 0.0, Vec::new());
            }
            let levels = 1usize << (config.bits - 1);
            let (t, mut search) = kl_threshold(xs, amax, bins, levels);
            if config.scheme == Scheme::Asymmetric {
                for s in &mut search {
                    s.lo = s.lo.max(min);
                    s.hi = s.hi.min(max);
                }
                (min.max(-t), max.min(t), search)
            } else {
                (-t, t, search)
            }
        }
    }
}
