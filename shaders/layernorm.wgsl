// layernorm — y[t, :] = (x[t, :] - mean) / sqrt(var + EPS) * gamma + beta, per row t.
// Statistics in one pass over the row with Welford's update per thread and Chan's
// merge across threads: numerically stable even when |mean| >> std (GPT-2's residual
// stream has a few dimensions in the hundreds), and one workgroup reduction instead of
// two (barriers are what a CPU emulation pays most for). Biased variance, as torch.nn.LayerNorm.
//
// Bindings (group 0):
//   0 x       storage read        array<f32>  [T, D]
//   1 gamma   storage read        array<f32>  [D]
//   2 beta    storage read        array<f32>  [D]
//   3 y       storage read_write  array<f32>  [T, D]   (must not alias x)
//   4 params  uniform             Params { T }
// Overrides: D (n_embd), EPS (layer_norm_epsilon, 1e-5 for GPT-2).
// Dispatch: (T, 1, 1) workgroups of 64 threads, one workgroup per row.

override D: u32;
override EPS: f32 = 1e-5;

struct Params { T: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 64u;
// Per thread: (count, mean, M2 = Σ (x - mean)²) of the elements it has seen.
var<workgroup> stats: array<vec3<f32>, WG>;

// Chan et al.: the statistics of the union of two disjoint sets.
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (n == 0.0) { return a; }
  let delta = b.y - a.y;
  return vec3<f32>(n, a.y + delta * b.x / n, a.z + b.z + delta * delta * a.x * b.x / n);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * D;

  var s = vec3<f32>(0.0);
  for (var i = lid; i < D; i += WG) {
    let v = x[base + i];
    s.x += 1.0;
    let delta = v - s.y;
    s.y += delta / s.x;
    s.z += delta * (v - s.y);
  }
  stats[lid] = s;
  workgroupBarrier();
  for (var step = WG / 2u; step > 0u; step = step >> 1u) {
    if (lid < step) { stats[lid] = merge(stats[lid], stats[lid + step]); }
    workgroupBarrier();
  }
  let total = stats[0];
  let mean = total.y;
  let rstd = 1.0 / sqrt(total.z / f32(D) + EPS);

  for (var i = lid; i < D; i += WG) {
    y[base + i] = (x[base + i] - mean) * rstd * gamma[i] + beta[i];
  }
}
