// The 2×2 residual-reconstruction figure for one layer l, and the all-layers view:
//   1. layer l (hidden_states.l) vs layer l+1 (h.l)            identity line
//   2. attention Δ vs MLP Δ
//   3. layer l + Δattn + ΔMLP vs layer l+1                     identity line (r = 1.000)
//   4. layer l+1 − layer l vs Δattn + ΔMLP                     identity line
// Points come from the GPU (stats.ts) already masked, compacted and normalised.
import { Panel, categoryColors, sharedRenderer, type PanelData, type PanelEvents, type Renderer } from './figure.js';
import type { LayerPoints, LayerStats, Ranges } from './stats.js';
import { SpatialIndexPool } from './spatial-pool.js';

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

/** What is on screen, for hover and lasso: point j of a panel is entry index[j] (of layer layerOf[j]). */
export type Shown =
  | { kind: 'layer'; layer: number; index: Uint32Array }
  | { kind: 'all'; panel: number; index: Uint32Array; layerOf: Uint8Array };

export class ResidualFigure {
  readonly panels: Panel[];
  readonly renderer: Renderer;
  readonly pool = new SpatialIndexPool();
  shown?: Shown;

  constructor(readonly root: HTMLElement, size: number, events: PanelEvents) {
    this.renderer = sharedRenderer();
    this.panels = [0, 1, 2, 3].map((i) => new Panel(root, i, this.renderer, size, this.pool, events));
  }

  /** The 2×2 figure of one layer. */
  async showLayer(layer: number, stats: LayerStats, ranges: Ranges, points: LayerPoints,
    onProgress: (fraction: number) => void = () => {}): Promise<void> {
    const K = points.kept;
    const fractions = [0, 0, 0, 0];
    this.shown = undefined;
    this.root.dataset.view = 'layer';
    // One panel after the other: each appears as soon as it is ready, and the main thread
    // is not shared between four conversions at once.
    for (const [p, panel] of this.panels.entries()) {
      panel.hidden = false;
      const def = PANELS[p];
      const data: PanelData = {
        name: def.name(layer),
        r: stats.r[p],
        xLabel: def.x(layer),
        yLabel: def.y(layer),
        identity: def.identity,
        x: points.coords.subarray(p * K, (p + 1) * K),
        y: points.coords.subarray((4 + p) * K, (5 + p) * K),
        xDomain: [ranges.loU[p], ranges.hiU[p]],
        yDomain: [ranges.loV[p], ranges.hiV[p]],
      };
      await panel.show(data, (f) => { fractions[p] = f; onProgress(fractions.reduce((a, b) => a + b, 0) / 4); });
    }
    for (const panel of this.panels) {
      panel.setCount(`${K.toLocaleString('en-US')} points of ${stats.total.toLocaleString('en-US')} (${(stats.total - K).toLocaleString('en-US')} masked at |value| > ${stats.threshold})`);
    }
    this.shown = { kind: 'layer', layer, index: points.index };
    this.setDataset(stats.total, K, K * 4);
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
    this.setDataset(entries, total, total);
  }

  private setDataset(total: number, kept: number, drawn: number): void {
    Object.assign(this.root.dataset, { total: String(total), kept: String(kept), masked: String(total - kept), points: String(drawn) });
  }
}

export function fmtR(r: number): string {
  return Number.isFinite(r) ? r.toFixed(3) : 'n/a';
}
