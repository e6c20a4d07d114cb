/**
 * `datastate worker`: the embedding worker process run by the worker Deployment (or by hand).
 *
 * Configuration: the dataset's spec (embedding + database, no credentials) as JSON in DATASTATE_WORKER_SPEC or
 * --spec-json, or the usual flags (--model, --dimension, --db); the database URL with credentials in
 * DATASTATE_DB_URL (from the database Secret); bearer tokens in --token-file (a mounted Secret) or
 * DATASTATE_WORKER_TOKEN.
 */
import type { DatasetStateSpec } from '../api/schema.ts';
import { parseSpec, ValidationError } from '../api/validate.ts';
import { wire } from '../app/wiring.ts';
import { TokenSet } from './tokens.ts';
import { startWorkerServer } from './server.ts';
import { FAULT_ENV, withFault } from './fault.ts';
import { THREADS_ENV } from '../controller/worker-manifests.ts';

export interface WorkerRunOptions {
  port: number;
  host: string;
  spec: DatasetStateSpec;
  tokenFile?: string;
  maxInFlight: number;
}

function log(level: string, message: string, fields: Record<string, unknown> = {}) {
  process.stderr.write(
    JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }) + '\n',
  );
}

/** The spec a worker runs with: JSON (from the Deployment's env), completed with defaults and validated. */
export function workerSpecFromJson(json: string): DatasetStateSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ValidationError([`DATASTATE_WORKER_SPEC: not JSON: ${(e as Error).message}`]);
  }
  return parseSpec({ docCount: 1, ...(raw as object) }, 'spec');
}

/**
 * DATASTATE_EMBED_THREADS (the worker Deployment sets it from spec.workers.threads): one model session on one
 * embedding thread with that many onnxruntime intra-op threads. Unset: the embedder's default layout.
 */
export function workerParallelism(
  value: string | undefined,
): { workers: number; threads: number } | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const threads = Number(value);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64)
    throw new ValidationError([
      `${THREADS_ENV}: ${JSON.stringify(value)} is not a whole number of threads from 1 to 64`,
    ]);
  return { workers: 1, threads };
}

export async function runWorker(o: WorkerRunOptions): Promise<number> {
  const envToken = process.env.DATASTATE_WORKER_TOKEN?.trim();
  const tokens = new TokenSet({ file: o.tokenFile, tokens: envToken ? [envToken] : [] });
  const parallelism = workerParallelism(process.env[THREADS_ENV]);
  const wired = await wire(
    o.spec,
    () => undefined,
    (note) => log('info', note),
    {
      databaseUrl: process.env.DATASTATE_DB_URL?.trim() || undefined,
      parallelism,
    },
  );
  if (parallelism) log('info', 'model parallelism', parallelism);
  const embedder = withFault(process.env[FAULT_ENV], wired.deps.openEmbedder(), log);
  const server = await startWorkerServer({
    port: o.port,
    host: o.host,
    tokens,
    store: wired.deps.store,
    embedder,
    maxInFlight: o.maxInFlight,
    log,
  });
  log('info', 'worker listening', { port: server.port, store: wired.deps.store.description });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log('info', `${sig}: stopping (batches in flight finish first)`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await server.close();
  await (await embedder.catch(() => null))?.close();
  await wired.close();
  return 0;
}
