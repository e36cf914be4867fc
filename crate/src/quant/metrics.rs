//! Error metrics between original and dequantized tensors.
//!
//! All sums are accumulated in f64 so that the metrics of a large tensor do
//! not drift with the order of summation. Inputs must be finite: a NaN or
//! infinity in either slice is reported as [`Error::NonFinite`] with its
//! index rather than silently poisoning every number.
//!
//! SQNR is `10 log10(signal power / noise power)`. It is infinite for an
//! exact reconstruction and undefined for an all-zero original, neither of
//! which JSON can carry, so it is an `Option<f64>`: `None` when the noise is
//! zero (then [`ErrorStats::exact`] is true) or the signal is zero.

use crate::error::{Error, Result};
use serde::Serialize;

/// Largest histogram the UI can ask for; keeps a bad argument from
/// allocating gigabytes.
pub const MAX_HISTOGRAM_BINS: usize = 1 << 20;

/// Summary of how far `reconstructed` is from `original`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorStats {
    /// Number of values compared.
    pub n: usize,
    /// Mean squared error.
    pub mse: f64,
    /// Root of the mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mean_abs_error: f64,
    /// Largest absolute error ...
    pub max_abs_error: f64,
    /// ... and the first index where it occurs.
    pub max_abs_error_index: usize,
    /// Mean of `original²` (the signal power).
    pub signal_power: f64,
    /// SQNR in dB; `None` when exact or when the original is all zeros.
    pub sqnr_db: Option<f64>,
    /// Cosine similarity (see [`cosine_similarity`] for zero vectors).
    pub cosine_similarity: f64,
    /// True when every value was reconstructed exactly.
    pub exact: bool,
}

fn check(original: &[f32], reconstructed: &[f32]) -> Result<()> {
    if original.len() != reconstructed.len() {
        return Err(Error::invalid(format!(
            "original has {} values but reconstructed has {}",
            original.len(),
            reconstructed.len()
        )));
    }
    if original.is_empty() {
        return Err(Error::invalid("cannot compare empty tensors"));
    }
    for (ty, xs) in [("original", original), ("reconstructed", reconstructed)] {
        // A scan without an early exit vectorizes; the position only on failure.
        let finite = xs
            .chunks(256)
            .all(|c| c.iter().fold(true, |a, v| a & v.is_finite()));
        if finite {
            continue;
        }
        if let Some(index) = xs.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                ty,
                index,
                value: xs[index],
            });
        }
    }
    Ok(())
}

/// Sums the metrics need, in one pass.
struct Sums {
    sq_err: f64,
    abs_err: f64,
    max_abs: f64,
    max_index: usize,
    sq_orig: f64,
    sq_rec: f64,
    dot: f64,
}

/// Values per piece of [`sums_threads`]: the pieces and the order their
/// sums are added in are fixed, so the results are the same bits for any
/// thread count.
const PIECE: usize = 1 << 16;

/// The sums over `original` and `reconstructed`, in pieces of [`PIECE`]
/// values spread over up to `threads` threads, added in piece order.
fn sums_threads(original: &[f32], reconstructed: &[f32], threads: usize) -> Result<Sums> {
    check(original, reconstructed)?;
    let pieces = original.len().div_ceil(PIECE);
    let tasks = threads.clamp(1, pieces.max(1));
    let per = pieces.div_ceil(tasks) * PIECE;
    let items: Vec<usize> = (0..original.len()).step_by(per).collect();
    let parts = crate::par::map(items, |start| {
        let end = (start + per).min(original.len());
        (start..end)
            .step_by(PIECE)
            .map(|p| {
                let q = (p + PIECE).min(end);
                piece_sums(&original[p..q], &reconstructed[p..q], p)
            })
            .collect::<Vec<_>>()
    });
    let mut s = Sums {
        sq_err: 0.0,
        abs_err: 0.0,
        max_abs: 0.0,
        max_index: 0,
        sq_orig: 0.0,
        sq_rec: 0.0,
        dot: 0.0,
    };
    for p in parts.into_iter().flatten() {
        s.sq_err += p.sq_err;
        s.abs_err += p.abs_err;
        s.sq_orig += p.sq_orig;
        s.sq_rec += p.sq_rec;
        s.dot += p.dot;
        if p.max_abs > s.max_abs {
            s.max_abs = p.max_abs;
            s.max_index = p.max_index;
        }
    }
    Ok(s)
}

