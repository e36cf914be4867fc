// The teaching page's quantization-aware training demo: its controls, the
// live loop (the worker trains a few steps per request and the page redraws
// between requests, so a control change restarts within one request) and
// the drawings. Every number shown is from the library's QatTrainer view
// or its teachRoundGradient; this file only lays them out.
import uPlot from './vendor/uPlot.esm.js';
import { $, row } from './dom.js';
import { CLASS0, CLASS1, binMids, boundaryPixels, gradientSeries, toPixel } from './teach-plot.js';

// Steps per request: one history point (the library logs every 10 steps).
const CHUNK = 10;
const COLORS = { float: '#2457c5', ptq: '#c5531f', qat: '#1d7a3a' };
const LABELS = { float: 'float', ptq: 'PTQ (float weights quantized after training)', qat: 'QAT (trained with fake quantization)' };
const ROUND_POINTS = 801;

const fmt = (x, digits = 4) => (x == null ? '–' : Number(x).toFixed(digits));
const pct = (x) => `${(100 * x).toFixed(1)} %`;

let client;
let teach;
const st = {
  gen: 0, // bumped by every restart; a stale loop or answer stops
  loopGen: 0, // the generation whose loop is running
  run: 0, // the worker's training run
  playing: true,
  target: 600,
  view: null,
  data: null,
};
const charts = {};
// Where the staircase drawn now jumps (the gradient chart marks them).
let roundJumps = [];

function checked(name) {
  return document.querySelector(`input[name=${name}]:checked`).value;
}

function readConfig() {
  const seed = Number($('#qat-seed').value);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`the seed must be a whole number from 0 to 4294967295, got "${$('#qat-seed').value}"`);
  const act = $('#qat-act').value;
  return {
    task: $('#qat-task').value,
    bits: Number($('#qat-bits').value),
    scheme: checked('qat-scheme'),
    granularity: { kind: checked('qat-gran') },
    calibration: $('#qat-range').value === 'mse' ? { method: 'mse', candidates: 100 } : { method: 'minMax' },
    actBits: act === 'float' ? null : Number(act),
    seed,
  };
}

function readSteps() {
  const steps = Number($('#qat-steps').value);
  if (!Number.isInteger(steps) || steps < CHUNK || steps > 5000 || steps % CHUNK !== 0) {
    throw new Error(`steps must be a multiple of ${CHUNK} from ${CHUNK} to 5000, got "${$('#qat-steps').value}"`);
  }
  return steps;
}

function showError(message) {
  const el = $('#qat-error');
  el.textContent = message;
  el.hidden = !message;
}

function setStatus() {
  const v = st.view;
  const sec = $('#qat');
  const state = !v ? 'starting' : v.step >= st.target ? 'done' : st.playing ? 'training' : 'paused';
  sec.dataset.state = state;
  $('#qat-pause').textContent = st.playing && state !== 'done' ? 'Pause' : 'Train';
  $('#qat-pause').disabled = state === 'done' || state === 'starting';
  $('#qat-status').textContent = v ? `step ${v.step} of ${st.target}: ${state}` : 'starting…';
}

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

// Start a fresh pair of models from the controls (a control changed, or
// Restart), then train.
async function restart() {
  let config;
  let target;
  try {
    config = readConfig();
    target = readSteps();
    showError('');
  } catch (e) {
    // bad input: say so and leave the current run alone
    showError(e.message);
    return;
  }
  const gen = ++st.gen;
  st.target = target;
  st.view = null;
  setStatus();
  try {
    const { run, data, view } = await client.call('qatStart', { config });
    if (gen !== st.gen) return;
    st.run = run;
    st.data = data;
    $('#qat').dataset.config = JSON.stringify(config);
    await draw(view, true);
    st.playing = true;
    await loop(gen);
  } catch (e) {
    if (gen === st.gen) showError(e.message);
  }
}

async function loop(gen) {
  if (st.loopGen === gen) return;
  st.loopGen = gen;
  try {
    while (gen === st.gen && st.playing && st.view.step < st.target) {
      const view = await client.call('qatStep', { run: st.run, steps: Math.min(CHUNK, st.target - st.view.step) });
      if (gen !== st.gen) return;
      await draw(view, false);
      await frame();
    }
  } finally {
    if (st.loopGen === gen) st.loopGen = 0;
    if (gen === st.gen) setStatus();
  }
}

