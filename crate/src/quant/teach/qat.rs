//! Quantization-aware training (QAT) with the straight-through estimator,
//! on a 2-D toy task small enough to train in a browser tab in a second.
//!
//! Two copies of one small MLP (2 → H → H → 1, ReLU, one logit, binary
//! cross-entropy) start from the same seeded weights and see the same
//! mini-batches:
//! - the **float** model trains in f32; its *post-training quantization*
//!   (PTQ) is the same weights rounded as [`QuantConfig`] says, at
//!   evaluation only;
//! - the **QAT** model trains with *fake quantization*: each weight matrix
//!   is quantized and dequantized ([`fake_quantize`]: the grid and
//!   calibration of [`super::quantize`]) before the forward pass uses it,
//!   and the backward pass uses the straight-through estimator
//!   ([`ste_backward`]): the gradient that reaches a rounded weight is
//!   passed to its latent float weight unchanged where the weight was inside
//!   the clip range, and zeroed where it was clamped (PyTorch's
//!   `fake_quantize_per_tensor_affine` rule). The true derivative of
//!   `round` is zero almost everywhere, so without the STE nothing would
//!   train ([`round_gradient`] shows both).
//!
//! Biases stay in float (int8 schemes keep them in 32 bits). Optionally the
//! hidden activations (the inputs of layers 2 and 3) are fake-quantized
//! too, to `act_bits`, with a min-max range measured on each batch
//! (dynamic quantization) on the unsigned grid `[0, 2^b - 1]` (ReLU outputs
//! are never negative): in QAT's training passes, and in every quantized
//! evaluation (PTQ and QAT), where the evaluated set is one batch.
//!
//! Deterministic: splitmix64 from the seed, f32 arithmetic in a fixed
//! order and `libm`'s exp / log1p / sin / cos, so native and wasm builds
//! train to the same bits, and `train(a)` then `train(b)` equals
//! `train(a + b)`.

use super::calibrate::{calibrate, check_calibration};
use super::{
    check_bits, check_finite, qrange, Calibration, Granularity, Grid, QuantConfig, Scheme,
};
use crate::error::{Error, Result};
use crate::quant::metrics::{self, Histogram};
use crate::quant::synth::{splitmix64, uniform};
use serde::{Deserialize, Serialize};

/// Training points per task.
pub const TRAIN_POINTS: usize = 256;
/// Test points per task (a fresh draw from the same distribution).
pub const TEST_POINTS: usize = 1024;
/// The history records the losses every this many steps (and at step 0).
pub const LOG_EVERY: usize = 10;
/// Cells per side of the decision-boundary image.
pub const BOUNDARY_SIZE: usize = 48;
/// The image (and the data) cover `[-BOUNDARY_EXTENT, BOUNDARY_EXTENT]²`.
pub const BOUNDARY_EXTENT: f32 = 1.25;
/// Most steps one [`QatTrainer::train`] call runs (the page asks for a few
/// at a time; this keeps a bad argument from hanging the worker).
pub const MAX_STEPS_PER_CALL: usize = 100_000;
/// Steps the page trains for by default (and the default-seed test).
pub const DEFAULT_STEPS: usize = 600;
const ADAM_BETA1: f32 = 0.9;
const ADAM_BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;

/// The toy task: points in the plane and a class each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Task {
    /// Uniform in `[-1, 1]²`; class 1 inside the circle of radius √½.
    #[default]
    Circle,
    /// Uniform in `[-1, 1]²`; class 1 where `x·y > 0` (two opposite quadrants).
    Xor,
    /// Two interleaved half circles with Gaussian noise (σ = 0.1 before scaling).
    Moons,
}

/// What to train and how to quantize it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QatConfig {
    /// The toy task.
    #[serde(default)]
    pub task: Task,
    /// Weight bits, 2..=8.
    pub bits: u32,
    /// Weight grid: symmetric (absmax) or asymmetric (zero point).
    pub scheme: Scheme,
    /// Per tensor, or per row = per output channel (one range per neuron).
    pub granularity: Granularity,
    /// How each weight group's range is chosen (each step, for QAT).
    #[serde(default)]
    pub calibration: Calibration,
    /// Hidden-activation bits (2..=8), dynamic per-batch range; `None`:
    /// activations stay in float.
    #[serde(default)]
    pub act_bits: Option<u32>,
    /// Neurons per hidden layer, 2..=64.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Adam's learning rate, in (0, 1].
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f32,
    /// Points per mini-batch, 1..=[`TRAIN_POINTS`].
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Seed of the data, the initial weights and the batch order.
    #[serde(default = "default_seed")]
    pub seed: u32,
}

fn default_hidden() -> usize {
    16
}
fn default_learning_rate() -> f32 {
    0.01
}
fn default_batch() -> usize {
    32
}
fn default_seed() -> u32 {
    1
}

