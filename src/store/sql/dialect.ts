/**
 * A SQL dialect: the text of every statement the SQL store runs, for one database. The statements are plain
 * standard SQL where the databases agree (counts, anti-joins, deletes); a dialect overrides what differs:
 * identifier quoting, how a list of ids is bound, upserts, vector literals and the schema's DDL and checks.
 * Everything here is pure text generation, so the SQL of a dialect we cannot run (IRIS) is pinned by tests.
 */
import { DEFAULT_SCHEMA, DEFAULT_TABLES } from '../../api/schema.ts';
import {
  DOCUMENT_FIELDS,
  TOKEN_FIELDS,
  columnMap,
  type ColumnMap,
  type ColumnOptions,
} from '../../core/columns.ts';
import type { SchemaExpectation, SchemaProblem, SchemaReport } from '../../core/store-port.ts';
import type { TokenEmbedding } from '../../core/types.ts';
import type { SqlDialectName } from '../url.ts';
import type { SqlClient, SqlSession, SqlValue } from './client.ts';
import type { VectorPrecision } from './vectors.ts';

export interface TableNames {
  schema: string;
  docs: string;
  tokens: string;
  ledger: string;
  /** The column names of the source and token tables (spec.database.columns). */
  columns: ColumnMap;
  /** How the token table stores its floats (spec.database.vectorPrecision). */
  vectorPrecision: VectorPrecision;
}

export interface TableNameOptions {
  schema?: string;
  tables?: { sourceDocuments?: string; tokenEmbeddings?: string; ledger?: string };
  columns?: ColumnOptions;
  /** float32 (default) or float16. */
  vectorPrecision?: VectorPrecision;
}

/** The names to use: those given, else the spec's defaults (src/api/schema.ts); each checked as an identifier. */
export function tableNames(o: TableNameOptions): TableNames {
  const names = {
    schema: o.schema ?? DEFAULT_SCHEMA,
    docs: o.tables?.sourceDocuments ?? DEFAULT_TABLES.sourceDocuments,
    tokens: o.tables?.tokenEmbeddings ?? DEFAULT_TABLES.tokenEmbeddings,
    ledger: o.tables?.ledger ?? DEFAULT_TABLES.ledger,
  };
  for (const n of Object.values(names)) checkIdentifier(n);
  const columns = columnMap(o.columns);
  for (const n of [...Object.values(columns.docs), ...Object.values(columns.tokens)]) checkIdentifier(n);
  return { ...names, columns, vectorPrecision: o.vectorPrecision ?? 'float32' };
}

export function checkIdentifier(id: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(id)) throw new Error(`invalid SQL identifier: ${JSON.stringify(id)}`);
  return id;
}

/** The report of a schema check that found `present` of the three tables (partial only when it is true). */
export function schemaReport(problems: SchemaProblem[], present: number): SchemaReport {
  const partial = present > 0 && present < 3;
  const ok = problems.every((p) => p.advisory);
  return { ok, empty: present === 0, ...(partial ? { partial } : {}), problems };
}

/**
 * The token-row counter (the dialect's countsTable and its triggers) as a schema problem when it is not whole:
 * `faults` say what is wrong, `migration` remakes it with one full count (createSchema runs the same).
 */
export function counterProblem(object: string, faults: string[], migration: string[]): SchemaProblem | null {
  if (!faults.length) return null;
  return {
    kind: 'missing',
    advisory: true,
    object,
    problem:
      `token-row counter is not whole (${faults.join('; ')}): inspection counts every token row instead ` +
      `(healing makes it, with one full count)`,
    fix: migration.join('; '),
  };
}

/** A column name bare when it is all lower case, else quoted by `quote` (see SqlDialect.column). */
export function bareOrQuoted(name: string, quote: (id: string) => string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? checkIdentifier(name) : quote(name);
}

/** Abstracts shorter than this (trimmed) come back whole with the candidates, so the core can spot placeholders. */
export const SHORT_ABSTRACT = 64;

