/**
 * Files of a corpus in a deterministic order: a directory tree walked recursively, or a tar archive
 * (gzip-compressed or not), both sorted by their path inside the source (plain code-unit order of the
 * "/"-separated relative path, the same for a directory and for the archive made from it).
 *
 * A gzip stream cannot be read out of order, so an archive is read in passes. Each pass reads the whole
 * archive and keeps the raw bytes of the files that come next in sorted order (after those already handed
 * out), at most `windowBytes` of them: a file that sorts before the kept ones pushes the last ones out. At
 * the end of the pass the kept files are handed out in order; if anything did not fit, another pass follows.
 * Memory holds one window of raw bytes (outside the JS heap) whatever the size of the archive, nothing is
 * parsed twice, and an archive that fits in one window is read once. The first pass reads the whole archive
 * before the first file is handed out, so a damaged archive fails before anything is yielded.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { CorpusError, describeError } from './errors.ts';

/** Compare paths by UTF-16 code units: the same on every machine and in every locale. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when a path component is hidden (".git", "._PMC1.xml" from macOS tar, Kubernetes' "..data"). */
export function isHiddenPath(rel: string): boolean {
  return rel.split('/').some((part) => part.startsWith('.'));
}

/** A file found in a directory tree, or a subdirectory that could not be listed (`error` set). */
export interface DirectoryEntry {
  /** "/"-separated path relative to the root. */
  rel: string;
  error?: string;
}

/**
 * Every regular file under `root` (symbolic links to files included, links to directories not followed,
 * hidden files and directories left out), sorted by path. A subdirectory that cannot be listed is an entry
 * with `error` (reported, the rest goes on); a root that cannot be listed throws SOURCE_UNREADABLE.
 */
export async function listDirectory(root: string, signal?: AbortSignal): Promise<DirectoryEntry[]> {
  const out: DirectoryEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    signal?.throwIfAborted();
    let entries;
    try {
      entries = await readdir(rel === '' ? root : join(root, rel), { withFileTypes: true });
    } catch (e) {
      if (rel === '')
        throw new CorpusError('SOURCE_UNREADABLE', `cannot read directory ${root}: ${describeError(e)}`, {
          path: root,
          cause: e,
        });
      out.push({ rel: `${rel}/`, error: `cannot read directory: ${describeError(e)}` });
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(child);
      else if (e.isFile()) out.push({ rel: child });
      else if (e.isSymbolicLink()) {
        const s = await stat(join(root, child)).catch(() => undefined);
        if (s?.isFile()) out.push({ rel: child });
      }
    }
  };
  await walk('');
  return out.sort((a, b) => comparePaths(a.rel, b.rel));
}

