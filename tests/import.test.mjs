// End-to-end: models that are not GGUF, picked or dropped as several files
// at once, are imported in the worker and then open like a GGUF.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApp, root, useApp } from './harness.mjs';

const STORIES = join(root, '..', 'shared', 'models', 'stories260K');
const CKPT = join(STORIES, 'stories260K.bin');
const TOK = join(STORIES, 'tok512.bin');
// llama2.c's greedy text for stories260K from an empty prompt.
const GREEDY = readFileSync(join(STORIES, 'greedy-t0-n256.txt'), 'utf8');
// The Rust tests' tiny Hugging Face Llama, and llama.cpp's F16 conversion
// of it (crate/tests/data/hf-tiny/README.md).
const HF = join(root, 'crate', 'tests', 'data', 'hf-tiny');
const hfFile = (name) => readFileSync(join(HF, 'model', name));

// A file for setInputFiles from bytes.
const file = (name, buffer) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(buffer) });

// The parameter count of a safetensors file, from its header.
function safetensorsParams(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .reduce((s, [, t]) => s + t.shape.reduce((a, b) => a * b, 1), 0);
}

// A GGUF's header fields, its metadata entries (each key and value's raw
// bytes) and everything after them (tensor infos, padding, tensor data).
function ggufParts(b) {
  assert.equal(b.toString('latin1', 0, 4), 'GGUF');
  const fixed = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  let at = 24;
  const str = () => {
    at += 8 + Number(b.readBigUInt64LE(at));
  };
  const value = (ty) => {
    if (ty in fixed) at += fixed[ty];
    else if (ty === 8) str();
    else if (ty === 9) {
      const inner = b.readUInt32LE(at);
      const n = Number(b.readBigUInt64LE(at + 4));
      at += 12;
      for (let i = 0; i < n; i++) value(inner);
    } else throw new Error(`GGUF value type ${ty}`);
  };
  const kv = [];
  for (let i = 0, n = Number(b.readBigUInt64LE(16)); i < n; i++) {
    const start = at;
    str();
    const ty = b.readUInt32LE(at);
    at += 4;
    value(ty);
    kv.push(b.subarray(start, at));
  }
  return { header: b.subarray(0, 24), kv, rest: b.subarray(at) };
}

const app = useApp({ webgpu: false });

async function imported(page) {
  await page.waitForFunction(() => /^Imported |could not be imported/.test(document.querySelector('#import-status').textContent + document.querySelector('#model-error').textContent), null, { timeout: 60_000 });
  assert.equal(await page.isHidden('#model-error'), true, await page.textContent('#model-error'));
}

// The page's error once it shows one.
async function error(page) {
  await page.waitForSelector('#model-error:not([hidden])');
  return page.textContent('#model-error');
}

test('a llama2.c checkpoint and its tokenizer, picked together, import as the bundled GGUF and run', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  const bundled = await page.evaluate(() => Object.fromEntries(['model-params', 'model-tensors', 'model-layers', 'model-vocab'].map((id) => [id, document.getElementById(id).textContent])));
  // in the "wrong" order: the page tells the files apart by name
  await page.setInputFiles('#file-input', [TOK, CKPT]);
  await imported(page);
  assert.match(await page.textContent('#import-status'), /^Imported stories260K as an F32 GGUF/);
  assert.equal(await page.textContent('#model-name'), 'stories260K');
  assert.equal(await page.textContent('#model-source'), 'stories260K.bin + tok512.bin (imported as F32 GGUF)');
  assert.equal(await page.textContent('#model-arch'), 'llama');
  assert.equal(await page.textContent('#model-types'), 'f32 × 47');
  const now = await page.evaluate(() => Object.fromEntries(['model-params', 'model-tensors', 'model-layers', 'model-vocab'].map((id) => [id, document.getElementById(id).textContent])));
  assert.deepEqual(now, bundled);
  assert.equal(now['model-params'], '260,032');
  assert.equal(await page.locator('#tensor-table tbody tr').count(), 47);

  // quantize it, and the imported original generates llama2.c's greedy text
  await page.selectOption('#quant-type', 'Q8_0');
  await page.click('#quant-run');
  await page.waitForFunction(() => document.querySelector('#quant-status').textContent === 'Quantized to Q8_0.', null, { timeout: 60_000 });
  assert.equal(await page.locator('#quant-table tbody tr').count(), 47);
  await page.fill('#gen-prompt', '');
  await page.fill('#gen-tokens', '48');
  await page.fill('#gen-temp', '0');
  await page.click('#gen-run');
  await page.waitForFunction(() => document.querySelector('#gen-status').textContent === 'Done.', null, { timeout: 60_000 });
  const text = await page.evaluate(() => [...document.querySelectorAll('#gen-original-text .tok')].map((e) => e.textContent).join(''));
  assert.ok(text.length > 40 && GREEDY.startsWith(text), `original output: ${text}`);

  // kept on this device under the imported name, as a GGUF opened from a file is
  await page.waitForSelector('#saved-list li[data-name="stories260K.gguf"]');
  // a GGUF opened next replaces it, and the import's message goes
  await page.setInputFiles('#file-input', join(root, 'web', 'models', 'stories260K.gguf'));
  await page.waitForFunction(() => document.querySelector('#model-source').textContent === 'stories260K.gguf');
  assert.equal(await page.textContent('#import-status'), '');
  assert.deepEqual(errors, []);
});

