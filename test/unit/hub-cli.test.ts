// The CLI with Hugging Face repo ids (built bundle, real processes), against a local imitation
// of the hub (./hub-mock.ts) through HF_ENDPOINT, with HF_HOME in a temporary folder: `run
// --model <repo id>` downloads into the cache, then runs from it with HF_HUB_OFFLINE=1 and the
// hub gone; an empty cache offline fails clearly; a sharded repo gives the same logits; a
// non-GPT-2 repo is refused; `download` fills the cache; HF_TOKEN is never printed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesSource, readAllTensors } from '../../src/checkpoint/safetensors.js';
import { commitOf, standardRepos, startMockHub, type MockHub } from './hub-mock.js';

const BIN = new URL('../../bin/gpt2-taps.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'gpt2-taps-hub-cli-'));
let hub: MockHub;

/** Runs the CLI without blocking the event loop (the mock hub answers in this process). */
function cli(env: Record<string, string>, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HF_') && k !== 'HUGGINGFACE_HUB_CACHE'));
    const child = spawn('node', [BIN, ...args], { env: { ...clean, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += String(d); });
    child.stderr.on('data', (d) => { stderr += String(d); });
    const timer = setTimeout(() => child.kill(), 170_000);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

beforeAll(async () => {
  expect(spawnSync('node', ['scripts/build.mjs']).status).toBe(0);
  hub = await startMockHub(await standardRepos());
});
afterAll(async () => {
  await hub?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function logits(file: string): Promise<Float32Array> {
  return (await readAllTensors(bytesSource(readFileSync(file)))).floats.get('logits')!.data;
}

describe('gpt2-taps with Hugging Face repo ids', () => {
  it('run --model <repo id>: downloads into HF_HOME\'s cache, then loads from it offline with the hub gone', async () => {
    const home = join(dir, 'home1');
    const env = { HF_HOME: home, HF_ENDPOINT: hub.url };
    const first = await cli(env, 'run', '--ids', '1,2,3', '--taps', 'logits', '--model', 'test-org/gpt2-tiny', '--out', join(dir, 'a.safetensors'));
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe('');
    const snap = join(home, 'hub', 'models--test-org--gpt2-tiny', 'snapshots', commitOf('test-org/gpt2-tiny'));
    expect(existsSync(join(snap, 'model.safetensors'))).toBe(true);
    expect(readFileSync(join(home, 'hub', 'models--test-org--gpt2-tiny', 'refs', 'main'), 'utf8')).toBe(commitOf('test-org/gpt2-tiny'));

    hub.seen = [];
    const again = await cli({ ...env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' },
      'run', '--ids', '1,2,3', '--taps', 'logits', '--model', 'test-org/gpt2-tiny', '--out', join(dir, 'b.safetensors'));
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain(`test-org/gpt2-tiny: from the Hugging Face cache, ${snap}`);
    expect(hub.seen).toEqual([]);
    expect(Buffer.from((await logits(join(dir, 'b.safetensors'))).buffer).equals(Buffer.from((await logits(join(dir, 'a.safetensors'))).buffer))).toBe(true);
  });

  it('HF_HUB_OFFLINE=1 with an empty cache fails with exit 2 and a message naming the repo and the cache', async () => {
    const home = join(dir, 'empty');
    const r = await cli({ HF_HOME: home, HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '1' }, 'run', '--ids', '1,2,3', '--taps', 'logits', '--model', 'test-org/gpt2-tiny', '--out', join(dir, 'c.safetensors'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`gpt2-taps: test-org/gpt2-tiny is not in the Hugging Face cache ${join(home, 'hub')}`);
    expect(r.stderr).toContain('HF_HUB_OFFLINE is set: nothing is downloaded');
  });

  it('a sharded repo loads and gives the same logits as the single file', async () => {
    const env = { HF_HOME: join(dir, 'home2'), HF_ENDPOINT: hub.url };
    const one = await cli(env, 'run', '--ids', '1,2,3', '--taps', 'logits', '--model', 'test-org/gpt2-tiny', '--out', join(dir, 'one.safetensors'));
    expect(one.status, one.stderr).toBe(0);
    const sharded = await cli(env, 'run', '--ids', '1,2,3', '--taps', 'logits', '--model', 'test-org/gpt2-tiny-sharded', '--out', join(dir, 'sharded.safetensors'));
    expect(sharded.status, sharded.stderr).toBe(0);
    expect(Buffer.from((await logits(join(dir, 'sharded.safetensors'))).buffer).equals(Buffer.from((await logits(join(dir, 'one.safetensors'))).buffer))).toBe(true);
  });

  it('a non-GPT-2 repo and a pytorch_model.bin-only repo are refused with exit 2, saying what was found', async () => {
    const env = { HF_HOME: join(dir, 'home3'), HF_ENDPOINT: hub.url };
    const bert = await cli(env, 'taps', '--model', 'test-org/bert-tiny');
    expect(bert.status).toBe(2);
    expect(bert.stderr).toMatch(/gpt2-taps: test-org\/bert-tiny \(commit [0-9a-f]{12}\) is not a GPT-2: its config\.json has model_type "bert"/);
    const bin = await cli(env, 'download', 'test-org/gpt2-bin-only');
    expect(bin.status).toBe(2);
    expect(bin.stderr).toMatch(/has no model\.safetensors \(nor model\.safetensors\.index\.json\): it has pytorch_model\.bin/);
  });

  it('download <repo id> fills the cache (with HF_TOKEN, never printed); a second download uses the cache', async () => {
    const token = 'hf_cliSECRET000111222333';
    hub.sw.requireToken = token;
    try {
      const env = { HF_HOME: join(dir, 'home4'), HF_ENDPOINT: hub.url, HF_TOKEN: token };
      const r = await cli(env, 'download', 'test-org/gpt2-tiny');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/model\.safetensors: sha256 verified/);
      expect(r.stderr).toContain(`test-org/gpt2-tiny at commit ${commitOf('test-org/gpt2-tiny')}`);
      const again = await cli(env, 'download', 'test-org/gpt2-tiny');
      expect(again.status, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/model\.safetensors: \d+ bytes \(in the cache\)/);
      const denied = await cli({ ...env, HF_HOME: join(dir, 'home5'), HF_TOKEN: 'hf_wrongSECRET999' }, 'download', 'test-org/gpt2-tiny');
      expect(denied.status).toBe(2);
      expect(denied.stderr).toMatch(/HTTP 401/);
      for (const out of [r, again, denied]) {
        expect(out.stderr + out.stdout).not.toContain(token);
        expect(out.stderr + out.stdout).not.toContain('hf_wrongSECRET999');
      }
    } finally {
      hub.sw = {};
    }
  });
});
