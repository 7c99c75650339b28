// matmul — Y[M, N] = epilogue(X[M, K] · W (+ b)), register-tiled.
//
// W is Hugging Face's Conv1D layout [K, N] (input dim first: y = x·W + b), or [N, K]
// when TRANSPOSE_B (the tied LM head: logits = x · wteᵀ).
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   BIAS         add b[n]
//   GELU         Y = gelu_new(X·W + b)                               (mlp.c_fc)
//   RESIDUAL     Y = X·W + b, and also r[m, n] += Y[m, n]            (attn.c_proj, mlp.c_proj:
//                Y is the sublayer's delta, r the residual stream, updated in place)
//   TRANSPOSE_B  W is [N, K]
//
// Bindings (group 0):
//   0 x       storage read        array<vec4<f32>>  [M, K/4]
//   1 w       storage read        array<vec4<f32>>  [K, N/4], or [N, K/4] when TRANSPOSE_B
//   2 b       storage read        array<f32>        [N]        (BIAS only)
//   3 y       storage read_write  array<f32>        [M, N]
//   4 params  uniform             Params { M }
//   5 r       storage read_write  array<f32>        [M, N]     (RESIDUAL only)
// Overrides: K, N.
// Invariants: K % 4 == 0; N % 4 == 0 unless TRANSPOSE_B; y, r, x do not alias.
// Dispatch: (ceil(N / 64), ceil(M / 32), 1) workgroups of 8×8 threads. A workgroup
// computes a 32×64 tile of Y, stepping through K in slices of 16 staged in workgroup
// memory; each thread holds 4 rows × 8 columns (two vec4) of the tile in registers.
// Accumulation order over k is sequential per output: results do not depend on the tile.

override K: u32;
override N: u32;

struct Params { M: u32 }

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

const BM: u32 = 32u;   // tile rows
const BN: u32 = 64u;   // tile columns
const BK: u32 = 16u;   // k slice
const TM: u32 = 4u;    // rows per thread
const TN4: u32 = 2u;   // vec4 columns per thread (8 scalars)

var<workgroup> As: array<f32, 512>;        // [BK][BM]: the X slice, transposed
var<workgroup> Bs: array<vec4<f32>, 256>;  // [BK][BN/4]: the W slice

fn gelu_new(v: f32) -> f32 {
  // Hugging Face gelu_new: 0.5·v·(1 + tanh(sqrt(2/π)·(v + 0.044715·v³))).
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  // For |u| >= 10, tanh(u) rounds to exactly ±1 in f32; some drivers' tanh returns
  // NaN there (exp overflow), so the exact value is spelled out. Results are unchanged.
  let t = select(tanh(u), sign(u), abs(u) >= 10.0);
  return 0.5 * v * (1.0 + t);
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let K4 = K / 4u;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let tid = lid.y * 8u + lid.x;

  var acc: array<vec4<f32>, 8>;  // [TM][TN4]

  for (var k0 = 0u; k0 < K; k0 += BK) {
    // X slice: BM rows × BK/4 vec4 = 128 vec4, two per thread, stored transposed.
    for (var i = 0u; i < 2u; i++) {
      let e = tid + i * 64u;
      let row = e / 4u;
      let c4 = e % 4u;
      let m = m0 + row;
      let k4 = k0 / 4u + c4;
      var v = vec4<f32>(0.0);
      if (m < M && k4 < K4) { v = x[m * K4 + k4]; }
      As[(c4 * 4u + 0u) * BM + row] = v.x;
      As[(c4 * 4u + 1u) * BM + row] = v.y;
      As[(c4 * 4u + 2u) * BM + row] = v.z;
      As[(c4 * 4u + 3u) * BM + row] = v.w;
    }
#if TRANSPOSE_B
    // W slice from [N, K]: BN rows of W × BK/4 vec4 = 256 vec4, four per thread, scattered into [k][n].
    for (var i = 0u; i < 4u; i++) {
      let e = tid + i * 64u;
      let col = e / 4u;
      let c4 = e % 4u;
      let n = n0 + col;
      let k4 = k0 / 4u + c4;
      var v = vec4<f32>(0.0);
      if (n < N && k4 < K4) { v = w[n * K4 + k4]; }
      let slot = col / 4u;
      let lane = col % 4u;
      Bs[(c4 * 4u + 0u) * (BN / 4u) + slot][lane] = v.x;
      Bs[(c4 * 4u + 1u) * (BN / 4u) + slot][lane] = v.y;
      Bs[(c4 * 4u + 2u) * (BN / 4u) + slot][lane] = v.z;
      Bs[(c4 * 4u + 3u) * (BN / 4u) + slot][lane] = v.w;
    }
#else
    // W slice from [K, N]: BK rows × BN/4 vec4 = 256 vec4, four per thread.
    for (var i = 0u; i < 4u; i++) {
      let e = tid + i * 64u;
      let kk = e / (BN / 4u);
      let c4 = e % (BN / 4u);
      let k = k0 + kk;
      let n4 = n0 / 4u + c4;
      var v = vec4<f32>(0.0);
      if (k < K && n4 < N / 4u) { v = w[k * (N / 4u) + n4]; }
      Bs[kk * (BN / 4u) + c4] = v;
    }
#endif
    workgroupBarrier();

    for (var kk = 0u; kk < BK; kk++) {
      let b0 = Bs[kk * (BN / 4u) + lid.x * TN4];
      let b1 = Bs[kk * (BN / 4u) + lid.x * TN4 + 1u];
      for (var i = 0u; i < TM; i++) {
        let a = As[kk * BM + lid.y * TM + i];
        acc[i * TN4] = fma(vec4<f32>(a), b0, acc[i * TN4]);
        acc[i * TN4 + 1u] = fma(vec4<f32>(a), b1, acc[i * TN4 + 1u]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid.y * TM + i;
    if (m >= M) { continue; }
    for (var j = 0u; j < TN4 * 4u; j++) {
      let n = n0 + lid.x * TN4 * 4u + j;
      if (n >= N) { continue; }
      var v = acc[i * TN4 + j / 4u][j % 4u];
#if BIAS
      v += b[n];
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
