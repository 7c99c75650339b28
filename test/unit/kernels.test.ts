// Each kernel alone against a small float64 JS reference, on random inputs of awkward
// sizes: T = 1, T not a multiple of the tile, D = 96, head_dim 32 and 64.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  GRID, KERNELS, SOURCES, compileKernel, matmulBindings, matmulKernel, preprocess, splitK, type MatmulVariant,
} from '../../src/engine/kernels.js';
import { bindGroup, encodeDispatch, type BufferPool } from '../../src/engine/gpu.js';
import { kernelHarness, rand, expectClose, geluNew, matmulReference, dispatch as run, type Harness } from './kernel-harness.js';

const harness = kernelHarness();
let device: GPUDevice;
let pool: BufferPool;
beforeAll(async () => {
  await harness.open();
  ({ device, pool } = harness.h);
});
afterAll(() => harness.close());

const dispatch: OmitHarness<typeof run> = (...a) => run(harness.h, ...a);
type OmitHarness<F> = F extends (h: Harness, ...rest: infer R) => infer Out ? (...rest: R) => Out : never;

describe('binding tables match the WGSL files', () => {
  const bindingsIn = (code: string) => [...code.matchAll(/@binding\((\d+)\)\s*var<(\w+)(?:,\s*(\w+))?>\s*(\w+)/g)].map((m) => ({
    binding: Number(m[1]), name: m[4], access: m[2] === 'uniform' ? 'uniform' : m[3],
  }));
  for (const [name, decl] of Object.entries(KERNELS)) {
    it(`catalogue entry ${name} (${decl.shader}.wgsl, ${JSON.stringify(decl.defines)})`, () => {
      expect(bindingsIn(preprocess(SOURCES[decl.shader], decl.defines))).toEqual(decl.bindings);
    });
  }
  for (const on of [true, false]) {
    it(`matmul with every variant ${on ? 'on' : 'off'}`, () => {
      const v = { bias: on, gelu: on, residual: on, transposeB: on, pre: on };
      expect(bindingsIn(preprocess(SOURCES.matmul, { BIAS: on, GELU: on, RESIDUAL: on, TRANSPOSE_B: on, PRE: on }))).toEqual(matmulBindings(v));
    });
  }

  it('every kernel file opens with a contract comment naming bindings and dispatch', () => {
    for (const [name, code] of Object.entries(SOURCES)) {
      expect(code.startsWith(`// ${name} —`), name).toBe(true);
      expect(code, name).toContain('Bindings (group 0):');
      expect(code, name).toContain('Dispatch:');
    }
    // and the test above reads the same files the kernels compile
    expect(readFileSync(new URL('../../shaders/matmul.wgsl', import.meta.url), 'utf8')).toBe(SOURCES.matmul);
  });
});

describe('shader errors', () => {
  it('a compilation error names the kernel, the line and column, and shows the line', async () => {
    const { createKernel } = await import('../../src/engine/gpu.js');
    const code = '// broken — a kernel with a type error\n@compute @workgroup_size(1)\nfn main() {\n  let x: u32 = 1.5;\n}\n';
    await expect(createKernel(device, 'broken', code, [], {})).rejects.toThrow(/shader broken failed to compile:\nbroken\.wgsl:4:\d+ error: [^]*let x: u32 = 1\.5;/);
  });
});

describe('embedding', () => {
  for (const [T, D] of [[1, 96], [37, 128]]) {
    for (const parts of [false, true]) {
      it(`T=${T} D=${D}${parts ? ', writing the parts wte[ids] and wpe' : ''}`, async () => {
        const V = 301, N = 64;
        const wte = rand(V * D, 1), wpe = rand(N * D, 2);
        const ids = Uint32Array.from({ length: T }, (_, i) => (i * 97 + 5) % V);
        const k = await compileKernel(device, parts ? KERNELS.embedding_parts : KERNELS.embedding, { D });
        const out = await dispatch(k, { ids, wte, wpe }, parts ? { x: T * D, tok: T * D, pos: T * D } : { x: T * D }, GRID.embedding(T, D), T);
        const want = new Float64Array(T * D), tok = new Float64Array(T * D), pos = new Float64Array(T * D);
        for (let t = 0; t < T; t++) {
          for (let d = 0; d < D; d++) {
            tok[t * D + d] = wte[ids[t] * D + d];
            pos[t * D + d] = wpe[t * D + d];
            want[t * D + d] = Math.fround(tok[t * D + d] + pos[t * D + d]);
          }
        }
        expectClose(out.x, want, 0, 0);
        if (parts) {
          expectClose(out.tok, tok, 0, 0);
          expectClose(out.pos, pos, 0, 0);
        }
      });
    }
  }
});

