// residual_sums — pass 1 of the residual statistics: per workgroup, over the entries
// that survive the threshold mask, the count, the sums (for the means) and the
// min/max (for the plot's normalisation) of the eight plotted quantities.
// Entry i of layer l has x = hidden_states.l, y = h.l (layer l+1), a = attention Δ,
// m = MLP Δ; it is kept when max(|x|, |y|, |a|, |m|) <= threshold. The four panels
// plot (u, v) = (x, y), (a, m), (x + a + m, y), (y − x, a + m), held as two vec4s:
// u = (x, a, x + a + m, y − x) and v = (y, m, y, a + m).
//
// Bindings (group 0):
//   0 x         storage read        array<f32>        [N]      hidden_states.l, N = T·D
//   1 y         storage read        array<f32>        [N]      h.l
//   2 a         storage read        array<f32>        [N]      h.l.attn.c_proj
//   3 m         storage read        array<f32>        [N]      h.l.mlp.c_proj
//   4 partials  storage read_write  array<vec4<f32>>  [G, 6]   Σu, Σv, min u, min v, max u, max v
//   5 counts    storage read_write  array<u32>        [G]      kept entries per workgroup
//   6 params    uniform             Params { n, threshold }
// Dispatch: (G, 1, 1) workgroups of 64 threads, G = ceil(N / 1024); workgroup g covers
// entries [1024 g, 1024 g + 1024), thread t reads entries 1024 g + t + 64 k, k = 0..15.

struct Params { n: u32, threshold: f32, k: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

const WG: u32 = 64u;
const ITEMS: u32 = 16u;
const BIG: f32 = 3.0e38;
var<workgroup> w_su: array<vec4<f32>, WG>;
var<workgroup> w_sv: array<vec4<f32>, WG>;
var<workgroup> w_lu: array<vec4<f32>, WG>;
var<workgroup> w_lv: array<vec4<f32>, WG>;
var<workgroup> w_hu: array<vec4<f32>, WG>;
var<workgroup> w_hv: array<vec4<f32>, WG>;
var<workgroup> w_n: array<u32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var su = vec4<f32>(0.0);
  var sv = vec4<f32>(0.0);
  var lo_u = vec4<f32>(BIG);
  var lo_v = vec4<f32>(BIG);
  var hi_u = vec4<f32>(-BIG);
  var hi_v = vec4<f32>(-BIG);
  var count = 0u;
  let base = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= params.n) { break; }
    let xi = x[i];
    let yi = y[i];
    let ai = a[i];
    let mi = m[i];
    if (max(max(abs(xi), abs(yi)), max(abs(ai), abs(mi))) <= params.threshold) {
      let u = vec4<f32>(xi, ai, xi + ai + mi, yi - xi);
      let v = vec4<f32>(yi, mi, yi, ai + mi);
      su += u;
      sv += v;
      lo_u = min(lo_u, u);
      lo_v = min(lo_v, v);
      hi_u = max(hi_u, u);
      hi_v = max(hi_v, v);
      count += 1u;
    }
  }
  // One tree reduction for all seven quantities (few barriers: they are costly on CPU backends).
  w_su[lid] = su; w_sv[lid] = sv; w_lu[lid] = lo_u; w_lv[lid] = lo_v; w_hu[lid] = hi_u; w_hv[lid] = hi_v; w_n[lid] = count;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let o = lid + s;
      w_su[lid] += w_su[o];
      w_sv[lid] += w_sv[o];
      w_lu[lid] = min(w_lu[lid], w_lu[o]);
      w_lv[lid] = min(w_lv[lid], w_lv[o]);
      w_hu[lid] = max(w_hu[lid], w_hu[o]);
      w_hv[lid] = max(w_hv[lid], w_hv[o]);
      w_n[lid] += w_n[o];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let o = wid.x * 6u;
    partials[o] = w_su[0];
    partials[o + 1u] = w_sv[0];
    partials[o + 2u] = w_lu[0];
    partials[o + 3u] = w_lv[0];
    partials[o + 4u] = w_hu[0];
    partials[o + 5u] = w_hv[0];
    counts[wid.x] = w_n[0];
  }
}
