//! simd128 dequantizers: each computes the reference's float expression
//! per element, so the results are bit-identical.

use crate::quant::layout::*;
use crate::quant::reference;
use crate::quant::types::QK_K;
use core::arch::wasm32::*;

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
pub(crate) fn dequantize_row_f16(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_bf16(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_q4_0(x: &[u8], y: &mut [f32]) {
    // Constants kept in locals: V8 would rebuild each one at every
    // use inside the loop.
    let [m4, c8, zero] = core::hint::black_box([u8x16_splat(0xF), i8x16_splat(8), i8x16_splat(0)]);
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
pub(crate) fn dequantize_row_q4_1(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_q8_0(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_q2_k(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_q3_k(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_q4_k(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_q5_k(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_q6_k(x: &[u8], y: &mut [f32]) {
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
    let lo = i8x16_shuffle::<16, 0, 17, 1, 18, 2, 19, 3, 20, 4, 21, 5, 22, 6, 23, 7>(q, zero);
    let hi = i8x16_shuffle::<24, 8, 25, 9, 26, 10, 27, 11, 28, 12, 29, 13, 30, 14, 31, 15>(q, zero);
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
pub(crate) fn dequantize_row_iq4_nl(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_iq4_xs(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_mxfp4(x: &[u8], y: &mut [f32]) {
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
pub(crate) fn dequantize_row_tq1_0(x: &[u8], y: &mut [f32]) {
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
