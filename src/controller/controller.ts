/**
 * The DatasetState controller: informers (list + watch, restarted on error) feed a rate-limited work queue;
 * each key is reconciled by the same engine the CLI uses (src/heal/reconcile.ts); status goes through the
 * status subresource, Events onto the resource, numbers into /metrics.
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
import type { ControllerMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';
import { WorkerPool, type WorkerSettings } from './workers.ts';
import { errorStatus, healingStatus, statusFromResult } from './status.ts';
import { redactSecrets } from '../store/url.ts';

export interface ControllerOptions {
  clients: KubeClients;
  metrics: ControllerMetrics;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  /** Re-check every dataset this often even without a change (catches drift done behind our back). */
  resyncMs: number;
  /** Datasets reconciled at once. */
  concurrency: number;
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

interface Running {
  abort: AbortController;
  generation: number | undefined;
}

/** A pass that could not reach Ready (documents failed, source short): status is written, then retried with backoff. */
class NotReadyYet extends Error {}

export class DatasetStateController {
  private readonly o: ControllerOptions;
  private readonly informers: (Informer<DatasetStateObject> & ObjectCache<DatasetStateObject>)[] = [];
  private readonly seenGeneration = new Map<string, number | undefined>();
  private readonly running = new Map<string, Running>();
  private queue: WorkQueue | null = null;
  private synced = false;
  private stopped = false;
  private readonly restartTimers = new Set<NodeJS.Timeout>();

  constructor(options: ControllerOptions) {
    this.o = options;
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
    const run = this.running.get(key);
    if (run && run.generation !== generation) {
      this.o.log('info', 'spec changed while reconciling: cancelling the running pass to re-plan', {
        key,
        generation,
      });
      run.abort.abort(new Error('spec changed'));
    }
    this.queue?.add(key);
  }

  private onDelete(obj: DatasetStateObject): void {
    const key = keyOf(obj);
    this.seenGeneration.delete(key);
    this.running.get(key)?.abort.abort(new Error('DatasetState deleted'));
    for (const g of [
      this.o.metrics.datasetDocumentsReady,
      this.o.metrics.datasetDocumentsEmbedded,
      this.o.metrics.datasetEmbeddingsMissing,
      this.o.metrics.datasetProgress,
      this.o.metrics.datasetReady,
    ])
      g.remove(splitKey(key));
  }

