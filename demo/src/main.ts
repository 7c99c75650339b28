// The demo page: load a GPT-2 (bundled, Hugging Face, or a local file), run it with the
// residual taps, and draw the 2×2 residual-reconstruction figure of layer l from GPU
// statistics. The figure's four tensors stay on the GPU (model.runOnGpu): its statistics
// and the WebGPU point layer read the run's own tap buffers, and the figure shows before
// the explorer's taps are read back. Every piece of text that
// comes from a checkpoint or the input goes into the page as textContent, never as HTML.
import {
  GPT2, GPT2TapsError, RESIDUAL_TAPS, browserDevice, decode, encodeAsync, tapsToSafetensors, tokenStrings, type Edit, type TapResult,
} from '../../src/index.js';
import { ExplorerGPU } from './explorer-gpu.js';
import { Explorer, checkEdits, parseEdits, type DimSource } from './explorer.js';
import { ResidualGPU, panelRanges, type GpuLayer, type LayerPoints, type LayerStats } from './stats.js';
import { PANELS, ResidualFigure } from './residual-figure.js';
import { ScatterGPU, warmUp } from './scatter-gpu.js';
import type { Panel } from './figure.js';
import {
  BUNDLED_URL, HF_NAMES, formatBytes, hfSize, loadHf, loadLocal, repoSpec, type LoadedBytes, type ModelChoice,
} from './models.js';
import { download, figurePng } from './export.js';
import { renderProfile } from './profile-panel.js';
import { profileForward } from '../../src/index.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const el = {
  banner: $('banner'), bannerText: $('banner-text'), bannerClose: $<HTMLButtonElement>('banner-close'),
  noWebgpu: $('no-webgpu'), noWebgpuDetail: $('no-webgpu-detail'),
  controls: $<HTMLFormElement>('controls'),
  source: $<HTMLSelectElement>('source'), hfOptions: $('hf-options'), hfInfo: $('hf-info'), hfLoad: $<HTMLButtonElement>('hf-load'),
  repoLabel: $('repo-label'), repo: $<HTMLInputElement>('hf-repo'),
  fileLabel: $('file-label'), file: $<HTMLInputElement>('file'), modelStatus: $('model-status'),
  text: $<HTMLTextAreaElement>('text'), tokenCount: $('token-count'), run: $<HTMLButtonElement>('run'),
  layer: $<HTMLSelectElement>('layer'), view: $<HTMLSelectElement>('view'), threshold: $<HTMLInputElement>('threshold'),
  lasso: $<HTMLButtonElement>('lasso'), exportPng: $<HTMLButtonElement>('export-png'), exportTaps: $<HTMLButtonElement>('export-taps'),
  progress: $('progress'), progressBar: $<HTMLProgressElement>('progress-bar'), progressText: $('progress-text'),
  modelNote: $('model-note'), lastLayerNote: $('last-layer-note'),
  figure: $('figure'), selection: $('selection'), selectionBody: $('selection-body'), tooltip: $('tooltip'),
};

interface Timings { forwardMs?: number; statsMs?: number; pointsMs?: number; drawMs?: number; totalMs?: number }

/** The figure's four tensors of layer l: x, y, a, m of stats.ts. */
const figureTaps = (l: number): [string, string, string, string] =>
  [`hidden_states.${l}`, `h.${l}`, `h.${l}.attn.c_proj`, `h.${l}.mlp.c_proj`];

const state = {
  device: undefined as GPUDevice | undefined,
  gpu: undefined as ResidualGPU | undefined,
  scatter: undefined as ScatterGPU | undefined,
  explorerGpu: undefined as ExplorerGPU | undefined,
  model: undefined as GPT2 | undefined,
  /** Where the model came from: loaded again (on a new device) after the GPU device was lost. */
  modelChoice: undefined as ModelChoice | undefined,
  modelLabel: '',
  /** Set when the device is lost; each task clears it as it starts. */
  deviceLost: false,
  taps: undefined as TapResult | undefined,
  /** The same input without the edits, when the run on screen has edits (for Ablate and compare). */
  clean: undefined as TapResult | undefined,
  /** Token ids that replace the text's (a generated sequence), until the text is edited. */
  ids: undefined as number[] | undefined,
  /** The input ids of the run on screen, and their token strings. */
  inputIds: new Uint32Array(0) as Uint32Array<ArrayBufferLike>,
  tokens: [] as string[],
  /**
   * The tensors of the layer on screen on the GPU (re-used when only the threshold changes):
   * the run's own tap buffers (runOnGpu), or uploaded from the read-back taps.
   */
  cached: undefined as { layer: number; gpu: GpuLayer } | undefined,
  lastStats: [] as LayerStats[],
  timings: {} as Timings,
  draws: 0,
  drawn: false,
  lasso: false,
};

let figure: ResidualFigure;
let explorer: Explorer;

// ---------------------------------------------------------------------------------
// Banner, progress, task queue

function showError(e: unknown): void {
  let msg = e instanceof Error ? e.message : String(e);
  if (e instanceof EvalError) {
    msg = `the scatterplot needed a regl draw procedure that is not precompiled, and this page's Content-Security-Policy ` +
      `forbids compiling it (${msg.trim()}). Run \`npm run regl-codegen\` and rebuild.`;
  }
  el.bannerText.textContent = msg;
  el.banner.hidden = false;
  console.warn(`[gpt2-taps demo] ${msg}`);
}
/** Adds a message to the banner (several refusals of one run show together). */
function addError(e: unknown): void {
  if (el.banner.hidden) { showError(e); return; }
  const msg = e instanceof Error ? e.message : String(e);
  el.bannerText.textContent = `${el.bannerText.textContent}\n${msg}`;
  console.warn(`[gpt2-taps demo] ${msg}`);
}
function clearError(): void {
  el.banner.hidden = true;
  el.bannerText.textContent = '';
}
el.bannerClose.addEventListener('click', clearError);

