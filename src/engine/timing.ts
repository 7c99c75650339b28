// GPU timing, for the profiler and for choosing kernel variants by measurement: timestamp
// queries around compute passes, with a wall-clock fallback, and a check for rounded
// (quantised) timestamps. Browser-safe.
import { GPT2TapsError } from '../errors.js';

export type TimestampSource = 'gpu' | 'wall-clock';

/** Whether `device` can write GPU timestamps around compute passes. */
export function hasTimestamps(device: GPUDevice): boolean {
  return device.features.has('timestamp-query');
}

/** A description of the device: adapter vendor / architecture / device / description. */
export function describeDevice(device: GPUDevice): string {
  const i = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const parts = i ? [i.vendor, i.architecture, i.device, i.description].filter(Boolean) : [];
  return parts.length > 0 ? [...new Set(parts)].join(' / ') : 'unknown WebGPU device';
}

/**
 * A timestamp query set for `passes` compute passes: pass i writes its beginning into
 * query 2i and its end into 2i+1. Resolve after the passes, submit, then read().
 */
export class PassTimer {
  readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;

  constructor(readonly device: GPUDevice, readonly passes: number) {
    if (!hasTimestamps(device)) throw new GPT2TapsError('internal: PassTimer needs the timestamp-query feature');
    const count = 2 * passes;
    this.querySet = device.createQuerySet({ label: 'pass timer', type: 'timestamp', count });
    this.resolveBuffer = device.createBuffer({ label: 'pass timer resolve', size: 8 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readBuffer = device.createBuffer({ label: 'pass timer read', size: 8 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** timestampWrites for pass i (either end may be left out). */
  writes(i: number, begin = true, end = true): GPUComputePassTimestampWrites {
    return {
      querySet: this.querySet,
      ...(begin ? { beginningOfPassWriteIndex: 2 * i } : {}),
      ...(end ? { endOfPassWriteIndex: 2 * i + 1 } : {}),
    };
  }

  /** A command buffer that copies the timestamps out; submit it after the timed work. */
  resolve(): GPUCommandBuffer {
    const enc = this.device.createCommandEncoder({ label: 'pass timer resolve' });
    enc.resolveQuerySet(this.querySet, 0, 2 * this.passes, this.resolveBuffer, 0);
    enc.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 16 * this.passes);
    return enc.finish();
  }

  /** The raw timestamps in ns: [begin0, end0, begin1, end1, …]. Unwritten queries read 0. */
  async read(): Promise<bigint[]> {
    await this.readBuffer.mapAsync(GPUMapMode.READ);
    const t = Array.from(new BigUint64Array(this.readBuffer.getMappedRange().slice(0)));
    this.readBuffer.unmap();
    return t;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}

/** Duration of pass i in ms (end − begin), or undefined when negative or not written. */
export function passMs(t: readonly bigint[], i: number): number | undefined {
  const b = t[2 * i], e = t[2 * i + 1];
  if (b === undefined || e === undefined || b === 0n || e === 0n || e < b) return undefined;
  return Number(e - b) / 1e6;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/**
 * Whether GPU timestamps were rounded: the greatest common divisor of every nonzero
 * timestamp seen is at least 1 µs (Dawn quantises to multiples of 65 536 ns, older Chrome
 * to 100 µs; an exact clock gives a gcd of a few ns at most). quantumNs is that gcd.
 */
export class RoundingDetector {
  private g = 0n;
  private n = 0;
  add(timestamps: readonly bigint[]): void {
    for (const t of timestamps) {
      if (t === 0n) continue;
      this.g = gcd(t, this.g);
      this.n++;
    }
  }
  get rounded(): boolean { return this.n >= 4 && this.g >= 1000n; }
  get quantumNs(): number | undefined { return this.rounded ? Number(this.g) : undefined; }
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Timed { ms: number; samples: number[]; timestamps: TimestampSource; rounded: boolean; quantumNs?: number }

/**
 * Times `runs` repetitions (after `warmup`) of some GPU work, median in ms. `encode` adds
 * one repetition to the encoder; given timestampWrites, it puts their beginning before and
 * their end after the work (`around` below does that for non-pass work such as copies).
 * With timestamp-query all repetitions go in one submit and each is timed on the GPU;
 * without it, each repetition is its own submit, timed by the wall clock until the queue is done.
 */
export async function timeGpu(device: GPUDevice,
  encode: (encoder: GPUCommandEncoder, tw?: GPUComputePassTimestampWrites) => void,
  { runs = 5, warmup = 1 }: { runs?: number; warmup?: number } = {}): Promise<Timed> {
  const total = warmup + runs;
  if (hasTimestamps(device)) {
    const timer = new PassTimer(device, total);
    try {
      const enc = device.createCommandEncoder({ label: 'timed' });
      for (let i = 0; i < total; i++) encode(enc, timer.writes(i));
      device.queue.submit([enc.finish(), timer.resolve()]);
      const t = await timer.read();
      const rounding = new RoundingDetector();
      rounding.add(t);
      const samples: number[] = [];
      for (let i = warmup; i < total; i++) {
        const ms = passMs(t, i);
        if (ms !== undefined) samples.push(ms);
      }
      if (samples.length === 0) throw new GPT2TapsError('every GPU timestamp read back was zero or negative');
      return { ms: median(samples), samples, timestamps: 'gpu', rounded: rounding.rounded, quantumNs: rounding.quantumNs };
    } finally {
      timer.destroy();
    }
  }
  const samples: number[] = [];
  for (let i = 0; i < total; i++) {
    const t0 = performance.now();
    const enc = device.createCommandEncoder({ label: 'timed' });
    encode(enc);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i >= warmup) samples.push(performance.now() - t0);
  }
  return { ms: median(samples), samples, timestamps: 'wall-clock', rounded: false };
}
