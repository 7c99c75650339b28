// Our half of `npm run bench`, the same code in the browser (g = dist/gpt2-taps.js) and in
// Node (g = the library bundled with nodeDevice): the forward pass at each length, ids in →
// logits out, the cost of all taps against none, decoding with the KV cache (ms per token
// against the bandwidth bound: every weight read once per token), the device peak, and the
// matmul kernel at GPT-2-small shapes as a fraction of the measured FMA peak.

/** GPT-2 small (D = 768) at T = 128: the four matmuls of a block, with the model's epilogues. */
export const SMALL_SHAPES = [
  { name: 'attn.c_attn', K: 768, N: 2304, variant: { bias: true } },
  { name: 'attn.c_proj', K: 768, N: 768, variant: { bias: true, residual: true } },
  { name: 'mlp.c_fc', K: 768, N: 3072, variant: { bias: true, gelu: true } },
  { name: 'mlp.c_proj', K: 3072, N: 768, variant: { bias: true, residual: true } },
];
export const SMALL_T = 128;

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * g: the library; device: a GPUDevice; model: a model source; prompts: { T: ids }.
 * Returns { peak, forward: [{ T, ours, taps, profile }], matmul: [...] } and, per T, the
 * last logits (for comparison with onnxruntime-web) through onLogits(T, Float32Array).
 */
export async function benchOurs(g, device, model, prompts, { runs = 5, warmup = 2, log = () => {}, onLogits } = {}) {
  log('device peak: FMA rate and copy bandwidth…');
  const peak = await g.measurePeak(device);
  log(`  FMA ${peak.fmaGflops.toFixed(2)} GFLOP/s, copy ${peak.copyGBps.toFixed(1)} GB/s, shader copy ${peak.shaderCopyGBps.toFixed(1)} GB/s`);
  const m = await g.GPT2.load(model, { device });
  const forward = [];
  let decode;
  try {
    for (const [T, ids] of Object.entries(prompts).map(([t, ids]) => [Number(t), ids])) {
      log(`ours, T=${T}: ${warmup} warm-up + ${runs} runs, ids → logits…`);
      const samples = [];
      let logits;
      for (let r = 0; r < warmup + runs; r++) {
        const t0 = performance.now();
        const out = await m.run(ids, { taps: ['logits'] });
        const ms = performance.now() - t0;
        if (r >= warmup) samples.push(ms);
        logits = out.get('logits').data;
      }
      onLogits?.(T, logits);
      log(`  ${median(samples).toFixed(2)} ms; profiling (per kernel; no taps / all taps)…`);
      const profile = await g.profileForward(m, ids, { runs, warmup, peak });
      forward.push({
        T,
        ours: { ms: median(samples), samples, gpuMs: profile.forward.noTaps.gpuMs, wallMs: profile.forward.noTaps.wallMs },
        taps: {
          count: profile.forward.allTaps.taps,
          noTapsGpuMs: profile.forward.noTaps.gpuMs, allTapsGpuMs: profile.forward.allTaps.gpuMs,
          noTapsWallMs: profile.forward.noTaps.wallMs, allTapsWallMs: profile.forward.allTaps.wallMs,
          overhead: profile.forward.tapsOverhead,
        },
        timestamps: profile.timestamps, rounded: profile.rounded,
        kernels: profile.rows,
      });
    }
    decode = await benchDecode(g, m, Object.values(prompts)[0], peak, { runs, log });
  } finally {
    m.dispose();
  }
  const matmul = [];
  for (const s of SMALL_SHAPES) {
    log(`matmul ${SMALL_T}×${s.K}×${s.N} (${s.name})…`);
    const t = await g.measureMatmul(device, { M: SMALL_T, K: s.K, N: s.N, variant: s.variant, runs, warmup: 1 });
    matmul.push({ name: s.name, M: SMALL_T, K: s.K, N: s.N, variant: t.variant, ms: t.ms, gflops: t.gflops,
      fractionOfFmaPeak: t.gflops / peak.fmaGflops, timestamps: t.timestamps, rounded: t.rounded });
  }
  return { device: g.describeDevice(device), peak, forward, decode, matmul };
}

export const DECODE_TOKENS = 32;

/**
 * Greedy decoding of DECODE_TOKENS tokens after `prompt`, no taps: the time from the first new
 * token (after the prefill) to the last, per token, median of `runs` generations; against the
 * bandwidth bound, the weights' bytes over the measured copy bandwidth (each step reads them all).
 */
async function benchDecode(g, m, prompt, peak, { runs, log }) {
  log(`decode: ${DECODE_TOKENS} tokens after ${prompt.length}, greedy, ${runs} runs…`);
  const perToken = [];
  await m.generate(prompt, { maxNewTokens: 4, temperature: 0, stop: false }); // warm-up
  for (let r = 0; r < runs; r++) {
    let first, last;
    await m.generate(prompt, { maxNewTokens: DECODE_TOKENS, temperature: 0, stop: false, onToken: (_id, i) => {
      const t = performance.now();
      if (i === 0) first = t;
      last = t;
    } });
    perToken.push((last - first) / (DECODE_TOKENS - 1));
  }
  const weightBytes = [...g.paramShapes(m.config).values()].reduce((a, s) => a + 4 * s.reduce((x, y) => x * y, 1), 0);
  const msPerToken = median(perToken);
  const boundMs = weightBytes / (peak.bandwidthGBps * 1e6);
  log(`  ${msPerToken.toFixed(2)} ms per token (${(1000 / msPerToken).toFixed(1)} tokens/s); bandwidth bound ${boundMs.toFixed(3)} ms`);
  return { tokens: DECODE_TOKENS, prompt: prompt.length, msPerToken, tokensPerSecond: 1000 / msPerToken, samples: perToken,
    weightBytes, bandwidthGBps: peak.bandwidthGBps, boundMs, ofBound: boundMs / msPerToken, kernels: m.kernels };
}
