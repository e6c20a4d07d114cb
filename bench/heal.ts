/**
 * End-to-end healing (child of bench/run.ts): one reconcile() pass with the CLI's own wiring (src/app/wiring.ts,
 * the spec built by the CLI's specFromFlags), as `datastate ensure` runs it, instrumented from outside the
 * engine: the store's writeEmbeddings is wrapped to time the writes, the embedder is kept to read what it fed
 * the model, and the engine's events give the embedding phase's start and end.
 *
 *   node bench/heal.ts --db FILE --model DIR --dimension D --doc-count N [--source PATH] [--target-state S]
 *                      [--concurrency N]   (an experiment: spec.healing.concurrency, default 1)
 *                      [--prefetch N]      (an experiment: batches read and tokenized ahead, default 1; 0 = before)
 *                      [--skip-writes]     (a diagnostic: writeEmbeddings does nothing; not ready afterwards)
 *                      [--defer-writes]    (a diagnostic: the writes are kept and done after the embed phase, alone,
 *                                           to measure their CPU without inference beside them)
 *
 * Prints one JSON object (seconds, healed counts, tokens fed to the model, write time, ...).
 */
import { parseArgs } from 'node:util';
import type { Embedder } from '../src/core/ports.ts';
import type { EngineEvent } from '../src/heal/events.ts';
import type { TokenEmbedder } from '../src/embed/index.ts';
import { reconcile } from '../src/heal/reconcile.ts';
import { inProcessBatchRunner } from '../src/heal/batch-runner.ts';
import { backoffPolicyOf } from '../src/heal/retry.ts';
import { specFromFlags } from '../src/cli/spec-from-flags.ts';
import { wire } from '../src/app/wiring.ts';
import { emit, log } from './lib.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    model: { type: 'string' },
    dimension: { type: 'string' },
    'doc-count': { type: 'string' },
    source: { type: 'string' },
    'target-state': { type: 'string' },
    /** An experiment, not what a user runs: overrides spec.healing.concurrency (the CLI has no flag for it). */
    concurrency: { type: 'string' },
    /** An experiment: batches read and handed to the model ahead of those embedding (embedBatches' prefetch). */
    prefetch: { type: 'string' },
    /** A diagnostic: embed everything but write nothing (the dataset is then, of course, not ready). */
    'skip-writes': { type: 'boolean', default: false },
    /** A diagnostic: keep the writes and do them after the embed phase (vectors held in memory meanwhile). */
    'defer-writes': { type: 'boolean', default: false },
  },
});

const skipWrites = values['skip-writes'];
const deferWrites = values['defer-writes'];
if (skipWrites && deferWrites)
  throw new Error(
    '--skip-writes and --defer-writes exclude each other: the writes are either thrown away or kept for later',
  );

const { spec } = specFromFlags(
  {
    docCount: values['doc-count'],
    db: values.db,
    model: values.model,
    dimension: values.dimension,
    source: values.source,
    targetState: values['target-state'],
  },
  'AutoFix',
);
if (values.concurrency !== undefined) spec.healing.concurrency = Number(values.concurrency);

const t0 = performance.now();
const at = () => (performance.now() - t0) / 1000;
const marks: { embedStart?: number; embedEnd?: number; loadEnd?: number; modelSeconds?: number } = {};
/** CPU seconds the main thread has used. */
const threadCpuSeconds = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1e6;
};
/** CPU time of the whole process (every thread: getrusage RUSAGE_SELF) and of the main thread at the embedding
 *  phase's start and end. */
