// peak_fma — the attainable FMA rate: every thread runs 8 independent vec4 fma chains
// (32 scalar chains, enough independent work to hide FMA latency), 2·ITER steps each,
// from registers only. No memory traffic in the loop; one guarded store at the end keeps
// the chains live (the guard is never true for the seeds the host writes).
// flops = 2 (mul+add) · 4 lanes · 8 chains · 2 steps · ITER = 128·ITER per thread.
//
// Bindings (group 0):
//   0 seed    storage read        array<vec4<f32>>  [2]   seed[0] = multiplier m (≈ 1), seed[1] = addend c
//   1 out     storage read_write  array<vec4<f32>>  [1]   written only if the sum equals seed[1] (never, in practice)
// Overrides: ITER (loop trips per thread).
// Dispatch: (X, Y, 1) workgroups of 256 threads: 256·X·Y threads.

override ITER: u32 = 256u;

@group(0) @binding(0) var<storage, read> seed: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let m = seed[0];
  let c = seed[1];
  let s = vec4<f32>(f32(lid) * 1e-3);
  var a0 = s + 0.0; var a1 = s + 1.0; var a2 = s + 2.0; var a3 = s + 3.0;
  var a4 = s + 4.0; var a5 = s + 5.0; var a6 = s + 6.0; var a7 = s + 7.0;
  for (var i = 0u; i < ITER; i++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
  }
  let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  if (all(sum == c)) { out[0] = sum; }
}