test('a dropped Hugging Face model imports as llama.cpp converts it, named from config.json', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  const weights = hfFile('model.safetensors');
  // _name_or_path names the model, as the converter's directory name does
  const config = JSON.stringify({ ...JSON.parse(hfFile('config.json')), _name_or_path: 'someone/Model' });
  const files = [
    ['tokenizer_config.json', hfFile('tokenizer_config.json')],
    ['model.safetensors', weights],
    ['config.json', Buffer.from(config)],
    ['tokenizer.json', hfFile('tokenizer.json')],
  ].map(([name, b]) => [name, Array.from(b)]);
  await page.evaluate((fs) => {
    const dt = new DataTransfer();
    for (const [name, b] of fs) dt.items.add(new File([new Uint8Array(b)], name));
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, files);
  await imported(page);
  assert.equal(await page.textContent('#model-name'), 'Model');
  assert.equal(await page.textContent('#model-arch'), 'llama');
  assert.equal(await page.textContent('#model-tensors'), '21');
  assert.equal(await page.textContent('#model-params'), safetensorsParams(weights).toLocaleString('en-US'));
  assert.equal(await page.textContent('#model-layers'), '2');
  assert.equal(await page.textContent('#model-embd'), '32');
  assert.equal(await page.textContent('#model-vocab'), '303');
  assert.match(await page.textContent('#model-source'), /^model\.safetensors \+ config\.json \+ tokenizer\.json \+ tokenizer_config\.json \(imported as F16 GGUF\)$/);

  // The GGUF the page made (kept in the origin-private file system) is
  // llama.cpp's convert_hf_to_gguf.py --outtype f16 output: the same
  // metadata (general.file_type and quantization_version last, where
  // llama-quantize puts them), tensor infos and tensor data.
  await page.waitForSelector('#saved-list li[data-name="Model.gguf"]');
  const saved = await page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('models');
    const f = await (await dir.getFileHandle('Model.gguf')).getFile();
    return Array.from(new Uint8Array(await f.arrayBuffer()));
  });
  const ours = ggufParts(Buffer.from(saved));
  const theirs = ggufParts(readFileSync(join(HF, 'expected-f16.gguf')));
  assert.ok(ours.header.equals(theirs.header), 'GGUF version or counts differ');
  assert.deepEqual(ours.kv.map((b) => b.toString('latin1')).sort(), theirs.kv.map((b) => b.toString('latin1')).sort());
  assert.ok(ours.rest.equals(theirs.rest), 'the tensor infos or data differ from llama.cpp\'s');

  // the imported model quantizes like any other
  await page.selectOption('#quant-type', 'Q8_0');
  await page.click('#quant-run');
  await page.waitForFunction(() => document.querySelector('#quant-status').textContent === 'Quantized to Q8_0.', null, { timeout: 60_000 });
  assert.equal(await page.locator('#quant-table tbody tr').count(), 21);
  assert.deepEqual(errors, []);
});

