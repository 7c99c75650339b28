// topk — per row of an [R, N] matrix, the k largest values (k ≤ 16; ties: the lower index
// first) with their indices, and each one's softmax probability over the whole row,
// p = exp(x − max) / Σ exp(x − max). Used on logits (next-token distributions, the logit
// lens: probabilities) and on per-neuron maxima (most active neurons: the values).
//
// Bindings (group 0):
//   0 x       storage read        array<f32>  [R, N]
//   1 ids     storage read_write  array<u32>  [R, k]  indices, best first
//   2 vals    storage read_write  array<f32>  [R, k]  their values
//   3 probs   storage read_write  array<f32>  [R, k]  their softmax probabilities
//   4 params  uniform             Params { rows (R), n (N), k }
// Dispatch: (R, 1, 1) workgroups of 256 threads, one row per workgroup. Each thread keeps
// a sorted top-k of its strided entries and an online (max, Σexp); the (max, Σexp) pairs
// merge by a tree reduction; then k rounds of a workgroup argmax over the threads' heads,
// the winning thread popping its head.

struct Params { rows: u32, n: u32, k: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> vals: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;
const KMAX: u32 = 16u;
const NEG: f32 = -3.0e38;
var<workgroup> w_m: array<f32, WG>;
var<workgroup> w_s: array<f32, WG>;
var<workgroup> w_v: array<f32, WG>;
var<workgroup> w_i: array<u32, WG>;

// (value, index) a beats b: larger value, or equal value and smaller index.
fn beats(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return va > vb || (va == vb && ia < ib);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  if (r >= params.rows) { return; }
  let N = params.n;
  let K = min(params.k, KMAX);
  let o = r * N;

  var tv: array<f32, 16>;
  var ti: array<u32, 16>;
  for (var j = 0u; j < KMAX; j++) { tv[j] = NEG; ti[j] = 0xffffffffu; }
  var m = NEG;
  var s = 0.0;
  for (var i = lid; i < N; i += WG) {
    let v = x[o + i];
    // online softmax denominator
    if (v > m) { s = s * exp(m - v) + 1.0; m = v; } else { s += exp(v - m); }
    // insertion into the sorted local top-K (indices rise with i: ties stay behind)
    if (K > 0u && v > tv[K - 1u]) {
      var j = K - 1u;
      loop {
        if (j == 0u || !(v > tv[j - 1u])) { break; }
        tv[j] = tv[j - 1u];
        ti[j] = ti[j - 1u];
        j--;
      }
      tv[j] = v;
      ti[j] = i;
    }
  }

  // Merge (max, Σexp) across the workgroup.
  w_m[lid] = m;
  w_s[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st = st >> 1u) {
    if (lid < st) {
      let m1 = w_m[lid];
      let m2 = w_m[lid + st];
      let mm = max(m1, m2);
      w_s[lid] = w_s[lid] * exp(m1 - mm) + w_s[lid + st] * exp(m2 - mm);
      w_m[lid] = mm;
    }
    workgroupBarrier();
  }
  let gmax = w_m[0];
  let gsum = w_s[0];
  workgroupBarrier();

  // k rounds: the best head among the threads wins and is popped.
  var head = 0u;
  for (var round = 0u; round < K; round++) {
    var hv = NEG;
    var hi = 0xffffffffu;
    if (head < K) { hv = tv[head]; hi = ti[head]; }
    w_v[lid] = hv;
    w_i[lid] = hi;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st >> 1u) {
      if (lid < st && beats(w_v[lid + st], w_i[lid + st], w_v[lid], w_i[lid])) {
        w_v[lid] = w_v[lid + st];
        w_i[lid] = w_i[lid + st];
      }
      workgroupBarrier();
    }
    let bv = w_v[0];
    let bi = w_i[0];
    workgroupBarrier();
    if (head < K && hi == bi && hi != 0xffffffffu) { head++; }
    if (lid == 0u) {
      ids[r * K + round] = bi;
      vals[r * K + round] = bv;
      probs[r * K + round] = select(0.0, exp(bv - gmax) / gsum, bi != 0xffffffffu);
    }
  }
}
