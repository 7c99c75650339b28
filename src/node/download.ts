// `gpt2-taps download <name>`: fetches a released GPT-2's config.json and model.safetensors
// from the Hugging Face hub (or a mirror) into a directory, resumably.
//
// Each file goes to `<file>.part` first and is renamed to its final name only once complete
// and of the server's size, so a final file is always whole. An interrupted download keeps its
// .part, and the next run asks for the rest with a Range request.
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { GPT2TapsError } from '../errors.js';
import { KNOWN_MODELS, type KnownModelName } from '../engine/config.js';
import { formatBytes, progressBar, type ProgressBar } from './progress.js';

/** The files `downloadModel` fetches, in order. */
export const MODEL_FILES = ['config.json', 'model.safetensors'] as const;

export interface DownloadOptions {
  /** Target directory; `weights/<name>` under process.cwd() by default. Created when missing. */
  dir?: string;
  /** The hub, or a mirror with the same `<repo>/resolve/main/<file>` layout; 'https://huggingface.co' by default. */
  baseUrl?: string;
  /** fetch to use; the global one by default. */
  fetch?: typeof fetch;
  /** Show a progress bar on stderr per file. */
  progress?: boolean;
  /** Receives one line per notable event (skipped, resuming, restarting). */
  log?: (line: string) => void;
  /** Abort a transfer when no bytes arrive for this long (ms); 60 000 by default. */
  stallTimeoutMs?: number;
}

export interface DownloadedFile {
  file: string;
  /** Size of the final file. */
  bytes: number;
  /** True when an earlier .part was continued rather than fetched from zero. */
  resumed: boolean;
  /** True when the file was already complete and nothing was downloaded. */
  skipped: boolean;
}

export interface DownloadResult {
  dir: string;
  files: DownloadedFile[];
}

interface Ctx {
  fetch: typeof fetch;
  progress: boolean;
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

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') return undefined;
    throw new GPT2TapsError(`cannot access ${path} (${describe(e)})`);
  }
}

