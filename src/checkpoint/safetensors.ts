// The safetensors format, browser-safe (no node imports):
//   [8 bytes: little-endian u64 header length N][N bytes: UTF-8 JSON header][data section]
// The header is `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}`,
// with offsets relative to the start of the data section.
import { GPT2TapsError } from '../errors.js';

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte offsets relative to the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Absolute offset of the data section (8 + header length). */
  dataOffset: number;
  fileLength: number;
}

/**
 * Random access to the bytes of a file. `read` returns bytes the caller owns (a fresh copy or
 * a fresh buffer, never a view that aliases someone else's memory), so they may be reinterpreted
 * or modified freely. `label` (optional) names the source in error messages.
 */
export interface ByteSource {
  readonly byteLength: number;
  readonly label?: string;
  read(offset: number, length: number): Promise<Uint8Array<ArrayBuffer>>;
}

/** A ByteSource over bytes already in memory. */
export function bytesSource(bytes: Uint8Array | ArrayBuffer, label?: string): ByteSource {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return {
    byteLength: u8.byteLength,
    label,
    async read(offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
      checkRange(offset, length, u8.byteLength, label);
      return u8.slice(offset, offset + length);
    },
  };
}

/** Throws unless [offset, offset + length) lies within [0, size). Shared with the file source. */
export function checkRange(offset: number, length: number, size: number, label?: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new GPT2TapsError(`${label ?? 'safetensors'}: read of ${length} bytes at offset ${offset} is outside the ${size}-byte file`);
  }
}

export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};
export const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];
const INT_DTYPES: readonly string[] = ['I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

/** Headers longer than this are refused before anything is allocated. */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads and validates the header. Every problem is a GPT2TapsError that names it. */
export async function readHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const label = src.label ?? 'safetensors file';
  const bad = (what: string, hint?: string) => new GPT2TapsError(`${label}: ${what}`, hint);
  const fileLength = src.byteLength;
  if (fileLength < 8) {
    throw bad(`file is ${fileLength} bytes, shorter than the 8-byte safetensors header length`, 'the file is truncated or not a safetensors file');
  }
  const lenBytes = await src.read(0, 8);
  const dv = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // may be inexact when huge, but then it is refused anyway
  if (hi !== 0 || n > MAX_HEADER_BYTES) {
    throw bad(`header length ${hi !== 0 ? `${hi} * 2^32 + ${lo}` : n} bytes is absurd (limit ${MAX_HEADER_BYTES})`, 'not a safetensors file?');
  }
  if (8 + n > fileLength) {
    throw bad(`header length ${n} bytes goes beyond the end of the ${fileLength}-byte file`, 'the file is truncated or not a safetensors file');
  }
  if (n < 2) throw bad(`header length ${n} bytes is too short for a JSON object`);
  const headerBytes = await src.read(8, n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw bad('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw bad(`header JSON is not an object (got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json})`);
  // JSON.parse silently keeps the last of duplicate keys, so scan the text for them.
  const dup = findDuplicateKey(text);
  if (dup) {
    if (dup.path.length === 0) {
      throw bad(dup.key === '__metadata__' ? 'header has "__metadata__" twice' : `duplicate tensor name "${dup.key}" in the header`);
    }
    const where = dup.path[0] === '__metadata__' ? '__metadata__' : `tensor "${dup.path[0]}"`;
    throw bad(`${where}: duplicate key "${dup.key}"${dup.path.length > 1 ? ` (in ${dup.path.slice(1).map((k) => JSON.stringify(k)).join(' → ')})` : ''}`);
  }

  const dataOffset = 8 + n;
  const dataLength = fileLength - dataOffset;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw bad('__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__ entry "${k}" is not a string`);
      }
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    const t = `tensor "${name}"`;
    if (!isPlainObject(entry)) throw bad(`${t}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (dtype === undefined) throw bad(`${t}: missing field "dtype"`);
    if (shape === undefined) throw bad(`${t}: missing field "shape"`);
    if (offsets === undefined) throw bad(`${t}: missing field "data_offsets"`);
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) {
      throw bad(`${t}: unknown dtype ${JSON.stringify(dtype)}`, `known dtypes: ${Object.keys(DTYPE_SIZES).join(', ')}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`${t}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`${t}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw bad(`${t}: data_offsets [${begin}, ${end}] has begin > end`);
    const dims = shape as number[];
    const size = DTYPE_SIZES[dtype]!;
    // Byte count, guarded against overflow (a zero dimension makes any shape empty).
    let expected = dims.includes(0) ? 0 : size;
    for (const d of dims) {
      expected *= d;
      if (expected > Number.MAX_SAFE_INTEGER) {
        throw bad(`${t}: shape ${fmtShape(dims)} × ${dtype} (${size} bytes) overflows: more than 2^53 bytes`);
      }
    }
    if (expected !== end - begin) {
      throw bad(`${t}: byte size ${end - begin} does not match shape ${fmtShape(dims)} × ${dtype} (${size} bytes) = ${expected} bytes`);
    }
    tensors.set(name, { name, dtype, shape: [...dims], begin, end });
  }

  // Truncation: the data section must hold the largest data_offsets end.
  let last: TensorInfo | undefined;
  for (const t of tensors.values()) if (!last || t.end > last.end) last = t;
  if (last && last.end > dataLength) {
    throw bad(
      `tensor "${last.name}": data_offsets end ${last.end} is beyond the data section (${dataLength} bytes): ` +
        `the file is ${fileLength} bytes but its tensors need ${dataOffset + last.end}`,
      'the file is truncated (an interrupted download?) or its header is corrupt',
    );
  }

  // Overlap check: sort the non-empty tensors by begin; each must start at or after the previous end.
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!;
    const c = sorted[i]!;
    if (c.begin < p.end) {
      throw bad(`tensors "${p.name}" [${p.begin}, ${p.end}) and "${c.name}" [${c.begin}, ${c.end}) overlap`);
    }
  }
  return { tensors, metadata, dataOffset, fileLength };
}

/**
 * Finds the first duplicate object key in `text`, which must be valid JSON (JSON.parse keeps
 * the last duplicate silently). `path` is the keys leading to the object holding it: [] for a
 * top-level key, [tensorName] for a key inside a tensor entry, and so on.
 */
export function findDuplicateKey(text: string): { key: string; path: string[] } | undefined {
  interface Frame { keys: Set<string> | undefined; expectKey: boolean; name: string | undefined; lastKey: string | undefined }
  const stack: Frame[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) { escaped = true; j += 2; continue; }
        if (d === 0x22) break;
        j++;
      }
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const raw = text.slice(i + 1, j);
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : raw;
        if (top.keys.has(key)) {
          const path = stack.slice(1).flatMap((f) => (f.name === undefined ? [] : [f.name]));
          return { key, path };
        }
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      stack.push({ keys: c === 0x7b ? new Set() : undefined, expectKey: c === 0x7b, name: parent?.keys ? parent.lastKey : undefined, lastKey: undefined });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return undefined;
}

