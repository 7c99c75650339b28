// The plot benchmark page (driven by scripts/bench-plot.mjs through window.bench): the
// same GPU statistics and 2×2 figure as the demo, on the bundled gpt2-tiny's real
// layer-0 taps for the default text, tiled to N points in all (N/4 entries per panel;
// nothing is masked at threshold 30, so every entry is drawn).
//   run(N):  "run → first frame": upload, GPU stats, GPU compaction and read-back, point
//            arrays + spatial index, and the first frame of all four panels.
//   pan():   every panel's camera moves; the time until all four have redrawn.
import { GPT2, RESIDUAL_TAPS, browserDevice, encode } from '../../src/index.js';
import { ResidualGPU, panelRanges } from './stats.js';
import { ResidualFigure } from './residual-figure.js';
import { BUNDLED_URL } from './models.js';

const DEFAULT_TEXT = "Plants make fantastic pets because they don't leave a mess after you feed them.";
const status = document.getElementById('status')!;
let gpu: ResidualGPU;
let tensors: Float32Array[] = [];
let figure: ResidualFigure;

function tile(src: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let o = 0; o < n; o += src.length) out.set(src.subarray(0, Math.min(src.length, n - o)), o);
  return out;
}

/** Waits until every panel's canvas holds its last frame (a pixel read forces the copy to finish). */
function settle(): void {
  for (const p of figure.panels) p.canvas.getContext('2d')!.getImageData(0, 0, 1, 1);
}

const bench = {
  async setup() {
    const device = await browserDevice();
    gpu = await ResidualGPU.create(device);
    const model = await GPT2.load(new URL(BUNDLED_URL, location.href).href, { device });
    const ids = encode(DEFAULT_TEXT);
    const t0 = performance.now();
    const taps = await model.run(ids, { taps: RESIDUAL_TAPS });
    const forwardMs = performance.now() - t0;
    tensors = ['hidden_states.0', 'h.0', 'h.0.attn.c_proj', 'h.0.mlp.c_proj'].map((n) => taps.get(n).data);
    model.dispose();
    figure = new ResidualFigure(document.getElementById('figure')!, 380, { onHover: () => {}, onSelect: () => {} });
    const gl = document.createElement('canvas').getContext('webgl');
    const dbg = gl?.getExtension('WEBGL_debug_renderer_info');
    status.textContent = 'ready';
    document.body.dataset.ready = '1';
    return {
      tokens: ids.length, dims: model.config.n_embd, forwardMs,
      webgpu: `${device.adapterInfo?.vendor ?? ''} ${device.adapterInfo?.architecture ?? ''} ${device.adapterInfo?.description ?? ''}`.trim(),
      webgl: gl ? String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : 'none',
    };
  },

  async run(totalPoints: number) {
    const n = Math.floor(totalPoints / 4);
    const [x, y, a, m] = tensors.map((t) => tile(t, n));
    status.textContent = `drawing ${totalPoints.toLocaleString('en-US')} points…`;
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const layer = gpu.layer(x, y, a, m);
    const stats = await layer.stats(30);
    const ranges = panelRanges([stats]);
    const t1 = performance.now();
    const points = await layer.points(ranges);
    const t2 = performance.now();
    layer.destroy();
    await figure.showLayer(0, stats, ranges, points);
    settle();
    const t3 = performance.now();
    status.textContent = `drew ${(4 * points.kept).toLocaleString('en-US')} points`;
    return {
      points: 4 * points.kept, perPanel: points.kept,
      performanceMode: points.kept > 2_000_000,
      statsMs: t1 - t0, compactMs: t2 - t1, drawMs: t3 - t2, firstFrameMs: t3 - t0,
      r: stats.r,
      panels: figure.panels.map((p) => p.timings),
    };
  },

  async pan(step = 1) {
    const t0 = performance.now();
    await Promise.all(figure.panels.map((p) => p.scatterplot!.zoomToLocation([0.12 * step, -0.08 * step], 1.06)));
    settle();
    return { panMs: performance.now() - t0 };
  },
};

(window as unknown as { bench: typeof bench }).bench = bench;
document.body.dataset.loaded = '1';
