// scatter_shade — the pixels of the WebGPU point layer: one panel's density image (from
// scatter_raster) as colours, one packed RGBA8 pixel per canvas pixel (little-endian
// R | G << 8 | B << 16 | A << 24, ImageData's byte order). n points of opacity α on one
// pixel blend as one of opacity 1 − (1 − α)^n = 1 − 2^(n · log2(1 − α)) (what alpha
// blending of same-coloured points gives, in any order; log2(1 − α) comes computed); the
// selected points (plane 1) over them, the hovered entry's disc, and the identity line
// y = x where the panel has one (1 pixel wide, antialiased). One dispatch per panel, each
// with its own Shade (no per-pixel indexing by panel: costly on CPU backends).
//
// Bindings (group 0):
//   0 density  storage read        array<u32>  [4, 2, H, W]  from scatter_raster
//   1 pixels   storage read_write  array<u32>  [4, H, W]     packed RGBA8, panel after panel
//   2 params   uniform             Shade { width, height, log2(1 − α), log2(1 − α_sel), panel,
//                                  background, color, color_sel, line_color (rgb, alpha),
//                                  hover = (x, y, radius, on), line = (x, y, ux, uy): a point
//                                  of the line and its unit direction, (0, 0) for none; in pixels }
// Dispatch: (ceil(W / 64), H, 1) workgroups of 64 threads per panel: thread (x, y) shades
// pixel (x, y) of panel `panel`.

struct Shade {
  width: u32, height: u32, log_keep: f32, log_keep_sel: f32,
  panel: u32, pad0: u32, pad1: u32, pad2: u32,
  background: vec4<f32>,
  color: vec4<f32>,
  color_sel: vec4<f32>,
  line_color: vec4<f32>,
  hover: vec4<f32>,
  line: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> density: array<u32>;
@group(0) @binding(1) var<storage, read_write> pixels: array<u32>;
@group(0) @binding(2) var<uniform> params: Shade;

fn pack(c: vec3<f32>) -> u32 {
  let b = vec3<u32>(round(clamp(c, vec3<f32>(0.0), vec3<f32>(1.0)) * 255.0));
  return b.x | (b.y << 8u) | (b.z << 16u) | (255u << 24u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let W = params.width;
  let area = W * params.height;
  if (gid.x >= W) { return; }
  let p = params.panel;
  let r = gid.y * W + gid.x;
  let n = f32(density[(p * 2u) * area + r]);
  let n_sel = f32(density[(p * 2u + 1u) * area + r]);
  var c = params.background.rgb;
  if (n > 0.0) { c = mix(c, params.color.rgb, 1.0 - exp2(n * params.log_keep)); }
  if (n_sel > 0.0) { c = mix(c, params.color_sel.rgb, 1.0 - exp2(n_sel * params.log_keep_sel)); }
  let px = vec2<f32>(f32(gid.x) + 0.5, f32(gid.y) + 0.5);
  let h = params.hover;
  if (h.w > 0.0 && distance(px, h.xy) <= h.z) { c = params.color_sel.rgb; }
  let l = params.line;
  if (any(l.zw != vec2<f32>(0.0))) {
    let d = px - l.xy;
    let cover = clamp(1.0 - abs(d.x * l.w - d.y * l.z), 0.0, 1.0);
    c = mix(c, params.line_color.rgb, cover * params.line_color.a);
  }
  pixels[p * area + r] = pack(c);
}
