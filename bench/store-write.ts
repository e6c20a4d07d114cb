/**
 * Token-embedding write rate per store, beside the same database's raw bulk-load rate of the same bytes (the
 * limit). Not a test.
 *
 *   npm run bench:store [-- --docs 48 --tokens 370 --dim 768 --batch 8 --only postgres,sqlite]
 *
 * The store path is writeEmbeddings() as the healer calls it: batches of `batch` documents, each one
 * transaction (ledger upsert, delete, insert of all token rows). The limit loads the same rows (doc_id,
 * token_index, token_text, 4*dim bytes of float32) into a plain table with no key, no constraint and no
 * trigger, the fastest way the database has: one COPY (FORMAT binary) for PostgreSQL; for SQLite (which has
 * no COPY) one prepared INSERT per row, committed every `batch` documents as the store does, with the same
 * WAL settings. MB/s counts vector payload only (rows x dim x 4 bytes).
 *
 * PostgreSQL: DATASTATE_TEST_PG_URL (scripts/ci-databases.sh); a fresh database is created and dropped.
 * Without it the server rows are left out.
 *
 *   npm run bench:store -- --baseline main [--rounds 6] [--write-docs]
 *
 * compares the SQLite store of this checkout with the one of another commit (extracted with git archive into a
 * temporary directory, opened through its own src/store/index.ts openStore), side by side in one process:
 * rounds alternate old, new, new, old, ... on fresh files, and the medians are compared. --write-docs puts
 * the result in its section of docs/benchmarks.md (which npm run bench keeps). With --baseline-store postgres
 * the two stores are PostgreSQL's (`pg`, binary COPY), a fresh database of DATASTATE_TEST_PG_URL per round
 * (printed only; --write-docs is for SQLite).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { EmbeddingWrite, Store } from '../src/core/store-port.ts';
import { contentHash } from '../src/store/content-hash.ts';
import { openSqliteStore } from '../src/store/embedded.ts';
import { openPgliteStore, openPostgresStore } from '../src/store/postgres.ts';
import { openOdbcStore } from '../src/store/odbc.ts';
import type { PgliteLike } from '../src/store/clients/pglite.ts';

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '48' },
    tokens: { type: 'string', default: '370' },
    dim: { type: 'string', default: '768' },
    batch: { type: 'string', default: '8' },
    only: { type: 'string' },
    baseline: { type: 'string' },
    'baseline-store': { type: 'string', default: 'sqlite' },
    rounds: { type: 'string', default: '6' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const DOCS = Number(args.docs);
const TOKENS = Number(args.tokens);
const DIM = Number(args.dim);
const BATCH = Number(args.batch);
const ONLY = args.only ? new Set(args.only.split(',')) : null;
const ROWS = DOCS * TOKENS;
const MB = (ROWS * DIM * 4) / 1e6;

// ---- the workload: deterministic pseudo-random unit vectors (incompressible, like real embeddings) ----

let seed = 20260501;
function rand(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
}
const ids = Array.from({ length: DOCS }, (_, i) => `PMC${String(1_000_000 + i)}`);
const writes: EmbeddingWrite[] = ids.map((docId) => {
  const vectors = new Float32Array(TOKENS * DIM);
  for (let t = 0; t < TOKENS; t++) {
    let norm = 0;
    for (let j = 0; j < DIM; j++) norm += (vectors[t * DIM + j] = rand()) ** 2;
    norm = Math.sqrt(norm);
    for (let j = 0; j < DIM; j++) vectors[t * DIM + j]! /= norm;
  }
  const tokens = Array.from({ length: TOKENS }, (_, t) => (t % 3 ? `##piece${t % 97}` : `word${t % 211}`));
  return {
    embedding: { docId, tokens, vectors, dimension: DIM },
    ledger: {
      docId,
      modelFingerprint: 'bench',
      contentHash: contentHash(docId),
      tokenCount: TOKENS,
      dimension: DIM,
      embeddedAt: new Date().toISOString(),
    },
  };
});
const docs = ids.map((docId) => ({
  docId,
  title: docId,
  abstract: `abstract of ${docId}`,
  textContent: '',
  authors: [],
  keywords: [],
  contentHash: contentHash(`abstract of ${docId}`),
}));

interface Result {
  store: string;
  path: string;
  seconds: number;
  limit?: { path: string; seconds: number };
}
const results: Result[] = [];

/** CPU seconds (user + system) of this process during the last timeStore(): less sensitive to a busy machine. */
let lastCpuSeconds = 0;

