// Vite config of the demo page: root demo/, built into dist/demo/ with relative URLs
// (base './'), WGSL files imported as text, and the bundled gpt2-tiny served/copied at
// models/gpt2-tiny/ next to the page.
import { defineConfig, type Plugin } from 'vite';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CSP } from './csp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const outDir = resolve(repo, 'dist/demo');
const MODEL_FILES = ['model.safetensors', 'config.json'];
const MODEL_SRC = resolve(repo, 'weights/gpt2-tiny');
const MODEL_URL = '/models/gpt2-tiny/';

/** `import src from './x.wgsl'` gives the file's text. */
function wgslText(): Plugin {
  return {
    name: 'wgsl-text',
    load(id) {
      const file = id.split('?')[0];
      return file.endsWith('.wgsl') ? `export default ${JSON.stringify(readFileSync(file, 'utf8'))};` : null;
    },
  };
}

/** The bundled model: served by the dev server, copied into the build output. */
function bundledModel(): Plugin {
  return {
    name: 'bundled-model',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0];
        const name = path.startsWith(MODEL_URL) ? path.slice(MODEL_URL.length) : '';
        if (!MODEL_FILES.includes(name)) return next();
        const file = join(MODEL_SRC, name);
        res.setHeader('content-type', name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
        res.setHeader('content-length', String(statSync(file).size));
        createReadStream(file).pipe(res);
      });
    },
    closeBundle() {
      const dest = join(outDir, MODEL_URL);
      mkdirSync(dest, { recursive: true });
      for (const f of MODEL_FILES) {
        if (!existsSync(join(MODEL_SRC, f))) throw new Error(`bundled model file missing: ${join(MODEL_SRC, f)}`);
        copyFileSync(join(MODEL_SRC, f), join(dest, f));
      }
    },
  };
}

/** The built index.html carries the page's Content-Security-Policy (demo/csp.mjs) as a <meta> tag. */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'content-security-policy',
    apply: 'build',
    transformIndexHtml(html, ctx) {
      if (!ctx.filename.endsWith('index.html')) return html;
      return [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CSP }, injectTo: 'head-prepend' }];
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  plugins: [wgslText(), bundledModel(), contentSecurityPolicy()],
  // One regl in the bundle: @plotly/regl (stable code generation, precompiled procedures; see demo/src/figure.ts).
  resolve: { alias: { regl: '@plotly/regl' } },
  worker: { format: 'es' },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
    rollupOptions: {
      input: { index: resolve(here, 'index.html'), bench: resolve(here, 'bench.html') },
      external: [/^node:/],
    },
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
