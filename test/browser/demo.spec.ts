// The demo page (dist/demo, built by `node scripts/build.mjs`) in headless Chromium:
// the bundled gpt2-tiny on the default text, the four r values against the CLI's
// `gpt2-taps residuals` (Node backend, parity-tested taps), point counts against the
// mask, layer/threshold changes, the all-layers view, bad model files, hover, lasso
// and the exports.
import { test, expect, type Page } from '@playwright/test';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { serve, type Server } from '../../src/node/serve.js';
import { CSP } from '../../demo/csp.mjs';
import { draws, lassoMiddle, openDemo as open, waitForDraw, watchErrors } from './demo-helpers.js';
import { encode } from '../../src/tokenizer.js';
import { bytesSource, readAllTensors, writeSafetensors, type WriteTensor } from '../../src/checkpoint/safetensors.js';

const TEXT = "Plants make fantastic pets because they don't leave a mess after you feed them.";
const TOL = 1e-3;

interface RefLayer { layer: number; kept: number; total: number; rLayers: number; rDeltas: number; rReconstruction: number; rDifference: number }
interface Ref { tokens: number; threshold: number; layers: RefLayer[] }

async function cliResiduals(threshold: number): Promise<Ref> {
  const { stdout } = await promisify(execFile)('node',
    ['bin/gpt2-taps.js', 'residuals', '--json', '--text', TEXT, '--threshold', String(threshold)], { timeout: 120_000 });
  return JSON.parse(stdout) as Ref;
}

let server: Server;
const ref: Record<number, Ref> = {};

test.beforeAll(async () => {
  for (const f of ['dist/demo/index.html', 'dist/demo/models/gpt2-tiny/model.safetensors', 'dist/cli.js']) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`node scripts/build.mjs\` first`);
  }
  server = await serve({ mounts: { '/': 'dist/demo' }, headers: { 'content-security-policy': CSP } }); // as `npm start` serves it
  [ref[30], ref[0.5]] = await Promise.all([cliResiduals(30), cliResiduals(0.5)]);
});
test.afterAll(async () => server?.close());

const openDemo = (page: Page) => open(page, `${server.url}/`);

interface Shown {
  figure: Record<string, string>;
  panels: { r: number; points: number; title: string; hidden: boolean; rByLayer?: number[] }[];
}

async function shown(page: Page): Promise<Shown> {
  return page.evaluate(() => ({
    figure: { ...document.getElementById('figure')!.dataset } as Record<string, string>,
    panels: Array.from(document.querySelectorAll<HTMLElement>('#figure .panel')).map((p) => ({
      r: Number(p.dataset.r),
      points: Number(p.dataset.points),
      title: p.querySelector('.panel-title')!.textContent ?? '',
      hidden: p.hidden,
      rByLayer: p.dataset.rByLayer ? (JSON.parse(p.dataset.rByLayer) as number[]) : undefined,
    })),
  }));
}

/** The 2×2 figure of `layer` equals the CLI's residual statistics at `threshold`. */
async function expectLayer(page: Page, layer: number, threshold: number): Promise<void> {
  const s = await shown(page);
  const want = ref[threshold].layers[layer];
  expect(s.figure.view).toBe('layer');
  expect(s.figure.layer).toBe(String(layer));
  expect(Number(s.figure.threshold)).toBe(threshold);
  expect(Number(s.figure.total)).toBe(want.total);
  expect(Number(s.figure.kept)).toBe(want.kept);
  expect(Number(s.figure.masked)).toBe(want.total - want.kept);
  expect(Number(s.figure.points)).toBe(4 * want.kept);
  const wantR = [want.rLayers, want.rDeltas, want.rReconstruction, want.rDifference];
  s.panels.forEach((p, i) => {
    expect(p.hidden).toBe(false);
    expect(p.points).toBe(want.kept); // T·D minus the masked entries, in every panel
    expect(Math.abs(p.r - wantR[i]), `panel ${i + 1}: page r ${p.r} vs residuals r ${wantR[i]}`).toBeLessThanOrEqual(TOL);
    const m = /r = (-?\d\.\d{3})\b/.exec(p.title);
    expect(m, `panel ${i + 1} title "${p.title}"`).not.toBeNull();
    expect(Math.abs(Number(m![1]) - wantR[i])).toBeLessThanOrEqual(TOL);
    if (i !== 1) expect(p.title).toContain(`layer ${layer}`);
  });
  expect(s.panels[2].title).toContain('r = 1.000');
}

