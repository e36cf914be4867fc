//! Weights repacked once, when a model is loaded, for decoding on x86_64:
//! Q4_0, Q5_0 and Q8_0 matrices with eight rows interleaved per block in
//! groups of 4 values (as llama.cpp's `q4_0_8x8` repack does), so one
//! `dpbusd` against 4 activation bytes broadcast to every lane adds 4
//! products to each of 8 rows' block sums. Lanes are rows: each lane ends
//! its block exactly as the reference does (the same multiplications in
//! the same order, added to the row's `sumf` in block order), so outputs
//! equal [`crate::quant::reference`]'s bit for bit, like `x8`, whose
//! per-call repack this saves (and whose per-block horizontal sums).
//!
//! The bits stay as packed as in the file (Q4_0 nibbles, Q5_0's fifth bit),
//! so the copy is the size of the original. Per group of 8 rows and block:
//!
//! - Q4_0: 4 × 32 bytes, `[g][r][m]` = byte `4g + m` of row `r`'s `qs`
//!   (low nibble: value `4g + m`; high: value `16 + 4g + m`); 8 fp16 scales.
//! - Q5_0: the same, then 32 bytes of fifth bits: byte `[r][m]` holds in
//!   bit `2g` the bit of value `4g + m` and in bit `2g + 1` that of value
//!   `16 + 4g + m`; 8 fp16 scales.
//! - Q8_0: 8 × 32 bytes, `[g][r][m]` = value `4g + m` of row `r` plus 128
//!   (unsigned for `dpbusd`); 8 fp16 scales.
//!
//! Without VNNI, Q8_0 takes `x8`'s widening kernel (`q8_0_sums_avx2`).

use super::x8::{Acts, Dp, Isa};
use crate::quant::types::GgmlType;
use core::arch::x86_64::*;

/// A matrix's whole groups of 8 rows in the layout above (the rows past
/// the last whole group stay in the original bytes).
pub(crate) struct Packed {
    ty: GgmlType,
    /// Rows packed: a multiple of 8.
    rows: usize,
    /// Blocks per row.
    nb: usize,
    bytes: Vec<u8>,
}

/// Bytes of one block of 8 rows.
fn chunk(ty: GgmlType) -> usize {
    match ty {
        GgmlType::Q4_0 => 128 + 16,
        GgmlType::Q5_0 => 128 + 32 + 16,
        _ => 256 + 16,
    }
}

/// Whether `ty` has a packed kernel.
pub(crate) fn packs(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0)
}

impl Packed {
    /// Pack the whole groups of 8 of `rows` rows of `rb` bytes (`cols / 32`
    /// blocks); `None` for a type without a packed kernel or too few rows.
    pub(crate) fn new(ty: GgmlType, weights: &[u8], rows: usize, rb: usize) -> Option<Packed> {
        if !packs(ty) || rows < 8 || rb == 0 || weights.len() != rows * rb {
            return None;
        }
        let bs = ty.type_size();
        let nb = rb / bs;
        let groups = rows / 8;
        let cs = chunk(ty);
        let mut bytes = vec![0u8; groups * nb * cs];
        for (g8, dst) in bytes.chunks_exact_mut(nb * cs).enumerate() {
            for (b, c) in dst.chunks_exact_mut(cs).enumerate() {
                for r in 0..8 {
                    let row = &weights[(8 * g8 + r) * rb..(8 * g8 + r + 1) * rb];
                    let blk = &row[b * bs..(b + 1) * bs];
                    // Every block type here starts with its fp16 scale.
                    c[cs - 16 + 2 * r..cs - 16 + 2 * r + 2].copy_from_slice(&blk[..2]);
                    match ty {
                        GgmlType::Q8_0 => {
                            for g in 0..8 {
                                for m in 0..4 {
                                    c[32 * g + 4 * r + m] = blk[2 + 4 * g + m] ^ 0x80;
                                }
                            }
                        }
                        _ => {
                            let qs = if ty == GgmlType::Q5_0 {
                                &blk[6..22]
                            } else {
                                &blk[2..18]
                            };
                            for g in 0..4 {
                                c[32 * g + 4 * r..32 * g + 4 * r + 4]
                                    .copy_from_slice(&qs[4 * g..4 * g + 4]);
                            }
                            if ty == GgmlType::Q5_0 {
                                let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                                for m in 0..4 {
                                    let mut h = 0u8;
                                    for g in 0..4 {
                                        h |= ((qh >> (4 * g + m) & 1) as u8) << (2 * g);
                                        h |= ((qh >> (16 + 4 * g + m) & 1) as u8) << (2 * g + 1);
                                    }
                                    c[128 + 4 * r + m] = h;
                                }
                            }
                        }
                    }
                }
            }
        }
        Some(Packed {
            ty,
            rows: groups * 8,
            nb,
            bytes,
        })
    }

