// GPT-2 on WebGPU: weights on the GPU, and runs of the forward pass declared in
// src/engine/forward.ts — a flat list of dispatches, and taps: after a dispatch, a copy of
// a buffer it wrote into a mappable buffer, encoded only for the taps a run asks for.
import { GPT2TapsError } from '../errors.js';
import { paramShapes, type GPT2Config } from '../checkpoint/config.js';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import { openModelSource, type ModelSource } from '../checkpoint/sources.js';
import { BufferPool, bindGroup, type Kernel } from './gpu.js';
import { KERNELS, compileKernel, kernelKey } from './kernels.js';
import {
  activationOf, activationShapes, allTapNames, checkDeviceLimits, planForward, resolveTaps, tapInfo, tapPoints, tapShape,
  samplingValues, uniformValues, UNIFORM_BYTES, type Activation, type Dispatch, type KernelChoice, type PlanOptions, type Uniform,
} from './forward.js';
import { prepareEdits, type Edit, type PreparedEdit } from './edits.js';
import { GpuTaps, TapResult, type Tensor } from './taps.js';
import { chooseKernels, type TuneStore } from './tune.js';
import { ENDOFTEXT_ID } from '../tokenizer.js';

export interface LoadOptions {
  device: GPUDevice;
  /** Progress while fetching/reading and uploading: bytes done of total. */
  onProgress?: (done: number, total: number | undefined, what: string) => void;
  /** Refuse weights holding NaN or ±Inf, naming the tensor and index (scans every value). */
  checkFinite?: boolean;
  /**
   * Kernel variants to run (src/engine/forward.ts KernelChoice: one-row matmuls, matmuls of few and
   * of many rows, attention). Families not given are timed on this device at load, once per
   * adapter and shape, and the fastest kept (src/engine/tune.ts).
   */
  kernels?: Partial<KernelChoice>;
  /** Where timed choices are remembered between processes (default: in memory only). */
  tuneStore?: TuneStore;
}

export interface RunOptions {
  /** Tap names ('all', names, globs such as 'hidden_states.*', aliases; `gpt2-taps taps` lists them). Default: none. */
  taps?: readonly string[] | 'all';
  /** Keep only the first n_positions tokens instead of refusing a longer input. */
  truncate?: boolean;
  /** Run the whole pass even when the taps end earlier (default: stop after the deepest tap). */
  whole?: boolean;
  /**
   * Interventions, applied in order on the GPU as the pass runs: each changes the value of a
   * tap point that flows on (src/engine/edits.ts). A run without edits runs no edit kernel.
   */
  edits?: readonly Edit[];
  /**
   * GPU timestamps for dispatch i of the run (i indexes model.dispatches(T, the same options)):
   * a dispatch given them runs in a compute pass of its own (the others share passes). For
   * profiling (src/profile/profile.ts).
   */
  timestampWrites?: (i: number) => GPUComputePassTimestampWrites | undefined;
}

/** A dispatch of the plan, ready to encode. */
interface Step { kernel: Kernel; group: GPUBindGroup }

/** Buffers for tap points, each holding R rows. */
interface TapBuffers { R: number; buffers: Map<string, GPUBuffer> }

export interface GenerateOptions {
  /** New tokens at most (the sequence never passes n_positions + 1 tokens). */
  maxNewTokens: number;
  /** 0: greedy (argmax). Default 1. Hugging Face's meaning: logits / temperature. */
  temperature?: number;
  /** Keep the k most likely tokens (ties kept); 0: off. Default 50, as Hugging Face's generate(). */
  topK?: number;
  /** Keep the most likely tokens whose probabilities sum to top_p. Default 1 (off). */
  topP?: number;
  /** Seed of the sampling's random numbers: the same seed gives the same tokens. Default: random (in the result). */
  seed?: number;
  /** Token ids that end the generation (kept in the result). Default [50256] (<|endoftext|>, when the vocabulary has it); [] or false: none. */
  stop?: readonly number[] | false;
  /** Taps over every position run (rows from the step that computed them). */
  taps?: readonly string[] | 'all';
  /** Edits, applied at every step (patch sources must have the prompt's length). */
  edits?: readonly Edit[];
  /** Called with each new token as it comes; return false to stop. */
  onToken?: (id: number, index: number) => void | boolean;
  /** Stops between steps when aborted. */
  signal?: AbortSignal;
}

