// attention — causal multi-head self-attention with softmax, for one (query t, head h), writing
// the probabilities (the "rows" kernel: runs that tap or edit attentions.l; attention_flash
// computes the same out without them):
//   s[j]   = (q_t · k_j) / sqrt(HD)                     for j <= P0 + t (causal mask: later keys excluded)
//   p[j]   = exp(s[j] - max s) / Σ exp(s[. ] - max s)    (numerically stable softmax)
//   out[t, h*HD : (h+1)*HD] = Σ_j p[j] · v_j            (heads merged back into [T, D])
// Query row t sits at absolute position P0 + t; there are TK = P0 + T keys. q, k, v are the
// thirds of the c_attn output: qkv[t] = [q (D) | k (D) | v (D)], head h at columns
// h*HD .. h*HD+HD-1 of each third, as Hugging Face's split_heads. Without CACHED, keys and
// values are the rows of qkv itself (P0 = 0, TK = T).
// The scores wait in the row of probs that the probabilities then overwrite, so no workgroup
// array grows with TK: each thread keeps only the running max and sum of its own keys
// (online softmax), merged across the workgroup once.
//
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   CACHED       keys and values come from the KV cache kv [TK, 2D] (row j = k_j | v_j, written
//                by kv_store for every position so far); generation runs T = 1 per step
//
// Bindings (group 0):
//   0 qkv     storage read        array<vec4<f32>>  [T, 3D/4]
//   1 probs   storage read_write  array<f32>        [H, T, TK]  p, zero after the causal limit (attentions.l)
//   2 out     storage read_write  array<vec4<f32>>  [T, D/4]
//   3 params  uniform             Params { T, KS (unused), P0, TK }
//   4 kv      storage read        array<vec4<f32>>  [TK, 2D/4]  (CACHED only)
// Overrides: H (n_head), HD (head dim, D = H*HD).
// Invariants: HD % 4 == 0. No limit on TK (workgroup memory is a fixed 1600 bytes).
// Dispatch: (T, H, 1) workgroups of 64 threads; workgroup (t, h).

override H: u32;
override HD: u32;

struct Params { T: u32, KS: u32, P0: u32, TK: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;
#if CACHED
@group(0) @binding(4) var<storage, read> kv: array<vec4<f32>>;
#endif

const WG: u32 = 64u;
const LOWEST: f32 = -0x1.fffffep+127f;  // lowest finite f32: the max of no scores
var<workgroup> stats: array<vec2<f32>, WG>;  // (max, Σ exp(s - max)) of each thread's keys
var<workgroup> groups: array<vec2<f32>, 8>;  // the same for each group of 8 threads
var<workgroup> part: array<vec4<f32>, WG>;   // each key lane's share of out

// Keys and values: rows of qkv (k at third 1, v at third 2), or of the cache (k | v).
#if CACHED
const KV_ROW: u32 = 2u;  // a key/value row, in units of D
const K_AT: u32 = 0u;
fn kv4(e4: u32) -> vec4<f32> { return kv[e4]; }
#else
const KV_ROW: u32 = 3u;
const K_AT: u32 = 1u;
fn kv4(e4: u32) -> vec4<f32> { return qkv[e4]; }
#endif

// Merges two (max, Σ exp(s - max)) partial softmax sums into one.
fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let TK = params.TK;
  let t = wid.x;
  let h = wid.y;
  let last = params.P0 + t;    // the last key this query sees
  let D4 = H * HD / 4u;        // one third of a qkv row, in vec4
  let hd4 = HD / 4u;
  let q0 = t * 3u * D4 + h * hd4;
  let k0 = K_AT * D4 + h * hd4;          // key j, vec4 c at kv4(j * KV_ROW * D4 + k0 + c)
  let v0 = (K_AT + 1u) * D4 + h * hd4;   // and its value at kv4(j * KV_ROW * D4 + v0 + c)
  let scale = sqrt(f32(HD));
  let prow = (h * T + t) * TK;

  // 1. Scores of keys j <= last, one key per thread at a time, parked in this row of probs;
  //    each thread keeps the max m of its scores and l = Σ exp(s - m), with one exp per key.
  var m = LOWEST;
  var l = 0.0;
  for (var j = lid; j <= last; j += WG) {
    let kj = j * KV_ROW * D4;
    var dot4 = vec4<f32>(0.0);
    for (var c = 0u; c < hd4; c++) { dot4 = fma(qkv[q0 + c], kv4(kj + k0 + c), dot4); }
    let s = (dot4.x + dot4.y + dot4.z + dot4.w) / scale;
    probs[prow + j] = s;
    let e = exp(min(m, s) - max(m, s));
    l = select(l + e, l * e + 1.0, s > m);
    m = max(m, s);
  }

  // 2. The row's max and sum: groups of 8 threads merged by 8 threads, then the 8 groups by all.
  stats[lid] = vec2<f32>(m, l);
  workgroupBarrier();
  if (lid < 8u) {
    var g = vec2<f32>(LOWEST, 0.0);
    for (var k = 0u; k < 8u; k++) { g = merge(g, stats[lid * 8u + k]); }
    groups[lid] = g;
  }
  workgroupBarrier();
  var row = vec2<f32>(LOWEST, 0.0);
  for (var k = 0u; k < 8u; k++) { row = merge(row, groups[k]); }
  let inv_sum = 1.0 / row.y;

  // 3. p[j] over the same keys per thread as step 1 (its own writes: no barrier), zero past last.
  for (var j = lid; j < TK; j += WG) {
    var p = 0.0;
    if (j <= last) { p = exp(probs[prow + j] - row.x) * inv_sum; }
    probs[prow + j] = p;
  }
  storageBarrier();

  // 4. out = Σ_j p[j] v_j. Thread lid takes vec4 column c = lid % hd4 over the keys of its lane
  //    lid / hd4 (coalesced rows of v), and the lanes' sums are added in workgroup memory.
  let out0 = t * D4 + h * hd4;
  if (hd4 > WG) {  // HD > 256: no room for lanes; each thread takes whole columns
    for (var c = lid; c < hd4; c += WG) {
      var acc = vec4<f32>(0.0);
      for (var j = 0u; j <= last; j++) { acc = fma(vec4<f32>(probs[prow + j]), kv4(j * KV_ROW * D4 + v0 + c), acc); }
      out[out0 + c] = acc;
    }
  } else {
    let lanes = WG / hd4;
    let lane = lid / hd4;
    let c = lid % hd4;
    var acc = vec4<f32>(0.0);
    if (lane < lanes) {
      for (var j = lane; j <= last; j += lanes) { acc = fma(vec4<f32>(probs[prow + j]), kv4(j * KV_ROW * D4 + v0 + c), acc); }
    }
    part[lid] = acc;
    workgroupBarrier();
    if (lid < hd4) {
      var o = part[lid];
      for (var k = 1u; k < lanes; k++) { o += part[k * hd4 + lid]; }
      out[out0 + lid] = o;
    }
  }
}
