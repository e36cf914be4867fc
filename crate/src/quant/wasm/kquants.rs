//! simd128 quantizers of the k-quants and IQ4 (no importance matrix),
//! each writing the reference's bytes. Q3_K, IQ4_NL and IQ4_XS run the
//! reference's skeletons with vector kernels; Q2_K, Q4_K and Q5_K run
//! `make_qkx2_quants` for four sub-blocks at once, one per lane.

use super::quantize::*;
use crate::quant::layout::*;
use crate::quant::reference::{self, Iq4Kernels as _, GROUP_MAX_EPS};
use crate::quant::types::QK_K;
use core::arch::wasm32::*;

/// `finish_q2_k`: requantize with the values in lanes, then pack.
pub(crate) fn finish_q2_k(x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
    let (dd, dmin) = (f16(y.d), f16(y.dmin));
    let x = &x[..QK_K];
    for j in 0..QK_K / 16 {
        let d = dd * (y.scales[j] & 0xF) as f32;
        if d == 0.0 {
            continue;
        }
        let dm = f32x4_splat(dmin * (y.scales[j] >> 4) as f32);
        let d = f32x4_splat(d);
        // nearest_int((x + dm) / d), clamped to 0..=3
        let q: [v128; 4] = core::array::from_fn(|h| {
            let v = f32x4_div(f32x4_add(load(x, 4 * j + h), dm), d);
            clamp_i32(nearest_int(v), 0, 3)
        });
        store16(&mut l[16 * j..], pack_i8(q));
    }
    pack_2bit(l, &mut y.qs);
}

/// Q2_K/Q3_K's packing of 256 quants (0..=3) four to a byte, 32
/// apart.
#[inline(always)]
fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8; 64]) {
    for h in 0..2 {
        for m in 0..2 {
            let v = |o: usize| load_bytes(&l[128 * h + 32 * o + 16 * m..]);
            let b = v128_or(
                v128_or(v(0), i8x16_shl(v(1), 2)),
                v128_or(i8x16_shl(v(2), 4), i8x16_shl(v(3), 6)),
            );
            store16(&mut qs[32 * h + 16 * m..], b);
        }
    }
}

/// `make_q3_quants` (16 values, `do_rmse`), as the AVX2 one: all
/// 16 proposals in lanes from the current sums, the first value
/// that proposes a change judged in scalar, the later proposals
/// computed again after a move.
pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    if x.len() != 16 {
        return reference::make_q3_quants(nmax, x, l_out);
    }
    let l_out = &mut l_out[..16];
    // the reference's scan for the largest magnitude (first wins)
    let (amax, max) = amax_and_max(x);
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let xv: [v128; 4] = core::array::from_fn(|h| load(x, h));
    // w * x[i] (w = x * x) as the reference forms it, per value
    let ww = xv.map(|v| f32x4_mul(v, v));
    let wx: [v128; 4] = core::array::from_fn(|h| f32x4_mul(ww[h], xv[h]));
    let iscale = f32x4_splat(-(nmax as f32) / max);
    let rc = RoundClamp::new(-nmax, nmax - 1);
    // the quants as floats (small integers), 4 to a row
    let mut l = [[0f32; 4]; 4];
    let (mut a, mut b) = ([[0f32; 4]; 4], [[0f32; 4]; 4]);
    for h in 0..4 {
        let lf = f32x4_convert_i32x4(rc.apply(f32x4_mul(iscale, xv[h])));
        vstore4(&mut a[h], f32x4_mul(wx[h], lf));
        vstore4(&mut b[h], f32x4_mul(f32x4_mul(ww[h], lf), lf));
        vstore4(&mut l[h], lf);
    }
    let mut sumlx = 0f32;
    let mut suml2 = 0f32;
    for i in 0..16 {
        sumlx += a[i / 4][i % 4];
        suml2 += b[i / 4][i % 4];
    }
    let zero = core::hint::black_box(f32x4_splat(0.0));
    let (mut slx_a, mut sl2_a, mut new_a) = ([[0f32; 4]; 4], [[0f32; 4]; 4], [[0f32; 4]; 4]);
    for _itry in 0..5 {
        let mut n_changed = 0;
        let mut from = 0usize;
        'scan: loop {
            let mut want = 0u32;
            // the rows before `from`'s are not looked at again
            for h in from / 4..4 {
                let lf = vload4(&l[h]);
                // sumlx - w * x * l, suml2 - w * l * l
                let slx = f32x4_sub(f32x4_splat(sumlx), f32x4_mul(wx[h], lf));
                let sl2 = f32x4_sub(f32x4_splat(suml2), f32x4_mul(f32x4_mul(ww[h], lf), lf));
                let nf = f32x4_convert_i32x4(rc.apply(f32x4_div(f32x4_mul(xv[h], sl2), slx)));
                let moves = v128_and(f32x4_gt(slx, zero), f32x4_ne(nf, lf));
                want |= (i32x4_bitmask(moves) as u32) << (4 * h);
                vstore4(&mut slx_a[h], slx);
                vstore4(&mut sl2_a[h], sl2);
                vstore4(&mut new_a[h], nf);
            }
            want &= !0u32 << from;
            while want != 0 {
                let i = want.trailing_zeros() as usize;
                want &= want - 1;
                let (h, m) = (i / 4, i % 4);
                let w = x[i] * x[i];
                let new_l = new_a[h][m];
                let slx = slx_a[h][m] + w * x[i] * new_l;
                let sl2 = sl2_a[h][m] + w * new_l * new_l;
                if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                    l[h][m] = new_l;
                    sumlx = slx;
                    suml2 = sl2;
                    n_changed += 1;
                    from = i + 1;
                    if from < 16 {
                        continue 'scan;
                    }
                }
            }
            break;
        }
        if n_changed == 0 {
            break;
        }
    }
    let off = f32x4_splat(nmax as f32);
    let q: [v128; 4] =
        core::array::from_fn(|h| i32x4_trunc_sat_f32x4(f32x4_add(vload4(&l[h]), off)));
    let o: &mut [u8; 16] = bytemuck::cast_slice_mut(l_out).try_into().unwrap();
    store16(o, pack_i8(q));
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

