// Loading a Hugging Face GPT-2 checkpoint (model.safetensors [+ config.json]), browser-safe.
// Canonical parameter names are those of `paramShapes(config)`: `wte.weight`, `h.0.attn.c_attn.weight`, ...
import { GPT2TapsError } from '../errors.js';
import { type GPT2Config, configFromJSON, inferConfig, paramShapes } from './config.js';
import {
  type ByteSource, type CheckpointSource, type SafetensorsHeader, type ShardedSource, type TensorInfo,
  FLOAT_DTYPES, isSharded, readHeader, readTensorF32,
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
  /**
   * The safetensors header. For a sharded checkpoint: every shard's tensors together, with
   * dataOffset 0 and fileLength the shards' total (each tensor is read from its own shard).
   */
  readonly header: SafetensorsHeader;
  /** For a sharded checkpoint: the file (as the index names it) that holds each tensor of the header. */
  readonly shardOf?: ReadonlyMap<string, string>;
}

export interface OpenCheckpointOptions {
  /**
   * When true, `read(name)` scans each tensor it returns and throws a GPT2TapsError naming the
   * tensor and its first NaN / ±Inf (index and value). Default false (no scan).
   */
  checkFinite?: boolean;
}

/** A non-finite parameter value: the tensor, the flat (row-major) index and the value. */
export interface NonFinite {
  name: string;
  index: number;
  value: number;
}

/** Unchecked readers of the checkpoints made here, so findNonFinite works whatever checkFinite is. */
const rawReaders = new WeakMap<Checkpoint, (name: string) => Promise<Float32Array<ArrayBuffer>>>();

/** Index of the first NaN or ±Inf in `data`, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // v - v is NaN exactly for NaN and ±Inf; this stays fast on large tensors.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** "1234 ([9, 82])": a flat index with its multi-dimensional form. */
function fmtIndex(index: number, shape: readonly number[]): string {
  if (shape.length < 2) return String(index);
  const idx: number[] = [];
  let rest = index;
  for (let k = shape.length - 1; k >= 0; k--) {
    idx.unshift(rest % shape[k]!);
    rest = Math.floor(rest / shape[k]!);
  }
  return `${index} (${fmtShape(idx)})`;
}

/**
 * Scans every parameter of `ckpt` for NaN and ±Inf. Returns one entry per bad tensor, for its
 * first non-finite value, in parameter order; an empty list when every value is finite. Reads
 * each tensor once (ignores `checkFinite`, so it works on any checkpoint).
 */
export async function findNonFinite(ckpt: Checkpoint): Promise<NonFinite[]> {
  const read = rawReaders.get(ckpt) ?? ((name: string) => ckpt.read(name));
  const found: NonFinite[] = [];
  for (const name of ckpt.tensors.keys()) {
    const data = await read(name);
    const index = firstNonFinite(data);
    if (index >= 0) found.push({ name, index, value: data[index]! });
  }
  return found;
}

/** The causal-mask buffers that GPT-2 checkpoints hold next to the parameters. Exact match only. */
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function listSome(names: string[], n = 5): string {
  return names.slice(0, n).join(', ') + (names.length > n ? `, … (${names.length} in all)` : '');
}

/** Where each tensor of a checkpoint lives: its file's bytes and header. */
interface Located { src: ByteSource; header: SafetensorsHeader; file?: string }

/**
 * Reads every shard's header and checks them against the index: each tensor the index names is
 * in the shard it names, and no tensor is in two shards. Errors name the shard file.
 */
async function openShards(src: ShardedSource, label: string): Promise<{ header: SafetensorsHeader; where: Map<string, Located> }> {
  const where = new Map<string, Located>();
  const tensors = new Map<string, TensorInfo>();
  const metadata: Record<string, string> = {};
  for (const [file, bytes] of src.shards) {
    const header = await readHeader(bytes);
    const shardLabel = bytes.label ?? file;
    for (const t of header.tensors.values()) {
      const mapped = src.weightMap[t.name];
      if (mapped !== undefined && mapped !== file) {
        throw new GPT2TapsError(`${shardLabel}: holds tensor "${t.name}", which ${label} puts in ${mapped}`, 'the index and the shards do not belong together');
      }
      const prev = where.get(t.name);
      if (prev) throw new GPT2TapsError(`${label}: tensor "${t.name}" is in two shards, ${prev.file} and ${file}`);
      where.set(t.name, { src: bytes, header, file });
      tensors.set(t.name, t);
    }
    Object.assign(metadata, header.metadata);
  }
  for (const [name, file] of Object.entries(src.weightMap)) {
    if (!where.has(name)) {
      const shard = src.shards.get(file);
      throw new GPT2TapsError(`${shard?.label ?? file}: has no tensor "${name}", which ${label} says it holds`, 'the shard is truncated, or belongs to another checkpoint');
    }
  }
  return { header: { tensors, metadata, dataOffset: 0, fileLength: src.byteLength }, where };
}

