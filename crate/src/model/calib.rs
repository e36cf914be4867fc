//! Calibration: running a model over text to see its linear layers' inputs,
//! for llama.cpp's importance matrix ([`ImatrixJob`]) and for GPTQ
//! ([`GptqJob`]).
//!
//! The text is cut as `llama-imatrix` cuts it: tokenized once (BOS first if
//! the model adds one), chunks of `n_ctx` tokens, each run from an empty KV
//! cache with its first token replaced by BOS. Both jobs run the model one
//! block at a time over a chunk ([`Transformer::forward_layer`]), so each
//! step is short enough for a Web Worker to report progress and honour a
//! cancel between steps.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::imatrix::{ImatrixData, ImatrixEntry};
use crate::model::forward::{Observer, Site, Transformer};
use crate::model::tokenizer::Tokenizer;
use crate::model::weights::Matrix;
use crate::quant::gptq::{self, GptqOptions, Hessian};
use crate::quant::{blocks, GgmlType};

/// llama-imatrix counts only matrix products of at least this many tokens.
pub const MIN_BATCH: usize = 16;

/// Calibration text cut into chunks of tokens.
pub struct Calibration {
    tokens: Vec<u32>,
    n_ctx: usize,
    n_chunks: usize,
    bos: Option<u32>,
}

impl Calibration {
    /// Tokenize `text` into chunks of `n_ctx` tokens (at most `max_chunks`).
    pub fn new(
        tokenizer: &Tokenizer,
        text: &str,
        n_ctx: usize,
        model_ctx: usize,
        max_chunks: Option<usize>,
    ) -> Result<Calibration> {
        if text.trim().is_empty() {
            return Err(Error::invalid("no calibration text"));
        }
        if n_ctx < MIN_BATCH {
            return Err(Error::invalid(format!(
                "a calibration context of {n_ctx} tokens is too short: llama-imatrix counts \
                 only batches of {MIN_BATCH} tokens or more"
            )));
        }
        if n_ctx > model_ctx {
            return Err(Error::ContextOverflow {
                needed: n_ctx,
                context: model_ctx,
            });
        }
        if max_chunks == Some(0) {
            return Err(Error::invalid("calibration on 0 chunks"));
        }
        let mut tokens = tokenizer.encode(text, true, false);
        let n_chunks = (tokens.len() / n_ctx).min(max_chunks.unwrap_or(usize::MAX));
        if n_chunks == 0 {
            return Err(Error::invalid(format!(
                "the calibration text has {} tokens, fewer than one chunk of {n_ctx}",
                tokens.len()
            )));
        }
        tokens.truncate(n_chunks * n_ctx);
        Ok(Calibration {
            tokens,
            n_ctx,
            n_chunks,
            bos: if tokenizer.add_bos {
                tokenizer.bos
            } else {
                None
            },
        })
    }

    pub fn n_chunks(&self) -> usize {
        self.n_chunks
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Chunk `i`'s tokens, its first replaced by BOS when the model adds one.
    pub fn chunk(&self, i: usize) -> Vec<u32> {
        let mut c = self.tokens[i * self.n_ctx..(i + 1) * self.n_ctx].to_vec();
        if let Some(b) = self.bos {
            c[0] = b;
        }
        c
    }
}

/// Sums of squared inputs per block and site, as llama-imatrix collects them
/// (in f32, token by token, in the same order).
struct SquareSums {
    sums: Vec<[Vec<f32>; 4]>,
    counts: Vec<[u64; 4]>,
}

impl Observer for SquareSums {
    fn observe(&mut self, layer: usize, site: Site, x: &[f32], n: usize) -> Result<()> {
        if n < MIN_BATCH {
            return Ok(());
        }
        let s = site as usize;
        let acc = &mut self.sums[layer][s];
        let cols = x.len() / n;
        if acc.is_empty() {
            acc.resize(cols, 0.0);
        }
        for row in x.chunks_exact(cols) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v * v;
            }
        }
        if let Some(i) = acc.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "non-finite activations at block {layer} ({:?}, column {i})",
                site
            )));
        }
        self.counts[layer][s] += n as u64;
        Ok(())
    }
}

/// Progress of a calibration job.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalibProgress {
    pub done: usize,
    pub total: usize,
    /// The block the last step worked on, of `layers`.
    pub layer: usize,
    pub layers: usize,
    /// Steps of that block done (with the last step) and in all, for a
    /// progress bar per block.
    pub layer_done: usize,
    pub layer_total: usize,
    /// The chunk the last step worked on (when it ran the model).
    pub chunk: Option<usize>,
    /// What the last step did.
    pub what: String,
}

