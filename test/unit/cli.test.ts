// The CLI end to end (built bundle, real processes): run on the bundled model with the
// fixture's prompt ids, then compare against the references, on both backends.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors, readAllTensors, bytesSource } from '../../src/checkpoint/safetensors.js';
import { copyFileSync, mkdirSync } from 'node:fs';

const FIXTURE = new URL('../fixtures/gpt2-tiny/', import.meta.url).pathname; // prompts and references
const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url).pathname; // the bundled checkpoint
const BIN = new URL('../../bin/gpt2-taps.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-cli-'));
const prompts = JSON.parse(readFileSync(join(FIXTURE, 'prompts.json'), 'utf8')) as Record<string, number[]>;

function cli(...args: string[]) {
  const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', timeout: 170_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  for (const [k, ids] of Object.entries(prompts)) writeFileSync(join(dir, `${k}.json`), JSON.stringify(ids));
  expect(spawnSync('node', ['scripts/build.mjs']).status).toBe(0);
});

describe('gpt2-taps run + compare', () => {
  // reference-<prompt>: the first tap set (18 tensors with input_ids); reference-modules-<prompt>:
  // every module of the forward pass (42 with input_ids). One run with --taps all serves both.
  for (const backend of ['node', 'browser']) {
    for (const prompt of ['seed', 'tale']) {
      it(`${backend} backend, prompt ${prompt}: every tensor of both reference files passes`, () => {
        const out = join(dir, `${prompt}-${backend}.safetensors`);
        const run = cli('run', '--backend', backend, '--ids-file', join(dir, `${prompt}.json`), '--taps', 'all', '--out', out);
        expect(run.status, run.stderr).toBe(0);
        expect(run.stderr).toMatch(/RANDOM weights/);
        for (const [ref, count] of [[`reference-${prompt}`, 18], [`reference-modules-${prompt}`, 42]] as const) {
          const cmp = cli('compare', out, join(FIXTURE, `${ref}.safetensors`), '--json');
          expect(cmp.status, cmp.stdout).toBe(0);
          const report = JSON.parse(cmp.stdout);
          expect(report.failed, ref).toBe(0);
          expect(report.passed, ref).toBe(count);
        }
      });
    }
  }
});

describe('gpt2-taps taps', () => {
  it('lists every tap point of the bundled model with its shape, meaning and aliases; --json gives the same list', () => {
    const text = cli('taps');
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^41 tap points and 12 views of a model with n_layer 3, n_embd 128/);
    expect(text.stdout).toMatch(/\nh\.1\.mlp\.act +\[T, 512\] +gelu_new of c_fc: the MLP neurons; also h\.1\.mlp\.c_proj\.input, blocks\.1\.mlp\.hook_post\n/);
    expect(text.stdout).toMatch(/\nattentions\.2 +\[4, T, T\] /);
    const json = JSON.parse(cli('taps', '--json').stdout);
    expect(json.taps.length).toBe(53);
    expect(json.taps.find((t: { name: string }) => t.name === 'blocks.0.attn.hook_k'))
      .toEqual({ name: 'blocks.0.attn.hook_k', shape: ['T', 4, 32], meaning: 'the keys, by head', aliases: [], view: { of: 'h.0.attn.c_attn', columns: [128, 256] } });
  });

  it('an unknown tap in run points to gpt2-taps taps', () => {
    const r = cli('run', '--ids', '1,2', '--taps', 'h.0.mlp.neurons', '--out', join(dir, 'x.safetensors'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown tap "h\.0\.mlp\.neurons"[^]*`gpt2-taps taps` lists every tap/);
  });
});

