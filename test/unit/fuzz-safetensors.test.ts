// Seeded fuzzing of the safetensors reader. The fixture is first rewritten as two tiny files
// (a few small tensors sliced from its weights, ~0.5 KB each), then mutated many thousands of
// times: bytes of the header flipped or replaced, JSON tokens spliced in or cut out, numbers in
// shape / data_offsets made negative, huge or fractional, dtypes changed, keys duplicated, the
// file truncated or extended, the 8-byte length prefix changed. For every mutant, readHeader and
// then readTensorF32 on every tensor the header lists must either work or throw a GPT2TapsError;
// reads must stay inside the file, results must be no larger than the file, no case may take
// more than 100 ms, and whatever readHeader accepts must really be consistent.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GPT2TapsError } from '../../src/errors.js';
import {
  type ByteSource, type SafetensorsHeader, DTYPE_SIZES, MAX_HEADER_BYTES, bytesSource, readAllTensors, readHeader, readTensorF32,
  writeSafetensors,
} from '../../src/checkpoint/safetensors.js';

const SEED = 0x5afe7e45;
const CASES = 30_000;
const MAX_CASE_MS = 100;

/** mulberry32: a small, fast, seeded PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const enc = new TextEncoder();
const dec = new TextDecoder(); // non-fatal: invalid UTF-8 becomes U+FFFD when a textual mutation follows a byte one

/** A file split into its parts, so header mutations can be made before the length prefix is written. */
interface Parts { header: Uint8Array; data: Uint8Array }

function splitFile(bytes: Uint8Array): Parts {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return { header: bytes.slice(8, 8 + n), data: bytes.slice(8 + n) };
}

function joinFile(p: Parts): Uint8Array {
  const out = new Uint8Array(8 + p.header.byteLength + p.data.byteLength);
  new DataView(out.buffer).setUint32(0, p.header.byteLength, true);
  out.set(p.header, 8);
  out.set(p.data, 8 + p.header.byteLength);
  return out;
}

// ---- the JSON pieces mutations use

const TOKENS = [
  '{', '}', '[', ']', ',', ':', '"', '""', '"x"', '"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"__proto__"',
  'null', 'true', 'false', '0', '-1', '1e400', '0.5', '9007199254740993', '"F32"', '"F16"', '[]', '{}', '[0,4]',
  '"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},', '\\', '\\u0000', '\u00e9', '\ud83d\ude00', ' ', '\n',
];
const NUMBERS = [
  '-1', '-0', '0', '1', '2', '0.5', '1.5', '-2.5', '4.0', '1e3', '1e400', '-1e400', '1e-7', '-9007199254740991',
  '9007199254740991', '9007199254740992', '9007199254740993', '18446744073709551616', '4294967296', '4294967295',
  '2147483648', '1099511627776', '100000000',
];
const DTYPES = [
  'F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'U64', 'f32', '', 'constructor',
  '__proto__', 'toString', 'hasOwnProperty',
];
const BYTES_OF_NOTE = [0x00, 0x22, 0x2c, 0x2d, 0x2e, 0x30, 0x31, 0x39, 0x3a, 0x5b, 0x5c, 0x5d, 0x65, 0x7b, 0x7d, 0x80, 0xc3, 0xff];

const NUMBER_RE = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
const DTYPE_RE = /"dtype"\s*:\s*"[^"]*"/g;

function matches(text: string, re: RegExp): RegExpExecArray[] {
  return [...text.matchAll(re)];
}

function replaceAt(text: string, m: RegExpExecArray, by: string): string {
  return text.slice(0, m.index) + by + text.slice(m.index + m[0].length);
}

/** Serializes [key, value] pairs (values may themselves be pair lists), allowing duplicate keys. */
type Pairs = [string, unknown][];
function serialize(v: unknown, rawKeys = new Map<Pairs, Map<number, string>>()): string {
  if (isPairs(v)) {
    const raw = rawKeys.get(v as Pairs);
    return '{' + (v as Pairs).map(([k, x], i) => `${raw?.get(i) ?? JSON.stringify(k)}:${serialize(x, rawKeys)}`).join(',') + '}';
  }
  return JSON.stringify(v);
}
const PAIRS = new WeakSet<object>();
function isPairs(v: unknown): boolean {
  return typeof v === 'object' && v !== null && PAIRS.has(v);
}
function toPairs(o: Record<string, unknown>): Pairs {
  const p: Pairs = Object.entries(o).map(([k, v]) => [k, typeof v === 'object' && v !== null && !Array.isArray(v) ? toPairs(v as Record<string, unknown>) : v]);
  PAIRS.add(p);
  return p;
}

