//! The Llama forward pass, in the shape of llama2.c's `run.c` (config,
//! weights and state apart), for a batch of consecutive tokens at once so
//! that a prompt or a perplexity chunk reads each weight row once per batch.
//!
//! Numerics follow llama.cpp's graph for arch "llama": RMSNorm summed in
//! f64, RoPE in "normal" mode (adjacent pairs, angles by repeated
//! multiplication as ggml's rope cache), attention scaled by 1/sqrt(head_dim)
//! with a softmax summed in f64, SwiGLU. The KV cache is f32.
//!
//! exp, sin, cos and pow come from the `libm` crate on every target, not
//! std: std calls glibc natively but this same libm in wasm, and the two
//! differ in the last ulp for some inputs (about 1 in 10 for `expf`).
//! Alone that is harmless, but a quantized model rounds its activations to
//! Q8_0/Q8_K, where a 1-ulp change now and then flips a rounding; each flip
//! perturbs a whole row of the next layer and causes more flips, so within
//! a few layers the two runs differ by the full size of the quantization
//! noise (a 1 % perplexity gap on SmolLM2-135M Q8_0 over 126 tokens).
//! One implementation everywhere keeps wasm and native bit-identical.

use crate::error::{check_fits, Error, Result};
use crate::model::config::Config;
use crate::model::vexp::exp_in_place;
use crate::model::weights::{Matrix, Weights};
use libm::{cosf, powf, sinf};

/// Activations and the KV cache.
pub struct State {
    /// (n, dim) the residual stream of the batch's tokens.
    x: Vec<f32>,
    /// (n, dim) RMSNorm output, input to the projections.
    xb: Vec<f32>,
    /// (n, n_heads * head_dim) queries.
    q: Vec<f32>,
    /// (n, kv_dim) keys of the batch, before they go into the cache.
    k: Vec<f32>,
    /// (n, kv_dim) values of the batch.
    v: Vec<f32>,
    /// (n, n_heads * head_dim) attention output, before `wo`.
    att_out: Vec<f32>,
    /// (n, dim) output of `wo` or `w_down`, added to `x`.
    xb2: Vec<f32>,
    /// (n, hidden_dim) gate, then SwiGLU output.
    hb: Vec<f32>,
    /// (n, hidden_dim) up projection.
    hb2: Vec<f32>,
    /// (n_ctx,) attention scores of one head.
    att: Vec<f32>,
    /// (n_layers, n_ctx, kv_dim)
    key_cache: Vec<f32>,
    /// (n_layers, n_ctx, kv_dim)
    value_cache: Vec<f32>,
    /// (n_out, vocab_size) logits of the tokens asked for.
    logits: Vec<f32>,
}

/// A model ready to run: hyperparameters, weights and state.
pub struct Transformer {
    pub config: Config,
    pub weights: Weights,
    state: State,
    /// Positions the KV cache holds (at most `config.seq_len`).
    n_ctx: usize,
    /// When set, tokens run on the GPU (which holds its own copy of the
    /// weights and its own KV cache) instead of the CPU.
    gpu: Option<crate::model::gpu_forward::GpuModel>,
    /// Threads the CPU pass splits its matrices and attention heads over
    /// (results are the same for any count, see `crate::par`).
    threads: usize,
}

/// The key and value caches for `n_ctx` positions, zeroed; a clear error
/// rather than an abort when memory is short.
fn kv_cache(config: &Config, n_ctx: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let cache = (config.n_layers * n_ctx)
        .checked_mul(config.kv_dim())
        .ok_or_else(|| Error::invalid("KV cache size overflows"))?;
    check_fits("the KV cache", 8 * cache as u64)?;
    let alloc = |n: usize| -> Result<Vec<f32>> {
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| Error::TooLarge {
            what: "the KV cache".into(),
            bytes: 4 * n as u64,
        })?;
        v.resize(n, 0.0);
        Ok(v)
    };
    Ok((alloc(cache)?, alloc(cache)?))
}

