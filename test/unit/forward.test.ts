// The declared forward pass (src/engine/forward.ts): tap names and shapes, activation sizes,
// the device-limit check and the profiler's rows and formulas all come from the one table of
// ops; and the untied LM head (tie_word_embeddings: false) on the GPU against a float64 reference.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { GPT2TapsError } from '../../src/errors.js';
import { paramShapes, type GPT2Config } from '../../src/checkpoint/config.js';
import {
  ACTIVATIONS, activationOf, activationShapes, allTapNames, checkDeviceLimits, configSymbols, forwardOps, planForward, tapCatalogue, tapShape,
  UNIFORM_BYTES, FEW_ROWS, type KernelChoice,
} from '../../src/engine/forward.js';
import { KERNELS } from '../../src/engine/kernels.js';
import { evaluate } from '../../src/engine/formula.js';
import { formula, groupSteps } from '../../src/profile/profile.js';
import { bytesSource, readAllTensors, writeSafetensors, type WriteTensor } from '../../src/checkpoint/safetensors.js';
import { compareTensor } from '../../src/analysis/compare.js';

const tiny: GPT2Config = { n_layer: 3, n_head: 4, n_embd: 128, n_positions: 256, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
/** Every combination of kernel variants a device may be given. */
const EVERY_CHOICE: KernelChoice[] = (['matmul', 'matvec', 'matvec_sg'] as const).flatMap((row) => (['blocked', 'tiled'] as const)
  .flatMap((mm) => (['rows', 'flash'] as const).map((attention) => ({ row, few: mm, many: mm, attention, stepAttention: attention }))));
const bytesOf = (shape: number[]) => 4 * shape.reduce((a, b) => a * b, 1);

describe('the table of ops', () => {
  for (const T of [1, 17, 200]) {
    it(`T=${T}: every tap point's shape is its buffer's, and every point is written by its op's kernel, whatever the variants`, () => {
      const acts = activationShapes(tiny, T);
      for (const ops of EVERY_CHOICE.map((kernels) => forwardOps(tiny, T, { kernels }))) {
        expect(allTapNames(tiny)).toEqual(ops.flatMap((op) => op.points.map((p) => p.name)));
        for (const op of ops) {
          for (const p of op.points) {
            expect(tapShape(tiny, p.name, T), p.name).toEqual(acts[p.buffer]);
            // the kernel that runs when this point is asked for binds its buffer read_write
            const kernel = p.fused ? op.tapped!.kernel : op.kernel;
            const bind = p.fused ? { ...op.bind, ...op.tapped!.bind } : op.bind;
            const writes = KERNELS[kernel].bindings.filter((b) => b.access === 'read_write').map((b) => bind[b.name]);
            expect(writes, `${op.label} → ${p.name}`).toContain(p.buffer);
          }
        }
      }
    });
  }

  it('binds only declared buffers: activations, uniforms, and the parameters of paramShapes', () => {
    for (const c of [tiny, { ...tiny, tie_word_embeddings: false }]) {
      const known = new Set([...Object.keys(ACTIVATIONS), ...Object.keys(UNIFORM_BYTES), ...paramShapes(c).keys()]);
      const used = new Set<string>();
      const ops = [forwardOps(c, 5), forwardOps(c, 5, { cache: { p0: 3 }, sample: true }), ...EVERY_CHOICE.flatMap((kernels) =>
        [1, 5, FEW_ROWS + 1].flatMap((T) => [forwardOps(c, T, { kernels }), forwardOps(c, T, { kernels, cache: { p0: 3 }, sample: true })]))].flat();
      for (const op of ops.flatMap((o) => [o, ...(o.unfused?.ops ?? [])])) {
        const binds = { ...op.bind, ...op.tapped?.bind };
        for (const [binding, name] of Object.entries(binds)) {
          expect(known.has(name) || activationOf(name) !== undefined, `${op.label}.${binding} = ${name}`).toBe(true);
          used.add(name);
        }
        // every binding of the kernel is given, and nothing else; the same for the tapped variant
        expect(Object.keys(op.bind).sort(), op.label).toEqual(KERNELS[op.kernel].bindings.map((b) => b.name).sort());
        if (op.tapped) expect(Object.keys(binds).sort(), `${op.label} tapped`).toEqual(KERNELS[op.tapped.kernel].bindings.map((b) => b.name).sort());
      }
      // every parameter and every activation buffer is bound by some op (kv per layer: kv.0, …)
      for (const name of [...paramShapes(c).keys(), ...Object.keys(ACTIVATIONS)]) expect(used.has(name) || used.has(`${name}.0`), name).toBe(true);
    }
  });

  it('activation sizes are the formulas of ACTIVATIONS', () => {
    const s = configSymbols(tiny, 9);
    expect(activationShapes(tiny, 9)).toMatchObject({
      x: [9, 128], qkv: [9, 384], act: [9, 512], pre: [9, 512], probs: [4, 9, 9], partial: [8, 9, 128], logits: [9, 50257], ids: [9],
    });
    for (const [name, a] of Object.entries(ACTIVATIONS)) expect(activationShapes(tiny, 9)[name as keyof typeof ACTIVATIONS]).toEqual(a.shape.map((f) => evaluate(f, s)));
  });

  it('each dispatch costs what its kernel variant\'s formulas say, and the profiler shows those formulas', () => {
    const plan = planForward(tiny, 17);
    expect(plan.map((d) => d.label)).toEqual(forwardOps(tiny, 17).map((op) => op.label));
    for (const d of plan) {
      const { flops, bytes } = KERNELS[d.kernel].cost;
      expect(d.flops, d.label).toBe(evaluate(flops, d.dims));
      expect(d.bytes, d.label).toBe(evaluate(bytes, d.dims));
      expect(formula(d.kernel)).toBe(`flops ${flops}; bytes ${bytes}`);
      expect(d.grid).toEqual(KERNELS[d.kernel].grid(d.dims));
    }
    // c_fc at T = 17: 2·17·128·512 flops
    expect(plan.find((d) => d.label === 'h.0.mlp.c_fc')!.flops).toBe(2 * 17 * 128 * 512);
    expect([...groupSteps(plan).keys()]).toContain('mlp.c_fc');
  });

  it('a run stops after the op of its deepest point; asking a fused point switches only that op to its tapped variant', () => {
    const plan = planForward(tiny, 5, { points: ['h.0.mlp.c_fc'] });
    expect(plan.at(-1)!.label).toBe('h.0.mlp.c_fc');
    expect(plan.at(-1)!.kernel).toBe('linear_gelu_pre');
    expect(plan.at(-1)!.taps).toEqual([{ name: 'h.0.mlp.c_fc', buffer: 'pre' }]);
    expect(planForward(tiny, 5, { points: ['h.0.mlp.c_fc'], whole: true }).length).toBe(planForward(tiny, 5).length);
    expect(planForward(tiny, 5, { points: ['wte'] }).map((d) => d.kernel)).toEqual(['embedding_parts']);
    expect(planForward(tiny, 5).some((d) => d.kernel === 'embedding_parts' || d.kernel === 'linear_gelu_pre')).toBe(false);
  });

  it('every tap has a meaning, and every alias names exactly one tap', () => {
    const seen = new Set<string>();
    for (const t of tapCatalogue(tiny)) {
      expect(t.meaning.length, t.name).toBeGreaterThan(10);
      for (const n of [t.name, ...t.aliases]) {
        expect(seen.has(n), n).toBe(false);
        seen.add(n);
      }
    }
  });
});

describe('the device-limit check counts every buffer the forward pass allocates', () => {
  const roomy = { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31, maxComputeWorkgroupStorageSize: 32768 };

  it('refuses when any one activation buffer at T = n_positions is above the limit, and passes at the largest', () => {
    const c: GPT2Config = { n_layer: 1, n_head: 2, n_embd: 64, n_positions: 128, vocab_size: 100, layer_norm_epsilon: 1e-5 };
    const sizes = [...Object.values(activationShapes(c, c.n_positions)), ...paramShapes(c).values()].map(bytesOf);
    const largest = Math.max(...sizes);
    expect(() => checkDeviceLimits({ ...roomy, maxBufferSize: largest }, c)).not.toThrow();
    // here the split-K partial sums [8, T, D] are the largest buffer: twice the MLP's [T, 4D]
    expect(largest).toBe(bytesOf(activationShapes(c, 128).partial));
    expect(() => checkDeviceLimits({ ...roomy, maxBufferSize: largest - 16 }, c))
      .toThrow(/needs a 0\.3 MiB buffer for activation partial \[KS_MAX, T, D\] at T = n_positions \(128\), above this device's maxBufferSize/);
    for (const [name, shape] of Object.entries(activationShapes(c, c.n_positions))) {
      expect(() => checkDeviceLimits({ ...roomy, maxStorageBufferBindingSize: bytesOf(shape) - 4 }, c), name).toThrow(GPT2TapsError);
    }
  });

  it('refuses a parameter above the limit, and a kernel needing more workgroup memory than the device has', () => {
    expect(() => checkDeviceLimits({ ...roomy, maxStorageBufferBindingSize: 2 ** 20 }, tiny))
      .toThrow(/parameter wte\.weight \[50257, 128\]|activation logits/);
    expect(() => checkDeviceLimits({ ...roomy, maxComputeWorkgroupStorageSize: 1024 }, tiny))
      .toThrow(/h\.0\.attn\.attention: the attention kernel needs 1600 bytes of workgroup memory for this model, above this device's maxComputeWorkgroupStorageSize \(1024\)/);
    expect(() => checkDeviceLimits(roomy, { ...tiny, n_head: 64 })).toThrow(/head dim 2 is not a multiple of 4/);
  });
});

describe('untied LM head (tie_word_embeddings: false)', () => {
  const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url);
  const config = JSON.parse(readFileSync(new URL('config.json', MODEL), 'utf8')) as Record<string, unknown>;
  const ids = [464, 2068, 7586, 21831, 18045, 625];
  let device: GPUDevice;
  let tensors: WriteTensor[];
  let lmHead: Float32Array;
  let wte: Float32Array;

  beforeAll(async () => {
    device = (await nodeDevice()).device;
    const all = await readAllTensors(bytesSource(new Uint8Array(readFileSync(new URL('model.safetensors', MODEL)))));
    tensors = [...all.floats].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data }));
    wte = all.floats.get('wte.weight')!.data;
    // [V, D] = [50257, 128]: not square, so a transposed read cannot pass
    lmHead = Float32Array.from(wte, (_, i) => Math.sin(i * 0.37) * 0.05);
  });
  afterAll(() => device?.destroy());

  /** logits[t, v] = Σ_d ln_f[t, d] · W[v, d] in float64. */
  function reference(lnF: Float32Array, W: Float32Array, T: number, V: number, D: number): Float64Array {
    const out = new Float64Array(T * V);
    for (let t = 0; t < T; t++) for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += lnF[t * D + d] * W[v * D + d];
      out[t * V + v] = s;
    }
    return out;
  }

  async function logitsWith(cfg: Record<string, unknown>, withHead: boolean) {
    const model = writeSafetensors([...tensors, ...(withHead ? [{ name: 'lm_head.weight', dtype: 'F32' as const, shape: [50257, 128], data: lmHead }] : [])]);
    const m = await GPT2.load({ model, config: cfg }, { device });
    try {
      const r = await m.run(ids, { taps: ['ln_f', 'logits'] });
      return { notes: m.notes, lnF: r.get('ln_f').data, logits: r.get('logits').data, tied: m.config.tie_word_embeddings !== false };
    } finally {
      m.dispose();
    }
  }

  it('with lm_head.weight in the file, the logits are ln_f · lm_head.weightᵀ, not ln_f · wteᵀ', async () => {
    const r = await logitsWith({ ...config, tie_word_embeddings: false }, true);
    expect(r.tied).toBe(false);
    const want = reference(r.lnF, lmHead, ids.length, 50257, 128);
    expect(compareTensor('logits', r.logits, want, [ids.length, 50257]).pass).toBe(true);
    expect(compareTensor('logits', r.logits, reference(r.lnF, wte, ids.length, 50257, 128), [ids.length, 50257]).pass).toBe(false);
  }, 60_000);

  it('tied (no tie_word_embeddings: false): lm_head.weight is ignored with a note; untied without the tensor: wte, with a note', async () => {
    const tied = await logitsWith(config, true);
    expect(tied.tied).toBe(true);
    expect(tied.notes.join('\n')).toMatch(/lm_head\.weight is present but not used/);
    expect(compareTensor('logits', tied.logits, reference(tied.lnF, wte, ids.length, 50257, 128), [ids.length, 50257]).pass).toBe(true);
    const missing = await logitsWith({ ...config, tie_word_embeddings: false }, false);
    expect(missing.tied).toBe(true);
    expect(missing.notes.join('\n')).toMatch(/tie_word_embeddings: false, but the checkpoint has no lm_head\.weight: the logits use wte\.weight/);
    expect(missing.logits).toEqual(tied.logits);
  }, 60_000);
});
