// The whole model through the Node backend (Dawn) against the fixture's float64
// reference activations (reference-<prompt>: the first taps; reference-modules-<prompt>:
// every module of the forward pass), every tensor at max|ours - ref| <= 5e-5·max|ref| + 1e-6,
// plus the residual identities at the same bound.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { readAllTensors, bytesSource } from '../../src/checkpoint/safetensors.js';
import { compareTensor, matchTensor } from '../../src/analysis/compare.js';
import type { TapResult } from '../../src/engine/taps.js';

const FIXTURE = new URL('../fixtures/gpt2-tiny/', import.meta.url);
const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url).pathname;
let device: GPUDevice;
let model: GPT2;

beforeAll(async () => {
  device = (await nodeDevice()).device;
  model = await GPT2.load(MODEL, { device });
});
afterAll(() => {
  model?.dispose();
  device?.destroy();
});

for (const prompt of ['seed', 'tale']) {
  describe(`prompt "${prompt}"`, () => {
    const refs = new Map<string, Awaited<ReturnType<typeof readAllTensors>>>();
    let ours: TapResult;

    beforeAll(async () => {
      for (const file of [`reference-${prompt}`, `reference-modules-${prompt}`]) {
        refs.set(file, await readAllTensors(bytesSource(readFileSync(new URL(`${file}.safetensors`, FIXTURE)))));
      }
      ours = await model.run(refs.get(`reference-${prompt}`)!.ints.get('input_ids')!.data, { taps: 'all' });
    });

    it("taps 'all' are exactly the points of reference-modules (logits_lastK: the last K rows of logits)", () => {
      const ref = refs.get(`reference-modules-${prompt}`)!;
      for (const name of ref.floats.keys()) expect(matchTensor(name, (n) => (ours.has(n) ? ours.get(n) : undefined)), name).toBeDefined();
      expect(ours.names.length).toBe(ref.floats.size);
      expect(ours.inputIds).toEqual(Uint32Array.from(ref.ints.get('input_ids')!.data));
    });

    for (const file of [`reference-${prompt}`, `reference-modules-${prompt}`]) {
      it(`matches every tensor of ${file} within 5e-5·max|ref| + 1e-6`, () => {
        const failures = [];
        for (const [name, r] of refs.get(file)!.floats) {
          const o = matchTensor(name, (n) => (ours.has(n) ? ours.get(n) : undefined))!;
          expect(o.shape, name).toEqual(r.shape);
          const c = compareTensor(name, o.data, r.data, r.shape);
          if (!c.pass) failures.push(c);
        }
        expect(failures).toEqual([]);
      });
    }

    it('satisfies h.l = hidden_states.l + attn Δ + mlp Δ, and hidden_states.(l+1) = h.l', () => {
      const L = model.config.n_layer;
      for (let l = 0; l < L; l++) {
        const x = ours.get(`hidden_states.${l}`).data, y = ours.get(`h.${l}`).data;
        const a = ours.get(`h.${l}.attn.c_proj`).data, m = ours.get(`h.${l}.mlp.c_proj`).data;
        const sum = x.map((v, i) => v + a[i] + m[i]);
        expect(compareTensor(`h.${l}`, sum, y, []).pass, `layer ${l}`).toBe(true);
        if (l < L - 1) expect(ours.get(`hidden_states.${l + 1}`).data).toEqual(y);
      }
    });
  });
}

/**
 * Runs asking for different taps may run different kernel variants (flash attention where no
 * probabilities are asked for, the rows kernel where they are): the same values up to rounding.
 */
function expectSame(got: Float32Array, want: Float32Array, name = '') {
  expect(got.length, name).toBe(want.length);
  expect(compareTensor(name, got, want, [], 1e-5, 1e-6).pass, name).toBe(true);
}

