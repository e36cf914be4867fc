//! simd128 batched dot products for prompts and evaluation (`matmul` of
//! several tokens): every output bit-identical to the reference's
//! `vec_dot` for its weight row and token.
//!
//! Each weight row is unpacked once per call into a panel of i16 values
//! with its scales as f32, then dotted with four tokens at a time (two
//! rows at a time for the 32-value formats), so a weight load serves four
//! tokens and an activation load two rows. Products go through
//! `i32x4.dot_i16x8_s` (x86's `pmaddwd`) on activations sign-extended as
//! they are loaded (`i16x8.load8x8_s`): every product and pair sum is exact,
//! so the integer sums equal the reference's whatever the bytes.
//!
//! Float lanes are tokens: lane `t` repeats the reference's float
//! operations for token `t` in the reference's order (block by block, the
//! same multiplications and additions; simd128 has no fused multiply-add and
//! never flushes subnormals), so each lane rounds as the scalar code does.
//!
//! The k-quants keep eight integer lanes per block, lane `l` summing the
//! positions `k ≡ l (mod 8)`, and the reference adds them to eight float
//! sums. `dot_i16x8` adds adjacent pairs, so both sides are interleaved per
//! 16 values as `0, 8, 1, 9, …, 7, 15`: the panel's weights (already times
//! their sub-block's scale, which fits i16) and a copy of the Q8_K blocks
//! made once per call. Each `dot_i16x8` then yields four lanes' sums.

use crate::quant::layout::*;
use core::arch::wasm32::*;

/// Tokens per tile: the float lanes.
const T: usize = 4;

/// 16 bytes from the front of `p`.
#[inline(always)]
fn load16(p: &[u8]) -> v128 {
    let p = &p[..16];
    // SAFETY: `p` has 16 readable bytes; wasm loads need no alignment.
    unsafe { v128_load(p.as_ptr() as *const v128) }
}

/// 8 signed bytes from the front of `p`, sign-extended to i16 lanes.
#[inline(always)]
pub(super) fn load_i16(p: &[i8]) -> v128 {
    let p = &p[..8];
    // SAFETY: `p` has 8 readable bytes; wasm loads need no alignment.
    unsafe { i16x8_load_extend_i8x8(p.as_ptr()) }
}

/// 8 bytes from the front of `p`, zero-extended to i16 lanes.
#[inline(always)]
fn load_u16(p: &[u8]) -> v128 {
    let p = &p[..8];
    // SAFETY: `p` has 8 readable bytes; wasm loads need no alignment.
    unsafe { u16x8_load_extend_u8x8(p.as_ptr()) }
}

/// Lane `t` is the sum of the four lanes of `s[t]` (wrapping, as i32).
#[inline(always)]
pub(super) fn hsum4(s: [v128; 4]) -> v128 {
    let a = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(s[0], s[1]),
        i32x4_shuffle::<2, 6, 3, 7>(s[0], s[1]),
    );
    let b = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(s[2], s[3]),
        i32x4_shuffle::<2, 6, 3, 7>(s[2], s[3]),
    );
    i32x4_add(
        i32x4_shuffle::<0, 1, 4, 5>(a, b),
        i32x4_shuffle::<2, 3, 6, 7>(a, b),
    )
}

/// Each lane of `v` in all four lanes.
#[inline(always)]
fn splat_lanes(v: v128) -> [v128; 4] {
    [
        i32x4_shuffle::<0, 0, 0, 0>(v, v),
        i32x4_shuffle::<1, 1, 1, 1>(v, v),
        i32x4_shuffle::<2, 2, 2, 2>(v, v),
        i32x4_shuffle::<3, 3, 3, 3>(v, v),
    ]
}

#[inline(always)]
fn f32_lanes(v: v128) -> [f32; 4] {
    [
        f32x4_extract_lane::<0>(v),
        f32x4_extract_lane::<1>(v),
        f32x4_extract_lane::<2>(v),
        f32x4_extract_lane::<3>(v),
    ]
}

