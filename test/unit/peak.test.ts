// The device-peak microbenchmark (src/profile/peak.ts, shaders/peak_fma.wgsl, shaders/peak_copy.wgsl):
// the sizing grows the work until one run reaches the target time or the cap, the figures are the
// median of the timed runs (with their spread), and the FMA kernel computes the flops it is
// credited with (a checksum read back from the GPU). No test here asserts a speed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { nodeDevice } from '../../src/node/device.js';
import {
  checkFma, fmaChecksum, FMA_FLOPS_PER_TRIP, measurePeak, MIN_PEAK_RUNS, PEAK_SOURCES, runStats, sizeToTarget, type PeakResult,
} from '../../src/profile/peak.js';
import { median } from '../../src/engine/timing.js';
import { formatPeak } from '../../src/profile/profile.js';

describe('runStats (pure)', () => {
  it('takes the median of an odd and an even number of runs, in any order', () => {
    expect(runStats([5, 1, 3]).ms).toBe(3);
    expect(runStats([4, 1, 3, 2]).ms).toBe(2.5);
    expect(runStats([7]).ms).toBe(7);
    const r = runStats([30, 10, 20, 50, 40]);
    expect(r).toEqual({ ms: 30, minMs: 10, maxMs: 50, spread: 40 / 30, samples: [30, 10, 20, 50, 40] });
  });

  it('is not moved by one outlier (the point of the median), and the spread shows it', () => {
    const r = runStats([20, 21, 19, 20.5, 400]);
    expect(r.ms).toBe(20.5);
    expect(r.spread).toBeCloseTo((400 - 19) / 20.5, 12);
  });

  it('refuses no runs', () => {
    expect(() => runStats([])).toThrow();
  });
});

describe('sizeToTarget (pure)', () => {
  const linear = (msPerUnit: number, log: number[] = []) => async (scale: number) => { log.push(scale); return scale * msPerUnit; };

  it('grows a linear cost until one run reaches the target, never by more than 16× a step', async () => {
    const tried: number[] = [];
    const s = await sizeToTarget(linear(0.001, tried), { start: 32, targetMs: 25, maxScale: 2 ** 22 });
    expect(s.capped).toBe(false);
    expect(s.ms).toBeGreaterThanOrEqual(25);
    expect(s.scale * 0.001).toBe(s.ms);
    // the step before fell short of the target: it stopped at the first size that reached it
    expect(s.steps.at(-2)!.ms).toBeLessThan(25);
    expect(s.steps.map((x) => x.scale)).toEqual(tried);
    for (let i = 1; i < tried.length; i++) {
      expect(tried[i] / tried[i - 1]).toBeGreaterThanOrEqual(2);
      expect(tried[i] / tried[i - 1]).toBeLessThanOrEqual(16);
    }
  });

  it('stops at the cap, and says so, when the target is out of reach', async () => {
    const s = await sizeToTarget(linear(0.001), { start: 1, targetMs: 1e9, maxScale: 1000 });
    expect(s).toMatchObject({ scale: 1000, capped: true });
    expect(s.ms).toBe(1);
    // a timer that reads 0 (rounded timestamps on a fast device) also ends at the cap, not in a loop
    const z = await sizeToTarget(async () => 0, { start: 3, targetMs: 20, maxScale: 5000 });
    expect(z).toMatchObject({ scale: 5000, capped: true });
    expect(z.steps.length).toBeLessThanOrEqual(5);
  });

  it('keeps the first size when it already reaches the target', async () => {
    const s = await sizeToTarget(linear(10), { start: 4, targetMs: 25, maxScale: 100 });
    expect(s).toEqual({ scale: 4, ms: 40, capped: false, steps: [{ scale: 4, ms: 40 }] });
  });

  it('grows in proportion to the shortfall (a size that is 10× too short gets 13×: 1.25·target/measured, rounded up)', async () => {
    const s = await sizeToTarget(linear(1), { start: 2, targetMs: 20, maxScale: 1e6 });
    expect(s.steps.map((x) => x.scale)).toEqual([2, 26]);
  });
});

describe('peak_fma.wgsl counts what it computes', () => {
  it('does 16 vec4 fmas per loop trip: 128 flops, as the header and FMA_FLOPS_PER_TRIP say', () => {
    const code = PEAK_SOURCES.peak_fma;
    const loop = code.match(/for \(var i = 0u; i < ITER; i\+\+\) \{([^}]*)\}/)![1];
    const fmas = loop.match(/fma\(/g)!.length;
    expect(fmas).toBe(16);
    expect(fmas * 4 /* vec4 lanes */ * 2 /* mul + add */).toBe(FMA_FLOPS_PER_TRIP);
    expect(code).toMatch(/= 128·ITER per thread/);
    expect(code).toMatch(/8·lid \+ 28 \+ 16·ITER/);
    expect(fmaChecksum(256)).toBe(28 + 16 * 256);
  });
});

