//! Batched matmul for the 32-value formats Q4_0, Q5_0 and Q8_0 (x86_64),
//! eight weight rows per vector, bit-identical to [`crate::quant::reference`].
//!
//! The weights of 8 rows are interleaved per block in groups of 4 values
//! (`[group 0..8][row 0..8][4 bytes]`, as llama.cpp's repacked `q4_0_8x8`
//! does), so one `dpbusd` (or `maddubs` + `madd` without VNNI) against 4
//! activation bytes broadcast to every lane adds 4 products to each of 8
//! rows' block sums. Lanes are rows, so no horizontal sums are needed: each
//! lane finishes its block exactly as the reference does (`sumi` converted
//! to f32, the same multiplications in the same order, added to the row's
//! `sumf` in block order). The integer sums are exact in both, so every
//! output equals the reference's bit for bit.
//!
//! `dpbusd` multiplies unsigned by signed bytes, so weights are stored as
//! unsigned values `q + c` (Q4_0: the nibble, `c = 8`; Q5_0: `c = 16`;
//! Q8_0: `q + 128`) and each block sum starts at `-c * Σa`.
//!
//! Without VNNI, `maddubs` would saturate on Q8_0's bytes, so Q8_0 takes
//! [`q8_0_sums_avx2`] there: weights and activations widened to i16 and
//! multiplied in pairs by `madd` (exact for any bytes).

use super::dot::hsum_8x8;
use crate::quant::layout::*;
use crate::quant::types::GgmlType;
use core::arch::x86_64::*;

/// How 4 unsigned × signed byte products are added into i32 lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// `vpdpbusd` (AVX-VNNI, VEX encoded).
    AvxVnni,
    /// `vpdpbusd` on 256-bit vectors (AVX512-VNNI with AVX512VL).
    Avx512Vnni,
    /// `vpdpbusd` on 512-bit vectors, 16 rows per step, for prompts (one
    /// token and the packed kernels take the 256-bit form).
    Avx512,
    /// `vpmaddubsw` + `vpmaddwd` for 4- and 5-bit weights (a pair of
    /// products fits in i16); Q8_0 is widened to i16 (see the module
    /// comment).
    Avx2,
}

impl Isa {
    /// The best this CPU has.
    pub(crate) fn best() -> Option<Isa> {
        Isa::available().first().copied()
    }

    /// Every variant this CPU can run, best first (the tests run them all).
    /// Detected once: every matmul asks.
    pub(crate) fn available() -> &'static [Isa] {
        const ALL: [Isa; 4] = [Isa::Avx512, Isa::AvxVnni, Isa::Avx512Vnni, Isa::Avx2];
        const NO_AVXVNNI: [Isa; 3] = [Isa::Avx512, Isa::Avx512Vnni, Isa::Avx2];
        // Asked on every matmul; the answers are cached, and the set can
        // shrink at run time (`cpu::limit_to_avx2`).
        let (vnni, vnni512) = (crate::cpu::has_avxvnni(), crate::cpu::has_avx512vnni());
        match (crate::cpu::has_avx2(), vnni, vnni512) {
            (false, _, _) => &[],
            (true, true, true) => &ALL,
            (true, true, false) => &[Isa::AvxVnni, Isa::Avx2],
            (true, false, true) => &NO_AVXVNNI,
            (true, false, false) => &ALL[3..],
        }
    }
}

/// `out[t * rows + r] = W[r] · act[t]` for `n` Q8_0 activation rows (`ab`
/// bytes each, concatenated in `acts`); `weights` holds `rows` rows of `rb`
/// bytes. The caller checked lengths and chose `isa`, which this CPU has
/// (any variant takes any of the three types).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    isa: Isa,
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    rb: usize,
    acts: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    // Every variant is exact for every type here: Q8_0 on AVX2 widens to
    // i16 (`tile_q8_0_avx2`) instead of `maddubs`.
    assert!(Isa::available().contains(&isa));
    let nb = cols / 32;
    let a = Acts::new(ty, acts, ab, n, nb);
    // SAFETY: `isa` is available on this CPU (asserted above); the slices
    // are whole rows of `nb` blocks.
    unsafe {
        match isa {
            Isa::AvxVnni => run_avxvnni(ty, weights, rows, rb, &a, n, out),
            Isa::Avx512Vnni => run_vnni512(ty, weights, rows, rb, &a, n, out),
            Isa::Avx512 => run_avx512(ty, weights, rows, rb, &a, n, out),
            Isa::Avx2 => run_avx2(ty, weights, rows, rb, &a, n, out),
        }
    }
}

