// attention_flash — causal multi-head self-attention with an online softmax (flash attention),
// writing only the output, never the T×TK scores or probabilities:
//   out[t, h*HD : (h+1)*HD] = Σ_{j <= P0+t} softmax_j((q_t · k_j) / sqrt(HD)) · v_j   (heads merged, [T, D])
// Query row t sits at absolute position P0 + t; there are TK = P0 + T keys. q, k, v are the
// thirds of the c_attn output: qkv[t] = [q (D) | k (D) | v (D)], head h at columns
// h*HD .. h*HD+HD-1 of each third, as in attention.wgsl. Without CACHED, keys and values are
// the rows of qkv itself (P0 = 0, TK = T).
//
// A workgroup takes BQ queries of one head, and 64/BQ "key lanes" per query. Keys and values
// stream through workgroup memory in tiles of BK = 32 (loaded once, with coalesced vec4 reads,
// for all BQ queries); lane k of a query takes the tile's keys k, k + 64/BQ, … four at a time
// (four independent dot products per read of q), keeping the running max m, the running sum
// l = Σ exp(s - m) and the accumulator acc = Σ exp(s - m)·v of its keys (rescaled only when m
// grows). At the end the lanes of each query are merged: out = Σ acc·exp(m - M) / Σ l·exp(m - M),
// M the largest m. With one query (T = 1, generation) there is nothing to share, and each of
// the 64 lanes reads its own keys from global memory.
//
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   CACHED       keys and values come from the KV cache kv [TK, 2D] (row j = k_j | v_j, written
//                by kv_store for every position so far); generation runs T = 1 per step
//
// Bindings (group 0):
//   0 qkv     storage read        array<vec4<f32>>  [T, 3D/4]
//   2 out     storage read_write  array<vec4<f32>>  [T, D/4]
//   3 params  uniform             Params { T, KS (unused), P0, TK }
//   4 kv      storage read        array<vec4<f32>>  [TK, 2D/4]  (CACHED only)
// (binding 1, the probabilities, is attention.wgsl's alone: the two bind tables stay parallel.)
// Overrides: H (n_head), HD (head dim, D = H*HD); HD4 and TILE4 follow from HD (not set by the host).
// Invariants: HD % 4 == 0, HD <= 64 (GPT-2's head dim at every size): q and acc are private
//   arrays of at most 64 floats each, registers on a GPU, and workgroup memory is 256·HD bytes,
//   at most 16 KiB (WebGPU's default maxComputeWorkgroupStorageSize). No limit on TK.
// Dispatch: (ceil(T / BQ), H, 1) workgroups of 64 threads, BQ = min(16, the least power of two
//   >= T); workgroup (b, h) takes queries b*BQ .. b*BQ+BQ-1 of head h; thread lid is query
//   lid % BQ, key lane lid / BQ.

override H: u32;
override HD: u32;
override HD4: u32 = HD / 4u;          // derived, not set by the host
override TILE4: u32 = 16u * HD;       // vec4s of workgroup memory: 2·BK·HD4 = 64·HD4 (derived)

struct Params { T: u32, KS: u32, P0: u32, TK: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;
#if CACHED
@group(0) @binding(4) var<storage, read> kv: array<vec4<f32>>;
#endif

const WG: u32 = 64u;
const BK: u32 = 32u;        // keys per tile
const BQ_MAX: u32 = 16u;    // queries per workgroup, at most
const MAX_HD4: u32 = 16u;   // HD <= 64
const LOWEST: f32 = -0x1.fffffep+127f;  // lowest finite f32: the max of no scores

// Rows 0..BK-1: the tile's keys, rows BK..2BK-1: its values (row r at r*HD4). At the end, the
// lanes' (m, l) at [lid], then their rescaled accumulators at lid*HD4.
var<workgroup> tile: array<vec4<f32>, TILE4>;

// This thread's query (pre-scaled by 1/sqrt(HD)) and online-softmax state.
var<private> q: array<vec4<f32>, MAX_HD4>;
var<private> acc: array<vec4<f32>, MAX_HD4>;
var<private> m: f32;
var<private> l: f32;

// Keys and values: rows of qkv (k at third 1, v at third 2), or of the cache (k | v).
#if CACHED
const KV_ROW: u32 = 2u;  // a key/value row, in units of D
const K_AT: u32 = 0u;
fn kv4(e4: u32) -> vec4<f32> { return kv[e4]; }
#else
const KV_ROW: u32 = 3u;
const K_AT: u32 = 1u;
fn kv4(e4: u32) -> vec4<f32> { return qkv[e4]; }
#endif

// Queries per workgroup for T query rows (GRID.attentionFlash computes the same on the host).
fn queries_per_workgroup(T: u32) -> u32 {
  if (T <= 1u) { return 1u; }
  if (T >= BQ_MAX) { return BQ_MAX; }
  return 1u << (firstLeadingBit(T - 1u) + 1u);
}

// Takes in the scores of up to four keys (those not `valid` are ignored): returns their weights
// exp(s - m), first rescaling acc and l if they raise the running max m (rare after the first
// keys, so acc is seldom touched).
fn admit(s: vec4<f32>, valid: vec4<bool>) -> vec4<f32> {
  let sv = select(vec4<f32>(LOWEST), s, valid);
  let top = max(max(sv.x, sv.y), max(sv.z, sv.w));
  if (top > m) {
    let c = exp(m - top);
    for (var i = 0u; i < HD4; i++) { acc[i] *= c; }
    l *= c;
    m = top;
  }
  let p = select(vec4<f32>(0.0), exp(sv - m), valid);
  l += p.x + p.y + p.z + p.w;
  return p;
}

// Sums the four lanes of each of four dot-product partials: (d0·1, d1·1, d2·1, d3·1).
fn sums(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>) -> vec4<f32> {
  let one = vec4<f32>(1.0);
  return vec4<f32>(dot(d0, one), dot(d1, one), dot(d2, one), dot(d3, one));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let P0 = params.P0;
  let bq = queries_per_workgroup(T);
  let lanes = WG / bq;
  let qi = lid % bq;
  let lane = lid / bq;
  let t = wid.x * bq + qi;
  let live = t < T;                    // the last block may run past T
  let last = P0 + min(t, T - 1u);      // the last key this query sees
  let h = wid.y;
  let D4 = H * HD4;                    // one third of a qkv row, in vec4
  let k0 = K_AT * D4 + h * HD4;        // key j, vec4 c at kv4(j * KV_ROW * D4 + k0 + c)
  let v0 = k0 + D4;                    // and its value at kv4(j * KV_ROW * D4 + v0 + c)

  m = LOWEST;
  l = 0.0;
  let scale = 1.0 / sqrt(f32(HD));
  for (var c = 0u; c < HD4; c++) {
    q[c] = qkv[min(t, T - 1u) * 3u * D4 + h * HD4 + c] * scale;
    acc[c] = vec4<f32>(0.0);
  }

  // Keys are taken four at a time per thread (four independent dot products per q load, one
  // acc update per four keys); slots past a thread's last key are clamped to a real key and masked.
  if (bq == 1u) {
    // One query: lane k takes keys k, k + 64, … straight from global memory (whole rows per thread).
    for (var j = lane; j <= last; j += 4u * WG) {
      let js = vec4<u32>(j, j + WG, j + 2u * WG, j + 3u * WG);
      let valid = js <= vec4<u32>(last);
      let e = min(js, vec4<u32>(last)) * KV_ROW * D4;
      var d0 = vec4<f32>(0.0); var d1 = vec4<f32>(0.0); var d2 = vec4<f32>(0.0); var d3 = vec4<f32>(0.0);
      for (var c = 0u; c < HD4; c++) {
        let qc = q[c];
        d0 = fma(qc, kv4(e.x + k0 + c), d0);
        d1 = fma(qc, kv4(e.y + k0 + c), d1);
        d2 = fma(qc, kv4(e.z + k0 + c), d2);
        d3 = fma(qc, kv4(e.w + k0 + c), d3);
      }
      let p = admit(sums(d0, d1, d2, d3), valid);
      for (var c = 0u; c < HD4; c++) {
        acc[c] += p.x * kv4(e.x + v0 + c) + p.y * kv4(e.y + v0 + c) + p.z * kv4(e.z + v0 + c) + p.w * kv4(e.w + v0 + c);
      }
    }
  } else {
    let block_last = P0 + min(wid.x * bq + bq, T) - 1u;  // the last key any query of the block sees
    for (var j0 = 0u; j0 <= block_last; j0 += BK) {
      // Stage keys and values j0 .. j0+BK-1 (those any query sees): consecutive threads, consecutive vec4s.
      let rows = min(BK, block_last + 1u - j0);
      for (var i = lid; i < rows * HD4; i += WG) {
        let e = (j0 + i / HD4) * KV_ROW * D4 + i % HD4;
        tile[i] = kv4(e + k0);
        tile[BK * HD4 + i] = kv4(e + v0);
      }
      workgroupBarrier();
      if (live && j0 <= last) {
        // The threads of one lane read the same row (a broadcast, no bank conflicts).
        let n = min(BK, last + 1u - j0);
        for (var r = lane; r < n; r += 4u * lanes) {
          let rs = vec4<u32>(r, r + lanes, r + 2u * lanes, r + 3u * lanes);
          let valid = rs < vec4<u32>(n);
          let e = min(rs, vec4<u32>(n - 1u)) * HD4;
          var d0 = vec4<f32>(0.0); var d1 = vec4<f32>(0.0); var d2 = vec4<f32>(0.0); var d3 = vec4<f32>(0.0);
          for (var c = 0u; c < HD4; c++) {
            let qc = q[c];
            d0 = fma(qc, tile[e.x + c], d0);
            d1 = fma(qc, tile[e.y + c], d1);
            d2 = fma(qc, tile[e.z + c], d2);
            d3 = fma(qc, tile[e.w + c], d3);
          }
          let p = admit(sums(d0, d1, d2, d3), valid);
          let ev = e + vec4<u32>(BK * HD4);
          for (var c = 0u; c < HD4; c++) {
            acc[c] += p.x * tile[ev.x + c] + p.y * tile[ev.y + c] + p.z * tile[ev.z + c] + p.w * tile[ev.w + c];
          }
        }
      }
      workgroupBarrier();
    }
  }

  // Merge the lanes of each query (lanes of query qi are threads qi, qi + bq, …): the largest
  // max M, the sum L = Σ l·exp(m - M), and out = Σ acc·exp(m - M) / L, summed by the threads
  // that write out (the first HD4 lanes, each taking columns lane, lane + lanes, …).
  let writes = live && lane < HD4;
  tile[lid] = vec4<f32>(m, l, 0.0, 0.0);
  workgroupBarrier();
  var M = LOWEST;
  for (var k = 0u; k < lanes; k++) { M = max(M, tile[k * bq + qi].x); }
  var L = 0.0;
  if (writes) {
    for (var k = 0u; k < lanes; k++) {
      let st = tile[k * bq + qi];
      L += st.y * exp(st.x - M);
    }
  }
  let f = exp(m - M);
  workgroupBarrier();
  for (var c = 0u; c < HD4; c++) { tile[lid * HD4 + c] = acc[c] * f; }
  workgroupBarrier();
  if (writes) {
    let inv_sum = 1.0 / L;
    for (var c = lane; c < HD4; c += lanes) {
      var o = vec4<f32>(0.0);
      for (var k = 0u; k < lanes; k++) { o += tile[(k * bq + qi) * HD4 + c]; }
      out[t * D4 + h * HD4 + c] = o * inv_sum;
    }
  }
}
