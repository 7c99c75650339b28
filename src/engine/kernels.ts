// The kernel catalogue: every kernel variant the forward pass can dispatch, each declared
// once with its WGSL file and preprocessor switches, its binding table (the one source of
// truth for bind group layouts; a unit test checks it against the file's @binding lines),
// its override constants, its dispatch grid and its cost. The WGSL contract of each lives
// in its file's header comment. src/engine/forward.ts names these entries op by op.
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import embeddingWGSL from '../../shaders/embedding.wgsl';
import layernormWGSL from '../../shaders/layernorm.wgsl';
import matmulWGSL from '../../shaders/matmul.wgsl';
import matmulTiledWGSL from '../../shaders/matmul_tiled.wgsl';
import matvecWGSL from '../../shaders/matvec.wgsl';
import attentionWGSL from '../../shaders/attention.wgsl';
import attentionFlashWGSL from '../../shaders/attention_flash.wgsl';
import splitkReduceWGSL from '../../shaders/splitk_reduce.wgsl';
import kvStoreWGSL from '../../shaders/kv_store.wgsl';
import geluWGSL from '../../shaders/gelu.wgsl';
import attentionApplyWGSL from '../../shaders/attention_apply.wgsl';
import editWGSL from '../../shaders/edit.wgsl';
import sampleWGSL from '../../shaders/sample.wgsl';
import { createKernel, type BindingDecl, type Kernel } from './gpu.js';
import type { Symbols } from './formula.js';

export const SOURCES = {
  embedding: embeddingWGSL,
  layernorm: layernormWGSL,
  matmul: matmulWGSL,
  matmul_tiled: matmulTiledWGSL,
  matvec: matvecWGSL,
  attention: attentionWGSL,
  attention_flash: attentionFlashWGSL,
  splitk_reduce: splitkReduceWGSL,
  kv_store: kvStoreWGSL,
  gelu: geluWGSL,
  attention_apply: attentionApplyWGSL,
  edit: editWGSL,
  sample: sampleWGSL,
} as const;
export type ShaderName = keyof typeof SOURCES;

/**
 * Runs wgsl-preprocessor on a .wgsl file. Its `wgsl` template tag expects each `#if` to be
 * followed by a template value, so a line `#if NAME` in the file becomes a value slot
 * holding `defines[NAME]`.
 */
