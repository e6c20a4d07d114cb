/**
 * The token-row counter of PostgreSQL: a table of one row per document (doc_id, token_rows) kept by
 * statement-level triggers on the token table with transition tables, so a binary COPY of a whole batch adds
 * one grouped upsert, not one per row. INSERT (COPY too), DELETE, UPDATE (any column: transition tables take no
 * column list; rows whose doc_id stays take one off and add it back) and TRUNCATE all keep it. Inspection then
 * reads one counter row per document instead of counting its ~360 token rows (sqlite-counter.ts is the same
 * for SQLite).
 *
 * Trusted only when the table, the function (its body exactly as below) and the four triggers exist, each
 * trigger on the right events, with the right transition tables, calling our function, and enabled (pg_trigger
 * tgenabled 'O' or 'A': `ALTER TABLE ... DISABLE TRIGGER` shows as 'D'). Checked on every inspection. A session
 * with `session_replication_role = replica` skips the triggers without leaving a trace in the catalog: the one
 * way past the counter we cannot see (it takes superuser rights to set).
 *
 * The function body separates its statements by `;` with no space after it: a fix is split into statements on
 * `; ` (SqlStore.rebuildEmptyTokenTable), which must not cut the body in two.
 */
import type { Row, SqlValue } from '../sql/client.ts';
import { bareOrQuoted, checkIdentifier, type TableNames } from '../sql/dialect.ts';

function ident(id: string): string {
  return `"${checkIdentifier(id)}"`;
}

interface PgCounterTrigger {
  name: string;
  /** pg_trigger.tgtype: AFTER, FOR EACH STATEMENT, and the event bit (INSERT 4, DELETE 8, UPDATE 16, TRUNCATE 32). */
  tgtype: number;
  oldTable: string | null;
  newTable: string | null;
  create: string;
}

export interface PgCounter {
  table: string;
  qualified: string;
  object: string;
  fn: string;
  body: string;
  createTable: string;
  createFunction: string;
  triggers: PgCounterTrigger[];
}

