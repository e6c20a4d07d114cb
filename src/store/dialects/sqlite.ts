/**
 * SQLite's SQL: the schema, its check, and every statement of the SQL store, for both SQLite drivers: node:sqlite
 * (the embedded default store, src/store/embedded.ts) and SQLite's ODBC driver (`odbc+sqlite:` URLs). A file
 * written through one is read through the other.
 *
 * The database file is attached under the schema name, so tables are addressed as "RAG"."SourceDocuments".
 * Vectors are little-endian float32 BLOBs (or float16 under database.vectorPrecision: float16); a CHECK on their
 * byte length pins the dimension. A float16 table names that CHECK <table>_float16, which is how the schema check
 * tells the two apart (a float16 vector of 768 floats has the byte length of a float32 one of 384).
 */
import type { SchemaExpectation, SchemaProblem, SchemaReport } from '../../core/store-port.ts';
import type { TokenEmbedding } from '../../core/types.ts';
import type { Row, SqlClient, SqlSession, SqlValue } from '../sql/client.ts';
import { DOCUMENT_FIELDS } from '../../core/columns.ts';
import {
  SqlDialect,
  bareOrQuoted,
  checkIdentifier,
  counterProblem,
  schemaReport,
  type IdFilter,
  type TableNames,
} from '../sql/dialect.ts';
import { bytesPerFloat, vectorBytes, type VectorPrecision } from '../sql/vectors.ts';
import { counterFaults, counterMigration, sqliteCounter } from './sqlite-counter.ts';
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

