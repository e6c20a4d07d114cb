import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/embedded.ts';
import { openStore } from '../../src/store/index.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { contentHash } from '../../src/store/content-hash.ts';
import type { DocumentWrite, EmbeddingWrite } from '../../src/core/store-port.ts';
import { checkSchema } from '../../src/core/checks.ts';
import type { Inspection } from '../../src/core/inspection.ts';

const DIM = 4;

function doc(docId: string, abstract: string, pubDate?: string): DocumentWrite {
  return {
    docId,
    title: `T ${docId}`,
    abstract,
    textContent: 'body',
    authors: ['A B'],
    keywords: ['k'],
    pubDate,
    contentHash: contentHash(abstract),
  };
}
function emb(docId: string, n: number, hash: string, dim = DIM): EmbeddingWrite {
  const vectors = new Float32Array(n * dim).map((_, i) => i + 0.5);
  return {
    embedding: { docId, tokens: Array.from({ length: n }, (_, i) => `t${i}`), vectors, dimension: dim },
    ledger: {
      docId,
      modelFingerprint: 'fp',
      contentHash: hash,
      tokenCount: n,
      dimension: dim,
      embeddedAt: '2026-01-01T00:00:00.000Z',
    },
  };
}

/** Raw SQL on the store's own connection (tests and out-of-band changes). */
function query<T = Record<string, unknown>>(store: SqlStore, sql: string, ...params: string[]): Promise<T[]> {
  return store.client.withSession((s) => s.query(sql, params)) as Promise<T[]>;
}

