//! The Llama forward pass on the GPU: the same steps as `model::forward`
//! (RMSNorm, RoPE, grouped-query attention over a KV cache, SwiGLU), each a
//! WGSL kernel of `gpu::kernels`, over this model's config and weights. Every dispatch is recorded once when the model is loaded, in
//! two forms: one token (matrix-vector products), for decoding, and a batch
//! of up to `Batch::cap` tokens (matrix-matrix products, causal attention of
//! the batch's queries over the cache), for prompts. A token, or a batch, is
//! then a few buffer writes, one submission and, when logits are wanted, one
//! readback of just those.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::kernels::{self, grid, plain_pipeline, GpuMatrix, Op};
use crate::gpu::{gpu_err, GpuContext};
use crate::model::config::Config;
use crate::model::forward::rope_table;
use crate::model::weights::{Matrix, Weights};

/// Most tokens a batch takes: enough for the products to read each weight
/// once for many tokens, few enough that the batch's activations stay small.
const BATCH: usize = 64;

/// A model's weights, activations and KV cache on the GPU.
pub struct GpuModel {
    ctx: Arc<GpuContext>,
    vocab: usize,
    dim: usize,
    n_ctx: usize,
    /// (pos, token, pos + 1, 1), written before each token.
    step: wgpu::Buffer,
    /// The token ids of a batch (the first alone for one token).
    ids: wgpu::Buffer,
    logits: wgpu::Buffer,
    staging: wgpu::Buffer,
    ops: Vec<Op>,
    batch: Batch,
    weight_bytes: usize,
}

/// The batched form of the forward pass.
struct Batch {
    /// Most tokens a submission takes.
    cap: usize,
    /// (first position, 0, first position + 1, tokens).
    step: wgpu::Buffer,
    /// (0, 0, 0, tokens whose logits are wanted).
    head_step: wgpu::Buffer,
    /// The residual stream, a row a token.
    x: wgpu::Buffer,
    /// The rows of x whose logits are wanted.
    x_out: wgpu::Buffer,
    logits: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Embedding lookup and the layers, for all the batch's tokens.
    ops: Vec<Op>,
    /// Output norm and classifier, for the rows of x_out.
    head_ops: Vec<Op>,
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

        // The batch's largest buffers (attention scores, logits) must fit a
        // binding.
        let mut cap = BATCH.min(n_ctx).max(1);
        let per_token = (c.n_heads * n_ctx).max(c.vocab_size).max(hidden) as u64 * 4;
        while cap > 1 && cap as u64 * per_token > g.info.max_storage_buffer_binding_size {
            cap /= 2;
        }
        u32_of("the batch's attention scores", cap * c.n_heads * n_ctx)?;
        u32_of("the batch's logits", cap * c.vocab_size)?;

        let step = g.uniform("step", &[0, 0, 1, 1])?;
        let ids = g.storage("ids", cap);
        let bstep = g.uniform("batch step", &[0, 0, 1, 1])?;
        let head_step = g.uniform("head step", &[0, 0, 0, 1])?;
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
        let bx = g.storage("batch x", cap * dim);
        let bxb = g.storage("batch xb", cap * dim);
        let bq = g.storage("batch q", cap * q_dim);
        let bk = g.storage("batch k", cap * kv_dim);
        let bv = g.storage("batch v", cap * kv_dim);
        let batt = g.storage("batch att", cap * c.n_heads * n_ctx);
        let batt_out = g.storage("batch att_out", cap * q_dim);
        let bhb = g.storage("batch hb", cap * hidden);
        let bhb2 = g.storage("batch hb2", cap * hidden);
        let bx_out = g.storage("batch x_out", cap * dim);
        let bxb_out = g.storage("batch xb_out", cap * dim);
        let blogits = g.storage("batch logits", cap * c.vocab_size);
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

        // Per token: one workgroup a row of the batch (z).
        let norm_n = |input: &wgpu::Buffer, weight: &wgpu::Buffer, out: &wgpu::Buffer| {
            norm(input, weight, out).batched(1)
        };

        let mut weight_bytes = 0;
        let mut ops = Vec::new();
        let mut bops = Vec::new();
        let embd = upload(g, &w.token_embd)?;
        weight_bytes += embd.n_bytes();
        ops.extend(embd.get_rows_ops(g, &x, &ids)?);
        bops.extend(embd.get_rows_ops(g, &bx, &ids)?);

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

