// End-to-end: the compare view runs the original and the quantized model
// side by side, and measures the quantized model against the original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApp, root, useApp } from './harness.mjs';

// llama2.c's greedy text for stories260K from an empty prompt.
const GREEDY = readFileSync(join(root, '..', 'shared', 'models', 'stories260K', 'greedy-t0-n256.txt'), 'utf8');

const app = useApp({ webgpu: false });

async function quantize(page, type) {
  await page.selectOption('#quant-type', type);
  await page.click('#quant-run');
  await page.waitForFunction((t) => document.querySelector('#quant-status').textContent === `Quantized to ${t}.`, type, { timeout: 60_000 });
  await page.waitForSelector('#compare-body:not([hidden])');
}

async function generate(page, { prompt, tokens }) {
  await page.fill('#gen-prompt', prompt);
  await page.fill('#gen-tokens', String(tokens));
  await page.fill('#gen-temp', '0');
  await page.click('#gen-run');
  await page.waitForFunction(() => document.querySelector('#gen-status').textContent === 'Done.', null, { timeout: 60_000 });
  return page.evaluate(() => {
    const side = (s) => ({
      tokens: [...document.querySelectorAll(`#gen-${s}-text .tok`)].map((e) => e.textContent),
      diverge: [...document.querySelectorAll(`#gen-${s}-text .tok`)].findIndex((e) => e.classList.contains('diverge')),
      speed: document.querySelector(`#gen-${s}-speed`).textContent,
    });
    return { original: side('original'), quantized: side('quantized'), message: document.querySelector('#gen-diverge').textContent };
  });
}