#[target_feature(enable = "avx2,avxvnni")]
unsafe fn run_avxvnni(
    ty: GgmlType,
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &Acts,
    n: usize,
    out: &mut [f32],
) {
    run::<VnniAvx>(ty, w, rows, rb, a, n, out)
}

#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
unsafe fn run_vnni512(
    ty: GgmlType,
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &Acts,
    n: usize,
    out: &mut [f32],
) {
    run::<Vnni512>(ty, w, rows, rb, a, n, out)
}

#[target_feature(enable = "avx2")]
unsafe fn run_avx2(
    ty: GgmlType,
    w: &[u8],
    rows: usize,
    rb: usize,
    a: &Acts,
    n: usize,
    out: &mut [f32],
) {
    run::<Avx2>(ty, w, rows, rb, a, n, out)
}

/// Each of `T` tokens' integer sums of Q8_0 block `w` (8 interleaved rows
/// as in the module comment, `q + 128`) without VNNI, lanes = rows, before
/// the starting value: `q[j]` points at token `j`'s 32 quants. Per group,
/// `madd` of the widened weights (rows 0..3, then 4..7) against the group's
/// 4 widened activations gives each row's two pair sums; one `hadd` joins
/// them in the lane order `[0 1 4 5 | 2 3 6 7]`, which one permute undoes.
#[inline(always)]
pub(super) unsafe fn q8_0_sums_avx2<const T: usize>(
    w: *const u8,
    q: [*const u8; T],
) -> [__m256i; T] {
    let wide: [[i16; 32]; T] = core::array::from_fn(|j| {
        let mut v = [0i16; 32];
        let y = _mm256_loadu_si256(q[j] as *const __m256i);
        let p = v.as_mut_ptr() as *mut __m256i;
        _mm256_storeu_si256(p, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y)));
        _mm256_storeu_si256(
            p.add(1),
            _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(y)),
        );
        v
    });
    let mut lo = [_mm256_setzero_si256(); T];
    let mut hi = [_mm256_setzero_si256(); T];
    let w = w as *const __m128i;
    for g in 0..8 {
        let w0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(w.add(2 * g)));
        let w1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(w.add(2 * g + 1)));
        for j in 0..T {
            let y4 =
                _mm256_set1_epi64x((wide[j].as_ptr().add(4 * g) as *const i64).read_unaligned());
            // |(q + 128) * y| pairs <= 2 * 255 * 128: exact in i32.
            lo[j] = _mm256_add_epi32(lo[j], _mm256_madd_epi16(w0, y4));
            hi[j] = _mm256_add_epi32(hi[j], _mm256_madd_epi16(w1, y4));
        }
    }
    core::array::from_fn(|j| _mm256_permute4x64_epi64::<0xD8>(_mm256_hadd_epi32(lo[j], hi[j])))
}

/// Groups of 8 rows: repack each, then run every token against it.
#[inline(always)]
unsafe fn run<D: Dp>(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    rb: usize,
    a: &Acts,
    n: usize,
    out: &mut [f32],
) {
    let mut panel = Panel {
        w: vec![0u8; a.nb * 256],
        d: vec![0f32; a.nb * 8],
    };
    for r0 in (0..rows).step_by(8) {
        let rr = 8.min(rows - r0);
        let rows_w: [Option<&[u8]>; 8] =
            core::array::from_fn(|i| (i < rr).then(|| &weights[(r0 + i) * rb..(r0 + i + 1) * rb]));
        group::<D>(ty, &rows_w, &mut panel, a, n, out, rows, r0);
    }
}

