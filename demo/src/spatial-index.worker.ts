// Worker entry: builds a spatial index from transferred x/y columns and transfers it back.
import { buildSpatialIndex } from './spatial-index.js';

self.onmessage = (e: MessageEvent<{ id: number; x: Float32Array; y: Float32Array }>) => {
  const { id, x, y } = e.data;
  const index = buildSpatialIndex(x, y);
  (self as unknown as Worker).postMessage({ id, index }, [index]);
};
