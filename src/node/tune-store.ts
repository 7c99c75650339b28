// Where the kernel variants timed at load are remembered between runs of the CLI: a JSON file
// ($XDG_CACHE_HOME or ~/.cache, then gpt2-taps/kernels.json), keyed by adapter and shape
// (src/engine/tune.ts). A missing or unreadable file is an empty store; writes are atomic.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuneStore } from '../engine/tune.js';

export function defaultTuneFile(env = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gpt2-taps', 'kernels.json');
}

export function fileTuneStore(file = defaultTuneFile()): TuneStore {
  let saved: Record<string, string> = {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) saved = parsed;
  } catch { /* none yet, or unreadable: timed again */ }
  return {
    get: (key) => (typeof saved[key] === 'string' ? saved[key] : undefined),
    set: (key, value) => {
      saved = { ...saved, [key]: value };
      try {
        mkdirSync(dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, `${JSON.stringify(saved, null, 1)}\n`);
        renameSync(tmp, file);
      } catch { /* a read-only home: the choice is kept for this process only */ }
    },
  };
}
