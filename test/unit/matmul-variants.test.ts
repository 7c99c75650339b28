// The GPU variants of the matmul kernels against a float64 JS reference, as the kernel tests do
// for the originals: every `_tiled` entry (shaders/matmul_tiled.wgsl) at awkward shapes (M not a
// multiple of the 64-row tile, N not of the 64-column tile, K not of the 16-deep K step), its
// split-K slices through splitk_reduce, gelu_new where tanh saturates, and agreement with the
// register-blocked kernel on a GPT-2 shape; every `_sg` entry (matvec.wgsl with SUBGROUPS), on
// devices with the subgroups feature (SwiftShader has it, with subgroups of 4).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  GRID, KERNELS, MATMUL_TILED_WORKGROUP_BYTES, SOURCES, compileKernel, kernelKey, matmulDecl, matmulKernel, preprocess,
  type KernelDecl, type KernelName, type MatmulVariant,
} from '../../src/engine/kernels.js';
import { createKernel, type Kernel } from '../../src/engine/gpu.js';
import { kernelHarness, rand, expectClose, geluNew, matmulReference, dispatch as run, type Harness } from './kernel-harness.js';

const harness = kernelHarness();
let device: GPUDevice;
beforeAll(async () => {
  await harness.open();
  ({ device } = harness.h);
});
afterAll(() => harness.close());

const dispatch: OmitHarness<typeof run> = (...a) => run(harness.h, ...a);
type OmitHarness<F> = F extends (h: Harness, ...rest: infer R) => infer Out ? (...rest: R) => Out : never;

// The tiled kernel takes SwiftShader about 2 s to compile: each is compiled once per K and N.
const compiled = new Map<string, Promise<Kernel>>();
function compile(decl: KernelDecl, K: number, N: number): Promise<Kernel> {
  const key = kernelKey(decl, { K, N });
  if (!compiled.has(key)) compiled.set(key, compileKernel(device, decl, { K, N }));
  return compiled.get(key)!;
}

const plain = { bias: true, gelu: false, residual: false, transposeB: false };
/** The entries with a tiled twin, by the epilogue each computes. */
const EPILOGUES: [string, MatmulVariant][] = [
  ['linear', plain],
  ['linear_gelu', { ...plain, gelu: true }],
  ['linear_gelu_pre', { ...plain, gelu: true, pre: true }],
  ['linear_residual', { ...plain, residual: true }],
  ['lm_head', { bias: false, gelu: false, residual: false, transposeB: true }],
];
/** The one-row entries with a subgroup twin. */
const ROWS: [string, MatmulVariant][] = [
  ['linear_1', plain],
  ['linear_gelu_1', { ...plain, gelu: true }],
  ['linear_gelu_pre_1', { ...plain, gelu: true, pre: true }],
  ['linear_residual_1', { ...plain, residual: true }],
  ['lm_head_1', { bias: false, gelu: false, residual: false, transposeB: true }],
];

/** Runs a catalogue entry once at M×K·K×N on random inputs and checks every output it writes. */
async function check(name: KernelName, v: MatmulVariant, M: number, K: number, N: number): Promise<void> {
  const decl: KernelDecl = KERNELS[name];
  const x = rand(M * K, 31, 2), w = rand(K * N, 32, 0.5), b = rand(N, 33), r0 = rand(M * N, 34);
  const k = await compile(decl, K, N);
  const inputs: Record<string, Float32Array> = { x, w };
  if (v.bias) inputs.b = b;
  if (v.residual) inputs.r = r0;
  const outputs: Record<string, number> = { y: M * N };
  if (v.residual) outputs.r = M * N;
  if (v.pre) outputs.pre = M * N;
  const out = await dispatch(k, inputs, outputs, decl.grid({ M, K, N, KS: 1 }), M);
  const want = matmulReference(v, M, K, N, x, w, b, r0);
  expectClose(out.y, want.y);
  if (v.residual) expectClose(out.r, want.r);
  if (v.pre) expectClose(out.pre, want.pre);
}