async function timeStore(store: Store): Promise<number> {
  await store.createSchema({ dimension: DIM });
  await store.upsertDocuments(docs);
  // warm up (connections, prepared statements, catalogs) on one document, then start from empty
  await store.writeEmbeddings([writes[0]!]);
  await store.deleteEmbeddings([ids[0]!]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < writes.length; i += BATCH) await store.writeEmbeddings(writes.slice(i, i + BATCH));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lastCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const c = await store.counts();
  if (c.tokenRows !== ROWS)
    throw new Error(`${store.description}: ${c.tokenRows} rows written, expected ${ROWS}`);
  return seconds;
}

function copyStream(): Uint8Array[] {
  // the same rows as the store writes, with the vector as bytea (4*dim bytes), in PostgreSQL's binary COPY format
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [
    Uint8Array.from([
      0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    ]),
  ];
  for (const w of writes) {
    const e = w.embedding;
    const id = enc.encode(e.docId);
    for (let t = 0; t < e.tokens.length; t++) {
      const text = enc.encode(e.tokens[t]!);
      const b = Buffer.alloc(2 + 4 + id.length + 8 + 4 + text.length + 4 + DIM * 4);
      let p = b.writeInt16BE(4, 0);
      p = b.writeInt32BE(id.length, p);
      b.set(id, p);
      p = b.writeInt32BE(4, p + id.length);
      p = b.writeInt32BE(t, p);
      p = b.writeInt32BE(text.length, p);
      b.set(text, p);
      p = b.writeInt32BE(DIM * 4, p + text.length);
      b.set(new Uint8Array(e.vectors.buffer, t * DIM * 4, DIM * 4), p);
      chunks.push(b);
    }
  }
  chunks.push(Uint8Array.from([0xff, 0xff]));
  return chunks;
}
// STORAGE EXTERNAL: no (futile) compression attempt on incompressible float bytes, as the store's table does.
const RAW_TABLE = [
  'CREATE TABLE raw_load (doc_id text, token_index integer, token_text text, v bytea)',
  'ALTER TABLE raw_load ALTER COLUMN v SET STORAGE EXTERNAL',
];
const RAW_COPY = 'COPY raw_load (doc_id, token_index, token_text, v) FROM STDIN (FORMAT binary)';

async function pgRawCopy(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('DROP TABLE IF EXISTS raw_load');
    for (const sql of RAW_TABLE) await c.query(sql);
    const data = copyStream();
    const t0 = performance.now();
    await pipeline(
      Readable.from(data.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength))),
      c.query(copyFrom(RAW_COPY)),
    );
    const seconds = (performance.now() - t0) / 1000;
    await c.query('DROP TABLE raw_load');
    return seconds;
  } finally {
    await c.end();
  }
}

function sqliteRawInsert(dir: string): number {
  const db = new DatabaseSync(join(dir, 'raw.db'));
  db.exec(
    'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE raw_load (doc_id TEXT, token_index INTEGER, token_text TEXT, v BLOB)',
  );
  const st = db.prepare('INSERT INTO raw_load VALUES (?, ?, ?, ?)');
  const t0 = performance.now();
  for (let i = 0; i < writes.length; i += BATCH) {
    db.exec('BEGIN');
    for (const w of writes.slice(i, i + BATCH)) {
      const e = w.embedding;
      const raw = new Uint8Array(e.vectors.buffer);
      for (let t = 0; t < e.tokens.length; t++)
        st.run(e.docId, t, e.tokens[t]!, raw.subarray(t * DIM * 4, (t + 1) * DIM * 4));
    }
    db.exec('COMMIT');
  }
  const seconds = (performance.now() - t0) / 1000;
  db.close();
  return seconds;
}

