//! GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization
//! for Generative Pre-trained Transformers") rounding onto ggml block
//! formats, so the result is an ordinary GGUF tensor.
//!
//! For a linear layer `y = W x` and calibration inputs `X`, GPTQ minimises
//! `||W X - Q X||²` column by column: each column is rounded, and its error,
//! scaled by the upper Cholesky factor `U` of `H⁻¹` (`H = 2 X Xᵀ`, dampened),
//! is pushed onto the columns not yet rounded. Updates beyond a block of
//! `block` columns are applied once per block (the paper's lazy batch).
//!
//! ggml formats fix the scale groups: a block of 32 values shares a scale
//! (and a minimum for Q4_1/Q5_1); a Q4_K/Q5_K super-block of 256 holds a
//! scale and minimum per 32 values. A block's scales are chosen by llama.cpp's
//! own quantizer (weighted by `diag(H)`, i.e. by the importance matrix of
//! the same calibration) from the block's values at the moment GPTQ reaches
//! it, already corrected by the earlier columns' errors; then each column of
//! the block is rounded on that block's grid. `group` chooses scales for
//! several blocks at once (a multiple of the block size); static groups
//! choose every scale from the original weights up front, which
//! activation order (columns in decreasing `diag(H)`) requires, since a
//! block's columns are then not reached together.

use crate::error::{Error, Result};
use crate::quant::layout::{f16_le, get_scale_min_k4};
use crate::quant::{blocks, GgmlType};

/// The formats GPTQ can round to.
pub const SUPPORTED: [GgmlType; 7] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q5K,
];

/// Values per grid (one scale and minimum): the 32-value blocks, and the
/// 32-value sub-blocks of Q4_K / Q5_K.
const SUB: usize = 32;

pub fn supported(ty: GgmlType) -> bool {
    SUPPORTED.contains(&ty)
}

/// GPTQ's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct GptqOptions {
    /// Dampening added to `H`'s diagonal, as a fraction of its mean (0.01).
    pub damp: f64,
    /// Columns per lazy batch update (128).
    pub block: usize,
    /// Columns whose block scales are chosen together; `None`: each block of
    /// the format on its own. Must be a multiple of the format's block size.
    pub group: Option<usize>,
    /// Round columns in decreasing `diag(H)` (the paper's "act-order").
    pub act_order: bool,
    /// Choose every block's scale from the original weights up front
    /// (implied by `act_order`; `group = -1` on the command line).
    pub static_groups: bool,
}

impl Default for GptqOptions {
    fn default() -> Self {
        GptqOptions {
            damp: 0.01,
            block: 128,
            group: None,
            act_order: false,
            static_groups: false,
        }
    }
}

impl GptqOptions {
    /// Error unless the settings can be used.
    pub fn check(&self) -> Result<()> {
        if !(self.damp.is_finite() && (0.0..=1.0).contains(&self.damp)) {
            return Err(Error::invalid(format!(
                "GPTQ dampening {} is not between 0 and 1",
                self.damp
            )));
        }
        if self.block == 0 {
            return Err(Error::invalid("GPTQ block size 0"));
        }
        Ok(())
    }
}

/// Sums of `x xᵀ` over calibration inputs of one linear layer (f64).
pub struct Hessian {
    cols: usize,
    /// (cols, cols), upper triangle filled until [`Hessian::prepare`].
    sum: Vec<f64>,
    count: u64,
}

