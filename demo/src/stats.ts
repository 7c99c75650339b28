// The residual statistics on the GPU: threshold mask, Pearson r of the four panels,
// min/max for the normalisation, and the compacted, normalised points to plot — three
// WGSL kernels (demo/shaders/residual_*.wgsl), float32 throughout, one pass over the data
// with centred sums (Welford per thread, pairwise merges) so r stays accurate to ~1e-6
// even at millions of entries with large offsets.
// A layer's four tensors are GPU buffers: a run's own tap buffers (model.runOnGpu, no
// read-back) or, where only arrays exist (the all-layers view, tests), uploaded ones.
//   stats(threshold):  residual_sums → residual_totals, then one small read-back (kept
//                      count, means, min/max, r).
//   points(ranges):    residual_compact, then the read-back of 8 coordinate planes and
//                      the entry index of every kept point (regl-scatterplot's input; the
//                      WebGPU layer, scatter-gpu.ts, reads the tensors themselves instead).
import { BufferPool, bindGroup, createKernel, encodeDispatch, type Kernel } from '../../src/engine/gpu.js';
import { GPT2TapsError } from '../../src/errors.js';
import sumsSrc from '../shaders/residual_sums.wgsl';
import totalsSrc from '../shaders/residual_totals.wgsl';
import compactSrc from '../shaders/residual_compact.wgsl';

/** Entries per workgroup of the per-entry kernels (64 threads × 64). */
export const CHUNK = 4096;

type Vec4 = [number, number, number, number];

export interface LayerStats {
  threshold: number;
  total: number;   // N = T·D
  kept: number;    // K, entries left by the mask
  /** Pearson r of panels 1–4 (NaN when fewer than two points are kept). */
  r: Vec4;
  meanU: Vec4; meanV: Vec4;
  minU: Vec4; minV: Vec4; maxU: Vec4; maxV: Vec4;
}

export interface Ranges { loU: Vec4; hiU: Vec4; loV: Vec4; hiV: Vec4 }

export interface LayerPoints {
  /** 8 planes of K floats in [-1, 1]: u of panels 1–4, then v of panels 1–4. */
  coords: Float32Array;
  /** Entry index t·D + d of each point. */
  index: Uint32Array;
  kept: number;
}

/**
 * One layer's four [T, D] tensors on the GPU (float32, row-major, STORAGE usage):
 * x = hidden_states.l, y = h.l, a = h.l.attn.c_proj, m = h.l.mlp.c_proj.
 */
export interface LayerBuffers { x: GPUBuffer; y: GPUBuffer; a: GPUBuffer; m: GPUBuffer }

interface Kernels { sums: Kernel; totals: Kernel; compact: Kernel }

const STORAGE = GPUBufferUsage.STORAGE;
const RW = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;

export class ResidualGPU {
  private constructor(readonly device: GPUDevice, private readonly kernels: Kernels) {}

  static async create(device: GPUDevice): Promise<ResidualGPU> {
    const rd = (binding: number, name: string) => ({ binding, name, access: 'read' as const });
    const rw = (binding: number, name: string) => ({ binding, name, access: 'read_write' as const });
    const un = (binding: number, name: string) => ({ binding, name, access: 'uniform' as const });
    const xyam = [rd(0, 'x'), rd(1, 'y'), rd(2, 'a'), rd(3, 'm')];
    const [sums, totals, compact] = await Promise.all([
      createKernel(device, 'residual_sums', sumsSrc, [...xyam, rw(4, 'partials'), rw(5, 'counts'), un(6, 'params')], {}),
      createKernel(device, 'residual_totals', totalsSrc,
        [rd(0, 'partials'), rd(1, 'counts'), rw(2, 'offsets'), rw(3, 'totals'), rw(4, 'kept'), rw(5, 'result'), un(6, 'groups')], {}),
      createKernel(device, 'residual_compact', compactSrc,
        [...xyam, rd(4, 'offsets'), rw(5, 'coords'), rw(6, 'index'), un(7, 'compact')], {}),
    ]);
    return new ResidualGPU(device, { sums, totals, compact });
  }

  /**
   * A layer over four tensors already on the GPU, of n entries each. `release` runs on
   * destroy() (e.g. the run's GpuTaps.destroy()); without it the buffers stay the caller's.
   */
  layer(buffers: LayerBuffers, n: number, release?: () => void): GpuLayer {
    if (n === 0) throw new GPT2TapsError('residual statistics: no entries');
    for (const [name, b] of Object.entries(buffers)) {
      if (b.size < n * 4) throw new GPT2TapsError(`residual statistics: tensor ${name} holds ${b.size / 4} floats, fewer than ${n}`);
    }
    const groups = Math.ceil(n / CHUNK);
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (groups > maxGroups) {
      throw new GPT2TapsError(`residual statistics: ${n} entries need ${groups} workgroups, above this device's ${maxGroups}`);
    }
    return new GpuLayer(this.device, this.kernels, buffers, n, release);
  }