impl Default for QatConfig {
    /// The page's defaults: 2-bit symmetric per-tensor min-max weights, float
    /// activations, the circle task.
    fn default() -> Self {
        QatConfig {
            task: Task::default(),
            bits: 2,
            scheme: Scheme::Symmetric,
            granularity: Granularity::PerTensor,
            calibration: Calibration::MinMax,
            act_bits: None,
            hidden: default_hidden(),
            learning_rate: default_learning_rate(),
            batch: default_batch(),
            seed: default_seed(),
        }
    }
}

impl QatConfig {
    fn check(&self) -> Result<()> {
        check_bits(self.bits)?;
        check_calibration(self.calibration, self.bits)?;
        if let Some(b) = self.act_bits {
            check_bits(b).map_err(|_| {
                Error::invalid(format!("activation bits must be in 2..=8, got {b}"))
            })?;
        }
        if let Granularity::PerGroup { size } = self.granularity {
            return Err(Error::invalid(format!(
                "QAT quantizes weights per tensor or per row (output channel), not in groups \
                 of {size}"
            )));
        }
        if !(2..=64).contains(&self.hidden) {
            return Err(Error::invalid(format!(
                "hidden layer size must be in 2..=64, got {}",
                self.hidden
            )));
        }
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 1.0)
        {
            return Err(Error::invalid(format!(
                "learning rate must be in (0, 1], got {}",
                self.learning_rate
            )));
        }
        if !(1..=TRAIN_POINTS).contains(&self.batch) {
            return Err(Error::invalid(format!(
                "batch size must be in 1..={TRAIN_POINTS}, got {}",
                self.batch
            )));
        }
        Ok(())
    }

    fn weight_config(&self) -> QuantConfig {
        QuantConfig {
            scheme: self.scheme,
            bits: self.bits,
            granularity: self.granularity,
            calibration: self.calibration,
        }
    }
}

// --- fake quantization and the STE ------------------------------------------

/// The grid one group was rounded to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GridRange {
    /// The chosen range (`[-t, t]` for symmetric).
    pub lo: f64,
    /// The chosen range.
    pub hi: f64,
    /// Step size Δ.
    pub scale: f64,
    /// The integer that stands for 0.
    pub zero_point: i32,
    /// Smallest integer.
    pub qmin: i32,
    /// Largest integer.
    pub qmax: i32,
    /// The clip range: `x` passes its gradient (is not clamped) exactly
    /// when `clip_lo < x < clip_hi`, i.e. `(qmin − zp − ½)·Δ < x <
    /// (qmax − zp + ½)·Δ`; both 0 when Δ is 0 (only 0 passes).
    pub clip_lo: f64,
    /// See `clip_lo`.
    pub clip_hi: f64,
}

impl GridRange {
    fn of(grid: &Grid) -> GridRange {
        let scale = grid.scale();
        GridRange {
            lo: grid.lo,
            hi: grid.hi,
            scale,
            zero_point: grid.zero_point,
            qmin: grid.qmin,
            qmax: grid.qmax,
            clip_lo: (f64::from(grid.qmin - grid.zero_point) - 0.5) * scale,
            clip_hi: (f64::from(grid.qmax - grid.zero_point) + 0.5) * scale,
        }
    }
}

/// A tensor after quantize-then-dequantize, with what the backward pass needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FakeQuantized {
    /// Values per group (`rows·cols` per tensor, `cols` per row).
    pub group_size: usize,
    /// Per group: its grid.
    pub groups: Vec<GridRange>,
    /// Per element: the dequantized value the forward pass uses.
    pub values: Vec<f32>,
    /// Per element: the stored integer.
    pub ints: Vec<i32>,
    /// Per element: `x / Δ + zero point`, where `x` sits on its grid
    /// before rounding (the grid's points are the integers).
    pub position: Vec<f64>,
    /// Per element: whether `x` was inside the clip range (not clamped), so
    /// the STE passes its gradient.
    pub pass: Vec<bool>,
}

