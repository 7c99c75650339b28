// Where the demo's model comes from: the bundled gpt2-tiny (copied next to the page by
// the build), a Hugging Face GPT-2 size (downloaded once, then kept in the Cache Storage
// API so a reload does not download it again), or a local model.safetensors (+ config.json)
// picked or dropped onto the page.
import { GPT2TapsError, KNOWN_MODELS } from '../../src/index.js';

export type ModelChoice =
  | { kind: 'bundled' }
  | { kind: 'hf'; name: HfName }
  | { kind: 'local'; files: File[] };

export type HfName = keyof typeof KNOWN_MODELS;
export const HF_NAMES = Object.keys(KNOWN_MODELS) as HfName[];

/** The bundled model's folder, relative to the page (the build copies weights/gpt2-tiny there). */
export const BUNDLED_URL = 'models/gpt2-tiny/';
const CACHE_NAME = 'gpt2-taps-models-v1';

export function hfUrls(name: HfName): { model: string; config: string } {
  const base = `https://huggingface.co/${KNOWN_MODELS[name].repo}/resolve/main/`;
  return { model: `${base}model.safetensors`, config: `${base}config.json` };
}

export type Progress = (loaded: number, total: number | undefined, what: string) => void;

export interface LoadedBytes { model: Uint8Array; config?: Record<string, unknown>; label: string; cached?: boolean; note?: string }

async function openCache(): Promise<Cache | undefined> {
  try {
    return typeof caches === 'undefined' ? undefined : await caches.open(CACHE_NAME);
  } catch {
    return undefined; // no Cache Storage here (opaque origin, private mode): download every time
  }
}

/** The size of a Hugging Face model file before downloading it, and whether it is cached already. */
export async function hfSize(name: HfName): Promise<{ bytes?: number; cached: boolean }> {
  const { model } = hfUrls(name);
  const cache = await openCache();
  const hit = await cache?.match(model);
  if (hit) {
    const len = Number(hit.headers.get('content-length'));
    return { bytes: Number.isFinite(len) && len > 0 ? len : undefined, cached: true };
  }
  let res: Response;
  try {
    res = await fetch(model, { method: 'HEAD' });
  } catch (e) {
    throw new GPT2TapsError(`could not reach ${model} (${(e as Error).message})`, 'check the network connection');
  }
  if (!res.ok) throw new GPT2TapsError(`HTTP ${res.status} ${res.statusText} for ${model}`);
  const len = Number(res.headers.get('content-length'));
  return { bytes: Number.isFinite(len) && len > 0 ? len : undefined, cached: false };
}

/** Reads a response body whole, reporting progress; refuses a body shorter than its Content-Length. */
async function readBody(res: Response, what: string, onProgress?: Progress): Promise<Uint8Array> {
  const header = res.headers.get('content-length');
  const total = header && /^\d+$/.test(header) && !res.headers.get('content-encoding') ? Number(header) : undefined;
  onProgress?.(0, total, what);
  if (!res.body) {
    const buf = new Uint8Array(await res.arrayBuffer());
    onProgress?.(buf.byteLength, buf.byteLength, what);
    return buf;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let out = total !== undefined ? new Uint8Array(total) : undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (out && loaded + value.byteLength <= out.byteLength) out.set(value, loaded);
    else {
      if (out) { chunks.push(out.subarray(0, loaded)); out = undefined; }
      chunks.push(value);
    }
    loaded += value.byteLength;
    onProgress?.(loaded, total, what);
  }
  if (total !== undefined && loaded < total) throw new GPT2TapsError(`download of ${what} ended after ${loaded} of ${total} bytes`);
  if (out) return out;
  const joined = new Uint8Array(loaded);
  let pos = 0;
  for (const c of chunks) { joined.set(c, pos); pos += c.byteLength; }
  return joined;
}

/** GET through the Cache Storage API: served from the cache when there, else downloaded and stored. */
async function cachedFetch(url: string, what: string, onProgress?: Progress): Promise<{ bytes: Uint8Array; cached: boolean; note?: string }> {
  const cache = await openCache();
  const hit = await cache?.match(url);
  if (hit) {
    try {
      return { bytes: await readBody(hit, `${what} (cached)`, onProgress), cached: true };
    } catch {
      await cache?.delete(url); // a damaged entry: download again
    }
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new GPT2TapsError(`could not fetch ${url} (${(e as Error).message})`, 'check the network connection');
  }
  if (!res.ok) throw new GPT2TapsError(`HTTP ${res.status} ${res.statusText} fetching ${url}`);
  const bytes = await readBody(res, what, onProgress);
  let note: string | undefined;
  if (cache) {
    try {
      await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) },
      }));
    } catch (e) {
      note = `not kept in the browser cache (${(e as Error).message}); a reload will download it again`;
    }
  }
  return { bytes, cached: false, note };
}

export async function loadHf(name: HfName, onProgress?: Progress): Promise<LoadedBytes> {
  const urls = hfUrls(name);
  const config = await cachedFetch(urls.config, `${name}/config.json`);
  let configJson: Record<string, unknown>;
  try {
    configJson = JSON.parse(new TextDecoder().decode(config.bytes)) as Record<string, unknown>;
  } catch (e) {
    throw new GPT2TapsError(`${urls.config} is not valid JSON (${(e as Error).message})`);
  }
  const model = await cachedFetch(urls.model, `${name}/model.safetensors`, onProgress);
  return { model: model.bytes, config: configJson, label: `${name} (Hugging Face ${KNOWN_MODELS[name].repo})`, cached: model.cached, note: model.note };
}

/** A picked or dropped model: one .safetensors file, and optionally its config.json. */
export async function loadLocal(files: File[]): Promise<LoadedBytes> {
  const model = files.find((f) => f.name.toLowerCase().endsWith('.safetensors'));
  const config = files.find((f) => f.name.toLowerCase().endsWith('.json'));
  if (!model) {
    throw new GPT2TapsError(`no .safetensors file among ${files.map((f) => `"${f.name}"`).join(', ') || 'the files given'}`,
      'pick or drop a model.safetensors file (and, optionally, its config.json)');
  }
  let configJson: Record<string, unknown> | undefined;
  if (config) {
    try {
      const j: unknown = JSON.parse(await config.text());
      if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not a JSON object');
      configJson = j as Record<string, unknown>;
    } catch (e) {
      throw new GPT2TapsError(`${config.name} is not a valid config.json (${(e as Error).message})`);
    }
  }
  return { model: new Uint8Array(await model.arrayBuffer()), config: configJson, label: `local file ${model.name}${config ? ` + ${config.name}` : ''}` };
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}
