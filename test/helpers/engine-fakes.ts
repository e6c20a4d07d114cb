/**
 * Test doubles for the engine's ports, for unit tests that run in milliseconds: an embedder that fails on
 * demand (transient error, out-of-memory, a document's own failure, slowness), a document source over an
 * array, and a store in memory.
 *
 * The store is the in-memory Store (src/store/memory.ts), which passes the same conformance suite as the SQL
 * stores: every test gets a fresh database of its own, and can inject a store fault (failNext).
 */
import { createHash } from 'node:crypto';
import { parseSpec } from '../../src/api/validate.ts';
import type { DatasetStateSpec } from '../../src/api/schema.ts';
import type { DocumentSource, Embedder, EmbedInput } from '../../src/core/ports.ts';
import type { Store } from '../../src/core/store-port.ts';
import type { DocumentRecord, EmbedOutcome } from '../../src/core/types.ts';
import { inProcessBatchRunner } from '../../src/heal/batch-runner.ts';
import type { EngineEvent } from '../../src/heal/events.ts';
import type { EngineDeps } from '../../src/heal/reconcile.ts';
import { backoffPolicyOf } from '../../src/heal/retry.ts';
import { sleep } from '../../src/core/timers.ts';
import { contentHash } from '../../src/store/index.ts';
import { MemoryStore } from '../../src/store/memory.ts';

export const FAKE_DIM = 4;

export interface FakeEmbedderOptions {
  dimension?: number;
  /** Calls (1-based) that throw a transient error ("ECONNRESET"-like, retried as is). */
  transientOnCalls?: number[];
  /** Every call with more documents than this throws out-of-memory (the batch is split). */
  oomAbove?: number;
  /** Documents that fail for their own reason ({ ok: false }). */
  badDocs?: string[];
  /** Every call waits this long first (cancellable). */
  delayMs?: number;
  /** Changes the model: another fingerprint. */
  variant?: string;
}

export interface FakeEmbedder extends Embedder {
  /** The document ids of every call, in order (also the calls that failed). */
  readonly calls: string[][];
  closed: boolean;
}

/** Tokens are the words of the text (at most 6); vectors are derived from the word, deterministic. */
export function fakeEmbedder(o: FakeEmbedderOptions = {}): FakeEmbedder {
  const dimension = o.dimension ?? FAKE_DIM;
  const calls: string[][] = [];
  const fingerprint = createHash('sha256')
    .update(`fake-embedder:${dimension}:${o.variant ?? ''}`)
    .digest('hex');
  const embedder: FakeEmbedder = {
    modelId: 'fake',
    fingerprint,
    dimension,
    synthetic: true,
    calls,
    closed: false,
    async embed(docs: EmbedInput[], signal?: AbortSignal): Promise<EmbedOutcome[]> {
      calls.push(docs.map((d) => d.docId));
      const n = calls.length;
      if (o.delayMs) await sleep(o.delayMs, signal);
      if (o.transientOnCalls?.includes(n))
        throw Object.assign(new Error('connection reset by peer'), { code: 'ECONNRESET' });
      if (o.oomAbove !== undefined && docs.length > o.oomAbove)
        throw new Error(`failed to allocate memory for ${docs.length} documents (out of memory)`);
      return docs.map((d): EmbedOutcome => {
        if (o.badDocs?.includes(d.docId))
          return { ok: false, docId: d.docId, reason: 'tokenizer error: unmappable input' };
        const tokens = d.text.split(/\s+/).filter(Boolean).slice(0, 6);
        const vectors = new Float32Array(tokens.length * dimension);
        tokens.forEach((t, i) => {
          for (let j = 0; j < dimension; j++)
            vectors[i * dimension + j] = ((t.charCodeAt(0) + j) % 7) / 7 + 0.1;
        });
        return { ok: true, docId: d.docId, tokens, vectors, dimension };
      });
    },
    async close() {
      embedder.closed = true;
    },
  };
  return embedder;
}

export function fakeDocs(n: number, prefix = 'D'): DocumentRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    docId: `${prefix}${String(i + 1).padStart(3, '0')}`,
    title: `Document ${i + 1}`,
    abstract: `alpha beta gamma document number ${i + 1} of the fake corpus`,
    textContent: '',
    authors: [],
    keywords: [],
    pubDate: '2024-01-01',
    origin: `fake.jsonl:${i + 1}`,
  }));
}

export function arraySource(docs: DocumentRecord[]): DocumentSource {
  return {
    description: 'an array of fake documents',
    synthetic: true,
    async *items() {
      for (const doc of docs) yield { ok: true as const, doc };
    },
  };
}

/** A spec for the fake model and corpus; `extra` is merged into the raw spec before validation. */
export function fakeSpec(docCount: number, extra: Record<string, unknown> = {}): DatasetStateSpec {
  return parseSpec(
    {
      docCount,
      source: { type: 'synthetic' },
      database: { dialect: 'sqlite' },
      embedding: { dimension: FAKE_DIM, modelId: 'fake' },
      ...extra,
    },
    'spec',
  );
}

/** A fresh, empty store of its own. */
export function memoryStore(): MemoryStore {
  return new MemoryStore();
}

/** Loads documents directly (as a previous pass would have). */
export async function seedDocuments(store: Store, docs: DocumentRecord[]): Promise<void> {
  await store.createSchema({ dimension: FAKE_DIM });
  await store.upsertDocuments(docs.map((d) => ({ ...d, contentHash: contentHash(d.abstract) })));
}

/** EngineDeps over the fakes, with every engine event recorded. */
export function fakeDeps(
  spec: DatasetStateSpec,
  store: Store,
  embedder: FakeEmbedder,
  docs: DocumentRecord[],
): { deps: EngineDeps; events: EngineEvent[] } {
  const events: EngineEvent[] = [];
  const deps: EngineDeps = {
    store,
    onEvent: (e) => events.push(e),
    openSource: async () => arraySource(docs),
    modelFingerprint: async () => embedder.fingerprint,
    openEmbedder: async () => embedder,
    openBatchRunner: async () =>
      inProcessBatchRunner({
        store,
        embedder,
        backoff: backoffPolicyOf(spec),
        concurrency: spec.healing.concurrency,
      }),
  };
  return { deps, events };
}
