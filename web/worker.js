// The Web Worker that owns the wasm module: all heavy work runs here so the
// page never freezes.
//
// Protocol (see client.js for the page's side):
//   page -> worker  {id, method, params}   start a request
//                   {cancel: id}           ask request `id` to stop
//   worker -> page  {id, progress: {done, total, label, ...extra}}
//                   {id, result}
//                   {id, error: {message, cancelled}}
// Long requests check for cancellation between units of work (tensors), so
// a cancel takes effect within one unit.

let wq = null; // the wasm-bindgen module, after init
let wasmMemory = null; // its linear memory (only grows: its size is the peak)
let model = null; // the open Model
let modelBlob = null; // and the Blob it reads from
const cancelled = new Set();
// The open model's quantizations, by label ("Q4_0 · GPTQ"), oldest first
// ({blob, label}); at most MAX_VARIANTS, each a Blob the browser may keep on
// disk. The two models loaded for running side by side: the original and
// one variant ({original, quantized, label}).
const MAX_VARIANTS = 4;
const variants = new Map();
let runners = null;
// The teaching page's training run ({trainer, run}) and how many were started.
let qat = null;
let qatRuns = 0;
// KV cache cap for compare runners: room for a prompt, generation and a
// perplexity context, without a large model's full context in memory twice.
const COMPARE_CTX = 1024;

class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

// Let queued messages (cancels) run, then stop if this request was cancelled.
function checkpoint(id) {
  return new Promise((resolve, reject) => {
    setTimeout(() => (cancelled.has(id) ? reject(new Cancelled()) : resolve()), 0);
  });
}

function requireModel() {
  if (!model) throw new Error('no model is open');
  return model;
}

// A comparison job holds the runners across awaits; a new model or a new
// quantization meanwhile retires them, and the job frees them when it ends.
let runnersBusy = false;
let retired = [];
function freeRunners() {
  if (runners) retired.push(runners);
  runners = null;
  if (runnersBusy) return;
  for (const r of retired) {
    r.original.free();
    r.quantized.free();
  }
  retired = [];
}

// Run `job(load)` with the runners held, `load(label)` giving the original
// and that variant; one comparison job at a time, as all use the same KV
// caches.
async function withRunners(job) {
  if (runnersBusy) throw new Error('a comparison is already running: stop it first');
  runnersBusy = true;
  try {
    return await job(compareRunners);
  } finally {
    runnersBusy = false;
    if (retired.length) freeRunners();
  }
}

function openModel(blob) {
  const m = wq.Model.fromBlob(blob);
  if (model) model.free();
  model = m;
  modelBlob = blob;
  // Quantizations of the previous model have nothing to compare with now.
  freeRunners();
  variants.clear();
  return model.info();
}

// Keep a new quantization (replacing one with the same label); the runners
// may hold the one it replaces.
function addVariant(label, blob) {
  freeRunners();
  variants.delete(label);
  variants.set(label, { blob, label });
  while (variants.size > MAX_VARIANTS) variants.delete(variants.keys().next().value);
  return [...variants.keys()];
}

// The original and variant `label` (the latest by default), loaded for
// running (weights in wasm memory); the original stays loaded while the
// variant changes. Only inside withRunners.
async function compareRunners(label) {
  if (!model) throw new Error('no model is open');
  if (variants.size === 0) throw new Error('quantize the model first: there is nothing to compare with');
  const v = variants.get(label ?? [...variants.keys()].pop());
  if (!v) throw new Error(`no quantization named ${label}: quantize it again`);
  if (runners?.label === v.label) return runners;
  const original = runners?.original ?? wq.Runner.fromModel(model, COMPARE_CTX);
  runners?.quantized.free();
  runners = null;
  try {
    const bytes = new Uint8Array(await v.blob.arrayBuffer());
    runners = { original, quantized: wq.Runner.fromBytes(bytes, COMPARE_CTX), label: v.label };
  } catch (err) {
    original.free();
    throw err;
  }
  return runners;
}

// Give queued messages (a stop) a chance to arrive, at most every 10 ms so
// that yielding does not dominate a small model's generation time.
let lastYield = 0;
async function maybeYield() {
  if (performance.now() - lastYield < 10) return;
  await new Promise((resolve) => setTimeout(resolve, 0));
  lastYield = performance.now();
}

// Saved models: files in the origin-private file system (OPFS), so they stay
// on this device, survive reloads and open offline, read lazily like any File.
async function savedDir() {
  if (!navigator.storage?.getDirectory) throw new Error('this browser cannot store files for offline use (no origin-private file system)');
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('models', { create: true });
}

