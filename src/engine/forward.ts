// The forward pass of GPT-2, declared once, op by op: which kernel variant it runs
// (src/engine/kernels.ts), what it binds (activation buffers, uniforms, parameters), its dims
// and the tap points whose value is final right after it. Everything else is derived here:
//   - the dispatch list of a run, with grids and costs (planForward);
//   - the activation buffers and their sizes (ACTIVATIONS, activationShapes);
//   - the device-limit check (checkDeviceLimits);
//   - every tap: name, shape, meaning, aliases (tapCatalogue, resolveTaps, tapShape);
//   - where edits go (after the op that makes their point), and the unfused forms that let an
//     edited value flow on where a kernel fuses the next step.
// Math names: T tokens in this run, TK keys (P0 + T: the positions before this run and its own),
// D n_embd, H n_head, HD head dim, L n_layer, V vocab, NP n_positions.
import { GPT2TapsError } from '../errors.js';
import { paramShapes, type GPT2Config } from '../checkpoint/config.js';
import { evaluate, evaluateShape, type Symbols } from './formula.js';
import { KERNELS, SPLIT_K_MAX, splitK, type KernelDecl, type KernelName } from './kernels.js';

// ---------------------------------------------------------------------------------
// Buffers

/** Every activation buffer: its shape as formulas over configSymbols, and what it holds. */
export const ACTIVATIONS = {
  ids: { shape: ['T'], holds: 'the token ids (u32)' },
  tok: { shape: ['T', 'D'], holds: 'wte[ids]; written only when the tap wte is asked for' },
  pos: { shape: ['T', 'D'], holds: 'wpe[0..T); written only when the tap wpe is asked for' },
  x: { shape: ['T', 'D'], holds: 'the residual stream' },
  ln: { shape: ['T', 'D'], holds: 'a LayerNorm output' },
  qkv: { shape: ['T', '3·D'], holds: 'the c_attn output: q | k | v' },
  probs: { shape: ['H', 'T', 'TK'], holds: 'attention probabilities' },
  attn: { shape: ['T', 'D'], holds: 'the attention output, heads merged (input of attn.c_proj)' },
  partial: { shape: ['KS_MAX', 'T', 'D'], holds: 'the partial sums of a split-K c_proj' },
  delta: { shape: ['T', 'D'], holds: 'a c_proj output: what a sublayer adds to the residual stream' },
  pre: { shape: ['T', '4·D'], holds: 'the c_fc output before GELU; written only when its tap is asked for' },
  act: { shape: ['T', '4·D'], holds: 'the GELU output: the MLP neurons' },
  logits: { shape: ['T', 'V'], holds: 'the logits' },
  scratch: { shape: ['V'], holds: 'the kept probabilities while sampling' },
  next: { shape: ['4'], holds: 'the sampled token id (u32), read back' },
  /** one per layer, kv.{l}; allocated only by runs that keep a KV cache (generation) */
  kv: { shape: ['NP', '2·D'], holds: "a layer's KV cache: row p = k_p | v_p" },
} as const satisfies Record<string, { shape: readonly string[]; holds: string }>;
export type Activation = keyof typeof ACTIVATIONS;

/** The activation buffer behind a bound name: kv.3 is layer 3's buffer of kind kv. */
export function activationOf(name: string): Activation | undefined {
  const kind = name.replace(/\.\d+$/, '');
  return kind in ACTIVATIONS ? kind as Activation : undefined;
}

/**
 * The values a run of T tokens at positions P0.. writes into the uniforms params and
 * paramsSplit: { T (or M), KS, P0, TK = P0 + T }.
 */
export function uniformValues(c: GPT2Config, T: number, p0 = 0, kernels: KernelChoice = DEFAULT_CHOICE): Record<'params' | 'paramsSplit', Uint32Array<ArrayBuffer>> {
  return {
    params: new Uint32Array([T, 1, p0, p0 + T]),
    paramsSplit: new Uint32Array([T, cProjSplit(c, T, kernels), p0, p0 + T]),
  };
}

/**
 * The slices both c_proj layers split K into (the split of K = D). A single row run by the
 * matrix-vector variants needs no split.
 */
export function cProjSplit(c: GPT2Config, T: number, kernels: KernelChoice = DEFAULT_CHOICE): number {
  return T === 1 && kernels.row !== 'matmul' ? 1 : splitK(T, c.n_embd, c.n_embd);
}

