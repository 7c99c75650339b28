"""The same 2×2 residual figure as the demo page, as a static PNG with matplotlib: the
reference point of `npm run bench:plot` (scripts/bench-plot.mjs runs this when python3
and matplotlib are installed).

Usage: python3 demo/bench/matplotlib_figure.py TAPS.safetensors TOTAL_POINTS OUT.png
TAPS holds hidden_states.0, h.0, h.0.attn.c_proj, h.0.mlp.c_proj (as written by
`gpt2-taps run --out`); each is tiled to TOTAL_POINTS / 4 entries, as the page's benchmark
does. Prints one JSON line: points, seconds (mask + r + scatter + savefig), r.
"""
import json
import struct
import sys
import time

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[base + start : base + end], dtype="<f4").reshape(-1)
    return out


def main():
    path, total, png = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    taps = read_safetensors(path)
    n = total // 4
    x, y, a, m = (np.resize(taps[k], n) for k in ("hidden_states.0", "h.0", "h.0.attn.c_proj", "h.0.mlp.c_proj"))
    t0 = time.perf_counter()
    keep = np.maximum.reduce([np.abs(x), np.abs(y), np.abs(a), np.abs(m)]) <= 30
    x, y, a, m = x[keep], y[keep], a[keep], m[keep]
    pairs = [
        ("layer 0 vs layer 1", x, y),
        ("attention Δ vs MLP Δ", a, m),
        ("layer 0 + Δattn + ΔMLP vs layer 1", x + a + m, y),
        ("(layer 1 − layer 0) vs (Δattn + ΔMLP)", y - x, a + m),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 10))
    rs = []
    for ax, (title, u, v) in zip(axes.flat, pairs):
        r = float(np.corrcoef(u.astype(np.float64), v.astype(np.float64))[0, 1])
        rs.append(r)
        ax.scatter(u, v, s=0.5, alpha=0.35, linewidths=0, rasterized=True)
        if title != "attention Δ vs MLP Δ":
            lo, hi = float(min(u.min(), v.min())), float(max(u.max(), v.max()))
            ax.plot([lo, hi], [lo, hi], color="#d62728", linewidth=0.8)
        ax.set_title(f"{title}  r = {r:.3f}")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    seconds = time.perf_counter() - t0
    print(json.dumps({"points": int(4 * keep.sum()), "seconds": seconds, "r": rs}))


if __name__ == "__main__":
    main()
