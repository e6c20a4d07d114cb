/**
 * The CLI's text report (src/cli/render.ts) of a pass that found gaps and wrote nothing: how many checks failed,
 * in words that agree with the number.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile } from '../../src/heal/reconcile.ts';
import { textReport } from '../../src/cli/render.ts';
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

test('a gaps report names the failed checks in the singular for one and in the plural for more', async () => {
  // Documents present, none embedded: only the embedding check fails.
  const one = memoryStore();
  await seedDocuments(one, fakeDocs(3));
  const spec = fakeSpec(3, { mode: 'ValidateOnly' });
  const r1 = await reconcile(spec, fakeDeps(spec, one, fakeEmbedder(), fakeDocs(3)).deps);
  assert.equal(r1.outcome.kind, 'gaps');
  assert.equal(r1.checks.filter((c) => !c.passed).length, 1, JSON.stringify(r1.checks));
  assert.match(
    textReport(r1, context(3)),
    /^NOT READY: 1 check failed \(ValidateOnly: nothing was written\)\.$/m,
  );

  // An empty database: the schema, the documents and their embeddings are all missing.
  const none = memoryStore();
  const r2 = await reconcile(spec, fakeDeps(spec, none, fakeEmbedder(), fakeDocs(3)).deps);
  const failed = r2.checks.filter((c) => !c.passed).length;
  assert.ok(failed > 1, JSON.stringify(r2.checks));
  assert.match(textReport(r2, context(3)), new RegExp(`^NOT READY: ${failed} checks failed `, 'm'));
  await one.close();
  await none.close();
});
