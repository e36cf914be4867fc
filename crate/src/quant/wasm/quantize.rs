//! simd128 quantizers (no importance matrix), each writing the
//! reference's bytes: BF16, Q8_0, Q8_K, Q4_0, Q4_1, Q5_0, Q5_1, TQ1_0 and
//! TQ2_0, and the vector helpers `kquants` shares. wasm's saturating
//! float-to-int conversion is corrected to x86's `cvttss2si`, which the
//! reference pins ([`reference::f32_to_i32_x86`]).

use crate::quant::layout::*;
use crate::quant::reference;
use crate::quant::types::QK_K;
use core::arch::wasm32::*;

/// `x[i..i + 4]` as one vector.
#[inline(always)]
pub(super) fn load_at(x: &[f32], i: usize) -> v128 {
    let c: &[f32; 4] = x[i..i + 4].try_into().unwrap();
    // SAFETY: `c` is 16 readable bytes; `v128_load` has no
    // alignment requirement.
    unsafe { v128_load(c.as_ptr() as *const v128) }
}

#[inline(always)]
pub(super) fn load(x: &[f32], k: usize) -> v128 {
    load_at(x, 4 * k)
}

/// Store 16 bytes.
#[inline(always)]
pub(super) fn store16(out: &mut [u8], v: v128) {
    let o: &mut [u8; 16] = (&mut out[..16]).try_into().unwrap();
    // SAFETY: `o` is 16 writable bytes; `v128_store` has no
    // alignment requirement.
    unsafe { v128_store(o.as_mut_ptr() as *mut v128, v) }
}

