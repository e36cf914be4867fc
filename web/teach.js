// The teaching page: quantization step by step, calibration,
// quantization-aware training (teach-qat.js), number formats (FP4 with
// shared scales included) and ggml blocks. Every number comes from the wasm
// library in the worker; the block decoding here is only for display and is
// checked against the library's dequantize() on the page.
import uPlot from './vendor/uPlot.esm.js';
import { WorkerClient } from './client.js';
import { $, row, showFacts } from './dom.js';
import { hasWasmSimd } from './features.js';
import { f16, hex, parseNumber, parseValues } from './parse.js';
import { startQat } from './teach-qat.js';

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
const latest = { steps: 0, calib: 0, formats: 0, fp4: 0 };

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


// FP4 alone, MXFP4 and NVFP4 on a block of values: the library takes each
// apart; MXFP4's fields are ggml's bytes, checked against its dequantize().
const FP4S = ['fp4', 'mxfp4', 'nvfp4'];
const FP4_NAMES = { fp4: 'FP4 (E2M1 alone)', mxfp4: 'MXFP4', nvfp4: 'NVFP4' };

function fp4Scales(q) {
  if (q.format === 'fp4') return 'none';
  const blocks = q.blocks.map((b) => (q.format === 'mxfp4' ? `${b.scaleBits} = 2^${b.scaleCode - 127}` : `${b.scaleBits} = ${b.scale}`));
  return q.format === 'nvfp4' ? `tensor ${q.tensorScale} (f32) × blocks ${blocks.join(', ')}` : blocks.join(', ');
}

