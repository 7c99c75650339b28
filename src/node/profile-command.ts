// `gpt2-taps profile`: per-kernel GPU timings of one forward pass (timestamp-query), the
// whole forward with no taps and with all taps, and the device's measured peak, on the
// Node backend (Dawn) or in headless Chromium.
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GPT2TapsError } from '../errors.js';
import { GPT2 } from '../engine/model.js';
import { encode } from '../tokenizer.js';
import { measurePeak } from '../profile/peak.js';
import { formatProfile, profileForward, type ProfileReport } from '../profile/profile.js';
import { nodeDevice } from './device.js';
import { distDir, withRunnerPage } from './browser.js';
import { resolveModelArg } from './download.js';
import { fileTuneStore } from './tune-store.js';
import { describeChoice, parseKernelChoice } from '../engine/tune.js';
import type { KernelChoice } from '../engine/forward.js';

export const PROFILE_HELP = `gpt2-taps profile — per-kernel GPU timings of the forward pass, against the device's measured peak

Usage:
  gpt2-taps profile [--model M] (--text "…" | --tokens N) [--runs 10] [--warmup 3] [--taps names] [--kernels K] [--json] [--backend node|browser]

Options:
  --model M      a folder with model.safetensors (+ config.json), a .safetensors file, a Hugging Face repo id
                 (from Python's cache, or downloaded into it), or (browser) an http(s) URL.
                 Default: the bundled weights/gpt2-tiny (3 layers, RANDOM weights).
  --text "…"     profile on the tokens of this text; or
  --tokens N     on N synthetic token ids (i·7919 mod vocab_size).
  --runs R       timed forward passes, after --warmup W untimed ones (defaults 10 and 3).
  --taps names   taps copied during the per-kernel runs (default none; the whole forward is also timed with all taps).
  --kernels K    kernel variants, e.g. many=tiled,attention=flash (as for run; node backend). The variant column
                 shows which each op got; families not given are timed at load and remembered.
  --json         print the report as JSON.
  --backend B    node (Dawn, default) or browser (headless Chromium, where the library runs as in a web page).

Each kernel row: calls per forward, GPU time per forward (mean of the runs), mean per call, share of the
forward, achieved GFLOP/s and GB/s from the kernel's shapes (formulas in the last column), and those as a
fraction of the device's FMA rate and copy bandwidth, measured first by a microbenchmark (src/profile/peak.ts:
each part grown until one run lasts ≥ 25 ms, then the median of 7 runs after warm-up, with their spread).
Without timestamp-query only the whole forward is timed (wall clock), and the report says so; it also
says whether the GPU timestamps were rounded.
`;

type Log = (line: string) => void;
const stderr: Log = (line) => process.stderr.write(`${line}\n`);

/** The bundled model: next to dist/ (the CLI bundle) or next to src/ (running from source). */
function bundledModel(): string {
  const candidates = [
    resolve(distDir(), '..', 'weights', 'gpt2-tiny'),
    fileURLToPath(new URL('../../weights/gpt2-tiny', import.meta.url)),
  ];
  return candidates.find((p) => existsSync(join(p, 'model.safetensors'))) ?? candidates[0];
}