test('the bundled model on the default text: four r values equal gpt2-taps residuals, panel 3 shows r = 1.000', async ({ page }, testInfo) => {
  const errors = await openDemo(page);
  await expect(page.locator('#model-status')).toContainText('bundled gpt2-tiny');
  await expect(page.locator('#model-note')).toContainText('RANDOM weights');
  await expect(page.locator('#token-count')).toHaveText(`${ref[30].tokens} / 256 tokens (n_positions)`);
  await expectLayer(page, 0, 30);
  await expect(page.locator('[role="alert"]')).toBeHidden();
  mkdirSync('test-results', { recursive: true });
  const png = await page.screenshot({ path: 'test-results/demo.png', fullPage: true });
  await testInfo.attach('demo page', { body: png, contentType: 'image/png' });
  expect(errors).toEqual([]);
});

test('changing layer and threshold updates titles and counts', async ({ page }) => {
  const errors = await openDemo(page);
  const last = ref[30].layers.length - 1;
  let n = await draws(page);
  await page.selectOption('#layer', String(last));
  await waitForDraw(page, n);
  await expectLayer(page, last, 30);
  await expect(page.locator('#last-layer-note')).toBeVisible();
  await expect(page.locator('#last-layer-note')).toContainText('ln_f');

  n = await draws(page);
  await page.fill('#threshold', '0.5');
  await page.locator('#threshold').dispatchEvent('change');
  await waitForDraw(page, n);
  await expectLayer(page, last, 0.5);
  expect(ref[0.5].layers[last].kept).toBeLessThan(ref[0.5].layers[last].total); // the mask bites

  n = await draws(page);
  await page.selectOption('#layer', '1');
  await waitForDraw(page, n);
  await expectLayer(page, 1, 0.5);
  await expect(page.locator('#last-layer-note')).toBeHidden();
  expect(errors).toEqual([]);
});

test('all-layers view: every layer in one plot, coloured by layer', async ({ page }) => {
  const errors = await openDemo(page);
  const n = await draws(page);
  await page.selectOption('#view', 'all-1');
  await waitForDraw(page, n);
  const s = await shown(page);
  const layers = ref[30].layers;
  expect(s.figure.view).toBe('all-1');
  expect(Number(s.figure.points)).toBe(layers.reduce((a, l) => a + l.kept, 0));
  expect(s.panels[0].points).toBe(Number(s.figure.points));
  expect(s.panels.slice(1).every((p) => p.hidden)).toBe(true);
  expect(s.panels[0].rByLayer).toHaveLength(layers.length);
  s.panels[0].rByLayer!.forEach((r, l) => expect(Math.abs(r - layers[l].rLayers)).toBeLessThanOrEqual(TOL));
  await expect(page.locator('.panel[data-panel="1"] .legend-item')).toHaveCount(layers.length);
  expect(errors).toEqual([]);
});

test('a bad model file shows an error banner and the page keeps working', async ({ page }) => {
  const errors = await openDemo(page);
  const good = readFileSync('weights/gpt2-tiny/model.safetensors');
  const banner = page.locator('[role="alert"]');

  await page.setInputFiles('#file', { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: good.subarray(0, 100_000) });
  await expect(banner).toBeVisible({ timeout: 60_000 });
  await expect(banner).not.toHaveText('');
  const truncatedMessage = await banner.textContent();

  await page.locator('#banner-close').click();
  await expect(banner).toBeHidden();
  await page.setInputFiles('#file', { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not a safetensors file, just text\n') });
  await expect(banner).toBeVisible({ timeout: 60_000 });
  await expect(banner).not.toHaveText('');
  expect(await banner.textContent()).not.toBe(truncatedMessage);

  // The bundled model is still loaded, and a new run draws as before.
  await expect(page.locator('#model-status')).toContainText('bundled gpt2-tiny');
  await page.waitForFunction(() => document.body.dataset.ready === '1');
  const n = await draws(page);
  await page.locator('#run').click();
  await waitForDraw(page, n);
  await expectLayer(page, 0, 30);
  await expect(banner).toBeHidden();

  // A good local file (with its config.json) replaces the model and draws the same figure.
  const m = await draws(page);
  await page.setInputFiles('#file', [
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: good },
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync('weights/gpt2-tiny/config.json') },
  ]);
  await waitForDraw(page, m);
  await expect(page.locator('#model-status')).toContainText('local file model.safetensors + config.json');
  await expectLayer(page, 0, 30);
  expect(errors).toEqual([]);
});

