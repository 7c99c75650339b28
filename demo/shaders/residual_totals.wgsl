// residual_totals — the second stage of the residual statistics: one workgroup merges the
// per-thread partials of residual_sums into the totals (kept count, means, min, max of the
// eight quantities u, v) and Pearson's r of each panel,
//   r = Σ(u − ū)(v − v̄) / sqrt(Σ(u − ū)² · Σ(v − v̄)²), clamped to [−1, 1],
// and writes the exclusive prefix sum of the kept counts per workgroup of residual_sums
// (where each workgroup of residual_compact starts writing its points). Partials merge
// pairwise (Chan et al.: n = na + nb, δ = ūb − ūa, ū = ūa + δ·nb/n,
// M2 = M2a + M2b + δ²·na·nb/n, and likewise the cross products), so every term stays
// centred in float32.
//
// Bindings (group 0):
//   0 partials  storage read        array<vec4<f32>>  [G·64, 9]  from residual_sums
//   1 counts    storage read        array<u32>        [G·64]     from residual_sums
//   2 offsets   storage read_write  array<u32>        [G]        exclusive prefix sum of the
//                                                                workgroups' kept counts
//   3 totals    storage read_write  array<vec4<f32>>  [6]        mean u, mean v, min u, min v, max u, max v
//   4 kept      storage read_write  array<u32>        [4]        [0] = total kept entries (K)
//   5 result    storage read_write  array<vec4<f32>>  [4]        Σ(u − ū)², Σ(v − v̄)², Σ(u − ū)(v − v̄), r
//                                                                (one lane per panel)
//   6 params    uniform             Params { groups (G) }
// Dispatch: (1, 1, 1), one workgroup of 64 threads; thread t merges the partials of the
// contiguous block of workgroups [t·B, t·B + B), B = ceil(G / 64), then one tree merges
// the threads' (a single workgroup: its few barriers cost little even on CPU backends).

struct Params { groups: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> totals: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> kept: array<u32>;
@group(0) @binding(5) var<storage, read_write> result: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> params: Params;

const WG: u32 = 64u;
const BIG: f32 = 3.0e38;

/** Running statistics of a set of kept entries (n of them). */
struct Acc {
  n: f32,
  mu: vec4<f32>, mv: vec4<f32>, uu: vec4<f32>, vv: vec4<f32>, uv: vec4<f32>,
  lo_u: vec4<f32>, lo_v: vec4<f32>, hi_u: vec4<f32>, hi_v: vec4<f32>,
}

var<workgroup> w: array<Acc, WG>;
var<workgroup> scan: array<u32, WG>;

fn empty() -> Acc {
  let z = vec4<f32>(0.0);
  return Acc(0.0, z, z, z, z, z, vec4<f32>(BIG), vec4<f32>(BIG), vec4<f32>(-BIG), vec4<f32>(-BIG));
}

/** The statistics of the union of two disjoint sets. */
fn merge(p: Acc, q: Acc) -> Acc {
  if (q.n == 0.0) { return p; }
  if (p.n == 0.0) { return q; }
  let n = p.n + q.n;
  let f = q.n / n;
  let wt = p.n * f;
  let du = q.mu - p.mu;
  let dv = q.mv - p.mv;
  return Acc(n, p.mu + du * f, p.mv + dv * f,
    p.uu + q.uu + du * du * wt, p.vv + q.vv + dv * dv * wt, p.uv + q.uv + du * dv * wt,
    min(p.lo_u, q.lo_u), min(p.lo_v, q.lo_v), max(p.hi_u, q.hi_u), max(p.hi_v, q.hi_v));
}

fn partial(j: u32, c: u32) -> Acc {
  let o = j * 9u;
  return Acc(f32(c), partials[o], partials[o + 1u], partials[o + 2u], partials[o + 3u], partials[o + 4u],
    partials[o + 5u], partials[o + 6u], partials[o + 7u], partials[o + 8u]);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  let G = params.groups;
  let B = (G + WG - 1u) / WG;
  let start = min(lid * B, G);
  let end = min(start + B, G);

  var acc = empty();
  var count = 0u;
  for (var g = start; g < end; g++) {
    for (var t = 0u; t < WG; t++) {
      let j = g * WG + t;
      let c = counts[j];
      if (c == 0u) { continue; }
      count += c;
      acc = merge(acc, partial(j, c));
    }
  }

  // Inclusive scan (Hillis–Steele) of the per-thread counts, then exclusive offsets per workgroup.
  scan[lid] = count;
  workgroupBarrier();
  for (var s = 1u; s < WG; s = s << 1u) {
    var add = 0u;
    if (lid >= s) { add = scan[lid - s]; }
    workgroupBarrier();
    scan[lid] = scan[lid] + add;
    workgroupBarrier();
  }
  var running = scan[lid] - count;
  for (var g = start; g < end; g++) {
    offsets[g] = running;
    for (var t = 0u; t < WG; t++) { running += counts[g * WG + t]; }
  }
  let total = scan[WG - 1u];

  w[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { w[lid] = merge(w[lid], w[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let r = w[0];
    totals[0] = r.mu;
    totals[1] = r.mv;
    totals[2] = r.lo_u;
    totals[3] = r.lo_v;
    totals[4] = r.hi_u;
    totals[5] = r.hi_v;
    kept[0] = total;
    result[0] = r.uu;
    result[1] = r.vv;
    result[2] = r.uv;
    result[3] = clamp(r.uv / (sqrt(r.uu) * sqrt(r.vv)), vec4<f32>(-1.0), vec4<f32>(1.0));
  }
}
