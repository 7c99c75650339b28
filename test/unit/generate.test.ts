// Generation with a KV cache: greedy decoding reproduces the fixture's reference-generate
// (ids through the CLI, and every tap against the float64 reference); taps over a generation
// equal a plain run over the final sequence, with and without edits; seeded sampling is
// reproducible; stop tokens and the n_positions limit end it as they should.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { GPT2TapsError } from '../../src/errors.js';
import { compareTensor } from '../../src/analysis/compare.js';
import { bytesSource, readAllTensors } from '../../src/checkpoint/safetensors.js';
import type { Edit } from '../../src/engine/edits.js';

const FIXTURE = new URL('../fixtures/gpt2-tiny/', import.meta.url).pathname;
const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url).pathname;
const BIN = new URL('../../bin/gpt2-taps.js', import.meta.url).pathname;
const prompts = JSON.parse(readFileSync(join(FIXTURE, 'prompts.json'), 'utf8')) as Record<string, number[]>;
const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-generate-'));
const cli = (...args: string[]) => spawnSync('node', [BIN, ...args], { encoding: 'utf8', timeout: 170_000 });

let reference: Awaited<ReturnType<typeof readAllTensors>>;
beforeAll(async () => {
  reference = await readAllTensors(bytesSource(readFileSync(join(FIXTURE, 'reference-generate.safetensors'))));
});

