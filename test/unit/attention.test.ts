// The attention kernels alone against a float64 JS reference: the rows kernel (attention.wgsl,
// which writes the probabilities) and flash attention (attention_flash.wgsl, the output only),
// on awkward sizes (T = 1, T not a multiple of a tile, D = 96, head dims 32, 48 and 64), with a
// KV cache, with more keys than a workgroup could hold, and at large scores.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { GRID, KERNELS, compileKernel, flashQueries } from '../../src/engine/kernels.js';
import type { Kernel } from '../../src/engine/gpu.js';
import { kernelHarness, rand, expectClose, dispatch } from './kernel-harness.js';

const harness = kernelHarness();
beforeAll(() => harness.open());
afterAll(() => harness.close());

/** One attention call: T query rows at positions P0.., TK = P0 + T keys; kv (the cache) when P0 > 0 or cached. */
interface Case { T: number; H: number; HD: number; P0?: number; cached?: boolean }
interface Inputs { qkv: Float32Array; kv?: Float32Array }

const dimsOf = (c: Case) => {
  const P0 = c.P0 ?? 0, D = c.H * c.HD;
  return { T: c.T, TK: P0 + c.T, H: c.H, HD: c.HD, D, NP: P0 + c.T, P0 };
};
const label = (c: Case) => `T=${c.T} H=${c.H} head_dim=${c.HD}${c.cached ? `, cached, P0=${c.P0 ?? 0}` : ''}`;

/** Random q | k | v rows, and with a cache, random cache rows before P0 and this run's k | v after (as kv_store writes them). */
function inputs(c: Case, seed: number, scale = 2): Inputs {
  const { T, TK, D, P0 } = dimsOf(c);
  const qkv = rand(T * 3 * D, seed, scale);
  if (!c.cached) return { qkv };
  const kv = rand(TK * 2 * D, seed + 1, scale);
  for (let t = 0; t < T; t++) kv.set(qkv.subarray(t * 3 * D + D, t * 3 * D + 3 * D), (P0 + t) * 2 * D);
  return { qkv, kv };
}

/** Float64 causal attention: probs [H, T, TK] (zero past the causal limit) and out [T, D]. */
function reference(c: Case, { qkv, kv }: Inputs): { probs: Float64Array; out: Float64Array } {
  const { T, TK, H, HD, D, P0 } = dimsOf(c);
  const key = (j: number, i: number) => (c.cached ? kv![j * 2 * D + i] : qkv[j * 3 * D + D + i]);
  const value = (j: number, i: number) => (c.cached ? kv![j * 2 * D + D + i] : qkv[j * 3 * D + 2 * D + i]);
  const probs = new Float64Array(H * T * TK), out = new Float64Array(T * D);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < T; t++) {
      const last = P0 + t;
      const s = new Float64Array(last + 1);
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let d = 0; d < HD; d++) dot += qkv[t * 3 * D + h * HD + d] * key(j, h * HD + d);
        s[j] = dot / Math.sqrt(HD);
      }
      let mx = -Infinity;
      for (const v of s) mx = Math.max(mx, v);
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += Math.exp(s[j] - mx);
      const row = (h * T + t) * TK;
      for (let j = 0; j <= last; j++) probs[row + j] = Math.exp(s[j] - mx) / sum;
      for (let d = 0; d < HD; d++) {
        let acc = 0;
        for (let j = 0; j <= last; j++) acc += probs[row + j] * value(j, h * HD + d);
        out[t * D + h * HD + d] = acc;
      }
    }
  }
  return { probs, out };
}

const kernels = new Map<string, Kernel>();
async function kernel(name: 'attention' | 'attention_cached' | 'attention_flash' | 'attention_flash_cached', c: Case): Promise<Kernel> {
  const key = `${name} ${c.H} ${c.HD}`;
  if (!kernels.has(key)) kernels.set(key, await compileKernel(harness.h.device, KERNELS[name], dimsOf(c)));
  return kernels.get(key)!;
}

const paramsOf = (c: Case) => { const d = dimsOf(c); return new Uint32Array([d.T, 1, d.P0, d.TK]); };
const cacheIn = (x: Inputs): Record<string, Float32Array> => (x.kv ? { qkv: x.qkv, kv: x.kv } : { qkv: x.qkv });

/** The rows kernel through its catalogue entry: probs and out. */
async function rows(c: Case, x: Inputs): Promise<{ probs: Float32Array; out: Float32Array }> {
  const name = c.cached ? 'attention_cached' : 'attention';
  const d = dimsOf(c);
  const got = await dispatch(harness.h, await kernel(name, c), cacheIn(x), { probs: d.H * d.T * d.TK, out: d.T * d.D },
    KERNELS[name].grid(d), c.T, 1, paramsOf(c));
  return { probs: got.probs, out: got.out };
}

/** The flash kernel through its catalogue entry: out. */
async function flash(c: Case, x: Inputs): Promise<Float32Array> {
  const name = c.cached ? 'attention_flash_cached' : 'attention_flash';
  const d = dimsOf(c);
  const got = await dispatch(harness.h, await kernel(name, c), cacheIn(x), { out: d.T * d.D }, KERNELS[name].grid(d), c.T, 1, paramsOf(c));
  return got.out;
}

const SHAPES: Case[] = [
  { T: 1, H: 2, HD: 32 },
  { T: 2, H: 2, HD: 64 },
  { T: 5, H: 3, HD: 32 },
  { T: 19, H: 3, HD: 32 },  // D = 96
  { T: 70, H: 2, HD: 64 },  // 70 keys: three tiles of 32, five blocks of 16 queries
  { T: 37, H: 2, HD: 48 },  // a head dim that is not a power of two
];
const CACHED: Case[] = [
  { T: 1, H: 2, HD: 32, P0: 37, cached: true },
  { T: 1, H: 3, HD: 64, P0: 100, cached: true },
  { T: 5, H: 2, HD: 64, P0: 37, cached: true },
  { T: 5, H: 3, HD: 32, P0: 64, cached: true },
];

