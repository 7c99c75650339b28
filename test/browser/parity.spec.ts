// The whole model in headless Chromium against the fixture's float64 references
// (reference-<prompt>: the first taps; reference-modules-<prompt>: every module of the
// forward pass): every tensor at max|ours − ref| <= 5e-5·max|ref| + 1e-6, plus the residual identities.
import { test, expect } from '@playwright/test';
import { serve, type Server } from '../../src/node/serve.js';

let server: Server;
test.beforeAll(async () => {
  server = await serve({ mounts: { '/': 'dist', '/fixtures/': 'test/fixtures', '/model/': 'weights/gpt2-tiny' } });
});
test.afterAll(async () => server?.close());

for (const prompt of ['seed', 'tale']) {
  test(`parity on prompt "${prompt}"`, async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${server.url}/runner.html`);
    await page.waitForSelector('body[data-ready="1"]');
    const result = await page.evaluate(async (prompt) => {
      type Lib = typeof import('../../src/index.js');
      const g = (window as unknown as { gpt2taps: Lib }).gpt2taps;
      const device = await g.browserDevice();
      const model = await g.GPT2.load('/model/', { device });
      const refs = await Promise.all([`reference-${prompt}`, `reference-modules-${prompt}`].map(async (file) =>
        g.readAllTensors(g.bytesSource(new Uint8Array(await (await fetch(`/fixtures/gpt2-tiny/${file}.safetensors`)).arrayBuffer())))));
      const ours = await model.run(refs[0].ints.get('input_ids')!.data, { taps: 'all' });
      const lookup = (n: string) => (ours.has(n) ? ours.get(n) : undefined);
      const compare = (ref: (typeof refs)[number]) => [...ref.floats].map(([name, r]) => {
        const o = g.matchTensor(name, lookup);
        return o ? g.compareTensor(name, o.data, r.data, r.shape) : { name, pass: false, missing: true };
      });
      const comparisons = compare(refs[0]), modules = compare(refs[1]);
      const identities = [];
      const L = model.config.n_layer;
      for (let l = 0; l < L; l++) {
        const x = ours.get(`hidden_states.${l}`).data, y = ours.get(`h.${l}`).data;
        const a = ours.get(`h.${l}.attn.c_proj`).data, m = ours.get(`h.${l}.mlp.c_proj`).data;
        identities.push(g.compareTensor(`h.${l} = hidden_states.${l} + Δattn + Δmlp`, x.map((v, i) => v + a[i] + m[i]), y, []));
        if (l < L - 1) identities.push(g.compareTensor(`hidden_states.${l + 1} = h.${l}`, ours.get(`hidden_states.${l + 1}`).data, y, [], 0, 0));
      }
      model.dispose();
      device.destroy();
      return { comparisons, modules, identities, tapCount: ours.names.length, refCount: refs[1].floats.size };
    }, prompt);
    expect(result.tapCount).toBe(result.refCount); // 'all' is exactly the points of reference-modules
    expect(result.comparisons.length).toBe(17);
    expect(result.comparisons.filter((c) => !c.pass)).toEqual([]);
    expect(result.modules.length).toBe(41);
    expect(result.modules.filter((c) => !c.pass)).toEqual([]);
    expect(result.identities.length).toBe(5);
    expect(result.identities.filter((c) => !c.pass)).toEqual([]);
    expect(errors).toEqual([]);
  });
}
