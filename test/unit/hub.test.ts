// Models by Hugging Face repo id, against a local imitation of the hub (./hub-mock.ts): the
// cache layout Python's huggingface_hub reads, the cache used without the network, offline mode,
// sharded checkpoints, non-GPT-2 repos refused, tokens, and repo-id parsing.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { existsSync, lstatSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadModel, resolveModelArg } from '../../src/node/download.js';
import { findCachedModel, hubSettings } from '../../src/node/hub.js';
import { openModelSource, parseRepoSpec, setModelNameResolver } from '../../src/checkpoint/sources.js';
import { openCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { bytesSource, readAllTensors } from '../../src/checkpoint/safetensors.js';
import { GPT2TapsError } from '../../src/errors.js';
import { FIXTURE_CONFIG, FIXTURE_MODEL, commitOf, gitSha1, sha256, standardRepos, startMockHub, type MockHub } from './hub-mock.js';

let hub: MockHub;
let cacheDir: string;
const ENV = ['HF_HOME', 'HF_HUB_CACHE', 'HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME'];
let savedEnv: Record<string, string | undefined>;

beforeAll(async () => {
  hub = await startMockHub(await standardRepos());
});
afterAll(async () => hub.close());
beforeEach(async () => {
  hub.sw = {};
  hub.seen = [];
  cacheDir = await mkdtemp(join(tmpdir(), 'gpt2-taps-hub-'));
  savedEnv = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
  for (const k of ENV) delete process.env[k];
});
afterEach(async () => {
  for (const k of ENV) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  setModelNameResolver(undefined);
  await rm(cacheDir, { recursive: true, force: true });
});

const opts = (extra: Parameters<typeof downloadModel>[1] = {}) => ({ cacheDir, endpoint: hub.url, offline: false, token: '', ...extra });

async function rejection(p: Promise<unknown>): Promise<GPT2TapsError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(GPT2TapsError);
    return e as GPT2TapsError;
  }
  throw new Error('expected a rejection');
}

/** The message without its hint line. */
const first = (e: Error) => e.message.split('\n')[0];

/** What Python's huggingface_hub.try_to_load_from_cache does: refs/<revision> → snapshots/<commit>/<file>. */
function pythonLookup(cache: string, repo: string, file: string, revision = 'main'): string | undefined {
  const repoDir = join(cache, `models--${repo.replace('/', '--')}`);
  const commit = /^[0-9a-f]{40}$/.test(revision) ? revision : readFileSync(join(repoDir, 'refs', revision), 'utf8');
  const path = join(repoDir, 'snapshots', commit, file);
  return existsSync(path) ? path : undefined;
}

