// scatter_pick — hover on the WebGPU point layer: the kept entry nearest to the mouse in
// panel `panel`, within `radius2` (squared pixels), found over all N entries on the GPU
// (no point arrays on the CPU), and its four values. Three passes, one compute pass each:
//   PASS 0: result[0] = min over kept entries within the radius of q = u32(d² · 64)
//   PASS 1: result[1] = the lowest entry index with that q (ties: the first entry)
//   PASS 2: one thread: result[2..5] = bits of x, y, a, m at entry result[1] (if any)
// The entry's pixel is computed as in scatter_raster (same Params, mask, normalisation,
// camera). result is [0xffffffff, 0xffffffff, 0, …] before PASS 0 (written by the caller).
//
// Bindings (group 0):
//   0 x       storage read        array<f32>  [N]  hidden_states.l
//   1 y       storage read        array<f32>  [N]  h.l
//   2 a       storage read        array<f32>  [N]  h.l.attn.c_proj
//   3 m       storage read        array<f32>  [N]  h.l.mlp.c_proj
//   4 result  storage read_write  array<atomic<u32>>  [8]  q, entry, x, y, a, m (f32 bits)
//   5 params  uniform             Params (as scatter_raster; uses n, threshold, width, height,
//                                 panel, mouse (pixels), radius2, lo/scale, view of `panel`)
// Dispatch: PASS 0 and 1: (ceil(N / 4096), 1, 1) workgroups of 64 threads, 64 entries per
// thread as scatter_raster; PASS 2: (1, 1, 1). PASS is an override constant.

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
@group(0) @binding(4) var<storage, read_write> result: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> params: Params;

override PASS: u32 = 0u;
const WG: u32 = 64u;
const ITEMS: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (PASS == 2u) {
    let i = atomicLoad(&result[1]);
    if (wid.x == 0u && lid == 0u && i < params.n) {
      atomicStore(&result[2], bitcast<u32>(x[i]));
      atomicStore(&result[3], bitcast<u32>(y[i]));
      atomicStore(&result[4], bitcast<u32>(a[i]));
      atomicStore(&result[5], bitcast<u32>(m[i]));
    }
    return;
  }
  let p = params.panel;
  let N = params.n;
  let threshold = params.threshold;
  let A = params.view_a[p];
  let t = params.view_t[p];
  let lo = vec2<f32>(params.lo_u[p], params.lo_v[p]);
  let scale = vec2<f32>(params.scale_u[p], params.scale_v[p]);
  let size = vec2<f32>(f32(params.width), f32(params.height));
  let mouse = params.mouse;
  let radius2 = params.radius2;
  let best = atomicLoad(&result[0]);
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
    let cx = A.x * g.x + A.z * g.y + t.x;
    let cy = A.y * g.x + A.w * g.y + t.y;
    let d = vec2<f32>(cx + 1.0, 1.0 - cy) * 0.5 * size - mouse;
    let d2 = dot(d, d);
    if (d2 > radius2) { continue; }
    let q = u32(d2 * 64.0);
    if (PASS == 0u) {
      atomicMin(&result[0], q);
    } else if (q == best) {
      atomicMin(&result[1], i);
    }
  }
}
