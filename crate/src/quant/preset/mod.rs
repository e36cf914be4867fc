//! llama.cpp's quantization presets ("Q4_K_M", ...): which ggml type each
//! tensor of a model gets.
//!
//! A port of the per-tensor rules in `src/llama-quant.cpp` of the llama.cpp
//! that PyPI `llama-cpp-python==0.3.36` vendors, so that a file webquant
//! writes for a preset has the same tensor types as `llama-quantize` would
//! give it. The functions below keep llama.cpp's names (`tensor_type_fallback`,
//! `llama_tensor_get_type_impl`, ...) in comments so that each branch can be
//! found in the original.
//!
//! What is ported:
//! - `tensor_allows_quantization` (which tensors stay as they are: fewer than
//!   2 dims, norms, names not ending in "weight", expert gates, ...);
//! - `llama_tensor_get_type_impl` for the presets in [`Preset`], including
//!   the counters (`i_attention_wv`, `i_ffn_down`, ...) that advance in
//!   llama.cpp's tensor order (see [`llama_tensor_order`]), `use_more_bits`,
//!   the output / tied token_embd rule, the 70B and 8-expert bumps, and the
//!   Falcon and glm5-next branches (they only test the architecture name);
//! - `tensor_type_fallback` (a row length the block size does not divide);
//! - `--pure` ([`Preset::Pure`]).
//!
//! With an importance matrix ([`ModelShape::has_imatrix`]) the one rule it
//! changes for these presets applies (Q4_0 / Q5_0 ffn_down). What is not
//! ported: the IQ*,
//! TQ*, Q2_K_S and MXFP4_MOE presets (their branches cannot fire for the
//! presets here), `--tensor-type` / `--output-tensor-type` /
//! `--token-embedding-type` overrides and `--leave-output-tensor`.
//!
//! This file holds the presets and the types the rules read and return;
//! `rules.rs` the port of the rules and [`plan`]; `tests.rs` the tests
//! against llama-quantize's output.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::quant::types::GgmlType;

mod rules;
#[cfg(test)]
mod tests;

pub use rules::{llama_tensor_order, plan};

/// A llama-quantize preset (`llama_ftype`), or `--pure` with one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    Q2K,
    Q3KS,
    Q3KM,
    Q3KL,
    Q4KS,
    Q4KM,
    Q5KS,
    Q5KM,
    Q6K,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    /// llama-quantize `--pure`: this type for every quantizable tensor, no
    /// mixture rules; a row length the block size does not divide still falls
    /// back (`tensor_type_fallback`). Must be a type some `llama_ftype`
    /// defaults to (not Q8_1, Q8_K or the integer types).
    Pure(GgmlType),
}

impl Preset {
    /// The named presets, in llama-quantize's `QUANT_OPTIONS` order.
    pub const ALL: [Preset; 14] = [
        Preset::Q4_0,
        Preset::Q4_1,
        Preset::Q5_0,
        Preset::Q5_1,
        Preset::Q2K,
        Preset::Q3KS,
        Preset::Q3KM,
        Preset::Q3KL,
        Preset::Q4KS,
        Preset::Q4KM,
        Preset::Q5KS,
        Preset::Q5KM,
        Preset::Q6K,
        Preset::Q8_0,
    ];

    /// The name llama-quantize takes ("Q4_K_M"); `pure:<type>` for [`Preset::Pure`].
    pub fn name(self) -> String {
        let s = match self {
            Preset::Q2K => "Q2_K",
            Preset::Q3KS => "Q3_K_S",
            Preset::Q3KM => "Q3_K_M",
            Preset::Q3KL => "Q3_K_L",
            Preset::Q4KS => "Q4_K_S",
            Preset::Q4KM => "Q4_K_M",
            Preset::Q5KS => "Q5_K_S",
            Preset::Q5KM => "Q5_K_M",
            Preset::Q6K => "Q6_K",
            Preset::Q4_0 => "Q4_0",
            Preset::Q4_1 => "Q4_1",
            Preset::Q5_0 => "Q5_0",
            Preset::Q5_1 => "Q5_1",
            Preset::Q8_0 => "Q8_0",
            Preset::Pure(t) => return format!("pure:{}", t.name()),
        };
        s.to_string()
    }

