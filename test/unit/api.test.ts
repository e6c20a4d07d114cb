import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CRD_FILE, datasetStateCrdYaml } from '../../src/api/crd.ts';
import { parseManifest, parseSpec, ValidationError, effectiveBatchSize } from '../../src/api/validate.ts';

const root = join(import.meta.dirname, '..', '..');

test('the committed CRD is exactly what the schema generates (run `npm run gen:crd` after changing src/api/schema.ts)', () => {
  assert.equal(readFileSync(join(root, CRD_FILE), 'utf8'), datasetStateCrdYaml());
});

test('defaults fill every optional field', () => {
  const spec = parseSpec({ docCount: 10 });
  assert.equal(spec.targetState, 'ragas-eval');
  assert.equal(spec.mode, 'AutoFix');
  assert.deepEqual(spec.selection, { orderBy: 'doc_id', seed: 0 });
  assert.equal(spec.database.dialect, 'sqlite');
  assert.equal(spec.database.tables.tokenEmbeddings, 'DocumentTokenEmbeddings');
  assert.equal(spec.embedding.dimension, 768);
  assert.equal(
    spec.embedding.maxTokens,
    undefined,
    "resolved by the embedder: 512, or the model directory's own limit",
  );
  assert.equal(spec.embedding.conventions, 'auto');
  assert.equal(spec.healing.batchSize, 'auto');
  assert.equal(spec.workers.minReplicas, 0);
});

test('parseSpec does not mutate its input', () => {
  const input = { docCount: 3 };
  parseSpec(input);
  assert.deepEqual(input, { docCount: 3 });
});

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.problems;
  }
  assert.fail('expected a ValidationError');
}

test('bad specs are rejected naming the field and the rule', () => {
  assert.deepEqual(
    problemsOf(() => parseSpec({ docCount: 0 })),
    ['spec.docCount: must be >= 1 (got 0)'],
  );
  assert.deepEqual(
    problemsOf(() => parseSpec({})),
    ['spec.docCount: is required'],
  );
  assert.deepEqual(
    problemsOf(() => parseSpec({ docCount: 2.5 })),
    ['spec.docCount: must be an integer (got 2.5)'],
  );
  assert.deepEqual(
    problemsOf(() => parseSpec({ docCount: 1, targetState: 'ragas' })),
    ['spec.targetState: must be one of "ragas-eval", "token-embeddings", "documents" (got "ragas")'],
  );
  assert.deepEqual(
    problemsOf(() => parseSpec({ docCount: 1, colour: 'red' })),
    ['spec.colour: unknown field'],
  );
  assert.deepEqual(
    problemsOf(() => parseSpec({ docCount: 1, healing: { batchSize: 0 } })),
    ['spec.healing.batchSize: must be "auto" or an integer >= 1 (got 0)'],
  );
  assert.deepEqual(
    problemsOf(() => parseSpec({ docCount: 1, workers: { minReplicas: 5, maxReplicas: 2 } })),
    ['spec.workers.minReplicas: must be <= workers.maxReplicas (5 > 2)'],
  );
  assert.deepEqual(
    problemsOf(() => parseSpec({ docCount: 1, source: { type: 'pmc-xml' } })),
    ['spec.source.path: is required when source.type is "pmc-xml"'],
  );
});

test('manifests: YAML parsed, apiVersion/kind/metadata checked, errors carry the file name', () => {
  const ok = parseManifest(
    'apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: ragas-1k}\nspec: {docCount: 1000, mode: DryRun}\n',
  );
  assert.equal(ok.spec.docCount, 1000);
  assert.equal(ok.spec.mode, 'DryRun');
  assert.equal(ok.metadata.name, 'ragas-1k');
  const bad = problemsOf(() => parseManifest('apiVersion: v1\nkind: Pod\nmetadata: {}\n', 'x.yaml'));
  assert.deepEqual(bad, [
    'apiVersion: must be "datastate.dev/v1alpha1" (got "v1")',
    'kind: must be "DatasetState" (got "Pod")',
    'metadata.name: is required',
    'spec: is required',
  ]);
  assert.throws(
    () => parseManifest('a: [1,\n', 'broken.yaml'),
    (e: Error) => e.message.startsWith('broken.yaml: YAML:'),
  );
  assert.throws(
    () =>
      parseManifest(
        'apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: a}\nspec: {docCount: -1}\n',
        'm.yaml',
      ),
    /m\.yaml: spec\.docCount: must be >= 1 \(got -1\)/,
  );
});

