// Unit tests for web/report.js (node --test web/test/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  calibTail, divergenceText, evalRows, firstDifference, groupSqnr, largestQuantized, layerSeries, mainType, modelFacts, parseChoice,
  percentileLabel, percentileRows, quantDoneText, quantFileName, quantRow, sizeSeries, sqnrSeries, tensorRow, totalsText,
} from '../report.js';

// Reports as the worker's quantize returns them (the fields the page reads).
const rep = (name, { from = 'f32', to = 'q4_0', n = 1024, sqnrDb = 20, rmse = 0.01, bytesIn = 4 * n, bytesOut = n / 2 } = {}) => ({
  name, dims: [n], from, to, nElements: n, sqnrDb, rmse, bytesIn, bytesOut, cosine: 0.9999991, reason: 'preset',
});

test('modelFacts: every fact with its element id, dashes for what is unknown', () => {
  const info = {
    name: 'stories260K', architecture: 'llama', parameterCount: 292096, tensorCount: 47, fileBytes: 1_060_000,
    types: { f32: 47 }, blockCount: 5, embeddingLength: 64, contextLength: 512, vocabSize: 512, ggufVersion: 3,
  };
  const facts = modelFacts(info, 'bundled with webquant');
  assert.deepEqual(facts.map(([, , id]) => id), [
    'model-name', 'model-source', 'model-arch', 'model-params', 'model-tensors', 'model-size',
    'model-types', 'model-layers', 'model-embd', 'model-ctx', 'model-vocab', 'model-gguf',
  ]);
  const byId = Object.fromEntries(facts.map(([, v, id]) => [id, v]));
  assert.equal(byId['model-params'], '292,096');
  assert.equal(byId['model-size'], '1.01 MiB');
  assert.equal(byId['model-types'], 'f32 × 47');
  const bare = Object.fromEntries(modelFacts({ ...info, types: { f16: 2, f32: 3 }, blockCount: undefined, vocabSize: null }, 'x').map(([, v, id]) => [id, v]));
  assert.equal(bare['model-types'], 'f16 × 2, f32 × 3');
  assert.equal(bare['model-layers'], '–');
  assert.equal(bare['model-vocab'], '–');
});

test('tensorRow and quantRow: cells with their classes', () => {
  assert.deepEqual(tensorRow({ name: 'tok_embd', dims: [64, 512], ty: 'f32', nBytes: 131072 }),
    [['tok_embd'], ['64 × 512'], ['f32'], ['131,072', 'num'], ['', 'num'], ['', 'num'], ['', 'num'], ['', 'num']]);
  const cells = quantRow(rep('blk.0.attn_q.weight', { n: 4096, bytesOut: 2304, sqnrDb: 21.456, rmse: 0.0123456 }));
  assert.deepEqual(cells.map(([t]) => t), ['blk.0.attn_q.weight', '4096', 'f32', 'q4_0', '2,304', '4.500', '0.0123', '21.46', '0.999999', 'preset']);
  assert.equal(quantRow(rep('n', { sqnrDb: null }))[7][0], 'exact');
});

test('parseChoice, mainType, file names and the done sentence', () => {
  assert.deepEqual(parseChoice('Q4_K_M'), { type: 'Q4_K_M', pure: false });
  assert.deepEqual(parseChoice('pure:q4_0'), { type: 'q4_0', pure: true });
  assert.equal(mainType('Q4_K_M'), 'q4_k');
  assert.equal(mainType('Q8_0'), 'q8_0');
  assert.equal(mainType('pure:IQ4_NL'), 'iq4_nl');
  assert.equal(quantFileName('stories260K', 'Q4_0', 'rtn'), 'stories260K-Q4_0.gguf');
  assert.equal(quantFileName('stories260K', 'Q4_0', 'gptq'), 'stories260K-Q4_0-gptq.gguf');
  assert.equal(quantDoneText('Q4_0', 'rtn'), 'Quantized to Q4_0.');
  assert.equal(quantDoneText('Q4_K_M', 'imatrix'), 'Quantized to Q4_K_M with an importance matrix.');
  assert.equal(quantDoneText('Q4_0', 'gptq'), 'Quantized to Q4_0 with GPTQ.');
});

test('totalsText', () => {
  const totals = { tensors: 47, bytesIn: 1 << 20, bytesOut: 150 * 1024, bitsPerWeightIn: 32, bitsPerWeightOut: 4.6875 };
  assert.equal(totalsText(totals, 200 * 1024), '47 tensors: 1.00 MiB → 150.0 KiB of tensor data, 32.00 → 4.69 bits per weight; file 200.0 KiB.');
});

test('largestQuantized skips tensors that kept their type', () => {
  const reports = [rep('a', { n: 100 }), rep('norm', { n: 5000, to: 'f32' }), rep('b', { n: 300 }), rep('c', { n: 200 })];
  assert.equal(largestQuantized(reports), 2);
  assert.equal(largestQuantized([rep('x', { to: 'f32' })]), -1);
});

test('groupSqnr: total signal over total noise', () => {
  // one tensor: its own SQNR
  assert.ok(Math.abs(groupSqnr([rep('a', { sqnrDb: 17.5 })]) - 17.5) < 1e-9);
  // two with equal noise, 10 and 20 dB: signal 10 + 100 over noise 2
  const g = groupSqnr([rep('a', { sqnrDb: 10 }), rep('b', { sqnrDb: 20 })]);
  assert.ok(Math.abs(g - 10 * Math.log10(110 / 2)) < 1e-9, String(g));
  assert.equal(groupSqnr([]), null);
  assert.equal(groupSqnr([rep('exact', { rmse: 0 })]), null);
});

