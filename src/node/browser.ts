// The browser backend: the same library code, run in headless Chromium through
// Playwright, on a page served from http://127.0.0.1 (WebGPU needs a secure context).
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GPT2TapsError } from '../errors.js';
import type { GPT2Config } from '../checkpoint/config.js';
import type { Page } from 'playwright-core';
import { serve } from './serve.js';

/**
 * Chromium flags: WebGPU on (SwiftShader where there is no GPU), GPU timestamps unrounded, workgroup
 * memory zeroed by Dawn's shader code rather than the Vulkan extension (as src/node/device.ts: on
 * SwiftShader the extension's zeroing took 430 ms of a 1.24 s forward pass at T = 145, outside the GPU
 * timestamps, with flash attention), quiet networking.
 */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-dawn-features=allow_unsafe_apis',
  '--disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) {
    throw new GPT2TapsError('no Chromium found for --backend browser', 'apt-get install chromium, or set CHROMIUM_PATH to a Chrome/Chromium binary');
  }
  return found;
}

type PlaywrightCore = typeof import('playwright-core');

/**
 * True for the error Node gives when the package `name` itself cannot be resolved
 * ("Cannot find package 'name' imported from …"), not for a file missing inside it.
 */
function isModuleNotFound(e: unknown, name: string): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  const message = typeof err.message === 'string' ? err.message : '';
  if (!message.includes(`'${name}'`)) return false;
  return err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND'
    || message.includes('Cannot find package') || message.includes('Cannot find module');
}

/**
 * Loads playwright-core, an optional dependency needed only by `--backend browser`
 * (run and profile). If it is not installed, throws a GPT2TapsError that says how to
 * install it; any other error from the import is rethrown as it is.
 * `importer` is there for the tests.
 */
export async function loadPlaywright(importer: () => Promise<PlaywrightCore> = () => import('playwright-core')): Promise<PlaywrightCore> {
  try {
    return await importer();
  } catch (e) {
    if (!isModuleNotFound(e, 'playwright-core')) throw e;
    throw new GPT2TapsError(
      '--backend browser needs the optional package playwright-core, which is not installed',
      'npm install playwright-core (in the folder where gpt2-taps is installed); it also needs Chromium: /usr/bin/chromium, or set CHROMIUM_PATH',
    );
  }
}

/** The package's dist/ folder (runner page and library bundle). */
export function distDir(): string {
  return dirname(fileURLToPath(import.meta.url));
}

/** Mounts a local model (folder or .safetensors file) at /model/ on the runner's server. */
export function modelMounts(model: string): Record<string, string> {
  const path = resolve(model);
  if (!existsSync(path)) throw new GPT2TapsError(`model not found: ${path}`);
  if (statSync(path).isDirectory()) return { '/model/': path };
  const mounts: Record<string, string> = { '/model/model.safetensors': path };
  const config = join(dirname(path), 'config.json');
  if (existsSync(config) && basename(path) !== 'config.json') mounts['/model/config.json'] = config;
  return mounts;
}

export interface BrowserRun { config: GPT2Config; notes: string[]; inputIds: number[]; adapter: string; file: Uint8Array }

/** The folder with runner.html and the library bundle: dist/ beside the CLI bundle, or the package's dist/ from source. */
export function runnerDir(): string {
  const candidates = [distDir(), fileURLToPath(new URL('../../dist', import.meta.url))];
  const found = candidates.find((p) => existsSync(join(p, 'runner.html')) && existsSync(join(p, 'gpt2-taps.js')));
  if (!found) throw new GPT2TapsError('dist/runner.html or dist/gpt2-taps.js is missing', 'run npm run build');
  return found;
}

/**
 * Serves the runner page (and a local model at /model/) on 127.0.0.1, opens it in headless
 * Chromium, waits until it is ready and runs `fn` on it; closes browser and server after.
 * `modelUrl` is what the page should load: the model's own URL, or /model/.
 */
export async function withRunnerPage<T>(model: string, log: (line: string) => void,
  fn: (page: Page, ctx: { modelUrl: string; version: string }) => Promise<T>,
  onPost?: (path: string, body: Buffer) => void, mounts: Record<string, string> = {}): Promise<T> {
  const isUrl = /^https?:\/\//.test(model);
  const { chromium } = await loadPlaywright();
  const server = await serve({ mounts: { '/': runnerDir(), ...(isUrl ? {} : modelMounts(model)), ...mounts }, onPost });
  try {
    const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`[browser] ${m.text()}`); });
      await page.goto(`${server.url}/runner.html`);
      await page.waitForSelector('body[data-ready="1"]');
      return await fn(page, { modelUrl: isUrl ? model : '/model/', version: browser.version() });
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
}

export interface BrowserRunOptions {
  taps: readonly string[] | 'all';
  truncate?: boolean;
  /** Edits as JSON (src/engine/edits.ts); a patch's `from` is the path of a taps file, served to the page. */
  edits?: readonly Record<string, unknown>[];
}

/** Runs the model on `ids` in headless Chromium and returns the taps as a safetensors file. */
export async function browserRun(model: string, ids: number[], opts: BrowserRunOptions,
  log: (line: string) => void = () => {}): Promise<BrowserRun> {
  let result: Buffer | undefined;
  // Patch sources travel as files: edit i's `from` is served at /patch/<i>.safetensors.
  const mounts: Record<string, string> = {};
  const edits = (opts.edits ?? []).map((e, i) => {
    if (typeof e.from !== 'string') return e;
    mounts[`/patch/${i}.safetensors`] = resolve(e.from);
    return { ...e, from: `/patch/${i}.safetensors` };
  });
  const { taps, truncate = false } = opts;
  return withRunnerPage(model, log, async (page, { modelUrl }) => {
    log('running in headless Chromium');
    const info = await page.evaluate(async ({ modelUrl, ids, taps, truncate, edits }) => {
      const g = (window as unknown as { gpt2taps: typeof import('../index.js') }).gpt2taps;
      const device = await g.browserDevice();
      try {
        const m = await g.GPT2.load(modelUrl, { device, checkFinite: true });
        const withSources = await Promise.all(edits.map(async (e) => (typeof e.from === 'string'
          ? { ...e, from: await g.tapFileSource(new Uint8Array(await (await fetch(e.from)).arrayBuffer()), e.from) } : e)));
        const out = await m.run(ids, { taps, truncate, edits: withSources as unknown as import('../index.js').Edit[] });
        const res = await fetch('/result', { method: 'POST', body: g.tapsToSafetensors(out) as Uint8Array<ArrayBuffer> });
        if (!res.ok) throw new Error(`posting the result failed: ${res.status}`);
        m.dispose();
        return { config: m.config, notes: m.notes, inputIds: Array.from(out.inputIds), adapter: `${device.adapterInfo?.vendor ?? ''} ${device.adapterInfo?.architecture ?? ''}`.trim() };
      } catch (e) {
        return { error: (e as Error).message };
      } finally {
        device.destroy();
      }
    }, { modelUrl, ids, taps, truncate, edits });
    if ('error' in info) throw new GPT2TapsError(`browser backend: ${info.error}`);
    if (!result) throw new GPT2TapsError('browser backend: the page returned no result');
    return { ...info, file: new Uint8Array(result.buffer, result.byteOffset, result.byteLength) };
  }, (path, body) => { if (path === '/result') result = body; }, mounts);
}
