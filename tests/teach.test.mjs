// End-to-end: the teaching page in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, useApp } from './harness.mjs';

const app = useApp({ webgpu: false });

async function openTeach() {
  const { page, errors } = await openApp(app.browser, `${app.url}teach.html`);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 30_000 });
  return { page, errors };
}

const column = (page, table, n) => page.$$eval(`${table} tbody tr`, (rows, k) => rows.map((r) => r.children[k].textContent), n);

test('the worked absmax example comes out exactly, and the controls change it', async () => {
  const { page, errors } = await openTeach();
  assert.deepEqual(await column(page, '#step-table', 5), ['28', '-12', '-101', '28', '-73', '19', '56', '127']);
  assert.deepEqual(await column(page, '#step-table', 6), ['1.1906', '-0.5102', '-4.2945', '1.1906', '-3.1039', '0.8079', '2.3811', '5.4000']);
  assert.equal(await page.textContent('#p-zero'), '0');
  // asymmetric, 4 bits: unsigned grid 0..15 and a zero point
  await page.check('input[name=scheme][value=asymmetric]');
  await page.locator('#bits').fill('4');
  await page.waitForFunction(() => document.querySelector('#p-grid').textContent === '0 … 15');
  const q = (await column(page, '#step-table', 5)).map(Number);
  assert.ok(q.every((v) => v >= 0 && v <= 15), String(q));
  assert.equal(Math.min(...q), 0);
  assert.equal(Math.max(...q), 15);
  // bad input: a plain message, the page keeps working
  await page.fill('#data-input', '1, two, 3');
  await page.waitForSelector('#steps-error:not([hidden])');
  assert.match(await page.textContent('#steps-error'), /"two" \(value 2\) is not a finite number/);
  await page.fill('#data-input', '1, 2, 3');
  await page.waitForSelector('#steps-error', { state: 'hidden' });
  // the message hides at once; the table follows after the worker answers
  await page.waitForFunction(() => document.querySelectorAll('#step-table tbody tr').length === 3);
  assert.deepEqual(await column(page, '#step-table', 1), ['1', '2', '3']);
  assert.deepEqual(errors, []);
});

test('an outlier at 4 bits: every clipping calibration beats min-max on the other values', async () => {
  const { page, errors } = await openTeach();
  await page.locator('#bits').fill('4');
  await page.locator('#outlier').fill('20');
  await page.waitForSelector('#calib-table[data-inputs="4:20"]');
  await page.waitForFunction(() => document.querySelectorAll('#calib-table tbody tr').length === 4);
  const col = (k) => page.$$eval('#calib-table tbody tr', (rows, i) => Object.fromEntries(rows.map((r) => [r.dataset.method, Number(r.children[i].textContent)])), k);
  const all = await col(3);
  const rest = await col(4);
  for (const m of ['percentile', 'mse', 'kl']) assert.ok(rest[m] < rest.minMax / 4, `${m} ${rest[m]} vs min-max ${rest.minMax}`);
  // the MSE search tries the min-max range too, so it is never worse overall
  assert.ok(all.mse <= all.minMax, `mse ${all.mse} vs min-max ${all.minMax}`);
  assert.deepEqual(errors, []);
});

test('number formats show the bit fields of 0.3', async () => {
  const { page, errors } = await openTeach();
  const bits = (f) => page.textContent(`#format-table tr[data-format="${f}"] td:nth-child(2)`);
  assert.equal((await bits('fp16')).replace(/\s+/g, ' ').trim(), '0 01101 0011001101');
  assert.equal((await bits('bf16')).replace(/\s+/g, ' ').trim(), '0 01111101 0011010');
  assert.equal(await page.textContent('#format-table tr[data-format="fp8_e4m3"] td:nth-child(3)'), '0.3125');
  await page.fill('#format-value', '1e6');
  await page.waitForFunction(() => document.querySelector('#format-table tr[data-format="fp8_e4m3"] td:nth-child(5)').textContent === 'nan');
  assert.deepEqual(errors, []);
});

test('Q4_0 and Q4_K blocks decode on the page exactly as the library dequantizes them', async () => {
  const { page, errors } = await openTeach();
  assert.equal(await page.getAttribute('#q4_0-table', 'data-matches'), 'true');
  assert.equal(await page.getAttribute('#q4_K-table', 'data-matches'), 'true');
  assert.equal((await page.textContent('#q4_0-bytes')).split(' ').length, 18);
  assert.equal((await page.textContent('#q4_K-bytes')).split(' ').length, 144);
  assert.deepEqual(errors, []);
});

test('Q8_0 and Q6_K blocks decode on the page exactly as the library dequantizes them', async () => {
  const { page, errors } = await openTeach();
  assert.equal(await page.getAttribute('#q8_0-table', 'data-matches'), 'true');
  assert.equal(await page.getAttribute('#q6_K-table', 'data-matches'), 'true');
  assert.equal((await page.textContent('#q8_0-bytes')).split(' ').length, 34);
  assert.equal((await page.textContent('#q6_K-bytes')).split(' ').length, 210);
  assert.deepEqual(errors, []);
});

