//! The k-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K (256-value
//! super-blocks): quantizers with and without importance, dequantizers and
//! dot products. The quantizers' hot parts are [`KQuantKernels`], which the
//! SIMD paths implement, so the skeletons here are shared by every version.

use super::*;

/// `quantize_row_q8_K_ref`: `iscale = -127 / max` (signed max by
/// magnitude), `q = MIN(127, nearest_int(iscale * x))`, f32 `d`, and
/// the sums of each 16 quants.
pub fn quantize_row_q8_k_ref(x: &[f32], y: &mut [BlockQ8K]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let mut max = 0f32;
        let mut amax = 0f32;
        for &v in x {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax == 0.0 {
            // ggml leaves bsums unwritten; zero is their value.
            *y = bytemuck::Zeroable::zeroed();
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in y.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (s, q) in y.bsums.chunks_exact_mut(2).zip(y.qs.chunks_exact(16)) {
            let sum: i32 = q.iter().map(|&q| q as i32).sum();
            s.copy_from_slice(&(sum as i16).to_le_bytes());
        }
        y.d = (1.0 / iscale).to_le_bytes();
    }
}

/// Q2_K/Q3_K packing: four 2-bit quants per byte, 32 apart.
#[inline(always)]
pub(crate) fn pack_2bit<T: Copy + Into<i32>>(l: &[T; QK_K], qs: &mut [u8; 64]) {
    for j in (0..QK_K).step_by(128) {
        for k in 0..32 {
            let v = |o: usize| -> i32 { l[j + k + o].into() };
            qs[j / 4 + k] = (v(0) | (v(32) << 2) | (v(64) << 4) | (v(96) << 6)) as u8;
        }
    }
}

/// Requantize Q2_K's quants against the stored (fp16-rounded) scales.
#[inline(always)]
pub(crate) fn requantize_q2_k(x: &[f32], y: &BlockQ2K, l: &mut [u8; QK_K]) {
    let (dd, dmin) = (f16(y.d), f16(y.dmin));
    for j in 0..QK_K / 16 {
        let d = dd * (y.scales[j] & 0xF) as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin * (y.scales[j] >> 4) as f32;
        for ii in 0..16 {
            let q = nearest_int((x[16 * j + ii] + dm) / d);
            l[16 * j + ii] = q.clamp(0, 3) as u8;
        }
    }
}

/// The hot parts of the k-quant quantizers (without importance), as a
/// trait so that every version shares one skeleton
/// ([`quantize_row_q2_k_with`] and its siblings): the scalar reference is
/// [`KScalar`], and a SIMD path overrides the parts it has faster, each
/// giving the reference's results bit for bit.
pub(crate) trait KQuantKernels {
    /// [`make_qkx2_quants`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn make_qkx2_quants(
        &self,
        nmax: i32,
        x: &[f32],
        weights: &[f32],
        l: &mut [u8],
        laux: &mut [u8],
        rmin: f32,
        rdelta: f32,
        nstep: i32,
        use_mad: bool,
    ) -> (f32, f32) {
        make_qkx2_quants(nmax, x, weights, l, laux, rmin, rdelta, nstep, use_mad)
    }

    /// [`make_q3_quants`].
    #[inline(always)]
    fn make_q3_quants(&self, nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
        make_q3_quants(nmax, x, l)
    }

    /// [`make_qx_quants`].
    #[inline(always)]
    fn make_qx_quants(&self, nmax: i32, x: &[f32], l: &mut [i8], qw: Option<&[f32]>) -> f32 {
        make_qx_quants(nmax, x, l, qw)
    }

    /// [`finish_q2_k`].
    #[inline(always)]
    fn finish_q2_k(&self, x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
        finish_q2_k(x, y, l)
    }

    /// [`finish_q3_k`].
    #[inline(always)]
    fn finish_q3_k(&self, x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
        finish_q3_k(x, y, l)
    }
}

/// The scalar reference's k-quant kernels.
pub(crate) struct KScalar;

impl KQuantKernels for KScalar {}

/// The end of both Q2_K quantizers: requantize against the stored
/// scales, pack.
pub(crate) fn finish_q2_k(x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
    requantize_q2_k(x, y, l);
    pack_2bit(l, &mut y.qs);
}

/// `quantize_row_q2_K_ref`.
pub fn quantize_row_q2_k_ref(x: &[f32], y: &mut [BlockQ2K]) {
    quantize_row_q2_k_with(x, y, &KScalar)
}

