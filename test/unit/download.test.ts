// downloadModel's transfers against a local imitation of the hub (./hub-mock.ts): files go to
// blobs/<etag>.incomplete, are resumed with Range requests after an interruption, restarted when
// the server ignores Range, checked against the hub's size and hash, and only then placed into
// the cache. Also the progress bar.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { downloadModel } from '../../src/node/download.js';
import { progressBar } from '../../src/node/progress.js';
import { GPT2TapsError } from '../../src/errors.js';
import { FIXTURE_CONFIG, FIXTURE_MODEL, commitOf, gitSha1, sha256, standardRepos, startMockHub, type MockHub } from './hub-mock.js';

const REPO = 'test-org/gpt2-tiny';
const REPO_DIR = 'models--test-org--gpt2-tiny';
const COMMIT = commitOf(REPO);
const MODEL_SHA = sha256(FIXTURE_MODEL);
let hub: MockHub;
let cacheDir: string;

beforeAll(async () => {
  hub = await startMockHub(await standardRepos());
});
afterAll(async () => hub.close());
beforeEach(async () => {
  hub.sw = {};
  hub.seen = [];
  cacheDir = await mkdtemp(join(tmpdir(), 'gpt2-taps-download-'));
});
afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

const opts = (extra: Parameters<typeof downloadModel>[1] = {}) => ({ cacheDir, endpoint: hub.url, offline: false, token: '', ...extra });
const blob = (etag: string) => join(cacheDir, REPO_DIR, 'blobs', etag);

