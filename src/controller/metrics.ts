/**
 * The controller's Prometheus metrics (prom-client), named after Prometheus conventions: a datastate_
 * prefix, base units, _total for counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createControllerMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'datastate_controller_' });
  const labels = ['namespace', 'name'] as const;
  return {
    registry,
    reconcileTotal: new Counter({
      name: 'datastate_reconcile_total',
      help: 'Reconcile passes, by result (ready, degraded, failed, error).',
      labelNames: ['result'],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'datastate_reconcile_errors_total',
      help: 'Reconcile passes that ended in an error (retried with backoff).',
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'datastate_reconcile_duration_seconds',
      help: 'Duration of controller passes (short: the heal runs as a background task).',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    healDuration: new Histogram({
      name: 'datastate_heal_duration_seconds',
      help: 'Duration of heal tasks (the engine pass that runs in the background of the controller passes).',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    healTasks: new Gauge({
      name: 'datastate_heal_tasks',
      help: 'Heal tasks alive (waiting for a heal slot or running).',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'datastate_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      registers: [registry],
    }),
    documentsEmbedded: new Counter({
      name: 'datastate_documents_embedded_total',
      help: 'Documents whose token embeddings were written.',
      registers: [registry],
    }),
    tokensEmbedded: new Counter({
      name: 'datastate_tokens_embedded_total',
      help: 'Token vectors written.',
      registers: [registry],
    }),
    documentsFailed: new Counter({
      name: 'datastate_documents_failed_total',
      help: 'Documents that failed to embed for their own reason.',
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: 'datastate_leader',
      help: '1 when this replica holds the leader Lease.',
      registers: [registry],
    }),
    datasetDocumentsReady: new Gauge({
      name: 'datastate_dataset_documents_ready',
      help: 'Documents of the target set present with a valid abstract.',
      labelNames: labels,
      registers: [registry],
    }),
    datasetDocumentsEmbedded: new Gauge({
      name: 'datastate_dataset_documents_embedded',
      help: 'Documents of the target set with complete, current token embeddings.',
      labelNames: labels,
      registers: [registry],
    }),
    datasetEmbeddingsMissing: new Gauge({
      name: 'datastate_dataset_embeddings_missing',
      help: 'Documents of the target set whose token embeddings are missing, partial or stale.',
      labelNames: labels,
      registers: [registry],
    }),
    datasetProgress: new Gauge({
      name: 'datastate_dataset_progress_ratio',
      help: 'Progress of the running heal, 0 to 1.',
      labelNames: labels,
      registers: [registry],
    }),
    datasetReady: new Gauge({
      name: 'datastate_dataset_ready',
      help: '1 when the dataset holds its declared state.',
      labelNames: labels,
      registers: [registry],
    }),
  };
}

export type ControllerMetrics = ReturnType<typeof createControllerMetrics>;
