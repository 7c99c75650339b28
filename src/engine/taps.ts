// The result of a run: the token ids and the requested taps, by Hugging Face name.
import { GPT2TapsError } from '../errors.js';
import type { GPT2Config } from '../checkpoint/config.js';
import { resolveTaps } from './forward.js';

export interface Tensor { data: Float32Array; shape: number[] }

export class TapResult {
  private readonly tensors: Map<string, Tensor>;

  constructor(private readonly config: GPT2Config, readonly inputIds: Uint32Array, entries: [string, Tensor][]) {
    this.tensors = new Map(entries);
  }

  /** Canonical names of the taps held, in forward order. */
  get names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    try {
      return resolveTaps(this.config, [name]).every((n) => this.tensors.has(n));
    } catch {
      return false;
    }
  }

  /** A tap by its name or TransformerLens alias. */
  get(name: string): Tensor {
    const [canonical] = resolveTaps(this.config, [name]);
    const t = this.tensors.get(canonical);
    if (!t) {
      throw new GPT2TapsError(`tap "${name}" was not requested in this run`, `taps held: ${this.names.join(', ') || '(none)'}`);
    }
    return t;
  }
}
