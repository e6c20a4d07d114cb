/**
 * The limit (child of bench/run.ts): bare onnxruntime `session.run` on prepared tensors, in the embedder's
 * default layout (one worker thread per core, at most 4, each with its own session of cores/workers intra-op
 * threads, the same session options), each thread taking the next sequence from a shared counter. One sequence
 * per run, so no padding. The sequences are exactly what the embedder feeds for the documents of the dataset:
 * the target set's abstracts as the store holds them, tokenized, truncated to maxTokens - 2 word pieces,
 * between the special tokens.
 *
 *   node bench/bare.ts --model DIR --db FILE --docs N [--every K] [--part 0|1] [--max-tokens 512]
 *
 * --every K takes every K-th document of the target set (in its order), --part P the P-th of the two
 * interleaved halves of that sample (so two runs, before and after a heal, see the same length mix).
 * Prints one JSON object: { sequences, tokens, seconds, cpuSeconds (all threads), tokensPerSecond, workers, threads }.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

interface ThreadData {
  modelFile: string;
  threads: number;
  sequences: number[][];
}

async function thread(d: ThreadData): Promise<void> {
  const session = await ort.InferenceSession.create(d.modelFile, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: d.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const meta = session.inputMetadata.find((m) => m.name === 'input_ids');
  const int32 = meta?.isTensor === true && meta.type === 'int32';
  const output = session.outputNames.includes('last_hidden_state')
    ? 'last_hidden_state'
    : session.outputNames[0]!;
  const tensor = (values: number[]): ort.Tensor =>
    int32
      ? new ort.Tensor('int32', Int32Array.from(values), [1, values.length])
      : new ort.Tensor(
          'int64',
          BigInt64Array.from(values, (v) => BigInt(v)),
          [1, values.length],
        );
  const feeds = d.sequences.map((ids) => {
    const f: Record<string, ort.Tensor> = {
      input_ids: tensor(ids),
      attention_mask: tensor(ids.map(() => 1)),
    };
    if (session.inputNames.includes('token_type_ids')) f.token_type_ids = tensor(ids.map(() => 0));
    return f;
  });
  await session.run(feeds[0]!, [output]); // warm-up, not timed
  parentPort!.postMessage('ready');
  parentPort!.once('message', async (counter: Int32Array) => {
    for (;;) {
      const i = Atomics.add(counter, 0, 1);
      if (i >= feeds.length) break;
      await session.run(feeds[i]!, [output]);
    }
    await session.release();
    parentPort!.postMessage('done');
  });
}

if (!isMainThread) await thread(workerData as ThreadData);
else await main();

async function main(): Promise<void> {
  const { loadTokenizer, planWindows } = await import('../src/embed/index.ts');
  const { openSqliteStore } = await import('../src/store/embedded.ts');
  const { inspect } = await import('../src/heal/inspect.ts');
  const { emit } = await import('./lib.ts');
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      db: { type: 'string' },
      docs: { type: 'string' },
      every: { type: 'string', default: '1' },
      part: { type: 'string' },
      'max-tokens': { type: 'string', default: '512' },
      dimension: { type: 'string', default: '768' },
    },
  });
  if (!values.model || !values.db || !values.docs) throw new Error('--model, --db and --docs are required');
  const every = Number(values.every);
  const store = openSqliteStore({ path: values.db, readOnly: true });
  const insp = await inspect(
    store,
    Number(values.docs),
    { orderBy: 'doc_id', seed: 0 },
    { dimension: Number(values.dimension) },
  );
  let ids = insp.target.map((t) => t.candidate.docId).filter((_, i) => i % every === 0);
  if (values.part !== undefined) ids = ids.filter((_, j) => j % 2 === Number(values.part));
  const texts = await store.readTexts(ids);
  await store.close();

  const tok = await loadTokenizer(values.model);
  const window = Number(values['max-tokens']) - tok.prefix.ids.length - tok.suffix.ids.length;
  const sequences = texts.flatMap((t) => {
    const pieces = tok.encode(t.text).ids;
    return planWindows(pieces.length, window).map((w) => [
      ...tok.prefix.ids,
      ...pieces.slice(w.start, w.end),
      ...tok.suffix.ids,
    ]);
  });
  const tokens = sequences.reduce((n, s) => n + s.length, 0);

  // The embedder's default layout (src/embed/onnx-embedder.ts): one worker per core (at most 4), cores/workers threads.
  const cores = os.availableParallelism();
  const workers = Math.min(cores, 4);
  const threads = Math.max(1, Math.floor(cores / workers));
  const data: ThreadData = { modelFile: path.join(values.model, 'model.onnx'), threads, sequences };
  const pool = Array.from(
    { length: workers },
    () => new Worker(new URL(import.meta.url), { workerData: data }),
  );
  const next = (w: Worker): Promise<unknown> =>
    new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  await Promise.all(pool.map(next));
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const done = pool.map(next);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const w of pool) w.postMessage(counter);
  await Promise.all(done);
  const seconds = (performance.now() - t0) / 1000;
  const c1 = process.cpuUsage(c0);
  // CPU time of every thread of the process meanwhile (getrusage RUSAGE_SELF): what inference costs in core-seconds.
  const cpuSeconds = (c1.user + c1.system) / 1e6;
  await Promise.all(pool.map((w) => w.terminate()));
  emit({
    documents: texts.length,
    sequences: sequences.length,
    tokens,
    seconds,
    cpuSeconds,
    tokensPerSecond: tokens / seconds,
    workers,
    threads,
  });
}
