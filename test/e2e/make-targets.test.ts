/**
 * The make targets as a user runs them: the seed's names, DOCS/SOURCE/DB/MODEL variables, exit status.
 * (`-o node_modules/.installed` keeps make from re-running npm ci under the running tests.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { REPO, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';
import { pgBinDir, startPrivatePostgres } from '../helpers/private-postgres.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ds-make-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function make(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('make', ['--no-print-directory', '-o', 'node_modules/.installed', ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('ensure-ragas-ready, validate-dataset-state, plan-dataset-state, populate-token-embeddings on the real corpus', async () => {
  const db = join(dir, 'make.db');
  const vars = [
    `SOURCE=${pmcCorpusPath()}`,
    `DB=${db}`,
    `MODEL=${await smallModelDir()}`,
    `FLAGS=--dimension ${SMALL_DIM} -q`,
  ];
  const ensure = make(['ensure-ragas-ready', 'DOCS=40', ...vars]);
  assert.equal(ensure.code, 0, ensure.out + ensure.err);
  assert.match(ensure.out, /READY: 40\/40 documents embedded/);
  const validate = make(['validate-dataset-state', 'DOCS=40', ...vars]);
  assert.equal(validate.code, 0, validate.out + validate.err);
  assert.match(validate.out, /PASS {2}token_embeddings_complete/);

  // Asking for more than is there: validation fails (make exits non-zero), the plan says what would be done.
  const more = make(['validate-dataset-state', 'DOCS=60', ...vars]);
  assert.notEqual(more.code, 0);
  assert.match(more.out, /FAIL {2}document_count +40 documents with an abstract, 20 short of 60/);
  const plan = make(['plan-dataset-state', 'DOCS=60', ...vars]);
  assert.notEqual(plan.code, 0);
  assert.match(plan.out, /load 20 documents with an abstract from the source/);

  // populate-token-embeddings embeds what is present, loads nothing.
  const conn = new DatabaseSync(db);
  conn.exec('DELETE FROM DocumentTokenEmbeddings; DELETE FROM DocumentEmbeddingLedger;');
  conn.close();
  const populate = make([
    'populate-token-embeddings',
    'DOCS=40',
    ...vars,
    `FLAGS=--dimension ${SMALL_DIM} -q --output json`,
  ]);
  assert.equal(populate.code, 0, populate.out + populate.err);
  const report = JSON.parse(populate.out.slice(populate.out.indexOf('\n{') + 1));
  assert.equal(report.healed.embedded, 40);
  assert.equal(report.healed.documentsLoaded, 0);
  assert.equal(report.targetState, 'token-embeddings');
});

test('populate-token-embeddings on an empty database is not READY: exit 1, says how many are missing', async () => {
  const db = join(dir, 'empty.db');
  const r = make([
    'populate-token-embeddings',
    'DOCS=50',
    `DB=${db}`,
    `MODEL=${await smallModelDir()}`,
    `FLAGS=--dimension ${SMALL_DIM} -q`,
  ]);
  assert.notEqual(r.code, 0, r.out + r.err);
  assert.match(r.out, /NOT READY: documents are missing .*50 documents missing; .*ensure-ragas-ready/);
  assert.doesNotMatch(r.out, /^READY/m);
});

const noPostgres = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them): the DB= password tests need a server of their own';

test(
  'make passes DB through the environment: a percent-encoded password with reserved characters works, `&` stays in the URL, an unencoded `@` is exit 2, no password is ever printed',
  { skip: noPostgres },
  async () => {
    const pg = await startPrivatePostgres(); // its password, pl@nted-S3cret, holds an @
    try {
      const model = `MODEL=${await smallModelDir()}`;
      const query = '?application_name=ds-make&connect_timeout=5';
      const secretParts = /S3cret|pl@nted|pl%40nted/;
      // Percent-encoded: it authenticates; an empty database is simply not ready (exit 1).
      const ok = make(['validate-dataset-state', 'DOCS=3', `DB=${pg.url}${query}`, model]);
      // make itself exits 2 whenever a recipe fails; the recipe's own exit code is in make's `Error N`.
      assert.match(ok.err, /validate-dataset-state\] Error 1$/m, ok.out + ok.err);
      assert.match(ok.out, /NOT READY/);
      assert.doesNotMatch(ok.out + ok.err, /authentication failed/);
      assert.doesNotMatch(ok.out + ok.err, secretParts);
      // Split at `&`, the rest of the URL would run as a command (and a job notice `[1] PID` could show).
      // Not `make[1]:`, which is only make saying it runs as a sub-make (as it does under `make test`).
      assert.doesNotMatch(ok.out + ok.err, /connect_timeout=5: command not found|^\[\d+\] \d+$/m);
      // The same password unencoded: bad input, said plainly, and still never printed.
      const raw = pg.url.replace(encodeURIComponent(pg.password), pg.password);
      const bad = make(['validate-dataset-state', 'DOCS=3', `DB=${raw}${query}`, model]);
      assert.match(bad.err, /validate-dataset-state\] Error 2$/m, bad.out + bad.err);
      assert.match(bad.err, /datastate: error: database\.url postgres:\/\/datastate:\*\*\*@.*unencoded "@"/);
      assert.match(bad.err, /@ as %40/);
      assert.doesNotMatch(bad.out + bad.err, secretParts);
      // A wrong password: the server refuses it (not transient, so the run ends at once) and no one prints it.
      const planted = 'Pl4nted-Wr0ng';
      const wrong = make([
        'validate-dataset-state',
        'DOCS=3',
        `DB=${pg.url.replace(encodeURIComponent(pg.password), planted)}${query}`,
        model,
      ]);
      assert.match(wrong.err, /validate-dataset-state\] Error 1$/m, wrong.out + wrong.err);
      assert.match(wrong.err, /datastate: error: password authentication failed/);
      assert.doesNotMatch(wrong.out + wrong.err, new RegExp(planted));
    } finally {
      pg.destroy();
    }
  },
);

test("the README's main command on the embedded defaults: synthetic corpus, generated BERT-base model", () => {
  const home = join(dir, 'home');
  const r = make(['ensure-ragas-ready', 'DOCS=8'], { DATASTATE_HOME: home });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /READY: 8\/8 documents embedded/);
  assert.match(r.out, /embedding_dimensions +every stored vector has dimension 768/);
  assert.match(r.out, /SYNTHETIC/);
  assert.match(r.out, /the document source is SYNTHETIC/);
  const conn = new DatabaseSync(join(home, 'datastate.db'));
  const n = (
    conn.prepare("SELECT COUNT(*) AS n FROM SourceDocuments WHERE doc_id LIKE 'SYN%'").get() as { n: number }
  ).n;
  conn.close();
  assert.ok(n >= 8);
});

test('make help (also plain `make`) names every target a user runs, and each one it names exists', () => {
  const help = make(['help']);
  assert.equal(help.code, 0, help.err);
  assert.equal(make([]).out, help.out, 'plain make prints the help');
  const named = new Set([...help.out.matchAll(/(?:^ {2}make |\| )([a-z0-9][a-z0-9-]*)/gm)].map((m) => m[1]!));
  for (const t of [
    'ensure-ragas-ready',
    'ensure-ragas-1k',
    'ensure-ragas-5k',
    'ensure-ragas-10k',
    'populate-token-embeddings',
    'validate-dataset-state',
    'plan-dataset-state',
    'test',
    'k8s-install',
    'k8s-ensure-ragas',
    'k8s-validate',
    'k8s-status',
    'cluster-up',
    'cluster-demo',
    'cluster-down',
  ])
    assert.ok(named.has(t), `make help names ${t}:\n${help.out}`);
  // Each name is a rule of the Makefile (make's database of rules, nothing run).
  const rules = make(['-pq', '-f', 'Makefile', '.DEFAULT_GOAL=']).out;
  for (const t of named)
    assert.match(rules, new RegExp(`^${t}:`, 'm'), `make help names ${t}, which is no target`);
});
