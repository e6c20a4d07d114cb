import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { ensureDemoModel } from '../../src/embed/index.ts';
import { presetShape } from '../../src/embed/demo-model.ts';
import { Prng } from '../../src/embed/synthetic/prng.ts';
import { tempRoot } from '../fixtures/embed/models.ts';

const small = { preset: 'small', layers: 1, maxPositions: 64 } as const;

async function sha(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

describe('synthetic model generator', () => {
  it('the PRNG is a fixed sequence', () => {
    const p = new Prng(42);
    const first = [p.nextUint32(), p.nextUint32(), p.nextUint32()];
    const q = new Prng(42);
    assert.deepEqual([q.nextUint32(), q.nextUint32(), q.nextUint32()], first);
    assert.notDeepEqual([new Prng(43).nextUint32()], [first[0]]);
    const u = new Prng(7).fillUniform(new Float32Array(10000), 0.02);
    const mean = u.reduce((a, b) => a + b, 0) / u.length;
    const std = Math.sqrt(u.reduce((a, b) => a + (b - mean) ** 2, 0) / u.length);
    assert.ok(Math.abs(mean) < 0.001 && Math.abs(std - 0.02) < 0.001, `mean ${mean} std ${std}`);
  });

  it('generates byte-identical model directories on every run', async () => {
    const a = await ensureDemoModel(path.join(tempRoot(), 'gen-a'), small);
    const b = await ensureDemoModel(path.join(tempRoot(), 'gen-b'), small);
    const files = (await readdir(a)).filter((f) => !f.startsWith('.')).sort();
    assert.deepEqual(files, ['embedder.json', 'model.onnx', 'tokenizer.json', 'vocab.txt']);
    for (const f of files) assert.equal(await sha(path.join(a, f)), await sha(path.join(b, f)), f);
    const c = await ensureDemoModel(path.join(tempRoot(), 'gen-c'), { ...small, seed: 7 });
    assert.notEqual(await sha(path.join(a, 'model.onnx')), await sha(path.join(c, 'model.onnx')));
  });

  it('marks the model synthetic and describes it', async () => {
    const dir = await ensureDemoModel(path.join(tempRoot(), 'gen-a'), small);
    const cfg = JSON.parse(await readFile(path.join(dir, 'embedder.json'), 'utf8'));
    assert.equal(cfg.synthetic, true);
    assert.match(cfg.description, /SYNTHETIC/);
    assert.equal(cfg.output, 'last_hidden_state');
    assert.equal(cfg.maxPositions, 64);
    assert.equal(cfg.generator.spec.hidden, 32);
    assert.equal(cfg.generator.spec.vocabSize, 30522);
  });

  it('writes a real ONNX model onnxruntime loads: BERT inputs, dynamic batch and sequence', async () => {
    const dir = await ensureDemoModel(path.join(tempRoot(), 'gen-proj'), {
      ...small,
      projection: 8,
      tokenizer: 'tiny',
    });
    const s = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
    assert.deepEqual(s.inputNames, ['input_ids', 'attention_mask', 'token_type_ids']);
    assert.deepEqual(s.outputNames, ['last_hidden_state', 'colbert_embeddings']);
    const meta = s.outputMetadata[1]!;
    assert.ok(meta.isTensor);
    assert.deepEqual(meta.shape, ['batch', 'sequence', 8]);
    await s.release();
    const cfg = JSON.parse(await readFile(path.join(dir, 'embedder.json'), 'utf8'));
    assert.equal(cfg.output, 'colbert_embeddings');
    assert.ok(cfg.generator.spec.vocabSize < 400);
  });

  it('is cheap and leaves the files alone when the model is already there', async () => {
    const dir = await ensureDemoModel(path.join(tempRoot(), 'gen-a'), small);
    const before = (await stat(path.join(dir, 'model.onnx'))).mtimeMs;
    const t0 = performance.now();
    assert.equal(await ensureDemoModel(dir, small), dir);
    assert.ok(performance.now() - t0 < 500);
    assert.equal((await stat(path.join(dir, 'model.onnx'))).mtimeMs, before);
  });

  it('refuses to overwrite a directory holding something else', async () => {
    const dir = await ensureDemoModel(path.join(tempRoot(), 'gen-a'), small);
    await assert.rejects(
      ensureDemoModel(dir, { ...small, seed: 99 }),
      /exists but does not hold the requested/,
    );
    const foreign = path.join(tempRoot(), 'foreign');
    await mkdir(foreign);
    await writeFile(path.join(foreign, 'model.onnx'), 'a user model');
    await assert.rejects(ensureDemoModel(foreign, small), /delete it or choose another directory/);
    assert.equal(await readFile(path.join(foreign, 'model.onnx'), 'utf8'), 'a user model');
  });

  it('generates atomically: no partial directory is left, a leftover from a crashed run does not matter', async () => {
    const target = path.join(tempRoot(), 'gen-atomic');
    await mkdir(`${target}.partial-1-deadbeef`); // as if a previous generation was killed
    await writeFile(`${target}.partial-1-deadbeef/model.onnx`, 'half');
    await ensureDemoModel(target, small);
    const left = (await readdir(tempRoot())).filter(
      (f) => f.startsWith('gen-atomic.partial-') && !f.endsWith('deadbeef'),
    );
    assert.deepEqual(left, []);
    assert.equal(
      await sha(path.join(target, 'model.onnx')),
      await sha(path.join(tempRoot(), 'gen-a', 'model.onnx')),
    );
  });

  it('a truncated model file makes the directory incomplete', async () => {
    const target = await ensureDemoModel(path.join(tempRoot(), 'gen-trunc'), small);
    const bytes = await readFile(path.join(target, 'model.onnx'));
    await writeFile(path.join(target, 'model.onnx'), bytes.subarray(0, 1000));
    await assert.rejects(ensureDemoModel(target, small), /exists but does not hold/);
  });

  it("the presets have the real models' shapes (the tests use them with fewer layers)", () => {
    const pick = (p: Parameters<typeof presetShape>[0]) => {
      const { hidden, layers, heads, intermediate, maxPositions, projection, family, opset } = presetShape(p);
      return { hidden, layers, heads, intermediate, maxPositions, projection, family, opset };
    };
    assert.deepEqual(pick('distilbert'), {
      hidden: 768,
      layers: 6,
      heads: 12,
      intermediate: 3072,
      maxPositions: 512,
      projection: undefined,
      family: 'distilbert',
      opset: 14,
    });
    assert.deepEqual(pick('minilm-l6'), {
      hidden: 384,
      layers: 6,
      heads: 12,
      intermediate: 1536,
      maxPositions: 512,
      projection: undefined,
      family: 'sentence-transformers',
      opset: 14,
    });
    assert.deepEqual(pick('colbertv2'), {
      hidden: 768,
      layers: 12,
      heads: 12,
      intermediate: 3072,
      maxPositions: 512,
      projection: 128,
      family: 'colbert',
      opset: 17,
    });
  });
});
