// residual_totals — pass 1, second stage: one workgroup folds the per-workgroup
// partials of residual_sums into the totals (kept count, means, min, max of the eight
// quantities u, v) and writes the exclusive prefix sum of the kept counts (where each
// workgroup of residual_compact starts writing its points).
//
// Bindings (group 0):
//   0 partials  storage read        array<vec4<f32>>  [G, 6]  from residual_sums
//   1 counts    storage read        array<u32>        [G]     from residual_sums
//   2 offsets   storage read_write  array<u32>        [G]     exclusive prefix sum of counts
//   3 totals    storage read_write  array<vec4<f32>>  [6]     mean u, mean v, min u, min v, max u, max v
//   4 kept      storage read_write  array<u32>        [4]     [0] = total kept entries (K)
//   5 params    uniform             Params { groups (G) }
// Dispatch: (1, 1, 1), one workgroup of 256 threads; thread t handles the contiguous
// block of workgroups [t·B, t·B + B), B = ceil(G / 256).

struct Params { groups: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> totals: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> kept: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 256u;
const BIG: f32 = 3.0e38;
var<workgroup> red: array<vec4<f32>, WG>;
var<workgroup> scan: array<u32, WG>;

fn reduce_sum(v: vec4<f32>, lid: u32) -> vec4<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_min(v: vec4<f32>, lid: u32) -> vec4<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = min(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_max(v: vec4<f32>, lid: u32) -> vec4<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let G = params.groups;
  let B = (G + WG - 1u) / WG;
  let start = min(lid * B, G);
  let end = min(start + B, G);

  var su = vec4<f32>(0.0);
  var sv = vec4<f32>(0.0);
  var lo_u = vec4<f32>(BIG);
  var lo_v = vec4<f32>(BIG);
  var hi_u = vec4<f32>(-BIG);
  var hi_v = vec4<f32>(-BIG);
  var count = 0u;
  for (var g = start; g < end; g++) {
    let o = g * 6u;
    su += partials[o];
    sv += partials[o + 1u];
    lo_u = min(lo_u, partials[o + 2u]);
    lo_v = min(lo_v, partials[o + 3u]);
    hi_u = max(hi_u, partials[o + 4u]);
    hi_v = max(hi_v, partials[o + 5u]);
    count += counts[g];
  }

  // Inclusive scan (Hillis–Steele) of the per-thread counts, then exclusive offsets.
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
    running += counts[g];
  }
  let total = scan[WG - 1u];

  su = reduce_sum(su, lid);
  sv = reduce_sum(sv, lid);
  lo_u = reduce_min(lo_u, lid);
  lo_v = reduce_min(lo_v, lid);
  hi_u = reduce_max(hi_u, lid);
  hi_v = reduce_max(hi_v, lid);
  if (lid == 0u) {
    let n = max(f32(total), 1.0);
    totals[0] = su / n;
    totals[1] = sv / n;
    totals[2] = lo_u;
    totals[3] = lo_v;
    totals[4] = hi_u;
    totals[5] = hi_v;
    kept[0] = total;
  }
}
