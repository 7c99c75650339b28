// matmul — Y[M, N] = epilogue(X[M, K] · W (+ b)), register-blocked.
//
// W is Hugging Face's Conv1D layout [K, N] (input dim first: y = x·W + b), or [N, K]
// when TRANSPOSE_B (the tied LM head: logits = x · wteᵀ).
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   BIAS         add b[n]
//   GELU         Y = gelu_new(X·W + b)                               (mlp.c_fc)
//   PRE          with GELU: also write pre[m, n] = X·W + b, the value before the GELU
//                (the module mlp.c_fc's own output; only when that tap is asked for)
//   RESIDUAL     Y = X·W + b, and also r[m, n] += Y[m, n]            (attn.c_proj, mlp.c_proj:
//                Y is the sublayer's delta, r the residual stream, updated in place)
//   TRANSPOSE_B  W is [N, K]
//
// Bindings (group 0):
//   0 x       storage read        array<vec4<f32>>  [M, K/4]
//   1 w       storage read        array<vec4<f32>>  [K, N/4], or [N, K/4] when TRANSPOSE_B
//   2 b       storage read        array<f32>        [N]        (BIAS only)
//   3 y       storage read_write  array<f32>        [M, N]
//   4 params  uniform             Params { M, KS }
//             KS > 1 splits K into KS slices, one per workgroup z: slice z writes its raw
//             partial sums to y[z, M, N] (size KS·M·N) with no epilogue; splitk_reduce
//             adds them up and applies the epilogue. KS divides K/4. KS = 1: the usual Y.
//   5 r       storage read_write  array<f32>        [M, N]     (RESIDUAL only)
//   6 pre     storage read_write  array<f32>        [M, N]     (PRE only)
// Overrides: K, N.
// Invariants: K % 4 == 0; N % 4 == 0 unless TRANSPOSE_B; y, r, pre, x do not alias.
// Dispatch: (ceil(N / 128), ceil(M / 16), KS) workgroups of 16×4 threads. Each thread
// holds a 4-row × 8-column block of Y in eight vec4 registers and streams X and W from
// memory (vec4 loads; neighbouring threads read neighbouring columns of W, and share
// rows of X through the cache). No workgroup memory or barriers: on GPUs the caches serve
// the reuse, and on CPU emulation (SwiftShader) this is 2.5× faster than a shared-memory
// tiling, and 25× at M = 1. Rows and columns past the edge are clamped on load and
// skipped on store. Accumulation over k is sequential per output.

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

const TM: u32 = 4u;  // rows per thread
const TN: u32 = 8u;  // columns per thread (two vec4)

fn gelu_new(v: f32) -> f32 {
  // Hugging Face gelu_new: 0.5·v·(1 + tanh(sqrt(2/π)·(v + 0.044715·v³))).
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  // For |u| >= 10, tanh(u) rounds to exactly ±1 in f32; some drivers' tanh returns
  // NaN there (exp overflow), so the exact value is spelled out. Results are unchanged.
  let t = select(tanh(u), sign(u), abs(u) >= 10.0);
  return 0.5 * v * (1.0 + t);
}

@compute @workgroup_size(16, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let K4 = K / 4u;
  let slice = K4 / params.KS;       // this workgroup's share of K, in vec4
  let kb = gid.z * slice;           // first k4 of the slice
  let ke = kb + slice;
  let n0 = gid.x * TN;
  let m0 = gid.y * TM;
  if (n0 >= N || m0 >= M) { return; }
  // Row offsets of X (clamped: rows past M load row M-1, never stored).
  let x0 = min(m0, M - 1u) * K4;
  let x1 = min(m0 + 1u, M - 1u) * K4;
  let x2 = min(m0 + 2u, M - 1u) * K4;
  let x3 = min(m0 + 3u, M - 1u) * K4;
  // c<i><j>: row m0+i, columns n0+4j .. n0+4j+3.
  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);

#if TRANSPOSE_B
  // Rows n0..n0+7 of W [N, K] (clamped), each a dot product with the X rows.
  var wr: array<u32, 8>;
  for (var j = 0u; j < TN; j++) { wr[j] = min(n0 + j, N - 1u) * K4; }
  for (var k4 = kb; k4 < ke; k4++) {
    let a0 = x[x0 + k4]; let a1 = x[x1 + k4]; let a2 = x[x2 + k4]; let a3 = x[x3 + k4];
    let w0 = w[wr[0] + k4]; let w1 = w[wr[1] + k4]; let w2 = w[wr[2] + k4]; let w3 = w[wr[3] + k4];
    let w4 = w[wr[4] + k4]; let w5 = w[wr[5] + k4]; let w6 = w[wr[6] + k4]; let w7 = w[wr[7] + k4];
    c00 += vec4<f32>(dot(a0, w0), dot(a0, w1), dot(a0, w2), dot(a0, w3));
    c01 += vec4<f32>(dot(a0, w4), dot(a0, w5), dot(a0, w6), dot(a0, w7));
    c10 += vec4<f32>(dot(a1, w0), dot(a1, w1), dot(a1, w2), dot(a1, w3));
    c11 += vec4<f32>(dot(a1, w4), dot(a1, w5), dot(a1, w6), dot(a1, w7));
    c20 += vec4<f32>(dot(a2, w0), dot(a2, w1), dot(a2, w2), dot(a2, w3));
    c21 += vec4<f32>(dot(a2, w4), dot(a2, w5), dot(a2, w6), dot(a2, w7));
    c30 += vec4<f32>(dot(a3, w0), dot(a3, w1), dot(a3, w2), dot(a3, w3));
    c31 += vec4<f32>(dot(a3, w4), dot(a3, w5), dot(a3, w6), dot(a3, w7));
  }
#else
  // Columns n0..n0+7 of W [K, N] as two vec4 (the second clamped when N % 8 == 4).
  let N4 = N / 4u;
  let q0 = n0 / 4u;
  let q1 = min(q0 + 1u, N4 - 1u);
  for (var k4 = kb; k4 < ke; k4++) {
    let a0 = x[x0 + k4]; let a1 = x[x1 + k4]; let a2 = x[x2 + k4]; let a3 = x[x3 + k4];
    for (var j = 0u; j < 4u; j++) {
      let row = (k4 * 4u + j) * N4;
      let b0 = w[row + q0];
      let b1 = w[row + q1];
      c00 = fma(vec4<f32>(a0[j]), b0, c00); c01 = fma(vec4<f32>(a0[j]), b1, c01);
      c10 = fma(vec4<f32>(a1[j]), b0, c10); c11 = fma(vec4<f32>(a1[j]), b1, c11);
      c20 = fma(vec4<f32>(a2[j]), b0, c20); c21 = fma(vec4<f32>(a2[j]), b1, c21);
      c30 = fma(vec4<f32>(a3[j]), b0, c30); c31 = fma(vec4<f32>(a3[j]), b1, c31);
    }
  }
#endif

  let acc = array<vec4<f32>, 8>(c00, c01, c10, c11, c20, c21, c30, c31);
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j;
      if (n >= N) { continue; }
      var v = acc[i * 2u + j / 4u][j % 4u];
      if (params.KS > 1u) {
        y[(gid.z * M + m) * N + n] = v;  // partial sum; splitk_reduce applies the epilogue
        continue;
      }
#if BIAS
      v += b[n];
#endif
#if PRE
      pre[m * N + n] = v;
#endif
#if GELU
      v = gelu_new(v);
#endif
      y[m * N + n] = v;
#if RESIDUAL
      r[m * N + n] += v;
#endif
    }
  }
}
