// The page: picks the wasm variant this browser can run, starts the worker,
// opens the bundled model and shows what it is. All work happens in the worker.
import uPlot from './vendor/uPlot.esm.js';
import { WorkerClient, CancelledError } from './client.js';
import { hasWasmSimd } from './features.js';
import { droppedFiles, sortModelFiles, stem } from './model-files.js';

const DEFAULT_MODEL = 'models/stories260K.gguf';
const DEFAULT_TEXT = 'texts/tinyshakespeare-10k.txt';
// llama-quantize's presets, in its menu order.
const PRESETS = ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_0', 'Q4_1', 'Q4_K_S', 'Q4_K_M', 'Q5_0', 'Q5_1', 'Q5_K_S', 'Q5_K_M', 'Q6_K', 'Q8_0'];
let modelName = 'model';
let modelTypes = ''; // the open model's tensor types, "f32" or "f16, f32"
let saveBlob = null; // the last quantized file, for "Save to disk"

const $ = (sel) => document.querySelector(sel);

const fmtInt = (n) => Number(n).toLocaleString('en-US');
const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const fmtNum = (x) => (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4));

function note(text, kind = 'info') {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = text;
  $('#engine-notes').append(li);
}

function showError(err) {
  const el = $('#model-error');
  el.textContent = err ? String(err.message ?? err) : '';
  el.hidden = !err;
}

function showModel(info, source) {
  const facts = [
    ['Name', info.name, 'model-name'],
    ['Opened from', source, 'model-source'],
    ['Architecture', info.architecture, 'model-arch'],
    ['Parameters', fmtInt(info.parameterCount), 'model-params'],
    ['Tensors', fmtInt(info.tensorCount), 'model-tensors'],
    ['File size', fmtBytes(info.fileBytes), 'model-size'],
    ['Tensor types', Object.entries(info.types).map(([t, n]) => `${t} × ${n}`).join(', '), 'model-types'],
    ['Layers', info.blockCount ?? '–', 'model-layers'],
    ['Embedding length', info.embeddingLength ?? '–', 'model-embd'],
    ['Context length', info.contextLength ?? '–', 'model-ctx'],
    ['Vocabulary', info.vocabSize != null ? fmtInt(info.vocabSize) : '–', 'model-vocab'],
    ['GGUF version', info.ggufVersion, 'model-gguf'],
  ];
  const dl = $('#model-facts');
  dl.replaceChildren();
  for (const [k, v, id] of facts) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.id = id;
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
  const tbody = $('#tensor-table tbody');
  tbody.replaceChildren();
  for (const t of info.tensors) {
    const tr = document.createElement('tr');
    tr.dataset.name = t.name;
    for (const [v, cls] of [[t.name], [t.dims.join(' × ')], [t.ty], [fmtInt(t.nBytes), 'num'], ['', 'num'], ['', 'num'], ['', 'num'], ['', 'num']]) {
      const td = document.createElement('td');
      td.textContent = v;
      if (cls) td.className = cls;
      tr.append(td);
    }
    tbody.append(tr);
  }
  $('#stats-run').disabled = false;
  $('#stats-status').textContent = '';
  $('#quant-type').disabled = false;
  modelName = info.name || 'model';
  modelTypes = Object.keys(info.types).join(', ');
  // prompt and generation share the runner's context (capped in the worker)
  $('#gen-tokens').max = String(Math.min(info.contextLength ?? 1024, 1024) - 1);
  // the worker drops the previous model's quantization, so does the page
  compareReady(null);
  $('#quant-download').hidden = true;
  $('#imatrix-download').hidden = true;
  $('#quant-save').hidden = true;
  $('#save-status').textContent = '';
  $('#import-status').textContent = ''; // an earlier import's
  document.body.dataset.model = 'loaded';
  syncJobButtons();
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
}

const charts = {};
function chart(key, el, opts, data) {
  charts[key]?.destroy();
  charts[key] = new uPlot({ width: Math.min(900, el.parentElement.clientWidth - 8), height: 240, ...opts }, data, el);
}

// SQNR of every quantized tensor, as bars in file order.
function showSqnr(reports) {
  const rows = reports.filter((r) => r.sqnrDb != null);
  const names = rows.map((r) => r.name);
  chart('sqnr', $('#sqnr-chart'), {
    // half a bar of room at each end, so the first and last bars show whole
    scales: { x: { time: false, range: [-0.6, rows.length - 0.4] } },
    axes: [{ label: 'tensor (hover for the name)', values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : '')) }, { label: 'SQNR dB' }],
    series: [
      { label: 'tensor', value: (_, i) => (i == null ? '–' : names[i] ?? '–') },
      { label: 'SQNR dB', stroke: '#2457c5', fill: '#2457c588', paths: uPlot.paths.bars({ size: [0.8] }), points: { show: false } },
    ],
  }, [rows.map((_, i) => i), rows.map((r) => r.sqnrDb)]);
}

// Combined SQNR of a group of tensors: total signal over total noise power
// (each tensor's noise is rmse² × n, its signal noise × 10^(SQNR/10)).
function groupSqnr(rows) {
  let noise = 0;
  let signal = 0;
  for (const r of rows) {
    const e = r.rmse * r.rmse * r.nElements;
    noise += e;
    signal += e * 10 ** (r.sqnrDb / 10);
  }
  return noise > 0 ? 10 * Math.log10(signal / noise) : null;
}

