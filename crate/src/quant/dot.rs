//! Dot products straight on packed ggml blocks, as llama.cpp's `vec_dot`
//! functions do them: weights stay packed, activations are quantized on the
//! fly to Q8_0 / Q8_1 / Q8_K ([`vec_dot_type`]).
//!
//! `quant::reference` ports ggml's generic (scalar) `ggml_vec_dot_*_generic`
//! functions exactly. The SIMD paths (x86_64 AVX2, wasm32 simd128) compute
//! the same exact integer sums and then repeat the reference's float
//! operations in the same order (per block, or per `k mod 8` lane for the
//! k-quants), so for the quantized types they are bit-identical to the
//! reference. Only the F32/F16 paths differ: both sum f32 products in f64,
//! the SIMD ones in a different order (see the tests for the bound).
//!
//! On x86_64, Q4_0, Q5_0 and Q8_0 run eight weight rows per vector (`quant::x86::x8`,
//! with VNNI where the CPU has it, AVX2 otherwise): bit-identical to the
//! reference, for one token and for prompts. Prompts (`matmul` of 4 or more
//! inputs) of Q4_K, Q5_K, Q6_K take the tiled
//! kernel of `quant::x86::gemm`: same integer sums, float sums in another order, held
//! to a stated bound in the tests.
//!
//! On wasm32 with simd128, `matmul` of 3 or more inputs of the 32-value
//! formats and Q4_K, Q5_K, Q6_K runs `quant::wasm::batch`: each weight row
//! unpacked once and dotted with four tokens at a time, bit-identical to
//! the reference. Float weights (F32, F16, BF16) take `quant::wasm::float`
//! there: rows converted once, f32 sums, held to a stated bound.
//!
//! Which type has which kernel on which instruction set is the table in
//! `quant::traits`; types without a fast path use the reference.

use crate::error::{Error, Result};
use crate::quant::traits::{traits, VecDot};
use crate::quant::types::GgmlType;

pub use crate::quant::act::{quantize_row_q8_0, quantize_row_q8_1, quantize_row_q8_K};

/// The type activations are converted to before a dot product with
/// weights of type `ty`, as ggml's `type_traits_cpu[ty].vec_dot_type`
/// (see [`TypeTraits::vec_dot_type`](crate::quant::traits::TypeTraits)).
pub fn vec_dot_type(ty: GgmlType) -> GgmlType {
    traits(ty).vec_dot_type
}

/// The fastest kernel for `ty` on this machine, or an error naming the
/// type if it has no dot product.
fn kernel(ty: GgmlType) -> Result<VecDot> {
    traits(ty).fastest_vec_dot().ok_or(Error::Unsupported {
        ty: ty.name(),
        what: "dot product",
    })
}

fn bad_length(ty: GgmlType, detail: String) -> Error {
    Error::BadLength {
        ty: ty.name(),
        block_size: ty.block_size(),
        detail,
    }
}

/// `n` must be whole blocks of `ty`.
fn check_n(ty: GgmlType, n: usize) -> Result<()> {
    let bs = ty.block_size();
    if !n.is_multiple_of(bs) {
        return Err(bad_length(
            ty,
            format!("row length {n} is not a multiple of the block size {bs}"),
        ));
    }
    Ok(())
}

/// Bytes of `n` values of `ty` (`n` already whole blocks); overflow is a
/// length error too.
fn row_bytes(ty: GgmlType, n: usize) -> Result<usize> {
    (n / ty.block_size())
        .checked_mul(ty.type_size())
        .ok_or_else(|| bad_length(ty, format!("a row of {n} values does not fit in memory")))
}