/** One regular-file entry of an archive. */
export interface TarFile {
  /** Normalized path inside the archive ("./a/b.xml" -> "a/b.xml"). */
  name: string;
  size: number;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const EMPTY = Buffer.alloc(0);

function normalizeEntryName(p: string): string {
  let s = p.replace(/\\/g, '/');
  while (s.startsWith('./')) s = s.slice(2);
  return s.replace(/^\/+/, '');
}

/**
 * One pass over an archive. `want` decides, per regular file, whether its bytes are needed; `onFile` gets
 * them when the entry is complete. Throws CorpusError(SOURCE_INVALID) when the archive is damaged.
 */
async function scanTar(
  path: string,
  want: (f: TarFile) => boolean,
  onFile: (f: TarFile, body: Buffer) => void,
  signal?: AbortSignal,
): Promise<void> {
  let failure: unknown;
  const parser = new Parser({ strict: true });
  parser.on('entry', (entry: ReadEntry) => {
    const f: TarFile = { name: normalizeEntryName(entry.path), size: entry.size };
    if (!FILE_TYPES.has(entry.type) || !want(f)) {
      entry.resume();
      return;
    }
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => {
      try {
        // Always a copy: a chunk can be a slice of a larger decompressed block, which it would keep alive.
        onFile(f, Buffer.concat(chunks));
      } catch (e) {
        failure ??= e;
        parser.abort(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
  const done = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', (e: Error) => reject(e));
  });
  done.catch(() => undefined); // handled below; avoid an unhandled rejection while we are still writing
  const input = createReadStream(path, signal === undefined ? {} : { signal });
  try {
    for await (const chunk of input) {
      // Wait for room, or for the parser to fail (an aborted parser never drains).
      if (!parser.write(chunk as Buffer))
        await Promise.race([new Promise<void>((r) => parser.once('drain', () => r())), done]);
    }
    parser.end();
    await done;
  } catch (e) {
    input.destroy();
    if (signal?.aborted) throw signal.reason;
    if (failure !== undefined) throw failure;
    if (e instanceof CorpusError) throw e;
    throw new CorpusError('SOURCE_INVALID', `cannot read archive ${path}: ${describeError(e)}`, {
      path,
      cause: e,
    });
  }
  if (failure !== undefined) throw failure;
}

export interface SortedTarOptions {
  /** Most raw bytes kept per pass (a single larger file is still read, alone). */
  windowBytes: number;
  /** A file larger than this is not read: it is handed out in its place with `tooLarge` set to its size. */
  maxFileBytes?: number;
  /** Which (non-hidden) files to hand out; the others are only counted. */
  accept: (name: string) => boolean;
  /** Called once, after the first pass, with the number of non-hidden regular files and of accepted ones. */
  onListed?: (files: number, accepted: number) => void;
  signal?: AbortSignal;
}

/** Index of the first kept entry whose name is >= name (binary search). */
function lowerBound(kept: { name: string }[], name: string): number {
  let lo = 0;
  let hi = kept.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (kept[mid]!.name < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The accepted regular files of an archive with their bytes, sorted by name, in passes of at most
 * `windowBytes` (see the top of this file). Hidden paths are left out; when a name occurs twice, the later
 * entry wins, as when extracting. Throws CorpusError(SOURCE_INVALID) if the archive is damaged or changes
 * between passes.
 */
export async function* sortedTarFiles(
  path: string,
  opts: SortedTarOptions,
): AsyncGenerator<{ name: string; body: Buffer; tooLarge?: number }> {
  const { windowBytes, accept, signal } = opts;
  const maxFileBytes = opts.maxFileBytes ?? Infinity;
  let after: string | undefined;
  let signature: string | undefined;
  for (;;) {
    type Kept = { name: string; body: Buffer; tooLarge?: number };
    const kept: (Kept | undefined)[] = [];
    const live = kept as Kept[];
    let bytes = 0;
    // Every file named below `limit` that was seen in this pass is kept; files at or above it wait for a
    // later pass. It starts open and comes down to the first name that did not fit (or was pushed out).
    let limit: string | undefined;
    let files = 0;
    let accepted = 0;
    const hash = createHash('sha256');
    const keep = (k: Kept) => {
      const i = lowerBound(live, k.name);
      if (i < live.length && live[i]!.name === k.name) {
        bytes += k.body.length - live[i]!.body.length;
        live[i] = k;
      } else {
        live.splice(i, 0, k);
        bytes += k.body.length;
      }
      while (bytes > windowBytes && live.length > 1) {
        const out = live.pop()!;
        bytes -= out.body.length;
        limit = out.name;
      }
    };
    await scanTar(
      path,
      (f) => {
        hash.update(`${f.name}\0${f.size}\n`);
        if (isHiddenPath(f.name)) return false;
        files++;
        if (!accept(f.name)) return false;
        accepted++;
        if (after !== undefined && f.name <= after) return false; // handed out by an earlier pass
        if (limit !== undefined && f.name >= limit) return false; // a later pass
        const i = lowerBound(live, f.name);
        if (f.size > maxFileBytes) {
          keep({ name: f.name, body: EMPTY, tooLarge: f.size }); // handed out in order, never read
          return false;
        }
        if (i < live.length && live[i]!.name === f.name) return true; // a later entry of a kept name
        if (live.length > 0 && i === live.length && bytes + f.size > windowBytes) {
          limit = f.name; // it would be the first to go
          return false;
        }
        return true;
      },
      (f, body) => keep({ name: f.name, body }),
      signal,
    );
    const sig = hash.digest('hex');
    if (signature === undefined) {
      signature = sig;
      opts.onListed?.(files, accepted);
    } else if (sig !== signature) {
      throw new CorpusError('SOURCE_INVALID', `archive ${path} changed while being read`, { path });
    }
    if (kept.length === 0) return;
    const last = live[live.length - 1]!.name;
    for (let i = 0; i < kept.length; i++) {
      const k = kept[i]!;
      kept[i] = undefined; // let its bytes go once handed out
      yield k;
    }
    if (limit === undefined) return; // everything fitted: that was the last pass
    after = last;
  }
}