/// What is added to each weight to make it unsigned (`c` in the module
/// comment).
fn offset(ty: GgmlType) -> i32 {
    match ty {
        GgmlType::Q4_0 => 8,
        GgmlType::Q5_0 => 16,
        _ => 128,
    }
}

/// Quantized activations: the Q8_0 bytes and per-block values.
pub(super) struct Acts<'a> {
    qs: &'a [u8],
    ab: usize,
    /// Each block's scale, as f32.
    pub(super) dy: Vec<f32>,
    /// Each block sum's starting value, `-c * Σa` (see the module comment).
    pub(super) start: Vec<i32>,
    nb: usize,
}

impl<'a> Acts<'a> {
    /// The per-block values of `n` rows of `nb` Q8_0 blocks (`ab` bytes
    /// each) for weights of type `ty`.
    pub(super) fn new(ty: GgmlType, qs: &'a [u8], ab: usize, n: usize, nb: usize) -> Acts<'a> {
        let c = offset(ty);
        let mut dy = Vec::with_capacity(n * nb);
        let mut start = Vec::with_capacity(n * nb);
        for row in qs.chunks_exact(ab).take(n) {
            for b in as_blocks::<BlockQ8_0>(row) {
                dy.push(f16_le(b.d));
                start.push(-c * b.qs.iter().map(|&q| q as i32).sum::<i32>());
            }
        }
        Acts {
            qs,
            ab,
            dy,
            start,
            nb,
        }
    }
}

/// 8 interleaved weight rows: `w[b*256 + 32*g + 4*r + m]` is value `4g + m`
/// of block `b` of row `r` (plus `c`); `d[b*8 + r]` its scale.
struct Panel {
    w: Vec<u8>,
    d: Vec<f32>,
}

/// The instruction that adds 4 byte products per i32 lane.
///
/// The kernels add a block's groups through a running sum: `open` it from
/// the block's i32 sums, `sum` up to [`Dp::run`] groups into it, `close` it
/// back. With VNNI the running sum is the i32 sums themselves; AVX2 keeps
/// `maddubs`'s i16 pair sums and widens them once per run, not once per
/// group (a quarter fewer instructions in the inner loop).
pub(super) trait Dp {
    /// Whether `dp` is exact for any unsigned bytes (VNNI), not only for
    /// 4- and 5-bit weights (`maddubs` would saturate on Q8_0's).
    const ANY_BYTES: bool = true;
    /// How many groups of `bits`-bit weights one running sum may take.
    #[inline(always)]
    fn run(_bits: u32) -> usize {
        8
    }
    #[inline(always)]
    unsafe fn open(acc: __m256i) -> __m256i {
        acc
    }
    unsafe fn sum(p: __m256i, u: __m256i, s: __m256i) -> __m256i;
    #[inline(always)]
    unsafe fn close(_acc: __m256i, p: __m256i) -> __m256i {
        p
    }
    #[inline(always)]
    unsafe fn dp(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        Self::close(acc, Self::sum(Self::open(acc), u, s))
    }
}

pub(super) struct VnniAvx;
pub(super) struct Vnni512;
pub(super) struct Avx2;

impl Dp for VnniAvx {
    #[inline(always)]
    unsafe fn sum(p: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_dpbusd_avx_epi32(p, u, s)
    }
}

impl Dp for Vnni512 {
    #[inline(always)]
    unsafe fn sum(p: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(p, u, s)
    }
}

impl Dp for Avx2 {
    const ANY_BYTES: bool = false;
    /// A pair of products is at most 2 * (2^bits - 1) * 128 (Q8_0 never
    /// comes here: `ANY_BYTES`): 3840 for 4 bits, so 8 groups' pairs sum to
    /// at most 30720; 7936 for 5 bits, so 4 groups: within i16 either way.
    #[inline(always)]
    fn run(bits: u32) -> usize {
        if bits <= 4 {
            8
        } else {
            4
        }
    }
    #[inline(always)]
    unsafe fn open(_acc: __m256i) -> __m256i {
        _mm256_setzero_si256()
    }
    #[inline(always)]
    unsafe fn sum(p: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_add_epi16(p, _mm256_maddubs_epi16(u, s))
    }
    #[inline(always)]
    unsafe fn close(acc: __m256i, p: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
    }
}

/// One group of 8 rows (`rows_w[i]` is `None` past the last row): repack,
/// then every token in tiles of up to 4.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn group<D: Dp>(
    ty: GgmlType,
    rows_w: &[Option<&[u8]>; 8],
    panel: &mut Panel,
    a: &Acts,
    n: usize,
    out: &mut [f32],
    rows: usize,
    r0: usize,
) {
    fill(ty, rows_w, panel, a.nb);
    match ty {
        GgmlType::Q4_0 => tiles::<D, 0>(panel, a, n, out, rows, r0),
        GgmlType::Q5_0 => tiles::<D, 1>(panel, a, n, out, rows, r0),
        _ => tiles::<D, 2>(panel, a, n, out, rows, r0),
    }
}