/** The source table's default column names, in DOCUMENT_FIELDS order (the in-memory store models these). */
export const DOCUMENT_COLUMNS: readonly string[] = DOCUMENT_FIELDS.map((f) => columnMap().docs[f]);
export const LEDGER_COLUMNS = [
  'doc_id',
  'model_fingerprint',
  'content_hash',
  'token_count',
  'dimension',
  'embedded_at',
] as const;

/** A WHERE condition that matches a list of ids, with its parameters. */
export interface IdFilter {
  sql: string;
  params: SqlValue[];
}

export abstract class SqlDialect {
  abstract readonly name: SqlDialectName;
  readonly names: TableNames;
  /** Qualified, quoted table names. */
  readonly t: { docs: string; tokens: string; ledger: string };
  /** The source and token tables' columns as written in SQL (see column()). */
  readonly c: { docs: ColumnMap['docs']; tokens: ColumnMap['tokens'] };
  /** Most ids one statement binds; longer lists are split into chunks of this size. */
  abstract readonly idChunk: number;
  /** Token rows per INSERT statement (1: one prepared single-row INSERT executed per row). */
  abstract readonly tokenRowsPerInsert: number;

  constructor(names: TableNames) {
    this.names = names;
    this.t = {
      docs: this.table(names.docs),
      tokens: this.table(names.tokens),
      ledger: this.table(names.ledger),
    };
    const render = <T extends Record<string, string>>(m: T) =>
      Object.fromEntries(Object.entries(m).map(([k, v]) => [k, this.column(v)])) as T;
    this.c = { docs: render(names.columns.docs), tokens: render(names.columns.tokens) };
  }

  /** Quotes an identifier the dialect's way. */
  abstract ident(id: string): string;

  /**
   * A column name in SQL: bare when it is all lower case (so the default names read as before), else the
   * dialect's quoting (PostgreSQL folds bare names to lower case; IRIS's ident() is bare anyway).
   */
  column(name: string): string {
    return bareOrQuoted(name, (id) => this.ident(id));
  }

  /** A mapped column read under datastate's own name (the store reads rows by those names). */
  protected as(column: string, alias: string): string {
    return column === alias ? column : `${column} AS ${alias}`;
  }

  /** The source table's columns in DOCUMENT_FIELDS order (the order of documentParams). */
  documentColumns(): string[] {
    return DOCUMENT_FIELDS.map((k) => this.c.docs[k]);
  }

  /** The token table's columns in TOKEN_FIELDS order: doc id, position, text, vector (tokenParams' order). */
  tokenColumns(): string[] {
    return TOKEN_FIELDS.map((k) => this.c.tokens[k]);
  }

  table(name: string): string {
    return `${this.ident(this.names.schema)}.${this.ident(name)}`;
  }

  /** Printable object name, e.g. RAG.DocumentTokenEmbeddings.token_embedding. */
  object(...parts: string[]): string {
    return [this.names.schema, ...parts].join('.');
  }

  // ---- set queries (inspection) -----------------------------------------------------------------------

  countDocuments(): string {
    return (
      `SELECT COUNT(*) AS documents, COALESCE(SUM(CASE WHEN LENGTH(TRIM(${this.c.docs.abstract})) > 0 THEN 1 ELSE 0 END), 0) AS with_abstract ` +
      `FROM ${this.t.docs}`
    );
  }

  /**
   * Whether the database can find the distinct doc_ids of the token table by a loose index scan: a recursive
   * query that seeks from one doc_id to the next on the (doc_id, token_index) key, one seek per document
   * instead of reading every token row. SQLite and PostgreSQL can; the default SQL (IRIS) reads them all.
   */
  readonly looseIndexScan: boolean = false;

  /** `WITH RECURSIVE tdocs(doc_id) AS (...)`: the token table's distinct doc_ids (plus one NULL), by seeks. */
  private tokenDocIdsCte(): string {
    const id = this.c.tokens.docId;
    return (
      `WITH RECURSIVE tdocs(doc_id) AS (SELECT MIN(${id}) FROM ${this.t.tokens} UNION ALL ` +
      `SELECT (SELECT MIN(t.${id}) FROM ${this.t.tokens} t WHERE t.${id} > tdocs.doc_id) FROM tdocs WHERE tdocs.doc_id IS NOT NULL) `
    );
  }

