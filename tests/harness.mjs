// Shared set-up for the end-to-end tests: serve web/ on a free port and
// launch Debian's headless Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CHROMIUM = '/usr/bin/chromium';

// Flags seen to work for headless Chromium here: no sandbox as root, no
// background traffic; WebGPU only when a test asks for it.
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// `isolation: false` serves without the COOP/COEP headers (scripts/serve.mjs
// --no-isolation): the page is then not cross-origin isolated.
export async function startServer({ isolation = true } = {}) {
  if (!existsSync(join(root, 'web', 'pkg', 'simd', 'webquant.js'))) {
    throw new Error('web/pkg is missing: build the app first (node scripts/build-web.mjs)');
  }
  const flags = ['--port', '0', ...(isolation ? [] : ['--no-isolation'])];
  const proc = spawn(process.execPath, [join(root, 'scripts', 'serve.mjs'), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolveUrl, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/[^\s]+\//);
      if (m) resolveUrl(m[0]);
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, close: () => proc.kill() };
}

export async function launch({ webgpu = true } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  const args = [...BASE_ARGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

// One server and one headless Chromium for a test file: started before its
// tests, closed after them. Use `app.browser` and `app.url` inside tests.
// Options: `webgpu` (launch), `isolation` (startServer).
export function useApp(options = {}) {
  const app = {};
  before(async () => {
    app.server = await startServer({ isolation: options.isolation ?? true });
    app.url = app.server.url;
    app.browser = await launch(options);
  });
  after(async () => {
    await app.browser?.close();
    app.server?.close();
  });
  return app;
}

// Open the app and collect every console error and uncaught exception (the
// page's and its worker's) so a test can assert there were none.
export async function openApp(browser, url, { initScript } = {}) {
  const context = await browser.newContext();
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location()?.url ?? ''})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('worker', (w) => {
    w.on('console', (m) => {
      if (m.type() === 'error') errors.push(`worker console: ${m.text()}`);
    });
  });
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 60_000 });
  return { page, errors, context };
}