// Per layer (blk.N): the SQNR of its quantized weights together, and its
// worst tensor.
function showLayers(reports) {
  const layers = new Map();
  for (const r of reports) {
    const m = /^blk\.(\d+)\./.exec(r.name);
    if (!m || r.sqnrDb == null) continue;
    const n = Number(m[1]);
    if (!layers.has(n)) layers.set(n, []);
    layers.get(n).push(r);
  }
  const keys = [...layers.keys()].sort((a, b) => a - b);
  const el = $('#layer-chart');
  el.dataset.layers = String(keys.length);
  if (keys.length === 0) {
    charts.layers?.destroy();
    delete charts.layers;
    el.textContent = 'No layer was quantized (every tensor is stored exactly).';
    return;
  }
  el.textContent = '';
  const worst = keys.map((k) => Math.min(...layers.get(k).map((r) => r.sqnrDb)));
  const worstName = keys.map((k) => layers.get(k).reduce((a, b) => (b.sqnrDb < a.sqnrDb ? b : a)).name);
  chart('layers', el, {
    // bars start at 0 dB, so their heights compare
    scales: { x: { time: false, range: [-0.6, keys.length - 0.4] }, y: { range: (_, __, max) => [0, Math.ceil(max * 1.1)] } },
    axes: [{ label: 'layer', values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? `blk.${keys[t] ?? ''}` : '')) }, { label: 'SQNR dB' }],
    series: [
      { label: 'layer', value: (_, i) => (i == null ? '–' : `blk.${keys[i]}`) },
      { label: 'layer SQNR dB', stroke: '#2457c5', fill: '#2457c588', paths: uPlot.paths.bars({ size: [0.6] }), points: { show: false }, value: (_, v) => (v == null ? '–' : v.toFixed(2)) },
      { label: 'worst tensor dB', stroke: '#c5531f', width: 0, points: { show: true, size: 8, fill: '#c5531f' }, value: (_, v, __, i) => (v == null ? '–' : `${v.toFixed(2)} (${worstName[i]})`) },
    ],
  }, [keys.map((_, i) => i), keys.map((k) => groupSqnr(layers.get(k))), worst]);
}

// Bytes by tensor kind (the name without blk.N and .weight), before and after.
function showSizes(reports) {
  const kinds = new Map();
  for (const r of reports) {
    const kind = r.name.replace(/^blk\.\d+\./, '').replace(/\.weight$/, '');
    const k = kinds.get(kind) ?? { before: 0, after: 0 };
    k.before += r.bytesIn;
    k.after += r.bytesOut;
    kinds.set(kind, k);
  }
  // largest first; the small ones (norms) together
  const rows = [...kinds.entries()].sort((a, b) => b[1].before - a[1].before);
  const total = rows.reduce((s, [, k]) => s + k.before, 0);
  const big = rows.filter(([, k]) => k.before >= total * 0.01);
  const small = rows.filter(([, k]) => k.before < total * 0.01);
  if (small.length) {
    big.push(['other', small.reduce((s, [, k]) => ({ before: s.before + k.before, after: s.after + k.after }), { before: 0, after: 0 })]);
  }
  const names = big.map(([n]) => n);
  const el = $('#size-chart');
  el.dataset.kinds = names.join(',');
  const kib = (b) => b / 1024;
  chart('sizes', el, {
    scales: { x: { time: false, range: [-0.6, names.length - 0.4] } },
    axes: [{ label: 'tensor kind', values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? names[t] ?? '' : '')) }, { label: 'KiB' }],
    series: [
      { label: 'kind', value: (_, i) => (i == null ? '–' : names[i]) },
      { label: 'original KiB', stroke: '#2457c5', fill: '#2457c566', paths: uPlot.paths.bars({ size: [0.35], align: -1 }), points: { show: false }, value: (_, v) => (v == null ? '–' : v.toFixed(1)) },
      { label: 'quantized KiB', stroke: '#c5531f', fill: '#c5531fbb', paths: uPlot.paths.bars({ size: [0.35], align: 1 }), points: { show: false }, value: (_, v) => (v == null ? '–' : v.toFixed(1)) },
    ],
  }, [names.map((_, i) => i), big.map(([, k]) => kib(k.before)), big.map(([, k]) => kib(k.after))]);
}

// Stream the quantized file to a file the user picks (File System Access).
async function saveToDisk() {
  const status = $('#save-status');
  const { blob, name } = saveBlob;
  let handle;
  try {
    handle = await window.showSaveFilePicker({ suggestedName: name, types: [{ description: 'GGUF model', accept: { 'application/octet-stream': ['.gguf'] } }] });
  } catch (err) {
    status.textContent = err.name === 'AbortError' ? 'Not saved.' : `Could not save: ${err.message}`;
    return;
  }
  const btn = $('#quant-save');
  btn.disabled = true;
  let written = 0;
  try {
    const out = await handle.createWritable();
    // Count bytes on their way to disk, for progress.
    const counter = new TransformStream({
      transform(chunk, ctl) {
        written += chunk.byteLength;
        status.textContent = `Saving… ${fmtBytes(written)} of ${fmtBytes(blob.size)}`;
        ctl.enqueue(chunk);
      },
    });
    await blob.stream().pipeThrough(counter).pipeTo(out);
    status.textContent = `Saved ${handle.name ?? name} (${fmtBytes(written)}).`;
  } catch (err) {
    status.textContent = `Could not save ${name}: ${err.message}`;
  } finally {
    btn.disabled = false;
  }
}

