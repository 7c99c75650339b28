// matvec — y[N] = epilogue(x[K] · W (+ b)): the matmul for one row (M = 1, a generation step),
// which must read each weight once, coalesced. The epilogues and bindings are matmul.wgsl's.
//
// W is Hugging Face's Conv1D layout [K, N], or [N, K] when TRANSPOSE_B (the LM head).
//   [K, N]: a workgroup owns 64 columns: 16 column-quads × 16 slices of K; thread (q, s) sums
//           x[k] · W[k, 4q..4q+3] over k = s, s+16, s+32, … (16 threads read 256 contiguous
//           bytes of a row of W), then the 16 slices are added in workgroup memory.
//   [N, K]: a workgroup owns 8 rows of W: 32 lanes per row stride over K in vec4 (512
//           contiguous bytes per step), then the 32 lanes are added in workgroup memory.
// Variants (wgsl-preprocessor conditionals, chosen on the host), as in matmul.wgsl:
//   BIAS         add b[n]
//   GELU         y = gelu_new(x·W + b)                        (mlp.c_fc)
//   PRE          with GELU: also write pre[n] = x·W + b
//   RESIDUAL     y = x·W + b, and also r[n] += y[n]           (attn.c_proj, mlp.c_proj)
//   TRANSPOSE_B  W is [N, K]
//   SUBGROUPS    the sum over the threads sharing an output (the K split) by subgroupAdd, then
//                the subgroups' partial sums added in workgroup memory: one barrier instead of
//                a tree of them. [K, N] then has thread (q, s) = (lid / 16, lid % 16), so the 16
//                slices of a column quad are neighbours (a thread pair still reads 32 contiguous
//                bytes of a row of W). Needs the device feature "subgroups".
//
// Bindings (group 0):
//   0 x       storage read        array<vec4<f32>>  [K/4]
//   1 w       storage read        array<vec4<f32>>  [K, N/4], or [N, K/4] when TRANSPOSE_B
//   2 b       storage read        array<f32>        [N]      (BIAS only)
//   3 y       storage read_write  array<f32>        [N]
//   4 params  uniform             Params { M (= 1), KS (unused) }
//   5 r       storage read_write  array<f32>        [N]      (RESIDUAL only)
//   6 pre     storage read_write  array<f32>        [N]      (PRE only)
// Overrides: K, N.
// Invariants: K % 4 == 0; N % 4 == 0 unless TRANSPOSE_B; y, r, pre, x do not alias.
//   SUBGROUPS: a subgroup is subgroup_size consecutive local invocation indices, starting at a
//   multiple of subgroup_size (so on every GPU we know of; WGSL leaves the mapping open), of
//   any power-of-two size from 4 to 128. Workgroup memory: 4096 bytes, or 1024 with SUBGROUPS.
// Dispatch: (ceil(N / 64), 1, 1) workgroups of 256 threads; with TRANSPOSE_B (ceil(N / 8), 1, 1).
#if SUBGROUPS
enable subgroups;
#endif

override K: u32;
override N: u32;

struct Params { M: u32, KS: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
#if BIAS
@group(0) @binding(2) var<storage, read> b: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#if RESIDUAL
@group(0) @binding(5) var<storage, read_write> r: array<f32>;
#endif
#if PRE
@group(0) @binding(6) var<storage, read_write> pre: array<f32>;
#endif

#if SUBGROUPS
// One partial sum per piece: the part of a group of threads (those sharing an output) that lies
// in one subgroup, min(subgroup_size, group) threads; at most 256 / 4 pieces.
var<workgroup> pieces: array<vec4<f32>, 64>;
#else
var<workgroup> partial: array<vec4<f32>, 256>;
#endif

fn gelu_new(v: f32) -> f32 {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  // tanh(u) is exactly ±1 in f32 for |u| >= 10; some drivers' tanh returns NaN there.
  let t = select(tanh(u), sign(u), abs(u) >= 10.0);
  return 0.5 * v * (1.0 + t);
}

/** The epilogue of output n, whose dot product is v. */
fn finish(n: u32, dot: f32) {
  var v = dot;
#if BIAS
  v += b[n];
#endif
#if PRE
  pre[n] = v;
#endif
#if GELU
  v = gelu_new(v);
#endif
  y[n] = v;
#if RESIDUAL
  r[n] += v;
#endif
}

#if SUBGROUPS
/**
 * The sum of v over each group of G consecutive invocations (G a power of two dividing 256),
 * returned to the group's first invocation (others get a partial sum). Each subgroup adds its
 * share of a group with subgroupAdd (one subgroupAdd per group in it, when it holds several),
 * its first thread writes that to pieces[], and after one barrier the group's first invocation
 * adds the group's pieces in order.
 */
fn groupSum(v: vec4<f32>, lid: u32, G: u32, S: u32) -> vec4<f32> {
  let P = min(S, G);        // threads per piece
  let per = S / P;          // pieces per subgroup (1 unless the subgroup is larger than a group)
  let piece = lid / P;
  var mine = v;
  for (var j = 0u; j < per; j++) {
    let t = subgroupAdd(select(vec4<f32>(0.0), v, piece % per == j));
    if (piece % per == j) { mine = t; }
  }
  if (lid % P == 0u) { pieces[piece] = mine; }
  workgroupBarrier();
  if (lid % G == 0u) {
    mine = pieces[piece];
    for (var i = 1u; i < G / P; i++) { mine += pieces[piece + i]; }
  }
  return mine;
}
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32
#if SUBGROUPS
        , @builtin(subgroup_size) sg: u32
#endif
        ) {
#if TRANSPOSE_B
  let K4 = K / 4u;
  let lane = lid % 32u;
  let n = wid.x * 8u + lid / 32u;
  let row = min(n, N - 1u) * K4;
  var acc = vec4<f32>(0.0);
  for (var k4 = lane; k4 < K4; k4 += 32u) { acc = fma(x[k4], w[row + k4], acc); }
#if SUBGROUPS
  let t = groupSum(acc, lid, 32u, sg);
  if (lane == 0u && n < N) { finish(n, t.x + t.y + t.z + t.w); }
#else
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = 16u; s > 0u; s = s >> 1u) {
    if (lane < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && n < N) {
    let t = partial[lid];
    finish(n, t.x + t.y + t.z + t.w);
  }
#endif
#else
#if SUBGROUPS
  let q = lid / 16u;           // column-quad within the workgroup
  let s = lid % 16u;           // slice of K
#else
  let q = lid % 16u;           // column-quad within the workgroup
  let s = lid / 16u;           // slice of K
#endif
  let N4 = N / 4u;
  let c4 = min(wid.x * 16u + q, N4 - 1u);
  var acc = vec4<f32>(0.0);
  for (var k = s; k < K; k += 16u) { acc = fma(vec4<f32>(x[k / 4u][k % 4u]), w[k * N4 + c4], acc); }
#if SUBGROUPS
  let t = groupSum(acc, lid, 16u, sg);
  if (s == 0u && wid.x * 16u + q < N4) {
    for (var j = 0u; j < 4u; j++) { finish(c4 * 4u + j, t[j]); }
  }
#else
  partial[lid] = acc;
  workgroupBarrier();
  for (var h = 8u; h > 0u; h = h >> 1u) {
    if (s < h) { partial[lid] += partial[lid + h * 16u]; }
    workgroupBarrier();
  }
  if (s == 0u && wid.x * 16u + q < N4) {
    let t = partial[q];
    for (var j = 0u; j < 4u; j++) { finish(c4 * 4u + j, t[j]); }
  }
#endif
#endif
}