/// Bytes per row of a `rows × cols` matrix of `ty`, after checking that
/// `weights` holds exactly that many rows.
fn check_weights(ty: GgmlType, weights: &[u8], rows: usize, cols: usize) -> Result<usize> {
    let rb = row_bytes(ty, cols)?;
    if Some(weights.len()) != rb.checked_mul(rows) {
        return Err(bad_length(
            ty,
            format!(
                "weights hold {} bytes, {rows} rows of {cols} values need more or fewer",
                weights.len()
            ),
        ));
    }
    Ok(rb)
}

/// Bytes of `n` activations prepared for weights of type `ty`.
pub(crate) fn act_row_size(ty: GgmlType, n: usize) -> Result<usize> {
    match vec_dot_type(ty) {
        GgmlType::F32 => n
            .checked_mul(4)
            .ok_or_else(|| bad_length(ty, format!("{n} activations do not fit in memory"))),
        vt => row_bytes(vt, n)
            .map_err(|_| bad_length(ty, format!("{n} activations do not fit in memory"))),
    }
}

/// Convert activations `x` to what a dot product with `ty` weights reads
/// ([`vec_dot_type`]): Q8_0 / Q8_1 / Q8_K blocks, bit for bit as ggml's
/// `quantize_row_*_ref`, or little-endian f32 for float weights.
///
/// Errors: `ty` without a dot product, `x.len()` not whole blocks of `ty`,
/// a NaN or infinity in `x`.
pub fn quantize_activations(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>> {
    kernel(ty)?;
    check_n(ty, x.len())?;
    let vt = vec_dot_type(ty);
    let mut out = vec![0u8; act_row_size(ty, x.len())?];
    match vt {
        GgmlType::Q8_0 => quantize_row_q8_0(x, &mut out)?,
        GgmlType::Q8_1 => quantize_row_q8_1(x, &mut out)?,
        GgmlType::Q8K => quantize_row_q8_K(x, &mut out)?,
        _ => {
            check_finite(ty, x)?;
            for (o, v) in out.chunks_exact_mut(4).zip(x) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(out)
}

fn check_finite(ty: GgmlType, x: &[f32]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            ty: ty.name(),
            index,
            value: x[index],
        }),
        None => Ok(()),
    }
}

/// Dot product of one row of `n` weights of type `ty` (packed bytes) with
/// `n` activations prepared by [`quantize_activations`], as ggml's
/// `type_traits_cpu[ty].vec_dot`.
///
/// Errors: `ty` without a dot product; `n` not whole blocks; either slice
/// not exactly the size of `n` values.
pub fn vec_dot(ty: GgmlType, weights_row: &[u8], act: &[u8], n: usize) -> Result<f32> {
    let k = kernel(ty)?;
    check_n(ty, n)?;
    let wb = row_bytes(ty, n)?;
    if weights_row.len() != wb {
        return Err(bad_length(
            ty,
            format!(
                "weight row holds {} bytes, {n} values need {wb}",
                weights_row.len()
            ),
        ));
    }
    let ab = act_row_size(ty, n)?;
    if act.len() != ab {
        return Err(bad_length(
            ty,
            format!(
                "activations hold {} bytes, {n} values as {} need {ab}",
                act.len(),
                vec_dot_type(ty)
            ),
        ));
    }
    Ok(match k {
        VecDot::Quant(f) => f(weights_row, act),
        VecDot::Float(f) => match bytemuck::try_cast_slice::<u8, f32>(act) {
            Ok(y) => f(weights_row, y),
            // Unaligned bytes: copy once.
            Err(_) => {
                let y: Vec<f32> = act
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                f(weights_row, &y)
            }
        },
    })
}