  /**
   * Runs the workers until `signal` aborts (shutdown or lost leadership). Running passes are cancelled:
   * the batch in flight finishes its transaction or is abandoned whole.
   */
  async runWorkers(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue(this.o.backoff);
    this.queue = queue;
    for (const inf of this.informers) for (const obj of inf.list()) queue.add(keyOf(obj));
    const depthTimer = setInterval(() => this.o.metrics.queueDepth.set(queue.depth), 1000);
    const onAbort = () => {
      queue.shutdown();
      for (const r of this.running.values()) r.abort.abort(new Error('controller stopping'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await queue.run(
        this.o.concurrency,
        (key) => this.reconcileKey(key, signal),
        signal,
        (key, error) => {
          if (!(error instanceof NotReadyYet)) {
            this.o.metrics.reconcileErrors.inc();
            this.o.log('error', 'reconcile failed; retrying with backoff', {
              key,
              error: redactSecrets((error as Error)?.message ?? String(error)),
            });
          }
        },
      );
    } finally {
      clearInterval(depthTimer);
      signal.removeEventListener('abort', onAbort);
      if (this.queue === queue) this.queue = null;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.restartTimers) clearTimeout(t);
    for (const r of this.running.values()) r.abort.abort(new Error('controller stopping'));
    await Promise.all(this.informers.map((i) => i.stop().catch(() => undefined)));
  }

  private async writeStatus(key: string, status: DatasetStateStatus): Promise<void> {
    const { namespace, name } = splitKey(key);
    try {
      await this.o.clients.patchStatus(namespace, name, status);
    } catch (e) {
      this.o.log('warn', 'status write failed', { key, error: (e as Error).message });
    }
  }

  private async event(obj: DatasetStateObject, type: 'Normal' | 'Warning', reason: string, message: string) {
    const err = await this.o.clients.event(obj, type, reason, message, this.o.identity);
    if (err) this.o.log('warn', 'event write failed', { key: keyOf(obj), reason, error: err.message });
  }

  /** The database URL: spec.database.url, or the Secret it names (never logged, never written to status). */
  private async databaseUrl(namespace: string, spec: DatasetStateSpec): Promise<string | undefined> {
    const ref = spec.database.connectionSecretRef;
    if (!ref) return spec.database.url;
    return this.o.clients.secretValue(namespace, ref.name, ref.key);
  }

  private async reconcileKey(key: string, stop: AbortSignal): Promise<{ requeueAfterMs?: number } | void> {
    const obj = this.cached(key);
    if (!obj || obj.metadata?.deletionTimestamp || stop.aborted) return;
    const started = Date.now();
    const generation = obj.metadata?.generation;
    const previous = obj.status;
    const now = () => new Date();
    const labels = splitKey(key);

    let spec: DatasetStateSpec;
    try {
      spec = parseSpec(obj.spec, 'spec');
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      await this.writeStatus(
        key,
        errorStatus({ previous, generation, now: now(), message: `invalid spec: ${e.message}` }),
      );
      await this.event(obj, 'Warning', 'InvalidSpec', e.message);
      this.o.metrics.reconcileTotal.inc({ result: 'failed' });
      return; // nothing to retry until the spec changes
    }

    const abort = new AbortController();
    const onStop = () => abort.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    this.running.set(key, { abort, generation });

    // Status while healing: the plan at once, then progress at most every statusEveryMs.
    let checks = previous?.checks ?? [];
    let planSummary = previous?.plan;
    let lastWrite = 0;
    let pendingWrite: Promise<void> = Promise.resolve();
    let failedDocs: string[] = [];
    let lastProgress: DatasetStateStatus['progress'];
    // Announce the plan as soon as it is made, when there is work and this pass is going to do it.
    const announcePlan = (s: NonNullable<DatasetStateStatus['plan']>) => {
      if (spec.mode !== 'AutoFix') return;
      if (!s.documentsToLoad && !s.embeddingsMissing && !s.embeddingsStale && !s.embeddingsToDelete) return;
      lastWrite = Date.now();
      const status = healingStatus({
        previous,
        generation,
        now: now(),
        checks,
        plan: s,
        message: 'healing started',
      });
      pendingWrite = pendingWrite.then(() => this.writeStatus(key, status));
      void this.event(
        obj,
        'Normal',
        'PlanMade',
        `load ${s.documentsToLoad} documents, embed ${s.embeddingsMissing} missing and ${s.embeddingsStale} stale, ` +
          `delete ${s.embeddingsToDelete}; ${s.batches} batches of ${s.batchSize}`,
      );
    };
    const onEvent = (e: EngineEvent) => {
      switch (e.type) {
        case 'inspected':
          checks = e.checks;
          break;
        case 'plan':
          planSummary = e.plan.summary;
          announcePlan(planSummary);
          break;
        case 'embed-progress': {
          lastProgress = e.progress;
          this.o.metrics.datasetProgress.set(
            labels,
            e.progress.total ? e.progress.processed / e.progress.total : 1,
          );
          const t = Date.now();
          if (t - lastWrite >= this.o.statusEveryMs && planSummary) {
            lastWrite = t;
            const status = healingStatus({
              previous,
              generation,
              now: now(),
              checks,
              plan: planSummary,
              progress: e.progress,
              message: `embedding ${e.progress.processed}/${e.progress.total} documents`,
            });
            pendingWrite = pendingWrite.then(() => this.writeStatus(key, status));
          }
          break;
        }
        case 'document-failed':
          failedDocs.push(`${e.docId}: ${e.reason}`);
          break;
        case 'batch-split':
        case 'batch-retry':
          void this.event(
            obj,
            'Warning',
            'BatchFailed',
            `batch of ${e.docIds.length} documents: ${e.reason}`,
          );
          break;
        default:
          break;
      }
    };

    let result: ReconcileResult;
    let closeStore = async () => {};
    const pool =
      this.o.workers && spec.workers.maxReplicas > 0 && spec.mode === 'AutoFix'
        ? new WorkerPool(this.o.clients, obj, spec, this.o.workers, this.o.log)
        : null;
    try {
      const databaseUrl = await this.databaseUrl(labels.namespace, spec);
      const wired = await wire(
        spec,
        onEvent,
        (note) => this.o.log('info', note, { key }),
        databaseUrl ? { databaseUrl } : {},
      );
      closeStore = wired.close;
      if (pool) wired.deps.runBatches = (batches, ctx) => pool.run(batches, ctx);
      const forceRegenerate = spec.healing.forceRegenerate && previous?.observedGeneration !== generation;
      const pass = reconcile(spec, wired.deps, { signal: abort.signal, forceRegenerate });
      result = await pass;
    } catch (error) {
      await pendingWrite;
      await pool?.ensure(spec.workers.minReplicas).catch(() => undefined);
      const message = redactSecrets((error as Error)?.message ?? String(error));
      await this.writeStatus(key, errorStatus({ previous, generation, now: now(), message, checks }));
      await this.event(obj, 'Warning', 'ReconcileFailed', message);
      this.o.metrics.reconcileTotal.inc({ result: 'error' });
      throw error;
    } finally {
      stop.removeEventListener('abort', onStop);
      this.running.delete(key);
      await closeStore().catch(() => undefined);
      this.o.metrics.reconcileDuration.observe((Date.now() - started) / 1000);
    }
    await pendingWrite;
    // The workers go back to minReplicas (0 by default) until the next pass has work for them.
    if (pool && !abort.signal.aborted)
      await pool
        .ensure(spec.workers.minReplicas)
        .catch((e) => this.o.log('warn', 'cannot scale workers down', { key, error: (e as Error).message }));
    if (abort.signal.aborted) {
      // Spec changed, deleted, or shutting down: whatever was committed stays; the next pass re-plans.
      this.o.log('info', 'pass cancelled', {
        key,
        reason: String(abort.signal.reason?.message ?? abort.signal.reason),
      });
      return;
    }

    const status = statusFromResult({ previous, generation, now: now(), result, progress: lastProgress });
    await this.writeStatus(key, status);
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
    this.o.metrics.reconcileTotal.inc({
      result: status.phase === 'Ready' ? 'ready' : status.phase === 'Failed' ? 'failed' : 'degraded',
    });

    const healed = result.healed;
    const didWork =
      healed.schemaCreated ||
      healed.documentsLoaded ||
      healed.embedded ||
      healed.orphansDeleted ||
      healed.documentsReloaded;
    if (failedDocs.length)
      await this.event(
        obj,
        'Warning',
        'BatchFailed',
        `${failedDocs.length} documents failed: ${failedDocs.slice(0, 5).join('; ')}`,
      );
    failedDocs = [];
    if (result.ready && didWork)
      await this.event(
        obj,
        'Normal',
        'Healed',
        `${healed.documentsLoaded} documents loaded, ${healed.embedded} embedded (${healed.tokens} token vectors); all checks pass`,
      );
    if (!result.ready) {
      const failing = result.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.message}`);
      await this.event(obj, 'Warning', 'ValidationFailed', failing.join('; ') || result.outcome.kind);
      this.o.log('info', 'not ready', { key, phase: status.phase, failing: failing.length });
      if (spec.mode === 'AutoFix') throw new NotReadyYet(status.lastError ?? 'checks still failing');
    } else
      this.o.log('info', 'ready', { key, embedded: result.embedded, seconds: (Date.now() - started) / 1000 });
    return { requeueAfterMs: this.o.resyncMs };
  }
}
