//! A Hugging Face Llama-architecture model (`LlamaForCausalLM`): safetensors
//! weights plus `config.json`, `tokenizer.json` and `tokenizer_config.json`,
//! turned into the GGUF that llama.cpp's `convert_hf_to_gguf.py` writes: the
//! same metadata keys, value types and order, the same tensor names, order
//! and types, and the Q/K row permutation the converter applies (HF stores
//! RoPE pairs as two halves per head, ggml's `llama` as interleaved pairs).
//!
//! Supported: byte-level BPE tokenizers (`tokenizer.ggml.model = gpt2`),
//! RoPE without scaling or with linear scaling. Refused with a clear error:
//! other architectures, MoE, quantized checkpoints, llama3/yarn RoPE scaling,
//! SentencePiece tokenizers. Not derived: model-card fields (license,
//! basename, ...), which the converter reads from README.md.

use std::io::Write;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::io::gguf::{self, TensorPlan, Value};
use crate::io::safetensors::{to_f32, SafetensorsFile, StTensor};
use crate::io::source::ByteSource;
use crate::quant::GgmlType;

const CFG: &str = "config.json";
const TOK: &str = "tokenizer.json";
const TOKCFG: &str = "tokenizer_config.json";

/// Token types as llama.cpp's vocab defines them.
const TOKEN_NORMAL: i32 = 1;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;
const TOKEN_UNUSED: i32 = 5;

/// The hyperparameters the conversion needs, from config.json.
#[derive(Clone, Debug, PartialEq)]
pub struct HfConfig {
    pub n_layer: u64,
    pub n_embd: u64,
    pub n_ff: Option<u64>,
    pub n_head: u64,
    pub n_head_kv: Option<u64>,
    pub head_dim: u64,
    pub vocab_size: u64,
    pub context_length: Option<u64>,
    pub rope_theta: Option<f64>,
    pub rms_norm_eps: Option<f64>,
    pub layer_norm_eps: Option<f64>,
    /// `rope_scaling` of type linear: its factor.
    pub rope_linear_factor: Option<f64>,
    /// `is_causal: false` in the config.
    pub non_causal: bool,
}

/// One GGUF tensor of the converted model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HfTensor {
    /// GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// ggml dims (the reversed safetensors shape).
    pub dims: Vec<u64>,
    /// Source type: F32, F16 or BF16.
    pub src_ty: GgmlType,
    /// Heads for the Q/K row permutation, if this is attn_q or attn_k.
    pub permute_heads: Option<u64>,
    shard: usize,
    /// Index in that shard's tensor list.
    index: usize,
}

/// The tokenizer files' contents that go into GGUF.
#[derive(Clone, Debug, Default)]
struct Tokenizer {
    tokens: Vec<String>,
    types: Vec<i32>,
    merges: Vec<String>,
    /// `tokenizer.ggml.pre`, when the pre-tokenizer is one webquant knows.
    pre: Option<String>,
    /// (GGUF key suffix, token id) in the converter's order.
    special_ids: Vec<(&'static str, u32)>,
    /// (GGUF key, value) for add_bos / add_eos / add_sep.
    add_special: Vec<(&'static str, bool)>,
    add_space_prefix: Option<bool>,
    chat_template: Option<String>,
    lowercase: Option<bool>,
    strip_accents: Option<bool>,
}

/// An opened HF model: headers and JSON parsed, tensor data not read.
pub struct HfModel<S: ByteSource> {
    shards: Vec<SafetensorsFile<S>>,
    pub config: HfConfig,
    pub tensors: Vec<HfTensor>,
    /// `tokenizer.ggml.pre`. Set from the pre-tokenizer when it is one of
    /// the known ones (gpt-2, llama-bpe, smollm); the caller can set it
    /// otherwise (llama.cpp's converter hashes a test encoding instead).
    pub tokenizer_pre: Option<String>,
    tokenizer: Option<Tokenizer>,
}

fn cfg_err(detail: impl Into<String>) -> Error {
    Error::format(CFG, detail)
}

fn parse_json(text: &str, what: &'static str) -> Result<serde_json::Map<String, Json>> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(Error::format(what, "is not a JSON object")),
        Err(e) => Err(Error::format(what, format!("is not valid JSON: {e}"))),
    }
}

/// The first of `keys` present (and not null), as the converter's find_hparam.
fn find<'a>(m: &'a serde_json::Map<String, Json>, keys: &[&str]) -> Option<(&'a str, &'a Json)> {
    keys.iter().find_map(|k| {
        m.get_key_value(*k)
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.as_str(), v))
    })
}

