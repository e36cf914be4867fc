//! A Llama model's hyperparameters, read from GGUF metadata (`llama.*` keys).

use crate::error::{Error, Result};
use crate::io::gguf::GgufFile;
use crate::io::source::ByteSource;

/// The architectures the runner implements. SmolLM2, TinyLlama and
/// llama2.c's stories models are all GGUF "llama".
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

/// Hyperparameters, named as llama2.c's `Config` where it has them.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Residual stream width (`llama.embedding_length`).
    pub dim: usize,
    /// Feed-forward width (`llama.feed_forward_length`).
    pub hidden_dim: usize,
    /// Transformer blocks (`llama.block_count`).
    pub n_layers: usize,
    /// Query heads (`llama.attention.head_count`).
    pub n_heads: usize,
    /// Key/value heads, fewer than `n_heads` for grouped-query attention.
    pub n_kv_heads: usize,
    /// Tokens in the vocabulary (rows of `token_embd`).
    pub vocab_size: usize,
    /// Context length the model was trained for (`llama.context_length`).
    pub seq_len: usize,
    /// Width of one attention head: `dim / n_heads` unless the file says.
    pub head_dim: usize,
    /// Leading dimensions of each head that RoPE rotates (`llama.rope.dimension_count`).
    pub rope_dim: usize,
    /// RoPE base frequency (`llama.rope.freq_base`, 10000 by default).
    pub rope_theta: f32,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
}

impl Config {
    /// Read and check the hyperparameters. Errors name the architecture if
    /// it is not Llama, or the missing or inconsistent key.
    pub fn from_gguf<S: ByteSource>(g: &GgufFile<S>) -> Result<Config> {
        let arch = g.architecture()?;
        if !SUPPORTED_ARCHITECTURES.contains(&arch) {
            return Err(Error::UnsupportedArchitecture(arch.to_string()));
        }
        let need = |k: &str| -> Result<usize> {
            g.get_u64(&format!("{arch}.{k}"))
                .and_then(|v| usize::try_from(v).ok())
                .filter(|&v| v > 0)
                .ok_or_else(|| Error::Missing(format!("metadata key {arch}.{k}")))
        };
        let float = |k: &str, default: f32| {
            g.get(&format!("{arch}.{k}"))
                .and_then(|v| v.as_f64())
                .map_or(default, |v| v as f32)
        };
        let dim = need("embedding_length")?;
        let n_heads = need("attention.head_count")?;
        let n_kv_heads = g
            .get_u64(&format!("{arch}.attention.head_count_kv"))
            .map_or(Ok(n_heads), |v| usize::try_from(v).map_err(|_| ()))
            .map_err(|()| Error::invalid("head_count_kv does not fit"))?;
        let head_dim = g
            .get_u64(&format!("{arch}.attention.key_length"))
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(dim / n_heads);
        let tok = g
            .tensor("token_embd.weight")
            .ok_or_else(|| Error::Missing("tensor token_embd.weight".into()))?;
        let vocab_size = tok
            .dims
            .get(1)
            .and_then(|&v| usize::try_from(v).ok())
            .ok_or_else(|| Error::format("GGUF", "token_embd.weight is not a matrix"))?;
        let c = Config {
            dim,
            hidden_dim: need("feed_forward_length")?,
            n_layers: need("block_count")?,
            n_heads,
            n_kv_heads,
            vocab_size,
            seq_len: need("context_length")?,
            head_dim,
            rope_dim: g
                .get_u64(&format!("{arch}.rope.dimension_count"))
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(head_dim),
            rope_theta: float("rope.freq_base", 10000.0),
            rms_eps: float("attention.layer_norm_rms_epsilon", 1e-5),
        };
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<()> {
        let bad = |d: String| Err(Error::format("GGUF", d));
        if self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!(
                "{} heads cannot share {} key/value heads",
                self.n_heads, self.n_kv_heads
            ));
        }
        if self.head_dim == 0 || self.rope_dim > self.head_dim || !self.rope_dim.is_multiple_of(2) {
            return bad(format!(
                "head width {} with RoPE over {} dimensions",
                self.head_dim, self.rope_dim
            ));
        }
        Ok(())
    }

    /// Width of all key (or value) heads of one token: `n_kv_heads * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Width of all query heads of one token: `n_heads * head_dim`.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }
}
