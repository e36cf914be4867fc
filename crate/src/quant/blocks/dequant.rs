//! Dequantizers for ggml's block formats: packed bytes back to `f32`, bit for
//! bit what ggml's `to_float` (`dequantize_row_*` in `ggml-quants.c`) gives.
//!
//! [`reference`] holds the scalar ports, one per `dequantize_row_*`. The
//! public entry points check lengths and then run either the reference or a
//! SIMD fast path (x86_64 AVX2, wasm32 simd128). Dequantization is
//! element-wise, so the fast paths only have to evaluate the same float
//! expression per element (same operands, same order, no fused multiply-add)
//! to be bit-identical to the reference.
//!
//! Block layouts live in [`layout`] as `#[repr(C)]` structs of byte arrays
//! (alignment 1, so any `&[u8]` of whole blocks can be viewed as a block
//! slice); multi-byte fields are little-endian, as in GGUF files.

use crate::error::{Error, Result};
use crate::quant::types::{GgmlType, QK_K};

/// Block layouts as in `ggml-common.h`, field names as ggml spells them.
/// Half floats are kept as `[u8; 2]` so the structs have alignment 1.
pub(crate) mod layout {
    use bytemuck::{Pod, Zeroable};

    macro_rules! block {
        ($(#[$m:meta])* $name:ident, $size:expr, { $($field:ident : $ty:ty),* $(,)? }) => {
            $(#[$m])*
            #[repr(C)]
            #[derive(Clone, Copy, Pod, Zeroable)]
            pub struct $name { $(pub $field: $ty),* }
            const _: () = assert!(core::mem::size_of::<$name>() == $size);
            const _: () = assert!(core::mem::align_of::<$name>() == 1);
        };
    }

    block!(/// `block_q4_0`: 32 weights, `x = d * (q - 8)`.
        BlockQ4_0, 18, { d: [u8; 2], qs: [u8; 16] });
    block!(/// `block_q4_1`: 32 weights, `x = d * q + m`.
        BlockQ4_1, 20, { d: [u8; 2], m: [u8; 2], qs: [u8; 16] });
    block!(/// `block_q5_0`: 32 weights, 5th bit of each quant in `qh`.
        BlockQ5_0, 22, { d: [u8; 2], qh: [u8; 4], qs: [u8; 16] });
    block!(/// `block_q5_1`.
        BlockQ5_1, 24, { d: [u8; 2], m: [u8; 2], qh: [u8; 4], qs: [u8; 16] });
    block!(/// `block_q8_0`.
        BlockQ8_0, 34, { d: [u8; 2], qs: [i8; 32] });
    block!(/// `block_q8_1`: `s = d * sum(qs)`.
        BlockQ8_1, 36, { d: [u8; 2], s: [u8; 2], qs: [i8; 32] });
    block!(/// `block_mxfp4`: E8M0 shared exponent, 32 E2M1 nibbles.
        BlockMxfp4, 17, { e: u8, qs: [u8; 16] });
    block!(/// `block_iq4_nl`: nibbles index `kvalues_iq4nl`.
        BlockIq4Nl, 18, { d: [u8; 2], qs: [u8; 16] });
    block!(/// `block_q2_K`: 16 sub-blocks of 16, 4-bit scale and min each.
        BlockQ2K, 84, { scales: [u8; 16], qs: [u8; 64], d: [u8; 2], dmin: [u8; 2] });
    block!(/// `block_q3_K`: 16 sub-blocks of 16, 6-bit scales.
        BlockQ3K, 110, { hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: [u8; 2] });
    block!(/// `block_q4_K`: 8 sub-blocks of 32, 6-bit scales and mins.
        BlockQ4K, 144, { d: [u8; 2], dmin: [u8; 2], scales: [u8; 12], qs: [u8; 128] });
    block!(/// `block_q5_K`.
        BlockQ5K, 176, { d: [u8; 2], dmin: [u8; 2], scales: [u8; 12], qh: [u8; 32], qs: [u8; 128] });
    block!(/// `block_q6_K`: 16 sub-blocks of 16, 8-bit signed scales.
        BlockQ6K, 210, { ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: [u8; 2] });
    block!(/// `block_q8_K`: f32 scale, sums of quants in groups of 16 (`bsums`, i16 LE).
        BlockQ8K, 292, { d: [u8; 4], qs: [i8; 256], bsums: [u8; 32] });
    block!(/// `block_iq4_xs`.
        BlockIq4Xs, 136, { d: [u8; 2], scales_h: [u8; 2], scales_l: [u8; 4], qs: [u8; 128] });
    block!(/// `block_tq1_0`: 5 ternary digits per byte in `qs`, 4 per byte in `qh`.
        BlockTq1_0, 54, { qs: [u8; 48], qh: [u8; 4], d: [u8; 2] });
    block!(/// `block_tq2_0`: 2 bits per weight.
        BlockTq2_0, 66, { qs: [u8; 64], d: [u8; 2] });

    impl BlockQ8K {
        #[inline(always)]
        pub fn d(&self) -> f32 {
            f32::from_le_bytes(self.d)
        }
        #[inline(always)]
        pub fn bsum(&self, j: usize) -> i16 {
            i16::from_le_bytes([self.bsums[2 * j], self.bsums[2 * j + 1]])
        }
    }
}

use layout::*;

/// `kvalues_iq4nl` from `ggml-common.h`.
pub(crate) const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// `kvalues_mxfp4` (`kvalues_fp4`): E2M1 values, doubled.
pub(crate) const KVALUES_MXFP4: [i8; 16] =
    [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// `ggml_compute_fp16_to_fp32`: exact, branch-free half to float (ggml's
/// portable version; F16C gives the same bits).
#[inline(always)]
pub(crate) fn fp16_to_f32(h: u16) -> f32 {
    let w = (h as u32) << 16;
    let sign = w & 0x8000_0000;
    let two_w = w.wrapping_add(w);
    let exp_offset: u32 = 0xE0 << 23;
    // 0x1.0p-112f
    let exp_scale = f32::from_bits(0x0780_0000);
    let normalized = f32::from_bits((two_w >> 4) + exp_offset) * exp_scale;
    let magic_mask: u32 = 126 << 23;
    let denormalized = f32::from_bits((two_w >> 17) | magic_mask) - 0.5;
    let cutoff: u32 = 1 << 27;
    let bits = if two_w < cutoff {
        denormalized.to_bits()
    } else {
        normalized.to_bits()
    };
    f32::from_bits(sign | bits)
}

/// Half float stored little-endian in two bytes.
#[inline(always)]
pub(crate) fn f16_le(b: [u8; 2]) -> f32 {
    fp16_to_f32(u16::from_le_bytes(b))
}

/// `ggml_compute_bf16_to_fp32`.
#[inline(always)]
pub(crate) fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// `ggml_e8m0_to_fp32_half`: 2^(x-128), the MXFP4 scale halved because
/// `kvalues_mxfp4` are doubled.
#[inline(always)]
pub(crate) fn e8m0_to_f32_half(x: u8) -> f32 {
    let bits = if x < 2 {
        0x0020_0000u32 << x
    } else {
        (x as u32 - 1) << 23
    };
    f32::from_bits(bits)
}

/// `get_scale_min_k4`: 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block.
#[inline(always)]
pub(crate) fn get_scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// The 8 scales and 8 mins of a Q4_K/Q5_K block, unpacked with the `utmp`
/// mask trick of `ggml_vec_dot_q4_K_q8_K` (same values as `get_scale_min_k4`).
#[inline(always)]
pub(crate) fn k4_scales_mins(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    const KMASK1: u32 = 0x3f3f3f3f;
    const KMASK2: u32 = 0x0f0f0f0f;
    const KMASK3: u32 = 0x03030303;
    let u0 = u32::from_le_bytes([q[0], q[1], q[2], q[3]]);
    let u1 = u32::from_le_bytes([q[4], q[5], q[6], q[7]]);
    let u2 = u32::from_le_bytes([q[8], q[9], q[10], q[11]]);
    let u3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let m_lo = u1 & KMASK1;
    let s_hi = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let s_lo = u0 & KMASK1;
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    sc[..4].copy_from_slice(&s_lo.to_le_bytes());
    sc[4..].copy_from_slice(&s_hi.to_le_bytes());
    mn[..4].copy_from_slice(&m_lo.to_le_bytes());
    mn[4..].copy_from_slice(&u3.to_le_bytes());
    (sc, mn)
}

/// The 16 six-bit scales of a Q3_K block (0..=63, still offset by 32), the
/// `aux`/`kmask` shuffle of `dequantize_row_q3_K`.
#[inline(always)]
pub(crate) fn q3k_scales(q: &[u8; 12]) -> [u8; 16] {
    const KMASK1: u32 = 0x03030303;
    const KMASK2: u32 = 0x0f0f0f0f;
    let a0 = u32::from_le_bytes([q[0], q[1], q[2], q[3]]);
    let a1 = u32::from_le_bytes([q[4], q[5], q[6], q[7]]);
    let tmp = u32::from_le_bytes([q[8], q[9], q[10], q[11]]);
    let r = [
        (a0 & KMASK2) | ((tmp & KMASK1) << 4),
        (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
    ];
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(r) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// IQ4_XS: 6-bit scale of sub-block `ib` (0..8), before the -32 offset.
#[inline(always)]
pub(crate) fn iq4xs_scale(b: &BlockIq4Xs, ib: usize) -> i32 {
    let scales_h = u16::from_le_bytes(b.scales_h) as i32;
    (((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) as i32) | (((scales_h >> (2 * ib)) & 3) << 4)
}

/// TQ1_0 digit extraction: `(uint8_t)(q * pow3[n]) * 3 >> 8`, a base-3 digit 0..=2.
#[inline(always)]
pub(crate) fn tq1_digit(q: u8, pow3: u8) -> i32 {
    let q = q.wrapping_mul(pow3);
    ((q as u16 * 3) >> 8) as i32
}

pub(crate) const TQ1_POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];

/// View `bytes` (whole blocks, already checked) as blocks.
#[inline(always)]
pub(crate) fn as_blocks<B: bytemuck::Pod>(bytes: &[u8]) -> &[B] {
    // Only fails if the length is not a whole number of blocks; callers
    // check, and an empty view is the harmless answer otherwise.
    bytemuck::try_cast_slice(bytes).unwrap_or(&[])
}

/// Scalar ports of ggml's `dequantize_row_*` (`ggml-quants.c`), the ground
/// truth the fast paths are tested against.
///
/// Each takes whole blocks in `x` and writes `block_size` floats per block to
/// `y`; they process as many blocks as both slices hold (the public
/// [`dequantize`](super::dequantize) checks lengths first).
pub mod reference {
    use super::*;

    /// Blocks of `x` paired with their `QK`-float output chunks.
    fn pairs<'a, B: bytemuck::Pod, const QK: usize>(
        x: &'a [u8],
        y: &'a mut [f32],
    ) -> impl Iterator<Item = (&'a B, &'a mut [f32])> {
        as_blocks::<B>(x).iter().zip(y.chunks_exact_mut(QK))
    }

    /// `ggml_fp16_to_fp32_row`.
    pub fn dequantize_row_f16(x: &[u8], y: &mut [f32]) {
        for (b, o) in x.chunks_exact(2).zip(y.iter_mut()) {
            *o = fp16_to_f32(u16::from_le_bytes([b[0], b[1]]));
        }
    }

    /// `ggml_bf16_to_fp32_row`.
    pub fn dequantize_row_bf16(x: &[u8], y: &mut [f32]) {
        for (b, o) in x.chunks_exact(2).zip(y.iter_mut()) {
            *o = bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
        }
    }

    /// Little-endian f32 copy.
    pub fn dequantize_row_f32(x: &[u8], y: &mut [f32]) {
        for (b, o) in x.chunks_exact(4).zip(y.iter_mut()) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    /// `dequantize_row_q4_0`.
    pub fn dequantize_row_q4_0(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockQ4_0, 32>(x, y) {
            let d = f16_le(b.d);
            for j in 0..16 {
                let x0 = (b.qs[j] & 0x0F) as i32 - 8;
                let x1 = (b.qs[j] >> 4) as i32 - 8;
                y[j] = x0 as f32 * d;
                y[j + 16] = x1 as f32 * d;
            }
        }
    }

    /// `dequantize_row_q4_1`.
    pub fn dequantize_row_q4_1(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockQ4_1, 32>(x, y) {
            let d = f16_le(b.d);
            let m = f16_le(b.m);
            for j in 0..16 {
                let x0 = (b.qs[j] & 0x0F) as i32;
                let x1 = (b.qs[j] >> 4) as i32;
                y[j] = x0 as f32 * d + m;
                y[j + 16] = x1 as f32 * d + m;
            }
        }
    }

    /// `dequantize_row_q5_0`.
    pub fn dequantize_row_q5_0(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockQ5_0, 32>(x, y) {
            let d = f16_le(b.d);
            let qh = u32::from_le_bytes(b.qh);
            for j in 0..16 {
                let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
                let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
                let x0 = ((b.qs[j] & 0x0F) | xh_0) as i32 - 16;
                let x1 = ((b.qs[j] >> 4) | xh_1) as i32 - 16;
                y[j] = x0 as f32 * d;
                y[j + 16] = x1 as f32 * d;
            }
        }
    }

    /// `dequantize_row_q5_1`.
    pub fn dequantize_row_q5_1(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockQ5_1, 32>(x, y) {
            let d = f16_le(b.d);
            let m = f16_le(b.m);
            let qh = u32::from_le_bytes(b.qh);
            for j in 0..16 {
                let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
                let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
                let x0 = ((b.qs[j] & 0x0F) | xh_0) as i32;
                let x1 = ((b.qs[j] >> 4) | xh_1) as i32;
                y[j] = x0 as f32 * d + m;
                y[j + 16] = x1 as f32 * d + m;
            }
        }
    }

    /// `dequantize_row_q8_0`.
    pub fn dequantize_row_q8_0(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockQ8_0, 32>(x, y) {
            let d = f16_le(b.d);
            for (o, &q) in y.iter_mut().zip(&b.qs) {
                *o = q as f32 * d;
            }
        }
    }

    /// Q8_1 has no `to_float` in ggml; like Q8_0 it is `qs * d` (`s` is
    /// only a cached sum for the dot product).
    pub fn dequantize_row_q8_1(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockQ8_1, 32>(x, y) {
            let d = f16_le(b.d);
            for (o, &q) in y.iter_mut().zip(&b.qs) {
                *o = q as f32 * d;
            }
        }
    }

    /// `dequantize_row_mxfp4`.
    pub fn dequantize_row_mxfp4(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockMxfp4, 32>(x, y) {
            let d = e8m0_to_f32_half(b.e);
            for j in 0..16 {
                let x0 = KVALUES_MXFP4[(b.qs[j] & 0x0F) as usize];
                let x1 = KVALUES_MXFP4[(b.qs[j] >> 4) as usize];
                y[j] = x0 as f32 * d;
                y[j + 16] = x1 as f32 * d;
            }
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

    /// `dequantize_row_tq1_0`.
    pub fn dequantize_row_tq1_0(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockTq1_0, QK_K>(x, y) {
            let d = f16_le(b.d);
            let mut out = y.iter_mut();
            // qs[0..32] then qs[32..48], 5 digits each, then qh, 4 digits.
            for chunk in [&b.qs[..32], &b.qs[32..]] {
                for &p in &TQ1_POW3[..5] {
                    for (&q, o) in chunk.iter().zip(out.by_ref()) {
                        *o = (tq1_digit(q, p) - 1) as f32 * d;
                    }
                }
            }
            for &p in &TQ1_POW3[..4] {
                for (&q, o) in b.qh.iter().zip(out.by_ref()) {
                    *o = (tq1_digit(q, p) - 1) as f32 * d;
                }
            }
        }
    }

    /// `dequantize_row_tq2_0`.
    pub fn dequantize_row_tq2_0(x: &[u8], y: &mut [f32]) {
        for (b, y) in pairs::<BlockTq2_0, QK_K>(x, y) {
            let d = f16_le(b.d);
            let mut out = y.iter_mut();
            for q in b.qs.chunks_exact(32) {
                for l in 0..4 {
                    for (&v, o) in q.iter().zip(out.by_ref()) {
                        let q = ((v >> (l * 2)) & 3) as i32;
                        *o = (q - 1) as f32 * d;
                    }
                }
            }
        }
    }

    /// A dequantizer: whole blocks in, one `f32` per weight out.
    pub type RowFn = fn(&[u8], &mut [f32]);

    /// The reference dequantizer for `ty`, or `None` where ggml has none.
    pub fn row_fn(ty: GgmlType) -> Option<RowFn> {
        use GgmlType::*;
        Some(match ty {
            F32 => dequantize_row_f32,
            F16 => dequantize_row_f16,
            BF16 => dequantize_row_bf16,
            Q4_0 => dequantize_row_q4_0,
            Q4_1 => dequantize_row_q4_1,
            Q5_0 => dequantize_row_q5_0,
            Q5_1 => dequantize_row_q5_1,
            Q8_0 => dequantize_row_q8_0,
            Q8_1 => dequantize_row_q8_1,
            Q2K => dequantize_row_q2_k,
            Q3K => dequantize_row_q3_k,
            Q4K => dequantize_row_q4_k,
            Q5K => dequantize_row_q5_k,
            Q6K => dequantize_row_q6_k,
            Q8K => dequantize_row_q8_k,
            IQ4NL => dequantize_row_iq4_nl,
            IQ4XS => dequantize_row_iq4_xs,
            TQ1_0 => dequantize_row_tq1_0,
            TQ2_0 => dequantize_row_tq2_0,
            MXFP4 => dequantize_row_mxfp4,
            I8 | I16 | I32 => return None,
        })
    }
}

/// Number of rows in `bytes`, checking that `row_len` is whole blocks and
/// `bytes` whole rows.
fn check_rows(ty: GgmlType, bytes_len: usize, row_len: usize) -> Result<usize> {
    let bs = ty.block_size();
    if !row_len.is_multiple_of(bs) {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!("row length {row_len} is not a multiple of the block size {bs}"),
        });
    }
    let row_bytes = ty.row_size(row_len)?;
    if row_bytes == 0 {
        if bytes_len == 0 {
            return Ok(0);
        }
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!("row length 0 but {bytes_len} bytes of data"),
        });
    }
    if !bytes_len.is_multiple_of(row_bytes) {
        let rows = bytes_len / row_bytes;
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: bs,
            detail: format!(
                "{bytes_len} bytes is not a whole number of rows of {row_len} values \
                 ({row_bytes} bytes each): expected {} or {} bytes, got {bytes_len}",
                rows * row_bytes,
                (rows + 1) * row_bytes
            ),
        });
    }
    Ok(bytes_len / row_bytes)
}

/// Dequantize `bytes` (one or more rows of `row_len` values of type `ty`)
/// to `f32`, as ggml's `to_float` does.
pub fn dequantize(ty: GgmlType, bytes: &[u8], row_len: usize) -> Result<Vec<f32>> {
    let rows = check_rows(ty, bytes.len(), row_len)?;
    let n = rows
        .checked_mul(row_len)
        .ok_or_else(|| Error::invalid(format!("{rows} rows of {row_len} values overflow")))?;
    let mut out = vec![0.0f32; n];
    dequantize_into(ty, bytes, row_len, &mut out)?;
    Ok(out)
}

/// Like [`dequantize`], writing into `dst`, which must hold exactly the
/// values in `bytes`.
pub fn dequantize_into(ty: GgmlType, bytes: &[u8], row_len: usize, dst: &mut [f32]) -> Result<()> {
    let rows = check_rows(ty, bytes.len(), row_len)?;
    let n = rows.checked_mul(row_len);
    if n != Some(dst.len()) {
        return Err(Error::BadLength {
            ty: ty.name(),
            block_size: ty.block_size(),
            detail: format!(
                "output holds {} values, the input has {rows} rows of {row_len}",
                dst.len()
            ),
        });
    }
    let f = reference::row_fn(ty).ok_or(Error::Unsupported {
        ty: ty.name(),
        what: "dequantization",
    })?;
    // Rows are contiguous, so the whole buffer is one long run of blocks.
    if simd::dequantize(ty, bytes, dst) {
        return Ok(());
    }
    f(bytes, dst);
    Ok(())
}

/// SIMD dequantizers. Each computes the same per-element float expression as
/// the reference, so the results are bit-identical.
pub(crate) mod simd {
    #[allow(unused_imports)]
    use super::*;