/// One piece (values from index `offset`) in 4 interleaved lanes (value
/// `i` to lane `i % 4`, lanes added pairwise at the end): four independent
/// f64 chains instead of one, which the sums' add latency, not the
/// arithmetic, bounds. The largest error is tracked per block of values
/// without its index, which is looked up in the block (still in cache)
/// only when the block holds a new largest: its first index, as a scan in
/// order keeps.
fn piece_sums(original: &[f32], reconstructed: &[f32], offset: usize) -> Sums {
    const L: usize = 4;
    const BLOCK: usize = 1024;
    let (mut sq_err, mut abs_err) = ([0f64; L], [0f64; L]);
    let (mut sq_orig, mut sq_rec, mut dot) = ([0f64; L], [0f64; L], [0f64; L]);
    let diff = |x: f32, y: f32| (f64::from(y) - f64::from(x)).abs();
    let (mut max_abs, mut max_index) = (0f64, 0usize);
    for (b, (xs, ys)) in original
        .chunks(BLOCK)
        .zip(reconstructed.chunks(BLOCK))
        .enumerate()
    {
        let mut bmax = [0f64; L];
        let (xc, yc) = (xs.chunks_exact(L), ys.chunks_exact(L));
        let (xr, yr) = (xc.remainder(), yc.remainder());
        let mut lane = |k: usize, x: f32, y: f32| {
            let d = diff(x, y);
            let (x, y) = (f64::from(x), f64::from(y));
            sq_err[k] += d * d;
            abs_err[k] += d;
            bmax[k] = if d > bmax[k] { d } else { bmax[k] };
            sq_orig[k] += x * x;
            sq_rec[k] += y * y;
            dot[k] += x * y;
        };
        for (xs, ys) in xc.zip(yc) {
            for k in 0..L {
                lane(k, xs[k], ys[k]);
            }
        }
        // Only a piece's last block has a tail (BLOCK is a multiple of L).
        for (k, (&x, &y)) in xr.iter().zip(yr).enumerate() {
            lane(k, x, y);
        }
        let m = bmax.iter().fold(0f64, |a, &v| if v > a { v } else { a });
        if m > max_abs {
            let i = xs
                .iter()
                .zip(ys)
                .position(|(&x, &y)| diff(x, y) == m)
                .unwrap_or(0);
            max_abs = m;
            max_index = offset + b * BLOCK + i;
        }
    }
    let total = |v: [f64; L]| (v[0] + v[1]) + (v[2] + v[3]);
    Sums {
        sq_err: total(sq_err),
        abs_err: total(abs_err),
        max_abs,
        max_index,
        sq_orig: total(sq_orig),
        sq_rec: total(sq_rec),
        dot: total(dot),
    }
}

fn sums(original: &[f32], reconstructed: &[f32]) -> Result<Sums> {
    sums_threads(original, reconstructed, 1)
}

fn sqnr_from(sq_orig: f64, sq_err: f64) -> Option<f64> {
    (sq_err > 0.0 && sq_orig > 0.0).then(|| 10.0 * (sq_orig / sq_err).log10())
}

fn cosine_from(s: &Sums) -> f64 {
    match (s.sq_orig > 0.0, s.sq_rec > 0.0) {
        // One sqrt of the product: exact for exact squares, and f32 inputs keep
        // the product far below f64::MAX.
        (true, true) => (s.dot / (s.sq_orig * s.sq_rec).sqrt()).clamp(-1.0, 1.0),
        // Both zero: the reconstruction is exact.
        (false, false) => 1.0,
        // One zero vector: no direction in common.
        _ => 0.0,
    }
}

/// Every metric at once.
pub fn error_stats(original: &[f32], reconstructed: &[f32]) -> Result<ErrorStats> {
    error_stats_threads(original, reconstructed, 1)
}

