// Node-only: files as ByteSources, read by position so multi-GB checkpoints never load at once.
// Loaded by src/checkpoint/sources.ts through a dynamic import, only in Node. The node builtins are
// themselves imported dynamically, so that even a browser bundle that happens to include this
// module (with `node:*` marked external) never loads them at startup.
import type { FileHandle } from 'node:fs/promises';
import { GPT2TapsError } from '../errors.js';
import {
  type ByteSource, type CheckpointSource, SAFETENSORS_INDEX_FILE, checkRange, parseSafetensorsIndex, shardedSource,
} from '../checkpoint/safetensors.js';

async function fsp(): Promise<typeof import('node:fs/promises')> {
  return import('node:fs/promises');
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}: ${err.message}` : String(e);
}

/** Statistics of a path, or undefined when it does not exist. */
async function statOrUndefined(path: string) {
  const fs = await fsp();
  try {
    return await fs.stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new GPT2TapsError(`cannot access ${path} (${describe(e)})`);
  }
}

/**
 * A ByteSource over a file on disk, read by position: each `read` opens the file, reads exactly
 * `length` bytes into a fresh buffer and closes it again, so no file handle outlives a read
 * (nothing to close, nothing left for the garbage collector) and a multi-GB file never loads at once.
 */
export async function fileSource(path: string): Promise<ByteSource> {
  const fs = await fsp();
  const st = await statOrUndefined(path);
  if (!st) throw new GPT2TapsError(`file not found: ${path}`);
  if (!st.isFile()) throw new GPT2TapsError(`not a regular file: ${path}`);
  const size = st.size;
  return {
    byteLength: size,
    label: path,
    async read(offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
      checkRange(offset, length, size, path);
      const out = new Uint8Array(length);
      let handle: FileHandle;
      try {
        handle = await fs.open(path, 'r');
      } catch (e) {
        throw new GPT2TapsError(`cannot open ${path} (${describe(e)})`);
      }
      try {
        let done = 0;
        while (done < length) {
          // Node caps a single read at 2 GiB - 1; read in chunks.
          const n = Math.min(length - done, 1 << 30);
          const { bytesRead } = await handle.read(out, done, n, offset + done);
          if (bytesRead === 0) throw new GPT2TapsError(`${path}: unexpected end of file at offset ${offset + done} (was it changed while reading?)`);
          done += bytesRead;
        }
      } finally {
        await handle.close();
      }
      return out;
    },
  };
}

/**
 * Opens a local model: a directory holding model.safetensors, or a sharded checkpoint
 * (model.safetensors.index.json and the shards it names), + optional config.json; or a
 * safetensors file or an index file (+ optional config.json in the same directory).
 * Accepts `file:` URLs too.
 */
export async function openLocalModel(pathOrUrl: string | URL): Promise<{ bytes: CheckpointSource; config?: Record<string, unknown>; label: string }> {
  const pathMod = await import('node:path');
  let path: string;
  if (pathOrUrl instanceof URL || pathOrUrl.startsWith('file:')) {
    const { fileURLToPath } = await import('node:url');
    path = fileURLToPath(pathOrUrl);
  } else {
    path = pathOrUrl;
  }
  const st = await statOrUndefined(path);
  if (!st) {
    throw new GPT2TapsError(`model path not found: ${path}`,
      'give a directory with model.safetensors (and config.json), a .safetensors file, an http(s) URL, or a Hugging Face repo id (owner/name)');
  }
  let modelPath: string;
  if (st.isDirectory()) {
    modelPath = pathMod.join(path, 'model.safetensors');
    const m = await statOrUndefined(modelPath);
    if (!m || !m.isFile()) {
      const index = pathMod.join(path, SAFETENSORS_INDEX_FILE);
      const i = await statOrUndefined(index);
      if (!i || !i.isFile()) {
        throw new GPT2TapsError(`no model.safetensors in directory ${path} (nor a sharded ${SAFETENSORS_INDEX_FILE})`,
          'download one with `gpt2-taps download openai-community/gpt2`, or give the path of a .safetensors file');
      }
      modelPath = index;
    }
  } else {
    modelPath = path;
  }
  const configPath = pathMod.join(pathMod.dirname(modelPath), 'config.json');
  const config = await readConfigFile(configPath);
  const bytes = modelPath.endsWith('.index.json') ? await openShardedFiles(modelPath) : await fileSource(modelPath);
  return { bytes, config, label: modelPath };
}

/** A sharded checkpoint on disk: the index file, and each shard it names, relative to the index's folder. */
async function openShardedFiles(indexPath: string): Promise<CheckpointSource> {
  const fs = await fsp();
  const pathMod = await import('node:path');
  let text: string;
  try {
    text = await fs.readFile(indexPath, 'utf8');
  } catch (e) {
    throw new GPT2TapsError(`cannot read ${indexPath} (${describe(e)})`);
  }
  const { weightMap, files } = parseSafetensorsIndex(text, indexPath);
  const shards = new Map<string, ByteSource>();
  for (const file of files) {
    const shardPath = pathMod.join(pathMod.dirname(indexPath), file);
    if (!(await statOrUndefined(shardPath))) {
      throw new GPT2TapsError(`shard ${file} not found: ${indexPath} names it, but ${shardPath} does not exist`,
        'the sharded checkpoint is incomplete: download it again');
    }
    shards.set(file, await fileSource(shardPath));
  }
  return shardedSource(shards, weightMap, indexPath);
}

/** Reads a config.json: undefined when absent, a GPT2TapsError when not a JSON object. */
async function readConfigFile(path: string): Promise<Record<string, unknown> | undefined> {
  const fs = await fsp();
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new GPT2TapsError(`cannot read ${path} (${describe(e)})`);
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new GPT2TapsError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new GPT2TapsError(`${path} is not a JSON object`);
  return j as Record<string, unknown>;
}
