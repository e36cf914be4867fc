//! The bottom of `quant`: ggml's block layouts (`ggml-common.h`) as
//! `#[repr(C)]` structs of byte arrays, with field names as ggml spells them
//! (alignment 1, so any `&[u8]` of whole blocks can be viewed as a block
//! slice; multi-byte fields are little-endian, as in GGUF files), the
//! lookup tables, the half-float conversions, and the bit helpers that
//! unpack scales. Everything else in `quant` imports from here; this file
//! imports nothing from it.

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

/// `ggml_compute_fp32_to_fp16` (`GGML_FP32_TO_FP16`): round to nearest
/// even, overflow to infinity, NaN to 0x7E00.
#[inline]
pub(crate) fn fp32_to_fp16(f: f32) -> u16 {
    let scale_to_inf = f32::from_bits(0x7780_0000); // 0x1.0p+112f
    let scale_to_zero = f32::from_bits(0x0880_0000); // 0x1.0p-110f
    let mut base = (f.abs() * scale_to_inf) * scale_to_zero;

    let w = f.to_bits();
    let shl1_w = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    let bias = (shl1_w & 0xFF00_0000).max(0x7100_0000);

    base += f32::from_bits((bias >> 1) + 0x0780_0000);
    let bits = base.to_bits();
    let exp_bits = (bits >> 13) & 0x0000_7C00;
    let mantissa_bits = bits & 0x0000_0FFF;
    let nonsign = exp_bits + mantissa_bits;
    ((sign >> 16)
        | if shl1_w > 0xFF00_0000 {
            0x7E00
        } else {
            nonsign
        }) as u16
}

/// `ggml_compute_fp32_to_bf16`: NaN made quiet, otherwise round to nearest
/// even.
#[inline]
pub(crate) fn fp32_to_bf16(s: f32) -> u16 {
    let i = s.to_bits();
    if (i & 0x7fff_ffff) > 0x7f80_0000 {
        return ((i >> 16) | 64) as u16;
    }
    (i.wrapping_add(0x7fff + ((i >> 16) & 1)) >> 16) as u16
}
