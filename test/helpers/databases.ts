/**
 * The databases the store conformance suite runs against, each created fresh for a test and dropped after:
 *
 *   sqlite         the embedded store (SqlStore, SQLite dialect, node:sqlite), a temp file
 *   postgres       a real PostgreSQL server through `pg` (a new database per test); real[] vectors
 *                  (pgvector's vector if the server has the extension)
 *   pglite         PostgreSQL in WASM with pgvector: the vector(n) variant of the PostgreSQL SQL, for real
 *   odbc+postgres  the ODBC path (odbc addon, unixODBC, psqlODBC) to the same server, a new database per test
 *   odbc+sqlite    the ODBC path with SQLite's ODBC driver, a temp file
 *   memory         the in-memory store (src/store/memory.ts): run by test/unit/store-memory.test.ts
 *
 * The real server comes from DATASTATE_TEST_PG_URL (scripts/ci-databases.sh starts one and prints it).
 * Without it, the server and ODBC tests fail and say how to start it, unless DATASTATE_SKIP_DB_TESTS=1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Store } from '../../src/core/store-port.ts';
import { openSqliteStore } from '../../src/store/embedded.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import { openPgliteStore, openPostgresStore } from '../../src/store/postgres.ts';
import { openOdbcStore } from '../../src/store/odbc.ts';
import { loadOdbc } from '../../src/store/clients/odbc.ts';
import type { TableNameOptions } from '../../src/store/sql/dialect.ts';
import type { VectorPrecision } from '../../src/store/sql/vectors.ts';
import type { PgliteLike } from '../../src/store/clients/pglite.ts';
import { MemoryStore, type MemoryDocument } from '../../src/store/memory.ts';

export type SqlBackendName = 'sqlite' | 'postgres' | 'pglite' | 'odbc+postgres' | 'odbc+sqlite' | 'iris';
export type BackendName = SqlBackendName | 'memory';
/**
 * `iris` joins only when DATASTATE_TEST_IRIS_URL names an IRIS to test against (iris:DSN=...;UID=...;PWD=...):
 * none can be had where this is developed, so that backend has never been run; the tables it creates in the
 * RAG schema of that namespace are dropped after each test.
 */
export const BACKENDS: SqlBackendName[] = [
  'sqlite',
  'postgres',
  'pglite',
  'odbc+postgres',
  'odbc+sqlite',
  ...(process.env.DATASTATE_TEST_IRIS_URL ? (['iris'] as const) : []),
];

/**
 * The backends that store float16 vectors (database.vectorPrecision: float16): SQLite (BLOBs, both drivers) and
 * pgvector's halfvec (PGlite). The test PostgreSQL has no pgvector, so float16 is refused there
 * (test/store/postgres.test.ts); with DATASTATE_TEST_PGVECTOR=1 (a server that has it) it joins.
 */
export const FLOAT16_BACKENDS: SqlBackendName[] = [
  'sqlite',
  'odbc+sqlite',
  'pglite',
  ...(process.env.DATASTATE_TEST_PGVECTOR === '1' ? (['postgres', 'odbc+postgres'] as const) : []),
];

export const SKIP_DB_TESTS = process.env.DATASTATE_SKIP_DB_TESTS === '1';

export const HOW_TO_START =
  'DATASTATE_TEST_PG_URL is not set: start the test database with `eval "$(scripts/ci-databases.sh)"` ' +
  '(installs PostgreSQL and the ODBC drivers with apt-get, starts a cluster on 127.0.0.1:55432 and exports the URL), ' +
  'or point DATASTATE_TEST_PG_URL at a PostgreSQL server where the user may CREATE DATABASE; ' +
  'or set DATASTATE_SKIP_DB_TESTS=1 to skip these tests';

/** Which backends need something outside the process, and whether the tests may skip them. */
export function backendRequirement(name: BackendName): { needsServer: boolean; needsOdbc: boolean } {
  return {
    needsServer: name === 'postgres' || name === 'odbc+postgres' || name === 'iris',
    needsOdbc: name.startsWith('odbc') || name === 'iris',
  };
}