describe('the Hugging Face cache layout', () => {
  it('a download into a fresh cache: refs/main, snapshots/<commit>/ symlinks, blobs/<sha256 | git blob sha1>', async () => {
    const repo = 'test-org/gpt2-tiny';
    const commit = commitOf(repo);
    const r = await downloadModel(repo, opts());
    const repoDir = join(cacheDir, 'models--test-org--gpt2-tiny');
    expect(readdirSync(repoDir).sort()).toEqual(['blobs', 'refs', 'snapshots']);
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit); // no newline, as Python writes it
    expect(readdirSync(join(repoDir, 'snapshots'))).toEqual([commit]);
    expect(r.dir).toBe(join(repoDir, 'snapshots', commit));
    const modelSha = sha256(FIXTURE_MODEL);
    const configSha1 = gitSha1(FIXTURE_CONFIG);
    expect(readdirSync(join(repoDir, 'blobs')).sort()).toEqual([modelSha, configSha1].sort());
    for (const [file, etag, bytes] of [['model.safetensors', modelSha, FIXTURE_MODEL], ['config.json', configSha1, FIXTURE_CONFIG]] as const) {
      const link = join(r.dir, file);
      expect(lstatSync(link).isSymbolicLink(), file).toBe(true);
      expect(readlinkSync(link)).toBe(`../../blobs/${etag}`); // relative, as huggingface_hub makes them
      expect(readFileSync(join(repoDir, 'blobs', etag)).equals(bytes)).toBe(true);
      expect(pythonLookup(cacheDir, repo, file)).toBe(link);
    }
  });

  it('a second run loads from the cache without the network', async () => {
    await downloadModel('test-org/gpt2-tiny', opts());
    hub.seen = [];
    hub.sw.status = 500; // any request would fail
    const r = await downloadModel('test-org/gpt2-tiny', opts());
    expect(r.cached).toBe(true);
    expect(r.files.map((f) => [f.file, f.skipped])).toEqual([['config.json', true], ['model.safetensors', true]]);
    expect(hub.seen).toEqual([]);
    // And through the environment, as the CLI finds it: HF_HOME/hub.
    process.env['HF_HOME'] = join(cacheDir, 'home');
    hub.sw = {};
    await downloadModel('test-org/gpt2-tiny', { endpoint: hub.url });
    expect(existsSync(join(cacheDir, 'home', 'hub', 'models--test-org--gpt2-tiny', 'refs', 'main'))).toBe(true);
    hub.seen = [];
    hub.sw.status = 500;
    const logs: string[] = [];
    const dir = resolveModelArg('test-org/gpt2-tiny', { log: (l) => logs.push(l) });
    expect(dir).toBe(join(cacheDir, 'home', 'hub', 'models--test-org--gpt2-tiny', 'snapshots', commitOf('test-org/gpt2-tiny')));
    expect(logs.join('\n')).toMatch(/test-org\/gpt2-tiny: from the Hugging Face cache/);
    expect(hub.seen).toEqual([]);
  });

  it('HF_HUB_CACHE wins over HF_HOME, as in Python', () => {
    process.env['HF_HOME'] = '/somewhere/home';
    expect(hubSettings().cacheDir).toBe('/somewhere/home/hub');
    process.env['HF_HUB_CACHE'] = '/elsewhere/cache';
    expect(hubSettings().cacheDir).toBe('/elsewhere/cache');
    process.env['HF_ENDPOINT'] = 'http://mirror.example/';
    expect(hubSettings().endpoint).toBe('http://mirror.example');
  });

  it('HF_HUB_OFFLINE=1 with an empty cache fails clearly, without the network', async () => {
    process.env['HF_HUB_OFFLINE'] = '1';
    process.env['HF_HUB_CACHE'] = cacheDir;
    const err = await rejection(downloadModel('test-org/gpt2-tiny', { endpoint: hub.url }));
    expect(first(err)).toBe(`test-org/gpt2-tiny is not in the Hugging Face cache ${cacheDir} (no ${join(cacheDir, 'models--test-org--gpt2-tiny')}), and HF_HUB_OFFLINE is set: nothing is downloaded`);
    expect(err.hint).toMatch(/unset HF_HUB_OFFLINE/);
    expect(() => resolveModelArg('test-org/gpt2-tiny')).toThrow(/HF_HUB_OFFLINE is set/);
    expect(hub.seen).toEqual([]);
  });

  it('a revision: @<commit> and @main share the snapshot', async () => {
    const commit = commitOf('test-org/gpt2-tiny');
    const r = await downloadModel(`test-org/gpt2-tiny@${commit}`, opts());
    expect(r.commit).toBe(commit);
    expect(existsSync(join(cacheDir, 'models--test-org--gpt2-tiny', 'refs'))).toBe(false); // a commit needs no ref
    hub.seen = [];
    const main = await downloadModel('test-org/gpt2-tiny', opts());
    expect(main.dir).toBe(r.dir);
    expect(main.files.every((f) => f.skipped)).toBe(true);
    expect(hub.seen.some((s) => s.path.startsWith('/cdn/'))).toBe(false);
    const err = await rejection(downloadModel('test-org/gpt2-tiny@nope', opts()));
    expect(err.message).toMatch(/test-org\/gpt2-tiny@nope: not found on .* \(HTTP 404 for revision nope\)/);
  });

  it('the short names are aliases of their repos', async () => {
    const r = await downloadModel('gpt2', opts());
    expect(r.repo).toBe('openai-community/gpt2');
    expect(existsSync(join(cacheDir, 'models--openai-community--gpt2', 'snapshots', commitOf('openai-community/gpt2'), 'model.safetensors'))).toBe(true);
  });
});

