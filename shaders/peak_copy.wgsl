// peak_copy — the attainable bandwidth of a compute shader: dst[i] = src[i], one vec4
// per thread. Bytes moved = 2 · 16 · n (every element read once and written once).
//
// Bindings (group 0):
//   0 src     storage read        array<vec4<f32>>  [n]
//   1 dst     storage read_write  array<vec4<f32>>  [n]   (must not alias src)
// Overrides: none (n = arrayLength(&src)).
// Dispatch: (X, Y, 1) workgroups of 256 threads with 256·X·Y >= n; the threads past n do nothing.
// src/profile/peak.ts repeats the dispatch k times in one timed compute pass (k grown until the
// pass lasts its target time): bytes moved per pass = k · 2 · 16 · n.

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}
