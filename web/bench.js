// The benchmark page: runs `benchQuant` in the worker and shows the table.
// `window.webquantBench.run(types, seconds)` lets scripts drive it.
import { WorkerClient, CancelledError } from './client.js';
import { hasWasmSimd } from './features.js';

const $ = (sel) => document.querySelector(sel);
const client = new WorkerClient(new URL('./worker.js', import.meta.url));

async function run(types, seconds = 1) {
  const bar = $('#bench-progress');
  bar.hidden = false;
  $('#bench-cancel').hidden = false;
  $('#bench-run').disabled = true;
  const req = client.request('benchQuant', { types, seconds }, {
    onProgress: ({ done, total, label }) => {
      bar.max = total;
      bar.value = done;
      $('#bench-status').textContent = `${done} / ${total}: ${label}`;
    },
  });
  $('#bench-cancel').onclick = () => req.cancel();
  try {
    const results = await req.promise;
    const tbody = $('#bench-table tbody');
    tbody.replaceChildren();
    for (const [type, r] of Object.entries(results)) {
      const tr = document.createElement('tr');
      for (const [v, cls] of [[type], [r.quantize.toFixed(1), 'num'], [r.dequantize.toFixed(1), 'num']]) {
        const td = document.createElement('td');
        td.textContent = v;
        if (cls) td.className = cls;
        tr.append(td);
      }
      tbody.append(tr);
    }
    $('#bench-status').textContent = 'Done.';
    return results;
  } catch (err) {
    $('#bench-status').textContent = err instanceof CancelledError ? 'Cancelled.' : `Failed: ${err.message}`;
    throw err;
  } finally {
    bar.hidden = true;
    $('#bench-cancel').hidden = true;
    $('#bench-run').disabled = false;
  }
}

async function main() {
  const variant = hasWasmSimd() ? 'simd' : 'plain';
  await client.call('init', { variant });
  const types = (await client.call('ggmlTypes')).map((t) => t.name);
  // Model speed (scripts/bench-runner.mjs drives it; no UI of its own).
  const runModel = (url, nPrompt, nGen, reps) => client.call('benchRunner', { url, nPrompt, nGen, reps });
  window.webquantBench = { run, runModel, variant, types };
  $('#bench-status').textContent = `Ready (${variant} build).`;
  $('#bench-run').disabled = false;
  $('#bench-run').onclick = () => run(types).catch(() => {});
  document.body.dataset.ready = 'yes';
}

main().catch((err) => {
  $('#bench-status').textContent = `Could not start: ${err.message}`;
});
