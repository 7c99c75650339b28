// Node-only: where Hugging Face models live on this machine. The settings Python's
// huggingface_hub reads (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE; the cache from HF_HUB_CACHE,
// HF_HOME, XDG_CACHE_HOME through @huggingface/hub's getHFHubCachePath), and lookups in that
// cache, in its layout:
//   <cache>/models--<owner>--<name>/refs/<revision>          the commit the revision points at
//   <cache>/models--<owner>--<name>/snapshots/<commit>/<file> a symlink to ../../blobs/<etag>
//   <cache>/models--<owner>--<name>/blobs/<etag>             sha256 for LFS files, git blob sha1 otherwise
// The lookups are synchronous so that the CLI can resolve `--model` before anything else runs.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getHFHubCachePath, getRepoFolderName } from '@huggingface/hub';
import { GPT2TapsError } from '../errors.js';
import {
  DEFAULT_HUB, type RepoSpec, checkGpt2Config, repoLabel, safetensorsEntry,
} from '../checkpoint/sources.js';
import { SAFETENSORS_INDEX_FILE, parseSafetensorsIndex } from '../checkpoint/safetensors.js';

export interface HubSettingsOptions {
  /** The hub; HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** The cache; HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (as Python). */
  cacheDir?: string;
  /** An access token for gated and private repos; HF_TOKEN by default. Never printed. */
  token?: string;
  /** Use the cache only; HF_HUB_OFFLINE by default. */
  offline?: boolean;
}

export interface HubSettings {
  endpoint: string;
  cacheDir: string;
  token?: string;
  offline: boolean;
}

/** Python's reading of a boolean environment variable (huggingface_hub.constants._is_true). */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

/** The settings from the options, else from the environment, as Python's huggingface_hub reads them. */
export function hubSettings(o: HubSettingsOptions = {}): HubSettings {
  const env = process.env;
  const endpoint = (o.endpoint ?? (env['HF_ENDPOINT'] || DEFAULT_HUB)).replace(/\/+$/, '');
  try {
    new URL(endpoint);
  } catch {
    throw new GPT2TapsError(`the hub endpoint "${endpoint}" is not a URL`, 'HF_ENDPOINT (or --endpoint) must be like https://huggingface.co');
  }
  const token = o.token ?? (env['HF_TOKEN'] || undefined);
  return { endpoint, cacheDir: o.cacheDir ?? getHFHubCachePath(), token: token?.trim() || undefined, offline: o.offline ?? isTrue(env['HF_HUB_OFFLINE']) };
}

/** `<cache>/models--owner--name`. */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, getRepoFolderName({ type: 'model', name: repo }));
}

export const COMMIT_RE = /^[0-9a-f]{40}$/;

export interface CachedModel {
  repo: string;
  commit: string;
  /** The snapshot folder: config.json and the weights, as symlinks into blobs/. */
  dir: string;
  config: Record<string, unknown>;
  /** The files of the model in the snapshot: config.json, then model.safetensors or the index and its shards. */
  files: string[];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile(); // follows the symlink: a dangling one is not a file
  } catch {
    return false;
  }
}

/**
 * The model `spec` in the cache, complete (config.json, and model.safetensors or the index and
 * every shard); otherwise what is missing, as a phrase. A snapshot whose config.json is not a
 * GPT-2's is refused (GPT2TapsError).
 */
export function findCachedModel(spec: RepoSpec, cacheDir: string): CachedModel | { missing: string } {
  const repoDir = repoCacheDir(cacheDir, spec.repo);
  let commit = spec.revision;
  if (!COMMIT_RE.test(commit)) {
    const ref = join(repoDir, 'refs', ...spec.revision.split('/'));
    if (!isFile(ref)) return { missing: existsSync(repoDir) ? `no refs/${spec.revision} in ${repoDir}` : `no ${repoDir}` };
    commit = readFileSync(ref, 'utf8').trim();
    if (!COMMIT_RE.test(commit)) return { missing: `${ref} does not hold a commit hash` };
  }
  const dir = join(repoDir, 'snapshots', commit);
  const where = `${repoLabel(spec)} (commit ${commit.slice(0, 12)})`;
  if (!existsSync(dir)) return { missing: `no snapshot ${dir}` };
  const has = (f: string) => isFile(join(dir, f));
  if (!has('config.json')) return { missing: `no config.json in ${dir}` };
  const config = checkGpt2Config(readFileSync(join(dir, 'config.json'), 'utf8'), where);
  const files = ['config.json'];
  if (has('model.safetensors')) {
    files.push('model.safetensors');
  } else if (has(SAFETENSORS_INDEX_FILE)) {
    const { files: shards } = parseSafetensorsIndex(readFileSync(join(dir, SAFETENSORS_INDEX_FILE), 'utf8'), join(dir, SAFETENSORS_INDEX_FILE));
    const absent = shards.filter((f) => !has(f));
    if (absent.length > 0) return { missing: `shard ${absent[0]} of ${absent.length > 1 ? `${absent.length} shards` : 'the sharded checkpoint'} not in ${dir}` };
    files.push(SAFETENSORS_INDEX_FILE, ...shards);
  } else {
    let present: string[] = [];
    try {
      present = readdirSync(dir);
    } catch {
      // nothing listed
    }
    try {
      safetensorsEntry(present, `the snapshot ${dir}`);
    } catch (e) {
      return { missing: (e as Error).message };
    }
  }
  return { repo: spec.repo, commit, dir, config, files };
}

/** The error for a model that is not in the cache while HF_HUB_OFFLINE is set. */
export function offlineError(spec: RepoSpec, settings: HubSettings, missing: string): GPT2TapsError {
  return new GPT2TapsError(
    `${repoLabel(spec)} is not in the Hugging Face cache ${settings.cacheDir} (${missing}), and HF_HUB_OFFLINE is set: nothing is downloaded`,
    'unset HF_HUB_OFFLINE to download it, or point HF_HUB_CACHE / HF_HOME at the cache that holds it',
  );
}
