// scripts/gpu-vs-hf.mjs, the GPU benchmark against Hugging Face (bench/gpu-run.sh runs it on a GPU
// machine), end to end on the Node backend (SwiftShader here) with the bundled tiny model: --local
// checks parity against test/fixtures/gpt2-tiny's references and writes vs-hf.json in the
// benchmark's schema, Hugging Face's columns null. A second run in hf_peer.py's folder layout
// (ids-T.json, ref-T.safetensors, hf-times.json) with the wrong ids for its reference must fail
// parity, exit non-zero, and still write everything, merged with the first run's rows.
// Needs the built bundle (npm run build; npm test builds first). Times are not asserted.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'scripts', 'gpu-vs-hf.mjs');
const TINY = join(ROOT, 'weights', 'gpt2-tiny');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'gpt2-tiny');

interface Run { status: number | null; stdout: string; stderr: string }
const env = { ...process.env };
for (const k of ['OUT', 'COMMIT', 'GPT2_TAPS_COMMIT']) delete env[k];
function script(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [SCRIPT, ...args], { cwd: ROOT, maxBuffer: 1 << 26, env },
      (err, stdout, stderr) => done({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
  });
}

const FAST = ['--runs', '2', '--warmup', '1', '--decode-runs', '1', '--peak-target-ms', '5', '--peak-copy-mib', '4'];
let dir: string, out: string, wrong: string;
let first: Run, second: Run;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let doc1: any, doc2: any;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'gpt2-taps.js'))) throw new Error('dist/gpt2-taps.js is missing: run npm run build first');
  dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-gpu-bench-'));
  out = join(dir, 'out');
  first = await script(['--local', '--time', '1,5', '--parity', '17', '--decode', '4', '--out', out, '--commit', 'abc1234', ...FAST]);
  doc1 = JSON.parse(readFileSync(join(out, 'vs-hf.json'), 'utf8'));

  // hf_peer.py's layout: the tiny checkpoint, the corrupted prompt's ids against the seed prompt's reference.
  wrong = join(dir, 'wrong');
  const prompts = JSON.parse(readFileSync(join(FIXTURE, 'prompts.json'), 'utf8'));
  mkdirSync(wrong);
  for (const f of ['model.safetensors', 'config.json']) symlinkSync(join(TINY, f), join(wrong, f));
  symlinkSync(join(FIXTURE, 'reference-modules-seed.safetensors'), join(wrong, 'ref-17.safetensors'));
  writeFileSync(join(wrong, 'ids-17.json'), JSON.stringify(prompts.corrupt));
  writeFileSync(join(wrong, 'hf-times.json'), JSON.stringify({ 1: { plain_ms: 2.5, all_taps_to_host_ms: 7.5 }, decode: { new_tokens: 4, ms_per_token: 1.25 } }));
  second = await script(['--model', `wrong=${wrong}`, '--time', '1', '--decode', '0', '--out', out, '--commit', 'abc1234', '--merge', ...FAST]);
  doc2 = JSON.parse(readFileSync(join(out, 'vs-hf.json'), 'utf8'));
}, 180_000);
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const finitePositive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('gpu-vs-hf --local (the bundled tiny model)', () => {
  it('exits 0 and prints the markdown table', () => {
    expect(first.status, first.stderr.slice(-3000)).toBe(0);
    expect(first.stdout).toMatch(/\| model \| T \| ours \(ms\) \| HF \(ms\) \| ours, all taps \(ms\) \| HF, all outputs \(ms\) \|/);
    expect(first.stdout).toMatch(/^\| gpt2-tiny \| 1 \| [\d.]+ \| — \| [\d.]+ \| — \|$/m);
    expect(first.stdout).toMatch(/^\| gpt2-tiny \| 4 new tokens after 16 \| -?[\d.]+ \| — \| [\d.]+ \|$/m);
  });

  it('writes vs-hf.json in the benchmark schema, Hugging Face columns null', () => {
    expect(doc1.device).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(new Date(doc1.date).toISOString()).toBe(doc1.date);
    expect(doc1.commit).toBe('abc1234');
    expect(doc1.rows.map((r: { model: string; T: number }) => [r.model, r.T])).toEqual([['gpt2-tiny', 1], ['gpt2-tiny', 5]]);
    for (const r of doc1.rows) {
      for (const k of ['model', 'T', 'ours_ms', 'hf_ms', 'ours_all_taps_ms', 'hf_all_taps_ms']) expect(r, k).toHaveProperty(k);
      expect(finitePositive(r.ours_ms) && finitePositive(r.ours_all_taps_ms), JSON.stringify(r)).toBe(true);
      expect(r.hf_ms).toBeNull();
      expect(r.hf_all_taps_ms).toBeNull();
      expect(r.ours_ms).toBe(median(r.ours_samples_ms));
      expect(r.ours_samples_ms).toHaveLength(2);
      expect(r.taps).toBe(41); // every tap point of the 3-layer model
      // which kernel variants the model ran (timed at load)
      expect(Object.keys(r.kernels).sort()).toEqual(['attention', 'few', 'many', 'row', 'stepAttention']);
    }
    expect(doc1.decode).toHaveLength(1);
    const d = doc1.decode[0];
    for (const k of ['model', 'ours_ms_per_token', 'hf_ms_per_token', 'bound_ms_per_token']) expect(d, k).toHaveProperty(k);
    expect(d.model).toBe('gpt2-tiny');
    expect(d.kernels).toEqual(doc1.rows[0].kernels);
    expect(Number.isFinite(d.ours_ms_per_token)).toBe(true);
    expect(d.hf_ms_per_token).toBeNull();
    expect(finitePositive(d.bound_ms_per_token)).toBe(true);
    expect(d.bound_ms_per_token).toBeCloseTo(d.weight_bytes / (doc1.peak.bandwidthGBps * 1e6), 9);
    for (const v of [doc1.peak.fmaGflops, doc1.peak.copyGBps, doc1.peak.shaderCopyGBps]) expect(finitePositive(v)).toBe(true);
    expect(doc1.peak.fma.verifiedThreads).toBe(doc1.peak.fma.threads);
    expect(doc1.errors).toEqual([]);
  });

  it('checked parity of all taps against the float64 reference with `gpt2-taps compare`, and it passed', () => {
    expect(doc1.parity).toHaveLength(1);
    const p = doc1.parity[0];
    expect(p).toMatchObject({ model: 'gpt2-tiny', T: 17, ok: true, exit: 0, failed: 0, missing: [] });
    expect(p.passed).toBe(42); // input_ids + the 41 module tensors of reference-modules-seed
    expect(p.worst.ofBound).toBeLessThan(1);
    expect(doc1.parity_ok).toBe(true);
  });
});

