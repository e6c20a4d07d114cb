/**
 * A rate-limited work queue with client-go's guarantees: a key is queued at most once however often it is
 * added; a key being processed is never handed to a second worker (an add during processing marks it dirty,
 * and it runs again when the first run ends); failures back off exponentially per key up to a ceiling.
 *
 * The queue's consumers are called loops (`run(loops, …)`), not workers: "worker" is the embedding worker
 * Deployment.
 */
import { backoffDelay, noJitter } from '../heal/retry.ts';

export interface QueueOptions {
  /** Backoff of the first failure (ms); doubles per consecutive failure of the same key. */
  baseDelayMs?: number;
  /** Ceiling of the per-key backoff (ms). */
  maxDelayMs?: number;
}

/**
 * What a handler asks for: nothing (done until the next event), a look again after requeueAfterMs, or
 * `backoff` (not done yet: again after the key's next backoff, as after an error, but without one).
 */
export type HandlerResult = { requeueAfterMs?: number; backoff?: boolean } | void;

export type Handler = (key: string, signal: AbortSignal) => Promise<HandlerResult>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: (() => void)[] = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private shuttingDown = false;

  constructor(options: QueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
  }

  /** Keys waiting (not counting those in processing or delayed). */
  get depth(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    const t = this.timers.get(key);
    if (t) {
      clearTimeout(t.timer);
      this.timers.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.waiters.shift()?.();
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** The next backoff for this key (and counts the failure). */
  nextBackoff(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    return backoffDelay(n, { initialMs: this.baseDelayMs, maxMs: this.maxDelayMs }, noJitter);
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.nextBackoff(key));
  }

  /** Clears the failure count of a key (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  private async take(): Promise<string | null> {
    while (!this.queue.length) {
      if (this.shuttingDown) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const key = this.queue.shift()!;
    this.queued.delete(key);
    this.processing.add(key);
    return key;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /**
   * Runs `loops` loops that take keys and call the handler. A handler that throws (or returns backoff) is
   * retried with backoff; one that returns requeueAfterMs is queued again after that delay. Resolves when shut
   * down and drained.
   */
  async run(
    loops: number,
    handler: Handler,
    signal: AbortSignal,
    onError?: (key: string, error: unknown) => void,
  ): Promise<void> {
    const loop = async () => {
      for (;;) {
        const key = await this.take();
        if (key === null) return;
        try {
          const r = await handler(key, signal);
          if (r?.backoff) this.addRateLimited(key);
          else {
            this.forget(key);
            if (r?.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs);
          }
        } catch (error) {
          onError?.(key, error);
          this.addRateLimited(key);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: loops }, loop));
  }

  /** Stops handing out keys; running handlers finish; pending delays are dropped. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    for (const w of this.waiters.splice(0)) w();
  }
}
