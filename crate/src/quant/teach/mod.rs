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
//!
//! This file holds the types, the integer grid and [`quantize`];
//! `calibrate.rs` the range choice of each group (the calibration methods
//! above); `tests.rs` the tests. [`qat`] trains a toy network with fake
//! quantization and the straight-through estimator on these grids; [`fp4`]
//! takes FP4 E2M1 with a shared scale (MXFP4, NVFP4) apart.

use crate::error::{Error, Result};
use crate::quant::metrics::{self, ErrorStats};
use serde::{Deserialize, Serialize};

mod calibrate;
pub mod fp4;
pub mod qat;
#[cfg(test)]
mod tests;

use calibrate::{calibrate, check_calibration};

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