test('missing or bad companion files give plain messages, and the app keeps working', async () => {
  const { page, errors } = await openApp(app.browser, app.url);
  await page.waitForSelector('body[data-model=loaded]');
  const pick = async (files) => {
    await page.evaluate(() => {
      const el = document.querySelector('#model-error');
      el.hidden = true;
      el.textContent = '';
    });
    await page.setInputFiles('#file-input', files);
    return error(page);
  };
  const weights = hfFile('model.safetensors');
  const config = hfFile('config.json');
  const tokenizer = hfFile('tokenizer.json');

  // missing files, found before anything is read
  assert.equal(
    await pick([file('model.safetensors', weights), file('tokenizer.json', tokenizer)]),
    'config.json is missing for model.safetensors: a Hugging Face model needs model.safetensors, config.json and tokenizer.json (tokenizer_config.json too, if it has one), selected together.',
  );
  assert.match(await pick([file('model.safetensors', weights)]), /^config\.json and tokenizer\.json are missing for model\.safetensors: /);
  assert.match(await pick([file('config.json', config), file('tokenizer.json', tokenizer)]), /^model\.safetensors is missing for config\.json, tokenizer\.json: /);
  const ckpt = readFileSync(CKPT);
  const tok = readFileSync(TOK);
  assert.match(await pick([file('stories260K.bin', ckpt)]), /^tokenizer\.bin is missing for stories260K\.bin: a llama2\.c checkpoint needs its tokenizer/);
  assert.match(await pick([file('tok512.bin', tok)]), /^The llama2\.c checkpoint \(\.bin\) is missing for tok512\.bin/);
  assert.match(await pick([file('notes.txt', 'hello')]), /^notes\.txt: webquant opens a \.gguf file, a Hugging Face model/);

  // bad contents, found by the importer
  assert.match(
    await pick([file('model.safetensors', weights), file('config.json', '{"oops"'), file('tokenizer.json', tokenizer)]),
    /^model\.safetensors \+ config\.json \+ tokenizer\.json could not be imported: .*config\.json/,
  );
  const gpt2 = JSON.stringify({ ...JSON.parse(config), architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' });
  assert.match(
    await pick([file('model.safetensors', weights), file('config.json', gpt2), file('tokenizer.json', tokenizer)]),
    /could not be imported: .*"GPT2LMHeadModel" is not supported/,
  );
  assert.match(await pick([file('stories260K.bin', ckpt.subarray(0, 100_000)), file('tok512.bin', tok)]), /^stories260K\.bin \+ tok512\.bin could not be imported: /);
  assert.equal(await page.textContent('#model-name'), 'stories260K', 'the bundled model stays open');
  assert.equal(await page.textContent('#model-source'), 'bundled with webquant');
  assert.equal(await page.isDisabled('#file-input'), false);

  // an import cancelled as it starts ends as cancelled; the model stays
  const outcome = await page.evaluate(async (b) => {
    const { client } = window.webquant;
    const req = client.request('importModel', {
      kind: 'llama2c',
      name: 'x',
      checkpoint: new File([new Uint8Array(b.ckpt)], 'x.bin'),
      tokenizer: new File([new Uint8Array(b.tok)], 'tok512.bin'),
    });
    req.cancel();
    try {
      await req.promise;
      return 'finished';
    } catch (e) {
      return e.name;
    }
  }, { ckpt: Array.from(ckpt), tok: Array.from(tok) });
  assert.equal(outcome, 'CancelledError');

  // the open model still quantizes, and a GGUF picked now opens
  await page.selectOption('#quant-type', 'Q4_0');
  await page.click('#quant-run');
  await page.waitForFunction(() => document.querySelector('#quant-status').textContent === 'Quantized to Q4_0.', null, { timeout: 60_000 });
  assert.match(await page.textContent('#quant-table tr[data-name="blk.0.attn_q.weight"]'), /f32.*q4_0/);
  await page.evaluate(() => {
    document.querySelector('#model-error').hidden = true;
  });
  await page.setInputFiles('#file-input', join(root, 'web', 'models', 'stories260K.gguf'));
  await page.waitForFunction(() => document.querySelector('#model-source').textContent === 'stories260K.gguf');
  assert.equal(await page.textContent('#model-tensors'), '47');
  assert.equal(await page.isHidden('#model-error'), true);
  assert.deepEqual(errors, []);
});
