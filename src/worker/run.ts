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

export async function runWorker(o: WorkerRunOptions): Promise<number> {
  const envToken = process.env.DATASTATE_WORKER_TOKEN?.trim();
  const tokens = new TokenSet({ file: o.tokenFile, tokens: envToken ? [envToken] : [] });
  const wired = await wire(
    o.spec,
    () => undefined,
    (note) => log('info', note),
    {
      databaseUrl: process.env.DATASTATE_DB_URL?.trim() || undefined,
    },
  );
  const embedder = wired.deps.openEmbedder();
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
