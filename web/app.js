// The page: picks the wasm variant this browser can run, starts the worker,
// opens the bundled model and shows what it is. All work happens in the worker.
import uPlot from './vendor/uPlot.esm.js';
import { WorkerClient, CancelledError } from './client.js';
import { hasWasmSimd } from './features.js';

const DEFAULT_MODEL = 'models/stories260K.gguf';
// llama-quantize's presets, in its menu order.
const PRESETS = ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_0', 'Q4_1', 'Q4_K_S', 'Q4_K_M', 'Q5_0', 'Q5_1', 'Q5_K_S', 'Q5_K_M', 'Q6_K', 'Q8_0'];
let modelName = 'model';
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
  $('#quant-run').disabled = false;
  $('#quant-type').disabled = false;
  modelName = info.name || 'model';
  document.body.dataset.model = 'loaded';
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
    scales: { x: { time: false } },
    axes: [{ label: 'tensor (hover for the name)', values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : '')) }, { label: 'SQNR dB' }],
    series: [
      { label: 'tensor', value: (_, i) => (i == null ? '–' : names[i] ?? '–') },
      { label: 'SQNR dB', stroke: '#2457c5', fill: '#2457c588', paths: uPlot.paths.bars({ size: [0.8] }), points: { show: false } },
    ],
  }, [rows.map((_, i) => i), rows.map((r) => r.sqnrDb)]);
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

function showQuantized({ reports, totals, blob }, type, client) {
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
  a.download = `${modelName}-${type}.gguf`;
  a.textContent = `Download ${a.download} (${fmtBytes(blob.size)})`;
  a.hidden = false;

  $('#quant-charts').hidden = false;
  showSqnr(reports);
  const sel = $('#view-tensor');
  sel.replaceChildren(...reports.map((r, i) => new Option(`${r.name} (${r.from} → ${r.to})`, String(i))));
  // start with the largest tensor that was quantized
  const first = reports.reduce((best, r, i) => (r.from !== r.to && (best < 0 || r.nElements > reports[best].nElements) ? i : best), -1);
  sel.value = String(Math.max(first, 0));
  sel.onchange = () => showView(client, reports, Number(sel.value));
  showView(client, reports, Number(sel.value));
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
  $('#quant-run').addEventListener('click', async () => {
    const run = $('#quant-run');
    const cancel = $('#quant-cancel');
    const bar = $('#quant-progress');
    const status = $('#quant-status');
    const choice = $('#quant-type').value;
    const isPure = choice.startsWith('pure:');
    const type = isPure ? choice.slice(5) : choice;
    run.disabled = true;
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    status.textContent = 'Starting…';
    const req = client.request('quantize', { type, pure: isPure }, {
      onProgress: ({ done, total, label }) => {
        bar.max = total;
        bar.value = done;
        status.textContent = `${done} / ${total}: ${label}`;
      },
    });
    cancel.onclick = () => req.cancel();
    try {
      showQuantized(await req.promise, type, client);
      status.textContent = `Quantized to ${type}.`;
    } catch (err) {
      status.textContent = err instanceof CancelledError ? 'Cancelled.' : `Quantization failed: ${err.message}`;
    } finally {
      run.disabled = false;
      cancel.hidden = true;
      bar.hidden = true;
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
  document.body.dataset.ready = 'yes';
  document.body.dataset.variant = variant;
  document.body.dataset.webgpu = gpu.available ? 'yes' : 'no';

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

  const openSaved = async (name) => {
    showError(null);
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
  $('#file-input').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    if (file) openFile(file);
  });
  // Drop a file anywhere on the page.
  document.addEventListener('dragover', (e) => {
    if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    e.preventDefault();
    openFile(file);
  });

  $('#url-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const url = $('#url-input').value.trim();
    const bar = $('#url-progress');
    const status = $('#url-status');
    const cancel = $('#url-cancel');
    showError(null);
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
