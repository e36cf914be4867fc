// The Model and Tensors sections: the open model's facts and tensors,
// opening a model (files picked or dropped, a URL, a saved model) and the
// tensors' value statistics.
import { CancelledError } from '../client.js';
import { $, row, showFacts } from '../dom.js';
import { fmtNum, transferText } from '../format.js';
import { runJob } from '../job.js';
import { droppedFiles, sortModelFiles } from '../model-files.js';
import { modelFacts, tensorRow } from '../report.js';
import { state } from '../state.js';
import { importModel } from './import.js';

export function showError(err) {
  const el = $('#model-error');
  el.textContent = err ? String(err.message ?? err) : '';
  el.hidden = !err;
}

// The model's facts and tensor table (the other views reset themselves: see
// app.js).
export function showModel(info, source) {
  showFacts($('#model-facts'), modelFacts(info, source));
  const tbody = $('#tensor-table tbody');
  tbody.replaceChildren();
  for (const t of info.tensors) row(tbody, tensorRow(t)).dataset.name = t.name;
  $('#stats-run').disabled = false;
  $('#stats-status').textContent = '';
  state.modelName = info.name || 'model';
  state.modelTypes = Object.keys(info.types).join(', ');
}

// An import replaces the open model when it ends, so another model does
// not open meanwhile (it would be replaced at once).
function importRunning() {
  if (state.importing) showError(new Error('An import is running: cancel it first, or wait for it to end.'));
  return state.importing;
}

// Open a saved model; `opened(info, source)` shows it.
export async function openSaved(client, name, opened) {
  showError(null);
  if (importRunning()) return;
  try {
    opened(await client.call('openSaved', { name }), `saved: ${name}`);
  } catch (err) {
    showError(new Error(`${name} could not be opened: ${err.message}`));
  }
}

// The file picker, dropping files on the page and the URL form. `opened`
// shows a model that opened; `keep(name)` saves a copy when the user wants.
export function setupOpen(client, { opened, keep }) {
  const openFile = async (file) => {
    showError(null);
    try {
      opened(await client.call('openFile', { file }), file.name);
      keep(file.name);
    } catch (err) {
      // The previous model stays open in the worker and on the page.
      showError(new Error(`${file.name} could not be opened: ${err.message}`));
    }
  };
  // The files picked or dropped together: a GGUF, or a model to import.
  const openFiles = (files, folder) => {
    if (files.length === 0) return;
    showError(null);
    if (importRunning()) return;
    const picked = sortModelFiles(files, folder);
    if (picked.error) showError(new Error(picked.error));
    else if (picked.kind === 'gguf') openFile(picked.file);
    else importModel(client, picked, { opened, keep, showError });
  };
  $('#file-input').addEventListener('change', (e) => {
    openFiles([...(e.target.files ?? [])]);
    // Picking the same files again (after fixing a missing one) fires again.
    e.target.value = '';
  });
  // Drop files, or a model's folder, anywhere on the page.
  document.addEventListener('dragover', (e) => {
    if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    droppedFiles(e.dataTransfer).then(
      ({ files, folder }) => openFiles(files, folder),
      (err) => showError(new Error(`The dropped files could not be read: ${err.message}`)),
    );
  });

  $('#url-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const url = $('#url-input').value.trim();
    showError(null);
    if (importRunning()) return;
    const status = $('#url-status');
    const t0 = performance.now();
    await runJob(client, 'openUrl', { url }, {
      status,
      bar: $('#url-progress'),
      barFrom: null,
      cancel: $('#url-cancel'),
      busy: (on) => {
        $('#url-open').disabled = on;
      },
      progress: ({ done, total }) => transferText(done, total, (performance.now() - t0) / 1000),
      done: (info) => {
        opened(info, url);
        status.textContent = `Opened ${url.split('/').pop()}.`;
        keep(url);
      },
      error: (err) => {
        status.textContent = '';
        showError(err instanceof CancelledError ? new Error('Download cancelled; the previous model is still open.') : err);
      },
    });
  });
}

// Min, max, mean and std of every tensor, into the tensor table.
export function setupTensors(client) {
  $('#stats-run').addEventListener('click', () => {
    const run = $('#stats-run');
    runJob(client, 'tensorStats', {}, {
      status: $('#stats-status'),
      start: '',
      bar: $('#stats-progress'),
      cancel: $('#stats-cancel'),
      busy: (on) => {
        run.disabled = on;
      },
      done: (rows) => {
        for (const s of rows) {
          const tr = document.querySelector(`#tensor-table tr[data-name="${CSS.escape(s.name)}"]`);
          if (!tr) continue;
          const cells = tr.children;
          cells[4].textContent = fmtNum(s.min);
          cells[5].textContent = fmtNum(s.max);
          cells[6].textContent = fmtNum(s.mean);
          cells[7].textContent = fmtNum(s.std);
        }
        return `Statistics for ${rows.length} tensors.`;
      },
    });
  });
}