/** The sample kernel's uniform (shaders/sample.wgsl Params): written by each generation step. */
export function samplingValues(c: GPT2Config, T: number, s: { greedy: boolean; temperature: number; topK: number; topP: number; u: number }): ArrayBuffer {
  const b = new ArrayBuffer(32);
  new Uint32Array(b).set([c.vocab_size, T - 1, s.topK, s.greedy ? 1 : 0]);
  new Float32Array(b).set([s.temperature, s.topP, s.u], 4);
  return b;
}

/** Every uniform buffer a run binds, and its size in bytes. */
export const UNIFORM_BYTES = { params: 16, paramsSplit: 16, sampling: 32 } as const;
export type Uniform = keyof typeof UNIFORM_BYTES;

/** The values of the names in shape formulas, for a model and T tokens. */
export function configSymbols(c: GPT2Config, T: number, TK = T): Symbols {
  return { T, TK, D: c.n_embd, H: c.n_head, HD: c.n_embd / c.n_head, L: c.n_layer, V: c.vocab_size, NP: c.n_positions, KS_MAX: SPLIT_K_MAX };
}

/** The shape of every activation buffer for T tokens and TK keys (elements of 4 bytes). */
export function activationShapes(c: GPT2Config, T: number, TK = T): Record<Activation, number[]> {
  const s = configSymbols(c, T, TK);
  return Object.fromEntries(Object.entries(ACTIVATIONS).map(([k, a]) => [k, evaluateShape(a.shape, s)])) as Record<Activation, number[]>;
}

// ---------------------------------------------------------------------------------
// The ops

/** A tap point: a value of the forward pass, final right after the op that declares it. */
export interface PointDecl {
  name: string;            // Hugging Face module path (its output) or output field
  buffer: Activation;
  meaning: string;
  aliases?: string[];      // `<module>.input` of the modules it feeds, TransformerLens hook names
  /** [T, H, HD] views carved from column `first` (TransformerLens hook_q, hook_k, hook_v, hook_z). */
  views?: { name: string; first: number; meaning: string }[];
  /** The op's default kernel fuses this value away; the op's `tapped` variant writes it. */
  fused?: true;
  /** The op also added this value into that buffer (the residual stream): an edit's change must follow. */
  addedTo?: Activation;
}

export interface OpDecl {
  label: string;
  kernel: KernelName;
  /** binding name → activation buffer, uniform, or parameter name (paramShapes) */
  bind: Record<string, string>;
  /** the values the kernel's constants, grid and cost formulas read */
  dims: Symbols;
  points: PointDecl[];
  /** Run instead of `kernel` when a fused point of this op is asked for: extra bindings merged. */
  tapped?: { kernel: KernelName; bind: Record<string, string> };
  /**
   * Ops that replace this one when a point in `when` is edited: the kernel computes what follows
   * that point internally, so the edited value could not flow on (c_fc's fused GELU; attention's
   * probabilities times the values).
   */
  unfused?: { when: string[]; ops: OpDecl[] };
}

/** Which variant of each kernel family a model runs, chosen per device (src/engine/tune.ts measures it). */
export interface KernelChoice {
  /** Single rows (generation steps): the matmul, or the matrix-vector kernel, with or without subgroups. */
  row: 'matmul' | 'matvec' | 'matvec_sg';
  /** Matmuls of 2..FEW_ROWS rows, and of more: register-blocked, or tiled in workgroup memory. */
  few: 'blocked' | 'tiled';
  many: 'blocked' | 'tiled';
  /**
   * Attention whose probabilities are neither tapped nor edited: the rows kernel (which writes them
   * anyway) or flash; for runs of several rows, and for single rows (generation steps, from the KV cache).
   */
  attention: 'rows' | 'flash';
  stepAttention: 'rows' | 'flash';
}

/** The variants every device can run: the choice of the declared catalogue, and of runs given none. */
export const DEFAULT_CHOICE: Readonly<KernelChoice> = { row: 'matmul', few: 'blocked', many: 'blocked', attention: 'rows', stepAttention: 'rows' };

/** Where "few rows" ends for KernelChoice.few. */
export const FEW_ROWS = 64;

