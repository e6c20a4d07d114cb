/**
 * PostgreSQL beyond the shared contract: which vector type is used and when, COPY and INSERT writing the same
 * rows, the real[] -> pgvector migration, concurrent schema creation, and which server errors are transient.
 * Real server: DATASTATE_TEST_PG_URL (scripts/ci-databases.sh); pgvector: PGlite.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { EmbeddingWrite } from '../../src/core/store-port.ts';
import { contentHash } from '../../src/store/content-hash.ts';
import { StoreConfigError } from '../../src/store/errors.ts';
import { openPgliteStore, openPostgresStore } from '../../src/store/postgres.ts';
import type { PostgresDialect } from '../../src/store/dialects/postgres.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { closeShared, openTestDb, pgUrl, SKIP_DB_TESTS, type SqlDb } from '../helpers/databases.ts';

const DIM = 4;

function emb(docId: string, tokens: string[], base: number): EmbeddingWrite {
  const vectors = new Float32Array(tokens.length * DIM).map((_, i) => base + i / 7);
  return {
    embedding: { docId, tokens, vectors, dimension: DIM },
    ledger: {
      docId,
      modelFingerprint: 'fp',
      contentHash: 'h',
      tokenCount: tokens.length,
      dimension: DIM,
      embeddedAt: 'now',
    },
  };
}

const doc = (docId: string) => ({
  docId,
  title: 't',
  abstract: `abstract of ${docId}, long enough`,
  textContent: '',
  authors: [],
  keywords: [],
  contentHash: contentHash(`abstract of ${docId}, long enough`),
});

const dialectOf = (s: SqlStore) => s.sql as PostgresDialect;

async function columnType(store: SqlStore): Promise<string> {
  const [r] = await store.client.withSession((s) =>
    s.query(
      `SELECT format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a WHERE a.attrelid = to_regclass('"RAG"."DocumentTokenEmbeddings"') AND a.attname = 'token_embedding'`,
    ),
  );
  return String(r!.t);
}

/** Tokens with everything COPY's text format would have to escape, and some UTF-8. */
const TRICKY = ['plain', 'tab\there', 'new\nline', 'back\\slash', 'quote\'"', 'ünïcødé', '😀', '\\N', ''];

async function copyAndInsertAgree(db: SqlDb, open: (bulk: 'copy' | 'insert') => SqlStore): Promise<void> {
  const copy = open('copy');
  const insert = open('insert');
  try {
    await copy.createSchema({ dimension: DIM });
    await copy.upsertDocuments([doc('C'), doc('I')]);
    await copy.writeEmbeddings([emb('C', TRICKY, 0.25)]);
    await insert.writeEmbeddings([emb('I', TRICKY, 0.25)]);
    const rows = await db.raw(
      `SELECT doc_id, token_index, token_text, CAST(token_embedding AS text) AS v FROM "RAG"."DocumentTokenEmbeddings" ORDER BY doc_id, token_index`,
    );
    const of = (id: string) =>
      rows.filter((r) => r.doc_id === id).map((r) => [r.token_index, r.token_text, r.v]);
    assert.equal(of('C').length, TRICKY.length);
    assert.deepEqual(of('C'), of('I'));
    assert.deepEqual(
      of('C').map((r) => r[1]),
      TRICKY,
    );
  } finally {
    await copy.close();
    await insert.close();
  }
}

after(closeShared);