test('hover shows the token, position, dimension, layer and values; lasso summarises; exports download', async ({ page }) => {
  const errors = await openDemo(page);
  // Hover the first point of panel 1 (entry 0: token 0, dimension 0).
  const pos = await page.evaluate(() => (window as unknown as { demo: { screenPosition: (p: number, j: number) => { x: number; y: number } } }).demo.screenPosition(0, 0));
  await page.mouse.move(pos.x, pos.y);
  const tooltip = page.locator('#tooltip');
  await expect(tooltip).toBeVisible({ timeout: 10_000 });
  await expect(tooltip).toContainText('position');
  await expect(tooltip).toContainText('dimension');
  await expect(tooltip).toContainText('layer 0');

  // Lasso (lasso mode) around the middle of panel 3: points on the identity line get selected.
  await lassoMiddle(page, 3);
  await expect(page.locator('#selection-body')).toContainText('distinct tokens');
  const selected = await page.evaluate(() => Number(document.getElementById('figure')!.dataset.selected));
  expect(selected).toBeGreaterThan(0);

  const [tapsDownload] = await Promise.all([page.waitForEvent('download'), page.locator('#export-taps').click()]);
  const taps = readFileSync(await tapsDownload.path());
  const headerLength = Number(taps.readBigUInt64LE(0));
  const header = JSON.parse(taps.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { shape: number[] }>;
  expect(header.input_ids.shape).toEqual([ref[30].tokens]);
  expect(header['h.0.attn.c_proj'].shape).toEqual([ref[30].tokens, 128]);

  const [pngDownload] = await Promise.all([page.waitForEvent('download'), page.locator('#export-png').click()]);
  const png = readFileSync(await pngDownload.path());
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(png.length).toBeGreaterThan(10_000);
  expect(errors).toEqual([]);
});

/** A repo the mocked hub serves: its commit and files. */
interface HubRepo { commit: string; files: Record<string, Buffer> }

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1Hex = (b: Buffer) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');
const commitOf = (repo: string) => createHash('sha1').update(`commit ${repo}`).digest('hex');

/** The fixture split into two shards, with its index. */
async function shardedFixture(model: Buffer, config: Buffer): Promise<Record<string, Buffer>> {
  const all = await readAllTensors(bytesSource(model));
  const tensors: WriteTensor[] = [...all.header.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: all.floats.get(t.name)!.data }));
  const half = Math.ceil(tensors.length / 2);
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap = Object.fromEntries(tensors.map((t, i) => [t.name, names[i < half ? 0 : 1]]));
  return {
    'config.json': config,
    'model.safetensors.index.json': Buffer.from(JSON.stringify({ metadata: {}, weight_map: weightMap })),
    [names[0]]: Buffer.from(writeSafetensors(tensors.slice(0, half))),
    [names[1]]: Buffer.from(writeSafetensors(tensors.slice(half))),
  };
}

/**
 * Imitates https://huggingface.co for the page, at the endpoints @huggingface/hub calls:
 * /api/models/<repo>/revision/<rev> (the commit), /api/models/<repo>/tree/<rev> (sizes, LFS
 * sha256, git oids; `lfsSha256` overrides what it states), /<repo>/resolve/<rev>/<file> (the
 * bytes, a 1-byte Range probe first). Returns the GETs of whole files, by path.
 */
