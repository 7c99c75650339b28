// `npm start`: serves the built demo (dist/demo, made by `node scripts/build.mjs`) on
// http://127.0.0.1 (WebGPU needs a secure context; 127.0.0.1 is one) and prints the URL.
// Usage: node demo/serve.mjs [--port 8080] [--dir dist/demo]. Also imported by
// scripts/bench-plot.mjs (serveDir). The server itself is the project's (src/node/serve.ts,
// built to dist/serve.js).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CSP } from './csp.mjs';

const SERVE = new URL('../dist/serve.js', import.meta.url);

/**
 * Serves `dir` on 127.0.0.1:`port` (0: any free port), sending the demo page's
 * Content-Security-Policy. Resolves to { url (ending in /), close() }.
 */
export async function serveDir(dir, port = 0) {
  if (!existsSync(SERVE)) throw new Error('dist/serve.js is missing: run `node scripts/build.mjs` first (npm start does)');
  const { serve } = await import(SERVE.href);
  const server = await serve({ mounts: { '/': resolve(dir) }, port, headers: { 'content-security-policy': CSP } });
  return { url: `${server.url}/`, close: server.close };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
  };
  const dir = arg('--dir', 'dist/demo');
  const port = Number(arg('--port', process.env.PORT ?? '8080'));
  if (!existsSync(join(dir, 'index.html'))) {
    console.error(`no built demo in ${dir}: run \`node scripts/build.mjs\` first (npm start does)`);
    process.exit(1);
  }
  let server;
  try {
    server = await serveDir(dir, port);
  } catch (e) {
    if (e.code !== 'EADDRINUSE') throw e;
    console.error(`port ${port} is in use; using a free port instead`);
    server = await serveDir(dir, 0);
  }
  console.log(`gpt2-taps demo: ${server.url}`);
  console.log('(WebGPU: a recent Chrome/Edge/Safari; on Linux Chrome add --enable-unsafe-webgpu. Ctrl+C stops the server.)');
}