export interface ForwardOptions {
  /** Keep a KV cache: this run's tokens sit at positions p0..p0+T-1 and attend to the cache. */
  cache?: { p0: number };
  /** Choose the next token from the last row's logits (generation). */
  sample?: boolean;
  /** The kernel variants to run (default DEFAULT_CHOICE). */
  kernels?: KernelChoice;
}

/** The forward pass for T tokens, op by op, top to bottom. */
export function forwardOps(c: GPT2Config, T: number, opts: ForwardOptions = {}): OpDecl[] {
  const { n_layer: L, n_head: H, n_embd: D, vocab_size: V } = c;
  const HD = D / H, EPS = c.layer_norm_epsilon, NP = c.n_positions;
  const TK = (opts.cache?.p0 ?? 0) + T;
  const kernels = opts.kernels ?? DEFAULT_CHOICE;
  const KS = cProjSplit(c, T, kernels);
  // A matmul's variant: one row as the chosen matrix-vector kernel, else blocked or tiled by rows.
  const mm = (k: 'linear' | 'linear_gelu' | 'linear_gelu_pre' | 'linear_residual' | 'linear_residual_split' | 'lm_head'): KernelName => {
    if (T === 1 && kernels.row !== 'matmul' && k !== 'linear_residual_split') return kernels.row === 'matvec' ? `${k}_1` : `${k}_1_sg`;
    return (T <= FEW_ROWS ? kernels.few : kernels.many) === 'tiled' ? `${k}_tiled` : k;
  };
  const flash = (T === 1 ? kernels.stepAttention : kernels.attention) === 'flash';
  const ops: OpDecl[] = [];
  const op = (label: string, kernel: KernelName, bind: Record<string, string>, dims: Symbols, points: PointDecl[] = [],
    tapped?: OpDecl['tapped']) => ops.push({ label, kernel, bind, dims, points, ...(tapped ? { tapped } : {}) });

  const residualIn = (i: number): PointDecl => ({
    name: `hidden_states.${i}`, buffer: 'x',
    meaning: i === 0 ? 'wte + wpe: the residual stream entering block 0' : `the residual stream entering block ${i}`,
    aliases: [`h.${i}.input`, `h.${i}.ln_1.input`, `blocks.${i}.hook_resid_pre`],
  });
  const layernorm = (label: string, points: PointDecl[]) =>
    op(label, 'layernorm', { x: 'x', gamma: `${label}.weight`, beta: `${label}.bias`, y: 'ln', params: 'params' }, { T, D, EPS }, points);
  // A c_proj: delta = x·W + b, and the residual stream x += delta. With K split in KS slices
  // (when N = D alone is too narrow a grid) a second dispatch sums the slices.
  const cProj = (label: string, input: Activation, K: number, points: PointDecl[]) => {
    const wb = { w: `${label}.weight`, b: `${label}.bias`, r: 'x' };
    points[0].addedTo = 'x';
    if (KS === 1) return op(label, mm('linear_residual'), { x: input, y: 'delta', params: 'params', ...wb }, { M: T, K, N: D, KS }, points);
    op(label, mm('linear_residual_split'), { x: input, y: 'partial', params: 'paramsSplit', ...wb }, { M: T, K, N: D, KS });
    op(`${label}.reduce`, 'splitk_reduce', { p: 'partial', b: wb.b, y: 'delta', r: 'x', params: 'paramsSplit' }, { M: T, N: D, KS }, points);
  };

  op('embedding', 'embedding', { ids: 'ids', wte: 'wte.weight', wpe: 'wpe.weight', x: 'x', params: 'params' }, { T, D }, [
    { name: 'wte', buffer: 'tok', fused: true, addedTo: 'x', meaning: 'output of module wte: the token embeddings wte[ids]', aliases: ['hook_embed'] },
    { name: 'wpe', buffer: 'pos', fused: true, addedTo: 'x', meaning: 'output of module wpe: the position embeddings wpe[0..T)', aliases: ['hook_pos_embed'] },
    residualIn(0),
  ], { kernel: 'embedding_parts', bind: { tok: 'tok', pos: 'pos' } });

  for (let l = 0; l < L; l++) {
    const p = `h.${l}`, b = `blocks.${l}`;
    layernorm(`${p}.ln_1`, [{ name: `${p}.ln_1`, buffer: 'ln', meaning: 'LayerNorm before attention',
      aliases: [`${p}.attn.input`, `${p}.attn.c_attn.input`, `${b}.ln1.hook_normalized`] }]);
    op(`${p}.attn.c_attn`, mm('linear'), { x: 'ln', w: `${p}.attn.c_attn.weight`, b: `${p}.attn.c_attn.bias`, y: 'qkv', params: 'params' },
      { M: T, K: D, N: 3 * D, KS: 1 }, [{
        name: `${p}.attn.c_attn`, buffer: 'qkv', meaning: 'q | k | v, bias included, before the split into heads',
        views: [
          { name: `${b}.attn.hook_q`, first: 0, meaning: 'the queries, by head' },
          { name: `${b}.attn.hook_k`, first: D, meaning: 'the keys, by head' },
          { name: `${b}.attn.hook_v`, first: 2 * D, meaning: 'the values, by head' },
        ],
      }]);
    // With a KV cache, this run's keys and values join the cache first, and attention reads them there.
    const kv: Record<string, string> = opts.cache ? { kv: `kv.${l}` } : {};
    if (opts.cache) op(`${p}.attn.kv_store`, 'kv_store', { qkv: 'qkv', kv: `kv.${l}`, params: 'params' }, { T, D });
    const attnDims = { T, TK, H, HD, D, NP };
    // The probabilities are a fused point when flash attention runs: the rows kernel writes them when asked for.
    const probsPoint: PointDecl = { name: `attentions.${l}`, buffer: 'probs', meaning: 'softmax attention probabilities, zero above the diagonal',
      aliases: [`${b}.attn.hook_pattern`], ...(flash ? { fused: true as const } : {}) };
    const zPoint: PointDecl = { name: `${p}.attn.c_proj.input`, buffer: 'attn', meaning: 'the attention output with heads merged, before c_proj',
      views: [{ name: `${b}.attn.hook_z`, first: 0, meaning: 'the attention output, by head' }] };
    const rows: KernelName = opts.cache ? 'attention_cached' : 'attention';
    const rowsBind = { qkv: 'qkv', probs: 'probs', out: 'attn', params: 'params', ...kv };
    const { fused: _f, ...writtenProbs } = probsPoint; // written by the rows kernel
    ops.push({
      label: `${p}.attn.attention`, points: [probsPoint, zPoint], dims: attnDims,
      ...(flash
        ? { kernel: opts.cache ? 'attention_flash_cached' : 'attention_flash', bind: { qkv: 'qkv', out: 'attn', params: 'params', ...kv },
          tapped: { kernel: rows, bind: { probs: 'probs' } } }
        : { kernel: rows, bind: rowsBind }),
      unfused: { when: [probsPoint.name], ops: [
        { label: `${p}.attn.attention`, kernel: rows, bind: rowsBind, dims: attnDims, points: [writtenProbs] },
        { label: `${p}.attn.apply`, kernel: opts.cache ? 'attention_apply_cached' : 'attention_apply', dims: attnDims, points: [zPoint],
          bind: { probs: 'probs', qkv: 'qkv', out: 'attn', params: 'params', ...kv } },
      ] },
    });
    cProj(`${p}.attn.c_proj`, 'attn', D, [
      { name: `${p}.attn.c_proj`, buffer: 'delta', meaning: 'the attention delta: what attention adds to the residual stream',
        aliases: [`${p}.attn`, `${b}.hook_attn_out`] },
      { name: `${p}.ln_2.input`, buffer: 'x', meaning: 'the residual stream after attention', aliases: [`${b}.hook_resid_mid`] },
    ]);
    layernorm(`${p}.ln_2`, [{ name: `${p}.ln_2`, buffer: 'ln', meaning: 'LayerNorm before the MLP',
      aliases: [`${p}.mlp.input`, `${p}.mlp.c_fc.input`, `${b}.ln2.hook_normalized`] }]);
    const fcW = { x: 'ln', w: `${p}.mlp.c_fc.weight`, b: `${p}.mlp.c_fc.bias`, params: 'params' };
    const fcDims = { M: T, K: D, N: 4 * D, KS: 1 };
    const prePoint: PointDecl = { name: `${p}.mlp.c_fc`, buffer: 'pre', fused: true, meaning: 'the MLP pre-activation',
      aliases: [`${p}.mlp.act.input`, `${b}.mlp.hook_pre`] };
    const { fused: _, ...unfusedPre } = prePoint; // written by the plain linear kernel
    const actPoint: PointDecl = { name: `${p}.mlp.act`, buffer: 'act', meaning: 'gelu_new of c_fc: the MLP neurons',
      aliases: [`${p}.mlp.c_proj.input`, `${b}.mlp.hook_post`] };
    ops.push({
      label: `${p}.mlp.c_fc`, kernel: mm('linear_gelu'), bind: { ...fcW, y: 'act' }, dims: fcDims, points: [prePoint, actPoint],
      tapped: { kernel: mm('linear_gelu_pre'), bind: { pre: 'pre' } },
      unfused: { when: [prePoint.name], ops: [
        { label: `${p}.mlp.c_fc`, kernel: mm('linear'), bind: { ...fcW, y: 'pre' }, dims: fcDims, points: [unfusedPre] },
        { label: `${p}.mlp.act`, kernel: 'gelu', bind: { x: 'pre', y: 'act', params: 'params' }, dims: { T, W: 4 * D }, points: [actPoint] },
      ] },
    });
    cProj(`${p}.mlp.c_proj`, 'act', 4 * D, [
      { name: `${p}.mlp.c_proj`, buffer: 'delta', meaning: 'the MLP delta: what the MLP adds to the residual stream',
        aliases: [`${p}.mlp`, `${b}.hook_mlp_out`] },
      { name: p, buffer: 'x', meaning: `output of block ${l}: the raw residual stream after it`,
        aliases: [`${b}.hook_resid_post`, ...(l === L - 1 ? ['ln_f.input'] : [])] },
      ...(l < L - 1 ? [residualIn(l + 1)] : []),
    ]);
  }

  layernorm('ln_f', [
    { name: 'ln_f', buffer: 'ln', meaning: 'the final LayerNorm', aliases: ['lm_head.input', 'ln_final.hook_normalized'] },
    { name: `hidden_states.${L}`, buffer: 'ln', meaning: 'the last hidden state: ln_f applied, as in Hugging Face' },
  ]);
  op('lm_head', mm('lm_head'), { x: 'ln', w: lmHeadWeight(c), y: 'logits', params: 'params' }, { M: T, K: D, N: V, KS: 1 },
    [{ name: 'logits', buffer: 'logits', meaning: `ln_f(x) · ${lmHeadWeight(c)}ᵀ` }]);
  if (opts.sample) op('sample', 'sample', { logits: 'logits', scratch: 'scratch', ids: 'ids', out: 'next', params: 'sampling' }, { V });
  return ops;
}

