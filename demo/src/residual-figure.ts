// The 2×2 residual-reconstruction figure for one layer l, and the all-layers view:
//   1. layer l (hidden_states.l) vs layer l+1 (h.l)            identity line
//   2. attention Δ vs MLP Δ
//   3. layer l + Δattn + ΔMLP vs layer l+1                     identity line (r = 1.000)
//   4. layer l+1 − layer l vs Δattn + ΔMLP                     identity line
// Above GPU_LAYER_ABOVE kept points per panel the 2×2 view is drawn by the WebGPU layer
// (scatter-gpu.ts) straight from the layer's tensors on the GPU, with hover and lasso
// answered there too; below it, and in the all-layers view, regl-scatterplot draws points
// that come from the GPU (stats.ts) already masked, compacted and normalised.
import { Panel, categoryColors, sharedRenderer, type GpuHooks, type PanelAxes, type PanelData, type PanelEvents, type Renderer } from './figure.js';
import type { GpuLayer, LayerPoints, LayerStats, Ranges } from './stats.js';
import { panelPixel, pointLook, type RenderResult, type ScatterFrame, type ScatterGPU } from './scatter-gpu.js';
import { SpatialIndexPool } from './spatial-pool.js';

/**
 * Above this many kept points per panel the 2×2 view is drawn by the WebGPU layer. Below it
 * regl-scatterplot's round points, hover outline and lasso are worth their cost (point
 * arrays, state texture, spatial index: its first frame took 0.23 s at 25k points per panel
 * and 0.6 s at 100k on SwiftShader, 2 cores, where the WebGPU layer's took 0.13 s at any of
 * these sizes, and 0.2 s at 250k); above it that cost grows by seconds while the WebGPU
 * layer's stays at one pass over the tensors.
 */
export const GPU_LAYER_ABOVE = 50_000;
/** Hover radius of the WebGPU layer, in CSS pixels. */
const HOVER_RADIUS = 6;

export interface PanelDef {
  name: (l: number) => string;
  x: (l: number) => string;
  y: (l: number) => string;
  identity: boolean;
}

export const PANELS: PanelDef[] = [
  { name: (l) => `1 · layer ${l} vs layer ${l + 1}`, x: (l) => `layer ${l}  (hidden_states.${l})`, y: (l) => `layer ${l + 1}  (h.${l})`, identity: true },
  { name: () => '2 · attention Δ vs MLP Δ', x: (l) => `attention Δ  (h.${l}.attn.c_proj)`, y: (l) => `MLP Δ  (h.${l}.mlp.c_proj)`, identity: false },
  { name: (l) => `3 · layer ${l} + Δattn + ΔMLP vs layer ${l + 1}`, x: (l) => `layer ${l} + Δattn + ΔMLP`, y: (l) => `layer ${l + 1}  (h.${l})`, identity: true },
  { name: (l) => `4 · (layer ${l + 1} − layer ${l}) vs (Δattn + ΔMLP)`, x: (l) => `layer ${l + 1} − layer ${l}`, y: () => 'Δattn + ΔMLP', identity: true },
];

/**
 * What is on screen, for hover and lasso: point j of a panel is entry index[j] (of layer
 * layerOf[j]); in the WebGPU layer ('gpu') point j is entry j itself.
 */
export type Shown =
  | { kind: 'layer'; layer: number; index: Uint32Array }
  | { kind: 'gpu'; layer: number }
  | { kind: 'all'; panel: number; index: Uint32Array; layerOf: Uint8Array };

export class ResidualFigure {
  readonly panels: Panel[];
  readonly renderer: Renderer;
  readonly pool = new SpatialIndexPool();
  shown?: Shown;
  /** Above this many kept points per panel the 2×2 view goes to the WebGPU layer (a field so tests can change it). */
  gpuAbove = GPU_LAYER_ABOVE;
  /** The WebGPU layer on screen, if any. */
  frame?: ScatterFrame;
  /** Where the last WebGPU first frame spent its time: GPU work + read-back, putImageData, and all of showLayerGpu(). */
  gpuTimings = { gpuMs: 0, presentMs: 0, totalMs: 0 };
  private hovered?: number;
  private hoverWanted?: { panel: Panel; pixel?: [number, number] };
  private hovering = false;
  private redrawing?: Promise<void>;
  private dirty?: { raster: boolean };
  private readonly hooks: GpuHooks = {
    view: () => void this.requestRedraw(true),
    hover: (panel, pixel) => this.requestHover(panel, pixel),
    lasso: (panel, polygon) => { const f = this.frame; void this.lasso(panel, polygon).catch((e) => this.fail(e, f)); },
    deselect: (panel) => { const f = this.frame; void this.deselect(panel).catch((e) => this.fail(e, f)); },
  };

