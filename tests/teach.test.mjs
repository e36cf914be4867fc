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