function info(h: SafetensorsHeader, name: string, label?: string): TensorInfo {
  const t = h.tensors.get(name);
  if (!t) {
    const some = [...h.tensors.keys()].slice(0, 5).join(', ');
    throw new GPT2TapsError(`${label ?? 'safetensors file'}: no tensor named "${name}"`, `it holds ${h.tensors.size} tensors, e.g. ${some}`);
  }
  return t;
}

/** The raw little-endian bytes of one tensor (the caller owns them). */
export async function readTensorRaw(src: ByteSource, h: SafetensorsHeader, name: string): Promise<{ info: TensorInfo; bytes: Uint8Array<ArrayBuffer> }> {
  const t = info(h, name, src.label);
  const bytes = await src.read(h.dataOffset + t.begin, t.end - t.begin);
  return { info: t, bytes };
}

let f16Table: Float32Array | undefined;
/** Float32 value of every IEEE half-precision bit pattern. */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = halfToFloat(h);
  }
  return f16Table;
}

/** IEEE 754 binary16 bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Little-endian u16 values of `bytes`, without copying when aligned on a little-endian host. */
function u16View(bytes: Uint8Array<ArrayBuffer>, count: number): Uint16Array<ArrayBuffer> {
  if (LITTLE_ENDIAN) {
    const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
    return new Uint16Array(aligned.buffer, aligned.byteOffset, count);
  }
  const out = new Uint16Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) out[i] = dv.getUint16(2 * i, true);
  return out;
}

/** Converts F32 / F16 / BF16 little-endian bytes to a Float32Array (a view of `bytes` when possible). */
export function bytesToF32(bytes: Uint8Array<ArrayBuffer>, dtype: string, what = 'tensor'): Float32Array<ArrayBuffer> {
  const size = DTYPE_SIZES[dtype];
  if (size === undefined || !FLOAT_DTYPES.includes(dtype)) {
    throw new GPT2TapsError(`${what}: dtype ${dtype} cannot be read as float32 (supported: ${FLOAT_DTYPES.join(', ')})`);
  }
  if (bytes.byteLength % size !== 0) throw new GPT2TapsError(`${what}: ${bytes.byteLength} bytes is not a whole number of ${dtype} values`);
  const count = bytes.byteLength / size;
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN) {
      const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
      return new Float32Array(aligned.buffer, aligned.byteOffset, count);
    }
    const out = new Float32Array(count);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
    return out;
  }
  const u16 = u16View(bytes, count);
  const out = new Float32Array(count);
  if (dtype === 'F16') {
    const table = halfTable();
    for (let i = 0; i < count; i++) out[i] = table[u16[i]!]!;
  } else {
    // BF16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = u16[i]! << 16;
  }
  return out;
}