/**
 * Opens a GPT-2 checkpoint: validates the safetensors header, maps Hugging Face names to
 * canonical ones (a leading `transformer.` is stripped; the mask buffers `h.{l}.attn.bias` and
 * `h.{l}.attn.masked_bias` are skipped; `lm_head.weight` is used when config.json says
 * tie_word_embeddings: false, and otherwise accepted and ignored), takes the
 * config from `configJson` when given (else infers it from the shapes), and checks that every
 * parameter is present with exactly the expected shape and a float dtype.
 * A sharded checkpoint (several safetensors files and the index's weight_map) is read as one:
 * each tensor from its shard, and errors about a tensor name its shard file.
 */
export async function openCheckpoint(
  src: CheckpointSource,
  configJson?: Record<string, unknown>,
  options: OpenCheckpointOptions = {},
): Promise<Checkpoint> {
  const label = src.label ?? 'checkpoint';
  let header: SafetensorsHeader;
  let where: Map<string, Located> | undefined;
  if (isSharded(src)) ({ header, where } = await openShards(src, label));
  else header = await readHeader(src);
  const single = isSharded(src) ? undefined : src;
  const locate = (fileName: string): Located => where?.get(fileName) ?? { src: single!, header };
  /** The file a tensor (its name in the file) is stored in, for error messages. */
  const fileLabel = (fileName: string): string => {
    const at = where?.get(fileName);
    return at ? at.src.label ?? at.file ?? label : label;
  };
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
    try {
      config = configFromJSON(configJson);
    } catch (e) {
      if (e instanceof GPT2TapsError) throw new GPT2TapsError(`${label}: config.json is invalid: ${e.message.replace(/^config: /, '')}`);
      throw e;
    }
  } else {
    const inferred = inferConfig(shapes);
    config = inferred.config;
    if (inferred.note) notes.push(inferred.note);
    else notes.push(`config.json not given: inferred n_layer ${config.n_layer}, n_head ${config.n_head}, n_embd ${config.n_embd} from the tensor shapes`);
  }
  // The LM head: the file's own lm_head.weight only when config.json unties it, as Hugging Face does.
  if (config.tie_word_embeddings === false) {
    if (lmHead) {
      byName.set('lm_head.weight', lmHead);
      original.set('lm_head.weight', lmHead.name);
      lmHead = undefined;
    } else {
      const { tie_word_embeddings: _, ...tied } = config;
      config = tied;
      notes.push('config.json says tie_word_embeddings: false, but the checkpoint has no lm_head.weight: the logits use wte.weight');
    }
  }
  const cfgText = `n_layer ${config.n_layer}, n_head ${config.n_head}, n_embd ${config.n_embd}, n_positions ${config.n_positions}, vocab_size ${config.vocab_size}`;
  // With a config.json, name the fields that the tensor shapes contradict, e.g. "n_embd 64 vs 128 in the tensors".
  const disagree = configJson ? 'config.json disagrees with the checkpoint: ' : '';
  const diffs = configJson ? configDiffs(config, byName) : [];
  const why = diffs.length > 0 ? ` (config.json: ${diffs.join('; ')})` : '';

  const expected = paramShapes(config);
  const unexpected = [...byName.keys()].filter((k) => !expected.has(k)).map((k) => original.get(k)!);
  for (const [name, shape] of expected) {
    const t = byName.get(name);
    if (!t) {
      throw new GPT2TapsError(
        `${label}: ${disagree}tensor ${name} is missing${why}`,
        configJson ? `config.json says ${cfgText}` : `expected every parameter of a GPT-2 with ${cfgText}`,
      );
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new GPT2TapsError(
        `${fileLabel(t.name)}: ${disagree}${name} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}${why}`,
        configJson ? `config.json says ${cfgText}` : undefined,
      );
    }
    if (!FLOAT_DTYPES.includes(t.dtype)) {
      throw new GPT2TapsError(`${fileLabel(t.name)}: parameter ${name} has dtype ${t.dtype}; only ${FLOAT_DTYPES.join(', ')} are supported`);
    }
  }
  if (unexpected.length > 0) {
    throw new GPT2TapsError(
      `${label}: ${disagree}unexpected tensors that are not GPT-2 parameters: ${listSome(unexpected)}${why}`,
      configJson ? `config.json says ${cfgText}` : 'is this a GPT-2 checkpoint (Hugging Face GPT2LMHeadModel / GPT2Model)?',
    );
  }
  if (lmHead) {
    const want = [config.vocab_size, config.n_embd];
    if (lmHead.shape.length !== 2 || lmHead.shape[0] !== want[0] || lmHead.shape[1] !== want[1]) {
      throw new GPT2TapsError(`${fileLabel(lmHead.name)}: ${lmHead.name} has shape ${fmtShape(lmHead.shape)}, expected ${fmtShape(want)}`);
    }
    notes.push(`${lmHead.name} is present but not used: the LM head is tied to wte.weight (config.json does not say tie_word_embeddings: false)`);
  }
  const dtypes = new Set([...expected.keys()].map((k) => byName.get(k)!.dtype));
  const nonF32 = [...dtypes].filter((d) => d !== 'F32');
  if (nonF32.length > 0) notes.push(`parameters stored as ${[...dtypes].join(' and ')} are converted to float32`);

  const tensors = new Map<string, TensorInfo>([...expected.keys()].map((k) => [k, byName.get(k)!]));
  const storedBytes = [...tensors.values()].reduce((s, t) => s + (t.end - t.begin), 0);
  const readRaw = async (name: string): Promise<Float32Array<ArrayBuffer>> => {
    const t = tensors.get(name);
    if (!t) throw new GPT2TapsError(`${label}: "${name}" is not a parameter of this model`, 'names look like wte.weight, h.0.attn.c_attn.weight, ln_f.bias');
    const at = locate(t.name);
    return readTensorF32(at.src, at.header, t.name);
  };
  const checkFinite = options.checkFinite === true;
  const ckpt: Checkpoint = {
    config,
    notes,
    tensors,
    storedBytes,
    header,
    ...(where ? { shardOf: new Map([...where].map(([n, at]) => [n, at.file!])) } : {}),
    async read(name: string): Promise<Float32Array<ArrayBuffer>> {
      const data = await readRaw(name);
      if (checkFinite) {
        const index = firstNonFinite(data);
        if (index >= 0) {
          const t = tensors.get(name)!;
          const stored = t.name !== name ? ` (stored as "${t.name}")` : '';
          throw new GPT2TapsError(
            `${fileLabel(t.name)}: parameter ${name}${stored} has a non-finite value: ${data[index]} at index ${fmtIndex(index, t.shape)} of shape ${fmtShape(t.shape)}`,
            'the checkpoint is corrupt or was saved from a diverged training run',
          );
        }
      }
      return data;
    },
  };
  rawReaders.set(ckpt, readRaw);
  return ckpt;
}

/** The config fields that the tensor shapes contradict, as "n_embd 64 vs 128 in the tensors". */
function configDiffs(config: GPT2Config, byName: ReadonlyMap<string, TensorInfo>): string[] {
  const diffs: string[] = [];
  const say = (field: keyof GPT2Config, seen: number | undefined, where: string) => {
    if (seen !== undefined && seen !== config[field]) diffs.push(`${field} ${config[field]} vs ${seen} in ${where}`);
  };
  const wte = byName.get('wte.weight')?.shape;
  const wpe = byName.get('wpe.weight')?.shape;
  if (wte?.length === 2) {
    say('vocab_size', wte[0], 'wte.weight');
    say('n_embd', wte[1], 'wte.weight');
  }
  if (wpe?.length === 2) say('n_positions', wpe[0], 'wpe.weight');
  let layers = 0;
  while (byName.has(`h.${layers}.ln_1.weight`)) layers++;
  if (layers > 0) say('n_layer', layers, `the tensors (h.0 … h.${layers - 1})`);
  return diffs;
}
