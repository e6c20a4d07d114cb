import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectTarget, isPlaceholderAbstract } from '../../src/core/selection.ts';
import { embeddingStatus, type Inspection } from '../../src/core/inspection.ts';
import { runChecks, allPassed } from '../../src/core/checks.ts';
import { buildPlan, planIsEmpty, describePlan, chunk } from '../../src/core/plan.ts';
import { computeConditions, setCondition, phaseOf } from '../../src/core/conditions.ts';
import { ProgressTracker } from '../../src/core/progress.ts';
import type { Candidate, EmbeddingState } from '../../src/core/store-port.ts';

const FP = 'fp-model-a';
const expect = { dimension: 8, fingerprint: FP };

function cand(
  docId: string,
  pubDate: string | null = null,
  abstract = 'A real abstract that is long enough to count.',
): Candidate {
  return {
    docId,
    pubDate,
    abstractLength: abstract.length,
    shortAbstract: abstract.length < 64 ? abstract : null,
  };
}
function complete(docId: string, tokens = 5): EmbeddingState {
  return {
    docId,
    contentHash: `h-${docId}`,
    ledger: {
      modelFingerprint: FP,
      contentHash: `h-${docId}`,
      tokenCount: tokens,
      dimension: 8,
      embeddedAt: '2026-01-01T00:00:00Z',
    },
    tokenRows: tokens,
  };
}
function inspection(docCount: number, states: EmbeddingState[], extra: Partial<Inspection> = {}): Inspection {
  return {
    schema: { ok: true, empty: false, problems: [] },
    counts: {
      documents: states.length,
      documentsWithAbstract: states.length,
      documentsWithTokens: 0,
      tokenRows: 0,
      orphanDocIds: [],
    },
    candidatesTotal: states.length,
    target: states.map((s) => ({ candidate: cand(s.docId), embedding: s })),
    docCount,
    ...extra,
  };
}

test('selectTarget: doc_id, newest and seeded random orders are deterministic', () => {
  const cs = [
    cand('PMC3', '2020-01-01'),
    cand('PMC1', '2022-05-01'),
    cand('PMC2', null),
    cand('PMC4', '2022-05-01'),
  ];
  assert.deepEqual(
    selectTarget(cs, { orderBy: 'doc_id', seed: 0 }, 3).map((c) => c.docId),
    ['PMC1', 'PMC2', 'PMC3'],
  );
  assert.deepEqual(
    selectTarget(cs, { orderBy: 'newest', seed: 0 }, 4).map((c) => c.docId),
    ['PMC1', 'PMC4', 'PMC3', 'PMC2'],
  );
  const r1 = selectTarget(cs, { orderBy: 'random', seed: 7 }, 4).map((c) => c.docId);
  const r2 = selectTarget([...cs].reverse(), { orderBy: 'random', seed: 7 }, 4).map((c) => c.docId);
  assert.deepEqual(r1, r2, 'random order does not depend on input order');
  const many = Array.from({ length: 50 }, (_, i) => cand(`D${i}`));
  const a = selectTarget(many, { orderBy: 'random', seed: 1 }, 50).map((c) => c.docId);
  const b = selectTarget(many, { orderBy: 'random', seed: 2 }, 50).map((c) => c.docId);
  assert.notDeepEqual(a, b, 'another seed gives another order');
  assert.equal(cs.map((c) => c.docId).join(), 'PMC3,PMC1,PMC2,PMC4', 'input not mutated');
});

test('placeholder abstracts', () => {
  for (const t of [
    'N/A',
    'No abstract available.',
    '[Abstract not available]',
    'Abstract not provided',
    'short',
    '----',
  ])
    assert.ok(isPlaceholderAbstract({ abstractLength: t.length, shortAbstract: t }), t);
  const real = 'Background: we measured the thing carefully in 40 patients.';
  assert.ok(!isPlaceholderAbstract({ abstractLength: real.length, shortAbstract: real }));
  assert.ok(!isPlaceholderAbstract({ abstractLength: 2000, shortAbstract: null }));
});

test('embeddingStatus distinguishes missing, partial, wrong dimension, stale model, stale content', () => {
  const ok = complete('d');
  assert.equal(embeddingStatus(ok, expect), 'complete');
  assert.equal(embeddingStatus({ ...ok, ledger: null, tokenRows: 0 }, expect), 'missing');
  assert.equal(embeddingStatus({ ...ok, ledger: null, tokenRows: 3 }, expect), 'partial');
  assert.equal(embeddingStatus({ ...ok, tokenRows: 0 }, expect), 'missing');
  assert.equal(embeddingStatus({ ...ok, tokenRows: 4 }, expect), 'partial');
  assert.equal(
    embeddingStatus({ ...ok, ledger: { ...ok.ledger!, dimension: 4 } }, expect),
    'wrong-dimension',
  );
  assert.equal(
    embeddingStatus({ ...ok, ledger: { ...ok.ledger!, modelFingerprint: 'other' } }, expect),
    'stale-model',
  );
  assert.equal(embeddingStatus({ ...ok, contentHash: null }, expect), 'stale-content');
  assert.equal(embeddingStatus({ ...ok, contentHash: 'changed' }, expect), 'stale-content');
  assert.equal(
    embeddingStatus(
      { ...ok, ledger: { ...ok.ledger!, modelFingerprint: 'other' } },
      { ...expect, fingerprint: null },
    ),
    'complete',
  );
});