/// Quantizes and dequantizes a `rows x cols` row-major tensor as `config`
/// says ([`super::quantize`]'s grids and calibration), keeping the clamp
/// mask for [`ste_backward`]. Errors as [`super::quantize`].
pub fn fake_quantize(
    data: &[f32],
    rows: usize,
    cols: usize,
    config: &QuantConfig,
) -> Result<FakeQuantized> {
    check_bits(config.bits)?;
    check_calibration(config.calibration, config.bits)?;
    let n = rows
        .checked_mul(cols)
        .ok_or_else(|| Error::invalid(format!("{rows} x {cols} is too large")))?;
    if n == 0 || data.len() != n {
        return Err(Error::invalid(format!(
            "expected {rows} x {cols} = {n} values (at least one), got {}",
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
    Ok(fake_quantize_groups(data, group_size, config))
}

/// [`fake_quantize`] on checked input.
fn fake_quantize_groups(data: &[f32], group_size: usize, config: &QuantConfig) -> FakeQuantized {
    let n = data.len();
    let mut out = FakeQuantized {
        group_size,
        groups: Vec::with_capacity(n / group_size),
        values: Vec::with_capacity(n),
        ints: Vec::with_capacity(n),
        position: Vec::with_capacity(n),
        pass: Vec::with_capacity(n),
    };
    for xs in data.chunks(group_size) {
        let (lo, hi, _) = calibrate(xs, config);
        let grid = Grid::new(config.scheme, config.bits, lo, hi);
        out.groups.push(GridRange::of(&grid));
        for &x in xs {
            let s = grid.step(x);
            out.values.push(s.dequantized);
            out.ints.push(s.q);
            out.position.push(s.scaled + f64::from(grid.zero_point));
            out.pass.push(!s.clamped);
        }
    }
    out
}

/// The straight-through estimator's backward pass through [`fake_quantize`]:
/// `upstream` (the gradient with respect to the dequantized values) where
/// the input was inside the clip range, 0 where it was clamped.
pub fn ste_backward(upstream: &[f32], fq: &FakeQuantized) -> Result<Vec<f32>> {
    if upstream.len() != fq.pass.len() {
        return Err(Error::invalid(format!(
            "the upstream gradient has {} values, the fake-quantized tensor {}",
            upstream.len(),
            fq.pass.len()
        )));
    }
    Ok(ste_mask(upstream, &fq.pass))
}

fn ste_mask(upstream: &[f32], pass: &[bool]) -> Vec<f32> {
    upstream
        .iter()
        .zip(pass)
        .map(|(&g, &p)| if p { g } else { 0.0 })
        .collect()
}

/// The fake-quantization function of one grid and its two gradients, sampled
/// for a plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundGradient {
    /// The grid.
    pub grid: GridRange,
    /// Sample points, evenly over the clip range and a quarter of it on
    /// either side (f32, as the weights are).
    pub x: Vec<f32>,
    /// `dequantize(quantize(x))` at each point.
    pub fake_quant: Vec<f32>,
    /// The true derivative there, as a central difference with step `h`: 0
    /// wherever the staircase is flat (everywhere but the jumps).
    pub true_gradient: Vec<f64>,
    /// The STE's derivative: [`ste_backward`] of an upstream gradient of 1.
    pub ste_gradient: Vec<f32>,
    /// Where the staircase jumps (the true derivative is undefined there).
    pub jumps: Vec<f64>,
    /// The central difference's step.
    pub h: f64,
}

/// Samples `points` (2..=4096) values of fake quantization to `bits` with
/// range `[lo, hi]` (as [`super::quantize_value`] takes it), with the true
/// and the straight-through gradients. The range must not be empty.
pub fn round_gradient(
    scheme: Scheme,
    bits: u32,
    lo: f32,
    hi: f32,
    points: usize,
) -> Result<RoundGradient> {
    check_bits(bits)?;
    check_finite(&[lo, hi], 0)?;
    if lo > hi {
        return Err(Error::invalid(format!("range [{lo}, {hi}] has lo > hi")));
    }
    if !(2..=4096).contains(&points) {
        return Err(Error::invalid(format!(
            "points must be in 2..=4096, got {points}"
        )));
    }
    let grid = Grid::new(scheme, bits, f64::from(lo), f64::from(hi));
    if grid.range == 0.0 {
        return Err(Error::invalid(format!(
            "the range [{lo}, {hi}] is empty for the {scheme:?} grid: give it a width"
        )));
    }
    let range = GridRange::of(&grid);
    let width = range.clip_hi - range.clip_lo;
    let (a, b) = (range.clip_lo - width / 4.0, range.clip_hi + width / 4.0);
    // Far below the sample spacing, far above f32's resolution.
    let h = width * 1e-5;
    let x: Vec<f32> = (0..points)
        .map(|i| (a + (b - a) * i as f64 / (points - 1) as f64) as f32)
        .collect();
    let fq = |v: f64| f64::from(grid.step(v as f32).dequantized);
    let fake_quant: Vec<f32> = x.iter().map(|&v| grid.step(v).dequantized).collect();
    let true_gradient = x
        .iter()
        .map(|&v| (fq(f64::from(v) + h) - fq(f64::from(v) - h)) / (2.0 * h))
        .collect();
    let pass: Vec<bool> = x.iter().map(|&v| !grid.step(v).clamped).collect();
    let ste_gradient = ste_mask(&vec![1.0; points], &pass);
    let jumps = (grid.qmin - grid.zero_point..grid.qmax - grid.zero_point)
        .map(|j| (f64::from(j) + 0.5) * range.scale)
        .collect();
    Ok(RoundGradient {
        grid: range,
        x,
        fake_quant,
        true_gradient,
        ste_gradient,
        jumps,
        h,
    })
}

// --- the data ----------------------------------------------------------------

/// Points (`n x 2`, row-major) and their classes (0 or 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Points {
    /// `x0, y0, x1, y1, ...`
    pub xy: Vec<f32>,
    /// 0.0 or 1.0 per point.
    pub labels: Vec<f32>,
}

/// The training and test sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// The task.
    pub task: Task,
    /// [`TRAIN_POINTS`] points.
    pub train: Points,
    /// [`TEST_POINTS`] points.
    pub test: Points,
}

/// A standard normal from two uniforms (Box–Muller).
fn normal(state: &mut u64) -> f64 {
    let u1 = (uniform(state) + 1.0) / 2.0;
    let u2 = (uniform(state) + 1.0) / 2.0;
    // 1 - u1 is in (0, 1], so the log is finite.
    libm::sqrt(-2.0 * libm::log(1.0 - u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

fn sample(task: Task, n: usize, state: &mut u64) -> Points {
    let mut xy = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (x, y, label) = match task {
            Task::Circle | Task::Xor => {
                let (x, y) = (uniform(state), uniform(state));
                let inside = match task {
                    Task::Circle => x * x + y * y < 0.5,
                    _ => x * y > 0.0,
                };
                (x, y, inside)
            }
            Task::Moons => {
                // Alternate classes so both are equally common.
                let upper = i % 2 == 0;
                let t = std::f64::consts::PI * (uniform(state) + 1.0) / 2.0;
                let (mut x, mut y) = if upper {
                    (libm::cos(t), libm::sin(t))
                } else {
                    (1.0 - libm::cos(t), 0.5 - libm::sin(t))
                };
                x += 0.1 * normal(state);
                y += 0.1 * normal(state);
                // x in about [-1, 2], y in [-0.5, 1]: centre and fit in [-1, 1].
                ((x - 0.5) / 1.5, (y - 0.25) / 1.5, !upper)
            }
        };
        xy.push(x as f32);
        xy.push(y as f32);
        labels.push(if label { 1.0 } else { 0.0 });
    }
    Points { xy, labels }
}

/// The training and test sets of `task` for `seed`.
pub fn dataset(task: Task, seed: u32) -> Dataset {
    let mut state = stream(seed, 0);
    let train = sample(task, TRAIN_POINTS, &mut state);
    let test = sample(task, TEST_POINTS, &mut state);
    Dataset { task, train, test }
}

/// An independent generator state per purpose (0 data, 1 weights, 2 batches).
fn stream(seed: u32, purpose: u64) -> u64 {
    let mut s = u64::from(seed) ^ (purpose << 32);
    splitmix64(&mut s)
}

// --- the network ---------------------------------------------------------------

/// One dense layer: `rows` outputs, `cols` inputs, `w` row-major.
#[derive(Debug, Clone, PartialEq)]
struct Layer {
    rows: usize,
    cols: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// Adam's moments of one layer.
#[derive(Debug, Clone, PartialEq)]
struct Moments {
    mw: Vec<f32>,
    vw: Vec<f32>,
    mb: Vec<f32>,
    vb: Vec<f32>,
}

/// An MLP 2 → H → H → 1 and its optimiser state.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    layers: Vec<Layer>,
    moments: Vec<Moments>,
    /// β1^t and β2^t, kept as running products (not `powi`, whose rounding
    /// may differ between targets).
    beta1_t: f32,
    beta2_t: f32,
}

impl Model {
    fn new(hidden: usize, state: &mut u64) -> Model {
        let shapes = [(hidden, 2), (hidden, hidden), (1, hidden)];
        let layers: Vec<Layer> = shapes
            .iter()
            .enumerate()
            .map(|(l, &(rows, cols))| {
                // He-uniform for the ReLU layers, Glorot-uniform for the logit.
                let bound = if l + 1 < shapes.len() {
                    (6.0 / cols as f64).sqrt()
                } else {
                    (6.0 / (cols + rows) as f64).sqrt()
                };
                let w = (0..rows * cols)
                    .map(|_| (uniform(state) * bound) as f32)
                    .collect();
                Layer {
                    rows,
                    cols,
                    w,
                    b: vec![0.0; rows],
                }
            })
            .collect();
        let moments = layers
            .iter()
            .map(|l| Moments {
                mw: vec![0.0; l.w.len()],
                vw: vec![0.0; l.w.len()],
                mb: vec![0.0; l.rows],
                vb: vec![0.0; l.rows],
            })
            .collect();
        Model {
            layers,
            moments,
            beta1_t: 1.0,
            beta2_t: 1.0,
        }
    }

    /// One Adam step with these gradients (per layer: weights, biases).
    fn adam(&mut self, grads: &[(Vec<f32>, Vec<f32>)], lr: f32) {
        self.beta1_t *= ADAM_BETA1;
        self.beta2_t *= ADAM_BETA2;
        let (c1, c2) = (1.0 - self.beta1_t, 1.0 - self.beta2_t);
        let update = |p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]| {
            for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
                *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
                *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
                *p -= lr * (*m / c1) / ((*v / c2).sqrt() + ADAM_EPS);
            }
        };
        for ((layer, mo), (gw, gb)) in self.layers.iter_mut().zip(&mut self.moments).zip(grads) {
            update(&mut layer.w, &mut mo.mw, &mut mo.vw, gw);
            update(&mut layer.b, &mut mo.mb, &mut mo.vb, gb);
        }
    }
}

/// The range one batch's activations were quantized with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActRange {
    /// Which hidden layer's outputs (1 or 2).
    pub layer: usize,
    /// Smallest activation in the batch.
    pub data_min: f32,
    /// Largest activation in the batch.
    pub data_max: f32,
    /// The grid (min-max, unsigned).
    pub grid: GridRange,
}

