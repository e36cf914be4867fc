// End-to-end: the app in real headless Chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, openApp, root, startServer } from './harness.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.close());

describe('with WebGPU (SwiftShader) and wasm SIMD', () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: true });
  });
  after(() => browser?.close());

  test('opens the bundled model and shows its metadata, with no console errors', async () => {
    const { page, errors } = await openApp(browser, server.url);
    assert.equal(await page.getAttribute('body', 'data-ready'), 'yes');
    await page.waitForSelector('body[data-model=loaded]', { timeout: 30_000 });
    assert.equal(await page.textContent('#model-name'), 'stories260K');
    assert.equal(await page.textContent('#model-arch'), 'llama');
    assert.equal(await page.textContent('#model-params'), '260,032');
    assert.equal(await page.textContent('#model-tensors'), '47');
    assert.equal(await page.textContent('#model-layers'), '5');
    assert.equal(await page.locator('#tensor-table tbody tr').count(), 47);
    // Served cross-origin isolated (scripts/serve.mjs): the threads build.
    assert.equal(await page.getAttribute('body', 'data-variant'), 'threads');
    assert.equal(await page.getAttribute('body', 'data-webgpu'), 'yes');
    assert.match(await page.textContent('#engine-status'), /WebGPU: .*shader-f16/);
    assert.equal(await page.locator('#engine-notes li').count(), 0);
    assert.deepEqual(errors, []);
  });

  test('computes tensor statistics in the worker with progress', async () => {
    const { page, errors } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    await page.click('#stats-run');
    await page.waitForFunction(() => /Statistics for 47 tensors/.test(document.querySelector('#stats-status').textContent));
    // token_embd.weight of stories260K: values are finite and spread around 0.
    const row = page.locator('#tensor-table tr[data-name="token_embd.weight"] td');
    const min = Number(await row.nth(4).textContent());
    const max = Number(await row.nth(5).textContent());
    assert.ok(min < 0 && max > 0 && min > -100 && max < 100, `min ${min} max ${max}`);
    assert.deepEqual(errors, []);
  });

  test('quantizes the model to Q4_K_M in the page, byte for byte as the native CLI does', async () => {
    const { page, errors } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    assert.equal(await page.inputValue('#quant-type'), 'Q4_K_M');
    await page.click('#quant-run');
    await page.waitForFunction(() => /Quantized to Q4_K_M/.test(document.querySelector('#quant-status').textContent), null, { timeout: 60_000 });
    assert.equal(await page.locator('#quant-table tbody tr').count(), 47);
    const row = page.locator('#quant-table tr[data-name="blk.0.ffn_down.weight"] td');
    assert.equal(await row.nth(2).textContent(), 'f32');
    assert.match(await page.textContent('#quant-totals'), /47 tensors: .* bits per weight/);
    // the charts: SQNR per tensor, and the largest quantized tensor before / after
    await page.waitForSelector('#sqnr-chart canvas');
    await page.waitForSelector('#view-chart[data-tensor="token_embd.weight"] canvas');
    assert.match(await page.textContent('#view-status'), /SQNR \d+\.\d+ dB/);
    const link = page.locator('#quant-download');
    assert.equal(await link.getAttribute('download'), 'stories260K-Q4_K_M.gguf');
    const download = await page.evaluate(async () => {
      const res = await fetch(document.querySelector('#quant-download').href);
      return Array.from(new Uint8Array(await res.arrayBuffer()));
    });
    // the native CLI on the same file (built by scripts/test.sh before these tests)
    const cli = join(root, 'target', 'debug', 'webquant');
    assert.ok(existsSync(cli), `${cli} is missing: run cargo build --bin webquant`);
    const dir = mkdtempSync(join(tmpdir(), 'webquant-e2e-'));
    try {
      const out = join(dir, 'q.gguf');
      const r = spawnSync(cli, ['quantize', join(root, 'web/models/stories260K.gguf'), out, '--type', 'Q4_K_M']);
      assert.equal(r.status, 0, String(r.stderr));
      assert.ok(Buffer.from(download).equals(readFileSync(out)), 'the page and the CLI wrote different files');
      // llama.cpp's own reader (PyPI gguf, installed by scripts/test.sh) reads the download
      const saved = join(dir, 'download.gguf');
      writeFileSync(saved, Buffer.from(download));
      const py = join(root, '.venv-test', 'bin', 'python');
      const read = spawnSync(py, ['-c', [
        'import sys, collections; from gguf import GGUFReader',
        'r = GGUFReader(sys.argv[1])',
        'print(len(r.tensors), str(r.fields["general.architecture"].contents()), dict(sorted(collections.Counter(t.tensor_type.name for t in r.tensors).items())))',
      ].join('\n'), saved], { encoding: 'utf8' });
      assert.equal(read.status, 0, read.stderr);
      const [count, arch] = read.stdout.trim().split(' ');
      assert.equal(count, '47');
      assert.equal(arch, 'llama');
      // stories260K's rows of 64 are not whole k-quant blocks: Q4_K_M falls back as llama.cpp does
      assert.match(read.stdout, /\{'F16': 5, 'F32': 11, 'Q5_0': 28, 'Q8_0': 3\}/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(errors, []);
  });

  test('opens a model from a URL with progress; 404, unreachable and non-GGUF URLs give plain errors', async () => {
    const { page, errors } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    const open = async (url) => {
      await page.fill('#url-input', url);
      await page.click('#url-open');
      await page.waitForFunction(() => !document.querySelector('#url-open').disabled);
    };
    await open(`${server.url}models/missing.gguf`);
    assert.match(await page.textContent('#model-error'), /HTTP 404/);
    await open('http://127.0.0.1:9/model.gguf');
    assert.match(await page.textContent('#model-error'), /unreachable or does not allow downloads from other sites \(CORS\)/);
    await open(`${server.url}favicon.svg`);
    assert.match(await page.textContent('#model-error'), /GGUF/);
    assert.equal(await page.textContent('#model-name'), 'stories260K', 'the open model stays');
    await open(`${server.url}models/stories260K.gguf`);
    assert.equal(await page.isHidden('#model-error'), true);
    assert.match(await page.textContent('#url-status'), /Opened stories260K.gguf/);
    // the browser logs failed loads itself; the page adds no errors of its own
    assert.deepEqual(errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e)), []);
  });

  test('a GGUF dropped on the page is opened', async () => {
    const { page, errors } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    const bytes = Array.from(readFileSync(join(root, 'web/models/stories260K.gguf')));
    await page.evaluate((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], 'dropped.gguf'));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await page.waitForFunction(() => document.querySelector('#model-source').textContent === 'dropped.gguf');
    assert.equal(await page.textContent('#model-tensors'), '47');
    assert.equal(await page.isHidden('#model-error'), true);
    assert.deepEqual(errors, []);
  });

  test('a request cancelled right after it starts ends as cancelled, and the worker keeps working', async () => {
    const { page, errors } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    const outcome = await page.evaluate(async () => {
      const { client } = window.webquant;
      const req = client.request('tensorStats');
      req.cancel();
      let first;
      try {
        await req.promise;
        first = 'finished';
      } catch (e) {
        first = e.name;
      }
      const rows = await client.call('tensorStats');
      return { first, after: rows.length };
    });
    assert.deepEqual(outcome, { first: 'CancelledError', after: 47 });
    assert.deepEqual(errors, []);
  });

  test('the quantized file is streamed to disk through the File System Access API, or downloaded as a Blob without it', async () => {
    // A save picker that records what is written, as a real one writes a file.
    const withPicker = () => {
      window.__saved = { chunks: [], name: null, closed: false };
      window.showSaveFilePicker = async ({ suggestedName }) => {
        window.__saved.name = suggestedName;
        return {
          name: suggestedName,
          createWritable: async () => new WritableStream({
            write(chunk) {
              window.__saved.chunks.push(new Uint8Array(chunk).slice());
            },
            close() {
              window.__saved.closed = true;
            },
          }),
        };
      };
    };
    const { page, errors } = await openApp(browser, server.url, { initScript: withPicker });
    await page.waitForSelector('body[data-model=loaded]');
    await page.selectOption('#quant-type', 'Q4_0');
    await page.click('#quant-run');
    await page.waitForFunction(() => /Quantized to Q4_0/.test(document.querySelector('#quant-status').textContent), null, { timeout: 60_000 });
    assert.equal(await page.isVisible('#quant-download'), false);
    await page.click('#quant-save');
    await page.waitForFunction(() => /^Saved/.test(document.querySelector('#save-status').textContent));
    // what reached the "disk" is the quantized file, byte for byte
    const saved = await page.evaluate(async () => {
      const blob = new Uint8Array(await (await fetch(document.querySelector('#quant-download').href)).arrayBuffer());
      const bytes = new Uint8Array(await new Blob(window.__saved.chunks).arrayBuffer());
      const same = bytes.length === blob.length && bytes.every((b, i) => b === blob[i]);
      return { name: window.__saved.name, closed: window.__saved.closed, length: bytes.length, same };
    });
    assert.equal(saved.name, 'stories260K-Q4_0.gguf');
    assert.equal(saved.closed, true);
    assert.ok(saved.length > 100_000);
    assert.equal(saved.same, true);
    assert.match(await page.textContent('#save-status'), /Saved stories260K-Q4_0\.gguf \(/);

    // Without the API (Firefox, Safari): a download link with the same name.
    const noPicker = () => {
      delete window.showSaveFilePicker;
    };
    const { page: page2 } = await openApp(browser, server.url, { initScript: noPicker });
    await page2.waitForSelector('body[data-model=loaded]');
    await page2.selectOption('#quant-type', 'Q4_0');
    await page2.click('#quant-run');
    await page2.waitForSelector('#quant-download:not([hidden])', { timeout: 60_000 });
    assert.equal(await page2.isVisible('#quant-save'), false);
    assert.equal(await page2.getAttribute('#quant-download', 'download'), 'stories260K-Q4_0.gguf');
    assert.deepEqual(errors, []);
  });

  test('a truncated GGUF gives a plain error, and the app goes on working', async () => {
    const { page } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    const bytes = readFileSync(join(root, 'web/models/stories260K.gguf'));
    await page.setInputFiles('#file-input', { name: 'cut.gguf', mimeType: 'application/octet-stream', buffer: bytes.subarray(0, 300_000) });
    await page.waitForSelector('#model-error:not([hidden])');
    assert.match(await page.textContent('#model-error'), /^cut\.gguf could not be opened: .*truncated or corrupt/);
    assert.equal(await page.textContent('#model-name'), 'stories260K');
    // the model that stayed open still quantizes
    await page.selectOption('#quant-type', 'Q8_0');
    await page.click('#quant-run');
    await page.waitForFunction(() => /Quantized to Q8_0/.test(document.querySelector('#quant-status').textContent), null, { timeout: 60_000 });
  });

  test('a file that is not GGUF gives a plain error and the model stays open', async () => {
    const { page } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    await page.setInputFiles('#file-input', { name: 'notes.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not a model file at all') });
    await page.waitForSelector('#model-error:not([hidden])');
    assert.match(await page.textContent('#model-error'), /notes\.gguf could not be opened: GGUF file: .*magic/);
    assert.equal(await page.textContent('#model-name'), 'stories260K');
  });
});

