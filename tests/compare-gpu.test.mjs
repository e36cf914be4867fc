// End-to-end: the compare view generates on WebGPU (headless Chromium's
// SwiftShader adapter: no shader-f16, so the f32 path) with the CPU's greedy
// text, and evaluation afterwards runs on the CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApp, root, useApp } from './harness.mjs';

// llama2.c's greedy text for stories260K from an empty prompt.
const GREEDY = readFileSync(join(root, '..', 'shared', 'models', 'stories260K', 'greedy-t0-n256.txt'), 'utf8');

const app = useApp({ webgpu: true });

async function generate(page, device) {
  await page.selectOption('#gen-device', device);
  await page.fill('#gen-prompt', '');
  await page.fill('#gen-tokens', '40');
  await page.fill('#gen-temp', '0');
  await page.click('#gen-run');
  await page.waitForFunction(() => /^Done\.$|failed/.test(document.querySelector('#gen-status').textContent), null, { timeout: 120_000 });
  assert.equal(await page.textContent('#gen-status'), 'Done.');
  const side = (s) => page.evaluate((k) => ({
    text: [...document.querySelectorAll(`#gen-${k}-text .tok`)].map((e) => e.textContent).join(''),
    speed: document.querySelector(`#gen-${k}-speed`).textContent,
  }), s);
  return { original: await side('original'), quantized: await side('quantized') };
}

test('generation on WebGPU equals the CPU\'s, says where it ran, and evaluation then runs on the CPU', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  assert.equal(await page.getAttribute('body', 'data-webgpu'), 'yes');
  assert.match(await page.textContent('#engine-status'), /WebGPU: /);
  assert.equal(await page.isDisabled('#gen-device option[value=gpu]'), false);
  // an emulated GPU (SwiftShader here) is slower than the CPU: offered, not
  // chosen; a real one is chosen
  const emulated = /slower than the CPU/.test(await page.textContent('#gen-device option[value=gpu]'));
  assert.equal(await page.inputValue('#gen-device'), emulated ? 'cpu' : 'gpu');

  await page.selectOption('#quant-type', 'Q8_0');
  await page.click('#quant-run');
  await page.waitForFunction(() => document.querySelector('#quant-status').textContent === 'Quantized to Q8_0.', null, { timeout: 60_000 });
  await page.waitForSelector('#compare-body:not([hidden])');

  const gpu = await generate(page, 'gpu');
  const cpu = await generate(page, 'cpu');
  assert.ok(gpu.original.text.length > 40 && GREEDY.startsWith(gpu.original.text), gpu.original.text);
  // Q8_0 weights with f32 activations on the GPU, Q8_0 activations on the
  // CPU: stories260K's greedy text is the same for these 40 tokens.
  assert.equal(gpu.quantized.text, cpu.quantized.text);
  for (const s of [gpu.original, gpu.quantized]) assert.match(s.speed, / · GPU \(/);
  for (const s of [cpu.original, cpu.quantized]) assert.match(s.speed, / · CPU$/);

  // back on the GPU, then an evaluation: the runners move to the CPU for it
  await generate(page, 'gpu');
  await page.selectOption('#eval-ctx', '64');
  await page.fill('#eval-chunks', '2');
  await page.click('#eval-run');
  await page.waitForFunction(() => /^Done\.$|failed/.test(document.querySelector('#eval-status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.textContent('#eval-status'), 'Done.');
  assert.match(await page.textContent('#eval-table tbody tr[data-key=tokens] td:nth-child(2)'), /^62 in 2 chunks$/);
  assert.deepEqual(errors, []);
});
