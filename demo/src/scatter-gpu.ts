// The figure's WebGPU point layer: the 2×2 panels of one layer drawn straight from its
// four tap buffers, with no point arrays, state texture or spatial index on the CPU.
// Four WGSL kernels (demo/shaders/scatter_*.wgsl), each with its contract at the top:
//   render(views):  scatter_raster (every kept entry counted into a density image per panel,
//                   through the panel's domain and camera) → scatter_shade (RGBA8 pixels), then
//                   one read-back of the pixels (4·W·H·4 bytes, whatever the point count) and
//                   putImageData on each panel's 2D canvas, which lies under the panel's
//                   regl-scatterplot canvas (camera, identity line, lasso). The pixels travel
//                   back because a WebGPU canvas cannot be presented everywhere: in headless
//                   Chromium on SwiftShader, configuring one loses every GPU device of the page.
//   pick(panel, mouse):  scatter_pick, 3 passes → the nearest kept entry and its four values.
//   lasso(panel, polygon):  scatter_lasso → the selection bitmask (drawn in every panel) and
//                   the selected entries.
// A ScatterFrame is one layer at one threshold and canvas size; its GPU work runs one
// operation at a time (render, pick, lasso share staging buffers).
import { BufferPool, bindGroup, createKernel, encodeDispatch, type Kernel } from '../../src/engine/gpu.js';
import { GPT2TapsError } from '../../src/errors.js';
import { CHUNK, panelRanges, submitChecked, type GpuLayer, type Ranges, type ResidualGPU } from './stats.js';
import rasterSrc from '../shaders/scatter_raster.wgsl';
import shadeSrc from '../shaders/scatter_shade.wgsl';
import pickSrc from '../shaders/scatter_pick.wgsl';
import lassoSrc from '../shaders/scatter_lasso.wgsl';

/** Bytes of the Params struct shared by scatter_raster, scatter_pick and scatter_lasso. */
const PARAMS_BYTES = 256;
/** Bytes of scatter_shade's Shade struct. */
const SHADE_BYTES = 128;
/** Lasso polygons are simplified to at most this many vertices (each point tests every edge). */
const MAX_LASSO_VERTICES = 1024;

type RGB = [number, number, number];
const rgb = (hex: string): RGB => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255) as RGB;

/** How the layer looks: regl-scatterplot's colours (the opacity of points goes with their number: pointLook()). */
export const LOOK = {
  alphaSelected: 0.9,
  background: rgb('#ffffff'),
  color: rgb('#1f5fbf'),
  colorSelected: rgb('#ff7f0e'),
  /** y = x, half transparent (as the regl-scatterplot panels draw it). */
  identity: [0.84, 0.15, 0.16, 0.55],
};

/** A panel's camera: regl-scatterplot's 4×4 view matrix (column-major), clip = view · (g, 0, 1). */
export type View = ArrayLike<number>;

/** Where a render spent its time, and what it drew. */
export interface RenderResult {
  /** Kept points inside each panel's canvas (the raster's counters; all kept points at the initial camera). */
  drawn: number[];
  /** Of them, selected. */
  selectedDrawn: number[];
  /** Submit until the pixels are mapped (raster, shade, copy). */
  gpuMs: number;
  /** putImageData of the four panels. */
  presentMs: number;
}

export interface Pick {
  entry: number;
  /** x, y, a, m of the entry. */
  values: [number, number, number, number];
}

interface Kernels { shade: Kernel; pick: Kernel[]; lasso: Kernel }

/** scatter_raster without and with the selection plane, for one point size. */
type Rasters = [Kernel, Kernel];

const STORAGE = GPUBufferUsage.STORAGE;
const UNIFORM = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
const READ_BACK = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;

const rd = (binding: number, name: string) => ({ binding, name, access: 'read' as const });
const rw = (binding: number, name: string) => ({ binding, name, access: 'read_write' as const });
const un = (binding: number, name: string) => ({ binding, name, access: 'uniform' as const });
const XYAM = [rd(0, 'x'), rd(1, 'y'), rd(2, 'a'), rd(3, 'm')];
const RASTER_BINDINGS = [...XYAM, rd(4, 'selected'), rw(5, 'density'), rw(6, 'drawn'), un(7, 'params')];

/**
 * Point size (canvas pixels) and opacity for n points per panel, as regl-scatterplot chooses
 * them: smaller and lighter as they crowd; above 200k, one CSS pixel at 0.35 (matplotlib's
 * s=0.5, alpha=0.35 of the benchmark's reference figure).
 */
