// Edits (interventions) at tap points: every edit case of the shared fixture's cases.json
// through the CLI on both backends against its float64 reference; the semantics (downstream
// sees the edit, the edited point's tap shows it, points with the same numbers stay separate,
// a run without edits runs no edit kernel); and bad edits, each refused with its message.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { GPT2TapsError } from '../../src/errors.js';
import { prepareEdits, type Edit } from '../../src/engine/edits.js';
import { planForward } from '../../src/engine/forward.js';
import { compareTensor } from '../../src/analysis/compare.js';
import type { TapResult } from '../../src/engine/taps.js';

const FIXTURE = new URL('../fixtures/gpt2-tiny/', import.meta.url).pathname;
const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url).pathname;
const BIN = new URL('../../bin/gpt2-taps.js', import.meta.url).pathname;
const cases = JSON.parse(readFileSync(join(FIXTURE, 'cases.json'), 'utf8')) as Record<string, { prompt: string; edits?: Record<string, unknown>[] }>;
const prompts = JSON.parse(readFileSync(join(FIXTURE, 'prompts.json'), 'utf8')) as Record<string, number[]>;
const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-edits-'));
const cli = (...args: string[]) => spawnSync('node', [BIN, ...args], { encoding: 'utf8', timeout: 170_000 });

describe('every edit case of cases.json, through the CLI, against its reference', () => {
  beforeAll(() => {
    expect(spawnSync('node', ['scripts/build.mjs']).status).toBe(0);
    for (const [name, ids] of Object.entries(prompts)) writeFileSync(join(dir, `${name}.json`), JSON.stringify(ids));
    // The clean run a patch takes its values from: the `seed` prompt, every tap.
    const clean = cli('run', '--ids-file', join(dir, 'seed.json'), '--taps', 'all', '--out', join(dir, 'clean-seed.safetensors'));
    expect(clean.status, clean.stderr).toBe(0);
  }, 120_000);

  for (const backend of ['node', 'browser']) {
    for (const [name, c] of Object.entries(cases).filter(([, c]) => c.edits)) {
      it(`${name} (${backend} backend)`, () => {
        // A user of the CLI names the clean run's taps file where the fixture names a prompt.
        const edits = c.edits!.map((e) => (e.op === 'patch' ? { ...e, from: `clean-${e.from}.safetensors` } : e));
        writeFileSync(join(dir, `${name}.edits.json`), JSON.stringify(edits));
        const out = join(dir, `${name}-${backend}.safetensors`);
        const run = cli('run', '--backend', backend, '--ids-file', join(dir, `${c.prompt}.json`), '--edits', join(dir, `${name}.edits.json`),
          '--taps', 'all', '--out', out);
        expect(run.status, run.stderr).toBe(0);
        const cmp = cli('compare', out, join(FIXTURE, `reference-${name}.safetensors`), '--json');
        const report = JSON.parse(cmp.stdout);
        expect(report.tensors.filter((t: { pass: boolean }) => !t.pass), name).toEqual([]);
        expect(report.missing).toEqual([]);
        expect(report.passed).toBe(42);
        expect(cmp.status).toBe(0);
      });
    }
  }
});

