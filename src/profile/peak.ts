// The device's peak, measured through WebGPU on the device at hand (a roofline in
// numbers): the attainable FMA rate (GFLOP/s) and copy bandwidth (GB/s), each sized to a target
// time and reported as the median of several runs with their spread; and the matmul kernel timed alone. The GPU timers are src/engine/timing.ts. Browser-safe.
import peakFmaWGSL from '../../shaders/peak_fma.wgsl';
import peakCopyWGSL from '../../shaders/peak_copy.wgsl';
import { GPT2TapsError } from '../errors.js';
import { bindGroup, createKernel, encodeDispatch, BufferPool, type BindingDecl, type Kernel } from '../engine/gpu.js';
import { GRID, matmulKernel, type MatmulVariant } from '../engine/kernels.js';
import { describeDevice, median, timeGpu, type TimestampSource } from '../engine/timing.js';

export const PEAK_FMA_BINDINGS: BindingDecl[] = [
  { binding: 0, name: 'seed', access: 'read' },
  { binding: 1, name: 'out', access: 'read_write' },
];
export const PEAK_COPY_BINDINGS: BindingDecl[] = [
  { binding: 0, name: 'src', access: 'read' },
  { binding: 1, name: 'dst', access: 'read_write' },
];
export const PEAK_SOURCES = { peak_fma: peakFmaWGSL, peak_copy: peakCopyWGSL } as const;

/** Wraps non-pass work (copies) between two empty passes that carry the timestamps. */
export function around(encoder: GPUCommandEncoder, tw: GPUComputePassTimestampWrites | undefined, work: () => void): void {
  if (tw) encoder.beginComputePass({ label: 'timestamp', timestampWrites: { querySet: tw.querySet, beginningOfPassWriteIndex: tw.beginningOfPassWriteIndex } }).end();
  work();
  if (tw) encoder.beginComputePass({ label: 'timestamp', timestampWrites: { querySet: tw.querySet, endOfPassWriteIndex: tw.endOfPassWriteIndex } }).end();
}

/** A 1-D count of workgroups as a (x, y, 1) grid within maxComputeWorkgroupsPerDimension. */
export function grid2d(device: GPUDevice, workgroups: number): [number, number, number] {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups <= max) return [workgroups, 1, 1];
  const y = Math.ceil(workgroups / max);
  return [Math.ceil(workgroups / y), y, 1];
}