async function mockHub(page: Page, repos: Record<string, HubRepo>, state: { lfsSha256?: string; lfsSize?: number } = {}): Promise<string[]> {
  const downloads: string[] = [];
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-allow-headers': '*',
    'access-control-expose-headers': 'content-range, content-length, etag, x-linked-etag, x-linked-size, x-repo-commit, x-error-code',
  };
  await page.route('https://huggingface.co/**', async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    if (req.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
    const json = (status: number, body: unknown) => route.fulfill({ status, headers: cors, contentType: 'application/json', body: JSON.stringify(body) });
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/?]+)/.exec(url.pathname);
    if (m) {
      const repo = repos[m[1]];
      if (!repo) return json(401, { error: 'Repository not found' });
      if (m[3] !== 'main' && m[3] !== repo.commit) return json(404, { error: 'Invalid rev id' });
      if (m[2] === 'revision') return json(200, { _id: 'x', id: m[1], sha: repo.commit, private: false, lastModified: '2024-01-01T00:00:00.000Z' });
      return json(200, Object.entries(repo.files).map(([path, b]) => path.endsWith('.safetensors')
        ? { type: 'file', path, size: 135, oid: '1'.repeat(40), lfs: { oid: state.lfsSha256 ?? sha256Hex(b), size: state.lfsSize ?? b.length, pointerSize: 135 } }
        : { type: 'file', path, size: b.length, oid: gitSha1Hex(b) }));
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const body = m ? repos[m[1]]?.files[m[3]] : undefined;
    if (!m || !body) return json(404, { error: 'Entry not found' });
    const headers = { ...cors, etag: `"${m[3].endsWith('.safetensors') ? sha256Hex(body) : gitSha1Hex(body)}"`, 'x-repo-commit': repos[m[1]].commit };
    if (req.headers()['range'] === 'bytes=0-0') {
      return route.fulfill({ status: 206, headers: { ...headers, 'content-range': `bytes 0-0/${body.length}`, 'content-length': '1' }, body: body.subarray(0, 1) });
    }
    downloads.push(m[3]);
    return route.fulfill({ status: 200, headers: { ...headers, 'content-length': String(body.length) }, body });
  });
  return downloads;
}

const cachedFile = (page: Page, suffix: string) => page.evaluate(async (s) =>
  (await (await caches.open('gpt2-taps-models-v1')).keys()).some((r) => r.url.endsWith(s)), suffix);

test('Hugging Face source (network mocked): size before download, then from the Cache Storage after a reload', async ({ page }) => {
  const errors = await openDemo(page);
  const model = readFileSync('weights/gpt2-tiny/model.safetensors');
  const config = readFileSync('weights/gpt2-tiny/config.json');
  const downloads = await mockHub(page, { 'openai-community/gpt2': { commit: commitOf('gpt2'), files: { 'config.json': config, 'model.safetensors': model } } });
  await page.evaluate(() => caches.delete('gpt2-taps-models-v1'));
  for (const cached of [false, true]) {
    await page.selectOption('#source', 'hf:gpt2');
    await expect(page.locator('#hf-load')).toBeVisible();
    await expect(page.locator('#hf-info')).toContainText('29.0 MB');
    await expect(page.locator('#hf-info')).toContainText(cached ? 'already in the browser cache' : 'downloaded once');
    const n = await draws(page);
    await page.locator('#hf-load').click();
    await waitForDraw(page, n);
    await expect(page.locator('#model-status')).toContainText('gpt2 (Hugging Face openai-community/gpt2)');
    await expectLayer(page, 0, 30);
    if (!cached) {
      expect(await cachedFile(page, `/openai-community/gpt2/resolve/${commitOf('gpt2')}/model.safetensors`)).toBe(true);
      await page.reload();
      await waitForDraw(page, 0);
    }
  }
  expect(downloads.filter((f) => f === 'model.safetensors')).toEqual(['model.safetensors']);
  await page.evaluate(() => caches.delete('gpt2-taps-models-v1'));
  expect(errors).toEqual([]);
});