/// [`error_stats`] on up to `threads` threads: the same bits for any count.
pub fn error_stats_threads(
    original: &[f32],
    reconstructed: &[f32],
    threads: usize,
) -> Result<ErrorStats> {
    let s = sums_threads(original, reconstructed, threads)?;
    let n = original.len();
    let mse = s.sq_err / n as f64;
    Ok(ErrorStats {
        n,
        mse,
        rmse: mse.sqrt(),
        mean_abs_error: s.abs_err / n as f64,
        max_abs_error: s.max_abs,
        max_abs_error_index: s.max_index,
        signal_power: s.sq_orig / n as f64,
        sqnr_db: sqnr_from(s.sq_orig, s.sq_err),
        cosine_similarity: cosine_from(&s),
        exact: s.sq_err == 0.0,
    })
}

/// Mean squared error.
pub fn mse(original: &[f32], reconstructed: &[f32]) -> Result<f64> {
    Ok(sums(original, reconstructed)?.sq_err / original.len() as f64)
}

/// Root mean squared error.
pub fn rmse(original: &[f32], reconstructed: &[f32]) -> Result<f64> {
    mse(original, reconstructed).map(f64::sqrt)
}

/// Largest absolute error and the first index where it occurs.
pub fn max_abs_error(original: &[f32], reconstructed: &[f32]) -> Result<(f64, usize)> {
    let s = sums(original, reconstructed)?;
    Ok((s.max_abs, s.max_index))
}

/// Signal-to-quantization-noise ratio in dB, `10 log10(Σx² / Σ(x-y)²)`.
/// `None` when the reconstruction is exact (infinite SQNR) or the original
/// is all zeros (undefined).
pub fn sqnr_db(original: &[f32], reconstructed: &[f32]) -> Result<Option<f64>> {
    let s = sums(original, reconstructed)?;
    Ok(sqnr_from(s.sq_orig, s.sq_err))
}

/// Cosine similarity in [-1, 1], accumulated in f64. A zero vector has no
/// direction: two zero vectors give 1 (identical), one gives 0.
pub fn cosine_similarity(original: &[f32], reconstructed: &[f32]) -> Result<f64> {
    Ok(cosine_from(&sums(original, reconstructed)?))
}

/// Storage cost per value: `bytes * 8 / n_values` (e.g. Q4_0: 18 bytes per
/// 32 values = 4.5).
pub fn bits_per_weight(bytes: u64, n_values: u64) -> Result<f64> {
    if n_values == 0 {
        return Err(Error::invalid("bits per weight of zero values"));
    }
    Ok(bytes as f64 * 8.0 / n_values as f64)
}

/// Counts of values in equal-width bins.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Histogram {
    /// `bins + 1` bin edges from `lo` to `hi`; bin `i` is
    /// `[edges[i], edges[i+1])`, the last bin also includes `hi`.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
    /// Values below `lo` (including -inf).
    pub below: u64,
    /// Values above `hi` (including +inf).
    pub above: u64,
    /// NaNs, which fall in no bin.
    pub nan: u64,
}

