/**
 * The DatasetState controller: informers (list + watch, restarted on error) feed a rate-limited work queue;
 * a pass over a key is short (`sync`): parse the spec, make sure a heal task exists for the current
 * generation (start, keep, or cancel and restart it), write status from the task's latest snapshot, set the
 * worker replicas from the backlog, return when to look again. The heal itself (the same engine the CLI uses,
 * src/heal/reconcile.ts) runs as a per-DatasetState background task (heal-task.ts) that outlives the pass and
 * enqueues its key when it has news. Metrics, logs and the error-to-requeue mapping live in one wrapper
 * around the pass (`handle`), as in controller-runtime's reconcileHandler.
 *
 * No finalizer: deleting a DatasetState stops its work but never deletes data. The documents and vectors
 * belong to the user's database, not to the resource, so there is nothing to clean up before the object goes.
 */
import { makeInformer, type Informer, type ObjectCache } from '@kubernetes/client-node';
import type { DatasetStateSpec, DatasetStateStatus } from '../api/schema.ts';
import { parseSpec, ValidationError } from '../api/validate.ts';
import { wire } from '../app/wiring.ts';
import type { EngineEvent } from '../heal/events.ts';
import { reconcile, type ReconcileResult } from '../heal/reconcile.ts';
import { datasetStatePath, keyOf, KubeClients, splitKey, type DatasetStateObject } from './kube.ts';
import { DatabaseUnavailableError } from '../heal/retry-pass.ts';
import { redactSecrets } from '../store/url.ts';
import { InvalidSpecError, TerminalError } from './errors.ts';
import { HealSlots, HealTask } from './heal-task.ts';
import type { ControllerMetrics } from './metrics.ts';
import { WorkQueue, type HandlerResult } from './queue.ts';
import { WorkerDispatcher } from './worker-dispatcher.ts';
import type { WorkerSettings } from './worker-manifests.ts';
import { errorStatus, healingStatus, statusFromResult } from './status.ts';

export interface ControllerOptions {
  clients: KubeClients;
  metrics: ControllerMetrics;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  /** Re-check every dataset this often even without a change (catches drift done behind our back). */
  resyncMs: number;
  /** Passes run at once (the work queue's loops); passes are short. */
  concurrency: number;
  /** Heals (AutoFix tasks) running at once; default: concurrency. Read-only passes take no slot. */
  maxHeals?: number;
  /** Minimum interval between two status writes while healing. */
  statusEveryMs: number;
  /** Name of this replica in Events and the Lease. */
  identity: string;
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Backoff of the work queue (tests shorten it). */
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  /** When set, embedding runs on a worker Deployment per DatasetState (unless its workers.maxReplicas is 0). */
  workers?: WorkerSettings;
}

export class DatasetStateController {
  private readonly o: ControllerOptions;
  private readonly informers: (Informer<DatasetStateObject> & ObjectCache<DatasetStateObject>)[] = [];
  private readonly seenGeneration = new Map<string, number | undefined>();
  /** The heal task of each DatasetState (at most one live per key). */
  private readonly tasks = new Map<string, HealTask>();
  /** Snapshot version written to status last, per key. */
  private readonly written = new Map<string, number>();
  private readonly dispatchers = new WeakMap<HealTask, WorkerDispatcher>();
  private readonly slots: HealSlots;
  private queue: WorkQueue | null = null;
  private synced = false;
  private stopped = false;
  private readonly restartTimers = new Set<NodeJS.Timeout>();

