// The gpt2-taps command line: run (taps to a safetensors file), taps (the list of tap
// points), compare, residuals, tokenize, download, profile. Node backend (Dawn) by default; --backend browser runs the same
// library in headless Chromium.
import { parseArgs } from 'node:util';
import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GPT2TapsError } from './errors.js';
import { GPT2 } from './engine/model.js';
import { TapResult } from './engine/taps.js';
import { KNOWN_MODELS, type GPT2Config } from './checkpoint/config.js';
import { configSymbols, resolveTaps, tapCatalogue } from './engine/forward.js';
import { evaluate } from './engine/formula.js';
import { openModelSource } from './checkpoint/sources.js';
import { openCheckpoint } from './checkpoint/checkpoint.js';
import { decode, encode, tokenStrings } from './tokenizer.js';
import { compareTensor, matchTensor, DEFAULT_ATOL, DEFAULT_RTOL, type Comparison } from './analysis/compare.js';
import { residualStats, RESIDUAL_TAPS } from './analysis/residuals.js';
import { bytesSource, readAllTensors, type LoadedTensors } from './checkpoint/safetensors.js';
import { tapFileSource, tapsToSafetensors } from './analysis/tap-file.js';
import type { Edit } from './engine/edits.js';
import { fileSource } from './node/file-source.js';
import { nodeDevice } from './node/device.js';
import { browserRun, distDir } from './node/browser.js';
import { downloadModel, resolveModelArg } from './node/download.js';
import { fileTuneStore } from './node/tune-store.js';
import { describeChoice, parseKernelChoice } from './engine/tune.js';
import type { KernelChoice } from './engine/forward.js';
import { progressBar } from './node/progress.js';
import { profileCommand } from './node/profile-command.js';

const BUNDLED_MODEL = resolve(distDir(), '..', 'weights', 'gpt2-tiny');

const HELP = `gpt2-taps — GPT-2 on WebGPU with taps on every module of the forward pass

Usage:
  gpt2-taps run --model M (--text "…" | --ids 1,2,3 | --ids-file ids.json) [--taps all|name,…] [--edits edits.json] [--out taps.safetensors]
  gpt2-taps generate --model M (--text "…" | --ids … | --ids-file …) --max-new-tokens N [--temperature 1] [--top-k 50]
                     [--top-p 1] [--seed S] [--taps …] [--edits edits.json] [--out taps.safetensors] [--ignore-eos] [--json]
  gpt2-taps taps [--model M] [--json]
  gpt2-taps residuals --model M (--text "…" | --ids … | --ids-file …) [--threshold 30] [--json]
  gpt2-taps compare A.safetensors B.safetensors [--rtol ${DEFAULT_RTOL}] [--atol ${DEFAULT_ATOL}] [--json]
  gpt2-taps profile --model M (--text "…" | --tokens N) [--runs 10] [--warmup 3] [--json] [--backend node|browser]
  gpt2-taps tokenize --text "…"
  gpt2-taps download <owner/name[@revision]>|gpt2|gpt2-medium|gpt2-large|gpt2-xl|distilgpt2 [--cache-dir D] [--endpoint URL]
  gpt2-taps --help | <command> --help

Options:
  --model M        a folder with model.safetensors (+ config.json), a .safetensors file, an http(s) URL, or a
                   Hugging Face repo id owner/name[@revision] (or gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2):
                   a local path first, then Python's Hugging Face cache (HF_HUB_CACHE, HF_HOME), else downloaded
                   into that cache (HF_ENDPOINT, HF_TOKEN; HF_HUB_OFFLINE=1: the cache only).
                   Default: the bundled weights/gpt2-tiny (3 layers, RANDOM weights: numerically exact, meaningless text).
  --backend B      node (Dawn, default) or browser (headless Chromium through Playwright).
  --taps           'all' (default: every tap point) or comma-separated names: input_ids is always written.
                   Names are Hugging Face module paths (a module's output; <module>.input is its input) and
                   output fields: wte, wpe, hidden_states.{0..L} (the last has ln_f applied), h.{l}.ln_1,
                   h.{l}.attn.c_attn, attentions.{l}, h.{l}.attn.c_proj.input, h.{l}.attn.c_proj, h.{l}.ln_2.input,
                   h.{l}.ln_2, h.{l}.mlp.c_fc, h.{l}.mlp.act (the MLP neurons), h.{l}.mlp.c_proj, h.{l}, ln_f, logits;
                   globs like 'h.*.mlp.act'; TransformerLens names (blocks.{l}.hook_resid_pre, …, attn.hook_q).
                   \`gpt2-taps taps\` lists them all, with shapes and aliases.
  --edits F        a JSON list of edits, applied on the GPU as the pass runs, like a Hugging Face forward hook
                   that returns a new output (everything downstream sees the edited value):
                   {"at": point, "op": "zero"|"set"|"scale"|"add"|"patch", "positions": "all"|[rows],
                    "columns": [..] or "heads": [..], "value": x (set), "factor": x (scale),
                    "vector": [..], "scale": x (add), "from": "clean.safetensors" (patch: a taps file
                    written by gpt2-taps run, its path relative to the edits file)}
  generate:        streams the new text to stdout; --temperature 0 is greedy; sampling is seeded (--seed; the
                   seed used is printed) with Hugging Face's temperature, top-k (default 50) and top-p; stops at
                   <|endoftext|> unless --ignore-eos; --taps cover every position run; --json ends stdout with
                   {"ids": [prompt and new], "new_ids": [...], "text": "..."}.
  --kernels K      kernel variants, e.g. row=matvec,attention=flash (families: row=matmul|matvec|matvec_sg for
                   single rows; few=blocked|tiled and many=blocked|tiled for matmuls of up to 64 rows and more;
                   attention=rows|flash where no probabilities are tapped, stepAttention=rows|flash the same for
                   generation steps). Families not given are timed on this
                   device at load, once per adapter and shape, and remembered in ~/.cache/gpt2-taps/kernels.json.
  --truncate       keep the first n_positions tokens of a longer input (default: refuse it, saying the limit).
  --threshold X    residuals: drop entries where any of the four tensors exceeds X in absolute value (default 30).

compare: for each tensor of B, max|A−B| and max|B|; passes when max|A−B| <= rtol·max|B| + atol.
  A reference tensor named <name>_last<K> compares with the last K rows of <name>.
  Exit status 0 all pass, 1 some fail, 2 a tensor of B is missing from A (or bad input).
`;

