//! One row per ggml type: everything the rest of the crate needs to know
//! about a type, the way ggml's `type_traits` and `type_traits_cpu` do it.
//! Every dispatcher (quantize, dequantize, dot products, the GPU's list of
//! types, the UI's list) reads this table; nothing else matches on types.
//!
//! Adding a type: one row here, its scalar reference in `quant/reference/`,
//! and, where speed matters, SIMD versions in `quant/x86/` and
//! `quant/wasm/` with the reference's function names (so one grep finds
//! every version), each tested against the reference in `quant/tests/`.

use crate::error::{Error, Result};
use crate::quant::reference as r;
use crate::quant::types::{GgmlType, QK_K};

/// Quantize one row: `x` whole blocks of values, `y` exactly their bytes.
pub type QuantizeFn = fn(&[f32], &mut [u8]);
/// [`QuantizeFn`] weighted by an importance matrix (one weight per column).
pub type QuantizeWeightedFn = fn(&[f32], &mut [u8], &[f32]);
/// Dequantize whole blocks: packed bytes in, one `f32` per weight out.
pub type DequantizeFn = fn(&[u8], &mut [f32]);
/// One weight row against 4 activation rows (bit-identical to 4 [`VecDot`]s).
pub type VecDot4 = fn(&[u8], [&[u8]; 4]) -> [f32; 4];
/// `out[t * rows + r] = W[r] · act[t]` for `rows` weight rows of `rb` bytes
/// (`weights`) and `n` activation rows of `ab` bytes (`act`), lengths
/// checked by the caller: `(weights, rows, rb, act, ab, n, out)`, each
/// output bit-identical to a [`VecDot`].
pub type MatmulFn = fn(&[u8], usize, usize, &[u8], usize, usize, &mut [f32]);
/// `out[t * rows + r] = W[r] · x[t]` for float weights: `rows` rows of `rb`
/// bytes and `n` f32 inputs of `cols` values, lengths checked by the caller:
/// `(weights, rows, rb, x, cols, n, out)`. Not bit-identical to a
/// [`VecDot`]: f32 sums, held to a bound in the tests.
pub type FloatMatmulFn = fn(&[u8], usize, usize, &[f32], usize, usize, &mut [f32]);

/// A dot product of one weight row with one activation row.
#[derive(Clone, Copy)]
pub enum VecDot {
    /// Whole weight blocks with whole activation blocks (of [`TypeTraits::vec_dot_type`]).
    Quant(fn(&[u8], &[u8]) -> f32),
    /// A float weight row (raw little-endian bytes) with f32 activations.
    Float(fn(&[u8], &[f32]) -> f32),
}

/// One instruction set's fast paths for a type, each bit-identical to the
/// reference (the tests in `quant/tests` check every one). Only
/// [`TypeTraits::simd`] hands them out, after checking the CPU has the
/// instruction set, so the x86 entries may assume AVX2, FMA and F16C.
#[derive(Clone, Copy)]
pub struct Simd {
    pub quantize: Option<QuantizeFn>,
    pub dequantize: Option<DequantizeFn>,
    pub vec_dot: Option<VecDot>,
    pub vec_dot4: Option<VecDot4>,
    /// x86 only: eight weight rows per vector (`quant::x86::x8`, on AVX2,
    /// AVX-VNNI or AVX512-VNNI), for one token and prompts.
    pub rows8: bool,
    /// x86 only: the tiled prompt kernel (`quant::x86::gemm`; not
    /// bit-identical to the reference, held to a bound in the tests).
    pub gemm: bool,
    /// wasm only: several tokens per pass over the weights, for prompts
    /// and evaluation (`quant::wasm::batch`; bit-identical).
    pub matmul: Option<MatmulFn>,
    /// wasm only: the same for float weights (`quant::wasm::float`; f32
    /// sums, not bit-identical, held to a bound in the tests).
    pub fmatmul: Option<FloatMatmulFn>,
}

const NO_SIMD: Simd = Simd {
    quantize: None,
    dequantize: None,
    vec_dot: None,
    vec_dot4: None,
    rows8: false,
    gemm: false,
    matmul: None,
    fmatmul: None,
};

