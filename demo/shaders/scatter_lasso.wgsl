// scatter_lasso — lasso selection on the WebGPU point layer: every kept entry whose point
// in panel `panel` lies inside the lasso polygon, tested on the GPU over all N entries. The
// polygon is in the panel's normalised coordinates g (as scatter_raster, before the camera:
// regl-scatterplot's lassoEnd gives it so); `box` is its bounding box (x0, y0, x1, y1). Each
// selected entry sets its bit in `selected` (which scatter_raster shows in every panel) and
// is appended to `list` (list[0] counts them; the order is not the entries').
//
// Bindings (group 0):
//   0 x         storage read        array<f32>        [N]  hidden_states.l
//   1 y         storage read        array<f32>        [N]  h.l
//   2 a         storage read        array<f32>        [N]  h.l.attn.c_proj
//   3 m         storage read        array<f32>        [N]  h.l.mlp.c_proj
//   4 polygon   storage read        array<vec2<f32>>  [V]  the lasso's vertices, V = count
//   5 selected  storage read_write  array<atomic<u32>> [ceil(N/32)]  zeroed by the caller
//   6 list      storage read_write  array<atomic<u32>> [1 + N]  [0] = K selected, then K entries
//                                                        (list[0] zeroed by the caller)
//   7 params    uniform             Params (as scatter_raster; uses n, threshold, panel, count, box, lo/scale)
// Dispatch: (ceil(N / 4096), 1, 1) workgroups of 64 threads, 64 entries per thread as
// scatter_raster. Inside: the even-odd rule (a ray to +x crosses the polygon an odd number of times).

struct Params {
  n: u32, threshold: f32, width: u32, height: u32,
  pad0: u32, pad1: u32, panel: u32, count: u32,
  mouse: vec2<f32>, radius2: f32, pad: f32,
  box: vec4<f32>,
  lo_u: vec4<f32>, lo_v: vec4<f32>, scale_u: vec4<f32>, scale_v: vec4<f32>,
  view_a: array<vec4<f32>, 4>,
  view_t: array<vec4<f32>, 4>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read> polygon: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> selected: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> list: array<atomic<u32>>;
@group(0) @binding(7) var<uniform> params: Params;

const WG: u32 = 64u;
const ITEMS: u32 = 64u;

fn inside(g: vec2<f32>) -> bool {
  var odd = false;
  var j = params.count - 1u;
  for (var k = 0u; k < params.count; k++) {
    let s = polygon[k];
    let e = polygon[j];
    if ((s.y > g.y) != (e.y > g.y) && g.x < (e.x - s.x) * (g.y - s.y) / (e.y - s.y) + s.x) { odd = !odd; }
    j = k;
  }
  return odd;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let p = params.panel;
  let N = params.n;
  let threshold = params.threshold;
  let lo = vec2<f32>(params.lo_u[p], params.lo_v[p]);
  let scale = vec2<f32>(params.scale_u[p], params.scale_v[p]);
  let box = params.box;
  let first = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = first + k * WG;
    if (i >= N) { break; }
    let xi = x[i];
    let yi = y[i];
    let ai = a[i];
    let mi = m[i];
    if (max(max(abs(xi), abs(yi)), max(abs(ai), abs(mi))) > threshold) { continue; }
    let g = (vec2<f32>(vec4<f32>(xi, ai, xi + ai + mi, yi - xi)[p], vec4<f32>(yi, mi, yi, ai + mi)[p]) - lo) * scale - 1.0;
    if (g.x < box.x || g.x > box.z || g.y < box.y || g.y > box.w) { continue; }
    if (!inside(g)) { continue; }
    atomicOr(&selected[i >> 5u], 1u << (i & 31u));
    let j = atomicAdd(&list[0], 1u);
    atomicStore(&list[1u + j], i);
  }
}
