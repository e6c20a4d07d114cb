/**
 * The PostgreSQL store: PostgreSQL's SQL (src/store/dialects/postgres.ts) over `pg`, or over PGlite in process.
 */
import { PgClient } from './clients/pg.ts';
import { PgliteClient, type PgliteLike } from './clients/pglite.ts';
import { PostgresDialect, type PostgresDialectOptions } from './dialects/postgres.ts';
import { SqlStore } from './sql-store.ts';
import { tableNames, type TableNameOptions } from './sql/dialect.ts';
import { redactUrl } from './url.ts';

export interface PostgresStoreOptions extends TableNameOptions, PostgresDialectOptions {
  /** postgres://user:password@host:port/database[?sslmode=require] */
  url: string;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** Read-only sessions (ValidateOnly, DryRun): any write fails. */
  readOnly?: boolean;
  /** lock_timeout of every session (default: the server's, i.e. none). */
  lockTimeoutMs?: number;
  /** statement_timeout of every session (default: the server's, i.e. none). */
  statementTimeoutMs?: number;
}

export function openPostgresStore(options: PostgresStoreOptions): SqlStore {
  const dialect = new PostgresDialect(tableNames(options), options);
  const client = new PgClient({
    connectionString: options.url,
    description: redactUrl(options.url),
    poolSize: options.poolSize,
    readOnly: options.readOnly,
    lockTimeoutMs: options.lockTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
  });
  return new SqlStore(dialect, client);
}

export interface PgliteStoreOptions extends TableNameOptions, PostgresDialectOptions {
  /** A PGlite instance (from @electric-sql/pglite), e.g. created with the pgvector extension. */
  db: PgliteLike;
  /** Close the PGlite instance with the store (default false). */
  owned?: boolean;
}

/** The same store on PGlite (PostgreSQL in WASM, in process): what the tests use to run the pgvector SQL. */
export function openPgliteStore(options: PgliteStoreOptions): SqlStore {
  const dialect = new PostgresDialect(tableNames(options), options);
  return new SqlStore(dialect, new PgliteClient(options.db, { owned: options.owned }));
}
