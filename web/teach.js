// The teaching page: quantization step by step, calibration, number formats
// and ggml blocks. Every number comes from the wasm library in the worker;
// the block decoding here is only for display and is checked against the
// library's dequantize() on the page.
import uPlot from './vendor/uPlot.esm.js';
import { WorkerClient } from './client.js';
import { $, row, showFacts } from './dom.js';
import { hasWasmSimd } from './features.js';
import { f16, hex, parseNumber, parseValues } from './parse.js';

const fmt = (x, digits = 4) => (x == null ? '–' : Number.isInteger(x) ? String(x) : Number(x).toFixed(digits));
const FORMATS = ['fp32', 'fp16', 'bf16', 'tf32', 'fp8_e4m3', 'fp8_e5m2', 'fp4_e2m1', 'int8'];
const CALIBRATIONS = [
  ['min-max', { method: 'minMax' }],
  ['percentile 99.9', { method: 'percentile', percentile: 99.9 }],
  ['MSE search', { method: 'mse', candidates: 200 }],
  ['KL divergence', { method: 'kl', bins: 2048 }],
];

let client;
const teach = (fn, ...args) => client.call('teach', { fn, args });

function config(calibration = { method: 'minMax' }) {
  return {
    scheme: document.querySelector('input[name=scheme]:checked').value,
    bits: Number($('#bits').value),
    granularity: { kind: 'perTensor' },
    calibration,
  };
}

// --- 1. step by step -------------------------------------------------------
// Renders await the worker; when inputs change meanwhile, a newer render
// has started and the older one stops before touching the page.
const latest = { steps: 0, calib: 0, formats: 0 };

let stepsPlot;
async function renderSteps() {
  const gen = ++latest.steps;
  $('#bits-out').textContent = $('#bits').value;
  const err = $('#steps-error');
  let x;
  try {
    x = parseValues($('#data-input').value);
    err.hidden = true;
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    return;
  }
  const q = await teach('teachQuantize', x, 1, x.length, config());
  if (gen !== latest.steps) return;
  const g = q.groups[0];
  showFacts($('#params'), [
    ['Integer grid', `${q.qmin} … ${q.qmax}`, 'p-grid'],
    ['Range', `[${fmt(g.lo)}, ${fmt(g.hi)}]`, 'p-range'],
    ['Scale Δ', `${fmt(g.scale, 6)} (x ≈ (q − zero point) · Δ)`, 'p-scale'],
    ['Zero point', String(g.zeroPoint), 'p-zero'],
    ['MSE', fmt(q.stats.mse, 6), 'p-mse'],
    ['SQNR', q.stats.sqnrDb == null ? 'exact' : `${fmt(q.stats.sqnrDb, 2)} dB`, 'p-sqnr'],
  ]);
  const tbody = $('#step-table tbody');
  tbody.replaceChildren();
  x.forEach((v, i) => {
    const rounded = Math.round(q.scaled[i]) + g.zeroPoint;
    row(tbody, [
      [String(i + 1)],
      [fmt(v), 'num'],
      [fmt(q.scaled[i]), 'num'],
      [String(rounded), 'num'],
      [q.clamped[i] ? 'yes' : ''],
      [String(q.values[i]), 'num q'],
      [fmt(q.dequantized[i]), 'num deq'],
      [fmt(q.errors[i]), 'num'],
    ]);
  });
  const xs = Array.from(x, (_, i) => i + 1);
  const data = [xs, Array.from(x), Array.from(q.dequantized)];
  if (stepsPlot) stepsPlot.destroy();
  stepsPlot = new uPlot(
    {
      width: Math.min(640, $('#steps').clientWidth - 32),
      height: 220,
      scales: { x: { time: false } },
      axes: [{ label: 'index' }, { label: 'value' }],
      series: [
        {},
        { label: 'original', stroke: '#2457c5', width: 0, points: { size: 8 } },
        { label: 'dequantized', stroke: '#c5531f', width: 0, points: { size: 8, fill: '#c5531f' } },
      ],
    },
    data,
    $('#steps-chart'),
  );
}

// --- 2. calibration --------------------------------------------------------
// 2,000 values from a bell curve (a fixed seed, so the page is reproducible)
// and one outlier the reader drags.
const BELL = (() => {
  let seed = 12345;
  const uniform = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed + 0.5) / 2 ** 32;
  };
  return Float32Array.from({ length: 2000 }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
})();

