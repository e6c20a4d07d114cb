/**
 * Opens the store a DatasetState names. The embedded default is a SQLite file under .datastate/.
 *
 * URLs (src/store/url.ts): a SQLite path (or sqlite:PATH, file:PATH); postgres://user:pass@host:port/db;
 * iris:<ODBC connection string> (odbc: means the same); odbc+postgres:<...> and odbc+sqlite:<...> run the
 * ODBC path with PostgreSQL's or SQLite's SQL. Without a URL, DATASTATE_DB_URL is used (for postgres/iris).
 */
import type { ColumnOptions } from '../core/columns.ts';
import type { Store } from '../core/store-port.ts';
import type { VectorPrecision } from './sql/vectors.ts';
import { openSqliteStore } from './embedded.ts';
import { StoreConfigError } from './errors.ts';
import { checkPostgresUrl, parseDbUrl, redactUrl } from './url.ts';

export { StoreConfigError } from './errors.ts';
export { contentHash } from './content-hash.ts';
export { redactUrl } from './url.ts';

export const DEFAULT_SQLITE_PATH = '.datastate/datastate.db';

export interface StoreConfig {
  dialect: 'sqlite' | 'postgres' | 'iris';
  /** Connection URL; for sqlite a file path, `sqlite:PATH` or `file:PATH`. */
  url?: string;
  schema: string;
  tables: { sourceDocuments: string; tokenEmbeddings: string; ledger: string };
  /** Column names of the source and token tables (spec.database.columns); defaults for those not given. */
  columns?: ColumnOptions;
  /** How the token table stores its floats (spec.database.vectorPrecision); default float32. */
  vectorPrecision?: VectorPrecision;
  /**
   * The pass will not write (ValidateOnly, DryRun). The SQLite store then opens its file read-only and does not
   * create a missing one; PostgreSQL sessions are read-only; IRIS's schema check skips its (rolled-back) INSERT
   * probe of the vector dimension.
   */
  readOnly?: boolean;
  /** Longest wait for another session's lock (PostgreSQL lock_timeout, SQLite busy wait); default 10 s. */
  lockTimeoutMs?: number;
  /** Longest run of one statement (PostgreSQL statement_timeout, ODBC query timeout); default 5 min. */
  statementTimeoutMs?: number;
  /** When it aborts (the process is asked to stop), lock waits on SQLite end at once instead of at the bound. */
  signal?: AbortSignal;
  /** Told when a statement starts waiting for another session's lock (SQLite), e.g. to show it to the user. */
  onLockWait?: (message: string) => void;
}

/** The defaults of StoreConfig's time-outs (the spec's defaults, for callers that build a config by hand). */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 300_000;

/** The dialect a URL implies, or null when it does not say. */
export function dialectOfUrl(url: string): StoreConfig['dialect'] | null {
  return parseDbUrl(url)?.dialect ?? null;
}

export async function openStore(config: StoreConfig): Promise<Store> {
  const url =
    config.url ??
    (config.dialect === 'sqlite' ? DEFAULT_SQLITE_PATH : process.env.DATASTATE_DB_URL?.trim() || undefined);
  if (!url)
    throw new StoreConfigError(
      `database.url (or connectionSecretRef, or the environment variable DATASTATE_DB_URL) is required for dialect ${config.dialect}`,
    );
  if (!parseDbUrl(url) && /^[a-z][a-z0-9+.-]*:\/\//i.test(url))
    throw new StoreConfigError(
      `database.url ${redactUrl(url)}: the scheme ${url.slice(0, url.indexOf(':'))}: is not supported; accepted: ` +
        'a SQLite file path, sqlite:PATH, file:PATH, postgres://, postgresql://, iris:, odbc:, odbc+iris:, odbc+postgres:, odbc+sqlite:',
    );
  const parsed = parseDbUrl(url);
  if (parsed?.transport === 'postgres') checkPostgresUrl(parsed.url);
  if (parsed && parsed.dialect !== config.dialect)
    throw new StoreConfigError(
      `database.url looks like ${parsed.dialect} but database.dialect is ${config.dialect}`,
    );
  const names = {
    schema: config.schema,
    tables: config.tables,
    columns: config.columns,
    vectorPrecision: config.vectorPrecision,
  };
  const lockTimeoutMs = config.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const statementTimeoutMs = config.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  if (!parsed) {
    if (config.dialect === 'sqlite')
      return openSqliteStore({
        path: url,
        readOnly: config.readOnly,
        busyTimeoutMs: lockTimeoutMs,
        signal: config.signal,
        onLockWait: config.onLockWait,
        ...names,
      });
    throw new StoreConfigError(
      `database.url ${redactUrl(url)} is not a ${config.dialect} URL: use ` +
        (config.dialect === 'postgres'
          ? 'postgres://user:password@host:5432/database'
          : 'iris:Driver=...;Host=...;Port=1972;Namespace=USER;UID=...;PWD=... (or iris:DSN=...)'),
    );
  }
  switch (parsed.transport) {
    case 'sqlite':
      return openSqliteStore({
        path: parsed.path,
        readOnly: config.readOnly,
        busyTimeoutMs: lockTimeoutMs,
        signal: config.signal,
        onLockWait: config.onLockWait,
        ...names,
      });
    case 'postgres': {
      // pg and odbc are imported for their URL schemes only: a SQLite pass does not load them.
      const { openPostgresStore } = await import('./postgres.ts');
      return openPostgresStore({
        url: parsed.url,
        readOnly: config.readOnly,
        lockTimeoutMs,
        statementTimeoutMs,
        ...names,
      });
    }
    case 'odbc': {
      const { openOdbcStore } = await import('./odbc.ts');
      return openOdbcStore({
        connectionString: parsed.connectionString,
        dialect: parsed.dialect,
        readOnly: config.readOnly,
        lockTimeoutMs,
        statementTimeoutMs,
        ...names,
      });
    }
  }
}