  constructor(readonly root: HTMLElement, size: number, private readonly events: PanelEvents) {
    this.renderer = sharedRenderer();
    this.panels = [0, 1, 2, 3].map((i) => new Panel(root, i, this.renderer, size, this.pool, events));
    window.addEventListener('keyup', (e) => { if (e.key === 'Escape' && this.frame) this.hooks.deselect(this.panels[0]); });
  }

  /** True when the 2×2 view of `kept` points per panel goes to the WebGPU layer. */
  usesGpuLayer(kept: number): boolean {
    return kept > this.gpuAbove;
  }

  /**
   * The 2×2 figure of one layer drawn by the WebGPU layer from the layer's tensors (after
   * its stats() at the threshold shown): the four panels' axes, then one raster of all four.
   */
  async showLayerGpu(layer: number, stats: LayerStats, ranges: Ranges, gpuLayer: GpuLayer, scatter: ScatterGPU): Promise<void> {
    const K = stats.kept;
    this.shown = undefined;
    this.dropFrame();
    this.root.dataset.view = 'layer';
    const pixels = this.panels[0].pixels;
    const { point, alpha } = pointLook(K);
    const frame = await scatter.frame(gpuLayer, ranges, pixels, pixels, point, alpha);
    frame.identity = PANELS.map((d) => d.identity);
    this.frame = frame;
    const t0 = performance.now();
    // The cameras at their start, the GPU work submitted, then the titles, axes and
    // regl-scatterplot (which only takes the mouse here: the first frame does not wait for it)
    // while the GPU draws.
    const axes = this.panels.map((_, p) => this.axes(p, layer, stats, ranges));
    this.panels.forEach((panel, p) => panel.resetCamera(axes[p]));
    const rendering = frame.render(this.views(), this.contexts());
    for (const [p, panel] of this.panels.entries()) {
      panel.hidden = false;
      void panel.showLayer(axes[p], K, this.hooks).catch((e) => this.fail(e));
    }
    const result = await rendering;
    this.gpuTimings = { gpuMs: result.gpuMs, presentMs: result.presentMs, totalMs: performance.now() - t0 };
    this.applyDrawn(result);
    for (const panel of this.panels) panel.setCount(this.countText(stats));
    this.shown = { kind: 'gpu', layer };
    this.setDataset(stats.total, K, K * 4, 'webgpu');
  }

  /** Forgets the WebGPU layer (before its layer's buffers go); the canvases keep their last image. */
  dropFrame(): void {
    this.frame?.destroy();
    this.frame = undefined;
    this.hovered = undefined;
    this.dirty = undefined;
  }

  /** Resolves when the WebGPU layer has drawn every camera change asked so far. */
  async settled(): Promise<void> {
    while (this.redrawing) await this.redrawing;
  }

  /** Page coordinates of entry e in panel p of the WebGPU layer (reads the entry's values back; for tests). */
  async entryScreenPosition(p: number, e: number): Promise<{ x: number; y: number } | undefined> {
    const frame = this.frame;
    if (!frame) return undefined;
    const values = await frame.layer.values(e);
    const [fx, fy] = panelPixel(p, values, frame.ranges, this.panels[p].cameraView(), frame.width, frame.height);
    const rect = this.panels[p].canvas.getBoundingClientRect();
    return { x: rect.left + (fx * rect.width) / frame.width, y: rect.top + (fy * rect.height) / frame.height };
  }

  private axes(p: number, layer: number, stats: LayerStats, ranges: Ranges): PanelAxes {
    const def = PANELS[p];
    return {
      name: def.name(layer), r: stats.r[p], xLabel: def.x(layer), yLabel: def.y(layer), identity: def.identity,
      xDomain: [ranges.loU[p], ranges.hiU[p]], yDomain: [ranges.loV[p], ranges.hiV[p]],
    };
  }