// ---- mutations: each returns the mutated parts/file. Header ones keep the prefix consistent.

type HeaderMutation = (h: string, rng: Rng) => string;
type ByteMutation = (file: Uint8Array, rng: Rng, headerLength: number) => Uint8Array;

const headerText: Record<string, HeaderMutation> = {
  spliceToken(h, rng) {
    const at = rng.int(h.length + 1);
    return h.slice(0, at) + rng.pick(TOKENS) + h.slice(at);
  },
  deleteRange(h, rng) {
    const at = rng.int(h.length);
    return h.slice(0, at) + h.slice(at + 1 + rng.int(Math.min(12, h.length - at)));
  },
  replaceNumber(h, rng) {
    const ms = matches(h, NUMBER_RE);
    if (ms.length === 0) return h;
    const m = rng.pick(ms);
    const orig = Number(m[0]);
    const choices = [...NUMBERS, String(orig + 1), String(orig - 1), String(-orig), String(orig * 2), `${m[0]}0`, String(orig + 0.5), String(rng.int(2 ** 31))];
    return replaceAt(h, m, rng.pick(choices));
  },
  changeDtype(h, rng) {
    const ms = matches(h, DTYPE_RE);
    if (ms.length === 0) return h;
    return replaceAt(h, rng.pick(ms), `"dtype":"${rng.pick(DTYPES)}"`);
  },
  shiftOffsets(h, rng) {
    // Moves a tensor's span, keeping its size: overlaps, gaps, or beyond the data section.
    const ms = matches(h, /"data_offsets"\s*:\s*\[\s*(\d+)\s*,\s*(\d+)\s*\]/g);
    if (ms.length === 0) return h;
    const m = rng.pick(ms);
    const d = rng.pick([-8, -4, -2, -1, 1, 2, 4, 8, rng.int(64) - 32]);
    return replaceAt(h, m, `"data_offsets":[${Number(m[1]) + d},${Number(m[2]) + d}]`);
  },
  shapeOrOffsetsShape(h, rng) {
    // Replaces a whole shape or data_offsets list with another list.
    const ms = matches(h, /"(shape|data_offsets)"\s*:\s*\[[^\]]*\]/g);
    if (ms.length === 0) return h;
    const m = rng.pick(ms);
    const lists = ['[]', '[0]', '[1]', '[0,0]', '[4,0]', '[2,2]', '[1,1,1,1]', '[-1,-4]', '[0.5,2]', '[1e400]', '[null]', '["4"]', '[[4]]',
      '[9007199254740993,2]', '[4294967296,4294967296]', '[0,4,8]', '[3037000500,3037000500]', '[0,18446744073709551616]'];
    return replaceAt(h, m, `"${m[1]}":${rng.pick(lists)}`);
  },
};

const headerBytes: Record<string, (h: Uint8Array, rng: Rng) => Uint8Array> = {
  flipBit(h, rng) {
    const out = h.slice();
    if (out.length) out[rng.int(out.length)]! ^= 1 << rng.int(8);
    return out;
  },
  replaceByte(h, rng) {
    const out = h.slice();
    if (out.length) out[rng.int(out.length)] = rng.next() < 0.5 ? rng.pick(BYTES_OF_NOTE) : rng.int(256);
    return out;
  },
};

const fileBytes: Record<string, ByteMutation> = {
  truncate(f, rng) {
    return f.slice(0, rng.int(f.length));
  },
  lengthPrefix(f, rng, n) {
    const prefix = new Uint8Array(8);
    prefix.set(f.subarray(0, 8));
    const dv = new DataView(prefix.buffer);
    const lo = rng.pick([0, 1, 2, n - 1, n + 1, n + 8, n - 8, f.length, f.length - 8, f.length - 7, MAX_HEADER_BYTES, MAX_HEADER_BYTES + 1, 0xffffffff, rng.int(2 ** 32), rng.int(2 * f.length)]);
    dv.setUint32(0, Math.max(0, lo) >>> 0, true);
    if (rng.next() < 0.25) dv.setUint32(4, rng.pick([1, 0xffffffff, rng.int(2 ** 32)]), true);
    const out = f.slice();
    out.set(prefix.subarray(0, Math.min(8, out.length))); // a file already truncated below 8 bytes stays that short
    return out;
  },
  extend(f, rng) {
    const out = new Uint8Array(f.length + 1 + rng.int(64));
    out.set(f);
    for (let i = f.length; i < out.length; i++) out[i] = rng.int(256);
    return out;
  },
  dataBytes(f, rng, n) {
    const out = f.slice();
    const start = 8 + n;
    if (start < out.length) for (let k = 0; k < 4; k++) out[start + rng.int(out.length - start)] = rng.int(256);
    return out;
  },
};

