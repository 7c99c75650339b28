// embedding — x[t, :] = wte[ids[t], :] + wpe[P0 + t, :]  (hidden_states.0)
// Row t is the token at absolute position P0 + t (P0 = 0 but in generation steps).
//
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   PARTS        also write the two summands: tok = wte[ids] and pos = wpe[0..T) (the outputs
//                of the modules wte and wpe; only when one of those taps is asked for)
//
// Bindings (group 0):
//   0 ids     storage read        array<u32>  [T]     token ids; each < V (checked on the host)
//   1 wte     storage read        array<f32>  [V, D]  token embedding
//   2 wpe     storage read        array<f32>  [N, D]  position embedding; rows P0..P0+T-1 used (P0 + T <= N)
//   3 x       storage read_write  array<f32>  [T, D]  output
//   4 params  uniform             Params { T, KS (unused), P0 }
//   5 tok     storage read_write  array<f32>  [T, D]  wte[ids]      (PARTS only)
//   6 pos     storage read_write  array<f32>  [T, D]  wpe[P0..P0+T)  (PARTS only)
// Overrides: D (n_embd).
// Dispatch: (ceil(T*D / 256), 1, 1) workgroups of 256 threads, one thread per output element.

override D: u32;

struct Params { T: u32, KS: u32, P0: u32 }

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> wte: array<f32>;
@group(0) @binding(2) var<storage, read> wpe: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#if PARTS
@group(0) @binding(5) var<storage, read_write> tok: array<f32>;
@group(0) @binding(6) var<storage, read_write> pos: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.T * D) { return; }
  let t = i / D;
  let d = i % D;
  let e = wte[ids[t] * D + d];
  let p = wpe[(params.P0 + t) * D + d];
  x[i] = e + p;
#if PARTS
  tok[i] = e;
  pos[i] = p;
#endif
}