/** Reads a F32, F16 or BF16 tensor as float32. Other dtypes are a GPT2TapsError. */
export async function readTensorF32(src: ByteSource, h: SafetensorsHeader, name: string): Promise<Float32Array<ArrayBuffer>> {
  const t = info(h, name, src.label);
  if (!FLOAT_DTYPES.includes(t.dtype)) {
    throw new GPT2TapsError(`${src.label ?? 'safetensors file'}: tensor "${name}" has dtype ${t.dtype}, expected a float dtype (${FLOAT_DTYPES.join(', ')})`);
  }
  const { bytes } = await readTensorRaw(src, h, name);
  return bytesToF32(bytes, t.dtype, `tensor "${name}"`);
}

/**
 * Reads an integer tensor (I32, I64, I16, I8, U8, BOOL) as Int32Array, e.g. `input_ids`.
 * I64 values outside the int32 range are a GPT2TapsError.
 */
export async function readTensorI32(src: ByteSource, h: SafetensorsHeader, name: string): Promise<Int32Array<ArrayBuffer>> {
  const t = info(h, name, src.label);
  if (!INT_DTYPES.includes(t.dtype)) {
    throw new GPT2TapsError(`${src.label ?? 'safetensors file'}: tensor "${name}" has dtype ${t.dtype}, expected an integer dtype (${INT_DTYPES.join(', ')})`);
  }
  const { bytes } = await readTensorRaw(src, h, name);
  const count = bytes.byteLength / DTYPE_SIZES[t.dtype]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(count);
  switch (t.dtype) {
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true);
      break;
    case 'I64':
      for (let i = 0; i < count; i++) {
        const v = dv.getBigInt64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n) {
          throw new GPT2TapsError(`tensor "${name}": I64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = Number(v);
      }
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      break;
    default: // U8, BOOL
      for (let i = 0; i < count; i++) out[i] = bytes[i]!;
  }
  return out;
}

export interface WriteTensor {
  name: string;
  dtype: 'F32' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/**
 * Serializes tensors (in the given order, contiguous offsets) to safetensors bytes that
 * Python's `safetensors.numpy.load_file` reads. The header is padded with spaces to a
 * multiple of 8 bytes, so the data section is 8-byte aligned.
 */
export function writeSafetensors(tensors: WriteTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new GPT2TapsError(`writeSafetensors: metadata "${k}" is not a string`);
    }
    header['__metadata__'] = { ...metadata };
  }
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new GPT2TapsError('writeSafetensors: "__metadata__" cannot be a tensor name');
    if (seen.has(t.name)) throw new GPT2TapsError(`writeSafetensors: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (t.dtype !== 'F32' && t.dtype !== 'I32') throw new GPT2TapsError(`writeSafetensors: tensor "${t.name}": unsupported dtype ${String(t.dtype)}`);
    const wantCtor = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof wantCtor)) {
      throw new GPT2TapsError(`writeSafetensors: tensor "${t.name}": dtype ${t.dtype} needs a ${wantCtor.name}, got ${t.data?.constructor?.name}`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new GPT2TapsError(`writeSafetensors: tensor "${t.name}": shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new GPT2TapsError(`writeSafetensors: tensor "${t.name}" has ${t.data.length} values, but shape ${fmtShape(t.shape)} needs ${count}`);
    }
    const bytes = count * 4;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + padded + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, padded % 2 ** 32, true);
  dv.setUint32(4, Math.floor(padded / 2 ** 32), true);
  out.set(json, 8);
  let pos = 8 + padded;
  for (const t of tensors) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    } else {
      for (let i = 0; i < t.data.length; i++) {
        if (t.dtype === 'F32') dv.setFloat32(pos + 4 * i, t.data[i]!, true);
        else dv.setInt32(pos + 4 * i, t.data[i]!, true);
      }
    }
    pos += t.data.byteLength;
  }
  return out;
}

export interface LoadedTensors {
  header: SafetensorsHeader;
  /** F32 / F16 / BF16 tensors, as float32. */
  floats: Map<string, { shape: number[]; data: Float32Array<ArrayBuffer> }>;
  /** Integer tensors (I64 / I32 / I16 / I8 / U8 / BOOL), as int32. F64 tensors are in neither map. */
  ints: Map<string, { shape: number[]; data: Int32Array<ArrayBuffer> }>;
}

/** Reads every tensor of a file: floats as float32 and integers as int32 (e.g. a reference file's `input_ids`). */
export async function readAllTensors(src: ByteSource): Promise<LoadedTensors> {
  const header = await readHeader(src);
  const floats: LoadedTensors['floats'] = new Map();
  const ints: LoadedTensors['ints'] = new Map();
  for (const t of header.tensors.values()) {
    if (FLOAT_DTYPES.includes(t.dtype)) floats.set(t.name, { shape: t.shape, data: await readTensorF32(src, header, t.name) });
    else if (INT_DTYPES.includes(t.dtype)) ints.set(t.name, { shape: t.shape, data: await readTensorI32(src, header, t.name) });
  }
  return { header, floats, ints };
}

/**
 * Reads every float tensor (F32 / F16 / BF16) of a file as float32. Tensors of other dtypes
 * (e.g. the I32 `input_ids` of a reference file) are skipped: use `readAllTensors` to get them.
 */
export async function readAllF32(src: ByteSource): Promise<Map<string, { shape: number[]; data: Float32Array<ArrayBuffer> }>> {
  const header = await readHeader(src);
  const floats = new Map<string, { shape: number[]; data: Float32Array<ArrayBuffer> }>();
  for (const t of header.tensors.values()) {
    if (FLOAT_DTYPES.includes(t.dtype)) floats.set(t.name, { shape: t.shape, data: await readTensorF32(src, header, t.name) });
  }
  return floats;
}

// ---------------------------------------------------------------------------------
// Sharded checkpoints: `model.safetensors.index.json` = {"metadata"?: {...}, "weight_map": {tensor: shard file}}

/** The file a sharded checkpoint's index is stored in, next to its shards. */
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/**
 * A checkpoint split over several safetensors files: every shard (file name as the index
 * writes it → its bytes; each ByteSource's label names its file in errors) and the index's
 * weight_map (tensor name → shard file).
 */
export interface ShardedSource {
  readonly shards: ReadonlyMap<string, ByteSource>;
  readonly weightMap: Readonly<Record<string, string>>;
  /** The shards' bytes together. */
  readonly byteLength: number;
  /** Names the index in errors. */
  readonly label?: string;
}

/** What a checkpoint is read from: one safetensors file, or the shards of an index. */
export type CheckpointSource = ByteSource | ShardedSource;

export function isSharded(src: CheckpointSource): src is ShardedSource {
  return 'shards' in src && src.shards instanceof Map;
}

export function shardedSource(shards: ReadonlyMap<string, ByteSource>, weightMap: Record<string, string>, label?: string): ShardedSource {
  let byteLength = 0;
  for (const s of shards.values()) byteLength += s.byteLength;
  return { shards, weightMap, byteLength, label };
}

/**
 * Parses a `model.safetensors.index.json` (text or parsed JSON): its weight_map, and the shard
 * files it names, in order of first appearance. Shard names must be plain relative paths
 * (no `..`, no leading `/`, no backslashes), so they cannot point outside the model's folder.
 */
export function parseSafetensorsIndex(json: unknown, label = SAFETENSORS_INDEX_FILE): { weightMap: Record<string, string>; files: string[] } {
  let j = json;
  if (typeof j === 'string') {
    try {
      j = JSON.parse(j);
    } catch (e) {
      throw new GPT2TapsError(`${label} is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isPlainObject(j)) throw new GPT2TapsError(`${label} is not a JSON object`);
  const wm = j['weight_map'];
  if (!isPlainObject(wm)) throw new GPT2TapsError(`${label} has no "weight_map" object`, 'a sharded checkpoint index maps each tensor name to its shard file');
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  for (const [tensor, file] of Object.entries(wm)) {
    if (typeof file !== 'string') throw new GPT2TapsError(`${label}: weight_map entry "${tensor}" is not a file name`);
    if (file === '' || file.startsWith('/') || file.includes('\\') || file.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw new GPT2TapsError(`${label}: weight_map entry "${tensor}" names the shard "${file}", which is not a plain relative file name`);
    }
    weightMap[tensor] = file;
    if (!files.includes(file)) files.push(file);
  }
  if (files.length === 0) throw new GPT2TapsError(`${label}: weight_map is empty`);
  return { weightMap, files };
}