/// Computing an importance matrix, one block of one chunk per step.
pub struct ImatrixJob {
    calib: Calibration,
    sums: SquareSums,
    /// The current chunk's hidden states, (n_ctx, dim).
    x: Vec<f32>,
    chunk: usize,
    layer: usize,
    n_layers: usize,
    dataset: String,
}

impl ImatrixJob {
    /// `dataset` names the text in the file (`imatrix.datasets`).
    pub fn new(calib: Calibration, n_layers: usize, dataset: &str) -> ImatrixJob {
        ImatrixJob {
            calib,
            sums: SquareSums {
                sums: (0..n_layers).map(|_| Default::default()).collect(),
                counts: vec![[0; 4]; n_layers],
            },
            x: Vec::new(),
            chunk: 0,
            layer: 0,
            n_layers,
            dataset: dataset.to_string(),
        }
    }

    /// Steps done and in all.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.chunk * self.n_layers + self.layer,
            self.calib.n_chunks * self.n_layers,
        )
    }

    pub fn is_done(&self) -> bool {
        self.chunk == self.calib.n_chunks
    }

    /// Run the next block of the current chunk; `false` when all are done.
    pub fn step(&mut self, t: &mut Transformer) -> Result<bool> {
        if self.is_done() {
            return Ok(false);
        }
        if t.config.n_layers != self.n_layers || t.n_ctx() < self.calib.n_ctx {
            return Err(Error::invalid(
                "the imatrix job was planned for another model or context",
            ));
        }
        if self.layer == 0 {
            self.x = t.embeddings(&self.calib.chunk(self.chunk))?;
        }
        t.forward_layer(self.layer, &mut self.x, 0, Some(&mut self.sums))?;
        self.layer += 1;
        if self.layer == self.n_layers {
            self.layer = 0;
            self.chunk += 1;
        }
        Ok(!self.is_done())
    }

    /// The importance matrix so far (every chunk once [`is_done`](Self::is_done)).
    pub fn result(&self) -> ImatrixData {
        let mut entries = std::collections::BTreeMap::new();
        for (l, (sums, counts)) in self.sums.sums.iter().zip(&self.sums.counts).enumerate() {
            for site in Site::ALL {
                let s = site as usize;
                if counts[s] == 0 {
                    continue;
                }
                for t in site.tensors() {
                    entries.insert(
                        format!("blk.{l}.{t}"),
                        ImatrixEntry {
                            sums: sums[s].clone(),
                            counts: vec![counts[s] as f32],
                        },
                    );
                }
            }
        }
        ImatrixData {
            entries,
            // llama-imatrix: chunks completed, by the tokens counted
            chunk_count: self.chunk as u32,
            chunk_size: self.calib.n_ctx as u32,
            datasets: vec![self.dataset.clone()],
        }
    }
}

/// Hessians of one block's sites (`None` where nothing there is GPTQ'd).
struct Hessians([Option<Hessian>; 4]);

impl Observer for Hessians {
    fn observe(&mut self, _layer: usize, site: Site, x: &[f32], _n: usize) -> Result<()> {
        match &mut self.0[site as usize] {
            Some(h) => h.add(x),
            None => Ok(()),
        }
    }
}

/// One matrix GPTQ quantized.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GptqReport {
    pub name: String,
    pub to: String,
    pub rows: usize,
    pub cols: usize,
    /// Calibration tokens behind its Hessian.
    pub tokens: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Run chunk `c` through the block with its original weights,
    /// accumulating the Hessians.
    Collect(usize),
    /// Quantize the matrices of site `s`.
    Quantize(usize),
    /// Run chunk `c` through the quantized block: the next block's input.
    Propagate(usize),
}

/// GPTQ over a whole model, block by block as the paper does: each block's
/// Hessians come from the output of the blocks before it, already
/// quantized. Memory: one block's Hessians and each chunk's hidden states
/// (`n_chunks * n_ctx * dim` floats) besides the model.
pub struct GptqJob {
    calib: Calibration,
    /// Per chunk, the current block's input, (n_ctx, dim).
    hidden: Vec<Vec<f32>>,
    /// GPTQ targets by tensor name.
    targets: HashMap<String, GgmlType>,
    opts: GptqOptions,
    layer: usize,
    n_layers: usize,
    phase: Phase,
    hessians: Option<Hessians>,
    reports: Vec<GptqReport>,
    done: usize,
}

