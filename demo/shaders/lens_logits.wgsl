// lens_logits — the logit lens's second half: the unembedding applied to ln_f-normalised
// rows, logits[r, v] = Σ_d y[r, d] · W[v, d], where W is the model's own wte.weight
// (or lm_head.weight when untied) [V, D], read in place from the model's buffer.
//
// Bindings (group 0):
//   0 y       storage read        array<f32>  [R, D]  from lens_norm
//   1 w       storage read        array<f32>  [V, D]  unembedding
//   2 logits  storage read_write  array<f32>  [R, V]
//   3 params  uniform             Params { rows (R), d (D), vocab (V) }
// Dispatch: (ceil(V / 64), ceil(R / 4), 1) workgroups of 64 threads; thread (v, block b)
// computes rows 4b..4b+3 of column v, reading W's row v once for the four rows.

struct Params { rows: u32, d: u32, vocab: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  if (v >= params.vocab) { return; }
  let D = params.d;
  let R = params.rows;
  let r0 = gid.y * 4u;
  // Rows past R read row R − 1 (never written): no branch in the inner loop.
  let r1 = min(r0 + 1u, R - 1u);
  let r2 = min(r0 + 2u, R - 1u);
  let r3 = min(r0 + 3u, R - 1u);
  var acc = vec4<f32>(0.0);
  for (var d = 0u; d < D; d++) {
    let wv = w[v * D + d];
    acc += wv * vec4<f32>(y[r0 * D + d], y[r1 * D + d], y[r2 * D + d], y[r3 * D + d]);
  }
  let V = params.vocab;
  logits[r0 * V + v] = acc.x;
  if (r0 + 1u < R) { logits[(r0 + 1u) * V + v] = acc.y; }
  if (r0 + 2u < R) { logits[(r0 + 2u) * V + v] = acc.z; }
  if (r0 + 3u < R) { logits[(r0 + 3u) * V + v] = acc.w; }
}