/// Largest lane. `pmax` (`b < a ? a : b`) keeps either zero of a
/// +0/-0 tie; callers only use the result where that cannot matter.
#[inline(always)]
pub(super) fn hmax(v: v128) -> f32 {
    let v = f32x4_pmax(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let v = f32x4_pmax(v, i32x4_shuffle::<1, 0, 3, 2>(v, v));
    f32x4_extract_lane::<0>(v)
}

/// Smallest lane (as [`hmax`]).
#[inline(always)]
pub(super) fn hmin(v: v128) -> f32 {
    let v = f32x4_pmin(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let v = f32x4_pmin(v, i32x4_shuffle::<1, 0, 3, 2>(v, v));
    f32x4_extract_lane::<0>(v)
}

/// Largest magnitude (`fold(0, MAX(a, fabsf(v)))`; all lanes are
/// +0 or more, so no zero sign question).
#[inline(always)]
pub(super) fn amax(x: &[f32]) -> f32 {
    let mut m = f32x4_splat(0.0);
    for k in 0..x.len() / 4 {
        m = f32x4_pmax(m, f32x4_abs(load(x, k)));
    }
    hmax(m)
}

/// `(amax, max)` as the reference scans: the largest magnitude and
/// the signed value where it first occurs. From the largest and the
/// smallest value: unless their magnitudes tie, only one sign
/// reaches `amax`, so which element came first does not matter;
/// a tie takes an ordered scan.
#[inline(always)]
pub(super) fn amax_and_max(x: &[f32]) -> (f32, f32) {
    let (mut hi, mut lo) = (load(x, 0), load(x, 0));
    for k in 1..x.len() / 4 {
        let v = load(x, k);
        hi = f32x4_pmax(hi, v);
        lo = f32x4_pmin(lo, v);
    }
    let (max, neg_min) = (hmax(hi), -hmin(lo));
    if max > neg_min {
        return (max, max);
    }
    if neg_min > max {
        return (neg_min, -neg_min);
    }
    let amax = max;
    if amax == 0.0 {
        return (0.0, 0.0);
    }
    let target = f32x4_splat(amax);
    for k in 0..x.len() / 4 {
        let mask = i32x4_bitmask(f32x4_eq(f32x4_abs(load(x, k)), target));
        if mask != 0 {
            return (amax, x[4 * k + mask.trailing_zeros() as usize]);
        }
    }
    (amax, 0.0)
}

/// `(min, max)` as the reference scans; a zero result takes the
/// reference's scan, whose first zero decides the sign.
#[inline(always)]
pub(super) fn min_max(x: &[f32]) -> (f32, f32) {
    let mut lo = f32x4_splat(f32::MAX);
    let mut hi = f32x4_splat(-f32::MAX);
    for k in 0..x.len() / 4 {
        let v = load(x, k);
        lo = f32x4_pmin(lo, v);
        hi = f32x4_pmax(hi, v);
    }
    let (min, max) = (hmin(lo), hmax(hi));
    if min == 0.0 || max == 0.0 {
        return reference::min_max(x);
    }
    (min, max)
}

/// `roundf` (half away from zero): `trunc(p + copysign(0.5 - 2^-25, p))`
/// equals it for every finite and infinite `p` (checked over all
/// 2^32 floats); adding just under a half never rounds a value
/// below `n + 0.5` up to `n + 1`.
#[inline(always)]
pub(super) fn roundf(p: v128) -> v128 {
    f32x4_trunc(round_up_half(p))
}

/// `p + copysign(0.5 - 2^-25, p)`: [`roundf`] before its truncation.
#[inline(always)]
pub(super) fn round_up_half(p: v128) -> v128 {
    let half = v128_or(
        v128_and(p, f32x4_splat(-0.0)),
        f32x4_splat(f32::from_bits(0x3EFF_FFFF)),
    );
    f32x4_add(p, half)
}

/// C's float-to-int conversion as x86 does it: truncation, and
/// 0x80000000 for NaN or out of range (wasm saturates instead).
#[inline(always)]
pub(super) fn cvtt(v: v128) -> v128 {
    // -2^31 itself converts to i32::MIN either way.
    let in_range = f32x4_lt(f32x4_abs(v), f32x4_splat(2_147_483_648.0));
    v128_bitselect(i32x4_trunc_sat_f32x4(v), i32x4_splat(i32::MIN), in_range)
}

/// 16 i32 lanes to their low bytes, in order.
#[inline(always)]
pub(super) fn low_bytes(q: [v128; 4]) -> v128 {
    let m = i32x4_splat(0xFF);
    let [a, b, c, d] = q.map(|v| v128_and(v, m));
    u8x16_narrow_i16x8(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d))
}

/// `ggml_fp32_to_bf16_row_ref`.
pub(crate) fn quantize_row_bf16(x: &[f32], y: &mut [u8]) {
    let one = |v: v128| {
        // NaN: quiet, truncated; otherwise round to nearest even
        let nan = u32x4_gt(
            v128_and(v, i32x4_splat(0x7fff_ffff)),
            i32x4_splat(0x7f80_0000),
        );
        let odd = v128_and(u32x4_shr(v, 16), i32x4_splat(1));
        let r = u32x4_shr(i32x4_add(v, i32x4_add(odd, i32x4_splat(0x7fff))), 16);
        let q = v128_or(u32x4_shr(v, 16), i32x4_splat(64));
        v128_bitselect(q, r, nan)
    };
    for (x, y) in x.chunks_exact(8).zip(y.chunks_exact_mut(16)) {
        let h = u16x8_narrow_i32x4(one(load(x, 0)), one(load(x, 1)));
        store16(y, h);
    }
    let done = x.len() / 8 * 8;
    for (o, &v) in y[2 * done..].chunks_exact_mut(2).zip(&x[done..]) {
        o.copy_from_slice(&fp32_to_bf16(v).to_le_bytes());
    }
}

/// `quantize_row_q8_0_ref`.
pub(crate) fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let amax = amax(x);
        let d = amax / 127.0;
        let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
        let id = f32x4_splat(idf);
        y.d = fp32_to_fp16(d).to_le_bytes();
        let qs: &mut [u8; 32] = bytemuck::cast_mut(&mut y.qs);
        // The usual block: every |x * id| rounds to at most
        // amax * id < 127.5 (rounding is monotonic), so roundf gives
        // -127..=127, converted by the magic number.
        if amax * idf < 127.5 {
            let q = |k: usize| trunc_small(round_up_half(f32x4_mul(load(x, k), id)));
            store16(&mut qs[..16], i8_bytes([q(0), q(1), q(2), q(3)]));
            store16(&mut qs[16..], i8_bytes([q(4), q(5), q(6), q(7)]));
            continue;
        }
        // A finite `id` keeps |x * id| near 127 at most, where
        // saturating and x86 conversions agree.
        let in_range = idf.is_finite();
        let q = |k: usize| {
            let r = roundf(f32x4_mul(load(x, k), id));
            if in_range {
                i32x4_trunc_sat_f32x4(r)
            } else {
                cvtt(r)
            }
        };
        store16(&mut qs[..16], low_bytes([q(0), q(1), q(2), q(3)]));
        store16(&mut qs[16..], low_bytes([q(4), q(5), q(6), q(7)]));
    }
}