/** The LM head's weight: lm_head.weight when the checkpoint unties it, else wte.weight. */
export function lmHeadWeight(c: GPT2Config): string {
  return c.tie_word_embeddings === false ? 'lm_head.weight' : 'wte.weight';
}

// ---------------------------------------------------------------------------------
// A run's dispatches

export interface Dispatch {
  label: string;
  kernel: KernelName;
  bind: Record<string, string>;
  dims: Symbols;
  grid: [number, number, number];
  flops: number;
  bytes: number;
  /** The asked-for points ready right after this dispatch, in order: copy `buffer` to tap `name`. */
  taps: { name: string; buffer: Activation }[];
  /** For an edit's dispatch: the index of the edit (it binds edit.{i}.sel, edit.{i}.data, edit.{i}.params). */
  edit?: number;
}

export interface PlanOptions extends ForwardOptions {
  /** Tap points to copy (canonical point names, see tapPoints). */
  points?: readonly string[];
  /** The point each edit of the run changes, in the run's order (canonical point names). */
  edits?: readonly string[];
  /** Run the whole pass even when the points end earlier. Default: stop after the deepest point. */
  whole?: boolean;
}

/**
 * The dispatches of one run: each op with the kernel variant it needs (a fused point that is
 * asked for or edited selects the op's tapped variant; an edit that must flow on through what an
 * op computes internally selects its unfused ops), its grid and cost; after it, for each of its
 * points in order, that point's edits and then its tap copy. Without points, or with `whole`,
 * the whole pass; else it stops after the deepest point.
 */
