// The demo page's WGSL kernels (demo/shaders/*.wgsl) state their contract at the top: the
// first line `// <name> — …`, a `Bindings (group 0):` section listing every binding the code
// declares (number, name, access), and a `Dispatch:` or `Draw:` line. No browser needed.
import { test, expect } from '@playwright/test';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const DIR = 'demo/shaders';
const files = readdirSync(DIR).filter((f) => f.endsWith('.wgsl')).sort();

test('every demo shader opens with its contract, and its bindings table matches its @binding declarations', () => {
  expect(files).toEqual(expect.arrayContaining(['scatter_raster.wgsl', 'scatter_shade.wgsl', 'scatter_pick.wgsl', 'scatter_lasso.wgsl']));
  for (const file of files) {
    const code = readFileSync(join(DIR, file), 'utf8');
    const name = basename(file, '.wgsl');
    expect(code.startsWith(`// ${name} — `), `${file}: first line`).toBe(true);
    expect(code, file).toContain('// Bindings (group 0):');
    expect(code, file).toMatch(/^\/\/ (Dispatch|Draw):/m);
    const declared = [...code.matchAll(/@group\(0\) @binding\((\d+)\) var<(\w+)(?:, *(\w+))?> (\w+)/g)]
      .map((m) => `${m[1]} ${m[4]} ${m[2] === 'uniform' ? 'uniform' : `storage ${m[3]}`}`);
    const listed = [...code.matchAll(/^\/\/ +(\d+) (\w+) +(uniform|storage (?:read_write|read))\b/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    expect(declared.length, `${file}: bindings`).toBeGreaterThan(0);
    expect(listed, `${file}: the header's bindings`).toEqual(declared);
  }
});