// The library's answer to `fn(...args)`, through the page's worker.
const lib = (page, fn, args) => page.evaluate(([f, a]) => window.webquant.client.call('teach', { fn: f, args: a }), [fn, args]);

test('FP4, MXFP4 and NVFP4: the page shows the library\u2019s scales, codes and values', async () => {
  const { page, errors } = await openTeach();
  await page.waitForSelector('#fp4-table tbody tr');
  assert.equal(await page.getAttribute('#fp4-table', 'data-matches'), 'true');
  const x = await page.evaluate(() => Array.from(document.querySelector('#fp4-values').value.split(',').map(Number)));
  assert.equal(x.length, 32);
  const q = {};
  for (const f of ['fp4', 'mxfp4', 'nvfp4']) q[f] = await page.evaluate(([v, fmt]) => window.webquant.client.call('teach', { fn: 'teachFp4', args: [new Float32Array(v), fmt] }), [x, f]);
  const rows = await page.$$eval('#fp4-table tbody tr', (trs) => trs.map((r) => Array.from(r.children, (c) => c.textContent)));
  assert.equal(rows.length, 32);
  for (const [i, r] of rows.entries()) {
    assert.equal(r[2], q.fp4.bits[i]);
    assert.equal(r[3], String(q.fp4.decoded[i]));
    assert.equal(r[4], q.mxfp4.bits[i]);
    assert.equal(r[6], q.mxfp4.decoded[i].toPrecision(4));
    assert.equal(r[7], q.nvfp4.bits[i]);
    assert.equal(r[9], q.nvfp4.decoded[i].toPrecision(4));
  }
  const summary = (f, k) => page.textContent(`#fp4-summary tr[data-format=${f}] td:nth-child(${k})`);
  assert.equal(await summary('mxfp4', 3), `${q.mxfp4.blocks[0].scaleBits} = 2^${q.mxfp4.blocks[0].scaleCode - 127}`);
  assert.match(await summary('nvfp4', 3), new RegExp(`^tensor ${q.nvfp4.tensorScale} \\(f32\\) × blocks ${q.nvfp4.blocks[0].scaleBits} = ${q.nvfp4.blocks[0].scale}, `));
  assert.equal(await summary('nvfp4', 4), q.nvfp4.bitsPerValue.toFixed(3));
  for (const f of ['fp4', 'mxfp4', 'nvfp4']) assert.equal(await summary(f, 5), q[f].stats.mse.toExponential(3));
  // small weights: the shared scales beat FP4 alone
  assert.ok(q.nvfp4.stats.mse < q.fp4.stats.mse && q.mxfp4.stats.mse < q.fp4.stats.mse);
  await page.fill('#fp4-values', '1, 2, 3');
  await page.waitForSelector('#fp4-error:not([hidden])');
  assert.match(await page.textContent('#fp4-error'), /multiple of 32/);
  assert.deepEqual(errors, []);
});

// The QAT table as shown: {float|ptq|qat: [test loss, test accuracy, training loss]}.
const qatTable = (page) => page.$$eval('#qat-table tbody tr', (rows) => Object.fromEntries(rows.map((r) => [r.dataset.model, Array.from(r.children).slice(1).map((c) => c.textContent)])));
const expectRow = (e, t) => [e.loss.toFixed(4), `${(100 * e.accuracy).toFixed(1)} %`, t.loss.toFixed(4)];

// Every number of the QAT section against the library's view `v` of the
// same config and step.
async function checkQat(page, v) {
  const shown = await qatTable(page);
  for (const m of ['float', 'ptq', 'qat']) assert.deepEqual(shown[m], expectRow(v.test[m], v.train[m]), m);
  assert.match(await page.textContent('#qat-verdict'), new RegExp(`PTQ ${v.test.ptq.loss.toFixed(4)}, QAT ${v.test.qat.loss.toFixed(4)}\\.`));
  const layer = Number(await page.inputValue('#qat-layer'));
  const levels = await page.$$eval('#qat-levels tbody tr', (rows) => Object.fromEntries(rows.map((r) => [r.dataset.model, Array.from(r.children).slice(1).map((c) => Number(c.textContent))])));
  assert.deepEqual(levels.ptq, v.layers[layer].ptq.levels);
  assert.deepEqual(levels.qat, v.layers[layer].qat.levels);
  const g = v.gradient[layer];
  assert.equal(await page.getAttribute('#qat-ste-text', 'data-passed'), String(g.passed));
  assert.equal(await page.getAttribute('#qat-ste-text', 'data-clipped'), String(g.clipped));
  const grid = v.layers[layer].qat.groups[0];
  const rg = await lib(page, 'teachRoundGradient', [v.config.scheme, v.config.bits, grid.lo, grid.hi, 801]);
  assert.equal(await page.getAttribute('#qat-round-text', 'data-zero'), String(rg.trueGradient.filter((d) => d === 0).length));
  assert.equal(await page.getAttribute('#qat-round-text', 'data-passed'), String(rg.steGradient.filter((d) => d === 1).length));
}

