// A local imitation of the Hugging Face hub (node:http on 127.0.0.1), answering the endpoints
// @huggingface/hub and our downloader call, as huggingface.co does:
//   GET  /api/models/<repo>/revision/<rev>       {id, sha, …}; 401 {"error": "Repository not found"} for an unknown repo
//   GET  /api/models/<repo>/tree/<rev>           [{type, path, size, oid, lfs?: {oid: sha256, size, pointerSize}}]
//   POST /api/models/<repo>/paths-info/<rev>     the same entries for {paths}, with lastCommit
//   GET  /<repo>/resolve/<rev>/<file>            small files: 200/206 with ETag "<git blob sha1>" and X-Repo-Commit;
//                                                LFS files: 302 to /cdn/<sha256> with X-Linked-Etag, X-Linked-Size
//   GET  /cdn/<sha256>                           the bytes, with Range support
// with switches for interrupted transfers, ignored Range, wrong hashes, and required tokens.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bytesSource, readAllTensors, writeSafetensors, type WriteTensor } from '../../src/checkpoint/safetensors.js';

export const FIXTURE_MODEL = readFileSync('weights/gpt2-tiny/model.safetensors');
export const FIXTURE_CONFIG = readFileSync('weights/gpt2-tiny/config.json');

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

export interface MockRepo {
  commit: string;
  files: Record<string, Buffer>;
}

/** Files stored in LFS (as the hub does for weights). */
const isLfs = (path: string) => /\.(safetensors|bin|h5|onnx)$/.test(path);

