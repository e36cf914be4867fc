//! Running a model from JS: load, generate token by token, stop, and
//! measure perplexity with progress. Each call does a bounded amount of work
//! (one token, or one batch of a perplexity chunk) so a Web Worker can post
//! progress and honour "stop" between calls.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use super::{js_err, to_js, Model};
use crate::gpu::{Device, GpuOptions};
use crate::io::gguf::GgufFile;
use crate::model::eval::Evaluation;
use crate::model::generate::{self, Generation};
use crate::model::sampler::SamplerConfig;

#[wasm_bindgen(typescript_custom_section)]
const TS_SECTION: &str = TS_TYPES;

#[cfg_attr(not(test), allow(dead_code))]
pub(super) const TS_TYPES: &str = r#"
export interface KlStats {
  pplBase: number; deltaPpl: number; pplRatio: number; meanKld: number; meanKldUncertainty: number;
  kldPercentiles: [number, number][]; sameTop: number; meanPDiff: number; rmsPDiff: number;
}
export interface EvalResult {
  ppl: number; pplUncertainty: number; chunks: number; tokensScored: number;
  chunkPpl: number[]; kl: KlStats | null;
}
export interface EvalProgress { done: boolean; progress: number; chunks: number; result: EvalResult; }
"#;

/// A model loaded for running (weights in wasm memory, a KV cache of
/// `nCtx` positions), with at most one generation and one perplexity run.
/// On the CPU by default; `useGpu` moves it to WebGPU, after which tokens
/// come from `stepAsync`.
#[wasm_bindgen]
pub struct Runner {
    // RefCells because the async methods take `&self` (wasm-bindgen has no
    // async `&mut self`); the sync methods take `&mut self` and use get_mut.
    inner: RefCell<generate::Runner>,
    generation: RefCell<Option<Generation>>,
    /// Prompt tokens of the current generation (the rest were generated).
    prompt_len: usize,
    evaluation: Option<Evaluation>,
    n_ctx: usize,
}

fn busy() -> JsError {
    JsError::new("the runner is busy: await the previous useGpu or stepAsync first")
}

/// The model, set to the page's thread count (`setThreads`) for the work
/// about to run.
fn threaded(inner: &mut RefCell<generate::Runner>) -> &mut generate::Runner {
    let inner = inner.get_mut();
    inner.transformer.set_threads(super::threads());
    inner
}

