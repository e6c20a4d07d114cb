/**
 * The store with mapped column names (spec.database.columns) on every database we can run: the embedded SQLite
 * store, SQLite and PostgreSQL over ODBC, PostgreSQL through `pg`, PGlite with pgvector. The SQL of IRIS, which
 * we cannot run, is pinned in test/unit/store-columns-sql.test.ts.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DocumentWrite, EmbeddingWrite } from '../../src/core/store-port.ts';
import { contentHash } from '../../src/store/content-hash.ts';
import type { TableNameOptions } from '../../src/store/sql/dialect.ts';
import { BACKENDS, closeShared, openTestDb, skipReason, type TestDb } from '../helpers/databases.ts';
import { ALL_RENAMED as ALL, COLBERT_COLUMNS as COLBERT } from '../helpers/column-maps.ts';

const DIM = 4;

const doc = (docId: string, abstract: string): DocumentWrite => ({
  docId,
  title: `T ${docId}`,
  abstract,
  textContent: 'body',
  authors: ['A'],
  keywords: ['k'],
  pubDate: '2020-01-01',
  contentHash: contentHash(abstract),
});

const emb = (docId: string, n: number, hash: string): EmbeddingWrite => ({
  embedding: {
    docId,
    tokens: Array.from({ length: n }, (_, i) => `t${i}`),
    vectors: new Float32Array(n * DIM).map((_, i) => i / 8),
    dimension: DIM,
  },
  ledger: {
    docId,
    modelFingerprint: 'fp',
    contentHash: hash,
    tokenCount: n,
    dimension: DIM,
    embeddedAt: 'now',
  },
});

after(closeShared);

/** A column reference in raw SQL of this backend (PostgreSQL folds bare names, so mixed case is quoted). */
const q = (db: TestDb, name: string) =>
  /^[a-z_][a-z0-9_]*$/.test(name) ? name : db.name.includes('sqlite') ? name : `"${name}"`;

for (const backend of BACKENDS) {
  describe(`mapped columns: ${backend}`, { skip: skipReason(backend) }, () => {
    for (const [label, columns] of [
      ['the ColBERT token table (tok_pos, tok_text, tok_vec)', COLBERT],
      ['every column renamed, doc ids too', ALL],
    ] as const) {
      test(label, async () => {
        const names: TableNameOptions = { columns };
        const db = await openTestDb(backend, names);
        const store = db.store;
        try {
          const expect = { dimension: DIM };
          assert.equal((await store.checkSchema(expect)).empty, true);
          await store.createSchema(expect);
          const report = await store.checkSchema(expect);
          assert.deepEqual(report.problems, []);

          await store.upsertDocuments([doc('PMC1', 'first abstract'), doc('PMC2', 'second abstract')]);
          const texts = await store.readTexts(['PMC1', 'PMC2', 'PMC9']);
          assert.deepEqual(
            texts.map((t) => [t.docId, t.text]),
            [
              ['PMC1', 'first abstract'],
              ['PMC2', 'second abstract'],
            ],
          );
          assert.deepEqual(
            (await store.candidates()).map((c) => [c.docId, c.pubDate]),
            [
              ['PMC1', '2020-01-01'],
              ['PMC2', '2020-01-01'],
            ],
          );
          await store.writeEmbeddings([
            emb('PMC1', 3, contentHash('first abstract')),
            emb('PMC2', 2, contentHash('second abstract')),
          ]);
          const counts = await store.counts();
          assert.deepEqual([counts.documents, counts.documentsWithTokens, counts.tokenRows], [2, 2, 5]);
          assert.deepEqual(
            (await store.embeddingStates(['PMC1', 'PMC2'])).map((s) => [s.docId, s.tokenRows, s.contentHash]),
            [
              ['PMC1', 3, contentHash('first abstract')],
              ['PMC2', 2, contentHash('second abstract')],
            ],
          );
          assert.deepEqual([...(await store.existingDocIds(['PMC1', 'PMC3']))], ['PMC1']);

          // The rows are in the mapped columns.
          const t: { docId?: string; tokenIndex: string; tokenText: string } = columns.tokenEmbeddings;
          const rows = await db.raw(
            `SELECT ${q(db, t.docId ?? 'doc_id')} AS d, ${t.tokenIndex} AS i, ${t.tokenText} AS x FROM "RAG"."DocumentTokenEmbeddings" ORDER BY 1, 2`,
          );
          assert.deepEqual(
            rows.map((r) => [String(r.d), Number(r.i), String(r.x)]),
            [
              ['PMC1', 0, 't0'],
              ['PMC1', 1, 't1'],
              ['PMC1', 2, 't2'],
              ['PMC2', 0, 't0'],
              ['PMC2', 1, 't1'],
            ],
          );

          // The content-change trigger watches the mapped abstract and clears the mapped hash.
          const docs = (columns as Partial<typeof ALL>).sourceDocuments;
          const [a, id] = [docs?.abstract ?? 'abstract', docs?.docId ?? 'doc_id'];
          await db.raw(
            `UPDATE "RAG"."SourceDocuments" SET ${a} = 'changed behind our back' WHERE ${id} = 'PMC2'`,
          );
          const [s2] = await store.embeddingStates(['PMC2']);
          assert.equal(s2!.contentHash, null, 'the trigger cleared the hash');
          const [again] = await store.readTexts(['PMC2']);
          assert.equal(again!.contentHash, contentHash('changed behind our back'));

          // Orphans: a document deleted out of band leaves its token rows, found through the mapped doc id.
          await db.raw(`DELETE FROM "RAG"."SourceDocuments" WHERE ${id} = 'PMC1'`);
          assert.deepEqual((await store.counts()).orphanDocIds, ['PMC1']);
          await store.deleteEmbeddings(['PMC1']);
          const after = await store.counts();
          assert.deepEqual([after.orphanDocIds, after.tokenRows], [[], 2]);
        } finally {
          await db.cleanup();
        }
      });
    }

    test('the ColBERT DDL made by hand (with centroid_id): schema intact, rows written, centroid_id left NULL', async () => {
      const db = await openTestDb(backend, { columns: COLBERT });
      try {
        const pgLike = !backend.includes('sqlite');
        const vec = pgLike
          ? backend === 'pglite'
            ? 'vector(4)'
            : 'real[] CHECK (cardinality(tok_vec) = 4)'
          : 'BLOB CHECK (length(tok_vec) = 16)';
        if (pgLike) await db.raw('CREATE SCHEMA "RAG"');
        if (backend === 'pglite') await db.raw('CREATE EXTENSION IF NOT EXISTS vector');
        await db.raw(
          `CREATE TABLE "RAG"."DocumentTokenEmbeddings" (doc_id VARCHAR(64) NOT NULL, tok_pos INTEGER NOT NULL, ` +
            `tok_text VARCHAR(64), tok_vec ${vec} NOT NULL, centroid_id INTEGER, PRIMARY KEY (doc_id, tok_pos))`,
        );
        const expect = { dimension: DIM };
        await db.store.createSchema(expect);
        assert.deepEqual((await db.store.checkSchema(expect)).problems, []);
        await db.store.upsertDocuments([doc('PMC1', 'x abstract')]);
        await db.store.writeEmbeddings([emb('PMC1', 3, contentHash('x abstract'))]);
        const rows = await db.raw(
          'SELECT tok_pos AS i, centroid_id AS c FROM "RAG"."DocumentTokenEmbeddings" ORDER BY tok_pos',
        );
        assert.deepEqual(
          rows.map((r) => [Number(r.i), r.c]),
          [
            [0, null],
            [1, null],
            [2, null],
          ],
        );
        // The wrong dimension is still caught on the mapped column.
        const wrong = await db.store.checkSchema({ dimension: 8 });
        assert.ok(
          wrong.problems.some(
            (p) => p.object === 'RAG.DocumentTokenEmbeddings.tok_vec' && /dimension is 4/.test(p.problem),
          ),
          JSON.stringify(wrong.problems),
        );
        // A mapped column the table lacks is named in the problem and its fix.
        await db.raw('DROP TABLE "RAG"."DocumentTokenEmbeddings"');
        await db.raw(
          `CREATE TABLE "RAG"."DocumentTokenEmbeddings" (doc_id VARCHAR(64) NOT NULL, token_index INTEGER NOT NULL, ` +
            `tok_text VARCHAR(64), tok_vec ${vec} NOT NULL, PRIMARY KEY (doc_id, token_index))`,
        );
        const missing = await db.store.checkSchema(expect);
        const p = missing.problems.find((x) => x.object === 'RAG.DocumentTokenEmbeddings.tok_pos');
        assert.ok(p, JSON.stringify(missing.problems));
        assert.equal(p.problem, 'column does not exist');
        assert.match(p.fix, /ADD COLUMN "?tok_pos"? /);
      } finally {
        await db.cleanup();
      }
    });
  });
}

