// Where the demo's model comes from: the bundled gpt2-tiny (copied next to the page by
// the build), a Hugging Face repo (a GPT-2 size from the list, or any repo id typed in:
// downloaded once, checked against the size and hash the hub lists, then kept in the Cache
// Storage API so a reload does not download it again; a mismatch is discarded, never cached),
// or a local model.safetensors (+ config.json) picked or dropped onto the page.
//
// @huggingface/hub (its browser build) does the hub's side: the revision's commit (modelInfo),
// the file list with sizes and hashes (listFiles), and the download (downloadFile). Ours: the
// progress, the size and sha256 check before a file is used or cached, and the cache, keyed by
// commit (`<hub>/<repo>/resolve/<commit>/<file>`, immutable) with `<hub>/<repo>/refs/<revision>`
// → commit, so a cached model loads again when the hub cannot be reached.
import { downloadFile, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { GPT2TapsError, KNOWN_MODELS } from '../../src/index.js';
import {
  DEFAULT_HUB, type RepoSpec, checkGpt2Config, parseRepoSpec, repoLabel, safetensorsEntry,
} from '../../src/checkpoint/sources.js';
import { SAFETENSORS_INDEX_FILE, parseSafetensorsIndex } from '../../src/checkpoint/safetensors.js';

export type ModelChoice =
  | { kind: 'bundled' }
  /** A short name (gpt2, …) or a repo id owner/name[@revision]. */
  | { kind: 'hf'; name: string }
  | { kind: 'local'; files: File[] };

export type HfName = keyof typeof KNOWN_MODELS;
export const HF_NAMES = Object.keys(KNOWN_MODELS) as HfName[];

/** The bundled model's folder, relative to the page (the build copies weights/gpt2-tiny there). */
export const BUNDLED_URL = 'models/gpt2-tiny/';
const CACHE_NAME = 'gpt2-taps-models-v1';

export type Progress = (loaded: number, total: number | undefined, what: string) => void;

export interface LoadedBytes {
  model?: Uint8Array;
  /** A sharded checkpoint: each shard's bytes and the index's weight_map. */
  shards?: { files: Record<string, Uint8Array>; weightMap: Record<string, string> };
  config?: Record<string, unknown>;
  label: string;
  cached?: boolean;
  note?: string;
}

async function openCache(): Promise<Cache | undefined> {
  try {
    return typeof caches === 'undefined' ? undefined : await caches.open(CACHE_NAME);
  } catch {
    return undefined; // no Cache Storage here (opaque origin, private mode): download every time
  }
}

/** Parses a short name or repo id, or says what is wrong with it. */
export function repoSpec(name: string): RepoSpec {
  const spec = parseRepoSpec(name.trim());
  if (!spec) {
    throw new GPT2TapsError(`"${name}" is not a Hugging Face repo id`, `type owner/name, optionally @revision (e.g. openai-community/gpt2), or one of ${HF_NAMES.join(', ')}`);
  }
  return spec;
}

/** What a repo is called in messages: the short name when it was given by one. */
const display = (spec: RepoSpec) => spec.alias ?? repoLabel(spec);

/** A client error as a GPT2TapsError naming the repo. */
function hubError(spec: RepoSpec, e: unknown, what: string): GPT2TapsError {
  if (e instanceof GPT2TapsError) return e;
  const status = (e as { statusCode?: number })?.statusCode;
  if (status === 401 || status === 403) {
    return new GPT2TapsError(`${repoLabel(spec)}: the hub refused ${what} (HTTP ${status}): the repo does not exist, or it is private or gated`, 'check the repo id; the demo reads public repos only');
  }
  if (status === 404) return new GPT2TapsError(`${repoLabel(spec)}: not found on the hub (HTTP 404 for ${what})`, `check the repo id and the revision "${spec.revision}"`);
  return new GPT2TapsError(`${repoLabel(spec)}: could not get ${what} from the hub (${(e as Error)?.message ?? String(e)})`, 'check the network connection');
}

interface RepoFiles { commit: string; entries: Map<string, ListFileEntry> }

const refKey = (spec: RepoSpec) => `${DEFAULT_HUB}/${spec.repo}/refs/${spec.revision}`;
const treeKey = (spec: RepoSpec, commit: string) => `${DEFAULT_HUB}/api/models/${spec.repo}/tree/${commit}`;
const fileKey = (spec: RepoSpec, commit: string, path: string) => `${DEFAULT_HUB}/${spec.repo}/resolve/${commit}/${path}`;

/**
 * The commit a revision points at and the files there (size, LFS sha256, git oid): from the hub,
 * kept in the cache; from the cache alone when the hub does not answer.
 */
async function repoFiles(spec: RepoSpec, cache: Cache | undefined): Promise<RepoFiles> {
  let commit: string | undefined;
  try {
    commit = /^[0-9a-f]{40}$/.test(spec.revision) ? spec.revision
      : (await modelInfo({ name: spec.repo, revision: spec.revision, additionalFields: ['sha'] })).sha;
    await cache?.put(refKey(spec), new Response(commit)).catch(() => {});
  } catch (e) {
    const cached = await cache?.match(refKey(spec));
    if (!cached || (e as { statusCode?: number })?.statusCode !== undefined) throw hubError(spec, e, `revision ${spec.revision}`);
    commit = await cached.text(); // offline: the commit we saw last
  }
  const cachedTree = await cache?.match(treeKey(spec, commit));
  let list: ListFileEntry[];
  if (cachedTree) {
    list = (await cachedTree.json()) as ListFileEntry[];
  } else {
    list = [];
    try {
      for await (const e of listFiles({ repo: spec.repo, revision: commit })) list.push(e);
    } catch (e) {
      throw hubError(spec, e, 'the file list');
    }
    await cache?.put(treeKey(spec, commit), new Response(JSON.stringify(list), { headers: { 'content-type': 'application/json' } })).catch(() => {});
  }
  return { commit, entries: new Map(list.filter((e) => e.type === 'file').map((e) => [e.path, e])) };
}

/** The weight files of a repo's listing: model.safetensors, or the index (its shards come from it). */
function weightFile(spec: RepoSpec, files: RepoFiles): string {
  const where = `${repoLabel(spec)} (commit ${files.commit.slice(0, 12)})`;
  const w = safetensorsEntry([...files.entries.keys()], where);
  if (!files.entries.has('config.json')) throw new GPT2TapsError(`${where} has no config.json`, 'a GPT-2 repo holds config.json next to its weights');
  return w;
}

/** The size of a Hugging Face model's weights before downloading them, and whether they are cached already. */
export async function hfSize(name: string): Promise<{ bytes?: number; cached: boolean; sharded: boolean }> {
  const spec = repoSpec(name);
  const cache = await openCache();
  const files = await repoFiles(spec, cache);
  const w = weightFile(spec, files);
  // A repo that is not a GPT-2 is refused now, before its size is offered for download.
  checkGpt2Config(new TextDecoder().decode((await repoFile(spec, files, 'config.json', cache)).bytes), `${repoLabel(spec)} (commit ${files.commit.slice(0, 12)})`);
  const entry = files.entries.get(w)!;
  const cached = !!(await cache?.match(fileKey(spec, files.commit, w)));
  if (w === 'model.safetensors') return { bytes: entry.lfs?.size ?? entry.size, cached, sharded: false };
  // Sharded: the sizes of the files that look like its shards (the index itself is read at load).
  const shards = [...files.entries.values()].filter((e) => /\.safetensors$/.test(e.path));
  return { bytes: shards.reduce((s, e) => s + (e.lfs?.size ?? e.size), 0) || undefined, cached, sharded: true };
}

/** Reads a response body whole, reporting progress; refuses a body shorter than its Content-Length. */
async function readBody(res: Response, what: string, onProgress?: Progress, size?: number): Promise<Uint8Array> {
  const header = res.headers.get('content-length');
  const total = size ?? (header && /^\d+$/.test(header) && !res.headers.get('content-encoding') ? Number(header) : undefined);
  return readStream(res.body, what, total, onProgress, () => res.arrayBuffer());
}

async function readStream(body: ReadableStream<Uint8Array> | null, what: string, total: number | undefined, onProgress: Progress | undefined,
  whole: () => Promise<ArrayBuffer>): Promise<Uint8Array> {
  onProgress?.(0, total, what);
  if (!body) {
    const buf = new Uint8Array(await whole());
    onProgress?.(buf.byteLength, buf.byteLength, what);
    return buf;
  }
  const reader = body.getReader();
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
  if (out && loaded === out.byteLength) return out;
  if (out) return out.subarray(0, loaded); // shorter than listed: verify() says so
  const joined = new Uint8Array(loaded);
  let pos = 0;
  for (const c of chunks) { joined.set(c, pos); pos += c.byteLength; }
  return joined;
}

async function digestHex(algo: 'SHA-256' | 'SHA-1', bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest(algo, bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Checks a download against the hub's listing (size; LFS sha256 or git blob sha1); a mismatch throws before anything is cached. */
async function verify(bytes: Uint8Array, entry: ListFileEntry, what: string): Promise<string> {
  const size = entry.lfs?.size ?? entry.size;
  if (bytes.byteLength !== size) {
    throw new GPT2TapsError(`${what}: downloaded ${bytes.byteLength} bytes but the hub lists ${size}: discarded, not cached`);
  }
  if (entry.lfs) {
    if (!/^[0-9a-f]{64}$/.test(entry.lfs.oid)) return `${what}: size verified (the hub lists no sha256)`;
    const got = await digestHex('SHA-256', bytes);
    if (got !== entry.lfs.oid) throw new GPT2TapsError(`${what}: sha256 ${got} does not match the hub's ${entry.lfs.oid}: discarded, not cached`, 'try again');
    return `${what}: sha256 verified`;
  }
  if (entry.oid && /^[0-9a-f]{40}$/.test(entry.oid)) {
    const head = new TextEncoder().encode(`blob ${bytes.byteLength}\0`);
    const all = new Uint8Array(head.byteLength + bytes.byteLength);
    all.set(head);
    all.set(bytes, head.byteLength);
    const got = await digestHex('SHA-1', all);
    if (got !== entry.oid) throw new GPT2TapsError(`${what}: git blob sha1 ${got} does not match the hub's ${entry.oid}: discarded, not cached`, 'try again');
    return `${what}: git blob sha1 verified`;
  }
  return `${what}: size verified`;
}

/**
 * One file of a repo at a commit: from the Cache Storage when there, else downloaded with the
 * client, checked against the listing, and stored.
 */
async function repoFile(spec: RepoSpec, files: RepoFiles, path: string, cache: Cache | undefined, onProgress?: Progress):
  Promise<{ bytes: Uint8Array; cached: boolean; note?: string }> {
  const what = `${display(spec)}/${path}`;
  const key = fileKey(spec, files.commit, path);
  const entry = files.entries.get(path);
  if (!entry) throw new GPT2TapsError(`${repoLabel(spec)} has no ${path}`);
  const hit = await cache?.match(key);
  if (hit) {
    try {
      return { bytes: await readBody(hit, `${what} (cached)`, onProgress), cached: true };
    } catch {
      await cache?.delete(key); // a damaged entry: download again
    }
  }
  let blob: Blob | null;
  try {
    // xet: false: the plain resolve URL and its CDN redirect, which the page's CSP allows.
    blob = await downloadFile({ repo: spec.repo, path, revision: files.commit, xet: false });
  } catch (e) {
    throw hubError(spec, e, path);
  }
  if (!blob) throw new GPT2TapsError(`${repoLabel(spec)}: the hub lists ${path} but does not serve it`);
  let bytes: Uint8Array;
  try {
    bytes = await readStream(blob.stream(), what, entry.lfs?.size ?? entry.size, onProgress, () => blob.arrayBuffer());
  } catch (e) {
    throw new GPT2TapsError(`download of ${what} failed (${(e as Error)?.message ?? String(e)})`, 'try again');
  }
  let note: string | undefined = await verify(bytes, entry, what);
  if (cache) {
    try {
      await cache.put(key, new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) },
      }));
    } catch (e) {
      note = [note, `not kept in the browser cache (${(e as Error).message}); a reload will download it again`].filter(Boolean).join('; ');
    }
  }
  return { bytes, cached: false, note };
}

