// Regenerates the README's pictures of each view from a built web/:
//   node scripts/screenshot.mjs
// docs/load.png (the open model), docs/quantize.png (Q4_0 results and
// charts), docs/compare.png (side-by-side generation and the metrics),
// docs/teach.png (the teaching page).
import { join } from 'node:path';
import { launch, openApp, root, startServer } from '../tests/harness.mjs';

const shot = (name) => join(root, 'docs', `${name}.png`);
const server = await startServer();
const browser = await launch({ webgpu: true });
try {
  const { page } = await openApp(browser, server.url);
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.waitForSelector('body[data-model=loaded]');
  await page.screenshot({ path: shot('load') });

  await page.selectOption('#quant-type', 'Q4_0');
  await page.click('#quant-run');
  await page.waitForFunction(() => /Quantized to/.test(document.querySelector('#quant-status').textContent), null, { timeout: 60_000 });
  await page.waitForSelector('#view-chart canvas');
  // the table is long: the controls, totals and charts are the view
  const top = await page.locator('#quantize').boundingBox();
  const charts = await page.locator('#quant-charts').boundingBox();
  await page.screenshot({ path: shot('quantize'), fullPage: true, clip: { x: top.x, y: top.y, width: top.width, height: charts.y + charts.height - top.y + 12 } });

  await page.fill('#gen-tokens', '96');
  await page.click('#gen-run');
  await page.waitForFunction(() => document.querySelector('#gen-status').textContent === 'Done.', null, { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelector('#eval-text').value.length > 0);
  await page.selectOption('#eval-ctx', '64');
  await page.click('#eval-run');
  await page.waitForFunction(() => document.querySelector('#eval-status').textContent === 'Done.', null, { timeout: 120_000 });
  await page.locator('#compare').screenshot({ path: shot('compare') });

  await page.goto(`${server.url}teach.html`);
  await page.waitForSelector('body[data-ready=yes]');
  await page.screenshot({ path: shot('teach') });
} finally {
  await browser.close();
  server.close();
}
