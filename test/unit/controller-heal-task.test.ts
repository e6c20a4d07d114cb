/**
 * The controller's background heal task and its slots (src/controller/heal-task.ts), and the worker wire
 * types (src/worker/wire.ts): pure, no API server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealSlots, HealTask } from '../../src/controller/heal-task.ts';
import type { ReconcileResult } from '../../src/heal/reconcile.ts';
import { checkBatchRequest, parseBatchResponse } from '../../src/worker/wire.ts';

const result = { ready: true } as ReconcileResult;

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('a heal task runs in the background, tells its owner on news, and ends done with the result', async () => {
  let changes = 0;
  const gate = deferred<void>();
  const task = new HealTask({
    generation: 3,
    progressEveryMs: 0,
    onChange: () => changes++,
    run: async (t) => {
      t.observe({ type: 'inspected', checks: [] });
      await gate.promise;
      return result;
    },
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(task.snapshot.state, 'running');
  gate.resolve();
  await task.finished;
  assert.equal(task.snapshot.state, 'done');
  assert.equal(task.snapshot.result, result);
  assert.ok(changes >= 2, 'running, then done');
});

test('a failing task ends failed with its error; cancel aborts its signal', async () => {
  const task = new HealTask({
    generation: 1,
    progressEveryMs: 0,
    onChange: () => undefined,
    run: (t) => new Promise((_, reject) => t.signal.addEventListener('abort', () => reject(t.signal.reason))),
  });
  task.cancel('DatasetState deleted');
  await task.finished;
  assert.equal(task.snapshot.state, 'failed');
  assert.match(String((task.snapshot.error as Error).message), /deleted/);
  assert.equal(task.cancelled, true);
});

test('heal slots: a task waits for a free slot; a cancelled waiter gives its place up; the next task waits for the previous one', async () => {
  const slots = new HealSlots(1);
  const gate = deferred<void>();
  const order: string[] = [];
  const first = new HealTask({
    generation: 1,
    slots,
    progressEveryMs: 0,
    onChange: () => undefined,
    run: async () => {
      order.push('first');
      await gate.promise;
      return result;
    },
  });
  const waiter = new HealTask({
    generation: 1,
    slots,
    progressEveryMs: 0,
    onChange: () => undefined,
    run: async () => {
      order.push('cancelled one');
      return result;
    },
  });
  const third = new HealTask({
    generation: 2,
    slots,
    after: first.finished,
    progressEveryMs: 0,
    onChange: () => undefined,
    run: async () => {
      order.push('third');
      return result;
    },
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(waiter.snapshot.state, 'waiting');
  assert.equal(slots.full, true);
  waiter.cancel('deleted');
  await waiter.finished;
  assert.equal(waiter.snapshot.state, 'failed');
  gate.resolve();
  await third.finished;
  assert.deepEqual(order, ['first', 'third']);
  assert.equal(slots.running, 0);
});

test('worker wire types: a batch request is checked field by field; a malformed answer is an error', () => {
  const ok = { dataset: 'ns/a', docIds: ['a', 'b'], fingerprint: 'a'.repeat(64), dimension: 8 };
  assert.deepEqual(checkBatchRequest(ok, 10), { ok: true, request: ok });
  const bad = checkBatchRequest({ dataset: '', docIds: [], fingerprint: 'x', dimension: 0 }, 10);
  assert.equal(bad.ok, false);
  const problems = bad.ok ? [] : bad.problems.join('; ');
  for (const f of ['dataset', 'docIds', 'fingerprint', 'dimension'])
    assert.match(String(problems), new RegExp(f));
  const many = checkBatchRequest({ ...ok, docIds: ['a', 'b', 'c'] }, 2);
  assert.ok(!many.ok && /at most 2/.test(many.problems[0]!));
  const twice = checkBatchRequest({ ...ok, docIds: ['a', 'a'] }, 10);
  assert.ok(!twice.ok && /repeat/.test(twice.problems[0]!));
  const extra = checkBatchRequest({ ...ok, token: 'x' }, 10);
  assert.equal(extra.ok, false);

  const answer = { embedded: 2, tokens: 9, failures: [], vanished: 0, seconds: 0.1, worker: 'w-1' };
  assert.deepEqual(parseBatchResponse(answer), answer);
  assert.throws(
    () => parseBatchResponse({ embedded: 'two' }),
    /malformed worker answer: .*embedded: expected integer/,
  );
});
