/**
 * The original project's two token tables kept in state through the CLI, on SQLite and PostgreSQL:
 *   orchestrator  RAG.DocumentTokenEmbeddings(doc_id, token_index, token_text, token_embedding VECTOR(FLOAT, 384))
 *   ColBERT       RAG.DocumentTokenEmbeddings(doc_id VARCHAR(64), tok_pos INTEGER, tok_text VARCHAR(64),
 *                 tok_vec VECTOR(FLOAT, 128), centroid_id INTEGER, PRIMARY KEY (doc_id, tok_pos))
 * each created by datastate and pre-created by hand with the project's own DDL (VECTOR(FLOAT, n) translated to
 * the dialect's vector type: a float32 BLOB with a length CHECK on SQLite, real[] with a cardinality CHECK on
 * PostgreSQL without pgvector), then filled by `ensure` with the matching preset (minilm-l6 / colbertv2: the
 * exports' interfaces with SYNTHETIC weights, one layer) on real PMC abstracts; validate passes; drift made
 * through the mapped names is found and healed; centroid_id is never written.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { ensureDemoModel, type GenerateModelOptions } from '../../src/embed/index.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { reportOf, runCli, type CliResult } from '../helpers/cli.ts';
import { pgUrl, skipReason } from '../helpers/databases.ts';

const DOCS = 8;
const CACHE = join(process.env.DATASTATE_TEST_CACHE ?? join(tmpdir(), 'datastate-test-cache'), 'presets');

interface Columns {
  docId: string;
  tokenIndex: string;
  tokenText: string;
  embedding: string;
}

interface Schema {
  model: GenerateModelOptions;
  dimension: number;
  columns: Columns;
  /** The project's DDL for each store, VECTOR(FLOAT, n) translated; {S} is the schema qualifier. */
  ddl: { sqlite: string; postgres: string };
  /** A column that is not ours: never written. */
  foreign?: string;
}

const SCHEMAS: Record<'orchestrator' | 'colbert', Schema> = {
  orchestrator: {
    // all-MiniLM-L6-v2's interface and width (384), one layer instead of six.
    model: { preset: 'minilm-l6', layers: 1, intermediate: 64, maxPositions: 512 },
    dimension: 384,
    columns: {
      docId: 'doc_id',
      tokenIndex: 'token_index',
      tokenText: 'token_text',
      embedding: 'token_embedding',
    },
    ddl: {
      sqlite:
        'CREATE TABLE {S}DocumentTokenEmbeddings (doc_id VARCHAR(255), token_index INTEGER, token_text VARCHAR(500), ' +
        'token_embedding BLOB CHECK (length(token_embedding) = 1536), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, ' +
        'PRIMARY KEY (doc_id, token_index))',
      postgres:
        'CREATE TABLE {S}DocumentTokenEmbeddings (doc_id VARCHAR(255), token_index INTEGER, token_text VARCHAR(500), ' +
        'token_embedding real[] CHECK (cardinality(token_embedding) = 384), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, ' +
        'PRIMARY KEY (doc_id, token_index))',
    },
  },
  colbert: {
    // colbert-ir/colbertv2.0's interface (BERT + Linear -> 128, no bias), hidden 64 and one layer.
    model: { preset: 'colbertv2', layers: 1, hidden: 64, heads: 4, intermediate: 64, maxPositions: 512 },
    dimension: 128,
    columns: { docId: 'doc_id', tokenIndex: 'tok_pos', tokenText: 'tok_text', embedding: 'tok_vec' },
    ddl: {
      sqlite:
        'CREATE TABLE {S}DocumentTokenEmbeddings (doc_id VARCHAR(64) NOT NULL, tok_pos INTEGER NOT NULL, tok_text VARCHAR(64), ' +
        'tok_vec BLOB NOT NULL CHECK (length(tok_vec) = 512), centroid_id INTEGER, PRIMARY KEY (doc_id, tok_pos))',
      postgres:
        'CREATE TABLE {S}DocumentTokenEmbeddings (doc_id VARCHAR(64) NOT NULL, tok_pos INTEGER NOT NULL, tok_text VARCHAR(64), ' +
        'tok_vec real[] NOT NULL CHECK (cardinality(tok_vec) = 128), centroid_id INTEGER, PRIMARY KEY (doc_id, tok_pos))',
    },
    foreign: 'centroid_id',
  },
};