function setProgress(text: string, fraction?: number): void {
  el.progress.hidden = false;
  el.progressText.textContent = text;
  if (fraction === undefined) el.progressBar.removeAttribute('value');
  else el.progressBar.value = Math.max(0, Math.min(1, fraction));
}

let chain: Promise<void> = Promise.resolve();
let pending = 0;
let drawQueued = false;

/** Runs tasks one at a time; the page is "ready" when the queue is empty and a figure is drawn. */
function enqueue(task: () => Promise<void>): Promise<void> {
  pending++;
  document.body.dataset.ready = '0';
  const p = chain.then(() => {
    state.deviceLost = false;
    return task();
  }).catch((e) => {
    // The device was lost while this task ran: the banner already says so and what to do.
    if (state.deviceLost) return;
    showError(e);
  }).finally(() => {
    pending--;
    if (pending === 0) {
      el.progress.hidden = true;
      document.body.dataset.ready = state.drawn ? '1' : '0';
    }
  });
  chain = p;
  return p;
}

/** Redraws with the controls' values at the time the draw starts (several requests fold into one). */
function requestDraw(): Promise<void> {
  if (drawQueued) return chain;
  drawQueued = true;
  return enqueue(async () => {
    drawQueued = false;
    await drawFigure();
  });
}

const yieldFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));

// ---------------------------------------------------------------------------------
// Model

async function loadModel(choice: ModelChoice): Promise<void> {
  const { device } = await ensureGpu();
  const onProgress = (done: number, total: number | undefined, what: string) => {
    const short = what.length > 70 ? `…${what.slice(-68)}` : what;
    setProgress(total ? `${short}: ${formatBytes(done)} of ${formatBytes(total)}` : `${short}: ${formatBytes(done)}`, total ? done / total : undefined);
  };
  let loaded: LoadedBytes | undefined;
  let label: string;
  let random = false;
  let model: GPT2;
  if (choice.kind === 'bundled') {
    setProgress('loading the bundled gpt2-tiny…');
    model = await GPT2.load(new URL(BUNDLED_URL, location.href).href, { device, onProgress });
    label = 'bundled gpt2-tiny';
    random = true;
  } else {
    const what = choice.kind === 'hf' ? choice.name : choice.files.map((f) => f.name).join(' + ');
    try {
      setProgress(choice.kind === 'hf' ? `downloading ${choice.name}…` : 'reading the file…');
      loaded = choice.kind === 'hf' ? await loadHf(choice.name, onProgress) : await loadLocal(choice.files);
      setProgress('uploading weights…');
      // A file the user picked may hold anything: every weight is checked for NaN and ±Inf.
      const source = loaded.shards
        ? { shards: loaded.shards.files, weightMap: loaded.shards.weightMap, config: loaded.config }
        : { model: loaded.model!, config: loaded.config };
      model = await GPT2.load(source, { device, onProgress, checkFinite: choice.kind === 'local' });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`could not load ${what}${state.model ? ` (still using ${state.modelLabel})` : ''}: ${msg}`);
    }
    label = loaded.label;
  }
  // Only now that the new model works does it replace the old one (the figure's buffers may be its taps).
  dropCached();
  state.model?.dispose();
  state.model = model;
  state.modelChoice = choice;
  state.modelLabel = label;
  state.taps = undefined;
  state.clean = undefined;
  const c = model.config;
  el.modelStatus.textContent = `loaded: ${label} — ${c.n_layer} layers, ${c.n_head} heads, n_embd ${c.n_embd}, ` +
    `n_positions ${c.n_positions}${loaded?.cached ? ' (from the browser cache)' : ''}`;
  el.modelNote.textContent = [
    random ? 'The bundled gpt2-tiny has RANDOM weights: the numbers are exact (they match float64 references) but ' +
      'mean nothing linguistically. Pick a Hugging Face size for real GPT-2 weights.' : '',
    ...model.notes, loaded?.note ?? '',
  ].filter(Boolean).join(' ');
  let prev = Number(el.layer.value) || 0;
  if (pendingLayer !== undefined) {
    if (!(Number.isInteger(pendingLayer) && pendingLayer >= 0 && pendingLayer < c.n_layer)) {
      addError(new GPT2TapsError(`layer ${pendingLayer} from the link is out of range: this model has layers 0..${c.n_layer - 1}`));
    } else prev = pendingLayer;
    pendingLayer = undefined;
  }
  el.layer.replaceChildren(...Array.from({ length: c.n_layer }, (_, l) => new Option(`${l} → ${l + 1}`, String(l))));
  el.layer.value = String(Math.min(prev, c.n_layer - 1));
  void updateTokenCount();
}

/**
 * The WebGPU device and the figure's GPU statistics on it. A lost device (driver reset, GPU
 * process crash, `device.destroy()`) drops the model and everything on the device; the next
 * load or run asks for a new device here, without reloading the page.
 */
