// Remakes demo/screenshot.png (the README's picture of the page): the built demo (run
// `node scripts/build.mjs` first) in headless Chromium with the project's flags, on the bundled
// gpt2-tiny: threshold 1, the MLP Δ's dimensions past it (the first one picked), head 1 of layer 0 ablated and
// compared, five generated tokens. Usage: node demo/screenshot.mjs [out.png]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { serveDir } from './serve.mjs';

const out = process.argv[2] ?? 'demo/screenshot.png';
const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-shot-'));
await build({ entryPoints: ['src/node/browser.ts'], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: join(dir, 'b.mjs'), logLevel: 'warning' });
const { CHROMIUM_ARGS, chromiumPath } = await import(pathToFileURL(join(dir, 'b.mjs')).href);
rmSync(dir, { recursive: true, force: true });

const server = await serveDir('dist/demo', 0);
const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
const ready = (page, after) => page.waitForFunction((n) => document.body.dataset.ready === '1' && Number(document.body.dataset.draws ?? 0) > n, after, { timeout: 180_000 });
const draws = (page) => page.evaluate(() => Number(document.body.dataset.draws ?? 0));
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1300 } });
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto(`${server.url}#threshold=1&tensor=mlp&head=1&edits=${encodeURIComponent(JSON.stringify([{ at: 'h.0.attn.c_proj.input', op: 'zero', heads: [1] }]))}`);
  await ready(page, 0);
  const chip = page.locator('#dim-outliers button').first();
  if (await chip.count()) {
    const m = await draws(page);
    await chip.click();
    await page.waitForFunction(() => document.getElementById('dim-detail')?.dataset.dim !== '-1');
    await page.waitForFunction(() => document.body.dataset.ready === '1');
    void m;
  }
  await page.fill('#gen-tokens', '5');
  await page.fill('#gen-temp', '0');
  const n = await draws(page);
  await page.locator('#generate-run').click();
  await ready(page, n);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
}