describe('catalogue: the twins', () => {
  it('each _tiled entry has its original\'s switches, bindings and cost, the tiled file and grid, 16 KiB of workgroup memory', () => {
    for (const [name] of EPILOGUES.concat([['linear_residual_split', plain]])) {
      const a: KernelDecl = KERNELS[name as KernelName], t: KernelDecl = KERNELS[`${name}_tiled` as KernelName];
      expect(t.shader).toBe('matmul_tiled');
      expect([t.defines, t.bindings, t.cost]).toEqual([a.defines, a.bindings, a.cost]);
      expect(t.grid({ M: 130, K: 768, N: 389, KS: 4 })).toEqual(GRID.matmulTiled(130, 389, 4));
      expect(t.workgroupBytes?.({})).toBe(MATMUL_TILED_WORKGROUP_BYTES);
      expect(MATMUL_TILED_WORKGROUP_BYTES).toBeLessThanOrEqual(16384); // WebGPU's default maxComputeWorkgroupStorageSize
      expect(t.requires).toBeUndefined();
    }
  });

  it('each _sg entry is its original with SUBGROUPS on, requiring the subgroups feature', () => {
    for (const [name] of ROWS) {
      const a: KernelDecl = KERNELS[name as KernelName], s: KernelDecl = KERNELS[`${name}_sg` as KernelName];
      expect(a.defines.SUBGROUPS).toBe(false);
      expect(s.defines).toEqual({ ...a.defines, SUBGROUPS: true });
      expect([s.shader, s.bindings, s.cost]).toEqual([a.shader, a.bindings, a.cost]);
      expect(s.grid({ M: 1, K: 768, N: 389, KS: 1 })).toEqual(a.grid({ M: 1, K: 768, N: 389, KS: 1 }));
      expect(s.requires).toBe('subgroups');
      expect(preprocess(SOURCES.matvec, s.defines)).toMatch(/^enable subgroups;$/m);
      expect(preprocess(SOURCES.matvec, a.defines)).not.toMatch(/enable subgroups/);
    }
  });

  it('matmulDecl gives the same kernels as the catalogue', () => {
    expect(matmulDecl({ ...plain, gelu: true }, 'tiled').defines).toEqual(KERNELS.linear_gelu_tiled.defines);
    expect(matmulDecl({ ...plain, residual: true }, 'matvec_sg').defines).toEqual(KERNELS.linear_residual_1_sg.defines);
    expect(matmulDecl(plain).shader).toBe('matmul');
  });
});

describe('matmul_tiled', () => {
  // K of 96, 128, 384 and 100 (K/4 = 25: K steps of 16 with a tail of 4); N of 64, 132, 288, 389
  // ([K, N] rounds 389 up to 392, a multiple of 4 but not of 8 or 64); each with M = 1, 5, 37, 70, 130.
  const sizes = [[96, 389], [128, 132], [384, 64], [100, 288]];
  for (const [base, v] of EPILOGUES) {
    for (const [K, N0] of sizes) {
      const N = v.transposeB ? N0 : Math.ceil(N0 / 4) * 4;
      for (const M of [1, 5, 37, 70, 130]) {
        it(`${base}_tiled: M=${M} K=${K} N=${N}`, () => check(`${base}_tiled` as KernelName, v, M, K, N));
      }
    }
  }

  // KS slices of K/4, each with its own K tail: 24/8 = 3 (shorter than one step), 32/4 = 8, 96/2 = 48, 96/8 = 12, 25/5 = 5.
  for (const [M, K, N, KS] of [[1, 96, 392, 8], [37, 128, 132, 4], [70, 384, 64, 2], [130, 384, 64, 8], [5, 100, 288, 5]]) {
    it(`linear_residual_split_tiled (${KS} slices) + splitk_reduce: M=${M} K=${K} N=${N}`, async () => {
      const decl = KERNELS.linear_residual_split_tiled;
      const x = rand(M * K, 41, 2), w = rand(K * N, 42, 0.5), b = rand(N, 43), r0 = rand(M * N, 44);
      const mm = await compile(decl, K, N);
      const { y: partial } = await dispatch(mm, { x, w, b, r: r0 }, { y: KS * M * N }, decl.grid({ M, K, N, KS }), M, KS);
      const red = await compileKernel(device, KERNELS.splitk_reduce, { N });
      const out = await dispatch(red, { p: partial, b, r: r0 }, { y: M * N, r: M * N }, GRID.splitkReduce(M, N), M, KS);
      const want = matmulReference({ ...plain, residual: true }, M, K, N, x, w, b, r0);
      expectClose(out.y, want.y);
      expectClose(out.r, want.r);
    });
  }

  it('linear_gelu_tiled: gelu_new finite and exact where tanh saturates', async () => {
    const M = 1, K = 4, N = 8;
    const xs = [-30, -5, -0.5, 0.3, 1.7, 3, 12, 30];
    const w = new Float32Array(K * N);
    xs.forEach((val, n) => { w[n] = val; });
    const k = await compileKernel(device, KERNELS.linear_gelu_tiled, { K, N });
    const { y } = await dispatch(k, { x: new Float32Array([1, 0, 0, 0]), w, b: new Float32Array(N) }, { y: N }, GRID.matmulTiled(M, N), M);
    expectClose(y, Float64Array.from(xs, geluNew), 1e-6, 1e-7);
  });

  for (const [name, v] of [['linear', plain], ['lm_head', EPILOGUES[4][1]]] as const) {
    it(`agrees with the register-blocked kernel to 1e-5 on a GPT-2 shape (${name}: M=64 K=768 N=768)`, async () => {
      const M = 64, K = 768, N = 768;
      const x = rand(M * K, 51, 2), w = rand(K * N, 52, 0.5), b = rand(N, 53);
      const inputs: Record<string, Float32Array> = v.bias ? { x, w, b } : { x, w };
      const ys: Float32Array[] = [];
      for (const kind of ['blocked', 'tiled'] as const) {
        const k: Kernel = await matmulKernel(device, K, N, v, kind);
        ys.push((await dispatch(k, inputs, { y: M * N }, matmulDecl(v, kind).grid({ M, K, N, KS: 1 }), M)).y);
      }
      expectClose(ys[1], ys[0], 1e-5, 0);
    });
  }
});

