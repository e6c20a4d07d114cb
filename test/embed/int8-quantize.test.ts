/**
 * `datastate quantize` and `datastate model compare`: a small generated model quantized to int8, loaded through
 * the real embedder (same interface, a different fingerprint, token vectors close to fp32), the graph rewrite
 * checked on a Gemm model run by onnxruntime, the weight quantizer's bounds, and the CLI's exit codes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { loadEmbedder, modelFingerprint } from '../../src/embed/index.ts';
import { QuantizeError, quantizeModel, quantizeWeight } from '../../src/embed/quantize.ts';
import { quantizeModelDir } from '../../src/embed/quantize-dir.ts';
import { cosineStats, rankAgreement, spearman, tokenCosines } from '../../src/embed/quantize-compare.ts';
import type { EmbedOutcome, TokenEmbedding } from '../../src/core/types.ts';
import { SAMPLE_DOCS, longText, smallModel, tempRoot } from '../fixtures/embed/models.ts';

const { onnx } = onnxProto;
const execFileP = promisify(execFile);
const CLI = path.resolve(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

function oks(outcomes: EmbedOutcome[]): TokenEmbedding[] {
  return outcomes.map((o) => {
    assert.ok(o.ok, JSON.stringify(o));
    return o;
  });
}

const DOCS = [...SAMPLE_DOCS, longText(400)].map((text, i) => ({ docId: `d${i}`, text }));

describe('datastate quantize (small generated model, hidden 64, 2 layers)', () => {
  it('writes a model directory the embedder loads: same interface, new fingerprint, vectors close to fp32', async () => {
    const fp32 = await smallModel('quant-fp32', { hidden: 64, heads: 4, intermediate: 256, projection: 24 });
    const int8 = path.join(tempRoot(), 'quant-int8');
    const r = await quantizeModelDir(fp32, int8);
    // 2 layers x (q, k, v, attention output, intermediate, output) + the projection head
    assert.equal(r.quantizedNodes, 13);
    assert.equal(r.scheme, 'u8s8-7bit');
    assert.ok(r.bytesOut < r.bytesIn);
    assert.deepEqual((await readdir(int8)).sort(), [
      'embedder.json',
      'model.onnx',
      'tokenizer.json',
      'vocab.txt',
    ]);
    const graph = onnx.ModelProto.decode(await readFile(path.join(int8, 'model.onnx'))).graph!;
    const ops = graph.node!.map((n) => n.opType);
    assert.equal(ops.filter((o) => o === 'MatMulInteger').length, 13);
    // what is left as a float MatMul multiplies two activations (the attention scores)
    const inits = new Set(graph.initializer!.map((t) => t.name));
    for (const n of graph.node!.filter((x) => x.opType === 'MatMul')) assert.ok(!inits.has(n.input![1]!));

    const a = await loadEmbedder(fp32, { sessions: 0 });
    const b = await loadEmbedder(int8, { sessions: 0 });
    try {
      assert.equal(b.dimension, a.dimension);
      assert.equal(b.dimension, 24);
      assert.equal(b.info.output, a.info.output);
      assert.equal(b.synthetic, true);
      assert.match(b.modelId, /-int8$/);
      assert.notEqual(b.fingerprint, a.fingerprint);
      assert.equal(await modelFingerprint(int8), b.fingerprint);
      const va = oks(await a.embed(DOCS));
      const vb = oks(await b.embed(DOCS));
      const stats = cosineStats(tokenCosines(va, vb));
      assert.ok(stats.tokens > 400);
      assert.ok(stats.mean >= 0.99, `mean cosine ${stats.mean}`);
      assert.ok(stats.p1 >= 0.95, `1st percentile cosine ${stats.p1}`);
      // not the same vectors: the weights really are 8-bit
      assert.ok(stats.min < 0.999999, `min cosine ${stats.min}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses an existing OUT_DIR, a missing model and bytes that are not ONNX; writes nothing', async () => {
    const fp32 = await smallModel();
    const taken = path.join(tempRoot(), 'quant-taken');
    await mkdir(taken);
    await writeFile(path.join(taken, 'keep.txt'), 'x');
    await assert.rejects(quantizeModelDir(fp32, taken), QuantizeError);
    assert.deepEqual(await readdir(taken), ['keep.txt']);
    await assert.rejects(
      quantizeModelDir(path.join(tempRoot(), 'nope'), path.join(tempRoot(), 'q2')),
      QuantizeError,
    );
    assert.throws(() => quantizeModel(new Uint8Array([1, 2, 3, 4, 5])), QuantizeError);
    assert.ok(!(await readdir(tempRoot())).some((f) => f.startsWith('q2')));
  });

  it('quantizes weights symmetrically per output channel within the scheme range', () => {
    const k = 5;
    const n = 3;
    const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i * 1.7) * (1 + (i % n) * 10));
    for (const scheme of ['u8s8-7bit', 'u8s8', 'u8u8'] as const) {
      const q = quantizeWeight(w, k, n, scheme, true);
      const qmax = scheme === 'u8s8-7bit' ? 63 : 127;
      assert.equal(q.scales.length, n);
      for (let i = 0; i < k * n; i++) {
        const c = i % n;
        const v = q.values[i]! - q.zeroPoints[c]!;
        assert.ok(Math.abs(v) <= qmax, `${scheme}: ${v}`);
        assert.ok(Math.abs(v * q.scales[c]! - w[i]!) <= q.scales[c]! / 2 + 1e-6);
      }
      // each column's largest magnitude maps to the end of the range
      for (let c = 0; c < n; c++) {
        let m = 0;
        for (let r = 0; r < k; r++) m = Math.max(m, Math.abs(q.values[r * n + c]! - q.zeroPoints[c]!));
        assert.equal(m, qmax);
      }
    }
    assert.equal(quantizeWeight(w, k, n, 'u8s8', false).scales.length, 1);
  });

  it('rewrites a Gemm (transB, bias) so onnxruntime gives nearly the fp32 result', async () => {
    const K = 16;
    const N = 8;
    const w = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i * 0.37));
    const bias = Float32Array.from({ length: N }, (_, i) => i / 10);
    const f = (name: string, dims: number[], d: Float32Array) => ({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(d.buffer),
    });
    const vi = (name: string, dims: number[]) => ({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
    });
    const model = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        graph: {
          name: 'g',
          node: [
            {
              opType: 'Gemm',
              input: ['x', 'w', 'b'],
              output: ['y'],
              attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
            },
          ],
          initializer: [f('w', [N, K], w), f('b', [N], bias)],
          input: [vi('x', [4, K])],
          output: [vi('y', [4, N])],
        },
      }),
    ).finish();
    const { bytes, summary } = quantizeModel(model);
    assert.equal(summary.quantizedNodes, 1);
    const x = Float32Array.from({ length: 4 * K }, (_, i) => Math.sin(i));
    const run = async (m: Uint8Array) => {
      const s = await ort.InferenceSession.create(m);
      const out = (await s.run({ x: new ort.Tensor('float32', x, [4, K]) })).y!.data as Float32Array;
      await s.release();
      return out;
    };
    const ya = await run(model);
    const yb = await run(bytes);
    const scale = Math.max(...ya.map(Math.abs));
    for (let i = 0; i < ya.length; i++)
      assert.ok(Math.abs(ya[i]! - yb[i]!) < 0.05 * scale, `${ya[i]} vs ${yb[i]}`);
    assert.ok(ya.some((v, i) => v !== yb[i]));
  });

  it('rank agreement and Spearman are 1 for the same scores and fall for different ones', () => {
    const s = [[3, 1, 2, 5, 4]];
    assert.equal(spearman(s[0]!, s[0]!), 1);
    assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
    const same = rankAgreement(s, s, [3]);
    assert.deepEqual(
      [same.top1, same.top10Overlap, same.spearman, same.sourceFirstA, same.sourceFirstB],
      [1, 1, 1, 1, 1],
    );
    const other = rankAgreement(s, [[5, 1, 2, 3, 4]], [3]);
    assert.equal(other.top1, 0);
    assert.equal(other.sourceFirstB, 0);
    assert.ok(other.spearman < 1);
  });

  it('the CLI: quantize exits 2 on bad input; model compare prints the cosine figures', async () => {
    const fp32 = await smallModel();
    const missing = await execFileP(process.execPath, [
      CLI,
      'quantize',
      path.join(tempRoot(), 'none'),
      path.join(tempRoot(), 'x'),
    ]).then(
      () => 0,
      (e: { code: number; stderr: string }) => {
        assert.match(e.stderr, /cannot read/);
        return e.code;
      },
    );
    assert.equal(missing, 2);
    const out = path.join(tempRoot(), 'cli-int8');
    const q = await execFileP(process.execPath, [CLI, 'quantize', fp32, out]);
    assert.equal(q.stdout.trim(), out);
    assert.match(q.stderr, /quantized 12 MatMul\/Gemm nodes/);
    const c = await execFileP(process.execPath, [
      CLI,
      'model',
      'compare',
      fp32,
      out,
      '--docs',
      '8',
      '--queries',
      '4',
      '--output',
      'json',
    ]);
    const report = JSON.parse(c.stdout) as {
      documents: number;
      cosine: { mean: number; p1: number };
      maxsim: { queries: number };
      syntheticSource: boolean;
    };
    assert.equal(report.documents, 8);
    assert.equal(report.maxsim.queries, 4);
    assert.equal(report.syntheticSource, true);
    assert.ok(report.cosine.mean > 0.99 && report.cosine.p1 <= report.cosine.mean);
  });
});
