//! Dot products straight on packed ggml blocks, as llama.cpp's `vec_dot`
//! functions do them: weights stay packed, activations are quantized on the
//! fly to Q8_0 / Q8_K.

/// Whether this CPU has AVX2, FMA and F16C (the x86 fast paths need all
/// three). `is_x86_feature_detected!` caches its answer, so this is cheap.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}