// Histogram of one tensor before and after: the "after" spikes are the grid.
async function showView(client, reports, index) {
  const r = reports[index];
  $('#view-status').textContent = 'Computing…';
  try {
    const v = await client.call('tensorView', { index, type: r.to });
    const mids = v.original.edges.slice(0, -1).map((e, i) => (e + v.original.edges[i + 1]) / 2);
    chart('view', $('#view-chart'), {
      scales: { x: { time: false } },
      axes: [{ label: 'value' }, { label: 'count' }],
      series: [
        {},
        { label: `original (${v.from})`, stroke: '#2457c5', fill: '#2457c533', paths: uPlot.paths.stepped({ align: 0 }), points: { show: false } },
        { label: `after ${v.to}`, stroke: '#c5531f', paths: uPlot.paths.bars({ size: [0.6] }), fill: '#c5531f99', points: { show: false } },
      ],
    }, [mids, v.original.counts, v.quantized.counts]);
    $('#view-status').textContent = v.stats.exact ? 'Stored exactly.' : `RMSE ${fmtNum(v.stats.rmse)}, SQNR ${v.stats.sqnrDb.toFixed(2)} dB.`;
    $('#view-chart').dataset.tensor = r.name;
  } catch (err) {
    $('#view-status').textContent = `Could not show ${r.name}: ${err.message}`;
  }
}

function showQuantized({ reports, totals, blob, label, kept, imatrix }, type, method, client) {
  const tbody = $('#quant-table tbody');
  tbody.replaceChildren();
  for (const r of reports) {
    const tr = document.createElement('tr');
    tr.dataset.name = r.name;
    cell(tr, r.name);
    cell(tr, r.dims.join(' × '));
    cell(tr, r.from);
    cell(tr, r.to);
    cell(tr, fmtInt(r.bytesOut), 'num');
    cell(tr, ((r.bytesOut * 8) / r.nElements).toFixed(3), 'num');
    cell(tr, fmtNum(r.rmse), 'num');
    cell(tr, r.sqnrDb == null ? 'exact' : r.sqnrDb.toFixed(2), 'num');
    cell(tr, r.cosine.toFixed(6), 'num');
    cell(tr, r.reason);
    tbody.append(tr);
  }
  $('#quant-table').hidden = false;
  $('#quant-totals').textContent = `${fmtInt(totals.tensors)} tensors: ${fmtBytes(totals.bytesIn)} → ${fmtBytes(totals.bytesOut)} of tensor data, ${totals.bitsPerWeightIn.toFixed(2)} → ${totals.bitsPerWeightOut.toFixed(2)} bits per weight; file ${fmtBytes(blob.size)}.`;
  const a = $('#quant-download');
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(blob);
  a.download = `${modelName}-${type}${method === 'rtn' ? '' : `-${method}`}.gguf`;
  a.textContent = `Download ${a.download} (${fmtBytes(blob.size)})`;
  saveBlob = { blob, name: a.download };
  // Where the browser can write files (File System Access), the file is
  // streamed to the place the user picks; elsewhere it is a Blob download.
  const canSave = typeof window.showSaveFilePicker === 'function';
  a.hidden = canSave;
  $('#quant-save').hidden = !canSave;
  $('#quant-save').textContent = `Save ${a.download} (${fmtBytes(blob.size)})…`;
  $('#save-status').textContent = '';
  // The importance matrix, in llama-imatrix's GGUF format, for llama-quantize.
  const im = $('#imatrix-download');
  if (im.href) URL.revokeObjectURL(im.href);
  im.removeAttribute('href');
  im.hidden = !imatrix;
  if (imatrix) {
    im.href = URL.createObjectURL(imatrix);
    im.download = `${modelName}-imatrix.gguf`;
    im.textContent = `Download the importance matrix ${im.download} (${fmtBytes(imatrix.size)})`;
  }

  $('#quant-charts').hidden = false;
  showSqnr(reports);
  showLayers(reports);
  showSizes(reports);
  compareReady(kept, modelTypes, label);
  const sel = $('#view-tensor');
  sel.replaceChildren(...reports.map((r, i) => new Option(`${r.name} (${r.from} → ${r.to})`, String(i))));
  // start with the largest tensor that was quantized
  const first = reports.reduce((best, r, i) => (r.from !== r.to && (best < 0 || r.nElements > reports[best].nElements) ? i : best), -1);
  sel.value = String(Math.max(first, 0));
  sel.onchange = () => showView(client, reports, Number(sel.value));
  showView(client, reports, Number(sel.value));
}

// ---- Compare: the original and the last quantized model side by side ----

const compare = { variants: [], busy: false };

// The quantizations to compare with (labels, oldest first; none after
// another model opened), `latest` the one just made.
function compareReady(variants, fromTypes, latest) {
  compare.variants = variants ?? [];
  const any = compare.variants.length > 0;
  $('#compare-empty').hidden = any;
  $('#compare-body').hidden = !any;
  for (const id of ['#gen-original-text', '#gen-quantized-text', '#gen-original-speed', '#gen-quantized-speed']) $(id).replaceChildren();
  $('#gen-diverge').textContent = '';
  $('#gen-status').textContent = '';
  $('#eval-status').textContent = '';
  $('#eval-table').hidden = true;
  $('#eval-percentiles').hidden = true;
  if (!any) return;
  const newest = [...compare.variants].reverse();
  $('#compare-which').textContent = `Original: ${modelName} (${fromTypes}). Quantized: ${newest.map((l) => `${modelName} ${l}`).join('; ')}.`;
  $('#gen-original-title').textContent = `Original (${fromTypes})`;
  const sel = $('#gen-variant');
  sel.replaceChildren(...newest.map((l) => new Option(l, l)));
  sel.value = latest ?? newest[0];
  sel.onchange = () => {
    $('#gen-quantized-title').textContent = `Quantized (${sel.value})`;
  };
  sel.onchange();
}