let calibPlot;
async function renderCalibration() {
  const gen = ++latest.calib;
  $('#outlier-out').textContent = $('#outlier').value;
  const outlier = Number($('#outlier').value);
  const x = new Float32Array([...BELL, outlier]);
  const n = BELL.length;
  const results = [];
  for (const [, calibration] of CALIBRATIONS) results.push(await teach('teachQuantize', x, 1, x.length, config(calibration)));
  if (gen !== latest.calib) return;
  const tbody = $('#calib-table tbody');
  tbody.replaceChildren();
  for (const [k, [name, calibration]] of CALIBRATIONS.entries()) {
    const q = results[k];
    const g = q.groups[0];
    const mseRest = q.errors.slice(0, n).reduce((acc, e) => acc + e * e, 0) / n;
    row(tbody, [[name], [`[${fmt(g.lo)}, ${fmt(g.hi)}]`, 'num'], [fmt(g.scale, 5), 'num'], [fmt(q.stats.mse, 5), 'num'], [fmt(mseRest, 5), 'num'], [fmt(q.dequantized[n]), 'num']]).dataset.method = calibration.method;
  }
  // what the table shows, for readers of the DOM (tests) to wait on
  $('#calib-table').dataset.inputs = `${$('#bits').value}:${outlier}`;
  // dequantized against original over the bell's values: the staircase
  // each range gives (coarse steps for min-max, flat tops where others clip)
  const order = Array.from(BELL.keys()).sort((a, b) => BELL[a] - BELL[b]);
  const data = [order.map((i) => BELL[i]), ...results.map((q) => order.map((i) => q.dequantized[i]))];
  const colors = ['#2457c5', '#c5531f', '#1d7a3a', '#8a3fb5'];
  if (calibPlot) calibPlot.destroy();
  calibPlot = new uPlot(
    {
      width: Math.min(640, $('#calibration').clientWidth - 32),
      height: 260,
      scales: { x: { time: false } },
      axes: [{ label: 'original value' }, { label: 'after quantization' }],
      series: [{}, ...CALIBRATIONS.map(([name], k) => ({ label: name, stroke: colors[k], width: 1.5 }))],
    },
    data,
    $('#calib-chart'),
  );
}

// --- 3. number formats -----------------------------------------------------
async function renderFormats() {
  const gen = ++latest.formats;
  const err = $('#formats-error');
  let value;
  try {
    value = parseNumber($('#format-value').value);
    err.hidden = true;
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    return;
  }
  const all = [];
  for (const f of FORMATS) all.push(await teach('bitFields', f, value, false));
  if (gen !== latest.formats) return;
  const tbody = $('#format-table tbody');
  tbody.replaceChildren();
  for (const [k, f] of FORMATS.entries()) {
    const b = all[k];
    const bits = document.createElement('code');
    for (const [part, cls] of [[b.sign, 'sign'], [b.exponent, 'exp'], [b.mantissa, 'man']]) {
      if (!part) continue;
      const s = document.createElement('span');
      s.className = cls;
      s.textContent = part;
      bits.append(s, ' ');
    }
    // integers have no exponent or mantissa: show the two's complement bits
    if (!b.exponent && !b.mantissa) bits.textContent = b.bits;
    row(tbody, [[f], [bits], [String(b.decoded), 'num'], [b.error == null ? '–' : String(b.error), 'num'], [b.class]]).dataset.format = f;
  }
}

// --- 4. blocks -------------------------------------------------------------
const f32 = Math.fround;

// One weight row for the block explorer: smooth values with a few spikes.
const blockRow = () => Float32Array.from({ length: 256 }, (_, i) => 0.8 * Math.sin(i * 0.37) + (i % 17 === 0 ? 1.5 : 0));

function labelled(tbody, label, values) {
  const tr = document.createElement('tr');
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = label;
  tr.append(th);
  for (const v of values) {
    const td = document.createElement('td');
    td.className = 'num';
    td.textContent = v;
    tr.append(td);
  }
  tbody.append(tr);
}

