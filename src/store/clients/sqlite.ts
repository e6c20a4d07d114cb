/**
 * SqlClient over Node 24's built-in node:sqlite (no native addon to build, nothing to download): the driver of
 * the embedded default store. The SQL is SQLite's dialect (src/store/dialects/sqlite.ts), the same one the
 * ODBC path speaks with SQLite's ODBC driver.
 *
 * One connection: an in-memory main database with the file attached under the schema name, so the tables are
 * addressed as "RAG"."SourceDocuments", exactly as on IRIS and PostgreSQL. node:sqlite is synchronous, so
 * sessions and transactions are queued one after the other on that connection (as PGlite does); statements are
 * prepared once and kept. Transactions are BEGIN IMMEDIATE: the write lock is taken up front, so two writers
 * (two processes, or two stores on one file) wait for each other instead of deadlocking later.
 *
 * Waiting for that lock never blocks the event loop. node:sqlite is synchronous: with SQLite's own busy_timeout
 * a waiting writer sleeps inside the call, so the process answers no signal, no /healthz and no other store
 * (in this very process the holder could not even finish its transaction meanwhile). So busy_timeout is 0 and
 * the wait is ours: a statement refused with SQLITE_BUSY is tried again after an asynchronous pause (2 ms
 * doubling to 100 ms) until busyTimeoutMs has passed, then fails with an error that says so (transient: the
 * engine retries the batch with its backoff). In WAL mode readers never wait for the writer, so in practice
 * only BEGIN IMMEDIATE waits. When the signal given aborts (SIGINT, SIGTERM), a wait ends at once with an error
 * that is not transient, so the pass stops instead of waiting out the lock.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Row, SqlClient, SqlSession, SqlValue } from '../sql/client.ts';
import { lowerKeys } from '../sql/client.ts';
import { readOnlyUri } from './sqlite-readonly.ts';
import { pause } from '../../core/timers.ts';
import { StoreConfigError, sqliteCode } from '../errors.ts';

const SQLITE_BUSY = 5;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_NOTADB = 26;

/** What to say, beside SQLite's own words, of errors that are about the file rather than the SQL. */
const FILE_ERRORS = new Map<number, string>([
  [
    SQLITE_FULL,
    'the database or its disk is full: free space where it lives, or move it; every batch committed before stays, and the next run goes on from there',
  ],
  [SQLITE_IOERR, 'the disk failed a read or write'],
  [SQLITE_READONLY, 'the database cannot be written here'],
  [SQLITE_CORRUPT, 'the database file is damaged'],
]);

/** A new error in place of SQLite's `cause`, carrying its code and errcode, so callers classify it as before. */
function keepingCodes(message: string, cause: unknown): Error {
  const c = cause as { code?: unknown; errcode?: unknown };
  return Object.assign(new Error(message, { cause }), { code: c?.code, errcode: c?.errcode });
}

/** SQLITE_BUSY (also its extended codes): the lock is held by another connection; waiting may help. */
export function isSqliteBusy(error: unknown): boolean {
  return sqliteCode(error) === SQLITE_BUSY;
}

/** SQLite's name for an in-memory database. */
const MEMORY = ':memory:';

export interface SqliteClientOptions {
  /** Path of the database file; created (with its directory) if missing, unless readOnly. ':memory:': an
   *  in-memory database, gone when the client closes. */
  path: string;
  /** The name the file is attached under (the schema of the tables), already checked as an identifier. */
  schema: string;
  /** Milliseconds to wait for another writer's lock before giving up (default 10 s); the wait is asynchronous. */
  busyTimeoutMs?: number;
  /**
   * Open without the right to write (ValidateOnly, DryRun): the file is attached read-only, and a missing
   * file is not created but inspected as an empty (in-memory) database.
   */
  readOnly?: boolean;
  /** Ends lock waits when it aborts (the process is asked to stop). */
  signal?: AbortSignal;
  /** Told when a statement starts waiting for another writer's lock (e.g. to show it to the user). */
  onLockWait?: (message: string) => void;
}

class SqliteSession implements SqlSession {
  private readonly client: SqliteClient;
  /** Outside a transaction each statement is its own (autocommit), so one refused as busy may be run again. */
  private readonly autocommit: boolean;
  constructor(client: SqliteClient, autocommit: boolean) {
    this.client = client;
    this.autocommit = autocommit;
  }

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    const st = this.client.statement(sql);
    const run = () => st.all(...((params ?? []) as SQLInputValue[]));
    const rows = this.autocommit ? await this.client.waitingForLock(run) : run();
    return rows.map((r) => lowerKeys(r as Record<string, unknown>)) as T[];
  }

  async executeMany(sql: string, rows: Iterable<readonly SqlValue[]>): Promise<void> {
    const st = this.client.statement(sql);
    if (!this.autocommit) {
      for (const r of rows) st.run(...(r as SQLInputValue[]));
      return;
    }
    for (const r of rows) await this.client.waitingForLock(() => st.run(...(r as SQLInputValue[])));
  }
}

