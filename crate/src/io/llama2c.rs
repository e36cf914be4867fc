//! llama2.c checkpoints (Karpathy's legacy format) and their tokenizer files,
//! turned into a GGUF that llama.cpp's `llama` architecture loads.
//!
//! Checkpoint: 7 little-endian i32 (dim, hidden_dim, n_layers, n_heads,
//! n_kv_heads, vocab_size, seq_len), then f32 arrays in a fixed order (see
//! [`Llama2cModel::open`]). A negative vocab_size means the classifier is stored
//! separately at the end instead of being shared with the token embedding.

use std::io::Write;

use crate::error::{Error, Result};
use crate::io::gguf::{self, TensorPlan, Value};
use crate::io::source::{ByteSource, Cursor};
use crate::quant::GgmlType;

const FMT: &str = "llama2.c checkpoint";
const TOK: &str = "llama2.c tokenizer";

/// Token types as llama.cpp's vocab defines them (`llama_token_type`).
pub const TOKEN_NORMAL: i32 = 1;
pub const TOKEN_UNKNOWN: i32 = 2;
pub const TOKEN_CONTROL: i32 = 3;
pub const TOKEN_BYTE: i32 = 6;

/// The checkpoint header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Llama2cConfig {
    pub dim: usize,
    pub hidden_dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub vocab_size: usize,
    pub seq_len: usize,
    /// Classifier shared with the token embedding (positive vocab_size in the file).
    pub shared_classifier: bool,
}

impl Llama2cConfig {
    pub fn head_size(&self) -> usize {
        self.dim / self.n_heads
    }
    pub fn kv_dim(&self) -> usize {
        self.head_size() * self.n_kv_heads
    }
}

/// A tensor inside the checkpoint: GGUF name, ggml dims, f32 offset in the file.
#[derive(Clone, Debug)]
struct Span {
    name: String,
    dims: Vec<u64>,
    offset: u64,
}

impl Span {
    fn n(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// One vocabulary entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub text: String,
    pub score: f32,
    pub kind: i32,
}

/// An opened checkpoint: header parsed, tensor locations known, data not read.
pub struct Llama2cModel<S: ByteSource> {
    source: S,
    pub config: Llama2cConfig,
    spans: Vec<Span>,
}

impl<S: ByteSource> Llama2cModel<S> {
    pub fn open(source: S) -> Result<Self> {
        let mut c = Cursor::new(&source, FMT);
        let mut h = [0i32; 7];
        for v in h.iter_mut() {
            *v = c
                .i32()
                .map_err(|_| Error::format(FMT, "file is shorter than the 28-byte header"))?;
        }
        let names = [
            "dim",
            "hidden_dim",
            "n_layers",
            "n_heads",
            "n_kv_heads",
            "vocab_size",
            "seq_len",
        ];
        // Bound every field so products below cannot overflow and absurd headers
        // fail with the field's name rather than a huge allocation.
        for (i, (&v, name)) in h.iter().zip(names).enumerate() {
            let ok = if i == 5 {
                v != 0 && v != i32::MIN
            } else {
                v > 0
            };
            if !ok || v.unsigned_abs() > 1 << 24 {
                return Err(Error::format(
                    FMT,
                    format!("header field {name} = {v} is not plausible"),
                ));
            }
        }
        let config = Llama2cConfig {
            dim: h[0] as usize,
            hidden_dim: h[1] as usize,
            n_layers: h[2] as usize,
            n_heads: h[3] as usize,
            n_kv_heads: h[4] as usize,
            vocab_size: h[5].unsigned_abs() as usize,
            seq_len: h[6] as usize,
            shared_classifier: h[5] > 0,
        };
        if !config.dim.is_multiple_of(config.n_heads)
            || !config.n_heads.is_multiple_of(config.n_kv_heads)
        {
            return Err(Error::format(
                FMT,
                format!(
                    "dim {} / n_heads {} / n_kv_heads {} do not divide evenly",
                    config.dim, config.n_heads, config.n_kv_heads
                ),
            ));
        }
        if !config.head_size().is_multiple_of(2) {
            return Err(Error::format(FMT, "head size is odd; RoPE needs pairs"));
        }
        // Check the size the header implies before listing tensors, so a
        // header claiming millions of layers costs nothing.
        let expected = expected_len(&config);
        if u128::from(source.len()) != expected {
            return Err(Error::format(
                FMT,
                format!(
                    "file has {} bytes but its header (dim {}, hidden {}, {} layers, vocab {}) implies {expected}: truncated or not a llama2.c checkpoint",
                    source.len(),
                    config.dim,
                    config.hidden_dim,
                    config.n_layers,
                    config.vocab_size
                ),
            ));
        }
        let spans = layout(&config);
        let rope_floats = (config.seq_len * config.head_size()) as u64; // real + imag halves
        let weights_end = spans
            .iter()
            .map(|s| s.offset + 4 * s.n())
            .max()
            .unwrap_or(28);
        let mut expected = weights_end + 4 * rope_floats;
        let mut spans = spans;
        if !config.shared_classifier {
            let (d, v) = (config.dim as u64, config.vocab_size as u64);
            spans.push(Span {
                name: "output.weight".into(),
                dims: vec![d, v],
                offset: expected,
            });
            expected += 4 * d * v;
        }
        debug_assert_eq!(u128::from(expected), expected_len(&config));
        Ok(Llama2cModel {
            source,
            config,
            spans,
        })
    }

