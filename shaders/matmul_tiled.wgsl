// matmul_tiled — Y[M, N] = epilogue(X[M, K] · W (+ b)), tiled in workgroup memory (for GPUs).
//
// The contract of matmul.wgsl (bindings, Params, switches, split-K, overrides): only the schedule
// differs, so the forward pass can run either one per device. W is Hugging Face's Conv1D layout
// [K, N] (y = x·W + b), or [N, K] when TRANSPOSE_B (the tied LM head: logits = x · wteᵀ).
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   BIAS         add b[n]
//   GELU         Y = gelu_new(X·W + b)                               (mlp.c_fc)
//   PRE          with GELU: also write pre[m, n] = X·W + b, the value before the GELU
//   RESIDUAL     Y = X·W + b, and also r[m, n] += Y[m, n]            (attn.c_proj, mlp.c_proj)
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
//   Workgroup memory: 16384 bytes (two 64×16 tiles of X and two of W), WebGPU's default limit.
// Dispatch: (ceil(N / 64), ceil(M / 64), KS) workgroups of 16×16 threads. A workgroup computes a
// 64×64 tile of Y; thread (tx, ty) a 4×4 block of it (rows 4ty..4ty+3; columns 4tx..4tx+3, or
// tx, tx+16, tx+32, tx+48 when TRANSPOSE_B, which keeps its reads of the W tile free of bank
// conflicts) in four vec4 registers. K advances 16 at a time: in each step every thread issues
// one vec4 load of X and one of W for the next step (rows of 64 contiguous bytes of X, and of W
// when TRANSPOSE_B; 256 contiguous bytes of a row of W otherwise), computes this step from
// workgroup memory, then stores what it loaded into the other buffer: double buffering, one
// barrier per step. Rows and columns past the edge are clamped on load and skipped on store;
// the K tail past the slice loads zeros. Accumulation over k is sequential per output, as in
// matmul.wgsl, so the two agree to rounding.

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

const TILE: u32 = 64u;  // rows and columns of Y per workgroup
const BK4: u32 = 4u;    // k per step, in vec4 (16 values of k)

// The tiles of one step, two of each (double buffering); each thread stores one vec4 of each.
//   xs[i][4m + q]   = X[m0 + m, k0 + 4q .. k0 + 4q + 3]                    (64 rows × 4 vec4)
//   ws[i][16k + j]  = W[k0 + k, n0 + 4j .. n0 + 4j + 3]                    ([K, N]: 16 k × 16 vec4)
//   ws[i][64q + n]  = W[n0 + n, k0 + 4q .. k0 + 4q + 3]                    (TRANSPOSE_B: 4 × 64 vec4)
var<workgroup> xs: array<array<vec4<f32>, 256>, 2>;
var<workgroup> ws: array<array<vec4<f32>, 256>, 2>;

