// The page: picks the wasm variant this browser can run, starts the worker,
// opens the bundled model and wires the views (web/views/) together. All
// work happens in the worker; every long request goes through web/job.js.
import { WorkerClient } from './client.js';
import { $ } from './dom.js';
import { hasWasmSimd, wasmThreads } from './features.js';
import { DEFAULT_MODEL, syncJobButtons } from './state.js';
import { compareOpened, setupCompare } from './views/compare.js';
import { importOpened } from './views/import.js';
import { openSaved, setupOpen, setupTensors, showError, showModel } from './views/model.js';
import { quantizeOpened, setupQuantize } from './views/quantize.js';
import { keep, refreshSaved } from './views/saved.js';

function note(text, kind = 'info') {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = text;
  $('#engine-notes').append(li);
}

// A model opened (bundled, a file, a URL, saved or imported): every view
// shows it or forgets the previous model's results.
function opened(info, source) {
  showModel(info, source);
  quantizeOpened();
  compareOpened(info);
  importOpened();
  document.body.dataset.model = 'loaded';
  syncJobButtons();
}

// The thread-count control (threads build only): jobs use the chosen count
// from their next step on; results are the same for any count.
function setupThreads(client, build, cores) {
  const input = $('#threads');
  $('#threads-row').hidden = !build.threaded;
  if (!build.threaded) return;
  input.max = String(build.poolSize);
  input.value = String(build.threads);
  $('#threads-help').textContent = `of ${build.poolSize} (the browser reports ${cores} cores)`;
  input.addEventListener('change', async () => {
    const n = Math.round(Number(input.value));
    const used = await client.call('setThreads', { n: Number.isFinite(n) ? n : 1 });
    input.value = String(used);
    document.body.dataset.threads = String(used);
  });
  document.body.dataset.threads = String(build.threads);
}

async function main() {
  // The app keeps working offline after one visit (web/sw.js).
  navigator.serviceWorker?.register('sw.js').catch((err) => note(`Offline use is unavailable: ${err.message}`, 'warn'));
  const simd = hasWasmSimd();
  const threads = wasmThreads();
  // All the cores the browser reports (it may report fewer than there are).
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  let variant = simd && threads.ok ? 'threads' : simd ? 'simd' : 'plain';
  if (!simd) {
    note('This browser does not support WebAssembly SIMD, so webquant uses its plain build: everything works, more slowly.', 'warn');
  } else if (!threads.ok) {
    note(`webquant runs on one thread here: ${threads.reason}.`, 'warn');
  }
  const start = async (v) => {
    const client = new WorkerClient(new URL('./worker.js', import.meta.url));
    try {
      return { client, init: await client.call('init', { variant: v, threads: cores }) };
    } catch (err) {
      client.worker.terminate();
      throw err;
    }
  };

  let client;
  let init;
  try {
    try {
      ({ client, init } = await start(variant));
    } catch (err) {
      if (variant !== 'threads') throw err;
      // Shared memory is on but the pool did not start: one thread then.
      note(`webquant runs on one thread here: its thread pool did not start (${err.message}).`, 'warn');
      variant = 'simd';
      ({ client, init } = await start(variant));
    }
  } catch (err) {
    $('#engine-status').textContent = `The WebAssembly module could not start: ${err.message}`;
    document.body.dataset.ready = 'failed';
    return;
  }
  // For the browser console and end-to-end tests: the same client the page uses.
  window.webquant = { client };
  setupThreads(client, init.build, cores);
  const { build, gpu } = init;
  const cpu = `CPU: WebAssembly${build.simd128 ? ' with SIMD' : ' (no SIMD)'}${build.threaded ? `, ${build.poolSize} threads` : ', one thread'}`;
  $('#engine-status').textContent = gpu.available
    ? `${cpu}. WebGPU: ${gpu.name || 'available (the browser does not report the adapter name)'} (shader-f16 ${gpu.shaderF16 ? 'yes' : 'no'}, subgroups ${gpu.subgroups ? 'yes' : 'no'}).`
    : `${cpu}. WebGPU: not available.`;
  if (!gpu.available) {
    note(`WebGPU is not available here (${gpu.reason}). Models run on the CPU in WebAssembly, which is slower but gives the same results.`, 'warn');
  }
  // Generation runs where it is fastest: a real GPU; an emulated one
  // (SwiftShader) can be chosen but is slower than the CPU.
  const gpuOption = $('#gen-device option[value=gpu]');
  gpuOption.disabled = !gpu.available;
  if (gpu.available && gpu.software) gpuOption.textContent = `GPU (WebGPU on ${gpu.name || 'a software adapter'}: slower than the CPU)`;
  $('#gen-device').value = gpu.available && !gpu.software ? 'gpu' : 'cpu';
  document.body.dataset.ready = 'yes';
  document.body.dataset.variant = variant;
  document.body.dataset.webgpu = gpu.available ? 'yes' : 'no';

  setupCompare(client);
  try {
    await setupQuantize(client);
  } catch (err) {
    note(`Quantization is unavailable: ${err.message}`, 'warn');
  }

  try {
    opened(await client.call('openUrl', { url: new URL(DEFAULT_MODEL, location.href).href }), 'bundled with webquant');
  } catch (err) {
    showError(new Error(`The default model could not be opened: ${err.message}`));
  }

  const open = (name) => openSaved(client, name, opened);
  refreshSaved(client, open);
  setupOpen(client, { opened, keep: (name) => keep(client, name, open) });
  setupTensors(client);
}

main();
