// The device's peak, measured through WebGPU on the device at hand (a roofline in
// numbers): the attainable FMA rate (GFLOP/s) and copy bandwidth (GB/s); and the matmul
// kernel timed alone. The GPU timers are src/engine/timing.ts. Browser-safe.
import peakFmaWGSL from '../../shaders/peak_fma.wgsl';
import peakCopyWGSL from '../../shaders/peak_copy.wgsl';
import { GPT2TapsError } from '../errors.js';
import { bindGroup, createKernel, encodeDispatch, BufferPool, type BindingDecl, type Kernel } from '../engine/gpu.js';
import { GRID, matmulKernel, type MatmulVariant } from '../engine/kernels.js';
import { describeDevice, timeGpu, type TimestampSource } from '../engine/timing.js';

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

export interface PeakOptions {
  /** Grow the FMA grid until one dispatch takes at least this long (ms). Default 20. */
  targetMs?: number;
  /** Bytes copied per copy (clamped to the device's limits). Default 128 MiB. */
  copyBytes?: number;
  /** Timed repetitions of each (median). Default 5. */
  runs?: number;
}

export interface PeakResult {
  device: string;
  /** FMA rate: 2 flops per fma lane, from peak_fma.wgsl. */
  fmaGflops: number;
  /** copyBufferToBuffer: (bytes read + bytes written) / time. */
  copyGBps: number;
  /** Compute-shader copy (peak_copy.wgsl): (bytes read + bytes written) / time. */
  shaderCopyGBps: number;
  /** The roofline's bandwidth: the larger of the two copies. */
  bandwidthGBps: number;
  timestamps: TimestampSource;
  rounded: boolean;
  fma: { workgroups: number; threads: number; flops: number; ms: number };
  copy: { bytes: number; ms: number };
  shaderCopy: { bytes: number; ms: number };
}

const FMA_ITER = 256;
const FMA_FLOPS_PER_THREAD = 128 * FMA_ITER;

/** Measures the attainable FMA rate and copy bandwidth of `device`. */
export async function measurePeak(device: GPUDevice, opts: PeakOptions = {}): Promise<PeakResult> {
  const { targetMs = 20, runs = 5 } = opts;
  const pool = new BufferPool(device);
  try {
    return await withValidation(device, 'the peak microbenchmark', () => peak(device, pool, targetMs, runs, opts.copyBytes));
  } finally {
    pool.destroyAll();
  }
}

async function peak(device: GPUDevice, pool: BufferPool, targetMs: number, runs: number, copyBytes?: number): Promise<PeakResult> {
  // FMA: start small, grow the grid until a dispatch lasts targetMs, then time it.
  const fma = await createKernel(device, 'peak_fma', PEAK_SOURCES.peak_fma, PEAK_FMA_BINDINGS, { ITER: FMA_ITER });
  const seed = pool.upload('peak seed', new Float32Array([0.999, 0.999, 0.999, 0.999, 1e-3, 1e-3, 1e-3, 1e-3]));
  const out = pool.create('peak out', 16, GPUBufferUsage.STORAGE);
  const fmaGroup = bindGroup(device, fma, { seed, out });
  const maxWorkgroups = device.limits.maxComputeWorkgroupsPerDimension * 64;
  let workgroups = 32;
  let t = await timeGpu(device, (e, tw) => encodeDispatch(e, fma, fmaGroup, grid2d(device, workgroups), 'peak_fma', tw), { runs: 1, warmup: 1 });
  while (t.ms < targetMs && workgroups < maxWorkgroups) {
    const grow = Math.min(16, Math.max(2, Math.ceil(targetMs / Math.max(t.ms, 1e-3))));
    workgroups = Math.min(maxWorkgroups, workgroups * grow);
    t = await timeGpu(device, (e, tw) => encodeDispatch(e, fma, fmaGroup, grid2d(device, workgroups), 'peak_fma', tw), { runs: 1, warmup: 0 });
  }
  const fmaT = await timeGpu(device, (e, tw) => encodeDispatch(e, fma, fmaGroup, grid2d(device, workgroups), 'peak_fma', tw), { runs, warmup: 1 });
  const grid = grid2d(device, workgroups);
  const threads = grid[0] * grid[1] * 256;
  const flops = threads * FMA_FLOPS_PER_THREAD;

  // Copies: one large buffer, copyBufferToBuffer and a compute-shader copy.
  const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
  const bytes = Math.floor(Math.min(copyBytes ?? 128 * 2 ** 20, limit) / 4096) * 4096;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = pool.create('peak copy src', bytes, usage);
  const dst = pool.create('peak copy dst', bytes, usage);
  const copyT = await timeGpu(device, (e, tw) => around(e, tw, () => e.copyBufferToBuffer(src, 0, dst, 0, bytes)), { runs, warmup: 1 });
  const copyKernel = await createKernel(device, 'peak_copy', PEAK_SOURCES.peak_copy, PEAK_COPY_BINDINGS, {});
  const copyGroup = bindGroup(device, copyKernel, { src, dst });
  const copyGrid = grid2d(device, Math.ceil(bytes / 16 / 256));
  const shaderT = await timeGpu(device, (e, tw) => encodeDispatch(e, copyKernel, copyGroup, copyGrid, 'peak_copy', tw), { runs, warmup: 1 });

  const copyGBps = (2 * bytes) / (copyT.ms * 1e6);
  const shaderCopyGBps = (2 * bytes) / (shaderT.ms * 1e6);
  return {
    device: describeDevice(device),
    fmaGflops: flops / (fmaT.ms * 1e6),
    copyGBps,
    shaderCopyGBps,
    bandwidthGBps: Math.max(copyGBps, shaderCopyGBps),
    timestamps: fmaT.timestamps,
    rounded: fmaT.rounded || copyT.rounded || shaderT.rounded,
    fma: { workgroups: grid[0] * grid[1], threads, flops, ms: fmaT.ms },
    copy: { bytes, ms: copyT.ms },
    shaderCopy: { bytes, ms: shaderT.ms },
  };
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
