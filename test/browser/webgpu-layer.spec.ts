// The figure's WebGPU point layer (demo/src/scatter-gpu.ts, demo/shaders/scatter_*.wgsl) on the
// bundled gpt2-tiny, forced for its 2,176 points per panel (figure.gpuAbove = 0; the page uses it
// above GPU_LAYER_ABOVE): the raster's counts equal the kept entries, the panels' pixels equal a
// rendering computed here from the read-back taps (the same mask, domains and camera), masked
// entries leave their pixels white, a pan redraws under the new camera, and hover and lasso
// answer from the GPU (tooltip values, selection linked in all four panels, Escape clears).
import { test, expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { serve, type Server } from '../../src/node/serve.js';
import { CSP } from '../../demo/csp.mjs';
import { draws, lassoMiddle, openDemo, waitForDraw } from './demo-helpers.js';

let server: Server;
test.beforeAll(async () => {
  server = await serve({ mounts: { '/': 'dist/demo' }, headers: { 'content-security-policy': CSP } });
});
test.afterAll(async () => server?.close());

/** Draws the figure again with the WebGPU layer for any point count, at `threshold`. */
async function useGpuLayer(page: Page, threshold: number): Promise<void> {
  const n = await draws(page);
  await page.evaluate(() => { (window as unknown as { demo: { figure: { gpuAbove: number } } }).demo.figure.gpuAbove = 0; });
  await page.fill('#threshold', String(threshold));
  await page.locator('#threshold').dispatchEvent('change');
  await waitForDraw(page, n);
  await expect(page.locator('#figure')).toHaveAttribute('data-renderer', 'webgpu');
}

interface Comparison {
  total: number;
  kept: number;
  drawn: number[];
  /** Per panel: pixels whose colour equals the reference rendering's (±1 per channel), of all pixels. */
  same: number[];
  pixels: number;
  /** Per panel: pixels the reference colours and the page leaves white, and the reverse. */
  missing: number[];
  extra: number[];
  /** Panel 2 (no identity line): pixels only masked entries fall on, and how many of them are not white. */
  maskedOnly: number;
  maskedShown: number;
}

/**
 * The panels' pixels against a rendering computed in the page from the read-back taps of the
 * layer on screen: the mask (max |x|, |y|, |a|, |m| <= threshold), the panel's domain (the
 * figure's ranges), its camera (regl-scatterplot's view matrix), a point covering point ×
 * point pixels around its pixel, n points on a pixel blended as 1 − (1 − α)^n of #1f5fbf over
 * white. Pixels on the identity line (panels 1, 3, 4) are left out of the comparison.
 */
async function compare(page: Page): Promise<Comparison> {
  return page.evaluate(() => {
    type Vec4 = [number, number, number, number];
    interface Demo {
      state: { taps: { get(n: string): { data: Float32Array } }; lastStats: { threshold: number; kept: number; total: number }[] };
      figure: {
        root: HTMLElement;
        frame: { ranges: { loU: Vec4; hiU: Vec4; loV: Vec4; hiV: Vec4 }; width: number; height: number; point: number; alpha: number };
        panels: { cameraView(): Float32Array; layerCanvas: HTMLCanvasElement; root: HTMLElement }[];
      };
    }
    const { state, figure } = (window as unknown as { demo: Demo }).demo;
    const l = Number(figure.root.dataset.layer);
    const [x, y, a, m] = [`hidden_states.${l}`, `h.${l}`, `h.${l}.attn.c_proj`, `h.${l}.mlp.c_proj`].map((n) => state.taps.get(n).data);
    const { threshold } = state.lastStats[0];
    const { ranges, width: W, height: H, point: S, alpha } = figure.frame;
    const f = Math.fround;
    const identity = [true, false, true, true];
    const color = [0x1f, 0x5f, 0xbf];
    const out = { total: x.length, kept: 0, drawn: [] as number[], same: [] as number[], pixels: W * H, missing: [] as number[], extra: [] as number[], maskedOnly: 0, maskedShown: 0 };
    const keep = Array.from(x, (_, i) => Math.max(Math.abs(x[i]), Math.abs(y[i]), Math.abs(a[i]), Math.abs(m[i])) <= threshold);
    out.kept = keep.filter(Boolean).length;
    figure.panels.forEach((panel, p) => {
      out.drawn.push(Number(panel.root.dataset.drawn));
      const v = panel.cameraView();
      /** The pixels point i covers (none when its centre is off the canvas). */
      const pixelsOf = (i: number): number[] => {
        const u = [x[i], a[i], f(f(x[i] + a[i]) + m[i]), f(y[i] - x[i])][p];
        const w = [y[i], m[i], y[i], f(a[i] + m[i])][p];
        const gx = f(f(f(u - ranges.loU[p]) * f(2 / (ranges.hiU[p] - ranges.loU[p]))) - 1);
        const gy = f(f(f(w - ranges.loV[p]) * f(2 / (ranges.hiV[p] - ranges.loV[p]))) - 1);
        const fx = ((v[0] * gx + v[4] * gy + v[12] + 1) / 2) * W;
        const fy = ((1 - (v[1] * gx + v[5] * gy + v[13])) / 2) * H;
        if (!(fx >= 0 && fx < W && fy >= 0 && fy < H)) return [];
        const x0 = Math.floor(fx - 0.5 * (S - 1)), y0 = Math.floor(fy - 0.5 * (S - 1));
        const out: number[] = [];
        for (let py = y0; py < y0 + S; py++) for (let px = x0; px < x0 + S; px++) if (px >= 0 && px < W && py >= 0 && py < H) out.push(py * W + px);
        return out;
      };
      const density = new Uint32Array(W * H);
      const masked = new Uint8Array(W * H);
      for (let i = 0; i < x.length; i++) {
        for (const q of pixelsOf(i)) {
          if (keep[i]) density[q]++;
          else masked[q] = 1;
        }
      }
      // The identity line y = x under the camera, in pixels: pixels within 1.5 of it are not compared.
      const lx = ((v[12] + 1) / 2) * W, ly = ((1 - v[13]) / 2) * H;
      const dx = ((v[0] + v[4]) * W) / 2, dy = (-(v[1] + v[5]) * H) / 2, len = Math.hypot(dx, dy);
      const nearLine = (q: number) => identity[p] && Math.abs(((q % W) + 0.5 - lx) * (dy / len) - (Math.floor(q / W) + 0.5 - ly) * (dx / len)) < 1.5;
      const img = panel.layerCanvas.getContext('2d')!.getImageData(0, 0, W, H).data;
      let same = 0, missing = 0, extra = 0;
      for (let q = 0; q < W * H; q++) {
        if (nearLine(q)) { same++; continue; }
        const t = density[q] === 0 ? 0 : 1 - (1 - alpha) ** density[q];
        const want = color.map((c) => Math.round(255 + (c - 255) * t));
        const got = [img[4 * q], img[4 * q + 1], img[4 * q + 2]];
        const white = got.every((c) => c === 255);
        if (want.every((c, j) => Math.abs(c - got[j]) <= 1)) same++;
        if (density[q] > 0 && white) missing++;
        if (density[q] === 0 && !white) extra++;
        if (p === 1 && masked[q] && density[q] === 0) {
          out.maskedOnly++;
          if (!white) out.maskedShown++;
        }
      }
      out.same.push(same);
      out.missing.push(missing);
      out.extra.push(extra);
    });
    return out;
  });
}

/** Every panel's pixels equal the reference rendering but for a few points on a pixel edge (float rounding). */
function expectSameImage(c: Comparison): void {
  for (let p = 0; p < 4; p++) {
    expect(c.missing[p], `panel ${p + 1}: pixels with points left white`).toBeLessThanOrEqual(8);
    expect(c.extra[p], `panel ${p + 1}: pixels coloured where no point falls`).toBeLessThanOrEqual(8);
    expect(c.pixels - c.same[p], `panel ${p + 1}: pixels of another colour`).toBeLessThanOrEqual(16);
  }
}

async function layerImage(page: Page, panel: number): Promise<string> {
  return page.evaluate((p) => {
    const c = (window as unknown as { demo: { figure: { panels: { layerCanvas: HTMLCanvasElement }[] } } }).demo.figure.panels[p].layerCanvas;
    return c.toDataURL('image/png');
  }, panel);
}

test('the WebGPU layer draws every kept point where the reference rendering puts it, and no masked one', async ({ page }) => {
  const errors = await openDemo(page, `${server.url}/`);
  await expect(page.locator('#figure')).toHaveAttribute('data-renderer', 'regl'); // 2,176 points: below GPU_LAYER_ABOVE
  await useGpuLayer(page, 30);
  for (const p of [1, 2, 3, 4]) {
    await expect(page.locator(`.panel[data-panel="${p}"] canvas.plot-layer`)).toBeVisible();
  }
  let c = await compare(page);
  expect(c.kept).toBe(c.total); // nothing masked at 30
  expect(c.drawn).toEqual([c.kept, c.kept, c.kept, c.kept]); // the raster's counters: every kept point, in every panel
  expect(Number(await page.locator('#figure').getAttribute('data-kept'))).toBe(c.kept);
  expectSameImage(c);
  test.info().annotations.push({ type: 'figures', description: `threshold 30: pixels unlike the reference per panel ${c.same.map((s) => c.pixels - s).join(' / ')} of ${c.pixels}` });

  // A threshold that masks entries: the counters drop to the kept count, and pixels only masked entries fall on stay white.
  await useGpuLayer(page, 0.5);
  c = await compare(page);
  expect(c.kept).toBeLessThan(c.total);
  expect(c.kept).toBeGreaterThan(0);
  expect(c.drawn).toEqual([c.kept, c.kept, c.kept, c.kept]);
  expect(Number(await page.locator('#figure').getAttribute('data-masked'))).toBe(c.total - c.kept);
  expectSameImage(c);
  expect(c.maskedOnly).toBeGreaterThan(0);
  expect(c.maskedShown).toBe(0);
  test.info().annotations.push({ type: 'figures', description: `threshold 0.5: ${c.kept} of ${c.total} kept; ${c.maskedOnly} pixels of panel 2 hold only masked entries, all white` });
  expect(errors).toEqual([]);
});

test('a pan redraws the WebGPU layer under the new camera; the axes follow', async ({ page }) => {
  const errors = await openDemo(page, `${server.url}/`);
  await useGpuLayer(page, 30);
  const before = await layerImage(page, 1);
  const ticks = await page.locator('.panel[data-panel="2"] g.x-axis').textContent();
  // Drag panel 2 by a quarter of its width to the left and up.
  const box = (await page.locator('.panel[data-panel="2"] canvas:not(.plot-layer)').boundingBox())!;
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx - box.width / 4, cy - box.height / 8, { steps: 10 });
  await page.mouse.up();
  await expect.poll(() => layerImage(page, 1)).not.toBe(before);
  await page.waitForTimeout(300); // the last camera event of the drag
  await page.evaluate(() => (window as unknown as { demo: { figure: { settled(): Promise<void> } } }).demo.figure.settled());
  await expect.poll(() => page.locator('.panel[data-panel="2"] g.x-axis').textContent()).not.toBe(ticks);
  const c = await compare(page);
  expect(c.drawn[1]).toBeLessThan(c.kept); // some points left the canvas
  expect(c.drawn[1]).toBeGreaterThan(0);
  expectSameImage(c); // and the rest sit where the new camera puts them
  expect(errors).toEqual([]);
});