/// Repack up to 8 rows of `ty` into `panel`. A function of its own with
/// AVX2 enabled, not `inline(always)`: its closures get their target
/// features from it, and without them every intrinsic in them was a call.
#[target_feature(enable = "avx2,f16c")]
unsafe fn fill(ty: GgmlType, rows_w: &[Option<&[u8]>; 8], panel: &mut Panel, nb: usize) {
    match ty {
        GgmlType::Q4_0 => repack(rows_w, panel, nb, |row, b| {
            let x = &as_blocks::<BlockQ4_0>(row)[b];
            let q = _mm_loadu_si128(x.qs.as_ptr() as *const __m128i);
            let u = _mm256_set_m128i(_mm_srli_epi16::<4>(q), q);
            (_mm256_and_si256(u, _mm256_set1_epi8(0x0F)), f16_le(x.d))
        }),
        GgmlType::Q5_0 => repack(rows_w, panel, nb, |row, b| {
            let x = &as_blocks::<BlockQ5_0>(row)[b];
            let q = _mm_loadu_si128(x.qs.as_ptr() as *const __m128i);
            let u = _mm256_set_m128i(_mm_srli_epi16::<4>(q), q);
            let lo = _mm256_and_si256(u, _mm256_set1_epi8(0x0F));
            (_mm256_or_si256(lo, high_bits(x.qh)), f16_le(x.d))
        }),
        _ => repack(rows_w, panel, nb, |row, b| {
            let x = &as_blocks::<BlockQ8_0>(row)[b];
            let q = _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i);
            // q + 128 as unsigned: flip the sign bit.
            (_mm256_xor_si256(q, _mm256_set1_epi8(i8::MIN)), f16_le(x.d))
        }),
    }
}

/// Groups of 16 rows on 512-bit vectors: two 8-row panels side by side
/// (lanes 0..8 the first's rows, 8..16 the second's), every token in tiles
/// of up to 4; a last group of 8 or fewer rows takes the 256-bit tiles.
#[target_feature(enable = "avx2,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn run_avx512(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    rb: usize,
    a: &Acts,
    n: usize,
    out: &mut [f32],
) {
    let panel = || Panel {
        w: vec![0u8; a.nb * 256],
        d: vec![0f32; a.nb * 8],
    };
    let (mut pa, mut pb) = (panel(), panel());
    let rows_of = |r0: usize| -> [Option<&[u8]>; 8] {
        core::array::from_fn(|i| {
            (r0 + i < rows).then(|| &weights[(r0 + i) * rb..(r0 + i + 1) * rb])
        })
    };
    for r0 in (0..rows).step_by(16) {
        if rows - r0 <= 8 {
            group::<Vnni512>(ty, &rows_of(r0), &mut pa, a, n, out, rows, r0);
            continue;
        }
        fill(ty, &rows_of(r0), &mut pa, a.nb);
        fill(ty, &rows_of(r0 + 8), &mut pb, a.nb);
        match ty {
            GgmlType::Q4_0 => tiles16::<0>(&pa, &pb, a, n, out, rows, r0),
            GgmlType::Q5_0 => tiles16::<1>(&pa, &pb, a, n, out, rows, r0),
            _ => tiles16::<2>(&pa, &pb, a, n, out, rows, r0),
        }
    }
}