/** Why a backend's tests are skipped (only with DATASTATE_SKIP_DB_TESTS=1), or false. */
export function skipReason(name: BackendName): string | false {
  if (!SKIP_DB_TESTS) return false;
  const r = backendRequirement(name);
  return r.needsServer || r.needsOdbc ? 'DATASTATE_SKIP_DB_TESTS=1' : false;
}

export function pgUrl(): string {
  const url = process.env.DATASTATE_TEST_PG_URL;
  if (!url) throw new Error(HOW_TO_START);
  return url;
}

export type TableKey = 'docs' | 'tokens' | 'ledger';

/** Changes made to a database behind the store's back (another program), as the conformance suite makes them. */
export interface OutOfBand {
  /** Runs the fix a schema report names (SQL DDL; the in-memory store's own statements). */
  runFix(fix: string): Promise<void>;
  dropTrigger(): Promise<void>;
  /** ALTER TABLE SourceDocuments DROP COLUMN. */
  dropColumn(column: string): Promise<void>;
  /** UPDATE SourceDocuments SET column = value WHERE doc_id = ? */
  setColumn(docId: string, column: string, value: string | null): Promise<void>;
  /** DELETE FROM table WHERE doc_id = ? */
  deleteRow(table: TableKey, docId: string): Promise<void>;
  /** SELECT doc_id FROM table (one id per row), by the table's own name. */
  rowIds(table: TableKey): Promise<string[]>;
  /** DELETE FROM the token table WHERE doc_id = ? AND token_index = ? */
  deleteTokenRow(docId: string, tokenIndex: number): Promise<void>;
  /** INSERT INTO the token table a copy of one row under another token_index (INSERT ... SELECT). */
  copyTokenRow(docId: string, fromIndex: number, toIndex: number): Promise<void>;
  /** UPDATE the token table SET doc_id = toDocId WHERE doc_id = ? AND token_index = ? */
  moveTokenRow(docId: string, tokenIndex: number, toDocId: string): Promise<void>;
  /** Empties the token table: TRUNCATE on PostgreSQL, DELETE FROM (no WHERE) on SQLite. */
  truncateTokens(): Promise<void>;
}

export interface TestDb extends OutOfBand {
  name: BackendName;
  store: Store;
  /** Opens another store on the same database (a second writer), with other table options if given. */
  openAnother(options?: TableNameOptions): Promise<Store>;
  /** Reads back the stored vector of one token row as float32 values. */
  readVector(docId: string, tokenIndex: number): Promise<number[]>;
  cleanup(): Promise<void>;
}

/** A SQL backend: raw SQL outside the store (tests only), one statement or several separated by `;`. */
interface SqlTestDb extends Omit<TestDb, keyof OutOfBand> {
  raw(sql: string): Promise<Record<string, unknown>[]>;
  /** The SQL that drops the content-change trigger. */
  dropTriggerSql: string;
}

/** A SQL backend's TestDb, with raw SQL beside the out-of-band operations. */
export type SqlDb = TestDb & SqlTestDb;

