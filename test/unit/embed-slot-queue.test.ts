/**
 * The embedder's batch queue (src/embed/backend.ts): FIFO over slots, each slot taking up to `depth` batches at
 * once, so a session thread has its next batch before it finishes the one it runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotQueue, type Slot } from '../../src/embed/backend.ts';
import type { RunResult } from '../../src/embed/session.ts';

/** A slot that records what it was given and finishes a batch only when told to. */
function heldSlot(name: string, log: string[]) {
  const held: (() => void)[] = [];
  const slot: Slot = {
    exec(rows) {
      log.push(`${name}:${rows[0]![0]}`);
      return new Promise<RunResult>((resolve) =>
        held.push(() => resolve({ data: new Float32Array(0), seqLen: rows[0]![0]! })),
      );
    },
  };
  return { slot, finishOldest: () => held.shift()?.() };
}

const batch = (n: number) => [[n]];
const tick = () => new Promise((r) => setImmediate(r));

test('depth 1: a slot gets its next batch only after it finished the last', async () => {
  const log: string[] = [];
  const a = heldSlot('a', log);
  const b = heldSlot('b', log);
  const q = new SlotQueue([a.slot, b.slot]);
  const done = [1, 2, 3, 4].map((n) => q.submit(batch(n)));
  await tick();
  assert.deepEqual(log, ['a:1', 'b:2']);
  a.finishOldest();
  await tick();
  assert.deepEqual(log, ['a:1', 'b:2', 'a:3']);
  b.finishOldest();
  await tick();
  assert.deepEqual(log.slice(3), ['b:4']);
  a.finishOldest();
  b.finishOldest();
  assert.deepEqual(
    (await Promise.all(done)).map((r) => r.seqLen),
    [1, 2, 3, 4],
  );
});

test('depth 2: each slot holds its running batch and the next, handed out round-robin in FIFO order', async () => {
  const log: string[] = [];
  const a = heldSlot('a', log);
  const b = heldSlot('b', log);
  const q = new SlotQueue([a.slot, b.slot], 2);
  const done = [1, 2, 3, 4, 5, 6].map((n) => q.submit(batch(n)));
  await tick();
  // Nothing has finished, yet every slot already has its next batch.
  assert.deepEqual(log, ['a:1', 'b:2', 'a:3', 'b:4']);
  b.finishOldest();
  await tick();
  assert.deepEqual(log.slice(4), ['b:5']);
  for (let i = 0; i < 3; i++) {
    a.finishOldest();
    b.finishOldest();
    await tick();
  }
  assert.deepEqual(
    (await Promise.all(done)).map((r) => r.seqLen),
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual(log.slice(5), ['a:6']);
});

test('a broken queue fails what waits and what comes later, not what a slot holds', async () => {
  const log: string[] = [];
  const a = heldSlot('a', log);
  const q = new SlotQueue([a.slot], 2);
  const held = [q.submit(batch(1)), q.submit(batch(2))];
  const waiting = q.submit(batch(3));
  q.break(new Error('closed'));
  await assert.rejects(waiting, /closed/);
  await assert.rejects(q.submit(batch(4)), /closed/);
  a.finishOldest();
  a.finishOldest();
  assert.deepEqual(
    (await Promise.all(held)).map((r) => r.seqLen),
    [1, 2],
  );
});
