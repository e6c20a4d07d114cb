/**
 * A no-op reconcile of a healthy dataset (child of bench/run.ts), timed in process (no Node start-up, no
 * module loading): the CLI's wiring and reconcile(), as `datastate validate` (ValidateOnly: inspect + checks)
 * and as `datastate ensure` (AutoFix, which finds nothing to heal). Each is run --repeat times; the first run
 * of each mode is reported apart (it opens the store and reads the model's fingerprint cache first).
 * Also times the inspection's store queries one by one (inside the last run), to say where the time goes.
 *
 *   node bench/noop.ts --db FILE --model DIR --dimension D --doc-count N [--repeat 5]
 */
import { parseArgs } from 'node:util';
import type { Store } from '../src/core/store-port.ts';
import { reconcile } from '../src/heal/reconcile.ts';
import { specFromFlags } from '../src/cli/spec-from-flags.ts';
import { wire } from '../src/app/wiring.ts';
import { emit } from './lib.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    model: { type: 'string' },
    dimension: { type: 'string' },
    'doc-count': { type: 'string' },
    repeat: { type: 'string', default: '5' },
  },
});
const repeat = Number(values.repeat);
const flags = {
  docCount: values['doc-count'],
  db: values.db,
  model: values.model,
  dimension: values.dimension,
};

/** Wraps the store's inspection queries to time each. */
function timeQueries(store: Store): Record<string, number> {
  const times: Record<string, number> = {};
  for (const name of ['checkSchema', 'counts', 'candidates', 'embeddingStates'] as const) {
    const f = (store[name] as (...a: unknown[]) => Promise<unknown>).bind(store);
    (store as unknown as Record<string, unknown>)[name] = async (...a: unknown[]) => {
      const t0 = performance.now();
      try {
        return await f(...a);
      } finally {
        times[name] = (times[name] ?? 0) + (performance.now() - t0) / 1000;
      }
    };
  }
  return times;
}

const out: Record<string, unknown> = {};
for (const mode of ['ValidateOnly', 'AutoFix'] as const) {
  const runs: number[] = [];
  let ready = true;
  let queries: Record<string, number> = {};
  let embedded = 0;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    const { spec } = specFromFlags(mode === 'ValidateOnly' ? { ...flags, validateOnly: true } : flags, mode);
    const wired = await wire(
      spec,
      () => undefined,
      () => undefined,
    );
    const times = i === repeat - 1 ? timeQueries(wired.deps.store) : {};
    let opened = false;
    const openEmbedder = wired.deps.openEmbedder;
    wired.deps.openEmbedder = async () => {
      opened = true;
      return openEmbedder();
    };
    const r = await reconcile(spec, wired.deps);
    await wired.close();
    runs.push((performance.now() - t0) / 1000);
    ready &&= r.ready && !opened && r.healed.embedded === 0 && r.healed.documentsLoaded === 0;
    embedded = r.embedded;
    queries = times;
  }
  const rest = runs.slice(1).sort((a, b) => a - b);
  out[mode] = {
    first: runs[0],
    median: rest[Math.floor(rest.length / 2)] ?? runs[0],
    runs,
    ready,
    embedded,
    queries,
  };
}
emit(out);
