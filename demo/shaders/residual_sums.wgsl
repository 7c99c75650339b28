// residual_sums — the one pass over the data of the residual statistics: per thread, over
// the entries that survive the threshold mask, the count, the means, the centred sums of
// squares and cross products (for Pearson's r) and the min/max (for the plot's
// normalisation) of the eight plotted quantities. Each thread folds its 64 entries with
// Welford's update (a running mean, so float32 stays accurate whatever the offset of the
// data: no raw Σu² that would cancel) and writes its own partial: no workgroup reduction,
// no barrier (barriers dominate the time on CPU backends such as SwiftShader);
// residual_totals merges the partials.
// Entry i of layer l has x = hidden_states.l, y = h.l (layer l+1), a = attention Δ,
// m = MLP Δ; it is kept when max(|x|, |y|, |a|, |m|) <= threshold. The four panels
// plot (u, v) = (x, y), (a, m), (x + a + m, y), (y − x, a + m), held as two vec4s:
// u = (x, a, x + a + m, y − x) and v = (y, m, y, a + m).
//
// Bindings (group 0):
//   0 x         storage read        array<f32>        [N]          hidden_states.l, N = T·D
//   1 y         storage read        array<f32>        [N]          h.l
//   2 a         storage read        array<f32>        [N]          h.l.attn.c_proj
//   3 m         storage read        array<f32>        [N]          h.l.mlp.c_proj
//   4 partials  storage read_write  array<vec4<f32>>  [G·64, 9]    per thread: ū, v̄, Σ(u − ū)², Σ(v − v̄)²,
//                                                                  Σ(u − ū)(v − v̄), min u, min v, max u, max v
//   5 counts    storage read_write  array<u32>        [G·64]       kept entries per thread
//   6 params    uniform             Params { n, threshold }
// Dispatch: (G, 1, 1) workgroups of 64 threads, G = ceil(N / 4096); workgroup g covers
// entries [4096 g, 4096 g + 4096), thread t reads entries 4096 g + t + 64 k, k = 0..63,
// and writes partial 64 g + t.

struct Params { n: u32, threshold: f32, k: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

const WG: u32 = 64u;
const ITEMS: u32 = 64u;
const BIG: f32 = 3.0e38;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N = params.n;
  let threshold = params.threshold;
  var n = 0.0;
  var mu = vec4<f32>(0.0);
  var mv = vec4<f32>(0.0);
  var uu = vec4<f32>(0.0);
  var vv = vec4<f32>(0.0);
  var uv = vec4<f32>(0.0);
  var lo_u = vec4<f32>(BIG);
  var lo_v = vec4<f32>(BIG);
  var hi_u = vec4<f32>(-BIG);
  var hi_v = vec4<f32>(-BIG);
  let base = wid.x * WG * ITEMS + lid;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= N) { break; }
    let xi = x[i];
    let yi = y[i];
    let ai = a[i];
    let mi = m[i];
    if (max(max(abs(xi), abs(yi)), max(abs(ai), abs(mi))) <= threshold) {
      let u = vec4<f32>(xi, ai, xi + ai + mi, yi - xi);
      let v = vec4<f32>(yi, mi, yi, ai + mi);
      n += 1.0;
      let inv = 1.0 / n;
      let du = u - mu;
      let dv = v - mv;
      mu += du * inv;
      mv += dv * inv;
      uu += du * (u - mu);
      vv += dv * (v - mv);
      uv += du * (v - mv);
      lo_u = min(lo_u, u);
      lo_v = min(lo_v, v);
      hi_u = max(hi_u, u);
      hi_v = max(hi_v, v);
    }
  }
  let j = wid.x * WG + lid;
  let o = j * 9u;
  partials[o] = mu;
  partials[o + 1u] = mv;
  partials[o + 2u] = uu;
  partials[o + 3u] = vv;
  partials[o + 4u] = uv;
  partials[o + 5u] = lo_u;
  partials[o + 6u] = lo_v;
  partials[o + 7u] = hi_u;
  partials[o + 8u] = hi_v;
  counts[j] = u32(n);
}
