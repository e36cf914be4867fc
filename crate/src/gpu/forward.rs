//! The Llama forward pass on the GPU, one token at a time: the same steps as
//! `model::forward` (RMSNorm, RoPE, grouped-query attention over a KV cache,
//! SwiGLU), each a WGSL kernel. Every dispatch is recorded once when the
//! model is loaded; a token is then one step-uniform write, one submission
//! and, when its logits are wanted, one readback.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::context::{gpu_err, GpuContext};
use crate::gpu::kernels::{self, grid, plain_pipeline, GpuMatrix, Op};
use crate::model::config::Config;
use crate::model::forward::rope_table;
use crate::model::weights::{Matrix, Weights};

/// A model's weights, activations and KV cache on the GPU.
pub struct GpuModel {
    ctx: Arc<GpuContext>,
    vocab: usize,
    n_ctx: usize,
    /// (pos, token, pos + 1, 0), written before each token.
    step: wgpu::Buffer,
    logits: wgpu::Buffer,
    staging: wgpu::Buffer,
    ops: Vec<Op>,
    weight_bytes: usize,
}

fn upload(ctx: &GpuContext, m: &Matrix) -> Result<GpuMatrix> {
    GpuMatrix::new(ctx, &m.name, m.ty, m.rows, m.cols, &m.data)
}

/// Anything past u32 cannot be indexed by the kernels.
fn u32_of(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(format!("{what} ({n}) is too large for the GPU")))
}

impl GpuModel {
    /// Upload the weights and record every dispatch of a token. Errors (the
    /// caller may then run on the CPU) for a type the kernels do not read, a
    /// buffer larger than the device allows, or a device that runs out of
    /// memory or rejects a kernel: those are caught in error scopes, where
    /// wgpu would otherwise panic (natively) or log and go on (in browsers).
    pub async fn load(
        ctx: Arc<GpuContext>,
        c: &Config,
        w: &Weights,
        n_ctx: usize,
    ) -> Result<GpuModel> {
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let invalid = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let model = Self::new(ctx.clone(), c, w, n_ctx);
        // Scopes pop in the reverse order of their pushes.
        let invalid = invalid.pop().await;
        let oom = oom.pop().await;
        if let Some(e) = oom {
            return Err(gpu_err(format!(
                "the GPU ran out of memory for the model ({e})"
            )));
        }
        if let Some(e) = invalid {
            return Err(gpu_err(format!("the GPU refused a kernel or buffer ({e})")));
        }
        model
    }