impl Transformer {
    /// A runner with a KV cache of `n_ctx` positions (capped at the model's
    /// context length).
    pub fn new(config: Config, mut weights: Weights, n_ctx: usize) -> Result<Transformer> {
        weights.pack_for_cpu();
        let n_ctx = n_ctx.clamp(1, config.seq_len);
        let (key_cache, value_cache) = kv_cache(&config, n_ctx)?;
        let state = State {
            x: Vec::new(),
            xb: Vec::new(),
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            att_out: Vec::new(),
            xb2: Vec::new(),
            hb: Vec::new(),
            hb2: Vec::new(),
            att: vec![0.0; n_ctx],
            key_cache,
            value_cache,
            logits: Vec::new(),
        };
        Ok(Transformer {
            config,
            weights,
            state,
            n_ctx,
            gpu: None,
            threads: 1,
        })
    }

    /// Run on the GPU from now on: upload the weights and record the
    /// kernels. On error (a type the kernels do not read, a buffer past the
    /// device's limits) the transformer stays on the CPU. The GPU's KV cache
    /// starts empty, so call this before the first token.
    pub async fn use_gpu(&mut self, ctx: std::sync::Arc<crate::gpu::GpuContext>) -> Result<()> {
        let g =
            crate::model::gpu_forward::GpuModel::load(ctx, &self.config, &self.weights, self.n_ctx)
                .await?;
        self.gpu = Some(g);
        // The GPU keeps its own; the CPU's is never used again.
        self.weights.unpack();
        self.state.key_cache = Vec::new();
        self.state.value_cache = Vec::new();
        Ok(())
    }

    /// Run on the CPU again: drop the GPU's copy of the weights and give the
    /// CPU an empty KV cache (the GPU's held the positions so far), so call
    /// this before a new generation or evaluation.
    pub fn use_cpu(&mut self) -> Result<()> {
        if self.gpu.is_none() {
            return Ok(());
        }
        let (key_cache, value_cache) = kv_cache(&self.config, self.n_ctx)?;
        self.gpu = None;
        self.state.key_cache = key_cache;
        self.state.value_cache = value_cache;
        Ok(())
    }

    /// Where tokens run, in words: "CPU" or "GPU (adapter name, backend)".
    pub fn device(&self) -> String {
        match &self.gpu {
            None => "CPU".to_string(),
            Some(g) => {
                let i = &g.context().info;
                format!("GPU ({}, {})", i.name, i.backend)
            }
        }
    }

    /// Whether tokens run on the GPU.
    pub fn on_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// [`Transformer::forward`] for either device; in the browser the GPU
    /// can only be waited for this way.
    pub async fn forward_async(
        &mut self,
        tokens: &[u32],
        pos: usize,
        logits_from: usize,
    ) -> Result<&[f32]> {
        match self.gpu.as_mut() {
            Some(g) => {
                self.state.logits = g.forward(tokens, pos, logits_from).await?;
                Ok(&self.state.logits)
            }
            None => self.forward_cpu(tokens, pos, logits_from),
        }
    }

    /// Split the CPU pass over up to `threads` threads (at least 1) of the
    /// pool; the logits are bit-identical for every count.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// The threads the CPU pass uses.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Positions the KV cache holds.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Run `tokens` at positions `pos..pos + tokens.len()` (earlier positions
    /// must already be in the cache). Returns the logits of
    /// `tokens[logits_from..]` (at least the last token's):
    /// (n - logits_from, vocab_size).
    ///
    /// On the GPU this blocks until the logits are back; it is native only
    /// (the browser's main loop cannot block: use `forward_async` there).
    pub fn forward(&mut self, tokens: &[u32], pos: usize, logits_from: usize) -> Result<&[f32]> {
        if self.gpu.is_none() {
            return self.forward_cpu(tokens, pos, logits_from);
        }
        #[cfg(not(target_arch = "wasm32"))]
        return pollster::block_on(self.forward_async(tokens, pos, logits_from));
        #[cfg(target_arch = "wasm32")]
        Err(Error::Gpu(
            "in the browser the GPU is waited for with forward_async".into(),
        ))
    }

    fn forward_cpu(&mut self, tokens: &[u32], pos: usize, logits_from: usize) -> Result<&[f32]> {
        self.forward_observed(tokens, pos, logits_from, None)
    }

