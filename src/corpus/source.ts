/** What every corpus source shares: its kind, counters, and the one-document-id-once rule. */
import type { DocumentSource } from '../core/ports.ts';
import type { SourceItem } from '../core/types.ts';

export type SourceType = 'pmc-xml' | 'jsonl' | 'synthetic';
export const SOURCE_TYPES: readonly SourceType[] = ['pmc-xml', 'jsonl', 'synthetic'];

/** Counters of the current (or last) pass of items(); reset when items() starts again. */
export interface SourceStats {
  /** Files found (hidden ones not counted). For JSONL: non-empty lines. For synthetic: documents made. */
  files: number;
  /** Files or lines that were left alone: not *.xml / *.nxml (README.md, progress.json, ...), hidden, empty lines. */
  skipped: number;
  /** Documents yielded ({ ok: true }). */
  documents: number;
  /** Of those, documents with a non-empty abstract. */
  withAbstract: number;
  /** Items yielded as { ok: false }: malformed files or lines, unreadable files, duplicates. */
  failed: number;
  /** Of those, documents whose doc_id was already yielded from an earlier file or line. */
  duplicates: number;
  /** Of those, files or lines with bytes that are not valid in their encoding (not loaded, not replaced). */
  invalidEncoding: number;
}

export function emptyStats(): SourceStats {
  return {
    files: 0,
    skipped: 0,
    documents: 0,
    withAbstract: 0,
    failed: 0,
    duplicates: 0,
    invalidEncoding: 0,
  };
}

const ENCODING_FAILURES = new WeakSet<SourceItem>();

/** The failure of a file or line whose bytes are invalid in their encoding (counted in stats.invalidEncoding). */
export function encodingFailure(origin: string, reason: string): SourceItem {
  const item: SourceItem = { ok: false, origin, reason };
  ENCODING_FAILURES.add(item);
  return item;
}

/** A DocumentSource as this module makes them: with its type and counters. */
export interface CorpusSource extends DocumentSource {
  readonly type: SourceType;
  readonly stats: SourceStats;
}

/**
 * Count an item and enforce unique doc ids: the second document with an id already seen becomes
 * { ok: false } naming the first one's origin (the store keys on doc_id, and the first one wins).
 */
export class ItemTally {
  readonly #stats: SourceStats;
  readonly #seen = new Map<string, string>();

  constructor(stats: SourceStats) {
    this.#stats = stats;
  }

  admit(item: SourceItem): SourceItem {
    if (item.ok) {
      const origin = item.doc.origin ?? item.doc.docId;
      const first = this.#seen.get(item.doc.docId);
      if (first !== undefined) {
        this.#stats.failed++;
        this.#stats.duplicates++;
        return {
          ok: false,
          origin,
          reason: `duplicate doc_id ${item.doc.docId}: already read from ${first}`,
        };
      }
      this.#seen.set(item.doc.docId, origin);
      this.#stats.documents++;
      if (item.doc.abstract !== '') this.#stats.withAbstract++;
    } else {
      this.#stats.failed++;
      if (ENCODING_FAILURES.has(item)) this.#stats.invalidEncoding++;
    }
    return item;
  }
}