  /**
   * The qualified table of per-document token-row counts the database keeps by triggers on the token table
   * (one row per doc_id: doc_id, token_rows), where the dialect has one; null where it counts the rows.
   */
  readonly countsTable: string | null = null;

  /**
   * Whether the counts table can be trusted now: it and its triggers exist exactly as the dialect makes them.
   * Asked on every inspection (a catalog lookup), never remembered: a trigger dropped since would go unseen.
   */
  async countsKept(_s: SqlSession): Promise<boolean> {
    return false;
  }

  /** The counts table's rows for documents that have token rows (a stale negative count shows too). */
  protected keptCounts(): string {
    return `SELECT doc_id, token_rows FROM ${this.countsTable} WHERE token_rows <> 0`;
  }

  /** Total token rows and documents with token rows; from the counts table when `kept` (see countsKept). */
  countTokens(kept = false): string {
    if (kept)
      return `SELECT COALESCE(SUM(token_rows), 0) AS token_rows, COUNT(*) AS docs FROM (${this.keptCounts()}) k`;
    if (this.looseIndexScan)
      return (
        `${this.tokenDocIdsCte()}SELECT (SELECT COUNT(*) FROM ${this.t.tokens}) AS token_rows, ` +
        `(SELECT COUNT(*) FROM tdocs WHERE doc_id IS NOT NULL) AS docs`
      );
    return `SELECT COUNT(*) AS token_rows, COUNT(DISTINCT ${this.c.tokens.docId}) AS docs FROM ${this.t.tokens}`;
  }

  /** Ids with token or ledger rows but no document (order is applied by the store, the same on every database). */
  orphans(kept = false): string {
    if (kept)
      return (
        `SELECT o.doc_id FROM (SELECT doc_id FROM (${this.keptCounts()}) k UNION SELECT doc_id FROM ${this.t.ledger}) o ` +
        `WHERE NOT EXISTS (SELECT 1 FROM ${this.t.docs} d WHERE d.${this.c.docs.docId} = o.doc_id)`
      );
    const tokenIds = this.looseIndexScan
      ? `SELECT doc_id FROM tdocs WHERE doc_id IS NOT NULL`
      : `SELECT ${this.as(this.c.tokens.docId, 'doc_id')} FROM ${this.t.tokens}`;
    return (
      `${this.looseIndexScan ? this.tokenDocIdsCte() : ''}` +
      `SELECT o.doc_id FROM (${tokenIds} UNION SELECT doc_id FROM ${this.t.ledger}) o ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${this.t.docs} d WHERE d.${this.c.docs.docId} = o.doc_id)`
    );
  }

  candidates(): string {
    const d = this.c.docs;
    return (
      `SELECT doc_id, pub_date, n AS abstract_length, CASE WHEN n < ${SHORT_ABSTRACT} THEN TRIM(abstract) ELSE NULL END AS short_abstract ` +
      `FROM (SELECT ${this.as(d.docId, 'doc_id')}, ${this.as(d.pubDate, 'pub_date')}, ${this.as(d.abstract, 'abstract')}, ` +
      `LENGTH(TRIM(${d.abstract})) AS n FROM ${this.t.docs}) c WHERE n > 0`
    );
  }

  /**
   * The condition `column IN (ids)` for one chunk of at most idChunk ids. The column is the doc id of the table
   * the statement reads: c.docs.docId, c.tokens.docId, or the ledger's doc_id.
   */
  abstract idFilter(column: string, ids: readonly string[]): IdFilter;

  documentHashes(f: IdFilter): string {
    const d = this.c.docs;
    return `SELECT ${this.as(d.docId, 'doc_id')}, ${this.as(d.contentHash, 'content_hash')} FROM ${this.t.docs} WHERE ${f.sql}`;
  }