  private countText(stats: LayerStats): string {
    return `${stats.kept.toLocaleString('en-US')} points of ${stats.total.toLocaleString('en-US')} (${(stats.total - stats.kept).toLocaleString('en-US')} masked at |value| > ${stats.threshold})`;
  }

  private views(): Float32Array[] {
    return this.panels.map((p) => p.cameraView());
  }

  private contexts(): CanvasRenderingContext2D[] {
    return this.panels.map((p) => p.layerContext());
  }

  private applyDrawn(r: RenderResult): void {
    this.panels.forEach((panel, p) => {
      panel.root.dataset.drawn = String(r.drawn[p]);
      panel.root.dataset.selectedDrawn = String(r.selectedDrawn[p]);
    });
  }

  /** Reports an error of the figure's background work, unless it came from a layer since replaced (its buffers are gone). */
  private fail(e: unknown, frame?: ScatterFrame): void {
    if (frame && frame !== this.frame) return;
    if (this.events.onError) this.events.onError(e);
    else console.error(e);
  }

  /** Draws the WebGPU layer again with the current cameras (raster = false: only the hover changed); requests fold together. */
  private requestRedraw(raster: boolean): Promise<void> {
    if (!this.frame) return Promise.resolve();
    this.dirty = { raster: raster || (this.dirty?.raster ?? false) };
    if (!this.redrawing) this.redrawing = this.redrawLoop();
    return this.redrawing;
  }

  private async redrawLoop(): Promise<void> {
    // A task later: requestRedraw() has stored this promise, and the other panels' view
    // events of the same regl frame (one task each) have folded into this redraw.
    await new Promise((resolve) => setTimeout(resolve, 0));
    try {
      while (this.dirty && this.frame) {
        const { raster } = this.dirty;
        this.dirty = undefined;
        const frame = this.frame;
        try {
          const r = await frame.render(this.views(), this.contexts(), raster);
          if (frame === this.frame) this.applyDrawn(r);
        } catch (e) {
          this.fail(e, frame);
        }
      }
    } finally {
      this.redrawing = undefined;
    }
  }

  /** Hover: the latest mouse position is picked once the pick in flight has answered. */
  private requestHover(panel: Panel, pixel: [number, number] | undefined): void {
    if (!this.frame) return;
    this.hoverWanted = { panel, pixel };
    if (!this.hovering) void this.hoverLoop();
  }

  private async hoverLoop(): Promise<void> {
    this.hovering = true;
    let frame: ScatterFrame | undefined;
    try {
      while (this.hoverWanted && this.frame) {
        const { panel, pixel } = this.hoverWanted;
        this.hoverWanted = undefined;
        const f = (frame = this.frame);
        const scale = f.width / panel.size;
        const hit = pixel ? await f.pick(panel.index, pixel, HOVER_RADIUS * scale, this.views()) : undefined;
        if (f !== this.frame || this.hoverWanted) continue; // replaced, or the mouse moved on
        if (!hit) {
          if (this.hovered === undefined) continue;
          this.hovered = undefined;
          f.hover.fill(0);
          this.events.onHover(panel, undefined);
          void this.requestRedraw(false);
          continue;
        }
        const views = this.views();
        const at = this.panels.map((_, p) => panelPixel(p, hit.values, f.ranges, views[p], f.width, f.height));
        at.forEach(([x, y], p) => f.hover.set([x, y, 3.5 * Math.max(1, scale), 1], 4 * p));
        const rect = panel.canvas.getBoundingClientRect();
        const [fx, fy] = at[panel.index];
        this.events.onHover(panel, hit.entry, { x: rect.left + fx / scale, y: rect.top + fy / scale }, hit.values);
        if (this.hovered !== hit.entry) {
          this.hovered = hit.entry;
          void this.requestRedraw(false);
        }
      }
    } catch (e) {
      this.fail(e, frame);
    } finally {
      this.hovering = false;
    }
  }

  private async lasso(panel: Panel, polygon: [number, number][]): Promise<void> {
    const frame = this.frame;
    if (!frame) return;
    const entries = await frame.lasso(panel.index, polygon);
    if (frame !== this.frame) return;
    this.events.onSelect(panel, Array.from(entries));
    await this.requestRedraw(true);
  }

  private async deselect(panel: Panel): Promise<void> {
    const frame = this.frame;
    if (!frame || frame.selectedCount === 0) return;
    await frame.clearSelection();
    if (frame !== this.frame) return;
    this.events.onSelect(panel, []);
    await this.requestRedraw(true);
  }

