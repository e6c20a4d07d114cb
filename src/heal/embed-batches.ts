/**
 * The executor of the embedding work: batches of document ids → read texts → embed → write, one
 * transaction per batch. A pipeline: `concurrency` batches embed at once, and `prefetch` more (default 1) are
 * read, tokenized and handed to the model ahead of them (the model's queue takes them when a session is free),
 * so reading and tokenizing the next batch overlap inference by default; writes overlap both. Transient
 * errors are retried with backoff and jitter; a batch that runs out of memory or time is split in half and
 * retried; a document that fails for its own reason is recorded and never blocks the rest.
 */
import type { Embedder, EmbedInput } from '../core/ports.ts';
import type { EmbeddingWrite, Store } from '../core/store-port.ts';
import type { EmbedOutcome } from '../core/types.ts';
import { ProgressTracker } from '../core/progress.ts';
import type { EngineListener } from './events.ts';
import { withRetry, type BackoffPolicy } from './retry.ts';

export interface EmbedBatchesOptions {
  store: Store;
  embedder: Embedder;
  batches: readonly string[][];
  backoff: BackoffPolicy;
  /** Batches embedding at once (the writes overlap on top). */
  concurrency: number;
  /**
   * Batches read and handed to the embedder ahead of those `concurrency` (default 1): with the default
   * concurrency 1 the next batch is read and tokenized while the previous one is in inference. 0: strictly
   * one after the other.
   */
  prefetch?: number;
  /** A batch's embedding that takes longer than this is abandoned and split (default 60 s + 10 s per document). */
  batchTimeoutMs?: (docs: number) => number;
  signal?: AbortSignal;
  onEvent?: EngineListener;
  now?: () => Date;
  /** Minimum milliseconds between two progress events (default 500). */
  progressEveryMs?: number;
}

export interface EmbedBatchesResult {
  embedded: number;
  tokens: number;
  failures: { docId: string; reason: string }[];
  /** Documents that were not there any more when their batch ran. */
  vanished: number;
  cancelled: boolean;
}

/** Out of memory or out of time: splitting the batch may help. */
export class ResourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResourceError';
  }
}

export function isResourceError(error: unknown): boolean {
  if (error instanceof ResourceError || error instanceof RangeError) return true;
  const m = String((error as Error)?.message ?? error);
  return /out of memory|bad_alloc|failed to allocate|allocation failed|ENOMEM|timed out|timeout/i.test(m);
}

