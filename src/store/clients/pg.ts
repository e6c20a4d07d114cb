/**
 * SqlClient over node-postgres (`pg`): a small pool, `?` markers rewritten to `$n`, repeated statements
 * prepared once per connection, and COPY FROM STDIN through pg-copy-streams.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Row, SqlClient, SqlSession, SqlValue } from '../sql/client.ts';
import { toDollarParams } from '../sql/params.ts';

export interface PgClientOptions {
  /** postgres://user:password@host:port/database?sslmode=... */
  connectionString: string;
  /** Printable description (no password). */
  description: string;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** Every transaction read-only (default_transaction_read_only): a ValidateOnly/DryRun pass cannot write. */
  readOnly?: boolean;
  /**
   * lock_timeout and statement_timeout of every session (sent at connect): a statement waiting longer for a
   * lock fails with 55P03, one running longer with 57014; both are transient (retried with backoff).
   */
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
}

// bigint (COUNT(*)) comes back as a string unless told otherwise; counts fit in a double.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

function values(params: readonly SqlValue[] | undefined): unknown[] | undefined {
  return params?.map((p) =>
    p instanceof Uint8Array && !Buffer.isBuffer(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p,
  );
}

class PgSession implements SqlSession {
  private readonly c: pg.PoolClient;
  constructor(c: pg.PoolClient) {
    this.c = c;
  }

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    const text = params?.length ? toDollarParams(sql) : sql;
    const r = await this.c.query({ text, values: values(params), types });
    return (Array.isArray(r) ? (r.at(-1)?.rows ?? []) : r.rows) as T[];
  }

  async executeMany(sql: string, rows: Iterable<readonly SqlValue[]>): Promise<void> {
    const text = toDollarParams(sql);
    const name = `ds_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    for (const r of rows) await this.c.query({ name, text, values: values(r), types });
  }

  async copyFrom(sql: string, data: readonly Uint8Array[]): Promise<number> {
    const stream = this.c.query(copyFrom(sql));
    await pipeline(Readable.from(data.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength))), stream);
    return stream.rowCount ?? 0;
  }
}

/** The server ended the session (57P01 admin shutdown, 57P02/57P03, 08xxx connection exceptions). */
function isConnectionLost(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  return code.startsWith('08') || code.startsWith('57P');
}

export class PgClient implements SqlClient {
  readonly description: string;
  readonly pool: pg.Pool;

  constructor(options: PgClientOptions) {
    this.description = options.description;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 4,
      ...(options.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
      ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    });
    // An idle connection the server drops must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
  }

  async withSession<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out client whose connection drops (backend terminated, server restarted) emits 'error'; with no
    // listener Node would kill the process. The query in flight rejects on its own; the client is discarded.
    const onError = (e: Error) => {
      broken ??= e;
    };
    c.on('error', onError);
    try {
      return await fn(new PgSession(c));
    } catch (e) {
      if (!(e as { code?: string }).code) broken ??= e as Error; // not a server error: the connection may be unusable
      if (isConnectionLost(e)) broken ??= e as Error;
      throw e;
    } finally {
      c.off('error', onError);
      c.release(broken);
    }
  }

  async transaction<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    return this.withSession(async (s) => {
      await s.query('BEGIN');
      try {
        const out = await fn(s);
        await s.query('COMMIT');
        return out;
      } catch (e) {
        await s.query('ROLLBACK').catch(() => {});
        throw e;
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
