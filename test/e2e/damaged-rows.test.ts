/**
 * Damaged token rows and token tables, through the CLI against real SQLite and a private PostgreSQL:
 * - a token row moved out of sequence and a vector overwritten with zeros (and, on SQLite, with NaN) are found by
 *   `validate` and healed by `ensure`, which re-embeds exactly those documents;
 * - a token table that is still empty but has the wrong dimension (made by a `documents` run with the default 768)
 *   is recreated at the declared dimension; a non-empty one still stops and names the DDL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { reportOf, runCli, smallModelDir, SMALL_DIM } from '../helpers/cli.ts';
import { pgBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const noPg = pgBinDir()
  ? false
  : 'PostgreSQL server binaries not installed (scripts/ci-databases.sh installs them)';
const DOCS = 12;
let tmp: string;
let pg: PrivatePostgres | undefined;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ds-damage-'));
  if (!noPg) pg = await startPrivatePostgres();
});
after(() => {
  pg?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

async function run(cmd: string, db: string | undefined, extra: string[] = []) {
  const r = await runCli(
    [
      cmd,
      '--doc-count',
      String(DOCS),
      '--source',
      pmcCorpusPath(),
      ...(db === undefined ? [] : ['--db', db]),
      '--model',
      await smallModelDir(),
      '--dimension',
      String(SMALL_DIM),
      '--output',
      'json',
      '--quiet',
      ...extra,
    ],
    db === undefined ? { env: { DATASTATE_DB_URL: pg!.url } } : {},
  );
  return { r, report: reportOf(r) };
}

function tokenCheck(report: Record<string, any>): { passed: boolean; message: string } {
  return (report.checks as { name: string; passed: boolean; message: string }[]).find(
    (c) => c.name === 'token_embeddings_complete',
  )!;
}

interface Backend {
  name: string;
  skip: string | false;
  db: () => string | undefined;
  sql: (q: string) => string;
  /** Two doc ids with at least 3 token rows. */
  victims: () => [string, string];
  moveRow: (docId: string) => void;
  zeroVector: (docId: string) => void;
}

const sqlite = (): Backend => {
  const path = join(tmp, 'damage.db');
  const q = (sql: string) => {
    const c = new DatabaseSync(path);
    try {
      const rows = c.prepare(sql).all() as Record<string, unknown>[];
      return rows.map((r) => Object.values(r).join('|')).join('\n');
    } finally {
      c.close();
    }
  };
  return {
    name: 'SQLite',
    skip: false,
    db: () => path,
    sql: q,
    victims: () =>
      q(`SELECT doc_id FROM DocumentEmbeddingLedger WHERE token_count >= 3 ORDER BY doc_id LIMIT 2`).split(
        '\n',
      ) as [string, string],
    moveRow: (id) =>
      void q(
        `UPDATE DocumentTokenEmbeddings SET token_index = token_index + 1000 WHERE doc_id = '${id}' AND token_index = 1`,
      ),
    zeroVector: (id) =>
      void q(
        `UPDATE DocumentTokenEmbeddings SET token_embedding = zeroblob(length(token_embedding)) WHERE doc_id = '${id}' AND token_index = 2`,
      ),
  };
};

const postgres = (): Backend => ({
  name: 'PostgreSQL',
  skip: noPg,
  db: () => undefined,
  sql: (q) => pg!.psql(q).trim(),
  victims: () =>
    pg!
      .psql(
        `SELECT doc_id FROM "RAG"."DocumentEmbeddingLedger" WHERE token_count >= 3 ORDER BY doc_id LIMIT 2`,
      )
      .trim()
      .split('\n') as [string, string],
  moveRow: (id) =>
    void pg!.psql(
      `UPDATE "RAG"."DocumentTokenEmbeddings" SET token_index = token_index + 1000 WHERE doc_id = '${id}' AND token_index = 1`,
    ),
  zeroVector: (id) =>
    void pg!.psql(
      `UPDATE "RAG"."DocumentTokenEmbeddings" SET token_embedding = array_fill(0::real, ARRAY[${SMALL_DIM}]) WHERE doc_id = '${id}' AND token_index = 2`,
    ),
});

