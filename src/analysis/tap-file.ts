// A run's taps as a safetensors file: `input_ids` (I32 [T]) and each tap by its name.
import { writeSafetensors, type WriteTensor } from '../checkpoint/safetensors.js';
import type { TapResult } from '../engine/taps.js';

export function tapsToSafetensors(taps: TapResult, metadata: Record<string, string> = {}): Uint8Array {
  const tensors: WriteTensor[] = [
    { name: 'input_ids', dtype: 'I32', shape: [taps.inputIds.length], data: Int32Array.from(taps.inputIds) },
    ...taps.names.map((name) => ({ name, dtype: 'F32' as const, ...taps.get(name) })),
  ];
  return writeSafetensors(tensors, { format: 'pt', producer: 'gpt2-taps', ...metadata });
}
