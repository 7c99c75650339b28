// The seed analysis: does layer l+1 = layer l + attention Δ + MLP Δ? Per layer, the
// Pearson r of four pairs over all tokens × dims, after dropping every entry where any
// of the four tensors exceeds the threshold in absolute value (GPT-2 has a few huge
// residual dimensions that would otherwise dominate r).
// "Layer l+1" is the block output h.l — for the last layer too: Hugging Face's last
// hidden state has ln_f applied, so it is not the residual stream.
import type { GPT2Config } from '../checkpoint/config.js';
import type { TapResult } from '../engine/taps.js';

export interface LayerResiduals {
  layer: number;
  kept: number;           // entries left after the threshold mask
  total: number;          // T * D
  rLayers: number;        // r(layer l, layer l+1)
  rDeltas: number;        // r(attention Δ, MLP Δ)
  rReconstruction: number;// r(layer l + Δattn + Δmlp, layer l+1)
  rDifference: number;    // r(layer l+1 - layer l, Δattn + Δmlp)
  maxReconstructionError: number; // max |layer l + Δattn + Δmlp - layer l+1| over kept entries
}

/** The taps the analysis reads (hidden_states.l, h.l and both deltas of every layer), as globs. */
export const RESIDUAL_TAPS = ['hidden_states.*', 'h.*'];

/** Accumulates the sums Pearson's r needs, in float64. */
class Pearson {
  n = 0; sx = 0; sy = 0; sxx = 0; syy = 0; sxy = 0;
  add(x: number, y: number): void {
    this.n++; this.sx += x; this.sy += y; this.sxx += x * x; this.syy += y * y; this.sxy += x * y;
  }
  get r(): number {
    const cov = this.sxy - (this.sx * this.sy) / this.n;
    const vx = this.sxx - (this.sx * this.sx) / this.n;
    const vy = this.syy - (this.sy * this.sy) / this.n;
    return cov / Math.sqrt(vx * vy);
  }
}

export function residualStats(c: GPT2Config, taps: TapResult, threshold = 30): LayerResiduals[] {
  const out: LayerResiduals[] = [];
  for (let l = 0; l < c.n_layer; l++) {
    const x = taps.get(`hidden_states.${l}`).data;
    const y = taps.get(`h.${l}`).data;
    const a = taps.get(`h.${l}.attn.c_proj`).data;
    const m = taps.get(`h.${l}.mlp.c_proj`).data;
    const layers = new Pearson(), deltas = new Pearson(), recon = new Pearson(), diff = new Pearson();
    let maxErr = 0;
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]) > threshold || Math.abs(y[i]) > threshold || Math.abs(a[i]) > threshold || Math.abs(m[i]) > threshold) continue;
      const sum = x[i] + a[i] + m[i];
      layers.add(x[i], y[i]);
      deltas.add(a[i], m[i]);
      recon.add(sum, y[i]);
      diff.add(y[i] - x[i], a[i] + m[i]);
      maxErr = Math.max(maxErr, Math.abs(sum - y[i]));
    }
    out.push({
      layer: l, kept: layers.n, total: x.length,
      rLayers: layers.r, rDeltas: deltas.r, rReconstruction: recon.r, rDifference: diff.r, maxReconstructionError: maxErr,
    });
  }
  return out;
}