// A quantization replaces the models a comparison runs, so the two wait
// for each other; an import replaces the open model when it ends, so
// neither starts during one.
const jobs = { quantizing: false, importing: false };
function syncJobButtons() {
  $('#gen-run').disabled = compare.busy || jobs.quantizing || jobs.importing;
  $('#eval-run').disabled = compare.busy || jobs.quantizing || jobs.importing;
  $('#quant-run').disabled = compare.busy || jobs.quantizing || jobs.importing || document.body.dataset.model !== 'loaded';
  $('#file-input').disabled = jobs.importing;
}

function setCompareBusy(busy) {
  compare.busy = busy;
  syncJobButtons();
}

const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

function speedText(s) {
  const n = s.tokens.length;
  if (n === 0) return 'No tokens (the model ended at once).';
  const rate = s.tokPerSec != null ? `${s.tokPerSec.toFixed(1)} tokens/s` : 'one token only';
  const plural = (k, w) => `${k} ${w}${k === 1 ? '' : 's'}`;
  return `${rate} · ${plural(n, 'token')} · prompt (${plural(s.promptTokens, 'token')}) and first token ${fmtMs(s.firstMs)} · ${s.device}`;
}

// Make the first token where the two outputs differ stand out in both.
function markDivergence(at) {
  for (const side of ['original', 'quantized']) {
    const span = $(`#gen-${side}-text`).children[at];
    if (!span) continue;
    span.classList.add('diverge');
    span.title = 'first token that differs between the two models';
  }
}

function setupCompare(client) {
  const ids = { original: [], quantized: [] };
  let divergeAt = null;
  const tokenSpan = (text) => {
    const span = document.createElement('span');
    span.className = 'tok';
    span.textContent = text;
    return span;
  };
  const checkDivergence = () => {
    if (divergeAt != null) return;
    const n = Math.min(ids.original.length, ids.quantized.length);
    for (let i = 0; i < n; i++) {
      if (ids.original[i] !== ids.quantized[i]) {
        divergeAt = i;
        markDivergence(i);
        return;
      }
    }
  };

  $('#gen-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (compare.busy) return;
    const maxTokens = Number($('#gen-tokens').value);
    const params = {
      label: $('#gen-variant').value,
      prompt: $('#gen-prompt').value,
      maxTokens,
      temperature: Number($('#gen-temp').value),
      seed: Number($('#gen-seed').value),
      device: $('#gen-device').value,
    };
    ids.original = [];
    ids.quantized = [];
    divergeAt = null;
    for (const side of ['original', 'quantized']) {
      $(`#gen-${side}-text`).replaceChildren();
      $(`#gen-${side}-speed`).textContent = '';
    }
    $('#gen-diverge').textContent = '';
    const status = $('#gen-status');
    const stop = $('#gen-stop');
    status.textContent = 'Loading both models…';
    setCompareBusy(true);
    stop.hidden = false;
    const req = client.request('compareGenerate', params, {
      onProgress: ({ done, total, side, token }) => {
        status.textContent = `${done} / ${total} tokens`;
        ids[side].push(token.id);
        $(`#gen-${side}-text`).append(tokenSpan(token.text));
        checkDivergence();
      },
    });
    stop.onclick = () => {
      stop.disabled = true;
      req.cancel();
    };
    try {
      const r = await req.promise;
      for (const side of ['original', 'quantized']) {
        $(`#gen-${side}-speed`).textContent = speedText(r[side]);
        $(`#gen-${side}`).dataset.tokens = String(r[side].tokens.length);
      }
      // The streamed ids are the result's; the result is authoritative.
      ids.original = r.original.tokens.map((t) => t.id);
      ids.quantized = r.quantized.tokens.map((t) => t.id);
      checkDivergence();
      const n = Math.min(ids.original.length, ids.quantized.length);
      const same = ids.original.length === ids.quantized.length;
      $('#gen-diverge').textContent = divergeAt != null
        ? `The outputs first differ at generated token ${divergeAt + 1} (highlighted): “${r.original.tokens[divergeAt].text}” against “${r.quantized.tokens[divergeAt].text}”.`
        : same
          ? `Both models generated the same ${n} tokens.`
          : `The same first ${n} tokens; then one model ended and the other went on.`;
      status.textContent = r.stopped ? 'Stopped.' : 'Done.';
    } catch (err) {
      status.textContent = `Generation failed: ${err.message}`;
    } finally {
      setCompareBusy(false);
      stop.hidden = true;
      stop.disabled = false;
    }
  });

  const loadDefaultText = async () => {
    try {
      $('#eval-text').value = await bundledText();
    } catch (err) {
      $('#eval-status').textContent = `The bundled text could not be loaded (${err.message}); paste a text instead.`;
    }
  };
  loadDefaultText();
  $('#eval-default').addEventListener('click', loadDefaultText);
  $('#eval-file').addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    try {
      $('#eval-text').value = await file.text();
      $('#eval-status').textContent = `Text from ${file.name}.`;
    } catch (err) {
      $('#eval-status').textContent = `${file.name} could not be read: ${err.message}`;
    }
  });

  $('#eval-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (compare.busy) return;
    const text = $('#eval-text').value;
    const status = $('#eval-status');
    if (!text.trim()) {
      status.textContent = 'The text is empty: paste a text or use the bundled one.';
      return;
    }
    const bar = $('#eval-progress');
    const cancel = $('#eval-cancel');
    setCompareBusy(true);
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    status.textContent = 'Loading both models…';
    const req = client.request('compareEval', {
      text,
      nCtx: Number($('#eval-ctx').value),
      maxChunks: Number($('#eval-chunks').value) || 0,
    }, {
      onProgress: ({ done, total, label }) => {
        bar.max = total;
        bar.value = done;
        status.textContent = label;
      },
    });
    cancel.onclick = () => req.cancel();
    try {
      showEval(await req.promise);
      status.textContent = 'Done.';
    } catch (err) {
      status.textContent = err instanceof CancelledError ? 'Cancelled.' : `Evaluation failed: ${err.message}`;
    } finally {
      setCompareBusy(false);
      cancel.hidden = true;
      bar.hidden = true;
    }
  });
}

