// Tensor comparison at the project's tolerance: for a tensor X of B (the reference),
// pass when max|A - B| <= rtol * max|B| + atol. NaN anywhere fails.
export interface Comparison {
  name: string;
  shape: number[];
  maxAbsDiff: number;
  maxAbsRef: number;
  bound: number;
  pass: boolean;
}

export const DEFAULT_RTOL = 5e-5;
export const DEFAULT_ATOL = 1e-6;

export function compareTensor(name: string, a: ArrayLike<number>, b: ArrayLike<number>, shape: number[],
  rtol = DEFAULT_RTOL, atol = DEFAULT_ATOL): Comparison {
  let maxAbsDiff = a.length === b.length ? 0 : Infinity;
  let maxAbsRef = 0;
  for (let i = 0; i < b.length && i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? NaN : d;
    if (Number.isNaN(maxAbsDiff)) break;
    maxAbsRef = Math.max(maxAbsRef, Math.abs(b[i]));
  }
  const bound = rtol * maxAbsRef + atol;
  return { name, shape, maxAbsDiff, maxAbsRef, bound, pass: maxAbsDiff <= bound };
}

/**
 * Finds reference tensor `name` among ours. Reference files may keep only the last K
 * rows of a large tensor, as `<name>_last<K>` (the fixture's `logits_last4` [4, V]):
 * that compares against the last K rows (dim 0) of our `<name>`.
 */
export function matchTensor(name: string, lookup: (name: string) => { data: Float32Array; shape: number[] } | undefined):
  { data: Float32Array; shape: number[] } | undefined {
  const direct = lookup(name);
  if (direct) return direct;
  const m = /^(.+)_last(\d+)$/.exec(name);
  const base = m ? lookup(m[1]) : undefined;
  if (!m || !base) return undefined;
  const K = Number(m[2]);
  const rows = base.shape[0];
  if (K > rows) return undefined;
  const rowSize = base.shape.slice(1).reduce((a, b) => a * b, 1);
  return { data: base.data.subarray((rows - K) * rowSize), shape: [K, ...base.shape.slice(1)] };
}
