import { describe, expect, it } from 'vitest';
import { GPT2TapsError } from '../../src/errors.js';
import {
  type ByteSource, MAX_HEADER_BYTES, bytesSource, bytesToF32, findDuplicateKey, halfToFloat, readAllF32, readAllTensors,
  readHeader, readTensorF32, readTensorI32, readTensorRaw, writeSafetensors,
} from '../../src/checkpoint/safetensors.js';

/** A file with a raw header string (not padded) and `dataLen` data bytes (or the given data). */
function rawFile(header: string | Uint8Array, data: number | Uint8Array = 0): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.byteLength + d.byteLength);
  new DataView(out.buffer).setUint32(0, h.byteLength, true);
  out.set(h, 8);
  out.set(d, 8 + h.byteLength);
  return out;
}

function fileWith(entries: Record<string, unknown>, dataLen: number): Uint8Array {
  return rawFile(JSON.stringify(entries), dataLen);
}

async function headerError(bytes: Uint8Array): Promise<GPT2TapsError> {
  try {
    await readHeader(bytesSource(bytes));
  } catch (e) {
    expect(e).toBeInstanceOf(GPT2TapsError);
    return e as GPT2TapsError;
  }
  throw new Error('readHeader did not throw');
}

function u16File(dtype: 'F16' | 'BF16', values: number[]): Uint8Array {
  const data = new Uint8Array(values.length * 2);
  const dv = new DataView(data.buffer);
  values.forEach((v, i) => dv.setUint16(2 * i, v, true));
  return rawFile(JSON.stringify({ t: { dtype, shape: [values.length], data_offsets: [0, data.byteLength] } }), data);
}

describe('writeSafetensors / readHeader round trip', () => {
  const a = new Float32Array([1, -2.5, 3.25, Math.PI, -0, 1e-30]);
  const ids = new Int32Array([50256, 0, -7, 2147483647]);
  const bytes = writeSafetensors(
    [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: a },
      { name: 'input_ids', dtype: 'I32', shape: [4], data: ids },
      { name: 'empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
      { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([7]) },
    ],
    { format: 'pt', note: 'héllo' },
  );

  it('writes a padded header and contiguous offsets in the given order', () => {
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const n = dv.getUint32(0, true);
    expect(dv.getUint32(4, true)).toBe(0);
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    const j = JSON.parse(text);
    expect(Object.keys(j)).toEqual(['__metadata__', 'a', 'input_ids', 'empty', 'scalar']);
    expect(j.a.data_offsets).toEqual([0, 24]);
    expect(j.input_ids.data_offsets).toEqual([24, 40]);
    expect(j.empty.data_offsets).toEqual([40, 40]);
    expect(j.scalar.data_offsets).toEqual([40, 44]);
    expect(text.trimEnd()).toBe(JSON.stringify(j));
    expect(bytes.byteLength).toBe(8 + n + 44);
  });

  it('reads back what was written', async () => {
    const src = bytesSource(bytes);
    const h = await readHeader(src);
    expect(h.metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect(h.fileLength).toBe(bytes.byteLength);
    expect(h.dataOffset % 8).toBe(0);
    expect([...h.tensors.keys()]).toEqual(['a', 'input_ids', 'empty', 'scalar']);
    expect(h.tensors.get('a')).toEqual({ name: 'a', dtype: 'F32', shape: [2, 3], begin: 0, end: 24 });
    expect(await readTensorF32(src, h, 'a')).toEqual(a);
    expect(await readTensorI32(src, h, 'input_ids')).toEqual(ids);
    expect((await readTensorF32(src, h, 'empty')).length).toBe(0);
    expect(Array.from(await readTensorF32(src, h, 'scalar'))).toEqual([7]);
    const raw = await readTensorRaw(src, h, 'input_ids');
    expect(raw.info.dtype).toBe('I32');
    expect(raw.bytes.byteLength).toBe(16);
  });

  it('readAllF32 skips integer tensors; readAllTensors returns both', async () => {
    const floats = await readAllF32(bytesSource(bytes));
    expect([...floats.keys()]).toEqual(['a', 'empty', 'scalar']);
    expect(floats.get('a')).toEqual({ shape: [2, 3], data: a });
    const all = await readAllTensors(bytesSource(bytes.buffer as ArrayBuffer));
    expect([...all.floats.keys()]).toEqual(['a', 'empty', 'scalar']);
    expect(all.ints.get('input_ids')).toEqual({ shape: [4], data: ids });
  });

  it('returned arrays do not alias the source bytes', async () => {
    const copy = bytes.slice();
    const src = bytesSource(copy);
    const h = await readHeader(src);
    const x = await readTensorF32(src, h, 'a');
    x[0] = 123;
    expect((await readTensorF32(src, h, 'a'))[0]).toBe(1);
  });

  it('writes an empty file that reads back', async () => {
    const h = await readHeader(bytesSource(writeSafetensors([])));
    expect(h.tensors.size).toBe(0);
  });

  it('rejects bad input to writeSafetensors', () => {
    expect(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }])).toThrow(/3 values.*\[2, 2\] needs 4/);
    expect(() => writeSafetensors([
      { name: 'x', dtype: 'F32', shape: [1], data: new Float32Array(1) },
      { name: 'x', dtype: 'F32', shape: [1], data: new Float32Array(1) },
    ])).toThrow(/duplicate/);
    expect(() => writeSafetensors([{ name: 'x', dtype: 'I32', shape: [1], data: new Float32Array(1) }])).toThrow(GPT2TapsError);
    expect(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [-1], data: new Float32Array(1) }])).toThrow(/non-negative/);
  });
});