async function ensureGpu(): Promise<{ device: GPUDevice; gpu: ResidualGPU }> {
  if (state.device && state.gpu) return { device: state.device, gpu: state.gpu };
  const device = await browserDevice();
  const gpu = await ResidualGPU.create(device);
  const scatter = await ScatterGPU.create(device);
  await warmUp(gpu, scatter);
  const explorerGpu = await ExplorerGPU.create(device);
  state.device = device;
  state.gpu = gpu;
  state.scatter = scatter;
  state.explorerGpu = explorerGpu;
  void device.lost.then((info) => {
    if (state.device !== device) return;
    state.deviceLost = true;
    state.device = undefined;
    state.gpu = undefined;
    state.scatter = undefined;
    state.explorerGpu = undefined;
    // Their buffers went with the device. (Not disposed: a run in flight reports the loss itself.)
    figure.dropFrame();
    state.cached = undefined;
    state.model = undefined;
    el.modelStatus.textContent = `the GPU device was lost: ${state.modelLabel} will be loaded again on a new device by the next run`;
    showError(new GPT2TapsError(`the GPU device was lost (${info.reason || 'unknown reason'}${info.message ? `: ${info.message}` : ''})`,
      'press Run to load the model again on a new device; the figure on screen stays as it is'));
  });
  return { device, gpu };
}

function dropCached(): void {
  if (!state.cached) return;
  figure.dropFrame(); // the WebGPU layer reads these buffers
  state.cached.gpu.destroy();
  state.cached = undefined;
}

/** Above this many characters the token count shows its progress. */
const LONG_TEXT = 100_000;
let encoded: { text: string; ids: Promise<number[]> } | undefined;

/**
 * The ids of the text in the box, tokenized in slices that yield to the page (1 MB of text
 * does not freeze it); the same text is tokenized once for the count and the run.
 */
function textIds(): Promise<number[]> {
  const text = el.text.value;
  if (encoded?.text !== text) {
    const onProgress = text.length < LONG_TEXT ? undefined : (done: number, total: number) => {
      if (el.text.value === text) el.tokenCount.textContent = `counting tokens… ${Math.floor((100 * done) / total)}%`;
    };
    encoded = { text, ids: encodeAsync(text, { onProgress }) };
  }
  return encoded.ids;
}

/** Shows "N / n_positions tokens" and disables Run for an empty or too long text. */
async function updateTokenCount(): Promise<void> {
  const text = el.text.value;
  el.tokenCount.dataset.counting = '1';
  const n = (state.ids ?? await textIds()).length;
  if (el.text.value !== text) return; // edited meanwhile: the newer count will show
  delete el.tokenCount.dataset.counting;
  const max = state.model?.config.n_positions;
  el.tokenCount.textContent = max ? `${n.toLocaleString('en-US')} / ${max} tokens (n_positions)` : `${n.toLocaleString('en-US')} tokens`;
  const over = max !== undefined && n > max;
  el.tokenCount.classList.toggle('over', over);
  if (document.body.dataset.webgpu !== '0') el.run.disabled = over || n === 0; // without WebGPU it stays off
  el.figure.dataset.inputTokens = String(n);
}

/**
 * Runs the model on the text. In the 2×2 view the figure's four tensors of layer l come
 * first, left on the GPU (runOnGpu), and the figure is drawn from them at once; then the
 * explorer's taps (read back). Returns true when the figure is drawn.
 */
async function runModel(): Promise<boolean> {
  // After a device loss the model is gone: load it again (on a new device) from where it came.
  if (!state.model && state.modelChoice) await loadModel(state.modelChoice);
  const model = state.model;
  if (!model) throw new GPT2TapsError('no model is loaded');
  setProgress('tokenizing…');
  const ids = state.ids ?? await textIds();
  if (ids.length === 0) throw new GPT2TapsError('the text is empty: nothing to run');
  if (ids.length > model.config.n_positions) {
    throw new GPT2TapsError(`${ids.length} tokens is more than this model's n_positions (${model.config.n_positions})`, 'shorten the text');
  }
  setProgress(`forward pass over ${ids.length} tokens…`);
  const t0 = performance.now();
  // The figure's taps, and what the explorer shows of layer l (neurons, attention) and the logits.
  const l = Math.min(Number(el.layer.value) || 0, model.config.n_layer - 1);
  const names = [...RESIDUAL_TAPS, `h.${l}.mlp.act`, `attentions.${l}`, 'logits'];
  // Edits the model refuses for this input are dropped, each with its message; the rest run.
  const { valid, refused } = checkEdits(model, explorer.edits, ids.length);
  if (refused.length > 0) {
    explorer.edits = valid;
    explorer.renderEdits();
    addError(new GPT2TapsError(refused.join('\n')));
  }
  const edits: Edit[] = [...valid];
  let drawn = false;
  if (el.view.value === 'layer') {
    // The figure's tensors stay on the GPU: its statistics and point layer read the run's own buffers.
    const gpuTaps = await model.runOnGpu(ids, { taps: figureTaps(l), edits });
    state.timings = { forwardMs: performance.now() - t0 };
    dropCached();
    state.taps = undefined; // the old run's: not the figure's any more
    state.clean = undefined;
    state.inputIds = Uint32Array.from(gpuTaps.ids);
    state.tokens = tokenStrings([...gpuTaps.ids]);
    try {
      const [x, y, a, m] = figureTaps(l).map((name) => gpuTaps.get(name));
      const n = x.shape.reduce((p, q) => p * q, 1);
      state.cached = { layer: l, gpu: state.gpu!.layer({ x: x.buffer, y: y.buffer, a: a.buffer, m: m.buffer }, n, () => gpuTaps.destroy()) };
    } catch (e) {
      gpuTaps.destroy();
      throw e;
    }
    await drawPanels();
    drawn = true;
    setProgress(`reading back the explorer's taps (${ids.length} tokens)…`);
  }
  const t1 = performance.now();
  const taps = await model.run(ids, { taps: names, edits });
  if (!drawn) state.timings = { forwardMs: performance.now() - t1 };
  const clean = edits.length > 0 ? await model.run(ids, { taps: names }) : undefined;
  if (!drawn) dropCached();
  state.taps = taps;
  state.clean = clean;
  updateUrl();
  state.inputIds = taps.inputIds;
  state.tokens = tokenStrings([...taps.inputIds]);
  el.exportTaps.disabled = false;
  return drawn;
}

