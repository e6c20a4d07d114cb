/**
 * Loads missing documents from the source, in the source's order, until enough have an abstract; and
 * re-reads documents whose stored abstract is a placeholder. One transaction per chunk of documents.
 */
import type { DocumentSource } from '../core/ports.ts';
import type { DocumentWrite, Store } from '../core/store-port.ts';
import type { EngineListener } from './events.ts';
import { contentHash } from '../store/content-hash.ts';
import { isPlaceholderAbstract } from '../core/selection.ts';

export interface LoadRequest {
  /** How many more documents with a non-empty abstract are needed. */
  needed: number;
  /** Documents to re-read from the source (their stored abstract is a placeholder). */
  reloadDocIds: readonly string[];
  chunkSize?: number;
  signal?: AbortSignal;
  onEvent?: EngineListener;
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
  /** Files the source could not read: reported, skipped. */
  skipped: { origin: string; reason: string }[];
}

function toWrite(doc: DocumentWrite | Omit<DocumentWrite, 'contentHash'>): DocumentWrite {
  return { ...doc, abstract: doc.abstract.trim(), contentHash: contentHash(doc.abstract.trim()) };
}

function placeholder(abstract: string): boolean {
  const t = abstract.trim();
  return isPlaceholderAbstract({ abstractLength: t.length, shortAbstract: t.length < 64 ? t : null });
}

export async function loadDocuments(
  store: Store,
  source: DocumentSource,
  req: LoadRequest,
): Promise<LoadResult> {
  const chunkSize = req.chunkSize ?? 200;
  const reload = new Set(req.reloadDocIds);
  const result: LoadResult = { loaded: 0, loadedWithAbstract: 0, reloaded: 0, notReloaded: [], skipped: [] };
  let needed = req.needed;
  let pending: Omit<DocumentWrite, 'contentHash'>[] = [];
  const seen = new Set<string>();

  const flush = async () => {
    if (!pending.length) return;
    const existing = await store.existingDocIds(pending.map((d) => d.docId));
    const writes: DocumentWrite[] = [];
    for (const doc of pending) {
      if (reload.has(doc.docId)) {
        reload.delete(doc.docId);
        if (!placeholder(doc.abstract)) {
          writes.push(toWrite(doc));
          result.reloaded++;
        } else result.notReloaded.push(doc.docId);
        continue;
      }
      if (existing.has(doc.docId) || needed <= 0) continue;
      writes.push(toWrite(doc));
      result.loaded++;
      if (doc.abstract.trim().length > 0) {
        result.loadedWithAbstract++;
        needed--;
      }
    }
    pending = [];
    await store.upsertDocuments(writes);
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
        result.skipped.push({ origin: item.origin, reason: item.reason });
        req.onEvent?.({ type: 'source-skipped', origin: item.origin, reason: item.reason });
        continue;
      }
      // A source that repeats an id: the first occurrence wins, as in a fresh load.
      if (seen.has(item.doc.docId)) continue;
      seen.add(item.doc.docId);
      pending.push(item.doc);
      if (pending.length >= chunkSize) await flush();
      if (needed <= 0 && reload.size === 0) break;
    }
    await flush();
  }
  result.notReloaded.push(...reload);
  return result;
}
