/**
 * The worker dispatcher of one DatasetState: the BatchRunner that runs batches on the embedding worker
 * Deployment. It applies the Deployment + Service + token Secret (+ NetworkPolicy and PodDisruptionBudget when
 * configured; worker-manifests.ts builds them, pure) that the controller owns (ownerReferences: deleting the
 * DatasetState deletes them), scales the Deployment with the backlog, and feeds batches of document ids through
 * the ready endpoints of the Service's EndpointSlices.
 *
 * Workers read texts from and write vectors to the database themselves; vectors never pass through the
 * controller. A worker that dies or times out mid-batch has its batch retried on another endpoint; since a
 * batch is one transaction, nothing is written twice or half.
 */
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  DiscoveryV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { DatasetStateSpec } from '../api/schema.ts';
import { ProgressTracker } from '../core/progress.ts';
import type { BatchContext, BatchRunner } from '../heal/batch-runner.ts';
import type { EmbedBatchesResult } from '../heal/embed-batches.ts';
import { backoffDelay, noJitter } from '../heal/retry.ts';
import { sleep } from '../core/timers.ts';
import { errorText, parseBatchResponse, type BatchRequest } from '../worker/wire.ts';
import { statusOf, type DatasetStateObject, type KubeClients } from './kube.ts';
import { postJson } from './worker-client.ts';
import {
  desiredReplicas,
  MANAGER,
  workerManifests,
  workerName,
  workerTokenSecret,
  type WorkerOwner,
  type WorkerSettings,
} from './worker-manifests.ts';

/** A dead endpoint is tried again after 1, 2, 4 … 30 s, not hammered. */
const ENDPOINT_COOLDOWN = { initialMs: 1000, maxMs: 30_000 };

export interface Endpoint {
  url: string;
  name: string;
}

export class WorkerDispatcher {
  private readonly apps: AppsV1Api;
  private readonly discovery: DiscoveryV1Api;
  private readonly objects: KubernetesObjectApi;
  private readonly name: string;
  private readonly namespace: string;
  private token = '';
  /** Replicas we set last, so we only write when it changes. */
  private replicas: number | null = null;

