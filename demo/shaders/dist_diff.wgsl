// dist_diff — how far two next-token distributions are apart: the softmaxes p, q of two
// logit rows (a clean run and an edited run, same position) and
//   total variation ½ Σ|p − q|,  KL(p ‖ q) = Σ p (log p − log q),  max |p − q|.
//
// Bindings (group 0):
//   0 a       storage read        array<f32>  [V]  logits before (clean)
//   1 b       storage read        array<f32>  [V]  logits after (edited)
//   2 result  storage read_write  array<f32>  [4]  TV, KL(p‖q), max|p − q|, unused
//   3 params  uniform             Params { n (V) }
// Dispatch: (1, 1, 1), one workgroup of 256 threads: three strided passes over V
// (max, then Σexp of each row, then the three sums), each a tree reduction.

struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> red: array<vec4<f32>, WG>;

fn reduce(v: vec4<f32>, lid: u32, use_max: bool) -> vec4<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      if (use_max) { red[lid] = max(red[lid], red[lid + s]); } else { red[lid] = red[lid] + red[lid + s]; }
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let N = params.n;
  var mx = vec4<f32>(-3.0e38);
  for (var i = lid; i < N; i += WG) { mx = max(mx, vec4<f32>(a[i], b[i], 0.0, 0.0)); }
  let m = reduce(mx, lid, true);
  var se = vec4<f32>(0.0);
  for (var i = lid; i < N; i += WG) { se += vec4<f32>(exp(a[i] - m.x), exp(b[i] - m.y), 0.0, 0.0); }
  let z = reduce(se, lid, false);
  let la = m.x + log(z.x);
  let lb = m.y + log(z.y);
  var acc = vec4<f32>(0.0);
  var dmax = vec4<f32>(0.0);
  for (var i = lid; i < N; i += WG) {
    let lp = a[i] - la;
    let lq = b[i] - lb;
    let p = exp(lp);
    let q = exp(lq);
    acc += vec4<f32>(abs(p - q), p * (lp - lq), 0.0, 0.0);
    dmax = max(dmax, vec4<f32>(abs(p - q)));
  }
  let sums = reduce(acc, lid, false);
  let dm = reduce(dmax, lid, true);
  if (lid == 0u) {
    result[0] = 0.5 * sums.x;
    result[1] = max(sums.y, 0.0);
    result[2] = dm.x;
    result[3] = 0.0;
  }
}