async function renderFp4() {
  const gen = ++latest.fp4;
  const err = $('#fp4-error');
  const clear = () => {
    $('#fp4-summary tbody').replaceChildren();
    $('#fp4-table tbody').replaceChildren();
    $('#fp4-check').textContent = '';
  };
  let x;
  let all;
  let lib;
  try {
    x = parseValues($('#fp4-values').value);
    all = [];
    for (const f of FP4S) all.push(await teach('teachFp4', x, f));
    lib = await teach('dequantize', new Uint8Array(all[1].bytes), 'mxfp4', x.length);
  } catch (e) {
    if (gen !== latest.fp4) return;
    err.textContent = e.message;
    err.hidden = false;
    clear();
    return;
  }
  if (gen !== latest.fp4) return;
  err.hidden = true;
  clear();
  const sbody = $('#fp4-summary tbody');
  for (const q of all) {
    row(sbody, [[FP4_NAMES[q.format]], [q.format === 'fp4' ? '–' : String(q.blockSize), 'num'], [fp4Scales(q)], [fmt(q.bitsPerValue, 3), 'num'], [q.stats.mse.toExponential(3), 'num'], [q.stats.sqnrDb == null ? 'exact' : `${fmt(q.stats.sqnrDb, 2)} dB`, 'num']]).dataset.format = q.format;
  }
  const [fp4, mx, nv] = all;
  const ok = mx.decoded.every((v, i) => Object.is(v, lib[i]));
  $('#fp4-check').textContent = ok
    ? `MXFP4: the E8M0 byte and 4-bit codes above are ggml’s bytes (${mx.bytes.length} bytes for ${x.length} values); decoded as E2M1 × 2^(e − 127) they equal the library’s dequantize() for all ${x.length} values.`
    : 'MXFP4: MISMATCH between these fields and the library’s dequantize().';
  $('#fp4-table').dataset.matches = String(ok);
  const tbody = $('#fp4-table tbody');
  for (let i = 0; i < x.length; i++) {
    const scaled = (q) => `${q.element[i]} × ${q.blocks[Math.floor(i / q.blockSize)].factor.toPrecision(4)}`;
    row(tbody, [[String(i + 1)], [fmt(x[i]), 'num'], [fp4.bits[i]], [String(fp4.decoded[i]), 'num'], [mx.bits[i]], [scaled(mx), 'num'], [mx.decoded[i].toPrecision(4), 'num'], [nv.bits[i]], [scaled(nv), 'num'], [nv.decoded[i].toPrecision(4), 'num']]);
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

  // Q8_0: d (f16), then 32 signed bytes; each weight is q · d.
  const b8 = await teach('quantize', x32, 'q8_0', 32);
  const lib8 = await teach('dequantize', b8, 'q8_0', 32);
  const d8 = f16(b8[0], b8[1]);
  const q8 = Array.from(b8.slice(2, 34), (b) => (b << 24) >> 24);
  const y8 = q8.map((q) => f32(q * d8));
  const ok8 = y8.every((v, i) => Object.is(v, lib8[i]));
  $('#q8_0-bytes').textContent = hex(b8);
  $('#q8_0-explain').textContent = `Bytes 0-1: the scale d = ${d8} (f16; the largest |x| is mapped to ±127). Bytes 2-33: 32 signed 8-bit values q, one byte per weight. Each weight is q · d. ${ok8 ? 'This decoding equals the library\u2019s dequantize() for all 32 weights.' : 'MISMATCH with the library\u2019s dequantize().'}`;
  const t8 = $('#q8_0-table tbody');
  t8.replaceChildren();
  labelled(t8, 'x', Array.from(x32.slice(0, 16), (v) => fmt(v, 3)));
  labelled(t8, 'q', q8.slice(0, 16));
  labelled(t8, 'q · d', y8.slice(0, 16).map((v) => fmt(v, 3)));
  $('#q8_0-table').dataset.matches = String(ok8);

  // Q6_K: 128 bytes of low 4 bits (ql), 64 of high 2 bits (qh), 16 signed
  // 8-bit scales (one per 16 weights), then d (f16).
  const b6 = await teach('quantize', x, 'q6_K', 256);
  const lib6 = await teach('dequantize', b6, 'q6_K', 256);
  const d6 = f16(b6[208], b6[209]);
  const sc6 = Array.from(b6.slice(192, 208), (b) => (b << 24) >> 24);
  const q6 = new Array(256);
  const y6 = new Array(256);
  for (let n = 0; n < 2; n++) {
    const ql = (l) => b6[64 * n + l];
    const qh = (l) => b6[128 + 32 * n + l];
    for (let l = 0; l < 32; l++) {
      const is = 8 * n + (l >> 4);
      const parts = [
        (ql(l) & 0x0f) | ((qh(l) & 3) << 4),
        (ql(l + 32) & 0x0f) | (((qh(l) >> 2) & 3) << 4),
        (ql(l) >> 4) | (((qh(l) >> 4) & 3) << 4),
        (ql(l + 32) >> 4) | (((qh(l) >> 6) & 3) << 4),
      ];
      for (const [k, q] of parts.entries()) {
        const i = 128 * n + 32 * k + l;
        q6[i] = q - 32;
        y6[i] = f32(f32(d6 * sc6[is + 2 * k]) * (q - 32));
      }
    }
  }
  const ok6 = y6.every((v, i) => Object.is(v, lib6[i]));
  $('#q6_K-bytes').textContent = hex(b6);
  $('#q6_K-explain').textContent = `Bytes 0-127: the low 4 bits of 256 six-bit values (two per byte); bytes 128-191: their high 2 bits (four per byte); bytes 192-207: sixteen signed 8-bit scales, one per 16 weights: ${sc6.join(' ')}; bytes 208-209: d = ${d6} (f16). Weight i is d · scale · (q − 32), q from 0 to 63. ${ok6 ? 'This decoding equals the library\u2019s dequantize() for all 256 weights.' : 'MISMATCH with the library\u2019s dequantize().'}`;
  const t6 = $('#q6_K-table tbody');
  t6.replaceChildren();
  labelled(t6, 'x', Array.from(x.slice(0, 16), (v) => fmt(v, 3)));
  labelled(t6, 'q − 32', q6.slice(0, 16));
  labelled(t6, 'decoded', y6.slice(0, 16).map((v) => fmt(v, 3)));
  $('#q6_K-table').dataset.matches = String(ok6);
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
  $('#fp4-values').addEventListener('input', guard(renderFp4));
  await recompute();
  await renderFormats();
  await renderFp4();
  await renderBlocks();
  // Training runs on in the background: the page is ready once it started.
  startQat(client, teach).catch((e) => {
    const el = $('#qat-error');
    el.textContent = e.message;
    el.hidden = false;
  });
  document.body.dataset.ready = 'yes';
}

main().catch((e) => {
  document.body.dataset.ready = 'failed';
  const el = $('#steps-error');
  el.textContent = `The page could not start: ${e.message}`;
  el.hidden = false;
});
