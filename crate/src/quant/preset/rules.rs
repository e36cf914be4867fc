//! The per-tensor rules of `src/llama-quant.cpp` (see the module comment of
//! `quant::preset`): which tensors are quantized, the mixture rules of the
//! named presets with their counters, the row-length fallback, and [`plan`],
//! which applies them in llama.cpp's tensor order.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::{pure_ftype, Choice, ModelShape, Preset, TensorDesc};
use crate::error::{Error, Result};
use crate::quant::types::GgmlType;

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
pub(super) fn scan_layer(name: &str) -> Option<i32> {
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
pub(super) fn tensor_type_fallback(
    ncols: u64,
    target: GgmlType,
) -> Result<(GgmlType, Option<GgmlType>)> {
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
pub(super) fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
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
