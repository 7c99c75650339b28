// `gpt2-taps download <repo id>` and `--model <repo id>`: a GPT-2 from the Hugging Face hub
// into Python's Hugging Face cache, in its layout (see ./hub.ts), so that Python finds it too.
//
// @huggingface/hub does the hub's side: the revision's commit (modelInfo), the file list with
// sizes and hashes (listFiles), each file's download URL (fileDownloadInfo), and the placing of
// a blob into snapshots/<commit>/ (downloadFileToCacheDir, which links a blob that is already
// there). Ours, because the client does not do it: the transfer itself, resumable (the client's
// downloadFileToCacheDir starts a blob's `.incomplete` from zero each time), with a progress bar
// and a stall timeout; and the check of each file against the hub's size and hash (sha256 for LFS
// files, the git blob sha1 for small ones) BEFORE it enters the cache: a mismatch is discarded.
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { downloadFileToCacheDir, fileDownloadInfo, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { GPT2TapsError } from '../errors.js';
import {
  type RepoSpec, checkGpt2Config, parseRepoSpec, repoLabel, safetensorsEntry, setModelNameResolver,
} from '../checkpoint/sources.js';
import { SAFETENSORS_INDEX_FILE, parseSafetensorsIndex } from '../checkpoint/safetensors.js';
import { KNOWN_MODELS } from '../checkpoint/config.js';
import {
  COMMIT_RE, type HubSettings, type HubSettingsOptions, findCachedModel, hubSettings, offlineError, repoCacheDir,
} from './hub.js';
import { formatBytes, progressBar, type ProgressBar } from './progress.js';

export interface DownloadOptions extends HubSettingsOptions {
  /** fetch to use; the global one by default. */
  fetch?: typeof fetch;
  /** Show a progress bar on stderr per file. */
  progress?: boolean;
  /** Download progress per file (bytes so far, the file's size, `<repo>/<file>`). */
  onProgress?: (loaded: number, total: number | undefined, what: string) => void;
  /** Receives one line per notable event (from the cache, resuming, verified). */
  log?: (line: string) => void;
  /** Abort a transfer when no bytes arrive for this long (ms); 60 000 by default. */
  stallTimeoutMs?: number;
}

export interface DownloadedFile {
  file: string;
  /** Size of the file. */
  bytes: number;
  /** True when an earlier `.incomplete` was continued rather than fetched from zero. */
  resumed: boolean;
  /** True when the file was in the cache already and nothing was downloaded. */
  skipped: boolean;
}

export interface DownloadResult {
  repo: string;
  revision: string;
  commit: string;
  /** The snapshot folder, `<cache>/models--owner--name/snapshots/<commit>`: a model folder for --model. */
  dir: string;
  files: DownloadedFile[];
  /** True when everything came from the cache, without the network. */
  cached: boolean;
}

interface Ctx {
  spec: RepoSpec;
  settings: HubSettings;
  fetch: typeof fetch;
  progress: boolean;
  onProgress?: DownloadOptions['onProgress'];
  log: (line: string) => void;
  stallTimeoutMs: number;
}

const RESUME_HINT = 're-run the same command to resume; the partial download is kept';

function describe(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } } | undefined;
  const msg = err?.message ?? String(e);
  const cause = err?.cause;
  const detail = cause?.code ?? cause?.message;
  return detail && !msg.includes(detail) ? `${msg}: ${detail}` : msg;
}

/**
 * The fetch given to @huggingface/hub and used for the transfers: adds `Authorization: Bearer
 * <token>` to requests to the hub's own origin (a redirect to a CDN does not carry it). Done
 * here rather than with the client's accessToken, which refuses tokens that do not start with
 * hf_ (a mirror's may not), and which our own transfer needs too.
 */
