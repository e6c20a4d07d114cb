/**
 * The batch executor (src/heal/embed-batches.ts) against a fake embedder that fails on demand and the
 * in-memory store: retry with backoff, the split of a batch, per-document failures, cancellation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../src/core/store-port.ts';
import { embedBatches, type EmbedBatchesOptions } from '../../src/heal/embed-batches.ts';
import type { EngineEvent } from '../../src/heal/events.ts';
import { backoffDelay, noJitter, withRetry } from '../../src/heal/retry.ts';
import { MemoryTransientError } from '../../src/store/memory.ts';
import {
  fakeDocs,
  fakeEmbedder,
  memoryStore,
  seedDocuments,
  type FakeEmbedderOptions,
} from '../helpers/engine-fakes.ts';

const BACKOFF = { maxRetries: 3, initialMs: 1, maxMs: 4 };

async function setup(n: number, embedderOptions: FakeEmbedderOptions = {}) {
  const store = memoryStore();
  const docs = fakeDocs(n);
  await seedDocuments(store, docs);
  const embedder = fakeEmbedder(embedderOptions);
  const events: EngineEvent[] = [];
  const run = (batches: string[][], extra: Partial<EmbedBatchesOptions> = {}) =>
    embedBatches({
      store,
      embedder,
      batches,
      backoff: BACKOFF,
      concurrency: 1,
      onEvent: (e) => events.push(e),
      ...extra,
    });
  return { store, docs, embedder, events, run, ids: docs.map((d) => d.docId) };
}

/** Documents with a ledger row, and whether each has exactly its token rows (no partial document). */
async function embeddedIds(store: Store, ids: string[]): Promise<string[]> {
  const states = await store.embeddingStates(ids);
  for (const s of states)
    if (s.ledger) assert.equal(s.tokenRows, s.ledger.tokenCount, `${s.docId}: token rows match the ledger`);
  return states.filter((s) => s.ledger).map((s) => s.docId);
}

test('backoffDelay: full jitter under a doubling ceiling; noJitter gives the ceiling', () => {
  const p = { initialMs: 100, maxMs: 1000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((a) => backoffDelay(a, p, noJitter)),
    [100, 200, 400, 800, 1000],
  );
  assert.equal(
    backoffDelay(3, p, () => 0.5),
    200,
  );
  assert.equal(
    backoffDelay(3, p, () => 0),
    0,
  );
});

test('withRetry: retries what is retryable up to maxRetries, then throws; other errors at once', async () => {
  let n = 0;
  const flaky = async () => {
    if (++n < 3) throw new Error('busy');
    return 'ok';
  };
  const retries: number[] = [];
  assert.equal(await withRetry(flaky, () => true, BACKOFF, { onRetry: (_e, a) => retries.push(a) }), 'ok');
  assert.deepEqual(retries, [1, 2]);
  n = -10;
  await assert.rejects(
    withRetry(flaky, () => true, BACKOFF),
    /busy/,
  );
  assert.equal(n, -6, 'one call and maxRetries (3) retries');
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new Error('no');
      },
      () => false,
      BACKOFF,
    ),
  );
  assert.equal(calls, 1);
});

test('a transient embedder error is retried with backoff and the batch then written', async () => {
  const t = await setup(4, { transientOnCalls: [1, 2] });
  const r = await t.run([t.ids.slice(0, 2), t.ids.slice(2)], { prefetch: 0 });
  assert.equal(r.embedded, 4);
  assert.deepEqual(r.failures, []);
  const retries = t.events.filter((e) => e.type === 'batch-retry');
  assert.deepEqual(
    retries.map((e) => e.attempt),
    [1, 2],
  );
  for (const e of retries) {
    assert.deepEqual(e.docIds, t.ids.slice(0, 2));
    assert.ok(e.delayMs >= 0 && e.delayMs <= backoffDelay(e.attempt, BACKOFF, noJitter), `${e.delayMs}`);
    assert.match(e.reason, /connection reset/);
  }
  assert.equal(t.embedder.calls.length, 4, 'two failed calls, then one per batch');
  assert.deepEqual(await embeddedIds(t.store, t.ids), t.ids);
});

test('a transient error that outlasts maxRetries fails the pass, and nothing of that batch is written', async () => {
  const t = await setup(2, { transientOnCalls: [1, 2, 3, 4, 5] });
  await assert.rejects(t.run([t.ids]), /connection reset/);
  assert.equal(t.embedder.calls.length, 1 + BACKOFF.maxRetries);
  assert.deepEqual(await embeddedIds(t.store, t.ids), []);
});

test("a store's transient error (a lost connection) on the write is retried; the batch is written once", async () => {
  const t = await setup(2);
  t.store.failNext('writeEmbeddings', new MemoryTransientError('connection lost'));
  t.store.failNext('readTexts', new MemoryTransientError('connection lost'));
  const r = await t.run([t.ids]);
  assert.equal(r.embedded, 2);
  assert.deepEqual(await embeddedIds(t.store, t.ids), t.ids);
  assert.equal(t.embedder.calls.length, 1, 'embedded once: only the store call was repeated');
});

