// GPT-2 on WebGPU: weights on the GPU, and runs of the forward pass declared in
// src/engine/forward.ts — a flat list of dispatches, and taps: after a dispatch, a copy of
// a buffer it wrote into a mappable buffer, encoded only for the taps a run asks for.
import { GPT2TapsError } from '../errors.js';
import { paramShapes, type GPT2Config } from './config.js';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import { openModelSource, type ModelSource } from '../checkpoint/sources.js';
import { BufferPool, bindGroup, encodeDispatch, type Kernel } from './gpu.js';
import { KERNELS, compileKernel, kernelKey } from './kernels.js';
import {
  activationShapes, allTapNames, checkDeviceLimits, planForward, resolveTaps, tapInfo, tapPoints, tapShape,
  uniformValues, type Activation, type Dispatch, type Uniform,
} from './forward.js';
import { TapResult, type Tensor } from './taps.js';

export interface LoadOptions {
  device: GPUDevice;
  /** Progress while fetching/reading and uploading: bytes done of total. */
  onProgress?: (done: number, total: number | undefined, what: string) => void;
  /** Refuse weights holding NaN or ±Inf, naming the tensor and index (scans every value). */
  checkFinite?: boolean;
}

export interface RunOptions {
  /** Tap names ('all', names, globs such as 'hidden_states.*', aliases; `gpt2-taps taps` lists them). Default: none. */
  taps?: readonly string[] | 'all';
  /** Keep only the first n_positions tokens instead of refusing a longer input. */
  truncate?: boolean;
  /** Run the whole pass even when the taps end earlier (default: stop after the deepest tap). */
  whole?: boolean;
  /**
   * GPU timestamps for dispatch i of the run (i indexes model.dispatches(T, the same options)):
   * each dispatch has its own compute pass. For profiling (src/profile/profile.ts).
   */
  timestampWrites?: (i: number) => GPUComputePassTimestampWrites | undefined;
}

/** A dispatch of the plan, ready to encode. */
interface Step { kernel: Kernel; group: GPUBindGroup }

export class GPT2 {
  /** Activation and uniform buffers for up to `capacity` tokens, reused across runs. */
  private acts?: { capacity: number; buffers: Map<string, GPUBuffer> };
  /** Kernels by kernelKey, compiled on first use. */
  private readonly kernels = new Map<string, Promise<Kernel>>();
  /** Bind groups for the current T, by dispatch label and kernel. */
  private steps?: { T: number; byKey: Map<string, Step> };
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private lost?: GPUDeviceLostInfo;
  private uncaptured: string[] = [];
  private readonly onUncaptured = (ev: Event) => {
    // Errors outside our error scopes (e.g. from other code sharing the device): surfaced by the next run.
    this.uncaptured.push((ev as GPUUncapturedErrorEvent).error.message);
  };

  private constructor(
    readonly device: GPUDevice,
    readonly config: GPT2Config,
    readonly notes: string[],
    private readonly pool: BufferPool,
    private readonly weights: Map<string, GPUBuffer>,
  ) {
    device.lost.then((info) => { this.lost = info; });
    device.addEventListener('uncapturederror', this.onUncaptured);
  }

  /** Loads a Hugging Face GPT-2 checkpoint (URL, folder/file path in Node, or bytes) onto `device`. */
  static async load(source: ModelSource, opts: LoadOptions): Promise<GPT2> {
    const { device, onProgress } = opts;
    const src = await openModelSource(source, { onProgress });
    const ckpt = await openCheckpoint(src.bytes, src.config, { checkFinite: opts.checkFinite });
    checkDeviceLimits(device.limits, ckpt.config);
    const pool = new BufferPool(device);
    try {
      const weights = await uploadWeights(pool, ckpt, onProgress);
      const model = new GPT2(device, ckpt.config, ckpt.notes, pool, weights);
      // Compile now what a plain run and a run with every tap use, so shader errors show at load.
      const N = ckpt.config.n_positions;
      await Promise.all([planForward(ckpt.config, 1, { points: allTapNames(ckpt.config) }), planForward(ckpt.config, N)]
        .flat().map((d) => model.kernel(d)));
      return model;
    } catch (e) {
      pool.destroyAll();
      throw e;
    }
  }

  /** Live GPU buffers this model made (weights, activations) and their bytes. */
  get gpuMemory(): { buffers: number; bytes: number } {
    return this.pool.stats;
  }