    /// Parse a preset name case-insensitively, as llama-quantize does
    /// ("Q4_K_M", "q4_k_m"; its aliases "Q3_K", "Q4_K", "Q5_K" are the _M
    /// presets), or `pure:<ggml type>` ("pure:q4_K").
    pub fn from_name(name: &str) -> Result<Self> {
        let trimmed = name.trim();
        let upper = trimmed.to_ascii_uppercase();
        if let Some(ty) = upper.strip_prefix("PURE:") {
            let t = GgmlType::from_name(ty)?;
            pure_ftype(t).ok_or_else(|| {
                Error::invalid(format!(
                    "{name:?}: no llama.cpp file type quantizes to {}",
                    t.name()
                ))
            })?;
            return Ok(Preset::Pure(t));
        }
        let p = match upper.as_str() {
            "Q2_K" => Preset::Q2K,
            "Q3_K_S" => Preset::Q3KS,
            "Q3_K_M" | "Q3_K" => Preset::Q3KM,
            "Q3_K_L" => Preset::Q3KL,
            "Q4_K_S" => Preset::Q4KS,
            "Q4_K_M" | "Q4_K" => Preset::Q4KM,
            "Q5_K_S" => Preset::Q5KS,
            "Q5_K_M" | "Q5_K" => Preset::Q5KM,
            "Q6_K" => Preset::Q6K,
            "Q4_0" => Preset::Q4_0,
            "Q4_1" => Preset::Q4_1,
            "Q5_0" => Preset::Q5_0,
            "Q5_1" => Preset::Q5_1,
            "Q8_0" => Preset::Q8_0,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown quantization preset {name:?}: expected one of Q2_K, Q3_K_S, \
                     Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, Q4_0, Q4_1, Q5_0, \
                     Q5_1, Q8_0 or pure:<ggml type>"
                )))
            }
        };
        Ok(p)
    }

    /// What a user's `--type` means: a preset name, or a ggml type. A type
    /// some preset defaults to means that preset (as llama-quantize's `Q4_K`
    /// means Q4_K_M); with `pure`, or for a type no preset mixes (iq4_nl,
    /// tq1_0, ...), every quantizable tensor gets the type.
    pub fn from_type_arg(name: &str, pure: bool) -> Result<Self> {
        if let Ok(p) = Preset::from_name(name) {
            return Ok(if pure {
                Preset::Pure(p.default_type())
            } else {
                p
            });
        }
        let ty = GgmlType::from_name(name).map_err(|_| {
            Error::invalid(format!(
                "unknown quantization type {name:?}: expected a llama.cpp preset (Q2_K, Q3_K_S, \
                 Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, \
                 Q8_0) or a ggml type name (q4_K, iq4_nl, ...)"
            ))
        })?;
        Preset::from_name(&format!("pure:{}", ty.name()))
    }

    /// The type most tensors get (`llama_ftype_get_default_type`).
    pub fn default_type(self) -> GgmlType {
        match self {
            Preset::Q2K => GgmlType::Q2K,
            Preset::Q3KS | Preset::Q3KM | Preset::Q3KL => GgmlType::Q3K,
            Preset::Q4KS | Preset::Q4KM => GgmlType::Q4K,
            Preset::Q5KS | Preset::Q5KM => GgmlType::Q5K,
            Preset::Q6K => GgmlType::Q6K,
            Preset::Q4_0 => GgmlType::Q4_0,
            Preset::Q4_1 => GgmlType::Q4_1,
            Preset::Q5_0 => GgmlType::Q5_0,
            Preset::Q5_1 => GgmlType::Q5_1,
            Preset::Q8_0 => GgmlType::Q8_0,
            Preset::Pure(t) => t,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Preset::from_name(s)
    }
}

/// `llama_ftype` for a `--pure` type: the value llama.cpp's loader guesses
/// from a file whose tensors are mostly that type (`llama_model_loader`'s
/// `type_max` switch), plus MXFP4 → MXFP4_MOE, the only ftype defaulting to
/// it. `--pure Q4_K_S` and `--pure Q4_K_M` give the same tensors and differ
/// only in this number; the guess picks the _M one.
fn pure_ftype(t: GgmlType) -> Option<u32> {
    use GgmlType::*;
    Some(match t {
        F32 => 0,
        F16 => 1,
        Q4_0 => 2,
        Q4_1 => 3,
        Q8_0 => 7,
        Q5_0 => 8,
        Q5_1 => 9,
        Q2K => 10,
        Q3K => 12,
        Q4K => 15,
        Q5K => 17,
        Q6K => 18,
        IQ4NL => 25,
        IQ4XS => 30,
        BF16 => 32,
        TQ1_0 => 36,
        TQ2_0 => 37,
        MXFP4 => 38,
        Q8_1 | Q8K | I8 | I16 | I32 => return None,
    })
}

