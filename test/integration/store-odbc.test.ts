/**
 * The ODBC path beyond the shared contract: URLs through openStore, a DSN from an odbc.ini (as IRIS users
 * configure theirs), what happens when the IRIS driver is not installed, and SQLite files shared by the
 * embedded store and the ODBC one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, StoreConfigError } from '../../src/store/index.ts';
import { openSqliteStore } from '../../src/store/embedded.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import { contentHash } from '../../src/store/content-hash.ts';
import type { EmbeddingWrite } from '../../src/core/store-port.ts';
import { openTestDb, pgUrl, SKIP_DB_TESTS } from '../helpers/databases.ts';

const DIM = 4;
const names = {
  schema: 'RAG',
  tables: {
    sourceDocuments: 'SourceDocuments',
    tokenEmbeddings: 'DocumentTokenEmbeddings',
    ledger: 'DocumentEmbeddingLedger',
  },
};

function emb(docId: string, n: number): EmbeddingWrite {
  return {
    embedding: {
      docId,
      tokens: Array.from({ length: n }, (_, i) => `t${i}`),
      vectors: new Float32Array(n * DIM).map((_, i) => i / 3),
      dimension: DIM,
    },
    ledger: {
      docId,
      modelFingerprint: 'fp',
      contentHash: 'h',
      tokenCount: n,
      dimension: DIM,
      embeddedAt: 'now',
    },
  };
}
const doc = (docId: string, abstract: string) => ({
  docId,
  title: 't',
  abstract,
  textContent: '',
  authors: [],
  keywords: [],
  contentHash: contentHash(abstract),
});

describe('ODBC', { skip: SKIP_DB_TESTS ? 'DATASTATE_SKIP_DB_TESTS=1' : false }, () => {
  test('a DSN from odbc.ini works like a connection string (the way IRIS is configured)', async () => {
    const db = await openTestDb('postgres'); // a fresh database to point the DSN at
    const dir = mkdtempSync(join(tmpdir(), 'ds-odbcini-'));
    try {
      const u = new URL(db.store.description.replace('***', 'x'));
      const server = new URL(pgUrl());
      writeFileSync(
        join(dir, 'odbc.ini'),
        `[datastate-test]\nDriver=PostgreSQL Unicode\nServername=${server.hostname}\nPort=${server.port}\nDatabase=${u.pathname.slice(1)}\n`,
      );
      process.env.ODBCINI = join(dir, 'odbc.ini');
      const url = `odbc+postgres:DSN=datastate-test;UID=${decodeURIComponent(server.username)};PWD=${decodeURIComponent(server.password)}`;
      const store = await openStore({ dialect: 'postgres', url, ...names });
      try {
        assert.ok(store instanceof SqlStore);
        assert.equal(
          store.description,
          `odbc+postgres:DSN=datastate-test;UID=${decodeURIComponent(server.username)};PWD=***`,
        );
        await store.createSchema({ dimension: DIM });
        assert.equal((await store.checkSchema({ dimension: DIM })).ok, true);
        // the same database seen through pg: ODBC wrote where the DSN points
        assert.equal((await db.store.checkSchema({ dimension: DIM })).ok, true);
      } finally {
        await store.close();
      }
    } finally {
      delete process.env.ODBCINI;
      rmSync(dir, { recursive: true, force: true });
      await db.cleanup();
    }
  });

  test('an iris: URL without the InterSystems driver installed fails with what to install, and no password', async () => {
    const store = await openStore({
      dialect: 'iris',
      url: 'iris:Driver={InterSystems IRIS ODBC35};Host=127.0.0.1;Port=1972;Namespace=USER;UID=_SYSTEM;PWD=s3cret-pw',
      ...names,
    });
    try {
      assert.equal(store.dialect, 'iris');
      assert.equal(
        store.description,
        'odbc+iris:Driver={InterSystems IRIS ODBC35};Host=127.0.0.1;Port=1972;Namespace=USER;UID=_SYSTEM;PWD=***',
      );
      const e = await store.checkSchema({ dimension: DIM }).then(
        () => null,
        (x: unknown) => x as Error,
      );
      assert.ok(e instanceof StoreConfigError, String(e));
      assert.match(e.message, /Can't open lib 'InterSystems IRIS ODBC35'/);
      assert.match(e.message, /libirisodbcur6435\.so.*docs\/databases\.md/);
      assert.ok(!e.message.includes('s3cret-pw'));
    } finally {
      await store.close();
    }
  });

  test('a SQLite file is the same database to the embedded store and to the ODBC store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-odbc-sqlite-'));
    const path = join(dir, 'shared.db');
    const embedded = openSqliteStore({ path });
    const odbc = await openStore({
      dialect: 'sqlite',
      url: `odbc+sqlite:Driver=SQLite3;Database=${path}`,
      ...names,
    });
    try {
      assert.ok(odbc instanceof SqlStore);
      assert.match(odbc.description, /^odbc\+sqlite:Driver=SQLite3;Database=/);
      await embedded.createSchema({ dimension: DIM });
      assert.deepEqual(await odbc.checkSchema({ dimension: DIM }), { ok: true, empty: false, problems: [] });
      await embedded.upsertDocuments([doc('A', 'written by the embedded store, long enough')]);
      await odbc.upsertDocuments([doc('B', 'written over ODBC, long enough as well')]);
      await odbc.writeEmbeddings([emb('A', 3)]);
      await embedded.writeEmbeddings([emb('B', 2)]);
      for (const s of [embedded, odbc]) {
        assert.deepEqual(
          (await s.embeddingStates(['A', 'B'])).map((x) => [x.docId, x.tokenRows, x.ledger?.tokenCount]),
          [
            ['A', 3, 3],
            ['B', 2, 2],
          ],
        );
        assert.equal((await s.counts()).documents, 2);
      }
      const [row] = await embedded.client.withSession((s) =>
        s.query<{ v: Uint8Array }>(
          `SELECT token_embedding AS v FROM "RAG"."DocumentTokenEmbeddings" WHERE doc_id = 'A' AND token_index = 1`,
        ),
      );
      assert.deepEqual(
        [...new Float32Array(new Uint8Array(row!.v).buffer)],
        [...emb('A', 3).embedding.vectors.slice(4, 8)],
      );
    } finally {
      await embedded.close();
      await odbc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