#[wasm_bindgen]
impl Runner {
    /// Load a GGUF held in memory. `nCtx` caps the KV cache (and so the
    /// prompt plus generated tokens); the model's own context by default.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8], n_ctx: Option<usize>) -> Result<Runner, JsError> {
        let g = GgufFile::open(bytes).map_err(js_err)?;
        Self::load(&g, n_ctx)
    }

    /// Load from an opened `Model` (a `File` read lazily in a worker).
    #[wasm_bindgen(js_name = fromModel)]
    pub fn from_model(model: &Model, n_ctx: Option<usize>) -> Result<Runner, JsError> {
        Self::load(&model.file, n_ctx)
    }

    fn load<S: crate::io::source::ByteSource>(
        g: &GgufFile<S>,
        n_ctx: Option<usize>,
    ) -> Result<Runner, JsError> {
        let inner = generate::Runner::load(g, n_ctx.unwrap_or(usize::MAX)).map_err(js_err)?;
        Ok(Runner {
            n_ctx: inner.transformer.n_ctx(),
            inner: RefCell::new(inner),
            generation: RefCell::new(None),
            prompt_len: 0,
            evaluation: None,
        })
    }

    /// Positions the KV cache holds.
    #[wasm_bindgen(js_name = contextLength)]
    pub fn context_length(&self) -> usize {
        self.n_ctx
    }

    /// Token ids of `text` (BOS added as the model does, special tokens parsed).
    pub fn tokenize(&mut self, text: &str) -> Vec<u32> {
        threaded(&mut self.inner).tokenizer.encode(text, true, true)
    }

    /// Run on the GPU (WebGPU) from now on; call it before `start`. Resolves
    /// to where the model runs, e.g. "GPU (SwiftShader, BrowserWebGpu)";
    /// rejects with the reason when WebGPU cannot run the model, which then
    /// stays on the CPU. Tokens on the GPU come from `stepAsync`.
    #[wasm_bindgen(js_name = useGpu)]
    // wasm is single-threaded: a second call while this one awaits finds
    // the RefCell borrowed and gets the "busy" error, never a panic.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn use_gpu(&self) -> Result<String, JsError> {
        let mut inner = self.inner.try_borrow_mut().map_err(|_| busy())?;
        inner
            .set_device(Device::Gpu, GpuOptions::default())
            .await
            .map_err(js_err)?;
        Ok(inner.transformer.device())
    }

    /// Run on the CPU again (after `useGpu`; nothing to do otherwise): the
    /// GPU's copy of the weights is dropped, and a generation in progress
    /// ends, as its KV cache was on the GPU. Evaluation needs the CPU.
    #[wasm_bindgen(js_name = useCpu)]
    pub fn use_cpu(&mut self) -> Result<(), JsError> {
        let inner = threaded(&mut self.inner);
        if inner.transformer.on_gpu() {
            inner.transformer.use_cpu().map_err(js_err)?;
            *self.generation.get_mut() = None;
        }
        Ok(())
    }

    /// Where the model runs: "CPU" or "GPU (adapter, backend)".
    pub fn device(&mut self) -> String {
        threaded(&mut self.inner).transformer.device()
    }

    /// Start generating up to `maxTokens` after `prompt`. Temperature 0
    /// (the default) is greedy; `topK` 0 keeps all tokens; `seed` fixes the
    /// draw. With `chat`, the prompt becomes a ChatML user turn.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        prompt: &str,
        #[wasm_bindgen(js_name = "maxTokens")] max_tokens: usize,
        temperature: Option<f32>,
        #[wasm_bindgen(js_name = "topK")] top_k: Option<usize>,
        #[wasm_bindgen(js_name = "topP")] top_p: Option<f32>,
        seed: Option<u32>,
        chat: Option<bool>,
    ) -> Result<(), JsError> {
        let d = SamplerConfig::default();
        let sampler = SamplerConfig {
            temperature: temperature.unwrap_or(0.0),
            top_k: top_k.unwrap_or(d.top_k),
            top_p: top_p.unwrap_or(d.top_p),
            seed: seed.map_or(d.seed, u64::from),
        };
        let prompt = if chat.unwrap_or(false) {
            crate::model::tokenizer::chatml(&[("user", prompt)], true)
        } else {
            prompt.to_string()
        };
        let g = Generation::new(threaded(&mut self.inner), &prompt, max_tokens, sampler)
            .map_err(js_err)?;
        self.prompt_len = g.tokens.len();
        *self.generation.get_mut() = Some(g);
        Ok(())
    }

    /// The next token's text (may be "" mid-character), or `undefined`
    /// when generation has ended or was stopped.
    pub fn step(&mut self) -> Result<Option<String>, JsError> {
        let Some(g) = self.generation.get_mut().as_mut() else {
            return Ok(None);
        };
        Ok(g.step(threaded(&mut self.inner))
            .map_err(js_err)?
            .map(|(_, text)| text))
    }

    /// `step` as a promise: the way to generate on the GPU (whose results
    /// the browser can only await); works on the CPU too.
    #[wasm_bindgen(js_name = stepAsync)]
    // As useGpu: a concurrent call gets the "busy" error.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn step_async(&self) -> Result<Option<String>, JsError> {
        let mut inner = self.inner.try_borrow_mut().map_err(|_| busy())?;
        inner.transformer.set_threads(super::threads());
        let mut generation = self.generation.try_borrow_mut().map_err(|_| busy())?;
        let Some(g) = generation.as_mut() else {
            return Ok(None);
        };
        Ok(g.step_async(&mut inner)
            .await
            .map_err(js_err)?
            .map(|(_, text)| text))
    }

    /// The id of the token the last `step` generated (`undefined` before
    /// the first), so two models' outputs can be compared token by token
    /// even where different tokens decode to the same text.
    #[wasm_bindgen(js_name = lastToken)]
    pub fn last_token(&self) -> Option<u32> {
        let g = self.generation.try_borrow().ok()?;
        g.as_ref()?.tokens[self.prompt_len..].last().copied()
    }

    /// Prompt tokens of the current generation (BOS included).
    #[wasm_bindgen(js_name = promptTokens)]
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_len
    }

    /// Stop generating; `step` returns `undefined` from now on.
    pub fn stop(&mut self) {
        if let Some(g) = self.generation.get_mut().as_mut() {
            g.stop();
        }
    }

    /// Speed benchmark: `n` fixed tokens as one prompt batch from position
    /// 0 (timed by the caller, as `webquant bench` times it natively). Ends
    /// any generation, whose cache this overwrites.
    #[wasm_bindgen(js_name = benchPrompt)]
    pub fn bench_prompt(&mut self, n: usize) -> Result<(), JsError> {
        *self.generation.get_mut() = None;
        generate::bench_forward(&mut threaded(&mut self.inner).transformer, n, true).map_err(js_err)
    }

    /// Speed benchmark: `n` fixed tokens one at a time from position 0.
    #[wasm_bindgen(js_name = benchGenerate)]
    pub fn bench_generate(&mut self, n: usize) -> Result<(), JsError> {
        *self.generation.get_mut() = None;
        generate::bench_forward(&mut threaded(&mut self.inner).transformer, n, false)
            .map_err(js_err)
    }

    /// Start a perplexity run over `text` in chunks of `nCtx` tokens, as
    /// llama-perplexity (the text needs at least `2 * nCtx` tokens).
    #[wasm_bindgen(js_name = perplexityStart)]
    pub fn perplexity_start(
        &mut self,
        text: &str,
        #[wasm_bindgen(js_name = "nCtx")] n_ctx: usize,
        #[wasm_bindgen(js_name = "maxChunks")] max_chunks: Option<usize>,
    ) -> Result<(), JsError> {
        let mut ev = Evaluation::new(
            &threaded(&mut self.inner).tokenizer,
            text,
            n_ctx,
            self.n_ctx,
        )
        .map_err(js_err)?;
        if let Some(n) = max_chunks {
            ev.limit_chunks(n);
        }
        self.evaluation = Some(ev);
        Ok(())
    }

    /// Evaluate the next batch of tokens: `{done, progress (0..1), chunks,
    /// result}` with the statistics so far.
    #[wasm_bindgen(js_name = perplexityStep, unchecked_return_type = "EvalProgress")]
    pub fn perplexity_step(&mut self) -> Result<JsValue, JsError> {
        self.eval_step(None)
    }

    /// As `perplexityStep`, and run the same tokens through `reference`
    /// (the original of a quantized model, same vocabulary): the result's
    /// `kl` then holds KL divergence, top-token agreement and perplexity
    /// against the reference. `reference` must be another Runner.
    #[wasm_bindgen(
        js_name = perplexityStepAgainst,
        unchecked_return_type = "EvalProgress"
    )]
    pub fn perplexity_step_against(&mut self, reference: &mut Runner) -> Result<JsValue, JsError> {
        self.eval_step(Some(&mut threaded(&mut reference.inner).transformer))
    }

    fn eval_step(
        &mut self,
        reference: Option<&mut crate::model::forward::Transformer>,
    ) -> Result<JsValue, JsError> {
        #[derive(serde::Serialize)]
        struct Progress {
            done: bool,
            progress: f64,
            chunks: usize,
            result: crate::model::eval::EvalResult,
        }
        let ev = self
            .evaluation
            .as_mut()
            .ok_or_else(|| JsError::new("no perplexity run: call perplexityStart first"))?;
        ev.step(&mut threaded(&mut self.inner).transformer, reference)
            .map_err(js_err)?;
        to_js(&Progress {
            done: ev.is_done(),
            progress: ev.progress().min(1.0),
            chunks: ev.n_chunks(),
            result: ev.result(),
        })
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::model::tests::{STORIES, STORIES_GREEDY};

    fn message(e: JsError) -> String {
        let v = JsValue::from(e);
        String::from(js_sys::Error::from(v).message())
    }

    fn keys(v: &JsValue) -> Vec<String> {
        let mut k: Vec<String> = js_sys::Object::keys(&js_sys::Object::from(v.clone()))
            .iter()
            .filter_map(|k| k.as_string())
            .collect();
        k.sort();
        k
    }

    #[test]
    fn greedy_generation_token_by_token_matches_llama2c() {
        let mut r = Runner::from_bytes(STORIES, Some(512)).unwrap();
        r.start("", 256, Some(0.0), None, None, None, None).unwrap();
        let mut text = String::new();
        while let Some(piece) = r.step().unwrap() {
            text.push_str(&piece);
        }
        assert_eq!(Some(text.as_str()), STORIES_GREEDY.strip_suffix("\n\n"));
    }

    #[test]
    fn speed_benchmark_runs_fixed_tokens_and_ends_generation() {
        let mut r = Runner::from_bytes(STORIES, Some(32)).unwrap();
        r.start("Once", 8, None, None, None, None, None).unwrap();
        r.bench_prompt(32).unwrap();
        r.bench_generate(32).unwrap();
        assert_eq!(r.step().unwrap(), None);
        let e = r.bench_prompt(33).unwrap_err();
        assert!(message(e).contains("32"), "names the context length");
    }

    #[test]
    fn stop_ends_generation() {
        let mut r = Runner::from_bytes(STORIES, Some(64)).unwrap();
        r.start("Once", 32, Some(0.8), Some(40), Some(0.9), Some(7), None)
            .unwrap();
        assert!(r.step().unwrap().is_some());
        r.stop();
        assert_eq!(r.step().unwrap(), None);
    }

    #[test]
    fn bad_input_is_a_js_error_naming_it() {
        let mut r = Runner::from_bytes(STORIES, Some(16)).unwrap();
        let e = r
            .start(
                "Once upon a time there was a girl",
                10,
                None,
                None,
                None,
                None,
                None,
            )
            .unwrap_err();
        assert!(message(e).contains("context of 16"));
        let e = Runner::from_bytes(&STORIES[..1000], None).err().unwrap();
        assert!(message(e).contains("GGUF"));
        let e = r.perplexity_step().unwrap_err();
        assert!(message(e).contains("perplexityStart"));
    }

    #[test]
    fn perplexity_steps_to_a_result_shaped_as_typescript_says() {
        let mut r = Runner::from_bytes(STORIES, Some(64)).unwrap();
        r.perplexity_start(STORIES_GREEDY, 64, None).unwrap();
        let mut last = 0.0;
        let p = loop {
            let p = r.perplexity_step().unwrap();
            let progress = js_sys::Reflect::get(&p, &"progress".into())
                .unwrap()
                .as_f64()
                .unwrap();
            assert!(progress > last);
            last = progress;
            if js_sys::Reflect::get(&p, &"done".into())
                .unwrap()
                .is_truthy()
            {
                break p;
            }
        };
        assert_eq!(last, 1.0);
        let ts = |name| crate::wasm::tests::ts_fields_in(TS_TYPES, name);
        assert_eq!(keys(&p), ts("EvalProgress"));
        let result = js_sys::Reflect::get(&p, &"result".into()).unwrap();
        assert_eq!(keys(&result), ts("EvalResult"));
        // The model wrote this text itself (greedily), so it predicts it well.
        let ppl = js_sys::Reflect::get(&result, &"ppl".into())
            .unwrap()
            .as_f64()
            .unwrap();
        assert!(ppl > 1.0 && ppl < 3.0, "{ppl}");
    }

    fn num(v: &JsValue, key: &str) -> f64 {
        js_sys::Reflect::get(v, &key.into())
            .unwrap()
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is not a number"))
    }

    /// stories260K quantized in wasm by the Quantizer the page uses.
    fn quantized_stories(ty: &str) -> Vec<u8> {
        let m = crate::wasm::Model::from_bytes(STORIES.to_vec()).unwrap();
        let mut q = crate::wasm::model_quant::Quantizer::new(&m, ty, Some(true), None).unwrap();
        let mut out = q.take_output();
        while !q.step().unwrap().is_undefined() {
            out.extend(q.take_output());
        }
        out.extend(q.finish().unwrap());
        out
    }

    /// Run a perplexity evaluation of `model` against `reference` to the end.
    fn eval_against(model: &mut Runner, reference: &mut Runner) -> JsValue {
        model.perplexity_start(STORIES_GREEDY, 64, None).unwrap();
        loop {
            let p = model.perplexity_step_against(reference).unwrap();
            if js_sys::Reflect::get(&p, &"done".into())
                .unwrap()
                .is_truthy()
            {
                return js_sys::Reflect::get(&p, &"result".into()).unwrap();
            }
        }
    }

    #[test]
    fn evaluation_against_a_reference_gives_kl_statistics() {
        let ts = |name| crate::wasm::tests::ts_fields_in(TS_TYPES, name);
        let mut original = Runner::from_bytes(STORIES, Some(64)).unwrap();
        let mut same = Runner::from_bytes(STORIES, Some(64)).unwrap();
        let result = eval_against(&mut same, &mut original);
        let kl = js_sys::Reflect::get(&result, &"kl".into()).unwrap();
        assert_eq!(keys(&kl), ts("KlStats"));
        assert_eq!(num(&kl, "meanKld"), 0.0);
        assert_eq!(num(&kl, "sameTop"), 1.0);
        assert_eq!(num(&kl, "pplBase"), num(&result, "ppl"));

        // Q4_0 moves the distribution; Q8_0 much less; the reference's own
        // perplexity is the same in both runs.
        let mut q4 = Runner::from_bytes(&quantized_stories("q4_0"), Some(64)).unwrap();
        let r4 = eval_against(&mut q4, &mut original);
        let kl4 = js_sys::Reflect::get(&r4, &"kl".into()).unwrap();
        let mut q8 = Runner::from_bytes(&quantized_stories("q8_0"), Some(64)).unwrap();
        let r8 = eval_against(&mut q8, &mut original);
        let kl8 = js_sys::Reflect::get(&r8, &"kl".into()).unwrap();
        assert!(num(&kl8, "meanKld") > 0.0, "Q8_0 is not lossless");
        assert!(
            num(&kl4, "meanKld") > 2.0 * num(&kl8, "meanKld"),
            "Q4_0 {} vs Q8_0 {}",
            num(&kl4, "meanKld"),
            num(&kl8, "meanKld")
        );
        assert!(num(&kl4, "sameTop") < 1.0 && num(&kl4, "sameTop") > 0.5);
        assert_eq!(num(&kl4, "pplBase"), num(&kl8, "pplBase"));
        assert_eq!(num(&kl8, "pplBase"), num(&result, "ppl"));
        let p = js_sys::Reflect::get(&kl4, &"kldPercentiles".into()).unwrap();
        assert_eq!(js_sys::Array::from(&p).length(), 11);
    }

    #[test]
    fn a_reference_too_short_for_the_context_is_refused() {
        // The reference's KV cache is shorter than the evaluation context.
        let mut model = Runner::from_bytes(STORIES, Some(64)).unwrap();
        let mut small = Runner::from_bytes(STORIES, Some(32)).unwrap();
        model.perplexity_start(STORIES_GREEDY, 64, None).unwrap();
        let e = model.perplexity_step_against(&mut small).unwrap_err();
        assert!(message(e).contains("context of 32"));
    }

    #[test]
    fn last_token_is_the_id_of_each_generated_token() {
        let mut r = Runner::from_bytes(STORIES, Some(64)).unwrap();
        assert_eq!(r.last_token(), None);
        r.start("Once upon a time", 8, Some(0.0), None, None, None, None)
            .unwrap();
        assert_eq!(r.last_token(), None);
        let prompt = r.tokenize("Once upon a time");
        assert_eq!(r.prompt_tokens(), prompt.len());
        let mut ids = Vec::new();
        while r.step().unwrap().is_some() {
            ids.push(r.last_token().unwrap());
        }
        assert!(!ids.is_empty());
        // the same ids as the native generation, which decodes to the same text
        let mut native = crate::model::tests::stories();
        let mut g = Generation::new(
            &native,
            "Once upon a time",
            8,
            SamplerConfig {
                temperature: 0.0,
                ..SamplerConfig::default()
            },
        )
        .unwrap();
        let mut want = Vec::new();
        while let Some((id, _)) = g.step(&mut native).unwrap() {
            want.push(id);
        }
        assert_eq!(ids, want);
    }
}