/// `quantize_row_q8_K_ref`.
pub(crate) fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let (amax, max) = amax_and_max(x);
        if amax == 0.0 {
            *y = bytemuck::Zeroable::zeroed();
            continue;
        }
        let iscale = -127.0 / max;
        let vs = f32x4_splat(iscale);
        // nearest_int (magic number), then MIN(127, v)
        let q = |k: usize| {
            let v = f32x4_add(f32x4_mul(vs, load(x, k)), f32x4_splat(12_582_912.0));
            let i = i32x4_sub(
                v128_and(v, i32x4_splat(0x007f_ffff)),
                i32x4_splat(0x0040_0000),
            );
            i32x4_min(i, i32x4_splat(127))
        };
        let qs: &mut [u8; QK_K] = bytemuck::cast_mut(&mut y.qs);
        for g in 0..QK_K / 16 {
            let b = low_bytes([q(4 * g), q(4 * g + 1), q(4 * g + 2), q(4 * g + 3)]);
            store16(&mut qs[16 * g..], b);
        }
        for (s, q) in y.bsums.chunks_exact_mut(2).zip(y.qs.chunks_exact(16)) {
            let sum: i32 = q.iter().map(|&q| q as i32).sum();
            s.copy_from_slice(&(sum as i16).to_le_bytes());
        }
        y.d = (1.0 / iscale).to_le_bytes();
    }
}

/// `trunc(v)` as i32 lanes where |v| < 2^22 (callers check their
/// scale first): the integer is exact in `trunc(v) + 1.5 * 2^23`'s
/// low mantissa bits. Equal to [`cvtt`] there, and much cheaper than
/// wasm's saturating conversion.
#[inline(always)]
pub(super) fn trunc_small(v: v128) -> v128 {
    let t = f32x4_add(f32x4_trunc(v), f32x4_splat(12_582_912.0));
    i32x4_sub(t, i32x4_splat(0x4B40_0000))
}

/// Whether every `|x * id|` of a block is at most 64, given a bound
/// `span` on `|x|` (rounding is monotonic, so `|x| * |id|` rounds to
/// no more than `span * |id|`). Then the quantizers' float values
/// stay far inside i8, where [`trunc_small`] applies and C's
/// `(int8_t)` changes nothing.
#[inline(always)]
pub(super) fn small(span: f32, id: f32) -> bool {
    span * id.abs() <= 64.0
}

/// 16 i32 lanes within i8 range to their bytes, in order.
#[inline(always)]
pub(super) fn i8_bytes(q: [v128; 4]) -> v128 {
    i8x16_narrow_i16x8(
        i16x8_narrow_i32x4(q[0], q[1]),
        i16x8_narrow_i32x4(q[2], q[3]),
    )
}

/// C's `(int8_t)` of an int, then `MIN(hi, v)`.
#[inline(always)]
pub(super) fn i8_min(i: v128, hi: i32) -> v128 {
    i32x4_min(i32x4_shr(i32x4_shl(i, 24), 24), i32x4_splat(hi))
}

/// `MIN(hi, (int8_t)(int)v)` for 32 float lanes (`v(k)`, lanes
/// `4k..4k + 4`), as bytes `[0..16]`, `[16..32]`. `SMALL`: the
/// caller checked |v| < 2^22 and within i8 ([`small`]).
#[inline(always)]
pub(super) fn i8_min_bytes<const SMALL: bool>(v: impl Fn(usize) -> v128, hi: i8) -> [v128; 2] {
    core::array::from_fn(|h| {
        if SMALL {
            let q = i8_bytes(core::array::from_fn(|k| trunc_small(v(4 * h + k))));
            i8x16_min(q, i8x16_splat(hi))
        } else {
            i8_bytes(core::array::from_fn(|k| {
                i8_min(cvtt(v(4 * h + k)), hi as i32)
            }))
        }
    })
}

