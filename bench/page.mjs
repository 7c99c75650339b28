// The browser half of `npm run bench`, loaded by bench/index.html: our forward pass
// (dist/gpt2-taps.js) and onnxruntime-web on the fixture's model.onnx, in one page.
import * as g from '/gpt2-taps.js';
import { benchOurs, median } from './ours.mjs';

async function ortSession(ort, ep) {
  // The ONNX file holds the graph; its weights are the bundled model.safetensors (external data, by offset).
  return ort.InferenceSession.create('/onnx/model.onnx', {
    executionProviders: [ep], graphOptimizationLevel: 'all',
    externalData: [{ path: 'model.safetensors', data: '/model/model.safetensors' }],
  });
}

/** onnxruntime-web on each prompt with execution provider `ep`: ids in → logits out, wall clock. */
async function benchOrt(ort, ep, prompts, { runs, warmup, log, ours }) {
  const t0 = performance.now();
  const session = await ortSession(ort, ep);
  log(`ORT ${ep}: session created in ${(performance.now() - t0).toFixed(0)} ms; inputs ${session.inputNames}, outputs ${session.outputNames}`);
  const out = {};
  try {
    for (const [t, ids] of Object.entries(prompts)) {
      const T = Number(t);
      log(`ORT ${ep}, T=${T}: ${warmup} warm-up + ${runs} runs…`);
      const input = new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]);
      const samples = [];
      let logits;
      for (let r = 0; r < warmup + runs; r++) {
        const s = performance.now();
        const res = await session.run({ input_ids: input });
        logits = await res.logits.getData();
        const ms = performance.now() - s;
        if (r >= warmup) samples.push(ms);
      }
      let maxDiff = 0;
      const mine = ours.get(T);
      if (mine && logits.length === mine.length) for (let i = 0; i < mine.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mine[i] - logits[i]));
      else maxDiff = NaN;
      out[T] = { ms: median(samples), samples, logitsMaxAbsDiff: maxDiff };
      log(`  ${median(samples).toFixed(2)} ms, max|logits ours − ORT| ${maxDiff.toExponential(2)}`);
    }
  } finally {
    await session.release();
  }
  return out;
}

export async function run({ prompts, runs, warmup }) {
  const log = (line) => console.log(`[bench] ${line}`);
  const device = await g.browserDevice();
  const ours = new Map();
  let result;
  try {
    result = await benchOurs(g, device, '/model/', prompts, { runs, warmup, log, onLogits: (T, l) => ours.set(T, l) });
  } finally {
    device.destroy();
  }
  const ort = await import('/ort/ort.webgpu.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const onnx = { version: ort.env.versions?.web ?? 'unknown', webgpu: null, wasm: null };
  try {
    onnx.webgpu = { ep: 'webgpu', results: await benchOrt(ort, 'webgpu', prompts, { runs, warmup, log, ours }) };
  } catch (e) {
    onnx.webgpu = { ep: 'webgpu', error: String(e?.message ?? e) };
    log(`ORT webgpu failed: ${onnx.webgpu.error}; trying the wasm EP as a fallback`);
    try {
      onnx.wasm = { ep: 'wasm', results: await benchOrt(ort, 'wasm', prompts, { runs, warmup, log, ours }) };
    } catch (e2) {
      onnx.wasm = { ep: 'wasm', error: String(e2?.message ?? e2) };
    }
  }
  return { ...result, onnx, userAgent: navigator.userAgent };
}
