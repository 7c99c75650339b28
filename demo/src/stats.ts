// The residual statistics on the GPU: threshold mask, Pearson r of the four panels,
// min/max for the normalisation, and the compacted, normalised points to plot — five
// WGSL kernels (demo/shaders/residual_*.wgsl), float32 throughout, two-pass (means
// first, then centred sums) so r stays accurate to ~1e-6 even at millions of entries.
//   stats(threshold):  residual_sums → residual_totals → residual_centered → residual_pearson,
//                      then one small read-back (kept count, means, min/max, r).
//   points(ranges):    residual_compact, then the read-back of 8 coordinate planes and
//                      the entry index of every kept point.
import { BufferPool, bindGroup, createKernel, encodeDispatch, type Kernel } from '../../src/engine/gpu.js';
import { GPT2TapsError } from '../../src/errors.js';
import sumsSrc from '../shaders/residual_sums.wgsl';
import totalsSrc from '../shaders/residual_totals.wgsl';
import centeredSrc from '../shaders/residual_centered.wgsl';
import pearsonSrc from '../shaders/residual_pearson.wgsl';
import compactSrc from '../shaders/residual_compact.wgsl';

/** Entries per workgroup of the per-entry kernels (64 threads × 16). */
export const CHUNK = 1024;

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

interface Kernels { sums: Kernel; totals: Kernel; centered: Kernel; pearson: Kernel; compact: Kernel }

const STORAGE = GPUBufferUsage.STORAGE;
const RW = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;

export class ResidualGPU {
  private constructor(readonly device: GPUDevice, private readonly kernels: Kernels) {}

  static async create(device: GPUDevice): Promise<ResidualGPU> {
    const rd = (binding: number, name: string) => ({ binding, name, access: 'read' as const });
    const rw = (binding: number, name: string) => ({ binding, name, access: 'read_write' as const });
    const un = (binding: number, name: string) => ({ binding, name, access: 'uniform' as const });
    const xyam = [rd(0, 'x'), rd(1, 'y'), rd(2, 'a'), rd(3, 'm')];
    const [sums, totals, centered, pearson, compact] = await Promise.all([
      createKernel(device, 'residual_sums', sumsSrc, [...xyam, rw(4, 'partials'), rw(5, 'counts'), un(6, 'params')], {}),
      createKernel(device, 'residual_totals', totalsSrc,
        [rd(0, 'partials'), rd(1, 'counts'), rw(2, 'offsets'), rw(3, 'totals'), rw(4, 'kept'), un(5, 'groups')], {}),
      createKernel(device, 'residual_centered', centeredSrc, [...xyam, rd(4, 'totals'), rw(5, 'partials2'), un(6, 'params')], {}),
      createKernel(device, 'residual_pearson', pearsonSrc, [rd(0, 'partials2'), rw(1, 'result'), un(2, 'groups')], {}),
      createKernel(device, 'residual_compact', compactSrc,
        [...xyam, rd(4, 'offsets'), rw(5, 'coords'), rw(6, 'index'), un(7, 'compact')], {}),
    ]);
    return new ResidualGPU(device, { sums, totals, centered, pearson, compact });
  }

  /** Uploads one layer's four [T, D] tensors (hidden_states.l, h.l, attention Δ, MLP Δ). */
  layer(x: Float32Array, y: Float32Array, a: Float32Array, m: Float32Array): GpuLayer {
    const n = x.length;
    if (y.length !== n || a.length !== n || m.length !== n) throw new GPT2TapsError('residual statistics: the four tensors differ in size');
    if (n === 0) throw new GPT2TapsError('residual statistics: no entries');
    const groups = Math.ceil(n / CHUNK);
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (groups > maxGroups) {
      throw new GPT2TapsError(`residual statistics: ${n} entries need ${groups} workgroups, above this device's ${maxGroups}`);
    }
    return new GpuLayer(this.device, this.kernels, x, y, a, m);
  }
}

export class GpuLayer {
  private readonly pool: BufferPool;
  private readonly n: number;
  private readonly groups: number;
  private readonly inputs: Record<'x' | 'y' | 'a' | 'm', GPUBuffer>;
  private readonly partials: GPUBuffer;
  private readonly counts: GPUBuffer;
  private readonly offsets: GPUBuffer;
  private readonly totals: GPUBuffer;
  private readonly kept: GPUBuffer;
  private readonly partials2: GPUBuffer;
  private readonly result: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly groupsParam: GPUBuffer;
  private last?: LayerStats;

  constructor(private readonly device: GPUDevice, private readonly k: Kernels,
    x: Float32Array, y: Float32Array, a: Float32Array, m: Float32Array) {
    this.pool = new BufferPool(device);
    this.n = x.length;
    this.groups = Math.ceil(this.n / CHUNK);
    const p = this.pool;
    const G = this.groups;
    this.inputs = { x: p.upload('x', x, STORAGE), y: p.upload('y', y, STORAGE), a: p.upload('a', a, STORAGE), m: p.upload('m', m, STORAGE) };
    this.partials = p.create('partials', G * 6 * 16, STORAGE);
    this.counts = p.create('counts', G * 4, STORAGE);
    this.offsets = p.create('offsets', G * 4, STORAGE);
    this.totals = p.create('totals', 6 * 16, RW);
    this.kept = p.create('kept', 16, RW);
    this.partials2 = p.create('partials2', G * 3 * 16, STORAGE);
    this.result = p.create('result', 4 * 16, RW);
    this.params = p.create('params', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.groupsParam = p.upload('groups', new Uint32Array([G, 0, 0, 0]), GPUBufferUsage.UNIFORM);
  }

  get entries(): number { return this.n; }

  /** Mask, means, min/max and Pearson r at `threshold`. */
  async stats(threshold: number): Promise<LayerStats> {
    const { device, k, groups: G } = this;
    const params = new ArrayBuffer(16);
    new Uint32Array(params, 0, 1)[0] = this.n;
    new Float32Array(params, 4, 1)[0] = threshold;
    device.queue.writeBuffer(this.params, 0, params);
    const xyam = { ...this.inputs };
    const enc = device.createCommandEncoder({ label: 'residual stats' });
    encodeDispatch(enc, k.sums, bindGroup(device, k.sums, { ...xyam, partials: this.partials, counts: this.counts, params: this.params }), [G, 1, 1], 'residual_sums');
    encodeDispatch(enc, k.totals, bindGroup(device, k.totals,
      { partials: this.partials, counts: this.counts, offsets: this.offsets, totals: this.totals, kept: this.kept, groups: this.groupsParam }), [1, 1, 1], 'residual_totals');
    encodeDispatch(enc, k.centered, bindGroup(device, k.centered, { ...xyam, totals: this.totals, partials2: this.partials2, params: this.params }), [G, 1, 1], 'residual_centered');
    encodeDispatch(enc, k.pearson, bindGroup(device, k.pearson, { partials2: this.partials2, result: this.result, groups: this.groupsParam }), [1, 1, 1], 'residual_pearson');
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
  }
}

async function submitChecked(device: GPUDevice, commands: GPUCommandBuffer): Promise<void> {
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  device.queue.submit([commands]);
  const oom = await device.popErrorScope();
  const err = await device.popErrorScope();
  if (oom) throw new GPT2TapsError(`GPU out of memory in the residual statistics: ${oom.message}`);
  if (err) throw new GPT2TapsError(`GPU validation error in the residual statistics: ${err.message}`);
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