test('checks of a healthy dataset all pass; each failure names the documents', () => {
  const healthy = inspection(3, [complete('a'), complete('b'), complete('c')]);
  const checks = runChecks(healthy, 'ragas-eval', expect);
  assert.deepEqual(
    checks.map((c) => c.name),
    [
      'schema_integrity',
      'document_count',
      'abstracts_valid',
      'token_embeddings_complete',
      'embedding_dimensions',
      'embeddings_current',
    ],
  );
  assert.ok(allPassed(checks), JSON.stringify(checks));

  const broken = inspection(4, [
    complete('a'),
    { ...complete('b'), tokenRows: 2 },
    { ...complete('c'), ledger: null, tokenRows: 0 },
  ]);
  broken.target[0]!.candidate = cand('a', null, 'N/A');
  const byName = Object.fromEntries(runChecks(broken, 'ragas-eval', expect).map((c) => [c.name, c]));
  assert.equal(byName.document_count!.passed, false);
  assert.match(byName.document_count!.message, /3 documents with an abstract, 1 short of 4/);
  assert.equal(byName.abstracts_valid!.passed, false);
  assert.deepEqual(byName.abstracts_valid!.examples, ['a']);
  assert.equal(byName.token_embeddings_complete!.passed, false);
  assert.deepEqual(byName.token_embeddings_complete!.examples, ['c', 'b']);
  assert.equal(byName.token_embeddings_complete!.actual, 1);
  assert.equal(byName.embeddings_current!.passed, true);

  const docsOnly = runChecks(broken, 'documents', expect).map((c) => c.name);
  assert.deepEqual(docsOnly, ['schema_integrity', 'document_count', 'abstracts_valid']);
  const embOnly = runChecks(broken, 'token-embeddings', expect).map((c) => c.name);
  assert.deepEqual(embOnly, [
    'schema_integrity',
    'document_count',
    'token_embeddings_complete',
    'embedding_dimensions',
    'embeddings_current',
  ]);
  // token-embeddings loads nothing: missing documents fail it, and the message says what loads them.
  const short = runChecks(broken, 'token-embeddings', expect).find((c) => c.name === 'document_count')!;
  assert.equal(short.passed, false);
  assert.match(short.message, /1 documents missing; .*ensure-ragas-ready .* loads them/);
});

test('schema mismatch: the check names the fix', () => {
  const insp = inspection(1, [complete('a')], {
    schema: {
      ok: false,
      empty: false,
      problems: [
        {
          kind: 'mismatch',
          object: 'RAG.T.token_embedding',
          problem: 'dimension 384, expected 768',
          fix: 'ALTER ...',
        },
      ],
    },
  });
  const checks = runChecks(insp, 'ragas-eval', { ...expect });
  const schema = checks.find((c) => c.name === 'schema_integrity')!;
  assert.equal(schema.passed, false);
  assert.match(schema.message, /fix: ALTER/);
  assert.equal(checks.find((c) => c.name === 'embedding_dimensions')!.passed, false);
});

