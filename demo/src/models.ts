// Where the demo's model comes from: the bundled gpt2-tiny (copied next to the page by
// the build), a Hugging Face GPT-2 size (downloaded once, checked against the size and
// sha256 the hub lists, then kept in the Cache Storage API so a reload does not download it
// again; a mismatch is discarded, never cached), or a local model.safetensors (+ config.json)
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

/** What the hub says a file is: its size and, for LFS files, its sha256. */
interface HubRecord { size: number; sha256?: string }

/**
 * The hub's record of `file` in `repo`, from its tree API (JSON, CORS-enabled; the LFS oid is
 * the file's sha256). Undefined when the API does not answer: the download then goes unverified.
 */
async function hubRecord(repo: string, file: string): Promise<HubRecord | undefined> {
  try {
    const res = await fetch(`https://huggingface.co/api/models/${repo}/tree/main`);
    if (!res.ok) return undefined;
    const list = (await res.json()) as unknown;
    type Entry = { path?: unknown; size?: unknown; lfs?: { oid?: unknown; size?: unknown } };
    const entry = Array.isArray(list) ? (list as Entry[]).find((e) => e?.path === file) : undefined;
    const size = entry?.lfs?.size ?? entry?.size;
    if (typeof size !== 'number') return undefined;
    const oid = entry?.lfs?.oid;
    return { size, sha256: typeof oid === 'string' && /^[0-9a-f]{64}$/.test(oid) ? oid : undefined };
  } catch {
    return undefined;
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Checks a download against the hub's record; a mismatch throws before anything is cached. */
async function verify(bytes: Uint8Array, record: HubRecord | undefined, what: string): Promise<string> {
  if (!record) return `${what}: not verified (the hub's file list did not answer)`;
  if (bytes.byteLength !== record.size) {
    throw new GPT2TapsError(`${what}: downloaded ${bytes.byteLength} bytes but the hub lists ${record.size}: discarded, not cached`);
  }
  if (!record.sha256) return `${what}: size verified (the hub lists no sha256)`;
  const got = await sha256Hex(bytes);
  if (got !== record.sha256) {
    throw new GPT2TapsError(`${what}: sha256 ${got} does not match the hub's ${record.sha256}: discarded, not cached`, 'try again');
  }
  return `${what}: sha256 verified`;
}

/**
 * GET through the Cache Storage API: served from the cache when there, else downloaded,
 * checked against the hub's record when one is given, and stored.
 */
async function cachedFetch(url: string, what: string, onProgress?: Progress,
  record?: Promise<HubRecord | undefined>): Promise<{ bytes: Uint8Array; cached: boolean; note?: string }> {
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
  let note = record ? await verify(bytes, await record, what) : undefined;
  if (cache) {
    try {
      await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) },
      }));
    } catch (e) {
      note = [note, `not kept in the browser cache (${(e as Error).message}); a reload will download it again`].filter(Boolean).join('; ');
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
  const model = await cachedFetch(urls.model, `${name}/model.safetensors`, onProgress, hubRecord(KNOWN_MODELS[name].repo, 'model.safetensors'));
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