  constructor(options: ControllerOptions) {
    this.o = options;
    this.slots = new HealSlots(options.maxHeals ?? options.concurrency);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts the informers (also on standby replicas, so a new leader starts with a warm cache). */
  async startInformers(): Promise<void> {
    const namespaces = this.o.namespaces.length ? this.o.namespaces : [undefined];
    for (const ns of namespaces) {
      const informer = makeInformer<DatasetStateObject>(
        this.o.clients.kc,
        datasetStatePath(ns),
        () => this.o.clients.listDatasetStates(ns) as never,
      );
      informer.on('add', (obj) => this.onAddOrUpdate(obj));
      informer.on('update', (obj) => this.onAddOrUpdate(obj));
      informer.on('delete', (obj) => this.onDelete(obj));
      informer.on('error', (err) => {
        // Watch dropped for a reason the informer does not retry itself (API server restart, network): relist later.
        this.o.log('warn', 'watch failed; restarting the informer', {
          namespace: ns ?? '*',
          error: String(err?.message ?? err),
        });
        if (this.stopped) return;
        const t = setTimeout(() => {
          this.restartTimers.delete(t);
          if (!this.stopped) informer.start().catch(() => undefined);
        }, 2000);
        this.restartTimers.add(t);
      });
      this.informers.push(informer);
      await informer.start();
    }
    this.synced = true;
  }

  private cached(key: string): DatasetStateObject | undefined {
    const { namespace, name } = splitKey(key);
    for (const inf of this.informers) {
      const obj = inf.get(name, namespace);
      if (obj) return obj;
    }
    return undefined;
  }

  private onAddOrUpdate(obj: DatasetStateObject): void {
    const key = keyOf(obj);
    const generation = obj.metadata?.generation;
    const known = this.seenGeneration.has(key);
    // Our own status writes bump resourceVersion, not generation: only spec changes (and new objects) count.
    if (known && this.seenGeneration.get(key) === generation && !obj.metadata?.deletionTimestamp) return;
    this.seenGeneration.set(key, generation);
    this.queue?.add(key);
  }

  private onDelete(obj: DatasetStateObject): void {
    const key = keyOf(obj);
    this.seenGeneration.delete(key);
    this.cancelTask(key, 'DatasetState deleted');
    for (const g of [
      this.o.metrics.datasetDocumentsReady,
      this.o.metrics.datasetDocumentsEmbedded,
      this.o.metrics.datasetEmbeddingsMissing,
      this.o.metrics.datasetProgress,
      this.o.metrics.datasetReady,
    ])
      g.remove(splitKey(key));
  }

  private cancelTask(key: string, reason: string): void {
    const task = this.tasks.get(key);
    if (!task) return;
    this.tasks.delete(key);
    this.written.delete(key);
    task.cancel(reason);
    this.o.metrics.healTasks.set(this.tasks.size);
    void task.finished.then(() =>
      this.o.log('info', 'heal task cancelled', {
        key,
        reason,
        seconds: (Date.now() - task.startedAt) / 1000,
      }),
    );
  }

  /**
   * Runs the queue's loops until `signal` aborts (shutdown or lost leadership), then cancels the heal tasks
   * and waits for them: the batch in flight finishes its transaction or is abandoned whole.
   */
  async runQueue(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue(this.o.backoff);
    this.queue = queue;
    for (const inf of this.informers) for (const obj of inf.list()) queue.add(keyOf(obj));
    const depthTimer = setInterval(() => this.o.metrics.queueDepth.set(queue.depth), 1000);
    const onAbort = () => queue.shutdown();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await queue.run(this.o.concurrency, (key) => this.handle(key, signal), signal);
    } finally {
      clearInterval(depthTimer);
      signal.removeEventListener('abort', onAbort);
      if (this.queue === queue) this.queue = null;
      await this.cancelAll('controller stopping');
    }
  }

