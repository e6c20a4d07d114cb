/**
 * The embedding worker's HTTP API. One batch per request: read the texts from the database, embed them with
 * the ONNX embedder, write every document's token rows in one transaction per batch, answer per document.
 *
 *   POST /v1/batches   {dataset, docIds, fingerprint, dimension}  → 200 {embedded, tokens, failures, vanished}
 *   GET  /v1/model     the loaded model: {modelId, fingerprint, dimension, synthetic}
 *   GET  /healthz  /readyz (model loaded)  /metrics
 *
 * Every /v1 call needs `Authorization: Bearer <token>`. At most maxInFlight batches run at once; more get 429.
 * A batch takes its slot only once its whole body has arrived, within bodyTimeoutMs (else 408 and the connection
 * is closed), so a client that sends slowly never holds a slot. close() drains: from then on new batches get 503
 * (the dispatcher sends them to another endpoint) and /readyz fails, while the batches in flight finish and are
 * answered; only then are the connections closed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Embedder } from '../core/ports.ts';
import type { Store } from '../core/store-port.ts';
import { embedBatches } from '../heal/embed-batches.ts';
import type { BackoffPolicy } from '../heal/retry.ts';
import { startHealthServer, type HealthServer } from '../app/http-server.ts';
import type { TokenSet } from './tokens.ts';
import { checkBatchRequest, type BatchRequest, type BatchResponse, type ModelInfo } from './wire.ts';

export interface WorkerServerOptions {
  port: number;
  host?: string;
  tokens: TokenSet;
  store: Store;
  /** Resolves once the model is loaded (readiness waits for it). */
  embedder: Promise<Embedder>;
  maxInFlight: number;
  /** Largest accepted request body in bytes. */
  maxBodyBytes?: number;
  /** Most document ids in one batch. */
  maxBatchDocs?: number;
  /** The whole request body must arrive within this many ms of the request's headers (default 10 s). */
  bodyTimeoutMs?: number;
  /** close() waits at most this long for the batches in flight (default 10 min). */
  drainTimeoutMs?: number;
  backoff?: BackoffPolicy;
  log?: (level: string, message: string, fields?: Record<string, unknown>) => void;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body) + '\n');
}