/// The activation rows of tile `k` (tokens `4k..4k + 4`), as blocks; the
/// last token stands in for the missing ones of a short last tile (their
/// results are dropped).
#[inline(always)]
fn tile_rows<B: bytemuck::Pod>(act: &[B], nb: usize, n: usize, k: usize) -> [&[B]; T] {
    core::array::from_fn(|t| {
        let i = (T * k + t).min(n - 1);
        &act[i * nb..(i + 1) * nb]
    })
}

/// Store lane `t` of `v` (token `T * k + t`) for row `r`, for the tokens
/// that exist.
#[inline(always)]
fn store_tile(out: &mut [f32], rows: usize, n: usize, k: usize, r: usize, v: [f32; T]) {
    for (t, v) in v.into_iter().enumerate() {
        let i = T * k + t;
        if i < n {
            out[i * rows + r] = v;
        }
    }
}

// ---------------------------------------------------------------------------
// The 32-value formats: Q4_0, Q4_1, Q5_0, Q5_1 (weights) with Q8_0 / Q8_1.

/// A Q8_0 or Q8_1 activation block.
trait Act32: bytemuck::Pod {
    fn d(&self) -> [u8; 2];
    /// Q8_1's `s` (`d * Σqs`); unused for Q8_0.
    fn s(&self) -> [u8; 2];
    fn qs(&self) -> &[i8; 32];
}

impl Act32 for BlockQ8_0 {
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    #[inline(always)]
    fn s(&self) -> [u8; 2] {
        [0, 0]
    }
    #[inline(always)]
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
}

impl Act32 for BlockQ8_1 {
    #[inline(always)]
    fn d(&self) -> [u8; 2] {
        self.d
    }
    #[inline(always)]
    fn s(&self) -> [u8; 2] {
        self.s
    }
    #[inline(always)]
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
}

/// A 32-value weight format: how its block unpacks and the reference's
/// float step.
trait Block32: bytemuck::Pod {
    type Act: Act32;
    /// Whether the format has a min (`m`), paired with Q8_1's `s`.
    const HAS_MIN: bool;
    /// The 32 weights as i16 lanes, values `8i..8i + 8` in vector `i`.
    fn weights(&self) -> [v128; 4];
    fn d(&self) -> [u8; 2];
    fn m(&self) -> [u8; 2];
    /// `sumf` plus the block's term, each lane as the reference computes it
    /// (`sumi` already converted to f32; `dx`, `mx` the weight block's
    /// scales in every lane; `dy`, `sy` each token's).
    fn term(sumf: v128, sumi: v128, dx: v128, dy: v128, mx: v128, sy: v128) -> v128;
}

/// Nibbles of 16 bytes as the low (`q & 15`) and high (`q >> 4`) values of
/// bytes `0..8` and `8..16`, in [`Block32::weights`] order.
#[inline(always)]
fn nibbles(qs: &[u8; 16]) -> [v128; 4] {
    let (a, b) = (load_u16(&qs[..8]), load_u16(&qs[8..]));
    let m4 = i16x8_splat(0x0F);
    [
        v128_and(a, m4),
        v128_and(b, m4),
        u16x8_shr(a, 4),
        u16x8_shr(b, 4),
    ]
}

/// Q5's 5th bits: lane `j` of vector `i` is 16 where bit `8i + j` of `qh`
/// is set.
#[inline(always)]
fn fifth_bits(qh: [u8; 4]) -> [v128; 4] {
    let bit = i16x8(1, 2, 4, 8, 16, 32, 64, 128);
    qh.map(|h| {
        let b = v128_and(i16x8_splat(h as i16), bit);
        v128_and(i16x8_eq(b, bit), i16x8_splat(16))
    })
}

impl Block32 for BlockQ4_0 {
    type Act = BlockQ8_0;
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn weights(&self) -> [v128; 4] {
        nibbles(&self.qs).map(|v| i16x8_sub(v, i16x8_splat(8)))
    }
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn m(&self) -> [u8; 2] {
        [0, 0]
    }
    /// `sumf += sumi as f32 * dx * dy`.
    #[inline(always)]
    fn term(sumf: v128, sumi: v128, dx: v128, dy: v128, _: v128, _: v128) -> v128 {
        f32x4_add(sumf, f32x4_mul(f32x4_mul(sumi, dx), dy))
    }
}