#[inline(always)]
unsafe fn tiles16<const K: u8>(
    pa: &Panel,
    pb: &Panel,
    a: &Acts,
    n: usize,
    out: &mut [f32],
    rows: usize,
    r0: usize,
) {
    let mut t = 0;
    while t < n {
        match n - t {
            1 => tile16::<K, 1>(pa, pb, a, t, out, rows, r0),
            2 => tile16::<K, 2>(pa, pb, a, t, out, rows, r0),
            3 => tile16::<K, 3>(pa, pb, a, t, out, rows, r0),
            _ => tile16::<K, 4>(pa, pb, a, t, out, rows, r0),
        }
        t += 4;
    }
}

/// [`tile`] for 16 rows: the same integer sums and float steps per lane.
#[inline(always)]
unsafe fn tile16<const K: u8, const T: usize>(
    pa: &Panel,
    pb: &Panel,
    a: &Acts,
    t: usize,
    out: &mut [f32],
    rows: usize,
    r0: usize,
) {
    let nb = a.nb;
    let mut sumf = [_mm512_setzero_ps(); T];
    for b in 0..nb {
        let mut acc: [__m512i; T] =
            core::array::from_fn(|j| _mm512_set1_epi32(a.start[(t + j) * nb + b]));
        let q: [*const u8; T] =
            core::array::from_fn(|j| a.qs.as_ptr().add((t + j) * a.ab + b * 34 + 2));
        let wa = pa.w.as_ptr().add(b * 256) as *const __m256i;
        let wb = pb.w.as_ptr().add(b * 256) as *const __m256i;
        for g in 0..8 {
            let wg = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_loadu_si256(wa.add(g))),
                _mm256_loadu_si256(wb.add(g)),
            );
            for j in 0..T {
                let s = _mm512_set1_epi32((q[j].add(4 * g) as *const i32).read_unaligned());
                acc[j] = _mm512_dpbusd_epi32(acc[j], wg, s);
            }
        }
        let dx = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
            _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(pa.d.as_ptr().add(b * 8)))),
            _mm256_castps_pd(_mm256_loadu_ps(pb.d.as_ptr().add(b * 8))),
        ));
        for j in 0..T {
            let s = _mm512_cvtepi32_ps(acc[j]);
            let dy = _mm512_set1_ps(a.dy[(t + j) * nb + b]);
            let p = match K {
                0 => _mm512_mul_ps(_mm512_mul_ps(s, dx), dy),
                1 => _mm512_mul_ps(_mm512_mul_ps(dx, dy), s),
                _ => _mm512_mul_ps(s, _mm512_mul_ps(dx, dy)),
            };
            sumf[j] = _mm512_add_ps(sumf[j], p);
        }
    }
    let mask: __mmask16 = ((1u32 << (rows - r0).min(16)) - 1) as __mmask16;
    for (j, v) in sumf.iter().enumerate() {
        _mm512_mask_storeu_ps(out.as_mut_ptr().add((t + j) * rows + r0), mask, *v);
    }
}

/// Byte `i` is 16 where bit `i` of the little-endian `qh` is set, else 0.
#[inline(always)]
unsafe fn high_bits(qh: [u8; 4]) -> __m256i {
    let bits = _mm256_set1_epi32(i32::from_le_bytes(qh));
    // Byte i takes the byte of `bits` holding bit i.
    let spread = _mm256_shuffle_epi8(
        bits,
        _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        ),
    );
    let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
    _mm256_and_si256(set, _mm256_set1_epi8(16))
}

