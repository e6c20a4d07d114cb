/**
 * Loads missing documents from the source, in the source's order, until enough have an abstract; and
 * re-reads documents whose stored abstract is a placeholder. One transaction per chunk of documents.
 *
 * Poison records: when the database rejects a chunk (an error that is not transient), the chunk is split in
 * halves and each half written again, down to the single documents at fault. Those are reported with their
 * origin (file:line, or the archive member) and the database's reason, and the load goes on to take other
 * documents in their place. A fault that is not in the data (a read-only file, a missing table) rejects every
 * document alike: when every document of a chunk of two or more is rejected, the error is thrown as it came.
 */
import type { DocumentSource } from '../core/ports.ts';
import type { DocumentWrite, Store } from '../core/store-port.ts';
import type { EngineListener } from './events.ts';
import { contentHash } from '../store/content-hash.ts';
import { redactSecrets } from '../store/url.ts';
import { isPlaceholderText } from '../core/selection.ts';

export interface LoadRequest {
  /** How many more documents with a non-empty abstract are needed. */
  needed: number;
  /** Documents to re-read from the source (their stored abstract is a placeholder). */
  reloadDocIds: readonly string[];
  chunkSize?: number;
  signal?: AbortSignal;
  onEvent?: EngineListener;
}

/** A document the database would not take. */
export interface RejectedDocument {
  docId: string;
  /** Where it came from in the source (file:line, archive member), or the doc id when unknown. */
  origin: string;
  /** The database's error message (credentials redacted). */
  reason: string;
}

export interface LoadResult {
  /** New documents written (with or without abstract). */
  loaded: number;
  /** New documents with a non-empty abstract. */
  loadedWithAbstract: number;
  /** Placeholder documents replaced by a real abstract from the source. */
  reloaded: number;
  /** Placeholder documents the source could not improve. */
  notReloaded: string[];
  /**
   * Source items that were not loaded: files or lines the source could not read, and documents the database
   * rejected (also listed in `rejected`), each with its origin and reason.
   */
  skipped: { origin: string; reason: string }[];
  /** Documents the database rejected (narrowed down from the rejected chunk). */
  rejected: RejectedDocument[];
}

function toWrite(doc: DocumentWrite | Omit<DocumentWrite, 'contentHash'>): DocumentWrite {
  return { ...doc, abstract: doc.abstract.trim(), contentHash: contentHash(doc.abstract.trim()) };
}

function messageOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return redactSecrets(m.split('\n')[0] ?? m);
}

/**
 * Writes `docs` in one transaction, or, when the database rejects them, in halves down to single documents.
 * Returns the documents that could not be written alone, with the database's error for each.
 */
export async function writeNarrowingDown(
  store: Store,
  docs: readonly DocumentWrite[],
  signal?: AbortSignal,
): Promise<{ doc: DocumentWrite; error: unknown }[]> {
  const rejected: { doc: DocumentWrite; error: unknown }[] = [];
  let first: unknown;
  const attempt = async (part: readonly DocumentWrite[]): Promise<void> => {
    signal?.throwIfAborted();
    try {
      await store.upsertDocuments(part);
    } catch (e) {
      if (store.isTransient(e)) throw e; // the pass is retried as a whole
      first ??= e;
      if (part.length === 1) {
        rejected.push({ doc: part[0]!, error: e });
        return;
      }
      const half = Math.ceil(part.length / 2);
      await attempt(part.slice(0, half));
      await attempt(part.slice(half));
    }
  };
  await attempt(docs);
  if (docs.length > 1 && rejected.length === docs.length) throw first;
  return rejected;
}

export async function loadDocuments(
  store: Store,
  source: DocumentSource,
  req: LoadRequest,
): Promise<LoadResult> {
  const chunkSize = req.chunkSize ?? 200;
  const reload = new Set(req.reloadDocIds);
  const result: LoadResult = {
    loaded: 0,
    loadedWithAbstract: 0,
    reloaded: 0,
    notReloaded: [],
    skipped: [],
    rejected: [],
  };
  let needed = req.needed;
  let pending: Omit<DocumentWrite, 'contentHash'>[] = [];
  const seen = new Set<string>();
  /** Documents read but not needed (yet), kept back in case documents of their chunk are rejected. */
  const spare: Omit<DocumentWrite, 'contentHash'>[] = [];

  const skip = (origin: string, reason: string) => {
    result.skipped.push({ origin, reason });
    req.onEvent?.({ type: 'source-skipped', origin, reason });
  };

  const flush = async () => {
    if (!pending.length) return;
    const existing = await store.existingDocIds(pending.map((d) => d.docId));
    const writes: DocumentWrite[] = [];
    const reloading = new Set<string>();
    for (const doc of pending) {
      if (reload.has(doc.docId)) {
        reload.delete(doc.docId);
        if (!isPlaceholderText(doc.abstract)) {
          writes.push(toWrite(doc));
          reloading.add(doc.docId);
        } else result.notReloaded.push(doc.docId);
        continue;
      }
      if (existing.has(doc.docId)) continue;
      if (needed <= 0) {
        if (spare.length < chunkSize) spare.push(doc); // wanted if a document of this chunk is rejected
        continue;
      }
      writes.push(toWrite(doc));
      if (doc.abstract.trim().length > 0) needed--;
    }
    pending = [];
    const rejected = await writeNarrowingDown(store, writes, req.signal);
    const bad = new Set(rejected.map((r) => r.doc.docId));
    for (const w of writes) {
      const hasAbstract = w.abstract.length > 0;
      if (bad.has(w.docId)) {
        // Another document takes its place (a rejected reload keeps its placeholder).
        if (reloading.has(w.docId)) result.notReloaded.push(w.docId);
        else if (hasAbstract) needed++;
        continue;
      }
      if (reloading.has(w.docId)) result.reloaded++;
      else {
        result.loaded++;
        if (hasAbstract) result.loadedWithAbstract++;
      }
    }
    if (needed > 0) pending.push(...spare.splice(0)); // they take the rejected documents' places
    for (const { doc, error } of rejected) {
      const origin = doc.origin ?? doc.docId;
      const reason = messageOf(error);
      result.rejected.push({ docId: doc.docId, origin, reason });
      skip(origin, `the database rejected document ${doc.docId}: ${reason}`);
    }
    req.onEvent?.({
      type: 'load-progress',
      loaded: result.loadedWithAbstract,
      needed: req.needed,
      reloaded: result.reloaded,
    });
  };

  if (needed > 0 || reload.size > 0) {
    for await (const item of source.items(req.signal)) {
      if (req.signal?.aborted) break;
      if (!item.ok) {
        skip(item.origin, item.reason);
        continue;
      }
      // A source that repeats an id: the first occurrence wins, as in a fresh load.
      if (seen.has(item.doc.docId)) continue;
      seen.add(item.doc.docId);
      pending.push(item.doc);
      if (pending.length >= chunkSize) await flush();
      if (needed <= 0 && reload.size === 0) break;
    }
    // What is left, and documents held back that take the place of rejected ones.
    do await flush();
    while (needed > 0 && pending.length > 0);
  }
  result.notReloaded.push(...reload);
  return result;
}
