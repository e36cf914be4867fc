// What the pages show of the worker's results, as plain data: facts, table
// rows ([text, class] cells), chart series and sentences. Pure functions,
// no DOM (web/test/ runs them in Node); the views put them on the page.
import { fmtBytes, fmtInt, fmtNum } from './format.js';

// ---- the open model ----

// [label, value, element id] for the model's facts.
export function modelFacts(info, source) {
  return [
    ['Name', info.name, 'model-name'],
    ['Opened from', source, 'model-source'],
    ['Architecture', info.architecture, 'model-arch'],
    ['Parameters', fmtInt(info.parameterCount), 'model-params'],
    ['Tensors', fmtInt(info.tensorCount), 'model-tensors'],
    ['File size', fmtBytes(info.fileBytes), 'model-size'],
    ['Tensor types', Object.entries(info.types).map(([t, n]) => `${t} × ${n}`).join(', '), 'model-types'],
    ['Layers', info.blockCount ?? '–', 'model-layers'],
    ['Embedding length', info.embeddingLength ?? '–', 'model-embd'],
    ['Context length', info.contextLength ?? '–', 'model-ctx'],
    ['Vocabulary', info.vocabSize != null ? fmtInt(info.vocabSize) : '–', 'model-vocab'],
    ['GGUF version', info.ggufVersion, 'model-gguf'],
  ];
}

// A tensor's row in the tensor table; min, max, mean and std come later.
export const tensorRow = (t) => [[t.name], [t.dims.join(' × ')], [t.ty], [fmtInt(t.nBytes), 'num'], ['', 'num'], ['', 'num'], ['', 'num'], ['', 'num']];

// ---- a quantization ----

// The quantize menu's value: a preset ("Q4_K_M") or one type ("pure:q4_0").
export function parseChoice(choice) {
  const pure = choice.startsWith('pure:');
  return { type: pure ? choice.slice(5) : choice, pure };
}

// The ggml type a choice mostly rounds to: a pure type, or the one a preset
// is named after (Q4_K_M: q4_K), lower case.
export const mainType = (choice) => (choice.startsWith('pure:') ? choice.slice(5) : choice.replace(/_[SML]$/, '')).toLowerCase();

export const quantFileName = (modelName, type, method) => `${modelName}-${type}${method === 'rtn' ? '' : `-${method}`}.gguf`;

export const quantDoneText = (type, method) => `Quantized to ${type}${{ rtn: '', imatrix: ' with an importance matrix', gptq: ' with GPTQ' }[method]}.`;

// A tensor's row in the quantization table.
export const quantRow = (r) => [
  [r.name],
  [r.dims.join(' × ')],
  [r.from],
  [r.to],
  [fmtInt(r.bytesOut), 'num'],
  [((r.bytesOut * 8) / r.nElements).toFixed(3), 'num'],
  [fmtNum(r.rmse), 'num'],
  [r.sqnrDb == null ? 'exact' : r.sqnrDb.toFixed(2), 'num'],
  [r.cosine.toFixed(6), 'num'],
  [r.reason],
];

export const totalsText = (totals, fileBytes) =>
  `${fmtInt(totals.tensors)} tensors: ${fmtBytes(totals.bytesIn)} → ${fmtBytes(totals.bytesOut)} of tensor data, ${totals.bitsPerWeightIn.toFixed(2)} → ${totals.bitsPerWeightOut.toFixed(2)} bits per weight; file ${fmtBytes(fileBytes)}.`;

// The index of the largest tensor that was quantized (changed type), -1 if none.
export const largestQuantized = (reports) =>
  reports.reduce((best, r, i) => (r.from !== r.to && (best < 0 || r.nElements > reports[best].nElements) ? i : best), -1);

// SQNR of every quantized tensor, in file order: {names, values}.
export function sqnrSeries(reports) {
  const rows = reports.filter((r) => r.sqnrDb != null);
  return { names: rows.map((r) => r.name), values: rows.map((r) => r.sqnrDb) };
}

// Combined SQNR of a group of tensors: total signal over total noise power
// (each tensor's noise is rmse² × n, its signal noise × 10^(SQNR/10)).
export function groupSqnr(rows) {
  let noise = 0;
  let signal = 0;
  for (const r of rows) {
    const e = r.rmse * r.rmse * r.nElements;
    noise += e;
    signal += e * 10 ** (r.sqnrDb / 10);
  }
  return noise > 0 ? 10 * Math.log10(signal / noise) : null;
}

// Per layer (blk.N, in order): the SQNR of its quantized weights together,
// and its worst tensor's SQNR and name.
export function layerSeries(reports) {
  const layers = new Map();
  for (const r of reports) {
    const m = /^blk\.(\d+)\./.exec(r.name);
    if (!m || r.sqnrDb == null) continue;
    const n = Number(m[1]);
    if (!layers.has(n)) layers.set(n, []);
    layers.get(n).push(r);
  }
  const keys = [...layers.keys()].sort((a, b) => a - b);
  return {
    keys,
    sqnr: keys.map((k) => groupSqnr(layers.get(k))),
    worst: keys.map((k) => Math.min(...layers.get(k).map((r) => r.sqnrDb))),
    worstName: keys.map((k) => layers.get(k).reduce((a, b) => (b.sqnrDb < a.sqnrDb ? b : a)).name),
  };
}