function withStore(fn: (store: SqlStore, path: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-sqlite-'));
    const path = join(dir, 'sub', 'x.db');
    const store = openSqliteStore({ path });
    try {
      await fn(store, path);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'schema: empty, created, then intact; a dimension mismatch names the fix',
  withStore(async (store, path) => {
    const before = await store.checkSchema({ dimension: DIM });
    assert.equal(before.empty, true);
    assert.equal(before.ok, false);
    assert.ok(before.problems.every((p) => p.kind === 'missing' && p.fix.startsWith('CREATE')));
    await store.createSchema({ dimension: DIM });
    assert.deepEqual(await store.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
    const other = await store.checkSchema({ dimension: 768 });
    assert.equal(other.ok, false);
    assert.equal(other.empty, false);
    assert.equal(other.problems.length, 1);
    assert.equal(other.problems[0]!.kind, 'mismatch');
    assert.match(other.problems[0]!.problem, /vector dimension is 4, expected 768/);
    assert.match(other.problems[0]!.fix, /length\(token_embedding\) = 3072/);
    // the same file opened again sees the same schema
    const again = openSqliteStore({ path });
    assert.equal((await again.checkSchema({ dimension: DIM })).ok, true);
    await again.close();
  }),
);

test(
  'a dropped trigger or column is reported with DDL',
  withStore(async (store) => {
    await store.createSchema({ dimension: DIM });
    await query(store, 'DROP TRIGGER "RAG"."SourceDocuments_content_changed"');
    const r = await store.checkSchema({ dimension: DIM });
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.kind, 'missing');
    assert.match(r.problems[0]!.fix, /^CREATE TRIGGER/);
    await store.createSchema({ dimension: DIM });
    assert.equal((await store.checkSchema({ dimension: DIM })).ok, true);
  }),
);

test(
  'inspection: counts, candidates, embedding states, orphans — no vectors read',
  withStore(async (store) => {
    await store.createSchema({ dimension: DIM });
    await store.upsertDocuments([
      doc('PMC2', 'An abstract long enough to be real.', '2021-02-03'),
      doc('PMC1', ''),
      doc('PMC3', 'N/A'),
    ]);
    await store.writeEmbeddings([
      emb('PMC2', 3, contentHash('An abstract long enough to be real.')),
      emb('GHOST', 2, 'x'),
    ]);
    const counts = await store.counts();
    assert.deepEqual(counts, {
      documents: 3,
      documentsWithAbstract: 2,
      documentsWithTokens: 2,
      tokenRows: 5,
      orphanDocIds: ['GHOST'],
    });
    const cands = (await store.candidates()).sort((a, b) => a.docId.localeCompare(b.docId));
    assert.deepEqual(cands, [
      {
        docId: 'PMC2',
        pubDate: '2021-02-03',
        abstractLength: 35,
        shortAbstract: 'An abstract long enough to be real.',
      },
      { docId: 'PMC3', pubDate: null, abstractLength: 3, shortAbstract: 'N/A' },
    ]);
    const states = await store.embeddingStates(['PMC3', 'PMC2', 'NOPE']);
    assert.deepEqual(
      states.map((s) => [s.docId, s.tokenRows, s.ledger?.tokenCount ?? null]),
      [
        ['PMC3', 0, null],
        ['PMC2', 3, 3],
        ['NOPE', 0, null],
      ],
    );
    assert.equal(states[1]!.contentHash, contentHash('An abstract long enough to be real.'));
    assert.deepEqual([...(await store.existingDocIds(['PMC1', 'X', 'PMC3']))].sort(), ['PMC1', 'PMC3']);
  }),
);

test(
  'writes: vectors round-trip as float32; one bad document rolls back its whole batch',
  withStore(async (store) => {
    await store.createSchema({ dimension: DIM });
    await store.upsertDocuments([
      doc('A', 'alpha abstract text, long enough'),
      doc('B', 'beta abstract text, long enough'),
    ]);
    await store.writeEmbeddings([emb('A', 2, 'h')]);
    const rows = await query<{ token_index: number; token_text: string; token_embedding: Uint8Array }>(
      store,
      'SELECT token_index, token_text, token_embedding FROM "RAG"."DocumentTokenEmbeddings" WHERE doc_id = ? ORDER BY token_index',
      'A',
    );
    assert.equal(rows.length, 2);
    const v = new Float32Array(
      rows[1]!.token_embedding.buffer.slice(
        rows[1]!.token_embedding.byteOffset,
        rows[1]!.token_embedding.byteOffset + 16,
      ),
    );
    assert.deepEqual([...v], [4.5, 5.5, 6.5, 7.5]);
    // B is fine, but C's vectors have another dimension: the CHECK constraint fails and nothing of the batch lands.
    const bad = emb('C', 2, 'h', 8);
    await assert.rejects(store.writeEmbeddings([emb('B', 3, 'h'), bad]), /CHECK constraint/);
    assert.equal((await store.embeddingStates(['B']))[0]!.tokenRows, 0);
    // rewriting A replaces its rows: no leftovers from the longer old set
    await store.writeEmbeddings([emb('A', 5, 'h2')]);
    await store.writeEmbeddings([emb('A', 1, 'h3')]);
    const [a] = await store.embeddingStates(['A']);
    assert.equal(a!.tokenRows, 1);
    assert.equal(a!.ledger!.contentHash, 'h3');
    await store.deleteEmbeddings(['A']);
    const [gone] = await store.embeddingStates(['A']);
    assert.deepEqual([gone!.tokenRows, gone!.ledger], [0, null]);
    await assert.rejects(
      store.writeEmbeddings([{ ...emb('A', 2, 'h'), ledger: { ...emb('A', 2, 'h').ledger, tokenCount: 3 } }]),
      /ledger says 3x4/,
    );
  }),
);

test(
  'an abstract changed out of band clears the content hash; readTexts hashes it again',
  withStore(async (store) => {
    await store.createSchema({ dimension: DIM });
    await store.upsertDocuments([doc('A', 'first version of the abstract')]);
    await query(
      store,
      `UPDATE "RAG"."SourceDocuments" SET abstract = 'second version of the abstract' WHERE doc_id = 'A'`,
    );
    assert.equal((await store.embeddingStates(['A']))[0]!.contentHash, null);
    const [t] = await store.readTexts(['A']);
    assert.equal(t!.text, 'second version of the abstract');
    assert.equal(t!.contentHash, contentHash('second version of the abstract'));
    assert.equal((await store.embeddingStates(['A']))[0]!.contentHash, t!.contentHash);
    // our own upsert sets the hash with the text: the trigger leaves it alone
    await store.upsertDocuments([doc('A', 'third version of the abstract')]);
    assert.equal(
      (await store.embeddingStates(['A']))[0]!.contentHash,
      contentHash('third version of the abstract'),
    );
  }),
);

test(
  "a full database: the write fails naming the file and what to do, keeps SQLite's code, and what was committed stays",
  withStore(async (store, path) => {
    await store.createSchema({ dimension: DIM });
    await store.upsertDocuments([
      doc('A', 'alpha abstract text, long enough'),
      doc('B', 'beta abstract text'),
    ]);
    await store.writeEmbeddings([emb('A', 3, 'h')]);
    // SQLite's own size limit stands in for a full disk: the same SQLITE_FULL, without a file system to fill.
    const [size] = await query<{ page_count: number }>(store, 'PRAGMA "RAG".page_count');
    await query(store, `PRAGMA "RAG".max_page_count = ${size!.page_count}`);
    const full = await store.writeEmbeddings([emb('B', 4000, 'h')]).then(
      () => assert.fail('the write went through a full database'),
      (e: Error & { errcode?: number }) => e,
    );
    assert.equal(full.errcode! & 0xff, 13, String(full));
    assert.ok(
      full.message.startsWith(`sqlite:${path}: the database or its disk is full: free space`),
      full.message,
    );
    assert.match(full.message, /every batch committed before stays/);
    assert.match(full.message, /\(SQLite: database or disk is full\)$/);
    assert.equal(store.isTransient(full), false, 'not a lock: no retry of the same batch');
    const [a, b] = await store.embeddingStates(['A', 'B']);
    assert.equal(a!.tokenRows, 3, 'the committed document is whole');
    assert.deepEqual([b!.tokenRows, b!.ledger], [0, null], 'nothing of the failed batch');
    // Room again: the same write goes through.
    await query(store, 'PRAGMA "RAG".max_page_count = 1073741823');
    await store.writeEmbeddings([emb('B', 4000, 'h')]);
    assert.equal((await store.embeddingStates(['B']))[0]!.tokenRows, 4000);
  }),
);

test('custom schema and table names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ds-sqlite-'));
  const store = openSqliteStore({
    path: join(dir, 'y.db'),
    schema: 'EVAL',
    tables: { sourceDocuments: 'Docs', tokenEmbeddings: 'Toks', ledger: 'Led' },
  });
  try {
    await store.createSchema({ dimension: DIM });
    await store.upsertDocuments([doc('A', 'an abstract that is long enough')]);
    assert.equal((await query(store, 'SELECT doc_id FROM "EVAL"."Docs"')).length, 1);
    assert.ok((await store.checkSchema({ dimension: DIM })).ok);
    assert.throws(
      () => openSqliteStore({ path: join(dir, 'z.db'), schema: 'bad name' }),
      /invalid SQL identifier/,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'token-row counter: a database made before it is read by counting, reported, and migrated by createSchema with one full count',
  withStore(async (store, path) => {
    await store.createSchema({ dimension: DIM });
    await store.upsertDocuments([doc('A', 'an abstract long enough'), doc('B', 'another abstract here')]);
    await store.writeEmbeddings([emb('A', 5, 'h'), emb('B', 5, 'h')]);
    // The previous version's schema: everything but the counter (its table and triggers).
    for (const t of ['insert', 'delete', 'update'])
      await query(store, `DROP TRIGGER "RAG"."DocumentTokenEmbeddings_counts_${t}"`);
    await query(store, `DROP TABLE "RAG"."DocumentTokenEmbeddings_counts"`);
    await query(store, `DELETE FROM "RAG"."DocumentTokenEmbeddings" WHERE doc_id = 'A' AND token_index = 2`);
    const report = await store.checkSchema({ dimension: DIM });
    assert.deepEqual(
      report.problems.map((p) => [p.kind, p.object]),
      [['missing', 'RAG.DocumentTokenEmbeddings_counts']],
    );
    assert.match(report.problems[0]!.problem, /table DocumentTokenEmbeddings_counts does not exist/);
    // Advisory: it costs time, not correctness, so the schema check passes (and names it) until a heal makes it.
    assert.equal(report.problems[0]!.advisory, true);
    assert.equal(report.ok, true);
    const check = checkSchema({ schema: report } as Inspection);
    assert.equal(check.passed, true);
    assert.match(
      check.message,
      /advisory: RAG.DocumentTokenEmbeddings_counts: token-row counter is not whole/,
    );
    const rows = async (s: SqlStore) => (await s.embeddingStates(['A', 'B'])).map((e) => e.tokenRows);
    // Not kept: counted, and the deletion is found (also by a read-only store, as validate opens it).
    assert.equal(await store.client.withSession((s) => store.sql.countsKept(s)), false);
    assert.deepEqual(await rows(store), [4, 5]);
    assert.equal((await store.counts()).tokenRows, 9);
    const readOnly = openSqliteStore({ path, readOnly: true });
    try {
      assert.deepEqual(await rows(readOnly), [4, 5]);
    } finally {
      await readOnly.close();
    }
    await store.createSchema({ dimension: DIM });
    assert.deepEqual(await store.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
    assert.equal(await store.client.withSession((s) => store.sql.countsKept(s)), true);
    assert.deepEqual(
      await query(
        store,
        `SELECT doc_id, token_rows FROM "RAG"."DocumentTokenEmbeddings_counts" ORDER BY doc_id`,
      ),
      [
        { doc_id: 'A', token_rows: 4 },
        { doc_id: 'B', token_rows: 5 },
      ],
    );
    assert.deepEqual(await rows(store), [4, 5]);
    await query(store, `DELETE FROM "RAG"."DocumentTokenEmbeddings" WHERE doc_id = 'B' AND token_index = 1`);
    assert.deepEqual(await rows(store), [4, 4]);
  }),
);

test(
  'token-row counter: a trigger dropped or changed is reported and not trusted; createSchema counts again',
  withStore(async (store) => {
    await store.createSchema({ dimension: DIM });
    await store.upsertDocuments([doc('A', 'an abstract long enough')]);
    await store.writeEmbeddings([emb('A', 5, 'h')]);
    await query(store, `DROP TRIGGER "RAG"."DocumentTokenEmbeddings_counts_delete"`);
    await query(store, `DELETE FROM "RAG"."DocumentTokenEmbeddings" WHERE doc_id = 'A' AND token_index = 2`);
    let report = await store.checkSchema({ dimension: DIM });
    assert.match(report.problems[0]!.problem, /trigger DocumentTokenEmbeddings_counts_delete does not exist/);
    assert.equal((await store.embeddingStates(['A']))[0]!.tokenRows, 4); // counted: the kept 5 is stale
    // Made again by hand with another body: still not trusted.
    await query(
      store,
      `CREATE TRIGGER "RAG"."DocumentTokenEmbeddings_counts_delete" AFTER DELETE ON "DocumentTokenEmbeddings" BEGIN SELECT 1;END`,
    );
    report = await store.checkSchema({ dimension: DIM });
    assert.match(report.problems[0]!.problem, /counts_delete differs from the one datastate creates/);
    assert.equal((await store.embeddingStates(['A']))[0]!.tokenRows, 4);
    await store.createSchema({ dimension: DIM });
    assert.equal((await store.checkSchema({ dimension: DIM })).ok, true);
    assert.equal((await store.embeddingStates(['A']))[0]!.tokenRows, 4);
    assert.equal((await store.counts()).tokenRows, 4);
  }),
);

test(':memory: (sqlite::memory:, file::memory:) is an in-memory database, not a file named :memory:', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ds-sqlite-memory-'));
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    for (const url of [':memory:', 'sqlite::memory:', 'file::memory:']) {
      const store = await openStore({
        dialect: 'sqlite',
        url,
        schema: 'main_ds',
        tables: { sourceDocuments: 'docs', tokenEmbeddings: 'tokens', ledger: 'ledger' },
      });
      try {
        assert.equal(store.description, 'sqlite::memory:');
        await store.createSchema({ dimension: DIM });
        await store.upsertDocuments([doc('m1', 'an abstract')]);
        assert.equal((await store.counts()).documents, 1, url);
      } finally {
        await store.close();
      }
    }
    assert.deepEqual(readdirSync(dir), [], 'no file was created');
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});
