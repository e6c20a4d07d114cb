/**
 * PostgreSQL's SQL, for the `pg` driver, PGlite and psqlODBC alike.
 *
 * Vectors: pgvector's `vector(n)` when the extension is there (pg_available_extensions), else `real[]` with a
 * CHECK on its length. `vector` rather than `halfvec`: the embedder computes float32 and the store's contract
 * is that vectors round-trip exactly; halfvec would halve the bytes (768 x 2 instead of x 4) but keeps only
 * ~3 significant digits. `real[]` rather than `bytea` where pgvector is missing: it is typed (the CHECK reads
 * its length, SQL can read its values) and converts to pgvector in place
 * (ALTER COLUMN ... TYPE vector(n) USING token_embedding::vector(n)); on disk it costs about the same, but in binary COPY
 * it is 8 bytes a float (4 for `vector`).
 *
 * Under database.vectorPrecision: float16 the column is pgvector's `halfvec(n)` (pgvector >= 0.7; 2 bytes a float):
 * the user traded the exact round trip for half the bytes. Without pgvector there is no half type (real[] is
 * float4 only), so float16 is refused (StoreConfigError, exit 2) before anything is created or written.
 *
 * Token rows are written with binary COPY over `pg` (measured fastest; see docs/databases.md), or multi-row
 * INSERTs where COPY is not available (ODBC).
 */
import type { SchemaExpectation, SchemaProblem, SchemaReport } from '../../core/store-port.ts';
import type { TokenEmbedding } from '../../core/types.ts';
import type { Row, SqlClient, SqlSession, SqlValue } from '../sql/client.ts';
import {
  SqlDialect,
  checkIdentifier,
  counterProblem,
  schemaReport,
  type IdFilter,
  type TableNames,
} from '../sql/dialect.ts';
import { pgCounter, pgCounterFaults, pgCounterLock, pgCounterMigration } from './postgres-counter.ts';
import { PgBinaryCopy, checkHalfRange, joinFloats } from '../sql/vectors.ts';
import { StoreConfigError, odbcText } from '../errors.ts';

export type PgVectorType = 'vector' | 'halfvec' | 'real[]';

/** pgvector's types (vector, halfvec): the column then needs the extension. */
function isPgvector(t: PgVectorType): boolean {
  return t !== 'real[]';
}

/** `vector(768)` / `halfvec(768)` as format_type writes them (maybe schema-qualified, quoted): [type, dimension]. */
function pgvectorColumn(live: string): [PgVectorType, number] | null {
  const m = /^(?:\S+\.)?"?(vector|halfvec)"?\((\d+)\)$/.exec(live);
  return m ? [m[1] as PgVectorType, Number(m[2])] : null;
}

export interface PostgresDialectOptions {
  /** auto (default): keep what the table has; for a new table pgvector's vector when available, else real[]. */
  vectorType?: 'auto' | PgVectorType;
  /** How token rows are written when the driver can COPY: copy (default) or insert (multi-row INSERT). */
  bulk?: 'copy' | 'insert';
}

type TableKey = 'docs' | 'tokens' | 'ledger';

interface PgObject {
  kind: 'schema' | 'extension' | 'table' | 'function' | 'trigger';
  object: string;
  table?: TableKey;
  /** The DDL (statements joined by "; "), as reported in a fix. */
  sql: string;
  /** The same, one statement each, as run by createSchema. */
  statements: string[];
}

function pgObject(o: Omit<PgObject, 'sql'>): PgObject {
  return { ...o, sql: o.statements.join('; ') };
}

/**
 * Serialization failures, deadlocks, lock timeouts (55P03), statement timeouts and cancels (57014), shutdowns,
 * too many connections, lost connections; and ODBC's query timeout (HYT00).
 */
const TRANSIENT_STATES = new Set([
  '40001',
  '40P01',
  '55P03',
  '57014',
  'HYT00',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '08S01',
]);

