/**
 * SqlClient over ODBC: the `odbc` package (an optional native addon) on unixODBC. One code path for every
 * ODBC driver; what a driver needs beyond plain ODBC comes in as options (statements run when a connection
 * opens, SQL that begins a transaction).
 *
 * The addon is loaded on first use with a dynamic import, so everything else works on machines where it
 * could not be built: it needs unixODBC's headers, and npm skips an optional package whose build fails
 * (apt-get install unixodbc unixodbc-dev, then npm ci again).
 */
import type { Row, SqlClient, SqlSession, SqlValue } from '../sql/client.ts';
import { lowerKeys } from '../sql/client.ts';
import { StoreConfigError, odbcText } from '../errors.ts';
import type { Connection as OdbcConnection, Statement as OdbcStatement } from 'odbc';

type OdbcModule = typeof import('odbc');

/** What to do when `import('odbc')` fails: the package was skipped (its build failed), or its binary does not load. */
export const ODBC_MISSING =
  'the ODBC driver manager bindings are not installed: the optional npm package `odbc` was skipped because it could ' +
  'not be built; apt-get install unixodbc unixodbc-dev, then run npm ci again';
export const ODBC_BROKEN =
  'the ODBC driver manager bindings do not load (the `odbc` addon was built for another Node.js or without unixODBC): ' +
  'apt-get install unixodbc unixodbc-dev, then npm rebuild odbc';

let loaded: Promise<OdbcModule> | null = null;