  private async cancelAll(reason: string): Promise<void> {
    const running = [...this.tasks.values()];
    for (const key of [...this.tasks.keys()]) this.cancelTask(key, reason);
    await Promise.all(running.map((t) => t.finished));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.restartTimers) clearTimeout(t);
    await this.cancelAll('controller stopping');
    await Promise.all(this.informers.map((i) => i.stop().catch(() => undefined)));
  }

  private async writeStatus(key: string, status: DatasetStateStatus): Promise<void> {
    const { namespace, name } = splitKey(key);
    try {
      await this.o.clients.patchStatus(namespace, name, status);
    } catch (e) {
      this.o.log('warn', 'status write failed', { key, error: redactSecrets((e as Error).message) });
    }
  }

  private async event(obj: DatasetStateObject, type: 'Normal' | 'Warning', reason: string, message: string) {
    const err = await this.o.clients.event(obj, type, reason, redactSecrets(message), this.o.identity);
    if (err) this.o.log('warn', 'event write failed', { key: keyOf(obj), reason, error: err.message });
  }

  /** The database URL: spec.database.url, or the Secret it names (never logged, never written to status). */
  private async databaseUrl(namespace: string, spec: DatasetStateSpec): Promise<string | undefined> {
    const ref = spec.database.connectionSecretRef;
    if (!ref) return spec.database.url;
    return this.o.clients.secretValue(namespace, ref.name, ref.key);
  }

  /**
   * The wrapper around a pass: duration and result metrics, logs, status and Event for an error, and the
   * error-to-requeue mapping (a TerminalError waits for the object to change; any other error backs off).
   */
  private async handle(key: string, stop: AbortSignal): Promise<HandlerResult> {
    const started = Date.now();
    try {
      const r = await this.sync(key, stop);
      if (r.result) this.o.metrics.reconcileTotal.inc({ result: r.result });
      return r.requeue;
    } catch (error) {
      const terminal = error instanceof TerminalError;
      const unavailable = error instanceof DatabaseUnavailableError;
      const message = redactSecrets((error as Error)?.message ?? String(error));
      this.o.metrics.reconcileTotal.inc({ result: terminal ? 'failed' : 'error' });
      if (!terminal) this.o.metrics.reconcileErrors.inc();
      const obj = this.cached(key);
      if (obj && !obj.metadata?.deletionTimestamp) {
        const base = { previous: obj.status, generation: obj.metadata?.generation, now: new Date() };
        await this.writeStatus(
          key,
          errorStatus({ ...base, message, checks: this.tasks.get(key)?.snapshot.checks, unavailable }),
        );
        await this.event(
          obj,
          'Warning',
          terminal ? error.reason : unavailable ? 'DatabaseUnavailable' : 'ReconcileFailed',
          message,
        );
      }
      if (terminal) {
        this.o.log('warn', 'reconcile failed; waiting for the object to change', { key, error: message });
        return;
      }
      this.o.log('error', 'reconcile failed; retrying with backoff', { key, error: message });
      return { backoff: true };
    } finally {
      this.o.metrics.reconcileDuration.observe((Date.now() - started) / 1000);
    }
  }

  /** One short pass over a key. */
  private async sync(
    key: string,
    stop: AbortSignal,
  ): Promise<{ requeue: HandlerResult; result?: 'ready' | 'degraded' | 'failed' }> {
    const obj = this.cached(key);
    if (!obj || obj.metadata?.deletionTimestamp || stop.aborted) {
      this.cancelTask(key, 'DatasetState deleted');
      return { requeue: undefined };
    }
    const generation = obj.metadata?.generation;
    let spec: DatasetStateSpec;
    try {
      spec = parseSpec(obj.spec, 'spec');
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      this.cancelTask(key, 'spec changed');
      throw new InvalidSpecError(e.message, { cause: e });
    }

    let task = this.tasks.get(key);
    if (task && task.generation !== generation) {
      this.o.log('info', 'spec changed while reconciling: cancelling the running pass to re-plan', {
        key,
        generation,
      });
      this.cancelTask(key, 'spec changed');
      task = undefined;
    }
    if (!task) task = this.startTask(key, obj, spec);

    const snap = task.snapshot;
    if (snap.state === 'failed') {
      this.forgetTask(key, task);
      throw snap.error;
    }
    if (snap.state === 'done') {
      this.forgetTask(key, task);
      return this.finish(key, obj, spec, task, snap.result!);
    }
    // Waiting for a heal slot, or healing: status from the snapshot, replicas from the backlog.
    if (spec.mode === 'AutoFix' && (this.written.get(key) ?? -1) < snap.version) {
      const plan = snap.plan ?? obj.status?.plan;
      // A plan with work is announced; a new object waiting for a slot says so (a known one keeps its status).
      const hasWork = snap.plan
        ? snap.plan.documentsToLoad ||
          snap.plan.embeddingsMissing ||
          snap.plan.embeddingsStale ||
          snap.plan.embeddingsToDelete
        : snap.state === 'waiting' && this.slots.full && !obj.status?.conditions?.length;
      if (hasWork) {
        this.written.set(key, snap.version);
        const message =
          snap.state === 'waiting'
            ? `waiting for a heal slot (${this.slots.running} heals running)`
            : snap.progress
              ? `embedding ${snap.progress.processed}/${snap.progress.total} documents`
              : 'healing started';
        await this.writeStatus(
          key,
          healingStatus({
            previous: obj.status,
            generation,
            now: new Date(),
            checks: snap.checks ?? obj.status?.checks ?? [],
            plan,
            progress: snap.progress,
            message,
          }),
        );
      }
    }
    const dispatcher = this.dispatchers.get(task);
    if (dispatcher)
      await dispatcher
        .scaleToBacklog()
        .catch((e) =>
          this.o.log('warn', 'cannot scale workers', { key, error: redactSecrets((e as Error).message) }),
        );
    // The task enqueues the key when it has news: nothing to schedule here.
    return { requeue: undefined };
  }

  private forgetTask(key: string, task: HealTask): void {
    if (this.tasks.get(key) === task) this.tasks.delete(key);
    this.written.delete(key);
    this.o.metrics.healTasks.set(this.tasks.size);
  }

  /** Starts the background heal of one DatasetState at its current generation. */
  private startTask(key: string, obj: DatasetStateObject, spec: DatasetStateSpec): HealTask {
    const labels = splitKey(key);
    const generation = obj.metadata?.generation;
    const previous = obj.status;
    const dispatcher =
      this.o.workers && spec.workers.maxReplicas > 0 && spec.mode === 'AutoFix'
        ? new WorkerDispatcher(this.o.clients, obj, spec, this.o.workers, this.o.log)
        : null;
    const previousTask = this.unwinding.get(key);
    const task: HealTask = new HealTask({
      generation,
      after: previousTask,
      slots: spec.mode === 'AutoFix' ? this.slots : undefined,
      progressEveryMs: this.o.statusEveryMs,
      onChange: () => {
        if (this.tasks.get(key) === task) this.queue?.add(key);
      },
      run: async (t) => {
        const onEvent = (e: EngineEvent) => {
          t.observe(e);
          this.reportEvent(obj, spec, labels, e);
        };
        const databaseUrl = await this.databaseUrl(labels.namespace, spec);
        const wired = await wire(
          spec,
          onEvent,
          (note) => this.o.log('info', note, { key }),
          // A cancelled task also ends its store's lock waits at once.
          databaseUrl ? { databaseUrl, signal: t.signal } : { signal: t.signal },
        );
        try {
          if (dispatcher)
            wired.deps.openBatchRunner = async () => {
              const fingerprint = await wired.deps.modelFingerprint();
              if (!fingerprint)
                throw new Error('the model fingerprint is unknown: it is needed to hand batches to workers');
              return dispatcher.batchRunner(fingerprint, t.signal);
            };
          const forceRegenerate = spec.healing.forceRegenerate && previous?.observedGeneration !== generation;
          return await reconcile(spec, wired.deps, { signal: t.signal, forceRegenerate });
        } catch (error) {
          if (wired.deps.store.isTransient(error) && !t.cancelled)
            throw new DatabaseUnavailableError(
              `the database is unavailable: ${(error as Error)?.message ?? String(error)}; retrying with backoff`,
              { cause: error },
            );
          throw error;
        } finally {
          await wired.close().catch(() => undefined);
        }
      },
    });
    if (dispatcher) this.dispatchers.set(task, dispatcher);
    this.tasks.set(key, task);
    this.unwinding.set(key, task.finished);
    void task.finished.then(() => {
      if (this.unwinding.get(key) === task.finished) this.unwinding.delete(key);
      this.o.metrics.healDuration.observe((Date.now() - task.startedAt) / 1000);
    });
    this.o.metrics.healTasks.set(this.tasks.size);
    return task;
  }

  /** The latest task's end, per key: the next task of the same object waits for it. */
  private readonly unwinding = new Map<string, Promise<void>>();

  /** Kubernetes Events and metrics as the engine reports. */
  private reportEvent(
    obj: DatasetStateObject,
    spec: DatasetStateSpec,
    labels: { namespace: string; name: string },
    e: EngineEvent,
  ): void {
    switch (e.type) {
      case 'plan': {
        const s = e.plan.summary;
        if (spec.mode !== 'AutoFix') return;
        if (!s.documentsToLoad && !s.embeddingsMissing && !s.embeddingsStale && !s.embeddingsToDelete) return;
        void this.event(
          obj,
          'Normal',
          'PlanMade',
          `load ${s.documentsToLoad} documents, embed ${s.embeddingsMissing} missing and ${s.embeddingsStale} stale, ` +
            `delete ${s.embeddingsToDelete}; ${s.batches} batches of ${s.batchSize}`,
        );
        return;
      }
      case 'embed-progress':
        this.o.metrics.datasetProgress.set(
          labels,
          e.progress.total ? e.progress.processed / e.progress.total : 1,
        );
        return;
      case 'batch-split':
      case 'batch-retry':
        void this.event(obj, 'Warning', 'BatchFailed', `batch of ${e.docIds.length} documents: ${e.reason}`);
        return;
      default:
        return;
    }
  }

  /** The end of a heal: status, metrics and Events from its result; when to look again. */
  private async finish(
    key: string,
    obj: DatasetStateObject,
    spec: DatasetStateSpec,
    task: HealTask,
    result: ReconcileResult,
  ): Promise<{ requeue: HandlerResult; result: 'ready' | 'degraded' | 'failed' }> {
    const labels = splitKey(key);
    const generation = obj.metadata?.generation;
    const status = statusFromResult({
      previous: obj.status,
      generation,
      now: new Date(),
      result,
      progress: task.snapshot.progress,
    });
    this.o.metrics.documentsEmbedded.inc(result.healed.embedded);
    this.o.metrics.tokensEmbedded.inc(result.healed.tokens);
    this.o.metrics.documentsFailed.inc(result.failures.length);
    this.o.metrics.datasetDocumentsReady.set(labels, result.documents);
    this.o.metrics.datasetDocumentsEmbedded.set(labels, result.embedded);
    this.o.metrics.datasetEmbeddingsMissing.set(
      labels,
      Math.max(0, Math.min(spec.docCount, result.documents) - result.embedded),
    );
    this.o.metrics.datasetReady.set(labels, result.ready ? 1 : 0);
    const outcome = status.phase === 'Ready' ? 'ready' : status.phase === 'Failed' ? 'failed' : 'degraded';

    const healed = result.healed;
    const didWork =
      healed.schemaCreated ||
      healed.documentsLoaded ||
      healed.embedded ||
      healed.orphansDeleted ||
      healed.documentsReloaded;
    const failedDocs = task.snapshot.failedDocs;
    if (failedDocs.length)
      await this.event(
        obj,
        'Warning',
        'BatchFailed',
        `${failedDocs.length} documents failed: ${failedDocs.slice(0, 5).join('; ')}`,
      );
    if (result.ready && didWork)
      await this.event(
        obj,
        'Normal',
        'Healed',
        `${healed.documentsLoaded} documents loaded, ${healed.embedded} embedded (${healed.tokens} token vectors); all checks pass`,
      );
    const failing = result.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.message}`);
    if (!result.ready)
      await this.event(obj, 'Warning', 'ValidationFailed', failing.join('; ') || result.outcome.kind);
    // The Events first, then the status that reports them: whoever sees the status finds its Events.
    await this.writeStatus(key, status);
    if (!result.ready) {
      this.o.log('info', 'not ready', { key, phase: status.phase, failing: failing.length });
      // AutoFix could not reach Ready (documents failed, source short): again after the key's backoff.
      if (spec.mode === 'AutoFix') return { requeue: { backoff: true }, result: outcome };
    } else
      this.o.log('info', 'ready', {
        key,
        embedded: result.embedded,
        seconds: (Date.now() - task.startedAt) / 1000,
      });
    return { requeue: { requeueAfterMs: this.o.resyncMs }, result: outcome };
  }
}
