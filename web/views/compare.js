// The Compare section: the original and the quantized models side by side,
// generating (token by token, with the first difference marked) and scored
// over a text (perplexity, KL divergence).
import { $, row } from '../dom.js';
import { speedText } from '../format.js';
import { runJob } from '../job.js';
import { divergenceText, evalRows, firstDifference, percentileRows } from '../report.js';
import { bundledText, state, syncJobButtons } from '../state.js';

let variants = [];

// The quantizations to compare with (labels, oldest first; none after
// another model opened), `latest` the one just made.
export function compareReady(list, fromTypes, latest) {
  variants = list ?? [];
  const any = variants.length > 0;
  $('#compare-empty').hidden = any;
  $('#compare-body').hidden = !any;
  for (const id of ['#gen-original-text', '#gen-quantized-text', '#gen-original-speed', '#gen-quantized-speed']) $(id).replaceChildren();
  $('#gen-diverge').textContent = '';
  $('#gen-status').textContent = '';
  $('#eval-status').textContent = '';
  $('#eval-table').hidden = true;
  $('#eval-percentiles').hidden = true;
  if (!any) return;
  const { modelName } = state;
  const newest = [...variants].reverse();
  $('#compare-which').textContent = `Original: ${modelName} (${fromTypes}). Quantized: ${newest.map((l) => `${modelName} ${l}`).join('; ')}.`;
  $('#gen-original-title').textContent = `Original (${fromTypes})`;
  const sel = $('#gen-variant');
  sel.replaceChildren(...newest.map((l) => new Option(l, l)));
  sel.value = latest ?? newest[0];
  sel.onchange = () => {
    $('#gen-quantized-title').textContent = `Quantized (${sel.value})`;
  };
  sel.onchange();
}

// A model opened: nothing to compare with yet.
export function compareOpened(info) {
  // prompt and generation share the runner's context (capped in the worker)
  $('#gen-tokens').max = String(Math.min(info.contextLength ?? 1024, 1024) - 1);
  compareReady(null);
}

function setCompareBusy(busy) {
  state.comparing = busy;
  syncJobButtons();
}

// Make the first token where the two outputs differ stand out in both.
function markDivergence(at) {
  for (const side of ['original', 'quantized']) {
    const span = $(`#gen-${side}-text`).children[at];
    if (!span) continue;
    span.classList.add('diverge');
    span.title = 'first token that differs between the two models';
  }
}

// One column per quantization (the latest first), one row per measure.
function showEval({ variants: results }) {
  const th = (text, cls) => {
    const el = document.createElement('th');
    el.scope = 'col';
    el.textContent = text;
    if (cls) el.className = cls;
    return el;
  };
  const table = $('#eval-table');
  table.tHead.rows[0].replaceChildren(th('measure'), ...results.map((r) => th(r.label, 'num')), th('what it means'));
  const tbody = table.tBodies[0];
  tbody.replaceChildren();
  for (const { key, cells } of evalRows(results)) row(tbody, cells).dataset.key = key;
  table.hidden = false;
  const ptable = $('#eval-percentiles table');
  ptable.tHead.rows[0].replaceChildren(th('percentile'), ...results.map((r) => th(`KL divergence, ${r.label}`, 'num')));
  const ptbody = ptable.tBodies[0];
  ptbody.replaceChildren();
  for (const cells of percentileRows(results)) row(ptbody, cells);
  $('#eval-percentiles').hidden = false;
}

export function setupCompare(client) {
  const ids = { original: [], quantized: [] };
  let divergeAt = null;
  const tokenSpan = (text) => {
    const span = document.createElement('span');
    span.className = 'tok';
    span.textContent = text;
    return span;
  };
  const checkDivergence = () => {
    if (divergeAt != null) return;
    divergeAt = firstDifference(ids.original, ids.quantized);
    if (divergeAt != null) markDivergence(divergeAt);
  };

  $('#gen-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.comparing) return;
    const maxTokens = Number($('#gen-tokens').value);
    const params = {
      label: $('#gen-variant').value,
      prompt: $('#gen-prompt').value,
      maxTokens,
      temperature: Number($('#gen-temp').value),
      seed: Number($('#gen-seed').value),
      device: $('#gen-device').value,
    };
    ids.original = [];
    ids.quantized = [];
    divergeAt = null;
    for (const side of ['original', 'quantized']) {
      $(`#gen-${side}-text`).replaceChildren();
      $(`#gen-${side}-speed`).textContent = '';
    }
    $('#gen-diverge').textContent = '';
    runJob(client, 'compareGenerate', params, {
      status: $('#gen-status'),
      start: 'Loading both models…',
      cancel: $('#gen-stop'),
      stopping: true,
      busy: setCompareBusy,
      progress: ({ done, total, side, token }) => {
        ids[side].push(token.id);
        $(`#gen-${side}-text`).append(tokenSpan(token.text));
        checkDivergence();
        return `${done} / ${total} tokens`;
      },
      done: (r) => {
        for (const side of ['original', 'quantized']) {
          $(`#gen-${side}-speed`).textContent = speedText(r[side]);
          $(`#gen-${side}`).dataset.tokens = String(r[side].tokens.length);
        }
        // The streamed ids are the result's; the result is authoritative.
        ids.original = r.original.tokens.map((t) => t.id);
        ids.quantized = r.quantized.tokens.map((t) => t.id);
        checkDivergence();
        $('#gen-diverge').textContent = divergenceText(r.original.tokens, r.quantized.tokens, divergeAt);
        return r.stopped ? 'Stopped.' : 'Done.';
      },
      failed: 'Generation failed',
      cancelled: null,
    });
  });

  const loadDefaultText = async () => {
    try {
      $('#eval-text').value = await bundledText();
    } catch (err) {
      $('#eval-status').textContent = `The bundled text could not be loaded (${err.message}); paste a text instead.`;
    }
  };
  loadDefaultText();
  $('#eval-default').addEventListener('click', loadDefaultText);
  $('#eval-file').addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    try {
      $('#eval-text').value = await file.text();
      $('#eval-status').textContent = `Text from ${file.name}.`;
    } catch (err) {
      $('#eval-status').textContent = `${file.name} could not be read: ${err.message}`;
    }
  });

  $('#eval-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.comparing) return;
    const text = $('#eval-text').value;
    const status = $('#eval-status');
    if (!text.trim()) {
      status.textContent = 'The text is empty: paste a text or use the bundled one.';
      return;
    }
    runJob(client, 'compareEval', {
      text,
      nCtx: Number($('#eval-ctx').value),
      maxChunks: Number($('#eval-chunks').value) || 0,
    }, {
      status,
      start: 'Loading both models…',
      bar: $('#eval-progress'),
      cancel: $('#eval-cancel'),
      busy: setCompareBusy,
      progress: ({ label }) => label,
      done: (r) => {
        showEval(r);
        return 'Done.';
      },
      failed: 'Evaluation failed',
    });
  });
}
