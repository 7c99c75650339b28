// Edits: interventions at tap points, in the format of the shared fixture's cases.json. An
// edit changes the value that flows on, like a Hugging Face forward hook returning a new
// output; it runs on the GPU (shaders/edit.wgsl) right after the op that makes its point
// (src/engine/forward.ts places it). Here: checking an edit against the model and the run,
// and the arrays the kernel reads. Every mistake is refused before anything runs.
import { GPT2TapsError } from '../errors.js';
import type { GPT2Config } from '../checkpoint/config.js';
import { tapInfo, tapShape } from './forward.js';
import type { Tensor } from './taps.js';

export type EditOp = 'zero' | 'set' | 'scale' | 'add' | 'patch';
const OPS: readonly EditOp[] = ['zero', 'set', 'scale', 'add', 'patch'];

/** Where `patch` takes its values from: a run's result, or the tensors of a taps file by name. */
export interface PatchSource {
  has(name: string): boolean;
  get(name: string): Tensor;
}

export interface Edit {
  /** a tap point, by name or alias (`gpt2-taps taps`) */
  at: string;
  op: EditOp;
  /** rows (token positions; query rows for attentions.l): 'all' (default) or a list */
  positions?: 'all' | number[];
  /** entries of the last axis (neurons, dimensions; keys for attentions.l) */
  columns?: number[];
  /** head slices of a [T, D] point (columns h·HD..(h+1)·HD; in each of q, k, v for c_attn), or whole heads of attentions.l */
  heads?: number[];
  value?: number;     // set
  factor?: number;    // scale
  vector?: number[];  // add: one value per selected column (all columns when none are selected)
  scale?: number;     // add: vector × scale (default 1)
  from?: PatchSource; // patch
}

const FIELDS: Record<EditOp, string[]> = {
  zero: [], set: ['value'], scale: ['factor'], add: ['vector', 'scale'], patch: ['from'],
};
const COMMON = ['at', 'op', 'positions', 'columns', 'heads'];

/** An edit checked against the model and the run, with what the edit kernel reads. */
export interface PreparedEdit {
  point: string;
  /** [A + rows + C]: head flags, flags of absolute rows, column ranks (-1: not selected) */
  sel: Int32Array<ArrayBuffer>;
  /** the add vector × 1 (the scale is in params), or the patch tensor [A, DR, DC]; never empty */
  data: Float32Array<ArrayBuffer>;
  /** the kernel's uniform for a run of T rows at positions p0.. (shaders/edit.wgsl Params) */
  params(T: number, p0: number, nx: number): ArrayBuffer;
}

/**
 * Checks edits for a run whose rows are positions 0..rows-1 (the tokens of a run; for a
 * generation, every position it may run) and prepares them. Patch sources must hold the point
 * with exactly `patchRows` rows (the run's tokens; a generation's prompt), and patch only those.
 */
export function prepareEdits(c: GPT2Config, edits: readonly unknown[], rows: number, patchRows = rows): PreparedEdit[] {
  if (!Array.isArray(edits)) throw new GPT2TapsError('edits must be a list of edits');
  return edits.map((e, i) => prepareEdit(c, e, i, rows, patchRows));
}

