/**
 * The embedded default store: one SQLite file through Node 24's built-in node:sqlite (no native addon to
 * build, nothing to download). The file is attached under the schema name, so the tables are addressed
 * as RAG.SourceDocuments etc., exactly as on IRIS and PostgreSQL.
 *
 * Vectors are stored as little-endian float32 BLOBs (4 bytes per dimension); a CHECK constraint pins their
 * byte length to the declared dimension, so no vector of another dimension can be written.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { existsSync, mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';
import type {
  Candidate,
  DocumentText,
  DocumentWrite,
  EmbeddingState,
  EmbeddingWrite,
  SchemaExpectation,
  SchemaReport,
  Store,
  StoreCounts,
} from '../core/store-port.ts';
import { contentHash } from './content-hash.ts';
import { isTransientSqliteError } from './errors.ts';
import { checkSqliteSchema, sqliteSchemaObjects, type SchemaObject } from './dialects/sqlite.ts';
import { SHORT_ABSTRACT, checkIdentifier, documentParams, type TableNames } from './sql/dialect.ts';
import type { Row } from './sql/client.ts';

export interface SqliteStoreOptions {
  /** Path of the database file; created (with its directory) if missing. */
  path: string;
  /** Schema name the file is attached under (default RAG). */
  schema?: string;
  tables?: { sourceDocuments?: string; tokenEmbeddings?: string; ledger?: string };
  /** Milliseconds to wait for another writer's lock before giving up (default 10 s). */
  busyTimeoutMs?: number;
  /**
   * Open without the right to write (ValidateOnly, DryRun): a missing file is not created but inspected as
   * an empty database, and any write fails.
   */
  readOnly?: boolean;
}

