// The kernels: WGSL source, binding table (the one source of truth for bind group
// layouts; a unit test checks it against each file's @binding lines), override
// constants and dispatch grid. The WGSL contract of each lives in its header comment.
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import embeddingWGSL from '../../shaders/embedding.wgsl';
import layernormWGSL from '../../shaders/layernorm.wgsl';
import matmulWGSL from '../../shaders/matmul.wgsl';
import attentionWGSL from '../../shaders/attention.wgsl';
import splitkReduceWGSL from '../../shaders/splitk_reduce.wgsl';
import { createKernel, type BindingDecl, type Kernel } from './gpu.js';

export const SOURCES = {
  embedding: embeddingWGSL,
  layernorm: layernormWGSL,
  matmul: matmulWGSL,
  attention: attentionWGSL,
  splitk_reduce: splitkReduceWGSL,
} as const;

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

export const EMBEDDING_BINDINGS: BindingDecl[] = [
  { binding: 0, name: 'ids', access: 'read' },
  { binding: 1, name: 'wte', access: 'read' },
  { binding: 2, name: 'wpe', access: 'read' },
  { binding: 3, name: 'x', access: 'read_write' },
  { binding: 4, name: 'params', access: 'uniform' },
];

export const LAYERNORM_BINDINGS: BindingDecl[] = [
  { binding: 0, name: 'x', access: 'read' },
  { binding: 1, name: 'gamma', access: 'read' },
  { binding: 2, name: 'beta', access: 'read' },
  { binding: 3, name: 'y', access: 'read_write' },
  { binding: 4, name: 'params', access: 'uniform' },
];

export const ATTENTION_BINDINGS: BindingDecl[] = [
  { binding: 0, name: 'qkv', access: 'read' },
  { binding: 1, name: 'probs', access: 'read_write' },
  { binding: 2, name: 'out', access: 'read_write' },
  { binding: 3, name: 'params', access: 'uniform' },
];

export const SPLITK_REDUCE_BINDINGS: BindingDecl[] = [
  { binding: 0, name: 'p', access: 'read' },
  { binding: 1, name: 'b', access: 'read' },
  { binding: 2, name: 'y', access: 'read_write' },
  { binding: 3, name: 'r', access: 'read_write' },
  { binding: 4, name: 'params', access: 'uniform' },
];

export interface MatmulVariant { bias: boolean; gelu: boolean; residual: boolean; transposeB: boolean }

export function matmulBindings(v: MatmulVariant): BindingDecl[] {
  return [
    { binding: 0, name: 'x', access: 'read' },
    { binding: 1, name: 'w', access: 'read' },
    ...(v.bias ? [{ binding: 2, name: 'b', access: 'read' } as const] : []),
    { binding: 3, name: 'y', access: 'read_write' },
    { binding: 4, name: 'params', access: 'uniform' },
    ...(v.residual ? [{ binding: 5, name: 'r', access: 'read_write' } as const] : []),
  ];
}

const ceil = (a: number, b: number) => Math.ceil(a / b);

/** Dispatch grids; each matches the "Dispatch:" line of its kernel's header. */
export const GRID = {
  embedding: (T: number, D: number): [number, number, number] => [ceil(T * D, 256), 1, 1],
  layernorm: (T: number): [number, number, number] => [T, 1, 1],
  matmul: (M: number, N: number, KS = 1): [number, number, number] => [ceil(N, 128), ceil(M, 16), KS],
  splitkReduce: (M: number, N: number): [number, number, number] => [ceil(M * N, 256), 1, 1],
  attention: (T: number, H: number): [number, number, number] => [T, H, 1],
};

/**
 * How many slices to split K into for a matmul of M×K·K×N: enough that the grid holds
 * about 32k threads (a GPU idles on the c_proj layers' N = D columns at small T), at most
 * 8, and dividing K/4. 1 (no split) when the grid is already large.
 */
export function splitK(M: number, K: number, N: number): number {
  const threads = ceil(N, 8) * ceil(M, 4);
  let ks = 1;
  while (ks < 8 && threads * ks < 32768 && (K / 4) % (ks * 2) === 0) ks *= 2;
  return ks;
}

/** Largest n_positions the attention kernel holds in workgroup memory (4 bytes per score). */
export const ATTENTION_MAX_POSITIONS = 4096;

export function embeddingKernel(device: GPUDevice, D: number): Promise<Kernel> {
  return createKernel(device, 'embedding', SOURCES.embedding, EMBEDDING_BINDINGS, { D });
}

export function layernormKernel(device: GPUDevice, D: number, eps: number): Promise<Kernel> {
  return createKernel(device, 'layernorm', SOURCES.layernorm, LAYERNORM_BINDINGS, { D, EPS: eps });
}

export function attentionKernel(device: GPUDevice, H: number, HD: number, N: number): Promise<Kernel> {
  return createKernel(device, 'attention', SOURCES.attention, ATTENTION_BINDINGS, { H, HD, N });
}

export function splitkReduceKernel(device: GPUDevice, N: number): Promise<Kernel> {
  return createKernel(device, 'splitk_reduce', SOURCES.splitk_reduce, SPLITK_REDUCE_BINDINGS, { N });
}

export function matmulKernel(device: GPUDevice, K: number, N: number, v: MatmulVariant): Promise<Kernel> {
  const code = preprocess(SOURCES.matmul, {
    BIAS: v.bias, GELU: v.gelu, RESIDUAL: v.residual, TRANSPOSE_B: v.transposeB,
  });
  return createKernel(device, 'matmul', code, matmulBindings(v), { K, N });
}