function prepareEdit(c: GPT2Config, raw: unknown, index: number, rows: number, patchRows: number): PreparedEdit {
  const where = `edit ${index}`;
  const fail = (why: string, hint?: string): never => { throw new GPT2TapsError(`${where}: ${why}`, hint); };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('is not an object like {"at": "h.0.mlp.act", "op": "zero"}');
  const e = raw as Record<string, unknown>;
  if (typeof e.at !== 'string') return fail('"at" must name a tap point', '`gpt2-taps taps` lists them');
  const at = e.at;
  const op = e.op as EditOp;
  if (!OPS.includes(op)) return fail(`"op" must be one of ${OPS.join(', ')}, got ${JSON.stringify(e.op)}`);
  for (const k of Object.keys(e)) {
    if (!COMMON.includes(k) && !FIELDS[op].includes(k)) fail(`unknown field "${k}" for op ${op} (it takes ${[...COMMON, ...FIELDS[op]].join(', ')})`);
  }
  let info;
  try {
    info = tapInfo(c, at);
  } catch (err) {
    return fail((err as Error).message);
  }
  const point = info.point;
  if (info.first !== undefined) {
    fail(`${at} is a view of ${point}, not a tap point: edit ${point} with "heads" or "columns"`);
  }
  const label = at === point ? point : `${at} (${point})`;

  // The point as [A, R, C]: attentions.l is [H, T, TK] (heads, query rows, keys); others [T, W].
  const shape = tapShape(c, point, rows);
  const isProbs = shape.length === 3;
  const A = isProbs ? shape[0] : 1;
  const C = shape[shape.length - 1];
  const D = c.n_embd, HD = D / c.n_head;

  const ints = (name: string, v: unknown, limit: number, what: string): number[] => {
    if (!Array.isArray(v) || v.length === 0) return fail(`"${name}" must be a non-empty list of integers`);
    const seen = new Set<number>();
    for (const x of v) {
      if (!Number.isInteger(x)) fail(`"${name}" holds ${JSON.stringify(x)}, not an integer`);
      if (x < 0 || x >= limit) fail(`${name.replace(/s$/, '')} ${x} is out of range: ${label} has ${limit} ${what} (0..${limit - 1})`);
      if (seen.has(x)) fail(`"${name}" lists ${x} twice`);
      seen.add(x);
    }
    return v as number[];
  };

  const sel = new Int32Array(A + rows + C);
  // heads
  const heads = e.heads === undefined ? undefined : ints('heads', e.heads, c.n_head, 'heads');
  if (isProbs) {
    for (let a = 0; a < A; a++) sel[a] = heads === undefined || heads.includes(a) ? 1 : 0;
  } else {
    sel[0] = 1;
  }
  // rows (a patch has values for the rows of its source only)
  const rowLimit = op === 'patch' ? patchRows : rows;
  if (e.positions === undefined || e.positions === 'all') sel.fill(1, A, A + rowLimit);
  else for (const r of ints('positions', e.positions, rowLimit, 'positions')) sel[A + r] = 1;
  // columns, by rank (the add vector's index)
  const cols = A + rows;
  let selected: number[];
  if (e.columns !== undefined && heads !== undefined && !isProbs) {
    return fail('give "columns" or "heads", not both');
  } else if (e.columns !== undefined) {
    selected = ints('columns', e.columns, C, isProbs ? 'keys' : 'columns');
  } else if (heads !== undefined && !isProbs) {
    const thirds = C === 3 * D ? 3 : C === D ? 1 : 0;
    if (thirds === 0) fail(`${label} has no heads: its rows are ${C} wide (heads split rows of n_embd ${D}, or c_attn's q, k and v)`);
    selected = [];
    for (let third = 0; third < thirds; third++) for (const h of [...heads].sort((a, b) => a - b)) {
      for (let d = 0; d < HD; d++) selected.push(third * D + h * HD + d);
    }
  } else {
    selected = Array.from({ length: C }, (_, k) => k);
  }
  sel.fill(-1, cols);
  selected.forEach((col, rank) => { sel[cols + col] = rank; });

  // the op's values
  const num = (name: string, fallback?: number): number => {
    const v = e[name] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`op ${op} needs "${name}", a finite number${e[name] === undefined ? '' : `, got ${JSON.stringify(e[name])}`}`);
    return v as number;
  };
  let code = 0, value = 0;
  let data = new Float32Array(4);
  let DR = 0, DC = 0;
  switch (op) {
    case 'zero': code = 0; break;
    case 'set': code = 1; value = num('value'); break;
    case 'scale': code = 2; value = num('factor'); break;
    case 'add': {
      code = 3;
      value = num('scale', 1);
      const v = e.vector;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) fail('op add needs "vector", a list of finite numbers');
      if ((v as number[]).length !== selected.length) {
        fail(`"vector" has ${(v as number[]).length} values, but the edit selects ${selected.length} columns of ${label}`,
          'one value per selected column, in the order of "columns" (or of the heads\' columns; all columns when none are given)');
      }
      data = Float32Array.from(v as number[]);
      break;
    }
    case 'patch': {
      code = 4;
      const from = e.from as PatchSource | undefined;
      if (!from || typeof from.has !== 'function') return fail('op patch needs "from": a taps file written by `gpt2-taps run` (CLI) or a TapResult (API)');
      const name = [point, ...info.aliases, at].find((n) => from.has(n));
      if (!name) return fail(`the patch source holds no tap ${point}`, `run the clean prompt with --taps ${point} (or all)`);
      const t = from.get(name);
      const want = tapShape(c, point, patchRows);
      if (t.shape.join() !== want.join()) {
        const T0 = isProbs ? t.shape[1] : t.shape[0];
        fail(`the patch source's ${point} has shape [${t.shape}], this run needs [${want}]` +
          (T0 !== patchRows ? `: it was made with T = ${T0}, this run has T = ${patchRows}` : ''));
      }
      data = Float32Array.from(t.data);
      DR = patchRows; DC = want[want.length - 1];
      break;
    }
  }
  if (data.length === 0) data = new Float32Array(4);

  return {
    point, sel, data,
    params(T: number, p0: number, nx: number): ArrayBuffer {
      const b = new ArrayBuffer(48);
      const u = new Uint32Array(b);
      // A, R, C, row0, op, RS, DR, DC, value, nx: C is the run's own width (keys grow in generation)
      u.set([A, T, isProbs ? p0 + T : C, p0, code, rows, DR, DC]);
      new Float32Array(b)[8] = value;
      u[9] = nx;
      return b;
    },
  };
}
