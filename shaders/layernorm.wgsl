// layernorm — y[t, :] = (x[t, :] - mean) / sqrt(var + EPS) * gamma + beta, per row t.
// Two passes over the row (mean, then the mean of squared deviations), as PyTorch
// does: numerically stable even when |mean| >> std (GPT-2's residual stream has a
// few dimensions in the hundreds). Biased variance, as torch.nn.LayerNorm.
//
// Bindings (group 0):
//   0 x       storage read        array<f32>  [T, D]
//   1 gamma   storage read        array<f32>  [D]
//   2 beta    storage read        array<f32>  [D]
//   3 y       storage read_write  array<f32>  [T, D]   (must not alias x)
//   4 params  uniform             Params { T }
// Overrides: D (n_embd), EPS (layer_norm_epsilon, 1e-5 for GPT-2).
// Dispatch: (T, 1, 1) workgroups of 256 threads, one workgroup per row.

override D: u32;
override EPS: f32 = 1e-5;

struct Params { T: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

// Sum of v over the workgroup; every thread gets the result.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * D;

  var s = 0.0;
  for (var i = lid; i < D; i += WG) { s += x[base + i]; }
  let mean = workgroup_sum(s, lid) / f32(D);

  var q = 0.0;
  for (var i = lid; i < D; i += WG) { let c = x[base + i] - mean; q += c * c; }
  let rstd = 1.0 / sqrt(workgroup_sum(q, lid) / f32(D) + EPS);

  for (var i = lid; i < D; i += WG) {
    y[base + i] = (x[base + i] - mean) * rstd * gamma[i] + beta[i];
  }
}
