//! Evaluation as llama.cpp's `llama-perplexity` does it: the text is
//! tokenized once (BOS first if the model adds one), cut into chunks of
//! `n_ctx` tokens, each chunk run from an empty KV cache with its first token
//! replaced by BOS (if the model adds BOS), and only the second half of each
//! chunk scored (every scored token has at least `n_ctx/2` tokens of
//! context). With a reference model, the same chunks also give the KL
//! divergence of the model from the reference, top-token agreement and the
//! perplexity difference (`--kl-divergence` statistics).
//!
//! One difference: llama-perplexity stores the reference's log-probabilities
//! as 16-bit values and skips tokens with log p < -16; here both models run
//! side by side and the KL sum is exact in f64.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::forward::Transformer;
use crate::model::tokenizer::Tokenizer;
// As the forward pass (see model::forward): the same exp/log on every target.
use libm::{exp, log};

/// Tokens per forward call within a chunk: bounds the logits held at once
/// (`BATCH * vocab_size` floats) while keeping the weight reuse of batching.
const BATCH: usize = 64;

/// Perplexity, and the comparison with a reference if there was one.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvalResult {
    /// exp(mean negative log-likelihood of the scored tokens).
    pub ppl: f64,
    /// llama-perplexity's `± ...` (standard error, propagated).
    pub ppl_uncertainty: f64,
    pub chunks: usize,
    pub tokens_scored: usize,
    /// Running perplexity after each chunk (llama-perplexity's `[1]x,[2]y`).
    pub chunk_ppl: Vec<f64>,
    pub kl: Option<KlStats>,
}

/// Statistics against a reference model ("base" in llama.cpp's words).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KlStats {
    pub ppl_base: f64,
    /// PPL(model) - PPL(reference).
    pub delta_ppl: f64,
    pub ppl_ratio: f64,
    pub mean_kld: f64,
    pub mean_kld_uncertainty: f64,
    /// Percentiles of the per-token KL divergence, llama.cpp's set:
    /// (fraction, value) for max, 99.9%, 99%, 95%, 90%, median, 10%, 5%, 1%, 0.1%, min.
    pub kld_percentiles: Vec<(f64, f64)>,
    /// Fraction of scored positions where both models' most likely token agree.
    pub same_top: f64,
    /// Mean and RMS of p(model) - p(reference) of the actual next token.
    pub mean_p_diff: f64,
    pub rms_p_diff: f64,
}

/// A perplexity run that advances one batch at a time ([`Evaluation::step`]),
/// so callers can report progress and cancel.
pub struct Evaluation {
    /// (n_chunks * n_ctx,) the text's tokens that are evaluated.
    tokens: Vec<u32>,
    n_ctx: usize,
    n_chunks: usize,
    /// Replaces each chunk's first token when the model adds BOS.
    bos: Option<u32>,
    /// Next chunk and the position in it.
    chunk: usize,
    pos: usize,
    nll: f64,
    nll2: f64,
    count: usize,
    chunk_ppl: Vec<f64>,
    // Against a reference:
    nll_base: f64,
    nll_base2: f64,
    kld: Vec<f32>,
    kld_sum: f64,
    kld_sum2: f64,
    same_top: usize,
    p_diff_sum: f64,
    p_diff_sum2: f64,
}

impl Evaluation {
    /// Tokenize `text` and plan the chunks. Errors if the text has fewer
    /// than `2 * n_ctx` tokens (as llama-perplexity) or `n_ctx` does not fit.
    pub fn new(tokenizer: &Tokenizer, text: &str, n_ctx: usize, model_ctx: usize) -> Result<Self> {
        if n_ctx < 4 {
            return Err(Error::invalid(format!(
                "context {n_ctx} is too short to score"
            )));
        }
        if n_ctx > model_ctx {
            return Err(Error::ContextOverflow {
                needed: n_ctx,
                context: model_ctx,
            });
        }
        let mut tokens = tokenizer.encode(text, true, false);
        if tokens.len() < 2 * n_ctx {
            return Err(Error::invalid(format!(
                "the text has {} tokens; perplexity with a context of {n_ctx} needs at least {}",
                tokens.len(),
                2 * n_ctx
            )));
        }
        let n_chunks = tokens.len() / n_ctx;
        tokens.truncate(n_chunks * n_ctx);
        Ok(Evaluation {
            tokens,
            n_ctx,
            n_chunks,
            bos: if tokenizer.add_bos {
                tokenizer.bos
            } else {
                None
            },
            chunk: 0,
            pos: 0,
            nll: 0.0,
            nll2: 0.0,
            count: 0,
            chunk_ppl: Vec::new(),
            nll_base: 0.0,
            nll_base2: 0.0,
            kld: Vec::new(),
            kld_sum: 0.0,
            kld_sum2: 0.0,
            same_top: 0,
            p_diff_sum: 0.0,
            p_diff_sum2: 0.0,
        })
    }

    /// Evaluate only the first `n` chunks (llama-perplexity's `--chunks`).
    pub fn limit_chunks(&mut self, n: usize) {
        self.n_chunks = self.n_chunks.min(n.max(1));
    }

    pub fn n_chunks(&self) -> usize {
        self.n_chunks
    }

    /// Fraction done, 0 to 1.
    pub fn progress(&self) -> f64 {
        (self.chunk * self.n_ctx + self.pos) as f64 / (self.n_chunks * self.n_ctx) as f64
    }

    pub fn is_done(&self) -> bool {
        self.chunk >= self.n_chunks
    }