/// What a forward pass keeps for the backward pass.
struct Pass {
    /// The input of each layer (after activation quantization), `n x cols`.
    inputs: Vec<Vec<f32>>,
    /// The pre-activations of each layer, `n x rows`.
    pre: Vec<Vec<f32>>,
    /// Per hidden layer: the STE mask of its quantized outputs.
    act_pass: Vec<Option<Vec<bool>>>,
    /// Per hidden layer: the range, when quantized.
    act_ranges: Vec<ActRange>,
}

impl Pass {
    fn logits(&self) -> &[f32] {
        &self.pre[self.pre.len() - 1]
    }
}

/// Dynamic (this batch's min-max) fake quantization of activations to the
/// unsigned grid.
fn quantize_activations(a: &mut [f32], bits: u32, layer: usize) -> (Vec<bool>, ActRange) {
    let config = QuantConfig {
        scheme: Scheme::Asymmetric,
        bits,
        granularity: Granularity::PerTensor,
        calibration: Calibration::MinMax,
    };
    let (data_min, data_max) = a
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let fq = fake_quantize_groups(a, a.len(), &config);
    a.copy_from_slice(&fq.values);
    let range = ActRange {
        layer,
        data_min,
        data_max,
        grid: fq.groups[0],
    };
    (fq.pass, range)
}