/// `quantize_row_q2_K_ref` with its hot parts from `k` (a [`KQuantKernels`]), so the
/// SIMD paths share the rest through `k`.
#[inline(always)]
pub(crate) fn quantize_row_q2_k_with(x: &[f32], y: &mut [BlockQ2K], k: &impl KQuantKernels) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let mut l = [0u8; QK_K];
        let mut laux = [0u8; 16];
        let mut weights = [0f32; 16];
        let mut mins = [0f32; QK_K / 16];
        let mut scales = [0f32; QK_K / 16];
        for j in 0..QK_K / 16 {
            let xs = &x[16 * j..16 * j + 16];
            for (w, v) in weights.iter_mut().zip(xs) {
                *w = v.abs();
            }
            let (s, m) = k.make_qkx2_quants(
                3,
                xs,
                &weights,
                &mut l[16 * j..],
                &mut laux,
                -0.5,
                0.1,
                15,
                true,
            );
            scales[j] = s;
            mins[j] = m;
        }
        q2_k_set_scales(&scales, &mins, y);
        k.finish_q2_k(x, y, &mut l);
    }
}

/// The largest sub-block scale and min, as the K-quants scan them (from
/// zero: as the min is deducted, scales are never negative).
#[inline(always)]
pub(crate) fn maxima(scales: &[f32], mins: &[f32]) -> (f32, f32) {
    let mut max_scale = 0f32;
    let mut max_min = 0f32;
    for (&s, &m) in scales.iter().zip(mins) {
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    (max_scale, max_min)
}

/// `quantize_row_q2_K_ref` after the scale search: the 16 sub-block
/// scales and mins to 4 bits against their maxima, `d` and `dmin`.
#[inline(always)]
pub(crate) fn q2_k_set_scales(scales: &[f32; 16], mins: &[f32; 16], y: &mut BlockQ2K) {
    let q4scale = 15f32;
    let (max_scale, max_min) = maxima(scales, mins);
    if max_scale > 0.0 {
        let iscale = q4scale / max_scale;
        for j in 0..QK_K / 16 {
            y.scales[j] = nearest_int(iscale * scales[j]) as u8;
        }
        y.d = fp16(max_scale / q4scale);
    } else {
        y.scales = [0; 16];
        y.d = fp16(0.0);
    }
    if max_min > 0.0 {
        let iscale = q4scale / max_min;
        for j in 0..QK_K / 16 {
            let q = nearest_int(iscale * mins[j]);
            y.scales[j] = (y.scales[j] as i32 | (q << 4)) as u8;
        }
        y.dmin = fp16(max_min / q4scale);
    } else {
        y.dmin = fp16(0.0);
    }
}

/// `quantize_row_q2_K_impl`.
pub fn quantize_row_q2_k_impl(x: &[f32], y: &mut [BlockQ2K], quant_weights: &[f32]) {
    for ((x, qw), y) in x
        .chunks_exact(QK_K)
        .zip(quant_weights.chunks_exact(QK_K))
        .zip(y)
    {
        let mut l = [0u8; QK_K];
        let mut laux = [0u8; 16];
        let mut mins = [0f32; QK_K / 16];
        let mut scales = [0f32; QK_K / 16];
        let mut sw = [0f32; QK_K / 16];
        let mut weight = [0f32; 16];
        let (mut ls, mut lm) = ([0u8; QK_K / 16], [0u8; QK_K / 16]);
        let sigma2 = sum_sq(x) / QK_K as f32;
        for j in 0..QK_K / 16 {
            let xs = &x[16 * j..16 * j + 16];
            imatrix_weights(&mut weight, &qw[16 * j..16 * j + 16], xs, sigma2);
            for &w in &weight {
                sw[j] += w;
            }
            let (s, m) = make_qkx3_quants(
                3,
                xs,
                &weight,
                &mut l[16 * j..],
                &mut laux,
                -0.9,
                0.05,
                36,
                false,
            );
            scales[j] = s;
            mins[j] = m;
        }
        let dm = make_qp_quants(15, &scales, &mut ls, &sw);
        let mm = make_qp_quants(15, &mins, &mut lm, &sw);
        y.d = fp16(dm);
        y.dmin = fp16(mm);
        for j in 0..QK_K / 16 {
            y.scales[j] = ls[j] | (lm[j] << 4);
        }
        // requantize = true in ggml
        requantize_q2_k(x, y, &mut l);
        pack_2bit(&l, &mut y.qs);
    }
}

/// Q3_K's 16 six-bit scales `ls` (0..=63) into 12 bytes.
#[inline(always)]
pub(crate) fn pack_q3_k_scales(ls: impl Fn(usize) -> i32, scales: &mut [u8; 12]) {
    *scales = [0; 12];
    for j in 0..QK_K / 16 {
        let mut l = ls(j);
        if j < 8 {
            scales[j] = (l & 0xF) as u8;
        } else {
            scales[j - 8] = (scales[j - 8] as i32 | ((l & 0xF) << 4)) as u8;
        }
        l >>= 4;
        scales[j % 4 + 8] = (scales[j % 4 + 8] as i32 | (l << (2 * (j / 4)))) as u8;
    }
}

/// The end of both Q3_K quantizers: requantize against the stored
/// scales, split off the high bits into `hmask`, pack.
pub(crate) fn finish_q3_k(x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
    let dd = f16(y.d);
    for j in 0..QK_K / 16 {
        let sc = if j < 8 {
            y.scales[j] & 0xF
        } else {
            y.scales[j - 8] >> 4
        } as i32;
        let sc = (sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i32) - 32;
        // int8_t sc: 0..=63 - 32 fits
        let d = dd * sc as i8 as f32;
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let q = nearest_int(x[16 * j + ii] / d).clamp(-4, 3);
            l[16 * j + ii] = (q + 4) as i8;
        }
    }
    // We put the high-bit for the 1st 8 quants into bit 0, the next 8
    // into bit 1, etc.
    y.hmask = [0; 32];
    let mut m = 0;
    let mut hm = 1u8;
    for lj in l.iter_mut() {
        if *lj > 3 {
            y.hmask[m] |= hm;
            *lj -= 4;
        }
        m += 1;
        if m == QK_K / 8 {
            m = 0;
            hm = hm.wrapping_shl(1);
        }
    }
    let lw: [i32; QK_K] = l.map(|v| v as i32);
    pack_2bit(&lw, &mut y.qs);
}

