/**
 * The heal task of one DatasetState: the engine's reconcile pass (inspect → plan → heal → verify) running in
 * the background, outliving the controller pass that started it, as kopf's per-object daemons do. The task
 * keeps a snapshot of what it has seen (checks, plan, progress, and at the end the result or the error) and
 * tells its owner when the snapshot changed (`onChange`), so a short controller pass writes status from it.
 *
 * One task per DatasetState and generation: a spec change or a deletion cancels it (`cancel`); the next task of
 * the same object starts only when the previous one has unwound (`after`), so two never write at once.
 */
import type { CheckResult, PlanSummary, Progress } from '../api/schema.ts';
import type { EngineEvent } from '../heal/events.ts';
import type { ReconcileResult } from '../heal/reconcile.ts';

export type TaskState = 'waiting' | 'running' | 'done' | 'failed';

export interface HealSnapshot {
  state: TaskState;
  /** Bumped on every change; the pass writes status only when it moved. */
  version: number;
  checks?: CheckResult[];
  plan?: PlanSummary;
  progress?: Progress;
  /** Documents that failed so far ("docId: reason"). */
  failedDocs: string[];
  result?: ReconcileResult;
  error?: unknown;
}

/** Counts heals running at once: AutoFix tasks take a slot, read-only ones do not. */
export class HealSlots {
  private free: number;
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(slots: number) {
    this.free = Math.max(1, slots);
  }

  get running(): number {
    return this.busy;
  }

  get full(): boolean {
    return this.free === 0;
  }

  /** Resolves with a release function once a slot is free; rejects when the signal aborts first. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    while (this.free === 0) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal.reason);
        };
        const wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiting.push(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    signal.throwIfAborted();
    this.free--;
    this.busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free++;
      this.busy--;
      this.waiting.shift()?.();
    };
  }
}

export interface HealTaskOptions {
  generation: number | undefined;
  /** The pass itself: reconcile with the engine events wired to `task.observe`. */
  run: (task: HealTask) => Promise<ReconcileResult>;
  /** Resolves when the previous task of the same object has unwound. */
  after?: Promise<unknown>;
  /** Heal slots to take before running (AutoFix); none for read-only passes. */
  slots?: HealSlots;
  onChange: () => void;
  /** Minimum interval between two onChange calls for progress (the plan and the end always notify). */
  progressEveryMs: number;
}

export class HealTask {
  readonly generation: number | undefined;
  readonly abort = new AbortController();
  readonly startedAt = Date.now();
  readonly snapshot: HealSnapshot = { state: 'waiting', version: 0, failedDocs: [] };
  /** Resolves when the task has ended (done, failed or cancelled); never rejects. */
  readonly finished: Promise<void>;
  private readonly onChange: () => void;
  private readonly progressEveryMs: number;
  private lastProgressNotice = 0;

  constructor(o: HealTaskOptions) {
    this.generation = o.generation;
    this.onChange = o.onChange;
    this.progressEveryMs = o.progressEveryMs;
    this.finished = this.start(o);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get cancelled(): boolean {
    return this.abort.signal.aborted;
  }

  cancel(reason: string): void {
    if (!this.abort.signal.aborted) this.abort.abort(new Error(reason));
  }

  private async start(o: HealTaskOptions): Promise<void> {
    let release = () => {};
    try {
      await o.after?.catch(() => undefined);
      if (o.slots) release = await o.slots.acquire(this.signal);
      this.signal.throwIfAborted();
      this.update({ state: 'running' });
      const result = await o.run(this);
      this.update({ state: 'done', result });
    } catch (error) {
      this.update({ state: 'failed', error });
    } finally {
      release();
    }
  }

  private update(patch: Partial<HealSnapshot>, notify = true): void {
    Object.assign(this.snapshot, patch);
    this.snapshot.version++;
    if (notify) this.onChange();
  }

  /** Folds one engine event into the snapshot. */
  observe(e: EngineEvent): void {
    switch (e.type) {
      case 'inspected':
        this.update({ checks: e.checks }, false);
        break;
      case 'plan':
        this.update({ plan: e.plan.summary });
        break;
      case 'embed-progress': {
        const t = Date.now();
        const notify = t - this.lastProgressNotice >= this.progressEveryMs;
        if (notify) this.lastProgressNotice = t;
        this.update({ progress: e.progress }, notify);
        break;
      }
      case 'document-failed':
        this.snapshot.failedDocs.push(`${e.docId}: ${e.reason}`);
        break;
      default:
        break;
    }
  }
}
