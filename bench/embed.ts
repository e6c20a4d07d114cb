/**
 * Embedding benchmark (not a test): `npm run bench:embed`.
 *
 * Prints tokens/s of bare `session.run` on prepared inputs (the limit) beside the embedder end to end
 * (`embed()` on the abstracts' text: tokenize + group + pad + run + collect vectors + optional normalization)
 * on the same PMC abstracts, with the same parallel layout: the embedder's default is one worker thread per core,
 * each with its own session, so "bare" is that many threads each calling session.run in a loop on
 * ready-made tensors (one sequence per run, so no padding), taking the next sequence from a shared counter.
 * The two are measured in alternating chunks of documents, so that a change in machine load hits both alike.
 * Target: end to end >= 95% of the bare rate.
 *
 *   node bench/embed.ts [--model DIR] [--corpus PATH] [--docs 200] [--chunk 32] [--sessions N] [--threads N]
 *                       [--max-tokens 512] [--stride N] [--normalize] [--bare-batched]
 *
 * Default model: the generated BERT-base-shaped demo model (random weights; generated on first use, ~7 s).
 * --bare-batched adds a third measurement: bare session.run on the very batches the embedder forms (padding
 * included), which separates the cost of padding from the embedder's own overhead.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

/** Sequences of token ids per chunk; for the batched variant, a list of batches (lists of rows) per chunk. */
interface BareData {
  modelFile: string;
  threads: number;
  output: string;
  single: number[][][];
  batched: number[][][][];
}

interface BareRunner {
  /** Runs every prepared input of chunk `c` once; `counter` is shared by all threads of the runner. */
  run(c: number, variant: 'single' | 'batched', counter: Int32Array): Promise<void>;
}

function feedsOf(rows: number[][]): Record<string, ort.Tensor> {
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
}

