/**
 * `datastate controller`: the process. Informers + work queue + reconciler, optional Lease leader election,
 * /metrics /healthz /readyz, and a clean SIGTERM: stop taking work, let the batch in flight commit or be
 * abandoned whole, release the Lease, exit within the grace period.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DatasetStateController } from './controller.ts';
import { startHealthServer } from '../app/http-server.ts';
import { KubeClients, loadKubeConfig } from './kube.ts';
import { LeaderElector } from './leader.ts';
import { createControllerMetrics } from './metrics.ts';
import type { WorkerSettings } from './worker-manifests.ts';

export interface ControllerRunOptions {
  kubeconfig?: string;
  namespaces: string[];
  resyncSeconds: number;
  concurrency: number;
  metricsPort: number;
  metricsHost: string;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationSeconds: number;
  statusEverySeconds: number;
  /** How long SIGTERM waits for running passes before exiting anyway. */
  gracePeriodSeconds: number;
  identity?: string;
  /** Run embedding on a worker Deployment per DatasetState (see worker-dispatcher.ts); in process when unset. */
  workers?: WorkerSettings;
}

function logLine(level: string, message: string, fields: Record<string, unknown> = {}) {
  process.stderr.write(
    JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }) + '\n',
  );
}

export async function runController(o: ControllerRunOptions): Promise<number> {
  const kc = loadKubeConfig(o.kubeconfig);
  const clients = new KubeClients(kc);
  const metrics = createControllerMetrics();
  const identity = o.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const controller = new DatasetStateController({
    clients,
    metrics,
    namespaces: o.namespaces,
    resyncMs: o.resyncSeconds * 1000,
    concurrency: o.concurrency,
    statusEveryMs: o.statusEverySeconds * 1000,
    identity,
    log: logLine,
    workers: o.workers,
  });
  const shutdown = new AbortController();
  const health = await startHealthServer({
    port: o.metricsPort,
    host: o.metricsHost,
    registry: metrics.registry,
    notReadyReason: () => (controller.hasSynced ? null : 'informers not synced yet'),
  });
  logLine('info', 'controller starting', {
    identity,
    namespaces: o.namespaces.length ? o.namespaces : 'all',
    metricsPort: health.port,
  });

  let exiting = false;
  const onSignal = (sig: string) => {
    if (exiting) return;
    exiting = true;
    logLine('info', `${sig}: stopping`, { gracePeriodSeconds: o.gracePeriodSeconds });
    shutdown.abort(new Error(sig));
    setTimeout(() => {
      logLine('warn', 'grace period over: exiting with work still running');
      process.exit(0);
    }, o.gracePeriodSeconds * 1000).unref();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  await controller.startInformers();
  try {
    if (!o.leaderElect) {
      metrics.isLeader.set(1);
      await controller.runQueue(shutdown.signal);
    } else {
      let term: Promise<void> = Promise.resolve();
      const leader = new LeaderElector(kc, {
        namespace: o.leaseNamespace,
        name: o.leaseName,
        identity,
        leaseDurationMs: o.leaseDurationSeconds * 1000,
        renewDeadlineMs: Math.max(1000, Math.round(o.leaseDurationSeconds * 1000 * (2 / 3))),
        retryPeriodMs: Math.max(500, Math.round((o.leaseDurationSeconds * 1000) / 7.5)),
        log: (m) => logLine('info', m),
        onNewLeader: (id) => logLine('info', 'leader observed', { leader: id }),
        onStartedLeading: (leadership) => {
          metrics.isLeader.set(1);
          term = controller.runQueue(leadership);
        },
        // The work of this term winds down (batch in flight committed or abandoned) before the Lease goes.
        onStoppedLeading: async () => {
          metrics.isLeader.set(0);
          await term;
        },
      });
      await leader.run(shutdown.signal);
    }
  } finally {
    await controller.stop();
    await health.close();
  }
  logLine('info', 'controller stopped');
  return 0;
}
