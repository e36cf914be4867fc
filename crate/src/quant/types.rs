//! ggml's tensor types: ids as in `ggml.h` (and GGUF). Names, block sizes
//! and bytes per block are in each type's row of `quant::traits`.

use crate::error::{Error, Result};

/// A ggml tensor type. Discriminants are the GGUF / `ggml.h` ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2K = 10,
    Q3K = 11,
    Q4K = 12,
    Q5K = 13,
    Q6K = 14,
    Q8K = 15,
    IQ4NL = 20,
    IQ4XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// Values per super-block of the k-quants.
pub const QK_K: usize = 256;

impl GgmlType {
    pub const ALL: [GgmlType; 23] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2K,
        GgmlType::Q3K,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
        GgmlType::Q8K,
        GgmlType::IQ4NL,
        GgmlType::IQ4XS,
        GgmlType::I8,
        GgmlType::I16,
        GgmlType::I32,
        GgmlType::BF16,
        GgmlType::TQ1_0,
        GgmlType::TQ2_0,
        GgmlType::MXFP4,
    ];

    /// The name ggml writes (`ggml_type_name`).
    pub fn name(self) -> &'static str {
        crate::quant::traits::traits(self).name
    }

    /// Parse a ggml type name, case-insensitively (`q4_k`, `Q4_K`, `q4_K`).
    pub fn from_name(name: &str) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        GgmlType::ALL
            .iter()
            .copied()
            .find(|t| t.name().to_ascii_lowercase() == lower)
            .ok_or_else(|| Error::UnknownType(name.to_string()))
    }

    pub fn from_id(id: u32) -> Result<Self> {
        GgmlType::ALL
            .iter()
            .copied()
            .find(|t| *t as u32 == id)
            .ok_or_else(|| Error::UnknownType(format!("ggml type id {id}")))
    }

    pub fn id(self) -> u32 {
        self as u32
    }

    /// Values per block.
    pub fn block_size(self) -> usize {
        crate::quant::traits::traits(self).block_size
    }

    /// Bytes per block (`ggml_type_size`).
    pub fn type_size(self) -> usize {
        crate::quant::traits::traits(self).type_size
    }

    /// Bytes of one row of `n` values; an error if `n` is not a whole number of blocks.
    pub fn row_size(self, n: usize) -> Result<usize> {
        let bs = self.block_size();
        if !n.is_multiple_of(bs) {
            return Err(Error::BadLength {
                ty: self.name(),
                block_size: bs,
                detail: format!("row length {n} is not a multiple of the block size"),
            });
        }
        (n / bs)
            .checked_mul(self.type_size())
            .ok_or_else(|| Error::invalid(format!("row of {n} values overflows")))
    }

    /// Bits per weight, storage included (scales, mins).
    pub fn bits_per_weight(self) -> f64 {
        self.type_size() as f64 * 8.0 / self.block_size() as f64
    }

    /// True for the block-quantized types (everything but plain floats and ints).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    // In wasm the same tests run under wasm-bindgen's runner (Node).
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn names_round_trip_case_insensitively() {
        for t in GgmlType::ALL {
            assert_eq!(GgmlType::from_name(t.name()).unwrap(), t);
            assert_eq!(GgmlType::from_name(&t.name().to_uppercase()).unwrap(), t);
            assert_eq!(GgmlType::from_id(t.id()).unwrap(), t);
        }
        assert!(GgmlType::from_name("q4_k").is_ok());
        assert!(matches!(
            GgmlType::from_name("q9_0"),
            Err(Error::UnknownType(_))
        ));
    }

    #[test]
    fn row_size_rejects_partial_blocks() {
        assert_eq!(GgmlType::Q4_0.row_size(64).unwrap(), 36);
        let e = GgmlType::Q4K.row_size(172).unwrap_err().to_string();
        assert!(
            e.contains("q4_K") && e.contains("256") && e.contains("172"),
            "{e}"
        );
    }
}