// ---------------------------------------------------------------------------------
// Figure

function tensorsOf(taps: TapResult, l: number): [Float32Array, Float32Array, Float32Array, Float32Array] {
  return [
    taps.get(`hidden_states.${l}`).data, taps.get(`h.${l}`).data,
    taps.get(`h.${l}.attn.c_proj`).data, taps.get(`h.${l}.mlp.c_proj`).data,
  ];
}

/** Layer l's tensors on the GPU: the cached ones (a run's own buffers), or uploaded from the read-back taps. */
function gpuLayer(l: number): GpuLayer {
  if (state.cached?.layer === l) return state.cached.gpu;
  if (!state.taps) throw new GPT2TapsError(`internal: layer ${l}'s taps are neither on the GPU nor read back`);
  dropCached();
  const g = state.gpu!.upload(...tensorsOf(state.taps, l));
  state.cached = { layer: l, gpu: g };
  return g;
}

function readThreshold(): number {
  const t = Number(el.threshold.value);
  if (el.threshold.value.trim() === '' || !Number.isFinite(t) || t < 0) {
    throw new GPT2TapsError(`threshold "${el.threshold.value}" is not a non-negative number`);
  }
  return t;
}

/** The figure of the controls' layer, view and threshold, from the tensors on the GPU. */
async function drawPanels(): Promise<void> {
  const { model, gpu } = state;
  if (!model || !gpu) return;
  const threshold = readThreshold();
  const L = model.config.n_layer;
  const layer = Math.min(Number(el.layer.value) || 0, L - 1);
  const view = el.view.value;
  const t0 = performance.now();
  hideTooltip();
  showSelection([]);
  el.lastLayerNote.hidden = !(view !== 'layer' || layer === L - 1);
  el.lastLayerNote.textContent = `For the last layer, "layer ${L}" is h.${L - 1}, the raw output of the last block: Hugging Face's ` +
    `last hidden state (hidden_states.${L}) has the final LayerNorm ln_f applied, so it is not the residual stream.`;

  let statsMs = 0, pointsMs = 0;
  if (view === 'layer') {
    setProgress('GPU statistics (mask, Pearson r, min/max)…');
    const g = gpuLayer(layer);
    let t = performance.now();
    const stats = await g.stats(threshold);
    const ranges = panelRanges([stats]);
    statsMs = performance.now() - t;
    state.lastStats = [stats];
    if (state.scatter && figure.usesGpuLayer(stats.kept)) {
      setProgress(`drawing ${stats.kept.toLocaleString('en-US')} points per panel with WebGPU…`);
      await figure.showLayerGpu(layer, stats, ranges, g, state.scatter);
    } else {
      setProgress(`compacting ${stats.kept.toLocaleString('en-US')} points on the GPU…`);
      t = performance.now();
      const points = await g.points(ranges);
      pointsMs = performance.now() - t;
      await figure.showLayer(layer, stats, ranges, points, (f) => setProgress('drawing the points…', f));
    }
  } else {
    const panel = view === 'all-4' ? 3 : 0;
    const all: { stats: LayerStats; points?: LayerPoints }[] = [];
    let t = performance.now();
    for (let l = 0; l < L; l++) {
      setProgress(`GPU statistics, layer ${l} of ${L}…`, l / L);
      all.push({ stats: await gpuLayer(l).stats(threshold) });
    }
    const ranges = panelRanges(all.map((a) => a.stats));
    statsMs = performance.now() - t;
    t = performance.now();
    for (let l = 0; l < L; l++) {
      setProgress(`compacting points, layer ${l} of ${L}…`, l / L);
      const g = gpuLayer(l);
      await g.stats(threshold); // the compaction offsets of this layer
      all[l].points = await g.points(ranges);
      await yieldFrame();
    }
    pointsMs = performance.now() - t;
    state.lastStats = all.map((a) => a.stats);
    await figure.showAllLayers(panel, all.map((a) => ({ stats: a.stats, points: a.points! })), ranges,
      (f) => setProgress('drawing the points…', f));
  }
  applyMouseMode();
  const totalMs = performance.now() - t0;
  state.timings = { ...state.timings, statsMs, pointsMs, drawMs: totalMs - statsMs - pointsMs, totalMs };
  Object.assign(figure.root.dataset, { layer: String(layer), threshold: String(threshold), timings: JSON.stringify(state.timings) });
}

/**
 * Draws the figure (unless `panels` is false: runModel() drew it from the run's GPU taps)
 * and the explorer; then the page counts a draw.
 */
async function drawFigure({ panels = true } = {}): Promise<void> {
  const { taps, model, gpu } = state;
  if (!taps || !model || !gpu) return;
  if (panels) await drawPanels();
  setProgress('explorer: GPU statistics, top-k, logit lens…');
  await explorer.render();
  Object.assign(figure.root.dataset, {
    tokens: String(taps.inputIds.length), dims: String(model.config.n_embd), timings: JSON.stringify(state.timings),
  });
  state.drawn = true;
  state.draws++;
  document.body.dataset.draws = String(state.draws);
  el.exportPng.disabled = false;
}