    /// Dequantize whole blocks with a fast path if one exists for `ty` on
    /// this machine; `false` means the caller must use the reference.
    #[allow(unused_variables)]
    pub(crate) fn dequantize(ty: GgmlType, x: &[u8], y: &mut [f32]) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::quant::dot::has_avx2() {
                // SAFETY: AVX2 and F16C are present (checked above).
                return unsafe { avx2::dequantize(ty, x, y) };
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            return wasm::dequantize(ty, x, y);
        }
        #[allow(unreachable_code)]
        false
    }

    #[cfg(target_arch = "x86_64")]
    pub(crate) mod avx2 {
        use super::super::*;
        use core::arch::x86_64::*;

        /// AVX2 dequantizers; `false` for types without one.
        ///
        /// # Safety
        /// The CPU must support AVX2 and F16C.
        #[target_feature(enable = "avx2,f16c")]
        pub(crate) unsafe fn dequantize(ty: GgmlType, x: &[u8], y: &mut [f32]) -> bool {
            use GgmlType::*;
            match ty {
                F16 => f16_row(x, y),
                Q4_0 => q4_0(x, y),
                Q4_1 => q4_1(x, y),
                Q8_0 => q8_0(x, y),
                Q2K => q2_k(x, y),
                Q3K => q3_k(x, y),
                Q4K => q4_k(x, y),
                Q5K => q5_k(x, y),
                Q6K => q6_k(x, y),
                TQ1_0 => tq1_0(x, y),
                IQ4NL => iq4_nl(x, y),
                IQ4XS => iq4_xs(x, y),
                MXFP4 => mxfp4(x, y),
                _ => return false,
            }
            true
        }