async function evaluate(page, { ctx, chunks }) {
  await page.selectOption('#eval-ctx', String(ctx));
  await page.fill('#eval-chunks', String(chunks));
  await page.click('#eval-run');
  await page.waitForFunction(() => /^Done\.$|failed/.test(document.querySelector('#eval-status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.textContent('#eval-status'), 'Done.');
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#eval-table tbody tr')].map((tr) => [tr.dataset.key, tr.children[1].textContent])));
}

// The outputs agree up to the highlighted token, which differs (or no token
// is highlighted and they agree throughout), and the message says so.
function checkDivergence(g) {
  const { original: o, quantized: q } = g;
  assert.equal(o.diverge, q.diverge, 'the same position is highlighted on both sides');
  const n = o.diverge >= 0 ? o.diverge : Math.min(o.tokens.length, q.tokens.length);
  assert.deepEqual(o.tokens.slice(0, n), q.tokens.slice(0, n));
  if (o.diverge >= 0) {
    assert.match(g.message, new RegExp(`first differ at generated token ${o.diverge + 1} `));
  } else {
    assert.match(g.message, /same (first )?\d+ tokens/);
  }
}

test('quantized to Q8_0 and Q4_0, both models generate side by side with tokens per second', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  assert.equal(await page.isVisible('#compare-body'), false, 'nothing to compare before quantizing');
  assert.match(await page.textContent('#compare-empty'), /Quantize the model first/);

  for (const type of ['Q8_0', 'Q4_0']) {
    await quantize(page, type);
    assert.equal(await page.textContent('#gen-quantized-title'), `Quantized (${type} · RTN)`);
    const g = await generate(page, { prompt: '', tokens: 48 });
    // the original is stories260K itself: llama2.c's greedy text
    assert.ok(GREEDY.startsWith(g.original.tokens.join('')), `original output: ${g.original.tokens.join('')}`);
    assert.equal(g.original.tokens.length, 48);
    assert.ok(g.quantized.tokens.length > 0);
    for (const s of [g.original, g.quantized]) assert.match(s.speed, /^\d+\.\d tokens\/s · \d+ tokens · prompt \(1 token\) and first token/);
    checkDivergence(g);
    if (type === 'Q4_0') {
      // 4 bits moves stories260K's greedy text within a few dozen tokens
      assert.ok(g.original.diverge >= 0, 'Q4_0 output differs from the original');
    }
  }
  assert.deepEqual(errors, []);
});

test('perplexity, KL divergence and top-token agreement against the original; Q4_0 diverges more than Q8_0', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  await page.waitForFunction(() => document.querySelector('#eval-text').value.startsWith('First Citizen:'));
  const m = {};
  for (const type of ['Q8_0', 'Q4_0']) {
    await quantize(page, type);
    m[type] = await evaluate(page, { ctx: 64, chunks: 4 });
  }
  const num = (s) => Number(s.split(' ')[0]);
  // each chunk scores its second half but the last token: 4 × (32 - 1)
  assert.match(m.Q4_0.tokens, /^124 in 4 chunks$/);
  assert.equal(m.Q8_0['ppl-base'], m.Q4_0['ppl-base'], 'the original is the same reference');
  assert.ok(num(m.Q8_0.kld) > 0, `Q8_0 KLD ${m.Q8_0.kld}`);
  assert.ok(num(m.Q4_0.kld) > num(m.Q8_0.kld), `Q4_0 ${m.Q4_0.kld} vs Q8_0 ${m.Q8_0.kld}`);
  assert.ok(num(m.Q4_0['same-top']) <= num(m.Q8_0['same-top']));
  assert.ok(num(m.Q4_0['same-top']) > 50 && num(m.Q4_0['same-top']) <= 100);
  for (const k of ['kld-median', 'kld-99', 'kld-max', 'ppl', 'delta-ppl']) assert.ok(k in m.Q4_0, k);
  // every percentile, from the maximum down, in the details
  await page.click('#eval-percentiles summary');
  const pct = await page.locator('#eval-percentiles tbody tr td:nth-child(2)').allTextContents();
  assert.equal(pct.length, 11);
  assert.equal(pct[0], m.Q4_0['kld-max']);
  assert.ok(pct.map(Number).every((v, i, a) => i === 0 || v <= a[i - 1]), `not descending: ${pct}`);

  // A text too short for the context is a plain message; the view stays usable.
  await page.fill('#eval-text', 'Too short.');
  await page.click('#eval-run');
  await page.waitForFunction(() => /failed/.test(document.querySelector('#eval-status').textContent));
  assert.match(await page.textContent('#eval-status'), /Evaluation failed: .*needs at least 128/);
  await page.click('#eval-default');
  await page.waitForFunction(() => document.querySelector('#eval-text').value.startsWith('First Citizen:'));
  assert.equal(await page.isDisabled('#eval-run'), false);
  assert.deepEqual(errors, []);
});

test('generation stops and an evaluation cancels on request; the worker goes on working', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  await quantize(page, 'Q4_0');
  const text = readFileSync(join(root, 'web', 'texts', 'tinyshakespeare-10k.txt'), 'utf8');
  const outcome = await page.evaluate(async (t) => {
    const { client } = window.webquant;
    const gen = client.request('compareGenerate', { prompt: 'Once', maxTokens: 200 });
    gen.cancel();
    const stopped = await gen.promise;
    const ev = client.request('compareEval', { text: t, nCtx: 64 });
    ev.cancel();
    let cancelled;
    try {
      await ev.promise;
      cancelled = 'finished';
    } catch (e) {
      cancelled = e.name;
    }
    const full = await client.call('compareGenerate', { prompt: 'Once', maxTokens: 8 });
    return { stopped: stopped.stopped, n: stopped.original.tokens.length, cancelled, after: full.original.tokens.length };
  }, text);
  assert.deepEqual(outcome, { stopped: true, n: 0, cancelled: 'CancelledError', after: 8 });

  // The Stop button, pressed as soon as it shows: what was generated stays.
  await page.fill('#gen-tokens', '400');
  await page.evaluate(() => {
    document.querySelector('#gen-run').click();
    document.querySelector('#gen-stop').click();
  });
  await page.waitForFunction(() => /^Stopped\.|failed/.test(document.querySelector('#gen-status').textContent));
  assert.equal(await page.textContent('#gen-status'), 'Stopped.');
  const n = Number(await page.getAttribute('#gen-original', 'data-tokens'));
  assert.ok(n < 400, `${n} tokens after Stop`);
  assert.equal(await page.isHidden('#gen-stop'), true);
  assert.equal(await page.isDisabled('#gen-run'), false);
  assert.deepEqual(errors, []);
});

test('at phone width the page does not scroll sideways, and every control has a label and takes keyboard focus', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForSelector('body[data-model=loaded]');
  await quantize(page, 'Q4_0');
  await generate(page, { prompt: 'Once upon a time', tokens: 64 });
  await evaluate(page, { ctx: 64, chunks: 2 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390 px`);

  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('main input, main select, main textarea, main button')]
    .filter((el) => !el.hidden && el.offsetParent !== null)
    .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim())))
    .map((el) => el.id || el.outerHTML));
  assert.deepEqual(unlabelled, []);

  // Tab from the top reaches the main controls, in page order.
  await page.evaluate(() => document.activeElement?.blur());
  const reached = [];
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    reached.push(await page.evaluate(() => document.activeElement?.id ?? ''));
  }
  const want = ['file-input', 'url-input', 'quant-type', 'quant-run', 'gen-prompt', 'gen-run', 'eval-text', 'eval-run'];
  const at = want.map((id) => reached.indexOf(id));
  assert.ok(at.every((i) => i >= 0), `not reached by Tab: ${want.filter((_, k) => at[k] < 0)}`);
  assert.deepEqual([...at].sort((a, b) => a - b), at, 'focus order follows the page');
  assert.deepEqual(errors, []);
});
