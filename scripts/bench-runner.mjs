// Runner speed, one thread, three ways in one run on the same GGUF files:
//   native : `webquant bench` (release build)
//   wasm   : the same benchmark in headless Chromium (simd build, web/bench.html)
//   llama  : llama.cpp's `llama-bench -t 1` (built from llama-cpp-python 0.3.36's
//            vendored llama.cpp; see bench/results/runner.md)
// pp = a prompt of 128 tokens in one batch, tg = 64 tokens one at a time,
// mean of 3 runs; prints tokens per second and the ratios.
//
// Models: stories260K (bundled, F32) and SmolLM2-135M-Instruct made from
// target/test-models/smollm2-135m-f16.gguf (scripts/test.sh makes it) with
// `webquant quantize` into web/bench-models/ (gitignored).
//
// Usage: node scripts/bench-runner.mjs [--llama-bench PATH] [--types Q4_0,Q8_0,Q4_K_M]
//                                      [--out bench/results/runner-speed.md] [--skip-build]
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { launch, root, startServer } from '../tests/harness.mjs';
import { arg, run, smollm2Setup } from './bench-common.mjs';

const outPath = join(root, arg('out', 'bench/results/runner-speed.md'));
const llamaBench = arg('llama-bench', '/work/ref/build/bin/llama-bench');
const types = arg('types', 'Q4_0,Q8_0,Q4_K_M').split(',');
const [P, N, R] = [128, 64, 3];

if (!existsSync(llamaBench)) {
  throw new Error(`${llamaBench} is missing: build llama.cpp's llama-bench (cmake --build BUILD --target llama-bench) and pass --llama-bench PATH`);
}
const { wq, f16 } = smollm2Setup();
const dir = join(root, 'web/bench-models');
mkdirSync(dir, { recursive: true });
const models = [['stories260K F32', 'stories260K.gguf']];
copyFileSync(join(root, 'web/models/stories260K.gguf'), join(dir, 'stories260K.gguf'));
for (const t of types) {
  const name = `smollm2-135m-${t}.gguf`;
  if (!existsSync(join(dir, name))) run(wq, ['quantize', f16, join(dir, name), '--type', t], { capture: true });
  models.push([`SmolLM2-135M ${t}`, name]);
}

const server = await startServer();
const browser = await launch({ webgpu: false });
const chromeVersion = browser.version();
const rows = [];
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}bench.html`);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 60_000 });
  for (const [label, file] of models) {
    const path = join(dir, file);
    // Alternate the three so background load affects them alike.
    const out = run(wq, ['bench', path, '-p', `${P}`, '-n', `${N}`, '-r', `${R}`, '--threads', '1'], { capture: true });
    const native = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, 2), parseFloat(l.split(/\s+/)[1])]));
    const wasm = await page.evaluate(([u, p, n, r]) => window.webquantBench.runModel(u, p, n, r), [`bench-models/${file}`, P, N, R]);
    const csv = run(llamaBench, ['-m', path, '-t', '1', '-p', `${P}`, '-n', `${N}`, '-r', `${R}`, '-o', 'csv'], { capture: true }).trim().split('\n');
    const head = csv[0].split(',').map((h) => h.replace(/"/g, ''));
    const llama = {};
    for (const line of csv.slice(1)) {
      const f = Object.fromEntries(line.split(',').map((v, i) => [head[i], v.replace(/"/g, '')]));
      llama[parseInt(f.n_prompt, 10) > 0 ? 'pp' : 'tg'] = parseFloat(f.avg_ts);
    }
    rows.push({ label, native, wasm, llama });
    console.log(label, JSON.stringify({ native, wasm, llama }));
  }
} finally {
  await browser.close();
  server.close();
}

const f1 = (x) => x.toFixed(1);
const f2 = (x) => `${x.toFixed(2)}x`;
const lines = [
  `| model | pp${P} native | pp${P} wasm | pp${P} llama.cpp | native/llama.cpp | wasm/llama.cpp | wasm/native | tg${N} native | tg${N} wasm | tg${N} llama.cpp | native/llama.cpp | wasm/llama.cpp | wasm/native |`,
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const { label, native: n, wasm: w, llama: l } of rows) {
  lines.push(`| ${label} | ${f1(n.pp)} | ${f1(w.pp)} | ${f1(l.pp)} | ${f2(n.pp / l.pp)} | ${f2(w.pp / l.pp)} | ${f2(w.pp / n.pp)} | ${f1(n.tg)} | ${f1(w.tg)} | ${f1(l.tg)} | ${f2(n.tg / l.tg)} | ${f2(w.tg / l.tg)} | ${f2(w.tg / n.tg)} |`);
}
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const report = `Runner speed, tokens per second, one thread (pp${P}: prompt in one batch; tg${N}: one token at a time; mean of ${R} runs).
Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu} (load average ${load} at the end).
native: webquant bench (release); wasm: Chromium ${chromeVersion} headless, simd build; llama.cpp: llama-bench -t 1.

${lines.join('\n')}
`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, report);
console.log(`\n${report}\nwritten to ${outPath}`);