/// Fill `panel` from up to 8 rows: `block(row, b)` gives block `b`'s 32
/// values as unsigned bytes in order, and its scale. Missing rows are zero.
#[inline(always)]
unsafe fn repack(
    rows_w: &[Option<&[u8]>; 8],
    panel: &mut Panel,
    nb: usize,
    block: impl Fn(&[u8], usize) -> (__m256i, f32),
) {
    for b in 0..nb {
        let mut v = [_mm256_setzero_si256(); 8];
        for (r, row) in rows_w.iter().enumerate() {
            match row {
                Some(row) => {
                    let (q, d) = block(row, b);
                    v[r] = q;
                    panel.d[b * 8 + r] = d;
                }
                None => panel.d[b * 8 + r] = 0.0,
            }
        }
        // Transpose 8 rows × 8 groups of 4 bytes (i32 elements).
        let t: [__m256i; 8] = core::array::from_fn(|i| {
            let (x, y) = (v[i & !1], v[i | 1]);
            if i % 2 == 0 {
                _mm256_unpacklo_epi32(x, y)
            } else {
                _mm256_unpackhi_epi32(x, y)
            }
        });
        // u[k]: rows 0..3 (k < 4) or 4..7, groups (j, j + 4) for
        // j = [0, 1, 2, 3][k % 4].
        let u: [__m256i; 8] = core::array::from_fn(|k| {
            let base = (k / 4) * 4;
            let (x, y) = match k % 4 {
                0 | 1 => (t[base], t[base + 2]),
                _ => (t[base + 1], t[base + 3]),
            };
            if k % 2 == 0 {
                _mm256_unpacklo_epi64(x, y)
            } else {
                _mm256_unpackhi_epi64(x, y)
            }
        });
        let dst = panel.w.as_mut_ptr().add(b * 256) as *mut __m256i;
        for j in 0..4 {
            _mm256_storeu_si256(
                dst.add(j),
                _mm256_permute2x128_si256::<0x20>(u[j], u[j + 4]),
            );
            _mm256_storeu_si256(
                dst.add(j + 4),
                _mm256_permute2x128_si256::<0x31>(u[j], u[j + 4]),
            );
        }
    }
}

/// The panel against all `n` tokens, 4 at a time. `K` picks the reference's
/// float expression: 0 Q4_0 `sumi*dx*dy`, 1 Q5_0 `(dx*dy)*sumi`, 2 Q8_0
/// `sumi*(dx*dy)` (the last two round alike; kept apart to mirror ggml).
#[inline(always)]
unsafe fn tiles<D: Dp, const K: u8>(
    panel: &Panel,
    a: &Acts,
    n: usize,
    out: &mut [f32],
    rows: usize,
    r0: usize,
) {
    let mut t = 0;
    while t < n {
        match n - t {
            1 => tile::<D, K, 1>(panel, a, t, out, rows, r0),
            2 => tile::<D, K, 2>(panel, a, t, out, rows, r0),
            3 => tile::<D, K, 3>(panel, a, t, out, rows, r0),
            _ => tile::<D, K, 4>(panel, a, t, out, rows, r0),
        }
        t += 4;
    }
}