/// Histogram of `values` in `bins` equal bins over `range`, or, when `range`
/// is `None`, over the finite minimum and maximum (widened to ±0.5 around a
/// single value, [0, 1] when there is no finite value).
pub fn histogram(values: &[f32], bins: usize, range: Option<(f32, f32)>) -> Result<Histogram> {
    if bins == 0 || bins > MAX_HISTOGRAM_BINS {
        return Err(Error::invalid(format!(
            "histogram bins must be in 1..={MAX_HISTOGRAM_BINS}, got {bins}"
        )));
    }
    let (lo, hi) = match range {
        Some((lo, hi)) => {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(Error::invalid(format!(
                    "histogram range must be finite with lo < hi, got [{lo}, {hi}]"
                )));
            }
            (f64::from(lo), f64::from(hi))
        }
        None => {
            let finite = values
                .iter()
                .filter(|v| v.is_finite())
                .map(|&v| f64::from(v));
            let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            if lo > hi {
                (0.0, 1.0)
            } else if lo == hi {
                (lo - 0.5, hi + 0.5)
            } else {
                (lo, hi)
            }
        }
    };
    let width = hi - lo;
    let edges = (0..=bins)
        .map(|i| {
            if i == bins {
                hi
            } else {
                lo + width * i as f64 / bins as f64
            }
        })
        .collect();
    let mut h = Histogram {
        edges,
        counts: vec![0; bins],
        below: 0,
        above: 0,
        nan: 0,
    };
    for &v in values {
        let v = f64::from(v);
        if v.is_nan() {
            h.nan += 1;
        } else if v < lo {
            h.below += 1;
        } else if v > hi {
            h.above += 1;
        } else {
            // Rounding can push values just below `hi` to `bins`: clamp.
            let i = (((v - lo) / width) * bins as f64) as usize;
            h.counts[i.min(bins - 1)] += 1;
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    // In wasm the same tests run under wasm-bindgen's runner (Node).
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn known_values() {
        let x = [1.0, -2.0, 3.0, 4.0];
        let y = [1.0, -1.5, 3.0, 3.0];
        // errors 0, 0.5, 0, -1 -> squares 0, 0.25, 0, 1
        let s = error_stats(&x, &y).unwrap();
        assert!(close(s.mse, 1.25 / 4.0));
        assert!(close(s.rmse, (1.25f64 / 4.0).sqrt()));
        assert!(close(s.mean_abs_error, 1.5 / 4.0));
        assert_eq!((s.max_abs_error, s.max_abs_error_index), (1.0, 3));
        assert!(close(s.signal_power, 30.0 / 4.0));
        assert!(close(s.sqnr_db.unwrap(), 10.0 * (30.0f64 / 1.25).log10()));
        let cos = (1.0 + 3.0 + 9.0 + 12.0) / (30f64.sqrt() * (1.0f64 + 2.25 + 9.0 + 9.0).sqrt());
        assert!(close(s.cosine_similarity, cos));
        assert!(!s.exact);
        assert_eq!(s.n, 4);
        assert!(close(mse(&x, &y).unwrap(), s.mse));
        assert!(close(rmse(&x, &y).unwrap(), s.rmse));
        assert_eq!(max_abs_error(&x, &y).unwrap(), (1.0, 3));
        assert_eq!(sqnr_db(&x, &y).unwrap(), s.sqnr_db);
        assert_eq!(cosine_similarity(&x, &y).unwrap(), s.cosine_similarity);
        // Noise power 1/100 of the signal: 20 dB.
        assert!(close(sqnr_db(&[10.0], &[9.0]).unwrap().unwrap(), 20.0));
        // First index wins ties.
        assert_eq!(max_abs_error(&[0.0, 0.0], &[1.0, -1.0]).unwrap(), (1.0, 0));
    }

    /// Over several pieces and blocks with a tail: the same bits on any
    /// thread count, sums within f64 rounding of a plain ordered scan, and
    /// the largest error at its first index (tied in two pieces and twice
    /// in one block).
    #[test]
    fn threads_change_no_bit_and_the_first_largest_error_wins() {
        let n = 3 * PIECE + 1029;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut x: Vec<f32> = (0..n).map(|_| next()).collect();
        let mut y: Vec<f32> = x.iter().map(|&v| v + next() * 0.01).collect();
        // Errors of exactly 4, the largest: three ties.
        for i in [PIECE + 5, PIECE + 9, 2 * PIECE + 3] {
            (x[i], y[i]) = (0.0, 4.0);
        }
        let one = error_stats_threads(&x, &y, 1).unwrap();
        for t in [2, 3, 7] {
            let s = error_stats_threads(&x, &y, t).unwrap();
            assert_eq!(s.mse.to_bits(), one.mse.to_bits(), "{t} threads");
            assert_eq!(s.mean_abs_error.to_bits(), one.mean_abs_error.to_bits());
            assert_eq!(
                s.cosine_similarity.to_bits(),
                one.cosine_similarity.to_bits()
            );
            assert_eq!(s.signal_power.to_bits(), one.signal_power.to_bits());
            assert_eq!(s.max_abs_error_index, one.max_abs_error_index);
        }
        let d = |i: usize| (y[i] as f64 - x[i] as f64).abs();
        assert_eq!(
            (one.max_abs_error, one.max_abs_error_index),
            (4.0, PIECE + 5)
        );
        let sq: f64 = (0..n).map(|i| d(i) * d(i)).sum();
        let sig: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        assert!(
            close(one.mse, sq / n as f64),
            "{} vs {}",
            one.mse,
            sq / n as f64
        );
        assert!(close(one.signal_power, sig / n as f64));
    }

    #[test]
    fn exact_and_zero_vectors() {
        let s = error_stats(&[1.0, 2.0], &[1.0, 2.0]).unwrap();
        assert!(s.exact && s.sqnr_db.is_none() && s.mse == 0.0);
        assert_eq!(s.cosine_similarity, 1.0);
        let z = error_stats(&[0.0, 0.0], &[0.0, 0.0]).unwrap();
        assert!(z.exact && z.sqnr_db.is_none());
        assert_eq!(z.cosine_similarity, 1.0);
        let one = error_stats(&[0.0, 0.0], &[1.0, 0.0]).unwrap();
        assert!(!one.exact && one.sqnr_db.is_none());
        assert_eq!(one.cosine_similarity, 0.0);
        assert_eq!(cosine_similarity(&[1.0, 1.0], &[0.0, 0.0]).unwrap(), 0.0);
        assert_eq!(cosine_similarity(&[1.0, 2.0], &[-2.0, -4.0]).unwrap(), -1.0);
    }

    #[test]
    fn bad_input() {
        assert!(matches!(mse(&[], &[]), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            mse(&[1.0], &[1.0, 2.0]),
            Err(Error::InvalidArgument(_))
        ));
        match error_stats(&[1.0, 2.0, f32::NAN], &[1.0, 2.0, 3.0]) {
            Err(Error::NonFinite { ty, index, value }) => {
                assert_eq!((ty, index), ("original", 2));
                assert!(value.is_nan());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sqnr_db(&[1.0, 2.0], &[1.0, f32::INFINITY]),
            Err(Error::NonFinite {
                ty: "reconstructed",
                index: 1,
                ..
            })
        ));
    }

    #[test]
    fn bpw() {
        assert_eq!(bits_per_weight(18, 32).unwrap(), 4.5); // Q4_0
        assert_eq!(bits_per_weight(34, 32).unwrap(), 8.5); // Q8_0
        assert_eq!(bits_per_weight(210, 256).unwrap(), 6.5625); // Q6_K
        assert!(bits_per_weight(1, 0).is_err());
    }

    #[test]
    fn histograms() {
        let h = histogram(&[0.0, 0.1, 0.5, 0.99, 1.0, -1.0, 2.0], 4, Some((0.0, 1.0))).unwrap();
        assert_eq!(h.edges, [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(h.counts, [2, 0, 1, 2]);
        assert_eq!((h.below, h.above, h.nan), (1, 1, 0));

        let h = histogram(
            &[f32::NAN, 1.0, 3.0, f32::INFINITY, f32::NEG_INFINITY, 2.0],
            2,
            None,
        )
        .unwrap();
        assert_eq!(h.edges, [1.0, 2.0, 3.0]);
        assert_eq!(h.counts, [1, 2]);
        assert_eq!((h.below, h.above, h.nan), (1, 1, 1));

        let h = histogram(&[5.0, 5.0], 1, None).unwrap();
        assert_eq!(
            (h.edges.clone(), h.counts.clone()),
            (vec![4.5, 5.5], vec![2])
        );
        let h = histogram(&[f32::NAN], 3, None).unwrap();
        assert_eq!(
            (h.counts.iter().sum::<u64>(), h.nan, h.edges[3]),
            (0, 1, 1.0)
        );
        let h = histogram(&[], 3, None).unwrap();
        assert_eq!(h.counts, [0, 0, 0]);

        assert!(histogram(&[1.0], 0, None).is_err());
        assert!(histogram(&[1.0], MAX_HISTOGRAM_BINS + 1, None).is_err());
        assert!(histogram(&[1.0], 4, Some((1.0, 1.0))).is_err());
        assert!(histogram(&[1.0], 4, Some((0.0, f32::NAN))).is_err());
        // Total count is preserved for any data.
        let xs: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0)
            .collect();
        let h = histogram(&xs, 17, None).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 1000);
    }
}