test('SQLite has no schemas: a table named "RAG.DocumentTokenEmbeddings" (the dot in its name) is not taken for RAG.DocumentTokenEmbeddings', async () => {
  const db = await openTestDb('sqlite', { columns: COLBERT });
  try {
    // As `sqlite3 file.db 'CREATE TABLE "RAG.DocumentTokenEmbeddings" (...)'` would make it, in the same file.
    await db.raw(
      'CREATE TABLE "RAG"."RAG.DocumentTokenEmbeddings" (doc_id TEXT, tok_pos INTEGER, tok_text TEXT, tok_vec BLOB)',
    );
    const r = await db.store.checkSchema({ dimension: DIM });
    const p = r.problems.find((x) => x.object === 'RAG.DocumentTokenEmbeddings');
    assert.equal(p?.kind, 'missing');
    assert.match(
      p!.problem,
      /a table named "RAG\.DocumentTokenEmbeddings" does, with the dot in its name: SQLite has no schemas/,
    );
    await db.store.createSchema({ dimension: DIM });
    assert.deepEqual((await db.store.checkSchema({ dimension: DIM })).problems, []);
  } finally {
    await db.cleanup();
  }
});

for (const backend of ['postgres', 'pglite'] as const)
  test(
    `${backend}: a table made by unquoted DDL (rag.documenttokenembeddings) is named in the problem, with the spec that uses it`,
    {
      skip: skipReason(backend),
    },
    async () => {
      const db = await openTestDb(backend, { columns: COLBERT });
      try {
        await db.raw('CREATE SCHEMA RAG');
        await db.raw(
          'CREATE TABLE RAG.DocumentTokenEmbeddings (doc_id VARCHAR(64) NOT NULL, tok_pos INTEGER NOT NULL, ' +
            'tok_text VARCHAR(64), tok_vec real[] NOT NULL CHECK (cardinality(tok_vec) = 4), centroid_id INTEGER, PRIMARY KEY (doc_id, tok_pos))',
        );
        const r = await db.store.checkSchema({ dimension: DIM });
        const p = r.problems.find((x) => x.object === 'RAG.DocumentTokenEmbeddings');
        assert.equal(p?.kind, 'missing');
        assert.match(
          p!.problem,
          /rag\.documenttokenembeddings does: PostgreSQL folds unquoted names to lower case.*database\.schema rag, database\.tables\.tokenEmbeddings documenttokenembeddings/,
        );
      } finally {
        await db.cleanup();
      }
    },
  );
