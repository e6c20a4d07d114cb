/**
 * An in-memory Store: the whole Store contract on plain Maps, pure (no I/O, no driver), for tests of the engine
 * that must run in milliseconds. It passes the same conformance suite as the SQL stores
 * (test/helpers/store-conformance.ts; run in test/unit/store-memory.test.ts).
 *
 *   const store = new MemoryStore();                 // an empty database, default schema and table names
 *   const other = store.another();                   // a second writer on the same database
 *   store.db.setColumn('docs', 'PMC1', 'abstract', 'changed');  // an out-of-band change (the trigger fires)
 *   store.failNext('writeEmbeddings', new MemoryTransientError('lock timeout'));  // a fault, once
 *
 * What it models, as the SQL stores do it: three tables created by createSchema (and reported by checkSchema,
 * with "DDL" that MemoryDatabase.execute runs, so a test can apply the fix a report names); the token table's
 * dimension (a vector of another one is refused, like a CHECK constraint); the content-change trigger (an
 * abstract changed by anyone but upsertDocuments clears the content hash); the NULL-safe hash refill; each write
 * all or nothing; writes in doc_id order, one per document (the last wins); id lists de-duplicated. Lengths and
 * trimming follow SQL: TRIM removes spaces only, LENGTH counts code points. Vectors are kept as float32.
 */
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
import { checkWrite } from '../core/store-port.ts';
import { isBadVector } from '../core/inspection.ts';
import type { LedgerEntry } from '../core/types.ts';
import { contentHash } from './content-hash.ts';
import {
  DOCUMENT_COLUMNS,
  SHORT_ABSTRACT,
  tableNames,
  type TableNameOptions,
  type TableNames,
} from './sql/dialect.ts';

export type MemoryTable = 'docs' | 'tokens' | 'ledger';

/** A stored document: the SourceDocuments columns (authors and keywords as their JSON text). */
export interface MemoryDocument {
  doc_id: string;
  title: string | null;
  abstract: string | null;
  authors: string | null;
  keywords: string | null;
  pub_date: string | null;
  origin: string | null;
  content_hash: string | null;
  loaded_at: string | null;
  text_content: string | null;
}

interface TokenRow {
  /** token_index: 0..n-1 as written; out-of-band changes can leave gaps or move rows. */
  index: number;
  text: string;
  vector: Float32Array;
}

/** An error the in-memory store reports as transient (isTransient), for fault injection. */
export class MemoryTransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryTransientError';
  }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SQL's TRIM (spaces only). */
function sqlTrim(s: string): string {
  return s.replace(/^ +| +$/g, '');
}

/** SQL's LENGTH of a text: code points. */
function sqlLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The data of one in-memory database, shared by every MemoryStore opened on it. */
export class MemoryDatabase {
  readonly names: TableNames;
  /** The tables that exist (null: not created). */
  docs: Map<string, MemoryDocument> | null = null;
  tokens: Map<string, TokenRow[]> | null = null;
  ledger: Map<string, LedgerEntry> | null = null;
  /** The token table's vector dimension (set when it is created). */
  dimension = 0;
  trigger = false;
  /** SourceDocuments' columns (one can be dropped out of band). */
  readonly docColumns = new Set<string>(DOCUMENT_COLUMNS);

  constructor(names: TableNameOptions = {}) {
    this.names = tableNames(names);
  }

  object(...parts: string[]): string {
    return [this.names.schema, ...parts].join('.');
  }

  tableName(t: MemoryTable): string {
    return this.names[t];
  }

  /** The statement that creates a table or the trigger (what checkSchema names as the fix, and execute runs). */
  createStatement(what: MemoryTable | 'trigger', dimension: number): string {
    if (what === 'trigger') return `CREATE TRIGGER ${this.object(`${this.names.docs}_content_changed`)}`;
    const dim = what === 'tokens' ? ` (token_embedding dimension ${dimension})` : '';
    return `CREATE TABLE ${this.object(this.tableName(what))}${dim}`;
  }