describe('without WebGPU', () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: false });
  });
  after(() => browser?.close());

  test('the page works on the CPU and says WebGPU is missing', async () => {
    const { page, errors } = await openApp(browser, server.url);
    await page.waitForSelector('body[data-model=loaded]');
    assert.equal(await page.getAttribute('body', 'data-webgpu'), 'no');
    assert.match(await page.textContent('#engine-notes'), /WebGPU is not available here .*Models run on the CPU/);
    assert.equal(await page.textContent('#model-params'), '260,032');
    assert.deepEqual(errors, []);
  });
});

describe('without wasm SIMD', () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: true });
  });
  after(() => browser?.close());

  test('the page loads the plain build and says SIMD is missing', async () => {
    // Make this page's WebAssembly refuse SIMD modules, as a browser without
    // SIMD does: validate() says false and compiling one throws.
    const initScript = () => {
      const validate = WebAssembly.validate;
      WebAssembly.validate = (bytes) => {
        const b = new Uint8Array(bytes.buffer ?? bytes);
        // 0xfd is the SIMD opcode prefix; the probe module uses it.
        return b.includes(0xfd) && b.length < 64 ? false : validate(bytes);
      };
    };
    const { page, errors } = await openApp(browser, server.url, { initScript });
    await page.waitForSelector('body[data-model=loaded]');
    assert.equal(await page.getAttribute('body', 'data-variant'), 'plain');
    assert.match(await page.textContent('#engine-notes'), /does not support WebAssembly SIMD/);
    assert.match(await page.textContent('#engine-status'), /no SIMD/);
    assert.equal(await page.textContent('#model-tensors'), '47');
    assert.deepEqual(errors, []);
  });
});
