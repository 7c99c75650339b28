// Packaging for `npm install gpt2-taps`: every package that src/ imports (and that the CLI
// bundle, dist/cli.js, leaves external) is a runtime or optional dependency; the demo-only
// packages are devDependencies; playwright-core is optional, and when it is missing
// `--backend browser` fails with a GPT2TapsError that says how to install it.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { loadPlaywright } from '../../src/node/browser.js';
import { GPT2TapsError } from '../../src/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
const deps = pkg.dependencies ?? {};
const optional = pkg.optionalDependencies ?? {};
const dev = pkg.devDependencies ?? {};

const DEMO_ONLY = ['regl', '@plotly/regl', 'regl-scatterplot', 'd3-axis', 'd3-scale', 'd3-selection', 'pub-sub-es'];

/** 'gpt-tokenizer/encoding/r50k_base' -> 'gpt-tokenizer', '@scope/a/b' -> '@scope/a'; null for relative paths and builtins. */
function packageName(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mts|js|mjs|html)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** Packages imported anywhere under src/: `from '…'`, `import '…'` and `import('…')`. */
function importedPackages(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const patterns = [/(?:^|[\s}])from\s+['"]([^'"\s]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s*['"]([^'"]+)['"]/gm];
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const re of patterns) {
      for (const m of text.matchAll(re)) {
        const name = packageName(m[1]);
        if (name) found.set(name, [...(found.get(name) ?? []), file.slice(ROOT.length + 1)]);
      }
    }
  }
  return found;
}

describe('package.json dependencies', () => {
  it('every package imported under src/ is in dependencies or optionalDependencies', () => {
    const imported = importedPackages();
    // The scan must see the known runtime imports, or it is not scanning anything.
    expect([...imported.keys()]).toEqual(expect.arrayContaining(['gpt-tokenizer', 'webgpu', 'wgsl-preprocessor', 'playwright-core']));
    const missing = [...imported].filter(([name]) => !(name in deps) && !(name in optional)).map(([name, files]) => `${name} (${files.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('every package the CLI bundle leaves external is in dependencies or optionalDependencies', async () => {
    // The same build as scripts/build.mjs for dist/cli.js, in memory, to list what stays external.
    const result = await build({
      entryPoints: [join(ROOT, 'src/cli.ts')], bundle: true, format: 'esm', platform: 'node', packages: 'external',
      loader: { '.wgsl': 'text' }, target: 'es2022', write: false, metafile: true, logLevel: 'silent',
    });
    const externals = new Set<string>();
    for (const input of Object.values(result.metafile.inputs)) {
      for (const imp of input.imports) {
        const name = imp.external ? packageName(imp.path) : null;
        if (name) externals.add(name);
      }
    }
    expect([...externals]).toContain('playwright-core');
    expect([...externals].filter((name) => !(name in deps) && !(name in optional))).toEqual([]);
  });

  it('playwright-core is an optional dependency only', () => {
    expect(optional['playwright-core']).toBeDefined();
    expect(deps['playwright-core']).toBeUndefined();
    expect(dev['playwright-core']).toBeUndefined();
  });

  it('the demo-only packages are devDependencies, not dependencies', () => {
    expect(DEMO_ONLY.filter((name) => name in deps || name in optional)).toEqual([]);
    expect(DEMO_ONLY.filter((name) => !(name in dev))).toEqual([]);
  });
});

describe('loadPlaywright', () => {
  it('gives a GPT2TapsError with install instructions when playwright-core is not installed', async () => {
    const notFound = Object.assign(new Error("Cannot find package 'playwright-core' imported from /x/dist/cli.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    const err = await loadPlaywright(() => Promise.reject(notFound)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GPT2TapsError);
    const message = (err as Error).message;
    expect(message).toContain('playwright-core');
    expect(message).toContain('not installed');
    expect(message).toContain('npm install playwright-core');
    expect(message).toContain('CHROMIUM_PATH');
  });

  it('recognises the CommonJS-style "Cannot find module" message too', async () => {
    const notFound = new Error("Cannot find module 'playwright-core'");
    await expect(loadPlaywright(() => Promise.reject(notFound))).rejects.toBeInstanceOf(GPT2TapsError);
  });

  it('rethrows any other error unchanged', async () => {
    const other = new Error('chromium exploded');
    await expect(loadPlaywright(() => Promise.reject(other))).rejects.toBe(other);
    // Not found, but a different package (a broken playwright-core install): not ours to explain.
    const dependency = Object.assign(new Error("Cannot find package 'some-dependency' imported from /x/node_modules/playwright-core/index.mjs"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(loadPlaywright(() => Promise.reject(dependency))).rejects.toBe(dependency);
  });

  it('returns the module when it is installed', async () => {
    const pw = await loadPlaywright();
    expect(typeof pw.chromium.launch).toBe('function');
  });
});