/** Runs `body` inside a validation error scope, turning a validation error into a GPT2TapsError. */
async function withValidation<T>(device: GPUDevice, what: string, body: () => Promise<T>): Promise<T> {
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = await body();
  } finally {
    const err = await device.popErrorScope();
    if (err) throw new GPT2TapsError(`GPU validation error in ${what}: ${err.message}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------
// Peak FMA rate and copy bandwidth
//
// A peak taken from one short run is noise: a GPU that has just left idle runs at a fraction
// of its clock for the first milliseconds, and a dispatch of a few ms is over before it
// ramps up. So each of the three microbenchmarks first sizes its work (sizeToTarget: more
// workgroups for the FMA kernel, more copies per timed pass for the copies) until one timed
// run lasts at least targetMs, or its cap is reached; then runs `warmup` untimed and `runs`
// timed repetitions at that size back to back in one submit, and reports their median and
// spread (runStats). The FMA kernel's flop count is checked by running it once more with
// seeds that make its result exact (checkFma).

export interface PeakOptions {
  /** Grow each benchmark's work until one timed run takes at least this long (ms). Default 25. */
  targetMs?: number;
  /** Timed repetitions of each, reported as their median; at least 5 (fewer are raised to 5). Default 7. */
  runs?: number;
  /** Untimed repetitions at full size before the timed ones (same submit). Default 2. */
  warmup?: number;
  /** Bytes per copy (clamped to the device's limits). Default 128 MiB. */
  copyBytes?: number;
  /** FMA loop trips per thread (the kernel's ITER; 1 to 65536). Default 256. */
  fmaIter?: number;
  /** Cap on the FMA grid, in workgroups. Default 4 194 304 (less where the device's grid limit is lower). */
  maxFmaWorkgroups?: number;
  /** Cap on copies per timed run. Default 1024. */
  maxCopies?: number;
  /** Run the FMA checksum (checkFma) at the timed size. Default true. */
  verify?: boolean;
}

/** Median, extremes and spread of the timed runs of one benchmark. */
export interface RunStats {
  /** Median of the samples (ms). */
  ms: number;
  minMs: number;
  maxMs: number;
  /** (max − min) / median: the relative spread of the runs. */
  spread: number;
  /** Every timed run (ms), in order. */
  samples: number[];
}

/** One step of sizeToTarget: the size tried and what one run at that size took. */
export interface SizingStep { scale: number; ms: number }

export interface Sizing {
  /** The size chosen: the first whose run reached the target, or the cap. */
  scale: number;
  /** What one run at that size took during sizing (ms). */
  ms: number;
  /** True when the cap stopped the growth before a run reached the target. */
  capped: boolean;
  steps: SizingStep[];
}

export interface PeakResult {
  device: string;
  /** FMA rate: 2 flops per fma lane, from peak_fma.wgsl; flops over the median run. */
  fmaGflops: number;
  /** copyBufferToBuffer: (bytes read + bytes written) / median time. */
  copyGBps: number;
  /** Compute-shader copy (peak_copy.wgsl): (bytes read + bytes written) / median time. */
  shaderCopyGBps: number;
  /** The roofline's bandwidth: the larger of the two copies. */
  bandwidthGBps: number;
  timestamps: TimestampSource;
  rounded: boolean;
  /** The settings the figures were taken with. */
  targetMs: number;
  runs: number;
  warmup: number;
  fma: RunStats & {
    workgroups: number; threads: number; iter: number; flopsPerThread: number;
    /** Flops of one timed run (one dispatch). */
    flops: number;
    /** The FMA rate of the slowest and the fastest run (GFLOP/s). */
    gflopsMin: number; gflopsMax: number;
    capped: boolean; sizing: SizingStep[];
    /** The checksum: threads whose result was exact, of `threads` (null when not run). */
    verifiedThreads: number | null;
  };
  /** bytes: one copy's size; copies: copies per timed run. */
  copy: RunStats & { bytes: number; copies: number; capped: boolean; sizing: SizingStep[] };
  shaderCopy: RunStats & { bytes: number; copies: number; capped: boolean; sizing: SizingStep[] };
}

export const MIN_PEAK_RUNS = 5;
const FMA_WORKGROUP = 256;
/** Flops per thread of peak_fma.wgsl: 2 (mul+add) · 4 lanes · 8 chains · 2 steps per trip. */
export const FMA_FLOPS_PER_TRIP = 128;
/** The checksum value of peak_fma.wgsl for ITER trips: the sum of the 8 chains of thread 0. */
export const fmaChecksum = (iter: number): number => 28 + 16 * iter;

/** Median, min, max and relative spread of some timings (ms). */
export function runStats(samples: readonly number[]): RunStats {
  if (samples.length === 0) throw new GPT2TapsError('internal: no timed runs to summarise');
  const ms = median(samples);
  const minMs = Math.min(...samples), maxMs = Math.max(...samples);
  return { ms, minMs, maxMs, spread: ms > 0 ? (maxMs - minMs) / ms : 0, samples: [...samples] };
}

/**
 * Grows a benchmark's size until one run lasts at least targetMs or the size reaches maxScale.
 * measure(scale) times one run at that size (ms). From `start`, each step multiplies the size
 * by about 1.25·target/measured (at least 2, at most 16: a run far too short, e.g. one
 * that only measures launch cost, does not jump far past the target).
 */
export async function sizeToTarget(measure: (scale: number) => Promise<number>,
  { start, targetMs, maxScale }: { start: number; targetMs: number; maxScale: number }): Promise<Sizing> {
  if (!(start >= 1 && maxScale >= 1 && targetMs > 0)) throw new GPT2TapsError(`internal: bad sizing (start ${start}, max ${maxScale}, target ${targetMs})`);
  let scale = Math.min(Math.floor(start), Math.floor(maxScale));
  const steps: SizingStep[] = [];
  for (;;) {
    const ms = await measure(scale);
    steps.push({ scale, ms });
    if (ms >= targetMs) return { scale, ms, capped: false, steps };
    if (scale >= maxScale) return { scale, ms, capped: true, steps };
    const grow = Math.min(16, Math.max(2, Math.ceil((1.25 * targetMs) / Math.max(ms, 1e-6))));
    scale = Math.min(Math.floor(maxScale), scale * grow);
  }
}

/** Measures the attainable FMA rate and copy bandwidth of `device`. */
export async function measurePeak(device: GPUDevice, opts: PeakOptions = {}): Promise<PeakResult> {
  const pool = new BufferPool(device);
  try {
    return await withValidation(device, 'the peak microbenchmark', () => peak(device, pool, opts));
  } finally {
    pool.destroyAll();
  }
}

/** The timing seeds of peak_fma.wgsl: m ≈ 0.999, c = 1e-3, no thread ever matches. */
const FMA_TIMING_SEEDS = [0.999, 0.999, 0.999, 0.999, 1e-3, 1e-3, 1e-3, 1e-3, -1e30, 0, 0, 0];

function checkIter(iter: number): number {
  if (!(Number.isInteger(iter) && iter >= 1 && iter <= 65536)) throw new GPT2TapsError(`fmaIter must be an integer from 1 to 65536, got ${iter}`);
  return iter;
}

/**
 * Sizes the work, then times `runs` repetitions after `warmup`: each sizing step takes the
 * faster of two runs after one warm-up at that size (interference only adds time); when the timed runs end up under half the target (the clock
 * rose after sizing), sizing resumes from there, once.
 */
async function sized(device: GPUDevice, encodeAt: (scale: number) => (e: GPUCommandEncoder, tw?: GPUComputePassTimestampWrites) => void,
  start: number, maxScale: number, targetMs: number, runs: number, warmup: number) {
  const measure = async (scale: number) => Math.min(...(await timeGpu(device, encodeAt(scale), { runs: 2, warmup: 1 })).samples);
  let s = await sizeToTarget(measure, { start, targetMs, maxScale });
  let t = await timeGpu(device, encodeAt(s.scale), { runs, warmup });
  if (t.ms < targetMs / 2 && s.scale < maxScale) {
    const again = await sizeToTarget(measure, { start: Math.min(maxScale, 2 * s.scale), targetMs, maxScale });
    s = { ...again, steps: [...s.steps, ...again.steps] };
    t = await timeGpu(device, encodeAt(s.scale), { runs, warmup });
  }
  return { sizing: s, timed: t, stats: runStats(t.samples) };
}

async function peak(device: GPUDevice, pool: BufferPool, opts: PeakOptions): Promise<PeakResult> {
  const targetMs = opts.targetMs ?? 25;
  const runs = Math.max(MIN_PEAK_RUNS, opts.runs ?? 7);
  const warmup = opts.warmup ?? 2;
  const iter = checkIter(opts.fmaIter ?? 256);
  if (!(targetMs > 0)) throw new GPT2TapsError(`targetMs must be positive, got ${targetMs}`);
  if (!(Number.isInteger(runs) && Number.isInteger(warmup) && warmup >= 0)) throw new GPT2TapsError(`runs and warmup must be integers (got ${runs}, ${warmup})`);

  // FMA: grow the grid (workgroups) until one dispatch lasts targetMs.
  const fma = await createKernel(device, 'peak_fma', PEAK_SOURCES.peak_fma, PEAK_FMA_BINDINGS, { ITER: iter });
  const seed = pool.upload('peak seed', new Float32Array(FMA_TIMING_SEEDS));
  const out = pool.create('peak out', 4 * FMA_WORKGROUP, GPUBufferUsage.STORAGE);
  const fmaGroup = bindGroup(device, fma, { seed, out });
  const maxWorkgroups = Math.min(opts.maxFmaWorkgroups ?? 2 ** 22, device.limits.maxComputeWorkgroupsPerDimension * 64);
  const f = await sized(device, (wg) => (e, tw) => encodeDispatch(e, fma, fmaGroup, grid2d(device, wg), 'peak_fma', tw),
    Math.min(32, maxWorkgroups), maxWorkgroups, targetMs, runs, warmup);
  const grid = grid2d(device, f.sizing.scale);
  const workgroups = grid[0] * grid[1];
  const threads = workgroups * FMA_WORKGROUP;
  const flopsPerThread = FMA_FLOPS_PER_TRIP * iter;
  const flops = threads * flopsPerThread;
  let verifiedThreads: number | null = null;
  if (opts.verify ?? true) {
    verifiedThreads = await fmaChecksumRun(device, pool, fma, grid, fmaChecksum(iter));
    if (verifiedThreads !== threads) {
      throw new GPT2TapsError(`the FMA microbenchmark's checksum failed: ${verifiedThreads} of ${threads} threads computed the expected sum, ` +
        'so its flop count (and the FMA peak) cannot be trusted on this device');
    }
  }

  // Copies: one large buffer, copied `copies` times per timed run by copyBufferToBuffer and by a compute shader.
  const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
  const bytes = Math.floor(Math.min(opts.copyBytes ?? 128 * 2 ** 20, limit) / 4096) * 4096;
  if (bytes < 4096) throw new GPT2TapsError(`copyBytes must be at least 4096, got ${opts.copyBytes}`);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = pool.create('peak copy src', bytes, usage);
  const dst = pool.create('peak copy dst', bytes, usage);
  const maxCopies = Math.max(1, Math.floor(opts.maxCopies ?? 1024));
  const c = await sized(device, (k) => (e, tw) => around(e, tw, () => {
    for (let i = 0; i < k; i++) e.copyBufferToBuffer(src, 0, dst, 0, bytes);
  }), 1, maxCopies, targetMs, runs, warmup);
  const copyKernel = await createKernel(device, 'peak_copy', PEAK_SOURCES.peak_copy, PEAK_COPY_BINDINGS, {});
  const copyGroup = bindGroup(device, copyKernel, { src, dst });
  const copyGrid = grid2d(device, Math.ceil(bytes / 16 / 256));
  const sc = await sized(device, (k) => (e, tw) => {
    const pass = e.beginComputePass(tw ? { label: 'peak_copy', timestampWrites: tw } : { label: 'peak_copy' });
    pass.setPipeline(copyKernel.pipeline);
    pass.setBindGroup(0, copyGroup);
    for (let i = 0; i < k; i++) pass.dispatchWorkgroups(copyGrid[0], copyGrid[1], copyGrid[2]);
    pass.end();
  }, 1, maxCopies, targetMs, runs, warmup);

  const copyGBps = (2 * bytes * c.sizing.scale) / (c.stats.ms * 1e6);
  const shaderCopyGBps = (2 * bytes * sc.sizing.scale) / (sc.stats.ms * 1e6);
  return {
    device: describeDevice(device),
    fmaGflops: flops / (f.stats.ms * 1e6),
    copyGBps,
    shaderCopyGBps,
    bandwidthGBps: Math.max(copyGBps, shaderCopyGBps),
    timestamps: f.timed.timestamps,
    rounded: f.timed.rounded || c.timed.rounded || sc.timed.rounded,
    targetMs, runs, warmup,
    fma: {
      ...f.stats, workgroups, threads, iter, flopsPerThread, flops,
      gflopsMin: flops / (f.stats.maxMs * 1e6), gflopsMax: flops / (f.stats.minMs * 1e6),
      capped: f.sizing.capped, sizing: f.sizing.steps, verifiedThreads,
    },
    copy: { ...c.stats, bytes, copies: c.sizing.scale, capped: c.sizing.capped, sizing: c.sizing.steps },
    shaderCopy: { ...sc.stats, bytes, copies: sc.sizing.scale, capped: sc.sizing.capped, sizing: sc.sizing.steps },
  };
}

