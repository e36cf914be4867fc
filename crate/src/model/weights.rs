//! The weights of a Llama model, kept packed as stored in the GGUF (any ggml
//! type with a dot product): matrices are multiplied block by block by
//! `quant::dot`, never dequantized whole.

use crate::error::{check_fits, Error, Result};
use crate::io::gguf::{GgufFile, TensorInfo};
use crate::io::source::ByteSource;
use crate::model::config::Config;
use crate::quant::{dot, GgmlType};

/// A row-major matrix of packed ggml blocks.
pub struct Matrix {
    pub name: String,
    pub ty: GgmlType,
    /// Output features.
    pub rows: usize,
    /// Input features (the row length, whole blocks of `ty`).
    pub cols: usize,
    /// (rows, cols) packed: `rows * ty.row_size(cols)` bytes. Replace it
    /// with [`Matrix::replace`] and take it with [`Matrix::take_data`], which
    /// drop the CPU copy made from it.
    pub data: Vec<u8>,
    /// `data` repacked for this CPU's decoding kernels ([`dot::pack`]),
    /// while the model runs on the CPU.
    packed: Option<dot::Packed>,
}

impl Matrix {
    /// `out = self · x` for `n` inputs, rows split over up to `threads`
    /// threads (the same result for any count). `x`: (n, cols), `out`:
    /// (n, rows).
    pub fn matmul(&self, x: &[f32], n: usize, out: &mut [f32], threads: usize) -> Result<()> {
        if self.packed.is_some() {
            let p = dot::prepare(self.ty, x, self.cols, n)?;
            return self.matmul_prepared(&p, out, threads);
        }
        dot::matmul_threads(
            self.ty, &self.data, self.rows, self.cols, x, n, out, threads,
        )
    }

    fn matmul_prepared(&self, p: &dot::Prepared, out: &mut [f32], threads: usize) -> Result<()> {
        dot::matmul_prepared_threads_packed(
            self.ty,
            &self.data,
            self.packed.as_ref(),
            self.rows,
            self.cols,
            p,
            out,
            threads,
        )
    }

    /// A matrix of `rows × cols` values of type `ty` in `data` (checked
    /// when multiplied).
    pub fn new(name: &str, ty: GgmlType, rows: usize, cols: usize, data: Vec<u8>) -> Matrix {
        Matrix {
            name: name.to_string(),
            ty,
            rows,
            cols,
            data,
            packed: None,
        }
    }

    /// New weights of type `ty` (same shape), e.g. after GPTQ.
    pub fn replace(&mut self, ty: GgmlType, data: Vec<u8>) {
        let repack = self.packed.is_some();
        self.ty = ty;
        self.data = data;
        self.packed = None;
        if repack {
            self.pack();
        }
    }

    /// The weights, leaving the matrix empty.
    pub fn take_data(&mut self) -> Vec<u8> {
        self.packed = None;
        std::mem::take(&mut self.data)
    }

    /// Make the CPU's repacked copy where this CPU has kernels for it.
    pub fn pack(&mut self) {
        if self.packed.is_none() {
            self.packed = dot::pack(self.ty, &self.data, self.rows, self.cols);
        }
    }

    /// Drop the CPU's repacked copy (the model moved to the GPU).
    pub fn unpack(&mut self) {
        self.packed = None;
    }

    /// `out_i = m_i · x` for matrices that read the same input `x` (n, cols):
    /// `x` is quantized once per activation type rather than once per matrix.
    ///
    /// For one input on several threads the products' row shares run as one
    /// batch of tasks (one hand-off to the pool instead of one per matrix:
    /// decoding is a few hundred small products per token), each share
    /// computed as the matrix's own split computes it.
    pub fn matmul_many(
        jobs: &mut [(&Matrix, &mut [f32])],
        x: &[f32],
        n: usize,
        threads: usize,
    ) -> Result<()> {
        if n == 1
            && threads > 1
            && jobs.len() > 1
            && jobs.iter().all(|(m, _)| dot::takes_prepared(m.ty))
        {
            return Self::matmul_many_one(jobs, x, threads);
        }
        let mut prepared: Vec<dot::Prepared> = Vec::new();
        for (m, out) in jobs.iter_mut() {
            if !dot::takes_prepared(m.ty) {
                m.matmul(x, n, out, threads)?;
                continue;
            }
            let vt = dot::vec_dot_type(m.ty);
            let i = match prepared.iter().position(|p| p.act_type() == vt) {
                Some(i) => i,
                None => {
                    prepared.push(dot::prepare(m.ty, x, m.cols, n)?);
                    prepared.len() - 1
                }
            };
            m.matmul_prepared(&prepared[i], out, threads)?;
        }
        Ok(())
    }