async function expectInCache(): Promise<void> {
  const snap = join(cacheDir, REPO_DIR, 'snapshots', COMMIT);
  expect((await readFile(join(snap, 'model.safetensors'))).equals(FIXTURE_MODEL)).toBe(true);
  expect((await readFile(join(snap, 'config.json'))).equals(FIXTURE_CONFIG)).toBe(true);
  expect(readdirSync(join(cacheDir, REPO_DIR, 'blobs')).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
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

describe('downloadModel transfers', () => {
  it('downloads config.json and model.safetensors byte-identical, through the hub\'s resolve URLs', async () => {
    const r = await downloadModel(REPO, opts());
    expect(r).toMatchObject({ repo: REPO, revision: 'main', commit: COMMIT, cached: false, dir: join(cacheDir, REPO_DIR, 'snapshots', COMMIT) });
    expect(r.files).toEqual([
      { file: 'config.json', bytes: FIXTURE_CONFIG.byteLength, resumed: false, skipped: false },
      { file: 'model.safetensors', bytes: FIXTURE_MODEL.byteLength, resumed: false, skipped: false },
    ]);
    await expectInCache();
    const gets = hub.seen.filter((s) => s.method === 'GET' && !s.range).map((s) => s.path);
    expect(gets).toContain(`/${REPO}/resolve/${COMMIT}/config.json`);
    expect(gets).toContain(`/cdn/${MODEL_SHA}`);
    expect(hub.seen.some((s) => s.path.includes('README.md'))).toBe(false); // only the model's files
  });

  it('keeps the .incomplete of an interrupted download and resumes it with a Range request', async () => {
    hub.sw.cutAfter = 5_000_000;
    const err = await rejection(downloadModel(REPO, opts()));
    expect(err.message).toMatch(/interrupted after \d+ of \d+ bytes/);
    expect(err.message).toContain(`/cdn/${MODEL_SHA}`);
    expect(err.hint).toMatch(/re-run the same command to resume/);
    const part = `${blob(MODEL_SHA)}.incomplete`;
    const partSize = (await stat(part)).size; // what arrived before the connection dropped
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThanOrEqual(5_000_000);
    expect(existsSync(blob(MODEL_SHA))).toBe(false);
    expect(existsSync(join(cacheDir, REPO_DIR, 'snapshots', COMMIT, 'model.safetensors'))).toBe(false);

    hub.sw = {};
    hub.seen = [];
    const lines: string[] = [];
    const r = await downloadModel(REPO, opts({ log: (l) => lines.push(l) }));
    expect(hub.seen.find((s) => s.path === `/cdn/${MODEL_SHA}` && s.range !== 'bytes=0-0')?.range).toBe(`bytes=${partSize}-`);
    expect(r.files[0]).toMatchObject({ file: 'config.json', skipped: true });
    expect(r.files[1]).toEqual({ file: 'model.safetensors', bytes: FIXTURE_MODEL.byteLength, resumed: true, skipped: false });
    expect(lines.join('\n')).toMatch(/model\.safetensors: resuming at /);
    expect(lines.join('\n')).toMatch(/model\.safetensors: sha256 verified/);
    await expectInCache();
  });

  it('starts again from zero when the server ignores Range', async () => {
    hub.sw.cutAfter = 3_000_000;
    await rejection(downloadModel(REPO, opts()));
    hub.sw = { ignoreRange: true };
    const lines: string[] = [];
    const r = await downloadModel(REPO, opts({ log: (l) => lines.push(l) }));
    expect(r.files[1]).toEqual({ file: 'model.safetensors', bytes: FIXTURE_MODEL.byteLength, resumed: false, skipped: false });
    expect(lines.some((l) => /ignored the range request/.test(l))).toBe(true);
    await expectInCache();
  });

  it('a sha256 that differs from the hub\'s record discards the download: nothing enters the cache', async () => {
    hub.sw.wrongSha256 = { path: 'model.safetensors', sha256: 'ab'.repeat(32) };
    const err = await rejection(downloadModel(REPO, opts()));
    expect(err.message).toContain(`model.safetensors of ${REPO} failed its checksum: sha256 ${MODEL_SHA}, the hub states ${'ab'.repeat(32)}; the download was discarded`);
    const blobs = readdirSync(join(cacheDir, REPO_DIR, 'blobs'));
    expect(blobs).toEqual([gitSha1(FIXTURE_CONFIG)]); // config.json only: no model blob, no .incomplete
    expect(existsSync(join(cacheDir, REPO_DIR, 'snapshots', COMMIT, 'model.safetensors'))).toBe(false);
    // With the right record, the same command succeeds.
    hub.sw = {};
    await downloadModel(REPO, opts());
    await expectInCache();
  });

  it('the git blob sha1 of a small file is checked too', async () => {
    const lines: string[] = [];
    await downloadModel(REPO, opts({ log: (l) => lines.push(l) }));
    expect(lines).toContain('config.json: git blob sha1 verified');
  });

  it('reports HTTP errors with the status, keeping the partial download', async () => {
    hub.sw.cutAfter = 2_000_000;
    await rejection(downloadModel(REPO, opts()));
    const partSize = (await stat(`${blob(MODEL_SHA)}.incomplete`)).size;
    hub.sw = { status: 503 };
    const err = await rejection(downloadModel(REPO, opts()));
    expect(err.message).toMatch(/HTTP 503/);
    expect(err.message).toContain(REPO);
    expect((await stat(`${blob(MODEL_SHA)}.incomplete`)).size).toBe(partSize);
  });

  it('reports network errors as GPT2TapsError naming the hub', async () => {
    const err = await rejection(downloadModel(REPO, opts({ endpoint: 'http://127.0.0.1:9' })));
    expect(err.message).toMatch(/cannot reach the hub http:\/\/127\.0\.0\.1:9/);
    expect(err.hint).toMatch(/HF_HUB_OFFLINE/);
  });

  it('draws a progress bar on stderr when asked, and reports onProgress per file', async () => {
    const writes: string[] = [];
    const seen: [number, number | undefined, string][] = [];
    const orig = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => { writes.push(String(chunk)); return true; }) as typeof process.stderr.write;
    try {
      await downloadModel(REPO, opts({ progress: true, onProgress: (l, t, w) => seen.push([l, t, w]) }));
    } finally {
      process.stderr.write = orig;
    }
    expect(writes.join('')).toContain('model.safetensors');
    expect(seen.at(-1)).toEqual([FIXTURE_MODEL.byteLength, FIXTURE_MODEL.byteLength, `${REPO}/model.safetensors`]);
    await expectInCache();
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