async function request(ctx: Ctx, url: string, init: RequestInit): Promise<Response> {
  try {
    return await ctx.fetch(url, { redirect: 'follow', ...init });
  } catch (e) {
    throw new GPT2TapsError(`network error fetching ${url} (${describe(e)})`, RESUME_HINT);
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

function httpError(res: Response, url: string): GPT2TapsError {
  const status = `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`;
  let hint = RESUME_HINT;
  if (res.status === 401 || res.status === 403) hint += '; the server refused access (check the URL, or a proxy)';
  if (res.status === 404) hint += '; the file was not found (check the model name and the base URL)';
  return new GPT2TapsError(`${status} for ${url}`, hint);
}

/** The decoded body size a response announces, when it can be known from Content-Length. */
function contentLength(res: Response): number | undefined {
  const enc = res.headers.get('content-encoding');
  if (enc && enc.toLowerCase() !== 'identity') return undefined; // Content-Length counts encoded bytes
  const v = res.headers.get('content-length');
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

function parseContentRange(v: string | null): { start: number; end: number; total?: number } | undefined {
  const m = v ? /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** The size of the file at `url` from a HEAD request, when the server says it. */
async function headSize(ctx: Ctx, url: string): Promise<number | undefined> {
  const res = await request(ctx, url, { method: 'HEAD', headers: { 'accept-encoding': 'identity' } });
  await discard(res);
  if (!res.ok) throw httpError(res, url);
  return contentLength(res);
}

/**
 * The file's sha256 as the hub states it: large (LFS) files answer /resolve/ with a redirect
 * carrying `X-Linked-Etag: "<sha256>"`. Read without following the redirect; undefined when
 * the server states none (small files, mirrors).
 */
async function statedSha256(ctx: Ctx, url: string): Promise<string | undefined> {
  let res: Response;
  try {
    res = await ctx.fetch(url, { method: 'HEAD', redirect: 'manual', headers: { 'accept-encoding': 'identity' } });
  } catch {
    return undefined;
  }
  await discard(res);
  const tag = (res.headers.get('x-linked-etag') ?? '').replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(tag) ? tag : undefined;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
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
 * Streams a response body to `path` (appending, or from zero), reporting progress.
 * Returns the size of the file afterwards. On a broken transfer the bytes received so far
 * stay in `path` and a GPT2TapsError is thrown.
 */
async function writeBody(
  ctx: Ctx, res: Response, url: string, path: string, offset: number, total: number | undefined,
  bar: ProgressBar | undefined, abort: AbortController,
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
    bar?.update(written, total);
    if (!res.body) return written;
    const reader = res.body.getReader();
    arm();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        const why = stalled ? `no data for ${ctx.stallTimeoutMs / 1000} s` : describe(e);
        throw new GPT2TapsError(
          `download of ${url} interrupted after ${written}${total !== undefined ? ` of ${total}` : ''} bytes (${why})`,
          RESUME_HINT,
        );
      }
      if (chunk.done) break;
      arm();
      const buf = chunk.value;
      for (let off = 0; off < buf.byteLength;) {
        const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off);
        off += bytesWritten;
      }
      written += buf.byteLength;
      bar?.update(written, total);
    }
    return written;
  } finally {
    if (timer) clearTimeout(timer);
    await fh.close();
  }
}

async function downloadFile(ctx: Ctx, url: string, dir: string, file: string): Promise<DownloadedFile> {
  const finalPath = join(dir, file);
  const partPath = `${finalPath}.part`;
  const isSafetensors = file.endsWith('.safetensors');

  // Already there? Compare with the server's size when it gives one.
  const existing = await sizeOf(finalPath);
  if (existing !== undefined) {
    const remote = await headSize(ctx, url);
    let problem: string | undefined;
    if (remote !== undefined && remote !== existing) problem = `its size (${existing} bytes) differs from the server's (${remote} bytes)`;
    else if (isSafetensors) problem = await safetensorsHeaderProblem(finalPath);
    if (!problem) {
      ctx.log(`${file}: already complete (${formatBytes(existing)}), skipped`);
      return { file, bytes: existing, resumed: false, skipped: true };
    }
    ctx.log(`${file}: ${problem}; downloading it again`);
    await rm(finalPath, { force: true });
  }

  let resumed = false;
  for (let attempt = 0; ; attempt++) {
    if (attempt >= 3) {
      throw new GPT2TapsError(
        `cannot download ${url}: the server's answers to range requests are inconsistent`,
        `delete ${partPath} and re-run the same command`,
      );
    }
    const partSize = (await sizeOf(partPath)) ?? 0;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (partSize > 0) headers.range = `bytes=${partSize}-`;
    const abort = new AbortController();
    const res = await request(ctx, url, { headers, signal: abort.signal });

    if (res.status === 416 && partSize > 0) {
      // Nothing after partSize: the part may be complete. Ask for the size.
      await discard(res);
      const remote = await headSize(ctx, url);
      if (remote === partSize) {
        resumed = true;
        break;
      }
      ctx.log(`${file}: the partial download (${partSize} bytes) does not match the server's file; starting again`);
      await rm(partPath, { force: true });
      continue;
    }
    if (!res.ok) {
      await discard(res);
      throw httpError(res, url);
    }

    let offset: number;
    let expected: number | undefined;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== partSize) {
        await discard(res);
        ctx.log(`${file}: the server answered the range request with ${cr ? `bytes ${cr.start}-` : 'no Content-Range'}; starting again`);
        await rm(partPath, { force: true });
        continue;
      }
      offset = partSize;
      expected = cr.total;
      if (partSize > 0) ctx.log(`${file}: resuming at ${formatBytes(partSize)}`);
    } else {
      if (partSize > 0) ctx.log(`${file}: the server ignored the range request; starting again from zero`);
      offset = 0;
      expected = contentLength(res);
    }
    resumed = offset > 0;

    const bar = ctx.progress ? progressBar(file) : undefined;
    let got: number;
    try {
      got = await writeBody(ctx, res, url, partPath, offset, expected, bar, abort);
    } catch (e) {
      bar?.done('interrupted');
      throw e;
    }
    if (expected === undefined) {
      try {
        expected = await headSize(ctx, url);
      } catch {
        expected = undefined; // the transfer itself ended cleanly; accept it
      }
    }
    if (expected !== undefined && got !== expected) {
      bar?.done('failed');
      await rm(partPath, { force: true });
      throw new GPT2TapsError(
        `${file} from ${url} has the wrong size: expected ${expected} bytes, got ${got}`,
        're-run the same command to download it again; if this persists, a proxy or mirror is truncating the file',
      );
    }
    bar?.done();
    break;
  }

  const sha = await statedSha256(ctx, url);
  if (sha) {
    const got = await sha256File(partPath);
    if (got !== sha) {
      await rm(partPath, { force: true });
      throw new GPT2TapsError(
        `${file} from ${url} failed its checksum: sha256 ${got}, the server states ${sha}; the download was discarded`,
        're-run the same command to download it again',
      );
    }
    ctx.log(`${file}: sha256 verified`);
  }
  if (isSafetensors) {
    const problem = await safetensorsHeaderProblem(partPath);
    if (problem) {
      await rm(partPath, { force: true });
      throw new GPT2TapsError(
        `${file} from ${url} is not a safetensors file: ${problem}`,
        'the server sent something else (an error page?); check the base URL and re-run the same command',
      );
    }
  }
  await rename(partPath, finalPath);
  const bytes = (await sizeOf(finalPath)) ?? 0;
  return { file, bytes, resumed, skipped: false };
}

/**
 * Downloads config.json and model.safetensors of a known GPT-2 model into `dir`
 * (default `weights/<name>`), resuming partial downloads and skipping complete files.
 */
export async function downloadModel(name: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  if (!Object.hasOwn(KNOWN_MODELS, name)) {
    const valid = Object.keys(KNOWN_MODELS).join(', ');
    throw new GPT2TapsError(`unknown model "${name}"; valid names: ${valid}`, `for example: gpt2-taps download gpt2`);
  }
  const { repo } = KNOWN_MODELS[name as KnownModelName];
  const f = opts.fetch ?? globalThis.fetch;
  if (!f) throw new GPT2TapsError('no fetch() in this environment', 'use Node 20 or newer, or pass opts.fetch');
  const ctx: Ctx = {
    fetch: f,
    progress: opts.progress ?? false,
    log: opts.log ?? (() => {}),
    stallTimeoutMs: opts.stallTimeoutMs ?? 60_000,
  };
  const dir = resolve(opts.dir ?? join(process.cwd(), 'weights', name));
  const base = (opts.baseUrl ?? 'https://huggingface.co').replace(/\/+$/, '');
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new GPT2TapsError(`cannot create directory ${dir} (${describe(e)})`);
  }
  const files: DownloadedFile[] = [];
  for (const file of MODEL_FILES) {
    files.push(await downloadFile(ctx, `${base}/${repo}/resolve/main/${file}`, dir, file));
  }
  return { dir, files };
}