// One column per quantization (the latest first), one row per measure.
function showEval({ variants }) {
  const measures = [
    ['ppl-base', 'Perplexity, original', (r) => r.kl.pplBase.toFixed(4), 'How surprised the original model is by the text (lower is better).'],
    ['ppl', 'Perplexity, quantized', (r) => `${r.ppl.toFixed(4)} ± ${r.pplUncertainty.toFixed(4)}`, 'The same for the quantized model.'],
    ['delta-ppl', 'Perplexity change', (r) => `${r.kl.deltaPpl >= 0 ? '+' : ''}${r.kl.deltaPpl.toFixed(4)} (×${r.kl.pplRatio.toFixed(4)})`, 'Quantized minus original.'],
    ['kld', 'Mean KL divergence', (r) => `${fmtNum(r.kl.meanKld)} ± ${fmtNum(r.kl.meanKldUncertainty)}`, 'How far the next-token distributions are apart, in nats per token (0: identical).'],
    ['kld-median', 'KL divergence, median', (r) => fmtNum(pct(r, 0.5)), 'Half the positions diverge less than this.'],
    ['kld-99', 'KL divergence, 99th percentile', (r) => fmtNum(pct(r, 0.99)), 'The worst 1% of positions diverge more.'],
    ['kld-max', 'KL divergence, maximum', (r) => fmtNum(pct(r, 1)), 'The single worst position.'],
    ['same-top', 'Same top token', (r) => `${(r.kl.sameTop * 100).toFixed(2)} %`, 'Positions where both models rank the same token first.'],
    ['tokens', 'Tokens scored', (r) => `${fmtInt(r.tokensScored)} in ${r.chunks} chunks`, `Each chunk's second half is scored, as llama-perplexity does; seconds for both models: ${variants.map((r) => r.seconds.toFixed(2)).join(', ')}.`],
  ];
  const th = (text, cls) => {
    const el = document.createElement('th');
    el.scope = 'col';
    el.textContent = text;
    if (cls) el.className = cls;
    return el;
  };
  const table = $('#eval-table');
  table.tHead.rows[0].replaceChildren(th('measure'), ...variants.map((r) => th(r.label, 'num')), th('what it means'));
  const tbody = table.tBodies[0];
  tbody.replaceChildren();
  for (const [key, name, value, what] of measures) {
    const tr = document.createElement('tr');
    tr.dataset.key = key;
    cell(tr, name);
    for (const r of variants) cell(tr, value(r), 'num');
    cell(tr, what, 'what');
    tbody.append(tr);
  }
  table.hidden = false;
  const ptable = $('#eval-percentiles table');
  ptable.tHead.rows[0].replaceChildren(th('percentile'), ...variants.map((r) => th(`KL divergence, ${r.label}`, 'num')));
  const ptbody = ptable.tBodies[0];
  ptbody.replaceChildren();
  for (const [i, [f]] of variants[0].kl.kldPercentiles.entries()) {
    const tr = document.createElement('tr');
    cell(tr, f === 1 ? 'maximum' : f === 0 ? 'minimum' : f === 0.5 ? 'median' : `${+(f * 100).toFixed(1)} %`);
    for (const r of variants) cell(tr, fmtNum(r.kl.kldPercentiles[i][1]), 'num');
    ptbody.append(tr);
  }
  $('#eval-percentiles').hidden = false;
}

const pct = (r, f) => r.kl.kldPercentiles.find(([p]) => p === f)?.[1];

// The bundled text, fetched once (evaluation and calibration both use it).
let bundled = null;
function bundledText() {
  bundled ??= fetch(DEFAULT_TEXT).then((res) => {
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.text();
  });
  bundled.catch(() => {
    bundled = null;
  });
  return bundled;
}

// The ggml type a choice mostly rounds to: a pure type, or the one a preset
// is named after (Q4_K_M: q4_K), lower case.
const mainType = (choice) => (choice.startsWith('pure:') ? choice.slice(5) : choice.replace(/_[SML]$/, '')).toLowerCase();