/// The forward pass of `n` points through `layers` with the weights `w`
/// (per layer: the float or the fake-quantized ones).
fn forward(layers: &[Layer], w: &[&[f32]], xy: &[f32], act_bits: Option<u32>) -> Pass {
    let n = xy.len() / 2;
    let mut pass = Pass {
        inputs: Vec::with_capacity(layers.len()),
        pre: Vec::with_capacity(layers.len()),
        act_pass: Vec::new(),
        act_ranges: Vec::new(),
    };
    let mut input = xy.to_vec();
    for (l, (layer, w)) in layers.iter().zip(w).enumerate() {
        let mut z = vec![0.0f32; n * layer.rows];
        for i in 0..n {
            let a = &input[i * layer.cols..(i + 1) * layer.cols];
            for o in 0..layer.rows {
                let wr = &w[o * layer.cols..(o + 1) * layer.cols];
                let mut s = layer.b[o];
                for (&ai, &wi) in a.iter().zip(wr) {
                    s += ai * wi;
                }
                z[i * layer.rows + o] = s;
            }
        }
        let next = if l + 1 < layers.len() {
            let mut h: Vec<f32> = z.iter().map(|&v| v.max(0.0)).collect();
            match act_bits {
                Some(bits) => {
                    let (mask, range) = quantize_activations(&mut h, bits, l + 1);
                    pass.act_pass.push(Some(mask));
                    pass.act_ranges.push(range);
                }
                None => pass.act_pass.push(None),
            }
            Some(h)
        } else {
            None
        };
        pass.inputs.push(input);
        pass.pre.push(z);
        match next {
            Some(h) => input = h,
            None => break,
        }
    }
    pass
}

/// Binary cross-entropy with logits of one point, stably.
fn bce(z: f32, y: f32) -> f32 {
    z.max(0.0) - z * y + libm::log1pf(libm::expf(-z.abs()))
}

fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + libm::expf(-z))
    } else {
        let e = libm::expf(z);
        e / (1.0 + e)
    }
}

/// Mean loss and accuracy of logits against labels.
fn score(logits: &[f32], labels: &[f32]) -> Eval {
    let n = labels.len();
    let mut loss = 0.0f64;
    let mut right = 0usize;
    for (&z, &y) in logits.iter().zip(labels) {
        loss += f64::from(bce(z, y));
        right += usize::from((z > 0.0) == (y > 0.5));
    }
    Eval {
        loss: loss / n as f64,
        accuracy: right as f64 / n as f64,
    }
}