/** The out-of-band changes of a SQL backend, as SQL on the tables named in `names`. */
function sqlOutOfBand(db: SqlTestDb, names: TableNameOptions): SqlDb {
  const schema = names.schema ?? 'RAG';
  const table: Record<TableKey, string> = {
    docs: names.tables?.sourceDocuments ?? 'SourceDocuments',
    tokens: names.tables?.tokenEmbeddings ?? 'DocumentTokenEmbeddings',
    ledger: names.tables?.ledger ?? 'DocumentEmbeddingLedger',
  };
  const T = (t: TableKey) => `"${schema}"."${table[t]}"`;
  const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;
  return {
    ...db,
    runFix: async (fix) => void (await db.raw(fix)),
    dropTrigger: async () => void (await db.raw(db.dropTriggerSql)),
    dropColumn: async (column) => void (await db.raw(`ALTER TABLE ${T('docs')} DROP COLUMN ${column}`)),
    setColumn: async (docId, column, value) =>
      void (await db.raw(
        `UPDATE ${T('docs')} SET ${column} = ${value === null ? 'NULL' : lit(value)} WHERE doc_id = ${lit(docId)}`,
      )),
    deleteRow: async (t, docId) => void (await db.raw(`DELETE FROM ${T(t)} WHERE doc_id = ${lit(docId)}`)),
    rowIds: async (t) => (await db.raw(`SELECT doc_id FROM ${T(t)}`)).map((r) => String(r.doc_id)),
    deleteTokenRow: async (docId, i) =>
      void (await db.raw(`DELETE FROM ${T('tokens')} WHERE doc_id = ${lit(docId)} AND token_index = ${i}`)),
    copyTokenRow: async (docId, from, to) =>
      void (await db.raw(
        `INSERT INTO ${T('tokens')} (doc_id, token_index, token_text, token_embedding) ` +
          `SELECT doc_id, ${to}, token_text, token_embedding FROM ${T('tokens')} WHERE doc_id = ${lit(docId)} AND token_index = ${from}`,
      )),
    moveTokenRow: async (docId, i, to) =>
      void (await db.raw(
        `UPDATE ${T('tokens')} SET doc_id = ${lit(to)} WHERE doc_id = ${lit(docId)} AND token_index = ${i}`,
      )),
    truncateTokens: async () =>
      void (await db.raw(`${db.name.endsWith('sqlite') ? 'DELETE FROM' : 'TRUNCATE TABLE'} ${T('tokens')}`)),
  };
}

