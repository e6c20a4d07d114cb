/**
 * The part of the `odbc` package's API that src/store/clients/odbc.ts uses, declared here so that type-checking
 * never depends on the optional native addon being built (npm skips `odbc` where unixODBC's headers are missing).
 * tsconfig.json maps the module name `odbc` to this file on every machine, with or without the package, so the
 * result of `tsc` is the same everywhere. The promise forms of odbc 2.6's own lib/odbc.d.ts, with one deliberate
 * difference: parameters are `unknown[]`, since the addon binds Buffers and nulls, which its d.ts (`number|string`)
 * does not admit.
 */
export interface Result extends Array<Record<string, unknown>> {
  count: number;
}

export interface Statement {
  prepare(sql: string): Promise<void>;
  bind(params: unknown[]): Promise<void>;
  execute(): Promise<Result>;
  close(): Promise<void>;
}

/** timeout: SQL_ATTR_QUERY_TIMEOUT in seconds. */
export interface QueryOptions {
  timeout?: number;
}

export interface Connection {
  query(sql: string, params?: unknown[]): Promise<Result>;
  query(sql: string, options: QueryOptions): Promise<Result>;
  query(sql: string, params: unknown[], options: QueryOptions): Promise<Result>;
  createStatement(): Promise<Statement>;
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}

export interface ConnectionParameters {
  connectionString: string;
  connectionTimeout?: number;
  loginTimeout?: number;
}

export function connect(connectionString: string | ConnectionParameters): Promise<Connection>;