  ledgerRows(f: IdFilter): string {
    return `SELECT ${LEDGER_COLUMNS.join(', ')} FROM ${this.t.ledger} WHERE ${f.sql}`;
  }

  /**
   * Per document: token_rows, first_index, last_index. When `kept`, the filter is on the counts table's
   * k.doc_id (see countsTable): the count is read, the ends of the range are two seeks on the token key.
   */
  tokenCounts(f: IdFilter, kept = false): string {
    const t = this.c.tokens;
    if (kept) {
      const end = (fn: string) =>
        `(SELECT ${fn}(e.${t.tokenIndex}) FROM ${this.t.tokens} e WHERE e.${t.docId} = k.doc_id)`;
      return (
        `SELECT k.doc_id, k.token_rows, ${end('MIN')} AS first_index, ${end('MAX')} AS last_index ` +
        `FROM ${this.countsTable} k WHERE ${f.sql} AND k.token_rows <> 0`
      );
    }
    return (
      `SELECT ${this.as(t.docId, 'doc_id')}, COUNT(*) AS token_rows, MIN(${t.tokenIndex}) AS first_index, ` +
      `MAX(${t.tokenIndex}) AS last_index FROM ${this.t.tokens} WHERE ${f.sql} GROUP BY ${t.docId}`
    );
  }

  /** The vectors of these documents' token rows (read by Store.badVectors only). */
  tokenVectors(f: IdFilter): string {
    const t = this.c.tokens;
    return `SELECT ${this.as(t.docId, 'doc_id')}, ${this.as(t.embedding, 'token_embedding')} FROM ${this.t.tokens} WHERE ${f.sql}`;
  }

  /** Sets a document's kept count to zero (parameter: doc_id), run by a rewrite after deleting its rows. */
  resetTokenCount(): string {
    return `DELETE FROM ${this.countsTable} WHERE doc_id = ?`;
  }

  /** Statements that keep other sessions off the token table until the transaction ends (rebuild). */
  lockTokens(): string[] {
    return [];
  }

  /**
   * One statement for embeddingStates, where the dialect has one that beats three: per id, doc_id, doc_hash
   * (the document's content_hash), the ledger's columns (model_fingerprint, ledger_hash, token_count,
   * dimension, embedded_at; NULL without a ledger row) and token_rows. Used when joinsEmbeddingStates;
   * otherwise the store runs documentHashes, ledgerRows and tokenCounts.
   */
  readonly joinsEmbeddingStates: boolean = false;
  embeddingStatesJoined(_f: IdFilter, _kept = false): string {
    throw new Error(`${this.name}: no joined embeddingStates statement`);
  }

  existingIds(f: IdFilter): string {
    return `SELECT ${this.as(this.c.docs.docId, 'doc_id')} FROM ${this.t.docs} WHERE ${f.sql}`;
  }

  texts(f: IdFilter): string {
    const d = this.c.docs;
    return (
      `SELECT ${this.as(d.docId, 'doc_id')}, ${this.as(d.abstract, 'abstract')}, ${this.as(d.contentHash, 'content_hash')} ` +
      `FROM ${this.t.docs} WHERE ${f.sql}`
    );
  }

  // ---- writes -------------------------------------------------------------------------------------------

  /**
   * Sets the hash of the text just read (parameters: hash, doc_id, that text), unless the abstract changed
   * again since it was read: then the hash stays NULL and the next read hashes the newer text.
   *
   * NULL-safe the same way on every database: an abstract read as NULL is matched by `abstract IS NULL` (and
   * no text parameter), a text by `abstract = ?`. (`abstract = NULL` is never true, so a NULL abstract would
   * never get its hash; `IS ?` and `IS NOT DISTINCT FROM ?` are not spoken by every dialect.)
   */
  fillContentHash(read: { nullAbstract?: boolean } = {}): string {
    const d = this.c.docs;
    return `UPDATE ${this.t.docs} SET ${d.contentHash} = ? WHERE ${d.docId} = ? AND ${d.contentHash} IS NULL AND ${read.nullAbstract ? `${d.abstract} IS NULL` : `${this.exact(d.abstract)} = ?`}`;
  }