/// `quantize_row_q3_K_ref`.
pub fn quantize_row_q3_k_ref(x: &[f32], y: &mut [BlockQ3K]) {
    quantize_row_q3_k_with(x, y, &KScalar)
}

/// `quantize_row_q3_K_ref` with its hot parts from `k` (a [`KQuantKernels`]), so the
/// SIMD paths share the rest.
#[inline(always)]
pub(crate) fn quantize_row_q3_k_with(x: &[f32], y: &mut [BlockQ3K], k: &impl KQuantKernels) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let mut max_scale = 0f32;
        let mut amax = 0f32;
        for j in 0..QK_K / 16 {
            scales[j] = k.make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..]);
            let scale = scales[j].abs();
            if scale > amax {
                amax = scale;
                max_scale = scales[j];
            }
        }
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            pack_q3_k_scales(
                |j| {
                    // int8_t l = nearest_int(...); MAX(-32, MIN(31, l)) + 32
                    let q = nearest_int(iscale * scales[j]) as i8 as i32;
                    (q.clamp(-32, 31) + 32) as i8 as i32
                },
                &mut y.scales,
            );
            y.d = fp16(1.0 / iscale);
        } else {
            y.scales = [0; 12];
            y.d = fp16(0.0);
        }
        k.finish_q3_k(x, y, &mut l);
    }
}

/// `quantize_row_q3_K_impl`.
pub fn quantize_row_q3_k_impl(x: &[f32], y: &mut [BlockQ3K], quant_weights: &[f32]) {
    for ((x, qw), y) in x
        .chunks_exact(QK_K)
        .zip(quant_weights.chunks_exact(QK_K))
        .zip(y)
    {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let mut weight = [0f32; 16];
        let mut sw = [0f32; QK_K / 16];
        let mut ls = [0i8; QK_K / 16];
        let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
        for j in 0..QK_K / 16 {
            let xs = &x[16 * j..16 * j + 16];
            imatrix_weights(&mut weight, &qw[16 * j..16 * j + 16], xs, sigma2);
            let mut sumw = 0f32;
            for &w in &weight {
                sumw += w;
            }
            sw[j] = sumw;
            scales[j] = make_qx_quants(4, xs, &mut l[16 * j..], Some(&weight));
        }
        let d_block = make_qx_quants(32, &scales, &mut ls, Some(&sw));
        pack_q3_k_scales(|j| ls[j] as i32, &mut y.scales);
        y.d = fp16(d_block);
        finish_q3_k(x, y, &mut l);
    }
}

/// Q4_K/Q5_K: eight 6-bit scales and mins into 12 bytes (`uint8_t`
/// arithmetic as ggml's).
#[inline(always)]
pub(crate) fn pack_k4_scales(ls: &[u8; 8], lm: &[u8; 8], scales: &mut [u8; 12]) {
    for j in 0..QK_K / 32 {
        let (ls, lm) = (ls[j], lm[j]);
        if j < 4 {
            scales[j] = ls;
            scales[j + 4] = lm;
        } else {
            scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            scales[j - 4] |= (ls >> 4) << 6;
            scales[j] |= (lm >> 4) << 6;
        }
    }
}