#[inline(always)]
fn vload4(a: &[f32; 4]) -> v128 {
    // SAFETY: `a` is 16 readable bytes; no alignment needed.
    unsafe { v128_load(a.as_ptr() as *const v128) }
}

#[inline(always)]
fn vstore4(a: &mut [f32; 4], v: v128) {
    // SAFETY: `a` is 16 writable bytes; no alignment needed.
    unsafe { v128_store(a.as_mut_ptr() as *mut v128, v) }
}

/// `finish_q3_k`: requantize with the values in lanes, then split
/// off the high bits and pack.
pub(crate) fn finish_q3_k(x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
    let dd = f16(y.d);
    let x = &x[..QK_K];
    let lb: &mut [u8; QK_K] = bytemuck::cast_mut(l);
    for j in 0..QK_K / 16 {
        let sc = if j < 8 {
            y.scales[j] & 0xF
        } else {
            y.scales[j - 8] >> 4
        } as i32;
        let sc = (sc | (((y.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i32) - 32;
        let d = dd * sc as i8 as f32;
        if d == 0.0 {
            continue;
        }
        let d = f32x4_splat(d);
        let q: [v128; 4] = core::array::from_fn(|h| {
            let q = clamp_i32(nearest_int(f32x4_div(load(x, 4 * j + h), d)), -4, 3);
            i32x4_add(q, i32x4_splat(4))
        });
        store16(&mut lb[16 * j..], pack_i8(q));
    }
    // quants are 0..=7: bit 2 goes to hmask (bit k of byte m for
    // quant 32k + m), the low two bits are packed
    let mut hm = [u8x16_splat(0); 2];
    let mut low = [0u8; QK_K];
    for k in 0..8 {
        for (m, hm) in hm.iter_mut().enumerate() {
            let v = load_bytes(&lb[32 * k + 16 * m..]);
            let high = i8x16_gt(v, i8x16_splat(3));
            *hm = v128_or(*hm, v128_and(high, u8x16_splat(1u8 << k)));
            store16(&mut low[32 * k + 16 * m..], v128_and(v, u8x16_splat(3)));
        }
    }
    store16(&mut y.hmask[..16], hm[0]);
    store16(&mut y.hmask[16..], hm[1]);
    pack_2bit(&low, &mut y.qs);
}

/// `best_index_int8`'s answer for IQ4_NL's table as a count of the
/// midpoints `m_k = (values[k] + values[k + 1]) / 2` at or below
/// `x` (ties go up): `x - values[k] < values[k + 1] - x` holds
/// exactly when `x < m_k`, for every float (NaN: never, so 15;
/// checked for all 2^32 floats). With `t_k = 2 m_k` (an integer),
/// `x >= m_k` iff `floor(2x) >= t_k` (`2x` is exact), and
/// `floor(2x)` clamped to -256..=255 (NaN to 255) keeps every
/// comparison. That integer plus 256, `u` in 0..512, is split into
/// a bucket `u >> 5` and a rest `u & 31`; a bucket holds at most
/// two midpoints (they are at least 23 apart), so the count is the
/// bucket's `base` (midpoints below it) plus `rest >= c1` and
/// `rest >= c2` (the bucket's midpoints less its start; 32 for
/// none): three table look-ups instead of 15 comparisons.
struct Iq4Table {
    /// bytes 2 and 3 of the values as floats (bytes 0 and 1 are 0)
    f2: v128,
    f3: v128,
    zero: v128,
    base: v128,
    /// `c1 - 1`, `c2 - 1` (for a greater-than)
    c1: v128,
    c2: v128,
    m31: v128,
    lo: v128,
    hi: v128,
    magic: v128,
    magic_bits: v128,
}

/// `Iq4Table`'s `base`, `c1 - 1`, `c2 - 1` for a table of values.
const fn iq4_buckets(values: &[i8; 16]) -> [[i8; 16]; 3] {
    let mut t = [[0i8, 31, 31]; 16];
    let mut k = 0;
    while k < 15 {
        let u = values[k] as i32 + values[k + 1] as i32 + 256;
        assert!(u > 0 && u < 512);
        let b = (u >> 5) as usize;
        let c = (u & 31) as i8;
        if t[b][1] == 31 {
            t[b][1] = c - 1;
        } else {
            assert!(t[b][2] == 31);
            t[b][2] = c - 1;
        }
        let mut bb = b + 1;
        while bb < 16 {
            t[bb][0] += 1;
            bb += 1;
        }
        k += 1;
    }
    let mut out = [[0i8; 16]; 3];
    let mut b = 0;
    while b < 16 {
        out[0][b] = t[b][0];
        out[1][b] = t[b][1];
        out[2][b] = t[b][2];
        b += 1;
    }
    out
}

const IQ4NL_BUCKETS: [[i8; 16]; 3] = iq4_buckets(&KVALUES_IQ4NL);

/// Bytes 2 and 3 of the values as floats; bytes 0 and 1 are 0 (a
/// value of at most 8 significant bits).
const fn iq4_float_bytes(values: &[i8; 16]) -> [[u8; 16]; 2] {
    let mut out = [[0u8; 16]; 2];
    let mut k = 0;
    while k < 16 {
        let b = (values[k] as f32).to_bits();
        assert!(b & 0xffff == 0);
        out[0][k] = (b >> 16) as u8;
        out[1][k] = (b >> 24) as u8;
        k += 1;
    }
    out
}

const IQ4NL_FLOAT_BYTES: [[u8; 16]; 2] = iq4_float_bytes(&KVALUES_IQ4NL);

impl Iq4Table {
    /// `None` for a table other than IQ4_NL's.
    #[inline(always)]
    fn new(values: &[i8; 16]) -> Option<Self> {
        use core::hint::black_box as bb;
        if *values != KVALUES_IQ4NL {
            return None;
        }
        let tab = |k: usize| {
            let t: &[u8; 16] = bytemuck::cast_ref(&IQ4NL_BUCKETS[k]);
            bb(load_bytes(t))
        };
        Some(Iq4Table {
            f2: bb(load_bytes(&IQ4NL_FLOAT_BYTES[0])),
            f3: bb(load_bytes(&IQ4NL_FLOAT_BYTES[1])),
            zero: bb(i32x4_splat(0)),
            base: tab(0),
            c1: tab(1),
            c2: tab(2),
            m31: bb(i16x8_splat(31)),
            lo: bb(f32x4_splat(-256.0)),
            hi: bb(f32x4_splat(255.0)),
            magic: bb(f32x4_splat(12_582_912.0)),
            // the bits of 1.5 * 2^23, less 256
            magic_bits: bb(i32x4_splat(0x4b40_0000 - 256)),
        })
    }

    /// `values[i]` as floats for 16 byte lanes `i` (0..16).
    #[inline(always)]
    fn get(&self, i: v128) -> [v128; 4] {
        // the floats' upper halves, then interleaved with zeros
        let (b2, b3) = (i8x16_swizzle(self.f2, i), i8x16_swizzle(self.f3, i));
        let lo = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(b2, b3);
        let hi =
            i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(b2, b3);
        [
            i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(self.zero, lo),
            i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(self.zero, lo),
            i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(self.zero, hi),
            i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(self.zero, hi),
        ]
    }

    /// `best_index_int8` for 16 lanes (the indices as bytes, in
    /// order) and the values it picks.
    #[inline(always)]
    fn best_index16(&self, x: [v128; 4]) -> (v128, [v128; 4]) {
        self.best_index16_2x(x.map(|x| f32x4_add(x, x)))
    }

    /// [`Self::best_index16`] given `2x`.
    #[inline(always)]
    fn best_index16_2x(&self, x2: [v128; 4]) -> (v128, [v128; 4]) {
        // u = clamp(floor(2x), -256, 255) + 256, via the bits of
        // that plus 1.5 * 2^23
        let u = x2.map(|x2| {
            let f = f32x4_floor(x2);
            let c = f32x4_pmax(self.lo, f32x4_pmin(self.hi, f));
            i32x4_sub(f32x4_add(c, self.magic), self.magic_bits)
        });
        let p0 = u16x8_narrow_i32x4(u[0], u[1]);
        let p1 = u16x8_narrow_i32x4(u[2], u[3]);
        let b = u8x16_narrow_i16x8(u16x8_shr(p0, 5), u16x8_shr(p1, 5));
        let r = u8x16_narrow_i16x8(v128_and(p0, self.m31), v128_and(p1, self.m31));
        let base = i8x16_swizzle(self.base, b);
        let c1 = i8x16_swizzle(self.c1, b);
        let c2 = i8x16_swizzle(self.c2, b);
        let li = i8x16_sub(i8x16_sub(base, i8x16_gt(r, c1)), i8x16_gt(r, c2));
        (li, self.get(li))
    }
}

/// The IQ4 kernels; the scale search runs the first pass and the 15
/// tries (ntry = 7, the only value ggml uses) as 16 lanes.
pub(crate) struct Iq4Wasm;

impl reference::Iq4Kernels for Iq4Wasm {
    #[inline(always)]
    fn scale(
        &self,
        xb: &[f32],
        weight: &[f32; 32],
        lb: &mut [u8],
        values: &[i8; 16],
        max: f32,
        ntry: i32,
    ) -> f32 {
        iq4_scale(xb, weight, lb, values, max, ntry)
    }

    #[inline(always)]
    fn indices(&self, values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
        iq4_indices(values, id, xs, out)
    }
}

fn iq4_scale(
    xb: &[f32],
    weight: &[f32; 32],
    lb: &mut [u8],
    values: &[i8; 16],
    max: f32,
    ntry: i32,
) -> f32 {
    use reference::Iq4Scalar;
    let t = match Iq4Table::new(values) {
        Some(t) if ntry == 7 => t,
        _ => return Iq4Scalar.scale(xb, weight, lb, values, max, ntry),
    };
    let xb = &xb[..32];
    // lane 0: id = 1 / d, d = -max / values[0]; lane k > 0: try
    // itry = k - 8, id = (itry + values[0]) / max. The first pass's
    // indices are not kept (the caller overwrites them, ntry > 0).
    let d0 = -max / values[0] as f32;
    let v0 = values[0] as i32;
    let mut id: [v128; 4] = core::array::from_fn(|h| {
        let k = 4 * h as i32 - 8;
        let tries = i32x4_add(i32x4(k, k + 1, k + 2, k + 3), i32x4_splat(v0));
        f32x4_div(f32x4_convert_i32x4(tries), f32x4_splat(max))
    });
    id[0] = f32x4_replace_lane::<0>(id[0], 1.0 / d0);
    // The search wants `2 * (id * x)`; `(2 * id) * x` is the same
    // float: id is finite (max is not tiny) and |id * x| stays
    // below 200, so only a result in the subnormal range can round
    // differently, and there floor(2 * id * x) is 0 or -1 either
    // way, both below and above the same midpoints (none at 0).
    let id2 = id.map(|id| f32x4_add(id, id));
    let zero = f32x4_splat(0.0);
    let mut sumqx = [zero; 4];
    let mut sumq2 = [zero; 4];
    for j in 0..32 {
        let xj = f32x4_splat(xb[j]);
        let w = f32x4_splat(weight[j]);
        let (_, q) = t.best_index16_2x(id2.map(|id2| f32x4_mul(id2, xj)));
        for h in 0..4 {
            let wq = f32x4_mul(w, q[h]);
            sumqx[h] = f32x4_add(sumqx[h], f32x4_mul(wq, xj));
            sumq2[h] = f32x4_add(sumq2[h], f32x4_mul(wq, q[h]));
        }
    }
    let mut sx = [0f32; 16];
    let mut s2 = [0f32; 16];
    for h in 0..4 {
        sx[4 * h..4 * h + 4].copy_from_slice(&lanes(sumqx[h]));
        s2[4 * h..4 * h + 4].copy_from_slice(&lanes(sumq2[h]));
    }
    let mut d = if s2[0] > 0.0 { sx[0] / s2[0] } else { 0.0 };
    let mut best = d * sx[0];
    for k in 1..16 {
        if s2[k] > 0.0 && sx[k] * sx[k] > best * s2[k] {
            d = sx[k] / s2[k];
            best = d * sx[k];
        }
    }
    d
}

fn iq4_indices(values: &[i8; 16], id: f32, xs: &[f32], out: &mut [u8]) {
    let Some(t) = Iq4Table::new(values) else {
        return reference::Iq4Scalar.indices(values, id, xs, out);
    };
    let n = xs.len().min(out.len());
    let idv = f32x4_splat(id);
    let mut i = 0;
    while i + 16 <= n {
        let x: [v128; 4] = core::array::from_fn(|h| f32x4_mul(idv, load_at(xs, i + 4 * h)));
        store16(&mut out[i..], t.best_index16(x).0);
        i += 16;
    }
    reference::Iq4Scalar.indices(values, id, &xs[i..n], &mut out[i..n]);
}

/// The k-quant kernels of the skeletons simd128 runs (Q3_K's and Q6_K's);
/// Q2_K, Q4_K and Q5_K search four sub-blocks at once below instead.
pub(crate) struct KWasm;

impl reference::KQuantKernels for KWasm {
    #[inline(always)]
    fn make_q3_quants(&self, nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
        make_q3_quants(nmax, x, l)
    }

    #[inline(always)]
    fn make_qx_quants(&self, nmax: i32, x: &[f32], l: &mut [i8], qw: Option<&[f32]>) -> f32 {
        crate::quant::lanes::make_qx_quants(nmax, x, l, qw)
    }

    #[inline(always)]
    fn finish_q2_k(&self, x: &[f32], y: &mut BlockQ2K, l: &mut [u8; QK_K]) {
        finish_q2_k(x, y, l)
    }

    #[inline(always)]
    fn finish_q3_k(&self, x: &[f32], y: &mut BlockQ3K, l: &mut [i8; QK_K]) {
        finish_q3_k(x, y, l)
    }
}

pub(crate) fn quantize_row_q3_k(x: &[f32], y: &mut [BlockQ3K]) {
    reference::quantize_row_q3_k_with(x, y, &KWasm);
}

pub(crate) fn quantize_iq4_nl(x: &[f32], y: &mut [BlockIq4Nl]) {
    reference::quantize_iq4_nl_with(x, y, None, &Iq4Wasm);
}

pub(crate) fn quantize_iq4_xs(x: &[f32], y: &mut [BlockIq4Xs]) {
    reference::quantize_iq4_xs_with(x, y, None, &Iq4Wasm);
}

/// Four blocks of `N` values (back to back in `x`) with block `j`
/// in lane `j`: `xt[i]` holds value `i` of each.
#[inline(always)]
fn transpose_in<const N: usize>(x: &[f32], xt: &mut [v128; N]) {
    let x = &x[..4 * N];
    for k in 0..N / 4 {
        let a: [v128; 4] = core::array::from_fn(|j| load_at(x, N * j + 4 * k));
        let t0 = i32x4_shuffle::<0, 4, 1, 5>(a[0], a[1]);
        let t1 = i32x4_shuffle::<2, 6, 3, 7>(a[0], a[1]);
        let t2 = i32x4_shuffle::<0, 4, 1, 5>(a[2], a[3]);
        let t3 = i32x4_shuffle::<2, 6, 3, 7>(a[2], a[3]);
        xt[4 * k] = i32x4_shuffle::<0, 1, 4, 5>(t0, t2);
        xt[4 * k + 1] = i32x4_shuffle::<2, 3, 6, 7>(t0, t2);
        xt[4 * k + 2] = i32x4_shuffle::<0, 1, 4, 5>(t1, t3);
        xt[4 * k + 3] = i32x4_shuffle::<2, 3, 6, 7>(t1, t3);
    }
}

/// The quants `lt` (small whole floats, block `j` in lane `j`) back
/// to bytes, block after block, into `l[..4 * N]`.
#[inline(always)]
fn transpose_out<const N: usize>(lt: &[v128; N], l: &mut [u8]) {
    let l = &mut l[..4 * N];
    for k in 0..N / 4 {
        let q: [v128; 4] = core::array::from_fn(|r| i32x4_trunc_sat_f32x4(lt[4 * k + r]));
        // byte 4r + j is value 4k + r of block j; gather by block
        let b = pack_i8(q);
        let b = i8x16_shuffle::<0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15>(b, b);
        let w = ilanes(b);
        for j in 0..4 {
            l[N * j + 4 * k..N * j + 4 * k + 4].copy_from_slice(&w[j].to_le_bytes());
        }
    }
}

/// `make_qkx2_quants` for four blocks of `N` values, block `j` in
/// lane `j` of `xt` and `wt` (`use_mad` is `MAD`). Returns the
/// lanes' `(scale, -min)`; the quants go to `lt` as floats.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn qkx2_x4<const N: usize, const MAD: bool>(
    nmax: i32,
    xt: &[v128; N],
    wt: &[v128; N],
    lt: &mut [v128; N],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (v128, v128) {
    use core::hint::black_box as bb;
    let zero = bb(f32x4_splat(0.0));
    let abs_mask = bb(i32x4_splat(0x7fff_ffff));
    let err = |d: v128| {
        if MAD {
            v128_and(d, abs_mask)
        } else {
            f32x4_mul(d, d)
        }
    };
    let mut min = xt[0];
    let mut max = xt[0];
    let mut sum_w = wt[0];
    let mut sum_x = f32x4_mul(sum_w, xt[0]);
    for i in 1..N {
        // `if x < min { min = x }`, `if x > max { max = x }`
        min = f32x4_pmin(min, xt[i]);
        max = f32x4_pmax(max, xt[i]);
        sum_w = f32x4_add(sum_w, wt[i]);
        sum_x = f32x4_add(sum_x, f32x4_mul(wt[i], xt[i]));
    }
    // if min > 0 { min = 0 }
    min = v128_andnot(min, f32x4_gt(min, zero));
    // `max == min` lanes return (0, -min) and zero quants; they
    // run along on garbage and are put right at the end
    let flat = f32x4_eq(max, min);
    let min0 = min;
    let rc = RoundClamp::new(0, nmax);
    let iscale = f32x4_div(f32x4_splat(nmax as f32), f32x4_sub(max, min));
    let mut scale = f32x4_div(f32x4_splat(1.0), iscale);
    let mut best = zero;
    for i in 0..N {
        let l = f32x4_convert_i32x4(rc.apply(f32x4_mul(iscale, f32x4_sub(xt[i], min))));
        lt[i] = l;
        let diff = f32x4_sub(f32x4_add(f32x4_mul(scale, l), min), xt[i]);
        best = f32x4_add(best, f32x4_mul(wt[i], err(diff)));
    }
    if nstep >= 1 {
        let mut laux = [zero; N];
        for is in 0..=nstep {
            let num = rmin + rdelta * is as f32 + nmax as f32;
            let iscale = f32x4_div(f32x4_splat(num), f32x4_sub(max, min));
            let (mut sum_l, mut sum_l2, mut sum_xl) = (zero, zero, zero);
            for i in 0..N {
                let l = rc.apply(f32x4_mul(iscale, f32x4_sub(xt[i], min)));
                let lf = f32x4_convert_i32x4(l);
                laux[i] = lf;
                let wl = f32x4_mul(wt[i], lf);
                sum_l = f32x4_add(sum_l, wl);
                sum_l2 = f32x4_add(sum_l2, f32x4_mul(wl, lf));
                sum_xl = f32x4_add(sum_xl, f32x4_mul(wl, xt[i]));
            }
            let dd = f32x4_sub(f32x4_mul(sum_w, sum_l2), f32x4_mul(sum_l, sum_l));
            let valid = f32x4_gt(dd, zero);
            if !v128_any_true(valid) {
                continue;
            }
            let mut this_scale = f32x4_div(
                f32x4_sub(f32x4_mul(sum_w, sum_xl), f32x4_mul(sum_x, sum_l)),
                dd,
            );
            let mut this_min = f32x4_div(
                f32x4_sub(f32x4_mul(sum_l2, sum_x), f32x4_mul(sum_l, sum_xl)),
                dd,
            );
            let pos = f32x4_gt(this_min, zero);
            this_min = v128_andnot(this_min, pos);
            this_scale = v128_bitselect(f32x4_div(sum_xl, sum_l2), this_scale, pos);
            let mut cur = zero;
            for i in 0..N {
                let diff = f32x4_sub(f32x4_add(f32x4_mul(this_scale, laux[i]), this_min), xt[i]);
                cur = f32x4_add(cur, f32x4_mul(wt[i], err(diff)));
            }
            let win = v128_and(valid, f32x4_lt(cur, best));
            if v128_any_true(win) {
                for i in 0..N {
                    lt[i] = v128_bitselect(laux[i], lt[i], win);
                }
                best = v128_bitselect(cur, best, win);
                scale = v128_bitselect(this_scale, scale, win);
                min = v128_bitselect(this_min, min, win);
            }
        }
    }
    for l in lt.iter_mut() {
        *l = v128_andnot(*l, flat);
    }
    scale = v128_andnot(scale, flat);
    min = v128_bitselect(min0, min, flat);
    (scale, f32x4_neg(min))
}

#[inline(always)]
fn fp16(f: f32) -> [u8; 2] {
    fp32_to_fp16(f).to_le_bytes()
}

/// `quantize_row_q4_K_ref` (`NMAX` 15) and `quantize_row_q5_K_ref`
/// (31): the scale search four sub-blocks at a time, then the
/// requantization with the values in lanes.
#[inline(always)]
fn k4_block<const NMAX: i32>(
    x: &[f32],
    d_out: &mut [u8; 2],
    dmin_out: &mut [u8; 2],
    scales_out: &mut [u8; 12],
    l: &mut [u8; QK_K],
) {
    let x: &[f32; QK_K] = x.try_into().unwrap();
    let (rmin, nstep) = if NMAX == 15 { (-1.0, 20) } else { (-0.5, 15) };
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let zero = f32x4_splat(0.0);
    for g in 0..2 {
        let mut xt = [zero; 32];
        transpose_in(&x[128 * g..], &mut xt);
        // av_x = sqrtf(sum_x2 / 32); weights av_x + fabsf(x)
        let mut s = zero;
        for v in &xt {
            s = f32x4_add(s, f32x4_mul(*v, *v));
        }
        let av_x = f32x4_sqrt(f32x4_div(s, f32x4_splat(32.0)));
        let wt: [v128; 32] = core::array::from_fn(|i| f32x4_add(av_x, f32x4_abs(xt[i])));
        let mut lt = [zero; 32];
        let (sc, m) = qkx2_x4::<32, false>(NMAX, &xt, &wt, &mut lt, rmin, 0.1, nstep);
        scales[4 * g..4 * g + 4].copy_from_slice(&lanes(sc));
        mins[4 * g..4 * g + 4].copy_from_slice(&lanes(m));
        transpose_out(&lt, &mut l[128 * g..]);
    }
    let (d, dmin) = reference::k4_set_scales(&scales, &mins, scales_out);
    *d_out = fp16(d);
    *dmin_out = fp16(dmin);
    // requantize against the stored scales
    let (dd, dmin) = (f16(*d_out), f16(*dmin_out));
    for j in 0..QK_K / 32 {
        let (sc, m) = get_scale_min_k4(j, scales_out);
        let d = dd * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = f32x4_splat(dmin * m as f32);
        let d = f32x4_splat(d);
        for h in 0..2 {
            let q: [v128; 4] = core::array::from_fn(|k| {
                let v = f32x4_div(f32x4_add(load(x, 8 * j + 4 * h + k), dm), d);
                clamp_i32(nearest_int(v), 0, NMAX)
            });
            store16(&mut l[32 * j + 16 * h..], pack_i8(q));
        }
    }
}

pub(crate) fn quantize_row_q4_k(x: &[f32], y: &mut [BlockQ4K]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let mut l = [0u8; QK_K];
        k4_block::<15>(x, &mut y.d, &mut y.dmin, &mut y.scales, &mut l);
        // two nibbles 32 apart per byte
        for j in 0..4 {
            for h in 0..2 {
                let lo = load_bytes(&l[64 * j + 16 * h..]);
                let hi = load_bytes(&l[64 * j + 32 + 16 * h..]);
                store16(&mut y.qs[32 * j + 16 * h..], v128_or(lo, i8x16_shl(hi, 4)));
            }
        }
    }
}

pub(crate) fn quantize_row_q5_k(x: &[f32], y: &mut [BlockQ5K]) {
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let mut l = [0u8; QK_K];
        k4_block::<31>(x, &mut y.d, &mut y.dmin, &mut y.scales, &mut l);
        // low nibbles as Q4_K; bit 4 of quant 64n + j goes to bit
        // 2n of qh[j], of quant 64n + 32 + j to bit 2n + 1
        let mut qh = [u8x16_splat(0); 2];
        for n in 0..4 {
            for (h, qh) in qh.iter_mut().enumerate() {
                let a = load_bytes(&l[64 * n + 16 * h..]);
                let b = load_bytes(&l[64 * n + 32 + 16 * h..]);
                let ha = v128_and(u8x16_gt(a, u8x16_splat(15)), u8x16_splat(1 << (2 * n)));
                let hb = v128_and(u8x16_gt(b, u8x16_splat(15)), u8x16_splat(2 << (2 * n)));
                *qh = v128_or(*qh, v128_or(ha, hb));
                let m = u8x16_splat(15);
                let q = v128_or(v128_and(a, m), i8x16_shl(v128_and(b, m), 4));
                store16(&mut y.qs[32 * n + 16 * h..], q);
            }
        }
        store16(&mut y.qh[..16], qh[0]);
        store16(&mut y.qh[16..], qh[1]);
    }
}

pub(crate) fn quantize_row_q2_k(x: &[f32], y: &mut [BlockQ2K]) {
    let zero = f32x4_splat(0.0);
    for (x, y) in x.chunks_exact(QK_K).zip(y) {
        let x: &[f32; QK_K] = x.try_into().unwrap();
        let mut l = [0u8; QK_K];
        let mut scales = [0f32; 16];
        let mut mins = [0f32; 16];
        for g in 0..4 {
            let mut xt = [zero; 16];
            transpose_in(&x[64 * g..], &mut xt);
            let wt: [v128; 16] = core::array::from_fn(|i| f32x4_abs(xt[i]));
            let mut lt = [zero; 16];
            let (sc, m) = qkx2_x4::<16, true>(3, &xt, &wt, &mut lt, -0.5, 0.1, 15);
            scales[4 * g..4 * g + 4].copy_from_slice(&lanes(sc));
            mins[4 * g..4 * g + 4].copy_from_slice(&lanes(m));
            transpose_out(&lt, &mut l[64 * g..]);
        }
        reference::q2_k_set_scales(&scales, &mins, y);
        finish_q2_k(x, y, &mut l);
    }
}

/// `quantize_row_q6_K_ref`: the reference's skeleton, the scale search in lanes.
pub(crate) fn quantize_row_q6_k(x: &[f32], y: &mut [BlockQ6K]) {
    reference::quantize_row_q6_k_with(x, y, None, &KWasm);
}
