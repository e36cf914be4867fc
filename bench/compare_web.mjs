// The compare view on a real model in headless Chromium, through the page as
// a person uses it: open a GGUF, quantize it, generate side by side, evaluate
// against the original. Prints what the page shows.
//
//   node bench/compare_web.mjs MODEL.gguf [--types Q8_0,Q4_0] [--tokens 32] [--ctx 128] [--chunks 2]
//
// Needs a built web/ (node scripts/build-web.mjs).
import { launch, openApp, startServer } from '../tests/harness.mjs';

const args = process.argv.slice(2);
const model = args[0];
if (!model || model.startsWith('--')) {
  console.error('usage: node bench/compare_web.mjs MODEL.gguf [--types Q8_0,Q4_0] [--tokens 32] [--ctx 128] [--chunks 2]');
  process.exit(2);
}
const opt = (name, def) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def);
const types = opt('types', 'Q8_0,Q4_0').split(',');
const tokens = opt('tokens', '32');
const ctx = opt('ctx', '128');
const chunks = opt('chunks', '2');
const prompt = opt('prompt', 'The capital of France is');
const LONG = { timeout: 600_000 };

const server = await startServer();
const browser = await launch({ webgpu: false });
const secs = (t0) => ((performance.now() - t0) / 1000).toFixed(1);
try {
  const { page, errors } = await openApp(browser, server.url);
  await page.waitForSelector('body[data-model=loaded]');
  await page.uncheck('#keep-models');
  await page.setInputFiles('#file-input', model);
  const name = model.split('/').pop();
  await page.waitForFunction((n) => document.querySelector('#model-source').textContent === n || !document.querySelector('#model-error').hidden, name, LONG);
  if (await page.isVisible('#model-error')) throw new Error(await page.textContent('#model-error'));
  console.log(`model ${name}: ${await page.textContent('#model-types')}`);
  for (const type of types) {
    await page.selectOption('#quant-type', type);
    let t0 = performance.now();
    await page.click('#quant-run');
    await page.waitForFunction((ty) => new RegExp(`Quantized to ${ty}|failed`).test(document.querySelector('#quant-status').textContent), type, LONG);
    console.log(`\n${type}: quantized in ${secs(t0)} s (${await page.textContent('#quant-status')})`);

    await page.fill('#gen-prompt', prompt);
    await page.fill('#gen-tokens', tokens);
    t0 = performance.now();
    await page.click('#gen-run');
    await page.waitForFunction(() => /Done|failed/.test(document.querySelector('#gen-status').textContent), null, LONG);
    console.log(`generation (${secs(t0)} s wall, both models, model loading included): ${await page.textContent('#gen-status')}`);
    console.log(`  original:  ${await page.textContent('#gen-original-speed')}`);
    console.log(`  quantized: ${await page.textContent('#gen-quantized-speed')}`);
    console.log(`  ${await page.textContent('#gen-diverge')}`);

    await page.selectOption('#eval-ctx', ctx);
    await page.fill('#eval-chunks', chunks);
    t0 = performance.now();
    await page.click('#eval-run');
    await page.waitForFunction(() => /Done|failed/.test(document.querySelector('#eval-status').textContent), null, LONG);
    console.log(`evaluation on the bundled text, context ${ctx}, ${chunks} chunks (${secs(t0)} s wall): ${await page.textContent('#eval-status')}`);
    const rows = await page.evaluate(() => [...document.querySelectorAll('#eval-table tbody tr')].map((tr) => `  ${tr.children[0].textContent}: ${tr.children[1].textContent}`));
    console.log(rows.join('\n'));
  }
  if (errors.length) console.log('\npage errors:', errors);
} finally {
  await browser.close();
  server.close();
}
