// Kernel variants chosen by measurement on the device at hand. The same op can run as
// different variants of the catalogue (src/engine/kernels.ts), each passing the same tests,
// and which is faster depends on the device: a CPU emulation such as SwiftShader pays dearly
// for the workgroup barriers that a GPU's tiled matmul, matrix-vector kernel or flash
// attention need, and a GPU starves on the register-blocked kernel SwiftShader prefers.
// Each family is timed once per adapter and shape class, with GPU timestamps where the device
// has them (else wall time), and the choice is remembered (in memory, and in a store the caller
// may give, e.g. a file in Node).
import { GPT2TapsError } from '../errors.js';
import { KERNELS, compileKernel, type KernelDecl, type KernelName } from './kernels.js';
import { BufferPool, bindGroup, encodeDispatch, type Kernel } from './gpu.js';
import type { GPT2Config } from '../checkpoint/config.js';
import type { Symbols } from './formula.js';
import { DEFAULT_CHOICE, FEW_ROWS, type KernelChoice } from './forward.js';
import { describeDevice, timeGpu } from './timing.js';

const MANY_ROWS = 256;

/** A place to keep choices between processes (Node: a JSON file; a browser: localStorage). */
export interface TuneStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

const remembered = new Map<string, string>();
const memory: TuneStore = { get: (k) => remembered.get(k), set: (k, v) => { remembered.set(k, v); } };

/** One family's candidates: the kernel each would run, on one representative shape. */
interface Family<K extends keyof KernelChoice> {
  family: K;
  shape: string;
  candidates: { value: KernelChoice[K]; kernel: KernelName }[];
  dims: Symbols;
  /** buffer name → floats (inputs filled with small values) */
  buffers: Record<string, number>;
}

function families(c: GPT2Config): Family<keyof KernelChoice>[] {
  const D = c.n_embd, H = c.n_head, HD = D / H, NP = c.n_positions;
  const matmul = (M: number) => ({ dims: { M, K: D, N: 4 * D, KS: 1 }, buffers: { x: M * D, w: D * 4 * D, b: 4 * D, y: M * 4 * D } });
  const few = Math.min(FEW_ROWS / 2, NP), many = Math.min(MANY_ROWS, NP), T = Math.min(MANY_ROWS, NP);
  return [
    { family: 'row', shape: `M=1 K=${D} N=${4 * D}`, ...matmul(1), candidates: [
      { value: 'matmul', kernel: 'linear_gelu' }, { value: 'matvec', kernel: 'linear_gelu_1' }, { value: 'matvec_sg', kernel: 'linear_gelu_1_sg' }] },
    { family: 'few', shape: `M=${few} K=${D} N=${4 * D}`, ...matmul(few), candidates: [
      { value: 'blocked', kernel: 'linear_gelu' }, { value: 'tiled', kernel: 'linear_gelu_tiled' }] },
    { family: 'many', shape: `M=${many} K=${D} N=${4 * D}`, ...matmul(many), candidates: [
      { value: 'blocked', kernel: 'linear_gelu' }, { value: 'tiled', kernel: 'linear_gelu_tiled' }] },
    { family: 'attention', shape: `T=${T} H=${H} HD=${HD}`, dims: { T, TK: T, H, HD, D, NP },
      buffers: { qkv: T * 3 * D, probs: H * T * T, out: T * D }, candidates: [
        { value: 'rows', kernel: 'attention' }, { value: 'flash', kernel: 'attention_flash' }] },
    // a generation step: one query against T keys of the KV cache
    { family: 'stepAttention', shape: `T=1 TK=${T} H=${H} HD=${HD}`, dims: { T: 1, TK: T, H, HD, D, NP },
      buffers: { qkv: 3 * D, probs: H * T, out: D, kv: T * 2 * D }, candidates: [
        { value: 'rows', kernel: 'attention_cached' }, { value: 'flash', kernel: 'attention_flash_cached' }] },
  ] as Family<keyof KernelChoice>[];
}

/** Whether this device can run a kernel variant at these dims (features, workgroup memory, shape). */
export function runsHere(device: GPUDevice, kernel: KernelName, dims: Symbols): boolean {
  const k: KernelDecl = KERNELS[kernel];
  if (k.requires && !device.features.has(k.requires)) return false;
  if ((k.workgroupBytes?.(dims) ?? 0) > device.limits.maxComputeWorkgroupStorageSize) return false;
  return k.unsupported?.(dims) === undefined;
}

export interface TuneOptions {
  /** Choices fixed by the caller: not timed. */
  fixed?: Partial<KernelChoice>;
  store?: TuneStore;
  /** Called with each family's timings as it is measured (ms per candidate). */
  onTimed?: (family: keyof KernelChoice, shape: string, ms: Partial<Record<string, number>>) => void;
}

/**
 * The fastest variant of each kernel family for this model's shapes on this device: each
 * candidate that runs here is timed on one representative shape (one run each, then the median
 * of 3 for those near the fastest) unless the choice is fixed or already known for this adapter and shape.
 */