/// Requantize Q4_K/Q5_K quants (`0..=nmax`) against the stored scales.
#[inline(always)]
pub(crate) fn requantize_k4(
    x: &[f32],
    d: [u8; 2],
    dmin: [u8; 2],
    scales: &[u8; 12],
    nmax: i32,
    l: &mut [u8; QK_K],
) {
    let (dd, dmin) = (f16(d), f16(dmin));
    for j in 0..QK_K / 32 {
        let (sc, m) = crate::quant::layout::get_scale_min_k4(j, scales);
        let d = dd * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin * m as f32;
        for ii in 0..32 {
            let q = nearest_int((x[32 * j + ii] + dm) / d);
            l[32 * j + ii] = q.clamp(0, nmax) as u8;
        }
    }
}

/// The scale search shared by `quantize_row_q4_K_ref` and
/// `quantize_row_q5_K_ref`: per 32-block `make_qkx2_quants` with weights
/// `av_x + |x|`, then scales and mins to 6 bits against their maxima.
#[inline(always)]
pub(crate) fn k4_ref_scales(
    x: &[f32],
    nmax: i32,
    rmin: f32,
    nstep: i32,
    l: &mut [u8; QK_K],
    scales_out: &mut [u8; 12],
    k: &impl KQuantKernels,
) -> (f32, f32) {
    let mut laux = [0u8; 32];
    let mut weights = [0f32; 32];
    let mut mins = [0f32; QK_K / 32];
    let mut scales = [0f32; QK_K / 32];
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        let av_x = (sum_sq(xs) / 32.0).sqrt();
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let (s, m) = k.make_qkx2_quants(
            nmax,
            xs,
            &weights,
            &mut l[32 * j..],
            &mut laux,
            rmin,
            0.1,
            nstep,
            false,
        );
        scales[j] = s;
        mins[j] = m;
    }
    k4_set_scales(&scales, &mins, scales_out)
}

/// [`k4_ref_scales`] after the search: the 8 sub-block scales and mins
/// to 6 bits against their maxima, packed; returns `(d, dmin)`.
#[inline(always)]
pub(crate) fn k4_set_scales(
    scales: &[f32; 8],
    mins: &[f32; 8],
    scales_out: &mut [u8; 12],
) -> (f32, f32) {
    let (max_scale, max_min) = maxima(scales, mins);
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..QK_K / 32 {
        // uint8_t ls = nearest_int(...); ls = MIN(63, ls)
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    pack_k4_scales(&ls, &lm, scales_out);
    (max_scale / 63.0, max_min / 63.0)
}

/// The scale search shared by `quantize_row_q4_K_impl` and
/// `quantize_row_q5_K_impl`: `make_qkx3_quants` per 32-block, then
/// `make_qp_quants` for the 6-bit scales and mins.
pub(crate) fn k4_impl_scales(
    x: &[f32],
    qw: &[f32],
    nmax: i32,
    l: &mut [u8; QK_K],
    scales_out: &mut [u8; 12],
) -> (f32, f32) {
    let mut laux = [0u8; 32];
    let mut ls = [0u8; QK_K / 32];
    let mut lm = [0u8; QK_K / 32];
    let mut weights = [0f32; 32];
    let mut sw = [0f32; QK_K / 32];
    let mut mins = [0f32; QK_K / 32];
    let mut scales = [0f32; QK_K / 32];
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        imatrix_weights(&mut weights, &qw[32 * j..32 * j + 32], xs, sigma2);
        let mut sumw = 0f32;
        for &w in &weights {
            sumw += w;
        }
        sw[j] = sumw;
        let (s, m) = make_qkx3_quants(
            nmax,
            xs,
            &weights,
            &mut l[32 * j..],
            &mut laux,
            -0.9,
            0.05,
            36,
            false,
        );
        scales[j] = s;
        mins[j] = m;
    }
    let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
    let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
    if nmax == 31 {
        // quantize_row_q5_K_impl clamps, q4_K_impl does not
        for v in ls.iter_mut().chain(lm.iter_mut()) {
            *v = (*v).min(63);
        }
    }
    pack_k4_scales(&ls, &lm, scales_out);
    (d_block, m_block)
}

/// Q4_K quants: two nibbles 32 apart per byte.
#[inline(always)]
pub(crate) fn pack_q4_k(l: &[u8; QK_K], qs: &mut [u8; 128]) {
    for (j, q) in qs.chunks_exact_mut(32).enumerate() {
        for (k, q) in q.iter_mut().enumerate() {
            *q = l[64 * j + k] | (l[64 * j + k + 32] << 4);
        }
    }
}