/** The odbc addon, or a StoreConfigError naming the packages to install. */
export function loadOdbc(): Promise<OdbcModule> {
  loaded ??= (async () => {
    try {
      const mod = (await import('odbc')) as unknown as { default?: OdbcModule } & OdbcModule;
      return mod.default ?? mod;
    } catch (e) {
      loaded = null;
      const missing =
        (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /'odbc'/.test((e as Error).message);
      throw new StoreConfigError(
        `${missing ? ODBC_MISSING : ODBC_BROKEN} (${(e as Error).message.split('\n')[0]})`,
      );
    }
  })();
  return loaded;
}

export interface OdbcClientOptions {
  connectionString: string;
  /** Printable description (no password). */
  description: string;
  /** Connections kept (default 4). */
  poolSize?: number;
  /** Statements run on every new connection (e.g. SQLite's ATTACH and PRAGMAs). */
  onConnect?: string[];
  /** SQL that begins/commits/rolls back a transaction; by default ODBC's own (autocommit off, SQLEndTran). */
  transactionSql?: { begin: string; commit: string; rollback: string };
  /** Seconds to wait for a connection (default 15). */
  loginTimeout?: number;
  /** A hint added to connection errors (e.g. which driver package to install). */
  connectHint?: string;
  /**
   * ODBC's query timeout (SQL_ATTR_QUERY_TIMEOUT, whole seconds) of every query; the driver cancels a query
   * that runs longer (SQLSTATE HYT00). Prepared statements (executeMany) get none: the odbc package has no
   * option for them. Default: none.
   */
  queryTimeoutSeconds?: number;
}

function bindable(params: readonly SqlValue[] | undefined): unknown[] | undefined {
  return params?.map((p) =>
    p instanceof Uint8Array && !Buffer.isBuffer(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p,
  );
}

/** A connection whose link failed is not given back to the pool. */
function connectionLost(e: unknown): boolean {
  const errs = (e as { odbcErrors?: { state?: string }[] })?.odbcErrors ?? [];
  return (
    errs.some((x) => /^(08|57P0)/.test(x.state ?? '')) ||
    /connection (?:has been |was )?lost|server closed the connection/i.test(odbcText(e))
  );
}

/**
 * After an error that does not say the connection is gone: ask the connection (SELECT 1, valid in every dialect
 * we speak). Drivers report a dropped connection in many ways — psqlODBC says `internal SAVEPOINT failed` (HY000)
 * or nothing at all — so a failed probe is what tells. The error then gets SQLSTATE 08S01 (communication link
 * failure) added, which every dialect's isTransient takes for a lost connection: the engine retries on a fresh one.
 */
async function lostAfterError(c: OdbcConnection, e: unknown): Promise<boolean> {
  if (connectionLost(e)) return true;
  try {
    await c.query('SELECT 1');
    return false;
  } catch (probe) {
    if (e && typeof e === 'object') {
      const x = e as { odbcErrors?: unknown[] };
      x.odbcErrors = [
        ...(Array.isArray(x.odbcErrors) ? x.odbcErrors : []),
        { state: '08S01', code: 0, message: `the connection was lost (${odbcText(probe)})` },
      ];
    }
    return true;
  }
}

class OdbcSession implements SqlSession {
  private readonly c: OdbcConnection;
  private readonly options: { timeout: number } | null;
  constructor(c: OdbcConnection, timeoutSeconds?: number) {
    this.c = c;
    this.options = timeoutSeconds ? { timeout: timeoutSeconds } : null;
  }

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    const o = this.options;
    const r = params?.length
      ? await (o ? this.c.query(sql, bindable(params)!, o) : this.c.query(sql, bindable(params)))
      : await (o ? this.c.query(sql, o) : this.c.query(sql));
    return r.map((row) => lowerKeys(row)) as T[];
  }

  async executeMany(sql: string, rows: Iterable<readonly SqlValue[]>): Promise<void> {
    let st: OdbcStatement | null = null;
    try {
      for (const r of rows) {
        if (!st) {
          st = await this.c.createStatement();
          await st.prepare(sql);
        }
        await st.bind(bindable(r)!);
        await st.execute();
      }
    } finally {
      await st?.close().catch(() => {});
    }
  }
}

export class OdbcClient implements SqlClient {
  readonly description: string;
  private readonly options: OdbcClientOptions;
  private readonly idle: OdbcConnection[] = [];
  private readonly waiting: ((c: OdbcConnection | null) => void)[] = [];
  private open = 0;
  private closed = false;

  constructor(options: OdbcClientOptions) {
    this.options = options;
    this.description = options.description;
  }

  private async connect(): Promise<OdbcConnection> {
    const odbc = await loadOdbc();
    let c: OdbcConnection;
    try {
      c = await odbc.connect({
        connectionString: this.options.connectionString,
        loginTimeout: this.options.loginTimeout ?? 15,
        connectionTimeout: 0,
      });
    } catch (e) {
      const msg = odbcText(e);
      const hint =
        /can't open lib|file not found|data source name not found/i.test(msg) && this.options.connectHint
          ? ` (${this.options.connectHint})`
          : '';
      // The driver's message, never the connection string (it may carry a password).
      const message = `cannot connect to ${this.description}: ${msg}${hint}`;
      throw Object.assign(hint ? new StoreConfigError(message) : new Error(message), {
        odbcErrors: (e as { odbcErrors?: unknown }).odbcErrors,
      });
    }
    try {
      for (const sql of this.options.onConnect ?? []) await c.query(sql);
    } catch (e) {
      await c.close().catch(() => {});
      throw e;
    }
    return c;
  }

  private async acquire(): Promise<OdbcConnection> {
    if (this.closed) throw new Error(`${this.description}: the store is closed`);
    const c = this.idle.pop();
    if (c) return c;
    if (this.open < (this.options.poolSize ?? 4)) {
      this.open++;
      try {
        return await this.connect();
      } catch (e) {
        this.open--;
        throw e;
      }
    }
    const next = await new Promise<OdbcConnection | null>((resolve) => this.waiting.push(resolve));
    return next ?? this.acquire();
  }

  private release(c: OdbcConnection, broken: boolean): void {
    if (broken || this.closed) {
      this.open--;
      void c.close().catch(() => {});
      this.waiting.shift()?.(null);
      return;
    }
    const w = this.waiting.shift();
    if (w) w(c);
    else this.idle.push(c);
  }

  async withSession<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    const c = await this.acquire();
    let broken = false;
    try {
      return await fn(new OdbcSession(c, this.options.queryTimeoutSeconds));
    } catch (e) {
      broken = await lostAfterError(c, e);
      throw e;
    } finally {
      this.release(c, broken);
    }
  }

  async transaction<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    const c = await this.acquire();
    const tx = this.options.transactionSql;
    let broken = false;
    try {
      if (tx) await c.query(tx.begin);
      else await c.beginTransaction();
      try {
        const out = await fn(new OdbcSession(c, this.options.queryTimeoutSeconds));
        if (tx) await c.query(tx.commit);
        else await c.commit();
        return out;
      } catch (e) {
        try {
          if (tx) await c.query(tx.rollback);
          else await c.rollback();
        } catch {
          broken = true; // a connection whose transaction state is unknown is not reused
        }
        throw e;
      }
    } catch (e) {
      // After the rollback, so that a probe does not meet an aborted transaction.
      broken = (await lostAfterError(c, e)) || broken;
      throw e;
    } finally {
      this.release(c, broken);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w(null);
    const all = this.idle.splice(0);
    this.open -= all.length;
    await Promise.all(all.map((c) => c.close().catch(() => {})));
  }
}
