//! CPU features, detected at run time: the one place the fast paths ask
//! (a leaf: it imports nothing from the crate). `is_x86_feature_detected!`
//! caches its answers, so these are cheap. On wasm32, simd128 is a
//! compile-time feature (`target_feature = "simd128"`), not asked here.

/// AVX2, FMA and F16C together: the x86 fast paths need all three.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}

/// AVX-VNNI (`vpdpbusd` on 256-bit vectors, VEX-encoded).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avxvnni() -> bool {
    std::is_x86_feature_detected!("avxvnni")
}

/// AVX512-VNNI with AVX512-VL (`vpdpbusd` on 256-bit vectors, EVEX-encoded).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512vnni() -> bool {
    std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vl")
}

/// AVX-512 F, BW, VL, VNNI and VBMI together: the AVX-512 K-quant dot
/// products (`quant::x86::avx512`) need all five.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512_kq() -> bool {
    has_avx2()
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vnni")
        && std::is_x86_feature_detected!("avx512vbmi")
}
