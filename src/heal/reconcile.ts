/**
 * One reconcile pass: inspect → checks → plan → (heal) → verify. Used as it is by the CLI and the
 * controller (as the body of its background heal task). Level-triggered: everything it does is derived from
 * what the database says now, so a pass killed at any moment is simply followed by another. Where the
 * embedding batches run (this process, or the worker Deployment) is the BatchRunner's business, not this file's.
 */
import type { CheckResult, DatasetStateSpec } from '../api/schema.ts';
import { effectiveBatchSize } from '../api/validate.ts';
import { allPassed, runChecks } from '../core/checks.ts';
import type { Outcome } from '../core/conditions.ts';
import { groupByStatus, type Expectation, type Inspection } from '../core/inspection.ts';
import { measuredThroughput } from '../core/throughput.ts';
import { buildPlan, planIsEmpty, type HealingPlan } from '../core/plan.ts';
import type { DocumentSource, Embedder } from '../core/ports.ts';
import type { Store } from '../core/store-port.ts';
import { isPlaceholderAbstract } from '../core/selection.ts';
import type { BatchRunner } from './batch-runner.ts';
import type { EngineListener } from './events.ts';
import { inspect } from './inspect.ts';
import { loadDocuments } from './load-documents.ts';
import { calibrationFor } from './calibrate.ts';

export interface EngineDeps {
  store: Store;
  /** Opens the document source; called only when documents must be loaded. */
  openSource: () => Promise<DocumentSource>;
  /** The declared model's fingerprint, without loading the model; null when it cannot be known. */
  modelFingerprint: () => Promise<string | null>;
  /**
   * Loads the embedder in this process (slow). Must check the dimension. reconcile() does not call it: the
   * in-process batch runner does (and the worker process).
   */
  openEmbedder: () => Promise<Embedder>;
  /**
   * Opens what runs the embedding batches (in process, or on the worker Deployment); called only when there
   * is embedding work, before any write, so a model that does not fit stops the pass first.
   */
  openBatchRunner: () => Promise<BatchRunner>;
  onEvent?: EngineListener;
  now?: () => Date;
}

export interface ReconcileOptions {
  signal?: AbortSignal;
  /** Seconds one document takes to embed, for the plan's time estimate. */
  secondsPerDocument?: number;
  /** Overrides spec.healing.forceRegenerate (the controller honours it once per generation). */
  forceRegenerate?: boolean;
  /**
   * DryRun only: when no earlier heal of the model is recorded, time a few documents through the model in this
   * process (src/heal/calibrate.ts; nothing is written) for the plan's estimate. Loads the model (the CLI's
   * `plan` does it; the controller does not, its pods need not hold the model).
   */
  calibrate?: boolean;
}

export interface ReconcileResult {
  /** Checks before any healing. */
  initialChecks: CheckResult[];
  /** Checks at the end (after verification when healing ran). */
  checks: CheckResult[];
  /** The plan made from the first inspection (what this pass set out to do). */
  plan: HealingPlan;
  ready: boolean;
  outcome: Outcome;
  /** Target documents present with an abstract, and those with complete current embeddings. */
  documents: number;
  embedded: number;
  healed: {
    schemaCreated: boolean;
    documentsLoaded: number;
    documentsReloaded: number;
    orphansDeleted: number;
    embedded: number;
    tokens: number;
  };
  failures: { docId: string; reason: string }[];
  skippedFiles: { origin: string; reason: string }[];
  /** The embedder that did the work, if one was loaded. */
  model?: { modelId: string; synthetic: boolean; dimension: number };
}

function summarize(inspection: Inspection, expect: Expectation) {
  const g = groupByStatus(inspection, expect);
  return {
    documents: inspection.target.filter((t) => !isPlaceholderAbstract(t.candidate)).length,
    embedded: g.complete.length,
  };
}