export async function chooseKernels(device: GPUDevice, c: GPT2Config, opts: TuneOptions = {}): Promise<KernelChoice> {
  const store = opts.store ?? memory;
  const choice: KernelChoice = { ...DEFAULT_CHOICE, ...opts.fixed };
  const adapter = describeDevice(device);
  for (const f of families(c)) {
    const fixed = opts.fixed?.[f.family];
    if (fixed !== undefined) {
      const k = f.candidates.find((x) => x.value === fixed);
      if (k && !runsHere(device, k.kernel, f.dims)) {
        const decl: KernelDecl = KERNELS[k.kernel];
        throw new GPT2TapsError(`kernels: ${f.family}=${fixed} cannot run here (${k.kernel}): ` +
          (decl.unsupported?.(f.dims) ?? (decl.requires && !device.features.has(decl.requires) ? `the device lacks the ${decl.requires} feature` : 'it needs more workgroup memory than the device has')),
        `leave ${f.family} out to let the timing at load choose`);
      }
      continue;
    }
    const key = `${adapter} | ${f.family} ${f.shape}`;
    const candidates = f.candidates.filter((k) => runsHere(device, k.kernel, f.dims));
    const known = store.get(key) ?? remembered.get(key);
    if (known !== undefined && candidates.some((k) => k.value === known)) {
      Object.assign(choice, { [f.family]: known });
      continue;
    }
    // A first look at each candidate (one run); those within 1.5× of the fastest are timed again
    // (median of 3), so a variant far off on this device costs one run only (SwiftShader's tiled matmul: seconds).
    const ms: Record<string, number> = {};
    const compiled = new Map<KernelName, Promise<Kernel>>();
    const time = (kernel: KernelName, runs: number) => timeKernel(device, kernel, f.dims, f.buffers, runs, compiled);
    for (const k of candidates) ms[k.value] = await time(k.kernel, 1);
    const fastest = Math.min(...Object.values(ms));
    for (const k of candidates) if (ms[k.value] <= 1.5 * fastest) ms[k.value] = await time(k.kernel, 3);
    const best = candidates.reduce((a, b) => (ms[b.value] < ms[a.value] ? b : a));
    Object.assign(choice, { [f.family]: best.value });
    remembered.set(key, best.value);
    store.set(key, best.value);
    opts.onTimed?.(f.family, f.shape, ms);
  }
  return choice;
}

/** The median GPU time of `runs` dispatches of a kernel variant on buffers of small values. */
async function timeKernel(device: GPUDevice, kernel: KernelName, dims: Symbols, floats: Record<string, number>, runs: number,
  compiled: Map<KernelName, Promise<Kernel>>): Promise<number> {
  const pool = new BufferPool(device);
  try {
    const decl: KernelDecl = KERNELS[kernel];
    const buffers: Record<string, GPUBuffer> = {
      // { T or M, KS, P0, TK }: a step's one query sits after the TK - 1 keys before it
      params: pool.upload('tune params', new Uint32Array([dims.M ?? dims.T, 1, (dims.TK ?? dims.M) - (dims.M ?? dims.T), dims.TK ?? dims.M]), GPUBufferUsage.UNIFORM),
    };
    for (const [name, n] of Object.entries(floats)) buffers[name] = pool.upload(`tune ${name}`, new Float32Array(n).fill(0.01));
    if (!compiled.has(kernel)) compiled.set(kernel, compileKernel(device, decl, dims));
    const k = await compiled.get(kernel)!;
    const bound = Object.fromEntries(decl.bindings.map((b) => [b.name, buffers[b.name]]));
    const group = bindGroup(device, k, bound, kernel);
    return (await timeGpu(device, (e, tw) => encodeDispatch(e, k, group, decl.grid(dims), kernel, tw), { runs, warmup: 0 })).ms;
  } finally {
    pool.destroyAll();
  }
}

const CHOICES: { [K in keyof KernelChoice]: readonly KernelChoice[K][] } = {
  row: ['matmul', 'matvec', 'matvec_sg'], few: ['blocked', 'tiled'], many: ['blocked', 'tiled'], attention: ['rows', 'flash'],
  stepAttention: ['rows', 'flash'],
};

/** Kernel choices from text such as "row=matvec,attention=flash" (the CLI's --kernels), each checked. */
export function parseKernelChoice(text: string): Partial<KernelChoice> {
  const out: Record<string, string> = {};
  const all = Object.entries(CHOICES).map(([k, vs]) => `${k}=${vs.join('|')}`).join(', ');
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [key, value, ...rest] = part.split('=').map((s) => s.trim());
    if (!(key in CHOICES)) throw new GPT2TapsError(`unknown kernel family "${key}" in "${text}"`, `families and variants: ${all}`);
    if (rest.length > 0 || !(CHOICES[key as keyof KernelChoice] as readonly string[]).includes(value)) {
      throw new GPT2TapsError(`"${part}": ${key} takes ${CHOICES[key as keyof KernelChoice].join(', ')}`, `families and variants: ${all}`);
    }
    out[key] = value;
  }
  return out as Partial<KernelChoice>;
}

/** "row matvec, few tiled, many tiled, attention flash" */
export function describeChoice(c: KernelChoice): string {
  return Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ');
}
