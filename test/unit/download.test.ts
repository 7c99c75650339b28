// downloadModel against a local node:http server that serves the gpt2-tiny fixture files
// in the hub's `<repo>/resolve/main/<file>` layout, with switches for interrupted transfers,
// servers that ignore Range, servers that lie about sizes, and redirects.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { downloadModel } from '../../src/node/download.js';
import { progressBar } from '../../src/node/progress.js';
import { GPT2TapsError } from '../../src/errors.js';

const FIXTURE_DIR = 'weights/gpt2-tiny'; // the bundled checkpoint
const FILES: Record<string, Buffer> = {
  'config.json': readFileSync(join(FIXTURE_DIR, 'config.json')),
  'model.safetensors': readFileSync(join(FIXTURE_DIR, 'model.safetensors')),
};
const MODEL_SIZE = FILES['model.safetensors'].byteLength;

interface Switches {
  /** GET bodies longer than this are cut: this many bytes are sent, then the socket is destroyed. */
  cutAfter?: number;
  /** Answer Range requests with 200 and the whole file. */
  ignoreRange?: boolean;
  /** Send only this many bytes of bodies longer than it, as a 206 claiming the whole file's size. */
  truncateTo?: number;
  /** Announce this many extra bytes in Content-Length (GET and HEAD), then close the connection. */
  extraLength?: number;
  /** Redirect (302) every /<repo>/resolve/main/<file> to /cdn/<repo>/<file>. */
  redirect?: boolean;
  /** Answer every request with this status. */
  status?: number;
  /** Serve these bytes instead of the fixture. */
  override?: Record<string, Buffer>;
  /** On the redirect (as the hub does for LFS files), state this sha256 in X-Linked-Etag. */
  linkedSha256?: string;
}

interface Seen { method: string; path: string; range?: string }

let server: Server;
let base: string;
let sw: Switches = {};
let seen: Seen[] = [];
let dir: string;

function handle(method: string, path: string, range: string | undefined, res: ServerResponse): void {
  if (sw.status) {
    res.writeHead(sw.status, { 'content-type': 'text/plain' }).end('nope');
    return;
  }
  let m = /^\/(.+)\/resolve\/main\/([^/]+)$/.exec(path);
  if (m && sw.redirect) {
    const tag = sw.linkedSha256 && m[2] === 'model.safetensors' ? { 'x-linked-etag': `"${sw.linkedSha256}"` } : {};
    res.writeHead(302, { location: `/cdn/${m[1]}/${m[2]}`, ...tag }).end();
    return;
  }
  if (!m) m = /^\/cdn\/(.+)\/([^/]+)$/.exec(path);
  const data = m ? (sw.override?.[m[2]] ?? FILES[m[2]]) : undefined;
  if (!m || !data) {
    res.writeHead(404).end('not found');
    return;
  }
  const size = data.byteLength;
  let status = 200;
  let start = 0;
  let end = size - 1;
  const r = range && !sw.ignoreRange ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
  if (r) {
    start = Number(r[1]);
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    if (r[2]) end = Math.min(size - 1, Number(r[2]));
    status = 206;
  }
  let body = data.subarray(start, end + 1);
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
  if (method === 'GET' && sw.truncateTo !== undefined && body.byteLength > sw.truncateTo) {
    body = body.subarray(0, sw.truncateTo);
    status = 206;
    end = start + body.byteLength - 1;
  }
  if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  headers['content-length'] = body.byteLength + (sw.extraLength ?? 0);
  res.writeHead(status, headers);
  if (method === 'HEAD') {
    res.end();
    return;
  }
  const cut = sw.cutAfter !== undefined && body.byteLength > sw.cutAfter ? sw.cutAfter : undefined;
  if (cut !== undefined || sw.extraLength) {
    // Send what we send, then drop the connection mid-body.
    res.write(body.subarray(0, cut ?? body.byteLength), () => res.socket?.destroy());
    return;
  }
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const range = req.headers.range;
    seen.push({ method: req.method ?? 'GET', path, range });
    handle(req.method ?? 'GET', path, range, res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
});

