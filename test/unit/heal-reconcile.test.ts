/**
 * reconcile() (src/heal/reconcile.ts) with a fake embedder that fails on demand, an array source and an
 * in-memory store of its own: the whole pass, per-document failures, cancellation, orphan clean-up, the modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile } from '../../src/heal/reconcile.ts';
import {
  FAKE_DIM,
  fakeDeps,
  fakeDocs,
  fakeEmbedder,
  fakeSpec,
  memoryStore,
} from '../helpers/engine-fakes.ts';

const fast = { healing: { batchSize: 2, backoff: { initialMs: 1, maxMs: 4 } } };

test('AutoFix on an empty database: schema, documents, embeddings, Ready; the events in order', async () => {
  const spec = fakeSpec(5, fast);
  const store = memoryStore();
  const embedder = fakeEmbedder();
  const { deps, events } = fakeDeps(spec, store, embedder, fakeDocs(8));
  const r = await reconcile(spec, deps);
  assert.equal(r.ready, true, JSON.stringify(r.checks.filter((c) => !c.passed)));
  assert.equal(r.outcome.kind, 'ready');
  assert.equal(r.healed.schemaCreated, true);
  assert.equal(r.healed.documentsLoaded, 5);
  assert.equal(r.healed.embedded, 5);
  assert.equal(r.documents, 5);
  assert.equal(r.embedded, 5);
  assert.deepEqual(r.model, { modelId: 'fake', synthetic: true, dimension: FAKE_DIM });
  assert.equal(embedder.closed, true, 'the batch runner (and its model) is closed at the end');
  const order = events.map((e) => e.type).filter((t) => t !== 'embed-progress' && t !== 'load-progress');
  assert.deepEqual(order, ['inspected', 'plan', 'embedder-ready', 'schema-created', 'verified']);
  assert.equal(
    embedder.calls.reduce((n, c) => n + c.length, 0),
    5,
  );
  assert.ok(
    embedder.calls.every((c) => c.length <= 2),
    'batches of batchSize',
  );

  // A second pass finds nothing to do and loads no model.
  const again = fakeEmbedder();
  const second = await reconcile(spec, fakeDeps(spec, store, again, fakeDocs(8)).deps);
  assert.equal(second.ready, true);
  assert.equal(again.calls.length, 0);
  await store.close();
});

test('a document that fails for its own reason: the rest is embedded, the pass says which and why; the next pass heals it', async () => {
  const spec = fakeSpec(4, fast);
  const store = memoryStore();
  const docs = fakeDocs(4);
  const bad = fakeEmbedder({ badDocs: ['D003'] });
  const r = await reconcile(spec, fakeDeps(spec, store, bad, docs).deps);
  assert.equal(r.ready, false);
  assert.equal(r.outcome.kind, 'incomplete');
  assert.match((r.outcome as { message: string }).message, /1 documents failed/);
  assert.deepEqual(r.failures, [{ docId: 'D003', reason: 'tokenizer error: unmappable input' }]);
  assert.equal(r.embedded, 3);

  const good = fakeEmbedder();
  const healed = await reconcile(spec, fakeDeps(spec, store, good, docs).deps);
  assert.equal(healed.ready, true);
  assert.deepEqual(good.calls, [['D003']], 'only the failed document is embedded again');
  await store.close();
});

test('transient errors and out-of-memory inside a pass are retried and split; the pass still ends Ready', async () => {
  const spec = fakeSpec(6, { healing: { batchSize: 3, backoff: { initialMs: 1, maxMs: 4 } } });
  const store = memoryStore();
  const embedder = fakeEmbedder({ transientOnCalls: [1], oomAbove: 2 });
  const { deps, events } = fakeDeps(spec, store, embedder, fakeDocs(6));
  const r = await reconcile(spec, deps);
  assert.equal(r.ready, true);
  assert.ok(events.some((e) => e.type === 'batch-retry'));
  assert.ok(events.some((e) => e.type === 'batch-split'));
  await store.close();
});

test('cancellation mid-heal: the pass ends incomplete (cancelled), nothing half written; the next pass finishes', async () => {
  const spec = fakeSpec(8, fast);
  const store = memoryStore();
  const docs = fakeDocs(8);
  const abort = new AbortController();
  const slow = fakeEmbedder({ delayMs: 5 });
  const { deps } = fakeDeps(spec, store, slow, docs);
  // Cancelled as soon as the first batch is written (the next ones are already embedding: overlap).
  const write = store.writeEmbeddings.bind(store);
  store.writeEmbeddings = async (w) => {
    await write(w);
    abort.abort(new Error('spec changed'));
  };
  const r = await reconcile(spec, deps, { signal: abort.signal });
  assert.equal(r.ready, false);
  assert.match((r.outcome as { message: string }).message, /cancelled/);
  assert.ok(r.embedded >= 2 && r.embedded < 8, `embedded ${r.embedded}`);
  const states = await store.embeddingStates(docs.map((d) => d.docId));
  for (const s of states) if (s.ledger) assert.equal(s.tokenRows, s.ledger.tokenCount);
  assert.equal(slow.closed, true);

  store.writeEmbeddings = write;
  const rest = fakeEmbedder();
  const done = await reconcile(spec, fakeDeps(spec, store, rest, docs).deps);
  assert.equal(done.ready, true);
  assert.equal(
    rest.calls.reduce((n, c) => n + c.length, 0),
    8 - r.embedded,
    'only what the cancelled pass left is embedded',
  );
  await store.close();
});

test('orphan clean-up: token rows of a document that no longer exists are deleted, AutoFix only', async () => {
  const spec = fakeSpec(3, fast);
  const store = memoryStore();
  const docs = fakeDocs(3);
  const embedder = fakeEmbedder();
  await reconcile(spec, fakeDeps(spec, store, embedder, docs).deps);
  // A document's vectors without its document: a row deleted behind the engine's back.
  await store.writeEmbeddings([
    {
      embedding: { docId: 'GHOST', tokens: ['a'], vectors: new Float32Array(FAKE_DIM), dimension: FAKE_DIM },
      ledger: {
        docId: 'GHOST',
        modelFingerprint: embedder.fingerprint,
        contentHash: 'f'.repeat(64),
        tokenCount: 1,
        dimension: FAKE_DIM,
        embeddedAt: new Date().toISOString(),
      },
    },
  ]);
  assert.deepEqual((await store.counts()).orphanDocIds, ['GHOST']);

  const report = fakeSpec(3, { ...fast, mode: 'ValidateOnly' });
  const seen = await reconcile(report, fakeDeps(report, store, fakeEmbedder(), docs).deps);
  assert.equal(seen.plan.summary.embeddingsToDelete, 1);
  assert.deepEqual((await store.counts()).orphanDocIds, ['GHOST'], 'ValidateOnly deletes nothing');

  const { deps, events } = fakeDeps(spec, store, fakeEmbedder(), docs);
  const r = await reconcile(spec, deps);
  assert.equal(r.ready, true);
  assert.equal(r.healed.orphansDeleted, 1);
  assert.ok(events.some((e) => e.type === 'orphans-deleted' && e.docIds.includes('GHOST')));
  assert.deepEqual((await store.counts()).orphanDocIds, []);
  await store.close();
});

test('ValidateOnly and DryRun: the gaps and the plan, no model loaded, nothing written', async () => {
  for (const mode of ['ValidateOnly', 'DryRun'] as const) {
    const spec = fakeSpec(4, { ...fast, mode });
    const store = memoryStore();
    const embedder = fakeEmbedder();
    let opened = 0;
    const { deps } = fakeDeps(spec, store, embedder, fakeDocs(4));
    const open = deps.openBatchRunner;
    deps.openBatchRunner = () => {
      opened++;
      return open();
    };
    const r = await reconcile(spec, deps);
    assert.equal(r.ready, false);
    assert.deepEqual(r.outcome, { kind: 'gaps', mode });
    assert.equal(r.plan.summary.documentsToLoad, 4);
    assert.equal(opened, 0, `${mode}: no batch runner opened`);
    assert.equal((await store.checkSchema({ dimension: FAKE_DIM })).empty, true, `${mode}: no schema`);
    await store.close();
  }
});

test('DryRun with calibrate and no earlier heal recorded: the estimate is timed on a few documents, nothing written', async () => {
  const spec = fakeSpec(20, { ...fast, mode: 'DryRun' });
  // An empty database: the sample comes from the source, the first documents it would load.
  const store = memoryStore();
  const embedder = fakeEmbedder();
  const { deps } = fakeDeps(spec, store, embedder, fakeDocs(20));
  const r = await reconcile(spec, deps, { calibrate: true });
  assert.match(
    r.plan.summary.estimateFrom ?? '',
    /^calibrated: [\d.]+ s per document, timed just now on 8 documents/,
  );
  assert.ok(r.plan.summary.estimatedSeconds !== undefined && r.plan.summary.estimatedSeconds >= 0);
  assert.deepEqual(
    embedder.calls.map((c) => c.length),
    [1, 8],
    'one untimed warm-up document, then the timed sample',
  );
  assert.equal(embedder.closed, true, 'the model is closed after the calibration');
  assert.equal((await store.checkSchema({ dimension: FAKE_DIM })).empty, true, 'nothing written');

  // Without calibrate (the controller), or outside DryRun, no model is loaded for the estimate.
  for (const [mode, calibrate] of [
    ['DryRun', false],
    ['ValidateOnly', true],
  ] as const) {
    const e = fakeEmbedder();
    const other = fakeSpec(20, { ...fast, mode });
    await reconcile(other, fakeDeps(other, store, e, fakeDocs(20)).deps, { calibrate });
    assert.equal(e.calls.length, 0, `${mode}, calibrate ${calibrate}: no embed call`);
  }

  // A model that does not load: the plan stands, and says why it has no estimate.
  const broken = fakeDeps(spec, store, fakeEmbedder(), fakeDocs(20)).deps;
  broken.openEmbedder = async () => {
    throw new Error('the model has dimension 8, the spec declares 4');
  };
  const b = await reconcile(spec, broken, { calibrate: true });
  assert.equal(b.plan.summary.estimatedSeconds, undefined);
  assert.match(
    b.plan.summary.estimateFrom ?? '',
    /^no estimate: the calibration failed: the model has dimension 8/,
  );
  await store.close();
});

test('a batch runner that cannot open (model does not fit) stops the pass before any write', async () => {
  const spec = fakeSpec(3, fast);
  const store = memoryStore();
  const { deps } = fakeDeps(spec, store, fakeEmbedder(), fakeDocs(3));
  deps.openBatchRunner = async () => {
    throw new Error('the model has dimension 8, the spec declares 4');
  };
  await assert.rejects(reconcile(spec, deps), /dimension 8/);
  assert.equal((await store.checkSchema({ dimension: FAKE_DIM })).empty, true);
  await store.close();
});
