// Per-kernel GPU profiling of the forward pass, through the model's public run(): a dispatch
// given timestampWrites gets a compute pass of its own, and run({ timestampWrites }) puts
// query 2i at the beginning of dispatch i and 2i+1 at its end. Dispatches (model.dispatches(), the declared
// forward of src/engine/forward.ts, with each one's cost) are grouped by label without the
// layer prefix ('h.3.mlp.c_fc' → 'mlp.c_fc') and set against the device's measured peak
// (src/profile/peak.ts). Where timestamp-query is missing, only the whole forward is timed,
// by the wall clock, and the report says so. Browser-safe.
import { GPT2TapsError } from '../errors.js';
import { KERNELS, type KernelName } from '../engine/kernels.js';
import type { Dispatch } from '../engine/forward.js';
import type { GPT2 } from '../engine/model.js';
import { measurePeak, type PeakResult } from './peak.js';
import {
  PassTimer, RoundingDetector, describeDevice, hasTimestamps, median, passMs, type TimestampSource,
} from '../engine/timing.js';

export interface ProfileOptions {
  /** Timed forward passes (after warm-up). Default 10. */
  runs?: number;
  /** Untimed forward passes first. Default 3. */
  warmup?: number;
  /** Taps copied during the per-kernel runs (the copies sit between passes, untimed; the pass still runs whole). Default none. */
  taps?: readonly string[] | 'all';
  /** The device peak to compare against; measured (measurePeak) when not given; false: none. */
  peak?: PeakResult | false;
  /** How to name the device in the report (default: the adapter info). */
  device?: string;
  /** Also time the whole forward with no taps and with all taps (3 more sets of runs). Default true. */
  forward?: boolean;
}

/** One kernel (all dispatches with the same label once the layer prefix is stripped). */
export interface KernelRow {
  kernel: string;          // e.g. 'mlp.c_fc'
  shader: string;          // the WGSL file: matmul, attention, layernorm, embedding, splitk_reduce
  variant: KernelName;     // the kernel variant of the catalogue (src/engine/kernels.ts), e.g. linear_gelu
  calls: number;           // dispatches per forward pass
  totalMs: number | null;  // GPU time per forward pass (mean over runs); null without timestamps
  meanUs: number | null;   // per call
  share: number | null;    // of the sum over all kernels
  flops: number;           // per forward pass (the variant's cost formulas)
  bytes: number;           // per forward pass
  gflops: number | null;   // achieved: flops / time
  gbps: number | null;     // achieved: bytes / time
  fmaFraction: number | null;        // gflops / measured FMA peak
  bandwidthFraction: number | null;  // gbps / measured copy bandwidth
  bound: 'compute' | 'memory';       // which roofline limit its arithmetic intensity meets (or flop/byte > 1 without a peak)
  formula: string;         // how flops and bytes are counted: the variant's cost formulas, as evaluated
}

export interface ForwardTiming {
  taps: number;            // taps read back
  wallMs: number;          // median: model.run() until its taps are read back (no taps: and onSubmittedWorkDone)
  gpuMs: number | null;    // median: first pass's beginning to last pass's end (tap copies included)
}

export interface ProfileReport {
  device: string;
  tokens: number;
  runs: number;
  warmup: number;
  timestamps: TimestampSource;
  /** Whether the GPU timestamps were rounded (quantised); quantumNs is the rounding step seen. */
  rounded: boolean;
  quantumNs?: number;
  dispatches: number;          // plan length: dispatches per forward pass
  droppedSamples: number;      // negative or unwritten durations dropped
  rows: KernelRow[];
  /** Sum of the rows' GPU time per forward; and the same runs timed first timestamp to last. */
  kernelSumMs: number | null;
  gpuSpanMs: number | null;
  /** The whole forward with no taps and with all taps (null when not asked for). */
  forward: {
    noTaps: ForwardTiming;
    allTaps: ForwardTiming;
    /** allTaps over noTaps − 1 (GPU span where there are timestamps, else wall clock, read-back included). */
    tapsOverhead: number;
  } | null;
  peak: PeakResult | null;
  notes: string[];
}

/** 'h.3.mlp.c_fc' → 'mlp.c_fc'; labels outside the blocks ('embedding', 'ln_f', 'lm_head') stay. */
export function kernelGroup(label: string): string {
  return label.replace(/^h\.\d+\./, '');
}

