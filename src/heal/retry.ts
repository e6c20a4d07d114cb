/**
 * Retries with exponential backoff and full jitter, cancellable.
 */
export interface BackoffPolicy {
  maxRetries: number;
  initialMs: number;
  maxMs: number;
}

/** Sleeps ms, or rejects with the signal's reason when it is aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The delay before retry number `attempt` (1-based): a random point in [0, min(max, initial * 2^(attempt-1))]. */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
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