/// `out = W x` for a row-major matrix of `rows` rows of `cols` weights of
/// type `ty`: quantizes `x` once, then one [`vec_dot`] per row (the
/// runner's hot loop). Single-threaded.
///
/// Errors: as [`vec_dot`] and [`quantize_activations`], plus `x` not `cols`
/// long or `out` not `rows` long.
pub fn matvec(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    out: &mut [f32],
) -> Result<()> {
    let k = kernel(ty)?;
    check_n(ty, cols)?;
    if x.len() != cols {
        return Err(bad_length(
            ty,
            format!(
                "input holds {} values, the matrix has {cols} columns",
                x.len()
            ),
        ));
    }
    if out.len() != rows {
        return Err(bad_length(
            ty,
            format!(
                "output holds {} values, the matrix has {rows} rows",
                out.len()
            ),
        ));
    }
    let rb = row_bytes(ty, cols)?;
    let total = rb.checked_mul(rows).ok_or_else(|| {
        bad_length(
            ty,
            format!("{rows} rows of {cols} values do not fit in memory"),
        )
    })?;
    if weights.len() != total {
        return Err(bad_length(
            ty,
            format!(
                "weights hold {} bytes, {rows} rows of {cols} values need {total}",
                weights.len()
            ),
        ));
    }
    if rb == 0 {
        out.fill(0.0);
        return Ok(());
    }
    match k {
        VecDot::Quant(f) => {
            let act = quantize_activations(ty, x)?;
            for (o, w) in out.iter_mut().zip(weights.chunks_exact(rb)) {
                *o = f(w, &act);
            }
        }
        VecDot::Float(f) => {
            check_finite(ty, x)?;
            for (o, w) in out.iter_mut().zip(weights.chunks_exact(rb)) {
                *o = f(w, x);
            }
        }
    }
    Ok(())
}

/// The eight-row kernel variant for `ty` on this CPU, if any.
#[cfg(target_arch = "x86_64")]
pub(crate) fn x8_isa(ty: GgmlType) -> Option<crate::quant::x86::x8::Isa> {
    traits(ty)
        .simd()
        .rows8
        .then(crate::quant::x86::x8::Isa::best)
        .flatten()
}

/// Smallest batch that goes through the repacking kernels (`x8`, `gemm`).
#[cfg(target_arch = "x86_64")]
pub(crate) const GEMM_MIN_BATCH: usize = 4;

/// Smallest batch that goes through a [`Simd::matmul`](crate::quant::traits::Simd)
/// kernel (simd128), which works on four tokens at a time: measured in
/// Node, a prompt of 2 tokens took as long as two single-token products,
/// one of 3 was 1.4x faster.
pub(crate) const BATCH_MIN: usize = 3;

/// `out[t] = W x[t]` for `n` inputs at once (a batch of tokens): each input
/// row is quantized once, then every weight row is dotted with all `n`
/// inputs while it is hot in cache (the runner's prompt and perplexity
/// path; `n = 1` is [`matvec`]). `x` is `n × cols`, `out` is `n × rows`,
/// both row-major. Single-threaded.
///
/// Errors: as [`matvec`], with `x` and `out` checked against `n`.
pub fn matmul(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    n: usize,
    out: &mut [f32],
) -> Result<()> {
    let k = kernel(ty)?;
    check_n(ty, cols)?;
    if Some(x.len()) != cols.checked_mul(n) || Some(out.len()) != rows.checked_mul(n) {
        return Err(bad_length(
            ty,
            format!(
                "{n} inputs of {cols} and outputs of {rows} values need {} and {} values, got {} and {}",
                cols.saturating_mul(n),
                rows.saturating_mul(n),
                x.len(),
                out.len()
            ),
        ));
    }
    let rb = check_weights(ty, weights, rows, cols)?;
    if rb == 0 || n == 0 {
        out.fill(0.0);
        return Ok(());
    }
    match k {
        VecDot::Quant(_) => {
            let p = prepare(ty, x, cols, n)?;
            matmul_prepared(ty, weights, rows, cols, &p, out)?;
        }
        VecDot::Float(f) => {
            check_finite(ty, x)?;
            // simd128: each weight row converted once for the whole batch,
            // f32 sums (within the tests' bound of `f`).
            if let Some(m) = traits(ty).simd().fmatmul.filter(|_| n >= BATCH_MIN) {
                m(weights, rows, rb, x, cols, n, out);
                return Ok(());
            }
            for (r, w) in weights.chunks_exact(rb).enumerate() {
                for (t, xi) in x.chunks_exact(cols).enumerate() {
                    out[t * rows + r] = f(w, xi);
                }
            }
        }
    }
    Ok(())
}

