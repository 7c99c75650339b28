// scatter_raster — the WebGPU point layer of the 2×2 figure: every kept entry of one layer,
// straight from the four tap buffers, counted into a density image per panel (a compute
// rasteriser: one atomicAdd per point and pixel, no point arrays, no vertex buffers).
// Entry i has x = hidden_states.l, y = h.l, a = attention Δ, m = MLP Δ; it is kept when
// max(|x|, |y|, |a|, |m|) <= threshold (the mask of residual_sums). Panel p plots
// (u[p], v[p]) with u = (x, a, x + a + m, y − x), v = (y, m, y, a + m), normalised as
// residual_compact does, g = (value − lo) · scale − 1 (the panel's domain to [−1, 1]), then
// moved by the panel's camera: clip = A·g + t (regl-scatterplot's view matrix, so the
// points sit under its axes, identity line and lasso), pixel = ((clip.x + 1) / 2 · W,
// (1 − clip.y) / 2 · H). A point covers POINT × POINT pixels around that pixel; with
// SELECTED, plane 1 also counts the entries set in the selection bitmask (the lasso's,
// shown in every panel). POINT and SELECTED are override constants: a branch on a uniform
// inside the loop costs as much as the rest of the loop on CPU backends (SwiftShader).
//
// Bindings (group 0):
//   0 x         storage read        array<f32>  [N]           hidden_states.l, N = T·D
//   1 y         storage read        array<f32>  [N]           h.l
//   2 a         storage read        array<f32>  [N]           h.l.attn.c_proj
//   3 m         storage read        array<f32>  [N]           h.l.mlp.c_proj
//   4 selected  storage read        array<u32>  [ceil(N/32)]  bit i: entry i is selected
//   5 density   storage read_write  array<atomic<u32>> [4, 2, H, W]  points per pixel (zeroed by the caller)
//   6 drawn     storage read_write  array<atomic<u32>> [8]    [p]: kept points of panel p inside the
//                                                             canvas, [4 + p]: of them selected (zeroed by the caller)
//   7 params    uniform             Params (the same struct in scatter_pick and scatter_lasso;
//                                   uses n, threshold, width, height, lo/scale, views)
// Dispatch: (G, 1, 1) workgroups of 64 threads, G = ceil(N / 4096); thread t of workgroup g
// reads entries 4096 g + t + 64 k, k = 0..63 (as residual_sums). No barriers.