const COMMON = {
  model: { type: 'string' },
  backend: { type: 'string', default: 'node' },
  text: { type: 'string' },
  ids: { type: 'string' },
  'ids-file': { type: 'string' },
  truncate: { type: 'boolean' },
  kernels: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Log = (line: string) => void;
const log: Log = (line) => process.stderr.write(`${line}\n`);

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run': return await runCommand(rest);
      case 'taps': return await tapsCommand(rest);
      case 'generate': return await generateCommand(rest);
      case 'residuals': return await residualsCommand(rest);
      case 'compare': return await compareCommand(rest);
      case 'tokenize': return tokenizeCommand(rest);
      case 'download': return await downloadCommand(rest);
      case 'profile': return await profileCommand(rest);
      case undefined: case '--help': case '-h': case 'help':
        process.stdout.write(HELP);
        return command === undefined ? 2 : 0;
      default:
        log(`gpt2-taps: unknown command "${command}"\n`);
        process.stderr.write(HELP);
        return 2;
    }
  } catch (e) {
    if (e instanceof GPT2TapsError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      log(`gpt2-taps: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}

function parse<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean; short?: string }>>(args: string[], options: T) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

/** Token ids from --text, --ids or --ids-file (exactly one). */
function readIds(v: { text?: string; ids?: string; 'ids-file'?: string }): number[] {
  const given = [v.text !== undefined, v.ids !== undefined, v['ids-file'] !== undefined].filter(Boolean).length;
  if (given !== 1) throw new GPT2TapsError('give exactly one of --text, --ids, --ids-file');
  if (v.text !== undefined) return encode(v.text);
  if (v.ids !== undefined) {
    return v.ids.split(',').filter((s) => s.trim() !== '').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n)) throw new GPT2TapsError(`--ids: "${s.trim()}" is not an integer token id`);
      return n;
    });
  }
  const file = v['ids-file']!;
  let ids: unknown;
  try {
    ids = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new GPT2TapsError(`--ids-file ${file}: ${(e as Error).message}`);
  }
  if (!Array.isArray(ids) || !ids.every((n) => Number.isInteger(n))) {
    throw new GPT2TapsError(`--ids-file ${file}: expected a JSON array of integer token ids`);
  }
  return ids as number[];
}

function modelPath(v: { model?: string; backend?: string }): string {
  if (v.model) return resolveModelArg(v.model, { log, localOnly: v.backend === 'browser' });
  log(`using the bundled model ${BUNDLED_MODEL} (RANDOM weights; see gpt2-taps download)`);
  return BUNDLED_MODEL;
}

/**
 * Reads an --edits file: a JSON list of edits (src/engine/edits.ts). A patch's `from` is a taps
 * file written by `gpt2-taps run`, its path relative to the edits file's folder.
 */
function readEditsFile(path: string): Record<string, unknown>[] {
  let edits: unknown;
  try {
    edits = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new GPT2TapsError(`--edits ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(edits)) throw new GPT2TapsError(`--edits ${path}: expected a JSON list of edits, like [{"at": "h.1.attn.c_proj", "op": "zero"}]`);
  return edits.map((e) => {
    if (typeof e !== 'object' || e === null || typeof (e as { from?: unknown }).from !== 'string') return e;
    const from = resolve(dirname(path), (e as { from: string }).from);
    if (!existsSync(from)) throw new GPT2TapsError(`--edits ${path}: the patch source ${from} does not exist`, 'make it with gpt2-taps run … --out <file>');
    return { ...e, from };
  });
}

/** Edits as the library takes them: each patch source file read (Node). */
async function withPatchSources(edits: Record<string, unknown>[]): Promise<Edit[]> {
  return Promise.all(edits.map(async (e) => (typeof e.from === 'string'
    ? { ...e, from: await tapFileSource(readFileSync(e.from), e.from) } : e) as unknown as Edit));
}

interface ModelRun { taps: readonly string[] | 'all'; truncate?: boolean; edits?: Record<string, unknown>[]; kernels?: Partial<KernelChoice> }

const kernelsOption = (text: string | undefined) => (text === undefined ? undefined : parseKernelChoice(text));

/** Runs the model on either backend; returns the config and the taps. */
async function runModel(backend: string, model: string, ids: number[], opts: ModelRun):
  Promise<{ config: GPT2Config; result: TapResult; file?: Uint8Array }> {
  const { taps, truncate = false } = opts;
  if (backend === 'browser') {
    if (opts.kernels) throw new GPT2TapsError('--kernels applies to the node backend (the browser times its own at load)');
    const r = await browserRun(model, ids, opts, log);
    r.notes.forEach((n) => log(`note: ${n}`));
    const loaded = await readAllTensors(bytesSource(r.file));
    const names = resolveTaps(r.config, taps);
    const result = new TapResult(r.config, Uint32Array.from(r.inputIds), names.map((n) => [n, loaded.floats.get(n)!]));
    return { config: r.config, result, file: r.file };
  }
  if (backend !== 'node') throw new GPT2TapsError(`--backend must be node or browser, got "${backend}"`);
  const edits = await withPatchSources(opts.edits ?? []);
  return withNodeModel(model, opts.kernels, async (gpt2) => {
    const result = await gpt2.run(ids, { taps, truncate, edits });
    if (result.inputIds.length < ids.length) log(`--truncate: kept the first ${result.inputIds.length} of ${ids.length} tokens (n_positions)`);
    return { config: gpt2.config, result };
  });
}

/** Loads the model on the Node backend (Dawn), with progress bars, runs `fn`, then frees model and device. */
async function withNodeModel<R>(model: string, kernels: Partial<KernelChoice> | undefined, fn: (gpt2: GPT2) => Promise<R>): Promise<R> {
  const { device, adapterInfo, swiftshader } = await nodeDevice(log);
  log(`WebGPU adapter: ${adapterInfo}${swiftshader ? ' (CPU emulation)' : ''}`);
  const bars = new Map<string, ReturnType<typeof progressBar>>();
  let gpt2: GPT2 | undefined;
  try {
    gpt2 = await GPT2.load(model, {
      device,
      checkFinite: true, // a checkpoint from anywhere: NaN/Inf weights are refused by name
      kernels, tuneStore: fileTuneStore(),
      onProgress: (done, total, what) => {
        if (!bars.has(what)) bars.set(what, progressBar(what));
        bars.get(what)!.update(done, total);
      },
    });
    bars.forEach((b) => b.done());
    gpt2.notes.forEach((n) => log(`note: ${n}`));
    log(`kernel variants: ${describeChoice(gpt2.kernels)}`);
    return await fn(gpt2);
  } finally {
    gpt2?.dispose();
    device.destroy();
  }
}

/** `gpt2-taps generate`: new tokens after a prompt, streamed to stdout as they come. */
async function generateCommand(args: string[]): Promise<number> {
  const { values: v } = parse(args, {
    ...COMMON, 'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' },
    'top-p': { type: 'string' }, seed: { type: 'string' }, taps: { type: 'string' }, edits: { type: 'string' },
    out: { type: 'string' }, 'ignore-eos': { type: 'boolean' }, json: { type: 'boolean' },
  });
  if (v.help) { process.stdout.write(HELP); return 0; }
  if (v.backend !== 'node') throw new GPT2TapsError('generate runs on the node backend (--backend node)');
  const num = (name: string, s: string | undefined) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n)) throw new GPT2TapsError(`--${name} must be a number, got "${s}"`);
    return n;
  };
  const maxNewTokens = num('max-new-tokens', v['max-new-tokens']);
  if (maxNewTokens === undefined) throw new GPT2TapsError('generate needs --max-new-tokens N');
  const ids = readIds(v);
  const taps = v.taps === undefined ? undefined : v.taps === 'all' ? 'all' : v.taps.split(',');
  if (v.out !== undefined && taps === undefined) throw new GPT2TapsError('--out writes taps: give --taps too');
  const edits = await withPatchSources(v.edits !== undefined ? readEditsFile(v.edits) : []);
  return withNodeModel(modelPath(v), kernelsOption(v.kernels), async (gpt2) => {
    let shown = '';
    const got: number[] = [];
    const t0 = performance.now();
    const r = await gpt2.generate(ids, {
      maxNewTokens, temperature: num('temperature', v.temperature), topK: num('top-k', v['top-k']), topP: num('top-p', v['top-p']),
      seed: num('seed', v.seed), stop: v['ignore-eos'] ? false : undefined, taps, edits,
      onToken: (id) => {
        // Decode everything so far and print what is new (a character may span tokens).
        got.push(id);
        const text = decode(got);
        if (!text.endsWith('\ufffd')) { process.stdout.write(text.slice(shown.length)); shown = text; }
      },
    });
    const ms = performance.now() - t0;
    const text = decode(r.newIds);
    process.stdout.write(text.slice(shown.length) + '\n');
    log(`${r.newIds.length} new tokens (${r.reason}), seed ${r.seed}, ${(ms / Math.max(1, r.newIds.length)).toFixed(1)} ms per token`);
    if (taps !== undefined) {
      const out = resolve(v.out ?? 'taps.safetensors');
      const bytes = tapsToSafetensors(r.taps);
      writeFileSync(`${out}.tmp`, bytes);
      renameSync(`${out}.tmp`, out);
      log(`wrote ${out}: input_ids + ${r.taps.names.length} taps over ${r.taps.inputIds.length} positions`);
    }
    if (v.json) process.stdout.write(JSON.stringify({ ids: Array.from(r.ids), new_ids: r.newIds, text }) + '\n');
    return 0;
  });
}