beforeEach(async () => {
  sw = {};
  seen = [];
  dir = await mkdtemp(join(tmpdir(), 'gpt2-taps-download-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectIdentical(d: string): Promise<void> {
  for (const [file, want] of Object.entries(FILES)) {
    const got = await readFile(join(d, file));
    expect(got.byteLength, file).toBe(want.byteLength);
    expect(got.equals(want), `${file} differs from the fixture`).toBe(true);
    expect(existsSync(join(d, `${file}.part`)), `${file}.part left behind`).toBe(false);
  }
}

async function rejection(p: Promise<unknown>): Promise<GPT2TapsError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(GPT2TapsError);
    return e as GPT2TapsError;
  }
  throw new Error('expected a rejection');
}

describe('downloadModel', () => {
  it('downloads config.json and model.safetensors byte-identical', async () => {
    const r = await downloadModel('gpt2', { dir, baseUrl: base });
    expect(r.dir).toBe(dir);
    expect(r.files).toEqual([
      { file: 'config.json', bytes: FILES['config.json'].byteLength, resumed: false, skipped: false },
      { file: 'model.safetensors', bytes: MODEL_SIZE, resumed: false, skipped: false },
    ]);
    await expectIdentical(dir);
    expect(seen.filter((s) => s.method === 'GET').map((s) => s.path)).toEqual([
      '/openai-community/gpt2/resolve/main/config.json',
      '/openai-community/gpt2/resolve/main/model.safetensors',
    ]);
  });

  it('uses the repo of the model and defaults the dir to weights/<name> under cwd', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await downloadModel('distilgpt2', { baseUrl: `${base}/` });
      expect(r.dir).toBe(join(process.cwd(), 'weights', 'distilgpt2'));
    } finally {
      process.chdir(cwd);
    }
    await expectIdentical(join(dir, 'weights', 'distilgpt2'));
    expect(seen.some((s) => s.path === '/distilbert/distilgpt2/resolve/main/model.safetensors')).toBe(true);
  });

  it('keeps the .part of an interrupted download and resumes it with a Range request', async () => {
    sw.cutAfter = 5_000_000;
    const err = await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    expect(err.message).toMatch(/interrupted/);
    expect(err.message).toContain('/openai-community/gpt2/resolve/main/model.safetensors');
    expect(err.message).toMatch(/re-run the same command to resume/);
    const part = join(dir, 'model.safetensors.part');
    const partSize = (await stat(part)).size;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThanOrEqual(5_000_000);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(dir, 'config.json'))).toBe(true);

    sw = {};
    seen = [];
    const lines: string[] = [];
    const r = await downloadModel('gpt2', { dir, baseUrl: base, log: (l) => lines.push(l) });
    const get = seen.find((s) => s.method === 'GET' && s.path.endsWith('/model.safetensors'));
    expect(get?.range).toBe(`bytes=${partSize}-`);
    expect(r.files[0]).toMatchObject({ file: 'config.json', skipped: true });
    expect(r.files[1]).toEqual({ file: 'model.safetensors', bytes: MODEL_SIZE, resumed: true, skipped: false });
    expect(lines.some((l) => /resuming/.test(l))).toBe(true);
    await expectIdentical(dir);
  });

  it('starts again from zero when the server ignores Range', async () => {
    sw.cutAfter = 3_000_000;
    await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    expect((await stat(join(dir, 'model.safetensors.part'))).size).toBeGreaterThan(0);

    sw = { ignoreRange: true };
    seen = [];
    const lines: string[] = [];
    const r = await downloadModel('gpt2', { dir, baseUrl: base, log: (l) => lines.push(l) });
    expect(seen.find((s) => s.method === 'GET' && s.path.endsWith('/model.safetensors'))?.range).toMatch(/^bytes=\d+-$/);
    expect(r.files[1]).toEqual({ file: 'model.safetensors', bytes: MODEL_SIZE, resumed: false, skipped: false });
    expect(lines.some((l) => /ignored the range request/.test(l))).toBe(true);
    await expectIdentical(dir);
  });

  it('finishes a complete .part (416 to the Range request) after checking its size', async () => {
    await writeFile(join(dir, 'model.safetensors.part'), FILES['model.safetensors']);
    const r = await downloadModel('gpt2', { dir, baseUrl: base });
    expect(seen.some((s) => s.method === 'HEAD' && s.path.endsWith('/model.safetensors'))).toBe(true);
    expect(r.files[1]).toEqual({ file: 'model.safetensors', bytes: MODEL_SIZE, resumed: true, skipped: false });
    await expectIdentical(dir);
  });

  it('rejects a body shorter than the size the server claims, leaving no final file', async () => {
    sw.truncateTo = 1_000_000;
    const err = await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    expect(err.message).toContain(`expected ${MODEL_SIZE} bytes, got 1000000`);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(dir, 'model.safetensors.part'))).toBe(false);
  });

  it('rejects a Content-Length larger than the body, leaving no final file', async () => {
    sw.extraLength = 1000;
    await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    // A re-run against the same lying server still never produces a final file.
    await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
  });

  it('rejects a model.safetensors without a safetensors header', async () => {
    sw.override = { 'model.safetensors': Buffer.from('<html>' + 'x'.repeat(5000) + '</html>') };
    const err = await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    expect(err.message).toMatch(/not a safetensors file/);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(dir, 'model.safetensors.part'))).toBe(false);
  });

  it('errors on an unknown model name, listing the valid names', async () => {
    const err = await rejection(downloadModel('gpt5', { dir, baseUrl: base }));
    for (const n of ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl', 'distilgpt2']) expect(err.message).toContain(n);
    expect(seen).toEqual([]);
  });

  it('skips both files of a complete directory', async () => {
    await downloadModel('gpt2', { dir, baseUrl: base });
    seen = [];
    const r = await downloadModel('gpt2', { dir, baseUrl: base });
    expect(r.files.map((f) => f.skipped)).toEqual([true, true]);
    expect(r.files.map((f) => f.bytes)).toEqual([FILES['config.json'].byteLength, MODEL_SIZE]);
    expect(seen.every((s) => s.method === 'HEAD')).toBe(true);
    await expectIdentical(dir);
  });

  it('downloads again a final file whose size differs from the server', async () => {
    await downloadModel('gpt2', { dir, baseUrl: base });
    await writeFile(join(dir, 'config.json'), '{}');
    const r = await downloadModel('gpt2', { dir, baseUrl: base });
    expect(r.files.map((f) => f.skipped)).toEqual([false, true]);
    await expectIdentical(dir);
  });

  it('follows a redirect', async () => {
    sw.redirect = true;
    await downloadModel('gpt2', { dir, baseUrl: base });
    expect(seen.some((s) => s.path === '/cdn/openai-community/gpt2/model.safetensors')).toBe(true);
    await expectIdentical(dir);
  });

  it('reports HTTP errors with the status and URL, keeping the .part', async () => {
    sw.cutAfter = 2_000_000;
    await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    const partSize = (await stat(join(dir, 'model.safetensors.part'))).size;
    sw = { status: 503 };
    const err = await rejection(downloadModel('gpt2', { dir, baseUrl: base }));
    expect(err.message).toContain('HTTP 503');
    expect(err.message).toContain(`${base}/openai-community/gpt2/resolve/main/`);
    expect(err.hint).toMatch(/re-run the same command to resume/);
    expect((await stat(join(dir, 'model.safetensors.part'))).size).toBe(partSize);
  });

  it('reports network errors as GPT2TapsError', async () => {
    const s = createServer();
    await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((ok) => s.close(() => ok()));
    const err = await rejection(downloadModel('gpt2', { dir, baseUrl: `http://127.0.0.1:${port}` }));
    expect(err.message).toMatch(/network error/);
  });

  it('draws a progress bar on stderr when asked', async () => {
    const writes: string[] = [];
    const orig = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => { writes.push(String(chunk)); return true; }) as typeof process.stderr.write;
    try {
      await downloadModel('gpt2', { dir, baseUrl: base, progress: true });
    } finally {
      process.stderr.write = orig;
    }
    expect(writes.join('')).toContain('model.safetensors');
    await expectIdentical(dir);
  });
});