/// Everything about one ggml type.
pub struct TypeTraits {
    pub ty: GgmlType,
    /// The name ggml writes (`ggml_type_name`).
    pub name: &'static str,
    /// Values per block.
    pub block_size: usize,
    /// Bytes per block (`ggml_type_size`).
    pub type_size: usize,
    /// Offered as a quantization target in the CLI and the page (the
    /// table's order is the order they list them in).
    pub listed: bool,
    /// The reference quantizer without importance (`quantize_row_*_ref`).
    pub quantize: Option<QuantizeFn>,
    /// The reference quantizer with importance (`quantize_row_*_impl`);
    /// `None` where ggml's quantizer ignores an importance matrix.
    pub quantize_weighted: Option<QuantizeWeightedFn>,
    /// The reference dequantizer (`dequantize_row_*`).
    pub dequantize: Option<DequantizeFn>,
    /// The type activations are converted to before a dot product with
    /// weights of this type (`type_traits_cpu[ty].vec_dot_type`). F32, F16
    /// and BF16 weights take F32 activations (ggml rounds them to F16/BF16;
    /// webquant keeps f32); types without a dot product say F32 too, as
    /// ggml's zeroed entry does.
    pub vec_dot_type: GgmlType,
    /// The reference dot product (`ggml_vec_dot_*_generic`).
    pub vec_dot: Option<VecDot>,
    /// x86_64 AVX2 (and VNNI) fast paths.
    pub x86: Simd,
    /// x86_64 AVX-512 fast paths (F, BW, VL, VNNI and VBMI), taken before
    /// `x86`'s where the CPU has them: so far `vec_dot` only.
    pub avx512: Simd,
    /// wasm32 simd128 fast paths.
    pub wasm: Simd,
    /// Whether the GPU kernels read this type (its WGSL is
    /// `gpu/shaders/types/<name>.wgsl`).
    pub gpu: bool,
}

impl TypeTraits {
    /// This machine's fast paths for the type: x86 when the CPU has AVX2,
    /// simd128 in a wasm build with it, otherwise none.
    #[inline]
    pub fn simd(&'static self) -> &'static Simd {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2() {
            // The entries' requirement (AVX2, FMA and F16C) holds.
            return &self.x86;
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return &self.wasm;
        #[allow(unreachable_code)]
        &NO_SIMD
    }

    /// The fastest dot product for the type on this machine: AVX-512, then
    /// [`simd`](Self::simd)'s, then the reference.
    #[inline]
    pub fn fastest_vec_dot(&'static self) -> Option<VecDot> {
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = self.avx512.vec_dot.filter(|_| crate::cpu::has_avx512_kq()) {
            return Some(f);
        }
        self.simd().vec_dot.or(self.vec_dot)
    }
}

/// The row of `ty`.
#[inline]
pub fn traits(ty: GgmlType) -> &'static TypeTraits {
    &TABLE[INDEX[ty as usize] as usize]
}

/// Row index by type id (ids are small: `ggml.h`'s enum).
static INDEX: [u8; 64] = {
    let mut index = [0u8; 64];
    let mut i = 0;
    while i < TABLE.len() {
        index[TABLE[i].ty as usize] = i as u8;
        i += 1;
    }
    index
};

/// Every type webquant quantizes to, in the order the UI lists them.
pub fn listed() -> impl Iterator<Item = GgmlType> {
    TABLE.iter().filter(|t| t.listed).map(|t| t.ty)
}

/// The facts of a type's row, as methods of the type.
impl GgmlType {
    /// The name ggml writes (`ggml_type_name`).
    pub fn name(self) -> &'static str {
        traits(self).name
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

    /// Values per block.
    pub fn block_size(self) -> usize {
        traits(self).block_size
    }