describe('gpt2-taps compare exit codes', () => {
  const a = join(dir, 'a.safetensors'), b = join(dir, 'b.safetensors'), c = join(dir, 'c.safetensors');
  beforeAll(() => {
    const t = (data: number[]) => ({ name: 'x', dtype: 'F32' as const, shape: [data.length], data: Float32Array.from(data) });
    writeFileSync(a, writeSafetensors([t([1, 2, 3])]));
    writeFileSync(b, writeSafetensors([t([1, 2, 3.001])]));
    writeFileSync(c, writeSafetensors([t([1, 2, 3]), { ...t([4]), name: 'y' }]));
  });
  it('0 when equal, 1 when a tensor is off, 2 when A lacks a tensor of B', () => {
    expect(cli('compare', a, a).status).toBe(0);
    const off = cli('compare', a, b);
    expect(off.status).toBe(1);
    expect(off.stdout).toMatch(/x .*FAIL/);
    expect(cli('compare', a, b, '--rtol', '1e-3').status).toBe(0);
    const missing = cli('compare', a, c);
    expect(missing.status).toBe(2);
    expect(missing.stdout).toMatch(/y\s+missing from A/);
  });
});

describe('gpt2-taps residuals, tokenize, errors', () => {
  it('residuals prints r = 1.000 for the reconstruction at every layer', () => {
    const r = cli('residuals', '--text', 'Plants make fantastic pets because they don\'t leave a mess after you feed them.', '--json');
    expect(r.status, r.stderr).toBe(0);
    const { layers } = JSON.parse(r.stdout);
    expect(layers.length).toBe(3);
    for (const l of layers) {
      expect(l.rReconstruction.toFixed(3)).toBe('1.000');
      expect(l.kept).toBe(17 * 128);
    }
  });

  it('tokenize recognises <|endoftext|> anywhere', () => {
    const r = cli('tokenize', '--text', 'a<|endoftext|>b');
    expect(r.stdout.trim()).toBe('[64,50256,65]');
  });

  it('bad input gives exit 2 and a message naming the problem', () => {
    const oov = cli('run', '--ids', '1,50257', '--out', join(dir, 'x.safetensors'));
    expect(oov.status).toBe(2);
    expect(oov.stderr).toMatch(/token id 50257 at position 1/);
    const tap = cli('run', '--ids', '1,2', '--taps', 'h.9', '--out', join(dir, 'x.safetensors'));
    expect(tap.status).toBe(2);
    expect(tap.stderr).toMatch(/unknown tap "h.9"[^]*gpt2-taps taps/);
    const kernels = cli('run', '--ids', '1,2', '--kernels', 'few=fast', '--out', join(dir, 'x.safetensors'));
    expect(kernels.status).toBe(2);
    expect(kernels.stderr).toMatch(/"few=fast": few takes blocked, tiled/);
    const missing = cli('run', '--model', join(dir, 'nope'), '--ids', '1');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nope/);
    const empty = cli('run', '--text', '', '--out', join(dir, 'x.safetensors'));
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/empty/);
    const long = 'word '.repeat(300);
    const tooLong = cli('run', '--text', long, '--taps', 'logits', '--out', join(dir, 'x.safetensors'));
    expect(tooLong.status).toBe(2);
    expect(tooLong.stderr).toMatch(/301 tokens is more than this model's n_positions \(256\)/);
    const truncated = cli('run', '--text', long, '--truncate', '--taps', 'h.0', '--out', join(dir, 'x.safetensors'));
    expect(truncated.status, truncated.stderr).toBe(0);
    expect(truncated.stderr).toMatch(/kept the first 256 of 301 tokens[^]*T=256/);
    expect(cli('frobnicate').status).toBe(2);
  });

  it('a checkpoint holding NaN is refused, naming the tensor', async () => {
    const { floats } = await readAllTensors(bytesSource(readFileSync(join(MODEL, 'model.safetensors'))));
    const bad = join(dir, 'nan-model');
    mkdirSync(bad, { recursive: true });
    floats.get('h.2.mlp.c_proj.weight')!.data[77] = NaN;
    writeFileSync(join(bad, 'model.safetensors'), writeSafetensors([...floats].map(([name, t]) => ({ name, dtype: 'F32' as const, ...t }))));
    copyFileSync(join(MODEL, 'config.json'), join(bad, 'config.json'));
    const r = cli('run', '--model', bad, '--ids', '1,2', '--out', join(dir, 'x.safetensors'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/h\.2\.mlp\.c_proj\.weight has a non-finite value: NaN at index 77/);
    expect(cli('--help').stdout).toMatch(/Usage:/);
  });
});