describe('layernorm', () => {
  for (const [T, D] of [[1, 96], [37, 128], [5, 768]]) {
    it(`T=${T} D=${D}, rows with a large mean`, async () => {
      const x = rand(T * D, 3, 2);
      for (let i = 0; i < x.length; i++) x[i] += 300; // stresses the two-pass variance
      const gamma = rand(D, 4), beta = rand(D, 5);
      const k = await compileKernel(device, KERNELS.layernorm, { D, EPS: 1e-5 });
      const { y } = await dispatch(k, { x, gamma, beta }, { y: T * D }, GRID.layernorm(T), T);
      const want = new Float64Array(T * D);
      for (let t = 0; t < T; t++) {
        let mean = 0, v = 0;
        for (let d = 0; d < D; d++) mean += x[t * D + d] / D;
        for (let d = 0; d < D; d++) v += (x[t * D + d] - mean) ** 2 / D;
        for (let d = 0; d < D; d++) want[t * D + d] = ((x[t * D + d] - mean) / Math.sqrt(v + 1e-5)) * gamma[d] + beta[d];
      }
      expectClose(y, want, 1e-4);
    });
  }
});

describe('matmul', () => {
  const variants: [string, MatmulVariant][] = [
    ['bias', { bias: true, gelu: false, residual: false, transposeB: false }],
    ['bias+gelu_new', { bias: true, gelu: true, residual: false, transposeB: false }],
    ['bias+gelu_new, writing the pre-activation', { bias: true, gelu: true, residual: false, transposeB: false, pre: true }],
    ['bias+residual', { bias: true, gelu: false, residual: true, transposeB: false }],
    ['transposed B, no bias (LM head)', { bias: false, gelu: false, residual: false, transposeB: true }],
  ];
  const shapes = [[1, 96, 288], [37, 128, 64], [70, 96, 389], [5, 128, 132]]; // 132: N % 8 == 4
  for (const [vname, v] of variants) {
    for (const [M, K, N0] of shapes) {
      const N = v.transposeB ? N0 : Math.ceil(N0 / 4) * 4; // [K, N] layout needs N % 4 == 0
      it(`${vname}: M=${M} K=${K} N=${N}`, async () => {
        const x = rand(M * K, 6, 2), w = rand(K * N, 7, 0.5), b = rand(N, 8), r0 = rand(M * N, 9);
        const k = await matmulKernel(device, K, N, v);
        const inputs: Record<string, Float32Array> = { x, w };
        if (v.bias) inputs.b = b;
        if (v.residual) inputs.r = r0;
        const outputs: Record<string, number> = { y: M * N };
        if (v.residual) outputs.r = M * N;
        if (v.pre) outputs.pre = M * N;
        const out = await dispatch(k, inputs, outputs, GRID.matmul(M, N), M);
        const { y, r, pre } = matmulReference(v, M, K, N, x, w, b, r0);
        expectClose(out.y, y);
        if (v.residual) expectClose(out.r, r);
        if (v.pre) expectClose(out.pre, pre);
      });
    }
  }

  // The one-row variants (matvec.wgsl), as the forward pass uses them at T = 1.
  const rows: [string, MatmulVariant & { name: keyof typeof KERNELS }][] = [
    ['linear_1', { name: 'linear_1', bias: true, gelu: false, residual: false, transposeB: false }],
    ['linear_gelu_pre_1', { name: 'linear_gelu_pre_1', bias: true, gelu: true, residual: false, transposeB: false, pre: true }],
    ['linear_residual_1', { name: 'linear_residual_1', bias: true, gelu: false, residual: true, transposeB: false }],
    ['lm_head_1', { name: 'lm_head_1', bias: false, gelu: false, residual: false, transposeB: true }],
  ];
  for (const [vname, v] of rows) {
    for (const [K, N0] of [[96, 288], [128, 132], [768, 68], [128, 389]]) {
      const N = v.transposeB ? N0 : Math.ceil(N0 / 4) * 4;
      it(`${vname} (matvec, M = 1): K=${K} N=${N}`, async () => {
        const x = rand(K, 16, 2), w = rand(K * N, 17, 0.5), b = rand(N, 18), r0 = rand(N, 19);
        const k = await compileKernel(device, KERNELS[v.name], { K, N });
        const inputs: Record<string, Float32Array> = { x, w };
        if (v.bias) inputs.b = b;
        if (v.residual) inputs.r = r0;
        const outputs: Record<string, number> = { y: N };
        if (v.residual) outputs.r = N;
        if (v.pre) outputs.pre = N;
        const out = await dispatch(k, inputs, outputs, KERNELS[v.name].grid({ M: 1, K, N, KS: 1 }), 1);
        const { y, r, pre } = matmulReference(v, 1, K, N, x, w, b, r0);
        expectClose(out.y, y);
        if (v.residual) expectClose(out.r, r);
        if (v.pre) expectClose(out.pre, pre);
      });
    }
  }

  for (const [M, K, N, KS] of [[1, 96, 96, 8], [37, 128, 132, 4], [70, 384, 96, 2]]) {
    it(`split-K (${KS} slices) + splitk_reduce: M=${M} K=${K} N=${N}`, async () => {
      const v = { bias: true, gelu: false, residual: true, transposeB: false };
      const x = rand(M * K, 11, 2), w = rand(K * N, 12, 0.5), b = rand(N, 13), r0 = rand(M * N, 14);
      const mm = await matmulKernel(device, K, N, v);
      const { y: partial } = await dispatch(mm, { x, w, b, r: r0 }, { y: KS * M * N }, GRID.matmul(M, N, KS), M, KS);
      const red = await compileKernel(device, KERNELS.splitk_reduce, { N });
      const out = await dispatch(red, { p: partial, b, r: r0 }, { y: M * N, r: M * N }, GRID.splitkReduce(M, N), M, KS);
      const y = new Float64Array(M * N), r = new Float64Array(M * N);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = b[n];
          for (let kk = 0; kk < K; kk++) s += x[m * K + kk] * w[kk * N + n];
          y[m * N + n] = s;
          r[m * N + n] = r0[m * N + n] + s;
        }
      }
      expectClose(out.y, y);
      expectClose(out.r, r);
    });
  }

  it('splitK fills a GPU at small T, never past 8 slices, always dividing K/4', () => {
    expect(splitK(128, 768, 768)).toBe(8);
    expect(splitK(1024, 768, 768)).toBe(2);
    expect(splitK(4096, 768, 768)).toBe(1);
    expect(splitK(1, 1600, 1600)).toBe(8);
    expect(splitK(1, 24, 24)).toBe(2); // K/4 = 6
  });

  it('gelu_new is the tanh approximation, not erf GELU, and finite at large |x|', async () => {
    const M = 1, K = 4, N = 8;
    // x·W picks out one input per column: values from -30 to 30, including where tanh saturates.
    const xs = [-30, -5, -0.5, 0.3, 1.7, 3, 12, 30];
    const x = new Float32Array([1, 0, 0, 0]);
    const w = new Float32Array(K * N);
    xs.forEach((v, n) => { w[n] = v; });
    const k = await matmulKernel(device, K, N, { bias: true, gelu: true, residual: false, transposeB: false });
    const { y } = await dispatch(k, { x, w, b: new Float32Array(N) }, { y: N }, GRID.matmul(M, N), M);
    expectClose(y, Float64Array.from(xs, geluNew), 1e-6, 1e-7);
  });
});

