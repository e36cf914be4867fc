// Issue 22's side-by-side benchmark: webquant and its peers on the same GGUF
// files, in one run of this script, so every ratio compares numbers taken
// minutes apart on the same machine.
//
//   native   `webquant bench` at 1 thread and at every core, against
//            llama.cpp's `llama-bench` (built from llama-cpp-python 0.3.36's
//            sources); with --llama-avx2, also `webquant bench --cpu avx2`
//            against an AVX2-only llama.cpp build, at 1 thread.
//   page     the same benchmark in headless Chromium: the simd build at 1
//            thread and the threads build at every core, against wllama
//            3.8.1 (llama.cpp in wasm, `npm pack`ed by this script) at the
//            same thread counts.
//   quantize SmolLM2 F16 to Q4_K_M: `webquant quantize` against
//            `llama-quantize` at 1 thread and every core (output bytes
//            compared), and the page's quantization (threads build, every
//            core) of the same file.
//   eval     in the page: perplexity and KL divergence of that Q4_K_M
//            against the F16, context 512, 16 chunks of tinyshakespeare.
//
// pp = a prompt of 128 tokens in one batch, tg = 64 tokens one at a time,
// mean of 3 runs (wllama: llama.cpp's own timings of one completion, after
// a warm-up one; its prompt length is printed).
//
// Usage: node scripts/bench-side-by-side.mjs --llama DIR [--llama-avx2 DIR]
//          [--types Q4_0,Q8_0,Q4_K_M] [--out bench/results/side-by-side.md]
//          [--skip-build] [--skip PART,...] (parts: native,page,quantize,eval)
// DIR is a llama.cpp cmake build folder (with bin/llama-bench and
// bin/llama-quantize); see BENCHMARKS.md for how to build one.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { cpus } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { launch, root, startServer } from '../tests/harness.mjs';
import { arg, run, skipBuild, smollm2Setup } from './bench-common.mjs';

const outPath = join(root, arg('out', 'bench/results/side-by-side.md'));
const llama = arg('llama', null);
const llamaAvx2 = arg('llama-avx2', null);
const types = arg('types', 'Q4_0,Q8_0,Q4_K_M').split(',');
const skip = new Set(arg('skip', '').split(',').filter(Boolean));
const [P, N, R] = [128, 64, 3];
const ALL = cpus().length;
const corpus = join(root, '../shared/corpus/tinyshakespeare.txt');

// wllama's page (after ../shared/peers/wllama/wl.html): load the model
// (n_ctx 512), one short warm-up completion, then one timed completion of
// a prompt of about P tokens (7 sentences; llama.cpp reports the count) and
// N greedy tokens, EOS ignored, nothing cached from the warm-up.
const WLLAMA_PAGE = `<!doctype html><html><body><pre id="out">pending</pre>
<script type="module">
import { Wllama } from './package/esm/index.js';
const out = document.getElementById('out');
const q = new URLSearchParams(location.search);
const model = q.get('m'), threads = +q.get('t'), n = +q.get('n');
try {
  const w = new Wllama({ default: './package/esm/wasm/wllama.wasm' }, { logger: { debug() {}, log() {}, warn() {}, error: console.error } });
  await w.loadModelFromUrl('./' + model, { n_threads: threads, n_ctx: 512, n_batch: 512, n_gpu_layers: 0 });
  const prompt = 'Once upon a time there was a little girl who lived in a village near the forest. '.repeat(7);
  const opts = { prompt, temperature: 0, ignore_eos: true, cache_prompt: false };
  await w.createCompletion({ ...opts, max_tokens: 4 });
  const r = await w.createCompletion({ ...opts, max_tokens: n });
  out.textContent = JSON.stringify({ isolated: crossOriginIsolated, timings: r.timings });
} catch (e) { out.textContent = 'ERROR ' + e + ' ' + (e.stack || ''); }
</script></body></html>`;

