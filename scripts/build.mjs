// Builds the bundles from src/ (WGSL files inlined as text) and the demo page:
//   dist/cli.js            the Node CLI (bin/gpt2-taps.js runs it)
//   dist/gpt2-taps.js      the browser library (ESM), used by the runner page and the tests
//   dist/serve.js          the static server on 127.0.0.1 (npm start, the benchmarks)
//   dist/runner.html       the page the CLI's browser backend and the Playwright tests load
//   dist/demo/             the demo page (Vite, demo/vite.config.ts)
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const common = { bundle: true, format: 'esm', loader: { '.wgsl': 'text' }, sourcemap: true, logLevel: 'warning', target: 'es2022' };
mkdirSync('dist', { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', platform: 'node', packages: 'external' }),
  build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/gpt2-taps.js', platform: 'browser', external: ['node:*'] }),
  build({ ...common, entryPoints: ['src/node/serve.ts'], outfile: 'dist/serve.js', platform: 'node' }),
]);
copyFileSync('src/runner.html', 'dist/runner.html');

// The demo page (demo/, Vite) into dist/demo, with the bundled gpt2-tiny at dist/demo/models/gpt2-tiny/.
const { build: viteBuild } = await import('vite');
await viteBuild({ configFile: 'demo/vite.config.ts', logLevel: 'warn' });
