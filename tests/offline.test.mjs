// End-to-end: after one visit the app, the bundled model and saved models
// work with the network off: open, quantize and run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, useApp } from './harness.mjs';

const app = useApp({ webgpu: false });

test('a model opened once is saved, and the app and that model open offline', async () => {
  const { page, context, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  // open a model from a URL: it is kept on the device
  await page.fill('#url-input', `${app.url}models/stories260K.gguf?copy=1`);
  await page.click('#url-open');
  await page.waitForSelector('#saved-list li[data-name="stories260K.gguf"]');
  assert.match(await page.textContent('#saved-list li'), /stories260K\.gguf.*1\.01 MiB/);

  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('body[data-ready=yes]', { timeout: 30_000 });
  await page.waitForSelector('body[data-model=loaded]', { timeout: 30_000 });
  assert.equal(await page.textContent('#model-name'), 'stories260K');
  await page.waitForSelector('#saved-list li[data-name="stories260K.gguf"]');
  await page.click('#saved-list li[data-name="stories260K.gguf"] button:has-text("Open")');
  await page.waitForFunction(() => document.querySelector('#model-source').textContent === 'saved: stories260K.gguf');
  // quantizing works offline too
  await page.click('#quant-run');
  await page.waitForFunction(() => /Quantized to/.test(document.querySelector('#quant-status').textContent), null, { timeout: 60_000 });
  // and the saved model runs: side-by-side generation and, on the bundled
  // text (from the app's offline copy), perplexity and KL divergence
  await page.fill('#gen-tokens', '16');
  await page.click('#gen-run');
  await page.waitForFunction(() => document.querySelector('#gen-status').textContent === 'Done.', null, { timeout: 60_000 });
  assert.equal(await page.getAttribute('#gen-original', 'data-tokens'), '16');
  assert.ok((await page.textContent('#gen-quantized-text')).length > 0);
  await page.waitForFunction(() => document.querySelector('#eval-text').value.startsWith('First Citizen:'));
  await page.fill('#eval-chunks', '2');
  await page.click('#eval-run');
  await page.waitForFunction(() => document.querySelector('#eval-status').textContent === 'Done.', null, { timeout: 60_000 });
  assert.match(await page.textContent('#eval-table tr[data-key="kld"]'), /Mean KL divergence/);
  // the teaching page as well
  await page.goto(`${app.url}teach.html`);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 30_000 });
  await context.setOffline(false);

  // delete: the list is empty again
  await page.goto(app.url);
  await page.waitForSelector('#saved-list li[data-name="stories260K.gguf"]');
  await page.click('#saved-list li[data-name="stories260K.gguf"] button:has-text("Delete")');
  await page.waitForSelector('#saved-list li', { state: 'detached' });
  assert.equal(await page.isVisible('#saved-empty'), true);
  assert.deepEqual(errors.filter((e) => !/Failed to load resource|ERR_INTERNET_DISCONNECTED/.test(e)), []);
});