            bops.push(norm_n(&bx, &attn_norm, &bxb));
            bops.extend(wq.matmul_ops(g, &bxb, &bq, &bstep, false)?);
            bops.extend(wk.matmul_ops(g, &bxb, &bk, &bstep, false)?);
            bops.extend(wv.matmul_ops(g, &bxb, &bv, &bstep, false)?);
            bops.push(
                Op::new(
                    g,
                    rope.clone(),
                    &[
                        &bq,
                        &bk,
                        &bv,
                        &kcache,
                        &vcache,
                        &table,
                        &rope_params,
                        &bstep,
                    ],
                    grid((q_dim.max(kv_dim) / 2).div_ceil(64) as u32),
                )
                .batched(1),
            );
            // Every position is in the cache before any query reads it.
            bops.push(
                Op::new(
                    g,
                    attention.clone(),
                    &[&bq, &kcache, &vcache, &batt, &batt_out, &att_params, &bstep],
                    [c.n_heads as u32, 1, 1],
                )
                .batched(1),
            );
            bops.extend(wo.matmul_ops(g, &batt_out, &bx, &bstep, true)?);
            bops.push(norm_n(&bx, &ffn_norm, &bxb));
            bops.extend(gate.matmul_ops(g, &bxb, &bhb, &bstep, false)?);
            bops.extend(up.matmul_ops(g, &bxb, &bhb2, &bstep, false)?);
            bops.push(
                Op::new(
                    g,
                    swiglu.clone(),
                    &[&bhb, &bhb2, &swiglu_params],
                    grid(hidden.div_ceil(64) as u32),
                )
                .batched(1),
            );
            bops.extend(down.matmul_ops(g, &bhb, &bx, &bstep, true)?);
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
        let mut head_ops = vec![norm_n(&bx_out, &output_norm, &bxb_out)];
        head_ops.extend(classifier.matmul_ops(g, &bxb_out, &blogits, &head_step, false)?);

        Ok(GpuModel {
            staging: g.staging(4 * c.vocab_size as u64),
            vocab: c.vocab_size,
            dim,
            n_ctx,
            step,
            ids,
            logits,
            ops,
            batch: Batch {
                cap,
                step: bstep,
                head_step,
                x: bx,
                x_out: bx_out,
                logits: blogits,
                staging: g.staging(4 * (cap * c.vocab_size) as u64),
                ops: bops,
                head_ops,
            },
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
        if let Some(&tok) = tokens.iter().find(|&&t| t as usize >= self.vocab) {
            return Err(Error::invalid(format!(
                "token id {tok} is outside the vocabulary of {}",
                self.vocab
            )));
        }
        let first = logits_from.min(tokens.len() - 1);
        if tokens.len() == 1 {
            return self.forward_one(tokens[0], pos).await;
        }
        let mut out = Vec::with_capacity((tokens.len() - first) * self.vocab);
        let g = &*self.ctx;
        let b = &self.batch;
        for (c0, chunk) in (0..).step_by(b.cap).zip(tokens.chunks(b.cap)) {
            let n = chunk.len();
            let p = (pos + c0) as u32;
            // The chunk's tokens from `lo` on want logits.
            let lo = first.max(c0);
            let want = (c0 + n).saturating_sub(lo);
            g.queue
                .write_buffer(&self.ids, 0, bytemuck::cast_slice(chunk));
            g.queue
                .write_buffer(&b.step, 0, bytemuck::cast_slice(&[p, 0, p + 1, n as u32]));
            let mut enc = g.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for op in &b.ops {
                    op.encode_n(&mut pass, n as u32);
                }
            }
            if want > 0 {
                g.queue.write_buffer(
                    &b.head_step,
                    0,
                    bytemuck::cast_slice(&[0, 0, 0, want as u32]),
                );
                let row = 4 * self.dim as u64;
                enc.copy_buffer_to_buffer(
                    &b.x,
                    (lo - c0) as u64 * row,
                    &b.x_out,
                    0,
                    want as u64 * row,
                );
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    for op in &b.head_ops {
                        op.encode_n(&mut pass, want as u32);
                    }
                }
                let bytes = 4 * (want * self.vocab) as u64;
                enc.copy_buffer_to_buffer(&b.logits, 0, &b.staging, 0, bytes);
            }
            g.queue.submit([enc.finish()]);
            if want > 0 {
                out.extend(g.read_f32(&b.staging, want * self.vocab).await?);
            }
        }
        Ok(out)
    }

    /// One token through the matrix-vector products: its logits.
    async fn forward_one(&mut self, tok: u32, pos: usize) -> Result<Vec<f32>> {
        let g = &*self.ctx;
        let p = pos as u32;
        g.queue
            .write_buffer(&self.ids, 0, bytemuck::cast_slice(&[tok]));
        g.queue
            .write_buffer(&self.step, 0, bytemuck::cast_slice(&[p, tok, p + 1, 1]));
        let mut enc = g.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for op in &self.ops {
                op.encode(&mut pass);
            }
        }
        enc.copy_buffer_to_buffer(&self.logits, 0, &self.staging, 0, 4 * self.vocab as u64);
        g.queue.submit([enc.finish()]);
        g.read_f32(&self.staging, self.vocab).await
    }
}