function sink(isTTY: boolean): { stream: NodeJS.WritableStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } });
  Object.assign(stream, { isTTY, columns: 200 });
  return { stream, text: () => chunks.join('') };
}

describe('progressBar', () => {
  it('prints at most one plain line per 10% when not a TTY', () => {
    const s = sink(false);
    const bar = progressBar('weights', { stream: s.stream });
    for (let i = 0; i <= 1000; i++) bar.update(i * 27_700, 27_700_000);
    bar.done();
    const lines = s.text().trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(10);
    expect(lines[0]).toMatch(/^weights 10% 2\.8\/27\.7 MB/);
    expect(lines.at(-1)).toMatch(/^weights 27\.7 MB/);
    expect(s.text()).not.toContain('\r');
  });

  it('redraws one line with a bar on a TTY, throttled', () => {
    const s = sink(true);
    const bar = progressBar('weights', { stream: s.stream });
    for (let i = 0; i <= 1000; i++) bar.update(i * 27_700, 27_700_000);
    bar.done('loaded');
    const text = s.text();
    expect(text.split('\r').length).toBeLessThan(10); // all updates within ~100 ms: few redraws
    expect(text).toMatch(/^\rweights \[\.{30}\] 0% 0\.0\/27\.7 MB\x1b\[K/);
    expect(text).toMatch(/\rweights \[#{30}\] 100% 27\.7\/27\.7 MB/); // the last update (complete) is always drawn
    expect(text.endsWith('weights loaded\x1b[K\n')).toBe(true);
  });
});

describe('checksums stated by the hub (X-Linked-Etag)', () => {
  it('a matching sha256 is verified; a mismatching one discards the file and caches nothing', async () => {
    const good = createHash('sha256').update(FILES['model.safetensors']).digest('hex');
    sw = { redirect: true, linkedSha256: good };
    const lines: string[] = [];
    const ok = await downloadModel('gpt2', { dir: join(dir, 'sha-ok'), baseUrl: base, log: (l) => lines.push(l) });
    expect(ok.files.map((f) => f.file)).toEqual(['config.json', 'model.safetensors']);
    expect(lines.join('\n')).toMatch(/model.safetensors: sha256 verified/);

    sw = { redirect: true, linkedSha256: 'ab'.repeat(32) };
    const target = join(dir, 'sha-bad');
    await expect(downloadModel('gpt2', { dir: target, baseUrl: base })).rejects.toThrow(/failed its checksum[^]*discarded/);
    expect(existsSync(join(target, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(target, 'model.safetensors.part'))).toBe(false);
  });
});
