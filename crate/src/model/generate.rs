//! A loaded model (transformer and tokenizer) and text generation one token
//! at a time, for the CLI and the web worker alike.

use crate::error::{Error, Result};
use crate::gpu::{Device, GpuContext, GpuOptions};
use crate::io::gguf::GgufFile;
use crate::io::source::ByteSource;
use crate::model::config::Config;
use crate::model::forward::Transformer;
use crate::model::sampler::{Sampler, SamplerConfig};
use crate::model::tokenizer::Tokenizer;
use crate::model::weights::Weights;

/// A model ready to run.
pub struct Runner {
    pub transformer: Transformer,
    pub tokenizer: Tokenizer,
    /// Why the model runs on the CPU though the GPU was considered (no
    /// adapter, a type the kernels do not read, ...).
    pub device_note: Option<String>,
}

impl Runner {
    /// Read config, tokenizer and weights (in that order, so that a wrong
    /// architecture or a missing tokenizer is reported before any weight is
    /// read). The KV cache holds `n_ctx` positions (capped at the model's).
    pub fn load<S: ByteSource>(g: &GgufFile<S>, n_ctx: usize) -> Result<Runner> {
        let config = Config::from_gguf(g)?;
        let tokenizer = Tokenizer::from_gguf(g)?;
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(Error::format(
                "GGUF",
                format!(
                    "the tokenizer has {} tokens, the embeddings {}",
                    tokenizer.vocab_size(),
                    config.vocab_size
                ),
            ));
        }
        let weights = Weights::from_gguf(g, &config)?;
        let transformer = Transformer::new(config, weights, n_ctx)?;
        Ok(Runner {
            transformer,
            tokenizer,
            device_note: None,
        })
    }

    /// Move the model to `device` before the first token: `Gpu` errors when
    /// the GPU cannot run it, `Auto` takes the GPU when it can and otherwise
    /// stays on the CPU, leaving the reason in `device_note`.
    // In the browser wgpu's handles are not Send; there the Arc never leaves
    // the one thread, and natively it lets the Runner move between threads.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn set_device(&mut self, device: Device, options: GpuOptions) -> Result<()> {
        if device == Device::Cpu {
            return Ok(());
        }
        let gpu = match GpuContext::new(options).await {
            Ok(ctx) if device == Device::Auto && ctx.info.software => Err(Error::Gpu(format!(
                "the only adapter, {}, emulates a GPU on the CPU and is slower than the CPU path",
                ctx.info.name
            ))),
            Ok(ctx) => self.transformer.use_gpu(std::sync::Arc::new(ctx)).await,
            Err(e) => Err(e),
        };
        match (gpu, device) {
            (Ok(()), _) => Ok(()),
            (Err(e), Device::Gpu) => Err(e),
            (Err(e), _) => {
                self.device_note = Some(e.to_string());
                Ok(())
            }
        }
    }

    /// [`Runner::load`] then [`Runner::set_device`], blocking (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_on<S: ByteSource>(g: &GgufFile<S>, n_ctx: usize, device: Device) -> Result<Runner> {
        let mut r = Runner::load(g, n_ctx)?;
        pollster::block_on(r.set_device(device, GpuOptions::default()))?;
        Ok(r)
    }
}

/// Generation state: feed the prompt, then one sampled token per step.
pub struct Generation {
    /// Tokens to feed before the next sample (the prompt, at first).
    pending: Vec<u32>,
    /// Position of the next token to feed.
    pos: usize,
    /// Last token fed, for decoding the next piece.
    prev: Option<u32>,
    /// Tokens still to generate.
    remaining: usize,
    /// Bytes of an incomplete UTF-8 character, held until it completes.
    utf8: Vec<u8>,
    sampler: Sampler,
    done: bool,
    /// Every token so far, prompt included.
    pub tokens: Vec<u32>,
}

impl Generation {
    /// Start generating `max_tokens` after `prompt` (tokenized with BOS if
    /// the model adds one, special-token texts parsed). Errors if prompt and
    /// generation do not fit in the runner's context.
    pub fn new(
        runner: &Runner,
        prompt: &str,
        max_tokens: usize,
        sampler: SamplerConfig,
    ) -> Result<Generation> {
        let tk = &runner.tokenizer;
        let mut prompt_tokens = tk.encode(prompt, true, true);
        if prompt_tokens.is_empty() {
            // Something must be fed to get logits: BOS, as llama2.c.
            prompt_tokens.extend(tk.bos);
        }
        if prompt_tokens.is_empty() {
            return Err(Error::invalid(
                "the prompt is empty and the model has no BOS token to start from",
            ));
        }
        let needed = prompt_tokens.len() + max_tokens;
        let context = runner.transformer.n_ctx();
        if needed > context {
            return Err(Error::ContextOverflow { needed, context });
        }
        Ok(Generation {
            tokens: prompt_tokens.clone(),
            pending: prompt_tokens,
            pos: 0,
            prev: None,
            remaining: max_tokens,
            utf8: Vec::new(),
            sampler: Sampler::new(sampler),
            done: false,
        })
    }

