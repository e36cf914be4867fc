//! Teaching schemes: absmax, zero-point (affine), granularity and calibration.
//!
//! These run on any small f32 tensor (`rows x cols`, row-major) and return
//! every intermediate number the UI needs to explain a step: the chosen
//! range, scale and zero point per group, and per element the scaled value
//! before rounding, the integer, whether it was clamped, the dequantized
//! value and the error.
//!
//! # Conventions
//!
//! - **Scale** is the step size Δ, the real value of one integer step, so
//!   `x ≈ (q - zero_point) · scale` (ggml's `d`, PyTorch's and ONNX's
//!   `scale`). Visual guides often write the inverse `s = 1/Δ`
//!   ("quantize: `round(s·x)`"); it is reported as `inv_scale`.
//! - **Rounding** is half away from zero (`f64::round`, C `roundf`, what ggml
//!   uses). Arithmetic is f64, with `x · levels / range` computed as one
//!   division so that the scaled value is as close to the exact ratio as f64
//!   allows.
//! - **Symmetric (absmax)**: for a range threshold `t` (min-max: `max|x|`),
//!   `qmax = 2^(b-1) - 1`, `Δ = t / qmax`, `q = clamp(round(x·qmax/t), -qmax,
//!   qmax)`, dequantized `q·t/qmax`. The grid is the restricted one
//!   `[-qmax, qmax]` (-128 is never produced) so that it is symmetric around
//!   zero, as in TensorRT; zero point 0.
//! - **Asymmetric (zero point, affine)**: for a range `[lo, hi]` (min-max: the
//!   data's min and max) widened to contain 0, `Δ = (hi - lo) / (2^b - 1)`,
//!   `zero_point = round(-lo / Δ)`, `q = clamp(round(x / Δ) + zero_point, 0,
//!   2^b - 1)`, dequantized `(q - zero_point)·Δ`. Keeping 0 in the range
//!   (as PyTorch's observers do) makes 0 exact and keeps the zero point a
//!   valid unsigned integer. Visual guides that use signed int8 for this
//!   scheme (`z = round(-s·min) - 128`) get exactly these integers minus 128.
//!   Because the zero point is rounded, a value at the very edge of the range
//!   can be clamped by one step; its error is still at most Δ/2.
//! - A group whose range is zero (all zeros) has `Δ = 0`: every integer is
//!   the zero point and every value dequantizes to 0.
//!
//! # Calibration (choosing the range of each group)
//!
//! - `minMax`: the full range of the values.
//! - `percentile { percentile: p }` (50 ≤ p ≤ 100): symmetric clips `t` to the
//!   p-th percentile of `|x|`; asymmetric clips `lo` to the (100-p)-th and
//!   `hi` to the p-th percentile of `x`. Percentiles interpolate linearly
//!   between order statistics (NumPy's default).
//! - `mse { candidates: c }`: tries the min-max range scaled by `k/c` for
//!   `k = 1..=c` and keeps the one whose quantize-dequantize MSE is lowest
//!   (ties go to the wider range).
//! - `kl { bins: B }`: TensorRT's entropy calibration, as in NVIDIA's
//!   pytorch-quantization: a histogram of `|x|` with B bins over `[0,
//!   max|x|]`; for every candidate `i` (from `2^(b-1)` to B bins) the
//!   reference distribution P is the first `i` bins with the clipped tail
//!   added to the last, Q is the same `i` bins merged into `2^(b-1)` levels
//!   and spread back evenly over the non-empty bins; the threshold `t = i ·
//!   bin width` with the smallest KL(P‖Q) wins (ties go to the larger). The
//!   asymmetric scheme uses `[max(min, -t), min(max, t)]`. Unlike
//!   pytorch-quantization the zero bin is not overwritten with its
//!   neighbour.
//!
//! The clipping methods report the score of every candidate in
//! [`GroupParams::search`] so that the UI can plot it.

use crate::error::{Error, Result};
use crate::quant::metrics::{self, ErrorStats};
use serde::{Deserialize, Serialize};

