/**
 * The IRIS SQL, pinned as exact text. No IRIS server can be had where this is built and tested: the code that
 * runs these statements is the ODBC path the conformance suite runs for real on PostgreSQL's and SQLite's
 * ODBC drivers; what is IRIS-specific is this text, so any change to it must be deliberate (and checked on a
 * real IRIS: see docs/databases.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IRIS_IN_LIST_SIZE,
  IRIS_PROBE_ID,
  IrisDialect,
  isTransientIrisError,
} from '../../src/store/dialects/iris.ts';
import { tableNames } from '../../src/store/sql/dialect.ts';

const d = new IrisDialect(tableNames({}));
const F = d.idFilter('doc_id', ['PMC1', 'PMC2', 'PMC3']);
const IN = `doc_id IN (${Array(100).fill('?').join(', ')})`;

test('IRIS: DDL of every object (schema-qualified, VECTOR(FLOAT, n), %EXACT ids, the content-change trigger)', () => {
  assert.deepEqual(
    d.schemaObjects({ dimension: 768 }).map((o) => [o.kind, o.object, o.sql]),
    [
      [
        'table',
        'RAG.SourceDocuments',
        'CREATE TABLE RAG.SourceDocuments (doc_id VARCHAR(255) COLLATE %EXACT NOT NULL PRIMARY KEY, title VARCHAR(4000), ' +
          'abstract VARCHAR(65535), authors LONGVARCHAR, keywords LONGVARCHAR, pub_date VARCHAR(32), origin VARCHAR(4000), ' +
          'content_hash VARCHAR(64) COLLATE %EXACT, loaded_at VARCHAR(32), text_content LONGVARCHAR)',
      ],
      [
        'table',
        'RAG.DocumentTokenEmbeddings',
        'CREATE TABLE RAG.DocumentTokenEmbeddings (doc_id VARCHAR(255) COLLATE %EXACT NOT NULL, token_index INTEGER NOT NULL, ' +
          'token_text VARCHAR(1000) NOT NULL, token_embedding VECTOR(FLOAT, 768) NOT NULL, PRIMARY KEY (doc_id, token_index))',
      ],
      [
        'table',
        'RAG.DocumentEmbeddingLedger',
        'CREATE TABLE RAG.DocumentEmbeddingLedger (doc_id VARCHAR(255) COLLATE %EXACT NOT NULL PRIMARY KEY, model_fingerprint VARCHAR(255) NOT NULL, ' +
          'content_hash VARCHAR(64) COLLATE %EXACT NOT NULL, token_count INTEGER NOT NULL, dimension INTEGER NOT NULL, embedded_at VARCHAR(32) NOT NULL)',
      ],
      [
        'trigger',
        'RAG.SourceDocuments_content_changed',
        'CREATE TRIGGER RAG.SourceDocuments_content_changed AFTER UPDATE OF abstract ON RAG.SourceDocuments ' +
          'REFERENCING OLD ROW AS o NEW ROW AS n FOR EACH ROW ' +
          'WHEN (%EXACT(n.abstract) <> %EXACT(o.abstract) AND n.content_hash = o.content_hash) LANGUAGE SQL ' +
          'BEGIN UPDATE RAG.SourceDocuments SET content_hash = NULL WHERE doc_id = n.doc_id; END',
      ],
    ],
  );
  assert.equal(
    d.rebuildTokens(384),
    'DROP TABLE RAG.DocumentTokenEmbeddings; DELETE FROM RAG.DocumentEmbeddingLedger; ' +
      'CREATE TABLE RAG.DocumentTokenEmbeddings (doc_id VARCHAR(255) COLLATE %EXACT NOT NULL, token_index INTEGER NOT NULL, ' +
      'token_text VARCHAR(1000) NOT NULL, token_embedding VECTOR(FLOAT, 384) NOT NULL, PRIMARY KEY (doc_id, token_index))',
  );
});

test('IRIS: inspection set queries', () => {
  assert.equal(
    d.countDocuments(),
    'SELECT COUNT(*) AS documents, COALESCE(SUM(CASE WHEN LENGTH(TRIM(abstract)) > 0 THEN 1 ELSE 0 END), 0) AS with_abstract FROM RAG.SourceDocuments',
  );
  assert.equal(
    d.countTokens(),
    'SELECT COUNT(*) AS token_rows, COUNT(DISTINCT doc_id) AS docs FROM RAG.DocumentTokenEmbeddings',
  );
  assert.equal(
    d.orphans(),
    'SELECT o.doc_id FROM (SELECT doc_id FROM RAG.DocumentTokenEmbeddings UNION SELECT doc_id FROM RAG.DocumentEmbeddingLedger) o ' +
      'WHERE NOT EXISTS (SELECT 1 FROM RAG.SourceDocuments d WHERE d.doc_id = o.doc_id)',
  );
  assert.equal(
    d.candidates(),
    'SELECT doc_id, pub_date, n AS abstract_length, CASE WHEN n < 64 THEN TRIM(abstract) ELSE NULL END AS short_abstract ' +
      'FROM (SELECT doc_id, pub_date, abstract, LENGTH(TRIM(abstract)) AS n FROM RAG.SourceDocuments) c WHERE n > 0',
  );
  assert.equal(d.documentHashes(F), `SELECT doc_id, content_hash FROM RAG.SourceDocuments WHERE ${IN}`);
  assert.equal(
    d.ledgerRows(F),
    `SELECT doc_id, model_fingerprint, content_hash, token_count, dimension, embedded_at FROM RAG.DocumentEmbeddingLedger WHERE ${IN}`,
  );
  assert.equal(
    d.tokenCounts(F),
    `SELECT doc_id, COUNT(*) AS token_rows FROM RAG.DocumentTokenEmbeddings WHERE ${IN} GROUP BY doc_id`,
  );
  assert.equal(d.existingIds(F), `SELECT doc_id FROM RAG.SourceDocuments WHERE ${IN}`);
  assert.equal(d.texts(F), `SELECT doc_id, abstract, content_hash FROM RAG.SourceDocuments WHERE ${IN}`);
});

test('IRIS: id lists are IN lists of exactly 100 markers, padded with the last id; longer lists are refused', () => {
  assert.equal(IRIS_IN_LIST_SIZE, 100);
  assert.equal(d.idChunk, 100);
  assert.equal(F.sql, IN);
  assert.deepEqual(F.params, ['PMC1', 'PMC2', 'PMC3', ...Array(97).fill('PMC3')]);
  assert.equal(
    d.idFilter(
      'doc_id',
      Array.from({ length: 100 }, (_, i) => `D${i}`),
    ).params.length,
    100,
  );
  assert.throws(
    () =>
      d.idFilter(
        'doc_id',
        Array.from({ length: 101 }, (_, i) => `D${i}`),
      ),
    /at most 100 ids/,
  );
});

test('IRIS: writes — INSERT OR UPDATE upserts, TO_VECTOR(?, FLOAT, n) with a comma-separated string, one row per INSERT', () => {
  assert.equal(
    d.fillContentHash(),
    'UPDATE RAG.SourceDocuments SET content_hash = ? WHERE doc_id = ? AND content_hash IS NULL AND %EXACT(abstract) = ?',
  );
  assert.equal(
    d.fillContentHash({ nullAbstract: true }),
    'UPDATE RAG.SourceDocuments SET content_hash = ? WHERE doc_id = ? AND content_hash IS NULL AND abstract IS NULL',
  );
  assert.equal(
    d.upsertDocument(),
    'INSERT OR UPDATE INTO RAG.SourceDocuments (doc_id, title, abstract, authors, keywords, pub_date, origin, content_hash, loaded_at, text_content) ' +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  assert.equal(
    d.upsertLedger(),
    'INSERT OR UPDATE INTO RAG.DocumentEmbeddingLedger (doc_id, model_fingerprint, content_hash, token_count, dimension, embedded_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  assert.equal(d.deleteTokensOfDocument(), 'DELETE FROM RAG.DocumentTokenEmbeddings WHERE doc_id = ?');
  assert.equal(d.deleteTokens(F), `DELETE FROM RAG.DocumentTokenEmbeddings WHERE ${IN}`);
  assert.equal(d.deleteLedger(F), `DELETE FROM RAG.DocumentEmbeddingLedger WHERE ${IN}`);
  assert.equal(d.tokenRowsPerInsert, 1);
  assert.equal(
    d.insertTokens(1, 768),
    'INSERT INTO RAG.DocumentTokenEmbeddings (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, TO_VECTOR(?, FLOAT, 768))',
  );
  const e = {
    docId: 'PMC1',
    tokens: ['a', '##b'],
    vectors: new Float32Array([0.1, -2, 3.5e-8, 1, 0, 1 / 3]),
    dimension: 3,
  };
  assert.deepEqual(d.tokenParams(e, 0), ['PMC1', 0, 'a', '0.100000001,-2,3.49999993E-8']);
  assert.deepEqual(d.tokenParams(e, 1), ['PMC1', 1, '##b', '1,0,0.333333343']);
  // every value read back as a float32 is the float32 written
  assert.deepEqual(
    `${d.tokenParams(e, 0)[3]},${d.tokenParams(e, 1)[3]}`.split(',').map((x) => Math.fround(Number(x))),
    [...e.vectors],
  );
});

test('IRIS: schema introspection and the dimension probe', () => {
  assert.equal(d.tablesQuery(), 'SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ?');
  assert.equal(
    d.columnsQuery(),
    'SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ?',
  );
  assert.equal(
    d.triggersQuery(),
    'SELECT TRIGGER_NAME FROM INFORMATION_SCHEMA.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?',
  );
  assert.equal(d.probeInsert(768), d.insertTokens(1, 768));
  assert.equal(d.probeLeftover(), 'SELECT TOP 1 doc_id FROM RAG.DocumentTokenEmbeddings WHERE doc_id = ?');
  assert.equal(IRIS_PROBE_ID, '~datastate-schema-probe');
});

test('IRIS: a read-only pass (ValidateOnly, DryRun) does not probe with an INSERT', async () => {
  const { openOdbcStore } = await import('../../src/store/odbc.ts');
  const ro = openOdbcStore({ connectionString: 'DSN=IRIS;UID=u;PWD=p', readOnly: true });
  const rw = openOdbcStore({ connectionString: 'DSN=IRIS;UID=u;PWD=p' });
  assert.equal((ro.sql as IrisDialect).probe, false);
  assert.equal((rw.sql as IrisDialect).probe, true);
  await ro.close();
  await rw.close();
});

test('IRIS: no statement uses LIMIT, OFFSET or FETCH, quoted identifiers or $n markers', () => {
  const all = [
    ...d.schemaObjects({ dimension: 768 }).map((o) => o.sql),
    d.countDocuments(),
    d.countTokens(),
    d.orphans(),
    d.candidates(),
    d.documentHashes(F),
    d.ledgerRows(F),
    d.tokenCounts(F),
    d.existingIds(F),
    d.texts(F),
    d.fillContentHash(),
    d.fillContentHash({ nullAbstract: true }),
    d.upsertDocument(),
    d.upsertLedger(),
    d.deleteTokensOfDocument(),
    d.deleteTokens(F),
    d.deleteLedger(F),
    d.insertTokens(1, 768),
    d.tablesQuery(),
    d.columnsQuery(),
    d.triggersQuery(),
    d.probeLeftover(),
  ];
  for (const sql of all) {
    assert.doesNotMatch(sql, /\b(LIMIT|OFFSET|FETCH)\b/i, sql);
    assert.doesNotMatch(sql, /["`$]/, sql);
  }
});

test('IRIS: custom schema and table names are qualified the IRIS way', () => {
  const c = new IrisDialect(
    tableNames({
      schema: 'EVAL',
      tables: { sourceDocuments: 'Docs', tokenEmbeddings: 'Toks', ledger: 'Led' },
    }),
  );
  assert.equal(c.t.docs, 'EVAL.Docs');
  assert.equal(
    c.insertTokens(1, 4),
    'INSERT INTO EVAL.Toks (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, TO_VECTOR(?, FLOAT, 4))',
  );
  assert.match(
    c.schemaObjects({ dimension: 4 })[3]!.sql,
    /^CREATE TRIGGER EVAL\.Docs_content_changed AFTER UPDATE OF abstract ON EVAL\.Docs /,
  );
  assert.throws(() => tableNames({ schema: 'RAG; DROP TABLE x' }), /invalid SQL identifier/);
});

test('IRIS: transient errors are lock timeouts, locked rows and lost connections', () => {
  const odbc = (state: string, code: number, message = 'x') =>
    Object.assign(new Error('[odbc] Error executing the sql statement'), {
      odbcErrors: [{ state, code, message }],
    });
  assert.equal(isTransientIrisError(odbc('HY000', -110, '[SQLCODE: <-110>:<Lock timeout occurred>]')), true);
  assert.equal(isTransientIrisError(odbc('HY000', -114)), true);
  assert.equal(isTransientIrisError(odbc('08S01', 0, 'Communication link failure')), true);
  assert.equal(
    isTransientIrisError(odbc('23000', -119, 'UNIQUE or PRIMARY KEY Constraint failed uniqueness check')),
    false,
  );
  assert.equal(isTransientIrisError(odbc('HY000', -30, 'Table not found')), false);
  assert.equal(isTransientIrisError(new Error('plain')), false);
});
