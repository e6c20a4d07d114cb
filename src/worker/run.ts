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
import { THREADS_ENV } from './wire.ts';
import { redactSecrets } from '../store/url.ts';
import { backoffPolicyOf } from '../heal/retry.ts';

export interface WorkerRunOptions {
  port: number;
  host: string;
  spec: DatasetStateSpec;
  tokenFile?: string;
  maxInFlight: number;
  /** SIGTERM waits this long for the batches in flight (default 10 min; a Pod's grace period bounds it too). */
  drainTimeoutMs?: number;
  /** A batch's body must arrive within this (default 10 s). */
  bodyTimeoutMs?: number;
}

/** One JSON line on stderr; credentials removed from whatever it says. */
function log(level: string, message: string, fields: Record<string, unknown> = {}) {
  process.stderr.write(
    redactSecrets(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })) + '\n',
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
): { sessions: number; threads: number } | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const threads = Number(value);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64)
    throw new ValidationError([
      `${THREADS_ENV}: ${JSON.stringify(value)} is not a whole number of threads from 1 to 64`,
    ]);
  return { sessions: 1, threads };
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
    backoff: backoffPolicyOf(o.spec),
    drainTimeoutMs: o.drainTimeoutMs,
    bodyTimeoutMs: o.bodyTimeoutMs,
    log,
  });
  log('info', 'worker listening', { port: server.port, store: wired.deps.store.description });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) {
        log('warn', `${sig} again: exiting now, batches in flight are abandoned (each is one transaction)`);
        process.exit(130);
      }
      stopping = true;
      log('info', `${sig}: draining (new batches get 503; the ones in flight finish and are answered)`);
      resolve();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  await server.close();
  log('info', 'server closed; closing the model and the database');
  await (await embedder.catch(() => null))?.close();
  await wired.close();
  return 0;
}