/// The `ty` used in [`Error::NonFinite`] for bad input values.
const INPUT: &str = "teach input";
/// Upper limit on KL histogram bins (the search is quadratic in them).
pub const MAX_KL_BINS: usize = 8192;
/// Upper limit on MSE search candidates.
pub const MAX_MSE_CANDIDATES: usize = 10_000;

/// Which integer grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scheme {
    /// absmax: signed integers in `[-(2^(b-1)-1), 2^(b-1)-1]`, zero point 0.
    Symmetric,
    /// zero point: unsigned integers in `[0, 2^b - 1]`.
    Asymmetric,
}

/// Which values share one scale (and zero point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Granularity {
    /// One range for the whole tensor.
    PerTensor,
    /// One range per row (output channel).
    PerRow,
    /// One range per `size` consecutive values of a row; `size` must divide
    /// the row length.
    PerGroup {
        /// Values per group.
        size: usize,
    },
}

/// How the range of a group is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "camelCase")]
pub enum Calibration {
    /// The full range of the data.
    #[default]
    MinMax,
    /// Clip to a percentile (50 ≤ `percentile` ≤ 100, e.g. 99.9).
    Percentile {
        /// The percentile kept, in percent.
        percentile: f64,
    },
    /// Grid search over `candidates` clipping ratios `k / candidates`.
    Mse {
        /// Number of ratios tried (1..=[`MAX_MSE_CANDIDATES`], e.g. 100).
        candidates: usize,
    },
    /// TensorRT-style entropy calibration with a `bins`-bin histogram of |x|.
    Kl {
        /// Histogram bins (2^(b-1)..=[`MAX_KL_BINS`], e.g. 2048).
        bins: usize,
    },
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuantConfig {
    /// Symmetric (absmax) or asymmetric (zero point).
    pub scheme: Scheme,
    /// Integer width, 2..=8.
    pub bits: u32,
    /// Which values share a scale.
    pub granularity: Granularity,
    /// How ranges are chosen.
    #[serde(default)]
    pub calibration: Calibration,
}

/// One candidate of a calibration search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPoint {
    /// Candidate threshold as a fraction of the min-max range.
    pub ratio: f64,
    /// The candidate range.
    pub lo: f64,
    /// The candidate range.
    pub hi: f64,
    /// MSE (mse method) or KL divergence (kl method); `None` = infinite.
    pub score: Option<f64>,
}

/// The parameters of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupParams {
    /// Group number (row-major).
    pub index: usize,
    /// Row of the first value.
    pub row: usize,
    /// Flat index of the first value.
    pub start: usize,
    /// Number of values.
    pub len: usize,
    /// Smallest value in the group.
    pub data_min: f32,
    /// Largest value in the group.
    pub data_max: f32,
    /// Low end of the chosen range (`-t` for symmetric).
    pub lo: f64,
    /// High end of the chosen range (`t` for symmetric).
    pub hi: f64,
    /// Step size Δ: `x ≈ (q - zero_point) · scale`.
    pub scale: f64,
    /// `1 / scale` (0 when the scale is 0): the "s" of `q = round(s·x)`.
    pub inv_scale: f64,
    /// Integer that represents 0.0 (0 for symmetric).
    pub zero_point: i32,
    /// Values that fell outside the integer grid and were clamped.
    pub clamped: usize,
    /// Mean squared error of this group.
    pub mse: f64,
    /// Every candidate the calibration tried (empty for min-max and percentile).
    pub search: Vec<SearchPoint>,
}

