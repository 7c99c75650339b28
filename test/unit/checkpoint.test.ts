import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GPT2TapsError } from '../../src/errors.js';
import { configFromJSON, paramShapes } from '../../src/checkpoint/config.js';
import { type WriteTensor, bytesSource, readAllTensors, writeSafetensors } from '../../src/checkpoint/safetensors.js';
import { openCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { openModelSource } from '../../src/checkpoint/sources.js';
import { openError } from './checkpoint-helpers.js';

const FIXTURE_DIR = resolve(__dirname, '../../weights/gpt2-tiny'); // the bundled checkpoint
const MODEL_PATH = join(FIXTURE_DIR, 'model.safetensors');
const configJson = JSON.parse(readFileSync(join(FIXTURE_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;

let fixtureBytes: Uint8Array;
/** The fixture's tensors in file order, ready to be rewritten with writeSafetensors. */
let fixture: WriteTensor[];

beforeAll(async () => {
  fixtureBytes = new Uint8Array(readFileSync(MODEL_PATH));
  const all = await readAllTensors(bytesSource(fixtureBytes));
  fixture = [...all.header.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: all.floats.get(t.name)!.data }));
});

/** A copy of the fixture with its tensor list edited. */
function variant(edit: (ts: WriteTensor[]) => WriteTensor[]): Uint8Array {
  return writeSafetensors(edit(fixture.map((t) => ({ ...t }))), { format: 'pt' });
}

function tensor(name: string): WriteTensor {
  const t = fixture.find((x) => x.name === name);
  if (!t) throw new Error(`no ${name} in the fixture`);
  return t;
}

describe('openCheckpoint on the fixture', () => {
  it('opens with config.json', async () => {
    const ck = await openCheckpoint(bytesSource(fixtureBytes), configJson);
    expect(ck.config).toEqual(configFromJSON(configJson));
    expect(ck.config).toMatchObject({ n_layer: 3, n_head: 4, n_embd: 128, n_positions: 256, vocab_size: 50257, layer_norm_epsilon: 1e-5 });
    expect(ck.notes).toEqual([]);
    expect([...ck.tensors.keys()]).toEqual([...paramShapes(ck.config).keys()]);
    // The mask buffers are skipped, c_attn.bias is kept.
    expect(ck.tensors.has('h.0.attn.bias')).toBe(false);
    await expect(ck.read('h.0.attn.bias')).rejects.toThrow(/not a parameter/);
    await expect(ck.read('h.0.attn.masked_bias')).rejects.toBeInstanceOf(GPT2TapsError);
    for (const name of ['h.0.attn.c_attn.bias', 'h.2.attn.c_attn.bias', 'ln_f.weight']) {
      const got = await ck.read(name);
      expect(got).toEqual(tensor(name).data);
      expect(got.length).toBe(paramShapes(ck.config).get(name)!.reduce((a, b) => a * b, 1));
    }
    expect(ck.tensors.get('h.0.attn.c_attn.bias')!.shape).toEqual([384]);
    expect(ck.storedBytes).toBe(28242944);
  });

  it('opens without config.json, inferring it (n_head from head_dim 64)', async () => {
    const ck = await openCheckpoint(bytesSource(fixtureBytes));
    expect(ck.config).toEqual({ ...configFromJSON(configJson), n_head: 2 });
    expect(ck.notes.length).toBe(1);
    expect(ck.notes[0]).toMatch(/n_head = 2/);
    expect(ck.notes[0]).toMatch(/head_dim 64/);
  });

  it('loads a transformer.-prefixed copy identically', async () => {
    const bytes = variant((ts) => ts.map((t) => ({ ...t, name: `transformer.${t.name}` })));
    const ck = await openCheckpoint(bytesSource(bytes), configJson);
    expect(ck.config).toEqual(configFromJSON(configJson));
    expect([...ck.tensors.keys()]).toEqual([...paramShapes(ck.config).keys()]);
    expect(ck.tensors.get('wpe.weight')!.name).toBe('transformer.wpe.weight');
    expect(await ck.read('wpe.weight')).toEqual(tensor('wpe.weight').data);
    expect(await ck.read('h.1.attn.c_attn.bias')).toEqual(tensor('h.1.attn.c_attn.bias').data);
    const inferred = await openCheckpoint(bytesSource(bytes));
    expect(inferred.config.n_layer).toBe(3);
  });

  it('accepts an lm_head.weight [V, D] with a note, and refuses a wrong-shaped one', async () => {
    const wte = tensor('wte.weight');
    const bytes = variant((ts) => [...ts, { ...wte, name: 'lm_head.weight' }]);
    const ck = await openCheckpoint(bytesSource(bytes), configJson);
    expect(ck.notes.some((n) => /lm_head\.weight.*not used.*tied to wte\.weight.*tie_word_embeddings: false/.test(n))).toBe(true);
    expect(ck.tensors.has('lm_head.weight')).toBe(false);

    const bad = variant((ts) => [...ts, { name: 'lm_head.weight', dtype: 'F32', shape: [10, 128], data: new Float32Array(1280) }]);
    expect(await openError(bad, configJson)).toMatch(/lm_head\.weight has shape \[10, 128\], expected \[50257, 128\]/);
  });

  it('names a missing tensor, with and without config.json', async () => {
    const bytes = variant((ts) => ts.filter((t) => t.name !== 'h.1.mlp.c_fc.bias'));
    expect(await openError(bytes, configJson)).toMatch(/h\.1\.mlp\.c_fc\.bias is missing/);
    expect(await openError(bytes)).toMatch(/h\.1\.mlp\.c_fc\.bias is missing/);
  });

  it('names both shapes of a wrongly-shaped tensor', async () => {
    const bytes = variant((ts) => ts.map((t) => (t.name === 'h.0.attn.c_attn.weight'
      ? { ...t, shape: [128, 300], data: new Float32Array(128 * 300) } : t)));
    const msg = await openError(bytes);
    expect(msg).toMatch(/h\.0\.attn\.c_attn\.weight has shape \[128, 300\], expected \[128, 384\]/);
    expect(msg).not.toMatch(/config\.json disagrees/);
    expect(await openError(bytes, configJson)).toMatch(/h\.0\.attn\.c_attn\.weight has shape \[128, 300\], expected \[128, 384\]/);
  });

  it('says config.json disagrees with the checkpoint', async () => {
    const embd = await openError(fixtureBytes, { ...configJson, n_embd: 64 });
    expect(embd).toMatch(/config\.json disagrees with the checkpoint/);
    expect(embd).toMatch(/wte\.weight has shape \[50257, 128\], expected \[50257, 64\]/);
    const layers = await openError(fixtureBytes, { ...configJson, n_layer: 2 });
    expect(layers).toMatch(/config\.json disagrees with the checkpoint.*unexpected tensors.*h\.2\./);
    const more = await openError(fixtureBytes, { ...configJson, n_layer: 4 });
    expect(more).toMatch(/config\.json disagrees with the checkpoint: tensor h\.3\.ln_1\.weight is missing/);
  });

  it('refuses unexpected tensors, listing a few', async () => {
    const extra = (name: string): WriteTensor => ({ name, dtype: 'F32', shape: [1], data: new Float32Array(1) });
    const bytes = variant((ts) => [...ts, extra('foo.bar'), extra('h.0.attn.c_attn.extra'), extra('transformer.baz')]);
    const msg = await openError(bytes, configJson);
    expect(msg).toMatch(/unexpected tensors/);
    expect(msg).toMatch(/foo\.bar/);
    expect(msg).toMatch(/h\.0\.attn\.c_attn\.extra/);
    expect(msg).toMatch(/transformer\.baz/);
  });

  it('refuses non-float parameters', async () => {
    const bytes = variant((ts) => ts.map((t) => (t.name === 'ln_f.bias' ? { ...t, dtype: 'I32' as const, data: new Int32Array(128) } : t)));
    expect(await openError(bytes, configJson)).toMatch(/ln_f\.bias has dtype I32/);
  });

  it('refuses two tensors that map to one parameter', async () => {
    const bytes = variant((ts) => [...ts, { ...tensor('ln_f.bias'), name: 'transformer.ln_f.bias' }]);
    expect(await openError(bytes, configJson)).toMatch(/"ln_f\.bias" and "transformer\.ln_f\.bias"/);
  });
});

describe('openModelSource', () => {
  let tmp: string;
  let server: Server;
  let base: string;
  const small = () => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]);

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'gpt2-taps-src-'));
    await mkdir(join(tmp, 'nocfg'));
    await writeFile(join(tmp, 'nocfg', 'model.safetensors'), small());
    await mkdir(join(tmp, 'badcfg'));
    await writeFile(join(tmp, 'badcfg', 'model.safetensors'), small());
    await writeFile(join(tmp, 'badcfg', 'config.json'), '{"n_layer": ');
    await mkdir(join(tmp, 'empty'));

    const cfgText = JSON.stringify(configJson);
    const routes: Record<string, { body: Uint8Array | string; chunked?: boolean }> = {
      '/m/model.safetensors': { body: fixtureBytes },
      '/m/config.json': { body: cfgText },
      '/chunked/model.safetensors': { body: small(), chunked: true },
      '/bad/model.safetensors': { body: small() },
      '/bad/config.json': { body: '<!doctype html><html></html>' },
    };
    server = createServer((req, res) => {
      const r = routes[new URL(req.url ?? '/', 'http://x').pathname];
      if (!r) { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('not found'); return; }
      const body = typeof r.body === 'string' ? Buffer.from(r.body) : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
      if (r.chunked) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.write(body.subarray(0, 10));
        setTimeout(() => res.end(body.subarray(10)), 5);
      } else {
        res.writeHead(200, { 'Content-Length': body.byteLength, 'Content-Type': 'application/octet-stream' });
        res.end(body);
      }
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((ok) => server?.close(() => ok()));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('opens a directory path (model.safetensors + config.json), read lazily', async () => {
    const src = await openModelSource(FIXTURE_DIR);
    expect(src.config).toEqual(configJson);
    expect(src.label).toBe(MODEL_PATH);
    expect(src.bytes.byteLength).toBe(fixtureBytes.byteLength);
    const ck = await openCheckpoint(src.bytes, src.config);
    expect(ck.config.n_head).toBe(4);
    expect(await ck.read('h.0.attn.c_attn.bias')).toEqual(tensor('h.0.attn.c_attn.bias').data);
  });

  it('opens a .safetensors file path, finding config.json next to it', async () => {
    const src = await openModelSource(MODEL_PATH);
    expect(src.config).toEqual(configJson);
    expect(src.bytes.byteLength).toBe(fixtureBytes.byteLength);
    const src2 = await openModelSource(new URL(`file://${MODEL_PATH}`));
    expect(src2.config).toEqual(configJson);
  });

  it('works without config.json, and refuses an invalid one', async () => {
    const src = await openModelSource(join(tmp, 'nocfg'));
    expect(src.config).toBeUndefined();
    expect(src.bytes.byteLength).toBe(small().byteLength);
    await expect(openModelSource(join(tmp, 'badcfg'))).rejects.toThrow(/config\.json is not valid JSON/);
  });

  it('names a missing path, and a directory without model.safetensors', async () => {
    const missing = join(tmp, 'does-not-exist');
    await expect(openModelSource(missing)).rejects.toThrow(GPT2TapsError);
    await expect(openModelSource(missing)).rejects.toThrow(missing);
    await expect(openModelSource(join(tmp, 'nocfg', 'other.safetensors'))).rejects.toThrow(/not found.*other\.safetensors/);
    await expect(openModelSource(join(tmp, 'empty'))).rejects.toThrow(/no model\.safetensors in directory/);
  });

  it('takes bytes and {model, config}', async () => {
    const a = await openModelSource(small());
    expect(a.config).toBeUndefined();
    expect(a.bytes.byteLength).toBe(small().byteLength);
    const b = await openModelSource({ model: small().buffer as ArrayBuffer, config: { n_layer: 1 } });
    expect(b.config).toEqual({ n_layer: 1 });
  });

  it('downloads a folder URL with progress', async () => {
    const seen: [number, number | undefined, string][] = [];
    const src = await openModelSource(`${base}/m`, { onProgress: (l, t, w) => seen.push([l, t, w]) });
    expect(src.label).toBe(`${base}/m/model.safetensors`);
    expect(src.config).toEqual(configJson);
    expect(src.bytes.byteLength).toBe(fixtureBytes.byteLength);
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.every(([, t, w]) => t === fixtureBytes.byteLength && w === src.label)).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![0]);
    expect(seen.at(-1)![0]).toBe(fixtureBytes.byteLength);
    const ck = await openCheckpoint(src.bytes, src.config);
    expect(await ck.read('ln_f.bias')).toEqual(tensor('ln_f.bias').data);
    // A trailing slash names the same folder.
    const slash = await openModelSource(new URL(`${base}/m/`));
    expect(slash.label).toBe(`${base}/m/model.safetensors`);
  });

  it('downloads a .safetensors URL, with config.json from its folder or none', async () => {
    const src = await openModelSource(`${base}/m/model.safetensors`);
    expect(src.config).toEqual(configJson);
    expect(src.bytes.byteLength).toBe(fixtureBytes.byteLength);
    const seen: [number, number | undefined][] = [];
    const chunked = await openModelSource(`${base}/chunked/model.safetensors`, { onProgress: (l, t) => seen.push([l, t]) });
    expect(chunked.config).toBeUndefined(); // 404
    expect(chunked.bytes.byteLength).toBe(small().byteLength);
    expect(seen.every(([, t]) => t === undefined)).toBe(true);
    expect(seen.at(-1)![0]).toBe(small().byteLength);
    const h = await openCheckpoint(chunked.bytes).catch((e: Error) => e.message);
    expect(h).toMatch(/wte\.weight/); // not a GPT-2, but the bytes arrived intact
  });

  it('reports HTTP errors and a config.json that is not JSON', async () => {
    await expect(openModelSource(`${base}/nothing/model.safetensors`)).rejects.toThrow(new RegExp(`404.*${base}/nothing/model\\.safetensors`));
    await expect(openModelSource(`${base}/nothing`)).rejects.toBeInstanceOf(GPT2TapsError);
    await expect(openModelSource(`${base}/bad/model.safetensors`)).rejects.toThrow(/config\.json is not valid JSON/);
  });
});
