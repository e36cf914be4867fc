// Unit test: every module the pages load is in the service worker's offline
// list (web/sw.js SHELL), or the app would not open offline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');

// The relative modules `file` imports statically, and theirs (web/vendor is
// copied at build and imports nothing of ours: not read).
function modules(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  if (file.startsWith('vendor/')) return seen;
  const src = readFileSync(join(web, file), 'utf8');
  for (const [, spec] of src.matchAll(/^\s*import\s[^'"]*?from\s+'(\.[^']+)'/gm)) {
    modules(relative(web, normalize(join(web, dirname(file), spec))), seen);
  }
  return seen;
}

test('the offline list holds every module the pages and the worker import', () => {
  const sw = readFileSync(join(web, 'sw.js'), 'utf8');
  const shell = new Set([...sw.match(/const SHELL = \[([^\]]*)\]/)[1].matchAll(/'([^']+)'/g)].map((m) => m[1]));
  const needed = new Set([...modules('app.js'), ...modules('teach.js'), 'worker.js']);
  assert.ok(needed.has('views/quantize.js') && needed.has('job.js') && needed.has('vendor/uPlot.esm.js'), [...needed].join(', '));
  const missing = [...needed].filter((m) => !shell.has(m));
  assert.deepEqual(missing, []);
});