function lfsPointer(b: Buffer): Buffer {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(b)}\nsize ${b.byteLength}\n`);
}

export function commitOf(name: string): string {
  return createHash('sha1').update(`commit ${name}`).digest('hex');
}

/** The fixture split into two shards, with its index. */
export async function shardedFixture(): Promise<Record<string, Buffer>> {
  const all = await readAllTensors(bytesSource(FIXTURE_MODEL));
  const tensors: WriteTensor[] = [...all.header.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: all.floats.get(t.name)!.data }));
  const half = Math.ceil(tensors.length / 2);
  const parts = [tensors.slice(0, half), tensors.slice(half)];
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  parts.forEach((p, i) => p.forEach((t) => { weightMap[t.name] = names[i]!; }));
  return {
    'config.json': FIXTURE_CONFIG,
    'model.safetensors.index.json': Buffer.from(JSON.stringify({ metadata: { total_size: FIXTURE_MODEL.byteLength }, weight_map: weightMap }, null, 2)),
    [names[0]!]: Buffer.from(writeSafetensors(parts[0]!)),
    [names[1]!]: Buffer.from(writeSafetensors(parts[1]!)),
  };
}

/** The repos of the tests: the fixture (also as openai-community/gpt2), sharded, a BERT, and one with only pytorch_model.bin. */
export async function standardRepos(): Promise<Record<string, MockRepo>> {
  const bertConfig = Buffer.from(JSON.stringify({ architectures: ['BertForMaskedLM'], model_type: 'bert', hidden_size: 128 }));
  const tiny = { 'config.json': FIXTURE_CONFIG, 'model.safetensors': FIXTURE_MODEL, 'README.md': Buffer.from('# gpt2-tiny\n') };
  const repos: Record<string, Record<string, Buffer>> = {
    'test-org/gpt2-tiny': tiny,
    'openai-community/gpt2': tiny,
    'test-org/gpt2-tiny-sharded': await shardedFixture(),
    'test-org/bert-tiny': { 'config.json': bertConfig, 'model.safetensors': FIXTURE_MODEL },
    'test-org/gpt2-bin-only': { 'config.json': FIXTURE_CONFIG, 'pytorch_model.bin': Buffer.from('not really a pickle') },
  };
  return Object.fromEntries(Object.entries(repos).map(([name, files]) => [name, { commit: commitOf(name), files }]));
}

export interface Switches {
  /** CDN/resolve GET bodies (not the 1-byte probes) longer than this are cut after this many bytes. */
  cutAfter?: number;
  /** Answer Range requests on /cdn/ with 200 and the whole file (the 1-byte probe still gets 206). */
  ignoreRange?: boolean;
  /** The tree and paths-info state this sha256 for this file (a wrong one). */
  wrongSha256?: { path: string; sha256: string };
  /** Every request to the hub's origin needs `Authorization: Bearer <token>` (else 401). */
  requireToken?: string;
  /** Answer every request with this status. */
  status?: number;
}

export interface Seen { method: string; path: string; range?: string; authorization?: string }

export interface MockHub {
  url: string;
  repos: Record<string, MockRepo>;
  sw: Switches;
  seen: Seen[];
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function entry(repo: MockRepo, path: string, sw: Switches, expand: boolean) {
  const b = repo.files[path]!;
  const lastCommit = expand ? { lastCommit: { id: repo.commit, title: 'upload', date: '2024-01-01T00:00:00.000Z' } } : {};
  if (!isLfs(path)) return { type: 'file', path, size: b.byteLength, oid: gitSha1(b), ...lastCommit };
  const pointer = lfsPointer(b);
  const oid = sw.wrongSha256?.path === path ? sw.wrongSha256.sha256 : sha256(b);
  return { type: 'file', path, size: b.byteLength, oid: gitSha1(pointer), lfs: { oid, size: b.byteLength, pointerSize: pointer.byteLength }, ...lastCommit };
}

/** Serves `data` (or a range of it) as a file download. */
function sendBytes(req: IncomingMessage, res: ServerResponse, data: Buffer, sw: Switches, headers: Record<string, string>): void {
  const size = data.byteLength;
  const range = req.headers.range;
  const r = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
  const probe = r !== null && r[1] === '0' && r[2] === '0';
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (r && (!sw.ignoreRange || probe)) {
    start = Number(r[1]);
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    if (r[2]) end = Math.min(size - 1, Number(r[2]));
    status = 206;
  }
  const body = data.subarray(start, end + 1);
  const h: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'content-length': String(body.byteLength), ...headers };
  if (status === 206) h['content-range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(status, h);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (!probe && sw.cutAfter !== undefined && body.byteLength > sw.cutAfter) {
    res.write(body.subarray(0, sw.cutAfter), () => res.socket?.destroy());
    return;
  }
  res.end(body);
}

export async function startMockHub(repos: Record<string, MockRepo>): Promise<MockHub> {
  const hub: MockHub = { url: '', repos, sw: {}, seen: [], close: async () => {} };
  const blobs = new Map<string, Buffer>();
  for (const r of Object.values(repos)) for (const [p, b] of Object.entries(r.files)) if (isLfs(p)) blobs.set(sha256(b), b);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const sw = hub.sw;
    hub.seen.push({ method: req.method ?? 'GET', path, range: req.headers.range, authorization: req.headers.authorization });
    if (sw.status) return json(res, sw.status, { error: 'switched off' });
    if (sw.requireToken && req.headers.authorization !== `Bearer ${sw.requireToken}` && !path.startsWith('/cdn/')) {
      return json(res, 401, { error: 'Invalid credentials in Authorization header' });
    }
    let m = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (m) {
      const b = blobs.get(m[1]!);
      return b ? sendBytes(req, res, b, sw, { etag: `"${m[1]}"` }) : json(res, 404, { error: 'no such blob' });
    }
    m = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree|paths-info)\/(.+)$/.exec(path);
    const repoOf = (name: string) => repos[name];
    if (m) {
      const repo = repoOf(m[1]!);
      if (!repo) return json(res, 401, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
      const rev = m[3]!;
      if (rev !== 'main' && rev !== repo.commit) return json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' });
      if (m[2] === 'revision') {
        return json(res, 200, { _id: 'x', id: m[1], sha: repo.commit, private: false, gated: false, downloads: 0, likes: 0, lastModified: '2024-01-01T00:00:00.000Z',
          siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) });
      }
      if (m[2] === 'tree') return json(res, 200, Object.keys(repo.files).map((p) => entry(repo, p, sw, url.searchParams.get('expand') === 'true')));
      let body = '';
      for await (const chunk of req) body += String(chunk);
      const { paths } = JSON.parse(body) as { paths: string[] };
      return json(res, 200, paths.filter((p) => p in repo.files).map((p) => entry(repo, p, sw, true)));
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (m) {
      const repo = repoOf(m[1]!);
      if (!repo) return json(res, 401, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
      if (m[2] !== 'main' && m[2] !== repo.commit) return json(res, 404, { error: 'Invalid rev id' }, { 'x-error-code': 'RevisionNotFound' });
      const b = repo.files[m[3]!];
      if (!b) return json(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
      if (isLfs(m[3]!)) {
        const sha = sha256(b);
        res.writeHead(302, { location: `/cdn/${sha}`, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(b.byteLength), 'x-repo-commit': repo.commit, etag: `"${gitSha1(lfsPointer(b))}"` }).end();
        return;
      }
      return sendBytes(req, res, b, sw, { etag: `"${gitSha1(b)}"`, 'x-repo-commit': repo.commit });
    }
    json(res, 404, { error: `no route ${path}` });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) json(res, 500, { error: String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  return hub;
}