for (const make of [sqlite, postgres]) {
  const b = make();
  describe(`${b.name}: damaged token rows`, { skip: b.skip }, () => {
    it('a moved token row and a zeroed vector are found by validate and healed by ensure', async () => {
      const first = await run('ensure', b.db());
      assert.equal(first.r.code, 0, first.r.stderr);
      const [moved, zeroed] = b.victims();
      b.moveRow(moved);
      b.zeroVector(zeroed);
      const v = await run('validate', b.db());
      assert.equal(v.r.code, 1, v.r.stderr);
      const c = tokenCheck(v.report);
      assert.equal(c.passed, false);
      assert.match(c.message, new RegExp(`token rows out of sequence in 1: ${moved}`));
      assert.match(c.message, new RegExp(`zero or non-finite vectors in 1: ${zeroed}`));
      const heal = await run('ensure', b.db());
      assert.equal(heal.r.code, 0, heal.r.stderr);
      assert.equal(heal.report.healed.embedded, 2, 'exactly the two damaged documents re-embedded');
      const again = await run('validate', b.db());
      assert.equal(again.r.code, 0, again.r.stderr);
    });
  });
}

describe('SQLite: a NaN vector', () => {
  it('is found and healed', async () => {
    const path = join(tmp, 'nan.db');
    assert.equal((await run('ensure', path)).r.code, 0);
    const c = new DatabaseSync(path);
    const { doc_id: id } = c
      .prepare(`SELECT doc_id FROM DocumentEmbeddingLedger ORDER BY doc_id LIMIT 1`)
      .get() as {
      doc_id: string;
    };
    const nan = new Float32Array(SMALL_DIM).fill(0.5);
    nan[7] = Number.NaN;
    c.prepare(
      `UPDATE DocumentTokenEmbeddings SET token_embedding = ? WHERE doc_id = ? AND token_index = 0`,
    ).run(new Uint8Array(nan.buffer), id);
    c.close();
    const v = await run('validate', path);
    assert.equal(v.r.code, 1);
    assert.match(tokenCheck(v.report).message, new RegExp(`zero or non-finite vectors in 1: ${id}`));
    const heal = await run('ensure', path);
    assert.equal(heal.r.code, 0, heal.r.stderr);
    assert.equal(heal.report.healed.embedded, 1);
  });
});

for (const make of [sqlite, postgres]) {
  const b = make();
  describe(`${b.name}: a token table of another dimension`, { skip: b.skip }, () => {
    it('still empty: recreated at the declared dimension without asking; not empty: stops naming the DDL', async () => {
      const db = b.name === 'SQLite' ? join(tmp, 'dimension.db') : undefined;
      if (db === undefined) pg!.psql('DROP SCHEMA IF EXISTS "RAG" CASCADE');
      // A documents run with the default dimension (768) makes the token table for 768.
      const docs = await runCli(
        [
          'ensure',
          '--target-state',
          'documents',
          '--doc-count',
          String(DOCS),
          '--source',
          pmcCorpusPath(),
          '--output',
          'json',
          ...(db ? ['--db', db] : []),
        ],
        db ? {} : { env: { DATASTATE_DB_URL: pg!.url } },
      );
      assert.equal(docs.code, 0, docs.stderr);
      const ok = await run('ensure', db);
      assert.equal(ok.r.code, 0, ok.r.stderr);
      assert.equal(ok.report.ready, true);
      // Now it holds rows of dimension SMALL_DIM: declaring another dimension stops with the DDL.
      const other = await runCli(
        [
          'ensure',
          '--doc-count',
          String(DOCS),
          '--source',
          pmcCorpusPath(),
          '--model',
          await smallModelDir(),
          '--dimension',
          '48',
          '--output',
          'json',
          ...(db ? ['--db', db] : []),
        ],
        db ? {} : { env: { DATASTATE_DB_URL: pg!.url } },
      );
      assert.equal(other.code, 1, other.stderr);
      assert.match(reportOf(other).outcome.message, /vector dimension is 32, expected 48.*fix: DROP TABLE/);
    });
  });
}
