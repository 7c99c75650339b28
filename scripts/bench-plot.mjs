// `npm run bench:plot`: the demo's interactive figure at millions of points, in headless
// Chromium (the project's flags; on a machine without a GPU both WebGPU and WebGL run on
// SwiftShader, i.e. on the CPU). For each size N (points in all, N/4 per panel: the
// bundled gpt2-tiny's real layer-0 taps on the default text, tiled):
//   run → first frame   from the four tensors in GPU buffers (where model.runOnGpu leaves a
//                       run's taps; tiled and uploaded before the timer): GPU stats (mask, r,
//                       min/max) + the first frame of all 4 panels, presented (GPU queue
//                       drained, a pixel read of every canvas). Above the figure's threshold
//                       (GPU_LAYER_ABOVE points per panel) the WebGPU layer draws (raster +
//                       shade + pixel read-back); below it regl-scatterplot (GPU compaction/
//                       read-back + point arrays + spatial index + its first draw). The
//                       forward pass is not included: the tiled taps have none.
//   pan redraw          every panel's camera moves; until all four have redrawn
// Prints a table and writes bench/plot-results.json. Where python3 has matplotlib, also
// times a static PNG of the same 2×2 figure at 3.1 M points (demo/bench/matplotlib_figure.py).
// Usage: node scripts/bench-plot.mjs [--sizes 1e6,4e6,1e7] [--renderer auto|webgpu|regl]
//        [--no-build] [--out bench/plot-results.json]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { serveDir } from '../demo/serve.mjs';

const TEXT = "Plants make fantastic pets because they don't leave a mess after you feed them.";
/** GPT-2 small at 1024 tokens: 1024 × 768 entries per panel, × 4 panels = the issue's "3.1 M points". */
const GPT2_SMALL_FIGURE = 4 * 1024 * 768;

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
};
const sizes = opt('--sizes', `1e6,${GPT2_SMALL_FIGURE},4e6,1e7`).split(',').map(Number);
const outFile = opt('--out', 'bench/plot-results.json');
const renderer = opt('--renderer', 'auto');
if (!['auto', 'webgpu', 'regl'].includes(renderer)) {
  console.error(`--renderer ${renderer}: expected auto (the page's threshold), webgpu or regl`);
  process.exit(2);
}

