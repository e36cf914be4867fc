// What the views of the main page share: the open model's name and tensor
// types, which long jobs are running, and the bundled text.
import { $ } from './dom.js';

export const DEFAULT_MODEL = 'models/stories260K.gguf';
export const DEFAULT_TEXT = 'texts/tinyshakespeare-10k.txt';

export const state = {
  modelName: 'model',
  modelTypes: '', // the open model's tensor types, "f32" or "f16, f32"
  comparing: false,
  quantizing: false,
  importing: false,
};

// A quantization replaces the models a comparison runs, so the two wait
// for each other; an import replaces the open model when it ends, so
// neither starts during one.
export function syncJobButtons() {
  const busy = state.comparing || state.quantizing || state.importing;
  $('#gen-run').disabled = busy;
  $('#eval-run').disabled = busy;
  $('#quant-run').disabled = busy || document.body.dataset.model !== 'loaded';
  $('#file-input').disabled = state.importing;
}

// The bundled text, fetched once (evaluation and calibration both use it).
let bundled = null;
export function bundledText() {
  bundled ??= fetch(DEFAULT_TEXT).then((res) => {
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.text();
  });
  bundled.catch(() => {
    bundled = null;
  });
  return bundled;
}
