/**
 * Embedding benchmark (not a test): `npm run bench:embed`.
 *
 * Prints tokens/s of bare `session.run` on prepared inputs (the limit: every sequence already tokenized and in
 * a tensor, one sequence per run, so no padding) beside the embedder end to end (`embed()` on the abstracts'
 * text: tokenize + group + pad + run + collect vectors + optional normalization) on the same PMC abstracts.
 * The two are measured in alternating chunks of documents, so that a change in machine load hits both alike.
 * Target: end to end >= 95% of the bare rate.
 *
 *   node bench/embed.ts [--model DIR] [--corpus PATH] [--docs 200] [--chunk 32] [--threads N]
 *                       [--max-tokens 512] [--stride N] [--normalize] [--bare-batched]
 *
 * Default model: the generated BERT-base-shaped demo model (random weights; generated on first use, ~7 s).
 * --bare-batched adds a third measurement: bare session.run on the very batches the embedder forms (padding
 * included), which separates the cost of padding from the embedder's own overhead.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import {
  ensureDemoModel,
  groupBatches,
  loadEmbedder,
  loadTokenizer,
  planWindows,
} from '../src/embed/index.ts';
import { DEFAULT_CORPUS, loadAbstracts, type BenchDoc } from './embed-corpus.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    corpus: { type: 'string', default: DEFAULT_CORPUS },
    docs: { type: 'string', default: '200' },
    chunk: { type: 'string', default: '32' },
    threads: { type: 'string' },
    'max-tokens': { type: 'string', default: '512' },
    stride: { type: 'string' },
    normalize: { type: 'boolean', default: false },
    'bare-batched': { type: 'boolean', default: false },
  },
});

const say = (m: string): void => console.log(m);
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));

let modelDir = values.model;
if (modelDir === undefined) {
  modelDir = await ensureDemoModel(path.join('.datastate', 'models', 'synthetic-bert-base'), {
    onProgress: say,
  });
  say(
    'model: the generated demo model: a BERT-base-shaped encoder with RANDOM weights (speed is real, vectors are not)',
  );
}
const threads = num(values.threads) ?? os.availableParallelism();
const maxTokens = Number(values['max-tokens']);
const stride = num(values.stride);
const chunk = Number(values.chunk);

const { docs: all, reader } = await loadAbstracts(values.corpus);
const docs: BenchDoc[] = all.slice(0, Number(values.docs));
say(`corpus: ${docs.length} of ${all.length} abstracts from ${values.corpus} (${reader})`);

const embedder = await loadEmbedder(modelDir, {
  maxTokens,
  ...(stride !== undefined && { stride }),
  normalize: values.normalize,
  threads,
});
const { info } = embedder;
say(
  `embedder: ${embedder.modelId}, dimension ${embedder.dimension}, maxTokens ${info.maxTokens}` +
    `${info.stride ? `, stride ${info.stride}` : ' (truncation)'}, ${info.threads} intra-op thread(s), ` +
    `batches of <= ${info.batch.maxBatchSize} x ${info.batch.maxBatchTokens} tokens, <= ${info.batch.maxPadFraction * 100}% padding`,
);

// Prepared inputs for the bare runs: the same sequences the embedder feeds (special tokens, truncation/windows).
const tok = await loadTokenizer(modelDir);
const windowSize = maxTokens - tok.prefix.ids.length - tok.suffix.ids.length;
const seqsOf = (d: BenchDoc): number[][] => {
  const ids = tok.encode(d.text).ids;
  return planWindows(ids.length, windowSize, stride).map((w) => [
    ...tok.prefix.ids,
    ...ids.slice(w.start, w.end),
    ...tok.suffix.ids,
  ]);
};
const feedsOf = (rows: number[][]): Record<string, ort.Tensor> => {
  const b = rows.length;
  const s = Math.max(...rows.map((r) => r.length));
  const ids = new BigInt64Array(b * s);
  const mask = new BigInt64Array(b * s);
  rows.forEach((r, i) =>
    r.forEach((id, j) => {
      ids[i * s + j] = BigInt(id);
      mask[i * s + j] = 1n;
    }),
  );
  return {
    input_ids: new ort.Tensor('int64', ids, [b, s]),
    attention_mask: new ort.Tensor('int64', mask, [b, s]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(b * s), [b, s]),
  };
};
const session = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'), {
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const output = info.output;

const chunks: BenchDoc[][] = [];
for (let i = 0; i < docs.length; i += chunk) chunks.push(docs.slice(i, i + chunk));
const prepared = chunks.map((c) => c.flatMap(seqsOf).map((r) => ({ feeds: feedsOf([r]), tokens: r.length })));
const preparedBatched = values['bare-batched']
  ? chunks.map((c) => {
      const rows = c.flatMap(seqsOf);
      return groupBatches(
        rows.map((r) => r.length),
        info.batch,
      ).map((g) => ({
        feeds: feedsOf(g.map((i) => rows[i]!)),
        tokens: g.reduce((a, i) => a + rows[i]!.length, 0),
      }));
    })
  : [];

// Warm up both paths.
await session.run(prepared[0]![0]!.feeds, [output]);
await embedder.embed(chunks[0]!.slice(0, 2));

const load0 = os.loadavg()[0]!;
let bareMs = 0;
let bareTokens = 0;
let bareBatchedMs = 0;
let e2eMs = 0;
let vectors = 0;
let failed = 0;
const stats0 = { ...embedder.stats };
for (let c = 0; c < chunks.length; c++) {
  let t0 = performance.now();
  for (const p of prepared[c]!) {
    await session.run(p.feeds, [output]);
    bareTokens += p.tokens;
  }
  bareMs += performance.now() - t0;

  if (values['bare-batched']) {
    t0 = performance.now();
    for (const p of preparedBatched[c]!) await session.run(p.feeds, [output]);
    bareBatchedMs += performance.now() - t0;
  }

  t0 = performance.now();
  const out = await embedder.embed(chunks[c]!.map((d) => ({ docId: d.docId, text: d.text })));
  e2eMs += performance.now() - t0;
  for (const o of out) {
    if (o.ok) vectors += o.tokens.length;
    else failed++;
  }
  process.stderr.write(`\r  chunk ${c + 1}/${chunks.length}`);
}
process.stderr.write('\n');
const load1 = os.loadavg()[0]!;
const fed = embedder.stats.tokens - stats0.tokens;
const padded = embedder.stats.paddedTokens - stats0.paddedTokens;
if (fed !== bareTokens) throw new Error(`internal: embedder fed ${fed} tokens, bare runs ${bareTokens}`);

const bareRate = bareTokens / (bareMs / 1000);
const e2eRate = fed / (e2eMs / 1000);
const pad = (s: string): string => s.padEnd(58);
say('');
say(`documents ${docs.length} (${failed} failed), model input tokens ${bareTokens}, vectors out ${vectors}`);
say(
  `${pad('bare session.run, prepared inputs, 1 sequence per run')}${bareRate.toFixed(0).padStart(7)} tokens/s`,
);
if (values['bare-batched']) {
  const r = bareTokens / (bareBatchedMs / 1000);
  say(`${pad("bare session.run, the embedder's padded batches")}${r.toFixed(0).padStart(7)} tokens/s`);
}
say(
  `${pad('embedder end to end (tokenize + run + post-process)')}${e2eRate.toFixed(0).padStart(7)} tokens/s` +
    `  = ${((100 * e2eRate) / bareRate).toFixed(1)}% of bare (target >= 95%)`,
);
say(
  `padding: ${padded} pad positions for ${fed} tokens (${((100 * padded) / fed).toFixed(1)}%); ` +
    `load average ${load0.toFixed(2)} -> ${load1.toFixed(2)} on ${os.availableParallelism()} cores`,
);
await embedder.close();
await session.release();