async function runCommand(args: string[]): Promise<number> {
  const { values: v } = parse(args, {
    ...COMMON, taps: { type: 'string', default: 'all' }, out: { type: 'string', default: 'taps.safetensors' }, edits: { type: 'string' },
  });
  if (v.help) { process.stdout.write(HELP); return 0; }
  const ids = readIds(v);
  const taps = v.taps === 'all' ? 'all' : v.taps.split(',');
  const edits = v.edits !== undefined ? readEditsFile(v.edits) : undefined;
  const t0 = performance.now();
  const { result, file } = await runModel(v.backend, modelPath(v), ids, { taps, truncate: v.truncate, edits, kernels: kernelsOption(v.kernels) });
  const bytes = file ?? tapsToSafetensors(result);
  const out = resolve(v.out);
  writeFileSync(`${out}.tmp`, bytes);
  renameSync(`${out}.tmp`, out);
  log(`wrote ${out}: input_ids + ${result.names.length} taps, T=${result.inputIds.length}, ${(bytes.length / 1e6).toFixed(1)} MB ` +
    `(${v.backend} backend, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return 0;
}

/** Every tap point of a model (only its config is read): name, shape, meaning, aliases. */
async function tapsCommand(args: string[]): Promise<number> {
  const { values: v } = parse(args, { model: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (v.help) { process.stdout.write(HELP); return 0; }
  const src = await openModelSource(modelPath(v));
  const { config } = await openCheckpoint(src.bytes, src.config);
  // Shapes with T left as a name and every other size evaluated for this model.
  const sym = configSymbols(config, NaN);
  const dims = (shape: string[]) => shape.map((f) => (/\bT\b/.test(f) ? f : evaluate(f, sym)));
  const taps = tapCatalogue(config).map((t) => ({
    name: t.name, shape: dims(t.shape), meaning: t.meaning, aliases: t.aliases,
    ...(t.first !== undefined ? { view: { of: t.point, columns: [t.first, t.first + config.n_embd] } } : {}),
  }));
  if (v.json) {
    process.stdout.write(JSON.stringify({ config, taps }, null, 2) + '\n');
    return 0;
  }
  const w = Math.max(...taps.map((t) => t.name.length));
  const sw = Math.max(...taps.map((t) => `[${t.shape.join(', ')}]`.length));
  const views = taps.filter((t) => t.view).length;
  const lines = [`${taps.length - views} tap points and ${views} views of a model with n_layer ${config.n_layer}, n_embd ${config.n_embd}, n_head ${config.n_head}, vocab_size ${config.vocab_size}; T = tokens`];
  for (const t of taps) {
    const what = t.view ? `${t.meaning} (a view of ${t.view.of}, columns ${t.view.columns[0]}..${t.view.columns[1]})` : t.meaning;
    lines.push(`${t.name.padEnd(w)}  ${`[${t.shape.join(', ')}]`.padEnd(sw)}  ${what}${t.aliases.length ? `; also ${t.aliases.join(', ')}` : ''}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function residualsCommand(args: string[]): Promise<number> {
  const { values: v } = parse(args, { ...COMMON, threshold: { type: 'string', default: '30' }, json: { type: 'boolean' } });
  if (v.help) { process.stdout.write(HELP); return 0; }
  const threshold = Number(v.threshold);
  if (!(threshold > 0)) throw new GPT2TapsError(`--threshold must be a positive number, got "${v.threshold}"`);
  const ids = readIds(v);
  const model = modelPath(v);
  const { config, result } = await runModel(v.backend, model, ids, { taps: RESIDUAL_TAPS, truncate: v.truncate, kernels: kernelsOption(v.kernels) });
  const rows = residualStats(config, result, threshold);
  if (v.json) {
    process.stdout.write(JSON.stringify({ tokens: result.inputIds.length, threshold, layers: rows }, null, 2) + '\n');
    return 0;
  }
  const f = (r: number) => (Number.isFinite(r) ? r.toFixed(3) : 'n/a');
  const lines = [
    `T=${result.inputIds.length} tokens, threshold |x| <= ${threshold}; layer l+1 is the block output h.l (for the last layer too: hidden_states.L has ln_f applied)`,
    'layer  kept/total        r(l, l+1)  r(Δattn, Δmlp)  r(l+Δattn+Δmlp, l+1)  r(l+1−l, Δattn+Δmlp)  max|recon err|',
    ...rows.map((r) => `${String(r.layer).padStart(5)}  ${`${r.kept}/${r.total}`.padEnd(16)}  ${f(r.rLayers).padStart(9)}  ` +
      `${f(r.rDeltas).padStart(14)}  ${f(r.rReconstruction).padStart(20)}  ${f(r.rDifference).padStart(20)}  ${r.maxReconstructionError.toExponential(2).padStart(14)}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function loadFile(path: string): Promise<LoadedTensors> {
  if (!existsSync(path)) throw new GPT2TapsError(`file not found: ${path}`);
  return readAllTensors(await fileSource(path));
}

async function compareCommand(args: string[]): Promise<number> {
  const { values: v, positionals } = parse(args, {
    rtol: { type: 'string', default: String(DEFAULT_RTOL) }, atol: { type: 'string', default: String(DEFAULT_ATOL) },
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (v.help) { process.stdout.write(HELP); return 0; }
  if (positionals.length !== 2) throw new GPT2TapsError('compare needs two files: gpt2-taps compare A.safetensors B.safetensors');
  const rtol = Number(v.rtol), atol = Number(v.atol);
  if (!(rtol >= 0) || !(atol >= 0)) throw new GPT2TapsError('--rtol and --atol must be non-negative numbers');
  const [a, b] = await Promise.all(positionals.map(loadFile));
  const lookup = (t: LoadedTensors) => (n: string) => {
    const f = t.floats.get(n) ?? t.ints.get(n);
    return f ? { data: Float32Array.from(f.data), shape: f.shape } : undefined;
  };
  const rows: Comparison[] = [];
  const missing: string[] = [];
  for (const name of [...b.ints.keys(), ...b.floats.keys()]) {
    const ref = lookup(b)(name)!;
    const ours = matchTensor(name, lookup(a));
    if (!ours) { missing.push(name); continue; }
    if (ours.shape.join() !== ref.shape.join()) {
      rows.push({ name, shape: ref.shape, maxAbsDiff: Infinity, maxAbsRef: NaN, bound: NaN, pass: false });
      log(`${name}: shape [${ours.shape}] in A, [${ref.shape}] in B`);
      continue;
    }
    // Integer tensors (input_ids) must match exactly.
    const exact = b.ints.has(name);
    rows.push(compareTensor(name, ours.data, ref.data, ref.shape, exact ? 0 : rtol, exact ? 0 : atol));
  }
  const failed = rows.filter((r) => !r.pass).length;
  if (v.json) {
    process.stdout.write(JSON.stringify({ rtol, atol, passed: rows.length - failed, failed, missing, tensors: rows }, null, 2) + '\n');
  } else {
    const w = Math.max(6, ...rows.map((r) => r.name.length));
    process.stdout.write(`${'tensor'.padEnd(w)}  ${'shape'.padEnd(16)}  max|A−B|    max|B|      bound       result\n`);
    for (const r of rows) {
      process.stdout.write(`${r.name.padEnd(w)}  ${`[${r.shape}]`.padEnd(16)}  ${r.maxAbsDiff.toExponential(2).padEnd(10)}  ` +
        `${r.maxAbsRef.toExponential(2).padEnd(10)}  ${r.bound.toExponential(2).padEnd(10)}  ${r.pass ? 'pass' : 'FAIL'}\n`);
    }
    for (const m of missing) process.stdout.write(`${m.padEnd(w)}  missing from A\n`);
    process.stdout.write(`${rows.length - failed} passed, ${failed} failed, ${missing.length} missing (rtol ${rtol}, atol ${atol})\n`);
  }
  return missing.length > 0 ? 2 : failed > 0 ? 1 : 0;
}

function tokenizeCommand(args: string[]): number {
  const { values: v } = parse(args, { text: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (v.help) { process.stdout.write(HELP); return 0; }
  if (v.text === undefined) throw new GPT2TapsError('tokenize needs --text "…"');
  const ids = encode(v.text);
  process.stdout.write(`${JSON.stringify(ids)}\n`);
  const strs = tokenStrings(ids);
  ids.forEach((id, i) => log(`${String(i).padStart(5)} ${String(id).padStart(6)} ${JSON.stringify(strs[i])}`));
  return 0;
}

async function downloadCommand(args: string[]): Promise<number> {
  const { values: v, positionals } = parse(args, { 'cache-dir': { type: 'string' }, endpoint: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (v.help || positionals.length !== 1) {
    process.stdout.write(`gpt2-taps download <owner/name[@revision]>|${Object.keys(KNOWN_MODELS).join('|')} [--cache-dir D] [--endpoint URL]\n` +
      '  into the Hugging Face cache (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub), as Python\'s huggingface_hub;\n' +
      '  --endpoint (else HF_ENDPOINT) names another hub; HF_TOKEN for private or gated repos\n');
    return v.help ? 0 : 2;
  }
  const r = await downloadModel(positionals[0], { cacheDir: v['cache-dir'], endpoint: v.endpoint, progress: true, log });
  for (const f of r.files) log(`${f.file}: ${f.bytes} bytes${f.skipped ? ' (in the cache)' : f.resumed ? ' (resumed)' : ''}`);
  log(`${r.repo} at commit ${r.commit} in ${r.dir}; run: gpt2-taps residuals --model ${positionals[0]} --text "…"`);
  return 0;
}
