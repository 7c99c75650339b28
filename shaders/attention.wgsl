// attention — causal multi-head self-attention with softmax, for one (query t, head h):
//   s[j]   = (q_t · k_j) / sqrt(HD)                     for j <= P0 + t (causal mask: later keys excluded)
//   p[j]   = exp(s[j] - max s) / Σ exp(s[. ] - max s)    (numerically stable softmax)
//   out[t, h*HD : (h+1)*HD] = Σ_j p[j] · v_j            (heads merged back into [T, D])
// Query row t sits at absolute position P0 + t; there are TK = P0 + T keys. q, k, v are the
// thirds of the c_attn output: qkv[t] = [q (D) | k (D) | v (D)], head h at columns
// h*HD .. h*HD+HD-1 of each third, as Hugging Face's split_heads. Without CACHED, keys and
// values are the rows of qkv itself (P0 = 0, TK = T).
//
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   CACHED       keys and values come from the KV cache kv [TK, 2D] (row j = k_j | v_j, written
//                by kv_store for every position so far); generation runs T = 1 per step
//
// Bindings (group 0):
//   0 qkv     storage read        array<vec4<f32>>  [T, 3D/4]
//   1 probs   storage read_write  array<f32>        [H, T, TK]  p, zero after the causal limit (attentions.l)
//   2 out     storage read_write  array<f32>        [T, D]
//   3 params  uniform             Params { T, KS (unused), P0, TK }
//   4 kv      storage read        array<vec4<f32>>  [TK, 2D/4]  (CACHED only)
// Overrides: H (n_head), HD (head dim, D = H*HD), N (n_positions: the most keys).
// Invariants: HD % 4 == 0, TK <= N, N <= 4096 (scores live in workgroup memory).
// Dispatch: (T, H, 1) workgroups of 64 threads; workgroup (t, h).

override H: u32;
override HD: u32;
override N: u32;

struct Params { T: u32, KS: u32, P0: u32, TK: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#if CACHED
@group(0) @binding(4) var<storage, read> kv: array<vec4<f32>>;
#endif

const WG: u32 = 64u;
var<workgroup> scores: array<f32, N>;
var<workgroup> red: array<f32, WG>;

fn workgroup_reduce(v: f32, lid: u32, is_max: bool) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = select(red[lid] + red[lid + s], max(red[lid], red[lid + s]), is_max);
    }
    workgroupBarrier();
  }
  let result = red[0];
  workgroupBarrier();
  return result;
}

// Keys and values: rows of qkv (k at third 1, v at third 2), or of the cache (k | v).
#if CACHED
const KV_ROW: u32 = 2u;  // a key/value row, in units of D
const K_AT: u32 = 0u;
#else
const KV_ROW: u32 = 3u;
const K_AT: u32 = 1u;
#endif

fn key4(j: u32, c4: u32) -> vec4<f32> {
  let e4 = j * KV_ROW * (H * HD / 4u) + K_AT * (H * HD / 4u) + c4;
#if CACHED
  return kv[e4];
#else
  return qkv[e4];
#endif
}

fn value(j: u32, col: u32) -> f32 {
  let e = j * KV_ROW * H * HD + (K_AT + 1u) * H * HD + col;
#if CACHED
  return kv[e / 4u][e % 4u];
#else
  return qkv[e / 4u][e % 4u];
#endif
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
  let scale = sqrt(f32(HD));

  // Scores for keys j <= last, one key per thread at a time.
  var local_max = -0x1.fffffep+127f;  // lowest finite f32
  for (var j = lid; j <= last; j += WG) {
    var dot4 = vec4<f32>(0.0);
    for (var c = 0u; c < hd4; c++) { dot4 = fma(qkv[q0 + c], key4(j, h * hd4 + c), dot4); }
    let s = (dot4.x + dot4.y + dot4.z + dot4.w) / scale;
    scores[j] = s;
    local_max = max(local_max, s);
  }
  let m = workgroup_reduce(local_max, lid, true);

  var local_sum = 0.0;
  for (var j = lid; j <= last; j += WG) {
    let e = exp(scores[j] - m);
    scores[j] = e;
    local_sum += e;
  }
  let inv_sum = 1.0 / workgroup_reduce(local_sum, lid, false);

  let prow = (h * T + t) * TK;
  for (var j = lid; j < TK; j += WG) {
    var p = 0.0;
    if (j <= last) { p = scores[j] * inv_sum; scores[j] = p; }
    probs[prow + j] = p;
  }
  workgroupBarrier();

  // out[t, h*HD + d] = Σ_j p[j] v_j[d], one output column per thread.
  let D = H * HD;
  for (var d = lid; d < HD; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j <= last; j++) { acc = fma(scores[j], value(j, h * HD + d), acc); }
    out[t * D + h * HD + d] = acc;
  }
}