test('out of memory splits the batch in halves until it fits; every document is written once', async () => {
  const t = await setup(5, { oomAbove: 2 });
  const r = await t.run([t.ids]);
  assert.equal(r.embedded, 5);
  assert.deepEqual(r.failures, []);
  assert.deepEqual(
    t.embedder.calls.map((c) => c.length),
    [5, 3, 2, 1, 2],
  );
  const splits = t.events.filter((e) => e.type === 'batch-split');
  assert.deepEqual(
    splits.map((e) => e.docIds.length),
    [5, 3],
  );
  assert.match(splits[0]!.reason, /out of memory/);
  assert.deepEqual(await embeddedIds(t.store, t.ids), t.ids);
});

test('a document that does not fit even alone fails by itself with the reason; the rest is written', async () => {
  const t = await setup(3, { oomAbove: 0 });
  const r = await t.run([t.ids]);
  assert.equal(r.embedded, 0);
  assert.deepEqual(
    r.failures.map((f) => f.docId),
    t.ids,
  );
  assert.match(r.failures[0]!.reason, /out of memory/);
  assert.equal(t.events.filter((e) => e.type === 'document-failed').length, 3);
});

test('a batch that takes longer than its time-out is split, like out of memory', async () => {
  const t = await setup(2, { delayMs: 30 });
  const r = await t.run([t.ids], { batchTimeoutMs: (n) => (n > 1 ? 5 : 10_000) });
  assert.equal(r.embedded, 2);
  const split = t.events.find((e) => e.type === 'batch-split');
  assert.ok(split && /timed out/.test(split.reason), JSON.stringify(split));
});

test("a document's own failure is recorded and never blocks the rest of its batch", async () => {
  const t = await setup(4, { badDocs: ['D002'] });
  const r = await t.run([t.ids.slice(0, 2), t.ids.slice(2)]);
  assert.equal(r.embedded, 3);
  assert.deepEqual(r.failures, [{ docId: 'D002', reason: 'tokenizer error: unmappable input' }]);
  assert.deepEqual(await embeddedIds(t.store, t.ids), ['D001', 'D003', 'D004']);
  assert.ok(t.events.some((e) => e.type === 'document-failed' && e.docId === 'D002'));
});

test('an empty abstract is that document failing, not the embedder', async () => {
  const t = await setup(2);
  await t.store.upsertDocuments([{ ...t.docs[0]!, abstract: '   ', contentHash: 'x'.repeat(64) }]);
  const r = await t.run([t.ids]);
  assert.deepEqual(r.failures, [{ docId: 'D001', reason: 'empty abstract: nothing to embed' }]);
  assert.deepEqual(t.embedder.calls, [['D002']]);
});

test('cancellation: batches not started are left alone, nothing is half written, the result says cancelled', async () => {
  const t = await setup(8, { delayMs: 5 });
  const abort = new AbortController();
  // Cancelled as soon as the first batch is written.
  const write = t.store.writeEmbeddings.bind(t.store);
  t.store.writeEmbeddings = async (w) => {
    await write(w);
    abort.abort(new Error('stop'));
  };
  const r = await t.run([t.ids.slice(0, 2), t.ids.slice(2, 4), t.ids.slice(4, 6), t.ids.slice(6)], {
    signal: abort.signal,
  });
  assert.equal(r.cancelled, true);
  const done = await embeddedIds(t.store, t.ids);
  assert.deepEqual(done, t.ids.slice(0, 2));
  assert.equal(r.embedded, 2);
  assert.ok(t.embedder.calls.length < 4, 'the last batch never ran');
});

test('overlap by default: with concurrency 1 the next batch is read and handed to the embedder while the previous one embeds; prefetch 0 runs them one after the other', async () => {
  const overlap = async (prefetch?: number) => {
    const t = await setup(6, { delayMs: 5 });
    let now = 0;
    let most = 0;
    const embed = t.embedder.embed.bind(t.embedder);
    t.embedder.embed = async (docs, signal) => {
      most = Math.max(most, ++now);
      try {
        return await embed(docs, signal);
      } finally {
        now--;
      }
    };
    const r = await t.run([t.ids.slice(0, 2), t.ids.slice(2, 4), t.ids.slice(4)], { prefetch });
    assert.equal(r.embedded, 6);
    assert.deepEqual(await embeddedIds(t.store, t.ids), t.ids);
    return most;
  };
  assert.equal(await overlap(), 2);
  assert.equal(await overlap(0), 1);
});

test('concurrency 2: two batches embed at once, writes stay one per batch', async () => {
  const t = await setup(6, { delayMs: 5 });
  const r = await t.run([t.ids.slice(0, 2), t.ids.slice(2, 4), t.ids.slice(4)], { concurrency: 2 });
  assert.equal(r.embedded, 6);
  assert.deepEqual(await embeddedIds(t.store, t.ids), t.ids);
});
