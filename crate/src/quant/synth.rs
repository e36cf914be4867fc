//! Deterministic weight-like data for benchmarks, identical in every
//! language that can do 64-bit integer and IEEE double arithmetic (the
//! Python benchmark script `bench/libgguf_quant.py` reproduces it exactly).
//!
//! Each value is the mean of four uniforms in [-1, 1) from splitmix64
//! (an Irwin–Hall sum: bell-shaped like trained weights), scaled per row by
//! a factor in [0.02, 0.1] so rows differ in magnitude as real rows do.

/// splitmix64: one step of the generator.
#[inline]
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform double in [-1, 1) from the top 53 bits (exact in f64).
#[inline]
fn uniform(state: &mut u64) -> f64 {
    (splitmix64(state) >> 11) as f64 * (1.0 / (1u64 << 52) as f64) - 1.0
}

/// `rows` × `row_len` weight-like values, row-major.
pub fn weights(rows: usize, row_len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut out = Vec::with_capacity(rows * row_len);
    for _ in 0..rows {
        let scale = 0.02 + 0.08 * (uniform(&mut state) + 1.0) / 2.0;
        for _ in 0..row_len {
            let s = uniform(&mut state)
                + uniform(&mut state)
                + uniform(&mut state)
                + uniform(&mut state);
            out.push((s / 4.0 * scale) as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn is_deterministic_and_weight_like() {
        let a = super::weights(4, 256, 7);
        assert_eq!(a, super::weights(4, 256, 7));
        assert_ne!(a, super::weights(4, 256, 8));
        assert!(a.iter().all(|v| v.abs() <= 0.1));
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn matches_the_python_reproduction() {
        // `python3 bench/synth.py` prints these bits for weights(2, 3, 42).
        let bits: Vec<u32> = super::weights(2, 3, 42)
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(
            bits,
            [0xbd3f94d9, 0x3c13a3ac, 0xbbdd3e2a, 0xbc86512c, 0xbbbcfbac, 0xbc584e2c]
        );
    }
}