/** The columns of each table (mapped names for the source and token tables) with the type datastate creates. */
export function sqliteColumns(n: TableNames): Record<TableKey, { name: string; type: string }[]> {
  const d = n.columns.docs;
  const k = n.columns.tokens;
  return {
    docs: DOCUMENT_FIELDS.map((f) => ({ name: d[f], type: 'TEXT' })),
    tokens: [
      { name: k.docId, type: 'TEXT' },
      { name: k.tokenIndex, type: 'INTEGER' },
      { name: k.tokenText, type: 'TEXT' },
      { name: k.embedding, type: 'BLOB' },
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

/**
 * SQLite's type affinity of a declared type (https://www.sqlite.org/datatype3.html, 3.1): what a column made by
 * hand must match, so VARCHAR(64) is as good as TEXT and BIGINT as INTEGER.
 */
export function sqliteAffinity(declared: string): 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC' {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (/CHAR|CLOB|TEXT/.test(t)) return 'TEXT';
  if (t.includes('BLOB') || t === '') return 'BLOB';
  if (/REAL|FLOA|DOUB/.test(t)) return 'REAL';
  return 'NUMERIC';
}

/** The statements that create each object, in dependency order. */
export function sqliteSchemaObjects(n: TableNames, expect: SchemaExpectation): SchemaObject[] {
  const s = sqliteIdent(n.schema);
  const t = (name: string) => `${s}.${sqliteIdent(name)}`;
  const bytes = expect.dimension * bytesPerFloat(n.vectorPrecision);
  const col = (name: string) => bareOrQuoted(name, sqliteIdent);
  const named = n.vectorPrecision === 'float16' ? `CONSTRAINT ${sqliteIdent(float16Constraint(n))} ` : '';
  const d = mapValues(n.columns.docs, col);
  const k = mapValues(n.columns.tokens, col);
  return [
    {
      object: `${n.schema}.${n.docs}`,
      table: 'docs',
      kind: 'table',
      name: n.docs,
      // text_content last: inspection reads the columns before it without paging through the body text.
      sql:
        `CREATE TABLE ${t(n.docs)} (${d.docId} TEXT PRIMARY KEY NOT NULL, ${d.title} TEXT, ${d.abstract} TEXT, ${d.authors} TEXT, ` +
        `${d.keywords} TEXT, ${d.pubDate} TEXT, ${d.origin} TEXT, ${d.contentHash} TEXT, ${d.loadedAt} TEXT, ${d.textContent} TEXT)`,
    },
    {
      object: `${n.schema}.${n.tokens}`,
      table: 'tokens',
      kind: 'table',
      name: n.tokens,
      sql:
        `CREATE TABLE ${t(n.tokens)} (${k.docId} TEXT NOT NULL, ${k.tokenIndex} INTEGER NOT NULL, ${k.tokenText} TEXT NOT NULL, ` +
        `${k.embedding} BLOB NOT NULL ${named}CHECK (length(${k.embedding}) = ${bytes}), PRIMARY KEY (${k.docId}, ${k.tokenIndex}))`,
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
        `CREATE TRIGGER ${s}.${sqliteIdent(`${n.docs}_content_changed`)} AFTER UPDATE OF ${d.abstract} ON ${sqliteIdent(n.docs)} ` +
        `WHEN NEW.${d.abstract} IS NOT OLD.${d.abstract} AND NEW.${d.contentHash} IS OLD.${d.contentHash} ` +
        `BEGIN UPDATE ${sqliteIdent(n.docs)} SET ${d.contentHash} = NULL WHERE ${d.docId} = NEW.${d.docId}; END`,
    },
  ];
}

/** The name of the length CHECK of a float16 token table (its mark: a float32 table's CHECK has no name). */
export function float16Constraint(n: TableNames): string {
  return `${n.tokens}_float16`;
}

/** The precision a token table's DDL declares: float16 when its length CHECK carries the float16 name. */
export function sqliteTablePrecision(sql: string, n: TableNames): VectorPrecision {
  const name = float16Constraint(n); // an identifier (checked): no regular-expression characters
  return new RegExp(`CONSTRAINT\\s+["\`\\[]?${name}["\`\\]]?\\s+CHECK`, 'i').test(sql)
    ? 'float16'
    : 'float32';
}

function mapValues<T extends Record<string, string>>(m: T, f: (v: string) => string): T {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(v)])) as T;
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
  const columns = sqliteColumns(n);
  const vector = n.columns.tokens.embedding; // an identifier (checked): no regular-expression characters
  let present = 0;
  for (const obj of sqliteSchemaObjects(n, expect)) {
    const [row] = await query(`SELECT sql FROM ${s}.sqlite_master WHERE type = ? AND name = ?`, [
      obj.kind,
      obj.name,
    ]);
    if (!row) {
      // SQLite has no schemas: a table named "RAG.X" (the dot inside its name) is not RAG.X (docs/databases.md).
      const dotted =
        obj.kind === 'table' &&
        (await query(`SELECT name FROM ${s}.sqlite_master WHERE type = 'table' AND name = ?`, [obj.object]))
          .length > 0;
      problems.push({
        kind: 'missing',
        object: obj.object,
        problem: dotted
          ? `table does not exist (a table named "${obj.object}" does, with the dot in its name: SQLite has no schemas; ` +
            `datastate reads the file attached as ${n.schema}, so the table must be named ${obj.name})`
          : `${obj.kind} does not exist`,
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
    for (const c of columns[obj.table]) {
      const type = byName.get(c.name.toLowerCase());
      if (type === undefined)
        problems.push({
          kind: 'mismatch',
          object: `${obj.object}.${c.name}`,
          problem: 'column does not exist',
          fix: `ALTER TABLE ${t(tableName)} ADD COLUMN ${sqliteIdent(c.name)} ${c.type}`,
        });
      else if (sqliteAffinity(type) !== sqliteAffinity(c.type))
        problems.push({
          kind: 'mismatch',
          object: `${obj.object}.${c.name}`,
          problem: `column type is ${type || '(none)'}, expected ${c.type}`,
          fix: `recreate ${obj.object} with: ${obj.sql}`,
        });
    }
    if (obj.table === 'tokens') {
      const m = new RegExp(`length\\(\\s*["\`\\[]?${vector}["\`\\]]?\\s*\\)\\s*=\\s*(\\d+)`, 'i').exec(sql);
      const livePrecision = sqliteTablePrecision(sql, n);
      const liveDimension = m ? Number(m[1]) / bytesPerFloat(livePrecision) : 0;
      // Dropping the table drops the counter's triggers: the fix makes the counter again.
      const rebuild = [
        `DROP TABLE ${t(n.tokens)}`,
        `DELETE FROM ${t(n.ledger)}`,
        obj.sql,
        ...counterMigration(n),
      ].join('; ');
      if (!m)
        problems.push({
          kind: 'mismatch',
          object: `${obj.object}.${vector}`,
          problem: `no dimension constraint (expected vectors of dimension ${expect.dimension})`,
          fix: `recreate ${obj.object} with: ${obj.sql}`,
        });
      else if (livePrecision !== n.vectorPrecision)
        problems.push({
          kind: 'mismatch',
          object: `${obj.object}.${vector}`,
          problem:
            `the table stores ${livePrecision} vectors (of dimension ${liveDimension}), database.vectorPrecision is ` +
            `${n.vectorPrecision}: datastate does not mix encodings in one table; recreate it (every document is ` +
            `embedded again) or declare database.vectorPrecision: ${livePrecision}`,
          fix: rebuild,
        });
      else if (liveDimension !== expect.dimension)
        problems.push({
          kind: 'mismatch',
          object: `${obj.object}.${vector}`,
          problem:
            `vector dimension is ${liveDimension}, expected ${expect.dimension}: the stored vectors are of another model ` +
            `(or declare embedding.dimension: ${liveDimension})`,
          fix: rebuild,
          liveDimension,
        });
    }
  }
  const counter = counterProblem(sqliteCounter(n).object, await counterFaults(query, n), counterMigration(n));
  if (counter && present === 3) problems.push(counter);
  return schemaReport(problems, present);
}

/** SQLite's SQL for the SQL store, over node:sqlite or over ODBC. */
export class SqliteDialect extends SqlDialect {
  readonly name = 'sqlite';
  /** Ids go in as one JSON array parameter (json_each), so a chunk can be large. */
  readonly idChunk = 10_000;
  override readonly looseIndexScan = true;
  /**
   * Token rows per INSERT. Over ODBC, 200 (4 parameters a row; SQLite allows 32,766 per statement): each
   * statement is a round trip through the driver. In process (node:sqlite), 1: one prepared single-row INSERT
   * per row is the fastest (measured in docs/benchmarks.md).
   */
  readonly tokenRowsPerInsert: number;

  override readonly countsTable: string;

  constructor(names: TableNames, options: { tokenRowsPerInsert?: number } = {}) {
    super(names);
    this.tokenRowsPerInsert = options.tokenRowsPerInsert ?? 200;
    this.countsTable = sqliteCounter(names).qualified;
  }

  override async countsKept(s: SqlSession): Promise<boolean> {
    return (await counterFaults((sql, p) => s.query(sql, p), this.names)).length === 0;
  }

  ident(id: string): string {
    return sqliteIdent(id);
  }

  idFilter(column: string, ids: readonly string[]): IdFilter {
    return { sql: `${column} IN (SELECT value FROM json_each(?))`, params: [JSON.stringify(ids)] };
  }

  /**
   * One statement over the JSON array of ids (this dialect's idFilter parameter): the two LEFT JOINs seek
   * by key, and one correlated COUNT per id reads that document's range of the (doc_id, token_index) key. On
   * 10k documents x 360 tokens the COUNT alone takes about half the time of IN (...) GROUP BY (measured 0.57 s
   * vs 1.0-1.4 s on a loaded machine), and the three separate statements cost more again.
   */
  override readonly joinsEmbeddingStates = true;
  override embeddingStatesJoined(_f: IdFilter, kept = false): string {
    const t = this.c.tokens;
    // Kept (see sqlite-counter.ts): one seek into the counts table instead of counting the document's range.
    const rows = kept
      ? `COALESCE((SELECT k.token_rows FROM ${this.countsTable} k WHERE k.doc_id = i.value), 0)`
      : `(SELECT COUNT(*) FROM ${this.t.tokens} e WHERE e.${t.docId} = i.value)`;
    return (
      `SELECT i.value AS doc_id, d.${this.c.docs.contentHash} AS doc_hash, l.model_fingerprint, l.content_hash AS ledger_hash, ` +
      `l.token_count, l.dimension, l.embedded_at, ${rows} AS token_rows, ` +
      // Two more seeks on the same key: the ends of the range, for rows out of sequence (not 0..n-1).
      `(SELECT MIN(${t.tokenIndex}) FROM ${this.t.tokens} e WHERE e.${t.docId} = i.value) AS first_index, ` +
      `(SELECT MAX(${t.tokenIndex}) FROM ${this.t.tokens} e WHERE e.${t.docId} = i.value) AS last_index ` +
      `FROM json_each(?) i LEFT JOIN ${this.t.docs} d ON d.${this.c.docs.docId} = i.value LEFT JOIN ${this.t.ledger} l ON l.doc_id = i.value`
    );
  }

  upsertDocument(): string {
    const [id, ...rest] = this.documentColumns();
    return (
      `INSERT INTO ${this.t.docs} (${[id, ...rest].join(', ')}) ` +
      `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (${id}) DO UPDATE SET ` +
      rest.map((c) => `${c} = excluded.${c}`).join(', ')
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
    return `INSERT INTO ${this.t.tokens} (${this.tokenColumns().join(', ')}) VALUES ${Array(rows).fill('(?, ?, ?, ?)').join(', ')}`;
  }

  tokenParams(e: TokenEmbedding, i: number): SqlValue[] {
    const p = this.names.vectorPrecision;
    return [e.docId, i, e.tokens[i]!, vectorBytes(p, e.vectors, i * e.dimension, e.dimension)];
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
      // An old database (made before the counter) or a counter not whole: made again, with one full count.
      if (!(await this.countsKept(session)))
        for (const sql of counterMigration(this.names)) await session.query(sql);
    });
  }

  isTransient(error: unknown): boolean {
    return isTransientSqliteError(error) || /database is (locked|busy)|SQLITE_BUSY/i.test(odbcText(error));
  }
}
