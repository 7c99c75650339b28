// The kernel variants a device may be given (src/engine/forward.ts KernelChoice), each through
// the whole forward pass against the float64 module references: the tiled matmul at few and
// many rows, flash attention (when no probabilities are asked for), and the autotuner that
// picks among them (src/engine/tune.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { nodeDevice } from '../../src/node/device.js';
import { GPT2 } from '../../src/engine/model.js';
import { readAllTensors, bytesSource } from '../../src/checkpoint/safetensors.js';
import { compareTensor, matchTensor } from '../../src/analysis/compare.js';
import { allTapNames, DEFAULT_CHOICE, type KernelChoice } from '../../src/engine/forward.js';
import { chooseKernels, parseKernelChoice, runsHere, type TuneStore } from '../../src/engine/tune.js';
import { fileTuneStore } from '../../src/node/tune-store.js';
import { mkdtempSync, writeFileSync as write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FIXTURE = new URL('../fixtures/gpt2-tiny/', import.meta.url);
const MODEL = new URL('../../weights/gpt2-tiny/', import.meta.url).pathname;
let device: GPUDevice;
const refs = new Map<string, Awaited<ReturnType<typeof readAllTensors>>>();

beforeAll(async () => {
  device = (await nodeDevice()).device;
  for (const prompt of ['seed', 'tale']) {
    refs.set(prompt, await readAllTensors(bytesSource(readFileSync(new URL(`reference-modules-${prompt}.safetensors`, FIXTURE)))));
  }
});
afterAll(() => device?.destroy());

const CHOICES: Partial<KernelChoice>[] = [
  { few: 'tiled', many: 'tiled', attention: 'flash' },
  { few: 'tiled', many: 'blocked', attention: 'rows', row: 'matvec_sg' },
];

for (const kernels of CHOICES) {
  describe(`kernels ${JSON.stringify(kernels)}`, () => {
    let model: GPT2;
    beforeAll(async () => { model = await GPT2.load(MODEL, { device, kernels }); }, 120_000);
    afterAll(() => model?.dispose());

    for (const prompt of ['seed', 'tale']) {
      for (const withProbs of [false, true]) {
        it(`"${prompt}": every module${withProbs ? ', the probabilities included' : ' but the probabilities'} within the references' bound`, async () => {
          const ref = refs.get(prompt)!;
          const ids = ref.ints.get('input_ids')!.data;
          const taps = allTapNames(model.config).filter((n) => withProbs || !n.startsWith('attentions.'));
          // the plan runs the variants asked for: tiled matmuls, flash attention where no probabilities are tapped
          const kernelsRun = new Set(model.dispatches(ids.length, { taps }).map((d) => d.kernel));
          if (kernels.few === 'tiled' && ids.length <= 64) expect(kernelsRun).toContain('linear_tiled');
          if (kernels.many === 'tiled' && ids.length > 64) expect(kernelsRun).toContain('linear_tiled');
          expect(kernelsRun.has('attention_flash'), 'flash attention').toBe(kernels.attention === 'flash' && !withProbs);
          const ours = await model.run(ids, { taps });
          const failures = [];
          for (const [name, r] of ref.floats) {
            const o = matchTensor(name, (n) => (ours.has(n) ? ours.get(n) : undefined));
            if (!o) { expect(name.startsWith('attentions.') && !withProbs, name).toBe(true); continue; }
            const c = compareTensor(name, o.data, r.data, r.shape);
            if (!c.pass) failures.push(c);
          }
          expect(failures).toEqual([]);
        });
      }
    }
  });
}

describe('the autotuner', () => {
  const config = { n_layer: 1, n_head: 2, n_embd: 64, n_positions: 96, vocab_size: 100, layer_norm_epsilon: 1e-5 };

  it('times every family that is not fixed, once per adapter and shape, and keeps a candidate that runs here', async () => {
    const saved = new Map<string, string>();
    const store: TuneStore = { get: (k) => saved.get(k), set: (k, v) => { saved.set(k, v); } };
    const timed: string[] = [];
    const onTimed = (family: string, _shape: string, ms: Partial<Record<string, number>>) => {
      timed.push(family);
      for (const v of Object.values(ms)) expect(v).toBeGreaterThan(0);
    };
    const choice = await chooseKernels(device, { ...config, n_embd: 72 }, { store, onTimed, fixed: { attention: 'flash' } });
    expect(timed.sort()).toEqual(['few', 'many', 'row', 'stepAttention']);
    expect(choice.attention).toBe('flash');
    expect(['matmul', 'matvec', 'matvec_sg']).toContain(choice.row);
    expect([...saved.keys()].every((k) => k.includes(' | '))).toBe(true);
    expect(saved.size).toBe(4);
    // known now: nothing is timed again, and the same choice comes back
    timed.length = 0;
    expect(await chooseKernels(device, { ...config, n_embd: 72 }, { store, onTimed, fixed: { attention: 'flash' } })).toEqual(choice);
    expect(timed).toEqual([]);
  });

  it('everything fixed: nothing timed', async () => {
    const timed: string[] = [];
    const c = await chooseKernels(device, config, { fixed: DEFAULT_CHOICE, onTimed: (f) => timed.push(f) });
    expect(c).toEqual(DEFAULT_CHOICE);
    expect(timed).toEqual([]);
  });

  it('a variant needing a feature the device lacks is no candidate', () => {
    const without = { features: new Set<string>(), limits: device.limits } as unknown as GPUDevice;
    const dims = { M: 1, K: 64, N: 256, KS: 1 };
    expect(runsHere(without, 'linear_gelu_1_sg', dims)).toBe(false);
    expect(runsHere(without, 'linear_gelu_1', dims)).toBe(true);
  });

  it('a fixed choice that cannot run here is refused, saying why', async () => {
    await expect(chooseKernels(device, { ...config, n_embd: 160, n_head: 1 }, { fixed: { ...DEFAULT_CHOICE, attention: 'flash' } }))
      .rejects.toThrow(/kernels: attention=flash cannot run here \(attention_flash\): head dim 160[^]*leave attention out/);
  });
});

describe('choices from text, and remembered in a file', () => {
  it('parses --kernels, refusing unknown families and variants by name', () => {
    expect(parseKernelChoice('row=matvec, attention=flash')).toEqual({ row: 'matvec', attention: 'flash' });
    expect(parseKernelChoice('')).toEqual({});
    expect(() => parseKernelChoice('rows=matvec')).toThrow(/unknown kernel family "rows"[^]*row=matmul\|matvec\|matvec_sg/);
    expect(() => parseKernelChoice('few=fast')).toThrow(/"few=fast": few takes blocked, tiled/);
    expect(() => parseKernelChoice('few')).toThrow(/few takes blocked, tiled/);
  });

  it('a file store keeps choices across processes; a corrupt file is an empty store, then rewritten', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-tune-'));
    const file = join(dir, 'sub', 'kernels.json');
    fileTuneStore(file).set('adapter | row M=1', 'matvec');
    expect(fileTuneStore(file).get('adapter | row M=1')).toBe('matvec');
    write(file, '{ not json');
    const s = fileTuneStore(file);
    expect(s.get('adapter | row M=1')).toBeUndefined();
    s.set('adapter | few M=32', 'tiled');
    expect(fileTuneStore(file).get('adapter | few M=32')).toBe('tiled');
  });
});
