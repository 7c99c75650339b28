// The demo page's explorer (dist/demo, built by `node scripts/build.mjs`) in headless Chromium, on the
// bundled gpt2-tiny: each part's heading and content after a run (Dimensions, Neurons, Logit lens,
// Attention, Generate), the GPU kernels' results against the taps, an ablation that changes the
// next-token distribution and one that does not, generation (streaming, stop, n_positions), the
// URL state, and edits out of range.
import { test, expect, type Page } from '@playwright/test';
import { serve, type Server } from '../../src/node/serve.js';
import { CSP } from '../../demo/csp.mjs';
import { draws, openDemo, waitForDraw, watchErrors } from './demo-helpers.js';

let server: Server;
test.beforeAll(async () => {
  server = await serve({ mounts: { '/': 'dist/demo' }, headers: { 'content-security-policy': CSP } });
});
test.afterAll(async () => server?.close());

const PARTS = ['Dimensions', 'Neurons', 'Logit lens', 'Attention', 'Generate'];

async function redraw(page: Page, action: () => Promise<unknown>): Promise<void> {
  const n = await draws(page);
  await action();
  await waitForDraw(page, n);
}

const data = (page: Page, selector: string) => page.locator(selector).evaluate((e) => ({ ...(e as HTMLElement).dataset }) as Record<string, string>);

/** Values from the page's own taps (the run on screen), for checks of the GPU kernels. */
async function tap(page: Page, name: string): Promise<{ data: number[]; shape: number[] }> {
  return page.evaluate((n) => {
    const t = (window as unknown as { demo: { state: { taps: { get(n: string): { data: Float32Array; shape: number[] } } } } }).demo.state.taps.get(n);
    return { data: Array.from(t.data), shape: t.shape };
  }, name);
}