fn find_u64(m: &serde_json::Map<String, Json>, keys: &[&str]) -> Result<Option<u64>> {
    match find(m, keys) {
        None => Ok(None),
        Some((k, v)) => match v.as_u64() {
            Some(n) if n <= u32::MAX as u64 => Ok(Some(n)),
            _ => Err(cfg_err(format!("{k:?} is {v}, not an integer in 0..2^32"))),
        },
    }
}

fn need_u64(m: &serde_json::Map<String, Json>, keys: &[&str]) -> Result<u64> {
    find_u64(m, keys)?.ok_or_else(|| cfg_err(format!("missing {:?}", keys[0])))
}

fn find_f64(m: &serde_json::Map<String, Json>, keys: &[&str]) -> Result<Option<f64>> {
    match find(m, keys) {
        None => Ok(None),
        Some((k, v)) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| cfg_err(format!("{k:?} is {v}, not a number"))),
    }
}

impl HfConfig {
    /// Parse config.json; refuse what the conversion cannot express.
    pub fn parse(config_json: &str) -> Result<Self> {
        let m = parse_json(config_json, CFG)?;
        let arch = m
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Json::as_str)
            .ok_or_else(|| cfg_err("missing \"architectures\""))?;
        if arch != "LlamaForCausalLM" {
            return Err(cfg_err(format!(
                "architecture {arch:?} is not supported (webquant converts LlamaForCausalLM)"
            )));
        }
        for k in ["quantization_config", "num_local_experts", "text_config"] {
            if m.get(k).is_some_and(|v| !v.is_null()) {
                return Err(cfg_err(format!("{k:?} is not supported")));
            }
        }
        let n_layer = need_u64(
            &m,
            &["n_layers", "num_hidden_layers", "n_layer", "num_layers"],
        )?;
        let n_embd = need_u64(&m, &["hidden_size", "n_embd", "dim"])?;
        let n_head = need_u64(&m, &["num_attention_heads", "n_head", "n_heads"])?;
        let n_head_kv = find_u64(&m, &["num_key_value_heads", "n_kv_heads"])?;
        let vocab_size = need_u64(&m, &["vocab_size"])?;
        if n_layer == 0 || n_embd == 0 || n_head == 0 || n_head_kv == Some(0) || vocab_size == 0 {
            return Err(cfg_err(
                "layers, hidden size, heads and vocab size must be positive",
            ));
        }
        let head_dim = match find_u64(&m, &["head_dim"])? {
            Some(d) => d,
            None if n_embd % n_head == 0 => n_embd / n_head,
            None => {
                return Err(cfg_err(format!(
                    "hidden_size {n_embd} is not a multiple of num_attention_heads {n_head}"
                )))
            }
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(cfg_err(format!(
                "head dimension {head_dim} is not even: RoPE works on pairs"
            )));
        }
        // transformers 5 calls it rope_parameters, older versions rope_scaling.
        let rope = find(&m, &["rope_parameters", "rope_scaling"]).map(|(_, v)| v);
        let rope_obj = match rope {
            None => None,
            Some(Json::Object(o)) => Some(o),
            Some(v) => return Err(cfg_err(format!("rope_scaling {v} is not an object"))),
        };
        let mut rope_theta = find_f64(
            &m,
            &[
                "global_rope_theta",
                "rope_global_theta",
                "rope_theta_global",
                "rope_theta",
                "rotary_emb_base",
            ],
        )?;
        let mut rope_linear_factor = None;
        if let Some(o) = rope_obj {
            if let Some(t) = find_f64(o, &["rope_theta"])? {
                rope_theta = Some(t);
            }
            let ty = find(o, &["rope_type", "type"]).and_then(|(_, v)| v.as_str());
            let factor = find_f64(o, &["factor"])?;
            match (ty, factor) {
                (None | Some("default"), _) => {}
                (Some("linear"), Some(f)) => rope_linear_factor = Some(f),
                (Some(t), _) => {
                    return Err(cfg_err(format!(
                        "RoPE scaling type {t:?} is not supported (only linear)"
                    )))
                }
            }
        }
        Ok(HfConfig {
            n_layer,
            n_embd,
            n_ff: find_u64(
                &m,
                &[
                    "prefix_dense_intermediate_size",
                    "dense_intermediate_size",
                    "intermediate_size",
                    "n_inner",
                    "hidden_dim",
                ],
            )?,
            n_head,
            n_head_kv,
            head_dim,
            vocab_size,
            context_length: find_u64(
                &m,
                &[
                    "max_position_embeddings",
                    "n_ctx",
                    "n_positions",
                    "max_length",
                    "max_sequence_length",
                    "model_max_length",
                ],
            )?,
            rope_theta,
            rms_norm_eps: find_f64(&m, &["rms_norm_eps", "norm_eps"])?,
            layer_norm_eps: find_f64(
                &m,
                &["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"],
            )?,
            rope_linear_factor,
            non_causal: m.get("is_causal").and_then(Json::as_bool) == Some(false),
        })
    }
}

