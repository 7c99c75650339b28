// One panel of the figure: a regl-scatterplot canvas (WebGL; pan/zoom, hover, lasso),
// d3 axes over d3 scales kept in sync with the camera, an identity line, and a title
// whose Pearson r is plain DOM text. All four panels share one WebGL renderer.
// For the 2×2 view of a large layer the points are not regl-scatterplot's: the WebGPU
// layer (scatter-gpu.ts) draws them into a 2D canvas under the regl canvas, which then
// holds no points and keeps the camera, the identity line and the lasso; the panel
// forwards camera changes, mouse moves and lassos to the figure's hooks (GpuHooks).
import createScatterplot, { createRenderer } from 'regl-scatterplot';
import createRegl from '@plotly/regl';
import REGL_PROCS from './generated/regl-procs.js';
import { scaleLinear, type ScaleLinear } from 'd3-scale';
import { axisBottom, axisLeft } from 'd3-axis';
import { select } from 'd3-selection';
import type { SpatialIndexPool } from './spatial-pool.js';

type Scatterplot = ReturnType<typeof createScatterplot>;
export type Renderer = ReturnType<typeof createRenderer>;

/** Above this many points a panel's scatterplot runs in performanceMode (square points, no blending). */
export const PERFORMANCE_MODE_ABOVE = 2_000_000;
/** Points converted per slice before yielding to the browser (keeps the page responsive). */
const SLICE = 250_000;
/**
 * The WebGL extensions regl-scatterplot asks for (its createRegl's list): float textures for
 * the point state, 32-bit indices, float colour buffers and blending.
 */
const GL_EXTENSIONS = ['OES_texture_float', 'OES_element_index_uint', 'WEBGL_color_buffer_float', 'EXT_float_blend'];
export const MARGIN = { left: 58, right: 12, top: 8, bottom: 44 };
/** The camera starts slightly zoomed out so points at ±1 do not touch the frame. */
const CAMERA_DISTANCE = 1.06;
/** y = x, half transparent: in panels 3 and 4 every point lies on it. */
const IDENTITY_COLOR: [number, number, number, number] = [0.84, 0.15, 0.16, 0.55];
const POINT_COLOR = '#1f5fbf';

/** A panel's title, axes and domains (all it shows besides the points). */
export interface PanelAxes {
  /** Title before the r, e.g. "1 · layer 0 vs layer 1". */
  name: string;
  /** Pearson r, shown as "r = 0.987" (omitted when undefined). */
  r?: number;
  xLabel: string;
  yLabel: string;
  /** Draws y = x (x and y must share one normalisation range). */
  identity: boolean;
  /** Data values at -1 and +1 of each axis. */
  xDomain: [number, number];
  yDomain: [number, number];
  legend?: { label: string; color: string }[];
  note?: string;
}

/** A panel drawn by regl-scatterplot: its axes and its points. */
export interface PanelData extends PanelAxes {
  /** Point coordinates in [-1, 1]. */
  x: Float32Array;
  y: Float32Array;
  /** Integer category per point, coloured by `colors`. */
  category?: Float32Array;
  colors?: string[];
}

export interface PanelEvents {
  /** `values`: the entry's x, y, a, m where the WebGPU layer read them (its hover answers from the GPU). */
  onHover: (panel: Panel, point: number | undefined, screen?: { x: number; y: number }, values?: [number, number, number, number]) => void;
  onSelect: (panel: Panel, points: number[]) => void;
  /** Errors of the figure's own background work (WebGPU redraws on pan/zoom, hover, lasso). */
  onError?: (e: unknown) => void;
}

/** What a panel drawn by the WebGPU layer forwards to the figure. Pixels are the layer canvas's. */
export interface GpuHooks {
  view(panel: Panel): void;
  hover(panel: Panel, pixel: [number, number] | undefined): void;
  lasso(panel: Panel, polygon: [number, number][]): void;
  deselect(panel: Panel): void;
}

