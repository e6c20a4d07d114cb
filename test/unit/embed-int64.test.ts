/**
 * int64Of (src/embed/session.ts): token ids widened to int64 for the model's inputs without a BigInt per value
 * must give exactly what BigInt conversion gives, for every int32 (negative ones too, though ids never are).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { int64Of } from '../../src/embed/session.ts';

test('int64Of gives the same int64 values as BigInt conversion', () => {
  const values = Int32Array.from([0, 1, 101, 102, 30521, 65535, 65536, 2 ** 31 - 1, -1, -(2 ** 31), -30522]);
  const got = int64Of(values);
  assert.ok(got instanceof BigInt64Array);
  assert.deepEqual(
    [...got],
    [...values].map((v) => BigInt(v)),
  );
});

test('int64Of of an empty array is empty, and of zeros is zeros', () => {
  assert.equal(int64Of(new Int32Array(0)).length, 0);
  assert.deepEqual([...int64Of(new Int32Array(5))], [0n, 0n, 0n, 0n, 0n]);
});
