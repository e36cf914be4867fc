// Unit tests for web/job.js (node --test web/test/): the controls around a
// worker job, with a fake client and plain objects for the elements.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError } from '../client.js';
import { runJob } from '../job.js';

// A client whose one request the test drives: progress(p), finish(result),
// fail(err); `cancels` counts cancel() calls.
function fakeClient() {
  const c = { cancels: 0, calls: [] };
  c.request = (method, params, { onProgress }) => {
    c.calls.push({ method, params });
    const promise = new Promise((resolve, reject) => {
      c.finish = resolve;
      c.fail = reject;
    });
    c.progress = onProgress;
    return { promise, cancel: () => c.cancels++ };
  };
  return c;
}

const el = (props = {}) => ({ hidden: true, textContent: '', disabled: false, attrs: { value: '0' }, removeAttribute(a) { delete this.attrs[a]; }, ...props });

test('shows the controls while the job runs, the default progress and the result', async () => {
  const client = fakeClient();
  const ui = { status: el(), bar: el({ value: 5, max: 1 }), cancel: el(), start: 'Starting…' };
  const busy = [];
  ui.busy = (on) => busy.push(on);
  ui.done = (rows) => `Statistics for ${rows.length} tensors.`;
  const job = runJob(client, 'tensorStats', { a: 1 }, ui);
  assert.deepEqual(client.calls, [{ method: 'tensorStats', params: { a: 1 } }]);
  assert.deepEqual(busy, [true]);
  assert.equal(ui.cancel.hidden, false);
  assert.equal(ui.bar.hidden, false);
  assert.equal(ui.bar.value, 0, 'the bar starts at 0');
  assert.equal(ui.status.textContent, 'Starting…');
  client.progress({ done: 3, total: 47, label: 'blk.0.attn_q.weight' });
  assert.equal(ui.bar.max, 47);
  assert.equal(ui.bar.value, 3);
  assert.equal(ui.status.textContent, '3 / 47: blk.0.attn_q.weight');
  ui.cancel.onclick();
  assert.equal(client.cancels, 1);
  assert.equal(ui.cancel.disabled, false, 'only a stopping job disables its button');
  client.finish([1, 2]);
  assert.deepEqual(await job, [1, 2]);
  assert.equal(ui.status.textContent, 'Statistics for 2 tensors.');
  assert.deepEqual(busy, [true, false]);
  assert.equal(ui.cancel.hidden, true);
  assert.equal(ui.bar.hidden, true);
});

test('a cancel says so; other errors say what failed', async () => {
  let client = fakeClient();
  const status = el();
  let job = runJob(client, 'quantize', {}, { status, failed: 'Quantization failed' });
  client.fail(new CancelledError());
  assert.equal(await job, undefined);
  assert.equal(status.textContent, 'Cancelled.');

  client = fakeClient();
  job = runJob(client, 'quantize', {}, { status, failed: 'Quantization failed' });
  client.fail(new Error('no model is open'));
  await job;
  assert.equal(status.textContent, 'Quantization failed: no model is open');

  // cancelled: null reports a cancel like any error; the default prefix is "Failed"
  client = fakeClient();
  job = runJob(client, 'compareGenerate', {}, { status, failed: 'Generation failed', cancelled: null });
  client.fail(new CancelledError());
  await job;
  assert.equal(status.textContent, 'Generation failed: cancelled');
  client = fakeClient();
  job = runJob(client, 'x', {}, { status });
  client.fail(new Error('boom'));
  await job;
  assert.equal(status.textContent, 'Failed: boom');
});

test('an error in done is reported like the worker\'s, and the controls still reset', async () => {
  const client = fakeClient();
  const ui = { status: el(), cancel: el(), bar: el(), failed: 'Quantization failed' };
  const job = runJob(client, 'quantize', {}, { ...ui, done: () => { throw new Error('bad report'); } });
  client.finish({});
  assert.equal(await job, undefined);
  assert.equal(ui.status.textContent, 'Quantization failed: bad report');
  assert.equal(ui.cancel.hidden, true);
  assert.equal(ui.bar.hidden, true);
});

test('custom progress and error, an indeterminate bar, a stopping button, rethrow', async () => {
  const client = fakeClient();
  const ui = { status: el(), bar: el(), cancel: el(), barFrom: null, stopping: true };
  const errors = [];
  const job = runJob(client, 'openUrl', {}, {
    ...ui,
    progress: ({ done }) => `${done} bytes`,
    error: (err) => errors.push(err.message),
    rethrow: true,
  });
  assert.equal('value' in ui.bar.attrs, false, 'indeterminate: no value');
  client.progress({ done: 10, total: 0 });
  assert.equal(ui.status.textContent, '10 bytes');
  assert.equal(ui.bar.max, undefined, 'no total: the bar stays indeterminate');
  ui.cancel.onclick();
  assert.equal(ui.cancel.disabled, true);
  client.fail(new Error('HTTP 404'));
  await assert.rejects(job, { message: 'HTTP 404' });
  assert.deepEqual(errors, ['HTTP 404']);
  assert.equal(ui.status.textContent, '10 bytes', 'error() replaces the status text');
  assert.equal(ui.cancel.disabled, false);
  assert.equal(ui.cancel.hidden, true);
});

test("barFrom 'keep' leaves the bar where it was; progress text undefined leaves the status", async () => {
  const client = fakeClient();
  const bar = el({ value: 7, max: 7 });
  const status = el({ textContent: 'Ready.' });
  const job = runJob(client, 'benchQuant', {}, { bar, status, barFrom: 'keep', progress: () => undefined });
  assert.equal(bar.value, 7);
  client.progress({ done: 1, total: 2, label: 'q4_0' });
  assert.equal(status.textContent, 'Ready.');
  assert.equal(bar.value, 1);
  client.finish({});
  await job;
  assert.equal(status.textContent, 'Ready.', 'no done: the status stays');
});
