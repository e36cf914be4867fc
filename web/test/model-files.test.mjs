// Unit tests for web/model-files.js (node --test web/test/): which model the
// files picked together make up. Files are {name, size}, as File objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importSources, sortModelFiles, stem } from '../model-files.js';

const f = (name, size = 100) => ({ name, size });

test('a GGUF on its own opens; with others it is refused', () => {
  const g = f('stories260K.gguf');
  assert.deepEqual(sortModelFiles([g]), { kind: 'gguf', file: g });
  assert.equal(sortModelFiles([g, f('b.GGUF')]).error, 'Open one GGUF at a time (got stories260K.gguf, b.GGUF).');
  assert.match(sortModelFiles([g, f('model.safetensors')]).error, /^Open a GGUF on its own/);
  assert.equal(sortModelFiles([]).error, 'No file was selected.');
});

test('a Hugging Face model, in any order, second downloads renamed by the browser included', () => {
  const w = f('model.safetensors');
  const c = f('config (1).json');
  const t = f('tokenizer.json');
  const picked = sortModelFiles([t, c, w], 'SmolLM2');
  assert.deepEqual(picked, { kind: 'hf', weights: w, config: c, tokenizer: t, tokenizerConfig: null, folder: 'SmolLM2' });
  assert.deepEqual(importSources(picked), { what: 'model.safetensors + config (1).json + tokenizer.json', name: 'SmolLM2' });
  const tc = f('tokenizer_config.json');
  const noFolder = sortModelFiles([w, c, t, tc]);
  assert.equal(noFolder.tokenizerConfig, tc);
  assert.equal(noFolder.folder, null);
  assert.deepEqual(importSources(noFolder), { what: 'model.safetensors + config (1).json + tokenizer.json + tokenizer_config.json', name: 'model' });
});

test('what is missing is said by file name', () => {
  assert.match(sortModelFiles([f('model.safetensors'), f('tokenizer.json')]).error, /^config\.json is missing for model\.safetensors: /);
  assert.match(sortModelFiles([f('model.safetensors')]).error, /^config\.json and tokenizer\.json are missing for model\.safetensors: /);
  assert.match(sortModelFiles([f('config.json'), f('tokenizer.json')]).error, /^model\.safetensors is missing for config\.json, tokenizer\.json: /);
  assert.match(sortModelFiles([f('config.json'), f('pytorch_model.bin')]).error, /^pytorch_model\.bin is a PyTorch checkpoint/);
  assert.match(sortModelFiles([f('a.safetensors'), f('b.safetensors')]).error, /several \.safetensors files/);
  assert.match(sortModelFiles([f('notes.txt')]).error, /^notes\.txt: webquant opens a \.gguf file/);
});

test('a llama2.c checkpoint and its tokenizer, told apart by name or else by size', () => {
  const ckpt = f('stories260K.bin', 1_000_000);
  const tok = f('tok512.bin', 6000);
  const picked = sortModelFiles([tok, ckpt]);
  assert.deepEqual(picked, { kind: 'llama2c', checkpoint: ckpt, tokenizer: tok });
  assert.deepEqual(importSources(picked), { what: 'stories260K.bin + tok512.bin', name: 'stories260K' });
  // two checkpoint-like names: the smaller is the tokenizer
  const a = f('model.bin', 5_000_000);
  const b = f('vocab.bin', 4000);
  assert.deepEqual(sortModelFiles([a, b]), { kind: 'llama2c', checkpoint: a, tokenizer: b });
  assert.match(sortModelFiles([ckpt]).error, /^tokenizer\.bin is missing for stories260K\.bin/);
  assert.match(sortModelFiles([tok]).error, /^The llama2\.c checkpoint \(\.bin\) is missing for tok512\.bin/);
  assert.match(sortModelFiles([ckpt, tok, f('x.bin')]).error, /^A llama2\.c model is two files/);
});

test('stem drops the last extension only', () => {
  assert.equal(stem('stories260K.bin'), 'stories260K');
  assert.equal(stem('a.b.gguf'), 'a.b');
  assert.equal(stem('.bin'), '.bin');
  assert.equal(stem('noext'), 'noext');
});
