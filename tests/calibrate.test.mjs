// End-to-end: calibration in the page. An importance matrix and GPTQ over a
// calibration text give ordinary quantized files that flow into the results
// table, the downloads and the comparison, beside round to nearest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openApp, root, useApp } from './harness.mjs';

// 2600 bytes of Tiny Shakespeare: 5 chunks of 64 tokens for stories260K.
const CALIB = readFileSync(join(root, 'crate', 'src', 'model', 'testdata', 'calib-shakespeare.txt'), 'utf8');

const app = useApp({ webgpu: false });

const status = (page) => page.textContent('#quant-status');

// Quantize with `method` ("rtn", "imatrix", "gptq") and wait for the outcome.
async function quantize(page, type, method, want) {
  await page.selectOption('#quant-type', type);
  await page.check(`#method-${method}`);
  await page.click('#quant-run');
  await page.waitForFunction(() => /^Quantized to|failed|Cancelled|empty/.test(document.querySelector('#quant-status').textContent), null, { timeout: 120_000 });
  assert.equal(await status(page), want);
}

async function useCalibration(page, { text, ctx }) {
  await page.check('#method-imatrix');
  await page.fill('#calib-text', text);
  await page.selectOption('#calib-ctx', String(ctx));
}

test('round to nearest, importance matrix and GPTQ at Q4_0: each a result, and one evaluation table with all three', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  // the calibration controls show only for the methods that calibrate
  assert.equal(await page.isVisible('#calib'), false);
  await page.check('#method-gptq');
  assert.equal(await page.isVisible('#calib-text'), true);
  assert.equal(await page.isVisible('#gptq-group'), true);
  await page.waitForFunction(() => document.querySelector('#calib-text').value.length > 3000);
  assert.match(await page.textContent('#method-help'), /GPTQ rounds to q4_0, q4_1, q4_K, q5_0, q5_1, q5_K, q8_0 only/);
  await useCalibration(page, { text: CALIB, ctx: 64 });

  await quantize(page, 'Q4_0', 'rtn', 'Quantized to Q4_0.');
  const rtn = await downloaded(page);
  assert.equal(await page.isVisible('#imatrix-download'), false);

  await quantize(page, 'Q4_0', 'imatrix', 'Quantized to Q4_0 with an importance matrix.');
  assert.equal(await page.locator('#quant-table tbody tr').count(), 47);
  assert.equal(await page.getAttribute('#quant-download', 'download'), 'stories260K-Q4_0-imatrix.gguf');
  const withImatrix = await downloaded(page);
  // the importance matrix itself, as llama-imatrix writes it (GGUF)
  assert.equal(await page.getAttribute('#imatrix-download', 'download'), 'stories260K-imatrix.gguf');
  const imatrix = await downloaded(page, '#imatrix-download');
  assert.equal(Buffer.from(imatrix.slice(0, 4)).toString(), 'GGUF');

  // GPTQ, watching the per-block progress as it goes
  await page.evaluate(() => {
    window.seenBlocks = new Set();
    new MutationObserver(() => window.seenBlocks.add(document.querySelector('#calib-layer-status').textContent.split(',')[0]))
      .observe(document.querySelector('#calib-layer-status'), { childList: true, characterData: true, subtree: true });
  });
  await page.check('#method-gptq');
  await page.check('#gptq-act-order');
  await quantize(page, 'Q4_0', 'gptq', 'Quantized to Q4_0 with GPTQ.');
  const blocks = await page.evaluate(() => [...window.seenBlocks]);
  for (let b = 1; b <= 5; b++) assert.ok(blocks.includes(`block ${b} of 5`), `no progress for block ${b}: ${blocks}`);
  assert.equal(await page.isVisible('#calib-layer'), false, 'the block progress hides when done');
  assert.equal(await page.locator('#quant-table tbody tr').count(), 47);
  assert.match(await page.textContent('#quant-totals'), /47 tensors: .* bits per weight/);
  assert.equal(await page.getAttribute('#quant-download', 'download'), 'stories260K-Q4_0-gptq.gguf');
  assert.equal(await page.isVisible('#imatrix-download'), false);
  const gptq = await downloaded(page);
  assert.equal(rtn.length, gptq.length, 'the same types, so the same size');
  assert.ok(!Buffer.from(rtn).equals(Buffer.from(gptq)) && !Buffer.from(rtn).equals(Buffer.from(withImatrix)));

  // the native CLI's files from the same text
  const cli = join(root, 'target', 'debug', 'webquant');
  assert.ok(existsSync(cli), `${cli} is missing: run cargo build --bin webquant`);
  const dir = mkdtempSync(join(tmpdir(), 'webquant-e2e-'));
  try {
    const model = join(root, 'web/models/stories260K.gguf');
    writeFileSync(join(dir, 'calib.txt'), CALIB);
    const run = (...args) => {
      const r = spawnSync(cli, args);
      assert.equal(r.status, 0, String(r.stderr));
    };
    run('quantize', model, join(dir, 'gptq.gguf'), '--type', 'Q4_0', '--gptq', '--calib', join(dir, 'calib.txt'), '--ctx', '64', '--act-order');
    // Not byte for byte: the wasm and native forward passes sum in different
    // orders (SIMD kernels), so a few columns round the other way and GPTQ
    // carries that on along their rows. Measured: 606 bytes of 258,592;
    // round to nearest against GPTQ differs in 32,874.
    const cliGptq = readFileSync(join(dir, 'gptq.gguf'));
    assert.equal(gptq.length, cliGptq.length);
    const differ = gptq.filter((b, i) => b !== cliGptq[i]).length;
    assert.ok(differ < gptq.length / 100, `the page's and the CLI's GPTQ files differ in ${differ} bytes`);
    writeFileSync(join(dir, 'imatrix.gguf'), Buffer.from(imatrix));
    run('quantize', model, join(dir, 'im.gguf'), '--type', 'Q4_0', '--imatrix', join(dir, 'imatrix.gguf'));
    assert.ok(Buffer.from(withImatrix).equals(readFileSync(join(dir, 'im.gguf'))), 'the page and the CLI wrote different imatrix files');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // compare: generation picks a variant; the evaluation measures all three
  assert.deepEqual(await page.locator('#gen-variant option').allTextContents(), ['Q4_0 · GPTQ', 'Q4_0 · imatrix', 'Q4_0 · RTN']);
  assert.equal(await page.textContent('#gen-quantized-title'), 'Quantized (Q4_0 · GPTQ)');
  await page.selectOption('#gen-variant', 'Q4_0 · imatrix');
  assert.equal(await page.textContent('#gen-quantized-title'), 'Quantized (Q4_0 · imatrix)');
  await page.fill('#gen-tokens', '16');
  await page.click('#gen-run');
  await page.waitForFunction(() => /^Done\.|failed/.test(document.querySelector('#gen-status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.textContent('#gen-status'), 'Done.');

  await page.waitForFunction(() => document.querySelector('#eval-text').value.startsWith('First Citizen:'));
  await page.selectOption('#eval-ctx', '64');
  await page.fill('#eval-chunks', '3');
  await page.click('#eval-run');
  await page.waitForFunction(() => /^Done\.$|failed/.test(document.querySelector('#eval-status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.textContent('#eval-status'), 'Done.');
  const heads = await page.locator('#eval-table thead th').allTextContents();
  assert.deepEqual(heads, ['measure', 'Q4_0 · GPTQ', 'Q4_0 · imatrix', 'Q4_0 · RTN', 'what it means']);
  const row = async (key) => (await page.locator(`#eval-table tr[data-key="${key}"] td`).allTextContents()).slice(1, 4);
  const num = (s) => Number(s.split(' ')[0]);
  const base = await row('ppl-base');
  assert.ok(base.every((v) => v === base[0] && num(v) > 1), `original perplexity ${base}`);
  for (const key of ['ppl', 'kld', 'same-top']) {
    const v = (await row(key)).map(num);
    assert.ok(v.every((x) => Number.isFinite(x) && x > 0), `${key}: ${v}`);
  }
  assert.ok((await row('same-top')).every((v) => num(v) <= 100));
  assert.deepEqual(await row('tokens'), Array(3).fill('93 in 3 chunks'));
  // the three differ: the methods round differently
  assert.equal(new Set(await row('kld')).size, 3);
  assert.equal(await page.locator('#eval-percentiles thead th').count(), 4);

  // at phone width, with the GPTQ options and the three columns showing
  await page.setViewportSize({ width: 390, height: 844 });
  assert.equal(await page.isVisible('#gptq-damp'), true);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390 px`);
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#quantize input, #quantize select, #quantize textarea, #compare select')]
    .filter((el) => el.offsetParent !== null && !el.labels?.length)
    .map((el) => el.id || el.outerHTML));
  assert.deepEqual(unlabelled, []);
  // the method by keyboard: arrows move between the choices
  await page.focus('#method-gptq');
  await page.keyboard.press('ArrowUp');
  assert.equal(await page.isChecked('#method-imatrix'), true);
  assert.equal(await page.isVisible('#gptq-options'), false);
  assert.equal(await page.isVisible('#calib-text'), true);
  assert.deepEqual(errors, []);
});

async function downloaded(page, sel = '#quant-download') {
  return page.evaluate(async (s) => Array.from(new Uint8Array(await (await fetch(document.querySelector(s).href)).arrayBuffer())), sel);
}

test('GPTQ cancels between steps with a message; the app quantizes again afterwards', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  await page.check('#method-gptq');
  // the bundled text at 64 tokens a chunk: many steps to cancel among
  await page.waitForFunction(() => document.querySelector('#calib-text').value.length > 3000);
  await page.selectOption('#calib-ctx', '64');
  await page.selectOption('#quant-type', 'Q4_0');
  await page.click('#quant-run');
  await page.waitForFunction(() => /calibrating, block/.test(document.querySelector('#quant-status').textContent));
  assert.equal(await page.isVisible('#calib-layer-progress'), true);
  await page.click('#quant-cancel');
  await page.waitForFunction(() => /^Cancelled\.|Quantized|failed/.test(document.querySelector('#quant-status').textContent));
  assert.equal(await status(page), 'Cancelled.');
  assert.equal(await page.isVisible('#quant-cancel'), false);
  assert.equal(await page.isVisible('#calib-layer'), false);
  assert.equal(await page.isVisible('#compare-body'), false, 'a cancelled job leaves nothing to compare');
  assert.equal(await page.isDisabled('#quant-run'), false);

  await quantize(page, 'Q4_0', 'rtn', 'Quantized to Q4_0.');
  assert.deepEqual(await page.locator('#gen-variant option').allTextContents(), ['Q4_0 · RTN']);
  assert.deepEqual(errors, []);
});

test('empty calibration text and unsupported types give plain messages; round to nearest still works', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  await page.selectOption('#quant-type', 'Q4_0');
  // the bundled text arrives asynchronously: clear it after, not before
  await page.waitForFunction(() => document.querySelector('#calib-text').value.length > 3000);
  for (const method of ['imatrix', 'gptq']) {
    await page.check(`#method-${method}`);
    await page.fill('#calib-text', '  \n');
    await page.click('#quant-run');
    assert.equal(await status(page), 'The calibration text is empty: paste a text, pick a file or use the bundled one.');
  }
  // the worker says the same to a caller that skips the page's check
  const worker = await page.evaluate(async () => {
    try {
      await window.webquant.client.call('quantize', { type: 'Q4_0', method: 'gptq', calib: { text: '' } });
      return 'finished';
    } catch (e) {
      return e.message;
    }
  });
  assert.match(worker, /calibration text is empty/);

  // GPTQ does not round to Q6_K: the choice is off, and the page says why
  await page.selectOption('#quant-type', 'Q6_K');
  assert.equal(await page.isDisabled('#method-gptq'), true);
  assert.equal(await page.isChecked('#method-rtn'), true);
  assert.match(await page.textContent('#method-help'), /GPTQ does not apply to Q6_K: rounding to nearest instead\./);
  assert.equal(await page.isVisible('#calib'), false);
  // one that the importance matrix does not change either
  await page.selectOption('#quant-type', 'pure:f16');
  assert.equal(await page.isDisabled('#method-imatrix'), true);
  // the library refuses a type with nothing for GPTQ (stories260K's rows of
  // 64 are no whole Q6_K blocks: that falls back to q8_0, which GPTQ rounds)
  const lib = await page.evaluate(async () => {
    try {
      await window.webquant.client.call('quantize', { type: 'f16', pure: true, method: 'gptq', calib: { text: 'Once upon a time '.repeat(200) } });
      return 'finished';
    } catch (e) {
      return e.message;
    }
  });
  assert.match(lib, /GPTQ has no tensors/);

  // a text too short for one chunk: the library's message, in the page
  await page.selectOption('#quant-type', 'Q4_0');
  await page.check('#method-gptq');
  await page.fill('#calib-text', 'Too short.');
  await page.click('#quant-run');
  await page.waitForFunction(() => /failed/.test(document.querySelector('#quant-status').textContent));
  assert.match(await status(page), /^Quantization failed: .+/);
  await quantize(page, 'Q4_0', 'rtn', 'Quantized to Q4_0.');
  assert.deepEqual(errors, []);
});