impl Block32 for BlockQ4_1 {
    type Act = BlockQ8_1;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn weights(&self) -> [v128; 4] {
        nibbles(&self.qs)
    }
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn m(&self) -> [u8; 2] {
        self.m
    }
    /// `sumf += (dx * dy) * sumi as f32 + mx * sy`.
    #[inline(always)]
    fn term(sumf: v128, sumi: v128, dx: v128, dy: v128, mx: v128, sy: v128) -> v128 {
        f32x4_add(
            sumf,
            f32x4_add(f32x4_mul(f32x4_mul(dx, dy), sumi), f32x4_mul(mx, sy)),
        )
    }
}

impl Block32 for BlockQ5_0 {
    type Act = BlockQ8_0;
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn weights(&self) -> [v128; 4] {
        let h = fifth_bits(self.qh);
        let q = nibbles(&self.qs);
        core::array::from_fn(|i| i16x8_sub(v128_or(q[i], h[i]), i16x8_splat(16)))
    }
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn m(&self) -> [u8; 2] {
        [0, 0]
    }
    /// `sumf += (dx * dy) * sumi as f32`.
    #[inline(always)]
    fn term(sumf: v128, sumi: v128, dx: v128, dy: v128, _: v128, _: v128) -> v128 {
        f32x4_add(sumf, f32x4_mul(f32x4_mul(dx, dy), sumi))
    }
}

impl Block32 for BlockQ5_1 {
    type Act = BlockQ8_1;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn weights(&self) -> [v128; 4] {
        let h = fifth_bits(self.qh);
        let q = nibbles(&self.qs);
        core::array::from_fn(|i| v128_or(q[i], h[i]))
    }
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn m(&self) -> [u8; 2] {
        self.m
    }
    /// As Q4_1.
    #[inline(always)]
    fn term(sumf: v128, sumi: v128, dx: v128, dy: v128, mx: v128, sy: v128) -> v128 {
        BlockQ4_1::term(sumf, sumi, dx, dy, mx, sy)
    }
}

impl Block32 for BlockQ8_0 {
    type Act = BlockQ8_0;
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn weights(&self) -> [v128; 4] {
        core::array::from_fn(|i| load_i16(&self.qs[8 * i..]))
    }
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn m(&self) -> [u8; 2] {
        [0, 0]
    }
    /// `sumf += sumi as f32 * (dx * dy)`.
    #[inline(always)]
    fn term(sumf: v128, sumi: v128, dx: v128, dy: v128, _: v128, _: v128) -> v128 {
        f32x4_add(sumf, f32x4_mul(sumi, f32x4_mul(dx, dy)))
    }
}

/// Two weight rows unpacked: per block, 4 vectors of row 0 then 4 of row
/// 1, and each row's scale (and min) as f32.
struct Panel32 {
    w: Vec<v128>,
    d: Vec<[f32; 2]>,
    m: Vec<[f32; 2]>,
}

impl Panel32 {
    fn fill<W: Block32>(&mut self, pair: [&[W]; 2]) {
        self.w.clear();
        self.d.clear();
        self.m.clear();
        for (x0, x1) in pair[0].iter().zip(pair[1]) {
            self.w.extend(x0.weights());
            self.w.extend(x1.weights());
            self.d.push([f16_le(x0.d()), f16_le(x1.d())]);
            if W::HAS_MIN {
                self.m.push([f16_le(x0.m()), f16_le(x1.m())]);
            }
        }
    }
}