test('each part has its heading and its content after a run; the kernels agree with the taps', async ({ page }) => {
  const errors = await openDemo(page, `${server.url}/`);
  for (const name of PARTS) await expect(page.getByRole('heading', { name, exact: true })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Ablate and compare', exact: true })).toBeVisible();
  const T = Number(await page.locator('#figure').getAttribute('data-tokens'));

  // Dimensions: the heatmap of hidden_states.0, [T, 128]; at threshold 0.05 some dimensions pass, exactly those of the tap.
  await redraw(page, async () => { await page.fill('#threshold', '0.05'); await page.locator('#threshold').dispatchEvent('change'); });
  const canvas = await data(page, '#dim-heatmap');
  expect(canvas.tensor).toBe('hidden_states.0');
  expect([Number(canvas.rows), Number(canvas.cols)]).toEqual([T, 128]);
  const x = await tap(page, 'hidden_states.0');
  const want: number[] = [];
  for (let d = 0; d < 128; d++) {
    let m = 0;
    for (let t = 0; t < T; t++) m = Math.max(m, Math.abs(x.data[t * 128 + d]));
    if (m > 0.05) want.push(d);
  }
  expect(want.length).toBeGreaterThan(0);
  expect(JSON.parse((await data(page, '#dim-outliers')).dims)).toEqual(want);
  // Clicking column d selects it: its values per token are the tap's column.
  const d = want[0];
  await page.locator('#dim-heatmap').scrollIntoViewIfNeeded();
  const box = (await page.locator('#dim-heatmap').boundingBox())!;
  await page.mouse.click(box.x + (d + 0.5) * Number(canvas.cellW), box.y + box.height - 4);
  await expect(page.locator('#dim-detail')).toHaveAttribute('data-dim', String(d));
  const values = JSON.parse((await data(page, '#dim-values')).values) as number[];
  expect(values).toEqual(Array.from({ length: T }, (_, t) => Math.fround(x.data[t * 128 + d])));
  await expect(page.locator('#dim-edit')).toHaveText(`Ablate dimension ${d} (hidden_states.0)`);

  // Neurons: the top 10 of h.0.mlp.act by maximum activation, as the tap says; one neuron over the text.
  const act = await tap(page, 'h.0.mlp.act');
  const C = act.shape[1];
  const maxima = Array.from({ length: C }, (_, c) => Math.max(...Array.from({ length: T }, (_, t) => act.data[t * C + c])));
  const order = maxima.map((v, c) => [v, c]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 10).map(([, c]) => c);
  const top = await data(page, '#neuron-top');
  expect(JSON.parse(top.top)).toEqual(order);
  expect(JSON.parse(top.max)).toEqual(order.map((c) => maxima[c]));
  await expect(page.locator('#neuron-text span')).toHaveCount(T);
  expect((await data(page, '#neuron-text')).neuron).toBe(String(order[0]));
  await page.locator(`#neuron-top button[data-neuron="${order[3]}"]`).click();
  await expect(page.locator('#neuron-text')).toHaveAttribute('data-neuron', String(order[3]));
  const spanValues = await page.locator('#neuron-text span').evaluateAll((s) => s.map((e) => Number((e as HTMLElement).dataset.value)));
  expect(spanValues).toEqual(Array.from({ length: T }, (_, t) => Math.fround(act.data[t * C + order[3]])));

  // Logit lens: L + 1 rows of top-5 at the last position, and the layers × positions grid of top tokens.
  const lens = await data(page, '#lens-topk');
  expect(Number(lens.position)).toBe(T - 1);
  expect(JSON.parse(lens.layers)).toHaveLength(4);
  const grid = await data(page, '#lens-grid');
  expect(JSON.parse(grid.positions)).toHaveLength(T);
  expect((JSON.parse(grid.top) as number[][]).map((r) => r.length)).toEqual([T, T, T, T]);

  // Attention: head 0 of layer 0, T × T with token labels; the first query attends only to itself (probability 1: darkest).
  const attn = await data(page, '#attn-heatmap');
  expect([attn.layer, attn.head, attn.tokens]).toEqual(['0', '0', String(T)]);
  expect(JSON.parse(attn.labels)).toHaveLength(T);
  await expect(page.locator('#attn-head option')).toHaveCount(4);
  const px = await page.locator('#attn-heatmap').evaluate((c: HTMLCanvasElement) => {
    const left = Number(c.dataset.left), top = Number(c.dataset.top), cell = Number(c.dataset.cell);
    return Array.from(c.getContext('2d')!.getImageData(left + cell / 2, top + cell / 2, 1, 1).data);
  });
  expect(px.slice(0, 3)).toEqual([8, 48, 107]); // heatmap.wgsl's colour at probability 1
  await page.selectOption('#attn-head', '2');
  await expect(page.locator('#attn-heatmap')).toHaveAttribute('data-head', '2');
  await expect(page.locator('#head-edit')).toHaveText('Ablate head 2 of layer 0 (h.0.attn.c_proj.input)');
  await expect(page.locator('#generate-run')).toHaveText('Generate');
  expect(errors).toEqual([]);
});

test("the logit lens's last layer equals the model's own prediction, and top-k equals the softmax of the logits", async ({ page }) => {
  const errors = await openDemo(page, `${server.url}/`);
  const T = Number(await page.locator('#figure').getAttribute('data-tokens'));
  for (const pos of [T - 1, 3]) {
    if (pos !== T - 1) await page.selectOption('#lens-pos', String(pos));
    await expect(page.locator('#lens-topk')).toHaveAttribute('data-position', String(pos));
    const lens = await data(page, '#lens-topk');
    const layers = JSON.parse(lens.layers) as { ids: number[]; probs: number[] }[];
    const prediction = JSON.parse(lens.prediction) as { ids: number[]; probs: number[] };
    const last = layers[layers.length - 1];
    expect(last.ids).toEqual(prediction.ids);
    last.probs.forEach((p, i) => expect(Math.abs(p - prediction.probs[i])).toBeLessThan(1e-4));
    // The prediction (topk.wgsl on the logits tap) against a float64 softmax of the same row.
    const want = await page.evaluate((p) => {
      const t = (window as unknown as { demo: { state: { taps: { get(n: string): { data: Float32Array; shape: number[] } } } } }).demo.state.taps.get('logits');
      const V = t.shape[1];
      const row = Array.from(t.data.subarray(p * V, (p + 1) * V));
      const m = Math.max(...row);
      const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
      const ids = row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 5).map(([, i]) => i);
      return { ids, probs: ids.map((i) => Math.exp(row[i] - m) / z) };
    }, pos);
    expect(prediction.ids).toEqual(want.ids);
    prediction.probs.forEach((p, i) => expect(Math.abs(p - want.probs[i])).toBeLessThan(1e-5));
    // The grid's top token of the output row at this position is the same token.
    const grid = await data(page, '#lens-grid');
    const positions = JSON.parse(grid.positions) as number[];
    expect((JSON.parse(grid.top) as number[][])[3][positions.indexOf(pos)]).toBe(want.ids[0]);
  }
  expect(errors).toEqual([]);
});