/// HF tensor name → GGUF name for the llama architecture (llama.cpp's
/// gguf-py tensor map, the entries LlamaForCausalLM checkpoints use).
fn gguf_name(hf: &str, n_layer: u64) -> Option<String> {
    let hf = hf.strip_prefix("model.").unwrap_or(hf);
    let fixed = match hf {
        "embed_tokens.weight" => Some("token_embd.weight"),
        "norm.weight" => Some("output_norm.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.into());
    }
    if hf == "lm_head.weight" {
        return Some("output.weight".into());
    }
    let rest = hf.strip_prefix("layers.")?;
    let (bid, tail) = rest.split_once('.')?;
    let b: u64 = bid.parse().ok()?;
    if b >= n_layer || bid != b.to_string() {
        return None;
    }
    let part = match tail {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.o_proj.bias" => "attn_output.bias",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{b}.{part}"))
}

/// Distinct shard file names listed in `model.safetensors.index.json`,
/// sorted (the order the converter reads them in).
pub fn shard_files(index_json: &str) -> Result<Vec<String>> {
    const IDX: &str = "model.safetensors.index.json";
    let m = parse_json(index_json, IDX)?;
    let map = m
        .get("weight_map")
        .and_then(Json::as_object)
        .ok_or_else(|| Error::format(IDX, "missing \"weight_map\" object"))?;
    let mut files = Vec::new();
    for (name, f) in map {
        let f = f.as_str().ok_or_else(|| {
            Error::format(IDX, format!("weight_map entry {name:?} is not a file name"))
        })?;
        files.push(f.to_string());
    }
    files.sort();
    files.dedup();
    Ok(files)
}

impl<S: ByteSource> HfModel<S> {
    /// A single-file model (`model.safetensors`).
    pub fn open(
        weights: S,
        config_json: &str,
        tokenizer_json: Option<&str>,
        tokenizer_config_json: Option<&str>,
    ) -> Result<Self> {
        Self::open_sharded(
            vec![weights],
            config_json,
            tokenizer_json,
            tokenizer_config_json,
        )
    }

    /// A sharded model: the files named by [`shard_files`], in that order.
    pub fn open_sharded(
        shards: Vec<S>,
        config_json: &str,
        tokenizer_json: Option<&str>,
        tokenizer_config_json: Option<&str>,
    ) -> Result<Self> {
        let config = HfConfig::parse(config_json)?;
        let shards = shards
            .into_iter()
            .map(SafetensorsFile::open)
            .collect::<Result<Vec<_>>>()?;
        let tensors = map_tensors(&shards, &config)?;
        let tokenizer = match tokenizer_json {
            Some(t) => Some(read_tokenizer(
                t,
                tokenizer_config_json,
                config_json,
                &config,
            )?),
            None => None,
        };
        Ok(HfModel {
            shards,
            tokenizer_pre: tokenizer.as_ref().and_then(|t| t.pre.clone()),
            config,
            tensors,
            tokenizer,
        })
    }

    fn st(&self, index: usize) -> Result<(&HfTensor, &StTensor)> {
        let t = self
            .tensors
            .get(index)
            .ok_or_else(|| Error::invalid(format!("no tensor #{index}")))?;
        Ok((t, &self.shards[t.shard].tensors[t.index]))
    }

    /// A tensor's bytes in its source type, Q/K rows permuted for ggml.
    pub fn tensor_bytes(&self, index: usize) -> Result<Vec<u8>> {
        let (t, st) = self.st(index)?;
        let bytes = self.shards[t.shard].tensor_bytes(st)?;
        Ok(match t.permute_heads {
            Some(h) => permute_rows(&bytes, &st.shape, h, t.src_ty.type_size())?,
            None => bytes,
        })
    }

    /// A tensor's values as f32 (permuted like [`Self::tensor_bytes`]).
    pub fn tensor_f32(&self, index: usize) -> Result<Vec<f32>> {
        let (t, _) = self.st(index)?;
        Ok(to_f32(t.src_ty, &self.tensor_bytes(index)?))
    }

