//! The non-linear 4-bit formats IQ4_NL and IQ4_XS: quantizers (hot parts
//! behind [`Iq4Kernels`], shared with the SIMD paths), dequantizers and dot
//! products.

use super::*;

/// `best_index_int8`: index of the entry of sorted `val` nearest to `x`
/// (binary search; ties go up).
#[inline]
pub(crate) fn best_index_int8(val: &[i8; 16], x: f32) -> usize {
    let n = val.len();
    if x <= val[0] as f32 {
        return 0;
    }
    if x >= val[n - 1] as f32 {
        return n - 1;
    }
    let (mut ml, mut mu) = (0usize, n - 1);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < val[mav] as f32 {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - (val[mu - 1] as f32) < (val[mu] as f32) - x {
        mu - 1
    } else {
        mu
    }
}

/// The hot parts of `quantize_row_iq4_nl_impl`, as a trait so that the
/// SIMD path shares the rest; [`Iq4Scalar`] is the reference.
pub(crate) trait Iq4Kernels {
    /// One block's scale search (`xb`, `weight`: 32 values; `max` its
    /// signed largest magnitude, not tiny): the first pass's indices to
    /// `lb` (with `ntry > 0` a kernel may leave `lb` alone: the caller
    /// then writes the final indices over them), returns the best `d`.
    fn scale(
        &self,
        xb: &[f32],
        weight: &[f32; 32],
        lb: &mut [u8],
        values: &[i8; 16],
        max: f32,
        ntry: i32,
    ) -> f32;
    /// `out[j] = best_index_int8(values, id * xs[j])`.
    fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]);
}

/// The reference's kernels.
pub(crate) struct Iq4Scalar;