const qatDone = (page, steps) => page.waitForFunction((n) => {
  const s = document.querySelector('#qat');
  return s.dataset.state === 'done' && s.dataset.step === String(n);
}, steps, { timeout: 120_000 });

test('QAT at 2 bits beats PTQ with the default seed, and every number shown is the library\u2019s', async () => {
  const { page, errors } = await openTeach();
  await qatDone(page, 600);
  const config = JSON.parse(await page.getAttribute('#qat', 'data-config'));
  assert.deepEqual(config, { task: 'circle', bits: 2, scheme: 'symmetric', granularity: { kind: 'perTensor' }, calibration: { method: 'minMax' }, actBits: null, seed: 1 });
  const v = await lib(page, 'teachQat', [config, 600]);
  await checkQat(page, v);
  // the numbers the unit test asserts (quant::teach::qat tests)
  const shown = await qatTable(page);
  assert.deepEqual([shown.float[0], shown.ptq[0], shown.qat[0]], ['0.0580', '1.0048', '0.1213']);
  assert.match(await page.textContent('#qat-verdict'), /QAT’s is lower/);
  assert.match(await page.textContent('#qat-act-text'), /Activations stay in float/);
  // another layer: its levels and gradients
  await page.selectOption('#qat-layer', '1');
  await page.waitForFunction(() => document.querySelector('#qat-ste-text').textContent.includes('layer 2 (16 → 16)'));
  await checkQat(page, v);
  assert.deepEqual(errors, []);
});

test('the QAT controls restart training, and quantized activations show their per-batch ranges', async () => {
  const { page, errors } = await openTeach();
  await page.waitForSelector('#qat[data-state=training], #qat[data-state=done]');
  await page.fill('#qat-steps', '100');
  await page.locator('#qat-steps').blur();
  await page.selectOption('#qat-bits', '4');
  await page.check('input[name=qat-scheme][value=asymmetric]');
  await page.check('input[name=qat-gran][value=perRow]');
  await page.selectOption('#qat-range', 'mse');
  await page.selectOption('#qat-act', '4');
  await page.selectOption('#qat-task', 'moons');
  const want = { task: 'moons', bits: 4, scheme: 'asymmetric', granularity: { kind: 'perRow' }, calibration: { method: 'mse', candidates: 100 }, actBits: 4, seed: 1 };
  await page.waitForFunction((w) => document.querySelector('#qat').dataset.config === w, JSON.stringify(want));
  await qatDone(page, 100);
  const v = await lib(page, 'teachQat', [want, 100]);
  await checkQat(page, v);
  // MSE ranges clip some weights, and the STE gives those no gradient
  assert.ok(v.gradient.some((g) => g.clipped > 0));
  assert.match(await page.textContent('#qat-grid-qat'), /16 grids, one per output channel/);
  // the activation ranges: QAT's last batch, and the test set's for PTQ and QAT
  const range = (r) => `[${r.grid.lo.toFixed(4)}, ${r.grid.hi.toFixed(4)}], Δ = ${r.grid.scale.toFixed(5)}`;
  const cells = await page.$$eval('#qat-act-table tbody tr', (rows) => rows.map((r) => Array.from(r.children).slice(1).map((c) => c.textContent)));
  const a = v.activations;
  assert.deepEqual(cells, [0, 1].map((k) => [range(a.qatBatch[k]), range(a.ptqTest[k]), range(a.qatTest[k])]));
  assert.match(await page.textContent('#qat-act-text'), /4 bits on the unsigned grid 0 … 15/);
  // a bad seed: a message, nothing restarts
  await page.fill('#qat-seed', '-3');
  await page.locator('#qat-seed').blur();
  await page.waitForSelector('#qat-error:not([hidden])');
  assert.match(await page.textContent('#qat-error'), /seed must be a whole number/);
  assert.deepEqual(errors, []);
});

test('pausing stops training where it is; training on gives the same numbers as an uninterrupted run', async () => {
  const { page, errors } = await openTeach();
  await page.waitForFunction(() => Number(document.querySelector('#qat').dataset.step) >= 50);
  await page.click('#qat-pause');
  await page.waitForSelector('#qat[data-state=paused]');
  // the request in flight lands, then nothing moves
  await page.waitForTimeout(300);
  const at = await page.getAttribute('#qat', 'data-step');
  await page.waitForTimeout(700);
  assert.equal(await page.getAttribute('#qat', 'data-step'), at);
  assert.ok(Number(at) < 600, at);
  assert.equal(await page.textContent('#qat-pause'), 'Train');
  await page.click('#qat-pause');
  await qatDone(page, 600);
  const config = JSON.parse(await page.getAttribute('#qat', 'data-config'));
  await checkQat(page, await lib(page, 'teachQat', [config, 600]));
  assert.deepEqual(errors, []);
});
