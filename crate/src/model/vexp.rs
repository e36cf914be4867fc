//! `expf` over slices for softmax and SwiGLU, bit for bit the `libm`
//! crate's `expf` (FreeBSD's `e_expf.c`), which every target uses so that
//! native and wasm runs agree. On x86_64 with AVX2, 8 values at a time go
//! through the same operations lane by lane (no FMA), and 4 at a time in
//! wasm with simd128; a group holding any value outside the common range
//! (|x| <= 2^-14, |x| >= 87.33, NaN) is done by `libm::expf` itself.

use libm::expf;

/// `x[i] = expf(x[i])`.
pub(crate) fn exp_in_place(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx2() {
        // SAFETY: AVX2 is present, checked above.
        unsafe { avx2::exp_in_place(x) };
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::exp_in_place(x);
        return;
    }
    #[allow(unreachable_code)]
    for v in x {
        *v = expf(*v);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;
    use libm::expf;

    // libm's constants (e_expf.c), by their bits.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    const P1: f32 = f32::from_bits(0x3e2a_aa8f);
    const P2: f32 = f32::from_bits(0xbb35_5215);

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn exp_in_place(x: &mut [f32]) {
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            let v = _mm256_loadu_ps(c.as_ptr());
            match exp8(v) {
                Some(e) => _mm256_storeu_ps(c.as_mut_ptr(), e),
                None => {
                    for v in c.iter_mut() {
                        *v = expf(*v);
                    }
                }
            }
        }
        for v in chunks.into_remainder() {
            *v = expf(*v);
        }
    }

    /// `expf` of 8 lanes, or `None` if a lane is outside
    /// 2^-14 < |x| < 87.33 (libm's special cases; there `k` stays within
    /// [-126, 126], so `scalbnf(y, k)` is the one multiplication by 2^k).
    #[inline(always)]
    unsafe fn exp8(x: __m256) -> Option<__m256> {
        let bits = _mm256_castps_si256(x);
        let hx = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fff_ffff));
        let gt = |c: i32| _mm256_cmpgt_epi32(hx, _mm256_set1_epi32(c));
        // hx > 0x39000000 and hx < 0x42aeac50 in every lane.
        let ok = _mm256_andnot_si256(gt(0x42ae_ac4f), gt(0x3900_0000));
        if _mm256_movemask_epi8(ok) != -1 {
            return None;
        }
        let neg = _mm256_srai_epi32::<31>(bits); // all ones where x < 0
        let negf = _mm256_castsi256_ps(neg);
        // |x| > 1.5 ln2: k = (INV_LN2 * x + ±0.5) as i32 (truncating).
        let half = _mm256_blendv_ps(_mm256_set1_ps(0.5), _mm256_set1_ps(-0.5), negf);
        let k_big = _mm256_cvttps_epi32(_mm256_add_ps(
            _mm256_mul_ps(_mm256_set1_ps(INV_LN2), x),
            half,
        ));
        // 0.5 ln2 < |x| <= 1.5 ln2: k = 1 - 2 * sign.
        let k_mid = _mm256_or_si256(neg, _mm256_set1_epi32(1));
        let big = gt(0x3f85_1592);
        let mid = gt(0x3eb1_7218);
        let k = _mm256_and_si256(_mm256_blendv_epi8(k_mid, k_big, big), mid);
        let kf = _mm256_cvtepi32_ps(k);
        let midf = _mm256_castsi256_ps(mid);
        // Reduced argument: hi - lo where |x| > 0.5 ln2, else x with lo = 0.
        let hi = _mm256_blendv_ps(
            x,
            _mm256_sub_ps(x, _mm256_mul_ps(kf, _mm256_set1_ps(LN2_HI))),
            midf,
        );
        let lo = _mm256_and_ps(_mm256_mul_ps(kf, _mm256_set1_ps(LN2_LO)), midf);
        let r = _mm256_blendv_ps(x, _mm256_sub_ps(hi, lo), midf);
        let xx = _mm256_mul_ps(r, r);
        let p = _mm256_add_ps(_mm256_set1_ps(P1), _mm256_mul_ps(xx, _mm256_set1_ps(P2)));
        let c = _mm256_sub_ps(r, _mm256_mul_ps(xx, p));
        let q = _mm256_div_ps(_mm256_mul_ps(r, c), _mm256_sub_ps(_mm256_set1_ps(2.0), c));
        let y = _mm256_add_ps(_mm256_set1_ps(1.0), _mm256_add_ps(_mm256_sub_ps(q, lo), hi));
        // y * 2^k where k != 0.
        let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            k,
            _mm256_set1_epi32(0x7f),
        )));
        let k0 = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256()));
        Some(_mm256_blendv_ps(_mm256_mul_ps(y, pow2), y, k0))
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;
    use libm::expf;

    // libm's constants (e_expf.c), by their bits.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    const P1: f32 = f32::from_bits(0x3e2a_aa8f);
    const P2: f32 = f32::from_bits(0xbb35_5215);

    pub(super) fn exp_in_place(x: &mut [f32]) {
        let mut chunks = x.chunks_exact_mut(4);
        for c in &mut chunks {
            let c: &mut [f32; 4] = c.try_into().expect("chunks of 4");
            // SAFETY: `c` is 16 bytes; wasm loads and stores need no alignment.
            let v = unsafe { v128_load(c.as_ptr() as *const v128) };
            match exp4(v) {
                // SAFETY: as above.
                Some(e) => unsafe { v128_store(c.as_mut_ptr() as *mut v128, e) },
                None => {
                    for v in c.iter_mut() {
                        *v = expf(*v);
                    }
                }
            }
        }
        for v in chunks.into_remainder() {
            *v = expf(*v);
        }
    }

    /// `expf` of 4 lanes, or `None` if a lane is outside 2^-14 < |x| <
    /// 87.33: the AVX2 `exp8`'s operations on simd128 (a blend is a
    /// `bitselect` on whole-lane masks; `k` is in range, so the saturating
    /// truncation is the plain one).
    #[inline(always)]
    fn exp4(x: v128) -> Option<v128> {
        let hx = v128_and(x, i32x4_splat(0x7fff_ffff));
        let gt = |c: i32| i32x4_gt(hx, i32x4_splat(c));
        let ok = v128_andnot(gt(0x3900_0000), gt(0x42ae_ac4f));
        if !i32x4_all_true(ok) {
            return None;
        }
        let neg = i32x4_shr(x, 31); // all ones where x < 0
        let sel = |a: v128, b: v128, m: v128| v128_bitselect(b, a, m);
        let half = sel(f32x4_splat(0.5), f32x4_splat(-0.5), neg);
        let k_big = i32x4_trunc_sat_f32x4(f32x4_add(f32x4_mul(f32x4_splat(INV_LN2), x), half));
        let k_mid = v128_or(neg, i32x4_splat(1));
        let big = gt(0x3f85_1592);
        let mid = gt(0x3eb1_7218);
        let k = v128_and(sel(k_mid, k_big, big), mid);
        let kf = f32x4_convert_i32x4(k);
        let hi = sel(x, f32x4_sub(x, f32x4_mul(kf, f32x4_splat(LN2_HI))), mid);
        let lo = v128_and(f32x4_mul(kf, f32x4_splat(LN2_LO)), mid);
        let r = sel(x, f32x4_sub(hi, lo), mid);
        let xx = f32x4_mul(r, r);
        let p = f32x4_add(f32x4_splat(P1), f32x4_mul(xx, f32x4_splat(P2)));
        let c = f32x4_sub(r, f32x4_mul(xx, p));
        let q = f32x4_div(f32x4_mul(r, c), f32x4_sub(f32x4_splat(2.0), c));
        let y = f32x4_add(f32x4_splat(1.0), f32x4_add(f32x4_sub(q, lo), hi));
        // y * 2^k where k != 0.
        let pow2 = i32x4_shl(i32x4_add(k, i32x4_splat(0x7f)), 23);
        let k0 = i32x4_eq(k, i32x4_splat(0));
        Some(sel(f32x4_mul(y, pow2), y, k0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn check(xs: &[f32]) {
        let mut got = xs.to_vec();
        exp_in_place(&mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = expf(x);
            assert!(
                g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                "expf({x:e} = {:#010x}): {g:e} vs libm {want:e}",
                x.to_bits()
            );
        }
    }

    #[test]
    fn equals_libm_on_a_sweep_of_bit_patterns() {
        // Every 61st float from -110 to 110 (both signs, all exponents in
        // range, each reduction branch and its boundaries' neighbourhoods).
        let mut xs = Vec::new();
        for sign in [0u32, 0x8000_0000] {
            let mut b = 0u32;
            while b <= 0x42dc_0000 {
                xs.push(f32::from_bits(b | sign));
                b += 61;
            }
        }
        check(&xs);
    }

    #[test]
    fn equals_libm_at_the_branch_boundaries_and_specials() {
        let mut xs = Vec::new();
        for b in [
            0x3900_0000u32,
            0x3eb1_7218,
            0x3f85_1592,
            0x42ae_ac50,
            0x42b1_7218,
            0x42cf_f1b5,
        ] {
            for d in 0..16 {
                for s in [0, 0x8000_0000] {
                    xs.push(f32::from_bits((b - 8 + d) | s));
                }
            }
        }
        xs.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            1.0e-45,
            -88.0,
            88.0,
            1.0,
            -1.0,
        ]);
        // Specials mixed into groups of ordinary values, and alone.
        let mut mixed: Vec<f32> = (0..64).map(|i| i as f32 * 0.37 - 11.0).collect();
        for (i, &x) in xs.iter().enumerate() {
            mixed[(i * 5) % 64] = x;
        }
        check(&xs);
        check(&mixed);
    }
}