impl Iq4Kernels for Iq4Scalar {
    fn scale(
        &self,
        xb: &[f32],
        weight: &[f32; 32],
        lb: &mut [u8],
        values: &[i8; 16],
        max: f32,
        ntry: i32,
    ) -> f32 {
        let v0 = values[0] as f32;
        let mut d = if ntry > 0 { -max / v0 } else { max / v0 };
        let mut id = 1.0 / d;
        let mut sumqx = 0f32;
        let mut sumq2 = 0f32;
        for j in 0..32 {
            let al = id * xb[j];
            let li = best_index_int8(values, al);
            lb[j] = li as u8;
            let q = values[li] as f32;
            let w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
        let mut best = d * sumqx;
        for itry in -ntry..=ntry {
            id = (itry + values[0] as i32) as f32 / max;
            sumqx = 0.0;
            sumq2 = 0.0;
            for j in 0..32 {
                let al = id * xb[j];
                let li = best_index_int8(values, al);
                let q = values[li] as f32;
                let w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        d
    }

    fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
        for (q, &v) in out.iter_mut().zip(xs) {
            *q = best_index_int8(values, id * v) as u8;
        }
    }
}

/// `quantize_row_iq4_nl_impl` with `block_size = 32`: one super-block of
/// `x.len()` values (32 for IQ4_NL, 256 for IQ4_XS). Returns the packed
/// fp16 `d`; writes `q4` and, for several blocks, `scales_h`/`scales_l`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn quantize_row_iq4_nl_impl(
    x: &[f32],
    q4: &mut [u8],
    scales_h: &mut u16,
    scales_l: &mut [u8],
    values: &[i8; 16],
    quant_weights: Option<&[f32]>,
    ntry: i32,
    kernels: &impl Iq4Kernels,
) -> [u8; 2] {
    const BLOCK_SIZE: usize = 32;
    let super_block_size = x.len();
    let nb = super_block_size / BLOCK_SIZE;
    let mut l = [0u8; QK_K];
    let mut scales = [0f32; QK_K / BLOCK_SIZE];
    let mut weight = [0f32; BLOCK_SIZE];

    let mut sigma2 = sum_sq(x);
    sigma2 *= 2.0 / super_block_size as f32;

    q4.fill(0);
    let dh;

    let mut max_scale = 0f32;
    let mut amax_scale = 0f32;
    for ib in 0..nb {
        let xb = &x[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
        let lb = &mut l[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
        match quant_weights {
            Some(qw) => imatrix_weights(
                &mut weight,
                &qw[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE],
                xb,
                sigma2,
            ),
            None => {
                for (w, &v) in weight.iter_mut().zip(xb) {
                    *w = v * v;
                }
            }
        }
        let mut amax = 0f32;
        let mut max = 0f32;
        for &v in xb {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        let d = kernels.scale(xb, &weight, lb, values, max, ntry);
        scales[ib] = d;
        let abs_d = d.abs();
        if abs_d > amax_scale {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if nb > 1 {
        *scales_h = 0;
        let d = -max_scale / 32.0;
        dh = fp16(d);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for ib in 0..nb {
            let mut li = nearest_int(id * scales[ib]).clamp(-32, 31);
            let dl = d * li as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            let xb = &x[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
            let lb = &mut l[ib * BLOCK_SIZE..(ib + 1) * BLOCK_SIZE];
            kernels.indices(values, idl, xb, lb);
            li += 32;
            let l_l = (li & 0xf) as u8;
            let l_h = (li >> 4) as u16;
            if ib % 2 == 0 {
                scales_l[ib / 2] = l_l;
            } else {
                scales_l[ib / 2] |= l_l << 4;
            }
            *scales_h |= l_h << (2 * (ib % 8));
        }
    } else {
        dh = fp16(scales[0]);
        if ntry > 0 {
            let id = if scales[0] != 0.0 {
                1.0 / scales[0]
            } else {
                0.0
            };
            kernels.indices(values, id, x, &mut l[..super_block_size]);
        }
    }

    for i in 0..super_block_size / 32 {
        for j in 0..16 {
            q4[16 * i + j] = l[32 * i + j] | (l[32 * i + 16 + j] << 4);
        }
    }
    dh
}

/// `quantize_iq4_nl` for one row (ntry = 7, importance optional).
/// `ggml_quantize_chunk` always takes this path, never
/// `quantize_row_iq4_nl_ref` (ntry = -1).
pub fn quantize_iq4_nl(x: &[f32], y: &mut [BlockIq4Nl], quant_weights: Option<&[f32]>) {
    quantize_iq4_nl_with(x, y, quant_weights, &Iq4Scalar);
}

/// [`quantize_iq4_nl`] with the given kernels.
#[inline(always)]
pub(crate) fn quantize_iq4_nl_with(
    x: &[f32],
    y: &mut [BlockIq4Nl],
    quant_weights: Option<&[f32]>,
    kernels: &impl Iq4Kernels,
) {
    let mut unused_h = 0u16;
    for (ibl, (xb, y)) in x.chunks_exact(32).zip(y).enumerate() {
        let qw = quant_weights.map(|qw| &qw[32 * ibl..32 * ibl + 32]);
        y.d = quantize_row_iq4_nl_impl(
            xb,
            &mut y.qs,
            &mut unused_h,
            &mut [],
            &KVALUES_IQ4NL,
            qw,
            7,
            kernels,
        );
    }
}

/// `quantize_iq4_xs` for one row (ntry = 7, importance optional).
pub fn quantize_iq4_xs(x: &[f32], y: &mut [BlockIq4Xs], quant_weights: Option<&[f32]>) {
    quantize_iq4_xs_with(x, y, quant_weights, &Iq4Scalar);
}

/// [`quantize_iq4_xs`] with the given kernels.
#[inline(always)]
pub(crate) fn quantize_iq4_xs_with(
    x: &[f32],
    y: &mut [BlockIq4Xs],
    quant_weights: Option<&[f32]>,
    kernels: &impl Iq4Kernels,
) {
    for (ibl, (xb, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
        let qw = quant_weights.map(|qw| &qw[QK_K * ibl..QK_K * (ibl + 1)]);
        let mut scales_h = 0u16;
        y.d = quantize_row_iq4_nl_impl(
            xb,
            &mut y.qs,
            &mut scales_h,
            &mut y.scales_l,
            &KVALUES_IQ4NL,
            qw,
            7,
            kernels,
        );
        y.scales_h = scales_h.to_le_bytes();
    }
}

/// `dequantize_row_iq4_nl`.
pub fn dequantize_row_iq4_nl(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockIq4Nl, 32>(x, y) {
        let d = f16_le(b.d);
        for j in 0..16 {
            y[j] = d * KVALUES_IQ4NL[(b.qs[j] & 0xf) as usize] as f32;
            y[j + 16] = d * KVALUES_IQ4NL[(b.qs[j] >> 4) as usize] as f32;
        }
    }
}

/// `dequantize_row_iq4_xs`.
pub fn dequantize_row_iq4_xs(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockIq4Xs, QK_K>(x, y) {
        let d = f16_le(b.d);
        for (ib, (qs, y)) in
            b.qs.chunks_exact(16)
                .zip(y.chunks_exact_mut(32))
                .enumerate()
        {
            let dl = d * (iq4xs_scale(b, ib) - 32) as f32;
            for j in 0..16 {
                y[j] = dl * KVALUES_IQ4NL[(qs[j] & 0xf) as usize] as f32;
                y[j + 16] = dl * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
            }
        }
    }
}

/// `ggml_vec_dot_iq4_nl_q8_0_generic`.
pub fn vec_dot_iq4_nl_q8_0(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in block_pairs::<BlockIq4Nl, BlockQ8_0>(vx, vy) {
        let d = f16_le(y.d) * f16_le(x.d);
        let mut sumi1 = 0i32;
        let mut sumi2 = 0i32;
        for j in 0..16 {
            sumi1 += y.qs[j] as i32 * KVALUES_IQ4NL[(x.qs[j] & 0xf) as usize] as i32;
            sumi2 += y.qs[j + 16] as i32 * KVALUES_IQ4NL[(x.qs[j] >> 4) as usize] as i32;
        }
        sumf += d * (sumi1 + sumi2) as f32;
    }
    sumf
}

/// `ggml_vec_dot_iq4_xs_q8_K_generic`.
pub fn vec_dot_iq4_xs_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in block_pairs::<BlockIq4Xs, BlockQ8K>(vx, vy) {
        let d4d8 = f16_le(x.d) * y.d();
        for ib in 0..8 {
            let dl = d4d8 * (iq4xs_scale(x, ib) - 32) as f32;
            let qs = &x.qs[16 * ib..16 * ib + 16];
            let q8 = &y.qs[32 * ib..32 * ib + 32];
            let mut sumi1 = 0i32;
            let mut sumi2 = 0i32;
            for j in 0..16 {
                sumi1 += q8[j] as i32 * KVALUES_IQ4NL[(qs[j] & 0xf) as usize] as i32;
                sumi2 += q8[j + 16] as i32 * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as i32;
            }
            sumf += dl * (sumi1 + sumi2) as f32;
        }
    }
    sumf
}
