/**
 * The token-row counter's SQL (src/store/dialects/{sqlite,postgres}-counter.ts) and the inspection statements
 * that read it, pinned as text with a map that renames the token table's doc id column (DocRef, quoted). The
 * counter itself runs for real in the store tests (test/store: conformance drift case, migration tests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrisDialect } from '../../src/store/dialects/iris.ts';
import { PostgresDialect } from '../../src/store/dialects/postgres.ts';
import { pgCounter, pgCounterMigration } from '../../src/store/dialects/postgres-counter.ts';
import { SqliteDialect } from '../../src/store/dialects/sqlite.ts';
import { counterMigration, sqliteCounter } from '../../src/store/dialects/sqlite-counter.ts';
import { tableNames } from '../../src/store/sql/dialect.ts';
import { ALL_RENAMED as ALL } from '../helpers/column-maps.ts';

const names = tableNames({ columns: ALL });

test('the migrations split into their statements on "; " as rebuildEmptyTokenTable splits a fix (no body is cut)', () => {
  for (const statements of [counterMigration(names), pgCounterMigration(names)]) {
    assert.deepEqual(statements.join('; ').split(/;\s+/), statements);
    assert.ok(statements.length >= 6);
  }
});

test('SQLite counter: row triggers on INSERT, DELETE and UPDATE OF the mapped doc id; one full count', () => {
  const k = sqliteCounter(names);
  assert.equal(k.qualified, '"RAG"."DocumentTokenEmbeddings_counts"');
  assert.deepEqual(
    [...k.triggers.values()],
    [
      'CREATE TRIGGER "RAG"."DocumentTokenEmbeddings_counts_insert" AFTER INSERT ON "DocumentTokenEmbeddings" BEGIN ' +
        'INSERT INTO "DocumentTokenEmbeddings_counts" (doc_id, token_rows) VALUES (NEW."DocRef", 1) ON CONFLICT (doc_id) DO UPDATE SET token_rows = token_rows + 1;END',
      'CREATE TRIGGER "RAG"."DocumentTokenEmbeddings_counts_delete" AFTER DELETE ON "DocumentTokenEmbeddings" BEGIN ' +
        'UPDATE "DocumentTokenEmbeddings_counts" SET token_rows = token_rows - 1 WHERE doc_id = OLD."DocRef";END',
      'CREATE TRIGGER "RAG"."DocumentTokenEmbeddings_counts_update" AFTER UPDATE OF "DocRef" ON "DocumentTokenEmbeddings" BEGIN ' +
        'UPDATE "DocumentTokenEmbeddings_counts" SET token_rows = token_rows - 1 WHERE doc_id = OLD."DocRef";' +
        'INSERT INTO "DocumentTokenEmbeddings_counts" (doc_id, token_rows) VALUES (NEW."DocRef", 1) ON CONFLICT (doc_id) DO UPDATE SET token_rows = token_rows + 1;END',
    ],
  );
  assert.ok(
    counterMigration(names).includes(
      'INSERT INTO "RAG"."DocumentTokenEmbeddings_counts" (doc_id, token_rows) SELECT "DocRef", COUNT(*) FROM "RAG"."DocumentTokenEmbeddings" GROUP BY "DocRef"',
    ),
  );
  // The inspection statements that read it: one seek into the counts table per document.
  const d = new SqliteDialect(names);
  const F = d.idFilter('i.value', ['PMC1']);
  assert.equal(
    d.countTokens(true),
    'SELECT COALESCE(SUM(token_rows), 0) AS token_rows, COUNT(*) AS docs FROM (SELECT doc_id, token_rows FROM "RAG"."DocumentTokenEmbeddings_counts" WHERE token_rows <> 0) k',
  );
  assert.match(
    d.embeddingStatesJoined(F, true),
    / COALESCE\(\(SELECT k\.token_rows FROM "RAG"\."DocumentTokenEmbeddings_counts" k WHERE k\.doc_id = i\.value\), 0\) AS token_rows, /,
  );
  assert.doesNotMatch(d.embeddingStatesJoined(F, true), /COUNT\(\*\)/);
  assert.match(
    d.embeddingStatesJoined(F, false),
    /SELECT COUNT\(\*\) FROM "RAG"\."DocumentTokenEmbeddings" e WHERE e\."DocRef" = i\.value/,
  );
});

test('PostgreSQL counter: statement triggers with transition tables, the mapped doc id, grouped in doc_id order', () => {
  const k = pgCounter(names);
  assert.deepEqual(
    k.triggers.map((t) => t.create),
    [
      'CREATE TRIGGER "DocumentTokenEmbeddings_counts_insert" AFTER INSERT ON "RAG"."DocumentTokenEmbeddings" REFERENCING NEW TABLE AS new_rows ' +
        'FOR EACH STATEMENT EXECUTE FUNCTION "RAG"."DocumentTokenEmbeddings_counts_change"()',
      'CREATE TRIGGER "DocumentTokenEmbeddings_counts_delete" AFTER DELETE ON "RAG"."DocumentTokenEmbeddings" REFERENCING OLD TABLE AS old_rows ' +
        'FOR EACH STATEMENT EXECUTE FUNCTION "RAG"."DocumentTokenEmbeddings_counts_change"()',
      'CREATE TRIGGER "DocumentTokenEmbeddings_counts_update" AFTER UPDATE ON "RAG"."DocumentTokenEmbeddings" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows ' +
        'FOR EACH STATEMENT EXECUTE FUNCTION "RAG"."DocumentTokenEmbeddings_counts_change"()',
      'CREATE TRIGGER "DocumentTokenEmbeddings_counts_truncate" AFTER TRUNCATE ON "RAG"."DocumentTokenEmbeddings" ' +
        'FOR EACH STATEMENT EXECUTE FUNCTION "RAG"."DocumentTokenEmbeddings_counts_change"()',
    ],
  );
  assert.equal(
    k.body,
    ` BEGIN IF TG_OP = 'TRUNCATE' THEN DELETE FROM "RAG"."DocumentTokenEmbeddings_counts";RETURN NULL;END IF;` +
      `IF TG_OP IN ('DELETE', 'UPDATE') THEN UPDATE "RAG"."DocumentTokenEmbeddings_counts" c SET token_rows = c.token_rows - o.n ` +
      `FROM (SELECT "DocRef" AS doc_id, COUNT(*) AS n FROM old_rows GROUP BY 1 ORDER BY 1) o WHERE c.doc_id = o.doc_id;END IF;` +
      `IF TG_OP IN ('INSERT', 'UPDATE') THEN INSERT INTO "RAG"."DocumentTokenEmbeddings_counts" AS c (doc_id, token_rows) ` +
      `SELECT "DocRef" AS doc_id, COUNT(*) AS n FROM new_rows GROUP BY 1 ORDER BY 1 ` +
      `ON CONFLICT (doc_id) DO UPDATE SET token_rows = c.token_rows + EXCLUDED.token_rows;END IF;RETURN NULL;END `,
  );
  const d = new PostgresDialect(names);
  const K = d.idFilter('k.doc_id', ['PMC1']);
  assert.equal(
    d.tokenCounts(K, true),
    'SELECT k.doc_id, k.token_rows, (SELECT MIN(e.pos) FROM "RAG"."DocumentTokenEmbeddings" e WHERE e."DocRef" = k.doc_id) AS first_index, ' +
      '(SELECT MAX(e.pos) FROM "RAG"."DocumentTokenEmbeddings" e WHERE e."DocRef" = k.doc_id) AS last_index ' +
      `FROM "RAG"."DocumentTokenEmbeddings_counts" k WHERE ${K.sql} AND k.token_rows <> 0`,
  );
  assert.equal(
    d.orphans(true),
    'SELECT o.doc_id FROM (SELECT doc_id FROM (SELECT doc_id, token_rows FROM "RAG"."DocumentTokenEmbeddings_counts" WHERE token_rows <> 0) k ' +
      'UNION SELECT doc_id FROM "RAG"."DocumentEmbeddingLedger") o WHERE NOT EXISTS (SELECT 1 FROM "RAG"."SourceDocuments" d WHERE d.pmcid = o.doc_id)',
  );
});

test('IRIS keeps no counter (none can be tried here): its inspection counts the token rows, as before', () => {
  const d = new IrisDialect(names);
  assert.equal(d.countsTable, null);
  assert.match(
    d.countTokens(),
    /^SELECT COUNT\(\*\) AS token_rows, COUNT\(DISTINCT DocRef\) AS docs FROM RAG\.DocumentTokenEmbeddings$/,
  );
});
