// `npm start`: serves the built demo (dist/demo, made by `node scripts/build.mjs`) on
// http://127.0.0.1 (WebGPU needs a secure context; 127.0.0.1 is one) and prints the URL.
// Usage: node demo/serve.mjs [--port 8080] [--dir dist/demo]. Also imported by
// scripts/bench-plot.mjs (serveDir).
import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.wasm': 'application/wasm', '.wgsl': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

/** Serves `dir` on 127.0.0.1:`port` (0: any free port). Resolves to { url, close() }. */
export function serveDir(dir, port = 0) {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const stat = statSync(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': stat.size,
        'cache-control': 'no-cache',
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      ok({
        url: `http://127.0.0.1:${server.address().port}/`,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
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