/// The gradients of the mean loss with respect to each layer's weights (as
/// used in the forward pass) and biases.
fn backward(
    layers: &[Layer],
    w: &[&[f32]],
    pass: &Pass,
    labels: &[f32],
) -> Vec<(Vec<f32>, Vec<f32>)> {
    let n = labels.len();
    let mut grads = vec![(Vec::new(), Vec::new()); layers.len()];
    // dL/dz of the output layer.
    let mut dz: Vec<f32> = pass
        .logits()
        .iter()
        .zip(labels)
        .map(|(&z, &y)| (sigmoid(z) - y) / n as f32)
        .collect();
    for l in (0..layers.len()).rev() {
        let layer = &layers[l];
        let a = &pass.inputs[l];
        let mut gw = vec![0.0f32; layer.rows * layer.cols];
        let mut gb = vec![0.0f32; layer.rows];
        for i in 0..n {
            let ai = &a[i * layer.cols..(i + 1) * layer.cols];
            for o in 0..layer.rows {
                let d = dz[i * layer.rows + o];
                gb[o] += d;
                for (g, &x) in gw[o * layer.cols..(o + 1) * layer.cols].iter_mut().zip(ai) {
                    *g += d * x;
                }
            }
        }
        if l > 0 {
            // dL/d(input of l) = dz · W, then through the activation's STE
            // (when quantized) and the ReLU of layer l - 1.
            let mut da = vec![0.0f32; n * layer.cols];
            for i in 0..n {
                for o in 0..layer.rows {
                    let d = dz[i * layer.rows + o];
                    let wr = &w[l][o * layer.cols..(o + 1) * layer.cols];
                    for (g, &wi) in da[i * layer.cols..(i + 1) * layer.cols].iter_mut().zip(wr) {
                        *g += d * wi;
                    }
                }
            }
            if let Some(mask) = &pass.act_pass[l - 1] {
                da = ste_mask(&da, mask);
            }
            let z_prev = &pass.pre[l - 1];
            dz = da
                .iter()
                .zip(z_prev)
                .map(|(&g, &z)| if z > 0.0 { g } else { 0.0 })
                .collect();
        }
        grads[l] = (gw, gb);
    }
    grads
}

// --- the trainer ----------------------------------------------------------------

/// Loss and accuracy on a set of points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Eval {
    /// Mean binary cross-entropy (nats).
    pub loss: f64,
    /// Fraction of points classified right.
    pub accuracy: f64,
}

/// The three models at one point of training: float weights, the float
/// weights quantized after training (PTQ), and the QAT weights quantized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evals {
    /// The float model in float.
    pub float: Eval,
    /// The float model's weights quantized (post-training quantization).
    pub ptq: Eval,
    /// The QAT model's weights quantized.
    pub qat: Eval,
}

/// The losses over training, one entry per logged step (struct of arrays,
/// as a chart takes them).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// The step of each entry: 0, [`LOG_EVERY`], 2·[`LOG_EVERY`], ...
    pub step: Vec<usize>,
    /// Training-set loss of the float model.
    pub float_train: Vec<f64>,
    /// Test-set loss of the float model.
    pub float_test: Vec<f64>,
    /// Training-set loss of the float weights quantized (PTQ).
    pub ptq_train: Vec<f64>,
    /// Test-set loss of PTQ.
    pub ptq_test: Vec<f64>,
    /// Training-set loss of the QAT model, quantized.
    pub qat_train: Vec<f64>,
    /// Test-set loss of the QAT model, quantized.
    pub qat_test: Vec<f64>,
    /// Test accuracy of the float model.
    pub float_accuracy: Vec<f64>,
    /// Test accuracy of PTQ.
    pub ptq_accuracy: Vec<f64>,
    /// Test accuracy of QAT.
    pub qat_accuracy: Vec<f64>,
}

/// One model's weights of one layer on the quantization grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightGrid {
    /// The grid of each group (one, or one per output channel).
    pub groups: Vec<GridRange>,
    /// Histogram of each weight's position on its grid (`w / Δ + zero
    /// point`, so the grid's points are the integers, whatever the group)
    /// over `[qmin − 1, qmax + 1]`.
    pub histogram: Histogram,
    /// How many weights round to each integer, `qmin..=qmax`.
    pub levels: Vec<u64>,
    /// Weights outside the clip range (clamped to the end of the grid).
    pub clipped: usize,
}

/// A layer's weights for the histograms.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerView {
    /// Outputs.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// The float model's weights on the grid PTQ rounds them to.
    pub ptq: WeightGrid,
    /// The QAT model's latent weights on the grid its forward pass rounds them to.
    pub qat: WeightGrid,
}

/// The QAT model's last step through one layer's weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerGradient {
    /// dL/dŵ: the gradient reaching the rounded weights.
    pub upstream: Vec<f32>,
    /// dL/dw: what the STE passes to the latent weights.
    pub ste: Vec<f32>,
    /// Weights inside the clip range (gradient passed).
    pub passed: usize,
    /// Weights outside it (gradient zeroed).
    pub clipped: usize,
}

/// The decision function of the three models on a square grid of points.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Boundary {
    /// Cells per side.
    pub size: usize,
    /// The image covers `[-extent, extent]²`.
    pub extent: f32,
    /// P(class 1) per cell, row-major, row 0 at the top (largest y); cell
    /// `(r, c)` is the point `(−e + (c + ½)·2e/size, e − (r + ½)·2e/size)`.
    pub float: Vec<f32>,
    /// The same for PTQ.
    pub ptq: Vec<f32>,
    /// The same for QAT.
    pub qat: Vec<f32>,
}

