// residual_compact — the plotted points: writes the kept entries, in entry order, as
// eight planes of coordinates normalised to [−1, 1] (the panels' u and v, see
// residual_sums) plus the entry index i = t·D + d of each point (for hover and lasso).
// Plane q holds lane q of u (q < 4) or lane q − 4 of v: coords[q·K + j] =
// (value − lo[q]) · scale[q] − 1, with scale = 2 / (hi − lo) chosen on the CPU.
//
// Bindings (group 0):
//   0 x        storage read        array<f32>  [N]     hidden_states.l
//   1 y        storage read        array<f32>  [N]     h.l
//   2 a        storage read        array<f32>  [N]     h.l.attn.c_proj
//   3 m        storage read        array<f32>  [N]     h.l.mlp.c_proj
//   4 offsets  storage read        array<u32>  [G]     from residual_totals
//   5 coords   storage read_write  array<f32>  [8, K]  u planes 0–3, v planes 4–7
//   6 index    storage read_write  array<u32>  [K]     entry index of each point
//   7 params   uniform             Params { n, threshold, k (K), lo_u, lo_v, scale_u, scale_v }
// Dispatch: (G, 1, 1) workgroups of 64 threads, G = ceil(N / 4096) (the workgroups of
// residual_sums, whose kept counts give the offsets), 64 consecutive entries
// per thread; a workgroup scan of the kept flags orders the points as the entries.

struct Params {
  n: u32, threshold: f32, k: u32, pad: u32,
  lo_u: vec4<f32>, lo_v: vec4<f32>, scale_u: vec4<f32>, scale_v: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> coords: array<f32>;
@group(0) @binding(6) var<storage, read_write> index: array<u32>;
@group(0) @binding(7) var<uniform> params: Params;

const WG: u32 = 64u;
const ITEMS: u32 = 64u;
var<workgroup> scan: array<u32, WG>;

fn is_kept(i: u32) -> bool {
  return max(max(abs(x[i]), abs(y[i])), max(abs(a[i]), abs(m[i]))) <= params.threshold;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x * WG + lid) * ITEMS;
  var count = 0u;
  for (var k = 0u; k < ITEMS; k++) {
    let i = first + k;
    if (i < params.n && is_kept(i)) { count += 1u; }
  }
  scan[lid] = count;
  workgroupBarrier();
  for (var s = 1u; s < WG; s = s << 1u) {
    var add = 0u;
    if (lid >= s) { add = scan[lid - s]; }
    workgroupBarrier();
    scan[lid] = scan[lid] + add;
    workgroupBarrier();
  }
  var j = offsets[wid.x] + scan[lid] - count;
  let K = params.k;
  for (var k = 0u; k < ITEMS; k++) {
    let i = first + k;
    if (i >= params.n || !is_kept(i)) { continue; }
    let xi = x[i];
    let yi = y[i];
    let ai = a[i];
    let mi = m[i];
    let u = (vec4<f32>(xi, ai, xi + ai + mi, yi - xi) - params.lo_u) * params.scale_u - 1.0;
    let v = (vec4<f32>(yi, mi, yi, ai + mi) - params.lo_v) * params.scale_v - 1.0;
    coords[j] = u.x;
    coords[K + j] = u.y;
    coords[2u * K + j] = u.z;
    coords[3u * K + j] = u.w;
    coords[4u * K + j] = v.x;
    coords[5u * K + j] = v.y;
    coords[6u * K + j] = v.z;
    coords[7u * K + j] = v.w;
    index[j] = i;
    j += 1u;
  }
}