test('an ablation changes the next-token distribution, and ablating nothing does not', async ({ page }) => {
  const errors = await openDemo(page, `${server.url}/`);
  await expect(page.locator('#compare')).toHaveAttribute('data-state', 'none');
  // Zero head 1 of layer 0.
  await page.selectOption('#attn-head', '1');
  await expect(page.locator('#head-edit')).toHaveText(/head 1 of layer 0/);
  await page.locator('#head-edit').click();
  await expect(page.locator('#edit-list')).toHaveAttribute('data-count', '1');
  await expect(page.locator('#edit-list li').first()).toContainText('zero h.0.attn.c_proj.input [heads 1]');
  await redraw(page, () => page.locator('#edits-run').click());
  let cmp = await data(page, '#compare');
  expect(cmp.state).toBe('compared');
  expect(Number(cmp.tv)).toBeGreaterThan(1e-4);
  expect(cmp.before).not.toEqual(cmp.after);
  // The figure changes too: layer 0's Δattn is another tensor, so panel 2's r moves.
  const rb = JSON.parse(cmp.rBefore) as number[], ra = JSON.parse(cmp.rAfter) as number[];
  expect(Math.abs(rb[1] - ra[1])).toBeGreaterThan(1e-4);
  const panel2 = Number(await page.locator('#figure .panel[data-panel="2"]').getAttribute('data-r'));
  expect(Math.abs(panel2 - ra[1])).toBeLessThan(1e-6);

  // "Ablating nothing": scale a neuron by 1. The distributions are identical.
  await page.locator('#edits-clear').click();
  await page.selectOption('#edit-op', 'scale');
  await page.fill('#edit-factor', '1');
  await page.locator('#neuron-edit').click();
  await expect(page.locator('#edit-list li').first()).toContainText('scale ×1 h.0.mlp.act');
  await redraw(page, () => page.locator('#edits-run').click());
  cmp = await data(page, '#compare');
  expect(cmp.state).toBe('compared');
  expect(Number(cmp.tv)).toBe(0);
  expect(Number(cmp.maxDiff)).toBe(0);
  expect(cmp.after).toEqual(cmp.before);
  expect(cmp.rAfter).toEqual(cmp.rBefore);

  // Zeroing a residual dimension and a neuron moves it as well.
  await page.locator('#edits-clear').click();
  await page.selectOption('#edit-op', 'zero');
  await page.locator('#neuron-edit').click();
  await redraw(page, () => page.locator('#edits-run').click());
  expect(Number((await data(page, '#compare')).tv)).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});