    /// The GGUF type each tensor is written as when converting to `ty`:
    /// 1-D tensors and norms stay F32 (as the converter keeps them).
    pub fn output_type(&self, index: usize, ty: GgmlType) -> GgmlType {
        match self.tensors.get(index) {
            Some(t) if t.dims.len() > 1 && !t.name.ends_with("_norm.weight") => ty,
            _ => GgmlType::F32,
        }
    }

    /// GGUF metadata as the converter writes it for an output of type `ty`.
    /// `name` becomes general.name (the converter uses the model card's
    /// name or the directory's).
    pub fn gguf_metadata(&self, name: &str, ty: GgmlType) -> Result<Vec<(String, Value)>> {
        let file_type = file_type(ty)?;
        let c = &self.config;
        let s = |v: &str| Value::String(v.to_string());
        let u = |v: u64| Value::U32(v as u32); // checked < 2^32 at parse
        let mut md: Vec<(String, Value)> = vec![
            ("general.architecture".into(), s("llama")),
            ("general.type".into(), s("model")),
            ("general.name".into(), s(name)),
        ];
        let n_params: u64 = self
            .tensors
            .iter()
            .map(|t| t.dims.iter().product::<u64>())
            .sum();
        if n_params > 0 {
            md.push(("general.size_label".into(), s(&size_label(n_params))));
        }
        md.push(("llama.block_count".into(), u(c.n_layer)));
        if let Some(n) = c.context_length {
            md.push(("llama.context_length".into(), u(n)));
        }
        md.push(("llama.embedding_length".into(), u(c.n_embd)));
        if let Some(n) = c.n_ff {
            md.push(("llama.feed_forward_length".into(), u(n)));
        }
        md.push(("llama.attention.head_count".into(), u(c.n_head)));
        if let Some(n) = c.n_head_kv {
            md.push(("llama.attention.head_count_kv".into(), u(n)));
        }
        if c.non_causal {
            md.push(("llama.attention.causal".into(), Value::Bool(false)));
        }
        if let Some(f) = c.rope_linear_factor {
            md.push(("llama.rope.scaling.type".into(), s("linear")));
            md.push(("llama.rope.scaling.factor".into(), Value::F32(f as f32)));
        }
        if let Some(t) = c.rope_theta {
            md.push(("llama.rope.freq_base".into(), Value::F32(t as f32)));
        }
        if let Some(e) = c.rms_norm_eps {
            md.push((
                "llama.attention.layer_norm_rms_epsilon".into(),
                Value::F32(e as f32),
            ));
        }
        if let Some(e) = c.layer_norm_eps {
            md.push((
                "llama.attention.layer_norm_epsilon".into(),
                Value::F32(e as f32),
            ));
        }
        // transformers' LlamaConfig always has head_dim (hidden / heads by
        // default), and the converter writes it as key and value length.
        md.push(("llama.attention.key_length".into(), u(c.head_dim)));
        md.push(("llama.attention.value_length".into(), u(c.head_dim)));
        md.push(("general.file_type".into(), Value::U32(file_type)));
        md.push(("llama.vocab_size".into(), u(c.vocab_size)));
        md.push(("llama.rope.dimension_count".into(), u(c.head_dim)));
        md.push(("general.quantization_version".into(), Value::U32(2)));
        match &self.tokenizer {
            None => md.push(("tokenizer.ggml.model".into(), s("none"))),
            Some(t) => self.tokenizer_metadata(t, &mut md)?,
        }
        Ok(md)
    }

    fn tokenizer_metadata(&self, t: &Tokenizer, md: &mut Vec<(String, Value)>) -> Result<()> {
        let pre = self.tokenizer_pre.as_deref().ok_or_else(|| {
            Error::format(
                TOK,
                "pre-tokenizer not recognised (known: gpt-2, llama-bpe, smollm); set HfModel::tokenizer_pre",
            )
        })?;
        let s = |v: &str| Value::String(v.to_string());
        if let Some(b) = t.add_space_prefix {
            md.push(("tokenizer.ggml.add_space_prefix".into(), Value::Bool(b)));
        }
        md.push(("tokenizer.ggml.model".into(), s("gpt2")));
        md.push(("tokenizer.ggml.pre".into(), s(pre)));
        md.push((
            "tokenizer.ggml.tokens".into(),
            Value::Array(8, t.tokens.iter().map(|x| s(x)).collect()),
        ));
        md.push((
            "tokenizer.ggml.token_type".into(),
            Value::Array(5, t.types.iter().map(|&x| Value::I32(x)).collect()),
        ));
        if !t.merges.is_empty() {
            md.push((
                "tokenizer.ggml.merges".into(),
                Value::Array(8, t.merges.iter().map(|x| s(x)).collect()),
            ));
        }
        for (k, id) in &t.special_ids {
            md.push((format!("tokenizer.ggml.{k}"), Value::U32(*id)));
        }
        for (k, b) in &t.add_special {
            md.push((format!("tokenizer.ggml.{k}"), Value::Bool(*b)));
        }
        if let Some(ct) = &t.chat_template {
            md.push(("tokenizer.chat_template".into(), s(ct)));
        }
        if let Some(b) = t.lowercase {
            md.push(("tokenizer.ggml.normalizer.lowercase".into(), Value::Bool(b)));
        }
        if let Some(b) = t.strip_accents {
            md.push((
                "tokenizer.ggml.normalizer.strip_accents".into(),
                Value::Bool(b),
            ));
        }
        // The converter's rule for 49152-token vocabularies (granite small
        // models, SmolLM2): overwrite in place, or append.
        if self.config.vocab_size == 49152 {
            let k = "tokenizer.ggml.add_bos_token";
            match md.iter_mut().find(|(key, _)| key == k) {
                Some(e) => e.1 = Value::Bool(false),
                None => md.push((k.into(), Value::Bool(false))),
            }
        }
        Ok(())
    }

