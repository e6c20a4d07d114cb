/**
 * Files of a corpus in a deterministic order: a directory tree walked recursively, or a tar archive
 * (gzip-compressed or not), both sorted by their path inside the source (plain code-unit order of the
 * "/"-separated relative path, the same for a directory and for the archive made from it).
 *
 * A gzip stream cannot be read out of order, so an archive is read in passes: the first lists its entries
 * (and so checks the whole archive before anything is yielded); then each further pass reads one window of
 * the sorted list, at most `windowBytes` of uncompressed XML, and hands those entries back in sorted order.
 * Memory holds the sorted list of names plus one window, whatever the size of the archive.
 */
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

/**
 * Every regular file under `root` (symbolic links to files included, links to directories not followed,
 * hidden files and directories left out), as "/"-separated paths relative to root, sorted.
 */
export async function listDirectory(root: string, signal?: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    signal?.throwIfAborted();
    let entries;
    try {
      entries = await readdir(rel === '' ? root : join(root, rel), { withFileTypes: true });
    } catch (e) {
      if (rel === '') throw new CorpusError('SOURCE_UNREADABLE', `cannot read directory ${root}: ${describeError(e)}`, { path: root, cause: e });
      throw new CorpusError('SOURCE_UNREADABLE', `cannot read directory ${join(root, rel)}: ${describeError(e)}`, { path: root, cause: e });
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(child);
      else if (e.isFile()) out.push(child);
      else if (e.isSymbolicLink()) {
        const s = await stat(join(root, child)).catch(() => undefined);
        if (s?.isFile()) out.push(child);
      }
    }
  };
  await walk('');
  return out.sort(comparePaths);
}

/** One regular-file entry of an archive. */
export interface TarFile {
  /** Normalized path inside the archive ("./a/b.xml" -> "a/b.xml"). */
  name: string;
  size: number;
  /** Position among all entries of the archive: tells apart two entries of the same name (the last wins). */
  index: number;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

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
  onFile: (f: TarFile, body: Buffer | undefined) => void,
  signal?: AbortSignal,
): Promise<void> {
  let index = -1;
  let failure: unknown;
  const parser = new Parser({ strict: true });
  parser.on('entry', (entry: ReadEntry) => {
    index++;
    const f: TarFile = { name: normalizeEntryName(entry.path), size: entry.size, index };
    if (!FILE_TYPES.has(entry.type) || !want(f)) {
      if (FILE_TYPES.has(entry.type)) onFile(f, undefined);
      entry.resume();
      return;
    }
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => {
      try {
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
      if (!parser.write(chunk as Buffer)) await Promise.race([new Promise<void>((r) => parser.once('drain', () => r())), done]);
    }
    parser.end();
    await done;
  } catch (e) {
    input.destroy();
    if (signal?.aborted) throw signal.reason;
    if (failure !== undefined) throw failure;
    if (e instanceof CorpusError) throw e;
    throw new CorpusError('SOURCE_INVALID', `cannot read archive ${path}: ${describeError(e)}`, { path, cause: e });
  }
  if (failure !== undefined) throw failure;
}

/** All regular files of an archive, one per name (the last entry of a name wins), sorted by name. */
export async function listTar(path: string, signal?: AbortSignal): Promise<TarFile[]> {
  const byName = new Map<string, TarFile>();
  await scanTar(
    path,
    () => false,
    (f) => {
      byName.set(f.name, f);
    },
    signal,
  );
  return [...byName.values()].sort((a, b) => comparePaths(a.name, b.name));
}

/** Consecutive slices of `files` holding at most `windowBytes` in total (or one file, if that is larger). */
export function windows(files: TarFile[], windowBytes: number): TarFile[][] {
  const out: TarFile[][] = [];
  let cur: TarFile[] = [];
  let bytes = 0;
  for (const f of files) {
    if (cur.length > 0 && bytes + f.size > windowBytes) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += f.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * Read the given files of an archive (a window of listTar's result) in one pass; `handle` turns each
 * file's bytes into results as it arrives (so the raw bytes are not kept). Returns the results in the
 * order of `files`. Throws CorpusError(SOURCE_INVALID) if the archive changed since it was listed.
 */
export async function readTarFiles<T>(
  path: string,
  files: TarFile[],
  handle: (f: TarFile, body: Buffer) => T,
  signal?: AbortSignal,
): Promise<T[]> {
  const pos = new Map<number, number>();
  files.forEach((f, i) => pos.set(f.index, i));
  const results = new Array<T | undefined>(files.length);
  let found = 0;
  await scanTar(
    path,
    (f) => pos.has(f.index),
    (f, body) => {
      const i = pos.get(f.index);
      if (i === undefined || body === undefined) return;
      const expected = files[i]!;
      if (expected.name !== f.name || expected.size !== f.size) {
        throw new CorpusError(
          'SOURCE_INVALID',
          `archive ${path} changed while being read (entry ${f.index} is now ${f.name}, ${f.size} bytes; expected ${expected.name}, ${expected.size} bytes)`,
          { path },
        );
      }
      results[i] = handle(f, body);
      found++;
    },
    signal,
  );
  if (found !== files.length) {
    throw new CorpusError('SOURCE_INVALID', `archive ${path} changed while being read (${files.length - found} entries missing)`, { path });
  }
  return results as T[];
}