  private readonly clients: KubeClients;
  private readonly obj: DatasetStateObject;
  private readonly spec: DatasetStateSpec;
  private readonly settings: WorkerSettings;
  private readonly log: (
    level: 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => void;

  constructor(
    clients: KubeClients,
    obj: DatasetStateObject,
    spec: DatasetStateSpec,
    settings: WorkerSettings,
    log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void,
  ) {
    this.clients = clients;
    this.obj = obj;
    this.spec = spec;
    this.settings = settings;
    this.log = log;
    this.apps = clients.kc.makeApiClient(AppsV1Api);
    this.discovery = clients.kc.makeApiClient(DiscoveryV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(clients.kc);
    this.name = workerName(obj.metadata!.name!);
    this.namespace = obj.metadata!.namespace!;
  }

  get serviceName(): string {
    return this.name;
  }

  private async apply<T extends KubernetesObject>(o: T): Promise<T> {
    return this.objects.patch(o, undefined, undefined, MANAGER, true, PatchStrategy.ServerSideApply);
  }

  /** The token Secret: created once with a random token, then only read (so the token does not change under the workers). */
  private async ensureToken(): Promise<string> {
    const secretName = `${this.name}-token`;
    try {
      const s = await this.clients.core.readNamespacedSecret({ name: secretName, namespace: this.namespace });
      const t = s.data?.token
        ? Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!.trim()
        : '';
      if (t) return t;
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
    const token = randomBytes(32).toString('hex');
    await this.clients.core
      .createNamespacedSecret({
        namespace: this.namespace,
        body: workerTokenSecret(this.owner, token),
      })
      .catch(async (e) => {
        if (statusOf(e) !== 409) throw e;
      });
    // Read back: another replica may have won the create.
    const s = await this.clients.core.readNamespacedSecret({ name: secretName, namespace: this.namespace });
    return Buffer.from(s.data!.token!, 'base64').toString('utf8').split('\n')[0]!.trim();
  }

  private get owner(): WorkerOwner {
    return { name: this.obj.metadata!.name!, namespace: this.namespace, uid: this.obj.metadata!.uid! };
  }

  /**
   * Creates or updates the token Secret (created once, never rewritten), then applies the NetworkPolicy,
   * Service, PodDisruptionBudget and Deployment (at `replicas`), in that order.
   */
  async ensure(replicas: number): Promise<void> {
    this.token = await this.ensureToken();
    const [, ...applied] = workerManifests(this.owner, this.spec, this.settings, replicas, '');
    for (const m of applied) await this.apply(m as KubernetesObject);
    this.replicas = replicas;
  }

  async scale(replicas: number): Promise<void> {
    if (this.replicas === replicas) return;
    await this.apps.patchNamespacedDeployment(
      { name: this.name, namespace: this.namespace, body: { spec: { replicas } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.replicas = replicas;
    this.log('info', 'workers scaled', { dataset: `${this.namespace}/${this.obj.metadata!.name}`, replicas });
  }

  /** Ready endpoints of the worker Service, from its EndpointSlices. */
  async endpoints(): Promise<Endpoint[]> {
    const list = await this.discovery.listNamespacedEndpointSlice({
      namespace: this.namespace,
      labelSelector: `kubernetes.io/service-name=${this.name}`,
    });
    const out: Endpoint[] = [];
    for (const slice of list.items) {
      const port =
        slice.ports?.find((p) => p.name === 'http')?.port ?? slice.ports?.[0]?.port ?? this.settings.port;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
        const addr = ep.addresses[0];
        if (!addr) continue;
        const host = addr.includes(':') ? `[${addr}]` : addr;
        out.push({ url: `http://${host}:${port}`, name: ep.targetRef?.name ?? `${addr}:${port}` });
      }
    }
    return out;
  }

  /**
   * Dispatches the batches to the ready endpoints, at most inFlightPerEndpoint each, and scales the
   * Deployment with the backlog as it shrinks.
   */
  /** The BatchRunner port over this dispatcher; closing it scales the Deployment back to minReplicas. */
  batchRunner(fingerprint: string, signal: AbortSignal): BatchRunner {
    return {
      fingerprint,
      run: (batches, ctx) => this.run(batches, { ...ctx, fingerprint }),
      // Cancelled (spec changed, deleted, stopping): the next task, if any, sets the replicas itself.
      close: async () => {
        if (signal.aborted) return;
        await this.ensure(this.spec.workers.minReplicas).catch((e) =>
          this.log('warn', 'cannot scale workers down', { error: (e as Error).message }),
        );
      },
    };
  }

  /** Batches not answered yet (queued or in flight) of the run under way, and those in flight. */
  private backlog = { open: 0, inFlight: 0 };

  /**
   * Sets the Deployment's replicas from the backlog of the run under way (never below what is in flight);
   * the controller's pass calls it. Nothing while no run is under way.
   */
  async scaleToBacklog(): Promise<void> {
    if (this.replicas === null || !this.backlog.open) return;
    const { minReplicas: min, maxReplicas: max } = this.spec.workers;
    await this.scale(
      Math.max(
        desiredReplicas(this.backlog.open, this.settings.batchesPerWorker, min, max),
        Math.min(max, this.backlog.inFlight),
      ),
    );
  }

  async run(
    batches: readonly string[][],
    ctx: BatchContext & { fingerprint: string },
  ): Promise<EmbedBatchesResult> {
    const { min, max } = { min: this.spec.workers.minReplicas, max: this.spec.workers.maxReplicas };
    const dataset = `${this.namespace}/${this.obj.metadata!.name}`;
    await this.ensure(desiredReplicas(batches.length, this.settings.batchesPerWorker, min, max));
    const total = batches.reduce((n, b) => n + b.length, 0);
    const progress = new ProgressTracker(total, new Date());
    const result: EmbedBatchesResult = {
      embedded: 0,
      tokens: 0,
      failures: [],
      vanished: 0,
      cancelled: false,
    };
    const pending = batches.map((ids) => ({ ids, attempts: 0 }));
    const inFlight = new Map<string, number>();
    const coolingUntil = new Map<string, number>();
    // Consecutive failures per endpoint (ENDPOINT_COOLDOWN).
    const strikes = new Map<string, number>();
    const running = new Set<Promise<void>>();
    let fatal: Error | null = null;
    let endpoints: Endpoint[] = [];
    let lastRefresh = 0;
    let noEndpointSince = Date.now();
    let lastProgressEvent = 0;
    const report = (force = false) => {
      if (!force && Date.now() - lastProgressEvent < 500) return;
      lastProgressEvent = Date.now();
      ctx.onEvent({ type: 'embed-progress', progress: progress.snapshot(new Date()), tokens: result.tokens });
    };
    report(true);

    const send = async (ep: Endpoint, batch: { ids: string[]; attempts: number }) => {
      batch.attempts++;
      inFlight.set(ep.url, (inFlight.get(ep.url) ?? 0) + 1);
      try {
        const request: BatchRequest = {
          dataset,
          docIds: batch.ids,
          fingerprint: ctx.fingerprint,
          dimension: this.spec.embedding.dimension,
        };
        const res = await postJson(`${ep.url}/v1/batches`, request, {
          token: this.token,
          signal: ctx.signal,
          timeoutMs: 60_000 + 10_000 * batch.ids.length,
        });
        if (res.status === 409 || res.status === 422 || res.status === 401) {
          // The worker runs another model or does not accept our token: retrying elsewhere will not help.
          fatal ??= new Error(
            `worker ${ep.name} refused the batch (HTTP ${res.status}): ${errorText(res.body)}`,
          );
          return;
        }
        if (res.status !== 200)
          throw Object.assign(new Error(`HTTP ${res.status}: ${errorText(res.body)}`), {
            status: res.status,
          });
        const r = parseBatchResponse(res.body);
        result.embedded += r.embedded;
        result.tokens += r.tokens;
        result.vanished += r.vanished;
        for (const f of r.failures) {
          result.failures.push(f);
          ctx.onEvent({ type: 'document-failed', docId: f.docId, reason: f.reason });
        }
        strikes.delete(ep.url);
        progress.advance(batch.ids.length, new Date());
        report(progress.processed >= total);
      } catch (e) {
        if (ctx.signal?.aborted) return;
        const reason = `worker ${ep.name}: ${(e as Error).message}`;
        if ((e as { status?: number }).status === 429) coolingUntil.set(ep.url, Date.now() + 500);
        else {
          const n = (strikes.get(ep.url) ?? 0) + 1;
          strikes.set(ep.url, n);
          coolingUntil.set(ep.url, Date.now() + backoffDelay(n, ENDPOINT_COOLDOWN, noJitter));
        }
        if (batch.attempts >= this.settings.maxAttempts) {
          for (const docId of batch.ids) {
            result.failures.push({ docId, reason: `gave up after ${batch.attempts} attempts: ${reason}` });
            ctx.onEvent({ type: 'document-failed', docId, reason });
          }
        } else {
          ctx.onEvent({
            type: 'batch-retry',
            docIds: batch.ids,
            attempt: batch.attempts,
            delayMs: 0,
            reason,
          });
          pending.unshift(batch);
        }
      } finally {
        inFlight.set(ep.url, (inFlight.get(ep.url) ?? 1) - 1);
      }
    };

    while ((pending.length || running.size) && !fatal && !ctx.signal?.aborted) {
      this.backlog = { open: pending.length + running.size, inFlight: running.size };
      if (Date.now() - lastRefresh > 1000) {
        lastRefresh = Date.now();
        try {
          endpoints = await this.endpoints();
        } catch (e) {
          this.log('warn', 'cannot list worker endpoints', { dataset, error: (e as Error).message });
        }
      }
      if (endpoints.length) noEndpointSince = Date.now();
      else if (Date.now() - noEndpointSince > this.settings.readyTimeoutMs) {
        fatal = new Error(
          `no ready worker endpoint for Service ${this.namespace}/${this.name} after ${Math.round(this.settings.readyTimeoutMs / 1000)} s`,
        );
        break;
      }
      const now = Date.now();
      for (const ep of endpoints) {
        while (
          pending.length &&
          (inFlight.get(ep.url) ?? 0) < this.settings.inFlightPerEndpoint &&
          (coolingUntil.get(ep.url) ?? 0) <= now
        ) {
          const p = send(ep, pending.shift()!);
          running.add(p);
          void p.finally(() => running.delete(p));
        }
      }
      await Promise.race([sleep(250, ctx.signal).catch(() => undefined), ...running]);
    }
    await Promise.allSettled(running);
    this.backlog = { open: 0, inFlight: 0 };
    result.cancelled = Boolean(ctx.signal?.aborted);
    report(true);
    if (fatal) throw fatal;
    return result;
  }
}