    /// Write the model as GGUF with 2-D weights stored as `ty` (F32, F16 or
    /// BF16), tensor by tensor.
    pub fn write_gguf<W: Write>(&self, out: W, name: &str, ty: GgmlType) -> Result<()> {
        let md = self.gguf_metadata(name, ty)?;
        let plans: Vec<TensorPlan> = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| TensorPlan {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ty: self.output_type(i, ty),
            })
            .collect();
        gguf::write_gguf(out, &md, &plans, |i| {
            if plans[i].ty == self.tensors[i].src_ty {
                self.tensor_bytes(i)
            } else {
                crate::io::llama2c::encode_float(plans[i].ty, &self.tensor_f32(i)?)
            }
        })
    }
}

fn file_type(ty: GgmlType) -> Result<u32> {
    match ty {
        GgmlType::F32 => Ok(0),
        GgmlType::F16 => Ok(1),
        GgmlType::BF16 => Ok(32),
        other => Err(Error::Unsupported {
            ty: other.name(),
            what: "safetensors conversion (use f32, f16 or bf16, then quantize)",
        }),
    }
}

/// gguf-py's `size_label` for a dense model: "35K", "135M", "1.2B".
fn size_label(n: u64) -> String {
    let n = n as f64;
    let (scaled, suffix) = if n > 1e12 {
        (n * 1e-12, "T")
    } else if n > 1e9 {
        (n * 1e-9, "B")
    } else if n > 1e6 {
        (n * 1e-6, "M")
    } else {
        (n * 1e-3, "K")
    };
    let digits = format!("{}", scaled.round_ties_even() as u64);
    let fix = 2usize.saturating_sub(digits.trim_start_matches('0').len());
    format!("{scaled:.fix$}{suffix}")
}

/// Map every safetensors tensor to its GGUF name, in the converter's order
/// (shards in order, names sorted within each), and check the shapes.
fn map_tensors<S: ByteSource>(
    shards: &[SafetensorsFile<S>],
    c: &HfConfig,
) -> Result<Vec<HfTensor>> {
    let mut out: Vec<HfTensor> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (si, shard) in shards.iter().enumerate() {
        for (ti, st) in shard.tensors.iter().enumerate() {
            // The converter drops these buffers too.
            if st.name.ends_with(".rotary_emb.inv_freq") {
                continue;
            }
            let name = gguf_name(&st.name, c.n_layer).ok_or_else(|| {
                Error::format(
                    "safetensors",
                    format!("tensor {:?} has no llama GGUF name", st.name),
                )
            })?;
            if !seen.insert(name.clone()) {
                return Err(Error::format(
                    "safetensors",
                    format!("tensor {:?} appears twice", st.name),
                ));
            }
            if st.shape.is_empty() || st.shape.len() > gguf::MAX_DIMS {
                return Err(Error::format(
                    "safetensors",
                    format!("tensor {:?} has {} dimensions", st.name, st.shape.len()),
                ));
            }
            let permute_heads = if name.contains(".attn_q.") {
                Some(c.n_head)
            } else if name.contains(".attn_k.") {
                Some(c.n_head_kv.unwrap_or(c.n_head))
            } else {
                None
            };
            if let Some(h) = permute_heads {
                let rows = st.shape[0];
                if rows % (2 * h) != 0 {
                    return Err(Error::format(
                        "safetensors",
                        format!(
                            "tensor {:?}: {rows} rows do not split into {h} heads of RoPE pairs",
                            st.name
                        ),
                    ));
                }
            }
            out.push(HfTensor {
                name,
                dims: st.ggml_dims(),
                src_ty: st.ty,
                permute_heads,
                shard: si,
                index: ti,
            });
        }
    }
    if !seen.contains("token_embd.weight") {
        return Err(Error::format(
            "safetensors",
            "no model.embed_tokens.weight: not a Llama checkpoint",
        ));
    }
    Ok(out)
}