export class SqliteClient implements SqlClient {
  readonly description: string;
  readonly path: string;
  readonly busyTimeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly onLockWait: ((message: string) => void) | undefined;
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  /** The tail of the queue of sessions on the one connection. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: SqliteClientOptions) {
    // ':memory:' (also sqlite::memory:, file::memory:) is SQLite's in-memory database, not a file of that name:
    // it lives as long as this client, for a try-out or a test that needs no file.
    const memory = options.path === MEMORY;
    const path = memory ? MEMORY : resolve(options.path);
    this.path = path;
    this.description = `sqlite:${path}`;
    if (!options.readOnly && !memory) mkdirSync(dirname(path), { recursive: true });
    const schema = `"${options.schema}"`;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    this.signal = options.signal;
    this.onLockWait = options.onLockWait;
    this.db = new DatabaseSync(':memory:');
    // No waiting inside SQLite (it would block the event loop): waitingForLock waits instead.
    this.db.exec('PRAGMA busy_timeout = 0');
    try {
      if (!options.readOnly) {
        this.db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(path);
        this.db.exec(`PRAGMA ${schema}.journal_mode = WAL; PRAGMA ${schema}.synchronous = NORMAL;`);
      } else {
        this.db
          .prepare(`ATTACH DATABASE ? AS ${schema}`)
          .run(!memory && existsSync(path) ? readOnlyUri(path) : MEMORY);
      }
      // Reads the file's header: a file that is not SQLite is named here, not met at some later query.
      this.db.prepare(`SELECT 1 FROM ${schema}.sqlite_master LIMIT 1`).all();
    } catch (e) {
      this.db.close();
      if (sqliteCode(e) === SQLITE_NOTADB)
        throw new StoreConfigError(`${path} is not an SQLite database (SQLite: file is not a database)`);
      throw e;
    }
  }

  /** The prepared statement for this SQL (prepared on first use, then kept). */
  statement(sql: string): StatementSync {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /**
   * Runs fn; while it fails with SQLITE_BUSY, runs it again after an asynchronous pause, until busyTimeoutMs
   * have passed. fn must be one statement that changes nothing when it is refused.
   */
  async waitingForLock<T>(fn: () => T): Promise<T> {
    const deadline = performance.now() + this.busyTimeoutMs;
    for (let wait = 2; ; wait = Math.min(100, wait * 2)) {
      try {
        return fn();
      } catch (e) {
        if (!isSqliteBusy(e)) throw e;
        if (this.signal?.aborted)
          throw Object.assign(
            new Error(
              `${this.description}: stopped waiting for another writer's lock (${String((this.signal.reason as Error)?.message ?? this.signal.reason)})`,
              { cause: e },
            ),
            { name: 'AbortError' },
          );
        if (wait === 2)
          this.onLockWait?.(
            `waiting for another writer's lock on ${this.description} (up to ${this.busyTimeoutMs / 1000} s)`,
          );
        const left = deadline - performance.now();
        if (left <= 0)
          throw keepingCodes(
            `${this.description} is locked by another writer (waited ${this.busyTimeoutMs} ms): ${(e as Error).message}`,
            e,
          );
        await pause(Math.min(wait, left), this.signal);
      }
    }
  }

  /** Runs fn after every session queued before it has finished. */
  private queued<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * An error about the file (full, I/O, read-only, damaged) named by the database it is about and said in words a
   * user can act on, its codes kept (keepingCodes). Others pass as they are.
   */
  private named(e: unknown): unknown {
    const code = sqliteCode(e);
    const say = code === null ? undefined : FILE_ERRORS.get(code);
    if (say === undefined) return e;
    return keepingCodes(`${this.description}: ${say} (SQLite: ${(e as Error).message})`, e);
  }

  withSession<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    return this.queued(async () => {
      try {
        return await fn(new SqliteSession(this, true));
      } catch (e) {
        throw this.named(e);
      }
    });
  }

  transaction<T>(fn: (s: SqlSession) => Promise<T>): Promise<T> {
    return this.queued(async () => {
      try {
        await this.waitingForLock(() => this.db.exec('BEGIN IMMEDIATE'));
      } catch (e) {
        throw this.named(e);
      }
      try {
        const out = await fn(new SqliteSession(this, false));
        this.db.exec('COMMIT');
        return out;
      } catch (e) {
        // SQLite may have rolled back already (a full disk does); a failing ROLLBACK must not hide why.
        if (this.db.isTransaction)
          try {
            this.db.exec('ROLLBACK');
          } catch {
            /* the first error is the one to report */
          }
        throw this.named(e);
      }
    });
  }

  async close(): Promise<void> {
    await this.tail;
    if (this.db.isOpen) this.db.close();
  }
}