describe('taps', () => {
  it('a run with no taps returns none, and taps requested by alias match the full run', async () => {
    const ids = [3646, 1187, 787, 9623, 17252];
    const none = await model.run(ids);
    expect(none.names).toEqual([]);
    const all = await model.run(ids, { taps: 'all' });
    const some = await model.run(ids, { taps: ['blocks.1.hook_attn_out', 'hidden_states.*'] });
    expect(some.names).toEqual(['hidden_states.0', 'hidden_states.1', 'h.1.attn.c_proj', 'hidden_states.2', 'hidden_states.3']);
    expectSame(some.get('blocks.1.hook_attn_out').data, all.get('h.1.attn.c_proj').data);
    expectSame(some.get('hidden_states.3').data, all.get('hidden_states.3').data);
    // A run that stops early (after block 0) gives the same tap as the whole pass.
    const early = await model.run(ids, { taps: ['h.0'] });
    expectSame(early.get('h.0').data, all.get('h.0').data);
  });

  it('a fused point asked for alone (wte, wpe, h.l.mlp.c_fc) is written by the tapped variant and matches the whole run', async () => {
    const ids = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290];
    const all = await model.run(ids, { taps: 'all' });
    for (const name of ['wte', 'wpe', 'h.1.mlp.c_fc', 'blocks.2.mlp.hook_pre']) {
      const alone = await model.run(ids, { taps: [name] });
      expectSame(alone.get(name).data, all.get(name).data, name);
    }
    // wte + wpe = hidden_states.0; gelu_new(c_fc) = act; the plain run (no c_fc asked) gives the same act
    const hs0 = all.get('hidden_states.0').data, wte = all.get('wte').data, wpe = all.get('wpe').data;
    expect(hs0).toEqual(wte.map((v, i) => Math.fround(v + wpe[i])));
    const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    const pre = all.get('h.1.mlp.c_fc').data, act = all.get('h.1.mlp.act').data;
    expect(compareTensor('act', act, pre.map(gelu), [], 1e-5, 1e-6).pass).toBe(true);
    expectSame((await model.run(ids, { taps: ['h.1.mlp.act'] })).get('h.1.mlp.act').data, act);
    // the plan asks the tapped variants only for what was asked
    expect(model.dispatches(9, { taps: ['h.1.mlp.act'] }).map((d) => d.kernel)).not.toContain('linear_gelu_pre');
    expect(model.dispatches(9, { taps: ['h.1.mlp.c_fc'] }).filter((d) => d.kernel === 'linear_gelu_pre').map((d) => d.label)).toEqual(['h.1.mlp.c_fc']);
  });

  it('TransformerLens hook_q, hook_k, hook_v, hook_z are [T, H, HD] views of c_attn and of the c_proj input', async () => {
    const ids = [464, 2068, 7586, 21831, 18045];
    const T = ids.length, { n_embd: D, n_head: H } = model.config, HD = D / H;
    const r = await model.run(ids, { taps: ['blocks.1.attn.hook_q', 'blocks.1.attn.hook_k', 'blocks.1.attn.hook_v', 'blocks.1.attn.hook_z',
      'h.1.attn.c_attn', 'h.1.attn.c_proj.input'] });
    const qkv = r.get('h.1.attn.c_attn').data, z = r.get('h.1.attn.c_proj.input').data;
    for (const [hook, first, src, width] of [['q', 0, qkv, 3 * D], ['k', D, qkv, 3 * D], ['v', 2 * D, qkv, 3 * D], ['z', 0, z, D]] as const) {
      const v = r.get(`blocks.1.attn.hook_${hook}`);
      expect(v.shape).toEqual([T, H, HD]);
      for (let t = 0; t < T; t++) expect(v.data.subarray(t * D, (t + 1) * D)).toEqual(src.subarray(t * width + first, t * width + first + D));
    }
    // a view alone copies its point and gives the same numbers
    expect((await model.run(ids, { taps: ['blocks.1.attn.hook_v'] })).get('blocks.1.attn.hook_v').data).toEqual(r.get('blocks.1.attn.hook_v').data);
  });

  it('concurrent runs are queued and never mix taps', async () => {
    const a = [1, 2, 3, 4, 5, 6, 7], b = [50, 60];
    const [ra, rb] = await Promise.all([model.run(a, { taps: ['logits'] }), model.run(b, { taps: ['logits'] })]);
    const [sa, sb] = [await model.run(a, { taps: ['logits'] }), await model.run(b, { taps: ['logits'] })];
    expect(ra.get('logits').data).toEqual(sa.get('logits').data);
    expect(rb.get('logits').data).toEqual(sb.get('logits').data);
    expect(ra.inputIds).toEqual(Uint32Array.from(a));
  });

  it('rejects bad input with clear errors', async () => {
    await expect(model.run([])).rejects.toThrow(/empty/);
    await expect(model.run(new Array(257).fill(1))).rejects.toThrow(/n_positions \(256\)/);
    await expect(model.run([1, 50257])).rejects.toThrow(/token id 50257 at position 1/);
    await expect(model.run([1, 2.5])).rejects.toThrow(/not an integer/);
    await expect(model.run([1], { taps: ['h.7.attn.c_proj'] })).rejects.toThrow(/unknown tap "h.7.attn.c_proj"[^]*gpt2-taps taps/);
  });
});