export async function reconcile(
  spec: DatasetStateSpec,
  deps: EngineDeps,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const { store } = deps;
  const { signal } = options;
  const emit: EngineListener = deps.onEvent ?? (() => undefined);
  const wantsEmbeddings = spec.targetState !== 'documents';
  const forceRegenerate = options.forceRegenerate ?? spec.healing.forceRegenerate;
  const planInput = {
    targetState: spec.targetState,
    docCount: spec.docCount,
    forceRegenerate,
    batchSize: effectiveBatchSize(spec),
    secondsPerDocument: options.secondsPerDocument,
  };

  const expect: Expectation = {
    dimension: spec.embedding.dimension,
    fingerprint: wantsEmbeddings ? await deps.modelFingerprint() : null,
  };
  // Vectors are read (a bounded sample) only when the target state is about embeddings.
  const inspectOptions = wantsEmbeddings ? {} : { vectorSampleDocs: 0 };
  let inspection = await inspect(store, spec.docCount, spec.selection, expect, inspectOptions);
  const initialChecks = runChecks(inspection, spec.targetState, expect);
  emit({ type: 'inspected', checks: initialChecks });
  const throughput = measuredThroughput(
    inspection.target.map((t) => t.embedding.ledger),
    expect.fingerprint,
  );
  let plan = buildPlan(inspection, { ...planInput, throughput }, expect);
  // Embedding work ahead (a calibration only changes the plan's estimate, not its work).
  const embedWorkAhead = wantsEmbeddings && (plan.embed.length > 0 || plan.documentsToLoad > 0);
  if (options.calibrate && spec.mode === 'DryRun' && throughput === null && embedWorkAhead) {
    const c = await calibrationFor(plan, deps, signal);
    if (c && 'error' in c) plan.summary.estimateFrom = `no estimate: the calibration failed: ${c.error}`;
    else if (c) plan = buildPlan(inspection, { ...planInput, throughput, calibration: c }, expect);
  }
  emit({ type: 'plan', plan });

  const healed = {
    schemaCreated: false,
    documentsLoaded: 0,
    documentsReloaded: 0,
    orphansDeleted: 0,
    embedded: 0,
    tokens: 0,
  };
  const base = {
    initialChecks,
    healed,
    failures: [] as ReconcileResult['failures'],
    skippedFiles: [] as ReconcileResult['skippedFiles'],
  };
  const finish = (
    checks: CheckResult[],
    outcome: Outcome,
    insp: Inspection,
    extra: Partial<ReconcileResult> = {},
  ): ReconcileResult => ({
    ...base,
    checks,
    plan,
    ready: allPassed(checks) && outcome.kind === 'ready',
    outcome,
    ...summarize(insp, expect),
    ...extra,
  });

  // Every check passes: Ready. (AutoFix still tidies what no check is about, such as orphaned embeddings.)
  if (allPassed(initialChecks) && (planIsEmpty(plan) || spec.mode !== 'AutoFix'))
    return finish(initialChecks, { kind: 'ready' }, inspection);
  if (spec.mode !== 'AutoFix') return finish(initialChecks, { kind: 'gaps', mode: spec.mode }, inspection);
  if (plan.schemaProblems.length) {
    const message =
      'the schema differs from the declaration and is not changed automatically: ' +
      plan.schemaProblems.map((p) => `${p.object}: ${p.problem} (fix: ${p.fix})`).join('; ');
    return finish(initialChecks, { kind: 'failed', message }, inspection);
  }

  // Open the batch runner first when there will be embedding work: a model that does not fit (dimension)
  // stops the run before any write.
  let runner: BatchRunner | null = null;
  try {
    if (embedWorkAhead) {
      const t0 = Date.now();
      runner = await deps.openBatchRunner();
      if (runner.model) emit({ type: 'embedder-ready', ...runner.model, seconds: (Date.now() - t0) / 1000 });
      expect.fingerprint = runner.fingerprint;
    }
    let toLoad = plan;
    if (plan.rebuildTokenTable) {
      await store.rebuildEmptyTokenTable({ dimension: spec.embedding.dimension });
      emit({ type: 'token-table-recreated', ...plan.rebuildTokenTable });
    }
    if (plan.createSchema) {
      await store.createSchema({ dimension: spec.embedding.dimension });
      healed.schemaCreated = true;
      emit({ type: 'schema-created' });
      // Some tables were there (e.g. the consumer's own token table) and some not: nothing could be counted
      // before; count now, so that only what is missing is loaded.
      if (inspection.schema.partial) {
        inspection = await inspect(store, spec.docCount, spec.selection, expect);
        toLoad = buildPlan(inspection, planInput, expect);
      }
    }

    if (toLoad.documentsToLoad > 0 || toLoad.reloadDocIds.length > 0) {
      const source = await deps.openSource();
      const loaded = await loadDocuments(store, source, {
        needed: toLoad.documentsToLoad,
        reloadDocIds: toLoad.reloadDocIds,
        signal,
        onEvent: emit,
      });
      healed.documentsLoaded = loaded.loaded;
      healed.documentsReloaded = loaded.reloaded;
      base.skippedFiles = loaded.skipped;
      for (const docId of loaded.notReloaded)
        base.failures.push({ docId, reason: 'placeholder abstract, and the source has no better one' });
    }
    if (signal?.aborted)
      return finish(initialChecks, { kind: 'incomplete', message: 'cancelled' }, inspection);

    // The target set may have changed with the load: diff again, then delete what belongs to no document.
    inspection = await inspect(store, spec.docCount, spec.selection, expect, inspectOptions);
    const work = buildPlan(inspection, planInput, expect);
    if (work.orphanDocIds.length) {
      await store.deleteEmbeddings(work.orphanDocIds);
      healed.orphansDeleted = work.orphanDocIds.length;
      emit({ type: 'orphans-deleted', docIds: work.orphanDocIds });
    }

    if (runner && work.embed.length) {
      const r = await runner.run(work.batches, { signal, onEvent: emit });
      healed.embedded = r.embedded;
      healed.tokens = r.tokens;
      base.failures.push(...r.failures);
    }
  } finally {
    await runner?.close();
  }
  const model = runner?.model;

  // Verify: what does the database say now?
  inspection = await inspect(store, spec.docCount, spec.selection, expect, inspectOptions);
  const checks = runChecks(inspection, spec.targetState, expect);
  emit({ type: 'verified', checks });
  if (allPassed(checks)) return finish(checks, { kind: 'ready' }, inspection, { model });
  const why: string[] = [];
  if (signal?.aborted) why.push('cancelled');
  if (base.failures.length) why.push(`${base.failures.length} documents failed`);
  if (base.skippedFiles.length) why.push(`${base.skippedFiles.length} source files unreadable`);
  const short = checks.find((c) => c.name === 'document_count' && !c.passed);
  if (short)
    why.push(
      spec.targetState === 'token-embeddings'
        ? `documents are missing (${short.message})`
        : `the source ran out of documents (${short.message})`,
    );
  return finish(
    checks,
    { kind: 'incomplete', message: why.join('; ') || 'checks still failing after healing' },
    inspection,
    { model },
  );
}