export function isTransientPgError(error: unknown): boolean {
  const e = error as { code?: string; message?: string; odbcErrors?: { state?: string }[] };
  if (e?.code && TRANSIENT_STATES.has(e.code)) return true;
  if (e?.odbcErrors?.some((x) => x.state && TRANSIENT_STATES.has(x.state))) return true;
  return /deadlock detected|could not serialize|lock timeout|statement timeout|Connection terminated|connection error|not queryable|terminating connection|the database system is (?:starting up|shutting down|in recovery)|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|server closed the connection|could not connect/i.test(
    odbcText(error),
  );
}

export class PostgresDialect extends SqlDialect {
  readonly name = 'postgres';
  /** Ids go in as one JSON array parameter, so a chunk can be large. */
  readonly idChunk = 10_000;
  override readonly looseIndexScan = true;
  /** 4 parameters a row: 400 a statement (PostgreSQL allows 65,535). */
  readonly tokenRowsPerInsert = 100;
  readonly requested: 'auto' | PgVectorType;
  bulk: 'copy' | 'insert';
  /** The vector column type in use; resolved by prepare(). */
  vectorType: PgVectorType;
  private resolved = false;

  override readonly countsTable: string;

  constructor(names: TableNames, options: PostgresDialectOptions = {}) {
    super(names);
    this.countsTable = pgCounter(names).qualified;
    this.requested = options.vectorType ?? 'auto';
    this.bulk = options.bulk ?? 'copy';
    this.vectorType = this.requested === 'auto' ? 'real[]' : this.requested;
    if (names.vectorPrecision === 'float16' && this.requested === 'real[]')
      throw new StoreConfigError(
        'database.vectorPrecision float16 needs pgvector (halfvec); PostgreSQL real[] holds float32 only',
      );
  }

  /** The column type a new token table gets once pgvector is known to be there. */
  private pgvectorType(): PgVectorType {
    return this.names.vectorPrecision === 'float16' ? 'halfvec' : 'vector';
  }

  /** Refuses float16 where this database has no pgvector: PostgreSQL's real[] holds float32 only. */
  private noHalfType(): StoreConfigError {
    return new StoreConfigError(
      'database.vectorPrecision float16 needs the pgvector extension (halfvec, pgvector >= 0.7), which this ' +
        'PostgreSQL does not have (or datastate may not create): real[] holds float32 only. Install pgvector, ' +
        'or declare database.vectorPrecision: float32',
    );
  }

  ident(id: string): string {
    return `"${checkIdentifier(id)}"`;
  }

  override async countsKept(s: SqlSession): Promise<boolean> {
    return (await pgCounterFaults((sql, p) => s.query(sql, p), this.names)).length === 0;
  }

  idFilter(column: string, ids: readonly string[]): IdFilter {
    return {
      sql: `${column} IN (SELECT value FROM json_array_elements_text(CAST(? AS json)))`,
      params: [JSON.stringify(ids)],
    };
  }

  upsertDocument(): string {
    const [id, ...rest] = this.documentColumns();
    return (
      `INSERT INTO ${this.t.docs} (${[id, ...rest].join(', ')}) ` +
      `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (${id}) DO UPDATE SET ` +
      rest.map((c) => `${c} = EXCLUDED.${c}`).join(', ')
    );
  }

  upsertLedger(): string {
    return (
      `INSERT INTO ${this.t.ledger} (doc_id, model_fingerprint, content_hash, token_count, dimension, embedded_at) ` +
      `VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (doc_id) DO UPDATE SET model_fingerprint = EXCLUDED.model_fingerprint, ` +
      `content_hash = EXCLUDED.content_hash, token_count = EXCLUDED.token_count, dimension = EXCLUDED.dimension, ` +
      `embedded_at = EXCLUDED.embedded_at`
    );
  }

  insertTokens(rows: number): string {
    const cast = `CAST(? AS ${this.vectorType})`;
    return `INSERT INTO ${this.t.tokens} (${this.tokenColumns().join(', ')}) VALUES ${Array(rows).fill(`(?, ?, ?, ${cast})`).join(', ')}`;
  }

  tokenParams(e: TokenEmbedding, i: number): SqlValue[] {
    if (this.vectorType === 'halfvec')
      for (let j = 0; j < e.dimension; j++) checkHalfRange(e.vectors[i * e.dimension + j]!);
    const floats = joinFloats(e.vectors, i * e.dimension, e.dimension);
    return [e.docId, i, e.tokens[i]!, isPgvector(this.vectorType) ? `[${floats}]` : `{${floats}}`];
  }

