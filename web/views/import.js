// Importing a Hugging Face model or a llama2.c checkpoint: converted to a
// GGUF in the worker, tensor by tensor, which then is the open model.
import { CancelledError } from '../client.js';
import { $ } from '../dom.js';
import { fmtBytes } from '../format.js';
import { runJob } from '../job.js';
import { importSources } from '../model-files.js';
import { state, syncJobButtons } from '../state.js';

// A model opened: an earlier import's message goes.
export function importOpened() {
  $('#import-status').textContent = '';
}

// Import `picked` (sortModelFiles's result); `opened(info, source)` shows the
// model, `keep(name)` saves it when the user wants, `showError` reports.
export function importModel(client, picked, { opened, keep, showError }) {
  const { what, name } = importSources(picked);
  const status = $('#import-status');
  const { folder, ...files } = picked;
  return runJob(client, 'importModel', { ...files, name }, {
    status,
    start: `Importing ${what}…`,
    bar: $('#import-progress'),
    cancel: $('#import-cancel'),
    busy: (on) => {
      state.importing = on;
      syncJobButtons();
    },
    progress: ({ done, total, label }) => `Importing: ${done} / ${total}: ${label}`,
    done: ({ info, type }) => {
      const as = type.toUpperCase();
      opened(info, `${what} (imported as ${as} GGUF)`);
      status.textContent = `Imported ${info.name} as an ${as} GGUF (${fmtBytes(info.fileBytes)}).`;
      keep(`${info.name}.gguf`);
    },
    error: (err) => {
      status.textContent = '';
      // The previous model stays open in the worker and on the page.
      showError(err instanceof CancelledError
        ? new Error('Import cancelled; the previous model is still open.')
        : new Error(`${what} could not be imported: ${err.message}`));
    },
  });
}
