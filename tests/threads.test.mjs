// End-to-end: threads in the page. Served cross-origin isolated (as
// scripts/serve.mjs serves it), the page loads the threads build, starts a
// pool of the cores the browser reports and shows a thread-count control;
// results are the same for any count. Served without the COOP/COEP headers
// it loads the one-thread build and says why in one sentence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openApp, root, startServer, useApp } from './harness.mjs';

// SmolLM2-135M F16, made by scripts/test.sh: matrices large enough that the
// runner splits them over threads (stories260K's are not).
const SMOLLM2 = join(root, 'target', 'test-models', 'smollm2-135m-f16.gguf');

const app = useApp({ webgpu: false });

async function setThreads(page, n) {
  await page.fill('#threads', String(n));
  await page.dispatchEvent('#threads', 'change');
  await page.waitForFunction((v) => document.body.dataset.threads === String(v), n);
}

async function generate(page) {
  await page.fill('#gen-prompt', 'Once upon a time');
  await page.fill('#gen-tokens', '24');
  await page.fill('#gen-temp', '0');
  await page.click('#gen-run');
  await page.waitForFunction(() => document.querySelector('#gen-status').textContent === 'Done.', null, { timeout: 180_000 });
  return page.evaluate(() => ({
    original: [...document.querySelectorAll('#gen-original-text .tok')].map((e) => e.textContent),
    quantized: [...document.querySelectorAll('#gen-quantized-text .tok')].map((e) => e.textContent),
  }));
}

async function evaluate(page) {
  await page.selectOption('#eval-ctx', '128');
  await page.fill('#eval-chunks', '1');
  await page.click('#eval-run');
  await page.waitForFunction(() => /^Done\.$|failed/.test(document.querySelector('#eval-status').textContent), null, { timeout: 180_000 });
  assert.equal(await page.textContent('#eval-status'), 'Done.');
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#eval-table tbody tr')].map((tr) => [tr.dataset.key, tr.children[1].textContent])));
}

test('cross-origin isolated: the threads build, a pool of every core, the same results on 1 and 2 threads', async () => {
  assert.ok(existsSync(SMOLLM2), `${SMOLLM2} is missing: scripts/test.sh makes it`);
  const { page, errors } = await openApp(app.browser, app.url);
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'yes');
  assert.equal(await page.evaluate(() => crossOriginIsolated), true);
  assert.equal(await page.evaluate(() => document.body.dataset.variant), 'threads');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.match(await page.textContent('#engine-status'), new RegExp(`with SIMD, ${cores} threads`));
  assert.equal(await page.isVisible('#threads'), true);
  assert.equal(await page.getAttribute('#threads', 'max'), String(cores));
  assert.equal(await page.inputValue('#threads'), String(cores));
  // More than the pool holds is capped, and the control shows the count used.
  await page.fill('#threads', String(cores + 5));
  await page.dispatchEvent('#threads', 'change');
  await page.waitForFunction((c) => document.querySelector('#threads').value === String(c), cores);

  await page.setInputFiles('#file-input', SMOLLM2);
  await page.waitForFunction(() => document.querySelector('#model-source')?.textContent === 'smollm2-135m-f16.gguf', null, { timeout: 60_000 });
  await page.selectOption('#quant-type', 'Q8_0');
  await page.click('#quant-run');
  await page.waitForFunction(() => document.querySelector('#quant-status').textContent === 'Quantized to Q8_0.', null, { timeout: 180_000 });

  const runs = {};
  for (const n of [2, 1]) {
    await setThreads(page, n);
    runs[n] = { gen: await generate(page), ev: await evaluate(page) };
  }
  assert.ok(runs[1].gen.original.length > 0 && runs[1].gen.quantized.length > 0);
  assert.deepEqual(runs[2].gen, runs[1].gen, 'generated tokens on 2 threads and on 1');
  assert.deepEqual(runs[2].ev, runs[1].ev, 'perplexity and KL divergence on 2 threads and on 1');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('not cross-origin isolated: the one-thread build, and one sentence saying why', async () => {
  const server = await startServer({ isolation: false });
  try {
    const { page, errors } = await openApp(app.browser, server.url);
    assert.equal(await page.evaluate(() => document.body.dataset.ready), 'yes');
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    assert.equal(await page.evaluate(() => document.body.dataset.variant), 'simd');
    assert.match(await page.textContent('#engine-status'), /with SIMD, one thread/);
    assert.equal(await page.isVisible('#threads'), false);
    const notes = await page.textContent('#engine-notes');
    assert.match(notes, /webquant runs on one thread here: this page is not cross-origin isolated \(its server does not send the COOP and COEP headers\)/);
    // The bundled model still runs.
    await page.waitForSelector('body[data-model=loaded]');
    assert.deepEqual(errors, []);
    await page.context().close();
  } finally {
    server.close();
  }
});
