//! WGSL kernels and their dispatches: shader sources (one file per kernel
//! and per ggml type, joined here), matrices uploaded as stored in the GGUF,
//! and recorded dispatches ("ops") that are encoded again for every token.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::context::{gpu_err, GpuContext};
use crate::quant::GgmlType;

const COMMON: &str = include_str!("shaders/common.wgsl");
const MATVEC: &str = include_str!("shaders/matvec.wgsl");
const MATMUL: &str = include_str!("shaders/matmul.wgsl");
const GET_ROWS: &str = include_str!("shaders/get_rows.wgsl");
pub(crate) const RMSNORM: &str = include_str!("shaders/rmsnorm.wgsl");
pub(crate) const ROPE_STORE: &str = include_str!("shaders/rope_store.wgsl");
pub(crate) const ATTENTION: &str = include_str!("shaders/attention.wgsl");
pub(crate) const SWIGLU: &str = include_str!("shaders/swiglu.wgsl");
#[cfg(not(target_arch = "wasm32"))]
const COPY: &str = include_str!("shaders/copy.wgsl");
const KSCALE: &str = include_str!("shaders/types/kscale.wgsl");

/// Most workgroups along one dispatch dimension (WebGPU's default limit).
const MAX_GROUPS: u32 = 65535;

/// Tokens a matmul.wgsl workgroup multiplies (NT there).
pub(crate) const MATMUL_TILE: u32 = 8;

/// The types the GPU kernels read: those marked `gpu` in `quant::traits`.
pub static GPU_TYPES: std::sync::LazyLock<Vec<GgmlType>> = std::sync::LazyLock::new(|| {
    crate::quant::traits::TABLE
        .iter()
        .filter(|t| t.gpu)
        .map(|t| t.ty)
        .collect()
});

/// Each GPU type's `dequant` (32 weights of a row into `W`), by its ggml
/// name, and whether it needs the shared k-quant scale unpacking.
const TYPE_SHADERS: &[(&str, bool, &str)] = &[
    ("f32", false, include_str!("shaders/types/f32.wgsl")),
    ("f16", false, include_str!("shaders/types/f16.wgsl")),
    ("q8_0", false, include_str!("shaders/types/q8_0.wgsl")),
    ("q4_0", false, include_str!("shaders/types/q4_0.wgsl")),
    ("q4_1", false, include_str!("shaders/types/q4_1.wgsl")),
    ("q5_0", false, include_str!("shaders/types/q5_0.wgsl")),
    ("q5_1", false, include_str!("shaders/types/q5_1.wgsl")),
    ("q2_K", false, include_str!("shaders/types/q2_k.wgsl")),
    ("q3_K", false, include_str!("shaders/types/q3_k.wgsl")),
    ("q4_K", true, include_str!("shaders/types/q4_k.wgsl")),
    ("q5_K", true, include_str!("shaders/types/q5_k.wgsl")),
    ("q6_K", false, include_str!("shaders/types/q6_k.wgsl")),
];

/// The type's `dequant` WGSL, or `None` where the GPU does not read it.
fn dequant_source(ty: GgmlType) -> Option<String> {
    if !crate::quant::traits::traits(ty).gpu {
        return None;
    }
    let &(_, kscale, src) = TYPE_SHADERS.iter().find(|(name, ..)| *name == ty.name())?;
    Some(if kscale {
        format!("{KSCALE}\n{src}")
    } else {
        src.to_string()
    })
}

/// Whether the GPU kernels read `ty` (its row in `quant::traits`; a test
/// checks every such type has its shader).
pub fn supports(ty: GgmlType) -> bool {
    crate::quant::traits::traits(ty).gpu
}

fn unsupported(ty: GgmlType) -> Error {
    Error::Unsupported {
        ty: ty.name(),
        what: "the GPU backend",
    }
}

/// One recorded dispatch.
pub(crate) struct Op {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
    /// For a dispatch over a batch of tokens, the tokens a workgroup takes
    /// along z (the z count then follows the batch); 0 for a fixed one.
    per_z: u32,
}

