// attention_apply — out[t, h*HD + d] = Σ_j probs[h, t, j] · v_j[h*HD + d]: the second half of
// attention on its own, for runs that edit the probabilities attentions.l (elsewhere the
// attention kernel computes out from its own probabilities). Values come from the rows of
// qkv (third 2), or with CACHED from the KV cache (second half of each row).
//
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   CACHED       values from kv [TK, 2D] (generation), else from qkv [T, 3D]
//
// Bindings (group 0):
//   0 probs   storage read        array<f32>  [H, T, TK]
//   1 qkv     storage read        array<f32>  [T, 3D]    (values, without CACHED)
//   2 out     storage read_write  array<f32>  [T, D]
//   3 params  uniform             Params { T, KS (unused), P0, TK }
//   4 kv      storage read        array<f32>  [TK, 2D]   (CACHED only)
// Overrides: H (n_head), HD (head dim).
// Dispatch: (T, H, 1) workgroups of 64 threads; workgroup (t, h), one output column per thread.

override H: u32;
override HD: u32;

struct Params { T: u32, KS: u32, P0: u32, TK: u32 }

@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#if CACHED
@group(0) @binding(4) var<storage, read> kv: array<f32>;
#endif

fn value(j: u32, col: u32) -> f32 {
#if CACHED
  return kv[j * 2u * H * HD + H * HD + col];
#else
  return qkv[j * 3u * H * HD + 2u * H * HD + col];
#endif
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let h = wid.y;
  let TK = params.TK;
  let prow = (h * params.T + t) * TK;
  for (var d = lid; d < HD; d += 64u) {
    var acc = 0.0;
    // every key, as probs · V does: an edit may have made weights past the causal limit nonzero
    for (var j = 0u; j < TK; j++) { acc = fma(probs[prow + j], value(j, h * HD + d), acc); }
    out[t * H * HD + h * HD + d] = acc;
  }
}