  /**
   * Runs the forward pass on token ids and reads back the requested taps. The pass stops
   * after the deepest requested tap (a run without taps runs it whole). Calls are
   * queued: concurrent runs never share activation or tap buffers.
   */
  run(ids: ArrayLike<number>, opts: RunOptions = {}): Promise<TapResult> {
    const result = this.queue.then(() => this.runNow(ids, opts));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The dispatches a run of T tokens with these options makes, in order, with their costs. */
  dispatches(T: number, opts: Pick<RunOptions, 'taps' | 'whole'> = {}): Dispatch[] {
    return planForward(this.config, T, { points: tapPoints(this.config, resolveTaps(this.config, opts.taps ?? [])), whole: opts.whole });
  }

  /** Frees every GPU buffer this model made. The device stays the caller's. */
  dispose(): void {
    this.disposed = true;
    this.device.removeEventListener('uncapturederror', this.onUncaptured);
    this.pool.destroyAll();
    this.acts = undefined;
    this.steps = undefined;
  }

  /** Validates token ids against the vocabulary and n_positions. */
  checkIds(ids: ArrayLike<number>): Uint32Array {
    const { vocab_size: V, n_positions: N } = this.config;
    if (ids.length === 0) throw new GPT2TapsError('no tokens given: the input is empty');
    if (ids.length > N) {
      throw new GPT2TapsError(`${ids.length} tokens is more than this model's n_positions (${N})`,
        `shorten the input to at most ${N} tokens, or truncate (CLI --truncate, run(ids, { truncate: true }))`);
    }
    const out = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new GPT2TapsError(`token id ${id} at position ${i} is not an integer in [0, ${V}) (vocab_size ${V})`);
      }
      out[i] = id;
    }
    return out;
  }

  private kernel(d: Dispatch): Promise<Kernel> {
    const decl = KERNELS[d.kernel];
    const key = kernelKey(decl, d.dims);
    let k = this.kernels.get(key);
    if (!k) {
      k = compileKernel(this.device, decl, d.dims);
      this.kernels.set(key, k);
      k.catch(() => this.kernels.delete(key));
    }
    return k;
  }

  /** Pipelines and bind groups for the plan's dispatches (cached while T stays the same). */
  private async prepare(T: number, plan: Dispatch[]): Promise<Step[]> {
    const buffers = this.activations(T);
    if (this.steps?.T !== T) this.steps = { T, byKey: new Map() };
    const cache = this.steps.byKey;
    return Promise.all(plan.map(async (d) => {
      const key = `${d.label} ${d.kernel}`;
      let step = cache.get(key);
      if (!step) {
        const kernel = await this.kernel(d);
        const bound: Record<string, GPUBuffer> = {};
        for (const [binding, name] of Object.entries(d.bind)) {
          const b = buffers.get(name) ?? this.weights.get(name);
          if (!b) throw new GPT2TapsError(`internal: ${d.label} binds "${name}", which is no buffer of the model`);
          bound[binding] = b;
        }
        step = { kernel, group: bindGroup(this.device, kernel, bound, d.label) };
        cache.set(key, step);
      }
      return step;
    }));
  }

  private async runNow(ids: ArrayLike<number>, opts: RunOptions): Promise<TapResult> {
    this.checkUsable();
    const input = this.checkIds(opts.truncate ? Array.prototype.slice.call(ids, 0, this.config.n_positions) : ids);
    const T = input.length;
    const names = resolveTaps(this.config, opts.taps ?? []);
    const points = tapPoints(this.config, names);
    const tapBuffers = new Map<string, GPUBuffer>();
    const bytes = (point: string) => 4 * tapShape(this.config, point, T).reduce((a, b) => a * b, 1);
    try {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      const plan = planForward(this.config, T, { points, whole: opts.whole });
      const steps = await this.prepare(T, plan);
      for (const p of points) tapBuffers.set(p, this.pool.create(`tap ${p}`, bytes(p), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST));
      const buffers = this.acts!.buffers;
      this.device.queue.writeBuffer(buffers.get('ids')!, 0, input.buffer, input.byteOffset, input.byteLength);
      for (const [name, values] of Object.entries(uniformValues(this.config, T))) this.device.queue.writeBuffer(buffers.get(name)!, 0, values);
      const encoder = this.device.createCommandEncoder({ label: 'gpt2 forward' });
      plan.forEach((d, i) => {
        encodeDispatch(encoder, steps[i].kernel, steps[i].group, d.grid, d.label, opts.timestampWrites?.(i));
        for (const t of d.taps) encoder.copyBufferToBuffer(buffers.get(t.buffer)!, 0, tapBuffers.get(t.name)!, 0, bytes(t.name));
      });
      this.device.queue.submit([encoder.finish()]);
      const invalid = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      if (invalid) throw new GPT2TapsError(`GPU validation error during the forward pass: ${invalid.message}`);
      if (oom) throw new GPT2TapsError(`the GPU ran out of memory for T=${T} with ${names.length} taps: ${oom.message}`, 'ask for fewer taps or fewer tokens');
      const read = new Map<string, Float32Array>();
      await Promise.all(points.map(async (p) => {
        const b = tapBuffers.get(p)!;
        await b.mapAsync(GPUMapMode.READ);
        read.set(p, new Float32Array(b.getMappedRange(0, bytes(p)).slice(0)));
        b.unmap();
      }));
      if (this.lost) this.checkUsable(); // a lost device may still resolve mapAsync with garbage
      const uncaptured = this.uncaptured.splice(0);
      if (uncaptured.length > 0) throw new GPT2TapsError(`uncaptured GPU error on this device: ${uncaptured.join('; ')}`);
      return new TapResult(this.config, input, names.map((n) => [n, this.tensor(n, T, read)]));
    } catch (e) {
      // A device lost mid-run makes mapAsync reject with a bare AbortError; say what happened.
      await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 0))]);
      this.checkUsable();
      if (e instanceof GPT2TapsError) throw e;
      throw new GPT2TapsError(`the forward pass failed: ${(e as Error).message}`);
    } finally {
      for (const b of tapBuffers.values()) this.pool.destroy(b);
    }
  }

  /** A tap's tensor from the points read back: the point itself, or the columns a view carves from it. */
  private tensor(name: string, T: number, read: Map<string, Float32Array>): Tensor {
    const info = tapInfo(this.config, name);
    const shape = tapShape(this.config, name, T);
    const data = read.get(info.point)!;
    if (info.first === undefined) return { data, shape };
    const D = this.config.n_embd;
    const width = tapShape(this.config, info.point, T)[1];
    const out = new Float32Array(T * D);
    for (let t = 0; t < T; t++) out.set(data.subarray(t * width + info.first, t * width + info.first + D), t * D);
    return { data: out, shape };
  }

  /** Throws a clear error when the model was disposed or its device lost. */
  private checkUsable(): void {
    if (this.disposed) throw new GPT2TapsError('this model was disposed');
    if (this.lost) {
      throw new GPT2TapsError(`the GPU device was lost (${this.lost.reason || 'unknown reason'}): ${this.lost.message || 'no message'}`,
        'load the model again: GPT2.load(source, { device: a new GPUDevice })');
    }
  }

  /** The activation buffers (ACTIVATIONS) and uniforms for T tokens; grown when T exceeds what they hold. */
  private activations(T: number): Map<string, GPUBuffer> {
    this.checkUsable();
    if (this.acts && this.acts.capacity >= T) return this.acts.buffers;
    if (this.acts) for (const b of this.acts.buffers.values()) this.pool.destroy(b);
    this.steps = undefined;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffers = new Map<string, GPUBuffer>();
    for (const [name, shape] of Object.entries(activationShapes(this.config, T)) as [Activation, number[]][]) {
      buffers.set(name, this.pool.create(name, 4 * shape.reduce((a, b) => a * b, 1), usage));
    }
    for (const name of Object.keys(uniformValues(this.config, T)) as Uniform[]) {
      buffers.set(name, this.pool.create(name, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST));
    }
    this.acts = { capacity: T, buffers };
    return buffers;
  }
}

async function uploadWeights(pool: BufferPool, ckpt: Checkpoint,
  onProgress?: (done: number, total: number | undefined, what: string) => void): Promise<Map<string, GPUBuffer>> {
  const shapes = paramShapes(ckpt.config);
  const total = [...shapes.values()].reduce((sum, s) => sum + 4 * s.reduce((a, b) => a * b, 1), 0);
  const weights = new Map<string, GPUBuffer>();
  let done = 0;
  for (const name of shapes.keys()) {
    const data = await ckpt.read(name);
    weights.set(name, pool.upload(name, data));
    done += data.byteLength;
    onProgress?.(done, total, 'uploading weights');
  }
  return weights;
}
