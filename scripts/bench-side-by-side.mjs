// Issue 22's side-by-side benchmark: in one run, on the same GGUF files,
//   webquant native   `webquant bench` (release), 1 and N threads
//   llama.cpp         `llama-bench -t 1,N` (llama-cpp-python 0.3.36's sources)
//   webquant in page  headless Chromium, web/bench.html: the simd build on
//                     1 thread, the threads build on 1 and N
//   wllama            the same Chromium, bench/wllama.html on wllama 3.8.1,
//                     1 and N threads
// for a prompt of 128 tokens in one batch (pp) and 64 tokens one at a time
// (tg), Q4_0, Q8_0 and Q4_K_M of SmolLM2-135M-Instruct; then whole-model
// quantization of its F16 to Q4_K_M, `webquant quantize` against
// `llama-quantize` at 1 and N threads (wall seconds with reading and writing,
// and whether the two files are the same bytes); then in the page, on N
// threads, quantizing the F16 to Q4_K_M and its perplexity and KL divergence
// against the F16 (context 512, 16 chunks of Tiny Shakespeare), each timed.
// Prints tokens per second, the ratios, and the CPU with its SIMD flags.
//
// Usage: node scripts/bench-side-by-side.mjs --llama-bin DIR --wllama DIR
//          [--threads N (default: every core)] [--types Q4_0,Q8_0,Q4_K_M]
//          [--reps 3] [--corpus ../shared/corpus/tinyshakespeare.txt]
//          [--out bench/results/side-by-side.md] [--skip-build]
// --llama-bin: llama.cpp's build/bin with llama-bench and llama-quantize;
// --wllama: a folder where `npm pack @wllama/wllama@3.8.1` was untarred
// (it holds package/esm).
import { spawnSync } from 'node:child_process';
import { cpSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { launch, root, startServer } from '../tests/harness.mjs';
import { arg, run, skipBuild, smollm2Setup } from './bench-common.mjs';

const llamaBin = resolve(arg('llama-bin', '/work/ref/build/bin'));
const wllamaDir = resolve(arg('wllama', '/work/ref/wllama'));
const N = parseInt(arg('threads', String(cpus().length)), 10);
const types = arg('types', 'Q4_0,Q8_0,Q4_K_M').split(',');
const R = parseInt(arg('reps', '3'), 10);
const corpus = resolve(root, arg('corpus', '../shared/corpus/tinyshakespeare.txt'));
const outPath = resolve(root, arg('out', 'bench/results/side-by-side.md'));
const [P, G, CTX, CHUNKS] = [128, 64, 512, 16];

const llamaBench = join(llamaBin, 'llama-bench');
const llamaQuantize = join(llamaBin, 'llama-quantize');
for (const [f, what] of [
  [llamaBench, 'build llama.cpp (cmake --build build --target llama-bench llama-quantize) and pass --llama-bin build/bin'],
  [llamaQuantize, 'build llama.cpp (cmake --build build --target llama-bench llama-quantize) and pass --llama-bin build/bin'],
  [join(wllamaDir, 'package/esm/index.js'), 'run `npm pack @wllama/wllama@3.8.1` in a folder, untar it there and pass --wllama FOLDER'],
  [corpus, 'pass --corpus with a text of at least 40,000 characters'],
]) {
  if (!existsSync(f)) throw new Error(`${f} is missing: ${what}`);
}

const { wq, f16 } = smollm2Setup();
if (!skipBuild) run('node', ['scripts/build-web.mjs', '--variant', 'threads']);
if (!existsSync(join(root, 'web/pkg/threads/webquant.js'))) throw new Error('web/pkg/threads is missing: node scripts/build-web.mjs --variant threads');

// The models and wllama go under web/ (both folders gitignored) so one
// server, cross-origin isolated, serves every page.
const models = join(root, 'web/bench-models');
const peers = join(root, 'web/bench-peers');
mkdirSync(models, { recursive: true });
rmSync(peers, { recursive: true, force: true });
cpSync(join(wllamaDir, 'package/esm'), join(peers, 'wllama'), { recursive: true });
copyFileSync(join(root, 'bench/wllama.html'), join(peers, 'wllama.html'));
const f16Name = 'smollm2-135m-F16.gguf';
copyFileSync(f16, join(models, f16Name));
for (const t of types) {
  const name = `smollm2-135m-${t}.gguf`;
  if (!existsSync(join(models, name))) run(wq, ['quantize', f16, join(models, name), '--type', t], { capture: true });
}
const text = readFileSync(corpus, 'utf8');
// About 128 SmolLM2 tokens of the corpus (wllama takes text; the count it
// reports is in the table).
const promptText = text.slice(0, 430);
const evalText = text.slice(0, 60_000);

const threadCounts = [...new Set([1, N])];
const speed = []; // {model, threads, who, pp, tg}
const note = (model, threads, who, r) => {
  speed.push({ model, threads, who, ...r });
  console.log(model, `t${threads}`, who, JSON.stringify(r));
};

function llamaBenchRun(path) {
  const csv = run(llamaBench, ['-m', path, '-t', threadCounts.join(','), '-p', `${P}`, '-n', `${G}`, '-r', `${R}`, '-o', 'csv'], { capture: true })
    .trim()
    .split('\n');
  const head = csv[0].split(',').map((h) => h.replace(/"/g, ''));
  const by = {};
  for (const line of csv.slice(1)) {
    const f = Object.fromEntries(line.split(',').map((v, i) => [head[i], v.replace(/"/g, '')]));
    const t = parseInt(f.n_threads, 10);
    by[t] ??= {};
    by[t][parseInt(f.n_prompt, 10) > 0 ? 'pp' : 'tg'] = parseFloat(f.avg_ts);
  }
  return by;
}

function nativeRun(path, threads) {
  const out = run(wq, ['bench', path, '-p', `${P}`, '-n', `${G}`, '-r', `${R}`, '--threads', `${threads}`], { capture: true });
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, 2), parseFloat(l.split(/\s+/)[1])]));
}

// Wall seconds of one run; its output is shown only if it fails
// (llama-quantize prints a line per tensor).
function timed(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return s;
}

const server = await startServer();
const browser = await launch({ webgpu: false });
const chromeVersion = browser.version();
const quant = [];
let pageRun;
let wllamaPrompt = 0;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`bench page: ${e.message}`));
  await page.goto(`${server.url}bench.html`);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 60_000 });
  const { cores, isolated } = await page.evaluate(() => window.webquantBench);
  if (!isolated) throw new Error('the bench page is not cross-origin isolated: the threads build cannot run');
  if (cores < N) console.warn(`the browser reports ${cores} cores, fewer than --threads ${N}`);
  const peer = await context.newPage();
  peer.on('pageerror', (e) => console.error(`wllama page: ${e.message}`));
  await peer.goto(`${server.url}bench-peers/wllama.html`);
  await peer.waitForSelector('body[data-ready=yes]', { timeout: 60_000 });

  for (const t of types) {
    const file = `smollm2-135m-${t}.gguf`;
    const path = join(models, file);
    const label = `SmolLM2-135M ${t}`;
    for (const n of threadCounts) note(label, n, 'native', nativeRun(path, n));
    const llama = llamaBenchRun(path);
    for (const n of threadCounts) note(label, n, 'llama.cpp', llama[n]);
    const wasm = (v, n) => page.evaluate(([u, p, g, r, v, n]) => window.webquantBench.runModel(u, p, g, r, v, n), [`bench-models/${file}`, P, G, R, v, n]);
    note(label, 1, 'page simd', await wasm('simd', 1));
    for (const n of threadCounts) note(label, n, 'page threads', await wasm('threads', n));
    for (const n of threadCounts) {
      const r = await peer.evaluate(([m, n, text, g, r]) => window.wllamaBench(m, n, text, g, r), [`../bench-models/${file}`, n, promptText, G, R]);
      if (!r.isolated && n > 1) throw new Error('the wllama page is not cross-origin isolated');
      wllamaPrompt = r.promptTokens - r.cachedTokens;
      note(label, n, 'wllama', { pp: r.pp, tg: r.tg });
    }
  }

  // Whole-model quantize, alternating the two tools run by run.
  const outW = join(root, 'target/bench-q4km-webquant.gguf');
  const outL = join(root, 'target/bench-q4km-llama.gguf');
  for (const n of threadCounts) {
    const w = [];
    const l = [];
    for (let i = 0; i < R; i++) {
      w.push(timed(wq, ['quantize', f16, outW, '--type', 'Q4_K_M', '--threads', `${n}`]));
      l.push(timed(llamaQuantize, [f16, outL, 'Q4_K_M', `${n}`]));
    }
    const same = Buffer.compare(readFileSync(outW), readFileSync(outL)) === 0;
    quant.push({ threads: n, webquant: w, llama: l, same });
    console.log('quantize', `t${n}`, JSON.stringify(quant.at(-1)));
  }
  rmSync(outW, { force: true });
  rmSync(outL, { force: true });

  pageRun = await page.evaluate(
    (o) => window.webquantBench.quantizeEval(o),
    { url: `bench-models/${f16Name}`, type: 'Q4_K_M', text: evalText, nCtx: CTX, chunks: CHUNKS, v: 'threads', threads: N },
  );
  console.log('page quantize + eval', JSON.stringify({ ...pageRun, result: { ...pageRun.result, chunkPpl: undefined } }));
} finally {
  await browser.close();
  server.close();
}

