// A small static file server on 127.0.0.1 for the browser backend, the Playwright tests
// and `gpt2-taps serve`: WebGPU needs a secure context, and http://127.0.0.1 is one.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
  '.json': 'application/json', '.css': 'text/css', '.png': 'image/png', '.wgsl': 'text/plain; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
};

export interface ServeOptions {
  /** URL prefix → folder or file on disk, e.g. {'/': 'dist', '/model/': 'weights/gpt2-tiny'}. Longest prefix wins. */
  mounts: Record<string, string>;
  port?: number;
  /** Extra headers on every response (e.g. the demo's Content-Security-Policy). */
  headers?: Record<string, string>;
  /** Handles POST requests (the browser backend's results); the body arrives whole. */
  onPost?: (path: string, body: Buffer) => void;
}

export interface Server { url: string; close(): Promise<void> }

/** Resolves a URL path under a mount, refusing anything that escapes it. */
function resolvePath(mounts: [string, string][], urlPath: string): string | undefined {
  for (const [prefix, target] of mounts) {
    if (!urlPath.startsWith(prefix) && urlPath !== prefix.replace(/\/$/, '')) continue;
    const rest = decodeURIComponent(urlPath.slice(prefix.length));
    const root = resolve(target);
    let stat;
    try { stat = statSync(root); } catch { return undefined; }
    if (stat.isFile()) return rest === '' ? root : undefined;
    const full = normalize(join(root, rest));
    if (full !== root && !full.startsWith(root + sep)) return undefined;
    return full;
  }
  return undefined;
}

export function serve(opts: ServeOptions): Promise<Server> {
  const mounts = Object.entries(opts.mounts).sort((a, b) => b[0].length - a[0].length);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        opts.onPost?.(path, Buffer.concat(chunks));
        res.writeHead(204).end();
      });
      return;
    }
    let file = resolvePath(mounts, path);
    try {
      if (file && statSync(file).isDirectory()) file = join(file, 'index.html');
      const stat = file ? statSync(file) : undefined;
      if (!file || !stat?.isFile()) throw new Error('not found');
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': stat.size,
        'cache-control': 'no-store',
        ...opts.headers,
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      ok({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}
