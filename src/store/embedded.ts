/**
 * The embedded default store: one SQLite file, SQLite's SQL (src/store/dialects/sqlite.ts) over node:sqlite
 * (src/store/clients/sqlite.ts), on the same SQL store core as every other database (src/store/sql-store.ts).
 *
 * Vectors are stored as little-endian float32 BLOBs (4 bytes per dimension), or float16 (2 bytes) under
 * database.vectorPrecision: float16; a CHECK constraint pins their byte length to the declared dimension, so no
 * vector of another dimension can be written.
 */
import { SqliteClient } from './clients/sqlite.ts';
import { SqliteDialect } from './dialects/sqlite.ts';
import { SqlStore } from './sql-store.ts';
import { tableNames, type TableNameOptions } from './sql/dialect.ts';

export interface SqliteStoreOptions extends TableNameOptions {
  /** Path of the database file; created (with its directory) if missing. ':memory:' is an in-memory database. */
  path: string;
  /** Milliseconds to wait for another writer's lock before giving up (default 10 s). */
  busyTimeoutMs?: number;
  /**
   * Open without the right to write (ValidateOnly, DryRun): a missing file is not created but inspected as
   * an empty database, and any write to the file fails.
   */
  readOnly?: boolean;
  /** Ends lock waits when it aborts (SIGINT, SIGTERM): see src/store/clients/sqlite.ts. */
  signal?: AbortSignal;
  /** Told when a statement starts waiting for another writer's lock. */
  onLockWait?: (message: string) => void;
}

export function openSqliteStore(options: SqliteStoreOptions): SqlStore {
  const names = tableNames(options);
  const client = new SqliteClient({
    path: options.path,
    schema: names.schema,
    busyTimeoutMs: options.busyTimeoutMs,
    readOnly: options.readOnly,
    signal: options.signal,
    onLockWait: options.onLockWait,
  });
  return new SqlStore(new SqliteDialect(names, { tokenRowsPerInsert: 1 }), client);
}