/** Reads the whole body, at most `limit` bytes, within `timeoutMs` (else 408). */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit)
    return Promise.reject(
      new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit}`),
    );
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error: Error | null) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', done).off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(
      () => done(new HttpError(408, `request body not received within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) done(new HttpError(413, `request body exceeds the limit of ${limit} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = () => done(null);
    const onClose = () => done(new HttpError(400, 'the client closed the connection before the body ended'));
    req.on('data', onData).on('end', onEnd).on('error', done).on('close', onClose);
  });
}

/** Validates a batch request (the TypeBox schema in wire.ts); every problem names the field. */
export function parseBatchRequest(text: string, maxDocs: number): BatchRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `body is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new HttpError(400, 'body must be a JSON object');
  const checked = checkBatchRequest(raw, maxDocs);
  if (!checked.ok) throw new HttpError(422, checked.problems.join('; '));
  return checked.request;
}

export async function startWorkerServer(
  o: WorkerServerOptions,
): Promise<HealthServer & { registry: Registry }> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'datastate_worker_' });
  const m = {
    batches: new Counter({
      name: 'datastate_worker_batches_total',
      help: 'Batches handled, by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    documents: new Counter({
      name: 'datastate_worker_documents_embedded_total',
      help: 'Documents embedded and written.',
      registers: [registry],
    }),
    tokens: new Counter({
      name: 'datastate_worker_tokens_embedded_total',
      help: 'Token vectors written.',
      registers: [registry],
    }),
    failures: new Counter({
      name: 'datastate_worker_documents_failed_total',
      help: 'Documents that failed for their own reason.',
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'datastate_worker_batches_in_flight',
      help: 'Batches being processed.',
      registers: [registry],
    }),
    reading: new Gauge({
      name: 'datastate_worker_bodies_being_read',
      help: 'Batch requests whose body is still arriving (they hold no slot yet).',
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'datastate_worker_batch_duration_seconds',
      help: 'Time to read, embed and write one batch.',
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
  };
  const log = o.log ?? (() => undefined);
  let embedder: Embedder | null = null;
  let loadError: Error | null = null;
  o.embedder.then(
    (e) => {
      embedder = e;
      log('info', 'model loaded', { modelId: e.modelId, dimension: e.dimension, synthetic: e.synthetic });
    },
    (e: Error) => {
      loadError = e;
      log('error', 'model failed to load', { error: e.message });
    },
  );
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | null = null;
  const bodyTimeoutMs = o.bodyTimeoutMs ?? 10_000;
  const maxBody = o.maxBodyBytes ?? 1 << 20;
  const maxDocs = o.maxBatchDocs ?? 1024;
  const backoff = o.backoff ?? { maxRetries: 3, initialMs: 200, maxMs: 5000 };
  const name = process.env.HOSTNAME ?? `worker-${process.pid}`;

  const api = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!path.startsWith('/v1/')) return false;
    let holdsSlot = false;
    try {
      if (!o.tokens.check(req.headers.authorization)) {
        send(res, 401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
        return true;
      }
      if (path === '/v1/model' && req.method === 'GET') {
        if (!embedder)
          throw new HttpError(
            503,
            loadError ? `model failed to load: ${loadError.message}` : 'model not loaded yet',
          );
        const e: Embedder = embedder;
        const info: ModelInfo = {
          modelId: e.modelId,
          fingerprint: e.fingerprint,
          dimension: e.dimension,
          synthetic: e.synthetic,
        };
        send(res, 200, info);
        return true;
      }
      if (path !== '/v1/batches') throw new HttpError(404, `no such endpoint: ${req.method} ${path}`);
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      if (!embedder)
        throw new HttpError(
          503,
          loadError ? `model failed to load: ${loadError.message}` : 'model not loaded yet',
        );
      const e: Embedder = embedder;
      if (draining) throw new HttpError(503, 'draining: this worker is shutting down');
      // The body first, within its deadline: a slow sender holds no slot meanwhile.
      m.reading.inc();
      const text = await readBody(req, maxBody, bodyTimeoutMs).finally(() => m.reading.dec());
      if (draining) throw new HttpError(503, 'draining: this worker is shutting down');
      if (inFlight >= o.maxInFlight) {
        m.batches.inc({ result: 'busy' });
        send(
          res,
          429,
          { error: `busy: ${inFlight} batches in flight (max ${o.maxInFlight})` },
          { 'retry-after': '1' },
        );
        return true;
      }
      inFlight++;
      holdsSlot = true;
      m.inFlight.set(inFlight);
      const body = parseBatchRequest(text, maxDocs);
      if (body.dimension !== e.dimension)
        throw new HttpError(
          409,
          `this worker's model has dimension ${e.dimension}, the batch asks for ${body.dimension}`,
        );
      if (body.fingerprint !== e.fingerprint)
        throw new HttpError(
          409,
          `this worker's model (fingerprint ${e.fingerprint.slice(0, 12)}…) is not the one the batch asks for (${body.fingerprint.slice(0, 12)}…)`,
        );
      const started = Date.now();
      const abort = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) abort.abort(new Error('client went away'));
      });
      const r = await embedBatches({
        store: o.store,
        embedder: e,
        batches: [body.docIds],
        backoff,
        concurrency: 1,
        signal: abort.signal,
      });
      const seconds = (Date.now() - started) / 1000;
      m.batches.inc({ result: 'ok' });
      m.documents.inc(r.embedded);
      m.tokens.inc(r.tokens);
      m.failures.inc(r.failures.length);
      m.duration.observe(seconds);
      log('info', 'batch done', {
        dataset: body.dataset,
        docs: body.docIds.length,
        embedded: r.embedded,
        failed: r.failures.length,
        seconds,
      });
      const out: BatchResponse = {
        embedded: r.embedded,
        tokens: r.tokens,
        failures: r.failures,
        vanished: r.vanished,
        seconds,
        worker: name,
      };
      send(res, 200, out, draining ? { connection: 'close' } : {});
    } catch (thrown) {
      // The database still away after the batch's retries: 503, the dispatcher tries again (here or elsewhere).
      const databaseAway = !(thrown instanceof HttpError) && o.store.isTransient(thrown);
      const err = databaseAway
        ? new HttpError(503, `the database is unavailable: ${(thrown as Error).message}`)
        : thrown;
      const status = err instanceof HttpError ? err.status : 500;
      if (status >= 500) m.batches.inc({ result: status === 503 && draining ? 'draining' : 'error' });
      if (status === 500 || databaseAway)
        log('error', 'batch failed', { status, error: (err as Error).message });
      // A body that did not arrive in time: answer if the socket still can, and close the connection.
      const headers: Record<string, string> =
        status === 408 || status === 413 || draining ? { connection: 'close' } : {};
      if (status === 503 && draining) headers['retry-after'] = '1';
      if (!res.headersSent && !res.destroyed) send(res, status, { error: (err as Error).message }, headers);
      else res.end();
      if (status === 408 || status === 413) req.socket.destroySoon();
    } finally {
      if (holdsSlot) {
        // The slot is free once the answer has been handed to the socket: a drain closes connections only then.
        if (res.writableEnded && !res.writableFinished && !res.destroyed)
          await new Promise<void>((resolve) => {
            res.once('finish', resolve);
            res.once('close', resolve);
          });
        inFlight--;
        m.inFlight.set(inFlight);
        if (inFlight === 0) drained?.();
      }
    }
    return true;
  };

  const server = await startHealthServer({
    port: o.port,
    host: o.host,
    registry,
    notReadyReason: () =>
      draining
        ? 'draining'
        : embedder
          ? null
          : loadError
            ? `model failed to load: ${loadError.message}`
            : 'model loading',
    routes: [api],
  });
  const drainTimeoutMs = o.drainTimeoutMs ?? 600_000;
  /**
   * Drains: the listener stays open so that new batches are answered 503 (not refused) and /readyz fails;
   * the batches in flight finish and are answered; then the listener and every connection are closed.
   */
  const close = async (): Promise<void> => {
    draining = true;
    server.server.closeIdleConnections();
    if (inFlight > 0) {
      log('info', 'draining', { inFlight });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (drained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, drainTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (inFlight > 0) log('warn', 'drain timed out; closing with batches in flight', { inFlight });
    }
    // Answers already sent carry `connection: close`; whatever is left (idle keep-alives, slow bodies) goes now.
    const closed = new Promise<void>((resolve) => server.server.close(() => resolve()));
    server.server.closeIdleConnections();
    setImmediate(() => server.server.closeAllConnections());
    await closed;
  };
  return { ...server, close, registry };
}