const run = (cmd, args, extra = {}) => spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...extra });
if (!argv.includes('--no-build')) {
  const b = run('node', ['scripts/build.mjs'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

/** The project's Chromium flags, from src/node/browser.ts (bundled on the fly: it is TypeScript). */
async function browserHelpers() {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-bench-'));
  const file = join(dir, 'browser.mjs');
  await build({ entryPoints: ['src/node/browser.ts'], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: file, logLevel: 'warning' });
  const mod = await import(pathToFileURL(file).href);
  rmSync(dir, { recursive: true, force: true });
  return mod;
}

const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const fmtN = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(n % 1e6 === 0 ? 0 : 2)} M` : n.toLocaleString('en-US'));

const { CHROMIUM_ARGS, chromiumPath } = await browserHelpers();
const server = await serveDir('dist/demo', 0);
const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
const results = [];
const chromiumVersion = browser.version();
let env;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1100 } });
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.error(`[page] ${m.text()}`); });
  await page.goto(`${server.url}bench.html`);
  await page.waitForSelector('body[data-loaded="1"]');
  env = await page.evaluate(() => window.bench.setup());
  console.log(`headless Chromium ${chromiumVersion} · WebGPU: ${env.webgpu} · WebGL: ${env.webgl}`);
  console.log(`${cpus().length} CPU cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`);
  console.log(`data: gpt2-tiny layer-0 taps, ${env.tokens} tokens × ${env.dims} dims, tiled to N points (N/4 per panel)`);
  console.log(renderer === 'auto'
    ? `points layer: WebGPU above ${env.gpuLayerAbove.toLocaleString('en-US')} points per panel, regl-scatterplot below\n`
    : `points layer: ${renderer === 'webgpu' ? 'WebGPU' : 'regl-scatterplot'} at every size (--renderer ${renderer})\n`);
  for (const n of sizes) {
    process.stdout.write(`${fmtN(n)} points… `);
    const r = await page.evaluate(([n, renderer]) => window.bench.run(n, renderer), [n, renderer]);
    if (r.renderer === 'webgpu' && r.drawn.some((d) => d !== r.perPanel)) {
      console.error(`\nthe WebGPU layer drew ${r.drawn.join(' / ')} points per panel, not ${r.perPanel}`);
      process.exitCode = 1;
    }
    const pans = [];
    for (let i = 1; i <= 2; i++) pans.push((await page.evaluate((s) => window.bench.pan(s), i)).panMs);
    const row = { ...r, requested: n, panMs: pans, panMeanMs: pans.reduce((a, b) => a + b, 0) / pans.length };
    results.push(row);
    console.log(`first frame ${fmtMs(r.firstFrameMs)}, pan ${pans.map(fmtMs).join(' / ')}`);
    mkdirSync('bench/out', { recursive: true });
    await page.screenshot({ path: `bench/out/plot-${n}.png` });
  }
} finally {
  await browser.close();
  await server.close();
}

// matplotlib, where it is installed: the static PNG of the same figure at 3.1 M points.
let matplotlib;
// The first Python that has both (a pyenv or venv python3 on PATH may lack them while the system's has them).
const python = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)
  .find((py) => run(py, ['-c', 'import matplotlib, numpy']).status === 0);
const hasMpl = python !== undefined;
if (!hasMpl) {
  matplotlib = { skipped: 'no python3 with matplotlib and numpy on this machine (tried $PYTHON, python3, /usr/bin/python3)' };
} else {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-mpl-'));
  const taps = join(dir, 'taps.safetensors');
  const cli = run('node', ['bin/gpt2-taps.js', 'run', '--text', TEXT, '--taps', 'hidden_states.0,h.0,h.0.attn.c_proj,h.0.mlp.c_proj', '--out', taps]);
  const py = cli.status === 0 ? run(python, ['demo/bench/matplotlib_figure.py', taps, String(GPT2_SMALL_FIGURE), join(dir, 'figure.png')]) : cli;
  matplotlib = py.status === 0 ? JSON.parse(py.stdout.trim().split('\n').pop()) : { skipped: `failed: ${(py.stderr || py.stdout).slice(-400)}` };
  rmSync(dir, { recursive: true, force: true });
}

const header = ['points', 'per panel', 'points layer', 'GPU stats', 'GPU compact+read', 'points→frame', 'run → first frame', 'pan redraw (mean)'];
const rows = results.map((r) => [fmtN(r.points), r.perPanel.toLocaleString('en-US'),
  r.renderer === 'webgpu' ? 'WebGPU' : `regl${r.performanceMode ? ' (perf.)' : ''}`,
  fmtMs(r.statsMs), r.renderer === 'webgpu' ? '—' : fmtMs(r.compactMs), fmtMs(r.drawMs), fmtMs(r.firstFrameMs), fmtMs(r.panMeanMs)]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}`);
if (matplotlib.skipped) console.log(`\nmatplotlib static PNG at ${fmtN(GPT2_SMALL_FIGURE)} points: skipped (${matplotlib.skipped})`);
else console.log(`\nmatplotlib static PNG at ${fmtN(matplotlib.points)} points: ${fmtMs(matplotlib.seconds * 1000)}`);
const ref = results.find((r) => r.requested === GPT2_SMALL_FIGURE);
if (ref) {
  console.log(`interactive first frame at ${fmtN(ref.points)} points: ${fmtMs(ref.firstFrameMs)}` + (matplotlib.skipped ? '' :
    `; matplotlib's PNG in the same run: ${fmtMs(matplotlib.seconds * 1000)} — the first frame is ${ref.firstFrameMs <= matplotlib.seconds * 1000 ? 'no later' : `${(ref.firstFrameMs / (matplotlib.seconds * 1000)).toFixed(1)}× later`}`));
  if (ref.renderer === 'webgpu') {
    console.log(`  of which GPU stats ${fmtMs(ref.statsMs)}; WebGPU layer: raster + shade + pixel read-back ${fmtMs(ref.gpu.gpuMs)}, ` +
      `putImageData ${fmtMs(ref.gpu.presentMs)}; figure call with titles and axes ${fmtMs(ref.gpu.totalMs)}; ` +
      `drawn per panel ${ref.drawn.map((d) => d.toLocaleString('en-US')).join(' / ')}`);
  } else {
    console.log(`  of which, per panel (regl-scatterplot): point arrays + spatial index ${ref.panels.map((p) => fmtMs(p.arraysAndIndexMs)).join(' / ')}, ` +
      `ingest + first draw ${ref.panels.map((p) => fmtMs(p.drawMs)).join(' / ')}`);
  }
}

mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify({
  date: new Date().toISOString(),
  what: 'demo 2×2 residual figure: run → first frame (from the taps in GPU buffers) and pan redraw; real gpt2-tiny layer-0 taps tiled to N points (N/4 per panel), threshold 30 (nothing masked)',
  renderer, gpuLayerAbove: env?.gpuLayerAbove,
  chromium: chromiumVersion, webgpu: env?.webgpu, webgl: env?.webgl,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), platform: process.platform },
  tokens: env?.tokens, dims: env?.dims,
  results, matplotlib,
}, null, 2)}\n`);
console.log(`\nwrote ${outFile}`);