/// `n` input rows quantized once to an activation type ([`vec_dot_type`]),
/// for every matrix of a quantized type that reads them (Q, K and V share
/// their input; so do the gate and up projections).
pub struct Prepared {
    vt: GgmlType,
    cols: usize,
    n: usize,
    bytes: Vec<u8>,
}

impl Prepared {
    /// The activation type the rows were quantized to.
    pub fn act_type(&self) -> GgmlType {
        self.vt
    }
}

/// Whether weights of type `ty` read [`Prepared`] inputs (the quantized
/// types with a dot product; float weights read f32).
pub fn takes_prepared(ty: GgmlType) -> bool {
    matches!(kernel(ty), Ok(VecDot::Quant(_)))
}

/// Quantize `n` rows of `cols` inputs for weights of type `ty`.
///
/// Errors: `ty` not [`takes_prepared`]; `cols` not whole blocks; `x` not
/// `n × cols`; a NaN or infinity in `x`.
pub fn prepare(ty: GgmlType, x: &[f32], cols: usize, n: usize) -> Result<Prepared> {
    if !takes_prepared(ty) {
        return Err(Error::Unsupported {
            ty: ty.name(),
            what: "quantized activations",
        });
    }
    check_n(ty, cols)?;
    if Some(x.len()) != cols.checked_mul(n) {
        return Err(bad_length(
            ty,
            format!(
                "{n} inputs of {cols} values need {}, got {}",
                cols.saturating_mul(n),
                x.len()
            ),
        ));
    }
    let ab = act_row_size(ty, cols)?;
    let mut bytes = Vec::with_capacity(ab.saturating_mul(n));
    for xi in x.chunks_exact(cols.max(1)).take(n) {
        bytes.extend_from_slice(&quantize_activations(ty, xi)?);
    }
    Ok(Prepared {
        vt: vec_dot_type(ty),
        cols,
        n,
        bytes,
    })
}

/// A matrix's weights repacked once for this CPU's decoding kernels
/// (x86_64: Q4_0, Q5_0 and Q8_0, eight rows interleaved; see
/// `quant::x86::packed`), used by [`matmul_prepared_threads_packed`] for
/// one to three tokens. The same size as the weights; results stay
/// bit-identical to the reference.
pub struct Packed {
    #[cfg(target_arch = "x86_64")]
    inner: crate::quant::x86::packed::Packed,
    #[cfg(not(target_arch = "x86_64"))]
    _none: core::convert::Infallible,
}

/// `weights` (`rows × cols` of `ty`) repacked for this CPU's decoding
/// kernels, or `None` where there are none for `ty` here (the other paths
/// read the weights as they are).
pub fn pack(ty: GgmlType, weights: &[u8], rows: usize, cols: usize) -> Option<Packed> {
    #[cfg(target_arch = "x86_64")]
    {
        x8_isa(ty)?;
        let rb = check_weights(ty, weights, rows, cols).ok()?;
        crate::quant::x86::packed::Packed::new(ty, weights, rows, rb).map(|inner| Packed { inner })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (ty, weights, rows, cols);
        None
    }
}

/// [`matmul`] on inputs already [`prepare`]d (for `ty` or any type with the
/// same [`vec_dot_type`]): `out` is `n × rows`.
pub fn matmul_prepared(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    p: &Prepared,
    out: &mut [f32],
) -> Result<()> {
    matmul_prepared_with(ty, weights, None, rows, cols, p, out)
}

