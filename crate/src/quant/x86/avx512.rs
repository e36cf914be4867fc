//! AVX-512 dot products for the K-quants Q4_K and Q6_K (AVX-512 F, BW,
//! VL, VNNI and VBMI, detected at run time: `crate::cpu::has_avx512_kq`),
//! bit-identical to [`crate::quant::reference`].
//!
//! The reference keeps 8 integer lanes per block, lane `l` summing the
//! products at positions `k ≡ l (mod 8)` (ggml's `aux32`), then adds
//! `d · aux32[l]` to float lane `l`. Here one `vpermb` puts the 4 positions
//! `l, l+8, l+16, l+24` of a 32-value sub-block (Q4_K) in i32 lane `l`, so
//! `vpdpbusd` forms each lane's sum directly, for two sub-blocks per
//! 512-bit vector, and `vpmaddwd` with the sub-block's scale in the low
//! half of each lane multiplies it (a lane's sum fits in i16). Q6_K's
//! 16-value sub-blocks put positions `l, l+8` of two sub-blocks in one i32
//! lane, for `vpmaddubsw` then `vpmaddwd` against the scale pair. The
//! integer lane sums are exact, and the float steps are the reference's
//! in its order, so every result equals the reference's bit for bit.

use crate::quant::layout::*;
use core::arch::x86_64::*;

/// For 2 sub-blocks of 32 values in the two 256-bit halves: byte
/// `32h + 4l + m` takes byte `32h + l + 8m`.
const fn q4k_index() -> [u8; 64] {
    let mut idx = [0u8; 64];
    let mut p = 0;
    while p < 64 {
        idx[p] = (32 * (p / 32) + (p % 32) / 4 + 8 * (p % 4)) as u8;
        p += 1;
    }
    idx
}

/// Two-source form of [`q4k_index`] for activations: half `h` takes the
/// sub-block at byte `base + 64h` of the pair of vectors (`base` 0 or 32).
const fn q4k_act_index(base: usize) -> [u8; 64] {
    let mut idx = [0u8; 64];
    let mut p = 0;
    while p < 64 {
        idx[p] = (base + 64 * (p / 32) + (p % 32) / 4 + 8 * (p % 4)) as u8;
        p += 1;
    }
    idx
}

/// Four 16-value sub-blocks `s = 0..4`: i32 lane `L` takes positions
/// `l, l+8` (`l = L mod 8`) of sub-blocks `2(L/8)` and `2(L/8) + 1`.
const fn q6k_index() -> [u8; 64] {
    let mut idx = [0u8; 64];
    let mut p = 0;
    while p < 64 {
        let (lane, m) = (p / 4, p % 4);
        let s = 2 * (lane / 8) + m / 2;
        idx[p] = (16 * s + lane % 8 + 8 * (m % 2)) as u8;
        p += 1;
    }
    idx
}

/// i16 lane `2L + h` (`L` the i32 lane) takes the scale of sub-block
/// `2(L/8) + h` of the four in a vector (add the first's index).
const fn q6k_scale_index() -> [i16; 32] {
    let mut idx = [0i16; 32];
    let mut i = 0;
    while i < 32 {
        idx[i] = (i % 2 + 2 * (i / 16)) as i16;
        i += 1;
    }
    idx
}

#[inline(always)]
unsafe fn load512(p: &[u8]) -> __m512i {
    debug_assert!(p.len() >= 64);
    _mm512_loadu_si512(p.as_ptr() as *const __m512i)
}

#[inline(always)]
unsafe fn index(i: &[u8; 64]) -> __m512i {
    _mm512_loadu_si512(i.as_ptr() as *const __m512i)
}

/// The 8 i32 lanes `l` of `acc`'s two halves added.
#[inline(always)]
unsafe fn fold_halves(acc: __m512i) -> __m256i {
    _mm256_add_epi32(
        _mm512_castsi512_si256(acc),
        _mm512_extracti64x4_epi64::<1>(acc),
    )
}

/// `sums[l] += d * aux32[l]`, unfused as in the reference.
#[inline(always)]
unsafe fn add_lanes(sums: __m256, d: f32, aux: __m256i) -> __m256 {
    _mm256_add_ps(
        sums,
        _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(aux)),
    )
}

/// `sumf + sums[0] + ... + sums[7]`, in lane order as the reference.
#[inline(always)]
unsafe fn finish(sumf: f32, sums: __m256) -> f32 {
    let mut s = [0.0f32; 8];
    _mm256_storeu_ps(s.as_mut_ptr(), sums);
    s.iter().fold(sumf, |a, &v| a + v)
}

