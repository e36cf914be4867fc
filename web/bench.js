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
  // Model speed (scripts/bench-side-by-side.mjs and bench-wasm-builds.mjs
  // drive it; no UI of its own). Another wasm build beside the page's
  // (web/pkg/<name>/), each in its own worker, so a script can time two
  // builds in one run. The threads build starts a pool of every core the
  // browser reports; `threads` says how many of them the next run uses.
  const clients = new Map([[variant, client]]);
  const cores = navigator.hardwareConcurrency || 1;
  const clientFor = async (v = variant, threads = 1) => {
    if (!clients.has(v)) {
      const c = new WorkerClient(new URL('./worker.js', import.meta.url));
      await c.call('init', { variant: v, threads: cores });
      clients.set(v, c);
    }
    const c = clients.get(v);
    if (v === 'threads') await c.call('setThreads', { n: threads });
    return c;
  };
  const runModel = async (url, nPrompt, nGen, reps, v, threads) => (await clientFor(v, threads)).call('benchRunner', { url, nPrompt, nGen, reps });
  const evalModel = async (url, text, nCtx, chunks, reps, v, threads) => (await clientFor(v, threads)).call('benchEval', { url, text, nCtx, chunks, reps });
  // What a person does in the app, timed: open `url`, quantize it to
  // `type`, then perplexity and KL divergence of the result against the
  // original over `text` (`chunks` of `nCtx` tokens), in a fresh worker of
  // build `v` on `threads` threads, so earlier runs leave no memory behind.
  const quantizeEval = async ({ url, type, text, nCtx, chunks, v = variant, threads = 1 }) => {
    const c = new WorkerClient(new URL('./worker.js', import.meta.url));
    try {
      await c.call('init', { variant: v, threads });
      await c.call('openUrl', { url });
      let t = performance.now();
      await c.call('quantize', { type });
      const quantizeSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      const { variants } = await c.call('compareEval', { text, nCtx, maxChunks: chunks });
      return { quantizeSeconds, evalSeconds: (performance.now() - t) / 1000, result: variants[0] };
    } finally {
      c.worker.terminate();
    }
  };
  window.webquantBench = { run, runModel, evalModel, quantizeEval, variant, types, cores, isolated: self.crossOriginIsolated };
  $('#bench-status').textContent = `Ready (${variant} build).`;
  $('#bench-run').disabled = false;
  $('#bench-run').onclick = () => run(types).catch(() => {});
  document.body.dataset.ready = 'yes';
}

main().catch((err) => {
  $('#bench-status').textContent = `Could not start: ${err.message}`;
});