/// Q5_K quants: low nibbles as Q4_K, fifth bits in `qh`.
#[inline(always)]
pub(crate) fn pack_q5_k(l: &[u8; QK_K], qs: &mut [u8; 128], qh: &mut [u8; 32]) {
    *qh = [0; 32];
    let (mut m1, mut m2) = (1u8, 2u8);
    for (n, ql) in qs.chunks_exact_mut(32).enumerate() {
        for j in 0..32 {
            let mut l1 = l[64 * n + j] as i32;
            if l1 > 15 {
                l1 -= 16;
                qh[j] |= m1;
            }
            let mut l2 = l[64 * n + j + 32] as i32;
            if l2 > 15 {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = (l1 | (l2 << 4)) as u8;
        }
        m1 = m1.wrapping_shl(2);
        m2 = m2.wrapping_shl(2);
    }
}

/// `quantize_row_q4_K_ref`.
pub fn quantize_row_q4_k_ref(x: &[f32], y: &mut [BlockQ4K]) {
    quantize_row_q4_k_with(x, y, &KScalar)
}

/// `quantize_row_q4_K_ref` with its scale search as an argument (for
/// the SIMD paths; `qkx2` must give `make_qkx2_quants`'s results).
#[inline(always)]
pub(crate) fn quantize_row_q4_k_with(x: &[f32], y: &mut [BlockQ4K], k: &impl KQuantKernels) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let mut l = [0u8; QK_K];
        let (d, dmin) = k4_ref_scales(x, 15, -1.0, 20, &mut l, &mut y.scales, k);
        y.d = fp16(d);
        y.dmin = fp16(dmin);
        requantize_k4(x, y.d, y.dmin, &y.scales, 15, &mut l);
        pack_q4_k(&l, &mut y.qs);
    }
}

/// `quantize_row_q4_K_impl`.
pub fn quantize_row_q4_k_impl(x: &[f32], y: &mut [BlockQ4K], quant_weights: &[f32]) {
    for ((x, qw), y) in x
        .chunks_exact(QK_K)
        .zip(quant_weights.chunks_exact(QK_K))
        .zip(y)
    {
        let mut l = [0u8; QK_K];
        let (d, dmin) = k4_impl_scales(x, qw, 15, &mut l, &mut y.scales);
        y.d = fp16(d);
        y.dmin = fp16(dmin);
        requantize_k4(x, y.d, y.dmin, &y.scales, 15, &mut l);
        pack_q4_k(&l, &mut y.qs);
    }
}

/// `quantize_row_q5_K_ref`.
pub fn quantize_row_q5_k_ref(x: &[f32], y: &mut [BlockQ5K]) {
    quantize_row_q5_k_with(x, y, &KScalar)
}

/// [`quantize_row_q4_k_with`] for `quantize_row_q5_K_ref`.
#[inline(always)]
pub(crate) fn quantize_row_q5_k_with(x: &[f32], y: &mut [BlockQ5K], k: &impl KQuantKernels) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let mut l = [0u8; QK_K];
        let (d, dmin) = k4_ref_scales(x, 31, -0.5, 15, &mut l, &mut y.scales, k);
        y.d = fp16(d);
        y.dmin = fp16(dmin);
        requantize_k4(x, y.d, y.dmin, &y.scales, 31, &mut l);
        pack_q5_k(&l, &mut y.qs, &mut y.qh);
    }
}

/// `quantize_row_q5_K_impl`.
pub fn quantize_row_q5_k_impl(x: &[f32], y: &mut [BlockQ5K], quant_weights: &[f32]) {
    for ((x, qw), y) in x
        .chunks_exact(QK_K)
        .zip(quant_weights.chunks_exact(QK_K))
        .zip(y)
    {
        let mut l = [0u8; QK_K];
        let (d, dmin) = k4_impl_scales(x, qw, 31, &mut l, &mut y.scales);
        y.d = fp16(d);
        y.dmin = fp16(dmin);
        requantize_k4(x, y.d, y.dmin, &y.scales, 31, &mut l);
        pack_q5_k(&l, &mut y.qs, &mut y.qh);
    }
}

/// `quantize_row_q6_K_impl`, which with `quant_weights == NULL` is
/// exactly `quantize_row_q6_K_ref` (make_qx_quants weights `x * x`).
/// ggml passes the raw importance here, without the `sigma2` term.
pub fn quantize_row_q6_k_impl(x: &[f32], y: &mut [BlockQ6K], quant_weights: Option<&[f32]>) {
    quantize_row_q6_k_with(x, y, quant_weights, &KScalar)
}