impl Hessian {
    pub fn new(cols: usize) -> Result<Hessian> {
        let n = cols
            .checked_mul(cols)
            .filter(|_| cols > 0)
            .ok_or_else(|| Error::invalid(format!("a Hessian of {cols} columns")))?;
        crate::error::check_fits("the GPTQ Hessian", 8 * n as u64)?;
        let mut sum = Vec::new();
        sum.try_reserve_exact(n).map_err(|_| Error::TooLarge {
            what: "the GPTQ Hessian".into(),
            bytes: 8 * n as u64,
        })?;
        sum.resize(n, 0.0);
        Ok(Hessian {
            cols,
            sum,
            count: 0,
        })
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Inputs seen so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Add `x`: (n, cols) inputs.
    pub fn add(&mut self, x: &[f32]) -> Result<()> {
        let c = self.cols;
        if !x.len().is_multiple_of(c) {
            return Err(Error::invalid(format!(
                "{} input values are not rows of {c}",
                x.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "calibration input {i} is {} (the model overflows on this text)",
                x[i]
            )));
        }
        // Four inputs at a time: a quarter of the passes over `sum`.
        const T: usize = 4;
        let mut rows = x.chunks_exact(c);
        let mut buf = vec![0f64; T * c];
        loop {
            let mut m = 0;
            for (r, row) in rows.by_ref().take(T).enumerate() {
                for (b, &v) in buf[r * c..(r + 1) * c].iter_mut().zip(row) {
                    *b = v as f64;
                }
                m += 1;
            }
            if m == 0 {
                break;
            }
            buf[m * c..].fill(0.0);
            let (x0, rest) = buf.split_at(c);
            let (x1, rest) = rest.split_at(c);
            let (x2, x3) = rest.split_at(c);
            for i in 0..c {
                let (a0, a1, a2, a3) = (x0[i], x1[i], x2[i], x3[i]);
                let h = &mut self.sum[i * c + i..(i + 1) * c];
                for ((((h, &b0), &b1), &b2), &b3) in h
                    .iter_mut()
                    .zip(&x0[i..])
                    .zip(&x1[i..])
                    .zip(&x2[i..])
                    .zip(&x3[i..])
                {
                    *h += a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3;
                }
            }
            self.count += m as u64;
        }
        Ok(())
    }

    /// `H = 2/N Σ x xᵀ`, dampened, factored for GPTQ (consumes the sums).
    pub fn prepare(self, opts: &GptqOptions) -> Result<Prepared> {
        opts.check()?;
        let c = self.cols;
        if self.count == 0 {
            return Err(Error::invalid(
                "GPTQ needs calibration inputs: no tokens were seen",
            ));
        }
        let mut h = self.sum;
        let scale = 2.0 / self.count as f64;
        for i in 0..c {
            for j in i..c {
                let v = h[i * c + j] * scale;
                h[i * c + j] = v;
                h[j * c + i] = v;
            }
        }
        // An input that is always zero says nothing about its column: give
        // it a unit diagonal so H stays invertible (the column is then
        // rounded to nearest), as the reference implementation does.
        for i in 0..c {
            if h[i * c + i] == 0.0 {
                h[i * c + i] = 1.0;
            }
        }
        let mean_diag = (0..c).map(|i| h[i * c + i]).sum::<f64>() / c as f64;
        let damp = opts.damp * mean_diag;
        for i in 0..c {
            h[i * c + i] += damp;
        }
        let importance: Vec<f32> = (0..c).map(|i| h[i * c + i] as f32).collect();
        let perm = opts.act_order.then(|| {
            let mut p: Vec<usize> = (0..c).collect();
            // stable: equal diagonals keep their order
            p.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]));
            p
        });
        if let Some(p) = &perm {
            let mut hp = vec![0f64; c * c];
            for (i, &pi) in p.iter().enumerate() {
                for (j, &pj) in p.iter().enumerate() {
                    hp[i * c + j] = h[pi * c + pj];
                }
            }
            h = hp;
        }
        let u = inverse_upper_factor(&h, c).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::invalid(format!(
                "{m} (dampening {}; raise it, or calibrate on more text)",
                opts.damp
            )),
            e => e,
        })?;
        Ok(Prepared {
            cols: c,
            u: u.iter().map(|&v| v as f32).collect(),
            perm,
            importance,
            opts: opts.clone(),
        })
    }
}

/// A layer's factored Hessian, shared by the matrices reading that input.
pub struct Prepared {
    cols: usize,
    /// (cols, cols) upper triangular, `Uᵀ U = H⁻¹`, in processing order.
    u: Vec<f32>,
    /// Processing order (act-order), original column indices.
    perm: Option<Vec<usize>>,
    /// Dampened `diag(H)` per original column: block-scale weights.
    importance: Vec<f32>,
    opts: GptqOptions,
}

