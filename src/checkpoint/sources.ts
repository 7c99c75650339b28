// Where a model comes from: bytes in memory, an http(s) URL (file or folder), or, in Node, a
// local path. Browser-safe: the Node-only code lives in ./node/file-source.ts and is loaded
// with a dynamic import, only when running in Node.
import { GPT2TapsError } from '../errors.js';
import { type ByteSource, bytesSource } from './safetensors.js';

export type ModelSource =
  | string
  | URL
  | Uint8Array
  | ArrayBuffer
  | { model: Uint8Array | ArrayBuffer; config?: Record<string, unknown> };

export interface OpenModelOptions {
  /** Download progress: bytes so far, the total when the server sent Content-Length, and what is loading (a URL). */
  onProgress?: (loaded: number, total: number | undefined, what: string) => void;
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface OpenedModel {
  bytes: ByteSource;
  config?: Record<string, unknown>;
  label: string;
}

export function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';
}

/**
 * Resolves a model source to its bytes (a ByteSource) and, when there is one, its config.json.
 * - Uint8Array / ArrayBuffer: the safetensors bytes, no config. `{model, config}`: both given.
 * - http(s) URL (a string or URL; in a browser any string, resolved against location.href):
 *   ending in `.safetensors`: that file, plus `config.json` from the same folder if it exists;
 *   otherwise a folder: `<url>/model.safetensors` + `<url>/config.json` (optional).
 *   The model is downloaded whole, with progress callbacks.
 * - In Node, any other string (or a file: URL) is a local path: a directory holding
 *   model.safetensors (+ optional config.json), or a .safetensors file (config.json next to it
 *   optional). Local files are read lazily, by position; no progress is reported for them.
 */
export async function openModelSource(source: ModelSource, opts: OpenModelOptions = {}): Promise<OpenedModel> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    return { bytes: bytesSource(source, 'model bytes'), label: 'model bytes' };
  }
  if (typeof source === 'object' && !(source instanceof URL)) {
    if (source === null || !('model' in source) || !(source.model instanceof Uint8Array || source.model instanceof ArrayBuffer)) {
      throw new GPT2TapsError('model source: expected a URL, a path, bytes, or { model: bytes, config? }');
    }
    if (source.config !== undefined && (typeof source.config !== 'object' || source.config === null || Array.isArray(source.config))) {
      throw new GPT2TapsError('model source: config must be the parsed config.json object');
    }
    return { bytes: bytesSource(source.model, 'model bytes'), config: source.config, label: 'model bytes' };
  }
  if (typeof source !== 'string' && !(source instanceof URL)) {
    throw new GPT2TapsError(`model source: unsupported type ${typeof source}`);
  }

  const node = isNode();
  let url: URL | undefined;
  if (source instanceof URL) {
    url = source;
  } else if (/^https?:\/\//i.test(source)) {
    url = parseUrl(source);
  } else if (!node) {
    const base = typeof location !== 'undefined' ? location.href : undefined;
    url = parseUrl(source, base);
  } else if (/^file:/i.test(source)) {
    url = parseUrl(source);
  }

  if (node && (!url || url.protocol === 'file:')) {
    const { openLocalModel } = await import('../node/file-source.js');
    return openLocalModel(url ?? (source as string));
  }
  if (!url) throw new GPT2TapsError(`model source: cannot resolve "${String(source)}"`);
  return openRemote(url, opts);
}

function parseUrl(s: string, base?: string): URL {
  try {
    return new URL(s, base);
  } catch {
    throw new GPT2TapsError(`model source: "${s}" is not a valid URL${base ? ` (relative to ${base})` : ''}`);
  }
}