/** The cost formulas of a kernel variant, as the profile shows them. */
export function formula(kernel: KernelName): string {
  const { flops, bytes } = KERNELS[kernel].cost;
  return `flops ${flops}; bytes ${bytes}`;
}

/** Groups the dispatches of a plan by kernelGroup(label), in order of first appearance. */
export function groupSteps(steps: readonly Pick<Dispatch, 'label'>[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  steps.forEach((s, i) => {
    const g = kernelGroup(s.label);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(i);
  });
  return groups;
}

/**
 * Profiles the forward pass of `model` on `ids`: per-kernel GPU time from timestamps,
 * the whole forward with no taps and with all taps, against the device's measured peak.
 */
export async function profileForward(model: GPT2, ids: ArrayLike<number>, opts: ProfileOptions = {}): Promise<ProfileReport> {
  const { runs = 10, warmup = 3 } = opts;
  if (!(Number.isInteger(runs) && runs >= 1)) throw new GPT2TapsError(`runs must be a positive integer, got ${runs}`);
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new GPT2TapsError(`warmup must be a non-negative integer, got ${warmup}`);
  const device = model.device;
  const input = model.checkIds(ids);
  const T = input.length;
  const gpu = hasTimestamps(device);
  const notes: string[] = [];
  const peak = opts.peak === false ? null : opts.peak ?? await measurePeak(device);
  const rounding = new RoundingDetector();

  device.pushErrorScope('validation');
  let failure: unknown;
  try {
    // 1. Per-kernel: every pass timed, the pass run whole (with the taps asked for, if any).
    const taps = opts.taps ?? [];
    const steps = model.dispatches(T, { taps, whole: true });
    const n = steps.length;
    const sums = new Float64Array(n);
    const counts = new Uint32Array(n);
    const spans: number[] = [];
    let dropped = 0;
    if (gpu) {
      const timer = new PassTimer(device, n);
      try {
        for (let r = 0; r < warmup + runs; r++) {
          await model.run(input, { taps, whole: true, timestampWrites: (i) => timer.writes(i) });
          device.queue.submit([timer.resolve()]);
          const t = await timer.read();
          if (r < warmup) continue;
          rounding.add(t);
          for (let i = 0; i < n; i++) {
            const ms = passMs(t, i);
            if (ms === undefined) { dropped++; continue; }
            sums[i] += ms;
            counts[i]++;
          }
          const span = Number(t[2 * n - 1] - t[0]) / 1e6;
          if (span >= 0 && t[0] !== 0n) spans.push(span);
        }
      } finally {
        timer.destroy();
      }
    } else {
      notes.push('this device has no timestamp-query: per-kernel times are unavailable; the whole forward is timed by the wall clock');
    }

    const rows: KernelRow[] = [];
    for (const [kernel, idx] of groupSteps(steps)) {
      const variant = steps[idx[0]].kernel;
      const flops = idx.reduce((a, i) => a + steps[i].flops, 0);
      const bytes = idx.reduce((a, i) => a + steps[i].bytes, 0);
      let totalMs: number | null = null;
      if (gpu) {
        // Mean per dispatch over the samples kept, times the dispatches per forward.
        totalMs = idx.reduce((a, i) => a + (counts[i] > 0 ? sums[i] / counts[i] : 0), 0);
      }
      const gflops = totalMs ? flops / (totalMs * 1e6) : null;
      const gbps = totalMs ? bytes / (totalMs * 1e6) : null;
      const intensity = flops / bytes;
      rows.push({
        kernel, shader: KERNELS[variant].shader, variant, calls: idx.length, totalMs,
        meanUs: totalMs === null ? null : (totalMs * 1000) / idx.length,
        share: null, flops, bytes, gflops, gbps,
        fmaFraction: peak && gflops !== null ? gflops / peak.fmaGflops : null,
        bandwidthFraction: peak && gbps !== null ? gbps / peak.bandwidthGBps : null,
        bound: intensity > (peak ? peak.fmaGflops / peak.bandwidthGBps : 1) ? 'compute' : 'memory',
        formula: formula(variant),
      });
    }
    const kernelSumMs = gpu ? rows.reduce((a, r) => a + (r.totalMs ?? 0), 0) : null;
    for (const r of rows) r.share = kernelSumMs && r.totalMs !== null ? r.totalMs / kernelSumMs : null;
    const gpuSpanMs = spans.length > 0 ? spans.reduce((a, b) => a + b, 0) / spans.length : null;

    // 2. The whole forward, no taps and all taps: wall clock (run() until its taps are read
    // back), and the GPU span from the first dispatch's beginning to the last one's end.
    const once = async (kind: 'none' | 'all'): Promise<{ wall: number; gpu?: number }> => {
      const tapsOf = kind === 'all' ? 'all' : [];
      const last = model.dispatches(T, { taps: tapsOf }).length - 1;
      const timer = gpu ? new PassTimer(device, last + 1) : undefined;
      try {
        const t0 = performance.now();
        await model.run(input, {
          taps: tapsOf,
          timestampWrites: timer ? (i) => (i === 0 || i === last ? timer.writes(i, i === 0, i === last) : undefined) : undefined,
        });
        if (kind === 'none') await device.queue.onSubmittedWorkDone();
        const wall = performance.now() - t0;
        if (!timer) return { wall };
        device.queue.submit([timer.resolve()]);
        const t = await timer.read();
        rounding.add([t[0], t[2 * last + 1]]);
        const span = Number(t[2 * last + 1] - t[0]) / 1e6;
        return { wall, gpu: span >= 0 && t[0] !== 0n ? span : undefined };
      } finally {
        timer?.destroy();
      }
    };
    let forward: ProfileReport['forward'] = null;
    if (opts.forward ?? true) {
      // Interleaved (none, all) so that drift in the device's speed hits both alike.
      const kinds = ['none', 'all'] as const;
      const walls: number[][] = [[], []];
      const gpus: number[][] = [[], []];
      for (let r = 0; r < warmup + runs; r++) {
        for (const [k, kind] of kinds.entries()) {
          const t = await once(kind);
          if (r < warmup) continue;
          walls[k].push(t.wall);
          if (t.gpu !== undefined) gpus[k].push(t.gpu);
        }
      }
      const timing = (k: number) => ({ wallMs: median(walls[k]), gpuMs: gpus[k].length > 0 ? median(gpus[k]) : null });
      const none = timing(0), all = timing(1);
      forward = {
        noTaps: { taps: 0, ...none },
        allTaps: { taps: model.dispatches(T, { taps: 'all' }).reduce((a, d) => a + d.taps.length, 0), ...all },
        tapsOverhead: none.gpuMs !== null && all.gpuMs !== null ? all.gpuMs / none.gpuMs - 1 : all.wallMs / none.wallMs - 1,
      };
    }

    if (rounding.rounded) {
      notes.push(`GPU timestamps were rounded to multiples of ${(rounding.quantumNs! / 1000).toFixed(3)} µs: per-kernel times are unreliable ` +
        '(Chrome: start it with --enable-dawn-features=allow_unsafe_apis; Dawn: disable-dawn-features=timestamp_quantization)');
    }
    if (dropped > 0) notes.push(`${dropped} negative or unwritten GPU durations were dropped`);

    return {
      device: opts.device ?? describeDevice(device),
      tokens: T, runs, warmup,
      timestamps: gpu ? 'gpu' : 'wall-clock',
      rounded: rounding.rounded,
      ...(rounding.quantumNs !== undefined ? { quantumNs: rounding.quantumNs } : {}),
      dispatches: steps.length,
      droppedSamples: dropped,
      rows, kernelSumMs, gpuSpanMs,
      forward,
      peak,
      notes,
    };
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    const err = await device.popErrorScope();
    if (err && !failure) throw new GPT2TapsError(`GPU validation error while profiling: ${err.message}`);
  }
}

// ---------------------------------------------------------------------------------
// Text output

const fx = (v: number | null, d: number) => (v === null || !Number.isFinite(v) ? '—' : v.toFixed(d));
const pct = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(v < 0.1 ? 2 : 1)}%`);

/** A fixed-width table; columns right-aligned except the first and last. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 || c === r.length - 1 ? v.padEnd(w[c]) : v.padStart(w[c]))).join('  ').trimEnd();
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

/** The peak figures, one line each: medians of the timed runs, with their spread (max − min over median). */
export function formatPeak(p: PeakResult): string {
  const spread = (r: { spread: number; capped: boolean }) => `±${(50 * r.spread).toFixed(1)}%${r.capped ? ', CAPPED below the target time' : ''}`;
  const gf = (v: number) => v.toFixed(v < 100 ? 2 : 0);
  return [
    `device peak (measured, median of ${p.runs} runs after ${p.warmup} warm-up, each sized to ≥ ${p.targetMs} ms): ` +
      `FMA ${gf(p.fmaGflops)} GFLOP/s (runs ${gf(p.fma.gflopsMin)}–${gf(p.fma.gflopsMax)}, ${spread(p.fma)}; ` +
      `${p.fma.workgroups} workgroups × 256 threads, ${(p.fma.flops / 1e9).toFixed(2)} GFLOP in ${p.fma.ms.toFixed(2)} ms` +
      `${p.fma.verifiedThreads === null ? '' : ', checksum ok'})`,
    `  copy bandwidth (read + write): copyBufferToBuffer ${p.copyGBps.toFixed(1)} GB/s (${spread(p.copy)}, ${p.copy.copies}× per run), ` +
      `compute-shader copy ${p.shaderCopyGBps.toFixed(1)} GB/s (${spread(p.shaderCopy)}, ${p.shaderCopy.copies}× per run) ` +
      `of ${(p.copy.bytes / 2 ** 20).toFixed(0)} MiB; roofline bandwidth ${p.bandwidthGBps.toFixed(1)} GB/s`,
    `  timed with ${p.timestamps === 'gpu' ? 'GPU timestamps' : 'the wall clock'}${p.timestamps === 'gpu' ? `, ${p.rounded ? 'ROUNDED' : 'not rounded'}` : ''}`,
  ].join('\n');
}

/** The report as text: one row per kernel, then the whole forward, the peak and the timestamps. */
export function formatProfile(r: ProfileReport): string {
  const out: string[] = [];
  out.push(`device: ${r.device}`);
  out.push(`T=${r.tokens} tokens, ${r.dispatches} dispatches per forward pass, mean of ${r.runs} runs after ${r.warmup} warm-up`);
  out.push('');
  out.push(table(
    ['kernel', 'variant', 'calls', 'total ms', 'mean µs', 'share', 'GFLOP/s', 'GB/s', '%FMA peak', '%BW peak', 'bound', 'flops; bytes (per call)'],
    r.rows.map((k) => [
      k.kernel, k.variant, String(k.calls), fx(k.totalMs, 3), fx(k.meanUs, 1), pct(k.share), fx(k.gflops, 2), fx(k.gbps, 2),
      pct(k.fmaFraction), pct(k.bandwidthFraction), k.bound, k.formula,
    ]),
  ));
  if (r.kernelSumMs !== null) {
    out.push(`sum over kernels ${r.kernelSumMs.toFixed(3)} ms; same runs, first timestamp to last ${fx(r.gpuSpanMs, 3)} ms`);
  }
  const f = r.forward;
  if (f) {
    const gpuCol = (t: ForwardTiming) => (t.gpuMs === null ? '' : `, GPU ${t.gpuMs.toFixed(3)} ms`);
    const sign = f.tapsOverhead >= 0 ? '+' : '';
    out.push('');
    out.push(`whole forward, no taps:  wall ${f.noTaps.wallMs.toFixed(3)} ms${gpuCol(f.noTaps)}`);
    out.push(`whole forward, all taps: wall ${f.allTaps.wallMs.toFixed(3)} ms${gpuCol(f.allTaps)}  ` +
      `(${sign}${(100 * f.tapsOverhead).toFixed(1)}% ${f.noTaps.gpuMs !== null ? 'GPU' : 'wall'}; ${f.allTaps.taps} taps)`);
    out.push('  (wall: run() until done, with all taps until every one is read back, median; GPU: first pass begin to last pass end, median)');
  }
  out.push('');
  if (r.peak) out.push(formatPeak(r.peak));
  else out.push('device peak: not measured');
  out.push(r.timestamps === 'gpu'
    ? `timestamps: GPU (timestamp-query), ${r.rounded ? `ROUNDED to ${((r.quantumNs ?? 0) / 1000).toFixed(3)} µs` : 'not rounded'}`
    : 'timestamps: none (no timestamp-query): wall clock of the whole forward only');
  for (const n of r.notes) out.push(`note: ${n}`);
  return out.join('\n');
}