export function planForward(c: GPT2Config, T: number, opts: PlanOptions = {}): Dispatch[] {
  const asked = new Set(opts.points ?? []);
  const edits = opts.edits ?? [];
  const sym = configSymbols(c, T, (opts.cache?.p0 ?? 0) + T);
  const plan: Dispatch[] = [];
  const push = (label: string, kernel: KernelName, bind: Record<string, string>, dims: Symbols, edit?: number) => {
    const k = KERNELS[kernel];
    plan.push({
      label, kernel, bind, dims, grid: k.grid(dims), flops: evaluate(k.cost.flops, dims), bytes: evaluate(k.cost.bytes, dims),
      taps: [], ...(edit !== undefined ? { edit } : {}),
    });
  };
  const visit = (op: OpDecl): void => {
    if (op.unfused?.when.some((n) => edits.includes(n))) return op.unfused.ops.forEach(visit);
    const useTapped = op.tapped !== undefined && op.points.some((p) => p.fused && (asked.has(p.name) || edits.includes(p.name)));
    push(op.label, useTapped ? op.tapped!.kernel : op.kernel, useTapped ? { ...op.bind, ...op.tapped!.bind } : op.bind, op.dims);
    for (const p of op.points) {
      edits.forEach((name, i) => {
        if (name !== p.name) return;
        const bind = { y: p.buffer, sel: `edit.${i}.sel`, data: `edit.${i}.data`, params: `edit.${i}.params`, ...(p.addedTo ? { m: p.addedTo } : {}) };
        const N = evaluateShape(ACTIVATIONS[p.buffer].shape, sym).reduce((a, b) => a * b, 1);
        push(`edit ${i}: ${p.name}`, p.addedTo ? 'edit_mirror' : 'edit', bind, { N }, i);
      });
      if (asked.has(p.name)) plan.at(-1)!.taps.push({ name: p.name, buffer: p.buffer });
    }
  };
  forwardOps(c, T, opts).forEach(visit);
  if (asked.size === 0 || opts.whole) return plan;
  return plan.slice(0, plan.findLastIndex((d) => d.taps.length > 0) + 1);
}