/// Rows `r0..` of a packed matrix, for a share of its rows.
#[cfg(target_arch = "x86_64")]
type PackedRows<'a> = Option<crate::quant::x86::packed::View<'a>>;
#[cfg(not(target_arch = "x86_64"))]
type PackedRows<'a> = Option<&'a Packed>;

/// The packed rows from `r0` (a multiple of 8) to `r1`, as far as packed.
#[allow(unused_variables)]
fn packed_rows(packed: Option<&Packed>, r0: usize, r1: usize) -> PackedRows<'_> {
    #[cfg(target_arch = "x86_64")]
    return packed.and_then(|p| {
        let g0 = (r0 / 8).min(p.inner.rows() / 8);
        let g1 = (r1 / 8).min(p.inner.rows() / 8);
        (g1 > g0).then(|| p.inner.groups(g0, g1))
    });
    #[cfg(not(target_arch = "x86_64"))]
    None
}

#[allow(clippy::too_many_arguments)]
fn matmul_prepared_with(
    ty: GgmlType,
    weights: &[u8],
    packed: PackedRows,
    rows: usize,
    cols: usize,
    p: &Prepared,
    out: &mut [f32],
) -> Result<()> {
    let f = match kernel(ty)? {
        VecDot::Quant(f) => f,
        VecDot::Float(_) => {
            return Err(Error::Unsupported {
                ty: ty.name(),
                what: "quantized activations",
            })
        }
    };
    check_n(ty, cols)?;
    let n = p.n;
    if p.vt != vec_dot_type(ty) || p.cols != cols || Some(out.len()) != rows.checked_mul(n) {
        return Err(bad_length(
            ty,
            format!(
                "{n} inputs of {} values as {} for a matrix of {cols} columns reading {}, \
                 output of {} values for {rows} rows",
                p.cols,
                p.vt,
                vec_dot_type(ty),
                out.len()
            ),
        ));
    }
    let rb = check_weights(ty, weights, rows, cols)?;
    if rb == 0 || n == 0 {
        out.fill(0.0);
        return Ok(());
    }
    let ab = act_row_size(ty, cols)?;
    let act = &p.bytes;
    // simd128: several tokens per pass over each weight row, bit-identical
    // to `f`. A last tile of one token would cost a whole tile of four:
    // that token takes `f` instead.
    if n >= BATCH_MIN {
        if let Some(m) = traits(ty).simd().matmul {
            let tiled = if n % 4 == 1 { n - 1 } else { n };
            m(
                weights,
                rows,
                rb,
                &act[..tiled * ab],
                ab,
                tiled,
                &mut out[..tiled * rows],
            );
            if tiled < n {
                let a = &act[tiled * ab..n * ab];
                for (o, w) in out[tiled * rows..].iter_mut().zip(weights.chunks_exact(rb)) {
                    *o = f(w, a);
                }
            }
            return Ok(());
        }
    }
    // Batches of a few tokens and more: the tiled kernels; below that,
    // unpacking a weight panel costs more than it saves.
    #[cfg(target_arch = "x86_64")]
    let x8_isa = x8_isa(ty);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = packed;
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = x8_isa.filter(|_| n >= GEMM_MIN_BATCH) {
        // Bit-identical to `f`.
        crate::quant::x86::x8::matmul(isa, ty, weights, rows, cols, rb, act, ab, n, out);
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    if n >= GEMM_MIN_BATCH && traits(ty).simd().gemm {
        // Not bit-identical to `f`, see `gemm`.
        crate::quant::x86::gemm::matmul(
            ty,
            vec_dot_type(ty),
            weights,
            rows,
            cols,
            rb,
            act,
            ab,
            n,
            out,
        );
        return Ok(());
    }
    // Eight rows at a time (bit-identical to `f`), where there is a kernel:
    // on weights packed at load time, else repacked per block.
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if let (Some(isa), Some(v)) = (x8_isa, packed) {
        crate::quant::x86::packed::matvec(isa, v, act, ab, n, rows, out);
        done = v.rows();
    } else if let Some(isa) = x8_isa {
        crate::quant::x86::x8::matvec(isa, ty, weights, rows, cols, rb, act, ab, n, out);
        done = crate::quant::x86::x8::matvec_rows(rows);
    }
    // Four inputs at a time through a multi-row kernel where there is one
    // (bit-identical to `f`), the rest one by one.
    let acts: Vec<&[u8]> = act.chunks_exact(ab).collect();
    let k4 = traits(ty).simd().vec_dot4;
    let groups = if k4.is_some() { n / 4 } else { 0 };
    for (r, w) in weights.chunks_exact(rb).enumerate().skip(done) {
        if let Some(f4) = k4 {
            for g in 0..groups {
                let a = [
                    acts[4 * g],
                    acts[4 * g + 1],
                    acts[4 * g + 2],
                    acts[4 * g + 3],
                ];
                for (k, v) in f4(w, a).into_iter().enumerate() {
                    out[(4 * g + k) * rows + r] = v;
                }
            }
        }
        for (t, a) in acts.iter().enumerate().skip(4 * groups) {
            out[t * rows + r] = f(w, a);
        }
    }
    Ok(())
}

/// Weight rows a thread's share is a multiple of: the x86 `gemm` kernel's
/// panel height, so a share unpacks exactly the panels one thread would.
const ROW_ALIGN: usize = 32;

/// Weights × inputs below which a share is not worth handing to another
/// thread (about 20 µs of work natively).
const MIN_SHARE: usize = 1 << 17;

/// [`matmul`] with the weight rows split over up to `threads` threads of
/// the pool ([`crate::par`]). Every output is computed by the same kernel
/// on the same bytes as with one thread, so the results are bit-identical
/// for any thread count.
#[allow(clippy::too_many_arguments)]
pub fn matmul_threads(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    n: usize,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    if shares(rows, cols, n, threads) <= 1 {
        return matmul(ty, weights, rows, cols, x, n, out);
    }
    if takes_prepared(ty) {
        let p = prepare(ty, x, cols, n)?;
        return matmul_prepared_threads(ty, weights, rows, cols, &p, out, threads);
    }
    split_rows(ty, weights, rows, cols, n, out, threads, |w, _, r, o| {
        matmul(ty, w, r, cols, x, n, o)
    })
}

/// [`matmul_prepared`] with the weight rows split over up to `threads`
/// threads, bit-identical to one thread as [`matmul_threads`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_prepared_threads(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    p: &Prepared,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    matmul_prepared_threads_packed(ty, weights, None, rows, cols, p, out, threads)
}