// ---------------------------------------------------------------------------------
// Hover and lasso

function hideTooltip(): void {
  el.tooltip.hidden = true;
}

function entry(point: number, panel: Panel): { layer: number; e: number; t: number; d: number; p: number } | undefined {
  const shown = figure.shown;
  const model = state.model;
  if (!shown || !model) return undefined;
  const D = model.config.n_embd;
  let e: number;
  if (shown.kind === 'gpu') {
    // The WebGPU layer's points are the entries themselves.
    if (!(point >= 0 && point < state.inputIds.length * D)) return undefined;
    e = point;
  } else {
    if (point >= shown.index.length) return undefined;
    e = shown.index[point];
  }
  return {
    layer: shown.kind === 'all' ? shown.layerOf[point] : shown.layer,
    p: shown.kind === 'all' ? shown.panel : panel.index,
    e, t: Math.floor(e / D), d: e % D,
  };
}

/** x, y, a, m of entry e of layer l: from the read-back taps, or from the layer's tensors on the GPU. */
async function tensorValues(layer: number, e: number): Promise<[number, number, number, number]> {
  if (state.taps?.has(`hidden_states.${layer}`)) {
    const [x, y, a, m] = tensorsOf(state.taps, layer).map((arr) => arr[e]);
    return [x, y, a, m];
  }
  if (state.cached?.layer === layer) return state.cached.gpu.values(e);
  throw new GPT2TapsError(`internal: no tensors of layer ${layer} to hover`);
}

function panelValues([x, y, a, m]: [number, number, number, number], p: number): [number, number] {
  return ([[x, y], [a, m], [x + a + m, y], [y - x, a + m]] as [number, number][])[p];
}

let hoverSeq = 0;

function onHover(panel: Panel, point: number | undefined, screen?: { x: number; y: number }, known?: [number, number, number, number]): void {
  const seq = ++hoverSeq;
  const info = point === undefined ? undefined : entry(point, panel);
  if (!info) { hideTooltip(); return; }
  const show = (vals: [number, number, number, number]) => {
    if (seq !== hoverSeq) return; // the mouse moved on meanwhile
    const [u, v] = panelValues(vals, info.p);
    const def = PANELS[info.p];
    el.tooltip.textContent = [
      `token ${JSON.stringify(state.tokens[info.t])} (id ${state.inputIds[info.t]}) · position ${info.t}`,
      `dimension ${info.d} · layer ${info.layer}`,
      `x  ${def.x(info.layer)}: ${u.toPrecision(6)}`,
      `y  ${def.y(info.layer)}: ${v.toPrecision(6)}`,
    ].join('\n');
    el.tooltip.hidden = false;
    const x = (screen?.x ?? 0) + 14, y = (screen?.y ?? 0) + 14;
    const w = el.tooltip.offsetWidth, h = el.tooltip.offsetHeight;
    el.tooltip.style.left = `${Math.min(x, window.innerWidth - w - 8)}px`;
    el.tooltip.style.top = `${Math.min(y, window.innerHeight - h - 8)}px`;
  };
  if (known) show(known);
  else tensorValues(info.layer, info.e).then(show, showError);
}

function onSelect(panel: Panel, points: number[]): void {
  // In the 2×2 view all four panels hold the same kept entries in the same order: link them.
  // (The WebGPU layer links them itself: one selection bitmask for all four.)
  if (figure.shown?.kind === 'layer') for (const other of figure.panels) if (other !== panel) other.select(points);
  showSelection(points, panel);
}

function showSelection(points: number[], panel?: Panel): void {
  el.selectionBody.replaceChildren();
  el.selection.hidden = points.length === 0 || !panel;
  el.figure.dataset.selected = String(points.length);
  if (points.length === 0 || !panel) return;
  const tokens = new Map<number, number>(), dims = new Map<number, number>(), layers = new Map<number, number>();
  for (const pt of points) {
    const info = entry(pt, panel);
    if (!info) continue;
    tokens.set(info.t, (tokens.get(info.t) ?? 0) + 1);
    dims.set(info.d, (dims.get(info.d) ?? 0) + 1);
    layers.set(info.layer, (layers.get(info.layer) ?? 0) + 1);
  }
  const top = (m: Map<number, number>) => [...m].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 12);
  const para = (text: string) => { const p = document.createElement('p'); p.textContent = text; return p; };
  const list = (items: string[]) => {
    const ol = document.createElement('ol');
    for (const s of items) { const li = document.createElement('li'); li.textContent = s; ol.append(li); }
    return ol;
  };
  el.selectionBody.append(
    para(`${points.length.toLocaleString('en-US')} points: ${tokens.size} distinct tokens, ${dims.size} distinct dimensions` +
      (figure.shown?.kind === 'all' ? `, layers ${[...layers.keys()].sort((a, b) => a - b).join(', ')}` : '') + '.'),
    para('Tokens (position: text × points):'),
    list(top(tokens).map(([t, n]) => `${t}: ${JSON.stringify(state.tokens[t])} × ${n}`)),
    para('Dimensions (× points):'),
    list(top(dims).map(([d, n]) => `dim ${d} × ${n}`)),
  );
}

function applyMouseMode(): void {
  for (const p of figure.panels) void p.scatterplot?.set({ mouseMode: state.lasso ? 'lasso' : 'panZoom' });
  el.lasso.setAttribute('aria-pressed', String(state.lasso));
}

