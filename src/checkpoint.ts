// Loading a Hugging Face GPT-2 checkpoint (model.safetensors [+ config.json]), browser-safe.
// Canonical parameter names are those of `paramShapes(config)`: `wte.weight`, `h.0.attn.c_attn.weight`, ...
import { GPT2TapsError } from './errors.js';
import { type GPT2Config, configFromJSON, inferConfig, paramShapes } from './config.js';
import {
  type ByteSource, type SafetensorsHeader, type TensorInfo,
  FLOAT_DTYPES, readHeader, readTensorF32,
} from './safetensors.js';

export interface Checkpoint {
  config: GPT2Config;
  /** Things worth telling the user: inferred config, ignored lm_head, non-float32 storage. */
  notes: string[];
  /** Reads a parameter (canonical name) as float32. */
  read(name: string): Promise<Float32Array<ArrayBuffer>>;
  /** Canonical parameter name → the safetensors entry it is stored in. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Total bytes of the parameters as stored (for progress reporting). */
  readonly storedBytes: number;
  readonly header: SafetensorsHeader;
}

/** The causal-mask buffers that GPT-2 checkpoints hold next to the parameters. Exact match only. */
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function listSome(names: string[], n = 5): string {
  return names.slice(0, n).join(', ') + (names.length > n ? `, … (${names.length} in all)` : '');
}

/**
 * Opens a GPT-2 checkpoint: validates the safetensors header, maps Hugging Face names to
 * canonical ones (a leading `transformer.` is stripped; the mask buffers `h.{l}.attn.bias` and
 * `h.{l}.attn.masked_bias` are skipped; `lm_head.weight` is accepted and ignored), takes the
 * config from `configJson` when given (else infers it from the shapes), and checks that every
 * parameter is present with exactly the expected shape and a float dtype.
 */
export async function openCheckpoint(src: ByteSource, configJson?: Record<string, unknown>): Promise<Checkpoint> {
  const label = src.label ?? 'checkpoint';
  const header = await readHeader(src);
  const notes: string[] = [];

  const byName = new Map<string, TensorInfo>(); // canonical name → entry
  const original = new Map<string, string>(); // canonical name → name in the file
  let lmHead: TensorInfo | undefined;
  for (const t of header.tensors.values()) {
    const name = t.name.startsWith('transformer.') ? t.name.slice('transformer.'.length) : t.name;
    if (MASK_BUFFER.test(name)) continue;
    if (name === 'lm_head.weight') { lmHead = t; continue; }
    const prev = original.get(name);
    if (prev !== undefined) {
      throw new GPT2TapsError(`${label}: tensors "${prev}" and "${t.name}" both map to the parameter ${name}`);
    }
    byName.set(name, t);
    original.set(name, t.name);
  }

  const shapes = new Map<string, number[]>([...byName].map(([k, t]) => [k, t.shape]));
  let config: GPT2Config;
  if (configJson) {
    config = configFromJSON(configJson);
  } else {
    const inferred = inferConfig(shapes);
    config = inferred.config;
    if (inferred.note) notes.push(inferred.note);
    else notes.push(`config.json not given: inferred n_layer ${config.n_layer}, n_head ${config.n_head}, n_embd ${config.n_embd} from the tensor shapes`);
  }
  const disagree = configJson ? 'config.json disagrees with the checkpoint: ' : '';
  const cfgText = `n_layer ${config.n_layer}, n_head ${config.n_head}, n_embd ${config.n_embd}, n_positions ${config.n_positions}, vocab_size ${config.vocab_size}`;

  const expected = paramShapes(config);
  const unexpected = [...byName.keys()].filter((k) => !expected.has(k)).map((k) => original.get(k)!);
  for (const [name, shape] of expected) {
    const t = byName.get(name);
    if (!t) {
      throw new GPT2TapsError(
        `${label}: ${disagree}tensor ${name} is missing`,
        configJson ? `config.json says ${cfgText}` : `expected every parameter of a GPT-2 with ${cfgText}`,
      );
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new GPT2TapsError(
        `${label}: ${disagree}${name} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`,
        configJson ? `config.json says ${cfgText}` : undefined,
      );
    }
    if (!FLOAT_DTYPES.includes(t.dtype)) {
      throw new GPT2TapsError(`${label}: parameter ${name} has dtype ${t.dtype}; only ${FLOAT_DTYPES.join(', ')} are supported`);
    }
  }
  if (unexpected.length > 0) {
    throw new GPT2TapsError(
      `${label}: ${disagree}unexpected tensors that are not GPT-2 parameters: ${listSome(unexpected)}`,
      configJson ? `config.json says ${cfgText}` : 'is this a GPT-2 checkpoint (Hugging Face GPT2LMHeadModel / GPT2Model)?',
    );
  }
  if (lmHead) {
    const want = [config.vocab_size, config.n_embd];
    if (lmHead.shape.length !== 2 || lmHead.shape[0] !== want[0] || lmHead.shape[1] !== want[1]) {
      throw new GPT2TapsError(`${label}: ${lmHead.name} has shape ${fmtShape(lmHead.shape)}, expected ${fmtShape(want)}`);
    }
    notes.push(`${lmHead.name} is present but not used: GPT-2 ties the LM head to wte.weight`);
  }
  const dtypes = new Set([...expected.keys()].map((k) => byName.get(k)!.dtype));
  const nonF32 = [...dtypes].filter((d) => d !== 'F32');
  if (nonF32.length > 0) notes.push(`parameters stored as ${[...dtypes].join(' and ')} are converted to float32`);

  const tensors = new Map<string, TensorInfo>([...expected.keys()].map((k) => [k, byName.get(k)!]));
  const storedBytes = [...tensors.values()].reduce((s, t) => s + (t.end - t.begin), 0);
  return {
    config,
    notes,
    tensors,
    storedBytes,
    header,
    async read(name: string): Promise<Float32Array<ArrayBuffer>> {
      const t = tensors.get(name);
      if (!t) throw new GPT2TapsError(`${label}: "${name}" is not a parameter of this model`, 'names look like wte.weight, h.0.attn.c_attn.weight, ln_f.bias');
      return readTensorF32(src, header, t.name);
    },
  };
}