const yieldToBrowser = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class Panel {
  readonly root: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  /** The WebGPU layer's pixels (a 2D canvas under `canvas`; hidden when regl-scatterplot draws the points). */
  readonly layerCanvas: HTMLCanvasElement;
  readonly svg: SVGSVGElement;
  private readonly titleName: HTMLElement;
  private readonly titleR: HTMLElement;
  private readonly noteEl: HTMLElement;
  private readonly countEl: HTMLElement;
  private readonly legendEl: HTMLElement;
  private plot?: Scatterplot;
  private performanceMode = false;
  /** Above this many points the scatterplot runs in performanceMode (a field so tests can lower it). */
  performanceModeAbove = PERFORMANCE_MODE_ABOVE;
  private xScale: ScaleLinear<number, number> = scaleLinear();
  private yScale: ScaleLinear<number, number> = scaleLinear();
  private drawn = 0;
  private axesQueued = false;
  /** Set while the WebGPU layer draws this panel's points. */
  private gpu?: GpuHooks;
  data?: PanelAxes;
  /** Where the last show() spent its time: point arrays + spatial index, then regl-scatterplot's draw to the first frame. */
  timings = { arraysAndIndexMs: 0, drawMs: 0 };

  constructor(parent: HTMLElement, readonly index: number, private readonly renderer: Renderer,
    readonly size: number, private readonly pool: SpatialIndexPool, private readonly events: PanelEvents) {
    const root = document.createElement('section');
    root.className = 'panel';
    root.dataset.panel = String(index + 1);
    const title = document.createElement('h3');
    title.className = 'panel-title';
    this.titleName = document.createElement('span');
    this.titleName.className = 'panel-name';
    this.titleR = document.createElement('span');
    this.titleR.className = 'panel-r';
    title.append(this.titleName, this.titleR);
    this.noteEl = document.createElement('p');
    this.noteEl.className = 'panel-note';
    const area = document.createElement('div');
    area.className = 'plot-area';
    area.style.width = `${size + MARGIN.left + MARGIN.right}px`;
    area.style.height = `${size + MARGIN.top + MARGIN.bottom}px`;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'plot-canvas';
    Object.assign(this.canvas.style, { left: `${MARGIN.left}px`, top: `${MARGIN.top}px`, width: `${size}px`, height: `${size}px` });
    this.layerCanvas = document.createElement('canvas');
    this.layerCanvas.className = 'plot-canvas plot-layer';
    this.layerCanvas.width = this.layerCanvas.height = this.pixels;
    this.layerCanvas.hidden = true;
    Object.assign(this.layerCanvas.style, { left: `${MARGIN.left}px`, top: `${MARGIN.top}px`, width: `${size}px`, height: `${size}px` });
    this.svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    this.svg.classList.add('axes');
    this.svg.setAttribute('width', String(size + MARGIN.left + MARGIN.right));
    this.svg.setAttribute('height', String(size + MARGIN.top + MARGIN.bottom));
    this.svg.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
    area.append(this.layerCanvas, this.canvas, this.svg);
    this.countEl = document.createElement('p');
    this.countEl.className = 'panel-count';
    this.legendEl = document.createElement('div');
    this.legendEl.className = 'legend';
    root.append(title, this.noteEl, area, this.legendEl, this.countEl);
    parent.append(root);
    this.root = root;
    this.initAxes();
    // With the page, not with the first figure: creating a scatterplot compiles its WebGL programs.
    this.ensurePlot(false);
    // Hover and deselection of the WebGPU layer (regl-scatterplot, holding no points, answers neither).
    const pixel = (e: MouseEvent): [number, number] => [e.offsetX * (this.pixels / this.size), e.offsetY * (this.pixels / this.size)];
    this.canvas.addEventListener('mousemove', (e) => { if (e.buttons === 0) this.gpu?.hover(this, pixel(e)); });
    this.canvas.addEventListener('mouseleave', () => this.gpu?.hover(this, undefined));
    this.canvas.addEventListener('mousedown', () => this.gpu?.hover(this, undefined));
    this.canvas.addEventListener('dblclick', () => this.gpu?.deselect(this));
  }

  /** Canvas pixels per side (the CSS size at the screen's pixel ratio), as regl-scatterplot sizes its canvas. */
  get pixels(): number {
    return Math.max(1, Math.round(this.size * (window.devicePixelRatio || 1)));
  }

  /** The camera: regl-scatterplot's view matrix (column-major 4×4). */
  cameraView(): Float32Array {
    if (!this.plot) throw new Error('internal: no scatterplot yet');
    return Float32Array.from(this.plot.get('cameraView') as ArrayLike<number>);
  }

  /** The 2D context the WebGPU layer's pixels go to. */
  layerContext(): CanvasRenderingContext2D {
    return this.layerCanvas.getContext('2d')!;
  }

  /** True while the WebGPU layer draws this panel's points. */
  get gpuLayer(): boolean {
    return this.gpu !== undefined;
  }

  /** Points the scatterplot holds now. */
  get pointsDrawn(): number {
    return this.drawn;
  }

  get scatterplot(): Scatterplot | undefined {
    return this.plot;
  }

  set hidden(h: boolean) {
    this.root.hidden = h;
  }

  /** Shows new data: scales, colours, points (converted in slices; spatial index in place, in a worker above 3M points), axes, title. */
  async show(d: PanelData, onProgress: (fraction: number) => void = () => {}): Promise<void> {
    const n = d.x.length;
    this.gpu = undefined;
    this.data = d;
    this.setTitle(d);
    this.root.dataset.points = '0';
    const plot = this.ensurePlot(n > this.performanceModeAbove);
    this.xScale = scaleLinear().domain(d.xDomain);
    this.yScale = scaleLinear().domain(d.yDomain);
    const categorical = !!d.category && !!d.colors;
    // Point arrays and spatial index first (the old points stay on screen meanwhile); then
    // every change is applied in one go so that the next frame is the only render.
    let points: number[][] | undefined;
    let spatialIndex: ArrayBuffer | undefined;
    const t0 = performance.now();
    if (n > 0) {
      const indexPromise = this.pool.build(d.x, d.y);
      points = await toPointArrays(d.x, d.y, categorical ? d.category : undefined, onProgress);
      spatialIndex = await indexPromise;
    }
    const t1 = performance.now();
    const settings = plot.set({
      xScale: this.xScale,
      yScale: this.yScale,
      // performanceMode draws opaque squares without blending: no transparency there.
      pointSize: n > 2e5 ? 2 : n > 2e4 ? 2.5 : 4,
      opacity: this.performanceMode ? 1 : n > 2e5 ? 0.35 : n > 2e4 ? 0.6 : 0.85,
      colorBy: categorical ? 'category' : null,
      pointColor: categorical ? d.colors! : POINT_COLOR,
    });
    plot.deselect({ preventEvent: true });
    // Not awaited: reset() resolves on the plot's next draw, which an empty plot never does.
    void plot.reset({ preventEvent: true });
    const annotations = plot.drawAnnotations(d.identity
      ? [{ vertices: [[-100, -100], [100, 100]], lineColor: IDENTITY_COLOR, lineWidth: 1 }]
      : []);
    this.layerCanvas.hidden = true;
    if (points) await plot.draw(points, { spatialIndex });
    else {
      await plot.clearPoints();
      plot.redraw();
    }
    await Promise.all([settings, annotations]);
    this.timings = { arraysAndIndexMs: t1 - t0, drawMs: performance.now() - t1 };
    this.drawn = n;
    this.root.dataset.points = String(n);
    this.updateAxes();
    this.renderLegend(d.legend);
  }

  /**
   * The axes' domains and regl-scatterplot's camera at its start, at once (for the WebGPU
   * layer, which reads cameraView() next); showLayer() shows the rest.
   */
  resetCamera(d: PanelAxes): void {
    const plot = this.ensurePlot(false);
    this.xScale = scaleLinear().domain(d.xDomain);
    this.yScale = scaleLinear().domain(d.yDomain);
    void plot.set({ xScale: this.xScale, yScale: this.yScale }).catch((e) => console.error(e));
    void plot.reset({ preventEvent: true });
  }

  /**
   * Shows the axes of points the WebGPU layer draws, after resetCamera(d) (`hooks` receive
   * camera changes, mouse moves and lassos): regl-scatterplot keeps no points and draws
   * nothing (the layer draws the identity line too), and the layer canvas shows under it.
   * The returned promise resolves when regl-scatterplot takes mouse input again (the first
   * frame does not wait for it).
   */
  showLayer(d: PanelAxes, points: number, hooks: GpuHooks): Promise<void> {
    this.data = d;
    this.setTitle(d);
    const plot = this.ensurePlot(false);
    plot.deselect({ preventEvent: true });
    const annotations = plot.drawAnnotations([]);
    // regl-scatterplot's last frame (points of a smaller view) would cover the layer until its next one.
    this.canvas.getContext('2d')?.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.gpu = hooks;
    this.layerCanvas.hidden = false;
    this.drawn = points;
    this.root.dataset.points = String(points);
    this.timings = { arraysAndIndexMs: 0, drawMs: 0 };
    this.updateAxes();
    this.renderLegend(d.legend);
    // Without points, but "drawn" (regl-scatterplot takes mouse input only then: pan, zoom, lasso).
    const cleared = Promise.resolve(plot.clearPoints()).then(() => plot.redraw());
    return Promise.all([annotations, cleared]).then(() => undefined);
  }

  select(points: number[]): void {
    if (!this.plot || this.gpu) return;
    if (points.length === 0) this.plot.deselect({ preventEvent: true });
    else this.plot.select(points, { preventEvent: true });
  }

  setCount(text: string): void {
    this.countEl.textContent = text;
  }

  /** The screen position (page coordinates) of a point. */
  screenPosition(point: number): { x: number; y: number } | undefined {
    if (this.gpu) return undefined; // the figure's entryScreenPosition() answers for the WebGPU layer
    const p = this.plot?.getScreenPosition(point);
    if (!p) return undefined;
    const rect = this.canvas.getBoundingClientRect();
    return { x: rect.left + p[0], y: rect.top + p[1] };
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.root.remove();
  }

  private setTitle(d: PanelAxes): void {
    this.titleName.textContent = d.name;
    if (d.r === undefined) {
      this.titleR.textContent = '';
      delete this.root.dataset.r;
    } else {
      this.titleR.textContent = Number.isFinite(d.r) ? `r = ${d.r.toFixed(3)}` : 'r = n/a (fewer than 2 points)';
      this.root.dataset.r = String(d.r);
    }
    this.noteEl.textContent = d.note ?? '';
    this.noteEl.hidden = !d.note;
  }

  private renderLegend(legend: PanelData['legend']): void {
    this.legendEl.replaceChildren();
    for (const item of legend ?? []) {
      const entry = document.createElement('span');
      entry.className = 'legend-item';
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = item.color;
      entry.append(swatch, document.createTextNode(item.label));
      this.legendEl.append(entry);
    }
  }

  /** performanceMode is fixed when a scatterplot is created: recreate it when the point count crosses the line. */
  private ensurePlot(performanceMode: boolean): Scatterplot {
    if (this.plot && this.performanceMode === performanceMode) return this.plot;
    this.plot?.destroy();
    this.performanceMode = performanceMode;
    const plot = createScatterplot({
      renderer: this.renderer,
      canvas: this.canvas,
      width: this.size,
      height: this.size,
      performanceMode,
      cameraDistance: CAMERA_DISTANCE,
      backgroundColor: '#ffffff',
      pointColor: POINT_COLOR,
      pointColorHover: '#ff7f0e',
      pointColorActive: '#ff7f0e',
      lassoColor: '#ff7f0e',
      lassoInitiator: false,
      deselectOnDblClick: true,
      deselectOnEscape: true,
    });
    plot.subscribe('view', () => {
      this.queueAxes();
      this.gpu?.view(this);
    });
    plot.subscribe('lassoEnd', ({ coordinates }: { coordinates: number[] | [number, number][] }) => this.gpu?.lasso(this, vertexPairs(coordinates)));
    plot.subscribe('pointOver', (i: number) => this.events.onHover(this, i, this.screenPosition(i)));
    plot.subscribe('pointOut', () => this.events.onHover(this, undefined));
    plot.subscribe('select', ({ points }: { points: number[] }) => this.events.onSelect(this, points));
    plot.subscribe('deselect', () => this.events.onSelect(this, []));
    this.plot = plot;
    return plot;
  }

  private initAxes(): void {
    const svg = select(this.svg);
    svg.append('g').attr('class', 'x-axis').attr('transform', `translate(${MARGIN.left},${MARGIN.top + this.size})`);
    svg.append('g').attr('class', 'y-axis').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
    svg.append('rect').attr('class', 'frame')
      .attr('x', MARGIN.left).attr('y', MARGIN.top).attr('width', this.size).attr('height', this.size)
      .attr('fill', 'none').attr('stroke', '#999').attr('stroke-width', 1);
    svg.append('text').attr('class', 'x-title')
      .attr('x', MARGIN.left + this.size / 2).attr('y', MARGIN.top + this.size + 38)
      .attr('text-anchor', 'middle').attr('font-size', 12).attr('font-family', 'sans-serif').attr('fill', '#222');
    svg.append('text').attr('class', 'y-title')
      .attr('transform', `translate(14,${MARGIN.top + this.size / 2}) rotate(-90)`)
      .attr('text-anchor', 'middle').attr('font-size', 12).attr('font-family', 'sans-serif').attr('fill', '#222');
  }

  private queueAxes(): void {
    if (this.axesQueued) return;
    this.axesQueued = true;
    requestAnimationFrame(() => {
      this.axesQueued = false;
      this.updateAxes();
    });
  }

  private updateAxes(): void {
    const svg = select(this.svg);
    // regl-scatterplot keeps the scales' domains on the current view and their ranges on the canvas.
    const x = this.xScale.copy().range([0, this.size]);
    const y = this.yScale.copy().range([this.size, 0]);
    svg.select<SVGGElement>('g.x-axis').call(axisBottom(x).ticks(6, '~g'));
    svg.select<SVGGElement>('g.y-axis').call(axisLeft(y).ticks(6, '~g'));
    svg.select('text.x-title').text(this.data?.xLabel ?? '');
    svg.select('text.y-title').text(this.data?.yLabel ?? '');
  }
}

