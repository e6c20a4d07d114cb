/**
 * The jsonl source: one JSON object per line (.jsonl, .ndjson, optionally gzip-compressed), in file order.
 * Fields (first one present wins):
 *   doc_id | docId | id | pmcid        string or number, required
 *   title                              string
 *   abstract                           string ("" or absent: a document without an abstract)
 *   text_content | textContent | text | body   string
 *   authors                            array of strings, or one string with names separated by ";"
 *   keywords                           array of strings, or one string separated by ";" or ","
 *   pub_date | pubDate | date | year   "yyyy[-mm[-dd]]..." or a year number; anything else is left out
 * A line that is not a JSON object, has no id, has a field of the wrong type, is not valid UTF-8, holds an
 * unpaired surrogate escape, is longer than maxLineBytes (default 64 MiB; read to its end without keeping it) or
 * fails in any other way is yielded as { ok: false, origin: "file:line", reason } and reading goes on. Empty
 * lines are skipped.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { DocumentRecord, SourceItem } from '../core/types.ts';
import { CorpusError, describeError } from './errors.ts';
import { splitLines } from './lines.ts';
import { emptyStats, encodingFailure, ItemTally, type CorpusSource, type SourceStats } from './source.ts';
import { decodeStrict, EncodingError, isoDate, normalizeSpace, parseIsoLike, splitList } from './text.ts';

/** Longest line read (bytes); a longer one is that line's failure. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Whitespace normalized within lines; paragraph breaks kept (at most one blank line in a row). */
export function normalizeBlock(s: string): string {
  const lines = s.split(/\r\n|\r|\n/).map(normalizeSpace);
  const out: string[] = [];
  for (const l of lines) {
    if (l === '' && (out.length === 0 || out[out.length - 1] === '')) continue;
    out.push(l);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.join('\n');
}

class LineError extends Error {}

function pick(obj: Record<string, unknown>, names: string[]): [string, unknown] | undefined {
  for (const n of names) if (obj[n] !== undefined && obj[n] !== null) return [n, obj[n]];
  return undefined;
}

function stringField(obj: Record<string, unknown>, names: string[]): string {
  const f = pick(obj, names);
  if (f === undefined) return '';
  if (typeof f[1] !== 'string')
    throw new LineError(`field "${f[0]}" must be a string, not ${typeName(f[1])}`);
  return wellFormed(f[1], f[0]);
}

function listField(obj: Record<string, unknown>, names: string[], separators: RegExp): string[] {
  const f = pick(obj, names);
  if (f === undefined) return [];
  const [name, v] = f;
  if (typeof v === 'string') return splitList(wellFormed(v, name), separators);
  if (Array.isArray(v)) {
    return v
      .map((x, i) => {
        if (typeof x !== 'string')
          throw new LineError(`field "${name}"[${i}] must be a string, not ${typeName(x)}`);
        return normalizeSpace(wellFormed(x, `${name}[${i}]`));
      })
      .filter((x) => x !== '');
  }
  throw new LineError(`field "${name}" must be an array of strings or a string, not ${typeName(v)}`);
}

/** JSON's \\uD800-\\uDFFF escapes can make strings that no UTF-8 database column holds (they would be replaced). */
function wellFormed(s: string, field: string): string {
  if (!s.isWellFormed())
    throw new LineError(
      `field "${field}" holds an unpaired surrogate (a \\uD800-\\uDFFF escape): not valid Unicode`,
    );
  return s;
}

function typeName(v: unknown): string {
  return v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'object'
        ? 'an object'
        : `a ${typeof v}`;
}

/** One line of a JSONL file as a source item; whatever goes wrong with it is that line's failure. */
export function parseJsonlLine(line: string, origin: string): SourceItem {
  try {
    return parseLine(line, origin);
  } catch (e) {
    return { ok: false, origin, reason: `cannot parse: ${describeError(e)}` };
  }
}

function parseLine(line: string, origin: string): SourceItem {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return { ok: false, origin, reason: `invalid JSON: ${describeError(e)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, origin, reason: `not a JSON object but ${typeName(value)}` };
  }
  const obj = value as Record<string, unknown>;
  try {
    const idField = pick(obj, ['doc_id', 'docId', 'id', 'pmcid']);
    const rawId = idField?.[1];
    const docId =
      typeof rawId === 'string'
        ? normalizeSpace(wellFormed(rawId, idField![0]))
        : typeof rawId === 'number' && Number.isFinite(rawId)
          ? String(rawId)
          : '';
    if (docId === '') {
      throw new LineError(
        idField === undefined
          ? 'no doc_id (or id)'
          : `field "${idField[0]}" must be a non-empty string or a number`,
      );
    }
    const doc: DocumentRecord = {
      docId,
      title: normalizeSpace(stringField(obj, ['title'])),
      abstract: normalizeBlock(stringField(obj, ['abstract'])),
      textContent: normalizeBlock(stringField(obj, ['text_content', 'textContent', 'text', 'body'])),
      authors: listField(obj, ['authors'], /;/),
      keywords: listField(obj, ['keywords'], /[;,]/),
      origin,
    };
    const d = pick(obj, ['pub_date', 'pubDate', 'date', 'year'])?.[1];
    const date = typeof d === 'string' ? parseIsoLike(d) : typeof d === 'number' ? isoDate(d) : undefined;
    if (date !== undefined) doc.pubDate = date;
    return { ok: true, doc };
  } catch (e) {
    if (e instanceof LineError) return { ok: false, origin, reason: e.message };
    throw e;
  }
}

export interface JsonlOptions {
  /** Longest line kept, in bytes (default DEFAULT_MAX_LINE_BYTES). */
  maxLineBytes?: number;
}

export class JsonlSource implements CorpusSource {
  readonly type = 'jsonl' as const;
  readonly synthetic = false;
  readonly description: string;
  readonly path: string;
  readonly gzip: boolean;
  readonly maxLineBytes: number;
  #stats: SourceStats = emptyStats();

  constructor(path: string, options: JsonlOptions = {}) {
    this.path = path;
    this.gzip = /\.gz$/i.test(path);
    this.description = `JSONL file ${path}`;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  get stats(): SourceStats {
    return this.#stats;
  }

  /** One line's bytes as an item: strict UTF-8, then JSON. */
  #item(bytes: Buffer, origin: string, first: boolean): SourceItem | undefined {
    let line: string;
    try {
      line = decodeStrict(bytes);
    } catch (e) {
      if (e instanceof EncodingError) return encodingFailure(origin, e.message);
      return { ok: false, origin, reason: `cannot decode: ${describeError(e)}` };
    }
    if (first) line = line.replace(/^\uFEFF/, '');
    if (line.trim() === '') return undefined;
    return parseJsonlLine(line, origin);
  }

  async *items(signal?: AbortSignal): AsyncGenerator<SourceItem> {
    this.#stats = emptyStats();
    const tally = new ItemTally(this.#stats);
    const name = basename(this.path);
    const bytes = new PassThrough();
    const file = createReadStream(this.path, signal === undefined ? {} : { signal });
    const piping = this.gzip ? pipeline(file, createGunzip(), bytes) : pipeline(file, bytes);
    let failure: unknown;
    piping.catch((e: unknown) => {
      failure ??= e;
    });
    let n = 0;
    let complete = false;
    try {
      for await (const line of splitLines(bytes, this.maxLineBytes)) {
        n = line.n;
        signal?.throwIfAborted();
        const origin = `${name}:${n}`;
        let item: SourceItem | undefined;
        if ('tooLong' in line) {
          item = {
            ok: false,
            origin,
            reason: `line of ${line.tooLong} bytes is longer than the limit of ${this.maxLineBytes} bytes (not read into memory)`,
          };
        } else item = this.#item(line.bytes, origin, n === 1);
        if (item === undefined) {
          this.#stats.skipped++;
          continue;
        }
        this.#stats.files++;
        yield tally.admit(item);
      }
      complete = true;
    } catch (e) {
      failure ??= e; // the input stream's error
    } finally {
      if (!complete) bytes.destroy(); // the consumer stopped early (or reading failed): close the file
    }
    await piping.catch(() => undefined);
    signal?.throwIfAborted();
    if (failure !== undefined) {
      throw new CorpusError(
        'SOURCE_INVALID',
        `cannot read ${this.path} past line ${n}: ${describeError(failure)}`,
        {
          path: this.path,
          cause: failure,
        },
      );
    }
  }
}
