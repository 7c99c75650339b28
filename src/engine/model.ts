// GPT-2 on WebGPU: weights on the GPU, a forward pass that reads top to bottom as a
// flat list of dispatches, and taps: after any dispatch, a copy of the buffer it wrote
// into a mappable buffer — encoded only for the taps a run asks for.
import { GPT2TapsError } from '../errors.js';
import { paramShapes, resolveTaps, tapShape, type GPT2Config } from './config.js';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import { openModelSource, type ModelSource } from '../checkpoint/sources.js';
import { BufferPool, bindGroup, encodeDispatch, type Kernel } from './gpu.js';
import {
  ATTENTION_MAX_POSITIONS, GRID, attentionKernel, embeddingKernel, layernormKernel, matmulKernel, splitK,
  splitkReduceKernel,
} from './kernels.js';
import { TapResult } from './taps.js';

export interface LoadOptions {
  device: GPUDevice;
  /** Progress while fetching/reading and uploading: bytes done of total. */
  onProgress?: (done: number, total: number | undefined, what: string) => void;
  /** Refuse weights holding NaN or ±Inf, naming the tensor and index (scans every value). */
  checkFinite?: boolean;
}

export interface RunOptions {
  /** Tap names ('all', names, globs such as 'hidden_states.*', TransformerLens aliases). Default: none. */
  taps?: readonly string[] | 'all';
  /** Keep only the first n_positions tokens instead of refusing a longer input. */
  truncate?: boolean;
}

/** One dispatch of the forward pass, with the taps that read what it wrote. */
export interface Step {
  label: string;        // kernel name + layer, e.g. 'h.3.mlp.c_fc'
  kernel: Kernel;
  group: GPUBindGroup;
  grid: [number, number, number];
  flops: number;        // for the profiler: arithmetic of this dispatch
  bytes: number;        // and the bytes it must move at least once
  taps: { name: string; buffer: GPUBuffer }[];  // the taps that can be copied right after it
}

interface Kernels {
  embedding: Kernel; layernorm: Kernel; attention: Kernel;
  cAttn: Kernel; attnProj: Kernel; cFc: Kernel; mlpProj: Kernel; lmHead: Kernel; reduce: Kernel;
}

/** Activation buffers for up to `capacity` tokens, reused across runs. */
interface Activations {
  capacity: number;
  ids: GPUBuffer;      // [T] u32
  params: GPUBuffer;   // uniform { T, KS = 1 }
  paramsSplit: GPUBuffer; // uniform { T, KS = splitK(T, ...) } for the c_proj layers
  partial: GPUBuffer;  // [8, T, D] partial sums of a split-K c_proj
  x: GPUBuffer;        // [T, D]    the residual stream
  ln: GPUBuffer;       // [T, D]    LayerNorm output
  qkv: GPUBuffer;      // [T, 3D]
  attn: GPUBuffer;     // [T, D]    attention output, heads merged
  delta: GPUBuffer;    // [T, D]    output of a c_proj: what a sublayer adds to x
  fc: GPUBuffer;       // [T, 4D]   gelu(c_fc)
  probs: GPUBuffer;    // [H, T, T] attention probabilities
  logits: GPUBuffer;   // [T, V]
}