// ---------------------------------------------------------------------------------
// Controls

function runAndDraw(): Promise<void> {
  clearError();
  return enqueue(async () => {
    const drawn = await runModel();
    await drawFigure({ panels: !drawn });
  });
}

function loadAndRun(choice: ModelChoice): Promise<void> {
  clearError();
  return enqueue(async () => {
    await loadModel(choice);
    const drawn = await runModel();
    await drawFigure({ panels: !drawn });
  });
}

function wireControls(): void {
  for (const name of HF_NAMES) el.hfOptions.append(new Option(`${name} (Hugging Face)`, `hf:${name}`));
  el.controls.addEventListener('submit', (e) => { e.preventDefault(); void runAndDraw(); });
  el.text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); void runAndDraw(); }
  });
  let tokenTimer: ReturnType<typeof setTimeout> | undefined;
  el.text.addEventListener('input', () => {
    state.ids = undefined; // the text is the input again
    clearTimeout(tokenTimer);
    tokenTimer = setTimeout(() => void updateTokenCount(), 150);
  });
  el.layer.addEventListener('change', () => {
    updateUrl();
    const l = Number(el.layer.value);
    if (state.taps && !state.taps.names.includes(`attentions.${l}`)) void runAndDraw();
    else void requestDraw();
  });
  el.view.addEventListener('change', () => void requestDraw());
  let thresholdTimer: ReturnType<typeof setTimeout> | undefined;
  el.threshold.addEventListener('input', () => {
    clearTimeout(thresholdTimer);
    thresholdTimer = setTimeout(() => { clearError(); void requestDraw(); }, 350);
  });
  el.threshold.addEventListener('change', () => { clearTimeout(thresholdTimer); clearError(); void requestDraw(); });
  el.lasso.addEventListener('click', () => { state.lasso = !state.lasso; applyMouseMode(); });
  $('profile-run').addEventListener('click', () => {
    void enqueue(async () => {
      const { model, taps } = state;
      if (!model || !taps) throw new GPT2TapsError('run the model first: the profile times a forward pass over the current text');
      setProgress('profiling: device peak, then 3 timed forward passes…');
      renderProfile($('profile-body'), await profileForward(model, [...taps.inputIds], { runs: 3, warmup: 1 }));
    });
  });

  el.source.addEventListener('change', () => {
    const v = el.source.value;
    el.fileLabel.hidden = v !== 'local';
    el.repoLabel.hidden = v !== 'hf-repo';
    checked = undefined;
    el.hfLoad.hidden = true;
    el.hfInfo.hidden = true;
    if (v === 'bundled') void loadAndRun({ kind: 'bundled' });
    else if (v === 'local') el.file.click();
    else if (v === 'hf-repo') el.repo.focus();
    else if (v.startsWith('hf:')) void showHfSize(v.slice(3));
  });
  /** The Hugging Face model the source names: a size from the list, or the repo id typed in. */
  const hfChoice = (): string | undefined => {
    const v = el.source.value;
    if (v.startsWith('hf:')) return v.slice(3);
    return v === 'hf-repo' && el.repo.value.trim() ? el.repo.value.trim() : undefined;
  };
  el.hfLoad.addEventListener('click', () => {
    const name = hfChoice();
    if (name) void loadAndRun({ kind: 'hf', name });
  });
  let checked: string | undefined; // the repo id last looked up (a blur after Enter does not look it up again)
  const checkRepo = () => {
    const name = hfChoice();
    if (!name || name === checked) return;
    checked = name;
    el.hfLoad.hidden = true;
    void showHfSize(name);
  };
  el.repo.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); checkRepo(); }
  });
  el.repo.addEventListener('change', checkRepo);
  el.file.addEventListener('change', () => {
    const files = Array.from(el.file.files ?? []);
    el.file.value = '';
    if (files.length > 0) void loadAndRun({ kind: 'local', files });
  });
  document.addEventListener('dragover', (e) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => { if (e.relatedTarget === null) document.body.classList.remove('dragging'); });
  document.addEventListener('drop', (e) => {
    document.body.classList.remove('dragging');
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length === 0) return;
    e.preventDefault();
    el.source.value = 'local';
    el.fileLabel.hidden = false;
    void loadAndRun({ kind: 'local', files });
  });

  el.exportPng.addEventListener('click', () => {
    figurePng(figure.panels)
      .then((png) => download(png, `gpt2-taps-residuals-${figure.root.dataset.view === 'layer' ? `layer${figure.root.dataset.layer}` : figure.root.dataset.view}.png`))
      .catch(showError);
  });
  el.exportTaps.addEventListener('click', () => {
    if (!state.taps) return;
    const bytes = tapsToSafetensors(state.taps, { model: state.modelLabel, text: el.text.value });
    download(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), 'taps.safetensors');
  });
  window.addEventListener('unhandledrejection', (e) => showError(e.reason));
  window.addEventListener('explorer-error', (e) => addError((e as CustomEvent).detail));
  el.view.addEventListener('change', () => updateUrl());
  el.threshold.addEventListener('change', () => updateUrl());
  wireGenerate();
}

