/**
 * SQLite's SQL: the schema, its check, and every statement of the SQL store, for both SQLite drivers: node:sqlite
 * (the embedded default store, src/store/embedded.ts) and SQLite's ODBC driver (`odbc+sqlite:` URLs). A file
 * written through one is read through the other.
 *
 * The database file is attached under the schema name, so tables are addressed as "RAG"."SourceDocuments".
 * Vectors are little-endian float32 BLOBs; a CHECK on their byte length pins the dimension.
 */
import type { SchemaExpectation, SchemaProblem, SchemaReport } from '../../core/store-port.ts';
import type { TokenEmbedding } from '../../core/types.ts';
import type { Row, SqlClient, SqlValue } from '../sql/client.ts';
import { SqlDialect, checkIdentifier, type IdFilter, type TableNames } from '../sql/dialect.ts';
import { float32Bytes } from '../sql/vectors.ts';
import { isTransientSqliteError, odbcText } from '../errors.ts';

export function sqliteIdent(id: string): string {
  return `"${checkIdentifier(id)}"`;
}

type TableKey = 'docs' | 'tokens' | 'ledger';

export interface SchemaObject {
  object: string;
  table?: TableKey;
  kind: 'table' | 'index' | 'trigger';
  name: string;
  sql: string;
}

export const SQLITE_COLUMNS: Record<TableKey, { name: string; type: string }[]> = {
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

/** The statements that create each object, in dependency order. */
export function sqliteSchemaObjects(n: TableNames, expect: SchemaExpectation): SchemaObject[] {
  const s = sqliteIdent(n.schema);
  const t = (name: string) => `${s}.${sqliteIdent(name)}`;
  const bytes = expect.dimension * 4;
  return [
    {
      object: `${n.schema}.${n.docs}`,
      table: 'docs',
      kind: 'table',
      name: n.docs,
      // text_content last: inspection reads the columns before it without paging through the body text.
      sql:
        `CREATE TABLE ${t(n.docs)} (doc_id TEXT PRIMARY KEY NOT NULL, title TEXT, abstract TEXT, authors TEXT, ` +
        `keywords TEXT, pub_date TEXT, origin TEXT, content_hash TEXT, loaded_at TEXT, text_content TEXT)`,
    },
    {
      object: `${n.schema}.${n.tokens}`,
      table: 'tokens',
      kind: 'table',
      name: n.tokens,
      sql:
        `CREATE TABLE ${t(n.tokens)} (doc_id TEXT NOT NULL, token_index INTEGER NOT NULL, token_text TEXT NOT NULL, ` +
        `token_embedding BLOB NOT NULL CHECK (length(token_embedding) = ${bytes}), PRIMARY KEY (doc_id, token_index))`,
    },
    {
      object: `${n.schema}.${n.ledger}`,
      table: 'ledger',
      kind: 'table',
      name: n.ledger,
      sql:
        `CREATE TABLE ${t(n.ledger)} (doc_id TEXT PRIMARY KEY NOT NULL, model_fingerprint TEXT NOT NULL, ` +
        `content_hash TEXT NOT NULL, token_count INTEGER NOT NULL, dimension INTEGER NOT NULL, embedded_at TEXT NOT NULL)`,
    },
    {
      object: `${n.schema}.${n.docs}_content_changed`,
      kind: 'trigger',
      name: `${n.docs}_content_changed`,
      // An abstract changed by anyone but us (who set content_hash with it) makes its embeddings stale.
      sql:
        `CREATE TRIGGER ${s}.${sqliteIdent(`${n.docs}_content_changed`)} AFTER UPDATE OF abstract ON ${sqliteIdent(n.docs)} ` +
        `WHEN NEW.abstract IS NOT OLD.abstract AND NEW.content_hash IS OLD.content_hash ` +
        `BEGIN UPDATE ${sqliteIdent(n.docs)} SET content_hash = NULL WHERE doc_id = NEW.doc_id; END`,
    },
  ];
}

export type SqliteQuery = (sql: string, params: readonly SqlValue[]) => Promise<Row[]>;

/** Where the live schema differs from sqliteSchemaObjects, with the DDL that fixes each difference. */
export async function checkSqliteSchema(
  query: SqliteQuery,
  n: TableNames,
  expect: SchemaExpectation,
): Promise<SchemaReport> {
  const s = sqliteIdent(n.schema);
  const t = (name: string) => `${s}.${sqliteIdent(name)}`;
  const problems: SchemaProblem[] = [];
  let present = 0;
  for (const obj of sqliteSchemaObjects(n, expect)) {
    const [row] = await query(`SELECT sql FROM ${s}.sqlite_master WHERE type = ? AND name = ?`, [
      obj.kind,
      obj.name,
    ]);
    if (!row) {
      problems.push({
        kind: 'missing',
        object: obj.object,
        problem: `${obj.kind} does not exist`,
        fix: obj.sql,
      });
      continue;
    }
    const sql = String(row.sql);
    if (obj.kind === 'table') present++;
    if (!obj.table) continue;
    const live = await query(`SELECT name, type FROM pragma_table_info(?, ?)`, [obj.name, n.schema]);
    const byName = new Map(
      live.map((c) => [String(c.name).toLowerCase(), String(c.type ?? '').toUpperCase()]),
    );
    const tableName = obj.table === 'docs' ? n.docs : obj.table === 'tokens' ? n.tokens : n.ledger;
    for (const c of SQLITE_COLUMNS[obj.table]) {
      const type = byName.get(c.name);
      if (type === undefined)
        problems.push({
          kind: 'mismatch',
          object: `${obj.object}.${c.name}`,
          problem: 'column does not exist',
          fix: `ALTER TABLE ${t(tableName)} ADD COLUMN ${sqliteIdent(c.name)} ${c.type}`,
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
          problem:
            `vector dimension is ${Number(m[1]) / 4}, expected ${expect.dimension}: the stored vectors are of another model ` +
            `(or declare embedding.dimension: ${Number(m[1]) / 4})`,
          fix: `DROP TABLE ${t(n.tokens)}; DELETE FROM ${t(n.ledger)}; ${obj.sql}`,
        });
    }
  }
  return { ok: problems.length === 0, empty: present === 0, problems };
}

/** SQLite's SQL for the SQL store, over node:sqlite or over ODBC. */
export class SqliteDialect extends SqlDialect {
  readonly name = 'sqlite';
  /** Ids go in as one JSON array parameter (json_each), so a chunk can be large. */
  readonly idChunk = 10_000;
  /**
   * Token rows per INSERT. Over ODBC, 200 (4 parameters a row; SQLite allows 32,766 per statement): each
   * statement is a round trip through the driver. In process (node:sqlite), 1: one prepared single-row INSERT
   * per row is the fastest (measured in docs/benchmarks.md).
   */
  readonly tokenRowsPerInsert: number;

  constructor(names: TableNames, options: { tokenRowsPerInsert?: number } = {}) {
    super(names);
    this.tokenRowsPerInsert = options.tokenRowsPerInsert ?? 200;
  }

  ident(id: string): string {
    return sqliteIdent(id);
  }

  idFilter(column: string, ids: readonly string[]): IdFilter {
    return { sql: `${column} IN (SELECT value FROM json_each(?))`, params: [JSON.stringify(ids)] };
  }

  upsertDocument(): string {
    return (
      `INSERT INTO ${this.t.docs} (doc_id, title, abstract, authors, keywords, pub_date, origin, content_hash, loaded_at, text_content) ` +
      `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (doc_id) DO UPDATE SET title = excluded.title, ` +
      `abstract = excluded.abstract, authors = excluded.authors, keywords = excluded.keywords, pub_date = excluded.pub_date, ` +
      `origin = excluded.origin, content_hash = excluded.content_hash, loaded_at = excluded.loaded_at, text_content = excluded.text_content`
    );
  }

  upsertLedger(): string {
    return (
      `INSERT INTO ${this.t.ledger} (doc_id, model_fingerprint, content_hash, token_count, dimension, embedded_at) ` +
      `VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (doc_id) DO UPDATE SET model_fingerprint = excluded.model_fingerprint, ` +
      `content_hash = excluded.content_hash, token_count = excluded.token_count, dimension = excluded.dimension, ` +
      `embedded_at = excluded.embedded_at`
    );
  }

  insertTokens(rows: number): string {
    return `INSERT INTO ${this.t.tokens} (doc_id, token_index, token_text, token_embedding) VALUES ${Array(rows).fill('(?, ?, ?, ?)').join(', ')}`;
  }

  tokenParams(e: TokenEmbedding, i: number): SqlValue[] {
    return [e.docId, i, e.tokens[i]!, float32Bytes(e.vectors, i * e.dimension, e.dimension)];
  }

  async checkSchema(client: SqlClient, expect: SchemaExpectation): Promise<SchemaReport> {
    return client.withSession((s) => checkSqliteSchema((sql, p) => s.query(sql, p), this.names, expect));
  }

  async createSchema(client: SqlClient, expect: SchemaExpectation): Promise<void> {
    const s = sqliteIdent(this.names.schema);
    await client.transaction(async (session) => {
      for (const obj of sqliteSchemaObjects(this.names, expect)) {
        const [row] = await session.query(
          `SELECT 1 AS x FROM ${s}.sqlite_master WHERE type = ? AND name = ?`,
          [obj.kind, obj.name],
        );
        if (!row) await session.query(obj.sql);
      }
    });
  }

  isTransient(error: unknown): boolean {
    return isTransientSqliteError(error) || /database is (locked|busy)|SQLITE_BUSY/i.test(odbcText(error));
  }
}
