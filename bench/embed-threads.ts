/**
 * Measures how to use the cores for inference (not a test): one onnxruntime session with N intra-op threads,
 * versus N worker threads each running its own session with 1 intra-op thread. Bare session.run on random
 * token ids (no tokenizer, no post-processing).
 *
 * Every configuration is loaded and warmed up first; then the configurations take turns in short rounds
 * (A B C A B C ...), so that a change in machine load hits all of them alike. Reported per configuration: the
 * best round and the median round, in tokens/s.
 *
 *   node bench/embed-threads.ts [--model DIR] [--rounds 4] [--round-seconds 5] [--len 384] [--batch 1]
 *                               [--configs intra1,intra2,workers]
 *
 * Default model: the generated BERT-base-shaped demo model (generated first if absent).
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

interface Job {
  modelPath: string;
  intra: number;
  len: number;
  batch: number;
  seed: number;
}

interface Runner {
  /** Runs for `seconds`; returns tokens processed and the exact elapsed seconds. */
  measure(seconds: number): Promise<{ tokens: number; seconds: number }>;
  close(): Promise<void>;
}

async function prepare(job: Job): Promise<Runner> {
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
  return {
    async measure(seconds) {
      const t0 = performance.now();
      let runs = 0;
      while (performance.now() - t0 < seconds * 1000) {
        await session.run(feeds);
        runs++;
      }
      return { tokens: runs * n, seconds: (performance.now() - t0) / 1000 };
    },
    close: () => session.release(),
  };
}

if (!isMainThread) {
  const runner = await prepare(workerData as Job);
  parentPort!.on('message', (msg: { seconds: number } | 'close') => {
    if (msg === 'close') void runner.close().then(() => parentPort!.close());
    else void runner.measure(msg.seconds).then((r) => parentPort!.postMessage(r));
  });
  parentPort!.postMessage('ready');
} else {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: '.datastate/models/synthetic-bert-base' },
      rounds: { type: 'string', default: '4' },
      'round-seconds': { type: 'string', default: '5' },
      len: { type: 'string', default: '384' },
      batch: { type: 'string', default: '1' },
      /** comma-separated subset of: intra1, intra2 (..intraN), workers */
      configs: { type: 'string' },
    },
  });
  const { ensureDemoModel } = await import('../src/embed/index.ts');
  const dir = await ensureDemoModel(values.model, { onProgress: (m) => console.error(m) });
  const base = {
    modelPath: path.join(dir, 'model.onnx'),
    len: Number(values.len),
    batch: Number(values.batch),
  };
  const cores = os.availableParallelism();
  const rounds = Number(values.rounds);
  const roundSeconds = Number(values['round-seconds']);
  const wanted = (c: string): boolean =>
    values.configs === undefined || values.configs.split(',').includes(c);

  const configs: { label: string; runner: Runner }[] = [];
  for (let intra = 1; intra <= cores; intra++) {
    if (wanted(`intra${intra}`)) {
      configs.push({
        label: `1 session, ${intra} intra-op thread(s)`,
        runner: await prepare({ ...base, intra, seed: 1 }),
      });
    }
  }
  if (wanted('workers')) {
    const workers = Array.from(
      { length: cores },
      (_, i) => new Worker(new URL(import.meta.url), { workerData: { ...base, intra: 1, seed: i + 1 } }),
    );
    const next = (w: Worker): Promise<unknown> =>
      new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
    await Promise.all(workers.map(next)); // all loaded and warmed up
    configs.push({
      label: `${cores} worker threads x 1 intra-op thread`,
      runner: {
        async measure(seconds) {
          const results = workers.map(next);
          for (const w of workers) w.postMessage({ seconds });
          const rs = (await Promise.all(results)) as { tokens: number; seconds: number }[];
          return {
            tokens: rs.reduce((a, r) => a + r.tokens, 0),
            seconds: Math.max(...rs.map((r) => r.seconds)),
          };
        },
        async close() {
          for (const w of workers) w.postMessage('close');
          await Promise.all(workers.map((w) => w.terminate()));
        },
      },
    });
  }

  console.log(
    `model ${dir}; ${cores} cores; sequence ${base.len} x batch ${base.batch}; ` +
      `${rounds} rounds of ${roundSeconds} s per configuration, taking turns`,
  );
  const rates = configs.map(() => [] as number[]);
  const load0 = os.loadavg()[0]!;
  for (let r = 0; r < rounds; r++) {
    for (let c = 0; c < configs.length; c++) {
      const m = await configs[c]!.runner.measure(roundSeconds);
      rates[c]!.push(m.tokens / m.seconds);
    }
  }
  const load1 = os.loadavg()[0]!;
  configs.forEach((c, i) => {
    const sorted = [...rates[i]!].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(
      `${c.label.padEnd(40)} best ${sorted.at(-1)!.toFixed(0).padStart(5)}  median ${median.toFixed(0).padStart(5)} tokens/s` +
        `   (rounds: ${rates[i]!.map((x) => x.toFixed(0)).join(', ')})`,
    );
  });
  console.log(`load average ${load0.toFixed(2)} -> ${load1.toFixed(2)}`);
  for (const c of configs) await c.runner.close();
}