async function showHfSize(name: string): Promise<void> {
  el.hfInfo.hidden = false;
  el.hfInfo.textContent = `${name}: checking the size…`;
  const current = () => el.source.value === `hf:${name}` || (el.source.value === 'hf-repo' && el.repo.value.trim() === name);
  try {
    repoSpec(name);
    const { bytes, cached, sharded } = await hfSize(name);
    if (!current()) return;
    el.hfInfo.textContent = `${name}: ${sharded ? 'the shards are' : 'model.safetensors is'} ${bytes ? formatBytes(bytes) : 'of unknown size'}` +
      (cached ? ' — already in the browser cache' : ' — downloaded once, then kept in the browser cache');
    el.hfLoad.textContent = cached ? 'Load' : 'Download and load';
    el.hfLoad.hidden = false;
  } catch (e) {
    el.hfInfo.textContent = `${name}: size unknown`;
    showError(e);
  }
}

// ---------------------------------------------------------------------------------
// Generate

let generating: AbortController | undefined;

function readNumber(id: string, what: string, opts: { int?: boolean; min: number; max?: number; optional?: boolean }): number | undefined {
  const raw = $<HTMLInputElement>(id).value.trim();
  if (raw === '' && opts.optional) return undefined;
  const v = Number(raw);
  if (raw === '' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v)) || v < opts.min || (opts.max !== undefined && v > opts.max)) {
    throw new GPT2TapsError(`${what} "${raw}" is not ${opts.int ? 'an integer' : 'a number'} in [${opts.min}, ${opts.max ?? '∞'}]`);
  }
  return v;
}

async function generate(): Promise<void> {
  if (!state.model && state.modelChoice) await loadModel(state.modelChoice);
  const model = state.model;
  if (!model) throw new GPT2TapsError('no model is loaded');
  const N = model.config.n_positions;
  const maxNewTokens = readNumber('gen-tokens', 'tokens', { int: true, min: 1, max: 100_000 })!;
  const temperature = readNumber('gen-temp', 'temperature', { min: 0 })!;
  const topK = readNumber('gen-topk', 'top-k', { int: true, min: 0 })!;
  const seed = readNumber('gen-seed', 'seed', { int: true, min: 0, max: 2 ** 32 - 1, optional: true });
  const prompt = state.ids ?? [...await textIds()];
  if (prompt.length === 0) throw new GPT2TapsError('the text is empty: nothing to generate from');
  if (prompt.length > N) throw new GPT2TapsError(`${prompt.length} tokens is more than this model's n_positions (${N})`, 'shorten the text');
  const { valid, refused } = checkEdits(model, explorer.edits, prompt.length);
  if (refused.length > 0) {
    explorer.edits = valid;
    explorer.renderEdits();
    addError(new GPT2TapsError(refused.join('\n')));
  }
  const out = $('generate-out'), status = $('generate-status');
  const run = $<HTMLButtonElement>('generate-run'), stop = $<HTMLButtonElement>('generate-stop');
  const promptSpan = document.createElement('span');
  promptSpan.className = 'prompt';
  promptSpan.textContent = decode(prompt);
  const newSpan = document.createElement('span');
  newSpan.className = 'new';
  out.replaceChildren(promptSpan, newSpan);
  out.dataset.state = 'running';
  out.dataset.newTokens = '0';
  const newIds: number[] = [];
  generating = new AbortController();
  run.disabled = true;
  stop.disabled = false;
  status.textContent = `generating with the KV cache${valid.length ? `, ${valid.length} edit(s) at every step` : ''}…`;
  setProgress('generating…');
  try {
    const g = await model.generate(prompt, {
      maxNewTokens, temperature, topK, seed, edits: valid, signal: generating.signal,
      onToken: (id) => {
        newIds.push(id);
        newSpan.textContent = decode(newIds);
        out.dataset.newTokens = String(newIds.length);
        status.textContent = `${newIds.length} new token(s)…`;
      },
    });
    const why = {
      length: `${g.newIds.length} new tokens`,
      stop: `stopped at <|endoftext|> after ${g.newIds.length} new tokens`,
      context: `stopped after ${g.newIds.length} new tokens: the sequence reached this model's n_positions (${N})` +
        (g.ids.length > N ? '; the last token, chosen from a full context, cannot be run and is left out of the views' : ''),
      aborted: `stopped by you after ${g.newIds.length} new tokens`,
    }[g.reason];
    status.textContent = `${why} (seed ${g.seed}, temperature ${temperature}, top-k ${topK}). The views now show the longer sequence.`;
    out.dataset.reason = g.reason;
    out.dataset.state = 'done';
    state.ids = [...g.ids].slice(0, N);
    el.text.value = decode(state.ids);
    void updateTokenCount();
  } finally {
    generating = undefined;
    run.disabled = false;
    stop.disabled = true;
  }
  const drawn = await runModel();
  await drawFigure({ panels: !drawn });
}

function wireGenerate(): void {
  $('generate-stop').addEventListener('click', () => generating?.abort());
  $('generate-run').addEventListener('click', () => { clearError(); void enqueue(generate); });
}

// ---------------------------------------------------------------------------------
// The URL: model, text (or generated ids), layer, view, threshold, selections and edits

let urlReady = false;
const urlErrors: unknown[] = [];
let pendingLayer: number | undefined;
const MAX_URL_TEXT = 16_000;

function updateUrl(): void {
  if (!urlReady || !explorer) return;
  const p = new URLSearchParams();
  const c = state.modelChoice;
  p.set('model', !c || c.kind === 'bundled' ? 'bundled' : c.kind === 'hf' ? c.name : 'local');
  if (el.text.value.length <= MAX_URL_TEXT) p.set('text', el.text.value);
  if (state.ids && state.ids.length <= 4096) p.set('ids', state.ids.join(','));
  if (el.layer.value !== '') p.set('layer', el.layer.value);
  p.set('view', el.view.value);
  p.set('threshold', el.threshold.value);
  const s = explorer.sel;
  p.set('tensor', s.dimSource);
  if (s.dim >= 0) p.set('dim', String(s.dim));
  if (s.neuron >= 0) p.set('neuron', String(s.neuron));
  p.set('head', String(s.head));
  if (s.lensPos >= 0) p.set('pos', String(s.lensPos));
  if (explorer.edits.length > 0) p.set('edits', JSON.stringify(explorer.edits));
  history.replaceState(null, '', `#${p.toString()}`);
}

