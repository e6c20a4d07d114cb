/**
 * The ONNX token embedder, run for real on a small generated BERT-shaped model (hidden 32, 2 layers, the real
 * bert-base-uncased tokenizer): shapes, padding, truncation, windows, normalization, determinism, errors.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import {
  BERT_BASE_UNCASED_TOKENIZER_DIR,
  DimensionMismatchError,
  EmbedderOptionsError,
  ModelLoadError,
  assignOwners,
  loadEmbedder,
  loadTokenizer,
  modelFingerprint,
  planWindows,
  type TokenEmbedder,
} from '../../src/embed/index.ts';
import type { EmbedOutcome } from '../../src/core/types.ts';
import { SESSION_THREAD_DEPTH, sessionThreadsBackend } from '../../src/embed/backend.ts';
import { SAMPLE_DOCS, longText, maxAbsDiff, smallModel, tempRoot } from '../fixtures/embed/models.ts';

const D = 32;
const execFileP = promisify(execFile);
type Ok = Extract<EmbedOutcome, { ok: true }>;

function ok(o: EmbedOutcome | undefined): Ok {
  assert.ok(o && o.ok, `expected ok, got ${JSON.stringify(o)}`);
  return o;
}

/** Runs the model directly on one row of ids; returns [seq, D] floats. */
async function direct(session: ort.InferenceSession, ids: number[]): Promise<Float32Array> {
  const n = ids.length;
  const t = (a: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, n]);
  const out = await session.run({
    input_ids: t(ids),
    attention_mask: t(ids.map(() => 1)),
    token_type_ids: t(ids.map(() => 0)),
  });
  return out.last_hidden_state!.data as Float32Array;
}

async function copyDir(from: string, to: string, skip: string[] = []): Promise<string> {
  await mkdir(to, { recursive: true });
  for (const f of await readdir(from))
    if (!skip.includes(f) && !f.startsWith('.')) await copyFile(path.join(from, f), path.join(to, f));
  return to;
}