/// A quantized tensor with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quantized {
    /// The configuration used.
    pub config: QuantConfig,
    /// Tensor rows.
    pub rows: usize,
    /// Tensor columns (row length).
    pub cols: usize,
    /// Values per group (`rows·cols` per tensor, `cols` per row).
    pub group_size: usize,
    /// Smallest integer of the grid.
    pub qmin: i32,
    /// Largest integer of the grid.
    pub qmax: i32,
    /// Per group: range, scale, zero point; element `i` is in group
    /// `i / group_size`.
    pub groups: Vec<GroupParams>,
    /// Per element: `x / scale`, the value that is rounded (before the zero
    /// point is added).
    pub scaled: Vec<f64>,
    /// Per element: the stored integer.
    pub values: Vec<i32>,
    /// Per element: whether `round(scaled) + zero_point` was outside
    /// `[qmin, qmax]` and was clamped.
    pub clamped: Vec<bool>,
    /// Per element: `(q - zero_point) · scale`.
    pub dequantized: Vec<f32>,
    /// Per element: `dequantized - original`.
    pub errors: Vec<f32>,
    /// Totals over the tensor (mse, max abs error, sqnr, ...).
    pub stats: ErrorStats,
}

/// Every step of quantizing one value, for the step-by-step explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueStep {
    /// The input value.
    pub x: f32,
    /// The range used.
    pub lo: f64,
    /// The range used.
    pub hi: f64,
    /// Step size Δ.
    pub scale: f64,
    /// 1 / Δ (0 when Δ is 0).
    pub inv_scale: f64,
    /// Zero point.
    pub zero_point: i32,
    /// Smallest integer of the grid.
    pub qmin: i32,
    /// Largest integer of the grid.
    pub qmax: i32,
    /// `x / Δ` before rounding.
    pub scaled: f64,
    /// `round(scaled) + zero_point` before clamping.
    pub rounded: i64,
    /// The stored integer.
    pub q: i32,
    /// Whether `rounded` was clamped into `[qmin, qmax]`.
    pub clamped: bool,
    /// `(q - zero_point) · Δ`.
    pub dequantized: f32,
    /// `dequantized - x`.
    pub error: f32,
}

/// The integer grid of one group.
#[derive(Debug, Clone, Copy)]
struct Grid {
    lo: f64,
    hi: f64,
    /// The real width the integer levels span: `t` (symmetric) or `hi - lo`.
    range: f64,
    /// The number of integer steps across `range`: qmax or 2^b - 1.
    levels: f64,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
}

/// What one element becomes.
struct Step {
    scaled: f64,
    rounded: i64,
    q: i32,
    clamped: bool,
    dequantized: f32,
}

fn check_bits(bits: u32) -> Result<()> {
    if !(2..=8).contains(&bits) {
        return Err(Error::invalid(format!("bits must be in 2..=8, got {bits}")));
    }
    Ok(())
}

fn qrange(scheme: Scheme, bits: u32) -> (i32, i32) {
    match scheme {
        Scheme::Symmetric => {
            let m = (1 << (bits - 1)) - 1;
            (-m, m)
        }
        Scheme::Asymmetric => (0, (1 << bits) - 1),
    }
}

impl Grid {
    fn new(scheme: Scheme, bits: u32, lo: f64, hi: f64) -> Grid {
        let (qmin, qmax) = qrange(scheme, bits);
        match scheme {
            Scheme::Symmetric => {
                let t = lo.abs().max(hi.abs());
                Grid {
                    lo: -t,
                    hi: t,
                    range: t,
                    levels: f64::from(qmax),
                    zero_point: 0,
                    qmin,
                    qmax,
                }
            }
            Scheme::Asymmetric => {
                let (lo, hi) = (lo.min(0.0), hi.max(0.0));
                let range = hi - lo;
                let levels = f64::from(qmax);
                // -lo <= range, so the zero point lies in [0, qmax].
                let zero_point = if range > 0.0 {
                    (-lo * levels / range).round() as i32
                } else {
                    0
                };
                Grid {
                    lo,
                    hi,
                    range,
                    levels,
                    zero_point,
                    qmin,
                    qmax,
                }
            }
        }
    }

    fn scale(&self) -> f64 {
        self.range / self.levels
    }

    fn inv_scale(&self) -> f64 {
        if self.range > 0.0 {
            self.levels / self.range
        } else {
            0.0
        }
    }

