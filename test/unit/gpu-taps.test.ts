// Taps kept on the GPU (GPT2.runOnGpu): the same values run() reads back, in buffers the
// caller's kernels can bind; views refused with the point to ask for; destroy() frees them.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';

const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url).pathname;
const prompts = JSON.parse(readFileSync(new URL('../fixtures/gpt2-tiny/prompts.json', import.meta.url), 'utf8')) as Record<string, number[]>;

let model: GPT2;
beforeAll(async () => {
  const { device } = await nodeDevice();
  model = await GPT2.load(MODEL, { device });
}, 120_000);
afterAll(() => model?.device.destroy());

/** The first n floats of a buffer (buffers may be rounded up in size). */
async function readBack(device: GPUDevice, buffer: GPUBuffer, n = buffer.size / 4): Promise<Float32Array> {
  const read = device.createBuffer({ size: buffer.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const e = device.createCommandEncoder();
  e.copyBufferToBuffer(buffer, 0, read, 0, buffer.size);
  device.queue.submit([e.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange(0, 4 * n).slice(0));
  read.destroy();
  return out;
}

describe('runOnGpu', () => {
  it('holds exactly what run() reads back, for every point, with its shape and usage', async () => {
    const ids = prompts.seed;
    const want = await model.run(ids, { taps: 'all' });
    const before = model.gpuMemory.buffers;
    const kept = await model.runOnGpu(ids, { taps: 'all' });
    expect(kept.names).toEqual(want.names);
    expect(Array.from(kept.ids)).toEqual(ids);
    for (const name of kept.names) {
      const { buffer, shape } = kept.get(name);
      expect(shape, name).toEqual(want.get(name).shape);
      expect(buffer.usage & GPUBufferUsage.STORAGE, name).toBeTruthy();
      expect(await readBack(model.device, buffer, want.get(name).data.length), name).toEqual(want.get(name).data);
    }
    expect(kept.get('blocks.0.hook_resid_pre').buffer).toBe(kept.get('hidden_states.0').buffer); // aliases
    expect(model.gpuMemory.buffers).toBe(before + kept.names.length);
    kept.destroy();
    expect(model.gpuMemory.buffers).toBe(before);
  });

  it('a later run does not overwrite kept taps', async () => {
    const a = await model.runOnGpu(prompts.seed, { taps: ['h.0'] });
    const first = await readBack(model.device, a.get('h.0').buffer);
    await model.run(prompts.tale, { taps: ['h.0'] });
    expect(await readBack(model.device, a.get('h.0').buffer)).toEqual(first);
    a.destroy();
  });

  it('refuses a view, naming the point to ask for; and a tap not asked for', async () => {
    await expect(model.runOnGpu(prompts.seed, { taps: ['blocks.0.attn.hook_q'] })).rejects.toThrow(/view of h\.0\.attn\.c_attn[^]*ask for h\.0\.attn\.c_attn/);
    const a = await model.runOnGpu(prompts.seed, { taps: ['h.0'] });
    expect(() => a.get('h.1')).toThrow(/was not requested/);
    a.destroy();
  });
});