/// `qs[j] = l[j] | l[j + 16] << 4` (as u8) for 32 quant bytes.
#[inline(always)]
pub(super) fn pack_nibbles(q: [v128; 2], qs: &mut [u8; 16]) {
    store16(qs, v128_or(q[0], i8x16_shl(q[1], 4)));
}

/// `pack_q5` for 32 quant bytes (only their low 5 bits count).
#[inline(always)]
pub(super) fn pack_q5(q: [v128; 2], qs: &mut [u8; 16], qh: &mut [u8; 4]) {
    let [lo, hi] = q;
    let m4 = u8x16_splat(0x0F);
    store16(qs, v128_or(v128_and(lo, m4), i8x16_shl(hi, 4)));
    // bit 4 of each byte to bit 7, where bitmask reads it
    let bits =
        i8x16_bitmask(i8x16_shl(lo, 3)) as u32 | ((i8x16_bitmask(i8x16_shl(hi, 3)) as u32) << 16);
    *qh = bits.to_le_bytes();
}

/// `quantize_row_q4_0_ref`.
pub(crate) fn quantize_row_q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (amax, max) = amax_and_max(x);
        let d = max / -8.0;
        let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
        let id = f32x4_splat(idf);
        y.d = fp32_to_fp16(d).to_le_bytes();
        // MIN(15, (int8_t)(x0 + 8.5f)) as u8
        let v = |k| f32x4_add(f32x4_mul(load(x, k), id), f32x4_splat(8.5));
        let q = if small(amax, idf) {
            i8_min_bytes::<true>(v, 15)
        } else {
            i8_min_bytes::<false>(v, 15)
        };
        pack_nibbles(q, &mut y.qs);
    }
}

/// `quantize_row_q4_1_ref`.
pub(crate) fn quantize_row_q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
        let id = f32x4_splat(idf);
        y.d = fp32_to_fp16(d).to_le_bytes();
        y.m = fp32_to_fp16(min).to_le_bytes();
        let vmin = f32x4_splat(min);
        // MIN(15, (int8_t)((x - min) * id + 0.5f)); 0 <= x - min <= max - min
        let v = |k| {
            let v = f32x4_mul(f32x4_sub(load(x, k), vmin), id);
            f32x4_add(v, f32x4_splat(0.5))
        };
        let q = if small(max - min, idf) {
            i8_min_bytes::<true>(v, 15)
        } else {
            i8_min_bytes::<false>(v, 15)
        };
        pack_nibbles(q, &mut y.qs);
    }
}

/// `quantize_row_q5_0_ref`.
pub(crate) fn quantize_row_q5_0(x: &[f32], y: &mut [BlockQ5_0]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (amax, max) = amax_and_max(x);
        let d = max / -16.0;
        let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
        let id = f32x4_splat(idf);
        y.d = fp32_to_fp16(d).to_le_bytes();
        // MIN(31, (int8_t)(x * id + 16.5f))
        let v = |k| f32x4_add(f32x4_mul(load(x, k), id), f32x4_splat(16.5));
        let q = if small(amax, idf) {
            i8_min_bytes::<true>(v, 31)
        } else {
            i8_min_bytes::<false>(v, 31)
        };
        pack_q5(q, &mut y.qs, &mut y.qh);
    }
}

/// `quantize_row_q5_1_ref`.
pub(crate) fn quantize_row_q5_1(x: &[f32], y: &mut [BlockQ5_1]) {
    for (x, y) in x.chunks_exact(32).zip(y) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
        let id = f32x4_splat(idf);
        y.d = fp32_to_fp16(d).to_le_bytes();
        y.m = fp32_to_fp16(min).to_le_bytes();
        let vmin = f32x4_splat(min);
        // (uint8_t)((x - min) * id + 0.5f), no clamp
        let v = |k| {
            let v = f32x4_mul(f32x4_sub(load(x, k), vmin), id);
            f32x4_add(v, f32x4_splat(0.5))
        };
        let q: [v128; 2] = if small(max - min, idf) {
            core::array::from_fn(|h| i8_bytes(core::array::from_fn(|k| trunc_small(v(4 * h + k)))))
        } else {
            core::array::from_fn(|h| low_bytes(core::array::from_fn(|k| cvtt(v(4 * h + k)))))
        };
        pack_q5(q, &mut y.qs, &mut y.qh);
    }
}

