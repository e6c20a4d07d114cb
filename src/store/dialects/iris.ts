/**
 * InterSystems IRIS SQL, spoken over ODBC (the InterSystems ODBC driver under unixODBC).
 *
 * No IRIS server can be had where this is developed and tested, so every statement here is pinned as exact
 * text by test/unit/store-iris-sql.test.ts, and the code path that runs it (src/store/sql-store.ts over
 * src/store/clients/odbc.ts) is exercised for real with the PostgreSQL and SQLite ODBC drivers.
 *
 * What differs from standard SQL, and how this dialect handles it:
 * - Names are schema-qualified and unquoted: RAG.SourceDocuments (IRIS projects schema RAG as package RAG).
 * - Strings compare case-insensitively by default (SQLUPPER collation): doc_id and content_hash are declared
 *   COLLATE %EXACT so ids and hashes match exactly, and the trigger compares abstracts with %EXACT().
 * - Vectors: VECTOR(FLOAT, n) columns, written with TO_VECTOR(?, FLOAT, n) from a comma-separated string.
 * - No LIMIT (and no LIMIT in subqueries): no statement here needs a row limit (the target set is chosen
 *   in TypeScript from candidates()); the only one-row read uses SELECT TOP 1.
 * - Parameters per statement: id lists are bound as IN (?, ?, ...) of exactly IRIS_IN_LIST_SIZE markers
 *   (short lists padded by repeating their last id, which IN ignores), so each statement shape is compiled
 *   and cached once; token rows are inserted one prepared single-row INSERT at a time (no multi-row VALUES).
 * - Long text: abstract is VARCHAR(65535) (TRIM, LENGTH and comparisons work on it); authors, keywords and
 *   the body text are LONGVARCHAR (streams), never read by inspection. A stream that does come back as bytes
 *   is decoded as UTF-8 by the store.
 * - INSERT OR UPDATE is IRIS's upsert (on the primary key).
 */
import type { SchemaExpectation, SchemaProblem, SchemaReport } from '../../core/store-port.ts';
import type { TokenEmbedding } from '../../core/types.ts';
import type { SqlClient, SqlValue } from '../sql/client.ts';
import {
  DOCUMENT_FIELDS,
  TOKEN_FIELDS,
  type DocumentColumns,
  type TokenColumns,
} from '../../core/columns.ts';
import {
  LEDGER_COLUMNS,
  SqlDialect,
  checkIdentifier,
  schemaReport,
  type IdFilter,
  type TableNames,
} from '../sql/dialect.ts';
import { joinFloats } from '../sql/vectors.ts';
import { StoreConfigError, odbcText } from '../errors.ts';

/**
 * Ids bound in one IN list. IRIS documents no small per-statement parameter limit we could verify, and has
 * no array parameter; 100 keeps each statement short, one cached query plan, and 10,000 ids = 100 round trips.
 */
export const IRIS_IN_LIST_SIZE = 100;

/** The doc_id written by the schema check's dimension probe (always rolled back). */
export const IRIS_PROBE_ID = '~datastate-schema-probe';

type TableKey = 'docs' | 'tokens' | 'ledger';

/** IRIS SQLCODEs worth retrying: -110 lock timeout, -114 row locked by another process; SQLSTATE 40001/08xxx/HYT00. */
export function isTransientIrisError(error: unknown): boolean {
  const e = error as { odbcErrors?: { state?: string; code?: number }[] };
  for (const x of e?.odbcErrors ?? []) {
    if (x.code === -110 || x.code === -114) return true;
    if (x.state && (/^08/.test(x.state) || x.state === '40001' || x.state === 'HYT00' || x.state === 'HYT01'))
      return true;
  }
  return /SQLCODE[:=]?\s*<?-(110|114)>?|lock timeout|communication link failure/i.test(odbcText(error));
}

export class IrisDialect extends SqlDialect {
  readonly name = 'iris';
  readonly idChunk = IRIS_IN_LIST_SIZE;
  readonly tokenRowsPerInsert = 1;
  /** Probe the vector column's dimension in checkSchema (a rolled-back INSERT); off for read-only passes. */
  readonly probe: boolean;

  constructor(names: TableNames, options: { probe?: boolean } = {}) {
    super(names);
    this.probe = options.probe ?? true;
    // IRIS's VECTOR element types are DOUBLE, DECIMAL, FLOAT, INTEGER and STRING: no half-precision float.
    if (names.vectorPrecision === 'float16')
      throw new StoreConfigError(
        'database.vectorPrecision float16 is not supported on IRIS (its VECTOR type has no half-precision ' +
          'element type); declare database.vectorPrecision: float32',
      );
  }