describe('attention rows kernel (attention.wgsl: probabilities and out)', () => {
  for (const c of [...SHAPES, ...CACHED, { T: 3, H: 1, HD: 272 }]) { // HD 272: more vec4 columns than threads
    it(label(c), async () => {
      const x = inputs(c, 10);
      const want = reference(c, x);
      const got = await rows(c, x);
      expectClose(got.probs, want.probs);
      expectClose(got.out, want.out);
    });
  }
});

describe('attention flash kernel (attention_flash.wgsl: out only)', () => {
  for (const c of [...SHAPES, ...CACHED]) {
    it(label(c), async () => {
      const x = inputs(c, 20);
      expectClose(await flash(c, x), reference(c, x).out);
    });
  }

  for (const c of [{ T: 70, H: 3, HD: 64 }, { T: 33, H: 2, HD: 32 }, { T: 5, H: 2, HD: 64, P0: 90, cached: true }, { T: 1, H: 3, HD: 32, P0: 200, cached: true }]) {
    it(`equals the rows kernel's out: ${label(c)}`, async () => {
      const x = inputs(c, 30);
      expectClose(await flash(c, x), (await rows(c, x)).out);
    });
  }
});

describe('attention without a limit on keys, and at large scores', () => {
  // SwiftShader has 32 KiB of workgroup memory: the old rows kernel, holding a row of scores
  // there, stopped near 8000 keys.
  for (const c of [{ T: 3, H: 1, HD: 32, P0: 9000, cached: true }, { T: 1, H: 1, HD: 32, P0: 9000, cached: true }]) {
    it(`${label(c)}: both kernels`, async () => {
      const x = inputs(c, 40);
      const want = reference(c, x);
      const got = await rows(c, x);
      expectClose(got.probs, want.probs);
      expectClose(got.out, want.out);
      expectClose(await flash(c, x), want.out);
    });
  }

  it('scores in the thousands (exp would overflow without the max taken out): both kernels', async () => {
    // Integer q and k at head dim 64: every score is an exact float (a multiple of 1/8), so the
    // float64 reference and the kernels agree on the scores and differ only in the softmax.
    for (const c of [{ T: 33, H: 2, HD: 64 }, { T: 5, H: 2, HD: 64, P0: 40, cached: true }] as Case[]) {
      const x = inputs(c, 50, 30);
      for (const a of [x.qkv, x.kv]) if (a) for (let i = 0; i < a.length; i++) a[i] = Math.round(a[i]);
      const want = reference(c, x);
      let top = 0;
      for (let i = 0; i < want.probs.length; i++) top = Math.max(top, want.probs[i]);
      expect(top).toBeGreaterThan(0.999); // the softmax is all but one-hot: large score gaps
      const got = await rows(c, x);
      expectClose(got.probs, want.probs);
      expectClose(got.out, want.out);
      expectClose(await flash(c, x), want.out);
    }
  });
});

describe('attention catalogue entries', () => {
  it('the grids cover every query row of every head, with no empty workgroup', () => {
    for (const H of [1, 12, 25]) {
      for (let T = 1; T <= 300; T++) {
        const d = { T, TK: T, H, HD: 64, D: 64 * H, NP: 1024 };
        for (const name of ['attention', 'attention_cached'] as const) expect(KERNELS[name].grid(d)).toEqual([T, H, 1]);
        const bq = flashQueries(T);
        for (const name of ['attention_flash', 'attention_flash_cached'] as const) {
          const [x, y, z] = KERNELS[name].grid(d);
          expect([y, z]).toEqual([H, 1]);
          expect(x * bq).toBeGreaterThanOrEqual(T);
          expect((x - 1) * bq).toBeLessThan(T);
        }
        expect(GRID.attentionFlash(T, H)).toEqual(KERNELS.attention_flash.grid(d));
      }
    }
    // one query per workgroup at T = 1 (generation), at most 16, a power of two
    expect([1, 2, 3, 5, 9, 16, 17, 1024].map(flashQueries)).toEqual([1, 2, 4, 8, 16, 16, 16, 16]);
  });

  it('workgroup memory does not grow with the number of keys; flash fits WebGPU\'s default 16 KiB at head dim 64', () => {
    const d = (NP: number, HD = 64) => ({ T: NP, TK: NP, H: 12, HD, D: 12 * HD, NP });
    for (const name of ['attention', 'attention_cached', 'attention_flash', 'attention_flash_cached'] as const) {
      const bytes = KERNELS[name].workgroupBytes!;
      expect(bytes(d(1 << 20))).toBe(bytes(d(16)));
      expect(bytes(d(1 << 20))).toBeLessThanOrEqual(16384);
      expect(KERNELS[name].unsupported!(d(1 << 20))).toBeUndefined();
    }
    expect(KERNELS.attention.workgroupBytes!(d(16))).toBe(1600);
    expect(KERNELS.attention_flash.workgroupBytes!(d(16))).toBe(16384); // the whole default limit, at GPT-2's head dim
    expect(KERNELS.attention_flash.workgroupBytes!(d(16, 32))).toBe(8192);
    expect(KERNELS.attention_flash.unsupported!(d(16, 128))).toMatch(/above 64/);
    expect(KERNELS.attention.unsupported!(d(16, 128))).toBeUndefined();
    expect(KERNELS.attention.unsupported!(d(16, 66))).toMatch(/multiple of 4/);
  });
});
