// GPU resources and failures: no buffer growth over 100 runs, dispose() frees everything,
// a device lost mid-run rejects the run clearly and the model can be loaded again, and
// long text is tokenized without blocking the event loop.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { GPT2TapsError } from '../../src/errors.js';
import { paramShapes, type GPT2Config } from '../../src/checkpoint/config.js';
import { ACTIVATIONS, UNIFORM_BYTES } from '../../src/engine/forward.js';
import { writeSafetensors } from '../../src/checkpoint/safetensors.js';
import { encode, encodeAsync } from '../../src/tokenizer.js';

/** A small random GPT-2 (fast on SwiftShader), as checkpoint bytes plus config.json. */
function smallModel(): { model: Uint8Array; config: Record<string, unknown> } {
  const c: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 64, n_positions: 32, vocab_size: 500, layer_norm_epsilon: 1e-5 };
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  const tensors = [...paramShapes(c)].map(([name, shape]) => ({
    name, dtype: 'F32' as const, shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (name.includes('ln') && name.endsWith('weight') ? 1 : rnd())),
  }));
  return { model: writeSafetensors(tensors), config: { ...c, activation_function: 'gelu_new' } };
}

let device: GPUDevice;
const source = smallModel();

beforeAll(async () => { device = (await nodeDevice()).device; });
afterAll(() => device?.destroy());

describe('GPU buffers', () => {
  it('100 consecutive runs keep live GPU buffers and bytes flat', async () => {
    const model = await GPT2.load(source, { device });
    await model.run([1, 2, 3, 4, 5, 6, 7, 8], { taps: ['h.*'] }); // largest T first: activations sized once
    const after1 = model.gpuMemory;
    const counts = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const T = 1 + (i % 8);
      await model.run(Array.from({ length: T }, (_, j) => (i * 31 + j) % 500), { taps: i % 2 ? 'all' : ['logits'] });
      counts.add(JSON.stringify(model.gpuMemory));
    }
    expect([...counts]).toEqual([JSON.stringify(after1)]);
    model.dispose();
  }, 120_000);

  it('dispose() frees every buffer the model made, and later runs say it was disposed', async () => {
    const model = await GPT2.load(source, { device });
    await model.run([1, 2, 3], { taps: 'all' });
    // weights + the activation buffers of the declared forward (the per-layer KV caches only when generating) + its uniforms
    const activations = Object.keys(ACTIVATIONS).filter((k) => k !== 'kv').length;
    expect(model.gpuMemory.buffers).toBe(paramShapes(source.config as unknown as GPT2Config).size + activations + Object.keys(UNIFORM_BYTES).length);
    await model.generate([1, 2, 3], { maxNewTokens: 2, temperature: 0 });
    expect(model.gpuMemory.buffers).toBe(paramShapes(source.config as unknown as GPT2Config).size + activations + Object.keys(UNIFORM_BYTES).length
      + model.config.n_layer); // kv.0 … kv.{L-1}
    model.dispose();
    expect(model.gpuMemory).toEqual({ buffers: 0, bytes: 0 });
    await expect(model.run([1])).rejects.toThrow(/disposed/);
  });
});

describe('no WebGPU', () => {
  it('browserDevice() says what to enable when navigator.gpu is missing', async () => {
    const { browserDevice } = await import('../../src/engine/device.js');
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
    try {
      await expect(browserDevice()).rejects.toThrow(/no WebGPU \(navigator\.gpu is missing\)[^]*--enable-unsafe-webgpu/);
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });
});

describe('device limits', () => {
  it('a model whose buffers exceed the device limits is refused before anything is uploaded, naming the limit', async () => {
    // A device with WebGPU's default limits (128 MiB per binding), and a model whose logits
    // buffer [n_positions, V] = 1024 × 50257 floats (196 MiB) exceeds it.
    const webgpu = await import('webgpu');
    const adapter = (await webgpu.create([]).requestAdapter())!;
    const small = await adapter.requestDevice();
    expect(small.limits.maxStorageBufferBindingSize).toBe(128 * 2 ** 20);
    const c: GPT2Config = { n_layer: 1, n_head: 1, n_embd: 16, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
    const tensors = [...paramShapes(c)].map(([name, shape]) => ({
      name, dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
    }));
    const err = await GPT2.load({ model: writeSafetensors(tensors), config: { ...c } }, { device: small }).then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(GPT2TapsError);
    expect(err.message).toMatch(/needs a 196\.3 MiB buffer for activation logits \[T, V\] at T = n_positions \(1024\), above this device's maxStorageBufferBindingSize \(128\.0 MiB\)/);
    small.destroy();
  });
});

describe('uncaptured GPU errors', () => {
  it('an error outside our error scopes (other code on the device) fails the next run, with its message; later runs work', async () => {
    const model = await GPT2.load(source, { device });
    // MAP_READ may only go with COPY_DST: a validation error that no error scope catches.
    device.createBuffer({ label: 'injected-bad-buffer', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await new Promise((r) => setTimeout(r, 50)); // the uncapturederror event is asynchronous
    const err = await model.run([1, 2, 3], { taps: ['logits'] }).then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(GPT2TapsError);
    expect(err.message).toMatch(/^uncaptured GPU error on this device: .*injected-bad-buffer/s);
    const out = await model.run([1, 2, 3], { taps: ['logits'] });
    expect(out.get('logits').shape).toEqual([3, 500]);
    model.dispose();
  });
});

describe('device loss', () => {
  it('a device destroyed mid-run rejects the run with a clear error; the model loads again on a new device', async () => {
    const own = (await nodeDevice()).device;
    const model = await GPT2.load(source, { device: own });
    const run = model.run(Array.from({ length: 32 }, (_, i) => i), { taps: 'all' });
    own.destroy();
    const err = await run.then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(GPT2TapsError);
    expect(String(err.message)).toMatch(/device was lost/);
    await expect(model.run([1, 2])).rejects.toThrow(/device was lost[^]*load the model again/);

    const fresh = (await nodeDevice()).device;
    const again = await GPT2.load(source, { device: fresh });
    const out = await again.run([1, 2], { taps: ['logits'] });
    expect(out.get('logits').shape).toEqual([2, 500]);
    expect(out.get('logits').data.every(Number.isFinite)).toBe(true);
    again.dispose();
    fresh.destroy();
  }, 60_000);
});

describe('long text', () => {
  it('encodeAsync gives the same ids as encode, yielding to the event loop', async () => {
    const words = ['plants', 'make', 'fantastic', 'pets', "don't", 'mess', '  spaces', '\n\nnew', 'lines', '1234', 'ünïcödé', '<|endoftext|>', '—', 'x'];
    let s = 7;
    const parts: string[] = [];
    for (let i = 0; i < 60_000; i++) { s = (s * 48271) % 2147483647; parts.push(words[s % words.length]); }
    const text = parts.join(' ');
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 0);
    const ids = await encodeAsync(text, { chunk: 4096 });
    clearInterval(timer);
    expect(ids).toEqual(encode(text));
    expect(ticks).toBeGreaterThan(10);
  });

  it('encode takes 1 MB of text with no <|endoftext|> (200,000 ids in one piece)', () => {
    const sentence = "Plants make fantastic pets because they don't leave a mess after you feed them. ";
    const text = sentence.repeat(Math.ceil(1_000_000 / sentence.length)).slice(0, 1_000_000);
    const ids = encode(text);
    expect(ids.length).toBeGreaterThan(190_000);
    expect(ids.slice(0, 17)).toEqual(encode(sentence.trimEnd()));
  });
});
