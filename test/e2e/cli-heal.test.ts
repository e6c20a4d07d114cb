/**
 * The walking skeleton end to end, as a user runs it: the CLI as a child process, the real PMC corpus, the
 * embedded SQLite store, a real ONNX model run (small generated model, real bert-base-uncased tokenizer).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createHash } from 'node:crypto';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { reportOf, runCli, smallModelDir, startCli, SMALL_DIM } from '../helpers/cli.ts';

let dir: string;
let db: string;
let common: string[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ds-e2e-'));
  db = join(dir, 'ragas.db');
  common = [
    '--source',
    pmcCorpusPath(),
    '--db',
    db,
    '--model',
    await smallModelDir(),
    '--dimension',
    String(SMALL_DIM),
    '--output',
    'json',
    '--quiet',
  ];
});
after(() => rmSync(dir, { recursive: true, force: true }));

function notADatabase(): string {
  const f = join(dir, 'not-a-database.db');
  writeFileSync(f, 'this is not a SQLite file, it only has the name of one\n'.repeat(20));
  return f;
}

/** YAML whose aliases expand to 10^9 nodes. */
function aliasBomb(): string {
  const f = join(dir, 'alias-bomb.yaml');
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= 9; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

function sql<T = Record<string, unknown>>(query: string, ...params: (string | number)[]): T[] {
  const conn = new DatabaseSync(db);
  try {
    return conn.prepare(query).all(...params) as T[];
  } finally {
    conn.close();
  }
}

/** Every token row and ledger row, fingerprinted, by doc_id. */
function snapshot(): Map<string, string> {
  const out = new Map<string, string>();
  const conn = new DatabaseSync(db);
  try {
    const h = new Map<string, ReturnType<typeof createHash>>();
    for (const r of conn
      .prepare(
        'SELECT doc_id, token_index, token_text, token_embedding FROM DocumentTokenEmbeddings ORDER BY doc_id, token_index',
      )
      .iterate() as Iterable<{
      doc_id: string;
      token_index: number;
      token_text: string;
      token_embedding: Uint8Array;
    }>) {
      let hash = h.get(r.doc_id);
      if (!hash) h.set(r.doc_id, (hash = createHash('sha256')));
      hash.update(`${r.token_index}:${r.token_text}:`).update(r.token_embedding);
    }
    for (const r of conn.prepare('SELECT * FROM DocumentEmbeddingLedger').all() as Record<string, unknown>[])
      out.set(r.doc_id as string, `${h.get(r.doc_id as string)?.digest('hex')}|${JSON.stringify(r)}`);
  } finally {
    conn.close();
  }
  return out;
}

/** Documents whose token rows disagree with their ledger row: a half-embedded document. */
function partialDocuments(): string[] {
  return sql<{ doc_id: string }>(
    `SELECT d.doc_id FROM (SELECT doc_id, COUNT(*) AS n, MAX(token_index) AS mx FROM DocumentTokenEmbeddings GROUP BY doc_id) d
     LEFT JOIN DocumentEmbeddingLedger l ON l.doc_id = d.doc_id
     WHERE l.doc_id IS NULL OR l.token_count <> d.n OR d.mx <> d.n - 1`,
  ).map((r) => r.doc_id);
}

test('ensure 200 real PMC documents, then validate exits 0', async () => {
  const r = await runCli(['ensure', '--doc-count', '200', ...common]);
  const rep = reportOf(r);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rep.ready, true);
  assert.equal(rep.embedded, 200);
  assert.equal(rep.healed.schemaCreated, true);
  assert.ok(rep.healed.documentsLoaded >= 200, 'documents without abstract are loaded too');
  assert.equal(rep.healed.embedded, 200);
  assert.ok(
    rep.notes.some((n: string) => /SYNTHETIC/.test(n)),
    'the synthetic model is named as such',
  );
  const n = sql<{ n: number }>(
    'SELECT COUNT(*) AS n FROM SourceDocuments WHERE length(trim(abstract)) > 0',
  )[0]!.n;
  assert.equal(n, 200);
  assert.deepEqual(partialDocuments(), []);

  const v = await runCli(['validate', '--doc-count', '200', ...common]);
  assert.equal(v.code, 0, v.stderr);
  assert.ok(reportOf(v).checks.every((c: { passed: boolean }) => c.passed));
});

