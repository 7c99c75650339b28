// splitk_reduce — y[m, n] = Σ_z p[z, m, n] + b[n];  r[m, n] += y[m, n]
// The epilogue of a matmul whose K was split into KS slices (matmul.wgsl with KS > 1):
// sums the slices' partial products in slice order, adds the bias, writes the sublayer's
// delta y and adds it to the residual stream r. Used for both c_proj layers, whose
// N = D output columns alone leave a GPU mostly idle at small T.
//
// Bindings (group 0):
//   0 p       storage read        array<f32>  [KS, M, N]  partial sums
//   1 b       storage read        array<f32>  [N]
//   2 y       storage read_write  array<f32>  [M, N]      the delta (attn/mlp c_proj output)
//   3 r       storage read_write  array<f32>  [M, N]      the residual stream, updated in place
//   4 params  uniform             Params { M, KS }
// Overrides: N.
// Dispatch: (ceil(M*N / 256), 1, 1) workgroups of 256 threads, one thread per output.

override N: u32;

struct Params { M: u32, KS: u32 }

@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> r: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let MN = params.M * N;
  let i = gid.x;
  if (i >= MN) { return; }
  var v = 0.0;
  for (var z = 0u; z < params.KS; z++) { v += p[z * MN + i]; }
  v += b[i % N];
  y[i] = v;
  r[i] += v;
}