describe('PostgreSQL with pgvector (PGlite)', () => {
  test('a new schema uses vector(n); the extension is created with it', async () => {
    const db = await openTestDb('pglite');
    try {
      const store = db.store as SqlStore;
      const before = await store.checkSchema({ dimension: DIM });
      assert.ok(
        before.problems.some(
          (p) => p.object === 'extension vector' && p.fix === 'CREATE EXTENSION IF NOT EXISTS vector',
        ),
      );
      await store.createSchema({ dimension: DIM });
      assert.equal(dialectOf(store).vectorType, 'vector');
      assert.equal(await columnType(store), `vector(${DIM})`);
    } finally {
      await db.cleanup();
    }
  });

  test('real[] when asked; auto keeps what the table has; the documented ALTER converts it to vector(n) in place', async () => {
    const db = await openTestDb('pglite');
    const pglite = (db.store as SqlStore).client as unknown as {
      db: Parameters<typeof openPgliteStore>[0]['db'];
    };
    try {
      const arrays = openPgliteStore({ db: pglite.db, vectorType: 'real[]' });
      await arrays.createSchema({ dimension: DIM });
      assert.equal(await columnType(arrays), 'real[]');
      await arrays.upsertDocuments([doc('A')]);
      await arrays.writeEmbeddings([emb('A', ['x', 'y'], 1.5)]);
      const auto = openPgliteStore({ db: pglite.db });
      assert.deepEqual(await auto.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
      assert.equal(dialectOf(auto).vectorType, 'real[]');
      await auto.writeEmbeddings([emb('A', ['x', 'y', 'z'], 2.5)]);
      // the migration docs/databases.md gives
      await db.raw(
        `CREATE EXTENSION IF NOT EXISTS vector; ALTER TABLE "RAG"."DocumentTokenEmbeddings" DROP CONSTRAINT "DocumentTokenEmbeddings_dimension", ` +
          `ALTER COLUMN token_embedding TYPE vector(${DIM}) USING token_embedding::vector(${DIM})`,
      );
      const after = openPgliteStore({ db: pglite.db });
      assert.deepEqual(await after.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
      assert.equal(dialectOf(after).vectorType, 'vector');
      assert.equal((await after.embeddingStates(['A']))[0]!.tokenRows, 3);
      assert.deepEqual(await db.readVector('A', 2), [
        ...emb('A', ['x', 'y', 'z'], 2.5).embedding.vectors.slice(8, 12),
      ]);
    } finally {
      await db.cleanup();
    }
  });

  test('binary COPY and multi-row INSERT write the same rows', async () => {
    const db = await openTestDb('pglite');
    const pglite = (
      (db.store as SqlStore).client as unknown as { db: Parameters<typeof openPgliteStore>[0]['db'] }
    ).db;
    try {
      await copyAndInsertAgree(db, (bulk) => openPgliteStore({ db: pglite, bulk }));
    } finally {
      await db.cleanup();
    }
  });

  test('token-row counter: a database made before it is counted, reported, and migrated by createSchema with one full count', async () => {
    const db = await openTestDb('pglite');
    const store = db.store as SqlStore;
    const tokens = '"RAG"."DocumentTokenEmbeddings"';
    const kept = () => store.client.withSession((s) => store.sql.countsKept(s));
    const rows = async () => (await store.embeddingStates(['A', 'B'])).map((e) => e.tokenRows);
    try {
      await store.createSchema({ dimension: DIM });
      await store.upsertDocuments([doc('A'), doc('B')]);
      await store.writeEmbeddings([emb('A', ['a', 'b', 'c', 'd'], 1), emb('B', ['a', 'b', 'c'], 2)]);
      // The previous version's schema: everything but the counter.
      await db.raw(
        ['insert', 'delete', 'update', 'truncate']
          .map((t) => `DROP TRIGGER "DocumentTokenEmbeddings_counts_${t}" ON ${tokens}`)
          .join('; ') +
          `; DROP TABLE "RAG"."DocumentTokenEmbeddings_counts"; DROP FUNCTION "RAG"."DocumentTokenEmbeddings_counts_change"()`,
      );
      await db.raw(`DELETE FROM ${tokens} WHERE doc_id = 'A' AND token_index = 1`);
      const report = await store.checkSchema({ dimension: DIM });
      assert.deepEqual(
        report.problems.map((p) => [p.kind, p.object]),
        [['missing', 'RAG.DocumentTokenEmbeddings_counts']],
      );
      assert.equal(await kept(), false);
      assert.deepEqual(await rows(), [3, 3]); // counted: the deletion is found
      await store.createSchema({ dimension: DIM });
      assert.deepEqual(await store.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
      assert.equal(await kept(), true);
      assert.deepEqual(await rows(), [3, 3]);
      assert.equal((await store.counts()).tokenRows, 6);

      // A disabled trigger lets writes past the counter: reported, not trusted, and createSchema counts again.
      await db.raw(`ALTER TABLE ${tokens} DISABLE TRIGGER "DocumentTokenEmbeddings_counts_delete"`);
      await db.raw(`DELETE FROM ${tokens} WHERE doc_id = 'B' AND token_index = 0`);
      const disabled = await store.checkSchema({ dimension: DIM });
      assert.match(
        disabled.problems[0]!.problem,
        /trigger DocumentTokenEmbeddings_counts_delete is disabled/,
      );
      assert.equal(await kept(), false);
      assert.deepEqual(await rows(), [3, 2]);
      await store.createSchema({ dimension: DIM });
      assert.equal(await kept(), true);
      assert.deepEqual(await rows(), [3, 2]);
    } finally {
      await db.cleanup();
    }
  });

  test('float16: halfvec(n), written alike by binary COPY (halfvec_recv) and by INSERT', async () => {
    const db = await openTestDb('pglite', { vectorPrecision: 'float16' });
    const pglite = (
      (db.store as SqlStore).client as unknown as { db: Parameters<typeof openPgliteStore>[0]['db'] }
    ).db;
    try {
      await db.store.createSchema({ dimension: DIM });
      assert.equal(dialectOf(db.store as SqlStore).vectorType, 'halfvec');
      assert.equal(await columnType(db.store as SqlStore), `halfvec(${DIM})`);
      await copyAndInsertAgree(db, (bulk) =>
        openPgliteStore({ db: pglite, bulk, vectorPrecision: 'float16' }),
      );
      const [r] = await db.raw(
        `SELECT CAST(token_embedding AS text) AS v FROM "RAG"."DocumentTokenEmbeddings" WHERE doc_id = 'C' AND token_index = 1`,
      );
      // halfvec prints each float16 as a float4 would be printed: read back, it is the float16 of what was written
      assert.deepEqual(
        (JSON.parse(String(r!.v)) as number[]).map(Math.f16round),
        [...emb('C', TRICKY, 0.25).embedding.vectors.slice(DIM, 2 * DIM)].map(Math.f16round),
      );
    } finally {
      await db.cleanup();
    }
  });
});

describe('PostgreSQL server', { skip: SKIP_DB_TESTS ? 'DATASTATE_SKIP_DB_TESTS=1' : false }, () => {
  test('float16 without pgvector is refused (StoreConfigError) before anything is created; with it, halfvec(n)', async () => {
    const db = await openTestDb('postgres', { vectorPrecision: 'float16' });
    try {
      const available =
        (await db.raw(`SELECT 1 AS x FROM pg_available_extensions WHERE name = 'vector'`)).length > 0;
      if (available) {
        await db.store.createSchema({ dimension: DIM });
        assert.equal(await columnType(db.store as SqlStore), `halfvec(${DIM})`);
        return;
      }
      const refused = (e: unknown) =>
        e instanceof StoreConfigError && /float16 needs the pgvector extension \(halfvec/.test(e.message);
      await assert.rejects(db.store.checkSchema({ dimension: DIM }), refused);
      await assert.rejects(db.store.createSchema({ dimension: DIM }), refused);
      assert.deepEqual(await db.raw(`SELECT nspname FROM pg_namespace WHERE nspname = 'RAG'`), []);
      // a float32 table already there: the schema check names the mismatch (no silent float32 writes)
      const f32 = await db.openAnother({ vectorPrecision: 'float32' });
      await f32.createSchema({ dimension: DIM });
      const f16 = await db.openAnother();
      const r = await f16.checkSchema({ dimension: DIM });
      assert.equal(r.ok, false);
      const problems = r.problems.map((p) => p.problem).join('\n');
      assert.match(problems, /stores float32 vectors \(real\[\]\), database.vectorPrecision is float16/);
      assert.match(problems, /pgvector extension is not installed/);
    } finally {
      await db.cleanup();
    }
  });

  test('vectors are pgvector vector(n) when the server has the extension, else real[] with a CHECK on their length', async () => {
    const db = await openTestDb('postgres');
    try {
      const store = db.store as SqlStore;
      await store.createSchema({ dimension: DIM });
      const available =
        (await db.raw(`SELECT 1 AS x FROM pg_available_extensions WHERE name = 'vector'`)).length > 0;
      assert.equal(dialectOf(store).vectorType, available ? 'vector' : 'real[]');
      assert.equal(await columnType(store), available ? `vector(${DIM})` : 'real[]');
      if (!available) {
        const [c] = await db.raw(
          `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'DocumentTokenEmbeddings_dimension'`,
        );
        assert.match(String(c!.def), /cardinality\(token_embedding\) = 4/);
      }
    } finally {
      await db.cleanup();
    }
  });

  test('binary COPY and multi-row INSERT write the same rows', async () => {
    const db = await openTestDb('postgres');
    const url = new URL(pgUrl());
    const [, name] = /postgres.*\/([^/?]+)(\?|$)/.exec(db.store.description) ?? [];
    url.pathname = `/${name}`;
    try {
      await copyAndInsertAgree(db, (bulk) => openPostgresStore({ url: url.toString(), bulk }));
    } finally {
      await db.cleanup();
    }
  });

  test('a read-only store (ValidateOnly, DryRun) inspects but cannot write', async () => {
    const db = await openTestDb('postgres');
    const [, name] = /postgres.*\/([^/?]+)(\?|$)/.exec(db.store.description) ?? [];
    const url = new URL(pgUrl());
    url.pathname = `/${name}`;
    const ro = openPostgresStore({ url: url.toString(), readOnly: true });
    try {
      assert.equal((await ro.checkSchema({ dimension: DIM })).empty, true);
      const e = await ro.createSchema({ dimension: DIM }).then(
        () => null,
        (x: unknown) => x as { code?: string },
      );
      assert.equal(e?.code, '25006'); // read_only_sql_transaction
      assert.equal(ro.isTransient(e), false);
      await db.store.createSchema({ dimension: DIM });
      await db.store.upsertDocuments([doc('A')]);
      assert.equal((await ro.counts()).documents, 1);
      await assert.rejects(ro.upsertDocuments([doc('B')]), /read-only transaction/);
    } finally {
      await ro.close();
      await db.cleanup();
    }
  });

  test('two stores creating the schema at once both succeed', async () => {
    const db = await openTestDb('postgres');
    try {
      const other = await db.openAnother();
      await Promise.all([db.store.createSchema({ dimension: DIM }), other.createSchema({ dimension: DIM })]);
      assert.equal((await db.store.checkSchema({ dimension: DIM })).ok, true);
    } finally {
      await db.cleanup();
    }
  });

  test('a deadlock is transient; a constraint violation is not', async () => {
    const db = await openTestDb('postgres');
    const [, name] = /postgres.*\/([^/?]+)(\?|$)/.exec(db.store.description) ?? [];
    const url = new URL(pgUrl());
    url.pathname = `/${name}`;
    const a = new pg.Client({ connectionString: url.toString() });
    const b = new pg.Client({ connectionString: url.toString() });
    try {
      await db.store.createSchema({ dimension: DIM });
      await db.store.upsertDocuments([doc('X'), doc('Y')]);
      await a.connect();
      await b.connect();
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query(`UPDATE "RAG"."SourceDocuments" SET title = 'a' WHERE doc_id = 'X'`);
      await b.query(`UPDATE "RAG"."SourceDocuments" SET title = 'b' WHERE doc_id = 'Y'`);
      const results = await Promise.allSettled([
        a.query(`UPDATE "RAG"."SourceDocuments" SET title = 'a' WHERE doc_id = 'Y'`),
        b.query(`UPDATE "RAG"."SourceDocuments" SET title = 'b' WHERE doc_id = 'X'`),
      ]);
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      assert.ok(failed, 'one of the two transactions is chosen as the deadlock victim');
      assert.equal((failed.reason as { code?: string }).code, '40P01');
      assert.equal(db.store.isTransient(failed.reason), true);
      await a.query('ROLLBACK');
      await b.query('ROLLBACK');
      const dup = await a
        .query(`INSERT INTO "RAG"."SourceDocuments" (doc_id) VALUES ('X')`)
        .catch((e: unknown) => e);
      assert.equal((dup as { code?: string }).code, '23505');
      assert.equal(db.store.isTransient(dup), false);
    } finally {
      await a.end().catch(() => {});
      await b.end().catch(() => {});
      await db.cleanup();
    }
  });
});