/** Structural mutation: a duplicated key somewhere, which JSON.parse alone would hide. Always to be rejected. */
function duplicateKey(base: Record<string, unknown>, rng: Rng): string {
  const top = toPairs(base);
  const rawKeys = new Map<Pairs, Map<number, string>>();
  const kind = rng.int(4);
  if (kind === 0 || kind === 1) {
    // The same tensor name (or __metadata__) twice, with the same or a different entry.
    const [k, v] = rng.pick(top);
    const copy: unknown = kind === 0 || !isPairs(v) ? v : toPairs({ dtype: 'F32', shape: [1], data_offsets: [0, 4] });
    top.splice(rng.int(top.length + 1), 0, [k, copy]);
  } else if (kind === 2) {
    // A field twice inside one entry.
    const entries = top.filter(([, v]) => isPairs(v));
    const [, v] = rng.pick(entries);
    const inner = v as Pairs;
    const [k, x] = rng.pick(inner);
    inner.splice(rng.int(inner.length + 1), 0, [k, rng.next() < 0.5 ? x : k === 'dtype' ? 'F16' : x]);
  } else {
    // The same name twice, the second spelled with a \u escape.
    const i = rng.int(top.length);
    const [k, v] = top[i]!;
    top.splice(rng.int(top.length + 1), 0, [k, v]);
    const j = top.findIndex(([kk], idx) => kk === k && idx !== i);
    const c = rng.int(k.length);
    rawKeys.set(top, new Map([[j, JSON.stringify(k.slice(0, c)).slice(0, -1) + `\\u${k.charCodeAt(c).toString(16).padStart(4, '0')}` + JSON.stringify(k.slice(c + 1)).slice(1)]]));
  }
  return serialize(top, rawKeys);
}

// ---- the instrumented source and the consistency oracle

interface CaseResult { ok: boolean; tensors: number; readsOk: number; readErrors: number }

/** Wraps a ByteSource: every read must lie inside the file (recorded as a violation, then passed on). */
function instrumented(bytes: Uint8Array, violations: string[]): ByteSource {
  const inner = bytesSource(bytes, 'fuzz');
  return {
    byteLength: inner.byteLength,
    label: inner.label,
    read(offset, length) {
      if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= inner.byteLength)) {
        violations.push(`read(${offset}, ${length}) outside the ${inner.byteLength}-byte file`);
      }
      return inner.read(offset, length);
    },
  };
}

/** Independent check (BigInt arithmetic) that an accepted header is consistent with the file. */
function checkAccepted(h: SafetensorsHeader, fileLength: number, problems: string[]): void {
  const dataLength = BigInt(fileLength - h.dataOffset);
  const spans: [bigint, bigint, string][] = [];
  if (h.dataOffset < 8 || h.dataOffset > fileLength) problems.push(`dataOffset ${h.dataOffset} outside the file`);
  for (const t of h.tensors.values()) {
    const size = DTYPE_SIZES[t.dtype];
    if (!Object.hasOwn(DTYPE_SIZES, t.dtype) || size === undefined) { problems.push(`${t.name}: dtype ${t.dtype} accepted`); continue; }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) problems.push(`${t.name}: shape ${JSON.stringify(t.shape)} accepted`);
    const bytes = t.shape.reduce((a, d) => a * BigInt(d), BigInt(size));
    const b = BigInt(t.begin);
    const e = BigInt(t.end);
    if (b < 0n || e < b || e > dataLength) problems.push(`${t.name}: offsets [${t.begin}, ${t.end}] outside ${dataLength}`);
    if (e - b !== bytes) problems.push(`${t.name}: ${e - b} bytes for ${bytes}`);
    if (e > b) spans.push([b, e, t.name]);
  }
  spans.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) problems.push(`${spans[i - 1]![2]} and ${spans[i]![2]} overlap`);
}

