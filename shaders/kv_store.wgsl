// kv_store — kv[P0 + t, :] = qkv[t, D : 3D]: the keys and values of this run's T tokens, stored
// in a layer's KV cache at their absolute positions, for the attention of later steps.
//
// Bindings (group 0):
//   0 qkv     storage read        array<f32>  [T, 3D]   c_attn output: q | k | v
//   1 kv      storage read_write  array<f32>  [N, 2D]   the layer's cache: row p = k_p | v_p
//   2 params  uniform             Params { T, KS (unused), P0 }
// Overrides: D (n_embd).
// Invariants: P0 + T <= N (n_positions).
// Dispatch: (ceil(T*2D / 256), 1, 1) workgroups of 256 threads, one per stored value.

override D: u32;

struct Params { T: u32, KS: u32, P0: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> kv: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.T * 2u * D) { return; }
  let t = i / (2u * D);
  let c = i % (2u * D);
  kv[(params.P0 + t) * 2u * D + c] = qkv[t * 3u * D + D + c];
}