// ---------------------------------------------------------------------------------
// Taps

export interface TapInfo {
  name: string;
  /** formulas over T, D, H, HD, V (configSymbols) */
  shape: string[];
  meaning: string;
  aliases: string[];
  /** The point whose buffer the tap reads: itself, or the point a view is carved from. */
  point: string;
  /** Views: the first column taken from each row of the point (D columns, as [H, HD]). */
  first?: number;
}

const catalogues = new WeakMap<GPT2Config, { taps: TapInfo[]; byName: Map<string, TapInfo> }>();

function catalogue(c: GPT2Config) {
  let cat = catalogues.get(c);
  if (!cat) {
    const taps: TapInfo[] = [];
    for (const op of forwardOps(c, 1)) {
      for (const p of op.points) {
        // a tap covers the rows of a whole sequence: its keys (TK) are its rows (T)
        const shape = ACTIVATIONS[p.buffer].shape.map((f) => (f === 'TK' ? 'T' : f));
        taps.push({ name: p.name, shape, meaning: p.meaning, aliases: p.aliases ?? [], point: p.name });
        for (const v of p.views ?? []) taps.push({ name: v.name, shape: ['T', 'H', 'HD'], meaning: v.meaning, aliases: [], point: p.name, first: v.first });
      }
    }
    const byName = new Map<string, TapInfo>();
    for (const t of taps) for (const n of [t.name, ...t.aliases]) {
      if (byName.has(n)) throw new Error(`internal: tap name ${n} declared twice`);
      byName.set(n, t);
    }
    cat = { taps, byName };
    catalogues.set(c, cat);
  }
  return cat;
}

/** Every tap of a model in forward order: each point, and after it the views carved from it. */
export function tapCatalogue(c: GPT2Config): readonly TapInfo[] {
  return catalogue(c).taps;
}

/** Every tap point (what 'all' asks for), in forward order. Views are not points. */
export function allTapNames(c: GPT2Config): string[] {
  return catalogue(c).taps.filter((t) => t.first === undefined).map((t) => t.name);
}

/** The tap of a name or alias; throws the unknown-tap error. */
export function tapInfo(c: GPT2Config, name: string): TapInfo {
  const t = catalogue(c).byName.get(name);
  if (!t) throw unknownTap(c, name);
  return t;
}

export function tapShape(c: GPT2Config, name: string, T: number): number[] {
  return evaluateShape(tapInfo(c, name).shape, configSymbols(c, T));
}

/**
 * Expands a tap request ('all', names, aliases, `*` globs over tap names such as
 * 'hidden_states.*') into canonical tap names, in forward order, without duplicates.
 */