impl Prepared {
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Quantize `w`: (rows, cols) row-major to `ty` with GPTQ. Returns the
    /// packed rows, as [`blocks::quantize`] would.
    pub fn quantize(&self, ty: GgmlType, w: &[f32], rows: usize) -> Result<Vec<u8>> {
        let c = self.cols;
        if !supported(ty) {
            return Err(Error::Unsupported {
                ty: ty.name(),
                what: "GPTQ",
            });
        }
        let bs = ty.block_size();
        if !c.is_multiple_of(bs) {
            return Err(Error::BadLength {
                ty: ty.name(),
                block_size: bs,
                detail: format!("GPTQ: rows of {c} are not whole blocks"),
            });
        }
        if rows.checked_mul(c) != Some(w.len()) {
            return Err(Error::invalid(format!(
                "GPTQ: {} weights are not {rows} rows of {c} (the Hessian's columns)",
                w.len()
            )));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                ty: ty.name(),
                index: i,
                value: w[i],
            });
        }
        let group = match self.opts.group {
            None => bs,
            Some(g) if g > 0 && g.is_multiple_of(bs) && c.is_multiple_of(g) => g,
            Some(g) => {
                return Err(Error::invalid(format!(
                    "GPTQ group {g} is not a multiple of {}'s block size {bs} dividing the row length {c}",
                    ty.name()
                )))
            }
        };
        let static_groups = self.opts.static_groups || self.perm.is_some();
        // Groups never straddle a lazy batch: their scales see every update.
        let lazy = self.opts.block.div_ceil(group) * group;
        let row_bytes = ty.row_size(c)?;
        let type_size = ty.type_size();
        let mut out = vec![0u8; rows * row_bytes];
        let mut wp = vec![0f32; c];
        let mut err = vec![0f32; lazy];
        let mut ks = vec![0i32; c];
        let mut grids = vec![Grid::default(); c / SUB];
        let col = |p: usize| self.perm.as_ref().map_or(p, |perm| perm[p]);
        for (row, packed) in w.chunks_exact(c).zip(out.chunks_exact_mut(row_bytes)) {
            if static_groups {
                blocks::quantize_into(ty, row, c, Some(&self.importance), packed)?;
                for (g, b) in grids
                    .chunks_exact_mut(bs / SUB)
                    .zip(packed.chunks_exact(type_size))
                {
                    Grid::of(ty, b, g);
                }
            }
            for (p, v) in wp.iter_mut().enumerate() {
                *v = row[col(p)];
            }
            for b1 in (0..c).step_by(lazy) {
                let b2 = (b1 + lazy).min(c);
                for p in b1..b2 {
                    if !static_groups && p.is_multiple_of(group) {
                        // Scales of this group's blocks, from its current values.
                        let at = p / bs * type_size;
                        let dst = &mut packed[at..at + group / bs * type_size];
                        let imp = &self.importance[p..p + group];
                        blocks::quantize_into(ty, &wp[p..p + group], group, Some(imp), dst)?;
                        let g = &mut grids[p / SUB..(p + group) / SUB];
                        for (g, b) in g
                            .chunks_exact_mut(bs / SUB)
                            .zip(dst.chunks_exact(type_size))
                        {
                            Grid::of(ty, b, g);
                        }
                    }
                    let (k, q) = grids[col(p) / SUB].round(wp[p]);
                    ks[col(p)] = k;
                    let urow = &self.u[p * c..(p + 1) * c];
                    let e = (wp[p] - q) / urow[p];
                    for (v, &u) in wp[p + 1..b2].iter_mut().zip(&urow[p + 1..b2]) {
                        *v -= e * u;
                    }
                    err[p - b1] = e;
                }
                // The lazy batch: the rest of the row, once per block.
                for p in b1..b2 {
                    let e = err[p - b1];
                    let urow = &self.u[p * c + b2..(p + 1) * c];
                    for (v, &u) in wp[b2..].iter_mut().zip(urow) {
                        *v -= e * u;
                    }
                }
            }
            for (b, k) in packed.chunks_exact_mut(type_size).zip(ks.chunks_exact(bs)) {
                pack(ty, b, k);
            }
        }
        Ok(out)
    }
}

/// A block's values: `d * k + m` for integer `k` in `lo..=hi`.
#[derive(Clone, Copy, Default, Debug)]
struct Grid {
    d: f32,
    m: f32,
    lo: i32,
    hi: i32,
}