    /// Bytes per block (`ggml_type_size`).
    pub fn type_size(self) -> usize {
        traits(self).type_size
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

/// View a row's bytes as blocks (alignment 1; callers checked the length).
#[inline(always)]
fn blocks<B: bytemuck::Pod>(y: &mut [u8]) -> &mut [B] {
    bytemuck::try_cast_slice_mut(y).unwrap_or_default()
}

/// A typed-block quantizer as a [`QuantizeFn`].
macro_rules! q {
    ($f:path) => {
        Some(|x: &[f32], y: &mut [u8]| $f(x, blocks(y)))
    };
}
/// A typed-block importance quantizer as a [`QuantizeWeightedFn`].
macro_rules! qw {
    ($f:path) => {
        Some(|x: &[f32], y: &mut [u8], w: &[f32]| $f(x, blocks(y), w))
    };
}

// The x86 entries call `#[target_feature]` functions; `TypeTraits::simd`
// hands the x86 column out only where AVX2, FMA and F16C were detected.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_q {
    ($f:ident) => {
        // SAFETY: see above.
        Some(|x: &[f32], y: &mut [u8]| unsafe { crate::quant::x86::quantize::$f(x, blocks(y)) })
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! x86_dq {
    ($f:ident) => {
        // SAFETY: see above.
        Some(|x: &[u8], y: &mut [f32]| unsafe { crate::quant::x86::dequantize::$f(x, y) })
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! x86_dot {
    ($f:ident) => {
        // SAFETY: see above.
        Some(VecDot::Quant(|x: &[u8], y: &[u8]| unsafe {
            crate::quant::x86::dot::$f(x, y)
        }))
    };
    (float $f:ident) => {
        // SAFETY: see above.
        Some(VecDot::Float(|x: &[u8], y: &[f32]| unsafe {
            crate::quant::x86::dot::$f(x, y)
        }))
    };
}
// `TypeTraits::fastest_vec_dot` hands these out only where
// `cpu::has_avx512_kq` holds.
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_dot {
    ($f:ident) => {
        // SAFETY: see above.
        Some(VecDot::Quant(|x: &[u8], y: &[u8]| unsafe {
            crate::quant::x86::avx512::$f(x, y)
        }))
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! x86_dot4 {
    ($f:ident) => {
        // SAFETY: see above.
        Some(|x: &[u8], y: [&[u8]; 4]| unsafe { crate::quant::x86::dot::$f(x, y) })
    };
}
#[cfg(not(target_arch = "x86_64"))]
macro_rules! x86_q {
    ($($t:tt)*) => {
        None
    };
}
#[cfg(not(target_arch = "x86_64"))]
use x86_q as x86_dq;
#[cfg(not(target_arch = "x86_64"))]
use x86_q as x86_dot;
#[cfg(not(target_arch = "x86_64"))]
use x86_q as x86_dot4;
#[cfg(not(target_arch = "x86_64"))]
use x86_q as avx512_dot;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
macro_rules! wasm_q {
    ($m:ident :: $f:ident) => {
        Some(|x: &[f32], y: &mut [u8]| crate::quant::wasm::$m::$f(x, blocks(y)))
    };
    (bytes $m:ident :: $f:ident) => {
        Some(crate::quant::wasm::$m::$f)
    };
}
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
macro_rules! wasm_dq {
    ($f:ident) => {
        Some(crate::quant::wasm::dequantize::$f)
    };
}
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
macro_rules! wasm_dot {
    ($f:ident) => {
        Some(VecDot::Quant(crate::quant::wasm::dot::$f))
    };
    (float $f:ident) => {
        Some(VecDot::Float(crate::quant::wasm::dot::$f))
    };
}
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
macro_rules! wasm_matmul {
    ($f:ident) => {
        Some(crate::quant::wasm::batch::$f)
    };
    (float $f:ident) => {
        Some(crate::quant::wasm::float::$f)
    };
}
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
macro_rules! wasm_q {
    ($($t:tt)*) => {
        None
    };
}
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use wasm_q as wasm_dq;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use wasm_q as wasm_dot;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use wasm_q as wasm_matmul;

use GgmlType::*;

/// A row with nothing but its sizes; the rows below fill in the rest.
const fn base(ty: GgmlType, name: &'static str, block_size: usize, type_size: usize) -> TypeTraits {
    TypeTraits {
        ty,
        name,
        block_size,
        type_size,
        listed: false,
        quantize: None,
        quantize_weighted: None,
        dequantize: None,
        vec_dot_type: F32,
        vec_dot: None,
        x86: NO_SIMD,
        avx512: NO_SIMD,
        wasm: NO_SIMD,
        gpu: false,
    }
}

/// The table, in the order the UI lists the quantization targets.
pub static TABLE: [TypeTraits; 23] = [
    TypeTraits {
        listed: true,
        quantize: Some(r::quantize_row_f32_ref),
        dequantize: Some(r::dequantize_row_f32),
        vec_dot: Some(VecDot::Float(r::vec_dot_f32)),
        x86: Simd {
            vec_dot: x86_dot!(float vec_dot_f32),
            ..NO_SIMD
        },
        wasm: Simd {
            vec_dot: wasm_dot!(float vec_dot_f32),
            fmatmul: wasm_matmul!(float matmul_f32),
            ..NO_SIMD
        },
        gpu: true,
        ..base(F32, "f32", 1, 4)
    },
    TypeTraits {
        listed: true,
        quantize: Some(r::quantize_row_f16_ref),
        dequantize: Some(r::dequantize_row_f16),
        vec_dot: Some(VecDot::Float(r::vec_dot_f16)),
        x86: Simd {
            dequantize: x86_dq!(dequantize_row_f16),
            vec_dot: x86_dot!(float vec_dot_f16),
            ..NO_SIMD
        },
        wasm: Simd {
            dequantize: wasm_dq!(dequantize_row_f16),
            vec_dot: wasm_dot!(float vec_dot_f16),
            fmatmul: wasm_matmul!(float matmul_f16),
            ..NO_SIMD
        },
        gpu: true,
        ..base(F16, "f16", 1, 2)
    },
    TypeTraits {
        listed: true,
        quantize: Some(r::quantize_row_bf16_ref),
        dequantize: Some(r::dequantize_row_bf16),
        vec_dot: Some(VecDot::Float(r::vec_dot_bf16)),
        wasm: Simd {
            quantize: wasm_q!(bytes quantize::quantize_row_bf16),
            dequantize: wasm_dq!(dequantize_row_bf16),
            vec_dot: wasm_dot!(float vec_dot_bf16),
            fmatmul: wasm_matmul!(float matmul_bf16),
            ..NO_SIMD
        },
        ..base(BF16, "bf16", 1, 2)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q8_0_ref),
        dequantize: Some(r::dequantize_row_q8_0),
        vec_dot_type: Q8_0,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q8_0_q8_0)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q8_0),
            dequantize: x86_dq!(dequantize_row_q8_0),
            vec_dot: x86_dot!(vec_dot_q8_0_q8_0),
            vec_dot4: x86_dot4!(vec_dot4_q8_0_q8_0),
            rows8: true,
            gemm: true,
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_q8_0),
            dequantize: wasm_dq!(dequantize_row_q8_0),
            vec_dot: wasm_dot!(vec_dot_q8_0_q8_0),
            matmul: wasm_matmul!(matmul_q8_0_q8_0),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q8_0, "q8_0", 32, 34)
    },
    TypeTraits {
        listed: true,
        quantize: Some(|x, y| r::quantize_row_q6_k_impl(x, blocks(y), None)),
        quantize_weighted: Some(|x, y, w| r::quantize_row_q6_k_impl(x, blocks(y), Some(w))),
        dequantize: Some(r::dequantize_row_q6_k),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q6_k_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q6_k),
            dequantize: x86_dq!(dequantize_row_q6_k),
            vec_dot: x86_dot!(vec_dot_q6_k_q8_k),
            gemm: true,
            ..NO_SIMD
        },
        avx512: Simd {
            vec_dot: avx512_dot!(vec_dot_q6_k_q8_k),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(kquants::quantize_row_q6_k),
            dequantize: wasm_dq!(dequantize_row_q6_k),
            vec_dot: wasm_dot!(vec_dot_q6_k_q8_k),
            matmul: wasm_matmul!(matmul_q6_k_q8_k),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q6K, "q6_K", QK_K, 210)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q5_k_ref),
        quantize_weighted: qw!(r::quantize_row_q5_k_impl),
        dequantize: Some(r::dequantize_row_q5_k),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q5_k_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q5_k),
            dequantize: x86_dq!(dequantize_row_q5_k),
            vec_dot: x86_dot!(vec_dot_q5_k_q8_k),
            gemm: true,
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(kquants::quantize_row_q5_k),
            dequantize: wasm_dq!(dequantize_row_q5_k),
            vec_dot: wasm_dot!(vec_dot_q5_k_q8_k),
            matmul: wasm_matmul!(matmul_q5_k_q8_k),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q5K, "q5_K", QK_K, 176)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q5_1_ref),
        quantize_weighted: qw!(r::quantize_row_q5_1_impl),
        dequantize: Some(r::dequantize_row_q5_1),
        vec_dot_type: Q8_1,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q5_1_q8_1)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q5_1),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_q5_1),
            vec_dot: wasm_dot!(vec_dot_q5_1_q8_1),
            matmul: wasm_matmul!(matmul_q5_1_q8_1),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q5_1, "q5_1", 32, 24)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q5_0_ref),
        quantize_weighted: qw!(r::quantize_row_q5_0_impl),
        dequantize: Some(r::dequantize_row_q5_0),
        vec_dot_type: Q8_0,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q5_0_q8_0)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q5_0),
            vec_dot: x86_dot!(vec_dot_q5_0_q8_0),
            vec_dot4: x86_dot4!(vec_dot4_q5_0_q8_0),
            rows8: true,
            gemm: true,
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_q5_0),
            vec_dot: wasm_dot!(vec_dot_q5_0_q8_0),
            matmul: wasm_matmul!(matmul_q5_0_q8_0),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q5_0, "q5_0", 32, 22)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q4_k_ref),
        quantize_weighted: qw!(r::quantize_row_q4_k_impl),
        dequantize: Some(r::dequantize_row_q4_k),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q4_k_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q4_k),
            dequantize: x86_dq!(dequantize_row_q4_k),
            vec_dot: x86_dot!(vec_dot_q4_k_q8_k),
            gemm: true,
            ..NO_SIMD
        },
        avx512: Simd {
            vec_dot: avx512_dot!(vec_dot_q4_k_q8_k),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(kquants::quantize_row_q4_k),
            dequantize: wasm_dq!(dequantize_row_q4_k),
            vec_dot: wasm_dot!(vec_dot_q4_k_q8_k),
            matmul: wasm_matmul!(matmul_q4_k_q8_k),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q4K, "q4_K", QK_K, 144)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q4_1_ref),
        quantize_weighted: qw!(r::quantize_row_q4_1_impl),
        dequantize: Some(r::dequantize_row_q4_1),
        vec_dot_type: Q8_1,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q4_1_q8_1)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q4_1),
            dequantize: x86_dq!(dequantize_row_q4_1),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_q4_1),
            dequantize: wasm_dq!(dequantize_row_q4_1),
            vec_dot: wasm_dot!(vec_dot_q4_1_q8_1),
            matmul: wasm_matmul!(matmul_q4_1_q8_1),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q4_1, "q4_1", 32, 20)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q4_0_ref),
        quantize_weighted: qw!(r::quantize_row_q4_0_impl),
        dequantize: Some(r::dequantize_row_q4_0),
        vec_dot_type: Q8_0,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q4_0_q8_0)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q4_0),
            dequantize: x86_dq!(dequantize_row_q4_0),
            vec_dot: x86_dot!(vec_dot_q4_0_q8_0),
            vec_dot4: x86_dot4!(vec_dot4_q4_0_q8_0),
            rows8: true,
            gemm: true,
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_q4_0),
            dequantize: wasm_dq!(dequantize_row_q4_0),
            vec_dot: wasm_dot!(vec_dot_q4_0_q8_0),
            matmul: wasm_matmul!(matmul_q4_0_q8_0),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q4_0, "q4_0", 32, 18)
    },
    TypeTraits {
        listed: true,
        quantize: Some(|x, y| r::quantize_iq4_nl(x, blocks(y), None)),
        quantize_weighted: Some(|x, y, w| r::quantize_iq4_nl(x, blocks(y), Some(w))),
        dequantize: Some(r::dequantize_row_iq4_nl),
        vec_dot_type: Q8_0,
        vec_dot: Some(VecDot::Quant(r::vec_dot_iq4_nl_q8_0)),
        x86: Simd {
            quantize: x86_q!(quantize_iq4_nl),
            dequantize: x86_dq!(dequantize_row_iq4_nl),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(kquants::quantize_iq4_nl),
            dequantize: wasm_dq!(dequantize_row_iq4_nl),
            ..NO_SIMD
        },
        ..base(IQ4NL, "iq4_nl", 32, 18)
    },
    TypeTraits {
        listed: true,
        quantize: Some(|x, y| r::quantize_iq4_xs(x, blocks(y), None)),
        quantize_weighted: Some(|x, y, w| r::quantize_iq4_xs(x, blocks(y), Some(w))),
        dequantize: Some(r::dequantize_row_iq4_xs),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_iq4_xs_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_iq4_xs),
            dequantize: x86_dq!(dequantize_row_iq4_xs),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(kquants::quantize_iq4_xs),
            dequantize: wasm_dq!(dequantize_row_iq4_xs),
            ..NO_SIMD
        },
        ..base(IQ4XS, "iq4_xs", QK_K, 136)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_mxfp4_ref),
        dequantize: Some(r::dequantize_row_mxfp4),
        vec_dot_type: Q8_0,
        vec_dot: Some(VecDot::Quant(r::vec_dot_mxfp4_q8_0)),
        x86: Simd {
            dequantize: x86_dq!(dequantize_row_mxfp4),
            ..NO_SIMD
        },
        wasm: Simd {
            dequantize: wasm_dq!(dequantize_row_mxfp4),
            ..NO_SIMD
        },
        ..base(MXFP4, "mxfp4", 32, 17)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q3_k_ref),
        quantize_weighted: qw!(r::quantize_row_q3_k_impl),
        dequantize: Some(r::dequantize_row_q3_k),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q3_k_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q3_k),
            dequantize: x86_dq!(dequantize_row_q3_k),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(kquants::quantize_row_q3_k),
            dequantize: wasm_dq!(dequantize_row_q3_k),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q3K, "q3_K", QK_K, 110)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_q2_k_ref),
        quantize_weighted: qw!(r::quantize_row_q2_k_impl),
        dequantize: Some(r::dequantize_row_q2_k),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_q2_k_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_row_q2_k),
            dequantize: x86_dq!(dequantize_row_q2_k),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(kquants::quantize_row_q2_k),
            dequantize: wasm_dq!(dequantize_row_q2_k),
            ..NO_SIMD
        },
        gpu: true,
        ..base(Q2K, "q2_K", QK_K, 84)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_tq2_0_ref),
        dequantize: Some(r::dequantize_row_tq2_0),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_tq2_0_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_row_tq2_0),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_tq2_0),
            ..NO_SIMD
        },
        ..base(TQ2_0, "tq2_0", QK_K, 66)
    },
    TypeTraits {
        listed: true,
        quantize: q!(r::quantize_row_tq1_0_ref),
        dequantize: Some(r::dequantize_row_tq1_0),
        vec_dot_type: Q8K,
        vec_dot: Some(VecDot::Quant(r::vec_dot_tq1_0_q8_k)),
        x86: Simd {
            quantize: x86_q!(quantize_row_tq1_0),
            dequantize: x86_dq!(dequantize_row_tq1_0),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_tq1_0),
            dequantize: wasm_dq!(dequantize_row_tq1_0),
            ..NO_SIMD
        },
        ..base(TQ1_0, "tq1_0", QK_K, 54)
    },
    // Activation types: quantized to, not offered as targets.
    TypeTraits {
        quantize: q!(r::quantize_row_q8_1_ref),
        dequantize: Some(r::dequantize_row_q8_1),
        ..base(Q8_1, "q8_1", 32, 36)
    },
    TypeTraits {
        quantize: q!(r::quantize_row_q8_k_ref),
        dequantize: Some(r::dequantize_row_q8_k),
        x86: Simd {
            quantize: x86_q!(quantize_row_q8_k),
            ..NO_SIMD
        },
        wasm: Simd {
            quantize: wasm_q!(quantize::quantize_row_q8_k),
            ..NO_SIMD
        },
        ..base(Q8K, "q8_K", QK_K, 292)
    },
    // Integer types: stored and read, never quantized or multiplied.
    base(I8, "i8", 1, 1),
    base(I16, "i16", 1, 2),
    base(I32, "i32", 1, 4),
];

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn names_round_trip_case_insensitively() {
        for t in GgmlType::ALL {
            assert_eq!(GgmlType::from_name(t.name()).unwrap(), t);
            assert_eq!(GgmlType::from_name(&t.name().to_uppercase()).unwrap(), t);
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

    #[test]
    fn every_type_has_exactly_one_row() {
        for ty in GgmlType::ALL {
            assert_eq!(TABLE.iter().filter(|t| t.ty == ty).count(), 1, "{ty:?}");
            assert_eq!(traits(ty).ty, ty);
        }
        assert_eq!(TABLE.len(), GgmlType::ALL.len());
    }

    #[test]
    fn rows_are_consistent() {
        for t in &TABLE {
            // A dot product needs a way to prepare its activations.
            if let Some(VecDot::Quant(_)) = t.vec_dot {
                assert!(traits(t.vec_dot_type).quantize.is_some(), "{}", t.name);
                assert_eq!(t.block_size % traits(t.vec_dot_type).block_size, 0);
            }
            // No fast path without the reference it is tested against.
            for s in [&t.x86, &t.wasm] {
                assert!(s.quantize.is_none() || t.quantize.is_some(), "{}", t.name);
                assert!(
                    s.dequantize.is_none() || t.dequantize.is_some(),
                    "{}",
                    t.name
                );
                assert!(s.vec_dot.is_none() || t.vec_dot.is_some(), "{}", t.name);
                assert!(s.vec_dot4.is_none() || s.vec_dot.is_some(), "{}", t.name);
                assert!(s.matmul.is_none() || s.vec_dot.is_some(), "{}", t.name);
            }
            assert!(!t.listed || t.quantize.is_some(), "{}", t.name);
        }
    }
}
