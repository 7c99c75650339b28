// The whole model through the Node backend (Dawn) against the fixture's float64
// reference activations, every tensor at max|ours - ref| <= 5e-5·max|ref| + 1e-6,
// plus the residual identities at the same bound.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { readAllTensors, bytesSource } from '../../src/checkpoint/safetensors.js';
import { compareTensor, matchTensor } from '../../src/analysis/compare.js';
import type { TapResult } from '../../src/engine/taps.js';

const FIXTURE = new URL('../fixtures/gpt2-tiny/', import.meta.url);
let device: GPUDevice;
let model: GPT2;

beforeAll(async () => {
  device = (await nodeDevice()).device;
  model = await GPT2.load(FIXTURE.pathname, { device });
});
afterAll(() => {
  model?.dispose();
  device?.destroy();
});

for (const prompt of ['seed', 'tale']) {
  describe(`prompt "${prompt}"`, () => {
    let ref: Awaited<ReturnType<typeof readAllTensors>>;
    let ours: TapResult;

    beforeAll(async () => {
      ref = await readAllTensors(bytesSource(readFileSync(new URL(`reference-${prompt}.safetensors`, FIXTURE))));
      ours = await model.run(ref.ints.get('input_ids')!.data, { taps: 'all' });
    });

    it('produces every reference tensor (logits_lastK: the last K rows of logits)', () => {
      for (const name of ref.floats.keys()) expect(matchTensor(name, (n) => (ours.has(n) ? ours.get(n) : undefined)), name).toBeDefined();
      expect(ours.names.length).toBe(ref.floats.size);
    });

    it('matches every reference tensor within 5e-5·max|ref| + 1e-6', () => {
      const failures = [];
      for (const [name, r] of ref.floats) {
        const o = matchTensor(name, (n) => (ours.has(n) ? ours.get(n) : undefined))!;
        expect(o.shape, name).toEqual(r.shape);
        const c = compareTensor(name, o.data, r.data, r.shape);
        if (!c.pass) failures.push(c);
      }
      expect(failures).toEqual([]);
    });

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

describe('taps', () => {
  it('a run with no taps returns none, and taps requested by alias match the full run', async () => {
    const ids = [3646, 1187, 787, 9623, 17252];
    const none = await model.run(ids);
    expect(none.names).toEqual([]);
    const all = await model.run(ids, { taps: 'all' });
    const some = await model.run(ids, { taps: ['blocks.1.hook_attn_out', 'hidden_states.*'] });
    expect(some.names).toEqual(['hidden_states.0', 'hidden_states.1', 'h.1.attn.c_proj', 'hidden_states.2', 'hidden_states.3']);
    expect(some.get('blocks.1.hook_attn_out').data).toEqual(all.get('h.1.attn.c_proj').data);
    expect(some.get('hidden_states.3').data).toEqual(all.get('hidden_states.3').data);
    // A run that stops early (after block 0) gives the same tap as the whole pass.
    const early = await model.run(ids, { taps: ['h.0'] });
    expect(early.get('h.0').data).toEqual(all.get('h.0').data);
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
    await expect(model.run([1], { taps: ['h.7.attn.c_proj'] })).rejects.toThrow(/unknown tap "h.7.attn.c_proj"[^]*valid taps/);
  });
});