    fn step(&self, x: f32) -> Step {
        let x = f64::from(x);
        if self.range == 0.0 {
            return Step {
                scaled: 0.0,
                rounded: i64::from(self.zero_point),
                q: self.zero_point,
                clamped: x != 0.0,
                dequantized: 0.0,
            };
        }
        // One division: x·levels is exact for f32 x and levels < 2^8.
        let scaled = x * self.levels / self.range;
        // `as` saturates and so does the add: a huge x with a tiny clipped
        // range just clamps.
        let rounded = (scaled.round() as i64).saturating_add(i64::from(self.zero_point));
        let q = rounded.clamp(i64::from(self.qmin), i64::from(self.qmax)) as i32;
        let dequantized = saturate_f32(f64::from(q - self.zero_point) * self.range / self.levels);
        Step {
            scaled,
            rounded,
            q,
            clamped: i64::from(q) != rounded,
            dequantized,
        }
    }

    fn mse(&self, xs: &[f32]) -> f64 {
        let sum: f64 = xs
            .iter()
            .map(|&x| {
                let d = f64::from(self.step(x).dequantized) - f64::from(x);
                d * d
            })
            .sum();
        sum / xs.len() as f64
    }
}

/// f64 -> f32 without overflowing to infinity: a grid endpoint can lie up to
/// Δ/2 beyond a range that touches ±f32::MAX.
fn saturate_f32(v: f64) -> f32 {
    v.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32
}

fn check_finite(data: &[f32], offset: usize) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::NonFinite {
            ty: INPUT,
            index: offset + i,
            value: data[i],
        }),
        None => Ok(()),
    }
}