/// `Σ_j bsums[j] · mins[j / 2]` (exact in i32).
#[inline(always)]
unsafe fn mins_dot(y: &BlockQ8K, mins: &[u8; 8]) -> i32 {
    let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
    let m = _mm_loadl_epi64(mins.as_ptr() as *const __m128i);
    let m = _mm_shuffle_epi8(
        m,
        _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
    );
    let p = _mm256_madd_epi16(bs, _mm256_cvtepu8_epi16(m));
    let s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256::<1>(p));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// `ggml_vec_dot_q4_K_q8_K`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q4_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    const W: [u8; 64] = q4k_index();
    const A_LO: [u8; 64] = q4k_act_index(0);
    const A_HI: [u8; 64] = q4k_act_index(32);
    let (wi, alo, ahi) = (index(&W), index(&A_LO), index(&A_HI));
    let m4 = _mm512_set1_epi8(0x0F);
    let mut sums = _mm256_setzero_ps();
    let mut sumf = 0.0f32;
    for (x, y) in as_blocks::<BlockQ4K>(vx)
        .iter()
        .zip(as_blocks::<BlockQ8K>(vy))
    {
        let (scales, mins) = k4_scales_mins(&x.scales);
        let sumi = mins_dot(y, &mins);
        let q8: &[u8] = bytemuck::cast_slice(&y.qs);
        // The 8 scales, one per i32 lane.
        let sc = _mm512_cvtepu8_epi32(_mm_loadl_epi64(scales.as_ptr() as *const __m128i));
        let mut acc = _mm512_setzero_si512();
        for h in 0..2 {
            // qs bytes 64h..64h+64: low nibbles are sub-blocks 4h and
            // 4h+2, high nibbles 4h+1 and 4h+3.
            let w = _mm512_permutexvar_epi8(wi, load512(&x.qs[64 * h..]));
            let lo = _mm512_and_si512(w, m4);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), m4);
            let (a0, a1) = (load512(&q8[128 * h..]), load512(&q8[128 * h + 64..]));
            let pairs = [
                (lo, _mm512_permutex2var_epi8(a0, alo, a1), 4 * h, 4 * h + 2),
                (
                    hi,
                    _mm512_permutex2var_epi8(a0, ahi, a1),
                    4 * h + 1,
                    4 * h + 3,
                ),
            ];
            for (w, a, s0, s1) in pairs {
                let d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, a);
                // Each i32 lane's low byte: the half's sub-block scale.
                let si = _mm512_inserti64x4::<1>(
                    _mm512_set1_epi32(s0 as i32),
                    _mm256_set1_epi32(s1 as i32),
                );
                let s = _mm512_permutexvar_epi32(si, sc);
                acc = _mm512_add_epi32(acc, _mm512_madd_epi16(d, s));
            }
        }
        sums = add_lanes(sums, f16_le(x.d) * y.d(), fold_halves(acc));
        let dmin = f16_le(x.dmin) * y.d();
        sumf -= dmin * sumi as f32;
    }
    finish(sumf, sums)
}

/// `ggml_vec_dot_q6_K_q8_K`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c")]
pub(crate) unsafe fn vec_dot_q6_k_q8_k(vx: &[u8], vy: &[u8]) -> f32 {
    const P: [u8; 64] = q6k_index();
    const SCALES: [i16; 32] = q6k_scale_index();
    let pi = index(&P);
    let pair = _mm512_loadu_si512(SCALES.as_ptr() as *const __m512i);
    let m4 = _mm512_set1_epi8(0x0F);
    let m30 = _mm512_set1_epi8(0x30);
    let k32 = _mm512_set1_epi8(32);
    // qh bits 2s, 2s+1 moved to bits 4, 5: the low 256-bit half takes
    // s = 0 (V0) or 2 (V1), the high half s = 1 or 3.
    let up0 = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);
    let down1 = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
    let mut sums = _mm256_setzero_ps();
    for (x, y) in as_blocks::<BlockQ6K>(vx)
        .iter()
        .zip(as_blocks::<BlockQ8K>(vy))
    {
        let q8: &[u8] = bytemuck::cast_slice(&y.qs);
        let sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128(
            x.scales.as_ptr() as *const __m128i
        )));
        let mut acc = _mm512_setzero_si512();
        for n in 0..2 {
            let q = load512(&x.ql[64 * n..]);
            let h = _mm512_broadcast_i64x4(_mm256_loadu_si256(
                x.qh[32 * n..].as_ptr() as *const __m256i
            ));
            let h0 = _mm512_and_si512(_mm512_sllv_epi64(h, up0), m30);
            let h1 = _mm512_and_si512(_mm512_srlv_epi64(h, down1), m30);
            // (a & b) | c
            let v0 = _mm512_ternarylogic_epi32::<0xEA>(q, m4, h0);
            let v1 = _mm512_ternarylogic_epi32::<0xEA>(_mm512_srli_epi16::<4>(q), m4, h1);
            for (k, v) in [v0, v1].into_iter().enumerate() {
                // Values 64k..64k+64 of this half: sub-blocks 8n+4k..8n+4k+4.
                let w = _mm512_permutexvar_epi8(pi, v);
                let a = _mm512_permutexvar_epi8(pi, load512(&q8[128 * n + 64 * k..]));
                // (q - 32) · a per position pair, exact in i16 (see x86::dot).
                let p = _mm512_sub_epi16(_mm512_maddubs_epi16(w, a), _mm512_maddubs_epi16(k32, a));
                let si = _mm512_add_epi16(pair, _mm512_set1_epi16((8 * n + 4 * k) as i16));
                let s = _mm512_permutexvar_epi16(si, sc16);
                acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, s));
            }
        }
        sums = add_lanes(sums, f16_le(x.d) * y.d(), fold_halves(acc));
    }
    finish(0.0, sums)
}