/** Splits a script on `;` outside quotes and dollar-quoted bodies. */
export function splitSql(script: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  while (i < script.length) {
    const c = script[i]!;
    if (c === "'" || c === '"') {
      const end = script.indexOf(c, i + 1);
      const stop = end < 0 ? script.length : end + 1;
      cur += script.slice(i, stop);
      i = stop;
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(script.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(script.slice(i))![0];
      const end = script.indexOf(tag, i + tag.length);
      const stop = end < 0 ? script.length : end + tag.length;
      cur += script.slice(i, stop);
      i = stop;
    } else if (c === ';' && /^\s*CREATE\s+TRIGGER\b[\s\S]*\bBEGIN\b/i.test(cur) && !/\bEND\s*$/i.test(cur)) {
      cur += c; // inside a trigger's BEGIN ... END
      i++;
    } else if (c === ';') {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

let dbCounter = 0;

async function createPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = pgUrl();
  const name = `datastate_test_${process.pid}_${Date.now().toString(36)}_${dbCounter++}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      try {
        await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await d.end();
      }
    },
  };
}

/** psqlODBC connection string for a postgres:// URL. */
export function psqlOdbcConnectionString(url: string): string {
  const u = new URL(url);
  return (
    `Driver={PostgreSQL Unicode};Server=${u.hostname};Port=${u.port || '5432'};Database=${u.pathname.slice(1)};` +
    `Uid=${decodeURIComponent(u.username)};Pwd=${decodeURIComponent(u.password)};`
  );
}

function fromBlob(b: unknown, precision: VectorPrecision = 'float32'): number[] {
  const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : (b as Uint8Array);
  const copy = new Uint8Array(bytes);
  if (precision === 'float16') return [...new Float16Array(copy.buffer, 0, copy.length / 2)];
  return [...new Float32Array(copy.buffer, 0, copy.length / 4)];
}

/** float4 text (shortest form that reads back as the same float4) to the float32 values themselves. */
function fromText(v: unknown): number[] {
  if (Array.isArray(v)) return v.map((x) => Math.fround(Number(x)));
  return String(v)
    .replace(/^[[{]|[\]}]$/g, '')
    .split(',')
    .map((x) => Math.fround(Number(x)));
}

async function sqlStoreRaw(store: SqlStore, sql: string): Promise<Record<string, unknown>[]> {
  let last: Record<string, unknown>[] = [];
  for (const stmt of splitSql(sql)) last = await store.client.withSession((s) => s.query(stmt));
  return last;
}

let pgliteShared: Promise<PgliteLike> | null = null;

/** One PGlite (with pgvector) per test process: starting one takes seconds; tests drop their schemas after. */
async function sharedPglite(): Promise<PgliteLike> {
  pgliteShared ??= (async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const { vector } = await import('@electric-sql/pglite-pgvector');
    return (await PGlite.create({ extensions: { vector } })) as unknown as PgliteLike;
  })();
  return pgliteShared;
}

/** Closes the shared PGlite (call from an after() hook). */
export async function closeShared(): Promise<void> {
  if (pgliteShared) await (await pgliteShared).close();
  pgliteShared = null;
}

export async function openTestDb(name: SqlBackendName, names?: TableNameOptions): Promise<SqlDb>;
export async function openTestDb(name: BackendName, names?: TableNameOptions): Promise<TestDb>;
export async function openTestDb(name: BackendName, names: TableNameOptions = {}): Promise<TestDb> {
  if (name === 'memory') return openMemoryDb(names);
  return sqlOutOfBand(await openSqlTestDb(name, names), names);
}

function openMemoryDb(names: TableNameOptions): TestDb {
  const store = new MemoryStore(names);
  const db = store.db;
  return {
    name: 'memory',
    store,
    openAnother: async () => store.another(),
    readVector: async (docId, i) => [...db.vector(docId, i)],
    runFix: async (fix) => db.execute(fix),
    dropTrigger: async () => db.execute(`DROP TRIGGER ${db.object(`${db.names.docs}_content_changed`)}`),
    dropColumn: async (column) => db.execute(`ALTER TABLE ${db.object(db.names.docs)} DROP COLUMN ${column}`),
    setColumn: async (docId, column, value) =>
      db.setColumn('docs', docId, column as keyof MemoryDocument, value),
    deleteRow: async (t, docId) => db.deleteRows(t, docId),
    rowIds: async (t) => db.rowIds(t),
    deleteTokenRow: async (docId, i) => db.deleteTokenRow(docId, i),
    copyTokenRow: async (docId, from, to) => db.copyTokenRow(docId, from, to),
    moveTokenRow: async (docId, i, to) => db.moveTokenRow(docId, i, to),
    truncateTokens: async () => db.execute(`DELETE FROM ${db.object(db.names.tokens)}`),
    cleanup: () => store.close(),
  };
}

async function openSqlTestDb(name: SqlBackendName, names: TableNameOptions): Promise<SqlTestDb> {
  const schema = names.schema ?? 'RAG';
  const tokens = names.tables?.tokenEmbeddings ?? 'DocumentTokenEmbeddings';
  const docs = names.tables?.sourceDocuments ?? 'SourceDocuments';
  const vectorQuery = (q: string) =>
    `SELECT token_embedding AS v FROM "${schema}"."${tokens}" WHERE doc_id = '${q.split('\u0000')[0]}' AND token_index = ${Number(q.split('\u0000')[1])}`;
  const pgDropTrigger = `DROP TRIGGER "${docs}_content_changed" ON "${schema}"."${docs}"`;
  const sqliteDropTrigger = `DROP TRIGGER "${schema}"."${docs}_content_changed"`;
  switch (name) {
    case 'sqlite': {
      const dir = mkdtempSync(join(tmpdir(), 'ds-store-'));
      const path = join(dir, 'sub', 'x.db');
      const open = (o: TableNameOptions = {}) => openSqliteStore({ path, ...names, ...o });
      const store = open();
      const others: Store[] = [];
      return {
        name,
        store,
        async openAnother(o?: TableNameOptions) {
          const s = open(o);
          others.push(s);
          return s;
        },
        raw: (sql) => sqlStoreRaw(store, sql),
        async readVector(docId, i) {
          const [r] = await sqlStoreRaw(store, vectorQuery(`${docId}\u0000${i}`));
          return fromBlob(r!.v, names.vectorPrecision);
        },
        dropTriggerSql: sqliteDropTrigger,
        async cleanup() {
          for (const s of [store, ...others]) await s.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    case 'odbc+sqlite': {
      await loadOdbc();
      const dir = mkdtempSync(join(tmpdir(), 'ds-store-odbc-'));
      const open = (o: TableNameOptions = {}) =>
        openOdbcStore({
          connectionString: `Driver=SQLite3;Database=${join(dir, 'sub', 'x.db')}`,
          dialect: 'sqlite',
          ...names,
          ...o,
        });
      const store = open();
      const others: Store[] = [];
      return {
        name,
        store,
        async openAnother(o?: TableNameOptions) {
          const s = open(o);
          others.push(s);
          return s;
        },
        raw: (sql) => sqlStoreRaw(store, sql),
        async readVector(docId, i) {
          const [r] = await sqlStoreRaw(store, vectorQuery(`${docId}\u0000${i}`));
          return fromBlob(r!.v, names.vectorPrecision);
        },
        dropTriggerSql: sqliteDropTrigger,
        async cleanup() {
          for (const s of [store, ...others]) await s.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    case 'postgres':
    case 'odbc+postgres': {
      if (name === 'odbc+postgres') await loadOdbc();
      const db = await createPgDatabase();
      const open = (o: TableNameOptions = {}) =>
        name === 'postgres'
          ? openPostgresStore({ url: db.url, ...names, ...o })
          : openOdbcStore({
              connectionString: psqlOdbcConnectionString(db.url),
              dialect: 'postgres',
              ...names,
              ...o,
            });
      const store = open();
      const others: Store[] = [];
      return {
        name,
        store,
        async openAnother(o?: TableNameOptions) {
          const s = open(o);
          others.push(s);
          return s;
        },
        raw: (sql) => sqlStoreRaw(store, sql),
        async readVector(docId, i) {
          const [r] = await sqlStoreRaw(
            store,
            vectorQuery(`${docId}\u0000${i}`).replace(
              'token_embedding AS v',
              'CAST(token_embedding AS text) AS v',
            ),
          );
          return fromText(r!.v);
        },
        dropTriggerSql: pgDropTrigger,
        async cleanup() {
          for (const s of [store, ...others]) await s.close();
          await db.drop();
        },
      };
    }
    case 'iris': {
      const url = process.env.DATASTATE_TEST_IRIS_URL!;
      const open = (o: TableNameOptions = {}) =>
        openOdbcStore({
          connectionString: url.replace(/^(odbc\+iris|iris|odbc):/i, ''),
          dialect: 'iris',
          ...names,
          ...o,
        });
      const store = open();
      const others: Store[] = [];
      const q = (id: string) => `${schema}.${id}`;
      return {
        name,
        store,
        async openAnother(o?: TableNameOptions) {
          const s = open(o);
          others.push(s);
          return s;
        },
        raw: (sql) => sqlStoreRaw(store, sql),
        async readVector(docId, i) {
          const [r] = await sqlStoreRaw(
            store,
            `SELECT token_embedding AS v FROM ${q(tokens)} WHERE doc_id = '${docId}' AND token_index = ${i}`,
          );
          return fromText(r!.v);
        },
        dropTriggerSql: `DROP TRIGGER ${q(`${docs}_content_changed`)}`,
        async cleanup() {
          for (const t of [tokens, names.tables?.ledger ?? 'DocumentEmbeddingLedger', docs])
            await store.client.withSession((s) => s.query(`DROP TABLE ${q(t)}`)).catch(() => {});
          for (const s of [store, ...others]) await s.close();
        },
      };
    }
    case 'pglite': {
      const pglite = await sharedPglite();
      const store = openPgliteStore({ db: pglite, ...names });
      return {
        name,
        store,
        async openAnother(o?: TableNameOptions) {
          return openPgliteStore({ db: pglite, ...names, ...o });
        },
        raw: (sql) => sqlStoreRaw(store, sql),
        async readVector(docId, i) {
          const [r] = await sqlStoreRaw(
            store,
            vectorQuery(`${docId}\u0000${i}`).replace(
              'token_embedding AS v',
              'CAST(token_embedding AS text) AS v',
            ),
          );
          return fromText(r!.v);
        },
        dropTriggerSql: pgDropTrigger,
        async cleanup() {
          const schemas = await pglite.query<{ nspname: string }>(
            `SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('public', 'information_schema')`,
          );
          for (const { nspname } of schemas.rows) await pglite.query(`DROP SCHEMA "${nspname}" CASCADE`);
          await pglite.query('DROP EXTENSION IF EXISTS vector CASCADE');
        },
      };
    }
  }
}