test('plan: exactly the missing work, batched; stale and forced; nothing for a healthy set', () => {
  const states = [
    complete('a'),
    { ...complete('b'), tokenRows: 1 },
    { ...complete('c'), ledger: null, tokenRows: 0 },
    { ...complete('d'), contentHash: 'new' },
  ];
  const insp = inspection(6, states, {
    counts: {
      documents: 4,
      documentsWithAbstract: 4,
      documentsWithTokens: 3,
      tokenRows: 9,
      orphanDocIds: ['zz'],
    },
  });
  const plan = buildPlan(
    insp,
    { targetState: 'ragas-eval', docCount: 6, forceRegenerate: false, batchSize: 2, secondsPerDocument: 0.5 },
    expect,
  );
  assert.equal(plan.documentsToLoad, 2);
  assert.deepEqual(plan.embed, [
    { docId: 'b', reason: 'partial' },
    { docId: 'c', reason: 'missing' },
    { docId: 'd', reason: 'stale-content' },
  ]);
  assert.deepEqual(plan.batches, [['b', 'c'], ['d']]);
  assert.deepEqual(plan.summary, {
    documentsToLoad: 2,
    embeddingsMissing: 2,
    embeddingsStale: 1,
    embeddingsToDelete: 1,
    batches: 3,
    batchSize: 2,
    estimatedSeconds: 3,
    estimateFrom: 'assumed: 0.5 s per document (no earlier heal of this model recorded)',
  });
  assert.deepEqual(plan.orphanDocIds, ['zz']);
  assert.ok(describePlan(plan).some((l) => l.includes('load 2 documents')));

  const healthy = inspection(3, [complete('a'), complete('b'), complete('c')]);
  const none = buildPlan(
    healthy,
    { targetState: 'ragas-eval', docCount: 3, forceRegenerate: false, batchSize: 16 },
    expect,
  );
  assert.ok(planIsEmpty(none));
  assert.deepEqual(describePlan(none), ['nothing to do']);
  const forced = buildPlan(
    healthy,
    { targetState: 'ragas-eval', docCount: 3, forceRegenerate: true, batchSize: 16 },
    expect,
  );
  assert.equal(forced.embed.length, 3);
  assert.equal(forced.summary.embeddingsStale, 3);

  const docsOnly = buildPlan(
    insp,
    { targetState: 'documents', docCount: 6, forceRegenerate: false, batchSize: 2 },
    expect,
  );
  assert.equal(docsOnly.embed.length, 0);
  assert.equal(docsOnly.summary.batches, 0);
  const embOnly = buildPlan(
    insp,
    { targetState: 'token-embeddings', docCount: 6, forceRegenerate: false, batchSize: 2 },
    expect,
  );
  assert.equal(embOnly.documentsToLoad, 0);
  assert.equal(embOnly.summary.embeddingsMissing, 2);
  assert.equal(embOnly.summary.batches, 2);
  assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
});

test('conditions: lastTransitionTime moves only when the status changes', () => {
  const t1 = new Date('2026-01-01T00:00:00Z');
  const t2 = new Date('2026-01-01T00:05:00Z');
  const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Healing', message: 'x' }, t1);
  const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'Healing', message: 'y' }, t2);
  assert.equal(b[0]!.lastTransitionTime, t1.toISOString());
  assert.equal(b[0]!.message, 'y');
  const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'AllChecksPassed', message: 'z' }, t2);
  assert.equal(c[0]!.lastTransitionTime, t2.toISOString());
  assert.equal(c.length, 1);
});

test('conditions per outcome', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const passed = [{ name: 'schema_integrity', passed: true, message: 'ok' }];
  const failed = [...passed, { name: 'document_count', passed: false, message: '3 short' }];
  const get = (conds: ReturnType<typeof computeConditions>, t: string) => conds.find((c) => c.type === t)!;
  const ready = computeConditions({ checks: passed, outcome: { kind: 'ready' }, generation: 2, now });
  assert.equal(get(ready, 'Ready').status, 'True');
  assert.equal(get(ready, 'Ready').observedGeneration, 2);
  assert.equal(get(ready, 'SchemaValid').status, 'True');
  const gaps = computeConditions({ checks: failed, outcome: { kind: 'gaps', mode: 'ValidateOnly' }, now });
  assert.equal(get(gaps, 'Ready').status, 'False');
  assert.equal(get(gaps, 'Degraded').status, 'True');
  assert.match(get(gaps, 'Degraded').message, /document_count: 3 short/);
  const healing = computeConditions({
    checks: failed,
    outcome: { kind: 'healing', message: 'batch 1/3' },
    now,
  });
  assert.equal(get(healing, 'Progressing').status, 'True');
  assert.equal(phaseOf({ kind: 'healing', message: '' }), 'Healing');
  assert.equal(phaseOf({ kind: 'failed', message: '' }), 'Failed');
  assert.equal(phaseOf({ kind: 'gaps', mode: 'DryRun' }), 'Degraded');
});

test('progress: rate from the first finished unit, ETA from the rate', () => {
  const t0 = new Date(0);
  const p = new ProgressTracker(100, t0);
  assert.deepEqual(p.snapshot(t0), {
    processed: 0,
    total: 100,
    percent: 0,
    rate: 0,
    startedAt: t0.toISOString(),
  });
  p.advance(10, new Date(30_000)); // model load took 30 s before the first batch finished
  p.advance(10, new Date(40_000));
  const s = p.snapshot(new Date(40_000));
  assert.equal(s.processed, 20);
  assert.equal(s.percent, 20);
  assert.equal(s.rate, 1);
  assert.equal(s.etaSeconds, 80);
  p.advance(500, new Date(50_000));
  assert.equal(p.snapshot(new Date(50_000)).processed, 100);
  assert.equal(p.snapshot(new Date(50_000)).etaSeconds, 0);
});
