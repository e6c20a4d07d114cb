/**
 * What the SQLite token-row counter's row trigger costs a write, and what pausing it would save (run apart from
 * `npm run bench`; docs/benchmarks.md, "Trigger cost in a heal"). node:sqlite, WAL, the store's own token table
 * and counter (src/store/dialects/sqlite.ts, sqlite-counter.ts) for dimension 256, rows in transactions of 16
 * documents x 360 rows, three variants alternating round by round on fresh files:
 *   none    the counter table, no trigger
 *   upsert  the counter's AFTER INSERT trigger, as datastate makes it
 *   paused  the same trigger WHEN NOT EXISTS (SELECT 1 FROM paused); the writer inserts a marker row into `paused`
 *           inside its transaction (deleting it before COMMIT) and sets each document's count itself
 *   sql     no trigger, and no statement per row: one INSERT ... SELECT per document makes its rows inside SQLite
 *           (the document's vectors one BLOB parameter, cut by substr), so what is left is SQLite's own cost of
 *           the rows (the floor under `none`, which binds and steps one single-row INSERT per row as the store does)
 * Prints the median CPU µs per row of each.
 *
 *   node bench/counter-trigger.ts [--rows 100000] [--rounds 7]
 */
import { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sqliteSchemaObjects } from '../src/store/dialects/sqlite.ts';
import { sqliteCounter } from '../src/store/dialects/sqlite-counter.ts';
import { tableNames } from '../src/store/sql/dialect.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '7' } },
});
const N = Number(values.rows);
const ROUNDS = Number(values.rounds);
const D = 256;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-counter-trigger-'));
type Kind = 'none' | 'upsert' | 'paused' | 'sql';
const names = tableNames({});
const counter = sqliteCounter(names);
const tokenTable = sqliteSchemaObjects(names, { dimension: D }).find((o) => o.table === 'tokens')!.sql;
const insertTrigger = [...counter.triggers.values()].find((sql) => / AFTER INSERT ON /.test(sql))!;
const tokens = `"${names.schema}"."${names.tokens}"`;
const paused = `"${names.schema}"."paused"`;

function run(kind: Kind): number {
  const file = path.join(dir, `${kind}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  // The store's layout: the database attached under the schema's name (src/store/clients/sqlite.ts).
  const db = new DatabaseSync(':memory:');
  db.prepare(`ATTACH DATABASE ? AS "${names.schema}"`).run(file);
  db.exec(`PRAGMA "${names.schema}".journal_mode = WAL; PRAGMA "${names.schema}".synchronous = NORMAL;`);
  db.exec(tokenTable);
  db.exec(counter.createTable);
  db.exec(`CREATE TABLE ${paused} (x INTEGER PRIMARY KEY)`);
  if (kind === 'upsert') db.exec(insertTrigger);
  if (kind === 'paused')
    db.exec(insertTrigger.replace(' BEGIN ', ' WHEN NOT EXISTS (SELECT 1 FROM paused) BEGIN '));
  const insert = db.prepare(`INSERT INTO ${tokens} VALUES (?, ?, ?, ?)`);
  const setCount = db.prepare(
    `INSERT INTO ${counter.qualified} VALUES (?, ?) ON CONFLICT (doc_id) DO UPDATE SET token_rows = excluded.token_rows`,
  );
  const perDocument = db.prepare(
    `INSERT INTO ${tokens} SELECT ?, value, 'tok', substr(?, value * ${D * 4} + 1, ${D * 4}) ` +
      `FROM (WITH RECURSIVE s(value) AS (SELECT 0 UNION ALL SELECT value + 1 FROM s WHERE value < 359) SELECT value FROM s)`,
  );
  const v = new Float32Array(D * 360).map(() => Math.random());
  const bytes = new Uint8Array(v.buffer);
  const cpu0 = process.cpuUsage();
  let n = 0;
  for (let doc = 0; n < N;) {
    db.exec('BEGIN');
    if (kind === 'paused') db.exec(`INSERT INTO ${paused} VALUES (1)`);
    for (let d = 0; d < 16; d++, doc++) {
      const id = `PMC${String(doc).padStart(7, '0')}`;
      if (kind === 'paused') setCount.run(id, 360);
      if (kind === 'sql') {
        perDocument.run(id, bytes);
        n += 360;
      } else
        for (let i = 0; i < 360; i++, n++)
          insert.run(id, i, 'tok', new Uint8Array(v.buffer, i * D * 4, D * 4));
    }
    if (kind === 'paused') db.exec(`DELETE FROM ${paused}`);
    db.exec('COMMIT');
  }
  const cpu = process.cpuUsage(cpu0);
  const counted = (
    db.prepare(`SELECT COALESCE(SUM(token_rows), 0) AS s FROM ${counter.qualified}`).get() as { s: number }
  ).s;
  db.close();
  if (kind !== 'none' && kind !== 'sql' && counted !== n)
    throw new Error(`${kind}: counted ${counted} of ${n} rows`);
  return (cpu.user + cpu.system) / n;
}

const kinds: Kind[] = ['none', 'upsert', 'paused', 'sql'];
const results = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
try {
  for (let r = 0; r < ROUNDS; r++) for (const k of kinds) results.get(k)!.push(run(k));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
for (const [k, xs] of results) {
  const sorted = [...xs].sort((a, b) => a - b);
  console.log(
    `${k.padEnd(7)} median CPU µs per row ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)}  (${sorted.map((x) => x.toFixed(2)).join(' ')})`,
  );
}