  copyTokens(): string {
    return `COPY ${this.t.tokens} (${this.tokenColumns().join(', ')}) FROM STDIN (FORMAT binary)`;
  }

  override async writeTokens(s: SqlSession, embeddings: readonly TokenEmbedding[]): Promise<void> {
    if (this.bulk !== 'copy' || !s.copyFrom) return super.writeTokens(s, embeddings);
    const copy = new PgBinaryCopy(this.vectorType);
    let rows = 0;
    for (const e of embeddings) {
      const id = copy.encodeId(e.docId);
      for (let i = 0; i < e.tokens.length; i++)
        copy.row(id, i, e.tokens[i]!, e.vectors, i * e.dimension, e.dimension);
      rows += e.tokens.length;
    }
    if (rows) await s.copyFrom(this.copyTokens(), copy.finish());
  }

  // ---- schema -------------------------------------------------------------------------------------------

  /** Every object of the schema, in creation order, for the given vector type. */
  schemaObjects(expect: SchemaExpectation, vectorType: PgVectorType = this.vectorType): PgObject[] {
    const n = this.names;
    const d = this.c.docs;
    const fn = `${this.ident(n.schema)}.${this.ident(`${n.docs}_content_changed`)}`;
    const objects: PgObject[] = [
      pgObject({
        kind: 'schema',
        object: n.schema,
        statements: [`CREATE SCHEMA IF NOT EXISTS ${this.ident(n.schema)}`],
      }),
    ];
    if (isPgvector(vectorType))
      objects.push(
        pgObject({
          kind: 'extension',
          object: 'vector',
          statements: ['CREATE EXTENSION IF NOT EXISTS vector'],
        }),
      );
    objects.push(
      pgObject({
        kind: 'table',
        table: 'docs',
        object: this.object(n.docs),
        statements: [
          `CREATE TABLE ${this.t.docs} (${d.docId} text PRIMARY KEY, ${d.title} text, ${d.abstract} text, ${d.authors} text, ` +
            `${d.keywords} text, ${d.pubDate} text, ${d.origin} text, ${d.contentHash} text, ${d.loadedAt} text, ${d.textContent} text)`,
        ],
      }),
      pgObject({
        kind: 'table',
        table: 'tokens',
        object: this.object(n.tokens),
        statements: this.createTokens(expect.dimension, vectorType),
      }),
      pgObject({
        kind: 'table',
        table: 'ledger',
        object: this.object(n.ledger),
        statements: [
          `CREATE TABLE ${this.t.ledger} (doc_id text PRIMARY KEY, model_fingerprint text NOT NULL, content_hash text NOT NULL, ` +
            `token_count integer NOT NULL, dimension integer NOT NULL, embedded_at text NOT NULL)`,
        ],
      }),
      pgObject({
        kind: 'function',
        object: this.object(`${n.docs}_content_changed()`),
        // An abstract changed by anyone but us (who set content_hash with it) makes its embeddings stale.
        statements: [
          `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
            `IF NEW.${d.abstract} IS DISTINCT FROM OLD.${d.abstract} AND NEW.${d.contentHash} IS NOT DISTINCT FROM OLD.${d.contentHash} THEN ` +
            `NEW.${d.contentHash} := NULL; END IF; RETURN NEW; END $$`,
        ],
      }),
      pgObject({
        kind: 'trigger',
        object: this.object(`${n.docs}_content_changed`),
        statements: [
          `CREATE TRIGGER ${this.ident(`${n.docs}_content_changed`)} BEFORE UPDATE OF ${d.abstract} ON ${this.t.docs} ` +
            `FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
        ],
      }),
    );
    return objects;
  }

  private dimensionConstraint(dimension: number): string {
    const v = this.c.tokens.embedding;
    return `CONSTRAINT ${this.ident(`${this.names.tokens}_dimension`)} CHECK (array_ndims(${v}) = 1 AND cardinality(${v}) = ${dimension})`;
  }