export function pointLook(n: number): { point: number; alpha: number } {
  const dpr = window.devicePixelRatio || 1;
  return n > 200_000 ? { point: Math.max(1, Math.round(dpr)), alpha: 0.35 } : { point: Math.max(1, Math.round(2 * dpr)), alpha: 0.6 };
}

export class ScatterGPU {
  /** scatter_raster pipelines by point size (the screen's two sizes compiled at create(), others when first needed). */
  private readonly rasters = new Map<number, Promise<Rasters>>();

  private constructor(readonly device: GPUDevice, private readonly k: Kernels) {}

  static async create(device: GPUDevice): Promise<ScatterGPU> {
    // One at a time: error scopes are one stack per device.
    const shade = await createKernel(device, 'scatter_shade', shadeSrc, [rd(0, 'density'), rw(1, 'pixels'), un(2, 'params')], {});
    const pick: Kernel[] = [];
    for (const PASS of [0, 1, 2]) {
      pick.push(await createKernel(device, 'scatter_pick', pickSrc, [...XYAM, rw(4, 'result'), un(5, 'params')], { PASS }));
    }
    const lasso = await createKernel(device, 'scatter_lasso', lassoSrc,
      [...XYAM, rd(4, 'polygon'), rw(5, 'selected'), rw(6, 'list'), un(7, 'params')], {});
    const gpu = new ScatterGPU(device, { shade, pick, lasso });
    await gpu.raster(pointLook(Infinity).point);
    await gpu.raster(pointLook(0).point);
    return gpu;
  }

  /**
   * The layer of `layer` (after its stats() at the threshold to draw) on canvases of
   * width × height pixels, points `point` pixels wide of opacity `alpha`, in the panels'
   * domains `ranges`.
   */
  async frame(layer: GpuLayer, ranges: Ranges, width: number, height: number, point: number, alpha: number): Promise<ScatterFrame> {
    const stats = layer.lastStats;
    if (!stats) throw new GPT2TapsError('internal: the WebGPU layer needs the layer\'s stats() first');
    if (height > this.device.limits.maxComputeWorkgroupsPerDimension) {
      throw new GPT2TapsError(`the figure's canvases (${width} × ${height} pixels) are too tall for this device's workgroup limit`);
    }
    return new ScatterFrame(this.device, this.k, await this.raster(point), layer, stats.threshold, ranges, width, height, point, alpha);
  }

  private raster(point: number): Promise<Rasters> {
    let r = this.rasters.get(point);
    if (!r) {
      r = (async (): Promise<Rasters> => [
        await createKernel(this.device, 'scatter_raster', rasterSrc, RASTER_BINDINGS, { POINT: point, SELECTED: 0 }),
        await createKernel(this.device, 'scatter_raster', rasterSrc, RASTER_BINDINGS, { POINT: point, SELECTED: 1 }),
      ])();
      this.rasters.set(point, r);
    }
    return r;
  }
}

export class ScatterFrame {
  private readonly pool: BufferPool;
  private readonly n: number;
  private readonly groups: number;
  private readonly density: GPUBuffer;
  private readonly drawnCounts: GPUBuffer;
  private readonly selected: GPUBuffer;
  private readonly pixels: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly drawParams: GPUBuffer;
  private readonly shadeParams: GPUBuffer[];
  private readonly pickParams: GPUBuffer;
  private readonly pickResult: GPUBuffer;
  private readonly pickStaging: GPUBuffer;
  private readonly drawGroups: GPUBindGroup[];
  private readonly shadeGroups: GPUBindGroup[];
  private readonly pickGroups: GPUBindGroup[];
  private queue: Promise<unknown> = Promise.resolve();
  private busy = 0;
  private destroyed = false;
  /** Entries selected by the last lasso (bits in `selected`). */
  selectedCount = 0;
  /** The hovered entry's disc in each panel: (x, y, radius, on) in pixels. */
  hover = new Float32Array(16);
  /** Panels that draw the identity line y = x (their x and y share one range). */
  identity = [false, false, false, false];