describe('gpt2-taps generate (greedy, 24 new tokens after the seed prompt)', () => {
  beforeAll(() => {
    expect(spawnSync('node', ['scripts/build.mjs']).status).toBe(0);
    writeFileSync(join(dir, 'seed.json'), JSON.stringify(prompts.seed));
  }, 120_000);

  it('prints the ids of reference-generate, and its taps pass compare against it', () => {
    const out = join(dir, 'generate.safetensors');
    const r = cli('generate', '--ids-file', join(dir, 'seed.json'), '--max-new-tokens', '24', '--temperature', '0', '--json', '--taps', 'all', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    const want = Array.from(reference.ints.get('input_ids')!.data);
    expect(last.ids).toEqual(want);
    expect(last.new_ids).toEqual(want.slice(17));
    expect(r.stdout.startsWith(last.text)).toBe(true); // the text was streamed before the JSON line
    expect(r.stderr).toMatch(/24 new tokens \(length\)/);
    const cmp = cli('compare', out, join(FIXTURE, 'reference-generate.safetensors'), '--json');
    const report = JSON.parse(cmp.stdout);
    expect(report.tensors.filter((t: { pass: boolean }) => !t.pass)).toEqual([]);
    expect(report.passed).toBe(42);
    expect(cmp.status).toBe(0);
  });

  it('refuses bad options with exit status 2', () => {
    expect(cli('generate', '--ids', '1,2').stderr).toMatch(/needs --max-new-tokens/);
    expect(cli('generate', '--ids', '1,2', '--max-new-tokens', '0').stderr).toMatch(/maxNewTokens must be an integer >= 1, got 0/);
    expect(cli('generate', '--ids', '1,2', '--max-new-tokens', '2', '--top-p', '0').stderr).toMatch(/topP must be in \(0, 1\]/);
    expect(cli('generate', '--ids', '1,2', '--max-new-tokens', '2', '--temperature', 'hot').status).toBe(2);
  });
});

describe('generate() on the Node backend', () => {
  let device: GPUDevice;
  let model: GPT2;
  beforeAll(async () => {
    device = (await nodeDevice()).device;
    model = await GPT2.load(MODEL, { device });
  });
  afterAll(() => {
    model?.dispose();
    device?.destroy();
  });

  /** Every tap of `a` within the tolerance of the same tap of `b`. */
  function expectSameTaps(a: { names: string[]; get(n: string): { data: Float32Array; shape: number[] } }, b: typeof a) {
    expect(a.names).toEqual(b.names);
    const bad = a.names.map((n) => compareTensor(n, a.get(n).data, b.get(n).data, b.get(n).shape)).filter((c) => !c.pass);
    expect(bad).toEqual([]);
  }

  it('taps over a generation (prefill, then one token per step from the KV cache) equal a plain run over the final sequence', async () => {
    const g = await model.generate(prompts.seed, { maxNewTokens: 6, temperature: 0, taps: 'all' });
    expect(g.ids.length).toBe(23);
    expect(g.taps.inputIds).toEqual(g.ids);
    expectSameTaps(g.taps, await model.run(g.ids, { taps: 'all' }));
    expect(g.newIds).toEqual(Array.from(reference.ints.get('input_ids')!.data.slice(17, 23)));
  });

  // Every one-row variant, and flash attention reading the KV cache (layers whose probabilities are not tapped).
  for (const kernels of [{ row: 'matvec' }, { row: 'matvec_sg', stepAttention: 'flash' }, { few: 'tiled', attention: 'flash', stepAttention: 'flash' }] as const) {
    it(`with kernels ${JSON.stringify(kernels)}: the same tokens and taps`, async () => {
      const mv = await GPT2.load(MODEL, { device, kernels });
      try {
        expect(mv.kernels).toMatchObject(kernels);
        const step = mv.dispatches(1).map((d) => d.kernel);
        if (kernels.row) expect(step).toContain(kernels.row === 'matvec' ? 'linear_gelu_1' : 'linear_gelu_1_sg');
        if ('stepAttention' in kernels) expect(step).toContain('attention_flash');
        const g = await mv.generate(prompts.seed, { maxNewTokens: 4, temperature: 0, taps: ['h.1', 'attentions.2', 'logits'] });
        expect(g.newIds).toEqual(Array.from(reference.ints.get('input_ids')!.data.slice(17, 21)));
        expectSameTaps(g.taps, await model.run(g.ids, { taps: ['h.1', 'attentions.2', 'logits'] }));
      } finally {
        mv.dispose();
      }
    }, 120_000);
  }

  it('edits apply at every step: a steered generation equals a plain run with the same edit over its sequence', async () => {
    const edits: Edit[] = [
      { at: 'hidden_states.2', op: 'add', vector: Array.from({ length: 128 }, (_, i) => Math.cos(i)), scale: 3 },
      { at: 'attentions.0', op: 'scale', factor: 0.5, heads: [1] },
      { at: 'h.1.mlp.c_fc', op: 'set', value: -1, columns: [0, 3] },
    ];
    const g = await model.generate(prompts.seed, { maxNewTokens: 5, temperature: 0, taps: ['h.2', 'attentions.0', 'h.1.mlp.act', 'logits'], edits });
    const plain = await model.generate(prompts.seed, { maxNewTokens: 5, temperature: 0 });
    expect(g.newIds).not.toEqual(plain.newIds); // the steering changed what it wrote
    expectSameTaps(g.taps, await model.run(g.ids, { taps: ['h.2', 'attentions.0', 'h.1.mlp.act', 'logits'], edits }));
  });

  it('seeded sampling is reproducible; top-k 1 and a tiny top-p are greedy', async () => {
    const opts = { maxNewTokens: 12, temperature: 1.5, topK: 0, seed: 1234, stop: false } as const;
    const a = await model.generate(prompts.seed, opts);
    const b = await model.generate(prompts.seed, opts);
    expect(a.newIds).toEqual(b.newIds);
    expect(a.seed).toBe(1234);
    const c = await model.generate(prompts.seed, { ...opts, seed: 99 });
    expect(c.newIds).not.toEqual(a.newIds);
    const greedy = await model.generate(prompts.seed, { maxNewTokens: 12, temperature: 0, stop: false });
    expect((await model.generate(prompts.seed, { ...opts, topK: 1 })).newIds).toEqual(greedy.newIds);
    expect((await model.generate(prompts.seed, { ...opts, topP: 1e-6 })).newIds).toEqual(greedy.newIds);
  });

  it('stops at a stop token (kept), at <|endoftext|> unless turned off, and when onToken says so', async () => {
    const greedy = await model.generate(prompts.seed, { maxNewTokens: 10, temperature: 0, stop: false });
    const third = greedy.newIds[2];
    const s = await model.generate(prompts.seed, { maxNewTokens: 10, temperature: 0, stop: [third] });
    expect(s.newIds).toEqual(greedy.newIds.slice(0, greedy.newIds.indexOf(third) + 1));
    expect(s.reason).toBe('stop');
    // <|endoftext|> forced by an edit of the logits: the default stop ends there, stop: false goes on
    const eos: Edit[] = [{ at: 'logits', op: 'set', value: 1000, columns: [50256] }];
    const e = await model.generate(prompts.seed, { maxNewTokens: 5, temperature: 0, edits: eos });
    expect(e.newIds).toEqual([50256]);
    expect(e.reason).toBe('stop');
    expect((await model.generate(prompts.seed, { maxNewTokens: 5, temperature: 0, edits: eos, stop: false })).newIds).toEqual([50256, 50256, 50256, 50256, 50256]);
    const seen: number[] = [];
    const o = await model.generate(prompts.seed, { maxNewTokens: 10, temperature: 0, stop: false, onToken: (id) => { seen.push(id); return seen.length < 4; } });
    expect(o.newIds).toEqual(greedy.newIds.slice(0, 4));
    expect(o.reason).toBe('aborted');
    expect(seen).toEqual(o.newIds);
  });

  it('ends at n_positions + 1 tokens: the last token is chosen from a full context and never run; taps cover n_positions', async () => {
    const NP = model.config.n_positions;
    const prompt = Array.from({ length: NP - 3 }, (_, i) => (i * 37) % 50000);
    const g = await model.generate(prompt, { maxNewTokens: 10, temperature: 0, stop: false, taps: ['h.0'] });
    expect(g.ids.length).toBe(NP + 1);
    expect(g.newIds.length).toBe(4);
    expect(g.reason).toBe('context');
    expect(g.taps.get('h.0').shape).toEqual([NP, 128]);
    const plain = await model.run(g.ids.slice(0, NP), { taps: ['h.0', 'logits'] });
    expect(compareTensor('h.0', g.taps.get('h.0').data, plain.get('h.0').data, []).pass).toBe(true);
    // the last token is the argmax of the logits at the last position
    const V = model.config.vocab_size;
    const last = plain.get('logits').data.subarray((NP - 1) * V, NP * V);
    expect(g.ids[NP]).toBe(last.indexOf(Math.max(...last)));
    await expect(model.generate(new Array(NP + 1).fill(1), { maxNewTokens: 1 })).rejects.toThrow(/n_positions \(256\)/);
  });

  it('refuses bad options, naming them', async () => {
    await expect(model.generate([1, 2], { maxNewTokens: 2, temperature: -1 })).rejects.toThrow(/temperature must be a number >= 0/);
    await expect(model.generate([1, 2], { maxNewTokens: 2, topK: 1.5 })).rejects.toThrow(/topK must be an integer >= 0/);
    await expect(model.generate([1, 2], { maxNewTokens: 2, seed: -3 })).rejects.toThrow(/seed must be an integer/);
    await expect(model.generate([1, 2], { maxNewTokens: 2, stop: [60000] })).rejects.toThrow(GPT2TapsError);
    await expect(model.generate([1, 2], { maxNewTokens: 2, edits: [{ at: 'h.0', op: 'zero', positions: [9] }] })).rejects.toThrow(/position 9 is out of range: h\.0 has 4 positions/);
  });
});