// --- report ---
const f1 = (x) => (x == null ? '–' : x.toFixed(1));
const fx = (a, b) => (a == null || b == null ? '–' : `${(a / b).toFixed(2)}x`);
const get = (model, threads, who) => speed.find((s) => s.model === model && s.threads === threads && s.who === who) ?? {};
const tables = [];
for (const k of ['pp', 'tg']) {
  const name = k === 'pp' ? `Prompt (pp${P})` : `Generation (tg${G})`;
  const lines = [
    `${name}, tokens per second:`,
    '',
    '| model | threads | native | llama.cpp | native / llama.cpp | page (simd) | page (threads) | wllama | page / wllama | page / native |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const t of types) {
    const label = `SmolLM2-135M ${t}`;
    for (const n of threadCounts) {
      const nat = get(label, n, 'native')[k];
      const ll = get(label, n, 'llama.cpp')[k];
      const simd = n === 1 ? get(label, 1, 'page simd')[k] : null;
      const thr = get(label, n, 'page threads')[k];
      const wl = get(label, n, 'wllama')[k];
      // The page's best at this thread count: the simd build is what a
      // page that is not cross-origin isolated gets on one thread.
      const best = Math.max(thr ?? 0, simd ?? 0);
      lines.push(`| ${label} | ${n} | ${f1(nat)} | ${f1(ll)} | ${fx(nat, ll)} | ${f1(simd)} | ${f1(thr)} | ${f1(wl)} | ${fx(best, wl)} | ${fx(best, nat)} |`);
    }
  }
  tables.push(lines.join('\n'));
}
const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
const qLines = [
  `Whole-model quantize, SmolLM2-135M F16 to Q4_K_M, wall seconds of ${R} alternating runs (reading and writing included):`,
  '',
  '| threads | webquant quantize | llama-quantize | llama-quantize / webquant | same bytes |',
  '| ---: | --- | --- | ---: | --- |',
  ...quant.map((q) => `| ${q.threads} | ${q.webquant.map((x) => x.toFixed(2)).join(', ')} (mean ${mean(q.webquant).toFixed(2)}) | ${q.llama.map((x) => x.toFixed(2)).join(', ')} (mean ${mean(q.llama).toFixed(2)}) | ${fx(mean(q.llama), mean(q.webquant))} | ${q.same ? 'yes' : 'no'} |`),
];
const kl = pageRun.result.kl;
const pageLines = [
  `In the page (threads build, ${N} threads): open the F16 file, quantize it to Q4_K_M: ${pageRun.quantizeSeconds.toFixed(1)} s; ` +
    `perplexity and KL divergence of the Q4_K_M against the F16, context ${CTX}, ${pageRun.result.chunks} chunks ` +
    `(${pageRun.result.tokensScored} tokens scored): ${pageRun.evalSeconds.toFixed(1)} s. ` +
    `PPL ${pageRun.result.ppl.toFixed(4)} (F16 ${kl.pplBase.toFixed(4)}), mean KLD ${kl.meanKld.toFixed(6)}, same top token ${(kl.sameTop * 100).toFixed(2)} %.`,
];
const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:\s*(.*)$/m)?.[1].split(' ') ?? [];
const simdFlags = flags.filter((f) => /^(sse4_[12]|avx|avx2|fma|f16c|avx512.*|avx_vnni.*|amx.*)$/.test(f));
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const report = `Side by side (scripts/bench-side-by-side.mjs), measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC
on ${cpu}, ${cpus().length} cores (SIMD: ${simdFlags.join(' ')}); load average ${load} at the end.
Chromium ${chromeVersion} headless; llama.cpp from llama-cpp-python 0.3.36 (GGML_NATIVE); wllama 3.8.1.
Means of ${R} runs. wllama's prompt was ${Math.round(wllamaPrompt)} tokens of text (llama.cpp's own timings);
the others time ${P} tokens. "page / wllama" and "page / native" take the page's faster build at that thread count.

${tables.join('\n\n')}

${qLines.join('\n')}

${pageLines.join('\n')}
`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, report);
console.log(`\n${report}\nwritten to ${outPath}`);
