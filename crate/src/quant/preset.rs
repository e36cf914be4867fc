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

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::quant::types::GgmlType;

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

// `enum class tensor_category`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttentionQ,
    AttentionV,
    AttentionK,
    AttentionQkv,
    AttentionKvB,
    AttentionOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

// `tensor_name_match_token_embd`
fn is_token_embd(name: &str) -> bool {
    name == "token_embd.weight" || name == "per_layer_token_embd.weight"
}

// `tensor_get_category`: broad categories by substring, first match wins.
fn category(name: &str) -> Category {
    if name == "output.weight" {
        return Category::Output;
    }
    if is_token_embd(name) {
        return Category::TokenEmbd;
    }
    const SUBSTRINGS: [(&str, Category); 9] = [
        ("attn_qkv.weight", Category::AttentionQkv),
        ("attn_kv_b.weight", Category::AttentionKvB),
        ("attn_v.weight", Category::AttentionV),
        ("attn_k.weight", Category::AttentionK),
        ("attn_q.weight", Category::AttentionQ),
        ("attn_output.weight", Category::AttentionOutput),
        ("ffn_up", Category::FfnUp),
        ("ffn_gate", Category::FfnGate),
        ("ffn_down", Category::FfnDown),
    ];
    SUBSTRINGS
        .iter()
        .find(|(s, _)| name.contains(s))
        .map_or(Category::Other, |&(_, c)| c)
}

// `category_is_attn_v`: attention-v-like tensors, more sensitive to quantization.
fn is_attn_v_like(c: Category) -> bool {
    matches!(
        c,
        Category::AttentionV | Category::AttentionQkv | Category::AttentionKvB
    )
}

/// `ggml_n_dims`: dimensions up to the last one that is not 1 (at least 1).
fn n_dims(dims: &[u64]) -> usize {
    dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1)
}

/// `tensor_allows_quantization`: `None` if the tensor may be quantized,
/// otherwise why it stays as it is.
fn not_quantized_reason(shape: &ModelShape, t: &TensorDesc) -> Option<&'static str> {
    // quantize only 2D and 3D tensors (experts)
    if n_dims(t.dims) < 2 {
        return Some("kept: fewer than 2 dims");
    }
    let name = t.name;
    if !name.ends_with("weight") {
        return Some("kept: name does not end in \"weight\"");
    }
    // llama.cpp tests `name.find(s) != npos` for each of these in turn; the
    // first match names the reason. `position_embd.weight` and
    // `token_types.weight` are LLM_TN(arch)(POS_EMBD / TOKEN_TYPES), the same
    // names for every architecture.
    const EXACT: [(&str, &str); 2] = [
        ("position_embd.weight", "kept: positional embeddings"),
        ("token_types.weight", "kept: token types"),
    ];
    const CONTAINS: [(&str, &str); 35] = [
        ("_norm.weight", "kept: norm"),
        ("ffn_gate_inp.weight", "kept: expert gating"),
        ("ffn_gate_tid2eid.weight", "kept: expert routing table"),
        ("altup", "kept: altup (tiny)"),
        ("laurel", "kept: laurel (tiny)"),
        ("per_layer_model_proj", "kept: per_layer_model_proj"),
        ("ssm_conv1d", "kept: conv1d"),
        ("shortconv.conv.weight", "kept: conv1d"),
        ("indexer.k_proj.weight", "kept: indexer projection (tiny)"),
        ("indexer.q_proj.weight", "kept: indexer projection (tiny)"),
        ("time_mix_first.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_w0.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_w1.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_w2.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_v0.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_v1.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_v2.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_a0.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_a1.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_a2.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_g1.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_g2.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_decay_w1.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_decay_w2.weight", "kept: RWKV small 2-D weight"),
        ("time_mix_lerp_fused.weight", "kept: RWKV small 2-D weight"),
        ("attn_rel_b.weight", "kept: relative position bias"),
        (".position_embd", "kept: multimodal positional embedding"),
        ("sam.pos_embd", "kept: multimodal tensor"),
        ("sam.neck.", "kept: multimodal tensor"),
        ("sam.net_", "kept: multimodal tensor"),
        (".rel_pos", "kept: multimodal tensor"),
        (".patch_embd", "kept: multimodal tensor"),
        (".patch_merger", "kept: multimodal tensor"),
        ("a.rvq.codebook", "kept: audio codebook"),
        ("mm.a.code_embd", "kept: audio codebook"),
    ];
    // glm5-next only
    const GLM5_NEXT: [&str; 14] = [
        "hc_",
        "indexer.attn_q_b",
        "indexer.attn_k",
        "indexer.proj",
        "indexer_compressor_gate",
        "indexer_compressor_ape",
        "ssm_f_a.weight",
        "ssm_f_b.weight",
        "ssm_g_a.weight",
        "ssm_g_b.weight",
        "ssm_beta.weight",
        "attn_kv_a_mqa.weight",
        "attn_k_b.weight",
        "attn_v_b.weight",
    ];
    if let Some(&(_, why)) = EXACT.iter().find(|(s, _)| name == *s) {
        return Some(why);
    }
    if let Some(&(_, why)) = CONTAINS.iter().find(|(s, _)| name.contains(s)) {
        return Some(why);
    }
    if shape.is_glm5_next() && GLM5_NEXT.iter().any(|s| name.contains(s)) {
        return Some("kept: glm5-next small tensor");
    }
    None
}