  /** The 2×2 figure of one layer. */
  async showLayer(layer: number, stats: LayerStats, ranges: Ranges, points: LayerPoints,
    onProgress: (fraction: number) => void = () => {}): Promise<void> {
    const K = points.kept;
    const fractions = [0, 0, 0, 0];
    this.shown = undefined;
    this.dropFrame();
    this.root.dataset.view = 'layer';
    // One panel after the other: each appears as soon as it is ready, and the main thread
    // is not shared between four conversions at once.
    for (const [p, panel] of this.panels.entries()) {
      panel.hidden = false;
      const data: PanelData = {
        ...this.axes(p, layer, stats, ranges),
        x: points.coords.subarray(p * K, (p + 1) * K),
        y: points.coords.subarray((4 + p) * K, (5 + p) * K),
      };
      await panel.show(data, (f) => { fractions[p] = f; onProgress(fractions.reduce((a, b) => a + b, 0) / 4); });
    }
    for (const panel of this.panels) panel.setCount(this.countText(stats));
    this.shown = { kind: 'layer', layer, index: points.index };
    this.setDataset(stats.total, K, K * 4, 'regl');
  }

  /** Every layer's points of one panel (0: layer l vs l+1, 3: difference vs deltas) in one plot, coloured by layer. */
  async showAllLayers(panelIndex: number, layers: { stats: LayerStats; points: LayerPoints }[], ranges: Ranges,
    onProgress: (fraction: number) => void = () => {}): Promise<void> {
    const L = layers.length;
    const total = layers.reduce((s, l) => s + l.points.kept, 0);
    const x = new Float32Array(total), y = new Float32Array(total), cat = new Float32Array(total);
    const index = new Uint32Array(total), layerOf = new Uint8Array(total);
    let o = 0;
    layers.forEach(({ points }, l) => {
      const K = points.kept;
      x.set(points.coords.subarray(panelIndex * K, (panelIndex + 1) * K), o);
      y.set(points.coords.subarray((4 + panelIndex) * K, (5 + panelIndex) * K), o);
      cat.fill(l, o, o + K);
      index.set(points.index, o);
      layerOf.fill(l, o, o + K);
      o += K;
    });
    const colors = categoryColors(L);
    const def = PANELS[panelIndex];
    this.shown = undefined;
    this.dropFrame();
    this.root.dataset.view = `all-${panelIndex + 1}`;
    this.panels.forEach((p, i) => { p.hidden = i !== 0; });
    const main = this.panels[0];
    await main.show({
      name: panelIndex === 0 ? 'All layers · layer l vs layer l+1' : 'All layers · (layer l+1 − layer l) vs (Δattn + ΔMLP)',
      xLabel: panelIndex === 0 ? 'layer l  (hidden_states.l)' : 'layer l+1 − layer l',
      yLabel: panelIndex === 0 ? 'layer l+1  (h.l)' : 'Δattn + ΔMLP',
      identity: def.identity,
      x, y, category: cat, colors,
      xDomain: [ranges.loU[panelIndex], ranges.hiU[panelIndex]],
      yDomain: [ranges.loV[panelIndex], ranges.hiV[panelIndex]],
      legend: layers.map(({ stats }, l) => ({ label: `layer ${l}: r = ${fmtR(stats.r[panelIndex])}`, color: colors[l] })),
      note: 'Coloured by layer l; each layer keeps its own threshold mask.',
    }, onProgress);
    const entries = layers.reduce((s, l) => s + l.stats.total, 0);
    main.setCount(`${total.toLocaleString('en-US')} points of ${entries.toLocaleString('en-US')} over ${L} layers (${(entries - total).toLocaleString('en-US')} masked)`);
    main.root.dataset.rByLayer = JSON.stringify(layers.map(({ stats }) => stats.r[panelIndex]));
    this.shown = { kind: 'all', panel: panelIndex, index, layerOf };
    this.setDataset(entries, total, total, 'regl');
  }

  private setDataset(total: number, kept: number, drawn: number, renderer: 'webgpu' | 'regl'): void {
    Object.assign(this.root.dataset, { total: String(total), kept: String(kept), masked: String(total - kept), points: String(drawn), renderer });
  }
}

export function fmtR(r: number): string {
  return Number.isFinite(r) ? r.toFixed(3) : 'n/a';
}
