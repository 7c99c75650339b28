// heatmap — colours of a heatmap, one packed RGBA8 pixel per value (little-endian
// R | G << 8 | B << 16 | A << 24, the byte order of ImageData), written straight into the
// canvas's pixel array after one read-back.
//   mode 0 (diverging, residual dimensions): v / scale clamped to [−1, 1]; blue (−) — white — red (+).
//   mode 1 (sequential, attention probabilities): v / scale clamped to [0, 1]; white — dark blue;
//          with causal = 1 the entries above the diagonal (key > query, never attended) are grey.
//
// Bindings (group 0):
//   0 values  storage read        array<f32>  [N]   row-major [rows, cols]
//   1 pixels  storage read_write  array<u32>  [N]   packed RGBA8
//   2 params  uniform             Params { n, cols, mode, causal, scale }
// Dispatch: (ceil(N / 256), 1, 1) workgroups of 256 threads, one value per thread
// (N ≤ 256 · 65535; the caller splits nothing: heatmaps are T·D or T·T).

struct Params { n: u32, cols: u32, mode: u32, causal: u32, scale: f32, pad0: f32, pad1: f32, pad2: f32 }

@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<storage, read_write> pixels: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn pack(c: vec3<f32>) -> u32 {
  let b = vec3<u32>(round(clamp(c, vec3<f32>(0.0), vec3<f32>(1.0)) * 255.0));
  return b.x | (b.y << 8u) | (b.z << 16u) | (255u << 24u);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.n) { return; }
  let v = values[i];
  let s = max(params.scale, 1e-30);
  var c: vec3<f32>;
  if (params.mode == 0u) {
    let u = clamp(v / s, -1.0, 1.0);
    if (u >= 0.0) {
      c = mix(vec3<f32>(1.0), vec3<f32>(0.70, 0.09, 0.17), u);
    } else {
      c = mix(vec3<f32>(1.0), vec3<f32>(0.13, 0.40, 0.67), -u);
    }
  } else {
    let row = i / params.cols;
    let col = i % params.cols;
    if (params.causal == 1u && col > row) {
      c = vec3<f32>(0.93);
    } else {
      let u = clamp(v / s, 0.0, 1.0);
      c = mix(vec3<f32>(1.0), vec3<f32>(0.03, 0.19, 0.42), u);
    }
  }
  // NaN or ±Inf shows magenta, never a plausible colour.
  if (v != v || abs(v) > 3.0e38) { c = vec3<f32>(1.0, 0.0, 1.0); }
  pixels[i] = pack(c);
}