    /// Rows this copy holds (whole groups of 8, from the first).
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held (the tests check it is the original's size).
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The packed groups `g0..g1` (of 8 rows) as a view, for a thread's share.
    pub(crate) fn groups(&self, g0: usize, g1: usize) -> View<'_> {
        let per = self.nb * chunk(self.ty);
        View {
            ty: self.ty,
            nb: self.nb,
            bytes: &self.bytes[g0 * per..g1 * per],
        }
    }
}

/// Some groups of a [`Packed`] matrix.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    ty: GgmlType,
    nb: usize,
    bytes: &'a [u8],
}

impl View<'_> {
    /// Rows in the view.
    pub(crate) fn rows(&self) -> usize {
        8 * self.bytes.len() / (self.nb * chunk(self.ty)).max(1)
    }
}

/// `out[t * rows + r] = W[r] · act[t]` for the view's rows (`r < v.rows()`)
/// and `n` Q8_0 activation rows of `ab` bytes. `isa` must be available
/// (every variant handles every packed type), `out` hold `n × rows` values
/// with `rows >= v.rows()`.
pub(crate) fn matvec(
    isa: Isa,
    v: View,
    acts: &[u8],
    ab: usize,
    n: usize,
    rows: usize,
    out: &mut [f32],
) {
    assert!(Isa::available().contains(&isa));
    let a = Acts::new(v.ty, acts, ab, n, v.nb);
    let pr = v.rows();
    assert!(rows >= pr && out.len() >= n * rows && acts.len() >= n * ab);
    for t in 0..n {
        let o = &mut out[t * rows..t * rows + pr];
        // SAFETY: `isa` is available (asserted above); the view holds whole
        // blocks of `nb` per group; the act row has `nb` Q8_0 blocks.
        unsafe {
            match isa {
                Isa::AvxVnni => gemv_avxvnni(v, &a, acts, ab, t, o),
                Isa::Avx512Vnni | Isa::Avx512 => gemv_vnni512(v, &a, acts, ab, t, o),
                Isa::Avx2 => gemv_avx2(v, &a, acts, ab, t, o),
            }
        }
    }
}

#[target_feature(enable = "avx2,f16c,avxvnni")]
unsafe fn gemv_avxvnni(v: View, a: &Acts, acts: &[u8], ab: usize, t: usize, out: &mut [f32]) {
    gemv::<super::x8::VnniAvx>(v, a, acts, ab, t, out)
}

#[target_feature(enable = "avx2,f16c,avx512vnni,avx512vl")]
unsafe fn gemv_vnni512(v: View, a: &Acts, acts: &[u8], ab: usize, t: usize, out: &mut [f32]) {
    gemv::<super::x8::Vnni512>(v, a, acts, ab, t, out)
}

#[target_feature(enable = "avx2,f16c")]
unsafe fn gemv_avx2(v: View, a: &Acts, acts: &[u8], ab: usize, t: usize, out: &mut [f32]) {
    gemv::<super::x8::Avx2>(v, a, acts, ab, t, out)
}

/// Four activation bytes of token `t`, block `b`, group `g`, in every lane.
#[inline(always)]
unsafe fn act4(q: *const u8, g: usize) -> __m256i {
    _mm256_set1_epi32((q.add(4 * g) as *const i32).read_unaligned())
}