fn check_calibration(c: Calibration, bits: u32) -> Result<()> {
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
fn calibrate(xs: &[f32], config: &QuantConfig) -> (f64, f64, Vec<SearchPoint>) {
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

/// Quantizes a `rows x cols` row-major tensor as `config` says.
///
/// Errors (never panics): `data.len() != rows·cols`, an empty tensor, bits
/// outside 2..=8, a group size of 0 or one that does not divide `cols`, a
/// bad calibration parameter, or a NaN/infinite value
/// ([`Error::NonFinite`] with its index).
pub fn quantize(data: &[f32], rows: usize, cols: usize, config: &QuantConfig) -> Result<Quantized> {
    check_bits(config.bits)?;
    check_calibration(config.calibration, config.bits)?;
    let n = rows
        .checked_mul(cols)
        .ok_or_else(|| Error::invalid(format!("{rows} x {cols} is too large")))?;
    if n == 0 {
        return Err(Error::invalid(format!(
            "cannot quantize an empty tensor ({rows} x {cols})"
        )));
    }
    if data.len() != n {
        return Err(Error::invalid(format!(
            "expected {rows} x {cols} = {n} values, got {}",
            data.len()
        )));
    }
    let group_size = match config.granularity {
        Granularity::PerTensor => n,
        Granularity::PerRow => cols,
        Granularity::PerGroup { size } => {
            if size == 0 || !cols.is_multiple_of(size) {
                return Err(Error::invalid(format!(
                    "group size {size} must be positive and divide the row length {cols}"
                )));
            }
            size
        }
    };
    check_finite(data, 0)?;

    let (qmin, qmax) = qrange(config.scheme, config.bits);
    let mut groups = Vec::with_capacity(n / group_size);
    let mut scaled = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    let mut clamped_flags = Vec::with_capacity(n);
    let mut dequantized = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    for (index, xs) in data.chunks(group_size).enumerate() {
        let start = index * group_size;
        let (lo, hi, search) = calibrate(xs, config);
        let grid = Grid::new(config.scheme, config.bits, lo, hi);
        let mut clamped = 0;
        let mut sq = 0.0;
        let (mut data_min, mut data_max) = (f32::INFINITY, f32::NEG_INFINITY);
        for &x in xs {
            let s = grid.step(x);
            let err = f64::from(s.dequantized) - f64::from(x);
            sq += err * err;
            clamped += usize::from(s.clamped);
            data_min = data_min.min(x);
            data_max = data_max.max(x);
            scaled.push(s.scaled);
            values.push(s.q);
            clamped_flags.push(s.clamped);
            dequantized.push(s.dequantized);
            errors.push(saturate_f32(err));
        }
        groups.push(GroupParams {
            index,
            row: start / cols,
            start,
            len: xs.len(),
            data_min,
            data_max,
            lo: grid.lo,
            hi: grid.hi,
            scale: grid.scale(),
            inv_scale: grid.inv_scale(),
            zero_point: grid.zero_point,
            clamped,
            mse: sq / xs.len() as f64,
            search,
        });
    }
    let stats = metrics::error_stats(data, &dequantized)?;
    Ok(Quantized {
        config: *config,
        rows,
        cols,
        group_size,
        qmin,
        qmax,
        groups,
        scaled,
        values,
        clamped: clamped_flags,
        dequantized,
        errors,
        stats,
    })
}

/// Per-tensor symmetric absmax quantization of a flat slice with min-max range.
pub fn absmax(data: &[f32], bits: u32) -> Result<Quantized> {
    let config = QuantConfig {
        scheme: Scheme::Symmetric,
        bits,
        granularity: Granularity::PerTensor,
        calibration: Calibration::MinMax,
    };
    quantize(data, 1, data.len(), &config)
}

/// Per-tensor asymmetric zero-point quantization of a flat slice with min-max range.
pub fn zero_point(data: &[f32], bits: u32) -> Result<Quantized> {
    let config = QuantConfig {
        scheme: Scheme::Asymmetric,
        bits,
        granularity: Granularity::PerTensor,
        calibration: Calibration::MinMax,
    };
    quantize(data, 1, data.len(), &config)
}

/// Quantizes one value `x` in the range `[lo, hi]` (symmetric uses
/// `t = max(|lo|, |hi|)`; asymmetric widens the range to contain 0), e.g.
/// 0.3 in [-1, 1] with 8-bit absmax gives 38 and 0.2992.
pub fn quantize_value(x: f32, lo: f32, hi: f32, scheme: Scheme, bits: u32) -> Result<ValueStep> {
    check_bits(bits)?;
    check_finite(&[x, lo, hi], 0)?;
    if lo > hi {
        return Err(Error::invalid(format!("range [{lo}, {hi}] has lo > hi")));
    }
    let grid = Grid::new(scheme, bits, f64::from(lo), f64::from(hi));
    Ok(value_step(&grid, x))
}

fn value_step(grid: &Grid, x: f32) -> ValueStep {
    let s = grid.step(x);
    ValueStep {
        x,
        lo: grid.lo,
        hi: grid.hi,
        scale: grid.scale(),
        inv_scale: grid.inv_scale(),
        zero_point: grid.zero_point,
        qmin: grid.qmin,
        qmax: grid.qmax,
        scaled: s.scaled,
        rounded: s.rounded,
        q: s.q,
        clamped: s.clamped,
        dequantized: s.dequantized,
        error: saturate_f32(f64::from(s.dequantized) - f64::from(x)),
    }
}

impl Quantized {
    /// The group element `i` belongs to.
    pub fn group_of(&self, i: usize) -> Option<&GroupParams> {
        self.groups.get(i / self.group_size)
    }

    /// Every step of element `i`, given its original value `x` (which this
    /// struct does not keep, to halve what crosses to JavaScript); `None`
    /// when `i` is out of range.
    pub fn step(&self, i: usize, x: f32) -> Option<ValueStep> {
        let g = self.group_of(i)?;
        let grid = Grid::new(self.config.scheme, self.config.bits, g.lo, g.hi);
        Some(value_step(&grid, x))
    }
}

#[cfg(test)]
mod tests {
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
            run(Calibration::Mse { candidates: 100 }).stats.mse
                <= run(Calibration::MinMax).stats.mse
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
}