/// Two rows (the panel) against the four tokens of a tile: each row's
/// `sumf`, lanes tokens. `dy`, `sy`: the tile's activation scales (and
/// sums) per block, lanes tokens.
#[inline(always)]
fn tile32<W: Block32>(p: &Panel32, ys: [&[W::Act]; T], dy: &[v128], sy: &[v128]) -> [v128; 2] {
    let zero = f32x4_splat(0.0);
    let mut sumf = [zero; 2];
    let nb = p.d.len();
    for b in 0..nb {
        let w = &p.w[8 * b..8 * b + 8];
        let q: [&[i8; 32]; T] = core::array::from_fn(|t| ys[t][b].qs());
        let mut acc = [[i32x4_splat(0); T]; 2];
        for i in 0..4 {
            let (w0, w1) = (w[i], w[4 + i]);
            for t in 0..T {
                let a = load_i16(&q[t][8 * i..]);
                acc[0][t] = i32x4_add(acc[0][t], i32x4_dot_i16x8(w0, a));
                acc[1][t] = i32x4_add(acc[1][t], i32x4_dot_i16x8(w1, a));
            }
        }
        for (r, acc) in acc.into_iter().enumerate() {
            let sumi = f32x4_convert_i32x4(hsum4(acc));
            let dx = f32x4_splat(p.d[b][r]);
            let (mx, sy) = if W::HAS_MIN {
                (f32x4_splat(p.m[b][r]), sy[b])
            } else {
                (zero, zero)
            };
            sumf[r] = W::term(sumf[r], sumi, dx, dy[b], mx, sy);
        }
    }
    sumf
}