function q(id: string): string {
  return `"${checkIdentifier(id)}"`;
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite';
  readonly description: string;
  private readonly db: DatabaseSync;
  private readonly schema: string;
  private readonly names: { docs: string; tokens: string; ledger: string };
  private readonly t: { docs: string; tokens: string; ledger: string };
  private readonly statements = new Map<string, StatementSync>();

  constructor(options: SqliteStoreOptions) {
    const path = resolve(options.path);
    if (!options.readOnly) mkdirSync(dirname(path), { recursive: true });
    this.description = `sqlite:${path}`;
    this.schema = options.schema ?? 'RAG';
    this.names = {
      docs: options.tables?.sourceDocuments ?? 'SourceDocuments',
      tokens: options.tables?.tokenEmbeddings ?? 'DocumentTokenEmbeddings',
      ledger: options.tables?.ledger ?? 'DocumentEmbeddingLedger',
    };
    const s = q(this.schema);
    this.t = {
      docs: `${s}.${q(this.names.docs)}`,
      tokens: `${s}.${q(this.names.tokens)}`,
      ledger: `${s}.${q(this.names.ledger)}`,
    };
    this.db = new DatabaseSync(':memory:');
    this.db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 10_000}`);
    if (!options.readOnly) {
      this.db.prepare(`ATTACH DATABASE ? AS ${s}`).run(path);
      this.db.exec(`PRAGMA ${s}.journal_mode = WAL; PRAGMA ${s}.synchronous = NORMAL;`);
    } else {
      this.db
        .prepare(`ATTACH DATABASE ? AS ${s}`)
        .run(existsSync(path) ? `${pathToFileURL(path).href}?mode=ro` : ':memory:');
    }
  }

  private stmt(sql: string): StatementSync {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** Runs fn in one IMMEDIATE transaction (the write lock is taken up front, so it cannot deadlock later). */
  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  // ---- schema ---------------------------------------------------------------------------------------

  private tableNames(): TableNames {
    return { schema: this.schema, ...this.names };
  }

  /** The statements that create each object, in dependency order (shared with the SQLite ODBC dialect). */
  ddl(expect: SchemaExpectation): SchemaObject[] {
    return sqliteSchemaObjects(this.tableNames(), expect);
  }

  private master(type: string, name: string): string | null {
    const row = this.stmt(`SELECT sql FROM ${q(this.schema)}.sqlite_master WHERE type = ? AND name = ?`).get(
      type,
      name,
    ) as { sql: string } | undefined;
    return row ? row.sql : null;
  }

  async checkSchema(expect: SchemaExpectation): Promise<SchemaReport> {
    return checkSqliteSchema(
      async (sql, params) =>
        this.stmt(sql).all(...(params as (string | number | null | Uint8Array)[])) as Row[],
      this.tableNames(),
      expect,
    );
  }

  async createSchema(expect: SchemaExpectation): Promise<void> {
    const objects = this.ddl(expect);
    this.transaction(() => {
      for (const obj of objects) if (this.master(obj.kind, obj.name) === null) this.db.exec(obj.sql);
    });
  }

  // ---- inspection -----------------------------------------------------------------------------------

  async counts(): Promise<StoreCounts> {
    const d = this.stmt(
      `SELECT COUNT(*) AS documents, COALESCE(SUM(CASE WHEN length(trim(abstract)) > 0 THEN 1 ELSE 0 END), 0) AS withAbstract FROM ${this.t.docs}`,
    ).get() as { documents: number; withAbstract: number };
    const e = this.stmt(
      `SELECT COUNT(*) AS rows, COUNT(DISTINCT doc_id) AS docs FROM ${this.t.tokens}`,
    ).get() as {
      rows: number;
      docs: number;
    };
    const orphans = this.stmt(
      `SELECT doc_id FROM (SELECT DISTINCT doc_id FROM ${this.t.tokens} UNION SELECT doc_id FROM ${this.t.ledger}) o ` +
        `WHERE NOT EXISTS (SELECT 1 FROM ${this.t.docs} d WHERE d.doc_id = o.doc_id) ORDER BY doc_id`,
    ).all() as { doc_id: string }[];
    return {
      documents: d.documents,
      documentsWithAbstract: d.withAbstract,
      documentsWithTokens: e.docs,
      tokenRows: e.rows,
      orphanDocIds: orphans.map((r) => r.doc_id),
    };
  }

  async candidates(): Promise<Candidate[]> {
    const rows = this.stmt(
      `SELECT doc_id, pub_date, n, CASE WHEN n < ${SHORT_ABSTRACT} THEN trim(abstract) END AS short ` +
        `FROM (SELECT doc_id, pub_date, abstract, length(trim(abstract)) AS n FROM ${this.t.docs}) WHERE n > 0`,
    ).all() as { doc_id: string; pub_date: string | null; n: number; short: string | null }[];
    return rows.map((r) => ({
      docId: r.doc_id,
      pubDate: r.pub_date,
      abstractLength: r.n,
      shortAbstract: r.short,
    }));
  }

  async embeddingStates(docIds: readonly string[]): Promise<EmbeddingState[]> {
    if (!docIds.length) return [];
    const rows = this.stmt(
      `SELECT i.value AS doc_id, d.content_hash AS doc_hash, l.model_fingerprint, l.content_hash AS ledger_hash, ` +
        `l.token_count, l.dimension, l.embedded_at, ` +
        `(SELECT COUNT(*) FROM ${this.t.tokens} e WHERE e.doc_id = i.value) AS token_rows ` +
        `FROM json_each(?) i LEFT JOIN ${this.t.docs} d ON d.doc_id = i.value ` +
        `LEFT JOIN ${this.t.ledger} l ON l.doc_id = i.value ORDER BY i.key`,
    ).all(JSON.stringify(docIds)) as {
      doc_id: string;
      doc_hash: string | null;
      model_fingerprint: string | null;
      ledger_hash: string | null;
      token_count: number | null;
      dimension: number | null;
      embedded_at: string | null;
      token_rows: number;
    }[];
    return rows.map((r) => ({
      docId: r.doc_id,
      contentHash: r.doc_hash,
      ledger:
        r.model_fingerprint === null
          ? null
          : {
              modelFingerprint: r.model_fingerprint,
              contentHash: r.ledger_hash!,
              tokenCount: r.token_count!,
              dimension: r.dimension!,
              embeddedAt: r.embedded_at!,
            },
      tokenRows: r.token_rows,
    }));
  }

  async existingDocIds(docIds: readonly string[]): Promise<Set<string>> {
    if (!docIds.length) return new Set();
    const rows = this.stmt(
      `SELECT d.doc_id FROM json_each(?) i JOIN ${this.t.docs} d ON d.doc_id = i.value`,
    ).all(JSON.stringify(docIds)) as { doc_id: string }[];
    return new Set(rows.map((r) => r.doc_id));
  }

  // ---- writes ---------------------------------------------------------------------------------------

  async upsertDocuments(docs: readonly DocumentWrite[]): Promise<void> {
    if (!docs.length) return;
    const now = new Date().toISOString();
    const st = this.stmt(
      `INSERT INTO ${this.t.docs} (doc_id, title, abstract, authors, keywords, pub_date, origin, content_hash, loaded_at, text_content) ` +
        `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (doc_id) DO UPDATE SET title = excluded.title, ` +
        `abstract = excluded.abstract, authors = excluded.authors, keywords = excluded.keywords, pub_date = excluded.pub_date, ` +
        `origin = excluded.origin, content_hash = excluded.content_hash, loaded_at = excluded.loaded_at, text_content = excluded.text_content`,
    );
    this.transaction(() => {
      for (const d of docs) st.run(...documentParams(d, now));
    });
  }

  async readTexts(docIds: readonly string[]): Promise<DocumentText[]> {
    if (!docIds.length) return [];
    const rows = this.stmt(
      `SELECT d.doc_id, d.abstract, d.content_hash FROM json_each(?) i JOIN ${this.t.docs} d ON d.doc_id = i.value ORDER BY i.key`,
    ).all(JSON.stringify(docIds)) as {
      doc_id: string;
      abstract: string | null;
      content_hash: string | null;
    }[];
    const out: DocumentText[] = [];
    // Only if the text is still the one hashed: an abstract changed again meanwhile stays unhashed (stale).
    const fill = this.stmt(
      `UPDATE ${this.t.docs} SET content_hash = ? WHERE doc_id = ? AND content_hash IS NULL AND abstract IS ?`,
    );
    for (const r of rows) {
      const text = r.abstract ?? '';
      let hash = r.content_hash;
      if (hash === null) {
        // Changed behind our back (the trigger cleared it): hash what is there now.
        hash = contentHash(text);
        fill.run(hash, r.doc_id, r.abstract);
      }
      out.push({ docId: r.doc_id, text, contentHash: hash });
    }
    return out;
  }

  async writeEmbeddings(writes: readonly EmbeddingWrite[]): Promise<void> {
    if (!writes.length) return;
    const del = this.stmt(`DELETE FROM ${this.t.tokens} WHERE doc_id = ?`);
    const ins = this.stmt(
      `INSERT INTO ${this.t.tokens} (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, ?)`,
    );
    const led = this.stmt(
      `INSERT INTO ${this.t.ledger} (doc_id, model_fingerprint, content_hash, token_count, dimension, embedded_at) ` +
        `VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (doc_id) DO UPDATE SET model_fingerprint = excluded.model_fingerprint, ` +
        `content_hash = excluded.content_hash, token_count = excluded.token_count, dimension = excluded.dimension, ` +
        `embedded_at = excluded.embedded_at`,
    );
    for (const w of writes) checkWrite(w);
    this.transaction(() => {
      for (const { embedding: e, ledger: l } of writes) {
        del.run(e.docId);
        const bytes = e.dimension * 4;
        const raw = new Uint8Array(e.vectors.buffer, e.vectors.byteOffset, e.vectors.byteLength);
        for (let i = 0; i < e.tokens.length; i++)
          ins.run(e.docId, i, e.tokens[i]!, raw.subarray(i * bytes, (i + 1) * bytes));
        led.run(l.docId, l.modelFingerprint, l.contentHash, l.tokenCount, l.dimension, l.embeddedAt);
      }
    });
  }

  async deleteEmbeddings(docIds: readonly string[]): Promise<void> {
    if (!docIds.length) return;
    const ids = JSON.stringify(docIds);
    this.transaction(() => {
      this.stmt(`DELETE FROM ${this.t.tokens} WHERE doc_id IN (SELECT value FROM json_each(?))`).run(ids);
      this.stmt(`DELETE FROM ${this.t.ledger} WHERE doc_id IN (SELECT value FROM json_each(?))`).run(ids);
    });
  }

  /** Runs raw SQL against the store (tests and out-of-band repairs). */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** Runs a query and returns its rows (tests and diagnostics). */
  query<T = Record<string, unknown>>(sql: string, ...params: (string | number | null)[]): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  isTransient(error: unknown): boolean {
    return isTransientSqliteError(error);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

/** A write must be self-consistent before it reaches the database. */
export function checkWrite(w: EmbeddingWrite): void {
  const e = w.embedding;
  if (e.docId !== w.ledger.docId)
    throw new Error(`embedding write for ${e.docId} carries the ledger of ${w.ledger.docId}`);
  if (e.vectors.length !== e.tokens.length * e.dimension)
    throw new Error(
      `embedding write for ${e.docId}: ${e.vectors.length} floats for ${e.tokens.length} tokens of dimension ${e.dimension}`,
    );
  if (w.ledger.tokenCount !== e.tokens.length || w.ledger.dimension !== e.dimension)
    throw new Error(
      `embedding write for ${e.docId}: ledger says ${w.ledger.tokenCount}x${w.ledger.dimension}, vectors are ${e.tokens.length}x${e.dimension}`,
    );
}
