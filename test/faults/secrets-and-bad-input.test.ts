/**
 * Two promises of the CLI, checked across every command path the tests can reach without a cluster:
 * - every kind of bad input exits 2 with its message, and with `--output json` still prints the report, whose
 *   `error` field says the same;
 * - a planted password never appears in any output: stdout, stderr, JSON reports, the worker's log, error
 *   messages (also with --debug stacks), whether it came on the command line, in DATASTATE_DB_URL or in a
 *   manifest, whether the run succeeded or failed, through `pg` or through ODBC (psqlODBC, when installed).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorkerProcess } from '../helpers/worker-process.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { reportOf, runCli, smallModelDir, SMALL_DIM, type CliResult } from '../helpers/cli.ts';
import { pgBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const noPostgres = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them)';
let dir: string;
let pg: PrivatePostgres | undefined;
/** Every output of every run, to scan at the end. */
const outputs: { what: string; text: string }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ds-secrets-'));
  await smallModelDir();
  if (!noPostgres) pg = await startPrivatePostgres();
});
after(() => {
  pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const base = async () => [
  '--source',
  pmcCorpusPath(),
  '--model',
  await smallModelDir(),
  '--dimension',
  String(SMALL_DIM),
  '--quiet',
];

async function run(what: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await runCli(args, { env: { DATASTATE_HOME: join(dir, 'home'), ...env } });
  outputs.push({ what, text: r.stdout + r.stderr });
  return r;
}

test('every kind of bad input exits 2 with its message; --output json still prints the report', async () => {
  const notADatabase = join(dir, 'not-a-database.db');
  writeFileSync(notADatabase, 'this is not a SQLite file, it only has the name of one\n'.repeat(20));
  const brokenYaml = join(dir, 'broken.yaml');
  writeFileSync(brokenYaml, 'spec: [unclosed\n');
  const aliasBomb = join(dir, 'alias-bomb.yaml');
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= 9; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  writeFileSync(aliasBomb, lines.join('\n') + '\n');
  const cases: { args: string[]; message: RegExp }[] = [
    {
      args: ['validate', '--doc-count', '5', '--db', notADatabase],
      message: /not-a-database\.db is not an SQLite database \(SQLite: file is not a database\)/,
    },
    {
      args: ['validate', '--doc-count', '5', '--db', 'postgres://u:p@[::1/db'],
      message: /cannot be parsed as a URL/,
    },
    {
      args: ['validate', '--doc-count', '5', '--db', 'postgres://u:s3cr@t@h/db'],
      message: /unencoded "@"/,
    },
    {
      args: ['validate', '--doc-count', '5', '--db', 'postgres://u:s3cr#t@h/db'],
      message: /unencoded "\/", "\?" or "#"/,
    },
    {
      args: ['validate', '--doc-count', '5', '--db', 'mysql://u:s3cret@h/db'],
      message: /the scheme mysql: is not supported/,
    },
    { args: ['validate', '-f', brokenYaml], message: /broken\.yaml: YAML/ },
    { args: ['validate', '-f', aliasBomb], message: /Excessive alias count/ },
    { args: ['validate', '--doc-count', '0'], message: /--doc-count: must be >= 1/ },
    { args: ['plan', '--doc-count', '5', '--bogus'], message: /unknown option '--bogus'/ },
    { args: ['ensure', '--doc-count'], message: /option '--doc-count <n>' argument missing/ },
    {
      args: ['ensure', '--doc-count', '5', '--target-state', 'ragas'],
      message: /--target-state: must be one of/,
    },
  ];
  for (const { args, message } of cases) {
    const what = args.join(' ');
    const [cmd, ...rest] = args;
    const text = await run(what, [cmd!, ...(await base()), ...rest]);
    assert.equal(text.code, 2, `${what}: exit ${text.code}\n${text.stderr}`);
    assert.match(text.stderr, message, what);
    assert.doesNotMatch(text.stderr, /\n {4}at /, `${what}: a stack without --debug`);
    const json = await run(`${what} --output json`, [cmd!, ...(await base()), '--output', 'json', ...rest]);
    assert.equal(json.code, 2, `${what} --output json: exit ${json.code}\n${json.stderr}`);
    const report = reportOf(json);
    assert.equal(report.ready, false);
    assert.equal(report.error.exitCode, 2, what);
    assert.match(report.error.message, message, what);
  }
  for (const o of outputs) assert.doesNotMatch(o.text, /s3cr/, `${o.what} printed a password`);
});

/** The password's forms a leak could take: as given, percent-encoded, and its distinctive middle. */
const LEAK = /pl@nted|pl%40nted|S3cret/i;

test(
  'a planted password appears in no output of any command path (ensure, validate, plan, worker, errors)',
  { skip: noPostgres },
  async () => {
    const p = pg!;
    const url = p.url; // postgres://datastate:pl%40nted-S3cret@127.0.0.1:<port>/postgres
    const docs = ['--doc-count', '6'];
    const collect = run;
    // Success paths, the URL in the environment and on the command line, text and JSON.
    let r = await collect('ensure env json', ['ensure', ...docs, ...(await base()), '--output', 'json'], {
      DATASTATE_DB_URL: url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(reportOf(r).store, /postgres:\/\/datastate:\*\*\*@/);
    for (const cmd of ['validate', 'plan'])
      for (const output of ['text', 'json']) {
        r = await collect(`${cmd} --db ${output}`, [
          cmd,
          ...docs,
          ...(await base()),
          '--db',
          url,
          '--output',
          output,
        ]);
        assert.equal(r.code, 0, `${cmd} ${output}: ${r.stderr}`);
      }
    // The URL in a manifest.
    const manifest = join(dir, 'with-url.yaml');
    writeFileSync(
      manifest,
      `apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: m}\nspec:\n  docCount: 6\n  database: {dialect: postgres, url: "${url}"}\n`,
    );
    r = await collect('validate -f manifest', ['validate', '-f', manifest, ...(await base())]);
    assert.equal(r.code, 0, r.stderr);
    // Error paths: a wrong password, the password unencoded, an unknown host, with and without --debug.
    const wrong = url.replace(encodeURIComponent(p.password), 'pl%40nted-Wr0ng-S3cret');
    r = await collect('wrong password', ['validate', ...docs, ...(await base()), '--db', wrong]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /password authentication failed/);
    r = await collect('wrong password --debug json', [
      '--debug',
      'validate',
      ...docs,
      ...(await base()),
      '--db',
      wrong,
      '--output',
      'json',
    ]);
    assert.match(r.stderr, /\n {4}at /, 'with --debug, the stack is printed');
    const raw = url.replace(encodeURIComponent(p.password), p.password);
    r = await collect('unencoded', ['plan', ...docs, ...(await base()), '--db', raw, '--output', 'json']);
    assert.equal(r.code, 2, r.stderr);
    r = await collect('unencoded --debug', ['--debug', 'plan', ...docs, ...(await base()), '--db', raw]);
    assert.equal(r.code, 2, r.stderr);
    // The database away: a short retry budget, the URL in a manifest.
    const away = join(dir, 'away.yaml');
    writeFileSync(
      away,
      `apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: a}\nspec:\n  docCount: 6\n  database: {dialect: postgres, url: "${url}"}\n  healing: {maxRetries: 1, backoff: {initialMs: 100, maxMs: 300}}\n`,
    );
    p.stopImmediate();
    try {
      r = await collect('database away', ['ensure', '-f', away, ...(await base()), '--output', 'json']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /the database is unavailable/);
    } finally {
      p.start();
    }
    // ODBC (psqlODBC), when the driver is installed: PWD= in the connection string.
    if (odbcDriver('PostgreSQL Unicode')) {
      const odbc =
        `odbc+postgres:Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=${p.port};Database=postgres;` +
        `Uid=datastate;Pwd=${p.password};`;
      r = await collect('odbc validate', [
        'validate',
        ...docs,
        ...(await base()),
        '--db',
        odbc,
        '--output',
        'json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      r = await collect('odbc wrong', [
        'validate',
        ...docs,
        ...(await base()),
        '--db',
        odbc.replace(p.password, 'pl@nted-Wr0ng-S3cret'),
      ]);
      assert.equal(r.code, 1, r.stderr);
    }
    // The worker: its log while it embeds a batch, fails one (database away) and stops.
    outputs.push({ what: 'worker log', text: await workerLog(p, url) });
    for (const o of outputs) assert.doesNotMatch(o.text, LEAK, `${o.what} printed the password:\n${o.text}`);
    assert.ok(outputs.length >= 12);
  },
);

function odbcDriver(name: string): boolean {
  try {
    return execFileSync('odbcinst', ['-q', '-d'], { encoding: 'utf8' }).includes(`[${name}]`);
  } catch {
    return false;
  }
}

async function workerLog(p: PrivatePostgres, url: string): Promise<string> {
  const token = 'secrets-test-token-0123456789';
  const w = await startWorkerProcess(
    ['--model', await smallModelDir(), '--dimension', String(SMALL_DIM), '--db', url],
    { DATASTATE_WORKER_TOKEN: token },
  );
  let log = '';
  const base = w.url;
  const auth = { authorization: `Bearer ${token}` };
  const { fingerprint } = (await (await fetch(`${base}/v1/model`, { headers: auth })).json()) as {
    fingerprint: string;
  };
  const ids = p.psql('SELECT doc_id FROM "RAG"."SourceDocuments" ORDER BY doc_id LIMIT 2').trim().split('\n');
  const post = () =>
    fetch(`${base}/v1/batches`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 's', docIds: ids, fingerprint, dimension: SMALL_DIM }),
    }).then(async (r) => {
      log += `\nHTTP ${r.status} ${await r.text()}`;
      return r.status;
    });
  assert.equal(await post(), 200, log);
  p.stopImmediate();
  try {
    assert.equal(await post(), 503, log);
  } finally {
    p.start();
  }
  log += await (await fetch(`${base}/metrics`)).text();
  w.child.kill('SIGTERM');
  assert.equal(await w.exited, 0, log);
  log = `${w.log.join('\n')}\n${log}`;
  assert.match(log, /the database is unavailable/);
  return log;
}
