/**
 * Preloaded into row 4's check runs (`node --expose-gc --import ./bench/heap-hook.ts ...`): once a second, a full
 * garbage collection of the main thread's heap, then its size — what is really held (live), as opposed to the
 * peak RSS, which also counts heap the collector has not reclaimed yet and the allocators' headroom. Writes the
 * largest live heap and external memory seen, in MiB, to BENCH_HEAP_FILE at exit. (The forced collections make
 * these runs slower: their time and RSS are not reported.)
 */
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const file = process.env.BENCH_HEAP_FILE;
const gc = (globalThis as { gc?: () => void }).gc;
if (file && isMainThread) {
  if (!gc) throw new Error('bench/heap-hook.ts needs node --expose-gc');
  const max = { heapMiB: 0, externalMiB: 0, samples: 0 };
  const sample = () => {
    gc();
    const m = process.memoryUsage();
    max.heapMiB = Math.max(max.heapMiB, m.heapUsed / 2 ** 20);
    max.externalMiB = Math.max(max.externalMiB, m.external / 2 ** 20);
    max.samples++;
  };
  setInterval(sample, 1000).unref();
  process.on('exit', () => {
    sample();
    writeFileSync(file, JSON.stringify(max));
  });
}
