/**
 * database.vectorPrecision: float16 through the CLI on SQLite, on real PMC abstracts: `ensure` of the same
 * documents into a float32 and a float16 database (the small model: SYNTHETIC weights, real tokenizer), both
 * READY; the float16 BLOBs are 2 bytes a float; every float16 token vector is within cosine 0.999 of its float32
 * twin; and a dataset declared with the other precision is a schema problem (exit 1 naming the DDL), never a mix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { requirePmcCorpus } from '../helpers/corpus.ts';
import { ensurePmcArgs, reportOf, runCli, SMALL_DIM } from '../helpers/cli.ts';

const DOCS = 12;

/** Every token vector of a datastate SQLite file, by "doc_id/token_index". */
function vectors(path: string, precision: 'float32' | 'float16'): Map<string, Float32Array> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec(`ATTACH DATABASE '${path.replace(/'/g, "''")}' AS "RAG"`);
    const rows = db
      .prepare(`SELECT doc_id, token_index, token_embedding AS v FROM "RAG"."DocumentTokenEmbeddings"`)
      .all() as { doc_id: string; token_index: number; v: Uint8Array }[];
    const out = new Map<string, Float32Array>();
    for (const r of rows) {
      const bytes = new Uint8Array(r.v);
      assert.equal(bytes.length, SMALL_DIM * (precision === 'float16' ? 2 : 4));
      const floats =
        precision === 'float16'
          ? Float32Array.from(new Float16Array(bytes.buffer, 0, SMALL_DIM))
          : new Float32Array(bytes.buffer, 0, SMALL_DIM);
      out.set(`${r.doc_id}/${r.token_index}`, floats);
    }
    return out;
  } finally {
    db.close();
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('float16 vectors on SQLite through the CLI', () => {
  let dir: string;
  let f16Manifest: string;
  before(() => {
    requirePmcCorpus();
    dir = mkdtempSync(join(tmpdir(), 'ds-float16-'));
    f16Manifest = join(dir, 'float16.yaml');
    writeFileSync(
      f16Manifest,
      'apiVersion: datastate.dev/v1alpha1\nkind: DatasetState\nmetadata: {name: f16}\n' +
        `spec:\n  docCount: ${DOCS}\n  database: {vectorPrecision: float16}\n`,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('ensure is READY with float16 BLOBs whose vectors are within cosine 0.999 of float32', async () => {
    const f32 = join(dir, 'f32.db');
    const f16 = join(dir, 'f16.db');
    const a = await runCli(await ensurePmcArgs(DOCS, ['--db', f32, '--quiet']));
    assert.equal(a.code, 0, a.stderr);
    const b = await runCli(await ensurePmcArgs(DOCS, ['-f', f16Manifest, '--db', f16, '--quiet']));
    assert.equal(b.code, 0, b.stderr);
    for (const r of [a, b]) {
      assert.equal(reportOf(r).ready, true, r.stdout);
      assert.equal(reportOf(r).outcome.kind, 'ready');
      assert.equal(reportOf(r).embedded, DOCS);
    }
    const v = await runCli([
      'validate',
      '-f',
      f16Manifest,
      '--db',
      f16,
      ...(await ensurePmcArgs(DOCS)).slice(3),
    ]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    // The same declaration by flag, without a manifest; a precision that does not exist is bad input.
    const rest = (await ensurePmcArgs(DOCS)).slice(1);
    const byFlag = await runCli(['validate', '--vector-precision', 'float16', '--db', f16, ...rest]);
    assert.equal(byFlag.code, 0, byFlag.stderr + byFlag.stdout);
    const bad = await runCli(['validate', '--vector-precision', 'float8', '--db', f16, ...rest]);
    assert.equal(bad.code, 2, bad.stderr + bad.stdout);
    assert.match(bad.stderr, /--vector-precision: must be one of "float32", "float16"/);

    const wide = vectors(f32, 'float32');
    const half = vectors(f16, 'float16');
    assert.ok(wide.size > DOCS * 50, `${wide.size} token rows`);
    assert.deepEqual([...half.keys()].sort(), [...wide.keys()].sort(), 'the same token rows');
    let min = 1;
    for (const [key, w] of wide) min = Math.min(min, cosine(w, half.get(key)!));
    assert.ok(min >= 0.999, `lowest per-token cosine ${min}`);
    // and the float16 values are exactly the float32 ones rounded to half
    const [key, w] = wide.entries().next().value!;
    assert.deepEqual([...half.get(key)!], [...w].map(Math.f16round));
  });

  it('the other precision on an existing dataset is a schema problem naming the DDL, nothing written', async () => {
    const f16 = join(dir, 'f16.db'); // from the test above
    const before = vectors(f16, 'float16').size;
    const r = await runCli(await ensurePmcArgs(DOCS, ['--db', f16, '--quiet'])); // declares float32
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(
      r.stdout + r.stderr,
      /stores float16 vectors \(of dimension 32\), database\.vectorPrecision is float32.*DROP TABLE/s,
    );
    assert.equal(vectors(f16, 'float16').size, before, 'the float16 rows are untouched');
  });
});
