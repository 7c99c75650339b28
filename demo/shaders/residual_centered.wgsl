// residual_centered — pass 2 of the residual statistics: per workgroup, over the kept
// entries, the centred sums Σ(u − ū)², Σ(v − v̄)², Σ(u − ū)(v − v̄) of the four panels.
// Subtracting the means (from residual_totals) before multiplying keeps float32
// accurate where the raw sums Σu², Σuv would cancel catastrophically.
// Mask and quantities as in residual_sums: kept when max(|x|, |y|, |a|, |m|) <= threshold;
// u = (x, a, x + a + m, y − x), v = (y, m, y, a + m).
//
// Bindings (group 0):
//   0 x         storage read        array<f32>        [N]     hidden_states.l
//   1 y         storage read        array<f32>        [N]     h.l
//   2 a         storage read        array<f32>        [N]     h.l.attn.c_proj
//   3 m         storage read        array<f32>        [N]     h.l.mlp.c_proj
//   4 totals    storage read        array<vec4<f32>>  [6]     from residual_totals (means at 0, 1)
//   5 partials  storage read_write  array<vec4<f32>>  [G, 3]  Σdu², Σdv², Σdu·dv per workgroup
//   6 params    uniform             Params { n, threshold }
// Dispatch: (G, 1, 1) workgroups of 64 threads, G = ceil(N / 1024); thread t of workgroup g
// reads entries 1024 g + t + 64 k, k = 0..15.

struct Params { n: u32, threshold: f32, k: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read> totals: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> partials: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> params: Params;

const WG: u32 = 64u;
const ITEMS: u32 = 16u;
var<workgroup> w_uu: array<vec4<f32>, WG>;
var<workgroup> w_vv: array<vec4<f32>, WG>;
var<workgroup> w_uv: array<vec4<f32>, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let mean_u = totals[0];
  let mean_v = totals[1];
  var suu = vec4<f32>(0.0);
  var svv = vec4<f32>(0.0);
  var suv = vec4<f32>(0.0);
  let base = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= params.n) { break; }
    let xi = x[i];
    let yi = y[i];
    let ai = a[i];
    let mi = m[i];
    if (max(max(abs(xi), abs(yi)), max(abs(ai), abs(mi))) <= params.threshold) {
      let du = vec4<f32>(xi, ai, xi + ai + mi, yi - xi) - mean_u;
      let dv = vec4<f32>(yi, mi, yi, ai + mi) - mean_v;
      suu += du * du;
      svv += dv * dv;
      suv += du * dv;
    }
  }
  w_uu[lid] = suu; w_vv[lid] = svv; w_uv[lid] = suv;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      w_uu[lid] += w_uu[lid + s];
      w_vv[lid] += w_vv[lid + s];
      w_uv[lid] += w_uv[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let o = wid.x * 3u;
    partials[o] = w_uu[0];
    partials[o + 1u] = w_vv[0];
    partials[o + 2u] = w_uv[0];
  }
}
