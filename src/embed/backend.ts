/**
 * Where the model runs: on the calling thread (sessions: 0), or in a pool of session threads (Node worker threads), each with its own
 * onnxruntime session. Both take batches from one FIFO queue; a pool hands the next batch to whichever session
 * thread has room, so the cores stay busy until the queue is empty. (Why session threads by default: docs/embedding.md,
 * "Parallelism".)
 *
 * onnxruntime-node's session.run is synchronous on the thread that calls it. In the pool, that is a session
 * thread (a Node worker thread), so the main thread's event loop stays free to read and write the database, report progress and
 * answer health checks while the model runs.
 *
 * Each session thread holds up to SESSION_THREAD_DEPTH batches: the one it runs and those after it, waiting in its
 * own message port. Handing out batches and taking results in is the main thread's work, and the main thread also
 * reads, tokenizes and writes: a node:sqlite write blocks its event loop for the whole transaction and its commit
 * (with the WAL checkpoint), 50-100 ms for 16 documents of a small model, while one batch of such a model runs in
 * about 10 ms. A thread that had run out of batches sat idle until the main thread got round to it; with enough
 * batches already in its port, it never waits (docs/embedding.md, "Parallelism").
 */
import { Worker } from 'node:worker_threads';
import { EmbedderError, ModelLoadError } from './errors.ts';
import { openModelSession, type RunResult, type SessionSettings } from './session.ts';

export interface Backend {
  readonly output: string;
  readonly dimension: number;
  /** How many batches run at once. */
  readonly parallelism: number;
  run(rows: readonly (readonly number[])[], signal?: AbortSignal): Promise<RunResult>;
  close(): Promise<void>;
  /** Session threads only: batches that were waiting in the threads' ports at close() and were skipped. */
  skippedAtClose?(): number;
}

interface Job {
  rows: readonly (readonly number[])[];
  signal: AbortSignal | undefined;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
}

export interface Slot {
  exec(rows: readonly (readonly number[])[]): Promise<RunResult>;
}

/** Batches a session thread holds at once: the one it runs and up to seven more (see the top of this file). */
export const SESSION_THREAD_DEPTH = 8;

/** FIFO queue of batches over a fixed set of slots (sessions), each taking up to `depth` batches at once. */
export class SlotQueue {
  private readonly queue: Job[] = [];
  /** One entry per batch a slot can take now; round-robin, so the first batches go to different slots. */
  private readonly idle: Slot[];
  private broken: Error | null = null;

  constructor(slots: Slot[], depth = 1) {
    this.idle = Array.from({ length: depth }, () => slots).flat();
  }

  submit(rows: readonly (readonly number[])[], signal?: AbortSignal): Promise<RunResult> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, signal, resolve, reject });
      this.pump();
    });
  }

  /** Fails every queued batch and every later one with `error`. */
  break(error: Error): void {
    this.broken ??= error;
    for (const job of this.queue.splice(0)) job.reject(this.broken);
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const job = this.queue.shift()!;
      if (job.signal?.aborted) {
        job.reject(job.signal.reason);
        continue;
      }
      const slot = this.idle.shift()!;
      slot
        .exec(job.rows)
        .then(job.resolve, job.reject)
        .finally(() => {
          this.idle.push(slot);
          this.pump();
        });
    }
  }
}

/** The model on the calling thread. */
export async function localBackend(settings: SessionSettings): Promise<Backend> {
  const session = await openModelSession(settings);
  const queue = new SlotQueue([{ exec: (rows) => session.run(rows) }]);
  return {
    output: session.output,
    dimension: session.dimension,
    parallelism: 1,
    run: (rows, signal) => queue.submit(rows, signal),
    async close() {
      queue.break(new EmbedderError('the embedder is closed'));
      await session.release();
    },
  };
}

// Messages between the pool and its session threads (see session-thread.ts).
export type ToSessionThread =
  { type: 'run'; id: number; rows: readonly (readonly number[])[] } | { type: 'close' };
export type FromSessionThread =
  | { type: 'ready'; output: string; dimension: number }
  | { type: 'init-error'; name: string; message: string; file?: string }
  | { type: 'result'; id: number; data: Float32Array; seqLen: number }
  | { type: 'run-error'; id: number; message: string }
  | { type: 'closed'; skipped: number };

/**
 * What a session thread gets at start: its session's settings, and one shared word the pool sets to 1 when it
 * closes. The thread reads it before each run, so the batches still waiting in its port when the pool closes are
 * skipped, not run (up to SESSION_THREAD_DEPTH - 1 of them: seconds with a large model, and after 10 s close()
 * would have to terminate the thread).
 */
export interface SessionThreadData {
  settings: SessionSettings;
  closing: SharedArrayBuffer;
}