/** A GPT-2 from the hub by short name or repo id: config.json (refused unless model_type is gpt2), then the weights. */
export async function loadHf(name: string, onProgress?: Progress): Promise<LoadedBytes> {
  const spec = repoSpec(name);
  const cache = await openCache();
  const files = await repoFiles(spec, cache);
  const w = weightFile(spec, files);
  const where = `${repoLabel(spec)} (commit ${files.commit.slice(0, 12)})`;
  const config = await repoFile(spec, files, 'config.json', cache);
  const configJson = checkGpt2Config(new TextDecoder().decode(config.bytes), where);
  const label = spec.alias ? `${spec.alias} (Hugging Face ${repoLabel(spec)})` : `Hugging Face ${repoLabel(spec)}`;
  if (w === 'model.safetensors') {
    const model = await repoFile(spec, files, w, cache, onProgress);
    return { model: model.bytes, config: configJson, label, cached: model.cached, note: model.note };
  }
  const index = await repoFile(spec, files, SAFETENSORS_INDEX_FILE, cache);
  const { weightMap, files: shardNames } = parseSafetensorsIndex(new TextDecoder().decode(index.bytes), `${where}: ${SAFETENSORS_INDEX_FILE}`);
  const shardFiles: Record<string, Uint8Array> = {};
  const notes: string[] = [];
  let cached = true;
  for (const shard of shardNames) {
    const got = await repoFile(spec, files, shard, cache, onProgress);
    shardFiles[shard] = got.bytes;
    cached &&= got.cached;
    if (got.note) notes.push(got.note);
  }
  return { shards: { files: shardFiles, weightMap }, config: configJson, label: `${label}, ${shardNames.length} shards`, cached, note: notes.join('; ') || undefined };
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