    /// Tensor names and ggml dims in GGUF order.
    pub fn tensor_names(&self) -> impl Iterator<Item = (&str, &[u64])> {
        self.spans
            .iter()
            .map(|s| (s.name.as_str(), s.dims.as_slice()))
    }

    /// A tensor's values.
    pub fn tensor_f32(&self, index: usize) -> Result<Vec<f32>> {
        let s = self
            .spans
            .get(index)
            .ok_or_else(|| Error::invalid(format!("no tensor #{index}")))?;
        let bytes = self.source.read_vec(s.offset, 4 * s.n())?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// GGUF metadata for llama.cpp's `llama` architecture.
    pub fn gguf_metadata(
        &self,
        name: &str,
        vocab: &[Token],
        file_type: u32,
    ) -> Vec<(String, Value)> {
        let c = &self.config;
        let s = |v: &str| Value::String(v.to_string());
        let u = |v: usize| Value::U32(v as u32);
        vec![
            ("general.architecture".into(), s("llama")),
            ("general.name".into(), s(name)),
            ("general.file_type".into(), Value::U32(file_type)),
            ("llama.context_length".into(), u(c.seq_len)),
            ("llama.embedding_length".into(), u(c.dim)),
            ("llama.feed_forward_length".into(), u(c.hidden_dim)),
            ("llama.block_count".into(), u(c.n_layers)),
            ("llama.attention.head_count".into(), u(c.n_heads)),
            ("llama.attention.head_count_kv".into(), u(c.n_kv_heads)),
            ("llama.rope.dimension_count".into(), u(c.head_size())),
            ("llama.rope.freq_base".into(), Value::F32(10000.0)),
            (
                "llama.attention.layer_norm_rms_epsilon".into(),
                Value::F32(1e-5),
            ),
            ("llama.vocab_size".into(), u(c.vocab_size)),
            ("tokenizer.ggml.model".into(), s("llama")),
            (
                "tokenizer.ggml.tokens".into(),
                Value::Array(
                    8,
                    vocab
                        .iter()
                        .map(|t| Value::String(t.text.clone()))
                        .collect(),
                ),
            ),
            (
                "tokenizer.ggml.scores".into(),
                Value::Array(6, vocab.iter().map(|t| Value::F32(t.score)).collect()),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                Value::Array(5, vocab.iter().map(|t| Value::I32(t.kind)).collect()),
            ),
            ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
            ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
            ("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)),
        ]
    }

    /// Write the model as GGUF with 2-D weights stored as `ty` (F32, F16 or
    /// BF16); norms stay F32 as llama.cpp keeps them.
    pub fn write_gguf<W: Write>(
        &self,
        out: W,
        name: &str,
        vocab: &[Token],
        ty: GgmlType,
    ) -> Result<()> {
        if vocab.len() != self.config.vocab_size {
            return Err(Error::format(
                TOK,
                format!(
                    "has {} tokens but the checkpoint's vocab_size is {}",
                    vocab.len(),
                    self.config.vocab_size
                ),
            ));
        }
        let file_type = match ty {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::BF16 => 32,
            other => {
                return Err(Error::Unsupported {
                    ty: other.name(),
                    what: "llama2.c conversion (use f32, f16 or bf16, then quantize)",
                })
            }
        };
        let plans: Vec<TensorPlan> = self
            .spans
            .iter()
            .map(|s| TensorPlan {
                name: s.name.clone(),
                dims: s.dims.clone(),
                ty: if s.dims.len() == 1 { GgmlType::F32 } else { ty },
            })
            .collect();
        let md = self.gguf_metadata(name, vocab, file_type);
        gguf::write_gguf(out, &md, &plans, |i| {
            let values = self.tensor_f32(i)?;
            encode_float(plans[i].ty, &values)
        })
    }
}

/// f32 values as F32 / F16 / BF16 little-endian bytes (round to nearest even, as ggml).
pub fn encode_float(ty: GgmlType, values: &[f32]) -> Result<Vec<u8>> {
    Ok(match ty {
        GgmlType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
        GgmlType::BF16 => values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect(),
        other => {
            return Err(Error::Unsupported {
                ty: other.name(),
                what: "plain float encoding",
            })
        }
    })
}

/// Where each weight lives in the checkpoint, with llama.cpp's tensor names.
/// File size in bytes the header implies (u128: the fields are bounded by
/// 2^24, so no product overflows).
fn expected_len(c: &Llama2cConfig) -> u128 {
    let (d, h, v, l) = (
        c.dim as u128,
        c.hidden_dim as u128,
        c.vocab_size as u128,
        c.n_layers as u128,
    );
    let q = (c.n_heads * c.head_size()) as u128;
    let kv = c.kv_dim() as u128;
    let per_layer = d + d * q + 2 * d * kv + q * d + d + 3 * d * h;
    let rope = c.seq_len as u128 * c.head_size() as u128;
    let classifier = if c.shared_classifier { 0 } else { d * v };
    28 + 4 * (d * v + l * per_layer + d + rope + classifier)
}

fn layout(c: &Llama2cConfig) -> Vec<Span> {
    let (d, h, v, l) = (
        c.dim as u64,
        c.hidden_dim as u64,
        c.vocab_size as u64,
        c.n_layers as u64,
    );
    let q = (c.n_heads * c.head_size()) as u64;
    let kv = c.kv_dim() as u64;
    let mut spans = Vec::new();
    let mut off = 28u64;
    // (name pattern, per-layer dims in ggml order: [row length, rows])
    let mut take = |spans: &mut Vec<Span>, name: &str, dims: Vec<u64>, per_layer: bool| {
        let n: u64 = dims.iter().product();
        if per_layer {
            for i in 0..l {
                spans.push(Span {
                    name: format!("blk.{i}.{name}"),
                    dims: dims.clone(),
                    offset: off,
                });
                off += 4 * n;
            }
        } else {
            spans.push(Span {
                name: name.to_string(),
                dims,
                offset: off,
            });
            off += 4 * n;
        }
    };
    take(&mut spans, "token_embd.weight", vec![d, v], false);
    take(&mut spans, "attn_norm.weight", vec![d], true);
    take(&mut spans, "attn_q.weight", vec![d, q], true);
    take(&mut spans, "attn_k.weight", vec![d, kv], true);
    take(&mut spans, "attn_v.weight", vec![d, kv], true);
    take(&mut spans, "attn_output.weight", vec![q, d], true);
    take(&mut spans, "ffn_norm.weight", vec![d], true);
    take(&mut spans, "ffn_gate.weight", vec![d, h], true); // w1
    take(&mut spans, "ffn_down.weight", vec![h, d], true); // w2
    take(&mut spans, "ffn_up.weight", vec![d, h], true); // w3
    take(&mut spans, "output_norm.weight", vec![d], false);
    spans
}

/// Read a llama2.c `tokenizer.bin`: i32 max_token_length, then per token
/// f32 score, i32 length, bytes. Spaces become SentencePiece's '▁' so the GGUF
/// vocabulary reads like llama.cpp's.
pub fn read_tokenizer<S: ByteSource + ?Sized>(src: &S, vocab_size: usize) -> Result<Vec<Token>> {
    let mut c = Cursor::new(src, TOK);
    let max_len = c.i32()?;
    if max_len <= 0 {
        return Err(Error::format(
            TOK,
            format!("max_token_length {max_len} is not positive"),
        ));
    }
    let mut out = Vec::with_capacity(vocab_size.min(1 << 20));
    for i in 0..vocab_size {
        let score = c
            .f32()
            .map_err(|_| Error::format(TOK, format!("truncated at token {i} of {vocab_size}")))?;
        let len = c.i32()?;
        if len < 0 || len > max_len {
            return Err(Error::format(
                TOK,
                format!("token {i} has length {len} (max {max_len})"),
            ));
        }
        let bytes = c.bytes(len as u64)?;
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let (text, kind) = match i {
            0 => ("<unk>".to_string(), TOKEN_UNKNOWN),
            1 => ("<s>".to_string(), TOKEN_CONTROL),
            2 => ("</s>".to_string(), TOKEN_CONTROL),
            _ if is_byte_token(&raw) => (raw, TOKEN_BYTE),
            _ => (raw.replace(' ', "\u{2581}"), TOKEN_NORMAL),
        };
        out.push(Token { text, score, kind });
    }
    if c.remaining() != 0 {
        return Err(Error::format(
            TOK,
            format!(
                "{} bytes left after {vocab_size} tokens: vocab size mismatch",
                c.remaining()
            ),
        ));
    }
    Ok(out)
}

fn is_byte_token(s: &str) -> bool {
    s.len() == 6
        && s.starts_with("<0x")
        && s.ends_with('>')
        && u8::from_str_radix(&s[3..5], 16).is_ok()
}

#[cfg(test)]
mod tests {
    // In wasm the same tests run under wasm-bindgen's runner (Node).
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const CKPT: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/models/stories260K/stories260K.bin"
    ));
    const TOKS: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/models/stories260K/tok512.bin"
    ));

    #[test]
    fn stories260k_header_and_tokenizer() {
        let m = Llama2cModel::open(CKPT).unwrap();
        let c = m.config;
        assert_eq!(
            (
                c.dim,
                c.hidden_dim,
                c.n_layers,
                c.n_heads,
                c.n_kv_heads,
                c.vocab_size,
                c.seq_len
            ),
            (64, 172, 5, 8, 4, 512, 512)
        );
        assert!(c.shared_classifier);
        let n: u64 = m
            .tensor_names()
            .map(|(_, d)| d.iter().product::<u64>())
            .sum();
        assert_eq!(n, 260_032);
        let vocab = read_tokenizer(TOKS, 512).unwrap();
        assert_eq!(vocab[1].text, "<s>");
        assert_eq!(vocab[3].kind, TOKEN_BYTE);
        assert_eq!(vocab[259].text, "\u{2581}t");
    }

    #[test]
    fn converts_to_gguf_with_identical_values() {
        let m = Llama2cModel::open(CKPT).unwrap();
        let vocab = read_tokenizer(TOKS, 512).unwrap();
        let mut out = Vec::new();
        m.write_gguf(&mut out, "stories260K", &vocab, GgmlType::F32)
            .unwrap();
        let g = gguf::GgufFile::open(out.as_slice()).unwrap();
        assert_eq!(g.architecture().unwrap(), "llama");
        assert_eq!(g.tensors.len(), 1 + 9 * 5 + 1);
        let t = g.tensor("blk.4.ffn_down.weight").unwrap();
        assert_eq!(t.dims, vec![172, 64]);
        let idx = m
            .tensor_names()
            .position(|(n, _)| n == "blk.4.ffn_down.weight")
            .unwrap();
        let want: Vec<u8> = m
            .tensor_f32(idx)
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(g.tensor_bytes(t).unwrap(), want);
    }

    #[test]
    fn truncated_and_garbage_checkpoints_are_rejected() {
        for n in [0, 10, 28, 1000, CKPT.len() - 1] {
            let e = Llama2cModel::open(&CKPT[..n])
                .err()
                .expect("must fail")
                .to_string();
            assert!(e.contains("llama2.c"), "{e}");
        }
        let mut bad = CKPT.to_vec();
        bad[0..4].copy_from_slice(&(-5i32).to_le_bytes());
        assert!(Llama2cModel::open(bad.as_slice()).is_err());
        assert!(read_tokenizer(&TOKS[..100], 512).is_err());
        assert!(read_tokenizer(TOKS, 511).is_err());
    }

    #[test]
    fn the_implied_size_is_checked_before_tensors_are_listed() {
        // 2^24 layers (the largest plausible field) in a 28-byte file: an
        // error naming the sizes, without listing 150 million tensors.
        let mut h = CKPT[..28].to_vec();
        h[8..12].copy_from_slice(&(1i32 << 24).to_le_bytes());
        let e = Llama2cModel::open(h.as_slice()).err().expect("must fail");
        assert!(e.to_string().contains("16777216 layers"), "{e}");
        // and the arithmetic agrees with the tensor list on a real file
        let m = Llama2cModel::open(CKPT).unwrap();
        assert_eq!(expected_len(&m.config), CKPT.len() as u128);
    }
}
