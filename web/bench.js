// The benchmark page: runs `benchQuant` in the worker and shows the table.
// `window.webquantBench.run(types, seconds)` lets scripts drive it.
import { WorkerClient } from './client.js';
import { $, row } from './dom.js';
import { hasWasmSimd } from './features.js';
import { runJob } from './job.js';

const client = new WorkerClient(new URL('./worker.js', import.meta.url));

function run(types, seconds = 1) {
  return runJob(client, 'benchQuant', { types, seconds }, {
    status: $('#bench-status'),
    bar: $('#bench-progress'),
    barFrom: 'keep',
    cancel: $('#bench-cancel'),
    busy: (on) => {
      $('#bench-run').disabled = on;
    },
    done: (results) => {
      const tbody = $('#bench-table tbody');
      tbody.replaceChildren();
      for (const [type, r] of Object.entries(results)) row(tbody, [[type], [r.quantize.toFixed(1), 'num'], [r.dequantize.toFixed(1), 'num']]);
      return 'Done.';
    },
    rethrow: true,
  });
}

async function main() {
  const variant = hasWasmSimd() ? 'simd' : 'plain';
  await client.call('init', { variant });
  const types = (await client.call('ggmlTypes')).map((t) => t.name);
  // Model speed (scripts/bench-runner.mjs drives it; no UI of its own).
  // Another wasm build beside the page's (web/pkg/<name>/), each in its own
  // worker, so scripts/bench-wasm-builds.mjs can time two builds in one run.
  // The threads build (scripts/bench-side-by-side.mjs) starts a pool of
  // `threads` workers; a page that is not cross-origin isolated cannot.
  const clients = new Map([[`${variant}/1`, client]]);
  const clientFor = async (v = variant, threads = 1) => {
    const key = `${v}/${threads}`;
    if (!clients.has(key)) {
      const c = new WorkerClient(new URL('./worker.js', import.meta.url));
      await c.call('init', { variant: v, threads });
      await c.call('setThreads', { n: threads });
      clients.set(key, c);
    }
    return clients.get(key);
  };
  const runModel = async (url, nPrompt, nGen, reps, v, threads) => (await clientFor(v, threads)).call('benchRunner', { url, nPrompt, nGen, reps });
  const evalModel = async (url, text, nCtx, chunks, reps, v) => (await clientFor(v)).call('benchEval', { url, text, nCtx, chunks, reps });
  // What the app does with a model: open it, quantize it, then perplexity
  // and KL divergence against the original; timed.
  const quantizeAndEvaluate = async (url, type, text, nCtx, chunks, threads) => {
    const c = await clientFor(threads > 1 ? 'threads' : variant, threads);
    const t0 = performance.now();
    const opened = await c.call('openUrl', { url });
    const q = await c.call('quantize', { type });
    const t1 = performance.now();
    const e = await c.call('compareEval', { text, nCtx, maxChunks: chunks, labels: [q.label] });
    const t2 = performance.now();
    const r = e.variants[0];
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await q.blob.arrayBuffer()));
    return {
      threads,
      inBytes: opened?.info?.fileBytes ?? opened?.fileBytes ?? 0,
      quantizeSeconds: (t1 - t0) / 1000,
      evalSeconds: (t2 - t1) / 1000,
      bytes: q.blob.size,
      sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''),
      ppl: r.ppl,
      refPpl: r.kl.pplBase,
      kld: r.kl.meanKld,
      sameTop: r.kl.sameTop,
      chunks: r.chunks,
    };
  };
  window.webquantBench = { run, runModel, evalModel, quantizeAndEvaluate, variant, types };
  $('#bench-status').textContent = `Ready (${variant} build).`;
  $('#bench-run').disabled = false;
  $('#bench-run').onclick = () => run(types).catch(() => {});
  document.body.dataset.ready = 'yes';
}

main().catch((err) => {
  $('#bench-status').textContent = `Could not start: ${err.message}`;
});