  /**
   * The token table. A real[] of 768 floats (3 KB) is over TOAST's 2 KB threshold, and PostgreSQL would try
   * (and fail) to compress every one: STORAGE EXTERNAL skips that, measured +40% on COPY. (pgvector's types
   * are EXTERNAL already.)
   */
  private createTokens(dimension: number, vectorType: PgVectorType): string[] {
    const k = this.c.tokens;
    const column = isPgvector(vectorType)
      ? `${k.embedding} ${vectorType}(${dimension}) NOT NULL`
      : `${k.embedding} real[] NOT NULL ${this.dimensionConstraint(dimension)}`;
    const create = `CREATE TABLE ${this.t.tokens} (${k.docId} text NOT NULL, ${k.tokenIndex} integer NOT NULL, ${k.tokenText} text NOT NULL, ${column}, PRIMARY KEY (${k.docId}, ${k.tokenIndex}))`;
    return isPgvector(vectorType)
      ? [create]
      : [create, `ALTER TABLE ${this.t.tokens} ALTER COLUMN ${k.embedding} SET STORAGE EXTERNAL`];
  }

  /** [name as stored in the catalog, type datastate creates] of every column, by table. */
  private expectedColumns(dimension: number): Record<TableKey, [string, string][]> {
    const k = this.names.columns.tokens;
    return {
      docs: Object.values(this.names.columns.docs).map((c) => [c, 'text']),
      tokens: [
        [k.docId, 'text'],
        [k.tokenIndex, 'integer'],
        [k.tokenText, 'text'],
        [k.embedding, isPgvector(this.vectorType) ? `${this.vectorType}(${dimension})` : 'real[]'],
      ],
      ledger: [
        ['doc_id', 'text'],
        ['model_fingerprint', 'text'],
        ['content_hash', 'text'],
        ['token_count', 'integer'],
        ['dimension', 'integer'],
        ['embedded_at', 'text'],
      ],
    };
  }

  /** The primary key of each table, as pg_get_constraintdef writes it (it quotes names the way column() does). */
  private primaryKey(key: TableKey): string {
    if (key === 'docs') return this.c.docs.docId;
    if (key === 'tokens') return `${this.c.tokens.docId}, ${this.c.tokens.tokenIndex}`;
    return 'doc_id';
  }

  /** The live type of the token_embedding column, or null when the table does not exist. */
  private async liveVectorColumn(s: SqlSession): Promise<string | null> {
    const [row] = await s.query(
      `SELECT format_type(a.atttypid, a.atttypmod) AS data_type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid ` +
        `JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ? AND a.attname = ? AND NOT a.attisdropped`,
      [this.names.schema, this.names.tokens, this.names.columns.tokens.embedding],
    );
    return row ? String(row.data_type) : null;
  }

  /**
   * Keeps the vector type the table has when its precision is the declared one;
   * for a new table, pgvector's when available (vectorType auto): vector, or halfvec under float16, which
   * without pgvector is refused here, before anything is created or written.
   */
  override async prepare(client: SqlClient): Promise<void> {
    await client.withSession(async (s) => {
      const live = await this.liveVectorColumn(s);
      const liveType = live === null ? null : (pgvectorColumn(live)?.[0] ?? 'real[]');
      if (liveType !== null && (liveType === 'halfvec') === (this.names.vectorPrecision === 'float16'))
        this.vectorType = liveType;
      // A table of the other precision is a schema problem (checkSchema): writes follow the declared one, the
      // type the fix's DDL creates, so a store that saw the old table writes right once the fix has run.
      else if (liveType !== null) this.vectorType = this.pgvectorType();
      else if (this.requested !== 'auto')
        this.vectorType = this.requested === 'vector' ? this.pgvectorType() : this.requested;
      else
        this.vectorType = (await s.query(`SELECT name FROM pg_available_extensions WHERE name = 'vector'`))
          .length
          ? this.pgvectorType()
          : 'real[]';
      if (live === null && this.vectorType === 'real[]' && this.names.vectorPrecision === 'float16')
        throw this.noHalfType();
    });
    this.resolved = true;
  }