test('out-of-band damage: validate reports exactly it, plan shows exactly that work, ensure heals exactly that', async () => {
  const target = sql<{ doc_id: string }>(
    'SELECT doc_id FROM SourceDocuments WHERE length(trim(abstract)) > 0 ORDER BY doc_id',
  ).map((r) => r.doc_id);
  assert.equal(target.length, 200);
  const damaged = target
    .filter((_, i) => i % 11 === 3)
    .slice(0, 17)
    .sort();
  assert.equal(damaged.length, 17);
  const removedDoc = target[150]!;
  assert.ok(!damaged.includes(removedDoc));
  const before = snapshot();

  const conn = new DatabaseSync(db);
  conn
    .prepare('DELETE FROM DocumentTokenEmbeddings WHERE doc_id IN (SELECT value FROM json_each(?))')
    .run(JSON.stringify(damaged));
  conn.prepare('DELETE FROM SourceDocuments WHERE doc_id = ?').run(removedDoc);
  conn.close();

  const v = await runCli(['validate', '--doc-count', '200', ...common]);
  assert.equal(v.code, 1, v.stderr);
  const checks = Object.fromEntries(reportOf(v).checks.map((c: { name: string }) => [c.name, c]));
  assert.equal(checks.document_count.passed, false);
  assert.equal(checks.document_count.actual, 199);
  assert.equal(checks.token_embeddings_complete.passed, false);
  assert.deepEqual([...checks.token_embeddings_complete.examples].sort(), damaged);
  assert.equal(checks.token_embeddings_complete.actual, 199 - 17);

  const p = await runCli(['plan', '--doc-count', '200', ...common]);
  assert.equal(p.code, 1, p.stderr);
  const plan = reportOf(p).plan;
  assert.equal(plan.documentsToLoad, 1);
  assert.equal(plan.embeddingsMissing, 17);
  assert.equal(plan.embeddingsStale, 0);
  assert.deepEqual(plan.embed.map((t: { docId: string }) => t.docId).sort(), damaged);
  assert.ok(plan.embed.every((t: { reason: string }) => t.reason === 'missing'));
  assert.deepEqual(plan.orphanDocIds, [removedDoc], 'the removed document left its embeddings behind');
  assert.deepEqual(snapshot().size, before.size, 'plan wrote nothing');

  const e = await runCli(['ensure', '--doc-count', '200', ...common]);
  assert.equal(e.code, 0, e.stderr);
  const rep = reportOf(e);
  assert.equal(rep.healed.documentsLoaded, 1, 'exactly the removed document is loaded again');
  assert.equal(rep.healed.embedded, 17, 'exactly the 17 damaged documents are embedded');
  assert.equal(rep.healed.orphansDeleted, 0, "the reloaded document's embeddings are still current: kept");
  const afterSnap = snapshot();
  assert.equal(afterSnap.size, before.size);
  for (const [docId, fp] of before) {
    if (damaged.includes(docId))
      assert.notEqual(afterSnap.get(docId), fp, `${docId} re-embedded (new ledger time)`);
    else assert.equal(afterSnap.get(docId), fp, `${docId} left exactly as it was`);
  }
  // The re-embedded vectors are the same as the first time: the model is deterministic.
  for (const docId of damaged)
    assert.equal(afterSnap.get(docId)!.split('|')[0], before.get(docId)!.split('|')[0]);
  assert.deepEqual(partialDocuments(), []);
});

/**
 * Drops every embedding, starts `ensure` for 200 documents in batches of 2, and returns once at least `docs`
 * documents are committed (the heal still running).
 */
async function healFromScratchUntil(docs: number) {
  const conn = new DatabaseSync(db);
  conn.exec('DELETE FROM DocumentTokenEmbeddings; DELETE FROM DocumentEmbeddingLedger;');
  conn.close();
  const run = startCli(['ensure', '--doc-count', '200', '--batch-size', '2', ...common]);
  let committed = 0;
  for (let i = 0; i < 3000 && committed < docs; i++) {
    await new Promise((r) => setTimeout(r, 10));
    try {
      committed = sql<{ n: number }>('SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger')[0]!.n;
    } catch {
      /* the writer holds the lock for a moment */
    }
  }
  return { ...run, committed };
}

test('kill -9 in the middle of healing, run again: converges, no document half-embedded', async () => {
  // Wait until some batches are committed, then kill without warning.
  const { child, done } = await healFromScratchUntil(10);
  child.kill('SIGKILL');
  const killed = await done;
  assert.equal(killed.signal, 'SIGKILL');
  const mid = sql<{ n: number }>('SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger')[0]!.n;
  assert.ok(mid > 0 && mid < 200, `killed mid-way (${mid} of 200 embedded)`);
  assert.deepEqual(partialDocuments(), [], 'no document with a partial set of token rows');

  const again = await runCli(['ensure', '--doc-count', '200', ...common]);
  assert.equal(again.code, 0, again.stderr);
  const rep = reportOf(again);
  assert.equal(rep.healed.embedded, 200 - mid, 'only what was left is done');
  assert.equal(rep.healed.documentsLoaded, 0);
  assert.deepEqual(partialDocuments(), []);
  const dup = sql<{ n: number }>(
    'SELECT COUNT(*) AS n FROM (SELECT doc_id, token_index FROM DocumentTokenEmbeddings GROUP BY 1, 2 HAVING COUNT(*) > 1)',
  );
  assert.equal(dup[0]!.n, 0);
});