    /// [`matmul_many`](Self::matmul_many) of one input: every matrix's
    /// shares ([`dot::row_shares`]) in one [`crate::par::map`].
    fn matmul_many_one(
        jobs: &mut [(&Matrix, &mut [f32])],
        x: &[f32],
        threads: usize,
    ) -> Result<()> {
        let mut prepared: Vec<dot::Prepared> = Vec::new();
        let mut which = Vec::with_capacity(jobs.len());
        for (m, _) in jobs.iter() {
            let vt = dot::vec_dot_type(m.ty);
            match prepared.iter().position(|p| p.act_type() == vt) {
                Some(i) => which.push(i),
                None => {
                    prepared.push(dot::prepare(m.ty, x, m.cols, 1)?);
                    which.push(prepared.len() - 1);
                }
            }
        }
        let mut items = Vec::new();
        for ((m, out), &pi) in jobs.iter_mut().zip(&which) {
            let m: &Matrix = m;
            if out.len() != m.rows {
                return Err(Error::invalid(format!(
                    "{}: output of {} values for {} rows",
                    m.name,
                    out.len(),
                    m.rows
                )));
            }
            let mut rest: &mut [f32] = out;
            for (r0, nr) in dot::row_shares(m.rows, m.cols, threads) {
                let (o, tail) = rest.split_at_mut(nr);
                rest = tail;
                items.push((m, pi, r0, o));
            }
        }
        let prepared = &prepared;
        crate::par::map(items, |(m, pi, r0, o)| {
            dot::matmul_prepared_rows(
                m.ty,
                &m.data,
                m.packed.as_ref(),
                m.rows,
                m.cols,
                &prepared[pi],
                r0,
                o,
            )
        })
        .into_iter()
        .collect()
    }

    /// Row `r` as f32 (a token's embedding).
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<()> {
        let rb = self.ty.row_size(self.cols)?;
        let bytes = self.data.get(r * rb..(r + 1) * rb).ok_or_else(|| {
            Error::invalid(format!(
                "{}: row {r} out of range ({} rows)",
                self.name, self.rows
            ))
        })?;
        crate::quant::dequantize_into(self.ty, bytes, self.cols, out)
    }
}

/// One transformer block's weights.
pub struct LayerWeights {
    /// (dim,) RMSNorm gain before attention.
    pub attn_norm: Vec<f32>,
    /// (n_heads * head_dim, dim)
    pub wq: Matrix,
    /// (n_kv_heads * head_dim, dim)
    pub wk: Matrix,
    /// (n_kv_heads * head_dim, dim)
    pub wv: Matrix,
    /// (dim, n_heads * head_dim)
    pub wo: Matrix,
    /// (dim,) RMSNorm gain before the feed-forward.
    pub ffn_norm: Vec<f32>,
    /// (hidden_dim, dim) the SwiGLU gate (llama2.c's w1).
    pub w_gate: Matrix,
    /// (dim, hidden_dim) llama2.c's w2.
    pub w_down: Matrix,
    /// (hidden_dim, dim) llama2.c's w3.
    pub w_up: Matrix,
}

/// All weights.
pub struct Weights {
    /// (vocab_size, dim) token embeddings.
    pub token_embd: Matrix,
    pub layers: Vec<LayerWeights>,
    /// (dim,) final RMSNorm gain.
    pub output_norm: Vec<f32>,
    /// (vocab_size, dim) classifier; `None` when tied to `token_embd`.
    pub output: Option<Matrix>,
}