describe('gpu-vs-hf on hf_peer.py output, when parity fails', () => {
  it('exits non-zero, after writing the failure and the rest, merged with the earlier rows', () => {
    expect(second.status, second.stderr.slice(-3000)).toBe(1);
    expect(second.stderr).toMatch(/PARITY FAILED/);
    const p = doc2.parity.find((x: { model: string }) => x.model === 'wrong');
    expect(p).toMatchObject({ T: 17, ok: false, exit: 1 });
    expect(p.failed).toBeGreaterThan(0);
    expect(p.failures.map((f: { name: string }) => f.name)).toContain('input_ids');
    expect(doc2.parity_ok).toBe(false);
    // --merge: the first run's rows stay; this run's row has Hugging Face's times from hf-times.json
    expect(doc2.rows.map((r: { model: string; T: number }) => `${r.model}@${r.T}`)).toEqual(['gpt2-tiny@1', 'gpt2-tiny@5', 'wrong@1']);
    expect(doc2.rows[2]).toMatchObject({ model: 'wrong', T: 1, hf_ms: 2.5, hf_all_taps_ms: 7.5 });
    expect(finitePositive(doc2.rows[2].ours_ms)).toBe(true);
    expect(doc2.decode.map((x: { model: string }) => x.model)).toEqual(['gpt2-tiny']);
    expect(second.stdout).toMatch(/wrong T=17 FAILED/);
    expect(second.stdout).toMatch(/^\| wrong \| 1 \| [\d.]+ \| 2\.50 \| [\d.]+ \| 7\.50 \|$/m);
    expect(readFileSync(join(out, 'vs-hf.md'), 'utf8')).toBe(second.stdout);
  });

  it('records a model folder it cannot read as an error, and exits non-zero', async () => {
    const r = await script(['--model', `gone=${join(dir, 'nowhere')}`, '--time', 'none', '--decode', '0', '--out', join(dir, 'out3'),
      '--peak-target-ms', '1', '--peak-copy-mib', '1']);
    expect(r.status).toBe(1);
    const doc = JSON.parse(readFileSync(join(dir, 'out3', 'vs-hf.json'), 'utf8'));
    expect(doc.errors).toHaveLength(1);
    expect(doc.errors[0].model).toBe('gone');
    expect(doc.errors[0].error).toMatch(/no folder/);
    expect(doc.commit).toBe('unknown');
  });
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