    /// [`forward`](Self::forward), showing `observer` the input of every
    /// linear layer of the blocks (for importance matrices and GPTQ).
    pub fn forward_observed(
        &mut self,
        tokens: &[u32],
        pos: usize,
        logits_from: usize,
        mut observer: Option<&mut dyn Observer>,
    ) -> Result<&[f32]> {
        if self.gpu.is_some() {
            return Err(Error::Gpu(
                "layer inputs are observed on the CPU: load the model on the CPU for calibration"
                    .into(),
            ));
        }
        let n = tokens.len();
        self.prepare(n, pos)?;
        let dim = self.config.dim;
        for (t, &tok) in tokens.iter().enumerate() {
            self.embed(tok, t)?;
        }
        let rope = rope_table(&self.config, pos, n);
        for l in 0..self.config.n_layers {
            self.layer(l, pos, n, &rope, observer.as_deref_mut())?;
        }

        let c = &self.config;
        let w = &self.weights;
        let s = &mut self.state;
        // Only the tokens whose logits are wanted go through the classifier.
        let first = logits_from.min(n - 1);
        let n_out = n - first;
        let x = &s.x[first * dim..];
        let xb = &mut s.xb[..n_out * dim];
        rmsnorm(xb, x, &w.output_norm, c.rms_eps);
        s.logits.resize(n_out * c.vocab_size, 0.0);
        w.classifier()
            .matmul(xb, n_out, &mut s.logits, self.threads)?;
        Ok(&s.logits)
    }

    /// The input of block 0 for `tokens`: their embeddings, (n, dim).
    pub fn embeddings(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let dim = self.config.dim;
        let mut x = vec![0.0; tokens.len() * dim];
        for (t, &tok) in tokens.iter().enumerate() {
            self.check_token(tok)?;
            self.weights
                .token_embd
                .row(tok as usize, &mut x[t * dim..(t + 1) * dim])?;
        }
        Ok(x)
    }

    /// Run block `l` alone on `x` ((n, dim) at positions `pos..pos + n`,
    /// replaced by the block's output), as GPTQ runs a model block by block.
    /// Block `l`'s KV cache must hold positions `..pos` of the same sequence.
    pub fn forward_layer(
        &mut self,
        l: usize,
        x: &mut [f32],
        pos: usize,
        observer: Option<&mut dyn Observer>,
    ) -> Result<()> {
        let dim = self.config.dim;
        if l >= self.config.n_layers || x.is_empty() || !x.len().is_multiple_of(dim) {
            return Err(Error::invalid(format!(
                "block {l} of {} on {} values (rows of {dim})",
                self.config.n_layers,
                x.len()
            )));
        }
        let n = x.len() / dim;
        self.prepare(n, pos)?;
        self.state.x.copy_from_slice(x);
        let rope = rope_table(&self.config, pos, n);
        self.layer(l, pos, n, &rope, observer)?;
        x.copy_from_slice(&self.state.x);
        Ok(())
    }

