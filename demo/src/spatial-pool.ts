// A small pool of workers building regl-scatterplot spatial indexes off the main thread,
// for very large panels only: with the leaf size of buildSpatialIndex an index of 1M
// points takes ~70 ms in place, while a worker round trip (start, copies, transfer)
// measured 0.1–1.5 s on a busy 2-core machine.
import { buildSpatialIndex } from './spatial-index.js';

const IN_PLACE_BELOW = 3_000_000;

interface Job { id: number; x: Float32Array; y: Float32Array; resolve: (b: ArrayBuffer) => void; reject: (e: unknown) => void }
interface Slot { worker: Worker; job?: Job }

export class SpatialIndexPool {
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private nextId = 1;

  // Two workers even on two cores: the main thread mostly waits (on the GPU, or for frames) while indexes build.
  constructor(private readonly size = Math.max(2, Math.min(4, (navigator.hardwareConcurrency || 2) - 1))) {}

  /** The serialized KDBush index of the points; x and y are copied, not consumed. */
  build(x: Float32Array, y: Float32Array): Promise<ArrayBuffer> {
    if (x.length < IN_PLACE_BELOW || typeof Worker === 'undefined') return Promise.resolve(buildSpatialIndex(x, y));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, x, y, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Slot {
    const worker = new Worker(new URL('./spatial-index.worker.ts', import.meta.url), { type: 'module', name: 'spatial-index' });
    const slot: Slot = { worker };
    worker.onmessage = (e: MessageEvent<{ id: number; index: ArrayBuffer }>) => {
      const job = slot.job;
      slot.job = undefined;
      if (job && job.id === e.data.id) job.resolve(e.data.index);
      this.pump();
    };
    worker.onerror = (e) => {
      const job = slot.job;
      slot.job = undefined;
      this.slots = this.slots.filter((s) => s !== slot);
      worker.terminate();
      // The worker failed (or could not start): index on the main thread instead.
      if (job) {
        try { job.resolve(buildSpatialIndex(job.x, job.y)); } catch (err) { job.reject(new Error(`spatial index failed: ${e.message || String(err)}`)); }
      }
      this.pump();
    };
    this.slots.push(slot);
    return slot;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => !s.job) ?? (this.slots.length < this.size ? this.spawn() : undefined);
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      // Transfer copies: the caller keeps its arrays (and the job them, for the main-thread fallback).
      const x = job.x.slice(), y = job.y.slice();
      slot.worker.postMessage({ id: job.id, x, y }, [x.buffer, y.buffer]);
    }
  }

  terminate(): void {
    for (const s of this.slots) s.worker.terminate();
    this.slots = [];
  }
}