/// [`quantize_row_q6_k_impl`] with its scale search from `k`.
#[inline(always)]
pub(crate) fn quantize_row_q6_k_with(
    x: &[f32],
    y: &mut [BlockQ6K],
    quant_weights: Option<&[f32]>,
    k: &impl KQuantKernels,
) {
    for (i, (x, y)) in x.chunks_exact(QK_K).zip(y).enumerate() {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let mut max_scale = 0f32;
        let mut max_abs_scale = 0f32;
        for ib in 0..QK_K / 16 {
            let qw = quant_weights.map(|qw| &qw[QK_K * i + 16 * ib..QK_K * i + 16 * ib + 16]);
            let scale = k.make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut l[16 * ib..], qw);
            scales[ib] = scale;
            let abs_scale = scale.abs();
            if abs_scale > max_abs_scale {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            *y = bytemuck::Zeroable::zeroed();
            y.d = fp16(0.0);
            continue;
        }
        let iscale = -128.0 / max_scale;
        y.d = fp16(1.0 / iscale);
        for ib in 0..QK_K / 16 {
            y.scales[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
        }
        let dd = f16(y.d);
        for j in 0..QK_K / 16 {
            let d = dd * y.scales[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let q = nearest_int(x[16 * j + ii] / d).clamp(-32, 31);
                l[16 * j + ii] = (q + 32) as i8;
            }
        }
        for n in 0..2 {
            let (j, ql, qh) = (128 * n, &mut y.ql[64 * n..], &mut y.qh[32 * n..]);
            for k in 0..32 {
                let v = |o: usize| l[j + k + o] as u8;
                let (q1, q2, q3, q4) = (v(0) & 0xF, v(32) & 0xF, v(64) & 0xF, v(96) & 0xF);
                ql[k] = q1 | (q3 << 4);
                ql[k + 32] = q2 | (q4 << 4);
                qh[k] =
                    (v(0) >> 4) | ((v(32) >> 4) << 2) | ((v(64) >> 4) << 4) | ((v(96) >> 4) << 6);
            }
        }
    }
}

/// `dequantize_row_q2_K`.
pub fn dequantize_row_q2_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ2K, QK_K>(x, y) {
        let d = f16_le(b.d);
        let min = f16_le(b.dmin);
        let mut out = y.iter_mut();
        let mut is = 0;
        for q in b.qs.chunks_exact(32) {
            for shift in [0, 2, 4, 6] {
                for half in q.chunks_exact(16) {
                    let sc = b.scales[is];
                    is += 1;
                    let dl = d * (sc & 0xF) as f32;
                    let ml = min * (sc >> 4) as f32;
                    for (&ql, o) in half.iter().zip(out.by_ref()) {
                        *o = dl * ((ql >> shift) & 3) as f32 - ml;
                    }
                }
            }
        }
    }
}

/// `dequantize_row_q3_K`.
pub fn dequantize_row_q3_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ3K, QK_K>(x, y) {
        let d_all = f16_le(b.d);
        let scales = q3k_scales(&b.scales);
        let mut out = y.iter_mut();
        let mut is = 0;
        let mut m: u8 = 1;
        for q in b.qs.chunks_exact(32) {
            for shift in [0, 2, 4, 6] {
                for (half, hm) in q.chunks_exact(16).zip(b.hmask.chunks_exact(16)) {
                    let dl = d_all * (scales[is] as i32 - 32) as f32;
                    is += 1;
                    for ((&ql, &h), o) in half.iter().zip(hm).zip(out.by_ref()) {
                        let v = ((ql >> shift) & 3) as i32 - if h & m != 0 { 0 } else { 4 };
                        *o = dl * v as f32;
                    }
                }
                m = m.wrapping_shl(1);
            }
        }
    }
}