/** Runs peak_fma once with the checksum seeds (m = 1, c = 1): the threads whose sum was `expected` + 8·lid (the sum of out[]). */
async function fmaChecksumRun(device: GPUDevice, pool: BufferPool, kernel: Kernel, grid: [number, number, number], expected: number): Promise<number> {
  const seed = pool.upload('peak checksum seed', new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, expected, 0, 0, 0]));
  const out = pool.upload('peak checksum out', new Uint32Array(FMA_WORKGROUP), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  const read = pool.create('peak checksum read', 4 * FMA_WORKGROUP, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const enc = device.createCommandEncoder({ label: 'peak checksum' });
  encodeDispatch(enc, kernel, bindGroup(device, kernel, { seed, out }), grid, 'peak_fma checksum');
  enc.copyBufferToBuffer(out, 0, read, 0, 4 * FMA_WORKGROUP);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const n = new Uint32Array(read.getMappedRange().slice(0)).reduce((a, b) => a + b, 0);
  read.unmap();
  return n;
}

/**
 * The FMA kernel's checksum on its own: runs peak_fma.wgsl with ITER = iter on `workgroups`
 * workgroups, seeded so that every thread's result is exact, and returns how many threads
 * computed exactly 16·ITER vec4 fmas' worth (threads: how many ran).
 */
export async function checkFma(device: GPUDevice, { workgroups, iter, expected }: { workgroups: number; iter: number; expected?: number }):
  Promise<{ threads: number; matched: number; flops: number }> {
  checkIter(iter);
  const pool = new BufferPool(device);
  try {
    return await withValidation(device, 'the FMA checksum', async () => {
      const kernel = await createKernel(device, 'peak_fma', PEAK_SOURCES.peak_fma, PEAK_FMA_BINDINGS, { ITER: iter });
      const grid = grid2d(device, workgroups);
      const threads = grid[0] * grid[1] * FMA_WORKGROUP;
      // `expected` (for tests): the checksum the host expects, by default that of ITER = iter.
      const matched = await fmaChecksumRun(device, pool, kernel, grid, expected ?? fmaChecksum(iter));
      return { threads, matched, flops: threads * FMA_FLOPS_PER_TRIP * iter };
    });
  } finally {
    pool.destroyAll();
  }
}

// ---------------------------------------------------------------------------------
// One matmul kernel on its own, for its fraction of the FMA peak

export interface MatmulOptions {
  M: number; K: number; N: number;
  /** Epilogue variant (default: bias only, as attn.c_attn). */
  variant?: Partial<MatmulVariant>;
  runs?: number;
  warmup?: number;
}

export interface MatmulTiming {
  M: number; K: number; N: number;
  variant: MatmulVariant;
  ms: number;
  flops: number;       // 2·M·K·N
  gflops: number;
  timestamps: TimestampSource;
  rounded: boolean;
}

/** Times the project's matmul kernel (src/engine/kernels.ts) on random data of the given shape. */
export async function measureMatmul(device: GPUDevice, opts: MatmulOptions): Promise<MatmulTiming> {
  const { M, K, N, runs = 5, warmup = 1 } = opts;
  const variant: MatmulVariant = { bias: true, gelu: false, residual: false, transposeB: false, ...opts.variant };
  const pool = new BufferPool(device);
  try {
    return await withValidation(device, `timing matmul ${M}×${K}×${N}`, () => matmul(device, pool, M, K, N, variant, runs, warmup));
  } finally {
    pool.destroyAll();
  }
}

async function matmul(device: GPUDevice, pool: BufferPool, M: number, K: number, N: number, variant: MatmulVariant,
  runs: number, warmup: number): Promise<MatmulTiming> {
  const kernel: Kernel = await matmulKernel(device, K, N, variant);
  const rand = (n: number) => {
    const a = new Float32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; a[i] = (s / 2 ** 32 - 0.5) * 0.1; }
    return a;
  };
  const rw = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const buffers: Record<string, GPUBuffer> = {
    x: pool.upload('x', rand(M * K)),
    w: pool.upload('w', rand(K * N)),
    y: pool.create('y', 4 * M * N, rw),
    params: pool.upload('params', new Uint32Array([M, 1, 0, 0]), GPUBufferUsage.UNIFORM),
  };
  if (variant.bias) buffers.b = pool.upload('b', rand(N));
  if (variant.residual) buffers.r = pool.create('r', 4 * M * N, rw);
  const group = bindGroup(device, kernel, buffers, `matmul ${M}x${K}x${N}`);
  const t = await timeGpu(device, (e, tw) => encodeDispatch(e, kernel, group, GRID.matmul(M, N), 'matmul', tw), { runs, warmup });
  const flops = 2 * M * K * N;
  return { M, K, N, variant, ms: t.ms, flops, gflops: flops / (t.ms * 1e6), timestamps: t.timestamps, rounded: t.rounded };
}