impl Op {
    pub(crate) fn new(
        ctx: &GpuContext,
        pipeline: Arc<wgpu::ComputePipeline>,
        buffers: &[&wgpu::Buffer],
        groups: [u32; 3],
    ) -> Op {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        });
        Op {
            pipeline,
            bind_group,
            groups,
            per_z: 0,
        }
    }

    /// This dispatch over a batch: `per` tokens a workgroup along z.
    pub(crate) fn batched(mut self, per: u32) -> Op {
        self.per_z = per;
        self
    }

    pub(crate) fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.encode_n(pass, 1);
    }

    /// Encode for a batch of `n` tokens (ignored by a fixed dispatch).
    pub(crate) fn encode_n(&self, pass: &mut wgpu::ComputePass<'_>, n: u32) {
        let z = match self.per_z {
            0 => self.groups[2],
            per => n.div_ceil(per),
        };
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], z);
    }
}

/// Workgroups for `n` items, as (x, y) within the per-dimension limit.
pub(crate) fn grid(n: u32) -> [u32; 3] {
    let x = n.clamp(1, MAX_GROUPS);
    [x, n.div_ceil(x).max(1), 1]
}

/// A compute pipeline from a kernel file alone (no type).
pub(crate) fn plain_pipeline(
    ctx: &GpuContext,
    name: &str,
    source: &'static str,
) -> Arc<wgpu::ComputePipeline> {
    ctx.pipeline(name, || source.to_string())
}

fn typed_pipeline(
    ctx: &GpuContext,
    kernel: &str,
    body: &'static str,
    ty: GgmlType,
) -> Result<Arc<wgpu::ComputePipeline>> {
    let deq = dequant_source(ty).ok_or_else(|| unsupported(ty))?;
    Ok(ctx.pipeline(&format!("{kernel}_{}", ty.name()), || {
        format!("{COMMON}\n{deq}\n{body}")
    }))
}

/// Rows of a matrix that share one buffer.
struct Part {
    buf: wgpu::Buffer,
    first_row: usize,
    rows: usize,
}

/// A matrix on the GPU: the GGUF's bytes, split by rows into buffers no
/// larger than a binding may be.
pub struct GpuMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    row_bytes: usize,
    parts: Vec<Part>,
}

