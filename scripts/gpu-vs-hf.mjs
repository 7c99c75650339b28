#!/usr/bin/env node
// gpu-vs-hf: this project against Hugging Face transformers on the same GPU, on models of the
// real sizes with random weights made by ../shared/gpu/hf_peer.py (which also writes float64
// references and times Hugging Face's own f32 forward and generate()). For each model:
//   1. parity: model.run(ids, {taps: 'all'}) written as a taps file (as `gpt2-taps run --out`
//      writes it), checked against each ref-T.safetensors with the `gpt2-taps compare` command;
//   2. the forward at each T with no taps and with all taps read back (median of --runs after
//      --warmup, interleaved; wall clock as Hugging Face's is timed, GPU span where timestamps exist);
//   3. greedy decoding (temperature 0, KV cache) timed as hf_peer.py times generate(): the time
//      for N new tokens minus the time for 1, over N − 1 (the prefill cancels), against the
//      bandwidth bound: the weights' bytes over the measured copy bandwidth (src/profile/peak.ts).
// Writes OUT/vs-hf.json and OUT/vs-hf.md (the table, also printed) and exits non-zero when a
// parity check failed or a step broke (after writing what it has). Plain Node ESM, no build step:
// the library is the built bundle (package.json "exports" → dist/gpt2-taps.js) of the project
// root, so run `npm run build` first. The root is --root, else the current directory when it
// holds the built project (as in /tmp/gpt2-taps/p under ../shared/gpu/run.sh), else this script's.
//
//   node scripts/gpu-vs-hf.mjs --model gpt2=/tmp/m/gpt2 [--model gpt2-xl=/tmp/m/xl] [--time 1,128,1024]
//        [--parity 17,1024] [--decode 32] [--runs 10] [--warmup 3] [--out DIR] [--commit SHA] [--merge]
//     each DIR as hf_peer.py leaves it: model.safetensors (or shards) + config.json, ids-T.json and
//     ref-T.safetensors for the parity checks (all of them, or those of --parity), hf-times.json
//     (Hugging Face's times; its columns are null without it). --time defaults to hf-times.json's T values.
//   node scripts/gpu-vs-hf.mjs --local [--time 1,17] [--parity 17] [--decode 8] …
//     the bundled weights/gpt2-tiny against test/fixtures/gpt2-tiny's module references (T = 17
//     and 145), Hugging Face's columns null: runs anywhere, SwiftShader included (--model may follow).
// --time none / --parity none / --decode 0 skip that part.
// --out defaults to $OUT when set, else bench/gpu-<device>/ of the project root; --merge keeps
// the other models' rows of an existing OUT/vs-hf.json. --commit defaults to $GPT2_TAPS_COMMIT,
// $COMMIT, else "unknown". --peak-target-ms / --peak-copy-mib size the peak microbenchmark.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const started = performance.now();
const log = (line) => process.stderr.write(`[gpu-vs-hf ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
const list = (s) => (s ? s.split(',').filter(Boolean).map(Number) : undefined);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

let o;
try {
  ({ values: o } = parseArgs({
    options: {
      root: { type: 'string' }, model: { type: 'string', multiple: true }, local: { type: 'boolean' },
      time: { type: 'string' }, parity: { type: 'string' }, decode: { type: 'string', default: '32' },
      runs: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' }, 'decode-runs': { type: 'string', default: '5' },
      out: { type: 'string' }, commit: { type: 'string' }, merge: { type: 'boolean' }, 'device-slug': { type: 'string' },
      'peak-target-ms': { type: 'string' }, 'peak-copy-mib': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  log(`usage: ${e.message} (--help)`);
  process.exit(2);
}
if (o.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1)
    .filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const runs = Number(o.runs), warmup = Number(o.warmup), decodeN = Number(o.decode), decodeRuns = Number(o['decode-runs']);
if (!(Number.isInteger(runs) && runs >= 1 && Number.isInteger(warmup) && warmup >= 0 && Number.isInteger(decodeN) && decodeN >= 0
  && decodeN !== 1 && Number.isInteger(decodeRuns) && decodeRuns >= 1)) {
  log('usage: --runs and --decode-runs must be integers >= 1, --warmup >= 0, --decode 0 (none) or >= 2');
  process.exit(2);
}
if (!o.local && !(o.model?.length)) {
  log('usage: give --model NAME=DIR (hf_peer.py output) at least once, or --local (--help)');
  process.exit(2);
}

// ---------------------------------------------------------------------------------
// The project root, the library bundle and Dawn

const isRoot = (d) => existsSync(join(d, 'package.json')) && existsSync(join(d, 'bin', 'gpt2-taps.js'))
  && JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).name === 'gpt2-taps';
const scriptRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(o.root ?? (isRoot(process.cwd()) && existsSync(join(process.cwd(), 'dist')) ? process.cwd() : scriptRoot));
if (!isRoot(root)) { log(`${root} is not the gpt2-taps project root (--root)`); process.exit(2); }
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const exp = pkg.exports;
const entry = (typeof exp === 'string' ? exp : exp?.['.']?.import ?? exp?.['.']?.default ?? exp?.['.']) ?? pkg.main;
const libPath = join(root, entry);
if (!existsSync(libPath)) { log(`${libPath} is missing: run npm run build in ${root}`); process.exit(2); }
const lib = await import(pathToFileURL(libPath).href);
const requireFromRoot = createRequire(join(root, 'package.json'));
const webgpu = await import(pathToFileURL(requireFromRoot.resolve('webgpu')).href);
const webgpuVersion = (() => { try { return requireFromRoot('webgpu/package.json').version; } catch { return '?'; } })();
const cli = join(root, 'bin', 'gpt2-taps.js');

/** A GPUDevice as the CLI gets one (src/node/device.ts): exact timestamps; SwiftShader where Dawn finds no GPU. */
async function getDevice() {
  Object.assign(globalThis, webgpu.globals);
  const flags = ['disable-dawn-features=timestamp_quantization'];
  let gpu = webgpu.create(flags);
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter && !process.env.VK_ICD_FILENAMES) {
    const icd = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib64/chromium/vk_swiftshader_icd.json',
      '/usr/lib/chromium-browser/vk_swiftshader_icd.json'].find((p) => existsSync(p));
    if (icd) {
      process.env.VK_ICD_FILENAMES = icd;
      gpu = webgpu.create(flags);
      adapter = await gpu.requestAdapter();
    }
  }
  if (!adapter) throw new Error('no WebGPU adapter (Dawn found no GPU driver, and no SwiftShader)');
  const device = await lib.requestDevice(adapter);
  return { gpu, device, info: adapter.info };
}

/** A short name of the adapter: nvidia-h100, nvidia-h200, swiftshader, … */
function deviceSlug(info) {
  const all = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ').toLowerCase();
  if (/swiftshader/.test(all)) return 'swiftshader';
  const vendor = (info.vendor || '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const tokens = (info.device || info.description || info.architecture || '').toLowerCase().split(/[^a-z0-9]+/).filter((t) => t && t !== vendor);
  const model = tokens.find((t) => /\d/.test(t)) ?? tokens[0];
  return [vendor, model].filter(Boolean).join('-') || 'unknown';
}

// ---------------------------------------------------------------------------------
// What to run

/** hf_peer.py's folder: ids-T.json + ref-T.safetensors pairs, hf-times.json. */
function hfModel(spec) {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`--model wants NAME=DIR, got "${spec}"`);
  const name = spec.slice(0, eq), dir = resolve(spec.slice(eq + 1));
  if (!existsSync(dir)) throw new Error(`--model ${name}: no folder ${dir}`);
  const refs = readdirSync(dir).map((f) => /^ref-(\d+)\.safetensors$/.exec(f)).filter(Boolean)
    .map((m) => ({ T: Number(m[1]), ref: join(dir, m[0]), ids: JSON.parse(readFileSync(join(dir, `ids-${m[1]}.json`), 'utf8')) }))
    .sort((a, b) => a.T - b.T);
  const hfFile = join(dir, 'hf-times.json');
  const hf = existsSync(hfFile) ? JSON.parse(readFileSync(hfFile, 'utf8')) : null;
  return { name, dir, refs, hf };
}

function localModel() {
  const fx = join(root, 'test', 'fixtures', 'gpt2-tiny');
  const dir = join(root, 'weights', 'gpt2-tiny');
  if (!existsSync(join(fx, 'prompts.json')) || !existsSync(join(dir, 'model.safetensors'))) {
    throw new Error(`--local needs ${dir} and ${fx} (the bundled tiny model and its references)`);
  }
  const prompts = JSON.parse(readFileSync(join(fx, 'prompts.json'), 'utf8'));
  const refs = [['seed', prompts.seed], ['tale', prompts.tale]]
    .map(([k, ids]) => ({ T: ids.length, ids, ref: join(fx, `reference-modules-${k}.safetensors`) }));
  return { name: 'gpt2-tiny', dir, refs, hf: null };
}

// Read in the loop below (a model whose folder is missing or broken is an error recorded with the others).
const models = [...(o.local ? [{ name: 'gpt2-tiny', open: localModel }] : []),
  ...(o.model ?? []).map((spec) => ({ name: spec.split('=')[0], open: () => hfModel(spec) }))];
const parityTs = o.parity === 'none' ? [] : list(o.parity);
const timeTs = o.time === 'none' ? [] : list(o.time);
const commit = o.commit ?? process.env.GPT2_TAPS_COMMIT ?? process.env.COMMIT ?? 'unknown';

// ---------------------------------------------------------------------------------
// Measurements

/** The forward at T, no taps ('none') or all taps read back ('all'): wall ms, and GPU ms (first pass begin → last pass end). */
async function forwardOnce(m, device, ids, kind) {
  const taps = kind === 'all' ? 'all' : [];
  const last = m.dispatches(ids.length, { taps }).length - 1;
  const timer = device.features.has('timestamp-query') ? new lib.PassTimer(device, last + 1) : undefined;
  try {
    const t0 = performance.now();
    const r = await m.run(ids, { taps, timestampWrites: timer ? (i) => (i === 0 || i === last ? timer.writes(i, i === 0, i === last) : undefined) : undefined });
    if (kind === 'none') await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    let gpu;
    if (timer) {
      device.queue.submit([timer.resolve()]);
      const t = await timer.read();
      if (t[0] !== 0n && t[2 * last + 1] >= t[0]) gpu = Number(t[2 * last + 1] - t[0]) / 1e6;
    }
    return { wall, gpu, taps: r.names.length };
  } finally {
    timer?.destroy();
  }
}

async function timeForward(m, device, T) {
  const ids = Array.from({ length: T }, (_, i) => (i * 7919 + 11) % m.config.vocab_size);
  const s = { none: { wall: [], gpu: [] }, all: { wall: [], gpu: [], taps: 0 } };
  for (let r = 0; r < warmup + runs; r++) {
    for (const kind of ['none', 'all']) { // interleaved: drift in the device's speed hits both alike
      const t = await forwardOnce(m, device, ids, kind);
      if (r < warmup) continue;
      s[kind].wall.push(t.wall);
      if (t.gpu !== undefined) s[kind].gpu.push(t.gpu);
      if (kind === 'all') s.all.taps = t.taps;
    }
  }
  const g = (xs) => (xs.length ? median(xs) : null);
  return { ours_ms: median(s.none.wall), ours_all_taps_ms: median(s.all.wall), ours_gpu_ms: g(s.none.gpu),
    ours_all_taps_gpu_ms: g(s.all.gpu), taps: s.all.taps, ours_samples_ms: s.none.wall, ours_all_taps_samples_ms: s.all.wall };
}

/** Greedy generate(), as hf_peer.py times Hugging Face's: (time for N new tokens − time for 1) / (N − 1), prompt of 16. */
async function timeDecode(m, N) {
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919 + 101) % m.config.vocab_size);
  const gen = async (n, onToken) => {
    const t0 = performance.now();
    const r = await m.generate(prompt, { maxNewTokens: n, temperature: 0, stop: false, onToken });
    if (r.ids.length !== prompt.length + n) throw new Error(`generate() made ${r.ids.length - prompt.length} tokens, not ${n}`);
    return performance.now() - t0;
  };
  for (let r = 0; r < 2; r++) { await gen(1); await gen(N); }
  const one = [], full = [], steps = [];
  for (let r = 0; r < decodeRuns; r++) {
    one.push(await gen(1));
    let first, last;
    full.push(await gen(N, (_id, i) => { const t = performance.now(); if (i === 0) first = t; last = t; }));
    steps.push((last - first) / (N - 1));
  }
  return { ms_per_token: (median(full) - median(one)) / (N - 1), first_to_last_ms_per_token: median(steps),
    prefill_and_one_ms: median(one), all_ms: median(full) };
}

/** Parity: our run with all taps, written as `gpt2-taps run --out` writes it, against the reference with `gpt2-taps compare --json`. */
async function parity(m, ref, tmp) {
  const r = await m.run(ref.ids, { taps: 'all' });
  const ours = join(tmp, `ours-${ref.T}.safetensors`);
  writeFileSync(ours, lib.tapsToSafetensors(r, { source: 'scripts/gpu-vs-hf.mjs' }));
  const c = spawnSync(process.execPath, [cli, 'compare', ours, ref.ref, '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  rmSync(ours, { force: true });
  let report;
  try { report = JSON.parse(c.stdout); } catch { /* below */ }
  if (!report) return { T: ref.T, ref: ref.ref, ok: false, exit: c.status, error: (c.stderr || c.stdout || 'no output').trim().slice(-2000) };
  const ratio = (t) => (t.bound > 0 ? t.maxAbsDiff / t.bound : t.maxAbsDiff === 0 ? 0 : Infinity);
  const worst = report.tensors.reduce((w, t) => (w && ratio(w) >= ratio(t) ? w : t), undefined);
  return {
    T: ref.T, ref: ref.ref, ok: c.status === 0, exit: c.status, passed: report.passed, failed: report.failed, missing: report.missing,
    rtol: report.rtol, atol: report.atol,
    worst: worst ? { name: worst.name, maxAbsDiff: worst.maxAbsDiff, bound: worst.bound, ofBound: ratio(worst) } : null,
    failures: report.tensors.filter((t) => !t.pass).map((t) => ({ name: t.name, shape: t.shape, maxAbsDiff: t.maxAbsDiff, bound: t.bound })),
  };
}

// ---------------------------------------------------------------------------------
// The run

const result = {
  device: null, date: new Date().toISOString(), commit, rows: [], decode: [],
  adapter: null, runtime: `Node ${process.version}, webgpu ${webgpuVersion} (Dawn)`,
  settings: { runs, warmup, decode_new_tokens: decodeN, decode_runs: decodeRuns, local: !!o.local },
  peak: null, parity: [], parity_ok: true, errors: [], notes: [],
};
let outDir = o.out ?? (process.env.OUT || undefined);
const tmp = mkdtempSync(join(tmpdir(), 'gpt2-taps-vs-hf-'));
let device, gpu;

function write() {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'vs-hf.json');
  let doc = result;
  if (o.merge && existsSync(file)) {
    try {
      const old = JSON.parse(readFileSync(file, 'utf8'));
      const mine = new Set(models.map((m) => m.name));
      const keep = (xs = []) => xs.filter((x) => !mine.has(x.model));
      doc = { ...result, rows: [...keep(old.rows), ...result.rows], decode: [...keep(old.decode), ...result.decode],
        parity: [...keep(old.parity), ...result.parity], errors: [...(old.errors ?? []), ...result.errors] };
      doc.parity_ok = doc.parity.every((p) => p.ok);
    } catch (e) {
      result.notes.push(`could not merge with the earlier ${file}: ${e.message}`);
    }
  }
  writeFileSync(file, JSON.stringify(doc, null, 1) + '\n');
  const md = markdown(doc);
  writeFileSync(join(outDir, 'vs-hf.md'), md);
  return { file, md, doc };
}

const f = (v, d = 2) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : d));
function markdown(doc) {
  const out = [
    `${doc.device} (${doc.adapter ?? ''}), ${doc.date.slice(0, 10)}, commit ${doc.commit}; median of ${doc.settings.runs} runs after ${doc.settings.warmup} warm-up, wall clock`,
    '',
    '| model | T | ours (ms) | HF (ms) | ours, all taps (ms) | HF, all outputs (ms) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...doc.rows.map((r) => `| ${r.model} | ${r.T} | ${f(r.ours_ms)} | ${f(r.hf_ms)} | ${f(r.ours_all_taps_ms)} | ${f(r.hf_all_taps_ms)} |`),
  ];
  if (doc.decode.length) {
    out.push('', '| model | decode (greedy, KV cache) | ours (ms/token) | HF (ms/token) | bandwidth bound (ms/token) |', '| --- | --- | ---: | ---: | ---: |',
      ...doc.decode.map((d) => `| ${d.model} | ${d.new_tokens} new tokens after 16 | ${f(d.ours_ms_per_token)} | ${f(d.hf_ms_per_token)} | ${f(d.bound_ms_per_token, 3)} |`));
  }
  if (doc.peak) {
    out.push('', `Peak (median of ${doc.peak.runs}): FMA ${f(doc.peak.fmaGflops)} GFLOP/s (±${(50 * doc.peak.fma.spread).toFixed(1)}%), ` +
      `copy ${f(doc.peak.bandwidthGBps)} GB/s (±${(50 * (doc.peak.copyGBps >= doc.peak.shaderCopyGBps ? doc.peak.copy : doc.peak.shaderCopy).spread).toFixed(1)}%; ` +
      'the bound: every weight read once per token at that bandwidth).');
  }
  out.push(`Parity (all taps against the float64 references, \`gpt2-taps compare\`): ${doc.parity.length === 0 ? 'not checked'
    : doc.parity.map((p) => `${p.model} T=${p.T} ${p.ok ? `${p.passed}/${p.passed + p.failed} pass` : `FAILED${p.failed !== undefined ? ` (${p.failed} of ${p.passed + p.failed})` : ''}`}`).join(', ')}.`);
  return out.join('\n') + '\n';
}

let status = 0;
try {
  ({ device, gpu } = await getDevice().then((d) => {
    result.adapter = [d.info.vendor, d.info.architecture, d.info.device, d.info.description].filter(Boolean).join(' / ');
    result.device = o['device-slug'] ?? deviceSlug(d.info);
    return d;
  }));
  outDir ??= join(root, 'bench', `gpu-${result.device}`);
  log(`adapter ${result.adapter} → ${result.device}; library ${libPath}; results → ${outDir}`);
  if (!device.features.has('timestamp-query')) result.notes.push('no timestamp-query: GPU times are null (wall clock only)');

  log('peak: FMA rate and copy bandwidth…');
  const peak = await lib.measurePeak(device, {
    ...(o['peak-target-ms'] ? { targetMs: Number(o['peak-target-ms']) } : {}),
    ...(o['peak-copy-mib'] ? { copyBytes: Number(o['peak-copy-mib']) * 2 ** 20 } : {}),
  });
  result.peak = peak;
  log(lib.formatPeak(peak).split('\n').join('\n    '));

  for (const { name, open } of models) {
    let m;
    try {
      const spec = open();
      log(`${spec.name}: loading ${spec.dir}…`);
      m = await lib.GPT2.load(spec.dir, { device });
      for (const ref of spec.refs.filter((r) => !parityTs || parityTs.includes(r.T))) {
        log(`${spec.name}: parity at T=${ref.T} (all taps vs ${ref.ref})…`);
        const p = { model: spec.name, ...(await parity(m, ref, tmp)) };
        result.parity.push(p);
        log(`  ${p.ok ? 'pass' : 'FAIL'}: ${p.passed ?? '?'} passed, ${p.failed ?? '?'} failed, ${p.missing?.length ?? '?'} missing` +
          `${p.worst ? `; closest to its bound: ${p.worst.name} at ${(100 * p.worst.ofBound).toFixed(0)}%` : ''}${p.error ? `; ${p.error}` : ''}`);
        write();
      }
      const Ts = timeTs ?? (spec.hf ? Object.keys(spec.hf).filter((k) => /^\d+$/.test(k)).map(Number) : [1, 128]);
      for (const T of Ts.filter((t) => t <= m.config.n_positions)) {
        log(`${spec.name}: forward at T=${T}, no taps and all taps (${warmup} warm-up + ${runs} runs)…`);
        const t = await timeForward(m, device, T);
        const hf = spec.hf?.[String(T)];
        result.rows.push({ model: spec.name, T, ours_ms: t.ours_ms, hf_ms: hf?.plain_ms ?? null, ours_all_taps_ms: t.ours_all_taps_ms,
          hf_all_taps_ms: hf?.all_taps_to_host_ms ?? null, ...t, kernels: m.kernels });
        log(`  ours ${t.ours_ms.toFixed(2)} ms, all ${t.taps} taps ${t.ours_all_taps_ms.toFixed(2)} ms; HF ${f(hf?.plain_ms)} / ${f(hf?.all_taps_to_host_ms)} ms`);
        write();
      }
      if (decodeN >= 2) {
        log(`${spec.name}: decode, ${decodeN} new tokens after 16, greedy (2 warm-up + ${decodeRuns} runs)…`);
        const d = await timeDecode(m, decodeN);
        const weightBytes = [...lib.paramShapes(m.config).values()].reduce((a, s) => a + 4 * s.reduce((x, y) => x * y, 1), 0);
        const hfDecode = spec.hf?.decode;
        result.decode.push({ model: spec.name, ours_ms_per_token: d.ms_per_token, hf_ms_per_token: hfDecode?.ms_per_token ?? null,
          bound_ms_per_token: weightBytes / (peak.bandwidthGBps * 1e6), new_tokens: decodeN, prompt: 16,
          ours_first_to_last_ms_per_token: d.first_to_last_ms_per_token, weight_bytes: weightBytes, bandwidth_GBps: peak.bandwidthGBps,
          kernels: m.kernels, ...(hfDecode && hfDecode.new_tokens !== decodeN ? { hf_new_tokens: hfDecode.new_tokens } : {}) });
        log(`  ours ${d.ms_per_token.toFixed(3)} ms/token; HF ${f(hfDecode?.ms_per_token, 3)}; bound ${(weightBytes / (peak.bandwidthGBps * 1e6)).toFixed(3)}`);
        write();
      }
    } catch (e) {
      result.errors.push({ model: name, error: String(e?.stack ?? e).slice(0, 4000) });
      log(`${name}: ERROR ${e?.message ?? e}`);
    } finally {
      m?.dispose();
    }
  }
} catch (e) {
  result.errors.push({ error: String(e?.stack ?? e).slice(0, 4000) });
  log(`ERROR ${e?.message ?? e}`);
} finally {
  device?.destroy();
  rmSync(tmp, { recursive: true, force: true });
}
result.parity_ok = result.parity.every((p) => p.ok);
if (!outDir) outDir = join(root, 'bench', `gpu-${result.device ?? 'unknown'}`);
const { file, md, doc } = write();
process.stdout.write(md);
log(`wrote ${file} and vs-hf.md`);
if (!doc.parity_ok) { log('PARITY FAILED (see "parity" in vs-hf.json)'); status = 1; }
if (result.errors.length) { log(`${result.errors.length} step(s) broke (see "errors" in vs-hf.json)`); status = 1; }
void gpu; // dawn.node must outlive the device
process.exit(status);
