// edit — an intervention on a tap point, in place, like a Hugging Face forward hook that
// returns a new output: for the selected heads a, rows r and columns c of y [A, R, C],
//   op 0 zero   y = 0
//   op 1 set    y = value
//   op 2 scale  y = y · value
//   op 3 add    y = y + value · data[rank of c among the selected columns]
//   op 4 patch  y = data[a, row0 + r, c]   (the same entry of a clean run, shape [A, DR, DC])
// A = H for attentions.l ([H, T, TK]: heads, query rows, keys), else 1 ([T, W]). Row r is
// the absolute position row0 + r (row0 > 0 in generation steps).
//
// Variants (wgsl-preprocessor conditionals, chosen on the host):
//   MIRROR       also add the change (new − old) to m [R, C]: the point was already added
//                into the residual stream by a fused kernel (a c_proj's delta, wte, wpe), and
//                the edited value is what must flow on
//
// Bindings (group 0):
//   0 y       storage read_write  array<f32>  [A, R, C]   the point
//   1 sel     storage read        array<i32>  [A + RS + CS]  head flags (0/1), flags of absolute
//             rows 0..RS-1, column ranks for 0..CS-1 (-1: not selected)
//   2 data    storage read        array<f32>  the add vector, or the patch tensor [A, DR, DC]
//   3 params  uniform             Params
//   4 m       storage read_write  array<f32>  [R, C]   (MIRROR only)
// Dispatch: (min(G, 65535), ceil(G / 65535), 1) workgroups of 256 threads, G = ceil(A·R·C / 256).

struct Params {
  A: u32, R: u32, C: u32, row0: u32,
  op: u32, RS: u32, DR: u32, DC: u32,
  value: f32, nx: u32, _p0: u32, _p1: u32,   // nx: workgroups along x
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> sel: array<i32>;
@group(0) @binding(2) var<storage, read> data: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#if MIRROR
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * params.nx + wid.x) * 256u + lid;
  let A = params.A; let R = params.R; let C = params.C;
  if (i >= A * R * C) { return; }
  let a = i / (R * C);
  let r = (i / C) % R;
  let c = i % C;
  let row = params.row0 + r;
  let rank = sel[A + params.RS + c];
  if (sel[a] == 0 || sel[A + row] == 0 || rank < 0) { return; }
  let old = y[i];
  var v = old;
  switch params.op {
    case 0u: { v = 0.0; }
    case 1u: { v = params.value; }
    case 2u: { v = old * params.value; }
    case 3u: { v = old + params.value * data[u32(rank)]; }
    default: { v = data[(a * params.DR + row) * params.DC + c]; }
  }
  y[i] = v;
#if MIRROR
  m[r * C + c] += v - old;
#endif
}