// KiB by tensor kind (the name without blk.N and .weight), before and
// after: largest first, the kinds under 1% of the bytes together as "other".
export function sizeSeries(reports) {
  const kinds = new Map();
  for (const r of reports) {
    const kind = r.name.replace(/^blk\.\d+\./, '').replace(/\.weight$/, '');
    const k = kinds.get(kind) ?? { before: 0, after: 0 };
    k.before += r.bytesIn;
    k.after += r.bytesOut;
    kinds.set(kind, k);
  }
  const rows = [...kinds.entries()].sort((a, b) => b[1].before - a[1].before);
  const total = rows.reduce((s, [, k]) => s + k.before, 0);
  const big = rows.filter(([, k]) => k.before >= total * 0.01);
  const small = rows.filter(([, k]) => k.before < total * 0.01);
  if (small.length) {
    big.push(['other', small.reduce((s, [, k]) => ({ before: s.before + k.before, after: s.after + k.after }), { before: 0, after: 0 })]);
  }
  const kib = (b) => b / 1024;
  return { names: big.map(([n]) => n), before: big.map(([, k]) => kib(k.before)), after: big.map(([, k]) => kib(k.after)) };
}

// The calibration text taken from the bundled one: its last 4 KB, from a
// line start.
export const calibTail = (text) => text.slice(text.indexOf('\n', text.length - 4096) + 1);

// ---- the comparison ----

// The first index where two token id lists differ, null if none (so far).
export function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return null;
}

// What the two generations ({id, text} tokens each) have in common.
export function divergenceText(original, quantized, at) {
  const n = Math.min(original.length, quantized.length);
  if (at != null) return `The outputs first differ at generated token ${at + 1} (highlighted): “${original[at].text}” against “${quantized[at].text}”.`;
  return original.length === quantized.length
    ? `Both models generated the same ${n} tokens.`
    : `The same first ${n} tokens; then one model ended and the other went on.`;
}

const pct = (r, f) => r.kl.kldPercentiles.find(([p]) => p === f)?.[1];

// The evaluation table: one row per measure ({key, cells}: its name, one
// value per quantization, what it means).
export function evalRows(variants) {
  const measures = [
    ['ppl-base', 'Perplexity, original', (r) => r.kl.pplBase.toFixed(4), 'How surprised the original model is by the text (lower is better).'],
    ['ppl', 'Perplexity, quantized', (r) => `${r.ppl.toFixed(4)} ± ${r.pplUncertainty.toFixed(4)}`, 'The same for the quantized model.'],
    ['delta-ppl', 'Perplexity change', (r) => `${r.kl.deltaPpl >= 0 ? '+' : ''}${r.kl.deltaPpl.toFixed(4)} (×${r.kl.pplRatio.toFixed(4)})`, 'Quantized minus original.'],
    ['kld', 'Mean KL divergence', (r) => `${fmtNum(r.kl.meanKld)} ± ${fmtNum(r.kl.meanKldUncertainty)}`, 'How far the next-token distributions are apart, in nats per token (0: identical).'],
    ['kld-median', 'KL divergence, median', (r) => fmtNum(pct(r, 0.5)), 'Half the positions diverge less than this.'],
    ['kld-99', 'KL divergence, 99th percentile', (r) => fmtNum(pct(r, 0.99)), 'The worst 1% of positions diverge more.'],
    ['kld-max', 'KL divergence, maximum', (r) => fmtNum(pct(r, 1)), 'The single worst position.'],
    ['same-top', 'Same top token', (r) => `${(r.kl.sameTop * 100).toFixed(2)} %`, 'Positions where both models rank the same token first.'],
    ['tokens', 'Tokens scored', (r) => `${fmtInt(r.tokensScored)} in ${r.chunks} chunks`, `Each chunk's second half is scored, as llama-perplexity does; seconds for both models: ${variants.map((r) => r.seconds.toFixed(2)).join(', ')}.`],
  ];
  return measures.map(([key, name, value, what]) => ({ key, cells: [[name], ...variants.map((r) => [value(r), 'num']), [what, 'what']] }));
}

export const percentileLabel = (f) => (f === 1 ? 'maximum' : f === 0 ? 'minimum' : f === 0.5 ? 'median' : `${+(f * 100).toFixed(1)} %`);

// The percentile table: one row per percentile the first quantization has.
export const percentileRows = (variants) =>
  variants[0].kl.kldPercentiles.map(([f], i) => [[percentileLabel(f)], ...variants.map((r) => [fmtNum(r.kl.kldPercentiles[i][1]), 'num'])]);