test('Hugging Face source (network mocked): a download whose sha256 or size differs from the hub\'s record is discarded, never cached', async ({ page }) => {
  const errors = await openDemo(page);
  const model = readFileSync('weights/gpt2-tiny/model.safetensors');
  const config = readFileSync('weights/gpt2-tiny/config.json');
  const good = createHash('sha256').update(model).digest('hex');
  const state: { lfsSha256?: string; lfsSize?: number } = {};
  await mockHub(page, { 'openai-community/gpt2': { commit: commitOf('gpt2'), files: { 'config.json': config, 'model.safetensors': model } } }, state);
  await page.evaluate(() => caches.delete('gpt2-taps-models-v1'));
  const banner = page.locator('[role="alert"]');

  for (const [bad, message] of [
    [{ lfsSha256: 'ab'.repeat(32) }, `gpt2/model.safetensors: sha256 ${good} does not match the hub's ${'ab'.repeat(32)}: discarded, not cached`],
    [{ lfsSize: model.length + 1 }, `gpt2/model.safetensors: downloaded ${model.length} bytes but the hub lists ${model.length + 1}: discarded, not cached`],
  ] as const) {
    Object.assign(state, { lfsSha256: undefined, lfsSize: undefined }, bad);
    await page.evaluate(() => caches.delete('gpt2-taps-models-v1')); // the listing is cached per commit
    await page.selectOption('#source', 'bundled');
    await page.waitForFunction(() => document.body.dataset.ready === '1');
    await page.selectOption('#source', 'hf:gpt2');
    await page.locator('#hf-load').click();
    await expect(banner).toContainText(message, { timeout: 60_000 });
    await expect(page.locator('#model-status')).toContainText('bundled gpt2-tiny'); // the old model stays
    expect(await cachedFile(page, 'model.safetensors')).toBe(false);
  }

  // With the right record the same download is used, cached, and said to be verified.
  Object.assign(state, { lfsSha256: undefined, lfsSize: undefined });
  await page.evaluate(() => caches.delete('gpt2-taps-models-v1'));
  await page.selectOption('#source', 'bundled');
  await page.waitForFunction(() => document.body.dataset.ready === '1');
  const n = await draws(page);
  await page.selectOption('#source', 'hf:gpt2');
  await page.locator('#hf-load').click();
  await waitForDraw(page, n);
  await expect(page.locator('#model-note')).toContainText('gpt2/model.safetensors: sha256 verified');
  expect(await cachedFile(page, 'model.safetensors')).toBe(true);
  await page.evaluate(() => caches.delete('gpt2-taps-models-v1'));
  expect(errors).toEqual([]);
});

test('Hugging Face repo id typed in (network mocked): a sharded GPT-2 loads; a non-GPT-2 repo and a bad id are refused', async ({ page }) => {
  const errors = await openDemo(page);
  const model = readFileSync('weights/gpt2-tiny/model.safetensors');
  const config = readFileSync('weights/gpt2-tiny/config.json');
  const bert = Buffer.from(JSON.stringify({ model_type: 'bert', architectures: ['BertForMaskedLM'] }));
  const downloads = await mockHub(page, {
    'someone/gpt2-tiny-sharded': { commit: commitOf('sharded'), files: await shardedFixture(model, config) },
    'someone/bert-tiny': { commit: commitOf('bert'), files: { 'config.json': bert, 'model.safetensors': model } },
  });
  await page.evaluate(() => caches.delete('gpt2-taps-models-v1'));
  const banner = page.locator('[role="alert"]');
  await page.selectOption('#source', 'hf-repo');
  await expect(page.locator('#hf-repo')).toBeVisible();

  await page.locator('#hf-repo').fill('someone/bert-tiny');
  await page.locator('#hf-repo').press('Enter');
  await expect(banner).toContainText(`someone/bert-tiny (commit ${commitOf('bert').slice(0, 12)}) is not a GPT-2: its config.json has model_type "bert" (architectures: BertForMaskedLM), not "gpt2"`);
  await expect(page.locator('#hf-load')).toBeHidden();
  expect(downloads).not.toContain('model.safetensors');
  await page.locator('#banner-close').click();

  await page.locator('#hf-repo').fill('not a repo');
  await page.locator('#hf-repo').press('Enter');
  await expect(banner).toContainText('"not a repo" is not a Hugging Face repo id');
  await page.locator('#banner-close').click();

  await page.locator('#hf-repo').fill('someone/gpt2-tiny-sharded');
  await page.locator('#hf-repo').press('Enter');
  await expect(page.locator('#hf-info')).toContainText('someone/gpt2-tiny-sharded: the shards are 29.0 MB — downloaded once');
  const n = await draws(page);
  await page.locator('#hf-load').click();
  await waitForDraw(page, n);
  await expect(page.locator('#model-status')).toContainText('loaded: Hugging Face someone/gpt2-tiny-sharded, 2 shards');
  await expectLayer(page, 0, 30); // the same numbers as the bundled single file
  await expect(page.locator('#model-note')).toContainText('someone/gpt2-tiny-sharded/model-00002-of-00002.safetensors: sha256 verified');
  await page.evaluate(() => caches.delete('gpt2-taps-models-v1'));
  expect(errors).toEqual([]);
});

