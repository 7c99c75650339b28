// lens_norm — the logit lens's first half: the model's final LayerNorm ln_f applied to
// R rows of the residual stream (each a hidden state at one layer and position),
//   y = (x − mean) / sqrt(var + eps) · ln_f.weight + ln_f.bias   (biased variance, as GPT-2).
//
// Bindings (group 0):
//   0 x       storage read        array<f32>  [R, D]  residual-stream rows
//   1 gamma   storage read        array<f32>  [D]     ln_f.weight (the model's own buffer)
//   2 beta    storage read        array<f32>  [D]     ln_f.bias
//   3 y       storage read_write  array<f32>  [R, D]
//   4 params  uniform             Params { rows (R), d (D), eps }
// Dispatch: (R, 1, 1) workgroups of 64 threads, one row per workgroup; two reductions
// (mean, then centred variance) through workgroup memory.

struct Params { rows: u32, d: u32, eps: f32, pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 64u;
var<workgroup> red: array<f32, WG>;

fn reduce_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x;
  if (r >= params.rows) { return; }
  let D = params.d;
  let o = r * D;
  var s = 0.0;
  for (var i = lid; i < D; i += WG) { s += x[o + i]; }
  let mean = reduce_sum(s, lid) / f32(D);
  var q = 0.0;
  for (var i = lid; i < D; i += WG) { let c = x[o + i] - mean; q += c * c; }
  let inv = inverseSqrt(reduce_sum(q, lid) / f32(D) + params.eps);
  for (var i = lid; i < D; i += WG) { y[o + i] = (x[o + i] - mean) * inv * gamma[i] + beta[i]; }
}