test('Generate streams new tokens, the views then show the longer sequence; Stop stops it; it ends at n_positions', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = await openDemo(page, `${server.url}/`);
  const T = Number(await page.locator('#figure').getAttribute('data-tokens'));
  const text = await page.inputValue('#text');
  await page.fill('#gen-tokens', '5');
  await page.fill('#gen-temp', '0');
  const seen: number[] = [];
  await page.exposeFunction('recordTokens', (n: number) => seen.push(n));
  await page.evaluate(() => {
    const out = document.getElementById('generate-out')!;
    new MutationObserver(() => (window as unknown as { recordTokens(n: number): void }).recordTokens(Number(out.dataset.newTokens ?? 0)))
      .observe(out, { attributes: true, attributeFilter: ['data-new-tokens'] });
  });
  await redraw(page, () => page.locator('#generate-run').click());
  const out = await data(page, '#generate-out');
  expect(out.reason).toBe('length');
  expect(out.newTokens).toBe('5');
  expect([...new Set(seen)].filter((n) => n > 0).length).toBeGreaterThanOrEqual(2); // streamed, not all at once
  expect((await page.inputValue('#text')).startsWith(text)).toBe(true);
  expect((await page.inputValue('#text')).length).toBeGreaterThan(text.length);
  await expect(page.locator('#figure')).toHaveAttribute('data-tokens', String(T + 5));
  expect(JSON.parse((await data(page, '#lens-grid')).positions)).toHaveLength(T + 5);
  await expect(page.locator('#neuron-text span')).toHaveCount(T + 5);

  // Stop: a long generation stopped after its first tokens.
  await page.fill('#gen-tokens', '200');
  const n = await draws(page);
  await page.locator('#generate-run').click();
  await expect.poll(async () => Number(await page.locator('#generate-out').getAttribute('data-new-tokens')), { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
  await page.locator('#generate-stop').click();
  await waitForDraw(page, n);
  expect((await data(page, '#generate-out')).reason).toBe('aborted');
  expect(Number((await data(page, '#generate-out')).newTokens)).toBeLessThan(50);

  // n_positions: 250 tokens of prompt, 20 asked for: it stops cleanly at the model's 256.
  await page.fill('#text', ' a'.repeat(250));
  await redraw(page, () => page.locator('#run').click());
  await expect(page.locator('#figure')).toHaveAttribute('data-tokens', '250');
  await page.fill('#gen-tokens', '20');
  await redraw(page, () => page.locator('#generate-run').click());
  expect((await data(page, '#generate-out')).reason).toBe('context');
  await expect(page.locator('#generate-status')).toContainText("reached this model's n_positions (256)");
  await expect(page.locator('#figure')).toHaveAttribute('data-tokens', '256');
  await expect(page.locator('#banner')).toBeHidden();
  expect(errors).toEqual([]);
});

test('the URL holds model, text, layer, selections and edits: a link reproduces the view', async ({ page, context }) => {
  const errors = await openDemo(page, `${server.url}/`);
  await page.fill('#text', 'Hello there, general Kenobi. You are a bold one.');
  await redraw(page, () => page.locator('#run').click());
  await redraw(page, () => page.selectOption('#layer', '1'));
  await redraw(page, async () => { await page.fill('#threshold', '0.05'); await page.locator('#threshold').dispatchEvent('change'); });
  await page.selectOption('#dim-source', 'mlp');
  await expect(page.locator('#dim-heatmap')).toHaveAttribute('data-tensor', 'h.1.mlp.c_proj');
  await page.locator('#dim-outliers button').nth(1).click();
  await expect(page.locator('#dim-detail')).not.toHaveAttribute('data-dim', '-1');
  await page.locator('#neuron-top button').nth(2).click();
  await page.selectOption('#attn-head', '3');
  await page.selectOption('#lens-pos', '4');
  await expect(page.locator('#lens-topk')).toHaveAttribute('data-position', '4');
  await page.locator('#head-edit').click();
  await page.locator('#dim-edit').click();
  await redraw(page, () => page.locator('#edits-run').click());

  const snapshot = async (p: Page) => ({
    text: await p.inputValue('#text'), layer: await p.inputValue('#layer'), threshold: await p.inputValue('#threshold'),
    source: await p.inputValue('#dim-source'), dim: await p.locator('#dim-detail').getAttribute('data-dim'),
    values: await p.locator('#dim-values').getAttribute('data-values'),
    neuron: await p.locator('#neuron-text').getAttribute('data-neuron'), head: await p.inputValue('#attn-head'),
    lens: await p.locator('#lens-topk').getAttribute('data-layers'),
    edits: await p.locator('#edit-list li').allTextContents(),
    compare: await data(p, '#compare'),
    r: await p.locator('#figure .panel').evaluateAll((ps) => ps.map((e) => (e as HTMLElement).dataset.r)),
  });
  const before = await snapshot(page);
  expect(before.edits).toHaveLength(2);
  expect(before.compare.state).toBe('compared');
  const url = page.url();
  expect(url).toContain('#');
  expect(decodeURIComponent(url)).toContain('h.1.attn.c_proj.input');

  const other = await context.newPage();
  const errors2 = await openDemo(other, url);
  expect(await snapshot(other)).toEqual(before);
  expect(other.url()).toBe(url);
  expect(errors).toEqual([]);
  expect(errors2).toEqual([]);
});

test('bad state from a link: edits and selections out of range are refused with a message, and the page keeps working', async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1200, height: 1300 });
  const edits = JSON.stringify([
    { at: 'h.1.mlp.act', op: 'zero', columns: [99999] },
    { at: 'h.0.attn.c_proj.input', op: 'zero', heads: [7] },
    { at: 'h.0.attn.c_proj.input', op: 'zero', heads: [1] },
  ]);
  await page.goto(`${server.url}/#layer=9&neuron=99999&head=2&edits=${encodeURIComponent(edits)}`);
  await page.waitForFunction(() => document.body.dataset.ready === '1' && Number(document.body.dataset.draws) > 0, undefined, { timeout: 120_000 });
  const banner = page.locator('#banner-text');
  await expect(banner).toContainText('edit refused (zero h.1.mlp.act [columns 99999])');
  await expect(banner).toContainText('edit refused (zero h.0.attn.c_proj.input [heads 7])');
  await expect(banner).toContainText('layer 9 from the link is out of range: this model has layers 0..2');
  await expect(banner).toContainText('neuron 99999 is out of range: layer 0 has neurons 0..511');
  // The valid edit ran; the rest were dropped.
  await expect(page.locator('#edit-list')).toHaveAttribute('data-count', '1');
  await expect(page.locator('#compare')).toHaveAttribute('data-state', 'compared');
  // A bad link edit of another kind, and a bad factor in the page.
  await page.goto('about:blank');
  await page.goto(`${server.url}/#edits=${encodeURIComponent('[{"at":"h.0","op":"patch"}]')}`);
  await expect(page.locator('#banner-text')).toContainText("the link's edit 1 is not one the explorer makes");
  await page.waitForFunction(() => document.body.dataset.ready === '1' && Number(document.body.dataset.draws) > 0, undefined, { timeout: 120_000 });
  await page.selectOption('#edit-op', 'scale');
  await page.fill('#edit-factor', '');
  await page.locator('#neuron-edit').click();
  await expect(page.locator('#banner-text')).toContainText('factor "" is not a number');
  await expect(page.locator('#edit-list')).toHaveAttribute('data-count', '0');
  // The page still runs.
  await page.locator('#banner-close').click();
  await redraw(page, () => page.locator('#run').click());
  await expect(page.locator('#compare')).toHaveAttribute('data-state', 'none');
  expect(errors).toEqual([]);
});