/// [`matmul_prepared_threads`] reading `packed` (made by [`pack`] from the
/// same weights) where its kernels apply: bit-identical to it.
#[allow(clippy::too_many_arguments)]
pub fn matmul_prepared_threads_packed(
    ty: GgmlType,
    weights: &[u8],
    packed: Option<&Packed>,
    rows: usize,
    cols: usize,
    p: &Prepared,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    if shares(rows, cols, p.n, threads) <= 1 {
        return matmul_prepared_with(
            ty,
            weights,
            packed_rows(packed, 0, rows),
            rows,
            cols,
            p,
            out,
        );
    }
    split_rows(ty, weights, rows, cols, p.n, out, threads, |w, r0, r, o| {
        matmul_prepared_with(ty, w, packed_rows(packed, r0, r0 + r), r, cols, p, o)
    })
}

/// The row shares `(first row, rows)` that [`matmul_prepared_threads_packed`]
/// cuts a product of one input into on `threads` threads (one share when it
/// would not split): for callers that run several products' shares as one
/// batch of tasks.
pub fn row_shares(rows: usize, cols: usize, threads: usize) -> Vec<(usize, usize)> {
    let tasks = shares(rows, cols, 1, threads);
    let per = (rows.div_ceil(tasks.max(1)).div_ceil(ROW_ALIGN) * ROW_ALIGN).max(1);
    (0..rows)
        .step_by(per)
        .map(|r0| (r0, per.min(rows - r0)))
        .collect()
}