// Importance matrix and GPTQ where the chosen type can use them; round to
// nearest otherwise, saying why.
function syncMethods(types) {
  const t = types.get(mainType($('#quant-type').value));
  const choice = $('#quant-type').selectedOptions[0]?.textContent.split(' ')[0] ?? '';
  const allowed = { rtn: true, imatrix: !!t?.usesImportance, gptq: !!t?.gptq };
  let note = '';
  for (const [m, ok] of Object.entries(allowed)) {
    const radio = $(`#method-${m}`);
    radio.disabled = !ok;
    if (!ok && radio.checked) {
      $('#method-rtn').checked = true;
      note = ` ${m === 'gptq' ? 'GPTQ' : 'An importance matrix'} does not apply to ${choice}: rounding to nearest instead.`;
    }
  }
  const method = document.querySelector('input[name="quant-method"]:checked').value;
  const names = (f) => [...types.values()].filter(f).map((x) => x.name).sort((a, b) => a.localeCompare(b));
  const gptqTypes = names((x) => x.gptq);
  const imTypes = names((x) => x.usesImportance);
  const help = {
    rtn: 'Round to nearest: every block of weights on its own grid, as llama-quantize does without an importance matrix.',
    imatrix: `Importance matrix: the mean squared input of every weight column over the calibration text (as llama-imatrix computes it), then rounding that favours the columns with large inputs (llama-quantize --imatrix). Types that use it: ${imTypes.join(', ')}.`,
    gptq: "GPTQ: rounds each block's attention and feed-forward matrices one column at a time, pushing every column's error onto the columns not yet rounded, so that the block's outputs on the calibration text change least. The embeddings, the output and tensors a preset gives another type are rounded to nearest. Group size: columns whose block scales are chosen together (a multiple of the type's block); -1 chooses every scale from the original weights first, as activation order (columns with the largest inputs first) always does. Dampening: added to the Hessian's diagonal, in % of its mean.",
  }[method];
  $('#method-help').textContent = `${help}${note} GPTQ rounds to ${gptqTypes.join(', ')} only (and the presets named after them); for other types it is off.`;
  $('#calib').hidden = method === 'rtn';
  $('#gptq-options').hidden = method !== 'gptq';
}

async function setupQuantize(client) {
  const types = await client.call('ggmlTypes');
  const presets = $('#quant-presets');
  for (const p of PRESETS) presets.append(new Option(p, p, p === 'Q4_K_M', p === 'Q4_K_M'));
  const pure = $('#quant-pure');
  for (const t of types) {
    const opt = new Option(`${t.name} (${t.bitsPerWeight.toFixed(2)} bits per weight)`, `pure:${t.name}`);
    pure.append(opt);
  }
  const byName = new Map(types.map((t) => [t.name.toLowerCase(), t]));
  const sync = () => syncMethods(byName);
  $('#quant-type').addEventListener('change', sync);
  for (const r of document.querySelectorAll('input[name="quant-method"]')) r.addEventListener('change', sync);
  sync();

  // Calibration text: by default the end of the bundled text (evaluation
  // starts at its beginning), or the user's own.
  let calibName = '';
  const useBundled = async () => {
    try {
      const text = await bundledText();
      const from = text.indexOf('\n', text.length - 4096) + 1;
      $('#calib-text').value = text.slice(from);
      calibName = `${DEFAULT_TEXT.split('/').pop()} (last 4 KB)`;
    } catch (err) {
      $('#quant-status').textContent = `The bundled text could not be loaded (${err.message}); paste a calibration text instead.`;
    }
  };
  useBundled();
  $('#calib-default').addEventListener('click', useBundled);
  $('#calib-text').addEventListener('input', () => {
    calibName = 'pasted text';
  });
  $('#calib-file').addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    try {
      $('#calib-text').value = await file.text();
      calibName = file.name;
      $('#quant-status').textContent = `Calibration text from ${file.name}.`;
    } catch (err) {
      $('#quant-status').textContent = `${file.name} could not be read: ${err.message}`;
    }
  });

  $('#quant-run').addEventListener('click', async () => {
    const cancel = $('#quant-cancel');
    const bar = $('#quant-progress');
    const status = $('#quant-status');
    const layerRow = $('#calib-layer');
    const choice = $('#quant-type').value;
    const isPure = choice.startsWith('pure:');
    const type = isPure ? choice.slice(5) : choice;
    const method = document.querySelector('input[name="quant-method"]:checked').value;
    const params = { type, pure: isPure, method };
    if (method !== 'rtn') {
      const text = $('#calib-text').value;
      if (!text.trim()) {
        status.textContent = 'The calibration text is empty: paste a text, pick a file or use the bundled one.';
        return;
      }
      params.calib = { text, name: calibName || 'calibration text', nCtx: Number($('#calib-ctx').value), chunks: Number($('#calib-chunks').value) || 0 };
      if (method === 'gptq') {
        const damp = Number($('#gptq-damp').value);
        if (!(damp >= 0 && damp <= 100) || $('#gptq-damp').value === '') {
          status.textContent = 'The dampening must be a percentage from 0 to 100.';
          return;
        }
        params.gptq = { group: Number($('#gptq-group').value), damp: damp / 100, actOrder: $('#gptq-act-order').checked };
      }
    }
    jobs.quantizing = true;
    syncJobButtons();
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    status.textContent = method === 'rtn' ? 'Starting…' : 'Calibrating…';
    const req = client.request('quantize', params, {
      onProgress: ({ done, total, label, phase, calib }) => {
        bar.max = total;
        bar.value = done;
        status.textContent = `${done} / ${total}: ${phase === 'write' ? label : `calibrating, ${label}`}`;
        // calibration: how far the block at hand is
        layerRow.hidden = !calib;
        if (calib) {
          $('#calib-layer-progress').max = calib.layerTotal;
          $('#calib-layer-progress').value = calib.layerDone;
          $('#calib-layer-status').textContent = `block ${calib.layer + 1} of ${calib.layers}, step ${calib.layerDone} of ${calib.layerTotal}`;
        }
      },
    });
    cancel.onclick = () => req.cancel();
    try {
      showQuantized(await req.promise, type, method, client);
      status.textContent = `Quantized to ${type}${{ rtn: '', imatrix: ' with an importance matrix', gptq: ' with GPTQ' }[method]}.`;
    } catch (err) {
      status.textContent = err instanceof CancelledError ? 'Cancelled.' : `Quantization failed: ${err.message}`;
    } finally {
      jobs.quantizing = false;
      syncJobButtons();
      cancel.hidden = true;
      bar.hidden = true;
      layerRow.hidden = true;
    }
  });
}