let dir: string;
const models = new Map<string, Promise<string>>();
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ds-token-tables-'));
  mkdirSync(CACHE, { recursive: true });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function model(name: keyof typeof SCHEMAS): Promise<string> {
  const m = SCHEMAS[name].model;
  const key = `${m.preset}-h${m.hidden ?? 'full'}-l${m.layers}`;
  if (!models.has(key)) models.set(key, ensureDemoModel(join(CACHE, key), m));
  return models.get(key)!;
}

/** A store's raw SQL, the way a consumer would run it. */
interface Raw {
  run(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** The qualified token table as written in this store's SQL. */
  tokens: string;
  docs: string;
  close(): Promise<void>;
}

interface Target {
  /** --db for the CLI. */
  db: string;
  /** spec.database, without columns. */
  database: Record<string, unknown>;
  raw(): Promise<Raw>;
  /** Runs the hand-written DDL. */
  createByHand(ddl: string): Promise<void>;
  cleanup(): Promise<void>;
}

async function sqliteTarget(name: string, byHand: boolean): Promise<Target> {
  const file = join(dir, `${name}.db`);
  // SQLite has no schemas: datastate attaches the file under the schema's name, so RAG.DocumentTokenEmbeddings
  // is the table DocumentTokenEmbeddings of that file. Pre-created by hand either way a consumer would: the
  // orchestrator's DDL unchanged on the file attached AS RAG, the ColBERT one with the RAG. prefix left out.
  const attach = name.startsWith('orchestrator');
  const open = () => {
    const c = new DatabaseSync(attach ? ':memory:' : file);
    if (attach) c.prepare('ATTACH DATABASE ? AS RAG').run(file);
    return c;
  };
  return {
    db: file,
    database: { dialect: 'sqlite' },
    async raw() {
      const c = open();
      const q = attach ? 'RAG.' : '';
      return {
        tokens: `${q}DocumentTokenEmbeddings`,
        docs: `${q}SourceDocuments`,
        async run(sql, params = []) {
          const st = c.prepare(sql);
          return /^\s*select/i.test(sql)
            ? (st.all(...(params as never[])) as Record<string, unknown>[])
            : (st.run(...(params as never[])), []);
        },
        async close() {
          c.close();
        },
      };
    },
    async createByHand(ddl) {
      if (!byHand) return;
      const c = open();
      c.exec(ddl.replace('{S}', attach ? 'RAG.' : ''));
      c.close();
    },
    async cleanup() {},
  };
}

async function postgresTarget(name: string, byHand: boolean): Promise<Target> {
  const admin = new pg.Client({ connectionString: pgUrl() });
  await admin.connect();
  const database = `ds_tt_${name.replace(/\W/g, '_')}_${process.pid}`.toLowerCase();
  await admin.query(`DROP DATABASE IF EXISTS ${database}`);
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const u = new URL(pgUrl());
  u.pathname = `/${database}`;
  const url = u.toString();
  // PostgreSQL folds unquoted names to lower case: the ColBERT DDL, written unquoted as the project wrote it,
  // makes rag.documenttokenembeddings, and the spec names it so; the orchestrator's is written quoted.
  const folded = name.startsWith('colbert') && byHand;
  const schema = folded ? 'rag' : 'RAG';
  const table = folded ? 'documenttokenembeddings' : 'DocumentTokenEmbeddings';
  return {
    db: url,
    database: {
      dialect: 'postgres',
      schema,
      tables: { tokenEmbeddings: table },
    },
    async raw() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return {
        tokens: `"${schema}"."${table}"`,
        docs: `"${schema}"."SourceDocuments"`,
        async run(sql, params = []) {
          let i = 0;
          return (
            await c.query(
              sql.replace(/\?/g, () => `$${++i}`),
              params,
            )
          ).rows;
        },
        async close() {
          await c.end();
        },
      };
    },
    async createByHand(ddl) {
      if (!byHand) return;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      if (folded) {
        await c.query('CREATE SCHEMA RAG');
        await c.query(ddl.replace('{S}', 'RAG.'));
      } else {
        await c.query('CREATE SCHEMA "RAG"');
        await c.query(ddl.replace('{S}DocumentTokenEmbeddings', '"RAG"."DocumentTokenEmbeddings"'));
      }
      await c.end();
    },
    async cleanup() {
      const c = new pg.Client({ connectionString: pgUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.end();
    },
  };
}

function manifest(file: string, s: Schema, database: Record<string, unknown>, mode = 'AutoFix'): string {
  const spec = {
    docCount: DOCS,
    mode,
    database: { ...database, columns: { tokenEmbeddings: s.columns } },
    embedding: { dimension: s.dimension },
  };
  const text = `apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: t}\nspec: ${JSON.stringify(spec)}\n`;
  writeFileSync(file, text);
  return file;
}

function checksOf(r: CliResult) {
  return Object.fromEntries(
    reportOf(r).checks.map((c: { name: string; passed: boolean }) => [c.name, c]),
  ) as Record<string, { passed: boolean; message: string; examples?: string[] }>;
}

const STORES = { sqlite: sqliteTarget, postgres: postgresTarget } as const;

for (const [store, open] of Object.entries(STORES)) {
  const skip = store === 'postgres' ? skipReason('postgres') : false;
  describe(`${store}: the original project's token tables`, { skip }, () => {
    for (const [schemaName, s] of Object.entries(SCHEMAS) as [keyof typeof SCHEMAS, Schema][]) {
      for (const byHand of [false, true]) {
        const label = `${schemaName} (${byHand ? 'pre-created by hand with its own DDL' : 'created by datastate'})`;
        it(label, async () => {
          const t = await open(`${schemaName}-${byHand ? 'hand' : 'made'}`, byHand);
          try {
            await t.createByHand(s.ddl[store as 'sqlite' | 'postgres']);
            const m = await model(schemaName);
            const file = manifest(join(dir, `${store}-${schemaName}-${byHand}.yaml`), s, t.database);
            const common = ['-f', file, '--db', t.db, '--source', pmcCorpusPath(), '--model', m];
            const json = ['--output', 'json', '--quiet'];

            const e = await runCli(['ensure', ...common, ...json]);
            assert.equal(e.code, 0, e.stderr);
            assert.equal(reportOf(e).embedded, DOCS);
            const v = await runCli(['validate', ...common, ...json]);
            assert.equal(v.code, 0, v.stderr + v.stdout);

            const raw = await t.raw();
            try {
              const c = s.columns;
              const rows = await raw.run(
                `SELECT ${c.docId} AS d, ${c.tokenIndex} AS i, ${c.tokenText} AS t FROM ${raw.tokens} ORDER BY ${c.docId}, ${c.tokenIndex}`,
              );
              assert.ok(rows.length > DOCS * 20, `${rows.length} token rows`);
              const ids = [...new Set(rows.map((r) => String(r.d)))];
              assert.equal(ids.length, DOCS);
              if (schemaName === 'colbert')
                assert.deepEqual(
                  rows.filter((r) => Number(r.i) <= 1).map((r) => r.t),
                  ids.flatMap(() => ['[CLS]', '[unused1]']),
                  'ColBERT conventions in tok_text: [CLS] then the [D] marker',
                );
              if (store === 'postgres') {
                const [dims] = await raw.run(
                  `SELECT MIN(cardinality(${c.embedding})) AS lo, MAX(cardinality(${c.embedding})) AS hi FROM ${raw.tokens}`,
                );
                assert.deepEqual([Number(dims!.lo), Number(dims!.hi)], [s.dimension, s.dimension]);
              } else {
                const [dims] = await raw.run(
                  `SELECT MIN(length(${c.embedding})) AS lo, MAX(length(${c.embedding})) AS hi FROM ${raw.tokens}`,
                );
                assert.deepEqual([Number(dims!.lo), Number(dims!.hi)], [s.dimension * 4, s.dimension * 4]);
              }
              if (s.foreign && byHand) {
                const [n] = await raw.run(
                  `SELECT COUNT(*) AS n FROM ${raw.tokens} WHERE ${s.foreign} IS NOT NULL`,
                );
                assert.equal(Number(n!.n), 0, `${s.foreign} is left NULL`);
                // The consumer assigns centroids; a heal leaves the rows of documents it does not touch alone.
                await raw.run(`UPDATE ${raw.tokens} SET ${s.foreign} = 7`);
              }

              // Drift, made through the mapped names: one document loses token rows, one's abstract changes.
              const [lost, changed] = [ids[1]!, ids[4]!];
              await raw.run(`DELETE FROM ${raw.tokens} WHERE ${c.docId} = ? AND ${c.tokenIndex} >= 5`, [
                lost,
              ]);
              await raw.run(`UPDATE ${raw.docs} SET abstract = abstract || ' (revised)' WHERE doc_id = ?`, [
                changed,
              ]);
              const d = await runCli(['validate', ...common, ...json]);
              assert.equal(d.code, 1, d.stderr);
              const checks = checksOf(d);
              assert.equal(checks.schema_integrity!.passed, true, checks.schema_integrity!.message);
              assert.equal(checks.token_embeddings_complete!.passed, false);
              assert.deepEqual(checks.token_embeddings_complete!.examples, [lost]);
              assert.equal(checks.embeddings_current!.passed, false);
              assert.deepEqual(checks.embeddings_current!.examples, [changed]);

              const h = await runCli(['ensure', ...common, ...json]);
              assert.equal(h.code, 0, h.stderr);
              assert.equal(reportOf(h).healed.embedded, 2, 'exactly the two drifted documents');
              const again = await runCli(['validate', ...common, ...json]);
              assert.equal(again.code, 0, again.stderr + again.stdout);
              if (s.foreign && byHand) {
                const kept = await raw.run(
                  `SELECT ${c.docId} AS d, COUNT(*) AS n FROM ${raw.tokens} WHERE ${s.foreign} IS NULL GROUP BY ${c.docId} ORDER BY ${c.docId}`,
                );
                assert.deepEqual(
                  kept.map((r) => String(r.d)),
                  [lost, changed].sort(),
                  'only the re-embedded documents lost their centroids',
                );
              }
            } finally {
              await raw.close();
            }
          } finally {
            await t.cleanup();
          }
        });
      }
    }
  });
}

it('a column name that is not a safe SQL identifier is exit 2 before any connection', async () => {
  const file = join(dir, 'bad-columns.yaml');
  writeFileSync(
    file,
    'apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: t}\nspec:\n  docCount: 3\n' +
      '  database: {dialect: postgres, url: "postgres://nobody@127.0.0.1:1/none", columns: {tokenEmbeddings: {tokenIndex: "pos; DROP TABLE x"}}}\n',
  );
  const r = await runCli(['validate', '-f', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /spec\.database\.columns\.tokenEmbeddings\.tokenIndex: must match/);
  const reserved = join(dir, 'reserved.yaml');
  writeFileSync(
    reserved,
    'apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: t}\nspec:\n  docCount: 3\n' +
      '  database: {columns: {tokenEmbeddings: {tokenText: value}}}\n',
  );
  const v = await runCli(['validate', '-f', reserved, '--db', join(dir, 'never-created.db')]);
  assert.equal(v.code, 2, v.stderr);
  assert.match(v.stderr, /"value" is an SQL reserved word/);
  assert.equal(existsSync(join(dir, 'never-created.db')), false, 'no database file was made');
});