/** A bare runner on this thread: prepared tensors, then nothing but session.run. */
async function bareHere(d: BareData): Promise<BareRunner> {
  const session = await ort.InferenceSession.create(d.modelFile, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: d.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const single = d.single.map((c) => c.map((r) => feedsOf([r])));
  const batched = d.batched.map((c) => c.map((rows) => feedsOf(rows)));
  await session.run(single[0]![0]!, [d.output]); // warm-up
  return {
    async run(c, variant, counter) {
      const list = (variant === 'single' ? single : batched)[c]!;
      for (;;) {
        const i = Atomics.add(counter, 0, 1);
        if (i >= list.length) return;
        await session.run(list[i]!, [d.output]);
      }
    },
  };
}

if (!isMainThread) {
  const runner = await bareHere(workerData as BareData);
  parentPort!.on('message', (m: { c: number; variant: 'single' | 'batched'; counter: Int32Array }) => {
    void runner.run(m.c, m.variant, m.counter).then(() => parentPort!.postMessage('done'));
  });
  parentPort!.postMessage('ready');
} else {
  await main();
}

async function main(): Promise<void> {
  const { ensureDemoModel, groupBatches, loadEmbedder, loadTokenizer, planWindows } =
    await import('../src/embed/index.ts');
  const { DEFAULT_CORPUS, loadAbstracts } = await import('./embed-corpus.ts');
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      corpus: { type: 'string', default: DEFAULT_CORPUS },
      docs: { type: 'string', default: '200' },
      chunk: { type: 'string', default: '32' },
      sessions: { type: 'string' },
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
      'model: the generated demo model, a BERT-base-shaped encoder with RANDOM weights (speed is real, vectors are not)',
    );
  }
  const maxTokens = Number(values['max-tokens']);
  const stride = num(values.stride);
  const chunkSize = Number(values.chunk);
  const sessionsOpt = num(values.sessions);
  const threadsOpt = num(values.threads);

  const { docs: all, reader } = await loadAbstracts(values.corpus);
  const docs = all.slice(0, Number(values.docs));
  say(`corpus: ${docs.length} of ${all.length} abstracts from ${values.corpus} (${reader})`);

  const embedder = await loadEmbedder(modelDir, {
    maxTokens,
    ...(stride !== undefined && { stride }),
    ...(sessionsOpt !== undefined && { sessions: sessionsOpt }),
    ...(threadsOpt !== undefined && { threads: threadsOpt }),
    normalize: values.normalize,
  });
  const { info } = embedder;
  const layout =
    info.sessions === 0
      ? `the calling thread, ${info.threads} intra-op thread(s)`
      : `${info.sessions} session thread(s) x ${info.threads} intra-op thread(s)`;
  say(
    `embedder: ${embedder.modelId}, dimension ${embedder.dimension}, maxTokens ${info.maxTokens}` +
      `${info.stride ? `, stride ${info.stride}` : ' (truncation)'}; ${layout}; batches of <= ` +
      `${info.batch.maxBatchSize} x ${info.batch.maxBatchTokens} tokens, <= ${info.batch.maxPadFraction * 100}% padding`,
  );

  // Prepared inputs for the bare runs: the same sequences the embedder feeds (special tokens, truncation/windows).
  const tok = await loadTokenizer(modelDir);
  const windowSize = maxTokens - tok.prefix.ids.length - tok.suffix.ids.length;
  const seqsOf = (d: { text: string }): number[][] => {
    const ids = tok.encode(d.text).ids;
    return planWindows(ids.length, windowSize, stride).map((w) => [
      ...tok.prefix.ids,
      ...ids.slice(w.start, w.end),
      ...tok.suffix.ids,
    ]);
  };
  const chunks: (typeof docs)[] = [];
  for (let i = 0; i < docs.length; i += chunkSize) chunks.push(docs.slice(i, i + chunkSize));
  const single = chunks.map((c) => c.flatMap(seqsOf));
  const batched = values['bare-batched']
    ? single.map((rows) =>
        groupBatches(
          rows.map((r) => r.length),
          info.batch,
        ).map((g) => g.map((i) => rows[i]!)),
      )
    : [];
  const bareData: BareData = {
    modelFile: path.join(modelDir, 'model.onnx'),
    threads: info.threads,
    output: info.output,
    single,
    batched,
  };

  // The bare runner(s), in the embedder's layout.
  let runChunk: (c: number, variant: 'single' | 'batched') => Promise<void>;
  let closeBare: () => Promise<void>;
  if (info.sessions === 0) {
    const here = await bareHere(bareData);
    runChunk = (c, variant) => here.run(c, variant, new Int32Array(new SharedArrayBuffer(4)));
    closeBare = async () => {};
  } else {
    const workers = Array.from(
      { length: info.sessions },
      () => new Worker(new URL(import.meta.url), { workerData: bareData }),
    );
    for (const w of workers) {
      w.on('error', (e) => {
        console.error(`bare worker failed: ${e.message}`);
        process.exit(1);
      });
    }
    const next = (w: Worker): Promise<unknown> => new Promise((resolve) => w.once('message', resolve));
    await Promise.all(workers.map(next));
    runChunk = async (c, variant) => {
      const counter = new Int32Array(new SharedArrayBuffer(4));
      const done = workers.map(next);
      for (const w of workers) w.postMessage({ c, variant, counter });
      await Promise.all(done);
    };
    closeBare = async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    };
  }

  // Warm up the embedder.
  await embedder.embed(chunks[0]!.slice(0, 2 * Math.max(1, info.sessions)));

  const load0 = os.loadavg()[0]!;
  const t = { bare: 0, batched: 0, e2e: 0 };
  let vectors = 0;
  let failed = 0;
  const stats0 = { ...embedder.stats };
  const bareTokens = single.flat().reduce((a, r) => a + r.length, 0);
  for (let c = 0; c < chunks.length; c++) {
    let t0 = performance.now();
    await runChunk(c, 'single');
    t.bare += performance.now() - t0;

    if (values['bare-batched']) {
      t0 = performance.now();
      await runChunk(c, 'batched');
      t.batched += performance.now() - t0;
    }

    t0 = performance.now();
    const out = await embedder.embed(chunks[c]!.map((d) => ({ docId: d.docId, text: d.text })));
    t.e2e += performance.now() - t0;
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

  const bareRate = bareTokens / (t.bare / 1000);
  const e2eRate = fed / (t.e2e / 1000);
  const label = (s: string): string => s.padEnd(58);
  say('');
  say(
    `documents ${docs.length} (${failed} failed), model input tokens ${bareTokens}, vectors out ${vectors}`,
  );
  say(
    `${label('bare session.run, prepared inputs, 1 sequence per run')}${bareRate.toFixed(0).padStart(7)} tokens/s`,
  );
  if (values['bare-batched']) {
    const r = bareTokens / (t.batched / 1000);
    say(`${label("bare session.run, the embedder's padded batches")}${r.toFixed(0).padStart(7)} tokens/s`);
  }
  say(
    `${label('embedder end to end (tokenize + run + post-process)')}${e2eRate.toFixed(0).padStart(7)} tokens/s` +
      `  = ${((100 * e2eRate) / bareRate).toFixed(1)}% of bare (target >= 95%)`,
  );
  say(
    `padding: ${padded} pad positions for ${fed} tokens (${((100 * padded) / fed).toFixed(1)}%); ` +
      `load average ${load0.toFixed(2)} -> ${load1.toFixed(2)} on ${os.availableParallelism()} cores`,
  );
  await embedder.close();
  await closeBare();
}