export function preprocess(source: string, defines: Record<string, boolean>): string {
  const strings: string[] = [];
  const values: boolean[] = [];
  const re = /^(\s*#(?:if|elif))[ \t]+(\w+)[ \t]*$/gm;
  let last = 0;
  for (const m of source.matchAll(re)) {
    const name = m[2];
    if (!(name in defines)) throw new Error(`preprocess: no value given for #if ${name}`);
    strings.push(source.slice(last, m.index! + m[1].length) + ' ');
    values.push(defines[name]);
    last = m.index! + m[0].length;
  }
  strings.push(source.slice(last));
  return wgsl(strings, ...values);
}

type Grid = [number, number, number];
const ceil = (a: number, b: number) => Math.ceil(a / b);

/** Queries per workgroup of attention_flash: min(16, the least power of two >= T) (its queries_per_workgroup). */
export function flashQueries(T: number): number {
  let bq = 1;
  while (bq < T && bq < 16) bq *= 2;
  return bq;
}

/** Dispatch grids; each matches the "Dispatch:" line of its kernel's header. */
export const GRID = {
  embedding: (T: number, D: number): Grid => [ceil(T * D, 256), 1, 1],
  layernorm: (T: number): Grid => [T, 1, 1],
  matmul: (M: number, N: number, KS = 1): Grid => [ceil(N, 128), ceil(M, 16), KS],
  matmulTiled: (M: number, N: number, KS = 1): Grid => [ceil(N, 64), ceil(M, 64), KS],
  matvec: (N: number, transposeB: boolean): Grid => [ceil(N, transposeB ? 8 : 64), 1, 1],
  splitkReduce: (M: number, N: number): Grid => [ceil(M * N, 256), 1, 1],
  attention: (T: number, H: number): Grid => [T, H, 1],
  attentionFlash: (T: number, H: number): Grid => [ceil(T, flashQueries(T)), H, 1],
  /** n elements, 256 per workgroup, in rows of at most 65535 workgroups (edit.wgsl's nx). */
  elements: (n: number): Grid => {
    const g = Math.max(1, ceil(n, 256));
    return [Math.min(g, 65535), ceil(g, 65535), 1];
  },
};

/** The most slices a split-K matmul cuts K into; the partial-sum buffer holds this many. */
export const SPLIT_K_MAX = 8;

/**
 * How many slices to split K into for a matmul of M×K·K×N: enough that the grid holds
 * about 32k threads (a GPU idles on the c_proj layers' N = D columns at small T), at most
 * SPLIT_K_MAX, and dividing K/4. 1 (no split) when the grid is already large.
 */
export function splitK(M: number, K: number, N: number): number {
  const threads = ceil(N, 8) * ceil(M, 4);
  let ks = 1;
  while (ks < SPLIT_K_MAX && threads * ks < 32768 && (K / 4) % (ks * 2) === 0) ks *= 2;
  return ks;
}

/**
 * One kernel variant. Its functions and formulas read the op's dims (src/engine/forward.ts):
 * embedding {T, D}; layernorm {T, D, EPS}; attention {T, TK, H, HD, D, NP}; matmul {M, K, N, KS};
 * splitk_reduce {M, N, KS}; kv_store {T, D}; gelu {T, W}; edit {N}; sample {V}.
 */
export interface KernelDecl {
  shader: ShaderName;
  /** A value for every `#if` of the file. */
  defines: Record<string, boolean>;
  bindings: BindingDecl[];
  constants: (d: Symbols) => Record<string, number>;
  grid: (d: Symbols) => Grid;
  /** Arithmetic and the bytes it must move at least once, per dispatch (src/engine/formula.ts). */
  cost: { flops: string; bytes: string };
  /** Workgroup memory one workgroup holds, in bytes (checked against the device at load). */
  workgroupBytes?: (d: Symbols) => number;
  /** Why these dims cannot run, if they cannot (checked at load). */
  unsupported?: (d: Symbols) => string | undefined;
  /**
   * A device feature the kernel needs (its WGSL enables it, e.g. `enable subgroups;`): only
   * devices requested with it can compile the kernel, so choose the entry only where
   * device.features has it (src/engine/device.ts requests it wherever the adapter offers it).
   */
  requires?: GPUFeatureName;
}

export interface MatmulVariant { bias: boolean; gelu: boolean; residual: boolean; transposeB: boolean; pre?: boolean }

export function matmulBindings(v: MatmulVariant): BindingDecl[] {
  return [
    { binding: 0, name: 'x', access: 'read' },
    { binding: 1, name: 'w', access: 'read' },
    ...(v.bias ? [{ binding: 2, name: 'b', access: 'read' } as const] : []),
    { binding: 3, name: 'y', access: 'read_write' },
    { binding: 4, name: 'params', access: 'uniform' },
    ...(v.residual ? [{ binding: 5, name: 'r', access: 'read_write' } as const] : []),
    ...(v.pre ? [{ binding: 6, name: 'pre', access: 'read_write' } as const] : []),
  ];
}

function matmul(v: MatmulVariant, bytes: string): KernelDecl {
  return {
    shader: 'matmul',
    defines: { BIAS: v.bias, GELU: v.gelu, RESIDUAL: v.residual, TRANSPOSE_B: v.transposeB, PRE: v.pre ?? false },
    bindings: matmulBindings(v),
    constants: (d) => ({ K: d.K, N: d.N }),
    grid: (d) => GRID.matmul(d.M, d.N, d.KS),
    cost: { flops: '2·M·K·N', bytes },
  };
}

/** The same variant for one row (M = 1): weights read once, coalesced (shaders/matvec.wgsl). */
function matvec(v: MatmulVariant, bytes: string): KernelDecl {
  const m = matmul(v, bytes);
  return {
    ...m, shader: 'matvec', defines: { ...m.defines, SUBGROUPS: false }, grid: (d) => GRID.matvec(d.N, v.transposeB),
    workgroupBytes: () => 256 * 16, // partial: array<vec4<f32>, 256>
  };
}

/** Workgroup memory of shaders/matmul_tiled.wgsl: two 64×16 tiles of X and two of W, in f32 (WebGPU's default limit). */
export const MATMUL_TILED_WORKGROUP_BYTES = 2 * (64 * 16 + 16 * 64) * 4;

/** A matmul entry's twin tiled in workgroup memory, for GPUs (shaders/matmul_tiled.wgsl): same contract, bindings, cost. */
function tiled(decl: KernelDecl): KernelDecl {
  return { ...decl, shader: 'matmul_tiled', grid: (d) => GRID.matmulTiled(d.M, d.N, d.KS), workgroupBytes: () => MATMUL_TILED_WORKGROUP_BYTES };
}

/** A one-row entry's twin adding its K split with subgroupAdd (matvec.wgsl SUBGROUPS): needs the subgroups feature. */
function withSubgroups(decl: KernelDecl): KernelDecl {
  return {
    ...decl, defines: { ...decl.defines, SUBGROUPS: true }, requires: 'subgroups',
    workgroupBytes: () => 64 * 16, // pieces: array<vec4<f32>, 64>
  };
}

/** Each entry of `entries` again, named `<name><suffix>`, as `twin` makes it. */
function twins<E extends Record<string, KernelDecl>, S extends string>(entries: E, suffix: S, twin: (d: KernelDecl) => KernelDecl) {
  return Object.fromEntries(Object.entries(entries).map(([name, d]) => [name + suffix, twin(d)])) as { [Name in keyof E & string as `${Name}${S}`]: KernelDecl };
}

/** How a matmul runs: register-blocked, tiled in workgroup memory, or one row (M = 1) as a matrix-vector product. */
export type MatmulKind = 'blocked' | 'tiled' | 'matvec' | 'matvec_sg';

/** The catalogue entry of any matmul variant and kind (its cost formulas left empty). */
export function matmulDecl(v: MatmulVariant, kind: MatmulKind = 'blocked'): KernelDecl {
  const d = kind === 'matvec' || kind === 'matvec_sg' ? matvec(v, '') : matmul(v, '');
  return kind === 'tiled' ? tiled(d) : kind === 'matvec_sg' ? withSubgroups(d) : d;
}

function embedding(parts: boolean): KernelDecl {
  return {
    shader: 'embedding',
    defines: { PARTS: parts },
    bindings: [
      { binding: 0, name: 'ids', access: 'read' },
      { binding: 1, name: 'wte', access: 'read' },
      { binding: 2, name: 'wpe', access: 'read' },
      { binding: 3, name: 'x', access: 'read_write' },
      { binding: 4, name: 'params', access: 'uniform' },
      ...(parts ? [{ binding: 5, name: 'tok', access: 'read_write' } as const, { binding: 6, name: 'pos', access: 'read_write' } as const] : []),
    ],
    constants: (d) => ({ D: d.D }),
    grid: (d) => GRID.embedding(d.T, d.D),
    cost: { flops: 'T·D', bytes: parts ? '4·(5·T·D + T)' : '4·(3·T·D + T)' },
  };
}

function attention(cached: boolean): KernelDecl {
  return {
    shader: 'attention',
    defines: { CACHED: cached },
    bindings: [
      { binding: 0, name: 'qkv', access: 'read' },
      { binding: 1, name: 'probs', access: 'read_write' },
      { binding: 2, name: 'out', access: 'read_write' },
      { binding: 3, name: 'params', access: 'uniform' },
      ...(cached ? [{ binding: 4, name: 'kv', access: 'read' } as const] : []),
    ],
    constants: (d) => ({ H: d.H, HD: d.HD }),
    grid: (d) => GRID.attention(d.T, d.H),
    cost: { flops: 'H·T·TK·(4·HD + 4)', bytes: cached ? '4·(2·T·D + 2·TK·D + H·T·TK)' : '4·(3·T·D + H·T·TK + T·D)' },
    // stats: array<vec2<f32>, 64>, groups: array<vec2<f32>, 8>, part: array<vec4<f32>, 64>; scores wait in probs
    workgroupBytes: () => 8 * 64 + 8 * 8 + 16 * 64,
    unsupported: (d) => (d.HD % 4 === 0 ? undefined : `head dim ${d.HD} is not a multiple of 4, which the attention kernel needs`),
  };
}

/** The same attention without the probabilities: online softmax over key tiles (shaders/attention_flash.wgsl). */
function attentionFlash(cached: boolean): KernelDecl {
  return {
    shader: 'attention_flash',
    defines: { CACHED: cached },
    bindings: [
      { binding: 0, name: 'qkv', access: 'read' },
      { binding: 2, name: 'out', access: 'read_write' },
      { binding: 3, name: 'params', access: 'uniform' },
      ...(cached ? [{ binding: 4, name: 'kv', access: 'read' } as const] : []),
    ],
    constants: (d) => ({ H: d.H, HD: d.HD }),
    grid: (d) => GRID.attentionFlash(d.T, d.H),
    cost: { flops: 'H·T·TK·(4·HD + 4)', bytes: cached ? '4·(2·T·D + 2·TK·D)' : '4·(3·T·D + T·D)' },
    // tile: array<vec4<f32>, 16·HD>: two tiles of 32 keys and values, reused for the merge
    workgroupBytes: (d) => 16 * 16 * d.HD,
    unsupported: (d) => (d.HD % 4 !== 0 ? `head dim ${d.HD} is not a multiple of 4, which the flash attention kernel needs`
      : d.HD > 64 ? `head dim ${d.HD} is above 64, the most the flash attention kernel holds per thread (use the rows kernel)` : undefined),
  };
}

function attentionApply(cached: boolean): KernelDecl {
  return {
    shader: 'attention_apply',
    defines: { CACHED: cached },
    bindings: [
      { binding: 0, name: 'probs', access: 'read' },
      { binding: 1, name: 'qkv', access: 'read' },
      { binding: 2, name: 'out', access: 'read_write' },
      { binding: 3, name: 'params', access: 'uniform' },
      ...(cached ? [{ binding: 4, name: 'kv', access: 'read' } as const] : []),
    ],
    constants: (d) => ({ H: d.H, HD: d.HD }),
    grid: (d) => GRID.attention(d.T, d.H),
    cost: { flops: '2·H·T·TK·HD', bytes: '4·(H·T·TK + TK·D + T·D)' },
  };
}

function edit(mirror: boolean): KernelDecl {
  return {
    shader: 'edit',
    defines: { MIRROR: mirror },
    bindings: [
      { binding: 0, name: 'y', access: 'read_write' },
      { binding: 1, name: 'sel', access: 'read' },
      { binding: 2, name: 'data', access: 'read' },
      { binding: 3, name: 'params', access: 'uniform' },
      ...(mirror ? [{ binding: 4, name: 'm', access: 'read_write' } as const] : []),
    ],
    constants: () => ({}),
    grid: (d) => GRID.elements(d.N),
    cost: { flops: 'N', bytes: mirror ? '4·(4·N)' : '4·(2·N)' },
  };
}

const plain = { bias: true, gelu: false, residual: false, transposeB: false };

/** The matmuls of the forward pass, by epilogue (shaders/matmul.wgsl, register-blocked). */
const MATMULS = {
  /** y = x·W + b (attn.c_attn) */
  linear: matmul(plain, '4·(M·K + K·N + M·N + N)'),
  /** y = gelu_new(x·W + b) (mlp.c_fc, the pre-activation fused away) */
  linear_gelu: matmul({ ...plain, gelu: true }, '4·(M·K + K·N + M·N + N)'),
  /** the same, also writing the pre-activation (the tap mlp.c_fc) */
  linear_gelu_pre: matmul({ ...plain, gelu: true, pre: true }, '4·(M·K + K·N + 2·M·N + N)'),
  /** y = x·W + b and r += y (a c_proj: y the sublayer's delta, r the residual stream) */
  linear_residual: matmul({ ...plain, residual: true }, '4·(M·K + K·N + 3·M·N + N)'),
  /** the same kernel with K in KS slices: raw partial sums into y[KS, M, N]; splitk_reduce finishes */
  linear_residual_split: matmul({ ...plain, residual: true }, '4·(M·K + K·N + KS·M·N)'),
  /** logits = x · Wᵀ, W [V, D] (wte, or an untied lm_head.weight: both are [V, D]) */
  lm_head: matmul({ bias: false, gelu: false, residual: false, transposeB: true }, '4·(M·K + K·N + M·N)'),
} satisfies Record<string, KernelDecl>;

/** The same four epilogues and the LM head for one row (generation steps): shaders/matvec.wgsl. */
const MATVECS = {
  linear_1: matvec(plain, '4·(K + K·N + 2·N)'),
  linear_gelu_1: matvec({ ...plain, gelu: true }, '4·(K + K·N + 2·N)'),
  linear_gelu_pre_1: matvec({ ...plain, gelu: true, pre: true }, '4·(K + K·N + 3·N)'),
  linear_residual_1: matvec({ ...plain, residual: true }, '4·(K + K·N + 4·N)'),
  lm_head_1: matvec({ bias: false, gelu: false, residual: false, transposeB: true }, '4·(K + K·N + N)'),
} satisfies Record<string, KernelDecl>;

/** Every kernel variant the forward pass uses, by the name ops refer to it with. */
export const KERNELS = {
  embedding: embedding(false),
  /** also writes the summands wte[ids] and wpe[0..T) (the taps wte, wpe) */
  embedding_parts: embedding(true),
  layernorm: {
    shader: 'layernorm',
    defines: {},
    bindings: [
      { binding: 0, name: 'x', access: 'read' },
      { binding: 1, name: 'gamma', access: 'read' },
      { binding: 2, name: 'beta', access: 'read' },
      { binding: 3, name: 'y', access: 'read_write' },
      { binding: 4, name: 'params', access: 'uniform' },
    ],
    constants: (d) => ({ D: d.D, EPS: d.EPS }),
    grid: (d) => GRID.layernorm(d.T),
    cost: { flops: '8·T·D', bytes: '4·(2·T·D + 2·D)' },
  },
  attention: attention(false),
  /** keys and values from the layer's KV cache (generation) */
  attention_cached: attention(true),
  /** out alone, without the probabilities (flash attention: no T×TK matrix) */
  attention_flash: attentionFlash(false),
  attention_flash_cached: attentionFlash(true),
  /** the probabilities' product with the values, alone (runs that edit attentions.l) */
  attention_apply: attentionApply(false),
  attention_apply_cached: attentionApply(true),
  /** the keys and values of this run's tokens into the layer's KV cache */
  kv_store: {
    shader: 'kv_store',
    defines: {},
    bindings: [
      { binding: 0, name: 'qkv', access: 'read' },
      { binding: 1, name: 'kv', access: 'read_write' },
      { binding: 2, name: 'params', access: 'uniform' },
    ],
    constants: (d) => ({ D: d.D }),
    grid: (d) => GRID.elements(d.T * 2 * d.D),
    cost: { flops: '0', bytes: '4·(4·T·D)' },
  },
  /** gelu_new alone (runs that edit the pre-activation h.l.mlp.c_fc) */
  gelu: {
    shader: 'gelu',
    defines: {},
    bindings: [
      { binding: 0, name: 'x', access: 'read' },
      { binding: 1, name: 'y', access: 'read_write' },
      { binding: 2, name: 'params', access: 'uniform' },
    ],
    constants: (d) => ({ W: d.W }),
    grid: (d) => GRID.elements(d.T * d.W),
    cost: { flops: '10·T·W', bytes: '4·(2·T·W)' },
  },
  /** the next token from the last row's logits, greedy or sampled (generation) */
  sample: {
    shader: 'sample',
    defines: {},
    bindings: [
      { binding: 0, name: 'logits', access: 'read' },
      { binding: 1, name: 'scratch', access: 'read_write' },
      { binding: 2, name: 'ids', access: 'read_write' },
      { binding: 3, name: 'out', access: 'read_write' },
      { binding: 4, name: 'params', access: 'uniform' },
    ],
    constants: () => ({}),
    grid: (_d) => [1, 1, 1],
    // greedy: two passes over the row; sampling adds up to 64 passes for the top-k and top-p searches
    cost: { flops: '2·V', bytes: '4·(2·V)' },
  },
  /** an edit of a tap point (src/engine/edits.ts) */
  edit: edit(false),
  /** an edit of a point a fused kernel already added into the residual stream: the change follows */
  edit_mirror: edit(true),
  // linear, linear_gelu, linear_gelu_pre, linear_residual, linear_residual_split, lm_head
  ...MATMULS,
  /** each of them tiled in workgroup memory, for GPUs: linear_tiled, …, lm_head_tiled */
  ...twins(MATMULS, '_tiled', tiled),
  // linear_1, linear_gelu_1, linear_gelu_pre_1, linear_residual_1, lm_head_1
  ...MATVECS,
  /** each of them adding its K split with subgroupAdd: linear_1_sg, …, lm_head_1_sg */
  ...twins(MATVECS, '_sg', withSubgroups),
  splitk_reduce: {
    shader: 'splitk_reduce',
    defines: {},
    bindings: [
      { binding: 0, name: 'p', access: 'read' },
      { binding: 1, name: 'b', access: 'read' },
      { binding: 2, name: 'y', access: 'read_write' },
      { binding: 3, name: 'r', access: 'read_write' },
      { binding: 4, name: 'params', access: 'uniform' },
    ],
    constants: (d) => ({ N: d.N }),
    grid: (d) => GRID.splitkReduce(d.M, d.N),
    cost: { flops: 'KS·M·N', bytes: '4·(KS·M·N + N + 3·M·N)' },
  },
} satisfies Record<string, KernelDecl>;
export type KernelName = keyof typeof KERNELS;

/** What makes two compiled kernels the same: file, switches and override constants. */
export function kernelKey(decl: KernelDecl, dims: Symbols): string {
  return JSON.stringify([decl.shader, decl.defines, decl.constants(dims)]);
}

/** Compiles a kernel variant for the given dims (errors name the file and line; see createKernel). */
export function compileKernel(device: GPUDevice, decl: KernelDecl, dims: Symbols): Promise<Kernel> {
  return createKernel(device, decl.shader, preprocess(SOURCES[decl.shader], decl.defines), decl.bindings, decl.constants(dims));
}

/** A matmul of any variant and kind, outside the forward pass (the microbenchmark, the kernel tests); grid: matmulDecl(v, kind).grid. */
export function matmulKernel(device: GPUDevice, K: number, N: number, v: MatmulVariant, kind: MatmulKind = 'blocked'): Promise<Kernel> {
  return compileKernel(device, matmulDecl(v, kind), { K, N });
}
