// GPU resources in one browser page (the runner page, the library bundle): 100 consecutive
// runs keep the model's live GPU buffers and bytes flat, concurrent run() calls are queued
// without mixing their taps, and dispose() frees every buffer.
import { test, expect } from '@playwright/test';
import { serve, type Server } from '../../src/node/serve.js';

let server: Server;
test.beforeAll(async () => {
  server = await serve({ mounts: { '/': 'dist', '/model/': 'weights/gpt2-tiny' } });
});
test.afterAll(async () => server?.close());

test('100 consecutive runs in one page: live GPU buffers and bytes stay flat; concurrent runs are queued; dispose() frees all', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${server.url}/runner.html`);
  await page.waitForSelector('body[data-ready="1"]');
  const r = await page.evaluate(async () => {
    type Lib = typeof import('../../src/index.js');
    const g = (window as unknown as { gpt2taps: Lib }).gpt2taps;
    const device = await g.browserDevice();
    const model = await g.GPT2.load('/model/', { device });
    const ids = (T: number, salt: number) => Array.from({ length: T }, (_, j) => (salt * 31 + j * 7) % model.config.vocab_size);
    const maxT = 24;
    await model.run(ids(maxT, 0), { taps: 'all' }); // the largest T first: activations are sized once
    const first = model.gpuMemory;
    const seen = new Set<string>();
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) {
      await model.run(ids(1 + (i % maxT), i), { taps: i % 2 ? 'all' : ['logits'] });
      seen.add(JSON.stringify(model.gpuMemory));
    }
    const msPerRun = (performance.now() - t0) / 100;

    // Five runs started at once, with different lengths and taps, against the same runs one by one.
    const inputs = [3, 11, 5, 17, 8].map((T, k) => ids(T, 100 + k));
    // (alone with the same taps: a run without the probabilities may run another attention kernel, equal up to rounding)
    const tapsOf = (k: number) => (k % 2 ? 'all' : ['logits', 'h.0']);
    const together = await Promise.all(inputs.map((x, k) => model.run(x, { taps: tapsOf(k) })));
    const mixed: string[] = [];
    for (const [k, x] of inputs.entries()) {
      const alone = await model.run(x, { taps: tapsOf(k) });
      const a = alone.get('logits').data, b = together[k].get('logits').data;
      if ([...together[k].inputIds].join() !== x.join()) mixed.push(`run ${k}: input_ids differ`);
      if (a.length !== b.length || a.some((v, i) => v !== b[i])) mixed.push(`run ${k}: logits differ from the same run alone`);
      const names = [...together[k].names].sort().join();
      if (k % 2 === 0 ? names !== 'h.0,logits' : !names.includes('h.0.mlp.c_proj')) mixed.push(`run ${k}: taps ${names}`);
      if (together[k].get('h.0').shape[0] !== x.length) mixed.push(`run ${k}: h.0 has ${together[k].get('h.0').shape[0]} rows`);
    }
    const last = model.gpuMemory;
    model.dispose();
    const disposed = model.gpuMemory;
    device.destroy();
    return { first, seen: [...seen], msPerRun, mixed, last, disposed };
  });
  console.log(`100 runs: ${r.first.buffers} buffers, ${r.first.bytes} bytes live throughout; ${r.msPerRun.toFixed(1)} ms per run`);
  expect(r.seen).toEqual([JSON.stringify(r.first)]);
  expect(r.last).toEqual(r.first);
  expect(r.mixed).toEqual([]);
  expect(r.disposed).toEqual({ buffers: 0, bytes: 0 });
  expect(errors).toEqual([]);
});