/// `dequantize_row_q4_K`.
pub fn dequantize_row_q4_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ4K, QK_K>(x, y) {
        let d = f16_le(b.d);
        let min = f16_le(b.dmin);
        for (j, (q, y)) in
            b.qs.chunks_exact(32)
                .zip(y.chunks_exact_mut(64))
                .enumerate()
        {
            let (sc1, m1) = get_scale_min_k4(2 * j, &b.scales);
            let (sc2, m2) = get_scale_min_k4(2 * j + 1, &b.scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let (lo, hi) = y.split_at_mut(32);
            for ((l, h), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(q) {
                *l = d1 * (q & 0xF) as f32 - m1;
                *h = d2 * (q >> 4) as f32 - m2;
            }
        }
    }
}

/// `dequantize_row_q5_K`.
pub fn dequantize_row_q5_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ5K, QK_K>(x, y) {
        let d = f16_le(b.d);
        let min = f16_le(b.dmin);
        for (j, (ql, y)) in
            b.qs.chunks_exact(32)
                .zip(y.chunks_exact_mut(64))
                .enumerate()
        {
            let (sc1, m1) = get_scale_min_k4(2 * j, &b.scales);
            let (sc2, m2) = get_scale_min_k4(2 * j + 1, &b.scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let u1 = 1u8 << (2 * j);
            let u2 = 2u8 << (2 * j);
            let (lo, hi) = y.split_at_mut(32);
            for (l, ((yl, yh), (&q, &h))) in lo
                .iter_mut()
                .zip(hi.iter_mut())
                .zip(ql.iter().zip(&b.qh))
                .enumerate()
            {
                let _ = l;
                let h1 = if h & u1 != 0 { 16 } else { 0 };
                let h2 = if h & u2 != 0 { 16 } else { 0 };
                *yl = d1 * ((q & 0xF) as i32 + h1) as f32 - m1;
                *yh = d2 * ((q >> 4) as i32 + h2) as f32 - m2;
            }
        }
    }
}

/// `dequantize_row_q6_K`.
pub fn dequantize_row_q6_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ6K, QK_K>(x, y) {
        let d = f16_le(b.d);
        for (n, y) in y.chunks_exact_mut(128).enumerate() {
            let ql = &b.ql[64 * n..64 * n + 64];
            let qh = &b.qh[32 * n..32 * n + 32];
            let sc = &b.scales[8 * n..8 * n + 8];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                y[l] = d * sc[is] as f32 * q1 as f32;
                y[l + 32] = d * sc[is + 2] as f32 * q2 as f32;
                y[l + 64] = d * sc[is + 4] as f32 * q3 as f32;
                y[l + 96] = d * sc[is + 6] as f32 * q4 as f32;
            }
        }
    }
}

/// `dequantize_row_q8_K`.
pub fn dequantize_row_q8_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in pairs::<BlockQ8K, QK_K>(x, y) {
        let d = b.d();
        for (o, &q) in y.iter_mut().zip(&b.qs) {
            *o = d * q as f32;
        }
    }
}

