#!/usr/bin/env python3
"""Rewrites an ONNX model so that its weights live in a safetensors file instead of inside it.

    python3 scripts/onnx-external-data.py full.onnx weights/gpt2-tiny/model.safetensors test/fixtures/gpt2-tiny/model.onnx

Every initializer whose bytes appear verbatim as a tensor of the safetensors file (for the
shared fixture's gpt2-tiny ONNX export, all 40 of them) becomes an ONNX external-data
reference (location = the safetensors file's name, offset, length), so the repository holds
the checkpoint once; onnxruntime-web is given that file as `externalData` (bench/page.mjs).
An initializer that is not found is an error: nothing is written. Needs only the standard
library: it reads and writes the protobuf wire format directly.
"""
import json
import os
import struct
import sys


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fields(b):
    """(field number, wire type, raw bytes of the whole field, payload) for each field of a message."""
    i = 0
    while i < len(b):
        start = i
        key, i = varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = varint(b, i)
            yield f, w, b[start:i], v
        elif w == 2:
            n, i = varint(b, i)
            yield f, w, b[start:i + n], b[i:i + n]
            i += n
        elif w in (1, 5):
            n = 8 if w == 1 else 4
            yield f, w, b[start:i + n], b[i:i + n]
            i += n
        else:
            raise ValueError(f'unsupported wire type {w}')


def length_delimited(f, payload):
    return enc_varint(f << 3 | 2) + enc_varint(len(payload)) + payload


def main(onnx_path, safetensors_path, out_path):
    model = open(onnx_path, 'rb').read()
    st = open(safetensors_path, 'rb').read()
    n = struct.unpack('<Q', st[:8])[0]
    header = json.loads(st[8:8 + n])
    base = 8 + n
    where = {}
    for name, t in header.items():
        if name != '__metadata__':
            a, b = t['data_offsets']
            where[st[base + a:base + b]] = (base + a, b - a)
    location = os.path.basename(safetensors_path).encode()

    def initializer(tensor):
        out, name, placed = bytearray(), b'?', None
        for f, _, raw, payload in fields(tensor):
            if f == 8:
                name = payload
            if f == 9:  # raw_data: replaced by a reference into the safetensors file
                placed = where.get(payload)
                if placed is None:
                    sys.exit(f'initializer {name.decode()}: its bytes are not a tensor of {safetensors_path}; nothing written')
                continue
            out += raw
        if placed is None:
            sys.exit(f'initializer {name.decode()} holds no raw_data; nothing written')
        for key, value in ((b'location', location), (b'offset', str(placed[0]).encode()), (b'length', str(placed[1]).encode())):
            out += length_delimited(13, length_delimited(1, key) + length_delimited(2, value))
        out += enc_varint(14 << 3) + enc_varint(1)  # data_location = EXTERNAL
        return bytes(out)

    def graph(g):
        out = bytearray()
        for f, _, raw, payload in fields(g):
            out += length_delimited(5, initializer(payload)) if f == 5 else raw
        return bytes(out)

    out = bytearray()
    for f, _, raw, payload in fields(model):
        out += length_delimited(7, graph(payload)) if f == 7 else raw
    open(out_path, 'wb').write(out)
    print(f'wrote {out_path}: {len(out)} bytes (was {len(model)}), weights in {location.decode()}')


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