describe('ONNX token embedder (small generated model)', () => {
  let dir: string;
  let emb: TokenEmbedder;
  let session: ort.InferenceSession;

  before(async () => {
    dir = await smallModel();
    emb = await loadEmbedder(dir, { dimension: D, threads: 1 });
    session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), { intraOpNumThreads: 1 });
  });
  after(async () => {
    await emb.close();
    await session.release();
  });

  it('reads the dimension from the model and says it is synthetic', () => {
    assert.equal(emb.dimension, D);
    assert.equal(emb.synthetic, true);
    assert.match(emb.modelId, /^synthetic-bert-h32/);
    assert.match(emb.fingerprint, /^[0-9a-f]{64}$/);
    assert.equal(emb.info.output, 'last_hidden_state');
    assert.equal(emb.info.maxTokens, 512);
  });

  it('one vector per word piece, word pieces as token text, outcomes in input order', async () => {
    const tok = await loadTokenizer(dir);
    const docs = [
      { docId: 'a', text: SAMPLE_DOCS[0]! },
      { docId: 'empty', text: '' },
      { docId: 'b', text: SAMPLE_DOCS[1]! },
      { docId: 'blank', text: ' \n\t ' },
      { docId: 'ctrl', text: '\u0000\u0007' },
      { docId: 'c', text: 'unbelievably tokenizing' },
    ];
    const out = await emb.embed(docs);
    assert.deepEqual(
      out.map((o) => [o.docId, o.ok]),
      [
        ['a', true],
        ['empty', false],
        ['b', true],
        ['blank', false],
        ['ctrl', false],
        ['c', true],
      ],
    );
    assert.match((out[1] as { reason: string }).reason, /empty text/);
    assert.match((out[4] as { reason: string }).reason, /no tokens/);
    for (const i of [0, 2, 5]) {
      const o = ok(out[i]);
      assert.deepEqual(o.tokens, tok.encode(docs[i]!.text).tokens);
      assert.equal(o.dimension, D);
      assert.ok(o.vectors instanceof Float32Array);
      assert.equal(o.vectors.length, o.tokens.length * D);
      assert.ok(o.vectors.every(Number.isFinite));
    }
    assert.deepEqual(ok(out[5]).tokens, ['un', '##bel', '##ie', '##va', '##bly', 'token', '##izing']);
  });

  it('a document alone and inside a padded batch gives the same vectors (within 1e-5); pads give none', async () => {
    const e = await loadEmbedder(dir, { threads: 1, maxPadFraction: 1, maxBatchTokens: 4096 });
    try {
      const short = { docId: 's', text: SAMPLE_DOCS[2]! + ' ' + SAMPLE_DOCS[4]! };
      const alone = ok((await e.embed([short]))[0]);
      const before = e.stats.paddedTokens;
      const batch = await e.embed([
        { docId: 'l', text: longText(200) },
        short,
        { docId: 'm', text: SAMPLE_DOCS[3]! },
      ]);
      assert.equal(e.stats.runs, 2, 'the three documents went through one session run');
      assert.ok(e.stats.paddedTokens - before > 100, 'the short document was padded');
      const inBatch = ok(batch[1]);
      assert.deepEqual(inBatch.tokens, alone.tokens);
      assert.equal(inBatch.vectors.length, alone.vectors.length);
      assert.ok(
        maxAbsDiff(inBatch.vectors, alone.vectors) < 1e-5,
        `max diff ${maxAbsDiff(inBatch.vectors, alone.vectors)}`,
      );
      // and both equal the model run directly on the unpadded ids
      const tok = await loadTokenizer(dir);
      const raw = await direct(session, [101, ...tok.encode(short.text).ids, 102]);
      assert.ok(maxAbsDiff(alone.vectors, raw.subarray(D, D + alone.vectors.length)) < 1e-5);
    } finally {
      await e.close();
    }
  });

  it('groups by length: many documents of mixed length waste little on padding', async () => {
    const e = await loadEmbedder(dir, { threads: 1 });
    try {
      const docs = Array.from({ length: 40 }, (_, i) => ({
        docId: `d${i}`,
        text: longText(20 + ((i * 37) % 300), i),
      }));
      await e.embed(docs);
      assert.ok(e.stats.runs < 40, `batched (${e.stats.runs} runs for 40 documents)`);
      assert.ok(
        e.stats.paddedTokens / e.stats.tokens < 0.05,
        `padding ${e.stats.paddedTokens} of ${e.stats.tokens}`,
      );
    } finally {
      await e.close();
    }
  });

  it('truncates a long document to maxTokens, special tokens dropped or kept', async () => {
    const tok = await loadTokenizer(dir);
    const text = longText(700);
    const pieces = tok.encode(text);
    assert.ok(pieces.ids.length > 600);
    const whole = ok((await emb.embed([{ docId: 'x', text }]))[0]);
    assert.equal(whole.tokens.length, 510);
    assert.deepEqual(whole.tokens, pieces.tokens.slice(0, 510));

    const e = await loadEmbedder(dir, { maxTokens: 64, keepSpecialTokens: true, threads: 1 });
    try {
      const o = ok((await e.embed([{ docId: 'x', text }]))[0]);
      assert.equal(o.tokens.length, 64);
      assert.deepEqual(o.tokens, ['[CLS]', ...pieces.tokens.slice(0, 62), '[SEP]']);
      const raw = await direct(session, [101, ...pieces.ids.slice(0, 62), 102]);
      assert.ok(maxAbsDiff(o.vectors, raw) < 1e-5);
    } finally {
      await e.close();
    }
  });

  it('windows a long document with a stride: every word piece once, from the window where it is most central', async () => {
    const tok = await loadTokenizer(dir);
    const text = longText(60, 3);
    const pieces = tok.encode(text);
    const n = pieces.ids.length;
    assert.ok(n > 80);
    const e = await loadEmbedder(dir, { maxTokens: 32, stride: 12, threads: 1 });
    try {
      const o = ok((await e.embed([{ docId: 'w', text }]))[0]);
      assert.deepEqual(o.tokens, pieces.tokens, 'token_index runs 0..n-1 over the whole document');
      assert.equal(o.vectors.length, n * D);
      const windows = planWindows(n, 30, 12);
      const owner = assignOwners(windows, n);
      assert.ok(windows.length >= 5);
      for (let w = 0; w < windows.length; w++) {
        const { start, end } = windows[w]!;
        const raw = await direct(session, [101, ...pieces.ids.slice(start, end), 102]);
        for (let i = start; i < end; i++) {
          if (owner[i] !== w) continue;
          const got = o.vectors.subarray(i * D, (i + 1) * D);
          const want = raw.subarray((1 + i - start) * D, (2 + i - start) * D);
          assert.ok(maxAbsDiff(got, want) < 1e-5, `piece ${i} (window ${w})`);
        }
      }
    } finally {
      await e.close();
    }
    const k = await loadEmbedder(dir, { maxTokens: 32, stride: 12, keepSpecialTokens: true, threads: 1 });
    try {
      const o = ok((await k.embed([{ docId: 'w', text }]))[0]);
      assert.deepEqual(o.tokens, ['[CLS]', ...pieces.tokens, '[SEP]']);
    } finally {
      await k.close();
    }
  });

  it('L2-normalizes when asked: unit vectors in the same directions', async () => {
    const e = await loadEmbedder(dir, { normalize: true, threads: 1 });
    try {
      const docs = [{ docId: 'n', text: SAMPLE_DOCS[3]! }];
      const raw = ok((await emb.embed(docs))[0]);
      const unit = ok((await e.embed(docs))[0]);
      for (let t = 0; t < unit.tokens.length; t++) {
        const u = unit.vectors.subarray(t * D, (t + 1) * D);
        const r = raw.vectors.subarray(t * D, (t + 1) * D);
        const norm = Math.hypot(...r);
        assert.ok(Math.abs(Math.hypot(...u) - 1) < 1e-5);
        for (let i = 0; i < D; i++) assert.ok(Math.abs(u[i]! - r[i]! / norm) < 1e-5);
      }
      assert.notEqual(e.fingerprint, emb.fingerprint, 'normalization is part of the fingerprint');
    } finally {
      await e.close();
    }
  });

  it('documents sharing one run each get their own vectors, normalized apart (kept as views of the output)', async () => {
    const docs = [SAMPLE_DOCS[0]!, SAMPLE_DOCS[2]!, SAMPLE_DOCS[4]!].map((text, i) => ({
      docId: `v${i}`,
      text,
    }));
    for (const keepSpecialTokens of [false, true]) {
      const opts = { threads: 1, maxPadFraction: 1, maxBatchTokens: 4096, keepSpecialTokens };
      const together = await loadEmbedder(dir, { ...opts, normalize: true });
      const alone = await loadEmbedder(dir, { ...opts, normalize: true, maxBatchSize: 1 });
      try {
        const t = (await together.embed(docs)).map(ok);
        assert.equal(together.stats.runs, 1, 'the three documents went through one session run');
        for (const [i, d] of docs.entries()) {
          const a = ok((await alone.embed([d]))[0]);
          assert.deepEqual(t[i]!.tokens, a.tokens);
          assert.ok(
            maxAbsDiff(t[i]!.vectors, a.vectors) < 1e-5,
            `${d.docId}, keepSpecialTokens ${keepSpecialTokens}`,
          );
          for (let k = 0; k < a.tokens.length; k++)
            assert.ok(Math.abs(Math.hypot(...t[i]!.vectors.subarray(k * D, (k + 1) * D)) - 1) < 1e-5);
        }
      } finally {
        await together.close();
        await alone.close();
      }
    }
  });

  it('is deterministic: a second load gives bit-identical vectors and the same fingerprint', async () => {
    const docs = SAMPLE_DOCS.map((text, i) => ({ docId: `s${i}`, text }));
    const e = await loadEmbedder(dir, { dimension: D, threads: 1 });
    try {
      const a = await emb.embed(docs);
      const b = await e.embed(docs);
      assert.equal(e.fingerprint, emb.fingerprint);
      a.forEach((o, i) => assert.deepEqual(ok(o).vectors, ok(b[i]).vectors));
    } finally {
      await e.close();
    }
  });

  it('runs the same in session threads and on the calling thread (bit-identical vectors)', async () => {
    const docs = [...SAMPLE_DOCS, longText(300, 5)].map((text, i) => ({ docId: `s${i}`, text }));
    const pool = await loadEmbedder(dir, { sessions: 2, threads: 1 });
    const here = await loadEmbedder(dir, { sessions: 0, threads: 1 });
    try {
      assert.equal(pool.info.sessions, 2);
      assert.equal(here.info.sessions, 0);
      assert.equal(pool.fingerprint, here.fingerprint, 'the layout does not change the vectors');
      const a = await pool.embed(docs);
      const b = await here.embed(docs);
      a.forEach((o, i) => {
        assert.deepEqual(ok(o).tokens, ok(b[i]).tokens);
        assert.deepEqual(ok(o).vectors, ok(b[i]).vectors);
      });
      // errors come back the same way from both layouts
      await assert.rejects(loadEmbedder(dir, { sessions: 0, dimension: 768 }), DimensionMismatchError);
    } finally {
      await pool.close();
      await here.close();
    }
  });

  it('idle session threads do not keep the process alive (a forgotten close() cannot hang a CLI)', async () => {
    const script = [
      `import { loadEmbedder } from ${JSON.stringify(new URL('../../src/embed/index.ts', import.meta.url).href)};`,
      `const e = await loadEmbedder(${JSON.stringify(dir)}, { sessions: 2, threads: 1 });`,
      `const [o] = await e.embed([{ docId: 'a', text: 'hello world' }]);`,
      `console.log(o.ok ? o.tokens.join(' ') : o.reason);`,
    ].join('\n');
    const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 20_000,
    });
    assert.equal(stdout.trim(), 'hello world');
  });

  it('close() skips the batches still waiting in the session threads (they are not run first)', async () => {
    const tok = await loadTokenizer(dir);
    const row = [101, ...tok.encode(longText(400)).ids.slice(0, 400), 102];
    const backend = await sessionThreadsBackend(
      {
        modelFile: path.join(dir, 'model.onnx'),
        threads: 1,
        output: undefined,
        probeIds: [101, 102],
        padId: 0,
      },
      1,
    );
    const runs = Array.from({ length: SESSION_THREAD_DEPTH }, () => backend.run([row]));
    const settled = Promise.allSettled(runs);
    await backend.close();
    const outcomes = await settled;
    assert.ok(
      outcomes.every((o) => o.status === 'rejected' && /closed/.test(String(o.reason))),
      'nobody gets a result after close()',
    );
    // The thread held them all; at most the one it was running when close() came was run.
    assert.ok(
      backend.skippedAtClose!() >= SESSION_THREAD_DEPTH - 1,
      `skipped ${backend.skippedAtClose!()} of ${SESSION_THREAD_DEPTH}`,
    );
  });

  it('a dimension mismatch stops at load, naming both numbers and what to change', async () => {
    await assert.rejects(loadEmbedder(dir, { dimension: 768 }), (e: unknown) => {
      assert.ok(e instanceof DimensionMismatchError);
      assert.equal(e.declared, 768);
      assert.equal(e.actual, 32);
      assert.match(e.message, /produces 32-dimensional vectors but 768 is declared/);
      assert.match(e.message, /spec\.embedding\.dimension to 32/);
      assert.match(e.message, /spec\.embedding\.modelPath/);
      return true;
    });
  });

  it('a corrupt or truncated model file is a clear ModelLoadError naming the file', async () => {
    const bad = await copyDir(dir, path.join(tempRoot(), 'corrupt-model'));
    const bytes = await readFile(path.join(dir, 'model.onnx'));
    await writeFile(path.join(bad, 'model.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    const check = (e: unknown): boolean => {
      assert.ok(e instanceof ModelLoadError, String(e));
      assert.equal(e.file, path.join(bad, 'model.onnx'));
      assert.match(e.message, /model\.onnx: .*\(corrupt, truncated or not an ONNX model\?\)/);
      return true;
    };
    await assert.rejects(loadEmbedder(bad), check);
    await writeFile(path.join(bad, 'model.onnx'), 'this is not a model');
    await assert.rejects(loadEmbedder(bad), check);
  });

  it('missing pieces of a model directory are named', async () => {
    const noModel = await copyDir(dir, path.join(tempRoot(), 'no-model'), ['model.onnx']);
    await assert.rejects(loadEmbedder(noModel), /model\.onnx: missing/);
    await assert.rejects(loadEmbedder(path.join(tempRoot(), 'does-not-exist')), ModelLoadError);
    const noTok = await copyDir(dir, path.join(tempRoot(), 'no-tokenizer'), ['tokenizer.json', 'vocab.txt']);
    await assert.rejects(loadEmbedder(noTok), /no tokenizer/);
    const badCfg = await copyDir(dir, path.join(tempRoot(), 'bad-config'));
    await writeFile(path.join(badCfg, 'embedder.json'), '{"pooling": "mean"}');
    await assert.rejects(loadEmbedder(badCfg), /embedder\.json: "pooling": "mean" is not supported/);
  });

  it('a vocab.txt-only directory gives the same vectors as with tokenizer.json (fingerprint differs)', async () => {
    const v = await copyDir(dir, path.join(tempRoot(), 'vocab-only'), ['tokenizer.json']);
    const e = await loadEmbedder(v, { threads: 1 });
    try {
      const docs = SAMPLE_DOCS.map((text, i) => ({ docId: `s${i}`, text }));
      const a = await emb.embed(docs);
      const b = await e.embed(docs);
      a.forEach((o, i) => {
        assert.deepEqual(ok(o).tokens, ok(b[i]).tokens);
        assert.deepEqual(ok(o).vectors, ok(b[i]).vectors);
      });
      assert.notEqual(e.fingerprint, emb.fingerprint);
    } finally {
      await e.close();
    }
  });

  it('takes the tokenizer from tokenizerPath when given (spec.embedding.tokenizerPath)', async () => {
    const bare = await copyDir(dir, path.join(tempRoot(), 'model-only'), ['tokenizer.json', 'vocab.txt']);
    const tokFile = path.join(BERT_BASE_UNCASED_TOKENIZER_DIR, 'tokenizer.json');
    await assert.rejects(loadEmbedder(bare), /no tokenizer/);
    const e = await loadEmbedder(bare, { tokenizerPath: tokFile, threads: 1 });
    try {
      assert.equal(e.info.tokenizerFile, tokFile);
      const docs = [{ docId: 'a', text: SAMPLE_DOCS[1]! }];
      assert.deepEqual(ok((await e.embed(docs))[0]).vectors, ok((await emb.embed(docs))[0]).vectors);
      assert.equal(e.fingerprint, emb.fingerprint, 'same model and tokenizer content, same fingerprint');
      assert.equal(await modelFingerprint(bare, { tokenizerPath: tokFile }), e.fingerprint);
    } finally {
      await e.close();
    }
    await assert.rejects(
      loadEmbedder(bare, { tokenizerPath: path.join(tempRoot(), 'nope.json') }),
      /nope\.json: missing/,
    );
  });

  it('uses the output embedder.json names (a ColBERT-style projection head)', async () => {
    const p = await smallModel('small-proj', { projection: 8, normalize: true });
    const e = await loadEmbedder(p, { dimension: 8, threads: 1 });
    try {
      assert.equal(e.info.output, 'colbert_embeddings');
      assert.equal(e.info.normalize, true, 'normalize default from embedder.json');
      const o = ok((await e.embed([{ docId: 'p', text: SAMPLE_DOCS[0]! }]))[0]);
      assert.equal(o.vectors.length, o.tokens.length * 8);
      assert.ok(Math.abs(Math.hypot(...o.vectors.subarray(0, 8)) - 1) < 1e-5);
    } finally {
      await e.close();
    }
  });

  it('fingerprint: same as modelFingerprint() without loading, cached, changes with the model file', async () => {
    assert.equal(await modelFingerprint(dir, { dimension: D }), emb.fingerprint);
    assert.notEqual(await modelFingerprint(dir, { maxTokens: 256 }), emb.fingerprint);
    assert.ok(
      (await readdir(dir)).includes('.datastate-fingerprints.json'),
      'digest cache written next to the files',
    );
    const other = await smallModel('small-seed2', { seed: 2 });
    const swapped = await copyDir(dir, path.join(tempRoot(), 'swapped'));
    const fp1 = await modelFingerprint(swapped);
    await copyFile(path.join(other, 'model.onnx'), path.join(swapped, 'model.onnx'));
    const fp2 = await modelFingerprint(swapped);
    assert.notEqual(fp1, fp2, 'a different model.onnx is a different fingerprint');
  });

  it('rejects impossible options before loading anything', async () => {
    await assert.rejects(loadEmbedder(dir, { maxTokens: 64, stride: 63 }), (e: unknown) => {
      assert.ok(e instanceof EmbedderOptionsError);
      assert.match(e.message, /stride 63 is larger than a window's 62 word pieces/);
      return true;
    });
    await assert.rejects(loadEmbedder(dir, { maxTokens: 1024 }), /exceeds the model's 512 positions/);
    await assert.rejects(loadEmbedder(dir, { threads: 0 }), /threads must be a positive integer/);
  });

  it('honours an abort signal and refuses work after close', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop now'));
    await assert.rejects(emb.embed([{ docId: 'a', text: 'text' }], ac.signal), /stop now/);
    const e = await loadEmbedder(dir, { threads: 1 });
    await e.close();
    await assert.rejects(e.embed([{ docId: 'a', text: 'text' }]), /closed/);
  });
});