impl Grid {
    /// The grids of a packed block (its scales and minimums as stored),
    /// one per 32 values, into `out`.
    fn of(ty: GgmlType, b: &[u8], out: &mut [Grid]) {
        let d = f16_le([b[0], b[1]]);
        let g = |m, lo, hi| Grid { d, m, lo, hi };
        match ty {
            GgmlType::Q4_0 => out[0] = g(0.0, -8, 7),
            GgmlType::Q5_0 => out[0] = g(0.0, -16, 15),
            GgmlType::Q4_1 => out[0] = g(f16_le([b[2], b[3]]), 0, 15),
            GgmlType::Q5_1 => out[0] = g(f16_le([b[2], b[3]]), 0, 31),
            GgmlType::Q4K | GgmlType::Q5K => {
                // value = d·sc·q − dmin·m, computed as dequantize_row_q4_K does
                let dmin = f16_le([b[2], b[3]]);
                let mut scales = [0u8; 12];
                scales.copy_from_slice(&b[4..16]);
                let hi = if ty == GgmlType::Q4K { 15 } else { 31 };
                for (j, o) in out.iter_mut().enumerate() {
                    let (sc, m) = get_scale_min_k4(j, &scales);
                    *o = Grid {
                        d: d * sc as f32,
                        m: -(dmin * m as f32),
                        lo: 0,
                        hi,
                    };
                }
            }
            // llama.cpp's Q8_0 uses -127..=127.
            _ => out[0] = g(0.0, -127, 127),
        }
    }

    /// The nearest grid point to `x`: its `k` and value (as dequantized).
    fn round(&self, x: f32) -> (i32, f32) {
        let k = if self.d == 0.0 {
            0
        } else {
            (((x - self.m) / self.d).round() as i32).clamp(self.lo, self.hi)
        };
        (k, k as f32 * self.d + self.m)
    }
}

/// Write the block's quants `k` (its scale bytes are already in place).
fn pack(ty: GgmlType, b: &mut [u8], k: &[i32]) {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let (off, z) = if ty == GgmlType::Q4_0 { (2, 8) } else { (4, 0) };
            for j in 0..16 {
                b[off + j] = ((k[j] + z) as u8) | (((k[j + 16] + z) as u8) << 4);
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let (off, z) = if ty == GgmlType::Q5_0 {
                (2, 16)
            } else {
                (4, 0)
            };
            let mut qh = 0u32;
            for j in 0..16 {
                let (a, c) = ((k[j] + z) as u32, (k[j + 16] + z) as u32);
                qh |= ((a >> 4) & 1) << j | ((c >> 4) & 1) << (j + 16);
                b[off + 4 + j] = (a & 15) as u8 | ((c & 15) as u8) << 4;
            }
            b[off..off + 4].copy_from_slice(&qh.to_le_bytes());
        }
        GgmlType::Q4K => {
            for j in 0..4 {
                for l in 0..32 {
                    b[16 + 32 * j + l] = (k[64 * j + l] as u8) | ((k[64 * j + 32 + l] as u8) << 4);
                }
            }
        }
        GgmlType::Q5K => {
            b[16..48].fill(0);
            for j in 0..4 {
                for l in 0..32 {
                    let (lo, hi) = (k[64 * j + l] as u8, k[64 * j + 32 + l] as u8);
                    b[48 + 32 * j + l] = (lo & 15) | ((hi & 15) << 4);
                    b[16 + l] |= ((lo >> 4) << (2 * j)) | ((hi >> 4) << (2 * j + 1));
                }
            }
        }
        _ => {
            for (q, &k) in b[2..34].iter_mut().zip(k) {
                *q = k as i8 as u8;
            }
        }
    }
}