describe('matvec with SUBGROUPS', () => {
  const has = () => device.features.has('subgroups');
  for (const [base, v] of ROWS) {
    for (const K of [96, 128, 768]) {
      for (const N0 of [68, 132, 288, 389]) {
        const N = v.transposeB ? N0 : Math.ceil(N0 / 4) * 4;
        it(`${base}_sg: K=${K} N=${N}`, async (ctx) => {
          if (!has()) return ctx.skip();
          await check(`${base}_sg` as KernelName, v, 1, K, N);
        });
      }
    }
  }

  it('linear_gelu_1_sg: gelu_new finite and exact where tanh saturates', async (ctx) => {
    if (!has()) return ctx.skip();
    const K = 4, N = 8;
    const xs = [-30, -5, -0.5, 0.3, 1.7, 3, 12, 30];
    const w = new Float32Array(K * N);
    xs.forEach((val, n) => { w[n] = val; });
    const k = await compileKernel(device, KERNELS.linear_gelu_1_sg, { K, N });
    const { y } = await dispatch(k, { x: new Float32Array([1, 0, 0, 0]), w, b: new Float32Array(N) }, { y: N }, GRID.matvec(N, false), 1);
    expectClose(y, Float64Array.from(xs, geluNew), 1e-6, 1e-7);
  });

  // groupSum (matvec.wgsl) must add groups both larger and smaller than a subgroup; this device's
  // subgroups are one size, so groups of 1..64 threads stand in for subgroups larger than a group.
  for (const G of [1, 2, 4, 8, 16, 32, 64]) {
    it(`groupSum adds each group of ${G} consecutive threads exactly once`, async (ctx) => {
      if (!has()) return ctx.skip();
      const pieces = SOURCES.matvec.match(/^var<workgroup> pieces.*$/m)?.[0];
      const fn = SOURCES.matvec.match(/^fn groupSum[^]*?^}$/m)?.[0];
      expect(pieces && fn, 'pieces and groupSum in matvec.wgsl').toBeTruthy();
      const code = `enable subgroups;\n@group(0) @binding(0) var<storage, read_write> y: array<vec4<f32>>;\n${pieces}\n${fn}\n` +
        '@compute @workgroup_size(64)\nfn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_size) sg: u32) {\n' +
        `  let t = groupSum(vec4<f32>(f32(lid), 1.0, f32(lid % 3u), 2.0), lid, ${G}u, sg);\n` +
        `  if (lid % ${G}u == 0u) { y[lid / ${G}u] = t; }\n}\n`;
      const k = await createKernel(device, 'groupsum_test', code, [{ binding: 0, name: 'y', access: 'read_write' }], {});
      const { y } = await dispatch(k, {}, { y: 4 * (64 / G) }, [1, 1, 1], 1);
      const want = new Float64Array(4 * (64 / G));
      for (let lid = 0; lid < 64; lid++) {
        const g = Math.floor(lid / G);
        want[4 * g] += lid; want[4 * g + 1] += 1; want[4 * g + 2] += lid % 3; want[4 * g + 3] += 2;
      }
      expectClose(y, want, 0, 0);
    });
  }
});
