/**
 * The model presets (interfaces of real exports, SYNTHETIC weights, smaller hidden sizes and fewer layers so
 * the tests run quickly: the interface is what is tested) healed end to end through the CLI on real PMC
 * abstracts, and the model problems `datastate model inspect` and `ensure` stop at before any write.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { ensureDemoModel, type GenerateModelOptions } from '../../src/embed/index.ts';
import { ASCII_PUNCTUATION } from '../../src/embed/conventions.ts';
import { pmcCorpusPath } from '../helpers/corpus.ts';
import { reportOf, runCli } from '../helpers/cli.ts';

const CACHE = join(process.env.DATASTATE_TEST_CACHE ?? join(tmpdir(), 'datastate-test-cache'), 'presets');
const reduced = { layers: 1, intermediate: 64, maxPositions: 512 } as const;
const PRESETS: Record<
  string,
  GenerateModelOptions & { dim: number; inputs: string[]; outputs: string[]; opset: number }
> = {
  distilbert: {
    preset: 'distilbert',
    ...reduced,
    hidden: 64,
    heads: 4,
    dim: 64,
    inputs: ['input_ids', 'attention_mask'],
    outputs: ['last_hidden_state'],
    opset: 14,
  },
  'minilm-l6': {
    preset: 'minilm-l6',
    ...reduced,
    hidden: 48,
    heads: 12,
    dim: 48,
    inputs: ['input_ids', 'attention_mask'],
    outputs: ['token_embeddings', 'sentence_embedding'],
    opset: 14,
  },
  colbertv2: {
    preset: 'colbertv2',
    ...reduced,
    hidden: 64,
    heads: 4,
    dim: 128,
    inputs: ['input_ids', 'attention_mask'],
    outputs: ['colbert_embeddings'],
    opset: 17,
  },
};

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ds-presets-'));
  mkdirSync(CACHE, { recursive: true });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const model = (name: string) => {
  const { dim: _d, inputs: _i, outputs: _o, opset: _s, ...opts } = PRESETS[name]!;
  return ensureDemoModel(join(CACHE, `${name}-h${opts.hidden}-l${opts.layers}`), opts);
};

const PUNCT = new Set(ASCII_PUNCTUATION);

describe('presets healed end to end on real PMC abstracts', () => {
  for (const name of Object.keys(PRESETS)) {
    it(name, async () => {
      const p = PRESETS[name]!;
      const m = await model(name);
      const s = await ort.InferenceSession.create(join(m, 'model.onnx'));
      assert.deepEqual(s.inputNames, p.inputs);
      assert.deepEqual(s.outputNames, p.outputs);
      await s.release();
      const proto = onnxProto.onnx.ModelProto.decode(readFileSync(join(m, 'model.onnx')));
      assert.equal(Number(proto.opsetImport[0]!.version), p.opset);

      const db = join(dir, `${name}.db`);
      const args = ['ensure', '--doc-count', '12', '--source', pmcCorpusPath(), '--db', db, '--model', m];
      const r = await runCli([...args, '--dimension', String(p.dim), '--output', 'json', '--quiet']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(reportOf(r).embedded, 12);
      const conn = new DatabaseSync(db);
      try {
        const rows = conn
          .prepare(
            'SELECT doc_id, token_index, token_text, token_embedding FROM DocumentTokenEmbeddings ORDER BY doc_id, token_index',
          )
          .all() as {
          doc_id: string;
          token_index: number;
          token_text: string;
          token_embedding: Uint8Array;
        }[];
        assert.ok(rows.length > 12 * 50);
        for (const row of rows) assert.equal(row.token_embedding.byteLength, p.dim * 4, 'dimension');
        const texts = rows.map((x) => x.token_text);
        assert.ok(!texts.includes('[PAD]'), 'no pads');
        const firsts = rows.filter((x) => x.token_index <= 1);
        if (name === 'colbertv2') {
          for (const x of firsts) assert.equal(x.token_text, x.token_index === 0 ? '[CLS]' : '[unused1]');
          assert.ok(!texts.some((t) => PUNCT.has(t)), 'no punctuation rows: the ColBERT skiplist');
          for (const row of rows.slice(0, 50)) {
            const v = new Float32Array(
              row.token_embedding.buffer.slice(
                row.token_embedding.byteOffset,
                row.token_embedding.byteOffset + row.token_embedding.byteLength,
              ),
            );
            const norm = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
            assert.ok(Math.abs(norm - 1) < 1e-4, `unit vectors (${norm})`);
          }
        } else {
          assert.ok(!texts.includes('[unused1]') && !texts.includes('[CLS]'), 'no marker, no special tokens');
          assert.ok(
            texts.some((t) => PUNCT.has(t)),
            'punctuation kept without the conventions',
          );
        }
      } finally {
        conn.close();
      }
      // Turning the conventions off changes the fingerprint: every document is stale.
      if (name === 'colbertv2') {
        const manifest = join(dir, 'colbert-none.yaml');
        writeFileSync(
          manifest,
          `apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: c}\nspec:\n  docCount: 12\n  mode: DryRun\n  embedding: {conventions: none, dimension: 128}\n`,
        );
        const v = await runCli([
          'plan',
          '-f',
          manifest,
          '--source',
          pmcCorpusPath(),
          '--db',
          db,
          '--model',
          m,
          '--output',
          'json',
          '--quiet',
        ]);
        assert.equal(reportOf(v).plan.embeddingsStale, 12, v.stderr);
      }
    });
  }
});

describe('model problems: clear exit 2 before any write', () => {
  it('a tokenizer whose vocabulary does not fit the embedding matrix', async () => {
    const m = await ensureDemoModel(join(CACHE, 'tiny-vocab'), {
      preset: 'small',
      layers: 1,
      tokenizer: 'tiny',
    });
    const bert = join(await model('distilbert'), 'tokenizer.json');
    const r = await runCli(['model', 'inspect', m, '--tokenizer', bert]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /produces ids up to 30521 \(30522 pieces\) but the model's embedding matrix has \d+ rows/,
    );
    const db = join(dir, 'vocab.db');
    const bad = join(dir, 'mismatched');
    cpSync(m, bad, { recursive: true });
    cpSync(bert, join(bad, 'tokenizer.json'));
    const e = await runCli([
      'ensure',
      '--doc-count',
      '3',
      '--source',
      pmcCorpusPath(),
      '--db',
      db,
      '--model',
      bad,
      '--dimension',
      '32',
      '--quiet',
    ]);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /embedding matrix has \d+ rows/);
    const conn = new DatabaseSync(db);
    assert.equal(
      (conn.prepare('SELECT COUNT(*) AS n FROM sqlite_master').get() as { n: number }).n,
      0,
      'nothing written',
    );
    conn.close();
  });

  it('a pooled (2-D) output named as the token vectors', async () => {
    const bad = join(dir, 'pooled');
    cpSync(await model('minilm-l6'), bad, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(bad, 'embedder.json'), 'utf8'));
    writeFileSync(join(bad, 'embedder.json'), JSON.stringify({ ...cfg, output: 'sentence_embedding' }));
    const r = await runCli(['model', 'inspect', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /"sentence_embedding" \[batch_size, 48\] is pooled .*token vectors are in "token_embeddings"/,
    );
    const ok = await runCli(['model', 'inspect', await model('minilm-l6'), '--output', 'json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).tokenOutput.name, 'token_embeddings');
  });

  it('a model that needs an input we cannot feed', async () => {
    const bad = join(dir, 'position-ids');
    cpSync(await model('distilbert'), bad, { recursive: true });
    const { onnx } = onnxProto;
    const proto = onnx.ModelProto.decode(readFileSync(join(bad, 'model.onnx')));
    const inputs = proto.graph!.input!;
    inputs.push({ ...inputs[0]!, name: 'position_ids' });
    writeFileSync(join(bad, 'model.onnx'), onnx.ModelProto.encode(proto).finish());
    const r = await runCli(['model', 'inspect', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /needs inputs this embedder cannot feed: position_ids/);
  });
});