#[inline(always)]
unsafe fn tile<D: Dp, const K: u8, const T: usize>(
    panel: &Panel,
    a: &Acts,
    t: usize,
    out: &mut [f32],
    rows: usize,
    r0: usize,
) {
    let nb = a.nb;
    let mut sumf = [_mm256_setzero_ps(); T];
    for b in 0..nb {
        let mut acc: [__m256i; T] =
            core::array::from_fn(|j| _mm256_set1_epi32(a.start[(t + j) * nb + b]));
        // The Q8_0 quants of block b of each token (after the 2-byte scale).
        let q: [*const u8; T] =
            core::array::from_fn(|j| a.qs.as_ptr().add((t + j) * a.ab + b * 34 + 2));
        let w = panel.w.as_ptr().add(b * 256) as *const __m256i;
        if K == 2 && !D::ANY_BYTES {
            let s = q8_0_sums_avx2::<T>(w as *const u8, q);
            for j in 0..T {
                acc[j] = _mm256_add_epi32(acc[j], s[j]);
            }
        } else {
            let run = D::run(if K == 0 { 4 } else { 5 });
            for g0 in (0..8).step_by(run) {
                let mut p: [__m256i; T] = core::array::from_fn(|j| D::open(acc[j]));
                for g in g0..g0 + run {
                    let wg = _mm256_loadu_si256(w.add(g));
                    for j in 0..T {
                        let s = _mm256_set1_epi32((q[j].add(4 * g) as *const i32).read_unaligned());
                        p[j] = D::sum(p[j], wg, s);
                    }
                }
                for j in 0..T {
                    acc[j] = D::close(acc[j], p[j]);
                }
            }
        }
        let dx = _mm256_loadu_ps(panel.d.as_ptr().add(b * 8));
        for j in 0..T {
            let s = _mm256_cvtepi32_ps(acc[j]);
            let dy = _mm256_set1_ps(a.dy[(t + j) * nb + b]);
            let p = match K {
                0 => _mm256_mul_ps(_mm256_mul_ps(s, dx), dy),
                1 => _mm256_mul_ps(_mm256_mul_ps(dx, dy), s),
                _ => _mm256_mul_ps(s, _mm256_mul_ps(dx, dy)),
            };
            sumf[j] = _mm256_add_ps(sumf[j], p);
        }
    }
    let rr = 8.min(rows - r0);
    for (j, v) in sumf.iter().enumerate() {
        let o = (t + j) * rows + r0;
        if rr == 8 {
            _mm256_storeu_ps(out.as_mut_ptr().add(o), *v);
        } else {
            let mut tmp = [0f32; 8];
            _mm256_storeu_ps(tmp.as_mut_ptr(), *v);
            out[o..o + rr].copy_from_slice(&tmp[..rr]);
        }
    }
}

/// Rows handled by [`matvec`]: whole groups of 8 (the caller does the rest
/// with the one-row kernel).
pub(crate) fn matvec_rows(rows: usize) -> usize {
    rows / 8 * 8
}

/// `out[t * rows + r] = W[r] · act[t]` for the first [`matvec_rows`] rows and
/// `n` tokens, without repacking: per block, the 8 rows' sums (8 lanes each)
/// are reduced to one vector whose lanes are rows, and finished as in
/// [`matmul`]. For a token or a few, where repacking would cost more than
/// it saves. Same preconditions as [`matmul`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn matvec(
    isa: Isa,
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    rb: usize,
    acts: &[u8],
    ab: usize,
    n: usize,
    out: &mut [f32],
) {
    assert!(Isa::available().contains(&isa));
    let nb = cols / 32;
    let all = Acts::new(ty, acts, ab, n, nb);
    for (t, act) in acts.chunks_exact(ab).take(n).enumerate() {
        let o = &mut out[t * rows..t * rows + matvec_rows(rows)];
        let a = Row {
            y: as_blocks::<BlockQ8_0>(act),
            dy: &all.dy[t * nb..(t + 1) * nb],
            start: &all.start[t * nb..(t + 1) * nb],
            nb,
        };
        // SAFETY: `isa` is available (asserted above); rows are `rb` bytes
        // of `nb` blocks.
        unsafe {
            match isa {
                Isa::AvxVnni => gemv_avxvnni(ty, weights, rb, &a, o),
                Isa::Avx512Vnni | Isa::Avx512 => gemv_vnni512(ty, weights, rb, &a, o),
                Isa::Avx2 => gemv_avx2(ty, weights, rb, &a, o),
            }
        }
    }
}

/// One token's Q8_0 blocks with their scales and starting sums.
struct Row<'a> {
    y: &'a [BlockQ8_0],
    dy: &'a [f32],
    start: &'a [i32],
    nb: usize,
}

#[target_feature(enable = "avx2,f16c,avxvnni")]
unsafe fn gemv_avxvnni(ty: GgmlType, w: &[u8], rb: usize, a: &Row, out: &mut [f32]) {
    gemv::<VnniAvx>(ty, w, rb, a, out)
}

#[target_feature(enable = "avx2,f16c,avx512vnni,avx512vl")]
unsafe fn gemv_vnni512(ty: GgmlType, w: &[u8], rb: usize, a: &Row, out: &mut [f32]) {
    gemv::<Vnni512>(ty, w, rb, a, out)
}