/// `sscanf(name, "blk.%d.", &layer)`: the layer number, or `None` when the
/// conversion fails. Like `%d` it skips leading white space and takes a sign;
/// the trailing "." is not needed for the conversion to count.
fn scan_layer(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("blk.")?;
    // C's isspace: also \v, which char::is_ascii_whitespace leaves out
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0B', '\x0C', '\r']);
    let (neg, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    // saturate where C would overflow; no real model has such layer numbers
    let v = digits[..end].bytes().fold(0i64, |acc, b| {
        (acc * 10 + i64::from(b - b'0')).min(i64::from(i32::MAX) + 1)
    });
    let v = if neg { -v } else { v };
    Some(v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

/// The order llama.cpp visits (and writes) tensors in: its loader keeps them
/// in a `std::map` ordered by `weight_name_comparer`, i.e. by layer number
/// (`blk.N.`; -1 for tensors outside the layers) and then by name. The
/// counters in [`plan`] advance in this order, not in file order. Returns
/// indices into `tensors`.
pub fn llama_tensor_order(tensors: &[TensorDesc]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..tensors.len()).collect();
    let layer = |i: usize| scan_layer(tensors[i].name).unwrap_or(-1);
    idx.sort_by(|&a, &b| match layer(a).cmp(&layer(b)) {
        Ordering::Equal => tensors[a].name.as_bytes().cmp(tensors[b].name.as_bytes()),
        o => o,
    });
    idx
}

/// `tensor_type_fallback`: a type whose block size divides the row length
/// `ncols`, and whether it differs from `target`.
fn tensor_type_fallback(ncols: u64, target: GgmlType) -> Result<(GgmlType, Option<GgmlType>)> {
    use GgmlType::*;
    let qk = target.block_size() as u64;
    if ncols.is_multiple_of(qk) {
        return Ok((target, None));
    }
    let mut ret = match target {
        // IQ1_S .. IQ3_S (not in GgmlType) and IQ4_XS -> IQ4_NL
        IQ4XS => IQ4NL,
        // Q2_0 (not in GgmlType), Q2_K, Q3_K, TQ1_0, TQ2_0 -> Q4_0
        Q2K | Q3K | TQ1_0 | TQ2_0 => Q4_0,
        Q4K => Q5_0,
        Q5K => Q5_1,
        Q6K => Q8_0,
        // a 32-block type has no smaller block to demote to: F16 below
        _ if qk <= 32 => target,
        _ => {
            return Err(Error::invalid(format!(
                "no tensor type fallback is defined for type {}",
                target.name()
            )))
        }
    };
    if !ncols.is_multiple_of(ret.block_size() as u64) {
        // "must use F16 due to unusual shape"
        ret = F16;
    }
    Ok((ret, Some(target)))
}

// `quantize_state_impl`: the counters of the mixture rules.
struct State {
    n_attention_wv: i64,
    n_ffn_down: i64,
    n_ffn_gate: i64,
    n_ffn_up: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
    has_tied_embeddings: bool,
}

// `use_more_bits`: the first and last eighth of the layers and every third in between.
fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2
}

/// `layer_info` in `llama_tensor_get_type_impl`: for MoE models the layer
/// comes from the name, since expert tensors need not be consecutive.
fn layer_info(shape: &ModelShape, counter: i64, n_layer: i64, name: &str) -> Result<(i64, i64)> {
    if shape.n_expert.max(1) > 1 {
        let l = scan_layer(name).ok_or_else(|| {
            Error::invalid(format!("Failed to determine layer for tensor {name}"))
        })?;
        let l = i64::from(l);
        if l < 0 || l >= n_layer {
            return Err(Error::invalid(format!(
                "Bad layer {l} for tensor {name}. Must be in [0, {n_layer})"
            )));
        }
        return Ok((l, n_layer));
    }
    Ok((counter, n_layer))
}

/// `llama_tensor_get_type_impl` for the named presets: the mixture rule for
/// one quantizable tensor, advancing the counters.
fn get_type_impl(
    qs: &mut State,
    shape: &ModelShape,
    preset: Preset,
    t: &TensorDesc,
    cat: Category,
) -> Result<(GgmlType, &'static str)> {
    use GgmlType as T;
    use Preset as P;
    let name = t.name;
    let default = preset.default_type();
    let falcon = shape.is_falcon();
    let n_gqa = shape.n_gqa();

    // glm5-next: attn_q_a / attn_q_b / nextn.eh_proj never below Q8_0
    if shape.is_glm5_next()
        && ["attn_q_a", "attn_q_b", "nextn.eh_proj"]
            .iter()
            .any(|s| name.contains(s))
    {
        return Ok((
            T::Q8_0,
            "glm5-next: attn_q_a/attn_q_b/nextn.eh_proj at least q8_0",
        ));
    }

    // tied embeddings: token_embd is also the output, so it gets the output's type
    if cat == Category::Output || (qs.has_tied_embeddings && cat == Category::TokenEmbd) {
        let nx = t.dims[0];
        let qk = default.block_size() as u64;
        return Ok(if falcon || !nx.is_multiple_of(qk) {
            (
                T::Q8_0,
                "output / tied token_embd: q8_0 (falcon, or row not a whole block)",
            )
        } else if default != T::Q8_0 {
            (T::Q6K, "output / tied token_embd: q6_K")
        } else {
            (default, "output / tied token_embd: q8_0 preset keeps q8_0")
        });
    }

    // the IQ*/TQ*/Q2_0 token_embd branch and the MXFP4_MOE / IQ1-IQ2 branches
    // that come next in llama.cpp never fire for these presets.
    if cat == Category::TokenEmbd {
        return Ok((default, "token_embd: preset default"));
    }

    let mut ty = default;
    let mut why = "preset default";
    if is_attn_v_like(cat) {
        match preset {
            P::Q2K => {
                ty = if n_gqa >= 4 { T::Q4K } else { T::Q3K };
                why = "attn_v: Q2_K -> q4_K with n_gqa >= 4, else q3_K";
            }
            P::Q3KM => {
                ty = if qs.i_attention_wv < 2 {
                    T::Q5K
                } else {
                    T::Q4K
                };
                why = "attn_v: Q3_K_M -> q5_K for the first 2, else q4_K";
            }
            P::Q3KL => {
                ty = T::Q5K;
                why = "attn_v: Q3_K_L -> q5_K";
            }
            P::Q4KM | P::Q5KM if use_more_bits(qs.i_attention_wv, qs.n_attention_wv) => {
                ty = T::Q6K;
                why = "attn_v: Q4_K_M/Q5_K_M use_more_bits -> q6_K";
            }
            P::Q4KS if qs.i_attention_wv < 4 => {
                ty = T::Q5K;
                why = "attn_v: Q4_K_S -> q5_K for the first 4";
            }
            _ => {}
        }
        // LLM_TYPE_70B: 8 heads share attn_v, so it is 8x smaller than attn_q
        if shape.is_70b() && (ty == T::Q3K || ty == T::Q4K) {
            ty = T::Q5K;
            why = "attn_v: 70B model -> q5_K";
        }
        if shape.n_expert == 8 {
            ty = T::Q8_0;
            why = "attn_v: 8-expert model -> q8_0";
        }
        qs.i_attention_wv += 1;
    } else {
        match cat {
            // (attn_k's IQ3_XS / IQ3_XXS branches are not reachable here)
            Category::AttentionK if shape.n_expert == 8 => {
                ty = T::Q8_0;
                why = "attn_k: 8-expert model -> q8_0";
            }
            Category::FfnDown => {
                let (i_layer, n_layer) = layer_info(shape, qs.i_ffn_down, qs.n_ffn_down, name)?;
                match preset {
                    P::Q2K => {
                        ty = T::Q3K;
                        why = "ffn_down: Q2_K -> q3_K";
                    }
                    P::Q3KM => {
                        (ty, why) = if i_layer < n_layer / 16 {
                            (T::Q5K, "ffn_down: Q3_K_M first 1/16 of layers -> q5_K")
                        } else if !falcon || use_more_bits(i_layer, n_layer) {
                            (T::Q4K, "ffn_down: Q3_K_M -> q4_K")
                        } else {
                            (T::Q3K, "ffn_down: Q3_K_M falcon -> q3_K")
                        };
                    }
                    P::Q3KL => {
                        (ty, why) = if falcon {
                            (T::Q4K, "ffn_down: Q3_K_L falcon -> q4_K")
                        } else {
                            (T::Q5K, "ffn_down: Q3_K_L -> q5_K")
                        };
                    }
                    P::Q4KM if falcon => {
                        (ty, why) = if i_layer < n_layer / 16 {
                            (T::Q6K, "ffn_down: Q4_K_M falcon first 1/16 -> q6_K")
                        } else if use_more_bits(i_layer, n_layer) {
                            (T::Q5K, "ffn_down: Q4_K_M falcon use_more_bits -> q5_K")
                        } else {
                            (T::Q4K, "ffn_down: Q4_K_M falcon -> q4_K")
                        };
                    }
                    P::Q4KM | P::Q5KM if use_more_bits(i_layer, n_layer) => {
                        ty = T::Q6K;
                        why = "ffn_down: Q4_K_M/Q5_K_M use_more_bits -> q6_K";
                    }
                    P::Q4KS if !falcon && i_layer < n_layer / 8 => {
                        ty = T::Q5K;
                        why = "ffn_down: Q4_K_S first 1/8 of layers -> q5_K";
                    }
                    P::Q4_0 | P::Q5_0 if shape.has_imatrix && i_layer < n_layer / 8 => {
                        (ty, why) = if preset == P::Q4_0 {
                            (
                                T::Q4_1,
                                "ffn_down: Q4_0 with imatrix, first 1/8 of layers -> q4_1",
                            )
                        } else {
                            (
                                T::Q5_1,
                                "ffn_down: Q5_0 with imatrix, first 1/8 of layers -> q5_1",
                            )
                        };
                    }
                    _ => {}
                }
                qs.i_ffn_down += 1;
            }
            Category::AttentionOutput => {
                if falcon {
                    if preset == P::Q3KL {
                        ty = T::Q4K;
                        why = "attn_output: Q3_K_L falcon -> q4_K";
                    }
                } else if shape.n_expert == 8 {
                    if matches!(preset, P::Q2K | P::Q3KS | P::Q3KM | P::Q4KS | P::Q4KM) {
                        ty = T::Q5K;
                        why = "attn_output: 8-expert model -> q5_K";
                    }
                } else {
                    (ty, why) = match preset {
                        P::Q2K => (T::Q3K, "attn_output: Q2_K -> q3_K"),
                        P::Q3KM => (T::Q4K, "attn_output: Q3_K_M -> q4_K"),
                        P::Q3KL => (T::Q5K, "attn_output: Q3_K_L -> q5_K"),
                        _ => (ty, why),
                    };
                }
            }
            // only IQ3_XS changes ffn_gate / ffn_up; the counter and the MoE
            // layer check still run
            Category::FfnGate => {
                layer_info(shape, qs.i_ffn_gate, qs.n_ffn_gate, name)?;
                qs.i_ffn_gate += 1;
            }
            Category::FfnUp => {
                layer_info(shape, qs.i_ffn_up, qs.n_ffn_up, name)?;
                qs.i_ffn_up += 1;
            }
            // ATTENTION_Q changes only for IQ3_XS / IQ3_XXS; llama.cpp's
            // ATTENTION_QKV branch is dead code (attn_qkv is attn_v-like)
            _ => {}
        }
    }
    Ok((ty, why))
}

fn check_inputs(preset: Preset, shape: &ModelShape, tensors: &[TensorDesc]) -> Result<()> {
    if let Preset::Pure(t) = preset {
        if pure_ftype(t).is_none() {
            return Err(Error::invalid(format!(
                "--pure {}: no llama.cpp file type quantizes to this type",
                t.name()
            )));
        }
    }
    // llama.cpp asserts 0 < n_layer_all <= LLAMA_MAX_LAYERS (512)
    if shape.n_layer == 0 || shape.n_layer > 512 {
        return Err(Error::invalid(format!(
            "block_count {} is not in 1..=512",
            shape.n_layer
        )));
    }
    let mut seen = HashSet::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        if t.dims.is_empty() || t.dims.len() > 4 {
            return Err(Error::invalid(format!(
                "tensor {i} ({:?}) has {} dims; ggml tensors have 1 to 4",
                t.name,
                t.dims.len()
            )));
        }
        if t.dims.contains(&0) {
            return Err(Error::invalid(format!(
                "tensor {i} ({:?}) has a zero dimension {:?}",
                t.name, t.dims
            )));
        }
        if !seen.insert(t.name) {
            return Err(Error::invalid(format!(
                "tensor name {:?} appears more than once",
                t.name
            )));
        }
    }
    Ok(())
}