test('the GPU device lost in the middle of a run: a banner, the page stays usable, and Run loads the model again on a new device', async ({ page }) => {
  const errors = await openDemo(page);
  const n = await draws(page);
  // Destroy the device while the next forward pass is in flight (a task after run() submitted it).
  const outcome = await page.evaluate(() => new Promise<string>((resolve) => {
    type Demo = { state: { device: GPUDevice; model: { run: (...a: unknown[]) => Promise<unknown> } } };
    const w = window as unknown as { demo: Demo; firstDevice: GPUDevice; samePage: boolean };
    w.samePage = true;
    const { model, device } = w.demo.state;
    w.firstDevice = device;
    const run = model.run.bind(model);
    model.run = (...args: unknown[]) => {
      const p = run(...args);
      setTimeout(() => device.destroy(), 0);
      p.then(() => resolve('the run resolved'), (e: Error) => resolve(`${e.name}: ${e.message}`));
      return p;
    };
    document.getElementById('run')!.click();
  }));
  expect(outcome).toMatch(/^GPT2TapsError: the GPU device was lost/);
  const banner = page.locator('[role="alert"]');
  await expect(banner).toBeVisible();
  await expect(banner).toContainText('the GPU device was lost');
  await expect(banner).toContainText('press Run to load the model again');
  await expect(page.locator('#model-status')).toContainText('will be loaded again on a new device');
  expect(await draws(page)).toBe(n);

  // The page still answers: the figure's controls work while there is no model ...
  await page.selectOption('#view', 'layer');
  await page.fill('#threshold', '30');
  // ... and Run loads the bundled model again on a new device, without reloading the page.
  await page.locator('#run').click();
  await waitForDraw(page, n);
  await expect(banner).toBeHidden();
  await expect(page.locator('#model-status')).toContainText('loaded: bundled gpt2-tiny');
  expect(await page.evaluate(() => {
    const w = window as unknown as { demo: { state: { device: GPUDevice } }; firstDevice: GPUDevice; samePage?: boolean };
    return { samePage: w.samePage === true, newDevice: w.demo.state.device !== w.firstDevice };
  })).toEqual({ samePage: true, newDevice: true });
  await expectLayer(page, 0, 30);
  expect(errors).toEqual([]);
});