  async checkSchema(client: SqlClient, expect: SchemaExpectation): Promise<SchemaReport> {
    if (!this.resolved) await this.prepare(client);
    return client.withSession(async (s) => {
      const n = this.names;
      const problems: SchemaProblem[] = [];
      const objects = this.schemaObjects(expect);
      const schemaRow = await s.query(`SELECT nspname FROM pg_namespace WHERE nspname = ?`, [n.schema]);
      const extension = await s.query(`SELECT extname FROM pg_extension WHERE extname = 'vector'`);
      const cols = await s.query(
        `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type ` +
          `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ` +
          `LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
          `WHERE n.nspname = ? AND c.relkind IN ('r', 'p')`,
        [n.schema],
      );
      const constraints = await s.query(
        `SELECT c.relname AS table_name, k.conname AS name, CAST(k.contype AS text) AS type, pg_get_constraintdef(k.oid) AS def ` +
          `FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace ` +
          `WHERE n.nspname = ? AND k.contype IN ('p', 'c')`,
        [n.schema],
      );
      const triggers = await s.query(
        `SELECT t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace ` +
          `WHERE n.nspname = ? AND c.relname = ? AND NOT t.tgisinternal`,
        [n.schema, n.docs],
      );
      const functions = await s.query(
        `SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ? AND p.proname = ?`,
        [n.schema, `${n.docs}_content_changed`],
      );
      const tableName: Record<TableKey, string> = { docs: n.docs, tokens: n.tokens, ledger: n.ledger };
      // Tables whose names differ from ours in case only: DDL run unquoted (CREATE TABLE RAG.X) makes rag.x.
      const folded = await s.query(
        `SELECT n.nspname AS schema_name, c.relname AS table_name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ` +
          `WHERE lower(n.nspname) = lower(?) AND c.relkind IN ('r', 'p') AND lower(c.relname) IN (lower(?), lower(?), lower(?))`,
        [n.schema, n.docs, n.tokens, n.ledger],
      );
      const columnsOf = (table: string) =>
        cols.filter((r: Row) => r.table_name === table && r.column_name !== null);
      const tablePresent = (table: string) => cols.some((r: Row) => r.table_name === table);
      const expected = this.expectedColumns(expect.dimension);
      let present = 0;
      for (const obj of objects) {
        switch (obj.kind) {
          case 'schema':
            if (!schemaRow.length)
              problems.push({
                kind: 'missing',
                object: obj.object,
                problem: 'schema does not exist',
                fix: obj.sql,
              });
            break;
          case 'extension':
            if (!extension.length)
              problems.push({
                kind: 'missing',
                object: 'extension vector',
                problem: 'the pgvector extension is not installed in this database',
                fix: obj.sql,
              });
            break;
          case 'function':
            if (!functions.length)
              problems.push({
                kind: 'missing',
                object: obj.object,
                problem: 'function does not exist',
                fix: obj.sql,
              });
            break;
          case 'trigger':
            if (!triggers.some((t) => t.name === `${n.docs}_content_changed`))
              problems.push({
                kind: 'missing',
                object: obj.object,
                problem: 'trigger does not exist',
                fix: obj.sql,
              });
            break;
          case 'table': {
            const key = obj.table!;
            const name = tableName[key];
            if (!tablePresent(name)) {
              const other = folded.find((r) => String(r.table_name).toLowerCase() === name.toLowerCase());
              problems.push({
                kind: 'missing',
                object: obj.object,
                problem: other
                  ? `table does not exist (${String(other.schema_name)}.${String(other.table_name)} does: PostgreSQL folds ` +
                    `unquoted names to lower case, and datastate quotes them; to use that table, name it so in the spec: ` +
                    `database.schema ${String(other.schema_name)}, database.tables.${SPEC_TABLE[key]} ${String(other.table_name)})`
                  : 'table does not exist',
                fix: obj.sql,
              });
              break;
            }
            present++;
            const live = new Map(columnsOf(name).map((r) => [String(r.column_name), String(r.data_type)]));
            const qualified = this.t[key];
            for (const [col, type] of expected[key]) {
              const liveType = live.get(col);
              const sqlCol = this.column(col);
              if (liveType === undefined) {
                problems.push({
                  kind: 'mismatch',
                  object: `${obj.object}.${col}`,
                  problem: 'column does not exist',
                  fix: `ALTER TABLE ${qualified} ADD COLUMN ${sqlCol} ${type}`,
                });
              } else if (key === 'tokens' && col === n.columns.tokens.embedding) {
                this.checkVectorColumn(liveType, expect, obj, constraints, problems);
              } else if (!compatibleType(liveType, type)) {
                problems.push({
                  kind: 'mismatch',
                  object: `${obj.object}.${col}`,
                  problem: `column type is ${liveType}, expected ${type}`,
                  fix: `ALTER TABLE ${qualified} ALTER COLUMN ${sqlCol} TYPE ${type} USING ${sqlCol}::${type}`,
                });
              }
            }
            const pk = constraints.find((c) => c.table_name === name && c.type === 'p');
            const wantPk = this.primaryKey(key);
            if (!pk)
              problems.push({
                kind: 'mismatch',
                object: `${obj.object} primary key`,
                problem: `no primary key (expected on ${wantPk})`,
                fix: `ALTER TABLE ${qualified} ADD PRIMARY KEY (${wantPk})`,
              });
            else if (String(pk.def).replace(/\s+/g, ' ') !== `PRIMARY KEY (${wantPk})`)
              problems.push({
                kind: 'mismatch',
                object: `${obj.object} primary key`,
                problem: `primary key is ${String(pk.def)}, expected PRIMARY KEY (${wantPk})`,
                fix: `ALTER TABLE ${qualified} DROP CONSTRAINT ${this.ident(String(pk.name))}, ADD PRIMARY KEY (${wantPk})`,
              });
          }
        }
      }
      if (present === 3) {
        const faults = await pgCounterFaults((sql, p) => s.query(sql, p), n);
        const counter = counterProblem(pgCounter(n).object, faults, pgCounterMigration(n));
        if (counter) problems.push(counter);
      }
      return schemaReport(problems, present);
    });
  }

  private rebuildTokens(dimension: number, vectorType: PgVectorType = this.vectorType): string {
    return [
      `DROP TABLE ${this.t.tokens}`,
      `DELETE FROM ${this.t.ledger}`,
      ...this.createTokens(dimension, vectorType),
      // Dropping the table drops the counter's triggers: the fix makes the counter again.
      ...pgCounterMigration(this.names),
    ].join('; ');
  }

  private checkVectorColumn(
    liveType: string,
    expect: SchemaExpectation,
    obj: PgObject,
    constraints: Row[],
    problems: SchemaProblem[],
  ): void {
    const object = `${obj.object}.${this.names.columns.tokens.embedding}`;
    const vec = pgvectorColumn(liveType);
    const declared = this.names.vectorPrecision;
    const livePrecision = vec?.[0] === 'halfvec' ? 'float16' : 'float32';
    if (livePrecision !== declared) {
      problems.push({
        kind: 'mismatch',
        object,
        problem:
          `the table stores ${livePrecision} vectors (${liveType}), database.vectorPrecision is ${declared}: ` +
          `datastate does not mix encodings in one table; recreate it (every document is embedded again) or ` +
          `declare database.vectorPrecision: ${livePrecision}`,
        fix: this.rebuildTokens(expect.dimension, declared === 'float16' ? 'halfvec' : 'vector'),
      });
      return;
    }
    if (vec) {
      const live = vec[1];
      if (live !== expect.dimension)
        problems.push({
          kind: 'mismatch',
          object,
          problem:
            `vector dimension is ${live}, expected ${expect.dimension}: the stored vectors are of another model ` +
            `(or declare embedding.dimension: ${live})`,
          fix: this.rebuildTokens(expect.dimension),
          liveDimension: live,
        });
      return;
    }
    if (liveType !== 'real[]') {
      problems.push({
        kind: 'mismatch',
        object,
        problem: `column type is ${liveType}, expected real[] or vector(${expect.dimension})`,
        fix: this.rebuildTokens(expect.dimension),
      });
      return;
    }
    const checks = constraints
      .filter((c) => c.table_name === this.names.tokens && c.type === 'c')
      .map((c) => String(c.def));
    // pg_get_constraintdef writes the column as column() does (quoted unless all lower case).
    const v = this.c.tokens.embedding.replace(/"/g, '"?');
    const dims = checks
      .map((d) => new RegExp(`cardinality\\(${v}\\)\\s*=\\s*(\\d+)`, 'i').exec(d))
      .filter((m) => m !== null);
    if (!dims.length)
      problems.push({
        kind: 'mismatch',
        object,
        problem: `no dimension constraint (expected vectors of dimension ${expect.dimension})`,
        fix: `ALTER TABLE ${this.t.tokens} ADD ${this.dimensionConstraint(expect.dimension)}`,
      });
    else if (dims.some((m) => Number(m[1]) !== expect.dimension)) {
      const live = Number(dims.find((m) => Number(m[1]) !== expect.dimension)![1]);
      problems.push({
        kind: 'mismatch',
        object,
        problem:
          `vector dimension is ${live}, expected ${expect.dimension}: the stored vectors are of another model ` +
          `(or declare embedding.dimension: ${live})`,
        fix: this.rebuildTokens(expect.dimension),
        liveDimension: live,
      });
    }
  }

  override lockTokens(): string[] {
    return [`LOCK TABLE ${this.t.tokens} IN ACCESS EXCLUSIVE MODE`];
  }

  async createSchema(client: SqlClient, expect: SchemaExpectation): Promise<void> {
    if (!this.resolved) await this.prepare(client);
    const n = this.names;
    await client.transaction(async (s) => {
      // Two controllers creating the schema at once wait for each other instead of racing on the catalogs.
      await s.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY})`);
      if (isPgvector(this.vectorType) && this.requested === 'auto') {
        // pgvector is available but maybe not ours to install (CREATE EXTENSION needs privileges): then real[]
        // (float32), or no table at all under float16.
        await s.query('SAVEPOINT datastate_extension');
        try {
          await s.query('CREATE EXTENSION IF NOT EXISTS vector');
          await s.query('RELEASE SAVEPOINT datastate_extension');
        } catch (e) {
          await s.query('ROLLBACK TO SAVEPOINT datastate_extension');
          if (this.names.vectorPrecision === 'float16') throw Object.assign(this.noHalfType(), { cause: e });
          this.vectorType = 'real[]';
        }
      }
      for (const obj of this.schemaObjects(expect)) {
        let exists = false;
        switch (obj.kind) {
          case 'schema':
          case 'extension':
            break; // IF NOT EXISTS
          case 'table':
            exists = (await s.query(`SELECT to_regclass(?) AS oid`, [this.t[obj.table!]]))[0]?.oid != null;
            break;
          case 'function':
            break; // CREATE OR REPLACE
          case 'trigger':
            exists =
              (
                await s.query(
                  `SELECT 1 AS x FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace ` +
                    `WHERE n.nspname = ? AND c.relname = ? AND t.tgname = ?`,
                  [n.schema, n.docs, `${n.docs}_content_changed`],
                )
              ).length > 0;
            break;
        }
        if (!exists) for (const sql of obj.statements) await s.query(sql);
      }
      // An old database (made before the counter) or a counter not whole: made again, with one full count.
      if (!(await this.countsKept(s)))
        for (const sql of [pgCounterLock(n), ...pgCounterMigration(n)]) await s.query(sql);
    });
    await this.prepare(client);
  }

  isTransient(error: unknown): boolean {
    return isTransientPgError(error);
  }
}

/**
 * A live column type datastate can use in place of the one it creates: any text type for text (a table made by
 * hand often has varchar(n)), any integer wider than 16 bits for integer.
 */
function compatibleType(live: string, expected: string): boolean {
  if (live === expected) return true;
  if (expected === 'text') return /^(text|character varying(\(\d+\))?)$/.test(live);
  if (expected === 'integer') return live === 'bigint';
  return false;
}

/** The spec field (database.tables.*) of each table. */
const SPEC_TABLE: Record<TableKey, string> = {
  docs: 'sourceDocuments',
  tokens: 'tokenEmbeddings',
  ledger: 'ledger',
};

/** pg_advisory_xact_lock key of createSchema ("datastat" in ASCII). */
const ADVISORY_KEY = 0x6461746173746174n.toString();
