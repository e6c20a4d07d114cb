/**
 * The CLI's text report (src/cli/render.ts) of a pass that found gaps and wrote nothing: its checks said once, and
 * how many failed in words that agree with the number; and the progress lines written when stderr is not a terminal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile } from '../../src/heal/reconcile.ts';
import { progressRenderer, textReport } from '../../src/cli/render.ts';
import {
  fakeDeps,
  fakeDocs,
  fakeEmbedder,
  fakeSpec,
  memoryStore,
  seedDocuments,
} from '../helpers/engine-fakes.ts';

const context = (docCount: number) => ({
  name: 'test',
  targetState: 'ragas-eval',
  docCount,
  mode: 'ValidateOnly',
  store: 'memory',
  notes: [],
});

test('a gaps report says its checks once and names the failed ones in the singular for one, the plural for more', async () => {
  // Documents present, none embedded: only the embedding check fails.
  const one = memoryStore();
  await seedDocuments(one, fakeDocs(3));
  const spec = fakeSpec(3, { mode: 'ValidateOnly' });
  const r1 = await reconcile(spec, fakeDeps(spec, one, fakeEmbedder(), fakeDocs(3)).deps);
  assert.equal(r1.outcome.kind, 'gaps');
  assert.equal(r1.checks.filter((c) => !c.passed).length, 1, JSON.stringify(r1.checks));
  const report = textReport(r1, context(3));
  assert.match(report, /^NOT READY: 1 check failed \(ValidateOnly: nothing was written\)\.$/m);
  // Nothing was written, so the checks are said once, before the plan (not again, identical, after it).
  assert.equal(report.match(/^ {2}FAIL {2}token_embeddings_complete/gm)?.length, 1, report);
  assert.ok(report.indexOf('checks:') < report.indexOf('healing plan:'), report);

  // An empty database: the schema, the documents and their embeddings are all missing.
  const none = memoryStore();
  const r2 = await reconcile(spec, fakeDeps(spec, none, fakeEmbedder(), fakeDocs(3)).deps);
  const failed = r2.checks.filter((c) => !c.passed).length;
  assert.ok(failed > 1, JSON.stringify(r2.checks));
  assert.match(textReport(r2, context(3)), new RegExp(`^NOT READY: ${failed} checks failed `, 'm'));
  await one.close();
  await none.close();
});

test('progress lines without a terminal: one line per count, though the engine reports some twice', () => {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (lines.push(s), true)) as typeof process.stderr.write;
  try {
    const r = progressRenderer({ tty: false, quiet: false, lineEveryMs: 0 });
    const at = (processed: number, total: number) =>
      r.onEvent({
        type: 'embed-progress',
        progress: { processed, total, percent: (100 * processed) / total, rate: 1 },
        tokens: 10 * processed,
      });
    at(0, 2);
    at(1, 2);
    at(2, 2);
    at(2, 2); // the phase's end, after the last batch's own report
    at(0, 3); // a later phase (a pass tried again) starts counting again
    at(0, 3); // and ends in an error before its first batch
    at(3, 3);
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(
    lines.map((l) => l.replace(/ \(.*/, '').trim()),
    [
      'embedding: 0/2 documents',
      'embedding: 1/2 documents',
      'embedding: 2/2 documents',
      'embedding: 0/3 documents',
      'embedding: 3/3 documents',
    ],
  );
});
