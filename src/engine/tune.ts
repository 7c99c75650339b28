// Kernel variants chosen by measurement on the device at hand: the same op can run as
// different variants of the catalogue (src/engine/kernels.ts), each passing the same tests,
// and which is faster depends on the device (a CPU emulation such as SwiftShader pays dearly
// for the workgroup barriers a GPU's matrix-vector kernel needs). Each choice is timed once per
// adapter and shape, with GPU timestamps where the device has them, and remembered.
import { KERNELS, compileKernel, type KernelName } from './kernels.js';
import { BufferPool, bindGroup, encodeDispatch } from './gpu.js';
import type { GPT2Config } from '../checkpoint/config.js';
import { describeDevice, timeGpu } from './timing.js';

const chosen = new Map<string, boolean>();

/**
 * Whether one row (a generation step) runs faster as the matrix-vector variants (matvec.wgsl)
 * than as the register-blocked matmul, timed on the MLP's c_fc shape (K = D, N = 4D) of this model.
 */
export async function matvecFaster(device: GPUDevice, c: GPT2Config): Promise<boolean> {
  const K = c.n_embd, N = 4 * c.n_embd;
  const key = `${describeDevice(device)} | ${K}×${N}`;
  const known = chosen.get(key);
  if (known !== undefined) return known;
  const pool = new BufferPool(device);
  try {
    const dims = { M: 1, K, N, KS: 1 };
    const buffers = {
      x: pool.upload('tune x', new Float32Array(K).fill(0.5)), w: pool.upload('tune w', new Float32Array(K * N).fill(0.01)),
      b: pool.upload('tune b', new Float32Array(N)), y: pool.create('tune y', 4 * N, GPUBufferUsage.STORAGE),
      params: pool.upload('tune params', new Uint32Array([1, 1, 0, 1]), GPUBufferUsage.UNIFORM),
    };
    const time = async (name: KernelName) => {
      const kernel = await compileKernel(device, KERNELS[name], dims);
      const group = bindGroup(device, kernel, buffers, name);
      return (await timeGpu(device, (e, tw) => encodeDispatch(e, kernel, group, KERNELS[name].grid(dims), name, tw), { runs: 3, warmup: 1 })).ms;
    };
    const faster = (await time('linear_gelu_1')) < (await time('linear_gelu'));
    chosen.set(key, faster);
    return faster;
  } finally {
    pool.destroyAll();
  }
}
