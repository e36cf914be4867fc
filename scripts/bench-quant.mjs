// Quantize / dequantize throughput per ggml type, three ways in one run on
// the same data (quant::synth::weights(64, 4096, seed 1), 1 MiB of f32):
//   native  : criterion (crate/benches/quant.rs)
//   libgguf : PyPI libgguf==0.2.2's compiled ggml quantizers (bench/libgguf_quant.py)
//   wasm    : web/bench.html in headless Chromium (simd build)
// and prints native/libgguf and wasm/native ratios. All single-threaded;
// libgguf is pinned to one core with taskset when available.
//
// Usage: node scripts/bench-quant.mjs [--skip-build] [--out bench/results/quant.md]
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

// 1. wasm in Chromium first: it also tells us the type list.
const server = await startServer();
const browser = await launch({ webgpu: false });
const chromeVersion = browser.version();
let wasm;
let types;
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}bench.html`);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 60_000 });
  types = await page.evaluate(() => window.webquantBench.types);
  console.log(`bench-quant: wasm in Chromium, ${types.length} types`);
  wasm = await page.evaluate((t) => window.webquantBench.run(t, 1), types);
} finally {
  await browser.close();
  server.close();
}

// 2. native, criterion.
run('cargo', ['bench', '-p', 'webquant', '--bench', 'quant']);
const native = {};
for (const t of types) {
  native[t] = {};
  for (const op of ['quantize', 'dequantize']) {
    const f = join(root, 'target', 'criterion', t, op, 'new', 'estimates.json');
    const est = JSON.parse(readFileSync(f, 'utf8'));
    native[t][op] = BYTES / (est.median.point_estimate * 1e-9) / 1e6;
  }
}

// 3. libgguf (types it cannot handle are reported as n/a).
const [pc, pa] = pinned('python3', ['bench/libgguf_quant.py', ...types.filter((t) => !['f32', 'f16', 'bf16'].includes(t)), '--seconds', '1']);
const lib = JSON.parse(run(pc, pa, { capture: true })).results;

const f1 = (x) => (x == null ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const f2 = (x) => (x == null || !isFinite(x) ? 'n/a' : `${x.toFixed(2)}x`);
const lines = [
  '| type | native quantize MB/s | libgguf quantize MB/s | native/libgguf | wasm quantize MB/s | wasm/native | native dequantize MB/s | libgguf dequantize MB/s | native/libgguf | wasm dequantize MB/s | wasm/native |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const t of types) {
  const n = native[t], l = lib[t] ?? {}, w = wasm[t];
  lines.push(`| ${t} | ${f1(n.quantize)} | ${f1(l.quantize)} | ${f2(n.quantize / l.quantize)} | ${f1(w.quantize)} | ${f2(w.quantize / n.quantize)} | ${f1(n.dequantize)} | ${f1(l.dequantize)} | ${f2(n.dequantize / l.dequantize)} | ${f1(w.dequantize)} | ${f2(w.dequantize / n.dequantize)} |`);
}
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const report = `Quantize / dequantize throughput, MB/s of f32 (64 x 4096 weight-like values), one thread.
Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu}.
native: criterion median; libgguf: libgguf==0.2.2, median${hasTaskset ? ', pinned to one core' : ''}; wasm: Chromium ${chromeVersion} headless, simd build, median.

${lines.join('\n')}
`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, report);
console.log(`\n${report}\nwritten to ${outPath}`);