struct Params {
  n: u32, threshold: f32, width: u32, height: u32,
  pad0: u32, pad1: u32, panel: u32, count: u32,
  mouse: vec2<f32>, radius2: f32, pad: f32,
  box: vec4<f32>,
  lo_u: vec4<f32>, lo_v: vec4<f32>, scale_u: vec4<f32>, scale_v: vec4<f32>,
  // panel p's camera: clip = (a.x·gx + a.z·gy + t.x, a.y·gx + a.w·gy + t.y)
  view_a: array<vec4<f32>, 4>,
  view_t: array<vec4<f32>, 4>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read> selected: array<u32>;
@group(0) @binding(5) var<storage, read_write> density: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> drawn: array<atomic<u32>>;
@group(0) @binding(7) var<uniform> params: Params;

override POINT: u32 = 1u;
override SELECTED: bool = false;
const WG: u32 = 64u;
const ITEMS: u32 = 64u;

/** Adds one point covering POINT × POINT pixels around (fx, fy) to density[base + …]. */
fn splat(base: u32, fx: f32, fy: f32) {
  let W = i32(params.width);
  let H = i32(params.height);
  let s = i32(POINT);
  let x0 = i32(floor(fx - 0.5 * f32(s - 1)));
  let y0 = i32(floor(fy - 0.5 * f32(s - 1)));
  for (var dy = 0; dy < s; dy++) {
    let py = y0 + dy;
    if (py < 0 || py >= H) { continue; }
    for (var dx = 0; dx < s; dx++) {
      let px = x0 + dx;
      if (px < 0 || px >= W) { continue; }
      atomicAdd(&density[base + u32(py) * params.width + u32(px)], 1u);
    }
  }
}

/** Adds the point at (fx, fy) (inside the canvas) to plane `plane` of each panel where `inside`. */
fn plot(plane: u32, inside: vec4<bool>, fx: vec4<f32>, fy: vec4<f32>) {
  let area = params.width * params.height;
  let planes = (vec4<u32>(0u, 2u, 4u, 6u) + plane) * area;
  if (POINT == 1u) {
    let at = planes + vec4<u32>(fy) * params.width + vec4<u32>(fx);
    if (inside.x) { atomicAdd(&density[at.x], 1u); }
    if (inside.y) { atomicAdd(&density[at.y], 1u); }
    if (inside.z) { atomicAdd(&density[at.z], 1u); }
    if (inside.w) { atomicAdd(&density[at.w], 1u); }
  } else {
    if (inside.x) { splat(planes.x, fx.x, fy.x); }
    if (inside.y) { splat(planes.y, fx.y, fy.y); }
    if (inside.z) { splat(planes.z, fx.z, fy.z); }
    if (inside.w) { splat(planes.w, fx.w, fy.w); }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Everything uniform read once (CPU backends do not hoist it out of the loop), the four
  // panels' cameras as lanes: clip.x = ax·u + az·v + tx, clip.y = ay·u + aw·v + ty.
  let N = params.n;
  let threshold = params.threshold;
  let lo_u = params.lo_u;
  let lo_v = params.lo_v;
  let scale_u = params.scale_u;
  let scale_v = params.scale_v;
  let A = params.view_a;
  let T = params.view_t;
  let ax = vec4<f32>(A[0].x, A[1].x, A[2].x, A[3].x);
  let ay = vec4<f32>(A[0].y, A[1].y, A[2].y, A[3].y);
  let az = vec4<f32>(A[0].z, A[1].z, A[2].z, A[3].z);
  let aw = vec4<f32>(A[0].w, A[1].w, A[2].w, A[3].w);
  let tx = vec4<f32>(T[0].x, T[1].x, T[2].x, T[3].x);
  let ty = vec4<f32>(T[0].y, T[1].y, T[2].y, T[3].y);
  let W = vec4<f32>(f32(params.width));
  let H = vec4<f32>(f32(params.height));
  let zero = vec4<f32>(0.0);
  var count = vec4<u32>(0u);
  var count_sel = vec4<u32>(0u);
  let first = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = first + k * WG;
    if (i >= N) { break; }
    let xi = x[i];
    let yi = y[i];
    let ai = a[i];
    let mi = m[i];
    if (max(max(abs(xi), abs(yi)), max(abs(ai), abs(mi))) > threshold) { continue; }
    let u = (vec4<f32>(xi, ai, xi + ai + mi, yi - xi) - lo_u) * scale_u - 1.0;
    let v = (vec4<f32>(yi, mi, yi, ai + mi) - lo_v) * scale_v - 1.0;
    let fx = (ax * u + az * v + tx + 1.0) * 0.5 * W;
    let fy = (1.0 - (ay * u + aw * v + ty)) * 0.5 * H;
    // Outside the canvas (panned or zoomed away): not drawn, not counted.
    let inside = (fx >= zero) & (fx < W) & (fy >= zero) & (fy < H);
    let c = select(vec4<u32>(0u), vec4<u32>(1u), inside);
    let fxc = max(fx, zero);
    let fyc = max(fy, zero);
    plot(0u, inside, fxc, fyc);
    count += c;
    if (SELECTED && ((selected[i >> 5u] >> (i & 31u)) & 1u) != 0u) {
      plot(1u, inside, fxc, fyc);
      count_sel += c;
    }
  }
  for (var p = 0u; p < 4u; p++) {
    if (count[p] > 0u) { atomicAdd(&drawn[p], count[p]); }
    if (count_sel[p] > 0u) { atomicAdd(&drawn[4u + p], count_sel[p]); }
  }
}