/// Upper triangular `U` with `Uᵀ U = H⁻¹` for symmetric positive definite
/// `h` (n, n). With `J` the reversal, `J H J = L Lᵀ` gives
/// `H⁻¹ = (J L⁻¹ J)ᵀ (J L⁻¹ J)`, and `J L⁻¹ J` is upper triangular: one
/// Cholesky and one triangular inverse instead of the reference's
/// Cholesky, inverse and second Cholesky.
pub(crate) fn inverse_upper_factor(h: &[f64], n: usize) -> Result<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let a = h[(n - 1 - i) * n + (n - 1 - j)];
            let s = a - dot64(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(Error::invalid(format!(
                        "the GPTQ Hessian is not positive definite (pivot {i} of {n} is {s:e})"
                    )));
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    // M = L⁻¹, row by row: M_i = (e_i - Σ_{k<i} L_ik M_k) / L_ii.
    let mut m = vec![0f64; n * n];
    for i in 0..n {
        let (done, rest) = m.split_at_mut(i * n);
        let mi = &mut rest[..n];
        for k in 0..i {
            let lik = l[i * n + k];
            for (a, &b) in mi[..=k].iter_mut().zip(&done[k * n..k * n + k + 1]) {
                *a -= lik * b;
            }
        }
        let inv = 1.0 / l[i * n + i];
        for a in mi[..i].iter_mut() {
            *a *= inv;
        }
        mi[i] = inv;
    }
    let mut u = vec![0f64; n * n];
    for i in 0..n {
        for j in i..n {
            u[i * n + j] = m[(n - 1 - i) * n + (n - 1 - j)];
        }
    }
    Ok(u)
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::quant::synth;

    /// Deterministic pseudo-random inputs with correlated columns and a few
    /// large ones (as real activations have).
    fn inputs(n: usize, cols: usize, seed: u64) -> Vec<f32> {
        let base = synth::weights(n, cols, seed);
        let mix = synth::weights(n, 8, seed + 1);
        let mut x = vec![0f32; n * cols];
        for t in 0..n {
            for j in 0..cols {
                let shared = mix[t * 8 + j % 8];
                let big = if j % 17 == 3 { 6.0 } else { 1.0 };
                x[t * cols + j] = big * (base[t * cols + j] + 2.0 * shared);
            }
        }
        x
    }

    fn matmul(w: &[f32], rows: usize, x: &[f32], cols: usize) -> Vec<f64> {
        let n = x.len() / cols;
        let mut y = vec![0f64; n * rows];
        for t in 0..n {
            for r in 0..rows {
                y[t * rows + r] = (0..cols)
                    .map(|j| w[r * cols + j] as f64 * x[t * cols + j] as f64)
                    .sum();
            }
        }
        y
    }

    fn output_error(w: &[f32], q: &[f32], rows: usize, x: &[f32], cols: usize) -> f64 {
        let (a, b) = (matmul(w, rows, x, cols), matmul(q, rows, x, cols));
        a.iter()
            .zip(&b)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn inverse_upper_factor_inverts() {
        let n = 24;
        let x = inputs(64, n, 7);
        let mut h = Hessian::new(n).unwrap();
        h.add(&x).unwrap();
        let mut full = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                full[i * n + j] = h.sum[i.min(j) * n + i.max(j)] + if i == j { 0.5 } else { 0.0 };
            }
        }
        let u = inverse_upper_factor(&full, n).unwrap();
        for i in 0..n {
            for j in 0..i {
                assert_eq!(u[i * n + j], 0.0);
            }
        }
        // (Uᵀ U) H = I
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for k in 0..n {
                    let hinv_ik: f64 = (0..n).map(|r| u[r * n + i] * u[r * n + k]).sum();
                    s += hinv_ik * full[k * n + j];
                }
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-9, "({i},{j}) {s}");
            }
        }
    }

    #[test]
    fn gptq_beats_round_to_nearest_on_held_out_inputs() {
        let (rows, cols) = (16, 256);
        let w = synth::weights(rows, cols, 11);
        let calib = inputs(512, cols, 21);
        let held_out = inputs(256, cols, 99);
        for ty in SUPPORTED {
            // groups of two 32-blocks; one whole super-block for k-quants
            let group = if ty.block_size() == 32 { 64 } else { 256 };
            let variants = [
                GptqOptions::default(),
                GptqOptions {
                    act_order: true,
                    ..Default::default()
                },
                GptqOptions {
                    group: Some(group),
                    block: 32,
                    ..Default::default()
                },
                GptqOptions {
                    static_groups: true,
                    ..Default::default()
                },
            ];
            for opts in &variants {
                let mut h = Hessian::new(cols).unwrap();
                h.add(&calib).unwrap();
                let prep = h.prepare(opts).unwrap();
                let q = prep.quantize(ty, &w, rows).unwrap();
                assert_eq!(q.len(), rows * ty.row_size(cols).unwrap());
                let gptq = blocks::dequantize(ty, &q, cols).unwrap();
                let rtn = blocks::quantize(ty, &w, cols, None).unwrap();
                let rtn = blocks::dequantize(ty, &rtn, cols).unwrap();
                let (e_gptq, e_rtn) = (
                    output_error(&w, &gptq, rows, &held_out, cols),
                    output_error(&w, &rtn, rows, &held_out, cols),
                );
                assert!(
                    e_gptq < 0.9 * e_rtn,
                    "{} {opts:?}: GPTQ {e_gptq} vs round-to-nearest {e_rtn}",
                    ty.name()
                );
            }
        }
    }

    #[test]
    fn packed_quants_are_the_values_gptq_chose() {
        // The error feedback is computed from Grid::round's values; the
        // packed block must dequantize to exactly those.
        let (rows, cols) = (4, 256);
        let w = synth::weights(rows, cols, 3);
        for ty in SUPPORTED {
            let mut h = Hessian::new(cols).unwrap();
            h.add(&inputs(128, cols, 5)).unwrap();
            let prep = h
                .prepare(&GptqOptions {
                    static_groups: true,
                    ..Default::default()
                })
                .unwrap();
            let q = prep.quantize(ty, &w, rows).unwrap();
            let back = blocks::dequantize(ty, &q, cols).unwrap();
            let bytes_per_block = ty.type_size();
            for (r, (row, brow)) in q
                .chunks_exact(ty.row_size(cols).unwrap())
                .zip(back.chunks_exact(cols))
                .enumerate()
            {
                let per_block = ty.block_size();
                for (blk, vals) in row
                    .chunks_exact(bytes_per_block)
                    .zip(brow.chunks_exact(per_block))
                {
                    let mut g = vec![Grid::default(); per_block / SUB];
                    Grid::of(ty, blk, &mut g);
                    for (i, &v) in vals.iter().enumerate() {
                        let (_, snapped) = g[i / SUB].round(v);
                        assert_eq!(snapped, v, "{} row {r}", ty.name());
                    }
                }
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let cols = 32;
        let mut h = Hessian::new(cols).unwrap();
        assert!(h.add(&[1.0; 33]).is_err());
        assert!(h
            .add(&[f32::NAN; 32])
            .unwrap_err()
            .to_string()
            .contains("NaN"));
        // no inputs
        let e = Hessian::new(cols)
            .unwrap()
            .prepare(&GptqOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("calibration"), "{e}");
        assert!(Hessian::new(0).is_err());
        // rank one H and no dampening: not invertible, and said so
        let mut h = Hessian::new(cols).unwrap();
        h.add(&[1.0; 64]).unwrap();
        let e = h
            .prepare(&GptqOptions {
                damp: 0.0,
                ..Default::default()
            })
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("not positive definite") && e.contains("dampening"),
            "{e}"
        );
        // the same H with the default dampening is fine
        let mut h = Hessian::new(cols).unwrap();
        h.add(&[1.0; 64]).unwrap();
        let prep = h.prepare(&GptqOptions::default()).unwrap();
        let w = synth::weights(2, cols, 1);
        assert!(prep.quantize(GgmlType::Q4_0, &w, 2).is_ok());
        // wrong shapes, types, groups
        assert!(prep.quantize(GgmlType::Q4_0, &w, 3).is_err());
        assert!(prep.quantize(GgmlType::Q6K, &w, 2).is_err());
        assert!(prep.quantize(GgmlType::Q4K, &w, 2).is_err()); // 32 is not a whole block
        let mut h = Hessian::new(cols).unwrap();
        h.add(&[1.0; 64]).unwrap();
        let prep = h
            .prepare(&GptqOptions {
                group: Some(48),
                ..Default::default()
            })
            .unwrap();
        assert!(prep.quantize(GgmlType::Q4_0, &w, 2).is_err());
        let mut h = Hessian::new(cols).unwrap();
        h.add(&[1.0; 64]).unwrap();
        assert!(h
            .prepare(&GptqOptions {
                damp: -1.0,
                ..Default::default()
            })
            .is_err());
    }
}
