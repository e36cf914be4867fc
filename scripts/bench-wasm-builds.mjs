// Runner speed of two simd wasm builds side by side in one headless
// Chromium run (web/bench.html, one worker per build, one thread each):
//   base : a build to compare against (--base DIR: a web/pkg/<variant>
//          folder, e.g. the simd build of an earlier commit, copied into
//          web/pkg/simd-base/)
//   new  : this checkout's simd build (web/pkg/simd)
// pp = a prompt of 128 tokens in one batch, tg = 64 tokens one at a time
// and eval = perplexity over the bundled Tiny Shakespeare excerpt, context
// 128, 2 chunks, in batches of 64 as the compare view runs it: tokens per
// second, means of 3 runs, the two builds alternating run by run so
// background load affects them alike. Prints the speeds, the ratios
// new / base, and both builds' perplexity per chunk.
//
// Models: SmolLM2-135M-Instruct made from target/test-models/smollm2-135m-f16.gguf
// (scripts/test.sh makes it) with `webquant quantize` into web/bench-models/.
//
// Usage: node scripts/bench-wasm-builds.mjs --base DIR [--types Q4_0,Q8_0,Q4_K_M]
//                                           [--out bench/results/wasm-builds.md] [--skip-build]
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { launch, root, startServer } from '../tests/harness.mjs';
import { arg, run, smollm2Setup } from './bench-common.mjs';

const base = arg('base', null);
const outPath = join(root, arg('out', 'bench/results/wasm-builds.md'));
const types = arg('types', 'Q4_0,Q8_0,Q4_K_M').split(',');
const [P, N, R] = [128, 64, 3];
const [CTX, CHUNKS] = [128, 2];

if (!base || !existsSync(join(base, 'webquant.js'))) {
  throw new Error('--base DIR must name a built wasm folder holding webquant.js (e.g. an earlier commit\'s web/pkg/simd)');
}
const { wq, f16 } = smollm2Setup();
const baseDir = join(root, 'web/pkg/simd-base');
rmSync(baseDir, { recursive: true, force: true });
cpSync(resolve(base), baseDir, { recursive: true });
const dir = join(root, 'web/bench-models');
mkdirSync(dir, { recursive: true });
const models = [];
for (const t of types) {
  const name = `smollm2-135m-${t}.gguf`;
  if (!existsSync(join(dir, name))) run(wq, ['quantize', f16, join(dir, name), '--type', t], { capture: true });
  models.push([`SmolLM2-135M ${t}`, name]);
}
const text = readFileSync(join(root, 'web/texts/tinyshakespeare-10k.txt'), 'utf8');

const server = await startServer();
const browser = await launch({ webgpu: false });
const chromeVersion = browser.version();
const builds = ['simd-base', 'simd'];
const rows = [];
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}bench.html`);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 60_000 });
  for (const [label, file] of models) {
    const url = `bench-models/${file}`;
    const res = Object.fromEntries(builds.map((v) => [v, { pp: 0, tg: 0, eval: 0 }]));
    const speed = (u, p, n, r, b) => page.evaluate(([u, p, n, r, b]) => window.webquantBench.runModel(u, p, n, r, b), [u, p, n, r, b]);
    const evaluate = (b) => page.evaluate(([u, t, c, k, b]) => window.webquantBench.evalModel(u, t, c, k, 1, b), [url, text, CTX, CHUNKS, b]);
    // An untimed short run first, so both builds' code is compiled by the
    // optimizing tier before the timed runs.
    for (const v of builds) await speed(url, 16, 4, 1, v);
    for (let i = 0; i < R; i++) {
      for (const v of builds) {
        const r = await speed(url, P, N, 1, v);
        res[v].pp += r.pp / R;
        res[v].tg += r.tg / R;
        const e = await evaluate(v);
        res[v].eval += e.tps / R;
        res[v].chunkPpl = e.chunkPpl;
      }
    }
    rows.push({ label, res });
    console.log(label, JSON.stringify(res));
  }
} finally {
  await browser.close();
  server.close();
}

const f1 = (x) => x.toFixed(1);
const f2 = (x) => `${x.toFixed(2)}x`;
const lines = [
  `| model | pp${P} base | pp${P} new | new/base | eval base | eval new | new/base | tg${N} base | tg${N} new | new/base | perplexity base / new |`,
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];
for (const { label, res } of rows) {
  const [b, n] = [res['simd-base'], res.simd];
  lines.push(`| ${label} | ${f1(b.pp)} | ${f1(n.pp)} | ${f2(n.pp / b.pp)} | ${f1(b.eval)} | ${f1(n.eval)} | ${f2(n.eval / b.eval)} | ${f1(b.tg)} | ${f1(n.tg)} | ${f2(n.tg / b.tg)} | ${b.chunkPpl.map((x) => x.toFixed(4)).join(', ')} / ${n.chunkPpl.map((x) => x.toFixed(4)).join(', ')} |`);
}
const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
const cpu = cpuinfo.match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const simdFlags = (cpuinfo.match(/^flags\s*:\s*(.*)$/m)?.[1] ?? '').split(' ').filter((f) => /^(sse4_1|sse4_2|ssse3|avx|avx2|avx512bw|avx512_vnni|avx_vnni|fma|f16c)$/.test(f));
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const report = `wasm runner speed, tokens per second, one thread, two simd builds in one run (base: ${base}; new: this checkout).
pp${P}: a prompt of ${P} tokens in one batch; eval: perplexity, context ${CTX}, ${CHUNKS} chunks, batches of 64; tg${N}: one token at a time; means of ${R} runs, the builds alternating.
Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu} (${simdFlags.join(' ')}; load average ${load} at the end), Chromium ${chromeVersion} headless.

${lines.join('\n')}
`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, report);
console.log(`\n${report}\nwritten to ${outPath}`);
