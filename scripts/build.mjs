// Builds the two bundles from src/ (WGSL files inlined as text):
//   dist/cli.js            the Node CLI (bin/gpt2-taps.js runs it)
//   dist/gpt2-taps.js      the browser library (ESM), used by the runner page and the tests
//   dist/runner.html       the page the CLI's browser backend and the Playwright tests load
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const common = { bundle: true, format: 'esm', loader: { '.wgsl': 'text' }, sourcemap: true, logLevel: 'warning', target: 'es2022' };
mkdirSync('dist', { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', platform: 'node', packages: 'external' }),
  build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/gpt2-taps.js', platform: 'browser', external: ['node:*'] }),
]);
copyFileSync('src/runner.html', 'dist/runner.html');
