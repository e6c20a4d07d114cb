/**
 * Bounded lock waits, against real components: a lock held by another session (a second node:sqlite connection
 * in another process; a PostgreSQL session of a server of the test's own) for longer than the time-out ends the
 * run with a clear error the engine treats as transient (retried, then "the database is unavailable"); a SIGINT
 * while `datastate ensure` waits for a SQLite lock ends the run (exit 130) while the other process still holds
 * the lock: the wait does not block the process, so the signal is handled at once, not when the lock is free.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ensurePmcArgs, reportOf, runCli, startCli } from '../helpers/cli.ts';
import { pgBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ds-locks-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A manifest with the given database block and a short retry budget (0.2 s growing to 0.5 s, 2 retries). */
function manifest(name: string, database: string): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'apiVersion: datastate.dev/v1alpha1',
      'kind: DatasetState',
      `metadata: {name: ${name}}`,
      'spec:',
      '  docCount: 12',
      `  database: ${database}`,
      '  healing: {maxRetries: 2, backoff: {initialMs: 200, maxMs: 500}}',
    ].join('\n'),
  );
  return file;
}

/** Another process holding SQLite's write lock on the file (BEGIN IMMEDIATE) until release(). */
async function holdSqliteLock(path: string): Promise<{ child: ChildProcess; release(): Promise<void> }> {
  const script =
    "import { DatabaseSync } from 'node:sqlite';" +
    'const db = new DatabaseSync(process.argv[1]);' +
    "db.exec('BEGIN IMMEDIATE');" +
    "process.stdout.write('locked\\n');" +
    "process.stdin.on('data', () => {});" +
    "process.stdin.on('end', () => { db.exec('ROLLBACK'); db.close(); });";
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, path], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
  });
  return {
    child,
    release: () =>
      new Promise<void>((resolve) => {
        child.on('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

test('SQLite: SIGINT while waiting for another process lock ends the run before that lock is released', async () => {
  const db = join(tmp, 'sigint.db');
  assert.equal((await runCli(await ensurePmcArgs(4, ['--db', db]))).code, 0);
  const holder = await holdSqliteLock(db);
  let holderExited = false;
  holder.child.on('exit', () => (holderExited = true));
  try {
    // Wait up to 10 minutes for the lock: only the signal can end this run while the lock is held.
    const m = manifest('sigint', `{dialect: sqlite, url: '${db}', lockTimeoutMs: 600000}`);
    const run = startCli([...(await ensurePmcArgs(12)), '-f', m]);
    let stderr = '';
    run.child.stderr!.on('data', (d) => (stderr += d));
    while (!/waiting for another writer's lock/.test(stderr)) {
      assert.equal(run.child.exitCode, null, `the run ended before it waited for the lock: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(holderExited, false, 'the lock holder is still holding the lock when the run has ended');
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /SIGINT: stopping/);
    // The wait ends with the signal (the engine or the store's wait, whichever sees it first, says so).
    assert.match(r.stderr, /stopped: .*interrupted by SIGINT/);
  } finally {
    await holder.release();
  }
  // Nothing half-done: the next run finds the 4 documents and heals the rest.
  const again = await runCli(await ensurePmcArgs(12, ['--db', db]));
  assert.equal(again.code, 0, again.stderr);
  assert.equal(reportOf(again).ready, true);
});

test('SQLite: a lock held longer than lockTimeoutMs ends the run with exit 1 and says so (retried as transient)', async () => {
  const db = join(tmp, 'timeout.db');
  assert.equal((await runCli(await ensurePmcArgs(4, ['--db', db]))).code, 0);
  const holder = await holdSqliteLock(db);
  let holderExited = false;
  holder.child.on('exit', () => (holderExited = true));
  try {
    const m = manifest('sqlite-timeout', `{dialect: sqlite, url: '${db}', lockTimeoutMs: 300}`);
    const r = await runCli([...(await ensurePmcArgs(12)), '-f', m]);
    assert.equal(holderExited, false);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /datastate: error: the database is unavailable: .*is locked by another writer \(waited 300 ms\).*gave up after/,
    );
    assert.doesNotMatch(r.stderr, /\n {4}at /);
    assert.match(reportOf(r).error.message, /locked by another writer/);
  } finally {
    await holder.release();
  }
});

const pgSkip = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them)';

let server: PrivatePostgres | undefined;
after(() => server?.destroy());

test(
  'PostgreSQL: lock_timeout and statement_timeout bound the waits; the engine retries, then gives up',
  { skip: pgSkip },
  async () => {
    server = await startPrivatePostgres();
    const env = { DATASTATE_DB_URL: server.url };
    assert.equal((await runCli(await ensurePmcArgs(4), { env })).code, 0);

    // Store level: another session holds the ledger table; a write waits 300 ms, then fails as transient.
    const holder = new pg.Client({ connectionString: server.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE "RAG"."DocumentEmbeddingLedger" IN ACCESS EXCLUSIVE MODE');
      const store = openPostgresStore({ url: server.url, lockTimeoutMs: 300, statementTimeoutMs: 60_000 });
      try {
        const e = await store.deleteEmbeddings(['PMC-none']).then(
          () => null,
          (x: unknown) => x as Error & { code?: string },
        );
        assert.ok(e, 'the write must fail while the lock is held');
        assert.equal(e.code, '55P03');
        assert.match(e.message, /lock timeout/);
        assert.equal(store.isTransient(e), true);
      } finally {
        await store.close();
      }

      // The engine: retried with backoff, then exit 1 naming the lock timeout; the holder still holds the lock.
      const m = manifest('pg-timeout', '{dialect: postgres, lockTimeoutMs: 300}');
      const r = await runCli([...(await ensurePmcArgs(12)), '-f', m], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /datastate: error: the database is unavailable: .*lock timeout.*gave up after/);
      assert.doesNotMatch(r.stdout + r.stderr, /S3cret|\n {4}at /);
      const held = await holder.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND mode = 'AccessExclusiveLock' AND granted`,
      );
      assert.ok(held.rows[0].n >= 1, 'the other session still holds its lock');
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }

    // statement_timeout: a statement running longer fails with 57014, also transient.
    const store = openPostgresStore({ url: server.url, statementTimeoutMs: 300 });
    try {
      const e = await store.client
        .withSession((s) => s.query('SELECT pg_sleep(30)'))
        .then(
          () => null,
          (x: unknown) => x as Error & { code?: string },
        );
      assert.ok(e, 'pg_sleep(30) must be cancelled by statement_timeout');
      assert.equal(e.code, '57014');
      assert.match(e.message, /statement timeout/);
      assert.equal(store.isTransient(e), true);
    } finally {
      await store.close();
    }

    // With the lock gone, the same run heals.
    const again = await runCli(await ensurePmcArgs(12), { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(reportOf(again).ready, true);
  },
);
