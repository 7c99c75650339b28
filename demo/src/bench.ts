// The plot benchmark page (driven by scripts/bench-plot.mjs through window.bench): the
// same GPU statistics and 2×2 figure as the demo, on the bundled gpt2-tiny's real
// layer-0 taps for the default text, tiled to N points in all (N/4 entries per panel;
// nothing is masked at threshold 30, so every entry is drawn).
//   run(N):  "run → first frame", from the four tensors already in GPU buffers (where a run
//            with model.runOnGpu leaves its taps; the tiling and upload happen before the
//            timer): GPU statistics (one small read-back), then the first frame of all four
//            panels, presented (queue drained, a pixel read of every canvas). Above the
//            figure's threshold the WebGPU layer draws (raster, shade, pixel read-back,
//            putImageData; regl-scatterplot's frame of axes and identity line alongside);
//            below it regl-scatterplot (GPU compaction and read-back, point arrays, spatial
//            index, its first frame). `renderer` forces one of the two.
//   pan():   every panel's camera moves; the time until all four have redrawn.
import { GPT2, RESIDUAL_TAPS, browserDevice, encode } from '../../src/index.js';
import { BufferPool } from '../../src/engine/gpu.js';
import { ResidualGPU, panelRanges, type GpuLayer } from './stats.js';
import { GPU_LAYER_ABOVE, ResidualFigure } from './residual-figure.js';
import { ScatterGPU, warmUp } from './scatter-gpu.js';
import { BUNDLED_URL } from './models.js';

const DEFAULT_TEXT = "Plants make fantastic pets because they don't leave a mess after you feed them.";
const status = document.getElementById('status')!;
let device: GPUDevice;
let gpu: ResidualGPU;
let scatter: ScatterGPU;
let tensors: Float32Array[] = [];
let figure: ResidualFigure;
let current: GpuLayer | undefined;

function tile(src: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let o = 0; o < n; o += src.length) out.set(src.subarray(0, Math.min(src.length, n - o)), o);
  return out;
}

/** Waits until the GPU is done and every panel's canvases hold their last frame (a pixel read forces the copy to finish). */
async function settle(): Promise<void> {
  await device.queue.onSubmittedWorkDone();
  for (const p of figure.panels) {
    p.canvas.getContext('2d')!.getImageData(0, 0, 1, 1);
    if (!p.layerCanvas.hidden) p.layerContext().getImageData(0, 0, 1, 1);
  }
}

const bench = {
  async setup() {
    device = await browserDevice();
    gpu = await ResidualGPU.create(device);
    scatter = await ScatterGPU.create(device);
    await warmUp(gpu, scatter); // as the page does when it starts
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
      tokens: ids.length, dims: model.config.n_embd, forwardMs, gpuLayerAbove: GPU_LAYER_ABOVE,
      webgpu: `${device.adapterInfo?.vendor ?? ''} ${device.adapterInfo?.architecture ?? ''} ${device.adapterInfo?.description ?? ''}`.trim(),
      webgl: gl ? String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : 'none',
    };
  },

  async run(totalPoints: number, renderer: 'auto' | 'webgpu' | 'regl' = 'auto') {
    const n = Math.floor(totalPoints / 4);
    figure.dropFrame();
    current?.destroy();
    current = undefined;
    // The taps on the GPU, as a run leaves them: tiled and uploaded before the timer.
    const pool = new BufferPool(device);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const [x, y, a, m] = tensors.map((t, i) => pool.upload(['x', 'y', 'a', 'm'][i], tile(t, n), usage));
    await device.queue.onSubmittedWorkDone();
    figure.gpuAbove = renderer === 'webgpu' ? 0 : renderer === 'regl' ? Infinity : GPU_LAYER_ABOVE;
    status.textContent = `drawing ${totalPoints.toLocaleString('en-US')} points…`;
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const layer = (current = gpu.layer({ x, y, a, m }, n, () => pool.destroyAll()));
    const stats = await layer.stats(30);
    const ranges = panelRanges([stats]);
    const t1 = performance.now();
    let compactMs = 0;
    const webgpu = figure.usesGpuLayer(stats.kept);
    if (webgpu) {
      await figure.showLayerGpu(0, stats, ranges, layer, scatter);
    } else {
      const points = await layer.points(ranges);
      compactMs = performance.now() - t1;
      await figure.showLayer(0, stats, ranges, points);
    }
    await settle();
    const t3 = performance.now();
    status.textContent = `drew ${(4 * stats.kept).toLocaleString('en-US')} points`;
    return {
      renderer: webgpu ? 'webgpu' : 'regl',
      points: 4 * stats.kept, perPanel: stats.kept,
      performanceMode: !webgpu && stats.kept > figure.panels[0].performanceModeAbove,
      statsMs: t1 - t0, compactMs, drawMs: t3 - t1 - compactMs, firstFrameMs: t3 - t0,
      r: stats.r,
      drawn: figure.panels.map((p) => Number(p.root.dataset.drawn ?? 0)),
      panels: figure.panels.map((p) => p.timings),
      gpu: webgpu ? figure.gpuTimings : undefined,
    };
  },

  async pan(step = 1) {
    const t0 = performance.now();
    await Promise.all(figure.panels.map((p) => p.scatterplot!.zoomToLocation([0.12 * step, -0.08 * step], 1.06)));
    await figure.settled(); // the WebGPU layer's redraw with the new cameras, if it draws
    await settle();
    return { panMs: performance.now() - t0 };
  },
};

(window as unknown as { bench: typeof bench }).bench = bench;
document.body.dataset.loaded = '1';
