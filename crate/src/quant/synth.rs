//! Deterministic weight-like data for benchmarks, identical in every
//! language that can do 64-bit integer and IEEE double arithmetic (the
//! Python benchmark script `bench/libgguf_quant.py` reproduces it exactly).
//!
//! Each value is the mean of four uniforms in [-1, 1) from splitmix64
//! (an Irwin–Hall sum: bell-shaped like trained weights), scaled per row by
//! a factor in [0.02, 0.1] so rows differ in magnitude as real rows do.

/// splitmix64: one step of the generator (also the teaching demos' seeded PRNG).
#[inline]
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform double in [-1, 1) from the top 53 bits (exact in f64).
#[inline]
pub(crate) fn uniform(state: &mut u64) -> f64 {
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

/// A buffer of `len` values whose first value sits on a 64-byte boundary (a
/// cache line). The benchmarks keep their data in these so that the speed
/// they report does not depend on where the allocator happened to put each
/// buffer: a 16-byte store that straddles two cache lines, or a store
/// whose address matches an input's modulo 4 KiB, changes the speed of a
/// dequantizer by tens of percent.
pub struct Aligned<T> {
    buf: Vec<T>,
    at: usize,
    len: usize,
}

impl<T: Copy + Default> Aligned<T> {
    /// `values` copied into an aligned buffer.
    pub fn from_slice(values: &[T]) -> Self {
        // (for value sizes that divide 64, as f32's and u8's do)
        let size = core::mem::size_of::<T>().max(1);
        let mut buf = vec![T::default(); values.len() + 64 / size];
        let at = (64 - buf.as_ptr() as usize % 64) % 64 / size;
        buf[at..at + values.len()].copy_from_slice(values);
        Aligned {
            buf,
            at,
            len: values.len(),
        }
    }

    /// `len` default values (zeros), aligned.
    pub fn zeroed(len: usize) -> Self {
        Self::from_slice(&vec![T::default(); len])
    }

    pub fn as_slice(&self) -> &[T] {
        &self.buf[self.at..self.at + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.buf[self.at..self.at + self.len]
    }
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

    #[test]
    fn aligned_buffers_start_on_a_cache_line_and_keep_the_values() {
        for n in [0, 1, 7, 1000] {
            let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let mut a = super::Aligned::from_slice(&v);
            assert_eq!(a.as_slice(), &v[..]);
            assert_eq!(a.as_mut_slice().as_ptr() as usize % 64, 0);
            let b = super::Aligned::<u8>::zeroed(n + 3);
            assert_eq!(b.as_slice().len(), n + 3);
            assert_eq!(b.as_slice().as_ptr() as usize % 64, 0);
        }
    }
}