/// The `general.file_type` (`llama_ftype`) llama-quantize writes for a preset.
/// For a [`Preset::Pure`] type that no ftype produces (which [`plan`] rejects)
/// this is 0, `LLAMA_FTYPE_ALL_F32`, llama.cpp's own guess for unknown types.
pub fn file_type(preset: Preset) -> u32 {
    match preset {
        Preset::Q4_0 => 2,
        Preset::Q4_1 => 3,
        Preset::Q8_0 => 7,
        Preset::Q5_0 => 8,
        Preset::Q5_1 => 9,
        Preset::Q2K => 10,
        Preset::Q3KS => 11,
        Preset::Q3KM => 12,
        Preset::Q3KL => 13,
        Preset::Q4KS => 14,
        Preset::Q4KM => 15,
        Preset::Q5KS => 16,
        Preset::Q5KM => 17,
        Preset::Q6K => 18,
        Preset::Pure(t) => pure_ftype(t).unwrap_or(0),
    }
}

/// The hyperparameters the rules look at (`llama_hparams`, `llm_arch`, `llm_type`).
///
/// Whether the embeddings are tied is not a field: as in llama.cpp
/// (`has_tied_embeddings`) it follows from the tensor list having no
/// `output.weight`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelShape {
    /// `general.architecture` ("llama"). Only "falcon", "glm5-next" and the
    /// 70B detection (llama, llama-embed, deci, olmo, qwen2, jais2) change
    /// the rules; every other name gets the llama rules, which is what
    /// llama.cpp applies to them too except for its MXFP4_MOE preset.
    pub arch: String,
    /// `{arch}.block_count` (`n_layer_all`): the count the `i_ffn_*` counters run against.
    pub n_layer: u32,
    /// `{arch}.attention.head_count` (of layer 0 when it is an array).
    pub n_head: u32,
    /// `{arch}.attention.head_count_kv` (of layer 0); llama.cpp uses n_head when absent.
    pub n_head_kv: u32,
    /// `{arch}.expert_count`, 0 for a dense model.
    pub n_expert: u32,
    /// An importance matrix is given (`qs.has_imatrix`): Q4_0 / Q5_0 then
    /// protect the first ffn_down layers.
    pub has_imatrix: bool,
}

impl ModelShape {
    /// A llama-architecture dense model.
    pub fn llama(n_layer: u32, n_head: u32, n_head_kv: u32) -> Self {
        ModelShape {
            arch: "llama".to_string(),
            n_layer,
            n_head,
            n_head_kv,
            n_expert: 0,
            has_imatrix: false,
        }
    }

    /// `llama_hparams::n_gqa()`: query heads per KV head, 0 without KV heads.
    fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    /// `model.type == LLM_TYPE_70B`, as each architecture's `load_arch_hparams` sets it.
    fn is_70b(&self) -> bool {
        match self.arch.as_str() {
            // models/llama.cpp: 8-expert models get 8x7B / 8x22B, 80 layers
            // with as many KV heads as heads is 65B
            "llama" | "llama-embed" => {
                self.n_expert != 8 && self.n_layer == 80 && self.n_head != self.n_head_kv
            }
            "deci" | "olmo" | "qwen2" => self.n_layer == 80,
            "jais2" => self.n_layer == 68,
            _ => false,
        }
    }

    fn is_falcon(&self) -> bool {
        self.arch == "falcon"
    }

    fn is_glm5_next(&self) -> bool {
        self.arch == "glm5-next"
    }
}

/// One tensor of the input model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorDesc<'a> {
    pub name: &'a str,
    /// Dimensions in ggml order: `dims[0]` (ne[0]) is the row length. 1 to 4 of them.
    pub dims: &'a [u64],
    /// The type the tensor has now: the one it keeps when it is not quantized.
    pub ty: GgmlType,
}

/// The type chosen for one tensor, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The type to store the tensor as (the tensor's own type when it is not quantized).
    pub target: GgmlType,
    /// The type the rules picked when its block size does not divide the row
    /// length and `tensor_type_fallback` replaced it with `target`.
    pub fallback_from: Option<GgmlType>,
    /// Which rule decided, in llama.cpp's terms.
    pub reason: &'static str,
}
