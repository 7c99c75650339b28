// column_stats — per column of a [T, C] matrix (a tap: the residual stream, a Δ, the MLP
// neurons): the maximum, the minimum, the mean and the maximum |x| over the T rows.
// The explorer lists the dimensions whose max |x| passes the threshold and ranks neurons
// by their maximum activation (then top-k over that row).
//
// Bindings (group 0):
//   0 x       storage read        array<f32>        [T, C]  row-major
//   1 stats   storage read_write  array<vec4<f32>>  [C]     (max, min, mean, max |x|) of column c
//   2 maxima  storage read_write  array<f32>        [C]     the max alone (a row for topk.wgsl)
//   3 params  uniform             Params { rows (T), cols (C) }
// Dispatch: (ceil(C / 64), 1, 1) workgroups of 64 threads; thread c walks the T rows of
// column c (adjacent threads read adjacent columns: coalesced rows). No workgroup memory.

struct Params { rows: u32, cols: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> maxima: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.cols) { return; }
  var hi = -3.0e38;
  var lo = 3.0e38;
  var sum = 0.0;
  var amax = 0.0;
  for (var t = 0u; t < params.rows; t++) {
    let v = x[t * params.cols + c];
    hi = max(hi, v);
    lo = min(lo, v);
    sum += v;
    amax = max(amax, abs(v));
  }
  stats[c] = vec4<f32>(hi, lo, sum / f32(max(params.rows, 1u)), amax);
  maxima[c] = hi;
}