/// convert_hf_to_gguf.py's `LlamaModel.permute`: rows viewed as
/// (heads, 2, rows/heads/2) are reordered to (heads, rows/heads/2, 2), so
/// that each head's two RoPE halves become interleaved pairs.
fn permute_rows(bytes: &[u8], shape: &[u64], heads: u64, elem: usize) -> Result<Vec<u8>> {
    let rows = shape.first().copied().unwrap_or(1) as usize;
    let heads = heads as usize;
    if heads == 0 || !rows.is_multiple_of(2 * heads) || rows == 0 {
        return Err(Error::invalid(format!(
            "{rows} rows do not split into {heads} heads of pairs"
        )));
    }
    let row_bytes = bytes.len() / rows;
    if row_bytes * rows != bytes.len() || !row_bytes.is_multiple_of(elem) {
        return Err(Error::invalid("tensor bytes do not divide into rows"));
    }
    let half = rows / heads / 2;
    let mut out = Vec::with_capacity(bytes.len());
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = h * 2 * half + j * half + i;
                out.extend_from_slice(&bytes[src * row_bytes..(src + 1) * row_bytes]);
            }
        }
    }
    Ok(out)
}

fn json_str(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content").and_then(Json::as_str),
        _ => None,
    }
}

/// The pre-tokenizer's llama.cpp name, for the structures webquant knows.
fn known_pre(pre: Option<&Json>) -> Option<&'static str> {
    const LLAMA3: &str = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    let pre = pre?;
    let ty = |v: &Json| v.get("type").and_then(Json::as_str).map(str::to_string);
    let byte_level = |v: &Json, regex: bool| {
        ty(v).as_deref() == Some("ByteLevel")
            && v.get("use_regex").and_then(Json::as_bool).unwrap_or(true) == regex
            && !v
                .get("add_prefix_space")
                .and_then(Json::as_bool)
                .unwrap_or(false)
    };
    if byte_level(pre, true) {
        return Some("gpt-2");
    }
    let seq = pre.get("pretokenizers").and_then(Json::as_array)?;
    if ty(pre).as_deref() != Some("Sequence") || seq.len() != 2 {
        return None;
    }
    let (a, b) = (&seq[0], &seq[1]);
    if ty(a).as_deref() == Some("Digits")
        && a.get("individual_digits").and_then(Json::as_bool) == Some(true)
        && byte_level(b, true)
    {
        return Some("smollm");
    }
    if ty(a).as_deref() == Some("Split")
        && a.pointer("/pattern/Regex").and_then(Json::as_str) == Some(LLAMA3)
        && byte_level(b, false)
    {
        return Some("llama-bpe");
    }
    None
}

