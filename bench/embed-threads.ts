/**
 * Measures how to use the cores for inference: one onnxruntime session with N intra-op threads, versus N
 * worker threads each running its own session with 1 intra-op thread. Bare session.run on random token ids
 * (no tokenizer, no post-processing), one sequence per run. Not a test.
 *
 *   node bench/embed-threads.ts [--model DIR] [--seconds 20] [--len 384] [--batch 1]
 *
 * Default model: the generated BERT-base-shaped demo model (generated first if absent).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import path from 'node:path';

interface Job {
  modelPath: string;
  intra: number;
  seconds: number;
  len: number;
  batch: number;
  seed: number;
}

async function prepare(job: Job): Promise<() => Promise<{ tokens: number; seconds: number; runs: number }>> {
  const session = await ort.InferenceSession.create(job.modelPath, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: job.intra,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const n = job.len * job.batch;
  const ids = new BigInt64Array(n);
  let s = job.seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    ids[i] = BigInt(1000 + (s % 28000));
  }
  const feeds = {
    input_ids: new ort.Tensor('int64', ids, [job.batch, job.len]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [job.batch, job.len]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(n), [job.batch, job.len]),
  };
  await session.run(feeds); // warm-up
  return async () => {
    const t0 = performance.now();
    let runs = 0;
    while (performance.now() - t0 < job.seconds * 1000) {
      await session.run(feeds);
      runs++;
    }
    const seconds = (performance.now() - t0) / 1000;
    await session.release();
    return { tokens: runs * n, seconds, runs };
  };
}

async function runJob(job: Job): Promise<{ tokens: number; seconds: number; runs: number }> {
  return (await prepare(job))();
}

if (!isMainThread) {
  // Load and warm up, then wait for every worker to be ready so that the measured windows overlap.
  const measure = await prepare(workerData as Job);
  parentPort?.postMessage('ready');
  parentPort?.once('message', () => {
    void measure().then((r) => parentPort?.postMessage(r));
  });
} else {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: '.datastate/models/synthetic-bert-base' },
      seconds: { type: 'string', default: '20' },
      len: { type: 'string', default: '384' },
      batch: { type: 'string', default: '1' },
    },
  });
  const { ensureDemoModel } = await import('../src/embed/index.ts');
  const dir = await ensureDemoModel(values.model, { onProgress: (m) => console.error(m) });
  const base = {
    modelPath: path.join(dir, 'model.onnx'),
    seconds: Number(values.seconds),
    len: Number(values.len),
    batch: Number(values.batch),
  };
  const cores = os.availableParallelism();
  console.log(
    `model ${dir}; ${cores} cores; sequence ${base.len} x batch ${base.batch}; ${base.seconds} s per config`,
  );

  const report = (label: string, tokens: number, seconds: number): void =>
    console.log(`${label.padEnd(44)} ${(tokens / seconds).toFixed(0).padStart(6)} tokens/s`);

  for (let intra = 1; intra <= cores; intra++) {
    const r = await runJob({ ...base, intra, seed: 1 });
    report(`1 session, ${intra} intra-op thread(s)`, r.tokens, r.seconds);
  }
  const inWorkers = async (k: number): Promise<{ tokens: number; seconds: number }[]> => {
    const workers = Array.from(
      { length: k },
      (_, i) => new Worker(new URL(import.meta.url), { workerData: { ...base, intra: 1, seed: i + 1 } }),
    );
    const next = (w: Worker): Promise<unknown> =>
      new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
    await Promise.all(workers.map(next)); // all 'ready'
    const results = workers.map(next);
    for (const w of workers) w.postMessage('go');
    const rs = (await Promise.all(results)) as { tokens: number; seconds: number }[];
    await Promise.all(workers.map((w) => w.terminate()));
    return rs;
  };
  const rs = await inWorkers(cores);
  report(
    `${cores} worker threads x 1 intra-op thread`,
    rs.reduce((a, r) => a + r.tokens, 0),
    Math.max(...rs.map((r) => r.seconds)),
  );
}