// gelu_new exactly as in matmul.wgsl (WGSL has no includes, so the six lines are copied).
fn gelu_new(v: f32) -> f32 {
  // Hugging Face gelu_new: 0.5·v·(1 + tanh(sqrt(2/π)·(v + 0.044715·v³))).
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  // For |u| >= 10, tanh(u) rounds to exactly ±1 in f32; some drivers' tanh returns NaN there.
  let t = select(tanh(u), sign(u), abs(u) >= 10.0);
  return 0.5 * v * (1.0 + t);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let M = params.M;
  let K4 = K / 4u;
  let slice = K4 / params.KS;          // this workgroup's share of K, in vec4
  let kb = wid.z * slice;              // first k4 of the slice
  let ke = kb + slice;
  let steps = (slice + BK4 - 1u) / BK4;
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let tx = lid3.x;
  let ty = lid3.y;

  // What this thread loads each step: X row m0 + lid/4 (clamped), vec4 lid%4 of the step;
  // and W: [N, K] row n0 + lid/4 (clamped), vec4 lid%4; or [K, N] row lid/16 of the step,
  // column quad lid%16 (clamped). Past the slice's end both load zeros.
  let lq = lid % 4u;
  let xrow = min(m0 + lid / 4u, M - 1u) * K4;
#if TRANSPOSE_B
  let wrow = min(n0 + lid / 4u, N - 1u) * K4;
  let wslot = lq * 64u + lid / 4u;
#else
  let N4 = N / 4u;
  let wk = lid / 16u;
  let wq = min(n0 / 4u + lid % 16u, N4 - 1u);
  let wslot = lid;
#endif
  let zero = vec4<f32>(0.0);

  // Step 0 into buffer 0.
  var k4 = kb + lq;
  var xv = select(zero, x[xrow + min(k4, ke - 1u)], k4 < ke);
#if TRANSPOSE_B
  var wv = select(zero, w[wrow + min(k4, ke - 1u)], k4 < ke);
#else
  var kw = kb * 4u + wk;
  var wv = select(zero, w[min(kw, ke * 4u - 1u) * N4 + wq], kw < ke * 4u);
#endif
  xs[0][lid] = xv;
  ws[0][wslot] = wv;
  workgroupBarrier();

  // c<i>: row m0 + 4ty + i, the thread's four columns.
  var c0 = zero; var c1 = zero; var c2 = zero; var c3 = zero;
  for (var s = 0u; s < steps; s++) {
    let cur = s % 2u;
    let more = s + 1u < steps;
    if (more) {  // the next step's loads, in flight while this step computes
      k4 = kb + (s + 1u) * BK4 + lq;
      xv = select(zero, x[xrow + min(k4, ke - 1u)], k4 < ke);
#if TRANSPOSE_B
      wv = select(zero, w[wrow + min(k4, ke - 1u)], k4 < ke);
#else
      kw = (kb + (s + 1u) * BK4) * 4u + wk;
      wv = select(zero, w[min(kw, ke * 4u - 1u) * N4 + wq], kw < ke * 4u);
#endif
    }
    for (var q = 0u; q < BK4; q++) {
      // rows 4ty..4ty+3 at k = 4q..4q+3
      let a0 = xs[cur][(ty * 4u) * 4u + q];
      let a1 = xs[cur][(ty * 4u + 1u) * 4u + q];
      let a2 = xs[cur][(ty * 4u + 2u) * 4u + q];
      let a3 = xs[cur][(ty * 4u + 3u) * 4u + q];
#if TRANSPOSE_B
      // columns tx + 16j at k = 4q..4q+3
      let w0 = ws[cur][q * 64u + tx];
      let w1 = ws[cur][q * 64u + tx + 16u];
      let w2 = ws[cur][q * 64u + tx + 32u];
      let w3 = ws[cur][q * 64u + tx + 48u];
#endif
      for (var j = 0u; j < 4u; j++) {
#if TRANSPOSE_B
        let bv = vec4<f32>(w0[j], w1[j], w2[j], w3[j]);
#else
        let bv = ws[cur][(q * 4u + j) * 16u + tx];
#endif
        c0 = fma(vec4<f32>(a0[j]), bv, c0);
        c1 = fma(vec4<f32>(a1[j]), bv, c1);
        c2 = fma(vec4<f32>(a2[j]), bv, c2);
        c3 = fma(vec4<f32>(a3[j]), bv, c3);
      }
    }
    if (more) {
      xs[1u - cur][lid] = xv;
      ws[1u - cur][wslot] = wv;
    }
    workgroupBarrier();
  }

  let acc = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= M) { continue; }
    for (var j = 0u; j < 4u; j++) {
#if TRANSPOSE_B
      let n = n0 + tx + 16u * j;
#else
      let n = n0 + tx * 4u + j;
#endif
      if (n >= N) { continue; }
      var v = acc[i][j];
      if (params.KS > 1u) {
        y[(wid.z * M + m) * N + n] = v;  // partial sum; splitk_reduce applies the epilogue
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
