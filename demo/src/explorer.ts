// The explorer below the figure: Dimensions, Neurons, Logit lens, Attention, and the edits of
// "Ablate and compare". Statistics, rankings, lens projections and heatmap colours run in WGSL
// kernels (explorer-gpu.ts); this file only lays out their small results. Every token or name goes
// into the page as textContent.
import { GPT2TapsError, decode, prepareEdits, type Edit, type GPT2, type TapResult } from '../../src/index.js';
import type { ExplorerGPU, TopK } from './explorer-gpu.js';
import type { ResidualGPU } from './stats.js';

export type DimSource = 'resid' | 'attn' | 'mlp';

export interface Selection {
  dimSource: DimSource;
  /** selected dimension, -1: none */
  dim: number;
  /** selected neuron, -1: the most active one */
  neuron: number;
  head: number;
  /** lens position, -1: the last */
  lensPos: number;
}

export interface ExplorerHost {
  model(): GPT2 | undefined;
  /** The run on screen (edited when there are edits). */
  taps(): TapResult | undefined;
  /** The same input without edits, when the run on screen has edits. */
  clean(): TapResult | undefined;
  tokens(): string[];
  layer(): number;
  threshold(): number;
  explorerGpu(): ExplorerGPU | undefined;
  residualGpu(): ResidualGPU | undefined;
  enqueue(task: () => Promise<void>): Promise<void>;
  /** Selections or edits changed (the URL follows). */
  changed(): void;
  /** Run again with the current edits. */
  rerun(): void;
}

const TOP_NEURONS = 10;
const LENS_K = 5;
/** The lens grid shows at most this many positions (the last ones). */
export const LENS_MAX_POSITIONS = 64;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const h = <K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};
const fmt = (v: number, p = 4) => (Number.isFinite(v) ? v.toPrecision(p) : String(v));
const pct = (p: number) => `${(100 * p).toFixed(p >= 0.1 ? 1 : 2)}%`;
const show = (t: string) => JSON.stringify(t);

export function dimTensor(source: DimSource, l: number): string {
  return source === 'resid' ? `hidden_states.${l}` : source === 'attn' ? `h.${l}.attn.c_proj` : `h.${l}.mlp.c_proj`;
}

export function describeEdit(e: Edit): string {
  const what = e.heads ? `heads ${e.heads.join(', ')}` : e.columns ? `columns ${e.columns.join(', ')}` : 'all';
  return `${e.op}${e.op === 'scale' ? ` ×${e.factor}` : ''} ${e.at} [${what}]`;
}

/** Edits from a URL or the page: only the zero and scale edits the explorer makes; anything else is refused. */
export function parseEdits(json: string): Edit[] {
  let v: unknown;
  try { v = JSON.parse(json); } catch (e) { throw new GPT2TapsError(`the link's edits are not JSON: ${(e as Error).message}`); }
  if (!Array.isArray(v)) throw new GPT2TapsError('the link\'s edits must be a list');
  return v.map((x, i) => {
    const o = x as Record<string, unknown>;
    const ints = (a: unknown) => Array.isArray(a) && a.every((n) => Number.isInteger(n));
    if (typeof o !== 'object' || o === null || typeof o.at !== 'string' || (o.op !== 'zero' && o.op !== 'scale') ||
      (o.op === 'scale' && !Number.isFinite(o.factor)) || (o.columns !== undefined && !ints(o.columns)) ||
      (o.heads !== undefined && !ints(o.heads))) {
      throw new GPT2TapsError(`the link's edit ${i + 1} is not one the explorer makes: ${JSON.stringify(x).slice(0, 200)}`);
    }
    const e: Edit = { at: o.at, op: o.op, positions: 'all' };
    if (o.op === 'scale') e.factor = o.factor as number;
    if (o.columns) e.columns = o.columns as number[];
    if (o.heads) e.heads = o.heads as number[];
    return e;
  });
}

