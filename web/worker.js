// The Web Worker that owns the wasm module: all heavy work runs here so the
// page never freezes.
//
// Protocol (see client.js for the page's side):
//   page -> worker  {id, method, params}   start a request
//                   {cancel: id}           ask request `id` to stop
//   worker -> page  {id, progress: {done, total, label}}
//                   {id, result}
//                   {id, error: {message, cancelled}}
// Long requests check for cancellation between units of work (tensors), so
// a cancel takes effect within one unit.

let wq = null; // the wasm-bindgen module, after init
let model = null; // the open Model
let modelBlob = null; // and the Blob it reads from
const cancelled = new Set();

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

function openModel(blob) {
  const m = wq.Model.fromBlob(blob);
  if (model) model.free();
  model = m;
  modelBlob = blob;
  return model.info();
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

const methods = {
  // Load the wasm variant the page chose (simd or plain) and report what
  // this browser offers.
  async init({ variant }) {
    if (wq) throw new Error('already initialised');
    const mod = await import(`./pkg/${variant}/webquant.js`);
    await mod.default();
    wq = mod;
    return { build: wq.buildInfo(), gpu: await wq.gpuInfo() };
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

  // Quantize the open model to a preset or type, one tensor per step. The
  // output is taken from wasm after each tensor, so wasm memory holds one
  // tensor at a time; the file is returned as a Blob of those parts.
  async quantize({ type, pure = false }, ctx) {
    const m = requireModel();
    const q = new wq.Quantizer(m, type, pure);
    let finished = false;
    try {
      const total = q.total();
      const parts = [q.takeOutput()];
      const reports = [];
      for (let i = 0; i < total; i++) {
        await ctx.checkpoint();
        const r = q.step();
        reports.push(r);
        parts.push(q.takeOutput());
        ctx.progress(i + 1, total, r.name);
      }
      const totals = q.totals();
      finished = true;
      parts.push(q.finish()); // consumes q
      const blob = new Blob(parts, { type: 'application/octet-stream' });
      return { reports, totals, blob };
    } finally {
      if (!finished) q.free();
    }
  },

  // One tensor before and after quantization to `type` (histograms, error).
  async tensorView({ index, type, bins = 120 }) {
    return requireModel().tensorView(index, type, bins);
  },

  // The teaching page's calls: small, synchronous library functions.
  async teach({ fn, args }) {
    const allowed = ['teachQuantize', 'teachValue', 'bitFields', 'quantize', 'dequantize', 'errorStats', 'histogram'];
    if (!allowed.includes(fn)) throw new Error(`unknown teaching function ${fn}`);
    return wq[fn](...args);
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

  // Quantize / dequantize throughput per type (MB/s of f32 input), timed
  // around calls that loop inside wasm. Each type: median of runs of about
  // 50 ms, for `seconds` per operation.
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

  async benchQuant({ types, rows = 64, rowLen = 4096, seconds = 1 }, ctx) {
    const results = {};
    for (const [i, type] of types.entries()) {
      await ctx.checkpoint();
      const b = new wq.QuantBench(type, rows, rowLen, 1n);
      try {
        results[type] = {};
        for (const op of ['quantize', 'dequantize']) {
          b[op](1); // warm-up, and learn how many iterations take ~50 ms
          let t = performance.now();
          b[op](1);
          const once = Math.max(performance.now() - t, 0.01);
          const iters = Math.max(1, Math.round(50 / once));
          const samples = [];
          const end = performance.now() + seconds * 1000;
          while (performance.now() < end || samples.length < 5) {
            t = performance.now();
            b[op](iters);
            samples.push((performance.now() - t) / iters);
          }
          samples.sort((a, b2) => a - b2);
          const ms = samples[samples.length >> 1];
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
    progress: (done, total, label) => self.postMessage({ id, progress: { done, total, label } }),
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
