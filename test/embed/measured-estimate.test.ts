/**
 * The plan's time estimate is measured: after a first heal, the estimate for the next heal of the same size comes
 * from the ledger the first one wrote (src/core/throughput.ts) and lands within ±25% of that heal's actual
 * embedding time. Real embedder (small generated model), real SQLite store, the CLI's wiring, one process. Also
 * the estimator's pure rules: per fingerprint, pauses between heals left out, nothing from a single batch. And
 * before any heal: `plan` (DryRun) times a few documents through the model (src/heal/calibrate.ts), writing nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { wire } from '../../src/app/wiring.ts';
import { specFromFlags } from '../../src/cli/spec-from-flags.ts';
import { reconcile } from '../../src/heal/reconcile.ts';
import type { EngineEvent } from '../../src/heal/events.ts';
import { measuredThroughput, type LedgerStamp } from '../../src/core/throughput.ts';
import { describePlan } from '../../src/core/plan.ts';
import { smallModel } from '../fixtures/embed/models.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ds-eta-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const stamp = (at: number, tokens = 100, fp = 'm'): LedgerStamp => ({
  modelFingerprint: fp,
  embeddedAt: new Date(Date.UTC(2026, 0, 1) + at * 1000).toISOString(),
  tokenCount: tokens,
});

describe('measured throughput (ledger)', () => {
  it('averages the intervals between batches, per fingerprint, without the pauses between heals', () => {
    // heal 1: batches of 2 documents at 0, 2, 4, 6 s; an hour's pause; heal 2: 3610, 3612
    const rows = [0, 2, 4, 6, 3600, 3602].flatMap((t) => [stamp(t), stamp(t)]);
    rows.push(stamp(1, 100, 'other'), stamp(3, 100, 'other'), null as unknown as LedgerStamp);
    const t = measuredThroughput(rows, 'm')!;
    assert.equal(t.batches, 4);
    assert.equal(t.documents, 8);
    assert.equal(t.secondsPerDocument, 1);
    assert.equal(t.secondsPerToken, 0.01);
    assert.equal(t.lastAt, new Date(Date.UTC(2026, 0, 1) + 3602_000).toISOString());
    assert.equal(measuredThroughput([stamp(0), stamp(0)], 'm'), null, 'one batch: no interval');
    assert.equal(measuredThroughput(rows, 'unknown'), null);
    assert.equal(measuredThroughput(rows, null), null);
  });

  it('leaves out a short pause between heals that follow each other, keeps a batch of long documents', () => {
    // heal 1: batches of 2 x 100 tokens every 0.1 s; 0.6 s to close, reload and inspect; heal 2 the same, with
    // one batch of 2 x 300 tokens that took 0.3 s (the same pace per token).
    const rows = [0, 0.1, 0.2, 0.3, 0.9, 1.0, 1.1].flatMap((t) => [stamp(t), stamp(t)]);
    rows.push(stamp(1.4, 300), stamp(1.4, 300));
    const t = measuredThroughput(rows, 'm')!;
    assert.equal(t.batches, 6);
    assert.equal(t.documents, 12);
    assert.ok(Math.abs(t.secondsPerToken - 0.0005) < 1e-9, String(t.secondsPerToken));
  });
});

describe('the plan estimate after a first heal', () => {
  it('is within ±25% of the next heals of the same size (median of three)', async (t) => {
    const model = await smallModel('eta', { hidden: 128, heads: 4, intermediate: 512, layers: 4 });
    const N = 96;
    const heal = async (docCount: number, db = path.join(dir, 'eta.db')) => {
      const { spec } = specFromFlags({
        docCount: String(docCount),
        db,
        model,
        dimension: '128',
        batchSize: '8',
      });
      let plan: Extract<EngineEvent, { type: 'plan' }>['plan'] | undefined;
      let start = 0;
      let end = 0;
      const onEvent = (e: EngineEvent) => {
        if (e.type === 'plan') plan = e.plan;
        // the embedding starts once the model is loaded (and the documents are in)
        if (e.type === 'embedder-ready' || e.type === 'load-progress') start = performance.now();
        if (e.type === 'embed-progress') end = performance.now();
      };
      const wired = await wire(spec, onEvent, () => undefined);
      try {
        const r = await reconcile(spec, wired.deps);
        assert.ok(r.ready);
        assert.equal(r.healed.embedded, N);
      } finally {
        await wired.close();
      }
      return { plan: plan!, seconds: (end - start) / 1000 };
    };
    // A warm-up heal into another database: the first heal in a process also pays for compiling the code.
    await heal(N, path.join(dir, 'warm-up.db'));
    const first = await heal(N);
    assert.equal(
      first.plan.summary.estimatedSeconds,
      undefined,
      'no record yet, no assumption for this model',
    );
    // Three more heals of N documents each, every one estimated from the ledger of those before it. On a shared,
    // loaded machine one heal can run in a busier second than the one before; the median of the three ratios is
    // what the estimator is judged by.
    const ratios: number[] = [];
    const seen: string[] = [];
    for (let k = 2; k <= 4; k++) {
      const next = await heal(k * N);
      const s = next.plan.summary;
      assert.ok(
        s.estimatedSeconds !== undefined && s.estimateFrom?.startsWith('measured'),
        JSON.stringify(s),
      );
      assert.ok(describePlan(next.plan).some((l) => /about .*\(measured/.test(l)));
      // the estimate is rounded to whole seconds: compare the unrounded figure
      const perDoc = Number(/([\d.]+) s per document/.exec(s.estimateFrom!)![1]);
      ratios.push((perDoc * N) / next.seconds);
      seen.push(`${(perDoc * N).toFixed(2)} s estimated, ${next.seconds.toFixed(2)} s actual`);
    }
    const median = [...ratios].sort((a, b) => a - b)[1]!;
    t.diagnostic(`estimate/actual ${ratios.map((r) => r.toFixed(2)).join(', ')}: ${seen.join('; ')}`);
    assert.ok(
      median >= 0.75 && median <= 1.25,
      `median estimate/actual ${median.toFixed(2)} (${seen.join('; ')}); first heal ${first.seconds.toFixed(2)} s`,
    );
  });
});

describe('the plan estimate before any heal (calibration)', () => {
  it('comes from a few documents timed just now, from the source or the database, and writes nothing', async (t) => {
    const model = await smallModel('eta', { hidden: 128, heads: 4, intermediate: 512, layers: 4 });
    const N = 96;
    const db = path.join(dir, 'calibrate.db');
    const run = async (mode: 'DryRun' | 'AutoFix', targetState = 'ragas-eval') => {
      const { spec } = specFromFlags(
        { docCount: String(N), db, model, dimension: '128', batchSize: '8', targetState },
        mode,
      );
      let start = 0;
      let end = 0;
      const onEvent = (e: EngineEvent) => {
        if (e.type === 'embedder-ready') start = performance.now();
        if (e.type === 'embed-progress') end = performance.now();
      };
      const wired = await wire(spec, onEvent, () => undefined);
      try {
        const r = await reconcile(spec, wired.deps, { calibrate: mode === 'DryRun' });
        return { r, seconds: (end - start) / 1000 };
      } finally {
        await wired.close();
      }
    };
    const perDocument = (from: string | undefined): number => {
      assert.match(from ?? '', /^calibrated: [\d.]+ s per document, timed just now on 8 documents/);
      return Number(/([\d.]+) s per document/.exec(from!)![1]);
    };
    // An empty database: the sample is the source's first documents; the plan writes no file.
    const empty = await run('DryRun');
    const fromSource = perDocument(empty.r.plan.summary.estimateFrom);
    assert.equal(existsSync(db), false, 'DryRun created no database');
    // The documents loaded, none embedded: the sample is read from the database.
    assert.ok((await run('AutoFix', 'documents')).r.ready);
    const loaded = await run('DryRun');
    const fromStore = perDocument(loaded.r.plan.summary.estimateFrom);
    assert.equal(loaded.r.embedded, 0, 'the calibration wrote no embedding');
    // The heal it estimated. Calibration leaves out reading, writing and the first batch's warm-up; a figure far
    // off (a model load timed with it, per-token taken for per-document) would fall outside these wide bounds.
    const healed = await run('AutoFix');
    assert.ok(healed.r.ready);
    const ratio = (fromStore * N) / healed.seconds;
    t.diagnostic(
      `calibrated ${fromSource.toFixed(4)} s/doc (source), ${fromStore.toFixed(4)} s/doc (database); ` +
        `estimate ${(fromStore * N).toFixed(2)} s, actual ${healed.seconds.toFixed(2)} s, ratio ${ratio.toFixed(2)}`,
    );
    assert.ok(ratio > 1 / 3 && ratio < 3, `estimate/actual ${ratio.toFixed(2)}`);
  });
});