test('1 MB of text: tokenized in slices while the page keeps answering, then refused over n_positions', async ({ page }) => {
  const errors = await openDemo(page);
  const words = ['plants', 'make', 'fantastic', 'pets', "don't", 'mess', 'Feed', 'them', '1234', 'ünïcödé', '—', 'x', '\n'];
  let seed = 11;
  const parts: string[] = [];
  for (let chars = 0; chars < 1_000_000;) {
    seed = (seed * 48271) % 2147483647;
    const w = words[seed % words.length];
    parts.push(w);
    chars += w.length + 1;
  }
  const text = parts.join(' ').slice(0, 1_000_000);
  const want = encode(text).length;
  // A timer of the page's own: it keeps firing while the text is tokenized (no long freeze).
  await page.evaluate(() => {
    const w = window as unknown as { gaps: number[] };
    w.gaps = [];
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (document.getElementById('token-count')!.dataset.counting === '1') w.gaps.push(now - last);
      last = now;
    }, 5);
  });
  // As a paste does it (locator.fill types 1 MB far too slowly).
  await page.evaluate((t) => {
    const area = document.getElementById('text') as HTMLTextAreaElement;
    area.value = t;
    area.dispatchEvent(new Event('input', { bubbles: true }));
  }, text);
  await expect(page.locator('#token-count')).toHaveText(`${want.toLocaleString('en-US')} / 256 tokens (n_positions)`, { timeout: 60_000 });
  const gaps = await page.evaluate(() => (window as unknown as { gaps: number[] }).gaps);
  test.info().annotations.push({ type: 'figures', description: `${text.length} chars, ${want} tokens; page timer fired ${gaps.length} times while counting, longest pause ${Math.max(...gaps).toFixed(0)} ms` });
  console.log(test.info().annotations.at(-1)!.description);
  expect(gaps.length).toBeGreaterThan(10);
  expect(Math.max(...gaps)).toBeLessThan(250);
  await expect(page.locator('#token-count')).toHaveClass(/over/);
  await expect(page.locator('#run')).toBeDisabled();

  // Ctrl+Enter runs anyway: the banner states the limit.
  await page.locator('#text').press('Control+Enter');
  await expect(page.locator('[role="alert"]')).toContainText(`${want} tokens is more than this model's n_positions (256)`);
  expect(errors).toEqual([]);
});

test('a picked checkpoint: text from it (tensor names, metadata, file name) is shown as text, never as HTML; NaN weights are refused', async ({ page }) => {
  const errors = await openDemo(page);
  const hostile = '<img src=x onerror=window.pwned=1><b id=injected>bold</b>';
  const { floats } = await readAllTensors(bytesSource(readFileSync('weights/gpt2-tiny/model.safetensors')));
  const params: WriteTensor[] = [...floats].map(([name, t]) => ({ name, dtype: 'F32', shape: t.shape, data: t.data }));
  const file = (tensors: WriteTensor[]) => ({
    name: `${hostile}.safetensors`, mimeType: 'application/octet-stream', buffer: Buffer.from(writeSafetensors(tensors, { note: hostile })),
  });
  const banner = page.locator('[role="alert"]');

  // A tensor named with HTML: the error names it, literally.
  await page.setInputFiles('#file', file([...params, { name: hostile, dtype: 'F32', shape: [1], data: new Float32Array(1) }]));
  await expect(banner).toContainText(`unexpected tensors that are not GPT-2 parameters: ${hostile}`, { timeout: 60_000 });
  await expect(banner).toContainText(`could not load ${hostile}.safetensors`);

  // NaN in a picked file's weights: refused, naming the tensor and the index.
  const nan = params.map((t) => (t.name === 'h.1.mlp.c_fc.weight' ? { ...t, data: t.data.map((v, i) => (i === 777 ? NaN : v)) } : t));
  await page.setInputFiles('#file', file(nan));
  await expect(banner).toContainText('parameter h.1.mlp.c_fc.weight has a non-finite value: NaN at index', { timeout: 60_000 });
  await page.locator('#banner-close').click();

  // A good model under a file name with HTML: it loads, and the status shows the name literally.
  const n = await draws(page);
  await page.setInputFiles('#file', file(params));
  await waitForDraw(page, n);
  await expect(page.locator('#model-status')).toContainText(`loaded: local file ${hostile}.safetensors`);
  expect(await page.evaluate(() => ({
    pwned: (window as unknown as { pwned?: number }).pwned ?? 'no',
    elements: document.querySelectorAll('#injected, body img').length,
  }))).toEqual({ pwned: 'no', elements: 0 });
  expect(errors).toEqual([]);
});

test('without WebGPU the page says so and how to enable it', async ({ page }) => {
  const errors = watchErrors(page);
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
  await page.goto(`${server.url}/`);
  await expect(page.locator('#no-webgpu')).toBeVisible();
  await expect(page.locator('#no-webgpu')).toContainText('--enable-unsafe-webgpu');
  await expect(page.locator('body')).toHaveAttribute('data-webgpu', '0');
  await expect(page.locator('#run')).toBeDisabled();
  expect(errors).toEqual([]);
});