describe('sample', () => {
  /** The rule of sample.wgsl in float64: temperature, top-k (ties kept), top-p, then the first index past u·Σp. */
  function sampleRef(logits: Float32Array, o: { temperature: number; topK: number; topP: number; u: number }): number {
    const V = logits.length;
    const x = Array.from(logits, (v) => Math.fround(v * Math.fround(1 / o.temperature)));
    const kth = o.topK > 0 && o.topK < V ? [...x].sort((a, b) => b - a)[o.topK - 1] : -Infinity;
    const m = Math.max(...x);
    const p = x.map((v) => (v >= kth ? Math.exp(v - m) : 0));
    const Z = p.reduce((a, b) => a + b, 0);
    if (o.topP < 1) {
      const order = p.map((v, i) => [v, i]).filter(([v]) => v > 0).sort((a, b) => a[0] - b[0]);
      let cum = 0;
      for (const [v, i] of order) {
        cum += v;
        if (cum <= (1 - o.topP) * Z && v < 1) p[i] = 0; // never the most likely (p = 1 at the max)
      }
    }
    const goal = o.u * p.reduce((a, b) => a + b, 0);
    let acc = 0;
    for (let i = 0; i < V; i++) { if (p[i] > 0) { acc += p[i]; if (acc > goal) return i; } }
    return p.findLastIndex((v) => v > 0);
  }

  async function sampleGpu(logits: Float32Array, o: { greedy: boolean; temperature: number; topK: number; topP: number; u: number }): Promise<number> {
    const V = logits.length;
    const k = await compileKernel(device, KERNELS.sample, {});
    const params = new ArrayBuffer(32);
    new Uint32Array(params).set([V, 1, o.topK, o.greedy ? 1 : 0]);
    new Float32Array(params).set([o.temperature, o.topP, o.u], 4);
    const rows = new Float32Array(2 * V);
    rows.set(logits, V); // row 1 is used
    const buffers = {
      logits: pool.upload('logits', rows), scratch: pool.create('scratch', 4 * V, GPUBufferUsage.STORAGE),
      ids: pool.create('ids', 16, GPUBufferUsage.STORAGE), out: pool.create('out', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC),
      params: pool.upload('params', new Uint32Array(params), GPUBufferUsage.UNIFORM),
    };
    const read = pool.create('read', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const encoder = device.createCommandEncoder();
    encodeDispatch(encoder, k, bindGroup(device, k, buffers), KERNELS.sample.grid({}), 'sample');
    encoder.copyBufferToBuffer(buffers.out, 0, read, 0, 16);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const id = new Uint32Array(read.getMappedRange())[0];
    read.unmap();
    for (const b of [...Object.values(buffers), read]) pool.destroy(b);
    return id;
  }

  const V = 1000;
  const logits = rand(V, 21, 3);

  it('greedy: the argmax, the lowest index among equal maxima', async () => {
    const l = logits.slice();
    l[700] = 9; l[300] = 9; l[301] = 8.5;
    expect(await sampleGpu(l, { greedy: true, temperature: 1, topK: 0, topP: 1, u: 0.5 })).toBe(300);
  });

  for (const o of [
    { temperature: 1, topK: 0, topP: 1, u: 0.37 },
    { temperature: 0.7, topK: 50, topP: 1, u: 0.91 },
    { temperature: 1.3, topK: 0, topP: 0.9, u: 0.05 },
    { temperature: 1, topK: 20, topP: 0.5, u: 0.66 },
    { temperature: 1, topK: 1, topP: 1, u: 0.99 },
  ]) {
    it(`temperature ${o.temperature}, top-k ${o.topK}, top-p ${o.topP}, u ${o.u}: the token the rule gives`, async () => {
      expect(await sampleGpu(logits, { greedy: false, ...o })).toBe(sampleRef(logits, o));
    });
  }

  it('over many u, the tokens drawn follow the kept probabilities (top-k 5)', async () => {
    const o = { temperature: 1, topK: 5, topP: 1 };
    const seen = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const u = (i + 0.5) / 40;
      const id = await sampleGpu(logits, { greedy: false, ...o, u });
      expect(id).toBe(sampleRef(logits, { ...o, u }));
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    expect(seen.size).toBeGreaterThan(1);
    expect(seen.size).toBeLessThanOrEqual(5);
  });
});
