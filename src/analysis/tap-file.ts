// A run's taps as a safetensors file: `input_ids` (I32 [T]) and each tap by its name; and
// such a file read back as the source of a `patch` edit.
import { GPT2TapsError } from '../errors.js';
import { bytesSource, readAllTensors, writeSafetensors, type WriteTensor } from '../checkpoint/safetensors.js';
import type { TapResult } from '../engine/taps.js';
import type { PatchSource } from '../engine/edits.js';

export function tapsToSafetensors(taps: TapResult, metadata: Record<string, string> = {}): Uint8Array {
  const tensors: WriteTensor[] = [
    { name: 'input_ids', dtype: 'I32', shape: [taps.inputIds.length], data: Int32Array.from(taps.inputIds) },
    ...taps.names.map((name) => ({ name, dtype: 'F32' as const, ...taps.get(name) })),
  ];
  return writeSafetensors(tensors, { format: 'pt', producer: 'gpt2-taps', ...metadata });
}

/** A taps file (as `gpt2-taps run` writes it) as the source of `patch` edits; `label` names it in errors. */
export async function tapFileSource(bytes: Uint8Array, label: string): Promise<PatchSource> {
  let floats;
  try {
    ({ floats } = await readAllTensors(bytesSource(bytes)));
  } catch (e) {
    throw new GPT2TapsError(`patch source ${label}: ${(e as Error).message}`);
  }
  return {
    has: (name) => floats.has(name),
    get: (name) => floats.get(name)!,
  };
}