    fn new(ctx: Arc<GpuContext>, c: &Config, w: &Weights, n_ctx: usize) -> Result<GpuModel> {
        let g = &*ctx;
        if !c.head_dim.is_multiple_of(2) {
            return Err(Error::invalid(format!(
                "head width {} is odd; the GPU kernels rotate pairs",
                c.head_dim
            )));
        }
        let (dim, q_dim, kv_dim, hidden) = (c.dim, c.q_dim(), c.kv_dim(), c.hidden_dim);
        u32_of("the KV cache", n_ctx * kv_dim)?;
        u32_of("the attention scores", c.n_heads * n_ctx)?;
        let f32s = |label: &str, v: &[f32]| g.storage_init(label, bytemuck::cast_slice(v));

        let step = g.uniform("step", &[0, 0, 1, 0])?;
        let x = g.storage("x", dim);
        let xb = g.storage("xb", dim);
        let q = g.storage("q", q_dim);
        let k = g.storage("k", kv_dim);
        let v = g.storage("v", kv_dim);
        let att = g.storage("att", c.n_heads * n_ctx);
        let att_out = g.storage("att_out", q_dim);
        let hb = g.storage("hb", hidden);
        let hb2 = g.storage("hb2", hidden);
        let logits = g.storage("logits", c.vocab_size);
        let table = f32s("rope table", &rope_table(c, 0, n_ctx))?;

        let rmsnorm = plain_pipeline(g, "rmsnorm", kernels::RMSNORM);
        let rope = plain_pipeline(g, "rope_store", kernels::ROPE_STORE);
        let attention = plain_pipeline(g, "attention", kernels::ATTENTION);
        let swiglu = plain_pipeline(g, "swiglu", kernels::SWIGLU);
        let norm_params = g.uniform("rmsnorm params", &[dim as u32, c.rms_eps.to_bits()])?;
        let norm = |input: &wgpu::Buffer, weight: &wgpu::Buffer, out: &wgpu::Buffer| {
            Op::new(
                g,
                rmsnorm.clone(),
                &[input, weight, out, &norm_params],
                [1, 1, 1],
            )
        };

        let mut weight_bytes = 0;
        let mut ops = Vec::new();
        let embd = upload(g, &w.token_embd)?;
        weight_bytes += embd.n_bytes();
        ops.extend(embd.get_rows_ops(g, &x, &step)?);

        let rope_params = g.uniform(
            "rope params",
            &[
                q_dim as u32,
                kv_dim as u32,
                c.head_dim as u32,
                c.rope_dim as u32,
                0,
                0,
                0,
                0,
            ],
        )?;
        let att_params = g.uniform(
            "attention params",
            &[
                c.head_dim as u32,
                kv_dim as u32,
                n_ctx as u32,
                (c.n_heads / c.n_kv_heads) as u32,
                0,
                (1.0 / (c.head_dim as f32).sqrt()).to_bits(),
                0,
                0,
            ],
        )?;
        let swiglu_params = g.uniform("swiglu params", &[hidden as u32])?;
        for lw in &w.layers {
            let mut mat = |m: &Matrix| -> Result<GpuMatrix> {
                let gm = upload(g, m)?;
                weight_bytes += gm.n_bytes();
                Ok(gm)
            };
            let (wq, wk, wv, wo) = (mat(&lw.wq)?, mat(&lw.wk)?, mat(&lw.wv)?, mat(&lw.wo)?);
            let (gate, up, down) = (mat(&lw.w_gate)?, mat(&lw.w_up)?, mat(&lw.w_down)?);
            let attn_norm = f32s("attn_norm", &lw.attn_norm)?;
            let ffn_norm = f32s("ffn_norm", &lw.ffn_norm)?;
            let kcache = g.storage("key cache", n_ctx * kv_dim);
            let vcache = g.storage("value cache", n_ctx * kv_dim);

            ops.push(norm(&x, &attn_norm, &xb));
            ops.extend(wq.matvec_ops(g, &xb, &q, false)?);
            ops.extend(wk.matvec_ops(g, &xb, &k, false)?);
            ops.extend(wv.matvec_ops(g, &xb, &v, false)?);
            ops.push(Op::new(
                g,
                rope.clone(),
                &[&q, &k, &v, &kcache, &vcache, &table, &rope_params, &step],
                grid((q_dim.max(kv_dim) / 2).div_ceil(64) as u32),
            ));
            ops.push(Op::new(
                g,
                attention.clone(),
                &[&q, &kcache, &vcache, &att, &att_out, &att_params, &step],
                [c.n_heads as u32, 1, 1],
            ));
            // The residual adds are the products' accumulate mode.
            ops.extend(wo.matvec_ops(g, &att_out, &x, true)?);
            ops.push(norm(&x, &ffn_norm, &xb));
            ops.extend(gate.matvec_ops(g, &xb, &hb, false)?);
            ops.extend(up.matvec_ops(g, &xb, &hb2, false)?);
            ops.push(Op::new(
                g,
                swiglu.clone(),
                &[&hb, &hb2, &swiglu_params],
                grid(hidden.div_ceil(64) as u32),
            ));
            ops.extend(down.matvec_ops(g, &hb, &x, true)?);
        }
        let output_norm = f32s("output_norm", &w.output_norm)?;
        ops.push(norm(&x, &output_norm, &xb));
        let classifier = match &w.output {
            Some(m) => {
                let gm = upload(g, m)?;
                weight_bytes += gm.n_bytes();
                gm
            }
            None => embd,
        };
        ops.extend(classifier.matvec_ops(g, &xb, &logits, false)?);

        Ok(GpuModel {
            staging: g.staging(4 * c.vocab_size as u64),
            vocab: c.vocab_size,
            n_ctx,
            step,
            logits,
            ops,
            weight_bytes,
            ctx,
        })
    }

    /// The context the model runs on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Bytes of weights on the GPU (as stored in the GGUF).
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    /// Run `tokens` at positions `pos..`, as `Transformer::forward`: the
    /// logits of `tokens[logits_from..]` (at least the last token's).
    pub async fn forward(
        &mut self,
        tokens: &[u32],
        pos: usize,
        logits_from: usize,
    ) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::invalid("forward needs at least one token"));
        }
        if pos + tokens.len() > self.n_ctx {
            return Err(Error::ContextOverflow {
                needed: pos + tokens.len(),
                context: self.n_ctx,
            });
        }
        let first = logits_from.min(tokens.len() - 1);
        let mut out = Vec::with_capacity((tokens.len() - first) * self.vocab);
        let g = &*self.ctx;
        for (t, &tok) in tokens.iter().enumerate() {
            if tok as usize >= self.vocab {
                return Err(Error::invalid(format!(
                    "token id {tok} is outside the vocabulary of {}",
                    self.vocab
                )));
            }
            let p = (pos + t) as u32;
            g.queue
                .write_buffer(&self.step, 0, bytemuck::cast_slice(&[p, tok, p + 1, 0]));
            let mut enc = g.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for op in &self.ops {
                    op.encode(&mut pass);
                }
            }
            let want = t >= first;
            if want {
                enc.copy_buffer_to_buffer(&self.logits, 0, &self.staging, 0, 4 * self.vocab as u64);
            }
            g.queue.submit([enc.finish()]);
            if want {
                out.extend(g.read_f32(&self.staging, self.vocab).await?);
            }
        }
        Ok(out)
    }
}