/// `ggml_vec_dot_q2_K_q8_K_generic`.
pub fn vec_dot_q2_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in block_pairs::<BlockQ2K, BlockQ8K>(vx, vy) {
        let sc = &x.scales;
        let mut summs = 0i32;
        for (j, &s) in sc.iter().enumerate() {
            summs += y.bsum(j) as i32 * (s >> 4) as i32;
        }
        let dall = y.d() * f16_le(x.d);
        let dmin = y.d() * f16_le(x.dmin);

        let mut isum = 0i32;
        let mut is = 0;
        for (k, q2) in x.qs.chunks_exact(32).enumerate() {
            for j in 0..4 {
                let shift = 2 * j;
                let q8 = &y.qs[128 * k + 32 * j..128 * k + 32 * j + 32];
                for half in 0..2 {
                    let d = (sc[is] & 0xF) as i32;
                    is += 1;
                    let mut isuml = 0i32;
                    for l in 16 * half..16 * half + 16 {
                        isuml += q8[l] as i32 * ((q2[l] >> shift) & 3) as i32;
                    }
                    isum += d * isuml;
                }
            }
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// The 8-lane float tail shared by the q3_K..q6_K generic functions:
/// `sums[l] += d * aux32[l]` per block, then `sumf += sums[l]` in lane order.
#[inline(always)]
pub(crate) fn add_lanes(sums: &mut [f32; 8], d: f32, aux32: &[i32; 8]) {
    for (s, &a) in sums.iter_mut().zip(aux32) {
        *s += d * a as f32;
    }
}

/// `aux32[l] += scale * q8[k] * a[k]` over `k ≡ l (mod 8)`, for a run of
/// `q8.len()` values sharing one scale (ggml's `aux16`/`aux32` loops; the
/// `int16` products cannot overflow for these formats: |q8*a| <= 128*32).
#[inline(always)]
pub(crate) fn mul_add_lanes(aux32: &mut [i32; 8], scale: i32, q8: &[i8], a: &[i8]) {
    for (q8, a) in q8.chunks_exact(8).zip(a.chunks_exact(8)) {
        for l in 0..8 {
            aux32[l] += scale * (q8[l] as i32 * a[l] as i32);
        }
    }
}

/// `ggml_vec_dot_q3_K_q8_K_generic`.
pub fn vec_dot_q3_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut aux8 = [0i8; 256];
    for (x, y) in block_pairs::<BlockQ3K, BlockQ8K>(vx, vy) {
        let mut a = aux8.iter_mut();
        let mut m: u8 = 1;
        for q3 in x.qs.chunks_exact(32) {
            for shift in [0, 2, 4, 6] {
                // The slices lead the zip: a by_ref iterator in front would lose
                // one element each time the shorter side runs out.
                for ((&q, &h), o) in q3.iter().zip(&x.hmask).zip(a.by_ref()) {
                    *o = ((q >> shift) & 3) as i8 - if h & m != 0 { 0 } else { 4 };
                }
                m = m.wrapping_shl(1);
            }
        }
        let scales = q3k_scales(&x.scales);
        let mut aux32 = [0i32; 8];
        for (j, &s) in scales.iter().enumerate() {
            let r = 16 * j..16 * j + 16;
            mul_add_lanes(&mut aux32, s as i32 - 32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
    }
    sums.iter().fold(0.0f32, |s, &v| s + v)
}

/// `ggml_vec_dot_q4_K_q8_K_generic`.
pub fn vec_dot_q4_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    let mut aux8 = [0i8; 256];
    for (x, y) in block_pairs::<BlockQ4K, BlockQ8K>(vx, vy) {
        for (q4, a) in x.qs.chunks_exact(32).zip(aux8.chunks_exact_mut(64)) {
            for (l, &q) in q4.iter().enumerate() {
                a[l] = (q & 0xF) as i8;
                a[l + 32] = (q >> 4) as i8;
            }
        }
        let (scales, mins) = k4_scales_mins(&x.scales);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += y.bsum(j) as i32 * mins[j / 2] as i32;
        }
        let mut aux32 = [0i32; 8];
        for (j, &s) in scales.iter().enumerate() {
            let r = 32 * j..32 * j + 32;
            mul_add_lanes(&mut aux32, s as i32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
        let dmin = f16_le(x.dmin) * y.d();
        sumf -= dmin * sumi as f32;
    }
    sums.iter().fold(sumf, |s, &v| s + v)
}

/// `ggml_vec_dot_q5_K_q8_K_generic`.
pub fn vec_dot_q5_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    let mut aux8 = [0i8; 256];
    for (x, y) in block_pairs::<BlockQ5K, BlockQ8K>(vx, vy) {
        let mut m: u8 = 1;
        for (q4, a) in x.qs.chunks_exact(32).zip(aux8.chunks_exact_mut(64)) {
            for (l, (&q, &h)) in q4.iter().zip(&x.qh).enumerate() {
                a[l] = (q & 0xF) as i8 + if h & m != 0 { 16 } else { 0 };
                a[l + 32] = (q >> 4) as i8 + if h & (m << 1) != 0 { 16 } else { 0 };
            }
            m = m.wrapping_shl(2);
        }
        let (scales, mins) = k4_scales_mins(&x.scales);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += y.bsum(j) as i32 * mins[j / 2] as i32;
        }
        let mut aux32 = [0i32; 8];
        for (j, &s) in scales.iter().enumerate() {
            let r = 32 * j..32 * j + 32;
            mul_add_lanes(&mut aux32, s as i32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
        let dmin = f16_le(x.dmin) * y.d();
        sumf -= dmin * sumi as f32;
    }
    sums.iter().fold(sumf, |s, &v| s + v)
}

/// `ggml_vec_dot_q6_K_q8_K_generic`.
pub fn vec_dot_q6_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut aux8 = [0i8; 256];
    for (x, y) in block_pairs::<BlockQ6K, BlockQ8K>(vx, vy) {
        for (n, a) in aux8.chunks_exact_mut(128).enumerate() {
            let q4 = &x.ql[64 * n..64 * n + 64];
            let qh = &x.qh[32 * n..32 * n + 32];
            for l in 0..32 {
                a[l] = ((q4[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
                a[l + 32] = ((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                a[l + 64] = ((q4[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                a[l + 96] = ((q4[l + 32] >> 4) | ((qh[l] >> 6) << 4)) as i8 - 32;
            }
        }
        let mut aux32 = [0i32; 8];
        for (j, &s) in x.scales.iter().enumerate() {
            let r = 16 * j..16 * j + 16;
            mul_add_lanes(&mut aux32, s as i32, &y.qs[r.clone()], &aux8[r]);
        }
        let d = f16_le(x.d) * y.d();
        add_lanes(&mut sums, d, &aux32);
    }
    sums.iter().fold(0.0f32, |s, &v| s + v)
}
