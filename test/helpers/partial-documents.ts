/** The check every fault test ends with: no document was left half-written. */
import assert from 'node:assert/strict';
import type { PrivatePostgres } from './private-postgres.ts';

/** Every ledger row has exactly token_count token rows, numbered 0..n-1; no token rows lack a ledger row. */
export function assertNoPartialDocument(pg: PrivatePostgres): void {
  const bad = pg.psql(`
    SELECT count(*) FROM "RAG"."DocumentEmbeddingLedger" l
    LEFT JOIN (SELECT doc_id, count(*) AS n, min(token_index) AS lo, max(token_index) AS hi
               FROM "RAG"."DocumentTokenEmbeddings" GROUP BY doc_id) t ON t.doc_id = l.doc_id
    WHERE t.n IS DISTINCT FROM l.token_count OR t.lo <> 0 OR t.hi <> l.token_count - 1`);
  assert.equal(bad.trim(), '0', 'documents with partial token embeddings');
  const orphans = pg.psql(`
    SELECT count(DISTINCT doc_id) FROM "RAG"."DocumentTokenEmbeddings" t
    WHERE NOT EXISTS (SELECT 1 FROM "RAG"."DocumentEmbeddingLedger" l WHERE l.doc_id = t.doc_id)`);
  assert.equal(orphans.trim(), '0', 'token rows without a ledger row');
}