export interface GenerateResult {
  /** The prompt and the new tokens. */
  ids: Uint32Array;
  newIds: number[];
  /** The asked-for taps over every position run: all of `ids` when it fits in n_positions. */
  taps: TapResult;
  seed: number;
  /** stop: a stop token; length: maxNewTokens; context: n_positions + 1 tokens; aborted: onToken or signal. */
  reason: 'stop' | 'length' | 'context' | 'aborted';
}

export class GPT2 {
  /** Activation and uniform buffers for up to T tokens and TK keys, reused across runs. */
  private acts?: { T: number; TK: number; buffers: Map<string, GPUBuffer> };
  /** Each layer's KV cache (kv.{l}), made by the first run that keeps one. */
  private readonly caches = new Map<string, GPUBuffer>();
  /** Kernels by kernelKey, compiled on first use. */
  private readonly compiled = new Map<string, Promise<Kernel>>();
  private compiling: Promise<unknown> = Promise.resolve();
  /** Bind groups by dispatch label and kernel, while the activation buffers stay. */
  private steps?: { byKey: Map<string, Step> };
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
    /** The kernel variants this model runs: given at load, or measured fastest on this device. */
    readonly kernels: Readonly<KernelChoice>,
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
      const model = new GPT2(device, ckpt.config, ckpt.notes, pool, weights, 
        await chooseKernels(device, ckpt.config, { fixed: opts.kernels, store: opts.tuneStore }));
      // Compile now what a plain run and a run with every tap use, so shader errors show at load.
      const N = ckpt.config.n_positions;
      await Promise.all([model.plan(1, { points: allTapNames(ckpt.config) }), model.plan(N)].flat().map((d) => model.kernel(d)));
      return model;
    } catch (e) {
      pool.destroyAll();
      throw e;
    }
  }

  /**
   * The GPU buffer of one of the model's parameters, by its checkpoint name (`paramShapes(config)` lists
   * them: `wte.weight`, `ln_f.weight`, `ln_f.bias`, `lm_head.weight` when untied, …), float32, row-major.
   * Read-only: for the caller's own kernels (bind it as read-only storage); writing to it changes the model.
   * The buffer belongs to the model (freed by dispose()); unknown names are refused.
   */
  weightBuffer(name: string): GPUBuffer {
    this.checkUsable();
    const b = this.weights.get(name);
    if (!b) throw new GPT2TapsError(`no parameter "${name}"; the model has: ${[...this.weights.keys()].join(', ')}`);
    return b;
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
    const result = this.queue.then(async () => {
      const { input, names, read } = await this.runNow(ids, opts, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      return new TapResult(this.config, input, names.map((n) => [n, this.tensor(n, input.length, read!)]));
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs the forward pass like run(), but leaves the taps on the GPU for the caller's own
   * kernels (no read-back): each a float32 buffer of the tap's shape. Tap points only: a view
   * (hook_q, hook_k, hook_v, hook_z) is columns of its point, carved on read-back; ask for the point.
   */
  runOnGpu(ids: ArrayLike<number>, opts: Omit<RunOptions, 'timestampWrites'> = {}): Promise<GpuTaps> {
    const result = this.queue.then(async () => {
      const names = resolveTaps(this.config, opts.taps ?? []);
      const view = names.find((n) => tapInfo(this.config, n).point !== n);
      if (view) {
        throw new GPT2TapsError(`runOnGpu keeps tap points on the GPU; "${view}" is a view of ${tapInfo(this.config, view).point}`,
          `ask for ${tapInfo(this.config, view).point} and read its columns, or use run()`);
      }
      const { input, buffers } = await this.runNow(ids, opts, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      const T = input.length;
      return new GpuTaps(this.config, input, new Map(names.map((n) => [n, { buffer: buffers.get(n)!, shape: tapShape(this.config, n, T) }])),
        (b) => this.pool.destroy(b));
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The dispatches a run of T tokens with these options makes, in order, with their costs. */
  dispatches(T: number, opts: Pick<RunOptions, 'taps' | 'whole' | 'edits'> = {}): Dispatch[] {
    const edits = prepareEdits(this.config, opts.edits ?? [], T);
    return this.plan(T, {
      points: tapPoints(this.config, resolveTaps(this.config, opts.taps ?? [])), whole: opts.whole, edits: edits.map((e) => e.point),
    });
  }

  /** The declared forward's plan, with this device's choice of kernel variants. */
  private plan(T: number, opts: PlanOptions = {}): Dispatch[] {
    return planForward(this.config, T, { ...opts, kernels: this.kernels });
  }

  /** Frees every GPU buffer this model made. The device stays the caller's. */
  dispose(): void {
    this.disposed = true;
    this.device.removeEventListener('uncapturederror', this.onUncaptured);
    this.pool.destroyAll();
    this.acts = undefined;
    this.caches.clear();
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
    let k = this.compiled.get(key);
    if (!k) {
      // One at a time: each compiles inside its own error scopes, which a device keeps as one stack.
      k = this.compiling.then(() => compileKernel(this.device, decl, d.dims));
      this.compiling = k.catch(() => undefined);
      this.compiled.set(key, k);
      k.catch(() => this.compiled.delete(key));
    }
    return k;
  }

  /**
   * Pipelines and bind groups for the plan's dispatches. Bind groups are kept while the
   * activation buffers stay (they depend on no T: sizes travel in the uniforms); an edit's are
   * made for its run (`extra` holds its buffers).
   */
  private async prepare(plan: Dispatch[], T: number, TK: number, extra = new Map<string, GPUBuffer>()): Promise<Step[]> {
    const buffers = this.activations(T, TK);
    if (!this.steps) this.steps = { byKey: new Map() };
    const cache = this.steps.byKey;
    return Promise.all(plan.map(async (d) => {
      const key = `${d.label} ${d.kernel}`;
      let step = d.edit === undefined ? cache.get(key) : undefined;
      if (!step) {
        const kernel = await this.kernel(d);
        const bound: Record<string, GPUBuffer> = {};
        for (const [binding, name] of Object.entries(d.bind)) {
          const b = buffers.get(name) ?? this.weights.get(name) ?? extra.get(name) ?? this.cache(name);
          if (!b) throw new GPT2TapsError(`internal: ${d.label} binds "${name}", which is no buffer of the model`);
          bound[binding] = b;
        }
        step = { kernel, group: bindGroup(this.device, kernel, bound, d.label) };
        if (d.edit === undefined) cache.set(key, step);
      }
      return step;
    }));
  }

  /** A layer's KV cache buffer (kv.{l}), made on first use. */
  private cache(name: string): GPUBuffer | undefined {
    if (activationOf(name) !== 'kv') return undefined;
    let b = this.caches.get(name);
    if (!b) {
      const shape = activationShapes(this.config, 1).kv;
      b = this.pool.create(name, 4 * shape.reduce((x, y) => x * y, 1), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      this.caches.set(name, b);
    }
    return b;
  }

  /** The per-run buffers of prepared edits, by the names the plan binds (edit.{i}.sel, .data, .params). */
  private editBuffers(edits: PreparedEdit[], plan: Dispatch[], T: number, p0: number): Map<string, GPUBuffer> {
    const m = new Map<string, GPUBuffer>();
    for (const d of plan) {
      if (d.edit === undefined) continue;
      const e = edits[d.edit], i = d.edit;
      if (!m.has(`edit.${i}.sel`)) {
        m.set(`edit.${i}.sel`, this.pool.upload(`edit ${i} sel`, new Uint32Array(e.sel.buffer)));
        m.set(`edit.${i}.data`, this.pool.upload(`edit ${i} data`, e.data));
      }
      const params = this.pool.create(`edit ${i} params`, 48, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      this.device.queue.writeBuffer(params, 0, e.params(T, p0, d.grid[0]));
      m.set(`edit.${i}.params`, params);
    }
    return m;
  }

  /**
   * One run: the pass, with the asked-for points copied into tap buffers of this usage. Mappable
   * buffers are read back (`read`) and freed; others (runOnGpu) are returned to the caller.
   */
  private async runNow(ids: ArrayLike<number>, opts: RunOptions, usage: GPUBufferUsageFlags):
    Promise<{ input: Uint32Array; names: string[]; buffers: Map<string, GPUBuffer>; read?: Map<string, Float32Array> }> {
    this.checkUsable();
    const input = this.checkIds(opts.truncate ? Array.prototype.slice.call(ids, 0, this.config.n_positions) : ids);
    const T = input.length;
    const names = resolveTaps(this.config, opts.taps ?? []);
    const points = tapPoints(this.config, names);
    const edits = prepareEdits(this.config, opts.edits ?? [], T);
    const taps = this.tapBuffers(points, T, usage);
    const readBack = (usage & GPUBufferUsage.MAP_READ) !== 0;
    let kept = false;
    return this.guard(names.length, T, async () => {
      try {
        const plan = this.plan(T, { points, whole: opts.whole, edits: edits.map((e) => e.point) });
        await this.pass(plan, edits, { T, p0: 0, ids: input, taps, timestampWrites: opts.timestampWrites });
        if (!readBack) {
          await this.device.queue.onSubmittedWorkDone(); // errors of the pass surface here, not in the caller's kernels
          kept = true;
          return { input, names, buffers: taps.buffers };
        }
        return { input, names, buffers: taps.buffers, read: await this.readTaps(taps, T) };
      } finally {
        if (!kept) for (const b of taps.buffers.values()) this.pool.destroy(b);
      }
    });
  }

  /**
   * Generates up to maxNewTokens tokens after `prompt` with a KV cache: the prompt runs once,
   * then each step runs only its new token. Sampling runs on the GPU; each step reads back one id
   * (and copies the asked-for taps into their rows). Queued like run().
   */
  generate(prompt: ArrayLike<number>, opts: GenerateOptions): Promise<GenerateResult> {
    const result = this.queue.then(() => this.generateNow(prompt, opts));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async generateNow(prompt: ArrayLike<number>, opts: GenerateOptions): Promise<GenerateResult> {
    this.checkUsable();
    const c = this.config, NP = c.n_positions;
    const input = this.checkIds(prompt);
    const P = input.length;
    const s = checkSampling(opts, c.vocab_size);
    // The last token is chosen from a full context and never fed back: up to NP + 1 tokens in all.
    const maxNew = Math.min(s.maxNewTokens, NP + 1 - P);
    const R = Math.min(P + maxNew, NP); // the positions that can run
    const names = resolveTaps(c, opts.taps ?? []);
    const points = tapPoints(c, names);
    const edits = prepareEdits(c, opts.edits ?? [], R, P);
    const rng = mulberry32(s.seed);
    const taps = this.tapBuffers(points, R, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const readId = this.pool.create('next id', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const newIds: number[] = [];
    let reason: GenerateResult['reason'] = 'length';
    return this.guard(names.length, R, async () => {
      try {
        this.activations(P, R); // sized once for the whole generation
        // One pass over T tokens at positions p0..; `sample` picks the next token after it.
        const step = async (T: number, p0: number, ids: Uint32Array | undefined, sample: boolean): Promise<number> => {
          const plan = this.plan(T, { points, edits: edits.map((e) => e.point), cache: { p0 }, sample, whole: true });
          const sampling = samplingValues(c, T, { greedy: s.temperature === 0, temperature: s.temperature || 1, topK: s.topK, topP: s.topP, u: rng() });
          await this.pass(plan, edits, { T, p0, ids, taps, sampling, readId: sample ? readId : undefined });
          if (!sample) return -1;
          await readId.mapAsync(GPUMapMode.READ);
          const id = new Uint32Array(readId.getMappedRange(0, 4))[0];
          readId.unmap();
          return id;
        };
        let next = maxNew > 0 ? await step(P, 0, input, true) : -1;
        while (next >= 0) {
          newIds.push(next);
          if (opts.onToken?.(next, newIds.length - 1) === false) { reason = 'aborted'; break; }
          if (s.stop.includes(next)) { reason = 'stop'; break; }
          if (newIds.length === maxNew) { reason = newIds.length < s.maxNewTokens ? 'context' : 'length'; break; }
          if (opts.signal?.aborted) { reason = 'aborted'; break; }
          next = await step(1, P + newIds.length - 1, undefined, true);
        }
        // With taps, the last token runs too when it fits, so the taps cover the whole sequence.
        const last = P + newIds.length - 1;
        let run = newIds.length > 0 ? last : P;
        if (points.length > 0 && newIds.length > 0 && last < NP) { await step(1, last, undefined, false); run = last + 1; }
        const ids = Uint32Array.from([...input, ...newIds]);
        const read = await this.readTaps(taps, run);
        return {
          ids, newIds, seed: s.seed, reason,
          taps: new TapResult(c, ids.slice(0, run), names.map((n) => [n, this.tensor(n, run, read)])),
        };
      } finally {
        for (const b of [...taps.buffers.values(), readId]) this.pool.destroy(b);
      }
    });
  }

  /** Runs `fn` and turns what goes wrong on the GPU into errors that say what happened. */
  private async guard<R>(taps: number, T: number, fn: () => Promise<R>): Promise<R> {
    try {
      const r = await fn();
      if (this.lost) this.checkUsable(); // a lost device may still resolve mapAsync with garbage
      const uncaptured = this.uncaptured.splice(0);
      if (uncaptured.length > 0) throw new GPT2TapsError(`uncaptured GPU error on this device: ${uncaptured.join('; ')}`);
      return r;
    } catch (e) {
      // A device lost mid-run makes mapAsync reject with a bare AbortError; say what happened.
      await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 0))]);
      this.checkUsable();
      if (e instanceof GPT2TapsError) throw e;
      throw new GPT2TapsError(`the forward pass failed (T=${T}, ${taps} taps): ${(e as Error).message}`);
    }
  }

  /**
   * One pass on the GPU: the plan's dispatches for T tokens at positions p0.., each followed by
   * its tap copies into rows p0.. of the tap buffers, inside error scopes.
   */
  private async pass(plan: Dispatch[], edits: PreparedEdit[], a: {
    T: number; p0: number; ids?: Uint32Array; taps: TapBuffers; sampling?: ArrayBuffer; readId?: GPUBuffer;
    timestampWrites?: (i: number) => GPUComputePassTimestampWrites | undefined;
  }): Promise<void> {
    const { T, p0 } = a;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const editBuffers = this.editBuffers(edits, plan, T, p0);
    try {
      const steps = await this.prepare(plan, T, p0 + T, editBuffers);
      const buffers = this.acts!.buffers;
      if (a.ids) this.device.queue.writeBuffer(buffers.get('ids')!, 0, a.ids.buffer, a.ids.byteOffset, a.ids.byteLength);
      for (const [name, values] of Object.entries(uniformValues(this.config, T, p0, this.kernels))) this.device.queue.writeBuffer(buffers.get(name)!, 0, values);
      if (a.sampling) this.device.queue.writeBuffer(buffers.get('sampling')!, 0, a.sampling);
      // Consecutive dispatches share one compute pass; a pass ends where a tap is copied, and a
      // timed dispatch (profiling) has a pass of its own.
      const encoder = this.device.createCommandEncoder({ label: 'gpt2 forward' });
      let open: GPUComputePassEncoder | undefined;
      plan.forEach((d, i) => {
        const timestampWrites = a.timestampWrites?.(i);
        if (timestampWrites) { open?.end(); open = undefined; }
        open ??= encoder.beginComputePass(timestampWrites ? { label: d.label, timestampWrites } : { label: 'forward' });
        open.setPipeline(steps[i].kernel.pipeline);
        open.setBindGroup(0, steps[i].group);
        open.dispatchWorkgroups(...d.grid);
        if (timestampWrites || d.taps.length > 0) { open.end(); open = undefined; }
        for (const t of d.taps) this.copyTap(encoder, buffers.get(t.buffer)!, t.name, a.taps, T, p0);
      });
      open?.end();
      if (a.readId) encoder.copyBufferToBuffer(buffers.get('next')!, 0, a.readId, 0, 16);
      this.device.queue.submit([encoder.finish()]);
    } finally {
      const invalid = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      for (const b of editBuffers.values()) this.pool.destroy(b);
      if (invalid) throw new GPT2TapsError(`GPU validation error during the forward pass: ${invalid.message}`);
      if (oom) throw new GPT2TapsError(`the GPU ran out of memory for T=${T}: ${oom.message}`, 'ask for fewer taps or fewer tokens');
    }
  }

  /** Buffers of this usage for the points, each holding R rows (attentions: [H, R, R]). */
  private tapBuffers(points: string[], R: number, usage: GPUBufferUsageFlags): TapBuffers {
    const buffers = new Map<string, GPUBuffer>();
    for (const p of points) {
      const bytes = 4 * tapShape(this.config, p, R).reduce((a, b) => a * b, 1);
      buffers.set(p, this.pool.create(`tap ${p}`, bytes, usage));
    }
    return { R, buffers };
  }

  /**
   * Copies a point's value for T rows at positions p0.. into its tap buffer of R rows. [T, W]
   * points land at row p0; attentions [H, T, TK] row by row into [H, R, R] (one copy when the
   * layouts agree, as in a plain run).
   */
  private copyTap(encoder: GPUCommandEncoder, src: GPUBuffer, point: string, taps: TapBuffers, T: number, p0: number): void {
    const dst = taps.buffers.get(point)!;
    const shape = tapShape(this.config, point, T);
    if (shape.length === 2) {
      encoder.copyBufferToBuffer(src, 0, dst, 4 * p0 * shape[1], 4 * T * shape[1]);
      return;
    }
    const [H] = shape, TK = p0 + T, R = taps.R;
    if (p0 === 0 && T === R) { encoder.copyBufferToBuffer(src, 0, dst, 0, 4 * H * T * T); return; }
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) encoder.copyBufferToBuffer(src, 4 * (h * T + t) * TK, dst, 4 * ((h * R + p0 + t) * R), 4 * TK);
    }
  }

  /** The tap buffers read back, keeping the first `rows` rows (attentions: [H, rows, rows]). */
  private async readTaps(taps: TapBuffers, rows: number): Promise<Map<string, Float32Array>> {
    const read = new Map<string, Float32Array>();
    await Promise.all([...taps.buffers].map(async ([p, b]) => {
      await b.mapAsync(GPUMapMode.READ);
      const all = new Float32Array(b.getMappedRange().slice(0));
      b.unmap();
      const full = tapShape(this.config, p, taps.R);
      if (full.length === 2) { read.set(p, all.slice(0, rows * full[1])); return; }
      const [H, R] = full;
      const out = new Float32Array(H * rows * rows);
      for (let h = 0; h < H; h++) for (let t = 0; t < rows; t++) out.set(all.subarray((h * R + t) * R, (h * R + t) * R + rows), (h * rows + t) * rows);
      read.set(p, out);
    }));
    return read;
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

  /**
   * The activation buffers (ACTIVATIONS, but the per-layer KV caches) and uniforms for T tokens
   * and TK keys; made again, larger, when a run needs more than they hold.
   */
  private activations(T: number, TK: number): Map<string, GPUBuffer> {
    this.checkUsable();
    if (this.acts && this.acts.T >= T && this.acts.TK >= TK) return this.acts.buffers;
    T = Math.max(T, this.acts?.T ?? 0);
    TK = Math.max(TK, this.acts?.TK ?? 0);
    if (this.acts) for (const b of this.acts.buffers.values()) this.pool.destroy(b);
    this.steps = undefined;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffers = new Map<string, GPUBuffer>();
    for (const [name, shape] of Object.entries(activationShapes(this.config, T, TK)) as [Activation, number[]][]) {
      if (name !== 'kv') buffers.set(name, this.pool.create(name, 4 * shape.reduce((a, b) => a * b, 1), usage));
    }
    for (const [name, bytes] of Object.entries(UNIFORM_BYTES) as [Uniform, number][]) {
      buffers.set(name, this.pool.create(name, bytes, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST));
    }
    this.acts = { T, TK, buffers };
    return buffers;
  }
}

/** Checks the sampling options, with Hugging Face's defaults filled in. */
function checkSampling(o: GenerateOptions, V: number) {
  const fail = (why: string): never => { throw new GPT2TapsError(`generate: ${why}`); };
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) fail(`maxNewTokens must be an integer >= 1, got ${o.maxNewTokens}`);
  const temperature = o.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature >= 0)) fail(`temperature must be a number >= 0 (0: greedy), got ${o.temperature}`);
  const topK = o.topK ?? 50;
  if (!Number.isInteger(topK) || topK < 0) fail(`topK must be an integer >= 0 (0: off), got ${o.topK}`);
  const topP = o.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) fail(`topP must be in (0, 1], got ${o.topP}`);
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) fail(`seed must be an integer in [0, 2^32), got ${o.seed}`);
  // <|endoftext|> by default, where the vocabulary has it
  const stop = o.stop === false ? [] : [...(o.stop ?? (ENDOFTEXT_ID < V ? [ENDOFTEXT_ID] : []))];
  if (!stop.every((id) => Number.isInteger(id) && id >= 0 && id < V)) fail(`stop must be token ids in [0, ${V}), got ${JSON.stringify(o.stop)}`);
  return { maxNewTokens: o.maxNewTokens, temperature, topK: Math.min(topK, V), topP, seed, stop };
}

/** Mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
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
