/**
 * The pmc-xml source: PMC JATS articles from a directory tree, a tar archive (.tar.gz, .tgz, .tar) or a
 * single .xml/.nxml file, in the order of their paths (see files.ts). Only *.xml and *.nxml files are
 * articles; everything else (README.md, progress.json, ...) is counted in stats.skipped and left alone.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SourceItem } from '../core/types.ts';
import { describeError } from './errors.ts';
import { listDirectory, sortedTarFiles } from './files.ts';
import { parseJatsFile } from './jats.ts';
import { emptyStats, ItemTally, type CorpusSource, type SourceStats } from './source.ts';

/**
 * Default most raw XML held per archive pass (see files.ts): the 1,536-article corpus (224 MB of XML) is
 * read in two passes; a 50k-article one (~7 GB of XML) in ~55, each a gunzip of the whole archive (~0.5 s per 40 MB compressed):
 * for archives that large, extract them and point the source at the directory.
 */
export const DEFAULT_WINDOW_BYTES = 128 * 1024 * 1024;
/** Largest XML file read (bytes); a larger one is that file's failure, and is never read into memory. */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Files read ahead of the parser in a directory. */
const READ_AHEAD = 8;

export function isArticleFile(rel: string): boolean {
  return /\.n?xml$/i.test(rel);
}

export type PmcLayout = 'directory' | 'archive' | 'file';

export interface PmcXmlOptions {
  /** Absolute path of the directory, archive or file. */
  path: string;
  layout: PmcLayout;
  windowBytes?: number;
  /** Largest file read (default DEFAULT_MAX_FILE_BYTES). */
  maxFileBytes?: number;
}

class TooLarge {
  readonly size: number;
  constructor(size: number) {
    this.size = size;
  }
}

export class PmcXmlSource implements CorpusSource {
  readonly type = 'pmc-xml' as const;
  readonly synthetic = false;
  readonly description: string;
  readonly path: string;
  readonly layout: PmcLayout;
  readonly windowBytes: number;
  readonly maxFileBytes: number;
  #stats: SourceStats = emptyStats();

  constructor(opts: PmcXmlOptions) {
    this.path = opts.path;
    this.layout = opts.layout;
    this.windowBytes = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    const what = { directory: 'directory', archive: 'archive', file: 'file' }[opts.layout];
    this.description = `PMC JATS XML ${what} ${opts.path}`;
  }

  get stats(): SourceStats {
    return this.#stats;
  }

  #tooLarge(origin: string, size: number): SourceItem {
    return {
      ok: false,
      origin,
      reason: `file of ${size} bytes is larger than the limit of ${this.maxFileBytes} bytes (not read)`,
    };
  }

  /** A file's bytes, unless it is larger than the limit. */
  async #read(path: string, signal?: AbortSignal): Promise<Buffer | TooLarge> {
    const { size } = await stat(path);
    if (size > this.maxFileBytes) return new TooLarge(size);
    return readFile(path, signal === undefined ? {} : { signal });
  }

  async *items(signal?: AbortSignal): AsyncGenerator<SourceItem> {
    this.#stats = emptyStats();
    const tally = new ItemTally(this.#stats);
    const raw =
      this.layout === 'directory'
        ? this.#fromDirectory(signal)
        : this.layout === 'archive'
          ? this.#fromArchive(signal)
          : this.#fromFile(signal);
    for await (const item of raw) {
      signal?.throwIfAborted();
      yield tally.admit(item);
    }
  }

  async *#fromFile(signal?: AbortSignal): AsyncGenerator<SourceItem> {
    const origin = basename(this.path);
    this.#stats.files = 1;
    let bytes: Buffer | TooLarge;
    try {
      bytes = await this.#read(this.path, signal);
    } catch (e) {
      signal?.throwIfAborted();
      yield { ok: false, origin, reason: `cannot read file: ${describeError(e)}` };
      return;
    }
    if (bytes instanceof TooLarge) yield this.#tooLarge(origin, bytes.size);
    else yield* parseJatsFile(bytes, origin);
  }

  async *#fromDirectory(signal?: AbortSignal): AsyncGenerator<SourceItem> {
    const all = await listDirectory(this.path, signal);
    const files = all.filter((e) => e.error === undefined);
    const articles = all.filter((e) => e.error !== undefined || isArticleFile(e.rel));
    this.#stats.files = files.length;
    this.#stats.skipped = all.length - articles.length;
    // Keep a few reads in flight so the disk works while we parse.
    const pending: Promise<Buffer | TooLarge | Error>[] = [];
    let next = 0;
    const read = (rel: string): Promise<Buffer | TooLarge | Error> =>
      this.#read(join(this.path, rel), signal).catch((e: unknown) =>
        e instanceof Error ? e : new Error(String(e)),
      );
    for (const entry of articles) {
      if (entry.error !== undefined) {
        yield { ok: false, origin: entry.rel, reason: entry.error };
        continue;
      }
      while (pending.length < READ_AHEAD && next < articles.length) {
        const e = articles[next++]!;
        if (e.error === undefined) pending.push(read(e.rel));
      }
      const bytes = await pending.shift()!;
      signal?.throwIfAborted();
      if (bytes instanceof Error) {
        yield { ok: false, origin: entry.rel, reason: `cannot read file: ${describeError(bytes)}` };
        continue;
      }
      if (bytes instanceof TooLarge) yield this.#tooLarge(entry.rel, bytes.size);
      else yield* parseJatsFile(bytes, entry.rel);
    }
  }

  async *#fromArchive(signal?: AbortSignal): AsyncGenerator<SourceItem> {
    const files = sortedTarFiles(this.path, {
      windowBytes: this.windowBytes,
      maxFileBytes: this.maxFileBytes,
      accept: isArticleFile,
      onListed: (all, articles) => {
        this.#stats.files = all;
        this.#stats.skipped = all - articles;
      },
      ...(signal === undefined ? {} : { signal }),
    });
    for await (const { name, body, tooLarge } of files)
      if (tooLarge !== undefined) yield this.#tooLarge(name, tooLarge);
      else yield* parseJatsFile(body, name);
  }
}