export class GPT2 {
  private acts?: Activations;
  private planned?: { T: number; acts: Activations; steps: Step[] };
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
    private readonly kernels: Kernels,
  ) {
    device.lost.then((info) => { this.lost = info; });
    device.addEventListener('uncapturederror', this.onUncaptured);
  }

  /** Loads a Hugging Face GPT-2 checkpoint (URL, folder/file path in Node, or bytes) onto `device`. */
  static async load(source: ModelSource, opts: LoadOptions): Promise<GPT2> {
    const { device, onProgress } = opts;
    const src = await openModelSource(source, { onProgress });
    const ckpt = await openCheckpoint(src.bytes, src.config, { checkFinite: opts.checkFinite });
    checkDeviceLimits(device, ckpt.config);
    const kernels = await compileKernels(device, ckpt.config);
    const pool = new BufferPool(device);
    try {
      const weights = await uploadWeights(pool, ckpt, onProgress);
      return new GPT2(device, ckpt.config, ckpt.notes, pool, weights, kernels);
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

  /** Frees every GPU buffer this model made. The device stays the caller's. */
  dispose(): void {
    this.disposed = true;
    this.device.removeEventListener('uncapturederror', this.onUncaptured);
    this.pool.destroyAll();
    this.acts = undefined;
    this.planned = undefined;
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

  /**
   * The forward pass for T tokens as a flat list of dispatches, each with the taps that
   * can be copied right after it. Built once per T (and activation buffers) and reused.
   */
  plan(T: number): Step[] {
    const a = this.activations(T);
    if (this.planned?.T !== T || this.planned.acts !== a) this.planned = { T, acts: a, steps: this.buildPlan(T, a) };
    return this.planned.steps;
  }

  private buildPlan(T: number, a: Activations): Step[] {
    const { n_layer: L, n_head: H, n_embd: D, vocab_size: V } = this.config;
    const w = (name: string) => this.weights.get(name)!;
    const k = this.kernels;
    const dev = this.device;
    const steps: Step[] = [];
    const f = 4; // bytes per float

    const step = (label: string, kernel: Kernel, buffers: Record<string, GPUBuffer>, grid: [number, number, number],
      flops: number, bytes: number, taps: [string, GPUBuffer][] = []): void => {
      steps.push({
        label, kernel, grid, flops, bytes, group: bindGroup(dev, kernel, buffers, label),
        taps: taps.map(([name, buffer]) => ({ name, buffer })),
      });
    };
    // flops and bytes of each kernel, from its shapes (used by the profiler's roofline).
    const matmul = (M: number, K: number, N: number) => ({ flops: 2 * M * K * N, bytes: f * (M * K + K * N + M * N + N) });
    const ln = { flops: 8 * T * D, bytes: f * (2 * T * D + 2 * D) };
    const layernorm = (label: string, out: GPUBuffer, taps: [string, GPUBuffer][] = []) =>
      step(label, k.layernorm, { x: a.x, gamma: w(`${label}.weight`), beta: w(`${label}.bias`), y: out, params: a.params },
        GRID.layernorm(T), ln.flops, ln.bytes, taps);
    const linear = (label: string, kernel: Kernel, K: number, N: number, x: GPUBuffer, y: GPUBuffer,
      extra: Record<string, GPUBuffer>, taps: [string, GPUBuffer][] = []) => {
      const c = matmul(T, K, N);
      step(label, kernel, { x, y, params: a.params, ...extra }, GRID.matmul(T, N), c.flops, c.bytes, taps);
    };
    // A c_proj: y = x·W + b, the sublayer's delta, and x_residual += y. K is split in slices
    // (matmul with KS > 1 into `partial`, then splitk_reduce) when N = D alone is too narrow a grid.
    const KS = splitK(T, D, D);
    const cProj = (label: string, kernel: Kernel, K: number, x: GPUBuffer, prefix: string, taps: [string, GPUBuffer][]) => {
      const wb = { w: w(`${prefix}.weight`), b: w(`${prefix}.bias`), r: a.x };
      if (KS === 1) return linear(label, kernel, K, D, x, a.delta, wb, taps);
      const c = matmul(T, K, D);
      step(label, kernel, { x, y: a.partial, params: a.paramsSplit, ...wb }, GRID.matmul(T, D, KS), c.flops, c.bytes - f * T * D + f * KS * T * D);
      step(`${label}.reduce`, k.reduce, { p: a.partial, b: wb.b, y: a.delta, r: a.x, params: a.paramsSplit },
        GRID.splitkReduce(T, D), KS * T * D, f * (KS * T * D + D + 3 * T * D), taps);
    };

    step('embedding', k.embedding, { ids: a.ids, wte: w('wte.weight'), wpe: w('wpe.weight'), x: a.x, params: a.params },
      GRID.embedding(T, D), T * D, f * (3 * T * D) + 4 * T, [['hidden_states.0', a.x]]);

    for (let l = 0; l < L; l++) {
      const p = `h.${l}`;
      layernorm(`${p}.ln_1`, a.ln);
      linear(`${p}.attn.c_attn`, k.cAttn, D, 3 * D, a.ln, a.qkv,
        { w: w(`${p}.attn.c_attn.weight`), b: w(`${p}.attn.c_attn.bias`) });
      step(`${p}.attn`, k.attention, { qkv: a.qkv, probs: a.probs, out: a.attn, params: a.params }, GRID.attention(T, H),
        H * T * T * (4 * D / H + 4), f * (3 * T * D + H * T * T + T * D), [[`attentions.${l}`, a.probs]]);
      cProj(`${p}.attn.c_proj`, k.attnProj, D, a.attn, `${p}.attn.c_proj`, [[`${p}.attn.c_proj`, a.delta]]);
      layernorm(`${p}.ln_2`, a.ln);
      linear(`${p}.mlp.c_fc`, k.cFc, D, 4 * D, a.ln, a.fc,
        { w: w(`${p}.mlp.c_fc.weight`), b: w(`${p}.mlp.c_fc.bias`) });
      cProj(`${p}.mlp.c_proj`, k.mlpProj, 4 * D, a.fc, `${p}.mlp.c_proj`,
        [[`${p}.mlp.c_proj`, a.delta], [p, a.x], ...(l < L - 1 ? [[`hidden_states.${l + 1}`, a.x] as [string, GPUBuffer]] : [])]);
    }

    layernorm('ln_f', a.ln, [[`hidden_states.${L}`, a.ln]]);
    linear('lm_head', k.lmHead, D, V, a.ln, a.logits, { w: w('wte.weight') }, [['logits', a.logits]]);
    return steps;
  }

  /** Writes ids and T into the activation buffers before a forward pass. */
  writeInputs(ids: Uint32Array): void {
    const a = this.activations(ids.length);
    this.device.queue.writeBuffer(a.ids, 0, ids.buffer, ids.byteOffset, ids.byteLength);
    const T = ids.length, D = this.config.n_embd;
    this.device.queue.writeBuffer(a.params, 0, new Uint32Array([T, 1, 0, 0]));
    // Both c_proj layers (K = D and 4D, N = D) use the split of the smaller K.
    this.device.queue.writeBuffer(a.paramsSplit, 0, new Uint32Array([T, splitK(T, D, D), 0, 0]));
  }

  /**
   * Encodes the planned steps for T tokens; right after a dispatch, copies what it wrote
   * into the buffer of each requested tap (tapBuffers: name → MAP_READ | COPY_DST buffer).
   */
  encode(steps: Step[], T: number, tapBuffers: Map<string, GPUBuffer>,
    timestampWrites?: (i: number) => GPUComputePassTimestampWrites | undefined): GPUCommandBuffer {
    const encoder = this.device.createCommandEncoder({ label: 'gpt2 forward' });
    steps.forEach((s, i) => {
      encodeDispatch(encoder, s.kernel, s.group, s.grid, s.label, timestampWrites?.(i));
      for (const t of s.taps) {
        const dst = tapBuffers.get(t.name);
        if (dst) encoder.copyBufferToBuffer(t.buffer, 0, dst, 0, tapBytes(this.config, t.name, T));
      }
    });
    return encoder.finish();
  }

  private async runNow(ids: ArrayLike<number>, opts: RunOptions): Promise<TapResult> {
    this.checkUsable();
    const input = this.checkIds(opts.truncate ? Array.prototype.slice.call(ids, 0, this.config.n_positions) : ids);
    const T = input.length;
    const names = resolveTaps(this.config, opts.taps ?? []);
    const tapBuffers = new Map<string, GPUBuffer>();
    try {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      // Stop after the dispatch that writes the deepest requested tap: asking for h.0 alone
      // runs block 0 only, and no LM head unless logits are asked for. No taps: the whole pass.
      const plan = this.plan(T);
      const wanted = new Set(names);
      const last = plan.findLastIndex((step) => step.taps.some((t) => wanted.has(t.name)));
      const steps = names.length === 0 ? plan : plan.slice(0, last + 1);
      for (const n of names) {
        tapBuffers.set(n, this.pool.create(`tap ${n}`, tapBytes(this.config, n, T), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST));
      }
      this.writeInputs(input);
      this.device.queue.submit([this.encode(steps, T, tapBuffers)]);
      const invalid = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      if (invalid) throw new GPT2TapsError(`GPU validation error during the forward pass: ${invalid.message}`);
      if (oom) throw new GPT2TapsError(`the GPU ran out of memory for T=${T} with ${names.length} taps: ${oom.message}`, 'ask for fewer taps or fewer tokens');
      const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
      await Promise.all(names.map(async (n) => {
        const b = tapBuffers.get(n)!;
        await b.mapAsync(GPUMapMode.READ);
        const data = new Float32Array(b.getMappedRange(0, tapBytes(this.config, n, T)).slice(0));
        b.unmap();
        tensors.set(n, { data, shape: tapShape(this.config, n, T) });
      }));
      if (this.lost) this.checkUsable(); // a lost device may still resolve mapAsync with garbage
      const uncaptured = this.uncaptured.splice(0);
      if (uncaptured.length > 0) throw new GPT2TapsError(`uncaptured GPU error on this device: ${uncaptured.join('; ')}`);
      return new TapResult(this.config, input, names.map((n) => [n, tensors.get(n)!]));
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

  /** Throws a clear error when the model was disposed or its device lost. */
  private checkUsable(): void {
    if (this.disposed) throw new GPT2TapsError('this model was disposed');
    if (this.lost) {
      throw new GPT2TapsError(`the GPU device was lost (${this.lost.reason || 'unknown reason'}): ${this.lost.message || 'no message'}`,
        'load the model again: GPT2.load(source, { device: a new GPUDevice })');
    }
  }

  private activations(T: number): Activations {
    this.checkUsable();
    if (this.acts && this.acts.capacity >= T) return this.acts;
    const { n_head: H, n_embd: D, vocab_size: V } = this.config;
    const old = this.acts;
    if (old) for (const [key, b] of Object.entries(old)) if (key !== 'capacity') this.pool.destroy(b as GPUBuffer);
    this.planned = undefined;
    const c = T;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buf = (label: string, floats: number) => this.pool.create(label, floats * 4, usage);
    this.acts = {
      capacity: c,
      ids: buf('ids', c),
      params: this.pool.create('params', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
      paramsSplit: this.pool.create('params (split-K)', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
      partial: buf('partial', 8 * c * D),
      x: buf('x', c * D), ln: buf('ln', c * D), qkv: buf('qkv', c * 3 * D), attn: buf('attn', c * D),
      delta: buf('delta', c * D), fc: buf('fc', c * 4 * D), probs: buf('probs', H * c * c), logits: buf('logits', c * V),
    };
    return this.acts;
  }
}

function tapBytes(c: GPT2Config, name: string, T: number): number {
  return tapShape(c, name, T).reduce((a, b) => a * b, 1) * 4;
}

/** Refuses, before uploading anything, a model whose buffers this device cannot hold. */
function checkDeviceLimits(device: GPUDevice, c: GPT2Config): void {
  const { maxStorageBufferBindingSize: maxBinding, maxBufferSize: maxBuffer, maxComputeWorkgroupStorageSize: maxShared } = device.limits;
  const N = c.n_positions;
  const biggest: [string, number][] = [
    ['wte.weight [V, D]', c.vocab_size * c.n_embd * 4],
    ['logits [N, V]', N * c.vocab_size * 4],
    ['attention probabilities [H, N, N]', c.n_head * N * N * 4],
    ['mlp activations [N, 4D]', N * 4 * c.n_embd * 4],
  ];
  for (const [what, bytes] of biggest) {
    const limit = Math.min(maxBinding, maxBuffer);
    if (bytes > limit) {
      throw new GPT2TapsError(
        `this model needs a ${what} buffer of ${(bytes / 2 ** 20).toFixed(1)} MiB, above this device's ` +
          `${bytes > maxBinding ? 'maxStorageBufferBindingSize' : 'maxBufferSize'} (${(limit / 2 ** 20).toFixed(1)} MiB)`,
        'use a GPU/browser with larger WebGPU limits, or a smaller model',
      );
    }
  }
  if (N > ATTENTION_MAX_POSITIONS || N * 4 + 256 > maxShared) {
    throw new GPT2TapsError(`n_positions ${N} is more than the attention kernel holds in workgroup memory (${Math.min(ATTENTION_MAX_POSITIONS, (maxShared - 256) / 4)})`);
  }
  if ((c.n_embd / c.n_head) % 4 !== 0) {
    throw new GPT2TapsError(`head dim ${c.n_embd / c.n_head} is not a multiple of 4, which the attention kernel needs`);
  }
}

async function compileKernels(device: GPUDevice, c: GPT2Config): Promise<Kernels> {
  const D = c.n_embd;
  const plain = { bias: true, gelu: false, residual: false, transposeB: false };
  const [embedding, layernorm, attention, cAttn, attnProj, cFc, mlpProj, lmHead, reduce] = await Promise.all([
    embeddingKernel(device, D),
    layernormKernel(device, D, c.layer_norm_epsilon),
    attentionKernel(device, c.n_head, D / c.n_head, c.n_positions),
    matmulKernel(device, D, 3 * D, plain),
    matmulKernel(device, D, D, { ...plain, residual: true }),
    matmulKernel(device, D, 4 * D, { ...plain, gelu: true }),
    matmulKernel(device, 4 * D, D, { ...plain, residual: true }),
    matmulKernel(device, D, c.vocab_size, { bias: false, gelu: false, residual: false, transposeB: true }),
    splitkReduceKernel(device, D),
  ]);
  return { embedding, layernorm, attention, cAttn, attnProj, cFc, mlpProj, lmHead, reduce };
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
