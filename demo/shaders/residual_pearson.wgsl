// residual_pearson — pass 2, second stage: one workgroup folds the centred partial sums
// of residual_centered and writes Pearson's r of each panel,
//   r = Σ(u − ū)(v − v̄) / sqrt(Σ(u − ū)² · Σ(v − v̄)²), clamped to [−1, 1].
//
// Bindings (group 0):
//   0 partials  storage read        array<vec4<f32>>  [G, 3]  from residual_centered
//   1 result    storage read_write  array<vec4<f32>>  [4]     Σdu², Σdv², Σdu·dv, r (one lane per panel)
//   2 params    uniform             Params { groups (G) }
// Dispatch: (1, 1, 1), one workgroup of 256 threads; thread t sums the workgroups
// t, t + 256, t + 512, … then a tree reduction.

struct Params { groups: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> result: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> red: array<vec4<f32>, WG>;

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

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var suu = vec4<f32>(0.0);
  var svv = vec4<f32>(0.0);
  var suv = vec4<f32>(0.0);
  for (var g = lid; g < params.groups; g += WG) {
    suu += partials[g * 3u];
    svv += partials[g * 3u + 1u];
    suv += partials[g * 3u + 2u];
  }
  suu = reduce_sum(suu, lid);
  svv = reduce_sum(svv, lid);
  suv = reduce_sum(suv, lid);
  if (lid == 0u) {
    result[0] = suu;
    result[1] = svv;
    result[2] = suv;
    // sqrt of each factor separately: suu·svv can overflow float32 for large residuals.
    result[3] = clamp(suv / (sqrt(suu) * sqrt(svv)), vec4<f32>(-1.0), vec4<f32>(1.0));
  }
}
