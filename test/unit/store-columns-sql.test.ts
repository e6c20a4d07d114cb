/**
 * Column mapping (spec.database.columns) in the SQL of every dialect, pinned as exact text for the original
 * project's two token tables:
 *   orchestrator  RAG.DocumentTokenEmbeddings(doc_id, token_index, token_text, token_embedding VECTOR(FLOAT, 384))
 *   ColBERT       RAG.DocumentTokenEmbeddings(doc_id VARCHAR(64), tok_pos INTEGER, tok_text VARCHAR(64),
 *                 tok_vec VECTOR(FLOAT, 128), centroid_id INTEGER, PRIMARY KEY (doc_id, tok_pos))
 * and for a map that renames every column (doc ids too), so each statement is seen to use the map. IRIS cannot
 * be run here: these pins are its test (docs/databases.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrisDialect } from '../../src/store/dialects/iris.ts';
import { PostgresDialect } from '../../src/store/dialects/postgres.ts';
import { SqliteDialect, sqliteSchemaObjects } from '../../src/store/dialects/sqlite.ts';
import { tableNames } from '../../src/store/sql/dialect.ts';
import { ALL_RENAMED as ALL, COLBERT_COLUMNS as COLBERT } from '../helpers/column-maps.ts';

const e = {
  docId: 'PMC1',
  tokens: ['[CLS]', '[unused1]'],
  vectors: new Float32Array([1, 0, 0, 1]),
  dimension: 2,
};

test('IRIS, orchestrator table: the default column names at VECTOR(FLOAT, 384)', () => {
  const d = new IrisDialect(tableNames({}));
  assert.equal(
    d.createTokens(384),
    'CREATE TABLE RAG.DocumentTokenEmbeddings (doc_id VARCHAR(255) COLLATE %EXACT NOT NULL, token_index INTEGER NOT NULL, ' +
      'token_text VARCHAR(1000) NOT NULL, token_embedding VECTOR(FLOAT, 384) NOT NULL, PRIMARY KEY (doc_id, token_index))',
  );
  assert.equal(
    d.insertTokens(1, 384),
    'INSERT INTO RAG.DocumentTokenEmbeddings (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, TO_VECTOR(?, FLOAT, 384))',
  );
  // The orchestrator's DDL has FOREIGN KEY (doc_id) REFERENCES RAG.SourceDocuments(doc_id): the dimension probe
  // first inserts its probe document (same transaction, always rolled back), so the key holds.
  assert.equal(d.probeDocument(), 'INSERT INTO RAG.SourceDocuments (doc_id) VALUES (?)');
  assert.equal(d.probeLeftover(), 'SELECT TOP 1 doc_id FROM RAG.DocumentTokenEmbeddings WHERE doc_id = ?');
});

test('IRIS, ColBERT table: tok_pos, tok_text, tok_vec in every token statement; centroid_id never named', () => {
  const d = new IrisDialect(tableNames({ columns: COLBERT }));
  const F = d.idFilter(d.c.tokens.docId, ['PMC1']);
  const IN = `doc_id IN (${Array(100).fill('?').join(', ')})`;
  assert.equal(F.sql, IN);
  assert.equal(
    d.createTokens(128),
    'CREATE TABLE RAG.DocumentTokenEmbeddings (doc_id VARCHAR(255) COLLATE %EXACT NOT NULL, tok_pos INTEGER NOT NULL, ' +
      'tok_text VARCHAR(1000) NOT NULL, tok_vec VECTOR(FLOAT, 128) NOT NULL, PRIMARY KEY (doc_id, tok_pos))',
  );
  assert.equal(
    d.insertTokens(1, 128),
    'INSERT INTO RAG.DocumentTokenEmbeddings (doc_id, tok_pos, tok_text, tok_vec) VALUES (?, ?, ?, TO_VECTOR(?, FLOAT, 128))',
  );
  assert.deepEqual(d.tokenParams(e, 1), ['PMC1', 1, '[unused1]', '0,1']);
  assert.equal(
    d.countTokens(),
    'SELECT COUNT(*) AS token_rows, COUNT(DISTINCT doc_id) AS docs FROM RAG.DocumentTokenEmbeddings',
  );
  assert.equal(
    d.tokenCounts(F),
    `SELECT doc_id, COUNT(*) AS token_rows FROM RAG.DocumentTokenEmbeddings WHERE ${IN} GROUP BY doc_id`,
  );
  assert.equal(d.deleteTokensOfDocument(), 'DELETE FROM RAG.DocumentTokenEmbeddings WHERE doc_id = ?');
  assert.equal(
    d.rebuildTokens(128),
    'DROP TABLE RAG.DocumentTokenEmbeddings; DELETE FROM RAG.DocumentEmbeddingLedger; ' + d.createTokens(128),
  );
  assert.equal(d.probeInsert(128), d.insertTokens(1, 128));
  const all = d.schemaObjects({ dimension: 128 }).map((o) => o.sql);
  for (const sql of all) assert.doesNotMatch(sql, /centroid_id|token_index|token_embedding/);
});

test('IRIS: a map of every column, doc ids too, in inspection, writes, the trigger and the fixes', () => {
  const d = new IrisDialect(tableNames({ columns: ALL }));
  const D = d.idFilter(d.c.docs.docId, ['PMC1']);
  const T = d.idFilter(d.c.tokens.docId, ['PMC1']);
  const L = d.idFilter('doc_id', ['PMC1']);
  const marks = Array(100).fill('?').join(', ');
  assert.equal(D.sql, `pmcid IN (${marks})`);
  assert.equal(T.sql, `DocRef IN (${marks})`);
  assert.equal(
    d.countDocuments(),
    'SELECT COUNT(*) AS documents, COALESCE(SUM(CASE WHEN LENGTH(TRIM(summary)) > 0 THEN 1 ELSE 0 END), 0) AS with_abstract FROM RAG.SourceDocuments',
  );
  assert.equal(
    d.countTokens(),
    'SELECT COUNT(*) AS token_rows, COUNT(DISTINCT DocRef) AS docs FROM RAG.DocumentTokenEmbeddings',
  );
  assert.equal(
    d.orphans(),
    'SELECT o.doc_id FROM (SELECT DocRef AS doc_id FROM RAG.DocumentTokenEmbeddings UNION SELECT doc_id FROM RAG.DocumentEmbeddingLedger) o ' +
      'WHERE NOT EXISTS (SELECT 1 FROM RAG.SourceDocuments d WHERE d.pmcid = o.doc_id)',
  );
  assert.equal(
    d.candidates(),
    'SELECT doc_id, pub_date, n AS abstract_length, CASE WHEN n < 64 THEN TRIM(abstract) ELSE NULL END AS short_abstract ' +
      'FROM (SELECT pmcid AS doc_id, published AS pub_date, summary AS abstract, LENGTH(TRIM(summary)) AS n FROM RAG.SourceDocuments) c WHERE n > 0',
  );
  assert.equal(
    d.documentHashes(D),
    `SELECT pmcid AS doc_id, summary_sha AS content_hash FROM RAG.SourceDocuments WHERE ${D.sql}`,
  );
  assert.equal(
    d.tokenCounts(T),
    `SELECT DocRef AS doc_id, COUNT(*) AS token_rows FROM RAG.DocumentTokenEmbeddings WHERE ${T.sql} GROUP BY DocRef`,
  );
  assert.equal(d.existingIds(D), `SELECT pmcid AS doc_id FROM RAG.SourceDocuments WHERE ${D.sql}`);
  assert.equal(
    d.texts(D),
    `SELECT pmcid AS doc_id, summary AS abstract, summary_sha AS content_hash FROM RAG.SourceDocuments WHERE ${D.sql}`,
  );
  assert.equal(d.ledgerRows(L).includes('FROM RAG.DocumentEmbeddingLedger WHERE doc_id IN'), true);
  assert.equal(
    d.fillContentHash(),
    'UPDATE RAG.SourceDocuments SET summary_sha = ? WHERE pmcid = ? AND summary_sha IS NULL AND %EXACT(summary) = ?',
  );
  assert.equal(
    d.upsertDocument(),
    'INSERT OR UPDATE INTO RAG.SourceDocuments (pmcid, doc_title, summary, author_list, kw, published, src, summary_sha, loaded, body) ' +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  assert.equal(d.deleteTokensOfDocument(), 'DELETE FROM RAG.DocumentTokenEmbeddings WHERE DocRef = ?');
  assert.equal(d.deleteTokens(T), `DELETE FROM RAG.DocumentTokenEmbeddings WHERE ${T.sql}`);
  assert.equal(
    d.insertTokens(1, 2),
    'INSERT INTO RAG.DocumentTokenEmbeddings (DocRef, pos, piece, vec) VALUES (?, ?, ?, TO_VECTOR(?, FLOAT, 2))',
  );
  assert.equal(d.probeDocument(), 'INSERT INTO RAG.SourceDocuments (pmcid) VALUES (?)');
  assert.equal(d.probeLeftover(), 'SELECT TOP 1 DocRef FROM RAG.DocumentTokenEmbeddings WHERE DocRef = ?');
  const [docs, tokens, , trigger] = d.schemaObjects({ dimension: 2 }).map((o) => o.sql);
  assert.equal(
    docs,
    'CREATE TABLE RAG.SourceDocuments (pmcid VARCHAR(255) COLLATE %EXACT NOT NULL PRIMARY KEY, doc_title VARCHAR(4000), ' +
      'summary VARCHAR(65535), author_list LONGVARCHAR, kw LONGVARCHAR, published VARCHAR(32), src VARCHAR(4000), ' +
      'summary_sha VARCHAR(64) COLLATE %EXACT, loaded VARCHAR(32), body LONGVARCHAR)',
  );
  assert.equal(
    tokens,
    'CREATE TABLE RAG.DocumentTokenEmbeddings (DocRef VARCHAR(255) COLLATE %EXACT NOT NULL, pos INTEGER NOT NULL, ' +
      'piece VARCHAR(1000) NOT NULL, vec VECTOR(FLOAT, 2) NOT NULL, PRIMARY KEY (DocRef, pos))',
  );
  assert.equal(
    trigger,
    'CREATE TRIGGER RAG.SourceDocuments_content_changed AFTER UPDATE OF summary ON RAG.SourceDocuments ' +
      'REFERENCING OLD ROW AS o NEW ROW AS n FOR EACH ROW ' +
      'WHEN (%EXACT(n.summary) <> %EXACT(o.summary) AND n.summary_sha = o.summary_sha) LANGUAGE SQL ' +
      'BEGIN UPDATE RAG.SourceDocuments SET summary_sha = NULL WHERE pmcid = n.pmcid; END',
  );
});

test('PostgreSQL: mapped columns, quoted when not lower case (PostgreSQL folds bare names)', () => {
  const c = new PostgresDialect(tableNames({ columns: COLBERT }));
  assert.equal(
    c.insertTokens(1),
    'INSERT INTO "RAG"."DocumentTokenEmbeddings" (doc_id, tok_pos, tok_text, tok_vec) VALUES (?, ?, ?, CAST(? AS real[]))',
  );
  assert.equal(
    c.copyTokens(),
    'COPY "RAG"."DocumentTokenEmbeddings" (doc_id, tok_pos, tok_text, tok_vec) FROM STDIN (FORMAT binary)',
  );
  const tokens = c.schemaObjects({ dimension: 128 }, 'vector').find((o) => o.table === 'tokens')!;
  assert.equal(
    tokens.sql,
    'CREATE TABLE "RAG"."DocumentTokenEmbeddings" (doc_id text NOT NULL, tok_pos integer NOT NULL, tok_text text NOT NULL, ' +
      'tok_vec vector(128) NOT NULL, PRIMARY KEY (doc_id, tok_pos))',
  );
  const arr = c.schemaObjects({ dimension: 128 }, 'real[]').find((o) => o.table === 'tokens')!;
  assert.equal(
    arr.sql,
    'CREATE TABLE "RAG"."DocumentTokenEmbeddings" (doc_id text NOT NULL, tok_pos integer NOT NULL, tok_text text NOT NULL, ' +
      'tok_vec real[] NOT NULL CONSTRAINT "DocumentTokenEmbeddings_dimension" CHECK (array_ndims(tok_vec) = 1 AND cardinality(tok_vec) = 128), ' +
      'PRIMARY KEY (doc_id, tok_pos)); ALTER TABLE "RAG"."DocumentTokenEmbeddings" ALTER COLUMN tok_vec SET STORAGE EXTERNAL',
  );
  const a = new PostgresDialect(tableNames({ columns: ALL }));
  assert.equal(
    a.insertTokens(1),
    'INSERT INTO "RAG"."DocumentTokenEmbeddings" ("DocRef", pos, piece, vec) VALUES (?, ?, ?, CAST(? AS real[]))',
  );
  assert.equal(a.deleteTokensOfDocument(), 'DELETE FROM "RAG"."DocumentTokenEmbeddings" WHERE "DocRef" = ?');
  assert.match(a.upsertDocument(), /^INSERT INTO "RAG"."SourceDocuments" \(pmcid, doc_title, summary, /);
  assert.match(a.upsertDocument(), /ON CONFLICT \(pmcid\) DO UPDATE SET doc_title = EXCLUDED\.doc_title, /);
  const trigger = a.schemaObjects({ dimension: 2 }).find((o) => o.kind === 'function')!;
  assert.match(
    trigger.sql,
    /IF NEW\.summary IS DISTINCT FROM OLD\.summary AND NEW\.summary_sha IS NOT DISTINCT FROM OLD\.summary_sha THEN NEW\.summary_sha := NULL/,
  );
});

test('SQLite: mapped columns in the DDL (the length CHECK on the mapped vector column), writes and the trigger', () => {
  const names = tableNames({ columns: COLBERT });
  const [, tokens] = sqliteSchemaObjects(names, { dimension: 128 });
  assert.equal(
    tokens!.sql,
    'CREATE TABLE "RAG"."DocumentTokenEmbeddings" (doc_id TEXT NOT NULL, tok_pos INTEGER NOT NULL, tok_text TEXT NOT NULL, ' +
      'tok_vec BLOB NOT NULL CHECK (length(tok_vec) = 512), PRIMARY KEY (doc_id, tok_pos))',
  );
  const d = new SqliteDialect(names);
  assert.equal(
    d.insertTokens(2),
    'INSERT INTO "RAG"."DocumentTokenEmbeddings" (doc_id, tok_pos, tok_text, tok_vec) VALUES (?, ?, ?, ?), (?, ?, ?, ?)',
  );
  const a = sqliteSchemaObjects(tableNames({ columns: ALL }), { dimension: 2 });
  assert.equal(
    a[3]!.sql,
    'CREATE TRIGGER "RAG"."SourceDocuments_content_changed" AFTER UPDATE OF summary ON "SourceDocuments" ' +
      'WHEN NEW.summary IS NOT OLD.summary AND NEW.summary_sha IS OLD.summary_sha ' +
      'BEGIN UPDATE "SourceDocuments" SET summary_sha = NULL WHERE pmcid = NEW.pmcid; END',
  );
});