if (!llama || !fs.existsSync(join(llama, 'bin/llama-bench'))) {
  throw new Error('--llama DIR: a llama.cpp build folder with bin/llama-bench and bin/llama-quantize (see BENCHMARKS.md)');
}
if (!skipBuild) run('node', ['scripts/build-web.mjs', '--variant', 'threads']);
const { wq, f16 } = smollm2Setup();
const dir = join(root, 'web/bench-models');
fs.mkdirSync(dir, { recursive: true });
const models = [];
for (const t of types) {
  const name = `smollm2-135m-${t}.gguf`;
  if (!fs.existsSync(join(dir, name))) run(wq, ['quantize', f16, join(dir, name), '--type', t], { capture: true });
  models.push([t, name]);
}
const f16Name = 'smollm2-135m-F16.gguf';
if (!fs.existsSync(join(dir, f16Name))) fs.copyFileSync(f16, join(dir, f16Name));

// The CPU and the SIMD extensions it has, printed with the results.
const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
const cpuModel = cpuinfo.match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const flags = new Set(cpuinfo.match(/flags\s*:\s*(.*)/)?.[1].split(' ') ?? []);
const simd = ['avx2', 'fma', 'f16c', 'avx_vnni', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512vbmi', 'avx512_bf16'].filter((f) => flags.has(f));

const seconds = (f) => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const sh = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r;
};
const ours = (path, threads, extra = []) => {
  const r = sh(wq, ['bench', path, '-p', `${P}`, '-n', `${N}`, '-r', `${R}`, '--threads', `${threads}`, ...extra]);
  const v = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, 2), parseFloat(l.split(/\s+/)[1])]));
  return { ...v, isa: r.stderr.match(/CPU extensions in use: (.*)/)?.[1] ?? '' };
};
const theirs = (bin, path, threads) => {
  const csv = sh(join(bin, 'bin/llama-bench'), ['-m', path, '-t', `${threads}`, '-p', `${P}`, '-n', `${N}`, '-r', `${R}`, '-o', 'csv']).stdout.trim().split('\n');
  const head = csv[0].split(',').map((h) => h.replace(/"/g, ''));
  const out = {};
  for (const line of csv.slice(1)) {
    const f = Object.fromEntries(line.split(',').map((v, i) => [head[i], v.replace(/"/g, '')]));
    out[parseInt(f.n_prompt, 10) > 0 ? 'pp' : 'tg'] = parseFloat(f.avg_ts);
  }
  return out;
};

const report = [];
const say = (line = '') => {
  report.push(line);
  console.log(line);
};
const f1 = (x) => (x == null || Number.isNaN(x) ? 'n/a' : x.toFixed(1));
const x2 = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : 'n/a');

say(`Side by side, measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by scripts/bench-side-by-side.mjs.`);
say(`CPU: ${cpuModel}, ${ALL} cores; SIMD extensions: ${simd.join(', ')}.`);
say(`pp${P}: prompt of ${P} tokens in one batch; tg${N}: ${N} tokens one at a time; tokens per second, mean of ${R} runs.`);
say();

const native = {};
if (!skip.has('native')) {
  say('### Native: webquant bench against llama-bench');
  say();
  say(`| model | threads | webquant pp${P} | llama.cpp pp${P} | ratio | webquant tg${N} | llama.cpp tg${N} | ratio |`);
  say('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  let isa = '';
  for (const [label, file] of models) {
    const path = join(dir, file);
    for (const t of [...new Set([1, ALL])]) {
      // Alternate the two so background load affects them alike.
      const o = ours(path, t);
      const l = theirs(llama, path, t);
      isa = o.isa;
      native[`${label}/${t}`] = o;
      say(`| ${label} | ${t} | ${f1(o.pp)} | ${f1(l.pp)} | ${x2(o.pp, l.pp)} | ${f1(o.tg)} | ${f1(l.tg)} | ${x2(o.tg, l.tg)} |`);
    }
  }
  say();
  say(`webquant used: ${isa}. llama.cpp: ${llama} (GGML_NATIVE=ON).`);
  say();
  if (llamaAvx2) {
    say('### Native, AVX2 only: `webquant bench --cpu avx2` against an AVX2-only llama.cpp build, 1 thread');
    say();
    say(`| model | webquant pp${P} | llama.cpp pp${P} | ratio | webquant tg${N} | llama.cpp tg${N} | ratio |`);
    say('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [label, file] of models) {
      const path = join(dir, file);
      const o = ours(path, 1, ['--cpu', 'avx2']);
      const l = theirs(llamaAvx2, path, 1);
      isa = o.isa;
      say(`| ${label} | ${f1(o.pp)} | ${f1(l.pp)} | ${x2(o.pp, l.pp)} | ${f1(o.tg)} | ${f1(l.tg)} | ${x2(o.tg, l.tg)} |`);
    }
    say();
    say(`webquant used: ${isa}. llama.cpp: ${llamaAvx2}.`);
    say();
  }
}

let q4km = null;
if (!skip.has('quantize')) {
  say('### Whole-model quantization, SmolLM2-135M F16 to Q4_K_M (wall time)');
  say();
  say('| threads | webquant quantize | llama-quantize | speed ratio | same bytes |');
  say('| ---: | ---: | ---: | ---: | --- |');
  const tmp = fs.mkdtempSync(join(root, 'target/bench-quant-'));
  const hash = (p) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  for (const t of [...new Set([1, ALL])]) {
    const a = join(tmp, `wq-${t}.gguf`);
    const b = join(tmp, `llama-${t}.gguf`);
    const best = (f) => Math.min(...[0, 1, 2].map(() => seconds(f)));
    const tw = best(() => sh(wq, ['quantize', f16, a, '--type', 'Q4_K_M', '--threads', `${t}`]));
    const tl = best(() => sh(join(llama, 'bin/llama-quantize'), [f16, b, 'Q4_K_M', `${t}`]));
    const same = hash(a) === hash(b);
    say(`| ${t} | ${tw.toFixed(2)} s | ${tl.toFixed(2)} s | ${x2(tl, tw)} | ${same ? 'yes' : 'NO'} |`);
    q4km = a;
  }
  say();
  say('Fastest of 3 runs each, output to the same disk; ratio = llama-quantize time / webquant time.');
  say();
  fs.copyFileSync(q4km, join(dir, 'smollm2-135m-Q4_K_M-wq.gguf'));
  fs.rmSync(tmp, { recursive: true, force: true });
}

if (!skip.has('page') || !skip.has('eval')) {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  const chrome = browser.version();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}bench.html`);
    await page.waitForSelector('body[data-ready=yes]', { timeout: 60_000 });
    const isolated = await page.evaluate(() => crossOriginIsolated);
    if (!isolated) throw new Error('bench.html is not cross-origin isolated: the threads build cannot run');
    if (!skip.has('page')) {
      const wl = await wllamaPage(browser);
      say(`### In the page: webquant (Chromium ${chrome} headless) against wllama 3.8.1, same files`);
      say();
      say(`| model | threads | webquant pp${P} | wllama pp | ratio | webquant tg${N} | wllama tg | ratio | wasm/native tg |`);
      say('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      let promptN = null;
      for (const [label, file] of models) {
        for (const t of [...new Set([1, ALL])]) {
          const variant = t === 1 ? 'simd' : 'threads';
          const w = await page.evaluate(([u, p, n, r, v, th]) => window.webquantBench.runModel(u, p, n, r, v, th), [`bench-models/${file}`, P, N, R, variant, t]);
          const o = await wl.run(file, t);
          promptN = o.prompt_n;
          const nat = native[`${label}/${t}`];
          say(`| ${label} | ${t} (${variant}) | ${f1(w.pp)} | ${f1(o.pp)} | ${x2(w.pp, o.pp)} | ${f1(w.tg)} | ${f1(o.tg)} | ${x2(w.tg, o.tg)} | ${nat ? x2(w.tg, nat.tg) : 'n/a'} |`);
        }
      }
      say();
      say(`wllama's prompt: ${promptN} tokens (llama.cpp's timings of the completion; wllama takes text, not token ids). wasm/native: webquant in the page against webquant native at the same thread count, from the table above.`);
      say();
      await wl.close();
    }
    if (!skip.has('eval')) {
      const text = fs.readFileSync(corpus, 'utf8');
      const r = await page.evaluate(async ([f16u, qt, txt, th]) => window.webquantBench.quantizeAndEvaluate(f16u, qt, txt, 512, 16, th), [`bench-models/${f16Name}`, 'Q4_K_M', text, ALL]);
      say(`### In the page: quantize and evaluate (threads build, ${r.threads} threads)`);
      say();
      say('| step | time | result |');
      say('| --- | ---: | --- |');
      const same = q4km ? (createHash('sha256').update(fs.readFileSync(join(dir, 'smollm2-135m-Q4_K_M-wq.gguf'))).digest('hex') === r.sha256 ? ', the same bytes as the CLI' : ', NOT the bytes of the CLI') : '';
      say(`| open SmolLM2 F16 (${(r.inBytes / 2 ** 20).toFixed(0)} MiB) and quantize to Q4_K_M | ${r.quantizeSeconds.toFixed(1)} s | ${(r.bytes / 2 ** 20).toFixed(1)} MiB${same} |`);
      say(`| perplexity + KL divergence against F16, ctx 512, ${r.chunks} chunks | ${r.evalSeconds.toFixed(1)} s | ppl ${r.ppl.toFixed(4)} (F16 ${r.refPpl.toFixed(4)}), mean KLD ${r.kld.toFixed(5)}, same top token ${(100 * r.sameTop).toFixed(1)}% |`);
      say();
    }
  } finally {
    await browser.close();
    server.close();
  }
}

fs.mkdirSync(dirname(outPath), { recursive: true });
fs.writeFileSync(outPath, `${report.join('\n')}\n`);
console.log(`\nwritten to ${outPath}`);

// wllama 3.8.1 in its own page, served with COOP/COEP from a scratch folder
// (the package comes from `npm pack`; nothing of it is committed).
async function wllamaPage(browser) {
  const wdir = join(root, 'target/peers/wllama');
  if (!fs.existsSync(join(wdir, 'package/esm/index.js'))) {
    fs.mkdirSync(wdir, { recursive: true });
    sh('npm', ['pack', '@wllama/wllama@3.8.1', '--pack-destination', wdir]);
    sh('tar', ['xzf', join(wdir, 'wllama-wllama-3.8.1.tgz'), '-C', wdir]);
  }
  fs.writeFileSync(join(wdir, 'wl.html'), WLLAMA_PAGE);
  const server = await isolatedServer({ '/bench-models/': dir, '/': wdir });
  const page = await browser.newPage();
  return {
    async run(file, threads) {
      await page.goto(`${server.url}wl.html?m=bench-models/${file}&t=${threads}&n=${N}`);
      await page.waitForFunction(() => document.getElementById('out').textContent !== 'pending', null, { timeout: 600_000 });
      const out = await page.$eval('#out', (e) => e.textContent);
      if (out.startsWith('ERROR')) throw new Error(`wllama: ${out}`);
      const j = JSON.parse(out);
      if (threads > 1 && !j.isolated) throw new Error('wllama page not cross-origin isolated');
      return { pp: j.timings.prompt_per_second, tg: j.timings.predicted_per_second, prompt_n: j.timings.prompt_n };
    },
    async close() {
      await page.close();
      server.close();
    },
  };
}

// A static server with COOP/COEP (so wllama's threads run), on a free port.
function isolatedServer(roots) {
  const mime = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const srv = http.createServer((req, res) => {
    const u = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const pre = Object.keys(roots).find((p) => u.startsWith(p));
    const f = pre && join(roots[pre], u.slice(pre.length));
    fs.stat(f ?? '', (e, st) => {
      if (e || !st.isFile() || u.includes('..')) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, {
        'Content-Type': mime[extname(f)] ?? 'application/octet-stream',
        'Content-Length': st.size,
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
      });
      fs.createReadStream(f).pipe(res);
    });
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${srv.address().port}/`, close: () => srv.close() }));
  });
}
