//! CPU features, detected at run time: the one place the fast paths ask
//! (a leaf: it imports nothing from the crate). `is_x86_feature_detected!`
//! caches its answers, so these are cheap. On wasm32, simd128 is a
//! compile-time feature (`target_feature = "simd128"`), not asked here.

#[cfg(target_arch = "x86_64")]
static AVX2_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Use nothing past AVX2, FMA and F16C from now on (no AVX-VNNI, no
/// AVX-512), as on a CPU without them: for measuring against builds made
/// for such CPUs (`webquant bench --cpu avx2`). The kernels and their
/// tests are the same; only the choice among them changes.
#[cfg(target_arch = "x86_64")]
pub fn limit_to_avx2() {
    AVX2_ONLY.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn beyond_avx2_allowed() -> bool {
    !AVX2_ONLY.load(std::sync::atomic::Ordering::Relaxed)
}

/// The SIMD extensions the fast paths use on this CPU, in words (printed
/// with benchmark results).
pub fn in_use() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut v = Vec::new();
        if has_avx2() {
            v.push("AVX2, FMA, F16C");
        }
        if has_avxvnni() {
            v.push("AVX-VNNI");
        }
        if has_avx512vnni() {
            v.push("AVX512-VNNI (256-bit)");
        }
        if has_avx512_kq() {
            v.push("AVX-512 F/BW/VL/VNNI/VBMI (512-bit)");
        }
        if !v.is_empty() {
            return v.join(", ");
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return "wasm simd128".into();
    #[allow(unreachable_code)]
    "scalar".into()
}

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
    beyond_avx2_allowed() && std::is_x86_feature_detected!("avxvnni")
}

/// AVX512-VNNI with AVX512-VL (`vpdpbusd` on 256-bit vectors, EVEX-encoded).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512vnni() -> bool {
    beyond_avx2_allowed()
        && std::is_x86_feature_detected!("avx512vnni")
        && std::is_x86_feature_detected!("avx512vl")
}

/// AVX-512 F, BW, VL, VNNI and VBMI together: the AVX-512 K-quant dot
/// products (`quant::x86::avx512`) need all five.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512_kq() -> bool {
    beyond_avx2_allowed()
        && has_avx2()
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vnni")
        && std::is_x86_feature_detected!("avx512vbmi")
}
