/**
 * The embedded default store: one SQLite file through Node 24's built-in node:sqlite (no native addon to
 * build, nothing to download). The file is attached under the schema name, so the tables are addressed
 * as RAG.SourceDocuments etc., exactly as on IRIS and PostgreSQL.
 *
 * Vectors are stored as little-endian float32 BLOBs (4 bytes per dimension); a CHECK constraint pins their
 * byte length to the declared dimension, so no vector of another dimension can be written.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type {
  Candidate,
  DocumentText,
  DocumentWrite,
  EmbeddingState,
  EmbeddingWrite,
  SchemaExpectation,
  SchemaProblem,
  SchemaReport,
  Store,
  StoreCounts,
} from '../core/store-port.ts';
import { contentHash } from './content-hash.ts';
import { isTransientSqliteError } from './errors.ts';

export interface SqliteStoreOptions {
  /** Path of the database file; created (with its directory) if missing. */
  path: string;
  /** Schema name the file is attached under (default RAG). */
  schema?: string;
  tables?: { sourceDocuments?: string; tokenEmbeddings?: string; ledger?: string };
  /** Milliseconds to wait for another writer's lock before giving up (default 10 s). */
  busyTimeoutMs?: number;
}

const SHORT_ABSTRACT = 64;

function q(id: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(id)) throw new Error(`invalid SQL identifier: ${JSON.stringify(id)}`);
  return `"${id}"`;
}

