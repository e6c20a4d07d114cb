/**
 * File digests for the model fingerprint, cached: hashing a 436 MB model.onnx takes about a second, so each
 * file's sha256 is remembered in memory and in a small sidecar file next to it (best effort: a read-only model
 * directory just means no sidecar), keyed by the file's path, size, mtime and inode. A file replaced or
 * touched in any ordinary way changes its mtime or size, and is hashed again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const FINGERPRINT_CACHE_FILE = '.datastate-fingerprints.json';

interface CacheEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

const memory = new Map<string, CacheEntry>();

function matches(
  e: CacheEntry | undefined,
  st: { size: number; mtimeMs: number; ino: number },
): e is CacheEntry {
  return e !== undefined && e.size === st.size && e.mtimeMs === st.mtimeMs && e.ino === st.ino;
}

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function readSidecar(dir: string): Promise<Record<string, CacheEntry>> {
  try {
    const raw = JSON.parse(await readFile(path.join(dir, FINGERPRINT_CACHE_FILE), 'utf8')) as unknown;
    return raw !== null && typeof raw === 'object' ? (raw as Record<string, CacheEntry>) : {};
  } catch {
    return {};
  }
}

async function writeSidecar(dir: string, entries: Record<string, CacheEntry>): Promise<void> {
  const file = path.join(dir, FINGERPRINT_CACHE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(entries, null, 2) + '\n');
    await rename(tmp, file);
  } catch {
    // read-only directory or similar: the in-memory cache still works
  }
}

/**
 * sha256 (hex) of each file, from the caches when the file is unchanged. `names` are relative to `dir` (or
 * absolute, for a file kept elsewhere); the sidecar cache is written in `dir`.
 */
export async function fileDigests(dir: string, names: readonly string[]): Promise<Record<string, string>> {
  const sidecar = await readSidecar(dir);
  let dirty = false;
  const out: Record<string, string> = {};
  for (const name of names) {
    const file = path.resolve(dir, name);
    const st = await stat(file);
    const key = path.resolve(file);
    let e: CacheEntry | undefined = memory.get(key);
    if (!matches(e, st)) e = sidecar[name];
    if (!matches(e, st)) {
      e = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256: await hashFile(file) };
      sidecar[name] = e;
      dirty = true;
    }
    memory.set(key, e);
    out[name] = e.sha256;
  }
  if (dirty) await writeSidecar(dir, sidecar);
  return out;
}

/** sha256 (hex) of a canonical JSON rendering of `manifest` (object keys sorted). */
export function manifestDigest(manifest: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return createHash('sha256')
    .update(JSON.stringify(canon(manifest)))
    .digest('hex');
}
