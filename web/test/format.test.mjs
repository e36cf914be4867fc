// Unit tests for web/format.js (node --test web/test/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtBytes, fmtInt, fmtMs, fmtNum, plural, progressText, speedText, transferText } from '../format.js';

test('fmtBytes picks B, KiB or MiB', () => {
  assert.equal(fmtBytes(0), '0 B');
  assert.equal(fmtBytes(1023), '1023 B');
  assert.equal(fmtBytes(1024), '1.0 KiB');
  assert.equal(fmtBytes(1536), '1.5 KiB');
  assert.equal(fmtBytes((1 << 20) - 1), '1024.0 KiB');
  assert.equal(fmtBytes(1 << 20), '1.00 MiB');
  assert.equal(fmtBytes(1_060_000), '1.01 MiB');
});

test('fmtInt groups thousands', () => {
  assert.equal(fmtInt(292_096), '292,096');
  assert.equal(fmtInt('47'), '47');
});

test('fmtNum: four decimals, exponent for very large and very small values', () => {
  assert.equal(fmtNum(0), '0.0000');
  assert.equal(fmtNum(0.12345), '0.1235');
  assert.equal(fmtNum(-9999.5), '-9999.5000');
  assert.equal(fmtNum(12344), '1.234e+4');
  assert.equal(fmtNum(12346), '1.235e+4');
  assert.equal(fmtNum(0.0001234), '1.234e-4');
});

test('fmtMs switches to seconds at one second', () => {
  assert.equal(fmtMs(999.94), '999.9 ms');
  assert.equal(fmtMs(1000), '1.00 s');
  assert.equal(fmtMs(2345), '2.35 s');
});

test('plural and progressText', () => {
  assert.equal(plural(1, 'token'), '1 token');
  assert.equal(plural(0, 'token'), '0 tokens');
  assert.equal(plural(2, 'token'), '2 tokens');
  assert.equal(progressText({ done: 3, total: 47, label: 'blk.0.attn_q.weight' }), '3 / 47: blk.0.attn_q.weight');
});

test('transferText: speed, and time left only with a total', () => {
  assert.equal(transferText(1 << 20, 4 << 20, 2), '1.00 MiB of 4.00 MiB, 512.0 KiB/s, 6 s left');
  assert.equal(transferText(2048, 0, 1), '2.0 KiB, 2.0 KiB/s');
  // no time has passed: the speed is taken over a millisecond, never infinite
  assert.equal(transferText(1024, 1024, 0), '1.0 KiB of 1.0 KiB, 1000.0 KiB/s, 0 s left');
});

test('speedText: rate, tokens, first token and device', () => {
  const s = { tokens: [{}, {}, {}], tokPerSec: 123.456, promptTokens: 1, firstMs: 12.34, device: 'CPU (wasm SIMD)' };
  assert.equal(speedText(s), '123.5 tokens/s · 3 tokens · prompt (1 token) and first token 12.3 ms · CPU (wasm SIMD)');
  assert.equal(speedText({ ...s, tokens: [{}], tokPerSec: null, promptTokens: 5, firstMs: 1500 }), 'one token only · 1 token · prompt (5 tokens) and first token 1.50 s · CPU (wasm SIMD)');
  assert.equal(speedText({ ...s, tokens: [] }), 'No tokens (the model ended at once).');
});
