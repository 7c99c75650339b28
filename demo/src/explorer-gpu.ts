// The explorer's GPU work: six WGSL kernels (demo/shaders/), each with its contract at the top.
//   columnStats:  column_stats (per dimension / neuron: max, min, mean, max |x|)
//   topNeurons:   column_stats → topk on the per-neuron maxima, in one submission
//   heatmap:      heatmap (values → packed RGBA8 pixels for a canvas)
//   lens:         lens_norm (ln_f, the model's own buffers) → lens_logits (the model's own
//                 unembedding buffer) → topk, in one submission per chunk of rows
//   topk:         topk on a logits row (the next-token distribution)
//   distDiff:     dist_diff (total variation, KL and max |Δp| of two next-token distributions)
// Only small results are read back (k ids and probabilities per row, C stats, the pixels).
import { BufferPool, bindGroup, createKernel, encodeDispatch, type Kernel } from '../../src/engine/gpu.js';
import { GPT2TapsError } from '../../src/errors.js';
import type { GPT2 } from '../../src/index.js';
import columnStatsSrc from '../shaders/column_stats.wgsl';
import heatmapSrc from '../shaders/heatmap.wgsl';
import lensNormSrc from '../shaders/lens_norm.wgsl';
import lensLogitsSrc from '../shaders/lens_logits.wgsl';
import topkSrc from '../shaders/topk.wgsl';
import distDiffSrc from '../shaders/dist_diff.wgsl';

export const K_MAX = 16;

export interface TopK { ids: Uint32Array; vals: Float32Array; probs: Float32Array; k: number }

interface Kernels { columnStats: Kernel; heatmap: Kernel; lensNorm: Kernel; lensLogits: Kernel; topk: Kernel; distDiff: Kernel }

const RW = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
const UNIFORM = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;

/** Read-backs are padded to 16 bytes: keep the rows · k entries. */
function topK(ids: ArrayBuffer, vals: ArrayBuffer, probs: ArrayBuffer, rows: number, k: number): TopK {
  const n = rows * k;
  return { ids: new Uint32Array(ids, 0, n), vals: new Float32Array(vals, 0, n), probs: new Float32Array(probs, 0, n), k };
}

export class ExplorerGPU {
  private constructor(readonly device: GPUDevice, private readonly k: Kernels) {}

  static async create(device: GPUDevice): Promise<ExplorerGPU> {
    const rd = (binding: number, name: string) => ({ binding, name, access: 'read' as const });
    const rw = (binding: number, name: string) => ({ binding, name, access: 'read_write' as const });
    const un = (binding: number, name: string) => ({ binding, name, access: 'uniform' as const });
    // One at a time: error scopes are one stack per device.
    const columnStats = await createKernel(device, 'column_stats', columnStatsSrc, [rd(0, 'x'), rw(1, 'stats'), rw(2, 'maxima'), un(3, 'params')], {});
    const heatmap = await createKernel(device, 'heatmap', heatmapSrc, [rd(0, 'values'), rw(1, 'pixels'), un(2, 'params')], {});
    const lensNorm = await createKernel(device, 'lens_norm', lensNormSrc,
      [rd(0, 'x'), rd(1, 'gamma'), rd(2, 'beta'), rw(3, 'y'), un(4, 'params')], {});
    const lensLogits = await createKernel(device, 'lens_logits', lensLogitsSrc, [rd(0, 'y'), rd(1, 'w'), rw(2, 'logits'), un(3, 'params')], {});
    const topk = await createKernel(device, 'topk', topkSrc, [rd(0, 'x'), rw(1, 'ids'), rw(2, 'vals'), rw(3, 'probs'), un(4, 'params')], {});
    const distDiff = await createKernel(device, 'dist_diff', distDiffSrc, [rd(0, 'a'), rd(1, 'b'), rw(2, 'result'), un(3, 'params')], {});
    return new ExplorerGPU(device, { columnStats, heatmap, lensNorm, lensLogits, topk, distDiff });
  }