  ident(id: string): string {
    return checkIdentifier(id);
  }

  idFilter(column: string, ids: readonly string[]): IdFilter {
    if (ids.length > IRIS_IN_LIST_SIZE)
      throw new Error(`at most ${IRIS_IN_LIST_SIZE} ids per IN list (got ${ids.length})`);
    const params: SqlValue[] = [...ids];
    while (params.length < IRIS_IN_LIST_SIZE) params.push(ids[ids.length - 1] ?? '');
    return { sql: `${column} IN (${Array(IRIS_IN_LIST_SIZE).fill('?').join(', ')})`, params };
  }

  upsertDocument(): string {
    return (
      `INSERT OR UPDATE INTO ${this.t.docs} (${this.documentColumns().join(', ')}) ` +
      `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    );
  }

  upsertLedger(): string {
    return `INSERT OR UPDATE INTO ${this.t.ledger} (doc_id, model_fingerprint, content_hash, token_count, dimension, embedded_at) VALUES (?, ?, ?, ?, ?, ?)`;
  }

  /** Abstracts are compared exactly, not by the case-insensitive default collation (fillContentHash). */
  override exact(column: string): string {
    return `%EXACT(${column})`;
  }

  insertTokens(_rows: number, dimension: number): string {
    return `INSERT INTO ${this.t.tokens} (${this.tokenColumns().join(', ')}) VALUES (?, ?, ?, TO_VECTOR(?, FLOAT, ${dimension}))`;
  }

  tokenParams(e: TokenEmbedding, i: number): SqlValue[] {
    return [e.docId, i, e.tokens[i]!, joinFloats(e.vectors, i * e.dimension, e.dimension)];
  }

  // ---- schema -------------------------------------------------------------------------------------------

  /** The type datastate creates for each field of the source and token tables (the ledger's are its own). */
  private static readonly DOCUMENT_TYPES: Record<keyof DocumentColumns, string> = {
    docId: 'VARCHAR(255) COLLATE %EXACT',
    title: 'VARCHAR(4000)',
    abstract: 'VARCHAR(65535)',
    authors: 'LONGVARCHAR',
    keywords: 'LONGVARCHAR',
    pubDate: 'VARCHAR(32)',
    origin: 'VARCHAR(4000)',
    contentHash: 'VARCHAR(64) COLLATE %EXACT',
    loadedAt: 'VARCHAR(32)',
    textContent: 'LONGVARCHAR',
  };

  private static readonly TOKEN_TYPES: Record<Exclude<keyof TokenColumns, 'embedding'>, string> = {
    docId: 'VARCHAR(255) COLLATE %EXACT',
    tokenIndex: 'INTEGER',
    tokenText: 'VARCHAR(1000)',
  };

  private static readonly LEDGER_TYPES: Record<(typeof LEDGER_COLUMNS)[number], string> = {
    doc_id: 'VARCHAR(255) COLLATE %EXACT',
    model_fingerprint: 'VARCHAR(255)',
    content_hash: 'VARCHAR(64) COLLATE %EXACT',
    token_count: 'INTEGER',
    dimension: 'INTEGER',
    embedded_at: 'VARCHAR(32)',
  };

  /** Every column of a table: its name, datastate's type for it, and what it holds. */
  private columnsOf(key: TableKey, dimension: number): { name: string; type: string; role?: string }[] {
    if (key === 'docs')
      return DOCUMENT_FIELDS.map((f) => ({
        name: this.c.docs[f],
        type: IrisDialect.DOCUMENT_TYPES[f],
        role: f,
      }));
    if (key === 'tokens')
      return TOKEN_FIELDS.map((f) => ({
        name: this.c.tokens[f],
        type: f === 'embedding' ? `VECTOR(FLOAT, ${dimension})` : IrisDialect.TOKEN_TYPES[f],
        role: f,
      }));
    return LEDGER_COLUMNS.map((c) => ({ name: c, type: IrisDialect.LEDGER_TYPES[c] }));
  }

  triggerName(): string {
    return `${this.names.docs}_content_changed`;
  }

  /** The DDL of every object, in creation order. (IRIS creates the schema with its first table.) */
  schemaObjects(
    expect: SchemaExpectation,
  ): { kind: 'table' | 'trigger'; table?: TableKey; object: string; sql: string }[] {
    const n = this.names;
    const d = this.c.docs;
    const trig = `${this.ident(n.schema)}.${this.ident(this.triggerName())}`;
    return [
      {
        kind: 'table',
        table: 'docs',
        object: this.object(n.docs),
        sql:
          `CREATE TABLE ${this.t.docs} (${d.docId} VARCHAR(255) COLLATE %EXACT NOT NULL PRIMARY KEY, ${d.title} VARCHAR(4000), ` +
          `${d.abstract} VARCHAR(65535), ${d.authors} LONGVARCHAR, ${d.keywords} LONGVARCHAR, ${d.pubDate} VARCHAR(32), ${d.origin} VARCHAR(4000), ` +
          `${d.contentHash} VARCHAR(64) COLLATE %EXACT, ${d.loadedAt} VARCHAR(32), ${d.textContent} LONGVARCHAR)`,
      },
      {
        kind: 'table',
        table: 'tokens',
        object: this.object(n.tokens),
        sql: this.createTokens(expect.dimension),
      },
      {
        kind: 'table',
        table: 'ledger',
        object: this.object(n.ledger),
        sql:
          `CREATE TABLE ${this.t.ledger} (doc_id VARCHAR(255) COLLATE %EXACT NOT NULL PRIMARY KEY, model_fingerprint VARCHAR(255) NOT NULL, ` +
          `content_hash VARCHAR(64) COLLATE %EXACT NOT NULL, token_count INTEGER NOT NULL, dimension INTEGER NOT NULL, ` +
          `embedded_at VARCHAR(32) NOT NULL)`,
      },
      {
        kind: 'trigger',
        object: this.object(this.triggerName()),
        // An abstract changed by anyone but us (who set content_hash with it) makes its embeddings stale.
        sql:
          `CREATE TRIGGER ${trig} AFTER UPDATE OF ${d.abstract} ON ${this.t.docs} REFERENCING OLD ROW AS o NEW ROW AS n ` +
          `FOR EACH ROW WHEN (%EXACT(n.${d.abstract}) <> %EXACT(o.${d.abstract}) AND n.${d.contentHash} = o.${d.contentHash}) LANGUAGE SQL ` +
          `BEGIN UPDATE ${this.t.docs} SET ${d.contentHash} = NULL WHERE ${d.docId} = n.${d.docId}; END`,
      },
    ];
  }

  createTokens(dimension: number): string {
    const k = this.c.tokens;
    return (
      `CREATE TABLE ${this.t.tokens} (${k.docId} VARCHAR(255) COLLATE %EXACT NOT NULL, ${k.tokenIndex} INTEGER NOT NULL, ` +
      `${k.tokenText} VARCHAR(1000) NOT NULL, ${k.embedding} VECTOR(FLOAT, ${dimension}) NOT NULL, PRIMARY KEY (${k.docId}, ${k.tokenIndex}))`
    );
  }

  tablesQuery(): string {
    return `SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ?`;
  }

  columnsQuery(): string {
    return `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ?`;
  }

  triggersQuery(): string {
    return `SELECT TRIGGER_NAME FROM INFORMATION_SCHEMA.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?`;
  }

  /** INFORMATION_SCHEMA reports a VECTOR column's type without its length, so the dimension is probed: */
  probeInsert(dimension: number): string {
    return this.insertTokens(1, dimension);
  }

  /**
   * ... after its document, in the same transaction: a token table made by hand may have a foreign key to the
   * source table (the original project's has), which a token row of an unknown document would break.
   */
  probeDocument(): string {
    return `INSERT INTO ${this.t.docs} (${this.c.docs.docId}) VALUES (?)`;
  }

  /** ... and a probe that could not be rolled back is found by this (it must never be there). */
  probeLeftover(): string {
    const id = this.c.tokens.docId;
    return `SELECT TOP 1 ${id} FROM ${this.t.tokens} WHERE ${id} = ?`;
  }

  rebuildTokens(dimension: number): string {
    return `DROP TABLE ${this.t.tokens}; DELETE FROM ${this.t.ledger}; ${this.createTokens(dimension)}`;
  }

  async checkSchema(client: SqlClient, expect: SchemaExpectation): Promise<SchemaReport> {
    const n = this.names;
    const problems: SchemaProblem[] = [];
    const { tables, columns, triggers } = await client.withSession(async (s) => ({
      tables: (await s.query(this.tablesQuery(), [n.schema])).map((r) => String(r.table_name).toLowerCase()),
      columns: await s.query(this.columnsQuery(), [n.schema]),
      triggers: (await s.query(this.triggersQuery(), [n.schema, n.docs])).map((r) =>
        String(r.trigger_name).toLowerCase(),
      ),
    }));
    const tableName: Record<TableKey, string> = { docs: n.docs, tokens: n.tokens, ledger: n.ledger };
    let present = 0;
    let probeTokens = false;
    for (const obj of this.schemaObjects(expect)) {
      if (obj.kind === 'trigger') {
        if (!triggers.includes(this.triggerName().toLowerCase()))
          problems.push({
            kind: 'missing',
            object: obj.object,
            problem: 'trigger does not exist',
            fix: obj.sql,
          });
        continue;
      }
      const key = obj.table!;
      const name = tableName[key].toLowerCase();
      if (!tables.includes(name)) {
        problems.push({ kind: 'missing', object: obj.object, problem: 'table does not exist', fix: obj.sql });
        continue;
      }
      present++;
      const live = new Map(
        columns
          .filter((c) => String(c.table_name).toLowerCase() === name)
          .map((c) => [String(c.column_name).toLowerCase(), String(c.data_type ?? '')]),
      );
      for (const col of this.columnsOf(key, expect.dimension)) {
        const type = live.get(col.name.toLowerCase());
        const abstract = key === 'docs' && col.role === 'abstract';
        if (type === undefined) {
          problems.push({
            kind: 'mismatch',
            object: `${obj.object}.${col.name}`,
            problem: 'column does not exist',
            fix: `ALTER TABLE ${this.t[key]} ADD COLUMN ${col.name} ${col.type}`,
          });
        } else if (abstract && /longvarchar|clob|stream/i.test(type)) {
          problems.push({
            kind: 'mismatch',
            object: `${obj.object}.${col.name}`,
            problem: `column type is ${type} (a stream: TRIM and LENGTH do not apply), expected VARCHAR(65535)`,
            fix: `recreate ${obj.object} with: ${obj.sql}`,
          });
        } else if (key === 'tokens' && col.role === 'embedding') probeTokens = true;
      }
    }
    // Without the probe (a read-only pass) the column's dimension is not checked here; the ledger's
    // dimensions still are, by the embedding_dimensions check.
    if (probeTokens && this.probe) {
      const error = await this.probeDimension(client, expect.dimension);
      if (error)
        problems.push({
          kind: 'mismatch',
          object: `${this.object(n.tokens)}.${n.columns.tokens.embedding}`,
          problem: `the column does not take vectors of dimension ${expect.dimension} (the stored vectors are of another model?): ${error}`,
          fix: this.rebuildTokens(expect.dimension),
        });
    }
    return schemaReport(problems, present);
  }

  /** Inserts one zero vector of the dimension in a transaction that is always rolled back; the error, if any. */
  private async probeDimension(client: SqlClient, dimension: number): Promise<string | null> {
    const rollback = new Error('probe rollback');
    let failure: string | null = null;
    try {
      await client.transaction(async (s) => {
        try {
          await s.query(this.probeDocument(), [IRIS_PROBE_ID]);
        } catch {
          // No source table yet, or the id is taken: the token row alone is the probe.
        }
        try {
          await s.query(this.probeInsert(dimension), [
            IRIS_PROBE_ID,
            0,
            '',
            Array(dimension).fill('0').join(','),
          ]);
        } catch (e) {
          failure = odbcText(e);
        }
        throw rollback;
      });
    } catch (e) {
      if (e !== rollback) throw e;
    }
    const leftover = await client.withSession((s) => s.query(this.probeLeftover(), [IRIS_PROBE_ID]));
    if (leftover.length)
      throw new Error(
        `the schema probe row ${IRIS_PROBE_ID} was not rolled back from ${this.object(this.names.tokens)}`,
      );
    return failure;
  }

  async createSchema(client: SqlClient, expect: SchemaExpectation): Promise<void> {
    const report = await this.checkSchema(client, expect);
    // IRIS DDL commits on its own: each missing object is created by itself.
    await client.withSession(async (s) => {
      for (const p of report.problems) if (p.kind === 'missing') await s.query(p.fix);
    });
  }

  isTransient(error: unknown): boolean {
    return isTransientIrisError(error);
  }
}