function authFetch(base: typeof fetch, settings: HubSettings): typeof fetch {
  if (!settings.token) return base;
  const origin = new URL(settings.endpoint).origin;
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (new URL(url).origin !== origin) return base(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${settings.token}`);
    return base(input, { ...init, headers });
  }) as typeof fetch;
}

/** A client or network error as a GPT2TapsError that names the repo and what to do. Never includes the token. */
function hubError(ctx: Ctx, e: unknown, what: string): GPT2TapsError {
  if (e instanceof GPT2TapsError) return e;
  const where = repoLabel(ctx.spec);
  const status = (e as { statusCode?: number })?.statusCode;
  const endpoint = ctx.settings.endpoint;
  const detail = describe(e).split(ctx.settings.token ?? '\u0000').join('<HF_TOKEN>');
  if (status === 401 || status === 403) {
    return new GPT2TapsError(`${where}: the hub ${endpoint} refused ${what} (HTTP ${status}): the repo does not exist, or it is private or gated`,
      ctx.settings.token ? 'check the repo id, and that HF_TOKEN has access to it (for a gated repo, accept its terms on the hub first)'
        : 'check the repo id; for a private or gated repo, set HF_TOKEN to an access token');
  }
  if (status === 404) {
    return new GPT2TapsError(`${where}: not found on ${endpoint} (HTTP 404 for ${what})`,
      `check the repo id and the revision "${ctx.spec.revision}"`);
  }
  if (status !== undefined) return new GPT2TapsError(`${where}: the hub ${endpoint} answered HTTP ${status} for ${what} (${detail})`, 'try again later');
  return new GPT2TapsError(`${where}: cannot reach the hub ${endpoint} for ${what} (${detail})`,
    'check the network (or HF_ENDPOINT); with HF_HUB_OFFLINE=1 only the Hugging Face cache is used');
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new GPT2TapsError(`cannot access ${path} (${describe(e)})`);
  }
}

/** Reads and drops a response body so the connection can be reused. */
async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // nothing to do
  }
}

function parseContentRange(v: string | null): { start: number; end: number; total?: number } | undefined {
  const m = v ? /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** sha256 of a file, hex; or with `gitBlob`, the git blob sha1 (sha1 of "blob <size>\0" + content). */
async function hashFile(path: string, gitBlob: boolean): Promise<string> {
  const hash = createHash(gitBlob ? 'sha1' : 'sha256');
  if (gitBlob) hash.update(`blob ${(await stat(path)).size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Checks that a file starts like a safetensors file: an 8-byte little-endian header length
 * that fits in the file, then a JSON header starting with `{`. Returns the problem, if any.
 */
export async function safetensorsHeaderProblem(path: string): Promise<string | undefined> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < 10) return `only ${size} bytes long`;
    const head = Buffer.alloc(9);
    await fh.read(head, 0, 9, 0);
    const n = head.readBigUInt64LE(0);
    if (n < 2n || n + 8n > BigInt(size)) return `its header length (${n}) does not fit in its ${size} bytes`;
    if (head[8] !== 0x7b) return 'its header does not start with "{"';
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * Streams a response body to `path` (appending, or from zero), reporting progress. Returns the
 * size of the file afterwards. On a broken transfer the bytes received so far stay in `path`.
 */
async function writeBody(
  ctx: Ctx, res: Response, url: string, path: string, offset: number, total: number,
  report: (n: number) => void, abort: AbortController,
): Promise<number> {
  const fh = await open(path, offset > 0 ? 'a' : 'w');
  let written = offset;
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => { stalled = true; abort.abort(); }, ctx.stallTimeoutMs);
  };
  try {
    report(written);
    if (!res.body) return written;
    const reader = res.body.getReader();
    arm();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        const why = stalled ? `no data for ${ctx.stallTimeoutMs / 1000} s` : describe(e);
        throw new GPT2TapsError(`download of ${url} interrupted after ${written} of ${total} bytes (${why})`, RESUME_HINT);
      }
      if (chunk.done) break;
      arm();
      const buf = chunk.value;
      if (written + buf.byteLength > total) {
        await reader.cancel().catch(() => {});
        throw new GPT2TapsError(`${url} sent more than the ${total} bytes the hub lists for it`, 're-run the same command to download it again');
      }
      for (let off = 0; off < buf.byteLength;) {
        const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off);
        off += bytesWritten;
      }
      written += buf.byteLength;
      report(written);
    }
    return written;
  } finally {
    if (timer) clearTimeout(timer);
    await fh.close();
  }
}

/**
 * Downloads `url` into `incomplete`, continuing what is there with a Range request, until it
 * holds `size` bytes. Returns whether an earlier part was continued.
 */