/// Rows `r0..r0 + nr` of [`matmul_prepared_threads_packed`] for one
/// prepared input (`p.n == 1`) into `out` (`nr` values), computed as that
/// function's share starting at `r0` computes them (`r0` from
/// [`row_shares`]), so the bits are the same.
#[allow(clippy::too_many_arguments)]
pub fn matmul_prepared_rows(
    ty: GgmlType,
    weights: &[u8],
    packed: Option<&Packed>,
    rows: usize,
    cols: usize,
    p: &Prepared,
    r0: usize,
    out: &mut [f32],
) -> Result<()> {
    let rb = check_weights(ty, weights, rows, cols)?;
    let nr = out.len();
    if p.n != 1 || !r0.is_multiple_of(ROW_ALIGN) || r0.checked_add(nr).is_none_or(|e| e > rows) {
        return Err(bad_length(
            ty,
            format!(
                "rows {r0}..{} of {rows} for {} inputs (one input, shares from row_shares)",
                r0.saturating_add(nr),
                p.n
            ),
        ));
    }
    let w = &weights[r0 * rb..(r0 + nr) * rb];
    matmul_prepared_with(ty, w, packed_rows(packed, r0, r0 + nr), nr, cols, p, out)
}

/// How many threads a `rows × cols` matrix times `n` inputs is split over.
fn shares(rows: usize, cols: usize, n: usize, threads: usize) -> usize {
    let blocks = rows.div_ceil(ROW_ALIGN);
    let work = rows.saturating_mul(cols).saturating_mul(n.max(1));
    crate::par::pieces(work, MIN_SHARE, threads).min(blocks)
}

/// Run `f(weights of the share, its first row, its row count, its (n, rows
/// of the share) output)` on each share of whole `ROW_ALIGN` runs of rows,
/// then place the outputs; the first error wins.
#[allow(clippy::too_many_arguments)]
fn split_rows(
    ty: GgmlType,
    weights: &[u8],
    rows: usize,
    cols: usize,
    n: usize,
    out: &mut [f32],
    threads: usize,
    f: impl Fn(&[u8], usize, usize, &mut [f32]) -> Result<()> + Sync + Send,
) -> Result<()> {
    let rb = check_weights(ty, weights, rows, cols)?;
    if Some(out.len()) != rows.checked_mul(n) {
        return Err(bad_length(
            ty,
            format!(
                "output of {} values for {n} inputs and {rows} rows",
                out.len()
            ),
        ));
    }
    let tasks = shares(rows, cols, n, threads);
    let per = rows.div_ceil(tasks).div_ceil(ROW_ALIGN) * ROW_ALIGN;
    let w_shares: Vec<&[u8]> = weights.chunks(per * rb).collect();
    if n == 1 {
        // One input: each share's outputs are one contiguous run of `out`.
        let items: Vec<_> = w_shares
            .into_iter()
            .zip(out.chunks_mut(per))
            .enumerate()
            .collect();
        return crate::par::map(items, |(s, (w, o))| f(w, s * per, o.len(), o))
            .into_iter()
            .collect();
    }
    let items: Vec<_> = w_shares.into_iter().enumerate().collect();
    let results = crate::par::map(items, |(s, w)| {
        let r = w.len() / rb;
        let mut o = vec![0f32; r * n];
        f(w, s * per, r, &mut o).map(|()| o)
    });
    for (s, res) in results.into_iter().enumerate() {
        let o = res?;
        let r = o.len() / n;
        for (t, src) in o.chunks_exact(r).enumerate() {
            out[t * rows + s * per..t * rows + s * per + r].copy_from_slice(src);
        }
    }
    Ok(())
}
