// One worker job with the page's controls around it: every view starts its
// long requests (quantize, import, download, compare, statistics, benchmark)
// through runJob, so progress, cancel and errors look and behave the same.
import { CancelledError } from './client.js';
import { progressText } from './format.js';

/**
 * Run `method(params)` in the worker. `ui` (every field optional):
 *   status     element for the job's messages
 *   start      status text as the job starts
 *   bar        <progress> shown while the job runs, hidden after; it starts
 *              at `barFrom` (default 0; null: indeterminate; 'keep': as it is)
 *              and follows progress that has a total
 *   cancel     button shown while the job runs; a click asks the worker to
 *              stop (with `stopping`, the button is disabled until the end)
 *   busy(on)   called with true before the job starts and false when it ends
 *   progress(p) the status text for a progress report {done, total, label,
 *              ...} (may show more on the page); default "done / total: label"
 *   done(result) shows the result; the text it returns becomes the status
 *   error(err) shows an error instead of the status text below
 *   failed     the status text on an error is `${failed}: ${message}`
 *              (default 'Failed')
 *   cancelled  the status text when cancelled (default 'Cancelled.'; null: a
 *              cancel is reported like any error)
 *   rethrow    rethrow the error after showing it
 * Resolves to the worker's result, or undefined after an error (which `done`
 * throwing is too).
 */
export async function runJob(client, method, params, ui = {}) {
  const { status, bar, cancel } = ui;
  ui.busy?.(true);
  if (cancel) cancel.hidden = false;
  if (bar) {
    bar.hidden = false;
    if (ui.barFrom === null) bar.removeAttribute('value');
    else if (ui.barFrom !== 'keep') bar.value = ui.barFrom ?? 0;
  }
  if (status && ui.start !== undefined) status.textContent = ui.start;
  const req = client.request(method, params, {
    onProgress: (p) => {
      if (bar && p.total) {
        bar.max = p.total;
        bar.value = p.done;
      }
      const text = (ui.progress ?? progressText)(p);
      if (status && text !== undefined) status.textContent = text;
    },
  });
  if (cancel) {
    cancel.onclick = () => {
      if (ui.stopping) cancel.disabled = true;
      req.cancel();
    };
  }
  try {
    const result = await req.promise;
    const text = ui.done?.(result);
    if (status && text !== undefined) status.textContent = text;
    return result;
  } catch (err) {
    if (ui.error) ui.error(err);
    else if (status) {
      const cancelled = err instanceof CancelledError && ui.cancelled !== null;
      status.textContent = cancelled ? (ui.cancelled ?? 'Cancelled.') : `${ui.failed ?? 'Failed'}: ${err.message}`;
    }
    if (ui.rethrow) throw err;
    return undefined;
  } finally {
    ui.busy?.(false);
    if (cancel) {
      cancel.hidden = true;
      if (ui.stopping) cancel.disabled = false;
    }
    if (bar) bar.hidden = true;
  }
}