describe('float conversions', () => {
  it('converts F16 bit patterns', async () => {
    const cases: [number, number][] = [
      [0x3c00, 1.0], [0xc100, -2.5], [0x7bff, 65504], [0xfbff, -65504],
      [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14], [0x3555, 0.333251953125],
      [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0], [0x8000, -0],
    ];
    const bytes = u16File('F16', [...cases.map((c) => c[0]), 0x7e00]);
    const src = bytesSource(bytes);
    const out = await readTensorF32(src, await readHeader(src), 't');
    cases.forEach(([, want], i) => expect(Object.is(out[i], want)).toBe(true));
    expect(Number.isNaN(out[cases.length])).toBe(true);
    expect(halfToFloat(0x3c00)).toBe(1);
  });

  it('converts BF16 bit patterns', async () => {
    const cases: [number, number][] = [
      [0x3f80, 1.0], [0xc020, -2.5], [0x3e20, 0.15625], [0x7f7f, 3.3895313892515355e38],
      [0x0001, 2 ** -133], [0x0080, 2 ** -126], [0x7f80, Infinity], [0xff80, -Infinity], [0x8000, -0],
    ];
    const bytes = u16File('BF16', [...cases.map((c) => c[0]), 0x7fc0]);
    const src = bytesSource(bytes);
    const out = await readTensorF32(src, await readHeader(src), 't');
    cases.forEach(([, want], i) => expect(Object.is(out[i], want)).toBe(true));
    expect(Number.isNaN(out[cases.length])).toBe(true);
  });

  it('handles unaligned tensor offsets (F32, F16, BF16)', async () => {
    const f32 = new Float32Array([1.5, -2, 1e10]);
    // 1 byte of padding before the F32 tensor puts it at an odd offset from the file start too.
    const data = new Uint8Array(1 + 12 + 2 + 2);
    data.set(new Uint8Array(f32.buffer), 1);
    new DataView(data.buffer).setUint16(13, 0xc100, true); // F16 -2.5
    new DataView(data.buffer).setUint16(15, 0x3f80, true); // BF16 1.0
    const header = JSON.stringify({
      pad: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
      x: { dtype: 'F32', shape: [3], data_offsets: [1, 13] },
      h: { dtype: 'F16', shape: [1], data_offsets: [13, 15] },
      b: { dtype: 'BF16', shape: [1], data_offsets: [15, 17] },
    }) + ' ';
    const bytes = rawFile(header, data);
    // A source that hands out views (not copies), so the unaligned byteOffset reaches the converter.
    const viewSource: ByteSource = { byteLength: bytes.byteLength, read: async (o, l) => bytes.subarray(o, o + l) as Uint8Array<ArrayBuffer> };
    const h = await readHeader(viewSource);
    expect((h.dataOffset + 1) % 4).not.toBe(0);
    expect(await readTensorF32(viewSource, h, 'x')).toEqual(f32);
    expect(Array.from(await readTensorF32(viewSource, h, 'h'))).toEqual([-2.5]);
    expect(Array.from(await readTensorF32(viewSource, h, 'b'))).toEqual([1]);
    expect(Array.from(await readTensorI32(viewSource, h, 'pad'))).toEqual([0]);
    expect(bytesToF32(new Uint8Array(f32.buffer.slice(0)).subarray(4, 8) as Uint8Array<ArrayBuffer>, 'F32')).toEqual(new Float32Array([-2]));
  });

  it('reads I64 ids and rejects values outside int32', async () => {
    const data = new Uint8Array(24);
    const dv = new DataView(data.buffer);
    dv.setBigInt64(0, 50256n, true);
    dv.setBigInt64(8, -1n, true);
    dv.setBigInt64(16, 2n ** 40n, true);
    const bytes = rawFile(JSON.stringify({
      ok: { dtype: 'I64', shape: [2], data_offsets: [0, 16] },
      big: { dtype: 'I64', shape: [1], data_offsets: [16, 24] },
    }), data);
    const src = bytesSource(bytes);
    const h = await readHeader(src);
    expect(Array.from(await readTensorI32(src, h, 'ok'))).toEqual([50256, -1]);
    await expect(readTensorI32(src, h, 'big')).rejects.toThrow(/does not fit in int32/);
    await expect(readTensorF32(src, h, 'ok')).rejects.toThrow(/dtype I64, expected a float dtype/);
  });

  it('refuses other dtypes and unknown names with GPT2TapsError', async () => {
    const bytes = rawFile(JSON.stringify({ d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }), 8);
    const src = bytesSource(bytes);
    const h = await readHeader(src);
    await expect(readTensorF32(src, h, 'd')).rejects.toThrow(/F64/);
    await expect(readTensorI32(src, h, 'd')).rejects.toThrow(/F64/);
    await expect(readTensorF32(src, h, 'nope')).rejects.toThrow(/no tensor named "nope"/);
    await expect(readTensorF32(src, h, 'nope')).rejects.toBeInstanceOf(GPT2TapsError);
  });
});

