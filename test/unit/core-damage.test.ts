/**
 * Damaged token rows (out of sequence, zero or non-finite vectors) and an empty token table of another
 * dimension, in the pure core: what the checks say and what the plan does about them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  embeddingStatus,
  inSequence,
  isBadVector,
  vectorSample,
  type Inspection,
  type TokenDamage,
} from '../../src/core/inspection.ts';
import { allPassed, runChecks } from '../../src/core/checks.ts';
import { buildPlan, describePlan, planIsEmpty } from '../../src/core/plan.ts';
import type { EmbeddingState, SchemaProblem } from '../../src/core/store-port.ts';

const FP = 'fp';
const expect = { dimension: 8, fingerprint: FP };
const input = { targetState: 'ragas-eval' as const, docCount: 3, forceRegenerate: false, batchSize: 2 };

function state(docId: string, tokens = 4): EmbeddingState {
  return {
    docId,
    contentHash: `h-${docId}`,
    ledger: {
      modelFingerprint: FP,
      contentHash: `h-${docId}`,
      tokenCount: tokens,
      dimension: 8,
      embeddedAt: 'x',
    },
    tokenRows: tokens,
  };
}

function inspection(damage: Record<string, TokenDamage>, extra: Partial<Inspection> = {}): Inspection {
  const ids = ['D1', 'D2', 'D3'];
  return {
    schema: { ok: true, empty: false, problems: [] },
    counts: {
      documents: 3,
      documentsWithAbstract: 3,
      documentsWithTokens: 3,
      tokenRows: 12,
      orphanDocIds: [],
    },
    candidatesTotal: 3,
    target: ids.map((docId) => ({
      candidate: { docId, pubDate: null, abstractLength: 100, shortAbstract: null },
      embedding: state(docId),
      ...(damage[docId] ? { damage: damage[docId] } : {}),
    })),
    docCount: 3,
    ...extra,
  };
}

test('a document with rows out of sequence or bad vectors is damaged, unless it is missing or partial anyway', () => {
  const s = state('D1');
  assert.equal(embeddingStatus(s, expect, { outOfSequence: false, badVectors: 0 }), 'complete');
  assert.equal(embeddingStatus(s, expect, { outOfSequence: true, badVectors: 0 }), 'damaged');
  assert.equal(embeddingStatus(s, expect, { outOfSequence: false, badVectors: 2 }), 'damaged');
  assert.equal(
    embeddingStatus({ ...s, tokenRows: 3 }, expect, { outOfSequence: true, badVectors: 0 }),
    'partial',
  );
});

test('validate fails token_embeddings_complete naming each kind of damage; the plan re-embeds those documents', () => {
  const insp = inspection({
    D1: { outOfSequence: true, badVectors: 0 },
    D3: { outOfSequence: false, badVectors: 1 },
  });
  const checks = runChecks(insp, 'ragas-eval', expect);
  assert.ok(!allPassed(checks));
  const c = checks.find((x) => x.name === 'token_embeddings_complete')!;
  assert.equal(c.passed, false);
  assert.equal(c.actual, 1);
  assert.match(
    c.message,
    /2 damaged — token rows out of sequence in 1: D1; zero or non-finite vectors in 1: D3/,
  );
  const plan = buildPlan(insp, input, expect);
  assert.deepEqual(plan.embed, [
    { docId: 'D1', reason: 'damaged' },
    { docId: 'D3', reason: 'damaged' },
  ]);
  assert.equal(plan.summary.embeddingsMissing, 2);
  assert.match(
    describePlan(plan).join('\n'),
    /embed 2 documents with missing, partial or damaged token embeddings/,
  );
  // Undamaged: all pass, nothing to do.
  const clean = inspection({});
  assert.ok(allPassed(runChecks(clean, 'ragas-eval', expect)));
  assert.ok(planIsEmpty(buildPlan(clean, input, expect)));
});

const dimensionProblem: SchemaProblem = {
  kind: 'mismatch',
  object: 'RAG.DocumentTokenEmbeddings.token_embedding',
  problem: 'vector dimension is 768, expected 8: the stored vectors are of another model',
  fix: 'DROP TABLE ...; DELETE FROM ...; CREATE TABLE ...',
  liveDimension: 768,
};

test('an empty token table of another dimension is recreated without asking; a non-empty one stops', () => {
  const schema = { ok: false, empty: false, problems: [dimensionProblem] };
  const emptyTokens = inspection(
    {},
    {
      schema,
      counts: {
        documents: 3,
        documentsWithAbstract: 3,
        documentsWithTokens: 0,
        tokenRows: 0,
        orphanDocIds: [],
      },
    },
  );
  const schemaCheck = runChecks(emptyTokens, 'ragas-eval', expect).find(
    (c) => c.name === 'schema_integrity',
  )!;
  assert.equal(schemaCheck.passed, false);
  assert.match(
    schemaCheck.message,
    /vector dimension is 768, expected 8.*; the table is empty: healing recreates it$/,
  );
  const plan = buildPlan(emptyTokens, input, expect);
  assert.deepEqual(plan.rebuildTokenTable, { from: 768, to: 8 });
  assert.deepEqual(plan.schemaProblems, []);
  assert.ok(!planIsEmpty(plan));
  assert.match(
    describePlan(plan).join('\n'),
    /recreate the empty token table for vectors of dimension 8 \(it was made for 768\)/,
  );
  const full = buildPlan(inspection({}, { schema }), input, expect);
  assert.equal(full.rebuildTokenTable, null);
  assert.deepEqual(full.schemaProblems, [dimensionProblem]);
  assert.match(describePlan(full).join('\n'), /fix by hand: DROP TABLE/);
  // Another mismatch still stops, even with an empty token table.
  const other: SchemaProblem = {
    kind: 'mismatch',
    object: 'RAG.SourceDocuments.title',
    problem: 'column does not exist',
    fix: 'ALTER ...',
  };
  const both = buildPlan(
    { ...emptyTokens, schema: { ok: false, empty: false, problems: [dimensionProblem, other] } },
    input,
    expect,
  );
  assert.deepEqual(both.rebuildTokenTable, { from: 768, to: 8 });
  assert.deepEqual(both.schemaProblems, [other]);
});

test('bad vectors, token sequences and the rotating vector sample', () => {
  assert.ok(isBadVector(new Float32Array(4)));
  assert.ok(isBadVector([0.1, Number.NaN, 0.2]));
  assert.ok(isBadVector([0.1, Number.NEGATIVE_INFINITY]));
  assert.ok(!isBadVector([0, 0, 1e-30]));
  assert.ok(inSequence(3, 0, 2));
  assert.ok(inSequence(0, 0, 0));
  assert.ok(!inSequence(3, 0, 1001), 'a row moved past the end');
  assert.ok(!inSequence(3, 1, 3), 'index 0 gone');
  const ids = Array.from({ length: 10 }, (_, i) => `D${i}`);
  assert.deepEqual(vectorSample(ids, 20, 5), ids);
  const seen = new Set<string>();
  for (let turn = 0; turn < 3; turn++) for (const id of vectorSample(ids, 4, turn)) seen.add(id);
  assert.equal(seen.size, 10, 'three turns of 4 cover all 10');
  assert.deepEqual(vectorSample(ids, 4, 2), ['D8', 'D9', 'D0', 'D1']);
  assert.deepEqual(vectorSample(ids, 4, 3), vectorSample(ids, 4, 0));
});
