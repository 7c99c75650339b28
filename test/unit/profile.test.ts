// The profiler (src/profile/profile.ts) and the device-peak microbenchmark (src/profile/peak.ts) on the
// Node backend: the per-kernel rows cover every dispatch of a forward pass, and their GPU
// times add up to the GPU-timestamped forward (first timestamp to last) within 10%.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { formatProfile, groupSteps, kernelGroup, profileForward, type ProfileReport } from '../../src/profile/profile.js';
import { measurePeak, PEAK_COPY_BINDINGS, PEAK_FMA_BINDINGS, PEAK_SOURCES, type PeakResult } from '../../src/profile/peak.js';
import { RoundingDetector } from '../../src/engine/timing.js';
import { profileCommand } from '../../src/node/profile-command.js';

const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url).pathname;
let device: GPUDevice;
let model: GPT2;
let peak: PeakResult;
let report: ProfileReport;
const ids = Array.from({ length: 17 }, (_, i) => (i * 7919) % 50257);

beforeAll(async () => {
  device = (await nodeDevice()).device;
  model = await GPT2.load(MODEL, { device });
  peak = await measurePeak(device, { targetMs: 5, copyBytes: 8 * 2 ** 20, runs: 2 });
  report = await profileForward(model, ids, { runs: 2, warmup: 1, peak, forward: false });
}, 120_000);
afterAll(() => {
  model?.dispose();
  device?.destroy();
});

describe('peak microbenchmark', () => {
  it('returns positive finite FMA rate and copy bandwidths', () => {
    for (const v of [peak.fmaGflops, peak.copyGBps, peak.shaderCopyGBps, peak.bandwidthGBps]) {
      expect(Number.isFinite(v) && v > 0, String(v)).toBe(true);
    }
    expect(peak.bandwidthGBps).toBe(Math.max(peak.copyGBps, peak.shaderCopyGBps));
    expect(peak.timestamps).toBe('gpu');
  });

  it('declares the bindings its WGSL files use', () => {
    for (const [code, table] of [[PEAK_SOURCES.peak_fma, PEAK_FMA_BINDINGS], [PEAK_SOURCES.peak_copy, PEAK_COPY_BINDINGS]] as const) {
      const declared = [...code.matchAll(/@binding\((\d+)\)\s*var<(\w+)(?:,\s*(\w+))?>\s*(\w+)/g)]
        .map((m) => ({ binding: Number(m[1]), name: m[4], access: m[3] }));
      expect(declared).toEqual(table);
      expect(code).toMatch(/^\/\/ peak_\w+ — /);
      expect(code).toMatch(/Bindings \(group 0\):/);
      expect(code).toMatch(/Dispatch:/);
    }
  });
});

describe('profileForward', () => {
  it('has a row for every dispatch of the forward pass, every label accounted for', () => {
    const steps = model.dispatches(ids.length);
    expect(report.dispatches).toBe(steps.length);
    expect(report.rows.reduce((a, r) => a + r.calls, 0)).toBe(steps.length);
    const kernels = new Set(report.rows.map((r) => r.kernel));
    for (const s of steps) expect(kernels.has(kernelGroup(s.label)), s.label).toBe(true);
    // T = 17 on the tiny model: both c_proj layers split K, so each has a reduce step.
    expect([...kernels]).toEqual(['embedding', 'ln_1', 'attn.c_attn', 'attn.attention', 'attn.c_proj', 'attn.c_proj.reduce', 'ln_2', 'mlp.c_fc',
      'mlp.c_proj', 'mlp.c_proj.reduce', 'ln_f', 'lm_head']);
    const L = model.config.n_layer;
    for (const r of report.rows) expect(r.calls).toBe(['embedding', 'ln_f', 'lm_head'].includes(r.kernel) ? 1 : L);
    expect(report.rows.reduce((a, r) => a + r.flops, 0)).toBe(steps.reduce((a, s) => a + s.flops, 0));
  });

  it('per-kernel GPU times add up to within 10% of the GPU-timestamped forward pass', () => {
    expect(report.timestamps).toBe('gpu');
    expect(report.rounded).toBe(false);
    const sum = report.kernelSumMs!, span = report.gpuSpanMs!;
    expect(sum).toBeGreaterThan(0);
    expect(Math.abs(sum - span) / span, `kernels ${sum} ms, forward ${span} ms`).toBeLessThanOrEqual(0.1);
    for (const r of report.rows) {
      expect(r.totalMs! > 0 && r.meanUs! > 0 && r.gflops! > 0 && r.gbps! > 0, r.kernel).toBe(true);
      expect(r.fmaFraction).toBeCloseTo(r.gflops! / peak.fmaGflops, 9);
    }
    expect(report.rows.reduce((a, r) => a + r.share!, 0)).toBeCloseTo(1, 9);
    expect(formatProfile(report)).toMatch(/mlp\.c_fc\s+linear_gelu\s+3\s/);
  });
});