function togglePause() {
  st.playing = !st.playing;
  setStatus();
  if (st.playing) loop(st.gen).catch((e) => showError(e.message));
}

function chart(key, el, opts, data) {
  if (charts[key] && !opts) {
    charts[key].setData(data);
    return;
  }
  charts[key]?.destroy();
  charts[key] = new uPlot({ width: Math.min(640, el.parentElement.clientWidth - 16), height: 220, ...opts }, data, el);
}

// Vertical lines at `xs` (grid points, jumps, clip edges), drawn over a chart.
function vlines(get, color, dash = []) {
  return (u) => {
    const { ctx, bbox } = u;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.lineWidth = 1;
    for (const x of get()) {
      const px = u.valToPos(x, 'x', true);
      if (px < bbox.left || px > bbox.left + bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(px, bbox.top);
      ctx.lineTo(px, bbox.top + bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  };
}

function drawSummary(v) {
  const tbody = $('#qat-table tbody');
  tbody.replaceChildren();
  for (const m of ['float', 'ptq', 'qat']) {
    row(tbody, [[LABELS[m]], [fmt(v.test[m].loss), 'num'], [pct(v.test[m].accuracy), 'num'], [fmt(v.train[m].loss), 'num']]).dataset.model = m;
  }
  const { ptq, qat } = v.test;
  const better = qat.loss < ptq.loss ? 'QAT’s is lower: training through the rounding found weights that work on the grid.' : qat.loss > ptq.loss ? 'PTQ’s is lower here.' : 'They are equal.';
  $('#qat-verdict').textContent = `After ${v.step} steps at ${v.config.bits} bits, test loss: PTQ ${fmt(ptq.loss)}, QAT ${fmt(qat.loss)}. ${better}`;
}

function drawLosses(v, fresh) {
  const h = v.history;
  const data = [h.step, h.floatTest, h.ptqTest, h.qatTest, h.floatTrain, h.qatTrain];
  const line = (label, color, dash) => ({ label, stroke: color, width: 1.5, dash, points: { show: false }, value: (_, x) => fmt(x) });
  chart('loss', $('#qat-loss-chart'), fresh && {
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: 'step' }, { label: 'loss (log scale)' }],
    series: [
      {},
      line('float, test', COLORS.float),
      line('PTQ, test', COLORS.ptq),
      line('QAT, test', COLORS.qat),
      line('float, training', COLORS.float, [4, 4]),
      line('QAT, training', COLORS.qat, [4, 4]),
    ],
  }, data);
}

function drawBoundaries(v) {
  const b = v.boundary;
  const small = document.createElement('canvas');
  small.width = b.size;
  small.height = b.size;
  const sctx = small.getContext('2d');
  for (const m of ['float', 'ptq', 'qat']) {
    sctx.putImageData(new ImageData(boundaryPixels(b[m], b.size), b.size, b.size), 0, 0);
    const canvas = $(`#qat-boundary-${m}`);
    const ctx = canvas.getContext('2d');
    const px = canvas.width;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(small, 0, 0, px, px);
    // the training points, coloured by class
    const { xy, labels } = st.data.train;
    for (let i = 0; i < labels.length; i++) {
      const [x, y] = toPixel(xy[2 * i], xy[2 * i + 1], b.extent, px);
      ctx.beginPath();
      ctx.arc(x, y, 2.2, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${(labels[i] ? CLASS1 : CLASS0).join(',')})`;
      ctx.fill();
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 0.6;
      ctx.stroke();
    }
    $(`#qat-boundary-${m}-acc`).textContent = `test accuracy ${pct(v.test[m].accuracy)}`;
  }
}

function layerName(v, l) {
  const L = v.layers[l];
  return `layer ${l + 1} (${L.cols} → ${L.rows})`;
}

function gridText(g, perRow) {
  if (!perRow || g.groups.length === 1) {
    const r = g.groups[0];
    return `Δ = ${fmt(r.scale, 5)}, zero point ${r.zeroPoint}, clip range (${fmt(r.clipLo)}, ${fmt(r.clipHi)})`;
  }
  const scales = g.groups.map((r) => r.scale);
  return `${g.groups.length} grids, one per output channel, Δ from ${fmt(Math.min(...scales), 5)} to ${fmt(Math.max(...scales), 5)}`;
}

function drawWeights(v, fresh) {
  const sel = $('#qat-layer');
  if (fresh) {
    const keep = sel.value;
    sel.replaceChildren(...v.layers.map((_, l) => new Option(layerName(v, l), String(l))));
    if (keep && Number(keep) < v.layers.length) sel.value = keep;
  }
  const l = Number(sel.value);
  const L = v.layers[l];
  const perRow = v.config.granularity.kind === 'perRow';
  const n = L.rows * L.cols;
  $('#qat-grid-ptq').textContent = `PTQ: the float model’s weights on the grid they are rounded to: ${gridText(L.ptq, perRow)}; ${L.ptq.clipped} of ${n} clipped.`;
  $('#qat-grid-qat').textContent = `QAT: the latent weights on the grid the forward pass rounds them to: ${gridText(L.qat, perRow)}; ${L.qat.clipped} of ${n} clipped.`;
  const qmin = L.ptq.groups[0].qmin;
  const qmax = L.ptq.groups[0].qmax;
  for (const m of ['ptq', 'qat']) {
    const g = L[m];
    const ints = Array.from({ length: qmax - qmin + 1 }, (_, k) => qmin + k);
    chart(`hist-${m}`, $(`#qat-hist-${m}`), fresh && {
      height: 200,
      scales: { x: { time: false } },
      axes: [{ label: 'w / Δ + zero point (grid points are the integers)' }, { label: 'weights' }],
      series: [{}, { label: m === 'ptq' ? 'float weights (PTQ)' : 'latent weights (QAT)', stroke: COLORS[m], fill: `${COLORS[m]}44`, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }],
      hooks: { draw: [vlines(() => ints, '#9aa3b0', [2, 3]), vlines(() => [qmin - 0.5, qmax + 0.5], '#b3261e', [6, 3])] },
    }, [binMids(g.histogram.edges), g.histogram.counts]);
  }
  // how many weights round to each integer
  const thead = $('#qat-levels thead tr');
  const tbody = $('#qat-levels tbody');
  thead.replaceChildren(Object.assign(document.createElement('th'), { scope: 'col', textContent: 'q' }));
  tbody.replaceChildren();
  for (let q = qmin; q <= qmax; q++) thead.append(Object.assign(document.createElement('th'), { scope: 'col', className: 'num', textContent: String(q) }));
  for (const m of ['ptq', 'qat']) {
    const tr = row(tbody, [[m === 'ptq' ? 'PTQ weights' : 'QAT weights'], ...L[m].levels.map((c) => [String(c), 'num'])]);
    tr.dataset.model = m;
  }
}

function rangeText(r) {
  return `[${fmt(r.grid.lo)}, ${fmt(r.grid.hi)}], Δ = ${fmt(r.grid.scale, 5)}`;
}

function drawActivations(v) {
  const a = v.activations;
  const table = $('#qat-act-table');
  const tbody = table.querySelector('tbody');
  tbody.replaceChildren();
  if (v.config.actBits == null) {
    $('#qat-act-text').textContent = 'Activations stay in float. Pick a bit width above to quantize the hidden layers’ outputs on the fly.';
    table.hidden = true;
    return;
  }
  $('#qat-act-text').textContent = `Each hidden layer’s outputs are quantized to ${v.config.actBits} bits on the unsigned grid 0 … ${2 ** v.config.actBits - 1} (ReLU outputs are never negative), with the range of the batch being computed: measured again for every batch, not stored.`;
  table.hidden = false;
  for (const [k, r] of a.qatTest.entries()) {
    row(tbody, [[`hidden layer ${r.layer}`], [a.qatBatch[k] ? rangeText(a.qatBatch[k]) : '–', 'num'], [rangeText(a.ptqTest[k]), 'num'], [rangeText(r), 'num']]).dataset.layer = String(r.layer);
  }
}

async function drawRound(v, gen) {
  const l = Number($('#qat-layer').value);
  const g = v.layers[l].qat.groups[0];
  const rg = await teach('teachRoundGradient', v.config.scheme, v.config.bits, g.lo, g.hi, ROUND_POINTS);
  if (gen !== st.gen) return;
  const fresh = !charts.round || charts.round.series.length !== 3;
  chart('round', $('#qat-round-chart'), fresh && {
    height: 200,
    scales: { x: { time: false } },
    axes: [{ label: 'latent weight w' }, { label: 'value' }],
    series: [{}, { label: 'w', stroke: '#9aa3b0', dash: [4, 4], points: { show: false } }, { label: 'fake_quant(w)', stroke: COLORS.qat, width: 2, points: { show: false } }],
  }, [rg.x, rg.x, rg.fakeQuant]);
  roundJumps = rg.jumps;
  chart('grad', $('#qat-grad-chart'), (!charts.grad) && {
    height: 200,
    scales: { x: { time: false }, y: { range: [-0.25, 1.25] } },
    axes: [{ label: 'latent weight w' }, { label: 'd fake_quant / dw' }],
    series: [{}, { label: 'true gradient', stroke: COLORS.ptq, width: 2, points: { show: false } }, { label: 'straight-through estimate', stroke: COLORS.qat, width: 2, dash: [6, 3], points: { show: false } }],
    hooks: { draw: [vlines(() => roundJumps, '#c5531f88', [2, 2])] },
  }, [rg.x, rg.trueGradient, rg.steGradient]);
  const zero = rg.trueGradient.filter((d) => d === 0).length;
  const passed = rg.steGradient.filter((d) => d === 1).length;
  const el = $('#qat-round-text');
  el.textContent = `The grid of ${layerName(v, l)}${v.layers[l].qat.groups.length > 1 ? ', output channel 1' : ''}: clip range (${fmt(rg.grid.clipLo)}, ${fmt(rg.grid.clipHi)}). Of ${rg.x.length} points sampled, the true gradient is 0 at ${zero}: the staircase is flat except at its ${rg.jumps.length} jumps (dotted), where it has no derivative. The STE’s gradient is 1 at the ${passed} points inside the clip range and 0 at the ${rg.x.length - passed} outside.`;
  el.dataset.zero = String(zero);
  el.dataset.passed = String(passed);
}

function drawSte(v) {
  const l = Number($('#qat-layer').value);
  const el = $('#qat-ste-text');
  const g = v.gradient[l];
  if (!g) {
    el.textContent = 'No step yet.';
    return;
  }
  const n = g.upstream.length;
  el.textContent = `Step ${v.step}, ${layerName(v, l)}: ${g.passed} of ${n} weights were inside the clip range, and their latent weights got the gradient of the rounded weight unchanged; ${g.clipped} were clipped and got 0. Through round itself, all ${n} would have got 0.`;
  el.dataset.passed = String(g.passed);
  el.dataset.clipped = String(g.clipped);
  chart('ste', $('#qat-ste-chart'), !charts.ste && {
    height: 220,
    scales: { x: { time: false } },
    axes: [{ label: 'dL/dŵ: the gradient reaching the rounded weight' }, { label: 'dL/dw' }],
    series: [{}, { label: 'passed unchanged (y = x)', stroke: '#9aa3b0', points: { show: false } }, { label: 'STE: dL/dw of each weight', stroke: COLORS.qat, width: 0, points: { show: true, size: 5, fill: COLORS.qat } }],
  }, gradientSeries(g.upstream, g.ste));
}

async function draw(v, fresh) {
  const gen = st.gen;
  st.view = v;
  $('#qat').dataset.step = String(v.step);
  setStatus();
  drawSummary(v);
  drawLosses(v, fresh);
  drawBoundaries(v);
  drawWeights(v, fresh);
  drawActivations(v);
  drawSte(v);
  await drawRound(v, gen);
}

// Wire the controls and start training with the defaults.
export function startQat(workerClient, teachFn) {
  client = workerClient;
  teach = teachFn;
  const onChange = () => restart().catch((e) => showError(e.message));
  for (const id of ['#qat-task', '#qat-bits', '#qat-range', '#qat-act', '#qat-seed', '#qat-steps']) $(id).addEventListener('change', onChange);
  for (const r of document.querySelectorAll('input[name=qat-scheme], input[name=qat-gran]')) r.addEventListener('change', onChange);
  $('#qat-restart').addEventListener('click', onChange);
  $('#qat-pause').addEventListener('click', togglePause);
  $('#qat-layer').addEventListener('change', () => {
    if (!st.view) return;
    drawWeights(st.view, false);
    drawSte(st.view);
    drawRound(st.view, st.gen).catch((e) => showError(e.message));
  });
  return restart();
}
