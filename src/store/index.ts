/**
 * Opens the store a DatasetState names. The embedded default is a SQLite file under .datastate/.
 */
import type { Store } from '../core/store-port.ts';
import { SqliteStore } from './sqlite.ts';
import { StoreConfigError } from './errors.ts';

export { StoreConfigError } from './errors.ts';
export { contentHash } from './content-hash.ts';

export const DEFAULT_SQLITE_PATH = '.datastate/datastate.db';

export interface StoreConfig {
  dialect: 'sqlite' | 'postgres' | 'iris';
  /** Connection URL; for sqlite a file path, `sqlite:PATH` or `file:PATH`. */
  url?: string;
  schema: string;
  tables: { sourceDocuments: string; tokenEmbeddings: string; ledger: string };
}

/** The dialect a URL implies, or null when it does not say. */
export function dialectOfUrl(url: string): StoreConfig['dialect'] | null {
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgres';
  if (/^(odbc|iris):/i.test(url)) return 'iris';
  if (/^(sqlite|file):/i.test(url) || /\.(db|sqlite3?)$/i.test(url)) return 'sqlite';
  return null;
}

export async function openStore(config: StoreConfig): Promise<Store> {
  const url = config.url ?? (config.dialect === 'sqlite' ? DEFAULT_SQLITE_PATH : undefined);
  if (!url) throw new StoreConfigError(`database.url (or connectionSecretRef) is required for dialect ${config.dialect}`);
  const implied = dialectOfUrl(url);
  if (implied && implied !== config.dialect)
    throw new StoreConfigError(`database.url looks like ${implied} but database.dialect is ${config.dialect}`);
  switch (config.dialect) {
    case 'sqlite':
      return new SqliteStore({ path: url.replace(/^(sqlite|file):(\/\/)?/i, ''), schema: config.schema, tables: config.tables });
    case 'postgres':
    case 'iris':
      throw new StoreConfigError(`the ${config.dialect} store is not available in this build yet; use dialect sqlite`);
  }
}