  constructor(private readonly device: GPUDevice, private readonly k: Kernels, private readonly rasters: Rasters, readonly layer: GpuLayer,
    readonly threshold: number, readonly ranges: Ranges, readonly width: number, readonly height: number,
    readonly point: number, readonly alpha: number) {
    const p = (this.pool = new BufferPool(device));
    this.n = layer.entries;
    this.groups = Math.ceil(this.n / CHUNK);
    const area = width * height;
    this.density = p.create('scatter density', 4 * 2 * area * 4, STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.drawnCounts = p.create('scatter drawn', 8 * 4, STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.selected = p.create('scatter selected', Math.ceil(this.n / 32) * 4, STORAGE | GPUBufferUsage.COPY_DST);
    this.pixels = p.create('scatter pixels', 4 * area * 4, STORAGE | GPUBufferUsage.COPY_SRC);
    this.staging = p.create('scatter read-back', 4 * area * 4 + 32, READ_BACK);
    this.drawParams = p.create('scatter params', PARAMS_BYTES, UNIFORM);
    this.shadeParams = [0, 1, 2, 3].map((panel) => p.create(`scatter shade params ${panel}`, SHADE_BYTES, UNIFORM));
    this.pickParams = p.create('scatter pick params', PARAMS_BYTES, UNIFORM);
    this.pickResult = p.create('scatter pick result', 32, STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.pickStaging = p.create('scatter pick read-back', 32, READ_BACK);
    const xyam = { ...layer.inputs };
    this.drawGroups = rasters.map((kernel) => bindGroup(device, kernel,
      { ...xyam, selected: this.selected, density: this.density, drawn: this.drawnCounts, params: this.drawParams }));
    this.shadeGroups = this.shadeParams.map((params) => bindGroup(device, k.shade, { density: this.density, pixels: this.pixels, params }));
    this.pickGroups = k.pick.map((kernel) => bindGroup(device, kernel, { ...xyam, result: this.pickResult, params: this.pickParams }));
  }

  /**
   * Draws the four panels with their cameras `views` into `targets` (2D contexts of
   * width × height pixels). raster = false re-shades the last density (hover changes only).
   */
  render(views: View[], targets: CanvasRenderingContext2D[], raster = true): Promise<RenderResult> {
    return this.serial(async () => {
      const { device, k, width: W, height: H } = this;
      const area = W * H;
      const enc = device.createCommandEncoder({ label: 'scatter render' });
      if (raster) {
        device.queue.writeBuffer(this.drawParams, 0, this.params({ views }));
        enc.clearBuffer(this.density);
        enc.clearBuffer(this.drawnCounts);
        const sel = this.selectedCount > 0 ? 1 : 0;
        encodeDispatch(enc, this.rasters[sel], this.drawGroups[sel], [this.groups, 1, 1], 'scatter_raster');
      }
      for (let p = 0; p < 4; p++) {
        device.queue.writeBuffer(this.shadeParams[p], 0, this.shade(p, views[p]));
        encodeDispatch(enc, k.shade, this.shadeGroups[p], [Math.ceil(W / 64), H, 1], 'scatter_shade');
      }
      enc.copyBufferToBuffer(this.pixels, 0, this.staging, 0, 4 * area * 4);
      enc.copyBufferToBuffer(this.drawnCounts, 0, this.staging, 4 * area * 4, 32);
      const t0 = performance.now();
      await submitChecked(device, enc.finish(), 'the WebGPU point layer');
      await this.staging.mapAsync(GPUMapMode.READ);
      const t1 = performance.now();
      try {
        const bytes = this.staging.getMappedRange();
        targets.forEach((ctx, p) => {
          // putImageData copies: the view into the mapped range is not kept.
          ctx.putImageData(new ImageData(new Uint8ClampedArray(bytes, p * area * 4, area * 4), W, H), 0, 0);
        });
        const counts = new Uint32Array(bytes, 4 * area * 4, 8);
        return { drawn: [...counts.subarray(0, 4)], selectedDrawn: [...counts.subarray(4, 8)], gpuMs: t1 - t0, presentMs: performance.now() - t1 };
      } finally {
        this.staging.unmap();
      }
    });
  }

  /** The kept entry nearest to `mouse` (pixels) in panel `panel`, within `radius` pixels. */
  pick(panel: number, mouse: [number, number], radius: number, views: View[]): Promise<Pick | undefined> {
    return this.serial(async () => {
      const { device, k } = this;
      device.queue.writeBuffer(this.pickParams, 0, this.params({ views, panel, mouse, radius2: radius * radius }));
      device.queue.writeBuffer(this.pickResult, 0, new Uint32Array([0xffffffff, 0xffffffff, 0, 0, 0, 0, 0, 0]));
      const enc = device.createCommandEncoder({ label: 'scatter pick' });
      encodeDispatch(enc, k.pick[0], this.pickGroups[0], [this.groups, 1, 1], 'scatter_pick 0');
      encodeDispatch(enc, k.pick[1], this.pickGroups[1], [this.groups, 1, 1], 'scatter_pick 1');
      encodeDispatch(enc, k.pick[2], this.pickGroups[2], [1, 1, 1], 'scatter_pick 2');
      enc.copyBufferToBuffer(this.pickResult, 0, this.pickStaging, 0, 32);
      await submitChecked(device, enc.finish(), 'the WebGPU point layer (hover)');
      await this.pickStaging.mapAsync(GPUMapMode.READ);
      const bytes = this.pickStaging.getMappedRange().slice(0);
      this.pickStaging.unmap();
      const entry = new Uint32Array(bytes, 4, 1)[0];
      if (entry >= this.n) return undefined;
      const [x, y, a, m] = new Float32Array(bytes, 8, 4);
      return { entry, values: [x, y, a, m] };
    });
  }

  /**
   * Selects the kept entries inside `polygon` (panel `panel`'s normalised coordinates, as
   * regl-scatterplot's lassoEnd gives them); the selection shows in every panel at the next
   * render. Returns the selected entries (unordered).
   */
  lasso(panel: number, polygon: [number, number][]): Promise<Uint32Array> {
    return this.serial(async () => {
      const { device, k } = this;
      const vertices = simplify(polygon, MAX_LASSO_VERTICES);
      const box = [Infinity, Infinity, -Infinity, -Infinity];
      for (const [x, y] of vertices) {
        box[0] = Math.min(box[0], x); box[1] = Math.min(box[1], y);
        box[2] = Math.max(box[2], x); box[3] = Math.max(box[3], y);
      }
      const pool = new BufferPool(device);
      try {
        const params = pool.create('lasso params', PARAMS_BYTES, UNIFORM);
        device.queue.writeBuffer(params, 0, this.params({ panel, count: vertices.length, box }));
        const poly = pool.upload('lasso polygon', Float32Array.from(vertices.flat()));
        const list = pool.create('lasso list', (1 + this.n) * 4, STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        const count = pool.create('lasso count read-back', 16, READ_BACK);
        const enc = device.createCommandEncoder({ label: 'scatter lasso' });
        enc.clearBuffer(this.selected);
        enc.clearBuffer(list, 0, 16);
        if (vertices.length >= 3) {
          encodeDispatch(enc, k.lasso, bindGroup(device, k.lasso,
            { ...this.layer.inputs, polygon: poly, selected: this.selected, list, params }), [this.groups, 1, 1], 'scatter_lasso');
        }
        enc.copyBufferToBuffer(list, 0, count, 0, 16);
        await submitChecked(device, enc.finish(), 'the WebGPU point layer (lasso)');
        await count.mapAsync(GPUMapMode.READ);
        const K = new Uint32Array(count.getMappedRange(), 0, 1)[0];
        count.unmap();
        this.selectedCount = K;
        if (K === 0) return new Uint32Array(0);
        const entries = pool.create('lasso entries read-back', K * 4, READ_BACK);
        const enc2 = device.createCommandEncoder({ label: 'scatter lasso entries' });
        enc2.copyBufferToBuffer(list, 4, entries, 0, K * 4);
        await submitChecked(device, enc2.finish(), 'the WebGPU point layer (lasso)');
        await entries.mapAsync(GPUMapMode.READ);
        const out = new Uint32Array(entries.getMappedRange().slice(0, K * 4));
        entries.unmap();
        return out;
      } finally {
        pool.destroyAll();
      }
    });
  }

  /** Clears the selection (shown at the next render). */
  clearSelection(): Promise<void> {
    return this.serial(async () => {
      const enc = this.device.createCommandEncoder({ label: 'scatter deselect' });
      enc.clearBuffer(this.selected);
      this.device.queue.submit([enc.finish()]);
      this.selectedCount = 0;
    });
  }

  destroy(): void {
    this.destroyed = true;
    // After the operation in flight, if any: its buffers are these.
    void this.queue.finally(() => this.pool.destroyAll());
  }

  /** Runs GPU operations one at a time; an idle frame starts `op` at once (its work is submitted before this returns). */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const start = async () => {
      if (this.destroyed) throw new GPT2TapsError('internal: the WebGPU point layer was replaced');
      return op();
    };
    const run = this.busy === 0 ? start() : this.queue.then(start);
    this.busy++;
    this.queue = run.finally(() => { this.busy--; }).catch(() => undefined);
    return run;
  }

  private params(o: { views?: View[]; panel?: number; count?: number; mouse?: [number, number]; radius2?: number; box?: number[] }): ArrayBuffer {
    const b = new ArrayBuffer(PARAMS_BYTES);
    const u = new Uint32Array(b), f = new Float32Array(b);
    const r = this.ranges;
    u[0] = this.n; f[1] = this.threshold; u[2] = this.width; u[3] = this.height;
    u[6] = o.panel ?? 0; u[7] = o.count ?? 0;
    f[8] = o.mouse?.[0] ?? 0; f[9] = o.mouse?.[1] ?? 0; f[10] = o.radius2 ?? 0;
    f.set(o.box ?? [0, 0, 0, 0], 12);
    f.set(r.loU, 16); f.set(r.loV, 20);
    f.set(r.loU.map((lo, p) => 2 / (r.hiU[p] - lo)), 24);
    f.set(r.loV.map((lo, p) => 2 / (r.hiV[p] - lo)), 28);
    (o.views ?? []).forEach((v, p) => {
      f.set([v[0], v[1], v[4], v[5]], 32 + 4 * p);
      f.set([v[12], v[13], 0, 0], 48 + 4 * p);
    });
    return b;
  }

  /** scatter_shade's parameters for panel p under its camera `v`. */
  private shade(p: number, v: View): ArrayBuffer {
    const b = new ArrayBuffer(SHADE_BYTES);
    const u = new Uint32Array(b), f = new Float32Array(b);
    const { width: W, height: H } = this;
    u[0] = W; u[1] = H; f[2] = Math.log2(1 - this.alpha); f[3] = Math.log2(1 - LOOK.alphaSelected); u[4] = p;
    f.set(LOOK.background, 8); f.set(LOOK.color, 12); f.set(LOOK.colorSelected, 16); f.set(LOOK.identity, 20);
    f.set(this.hover.subarray(4 * p, 4 * p + 4), 24);
    if (this.identity[p]) {
      // g = (s, s) under the camera: through (v12, v13) in clip space, along (v0 + v4, v1 + v5); then to pixels.
      const dx = ((v[0] + v[4]) * W) / 2, dy = (-(v[1] + v[5]) * H) / 2;
      const len = Math.hypot(dx, dy) || 1;
      f.set([((v[12] + 1) / 2) * W, ((1 - v[13]) / 2) * H, dx / len, dy / len], 28);
    }
    return b;
  }
}

/**
 * Runs every kernel of the figure once on a few entries, at page start: CPU backends
 * (SwiftShader) compile a pipeline at its first dispatch, which the first figure would
 * otherwise wait for (~0.1 s). Awaited before other GPU work (error scopes are one stack).
 */
export async function warmUp(residual: ResidualGPU, scatter: ScatterGPU): Promise<void> {
  const v = new Float32Array(64).map((_, i) => Math.sin(i));
  const layer = residual.upload(v, v.map((x) => 2 * x), v.map((x) => x / 2), v.map((x) => -x));
  try {
    const ranges = panelRanges([await layer.stats(1)]);
    await layer.points(ranges);
    const views = [0, 1, 2, 3].map(() => [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    for (const n of [Infinity, 0]) {
      const { point, alpha } = pointLook(n);
      const frame = await scatter.frame(layer, ranges, 8, 8, point, alpha);
      await frame.render(views, []);
      await frame.pick(0, [4, 4], 8, views);
      await frame.lasso(0, [[-2, -2], [2, -2], [2, 2], [-2, 2]]);
      await frame.render(views, []); // with the selection plane
      frame.destroy();
    }
  } finally {
    layer.destroy();
  }
}

/**
 * Where entry values (x, y, a, m) land in panel p: its normalised coordinates g (as the
 * WGSL kernels compute them, in float32), then the pixel under the camera `view` on a
 * width × height canvas.
 */
export function panelPixel(p: number, values: ArrayLike<number>, ranges: Ranges, view: View, width: number, height: number): [number, number] {
  const f = Math.fround;
  const [x, y, a, m] = [values[0], values[1], values[2], values[3]];
  const u = [x, a, f(f(x + a) + m), f(y - x)][p];
  const v = [y, m, y, f(a + m)][p];
  const gx = f(f(f(u - ranges.loU[p]) * f(2 / (ranges.hiU[p] - ranges.loU[p]))) - 1);
  const gy = f(f(f(v - ranges.loV[p]) * f(2 / (ranges.hiV[p] - ranges.loV[p]))) - 1);
  const cx = view[0] * gx + view[4] * gy + view[12];
  const cy = view[1] * gx + view[5] * gy + view[13];
  return [((cx + 1) / 2) * width, ((1 - cy) / 2) * height];
}

/** Keeps every k-th vertex so that at most `max` remain (a lasso has one per few mouse pixels). */
function simplify(polygon: [number, number][], max: number): [number, number][] {
  if (polygon.length <= max) return polygon;
  const step = Math.ceil(polygon.length / max);
  return polygon.filter((_, i) => i % step === 0);
}