test('auto batch size follows docCount; an explicit one wins', () => {
  assert.equal(effectiveBatchSize(parseSpec({ docCount: 200 })), 16);
  assert.equal(effectiveBatchSize(parseSpec({ docCount: 5000 })), 32);
  assert.equal(effectiveBatchSize(parseSpec({ docCount: 50000 })), 64);
  assert.equal(effectiveBatchSize(parseSpec({ docCount: 200, healing: { batchSize: 7 } })), 7);
});

test('column names default to the tables datastate creates, and map to the consumer’s own', () => {
  const spec = parseSpec({ docCount: 1 });
  assert.deepEqual(spec.database.columns.tokenEmbeddings, {
    docId: 'doc_id',
    tokenIndex: 'token_index',
    tokenText: 'token_text',
    embedding: 'token_embedding',
  });
  assert.equal(spec.database.columns.sourceDocuments.abstract, 'abstract');
  const colbert = parseSpec({
    docCount: 1,
    database: {
      columns: { tokenEmbeddings: { tokenIndex: 'tok_pos', tokenText: 'tok_text', embedding: 'tok_vec' } },
    },
  });
  assert.deepEqual(colbert.database.columns.tokenEmbeddings, {
    docId: 'doc_id',
    tokenIndex: 'tok_pos',
    tokenText: 'tok_text',
    embedding: 'tok_vec',
  });
});

test('schema, table and column names must be safe SQL identifiers (exit 2 from the CLI)', () => {
  const db = (database: object) => problemsOf(() => parseSpec({ docCount: 1, database }));
  assert.deepEqual(db({ columns: { tokenEmbeddings: { tokenIndex: 'tok_pos; DROP TABLE x' } } }), [
    'spec.database.columns.tokenEmbeddings.tokenIndex: must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$ (got "tok_pos; DROP TABLE x")',
  ]);
  assert.deepEqual(db({ columns: { tokenEmbeddings: { tokenIndex: '"quoted"' } } }).length, 1);
  assert.deepEqual(db({ columns: { tokenEmbeddings: { tokenIndex: 'x'.repeat(64) } } }).length, 1);
  assert.deepEqual(db({ columns: { sourceDocuments: { unknownThing: 'x' } } }), [
    'spec.database.columns.sourceDocuments.unknownThing: unknown field',
  ]);
  assert.deepEqual(db({ columns: { tokenEmbeddings: { tokenIndex: 'position' } } }), [
    'spec.database.columns.tokenEmbeddings.tokenIndex: "position" is an SQL reserved word (it cannot be a bare name in IRIS or PostgreSQL SQL); choose another name',
  ]);
  assert.equal(
    db({ columns: { tokenEmbeddings: { tokenText: 'limit' } } }).length,
    1,
    'PostgreSQL reserves LIMIT',
  );
  assert.deepEqual(db({ schema: 'user' }), [
    'spec.database.schema: "user" is an SQL reserved word (it cannot be a bare name in IRIS or PostgreSQL SQL); choose another name',
  ]);
  assert.deepEqual(db({ columns: { tokenEmbeddings: { tokenIndex: 'DOC_ID' } } }), [
    'spec.database.columns.tokenEmbeddings.tokenIndex: names the same column as columns.tokenEmbeddings.docId ("DOC_ID")',
  ]);
  assert.deepEqual(db({ tables: { ledger: 'SourceDocuments' } }), [
    'spec.database.tables.ledger: names the same table as tables.sourceDocuments ("SourceDocuments")',
  ]);
  assert.deepEqual(db({ tables: { tokenEmbeddings: 'RAG.DocumentTokenEmbeddings' } }), [
    "spec.database.tables.tokenEmbeddings: give the table's name alone and its schema in database.schema " +
      '(got "RAG.DocumentTokenEmbeddings": write tables.tokenEmbeddings: DocumentTokenEmbeddings and schema: RAG)',
  ]);
});