/** The lasso's vertices as [x, y] pairs (regl-scatterplot gives pairs; its types say a flat list). */
function vertexPairs(c: number[] | [number, number][]): [number, number][] {
  if (c.length === 0 || Array.isArray(c[0])) return c as [number, number][];
  const flat = c as number[];
  return Array.from({ length: flat.length >> 1 }, (_, i) => [flat[2 * i], flat[2 * i + 1]] as [number, number]);
}

/** regl-scatterplot takes [x, y(, category)] arrays; building them in slices lets the page breathe. */
async function toPointArrays(x: Float32Array, y: Float32Array, z: Float32Array | undefined,
  onProgress: (fraction: number) => void): Promise<number[][]> {
  const n = x.length;
  const out: number[][] = new Array(n);
  for (let start = 0; start < n; start += SLICE) {
    const end = Math.min(n, start + SLICE);
    if (z) for (let i = start; i < end; i++) out[i] = [x[i], y[i], z[i]];
    else for (let i = start; i < end; i++) out[i] = [x[i], y[i]];
    onProgress(end / n);
    if (end < n) await yieldToBrowser();
  }
  return out;
}

/**
 * The shared WebGL renderer of all panels (one context for the whole figure).
 *
 * regl compiles each draw command into JavaScript with `Function`, which the page's
 * Content-Security-Policy (no 'unsafe-eval') forbids. So regl is @plotly/regl (the bundler
 * aliases 'regl' to it), whose generated code is the same on every device, and it gets the
 * procedures precompiled by `npm run regl-codegen` (demo/src/generated/regl-procs.js):
 * regl looks each one up by the SHA-256 of its source and never calls `Function`.
 */
export function sharedRenderer(): Renderer {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl', { antialias: true, preserveDrawingBuffer: true });
  if (!gl) throw new Error('this browser has no WebGL: the scatterplots need it');
  const extensions = GL_EXTENSIONS.filter((name) => gl.getExtension(name));
  // The procedures are regl's own code shape; @plotly/regl types do not list cachedCode.
  const regl = createRegl({ gl, extensions, cachedCode: { ...REGL_PROCS } } as Parameters<typeof createRegl>[0]);
  // The same regl at run time (the alias); only the two packages' type declarations differ.
  return createRenderer({ regl: regl as unknown as NonNullable<Parameters<typeof createRenderer>[0]>['regl'], canvas });
}

/** Distinct colours for n categories (Tableau 10, then evenly spaced hues). */
export function categoryColors(n: number): string[] {
  const tab10 = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  if (n <= tab10.length) return tab10.slice(0, n);
  return Array.from({ length: n }, (_, i) => hslToHex((i * 360) / n, 0.65, 0.45));
}

function hslToHex(h: number, s: number, l: number): string {
  const f = (k: number) => {
    const kk = (k + h / 30) % 12;
    const c = l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(kk - 3, 9 - kk, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}
