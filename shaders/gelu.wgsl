// gelu — y[i] = gelu_new(x[i]): the MLP's activation on its own, for runs that edit the
// pre-activation h.l.mlp.c_fc (elsewhere the GELU is fused into c_fc's matmul).
// gelu_new(v) = 0.5·v·(1 + tanh(sqrt(2/π)·(v + 0.044715·v³))), Hugging Face's tanh approximation.
//
// Bindings (group 0):
//   0 x       storage read        array<f32>  [T, W]
//   1 y       storage read_write  array<f32>  [T, W]
//   2 params  uniform             Params { T }
// Overrides: W (row width: 4·n_embd).
// Dispatch: (ceil(T*W / 256), 1, 1) workgroups of 256 threads, one per element.

override W: u32;

struct Params { T: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn gelu_new(v: f32) -> f32 {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  // tanh(u) is exactly ±1 in f32 for |u| >= 10; some drivers' tanh returns NaN there.
  let t = select(tanh(u), sign(u), abs(u) >= 10.0);
  return 0.5 * v * (1.0 + t);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.T * W) { return; }
  y[i] = gelu_new(x[i]);
}
