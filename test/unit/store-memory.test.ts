/**
 * The in-memory store (src/store/memory.ts) passes the same conformance suite as the SQL stores
 * (test/helpers/store-conformance.ts), in milliseconds; and its fault injection works as documented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, MemoryTransientError } from '../../src/store/memory.ts';
import { storeConformance } from '../helpers/store-conformance.ts';

storeConformance('memory');

test('memory store: failNext fails the next call of that method once, transient or not as given', async () => {
  const store = new MemoryStore();
  await store.createSchema({ dimension: 4 });
  const lock = new MemoryTransientError('lock timeout');
  store.failNext('counts', lock);
  store.failNext('counts', new Error('disk full'));
  const first = await store.counts().catch((e: unknown) => e);
  assert.equal(first, lock);
  assert.equal(store.isTransient(first), true);
  const second = await store.counts().catch((e: unknown) => e);
  assert.match(String(second), /disk full/);
  assert.equal(store.isTransient(second), false);
  assert.equal((await store.counts()).documents, 0);
  // another store on the same database sees the data but not this store's faults
  store.failNext('candidates', lock);
  assert.deepEqual(await store.another().candidates(), []);
  await store.close();
  await assert.rejects(store.counts(), /closed/);
});