/// `lroundf(v * id) + 1` as an i32 lane, correct in its low byte
/// (all that the ternary packings keep): out of i32 range both
/// `lroundf` and x86's conversion give a multiple of 256. `SMALL`
/// as in [`small`].
#[inline(always)]
pub(super) fn trit_as<const SMALL: bool>(v: v128, id: v128) -> v128 {
    let r = roundf(f32x4_mul(v, id));
    if SMALL {
        // r is a small integer: the magic-number conversion, + 1
        let t = f32x4_add(r, f32x4_splat(12_582_912.0));
        i32x4_sub(t, i32x4_splat(0x4B40_0000 - 1))
    } else {
        i32x4_add(cvtt(r), i32x4_splat(1))
    }
}

#[inline(always)]
pub(super) fn trit(v: v128, id: v128) -> v128 {
    trit_as::<false>(v, id)
}

/// `quantize_row_tq2_0_ref`.
pub(crate) fn quantize_row_tq2_0(x: &[f32], y: &mut [BlockTq2_0]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let d = amax(x);
        let id = f32x4_splat(if d != 0.0 { 1.0 / d } else { 0.0 });
        y.d = fp32_to_fp16(d).to_le_bytes();
        let m3 = i32x4_splat(3);
        for j in 0..2 {
            let x = &x[128 * j..128 * j + 128];
            // qs[32j + m] = sum over n of (xi(x[m + 32n]) & 3) << 2n
            let q = |k: usize| {
                let mut q = i32x4_splat(0);
                for n in (0..4).rev() {
                    let t = v128_and(trit(load(x, 8 * n + k), id), m3);
                    q = v128_or(i32x4_shl(q, 2), t);
                }
                q
            };
            store16(&mut y.qs[32 * j..], low_bytes([q(0), q(1), q(2), q(3)]));
            store16(
                &mut y.qs[32 * j + 16..],
                low_bytes([q(4), q(5), q(6), q(7)]),
            );
        }
    }
}

/// TQ1_0's `ceil(q * 256 / 243)` of a byte `q` as C's `uint8_t`:
/// `q + (13q + 242) / 243`, the division as a multiply and shift
/// (exact for every byte; checked in the tests).
#[inline(always)]
pub(super) fn tq1_ceil_div(q: v128) -> v128 {
    let q = v128_and(q, i32x4_splat(0xFF));
    let t = i32x4_add(i32x4_mul(q, i32x4_splat(14027)), i32x4_splat(261_118));
    i32x4_add(q, u32x4_shr(t, 18))
}

/// Base-3 digits (`q = q * 3 + xi`, first digit most significant),
/// mod 256 as the reference's `uint8_t`.
#[inline(always)]
pub(super) fn tq1_horner<const SMALL: bool>(
    x: &[f32],
    at: impl Fn(usize) -> usize,
    n: usize,
    id: v128,
) -> v128 {
    let mut q = i32x4_splat(0);
    for i in 0..n {
        let q3 = i32x4_add(q, i32x4_add(q, q));
        q = i32x4_add(q3, trit_as::<SMALL>(load_at(x, at(i)), id));
    }
    q
}

/// `quantize_row_tq1_0_ref`.
pub(crate) fn quantize_row_tq1_0(x: &[f32], y: &mut [BlockTq1_0]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let d = amax(x);
        let idf = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = fp32_to_fp16(d).to_le_bytes();
        if small(d, idf) {
            tq1_block::<true>(x, y, f32x4_splat(idf));
        } else {
            tq1_block::<false>(x, y, f32x4_splat(idf));
        }
    }
}