async function openRemote(url: URL, opts: OpenModelOptions): Promise<OpenedModel> {
  const f = opts.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
  if (!f) throw new GPT2TapsError('no fetch() in this environment to download the model', 'pass opts.fetch, or give the model bytes');
  let modelUrl: URL;
  let configUrl: URL | undefined;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    // blob:, data: and the like: the model file itself, nothing next to it.
    modelUrl = url;
  } else if (url.pathname.toLowerCase().endsWith('.safetensors')) {
    modelUrl = url;
    configUrl = new URL('config.json', url);
  } else {
    const folder = new URL(url.href);
    folder.search = '';
    folder.hash = '';
    if (!folder.pathname.endsWith('/')) folder.pathname += '/';
    modelUrl = new URL('model.safetensors', folder);
    configUrl = new URL('config.json', folder);
  }
  const config = configUrl ? await fetchConfig(f, configUrl) : undefined;
  const bytes = await fetchBytes(f, modelUrl, opts.onProgress);
  return { bytes: bytesSource(bytes, modelUrl.href), config, label: modelUrl.href };
}

async function doFetch(f: typeof fetch, url: URL): Promise<Response> {
  try {
    return await f(url.href);
  } catch (e) {
    throw new GPT2TapsError(`could not fetch ${url.href} (${(e as Error)?.message ?? String(e)})`, 'check the URL and the network; in a browser, the server must allow CORS');
  }
}

/** config.json next to the model: undefined on 404/410, a GPT2TapsError when it is not a JSON object. */
async function fetchConfig(f: typeof fetch, url: URL): Promise<Record<string, unknown> | undefined> {
  const res = await doFetch(f, url);
  if (res.status === 404 || res.status === 410) {
    await res.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!res.ok) throw new GPT2TapsError(`HTTP ${res.status} ${res.statusText} fetching ${url.href}`);
  const text = await res.text();
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new GPT2TapsError(`${url.href} is not valid JSON (${(e as Error).message})`, 'a server that answers missing files with an HTML page? give the config explicitly');
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new GPT2TapsError(`${url.href} is not a JSON object`);
  return j as Record<string, unknown>;
}

/** Downloads a whole body, reporting progress per chunk. Preallocates when Content-Length is known. */
async function fetchBytes(
  f: typeof fetch,
  url: URL,
  onProgress?: (loaded: number, total: number | undefined, what: string) => void,
): Promise<Uint8Array<ArrayBuffer>> {
  const res = await doFetch(f, url);
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new GPT2TapsError(`HTTP ${res.status} ${res.statusText} fetching ${url.href}`);
  }
  const what = url.href;
  const lenHeader = res.headers.get('content-length');
  const total = lenHeader !== null && /^\d+$/.test(lenHeader.trim()) ? Number(lenHeader.trim()) : undefined;
  onProgress?.(0, total, what);
  if (!res.body) {
    const buf = new Uint8Array(await res.arrayBuffer());
    onProgress?.(buf.byteLength, total ?? buf.byteLength, what);
    return buf;
  }
  // With Content-Encoding, Content-Length counts compressed bytes: don't preallocate from it.
  const encoded = !!res.headers.get('content-encoding');
  let buf: Uint8Array<ArrayBuffer> | undefined = total !== undefined && !encoded ? new Uint8Array(total) : undefined;
  let chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!value || value.byteLength === 0) continue;
      if (buf && loaded + value.byteLength <= buf.byteLength) {
        buf.set(value, loaded);
      } else {
        if (buf) { chunks = [buf.subarray(0, loaded)]; buf = undefined; } // more than announced
        chunks.push(value);
      }
      loaded += value.byteLength;
      onProgress?.(loaded, total, what);
    }
  } catch (e) {
    throw new GPT2TapsError(`download of ${url.href} failed after ${loaded} bytes (${(e as Error)?.message ?? String(e)})`);
  } finally {
    reader.releaseLock();
  }
  if (buf) {
    if (loaded < buf.byteLength) {
      throw new GPT2TapsError(`download of ${url.href} ended after ${loaded} of ${buf.byteLength} bytes`);
    }
    return buf;
  }
  const out = new Uint8Array(loaded);
  let pos = 0;
  for (const c of chunks) { out.set(c, pos); pos += c.byteLength; }
  return out;
}