impl GptqJob {
    /// `targets`: the block matrices to quantize (`blk.N.attn_q.weight` ->
    /// type); every other tensor is left alone.
    pub fn new(
        t: &mut Transformer,
        calib: Calibration,
        targets: HashMap<String, GgmlType>,
        opts: GptqOptions,
    ) -> Result<GptqJob> {
        if t.n_ctx() < calib.n_ctx {
            return Err(Error::ContextOverflow {
                needed: calib.n_ctx,
                context: t.n_ctx(),
            });
        }
        if targets.is_empty() {
            return Err(Error::invalid("GPTQ has no tensors to quantize"));
        }
        opts.check()?;
        let names = matrix_names(t.config.n_layers);
        for (name, ty) in &targets {
            if !names.contains(name) {
                return Err(Error::invalid(format!(
                    "GPTQ quantizes block projections; {name} is not one"
                )));
            }
            if !gptq::supported(*ty) {
                return Err(Error::Unsupported {
                    ty: ty.name(),
                    what: "GPTQ",
                });
            }
            // Refuse a row the type cannot hold now, not after calibrating.
            let short = name.splitn(3, '.').nth(2).unwrap_or_default();
            let site = Site::ALL.into_iter().find(|s| s.tensors().contains(&short));
            let cols = site.map_or(0, |s| site_cols(&t.config, s));
            if !cols.is_multiple_of(ty.block_size()) {
                return Err(Error::BadLength {
                    ty: ty.name(),
                    block_size: ty.block_size(),
                    detail: format!("GPTQ: {name} has rows of {cols}"),
                });
            }
        }
        let hidden = (0..calib.n_chunks)
            .map(|c| t.embeddings(&calib.chunk(c)))
            .collect::<Result<Vec<_>>>()?;
        Ok(GptqJob {
            calib,
            hidden,
            targets,
            opts,
            layer: 0,
            n_layers: t.config.n_layers,
            phase: Phase::Collect(0),
            hessians: None,
            reports: Vec::new(),
            done: 0,
        })
    }

    /// Steps done and in all (per block: each chunk twice, four sites).
    pub fn progress(&self) -> (usize, usize) {
        let per_layer = 2 * self.calib.n_chunks + 4;
        (self.done, self.n_layers * per_layer - self.calib.n_chunks)
    }

    /// The block the next step works on.
    pub fn layer(&self) -> usize {
        self.layer
    }

    pub fn is_done(&self) -> bool {
        self.layer == self.n_layers
    }

    pub fn reports(&self) -> &[GptqReport] {
        &self.reports
    }

    /// One step: a chunk through a block, or one site's matrices quantized.
    /// `false` when all are done.
    pub fn step(&mut self, t: &mut Transformer) -> Result<bool> {
        if self.is_done() {
            return Ok(false);
        }
        if t.config.n_layers != self.n_layers {
            return Err(Error::invalid("the GPTQ job was planned for another model"));
        }
        let l = self.layer;
        let n_chunks = self.calib.n_chunks;
        match self.phase {
            Phase::Collect(c) => {
                if c == 0 {
                    self.hessians = Some(self.new_hessians(t)?);
                }
                let mut x = self.hidden[c].clone();
                let obs = self.hessians.as_mut().map(|h| h as &mut dyn Observer);
                t.forward_layer(l, &mut x, 0, obs)?;
                self.phase = if c + 1 < n_chunks {
                    Phase::Collect(c + 1)
                } else {
                    Phase::Quantize(0)
                };
            }
            Phase::Quantize(s) => {
                let h = self.hessians.as_mut().and_then(|h| h.0[s].take());
                if let Some(h) = h {
                    self.quantize_site(t, Site::ALL[s], h)?;
                }
                self.phase = if s + 1 < 4 {
                    Phase::Quantize(s + 1)
                } else if l + 1 < self.n_layers {
                    Phase::Propagate(0)
                } else {
                    // The last block's output feeds nothing GPTQ needs.
                    self.layer += 1;
                    Phase::Collect(0)
                };
            }
            Phase::Propagate(c) => {
                t.forward_layer(l, &mut self.hidden[c], 0, None)?;
                self.phase = if c + 1 < n_chunks {
                    Phase::Propagate(c + 1)
                } else {
                    self.layer += 1;
                    Phase::Collect(0)
                };
            }
        }
        self.done += 1;
        Ok(!self.is_done())
    }