async function renderBlocks() {
  const x = blockRow();
  // Q4_0: d (f16), then 16 bytes of 4-bit values, low nibbles first.
  const x32 = x.slice(0, 32);
  const b0 = await teach('quantize', x32, 'q4_0', 32);
  const lib0 = await teach('dequantize', b0, 'q4_0', 32);
  const d = f16(b0[0], b0[1]);
  const q0 = [];
  for (let j = 0; j < 32; j++) q0.push(j < 16 ? b0[2 + j] & 0x0f : b0[2 + j - 16] >> 4);
  const y0 = q0.map((q) => f32((q - 8) * d));
  $('#q4_0-bytes').textContent = hex(b0);
  $('#q4_0-explain').textContent = `Bytes 0-1: the scale d = ${d} (f16; the largest |x| is mapped to −8). Bytes 2-17: 32 four-bit values q, weight j in the low half of byte j, weight j+16 in the high half. Each weight is (q − 8) · d. ${y0.every((v, i) => Object.is(v, lib0[i])) ? 'This decoding equals the library\u2019s dequantize() for all 32 weights.' : 'MISMATCH with the library\u2019s dequantize().'}`;
  const t0 = $('#q4_0-table tbody');
  t0.replaceChildren();
  labelled(t0, 'x', Array.from(x32.slice(0, 16), (v) => fmt(v, 3)));
  labelled(t0, 'q', q0.slice(0, 16));
  labelled(t0, '(q − 8) · d', y0.slice(0, 16).map((v) => fmt(v, 3)));
  $('#q4_0-table').dataset.matches = String(y0.every((v, i) => Object.is(v, lib0[i])));

  // Q4_K: d, dmin (f16), 12 bytes of eight 6-bit (scale, min) pairs, 128 bytes of 4-bit values.
  const bk = await teach('quantize', x, 'q4_K', 256);
  const libk = await teach('dequantize', bk, 'q4_K', 256);
  const dk = f16(bk[0], bk[1]);
  const dmin = f16(bk[2], bk[3]);
  const sc = bk.slice(4, 16);
  const scaleMin = (j) => (j < 4 ? [sc[j] & 63, sc[j + 4] & 63] : [(sc[j + 4] & 0x0f) | ((sc[j - 4] >> 6) << 4), (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4)]);
  const yk = new Array(256);
  const qk = new Array(256);
  for (let j = 0; j < 4; j++) {
    const [s1, m1] = scaleMin(2 * j);
    const [s2, m2] = scaleMin(2 * j + 1);
    const d1 = f32(dk * s1), n1 = f32(dmin * m1), d2 = f32(dk * s2), n2 = f32(dmin * m2);
    for (let l = 0; l < 32; l++) {
      const byte = bk[16 + 32 * j + l];
      qk[64 * j + l] = byte & 0x0f;
      qk[64 * j + 32 + l] = byte >> 4;
      yk[64 * j + l] = f32(f32(d1 * (byte & 0x0f)) - n1);
      yk[64 * j + 32 + l] = f32(f32(d2 * (byte >> 4)) - n2);
    }
  }
  const okK = yk.every((v, i) => Object.is(v, libk[i]));
  $('#q4_K-bytes').textContent = hex(bk);
  const pairs = Array.from({ length: 8 }, (_, j) => scaleMin(j));
  $('#q4_K-explain').textContent = `Bytes 0-1: d = ${dk}; bytes 2-3: dmin = ${dmin} (f16). Bytes 4-15 pack eight 6-bit (scale, min) pairs, one per 32 weights: ${pairs.map(([s, m]) => `(${s}, ${m})`).join(' ')}. Bytes 16-143: 256 four-bit values q. Weight i of sub-block j is d · scale_j · q − dmin · min_j. ${okK ? 'This decoding equals the library\u2019s dequantize() for all 256 weights.' : 'MISMATCH with the library\u2019s dequantize().'}`;
  const tk = $('#q4_K-table tbody');
  tk.replaceChildren();
  labelled(tk, 'x', Array.from(x.slice(0, 16), (v) => fmt(v, 3)));
  labelled(tk, 'q', qk.slice(0, 16));
  labelled(tk, 'decoded', yk.slice(0, 16).map((v) => fmt(v, 3)));
  $('#q4_K-table').dataset.matches = String(okK);
}

async function main() {
  navigator.serviceWorker?.register('sw.js').catch(() => {});
  client = new WorkerClient(new URL('./worker.js', import.meta.url));
  window.webquant = { client };
  await client.call('init', { variant: hasWasmSimd() ? 'simd' : 'plain' });
  const guard = (fn) => () => fn().catch((e) => {
    const el = $('#steps-error');
    el.textContent = e.message;
    el.hidden = false;
  });
  const recompute = guard(async () => {
    await renderSteps();
    await renderCalibration();
  });
  $('#data-input').addEventListener('input', recompute);
  $('#bits').addEventListener('input', recompute);
  for (const r of document.querySelectorAll('input[name=scheme]')) r.addEventListener('change', recompute);
  $('#outlier').addEventListener('input', guard(renderCalibration));
  $('#format-value').addEventListener('input', guard(renderFormats));
  await recompute();
  await renderFormats();
  await renderBlocks();
  document.body.dataset.ready = 'yes';
}

main().catch((e) => {
  document.body.dataset.ready = 'failed';
  const el = $('#steps-error');
  el.textContent = `The page could not start: ${e.message}`;
  el.hidden = false;
});
