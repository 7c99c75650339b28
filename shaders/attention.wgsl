// attention — causal multi-head self-attention with softmax, for one (query t, head h):
//   s[j]   = (q_t · k_j) / sqrt(HD)                     for j <= t (causal mask: j > t excluded)
//   p[j]   = exp(s[j] - max s) / Σ exp(s[. ] - max s)    (numerically stable softmax)
//   out[t, h*HD : (h+1)*HD] = Σ_j p[j] · v_j            (heads merged back into [T, D])
// q, k, v are the thirds of the c_attn output: qkv[t] = [q (D) | k (D) | v (D)], head h at
// columns h*HD .. h*HD+HD-1 of each third, as Hugging Face's split_heads.
//
// Bindings (group 0):
//   0 qkv     storage read        array<vec4<f32>>  [T, 3D/4]
//   1 probs   storage read_write  array<f32>        [H, T, T]  p, zero above the diagonal (attentions.l)
//   2 out     storage read_write  array<f32>        [T, D]
//   3 params  uniform             Params { T }
// Overrides: H (n_head), HD (head dim, D = H*HD), N (n_positions: the longest T).
// Invariants: HD % 4 == 0, T <= N, N <= 4096 (scores live in workgroup memory).
// Dispatch: (T, H, 1) workgroups of 64 threads; workgroup (t, h).

override H: u32;
override HD: u32;
override N: u32;

struct Params { T: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

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

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let t = wid.x;
  let h = wid.y;
  let D4 = H * HD / 4u;        // one third of a qkv row, in vec4
  let row4 = 3u * D4;          // a whole qkv row, in vec4
  let hd4 = HD / 4u;
  let q0 = t * row4 + h * hd4;
  let scale = sqrt(f32(HD));

  // Scores for keys j <= t, one key per thread at a time.
  var local_max = -0x1.fffffep+127f;  // lowest finite f32
  for (var j = lid; j <= t; j += WG) {
    let k0 = j * row4 + D4 + h * hd4;
    var dot4 = vec4<f32>(0.0);
    for (var c = 0u; c < hd4; c++) { dot4 = fma(qkv[q0 + c], qkv[k0 + c], dot4); }
    let s = (dot4.x + dot4.y + dot4.z + dot4.w) / scale;
    scores[j] = s;
    local_max = max(local_max, s);
  }
  let m = workgroup_reduce(local_max, lid, true);

  var local_sum = 0.0;
  for (var j = lid; j <= t; j += WG) {
    let e = exp(scores[j] - m);
    scores[j] = e;
    local_sum += e;
  }
  let inv_sum = 1.0 / workgroup_reduce(local_sum, lid, false);

  let prow = (h * T + t) * T;
  for (var j = lid; j < T; j += WG) {
    var p = 0.0;
    if (j <= t) { p = scores[j] * inv_sum; scores[j] = p; }
    probs[prow + j] = p;
  }
  workgroupBarrier();

  // out[t, h*HD + d] = Σ_j p[j] v_j[d], one output column per thread.
  let D = H * HD;
  for (var d = lid; d < HD; d += WG) {
    let v0 = 2u * D + h * HD + d;   // scalar column of v_j[d] within a qkv row
    var acc = 0.0;
    for (var j = 0u; j <= t; j++) {
      let e = j * 3u * D + v0;
      acc = fma(scores[j], qkv[e / 4u][e % 4u], acc);
    }
    out[t * D + h * HD + d] = acc;
  }
}
