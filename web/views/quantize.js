// The Quantize section: the type and method, calibration, the quantize job,
// its table and charts, and saving the file.
import uPlot from '../vendor/uPlot.esm.js';
import { $, row } from '../dom.js';
import { fmtBytes, fmtNum } from '../format.js';
import { runJob } from '../job.js';
import {
  calibTail, largestQuantized, layerSeries, mainType, parseChoice, quantDoneText, quantFileName, quantRow, sizeSeries, sqnrSeries, totalsText,
} from '../report.js';
import { DEFAULT_TEXT, bundledText, state, syncJobButtons } from '../state.js';
import { compareReady } from './compare.js';

// llama-quantize's presets, in its menu order.
const PRESETS = ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_0', 'Q4_1', 'Q4_K_S', 'Q4_K_M', 'Q5_0', 'Q5_1', 'Q5_K_S', 'Q5_K_M', 'Q6_K', 'Q8_0'];
let saveBlob = null; // the last quantized file, for "Save to disk"

// A model opened: the worker dropped the previous model's quantization, so
// does the page.
export function quantizeOpened() {
  $('#quant-type').disabled = false;
  $('#quant-download').hidden = true;
  $('#imatrix-download').hidden = true;
  $('#quant-save').hidden = true;
  $('#save-status').textContent = '';
}

const charts = {};
function chart(key, el, opts, data) {
  charts[key]?.destroy();
  charts[key] = new uPlot({ width: Math.min(900, el.parentElement.clientWidth - 8), height: 240, ...opts }, data, el);
}

// SQNR of every quantized tensor, as bars in file order.
function showSqnr(reports) {
  const { names, values } = sqnrSeries(reports);
  chart('sqnr', $('#sqnr-chart'), {
    // half a bar of room at each end, so the first and last bars show whole
    scales: { x: { time: false, range: [-0.6, names.length - 0.4] } },
    axes: [{ label: 'tensor (hover for the name)', values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : '')) }, { label: 'SQNR dB' }],
    series: [
      { label: 'tensor', value: (_, i) => (i == null ? '–' : names[i] ?? '–') },
      { label: 'SQNR dB', stroke: '#2457c5', fill: '#2457c588', paths: uPlot.paths.bars({ size: [0.8] }), points: { show: false } },
    ],
  }, [names.map((_, i) => i), values]);
}

// Per layer (blk.N): the SQNR of its quantized weights together, and its
// worst tensor.
function showLayers(reports) {
  const { keys, sqnr, worst, worstName } = layerSeries(reports);
  const el = $('#layer-chart');
  el.dataset.layers = String(keys.length);
  if (keys.length === 0) {
    charts.layers?.destroy();
    delete charts.layers;
    el.textContent = 'No layer was quantized (every tensor is stored exactly).';
    return;
  }
  el.textContent = '';
  chart('layers', el, {
    // bars start at 0 dB, so their heights compare
    scales: { x: { time: false, range: [-0.6, keys.length - 0.4] }, y: { range: (_, __, max) => [0, Math.ceil(max * 1.1)] } },
    axes: [{ label: 'layer', values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? `blk.${keys[t] ?? ''}` : '')) }, { label: 'SQNR dB' }],
    series: [
      { label: 'layer', value: (_, i) => (i == null ? '–' : `blk.${keys[i]}`) },
      { label: 'layer SQNR dB', stroke: '#2457c5', fill: '#2457c588', paths: uPlot.paths.bars({ size: [0.6] }), points: { show: false }, value: (_, v) => (v == null ? '–' : v.toFixed(2)) },
      { label: 'worst tensor dB', stroke: '#c5531f', width: 0, points: { show: true, size: 8, fill: '#c5531f' }, value: (_, v, __, i) => (v == null ? '–' : `${v.toFixed(2)} (${worstName[i]})`) },
    ],
  }, [keys.map((_, i) => i), sqnr, worst]);
}

// Bytes by tensor kind (the name without blk.N and .weight), before and after.
function showSizes(reports) {
  const { names, before, after } = sizeSeries(reports);
  const el = $('#size-chart');
  el.dataset.kinds = names.join(',');
  chart('sizes', el, {
    scales: { x: { time: false, range: [-0.6, names.length - 0.4] } },
    axes: [{ label: 'tensor kind', values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? names[t] ?? '' : '')) }, { label: 'KiB' }],
    series: [
      { label: 'kind', value: (_, i) => (i == null ? '–' : names[i]) },
      { label: 'original KiB', stroke: '#2457c5', fill: '#2457c566', paths: uPlot.paths.bars({ size: [0.35], align: -1 }), points: { show: false }, value: (_, v) => (v == null ? '–' : v.toFixed(1)) },
      { label: 'quantized KiB', stroke: '#c5531f', fill: '#c5531fbb', paths: uPlot.paths.bars({ size: [0.35], align: 1 }), points: { show: false }, value: (_, v) => (v == null ? '–' : v.toFixed(1)) },
    ],
  }, [names.map((_, i) => i), before, after]);
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
  const { modelName } = state;
  const tbody = $('#quant-table tbody');
  tbody.replaceChildren();
  for (const r of reports) row(tbody, quantRow(r)).dataset.name = r.name;
  $('#quant-table').hidden = false;
  $('#quant-totals').textContent = totalsText(totals, blob.size);
  const a = $('#quant-download');
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(blob);
  a.download = quantFileName(modelName, type, method);
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
  compareReady(kept, state.modelTypes, label);
  const sel = $('#view-tensor');
  sel.replaceChildren(...reports.map((r, i) => new Option(`${r.name} (${r.from} → ${r.to})`, String(i))));
  // start with the largest tensor that was quantized
  sel.value = String(Math.max(largestQuantized(reports), 0));
  sel.onchange = () => showView(client, reports, Number(sel.value));
  showView(client, reports, Number(sel.value));
}

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

export async function setupQuantize(client) {
  $('#quant-save').addEventListener('click', saveToDisk);
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
      $('#calib-text').value = calibTail(await bundledText());
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

  $('#quant-run').addEventListener('click', () => {
    const status = $('#quant-status');
    const layerRow = $('#calib-layer');
    const { type, pure: isPure } = parseChoice($('#quant-type').value);
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
    runJob(client, 'quantize', params, {
      status,
      start: method === 'rtn' ? 'Starting…' : 'Calibrating…',
      bar: $('#quant-progress'),
      cancel: $('#quant-cancel'),
      busy: (on) => {
        state.quantizing = on;
        syncJobButtons();
        if (!on) layerRow.hidden = true;
      },
      progress: ({ done, total, label, phase, calib }) => {
        // calibration: how far the block at hand is
        layerRow.hidden = !calib;
        if (calib) {
          $('#calib-layer-progress').max = calib.layerTotal;
          $('#calib-layer-progress').value = calib.layerDone;
          $('#calib-layer-status').textContent = `block ${calib.layer + 1} of ${calib.layers}, step ${calib.layerDone} of ${calib.layerTotal}`;
        }
        return `${done} / ${total}: ${phase === 'write' ? label : `calibrating, ${label}`}`;
      },
      done: (result) => {
        showQuantized(result, type, method, client);
        return quantDoneText(type, method);
      },
      failed: 'Quantization failed',
    });
  });
}