    /// The next token and its text (possibly empty while a UTF-8 character
    /// is incomplete), or `None` at the end (token budget spent, or end of
    /// sequence / end of turn sampled).
    pub fn step(&mut self, runner: &mut Runner) -> Result<Option<(u32, String)>> {
        let Some(feed) = self.begin() else {
            return Ok(None);
        };
        let logits = runner
            .transformer
            .forward(&feed, self.pos, feed.len() - 1)?
            .to_vec();
        Ok(self.finish(runner, &feed, logits))
    }

    /// [`Generation::step`] for a model on the GPU in the browser, where
    /// the logits can only be awaited.
    pub async fn step_async(&mut self, runner: &mut Runner) -> Result<Option<(u32, String)>> {
        let Some(feed) = self.begin() else {
            return Ok(None);
        };
        let logits = runner
            .transformer
            .forward_async(&feed, self.pos, feed.len() - 1)
            .await?
            .to_vec();
        Ok(self.finish(runner, &feed, logits))
    }

    /// The tokens to feed next, or `None` at the end.
    fn begin(&mut self) -> Option<Vec<u32>> {
        if self.done || self.remaining == 0 {
            self.done = true;
            return None;
        }
        Some(std::mem::take(&mut self.pending))
    }

    /// Sample from the logits of the last token of `feed`.
    fn finish(
        &mut self,
        runner: &Runner,
        feed: &[u32],
        mut logits: Vec<f32>,
    ) -> Option<(u32, String)> {
        self.pos += feed.len();
        let next = self.sampler.sample(&mut logits);
        self.remaining -= 1;
        if runner.tokenizer.is_end(next) {
            self.done = true;
            return None;
        }
        self.tokens.push(next);
        let prev = self.prev.or(feed.last().copied());
        self.utf8.extend(runner.tokenizer.decode_piece(prev, next));
        self.prev = Some(next);
        self.pending = vec![next];
        Some((next, take_utf8(&mut self.utf8)))
    }

    /// Stop early; later steps return `None`.
    pub fn stop(&mut self) {
        self.done = true;
    }

    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// The complete UTF-8 prefix of `buf` as text, leaving an unfinished
/// character's bytes in `buf`; invalid bytes become U+FFFD.
fn take_utf8(buf: &mut Vec<u8>) -> String {
    let keep = match std::str::from_utf8(buf) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() => buf.len() - e.valid_up_to(),
        Err(_) => 0,
    };
    let rest = buf.split_off(buf.len() - keep);
    let text = String::from_utf8_lossy(buf).into_owned();
    *buf = rest;
    text
}

/// Generate and return the whole text (the CLI's `run`).
pub fn generate(
    runner: &mut Runner,
    prompt: &str,
    max_tokens: usize,
    sampler: SamplerConfig,
) -> Result<String> {
    let mut g = Generation::new(runner, prompt, max_tokens, sampler)?;
    let mut out = String::new();
    while let Some((_, piece)) = g.step(runner)? {
        out.push_str(&piece);
    }
    Ok(out)
}

/// Speed benchmarks as llama-bench runs them: a prompt of `n` tokens in one
/// batch (`pp`), or `n` tokens one at a time (`tg`), from position 0. The
/// token ids are arbitrary but fixed, so native and wasm runs do the same
/// work; the caller times the call (wasm has no clock of its own).
pub fn bench_forward(t: &mut Transformer, n: usize, batch: bool) -> Result<()> {
    let vocab = t.config.vocab_size as u64;
    let tokens: Vec<u32> = (0..n as u64)
        .map(|i| ((i * 2_654_435_761 + 17) % vocab) as u32)
        .collect();
    if tokens.is_empty() {
        return Ok(());
    }
    if batch {
        t.forward(&tokens, 0, tokens.len() - 1)?;
    } else {
        for (pos, &tok) in tokens.iter().enumerate() {
            t.forward(&[tok], pos, 0)?;
        }
    }
    Ok(())
}