/** Splits edits into those the model accepts for T tokens and messages for those it refuses. */
export function checkEdits(model: GPT2, edits: Edit[], T: number): { valid: Edit[]; refused: string[] } {
  const valid: Edit[] = [], refused: string[] = [];
  for (const e of edits) {
    try {
      prepareEdits(model.config, [e], T);
      valid.push(e);
    } catch (err) {
      refused.push(`edit refused (${describeEdit(e)}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { valid, refused };
}

interface Cache<V> { key: unknown[]; value: V }
function same(a: unknown[] | undefined, b: unknown[]): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x === b[i]);
}

export class Explorer {
  sel: Selection = { dimSource: 'resid', dim: -1, neuron: -1, head: 0, lensPos: -1 };
  edits: Edit[] = [];
  private dimStats?: Cache<Float32Array>;
  private neuronTop?: Cache<TopK>;
  private lensTop?: Cache<{ top: TopK; positions: number[]; prediction: TopK }>;
  private renders = 0;

  constructor(private readonly host: ExplorerHost) {
    const rerender = () => { this.host.changed(); void this.host.enqueue(() => this.render()); };
    $<HTMLSelectElement>('dim-source').addEventListener('change', (e) => {
      this.sel.dimSource = (e.target as HTMLSelectElement).value as DimSource;
      rerender();
    });
    $<HTMLInputElement>('neuron').addEventListener('change', (e) => {
      const v = (e.target as HTMLInputElement).value.trim();
      this.sel.neuron = v === '' ? -1 : Number(v);
      rerender();
    });
    $<HTMLSelectElement>('attn-head').addEventListener('change', (e) => { this.sel.head = Number((e.target as HTMLSelectElement).value); rerender(); });
    $<HTMLSelectElement>('lens-pos').addEventListener('change', (e) => { this.sel.lensPos = Number((e.target as HTMLSelectElement).value); rerender(); });
    $('dim-heatmap').addEventListener('click', (e) => {
      const c = e.currentTarget as HTMLCanvasElement;
      const d = Math.floor((e.offsetX - Number(c.dataset.left)) / Number(c.dataset.cellW));
      if (d >= 0 && d < Number(c.dataset.cols)) { this.sel.dim = d; rerender(); }
    });
    $('edits-clear').addEventListener('click', () => { this.edits = []; this.renderEdits(); this.host.changed(); });
    $('edits-run').addEventListener('click', () => this.host.rerun());
  }

  /** Applies a selection (from the URL) to the controls. */
  setSelection(sel: Partial<Selection>): void {
    Object.assign(this.sel, sel);
    $<HTMLSelectElement>('dim-source').value = this.sel.dimSource;
    $<HTMLInputElement>('neuron').value = this.sel.neuron >= 0 ? String(this.sel.neuron) : '';
  }

  private readEdit(at: string, target: { columns?: number[]; heads?: number[] }): Edit {
    const op = $<HTMLSelectElement>('edit-op').value as 'zero' | 'scale';
    const e: Edit = { at, op, positions: 'all', ...target };
    if (op === 'scale') {
      const f = Number($<HTMLInputElement>('edit-factor').value);
      if (!Number.isFinite(f) || $<HTMLInputElement>('edit-factor').value.trim() === '') {
        throw new GPT2TapsError(`factor "${$<HTMLInputElement>('edit-factor').value}" is not a number`);
      }
      e.factor = f;
    }
    return e;
  }

  private addEdit(at: string, target: { columns?: number[]; heads?: number[] }): void {
    const e = this.readEdit(at, target);
    const model = this.host.model(), taps = this.host.taps();
    if (model && taps) {
      const { refused } = checkEdits(model, [e], taps.inputIds.length);
      if (refused.length) throw new GPT2TapsError(refused[0]);
    }
    const key = JSON.stringify(e);
    if (!this.edits.some((x) => JSON.stringify(x) === key)) this.edits.push(e);
    this.renderEdits();
    this.host.changed();
  }

  private editButton(label: string, at: string, target: { columns?: number[]; heads?: number[] }, id: string): HTMLButtonElement {
    const b = h('button', label);
    b.type = 'button';
    b.id = id;
    b.addEventListener('click', () => {
      try { this.addEdit(at, target); } catch (e) { window.dispatchEvent(new CustomEvent('explorer-error', { detail: e })); }
    });
    return b;
  }

  renderEdits(): void {
    const list = $('edit-list');
    list.replaceChildren(...this.edits.map((e, i) => {
      const li = h('li', describeEdit(e));
      const rm = h('button', '×');
      rm.type = 'button';
      rm.title = 'remove this edit';
      rm.addEventListener('click', () => { this.edits.splice(i, 1); this.renderEdits(); this.host.changed(); });
      li.append(rm);
      return li;
    }));
    list.dataset.count = String(this.edits.length);
    if (this.edits.length === 0) list.append(h('li', 'no edits: pick a dimension, a neuron or a head above', 'hint'));
  }

  /** Renders every part from the run on screen. */
  async render(): Promise<void> {
    const model = this.host.model(), taps = this.host.taps(), gpu = this.host.explorerGpu();
    if (!model || !taps || !gpu) return;
    this.renderEdits();
    await this.renderDimensions(model, taps, gpu);
    await this.renderNeurons(model, taps, gpu);
    await this.renderLens(model, taps, gpu);
    await this.renderAttention(model, taps, gpu);
    await this.renderCompare(model, taps, gpu);
    this.renders++;
    $('explorer').dataset.renders = String(this.renders);
  }

  // ------------------------------------------------------------------------------- Dimensions
  private async renderDimensions(model: GPT2, taps: TapResult, gpu: ExplorerGPU): Promise<void> {
    const l = this.host.layer(), threshold = this.host.threshold();
    const name = dimTensor(this.sel.dimSource, l);
    const t = taps.get(name);
    const [T, D] = t.shape;
    const key = [taps, name];
    if (!same(this.dimStats?.key, key)) this.dimStats = { key, value: await gpu.columnStats(t.data, T, D) };
    const stats = this.dimStats!.value;
    const outliers: number[] = [];
    for (let d = 0; d < D; d++) if (stats[4 * d + 3] > threshold) outliers.push(d);
    if (this.sel.dim >= D) this.sel.dim = -1;

    const pixels = await gpu.heatmap(t.data, T, D, 0, threshold);
    const canvas = $<HTMLCanvasElement>('dim-heatmap');
    const cellW = Math.max(1, Math.min(8, Math.floor(1100 / D)));
    const cellH = Math.max(2, Math.min(14, Math.floor(280 / T)));
    const top = 10;
    drawPixels(canvas, pixels, T, D, cellW, cellH, 0, top);
    const ctx = canvas.getContext('2d')!;
    ctx.fillStyle = '#d9822b';
    for (const d of outliers) ctx.fillRect(d * cellW, 0, Math.max(cellW, 2), top - 3);
    if (this.sel.dim >= 0) {
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 2;
      ctx.strokeRect(this.sel.dim * cellW - 1, top - 1, cellW + 2, T * cellH + 2);
    }
    Object.assign(canvas.dataset, { tensor: name, rows: String(T), cols: String(D), cellW: String(cellW), left: '0', top: String(top) });

    const out = $('dim-outliers');
    out.replaceChildren(h('span', outliers.length === 0
      ? `No dimension of ${name} passes |x| > ${threshold} on any token (nothing of this tensor is masked). `
      : `${outliers.length} of ${D} dimensions of ${name} pass |x| > ${threshold} on some token (max |x| in brackets): `));
    for (const d of outliers.slice(0, 64)) {
      const b = h('button', `${d} (${fmt(stats[4 * d + 3], 3)})`, 'dim-chip');
      b.type = 'button';
      b.dataset.dim = String(d);
      b.setAttribute('aria-pressed', String(d === this.sel.dim));
      b.addEventListener('click', () => { this.sel.dim = d; this.host.changed(); void this.host.enqueue(() => this.render()); });
      out.append(b);
    }
    if (outliers.length > 64) out.append(h('span', ` … and ${outliers.length - 64} more`));
    out.dataset.dims = JSON.stringify(outliers);

    const detail = $('dim-detail');
    detail.replaceChildren();
    detail.dataset.dim = String(this.sel.dim);
    if (this.sel.dim < 0) { detail.append(h('p', 'Click a column of the heatmap to see one dimension per token.', 'hint')); return; }
    const d = this.sel.dim;
    const vals = Array.from({ length: T }, (_, i) => t.data[i * D + d]);
    const maxAbs = Math.max(1e-30, ...vals.map(Math.abs));
    detail.append(h('p', `Dimension ${d} of ${name}: max ${fmt(stats[4 * d])}, min ${fmt(stats[4 * d + 1])}, mean ${fmt(stats[4 * d + 2])}.`));
    detail.append(this.editButton(`Ablate dimension ${d} (${name})`, name, { columns: [d] }, 'dim-edit'));
    const table = h('table', undefined, 'values');
    table.id = 'dim-values';
    table.dataset.values = JSON.stringify(vals);
    const tokens = this.host.tokens();
    for (let i = 0; i < T; i++) {
      const tr = h('tr');
      const bar = h('span', undefined, vals[i] < 0 ? 'bar neg' : 'bar');
      bar.style.width = `${Math.round((80 * Math.abs(vals[i])) / maxAbs)}px`;
      const cell = h('td');
      cell.append(bar);
      tr.append(h('td', String(i)), h('td', show(tokens[i] ?? '')), h('td', fmt(vals[i])), cell);
      table.append(tr);
    }
    detail.append(table);
  }

  // ------------------------------------------------------------------------------- Neurons
  private async renderNeurons(model: GPT2, taps: TapResult, gpu: ExplorerGPU): Promise<void> {
    const l = this.host.layer();
    const name = `h.${l}.mlp.act`;
    const t = taps.get(name);
    const [T, C] = t.shape;
    const key = [taps, name];
    if (!same(this.neuronTop?.key, key)) this.neuronTop = { key, value: await gpu.topNeurons(t.data, T, C, TOP_NEURONS) };
    const top = this.neuronTop!.value;
    const input = $<HTMLInputElement>('neuron');
    input.max = String(C - 1);
    let n = this.sel.neuron;
    if (n >= C || (n < 0 && n !== -1) || !Number.isInteger(n)) {
      const bad = n;
      this.sel.neuron = -1;
      input.value = '';
      window.dispatchEvent(new CustomEvent('explorer-error', {
        detail: new GPT2TapsError(`neuron ${bad} is out of range: layer ${l} has neurons 0..${C - 1}`),
      }));
      n = -1;
    }
    if (n < 0) n = top.ids[0];
    const list = $('neuron-top');
    list.replaceChildren(...Array.from(top.ids, (id, i) => {
      const li = h('li');
      const b = h('button', `${id}: ${fmt(top.vals[i], 3)}`);
      b.type = 'button';
      b.dataset.neuron = String(id);
      b.setAttribute('aria-pressed', String(id === n));
      b.addEventListener('click', () => { this.sel.neuron = id; input.value = String(id); this.host.changed(); void this.host.enqueue(() => this.render()); });
      li.append(b);
      return li;
    }));
    list.dataset.top = JSON.stringify(Array.from(top.ids));
    list.dataset.max = JSON.stringify(Array.from(top.vals));

    const acts = Array.from({ length: T }, (_, i) => t.data[i * C + n]);
    const maxA = Math.max(1e-30, ...acts);
    const text = $('neuron-text');
    const tokens = this.host.tokens();
    text.replaceChildren(...acts.map((a, i) => {
      const s = h('span', tokens[i] ?? '');
      const alpha = Math.max(0, a) / maxA;
      s.style.background = `rgba(255, 140, 0, ${alpha.toFixed(3)})`;
      s.title = `position ${i}, neuron ${n}: ${fmt(a)}`;
      s.dataset.value = String(a);
      return s;
    }));
    text.dataset.neuron = String(n);
    text.dataset.layer = String(l);
    const actions = $('neuron-actions');
    actions.replaceChildren(
      h('span', `Neuron ${n} of layer ${l}: max ${fmt(Math.max(...acts))} at ${show(tokens[acts.indexOf(Math.max(...acts))] ?? '')}. `),
      this.editButton(`Ablate neuron ${n} (${name})`, name, { columns: [n] }, 'neuron-edit'),
    );
  }

  // ------------------------------------------------------------------------------- Logit lens
  private async renderLens(model: GPT2, taps: TapResult, gpu: ExplorerGPU): Promise<void> {
    const { n_layer: L, n_embd: D, vocab_size: V } = model.config;
    const T = taps.inputIds.length;
    const key = [taps];
    if (!same(this.lensTop?.key, key)) {
      const P = Math.min(T, LENS_MAX_POSITIONS);
      const positions = Array.from({ length: P }, (_, i) => T - P + i);
      // Row (layer i, position p): the residual stream entering block i (i < L), or leaving the last block (i = L).
      const rows = new Float32Array((L + 1) * P * D);
      for (let i = 0; i <= L; i++) {
        const src = taps.get(i < L ? `hidden_states.${i}` : `h.${L - 1}`).data;
        positions.forEach((p, j) => rows.set(src.subarray(p * D, (p + 1) * D), (i * P + j) * D));
      }
      const top = await gpu.lens(model, rows, (L + 1) * P, LENS_K);
      const logits = taps.get('logits').data;
      const last = new Float32Array(P * V);
      positions.forEach((p, j) => last.set(logits.subarray(p * V, (p + 1) * V), j * V));
      const prediction = await gpu.topk(last, P, V, LENS_K);
      this.lensTop = { key, value: { top, positions, prediction } };
    }
    const { top, positions, prediction } = this.lensTop!.value;
    const P = positions.length;
    const k = top.k;
    const select = $<HTMLSelectElement>('lens-pos');
    const tokens = this.host.tokens();
    let pos = this.sel.lensPos;
    if (!positions.includes(pos)) pos = positions[P - 1];
    select.replaceChildren(...positions.map((p) => new Option(`${p}: ${show(tokens[p] ?? '')}`, String(p))));
    select.value = String(pos);
    const j = positions.indexOf(pos);
    const tok = (id: number) => decode([id]);

    const table = $('lens-topk');
    const head = h('tr');
    head.append(h('th', 'layer'), ...Array.from({ length: k }, (_, r) => h('th', `top ${r + 1}`)));
    const rowsOut: { ids: number[]; probs: number[] }[] = [];
    const trs = Array.from({ length: L + 1 }, (_, i) => {
      const tr = h('tr');
      const o = (i * P + j) * k;
      const ids = Array.from(top.ids.subarray(o, o + k)), probs = Array.from(top.probs.subarray(o, o + k));
      rowsOut.push({ ids, probs });
      tr.append(h('th', i < L ? `${i}` : `${L} (output)`));
      for (let r = 0; r < k; r++) tr.append(h('td', `${show(tok(ids[r]))} ${pct(probs[r])}`));
      return tr;
    });
    table.replaceChildren(head, ...trs);
    table.dataset.position = String(pos);
    table.dataset.layers = JSON.stringify(rowsOut);
    const po = j * k;
    table.dataset.prediction = JSON.stringify({
      ids: Array.from(prediction.ids.subarray(po, po + k)), probs: Array.from(prediction.probs.subarray(po, po + k)),
    });

    const grid = $('lens-grid');
    const gh = h('tr');
    gh.append(h('th', 'layer \\ position'), ...positions.map((p) => {
      const th = h('th', tokens[p] ?? '');
      th.title = `position ${p}`;
      return th;
    }));
    const cells: number[][] = [];
    const gtr = Array.from({ length: L + 1 }, (_, ii) => {
      const i = L - ii; // the output at the top, as logit-lens views show it
      const tr = h('tr');
      tr.append(h('th', i < L ? String(i) : `${L} (out)`));
      const rowIds: number[] = [];
      positions.forEach((p, jj) => {
        const o = (i * P + jj) * k;
        const id = top.ids[o], pr = top.probs[o];
        rowIds.push(id);
        const td = h('td', tok(id));
        td.title = `layer ${i}, position ${p}: ${show(tok(id))} ${pct(pr)}`;
        td.style.background = `rgba(33, 102, 172, ${(0.08 + 0.6 * pr).toFixed(3)})`;
        if (p === pos) td.style.outline = '2px solid #d9822b';
        tr.append(td);
      });
      cells[i] = rowIds;
      return tr;
    });
    grid.replaceChildren(gh, ...gtr);
    grid.dataset.top = JSON.stringify(cells);
    grid.dataset.positions = JSON.stringify(positions);
  }

  // ------------------------------------------------------------------------------- Attention
  private async renderAttention(model: GPT2, taps: TapResult, gpu: ExplorerGPU): Promise<void> {
    const l = this.host.layer();
    const H = model.config.n_head;
    const t = taps.get(`attentions.${l}`);
    const T = t.shape[1];
    const select = $<HTMLSelectElement>('attn-head');
    if (this.sel.head >= H || this.sel.head < 0 || !Number.isInteger(this.sel.head)) {
      const bad = this.sel.head;
      this.sel.head = 0;
      window.dispatchEvent(new CustomEvent('explorer-error', { detail: new GPT2TapsError(`head ${bad} is out of range: the model has heads 0..${H - 1}`) }));
    }
    const hd = this.sel.head;
    select.replaceChildren(...Array.from({ length: H }, (_, i) => new Option(String(i), String(i))));
    select.value = String(hd);
    const probs = t.data.subarray(hd * T * T, (hd + 1) * T * T);
    const pixels = await gpu.heatmap(probs, T, T, 1, 1, true);
    const canvas = $<HTMLCanvasElement>('attn-heatmap');
    const cell = Math.max(1, Math.min(28, Math.floor(440 / T)));
    const labels = cell >= 8;
    const left = labels ? 110 : 0, top = labels ? 90 : 0;
    drawPixels(canvas, pixels, T, T, cell, cell, left, top);
    const tokens = this.host.tokens().slice(0, T);
    if (labels) {
      const ctx = canvas.getContext('2d')!;
      ctx.fillStyle = '#222';
      ctx.font = `${Math.min(12, cell - 2)}px system-ui, sans-serif`;
      const short = (s: string) => (s.length > 14 ? `${s.slice(0, 13)}…` : s);
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      tokens.forEach((s, i) => ctx.fillText(short(show(s)), left - 4, top + i * cell + cell / 2));
      ctx.save();
      ctx.textAlign = 'left';
      tokens.forEach((s, i) => {
        ctx.save();
        ctx.translate(left + i * cell + cell / 2, top - 4);
        ctx.rotate(-Math.PI / 2);
        ctx.fillText(short(show(s)), 0, 0);
        ctx.restore();
      });
      ctx.restore();
    }
    Object.assign(canvas.dataset, { layer: String(l), head: String(hd), tokens: String(T), labels: JSON.stringify(tokens), cell: String(cell), left: String(left), top: String(top) });
    const at = `h.${l}.attn.c_proj.input`;
    $('attn-actions').replaceChildren(this.editButton(`Ablate head ${hd} of layer ${l} (${at})`, at, { heads: [hd] }, 'head-edit'));
  }

  // ------------------------------------------------------------------------------- Compare
  private async renderCompare(model: GPT2, taps: TapResult, gpu: ExplorerGPU): Promise<void> {
    const box = $('compare');
    const clean = this.host.clean();
    box.replaceChildren();
    delete box.dataset.tv;
    if (!clean) {
      box.dataset.state = 'none';
      box.append(h('p', 'The run on screen has no edits. Add edits above, then Run with these edits.', 'hint'));
      return;
    }
    const V = model.config.vocab_size;
    const T = taps.inputIds.length;
    const before = clean.get('logits').data.subarray((T - 1) * V, T * V);
    const after = taps.get('logits').data.subarray((T - 1) * V, T * V);
    const both = new Float32Array(2 * V);
    both.set(before, 0);
    both.set(after, V);
    const top = await gpu.topk(both, 2, V, LENS_K);
    const diff = await gpu.distDiff(before, after);
    const tokens = this.host.tokens();
    box.dataset.state = 'compared';
    box.dataset.tv = String(diff.tv);
    box.dataset.kl = String(diff.kl);
    box.dataset.maxDiff = String(diff.maxDiff);
    const k = top.k;
    const list = (r: number) => ({ ids: Array.from(top.ids.subarray(r * k, r * k + k)), probs: Array.from(top.probs.subarray(r * k, r * k + k)) });
    box.dataset.before = JSON.stringify(list(0));
    box.dataset.after = JSON.stringify(list(1));
    box.append(h('p', `Next token after ${show(tokens[T - 1] ?? '')} (position ${T - 1}), without and with ${this.edits.length} edit(s): ` +
      `total variation ${fmt(diff.tv, 3)}, KL(before ‖ after) ${fmt(diff.kl, 3)}, max |Δp| ${fmt(diff.maxDiff, 3)}.`));
    const grid = h('div', undefined, 'compare-grid');
    for (const [r, title] of [[0, 'before (no edits)'], [1, 'after (edited)']] as const) {
      const t = h('table', undefined, 'values');
      t.append(h('caption', title));
      const { ids, probs } = list(r);
      ids.forEach((id, i) => { const tr = h('tr'); tr.append(h('td', show(decode([id]))), h('td', pct(probs[i]))); t.append(tr); });
      grid.append(t);
    }
    box.append(grid);

    // The figure's r for layer l, from the same GPU statistics as the figure, clean vs edited.
    const rgpu = this.host.residualGpu();
    if (rgpu) {
      const l = this.host.layer(), threshold = this.host.threshold();
      const r = async (run: TapResult) => {
        const g = rgpu.upload(run.get(`hidden_states.${l}`).data, run.get(`h.${l}`).data,
          run.get(`h.${l}.attn.c_proj`).data, run.get(`h.${l}.mlp.c_proj`).data);
        try { return (await g.stats(threshold)).r; } finally { g.destroy(); }
      };
      const [rb, ra] = [await r(clean), await r(taps)];
      box.dataset.rBefore = JSON.stringify(rb);
      box.dataset.rAfter = JSON.stringify(ra);
      const names = ['layer l vs l+1', 'Δattn vs ΔMLP', 'reconstruction', 'difference vs Δ'];
      const t = h('table', undefined, 'values');
      t.append(h('caption', `the figure, layer ${l}: Pearson r before → after`));
      names.forEach((n, i) => { const tr = h('tr'); tr.append(h('td', n), h('td', `${fmt(rb[i], 4)} → ${fmt(ra[i], 4)}`)); t.append(tr); });
      box.append(t);
    }
  }
}

/** Draws RGBA pixels [rows, cols] scaled to cells of cellW × cellH at (left, top) on a fresh canvas size. */
function drawPixels(canvas: HTMLCanvasElement, pixels: Uint8ClampedArray<ArrayBuffer>, rows: number, cols: number,
  cellW: number, cellH: number, left: number, top: number): void {
  const src = document.createElement('canvas');
  src.width = cols;
  src.height = rows;
  src.getContext('2d')!.putImageData(new ImageData(pixels, cols, rows), 0, 0);
  canvas.width = left + cols * cellW;
  canvas.height = top + rows * cellH;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, left, top, cols * cellW, rows * cellH);
}