const want = (name: string) => !ONLY || ONLY.has(name);
const log = (m: string) => process.stderr.write(`${m}\n`);

log(
  `workload: ${DOCS} documents x ${TOKENS} tokens = ${ROWS} rows of ${DIM} float32 (${MB.toFixed(1)} MB of vectors), batches of ${BATCH} documents`,
);

/** A new database on DATASTATE_TEST_PG_URL's server, and how to drop it. */
async function freshPgDatabase(tag: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = process.env.DATASTATE_TEST_PG_URL;
  if (!admin)
    throw new Error('--baseline-store postgres needs DATASTATE_TEST_PG_URL (scripts/ci-databases.sh)');
  const name = `datastate_bench_${process.pid}_${tag}`;
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Old (another commit) vs new SQLite store, alternating in one process; prints and returns the medians. */
async function compareWithBaseline(rev: string): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'ds-bench-baseline-'));
  const here = new URL('..', import.meta.url).pathname;
  try {
    const commit = execFileSync('git', ['-C', here, 'rev-parse', '--short', rev], {
      encoding: 'utf8',
    }).trim();
    const head = execFileSync('git', ['-C', here, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['-C', here, 'status', '--porcelain', 'src/store'], {
      encoding: 'utf8',
    }).trim();
    execFileSync('sh', ['-c', `git -C '${here}' archive ${commit} | tar -x -C '${root}'`]);
    symlinkSync(join(here, 'node_modules'), join(root, 'node_modules'));
    type Open = (c: object) => Promise<Store>;
    const old = (await import(join(root, 'src/store/index.ts'))) as { openStore: Open };
    const cur = (await import('../src/store/index.ts')) as unknown as { openStore: Open };
    const onPg = args['baseline-store'] === 'postgres';
    if (onPg && args['write-docs']) throw new Error('--write-docs is for the SQLite comparison');
    const config = (url: string) => ({
      dialect: onPg ? 'postgres' : 'sqlite',
      url,
      schema: 'RAG',
      tables: {
        sourceDocuments: 'SourceDocuments',
        tokenEmbeddings: 'DocumentTokenEmbeddings',
        ledger: 'DocumentEmbeddingLedger',
      },
    });
    const times: Record<'old' | 'new', number[]> = { old: [], new: [] };
    const cpus: Record<'old' | 'new', number[]> = { old: [], new: [] };
    const rounds = Number(args.rounds);
    for (let r = 0; r < rounds; r++)
      for (const which of r % 2 ? (['new', 'old'] as const) : (['old', 'new'] as const)) {
        const file = join(root, `${which}-${r}.db`);
        const pgdb = onPg ? await freshPgDatabase(`${which}_${r}`) : null;
        const store = await (which === 'old' ? old : cur).openStore(config(pgdb?.url ?? file));
        const seconds = await timeStore(store);
        await store.close();
        await pgdb?.drop();
        for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
        times[which].push(seconds);
        cpus[which].push(lastCpuSeconds);
        log(
          `round ${r + 1}/${rounds} ${which}: ${Math.round(ROWS / seconds)} rows/s, ${Math.round(ROWS / lastCpuSeconds)} rows per CPU second`,
        );
      }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    const rateOf = (xs: number[]) => xs.map((x) => Math.round(ROWS / x).toLocaleString('en-US'));
    const ratio = median(times.old) / median(times.new);
    const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
    const label = `${head}${dirty ? ' + uncommitted changes' : ''}`;
    const table = [
      `| ${onPg ? 'PostgreSQL store (pg, COPY)' : 'SQLite store (node:sqlite)'} | median rows/s | MB/s | best rows/s | median rows per CPU second | rounds (rows/s) |`,
      `| -------------------------- | ------------ | ---- | ----------- | -------------------------- | --------------- |`,
      ...(['old', 'new'] as const).map(
        (w) =>
          `| ${w === 'old' ? `${commit} (\`${rev}\`)` : `${label} (this checkout)`} | ` +
          `${Math.round(ROWS / median(times[w])).toLocaleString('en-US')} | ${(MB / median(times[w])).toFixed(1)} | ` +
          `${Math.round(ROWS / Math.min(...times[w])).toLocaleString('en-US')} | ` +
          `${Math.round(ROWS / median(cpus[w])).toLocaleString('en-US')} | ${rateOf(times[w]).join(', ')} |`,
      ),
    ].join('\n');
    const best = Math.min(...times.old) / Math.min(...times.new);
    const perCpu = median(cpus.old) / median(cpus.new);
    console.log(
      `\n${table}\n\nnew/old write rate: ${ratio.toFixed(3)} (medians), ${best.toFixed(3)} (best rounds), ${perCpu.toFixed(3)} (per CPU second, medians); load average ${load}`,
    );
    if (args['write-docs']) {
      const MARK = '<!-- bench/store-write.ts --baseline -->';
      const file = join(here, 'docs/benchmarks.md');
      const md = readFileSync(file, 'utf8');
      const start = md.indexOf(MARK);
      const end = start < 0 ? -1 : md.indexOf('<!-- ', start + MARK.length);
      const section =
        `${MARK}\n\n## SQLite write rate: this checkout vs ${rev}\n\n` +
        `\`npm run bench:store -- --baseline ${rev} --rounds ${rounds} --write-docs\` (run apart from \`npm run bench\`, ` +
        `which keeps this section): the SQLite store's \`writeEmbeddings()\` of ${DOCS} documents x ${TOKENS} tokens ` +
        `(${ROWS.toLocaleString('en-US')} rows of ${DIM} float32) in batches of ${BATCH}, as in the table above, for the ` +
        `store of commit ${commit} and for this checkout, in one process, alternating round by round on fresh files. ` +
        `Load average ${load} at the end (2 shared cores).\n\n${table}\n\n**new/old: ${ratio.toFixed(3)}** (median wall time), ${best.toFixed(3)} (best rounds), ${perCpu.toFixed(3)} (median CPU time of the process)\n`;
      const next =
        start < 0
          ? `${md.trimEnd()}\n\n${section}`
          : md.slice(0, start) + section + (end < 0 ? '' : `\n${md.slice(end)}`);
      writeFileSync(file, next);
      log(`wrote ${file}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (args.baseline) {
  await compareWithBaseline(args.baseline);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'ds-bench-store-'));
try {
  if (want('sqlite')) {
    log('sqlite ...');
    const store = openSqliteStore({ path: join(dir, 'store.db') });
    const seconds = await timeStore(store);
    await store.close();
    results.push({
      store: 'sqlite (node:sqlite)',
      path: 'prepared INSERT, float32 BLOB',
      seconds,
      limit: { path: 'prepared INSERT, plain table, same transactions', seconds: sqliteRawInsert(dir) },
    });
  }
  if (want('odbc+sqlite')) {
    log('odbc+sqlite ...');
    const store = openOdbcStore({
      connectionString: `Driver=SQLite3;Database=${join(dir, 'odbc.db')}`,
      dialect: 'sqlite',
    });
    const seconds = await timeStore(store);
    await store.close();
    results.push({
      store: 'odbc+sqlite (libsqliteodbc)',
      path: 'multi-row INSERT (200 rows), BLOB',
      seconds,
      limit: {
        path: 'as sqlite',
        seconds: results.find((r) => r.store.startsWith('sqlite'))?.limit?.seconds ?? NaN,
      },
    });
  }
  const admin = process.env.DATASTATE_TEST_PG_URL;
  if (admin && (want('postgres') || want('odbc+postgres'))) {
    const name = `datastate_bench_${process.pid}`;
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    const u = new URL(admin);
    u.pathname = `/${name}`;
    const url = u.toString();
    try {
      const version = String((await c.query('SHOW server_version')).rows[0].server_version).split(' ')[0];
      const raw = await pgRawCopy(url);
      const limit = { path: 'COPY binary, plain table (bytea, EXTERNAL)', seconds: raw };
      if (want('postgres'))
        for (const bulk of ['copy', 'insert'] as const) {
          log(`postgres ${bulk} ...`);
          const store = openPostgresStore({ url, bulk, schema: `BENCH_${bulk}` });
          const seconds = await timeStore(store);
          const vt = (store.sql as { vectorType?: string }).vectorType;
          await store.close();
          results.push({
            store: `postgres ${version} (pg)`,
            path: bulk === 'copy' ? `COPY binary, ${vt}` : `multi-row INSERT (100 rows), ${vt}`,
            seconds,
            limit,
          });
        }
      if (want('odbc+postgres')) {
        log('odbc+postgres ...');
        const pw = decodeURIComponent(u.password);
        const store = openOdbcStore({
          connectionString: `Driver={PostgreSQL Unicode};Server=${u.hostname};Port=${u.port};Database=${name};Uid=${decodeURIComponent(u.username)};Pwd=${pw};`,
          dialect: 'postgres',
          schema: 'BENCH_odbc',
        });
        const seconds = await timeStore(store);
        await store.close();
        results.push({
          store: `odbc+postgres ${version} (psqlODBC)`,
          path: 'multi-row INSERT (100 rows), real[] as text',
          seconds,
          limit,
        });
      }
    } finally {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    }
  } else if (!admin)
    log('DATASTATE_TEST_PG_URL is not set: no PostgreSQL server rows (eval "$(scripts/ci-databases.sh)")');
  if (want('pglite')) {
    const { PGlite } = await import('@electric-sql/pglite');
    const { vector } = await import('@electric-sql/pglite-pgvector');
    const db = (await PGlite.create({ extensions: { vector } })) as unknown as PgliteLike;
    try {
      for (const sql of RAW_TABLE) await db.query(sql);
      const data = copyStream();
      const t0 = performance.now();
      await db.query(RAW_COPY.replace('FROM STDIN', `FROM '/dev/blob'`), [], {
        blob: new Blob(data as Uint8Array<ArrayBuffer>[]),
      });
      const limit = {
        path: 'COPY binary, plain table (bytea, EXTERNAL)',
        seconds: (performance.now() - t0) / 1000,
      };
      await db.query('DROP TABLE raw_load');
      for (const bulk of ['copy', 'insert'] as const) {
        log(`pglite ${bulk} ...`);
        const store = openPgliteStore({ db, bulk, schema: `BENCH_${bulk}` });
        const seconds = await timeStore(store);
        results.push({
          store: 'pglite (WASM, pgvector)',
          path: bulk === 'copy' ? 'COPY binary, vector' : 'multi-row INSERT (100 rows), vector',
          seconds,
          limit,
        });
      }
    } finally {
      await db.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rate = (s: number) =>
  `${Math.round(ROWS / s)
    .toLocaleString('en-US')
    .padStart(9)} rows/s ${(MB / s).toFixed(1).padStart(6)} MB/s`;
console.log(
  `\n${ROWS} token rows x ${DIM} dims (${MB.toFixed(1)} MB of vectors) in batches of ${BATCH} documents\n`,
);
console.log(
  `${'store'.padEnd(34)} ${'path'.padEnd(44)} ${'store write'.padEnd(30)}  ${'raw bulk load (limit)'.padEnd(30)}  of limit`,
);
for (const r of results)
  console.log(
    `${r.store.padEnd(34)} ${r.path.padEnd(44)} ${rate(r.seconds)}  ${r.limit ? rate(r.limit.seconds) : ''.padEnd(30)}  ${r.limit ? `${Math.round((100 * r.limit.seconds) / r.seconds)}%` : ''}`,
  );
const limits = [
  ...new Map(
    results
      .filter((r) => r.limit)
      .map((r) => [r.store.split(' ')[0], `${r.store.split(' ')[0]}: ${r.limit!.path}`]),
  ).values(),
];
console.log(`\nlimits: ${limits.join('; ')}`);
