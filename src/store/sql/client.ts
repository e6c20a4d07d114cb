/**
 * The small query interface the SQL stores run on. Each driver (pg, PGlite, ODBC) implements it; the SQL
 * itself comes from a dialect (src/store/dialects). Statements use `?` parameter markers in every dialect;
 * a client whose driver wants `$1` rewrites them (src/store/sql/params.ts).
 */

export type SqlValue = string | number | null | Uint8Array;

/** A row with lower-case column names (drivers differ in the case they report). */
export type Row = Record<string, unknown>;

/** One connection, inside or outside a transaction. */
export interface SqlSession {
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs one statement once per parameter row (prepared once where the driver can). */
  executeMany(sql: string, rows: Iterable<readonly SqlValue[]>): Promise<void>;
  /** COPY ... FROM STDIN with the given bytes, where the driver can (PostgreSQL only); absent elsewhere. */
  copyFrom?(sql: string, data: readonly Uint8Array[]): Promise<number>;
}

export interface SqlClient {
  /** A description safe to print (no credentials). */
  readonly description: string;
  /** Runs fn on one connection in autocommit mode. */
  withSession<T>(fn: (s: SqlSession) => Promise<T>): Promise<T>;
  /** Runs fn in one transaction on one connection: committed when fn resolves, rolled back when it throws. */
  transaction<T>(fn: (s: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Lower-cases the keys of a driver's row. */
export function lowerKeys(row: Record<string, unknown>): Row {
  const out: Row = {};
  for (const k of Object.keys(row)) out[k.toLowerCase()] = row[k];
  return out;
}
