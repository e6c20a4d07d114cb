/**
 * The one backoff of the project: exponential, capped, with full jitter (or none, for the work queue's
 * per-key rate limiter, which client-go also keeps deterministic). The engine's batch retries, the whole-pass
 * retry, the controller's work queue and the worker dispatcher's endpoint cool-down all use backoffDelay.
 */
import type { DatasetStateSpec } from '../api/schema.ts';
import { sleep } from '../core/timers.ts';

export interface BackoffPolicy {
  maxRetries: number;
  initialMs: number;
  maxMs: number;
}

/** The spec's retry policy for batches (healing.maxRetries, healing.backoff). */
export function backoffPolicyOf(spec: DatasetStateSpec): BackoffPolicy {
  return {
    maxRetries: spec.healing.maxRetries,
    initialMs: spec.healing.backoff.initialMs,
    maxMs: spec.healing.backoff.maxMs,
  };
}

/** No jitter: the delay is the ceiling itself. */
export const noJitter = (): number => 1;

/**
 * The delay before retry number `attempt` (1-based): a random point in [0, min(max, initial * 2^(attempt-1))]
 * (full jitter); with `noJitter`, the ceiling itself.
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<BackoffPolicy, 'initialMs' | 'maxMs'>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

/**
 * Calls fn until it succeeds, retrying only errors that `retryable` accepts, at most policy.maxRetries times.
 * onRetry is told about each retry before the wait.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  retryable: (error: unknown) => boolean,
  policy: BackoffPolicy,
  options: {
    signal?: AbortSignal;
    onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt > policy.maxRetries || !retryable(error) || options.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, policy);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