impl GpuMatrix {
    /// Upload `rows` rows of `cols` values of type `ty`, packed as in GGUF.
    pub fn new(
        ctx: &GpuContext,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<GpuMatrix> {
        if !supports(ty) {
            return Err(unsupported(ty));
        }
        let row_bytes = ty.row_size(cols)?;
        if data.len() != rows * row_bytes {
            return Err(Error::invalid(format!(
                "{name}: {} bytes for {rows} rows of {row_bytes}",
                data.len()
            )));
        }
        // One word of padding per buffer (see common.wgsl).
        let per_part = (ctx.max_binding.saturating_sub(4) / row_bytes.max(1) as u64) as usize;
        if per_part == 0 {
            return Err(gpu_err(format!(
                "{name}: a row of {row_bytes} bytes is larger than a GPU binding ({} bytes)",
                ctx.max_binding
            )));
        }
        let parts = (0..rows)
            .step_by(per_part)
            .map(|first_row| {
                let n = per_part.min(rows - first_row);
                let bytes = &data[first_row * row_bytes..(first_row + n) * row_bytes];
                Ok(Part {
                    buf: ctx.storage_init(name, bytes)?,
                    first_row,
                    rows: n,
                })
            })
            .collect::<Result<_>>()?;
        Ok(GpuMatrix {
            ty,
            rows,
            cols,
            row_bytes,
            parts,
        })
    }

    /// Buffers the matrix was split into.
    pub fn n_parts(&self) -> usize {
        self.parts.len()
    }

    /// Bytes of weights (the GGUF's, without padding).
    pub fn n_bytes(&self) -> usize {
        self.rows * self.row_bytes
    }

    /// Dispatches for `y (+)= self · x`, adding to `y` with `accumulate`.
    pub(crate) fn matvec_ops(
        &self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        accumulate: bool,
    ) -> Result<Vec<Op>> {
        self.part_ops(ctx, ("matvec", MATVEC), x, y, None, accumulate)
    }

    /// Dispatches for `y[t] (+)= self · x[t]` for the `step.n` tokens of a
    /// batch (x and y hold them one after another), adding to y with
    /// `accumulate`.
    pub(crate) fn matmul_ops(
        &self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        step: &wgpu::Buffer,
        accumulate: bool,
    ) -> Result<Vec<Op>> {
        let ops = self.part_ops(ctx, ("matmul", MATMUL), x, y, Some(step), accumulate)?;
        Ok(ops.into_iter().map(|op| op.batched(MATMUL_TILE)).collect())
    }

    /// One dispatch per stored part of the matrix for the matvec or matmul
    /// kernel (both take 4 rows a workgroup and the same parameters; matmul
    /// also binds the batch's `step` and needs the whole matrix's rows to
    /// find each token's output row).
    fn part_ops(
        &self,
        ctx: &GpuContext,
        (name, source): (&str, &'static str),
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        step: Option<&wgpu::Buffer>,
        accumulate: bool,
    ) -> Result<Vec<Op>> {
        let pipeline = typed_pipeline(ctx, name, source, self.ty)?;
        // Rows per workgroup, as RPW in matvec.wgsl and matmul.wgsl.
        const RPW: u32 = 4;
        self.parts
            .iter()
            .map(|part| {
                let groups = grid((part.rows as u32).div_ceil(RPW));
                let params = ctx.uniform(
                    &format!("{name} params"),
                    &[
                        part.rows as u32,
                        self.cols as u32,
                        self.row_bytes as u32,
                        part.first_row as u32,
                        accumulate as u32,
                        groups[0],
                        if step.is_some() { self.rows as u32 } else { 0 },
                        0,
                    ],
                )?;
                let mut bindings = vec![&part.buf, x, y, &params];
                bindings.extend(step);
                Ok(Op::new(ctx, pipeline.clone(), &bindings, groups))
            })
            .collect()
    }

    /// Dispatches writing row `ids[t]` into row t of `out` as f32, for each
    /// token t of the batch.
    pub(crate) fn get_rows_ops(
        &self,
        ctx: &GpuContext,
        out: &wgpu::Buffer,
        ids: &wgpu::Buffer,
    ) -> Result<Vec<Op>> {
        let pipeline = typed_pipeline(ctx, "get_rows", GET_ROWS, self.ty)?;
        self.parts
            .iter()
            .map(|part| {
                let params = ctx.uniform(
                    "get_rows params",
                    &[
                        part.rows as u32,
                        self.cols as u32,
                        self.row_bytes as u32,
                        part.first_row as u32,
                    ],
                )?;
                Ok(Op::new(
                    ctx,
                    pipeline.clone(),
                    &[&part.buf, out, &params, ids],
                    [1, 1, 1],
                )
                .batched(1))
            })
            .collect()
    }
}

/// A matrix-vector product ready to run again and again with buffers kept:
/// for tests and benchmarks of the kernels alone.
pub struct MatVec {
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    staging: wgpu::Buffer,
    ops: Vec<Op>,
    rows: usize,
    cols: usize,
}

impl MatVec {
    pub fn new(ctx: &GpuContext, m: &GpuMatrix) -> Result<MatVec> {
        let x = ctx.storage("x", m.cols);
        let y = ctx.storage("y", m.rows);
        let ops = m.matvec_ops(ctx, &x, &y, false)?;
        Ok(MatVec {
            staging: ctx.staging(4 * m.rows as u64),
            x,
            y,
            ops,
            rows: m.rows,
            cols: m.cols,
        })
    }

    /// `m · x`.
    pub async fn run(&self, ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>> {
        if x.len() != self.cols {
            return Err(Error::invalid(format!(
                "matvec: {} inputs for {} columns",
                x.len(),
                self.cols
            )));
        }
        ctx.queue.write_buffer(&self.x, 0, bytemuck::cast_slice(x));
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for op in &self.ops {
                op.encode(&mut pass);
            }
        }
        enc.copy_buffer_to_buffer(&self.y, 0, &self.staging, 0, 4 * self.rows as u64);
        ctx.queue.submit([enc.finish()]);
        ctx.read_f32(&self.staging, self.rows).await
    }

    /// Submit the product `reps` times on the current input and wait: for
    /// timing the kernel without readback.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn repeat(&self, ctx: &GpuContext, reps: usize) -> Result<()> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..reps {
                for op in &self.ops {
                    op.encode(&mut pass);
                }
            }
        }
        ctx.queue.submit([enc.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| gpu_err(format!("waiting for the GPU failed ({e})")))?;
        Ok(())
    }
}

