import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../src/controller/queue.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('a key added many times is handled once; an add while processing runs it again afterwards, never concurrently', async () => {
  const q = new WorkQueue();
  const abort = new AbortController();
  let running = 0;
  let maxRunning = 0;
  const calls: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  q.add('a');
  q.add('a');
  q.add('a');
  const done = q.run(
    4,
    async (key) => {
      calls.push(key);
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (calls.length === 1) await gate;
      running--;
    },
    abort.signal,
  );
  await tick();
  q.add('a'); // while processing: marked dirty
  q.add('a');
  assert.equal(q.depth, 0);
  release();
  await tick(20);
  assert.deepEqual(calls, ['a', 'a']);
  assert.equal(maxRunning, 1);
  q.shutdown();
  await done;
});

test('failures back off exponentially per key, capped; success forgets', () => {
  const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => q.nextBackoff('k')),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(q.nextBackoff('other'), 100);
  q.forget('k');
  assert.equal(q.nextBackoff('k'), 100);
  q.shutdown();
});

test('a throwing handler is retried after backoff; requeueAfterMs queues again later', async () => {
  const q = new WorkQueue({ baseDelayMs: 10 });
  const abort = new AbortController();
  const calls: number[] = [];
  const start = Date.now();
  const errors: string[] = [];
  q.add('x');
  const done = q.run(
    1,
    async () => {
      calls.push(Date.now() - start);
      if (calls.length === 1) throw new Error('boom');
      if (calls.length === 2) return { requeueAfterMs: 30 };
    },
    abort.signal,
    (_k, e) => errors.push((e as Error).message),
  );
  await tick(120);
  assert.equal(calls.length, 3);
  assert.deepEqual(errors, ['boom']);
  assert.ok(calls[1]! >= 10, `retried after backoff (${calls[1]} ms)`);
  assert.ok(calls[2]! - calls[1]! >= 25, 'requeued after the asked delay');
  assert.equal(q.failuresOf('x'), 0);
  q.shutdown();
  await done;
});

test('addAfter: the earliest pending time wins; add() cancels the delay', async () => {
  const q = new WorkQueue();
  const abort = new AbortController();
  const seen: string[] = [];
  const done = q.run(1, async (k) => void seen.push(k), abort.signal);
  q.addAfter('late', 10_000);
  q.addAfter('late', 20);
  q.addAfter('now', 10_000);
  q.add('now');
  await tick(60);
  assert.deepEqual(seen, ['now', 'late']);
  q.shutdown();
  await done;
});