async function refreshSaved(client, open) {
  const status = $('#saved-status');
  let list;
  try {
    list = await client.call('listSaved');
  } catch (err) {
    $('#saved-empty').textContent = `Saving models is not available here: ${err.message}`;
    return;
  }
  const ul = $('#saved-list');
  ul.replaceChildren();
  $('#saved-empty').hidden = list.length > 0;
  for (const { name, size } of list) {
    const li = document.createElement('li');
    li.dataset.name = name;
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = name;
    const sz = document.createElement('span');
    sz.className = 'muted';
    sz.textContent = fmtBytes(size);
    const openBtn = document.createElement('button');
    openBtn.type = 'button';
    openBtn.textContent = 'Open';
    openBtn.setAttribute('aria-label', `Open ${name}`);
    openBtn.onclick = () => open(name);
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'secondary';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${name}`);
    del.onclick = async () => {
      try {
        await client.call('deleteSaved', { name });
        status.textContent = `Deleted ${name}.`;
      } catch (err) {
        status.textContent = `Could not delete ${name}: ${err.message}`;
      }
      refreshSaved(client, open);
    };
    li.append(label, sz, openBtn, del);
    ul.append(li);
  }
}

// After a model opened from a file or URL: keep a copy if the user wants.
async function keep(client, name, open) {
  if (!$('#keep-models').checked) return;
  try {
    const saved = await client.call('saveModel', { name });
    $('#saved-status').textContent = `Saved ${saved} on this device.`;
  } catch (err) {
    $('#saved-status').textContent = `Not saved: ${err.message}`;
  }
  refreshSaved(client, open);
}

async function main() {
  // The app keeps working offline after one visit (web/sw.js).
  navigator.serviceWorker?.register('sw.js').catch((err) => note(`Offline use is unavailable: ${err.message}`, 'warn'));
  const simd = hasWasmSimd();
  const variant = simd ? 'simd' : 'plain';
  if (!simd) {
    note('This browser does not support WebAssembly SIMD, so webquant uses its plain build: everything works, more slowly.', 'warn');
  }
  const client = new WorkerClient(new URL('./worker.js', import.meta.url));
  // For the browser console and end-to-end tests: the same client the page uses.
  window.webquant = { client };

  let init;
  try {
    init = await client.call('init', { variant });
  } catch (err) {
    $('#engine-status').textContent = `The WebAssembly module could not start: ${err.message}`;
    document.body.dataset.ready = 'failed';
    return;
  }
  const { build, gpu } = init;
  const cpu = `CPU: WebAssembly${build.simd128 ? ' with SIMD' : ' (no SIMD)'}`;
  $('#engine-status').textContent = gpu.available
    ? `${cpu}. WebGPU: ${gpu.name || 'available (the browser does not report the adapter name)'} (shader-f16 ${gpu.shaderF16 ? 'yes' : 'no'}, subgroups ${gpu.subgroups ? 'yes' : 'no'}).`
    : `${cpu}. WebGPU: not available.`;
  if (!gpu.available) {
    note(`WebGPU is not available here (${gpu.reason}). Models run on the CPU in WebAssembly, which is slower but gives the same results.`, 'warn');
  }
  // Generation runs where it is fastest: a real GPU; an emulated one
  // (SwiftShader) can be chosen but is slower than the CPU.
  const gpuOption = $('#gen-device option[value=gpu]');
  gpuOption.disabled = !gpu.available;
  if (gpu.available && gpu.software) gpuOption.textContent = `GPU (WebGPU on ${gpu.name || 'a software adapter'}: slower than the CPU)`;
  $('#gen-device').value = gpu.available && !gpu.software ? 'gpu' : 'cpu';
  document.body.dataset.ready = 'yes';
  document.body.dataset.variant = variant;
  document.body.dataset.webgpu = gpu.available ? 'yes' : 'no';

  $('#quant-save').addEventListener('click', saveToDisk);
  setupCompare(client);
  try {
    await setupQuantize(client);
  } catch (err) {
    note(`Quantization is unavailable: ${err.message}`, 'warn');
  }

  try {
    showModel(await client.call('openUrl', { url: new URL(DEFAULT_MODEL, location.href).href }), 'bundled with webquant');
  } catch (err) {
    showError(new Error(`The default model could not be opened: ${err.message}`));
  }

  // An import replaces the open model when it ends, so another model does
  // not open meanwhile (it would be replaced at once).
  const importRunning = () => {
    if (jobs.importing) showError(new Error('An import is running: cancel it first, or wait for it to end.'));
    return jobs.importing;
  };
  const openSaved = async (name) => {
    showError(null);
    if (importRunning()) return;
    try {
      showModel(await client.call('openSaved', { name }), `saved: ${name}`);
    } catch (err) {
      showError(new Error(`${name} could not be opened: ${err.message}`));
    }
  };
  refreshSaved(client, openSaved);
  const openFile = async (file) => {
    showError(null);
    try {
      showModel(await client.call('openFile', { file }), file.name);
      keep(client, file.name, openSaved);
    } catch (err) {
      // The previous model stays open in the worker and on the page.
      showError(new Error(`${file.name} could not be opened: ${err.message}`));
    }
  };
  // A Hugging Face model or llama2.c checkpoint: converted to a GGUF in the
  // worker, tensor by tensor, which then is the open model.
  const importModel = async (picked) => {
    const sources = picked.kind === 'hf'
      ? [picked.weights, picked.config, picked.tokenizer, picked.tokenizerConfig].filter(Boolean)
      : [picked.checkpoint, picked.tokenizer];
    const what = sources.map((f) => f.name).join(' + ');
    // The worker prefers the name in config.json (_name_or_path).
    const name = picked.kind === 'hf' ? picked.folder ?? stem(picked.weights.name) : stem(picked.checkpoint.name);
    const bar = $('#import-progress');
    const status = $('#import-status');
    const cancel = $('#import-cancel');
    jobs.importing = true;
    syncJobButtons();
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    status.textContent = `Importing ${what}…`;
    const { folder, ...files } = picked;
    const req = client.request('importModel', { ...files, name }, {
      onProgress: ({ done, total, label }) => {
        bar.max = total;
        bar.value = done;
        status.textContent = `Importing: ${done} / ${total}: ${label}`;
      },
    });
    cancel.onclick = () => req.cancel();
    try {
      const { info, type } = await req.promise;
      const as = type.toUpperCase();
      showModel(info, `${what} (imported as ${as} GGUF)`);
      status.textContent = `Imported ${info.name} as an ${as} GGUF (${fmtBytes(info.fileBytes)}).`;
      keep(client, `${info.name}.gguf`, openSaved);
    } catch (err) {
      status.textContent = '';
      // The previous model stays open in the worker and on the page.
      showError(err instanceof CancelledError
        ? new Error('Import cancelled; the previous model is still open.')
        : new Error(`${what} could not be imported: ${err.message}`));
    } finally {
      jobs.importing = false;
      syncJobButtons();
      cancel.hidden = true;
      bar.hidden = true;
    }
  };
  // The files picked or dropped together: a GGUF, or a model to import.
  const openFiles = (files, folder) => {
    if (files.length === 0) return;
    showError(null);
    if (importRunning()) return;
    const picked = sortModelFiles(files, folder);
    if (picked.error) showError(new Error(picked.error));
    else if (picked.kind === 'gguf') openFile(picked.file);
    else importModel(picked);
  };
  $('#file-input').addEventListener('change', (e) => {
    openFiles([...(e.target.files ?? [])]);
    // Picking the same files again (after fixing a missing one) fires again.
    e.target.value = '';
  });
  // Drop files, or a model's folder, anywhere on the page.
  document.addEventListener('dragover', (e) => {
    if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    droppedFiles(e.dataTransfer).then(
      ({ files, folder }) => openFiles(files, folder),
      (err) => showError(new Error(`The dropped files could not be read: ${err.message}`)),
    );
  });

  $('#url-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const url = $('#url-input').value.trim();
    showError(null);
    if (importRunning()) return;
    const bar = $('#url-progress');
    const status = $('#url-status');
    const cancel = $('#url-cancel');
    $('#url-open').disabled = true;
    cancel.hidden = false;
    bar.hidden = false;
    bar.removeAttribute('value');
    const t0 = performance.now();
    const req = client.request('openUrl', { url }, {
      onProgress: ({ done, total }) => {
        const secs = (performance.now() - t0) / 1000;
        const speed = done / Math.max(secs, 1e-3);
        let text = `${fmtBytes(done)}${total ? ` of ${fmtBytes(total)}` : ''}, ${fmtBytes(speed)}/s`;
        if (total) {
          bar.max = total;
          bar.value = done;
          text += `, ${Math.max(0, (total - done) / speed).toFixed(0)} s left`;
        }
        status.textContent = text;
      },
    });
    cancel.onclick = () => req.cancel();
    try {
      showModel(await req.promise, url);
      status.textContent = `Opened ${url.split('/').pop()}.`;
      keep(client, url, openSaved);
    } catch (err) {
      status.textContent = '';
      showError(err instanceof CancelledError ? new Error('Download cancelled; the previous model is still open.') : err);
    } finally {
      $('#url-open').disabled = false;
      cancel.hidden = true;
      bar.hidden = true;
    }
  });

  $('#stats-run').addEventListener('click', async () => {
    const run = $('#stats-run');
    const cancel = $('#stats-cancel');
    const bar = $('#stats-progress');
    const status = $('#stats-status');
    run.disabled = true;
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    status.textContent = '';
    const req = client.request('tensorStats', {}, {
      onProgress: ({ done, total, label }) => {
        bar.max = total;
        bar.value = done;
        status.textContent = `${done} / ${total}: ${label}`;
      },
    });
    cancel.onclick = () => req.cancel();
    try {
      const rows = await req.promise;
      for (const s of rows) {
        const tr = document.querySelector(`#tensor-table tr[data-name="${CSS.escape(s.name)}"]`);
        if (!tr) continue;
        const cells = tr.children;
        cells[4].textContent = fmtNum(s.min);
        cells[5].textContent = fmtNum(s.max);
        cells[6].textContent = fmtNum(s.mean);
        cells[7].textContent = fmtNum(s.std);
      }
      status.textContent = `Statistics for ${rows.length} tensors.`;
    } catch (err) {
      status.textContent = err instanceof CancelledError ? 'Cancelled.' : `Failed: ${err.message}`;
    } finally {
      run.disabled = false;
      cancel.hidden = true;
      bar.hidden = true;
    }
  });
}

main();