async function transfer(ctx: Ctx, file: string, url: string, incomplete: string, size: number): Promise<boolean> {
  const what = `${ctx.spec.repo}/${file}`;
  let resumed = false;
  for (let attempt = 0; ; attempt++) {
    if (attempt >= 3) {
      throw new GPT2TapsError(`cannot download ${url}: the server's answers to range requests are inconsistent`, `delete ${incomplete} and re-run the same command`);
    }
    let partSize = (await sizeOf(incomplete)) ?? 0;
    if (partSize > size) {
      ctx.log(`${file}: the partial download (${partSize} bytes) is longer than the file (${size} bytes); starting again`);
      await rm(incomplete, { force: true });
      partSize = 0;
    }
    if (partSize === size) return partSize > 0;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (partSize > 0) headers['range'] = `bytes=${partSize}-`;
    const abort = new AbortController();
    let res: Response;
    try {
      res = await ctx.fetch(url, { headers, signal: abort.signal, redirect: 'follow' });
    } catch (e) {
      throw new GPT2TapsError(`network error fetching ${url} (${describe(e)})`, RESUME_HINT);
    }
    if (res.status === 416 && partSize > 0) {
      await discard(res);
      ctx.log(`${file}: the server refused to continue at ${partSize} bytes; starting again`);
      await rm(incomplete, { force: true });
      continue;
    }
    if (!res.ok) {
      await discard(res);
      throw new GPT2TapsError(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} for ${url}`, RESUME_HINT);
    }
    let offset = 0;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== partSize || (cr.total !== undefined && cr.total !== size)) {
        await discard(res);
        ctx.log(`${file}: the server answered the range request with ${cr ? `bytes ${cr.start}-${cr.end}/${cr.total ?? '*'}` : 'no Content-Range'}; starting again`);
        await rm(incomplete, { force: true });
        continue;
      }
      offset = partSize;
      if (partSize > 0) ctx.log(`${file}: resuming at ${formatBytes(partSize)}`);
    } else if (partSize > 0) {
      ctx.log(`${file}: the server ignored the range request; starting again from zero`);
    }
    resumed = offset > 0;
    const bar: ProgressBar | undefined = ctx.progress ? progressBar(file) : undefined;
    const report = (n: number) => {
      bar?.update(n, size);
      ctx.onProgress?.(n, size, what);
    };
    let got: number;
    try {
      got = await writeBody(ctx, res, url, incomplete, offset, size, report, abort);
    } catch (e) {
      bar?.done('interrupted');
      throw e;
    }
    if (got !== size) {
      bar?.done('failed');
      await rm(incomplete, { force: true });
      throw new GPT2TapsError(`${file} from ${url} has the wrong size: the hub lists ${size} bytes, got ${got}; the download was discarded`,
        're-run the same command to download it again; if this persists, a proxy or mirror is truncating the file');
    }
    bar?.done();
    return resumed;
  }
}

/** The hub's record of a file: its size, the blob name (etag) the cache stores it under, and what that hash is. */
function record(entry: ListFileEntry): { size: number; etag: string; hash: 'sha256' | 'git-sha1' | 'none' } {
  // The same choice as the client's downloadFileToCacheDir (and Python): the LFS sha256, else the
  // xet hash, else the git blob sha1.
  if (entry.lfs) return { size: entry.lfs.size, etag: entry.lfs.oid, hash: /^[0-9a-f]{64}$/.test(entry.lfs.oid) ? 'sha256' : 'none' };
  if (entry.xetHash) return { size: entry.size, etag: entry.xetHash, hash: 'none' };
  if (entry.oid) return { size: entry.size, etag: entry.oid, hash: /^[0-9a-f]{40}$/.test(entry.oid) ? 'git-sha1' : 'none' };
  throw new GPT2TapsError(`the hub lists ${entry.path} without a hash`);
}

/**
 * One file of the snapshot: already there (and of the listed size), or downloaded into
 * blobs/<etag>.incomplete, checked, renamed to blobs/<etag>, and linked into the snapshot by
 * the client. Returns what happened.
 */
async function fetchFile(ctx: Ctx, commit: string, entry: ListFileEntry): Promise<DownloadedFile> {
  const file = entry.path;
  const { size, etag, hash } = record(entry);
  const repoDir = repoCacheDir(ctx.settings.cacheDir, ctx.spec.repo);
  const pointer = join(repoDir, 'snapshots', commit, ...file.split('/'));
  const blob = join(repoDir, 'blobs', etag);
  const present = await sizeOf(pointer);
  if (present === size) {
    ctx.log(`${file}: in the cache (${formatBytes(size)})`);
    return { file, bytes: size, resumed: false, skipped: true };
  }
  let resumed = false;
  let skipped = true;
  if ((await sizeOf(blob)) !== size) {
    skipped = false;
    await rm(blob, { force: true });
    await mkdir(dirname(blob), { recursive: true });
    let info;
    try {
      info = await fileDownloadInfo({ repo: ctx.spec.repo, path: file, revision: commit, hubUrl: ctx.settings.endpoint, fetch: ctx.fetch });
    } catch (e) {
      throw hubError(ctx, e, file);
    }
    if (!info) throw new GPT2TapsError(`${repoLabel(ctx.spec)}: the hub lists ${file} but does not serve it`);
    const incomplete = `${blob}.incomplete`;
    resumed = await transfer(ctx, file, info.url, incomplete, size);
    // The check before the file enters the cache.
    if (hash !== 'none') {
      const got = await hashFile(incomplete, hash === 'git-sha1');
      if (got !== etag) {
        await rm(incomplete, { force: true });
        throw new GPT2TapsError(
          `${file} of ${repoLabel(ctx.spec)} failed its checksum: ${hash === 'sha256' ? 'sha256' : 'git blob sha1'} ${got}, the hub states ${etag}; the download was discarded`,
          're-run the same command to download it again',
        );
      }
      ctx.log(`${file}: ${hash === 'sha256' ? 'sha256' : 'git blob sha1'} verified`);
    } else {
      ctx.log(`${file}: size verified (the hub states no sha256 for it)`);
    }
    if (file.endsWith('.safetensors')) {
      const problem = await safetensorsHeaderProblem(incomplete);
      if (problem) {
        await rm(incomplete, { force: true });
        throw new GPT2TapsError(`${file} of ${repoLabel(ctx.spec)} is not a safetensors file: ${problem}`, 'the server sent something else (an error page?)');
      }
    }
    await rename(incomplete, blob);
  }
  // The client links the blob (now present) into snapshots/<commit>/ without downloading it.
  let placed: string;
  try {
    placed = await downloadFileToCacheDir({
      repo: ctx.spec.repo, path: file, revision: commit, hubUrl: ctx.settings.endpoint, cacheDir: ctx.settings.cacheDir, fetch: ctx.fetch,
    });
  } catch (e) {
    throw hubError(ctx, e, file);
  }
  if (placed !== pointer || (await realpath(placed)) !== (await realpath(blob))) {
    throw new GPT2TapsError(`${file}: the Hugging Face client placed it at ${placed}, not as ${pointer} → ${blob}`, 'the hub\'s file listing and its paths-info disagree');
  }
  return { file, bytes: size, resumed, skipped };
}

/**
 * A GPT-2 from the hub, by repo id (`owner/name[@revision]`) or short name (gpt2, …,
 * distilgpt2): from the Hugging Face cache when complete there (no network), else downloaded
 * into it. config.json first (a repo whose model_type is not gpt2 is refused before any weights
 * are fetched), then model.safetensors or the sharded index and its shards.
 */
export async function downloadModel(spec: string | RepoSpec, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const parsed = typeof spec === 'string' ? parseRepoSpec(spec) : spec;
  if (!parsed) {
    throw new GPT2TapsError(`"${String(spec)}" is not a Hugging Face repo id`,
      `give owner/name[@revision] (e.g. openai-community/gpt2), or one of ${Object.keys(KNOWN_MODELS).join(', ')}`);
  }
  const settings = hubSettings(opts);
  const log = opts.log ?? (() => {});
  const cached = findCachedModel(parsed, settings.cacheDir);
  if ('dir' in cached) {
    log(`${repoLabel(parsed)}: in the Hugging Face cache, ${cached.dir}`);
    const files = await Promise.all(cached.files.map(async (file) => ({ file, bytes: (await sizeOf(join(cached.dir, file))) ?? 0, resumed: false, skipped: true })));
    return { repo: parsed.repo, revision: parsed.revision, commit: cached.commit, dir: cached.dir, files, cached: true };
  }
  if (settings.offline) throw offlineError(parsed, settings, cached.missing);

  const f = opts.fetch ?? globalThis.fetch;
  if (!f) throw new GPT2TapsError('no fetch() in this environment', 'use Node 20 or newer, or pass opts.fetch');
  const ctx: Ctx = {
    spec: parsed, settings, fetch: authFetch(f, settings), progress: opts.progress ?? false, onProgress: opts.onProgress, log,
    stallTimeoutMs: opts.stallTimeoutMs ?? 60_000,
  };
  const where = repoLabel(parsed);
  const hub = { repo: parsed.repo, hubUrl: settings.endpoint, fetch: ctx.fetch };

  // The commit the revision points at, then the files at that commit.
  let commit: string;
  if (COMMIT_RE.test(parsed.revision)) {
    commit = parsed.revision;
  } else {
    try {
      commit = (await modelInfo({ name: parsed.repo, revision: parsed.revision, additionalFields: ['sha'], hubUrl: settings.endpoint, fetch: ctx.fetch })).sha;
    } catch (e) {
      throw hubError(ctx, e, `revision ${parsed.revision}`);
    }
    if (typeof commit !== 'string' || !COMMIT_RE.test(commit)) throw new GPT2TapsError(`${where}: the hub did not state the revision's commit (got ${JSON.stringify(commit)})`);
  }
  const entries = new Map<string, ListFileEntry>();
  try {
    for await (const e of listFiles({ ...hub, revision: commit })) if (e.type === 'file') entries.set(e.path, e);
  } catch (e) {
    throw hubError(ctx, e, 'the file list');
  }
  const label = `${where} (commit ${commit.slice(0, 12)})`;
  const weights = safetensorsEntry([...entries.keys()], label); // refuses .bin-only repos, naming what it has
  if (!entries.has('config.json')) {
    throw new GPT2TapsError(`${label} has no config.json`, 'gpt2-taps needs the config.json of a GPT-2 (model_type "gpt2") next to its weights');
  }
  // refs/<revision> → commit, as Python's huggingface_hub writes it.
  const repoDir = repoCacheDir(settings.cacheDir, parsed.repo);
  if (!COMMIT_RE.test(parsed.revision)) {
    const ref = join(repoDir, 'refs', ...parsed.revision.split('/'));
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(ref, commit);
  }

  const files: DownloadedFile[] = [await fetchFile(ctx, commit, entries.get('config.json')!)];
  const dir = join(repoDir, 'snapshots', commit);
  checkGpt2Config(await readFile(join(dir, 'config.json'), 'utf8'), label);
  let names: string[] = [weights];
  if (weights === SAFETENSORS_INDEX_FILE) {
    files.push(await fetchFile(ctx, commit, entries.get(weights)!));
    names = parseSafetensorsIndex(await readFile(join(dir, weights), 'utf8'), `${label}: ${weights}`).files;
    const absent = names.filter((n) => !entries.has(n));
    if (absent.length > 0) throw new GPT2TapsError(`${label}: ${weights} names the shard ${absent[0]}, which the repo does not have`);
  }
  for (const name of names) files.push(await fetchFile(ctx, commit, entries.get(name)!));
  return { repo: parsed.repo, revision: parsed.revision, commit, dir, files, cached: false };
}

/**
 * The CLI's `--model`: a local path or URL stays as it is; a repo id (or short name) that is
 * complete in the Hugging Face cache becomes its snapshot folder (no network); otherwise it
 * stays a repo id, and opening it (GPT2.load, openModelSource) downloads it into the cache,
 * through the resolver installed here. `localOnly` (the browser backend, which serves local
 * folders) refuses a repo id that is not in the cache. With HF_HUB_OFFLINE, a repo id that is
 * not in the cache is refused here.
 */
export function resolveModelArg(model: string, opts: { log?: (line: string) => void; localOnly?: boolean } = {}): string {
  if (/^(https?|file):/i.test(model) || existsSync(model)) return model;
  const spec = parseRepoSpec(model);
  if (!spec) return model; // openModelSource says the path does not exist
  const settings = hubSettings();
  const found = findCachedModel(spec, settings.cacheDir);
  if ('dir' in found) {
    opts.log?.(`${repoLabel(spec)}: from the Hugging Face cache, ${found.dir}`);
    return found.dir;
  }
  if (settings.offline) throw offlineError(spec, settings, found.missing);
  if (opts.localOnly) {
    throw new GPT2TapsError(`${repoLabel(spec)} is not in the Hugging Face cache ${settings.cacheDir} (${found.missing}), and --backend browser reads local models only`,
      `download it first: gpt2-taps download ${model}`);
  }
  installHubResolver({ log: opts.log });
  return model;
}

/**
 * Makes openModelSource (and so GPT2.load) in Node resolve repo ids that are not local paths:
 * from the cache, else downloaded into it, with GPT2.load's progress callback.
 */
export function installHubResolver(opts: { log?: (line: string) => void } = {}): void {
  setModelNameResolver(async (name, o) => {
    if (existsSync(name)) return undefined;
    const spec = parseRepoSpec(name);
    if (!spec) return undefined;
    const r = await downloadModel(spec, { onProgress: o.onProgress, fetch: o.fetch, log: opts.log });
    return r.dir;
  });
}
