// GPTQ time and memory on SmolLM2-135M F16, in wasm in headless Chromium and
// natively, in one run (issue 8):
//   wasm   : the app's worker (index.html), `quantize` with method "gptq" as
//            the Quantize section runs it (simd build). Wall time; CPU time
//            and peak RSS of the renderer process that hosts the worker
//            (sampled every 200 ms from /proc); the wasm linear memory at
//            the end, which is its peak (wasm memory never shrinks).
//   native : `webquant quantize --gptq` (release build) under /usr/bin/time -v.
// Both: the first 100,000 bytes of tinyshakespeare as calibration text,
// CHUNKS chunks of CTX tokens, GPTQ's defaults (dampening 1 %, the format's
// blocks, no act-order), no importance matrix.
//
// Usage: node scripts/bench-gptq.mjs [--type Q4_0] [--ctx 512] [--chunks 4]
//          [--corpus /work/shared/corpus/tinyshakespeare.txt]
//          [--out bench/results/gptq-wasm.md] [--skip-build]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { launch, root, startServer } from '../tests/harness.mjs';
import { arg, smollm2Setup } from './bench-common.mjs';

const type = arg('type', 'Q4_0');
const ctx = Number(arg('ctx', '512'));
const chunks = Number(arg('chunks', '4'));
const corpus = arg('corpus', '/work/shared/corpus/tinyshakespeare.txt');
const outPath = join(root, arg('out', 'bench/results/gptq-wasm.md'));

const { wq, f16 } = smollm2Setup();
if (!existsSync(corpus)) throw new Error(`${corpus} is missing: pass --corpus FILE`);
const text = readFileSync(corpus).subarray(0, 100_000).toString('utf8');
const models = join(root, 'web/bench-models');
mkdirSync(models, { recursive: true });
if (!existsSync(join(models, 'smollm2-135m-f16.gguf'))) symlinkSync(f16, join(models, 'smollm2-135m-f16.gguf'));

// ---- processes: this script's Chromium renderers, from /proc ----
const PAGE = 4096;
const TICK = 100; // clock ticks per second (getconf CLK_TCK on Linux)
function children() {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return kids;
}
function renderers() {
  const kids = children();
  const out = [];
  const walk = (pid) => {
    for (const k of kids.get(pid) ?? []) {
      try {
        if (readFileSync(`/proc/${k}/cmdline`, 'utf8').includes('--type=renderer')) out.push(k);
      } catch {
        // gone meanwhile
      }
      walk(k);
    }
  };
  walk(process.pid);
  return out;
}
function usage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14, 15 (utime, stime) and 24 (rss, pages), counted from 3 here
  return { cpu: (Number(f[11]) + Number(f[12])) / TICK, rss: Number(f[21]) * PAGE };
}

// ---- wasm in Chromium ----
const server = await startServer();
const browser = await launch({ webgpu: false });
const chromeVersion = browser.version();
let wasm;
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.waitForSelector('body[data-model=loaded]', { timeout: 120_000 });
  const opened = await page.evaluate(async (url) => (await window.webquant.client.call('openUrl', { url })).name, `${server.url}bench-models/smollm2-135m-f16.gguf`);
  // the renderer that hosts the page's worker: the one using the most memory
  const pid = renderers().map((p) => [p, usage(p).rss]).sort((a, b) => b[1] - a[1])[0]?.[0];
  if (!pid) throw new Error('found no Chromium renderer process');
  const before = usage(pid);
  let peak = before.rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, usage(pid).rss);
    } catch {
      // the process ended: the run fails below
    }
  }, 200);
  const t0 = performance.now();
  let r;
  try {
    r = await page.evaluate(async ([t, p]) => {
      const { client } = window.webquant;
      const q = await client.call('quantize', { type: p.type, method: 'gptq', calib: { text: t, nCtx: p.ctx, chunks: p.chunks } });
      return { bytes: q.blob.size, tensors: q.totals.tensors, wasm: (await client.call('wasmMemory')).bytes };
    }, [text, { type, ctx, chunks }]);
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = usage(pid);
  peak = Math.max(peak, after.rss);
  wasm = { opened, seconds, cpu: after.cpu - before.cpu, rssBefore: before.rss, peak, ...r };
  console.log('wasm', JSON.stringify(wasm));
} finally {
  await browser.close();
  server.close();
}

// ---- native ----
const dir = mkdtempSync(join(tmpdir(), 'bench-gptq-'));
let native;
try {
  writeFileSync(join(dir, 'calib.txt'), text);
  const out = join(dir, 'out.gguf');
  const r = spawnSync('/usr/bin/time', ['-v', wq, 'quantize', f16, out, '--type', type, '--gptq', '--calib', join(dir, 'calib.txt'), '--ctx', String(ctx), '--chunks', String(chunks)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`native GPTQ failed: ${r.stderr}`);
  const field = (name) => r.stderr.match(new RegExp(`${name}: (.*)`))?.[1];
  const wall = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)').split(':').reduce((s, v) => s * 60 + Number(v), 0);
  native = {
    seconds: wall,
    cpu: Number(field('User time \\(seconds\\)')) + Number(field('System time \\(seconds\\)')),
    peak: Number(field('Maximum resident set size \\(kbytes\\)')) * 1024,
    bytes: readFileSync(out).length,
  };
  console.log('native', JSON.stringify(native));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
const s = (x) => `${x.toFixed(1)} s`;
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const report = `GPTQ ${type} of SmolLM2-135M-Instruct F16 (${f16.split('/').pop()}), in wasm in headless Chromium and natively, one thread each.
Calibration: the first 100,000 bytes of tinyshakespeare, ${chunks} chunks of ${ctx} tokens; dampening 1 %, scales per ggml block, no act-order.
Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu} (load average ${load} at the end) by scripts/bench-gptq.mjs.
wasm: Chromium ${chromeVersion} headless, simd build, the app's worker (\`quantize\`, method "gptq"), the model opened from a URL into a Blob first (not timed).
native: \`webquant quantize --gptq\` (release), \`/usr/bin/time -v\`, the whole command (load, calibration, GPTQ, writing).

| | wall | CPU (user+sys) | peak memory | output bytes |
| --- | ---: | ---: | ---: | ---: |
| wasm (Chromium) | ${s(wasm.seconds)} | ${s(wasm.cpu)} | ${mb(wasm.peak)} renderer RSS (${mb(wasm.rssBefore)} before); wasm memory ${mb(wasm.wasm)} | ${wasm.bytes.toLocaleString('en-US')} |
| native | ${s(native.seconds)} | ${s(native.cpu)} | ${mb(native.peak)} RSS | ${native.bytes.toLocaleString('en-US')} |

wasm memory: the module's linear memory at the end, which is its peak (it never shrinks); the F16 file is
${mb(statSync(f16).size)}. Renderer RSS: the process running the page and its worker (JS heaps, wasm memory, Blob
data held in memory), sampled every 200 ms; "before" is after the model was opened. The wasm row's CPU is that
process's, all its threads.
`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, report);
console.log(`\n${report}\nwritten to ${outPath}`);
