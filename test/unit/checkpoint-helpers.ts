// Shared by the checkpoint tests.
import { expect } from 'vitest';
import { GPT2TapsError } from '../../src/errors.js';
import { bytesSource } from '../../src/checkpoint/safetensors.js';
import { openCheckpoint } from '../../src/checkpoint/checkpoint.js';

/** The message of the GPT2TapsError that opening `bytes` (with `cfg` as config.json) throws. */
export async function openError(bytes: Uint8Array, cfg?: Record<string, unknown>): Promise<string> {
  try {
    await openCheckpoint(bytesSource(bytes), cfg);
  } catch (e) {
    expect(e).toBeInstanceOf(GPT2TapsError);
    return (e as Error).message;
  }
  throw new Error('openCheckpoint did not throw');
}