impl Weights {
    /// Read every tensor the forward pass needs, checking shapes and types.
    pub fn from_gguf<S: ByteSource>(g: &GgufFile<S>, c: &Config) -> Result<Weights> {
        let total: u64 = g.tensors.iter().map(TensorInfo::n_bytes).sum();
        check_fits("the model's weights", total)?;
        let layers = (0..c.n_layers)
            .map(|l| {
                let m = |name: &str, rows, cols| {
                    matrix(g, &format!("blk.{l}.{name}.weight"), rows, cols)
                };
                Ok(LayerWeights {
                    attn_norm: vector(g, &format!("blk.{l}.attn_norm.weight"), c.dim)?,
                    wq: m("attn_q", c.q_dim(), c.dim)?,
                    wk: m("attn_k", c.kv_dim(), c.dim)?,
                    wv: m("attn_v", c.kv_dim(), c.dim)?,
                    wo: m("attn_output", c.dim, c.q_dim())?,
                    ffn_norm: vector(g, &format!("blk.{l}.ffn_norm.weight"), c.dim)?,
                    w_gate: m("ffn_gate", c.hidden_dim, c.dim)?,
                    w_down: m("ffn_down", c.dim, c.hidden_dim)?,
                    w_up: m("ffn_up", c.hidden_dim, c.dim)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = match g.tensor("output.weight") {
            Some(_) => Some(matrix(g, "output.weight", c.vocab_size, c.dim)?),
            None => None,
        };
        Ok(Weights {
            token_embd: matrix(g, "token_embd.weight", c.vocab_size, c.dim)?,
            layers,
            output_norm: vector(g, "output_norm.weight", c.dim)?,
            output,
        })
    }

    fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Matrix> {
        let per_layer = self.layers.iter_mut().flat_map(|l| {
            [
                &mut l.wq,
                &mut l.wk,
                &mut l.wv,
                &mut l.wo,
                &mut l.w_gate,
                &mut l.w_down,
                &mut l.w_up,
            ]
        });
        per_layer
            .chain(std::iter::once(&mut self.token_embd))
            .chain(self.output.as_mut())
    }

    /// Repack every matrix this CPU has decoding kernels for (natively,
    /// the Q4_0, Q5_0 and Q8_0 ones on x86_64; nothing in wasm): one more
    /// copy of those matrices, for decoding several times faster.
    pub fn pack_for_cpu(&mut self) {
        for m in self.matrices_mut() {
            m.pack();
        }
    }

    /// Drop the repacked copies (the model runs on the GPU).
    pub fn unpack(&mut self) {
        for m in self.matrices_mut() {
            m.unpack();
        }
    }

    /// The classifier: `output`, or the embeddings when tied.
    pub fn classifier(&self) -> &Matrix {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

/// A tensor's bytes, with allocation failure reported rather than aborting.
fn read<S: ByteSource>(g: &GgufFile<S>, t: &TensorInfo) -> Result<Vec<u8>> {
    let n = t.n_bytes();
    let too_large = || Error::TooLarge {
        what: format!("tensor {}", t.name),
        bytes: n,
    };
    let len = usize::try_from(n).map_err(|_| too_large())?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| too_large())?;
    v.resize(len, 0);
    g.source().read_at(g.data_offset + t.offset, &mut v)?;
    Ok(v)
}

fn tensor<'a, S: ByteSource>(g: &'a GgufFile<S>, name: &str) -> Result<&'a TensorInfo> {
    g.tensor(name)
        .ok_or_else(|| Error::Missing(format!("tensor {name}")))
}

fn matrix<S: ByteSource>(g: &GgufFile<S>, name: &str, rows: usize, cols: usize) -> Result<Matrix> {
    let t = tensor(g, name)?;
    if t.dims != [cols as u64, rows as u64] {
        return Err(Error::format(
            "GGUF",
            format!("{name} has shape {:?}, expected [{cols}, {rows}]", t.dims),
        ));
    }
    // Fail on load, not mid-generation, for a type without a dot product.
    if dot::vec_dot_type(t.ty) == GgmlType::F32
        && !matches!(t.ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
    {
        return Err(Error::Unsupported {
            ty: t.ty.name(),
            what: "matrix multiplication",
        });
    }
    Ok(Matrix::new(name, t.ty, rows, cols, read(g, t)?))
}

fn vector<S: ByteSource>(g: &GgufFile<S>, name: &str, len: usize) -> Result<Vec<f32>> {
    let t = tensor(g, name)?;
    if t.n_elements() != len as u64 {
        return Err(Error::format(
            "GGUF",
            format!("{name} has shape {:?}, expected [{len}]", t.dims),
        ));
    }
    crate::quant::dequantize(t.ty, &read(g, t)?, len)
}