describe('readHeader validation', () => {
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  it('accepts a well-formed file', async () => {
    const h = await readHeader(bytesSource(fileWith({ x: ok, __metadata__: { a: 'b' } }, 8)));
    expect(h.tensors.get('x')?.shape).toEqual([2]);
    expect(h.metadata).toEqual({ a: 'b' });
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['file shorter than 8 bytes', () => new Uint8Array(5), /shorter than the 8-byte/],
    ['empty file', () => new Uint8Array(0), /0 bytes, shorter/],
    ['header length beyond the file', () => { const b = rawFile('{}', 0); new DataView(b.buffer).setUint32(0, 1000, true); return b; }, /beyond the end/],
    ['absurd header length (high word)', () => { const b = rawFile('{}', 0); new DataView(b.buffer).setUint32(4, 1, true); return b; }, /absurd/],
    ['absurd header length (> 100 MB)', () => { const b = rawFile('{}', 0); new DataView(b.buffer).setUint32(0, MAX_HEADER_BYTES + 1, true); return b; }, /absurd/],
    ['header not UTF-8', () => rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /not valid UTF-8/],
    ['header not JSON', () => rawFile('{"x": '), /not valid JSON/],
    ['header an array', () => rawFile('[1, 2]'), /not an object.*array/],
    ['header a number', () => rawFile('42'), /not an object/],
    ['header null', () => rawFile('null'), /not an object/],
    ['entry not an object', () => fileWith({ x: [1, 2] }, 0), /"x".*not an object/],
    ['entry a string', () => fileWith({ x: 'F32' }, 0), /"x".*not an object/],
    ['missing dtype', () => fileWith({ x: { shape: [2], data_offsets: [0, 8] } }, 8), /"x".*missing field "dtype"/],
    ['missing shape', () => fileWith({ x: { dtype: 'F32', data_offsets: [0, 8] } }, 8), /"x".*missing field "shape"/],
    ['missing data_offsets', () => fileWith({ x: { dtype: 'F32', shape: [2] } }, 8), /"x".*missing field "data_offsets"/],
    ['unknown dtype', () => fileWith({ x: { ...ok, dtype: 'F8_E4M3' } }, 8), /unknown dtype "F8_E4M3"/],
    ['dtype not a string', () => fileWith({ x: { ...ok, dtype: 4 } }, 8), /unknown dtype 4/],
    ['negative shape entry', () => fileWith({ x: { ...ok, shape: [-2] } }, 8), /shape \[-2\] is not a list of non-negative integers/],
    ['fractional shape entry', () => fileWith({ x: { ...ok, shape: [1.5] } }, 8), /shape .* non-negative integers/],
    ['string shape entry', () => fileWith({ x: { ...ok, shape: ['2'] } }, 8), /shape .* non-negative integers/],
    ['unsafe shape entry', () => fileWith({ x: { ...ok, shape: [2 ** 60] } }, 8), /shape .* non-negative integers/],
    ['shape not a list', () => fileWith({ x: { ...ok, shape: 2 } }, 8), /shape 2 is not a list/],
    ['fractional data_offsets', () => fileWith({ x: { ...ok, data_offsets: [0, 7.5] } }, 8), /data_offsets .* not a pair of non-negative integers/],
    ['negative data_offsets', () => fileWith({ x: { ...ok, data_offsets: [-8, 0] } }, 8), /data_offsets .* not a pair/],
    ['three data_offsets', () => fileWith({ x: { ...ok, data_offsets: [0, 4, 8] } }, 8), /data_offsets .* not a pair/],
    ['begin > end', () => fileWith({ x: { ...ok, data_offsets: [8, 0] } }, 8), /begin > end/],
    ['end beyond the data section', () => fileWith({ x: { ...ok, data_offsets: [0, 8] } }, 4), /end 8 is beyond the data section \(4 bytes\)/],
    ['byte size mismatch', () => fileWith({ x: { ...ok, shape: [3] } }, 8), /byte size 8 does not match shape \[3\] × F32 .* = 12 bytes/],
    ['byte size overflow (huge shape)', () => fileWith({ x: { ...ok, shape: [2 ** 40, 2 ** 40] } }, 8), /"x": shape \[1099511627776, 1099511627776\] × F32 .* overflows/],
    ['overlapping tensors', () => fileWith({ x: ok, y: { ...ok, data_offsets: [4, 12] } }, 12), /"x".*"y".*overlap/],
    ['metadata not strings', () => fileWith({ __metadata__: { a: 1 } }, 0), /__metadata__ entry "a" is not a string/],
    ['metadata not an object', () => fileWith({ __metadata__: 'x' }, 0), /__metadata__ is not an object/],
    ['dtype naming an Object.prototype member', () => fileWith({ x: { ...ok, dtype: 'constructor' } }, 8), /unknown dtype "constructor"/],
    ['dtype "__proto__"', () => fileWith({ x: { ...ok, dtype: '__proto__' } }, 8), /unknown dtype "__proto__"/],
    ['duplicate tensor name', () => rawFile(`{"x": ${JSON.stringify(ok)}, "y": ${JSON.stringify({ ...ok, data_offsets: [8, 16] })}, "x": ${JSON.stringify({ ...ok, data_offsets: [8, 16] })}}`, 16), /duplicate tensor name "x"/],
    ['duplicate tensor name, spelled with an escape', () => rawFile(`{"ab": ${JSON.stringify(ok)}, "\\u0061b": ${JSON.stringify(ok)}}`, 8), /duplicate tensor name "ab"/],
    ['duplicate __metadata__', () => rawFile('{"__metadata__": {"a": "b"}, "__metadata__": {"c": "d"}}'), /"__metadata__" twice/],
    ['duplicate field in a tensor entry', () => rawFile('{"x": {"dtype": "F32", "shape": [2], "dtype": "F32", "data_offsets": [0, 8]}}', 8), /tensor "x": duplicate key "dtype"/],
    ['duplicate metadata key', () => rawFile('{"__metadata__": {"a": "b", "a": "c"}}'), /__metadata__: duplicate key "a"/],
    ['truncated data section (names the largest end)', () => fileWith({ x: ok, y: { ...ok, data_offsets: [8, 16] } }, 12),
      /"y": data_offsets end 16 is beyond the data section \(12 bytes\): the file is \d+ bytes but its tensors need \d+[^]*truncated/],
  ];
  for (const [what, make, re] of cases) {
    it(`rejects: ${what}`, async () => {
      const e = await headerError(make());
      expect(e.message).toMatch(re);
    });
  }

  it('accepts a zero dimension next to dimensions whose product would overflow', async () => {
    const h = await readHeader(bytesSource(fileWith({ x: { dtype: 'F32', shape: [2 ** 52, 2 ** 52, 0], data_offsets: [0, 0] } }, 0)));
    expect(h.tensors.get('x')?.shape).toEqual([2 ** 52, 2 ** 52, 0]);
  });

  it('does not mistake equal keys in different objects, or strings in arrays, for duplicates', async () => {
    const text = '{"__metadata__": {"dtype": "x", "shape": "y"}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, ' +
      '"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}';
    const h = await readHeader(bytesSource(rawFile(text, 8)));
    expect([...h.tensors.keys()]).toEqual(['a', 'b']);
    expect(findDuplicateKey('{"a": ["a", "a", {"a": 1}], "b": "a\\"a", "c": {"\\"": 1, "\\u0022x": 2}}')).toBeUndefined();
    expect(findDuplicateKey('{"a": [{"k": 1, "k": 2}]}')).toEqual({ key: 'k', path: ['a'] });
    expect(findDuplicateKey('{"a": {"b": {"k": 1, "k": 2}}}')).toEqual({ key: 'k', path: ['a', 'b'] });
  });

  it('names the source in messages when it has a label', async () => {
    await expect(readHeader(bytesSource(new Uint8Array(3), 'weights/x.safetensors'))).rejects.toThrow(/^weights\/x\.safetensors: /);
  });

  it('never reads (allocates) more than the file holds for a lying header length', async () => {
    const bytes = rawFile('{}', 100);
    new DataView(bytes.buffer).setUint32(0, 50_000_000, true);
    const reads: number[] = [];
    const inner = bytesSource(bytes);
    const src: ByteSource = { byteLength: inner.byteLength, read: (o, l) => { reads.push(l); return inner.read(o, l); } };
    await expect(readHeader(src)).rejects.toThrow(/beyond the end/);
    expect(Math.max(...reads)).toBeLessThanOrEqual(8);
  });

  it('allows zero-sized tensors anywhere and adjacent tensors', async () => {
    const h = await readHeader(bytesSource(fileWith({
      x: ok, y: { ...ok, data_offsets: [8, 16] }, z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
    }, 16)));
    expect(h.tensors.size).toBe(3);
  });

  it('bytesSource refuses reads outside the file', async () => {
    await expect(bytesSource(new Uint8Array(4)).read(2, 4)).rejects.toBeInstanceOf(GPT2TapsError);
  });
});
