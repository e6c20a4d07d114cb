/**
 * The target set: which documents a DatasetState is about. Always deterministic for a given database
 * content and selection, so every pass (and every controller replica) agrees on it.
 */
import { createHash } from 'node:crypto';
import type { Candidate } from './store-port.ts';

export interface Selection {
  orderBy: 'doc_id' | 'newest' | 'random';
  seed: number;
}

/** Text of an abstract that stands in for a missing one ("N/A", "No abstract available", "[Abstract]", ...). */
const PLACEHOLDER =
  /^(?:n\/?a|none|null|nil|tbd|todo|-+|\.+|\?+|\[?(?:no )?abstract(?: (?:not )?(?:available|provided|unavailable))?\.?\]?|no abstract(?: (?:is )?available)?\.?|not available\.?|abstract not (?:available|provided)\.?|lorem ipsum.*)$/i;

/** Abstracts shorter than this (in characters, trimmed) are placeholders too. */
export const MIN_ABSTRACT_CHARS = 20;

export function isPlaceholderAbstract(c: Pick<Candidate, 'abstractLength' | 'shortAbstract'>): boolean {
  if (c.abstractLength < MIN_ABSTRACT_CHARS) return true;
  return c.shortAbstract !== null && PLACEHOLDER.test(c.shortAbstract.trim());
}

/** isPlaceholderAbstract of an abstract's whole text (as a source gives it). */
export function isPlaceholderText(abstract: string): boolean {
  const t = abstract.trim();
  return isPlaceholderAbstract({ abstractLength: t.length, shortAbstract: t.length < 64 ? t : null });
}

function randomKey(seed: number, docId: string): string {
  return createHash('sha256').update(`${seed}:${docId}`).digest('hex');
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders the candidates by the selection and returns the first n. Does not mutate its input. */
export function selectTarget(candidates: readonly Candidate[], selection: Selection, n: number): Candidate[] {
  const sorted = [...candidates];
  switch (selection.orderBy) {
    case 'doc_id':
      sorted.sort((a, b) => compareIds(a.docId, b.docId));
      break;
    case 'newest':
      // Newest publication first; undated documents last; ties by doc_id.
      sorted.sort((a, b) => {
        if (a.pubDate !== b.pubDate) {
          if (a.pubDate === null) return 1;
          if (b.pubDate === null) return -1;
          return a.pubDate < b.pubDate ? 1 : -1;
        }
        return compareIds(a.docId, b.docId);
      });
      break;
    case 'random': {
      const keys = new Map(sorted.map((c) => [c.docId, randomKey(selection.seed, c.docId)]));
      sorted.sort(
        (a, b) => compareIds(keys.get(a.docId)!, keys.get(b.docId)!) || compareIds(a.docId, b.docId),
      );
      break;
    }
  }
  return sorted.slice(0, n);
}