/** Applies the link's state to the controls; returns the model to load. Bad parts show in the banner. */
function readUrl(): ModelChoice {
  const p = new URLSearchParams(location.hash.slice(1));
  // Shown once the first load has started (it clears the banner).
  const showError = (e: unknown) => urlErrors.push(e);
  const int = (key: string): number | undefined => {
    const v = p.get(key);
    if (v === null) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n)) { showError(new GPT2TapsError(`${key} "${v}" in the link is not an integer: ignored`)); return undefined; }
    return n;
  };
  const text = p.get('text');
  if (text !== null) el.text.value = text;
  const ids = p.get('ids');
  if (ids !== null) {
    const list = ids.split(',').map(Number);
    if (list.length === 0 || !list.every((n) => Number.isInteger(n) && n >= 0 && n < 50257)) {
      showError(new GPT2TapsError('the link\'s token ids are not GPT-2 token ids: the text is used instead'));
    } else state.ids = list;
  }
  pendingLayer = int('layer');
  const view = p.get('view');
  if (view !== null && Array.from(el.view.options).some((o) => o.value === view)) el.view.value = view;
  const threshold = p.get('threshold');
  if (threshold !== null) el.threshold.value = threshold;
  const tensor = p.get('tensor');
  explorer.setSelection({
    dimSource: tensor === 'attn' || tensor === 'mlp' ? tensor as DimSource : 'resid',
    dim: int('dim') ?? -1, neuron: int('neuron') ?? -1, head: int('head') ?? 0, lensPos: int('pos') ?? -1,
  });
  const edits = p.get('edits');
  if (edits !== null) {
    try { explorer.edits = parseEdits(edits); } catch (e) { showError(e); }
  }
  const model = p.get('model');
  if (model === null || model === 'bundled') return { kind: 'bundled' };
  if (model === 'local') {
    showError(new GPT2TapsError('the link was made with a local model file, which a link cannot carry: the bundled model is shown instead'));
    return { kind: 'bundled' };
  }
  if ((HF_NAMES as string[]).includes(model)) el.source.value = `hf:${model}`;
  else { el.source.value = 'hf-repo'; el.repo.value = model; el.repoLabel.hidden = false; }
  return { kind: 'hf', name: model };
}

// ---------------------------------------------------------------------------------
// Start

function showNoWebgpu(detail: string): void {
  el.noWebgpu.hidden = false;
  el.noWebgpuDetail.textContent = detail;
  document.body.dataset.webgpu = '0';
  for (const c of Array.from(el.controls.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement>('button, select, input'))) c.disabled = true;
  el.modelStatus.textContent = 'WebGPU is needed to run the model.';
}

/** Square plot side in CSS pixels: two panels side by side in the page's width. */
function plotSize(): number {
  const width = Math.min(document.body.clientWidth, 1180);
  return Math.max(220, Math.min(440, Math.floor(width / 2) - 110));
}

async function start(): Promise<void> {
  wireControls();
  void updateTokenCount();
  figure = new ResidualFigure(el.figure, plotSize(), { onHover, onSelect, onError: addError });
  explorer = new Explorer({
    model: () => state.model, taps: () => state.taps, clean: () => state.clean, tokens: () => state.tokens,
    layer: () => Math.min(Number(el.layer.value) || 0, (state.model?.config.n_layer ?? 1) - 1),
    threshold: readThreshold,
    explorerGpu: () => state.explorerGpu, residualGpu: () => state.gpu,
    enqueue, changed: updateUrl, rerun: () => void runAndDraw(),
  });
  explorer.renderEdits();
  const first = readUrl();
  urlReady = true;
  (window as unknown as { demo: unknown }).demo = {
    state, figure, explorer,
    /** Page coordinates of point j of panel p (for tests; regl-scatterplot's points). */
    screenPosition: (p: number, j: number) => figure.panels[p].screenPosition(j),
    /** Page coordinates of entry e in panel p of the WebGPU layer (for tests). */
    entryScreenPosition: (p: number, e: number) => figure.entryScreenPosition(p, e),
    /** The GPU statistics of four arbitrary tensors (for tests of the WGSL reductions). */
    gpuStats: async (x: Float32Array, y: Float32Array, a: Float32Array, m: Float32Array, threshold: number) => {
      const g = state.gpu!.upload(x, y, a, m);
      try { return await g.stats(threshold); } finally { g.destroy(); }
    },
  };
  if (!('gpu' in navigator) || !navigator.gpu) {
    showNoWebgpu('navigator.gpu is missing: this browser has WebGPU off or does not support it.');
    return;
  }
  try {
    await ensureGpu();
  } catch (e) {
    showNoWebgpu(e instanceof Error ? e.message : String(e));
    return;
  }
  document.body.dataset.webgpu = '1';
  const loaded = loadAndRun(first);
  if (urlErrors.length > 0) showError(new GPT2TapsError(urlErrors.splice(0).map((e) => (e instanceof Error ? e.message : String(e))).join('\n')));
  await loaded;
}

void start().catch(showError);