test('Ctrl-C (SIGINT) mid-heal: stops after the batch in flight, exit 130, what was committed stays', async () => {
  const { child, done, committed } = await healFromScratchUntil(6);
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGINT: stopping after the batch in flight/);
  const kept = sql<{ n: number }>('SELECT COUNT(*) AS n FROM DocumentEmbeddingLedger')[0]!.n;
  assert.ok(kept >= committed && kept < 200, `kept ${kept} of 200`);
  assert.deepEqual(partialDocuments(), []);
  const again = await runCli(['ensure', '--doc-count', '200', ...common]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(reportOf(again).healed.embedded, 200 - kept);
});

test('bad flags and manifests exit 2 with a message naming the problem, and change nothing', async () => {
  const before = snapshot();
  const cases: [string[], RegExp][] = [
    [['ensure', '--doc-count', '0'], /--doc-count: must be >= 1 \(got 0\)/],
    [['ensure', '--doc-count', 'many'], /--doc-count: must be an integer/],
    [
      ['ensure', '--doc-count', '5', '--target-state', 'ragas'],
      /--target-state: must be one of "ragas-eval", "token-embeddings", "documents"/,
    ],
    [['ensure', '--doc-count', '5', '--validate-only', '--dry-run'], /exclude each other/],
    [['ensure'], /--doc-count: is required/],
    [['ensure', '--doc-count', '5', '--source', join(dir, 'nope')], /source\.path: .*nope does not exist/],
    [
      ['ensure', '--doc-count', '5', '--model', join(dir, 'no-model')],
      /modelPath: .*no-model does not exist/,
    ],
    [['ensure', '--doc-count', '5', '--model', dir], /the model directory needs/],
    [['ensure', '--doc-count', '5', '--bogus'], /unknown option '--bogus'/],
    [['ensure', '--doc-count', '5', '--db', notADatabase()], /not-a-database\.db is not an SQLite database/],
    [
      ['ensure', '--doc-count', '5', '--db', 'mysql://u:p@h/db'],
      /the scheme mysql: is not supported\s+accepted: .*postgres:\/\//,
    ],
    [
      ['ensure', '--doc-count', '5', '--db', 'postgres://u:p#w@h/db'],
      /unencoded "\/", "\?" or "#" [\s\S]*percent-encode/,
    ],
    [['validate', '-f', aliasBomb()], /YAML: Excessive alias count/],
  ];
  const defaults = [
    '--source',
    pmcCorpusPath(),
    '--model',
    await smallModelDir(),
    '--dimension',
    String(SMALL_DIM),
    '--db',
    db,
    '--quiet',
  ];
  for (const [args, message] of cases) {
    const r = await runCli([args[0]!, ...defaults, ...args.slice(1)]);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  const m = join(dir, 'bad.yaml');
  writeFileSync(
    m,
    'apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: x}\nspec:\n  docCount: 10\n  mode: Sometimes\n  healing: {batchSize: -3}\n',
  );
  const r = await runCli(['ensure', '-f', m, '--db', db]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml/);
  assert.match(
    r.stderr,
    /spec\.mode: must be one of "AutoFix", "ValidateOnly", "DryRun" \(got "Sometimes"\)/,
  );
  assert.match(r.stderr, /spec\.healing\.batchSize: must be "auto" or an integer >= 1 \(got -3\)/);
  const notYaml = join(dir, 'broken.yaml');
  writeFileSync(notYaml, 'spec: [unclosed\n');
  const b = await runCli(['ensure', '-f', notYaml, '--db', db]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /broken\.yaml: YAML/);
  // A declared dimension the model does not have: stopped before anything is written, naming both numbers.
  const fresh = join(dir, 'fresh.db');
  const d = await runCli([
    'ensure',
    '--doc-count',
    '5',
    '--source',
    pmcCorpusPath(),
    '--db',
    fresh,
    '--model',
    await smallModelDir(),
    '--dimension',
    '768',
    '--quiet',
  ]);
  assert.equal(d.code, 2, d.stderr);
  assert.match(d.stderr, /768/);
  assert.match(d.stderr, new RegExp(String(SMALL_DIM)));
  const conn = new DatabaseSync(fresh);
  assert.equal(
    (conn.prepare('SELECT COUNT(*) AS n FROM sqlite_master').get() as { n: number }).n,
    0,
    'no table created',
  );
  conn.close();
  // The existing 32-dimension store declared as 768: the schema check names the fix, nothing is written.
  const s = await runCli([
    'ensure',
    '--doc-count',
    '200',
    '--source',
    pmcCorpusPath(),
    '--db',
    db,
    '--model',
    await smallModelDir(),
    '--dimension',
    '768',
    '--output',
    'json',
    '--quiet',
  ]);
  assert.equal(s.code, 1, s.stderr);
  const schema = reportOf(s).checks.find((c: { name: string }) => c.name === 'schema_integrity');
  assert.match(schema.message, /vector dimension is 32, expected 768/);
  assert.deepEqual(snapshot(), before, 'nothing changed');
});