async function runCase(file: Uint8Array, violations: string[], problems: string[]): Promise<CaseResult> {
  const src = instrumented(file, violations);
  let h: SafetensorsHeader;
  try {
    h = await readHeader(src);
  } catch (e) {
    if (!(e instanceof GPT2TapsError)) throw e;
    return { ok: false, tensors: 0, readsOk: 0, readErrors: 0 };
  }
  checkAccepted(h, file.byteLength, problems);
  let readsOk = 0;
  let readErrors = 0;
  for (const t of h.tensors.values()) {
    try {
      const x = await readTensorF32(src, h, t.name);
      if (x.byteLength > file.byteLength) problems.push(`${t.name}: a ${x.byteLength}-byte result from a ${file.byteLength}-byte file`);
      const count = t.shape.reduce((a, d) => a * d, 1);
      if (x.length !== count) problems.push(`${t.name}: ${x.length} values for shape ${JSON.stringify(t.shape)}`);
      readsOk++;
    } catch (e) {
      if (!(e instanceof GPT2TapsError)) throw e;
      readErrors++;
    }
  }
  return { ok: true, tensors: h.tensors.size, readsOk, readErrors };
}

// ---- the bases: the fixture rewritten small

let bases: Uint8Array[];

beforeAll(async () => {
  const fixture = await readAllTensors(bytesSource(readFileSync(join(resolve(__dirname, '../../weights/gpt2-tiny'), 'model.safetensors'))));
  const f = (name: string, n: number) => fixture.floats.get(name)!.data.slice(0, n);
  // Base A (writeSafetensors): F32 and I32 tensors, an empty one, a scalar, metadata.
  const a = writeSafetensors([
    { name: 'ln_f.weight', dtype: 'F32', shape: [8], data: f('ln_f.weight', 8) },
    { name: 'h.0.attn.c_attn.bias', dtype: 'F32', shape: [3, 4], data: f('h.0.attn.c_attn.bias', 12) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'input_ids', dtype: 'I32', shape: [2], data: new Int32Array([50256, 7]) },
    { name: 'wpe.weight', dtype: 'F32', shape: [], data: f('wpe.weight', 1) },
  ], { format: 'pt' });
  // Base B (hand-made): F16, BF16, U8 and I64 tensors at unaligned offsets, taken from fixture bits.
  const w = new Uint32Array(f('wte.weight', 16).buffer);
  const data = new Uint8Array(1 + 8 + 8 + 8);
  const dv = new DataView(data.buffer);
  data[0] = 1;
  for (let i = 0; i < 4; i++) dv.setUint16(1 + 2 * i, (w[i]! >>> 16) & 0x7bff, true); // any F16 pattern works
  for (let i = 0; i < 4; i++) dv.setUint16(9 + 2 * i, w[4 + i]! >>> 16, true); // BF16: the top half of a float32
  dv.setBigInt64(17, 50256n, true);
  const header = JSON.stringify({
    __metadata__: { source: 'gpt2-tiny' },
    flag: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
    'h.1.ln_1.weight': { dtype: 'F16', shape: [2, 2], data_offsets: [1, 9] },
    'h.1.ln_1.bias': { dtype: 'BF16', shape: [4], data_offsets: [9, 17] },
    ids: { dtype: 'I64', shape: [1], data_offsets: [17, 25] },
  });
  const b = joinFile({ header: enc.encode(header), data });
  bases = [a, b];
  for (const base of bases) {
    const r = await runCase(base, [], []);
    expect(r.ok).toBe(true);
  }
});

