/**
 * Opens the store a DatasetState names. The embedded default is a SQLite file under .datastate/.
 *
 * URLs (src/store/url.ts): a SQLite path (or sqlite:PATH, file:PATH); postgres://user:pass@host:port/db;
 * iris:<ODBC connection string> (odbc: means the same); odbc+postgres:<...> and odbc+sqlite:<...> run the
 * ODBC path with PostgreSQL's or SQLite's SQL. Without a URL, DATASTATE_DB_URL is used (for postgres/iris).
 */
import type { Store } from '../core/store-port.ts';
import { SqliteStore } from './sqlite.ts';
import { StoreConfigError } from './errors.ts';
import { openPostgresStore } from './postgres.ts';
import { openOdbcStore } from './odbc.ts';
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
  /**
   * The pass will not write (ValidateOnly, DryRun). The SQLite store then opens its file read-only and does not
   * create a missing one; PostgreSQL sessions are read-only; IRIS's schema check skips its (rolled-back) INSERT
   * probe of the vector dimension.
   */
  readOnly?: boolean;
}

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
  const names = { schema: config.schema, tables: config.tables };
  if (!parsed) {
    if (config.dialect === 'sqlite')
      return new SqliteStore({ path: url, readOnly: config.readOnly, ...names });
    throw new StoreConfigError(
      `database.url ${redactUrl(url)} is not a ${config.dialect} URL: use ` +
        (config.dialect === 'postgres'
          ? 'postgres://user:password@host:5432/database'
          : 'iris:Driver=...;Host=...;Port=1972;Namespace=USER;UID=...;PWD=... (or iris:DSN=...)'),
    );
  }
  switch (parsed.transport) {
    case 'sqlite':
      return new SqliteStore({ path: parsed.path, readOnly: config.readOnly, ...names });
    case 'postgres':
      return openPostgresStore({ url: parsed.url, readOnly: config.readOnly, ...names });
    case 'odbc':
      return openOdbcStore({
        connectionString: parsed.connectionString,
        dialect: parsed.dialect,
        readOnly: config.readOnly,
        ...names,
      });
  }
}
