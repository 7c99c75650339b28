// The result of a run: the token ids and the requested taps, by Hugging Face name.
import { GPT2TapsError } from '../errors.js';
import type { GPT2Config } from '../checkpoint/config.js';
import { resolveTaps } from './forward.js';

export interface Tensor { data: Float32Array; shape: number[] }

/** A tap kept on the GPU: float32, row-major, `shape`; usage STORAGE | COPY_SRC | COPY_DST. */
export interface GpuTensor { buffer: GPUBuffer; shape: number[] }

/**
 * The taps of a run left on the GPU (GPT2.runOnGpu), for the caller's own kernels: no read-back.
 * The buffers are the caller's: destroy() frees them (the model's dispose() does too).
 */
export class GpuTaps {
  constructor(private readonly config: GPT2Config, readonly ids: Uint32Array, private readonly tensors: Map<string, GpuTensor>,
    private readonly free: (b: GPUBuffer) => void) {}

  /** Canonical names of the taps held, in forward order. */
  get names(): string[] {
    return [...this.tensors.keys()];
  }

  /** A tap by its name or TransformerLens alias. */
  get(name: string): GpuTensor {
    const [canonical] = resolveTaps(this.config, [name]);
    const t = this.tensors.get(canonical);
    if (!t) throw new GPT2TapsError(`tap "${name}" was not requested in this run`, `taps held: ${this.names.join(', ') || '(none)'}`);
    return t;
  }

  destroy(): void {
    for (const t of this.tensors.values()) this.free(t.buffer);
    this.tensors.clear();
  }
}

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