describe('fuzzing readHeader + readTensorF32', () => {
  it(`${CASES} seeded mutants: GPT2TapsError or success, in bounds, fast`, async () => {
    const rng = prng(SEED);
    const families = [
      ...Object.keys(headerText).map((k) => `text:${k}`),
      ...Object.keys(headerBytes).map((k) => `byte:${k}`),
      ...Object.keys(fileBytes).map((k) => `file:${k}`),
      'dup:key',
    ];
    const stats = new Map<string, { cases: number; rejected: number; accepted: number }>(families.map((k) => [k, { cases: 0, rejected: 0, accepted: 0 }]));
    const failures: string[] = [];
    const messages = new Map<string, number>();
    let rejected = 0;
    let accepted = 0;
    let reads = 0;
    let readErrors = 0;
    let slowest = 0;
    let slowestCase = -1;
    let retimed = 0;
    const started = performance.now();

    for (let i = 0; i < CASES; i++) {
      const baseIndex = rng.int(bases.length);
      const base = bases[baseIndex]!;
      const family = families[i % families.length]!;
      let parts = splitFile(base);
      // The family's mutation first; then, a third of the time, one or two more of any kind.
      const extra = rng.next() < 1 / 3 ? 1 + rng.int(2) : 0;
      const steps = [family, ...Array.from({ length: extra }, () => rng.pick(families))];
      const fileSteps: string[] = [];
      for (const step of steps) {
        const [kind, name] = step.split(':') as [string, string];
        if (kind === 'text') parts = { ...parts, header: enc.encode(headerText[name]!(dec.decode(parts.header), rng)) };
        else if (kind === 'byte') parts = { ...parts, header: headerBytes[name]!(parts.header, rng) };
        else if (kind === 'dup') parts = { ...parts, header: enc.encode(duplicateKey(JSON.parse(splitHeaderText(base)) as Record<string, unknown>, rng)) };
        else fileSteps.push(name);
      }
      let file = joinFile(parts);
      for (const name of fileSteps) file = fileBytes[name]!(file, rng, parts.header.byteLength);

      const violations: string[] = [];
      const problems: string[] = [];
      let result: CaseResult | undefined;
      let ms = Infinity;
      // Time the case; re-time a slow one twice so that a GC pause or a busy machine is not blamed on the parser.
      for (let attempt = 0; attempt < 3 && ms > MAX_CASE_MS; attempt++) {
        if (attempt > 0) retimed++;
        const t0 = performance.now();
        try {
          result = await runCase(file, attempt === 0 ? violations : [], attempt === 0 ? problems : []);
        } catch (e) {
          failures.push(`case ${i} (${steps.join(' + ')}, base ${baseIndex}): ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          result = undefined;
        }
        ms = Math.min(ms, performance.now() - t0);
        if (!result) break;
      }
      if (ms > slowest) { slowest = ms; slowestCase = i; }
      if (ms > MAX_CASE_MS) failures.push(`case ${i} (${steps.join(' + ')}): took ${ms.toFixed(1)} ms`);
      for (const v of [...violations, ...problems]) failures.push(`case ${i} (${steps.join(' + ')}): ${v}`);

      const s = stats.get(family)!;
      s.cases++;
      if (result?.ok) {
        accepted++;
        s.accepted++;
        reads += result.readsOk;
        readErrors += result.readErrors;
        if (steps.length === 1 && (family === 'dup:key' || family === 'file:truncate')) {
          failures.push(`case ${i} (${family} alone) was accepted`);
        }
      } else if (result) {
        rejected++;
        s.rejected++;
        // Tally the kinds of rejection (the message with its numbers and names blanked out).
        const kind = await readHeader(bytesSource(file)).then(() => 'accepted?', (e: Error) => e.message.split('\n')[0]!
          .replace(/^fuzz: |^safetensors file: /, '').replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/(?<![A-Za-z_\d-])-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
          .replace(/\(got .*|valid JSON \(.*/, (x) => x.slice(0, 10)));
        messages.set(kind, (messages.get(kind) ?? 0) + 1);
      }
    }
    const total = performance.now() - started;

    console.log(
      `fuzz-safetensors: seed 0x${SEED.toString(16)}, ${CASES} cases in ${(total / 1000).toFixed(2)} s: ` +
        `${rejected} rejected (GPT2TapsError from readHeader), ${accepted} accepted ` +
        `(${reads} tensors read, ${readErrors} reads refused with GPT2TapsError); ` +
        `${failures.length} failures; slowest case ${slowest.toFixed(2)} ms (#${slowestCase}), ${retimed} re-timings`,
    );
    console.log('fuzz-safetensors by mutation (cases / rejected / accepted):\n' +
      [...stats].map(([k, s]) => `  ${k.padEnd(26)} ${String(s.cases).padStart(6)} ${String(s.rejected).padStart(6)} ${String(s.accepted).padStart(6)}`).join('\n'));
    console.log('fuzz-safetensors rejections by message:\n' +
      [...messages].sort((x, y) => y[1] - x[1]).slice(0, 30).map(([m, c]) => `  ${String(c).padStart(6)}  ${m.slice(0, 110)}`).join('\n'));

    expect(failures.slice(0, 20)).toEqual([]);
    expect(rejected + accepted).toBe(CASES);
    expect(rejected).toBeGreaterThan(CASES / 4);
    expect(accepted).toBeGreaterThan(CASES / 50);
  });
});

/** The header text of a (valid) base file. */
function splitHeaderText(file: Uint8Array): string {
  return dec.decode(splitFile(file).header).trimEnd();
}
