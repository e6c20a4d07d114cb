/**
 * Connection loss during a heal, against a real PostgreSQL server of the test's own (test/helpers/private-postgres.ts):
 * client backends terminated three times (pg_terminate_backend), then the server stopped with `-m immediate` and
 * started again 3 s later, all while `datastate ensure` heals. The run must end READY with no partial document.
 * The same over ODBC with the PostgreSQL ODBC driver (psqlODBC), when it is installed.
 * A database that stays away ends with exit 1 and one line saying so (no stack, no password).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ensurePmcArgs, reportOf, runCli, startCli } from '../helpers/cli.ts';
import { assertNoPartialDocument } from '../helpers/partial-documents.ts';
import { pgBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const skip = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them)';
let pg: PrivatePostgres;
let tmp: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ds-faults-'));
  if (!skip) pg = await startPrivatePostgres();
});
after(() => {
  pg?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

/** A heal while backends are terminated three times and the server restarts; READY. */
async function healThroughFaults(db: {
  docs: number;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<void> {
  pg.psql('DROP SCHEMA IF EXISTS "RAG" CASCADE');
  const run = startCli([...(await ensurePmcArgs(db.docs)), ...(db.args ?? [])], { env: db.env });
  let alive = true;
  void run.done.then(() => (alive = false));
  let terminations = 0;
  while (alive && terminations < 3) {
    await delay(700);
    const ledger =
      Number(
        pg.psql(
          `SELECT count(*) FROM pg_tables WHERE schemaname = 'RAG' AND tablename = 'DocumentEmbeddingLedger'`,
        ),
      ) && Number(pg.psql('SELECT count(*) FROM "RAG"."DocumentEmbeddingLedger"'));
    if (ledger === 0) continue; // wait until embedding has started (the schema exists, batches are written)
    if (pg.terminateBackends() > 0) terminations++;
  }
  let restarted = false;
  if (alive) {
    pg.stopImmediate();
    await delay(3000);
    pg.start();
    restarted = alive;
  }
  const r = await run.done;
  assert.equal(terminations, 3, `the heal ended before three terminations: ${r.stderr}`);
  assert.ok(restarted, 'the heal ended before the server restart');
  assert.equal(r.code, 0, r.stderr);
  const report = reportOf(r);
  assert.equal(report.ready, true);
  assert.match(r.stderr, /trying the pass again|retry/);
  assert.doesNotMatch(r.stdout + r.stderr, /S3cret|Unhandled|Napi::Error|\n {4}at /);
  assertNoPartialDocument(pg);
}

test(
  'backends terminated three times and a server restart during one heal: READY, no partial document',
  { skip },
  // 1,000 documents: 300 once healed within the three terminations (0.7 s apart) on a fast machine, before the restart.
  () => healThroughFaults({ docs: 1000, env: { DATASTATE_DB_URL: pg.url } }),
);

const noPsqlOdbc =
  skip ||
  (() => {
    try {
      return execFileSync('odbcinst', ['-q', '-d'], { encoding: 'utf8' }).includes('[PostgreSQL Unicode]')
        ? false
        : 'the psqlODBC driver is not installed (scripts/ci-databases.sh installs odbc-postgresql)';
    } catch {
      return 'unixODBC is not installed (scripts/ci-databases.sh installs unixodbc and odbc-postgresql)';
    }
  })();

test('the same over ODBC (psqlODBC): READY, no partial document, no driver abort', { skip: noPsqlOdbc }, () =>
  healThroughFaults({
    docs: 800,
    args: [
      '--db',
      `odbc+postgres:Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=${pg.port};Database=postgres;` +
        `Uid=datastate;Pwd=${pg.password};`,
    ],
  }),
);

test('a database that stays away: exit 1, one line, no stack, no password', { skip }, async () => {
  pg.stopImmediate();
  try {
    // A short retry budget: 0.2 s growing to 1 s, (2 + 1) x 1 s of waiting in all.
    const manifest = join(tmp, 'short-budget.yaml');
    writeFileSync(
      manifest,
      [
        'apiVersion: datastate.dev/v1alpha1',
        'kind: DatasetState',
        'metadata: {name: short-budget}',
        'spec:',
        '  docCount: 310',
        '  database: {dialect: postgres}',
        '  healing: {maxRetries: 2, backoff: {initialMs: 200, maxMs: 1000}}',
      ].join('\n'),
    );
    const r = await runCli([...(await ensurePmcArgs(310)), '-f', manifest], {
      env: { DATASTATE_DB_URL: pg.url },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /datastate: error: the database is unavailable: .*gave up after/);
    assert.doesNotMatch(r.stdout + r.stderr, /S3cret|\n {4}at /);
    assert.match(reportOf(r).error.message, /database is unavailable/);
  } finally {
    pg.start();
  }
});