/// Everything the page draws, at the current step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QatView {
    /// The configuration.
    pub config: QatConfig,
    /// Steps trained.
    pub step: usize,
    /// Test-set loss and accuracy now.
    pub test: Evals,
    /// Training-set loss and accuracy now.
    pub train: Evals,
    /// The curves.
    pub history: History,
    /// The decision functions.
    pub boundary: Boundary,
    /// Per layer: weights on the grid.
    pub layers: Vec<LayerView>,
    /// Per layer: the QAT model's last step (empty before the first step).
    pub gradient: Vec<LayerGradient>,
    /// The activation ranges (empty when activations stay in float): of the
    /// QAT model's last training batch, and of the test set for PTQ and
    /// QAT.
    pub activations: Activations,
}

/// Activation ranges per hidden layer.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Activations {
    /// The QAT model's last training batch (empty before the first step).
    pub qat_batch: Vec<ActRange>,
    /// PTQ on the test set (one batch).
    pub ptq_test: Vec<ActRange>,
    /// QAT on the test set (one batch).
    pub qat_test: Vec<ActRange>,
}

/// Trains the float and the QAT model side by side, a few steps at a time.
#[derive(Debug, Clone)]
pub struct QatTrainer {
    config: QatConfig,
    data: Dataset,
    float: Model,
    qat: Model,
    step: usize,
    batches: u64,
    order: Vec<usize>,
    cursor: usize,
    history: History,
    gradient: Vec<LayerGradient>,
    qat_batch: Vec<ActRange>,
}

impl QatTrainer {
    /// A fresh pair of models for `config`. Errors on a bad configuration
    /// (bits, activation bits, hidden size, learning rate, batch size,
    /// calibration parameters; per-group granularity).
    pub fn new(config: QatConfig) -> Result<QatTrainer> {
        config.check()?;
        let data = dataset(config.task, config.seed);
        let float = Model::new(config.hidden, &mut stream(config.seed, 1));
        let qat = float.clone();
        let mut t = QatTrainer {
            config,
            data,
            float,
            qat,
            step: 0,
            batches: stream(config.seed, 2),
            order: (0..TRAIN_POINTS).collect(),
            cursor: TRAIN_POINTS,
            history: History::default(),
            gradient: Vec::new(),
            qat_batch: Vec::new(),
        };
        t.log();
        Ok(t)
    }

    /// The configuration.
    pub fn config(&self) -> &QatConfig {
        &self.config
    }

    /// Steps trained so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The training and test sets.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// Trains `steps` more steps (1..=[`MAX_STEPS_PER_CALL`]) of both models.
    pub fn train(&mut self, steps: usize) -> Result<()> {
        if !(1..=MAX_STEPS_PER_CALL).contains(&steps) {
            return Err(Error::invalid(format!(
                "steps must be in 1..={MAX_STEPS_PER_CALL}, got {steps}"
            )));
        }
        for _ in 0..steps {
            self.train_step();
        }
        Ok(())
    }

    /// The next mini-batch: a fresh shuffle (Fisher–Yates) every epoch.
    fn next_batch(&mut self) -> (Vec<f32>, Vec<f32>) {
        let b = self.config.batch;
        let mut xy = Vec::with_capacity(2 * b);
        let mut labels = Vec::with_capacity(b);
        for _ in 0..b {
            if self.cursor == TRAIN_POINTS {
                for i in (1..TRAIN_POINTS).rev() {
                    let j = (splitmix64(&mut self.batches) % (i as u64 + 1)) as usize;
                    self.order.swap(i, j);
                }
                self.cursor = 0;
            }
            let p = self.order[self.cursor];
            self.cursor += 1;
            xy.extend_from_slice(&self.data.train.xy[2 * p..2 * p + 2]);
            labels.push(self.data.train.labels[p]);
        }
        (xy, labels)
    }

    fn train_step(&mut self) {
        let (xy, labels) = self.next_batch();
        let lr = self.config.learning_rate;

        let w: Vec<&[f32]> = self.float.layers.iter().map(|l| l.w.as_slice()).collect();
        let pass = forward(&self.float.layers, &w, &xy, None);
        let grads = backward(&self.float.layers, &w, &pass, &labels);
        self.float.adam(&grads, lr);

        let fq = self.fake_quantize(&self.qat);
        let w: Vec<&[f32]> = fq.iter().map(|f| f.values.as_slice()).collect();
        let pass = forward(&self.qat.layers, &w, &xy, self.config.act_bits);
        let mut grads = backward(&self.qat.layers, &w, &pass, &labels);
        self.gradient.clear();
        for ((gw, _), f) in grads.iter_mut().zip(&fq) {
            let ste = ste_mask(gw, &f.pass);
            let passed = f.pass.iter().filter(|&&p| p).count();
            self.gradient.push(LayerGradient {
                upstream: std::mem::replace(gw, ste.clone()),
                ste,
                passed,
                clipped: f.pass.len() - passed,
            });
        }
        self.qat_batch = pass.act_ranges;
        self.qat.adam(&grads, lr);

        self.step += 1;
        if self.step.is_multiple_of(LOG_EVERY) {
            self.log();
        }
    }

