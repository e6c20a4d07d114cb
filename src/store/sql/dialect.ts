/**
 * A SQL dialect: the text of every statement the SQL store runs, for one database. The statements are plain
 * standard SQL where the databases agree (counts, anti-joins, deletes); a dialect overrides what differs:
 * identifier quoting, how a list of ids is bound, upserts, vector literals and the schema's DDL and checks.
 * Everything here is pure text generation, so the SQL of a dialect we cannot run (IRIS) is pinned by tests.
 */
import { DEFAULT_SCHEMA, DEFAULT_TABLES } from '../../api/schema.ts';
import type { SchemaExpectation, SchemaReport } from '../../core/store-port.ts';
import type { TokenEmbedding } from '../../core/types.ts';
import type { SqlDialectName } from '../url.ts';
import type { SqlClient, SqlSession, SqlValue } from './client.ts';

export interface TableNames {
  schema: string;
  docs: string;
  tokens: string;
  ledger: string;
}

export interface TableNameOptions {
  schema?: string;
  tables?: { sourceDocuments?: string; tokenEmbeddings?: string; ledger?: string };
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
  return names;
}

export function checkIdentifier(id: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(id)) throw new Error(`invalid SQL identifier: ${JSON.stringify(id)}`);
  return id;
}

/** Abstracts shorter than this (trimmed) come back whole with the candidates, so the core can spot placeholders. */
export const SHORT_ABSTRACT = 64;

export const DOCUMENT_COLUMNS = [
  'doc_id',
  'title',
  'abstract',
  'authors',
  'keywords',
  'pub_date',
  'origin',
  'content_hash',
  'loaded_at',
  'text_content',
] as const;
export const TOKEN_COLUMNS = ['doc_id', 'token_index', 'token_text', 'token_embedding'] as const;
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
  }

  /** Quotes an identifier the dialect's way. */
  abstract ident(id: string): string;

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
      `SELECT COUNT(*) AS documents, COALESCE(SUM(CASE WHEN LENGTH(TRIM(abstract)) > 0 THEN 1 ELSE 0 END), 0) AS with_abstract ` +
      `FROM ${this.t.docs}`
    );
  }

  countTokens(): string {
    return `SELECT COUNT(*) AS token_rows, COUNT(DISTINCT doc_id) AS docs FROM ${this.t.tokens}`;
  }

  /** Ids with token or ledger rows but no document (order is applied by the store, the same on every database). */
  orphans(): string {
    return (
      `SELECT o.doc_id FROM (SELECT doc_id FROM ${this.t.tokens} UNION SELECT doc_id FROM ${this.t.ledger}) o ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${this.t.docs} d WHERE d.doc_id = o.doc_id)`
    );
  }

  candidates(): string {
    return (
      `SELECT doc_id, pub_date, n AS abstract_length, CASE WHEN n < ${SHORT_ABSTRACT} THEN TRIM(abstract) ELSE NULL END AS short_abstract ` +
      `FROM (SELECT doc_id, pub_date, abstract, LENGTH(TRIM(abstract)) AS n FROM ${this.t.docs}) c WHERE n > 0`
    );
  }

  /** The condition `column IN (ids)` for one chunk of at most idChunk ids. */
  abstract idFilter(column: string, ids: readonly string[]): IdFilter;

  documentHashes(f: IdFilter): string {
    return `SELECT doc_id, content_hash FROM ${this.t.docs} WHERE ${f.sql}`;
  }

  ledgerRows(f: IdFilter): string {
    return `SELECT ${LEDGER_COLUMNS.join(', ')} FROM ${this.t.ledger} WHERE ${f.sql}`;
  }

  tokenCounts(f: IdFilter): string {
    return `SELECT doc_id, COUNT(*) AS token_rows FROM ${this.t.tokens} WHERE ${f.sql} GROUP BY doc_id`;
  }

  existingIds(f: IdFilter): string {
    return `SELECT doc_id FROM ${this.t.docs} WHERE ${f.sql}`;
  }

  texts(f: IdFilter): string {
    return `SELECT doc_id, abstract, content_hash FROM ${this.t.docs} WHERE ${f.sql}`;
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
    return `UPDATE ${this.t.docs} SET content_hash = ? WHERE doc_id = ? AND content_hash IS NULL AND ${read.nullAbstract ? 'abstract IS NULL' : `${this.exact('abstract')} = ?`}`;
  }

  /** A text column compared exactly (IRIS compares case-insensitively unless told). */
  exact(column: string): string {
    return column;
  }

  /** Inserts or replaces one document; parameters in DOCUMENT_COLUMNS order. */
  abstract upsertDocument(): string;
  /** Inserts or replaces one ledger row; parameters in LEDGER_COLUMNS order. */
  abstract upsertLedger(): string;

  deleteTokensOfDocument(): string {
    return `DELETE FROM ${this.t.tokens} WHERE doc_id = ?`;
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

/** Row values as SQL sees them, in DOCUMENT_COLUMNS order. */
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
