/**
 * DatasetState status from the engine's results. Pure: the clock and the previous status are inputs, so
 * lastTransitionTime moves only when a condition's status changes.
 */
import type { CheckResult, DatasetStateStatus, PlanSummary, Progress } from '../api/schema.ts';
import { computeConditions, phaseOf, type Outcome } from '../core/conditions.ts';
import type { ReconcileResult } from '../heal/reconcile.ts';

interface Base {
  previous?: DatasetStateStatus;
  generation?: number;
  now: Date;
}

function build(
  b: Base,
  checks: CheckResult[],
  outcome: Outcome,
  rest: Partial<DatasetStateStatus>,
): DatasetStateStatus {
  const status: DatasetStateStatus = {
    ...rest,
    phase: phaseOf(outcome),
    conditions: computeConditions({
      checks,
      outcome,
      generation: b.generation,
      previous: b.previous?.conditions,
      now: b.now,
    }),
    checks,
    lastReconcileTime: b.now.toISOString(),
  };
  if (b.generation !== undefined) status.observedGeneration = b.generation;
  return status;
}

/** The status at the end of a pass. */
export function statusFromResult(
  b: Base & { result: ReconcileResult; progress?: Progress },
): DatasetStateStatus {
  const r = b.result;
  const rest: Partial<DatasetStateStatus> = {
    documents: r.documents,
    embedded: r.embedded,
    plan: r.plan.summary,
  };
  if (b.progress) rest.progress = b.progress;
  else if (b.previous?.progress) rest.progress = b.previous.progress;
  if (r.outcome.kind === 'failed' || r.outcome.kind === 'incomplete') rest.lastError = r.outcome.message;
  if (r.failures.length)
    rest.lastError =
      `${r.failures.length} documents failed: ` +
      r.failures
        .slice(0, 3)
        .map((f) => `${f.docId}: ${f.reason}`)
        .join('; ') +
      (r.failures.length > 3 ? '; …' : '');
  return build(b, r.checks, r.outcome, rest);
}

/** The status while healing runs: the plan, the progress, Progressing=True. */
export function healingStatus(
  b: Base & { checks: CheckResult[]; plan?: PlanSummary; progress?: Progress; message: string },
): DatasetStateStatus {
  const rest: Partial<DatasetStateStatus> = {};
  if (b.plan) rest.plan = b.plan;
  if (b.progress) rest.progress = b.progress;
  if (b.previous?.documents !== undefined) rest.documents = b.previous.documents;
  if (b.previous?.embedded !== undefined) rest.embedded = b.previous.embedded;
  return build(b, b.checks, { kind: 'healing', message: b.message }, rest);
}

/**
 * The status when the pass could not run (invalid spec, missing Secret: Failed), or the database is unavailable
 * (`unavailable`: Degraded, retried with backoff until it is back).
 */
export function errorStatus(
  b: Base & { message: string; checks?: CheckResult[]; unavailable?: boolean },
): DatasetStateStatus {
  const checks = b.checks ?? b.previous?.checks ?? [];
  const rest: Partial<DatasetStateStatus> = { lastError: b.message };
  for (const k of ['documents', 'embedded', 'plan', 'progress'] as const)
    if (b.previous?.[k] !== undefined) Object.assign(rest, { [k]: b.previous[k] });
  const outcome: Outcome = b.unavailable
    ? { kind: 'incomplete', message: b.message }
    : { kind: 'failed', message: b.message };
  return build(b, checks, outcome, rest);
}