describe('edit semantics (Node backend)', () => {
  let device: GPUDevice;
  let model: GPT2;
  const ids = prompts.seed;
  let plain: TapResult;

  beforeAll(async () => {
    device = (await nodeDevice()).device;
    model = await GPT2.load(MODEL, { device });
    plain = await model.run(ids, { taps: 'all' });
  });
  afterAll(() => {
    model?.dispose();
    device?.destroy();
  });

  it('an edit at a point shows in its own tap and flows downstream; the same numbers at an earlier point stay as they were', async () => {
    const r = await model.run(ids, { taps: 'all', edits: [{ at: 'hidden_states.2', op: 'zero', positions: [3] }] });
    const D = model.config.n_embd;
    expect(Array.from(r.get('hidden_states.2').data.subarray(3 * D, 4 * D))).toEqual(new Array(D).fill(0));
    expect(r.get('h.1').data).toEqual(plain.get('h.1').data); // block 1's output, as block 1 produced it
    expect(r.get('h.2').data).not.toEqual(plain.get('h.2').data);
    // rows before 3 cannot see row 3 (causal): unchanged
    expect(r.get('h.2').data.subarray(0, 3 * D)).toEqual(plain.get('h.2').data.subarray(0, 3 * D));
  });

  it('an edit of a c_proj delta changes the residual stream by the edited delta (the fused add follows)', async () => {
    const r = await model.run(ids, { taps: 'all', edits: [{ at: 'h.0.attn', op: 'scale', factor: 3 }] });
    const x = plain.get('hidden_states.0').data, a = r.get('h.0.attn.c_proj').data, mid = r.get('h.0.ln_2.input').data;
    expect(compareTensor('attn delta', a, plain.get('h.0.attn.c_proj').data.map((v) => 3 * v), []).pass).toBe(true);
    expect(compareTensor('resid mid', mid, x.map((v, i) => v + a[i]), []).pass).toBe(true);
  });

  it('editing the pre-activation runs GELU on the edited value; editing wte moves hidden_states.0', async () => {
    const r = await model.run(ids, { taps: ['h.0.mlp.c_fc', 'h.0.mlp.act', 'wte', 'hidden_states.0'], edits: [
      { at: 'blocks.0.mlp.hook_pre', op: 'set', value: 1, columns: [0], positions: [0] },
      { at: 'hook_embed', op: 'add', vector: [2], columns: [5], positions: 'all' },
    ] });
    expect(r.get('h.0.mlp.c_fc').data[0]).toBe(1);
    expect(r.get('h.0.mlp.act').data[0]).toBeCloseTo(0.8411920, 6); // gelu_new(1)
    const D = model.config.n_embd;
    for (const t of [0, 9]) expect(r.get('hidden_states.0').data[t * D + 5]).toBeCloseTo(plain.get('hidden_states.0').data[t * D + 5] + 2, 5);
    expect(r.get('wte').data[5]).toBeCloseTo(plain.get('wte').data[5] + 2, 5);
  });

  it('a run without edits plans no edit dispatch, and one edit adds exactly one', () => {
    const c = model.config;
    const none = planForward(c, 17);
    expect(none.some((d) => d.kernel.startsWith('edit'))).toBe(false);
    const one = planForward(c, 17, { edits: ['h.1.mlp.act'] });
    expect(one.length).toBe(none.length + 1);
    expect(one.find((d) => d.edit === 0)!.label).toBe('edit 0: h.1.mlp.act');
    // an edit of the probabilities splits attention: probabilities, then their product with the values
    expect(planForward(c, 17, { edits: ['attentions.1'] }).map((d) => d.label)).toContain('h.1.attn.apply');
  });

  it('patch takes the clean run\'s values from a TapResult', async () => {
    const clean = await model.run(prompts.seed, { taps: ['h.0'] });
    const r = await model.run(prompts.corrupt, { taps: ['h.0'], edits: [{ at: 'h.0', op: 'patch', from: clean, positions: [3] }] });
    const D = model.config.n_embd;
    expect(r.get('h.0').data.subarray(3 * D, 4 * D)).toEqual(clean.get('h.0').data.subarray(3 * D, 4 * D));
  });

  it('bad edits are refused before anything runs, each with its message', async () => {
    const c = model.config;
    const bad = (edit: unknown, message: RegExp, T = 17) => {
      expect(() => prepareEdits(c, [edit], T), JSON.stringify(edit)).toThrow(GPT2TapsError);
      expect(() => prepareEdits(c, [edit], T), JSON.stringify(edit)).toThrow(message);
    };
    bad({ at: 'h.0.mlp.neurons', op: 'zero' }, /edit 0: unknown tap "h\.0\.mlp\.neurons"/);
    bad({ at: 'h.0', op: 'delete' }, /"op" must be one of zero, set, scale, add, patch/);
    bad({ at: 'h.0', op: 'zero', postions: [1] }, /unknown field "postions"/);
    bad({ at: 'h.0', op: 'zero', positions: [17] }, /position 17 is out of range: h\.0 has 17 positions \(0\.\.16\)/);
    bad({ at: 'h.0', op: 'zero', positions: [1.5] }, /not an integer/);
    bad({ at: 'h.0.mlp.act', op: 'zero', columns: [512] }, /column 512 is out of range: h\.0\.mlp\.act has 512 columns/);
    bad({ at: 'h.0.attn.c_proj.input', op: 'zero', heads: [4] }, /head 4 is out of range: h\.0\.attn\.c_proj\.input has 4 heads/);
    bad({ at: 'h.0.mlp.act', op: 'zero', heads: [0] }, /h\.0\.mlp\.act has no heads: its rows are 512 wide/);
    bad({ at: 'logits', op: 'zero', heads: [0] }, /logits has no heads/);
    bad({ at: 'h.0', op: 'zero', heads: [0], columns: [1] }, /give "columns" or "heads", not both/);
    bad({ at: 'blocks.0.attn.hook_q', op: 'zero' }, /is a view of h\.0\.attn\.c_attn, not a tap point/);
    bad({ at: 'h.0', op: 'set' }, /op set needs "value", a finite number/);
    bad({ at: 'h.0', op: 'scale', factor: 'x' }, /op scale needs "factor", a finite number, got "x"/);
    bad({ at: 'hidden_states.1', op: 'add', vector: [1, 2, 3] }, /"vector" has 3 values, but the edit selects 128 columns of hidden_states\.1/);
    bad({ at: 'h.0.mlp.act', op: 'add', columns: [1, 2], vector: [1] }, /"vector" has 1 values, but the edit selects 2 columns/);
    bad({ at: 'h.0', op: 'patch' }, /op patch needs "from"/);
    const clean5 = await model.run([1, 2, 3, 4, 5], { taps: ['h.0'] });
    bad({ at: 'h.0', op: 'patch', from: clean5 }, /it was made with T = 5, this run has T = 17/);
    bad({ at: 'h.1', op: 'patch', from: clean5 }, /the patch source holds no tap h\.1/);
    bad('zero h.0', /edit 0: is not an object/);
    // and through run(): nothing runs, the model stays usable
    await expect(model.run(ids, { edits: [{ at: 'h.0', op: 'zero', positions: [99] }] as Edit[] })).rejects.toThrow(/position 99 is out of range/);
    // (up to rounding: without the probabilities asked for, attention may run as its flash variant)
    expect(compareTensor('h.0', (await model.run(ids, { taps: ['h.0'] })).get('h.0').data, plain.get('h.0').data, [], 1e-5, 1e-6).pass).toBe(true);
  });

  it('the CLI refuses a bad edits file with exit status 2, naming the problem', () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ at: 'h.0', op: 'patch', from: 'missing.safetensors' }]));
    const r = cli('run', '--ids', '1,2,3', '--edits', join(dir, 'bad.json'), '--out', join(dir, 'x.safetensors'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the patch source .*missing\.safetensors does not exist/);
    writeFileSync(join(dir, 'bad2.json'), '{"at": "h.0"}');
    expect(cli('run', '--ids', '1,2,3', '--edits', join(dir, 'bad2.json')).stderr).toMatch(/expected a JSON list of edits/);
  });
});
