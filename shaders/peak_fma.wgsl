// peak_fma — the attainable FMA rate: every thread runs 8 independent vec4 fma chains
// (32 scalar chains, enough independent work to hide FMA latency), 2·ITER steps each,
// from registers only. No memory traffic in the loop.
// flops = 2 (mul+add) · 4 lanes · 8 chains · 2 steps · ITER = 128·ITER per thread.
//
// The end of the kernel keeps the chains live and doubles as a checksum: chain k starts at
// lid + k, and each thread compares the sum of its 8 chains with seed[2].x + 8·lid; a thread
// that matches adds 1 to out[lid] (an atomic; 256 counters, so that they are not all
// contended). No barrier and no store unless a thread matches.
// - Timing (src/profile/peak.ts): m ≈ 0.999, c = 1e-3, seed[2].x = -1e30. The sums stay
//   positive, so no thread matches and nothing is written.
// - Checksum: m = 1, c = 1, seed[2].x = 28 + 16·ITER. Every step adds exactly 1 (integers
//   below 2^24), chain k ends at lid + k + 2·ITER, the sum is 8·lid + 28 + 16·ITER, and
//   the counters sum to the number of threads only if every thread's 8 chains took their
//   16·ITER vec4 fma steps in all.
//
// Bindings (group 0):
//   0 seed    storage read        array<vec4<f32>>  [3]   seed[0] = multiplier m, seed[1] = addend c, seed[2].x = expected sum − 8·lid
//   1 out     storage read_write  array<atomic<u32>> [256]  out[lid] += 1 where the sum matched (host zeroes them first)
// Overrides: ITER (loop trips per thread, at most 2^16 for an exact checksum).
// Dispatch: (X, Y, 1) workgroups of 256 threads: 256·X·Y threads.

override ITER: u32 = 256u;

@group(0) @binding(0) var<storage, read> seed: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let m = seed[0];
  let c = seed[1];
  let s = vec4<f32>(f32(lid));
  var a0 = s + 0.0; var a1 = s + 1.0; var a2 = s + 2.0; var a3 = s + 3.0;
  var a4 = s + 4.0; var a5 = s + 5.0; var a6 = s + 6.0; var a7 = s + 7.0;
  for (var i = 0u; i < ITER; i++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
  }
  let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  if (all(sum == vec4<f32>(seed[2].x + 8.0 * f32(lid)))) { atomicAdd(&out[lid], 1u); }
}