/// A matrix-matrix product (the matrix times a batch of up to `max_tokens`
/// inputs) ready to run again and again: for tests and benchmarks.
pub struct MatMul {
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    step: wgpu::Buffer,
    staging: wgpu::Buffer,
    ops: Vec<Op>,
    rows: usize,
    cols: usize,
    max_tokens: usize,
}

impl MatMul {
    pub fn new(ctx: &GpuContext, m: &GpuMatrix, max_tokens: usize) -> Result<MatMul> {
        let x = ctx.storage("x", max_tokens * m.cols);
        let y = ctx.storage("y", max_tokens * m.rows);
        let step = ctx.uniform("step", &[0, 0, 0, max_tokens as u32])?;
        let ops = m.matmul_ops(ctx, &x, &y, &step, false)?;
        Ok(MatMul {
            staging: ctx.staging(4 * (max_tokens * m.rows) as u64),
            x,
            y,
            step,
            ops,
            rows: m.rows,
            cols: m.cols,
            max_tokens,
        })
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n: usize) {
        for op in &self.ops {
            op.encode_n(pass, n as u32);
        }
    }

    /// `m · x[t]` for the tokens of `x` (`n` rows of `cols`, one after
    /// another), as `n` rows of `rows`.
    pub async fn run(&self, ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>> {
        let n = x.len() / self.cols.max(1);
        if n == 0 || n > self.max_tokens || x.len() != n * self.cols {
            return Err(Error::invalid(format!(
                "matmul: {} inputs are not 1 to {} rows of {}",
                x.len(),
                self.max_tokens,
                self.cols
            )));
        }
        ctx.queue.write_buffer(&self.x, 0, bytemuck::cast_slice(x));
        ctx.queue
            .write_buffer(&self.step, 0, bytemuck::cast_slice(&[0u32, 0, 0, n as u32]));
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            self.encode(&mut pass, n);
        }
        let bytes = 4 * (n * self.rows) as u64;
        enc.copy_buffer_to_buffer(&self.y, 0, &self.staging, 0, bytes);
        ctx.queue.submit([enc.finish()]);
        ctx.read_f32(&self.staging, n * self.rows).await
    }

    /// Submit the product over all `max_tokens` inputs `reps` times and
    /// wait: for timing the kernel without readback.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn repeat(&self, ctx: &GpuContext, reps: usize) -> Result<()> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..reps {
                self.encode(&mut pass, self.max_tokens);
            }
        }
        ctx.queue.submit([enc.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| gpu_err(format!("waiting for the GPU failed ({e})")))?;
        Ok(())
    }
}

/// A buffer-to-buffer copy through a kernel: the bandwidth reference.
#[cfg(not(target_arch = "wasm32"))]
pub struct CopyKernel {
    op: Op,
}

#[cfg(not(target_arch = "wasm32"))]
impl CopyKernel {
    /// Copy `bytes` (a multiple of 4) from one fresh buffer to another.
    pub fn new(ctx: &GpuContext, bytes: usize) -> Result<CopyKernel> {
        let n = (bytes / 4) as u32;
        let src = ctx.storage("copy src", n as usize);
        let dst = ctx.storage("copy dst", n as usize);
        let groups = grid(n.div_ceil(64));
        let params = ctx.uniform("copy params", &[n, groups[0]])?;
        let op = Op::new(
            ctx,
            plain_pipeline(ctx, "copy", COPY),
            &[&src, &dst, &params],
            groups,
        );
        Ok(CopyKernel { op })
    }

    pub fn repeat(&self, ctx: &GpuContext, reps: usize) -> Result<()> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..reps {
                self.op.encode(&mut pass);
            }
        }
        ctx.queue.submit([enc.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| gpu_err(format!("waiting for the GPU failed ({e})")))?;
        Ok(())
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn every_gpu_type_has_its_shader_and_no_other() {
        for t in &crate::quant::traits::TABLE {
            let shader = TYPE_SHADERS.iter().any(|(name, ..)| *name == t.name);
            assert_eq!(shader, t.gpu, "{}", t.name);
        }
    }
}