  /** A text column compared exactly (IRIS compares case-insensitively unless told). */
  exact(column: string): string {
    return column;
  }

  /** Inserts or replaces one document; parameters in documentColumns() order. */
  abstract upsertDocument(): string;
  /** Inserts or replaces one ledger row; parameters in LEDGER_COLUMNS order. */
  abstract upsertLedger(): string;

  deleteTokensOfDocument(): string {
    return `DELETE FROM ${this.t.tokens} WHERE ${this.c.tokens.docId} = ?`;
  }

  deleteTokens(f: IdFilter): string {
    return `DELETE FROM ${this.t.tokens} WHERE ${f.sql}`;
  }

  deleteLedger(f: IdFilter): string {
    return `DELETE FROM ${this.t.ledger} WHERE ${f.sql}`;
  }

  /** INSERT of `rows` token rows of the given dimension; four parameters per row (see tokenParams). */
  abstract insertTokens(rows: number, dimension: number): string;
  /** The parameters of token row i of an embedding: doc_id, token_index, token_text, vector. */
  abstract tokenParams(e: TokenEmbedding, i: number): SqlValue[];

  /**
   * Writes the token rows of these embeddings (their old rows are already deleted). The default runs
   * insertTokens in chunks of tokenRowsPerInsert rows; PostgreSQL over `pg` overrides it with COPY.
   */
  async writeTokens(s: SqlSession, embeddings: readonly TokenEmbedding[]): Promise<void> {
    const per = this.tokenRowsPerInsert;
    const byDim = new Map<number, TokenEmbedding[]>();
    for (const e of embeddings) {
      const list = byDim.get(e.dimension);
      if (list) list.push(e);
      else byDim.set(e.dimension, [e]);
    }
    for (const [dim, list] of byDim) {
      if (per === 1) {
        // One prepared single-row INSERT per row: each row's parameters go straight to it.
        const params = (e: TokenEmbedding, i: number) => this.tokenParams(e, i);
        await s.executeMany(
          this.insertTokens(1, dim),
          (function* () {
            for (const e of list) for (let i = 0; i < e.tokens.length; i++) yield params(e, i);
          })(),
        );
        continue;
      }
      // Full statements of `per` rows share one prepared statement; the rest goes in one shorter INSERT.
      let rest: SqlValue[] = [];
      let n = 0;
      const params = (e: TokenEmbedding, i: number) => this.tokenParams(e, i);
      function* full(): Generator<SqlValue[]> {
        for (const e of list)
          for (let i = 0; i < e.tokens.length; i++) {
            rest.push(...params(e, i));
            if (++n === per) {
              yield rest;
              rest = [];
              n = 0;
            }
          }
      }
      await s.executeMany(this.insertTokens(per, dim), full());
      if (n) await s.query(this.insertTokens(n, dim), rest);
    }
  }

  // ---- schema -------------------------------------------------------------------------------------------

  /** Looks at the live database before first use (and again after createSchema), e.g. for the vector type. */
  async prepare(_client: SqlClient): Promise<void> {}

  abstract checkSchema(client: SqlClient, expect: SchemaExpectation): Promise<SchemaReport>;
  abstract createSchema(client: SqlClient, expect: SchemaExpectation): Promise<void>;

  /** Errors worth retrying (lock timeouts, deadlocks, dropped connections), as this database reports them. */
  abstract isTransient(error: unknown): boolean;
}

/** Row values as SQL sees them, in DOCUMENT_FIELDS order (documentColumns()). */
export function documentParams(
  d: {
    docId: string;
    title: string;
    abstract: string;
    authors: string[];
    keywords: string[];
    pubDate?: string;
    origin?: string;
    contentHash: string;
    textContent: string;
  },
  loadedAt: string,
): SqlValue[] {
  return [
    d.docId,
    d.title,
    d.abstract,
    JSON.stringify(d.authors),
    JSON.stringify(d.keywords),
    d.pubDate ?? null,
    d.origin ?? null,
    d.contentHash,
    loadedAt,
    d.textContent,
  ];
}