test('sqnrSeries and layerSeries: per tensor, and per blk.N in numeric order', () => {
  const reports = [
    rep('tok_embd.weight', { sqnrDb: 30 }),
    rep('blk.10.ffn_up.weight', { sqnrDb: 18 }),
    rep('blk.2.attn_q.weight', { sqnrDb: 22 }),
    rep('blk.2.attn_k.weight', { sqnrDb: 19 }),
    rep('blk.2.attn_norm.weight', { sqnrDb: null, to: 'f32' }),
  ];
  assert.deepEqual(sqnrSeries(reports), { names: ['tok_embd.weight', 'blk.10.ffn_up.weight', 'blk.2.attn_q.weight', 'blk.2.attn_k.weight'], values: [30, 18, 22, 19] });
  const l = layerSeries(reports);
  assert.deepEqual(l.keys, [2, 10]);
  assert.deepEqual(l.worst, [19, 18]);
  assert.deepEqual(l.worstName, ['blk.2.attn_k.weight', 'blk.10.ffn_up.weight']);
  assert.ok(l.sqnr[0] > 19 && l.sqnr[0] < 22);
  assert.equal(l.sqnr[1], groupSqnr([reports[1]]));
  assert.deepEqual(layerSeries([rep('output.weight')]).keys, []);
});

test('sizeSeries: KiB by kind, largest first, kinds under 1% as "other"', () => {
  const reports = [
    rep('blk.0.attn_q.weight', { bytesIn: 40960, bytesOut: 5120 }),
    rep('blk.1.attn_q.weight', { bytesIn: 40960, bytesOut: 5120 }),
    rep('tok_embd.weight', { bytesIn: 102400, bytesOut: 102400 }),
    rep('blk.0.attn_norm.weight', { bytesIn: 512, bytesOut: 512 }),
    rep('output_norm.weight', { bytesIn: 512, bytesOut: 512 }),
  ];
  assert.deepEqual(sizeSeries(reports), { names: ['tok_embd', 'attn_q', 'other'], before: [100, 80, 1], after: [100, 10, 1] });
  assert.deepEqual(sizeSeries(reports.slice(0, 3)).names, ['tok_embd', 'attn_q']);
});

test('calibTail: the last 4 KB, from a line start', () => {
  const text = `${'a'.repeat(5000)}\n${'b'.repeat(10)}\n${'c'.repeat(4000)}`;
  // 4096 from the end falls inside the a's: the tail starts after them
  assert.equal(calibTail(text), `${'b'.repeat(10)}\n${'c'.repeat(4000)}`);
  assert.equal(calibTail(`${'a'.repeat(10)}\n${'b'.repeat(5000)}\nc`).length, 1);
  assert.equal(calibTail('x'.repeat(5000)), 'x'.repeat(5000));
});

test('firstDifference and divergenceText', () => {
  assert.equal(firstDifference([1, 2, 3], [1, 2, 4]), 2);
  assert.equal(firstDifference([1, 2], [1, 2, 3]), null);
  assert.equal(firstDifference([], []), null);
  const t = (...ids) => ids.map((id) => ({ id, text: `<${id}>` }));
  assert.equal(divergenceText(t(1, 2, 3), t(1, 5, 3), 1), 'The outputs first differ at generated token 2 (highlighted): “<2>” against “<5>”.');
  assert.equal(divergenceText(t(1, 2), t(1, 2), null), 'Both models generated the same 2 tokens.');
  assert.equal(divergenceText(t(1, 2), t(1, 2, 3), null), 'The same first 2 tokens; then one model ended and the other went on.');
});

test('evalRows and percentileRows: one row per measure or percentile, one value per quantization', () => {
  const v = (label, kld) => ({
    label, ppl: 12.3456789, pplUncertainty: 0.5, tokensScored: 1234, chunks: 4, seconds: 1.5,
    kl: {
      pplBase: 11, deltaPpl: 1.3456789, pplRatio: 1.12233, meanKld: kld, meanKldUncertainty: 0.001, sameTop: 0.9,
      kldPercentiles: [[0, 0], [0.5, kld / 2], [0.99, kld * 3], [1, kld * 10]],
    },
  });
  const rows = evalRows([v('Q4_0 · RTN', 0.05), v('Q8_0 · RTN', 0.002)]);
  assert.deepEqual(rows.map((r) => r.key), ['ppl-base', 'ppl', 'delta-ppl', 'kld', 'kld-median', 'kld-99', 'kld-max', 'same-top', 'tokens']);
  const by = Object.fromEntries(rows.map((r) => [r.key, r.cells]));
  assert.deepEqual(by.kld, [['Mean KL divergence'], ['0.0500 ± 0.0010', 'num'], ['0.0020 ± 0.0010', 'num'], ['How far the next-token distributions are apart, in nats per token (0: identical).', 'what']]);
  assert.equal(by.ppl[1][0], '12.3457 ± 0.5000');
  assert.equal(by['delta-ppl'][1][0], '+1.3457 (×1.1223)');
  assert.equal(by['kld-max'][1][0], '0.5000');
  assert.equal(by['same-top'][2][0], '90.00 %');
  assert.equal(by.tokens[1][0], '1,234 in 4 chunks');
  assert.match(by.tokens[3][0], /seconds for both models: 1\.50, 1\.50\.$/);
  const p = percentileRows([v('a', 0.05), v('b', 0.002)]);
  assert.deepEqual(p.map((r) => r[0][0]), ['minimum', 'median', '99 %', 'maximum']);
  assert.deepEqual(p[3], [['maximum'], ['0.5000', 'num'], ['0.0200', 'num']]);
  assert.equal(percentileLabel(0.999), '99.9 %');
  assert.equal(percentileLabel(0.1), '10 %');
});
