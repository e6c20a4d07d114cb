/**
 * Stores reached over ODBC: InterSystems IRIS (its own driver), and for testing the same code path, PostgreSQL
 * (psqlODBC, Debian's odbc-postgresql) and SQLite (Debian's libsqliteodbc).
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OdbcClient, type OdbcClientOptions } from './clients/odbc.ts';
import { IrisDialect } from './dialects/iris.ts';
import { PostgresDialect } from './dialects/postgres.ts';
import { SqliteDialect, sqliteIdent } from './dialects/sqlite.ts';
import { StoreConfigError } from './errors.ts';
import { SqlStore } from './sql-store.ts';
import { tableNames, type SqlDialect, type TableNameOptions } from './sql/dialect.ts';
import {
  formatConnectionString,
  parseConnectionString,
  redactConnectionString,
  type SqlDialectName,
} from './url.ts';

export interface OdbcStoreOptions extends TableNameOptions {
  /** Key=Value;... (Driver=...;Host=...;Port=...;Namespace=...;UID=...;PWD=..., or DSN=...). */
  connectionString: string;
  /** The SQL the server speaks (default iris). */
  dialect?: SqlDialectName;
  /** Connections kept (default 4). */
  poolSize?: number;
  /** A pass that will not write (ValidateOnly, DryRun): IRIS's schema check then skips its INSERT probe. */
  readOnly?: boolean;
  /**
   * Longest wait for another session's lock: PostgreSQL's lock_timeout, SQLite's busy_timeout (the ODBC addon
   * runs calls off the event loop, so SQLite may wait inside). IRIS bounds lock waits on the server (its SQL
   * LockTimeout setting, 10 s by default), so this is not sent to IRIS.
   */
  lockTimeoutMs?: number;
  /** Longest run of one query: the ODBC query timeout (rounded up to seconds), and PostgreSQL's statement_timeout. */
  statementTimeoutMs?: number;
}

const HINTS: Record<SqlDialectName, string> = {
  iris:
    'the InterSystems IRIS ODBC driver (libirisodbcur6435.so) must be installed and registered in /etc/odbcinst.ini, ' +
    'or the DSN defined in odbc.ini: see docs/databases.md',
  postgres: 'apt-get install odbc-postgresql registers the "PostgreSQL Unicode" driver',
  sqlite: 'apt-get install libsqliteodbc registers the "SQLite3" driver',
};

export function openOdbcStore(options: OdbcStoreOptions): SqlStore {
  const kind = options.dialect ?? 'iris';
  const names = tableNames(options);
  const attrs = parseConnectionString(options.connectionString);
  const client: OdbcClientOptions = {
    connectionString: options.connectionString,
    description: `odbc+${kind}:${redactConnectionString(options.connectionString)}`,
    poolSize: options.poolSize,
    connectHint: HINTS[kind],
    ...(options.statementTimeoutMs
      ? { queryTimeoutSeconds: Math.ceil(options.statementTimeoutMs / 1000) }
      : {}),
  };
  let dialect: SqlDialect;
  switch (kind) {
    case 'iris':
      dialect = new IrisDialect(names, { probe: !options.readOnly });
      break;
    case 'postgres':
      // psqlODBC has no COPY: token rows go in as multi-row INSERTs.
      dialect = new PostgresDialect(names, { bulk: 'insert' });
      client.onConnect = [
        ...(options.lockTimeoutMs ? [`SET lock_timeout = ${Math.round(options.lockTimeoutMs)}`] : []),
        ...(options.statementTimeoutMs
          ? [`SET statement_timeout = ${Math.round(options.statementTimeoutMs)}`]
          : []),
      ];
      break;
    case 'sqlite': {
      // As in the embedded store: an in-memory main database with the file attached under the schema name,
      // so the tables are "RAG"."SourceDocuments" and a file written by one store is read by the other.
      const db = attrs.find((a) => /^database$/i.test(a.key));
      if (!db?.value)
        throw new StoreConfigError('odbc+sqlite: the connection string needs Database=/path/to/file.db');
      const path = resolve(db.value);
      mkdirSync(dirname(path), { recursive: true });
      client.connectionString = formatConnectionString(
        attrs.map((a) => (a === db ? { key: a.key, value: ':memory:' } : a)),
      );
      client.onConnect = [
        `ATTACH DATABASE '${path.replace(/'/g, "''")}' AS ${sqliteIdent(names.schema)}`,
        `PRAGMA busy_timeout = ${Math.round(options.lockTimeoutMs ?? 10_000)}`,
        `PRAGMA ${sqliteIdent(names.schema)}.journal_mode = WAL`,
        `PRAGMA ${sqliteIdent(names.schema)}.synchronous = NORMAL`,
      ];
      // Take the write lock up front (as the embedded store does), so two writers wait instead of deadlocking.
      client.transactionSql = { begin: 'BEGIN IMMEDIATE', commit: 'COMMIT', rollback: 'ROLLBACK' };
      dialect = new SqliteDialect(names);
      break;
    }
  }
  return new SqlStore(dialect, new OdbcClient(client));
}
