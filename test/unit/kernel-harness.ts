// What the kernel tests share: a Node device (SwiftShader here), deterministic random inputs,
// the project's tolerance, and one dispatch of a compiled kernel with its outputs read back.
import { expect } from 'vitest';
import { nodeDevice } from '../../src/node/device.js';
import { BufferPool, bindGroup, encodeDispatch, type Kernel } from '../../src/engine/gpu.js';

export interface Harness { device: GPUDevice; pool: BufferPool }

/** A device and buffer pool: call open() in beforeAll and close() in afterAll. */
export function kernelHarness() {
  const h = {} as Harness;
  return {
    h,
    async open() { h.device = (await nodeDevice()).device; h.pool = new BufferPool(h.device); },
    close() { h.pool?.destroyAll(); h.device?.destroy(); },
  };
}

/** Deterministic pseudo-random floats in [-scale, scale). */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** max|got - want| <= rtol * max|want| + atol, the project's tolerance form. */
export function expectClose(got: Float32Array, want: Float64Array | Float32Array, rtol = 1e-5, atol = 1e-6): void {
  expect(got.length).toBe(want.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxDiff)) maxDiff = d; // NaN propagates as a failure
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  expect(maxDiff).toBeLessThanOrEqual(rtol * maxRef + atol);
}

/**
 * Runs one dispatch; returns the named output buffers' contents. `params` is the uniform
 * { T, KS, P0, TK } unless given (P0 = 0, TK = T by default).
 */
export async function dispatch(h: Harness, kernel: Kernel, inputs: Record<string, Float32Array | Uint32Array>, outputs: Record<string, number>,
  grid: [number, number, number], T: number, KS = 1, params: Uint32Array = new Uint32Array([T, KS, 0, T])): Promise<Record<string, Float32Array>> {
  const { device, pool } = h;
  const buffers: Record<string, GPUBuffer> = {};
  for (const [name, data] of Object.entries(inputs)) {
    buffers[name] = pool.upload(name, data, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  }
  for (const [name, floats] of Object.entries(outputs)) {
    if (!buffers[name]) buffers[name] = pool.create(name, floats * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  }
  buffers.params = pool.upload('params', params, GPUBufferUsage.UNIFORM);
  const encoder = device.createCommandEncoder();
  encodeDispatch(encoder, kernel, bindGroup(device, kernel, buffers), grid, kernel.name);
  const reads: Record<string, GPUBuffer> = {};
  for (const [name, floats] of Object.entries(outputs)) {
    reads[name] = pool.create(`read ${name}`, floats * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    encoder.copyBufferToBuffer(buffers[name], 0, reads[name], 0, floats * 4);
  }
  device.queue.submit([encoder.finish()]);
  const result: Record<string, Float32Array> = {};
  for (const [name, floats] of Object.entries(outputs)) {
    await reads[name].mapAsync(GPUMapMode.READ);
    result[name] = new Float32Array(reads[name].getMappedRange(0, floats * 4).slice(0));
  }
  for (const b of [...Object.values(buffers), ...Object.values(reads)]) pool.destroy(b);
  return result;
}

export const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** A matmul's outputs in float64: pre = x·W (+ b), y = gelu_new(pre) or pre, r = r0 + y. W is [K, N], or [N, K] when transposeB. */
export function matmulReference(v: { bias: boolean; gelu: boolean; transposeB: boolean; residual?: boolean }, M: number, K: number, N: number,
  x: Float32Array, w: Float32Array, b: Float32Array, r0: Float32Array) {
  const y = new Float64Array(M * N), pre = new Float64Array(M * N), r = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = v.bias ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * (v.transposeB ? w[n * K + k] : w[k * N + n]);
      pre[m * N + n] = s;
      y[m * N + n] = v.gelu ? geluNew(s) : s;
      r[m * N + n] = r0[m * N + n] + y[m * N + n];
    }
  }
  return { y, pre, r };
}