  /** Uploads one layer's four [T, D] arrays (where no run left them on the GPU); the layer owns the copies. */
  upload(x: Float32Array, y: Float32Array, a: Float32Array, m: Float32Array): GpuLayer {
    const n = x.length;
    if (y.length !== n || a.length !== n || m.length !== n) throw new GPT2TapsError('residual statistics: the four tensors differ in size');
    if (n === 0) throw new GPT2TapsError('residual statistics: no entries');
    const pool = new BufferPool(this.device);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC; // as a run's tap buffers
    const buffers = { x: pool.upload('x', x, usage), y: pool.upload('y', y, usage), a: pool.upload('a', a, usage), m: pool.upload('m', m, usage) };
    try {
      return this.layer(buffers, n, () => pool.destroyAll());
    } catch (e) {
      pool.destroyAll();
      throw e;
    }
  }
}

export class GpuLayer {
  private readonly pool: BufferPool;
  private readonly n: number;
  private readonly groups: number;
  private readonly partials: GPUBuffer;
  private readonly counts: GPUBuffer;
  private readonly offsets: GPUBuffer;
  private readonly totals: GPUBuffer;
  private readonly kept: GPUBuffer;
  private readonly result: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly groupsParam: GPUBuffer;
  private last?: LayerStats;

  constructor(readonly device: GPUDevice, private readonly k: Kernels,
    /** The four tensors (read by the kernels, never written). */
    readonly inputs: LayerBuffers, n: number, private readonly release?: () => void) {
    this.pool = new BufferPool(device);
    this.n = n;
    this.groups = Math.ceil(this.n / CHUNK);
    const p = this.pool;
    const G = this.groups;
    this.partials = p.create('partials', G * 64 * 9 * 16, STORAGE); // one per thread of residual_sums
    this.counts = p.create('counts', G * 64 * 4, STORAGE);
    this.offsets = p.create('offsets', G * 4, STORAGE);
    this.totals = p.create('totals', 6 * 16, RW);
    this.kept = p.create('kept', 16, RW);
    this.result = p.create('result', 4 * 16, RW);
    this.params = p.create('params', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.groupsParam = p.upload('groups', new Uint32Array([G, 0, 0, 0]), GPUBufferUsage.UNIFORM);
  }

  get entries(): number { return this.n; }

  /** The statistics of the last stats() call. */
  get lastStats(): LayerStats | undefined { return this.last; }

  /** The four values (x, y, a, m) of entry e, read back from the tensors (hover, tests). */
  async values(e: number): Promise<[number, number, number, number]> {
    if (!(Number.isInteger(e) && e >= 0 && e < this.n)) throw new GPT2TapsError(`internal: entry ${e} out of range 0..${this.n - 1}`);
    const staging = this.pool.create('values read-back', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const enc = this.device.createCommandEncoder({ label: 'residual values' });
      (['x', 'y', 'a', 'm'] as const).forEach((name, j) => enc.copyBufferToBuffer(this.inputs[name], e * 4, staging, j * 4, 4));
      await submitChecked(this.device, enc.finish());
      await staging.mapAsync(GPUMapMode.READ);
      const [x, y, a, m] = new Float32Array(staging.getMappedRange().slice(0));
      staging.unmap();
      return [x, y, a, m];
    } finally {
      this.pool.destroy(staging);
    }
  }

  /** Mask, means, min/max and Pearson r at `threshold`. */
  async stats(threshold: number): Promise<LayerStats> {
    const { device, k, groups: G } = this;
    const params = new ArrayBuffer(16);
    new Uint32Array(params, 0, 1)[0] = this.n;
    new Float32Array(params, 4, 1)[0] = threshold;
    device.queue.writeBuffer(this.params, 0, params);
    const enc = device.createCommandEncoder({ label: 'residual stats' });
    encodeDispatch(enc, k.sums, bindGroup(device, k.sums, { ...this.inputs, partials: this.partials, counts: this.counts, params: this.params }), [G, 1, 1], 'residual_sums');
    encodeDispatch(enc, k.totals, bindGroup(device, k.totals, {
      partials: this.partials, counts: this.counts, offsets: this.offsets, totals: this.totals, kept: this.kept, result: this.result, groups: this.groupsParam,
    }), [1, 1, 1], 'residual_totals');
    const staging = this.pool.create('stats read-back', 6 * 16 + 16 + 4 * 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    enc.copyBufferToBuffer(this.totals, 0, staging, 0, 96);
    enc.copyBufferToBuffer(this.kept, 0, staging, 96, 16);
    enc.copyBufferToBuffer(this.result, 0, staging, 112, 64);
    try {
      await submitChecked(device, enc.finish());
      await staging.mapAsync(GPUMapMode.READ);
      const bytes = staging.getMappedRange().slice(0);
      staging.unmap();
      const f = new Float32Array(bytes);
      const kept = new Uint32Array(bytes, 96, 1)[0];
      const v4 = (o: number): Vec4 => [f[o], f[o + 1], f[o + 2], f[o + 3]];
      const r = v4(28 + 12);
      this.last = {
        threshold, total: this.n, kept,
        r: kept < 2 ? [NaN, NaN, NaN, NaN] : r,
        meanU: v4(0), meanV: v4(4), minU: v4(8), minV: v4(12), maxU: v4(16), maxV: v4(20),
      };
      return this.last;
    } finally {
      this.pool.destroy(staging);
    }
  }

  /** The kept entries as normalised coordinates (needs stats() first, same threshold). */
  async points(ranges: Ranges): Promise<LayerPoints> {
    const s = this.last;
    if (!s) throw new GPT2TapsError('internal: points() before stats()');
    const K = s.kept;
    if (K === 0) return { coords: new Float32Array(0), index: new Uint32Array(0), kept: 0 };
    const { device, k, groups: G } = this;
    const scale = (lo: number, hi: number) => 2 / (hi - lo);
    const params = new ArrayBuffer(80);
    const u = new Uint32Array(params, 0, 4);
    u[0] = this.n; u[2] = K;
    new Float32Array(params, 4, 1)[0] = s.threshold;
    new Float32Array(params, 16, 16).set([
      ...ranges.loU, ...ranges.loV,
      ...ranges.loU.map((lo, i) => scale(lo, ranges.hiU[i])), ...ranges.loV.map((lo, i) => scale(lo, ranges.hiV[i])),
    ]);
    const uniform = this.pool.create('compact params', 80, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(uniform, 0, params);
    const coords = this.pool.create('coords', 8 * K * 4, RW);
    const index = this.pool.create('index', K * 4, RW);
    const staging = this.pool.create('points read-back', 9 * K * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const enc = device.createCommandEncoder({ label: 'residual points' });
      encodeDispatch(enc, k.compact, bindGroup(device, k.compact,
        { ...this.inputs, offsets: this.offsets, coords, index, compact: uniform }), [G, 1, 1], 'residual_compact');
      enc.copyBufferToBuffer(coords, 0, staging, 0, 8 * K * 4);
      enc.copyBufferToBuffer(index, 0, staging, 8 * K * 4, K * 4);
      await submitChecked(device, enc.finish());
      await staging.mapAsync(GPUMapMode.READ);
      const range = staging.getMappedRange();
      const out = {
        coords: new Float32Array(range.slice(0, 8 * K * 4)),
        index: new Uint32Array(range.slice(8 * K * 4, 9 * K * 4)),
        kept: K,
      };
      staging.unmap();
      return out;
    } finally {
      for (const b of [uniform, coords, index, staging]) this.pool.destroy(b);
    }
  }

  destroy(): void {
    this.pool.destroyAll();
    this.release?.();
  }
}

/** Submits inside error scopes; a validation or out-of-memory error becomes a GPT2TapsError naming `what`. */
export async function submitChecked(device: GPUDevice, commands: GPUCommandBuffer, what = 'the residual statistics'): Promise<void> {
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  device.queue.submit([commands]);
  const oom = await device.popErrorScope();
  const err = await device.popErrorScope();
  if (oom) throw new GPT2TapsError(`GPU out of memory in ${what}: ${oom.message}`);
  if (err) throw new GPT2TapsError(`GPU validation error in ${what}: ${err.message}`);
}

/**
 * The normalisation of each panel: panels 1, 3 and 4 compare like with like, so x and
 * y share one range (the identity line is the diagonal); panel 2 (attention Δ vs MLP Δ)
 * keeps one range per axis. `stats` may be several layers (the all-layers view).
 */
export function panelRanges(stats: LayerStats[]): Ranges {
  const loU: Vec4 = [Infinity, Infinity, Infinity, Infinity];
  const loV: Vec4 = [...loU];
  const hiU: Vec4 = [-Infinity, -Infinity, -Infinity, -Infinity];
  const hiV: Vec4 = [...hiU];
  for (const s of stats) {
    if (s.kept === 0) continue;
    for (let p = 0; p < 4; p++) {
      loU[p] = Math.min(loU[p], s.minU[p]); hiU[p] = Math.max(hiU[p], s.maxU[p]);
      loV[p] = Math.min(loV[p], s.minV[p]); hiV[p] = Math.max(hiV[p], s.maxV[p]);
    }
  }
  for (let p = 0; p < 4; p++) {
    if (p !== 1) {
      const lo = Math.min(loU[p], loV[p]), hi = Math.max(hiU[p], hiV[p]);
      loU[p] = loV[p] = lo; hiU[p] = hiV[p] = hi;
    }
    [loU[p], hiU[p]] = padRange(loU[p], hiU[p]);
    [loV[p], hiV[p]] = padRange(loV[p], hiV[p]);
  }
  return { loU, hiU, loV, hiV };
}

function padRange(lo: number, hi: number): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [-1, 1];
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(lo), Math.abs(hi))) return [lo - 1, hi + 1];
  return [lo, hi];
}