  private tableOf(qualified: string): MemoryTable {
    for (const t of ['docs', 'tokens', 'ledger'] as const)
      if (qualified.replace(/"/g, '') === this.object(this.tableName(t))) return t;
    throw new Error(`no such table: ${qualified}`);
  }

  /**
   * Runs this store's "DDL" (the statements checkSchema names as fixes, `;`-separated) and the few out-of-band
   * changes tests make with it: CREATE/DROP TABLE, CREATE/DROP TRIGGER, ALTER TABLE ... ADD/DROP COLUMN,
   * DELETE FROM (all rows). It is not SQL: anything else is refused.
   */
  execute(script: string): void {
    for (const raw of script.split(';')) {
      const st = raw.trim();
      if (!st) continue;
      let m: RegExpExecArray | null;
      if ((m = /^CREATE TABLE (\S+)(?: \(token_embedding dimension (\d+)\))?$/i.exec(st))) {
        const t = this.tableOf(m[1]!);
        if (this[t]) throw new Error(`table ${m[1]} already exists`);
        if (t === 'tokens') {
          if (!m[2]) throw new Error('CREATE TABLE of the token table needs its dimension');
          this.dimension = Number(m[2]);
        }
        if (t === 'docs') this.docs = new Map();
        else if (t === 'tokens') this.tokens = new Map();
        else this.ledger = new Map();
      } else if ((m = /^DROP TABLE (\S+)$/i.exec(st))) {
        this.table(this.tableOf(m[1]!));
        this[this.tableOf(m[1]!)] = null;
      } else if ((m = /^DELETE FROM (\S+)$/i.exec(st))) {
        this.table(this.tableOf(m[1]!)).clear();
      } else if (/^CREATE TRIGGER \S+$/i.test(st)) {
        this.trigger = true;
      } else if (/^DROP TRIGGER \S+$/i.test(st)) {
        if (!this.trigger) throw new Error('no such trigger');
        this.trigger = false;
      } else if ((m = /^ALTER TABLE (\S+) (ADD|DROP) COLUMN "?(\w+)"?$/i.exec(st))) {
        if (this.tableOf(m[1]!) !== 'docs') throw new Error('only SourceDocuments columns can be altered');
        if (m[2]!.toUpperCase() === 'ADD') this.docColumns.add(m[3]!);
        else this.docColumns.delete(m[3]!);
      } else throw new Error(`the in-memory store does not run this statement: ${st}`);
    }
  }

  /** A table that must exist (else the error a database gives). */
  table<T extends MemoryTable>(t: T): NonNullable<MemoryDatabase[T]> {
    const m = this[t];
    if (!m) throw new Error(`no such table: ${this.object(this.tableName(t))}`);
    return m as NonNullable<MemoryDatabase[T]>;
  }

  // ---- out-of-band changes (what another program could do to the tables) ---------------------------------

  /** Sets one column of a document, as an UPDATE by someone else would (the trigger fires). */
  setColumn(table: 'docs', docId: string, column: keyof MemoryDocument, value: string | null): void {
    const d = this.table(table).get(docId);
    if (!d) return;
    if (!this.docColumns.has(column)) throw new Error(`no such column: ${column}`);
    const before = d.abstract;
    (d as unknown as Record<string, string | null>)[column] = value;
    if (column === 'abstract' && this.trigger && before !== value) d.content_hash = null;
  }

  /** Deletes a table's row(s) of one document (DELETE ... WHERE doc_id = ?). */
  deleteRows(table: MemoryTable, docId: string): void {
    this.table(table).delete(docId);
  }

  /** Deletes one token row (DELETE ... WHERE doc_id = ? AND token_index = ?). */
  deleteTokenRow(docId: string, tokenIndex: number): void {
    const rows = this.table('tokens').get(docId) ?? [];
    const kept = rows.filter((r) => r.index !== tokenIndex);
    this.setTokenRows(docId, kept);
  }

  /** Adds a copy of one token row under another token_index (INSERT ... SELECT), refused if it is taken. */
  copyTokenRow(docId: string, fromIndex: number, toIndex: number): void {
    const rows = this.table('tokens').get(docId) ?? [];
    const from = rows.find((r) => r.index === fromIndex);
    if (!from) return;
    if (rows.some((r) => r.index === toIndex))
      throw new Error(`UNIQUE constraint failed: ${docId}/${toIndex}`);
    this.setTokenRows(docId, [...rows, { ...from, index: toIndex }]);
  }

  /** Gives one token row another doc_id (UPDATE ... SET doc_id = ?), refused if that key is taken. */
  moveTokenRow(docId: string, tokenIndex: number, toDocId: string): void {
    const rows = this.table('tokens').get(docId) ?? [];
    const row = rows.find((r) => r.index === tokenIndex);
    if (!row) return;
    const target = this.table('tokens').get(toDocId) ?? [];
    if (target.some((r) => r.index === tokenIndex))
      throw new Error(`UNIQUE constraint failed: ${toDocId}/${tokenIndex}`);
    this.setTokenRows(
      docId,
      rows.filter((r) => r !== row),
    );
    this.setTokenRows(toDocId, [...target, row]);
  }

  /** A document's token rows, in token_index order; none: it has no entry (as in a table). */
  setTokenRows(docId: string, rows: TokenRow[]): void {
    const tokens = this.table('tokens');
    if (rows.length)
      tokens.set(
        docId,
        rows.sort((a, b) => a.index - b.index),
      );
    else tokens.delete(docId);
  }

  /** The doc_ids a table's rows carry, one per row (SELECT doc_id FROM table). */
  rowIds(table: MemoryTable): string[] {
    if (table !== 'tokens') return [...this.table(table).keys()];
    return [...this.table('tokens')].flatMap(([id, rows]) => rows.map(() => id));
  }

  /** The stored vector of one token row. */
  vector(docId: string, tokenIndex: number): Float32Array {
    const row = this.table('tokens')
      .get(docId)
      ?.find((r) => r.index === tokenIndex);
    if (!row) throw new Error(`no token row ${docId}/${tokenIndex}`);
    return row.vector;
  }
}

export class MemoryStore implements Store {
  readonly dialect = 'memory';
  readonly description = 'memory (in process)';
  readonly db: MemoryDatabase;
  private readonly faults: { method: string; error: unknown }[] = [];
  private closed = false;

  /** A store on `db` (default: a new empty database with the given, or the default, names). */
  constructor(options: TableNameOptions & { db?: MemoryDatabase } = {}) {
    this.db = options.db ?? new MemoryDatabase(options);
  }

  /** Another store on the same database (a second writer). */
  another(): MemoryStore {
    return new MemoryStore({ db: this.db });
  }

  /** The next call of `method` on this store fails with `error` (once per call of failNext), before it does anything. */
  failNext(method: keyof Store, error: unknown): void {
    this.faults.push({ method, error });
  }

  private enter(method: keyof Store): void {
    if (this.closed) throw new Error('the store is closed');
    const i = this.faults.findIndex((f) => f.method === method);
    if (i >= 0) throw this.faults.splice(i, 1)[0]!.error;
  }

  // ---- schema -------------------------------------------------------------------------------------------

  async checkSchema(expect: SchemaExpectation): Promise<SchemaReport> {
    this.enter('checkSchema');
    const db = this.db;
    const problems: SchemaProblem[] = [];
    let present = 0;
    for (const t of ['docs', 'tokens', 'ledger'] as const) {
      const object = db.object(db.tableName(t));
      if (!db[t]) {
        problems.push({
          kind: 'missing',
          object,
          problem: 'table does not exist',
          fix: db.createStatement(t, expect.dimension),
        });
        continue;
      }
      present++;
      if (t === 'docs')
        for (const c of DOCUMENT_COLUMNS)
          if (!db.docColumns.has(c))
            problems.push({
              kind: 'mismatch',
              object: `${object}.${c}`,
              problem: 'column does not exist',
              fix: `ALTER TABLE ${object} ADD COLUMN ${c}`,
            });
      if (t === 'tokens' && db.dimension !== expect.dimension)
        problems.push({
          kind: 'mismatch',
          object: `${object}.token_embedding`,
          problem:
            `vector dimension is ${db.dimension}, expected ${expect.dimension}: the stored vectors are of another model ` +
            `(or declare embedding.dimension: ${db.dimension})`,
          fix: `DROP TABLE ${object}; DELETE FROM ${db.object(db.names.ledger)}; ${db.createStatement('tokens', expect.dimension)}`,
          liveDimension: db.dimension,
        });
    }
    if (!db.trigger)
      problems.push({
        kind: 'missing',
        object: db.object(`${db.names.docs}_content_changed`),
        problem: 'trigger does not exist',
        fix: db.createStatement('trigger', expect.dimension),
      });
    return { ok: problems.length === 0, empty: present === 0, problems };
  }

  async createSchema(expect: SchemaExpectation): Promise<void> {
    this.enter('createSchema');
    const db = this.db;
    for (const t of ['docs', 'tokens', 'ledger'] as const)
      if (!db[t]) db.execute(db.createStatement(t, expect.dimension));
    if (!db.trigger) db.execute(db.createStatement('trigger', expect.dimension));
  }

  async rebuildEmptyTokenTable(expect: SchemaExpectation): Promise<void> {
    this.enter('rebuildEmptyTokenTable');
    const problem = (await this.checkSchema(expect)).problems.find((p) => p.liveDimension !== undefined);
    if (!problem) return;
    let rows = 0;
    for (const r of this.db.table('tokens').values()) rows += r.length;
    if (rows > 0)
      throw new Error(
        `${problem.object}: ${problem.problem}; the table holds ${rows} token rows and is not dropped automatically; fix: ${problem.fix}`,
      );
    this.db.execute(problem.fix);
  }

  // ---- inspection ---------------------------------------------------------------------------------------

  async counts(): Promise<StoreCounts> {
    this.enter('counts');
    const docs = this.db.table('docs');
    const tokens = this.db.table('tokens');
    const ledger = this.db.table('ledger');
    let withAbstract = 0;
    for (const d of docs.values())
      if (d.abstract !== null && sqlLength(sqlTrim(d.abstract)) > 0) withAbstract++;
    let rows = 0;
    for (const r of tokens.values()) rows += r.length;
    const orphans = new Set<string>();
    for (const id of [...tokens.keys(), ...ledger.keys()]) if (!docs.has(id)) orphans.add(id);
    return {
      documents: docs.size,
      documentsWithAbstract: withAbstract,
      documentsWithTokens: tokens.size,
      tokenRows: rows,
      orphanDocIds: [...orphans].sort(compareIds),
    };
  }

  async candidates(): Promise<Candidate[]> {
    this.enter('candidates');
    const out: Candidate[] = [];
    for (const d of this.db.table('docs').values()) {
      if (d.abstract === null) continue;
      const trimmed = sqlTrim(d.abstract);
      const n = sqlLength(trimmed);
      if (n > 0)
        out.push({
          docId: d.doc_id,
          pubDate: d.pub_date,
          abstractLength: n,
          shortAbstract: n < SHORT_ABSTRACT ? trimmed : null,
        });
    }
    return out;
  }

  async embeddingStates(docIds: readonly string[]): Promise<EmbeddingState[]> {
    this.enter('embeddingStates');
    if (!docIds.length) return [];
    const docs = this.db.table('docs');
    const tokens = this.db.table('tokens');
    const ledger = this.db.table('ledger');
    return docIds.map((docId): EmbeddingState => {
      const l = ledger.get(docId);
      const list = tokens.get(docId) ?? [];
      const rows = list.length;
      return {
        // The rows are kept in token_index order: the ends of the range are the first and the last.
        ...(rows > 0 ? { firstIndex: list[0]!.index, lastIndex: list[rows - 1]!.index } : {}),
        docId,
        contentHash: docs.get(docId)?.content_hash ?? null,
        ledger: l
          ? {
              modelFingerprint: l.modelFingerprint,
              contentHash: l.contentHash,
              tokenCount: l.tokenCount,
              dimension: l.dimension,
              embeddedAt: l.embeddedAt,
            }
          : null,
        tokenRows: rows,
      };
    });
  }

  async badVectors(docIds: readonly string[]): Promise<Map<string, number>> {
    this.enter('badVectors');
    const bad = new Map<string, number>();
    const tokens = this.db.table('tokens');
    for (const id of new Set(docIds)) {
      const n = (tokens.get(id) ?? []).filter((r) => isBadVector(r.vector)).length;
      if (n > 0) bad.set(id, n);
    }
    return bad;
  }

  async existingDocIds(docIds: readonly string[]): Promise<Set<string>> {
    this.enter('existingDocIds');
    if (!docIds.length) return new Set();
    const docs = this.db.table('docs');
    return new Set(docIds.filter((id) => docs.has(id)));
  }

  // ---- writes -------------------------------------------------------------------------------------------

  async upsertDocuments(docs: readonly DocumentWrite[]): Promise<void> {
    this.enter('upsertDocuments');
    if (!docs.length) return;
    const table = this.db.table('docs');
    for (const c of DOCUMENT_COLUMNS)
      if (!this.db.docColumns.has(c)) throw new Error(`table ${this.db.names.docs} has no column named ${c}`);
    const loadedAt = new Date().toISOString();
    for (const d of [...docs].sort((a, b) => compareIds(a.docId, b.docId)))
      table.set(d.docId, {
        doc_id: d.docId,
        title: d.title,
        abstract: d.abstract,
        authors: JSON.stringify(d.authors),
        keywords: JSON.stringify(d.keywords),
        pub_date: d.pubDate ?? null,
        origin: d.origin ?? null,
        content_hash: d.contentHash,
        loaded_at: loadedAt,
        text_content: d.textContent,
      });
  }

  async readTexts(docIds: readonly string[]): Promise<DocumentText[]> {
    this.enter('readTexts');
    if (!docIds.length) return [];
    const docs = this.db.table('docs');
    const out: DocumentText[] = [];
    for (const docId of new Set(docIds)) {
      const d = docs.get(docId);
      if (!d) continue;
      const text = d.abstract ?? '';
      if (d.content_hash === null) d.content_hash = contentHash(text); // the refill: the text is the one read
      out.push({ docId, text, contentHash: d.content_hash });
    }
    return out;
  }

  async writeEmbeddings(writes: readonly EmbeddingWrite[]): Promise<void> {
    this.enter('writeEmbeddings');
    if (!writes.length) return;
    for (const w of writes) checkWrite(w);
    this.db.table('tokens'); // it must exist: checked before the first change
    const ledger = this.db.table('ledger');
    const last = new Map<string, EmbeddingWrite>();
    for (const w of writes) last.set(w.embedding.docId, w);
    // All or nothing: every check before the first change.
    for (const w of last.values())
      if (w.embedding.dimension !== this.db.dimension)
        throw new Error(
          `CHECK constraint failed: ${w.embedding.docId}'s vectors have ${w.embedding.dimension} dimensions, ` +
            `${this.db.object(this.db.names.tokens)}.token_embedding holds ${this.db.dimension}`,
        );
    for (const { embedding: e, ledger: l } of [...last.values()].sort((a, b) =>
      compareIds(a.embedding.docId, b.embedding.docId),
    )) {
      ledger.set(l.docId, { ...l });
      const rows: TokenRow[] = [];
      for (let i = 0; i < e.tokens.length; i++)
        rows.push({
          index: i,
          text: e.tokens[i]!,
          vector: e.vectors.slice(i * e.dimension, (i + 1) * e.dimension),
        });
      this.db.setTokenRows(e.docId, rows);
    }
  }

  async deleteEmbeddings(docIds: readonly string[]): Promise<void> {
    this.enter('deleteEmbeddings');
    if (!docIds.length) return;
    const tokens = this.db.table('tokens');
    const ledger = this.db.table('ledger');
    for (const id of docIds) {
      tokens.delete(id);
      ledger.delete(id);
    }
  }

  isTransient(error: unknown): boolean {
    return error instanceof MemoryTransientError;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