    /// Run the next batch of tokens through `model` (and `reference`, which
    /// must share the vocabulary) and score it. Returns false when finished.
    pub fn step(
        &mut self,
        model: &mut Transformer,
        reference: Option<&mut Transformer>,
    ) -> Result<bool> {
        if self.is_done() {
            return Ok(false);
        }
        for m in std::iter::once(&*model).chain(reference.as_deref()) {
            if m.n_ctx() < self.n_ctx {
                return Err(Error::ContextOverflow {
                    needed: self.n_ctx,
                    context: m.n_ctx(),
                });
            }
        }
        let vocab = model.config.vocab_size;
        if let Some(r) = &reference {
            if r.config.vocab_size != vocab {
                return Err(Error::invalid(format!(
                    "the reference has {} tokens in its vocabulary, the model {vocab}",
                    r.config.vocab_size
                )));
            }
        }
        let start = self.chunk * self.n_ctx;
        let chunk = &self.tokens[start..start + self.n_ctx];
        let end = (self.pos + BATCH).min(self.n_ctx);
        let mut batch = chunk[self.pos..end].to_vec();
        if self.pos == 0 {
            if let Some(b) = self.bos {
                batch[0] = b;
            }
        }
        let first = self.n_ctx / 2;
        // Logits are needed from position `first` on, and not for the last
        // token of the chunk (nothing follows it).
        let from = first.max(self.pos).min(end);
        let logits = model.forward(&batch, self.pos, from - self.pos)?.to_vec();
        let ref_logits = match reference {
            Some(r) => Some(r.forward(&batch, self.pos, from - self.pos)?.to_vec()),
            None => None,
        };
        for j in from..end.min(self.n_ctx - 1) {
            let row = (j - from) * vocab..(j - from + 1) * vocab;
            let target = chunk[j + 1] as usize;
            let (lp, top) = log_softmax(&logits[row.clone()]);
            let nll = -lp[target];
            self.nll += nll;
            self.nll2 += nll * nll;
            self.count += 1;
            if let Some(rl) = &ref_logits {
                let (lb, top_b) = log_softmax(&rl[row]);
                let kld: f64 = lb.iter().zip(&lp).map(|(&b, &q)| exp(b) * (b - q)).sum();
                self.kld.push(kld as f32);
                self.kld_sum += kld;
                self.kld_sum2 += kld * kld;
                self.same_top += usize::from(top == top_b);
                let nb = -lb[target];
                self.nll_base += nb;
                self.nll_base2 += nb * nb;
                let p_diff = exp(-nll) - exp(-nb);
                self.p_diff_sum += p_diff;
                self.p_diff_sum2 += p_diff * p_diff;
            }
        }
        self.pos = end;
        if self.pos == self.n_ctx {
            self.chunk += 1;
            self.pos = 0;
            self.chunk_ppl.push(exp(self.nll / self.count as f64));
        }
        Ok(!self.is_done())
    }

    /// The statistics so far (complete once [`Self::is_done`]).
    pub fn result(&self) -> EvalResult {
        let n = self.count.max(1) as f64;
        let mean = self.nll / n;
        let ppl = exp(mean);
        let kl = (!self.kld.is_empty()).then(|| {
            let mut sorted = self.kld.clone();
            sorted.sort_by(f32::total_cmp);
            let base = exp(self.nll_base / n);
            let (kld_mean, kld_unc) = mean_and_uncertainty(self.kld_sum, self.kld_sum2, self.count);
            KlStats {
                ppl_base: base,
                delta_ppl: ppl - base,
                ppl_ratio: ppl / base,
                mean_kld: kld_mean,
                mean_kld_uncertainty: kld_unc,
                kld_percentiles: [
                    1.0, 0.999, 0.99, 0.95, 0.90, 0.5, 0.10, 0.05, 0.01, 0.001, 0.0,
                ]
                .iter()
                .map(|&f| (f, percentile(&sorted, f)))
                .collect(),
                same_top: self.same_top as f64 / n,
                mean_p_diff: self.p_diff_sum / n,
                rms_p_diff: (self.p_diff_sum2 / n).sqrt(),
            }
        });
        let (_, unc) = mean_and_uncertainty(self.nll, self.nll2, self.count);
        EvalResult {
            ppl,
            ppl_uncertainty: unc * ppl,
            chunks: self.chunk_ppl.len(),
            tokens_scored: self.count,
            chunk_ppl: self.chunk_ppl.clone(),
            kl,
        }
    }
}

/// Log-probabilities (f64) and the index of the largest logit (first on ties).
fn log_softmax(logits: &[f32]) -> (Vec<f64>, usize) {
    let mut top = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[top] {
            top = i;
        }
    }
    let max = logits[top] as f64;
    let sum: f64 = logits.iter().map(|&v| exp(v as f64 - max)).sum();
    let norm = max + log(sum);
    (logits.iter().map(|&v| v as f64 - norm).collect(), top)
}

/// Mean and its standard error, from a sum and a sum of squares.
fn mean_and_uncertainty(sum: f64, sum2: f64, count: usize) -> (f64, f64) {
    if count == 0 {
        return (0.0, 0.0);
    }
    let n = count as f64;
    let mean = sum / n;
    let var = sum2 / n - mean * mean;
    let unc = if count > 1 && var > 0.0 {
        (var / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, unc)
}

/// Linear interpolation between sorted values, as llama-perplexity's
/// `percentile` (the median included).
fn percentile(sorted: &[f32], fraction: f64) -> f64 {
    let Some(&last) = sorted.last() else {
        return 0.0;
    };
    if fraction <= 0.0 {
        return sorted[0] as f64;
    }
    if fraction >= 1.0 {
        return last as f64;
    }
    let p = fraction * (sorted.len() - 1) as f64;
    let i = p as usize;
    let t = p - i as f64;
    (1.0 - t) * sorted[i] as f64 + t * sorted[(i + 1).min(sorted.len() - 1)] as f64
}