/// The type llama-quantize gives each tensor for `preset`, in the order of
/// `tensors` (llama.cpp's own visiting order, [`llama_tensor_order`], is used
/// for the counters).
pub fn plan(preset: Preset, shape: &ModelShape, tensors: &[TensorDesc]) -> Result<Vec<Choice>> {
    check_inputs(preset, shape, tensors)?;
    let default = preset.default_type();
    let pure = matches!(preset, Preset::Pure(_));
    let cats: Vec<Category> = tensors.iter().map(|t| category(t.name)).collect();

    // init_quantize_state_counters
    let n_layer = i64::from(shape.n_layer);
    let mut qs = State {
        n_attention_wv: cats.iter().filter(|&&c| is_attn_v_like(c)).count() as i64,
        n_ffn_down: n_layer,
        n_ffn_gate: n_layer,
        n_ffn_up: n_layer,
        i_attention_wv: 0,
        i_ffn_down: 0,
        i_ffn_gate: 0,
        i_ffn_up: 0,
        // assume tied until we see output.weight
        has_tied_embeddings: !cats.contains(&Category::Output),
    };

    let mut out: Vec<Option<Choice>> = vec![None; tensors.len()];
    for i in llama_tensor_order(tensors) {
        let t = &tensors[i];
        // llama_tensor_get_type
        let choice = if let Some(why) = not_quantized_reason(shape, t) {
            Choice {
                target: t.ty,
                fallback_from: None,
                reason: why,
            }
        } else if !default.is_quantized() {
            // F16 / BF16 / F32 presets: no mixture, no fallback
            Choice {
                target: default,
                fallback_from: None,
                reason: "pure: unquantized type",
            }
        } else {
            let (ty, why) = if pure {
                (default, "pure: one type for every tensor")
            } else {
                get_type_impl(&mut qs, shape, preset, t, cats[i])?
            };
            let (target, fallback_from) = tensor_type_fallback(t.dims[0], ty)?;
            Choice {
                target,
                fallback_from,
                reason: why,
            }
        };
        out[i] = Some(choice);
    }
    out.into_iter()
        .map(|c| c.ok_or_else(|| Error::invalid("internal: tensor without a choice")))
        .collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    macro_rules! fixture {
        ($file:expr) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/llama-quantize-types/",
                $file
            ))
        };
    }

    // the llama-quantize runs per model: `<model>-<file>.txt` ("pure-X" = --pure X)
    const PRESET_FILES: [&str; 16] = [
        "Q2_K",
        "Q3_K_S",
        "Q3_K_M",
        "Q3_K_L",
        "Q4_K_S",
        "Q4_K_M",
        "Q5_K_S",
        "Q5_K_M",
        "Q6_K",
        "Q4_0",
        "Q4_1",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "pure-Q4_K_M",
        "pure-Q8_0",
    ];

    macro_rules! model_fixtures {
        ($m:literal) => {
            (
                $m,
                fixture!(concat!($m, "-tensors.txt")),
                [
                    fixture!(concat!($m, "-Q2_K.txt")),
                    fixture!(concat!($m, "-Q3_K_S.txt")),
                    fixture!(concat!($m, "-Q3_K_M.txt")),
                    fixture!(concat!($m, "-Q3_K_L.txt")),
                    fixture!(concat!($m, "-Q4_K_S.txt")),
                    fixture!(concat!($m, "-Q4_K_M.txt")),
                    fixture!(concat!($m, "-Q5_K_S.txt")),
                    fixture!(concat!($m, "-Q5_K_M.txt")),
                    fixture!(concat!($m, "-Q6_K.txt")),
                    fixture!(concat!($m, "-Q4_0.txt")),
                    fixture!(concat!($m, "-Q4_1.txt")),
                    fixture!(concat!($m, "-Q5_0.txt")),
                    fixture!(concat!($m, "-Q5_1.txt")),
                    fixture!(concat!($m, "-Q8_0.txt")),
                    fixture!(concat!($m, "-pure-Q4_K_M.txt")),
                    fixture!(concat!($m, "-pure-Q8_0.txt")),
                ],
            )
        };
    }

    type ModelFixture = (&'static str, &'static str, [&'static str; 16]);

    fn models() -> [ModelFixture; 4] {
        [
            model_fixtures!("smollm2-135m"),
            model_fixtures!("stories260K"),
            model_fixtures!("tiny-untied"),
            model_fixtures!("tiny-moe"),
        ]
    }

    fn preset_of(file: &str) -> Preset {
        match file.strip_prefix("pure-") {
            Some(p) => Preset::Pure(Preset::from_name(p).unwrap().default_type()),
            None => Preset::from_name(file).unwrap(),
        }
    }

    struct Model {
        shape: ModelShape,
        tensors: Vec<(String, GgmlType, Vec<u64>)>,
    }

    fn parse_model(text: &str) -> Model {
        let mut shape = ModelShape::default();
        let mut tensors = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut w = line.split_whitespace();
            let key = w.next().unwrap();
            let num = |s: Option<&str>| s.unwrap().parse::<u32>().unwrap();
            match key {
                "arch" => shape.arch = w.next().unwrap().to_string(),
                "n_layer" => shape.n_layer = num(w.next()),
                "n_head" => shape.n_head = num(w.next()),
                "n_head_kv" => shape.n_head_kv = num(w.next()),
                "n_expert" => shape.n_expert = num(w.next()),
                "tensor" => {
                    let name = w.next().unwrap().to_string();
                    let ty = GgmlType::from_name(w.next().unwrap()).unwrap();
                    let dims = w.map(|d| d.parse().unwrap()).collect();
                    tensors.push((name, ty, dims));
                }
                other => panic!("unexpected fixture line {other:?}"),
            }
        }
        Model { shape, tensors }
    }

    /// `(file_type, [(name, type)])` of one llama-quantize output.
    fn parse_types(text: &str) -> (u32, Vec<(&str, GgmlType)>) {
        let mut ftype = None;
        let mut types = Vec::new();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("# general.file_type ") {
                ftype = Some(v.trim().parse().unwrap());
            } else if !line.starts_with('#') && !line.is_empty() {
                let (name, ty) = line.split_once(' ').unwrap();
                types.push((name, GgmlType::from_name(ty).unwrap()));
            }
        }
        (ftype.expect("fixture without general.file_type"), types)
    }

    #[test]
    fn plan_matches_llama_quantize() {
        let mut checked = 0;
        for (model_name, tensors_txt, preset_txts) in models() {
            let model = parse_model(tensors_txt);
            let descs: Vec<TensorDesc> = model
                .tensors
                .iter()
                .map(|(name, ty, dims)| TensorDesc {
                    name,
                    dims,
                    ty: *ty,
                })
                .collect();
            for (file, text) in PRESET_FILES.iter().zip(preset_txts) {
                let preset = preset_of(file);
                let (ftype, expected) = parse_types(text);
                let got = plan(preset, &model.shape, &descs).unwrap();
                assert_eq!(got.len(), descs.len());
                assert_eq!(expected.len(), descs.len(), "{model_name} {file}");
                // llama-quantize writes tensors in the order it visits them
                let order: Vec<&str> = llama_tensor_order(&descs)
                    .into_iter()
                    .map(|i| descs[i].name)
                    .collect();
                let expected_order: Vec<&str> = expected.iter().map(|&(n, _)| n).collect();
                assert_eq!(order, expected_order, "{model_name} {file}: tensor order");
                let mut bad = Vec::new();
                for (d, c) in descs.iter().zip(&got) {
                    let want = expected.iter().find(|&&(n, _)| n == d.name).unwrap().1;
                    if c.target != want {
                        bad.push(format!(
                            "{}: plan {} ({}), llama-quantize {}",
                            d.name, c.target, c.reason, want
                        ));
                    }
                }
                assert!(bad.is_empty(), "{model_name} {file}:\n{}", bad.join("\n"));
                assert_eq!(file_type(preset), ftype, "{model_name} {file}: file_type");
                checked += descs.len();
            }
        }
        assert!(checked > 0);
    }

    fn desc<'a>(name: &'a str, dims: &'a [u64]) -> TensorDesc<'a> {
        TensorDesc {
            name,
            dims,
            ty: GgmlType::F16,
        }
    }

    #[test]
    fn fallback_rule() {
        use GgmlType::*;
        // 256-blocks demote to a 32-block type
        assert_eq!(tensor_type_fallback(576, Q4K).unwrap(), (Q5_0, Some(Q4K)));
        assert_eq!(tensor_type_fallback(576, Q5K).unwrap(), (Q5_1, Some(Q5K)));
        assert_eq!(tensor_type_fallback(576, Q6K).unwrap(), (Q8_0, Some(Q6K)));
        assert_eq!(tensor_type_fallback(576, Q2K).unwrap(), (Q4_0, Some(Q2K)));
        assert_eq!(tensor_type_fallback(576, Q3K).unwrap(), (Q4_0, Some(Q3K)));
        assert_eq!(
            tensor_type_fallback(576, IQ4XS).unwrap(),
            (IQ4NL, Some(IQ4XS))
        );
        // and to F16 when 32 does not divide the row either
        assert_eq!(tensor_type_fallback(172, Q4K).unwrap(), (F16, Some(Q4K)));
        assert_eq!(tensor_type_fallback(172, Q8_0).unwrap(), (F16, Some(Q8_0)));
        // whole blocks: unchanged
        assert_eq!(tensor_type_fallback(512, Q4K).unwrap(), (Q4K, None));
        assert_eq!(tensor_type_fallback(64, Q4_0).unwrap(), (Q4_0, None));
        // Q8_K has no fallback in llama.cpp
        assert!(tensor_type_fallback(100, Q8K).is_err());

        // through plan: the reason stays, fallback_from records the rule's type
        let shape = ModelShape::llama(1, 4, 4);
        let dims = [576u64, 64];
        let c = plan(Preset::Q4KS, &shape, &[desc("blk.0.attn_q.weight", &dims)]).unwrap();
        assert_eq!(c[0].target, Q5_0);
        assert_eq!(c[0].fallback_from, Some(Q4K));
    }

    #[test]
    fn kept_tensors_keep_their_type() {
        let shape = ModelShape::llama(1, 4, 4);
        let d1 = [256u64];
        let d2 = [256u64, 1, 1];
        let d3 = [256u64, 256];
        let tensors = [
            TensorDesc {
                name: "blk.0.attn_norm.weight",
                dims: &d1,
                ty: GgmlType::F32,
            },
            // trailing 1s do not count as dims (ggml_n_dims)
            desc("blk.0.attn_q.weight", &d2),
            desc("blk.0.ffn_gate_inp.weight", &d3),
            desc("blk.0.attn_q.bias", &d3),
            desc("blk.0.attn_q.weight_scale", &d3),
            desc("output_norm.weight", &d3),
            desc("blk.0.attn_k.weight", &d3),
        ];
        let c = plan(Preset::Q4KM, &shape, &tensors).unwrap();
        let targets: Vec<GgmlType> = c.iter().map(|c| c.target).collect();
        use GgmlType::*;
        assert_eq!(targets, [F32, F16, F16, F16, F16, F16, Q4K]);
    }

    #[test]
    fn preset_names() {
        for p in Preset::ALL {
            assert_eq!(Preset::from_name(&p.name()).unwrap(), p);
            assert_eq!(Preset::from_name(&p.name().to_lowercase()).unwrap(), p);
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        }
        assert_eq!(Preset::from_name(" q4_k_m ").unwrap(), Preset::Q4KM);
        assert_eq!(Preset::from_name("Q4_K").unwrap(), Preset::Q4KM);
        assert_eq!(Preset::from_name("q3_k").unwrap(), Preset::Q3KM);
        assert_eq!(Preset::from_name("Q5_K").unwrap(), Preset::Q5KM);
        let p = Preset::from_name("pure:q4_K").unwrap();
        assert_eq!(p, Preset::Pure(GgmlType::Q4K));
        assert_eq!(Preset::from_name(&p.to_string()).unwrap(), p);
        assert_eq!(file_type(Preset::Q4KM), 15);
        assert_eq!(file_type(Preset::Q8_0), 7);
        assert_eq!(file_type(Preset::Pure(GgmlType::F16)), 1);
    }

    #[test]
    fn bad_input_is_an_error() {
        for bad in [
            "",
            "Q4_K_X",
            "Q7_0",
            "IQ2_XXS",
            "pure:",
            "pure:q9",
            "pure:q8_K",
        ] {
            let e = Preset::from_name(bad).unwrap_err().to_string();
            assert!(!e.is_empty(), "{bad}");
        }
        let e = Preset::from_name("Q4_K_X").unwrap_err().to_string();
        assert!(
            e.contains("unknown quantization preset") && e.contains("Q4_K_M"),
            "{e}"
        );

        let shape = ModelShape::llama(2, 4, 4);
        let ok = [256u64, 256];
        // no dims, a zero dim, too many dims, duplicates, a bad pure type, no layers
        let none: [u64; 0] = [];
        let zero = [0u64, 256];
        let five = [256u64, 1, 1, 1, 1];
        for ts in [
            vec![desc("blk.0.attn_q.weight", &none)],
            vec![desc("blk.0.attn_q.weight", &zero)],
            vec![desc("blk.0.attn_q.weight", &five)],
            vec![desc("a.weight", &ok), desc("a.weight", &ok)],
        ] {
            assert!(plan(Preset::Q4KM, &shape, &ts).is_err());
        }
        let one = [desc("blk.0.attn_q.weight", &ok)];
        assert!(plan(Preset::Pure(GgmlType::Q8K), &shape, &one).is_err());
        assert!(plan(Preset::Q4KM, &ModelShape::llama(0, 4, 4), &one).is_err());
        // an MoE tensor whose layer cannot be read, or is out of range
        let moe = ModelShape {
            n_expert: 8,
            ..ModelShape::llama(2, 4, 4)
        };
        let e3 = [256u64, 256, 8];
        assert!(plan(Preset::Q4KM, &moe, &[desc("ffn_down_exps.weight", &e3)]).is_err());
        assert!(plan(
            Preset::Q4KM,
            &moe,
            &[desc("blk.7.ffn_down_exps.weight", &e3)]
        )
        .is_err());
        assert!(plan(
            Preset::Q4KM,
            &moe,
            &[desc("blk.1.ffn_down_exps.weight", &e3)]
        )
        .is_ok());
    }

    #[test]
    fn layer_order_and_scan() {
        assert_eq!(scan_layer("blk.12.attn_v.weight"), Some(12));
        assert_eq!(scan_layer("blk.-3.x"), Some(-3));
        assert_eq!(scan_layer("blk.x"), None);
        assert_eq!(scan_layer("token_embd.weight"), None);
        let d = [256u64, 256];
        let ts = [
            desc("blk.10.a.weight", &d),
            desc("blk.2.b.weight", &d),
            desc("output.weight", &d),
            desc("blk.2.a.weight", &d),
            desc("token_embd.weight", &d),
        ];
        let names: Vec<&str> = llama_tensor_order(&ts)
            .into_iter()
            .map(|i| ts[i].name)
            .collect();
        assert_eq!(
            names,
            [
                "output.weight",
                "token_embd.weight",
                "blk.2.a.weight",
                "blk.2.b.weight",
                "blk.10.a.weight"
            ]
        );
    }

    #[test]
    fn seventy_b_and_use_more_bits() {
        // llama 70B: 80 layers, GQA -> attn_v Q4_K bumped to Q5_K for Q3_K_M
        let shape = ModelShape::llama(80, 64, 8);
        assert!(shape.is_70b());
        assert!(!ModelShape::llama(80, 64, 64).is_70b());
        let dims = [8192u64, 1024];
        let names: Vec<String> = (0..80).map(|i| format!("blk.{i}.attn_v.weight")).collect();
        let ts: Vec<TensorDesc> = names.iter().map(|n| desc(n, &dims)).collect();
        let c = plan(Preset::Q3KM, &shape, &ts).unwrap();
        assert!(c.iter().all(|c| c.target == GgmlType::Q5K));
        // Q4_K_M: use_more_bits layers get Q6_K
        let c = plan(Preset::Q4KM, &shape, &ts).unwrap();
        for (i, c) in c.iter().enumerate() {
            let want = if use_more_bits(i as i64, 80) {
                GgmlType::Q6K
            } else {
                GgmlType::Q5K
            };
            assert_eq!(c.target, want, "layer {i}");
        }
    }
}
