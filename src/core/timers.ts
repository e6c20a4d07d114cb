/**
 * Waiting that a signal can end: the one timer of the project, for the engine's retries (src/heal/retry.ts),
 * the controller and the SQLite client's lock waits (src/store/clients/sqlite.ts).
 */

/** Sleeps ms, or rejects with the signal's reason when it is aborted first (at once if it already is). */
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

/** Sleeps ms, or less: resolves (no error) as soon as the signal aborts; the caller then checks the signal. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => undefined);
}
