/**
 * SqlClient over PGlite (PostgreSQL compiled to WASM, in process). The tests use it to run the pgvector
 * variant of the PostgreSQL SQL for real: Debian has no pgvector package, PGlite ships pgvector built in.
 * PGlite is one connection: its own queue serializes sessions and transactions. COPY goes through PGlite's
 * /dev/blob device.
 *
 * Typed structurally, so src/ does not depend on the (dev-only) @electric-sql/pglite package.
 */
import type { Row, SqlClient, SqlSession, SqlValue } from '../sql/client.ts';
import { toDollarParams } from '../sql/params.ts';

interface PgliteQueryable {
  query<T>(
    sql: string,
    params?: unknown[],
    options?: { blob?: Blob },
  ): Promise<{ rows: T[]; affectedRows?: number }>;
}

export interface PgliteLike extends PgliteQueryable {
  transaction<T>(fn: (tx: PgliteQueryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function lower(row: Record<string, unknown>): Row {
  const out: Row = {};
  for (const k of Object.keys(row)) {
    const v = row[k];
    out[k.toLowerCase()] = typeof v === 'bigint' ? Number(v) : v;
  }
  return out;
}

class PgliteSession implements SqlSession {
  private readonly q: PgliteQueryable;
  constructor(q: PgliteQueryable) {
    this.q = q;
  }

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    const r = await this.q.query<Record<string, unknown>>(
      params?.length ? toDollarParams(sql) : sql,
      params ? [...params] : undefined,
    );
    return r.rows.map(lower) as T[];
  }

  async executeMany(sql: string, rows: Iterable<readonly SqlValue[]>): Promise<void> {
    const text = toDollarParams(sql);
    for (const r of rows) await this.q.query(text, [...r]);
  }

  async copyFrom(sql: string, data: readonly Uint8Array[]): Promise<number> {
    const r = await this.q.query(sql.replace(/\bFROM\s+STDIN\b/i, `FROM '/dev/blob'`), [], {
      blob: new Blob(data as Uint8Array<ArrayBuffer>[]),
    });
    return r.affectedRows ?? 0;
  }
}

export class PgliteClient implements SqlClient {
  readonly description: string;
  readonly db: PgliteLike;
  private readonly owned: boolean;

  /** owned: close() closes the PGlite instance too. */
  constructor(db: PgliteLike, options: { description?: string; owned?: boolean } = {}) {
    this.db = db;
    this.description = options.description ?? 'pglite (in process)';
    this.owned = options.owned ?? false;
  }

  withSession<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    return fn(new PgliteSession(this.db));
  }

  transaction<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PgliteSession(tx)));
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}