/// tokenizer.json (+ tokenizer_config.json, config.json) → the vocabulary
/// and special-token metadata, following the converter's get_vocab_base and
/// gguf-py's SpecialVocab.
fn read_tokenizer(
    tokenizer_json: &str,
    tokenizer_config_json: Option<&str>,
    config_json: &str,
    c: &HfConfig,
) -> Result<Tokenizer> {
    let tj = parse_json(tokenizer_json, TOK)?;
    let tc = match tokenizer_config_json {
        Some(t) => Some(parse_json(t, TOKCFG)?),
        None => None,
    };
    let model = tj
        .get("model")
        .and_then(Json::as_object)
        .ok_or_else(|| Error::format(TOK, "missing \"model\""))?;
    if model.get("type").and_then(Json::as_str) != Some("BPE") {
        return Err(Error::format(
            TOK,
            format!(
                "model type {} is not supported (webquant converts byte-level BPE)",
                model.get("type").unwrap_or(&Json::Null)
            ),
        ));
    }
    let pre_tok = tj.get("pre_tokenizer");
    let has_byte_level = pre_tok.is_some_and(|p| p.to_string().contains("\"ByteLevel\""));
    if !has_byte_level || model.get("byte_fallback").and_then(Json::as_bool) == Some(true) {
        return Err(Error::format(
            TOK,
            "not a byte-level BPE tokenizer (SentencePiece-style vocabularies are not supported yet)",
        ));
    }
    let vocab_map = model
        .get("vocab")
        .and_then(Json::as_object)
        .ok_or_else(|| Error::format(TOK, "missing model.vocab"))?;
    let n = c.vocab_size as usize;
    let mut tokens: Vec<Option<String>> = vec![None; n];
    let mut types = vec![TOKEN_UNUSED; n];
    let mut put = |text: &str, id: &Json, ty: i32| -> Result<()> {
        let i = id
            .as_u64()
            .ok_or_else(|| Error::format(TOK, format!("token {text:?} has id {id}")))?;
        if i >= n as u64 {
            return Err(Error::format(
                TOK,
                format!("token {text:?} has id {i}, not below config.json's vocab_size {n}"),
            ));
        }
        tokens[i as usize] = Some(text.to_string());
        types[i as usize] = ty;
        Ok(())
    };
    for (text, id) in vocab_map {
        put(text, id, TOKEN_NORMAL)?;
    }
    let added: Vec<&Json> = tj
        .get("added_tokens")
        .and_then(Json::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for a in &added {
        let text = a
            .get("content")
            .and_then(Json::as_str)
            .ok_or_else(|| Error::format(TOK, "an added token has no content"))?;
        let special = a.get("special").and_then(Json::as_bool).unwrap_or(false);
        let (text, ty) = if special || looks_special(text) {
            (text.to_string(), TOKEN_CONTROL)
        } else {
            (text.replace('\u{2581}', " "), TOKEN_USER_DEFINED)
        };
        put(&text, a.get("id").unwrap_or(&Json::Null), ty)?;
    }
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| format!("[PAD{i}]")))
        .collect();

    let merges = match model.get("merges").and_then(Json::as_array) {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|m| match m {
                Json::String(s) => Ok(s.clone()),
                // The pair form (transformers >= 4.45): spaces inside a part
                // are written as U+0120 like the converter does.
                Json::Array(p) if p.len() == 2 => {
                    let part = |v: &Json| {
                        v.as_str()
                            .map(|s| s.replace(' ', "\u{0120}"))
                            .ok_or_else(|| Error::format(TOK, "a merge pair holds a non-string"))
                    };
                    Ok(format!("{} {}", part(&p[0])?, part(&p[1])?))
                }
                other => Err(Error::format(TOK, format!("unknown merge entry {other}"))),
            })
            .collect::<Result<Vec<_>>>()?,
    };

    let mut t = Tokenizer {
        tokens,
        types,
        merges,
        pre: known_pre(pre_tok).map(str::to_string),
        ..Tokenizer::default()
    };
    if let Some(norm) = tj.get("normalizer") {
        parse_normalizer(norm, &mut t);
    }
    // Post-processor: which special tokens the tokenizer adds itself.
    let mut bos_tok = tc
        .as_ref()
        .and_then(|m| json_str(m.get("bos_token")).map(str::to_string));
    let mut eos_tok = tc
        .as_ref()
        .and_then(|m| json_str(m.get("eos_token")).map(str::to_string));
    if let Some(pp) = tj.get("post_processor").filter(|p| !p.is_null()) {
        let list: Vec<&Json> = match pp.get("processors").and_then(Json::as_array) {
            Some(a) => a.iter().collect(),
            None => vec![pp],
        };
        for p in list {
            match p.get("type").and_then(Json::as_str) {
                Some("ByteLevel") => {
                    set_default(&mut t.add_special, "add_bos_token", false);
                    set_default(&mut t.add_special, "add_eos_token", false);
                }
                Some("TemplateProcessing") => {
                    template_processing(p, &mut t, &mut bos_tok, &mut eos_tok, tc.is_some())?
                }
                Some(other) => {
                    return Err(Error::format(
                        TOK,
                        format!("post_processor {other:?} is not supported"),
                    ))
                }
                None => {}
            }
        }
    }
    let special_id = |content: &str| {
        added.iter().find_map(|a| {
            (a.get("content").and_then(Json::as_str) == Some(content))
                .then(|| a.get("id").and_then(Json::as_u64))
                .flatten()
        })
    };
    // (config key stem, GGUF id key, GGUF add key)
    let kinds: [(&str, Option<&'static str>, Option<&'static str>); 7] = [
        ("bos", Some("bos_token_id"), Some("add_bos_token")),
        ("eos", Some("eos_token_id"), Some("add_eos_token")),
        ("unk", Some("unknown_token_id"), None),
        ("sep", Some("seperator_token_id"), Some("add_sep_token")),
        ("pad", Some("padding_token_id"), None),
        ("cls", None, None),
        ("mask", Some("mask_token_id"), None),
    ];
    let mut ids: Vec<(&str, u64)> = Vec::new();
    let mut set_id = |typ: &'static str, id: Option<u64>| {
        if let Some(id) = id {
            if !ids.iter().any(|(k, _)| *k == typ) {
                ids.push((typ, id));
            }
        }
    };
    if let Some(tc) = &tc {
        t.add_space_prefix = tc.get("add_prefix_space").and_then(Json::as_bool);
        t.chat_template = match tc.get("chat_template") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(Error::format(
                    TOKCFG,
                    "chat_template lists named templates; not supported yet",
                ))
            }
        };
        for (typ, _, add_key) in kinds {
            if let (Some(k), Some(b)) = (
                add_key,
                tc.get(&format!("add_{typ}_token")).and_then(Json::as_bool),
            ) {
                set_default(&mut t.add_special, k, b);
            }
            let content = match typ {
                "bos" => bos_tok.clone(),
                "eos" => eos_tok.clone(),
                _ => json_str(tc.get(&format!("{typ}_token"))).map(str::to_string),
            };
            set_id(typ, content.as_deref().and_then(special_id));
        }
    }
    let cfg = parse_json(config_json, CFG)?;
    for (typ, _, _) in kinds {
        set_id(
            typ,
            cfg.get(&format!("{typ}_token_id")).and_then(Json::as_u64),
        );
    }
    for (typ, id) in ids {
        let key = kinds.iter().find(|k| k.0 == typ).and_then(|k| k.1);
        // The converter writes no id key for cls; ids must fit GGUF's u32.
        if let (Some(key), Ok(id)) = (key, u32::try_from(id)) {
            t.special_ids.push((key, id));
        }
    }
    Ok(t)
}