function revive(m: { name: string; message: string; file?: string }): Error {
  if (m.name === 'ModelLoadError' && m.file !== undefined) {
    const e = new ModelLoadError(m.file, '');
    e.message = m.message;
    return e;
  }
  return new EmbedderError(m.message);
}

/**
 * A worker inherits the process's Node flags, but one started from a file refuses --input-type (as in
 * `node --input-type=module -e ...`). Returns the flags without it, or undefined (inherit) when it is absent.
 */
function threadExecArgv(): string[] | undefined {
  const argv = process.execArgv;
  if (!argv.some((a) => a === '--input-type' || a.startsWith('--input-type='))) return undefined;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--input-type=')) continue;
    if (a === '--input-type') {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

class SessionThread implements Slot {
  readonly worker: Worker;
  /** Batches the thread skipped when it was closed (they were waiting in its port). */
  skippedAtClose = 0;
  /** One shared word, 1 once close() has begun: read here and by the thread before each run. */
  private readonly closing = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: unknown) => void }>();
  private exited = false;
  private readonly onBroken: (e: Error) => void;

  constructor(index: number, settings: SessionSettings, onBroken: (e: Error) => void) {
    this.onBroken = onBroken;
    const execArgv = threadExecArgv();
    this.worker = new Worker(new URL('./session-thread.ts', import.meta.url), {
      workerData: { settings, closing: this.closing.buffer } satisfies SessionThreadData,
      ...(execArgv !== undefined && { execArgv }),
    });
    this.worker.on('message', (m: FromSessionThread) => {
      if (m.type === 'closed') this.skippedAtClose = m.skipped;
      if (m.type === 'result' || m.type === 'run-error') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (this.pending.size === 0) this.worker.unref();
        if (m.type === 'result') p?.resolve({ data: m.data, seqLen: m.seqLen });
        else p?.reject(new EmbedderError(m.message));
      }
    });
    const died = (why: string): void => {
      if (Atomics.load(this.closing, 0) === 1) return;
      const e = new EmbedderError(`inference session thread ${index} stopped: ${why}`);
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.onBroken(e);
    };
    this.worker.on('error', (e) => died(e.message));
    this.worker.on('exit', (code) => {
      this.exited = true;
      died(`exited with code ${code}`);
    });
  }

  /** Resolves when the worker has opened its session; rejects with the worker's load error. */
  ready(): Promise<{ output: string; dimension: number }> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromSessionThread): void => {
        if (m.type === 'ready') {
          cleanup();
          this.worker.unref();
          resolve({ output: m.output, dimension: m.dimension });
        } else if (m.type === 'init-error') {
          cleanup();
          reject(revive(m));
        }
      };
      const onError = (e: Error): void => {
        cleanup();
        reject(new EmbedderError(`inference session thread failed to start: ${e.message}`));
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(
          new EmbedderError(`inference session thread exited with code ${code} while loading the model`),
        );
      };
      const cleanup = (): void => {
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
        this.worker.off('exit', onExit);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', onError);
      this.worker.on('exit', onExit);
    });
  }

  exec(rows: readonly (readonly number[])[]): Promise<RunResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ type: 'run', id, rows } satisfies ToSessionThread);
    });
  }

  /**
   * Asks the worker to release its session and end, and waits for it (terminate() only after 10 s): tearing
   * down a worker that still holds an onnxruntime session can abort the whole process in native code.
   */
  async close(): Promise<void> {
    Atomics.store(this.closing, 0, 1);
    for (const p of this.pending.values()) p.reject(new EmbedderError('the embedder is closed'));
    this.pending.clear();
    if (this.exited) return;
    this.worker.ref();
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies ToSessionThread);
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** `sessions` session threads (Node worker threads), each with its own session of `settings.threads` intra-op threads. */
export async function sessionThreadsBackend(settings: SessionSettings, sessions: number): Promise<Backend> {
  let queue: SlotQueue | null = null;
  let brokenEarly: Error | null = null;
  const onBroken = (e: Error): void => {
    if (queue) queue.break(e);
    else brokenEarly ??= e;
  };
  const pool = Array.from({ length: sessions }, (_, i) => new SessionThread(i, settings, onBroken));
  let first: { output: string; dimension: number };
  try {
    const infos = await Promise.all(pool.map((w) => w.ready()));
    first = infos[0]!;
  } catch (e) {
    await Promise.all(pool.map((w) => w.close()));
    throw e;
  }
  const q = new SlotQueue(pool, SESSION_THREAD_DEPTH);
  queue = q;
  if (brokenEarly) q.break(brokenEarly);
  return {
    output: first.output,
    dimension: first.dimension,
    parallelism: sessions,
    run: (rows, signal) => q.submit(rows, signal),
    async close() {
      q.break(new EmbedderError('the embedder is closed'));
      await Promise.all(pool.map((w) => w.close()));
    },
    skippedAtClose: () => pool.reduce((n, w) => n + w.skippedAtClose, 0),
  };
}
