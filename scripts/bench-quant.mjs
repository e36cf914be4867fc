// Quantize / dequantize throughput per ggml type, three ways on the same data
// (quant::synth::weights(64, 4096, seed 1), 1 MiB of f32):
//   native  : criterion (crate/benches/quant.rs)
//   libgguf : PyPI libgguf==0.2.2's compiled ggml quantizers (bench/libgguf_quant.py)
//   wasm    : web/bench.html in headless Chromium (simd build)
// and prints native/libgguf and wasm/native ratios. All single-threaded;
// libgguf is pinned to one core with taskset when available.
//
// On a shared machine the speed of every side drifts by tens of percent
// between runs a few milliseconds apart, and over minutes. So each pass
// reports its fastest sample (the least disturbed; criterion's fastest
// sample, the page's fastest run of ~5 ms, libgguf's fastest call), and the
// wasm and native passes alternate for --rounds rounds (default 3), each
// figure the median of its rounds.
//
// Usage: node scripts/bench-quant.mjs [--skip-build] [--rounds N] [--out bench/results/quant.md]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { launch, root, startServer } from '../tests/harness.mjs';
import { arg, run, skipBuild } from './bench-common.mjs';

const outPath = join(root, arg('out') ?? 'bench/results/quant.md');
const BYTES = 64 * 4096 * 4;

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
const pinned = (cmd, args) => (hasTaskset ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args]);

if (!skipBuild) run('node', ['scripts/build-web.mjs', '--variant', 'simd']);

const rounds = Math.max(1, Number(arg('rounds', '3')));
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

// wasm in Chromium: one pass over every type (it also tells us the type list).
let chromeVersion;
let types;
async function wasmPass() {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  chromeVersion = browser.version();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}bench.html`);
    await page.waitForSelector('body[data-ready=yes]', { timeout: 60_000 });
    types ??= await page.evaluate(() => window.webquantBench.types);
    return await page.evaluate((t) => window.webquantBench.run(t, 1), types);
  } finally {
    await browser.close();
    server.close();
  }
}

// native, criterion: one pass over every type.
function nativePass() {
  run('cargo', ['bench', '-p', 'webquant', '--bench', 'quant']);
  const out = {};
  for (const t of types) {
    out[t] = {};
    for (const op of ['quantize', 'dequantize']) {
      // criterion's fastest sample (ns per iteration), as the page and
      // libgguf report theirs
      const f = join(root, 'target', 'criterion', t, op, 'new', 'sample.json');
      const { iters, times } = JSON.parse(readFileSync(f, 'utf8'));
      const ns = Math.min(...times.map((ns, i) => ns / iters[i]));
      out[t][op] = BYTES / (ns * 1e-9) / 1e6;
    }
  }
  return out;
}

const wasmRuns = [];
const nativeRuns = [];
for (let r = 1; r <= rounds; r++) {
  console.log(`bench-quant: round ${r} of ${rounds}, wasm in Chromium`);
  wasmRuns.push(await wasmPass());
  console.log(`bench-quant: round ${r} of ${rounds}, native`);
  nativeRuns.push(nativePass());
}
const pick = (runs) =>
  Object.fromEntries(types.map((t) => [t, {
    quantize: median(runs.map((x) => x[t].quantize)),
    dequantize: median(runs.map((x) => x[t].dequantize)),
  }]));
const wasm = pick(wasmRuns);
const native = pick(nativeRuns);

// 3. libgguf (types it cannot handle are reported as n/a).
const [pc, pa] = pinned('python3', ['bench/libgguf_quant.py', ...types.filter((t) => !['f32', 'f16', 'bf16'].includes(t)), '--seconds', '1']);
const lib = JSON.parse(run(pc, pa, { capture: true })).results;

const f1 = (x) => (x == null ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const f2 = (x) => (x == null || !isFinite(x) ? 'n/a' : `${x.toFixed(2)}x`);
const lines = [
  '| type | native quantize MB/s | libgguf quantize MB/s | native/libgguf | wasm quantize MB/s | wasm/native | native dequantize MB/s | libgguf dequantize MB/s | native/libgguf | wasm dequantize MB/s | wasm/native |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
// wasm/native of each round (a wasm pass and the native pass after it), lowest
// to highest: how far the drift moved the ratio.
const spread = (t, op) => {
  if (rounds < 2) return '';
  const r = wasmRuns.map((w, i) => w[t][op] / nativeRuns[i][t][op]);
  return ` (${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`;
};
for (const t of types) {
  const n = native[t], l = lib[t] ?? {}, w = wasm[t];
  lines.push(`| ${t} | ${f1(n.quantize)} | ${f1(l.quantize)} | ${f2(n.quantize / l.quantize)} | ${f1(w.quantize)} | ${f2(w.quantize / n.quantize)}${spread(t, 'quantize')} | ${f1(n.dequantize)} | ${f1(l.dequantize)} | ${f2(n.dequantize / l.dequantize)} | ${f1(w.dequantize)} | ${f2(w.dequantize / n.dequantize)}${spread(t, 'dequantize')} |`);
}
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const report = `Quantize / dequantize throughput, MB/s of f32 (64 x 4096 weight-like values), one thread.
Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu}.
native: criterion, fastest sample; libgguf: libgguf==0.2.2, fastest call${hasTaskset ? ', pinned to one core' : ''}; wasm: Chromium ${chromeVersion} headless, simd build, fastest run.\nwasm and native passes alternated ${rounds} times; each figure is the median of its ${rounds} passes, and wasm/native is the ratio of those medians${rounds > 1 ? ', with the lowest and highest ratio of a single round in brackets' : ''}.

${lines.join('\n')}
`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, report);
console.log(`\n${report}\nwritten to ${outPath}`);