        /// 32 values from 16 bytes of nibbles (low nibbles first) and a
        /// 16-entry table of small integers: `d * table[q]`, the table looked
        /// up with a byte shuffle.
        #[inline(always)]
        unsafe fn lut_32(table: &[i8; 16], qs: *const u8, d: __m256, y: *mut f32) {
            let table = _mm_loadu_si128(table.as_ptr() as *const __m128i);
            let m4 = _mm_set1_epi8(0x0F);
            let q = _mm_loadu_si128(qs as *const __m128i);
            let lo = _mm_shuffle_epi8(table, _mm_and_si128(q, m4));
            let hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), m4));
            for (k, v) in [lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)]
                .into_iter()
                .enumerate()
            {
                let f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
                _mm256_storeu_ps(y.add(8 * k), _mm256_mul_ps(d, f));
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn iq4_nl(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockIq4Nl>(x)
                .iter()
                .zip(y.chunks_exact_mut(32))
            {
                let d = _mm256_set1_ps(f16_le(b.d));
                lut_32(&KVALUES_IQ4NL, b.qs.as_ptr(), d, y.as_mut_ptr());
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn mxfp4(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockMxfp4>(x)
                .iter()
                .zip(y.chunks_exact_mut(32))
            {
                let d = _mm256_set1_ps(e8m0_to_f32_half(b.e));
                lut_32(&KVALUES_MXFP4, b.qs.as_ptr(), d, y.as_mut_ptr());
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn iq4_xs(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockIq4Xs>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                for ib in 0..QK_K / 32 {
                    let dl = d * (iq4xs_scale(b, ib) - 32) as f32;
                    lut_32(
                        &KVALUES_IQ4NL,
                        b.qs.as_ptr().add(16 * ib),
                        _mm256_set1_ps(dl),
                        y.as_mut_ptr().add(32 * ib),
                    );
                }
            }
        }

        /// 8 bytes widened to i32 lanes, zero-extended.
        #[inline(always)]
        unsafe fn u8x8(p: *const u8) -> __m256i {
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q4_1(x: &[u8], y: &mut [f32]) {
            let m4 = _mm_set1_epi8(0x0F);
            for (b, y) in as_blocks::<BlockQ4_1>(x).iter().zip(y.chunks_exact_mut(32)) {
                let d = _mm256_set1_ps(f16_le(b.d));
                let m = _mm256_set1_ps(f16_le(b.m));
                let q = _mm_loadu_si128(b.qs.as_ptr() as *const __m128i);
                let lo = _mm_and_si128(q, m4);
                let hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
                let yp = y.as_mut_ptr();
                for (k, v) in [lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)]
                    .into_iter()
                    .enumerate()
                {
                    // x0 * d + m, unfused, as the reference.
                    let f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
                    _mm256_storeu_ps(yp.add(8 * k), _mm256_add_ps(_mm256_mul_ps(f, d), m));
                }
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q2_k(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockQ2K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                let min = f16_le(b.dmin);
                let m3 = _mm256_set1_epi32(3);
                let mut yp = y.as_mut_ptr();
                let mut is = 0;
                for n in 0..2 {
                    for shift in [0, 2, 4, 6] {
                        let sh = _mm_cvtsi32_si128(shift);
                        for half in 0..2 {
                            let sc = b.scales[is];
                            is += 1;
                            let dl = _mm256_set1_ps(d * (sc & 0xF) as f32);
                            let ml = _mm256_set1_ps(min * (sc >> 4) as f32);
                            let qp = b.qs.as_ptr().add(32 * n + 16 * half);
                            for k in 0..2 {
                                let q =
                                    _mm256_and_si256(_mm256_srl_epi32(u8x8(qp.add(8 * k)), sh), m3);
                                let v = _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(q)), ml);
                                _mm256_storeu_ps(yp, v);
                                yp = yp.add(8);
                            }
                        }
                    }
                }
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q3_k(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockQ3K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d_all = f16_le(b.d);
                let scales = q3k_scales(&b.scales);
                let m3 = _mm256_set1_epi32(3);
                let four = _mm256_set1_epi32(4);
                let mut yp = y.as_mut_ptr();
                let mut is = 0;
                let mut m = 1i32;
                for n in 0..2 {
                    for shift in [0, 2, 4, 6] {
                        let sh = _mm_cvtsi32_si128(shift);
                        let vm = _mm256_set1_epi32(m);
                        for half in 0..2 {
                            let dl = _mm256_set1_ps(d_all * (scales[is] as i32 - 32) as f32);
                            is += 1;
                            let qp = b.qs.as_ptr().add(32 * n + 16 * half);
                            let hp = b.hmask.as_ptr().add(16 * half);
                            for k in 0..2 {
                                let q =
                                    _mm256_and_si256(_mm256_srl_epi32(u8x8(qp.add(8 * k)), sh), m3);
                                // minus 4 where the hmask bit is clear
                                let clear = _mm256_cmpeq_epi32(
                                    _mm256_and_si256(u8x8(hp.add(8 * k)), vm),
                                    _mm256_setzero_si256(),
                                );
                                let v = _mm256_sub_epi32(q, _mm256_and_si256(clear, four));
                                _mm256_storeu_ps(yp, _mm256_mul_ps(dl, _mm256_cvtepi32_ps(v)));
                                yp = yp.add(8);
                            }
                        }
                        m <<= 1;
                    }
                }
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q5_k(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockQ5K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                let min = f16_le(b.dmin);
                let m15 = _mm256_set1_epi32(0xF);
                let sixteen = _mm256_set1_epi32(16);
                for j in 0..4 {
                    let (sc1, m1) = get_scale_min_k4(2 * j, &b.scales);
                    let (sc2, m2) = get_scale_min_k4(2 * j + 1, &b.scales);
                    let d1 = _mm256_set1_ps(d * sc1 as f32);
                    let m1 = _mm256_set1_ps(min * m1 as f32);
                    let d2 = _mm256_set1_ps(d * sc2 as f32);
                    let m2 = _mm256_set1_ps(min * m2 as f32);
                    let u1 = _mm256_set1_epi32(1 << (2 * j));
                    let u2 = _mm256_set1_epi32(2 << (2 * j));
                    let qp = b.qs.as_ptr().add(32 * j);
                    let yp = y.as_mut_ptr().add(64 * j);
                    for k in 0..4 {
                        let q = u8x8(qp.add(8 * k));
                        let h = u8x8(b.qh.as_ptr().add(8 * k));
                        // 16 where the qh bit is set
                        let h1 = _mm256_and_si256(
                            _mm256_cmpeq_epi32(_mm256_and_si256(h, u1), u1),
                            sixteen,
                        );
                        let h2 = _mm256_and_si256(
                            _mm256_cmpeq_epi32(_mm256_and_si256(h, u2), u2),
                            sixteen,
                        );
                        let lo = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_and_si256(q, m15), h1));
                        let hi = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_srli_epi32(q, 4), h2));
                        // d1 * q - m1, unfused, as the reference.
                        _mm256_storeu_ps(yp.add(8 * k), _mm256_sub_ps(_mm256_mul_ps(d1, lo), m1));
                        _mm256_storeu_ps(
                            yp.add(32 + 8 * k),
                            _mm256_sub_ps(_mm256_mul_ps(d2, hi), m2),
                        );
                    }
                }
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn tq1_0(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockTq1_0>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = _mm256_set1_ps(f16_le(b.d));
                let mut yp = y.as_mut_ptr();
                // qs[0..32] then qs[32..48], 5 digits each; tq1_digit per lane
                for (start, len) in [(0, 32), (32, 16)] {
                    for &p in &TQ1_POW3[..5] {
                        let vp = _mm256_set1_epi32(p as i32);
                        for k in 0..len / 8 {
                            let q = u8x8(b.qs.as_ptr().add(start + 8 * k));
                            let qp = _mm256_and_si256(
                                _mm256_mullo_epi32(q, vp),
                                _mm256_set1_epi32(0xFF),
                            );
                            let digit = _mm256_srli_epi32(
                                _mm256_add_epi32(qp, _mm256_add_epi32(qp, qp)),
                                8,
                            );
                            let v = _mm256_sub_epi32(digit, _mm256_set1_epi32(1));
                            _mm256_storeu_ps(yp, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
                            yp = yp.add(8);
                        }
                    }
                }
                let d = f16_le(b.d);
                for (i, &p) in TQ1_POW3[..4].iter().enumerate() {
                    for (l, &q) in b.qh.iter().enumerate() {
                        y[240 + 4 * i + l] = (tq1_digit(q, p) - 1) as f32 * d;
                    }
                }
            }
        }

        /// 8 bytes (as i32 after the caller's widening) to floats.
        #[inline(always)]
        unsafe fn i8x8_to_ps(p: *const u8) -> __m256 {
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i)))
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn f16_row(x: &[u8], y: &mut [f32]) {
            let n = (x.len() / 2).min(y.len());
            let mut i = 0;
            while i + 8 <= n {
                let h = _mm_loadu_si128(x.as_ptr().add(2 * i) as *const __m128i);
                _mm256_storeu_ps(y.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
                i += 8;
            }
            reference::dequantize_row_f16(&x[2 * i..2 * n], &mut y[i..n]);
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q4_0(x: &[u8], y: &mut [f32]) {
            let m4 = _mm_set1_epi8(0x0F);
            let eight = _mm_set1_epi8(8);
            for (b, y) in as_blocks::<BlockQ4_0>(x).iter().zip(y.chunks_exact_mut(32)) {
                let d = _mm256_set1_ps(f16_le(b.d));
                let q = _mm_loadu_si128(b.qs.as_ptr() as *const __m128i);
                let lo = _mm_sub_epi8(_mm_and_si128(q, m4), eight);
                let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight);
                let mut tmp = [0u8; 32];
                _mm_storeu_si128(tmp.as_mut_ptr() as *mut __m128i, lo);
                _mm_storeu_si128(tmp.as_mut_ptr().add(16) as *mut __m128i, hi);
                let yp = y.as_mut_ptr();
                for k in 0..4 {
                    // x0*d: int converted to float, times d, as the reference.
                    let v = _mm256_mul_ps(i8x8_to_ps(tmp.as_ptr().add(8 * k)), d);
                    _mm256_storeu_ps(yp.add(8 * k), v);
                }
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q8_0(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockQ8_0>(x).iter().zip(y.chunks_exact_mut(32)) {
                let d = _mm256_set1_ps(f16_le(b.d));
                let qp = b.qs.as_ptr() as *const u8;
                let yp = y.as_mut_ptr();
                for k in 0..4 {
                    _mm256_storeu_ps(yp.add(8 * k), _mm256_mul_ps(i8x8_to_ps(qp.add(8 * k)), d));
                }
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q4_k(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockQ4K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                let min = f16_le(b.dmin);
                for j in 0..4 {
                    let (sc1, m1) = get_scale_min_k4(2 * j, &b.scales);
                    let (sc2, m2) = get_scale_min_k4(2 * j + 1, &b.scales);
                    let d1 = _mm256_set1_ps(d * sc1 as f32);
                    let m1 = _mm256_set1_ps(min * m1 as f32);
                    let d2 = _mm256_set1_ps(d * sc2 as f32);
                    let m2 = _mm256_set1_ps(min * m2 as f32);
                    let qp = b.qs.as_ptr().add(32 * j);
                    let yp = y.as_mut_ptr().add(64 * j);
                    for k in 0..4 {
                        let q =
                            _mm256_cvtepu8_epi32(_mm_loadl_epi64(qp.add(8 * k) as *const __m128i));
                        let lo = _mm256_cvtepi32_ps(_mm256_and_si256(q, _mm256_set1_epi32(0xF)));
                        let hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4));
                        // d1 * q - m1, unfused, as the reference.
                        _mm256_storeu_ps(yp.add(8 * k), _mm256_sub_ps(_mm256_mul_ps(d1, lo), m1));
                        _mm256_storeu_ps(
                            yp.add(32 + 8 * k),
                            _mm256_sub_ps(_mm256_mul_ps(d2, hi), m2),
                        );
                    }
                }
            }
        }

        #[target_feature(enable = "avx2,f16c")]
        unsafe fn q6_k(x: &[u8], y: &mut [f32]) {
            for (b, y) in as_blocks::<BlockQ6K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                for n in 0..2 {
                    let ql = b.ql.as_ptr().add(64 * n);
                    let qh = b.qh.as_ptr().add(32 * n);
                    let sc = &b.scales[8 * n..8 * n + 8];
                    let yp = y.as_mut_ptr().add(128 * n);
                    for k in 0..4 {
                        // l = 8k..8k+8, is = l / 16
                        let is = k / 2;
                        let l0 =
                            _mm256_cvtepu8_epi32(_mm_loadl_epi64(ql.add(8 * k) as *const __m128i));
                        let l1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
                            ql.add(32 + 8 * k) as *const __m128i
                        ));
                        let h =
                            _mm256_cvtepu8_epi32(_mm_loadl_epi64(qh.add(8 * k) as *const __m128i));
                        let m15 = _mm256_set1_epi32(0xF);
                        let m3 = _mm256_set1_epi32(3);
                        let off = _mm256_set1_epi32(32);
                        let q1 = _mm256_or_si256(
                            _mm256_and_si256(l0, m15),
                            _mm256_slli_epi32(_mm256_and_si256(h, m3), 4),
                        );
                        let q2 = _mm256_or_si256(
                            _mm256_and_si256(l1, m15),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, 2), m3), 4),
                        );
                        let q3 = _mm256_or_si256(
                            _mm256_srli_epi32(l0, 4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, 4), m3), 4),
                        );
                        let q4 = _mm256_or_si256(
                            _mm256_srli_epi32(l1, 4),
                            _mm256_slli_epi32(_mm256_srli_epi32(h, 6), 4),
                        );
                        let qs = [q1, q2, q3, q4];
                        for (t, q) in qs.into_iter().enumerate() {
                            // (d * sc) * q, as the reference.
                            let ds = _mm256_set1_ps(d * sc[is + 2 * t] as f32);
                            let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(q, off));
                            _mm256_storeu_ps(yp.add(32 * t + 8 * k), _mm256_mul_ps(ds, v));
                        }
                    }
                }
            }
        }
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub(crate) mod wasm {
        use super::super::*;
        use core::arch::wasm32::*;

        /// simd128 dequantizers; `false` for types without one.
        pub(crate) fn dequantize(ty: GgmlType, x: &[u8], y: &mut [f32]) -> bool {
            use GgmlType::*;
            match ty {
                F16 => f16_row(x, y),
                BF16 => bf16_row(x, y),
                Q4_0 => q4_0(x, y),
                Q4_1 => q4_1(x, y),
                Q8_0 => q8_0(x, y),
                Q2K => q2_k(x, y),
                Q3K => q3_k(x, y),
                Q4K => q4_k(x, y),
                Q5K => q5_k(x, y),
                Q6K => q6_k(x, y),
                TQ1_0 => tq1_0(x, y),
                IQ4NL => iq4_nl(x, y),
                IQ4XS => iq4_xs(x, y),
                MXFP4 => mxfp4(x, y),
                _ => return false,
            }
            true
        }

        /// Store 4 floats at `y[..4]`.
        #[inline(always)]
        fn store4(y: &mut [f32], v: v128) {
            let o: &mut [f32; 4] = (&mut y[..4]).try_into().unwrap();
            // SAFETY: `o` is 16 writable bytes; `v128_store` has no
            // alignment requirement.
            unsafe { v128_store(o.as_mut_ptr() as *mut v128, v) }
        }

        #[inline(always)]
        fn load16(p: &[u8]) -> v128 {
            let a: &[u8; 16] = p[..16].try_into().unwrap();
            // SAFETY: `a` is 16 readable bytes; `v128_load` has no
            // alignment requirement.
            unsafe { v128_load(a.as_ptr() as *const v128) }
        }

        /// `f(lane as f32)` for 16 integer lanes, stored at `y[..16]`. `f`
        /// is the reference's per-element expression.
        #[inline(always)]
        fn store16(lanes: [v128; 4], y: &mut [f32], f: impl Fn(v128) -> v128) {
            let y: &mut [f32; 16] = (&mut y[..16]).try_into().unwrap();
            for (o, p) in y.chunks_exact_mut(4).zip(lanes) {
                store4(o, f(f32x4_convert_i32x4(p)));
            }
        }

        /// `ggml_fp16_to_fp32_row`. A normal half's fields moved into
        /// f32's place with the exponent rebiased by an integer add (+112)
        /// is exact, and needs no float operation: a subnormal float
        /// operand would cost x86 a microcode assist, and wasm never flushes
        /// them. Groups of 8 with a zero or subnormal half take
        /// [`f16_small`]; with an infinity or NaN, the reference, whose NaN
        /// bits then match too.
        #[inline(never)]
        fn f16_row(x: &[u8], y: &mut [f32]) {
            let n = (x.len() / 2).min(y.len());
            let (x, y) = (&x[..2 * n], &mut y[..n]);
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [top, mask, bias, c400, c800] = core::hint::black_box([
                i16x8_splat(0x7C00),
                i16x8_splat(0x8FFF_u16 as i16),
                i16x8_splat(112 << 7),
                i16x8_splat(0x400),
                i16x8_splat(0x800),
            ]);
            // exponent field plus one (as i16): 0x8000 for infinity or NaN,
            // 0x400 for zero or subnormal, 0x800..=0x7800 for normal halves
            let exp1 = |h: v128| i16x8_add(v128_and(h, top), c400);
            // Groups of 16 normal halves, up to the first group with another
            // kind: a loop without calls, so V8 keeps the constants in
            // registers instead of spilling them around the calls.
            let fast = |x: &[u8], y: &mut [f32]| -> usize {
                let mut done = 0;
                for (x, y) in x.chunks_exact(32).zip(y.chunks_exact_mut(16)) {
                    let h = [load16(x), load16(&x[16..])];
                    let lowest = i16x8_min(exp1(h[0]), exp1(h[1]));
                    if v128_any_true(i16x8_gt(c800, lowest)) {
                        break;
                    }
                    for (h, y) in h.into_iter().zip(y.chunks_exact_mut(8)) {
                        // the f32's two halves, 8 at a time: high, the sign at
                        // bit 15 and exponent and mantissa from bit 13 down,
                        // rebiased (no carry out: the exponent is at most 30);
                        // low, the mantissa's last 3 bits at the top
                        let hi = i16x8_add(v128_and(i16x8_shr(h, 3), mask), bias);
                        let lo = i16x8_shl(h, 13);
                        let (y0, y1) = y.split_at_mut(4);
                        store4(y0, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(lo, hi));
                        store4(y1, i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(lo, hi));
                    }
                    done += 16;
                }
                done
            };
            let mut at = 0;
            loop {
                at += fast(&x[2 * at..], &mut y[at..]);
                if n - at < 16 {
                    break;
                }
                // a group of 16 with a zero, subnormal, infinity or NaN
                let (x, y) = (&x[2 * at..2 * at + 32], &mut y[at..at + 16]);
                for (x, y) in x.chunks_exact(16).zip(y.chunks_exact_mut(8)) {
                    f16_group(load16(x), x, y);
                }
                at += 16;
            }
            let done = n / 16 * 16;
            for (x, y) in x[2 * done..]
                .chunks_exact(16)
                .zip(y[done..].chunks_exact_mut(8))
            {
                f16_group(load16(x), x, y);
            }
            let done = n / 8 * 8;
            reference::dequantize_row_f16(&x[2 * done..], &mut y[done..]);
        }

        /// One group of 8 halves `h` (bytes `x`) of any kind.
        #[inline(never)]
        fn f16_group(h: v128, x: &[u8], y: &mut [f32]) {
            let exp = v128_and(h, i16x8_splat(0x7C00));
            if v128_any_true(i16x8_eq(exp, i16x8_splat(0x7C00))) {
                reference::dequantize_row_f16(&x[..16], &mut y[..8]);
            } else {
                f16_small(h, y);
            }
        }

        /// 8 finite halves with integer steps and normal float operands
        /// only: a normal half's fields moved into place with the exponent
        /// rebiased (+112), a subnormal one (or zero) as
        /// `(0.5 + m * 2^-24) - 0.5`, ggml's own form; both exact.
        #[inline(always)]
        fn f16_small(h: v128, y: &mut [f32]) {
            let (y0, y1) = y.split_at_mut(4);
            for (y, w) in [
                (y0, u32x4_extend_low_u16x8(h)),
                (y1, u32x4_extend_high_u16x8(h)),
            ] {
                let a = v128_and(w, i32x4_splat(0x7FFF));
                let sign = i32x4_shl(v128_and(w, i32x4_splat(0x8000)), 16);
                let normal = i32x4_add(i32x4_shl(a, 13), i32x4_splat(112 << 23));
                let magic = v128_or(a, i32x4_splat(0x3F00_0000)); // 0.5 + a * 2^-24
                let sub = f32x4_sub(magic, f32x4_splat(0.5));
                let is_sub = i32x4_lt(a, i32x4_splat(0x400));
                store4(y, v128_or(sign, v128_bitselect(sub, normal, is_sub)));
            }
        }

        /// `ggml_bf16_to_fp32_row`: the half as the high 16 bits.
        fn bf16_row(x: &[u8], y: &mut [f32]) {
            let n = (x.len() / 2).min(y.len());
            let (x, y) = (&x[..2 * n], &mut y[..n]);
            let zero = i16x8_splat(0);
            for (x, y) in x.chunks_exact(16).zip(y.chunks_exact_mut(8)) {
                let h = load16(x);
                let (y0, y1) = y.split_at_mut(4);
                store4(y0, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(zero, h));
                store4(y1, i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(zero, h));
            }
            let done = n / 8 * 8;
            reference::dequantize_row_bf16(&x[2 * done..], &mut y[done..]);
        }

        #[inline(never)]
        fn q4_0(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [m4, c8, zero] =
                core::hint::black_box([u8x16_splat(0xF), i8x16_splat(8), i8x16_splat(0)]);
            for (b, y) in as_blocks::<BlockQ4_0>(x).iter().zip(y.chunks_exact_mut(32)) {
                let d = f32x4_splat(f16_le(b.d) * TOP);
                let q = load16(&b.qs);
                let lo = i8x16_sub(v128_and(q, m4), c8);
                let hi = i8x16_sub(v128_and(u16x8_shr(q, 4), m4), c8);
                let (y0, y1) = y.split_at_mut(16);
                // x0 * d, as the reference
                store16(top_byte(lo, zero), y0, |f| f32x4_mul(f, d));
                store16(top_byte(hi, zero), y1, |f| f32x4_mul(f, d));
            }
        }

        #[inline(never)]
        fn q4_1(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [m4, zero] = core::hint::black_box([u8x16_splat(0xF), u8x16_splat(0)]);
            for (b, y) in as_blocks::<BlockQ4_1>(x).iter().zip(y.chunks_exact_mut(32)) {
                let d = f32x4_splat(f16_le(b.d) * TOP);
                let m = f32x4_splat(f16_le(b.m));
                let q = load16(&b.qs);
                let (y0, y1) = y.split_at_mut(16);
                // x0 * d + m, unfused, as the reference
                let f = |f| f32x4_add(f32x4_mul(f, d), m);
                store16(top_byte(v128_and(q, m4), zero), y0, f);
                store16(top_byte(v128_and(u16x8_shr(q, 4), m4), zero), y1, f);
            }
        }

        #[inline(never)]
        fn q8_0(x: &[u8], y: &mut [f32]) {
            let zero = core::hint::black_box(u8x16_splat(0));
            for (b, y) in as_blocks::<BlockQ8_0>(x).iter().zip(y.chunks_exact_mut(32)) {
                let d = f32x4_splat(f16_le(b.d) * TOP);
                let qs: &[u8] = bytemuck::cast_slice(&b.qs);
                let (y0, y1) = y.split_at_mut(16);
                store16(top_byte(load16(&qs[..16]), zero), y0, |f| f32x4_mul(f, d));
                store16(top_byte(load16(&qs[16..]), zero), y1, |f| f32x4_mul(f, d));
            }
        }

        /// 16 bytes as four vectors of i32 lanes, in order, sign-extended.
        #[inline(always)]
        fn widen_i8(q: v128) -> [v128; 4] {
            let lo = i16x8_extend_low_i8x16(q);
            let hi = i16x8_extend_high_i8x16(q);
            [
                i32x4_extend_low_i16x8(lo),
                i32x4_extend_high_i16x8(lo),
                i32x4_extend_low_i16x8(hi),
                i32x4_extend_high_i16x8(hi),
            ]
        }

        /// Per-group multipliers `s * d` of a K-quant block as four vectors
        /// of four groups, from its 16 small integer scales `s` (bytes,
        /// signed): the reference's `d * s as f32`.
        #[inline(always)]
        fn group_scales(s: v128, d: f32) -> [v128; 4] {
            let d = f32x4_splat(d);
            widen_i8(s).map(|s| f32x4_mul(d, f32x4_convert_i32x4(s)))
        }

        /// Lane `L` of `v` in all four lanes.
        #[inline(always)]
        fn lane<const L: usize>(v: v128) -> v128 {
            i32x4_shuffle::<L, L, L, L>(v, v)
        }

        /// Q2_K and Q3_K's walk over a block: for each 32-byte half `n` of
        /// `qs` and each 2-bit field (shift 0, 2, 4, 6), its two 16-byte
        /// halves give groups `8n + 2s` and `8n + 2s + 1` of 16 values.
        /// `group(q, is, dl, ml)` gets the 16 bytes shifted so the field is
        /// in bits 0..2 (higher bits unmasked), the group's index and its
        /// splatted multipliers; the shifts are constants and the lanes
        /// picked by constant shuffles, as V8 wants.
        #[inline(always)]
        fn k2_walk(
            qs: &[u8; 64],
            dl: [v128; 4],
            ml: [v128; 4],
            mut group: impl FnMut(v128, usize, v128, v128),
        ) {
            for n in 0..2 {
                let mut q = [load16(&qs[32 * n..]), load16(&qs[32 * n + 16..])];
                for sp in 0..2 {
                    // groups 8n + 4sp + 0..4: the four lanes of one vector
                    let (dv, mv) = (dl[2 * n + sp], ml[2 * n + sp]);
                    let is = 8 * n + 4 * sp;
                    group(q[0], is, lane::<0>(dv), lane::<0>(mv));
                    group(q[1], is + 1, lane::<1>(dv), lane::<1>(mv));
                    q = q.map(|q| u16x8_shr(q, 2));
                    group(q[0], is + 2, lane::<2>(dv), lane::<2>(mv));
                    group(q[1], is + 3, lane::<3>(dv), lane::<3>(mv));
                    q = q.map(|q| u16x8_shr(q, 2));
                }
            }
        }

        #[inline(never)]
        fn q2_k(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [m3, m15, zero, top] = core::hint::black_box([
                u8x16_splat(3),
                u8x16_splat(0xF),
                u8x16_splat(0),
                f32x4_splat(TOP),
            ]);
            for (b, y) in as_blocks::<BlockQ2K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                // dl = d * (sc & 0xF), ml = min * (sc >> 4), per group
                let sc = load16(&b.scales);
                let dl = group_scales(v128_and(sc, m15), f16_le(b.d)).map(|v| f32x4_mul(v, top));
                let ml = group_scales(v128_and(u16x8_shr(sc, 4), m15), f16_le(b.dmin));
                k2_walk(&b.qs, dl, ml, |q, is, dl, ml| {
                    let v = top_byte(v128_and(q, m3), zero);
                    // dl * q - ml, unfused, as the reference
                    store16(v, &mut y[16 * is..], |f| f32x4_sub(f32x4_mul(dl, f), ml));
                });
            }
        }

        #[inline(never)]
        fn q3_k(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [m3, c4, c32, zero, one, top] = core::hint::black_box([
                u8x16_splat(3),
                u8x16_splat(4),
                u8x16_splat(32),
                u8x16_splat(0),
                u8x16_splat(1),
                f32x4_splat(TOP),
            ]);
            for (b, y) in as_blocks::<BlockQ3K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                // dl = d * (scale - 32), per group
                let sc = i8x16_sub(load16(&q3k_scales(&b.scales)), c32);
                let dl = group_scales(sc, f16_le(b.d)).map(|v| f32x4_mul(v, top));
                let hm = [load16(&b.hmask[..16]), load16(&b.hmask[16..])];
                // hmask bit 4n + s goes with group 8n + 2s (+1): a mask bit
                // that moves up one place every two groups
                let mut bit = one;
                k2_walk(&b.qs, dl, dl, |q, is, dl, _| {
                    // minus 4 where the hmask bit is clear
                    let clear = i8x16_eq(v128_and(hm[is & 1], bit), zero);
                    let v = i8x16_sub(v128_and(q, m3), v128_and(clear, c4));
                    store16(top_byte(v, zero), &mut y[16 * is..], |f| f32x4_mul(dl, f));
                    if is & 1 == 1 {
                        bit = i8x16_add(bit, bit);
                    }
                });
            }
        }

        /// 2^-24: scales a block's multiplier for [`top_byte`] lanes
        /// (`q << 24`). The multipliers are halves times small integers,
        /// zero or at least 2^-24, so the scaled one is a normal float and
        /// the product `(s * 2^-24) * (q * 2^24)` is `s * q` rounded once,
        /// as the reference's; an infinite or NaN `s` comes through as
        /// itself.
        const TOP: f32 = 1.0 / 16_777_216.0;

        /// A Q4_K / Q5_K block's 8 sub-block multipliers as vectors of four:
        /// `d * sc` (times `top`) and `dmin * mn`, as the reference's.
        #[inline(always)]
        fn k4_multipliers(
            scales: &[u8; 12],
            d: [u8; 2],
            dmin: [u8; 2],
            top: v128,
        ) -> ([v128; 2], [v128; 2]) {
            let (sc, mn) = k4_scales_mins(scales);
            let both = u64x2(u64::from_le_bytes(sc), u64::from_le_bytes(mn));
            let [s0, s1, m0, m1] = widen_i8(both).map(|v| f32x4_convert_i32x4(v));
            let (d, dmin) = (f32x4_splat(f16_le(d)), f32x4_splat(f16_le(dmin)));
            (
                [s0, s1].map(|s| f32x4_mul(f32x4_mul(d, s), top)),
                [m0, m1].map(|m| f32x4_mul(dmin, m)),
            )
        }

        /// Q4_K and Q5_K's walk over a block: four times 64 values,
        /// sub-blocks 2j (from the low nibbles of 32 bytes) and 2j + 1 (the
        /// high nibbles), each `d * q - m`. `quants(q, h)` turns half `h`
        /// (0, 1) of the 32 bytes into the two sub-blocks' quants; it is
        /// called in order. The multipliers come from vectors by constant
        /// lane shuffles.
        #[inline(always)]
        fn k4_walk(
            qs: &[u8; 128],
            y: &mut [f32],
            (dl, ml): ([v128; 2], [v128; 2]),
            zero: v128,
            mut quants: impl FnMut(v128, usize) -> [v128; 2],
        ) {
            let mut pair = |q: &[u8], y: &mut [f32], d1, m1, d2, m2| {
                let (lo_out, hi_out) = y.split_at_mut(32);
                for h in 0..2 {
                    let [lo, hi] = quants(load16(&q[16 * h..]), h);
                    // d * q - m, unfused, as the reference
                    store16(top_byte(lo, zero), &mut lo_out[16 * h..], |f| {
                        f32x4_sub(f32x4_mul(d1, f), m1)
                    });
                    store16(top_byte(hi, zero), &mut hi_out[16 * h..], |f| {
                        f32x4_sub(f32x4_mul(d2, f), m2)
                    });
                }
            };
            for (k, (q, y)) in qs.chunks_exact(64).zip(y.chunks_exact_mut(128)).enumerate() {
                // sub-blocks 4k..4k + 4: the lanes of dl[k], ml[k]
                let (dv, mv) = (dl[k], ml[k]);
                let (y0, y1) = y.split_at_mut(64);
                let (d0, m0, d1, m1) = (lane::<0>(dv), lane::<0>(mv), lane::<1>(dv), lane::<1>(mv));
                pair(&q[..32], y0, d0, m0, d1, m1);
                let (d2, m2, d3, m3) = (lane::<2>(dv), lane::<2>(mv), lane::<3>(dv), lane::<3>(mv));
                pair(&q[32..], y1, d2, m2, d3, m3);
            }
        }

        #[inline(never)]
        fn q4_k(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [m4, zero, top] =
                core::hint::black_box([u8x16_splat(0xF), u8x16_splat(0), f32x4_splat(TOP)]);
            for (b, y) in as_blocks::<BlockQ4K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let scales = k4_multipliers(&b.scales, b.d, b.dmin, top);
                k4_walk(&b.qs, y, scales, zero, |q, _| {
                    [v128_and(q, m4), v128_and(u16x8_shr(q, 4), m4)]
                });
            }
        }

        #[inline(never)]
        fn q5_k(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [m4, c16, zero, top] = core::hint::black_box([
                u8x16_splat(0xF),
                u8x16_splat(0x10),
                u8x16_splat(0),
                f32x4_splat(TOP),
            ]);
            for (b, y) in as_blocks::<BlockQ5K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let scales = k4_multipliers(&b.scales, b.d, b.dmin, top);
                // qh shifted right by 2j for sub-blocks 2j, 2j + 1: their
                // high bits are bits 0 and 1 of each byte
                let mut qh = [load16(&b.qh[..16]), load16(&b.qh[16..])];
                k4_walk(&b.qs, y, scales, zero, |q, h| {
                    // the high bits moved to bit 4
                    let quants = [
                        v128_or(v128_and(q, m4), v128_and(u16x8_shl(qh[h], 4), c16)),
                        v128_or(
                            v128_and(u16x8_shr(q, 4), m4),
                            v128_and(u16x8_shl(qh[h], 3), c16),
                        ),
                    ];
                    if h == 1 {
                        qh = qh.map(|qh| u16x8_shr(qh, 2));
                    }
                    quants
                });
            }
        }

        #[inline(never)]
        fn q6_k(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [m15, m30, c32, zero] = core::hint::black_box([
                u8x16_splat(0xF),
                u8x16_splat(0x30),
                i8x16_splat(32),
                i8x16_splat(0),
            ]);
            for (b, y) in as_blocks::<BlockQ6K>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                for (n, y) in y.chunks_exact_mut(128).enumerate() {
                    let sc = &b.scales[8 * n..8 * n + 8];
                    for h in 0..2 {
                        // l = 16h..16h+16, so is = h
                        let l0 = load16(&b.ql[64 * n + 16 * h..]);
                        let l1 = load16(&b.ql[64 * n + 32 + 16 * h..]);
                        let qh = load16(&b.qh[32 * n + 16 * h..]);
                        // the two high bits of each quant moved to bits 4..=5
                        let q1 = v128_or(v128_and(l0, m15), v128_and(u16x8_shl(qh, 4), m30));
                        let q2 = v128_or(v128_and(l1, m15), v128_and(u16x8_shl(qh, 2), m30));
                        let q3 = v128_or(v128_and(u16x8_shr(l0, 4), m15), v128_and(qh, m30));
                        let q4 = v128_or(
                            v128_and(u16x8_shr(l1, 4), m15),
                            v128_and(u16x8_shr(qh, 2), m30),
                        );
                        for (t, q) in [q1, q2, q3, q4].into_iter().enumerate() {
                            // (d * sc) * q, as the reference
                            let ds = f32x4_splat(d * sc[h + 2 * t] as f32 * TOP);
                            let v = top_byte(i8x16_sub(q, c32), zero);
                            store16(v, &mut y[32 * t + 16 * h..], |f| f32x4_mul(ds, f));
                        }
                    }
                }
            }
        }

        /// 16 bytes as four vectors of i32 lanes, in order, each byte the
        /// lane's top byte (`byte << 24`): byte and word interleaves with
        /// `zero`, one instruction each where a sign extension of the high
        /// half takes two.
        #[inline(always)]
        fn top_byte(q: v128, zero: v128) -> [v128; 4] {
            let lo =
                i8x16_shuffle::<16, 0, 17, 1, 18, 2, 19, 3, 20, 4, 21, 5, 22, 6, 23, 7>(q, zero);
            let hi = i8x16_shuffle::<24, 8, 25, 9, 26, 10, 27, 11, 28, 12, 29, 13, 30, 14, 31, 15>(
                q, zero,
            );
            [
                i16x8_shuffle::<8, 0, 9, 1, 10, 2, 11, 3>(lo, zero),
                i16x8_shuffle::<12, 4, 13, 5, 14, 6, 15, 7>(lo, zero),
                i16x8_shuffle::<8, 0, 9, 1, 10, 2, 11, 3>(hi, zero),
                i16x8_shuffle::<12, 4, 13, 5, 14, 6, 15, 7>(hi, zero),
            ]
        }

        /// 32 values from 16 bytes of nibbles (low nibbles first) and a
        /// 16-entry table of small integers: `table[q] * d`, the table looked
        /// up with a byte swizzle. `d` comes scaled by [`TOP`] for
        /// [`top_byte`] lanes.
        #[inline(always)]
        fn lut_32(table: v128, qs: &[u8], m4: v128, zero: v128, d: v128, y: &mut [f32]) {
            let q = load16(qs);
            let lo = i8x16_swizzle(table, v128_and(q, m4));
            let hi = i8x16_swizzle(table, v128_and(u16x8_shr(q, 4), m4));
            store16(top_byte(lo, zero), &mut y[..16], |f| f32x4_mul(d, f));
            store16(top_byte(hi, zero), &mut y[16..32], |f| f32x4_mul(d, f));
        }

        /// [`lut_32`]'s constants, kept in locals (V8 would rebuild each one
        /// at every use inside the loop): the table, the nibble mask, zero.
        #[inline(always)]
        fn lut_consts(table: &[i8; 16]) -> [v128; 3] {
            core::hint::black_box([
                load16(bytemuck::cast_ref::<[i8; 16], [u8; 16]>(table)),
                u8x16_splat(0x0F),
                u8x16_splat(0),
            ])
        }

        #[inline(never)]
        fn iq4_nl(x: &[u8], y: &mut [f32]) {
            let [table, m4, zero] = lut_consts(&KVALUES_IQ4NL);
            for (b, y) in as_blocks::<BlockIq4Nl>(x)
                .iter()
                .zip(y.chunks_exact_mut(32))
            {
                let d = f32x4_splat(f16_le(b.d) * TOP);
                lut_32(table, &b.qs, m4, zero, d, y);
            }
        }

        #[inline(never)]
        fn iq4_xs(x: &[u8], y: &mut [f32]) {
            let [table, m4, zero] = lut_consts(&KVALUES_IQ4NL);
            for (b, y) in as_blocks::<BlockIq4Xs>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                for (ib, (qs, y)) in
                    b.qs.chunks_exact(16)
                        .zip(y.chunks_exact_mut(32))
                        .enumerate()
                {
                    // a half times an integer in -32..=31 is exact: zero or
                    // at least 2^-24, as TOP needs
                    let dl = d * (iq4xs_scale(b, ib) - 32) as f32;
                    lut_32(table, qs, m4, zero, f32x4_splat(dl * TOP), y);
                }
            }
        }

        /// MXFP4: `KVALUES_MXFP4[q] * d`, `d` a power of two. Scaled by
        /// [`TOP`] it stays a normal float (so exact, and no slow subnormal
        /// operand) down to 2^-102, exponent byte 26; blocks with smaller
        /// scales take the reference.
        #[inline(never)]
        fn mxfp4(x: &[u8], y: &mut [f32]) {
            let [table, m4, zero] = lut_consts(&KVALUES_MXFP4);
            for (b, y) in as_blocks::<BlockMxfp4>(x)
                .iter()
                .zip(y.chunks_exact_mut(32))
            {
                if b.e < 26 {
                    reference::dequantize_row_mxfp4(bytemuck::bytes_of(b), y);
                    continue;
                }
                let d = f32x4_splat(e8m0_to_f32_half(b.e) * TOP);
                lut_32(table, &b.qs, m4, zero, d, y);
            }
        }

        /// TQ1_0: digits `((q * 3^i) mod 256) * 3 >> 8`, i.e. 0, 1, 2 for
        /// `t = q * 3^i` below 86, below 171, above; minus one, times `d`.
        #[inline(never)]
        fn tq1_0(x: &[u8], y: &mut [f32]) {
            // Constants kept in locals: V8 would rebuild each one at every
            // use inside the loop.
            let [flip, c86, c171, minus1, zero, not_low] = core::hint::black_box([
                u8x16_splat(0x80),
                i8x16_splat((85 ^ 0x80) as u8 as i8),
                i8x16_splat((170 ^ 0x80) as u8 as i8),
                i8x16_splat(-1),
                i8x16_splat(0),
                u8x16_splat(0xFE),
            ]);
            // t * 3 with bytes wrapping, as `uint8_t`: t + 2t, with 2t a
            // 16-bit shift masked back into bytes (`t + t + t` would become
            // an i8x16 multiply that wasm lacks, emulated at length)
            let times3 = |t: v128| i8x16_add(t, v128_and(i16x8_shl(t, 1), not_low));
            // digit - 1 as -1, 0, 1: the unsigned compares as signed ones
            // on t ^ 0x80
            let trit = |t: v128| {
                let s = v128_xor(t, flip);
                i8x16_sub(i8x16_sub(minus1, i8x16_gt(s, c86)), i8x16_gt(s, c171))
            };
            for (b, y) in as_blocks::<BlockTq1_0>(x)
                .iter()
                .zip(y.chunks_exact_mut(QK_K))
            {
                let d = f16_le(b.d);
                // (digit - 1) * 2^24 (exact) times d * 2^-24 (exact: d is a
                // half, at least 2^-24, so this is a normal float) is
                // (digit - 1) * d, rounded once, as the reference's
                // `(digit - 1) as f32 * d`; NaN d comes through as itself.
                let ds = f32x4_splat(d * TOP);
                let f = |f| f32x4_mul(f, ds);
                // qs[0..32], then qs[32..48]: digit i of byte m at 32i + m
                // (16i + m)
                // (separate variables, not an array: LLVM kept an array in
                // memory)
                let mut t0 = load16(&b.qs[..16]);
                let mut t1 = load16(&b.qs[16..32]);
                let mut t2 = load16(&b.qs[32..]);
                for i in 0..5 {
                    store16(top_byte(trit(t0), zero), &mut y[32 * i..], f);
                    store16(top_byte(trit(t1), zero), &mut y[32 * i + 16..], f);
                    store16(top_byte(trit(t2), zero), &mut y[160 + 16 * i..], f);
                    t0 = times3(t0);
                    t1 = times3(t1);
                    t2 = times3(t2);
                }
                // qh: digit i of byte l at 240 + 4i + l; lane i (4 bytes)
                // of step i
                let t0 = u32x4_splat(u32::from_le_bytes(b.qh));
                let t1 = times3(t0);
                let t2 = times3(t1);
                let t3 = times3(t2);
                let t = i32x4_shuffle::<0, 1, 6, 7>(
                    i32x4_shuffle::<0, 5, 2, 7>(t0, t1),
                    i32x4_shuffle::<0, 5, 2, 7>(t2, t3),
                );
                store16(top_byte(trit(t), zero), &mut y[240..], f);
            }
        }
    }
}
