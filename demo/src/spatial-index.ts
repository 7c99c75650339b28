// A spatial index for regl-scatterplot, built from typed arrays in a Web Worker.
// regl-scatterplot needs a KDBush (v4 format) index of the points for hover and lasso;
// given only points it builds one from an array of [x, y] arrays, and for more than
// 1M points posts that array to a worker (a structured clone of millions of small
// arrays: seconds). Here the x/y columns are transferred instead and the index is
// written in the same serialized KDBush format (header, ids, padding, coords; coords
// in Float32, ids Uint16/Uint32), so `scatterplot.draw(points, { spatialIndex })`
// adopts it as is.

const HEADER_SIZE = 8;
const VERSION = 1;
const FLOAT32_TYPE_INDEX = 7; // KDBush's ARRAY_TYPES.indexOf(Float32Array)

/** Builds the serialized KDBush index of n points (x[i], y[i]). Runs in a worker or on the main thread. */
export function buildSpatialIndex(x: Float32Array, y: Float32Array, nodeSize = leafSize(x.length)): ArrayBuffer {
  const n = x.length;
  const idsBytes = n * (n < 65536 ? 2 : 4);
  const pad = (8 - (idsBytes % 8)) % 8;
  const data = new ArrayBuffer(HEADER_SIZE + idsBytes + pad + n * 2 * 4);
  new Uint8Array(data, 0, 2).set([0xdb, (VERSION << 4) + FLOAT32_TYPE_INDEX]);
  new Uint16Array(data, 2, 1)[0] = nodeSize;
  new Uint32Array(data, 4, 1)[0] = n;
  const ids = n < 65536 ? new Uint16Array(data, HEADER_SIZE, n) : new Uint32Array(data, HEADER_SIZE, n);
  const coords = new Float32Array(data, HEADER_SIZE + idsBytes + pad, n * 2);
  for (let i = 0; i < n; i++) {
    ids[i] = i;
    coords[2 * i] = x[i];
    coords[2 * i + 1] = y[i];
  }
  if (n > 0) kdSort(ids, coords, nodeSize, 0, n - 1, 0);
  return data;
}

/**
 * Points per leaf. The kd-sort costs O(n) per level, so fewer levels build faster; a
 * query scans whole leaves, so leaves must stay small enough for hover (a few leaves
 * per mouse move). n/128 clamped to [16, 16384] keeps about 7 levels at millions of
 * points (regl-scatterplot's own index uses 16: about 16 levels) and leaves that
 * scan in well under a millisecond.
 */
export function leafSize(n: number): number {
  return Math.max(16, Math.min(16384, n >> 7));
}

type Ids = Uint16Array | Uint32Array;

// kd-sort (as KDBush 4.0.2, ISC, Vladimir Agafonkin): median split on alternating axes,
// with an explicit stack instead of recursion.
function kdSort(ids: Ids, coords: Float32Array, nodeSize: number, left0: number, right0: number, axis0: number): void {
  const stack = [left0, right0, axis0];
  while (stack.length) {
    const axis = stack.pop()!;
    const right = stack.pop()!;
    const left = stack.pop()!;
    if (right - left <= nodeSize) continue;
    const m = (left + right) >> 1;
    select(ids, coords, m, left, right, axis);
    stack.push(left, m - 1, 1 - axis, m + 1, right, 1 - axis);
  }
}

// Floyd–Rivest selection: items [left, k) are <= item k <= items (k, right] on `axis`.
function select(ids: Ids, coords: Float32Array, k: number, left: number, right: number, axis: number): void {
  while (right > left) {
    if (right - left > 600) {
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      select(ids, coords, k, newLeft, newRight, axis);
    }
    const t = coords[2 * k + axis];
    let i = left;
    let j = right;
    swapItem(ids, coords, left, k);
    if (coords[2 * right + axis] > t) swapItem(ids, coords, left, right);
    while (i < j) {
      swapItem(ids, coords, i, j);
      i++;
      j--;
      while (coords[2 * i + axis] < t) i++;
      while (coords[2 * j + axis] > t) j--;
    }
    if (coords[2 * left + axis] === t) swapItem(ids, coords, left, j);
    else {
      j++;
      swapItem(ids, coords, j, right);
    }
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swapItem(ids: Ids, coords: Float32Array, i: number, j: number): void {
  const t = ids[i]; ids[i] = ids[j]; ids[j] = t;
  const a = coords[2 * i]; coords[2 * i] = coords[2 * j]; coords[2 * j] = a;
  const b = coords[2 * i + 1]; coords[2 * i + 1] = coords[2 * j + 1]; coords[2 * j + 1] = b;
}
