// Regenerates docs/screenshot.png (the README's picture of the app) from a
// built web/: node scripts/screenshot.mjs
import { join } from 'node:path';
import { launch, openApp, root, startServer } from '../tests/harness.mjs';

const server = await startServer();
const browser = await launch({ webgpu: true });
try {
  const { page } = await openApp(browser, server.url);
  await page.setViewportSize({ width: 1100, height: 1000 });
  await page.waitForSelector('body[data-model=loaded]');
  await page.click('#quant-run');
  await page.waitForFunction(() => /Quantized to/.test(document.querySelector('#quant-status').textContent));
  await page.screenshot({ path: join(root, 'docs', 'screenshot.png') });
} finally {
  await browser.close();
  server.close();
}