    fn check_token(&self, tok: u32) -> Result<()> {
        if tok as usize >= self.config.vocab_size {
            return Err(Error::invalid(format!(
                "token id {tok} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    fn embed(&mut self, tok: u32, t: usize) -> Result<()> {
        self.check_token(tok)?;
        let dim = self.config.dim;
        self.weights
            .token_embd
            .row(tok as usize, &mut self.state.x[t * dim..(t + 1) * dim])
    }

    /// Check a batch of `n` tokens at `pos` fits and size the activations.
    fn prepare(&mut self, n: usize, pos: usize) -> Result<()> {
        let c = &self.config;
        let s = &mut self.state;
        if n == 0 {
            return Err(Error::invalid("forward needs at least one token"));
        }
        if pos + n > self.n_ctx {
            return Err(Error::ContextOverflow {
                needed: pos + n,
                context: self.n_ctx,
            });
        }
        let (dim, kv_dim, q_dim) = (c.dim, c.kv_dim(), c.q_dim());
        s.x.resize(n * dim, 0.0);
        s.xb.resize(n * dim, 0.0);
        s.xb2.resize(n * dim, 0.0);
        s.q.resize(n * q_dim, 0.0);
        s.k.resize(n * kv_dim, 0.0);
        s.v.resize(n * kv_dim, 0.0);
        s.att_out.resize(n * q_dim, 0.0);
        s.hb.resize(n * c.hidden_dim, 0.0);
        s.hb2.resize(n * c.hidden_dim, 0.0);
        Ok(())
    }

    /// Block `l` on the `n` rows of `state.x` at positions `pos..`.
    fn layer(
        &mut self,
        l: usize,
        pos: usize,
        n: usize,
        rope: &[f32],
        mut observer: Option<&mut (dyn Observer + '_)>,
    ) -> Result<()> {
        let c = &self.config;
        let lw = &self.weights.layers[l];
        let s = &mut self.state;
        let threads = self.threads;
        let (kv_dim, q_dim, hd) = (c.kv_dim(), c.q_dim(), c.head_dim);
        let kv_group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut observe = |site: Site, x: &[f32]| match observer.as_deref_mut() {
            Some(o) => o.observe(l, site, x, n),
            None => Ok(()),
        };

        // Attention.
        rmsnorm(&mut s.xb, &s.x, &lw.attn_norm, c.rms_eps);
        observe(Site::AttnIn, &s.xb)?;
        Matrix::matmul_many(
            &mut [(&lw.wq, &mut s.q), (&lw.wk, &mut s.k), (&lw.wv, &mut s.v)],
            &s.xb,
            n,
            threads,
        )?;
        for t in 0..n {
            let table = &rope[t * c.rope_dim..(t + 1) * c.rope_dim];
            for head in s.q[t * q_dim..(t + 1) * q_dim].chunks_exact_mut(hd) {
                apply_rope(head, table);
            }
            for head in s.k[t * kv_dim..(t + 1) * kv_dim].chunks_exact_mut(hd) {
                apply_rope(head, table);
            }
        }
        let layer_off = l * self.n_ctx * kv_dim;
        let at = layer_off + pos * kv_dim;
        s.key_cache[at..at + n * kv_dim].copy_from_slice(&s.k);
        s.value_cache[at..at + n * kv_dim].copy_from_slice(&s.v);
        let keys = &s.key_cache[layer_off..layer_off + self.n_ctx * kv_dim];
        let values = &s.value_cache[layer_off..layer_off + self.n_ctx * kv_dim];

        let shape = AttnShape {
            n_heads: c.n_heads,
            kv_group,
            hd,
            q_dim,
            kv_dim,
            scale,
        };
        attention(
            &shape,
            &s.q,
            keys,
            values,
            &mut s.att,
            &mut s.att_out,
            pos,
            n,
            threads,
        );
        observe(Site::AttnOut, &s.att_out)?;
        lw.wo.matmul(&s.att_out, n, &mut s.xb2, threads)?;
        add(&mut s.x, &s.xb2);

        // Feed-forward: w_down(silu(w_gate x) * w_up x).
        rmsnorm(&mut s.xb, &s.x, &lw.ffn_norm, c.rms_eps);
        observe(Site::FfnIn, &s.xb)?;
        Matrix::matmul_many(
            &mut [(&lw.w_gate, &mut s.hb), (&lw.w_up, &mut s.hb2)],
            &s.xb,
            n,
            threads,
        )?;
        swiglu(&mut s.hb, &s.hb2);
        observe(Site::FfnOut, &s.hb)?;
        lw.w_down.matmul(&s.hb, n, &mut s.xb2, threads)?;
        add(&mut s.x, &s.xb2);
        Ok(())
    }
}

/// Where the forward pass shows a block's linear-layer inputs: projections
/// that read the same input share a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Site {
    /// Normalized residual into `attn_q`, `attn_k`, `attn_v`.
    AttnIn,
    /// Attention output into `attn_output`.
    AttnOut,
    /// Normalized residual into `ffn_gate`, `ffn_up`.
    FfnIn,
    /// SwiGLU output into `ffn_down`.
    FfnOut,
}

impl Site {
    pub const ALL: [Site; 4] = [Site::AttnIn, Site::AttnOut, Site::FfnIn, Site::FfnOut];

    /// The weight tensors reading this input, as GGUF names less `blk.N.`.
    pub fn tensors(self) -> &'static [&'static str] {
        match self {
            Site::AttnIn => &["attn_q.weight", "attn_k.weight", "attn_v.weight"],
            Site::AttnOut => &["attn_output.weight"],
            Site::FfnIn => &["ffn_gate.weight", "ffn_up.weight"],
            Site::FfnOut => &["ffn_down.weight"],
        }
    }
}

/// Sees the linear layers' inputs as the forward pass runs.
pub trait Observer {
    /// `x`: (n, cols), the input of the projections at `site` of block
    /// `layer`. An error stops the forward pass.
    fn observe(&mut self, layer: usize, site: Site, x: &[f32], n: usize) -> Result<()>;
}

/// `out[t] = x[t] / rms(x[t]) * weight` for each row; the mean square is
/// summed in f64 as ggml's `rms_norm`.
fn rmsnorm(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
    let d = weight.len();
    for (o, xi) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
        let sum: f64 = xi.iter().map(|&v| (v * v) as f64).sum();
        let mean = (sum / d as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, &v), &g) in o.iter_mut().zip(xi).zip(weight) {
            *o = v * scale * g;
        }
    }
}

/// cos/sin of each position's angles: (n, rope_dim) as (cos, sin) pairs.
/// ggml builds the angles by repeated multiplication, `theta *= theta_scale`
/// with `theta_scale = base^(-2/rope_dim)`; doing the same keeps parity.
pub(crate) fn rope_table(c: &Config, pos: usize, n: usize) -> Vec<f32> {
    let theta_scale = powf(c.rope_theta, -2.0 / c.rope_dim as f32);
    let mut table = Vec::with_capacity(n * c.rope_dim);
    for t in 0..n {
        let mut theta = (pos + t) as f32;
        for _ in 0..c.rope_dim / 2 {
            table.push(cosf(theta));
            table.push(sinf(theta));
            theta *= theta_scale;
        }
    }
    table
}

/// Rotate adjacent pairs `(x[2i], x[2i+1])` (llama.cpp's "normal" RoPE; the
/// GGUF converters permute Q/K rows for it). Dimensions past the table stay.
fn apply_rope(head: &mut [f32], table: &[f32]) {
    for (pair, cs) in head.chunks_exact_mut(2).zip(table.chunks_exact(2)) {
        let (x0, x1) = (pair[0], pair[1]);
        pair[0] = x0 * cs[0] - x1 * cs[1];
        pair[1] = x0 * cs[1] + x1 * cs[0];
    }
}

/// The sizes attention needs.
struct AttnShape {
    n_heads: usize,
    /// Query heads per KV head.
    kv_group: usize,
    /// Head dimension.
    hd: usize,
    q_dim: usize,
    kv_dim: usize,
    /// 1 / sqrt(hd).
    scale: f32,
}

/// Causal attention of `n` query rows (n, q_dim) at positions `pos..` over
/// the cached keys and values (ctx, kv_dim) into `out` (n, q_dim); `att` is
/// scratch for one row of scores. Each (token, head) pair is computed on
/// its own, so the pairs are split over up to `threads` threads with the
/// same results. On x86_64 with AVX2 the same code is compiled for 8-lane
/// vectors (no FMA: results equal the baseline build's, and wasm's).
#[allow(clippy::too_many_arguments)]
fn attention(
    sh: &AttnShape,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    att: &mut [f32],
    out: &mut [f32],
    pos: usize,
    n: usize,
    threads: usize,
) {
    let units = n * sh.n_heads;
    // A (token, head) pair costs about 2 · context · head_dim multiply-adds.
    let work = units * (pos + n) * 2 * sh.hd;
    let tasks = crate::par::pieces(work, 1 << 17, threads).min(units);
    if tasks <= 1 {
        attention_units(sh, q, keys, values, att, out, pos, 0);
        return;
    }
    let per = units.div_ceil(tasks);
    crate::par::chunks_mut(out, per * sh.hd, |i, out| {
        let mut att = vec![0f32; pos + n];
        attention_units(sh, q, keys, values, &mut att, out, pos, i * per);
    });
}

/// The (token, head) pairs `first..` that `out` holds (`hd` values each,
/// pair `u` being token `u / n_heads`, head `u % n_heads`).
#[allow(clippy::too_many_arguments)]
fn attention_units(
    sh: &AttnShape,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    att: &mut [f32],
    out: &mut [f32],
    pos: usize,
    first: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx2() {
        // SAFETY: AVX2 is present, checked above.
        unsafe { attention_avx2(sh, q, keys, values, att, out, pos, first) };
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return attention_impl(sh, q, keys, values, att, out, pos, first, dot_simd128);
    #[allow(unreachable_code)]
    attention_impl(sh, q, keys, values, att, out, pos, first, dot)
}

/// [`dot`] with its 8 lanes in two simd128 vectors (lanes 0..4, 4..8): the
/// same operations lane by lane and the same final sum, so the same result.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dot_simd128(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::wasm32::*;
    let n = a.len().min(b.len());
    let n8 = n / 8 * 8;
    // SAFETY: every load reads 4 floats inside `a[..n8]` or `b[..n8]`;
    // wasm loads need no alignment.
    let load = |p: &[f32], i: usize| unsafe { v128_load(p[i..i + 4].as_ptr() as *const v128) };
    let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for i in (0..n8).step_by(8) {
        lo = f32x4_add(lo, f32x4_mul(load(a, i), load(b, i)));
        hi = f32x4_add(hi, f32x4_mul(load(a, i + 4), load(b, i + 4)));
    }
    let v = f32x4_add(lo, hi);
    let tail: f32 = a[n8..n].iter().zip(&b[n8..n]).map(|(x, y)| x * y).sum();
    (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
        + f32x4_extract_lane::<2>(v)
        + f32x4_extract_lane::<3>(v)
        + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn attention_avx2(
    sh: &AttnShape,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    att: &mut [f32],
    out: &mut [f32],
    pos: usize,
    first: usize,
) {
    // SAFETY: the caller checked AVX2.
    let dot = |a: &[f32], b: &[f32]| unsafe { dot_avx2(a, b) };
    attention_impl(sh, q, keys, values, att, out, pos, first, dot)
}

/// [`dot`] with its 8 lanes in one AVX register (the compiler does not
/// vectorize the portable loop well): the same operations lane by lane
/// and the same final sum, so the same result.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::x86_64::*;
    let n = a.len().min(b.len());
    let n8 = n / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    for i in (0..n8).step_by(8) {
        let x = _mm256_loadu_ps(a.as_ptr().add(i));
        let y = _mm256_loadu_ps(b.as_ptr().add(i));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(x, y));
    }
    let mut l = [0f32; 8];
    _mm256_storeu_ps(l.as_mut_ptr(), acc);
    let tail: f32 = a[n8..n].iter().zip(&b[n8..n]).map(|(x, y)| x * y).sum();
    (l[0] + l[4]) + (l[1] + l[5]) + (l[2] + l[6]) + (l[3] + l[7]) + tail
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attention_impl(
    sh: &AttnShape,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    att: &mut [f32],
    out: &mut [f32],
    pos: usize,
    first: usize,
    dot: impl Fn(&[f32], &[f32]) -> f32,
) {
    let (hd, q_dim, kv_dim) = (sh.hd, sh.q_dim, sh.kv_dim);
    for (i, out) in out.chunks_exact_mut(hd).enumerate() {
        let (t, h) = ((first + i) / sh.n_heads, (first + i) % sh.n_heads);
        let len = pos + t + 1; // causal: positions 0..=pos+t
        let q = &q[t * q_dim + h * hd..t * q_dim + (h + 1) * hd];
        let kv_off = (h / sh.kv_group) * hd;
        let att = &mut att[..len];
        for (j, a) in att.iter_mut().enumerate() {
            let k = &keys[j * kv_dim + kv_off..j * kv_dim + kv_off + hd];
            *a = dot(q, k) * sh.scale;
        }
        softmax(att);
        // out[d] = Σ_j att[j]·v_j[d], j in order from 0.0: 32 values at a
        // time held in registers over all positions, then the rest.
        let mut chunks = out.chunks_exact_mut(32);
        let mut d0 = kv_off;
        for o in &mut chunks {
            let mut acc = [0f32; 32];
            for (j, &a) in att.iter().enumerate() {
                let v: &[f32; 32] = values[j * kv_dim + d0..][..32]
                    .try_into()
                    .expect("32 values");
                for (s, &vi) in acc.iter_mut().zip(v) {
                    *s += a * vi;
                }
            }
            o.copy_from_slice(&acc);
            d0 += 32;
        }
        let rest = chunks.into_remainder();
        rest.fill(0.0);
        for (j, &a) in att.iter().enumerate() {
            let v = &values[j * kv_dim + d0..][..rest.len()];
            for (o, &vi) in rest.iter_mut().zip(v) {
                *o += a * vi;
            }
        }
    }
}

/// Attention scores: 8 partial sums (vectorizes; ggml's vec_dot also sums
/// in SIMD lanes, so no order is more "right" than another).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + tail
}

/// `g = silu(g) * u`, element by element.
pub(crate) fn swiglu(g: &mut [f32], u: &[f32]) {
    // exp over a chunk at a time (vectorized, bit-identical to `expf`).
    let mut e = [0f32; 64];
    for (g, u) in g.chunks_mut(64).zip(u.chunks(64)) {
        let e = &mut e[..g.len()];
        for (e, g) in e.iter_mut().zip(g.iter()) {
            *e = -*g;
        }
        exp_in_place(e);
        for ((g, &u), &e) in g.iter_mut().zip(u).zip(e.iter()) {
            *g = *g / (1.0 + e) * u;
        }
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// In-place softmax; the normaliser is summed in f64 as ggml's.
#[inline(always)]
pub(crate) fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in x.iter_mut() {
        *v -= max;
    }
    exp_in_place(x);
    let mut sum = 0f64;
    for &v in x.iter() {
        sum += v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The attention this build runs (AVX2, simd128 or portable) has the
    /// bits of the plain loops: head sizes with and without a tail of fewer
    /// than 8 or 32, grouped KV heads, a prompt after cached positions, and
    /// scores wide enough that softmax's exp meets every branch.
    #[test]
    fn attention_fast_paths_equal_the_portable_loop() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        for (n_heads, kv_heads, hd, pos, n, spread) in [
            (9, 3, 64, 37, 5, 1.0),
            (3, 1, 40, 11, 3, 4.0),
            (4, 4, 12, 0, 9, 30.0),
            (2, 1, 3, 6, 2, 200.0),
        ] {
            let (q_dim, kv_dim) = (n_heads * hd, kv_heads * hd);
            let sh = AttnShape {
                n_heads,
                kv_group: n_heads / kv_heads,
                hd,
                q_dim,
                kv_dim,
                scale: 1.0 / (hd as f32).sqrt(),
            };
            let ctx = pos + n;
            let q: Vec<f32> = (0..n * q_dim).map(|_| next() * spread).collect();
            let keys: Vec<f32> = (0..ctx * kv_dim).map(|_| next()).collect();
            let values: Vec<f32> = (0..ctx * kv_dim).map(|_| next()).collect();
            let mut att = vec![0f32; ctx];
            let mut got = vec![0f32; n * q_dim];
            attention_units(&sh, &q, &keys, &values, &mut att, &mut got, pos, 0);
            // The plain loops: portable scores, softmax, then each output
            // value summed over the positions in order.
            let mut want = vec![0f32; n * q_dim];
            for (u, out) in want.chunks_exact_mut(hd).enumerate() {
                let (t, h) = (u / n_heads, u % n_heads);
                let len = pos + t + 1;
                let qh = &q[t * q_dim + h * hd..][..hd];
                let off = (h / sh.kv_group) * hd;
                let mut s: Vec<f32> = (0..len)
                    .map(|j| dot(qh, &keys[j * kv_dim + off..][..hd]) * sh.scale)
                    .collect();
                softmax(&mut s);
                for (j, &a) in s.iter().enumerate() {
                    for (o, &v) in out.iter_mut().zip(&values[j * kv_dim + off..][..hd]) {
                        *o += a * v;
                    }
                }
            }
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "hd {hd} pos {pos} value {i}: {g} vs {w}"
                );
            }
        }
    }
}