test('hover and lasso on the WebGPU layer: values from the GPU, selection shown in every panel, Escape clears it', async ({ page }) => {
  const errors = await openDemo(page, `${server.url}/`);
  await useGpuLayer(page, 30);
  // An entry away from the crowd in panel 2: the largest |MLP Δ|.
  const target = await page.evaluate(() => {
    const demo = (window as unknown as { demo: { state: { taps: { get(n: string): { data: Float32Array } } } } }).demo;
    const m = demo.state.taps.get('h.0.mlp.c_proj').data;
    let e = 0;
    for (let i = 1; i < m.length; i++) if (Math.abs(m[i]) > Math.abs(m[e])) e = i;
    const [a] = [demo.state.taps.get('h.0.attn.c_proj').data[e]];
    return { e, a, m: m[e] };
  });
  const pos = await page.evaluate((e) => (window as unknown as { demo: { entryScreenPosition(p: number, e: number): Promise<{ x: number; y: number }> } })
    .demo.entryScreenPosition(1, e), target.e);
  await page.mouse.move(pos.x, pos.y);
  const tooltip = page.locator('#tooltip');
  await expect(tooltip).toBeVisible({ timeout: 10_000 });
  const D = 128;
  await expect(tooltip).toContainText(`position ${Math.floor(target.e / D)}`);
  await expect(tooltip).toContainText(`dimension ${target.e % D} · layer 0`);
  await expect(tooltip).toContainText(target.a.toPrecision(6));
  await expect(tooltip).toContainText(target.m.toPrecision(6));
  await page.mouse.move(1, 1);

  await lassoMiddle(page, 3);
  await expect(page.locator('#selection-body')).toContainText('distinct tokens');
  const selected = Number(await page.locator('#figure').getAttribute('data-selected'));
  expect(selected).toBeGreaterThan(0);
  expect(selected).toBeLessThan(2176);
  // The raster counts the selected points of every panel: the same entries, linked.
  await page.evaluate(() => (window as unknown as { demo: { figure: { settled(): Promise<void> } } }).demo.figure.settled());
  for (const p of [1, 2, 3, 4]) {
    await expect(page.locator(`.panel[data-panel="${p}"]`)).toHaveAttribute('data-selected-drawn', String(selected));
  }
  // A figure PNG holds the layer.
  const [png] = await Promise.all([page.waitForEvent('download'), page.locator('#export-png').click()]);
  expect(readFileSync(await png.path()).length).toBeGreaterThan(10_000);
  await page.keyboard.press('Escape');
  await expect(page.locator('#selection')).toBeHidden();
  await expect(page.locator('.panel[data-panel="1"]')).toHaveAttribute('data-selected-drawn', '0');
  expect(errors).toEqual([]);
});