/** Errors worth a plain retry of the same batch: dropped connections, busy workers, locks. */
export function isTransientEmbedError(error: unknown): boolean {
  const e = error as { code?: string; status?: number; message?: string };
  if (e?.code && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR_SOCKET)$/.test(e.code))
    return true;
  if (e?.status === 429 || e?.status === 502 || e?.status === 503) return true;
  return /temporar|try again|busy|ECONNRESET/i.test(String(e?.message ?? ''));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ResourceError(`${what} timed out after ${Math.round(ms / 1000)} s`)),
      ms,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export async function embedBatches(opts: EmbedBatchesOptions): Promise<EmbedBatchesResult> {
  const { store, embedder, signal } = opts;
  const now = opts.now ?? (() => new Date());
  const timeoutFor = opts.batchTimeoutMs ?? ((n: number) => 60_000 + 10_000 * n);
  const total = opts.batches.reduce((n, b) => n + b.length, 0);
  const progress = new ProgressTracker(total, now());
  const result: EmbedBatchesResult = { embedded: 0, tokens: 0, failures: [], vanished: 0, cancelled: false };
  let lastProgressAt = 0;
  const report = (force = false) => {
    const t = now();
    if (!force && t.getTime() - lastProgressAt < (opts.progressEveryMs ?? 500)) return;
    lastProgressAt = t.getTime();
    opts.onEvent?.({ type: 'embed-progress', progress: progress.snapshot(t), tokens: result.tokens });
  };
  report(true);

  /** Embeds docs; splits on resource errors; per-document failures come back as { ok: false }. */
  const embedSplitting = async (docs: EmbedInput[]): Promise<EmbedOutcome[]> => {
    try {
      return await withRetry(
        () =>
          withTimeout(
            embedder.embed(docs, signal),
            timeoutFor(docs.length),
            `embedding ${docs.length} documents`,
          ),
        isTransientEmbedError,
        opts.backoff,
        {
          signal,
          onRetry: (e, attempt, delayMs) =>
            opts.onEvent?.({
              type: 'batch-retry',
              docIds: docs.map((d) => d.docId),
              attempt,
              delayMs,
              reason: String((e as Error).message ?? e),
            }),
        },
      );
    } catch (error) {
      if (signal?.aborted || !isResourceError(error)) throw error;
      const reason = String((error as Error).message ?? error);
      if (docs.length === 1) return [{ ok: false, docId: docs[0]!.docId, reason }];
      opts.onEvent?.({ type: 'batch-split', docIds: docs.map((d) => d.docId), reason });
      const half = Math.ceil(docs.length / 2);
      return [...(await embedSplitting(docs.slice(0, half))), ...(await embedSplitting(docs.slice(half)))];
    }
  };

  const fail = (docId: string, reason: string) => {
    result.failures.push({ docId, reason });
    opts.onEvent?.({ type: 'document-failed', docId, reason });
  };

  /** Reads and embeds one batch: returns the writes, ready for one transaction. */
  const prepare = async (
    ids: string[],
  ): Promise<{ writes: EmbeddingWrite[]; failed: number; ids: string[] }> => {
    const texts = await withRetry(
      () => store.readTexts(ids),
      (e) => store.isTransient(e),
      opts.backoff,
      { signal },
    );
    result.vanished += ids.length - texts.length;
    let failed = 0;
    const inputs: EmbedInput[] = [];
    const hashes = new Map<string, string>();
    for (const t of texts) {
      if (!t.text.trim()) {
        fail(t.docId, 'empty abstract: nothing to embed');
        failed++;
        continue;
      }
      inputs.push({ docId: t.docId, text: t.text });
      hashes.set(t.docId, t.contentHash);
    }
    const outcomes = inputs.length ? await embedSplitting(inputs) : [];
    const writes: EmbeddingWrite[] = [];
    const at = now().toISOString();
    for (const o of outcomes) {
      if (!o.ok) {
        fail(o.docId, o.reason);
        failed++;
        continue;
      }
      if (o.dimension !== embedder.dimension || o.vectors.length !== o.tokens.length * o.dimension)
        throw new Error(
          `embedder returned ${o.vectors.length} floats for ${o.tokens.length} tokens of dimension ${o.dimension} (${o.docId})`,
        );
      writes.push({
        embedding: { docId: o.docId, tokens: o.tokens, vectors: o.vectors, dimension: o.dimension },
        ledger: {
          docId: o.docId,
          modelFingerprint: embedder.fingerprint,
          contentHash: hashes.get(o.docId)!,
          tokenCount: o.tokens.length,
          dimension: o.dimension,
          embeddedAt: at,
        },
      });
    }
    return { writes, failed, ids };
  };

  // Writes happen one after another, in the order batches finish embedding.
  let writeChain: Promise<void> = Promise.resolve();
  const write = (prepared: Awaited<ReturnType<typeof prepare>>) => {
    writeChain = writeChain.then(async () => {
      if (signal?.aborted) return;
      await withRetry(
        () => store.writeEmbeddings(prepared.writes),
        (e) => store.isTransient(e),
        opts.backoff,
        { signal },
      );
      result.embedded += prepared.writes.length;
      for (const w of prepared.writes) result.tokens += w.embedding.tokens.length;
      progress.advance(prepared.ids.length, now());
      report();
    });
    return writeChain;
  };

  let firstError: unknown = null;
  const running = new Set<Promise<void>>();
  let embedding = 0;
  // The loop waits here for a free embedding slot; a finishing task wakes it.
  const slot: { wake: (() => void) | null } = { wake: null };
  const wakeUp = () => {
    const w = slot.wake;
    slot.wake = null;
    w?.();
  };
  const inFlight = Math.max(1, opts.concurrency + (opts.prefetch ?? 1));
  for (const batch of opts.batches) {
    while (embedding >= inFlight && !firstError) await new Promise<void>((r) => (slot.wake = r));
    if (firstError || signal?.aborted) break;
    embedding++;
    const task = (async () => {
      let prepared;
      try {
        prepared = await prepare(batch);
      } finally {
        embedding--;
        wakeUp();
      }
      await write(prepared);
    })().catch((e) => {
      firstError ??= e;
      wakeUp();
    });
    running.add(task);
    void task.finally(() => running.delete(task));
  }
  await Promise.all(running);
  await writeChain.catch(() => undefined);
  result.cancelled = Boolean(signal?.aborted);
  report(true);
  if (firstError && !result.cancelled) throw firstError;
  return result;
}
