/**
 * The token-row counter of SQLite: a table of one row per document (doc_id, token_rows) kept by triggers on the
 * token table, so inspection reads one counter row per document instead of counting its ~360 token rows. The
 * database keeps it, not datastate: a row inserted, deleted or moved to another doc_id by anyone's SQL changes
 * the count, so a row deleted from the middle of a document is found as before.
 *
 * Trusted only when the table and all three triggers exist with exactly the SQL below (checked on every
 * inspection, counterReady). Made, or remade, by counterMigration in one transaction: the table, one full
 * count of the token table, then the triggers (SQLite has one writer: nothing is written in between).
 *
 * Limit (SQLite's own): rows deleted by the REPLACE conflict resolution (INSERT OR REPLACE over an existing
 * token row) fire no DELETE trigger unless PRAGMA recursive_triggers is on, so such a write leaves the count one
 * too high: the document shows as damaged, is re-embedded, and our rewrite resets its counter row.
 *
 * Trigger bodies separate their statements by `;` with no space after it: a fix is split into statements on
 * `; ` (SqlStore.rebuildEmptyTokenTable), which must not cut a body in two.
 */
import type { Row, SqlValue } from '../sql/client.ts';
import type { TableNames } from '../sql/dialect.ts';
import { bareOrQuoted, checkIdentifier } from '../sql/dialect.ts';

function ident(id: string): string {
  return `"${checkIdentifier(id)}"`;
}

export interface SqliteCounter {
  /** Unqualified name of the counts table (as sqlite_master names it). */
  table: string;
  /** The counts table, qualified and quoted. */
  qualified: string;
  /** Printable name, e.g. RAG.DocumentTokenEmbeddings_counts. */
  object: string;
  createTable: string;
  /** name -> exact CREATE TRIGGER statement. */
  triggers: Map<string, string>;
}

export function sqliteCounter(n: TableNames): SqliteCounter {
  const s = ident(n.schema);
  const table = `${n.tokens}_counts`;
  const c = ident(table);
  const tokens = ident(n.tokens);
  const id = bareOrQuoted(n.columns.tokens.docId, ident);
  const add = (v: string) =>
    `INSERT INTO ${c} (doc_id, token_rows) VALUES (${v}, 1) ON CONFLICT (doc_id) DO UPDATE SET token_rows = token_rows + 1`;
  const sub = (v: string) => `UPDATE ${c} SET token_rows = token_rows - 1 WHERE doc_id = ${v}`;
  const trigger = (suffix: string, event: string, body: string[]) => {
    const name = `${table}_${suffix}`;
    return [
      name,
      `CREATE TRIGGER ${s}.${ident(name)} ${event} ON ${tokens} BEGIN ${body.join(';')};END`,
    ] as const;
  };
  return {
    table,
    qualified: `${s}.${c}`,
    object: `${n.schema}.${table}`,
    createTable: `CREATE TABLE ${s}.${c} (doc_id TEXT PRIMARY KEY NOT NULL, token_rows INTEGER NOT NULL)`,
    triggers: new Map([
      trigger('insert', 'AFTER INSERT', [add(`NEW.${id}`)]),
      trigger('delete', 'AFTER DELETE', [sub(`OLD.${id}`)]),
      // A doc_id left as it was takes one off and adds it back: right without a WHEN.
      trigger('update', `AFTER UPDATE OF ${id}`, [sub(`OLD.${id}`), add(`NEW.${id}`)]),
    ]),
  };
}

/**
 * The statements that make the counter whole from any state (absent, partly there, or there but stale because
 * a trigger was dropped and writes went past it): the table, one full count, then the triggers.
 */
export function counterMigration(n: TableNames): string[] {
  const k = sqliteCounter(n);
  const s = ident(n.schema);
  const id = bareOrQuoted(n.columns.tokens.docId, ident);
  return [
    k.createTable.replace('CREATE TABLE', 'CREATE TABLE IF NOT EXISTS'),
    ...[...k.triggers.keys()].map((name) => `DROP TRIGGER IF EXISTS ${s}.${ident(name)}`),
    `DELETE FROM ${k.qualified}`,
    `INSERT INTO ${k.qualified} (doc_id, token_rows) SELECT ${id}, COUNT(*) FROM ${s}.${ident(n.tokens)} GROUP BY ${id}`,
    ...k.triggers.values(),
  ];
}

/** What of the counter is not as counterMigration makes it (empty: it is whole), read from sqlite_master. */
export async function counterFaults(
  query: (sql: string, params: readonly SqlValue[]) => Promise<Row[]>,
  n: TableNames,
): Promise<string[]> {
  const k = sqliteCounter(n);
  const names = [k.table, ...k.triggers.keys()];
  const live = await query(
    `SELECT type, name, sql FROM ${ident(n.schema)}.sqlite_master WHERE name IN (${names.map(() => '?').join(', ')})`,
    names,
  );
  const row = (type: string, name: string) => live.find((r) => r.type === type && r.name === name);
  const faults: string[] = [];
  if (!row('table', k.table)) faults.push(`table ${k.table} does not exist`);
  for (const [name, sql] of k.triggers) {
    const r = row('trigger', name);
    if (!r) faults.push(`trigger ${name} does not exist`);
    // sqlite_master keeps the statement as written, less the schema before the trigger's name.
    else if (r.sql !== sql.replace(`CREATE TRIGGER ${ident(n.schema)}.`, 'CREATE TRIGGER '))
      faults.push(`trigger ${name} differs from the one datastate creates`);
  }
  return faults;
}