    /// Each layer's weights fake-quantized as the config says.
    fn fake_quantize(&self, model: &Model) -> Vec<FakeQuantized> {
        let config = self.config.weight_config();
        model
            .layers
            .iter()
            .map(|l| {
                let group = match config.granularity {
                    Granularity::PerRow => l.cols,
                    _ => l.w.len(),
                };
                fake_quantize_groups(&l.w, group, &config)
            })
            .collect()
    }

    /// Logits of `model` on `xy`: float weights and activations, or
    /// quantized weights and (when configured) activations.
    fn logits(&self, model: &Model, quantized: bool, xy: &[f32]) -> Pass {
        if quantized {
            let fq = self.fake_quantize(model);
            let w: Vec<&[f32]> = fq.iter().map(|f| f.values.as_slice()).collect();
            forward(&model.layers, &w, xy, self.config.act_bits)
        } else {
            let w: Vec<&[f32]> = model.layers.iter().map(|l| l.w.as_slice()).collect();
            forward(&model.layers, &w, xy, None)
        }
    }

    fn evals(&self, points: &Points) -> Evals {
        let eval =
            |m: &Model, q: bool| score(self.logits(m, q, &points.xy).logits(), &points.labels);
        Evals {
            float: eval(&self.float, false),
            ptq: eval(&self.float, true),
            qat: eval(&self.qat, true),
        }
    }

    fn log(&mut self) {
        let train = self.evals(&self.data.train);
        let test = self.evals(&self.data.test);
        let h = &mut self.history;
        h.step.push(self.step);
        h.float_train.push(train.float.loss);
        h.float_test.push(test.float.loss);
        h.ptq_train.push(train.ptq.loss);
        h.ptq_test.push(test.ptq.loss);
        h.qat_train.push(train.qat.loss);
        h.qat_test.push(test.qat.loss);
        h.float_accuracy.push(test.float.accuracy);
        h.ptq_accuracy.push(test.ptq.accuracy);
        h.qat_accuracy.push(test.qat.accuracy);
    }

    /// Test-set loss and accuracy of the three models now.
    pub fn test(&self) -> Evals {
        self.evals(&self.data.test)
    }

    fn weight_grid(&self, model: &Model, layer: usize) -> Result<WeightGrid> {
        let fq = &self.fake_quantize(model)[layer];
        let (qmin, qmax) = qrange(self.config.scheme, self.config.bits);
        let span = (qmax - qmin + 2) as usize;
        let per_step = (128 / span).clamp(1, 16);
        let position: Vec<f32> = fq.position.iter().map(|&p| p as f32).collect();
        let histogram = metrics::histogram(
            &position,
            span * per_step,
            Some(((qmin - 1) as f32, (qmax + 1) as f32)),
        )?;
        let mut levels = vec![0u64; (qmax - qmin + 1) as usize];
        for &q in &fq.ints {
            levels[(q - qmin) as usize] += 1;
        }
        Ok(WeightGrid {
            groups: fq.groups.clone(),
            histogram,
            levels,
            clipped: fq.pass.iter().filter(|&&p| !p).count(),
        })
    }

    fn boundary(&self) -> Boundary {
        let (n, e) = (BOUNDARY_SIZE, BOUNDARY_EXTENT);
        let cell = 2.0 * e / n as f32;
        let mut xy = Vec::with_capacity(2 * n * n);
        for r in 0..n {
            for c in 0..n {
                xy.push(-e + (c as f32 + 0.5) * cell);
                xy.push(e - (r as f32 + 0.5) * cell);
            }
        }
        let probs = |m: &Model, q: bool| -> Vec<f32> {
            self.logits(m, q, &xy)
                .logits()
                .iter()
                .map(|&z| sigmoid(z))
                .collect()
        };
        Boundary {
            size: n,
            extent: e,
            float: probs(&self.float, false),
            ptq: probs(&self.float, true),
            qat: probs(&self.qat, true),
        }
    }

    /// Everything the page draws, now.
    pub fn view(&self) -> Result<QatView> {
        let layers = (0..self.float.layers.len())
            .map(|l| {
                Ok(LayerView {
                    rows: self.float.layers[l].rows,
                    cols: self.float.layers[l].cols,
                    ptq: self.weight_grid(&self.float, l)?,
                    qat: self.weight_grid(&self.qat, l)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let test = &self.data.test.xy;
        let activations = Activations {
            qat_batch: self.qat_batch.clone(),
            ptq_test: self.logits(&self.float, true, test).act_ranges,
            qat_test: self.logits(&self.qat, true, test).act_ranges,
        };
        Ok(QatView {
            config: self.config,
            step: self.step,
            test: self.evals(&self.data.test),
            train: self.evals(&self.data.train),
            history: self.history.clone(),
            boundary: self.boundary(),
            layers,
            gradient: self.gradient.clone(),
            activations,
        })
    }
}

/// Trains `config` for `steps` steps from scratch and returns the view (what
/// the page shows after as many steps, however it split them).
pub fn run(config: QatConfig, steps: usize) -> Result<QatView> {
    let mut t = QatTrainer::new(config)?;
    if steps > 0 {
        t.train(steps)?;
    }
    t.view()
}

#[cfg(test)]
mod tests;