fn set_default(v: &mut Vec<(&'static str, bool)>, key: &'static str, value: bool) {
    if !v.iter().any(|(k, _)| *k == key) {
        v.push((key, value));
    }
}

/// SpecialVocab's reading of a simple TemplateProcessing: a leading special
/// token that is BOS means add_bos, a trailing one that is EOS add_eos.
fn template_processing(
    p: &Json,
    t: &mut Tokenizer,
    bos: &mut Option<String>,
    eos: &mut Option<String>,
    have_config: bool,
) -> Result<()> {
    let single = p
        .get("single")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    if single.len() <= 1 {
        return Ok(());
    }
    let special = |v: &Json| {
        v.pointer("/SpecialToken/id")
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    if let Some(first) = special(&single[0]) {
        if !have_config || bos.is_none() {
            *bos = Some(first.clone());
        }
        set_or_replace(
            &mut t.add_special,
            "add_bos_token",
            bos.as_deref() == Some(&first),
        );
    }
    if let Some(last) = single.last().and_then(special) {
        if !have_config || eos.is_none() {
            *eos = Some(last.clone());
        } else if eos.as_deref() != Some(&last) {
            return Err(Error::format(
                TOK,
                format!("post_processor ends with {last:?}, not the EOS token: not supported"),
            ));
        }
        set_or_replace(
            &mut t.add_special,
            "add_eos_token",
            eos.as_deref() == Some(&last),
        );
    }
    Ok(())
}

fn set_or_replace(v: &mut Vec<(&'static str, bool)>, key: &'static str, value: bool) {
    match v.iter_mut().find(|(k, _)| *k == key) {
        Some(e) => e.1 = value,
        None => v.push((key, value)),
    }
}

fn parse_normalizer(n: &Json, t: &mut Tokenizer) {
    match n.get("type").and_then(Json::as_str) {
        Some("Lowercase") => t.lowercase = Some(true),
        Some("StripAccents") => t.strip_accents = Some(true),
        Some("BertNormalizer") => {
            if let Some(b) = n.get("lowercase").and_then(Json::as_bool) {
                t.lowercase = Some(b);
            }
            if let Some(b) = n.get("strip_accents").and_then(Json::as_bool) {
                t.strip_accents = Some(b);
            }
        }
        Some("Sequence") => {
            for m in n
                .get("normalizers")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                parse_normalizer(m, t);
            }
        }
        _ => {}
    }
}

/// The converter's does_token_look_special.
fn looks_special(s: &str) -> bool {
    matches!(s, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (s.starts_with("<|") && s.ends_with("|>"))
        || (s.starts_with("<\u{ff5c}") && s.ends_with("\u{ff5c}>"))
        || (s.starts_with("<unused") && s.ends_with('>'))
}

#[cfg(test)]
#[path = "hf_tests.rs"]
pub(crate) mod tests;
