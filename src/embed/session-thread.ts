/**
 * A session thread (a Node worker thread): opens its own onnxruntime session (settings in workerData) and runs the batches
 * the pool sends it, one at a time. See backend.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromSessionThread, SessionThreadData, ToSessionThread } from './backend.ts';
import { openModelSession } from './session.ts';

const port = parentPort;
if (port === null) throw new Error('src/embed/session-thread.ts runs as a worker thread only');
const post = (m: FromSessionThread, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

const { settings, closing } = workerData as SessionThreadData;
const closingFlag = new Int32Array(closing);
let skipped = 0;

try {
  const session = await openModelSession(settings);
  port.on('message', (m: ToSessionThread) => {
    if (m.type === 'close') {
      // Release the session first, then let the thread end on its own (see SessionThread.close).
      post({ type: 'closed', skipped });
      void session.release().finally(() => port.close());
      return;
    }
    // The pool is closing: this batch waited in the port behind others and nobody waits for it any more.
    if (Atomics.load(closingFlag, 0) === 1) {
      skipped++;
      return;
    }
    session.run(m.rows).then(
      (r) => {
        // onnxruntime-node gives the output in an ArrayBuffer of its own, which is handed over as it is; only a
        // view into a larger or shared buffer is copied first.
        const whole =
          r.data.buffer instanceof ArrayBuffer &&
          r.data.byteOffset === 0 &&
          r.data.byteLength === r.data.buffer.byteLength;
        const data = whole ? r.data : r.data.slice();
        post({ type: 'result', id: m.id, data, seqLen: r.seqLen }, [data.buffer as ArrayBuffer]);
      },
      (e: unknown) => post({ type: 'run-error', id: m.id, message: (e as Error)?.message ?? String(e) }),
    );
  });
  post({ type: 'ready', output: session.output, dimension: session.dimension });
} catch (e) {
  const err = e as Error & { file?: string };
  post({
    type: 'init-error',
    name: err.name,
    message: err.message,
    ...(err.file !== undefined && { file: err.file }),
  });
}
