/**
 * int8 vs fp32 (child of bench/run.ts, row 7): `datastate quantize` output against its fp32 source on the same PMC
 * abstracts, in one process.
 *
 * 1. Speed, bare: onnxruntime `session.run` on prepared inputs (the abstracts tokenized as the embedder feeds them,
 *    truncated to maxTokens - 2 word pieces between [CLS] and [SEP], one sequence per run), one session per model
 *    with `cores` intra-op threads, measured in alternating chunks of documents (fp32 then int8, then int8 then
 *    fp32, ...), so that a change in machine load hits both alike.
 * 2. Accuracy, through the real embedder (src/embed/quantize-compare.ts, what `datastate model compare` prints):
 *    per-token cosine int8 vs fp32 (mean, 1st percentile, min) and MaxSim rank agreement for queries cut from
 *    the abstracts.
 *
 *   node bench/quantize.ts --fp32 DIR --int8 DIR --corpus PMC.tar.gz [--docs 200] [--chunk 10] [--queries 20]
 *
 * Prints one JSON object.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { loadTokenizer, planWindows } from '../src/embed/index.ts';
import { compareModels } from '../src/embed/quantize-compare.ts';
import { loadAbstracts } from './embed-corpus.ts';
import { emit, log } from './lib.ts';

const { values } = parseArgs({
  options: {
    fp32: { type: 'string' },
    int8: { type: 'string' },
    corpus: { type: 'string' },
    docs: { type: 'string', default: '200' },
    chunk: { type: 'string', default: '10' },
    queries: { type: 'string', default: '20' },
    'max-tokens': { type: 'string', default: '512' },
  },
});
if (!values.fp32 || !values.int8 || !values.corpus)
  throw new Error('--fp32, --int8 and --corpus are required');
const docs = (await loadAbstracts(values.corpus)).docs.slice(0, Number(values.docs));
const tok = await loadTokenizer(values.fp32);
const window = Number(values['max-tokens']) - tok.prefix.ids.length - tok.suffix.ids.length;
const sequences = docs.map((d) => {
  const pieces = tok.encode(d.text).ids;
  const w = planWindows(pieces.length, window)[0]!;
  return [...tok.prefix.ids, ...pieces.slice(w.start, w.end), ...tok.suffix.ids];
});
const tokens = sequences.reduce((n, s) => n + s.length, 0);
const threads = os.availableParallelism();

async function open(dir: string) {
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const output = session.outputNames.includes('last_hidden_state')
    ? 'last_hidden_state'
    : session.outputNames[0]!;
  const t = (v: number[]) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from(v, (x) => BigInt(x)),
      [1, v.length],
    );
  const feeds = sequences.map((ids) => {
    const f: Record<string, ort.Tensor> = { input_ids: t(ids), attention_mask: t(ids.map(() => 1)) };
    if (session.inputNames.includes('token_type_ids')) f.token_type_ids = t(ids.map(() => 0));
    return f;
  });
  await session.run(feeds[0]!, [output]); // warm-up, not timed
  return { session, output, feeds, seconds: 0 };
}
const fp32 = await open(values.fp32);
const int8 = await open(values.int8);
const chunk = Math.max(1, Number(values.chunk));
for (let start = 0, k = 0; start < sequences.length; start += chunk, k++) {
  for (const m of k % 2 === 0 ? [fp32, int8] : [int8, fp32]) {
    const t0 = performance.now();
    for (let i = start; i < Math.min(sequences.length, start + chunk); i++)
      await m.session.run(m.feeds[i]!, [m.output]);
    m.seconds += (performance.now() - t0) / 1000;
  }
}
await fp32.session.release();
await int8.session.release();
log(
  `  bare: fp32 ${(tokens / fp32.seconds).toFixed(0)} tokens/s, int8 ${(tokens / int8.seconds).toFixed(0)} tokens/s`,
);

const report = await compareModels(
  values.fp32,
  values.int8,
  docs.map((d) => ({ docId: d.docId, text: d.text })),
  { queries: Number(values.queries) },
);
emit({
  documents: docs.length,
  tokens,
  threads,
  bare: {
    fp32: { seconds: fp32.seconds, tokensPerSecond: tokens / fp32.seconds },
    int8: { seconds: int8.seconds, tokensPerSecond: tokens / int8.seconds },
    ratio: fp32.seconds / int8.seconds,
  },
  compare: report,
});