/// The packed digits of one TQ1_0 block.
#[inline(always)]
pub(super) fn tq1_block<const SMALL: bool>(x: &[f32], y: &mut BlockTq1_0, id: v128) {
    // qs[m], m < 32: digits x[m + 32n]; qs[32 + m], m < 16: x[160 + m + 16n]
    let a = |k: usize| tq1_ceil_div(tq1_horner::<SMALL>(x, |n| 4 * k + 32 * n, 5, id));
    let b = |k: usize| tq1_ceil_div(tq1_horner::<SMALL>(x, |n| 160 + 4 * k + 16 * n, 5, id));
    store16(&mut y.qs[..16], low_bytes([a(0), a(1), a(2), a(3)]));
    store16(&mut y.qs[16..32], low_bytes([a(4), a(5), a(6), a(7)]));
    store16(&mut y.qs[32..], low_bytes([b(0), b(1), b(2), b(3)]));
    // qh[j], j < 4: digits x[240 + j + 4m], then one more * 3
    let h = tq1_horner::<SMALL>(x, |m| 240 + 4 * m, 4, id);
    let h = tq1_ceil_div(i32x4_add(h, i32x4_add(h, h)));
    y.qh = [
        i32x4_extract_lane::<0>(h) as u8,
        i32x4_extract_lane::<1>(h) as u8,
        i32x4_extract_lane::<2>(h) as u8,
        i32x4_extract_lane::<3>(h) as u8,
    ];
}

#[inline(always)]
pub(super) fn f16(h: [u8; 2]) -> f32 {
    fp16_to_f32(u16::from_le_bytes(h))
}

/// 16 bytes at `p[..16]`.
#[inline(always)]
pub(super) fn load_bytes(p: &[u8]) -> v128 {
    let a: &[u8; 16] = p[..16].try_into().unwrap();
    // SAFETY: `a` is 16 readable bytes; `v128_load` has no
    // alignment requirement.
    unsafe { v128_load(a.as_ptr() as *const v128) }
}

/// `nearest_int` on 4 lanes (the same magic-number bits).
#[inline(always)]
pub(super) fn nearest_int(v: v128) -> v128 {
    let v = f32x4_add(v, f32x4_splat(12_582_912.0));
    i32x4_sub(
        v128_and(v, i32x4_splat(0x007f_ffff)),
        i32x4_splat(0x0040_0000),
    )
}

/// `nearest_int` then a clamp to `lo..=hi`, with the constants in
/// locals (V8 would rebuild a constant at every use in a loop).
#[derive(Clone, Copy)]
pub(super) struct RoundClamp {
    magic: v128,
    mask: v128,
    off: v128,
    lo: v128,
    hi: v128,
}

impl RoundClamp {
    #[inline(always)]
    pub(super) fn new(lo: i32, hi: i32) -> Self {
        use core::hint::black_box as bb;
        RoundClamp {
            magic: bb(f32x4_splat(12_582_912.0)),
            mask: bb(i32x4_splat(0x007f_ffff)),
            off: bb(i32x4_splat(0x0040_0000)),
            lo: bb(i32x4_splat(lo)),
            hi: bb(i32x4_splat(hi)),
        }
    }

    #[inline(always)]
    pub(super) fn apply(&self, v: v128) -> v128 {
        let v = f32x4_add(v, self.magic);
        let n = i32x4_sub(v128_and(v, self.mask), self.off);
        i32x4_min(i32x4_max(n, self.lo), self.hi)
    }
}

#[inline(always)]
pub(super) fn clamp_i32(v: v128, lo: i32, hi: i32) -> v128 {
    i32x4_min(i32x4_max(v, i32x4_splat(lo)), i32x4_splat(hi))
}

#[inline(always)]
pub(super) fn lanes(v: v128) -> [f32; 4] {
    // SAFETY: same size, and any bits are a valid f32.
    unsafe { core::mem::transmute::<v128, [f32; 4]>(v) }
}

#[inline(always)]
pub(super) fn ilanes(v: v128) -> [i32; 4] {
    // SAFETY: same size, and any bits are a valid i32.
    unsafe { core::mem::transmute::<v128, [i32; 4]>(v) }
}

/// 16 i32 lanes (each in -128..=127) to 16 bytes, in order.
#[inline(always)]
pub(super) fn pack_i8(q: [v128; 4]) -> v128 {
    i8x16_narrow_i16x8(
        i16x8_narrow_i32x4(q[0], q[1]),
        i16x8_narrow_i32x4(q[2], q[3]),
    )
}