interface ColumnSpec {
  name: string;
  type: string;
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
    mkdirSync(dirname(path), { recursive: true });
    this.description = `sqlite:${path}`;
    this.schema = options.schema ?? 'RAG';
    this.names = {
      docs: options.tables?.sourceDocuments ?? 'SourceDocuments',
      tokens: options.tables?.tokenEmbeddings ?? 'DocumentTokenEmbeddings',
      ledger: options.tables?.ledger ?? 'DocumentEmbeddingLedger',
    };
    const s = q(this.schema);
    this.t = { docs: `${s}.${q(this.names.docs)}`, tokens: `${s}.${q(this.names.tokens)}`, ledger: `${s}.${q(this.names.ledger)}` };
    this.db = new DatabaseSync(':memory:');
    this.db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 10_000}`);
    this.db.prepare(`ATTACH DATABASE ? AS ${s}`).run(path);
    this.db.exec(`PRAGMA ${s}.journal_mode = WAL; PRAGMA ${s}.synchronous = NORMAL;`);
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

  private columns(): Record<'docs' | 'tokens' | 'ledger', ColumnSpec[]> {
    return {
      docs: [
        { name: 'doc_id', type: 'TEXT' },
        { name: 'title', type: 'TEXT' },
        { name: 'abstract', type: 'TEXT' },
        { name: 'authors', type: 'TEXT' },
        { name: 'keywords', type: 'TEXT' },
        { name: 'pub_date', type: 'TEXT' },
        { name: 'origin', type: 'TEXT' },
        { name: 'content_hash', type: 'TEXT' },
        { name: 'loaded_at', type: 'TEXT' },
        { name: 'text_content', type: 'TEXT' },
      ],
      tokens: [
        { name: 'doc_id', type: 'TEXT' },
        { name: 'token_index', type: 'INTEGER' },
        { name: 'token_text', type: 'TEXT' },
        { name: 'token_embedding', type: 'BLOB' },
      ],
      ledger: [
        { name: 'doc_id', type: 'TEXT' },
        { name: 'model_fingerprint', type: 'TEXT' },
        { name: 'content_hash', type: 'TEXT' },
        { name: 'token_count', type: 'INTEGER' },
        { name: 'dimension', type: 'INTEGER' },
        { name: 'embedded_at', type: 'TEXT' },
      ],
    };
  }

  /** The statements that create each object, in dependency order. */
  ddl(expect: SchemaExpectation): { object: string; table?: 'docs' | 'tokens' | 'ledger'; kind: 'table' | 'index' | 'trigger'; name: string; sql: string }[] {
    const s = q(this.schema);
    const bytes = expect.dimension * 4;
    const n = this.names;
    return [
      {
        object: `${this.schema}.${n.docs}`,
        table: 'docs',
        kind: 'table',
        name: n.docs,
        // text_content last: inspection reads the columns before it without paging through the body text.
        sql:
          `CREATE TABLE ${this.t.docs} (doc_id TEXT PRIMARY KEY NOT NULL, title TEXT, abstract TEXT, authors TEXT, ` +
          `keywords TEXT, pub_date TEXT, origin TEXT, content_hash TEXT, loaded_at TEXT, text_content TEXT)`,
      },
      {
        object: `${this.schema}.${n.tokens}`,
        table: 'tokens',
        kind: 'table',
        name: n.tokens,
        sql:
          `CREATE TABLE ${this.t.tokens} (doc_id TEXT NOT NULL, token_index INTEGER NOT NULL, token_text TEXT NOT NULL, ` +
          `token_embedding BLOB NOT NULL CHECK (length(token_embedding) = ${bytes}), PRIMARY KEY (doc_id, token_index))`,
      },
      {
        object: `${this.schema}.${n.ledger}`,
        table: 'ledger',
        kind: 'table',
        name: n.ledger,
        sql:
          `CREATE TABLE ${this.t.ledger} (doc_id TEXT PRIMARY KEY NOT NULL, model_fingerprint TEXT NOT NULL, ` +
          `content_hash TEXT NOT NULL, token_count INTEGER NOT NULL, dimension INTEGER NOT NULL, embedded_at TEXT NOT NULL)`,
      },
      {
        object: `${this.schema}.${n.docs}_content_changed`,
        kind: 'trigger',
        name: `${n.docs}_content_changed`,
        // An abstract changed by anyone but us (who set content_hash with it) makes its embeddings stale.
        sql:
          `CREATE TRIGGER ${s}.${q(`${n.docs}_content_changed`)} AFTER UPDATE OF abstract ON ${q(n.docs)} ` +
          `WHEN NEW.abstract IS NOT OLD.abstract AND NEW.content_hash IS OLD.content_hash ` +
          `BEGIN UPDATE ${q(n.docs)} SET content_hash = NULL WHERE doc_id = NEW.doc_id; END`,
      },
    ];
  }

  private master(type: string, name: string): string | null {
    const row = this.stmt(`SELECT sql FROM ${q(this.schema)}.sqlite_master WHERE type = ? AND name = ?`).get(type, name) as
      | { sql: string }
      | undefined;
    return row ? row.sql : null;
  }

  async checkSchema(expect: SchemaExpectation): Promise<SchemaReport> {
    const problems: SchemaProblem[] = [];
    const cols = this.columns();
    let present = 0;
    const objects = this.ddl(expect);
    for (const obj of objects) {
      const sql = this.master(obj.kind, obj.name);
      if (sql === null) {
        problems.push({ kind: 'missing', object: obj.object, problem: `${obj.kind} does not exist`, fix: obj.sql });
        continue;
      }
      if (obj.kind === 'table') present++;
      if (!obj.table) continue;
      const live = this.db.prepare(`PRAGMA ${q(this.schema)}.table_info(${q(obj.name)})`).all() as { name: string; type: string }[];
      const byName = new Map(live.map((c) => [c.name.toLowerCase(), c.type.toUpperCase()]));
      for (const c of cols[obj.table]) {
        const type = byName.get(c.name);
        if (type === undefined)
          problems.push({
            kind: 'mismatch',
            object: `${obj.object}.${c.name}`,
            problem: 'column does not exist',
            fix: `ALTER TABLE ${this.t[obj.table]} ADD COLUMN ${q(c.name)} ${c.type}`,
          });
        else if (type !== c.type)
          problems.push({
            kind: 'mismatch',
            object: `${obj.object}.${c.name}`,
            problem: `column type is ${type || '(none)'}, expected ${c.type}`,
            fix: `recreate ${obj.object} with: ${obj.sql}`,
          });
      }
      if (obj.table === 'tokens') {
        const m = /length\(token_embedding\)\s*=\s*(\d+)/i.exec(sql);
        const bytes = expect.dimension * 4;
        if (!m)
          problems.push({
            kind: 'mismatch',
            object: `${obj.object}.token_embedding`,
            problem: `no dimension constraint (expected vectors of dimension ${expect.dimension})`,
            fix: `recreate ${obj.object} with: ${obj.sql}`,
          });
        else if (Number(m[1]) !== bytes)
          problems.push({
            kind: 'mismatch',
            object: `${obj.object}.token_embedding`,
            problem: `vector dimension is ${Number(m[1]) / 4}, expected ${expect.dimension}`,
            fix:
              `the stored vectors are of another model: DROP TABLE ${this.t.tokens}; DELETE FROM ${this.t.ledger}; ` +
              `${obj.sql}` +
              ` (or declare embedding.dimension: ${Number(m[1]) / 4})`,
          });
      }
    }
    return { ok: problems.length === 0, empty: present === 0, problems };
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
    const e = this.stmt(`SELECT COUNT(*) AS rows, COUNT(DISTINCT doc_id) AS docs FROM ${this.t.tokens}`).get() as {
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
    return rows.map((r) => ({ docId: r.doc_id, pubDate: r.pub_date, abstractLength: r.n, shortAbstract: r.short }));
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
    const rows = this.stmt(`SELECT d.doc_id FROM json_each(?) i JOIN ${this.t.docs} d ON d.doc_id = i.value`).all(
      JSON.stringify(docIds),
    ) as { doc_id: string }[];
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
      for (const d of docs)
        st.run(
          d.docId,
          d.title,
          d.abstract,
          JSON.stringify(d.authors),
          JSON.stringify(d.keywords),
          d.pubDate ?? null,
          d.origin ?? null,
          d.contentHash,
          now,
          d.textContent,
        );
    });
  }

  async readTexts(docIds: readonly string[]): Promise<DocumentText[]> {
    if (!docIds.length) return [];
    const rows = this.stmt(
      `SELECT d.doc_id, d.abstract, d.content_hash FROM json_each(?) i JOIN ${this.t.docs} d ON d.doc_id = i.value ORDER BY i.key`,
    ).all(JSON.stringify(docIds)) as { doc_id: string; abstract: string | null; content_hash: string | null }[];
    const out: DocumentText[] = [];
    const fill = this.stmt(`UPDATE ${this.t.docs} SET content_hash = ? WHERE doc_id = ? AND content_hash IS NULL`);
    for (const r of rows) {
      const text = r.abstract ?? '';
      let hash = r.content_hash;
      if (hash === null) {
        // Changed behind our back (the trigger cleared it): hash what is there now.
        hash = contentHash(text);
        fill.run(hash, r.doc_id);
      }
      out.push({ docId: r.doc_id, text, contentHash: hash });
    }
    return out;
  }

  async writeEmbeddings(writes: readonly EmbeddingWrite[]): Promise<void> {
    if (!writes.length) return;
    const del = this.stmt(`DELETE FROM ${this.t.tokens} WHERE doc_id = ?`);
    const ins = this.stmt(`INSERT INTO ${this.t.tokens} (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, ?)`);
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
        for (let i = 0; i < e.tokens.length; i++) ins.run(e.docId, i, e.tokens[i]!, raw.subarray(i * bytes, (i + 1) * bytes));
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
  if (e.docId !== w.ledger.docId) throw new Error(`embedding write for ${e.docId} carries the ledger of ${w.ledger.docId}`);
  if (e.vectors.length !== e.tokens.length * e.dimension)
    throw new Error(`embedding write for ${e.docId}: ${e.vectors.length} floats for ${e.tokens.length} tokens of dimension ${e.dimension}`);
  if (w.ledger.tokenCount !== e.tokens.length || w.ledger.dimension !== e.dimension)
    throw new Error(`embedding write for ${e.docId}: ledger says ${w.ledger.tokenCount}x${w.ledger.dimension}, vectors are ${e.tokens.length}x${e.dimension}`);
}