export function resolveTaps(c: GPT2Config, requested: readonly string[] | 'all'): string[] {
  const { taps } = catalogue(c);
  const all = allTapNames(c);
  if (requested === 'all') return all;
  const wanted = new Set<string>();
  for (const raw of requested) {
    const name = raw.trim();
    if (name === '') continue;
    if (name === 'all') { all.forEach((n) => wanted.add(n)); continue; }
    if (name.includes('*')) {
      const re = new RegExp('^' + name.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^]*') + '$');
      const hits = taps.filter((t) => re.test(t.name));
      if (hits.length === 0) throw unknownTap(c, name);
      hits.forEach((t) => wanted.add(t.name));
      continue;
    }
    wanted.add(tapInfo(c, name).name);
  }
  return taps.filter((t) => wanted.has(t.name)).map((t) => t.name);
}

/** The points a run must copy to give these taps (views read their point). */
export function tapPoints(c: GPT2Config, names: readonly string[]): string[] {
  return [...new Set(names.map((n) => tapInfo(c, n).point))];
}

function unknownTap(c: GPT2Config, name: string): GPT2TapsError {
  const L = c.n_layer - 1;
  return new GPT2TapsError(
    `unknown tap "${name}"`,
    `\`gpt2-taps taps\` lists every tap with its shape and aliases. In short: wte, wpe, hidden_states.{0..${c.n_layer}}, ` +
      `h.{0..${L}}[.ln_1|.attn.c_attn|.attn.c_proj.input|.attn.c_proj|.ln_2.input|.ln_2|.mlp.c_fc|.mlp.act|.mlp.c_proj], ` +
      `attentions.{0..${L}}, ln_f, logits; 'all'; globs like 'h.*.mlp.act'; <module>.input; and TransformerLens names ` +
      `such as blocks.{l}.hook_resid_pre, blocks.{l}.attn.hook_q`,
  );
}

// ---------------------------------------------------------------------------------
// Device limits

/**
 * Refuses, before anything is uploaded, a model this device cannot run: every parameter and
 * every activation buffer (at T = n_positions) against the binding and buffer size limits, and
 * every kernel's workgroup memory and requirements.
 */
export function checkDeviceLimits(limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize' | 'maxComputeWorkgroupStorageSize'>,
  c: GPT2Config): void {
  const { maxStorageBufferBindingSize: maxBinding, maxBufferSize: maxBuffer, maxComputeWorkgroupStorageSize: maxShared } = limits;
  const T = c.n_positions;
  const sym = configSymbols(c, T);
  const buffers: [string, number][] = [
    ...[...paramShapes(c)].map(([name, shape]): [string, number] => [`parameter ${name} [${shape.join(', ')}]`, 4 * shape.reduce((a, b) => a * b, 1)]),
    ...Object.entries(ACTIVATIONS).map(([name, a]): [string, number] =>
      [`activation ${name} [${a.shape.join(', ')}] at T = n_positions (${T})`, 4 * evaluateShape(a.shape, sym).reduce((x, y) => x * y, 1)]),
  ];
  const limit = Math.min(maxBinding, maxBuffer);
  for (const [what, bytes] of buffers) {
    if (bytes > limit) {
      throw new GPT2TapsError(
        `this model needs a ${(bytes / 2 ** 20).toFixed(1)} MiB buffer for ${what}, above this device's ` +
          `${bytes > maxBinding ? 'maxStorageBufferBindingSize' : 'maxBufferSize'} (${(limit / 2 ** 20).toFixed(1)} MiB)`,
        'use a GPU/browser with larger WebGPU limits, or a smaller model',
      );
    }
  }
  for (const op of forwardOps(c, T)) {
    for (const kernel of [op.kernel, ...(op.tapped ? [op.tapped.kernel] : [])]) {
      const k: KernelDecl = KERNELS[kernel];
      const why = k.unsupported?.(op.dims);
      if (why) throw new GPT2TapsError(`${op.label}: ${why}`);
      const shared = k.workgroupBytes?.(op.dims) ?? 0;
      if (shared > maxShared) {
        throw new GPT2TapsError(`${op.label}: the ${k.shader} kernel needs ${shared} bytes of workgroup memory for this model, ` +
          `above this device's maxComputeWorkgroupStorageSize (${maxShared})`, 'use a device with more workgroup memory');
      }
    }
  }
}