    /// What the next step does, for progress messages.
    pub fn describe(&self) -> CalibProgress {
        let (done, total) = self.progress();
        let n_chunks = self.calib.n_chunks;
        // as `progress` counts: the last block is not propagated
        let layer_total = if self.layer + 1 < self.n_layers {
            2 * n_chunks + 4
        } else {
            n_chunks + 4
        };
        let (chunk, what, layer_done) = match self.phase {
            Phase::Collect(c) => (Some(c), "collecting inputs".to_string(), c + 1),
            Phase::Quantize(s) => (
                None,
                format!("quantizing {}", Site::ALL[s].tensors().join(", ")),
                n_chunks + s + 1,
            ),
            Phase::Propagate(c) => (
                Some(c),
                "running the quantized block".to_string(),
                n_chunks + 4 + c + 1,
            ),
        };
        CalibProgress {
            done,
            total,
            layer: self.layer,
            layers: self.n_layers,
            layer_done,
            layer_total,
            chunk,
            what,
        }
    }

    fn new_hessians(&self, t: &Transformer) -> Result<Hessians> {
        let c = &t.config;
        let mut hs: [Option<Hessian>; 4] = Default::default();
        for site in Site::ALL {
            let wanted = site.tensors().iter().any(|n| {
                self.targets
                    .contains_key(&format!("blk.{}.{n}", self.layer))
            });
            if wanted {
                hs[site as usize] = Some(Hessian::new(site_cols(c, site))?);
            }
        }
        Ok(Hessians(hs))
    }

    fn quantize_site(&mut self, t: &mut Transformer, site: Site, h: Hessian) -> Result<()> {
        let l = self.layer;
        let tokens = h.count();
        let prepared = h.prepare(&self.opts).map_err(|e| in_block(e, l, site))?;
        for (i, short) in site.tensors().iter().enumerate() {
            let name = format!("blk.{l}.{short}");
            let Some(&ty) = self.targets.get(&name) else {
                continue;
            };
            let m = site_matrix(t, l, site, i);
            let w = blocks::dequantize(m.ty, &m.data, m.cols)?;
            let q = prepared
                .quantize(ty, &w, m.rows)
                .map_err(|e| in_block(e, l, site))?;
            self.reports.push(GptqReport {
                name,
                to: ty.name().to_string(),
                rows: m.rows,
                cols: m.cols,
                tokens,
            });
            // The quantized matrix runs from now on (the next blocks'
            // calibration inputs see its error) and is the job's output.
            m.replace(ty, q);
        }
        Ok(())
    }

