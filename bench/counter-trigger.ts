/**
 * What the SQLite token-row counter's row trigger costs a write, and what pausing it would save (run apart from
 * `npm run bench`; docs/benchmarks.md, "Trigger cost in a heal"). node:sqlite, WAL, rows of 256 float32 in
 * transactions of 16 documents x 360 rows, three variants alternating round by round on fresh files:
 *   none    no trigger
 *   upsert  the counter's AFTER INSERT trigger (src/store/dialects/sqlite-counter.ts)
 *   paused  the same trigger WHEN NOT EXISTS (SELECT 1 FROM paused); the writer inserts a marker row into `paused`
 *           inside its transaction (deleting it before COMMIT) and sets each document's count itself
 * Prints the median CPU µs per row of each.
 *
 *   node bench/counter-trigger.ts [--rows 100000] [--rounds 7]
 */
import { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '7' } },
});
const N = Number(values.rows);
const ROUNDS = Number(values.rounds);
const D = 256;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-counter-trigger-'));
type Kind = 'none' | 'upsert' | 'paused';
const UPSERT =
  'INSERT INTO c (doc_id, token_rows) VALUES (NEW.doc_id, 1) ON CONFLICT (doc_id) DO UPDATE SET token_rows = token_rows + 1';

function run(kind: Kind): number {
  const file = path.join(dir, `${kind}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE t (doc_id TEXT NOT NULL, token_index INTEGER NOT NULL, token_text TEXT NOT NULL,
      emb BLOB NOT NULL CHECK (length(emb) = ${D * 4}), PRIMARY KEY (doc_id, token_index));
    CREATE TABLE c (doc_id TEXT PRIMARY KEY NOT NULL, token_rows INTEGER NOT NULL);
    CREATE TABLE paused (x INTEGER PRIMARY KEY);`);
  if (kind === 'upsert') db.exec(`CREATE TRIGGER ti AFTER INSERT ON t BEGIN ${UPSERT};END`);
  if (kind === 'paused')
    db.exec(`CREATE TRIGGER ti AFTER INSERT ON t WHEN NOT EXISTS (SELECT 1 FROM paused) BEGIN ${UPSERT};END`);
  const insert = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?)');
  const setCount = db.prepare(
    'INSERT INTO c VALUES (?, ?) ON CONFLICT (doc_id) DO UPDATE SET token_rows = excluded.token_rows',
  );
  const v = new Float32Array(D * 360).map(() => Math.random());
  const cpu0 = process.cpuUsage();
  let n = 0;
  for (let doc = 0; n < N;) {
    db.exec('BEGIN');
    if (kind === 'paused') db.exec('INSERT INTO paused VALUES (1)');
    for (let d = 0; d < 16; d++, doc++) {
      const id = `PMC${String(doc).padStart(7, '0')}`;
      if (kind === 'paused') setCount.run(id, 360);
      for (let i = 0; i < 360; i++, n++) insert.run(id, i, 'tok', new Uint8Array(v.buffer, i * D * 4, D * 4));
    }
    if (kind === 'paused') db.exec('DELETE FROM paused');
    db.exec('COMMIT');
  }
  const cpu = process.cpuUsage(cpu0);
  const counted = (db.prepare('SELECT COALESCE(SUM(token_rows), 0) AS s FROM c').get() as { s: number }).s;
  db.close();
  if (kind !== 'none' && counted !== n) throw new Error(`${kind}: counted ${counted} of ${n} rows`);
  return (cpu.user + cpu.system) / n;
}

const kinds: Kind[] = ['none', 'upsert', 'paused'];
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