/// `out[t * rows + r] = W[r] · act[t]` for a 32-value format `W`.
fn matmul32<W: Block32>(
    weights: &[u8],
    rows: usize,
    rb: usize,
    act: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    let nb = rb / core::mem::size_of::<W>();
    let act: &[W::Act] = as_blocks(&act[..n * ab]);
    let tiles = n.div_ceil(T);
    // Each tile's activation scales (and Q8_1 sums), lanes tokens.
    let mut dy = Vec::with_capacity(tiles * nb);
    let mut sy = Vec::with_capacity(if W::HAS_MIN { tiles * nb } else { 0 });
    for k in 0..tiles {
        let ys = tile_rows(act, nb, n, k);
        for b in 0..nb {
            let v = ys.map(|y| f16_le(y[b].d()));
            dy.push(f32x4(v[0], v[1], v[2], v[3]));
            if W::HAS_MIN {
                let v = ys.map(|y| f16_le(y[b].s()));
                sy.push(f32x4(v[0], v[1], v[2], v[3]));
            }
        }
    }
    let weights: &[W] = as_blocks(&weights[..rows * rb]);
    let mut panel = Panel32 {
        w: Vec::with_capacity(8 * nb),
        d: Vec::with_capacity(nb),
        m: Vec::with_capacity(nb),
    };
    for r0 in (0..rows).step_by(2) {
        // An odd last row is paired with itself.
        let r1 = (r0 + 1).min(rows - 1);
        panel.fill::<W>([
            &weights[r0 * nb..(r0 + 1) * nb],
            &weights[r1 * nb..(r1 + 1) * nb],
        ]);
        for k in 0..tiles {
            let blocks = k * nb..(k + 1) * nb;
            let sy = if W::HAS_MIN { &sy[blocks.clone()] } else { &[] };
            let s = tile32::<W>(&panel, tile_rows(act, nb, n, k), &dy[blocks], sy);
            store_tile(out, rows, n, k, r0, f32_lanes(s[0]));
            if r1 != r0 {
                store_tile(out, rows, n, k, r1, f32_lanes(s[1]));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The k-quants with Q8_K: Q4_K, Q5_K, Q6_K.

/// The interleaving of [`scaled_pair`] and of the activation copy.
#[inline(always)]
fn interleave(v: v128) -> v128 {
    i8x16_shuffle::<0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15>(v, v)
}

/// 16 signed byte values (positions `k = 0..16` of a group) times `scale`
/// as i16: lanes `k = 0, 8, 1, 9, 2, 10, 3, 11` and `4, 12, …, 7, 15`.
#[inline(always)]
fn scaled_pair(v: v128, scale: i16) -> [v128; 2] {
    let v = interleave(v);
    let s = i16x8_splat(scale);
    [
        i16x8_mul(i16x8_extend_low_i8x16(v), s),
        i16x8_mul(i16x8_extend_high_i8x16(v), s),
    ]
}

/// A k-quant weight format with Q8_K activations.
trait BlockK: bytemuck::Pod {
    /// Whether the format has mins (subtracted through Q8_K's `bsums`).
    const HAS_MIN: bool;
    /// The block's 256 weights for [`tile_k`]: group `g` of 16 values as
    /// vectors `2g` and `2g + 1` (see [`scaled_pair`]), times its scale.
    /// Returns `d`, `dmin` and the 8 mins each twice, in 16 i16 lanes
    /// (mins and `dmin` unused without [`BlockK::HAS_MIN`]).
    fn unpack(&self, w: &mut [v128; 32]) -> (f32, f32, [v128; 2]);
}

/// Q4_K and Q5_K's 8 sub-block mins, each twice, as two i16x8.
#[inline(always)]
fn mins_twice(mn: [u8; 8]) -> [v128; 2] {
    let m = mn.map(|m| m as i16);
    [
        i16x8(m[0], m[0], m[1], m[1], m[2], m[2], m[3], m[3]),
        i16x8(m[4], m[4], m[5], m[5], m[6], m[6], m[7], m[7]),
    ]
}

/// Q4_K and Q5_K: 32 bytes of `qs` per 64 values, sub-block `2j` in the low
/// nibbles and `2j + 1` in the high; `high(h, j)` is the 5th bit of those
/// (0 or 16) for the 16 bytes `16h..16h + 16` (low nibbles in `.0`).
#[inline(always)]
fn unpack_k4(
    qs: &[u8; 128],
    sc: [u8; 8],
    w: &mut [v128; 32],
    high: impl Fn(usize, usize) -> (v128, v128),
) {
    let m4 = u8x16_splat(0x0F);
    for j in 0..4 {
        let q = [load16(&qs[32 * j..]), load16(&qs[32 * j + 16..])];
        let h = [high(0, j), high(1, j)];
        // Groups 4j..4j + 4: low nibbles of each half, then high nibbles.
        let v = [
            v128_or(v128_and(q[0], m4), h[0].0),
            v128_or(v128_and(q[1], m4), h[1].0),
            v128_or(u8x16_shr(q[0], 4), h[0].1),
            v128_or(u8x16_shr(q[1], 4), h[1].1),
        ];
        for (i, v) in v.into_iter().enumerate() {
            let g = 4 * j + i;
            let [lo, hi] = scaled_pair(v, sc[g / 2] as i16);
            w[2 * g] = lo;
            w[2 * g + 1] = hi;
        }
    }
}

impl BlockK for BlockQ4K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack(&self, w: &mut [v128; 32]) -> (f32, f32, [v128; 2]) {
        let (sc, mn) = k4_scales_mins(&self.scales);
        let zero = i8x16_splat(0);
        unpack_k4(&self.qs, sc, w, |_, _| (zero, zero));
        (f16_le(self.d), f16_le(self.dmin), mins_twice(mn))
    }
}

impl BlockK for BlockQ5K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack(&self, w: &mut [v128; 32]) -> (f32, f32, [v128; 2]) {
        let (sc, mn) = k4_scales_mins(&self.scales);
        let k16 = u8x16_splat(16);
        let qh = [load16(&self.qh), load16(&self.qh[16..])];
        // Bit 2j of qh[l]: 5th bit of sub-block 2j's value l; 2j + 1 likewise.
        let bit = |h: usize, b: u8| {
            let m = u8x16_splat(b);
            v128_and(i8x16_eq(v128_and(qh[h], m), m), k16)
        };
        unpack_k4(&self.qs, sc, w, |h, j| {
            (bit(h, 1 << (2 * j)), bit(h, 2 << (2 * j)))
        });
        (f16_le(self.d), f16_le(self.dmin), mins_twice(mn))
    }
}

impl BlockK for BlockQ6K {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn unpack(&self, w: &mut [v128; 32]) -> (f32, f32, [v128; 2]) {
        let m4 = u8x16_splat(0x0F);
        let m3 = u8x16_splat(3);
        for n in 0..2 {
            for h in 0..2 {
                let ql0 = load16(&self.ql[64 * n + 16 * h..]);
                let ql1 = load16(&self.ql[64 * n + 32 + 16 * h..]);
                let qh = load16(&self.qh[32 * n + 16 * h..]);
                let q = [
                    v128_or(v128_and(ql0, m4), i8x16_shl(v128_and(qh, m3), 4)),
                    v128_or(
                        v128_and(ql1, m4),
                        i8x16_shl(v128_and(u8x16_shr(qh, 2), m3), 4),
                    ),
                    v128_or(
                        u8x16_shr(ql0, 4),
                        i8x16_shl(v128_and(u8x16_shr(qh, 4), m3), 4),
                    ),
                    v128_or(u8x16_shr(ql1, 4), i8x16_shl(u8x16_shr(qh, 6), 4)),
                ];
                for (t, q) in q.into_iter().enumerate() {
                    // Values 128n + 32t + 16h + 0..16: group 8n + 2t + h.
                    let g = 8 * n + 2 * t + h;
                    let a = i8x16_sub(q, i8x16_splat(32));
                    let [lo, hi] = scaled_pair(a, self.scales[g] as i16);
                    w[2 * g] = lo;
                    w[2 * g + 1] = hi;
                }
            }
        }
        let zero = i16x8_splat(0);
        (f16_le(self.d), 0.0, [zero, zero])
    }
}

/// One weight row unpacked ([`BlockK::unpack`]), per block.
struct PanelK {
    w: Vec<[v128; 32]>,
    d: Vec<f32>,
    dmin: Vec<f32>,
    mins: Vec<[v128; 2]>,
}

impl PanelK {
    fn fill<W: BlockK>(&mut self, row: &[W]) {
        self.w.resize(row.len(), [i32x4_splat(0); 32]);
        self.d.clear();
        self.dmin.clear();
        self.mins.clear();
        for (x, w) in row.iter().zip(&mut self.w) {
            let (d, dmin, mins) = x.unpack(w);
            self.d.push(d);
            self.dmin.push(dmin);
            self.mins.push(mins);
        }
    }
}

/// Q8_K activation blocks with each 16 quants interleaved as the panel's
/// weights are ([`interleave`]); `d` and `bsums` as they were.
fn interleaved_q8k(act: &[BlockQ8K]) -> Vec<BlockQ8K> {
    act.iter()
        .map(|y| {
            let mut c = *y;
            let qs: &[u8] = bytemuck::cast_slice(&y.qs);
            let out: &mut [u8] = bytemuck::cast_slice_mut(&mut c.qs);
            for (o, q) in out.chunks_exact_mut(16).zip(qs.chunks_exact(16)) {
                // SAFETY: `o` has 16 writable bytes; wasm stores need no alignment.
                unsafe { v128_store(o.as_mut_ptr() as *mut v128, interleave(load16(q))) };
            }
            c
        })
        .collect()
}

/// The panel's row against the four tokens of a tile (Q8_K blocks from
/// [`interleaved_q8k`]; `yd`: their scales per block, lanes tokens): each
/// token's result, as the reference's `vec_dot` for `W`.
#[inline(always)]
fn tile_k<W: BlockK>(p: &PanelK, ys: [&[BlockQ8K]; T], yd: &[v128]) -> [f32; T] {
    let zero = f32x4_splat(0.0);
    let mut sums = [[zero; 2]; T];
    let mut sumf = zero;
    for (b, w) in p.w.iter().enumerate() {
        let y: [&BlockQ8K; T] = core::array::from_fn(|t| &ys[t][b]);
        let mut acc = [[i32x4_splat(0); 2]; T];
        for g in 0..16 {
            let (w0, w1) = (w[2 * g], w[2 * g + 1]);
            for t in 0..T {
                let q = &y[t].qs[16 * g..];
                acc[t][0] = i32x4_add(acc[t][0], i32x4_dot_i16x8(w0, load_i16(q)));
                acc[t][1] = i32x4_add(acc[t][1], i32x4_dot_i16x8(w1, load_i16(&q[8..])));
            }
        }
        // sums[l] += d * aux32[l] (unfused), per token.
        let d = splat_lanes(f32x4_mul(f32x4_splat(p.d[b]), yd[b]));
        for t in 0..T {
            for h in 0..2 {
                let a = f32x4_convert_i32x4(acc[t][h]);
                sums[t][h] = f32x4_add(sums[t][h], f32x4_mul(d[t], a));
            }
        }
        if W::HAS_MIN {
            // sumf -= dmin * Σ bsums[j] * mins[j / 2].
            let mins = p.mins[b];
            let m = y.map(|y| {
                i32x4_add(
                    i32x4_dot_i16x8(load16(&y.bsums), mins[0]),
                    i32x4_dot_i16x8(load16(&y.bsums[16..]), mins[1]),
                )
            });
            let sumi = f32x4_convert_i32x4(hsum4(m));
            let dmin = f32x4_mul(f32x4_splat(p.dmin[b]), yd[b]);
            sumf = f32x4_sub(sumf, f32x4_mul(dmin, sumi));
        }
    }
    // sumf + sums[0] + ... + sums[7], in lane order.
    let sumf = f32_lanes(sumf);
    core::array::from_fn(|t| {
        let mut s = sumf[t];
        for v in sums[t] {
            for x in f32_lanes(v) {
                s += x;
            }
        }
        s
    })
}

/// `out[t * rows + r] = W[r] · act[t]` for a k-quant `W`.
fn matmul_k<W: BlockK>(
    weights: &[u8],
    rows: usize,
    rb: usize,
    act: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    let nb = rb / core::mem::size_of::<W>();
    let act = interleaved_q8k(as_blocks(&act[..n * ab]));
    let tiles = n.div_ceil(T);
    let mut yd = Vec::with_capacity(tiles * nb);
    for k in 0..tiles {
        let ys = tile_rows(&act, nb, n, k);
        for b in 0..nb {
            let v = ys.map(|y| y[b].d());
            yd.push(f32x4(v[0], v[1], v[2], v[3]));
        }
    }
    let weights: &[W] = as_blocks(&weights[..rows * rb]);
    let mut panel = PanelK {
        w: Vec::with_capacity(nb),
        d: Vec::with_capacity(nb),
        dmin: Vec::with_capacity(nb),
        mins: Vec::with_capacity(nb),
    };
    for r in 0..rows {
        panel.fill(&weights[r * nb..(r + 1) * nb]);
        for k in 0..tiles {
            let s = tile_k::<W>(&panel, tile_rows(&act, nb, n, k), &yd[k * nb..(k + 1) * nb]);
            store_tile(out, rows, n, k, r, s);
        }
    }
}

// ---------------------------------------------------------------------------
// The table's entries (`quant::traits`, column `matmul`).

/// Q4_0 weights, Q8_0 activations.
pub(crate) fn matmul_q4_0_q8_0(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul32::<BlockQ4_0>(w, rows, rb, a, ab, n, out)
}

/// Q4_1 weights, Q8_1 activations.
pub(crate) fn matmul_q4_1_q8_1(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul32::<BlockQ4_1>(w, rows, rb, a, ab, n, out)
}

/// Q5_0 weights, Q8_0 activations.
pub(crate) fn matmul_q5_0_q8_0(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul32::<BlockQ5_0>(w, rows, rb, a, ab, n, out)
}

/// Q5_1 weights, Q8_1 activations.
pub(crate) fn matmul_q5_1_q8_1(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul32::<BlockQ5_1>(w, rows, rb, a, ab, n, out)
}

/// Q8_0 weights, Q8_0 activations.
pub(crate) fn matmul_q8_0_q8_0(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul32::<BlockQ8_0>(w, rows, rb, a, ab, n, out)
}

/// Q4_K weights, Q8_K activations.
pub(crate) fn matmul_q4_k_q8_k(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul_k::<BlockQ4K>(w, rows, rb, a, ab, n, out)
}

/// Q5_K weights, Q8_K activations.
pub(crate) fn matmul_q5_k_q8_k(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul_k::<BlockQ5K>(w, rows, rb, a, ab, n, out)
}

/// Q6_K weights, Q8_K activations.
pub(crate) fn matmul_q6_k_q8_k(
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    matmul_k::<BlockQ6K>(w, rows, rb, a, ab, n, out)
}