const cpu: { start?: NodeJS.CpuUsage; end?: NodeJS.CpuUsage; mainStart?: number; mainEnd?: number } = {};
let lastLog = 0;
const onEvent = (e: EngineEvent) => {
  if (e.type === 'embed-progress') {
    if (marks.embedStart === undefined) {
      marks.embedStart = at();
      cpu.start = process.cpuUsage();
      cpu.mainStart = threadCpuSeconds();
    }
    marks.embedEnd = at();
    cpu.end = process.cpuUsage();
    cpu.mainEnd = threadCpuSeconds();
    if (at() - lastLog > 10) {
      lastLog = at();
      log(
        `  ${e.progress.processed}/${e.progress.total} documents, ${e.tokens} tokens, ${at().toFixed(0)} s`,
      );
    }
  }
  if (e.type === 'load-progress') marks.loadEnd = at();
  if (e.type === 'embedder-ready') marks.modelSeconds = e.seconds;
};
const wired = await wire(spec, onEvent, (m) => log(`  note: ${m.slice(0, 120)}`));
const deps = wired.deps;

let embedder: TokenEmbedder | null = null;
const openEmbedder = deps.openEmbedder;
deps.openEmbedder = async (): Promise<Embedder> => {
  embedder = (await openEmbedder()) as TokenEmbedder;
  return embedder;
};
if (values.prefetch !== undefined) {
  const prefetch = Number(values.prefetch);
  deps.openBatchRunner = async () =>
    inProcessBatchRunner({
      store: deps.store,
      embedder: await deps.openEmbedder(),
      backoff: backoffPolicyOf(spec),
      concurrency: spec.healing.concurrency,
      prefetch,
    });
}
/** cpuSeconds: CPU time of the main thread inside the writes (node:sqlite runs them on it, synchronously). */
const writes = { calls: 0, documents: 0, rows: 0, bytes: 0, seconds: 0, cpuSeconds: 0 };
const store = deps.store;
const writeEmbeddings = store.writeEmbeddings.bind(store);
const deferred: Parameters<typeof writeEmbeddings>[0][] = [];
const timedWrite = async (ws: Parameters<typeof writeEmbeddings>[0]): Promise<void> => {
  const w0 = performance.now();
  const c0 = threadCpuSeconds();
  await writeEmbeddings(ws);
  writes.seconds += (performance.now() - w0) / 1000;
  writes.cpuSeconds += threadCpuSeconds() - c0;
};
store.writeEmbeddings = async (ws) => {
  if (deferWrites) deferred.push(ws);
  else if (!skipWrites) await timedWrite(ws);
  writes.calls++;
  writes.documents += ws.length;
  for (const w of ws) {
    writes.rows += w.embedding.tokens.length;
    writes.bytes += w.embedding.vectors.byteLength;
  }
};

const result = await reconcile(spec, deps);
let { ready, outcome } = result;
if (deferWrites) {
  // The writes alone, in the order the heal made them; then a pass that must find the dataset whole.
  for (const ws of deferred.splice(0)) await timedWrite(ws);
  ({ ready, outcome } = await reconcile(spec, deps));
}
const seconds = at();
await wired.close();
const e = embedder as TokenEmbedder | null;
emit({
  ready,
  outcome,
  seconds,
  healed: result.healed,
  failures: result.failures.length,
  documents: result.documents,
  embedded: result.embedded,
  embed:
    marks.embedStart === undefined
      ? null
      : {
          seconds: marks.embedEnd! - marks.embedStart,
          start: marks.embedStart,
          end: marks.embedEnd,
          cpuSeconds: (cpu.end!.user + cpu.end!.system - cpu.start!.user - cpu.start!.system) / 1e6,
          /** Of which the main thread's (reading, tokenizing, handing batches out, taking vectors in, writing). */
          mainThreadCpuSeconds: cpu.mainEnd! - cpu.mainStart!,
        },
  loadSeconds: marks.loadEnd ?? null,
  modelLoadSeconds: marks.modelSeconds ?? null,
  fed: e ? { ...e.stats } : null,
  layout: e
    ? { sessions: e.info.sessions, threads: e.info.threads, maxTokens: e.info.maxTokens, batch: e.info.batch }
    : null,
  batchSize: spec.healing.batchSize,
  concurrency: spec.healing.concurrency,
  prefetch: values.prefetch === undefined ? 1 : Number(values.prefetch),
  writes,
  skipWrites,
  deferWrites,
});
