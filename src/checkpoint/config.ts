// GPT2Config and the parameter shapes derived from it (the Hugging Face checkpoint
// layout). The activation and tap shapes derive from it in src/engine/forward.ts.
// Math names used throughout, in TypeScript and WGSL alike:
//   T tokens, D n_embd, H n_head, HD head dim (D/H), L n_layer, V vocab, N n_positions.
import { GPT2TapsError } from '../errors.js';

export interface GPT2Config {
  n_layer: number;
  n_head: number;
  n_embd: number;
  n_positions: number;
  vocab_size: number;
  layer_norm_epsilon: number;
  /** false: the logits use the checkpoint's own lm_head.weight [V, D]; otherwise wte.weight (GPT-2's tied head). */
  tie_word_embeddings?: boolean;
}

/** The released GPT-2 family, as in nanoGPT's table. Keyed by name used by `gpt2-taps download`. */
export const KNOWN_MODELS = {
  'gpt2': { repo: 'openai-community/gpt2', n_layer: 12, n_head: 12, n_embd: 768 },
  'gpt2-medium': { repo: 'openai-community/gpt2-medium', n_layer: 24, n_head: 16, n_embd: 1024 },
  'gpt2-large': { repo: 'openai-community/gpt2-large', n_layer: 36, n_head: 20, n_embd: 1280 },
  'gpt2-xl': { repo: 'openai-community/gpt2-xl', n_layer: 48, n_head: 25, n_embd: 1600 },
  'distilgpt2': { repo: 'distilbert/distilgpt2', n_layer: 6, n_head: 12, n_embd: 768 },
} as const;
export type KnownModelName = keyof typeof KNOWN_MODELS;

/** The parameters of one block, with their Hugging Face (Conv1D: [in, out]) shapes. */
export function blockParamShapes(c: GPT2Config): Record<string, number[]> {
  const D = c.n_embd;
  return {
    'ln_1.weight': [D], 'ln_1.bias': [D],
    'attn.c_attn.weight': [D, 3 * D], 'attn.c_attn.bias': [3 * D],
    'attn.c_proj.weight': [D, D], 'attn.c_proj.bias': [D],
    'ln_2.weight': [D], 'ln_2.bias': [D],
    'mlp.c_fc.weight': [D, 4 * D], 'mlp.c_fc.bias': [4 * D],
    'mlp.c_proj.weight': [4 * D, D], 'mlp.c_proj.bias': [D],
  };
}

/** Every parameter the model needs, canonical names (no `transformer.` prefix) → shape. */
export function paramShapes(c: GPT2Config): Map<string, number[]> {
  const m = new Map<string, number[]>();
  m.set('wte.weight', [c.vocab_size, c.n_embd]);
  m.set('wpe.weight', [c.n_positions, c.n_embd]);
  for (let l = 0; l < c.n_layer; l++) {
    for (const [k, s] of Object.entries(blockParamShapes(c))) m.set(`h.${l}.${k}`, s);
  }
  m.set('ln_f.weight', [c.n_embd]);
  m.set('ln_f.bias', [c.n_embd]);
  if (c.tie_word_embeddings === false) m.set('lm_head.weight', [c.vocab_size, c.n_embd]);
  return m;
}

export function validateConfig(c: GPT2Config): void {
  for (const k of ['n_layer', 'n_head', 'n_embd', 'n_positions', 'vocab_size'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new GPT2TapsError(`config: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.n_embd % c.n_head !== 0) {
    throw new GPT2TapsError(`config: n_embd (${c.n_embd}) is not divisible by n_head (${c.n_head})`);
  }
  if (c.n_embd % 4 !== 0) throw new GPT2TapsError(`config: n_embd (${c.n_embd}) must be a multiple of 4 (vec4 kernels)`);
  if (!(c.layer_norm_epsilon > 0)) throw new GPT2TapsError(`config: layer_norm_epsilon must be > 0, got ${c.layer_norm_epsilon}`);
}

/** Reads the fields we use from a Hugging Face config.json object (n_ctx is an old alias of n_positions). */
export function configFromJSON(j: Record<string, unknown>): GPT2Config {
  const num = (k: string) => (typeof j[k] === 'number' ? (j[k] as number) : undefined);
  const c: GPT2Config = {
    n_layer: num('n_layer') ?? NaN,
    n_head: num('n_head') ?? NaN,
    n_embd: num('n_embd') ?? NaN,
    n_positions: num('n_positions') ?? num('n_ctx') ?? NaN,
    vocab_size: num('vocab_size') ?? NaN,
    layer_norm_epsilon: num('layer_norm_epsilon') ?? 1e-5,
    ...(j['tie_word_embeddings'] === false ? { tie_word_embeddings: false } : {}),
  };
  const act = j['activation_function'];
  if (act !== undefined && act !== 'gelu_new') {
    throw new GPT2TapsError(`config: activation_function "${String(act)}" is not supported (GPT-2 uses gelu_new)`);
  }
  validateConfig(c);
  return c;
}

/**
 * Infers the config from tensor shapes (canonical names). n_head is not visible in any
 * shape: it comes from the known GPT-2 sizes, else head_dim 64 (every released GPT-2).
 */
export function inferConfig(shapes: Map<string, number[]>): { config: GPT2Config; note?: string } {
  const wte = shapes.get('wte.weight');
  const wpe = shapes.get('wpe.weight');
  if (!wte || wte.length !== 2) throw new GPT2TapsError('cannot infer the config: tensor wte.weight [V, D] is missing');
  if (!wpe || wpe.length !== 2) throw new GPT2TapsError('cannot infer the config: tensor wpe.weight [N, D] is missing');
  let n_layer = 0;
  while (shapes.has(`h.${n_layer}.ln_1.weight`)) n_layer++;
  if (n_layer === 0) throw new GPT2TapsError('cannot infer the config: no h.0.ln_1.weight found');
  const n_embd = wte[1];
  const known = Object.values(KNOWN_MODELS).find((m) => m.n_layer === n_layer && m.n_embd === n_embd);
  let n_head: number;
  let note: string | undefined;
  if (known) n_head = known.n_head;
  else if (n_embd % 64 === 0) {
    n_head = n_embd / 64;
    note = `config.json not given: assumed head_dim 64, so n_head = ${n_head}; pass a config.json if that is wrong`;
  } else {
    throw new GPT2TapsError(`cannot infer n_head for n_layer ${n_layer}, n_embd ${n_embd}`, 'put the checkpoint\'s config.json next to model.safetensors');
  }
  const config = { n_layer, n_head, n_embd, n_positions: wpe[0], vocab_size: wte[0], layer_norm_epsilon: 1e-5 };
  validateConfig(config);
  return { config, note };
}
