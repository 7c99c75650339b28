// Where a model comes from: bytes in memory, an http(s) URL (file or folder), or, in Node, a
// local path. Browser-safe: the Node-only code lives in ./node/file-source.ts and is loaded
// with a dynamic import, only when running in Node.
import { GPT2TapsError } from '../errors.js';
import { KNOWN_MODELS } from './config.js';
import {
  type ByteSource, type CheckpointSource, SAFETENSORS_INDEX_FILE, bytesSource, parseSafetensorsIndex, shardedSource,
} from './safetensors.js';

export type ModelSource =
  | string
  | URL
  | Uint8Array
  | ArrayBuffer
  | { model: Uint8Array | ArrayBuffer; config?: Record<string, unknown> }
  /** A sharded checkpoint in memory: each shard file's bytes, and the index's weight_map (tensor → shard file). */
  | { shards: Record<string, Uint8Array | ArrayBuffer>; weightMap: Record<string, string>; config?: Record<string, unknown> };

export interface OpenModelOptions {
  /** Download progress: bytes so far, the total when the server sent Content-Length, and what is loading (a URL). */
  onProgress?: (loaded: number, total: number | undefined, what: string) => void;
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface OpenedModel {
  /** One safetensors file, or the shards of a sharded checkpoint. */
  bytes: CheckpointSource;
  config?: Record<string, unknown>;
  label: string;
}

/**
 * Turns a name that is not a local path (in Node: a Hugging Face repo id such as
 * `openai-community/gpt2[@revision]`) into a local folder, downloading it if need be; undefined
 * when the name is not one it resolves. src/node/hub.ts installs one when it is imported (the CLI
 * does); without one, such names are local paths.
 */
export type ModelNameResolver = (name: string, opts: OpenModelOptions) => Promise<string | undefined>;
let nameResolver: ModelNameResolver | undefined;

/** Installs (or, with undefined, removes) the resolver of model names that are not local paths. */
export function setModelNameResolver(resolver: ModelNameResolver | undefined): void {
  nameResolver = resolver;
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
  if (typeof source === 'object' && source !== null && 'shards' in source) {
    const { shards, weightMap, config } = source;
    if (typeof shards !== 'object' || shards === null || typeof weightMap !== 'object' || weightMap === null) {
      throw new GPT2TapsError('model source: a sharded source needs { shards: {file: bytes}, weightMap: {tensor: file} }');
    }
    const { files } = parseSafetensorsIndex({ weight_map: weightMap }, 'model source weightMap');
    const map = new Map<string, ByteSource>();
    for (const file of files) {
      const b = shards[file];
      if (!(b instanceof Uint8Array || b instanceof ArrayBuffer)) throw new GPT2TapsError(`model source: no bytes for shard ${file}, which weightMap names`);
      map.set(file, bytesSource(b, file));
    }
    return { bytes: shardedSource(map, weightMap, 'sharded model bytes'), config, label: 'sharded model bytes' };
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
    const resolved = !url && nameResolver ? await nameResolver(source as string, opts) : undefined;
    return openLocalModel(resolved ?? url ?? (source as string));
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
  } else if (/\.safetensors(\.index\.json)?$/i.test(url.pathname)) {
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
  if (/\.index\.json$/i.test(modelUrl.pathname)) return openRemoteShards(f, modelUrl, config, opts);
  const res = await doFetch(f, modelUrl);
  if ((res.status === 404 || res.status === 410) && modelUrl !== url) {
    // A folder without model.safetensors: a sharded checkpoint?
    const indexUrl = new URL(SAFETENSORS_INDEX_FILE, modelUrl);
    const index = await doFetch(f, indexUrl);
    if (index.ok) {
      await res.body?.cancel().catch(() => {});
      return openRemoteShards(f, indexUrl, config, opts, index);
    }
    await index.body?.cancel().catch(() => {});
    await res.body?.cancel().catch(() => {});
    throw new GPT2TapsError(`HTTP ${res.status} ${res.statusText} fetching ${modelUrl.href} (and no ${SAFETENSORS_INDEX_FILE} next to it)`);
  }
  const bytes = await fetchBytes(f, modelUrl, opts.onProgress, res);
  return { bytes: bytesSource(bytes, modelUrl.href), config, label: modelUrl.href };
}

/** A sharded checkpoint over http(s): the index, then each shard it names (relative to the index). */
async function openRemoteShards(
  f: typeof fetch, indexUrl: URL, config: Record<string, unknown> | undefined, opts: OpenModelOptions, res?: Response,
): Promise<OpenedModel> {
  const r = res ?? await doFetch(f, indexUrl);
  if (!r.ok) {
    await r.body?.cancel().catch(() => {});
    throw new GPT2TapsError(`HTTP ${r.status} ${r.statusText} fetching ${indexUrl.href}`);
  }
  const { weightMap, files } = parseSafetensorsIndex(await r.text(), indexUrl.href);
  const shards = new Map<string, ByteSource>();
  for (const file of files) {
    const shardUrl = new URL(file, indexUrl);
    shards.set(file, bytesSource(await fetchBytes(f, shardUrl, opts.onProgress), shardUrl.href));
  }
  return { bytes: shardedSource(shards, weightMap, indexUrl.href), config, label: indexUrl.href };
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
  response?: Response,
): Promise<Uint8Array<ArrayBuffer>> {
  const res = response ?? await doFetch(f, url);
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

// ---------------------------------------------------------------------------------
// Hugging Face repo ids (shared by the CLI, src/node/hub.ts, and the demo page)

/** The hub, unless HF_ENDPOINT (Node) or an option names another. */
export const DEFAULT_HUB = 'https://huggingface.co';

/** A model on the hub: `owner/name`, a revision (branch, tag, commit or refs/pr/N), and the short name it was given by, if any. */
export interface RepoSpec {
  repo: string;
  revision: string;
  /** gpt2, gpt2-medium, …: the KNOWN_MODELS name it came from. */
  alias?: string;
}

const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;

/**
 * Parses `owner/name[@revision]`, or a short name of KNOWN_MODELS (gpt2, …, distilgpt2,
 * optionally `@revision`). Undefined for anything else (paths like ./x, /x, a.safetensors).
 */
export function parseRepoSpec(name: string): RepoSpec | undefined {
  const at = name.indexOf('@');
  const id = at >= 0 ? name.slice(0, at) : name;
  const revision = at >= 0 ? name.slice(at + 1) : 'main';
  if (!revision || /[\s\\]|\.\./.test(revision) || revision.startsWith('/') || revision.endsWith('/')) return undefined;
  if (Object.hasOwn(KNOWN_MODELS, id)) return { repo: KNOWN_MODELS[id as keyof typeof KNOWN_MODELS].repo, revision, alias: id };
  const parts = id.split('/');
  if (parts.length !== 2 || !parts.every((p) => REPO_PART.test(p) && !p.includes('--') && !p.includes('..'))) return undefined;
  if (/\.(safetensors|json|bin)$/i.test(parts[1]!)) return undefined;
  return { repo: id, revision };
}

/** `openai-community/gpt2`, or `openai-community/gpt2@v1` when the revision is not main. */
export function repoLabel(spec: RepoSpec): string {
  return spec.revision === 'main' ? spec.repo : `${spec.repo}@${spec.revision}`;
}

/**
 * Checks that a repo's config.json describes a GPT-2 (`model_type` "gpt2"); returns it as an
 * object. `where` names the repo (and revision) in the error.
 */
export function checkGpt2Config(config: unknown, where: string): Record<string, unknown> {
  let j = config;
  if (typeof j === 'string') {
    try {
      j = JSON.parse(j);
    } catch (e) {
      throw new GPT2TapsError(`${where}: config.json is not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new GPT2TapsError(`${where}: config.json is not a JSON object`);
  const c = j as Record<string, unknown>;
  const type = c['model_type'];
  if (type !== undefined && type !== 'gpt2') {
    const arch = Array.isArray(c['architectures']) ? ` (architectures: ${(c['architectures'] as unknown[]).map(String).join(', ')})` : '';
    throw new GPT2TapsError(`${where} is not a GPT-2: its config.json has model_type ${JSON.stringify(type)}${arch}, not "gpt2"`,
      'gpt2-taps runs GPT-2 checkpoints only (GPT2LMHeadModel / GPT2Model, model_type "gpt2")');
  }
  return c;
}

/**
 * The weight files to fetch from a repo's file list: model.safetensors, else the sharded index
 * (its shards are read from it). A repo with neither is refused, saying what it has instead.
 */
export function safetensorsEntry(files: readonly string[], where: string): 'model.safetensors' | typeof SAFETENSORS_INDEX_FILE {
  if (files.includes('model.safetensors')) return 'model.safetensors';
  if (files.includes(SAFETENSORS_INDEX_FILE)) return SAFETENSORS_INDEX_FILE;
  const others = files.filter((f) => /\.(bin|pt|pth|h5|msgpack|ckpt|onnx|gguf|safetensors)$/i.test(f) || f.endsWith('.index.json'));
  const found = others.length > 0 ? `it has ${others.slice(0, 6).join(', ')}${others.length > 6 ? `, … (${others.length} weight files)` : ''}` : `its files are ${files.slice(0, 8).join(', ') || 'none'}`;
  throw new GPT2TapsError(`${where} has no model.safetensors (nor ${SAFETENSORS_INDEX_FILE}): ${found}`,
    others.some((f) => f.endsWith('.bin'))
      ? 'gpt2-taps reads safetensors only, never pickled PyTorch files: convert it (transformers: model.save_pretrained(dir, safe_serialization=True)), or name a revision that has one, e.g. <repo>@refs/pr/<n> from the hub\'s safetensors conversion'
      : 'gpt2-taps reads GPT-2 checkpoints in the safetensors format');
}