// A safe file name from a file name or URL ("stories260K.gguf").
function savedName(name) {
  const base = name.split(/[?#]/)[0].split('/').filter(Boolean).pop() ?? 'model.gguf';
  const clean = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '');
  return clean || 'model.gguf';
}

// The same prompt through the original and the quantized model, in turns of
// about 8 ms each, every token posted as progress ({side, token: {id, text}}).
// Stopping (cancel) ends both and returns what was generated so far. Times
// are of the runner's calls only, a turn at a time (a single token is
// shorter than the worker's timer resolution for a small model): `firstMs`
// covers the prompt and the first token, `ms` every later token.
const TURN_MS = 8;
// Both runners on `device` ("cpu" or "gpu"): moving to WebGPU uploads the
// weights, so a runner stays there until a job needs the CPU.
async function placeRunners(rs, device) {
  for (const side of ['original', 'quantized']) {
    const r = rs[side];
    if (device === 'cpu') r.useCpu();
    else if (!r.device().startsWith('GPU')) await r.useGpu();
  }
}

async function generateBoth(rs, { prompt, maxTokens, temperature = 0, seed = 0, device = 'cpu' }, ctx) {
  if (device !== 'cpu' && device !== 'gpu') throw new Error(`unknown device ${device}`);
  await placeRunners(rs, device);
  const sides = {};
  for (const side of ['original', 'quantized']) {
    rs[side].start(prompt, maxTokens, temperature, undefined, undefined, seed);
    sides[side] = { tokens: [], promptTokens: rs[side].promptTokens(), firstMs: 0, ms: 0, ended: false, device: rs[side].device() };
  }
  let stopped = false;
  let done = 0;
  while (Object.values(sides).some((s) => !s.ended)) {
    await maybeYield();
    if (cancelled.has(ctx.id)) {
      for (const side of Object.keys(sides)) rs[side].stop();
      stopped = true;
      break;
    }
    for (const [side, s] of Object.entries(sides)) {
      if (s.ended) continue;
      const r = rs[side];
      const first = s.tokens.length === 0;
      const turn = [];
      const t0 = performance.now();
      let t = t0; // after the last token (a final end-of-text step is not timed)
      // the first token alone (it includes the prompt), then a turn's worth
      do {
        // The GPU's results can only be awaited; the CPU's sync step saves
        // a microtask per token.
        const text = device === 'gpu' ? await r.stepAsync() : r.step();
        if (text === undefined) {
          s.ended = true;
          break;
        }
        turn.push({ id: r.lastToken(), text });
        t = performance.now();
      } while (!first && t - t0 < TURN_MS);
      if (first) s.firstMs = t - t0;
      else s.ms += t - t0;
      for (const token of turn) {
        s.tokens.push(token);
        ctx.progress(++done, 2 * maxTokens, side, { side, token });
      }
    }
  }
  for (const s of Object.values(sides)) {
    s.tokPerSec = s.tokens.length > 1 && s.ms > 0 ? (s.tokens.length - 1) / (s.ms / 1000) : null;
    delete s.ended;
  }
  return { ...sides, label: rs.label, stopped };
}

// "Q4_0 · GPTQ": what the page and the comparison call a quantization.
const METHOD_NAMES = { rtn: 'RTN', imatrix: 'imatrix', gptq: 'GPTQ' };
function variantLabel(type, pure, method) {
  return `${type}${pure ? ' pure' : ''} · ${METHOD_NAMES[method] ?? method}`;
}

function calibText(calib) {
  if (!calib.text?.trim()) throw new Error('the calibration text is empty: paste a text, pick a file or use the bundled one');
  return calib.text;
}

// The calibration settings both jobs take ({nCtx, chunks}; 0 chunks: all).
function calibOptions(calib) {
  const o = {};
  if (calib.nCtx) o.nCtx = calib.nCtx;
  if (calib.chunks) o.chunks = calib.chunks;
  return o;
}

// Run a GGUF writer (wq.Quantizer or wq.Importer) to its end, one tensor
// per step with progress (`extra` added) and cancel. Its output is taken
// after every step, so wasm memory holds about one tensor; `beforeFinish(w)`
// reads what must be read before finish() consumes it. Returns the file as a
// Blob of those parts, each step's report and what beforeFinish returned.
// The writer is freed when it does not finish.
async function writeAll(w, ctx, extra, beforeFinish) {
  let finished = false;
  try {
    const total = w.total();
    const parts = [w.takeOutput()];
    const reports = [];
    for (let i = 0; i < total; i++) {
      await ctx.checkpoint();
      const r = w.step();
      reports.push(r);
      parts.push(w.takeOutput());
      ctx.progress(i + 1, total, r.name, extra);
    }
    const before = beforeFinish?.(w);
    finished = true;
    parts.push(w.finish()); // consumes w
    return { blob: new Blob(parts, { type: 'application/octet-stream' }), reports, before };
  } finally {
    if (!finished) w.free();
  }
}

// llama-imatrix over the calibration text, a block of a chunk per step:
// the importance matrix file (GGUF) as bytes.
async function buildImatrix(m, calib, ctx) {
  const b = new wq.ImatrixBuilder(m, calibText(calib), calibOptions(calib), calib.name || undefined);
  try {
    const total = b.total();
    const layers = m.info().blockCount ?? 1;
    const chunks = Math.max(1, Math.round(total / layers));
    for (let done = b.done(); done < total; done = b.done()) {
      await ctx.checkpoint();
      b.step();
      // one chunk through every block in turn
      const layer = done % layers;
      const chunk = Math.floor(done / layers);
      ctx.progress(done + 1, total, `chunk ${chunk + 1} of ${chunks}, block ${layer + 1} of ${layers}`, {
        phase: 'imatrix',
        calib: { layer, layers, layerDone: layer + 1, layerTotal: layers, chunk, chunks, what: 'collecting activations' },
      });
    }
    return b.result();
  } finally {
    b.free();
  }
}

// GPTQ: calibrate and round block by block, then write tensor by tensor.
async function quantizeGptq(m, { type, pure, calib, gptq }, ctx) {
  const config = { ...calibOptions(calib), pure };
  if (gptq.group != null) config.group = gptq.group;
  if (gptq.damp != null) config.damp = gptq.damp;
  if (gptq.actOrder != null) config.actOrder = gptq.actOrder;
  const q = new wq.GptqQuantizer(m, type, calibText(calib), config, undefined);
  let finished = false;
  try {
    const parts = [];
    const reports = [];
    for (;;) {
      await ctx.checkpoint();
      const s = q.step();
      parts.push(q.takeOutput());
      if (s === undefined) break;
      if (s.phase === 'gptq') {
        const p = s.progress;
        const chunk = p.chunk == null ? '' : `, chunk ${p.chunk + 1}`;
        ctx.progress(s.done, s.total, `block ${p.layer + 1} of ${p.layers}: ${p.what}${chunk}`, { phase: 'gptq', calib: p });
      } else {
        reports.push(s.report);
        ctx.progress(s.done, s.total, s.report.name, { phase: 'write' });
      }
    }
    const totals = q.totals();
    finished = true;
    parts.push(q.finish()); // consumes q
    const blob = new Blob(parts, { type: 'application/octet-stream' });
    const kept = addVariant(variantLabel(type, pure, 'gptq'), blob);
    return { reports, totals, blob, kept, imatrix: null };
  } finally {
    if (!finished) q.free();
  }
}

const methods = {
  // Load the wasm variant the page chose (threads, simd or plain) and
  // report what this browser offers. The threads build starts its pool of
  // `threads` Web Workers (sharing the module's memory) and uses them all.
  async init({ variant, threads = 1 }) {
    if (wq) throw new Error('already initialised');
    const mod = await import(`./pkg/${variant}/webquant.js`);
    wasmMemory = (await mod.default()).memory;
    if (variant === 'threads') {
      await mod.initThreadPool(Math.max(1, threads));
      mod.setThreads(threads);
    }
    wq = mod;
    return { build: wq.buildInfo(), gpu: await wq.gpuInfo() };
  },

  // Use up to `n` threads from the next step of any job on; returns the
  // count in effect (1 without the threads build).
  async setThreads({ n }) {
    if (!wq) throw new Error('not initialised');
    return wq.setThreads(Math.max(1, n | 0));
  },

  // Open a model from a URL, streamed with progress (bytes, of total when the
  // server says) and cancellable between chunks. The parts become a Blob
  // the model reads lazily by byte range, never one copy in wasm memory.
  async openUrl({ url }, ctx) {
    let res;
    try {
      res = await fetch(url);
    } catch {
      throw new Error(`could not download ${url}: the server is unreachable or does not allow downloads from other sites (CORS)`);
    }
    if (!res.ok) throw new Error(`could not download ${url}: HTTP ${res.status} ${res.statusText}`.trim());
    const total = Number(res.headers.get('content-length')) || 0;
    const parts = [];
    let done = 0;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        parts.push(value);
        done += value.length;
        ctx.progress(done, total, 'bytes');
        if (cancelled.has(ctx.id)) throw new Cancelled();
      }
    } finally {
      if (cancelled.has(ctx.id)) reader.cancel().catch(() => {});
    }
    await ctx.checkpoint();
    return openModel(new Blob(parts));
  },

  // Open a GGUF the user picked (a File is a Blob: read lazily).
  async openFile({ file }) {
    return openModel(file);
  },

  // Import a Hugging Face model ({kind: 'hf', weights, config, tokenizer,
  // tokenizerConfig}) or a llama2.c checkpoint ({kind: 'llama2c',
  // checkpoint, tokenizer}), all Files, as a GGUF, one tensor per step with
  // progress and cancel; then open that GGUF as if the user had picked it.
  // The weights are read lazily from their File; the GGUF is assembled as a
  // Blob from the parts taken after each tensor, so wasm memory holds about
  // one tensor. llama2.c checkpoints are F32 and stay so; a Hugging Face
  // model becomes F16 (F32 if its config says float32).
  async importModel({ kind, name, ...files }, ctx) {
    let imp;
    let type;
    if (kind === 'hf') {
      const [config, tokenizer, tokenizerConfig] = await Promise.all(
        [files.config, files.tokenizer, files.tokenizerConfig].map((f) => f?.text()),
      );
      // The name the model was published under; a bad config.json is
      // reported by the importer, naming the file.
      let dtype;
      try {
        const c = JSON.parse(config);
        const published = typeof c._name_or_path === 'string' ? c._name_or_path.split('/').filter(Boolean).pop() : '';
        if (published) name = published;
        dtype = c.torch_dtype ?? c.dtype;
      } catch {
        dtype = null;
      }
      type = dtype === 'float32' ? 'f32' : 'f16';
      await ctx.checkpoint();
      imp = wq.Importer.fromHuggingFace(files.weights, config, tokenizer, tokenizerConfig ?? undefined, name, type);
    } else if (kind === 'llama2c') {
      const tokenizer = new Uint8Array(await files.tokenizer.arrayBuffer());
      type = 'f32';
      await ctx.checkpoint();
      imp = wq.Importer.fromLlama2c(files.checkpoint, tokenizer, name, type);
    } else {
      throw new Error(`unknown import kind ${kind}`);
    }
    const { blob } = await writeAll(imp, ctx);
    return { info: openModel(blob), type };
  },

  // Quantize the open model to a preset or type, one tensor per step, by
  // `method`: "rtn" (round to nearest), "imatrix" (an importance matrix of
  // the calibration text first, then rounding weighted by it) or "gptq".
  // The output is taken from wasm after each tensor, so wasm memory holds one
  // tensor at a time; the file is returned as a Blob of those parts.
  // Progress carries {phase: "imatrix" | "gptq" | "write", calib} where
  // calib says which block and chunk calibration is at.
  async quantize({ type, pure = false, method = 'rtn', calib = {}, gptq = {} }, ctx) {
    const m = requireModel();
    const label = variantLabel(type, pure, method);
    // Calibration loads the model for running: the comparison's models go
    // first, so wasm memory never holds both.
    if (method !== 'rtn') freeRunners();
    let imatrix = null;
    if (method === 'imatrix') imatrix = await buildImatrix(m, calib, ctx);
    else if (method === 'gptq') return { ...(await quantizeGptq(m, { type, pure, calib, gptq }, ctx)), label };
    else if (method !== 'rtn') throw new Error(`unknown quantization method ${method}`);
    const q = new wq.Quantizer(m, type, pure, imatrix ?? undefined);
    const { blob, reports, before: totals } = await writeAll(q, ctx, { phase: 'write' }, (w) => w.totals());
    const kept = addVariant(label, blob);
    const imatrixBlob = imatrix && new Blob([imatrix], { type: 'application/octet-stream' });
    return { reports, totals, blob, label, kept, imatrix: imatrixBlob };
  },

  // Side-by-side generation (generateBoth) with variant `label` (the
  // latest by default).
  async compareGenerate({ label, ...params }, ctx) {
    return withRunners(async (load) => generateBoth(await load(label), params, ctx));
  },

  // Perplexity of each variant in `labels` (default: every one, the latest
  // first) over `text`, and its KL divergence and top-token agreement
  // against the original, one batch per step.
  async compareEval({ text, nCtx, maxChunks, labels }, ctx) {
    return withRunners(async (load) => {
      const list = labels ?? [...variants.keys()].reverse();
      const out = [];
      for (const [i, label] of list.entries()) {
        const rs = await load(label);
        // Evaluation runs on the CPU (it reads each layer's activations).
        await placeRunners(rs, 'cpu');
        const t0 = performance.now();
        rs.quantized.perplexityStart(text, nCtx, maxChunks || undefined);
        for (;;) {
          await ctx.checkpoint();
          const p = rs.quantized.perplexityStepAgainst(rs.original);
          ctx.progress(Math.round((i + p.progress) * 1000), list.length * 1000, `${rs.label}: ${p.result.chunks} of ${p.chunks} chunks`);
          if (p.done) {
            out.push({ ...p.result, seconds: (performance.now() - t0) / 1000, label: rs.label });
            break;
          }
        }
      }
      return { variants: out };
    });
  },

  // One tensor before and after quantization to `type` (histograms, error).
  async tensorView({ index, type, bins = 120 }) {
    return requireModel().tensorView(index, type, bins);
  },

  // The teaching page's calls: small, synchronous library functions.
  async teach({ fn, args }) {
    const allowed = ['teachQuantize', 'teachValue', 'bitFields', 'quantize', 'dequantize', 'errorStats', 'histogram', 'teachFp4', 'teachRoundGradient', 'teachQat'];
    if (!allowed.includes(fn)) throw new Error(`unknown teaching function ${fn}`);
    return wq[fn](...args);
  },

  // The teaching page's training demo: one run at a time, trained a few
  // steps per qatStep so the page redraws in between. A new qatStart
  // replaces the run; a step for a replaced run is refused.
  async qatStart({ config }) {
    const trainer = new wq.QatTrainer(config);
    qat?.trainer.free();
    qat = { trainer, run: ++qatRuns };
    return { run: qat.run, data: trainer.data(), view: trainer.view() };
  },

  async qatStep({ run, steps }) {
    if (!qat || qat.run !== run) throw new Error('this training run was replaced by a newer one');
    qat.trainer.train(steps);
    return qat.trainer.view();
  },

  // Keep a copy of the open model for offline use, under `name`. Written to a
  // temporary file and renamed when complete, so a saved model is whole.
  async saveModel({ name }) {
    if (!modelBlob) throw new Error('no model is open');
    const dir = await savedDir();
    const final = savedName(name);
    const tmp = `${final}.partial`;
    const fh = await dir.getFileHandle(tmp, { create: true });
    try {
      const w = await fh.createWritable();
      await w.write(modelBlob);
      await w.close();
      await fh.move(final);
    } catch (err) {
      await dir.removeEntry(tmp).catch(() => {});
      throw new Error(`could not save ${final}: ${err.message}`);
    }
    return final;
  },

  async listSaved() {
    const dir = await savedDir();
    const out = [];
    for await (const [name, h] of dir.entries()) {
      if (h.kind !== 'file' || name.endsWith('.partial')) continue;
      out.push({ name, size: (await h.getFile()).size });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  },

  async openSaved({ name }) {
    const dir = await savedDir();
    const fh = await dir.getFileHandle(savedName(name));
    return openModel(await fh.getFile());
  },

  async deleteSaved({ name }) {
    const dir = await savedDir();
    await dir.removeEntry(savedName(name));
  },

  // The wasm module's linear memory in bytes: wasm memory never shrinks, so
  // this is the most it has held (scripts/bench-gptq.mjs reports it).
  async wasmMemory() {
    return { bytes: wasmMemory.buffer.byteLength };
  },

  // The ggml types webquant quantizes, with block facts.
  async ggmlTypes() {
    return wq.ggmlTypes();
  },

  // Min / max / mean / std of every tensor, one tensor per step.
  async tensorStats(_params, ctx) {
    const m = requireModel();
    const n = m.tensorCount();
    const rows = [];
    for (let i = 0; i < n; i++) {
      await ctx.checkpoint();
      const s = m.tensorStats(i);
      rows.push(s);
      ctx.progress(i + 1, n, s.name);
    }
    return rows;
  },

  // Model speed as `webquant bench` measures it natively: a prompt of
  // nPrompt fixed tokens in one batch (pp) and nGen tokens one at a time
  // (tg), tokens per second averaged over `reps` runs.
  async benchRunner({ url, nPrompt = 128, nGen = 64, reps = 3 }, ctx) {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
    const bytes = new Uint8Array(await resp.arrayBuffer());
    const runner = wq.Runner.fromBytes(bytes, Math.max(nPrompt, nGen) + 1);
    try {
      let pp = 0;
      let tg = 0;
      for (let i = 0; i < reps; i++) {
        await ctx.checkpoint();
        let t = performance.now();
        runner.benchPrompt(nPrompt);
        pp += nPrompt / ((performance.now() - t) / 1000) / reps;
        t = performance.now();
        runner.benchGenerate(nGen);
        tg += nGen / ((performance.now() - t) / 1000) / reps;
        ctx.progress(i + 1, reps, `run ${i + 1}`);
      }
      return { pp, tg };
    } finally {
      runner.free();
    }
  },

  // Evaluation speed: `chunks` perplexity chunks of `nCtx` tokens over
  // `text`, run as the compare view runs them (`perplexityStep`, batches of
  // 64 tokens), `reps` times. Returns tokens per second (every token of a
  // chunk goes through the model) and the perplexity.
  async benchEval({ url, text, nCtx = 128, chunks = 2, reps = 3 }, ctx) {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
    const runner = wq.Runner.fromBytes(new Uint8Array(await resp.arrayBuffer()), nCtx);
    try {
      let tps = 0;
      let result;
      for (let i = 0; i < reps; i++) {
        await ctx.checkpoint();
        const t = performance.now();
        runner.perplexityStart(text, nCtx, chunks);
        let p;
        do p = runner.perplexityStep();
        while (!p.done);
        tps += (p.result.chunks * nCtx) / ((performance.now() - t) / 1000) / reps;
        result = p.result;
        ctx.progress(i + 1, reps, `run ${i + 1}`);
      }
      return { tps, ppl: result.ppl, chunkPpl: result.chunkPpl };
    } finally {
      runner.free();
    }
  },

  // Quantize / dequantize throughput per type (MB/s of f32 input), timed
  // around calls that loop inside wasm. Each type: median of runs of about
  // 50 ms, for `seconds` per operation.
  async benchQuant({ types, rows = 64, rowLen = 4096, seconds = 1 }, ctx) {
    const results = {};
    for (const [i, type] of types.entries()) {
      await ctx.checkpoint();
      const b = new wq.QuantBench(type, rows, rowLen, 1n);
      try {
        results[type] = {};
        for (const op of ['quantize', 'dequantize']) {
          b[op](1); // warm-up
          // How many iterations take ~5 ms: double until a run is long
          // enough for the browser's coarse clock (0.1 ms or worse), since
          // one dequantize of 1 MiB takes well under that. Runs of 5 ms are
          // as long as criterion's shortest samples natively.
          let n = 1;
          let t;
          let dt;
          for (;;) {
            t = performance.now();
            b[op](n);
            dt = performance.now() - t;
            if (dt >= 20 || n >= 1 << 20) break;
            n *= 2;
          }
          const iters = Math.max(1, Math.round((5 * n) / Math.max(dt, 0.01)));
          const samples = [];
          const end = performance.now() + seconds * 1000;
          while (performance.now() < end || samples.length < 5) {
            t = performance.now();
            b[op](iters);
            samples.push((performance.now() - t) / iters);
          }
          // The fastest run: the one least slowed by other work on the
          // machine (the native and libgguf figures are taken the same way).
          const ms = Math.min(...samples);
          results[type][op] = b.inputBytes() / (ms / 1000) / 1e6;
        }
      } finally {
        b.free();
      }
      ctx.progress(i + 1, types.length, type);
    }
    return results;
  },
};

self.onmessage = async (e) => {
  const msg = e.data;
  if (msg.cancel !== undefined) {
    cancelled.add(msg.cancel);
    return;
  }
  const { id, method, params } = msg;
  const ctx = {
    id,
    checkpoint: () => checkpoint(id),
    progress: (done, total, label, extra) => self.postMessage({ id, progress: { done, total, label, ...extra } }),
  };
  try {
    const fn = methods[method];
    if (!fn) throw new Error(`unknown method ${method}`);
    if (method !== 'init' && !wq) throw new Error('the wasm module is not initialised');
    const result = await fn(params ?? {}, ctx);
    self.postMessage({ id, result });
  } catch (err) {
    const isCancel = err instanceof Cancelled;
    self.postMessage({ id, error: { message: isCancel ? 'cancelled' : String(err?.message ?? err), cancelled: isCancel } });
  } finally {
    cancelled.delete(id);
  }
};