function positiveInt(name: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new GPT2TapsError(`--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

interface Request { model: string; text?: string; tokens?: number; runs: number; warmup: number; taps: string[]; kernels?: Partial<KernelChoice> }

function syntheticIds(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919) % vocab);
}

async function profileNode(req: Request, log: Log): Promise<ProfileReport> {
  const { device, adapterInfo, swiftshader } = await nodeDevice(log);
  log(`WebGPU adapter: ${adapterInfo}${swiftshader ? ' (CPU emulation)' : ''}`);
  let model: GPT2 | undefined;
  try {
    model = await GPT2.load(req.model, { device, kernels: req.kernels, tuneStore: fileTuneStore() });
    model.notes.forEach((n) => log(`note: ${n}`));
    log(`kernel variants: ${describeChoice(model.kernels)}`);
    const ids = req.text !== undefined ? encode(req.text) : syntheticIds(req.tokens!, model.config.vocab_size);
    log('measuring the device peak (FMA rate, copy bandwidth)…');
    const peak = await measurePeak(device);
    log(`profiling ${ids.length} tokens: ${req.warmup} warm-up + ${req.runs} timed runs per measurement…`);
    const report = await profileForward(model, ids, { runs: req.runs, warmup: req.warmup, taps: req.taps, peak,
      device: `${adapterInfo}${swiftshader ? ' (SwiftShader, CPU emulation)' : ''} — Node, Dawn` });
    return report;
  } finally {
    model?.dispose();
    device.destroy();
  }
}

async function profileBrowser(req: Request, log: Log): Promise<ProfileReport> {
  return withRunnerPage(req.model, log, async (page, { modelUrl, version }) => {
    log(`profiling in headless Chromium (${version})…`);
    page.setDefaultTimeout(0);
    const out = await page.evaluate(async ({ modelUrl, text, tokens, runs, warmup, taps, version }) => {
      const g = (window as unknown as { gpt2taps: typeof import('../index.js') }).gpt2taps;
      if (typeof g.profileForward !== 'function') return { error: 'dist/gpt2-taps.js has no profileForward: run npm run build' };
      const device = await g.browserDevice();
      try {
        const m = await g.GPT2.load(modelUrl, { device });
        try {
          const ids = text !== undefined ? g.encode(text) : Array.from({ length: tokens! }, (_, i) => (i * 7919) % m.config.vocab_size);
          const peak = await g.measurePeak(device);
          const report = await g.profileForward(m, ids, { runs, warmup, taps, peak, device: `${g.describeDevice(device)} — Chromium ${version}` });
          return { report };
        } finally {
          m.dispose();
        }
      } catch (e) {
        return { error: (e as Error).message };
      } finally {
        device.destroy();
      }
    }, { modelUrl, text: req.text, tokens: req.tokens, runs: req.runs, warmup: req.warmup, taps: req.taps, version });
    if ('error' in out) throw new GPT2TapsError(`browser backend: ${out.error}`);
    return out.report as ProfileReport;
  });
}

/** `gpt2-taps profile …`: prints the per-kernel table (or JSON); exit status 0, or 2 on bad input. */
export async function profileCommand(args: string[], log: Log = stderr): Promise<number> {
  try {
    const { values: v } = parseArgs({
      args, allowPositionals: false, strict: true,
      options: {
        model: { type: 'string' }, text: { type: 'string' }, tokens: { type: 'string' },
        runs: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' },
        taps: { type: 'string', default: '' }, json: { type: 'boolean' },
        backend: { type: 'string', default: 'node' }, kernels: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
    if (v.help) { process.stdout.write(PROFILE_HELP); return 0; }
    if ((v.text === undefined) === (v.tokens === undefined)) throw new GPT2TapsError('give exactly one of --text, --tokens N');
    let model = v.model && resolveModelArg(v.model, { log, localOnly: v.backend === 'browser' });
    if (!model) {
      model = bundledModel();
      log(`using the bundled model ${model} (RANDOM weights: timings are real, text is meaningless)`);
    }
    const req: Request = {
      model, text: v.text, tokens: v.tokens === undefined ? undefined : positiveInt('tokens', v.tokens),
      runs: positiveInt('runs', v.runs), warmup: positiveInt('warmup', v.warmup, 0),
      taps: v.taps.split(',').map((s) => s.trim()).filter(Boolean),
      kernels: v.kernels === undefined ? undefined : parseKernelChoice(v.kernels),
    };
    if (req.kernels && v.backend !== 'node') throw new GPT2TapsError('--kernels applies to the node backend (the browser times its own at load)');
    if (req.text !== undefined && req.text.length === 0) throw new GPT2TapsError('--text is empty');
    let report: ProfileReport;
    if (v.backend === 'node') report = await profileNode(req, log);
    else if (v.backend === 'browser') report = await profileBrowser(req, log);
    else throw new GPT2TapsError(`--backend must be node or browser, got "${v.backend}"`);
    process.stdout.write(v.json ? JSON.stringify(report, null, 2) + '\n' : formatProfile(report) + '\n');
    return 0;
  } catch (e) {
    if (e instanceof GPT2TapsError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      log(`gpt2-taps profile: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}