/// `acc` plus the byte products of the 8 groups `u[g]` of a block against
/// activation bytes `q[4g..4g + 4]`, through `D`'s running sums (`bits`:
/// the weights' width, which bounds how many groups one sum may take).
#[inline(always)]
unsafe fn sum_groups<D: Dp>(
    mut acc: __m256i,
    bits: u32,
    u: &[__m256i; 8],
    q: *const u8,
) -> __m256i {
    let run = D::run(bits);
    for g0 in (0..8).step_by(run) {
        let mut p = D::open(acc);
        for (g, &ug) in u.iter().enumerate().skip(g0).take(run) {
            p = D::sum(p, ug, act4(q, g));
        }
        acc = D::close(acc, p);
    }
    acc
}

#[inline(always)]
unsafe fn gemv<D: Dp>(v: View, a: &Acts, acts: &[u8], ab: usize, t: usize, out: &mut [f32]) {
    let nb = v.nb;
    let cs = chunk(v.ty);
    let m4 = _mm256_set1_epi8(0x0F);
    let h16 = _mm256_set1_epi8(16);
    for (g8, o) in out.chunks_exact_mut(8).enumerate() {
        let base = v.bytes.as_ptr().add(g8 * nb * cs);
        let mut sumf = _mm256_setzero_ps();
        for b in 0..nb {
            let c = base.add(b * cs);
            let w = c as *const __m256i;
            // The Q8_0 quants of block b (after the 2-byte scale).
            let q = acts.as_ptr().add(t * ab + b * 34 + 2);
            let mut acc = _mm256_set1_epi32(a.start[t * nb + b]);
            match v.ty {
                GgmlType::Q8_0 if !D::ANY_BYTES => {
                    let [s] = super::x8::q8_0_sums_avx2::<1>(c, [q]);
                    acc = _mm256_add_epi32(acc, s);
                }
                GgmlType::Q8_0 => {
                    for g in 0..8 {
                        acc = D::dp(acc, _mm256_loadu_si256(w.add(g)), act4(q, g));
                    }
                }
                GgmlType::Q4_0 => {
                    let mut u = [_mm256_setzero_si256(); 8];
                    for g in 0..4 {
                        let x = _mm256_loadu_si256(w.add(g));
                        u[g] = _mm256_and_si256(x, m4);
                        u[g + 4] = _mm256_and_si256(_mm256_srli_epi16::<4>(x), m4);
                    }
                    acc = sum_groups::<D>(acc, 4, &u, q);
                }
                _ => {
                    let h = _mm256_loadu_si256(w.add(4));
                    // Bit 2g (low nibble's) and 2g + 1 (high's) moved to bit 4.
                    let hb = [
                        (_mm256_slli_epi16::<4>(h), _mm256_slli_epi16::<3>(h)),
                        (_mm256_slli_epi16::<2>(h), _mm256_slli_epi16::<1>(h)),
                        (h, _mm256_srli_epi16::<1>(h)),
                        (_mm256_srli_epi16::<2>(h), _mm256_srli_epi16::<3>(h)),
                    ];
                    let mut u = [_mm256_setzero_si256(); 8];
                    for (g, (hl, hh)) in hb.into_iter().enumerate() {
                        let x = _mm256_loadu_si256(w.add(g));
                        u[g] = _mm256_or_si256(_mm256_and_si256(x, m4), _mm256_and_si256(hl, h16));
                        u[g + 4] = _mm256_or_si256(
                            _mm256_and_si256(_mm256_srli_epi16::<4>(x), m4),
                            _mm256_and_si256(hh, h16),
                        );
                    }
                    acc = sum_groups::<D>(acc, 5, &u, q);
                }
            }
            let s = _mm256_cvtepi32_ps(acc);
            // F16C conversion is exact, like `f16_le`.
            let dx = _mm256_cvtph_ps(_mm_loadu_si128(c.add(cs - 16) as *const __m128i));
            let dy = _mm256_set1_ps(a.dy[t * nb + b]);
            // The reference's float expression per type (see `x8::tiles`).
            let p = match v.ty {
                GgmlType::Q4_0 => _mm256_mul_ps(_mm256_mul_ps(s, dx), dy),
                GgmlType::Q5_0 => _mm256_mul_ps(_mm256_mul_ps(dx, dy), s),
                _ => _mm256_mul_ps(s, _mm256_mul_ps(dx, dy)),
            };
            sumf = _mm256_add_ps(sumf, p);
        }
        _mm256_storeu_ps(o.as_mut_ptr(), sumf);
    }
}