export function pgCounter(n: TableNames): PgCounter {
  const s = ident(n.schema);
  const table = `${n.tokens}_counts`;
  const qualified = `${s}.${ident(table)}`;
  const fnName = `${table}_change`;
  const fn = `${s}.${ident(fnName)}`;
  const tokens = `${s}.${ident(n.tokens)}`;
  const id = bareOrQuoted(n.columns.tokens.docId, ident);
  // Grouped by doc_id and in doc_id order: two writers lock the counter rows in the same order.
  const grouped = (rows: string) =>
    `SELECT ${id} AS doc_id, COUNT(*) AS n FROM ${rows} GROUP BY 1 ORDER BY 1`;
  const body =
    ` BEGIN ` +
    `IF TG_OP = 'TRUNCATE' THEN DELETE FROM ${qualified};RETURN NULL;END IF;` +
    `IF TG_OP IN ('DELETE', 'UPDATE') THEN UPDATE ${qualified} c SET token_rows = c.token_rows - o.n ` +
    `FROM (${grouped('old_rows')}) o WHERE c.doc_id = o.doc_id;END IF;` +
    `IF TG_OP IN ('INSERT', 'UPDATE') THEN INSERT INTO ${qualified} AS c (doc_id, token_rows) ${grouped('new_rows')} ` +
    `ON CONFLICT (doc_id) DO UPDATE SET token_rows = c.token_rows + EXCLUDED.token_rows;END IF;` +
    `RETURN NULL;END `;
  const trigger = (event: string, bit: number, oldTable: string | null, newTable: string | null) => {
    const name = `${table}_${event.toLowerCase()}`;
    const refs = [oldTable && `OLD TABLE AS ${oldTable}`, newTable && `NEW TABLE AS ${newTable}`].filter(
      Boolean,
    );
    return {
      name,
      tgtype: bit,
      oldTable,
      newTable,
      create:
        `CREATE TRIGGER ${ident(name)} AFTER ${event} ON ${tokens} ` +
        `${refs.length ? `REFERENCING ${refs.join(' ')} ` : ''}FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    };
  };
  return {
    table,
    qualified,
    object: `${n.schema}.${table}`,
    fn: fnName,
    body,
    createTable: `CREATE TABLE IF NOT EXISTS ${qualified} (doc_id text PRIMARY KEY, token_rows bigint NOT NULL)`,
    createFunction: `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$${body}$$`,
    triggers: [
      trigger('INSERT', 4, null, 'new_rows'),
      trigger('DELETE', 8, 'old_rows', null),
      trigger('UPDATE', 16, 'old_rows', 'new_rows'),
      trigger('TRUNCATE', 32, null, null),
    ],
  };
}

/**
 * The statements that make the counter whole from any state: the table and function, the triggers dropped, one
 * full count, the triggers made. Run in one transaction after pgCounterLock, so no write goes between the
 * count and the triggers.
 */
export function pgCounterMigration(n: TableNames): string[] {
  const k = pgCounter(n);
  const tokens = `${ident(n.schema)}.${ident(n.tokens)}`;
  const id = bareOrQuoted(n.columns.tokens.docId, ident);
  return [
    k.createTable,
    k.createFunction,
    ...k.triggers.map((t) => `DROP TRIGGER IF EXISTS ${ident(t.name)} ON ${tokens}`),
    `DELETE FROM ${k.qualified}`,
    `INSERT INTO ${k.qualified} (doc_id, token_rows) SELECT ${id}, COUNT(*) FROM ${tokens} GROUP BY 1`,
    ...k.triggers.map((t) => t.create),
  ];
}

/** Keeps writers off the token table until the transaction ends (CREATE TRIGGER takes this lock too). */
export function pgCounterLock(n: TableNames): string {
  return `LOCK TABLE ${ident(n.schema)}.${ident(n.tokens)} IN SHARE ROW EXCLUSIVE MODE`;
}

/** What of the counter is not as pgCounterMigration makes it (empty: it is whole), from the catalogs. */
export async function pgCounterFaults(
  query: (sql: string, params: readonly SqlValue[]) => Promise<Row[]>,
  n: TableNames,
): Promise<string[]> {
  const k = pgCounter(n);
  const [table] = await query(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = ? AND c.relname = ? AND c.relkind = 'r'`,
    [n.schema, k.table],
  );
  const [fn] = await query(
    `SELECT p.prosrc FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = ? AND p.proname = ?`,
    [n.schema, k.fn],
  );
  const triggers = await query(
    `SELECT t.tgname, t.tgtype, CAST(t.tgenabled AS text) AS tgenabled, t.tgoldtable, t.tgnewtable, p.proname ` +
      `FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace s ON s.oid = c.relnamespace ` +
      `JOIN pg_proc p ON p.oid = t.tgfoid WHERE s.nspname = ? AND c.relname = ? AND NOT t.tgisinternal`,
    [n.schema, n.tokens],
  );
  const faults: string[] = [];
  if (!table) faults.push(`table ${k.table} does not exist`);
  if (!fn) faults.push(`function ${k.fn}() does not exist`);
  else if (String(fn.prosrc) !== k.body)
    faults.push(`function ${k.fn}() differs from the one datastate creates`);
  for (const t of k.triggers) {
    const live = triggers.find((r) => r.tgname === t.name);
    if (!live) faults.push(`trigger ${t.name} does not exist`);
    else if (
      Number(live.tgtype) !== t.tgtype ||
      (live.tgoldtable ?? null) !== t.oldTable ||
      (live.tgnewtable ?? null) !== t.newTable ||
      live.proname !== k.fn
    )
      faults.push(`trigger ${t.name} differs from the one datastate creates`);
    else if (live.tgenabled !== 'O' && live.tgenabled !== 'A') faults.push(`trigger ${t.name} is disabled`);
  }
  return faults;
}
