// `npm run bench`: one run, one device, one browser (headless Chromium): our forward pass on
// the bundled weights/gpt2-tiny at T = 17 and T = 145 (ids in → logits out, median of the runs after
// warm-up) against onnxruntime-web's WebGPU execution provider on the fixture's model.onnx in
// the same page; the cost of all taps against none; decoding with the KV cache (ms per token
// against the bandwidth bound); the matmul kernel at GPT-2-small shapes
// (T = 128) as a fraction of the measured FMA peak. Prints a table; writes bench/results.json.
//
//   node scripts/bench.mjs [--runs 5] [--warmup 2] [--out bench/results.json] [--no-build]
//   node scripts/bench.mjs --node     our half only, in Node (Dawn): for a GPU machine without a browser
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const FIXTURE = join(ROOT, 'test', 'fixtures', 'gpt2-tiny'); // prompts.json, model.onnx
const MODEL = join(ROOT, 'weights', 'gpt2-tiny');         // the same checkpoint as safetensors
const { values: opts } = parseArgs({
  options: {
    node: { type: 'boolean' }, runs: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results.json') }, 'no-build': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}
const runs = Number(opts.runs), warmup = Number(opts.warmup);
if (!(Number.isInteger(runs) && runs >= 1 && Number.isInteger(warmup) && warmup >= 0)) {
  console.error('bench: --runs must be an integer >= 1 and --warmup >= 0');
  process.exit(2);
}
const log = (line) => process.stderr.write(`${line}\n`);
const prompts = JSON.parse(readFileSync(join(FIXTURE, 'prompts.json'), 'utf8'));
const inputs = { [prompts.seed.length]: prompts.seed, [prompts.tale.length]: prompts.tale };

// The library and the Node helpers (nodeDevice, CHROMIUM_ARGS), bundled from src/.
// --no-build with an existing bundle reuses it (a GPU machine can be sent a prebuilt one).
const cache = join(ROOT, 'node_modules', '.cache', 'gpt2-taps-bench');
mkdirSync(cache, { recursive: true });
if (!(opts['no-build'] && existsSync(join(cache, 'node.mjs')))) await (await import('esbuild')).build({
  entryPoints: [join(ROOT, 'bench', 'node-entry.ts')], outfile: join(cache, 'node.mjs'), bundle: true, format: 'esm',
  platform: 'node', packages: 'external', loader: { '.wgsl': 'text' }, logLevel: 'warning', target: 'es2022',
});
const lib = await import(pathToFileURL(join(cache, 'node.mjs')).href);
const { benchOurs, SMALL_T } = await import(pathToFileURL(join(ROOT, 'bench', 'ours.mjs')).href);

const started = new Date().toISOString();
let result;
if (opts.node) {
  const { device, adapterInfo, swiftshader } = await lib.nodeDevice(log);
  log(`WebGPU adapter (Node, Dawn): ${adapterInfo}${swiftshader ? ' (SwiftShader: CPU emulation)' : ''}`);
  try {
    result = await benchOurs(lib, device, MODEL, inputs, { runs, warmup, log: (l) => log(`[bench] ${l}`) });
  } finally {
    device.destroy();
  }
  result.device = `${adapterInfo}${swiftshader ? ' (SwiftShader, CPU emulation)' : ''}`;
  result.runtime = `Node ${process.version}, webgpu (Dawn)`;
  result.onnx = { skipped: 'not run: --node runs our half only (onnxruntime-web needs the browser)' };
} else {
  if (!opts['no-build']) {
    log('building dist/ (node scripts/build.mjs)…');
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) { log('bench: the build failed'); process.exit(1); }
  }
  const server = await lib.serve({ mounts: {
    '/bench/': join(ROOT, 'bench'),
    '/ort/': join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'),
    '/model/': MODEL,
    '/onnx/': FIXTURE,
    '/': join(ROOT, 'dist'),
  } });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: lib.chromiumPath(), headless: true, args: lib.CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => log(m.type() === 'log' ? m.text() : `[browser ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log(`[browser error] ${e.message}`));
    await page.goto(`${server.url}/bench/index.html`);
    await page.waitForSelector('body[data-ready="1"]');
    log(`headless Chromium ${browser.version()}`);
    result = await page.evaluate((a) => window.bench.run(a), { prompts: inputs, runs, warmup });
    result.runtime = `Chromium ${browser.version()} (headless), onnxruntime-web ${result.onnx.version}`;
  } finally {
    await browser.close();
    await server.close();
  }
}

// Results: the ratio, the taps, the matmul, the targets.
const ortSide = result.onnx?.webgpu?.results ? result.onnx.webgpu : result.onnx?.wasm?.results ? result.onnx.wasm : undefined;
for (const f of result.forward) {
  const o = ortSide?.results?.[f.T];
  f.onnx = o ? { ep: ortSide.ep, ...o } : null;
  f.ratio = o ? o.ms / f.ours.ms : null;  // how many times faster we are
}
const worst = (xs) => (xs.length === 0 ? null : Math.min(...xs));
const targets = {
  'ours ≥ 10× faster than onnxruntime-web WebGPU': targetOf(result.onnx?.webgpu?.results ? worst(result.forward.map((f) => f.ratio)) : null, (v) => v >= 10, (v) => `${v.toFixed(2)}× (worst length)`),
  'all taps ≤ 15% over no taps': targetOf(Math.max(...result.forward.map((f) => f.taps.overhead)), (v) => v <= 0.15, (v) => `${(100 * v).toFixed(1)}% (worst length)`),
  'matmul ≥ 50% of measured FMA peak': targetOf(worst(result.matmul.map((m) => m.fractionOfFmaPeak)), (v) => v >= 0.5, (v) => `${(100 * v).toFixed(1)}% (worst shape)`),
};
function targetOf(value, ok, fmt) {
  return value === null || !Number.isFinite(value) ? { value: null, met: null, text: 'not measured' } : { value, met: ok(value), text: fmt(value) };
}
const json = { started, finished: new Date().toISOString(), runtime: result.runtime, device: result.device, model: 'weights/gpt2-tiny',
  runs, warmup, ...result, targets };
mkdirSync(resolve(opts.out, '..'), { recursive: true });
writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');

// The table.
const ms = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(2));
const lines = [];
lines.push(`npm run bench — ${json.device}; ${json.runtime}`);
lines.push(`model weights/gpt2-tiny (3 layers, D 128, V 50257; random weights); median of ${runs} runs after ${warmup} warm-up; one run: compare ratios, not absolute times`);
lines.push('');
const ortName = ortSide ? `ORT ${ortSide.ep}${ortSide.ep === 'wasm' ? ' (FALLBACK: webgpu failed)' : ''} ms` : 'ORT ms';
lines.push(lib.table(
  ['T', 'ours ms (ids→logits)', 'ours GPU ms', ortName, 'ORT/ours', 'max|Δlogits|', 'no taps GPU ms', 'all taps GPU ms', 'taps cost', 'all taps read back ms', ''],
  result.forward.map((f) => [String(f.T), ms(f.ours.ms), ms(f.ours.gpuMs), f.onnx ? ms(f.onnx.ms) : '—', f.ratio === null ? '—' : `${f.ratio.toFixed(2)}×`,
    f.onnx ? f.onnx.logitsMaxAbsDiff.toExponential(1) : '—', ms(f.taps.noTapsGpuMs), ms(f.taps.allTapsGpuMs),
    `${f.taps.overhead >= 0 ? '+' : ''}${(100 * f.taps.overhead).toFixed(1)}%`, ms(f.taps.allTapsWallMs), '']),
));
if (result.onnx?.webgpu?.error) lines.push(`onnxruntime-web WebGPU EP FAILED: ${result.onnx.webgpu.error}`);
if (result.onnx?.wasm?.error) lines.push(`onnxruntime-web wasm EP (fallback) failed too: ${result.onnx.wasm.error}`);
if (result.onnx?.skipped) lines.push(`onnxruntime-web: ${result.onnx.skipped}`);
lines.push('  ours ms: model.run(ids, {taps: [\'logits\']}) wall clock, as ORT\'s session.run (int64 ids in, logits read back);');
lines.push('  GPU ms: first pass begin → last pass end (timestamp-query); taps cost: all taps over none, GPU; read back: run() with all taps until mapped, wall clock');
lines.push('');
const d = result.decode;
if (d) {
  lines.push(`decode (KV cache, greedy, no taps): ${d.tokens} tokens after a ${d.prompt}-token prompt: ${d.msPerToken.toFixed(2)} ms per token, ` +
    `${d.tokensPerSecond.toFixed(1)} tokens/s; bandwidth bound ${d.boundMs.toFixed(3)} ms (${(d.weightBytes / 1e6).toFixed(1)} MB of weights ` +
    `at ${d.bandwidthGBps.toFixed(1)} GB/s): ${(100 * d.ofBound).toFixed(1)}% of it; kernel variants (timed at load): ${Object.entries(d.kernels).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push('');
}
lines.push(`matmul kernel at GPT-2-small shapes, M = T = ${SMALL_T}, random data (src/engine/kernels.ts matmulKernel):`);
lines.push(lib.table(
  ['K×N', 'as', 'ms', 'GFLOP/s', 'of FMA peak', ''],
  result.matmul.map((m) => [`${m.K}×${m.N}`, m.name, m.ms.toFixed(3), m.gflops.toFixed(2), `${(100 * m.fractionOfFmaPeak).toFixed(1)}%`, '']),
));
lines.push('');
lines.push(lib.formatPeak(result.peak));
const f0 = result.forward[0];
lines.push(`timestamps: ${f0.timestamps === 'gpu' ? `GPU, ${f0.rounded ? 'ROUNDED' : 'not rounded'}` : 'none (wall clock only)'}`);
lines.push('');
lines.push('targets:');
for (const [name, t] of Object.entries(targets)) lines.push(`  ${t.met === null ? '?' : t.met ? '✓' : '✗'} ${name}: ${t.text}`);
lines.push('');
lines.push(`wrote ${opts.out}`);
process.stdout.write(lines.join('\n') + '\n');