describe('helpers', () => {
  it('strips the layer prefix and groups in plan order', () => {
    expect(kernelGroup('h.11.mlp.c_fc')).toBe('mlp.c_fc');
    expect(kernelGroup('h.0.attn')).toBe('attn');
    expect(kernelGroup('lm_head')).toBe('lm_head');
    const g = groupSteps(['embedding', 'h.0.ln_1', 'h.1.ln_1', 'ln_f'].map((label) => ({ label })));
    expect([...g]).toEqual([['embedding', [0]], ['ln_1', [1, 2]], ['ln_f', [3]]]);
  });

  it('detects rounded timestamps', () => {
    const exact = new RoundingDetector();
    exact.add([2224546054144n + 7n, 2224547561472n + 311n, 2224547561472n + 1013n, 2224548741120n + 5n]);
    expect(exact.rounded).toBe(false);
    const dawn = new RoundingDetector();
    dawn.add([2224546054144n, 2224547561472n, 2224547561472n, 2224548741120n, 0n]);
    expect(dawn.rounded).toBe(true);
    expect(dawn.quantumNs! % 65536).toBe(0);
    const chrome = new RoundingDetector();
    chrome.add([1000200000n, 1000300000n, 1000300000n, 1000900000n]);
    expect(chrome.quantumNs).toBe(100000);
  });
});

describe('gpt2-taps profile (profileCommand)', () => {
  it('prints the report as JSON for synthetic tokens on the bundled model', async () => {
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => { out.push(String(chunk)); return true; });
    const logged: string[] = [];
    try {
      expect(await profileCommand(['--tokens', '5', '--runs', '1', '--warmup', '0', '--json'], (l) => logged.push(l))).toBe(0);
    } finally {
      write.mockRestore();
    }
    const r = JSON.parse(out.join('')) as ProfileReport;
    expect(r.tokens).toBe(5);
    expect(r.rows.reduce((a, k) => a + k.calls, 0)).toBe(r.dispatches);
    expect(r.forward!.allTaps.taps).toBe(41); // every tap point of the 3-layer model
    expect(r.peak!.fmaGflops).toBeGreaterThan(0);
    expect(r.timestamps).toBe('gpu');
    expect(r.rounded).toBe(false);
    expect(logged.join('\n')).toMatch(/RANDOM weights/);
  }, 120_000);

  it('refuses bad input with exit status 2', async () => {
    const logged: string[] = [];
    expect(await profileCommand(['--runs', '2'], (l) => logged.push(l))).toBe(2);
    expect(await profileCommand(['--tokens', '0'], (l) => logged.push(l))).toBe(2);
    expect(await profileCommand(['--tokens', '3', '--backend', 'gpu'], (l) => logged.push(l))).toBe(2);
    expect(logged.join('\n')).toMatch(/exactly one of --text, --tokens/);
  });

  it('takes a Hugging Face repo id like the other commands (offline with an empty cache: exit 2, naming the repo)', async () => {
    const saved = { offline: process.env.HF_HUB_OFFLINE, cache: process.env.HF_HUB_CACHE };
    process.env.HF_HUB_OFFLINE = '1';
    process.env.HF_HUB_CACHE = mkdtempSync(join(tmpdir(), 'gpt2-taps-profile-cache-'));
    const logged: string[] = [];
    try {
      expect(await profileCommand(['--model', 'someone/a-gpt2', '--tokens', '2'], (l) => logged.push(l))).toBe(2);
    } finally {
      for (const [k, v] of [['HF_HUB_OFFLINE', saved.offline], ['HF_HUB_CACHE', saved.cache]] as const) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
    expect(logged.join('\n')).toMatch(/someone\/a-gpt2/);
    expect(logged.join('\n')).toMatch(/HF_HUB_OFFLINE|offline/i);
  });
});

describe('without timestamp-query', () => {
  it('falls back to the wall clock of the whole forward, and says so', async () => {
    // A second device on the same adapter, without the timestamp-query feature.
    const webgpu = await import('webgpu');
    const gpu = webgpu.create([]);
    const adapter = (await gpu.requestAdapter())!;
    const plain = await adapter.requestDevice();
    expect(plain.features.has('timestamp-query')).toBe(false);
    const m = await GPT2.load(MODEL, { device: plain });
    try {
      const r = await profileForward(m, ids.slice(0, 5), { runs: 1, warmup: 0, peak: false });
      expect(r.timestamps).toBe('wall-clock');
      expect(r.rows.reduce((a, k) => a + k.calls, 0)).toBe(r.dispatches);
      for (const k of r.rows) expect(k.totalMs).toBeNull();
      expect(r.forward!.noTaps.wallMs).toBeGreaterThan(0);
      expect(r.forward!.noTaps.gpuMs).toBeNull();
      expect(r.notes.join(' ')).toMatch(/no timestamp-query/);
      expect(formatProfile(r)).toMatch(/timestamps: none/);
    } finally {
      m.dispose();
      plain.destroy();
    }
    expect(gpu).toBeDefined(); // keeps dawn.node alive until here
  }, 120_000);
});