    /// The quantized matrices, by tensor name (once done), leaving the
    /// transformer without them.
    pub fn take_results(
        &self,
        t: &mut Transformer,
    ) -> Result<HashMap<String, (GgmlType, Vec<u8>)>> {
        if !self.is_done() {
            return Err(Error::invalid("GPTQ has not finished"));
        }
        let mut out = HashMap::new();
        for l in 0..self.n_layers {
            for site in Site::ALL {
                for (i, short) in site.tensors().iter().enumerate() {
                    let name = format!("blk.{l}.{short}");
                    if let Some(&ty) = self.targets.get(&name) {
                        let m = site_matrix(t, l, site, i);
                        if m.ty != ty {
                            return Err(Error::invalid(format!("{name} was not quantized")));
                        }
                        out.insert(name, (ty, m.take_data()));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The input width at `site`: the row length of its matrices.
fn site_cols(c: &crate::model::config::Config, site: Site) -> usize {
    match site {
        Site::AttnIn | Site::FfnIn => c.dim,
        Site::AttnOut => c.q_dim(),
        Site::FfnOut => c.hidden_dim,
    }
}

/// Every block projection's tensor name.
fn matrix_names(n_layers: usize) -> Vec<String> {
    (0..n_layers)
        .flat_map(|l| {
            Site::ALL
                .iter()
                .flat_map(move |s| s.tensors().iter().map(move |t| format!("blk.{l}.{t}")))
        })
        .collect()
}

fn site_matrix(t: &mut Transformer, l: usize, site: Site, i: usize) -> &mut Matrix {
    let lw = &mut t.weights.layers[l];
    match (site, i) {
        (Site::AttnIn, 0) => &mut lw.wq,
        (Site::AttnIn, 1) => &mut lw.wk,
        (Site::AttnIn, _) => &mut lw.wv,
        (Site::AttnOut, _) => &mut lw.wo,
        (Site::FfnIn, 0) => &mut lw.w_gate,
        (Site::FfnIn, _) => &mut lw.w_up,
        (Site::FfnOut, _) => &mut lw.w_down,
    }
}

fn in_block(e: Error, l: usize, site: Site) -> Error {
    match e {
        Error::InvalidArgument(m) => {
            Error::InvalidArgument(format!("block {l} ({}): {m}", site.tensors().join(", ")))
        }
        e => e,
    }
}

/// The tensors GPTQ takes under a plan: block projections whose planned
/// type GPTQ rounds to (and differs from the source's). The rest are
/// quantized as usual.
pub fn gptq_targets(
    tensors: &[crate::model::source::SourceTensor],
    targets: &[crate::model::quantize::Target],
) -> HashMap<String, GgmlType> {
    let n_layers = tensors
        .iter()
        .filter_map(|t| {
            t.name
                .strip_prefix("blk.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1);
    let names = matrix_names(n_layers);
    tensors
        .iter()
        .zip(targets)
        .filter(|(t, target)| {
            names.contains(&t.name) && gptq::supported(target.ty) && target.ty != t.ty
        })
        .map(|(t, target)| (t.name.clone(), target.ty))
        .collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::io::gguf::GgufFile;
    use crate::model::eval::Evaluation;
    use crate::model::generate::Runner;
    use crate::model::quantize::{QuantizeJob, Target};
    use crate::model::source::ModelSource;
    use crate::quant::preset::Preset;

    const BUNDLED: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../web/models/stories260K.gguf"
    ));
    /// The first 2600 bytes of tinyshakespeare (see testdata/README.md).
    const TEXT: &str = include_str!("testdata/calib-shakespeare.txt");
    const LLAMA_IMATRIX: &[u8] = include_bytes!("testdata/imatrix-stories260K.gguf");

    fn runner(n_ctx: usize) -> Runner {
        Runner::load(&GgufFile::open(BUNDLED).unwrap(), n_ctx).unwrap()
    }

    #[test]
    fn imatrix_matches_llama_imatrix() {
        let mut r = runner(128);
        let calib = Calibration::new(&r.tokenizer, TEXT, 128, 512, Some(8)).unwrap();
        let mut job = ImatrixJob::new(calib, 5, "calib-shakespeare.txt");
        let mut steps = 0;
        while job.step(&mut r.transformer).unwrap() {
            steps += 1;
        }
        assert_eq!(steps + 1, 40);
        assert_eq!(job.progress(), (40, 40));
        let ours = job.result();
        let g = GgufFile::open(LLAMA_IMATRIX).unwrap();
        let theirs = ImatrixData::from_gguf(&g).unwrap();
        assert_eq!(ours.entries.len(), theirs.entries.len());
        assert_eq!(
            (ours.chunk_count, ours.chunk_size, &ours.datasets),
            (theirs.chunk_count, theirs.chunk_size, &theirs.datasets)
        );
        for (name, t) in &theirs.entries {
            let o = &ours.entries[name];
            assert_eq!(o.counts, t.counts, "{name}");
            if name.starts_with("blk.0.attn_") && name != "blk.0.attn_output.weight" {
                // Embeddings and RMSNorm: the same operations in the same order.
                assert_eq!(o.sums, t.sums, "{name}");
            }
            // Past that point llama.cpp keeps the KV cache in F16 (its
            // default) and orders its sums differently: 1e-3 relative was
            // measured; 5e-3 leaves room without hiding a real mistake
            // (a wrong input is off by far more).
            for (i, (a, b)) in o.sums.iter().zip(&t.sums).enumerate() {
                assert!((a - b).abs() <= 5e-3 * b.abs(), "{name}[{i}]: {a} vs {b}");
            }
        }
        // and the written file reads back as the same data
        let mut out = Vec::new();
        ours.write(&mut out).unwrap();
        let back = ImatrixData::from_gguf(&GgufFile::open(out.as_slice()).unwrap()).unwrap();
        assert_eq!(back, ours);
    }

    /// Mean KL divergence from the f32 model of `file` over `text`.
    fn mean_kld(file: &[u8], text: &str, n_ctx: usize) -> f64 {
        let mut model = Runner::load(&GgufFile::open(file).unwrap(), n_ctx).unwrap();
        let mut reference = runner(n_ctx);
        let mut ev = Evaluation::new(&model.tokenizer, text, n_ctx, 512).unwrap();
        while ev
            .step(&mut model.transformer, Some(&mut reference.transformer))
            .unwrap()
        {}
        ev.result().kl.unwrap().mean_kld
    }

    fn quantize(gptq: Option<(&str, GptqOptions)>) -> Vec<u8> {
        let src = GgufFile::open(BUNDLED).unwrap();
        let targets = Target::plan(&src, Preset::Pure(GgmlType::Q4_0), false).unwrap();
        let replacements = match gptq {
            Some((text, opts)) => {
                let mut r = runner(64);
                let calib = Calibration::new(&r.tokenizer, text, 64, 512, None).unwrap();
                let chosen = gptq_targets(&src.tensors(), &targets);
                // ffn_down's rows of 172 are not whole Q4_0 blocks: its
                // fallback type is left to the plan
                assert_eq!(chosen.len(), 5 * 6);
                let mut job = GptqJob::new(&mut r.transformer, calib, chosen, opts).unwrap();
                let mut steps = 1;
                while job.step(&mut r.transformer).unwrap() {
                    steps += 1;
                }
                assert_eq!(job.progress(), (steps, steps));
                assert_eq!(job.reports().len(), 30);
                job.take_results(&mut r.transformer).unwrap()
            }
            None => HashMap::new(),
        };
        let mut job = QuantizeJob::new(&src, targets, 2, HashMap::new(), Vec::new())
            .unwrap()
            .with_replacements(replacements)
            .unwrap();
        job.run(|_, _, _| true).unwrap();
        job.finish().unwrap()
    }

    #[test]
    fn gptq_model_is_closer_to_the_original_on_held_out_text() {
        let (calib, held_out) = TEXT.split_at(1300);
        let rtn = mean_kld(&quantize(None), held_out, 64);
        for opts in [
            GptqOptions::default(),
            GptqOptions {
                act_order: true,
                ..Default::default()
            },
        ] {
            let file = quantize(Some((calib, opts.clone())));
            let g = GgufFile::open(file.as_slice()).unwrap();
            assert_eq!(g.tensor("blk.3.attn_v.weight").unwrap().ty, GgmlType::Q4_0);
            let gptq = mean_kld(&file, held_out, 64);
            assert!(gptq < 0.9 * rtn, "{opts:?}: KLD GPTQ {gptq} vs RTN {rtn}");
        }
    }

    #[test]
    fn bad_calibration_is_a_clear_error() {
        let mut r = runner(64);
        let err = |c: Result<Calibration>| c.err().unwrap().to_string();
        let tk = &r.tokenizer;
        assert!(err(Calibration::new(tk, " \n", 64, 512, None)).contains("no calibration text"));
        assert!(err(Calibration::new(tk, "To be", 64, 512, None)).contains("fewer than one chunk"));
        assert!(err(Calibration::new(tk, TEXT, 8, 512, None)).contains("too short"));
        assert!(Calibration::new(tk, TEXT, 1024, 512, None).is_err());
        assert!(Calibration::new(tk, TEXT, 64, 512, Some(0)).is_err());
        let calib = || Calibration::new(&runner(64).tokenizer, TEXT, 64, 512, Some(2)).unwrap();
        let t = &mut r.transformer;
        let one = |name: &str, ty| HashMap::from([(name.to_string(), ty)]);
        let e = GptqJob::new(
            t,
            calib(),
            one("output.weight", GgmlType::Q4_0),
            Default::default(),
        );
        assert!(e.err().unwrap().to_string().contains("output.weight"));
        let e = GptqJob::new(
            t,
            calib(),
            one("blk.0.attn_q.weight", GgmlType::Q6K),
            Default::default(),
        );
        assert!(matches!(e, Err(Error::Unsupported { .. })));
        // rows of 64 are not whole Q4_K blocks: refused before calibrating
        let e = GptqJob::new(
            t,
            calib(),
            one("blk.0.attn_q.weight", GgmlType::Q4K),
            Default::default(),
        );
        assert!(matches!(e, Err(Error::BadLength { .. })));
        assert!(GptqJob::new(t, calib(), HashMap::new(), Default::default()).is_err());
        let mut job = GptqJob::new(
            t,
            calib(),
            one("blk.0.attn_q.weight", GgmlType::Q4_0),
            Default::default(),
        )
        .unwrap();
        job.step(t).unwrap();
        // stopping early (a cancel) leaves no half-made result to take
        assert!(job.take_results(t).is_err());
        // a dampening that cannot be used is refused before any work
        let opts = GptqOptions {
            damp: 2.0,
            ..Default::default()
        };
        let e = GptqJob::new(t, calib(), one("blk.0.attn_q.weight", GgmlType::Q4_0), opts);
        let e = e.err().unwrap().to_string();
        assert!(e.contains("dampening 2"), "{e}");
    }
}