describe('on the Node backend (SwiftShader here)', () => {
  let device: GPUDevice;
  let peak: PeakResult;
  const targetMs = 10;
  beforeAll(async () => {
    device = (await nodeDevice()).device;
    // ITER 4 makes one dispatch of the first grid (4 MFLOP) far shorter than the target, so the sizing must grow it.
    peak = await measurePeak(device, { targetMs, fmaIter: 4, copyBytes: 4 * 2 ** 20, runs: 5, warmup: 1 });
  }, 120_000);
  afterAll(() => device?.destroy());

  it('the checksum matches on every thread, and on none when the host expects one trip more', async () => {
    for (const [workgroups, iter] of [[3, 1], [40, 64], [7, 300]]) {
      const r = await checkFma(device, { workgroups, iter });
      expect(r.threads).toBe(workgroups * 256);
      expect(r.matched, `${workgroups} workgroups, ITER ${iter}`).toBe(r.threads);
      expect(r.flops).toBe(r.threads * 128 * iter);
      const wrong = await checkFma(device, { workgroups, iter, expected: fmaChecksum(iter + 1) });
      expect(wrong.matched).toBe(0);
    }
  });

  it('reports finite, positive figures, checksum verified', () => {
    for (const v of [peak.fmaGflops, peak.copyGBps, peak.shaderCopyGBps, peak.bandwidthGBps, peak.fma.gflopsMin, peak.fma.gflopsMax]) {
      expect(Number.isFinite(v) && v > 0, String(v)).toBe(true);
    }
    expect(peak.fma.verifiedThreads).toBe(peak.fma.threads);
    expect(peak.fma.threads).toBe(peak.fma.workgroups * 256);
    expect(peak.fma.flops).toBe(peak.fma.threads * peak.fma.flopsPerThread);
    expect(peak.fma.flopsPerThread).toBe(128 * 4);
    expect(peak.bandwidthGBps).toBe(Math.max(peak.copyGBps, peak.shaderCopyGBps));
  });

  it('sized each benchmark until a run reached the target time, or hit its cap', () => {
    for (const b of [peak.fma, peak.copy, peak.shaderCopy]) {
      const last = b.sizing.at(-1)!;
      expect(last.ms >= targetMs || b.capped, JSON.stringify(b.sizing)).toBe(true);
      for (let i = 1; i < b.sizing.length; i++) expect(b.sizing[i].scale).toBeGreaterThan(b.sizing[i - 1].scale);
    }
    // ITER 4 on 32 workgroups is far below 10 ms even on SwiftShader: the grid must have grown.
    expect(peak.fma.sizing.length).toBeGreaterThan(1);
    expect(peak.fma.workgroups).toBeGreaterThan(32);
    expect(peak.fma.sizing.at(-1)!.scale).toBeLessThanOrEqual(peak.fma.workgroups);
  });

  it('reports the median of the timed runs (runs raised to 5), with their spread', () => {
    expect(peak.runs).toBe(MIN_PEAK_RUNS);
    for (const b of [peak.fma, peak.copy, peak.shaderCopy]) {
      expect(b.samples).toHaveLength(5);
      expect(b.ms).toBe(median(b.samples));
      expect(b.minMs).toBe(Math.min(...b.samples));
      expect(b.maxMs).toBe(Math.max(...b.samples));
      expect(b.spread).toBeCloseTo((b.maxMs - b.minMs) / b.ms, 12);
    }
    expect(peak.fmaGflops).toBeCloseTo(peak.fma.flops / (peak.fma.ms * 1e6), 9);
    expect(peak.fma.gflopsMin).toBeLessThanOrEqual(peak.fmaGflops);
    expect(peak.fma.gflopsMax).toBeGreaterThanOrEqual(peak.fmaGflops);
    expect(peak.copyGBps).toBeCloseTo((2 * peak.copy.bytes * peak.copy.copies) / (peak.copy.ms * 1e6), 9);
    expect(peak.shaderCopyGBps).toBeCloseTo((2 * peak.shaderCopy.bytes * peak.shaderCopy.copies) / (peak.shaderCopy.ms * 1e6), 9);
    expect(formatPeak(peak)).toMatch(/median of 5 runs/);
    expect(formatPeak(peak)).toMatch(/checksum ok/);
  });

  it('stops at the caps, and says so', async () => {
    const p = await measurePeak(device, { targetMs: 1e6, fmaIter: 1, maxFmaWorkgroups: 8, maxCopies: 2, copyBytes: 65536, runs: 1, warmup: 0 });
    expect(p.fma).toMatchObject({ workgroups: 8, capped: true, verifiedThreads: 8 * 256 });
    expect(p.copy).toMatchObject({ copies: 2, capped: true, bytes: 65536 });
    expect(p.shaderCopy).toMatchObject({ copies: 2, capped: true });
    expect(p.fma.samples).toHaveLength(MIN_PEAK_RUNS);
    expect(formatPeak(p)).toMatch(/CAPPED/);
  });
});
