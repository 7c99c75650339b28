// Checkpoint semantics: what openCheckpoint refuses (and how it says so), and the finite-values
// check (openCheckpoint's checkFinite option and findNonFinite), on rewritten copies of the fixture.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GPT2TapsError } from '../../src/errors.js';
import { type WriteTensor, bytesSource, readAllTensors, writeSafetensors } from '../../src/checkpoint/safetensors.js';
import { type Checkpoint, findNonFinite, firstNonFinite, openCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { openError } from './checkpoint-helpers.js';

const FIXTURE_DIR = resolve(__dirname, '../../weights/gpt2-tiny'); // the bundled checkpoint
const configJson = JSON.parse(readFileSync(join(FIXTURE_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;

let fixtureBytes: Uint8Array;
let fixture: WriteTensor[];

beforeAll(async () => {
  fixtureBytes = new Uint8Array(readFileSync(join(FIXTURE_DIR, 'model.safetensors')));
  const all = await readAllTensors(bytesSource(fixtureBytes));
  fixture = [...all.header.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: all.floats.get(t.name)!.data }));
});

/** A copy of the fixture with its tensor list edited (tensor data is shared: copy it before changing values). */
function variant(edit: (ts: WriteTensor[]) => WriteTensor[]): Uint8Array {
  return writeSafetensors(edit(fixture.map((t) => ({ ...t }))), { format: 'pt' });
}

/** The fixture with some values replaced: name → [flat index, value][]. */
function withValues(changes: Record<string, [number, number][]>, rename = (n: string) => n): Uint8Array {
  return variant((ts) => ts.map((t) => {
    const c = changes[t.name];
    const out = { ...t, name: rename(t.name) };
    if (!c) return out;
    const data = new Float32Array(t.data as Float32Array);
    for (const [i, v] of c) data[i] = v;
    return { ...out, data };
  }));
}

async function readError(ck: Checkpoint, name: string): Promise<string> {
  try {
    await ck.read(name);
  } catch (e) {
    expect(e).toBeInstanceOf(GPT2TapsError);
    return (e as Error).message;
  }
  throw new Error(`read(${name}) did not throw`);
}

describe('checkpoint semantics', () => {
  it('names a missing tensor, with and without config.json', async () => {
    const bytes = variant((ts) => ts.filter((t) => t.name !== 'h.2.attn.c_proj.weight'));
    expect(await openError(bytes, configJson)).toMatch(/tensor h\.2\.attn\.c_proj\.weight is missing/);
    expect(await openError(bytes)).toMatch(/tensor h\.2\.attn\.c_proj\.weight is missing/);
    // The whole model agrees with config.json: only the tensor is to blame, no field is named.
    expect(await openError(bytes, configJson)).not.toMatch(/\(config\.json: /);
  });

  it('names a wrongly-shaped tensor and both shapes', async () => {
    const bytes = variant((ts) => ts.map((t) => (t.name === 'h.1.ln_2.bias' ? { ...t, shape: [127], data: new Float32Array(127) } : t)));
    expect(await openError(bytes, configJson)).toMatch(/h\.1\.ln_2\.bias has shape \[127\], expected \[128\]/);
    expect(await openError(bytes)).toMatch(/h\.1\.ln_2\.bias has shape \[127\], expected \[128\]/);
    const swapped = variant((ts) => ts.map((t) => (t.name === 'h.0.mlp.c_fc.weight' ? { ...t, shape: [512, 128] } : t)));
    expect(await openError(swapped, configJson)).toMatch(/h\.0\.mlp\.c_fc\.weight has shape \[512, 128\], expected \[128, 512\]/);
  });

  it('refuses a config.json whose n_embd is not divisible by n_head', async () => {
    const msg = await openError(fixtureBytes, { ...configJson, n_head: 3 });
    expect(msg).toMatch(/config\.json is invalid/);
    expect(msg).toMatch(/n_embd \(128\) is not divisible by n_head \(3\)/);
    expect(await openError(fixtureBytes, { ...configJson, n_embd: 130, n_head: 4 })).toMatch(/n_embd \(130\) is not divisible by n_head \(4\)/);
    // n_head 8 divides 128: accepted (n_head is not visible in any shape).
    expect((await openCheckpoint(bytesSource(fixtureBytes), { ...configJson, n_head: 8 })).config.n_head).toBe(8);
  });

  it('says config.json disagrees with the tensors, naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ n_embd: 64 }, /config\.json disagrees with the checkpoint: wte\.weight has shape \[50257, 128\], expected \[50257, 64\] \(config\.json: n_embd 64 vs 128 in wte\.weight\)/],
      [{ vocab_size: 50000 }, /config\.json disagrees with the checkpoint: wte\.weight has shape \[50257, 128\], expected \[50000, 128\].*vocab_size 50000 vs 50257/],
      [{ n_positions: 1024, n_ctx: 1024 }, /config\.json disagrees with the checkpoint: wpe\.weight has shape \[256, 128\], expected \[1024, 128\].*n_positions 1024 vs 256/],
      [{ n_layer: 2 }, /config\.json disagrees with the checkpoint: unexpected tensors.*h\.2\..*n_layer 2 vs 3 in the tensors/],
      [{ n_layer: 5 }, /config\.json disagrees with the checkpoint: tensor h\.3\.ln_1\.weight is missing.*n_layer 5 vs 3 in the tensors/],
    ];
    for (const [change, re] of cases) {
      expect(await openError(fixtureBytes, { ...configJson, ...change })).toMatch(re);
    }
    // Without config.json nothing "disagrees": the config comes from the tensors.
    expect((await openCheckpoint(bytesSource(fixtureBytes))).config.n_layer).toBe(3);
  });
});

describe('finite values', () => {
  // h.1.mlp.c_fc.weight is [128, 512]: flat 1234 = [2, 210]; a second NaN later must not be the one reported.
  const changes: Record<string, [number, number][]> = {
    'h.1.mlp.c_fc.weight': [[1234, NaN], [60000, NaN]],
    'ln_f.weight': [[7, Infinity]],
  };
  let bad: Uint8Array;
  beforeAll(() => {
    bad = withValues(changes);
  });

  it('firstNonFinite finds NaN and ±Inf only', () => {
    expect(firstNonFinite(new Float32Array([0, -0, 3.4e38, -3.4e38, 1e-45]))).toBe(-1);
    expect(firstNonFinite(new Float32Array([1, 2, NaN, Infinity]))).toBe(2);
    expect(firstNonFinite(new Float32Array([1, -Infinity]))).toBe(1);
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
  });

  it('by default read() returns non-finite values unchecked (the old signature still works)', async () => {
    const ck = await openCheckpoint(bytesSource(bad), configJson);
    const w = await ck.read('h.1.mlp.c_fc.weight');
    expect(Number.isNaN(w[1234])).toBe(true);
    expect((await ck.read('ln_f.weight'))[7]).toBe(Infinity);
    const off = await openCheckpoint(bytesSource(bad), configJson, { checkFinite: false });
    expect((await off.read('ln_f.weight'))[7]).toBe(Infinity);
  });

  it('with checkFinite, read() names the tensor and the first bad index and value', async () => {
    const ck = await openCheckpoint(bytesSource(bad), configJson, { checkFinite: true });
    const nan = await readError(ck, 'h.1.mlp.c_fc.weight');
    expect(nan).toMatch(/parameter h\.1\.mlp\.c_fc\.weight has a non-finite value: NaN at index 1234 \(\[2, 210\]\) of shape \[128, 512\]/);
    const inf = await readError(ck, 'ln_f.weight');
    expect(inf).toMatch(/parameter ln_f\.weight has a non-finite value: Infinity at index 7 of shape \[128\]/);
    // Clean tensors read normally, equal to the fixture.
    expect(await ck.read('h.1.mlp.c_fc.bias')).toEqual(fixture.find((t) => t.name === 'h.1.mlp.c_fc.bias')!.data);
    // Works without config.json too.
    const inferred = await openCheckpoint(bytesSource(bad), undefined, { checkFinite: true });
    expect(await readError(inferred, 'ln_f.weight')).toMatch(/ln_f\.weight.*Infinity at index 7/);
  });

  it('names -Infinity, and the stored name of a transformer.-prefixed tensor', async () => {
    const bytes = withValues({ 'wpe.weight': [[300, -Infinity]] }, (n) => `transformer.${n}`);
    const ck = await openCheckpoint(bytesSource(bytes), configJson, { checkFinite: true });
    expect(await readError(ck, 'wpe.weight')).toMatch(/parameter wpe\.weight \(stored as "transformer\.wpe\.weight"\) has a non-finite value: -Infinity at index 300 \(\[2, 44\]\)/);
    expect(await findNonFinite(ck)).toEqual([{ name: 'wpe.weight', index: 300, value: -Infinity }]);
  });

  it('findNonFinite scans every parameter, whatever checkFinite is', async () => {
    const want = [
      { name: 'h.1.mlp.c_fc.weight', index: 1234, value: NaN },
      { name: 'ln_f.weight', index: 7, value: Infinity },
    ];
    for (const checkFinite of [false, true]) {
      const ck = await openCheckpoint(bytesSource(bad), configJson, { checkFinite });
      const found = await findNonFinite(ck);
      expect(found).toEqual(want); // toEqual treats NaN as equal to NaN
      expect(Number.isNaN(found[0]!.value)).toBe(true);
    }
    // A Checkpoint-shaped object that openCheckpoint did not make is scanned through its read().
    const ck = await openCheckpoint(bytesSource(bad), configJson);
    expect(await findNonFinite({ ...ck })).toEqual(want);
  });

  it('findNonFinite finds nothing in the clean fixture', async () => {
    const ck = await openCheckpoint(bytesSource(fixtureBytes), configJson, { checkFinite: true });
    expect(await findNonFinite(ck)).toEqual([]);
    for (const name of ['wte.weight', 'h.2.mlp.c_proj.weight']) await expect(ck.read(name)).resolves.toBeInstanceOf(Float32Array);
  });
});