test('the WGSL reductions keep r accurate at 1M entries with large offsets (float32, centred one-pass sums)', async ({ page }) => {
  const errors = await openDemo(page);
  const result = await page.evaluate(async () => {
    type Stats = { kept: number; r: number[] };
    const demo = (window as unknown as { demo: { gpuStats: (...a: unknown[]) => Promise<Stats> } }).demo;
    const n = 1_000_003; // not a multiple of the workgroup's 1024 entries
    let seed = 12345;
    const rand = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; };
    const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
    const x = new Float32Array(n), y = new Float32Array(n), a = new Float32Array(n), m = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      // A residual stream with a large offset (as GPT-2's big dimensions) and small sublayer deltas.
      x[i] = 80 + 3 * gauss();
      a[i] = 0.5 * gauss() + 0.2 * (x[i] - 80);
      m[i] = 0.3 * gauss() - 0.1 * a[i];
      y[i] = x[i] + a[i] + m[i];
      if (i % 997 === 0) x[i] = 500; // masked entries
    }
    const threshold = 100;
    const gpu = await demo.gpuStats(x, y, a, m, threshold);
    // float64 reference, two-pass.
    const pairs = [(i: number) => [x[i], y[i]], (i: number) => [a[i], m[i]], (i: number) => [x[i] + a[i] + m[i], y[i]], (i: number) => [y[i] - x[i], a[i] + m[i]]];
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (Math.max(Math.abs(x[i]), Math.abs(y[i]), Math.abs(a[i]), Math.abs(m[i])) <= threshold) keep.push(i);
    const ref = pairs.map((f) => {
      let su = 0, sv = 0;
      for (const i of keep) { const [u, v] = f(i); su += u; sv += v; }
      const mu = su / keep.length, mv = sv / keep.length;
      let uu = 0, vv = 0, uv = 0;
      for (const i of keep) { const [u, v] = f(i); uu += (u - mu) ** 2; vv += (v - mv) ** 2; uv += (u - mu) * (v - mv); }
      return uv / Math.sqrt(uu * vv);
    });
    return { kept: gpu.kept, keptRef: keep.length, r: gpu.r, ref };
  });
  expect(result.kept).toBe(result.keptRef);
  expect(result.keptRef).toBeLessThan(1_000_003);
  result.r.forEach((r, p) => expect(Math.abs(r - result.ref[p]), `panel ${p + 1}: ${r} vs ${result.ref[p]}`).toBeLessThanOrEqual(1e-4));
  expect(errors).toEqual([]);
});

test('the profile panel shows every kernel of the forward pass, its shares, the peak and whether timestamps were rounded', async ({ page }) => {
  const errors = await openDemo(page);
  await page.click('#profile-run');
  await page.waitForSelector('#profile-body[data-rows]', { timeout: 120_000 });
  const rows = await page.$$eval('.profile-row', (els) => els.map((e) => ({
    kernel: (e as HTMLElement).dataset.kernel, variant: (e as HTMLElement).dataset.variant, share: Number((e as HTMLElement).dataset.share),
  })));
  expect(rows.map((r) => r.kernel)).toEqual(expect.arrayContaining(['embedding', 'ln_1', 'attn.c_attn', 'attn.attention', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj', 'ln_f', 'lm_head']));
  expect(rows.find((r) => r.kernel === 'mlp.c_fc')!.variant).toBe('linear_gelu'); // the plain forward: GELU fused, no pre-activation written
  expect(rows.reduce((a, r) => a + r.share, 0)).toBeCloseTo(1, 3);
  const body = page.locator('#profile-body');
  await expect(body).toHaveAttribute('data-timestamps', 'gpu');
  await expect(body).toHaveAttribute('data-rounded', 'false'); // the test browser runs with allow_unsafe_apis
  await expect(body).toContainText('not rounded');
  await expect(body).toContainText(/device peak \(measured here\): FMA [\d.]+ GFLOP\/s/);
  await expect(body).toContainText(/whole forward pass: no taps [\d.]+ ms/);
  expect(errors).toEqual([]);
});
