/**
 * A whole reconcile pass, tried again while the database is unreachable. A pass is level-triggered (it derives
 * everything from what the database says now), so running it again after a lost connection is always safe:
 * finished batches are kept, the interrupted transaction was rolled back by the server.
 *
 * Budget: the spec's healing.backoff.maxMs times (healing.maxRetries + 1) of waiting (2 minutes with the
 * defaults), delays growing from healing.backoff.initialMs. A database that stays away longer ends the pass with
 * the last error, wrapped in DatabaseUnavailableError.
 */
import type { DatasetStateSpec } from '../api/schema.ts';
import { reconcile, type EngineDeps, type ReconcileOptions, type ReconcileResult } from './reconcile.ts';
import { backoffDelay } from './retry.ts';
import { sleep } from '../core/timers.ts';

export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

export async function reconcileRetrying(
  spec: DatasetStateSpec,
  deps: EngineDeps,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const { initialMs, maxMs } = spec.healing.backoff;
  const budgetMs = maxMs * (spec.healing.maxRetries + 1);
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await reconcile(spec, deps, options);
    } catch (error) {
      if (!deps.store.isTransient(error) || options.signal?.aborted) throw error;
      const reason = (error as Error)?.message ?? String(error);
      if (waited >= budgetMs)
        throw new DatabaseUnavailableError(
          `the database is unavailable: ${reason} (gave up after ${attempt} attempts and ${Math.round(waited / 1000)} s)`,
          { cause: error },
        );
      const policy = { maxRetries: Infinity, initialMs, maxMs };
      const delayMs = Math.min(budgetMs - waited, Math.max(initialMs, backoffDelay(attempt, policy)));
      deps.onEvent?.({ type: 'pass-retry', attempt, delayMs, reason });
      await sleep(delayMs, options.signal);
      waited += delayMs;
    }
  }
}