  /** Runs `encode` with a fresh pool, submits, reads back `outputs` (name → bytes), frees everything. */
  private async job(label: string, encode: (pool: BufferPool, enc: GPUCommandEncoder) => GPUBuffer[]): Promise<ArrayBuffer[]> {
    const { device } = this;
    const pool = new BufferPool(device);
    try {
      const enc = device.createCommandEncoder({ label });
      const outs = encode(pool, enc);
      const staging = outs.map((b) => {
        const s = pool.create(`${label} read-back`, b.size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
        enc.copyBufferToBuffer(b, 0, s, 0, b.size);
        return s;
      });
      device.pushErrorScope('validation');
      device.pushErrorScope('out-of-memory');
      device.queue.submit([enc.finish()]);
      const oom = await device.popErrorScope();
      const err = await device.popErrorScope();
      if (oom) throw new GPT2TapsError(`GPU out of memory in the explorer's ${label}: ${oom.message}`);
      if (err) throw new GPT2TapsError(`GPU validation error in the explorer's ${label}: ${err.message}`);
      return await Promise.all(staging.map(async (s) => {
        await s.mapAsync(GPUMapMode.READ);
        const bytes = s.getMappedRange().slice(0);
        s.unmap();
        return bytes;
      }));
    } finally {
      pool.destroyAll();
    }
  }

  private uniform(pool: BufferPool, words: (number | { f: number })[]): GPUBuffer {
    const buf = new ArrayBuffer(Math.max(16, Math.ceil(words.length / 4) * 16));
    const u = new Uint32Array(buf), f = new Float32Array(buf);
    words.forEach((w, i) => { if (typeof w === 'number') u[i] = w; else f[i] = w.f; });
    const b = pool.create('params', buf.byteLength, UNIFORM);
    this.device.queue.writeBuffer(b, 0, buf);
    return b;
  }

  private encodeTopk(pool: BufferPool, enc: GPUCommandEncoder, x: GPUBuffer, rows: number, n: number, k: number): GPUBuffer[] {
    const ids = pool.create('topk ids', rows * k * 4, RW);
    const vals = pool.create('topk vals', rows * k * 4, RW);
    const probs = pool.create('topk probs', rows * k * 4, RW);
    encodeDispatch(enc, this.k.topk, bindGroup(this.device, this.k.topk,
      { x, ids, vals, probs, params: this.uniform(pool, [rows, n, k]) }), [rows, 1, 1], 'topk');
    return [ids, vals, probs];
  }

  private checkK(k: number): void {
    if (!Number.isInteger(k) || k < 1 || k > K_MAX) throw new GPT2TapsError(`top-k: k must be 1..${K_MAX}, got ${k}`);
  }

  /** Per column of x [rows, cols]: [max, min, mean, max |x|] × cols. */
  async columnStats(x: Float32Array, rows: number, cols: number): Promise<Float32Array> {
    const [stats] = await this.job('column statistics', (pool, enc) => {
      const src = pool.upload('x', x);
      const stats = pool.create('stats', cols * 16, RW);
      const maxima = pool.create('maxima', cols * 4, RW);
      encodeDispatch(enc, this.k.columnStats, bindGroup(this.device, this.k.columnStats,
        { x: src, stats, maxima, params: this.uniform(pool, [rows, cols]) }), [Math.ceil(cols / 64), 1, 1], 'column_stats');
      return [stats];
    });
    return new Float32Array(stats, 0, cols * 4);
  }

  /** The k neurons with the highest maximum activation over the rows of act [rows, cols]. */
  async topNeurons(act: Float32Array, rows: number, cols: number, k: number): Promise<TopK> {
    const R = 1;
    this.checkK(k);
    const [ids, vals, probs] = await this.job('top neurons', (pool, enc) => {
      const src = pool.upload('act', act);
      const stats = pool.create('stats', cols * 16, RW);
      const maxima = pool.create('maxima', cols * 4, RW);
      encodeDispatch(enc, this.k.columnStats, bindGroup(this.device, this.k.columnStats,
        { x: src, stats, maxima, params: this.uniform(pool, [rows, cols]) }), [Math.ceil(cols / 64), 1, 1], 'column_stats');
      return this.encodeTopk(pool, enc, maxima, 1, cols, k);
    });
    return topK(ids, vals, probs, R, k);
  }

  /** Heatmap pixels (RGBA8, row-major) of values [rows, cols]: mode 0 diverging, 1 sequential. */
  async heatmap(values: Float32Array, rows: number, cols: number, mode: 0 | 1, scale: number, causal = false): Promise<Uint8ClampedArray<ArrayBuffer>> {
    const n = rows * cols;
    const [pixels] = await this.job('heatmap', (pool, enc) => {
      const src = pool.upload('values', values);
      const px = pool.create('pixels', n * 4, RW);
      encodeDispatch(enc, this.k.heatmap, bindGroup(this.device, this.k.heatmap,
        { values: src, pixels: px, params: this.uniform(pool, [n, cols, mode, causal ? 1 : 0, { f: scale }]) }),
      [Math.ceil(n / 256), 1, 1], 'heatmap');
      return [px];
    });
    return new Uint8ClampedArray(pixels, 0, n * 4);
  }

  /** Top-k of each row of x [rows, n] with softmax probabilities. */
  async topk(x: Float32Array, rows: number, n: number, k: number): Promise<TopK> {
    this.checkK(k);
    const [ids, vals, probs] = await this.job('top-k', (pool, enc) => this.encodeTopk(pool, enc, pool.upload('x', x), rows, n, k));
    return topK(ids, vals, probs, rows, k);
  }

  /**
   * The logit lens: ln_f then the unembedding applied to residual-stream rows [R, D], with the
   * model's own weight buffers; the top-k tokens of each row with probabilities. Rows go in chunks
   * whose [chunk, V] logits stay under 64 MiB.
   */
  async lens(model: GPT2, rows: Float32Array, R: number, k: number): Promise<TopK> {
    this.checkK(k);
    const { n_embd: D, vocab_size: V, layer_norm_epsilon: eps } = model.config;
    const gamma = model.weightBuffer('ln_f.weight');
    const beta = model.weightBuffer('ln_f.bias');
    const w = model.weightBuffer(model.config.tie_word_embeddings === false ? 'lm_head.weight' : 'wte.weight');
    const chunk = Math.max(1, Math.min(R, Math.floor((64 << 20) / (V * 4))));
    const out: TopK = { ids: new Uint32Array(R * k), vals: new Float32Array(R * k), probs: new Float32Array(R * k), k };
    for (let r0 = 0; r0 < R; r0 += chunk) {
      const n = Math.min(chunk, R - r0);
      const [ids, vals, probs] = await this.job('logit lens', (pool, enc) => {
        const x = pool.upload('lens rows', rows.subarray(r0 * D, (r0 + n) * D));
        const y = pool.create('lens normed', n * D * 4, RW);
        const logits = pool.create('lens logits', n * V * 4, RW);
        encodeDispatch(enc, this.k.lensNorm, bindGroup(this.device, this.k.lensNorm,
          { x, gamma, beta, y, params: this.uniform(pool, [n, D, { f: eps ?? 1e-5 }]) }), [n, 1, 1], 'lens_norm');
        encodeDispatch(enc, this.k.lensLogits, bindGroup(this.device, this.k.lensLogits,
          { y, w, logits, params: this.uniform(pool, [n, D, V]) }), [Math.ceil(V / 64), Math.ceil(n / 4), 1], 'lens_logits');
        return this.encodeTopk(pool, enc, logits, n, V, k);
      });
      const t = topK(ids, vals, probs, n, k);
      out.ids.set(t.ids, r0 * k);
      out.vals.set(t.vals, r0 * k);
      out.probs.set(t.probs, r0 * k);
    }
    return out;
  }

  /** Total variation, KL(before ‖ after) and max |Δp| between the softmaxes of two logit rows. */
  async distDiff(before: Float32Array, after: Float32Array): Promise<{ tv: number; kl: number; maxDiff: number }> {
    if (before.length !== after.length) throw new GPT2TapsError('distribution difference: the rows differ in length');
    const [res] = await this.job('distribution difference', (pool, enc) => {
      const result = pool.create('result', 16, RW);
      encodeDispatch(enc, this.k.distDiff, bindGroup(this.device, this.k.distDiff,
        { a: pool.upload('a', before), b: pool.upload('b', after), result, params: this.uniform(pool, [before.length]) }), [1, 1, 1], 'dist_diff');
      return [result];
    });
    const f = new Float32Array(res, 0, 3);
    return { tv: f[0], kl: f[1], maxDiff: f[2] };
  }
}
