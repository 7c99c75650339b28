// sample — the next token from the logits of the last row, on the GPU: greedy (argmax, the
// lowest index among equal maxima) or sampled with Hugging Face's meaning of temperature,
// top-k and top-p (in that order):
//   x = logits / temperature;  top-k keeps x >= the k-th largest x (ties kept);
//   p = softmax over what is kept;  top-p drops, in ascending order of p, the tokens whose
//   cumulative probability is <= 1 − top_p (the most likely token always stays);
//   the token is the first index whose running sum of kept p exceeds u · Σ kept p.
// Thresholds are found exactly by a binary search over the bits of an order-preserving key of
// each value (32 passes over V each), so no sort is needed. The id is written to ids[0] (the
// next step's input) and to out[0] (read back).
//
// Bindings (group 0):
//   0 logits  storage read        array<f32>  [T, V]   row `row` is used
//   1 scratch storage read_write  array<f32>  [V]      p of the kept tokens, 0 for the others
//   2 ids     storage read_write  array<u32>  [≥ 1]    ids[0] = the token
//   3 out     storage read_write  array<u32>  [4]      out[0] = the token
//   4 params  uniform             Params { V, row, top_k (0: off), greedy, temperature, top_p, u }
// Dispatch: (1, 1, 1): one workgroup of 256 threads.

struct Params { V: u32, row: u32, top_k: u32, greedy: u32, temperature: f32, top_p: f32, u: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> redf: array<f32, WG>;
var<workgroup> redu: array<u32, WG>;
var<workgroup> chosen: u32;

/** An order-preserving u32 key of a float: a < b  ⇔  key(a) < key(b). */
fn key(f: f32) -> u32 {
  let b = bitcast<u32>(f);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn sum_f(v: f32, lid: u32) -> f32 {
  redf[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { redf[lid] = redf[lid] + redf[lid + s]; }
    workgroupBarrier();
  }
  let r = redf[0];
  workgroupBarrier();
  return r;
}

fn sum_u(v: u32, lid: u32) -> u32 {
  redu[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { redu[lid] = redu[lid] + redu[lid + s]; }
    workgroupBarrier();
  }
  let r = redu[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let V = params.V;
  let base = params.row * V;

  // argmax: the largest key, then the lowest index holding it
  var best = 0u;
  for (var i = lid; i < V; i += WG) { best = max(best, key(logits[base + i])); }
  redu[lid] = best;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { redu[lid] = max(redu[lid], redu[lid + s]); }
    workgroupBarrier();
  }
  let top = redu[0];
  workgroupBarrier();
  var first = V;
  for (var i = lid; i < V; i += WG) { if (key(logits[base + i]) == top) { first = min(first, i); } }
  redu[lid] = first;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { redu[lid] = min(redu[lid], redu[lid + s]); }
    workgroupBarrier();
  }
  let argmax = redu[0];
  workgroupBarrier();
  if (params.greedy != 0u) {
    if (lid == 0u) { ids[0] = argmax; out[0] = argmax; }
    return;
  }

  let inv_t = 1.0 / params.temperature;
  let m = logits[base + argmax] * inv_t;

  // top-k: the largest key K with count(key >= K) >= k (the k-th largest value)
  var kmin = 0u;
  if (params.top_k > 0u && params.top_k < V) {
    for (var b = 31; b >= 0; b--) {
      let cand = kmin | (1u << u32(b));
      var n = 0u;
      for (var i = lid; i < V; i += WG) { if (key(logits[base + i] * inv_t) >= cand) { n++; } }
      if (sum_u(n, lid) >= params.top_k) { kmin = cand; }
    }
  }

  // p over the kept tokens
  var z = 0.0;
  for (var i = lid; i < V; i += WG) {
    let x = logits[base + i] * inv_t;
    var p = 0.0;
    if (key(x) >= kmin) { p = exp(x - m); }
    scratch[i] = p;
    z += p;
  }
  let Z = sum_f(z, lid);

  // top-p: the largest key K with Σ_{key <= K} p <= (1 − top_p)·Z; those tokens are dropped
  if (params.top_p < 1.0) {
    let limit = (1.0 - params.top_p) * Z;
    var kdrop = 0u;
    var any = false;
    for (var b = 31; b >= 0; b--) {
      let cand = kdrop | (1u << u32(b));
      var s = 0.0;
      for (var i = lid; i < V; i += WG) {
        let p = scratch[i];
        if (p > 0.0 && key(p) <= cand) { s += p; }
      }
      if (sum_f(s, lid) <= limit) { kdrop = cand; any = true; }
    }
    if (any) {
      for (var i = lid; i < V; i += WG) {
        let p = scratch[i];
        if (p > 0.0 && key(p) <= kdrop && i != argmax) { scratch[i] = 0.0; }
      }
    }
    storageBarrier();
    workgroupBarrier();
  }

  // the token: running sums of p in index order; each thread owns a contiguous chunk
  let chunk = (V + WG - 1u) / WG;
  let lo = lid * chunk;
  let hi = min(lo + chunk, V);
  var mine = 0.0;
  for (var i = lo; i < hi; i++) { mine += scratch[i]; }
  redf[lid] = mine;
  if (lid == 0u) { chosen = argmax; }
  workgroupBarrier();
  var before = 0.0;
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    if (t < lid) { before += redf[t]; }
    total += redf[t];
  }
  let goal = params.u * total;
  if (mine > 0.0 && goal >= before && goal < before + mine) {
    var acc = before;
    var pick = V;
    for (var i = lo; i < hi; i++) {
      let p = scratch[i];
      if (p <= 0.0) { continue; }
      pick = i;  // the last kept token so far: the answer if rounding leaves acc <= goal
      acc += p;
      if (acc > goal) { break; }
    }
    chosen = pick;
  }
  workgroupBarrier();
  if (lid == 0u) { ids[0] = chosen; out[0] = chosen; }
}