#[target_feature(enable = "avx2,f16c")]
unsafe fn gemv_avx2(ty: GgmlType, w: &[u8], rb: usize, a: &Row, out: &mut [f32]) {
    gemv::<Avx2>(ty, w, rb, a, out)
}

#[inline(always)]
unsafe fn gemv<D: Dp>(ty: GgmlType, w: &[u8], rb: usize, a: &Row, out: &mut [f32]) {
    match ty {
        GgmlType::Q4_0 => gemv_type::<D, BlockQ4_0, 0>(w, rb, a, out, |x| {
            let q = _mm_loadu_si128(x.qs.as_ptr() as *const __m128i);
            let u = _mm256_set_m128i(_mm_srli_epi16::<4>(q), q);
            (_mm256_and_si256(u, _mm256_set1_epi8(0x0F)), x.d)
        }),
        GgmlType::Q5_0 => gemv_type::<D, BlockQ5_0, 1>(w, rb, a, out, |x| {
            let q = _mm_loadu_si128(x.qs.as_ptr() as *const __m128i);
            let u = _mm256_set_m128i(_mm_srli_epi16::<4>(q), q);
            let lo = _mm256_and_si256(u, _mm256_set1_epi8(0x0F));
            (_mm256_or_si256(lo, high_bits(x.qh)), x.d)
        }),
        _ => gemv_type::<D, BlockQ8_0, 2>(w, rb, a, out, |x| {
            let q = _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i);
            (_mm256_xor_si256(q, _mm256_set1_epi8(i8::MIN)), x.d)
        }),
    }
}

/// Groups of 8 rows of block type `B` (`block` unpacks one to unsigned
/// bytes and gives its fp16 scale); `K` as in [`tiles`].
#[inline(always)]
unsafe fn gemv_type<D: Dp, B: bytemuck::Pod, const K: u8>(
    w: &[u8],
    rb: usize,
    a: &Row,
    out: &mut [f32],
    block: impl Fn(&B) -> (__m256i, [u8; 2]),
) {
    for (g, o) in out.chunks_exact_mut(8).enumerate() {
        let rows: [&[B]; 8] =
            core::array::from_fn(|r| as_blocks::<B>(&w[(8 * g + r) * rb..(8 * g + r + 1) * rb]));
        let mut sumf = _mm256_setzero_ps();
        for (b, yb) in a.y.iter().enumerate().take(a.nb) {
            let v = _mm256_loadu_si256(yb.qs.as_ptr() as *const __m256i);
            // Q8_0 without VNNI: widened to i16 (see the module comment);
            // the 8 lanes are summed below, so their order does not matter.
            let wide = (K == 2 && !D::ANY_BYTES).then(|| {
                (
                    _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)),
                    _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(v)),
                )
            });
            let mut d = [0u16; 8];
            let s: [__m256i; 8] = core::array::from_fn(|r| {
                let (u, dx) = block(&rows[r][b]);
                d[r] = u16::from_le_bytes(dx);
                match wide {
                    Some((y0, y1)) => _mm256_add_epi32(
                        _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(u)), y0),
                        _mm256_madd_epi16(
                            _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(u)),
                            y1,
                        ),
                    ),
                    None => D::dp(_mm256_setzero_si256(), u, v),
                }
            });
            let sumi = _mm256_add_epi32(hsum_8x8(&s), _mm256_set1_epi32(a.start[b]));
            let s = _mm256_cvtepi32_ps(sumi);
            // F16C conversion is exact, like `f16_le`.
            let dx = _mm256_cvtph_ps(_mm_loadu_si128(d.as_ptr() as *const __m128i));
            let dy = _mm256_set1_ps(a.dy[b]);
            let p = match K {
                0 => _mm256_mul_ps(_mm256_mul_ps(s, dx), dy),
                1 => _mm256_mul_ps(_mm256_mul_ps(dx, dy), s),
                _ => _mm256_mul_ps(s, _mm256_mul_ps(dx, dy)),
            };
            sumf = _mm256_add_ps(sumf, p);
        }
        _mm256_storeu_ps(o.as_mut_ptr(), sumf);
    }
}
