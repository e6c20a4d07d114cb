/**
 * The port for running embedding batches: "read these documents' texts, embed them with this model, write the
 * vectors, one transaction per batch". Two implementations: in this process (inProcessBatchRunner, below, over
 * embedBatches) and on the worker Deployment (src/controller/worker-dispatcher.ts). reconcile() does not know
 * which one it has.
 */
import type { Embedder } from '../core/ports.ts';
import type { Store } from '../core/store-port.ts';
import { embedBatches, type EmbedBatchesResult } from './embed-batches.ts';
import type { EngineListener } from './events.ts';
import type { BackoffPolicy } from './retry.ts';

export interface BatchContext {
  signal?: AbortSignal;
  onEvent: EngineListener;
}

export interface BatchRunner {
  /** The fingerprint every batch is embedded with (written to the ledger). */
  readonly fingerprint: string;
  /** The model this runner loaded in this process; undefined when the batches run elsewhere. */
  readonly model?: { modelId: string; synthetic: boolean; dimension: number };
  run(batches: readonly string[][], context: BatchContext): Promise<EmbedBatchesResult>;
  /** Frees the model (in process) or scales the workers back (Deployment). */
  close(): Promise<void>;
}

export interface InProcessOptions {
  store: Store;
  embedder: Embedder;
  backoff: BackoffPolicy;
  /** Batches embedding at once. */
  concurrency: number;
  /** Batches read and handed to the model ahead (embedBatches' prefetch; default 1). */
  prefetch?: number;
  now?: () => Date;
}

export function inProcessBatchRunner(o: InProcessOptions): BatchRunner {
  const { embedder } = o;
  return {
    fingerprint: embedder.fingerprint,
    model: { modelId: embedder.modelId, synthetic: embedder.synthetic, dimension: embedder.dimension },
    run: (batches, ctx) =>
      embedBatches({
        store: o.store,
        embedder,
        batches,
        backoff: o.backoff,
        concurrency: o.concurrency,
        prefetch: o.prefetch,
        signal: ctx.signal,
        onEvent: ctx.onEvent,
        now: o.now,
      }),
    close: () => embedder.close(),
  };
}