describe('what a repo holds', () => {
  it('a sharded checkpoint (model.safetensors.index.json + 2 shards) downloads and loads, tensor for tensor the fixture', async () => {
    const r = await downloadModel('test-org/gpt2-tiny-sharded', opts());
    expect(r.files.map((f) => f.file)).toEqual(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const src = await openModelSource(r.dir);
    const ck = await openCheckpoint(src.bytes, src.config, { checkFinite: true });
    const ref = await readAllTensors(bytesSource(FIXTURE_MODEL));
    expect(ck.config.n_layer).toBe(3);
    expect([...ck.shardOf!.values()].filter((f) => f === 'model-00002-of-00002.safetensors').length).toBeGreaterThan(0);
    for (const name of ['wte.weight', 'h.0.attn.c_attn.weight', 'h.2.mlp.c_proj.bias', 'ln_f.bias']) {
      const stored = [...ref.header.tensors.keys()].find((k) => k === name || k === `transformer.${name}`)!;
      const got = await ck.read(name);
      const want = ref.floats.get(stored)!.data;
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), name).toBe(true);
    }
    // The cache lookup knows a complete sharded snapshot.
    const found = findCachedModel({ repo: 'test-org/gpt2-tiny-sharded', revision: 'main' }, cacheDir);
    expect('dir' in found && found.files.length).toBe(4);
  });

  it('a repo whose config.json is not GPT-2 is refused before its weights are fetched', async () => {
    const err = await rejection(downloadModel('test-org/bert-tiny', opts()));
    expect(first(err)).toBe(`test-org/bert-tiny (commit ${commitOf('test-org/bert-tiny').slice(0, 12)}) is not a GPT-2: its config.json has model_type "bert" (architectures: BertForMaskedLM), not "gpt2"`);
    expect(hub.seen.some((s) => s.path.startsWith('/cdn/'))).toBe(false);
  });

  it('a repo with only pytorch_model.bin is refused, saying what it has', async () => {
    const err = await rejection(downloadModel('test-org/gpt2-bin-only', opts()));
    expect(first(err)).toMatch(/^test-org\/gpt2-bin-only \(commit [0-9a-f]{12}\) has no model\.safetensors \(nor model\.safetensors\.index\.json\): it has pytorch_model\.bin$/);
    expect(err.hint).toMatch(/safetensors only/);
  });

  it('an unknown repo: the hub\'s 401 says what to check', async () => {
    const err = await rejection(downloadModel('nobody/nothing', opts()));
    expect(first(err)).toMatch(/^nobody\/nothing: the hub http:\/\/127\.0\.0\.1:\d+ refused revision main \(HTTP 401\): the repo does not exist, or it is private or gated$/);
    expect(err.hint).toMatch(/set HF_TOKEN/);
  });

  it('HF_TOKEN goes to the hub as a Bearer token, and is never in a message', async () => {
    const token = 'hf_secretTOKEN1234567890';
    hub.sw.requireToken = token;
    const err = await rejection(downloadModel('test-org/gpt2-tiny', opts({ token: 'hf_wrongTOKEN0987654321' })));
    expect(err.message).not.toContain('hf_wrong');
    expect(String(err.hint)).not.toContain('hf_wrong');
    expect(err.hint).toMatch(/HF_TOKEN has access/);
    process.env['HF_TOKEN'] = token;
    hub.seen = [];
    const lines: string[] = [];
    await downloadModel('test-org/gpt2-tiny', { cacheDir, endpoint: hub.url, log: (l) => lines.push(l) });
    expect(hub.seen.filter((s) => !s.path.startsWith('/cdn/')).every((s) => s.authorization === `Bearer ${token}`)).toBe(true);
    expect(lines.join('\n')).not.toContain(token);
  });
});

describe('repo ids', () => {
  it('parses owner/name[@revision] and the short names; leaves paths alone', () => {
    expect(parseRepoSpec('openai-community/gpt2')).toEqual({ repo: 'openai-community/gpt2', revision: 'main' });
    expect(parseRepoSpec('me/my-gpt2.v2@refs/pr/1')).toEqual({ repo: 'me/my-gpt2.v2', revision: 'refs/pr/1' });
    expect(parseRepoSpec('distilgpt2')).toEqual({ repo: 'distilbert/distilgpt2', revision: 'main', alias: 'distilgpt2' });
    expect(parseRepoSpec('gpt2@v1')).toEqual({ repo: 'openai-community/gpt2', revision: 'v1', alias: 'gpt2' });
    for (const p of ['./weights/gpt2', '/abs/path', 'model.safetensors', 'a/b/c', 'dir/model.safetensors', 'x', 'a--b/c', 'a/b@', 'a/b@../x']) {
      expect(parseRepoSpec(p), p).toBeUndefined();
    }
  });

  it('a local path wins over a repo id; openModelSource downloads a repo id through the installed resolver', async () => {
    expect(resolveModelArg('weights/gpt2-tiny')).toBe('weights/gpt2-tiny');
    process.env['HF_HUB_CACHE'] = cacheDir;
    process.env['HF_ENDPOINT'] = hub.url;
    expect(resolveModelArg('test-org/gpt2-tiny')).toBe('test-org/gpt2-tiny'); // not cached: stays a repo id
    const seen: string[] = [];
    const src = await openModelSource('test-org/gpt2-tiny', { onProgress: (_l, _t, w) => { if (!seen.includes(w)) seen.push(w); } });
    expect(src.label).toBe(join(cacheDir, 'models--test-org--gpt2-tiny', 'snapshots', commitOf('test-org/gpt2-tiny'), 'model.safetensors'));
    expect(seen).toEqual(['test-org/gpt2-tiny/config.json', 'test-org/gpt2-tiny/model.safetensors']);
    expect(() => resolveModelArg('test-org/gpt2-tiny-sharded', { localOnly: true })).toThrow(/--backend browser reads local models only/);
  });
});
