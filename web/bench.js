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
  const clients = new Map([[variant, client]]);
  const clientFor = async (v = variant) => {
    if (!clients.has(v)) {
      const c = new WorkerClient(new URL('./worker.js', import.meta.url));
      await c.call('init', { variant: v });
      clients.set(v, c);
    }
    return clients.get(v);
  };
  const runModel = async (url, nPrompt, nGen, reps, v) => (await clientFor(v)).call('benchRunner', { url, nPrompt, nGen, reps });
  const evalModel = async (url, text, nCtx, chunks, reps, v) => (await clientFor(v)).call('benchEval', { url, text, nCtx, chunks, reps });
  window.webquantBench = { run, runModel, evalModel, variant, types };
  $('#bench-status').textContent = `Ready (${variant} build).`;
  $('#bench-run').disabled = false;
  $('#bench-run').onclick = () => run(types).catch(() => {});
  document.body.dataset.ready = 'yes';
}

main().catch((err) => {
  $('#bench-status').textContent = `Could not start: ${err.message}`;
});
